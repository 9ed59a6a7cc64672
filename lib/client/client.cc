// The JSON helpers of Client: Kubernetes JSON in, Kubernetes JSON out.

#include "korch/client/client.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "korch/api/codec.h"
#include "korch/api/core.pb.h"
#include "korch/base/status.h"

namespace korch::client {
namespace {

// Decodes one object strictly (unknown or repeated fields are errors) and
// finds its kind.
absl::StatusOr<std::unique_ptr<google::protobuf::Message>> DecodeStrict(absl::string_view json,
                                                                        const api::Scheme& scheme) {
  KORCH_ASSIGN_OR_RETURN(nlohmann::json value, api::ParseJson(json, /*reject_duplicates=*/true));
  api::DecodeOptions options;
  options.strict = true;
  return api::DecodeObject(value, scheme, options);
}

absl::StatusOr<const api::KindInfo*> KindFor(const api::Scheme& scheme,
                                             const google::protobuf::Message& object,
                                             absl::string_view subresource) {
  // A Binding is posted to the pods/binding subresource.
  if (subresource == "binding") {
    if (const api::KindInfo* pods = scheme.Find(api::Pod::descriptor())) return pods;
  }
  const api::KindInfo* kind = scheme.Find(object.GetDescriptor());
  if (kind == nullptr || kind->resource.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "objects of type ", object.GetDescriptor()->name(), " cannot be written on their own"));
  }
  return kind;
}

}  // namespace

absl::StatusOr<std::string> Client::CreateJson(absl::string_view json,
                                               const CreateOptions& options) {
  KORCH_ASSIGN_OR_RETURN(std::unique_ptr<google::protobuf::Message> object,
                         DecodeStrict(json, scheme()));
  KORCH_ASSIGN_OR_RETURN(const api::KindInfo* kind,
                         KindFor(scheme(), *object, options.subresource));
  KORCH_ASSIGN_OR_RETURN(std::shared_ptr<const google::protobuf::Message> created,
                         Create(*kind, *object, options));
  return api::EncodeJson(*created);
}

absl::StatusOr<std::string> Client::UpdateJson(absl::string_view json,
                                               const UpdateOptions& options) {
  KORCH_ASSIGN_OR_RETURN(std::unique_ptr<google::protobuf::Message> object,
                         DecodeStrict(json, scheme()));
  KORCH_ASSIGN_OR_RETURN(const api::KindInfo* kind,
                         KindFor(scheme(), *object, options.subresource));
  KORCH_ASSIGN_OR_RETURN(std::shared_ptr<const google::protobuf::Message> updated,
                         Update(*kind, *object, options));
  return api::EncodeJson(*updated);
}

absl::StatusOr<std::string> Client::GetJson(const api::KindInfo& kind, absl::string_view ns,
                                            absl::string_view name) {
  KORCH_ASSIGN_OR_RETURN(std::shared_ptr<const google::protobuf::Message> object,
                         Get(kind, ns, name));
  return api::EncodeJson(*object);
}

}  // namespace korch::client
