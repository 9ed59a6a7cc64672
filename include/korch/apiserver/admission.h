// Admission control: the plugins that see every write after authorization
// and before it is persisted, as in kubernetes/apiserver pkg/admission.
//
// Mutating plugins run first, in order, and may change the object; then the
// object is defaulted again and validated; then validating plugins run, in
// order, and may only accept or refuse. The first refusal ends the request
// with that plugin's status (it names the plugin's reason: "exceeded quota:
// ...", "namespace x is being terminated", ...).
//
// A plugin may read other objects through the attributes (no authorization
// applies to these reads) and may add guarded writes that the registry commits
// in the same store transaction as the request's own write: ResourceQuota
// charges usage that way, so that concurrent creates can never exceed a quota.
// When such a guard fails (someone else changed the quota), the registry runs
// admission again from the start with fresh reads.
//
// Plugins are shared by all requests and called concurrently from request
// threads; they must be thread-safe and must not block for long.

#ifndef KORCH_APISERVER_ADMISSION_H_
#define KORCH_APISERVER_ADMISSION_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "korch/api/scheme.h"
#include "korch/apiserver/authn.h"
#include "korch/apiserver/request.h"
#include "korch/base/clock.h"
#include "korch/export.h"

namespace korch::apiserver {

enum class AdmissionOperation { kCreate, kUpdate, kDelete };

KORCH_EXPORT absl::string_view AdmissionOperationName(AdmissionOperation op);  // "CREATE", ...

// What a plugin sees of one request. Implemented by the registry.
class KORCH_EXPORT AdmissionAttributes {
 public:
  virtual ~AdmissionAttributes() = default;

  virtual AdmissionOperation operation() const = 0;
  // The kind of the resource written (for subresources: of the parent
  // resource, e.g. Pod for pods/binding and Deployment for
  // deployments/scale).
  virtual const api::KindInfo& kind() const = 0;
  virtual absl::string_view namespace_() const = 0;
  // The object's name ("" on create with generateName before a name is
  // chosen).
  virtual absl::string_view name() const = 0;
  // "", "status", "binding", "scale".
  virtual absl::string_view subresource() const = 0;
  // The object being written: the new state for create and update (a
  // Binding for pods/binding, a Scale for .../scale), null for delete.
  // Mutating plugins may change it.
  virtual google::protobuf::Message* object() = 0;
  virtual const google::protobuf::Message* object() const = 0;
  // The stored object before the request (update and delete), or null.
  virtual const google::protobuf::Message* old_object() const = 0;
  virtual const UserInfo& user() const = 0;
  virtual bool dry_run() const = 0;
  virtual Clock& clock() const = 0;

  // Reads the current stored object (NotFound when absent).
  virtual absl::StatusOr<ObjectPtr> Get(const api::KindInfo& kind, absl::string_view ns,
                                        absl::string_view name) const = 0;
  // Lists the stored objects of `kind` in `ns` ("" = all namespaces, or a
  // cluster-scoped kind).
  virtual absl::StatusOr<std::vector<ObjectPtr>> List(const api::KindInfo& kind,
                                                      absl::string_view ns) const = 0;

  // Writes `object` (a stored object of `kind` as read through Get/List,
  // changed by the plugin) in the same store transaction as the request's
  // own write, guarded by its metadata.resourceVersion. Nothing is written
  // on dry run or when the request fails later. Only for objects other than
  // the one the request writes.
  virtual absl::Status UpdateInSameTransaction(
      const api::KindInfo& kind, std::unique_ptr<google::protobuf::Message> object) = 0;
};

class KORCH_EXPORT MutatingAdmissionPlugin {
 public:
  virtual ~MutatingAdmissionPlugin() = default;
  virtual absl::string_view Name() const = 0;
  // OK to let the request go on (possibly after changing
  // attributes.object()); an error refuses it.
  virtual absl::Status Admit(AdmissionAttributes& attributes) = 0;
};

class KORCH_EXPORT ValidatingAdmissionPlugin {
 public:
  virtual ~ValidatingAdmissionPlugin() = default;
  virtual absl::string_view Name() const = 0;
  // OK to let the request go on; an error refuses it.
  virtual absl::Status Validate(AdmissionAttributes& attributes) = 0;
};

// The two ordered chains. The host owns the order; a plugin that both
// mutates and validates is added to both.
struct AdmissionChain {
  std::vector<std::shared_ptr<MutatingAdmissionPlugin>> mutating;
  std::vector<std::shared_ptr<ValidatingAdmissionPlugin>> validating;

  // InvalidArgument when two plugins of one chain have the same name.
  absl::Status Check() const;
};

// --- Built-in plugins (Kubernetes semantics) --------------------------------

// NamespaceLifecycle (validating): refuses creating objects in a namespace
// that does not exist (404 `namespaces "x" not found`) or is terminating
// (403 "unable to create new content in namespace x because it is being
// terminated"), and deleting the namespaces default, kube-system and
// kube-public.
KORCH_EXPORT std::shared_ptr<ValidatingAdmissionPlugin> NewNamespaceLifecycle();

// DefaultTolerationSeconds (mutating): adds NoExecute tolerations of
// node.kubernetes.io/not-ready and node.kubernetes.io/unreachable for
// `seconds` (default 300) to pods that do not tolerate them.
KORCH_EXPORT std::shared_ptr<MutatingAdmissionPlugin> NewDefaultTolerationSeconds(
    int64_t not_ready_seconds = 300, int64_t unreachable_seconds = 300);

// Priority (mutating): resolves spec.priorityClassName to spec.priority and
// spec.preemptionPolicy (the globalDefault class, or 0, when none is named;
// 404-style Forbidden when the class does not exist), and refuses a pod that
// sets spec.priority to something else. system-node-critical and
// system-cluster-critical are always known.
KORCH_EXPORT std::shared_ptr<MutatingAdmissionPlugin> NewPriority();

// LimitRanger (mutating and validating; add the same object to both chains):
// applies the namespace's LimitRange defaults (default, defaultRequest) to
// containers, then checks min, max and maxLimitRequestRatio for Container and
// Pod limits.
class KORCH_EXPORT LimitRangerPlugin : public MutatingAdmissionPlugin,
                                       public ValidatingAdmissionPlugin {};
KORCH_EXPORT std::shared_ptr<LimitRangerPlugin> NewLimitRanger();

// ResourceQuota (validating): for each ResourceQuota of the namespace whose
// hard limits cover the request (object counts "pods", "services",
// "count/deployments.apps", ...; "requests.cpu", "limits.memory", "cpu",
// "memory", ...), checks used + requested <= hard and charges the usage to
// the quota's status.used in the same transaction as the write (403
// `exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2`).
// Deletes release object counts. A quota without status.hard is not yet
// initialised and is initialised from spec.hard on first use.
KORCH_EXPORT std::shared_ptr<ValidatingAdmissionPlugin> NewResourceQuota();

// NodeRestriction (validating): a node's identity (user system:node:<name>
// in group system:nodes) may only change its own Node object, pods bound to
// it (status, deletion) and mirror pods; it cannot change its node's
// labels in the node-restriction.kubernetes.io/ prefix or taints set by
// others.
KORCH_EXPORT std::shared_ptr<ValidatingAdmissionPlugin> NewNodeRestriction();

// Every built-in plugin, in Kubernetes' recommended order.
KORCH_EXPORT AdmissionChain DefaultAdmissionChain();

}  // namespace korch::apiserver

#endif  // KORCH_APISERVER_ADMISSION_H_
