#include "storage_layout.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "korch/api/meta.pb.h"
#include "korch/api/object.h"

namespace korch::apiserver::internal {

std::string ResourcePrefix(const api::KindInfo& kind) {
  return absl::StrCat("/registry/", kind.resource, "/");
}

std::string NamespacePrefix(const api::KindInfo& kind, absl::string_view ns) {
  if (!kind.namespaced || ns.empty()) return ResourcePrefix(kind);
  return absl::StrCat("/registry/", kind.resource, "/", ns, "/");
}

std::string ObjectKey(const api::KindInfo& kind, absl::string_view ns, absl::string_view name) {
  if (!kind.namespaced) return absl::StrCat("/registry/", kind.resource, "/", name);
  return absl::StrCat("/registry/", kind.resource, "/", ns, "/", name);
}

std::string EncodeStored(const google::protobuf::Message& object) {
  const api::ObjectMeta* meta = api::ObjectMetaOf(object);
  if (meta == nullptr || !meta->has_resource_version()) return object.SerializeAsString();
  std::unique_ptr<google::protobuf::Message> copy(object.New());
  copy->CopyFrom(object);
  api::MutableObjectMetaOf(*copy)->clear_resource_version();
  return copy->SerializeAsString();
}

absl::StatusOr<std::unique_ptr<google::protobuf::Message>> DecodeStored(const api::KindInfo& kind,
                                                                        absl::string_view key,
                                                                        absl::string_view value,
                                                                        int64_t mod_revision) {
  const google::protobuf::Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(kind.descriptor);
  if (prototype == nullptr) {
    return absl::InternalError(absl::StrCat("no message type for kind ", kind.kind));
  }
  std::unique_ptr<google::protobuf::Message> object(prototype->New());
  if (!object->ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return absl::DataLossError(
        absl::StrCat("stored value of ", key, " is not a valid ", kind.kind));
  }
  if (api::ObjectMeta* meta = api::MutableObjectMetaOf(*object)) {
    meta->set_resource_version(absl::StrCat(mod_revision));
  }
  return object;
}

}  // namespace korch::apiserver::internal
