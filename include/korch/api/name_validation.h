// Syntax checks for names, label keys and label values, with the rules and
// the messages of Kubernetes' k8s.io/apimachinery/pkg/util/validation. Each
// check returns the list of problems (empty when the value is valid); the
// messages are the ones the Kubernetes API server prints, so a caller builds
// field errors from them with Invalid(path, value, message).
//
// Pure functions, thread-safe.
#ifndef KORCH_API_NAME_VALIDATION_H_
#define KORCH_API_NAME_VALIDATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "korch/export.h"

namespace korch::api {

// Maximum lengths, in bytes.
inline constexpr int kDNS1123LabelMaxLength = 63;
inline constexpr int kDNS1123SubdomainMaxLength = 253;
inline constexpr int kDNS1035LabelMaxLength = 63;
inline constexpr int kQualifiedNameMaxLength = 63;
inline constexpr int kLabelValueMaxLength = 63;

// A lowercase RFC 1123 label: "my-name", "123-abc"; at most 63 bytes
// (namespace names, container names, ...).
KORCH_EXPORT std::vector<std::string> IsDNS1123Label(absl::string_view value);

// A lowercase RFC 1123 subdomain: labels joined by '.', at most 253 bytes
// (most object names, label key prefixes).
KORCH_EXPORT std::vector<std::string> IsDNS1123Subdomain(absl::string_view value);

// An RFC 1035 label: like a DNS-1123 label but starting with a letter
// (Service names).
KORCH_EXPORT std::vector<std::string> IsDNS1035Label(absl::string_view value);

// A "qualified name": an optional DNS-1123 subdomain prefix and '/', then a
// name of at most 63 bytes of [A-Za-z0-9_.-] starting and ending with an
// alphanumeric character ("app", "example.com/MyName"). Label keys,
// annotation keys and finalizer names use this form.
KORCH_EXPORT std::vector<std::string> IsQualifiedName(absl::string_view value);

// A label value: empty, or at most 63 bytes of [A-Za-z0-9_.-] starting and
// ending with an alphanumeric character.
KORCH_EXPORT std::vector<std::string> IsValidLabelValue(absl::string_view value);

// Message builders shared with the checks above, for validation code that
// needs the same wording.
// "must be no more than 63 characters".
KORCH_EXPORT std::string MaxLenError(int64_t length);
// `msg (e.g. 'a',  or 'b', regex used for validation is 're')`, or
// `msg (regex used for validation is 're')` without examples.
KORCH_EXPORT std::string RegexError(absl::string_view msg, absl::string_view regex,
                                    const std::vector<absl::string_view>& examples = {});
// "must be non-empty".
KORCH_EXPORT std::string EmptyError();

}  // namespace korch::api

#endif  // KORCH_API_NAME_VALIDATION_H_
