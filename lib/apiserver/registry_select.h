// Label and field selection of stored objects for LIST, WATCH and
// DELETECOLLECTION (internal to korch::apiserver): which fields each
// resource supports in a field selector, and how they are read.

#ifndef KORCH_LIB_APISERVER_REGISTRY_SELECT_H_
#define KORCH_LIB_APISERVER_REGISTRY_SELECT_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "korch/api/scheme.h"
#include "korch/api/selector.h"

namespace korch::apiserver::internal {

// A compiled label + field selection for one kind. Immutable value.
class Selection {
 public:
  // Parses both selectors. Errors are kInvalidArgument with reason
  // BadRequest (400): a selector that does not parse, or a field the
  // resource does not support (`field label not supported: foo`).
  static absl::StatusOr<Selection> Parse(const api::KindInfo& kind,
                                         absl::string_view label_selector,
                                         absl::string_view field_selector);

  // True when every object matches.
  bool Everything() const { return labels_.Empty() && fields_.Empty(); }
  bool Matches(const google::protobuf::Message& object) const;

  // The name every selected object must have (metadata.name=x), if any.
  std::optional<absl::string_view> ExactName() const {
    return fields_.RequiresExactMatch("metadata.name");
  }
  // The same for metadata.namespace.
  std::optional<absl::string_view> ExactNamespace() const {
    return fields_.RequiresExactMatch("metadata.namespace");
  }

 private:
  const api::KindInfo* kind_ = nullptr;
  api::Selector labels_;
  api::FieldSelector fields_;
};

// Whether `field` can be used in a field selector on `kind`.
bool FieldSupported(const api::KindInfo& kind, absl::string_view field);

// The value of a supported field of `object` ("" when unset); nullopt for
// fields the kind does not support. `scratch` holds values that are not
// strings in the object (numbers, booleans); the result may point into it
// or into `object`.
std::optional<absl::string_view> FieldValue(const google::protobuf::Message& object,
                                            absl::string_view field, std::string& scratch);

}  // namespace korch::apiserver::internal

#endif  // KORCH_LIB_APISERVER_REGISTRY_SELECT_H_
