// Where and how the registry keeps objects in the store (internal to
// korch::apiserver; the RBAC and node-graph caches read the same layout).
//
//   /registry/<resource>/<namespace>/<name>   namespaced kinds
//   /registry/<resource>/<name>               cluster-scoped kinds
//
// Values are the object's protobuf bytes with metadata.resourceVersion
// cleared; the resourceVersion a reader sees is the key's mod revision.

#ifndef KORCH_LIB_APISERVER_STORAGE_LAYOUT_H_
#define KORCH_LIB_APISERVER_STORAGE_LAYOUT_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "korch/api/scheme.h"

namespace korch::apiserver::internal {

// "/registry/pods/".
std::string ResourcePrefix(const api::KindInfo& kind);
// "/registry/pods/<ns>/" for a namespaced kind and non-empty `ns`;
// ResourcePrefix() otherwise.
std::string NamespacePrefix(const api::KindInfo& kind, absl::string_view ns);
// "/registry/pods/<ns>/<name>" or "/registry/nodes/<name>".
std::string ObjectKey(const api::KindInfo& kind, absl::string_view ns, absl::string_view name);

// The stored bytes of `object` (its resourceVersion is not stored).
std::string EncodeStored(const google::protobuf::Message& object);
// A new object of `kind` from stored bytes, with metadata.resourceVersion
// set to `mod_revision`. kDataLoss naming `key` when the bytes do not parse.
absl::StatusOr<std::unique_ptr<google::protobuf::Message>> DecodeStored(const api::KindInfo& kind,
                                                                        absl::string_view key,
                                                                        absl::string_view value,
                                                                        int64_t mod_revision);

}  // namespace korch::apiserver::internal

#endif  // KORCH_LIB_APISERVER_STORAGE_LAYOUT_H_
