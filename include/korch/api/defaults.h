// Defaulting: the values the Kubernetes API server fills in when an object
// is created or updated (k8s.io/kubernetes/pkg/apis/*/v1/defaults.go), so
// that every stored object is complete and clients can read fields like
// `spec.replicas` without a nil check. Only unset fields are filled;
// explicit values, including zero, are kept. Idempotent.
//
// The few places where Kubernetes itself rewrites a set value are kept as
// Kubernetes has them and noted on the function: a Service's targetPort of
// 0 or "" means "unset" (IntOrString is not a pointer in Go), and the
// deprecated PodSpec.serviceAccount always mirrors serviceAccountName.
//
// Not defaulting, and so not done here: what admission plugins add
// (Pod priority and preemptionPolicy from the PriorityClass, default
// tolerations, LimitRange requests), what registries set on create (Pod
// status.phase, a Job's generated selector, Service IP families and
// cluster IPs), and anything that needs other objects.
//
// All functions are thread-safe for distinct objects.
#ifndef KORCH_API_DEFAULTS_H_
#define KORCH_API_DEFAULTS_H_

#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "korch/api/apps.pb.h"
#include "korch/api/batch.pb.h"
#include "korch/api/core.pb.h"
#include "korch/api/discovery.pb.h"
#include "korch/api/rbac.pb.h"
#include "korch/api/scheduling.pb.h"
#include "korch/export.h"

namespace korch::api {

// Applies the defaults of the object's type; types without defaults are
// left as they are. A <Kind>List has each of its items defaulted.
KORCH_EXPORT void SetDefaults(google::protobuf::Message* object);

// The defaults of a PodSpec wherever one appears, pod templates included:
// restartPolicy, dnsPolicy, schedulerName, terminationGracePeriodSeconds,
// securityContext, and the defaults of its containers (imagePullPolicy,
// termination message, port protocols, probes, resource rounding) and
// volumes. The defaults Kubernetes applies to Pods only are in
// SetPodDefaults.
KORCH_EXPORT void SetPodSpecDefaults(PodSpec* spec);
// SetPodSpecDefaults plus what only a Pod gets: container requests copied
// from limits where missing, enableServiceLinks true, host ports equal to
// container ports under hostNetwork, and podIP/podIPs and hostIP/hostIPs
// kept consistent (the singular field wins when they disagree).
KORCH_EXPORT void SetPodDefaults(Pod* pod);
KORCH_EXPORT void SetServiceDefaults(Service* service);
KORCH_EXPORT void SetDeploymentDefaults(Deployment* d);
KORCH_EXPORT void SetReplicaSetDefaults(ReplicaSet* rs);
KORCH_EXPORT void SetDaemonSetDefaults(DaemonSet* ds);
KORCH_EXPORT void SetStatefulSetDefaults(StatefulSet* ss);
KORCH_EXPORT void SetJobDefaults(Job* job);

// Label kubernetes.io/metadata.name = name (always, as Kubernetes does),
// status.phase Active, and spec.finalizers ["kubernetes"] when there are
// none and the namespace is not being deleted. (Kubernetes adds the
// finalizer only on create; the deletion check keeps a re-defaulted update
// from bringing it back once the namespace controller has removed it.)
KORCH_EXPORT void SetNamespaceDefaults(Namespace* ns);
// status.allocatable copied from status.capacity when empty; spec.podCIDR
// and spec.podCIDRs kept consistent.
KORCH_EXPORT void SetNodeDefaults(Node* node);
KORCH_EXPORT void SetSecretDefaults(Secret* secret);
KORCH_EXPORT void SetEndpointsDefaults(Endpoints* endpoints);
KORCH_EXPORT void SetLimitRangeDefaults(LimitRange* lr);
KORCH_EXPORT void SetResourceQuotaDefaults(ResourceQuota* quota);
KORCH_EXPORT void SetEndpointSliceDefaults(EndpointSlice* slice);
KORCH_EXPORT void SetRoleBindingDefaults(RoleBinding* rb);
KORCH_EXPORT void SetClusterRoleBindingDefaults(ClusterRoleBinding* crb);
KORCH_EXPORT void SetPriorityClassDefaults(PriorityClass* pc);

// The imagePullPolicy Kubernetes gives a container with this image: Always
// when the tag is "latest" or there is neither tag nor digest
// ("nginx", "registry:5000/nginx"), IfNotPresent otherwise, including for
// references that do not parse.
KORCH_EXPORT absl::string_view DefaultImagePullPolicy(absl::string_view image);

}  // namespace korch::api

#endif  // KORCH_API_DEFAULTS_H_
