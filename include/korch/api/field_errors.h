// Field paths and validation errors, in the shape Kubernetes uses
// (k8s.io/apimachinery/pkg/util/validation/field): every error names the
// field it is about ("spec.containers[0].ports[1].containerPort"), says what
// kind of problem it is, and renders the same text the Kubernetes API server
// would, so messages are familiar to people who know kubectl.
#ifndef KORCH_API_FIELD_ERRORS_H_
#define KORCH_API_FIELD_ERRORS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "korch/export.h"

namespace korch::api {

// A path from an object's root to one of its fields. Immutable value type.
class KORCH_EXPORT FieldPath {
 public:
  FieldPath() = default;
  explicit FieldPath(absl::string_view root) : path_(root) {}

  // "spec" + "replicas" -> "spec.replicas".
  FieldPath Child(absl::string_view name) const;
  // "spec.containers" + 0 -> "spec.containers[0]".
  FieldPath Index(int64_t i) const;
  // "metadata.labels" + "app" -> "metadata.labels[app]".
  FieldPath Key(absl::string_view key) const;

  const std::string& str() const { return path_; }
  bool empty() const { return path_.empty(); }

 private:
  std::string path_;
};

enum class FieldErrorType {
  kRequired,      // "Required value"
  kInvalid,       // "Invalid value"
  kNotSupported,  // "Unsupported value" (not one of an enumerated set)
  kDuplicate,     // "Duplicate value"
  kForbidden,     // "Forbidden"
  kTooLong,       // "Too long"
  kTooMany,       // "Too many"
  kNotFound,      // "Not found"
  kTypeInvalid,   // "Invalid value" of the wrong JSON type
  kInternal,      // "Internal error"
};

struct KORCH_EXPORT FieldError {
  FieldErrorType type = FieldErrorType::kInvalid;
  // The field path, e.g. "spec.replicas".
  std::string field;
  // The offending value already rendered for a message (strings quoted),
  // or empty when the error has no value (Required, Forbidden).
  std::string bad_value;
  // What is wrong and what would be right.
  std::string detail;

  // "spec.replicas: Invalid value: -1: must be greater than or equal to 0".
  std::string ToString() const;
  // The Kubernetes StatusCause reason: "FieldValueRequired",
  // "FieldValueInvalid", ...
  absl::string_view Reason() const;
};

using FieldErrorList = std::vector<FieldError>;

// Constructors mirroring Kubernetes' field.Required, field.Invalid, ...
// Values are rendered by the overload used: strings are quoted.
KORCH_EXPORT FieldError Required(const FieldPath& path, absl::string_view detail = "");
KORCH_EXPORT FieldError Invalid(const FieldPath& path, absl::string_view value,
                                absl::string_view detail);
KORCH_EXPORT FieldError Invalid(const FieldPath& path, int64_t value, absl::string_view detail);
// An invalid value that is not a scalar (a map, a list, an object); `rendered`
// is used as is.
KORCH_EXPORT FieldError InvalidRendered(const FieldPath& path, absl::string_view rendered,
                                        absl::string_view detail);
KORCH_EXPORT FieldError NotSupported(const FieldPath& path, absl::string_view value,
                                     absl::Span<const absl::string_view> supported);
KORCH_EXPORT FieldError Duplicate(const FieldPath& path, absl::string_view value);
KORCH_EXPORT FieldError Forbidden(const FieldPath& path, absl::string_view detail);
KORCH_EXPORT FieldError TooLong(const FieldPath& path, int64_t max_length);
KORCH_EXPORT FieldError TooMany(const FieldPath& path, int64_t actual, int64_t max_items);
KORCH_EXPORT FieldError NotFound(const FieldPath& path, absl::string_view value);

// Quotes a string the way the messages do: "abc" with escapes.
KORCH_EXPORT std::string QuoteValue(absl::string_view value);

// The status for a rejected object: kInvalidArgument with the message
// `Pod "web" is invalid: spec.containers[0].image: Required value` (one
// error) or `... is invalid: [a: ..., b: ...]` (several), carrying the
// errors as a payload that InvalidCauses() recovers. `qualified_kind` is the
// kind with its group, as Kubernetes prints it ("Pod", "Deployment.apps").
// OK when `errors` is empty.
KORCH_EXPORT absl::Status InvalidStatus(absl::string_view qualified_kind, absl::string_view name,
                                        const FieldErrorList& errors);

// The field errors carried by a status from InvalidStatus(); empty for any
// other status.
KORCH_EXPORT FieldErrorList InvalidCauses(const absl::Status& status);

}  // namespace korch::api

#endif  // KORCH_API_FIELD_ERRORS_H_
