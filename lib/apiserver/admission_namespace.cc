// NamespaceLifecycle: no new content in namespaces that are missing or being
// deleted, and the system namespaces cannot be deleted.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "apiserver/admission_internal.h"
#include "korch/api/core.pb.h"
#include "korch/api/object.h"
#include "korch/apiserver/admission.h"
#include "korch/apiserver/request.h"

namespace korch::apiserver {
namespace {

using admission_internal::As;
using admission_internal::BuiltinKind;
using admission_internal::IsKind;

bool IsImmortal(absl::string_view name) {
  return name == "default" || name == "kube-system" || name == "kube-public";
}

bool IsTerminating(const api::Namespace& ns) {
  return ns.metadata().has_deletion_timestamp() || ns.status().phase() == "Terminating";
}

class NamespaceLifecycle final : public ValidatingAdmissionPlugin {
 public:
  absl::string_view Name() const override { return "NamespaceLifecycle"; }

  absl::Status Validate(AdmissionAttributes& a) override {
    const bool is_namespace = IsKind(a.kind(), "", "Namespace");
    if (is_namespace) {
      if (a.operation() == AdmissionOperation::kDelete && IsImmortal(a.name())) {
        return admission_internal::Forbidden(a, "this namespace may not be deleted");
      }
      return absl::OkStatus();
    }
    // Cluster-scoped objects have no namespace to check, and deleting what
    // is in a namespace must work in any state: it is how a namespace
    // empties.
    if (a.namespace_().empty() || a.operation() == AdmissionOperation::kDelete) {
      return absl::OkStatus();
    }
    absl::StatusOr<ObjectPtr> stored =
        a.Get(BuiltinKind(api::Namespace::descriptor()), "", a.namespace_());
    if (absl::IsNotFound(stored.status())) return NotFoundError("namespaces", a.namespace_());
    if (!stored.ok()) return stored.status();
    const api::Namespace* ns = As<api::Namespace>(stored->get());
    if (ns == nullptr) {
      return absl::InternalError(
          absl::StrCat("namespace ", a.namespace_(), " was read back as another kind"));
    }
    // Updates may go on while the namespace drains (controllers remove
    // finalizers, kubelets report status); only new content is refused.
    if (a.operation() == AdmissionOperation::kCreate && IsTerminating(*ns)) {
      return admission_internal::Forbidden(
          a, absl::StrCat("unable to create new content in namespace ", a.namespace_(),
                          " because it is being terminated"));
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::shared_ptr<ValidatingAdmissionPlugin> NewNamespaceLifecycle() {
  return std::make_shared<NamespaceLifecycle>();
}

}  // namespace korch::apiserver
