// The catalogue of Kubernetes kinds that korch serves: for every kind, its
// message type, group, version, plural resource name, scope and short
// names, all read from the options on the .proto messages.
#ifndef KORCH_API_SCHEME_H_
#define KORCH_API_SCHEME_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "korch/export.h"

namespace korch::api {

struct KindInfo {
  const google::protobuf::Descriptor* descriptor = nullptr;
  std::string group;        // "" for core
  std::string version;      // "v1"
  std::string api_version;  // "v1", "apps/v1"
  std::string kind;         // "Deployment"
  std::string resource;     // "deployments"; empty for kinds that are not stored
  bool namespaced = false;
  std::vector<std::string> short_names;
  // The verbs served when not every verb of a stored kind is: {"create"}
  // for kinds that are evaluated on create and never stored (the access
  // reviews). Empty for stored kinds and for kinds without a resource.
  std::vector<std::string> verbs;
  // The <Kind>List type, or null.
  const KindInfo* list = nullptr;
  // For a list kind: its item kind.
  const KindInfo* item = nullptr;

  // "Deployment.apps", or "Pod" for the core group: how Kubernetes names a
  // kind in messages.
  std::string QualifiedKind() const;
  // "deployments.apps" or "pods".
  std::string QualifiedResource() const;
};

// Immutable after construction; thread-safe.
class KORCH_EXPORT Scheme {
 public:
  // A scheme of every message with a `kind` option in `files`.
  explicit Scheme(const std::vector<const google::protobuf::FileDescriptor*>& files);
  Scheme(const Scheme&) = delete;
  Scheme& operator=(const Scheme&) = delete;

  // Every kind built into korch.
  static const Scheme& Builtin();

  const KindInfo* Find(absl::string_view api_version, absl::string_view kind) const;
  const KindInfo* FindResource(absl::string_view group, absl::string_view version,
                               absl::string_view resource) const;
  const KindInfo* Find(const google::protobuf::Descriptor* descriptor) const;
  // All kinds, in declaration order.
  const std::vector<std::unique_ptr<KindInfo>>& kinds() const { return kinds_; }

  // A new empty message of the given kind; kNotFound naming the kind
  // otherwise ("no kind \"Foo\" is registered for version \"v1\"").
  absl::StatusOr<std::unique_ptr<google::protobuf::Message>> New(absl::string_view api_version,
                                                                 absl::string_view kind) const;

 private:
  std::vector<std::unique_ptr<KindInfo>> kinds_;
  absl::flat_hash_map<std::string, const KindInfo*> by_kind_;      // "apps/v1/Deployment"
  absl::flat_hash_map<std::string, const KindInfo*> by_resource_;  // "apps/v1/deployments"
  absl::flat_hash_map<const google::protobuf::Descriptor*, const KindInfo*> by_descriptor_;
};

}  // namespace korch::api

#endif  // KORCH_API_SCHEME_H_
