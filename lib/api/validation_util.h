// Helpers shared by the validation sources (validation.cc,
// validation_core.cc): the small building blocks of Kubernetes'
// pkg/apis/core/validation and apimachinery/pkg/util/validation that are not
// part of korch's public API. Internal; not installed.
#ifndef KORCH_LIB_API_VALIDATION_UTIL_H_
#define KORCH_LIB_API_VALIDATION_UTIL_H_

#include <google/protobuf/map.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "korch/api/field_errors.h"
#include "korch/api/validation.h"

namespace korch::api::validation_internal {

// "must be greater than or equal to 0" (apimachinery IsNegativeErrorMsg).
inline constexpr absl::string_view kIsNegativeErrorMsg = "must be greater than or equal to 0";
// "must be greater than zero".
inline constexpr absl::string_view kIsNotPositiveErrorMsg = "must be greater than zero";

// Appends `more` to `*out`.
inline void Append(FieldErrorList* out, FieldErrorList more) {
  out->insert(out->end(), std::make_move_iterator(more.begin()),
              std::make_move_iterator(more.end()));
}

// One Invalid(path, value, msg) per message.
FieldErrorList InvalidEach(const FieldPath& path, absl::string_view value,
                           const std::vector<std::string>& messages);

// "must be between lo and hi, inclusive".
std::string InclusiveRangeError(int64_t lo, int64_t hi);

// Invalid when value < 0.
FieldErrorList ValidateNonnegative(int64_t value, const FieldPath& path);

// The problems of `name` under `rule`; `prefix` for a generateName (a
// trailing '-' is allowed).
std::vector<std::string> NameErrors(absl::string_view name, NameRule rule, bool prefix);

// Field errors for a name checked by `rule` (no error for ""; callers check
// presence themselves).
FieldErrorList ValidateName(absl::string_view name, NameRule rule, const FieldPath& path);

// IP address syntax as Go's net.ParseIP (IPv4 dotted quad, leading zeros
// accepted as Kubernetes' ParseIPSloppy does, or IPv6).
bool IsIP(absl::string_view value);
bool IsIPv6(absl::string_view value);
// "10.0.0.0/8", "fd00::/64".
bool IsCIDR(absl::string_view value);
// Invalid with Kubernetes' message when `value` is not an IP address.
FieldErrorList ValidateIP(absl::string_view value, const FieldPath& path);
FieldErrorList ValidateCIDR(absl::string_view value, const FieldPath& path);

// A string map in key order, so that errors come out in a stable order.
template <typename V>
std::vector<std::pair<std::string, V>> SortedEntries(
    const google::protobuf::Map<std::string, V>& m) {
  std::vector<std::pair<std::string, V>> out(m.begin(), m.end());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

}  // namespace korch::api::validation_internal

#endif  // KORCH_LIB_API_VALIDATION_UTIL_H_
