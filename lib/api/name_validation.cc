#include "korch/api/name_validation.h"

#include "absl/strings/str_cat.h"

namespace korch::api {
namespace {

// The regular expressions are matched by hand below; these are the texts
// Kubernetes prints in its messages.
constexpr absl::string_view kDNS1123LabelFmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
constexpr absl::string_view kDNS1123LabelErrMsg =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character";
constexpr absl::string_view kDNS1123SubdomainFmt =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
constexpr absl::string_view kDNS1123SubdomainErrMsg =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character";
constexpr absl::string_view kDNS1035LabelFmt = "[a-z]([-a-z0-9]*[a-z0-9])?";
constexpr absl::string_view kDNS1035LabelErrMsg =
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character";
constexpr absl::string_view kQualifiedNameFmt = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
constexpr absl::string_view kQualifiedNameErrMsg =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character";
constexpr absl::string_view kLabelValueFmt = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
constexpr absl::string_view kLabelValueErrMsg =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character";

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// [a-z0-9]([-a-z0-9]*[a-z0-9])?
bool MatchesDNS1123Label(absl::string_view s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

// Labels joined by '.'.
bool MatchesDNS1123Subdomain(absl::string_view s) {
  while (true) {
    size_t dot = s.find('.');
    if (!MatchesDNS1123Label(s.substr(0, dot))) return false;
    if (dot == absl::string_view::npos) return true;
    s.remove_prefix(dot + 1);
  }
}

// [a-z]([-a-z0-9]*[a-z0-9])?
bool MatchesDNS1035Label(absl::string_view s) {
  return !s.empty() && IsLower(s.front()) && MatchesDNS1123Label(s);
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]
bool MatchesQualifiedNamePart(absl::string_view s) {
  if (s.empty() || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

}  // namespace

std::string MaxLenError(int64_t length) {
  return absl::StrCat("must be no more than ", length, " characters");
}

std::string RegexError(absl::string_view msg, absl::string_view regex,
                       const std::vector<absl::string_view>& examples) {
  if (examples.empty()) return absl::StrCat(msg, " (regex used for validation is '", regex, "')");
  std::string out = absl::StrCat(msg, " (e.g. ");
  for (size_t i = 0; i < examples.size(); ++i) {
    if (i > 0) out += " or ";
    absl::StrAppend(&out, "'", examples[i], "', ");
  }
  absl::StrAppend(&out, "regex used for validation is '", regex, "')");
  return out;
}

std::string EmptyError() { return "must be non-empty"; }

std::vector<std::string> IsDNS1123Label(absl::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > static_cast<size_t>(kDNS1123LabelMaxLength)) {
    errs.push_back(MaxLenError(kDNS1123LabelMaxLength));
  }
  if (!MatchesDNS1123Label(value)) {
    if (MatchesDNS1123Subdomain(value)) {
      // A valid subdomain but not a valid label: the length was checked
      // above, so it must be the dots.
      errs.push_back("must not contain dots");
    } else {
      errs.push_back(RegexError(kDNS1123LabelErrMsg, kDNS1123LabelFmt, {"my-name", "123-abc"}));
    }
  }
  return errs;
}

std::vector<std::string> IsDNS1123Subdomain(absl::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > static_cast<size_t>(kDNS1123SubdomainMaxLength)) {
    errs.push_back(MaxLenError(kDNS1123SubdomainMaxLength));
  }
  if (!MatchesDNS1123Subdomain(value)) {
    errs.push_back(RegexError(kDNS1123SubdomainErrMsg, kDNS1123SubdomainFmt, {"example.com"}));
  }
  return errs;
}

std::vector<std::string> IsDNS1035Label(absl::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > static_cast<size_t>(kDNS1035LabelMaxLength)) {
    errs.push_back(MaxLenError(kDNS1035LabelMaxLength));
  }
  if (!MatchesDNS1035Label(value)) {
    errs.push_back(RegexError(kDNS1035LabelErrMsg, kDNS1035LabelFmt, {"my-name", "abc-123"}));
  }
  return errs;
}

std::vector<std::string> IsQualifiedName(absl::string_view value) {
  std::vector<std::string> errs;
  absl::string_view name = value;
  size_t slash = value.find('/');
  if (slash != absl::string_view::npos) {
    if (value.find('/', slash + 1) != absl::string_view::npos) {
      errs.push_back(absl::StrCat(
          "a qualified name ",
          RegexError(kQualifiedNameErrMsg, kQualifiedNameFmt, {"MyName", "my.name", "123-abc"}),
          " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"));
      return errs;
    }
    absl::string_view prefix = value.substr(0, slash);
    name = value.substr(slash + 1);
    if (prefix.empty()) {
      errs.push_back(absl::StrCat("prefix part ", EmptyError()));
    } else {
      for (std::string& msg : IsDNS1123Subdomain(prefix)) {
        errs.push_back(absl::StrCat("prefix part ", msg));
      }
    }
  }
  if (name.empty()) {
    errs.push_back(absl::StrCat("name part ", EmptyError()));
  } else if (name.size() > static_cast<size_t>(kQualifiedNameMaxLength)) {
    errs.push_back(absl::StrCat("name part ", MaxLenError(kQualifiedNameMaxLength)));
  }
  if (!MatchesQualifiedNamePart(name)) {
    errs.push_back(absl::StrCat("name part ", RegexError(kQualifiedNameErrMsg, kQualifiedNameFmt,
                                                         {"MyName", "my.name", "123-abc"})));
  }
  return errs;
}

std::vector<std::string> IsValidLabelValue(absl::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > static_cast<size_t>(kLabelValueMaxLength)) {
    errs.push_back(MaxLenError(kLabelValueMaxLength));
  }
  if (!value.empty() && !MatchesQualifiedNamePart(value)) {
    errs.push_back(RegexError(kLabelValueErrMsg, kLabelValueFmt, {"MyValue", "my_value", "12345"}));
  }
  return errs;
}

}  // namespace korch::api
