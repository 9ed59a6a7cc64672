// Helpers shared by the built-in admission plugins (admission_*.cc): how
// they name the object in errors, resource-list arithmetic on quantities,
// and pod resource totals as Kubernetes computes them.

#ifndef KORCH_LIB_APISERVER_ADMISSION_INTERNAL_H_
#define KORCH_LIB_APISERVER_ADMISSION_INTERNAL_H_

#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/map.h"
#include "google/protobuf/message.h"
#include "korch/api/core.pb.h"
#include "korch/api/quantity.h"
#include "korch/api/scheme.h"
#include "korch/apiserver/admission.h"

namespace korch::apiserver::admission_internal {

// Resource name -> quantity, sorted by name: Kubernetes prints resource
// lists in name order.
using ResourceMap = std::map<std::string, api::Quantity, std::less<>>;
using ProtoResourceList = google::protobuf::Map<std::string, std::string>;

// The generated message `m` is, or null (also for a null `m`).
template <typename T>
const T* As(const google::protobuf::Message* m) {
  return m == nullptr ? nullptr : google::protobuf::DynamicCastToGenerated<T>(m);
}
template <typename T>
T* AsMutable(google::protobuf::Message* m) {
  return m == nullptr ? nullptr : google::protobuf::DynamicCastToGenerated<T>(m);
}

// True when `kind` is `kind_name` of API group `group` (versions aside).
bool IsKind(const api::KindInfo& kind, absl::string_view group, absl::string_view kind_name);
// The built-in scheme's entry for a generated message type; the types the
// plugins read (Namespace, LimitRange, ...) are always there.
const api::KindInfo& BuiltinKind(const google::protobuf::Descriptor* descriptor);

// The object's name as Kubernetes' admission errors show it: the request's
// name, else the new object's metadata.name, else the old object's.
std::string SubjectName(const AdmissionAttributes& a);
// `<resource> "<name>" is forbidden: <detail>` (403 Forbidden).
absl::Status Forbidden(const AdmissionAttributes& a, absl::string_view detail);

// Parses every quantity of a proto resource list; InvalidArgument naming
// the resource when one does not parse.
absl::StatusOr<ResourceMap> ParseResourceList(const ProtoResourceList& list);
// into[k] += add[k] for every k of `add`.
absl::Status AddInto(ResourceMap& into, const ResourceMap& add);
// into[k] = max(into[k], other[k]) for every k of `other`.
void MaxInto(ResourceMap& into, const ResourceMap& other);
// "cpu=500m,pods=1": Kubernetes' quota message format.
std::string FormatResourceMap(const ResourceMap& map);

// The resources a pod asks for as a whole, as Kubernetes' resource helpers
// compute them: the containers' sum, raised to what any init container
// needs while it runs (sidecar init containers, restartPolicy Always, keep
// running and add to both), plus the pod overhead when asked.
absl::StatusOr<ResourceMap> PodRequests(const api::PodSpec& spec, bool include_overhead);
absl::StatusOr<ResourceMap> PodLimits(const api::PodSpec& spec, bool include_overhead);

}  // namespace korch::apiserver::admission_internal

#endif  // KORCH_LIB_APISERVER_ADMISSION_INTERNAL_H_
