// Per-kind rules of the registry (internal to korch::apiserver), like the
// "strategies" of Kubernetes' registries: what is reset on create, what an
// update may not change, when the generation moves, and the scale
// subresource.

#ifndef KORCH_LIB_APISERVER_REGISTRY_STRATEGY_H_
#define KORCH_LIB_APISERVER_REGISTRY_STRATEGY_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "korch/api/autoscaling.pb.h"
#include "korch/api/core.pb.h"
#include "korch/api/field_errors.h"
#include "korch/api/scheme.h"

namespace korch::apiserver::internal {

// Resets what a client may not choose on create, once the object's
// metadata (name, uid) is final: workload status, Pod status (phase
// Pending with its QoS class), Namespace status (Active), Service status; a
// Job's generated selector and pod labels.
void PrepareForCreate(google::protobuf::Message& object);

// Write-only input folded into stored fields (a Secret's stringData goes
// into data).
void NormalizeForStorage(google::protobuf::Message& object);

// The rules of an update beyond api::Validate(): immutable fields
// (selectors of workloads, a Job's template, a Service's clusterIP, most of
// a Pod's spec, most of a StatefulSet's spec) and no new finalizers on an
// object being deleted.
api::FieldErrorList ValidateUpdate(const google::protobuf::Message& now,
                                   const google::protobuf::Message& old);

// Whether anything but metadata and status differs.
bool SpecChanged(const google::protobuf::Message& a, const google::protobuf::Message& b);

// Whether everything but metadata.resourceVersion is equal.
bool SameObject(const google::protobuf::Message& a, const google::protobuf::Message& b);

// Guaranteed, Burstable or BestEffort.
std::string PodQosClass(const api::Pod& pod);

// Deployments, ReplicaSets and StatefulSets have /scale.
bool IsScalable(const api::KindInfo& kind);
// The autoscaling/v1 Scale of a scalable object.
std::unique_ptr<api::Scale> ScaleOf(const google::protobuf::Message& object);
// Sets spec.replicas of a scalable object.
void SetReplicas(google::protobuf::Message& object, int32_t replicas);

}  // namespace korch::apiserver::internal

#endif  // KORCH_LIB_APISERVER_REGISTRY_STRATEGY_H_
