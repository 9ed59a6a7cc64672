// Validation of korch's resource types with Kubernetes' rules
// (k8s.io/kubernetes/pkg/apis/*/validation). Every function returns every
// problem it finds at once, each with its field path, so that a person can
// fix a manifest in one go. Validation never modifies the object; run
// SetDefaults() first, as the API server does.
#ifndef KORCH_API_VALIDATION_H_
#define KORCH_API_VALIDATION_H_

#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "korch/api/apps.pb.h"
#include "korch/api/autoscaling.pb.h"
#include "korch/api/batch.pb.h"
#include "korch/api/coordination.pb.h"
#include "korch/api/core.pb.h"
#include "korch/api/discovery.pb.h"
#include "korch/api/field_errors.h"
#include "korch/api/meta.pb.h"
#include "korch/api/rbac.pb.h"
#include "korch/api/scheduling.pb.h"
#include "korch/export.h"

namespace korch::api {

// Validates any top-level object by its type and returns kInvalidArgument
// from InvalidStatus() (`Pod "web" is invalid: [...]`) with every error, or
// OK. Types without rules of their own get ObjectMeta validation.
KORCH_EXPORT absl::Status Validate(const google::protobuf::Message& object);

// The same, as a list of errors.
KORCH_EXPORT FieldErrorList ValidateObject(const google::protobuf::Message& object);

// How a kind's metadata.name is checked.
enum class NameRule {
  kDNS1123Subdomain,  // most kinds: lowercase, '-', '.', <= 253
  kDNS1123Label,      // Namespace: lowercase, '-', <= 63
  kPathSegment,       // RBAC kinds: anything but "/", "%", "." and ".."
  kDNS1035Label,      // Service: a DNS-1123 label that starts with a letter
};

// metadata: name (or generateName) by `rule`, namespace present iff
// `namespaced`, labels and annotations syntax and size, ownerReferences,
// finalizers.
KORCH_EXPORT FieldErrorList ValidateObjectMeta(const ObjectMeta& meta, bool namespaced,
                                               NameRule rule, const FieldPath& path);

// ---- core/v1 (lib/api/validation_core.cc) ----
KORCH_EXPORT FieldErrorList ValidatePod(const Pod& pod);
KORCH_EXPORT FieldErrorList ValidatePodSpec(const PodSpec& spec, const FieldPath& path);
KORCH_EXPORT FieldErrorList ValidatePodTemplateSpec(const PodTemplateSpec& tmpl,
                                                    const FieldPath& path);
KORCH_EXPORT FieldErrorList ValidateNamespace(const Namespace& ns);
KORCH_EXPORT FieldErrorList ValidateNode(const Node& node);
KORCH_EXPORT FieldErrorList ValidateService(const Service& service);
KORCH_EXPORT FieldErrorList ValidateEndpoints(const Endpoints& endpoints);
KORCH_EXPORT FieldErrorList ValidateConfigMap(const ConfigMap& cm);
KORCH_EXPORT FieldErrorList ValidateSecret(const Secret& secret);
KORCH_EXPORT FieldErrorList ValidateServiceAccount(const ServiceAccount& sa);
KORCH_EXPORT FieldErrorList ValidateEvent(const Event& event);
KORCH_EXPORT FieldErrorList ValidateLimitRange(const LimitRange& lr);
KORCH_EXPORT FieldErrorList ValidateResourceQuota(const ResourceQuota& rq);
KORCH_EXPORT FieldErrorList ValidateBinding(const Binding& binding);

// ---- apps, batch, rbac, coordination, scheduling, discovery, autoscaling
// (lib/api/validation_workloads.cc) ----
KORCH_EXPORT FieldErrorList ValidateDeployment(const Deployment& d);
KORCH_EXPORT FieldErrorList ValidateReplicaSet(const ReplicaSet& rs);
KORCH_EXPORT FieldErrorList ValidateDaemonSet(const DaemonSet& ds);
KORCH_EXPORT FieldErrorList ValidateStatefulSet(const StatefulSet& ss);
KORCH_EXPORT FieldErrorList ValidateJob(const Job& job);
KORCH_EXPORT FieldErrorList ValidateRole(const Role& role);
KORCH_EXPORT FieldErrorList ValidateClusterRole(const ClusterRole& role);
KORCH_EXPORT FieldErrorList ValidateRoleBinding(const RoleBinding& binding);
KORCH_EXPORT FieldErrorList ValidateClusterRoleBinding(const ClusterRoleBinding& binding);
KORCH_EXPORT FieldErrorList ValidateLease(const Lease& lease);
KORCH_EXPORT FieldErrorList ValidatePriorityClass(const PriorityClass& pc);
KORCH_EXPORT FieldErrorList ValidateEndpointSlice(const EndpointSlice& slice);
KORCH_EXPORT FieldErrorList ValidateScale(const Scale& scale);

}  // namespace korch::api

#endif  // KORCH_API_VALIDATION_H_
