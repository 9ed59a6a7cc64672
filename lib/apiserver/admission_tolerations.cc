// DefaultTolerationSeconds: pods ride out a short node outage (not-ready or
// unreachable) before the node lifecycle controller evicts them.

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "apiserver/admission_internal.h"
#include "korch/api/core.pb.h"
#include "korch/apiserver/admission.h"

namespace korch::apiserver {
namespace {

constexpr char kNotReadyTaint[] = "node.kubernetes.io/not-ready";
constexpr char kUnreachableTaint[] = "node.kubernetes.io/unreachable";

// Whether some toleration already covers the NoExecute taint `key`: an
// empty key tolerates every key and an empty effect every effect.
bool Tolerates(const api::PodSpec& spec, absl::string_view key) {
  for (const api::Toleration& t : spec.tolerations()) {
    if ((t.key().empty() || t.key() == key) && (t.effect().empty() || t.effect() == "NoExecute")) {
      return true;
    }
  }
  return false;
}

class DefaultTolerationSeconds final : public MutatingAdmissionPlugin {
 public:
  DefaultTolerationSeconds(int64_t not_ready_seconds, int64_t unreachable_seconds)
      : not_ready_seconds_(not_ready_seconds), unreachable_seconds_(unreachable_seconds) {}

  absl::string_view Name() const override { return "DefaultTolerationSeconds"; }

  absl::Status Admit(AdmissionAttributes& a) override {
    if (a.operation() != AdmissionOperation::kCreate || !a.subresource().empty() ||
        !admission_internal::IsKind(a.kind(), "", "Pod")) {
      return absl::OkStatus();
    }
    api::Pod* pod = admission_internal::AsMutable<api::Pod>(a.object());
    if (pod == nullptr) return absl::OkStatus();
    api::PodSpec* spec = pod->mutable_spec();
    // Decide both before adding either, so one added toleration does not
    // hide the other.
    const bool not_ready = Tolerates(*spec, kNotReadyTaint);
    const bool unreachable = Tolerates(*spec, kUnreachableTaint);
    if (!not_ready) Add(spec, kNotReadyTaint, not_ready_seconds_);
    if (!unreachable) Add(spec, kUnreachableTaint, unreachable_seconds_);
    return absl::OkStatus();
  }

 private:
  static void Add(api::PodSpec* spec, absl::string_view key, int64_t seconds) {
    api::Toleration* t = spec->add_tolerations();
    t->set_key(std::string(key));
    t->set_operator_("Exists");
    t->set_effect("NoExecute");
    t->set_toleration_seconds(seconds);
  }

  const int64_t not_ready_seconds_;
  const int64_t unreachable_seconds_;
};

}  // namespace

std::shared_ptr<MutatingAdmissionPlugin> NewDefaultTolerationSeconds(int64_t not_ready_seconds,
                                                                     int64_t unreachable_seconds) {
  return std::make_shared<DefaultTolerationSeconds>(not_ready_seconds, unreachable_seconds);
}

}  // namespace korch::apiserver
