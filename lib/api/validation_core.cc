// Validation of the core/v1 kinds, with the rules and messages of
// k8s.io/kubernetes/pkg/apis/core/validation/validation.go.
//
// Validation runs after SetDefaults(), as in the API server. Fields that
// defaulting fills in (a port's protocol, restartPolicy, dnsPolicy, probe
// thresholds, ...) are accepted when unset, and checked as Kubernetes does
// when set, including to "".
//
// Where Kubernetes reports a field at a path that is not its JSON path (a
// Go embedding or a typo such as "spec.LoadBalancerSourceRanges"), korch uses
// the JSON path; the messages are Kubernetes'.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/types/span.h"
#include "korch/api/codec.h"
#include "korch/api/name_validation.h"
#include "korch/api/quantity.h"
#include "korch/api/selector.h"
#include "korch/api/validation.h"
#include "nlohmann/json.hpp"
#include "validation_util.h"

namespace korch::api {

using namespace validation_internal;  // NOLINT(build/namespaces): helpers of this layer

namespace {

using StringMap = google::protobuf::Map<std::string, std::string>;
using Strings = absl::Span<const absl::string_view>;

// ---------------------------------------------------------------------------
// Enumerations. Lists built with sets.List() in Kubernetes are sorted; the
// others keep Kubernetes' order, since both appear in "supported values".

constexpr absl::string_view kProtocols[] = {"SCTP", "TCP", "UDP"};
constexpr absl::string_view kRestartPolicies[] = {"Always", "OnFailure", "Never"};
constexpr absl::string_view kDNSPolicies[] = {"ClusterFirstWithHostNet", "ClusterFirst", "Default",
                                              "None"};
constexpr absl::string_view kPullPolicies[] = {"Always", "IfNotPresent", "Never"};
constexpr absl::string_view kTerminationMessagePolicies[] = {"File", "FallbackToLogsOnError"};
constexpr absl::string_view kTaintEffects[] = {"NoSchedule", "PreferNoSchedule", "NoExecute"};
constexpr absl::string_view kTolerationOperators[] = {"Equal", "Exists"};
constexpr absl::string_view kScheduleActions[] = {"DoNotSchedule", "ScheduleAnyway"};
constexpr absl::string_view kNodeInclusionPolicies[] = {"Honor", "Ignore"};
constexpr absl::string_view kHTTPSchemes[] = {"HTTP", "HTTPS"};
constexpr absl::string_view kMountPropagations[] = {"Bidirectional", "HostToContainer", "None"};
constexpr absl::string_view kRecursiveReadOnly[] = {"Disabled", "Enabled", "IfPossible"};
constexpr absl::string_view kHostPathTypes[] = {
    "",     "BlockDevice",  "CharDevice", "Directory", "DirectoryOrCreate",
    "File", "FileOrCreate", "Socket"};
constexpr absl::string_view kPreemptionPolicies[] = {"PreemptLowerPriority", "Never"};
constexpr absl::string_view kOSNames[] = {"linux", "windows"};
constexpr absl::string_view kFSGroupChangePolicies[] = {"Always", "OnRootMismatch"};
constexpr absl::string_view kSeccompTypes[] = {"Localhost", "RuntimeDefault", "Unconfined"};
constexpr absl::string_view kProcMountTypes[] = {"Default", "Unmasked"};
constexpr absl::string_view kServiceTypes[] = {"ClusterIP", "ExternalName", "LoadBalancer",
                                               "NodePort"};
constexpr absl::string_view kSessionAffinities[] = {"ClientIP", "None"};
constexpr absl::string_view kTrafficPolicies[] = {"Cluster", "Local"};
constexpr absl::string_view kIPFamilies[] = {"IPv4", "IPv6"};
constexpr absl::string_view kIPFamilyPolicies[] = {"PreferDualStack", "RequireDualStack",
                                                   "SingleStack"};
constexpr absl::string_view kTrafficDistributions[] = {"PreferClose", "PreferSameNode",
                                                       "PreferSameZone"};
constexpr absl::string_view kEnvFieldPaths[] = {"metadata.name",
                                                "metadata.namespace",
                                                "metadata.uid",
                                                "spec.nodeName",
                                                "spec.serviceAccountName",
                                                "status.hostIP",
                                                "status.hostIPs",
                                                "status.podIP",
                                                "status.podIPs"};
constexpr absl::string_view kVolumeFieldPaths[] = {"metadata.annotations", "metadata.labels",
                                                   "metadata.name", "metadata.namespace",
                                                   "metadata.uid"};
constexpr absl::string_view kResourceFieldPaths[] = {
    "limits.cpu",   "limits.ephemeral-storage",   "limits.memory",
    "requests.cpu", "requests.ephemeral-storage", "requests.memory"};
constexpr absl::string_view kLimitTypes[] = {"Container", "Pod", "PersistentVolumeClaim"};
constexpr absl::string_view kQuotaScopes[] = {"Terminating",          "NotTerminating",
                                              "BestEffort",           "NotBestEffort",
                                              "PriorityClass",        "CrossNamespacePodAffinity",
                                              "VolumeAttributesClass"};

constexpr int64_t kMaxSecretSize = 1 << 20;  // 1 MiB, core.MaxSecretSize
constexpr int64_t kMaxInt32 = 2147483647;
constexpr int64_t kMaxUserID = 4294967295;  // uint32 max
constexpr absl::string_view kFileModeErrorMsg =
    "must be a number between 0 and 0777 (octal), both inclusive";
constexpr absl::string_view kIsNotIntegerErrorMsg = "must be an integer";

bool OneOf(absl::string_view v, Strings set) {
  for (absl::string_view s : set) {
    if (s == v) return true;
  }
  return false;
}

// The common shape of an enumerated field that defaulting fills in: unset
// is accepted, "" is Required, anything else must be one of `supported`.
void CheckEnum(bool present, absl::string_view value, Strings supported, const FieldPath& path,
               FieldErrorList* errs) {
  if (!present) return;
  if (value.empty()) {
    errs->push_back(Required(path));
  } else if (!OneOf(value, supported)) {
    errs->push_back(NotSupported(path, value, supported));
  }
}

std::string RenderJson(const google::protobuf::Message& m) {
  EncodeOptions options;
  options.type_meta = false;
  return EncodeJson(m, options);
}

std::string RenderStrings(const google::protobuf::RepeatedPtrField<std::string>& values) {
  std::vector<std::string> quoted;
  for (const std::string& v : values) quoted.push_back(QuoteValue(v));
  return absl::StrCat("[", absl::StrJoin(quoted, ","), "]");
}

FieldError DuplicateRendered(const FieldPath& path, absl::string_view rendered,
                             absl::string_view detail = "") {
  FieldError e = Duplicate(path, "");
  e.bad_value = std::string(rendered);
  e.detail = std::string(detail);
  return e;
}

FieldErrorList ValidateDNS1123Label(absl::string_view value, const FieldPath& path) {
  return InvalidEach(path, value, IsDNS1123Label(value));
}
FieldErrorList ValidateDNS1123Subdomain(absl::string_view value, const FieldPath& path) {
  return InvalidEach(path, value, IsDNS1123Subdomain(value));
}
FieldErrorList ValidateQualifiedName(absl::string_view value, const FieldPath& path) {
  return InvalidEach(path, value, IsQualifiedName(value));
}

// ---------------------------------------------------------------------------
// apimachinery/pkg/util/validation checks not in name_validation.h.

std::vector<std::string> IsValidPortNum(int64_t port) {
  if (port >= 1 && port <= 65535) return {};
  return {InclusiveRangeError(1, 65535)};
}

// IANA_SVC_NAME: at most 15 characters of [-a-z0-9], at least one letter,
// no leading, trailing or double hyphen.
std::vector<std::string> IsValidPortName(absl::string_view port) {
  std::vector<std::string> errs;
  if (port.size() > 15) errs.push_back(MaxLenError(15));
  bool charset = !port.empty();
  bool letter = false;
  for (char c : port) {
    if (c >= 'a' && c <= 'z') {
      letter = true;
    } else if (!(c >= '0' && c <= '9') && c != '-') {
      charset = false;
    }
  }
  if (!charset)
    errs.push_back("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
  if (!letter) errs.push_back("must contain at least one letter (a-z)");
  if (absl::StrContains(port, "--")) errs.push_back("must not contain consecutive hyphens");
  if (!port.empty() && (port.front() == '-' || port.back() == '-')) {
    errs.push_back("must not begin or end with a hyphen");
  }
  return errs;
}

std::vector<std::string> HasChDirPrefix(absl::string_view value) {
  if (value == ".") return {"must not be '.'"};
  if (value == "..") return {"must not be '..'"};
  if (absl::StartsWith(value, "..")) return {"must not start with '..'"};
  return {};
}

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// [-._a-zA-Z][-._a-zA-Z0-9]*
std::vector<std::string> IsEnvVarName(absl::string_view value) {
  std::vector<std::string> errs;
  bool ok = !value.empty() && !IsDigit(value.front());
  for (char c : value) {
    if (!IsAlpha(c) && !IsDigit(c) && c != '-' && c != '.' && c != '_') ok = false;
  }
  if (!ok) {
    errs.push_back(RegexError(
        "a valid environment variable name must consist of alphabetic characters, digits, '_', "
        "'-', or '.', and must not start with a digit",
        "[-._a-zA-Z][-._a-zA-Z0-9]*", {"my.env-name", "MY_ENV.NAME", "MyEnvName1"}));
  }
  std::vector<std::string> chdir = HasChDirPrefix(value);
  errs.insert(errs.end(), chdir.begin(), chdir.end());
  return errs;
}

// [-._a-zA-Z0-9]+, at most 253 bytes.
std::vector<std::string> IsConfigMapKey(absl::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > static_cast<size_t>(kDNS1123SubdomainMaxLength)) {
    errs.push_back(MaxLenError(kDNS1123SubdomainMaxLength));
  }
  bool ok = !value.empty();
  for (char c : value) {
    if (!IsAlpha(c) && !IsDigit(c) && c != '-' && c != '.' && c != '_') ok = false;
  }
  if (!ok) {
    errs.push_back(
        RegexError("a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                   "[-._a-zA-Z0-9]+", {"key.name", "KEY_NAME", "key-name"}));
  }
  std::vector<std::string> chdir = HasChDirPrefix(value);
  errs.insert(errs.end(), chdir.begin(), chdir.end());
  return errs;
}

std::vector<std::string> IsHTTPHeaderName(absl::string_view value) {
  bool ok = !value.empty();
  for (char c : value) {
    if (!IsAlpha(c) && !IsDigit(c) && c != '-') ok = false;
  }
  if (ok) return {};
  return {RegexError("a valid HTTP header must consist of alphanumeric characters or '-'",
                     "[-A-Za-z0-9]+", {"X-Header-Name"})};
}

FieldErrorList ValidatePortNumOrName(const IntOrString& port, const FieldPath& path) {
  if (port.has_str_val()) return InvalidEach(path, port.str_val(), IsValidPortName(port.str_val()));
  FieldErrorList errs;
  for (const std::string& msg : IsValidPortNum(port.int_val())) {
    errs.push_back(Invalid(path, port.int_val(), msg));
  }
  return errs;
}

// A relative path without "..": validateLocalDescendingPath.
FieldErrorList ValidateLocalDescendingPath(absl::string_view target, const FieldPath& path) {
  FieldErrorList errs;
  if (absl::StartsWith(target, "/"))
    errs.push_back(Invalid(path, target, "must be a relative path"));
  for (absl::string_view part : absl::StrSplit(target, absl::ByAnyChar("/\\"))) {
    if (part == "..") {
      errs.push_back(Invalid(path, target, "must not contain '..'"));
      break;
    }
  }
  return errs;
}

FieldErrorList ValidateLocalNonReservedPath(absl::string_view target, const FieldPath& path) {
  FieldErrorList errs = ValidateLocalDescendingPath(target, path);
  if (absl::StartsWith(target, "..") && !absl::StartsWith(target, "../")) {
    errs.push_back(Invalid(path, target, "must not start with '..'"));
  }
  return errs;
}

FieldErrorList ValidatePathNoBacksteps(absl::string_view target, const FieldPath& path) {
  FieldErrorList errs;
  for (absl::string_view part : absl::StrSplit(target, absl::ByAnyChar("/\\"))) {
    if (part == "..") {
      errs.push_back(Invalid(path, target, "must not contain '..'"));
      break;
    }
  }
  return errs;
}

// ValidateNonSpecialIP: endpoint and external IPs may not be unspecified,
// loopback or link-local.
FieldErrorList ValidateNonSpecialIP(absl::string_view ip, const FieldPath& path) {
  FieldErrorList errs;
  if (!IsIP(ip)) {
    errs.push_back(Invalid(path, ip, "must be a valid IP address"));
    return errs;
  }
  std::string lower = absl::AsciiStrToLower(ip);
  bool unspecified = false, loopback = false, link_local = false, link_local_multicast = false;
  if (IsIPv6(ip)) {
    unspecified = lower == "::" || lower == "0:0:0:0:0:0:0:0";
    loopback = lower == "::1" || lower == "0:0:0:0:0:0:0:1";
    link_local = absl::StartsWith(lower, "fe8") || absl::StartsWith(lower, "fe9") ||
                 absl::StartsWith(lower, "fea") || absl::StartsWith(lower, "feb");
    link_local_multicast = absl::StartsWith(lower, "ff02:");
  } else {
    std::vector<absl::string_view> parts = absl::StrSplit(ip, '.');
    int octet[4];
    for (int i = 0; i < 4; ++i) {
      if (!absl::SimpleAtoi(parts[i], &octet[i])) octet[i] = 0;
    }
    unspecified = octet[0] == 0 && octet[1] == 0 && octet[2] == 0 && octet[3] == 0;
    loopback = octet[0] == 127;
    link_local = octet[0] == 169 && octet[1] == 254;
    link_local_multicast = octet[0] == 224 && octet[1] == 0 && octet[2] == 0;
  }
  if (unspecified) {
    errs.push_back(Invalid(path, ip, absl::StrCat("may not be unspecified (", ip, ")")));
  }
  if (loopback) {
    errs.push_back(Invalid(path, ip, "may not be in the loopback range (127.0.0.0/8, ::1/128)"));
  }
  if (link_local) {
    errs.push_back(
        Invalid(path, ip, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"));
  }
  if (link_local_multicast) {
    errs.push_back(Invalid(
        path, ip, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"));
  }
  return errs;
}

// ---------------------------------------------------------------------------
// Resources (pkg/apis/core/helper)

bool IsHugePageResourceName(absl::string_view name) { return absl::StartsWith(name, "hugepages-"); }
bool IsQuotaHugePageResourceName(absl::string_view name) {
  return absl::StartsWith(name, "hugepages-") || absl::StartsWith(name, "requests.hugepages-");
}
bool IsNativeResource(absl::string_view name) {
  return !absl::StrContains(name, "/") || absl::StrContains(name, "kubernetes.io/");
}
bool IsExtendedResourceName(absl::string_view name) {
  if (IsNativeResource(name) || absl::StartsWith(name, "requests.")) return false;
  return IsQualifiedName(absl::StrCat("requests.", name)).empty();
}
bool IsOvercommitAllowed(absl::string_view name) {
  return IsNativeResource(name) && !IsHugePageResourceName(name);
}
bool IsStandardContainerResourceName(absl::string_view name) {
  return name == "cpu" || name == "memory" || name == "ephemeral-storage" ||
         IsHugePageResourceName(name);
}

constexpr absl::string_view kStandardResources[] = {"cpu",
                                                    "memory",
                                                    "ephemeral-storage",
                                                    "requests.cpu",
                                                    "requests.memory",
                                                    "requests.ephemeral-storage",
                                                    "limits.cpu",
                                                    "limits.memory",
                                                    "limits.ephemeral-storage",
                                                    "pods",
                                                    "resourcequotas",
                                                    "services",
                                                    "replicationcontrollers",
                                                    "secrets",
                                                    "configmaps",
                                                    "persistentvolumeclaims",
                                                    "storage",
                                                    "requests.storage",
                                                    "services.nodeports",
                                                    "services.loadbalancers"};
constexpr absl::string_view kStandardQuotaResources[] = {"cpu",
                                                         "memory",
                                                         "ephemeral-storage",
                                                         "requests.cpu",
                                                         "requests.memory",
                                                         "requests.storage",
                                                         "requests.ephemeral-storage",
                                                         "limits.cpu",
                                                         "limits.memory",
                                                         "limits.ephemeral-storage",
                                                         "pods",
                                                         "resourcequotas",
                                                         "services",
                                                         "replicationcontrollers",
                                                         "secrets",
                                                         "persistentvolumeclaims",
                                                         "configmaps",
                                                         "services.nodeports",
                                                         "services.loadbalancers"};
constexpr absl::string_view kIntegerResources[] = {"pods",
                                                   "resourcequotas",
                                                   "services",
                                                   "replicationcontrollers",
                                                   "secrets",
                                                   "configmaps",
                                                   "persistentvolumeclaims",
                                                   "services.nodeports",
                                                   "services.loadbalancers"};

bool IsStandardResourceName(absl::string_view name) {
  return OneOf(name, kStandardResources) || IsQuotaHugePageResourceName(name);
}
bool IsStandardQuotaResourceName(absl::string_view name) {
  return OneOf(name, kStandardQuotaResources) || IsQuotaHugePageResourceName(name);
}
bool IsIntegerResourceName(absl::string_view name) {
  return OneOf(name, kIntegerResources) || IsExtendedResourceName(name);
}

FieldErrorList ValidateResourceName(absl::string_view name, const FieldPath& path) {
  FieldErrorList errs = ValidateQualifiedName(name, path);
  if (!errs.empty()) return errs;
  if (!absl::StrContains(name, "/") && !IsStandardResourceName(name)) {
    errs.push_back(Invalid(path, name, "must be a standard resource type or fully qualified"));
  }
  return errs;
}

FieldErrorList ValidateContainerResourceName(absl::string_view name, const FieldPath& path) {
  FieldErrorList errs = ValidateResourceName(name, path);
  if (!absl::StrContains(name, "/")) {
    if (!IsStandardContainerResourceName(name)) {
      errs.push_back(Invalid(path, name, "must be a standard resource for containers"));
    }
  } else if (!IsNativeResource(name) && !IsExtendedResourceName(name)) {
    errs.push_back(Invalid(path, name, "doesn't follow extended resource name standard"));
  }
  return errs;
}

FieldErrorList ValidateResourceQuotaResourceName(absl::string_view name, const FieldPath& path) {
  FieldErrorList errs = ValidateResourceName(name, path);
  if (!absl::StrContains(name, "/") && !IsStandardQuotaResourceName(name)) {
    errs.push_back(Invalid(path, name, "must be a standard resource for quota"));
  }
  return errs;
}

// Parses a stored quantity. The codec has already checked it, so failure
// means the object was built by hand; it is reported like a decode error.
std::optional<Quantity> ParseQuantity(absl::string_view text, const FieldPath& path,
                                      FieldErrorList* errs) {
  absl::StatusOr<Quantity> q = Quantity::Parse(text);
  if (!q.ok()) {
    errs->push_back(Invalid(path, text, q.status().message()));
    return std::nullopt;
  }
  return *q;
}

// Rendered as Kubernetes prints a quantity value: its canonical form.
FieldError InvalidQuantity(const FieldPath& path, const Quantity& q, absl::string_view detail) {
  return InvalidRendered(path, q.ToString(), detail);
}

// ValidateResourceQuantityValue: not negative, and whole for integer
// resources.
FieldErrorList ValidateResourceQuantityValue(absl::string_view resource, const Quantity& q,
                                             const FieldPath& path) {
  FieldErrorList errs;
  if (q.Sign() < 0) errs.push_back(Invalid(path, q.ToString(), kIsNegativeErrorMsg));
  if (IsIntegerResourceName(resource) && q.MilliValue() % 1000 != 0) {
    errs.push_back(InvalidQuantity(path, q, kIsNotIntegerErrorMsg));
  }
  return errs;
}

// A parsed resource list, in key order.
struct ResourceEntry {
  std::string name;
  Quantity quantity;
};

std::vector<ResourceEntry> ParseResourceList(const StringMap& list, const FieldPath& path,
                                             FieldErrorList* errs) {
  std::vector<ResourceEntry> out;
  for (const auto& [name, text] : SortedEntries(list)) {
    std::optional<Quantity> q = ParseQuantity(text, path.Key(name), errs);
    if (q.has_value()) out.push_back({name, *q});
  }
  return out;
}

const Quantity* FindResource(const std::vector<ResourceEntry>& list, absl::string_view name) {
  for (const ResourceEntry& e : list) {
    if (e.name == name) return &e.quantity;
  }
  return nullptr;
}

std::optional<std::string> HugePageDivisibilityError(absl::string_view name, const Quantity& q) {
  absl::StatusOr<Quantity> page = Quantity::Parse(absl::StripPrefix(name, "hugepages-"));
  bool ok = page.ok() && page->Sign() > 0 && page->MilliValue() % 1000 == 0 &&
            q.Value() % page->Value() == 0;
  if (ok) return std::nullopt;
  return absl::StrCat(q.ToString(), " is not positive integer multiple of ", name);
}

FieldErrorList ValidateResourceRequirements(const ResourceRequirements& req,
                                            const FieldPath& path) {
  FieldErrorList errs;
  FieldPath lim_path = path.Child("limits");
  FieldPath req_path = path.Child("requests");
  std::vector<ResourceEntry> limits = ParseResourceList(req.limits(), lim_path, &errs);
  std::vector<ResourceEntry> requests = ParseResourceList(req.requests(), req_path, &errs);
  bool cpu_or_memory = false;
  bool hugepages = false;
  for (const ResourceEntry& e : limits) {
    FieldPath p = lim_path.Key(e.name);
    Append(&errs, ValidateContainerResourceName(e.name, p));
    Append(&errs, ValidateResourceQuantityValue(e.name, e.quantity, p));
    if (IsHugePageResourceName(e.name)) {
      hugepages = true;
      if (auto msg = HugePageDivisibilityError(e.name, e.quantity)) {
        errs.push_back(Invalid(p, e.quantity.ToString(), *msg));
      }
    }
    if (e.name == "cpu" || e.name == "memory") cpu_or_memory = true;
  }
  for (const ResourceEntry& e : requests) {
    FieldPath p = req_path.Key(e.name);
    Append(&errs, ValidateContainerResourceName(e.name, p));
    Append(&errs, ValidateResourceQuantityValue(e.name, e.quantity, p));
    if (const Quantity* limit = FindResource(limits, e.name)) {
      int cmp = e.quantity.Compare(*limit);
      if (cmp != 0 && !IsOvercommitAllowed(e.name)) {
        errs.push_back(
            Invalid(req_path, e.quantity.ToString(),
                    absl::StrCat("must be equal to ", e.name, " limit of ", limit->ToString())));
      } else if (cmp > 0) {
        errs.push_back(Invalid(req_path, e.quantity.ToString(),
                               absl::StrCat("must be less than or equal to ", e.name, " limit of ",
                                            limit->ToString())));
      }
    } else if (!IsOvercommitAllowed(e.name)) {
      errs.push_back(Required(lim_path, "Limit must be set for non overcommitable resources"));
    }
    if (IsHugePageResourceName(e.name)) {
      hugepages = true;
      if (auto msg = HugePageDivisibilityError(e.name, e.quantity)) {
        errs.push_back(Invalid(p, e.quantity.ToString(), *msg));
      }
    }
    if (e.name == "cpu" || e.name == "memory") cpu_or_memory = true;
  }
  if (hugepages && !cpu_or_memory) {
    errs.push_back(Forbidden(path, "HugePages require cpu or memory"));
  }
  // Claims refer to PodSpec.resourceClaims, which korch does not model: only
  // the entries themselves are checked.
  absl::flat_hash_set<std::string> claims;
  for (int i = 0; i < req.claims_size(); ++i) {
    const ResourceClaim& c = req.claims(i);
    FieldPath p = path.Child("claims").Index(i);
    if (c.name().empty()) {
      errs.push_back(Required(p));
      continue;
    }
    std::string key = c.name();
    if (!c.request().empty()) {
      Append(&errs, ValidateDNS1123Label(c.request(), p.Child("request")));
      absl::StrAppend(&key, "/", c.request());
    }
    if (!claims.insert(key).second) errs.push_back(Duplicate(p, key));
  }
  return errs;
}

// ---------------------------------------------------------------------------
// Volumes

using VolumeMap = absl::flat_hash_map<std::string, const Volume*>;

FieldErrorList ValidateKeyToPath(const KeyToPath& kp, const FieldPath& path) {
  FieldErrorList errs;
  if (kp.key().empty()) errs.push_back(Required(path.Child("key")));
  if (kp.path().empty()) errs.push_back(Required(path.Child("path")));
  Append(&errs, ValidateLocalNonReservedPath(kp.path(), path.Child("path")));
  if (kp.has_mode() && (kp.mode() > 0777 || kp.mode() < 0)) {
    errs.push_back(Invalid(path.Child("mode"), kp.mode(), kFileModeErrorMsg));
  }
  return errs;
}

void CheckFileMode(bool present, int32_t mode, const FieldPath& path, FieldErrorList* errs) {
  if (present && (mode > 0777 || mode < 0)) errs->push_back(Invalid(path, mode, kFileModeErrorMsg));
}

// SplitMaybeSubscriptedPath: "metadata.labels['app']" -> ("metadata.labels", "app").
bool SplitSubscriptedPath(absl::string_view field_path, absl::string_view* path,
                          absl::string_view* subscript) {
  if (!absl::ConsumeSuffix(&field_path, "']")) return false;
  size_t open = field_path.find("['");
  if (open == absl::string_view::npos || open == 0) return false;
  *path = field_path.substr(0, open);
  *subscript = field_path.substr(open + 2);
  return true;
}

// The downward API fields of a pod (ConvertDownwardAPIFieldLabel).
bool IsDownwardAPIFieldLabel(absl::string_view label) {
  constexpr absl::string_view kLabels[] = {
      "metadata.annotations", "metadata.labels", "metadata.name",      "metadata.namespace",
      "metadata.uid",         "spec.nodeName",   "spec.restartPolicy", "spec.serviceAccountName",
      "spec.schedulerName",   "status.phase",    "status.hostIP",      "status.hostIPs",
      "status.podIP",         "status.podIPs",   "spec.host"};
  return OneOf(label, kLabels);
}

FieldErrorList ValidateObjectFieldSelector(const ObjectFieldSelector& fs, Strings expressions,
                                           const FieldPath& path) {
  FieldErrorList errs;
  if (fs.has_api_version() && fs.api_version().empty()) {
    errs.push_back(Required(path.Child("apiVersion")));
    return errs;
  }
  if (fs.field_path().empty()) {
    errs.push_back(Required(path.Child("fieldPath")));
    return errs;
  }
  absl::string_view version = fs.has_api_version() ? absl::string_view(fs.api_version()) : "v1";
  absl::string_view field_path = fs.field_path();
  absl::string_view base, subscript;
  bool subscripted = SplitSubscriptedPath(field_path, &base, &subscript);
  std::string conversion_error;
  if (version != "v1") {
    conversion_error = absl::StrCat("unsupported pod version: ", version);
  } else if (subscripted) {
    if (base != "metadata.annotations" && base != "metadata.labels") {
      conversion_error = absl::StrCat("field label does not support subscript: ", field_path);
    }
  } else if (!IsDownwardAPIFieldLabel(field_path)) {
    conversion_error = absl::StrCat("field label not supported: ", field_path);
  }
  if (!conversion_error.empty()) {
    errs.push_back(Invalid(path.Child("fieldPath"), field_path,
                           absl::StrCat("error converting fieldPath: ", conversion_error)));
    return errs;
  }
  if (subscripted) {
    if (base == "metadata.annotations") {
      Append(&errs, ValidateQualifiedName(absl::AsciiStrToLower(subscript), path));
    } else {
      Append(&errs, ValidateQualifiedName(subscript, path));
    }
    return errs;
  }
  absl::string_view internal = field_path == "spec.host" ? "spec.nodeName" : field_path;
  if (!OneOf(internal, expressions)) {
    errs.push_back(NotSupported(path.Child("fieldPath"), internal, expressions));
  }
  return errs;
}

FieldErrorList ValidateResourceFieldSelector(const ResourceFieldSelector& fs, bool volume,
                                             const FieldPath& path) {
  FieldErrorList errs;
  const std::string& resource = fs.resource();
  if (volume && fs.container_name().empty()) {
    errs.push_back(Required(path.Child("containerName")));
  } else if (resource.empty()) {
    errs.push_back(Required(path.Child("resource")));
  } else if (!OneOf(resource, kResourceFieldPaths) &&
             !absl::StartsWith(resource, "requests.hugepages-") &&
             !absl::StartsWith(resource, "limits.hugepages-")) {
    errs.push_back(NotSupported(path.Child("resource"), resource, kResourceFieldPaths));
  }
  if (fs.has_divisor()) {
    absl::StatusOr<Quantity> divisor = Quantity::Parse(fs.divisor());
    if (divisor.ok() && !divisor->IsZero()) {
      std::string d = divisor->ToString();
      constexpr absl::string_view kByteDivisors[] = {"1",   "1k",  "1M",  "1G",  "1T",  "1P", "1E",
                                                     "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"};
      constexpr absl::string_view kByteList =
          "1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei";
      std::string message;
      if (resource == "limits.cpu" || resource == "requests.cpu") {
        if (d != "1m" && d != "1") {
          message = "only divisor's values 1m and 1 are supported with the cpu resource";
        }
      } else if (resource == "limits.memory" || resource == "requests.memory") {
        if (!OneOf(d, kByteDivisors)) {
          message = absl::StrCat("only divisor's values ", kByteList,
                                 " are supported with the memory resource");
        }
      } else if (resource == "limits.ephemeral-storage" ||
                 resource == "requests.ephemeral-storage") {
        if (!OneOf(d, kByteDivisors)) {
          message = absl::StrCat("only divisor's values ", kByteList,
                                 " are supported with the local ephemeral storage resource");
        }
      } else if (absl::StartsWith(resource, "requests.hugepages-") ||
                 absl::StartsWith(resource, "limits.hugepages-")) {
        if (!OneOf(d, kByteDivisors)) {
          message = absl::StrCat("only divisor's values ", kByteList,
                                 " are supported with the hugepages resource");
        }
      }
      if (!message.empty()) errs.push_back(Invalid(path.Child("divisor"), resource, message));
    }
  }
  return errs;
}

FieldErrorList ValidateDownwardAPIVolumeFile(const DownwardAPIVolumeFile& file,
                                             const FieldPath& path, const FieldPath& item_path) {
  FieldErrorList errs;
  if (file.path().empty()) errs.push_back(Required(item_path.Child("path")));
  Append(&errs, ValidateLocalNonReservedPath(file.path(), item_path.Child("path")));
  if (file.has_field_ref()) {
    Append(&errs, ValidateObjectFieldSelector(file.field_ref(), kVolumeFieldPaths,
                                              item_path.Child("fieldRef")));
    if (file.has_resource_field_ref()) {
      errs.push_back(Invalid(item_path, "resource",
                             "fieldRef and resourceFieldRef can not be specified simultaneously"));
    }
  } else if (file.has_resource_field_ref()) {
    Append(&errs, ValidateResourceFieldSelector(file.resource_field_ref(), /*volume=*/true,
                                                item_path.Child("resourceFieldRef")));
  } else {
    errs.push_back(Required(item_path, "one of fieldRef and resourceFieldRef is required"));
  }
  CheckFileMode(file.has_mode(), file.mode(), item_path.Child("mode"), &errs);
  return errs;
}

FieldErrorList ValidateProjectedVolume(const ProjectedVolumeSource& projected,
                                       const FieldPath& path) {
  FieldErrorList errs;
  CheckFileMode(projected.has_default_mode(), projected.default_mode(), path.Child("defaultMode"),
                &errs);
  absl::flat_hash_set<std::string> paths;
  auto check_path = [&](const std::string& p, absl::string_view value) {
    if (p.empty()) return;
    if (!paths.insert(p).second)
      errs.push_back(Invalid(path, value, "conflicting duplicate paths"));
  };
  for (int i = 0; i < projected.sources_size(); ++i) {
    const VolumeProjection& source = projected.sources(i);
    FieldPath src_path = path.Child("sources").Index(i);
    int sources = 0;
    // Secret and ConfigMap projections have the same shape (name, items).
    auto check_key_projection = [&](const auto& projection, absl::string_view field) {
      ++sources;
      FieldPath p = src_path.Child(field);
      if (projection.name().empty()) errs.push_back(Required(p.Child("name")));
      for (int j = 0; j < projection.items_size(); ++j) {
        const KeyToPath& kp = projection.items(j);
        Append(&errs, ValidateKeyToPath(kp, p.Child("items").Index(j)));
        check_path(kp.path(), projection.name());
      }
    };
    if (source.has_secret()) check_key_projection(source.secret(), "secret");
    if (source.has_config_map()) check_key_projection(source.config_map(), "configMap");
    if (source.has_downward_api()) {
      ++sources;
      FieldPath p = src_path.Child("downwardAPI");
      for (int j = 0; j < source.downward_api().items_size(); ++j) {
        const DownwardAPIVolumeFile& file = source.downward_api().items(j);
        Append(&errs, ValidateDownwardAPIVolumeFile(file, p, p.Child("items").Index(j)));
        check_path(file.path(), file.path());
      }
    }
    if (source.has_service_account_token()) {
      ++sources;
      const ServiceAccountTokenProjection& token = source.service_account_token();
      FieldPath p = src_path.Child("serviceAccountToken");
      if (token.has_expiration_seconds()) {
        if (token.expiration_seconds() < 10 * 60) {
          errs.push_back(Invalid(p.Child("expirationSeconds"), token.expiration_seconds(),
                                 "may not specify a duration less than 10 minutes"));
        }
        if (token.expiration_seconds() > (int64_t{1} << 32)) {
          errs.push_back(Invalid(p.Child("expirationSeconds"), token.expiration_seconds(),
                                 "may not specify a duration larger than 2^32 seconds"));
        }
      }
      if (token.path().empty()) {
        errs.push_back(Required(p.Child("path")));
      } else {
        Append(&errs, ValidateLocalNonReservedPath(token.path(), p.Child("path")));
      }
    }
    if (sources > 1) {
      errs.push_back(Forbidden(src_path, "may not specify more than 1 volume type per source"));
    }
  }
  return errs;
}

FieldErrorList ValidateVolumeSource(const Volume& v, const FieldPath& path) {
  FieldErrorList errs;
  int sources = 0;
  // Each source present after the first is an error at that source's path,
  // in Kubernetes' order of the sources.
  auto count = [&](bool present, absl::string_view name) {
    if (!present) return false;
    if (sources > 0) {
      errs.push_back(Forbidden(path.Child(name), "may not specify more than 1 volume type"));
      return false;
    }
    ++sources;
    return true;
  };
  if (count(v.has_empty_dir(), "emptyDir")) {
    if (v.empty_dir().has_size_limit()) {
      absl::StatusOr<Quantity> q = Quantity::Parse(v.empty_dir().size_limit());
      if (!q.ok() || q->Sign() < 0) {
        errs.push_back(Forbidden(path.Child("emptyDir").Child("sizeLimit"),
                                 "SizeLimit field must be a valid resource quantity"));
      }
    }
  }
  if (count(v.has_host_path(), "hostPath")) {
    FieldPath p = path.Child("hostPath");
    const HostPathVolumeSource& hp = v.host_path();
    if (hp.path().empty()) {
      errs.push_back(Required(p.Child("path")));
    } else {
      Append(&errs, ValidatePathNoBacksteps(hp.path(), p.Child("path")));
      if (hp.has_type() && !OneOf(hp.type(), kHostPathTypes)) {
        errs.push_back(NotSupported(p.Child("type"), hp.type(), kHostPathTypes));
      }
    }
  }
  if (count(v.has_secret(), "secret")) {
    FieldPath p = path.Child("secret");
    const SecretVolumeSource& s = v.secret();
    if (s.secret_name().empty()) errs.push_back(Required(p.Child("secretName")));
    CheckFileMode(s.has_default_mode(), s.default_mode(), p.Child("defaultMode"), &errs);
    for (int i = 0; i < s.items_size(); ++i) {
      Append(&errs, ValidateKeyToPath(s.items(i), p.Child("items").Index(i)));
    }
  }
  if (count(v.has_persistent_volume_claim(), "persistentVolumeClaim")) {
    if (v.persistent_volume_claim().claim_name().empty()) {
      errs.push_back(Required(path.Child("persistentVolumeClaim").Child("claimName")));
    }
  }
  if (count(v.has_downward_api(), "downwardAPI")) {
    FieldPath p = path.Child("downwardAPI");
    const DownwardAPIVolumeSource& d = v.downward_api();
    CheckFileMode(d.has_default_mode(), d.default_mode(), p.Child("defaultMode"), &errs);
    for (int i = 0; i < d.items_size(); ++i) {
      Append(&errs, ValidateDownwardAPIVolumeFile(d.items(i), p, p.Child("items").Index(i)));
    }
  }
  if (count(v.has_config_map(), "configMap")) {
    FieldPath p = path.Child("configMap");
    const ConfigMapVolumeSource& c = v.config_map();
    if (c.name().empty()) errs.push_back(Required(p.Child("name")));
    CheckFileMode(c.has_default_mode(), c.default_mode(), p.Child("defaultMode"), &errs);
    for (int i = 0; i < c.items_size(); ++i) {
      Append(&errs, ValidateKeyToPath(c.items(i), p.Child("items").Index(i)));
    }
  }
  if (count(v.has_projected(), "projected")) {
    Append(&errs, ValidateProjectedVolume(v.projected(), path.Child("projected")));
  }
  if (sources == 0) errs.push_back(Required(path, "must specify a volume type"));
  return errs;
}

// Validates the volumes and returns in `*volumes` the valid ones by name,
// which volume mounts may refer to.
FieldErrorList ValidateVolumes(const google::protobuf::RepeatedPtrField<Volume>& list,
                               const FieldPath& path, VolumeMap* volumes) {
  FieldErrorList errs;
  for (int i = 0; i < list.size(); ++i) {
    const Volume& v = list.Get(i);
    FieldPath idx = path.Index(i);
    FieldPath name_path = idx.Child("name");
    FieldErrorList el = ValidateVolumeSource(v, idx);
    if (v.name().empty()) {
      el.push_back(Required(name_path));
    } else {
      Append(&el, ValidateDNS1123Label(v.name(), name_path));
    }
    if (volumes->contains(v.name())) el.push_back(Duplicate(name_path, v.name()));
    if (el.empty()) {
      (*volumes)[v.name()] = &v;
    } else {
      Append(&errs, std::move(el));
    }
  }
  return errs;
}

// ---------------------------------------------------------------------------
// Containers

FieldErrorList ValidateContainerPorts(const Container& c, const FieldPath& path) {
  FieldErrorList errs;
  absl::flat_hash_set<std::string> names;
  for (int i = 0; i < c.ports_size(); ++i) {
    const ContainerPort& port = c.ports(i);
    FieldPath idx = path.Index(i);
    if (!port.name().empty()) {
      std::vector<std::string> msgs = IsValidPortName(port.name());
      if (!msgs.empty()) {
        Append(&errs, InvalidEach(idx.Child("name"), port.name(), msgs));
      } else if (!names.insert(port.name()).second) {
        errs.push_back(Duplicate(idx.Child("name"), port.name()));
      }
    }
    if (port.container_port() == 0) {
      errs.push_back(Required(idx.Child("containerPort")));
    } else {
      for (const std::string& msg : IsValidPortNum(port.container_port())) {
        errs.push_back(Invalid(idx.Child("containerPort"), port.container_port(), msg));
      }
    }
    if (port.host_port() != 0) {
      for (const std::string& msg : IsValidPortNum(port.host_port())) {
        errs.push_back(Invalid(idx.Child("hostPort"), port.host_port(), msg));
      }
    }
    CheckEnum(port.has_protocol(), port.protocol(), kProtocols, idx.Child("protocol"), &errs);
    if (!port.host_ip().empty()) Append(&errs, ValidateIP(port.host_ip(), idx.Child("hostIP")));
  }
  return errs;
}

FieldErrorList ValidateKeySelector(absl::string_view name, absl::string_view key,
                                   const FieldPath& path) {
  // Kubernetes checks the name even when it is empty.
  FieldErrorList errs = InvalidEach(path.Child("name"), name, IsDNS1123Subdomain(name));
  if (key.empty()) {
    errs.push_back(Required(path.Child("key")));
  } else {
    Append(&errs, InvalidEach(path.Child("key"), key, IsConfigMapKey(key)));
  }
  return errs;
}

FieldErrorList ValidateEnvVarValueFrom(const EnvVar& ev, const FieldPath& path) {
  FieldErrorList errs;
  if (!ev.has_value_from()) return errs;
  const EnvVarSource& from = ev.value_from();
  int sources = 0;
  if (from.has_field_ref()) {
    ++sources;
    Append(&errs,
           ValidateObjectFieldSelector(from.field_ref(), kEnvFieldPaths, path.Child("fieldRef")));
  }
  if (from.has_resource_field_ref()) {
    ++sources;
    Append(&errs, ValidateResourceFieldSelector(from.resource_field_ref(), /*volume=*/false,
                                                path.Child("resourceFieldRef")));
  }
  if (from.has_config_map_key_ref()) {
    ++sources;
    Append(&errs,
           ValidateKeySelector(from.config_map_key_ref().name(), from.config_map_key_ref().key(),
                               path.Child("configMapKeyRef")));
  }
  if (from.has_secret_key_ref()) {
    ++sources;
    Append(&errs, ValidateKeySelector(from.secret_key_ref().name(), from.secret_key_ref().key(),
                                      path.Child("secretKeyRef")));
  }
  if (sources == 0) {
    errs.push_back(Invalid(path, "",
                           "must specify one of: `fieldRef`, `resourceFieldRef`, "
                           "`configMapKeyRef` or `secretKeyRef`"));
  } else if (!ev.value().empty()) {
    errs.push_back(Invalid(path, "", "may not be specified when `value` is not empty"));
  } else if (sources > 1) {
    errs.push_back(Invalid(path, "", "may not have more than one field specified at a time"));
  }
  return errs;
}

FieldErrorList ValidateEnv(const Container& c, const FieldPath& path) {
  FieldErrorList errs;
  for (int i = 0; i < c.env_size(); ++i) {
    const EnvVar& ev = c.env(i);
    FieldPath idx = path.Index(i);
    if (ev.name().empty()) {
      errs.push_back(Required(idx.Child("name")));
    } else {
      Append(&errs, InvalidEach(idx.Child("name"), ev.name(), IsEnvVarName(ev.name())));
    }
    Append(&errs, ValidateEnvVarValueFrom(ev, idx.Child("valueFrom")));
  }
  return errs;
}

FieldErrorList ValidateEnvFrom(const Container& c, const FieldPath& path) {
  FieldErrorList errs;
  auto check_name = [&](const std::string& name, const FieldPath& p) {
    if (name.empty()) {
      errs.push_back(Required(p));
    } else {
      Append(&errs, InvalidEach(p, name, NameErrors(name, NameRule::kDNS1123Subdomain, true)));
    }
  };
  for (int i = 0; i < c.env_from_size(); ++i) {
    const EnvFromSource& ev = c.env_from(i);
    FieldPath idx = path.Index(i);
    if (!ev.prefix().empty()) {
      Append(&errs, InvalidEach(idx.Child("prefix"), ev.prefix(), IsEnvVarName(ev.prefix())));
    }
    int sources = 0;
    if (ev.has_config_map_ref()) {
      ++sources;
      check_name(ev.config_map_ref().name(), idx.Child("configMapRef").Child("name"));
    }
    if (ev.has_secret_ref()) {
      ++sources;
      check_name(ev.secret_ref().name(), idx.Child("secretRef").Child("name"));
    }
    if (sources == 0) {
      errs.push_back(Invalid(path, "", "must specify one of: `configMapRef` or `secretRef`"));
    } else if (sources > 1) {
      errs.push_back(Invalid(path, "", "may not have more than one field specified at a time"));
    }
  }
  return errs;
}

FieldErrorList ValidateVolumeMounts(const Container& c, const VolumeMap& volumes,
                                    const FieldPath& path) {
  FieldErrorList errs;
  absl::flat_hash_set<std::string> mount_points;
  bool privileged = c.has_security_context() && c.security_context().privileged();
  for (int i = 0; i < c.volume_mounts_size(); ++i) {
    const VolumeMount& m = c.volume_mounts(i);
    FieldPath idx = path.Index(i);
    if (m.name().empty()) errs.push_back(Required(idx.Child("name")));
    if (!volumes.contains(m.name())) errs.push_back(NotFound(idx.Child("name"), m.name()));
    if (m.mount_path().empty()) errs.push_back(Required(idx.Child("mountPath")));
    if (!mount_points.insert(m.mount_path()).second) {
      errs.push_back(Invalid(idx.Child("mountPath"), m.mount_path(), "must be unique"));
    }
    if (!m.sub_path().empty()) {
      Append(&errs, ValidateLocalDescendingPath(m.sub_path(), idx.Child("subPath")));
    }
    if (!m.sub_path_expr().empty()) {
      if (!m.sub_path().empty()) {
        errs.push_back(Invalid(idx.Child("subPathExpr"), m.sub_path_expr(),
                               "subPathExpr and subPath are mutually exclusive"));
      }
      Append(&errs, ValidateLocalDescendingPath(m.sub_path_expr(), idx.Child("subPathExpr")));
    }
    if (m.has_mount_propagation()) {
      FieldPath p = idx.Child("mountPropagation");
      if (!OneOf(m.mount_propagation(), kMountPropagations)) {
        errs.push_back(NotSupported(p, m.mount_propagation(), kMountPropagations));
      }
      if (m.mount_propagation() == "Bidirectional" && !privileged) {
        errs.push_back(Forbidden(p,
                                 "Bidirectional mount propagation is available only to privileged "
                                 "containers"));
      }
    }
    if (m.has_recursive_read_only()) {
      FieldPath p = idx.Child("recursiveReadOnly");
      const std::string& rro = m.recursive_read_only();
      if (rro == "Enabled" || rro == "IfPossible") {
        if (!m.read_only()) {
          errs.push_back(Forbidden(p, "may only be specified when readOnly is true"));
        }
        if (m.has_mount_propagation() && m.mount_propagation() != "None") {
          errs.push_back(
              Forbidden(p, "may only be specified when mountPropagation is None or not specified"));
        }
      } else if (rro != "Disabled") {
        errs.push_back(NotSupported(p, rro, kRecursiveReadOnly));
      }
    }
  }
  return errs;
}

// The grace period that a sleep action must fit in: the pod's, or the
// default of 30 seconds when unset.
int64_t GracePeriod(const PodSpec& spec) {
  return spec.has_termination_grace_period_seconds() ? spec.termination_grace_period_seconds() : 30;
}

FieldErrorList ValidateHTTPGet(const HTTPGetAction& http, const FieldPath& path) {
  FieldErrorList errs;
  if (http.has_path() && http.path().empty()) errs.push_back(Required(path.Child("path")));
  Append(&errs, ValidatePortNumOrName(http.port(), path.Child("port")));
  if (http.has_scheme() && !OneOf(http.scheme(), kHTTPSchemes)) {
    errs.push_back(NotSupported(path.Child("scheme"), http.scheme(), kHTTPSchemes));
  }
  for (int i = 0; i < http.http_headers_size(); ++i) {
    const std::string& name = http.http_headers(i).name();
    Append(&errs, InvalidEach(path.Child("httpHeaders").Index(i).Child("name"), name,
                              IsHTTPHeaderName(name)));
  }
  return errs;
}

// validateHandler: exactly one action.
struct Handler {
  const ExecAction* exec = nullptr;
  const HTTPGetAction* http_get = nullptr;
  const TCPSocketAction* tcp_socket = nullptr;
  const GRPCAction* grpc = nullptr;
  const SleepAction* sleep = nullptr;
};

FieldErrorList ValidateHandler(const Handler& h, int64_t grace_period, const FieldPath& path) {
  FieldErrorList errs;
  int handlers = 0;
  auto count = [&](bool present, absl::string_view name) {
    if (!present) return false;
    if (handlers > 0) {
      errs.push_back(Forbidden(path.Child(name), "may not specify more than 1 handler type"));
      return false;
    }
    ++handlers;
    return true;
  };
  if (count(h.exec != nullptr, "exec") && h.exec->command_size() == 0) {
    errs.push_back(Required(path.Child("exec").Child("command")));
  }
  if (count(h.http_get != nullptr, "httpGet")) {
    Append(&errs, ValidateHTTPGet(*h.http_get, path.Child("httpGet")));
  }
  if (count(h.tcp_socket != nullptr, "tcpSocket")) {
    Append(&errs,
           ValidatePortNumOrName(h.tcp_socket->port(), path.Child("tcpSocket").Child("port")));
  }
  if (count(h.grpc != nullptr, "grpc")) {
    for (const std::string& msg : IsValidPortNum(h.grpc->port())) {
      errs.push_back(Invalid(path.Child("grpc").Child("port"), h.grpc->port(), msg));
    }
  }
  if (count(h.sleep != nullptr, "sleep")) {
    int64_t seconds = h.sleep->seconds();
    if (seconds < 0 || seconds > grace_period) {
      errs.push_back(Invalid(path.Child("sleep"), seconds,
                             absl::StrCat("must be non-negative and less than "
                                          "terminationGracePeriodSeconds (",
                                          grace_period, ")")));
    }
  }
  if (handlers == 0) errs.push_back(Required(path, "must specify a handler type"));
  return errs;
}

enum class ProbeKind { kLiveness, kReadiness, kStartup };

FieldErrorList ValidateProbe(const Probe& probe, ProbeKind kind, int64_t grace_period,
                             const FieldPath& path) {
  Handler h;
  if (probe.has_exec()) h.exec = &probe.exec();
  if (probe.has_http_get()) h.http_get = &probe.http_get();
  if (probe.has_tcp_socket()) h.tcp_socket = &probe.tcp_socket();
  if (probe.has_grpc()) h.grpc = &probe.grpc();
  FieldErrorList errs = ValidateHandler(h, grace_period, path);
  Append(&errs,
         ValidateNonnegative(probe.initial_delay_seconds(), path.Child("initialDelaySeconds")));
  Append(&errs, ValidateNonnegative(probe.timeout_seconds(), path.Child("timeoutSeconds")));
  Append(&errs, ValidateNonnegative(probe.period_seconds(), path.Child("periodSeconds")));
  Append(&errs, ValidateNonnegative(probe.success_threshold(), path.Child("successThreshold")));
  Append(&errs, ValidateNonnegative(probe.failure_threshold(), path.Child("failureThreshold")));
  if (probe.has_termination_grace_period_seconds() &&
      probe.termination_grace_period_seconds() <= 0) {
    errs.push_back(Invalid(path.Child("terminationGracePeriodSeconds"),
                           probe.termination_grace_period_seconds(), "must be greater than 0"));
  }
  switch (kind) {
    case ProbeKind::kLiveness:
    case ProbeKind::kStartup:
      // Unset defaults to 1.
      if (probe.has_success_threshold() && probe.success_threshold() != 1) {
        errs.push_back(
            Invalid(path.Child("successThreshold"), probe.success_threshold(), "must be 1"));
      }
      break;
    case ProbeKind::kReadiness:
      if (probe.has_termination_grace_period_seconds()) {
        errs.push_back(Invalid(path.Child("terminationGracePeriodSeconds"),
                               probe.termination_grace_period_seconds(),
                               "must not be set for readinessProbes"));
      }
      break;
  }
  return errs;
}

FieldErrorList ValidateLifecycle(const Lifecycle& lifecycle, int64_t grace_period,
                                 const FieldPath& path) {
  FieldErrorList errs;
  auto handler = [](const LifecycleHandler& lh) {
    Handler h;
    if (lh.has_exec()) h.exec = &lh.exec();
    if (lh.has_http_get()) h.http_get = &lh.http_get();
    if (lh.has_tcp_socket()) h.tcp_socket = &lh.tcp_socket();
    if (lh.has_sleep()) h.sleep = &lh.sleep();
    return h;
  };
  if (lifecycle.has_post_start()) {
    Append(&errs,
           ValidateHandler(handler(lifecycle.post_start()), grace_period, path.Child("postStart")));
  }
  if (lifecycle.has_pre_stop()) {
    Append(&errs,
           ValidateHandler(handler(lifecycle.pre_stop()), grace_period, path.Child("preStop")));
  }
  return errs;
}

FieldErrorList ValidateUserID(int64_t id, const FieldPath& path) {
  FieldErrorList errs;
  if (id < 0 || id > kMaxUserID)
    errs.push_back(Invalid(path, id, InclusiveRangeError(0, kMaxUserID)));
  return errs;
}

FieldErrorList ValidateSeccompProfile(const SeccompProfile& sp, const FieldPath& path) {
  FieldErrorList errs;
  if (sp.type().empty()) {
    errs.push_back(Required(path.Child("type"), "type is required when seccompProfile is set"));
  } else if (!OneOf(sp.type(), kSeccompTypes)) {
    errs.push_back(NotSupported(path.Child("type"), sp.type(), kSeccompTypes));
  }
  if (sp.type() == "Localhost") {
    if (!sp.has_localhost_profile()) {
      errs.push_back(
          Required(path.Child("localhostProfile"), "must be set when seccomp type is Localhost"));
    } else {
      Append(&errs,
             ValidateLocalDescendingPath(sp.localhost_profile(), path.Child("localhostProfile")));
    }
  } else if (sp.has_localhost_profile()) {
    errs.push_back(InvalidRendered(path.Child("localhostProfile"), RenderJson(sp),
                                   "can only be set when seccomp type is Localhost"));
  }
  return errs;
}

FieldErrorList ValidateSecurityContext(const SecurityContext& sc, const FieldPath& path) {
  FieldErrorList errs;
  if (sc.has_run_as_user())
    Append(&errs, ValidateUserID(sc.run_as_user(), path.Child("runAsUser")));
  if (sc.has_run_as_group()) {
    Append(&errs, ValidateUserID(sc.run_as_group(), path.Child("runAsGroup")));
  }
  if (sc.has_proc_mount()) {
    if (!OneOf(sc.proc_mount(), kProcMountTypes)) {
      errs.push_back(NotSupported(path.Child("procMount"), sc.proc_mount(), kProcMountTypes));
    }
  }
  if (sc.has_seccomp_profile()) {
    Append(&errs, ValidateSeccompProfile(sc.seccomp_profile(), path.Child("seccompProfile")));
  }
  if (sc.has_allow_privilege_escalation() && !sc.allow_privilege_escalation()) {
    if (sc.privileged()) {
      errs.push_back(InvalidRendered(path, RenderJson(sc),
                                     "cannot set `allowPrivilegeEscalation` to false and "
                                     "`privileged` to true"));
    }
    for (const std::string& cap : sc.capabilities().add()) {
      if (cap == "CAP_SYS_ADMIN") {
        errs.push_back(InvalidRendered(path, RenderJson(sc),
                                       "cannot set `allowPrivilegeEscalation` to false and "
                                       "`capabilities.Add` CAP_SYS_ADMIN"));
      }
    }
  }
  return errs;
}

// validateContainerCommon.
FieldErrorList ValidateContainerCommon(const Container& c, const VolumeMap& volumes,
                                       const FieldPath& path) {
  FieldErrorList errs;
  if (c.name().empty()) {
    errs.push_back(Required(path.Child("name")));
  } else {
    Append(&errs, ValidateDNS1123Label(c.name(), path.Child("name")));
  }
  if (c.image().empty()) errs.push_back(Required(path.Child("image")));
  CheckEnum(c.has_termination_message_policy(), c.termination_message_policy(),
            kTerminationMessagePolicies, path.Child("terminationMessagePolicy"), &errs);
  Append(&errs, ValidateContainerPorts(c, path.Child("ports")));
  Append(&errs, ValidateEnv(c, path.Child("env")));
  Append(&errs, ValidateEnvFrom(c, path.Child("envFrom")));
  Append(&errs, ValidateVolumeMounts(c, volumes, path.Child("volumeMounts")));
  CheckEnum(c.has_image_pull_policy(), c.image_pull_policy(), kPullPolicies,
            path.Child("imagePullPolicy"), &errs);
  Append(&errs, ValidateResourceRequirements(c.resources(), path.Child("resources")));
  if (c.has_security_context()) {
    Append(&errs, ValidateSecurityContext(c.security_context(), path.Child("securityContext")));
  }
  return errs;
}

FieldErrorList ValidateProbes(const Container& c, int64_t grace_period, const FieldPath& path) {
  FieldErrorList errs;
  if (c.has_lifecycle()) {
    Append(&errs, ValidateLifecycle(c.lifecycle(), grace_period, path.Child("lifecycle")));
  }
  if (c.has_liveness_probe()) {
    Append(&errs, ValidateProbe(c.liveness_probe(), ProbeKind::kLiveness, grace_period,
                                path.Child("livenessProbe")));
  }
  if (c.has_readiness_probe()) {
    Append(&errs, ValidateProbe(c.readiness_probe(), ProbeKind::kReadiness, grace_period,
                                path.Child("readinessProbe")));
  }
  if (c.has_startup_probe()) {
    Append(&errs, ValidateProbe(c.startup_probe(), ProbeKind::kStartup, grace_period,
                                path.Child("startupProbe")));
  }
  return errs;
}

// AccumulateUniqueHostPorts: a host port may be used once per protocol and
// host IP.
void CheckHostPorts(const Container& c, const FieldPath& container_path,
                    absl::flat_hash_set<std::string>* seen, FieldErrorList* errs) {
  for (int i = 0; i < c.ports_size(); ++i) {
    const ContainerPort& p = c.ports(i);
    if (p.host_port() == 0) continue;
    std::string key =
        absl::StrCat(p.has_protocol() ? p.protocol() : "TCP", "/", p.host_ip(), "/", p.host_port());
    if (!seen->insert(key).second) {
      errs->push_back(Duplicate(container_path.Child("ports").Index(i).Child("hostPort"), key));
    }
  }
}

FieldErrorList ValidateContainers(const PodSpec& spec, const VolumeMap& volumes,
                                  const FieldPath& path) {
  FieldErrorList errs;
  if (spec.containers_size() == 0) {
    errs.push_back(Required(path));
    return errs;
  }
  int64_t grace = GracePeriod(spec);
  absl::flat_hash_set<std::string> names;
  absl::flat_hash_set<std::string> host_ports;
  for (int i = 0; i < spec.containers_size(); ++i) {
    const Container& c = spec.containers(i);
    FieldPath p = path.Index(i);
    Append(&errs, ValidateContainerCommon(c, volumes, p));
    if (!names.insert(c.name()).second) errs.push_back(Duplicate(p.Child("name"), c.name()));
    Append(&errs, ValidateProbes(c, grace, p));
    if (c.has_restart_policy()) {
      errs.push_back(Forbidden(p.Child("restartPolicy"), "may not be set for non-init containers"));
    }
  }
  for (int i = 0; i < spec.containers_size(); ++i) {
    CheckHostPorts(spec.containers(i), path.Index(i), &host_ports, &errs);
  }
  return errs;
}

FieldErrorList ValidateInitContainers(const PodSpec& spec, const VolumeMap& volumes,
                                      const FieldPath& path) {
  FieldErrorList errs;
  int64_t grace = GracePeriod(spec);
  absl::flat_hash_set<std::string> names;
  for (const Container& c : spec.containers()) names.insert(c.name());
  for (int i = 0; i < spec.init_containers_size(); ++i) {
    const Container& c = spec.init_containers(i);
    FieldPath p = path.Index(i);
    Append(&errs, ValidateContainerCommon(c, volumes, p));
    bool restart_always = false;
    if (c.has_restart_policy()) {
      constexpr absl::string_view kAlways[] = {"Always"};
      if (c.restart_policy() != "Always") {
        errs.push_back(NotSupported(p.Child("restartPolicy"), c.restart_policy(), kAlways));
      }
      restart_always = c.restart_policy() == "Always";
    }
    if (names.contains(c.name())) {
      errs.push_back(Duplicate(p.Child("name"), c.name()));
    } else if (!c.name().empty()) {
      names.insert(c.name());
    }
    // Init containers run one at a time: only ports within one conflict.
    absl::flat_hash_set<std::string> host_ports;
    CheckHostPorts(c, p, &host_ports, &errs);
    if (restart_always) {
      Append(&errs, ValidateProbes(c, grace, p));
    } else {
      constexpr absl::string_view kMsg =
          "may not be set for init containers without restartPolicy=Always";
      if (c.has_lifecycle()) errs.push_back(Forbidden(p.Child("lifecycle"), kMsg));
      if (c.has_liveness_probe()) errs.push_back(Forbidden(p.Child("livenessProbe"), kMsg));
      if (c.has_readiness_probe()) errs.push_back(Forbidden(p.Child("readinessProbe"), kMsg));
      if (c.has_startup_probe()) errs.push_back(Forbidden(p.Child("startupProbe"), kMsg));
    }
  }
  return errs;
}

// ---------------------------------------------------------------------------
// Scheduling

FieldErrorList ValidateTolerations(const PodSpec& spec, const FieldPath& path) {
  FieldErrorList errs;
  for (int i = 0; i < spec.tolerations_size(); ++i) {
    const Toleration& t = spec.tolerations(i);
    FieldPath idx = path.Index(i);
    if (!t.key().empty()) Append(&errs, ValidateLabelName(t.key(), idx.Child("key")));
    if (t.key().empty() && t.operator_() != "Exists") {
      errs.push_back(Invalid(idx.Child("operator"), t.operator_(),
                             "operator must be Exists when `key` is empty, which means \"match "
                             "all values and all keys\""));
    }
    if (t.has_toleration_seconds() && t.effect() != "NoExecute") {
      errs.push_back(Invalid(idx.Child("effect"), t.effect(),
                             "effect must be 'NoExecute' when `tolerationSeconds` is set"));
    }
    if (t.operator_().empty() || t.operator_() == "Equal") {
      std::vector<std::string> msgs = IsValidLabelValue(t.value());
      if (!msgs.empty()) {
        errs.push_back(Invalid(idx.Child("operator"), t.value(), absl::StrJoin(msgs, ";")));
      }
    } else if (t.operator_() == "Exists") {
      if (!t.value().empty()) {
        errs.push_back(Invalid(idx.Child("operator"), t.value(),
                               "value must be empty when `operator` is 'Exists'"));
      }
    } else {
      errs.push_back(NotSupported(idx.Child("operator"), t.operator_(), kTolerationOperators));
    }
    if (!t.effect().empty() && !OneOf(t.effect(), kTaintEffects)) {
      errs.push_back(NotSupported(idx.Child("effect"), t.effect(), kTaintEffects));
    }
  }
  return errs;
}

FieldErrorList ValidateNodeSelectorRequirement(const NodeSelectorRequirement& r, bool check_values,
                                               const FieldPath& path) {
  FieldErrorList errs;
  const std::string& op = r.operator_();
  if (op == "In" || op == "NotIn") {
    if (r.values_size() == 0) {
      errs.push_back(
          Required(path.Child("values"), "must be specified when `operator` is 'In' or 'NotIn'"));
    }
  } else if (op == "Exists" || op == "DoesNotExist") {
    if (r.values_size() > 0) {
      errs.push_back(Forbidden(path.Child("values"),
                               "may not be specified when `operator` is 'Exists' or "
                               "'DoesNotExist'"));
    }
  } else if (op == "Gt" || op == "Lt") {
    if (r.values_size() != 1) {
      errs.push_back(Required(path.Child("values"),
                              "must be specified single value when `operator` is 'Lt' or 'Gt'"));
    } else {
      // The scheduler compares Gt and Lt values as integers.
      int64_t unused;
      if (!absl::SimpleAtoi(r.values(0), &unused)) {
        errs.push_back(Invalid(path.Child("values").Index(0), r.values(0), kIsNotIntegerErrorMsg));
      }
    }
  } else {
    errs.push_back(Invalid(path.Child("operator"), op, "not a valid selector operator"));
  }
  Append(&errs, ValidateLabelName(r.key(), path.Child("key")));
  if (check_values) {
    for (int i = 0; i < r.values_size(); ++i) {
      Append(&errs, InvalidEach(path.Child("values").Index(i), r.values(i),
                                IsValidLabelValue(r.values(i))));
    }
  }
  return errs;
}

FieldErrorList ValidateNodeFieldSelectorRequirement(const NodeSelectorRequirement& r,
                                                    const FieldPath& path) {
  FieldErrorList errs;
  if (r.operator_() == "In" || r.operator_() == "NotIn") {
    if (r.values_size() != 1) {
      errs.push_back(Required(path.Child("values"),
                              "must be only one value when `operator` is 'In' or 'NotIn' for node "
                              "field selector"));
    }
  } else {
    errs.push_back(Invalid(path.Child("operator"), r.operator_(), "not a valid selector operator"));
  }
  if (r.key() != "metadata.name") {
    errs.push_back(Invalid(path.Child("key"), r.key(), "not a valid field selector key"));
  } else {
    for (int i = 0; i < r.values_size(); ++i) {
      Append(&errs, ValidateDNS1123Subdomain(r.values(i), path.Child("values").Index(i)));
    }
  }
  return errs;
}

FieldErrorList ValidateNodeSelectorTerm(const NodeSelectorTerm& term, bool check_values,
                                        const FieldPath& path) {
  FieldErrorList errs;
  for (int j = 0; j < term.match_expressions_size(); ++j) {
    Append(&errs, ValidateNodeSelectorRequirement(term.match_expressions(j), check_values,
                                                  path.Child("matchExpressions").Index(j)));
  }
  for (int j = 0; j < term.match_fields_size(); ++j) {
    Append(&errs, ValidateNodeFieldSelectorRequirement(term.match_fields(j),
                                                       path.Child("matchFields").Index(j)));
  }
  return errs;
}

FieldErrorList ValidateLabelKeys(const google::protobuf::RepeatedPtrField<std::string>& keys,
                                 bool has_selector, const FieldPath& path) {
  FieldErrorList errs;
  if (keys.empty()) return errs;
  if (!has_selector) {
    errs.push_back(Forbidden(path, "must not be specified when labelSelector is not set"));
    return errs;
  }
  for (int i = 0; i < keys.size(); ++i)
    Append(&errs, ValidateLabelName(keys.Get(i), path.Index(i)));
  return errs;
}

FieldErrorList ValidatePodAffinityTerm(const PodAffinityTerm& term, const FieldPath& path) {
  FieldErrorList errs;
  if (term.has_label_selector()) {
    Append(&errs, ValidateLabelSelector(term.label_selector(), path.Child("labelSelector")));
  }
  if (term.has_namespace_selector()) {
    Append(&errs,
           ValidateLabelSelector(term.namespace_selector(), path.Child("namespaceSelector")));
  }
  for (int i = 0; i < term.namespaces_size(); ++i) {
    Append(&errs, ValidateDNS1123Label(term.namespaces(i), path.Child("namespaces").Index(i)));
  }
  Append(&errs, ValidateLabelKeys(term.match_label_keys(), term.has_label_selector(),
                                  path.Child("matchLabelKeys")));
  Append(&errs, ValidateLabelKeys(term.mismatch_label_keys(), term.has_label_selector(),
                                  path.Child("mismatchLabelKeys")));
  if (term.has_label_selector()) {
    absl::flat_hash_set<std::string> selector_keys;
    for (const auto& [key, value] : term.label_selector().match_labels()) selector_keys.insert(key);
    for (const LabelSelectorRequirement& r : term.label_selector().match_expressions()) {
      selector_keys.insert(r.key());
    }
    for (int i = 0; i < term.match_label_keys_size(); ++i) {
      if (selector_keys.contains(term.match_label_keys(i))) {
        errs.push_back(Invalid(path.Child("matchLabelKeys").Index(i), term.match_label_keys(i),
                               "exists in both matchLabelKeys and labelSelector"));
      }
    }
  }
  absl::flat_hash_set<std::string> mismatch(term.mismatch_label_keys().begin(),
                                            term.mismatch_label_keys().end());
  for (int i = 0; i < term.match_label_keys_size(); ++i) {
    if (mismatch.contains(term.match_label_keys(i))) {
      errs.push_back(Invalid(path.Child("matchLabelKeys").Index(i), term.match_label_keys(i),
                             "exists in both matchLabelKeys and mismatchLabelKeys"));
    }
  }
  if (term.topology_key().empty()) {
    errs.push_back(Required(path.Child("topologyKey"), "can not be empty"));
  } else {
    Append(&errs, ValidateLabelName(term.topology_key(), path.Child("topologyKey")));
  }
  return errs;
}

template <typename Affinity>
FieldErrorList ValidatePodAffinityRules(const Affinity& a, const FieldPath& path) {
  FieldErrorList errs;
  FieldPath required = path.Child("requiredDuringSchedulingIgnoredDuringExecution");
  for (int i = 0; i < a.required_during_scheduling_ignored_during_execution_size(); ++i) {
    Append(&errs, ValidatePodAffinityTerm(a.required_during_scheduling_ignored_during_execution(i),
                                          required.Index(i)));
  }
  FieldPath preferred = path.Child("preferredDuringSchedulingIgnoredDuringExecution");
  for (int i = 0; i < a.preferred_during_scheduling_ignored_during_execution_size(); ++i) {
    const WeightedPodAffinityTerm& w = a.preferred_during_scheduling_ignored_during_execution(i);
    if (w.weight() <= 0 || w.weight() > 100) {
      errs.push_back(
          Invalid(preferred.Index(i).Child("weight"), w.weight(), "must be in the range 1-100"));
    }
    Append(&errs, ValidatePodAffinityTerm(w.pod_affinity_term(),
                                          preferred.Index(i).Child("podAffinityTerm")));
  }
  return errs;
}

FieldErrorList ValidateAffinity(const Affinity& affinity, const FieldPath& path) {
  FieldErrorList errs;
  if (affinity.has_node_affinity()) {
    const NodeAffinity& na = affinity.node_affinity();
    FieldPath p = path.Child("nodeAffinity");
    if (na.has_required_during_scheduling_ignored_during_execution()) {
      FieldPath terms =
          p.Child("requiredDuringSchedulingIgnoredDuringExecution").Child("nodeSelectorTerms");
      const NodeSelector& ns = na.required_during_scheduling_ignored_during_execution();
      if (ns.node_selector_terms_size() == 0) {
        errs.push_back(Required(terms, "must have at least one node selector term"));
      }
      for (int i = 0; i < ns.node_selector_terms_size(); ++i) {
        Append(&errs, ValidateNodeSelectorTerm(ns.node_selector_terms(i), /*check_values=*/true,
                                               terms.Index(i)));
      }
    }
    FieldPath preferred = p.Child("preferredDuringSchedulingIgnoredDuringExecution");
    for (int i = 0; i < na.preferred_during_scheduling_ignored_during_execution_size(); ++i) {
      const PreferredSchedulingTerm& t = na.preferred_during_scheduling_ignored_during_execution(i);
      if (t.weight() <= 0 || t.weight() > 100) {
        errs.push_back(
            Invalid(preferred.Index(i).Child("weight"), t.weight(), "must be in the range 1-100"));
      }
      // Preferred terms may carry invalid label values: they can still be
      // satisfied, as in Kubernetes.
      Append(&errs, ValidateNodeSelectorTerm(t.preference(), /*check_values=*/false,
                                             preferred.Index(i).Child("preference")));
    }
  }
  if (affinity.has_pod_affinity()) {
    Append(&errs, ValidatePodAffinityRules(affinity.pod_affinity(), path.Child("podAffinity")));
  }
  if (affinity.has_pod_anti_affinity()) {
    Append(&errs,
           ValidatePodAffinityRules(affinity.pod_anti_affinity(), path.Child("podAntiAffinity")));
  }
  return errs;
}

FieldErrorList ValidateTopologySpreadConstraints(const PodSpec& spec, const FieldPath& path) {
  FieldErrorList errs;
  const auto& constraints = spec.topology_spread_constraints();
  for (int i = 0; i < constraints.size(); ++i) {
    const TopologySpreadConstraint& c = constraints.Get(i);
    FieldPath p = path.Index(i);
    if (c.max_skew() <= 0) {
      errs.push_back(Invalid(p.Child("maxSkew"), c.max_skew(), kIsNotPositiveErrorMsg));
    }
    if (c.topology_key().empty()) {
      errs.push_back(Required(p.Child("topologyKey"), "can not be empty"));
    }
    if (!OneOf(c.when_unsatisfiable(), kScheduleActions)) {
      errs.push_back(
          NotSupported(p.Child("whenUnsatisfiable"), c.when_unsatisfiable(), kScheduleActions));
    }
    for (int j = i + 1; j < constraints.size(); ++j) {
      const TopologySpreadConstraint& other = constraints.Get(j);
      if (c.topology_key() == other.topology_key() &&
          c.when_unsatisfiable() == other.when_unsatisfiable()) {
        errs.push_back(
            Duplicate(p.Child("{topologyKey, whenUnsatisfiable}"),
                      absl::StrCat("{", c.topology_key(), ", ", c.when_unsatisfiable(), "}")));
        break;
      }
    }
    if (c.has_min_domains()) {
      if (c.min_domains() <= 0) {
        errs.push_back(Invalid(p.Child("minDomains"), c.min_domains(), kIsNotPositiveErrorMsg));
      }
      if (c.when_unsatisfiable() != "DoNotSchedule") {
        errs.push_back(Invalid(p.Child("minDomains"), c.min_domains(),
                               absl::StrCat("can only use minDomains if "
                                            "whenUnsatisfiable=DoNotSchedule, not ",
                                            c.when_unsatisfiable())));
      }
    }
    if (c.has_node_affinity_policy() && !OneOf(c.node_affinity_policy(), kNodeInclusionPolicies)) {
      errs.push_back(NotSupported(p.Child("nodeAffinityPolicy"), c.node_affinity_policy(),
                                  kNodeInclusionPolicies));
    }
    if (c.has_node_taints_policy() && !OneOf(c.node_taints_policy(), kNodeInclusionPolicies)) {
      errs.push_back(NotSupported(p.Child("nodeTaintsPolicy"), c.node_taints_policy(),
                                  kNodeInclusionPolicies));
    }
    if (c.match_label_keys_size() > 0) {
      FieldPath keys = p.Child("matchLabelKeys");
      absl::flat_hash_set<std::string> selector_keys;
      if (c.has_label_selector()) {
        for (const auto& [key, value] : c.label_selector().match_labels())
          selector_keys.insert(key);
        for (const LabelSelectorRequirement& r : c.label_selector().match_expressions()) {
          selector_keys.insert(r.key());
        }
      } else {
        errs.push_back(Forbidden(keys, "must not be specified when labelSelector is not set"));
      }
      for (int j = 0; j < c.match_label_keys_size(); ++j) {
        Append(&errs, ValidateLabelName(c.match_label_keys(j), keys.Index(j)));
        if (selector_keys.contains(c.match_label_keys(j))) {
          errs.push_back(Invalid(keys.Index(j), c.match_label_keys(j),
                                 "exists in both matchLabelKeys and labelSelector"));
        }
      }
    }
    if (c.has_label_selector()) {
      Append(&errs, ValidateLabelSelector(c.label_selector(), p.Child("labelSelector")));
    }
  }
  return errs;
}

FieldErrorList ValidatePodSecurityContext(const PodSpec& spec, const FieldPath& spec_path) {
  FieldErrorList errs;
  if (spec.share_process_namespace() && spec.host_pid()) {
    errs.push_back(InvalidRendered(spec_path.Child("shareProcessNamespace"), "true",
                                   "ShareProcessNamespace and HostPID cannot both be enabled"));
  }
  if (!spec.has_security_context()) return errs;
  const PodSecurityContext& sc = spec.security_context();
  FieldPath path = spec_path.Child("securityContext");
  if (sc.has_fs_group()) Append(&errs, ValidateUserID(sc.fs_group(), path.Child("fsGroup")));
  if (sc.has_run_as_user())
    Append(&errs, ValidateUserID(sc.run_as_user(), path.Child("runAsUser")));
  if (sc.has_run_as_group()) {
    Append(&errs, ValidateUserID(sc.run_as_group(), path.Child("runAsGroup")));
  }
  for (int i = 0; i < sc.supplemental_groups_size(); ++i) {
    Append(&errs,
           ValidateUserID(sc.supplemental_groups(i), path.Child("supplementalGroups").Index(i)));
  }
  absl::flat_hash_set<std::string> sysctls;
  for (int i = 0; i < sc.sysctls_size(); ++i) {
    const std::string& name = sc.sysctls(i).name();
    FieldPath p = path.Child("sysctls").Index(i).Child("name");
    // ([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?
    bool valid = !name.empty() && name.size() <= 253;
    for (absl::string_view seg : absl::StrSplit(name, absl::ByAnyChar("./"))) {
      if (seg.empty() || !(IsDigit(seg.front()) || (seg.front() >= 'a' && seg.front() <= 'z')) ||
          !(IsDigit(seg.back()) || (seg.back() >= 'a' && seg.back() <= 'z'))) {
        valid = false;
      }
      for (char c : seg) {
        if (!IsDigit(c) && !(c >= 'a' && c <= 'z') && c != '-' && c != '_') valid = false;
      }
    }
    if (name.empty()) {
      errs.push_back(Required(p));
    } else if (!valid) {
      errs.push_back(
          Invalid(p, name,
                  "must have at most 253 characters and match regex "
                  "^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$"));
    } else if (sysctls.contains(name)) {
      errs.push_back(Duplicate(p, name));
    }
    sysctls.insert(name);
  }
  if (sc.has_fs_group_change_policy() &&
      !OneOf(sc.fs_group_change_policy(), kFSGroupChangePolicies)) {
    errs.push_back(NotSupported(path.Child("fsGroupChangePolicy"), sc.fs_group_change_policy(),
                                kFSGroupChangePolicies));
  }
  if (sc.has_seccomp_profile()) {
    Append(&errs, ValidateSeccompProfile(sc.seccomp_profile(), path.Child("seccompProfile")));
  }
  return errs;
}

FieldErrorList ValidateDNSConfig(const PodSpec& spec, const FieldPath& path) {
  FieldErrorList errs;
  if (spec.dns_policy() == "None") {
    if (!spec.has_dns_config()) {
      errs.push_back(Required(path, "must provide `dnsConfig` when `dnsPolicy` is None"));
      return errs;
    }
    if (spec.dns_config().nameservers_size() == 0) {
      errs.push_back(Required(path.Child("nameservers"),
                              "must provide at least one DNS nameserver when `dnsPolicy` is None"));
      return errs;
    }
  }
  if (!spec.has_dns_config()) return errs;
  const PodDNSConfig& c = spec.dns_config();
  if (c.nameservers_size() > 3) {
    errs.push_back(InvalidRendered(path.Child("nameservers"), RenderStrings(c.nameservers()),
                                   "must not have more than 3 nameservers"));
  }
  for (int i = 0; i < c.nameservers_size(); ++i) {
    Append(&errs, ValidateIP(c.nameservers(i), path.Child("nameservers").Index(i)));
  }
  if (c.searches_size() > 32) {
    errs.push_back(InvalidRendered(path.Child("searches"), RenderStrings(c.searches()),
                                   "must not have more than 32 search paths"));
  }
  if (absl::StrJoin(c.searches(), " ").size() > 2048) {
    errs.push_back(InvalidRendered(path.Child("searches"), RenderStrings(c.searches()),
                                   "must not have more than 2048 characters (including spaces) in "
                                   "the search list"));
  }
  for (int i = 0; i < c.searches_size(); ++i) {
    absl::string_view search = c.searches(i);
    absl::ConsumeSuffix(&search, ".");
    Append(&errs, ValidateDNS1123Subdomain(search, path.Child("searches").Index(i)));
  }
  for (int i = 0; i < c.options_size(); ++i) {
    if (c.options(i).name().empty()) {
      errs.push_back(Required(path.Child("options").Index(i), "must not be empty"));
    }
  }
  return errs;
}

// Parses an IP's family for the dual-stack checks: 4, 6, or 0 if invalid.
int IPFamily(absl::string_view ip) {
  if (IsIPv6(ip)) return 6;
  if (IsIP(ip)) return 4;
  return 0;
}

}  // namespace

// ---------------------------------------------------------------------------
// Pods

FieldErrorList ValidatePodSpec(const PodSpec& spec, const FieldPath& path) {
  FieldErrorList errs;
  if (spec.has_termination_grace_period_seconds()) {
    Append(&errs, ValidateNonnegative(spec.termination_grace_period_seconds(),
                                      path.Child("terminationGracePeriodSeconds")));
  }
  VolumeMap volumes;
  Append(&errs, ValidateVolumes(spec.volumes(), path.Child("volumes"), &volumes));
  Append(&errs, ValidateContainers(spec, volumes, path.Child("containers")));
  Append(&errs, ValidateInitContainers(spec, volumes, path.Child("initContainers")));

  // validatePodHostNetworkDeps: on the host network a container port is a
  // host port.
  if (spec.host_network()) {
    for (int i = 0; i < spec.containers_size(); ++i) {
      const Container& c = spec.containers(i);
      for (int j = 0; j < c.ports_size(); ++j) {
        const ContainerPort& port = c.ports(j);
        if (port.host_port() != 0 && port.host_port() != port.container_port()) {
          errs.push_back(
              Invalid(path.Child("containers").Index(i).Child("ports").Index(j).Child("hostPort"),
                      port.host_port(), "must match `containerPort` when `hostNetwork` is true"));
        }
      }
    }
  }
  CheckEnum(spec.has_restart_policy(), spec.restart_policy(), kRestartPolicies,
            path.Child("restartPolicy"), &errs);
  CheckEnum(spec.has_dns_policy(), spec.dns_policy(), kDNSPolicies, path.Child("dnsPolicy"), &errs);
  Append(&errs, ValidateLabels(spec.node_selector(), path.Child("nodeSelector")));
  Append(&errs, ValidatePodSecurityContext(spec, path));
  if (spec.has_affinity()) Append(&errs, ValidateAffinity(spec.affinity(), path.Child("affinity")));
  Append(&errs, ValidateDNSConfig(spec, path.Child("dnsConfig")));
  for (int i = 0; i < spec.readiness_gates_size(); ++i) {
    Append(&errs,
           ValidateQualifiedName(spec.readiness_gates(i).condition_type(),
                                 path.Child("readinessGates").Index(i).Child("conditionType")));
  }
  absl::flat_hash_set<std::string> gates;
  for (int i = 0; i < spec.scheduling_gates_size(); ++i) {
    const std::string& name = spec.scheduling_gates(i).name();
    FieldPath p = path.Child("schedulingGates").Index(i);
    Append(&errs, ValidateQualifiedName(name, p));
    if (!gates.insert(name).second) errs.push_back(Duplicate(p, name));
  }
  Append(&errs, ValidateTopologySpreadConstraints(spec, path.Child("topologySpreadConstraints")));
  if (!spec.service_account_name().empty()) {
    Append(&errs,
           ValidateDNS1123Subdomain(spec.service_account_name(), path.Child("serviceAccountName")));
  }
  if (!spec.node_name().empty()) {
    Append(&errs, ValidateDNS1123Subdomain(spec.node_name(), path.Child("nodeName")));
  }
  if (spec.has_active_deadline_seconds()) {
    int64_t v = spec.active_deadline_seconds();
    if (v < 1 || v > kMaxInt32) {
      errs.push_back(
          Invalid(path.Child("activeDeadlineSeconds"), v, InclusiveRangeError(1, kMaxInt32)));
    }
  }
  if (!spec.hostname().empty()) {
    Append(&errs, ValidateDNS1123Label(spec.hostname(), path.Child("hostname")));
  }
  if (!spec.subdomain().empty()) {
    Append(&errs, ValidateDNS1123Label(spec.subdomain(), path.Child("subdomain")));
  }
  Append(&errs, ValidateTolerations(spec, path.Child("tolerations")));
  for (int i = 0; i < spec.host_aliases_size(); ++i) {
    const HostAlias& alias = spec.host_aliases(i);
    FieldPath p = path.Child("hostAliases").Index(i);
    Append(&errs, ValidateIP(alias.ip(), p.Child("ip")));
    for (int j = 0; j < alias.hostnames_size(); ++j) {
      Append(&errs, ValidateDNS1123Subdomain(alias.hostnames(j), p.Child("hostnames").Index(j)));
    }
  }
  if (!spec.priority_class_name().empty()) {
    Append(&errs,
           ValidateDNS1123Subdomain(spec.priority_class_name(), path.Child("priorityClassName")));
  }
  if (spec.has_runtime_class_name()) {
    Append(&errs,
           ValidateDNS1123Subdomain(spec.runtime_class_name(), path.Child("runtimeClassName")));
  }
  CheckEnum(spec.has_preemption_policy(), spec.preemption_policy(), kPreemptionPolicies,
            path.Child("preemptionPolicy"), &errs);
  if (!spec.overhead().empty()) {
    FieldPath p = path.Child("overhead");
    for (const ResourceEntry& e : ParseResourceList(spec.overhead(), p, &errs)) {
      Append(&errs, ValidateContainerResourceName(e.name, p.Key(e.name)));
      Append(&errs, ValidateResourceQuantityValue(e.name, e.quantity, p.Key(e.name)));
    }
  }
  if (spec.has_os()) {
    FieldPath p = path.Child("os").Child("name");
    if (spec.os().name().empty()) {
      errs.push_back(Required(p));
    } else if (!OneOf(spec.os().name(), kOSNames)) {
      errs.push_back(NotSupported(p, spec.os().name(), kOSNames));
    }
  }
  return errs;
}

FieldErrorList ValidatePodTemplateSpec(const PodTemplateSpec& tmpl, const FieldPath& path) {
  FieldPath meta = path.Child("metadata");
  FieldErrorList errs = ValidateLabels(tmpl.metadata().labels(), meta.Child("labels"));
  FieldPath annotations = meta.Child("annotations");
  int64_t bytes = 0;
  for (const auto& [key, value] : SortedEntries(tmpl.metadata().annotations())) {
    Append(&errs, InvalidEach(annotations, key, IsQualifiedName(absl::AsciiStrToLower(key))));
    bytes += static_cast<int64_t>(key.size() + value.size());
  }
  if (bytes > 256 * 1024) errs.push_back(TooLong(annotations, 256 * 1024));
  Append(&errs, ValidatePodSpec(tmpl.spec(), path.Child("spec")));
  return errs;
}

FieldErrorList ValidatePod(const Pod& pod) {
  FieldErrorList errs = ValidateObjectMeta(pod.metadata(), /*namespaced=*/true,
                                           NameRule::kDNS1123Subdomain, FieldPath("metadata"));
  FieldPath spec_path("spec");
  const PodSpec& spec = pod.spec();
  Append(&errs, ValidatePodSpec(spec, spec_path));

  // Checks for pods only, not for pod templates.
  if (spec.service_account_name().empty()) {
    for (int i = 0; i < spec.volumes_size(); ++i) {
      const Volume& v = spec.volumes(i);
      for (int j = 0; j < v.projected().sources_size(); ++j) {
        if (v.projected().sources(j).has_service_account_token()) {
          errs.push_back(Forbidden(spec_path.Child("volumes")
                                       .Index(i)
                                       .Child("projected")
                                       .Child("sources")
                                       .Index(j)
                                       .Child("serviceAccountToken"),
                                   "must not be specified when serviceAccountName is not set"));
        }
      }
    }
  }
  auto check_images = [&](const google::protobuf::RepeatedPtrField<Container>& list,
                          const FieldPath& p) {
    for (int i = 0; i < list.size(); ++i) {
      const std::string& image = list.Get(i).image();
      if (absl::StripAsciiWhitespace(image).size() != image.size()) {
        errs.push_back(Invalid(p.Index(i).Child("image"), image,
                               "must not have leading or trailing whitespace"));
      }
    }
  };
  check_images(spec.containers(), spec_path.Child("containers"));
  check_images(spec.init_containers(), spec_path.Child("initContainers"));
  if (!spec.node_name().empty() && spec.scheduling_gates_size() > 0) {
    errs.push_back(Forbidden(spec_path.Child("nodeName"),
                             "cannot be set until all schedulingGates have been cleared"));
  }
  return errs;
}

FieldErrorList ValidateBinding(const Binding& binding) {
  FieldErrorList errs = ValidateObjectMeta(binding.metadata(), /*namespaced=*/true,
                                           NameRule::kDNS1123Subdomain, FieldPath("metadata"));
  const ObjectReference& target = binding.target();
  if (!target.kind().empty() && target.kind() != "Node") {
    constexpr absl::string_view kKinds[] = {"Node", "<empty>"};
    errs.push_back(NotSupported(FieldPath("target").Child("kind"), target.kind(), kKinds));
  }
  if (target.name().empty()) errs.push_back(Required(FieldPath("target").Child("name")));
  return errs;
}

// ---------------------------------------------------------------------------
// Namespaces and nodes

FieldErrorList ValidateNamespace(const Namespace& ns) {
  FieldErrorList errs = ValidateObjectMeta(ns.metadata(), /*namespaced=*/false,
                                           NameRule::kDNS1123Label, FieldPath("metadata"));
  FieldPath p = FieldPath("spec").Child("finalizers");
  for (const std::string& f : ns.spec().finalizers()) {
    Append(&errs, ValidateQualifiedName(f, p));
    if (f.find('/') == std::string::npos && f != "kubernetes" && f != "orphan" &&
        f != "foregroundDeletion") {
      errs.push_back(Invalid(p, f,
                             "name is neither a standard finalizer name nor is it fully "
                             "qualified"));
    }
  }
  return errs;
}

FieldErrorList ValidateNode(const Node& node) {
  FieldErrorList errs = ValidateObjectMeta(node.metadata(), /*namespaced=*/false,
                                           NameRule::kDNS1123Subdomain, FieldPath("metadata"));
  const NodeSpec& spec = node.spec();
  FieldPath taints_path = FieldPath("spec").Child("taints");
  absl::flat_hash_set<std::pair<std::string, std::string>> taints;
  for (int i = 0; i < spec.taints_size(); ++i) {
    const Taint& t = spec.taints(i);
    FieldPath p = taints_path.Index(i);
    Append(&errs, ValidateLabelName(t.key(), p.Child("key")));
    std::vector<std::string> msgs = IsValidLabelValue(t.value());
    if (!msgs.empty())
      errs.push_back(Invalid(p.Child("value"), t.value(), absl::StrJoin(msgs, ";")));
    if (t.effect().empty()) {
      errs.push_back(Required(p.Child("effect")));
    } else if (!OneOf(t.effect(), kTaintEffects)) {
      errs.push_back(NotSupported(p.Child("effect"), t.effect(), kTaintEffects));
    }
    if (!taints.insert({t.key(), t.effect()}).second) {
      errs.push_back(
          DuplicateRendered(p, RenderJson(t), "taints must be unique by key and effect pair"));
    }
  }
  FieldPath cidrs_path = FieldPath("spec").Child("podCIDRs");
  if (!spec.pod_cidr().empty()) {
    Append(&errs, ValidateCIDR(spec.pod_cidr(), FieldPath("spec").Child("podCIDR")));
    if (spec.pod_cidrs_size() > 0 && spec.pod_cidrs(0) != spec.pod_cidr()) {
      errs.push_back(InvalidRendered(cidrs_path, RenderStrings(spec.pod_cidrs()),
                                     "first value must match `podCIDR`"));
    }
  }
  bool all_valid = true;
  for (int i = 0; i < spec.pod_cidrs_size(); ++i) {
    FieldErrorList e = ValidateCIDR(spec.pod_cidrs(i), cidrs_path.Index(i));
    all_valid = all_valid && e.empty();
    Append(&errs, std::move(e));
  }
  if (spec.pod_cidrs_size() > 1 && all_valid) {
    auto family = [](absl::string_view cidr) { return IPFamily(cidr.substr(0, cidr.find('/'))); };
    bool dual_stack =
        spec.pod_cidrs_size() == 2 && family(spec.pod_cidrs(0)) != family(spec.pod_cidrs(1));
    if (!dual_stack) {
      errs.push_back(InvalidRendered(cidrs_path, RenderStrings(spec.pod_cidrs()),
                                     "may specify no more than one CIDR for each IP family"));
    }
    absl::flat_hash_set<std::string> seen;
    for (int i = 0; i < spec.pod_cidrs_size(); ++i) {
      if (!seen.insert(spec.pod_cidrs(i)).second) {
        errs.push_back(Duplicate(cidrs_path.Index(i), spec.pod_cidrs(i)));
      }
    }
  }
  // Status is optional, but what is reported must be valid.
  for (const auto& [field, list] : {std::pair{"capacity", &node.status().capacity()},
                                    std::pair{"allocatable", &node.status().allocatable()}}) {
    FieldPath p = FieldPath("status").Child(field);
    for (const ResourceEntry& e : ParseResourceList(*list, p, &errs)) {
      Append(&errs, ValidateResourceQuantityValue(e.name, e.quantity, p.Key(e.name)));
    }
  }
  return errs;
}

// ---------------------------------------------------------------------------
// Services and endpoints

namespace {

FieldErrorList ValidateServicePort(const ServicePort& sp, bool require_name,
                                   absl::flat_hash_set<std::string>* names, const FieldPath& path) {
  FieldErrorList errs;
  if (require_name && sp.name().empty()) {
    errs.push_back(Required(path.Child("name")));
  } else if (!sp.name().empty()) {
    Append(&errs, ValidateDNS1123Label(sp.name(), path.Child("name")));
    if (!names->insert(sp.name()).second) errs.push_back(Duplicate(path.Child("name"), sp.name()));
  }
  for (const std::string& msg : IsValidPortNum(sp.port())) {
    errs.push_back(Invalid(path.Child("port"), sp.port(), msg));
  }
  CheckEnum(sp.has_protocol(), sp.protocol(), kProtocols, path.Child("protocol"), &errs);
  if (sp.has_target_port()) {
    Append(&errs, ValidatePortNumOrName(sp.target_port(), path.Child("targetPort")));
  }
  if (sp.has_app_protocol()) {
    Append(&errs, ValidateQualifiedName(sp.app_protocol(), path.Child("appProtocol")));
  }
  // Node ports are allocated from a configured range; only the syntax of a
  // requested one is checked here.
  if (sp.node_port() != 0) {
    for (const std::string& msg : IsValidPortNum(sp.node_port())) {
      errs.push_back(Invalid(path.Child("nodePort"), sp.node_port(), msg));
    }
  }
  return errs;
}

}  // namespace

FieldErrorList ValidateService(const Service& service) {
  FieldErrorList errs = ValidateObjectMeta(service.metadata(), /*namespaced=*/true,
                                           NameRule::kDNS1035Label, FieldPath("metadata"));
  const ServiceSpec& spec = service.spec();
  FieldPath spec_path("spec");
  // Unset type and session affinity are what defaulting would fill in.
  absl::string_view type = spec.has_type() ? absl::string_view(spec.type()) : "ClusterIP";
  // Kubernetes keeps clusterIP and clusterIPs[0] in sync before validating;
  // korch accepts either alone.
  bool use_cluster_ips = spec.cluster_ips_size() > 0;
  FieldPath ips_path = spec_path.Child("clusterIPs");
  FieldPath primary_ip_path = use_cluster_ips ? ips_path.Index(0) : spec_path.Child("clusterIP");
  absl::string_view primary_ip = use_cluster_ips ? absl::string_view(spec.cluster_ips(0))
                                                 : absl::string_view(spec.cluster_ip());
  bool headless = primary_ip == "None" && spec.cluster_ips_size() <= 1;

  if (spec.ports_size() == 0 && !headless && type != "ExternalName") {
    errs.push_back(Required(spec_path.Child("ports")));
  }
  if (type == "LoadBalancer" && headless) {
    errs.push_back(
        Invalid(primary_ip_path, primary_ip, "may not be set to 'None' for LoadBalancer services"));
  } else if (type == "NodePort" && headless) {
    errs.push_back(
        Invalid(primary_ip_path, primary_ip, "may not be set to 'None' for NodePort services"));
  } else if (type == "ExternalName") {
    if (spec.cluster_ips_size() > 0) {
      errs.push_back(Forbidden(ips_path, "may not be set for ExternalName services"));
    } else if (!spec.cluster_ip().empty()) {
      errs.push_back(
          Forbidden(spec_path.Child("clusterIP"), "may not be set for ExternalName services"));
    }
    if (spec.ip_families_size() > 0) {
      errs.push_back(
          Forbidden(spec_path.Child("ipFamilies"), "may not be set for ExternalName services"));
    }
    if (spec.has_ip_family_policy()) {
      errs.push_back(
          Forbidden(spec_path.Child("ipFamilyPolicy"), "may not be set for ExternalName services"));
    }
    absl::string_view cname = spec.external_name();
    absl::ConsumeSuffix(&cname, ".");
    if (cname.empty()) {
      errs.push_back(Required(spec_path.Child("externalName")));
    } else {
      Append(&errs, ValidateDNS1123Subdomain(cname, spec_path.Child("externalName")));
    }
  }

  absl::flat_hash_set<std::string> port_names;
  for (int i = 0; i < spec.ports_size(); ++i) {
    Append(&errs, ValidateServicePort(spec.ports(i), spec.ports_size() > 1, &port_names,
                                      spec_path.Child("ports").Index(i)));
  }
  Append(&errs, ValidateLabels(spec.selector(), spec_path.Child("selector")));

  FieldPath affinity_path = spec_path.Child("sessionAffinity");
  CheckEnum(spec.has_session_affinity(), spec.session_affinity(), kSessionAffinities, affinity_path,
            &errs);
  if (spec.session_affinity() == "ClientIP") {
    // A missing timeout is defaulted (10800 s); a given one must be in range.
    const SessionAffinityConfig& config = spec.session_affinity_config();
    if (config.client_ip().has_timeout_seconds()) {
      int32_t timeout = config.client_ip().timeout_seconds();
      if (timeout <= 0 || timeout > 86400) {
        errs.push_back(Invalid(
            spec_path.Child("sessionAffinityConfig").Child("clientIP").Child("timeoutSeconds"),
            timeout, "must be greater than 0 and less than 86400"));
      }
    }
  } else if (spec.session_affinity() == "None" && spec.has_session_affinity_config()) {
    errs.push_back(Forbidden(spec_path.Child("sessionAffinityConfig"),
                             "must not be set when session affinity is None"));
  }

  // ValidateServiceClusterIPsRelatedFields.
  if (type != "ExternalName") {
    if (use_cluster_ips && !spec.cluster_ip().empty() && spec.cluster_ips(0) != spec.cluster_ip()) {
      errs.push_back(InvalidRendered(ips_path, RenderStrings(spec.cluster_ips()),
                                     "first value must match `clusterIP`"));
    }
    absl::flat_hash_set<std::string> families;
    for (int i = 0; i < spec.ip_families_size(); ++i) {
      const std::string& f = spec.ip_families(i);
      FieldPath p = spec_path.Child("ipFamilies").Index(i);
      if (!OneOf(f, kIPFamilies)) errs.push_back(NotSupported(p, f, kIPFamilies));
      if (!families.insert(f).second) errs.push_back(Duplicate(p, f));
    }
    if (spec.has_ip_family_policy() && !OneOf(spec.ip_family_policy(), kIPFamilyPolicies)) {
      errs.push_back(NotSupported(spec_path.Child("ipFamilyPolicy"), spec.ip_family_policy(),
                                  kIPFamilyPolicies));
    }
    bool invalid_ips = false;
    if (!use_cluster_ips) {
      if (!spec.cluster_ip().empty() && spec.cluster_ip() != "None") {
        FieldErrorList e = ValidateIP(spec.cluster_ip(), spec_path.Child("clusterIP"));
        invalid_ips = !e.empty();
        Append(&errs, std::move(e));
      }
    }
    for (int i = 0; i < spec.cluster_ips_size(); ++i) {
      const std::string& ip = spec.cluster_ips(i);
      if (i == 0 && ip == "None") {
        if (spec.cluster_ips_size() > 1) {
          invalid_ips = true;
          errs.push_back(InvalidRendered(ips_path, RenderStrings(spec.cluster_ips()),
                                         "'None' must be the first and only value"));
        }
        continue;
      }
      FieldErrorList e = ValidateIP(ip, ips_path.Index(i));
      invalid_ips = invalid_ips || !e.empty();
      Append(&errs, std::move(e));
    }
    if (spec.cluster_ips_size() > 2) {
      errs.push_back(InvalidRendered(ips_path, RenderStrings(spec.cluster_ips()),
                                     "may only hold up to 2 values"));
    }
    if (!invalid_ips) {
      if (spec.cluster_ips_size() == 2 &&
          IPFamily(spec.cluster_ips(0)) == IPFamily(spec.cluster_ips(1))) {
        errs.push_back(InvalidRendered(ips_path, RenderStrings(spec.cluster_ips()),
                                       "may specify no more than one IP for each IP family"));
      }
      if (!headless) {
        for (int i = 0; i < spec.cluster_ips_size() && i < spec.ip_families_size(); ++i) {
          const std::string& ip = spec.cluster_ips(i);
          if (spec.ip_families(i) == "IPv4" && IsIPv6(ip)) {
            errs.push_back(Invalid(ips_path.Index(i), ip,
                                   absl::StrCat("expected an IPv4 value as indicated by "
                                                "`ipFamilies[",
                                                i, "]`")));
          }
          if (spec.ip_families(i) == "IPv6" && !IsIPv6(ip)) {
            errs.push_back(Invalid(ips_path.Index(i), ip,
                                   absl::StrCat("expected an IPv6 value as indicated by "
                                                "`ipFamilies[",
                                                i, "]`")));
          }
        }
      }
    }
  }

  for (int i = 0; i < spec.external_ips_size(); ++i) {
    FieldPath p = spec_path.Child("externalIPs").Index(i);
    FieldErrorList e = ValidateIP(spec.external_ips(i), p);
    if (e.empty()) e = ValidateNonSpecialIP(spec.external_ips(i), p);
    Append(&errs, std::move(e));
  }

  CheckEnum(spec.has_type(), spec.type(), kServiceTypes, spec_path.Child("type"), &errs);
  if (type == "ClusterIP") {
    for (int i = 0; i < spec.ports_size(); ++i) {
      if (spec.ports(i).node_port() != 0) {
        errs.push_back(Forbidden(spec_path.Child("ports").Index(i).Child("nodePort"),
                                 "may not be used when `type` is 'ClusterIP'"));
      }
    }
  }
  // Duplicate node ports and ports, per protocol.
  absl::flat_hash_set<std::string> node_ports;
  absl::flat_hash_set<std::string> ports;
  for (int i = 0; i < spec.ports_size(); ++i) {
    const ServicePort& sp = spec.ports(i);
    FieldPath p = spec_path.Child("ports").Index(i);
    std::string protocol = sp.has_protocol() ? sp.protocol() : "TCP";
    if (sp.node_port() != 0 &&
        !node_ports.insert(absl::StrCat(protocol, "/", sp.node_port())).second) {
      errs.push_back(DuplicateRendered(p.Child("nodePort"), absl::StrCat(sp.node_port())));
    }
    if (!ports.insert(absl::StrCat(protocol, "/", sp.port())).second) {
      ServicePort key;
      key.set_protocol(protocol);
      key.set_port(sp.port());
      errs.push_back(DuplicateRendered(p, RenderJson(key)));
    }
  }

  if (spec.load_balancer_source_ranges_size() > 0) {
    FieldPath p = spec_path.Child("loadBalancerSourceRanges");
    if (type != "LoadBalancer") {
      errs.push_back(Forbidden(p, "may only be used when `type` is 'LoadBalancer'"));
    }
    for (int i = 0; i < spec.load_balancer_source_ranges_size(); ++i) {
      // Space padding is tolerated, for historical reasons.
      Append(&errs, ValidateCIDR(absl::StripAsciiWhitespace(spec.load_balancer_source_ranges(i)),
                                 p.Index(i)));
    }
  }
  if (spec.has_allocate_load_balancer_node_ports() && type != "LoadBalancer") {
    errs.push_back(Forbidden(spec_path.Child("allocateLoadBalancerNodePorts"),
                             "may only be used when `type` is 'LoadBalancer'"));
  }
  if (spec.has_load_balancer_class()) {
    if (type == "LoadBalancer") {
      Append(&errs, ValidateQualifiedName(spec.load_balancer_class(),
                                          spec_path.Child("loadBalancerClass")));
    } else {
      errs.push_back(Forbidden(spec_path.Child("loadBalancerClass"),
                               "may only be used when `type` is 'LoadBalancer'"));
    }
  }
  // External traffic policy: only for services reachable from outside.
  bool external = type == "LoadBalancer" || type == "NodePort" ||
                  (type == "ClusterIP" && spec.external_ips_size() > 0);
  FieldPath etp = spec_path.Child("externalTrafficPolicy");
  if (!external) {
    if (!spec.external_traffic_policy().empty()) {
      errs.push_back(Invalid(etp, spec.external_traffic_policy(),
                             "may only be set for externally-accessible services"));
    }
  } else {
    CheckEnum(spec.has_external_traffic_policy(), spec.external_traffic_policy(), kTrafficPolicies,
              etp, &errs);
  }
  bool needs_health_check = type == "LoadBalancer" && spec.external_traffic_policy() == "Local";
  if (!needs_health_check) {
    if (spec.health_check_node_port() != 0) {
      errs.push_back(Invalid(spec_path.Child("healthCheckNodePort"), spec.health_check_node_port(),
                             "may only be set when `type` is 'LoadBalancer' and "
                             "`externalTrafficPolicy` is 'Local'"));
    }
  } else if (spec.health_check_node_port() != 0) {
    for (const std::string& msg : IsValidPortNum(spec.health_check_node_port())) {
      errs.push_back(
          Invalid(spec_path.Child("healthCheckNodePort"), spec.health_check_node_port(), msg));
    }
  }
  if (spec.has_internal_traffic_policy() &&
      !OneOf(spec.internal_traffic_policy(), kTrafficPolicies)) {
    errs.push_back(NotSupported(spec_path.Child("internalTrafficPolicy"),
                                spec.internal_traffic_policy(), kTrafficPolicies));
  }
  if (spec.has_traffic_distribution() &&
      !OneOf(spec.traffic_distribution(), kTrafficDistributions)) {
    errs.push_back(NotSupported(spec_path.Child("trafficDistribution"), spec.traffic_distribution(),
                                kTrafficDistributions));
  }
  return errs;
}

FieldErrorList ValidateEndpoints(const Endpoints& endpoints) {
  FieldErrorList errs = ValidateObjectMeta(endpoints.metadata(), /*namespaced=*/true,
                                           NameRule::kDNS1123Subdomain, FieldPath("metadata"));
  auto check_address = [&](const EndpointAddress& a, const FieldPath& p) {
    FieldErrorList e = ValidateIP(a.ip(), p.Child("ip"));
    if (!a.hostname().empty()) Append(&e, ValidateDNS1123Label(a.hostname(), p.Child("hostname")));
    if (a.has_node_name()) Append(&e, ValidateDNS1123Subdomain(a.node_name(), p.Child("nodeName")));
    Append(&e, ValidateNonSpecialIP(a.ip(), p.Child("ip")));
    Append(&errs, std::move(e));
  };
  for (int i = 0; i < endpoints.subsets_size(); ++i) {
    const EndpointSubset& ss = endpoints.subsets(i);
    FieldPath p = FieldPath("subsets").Index(i);
    if (ss.addresses_size() == 0 && ss.not_ready_addresses_size() == 0) {
      errs.push_back(Required(p, "must specify `addresses` or `notReadyAddresses`"));
    }
    for (int j = 0; j < ss.addresses_size(); ++j) {
      check_address(ss.addresses(j), p.Child("addresses").Index(j));
    }
    for (int j = 0; j < ss.not_ready_addresses_size(); ++j) {
      check_address(ss.not_ready_addresses(j), p.Child("notReadyAddresses").Index(j));
    }
    for (int j = 0; j < ss.ports_size(); ++j) {
      const EndpointPort& port = ss.ports(j);
      FieldPath pp = p.Child("ports").Index(j);
      if (ss.ports_size() > 1 && port.name().empty()) {
        errs.push_back(Required(pp.Child("name")));
      } else if (!port.name().empty()) {
        Append(&errs, ValidateDNS1123Label(port.name(), pp.Child("name")));
      }
      for (const std::string& msg : IsValidPortNum(port.port())) {
        errs.push_back(Invalid(pp.Child("port"), port.port(), msg));
      }
      CheckEnum(port.has_protocol(), port.protocol(), kProtocols, pp.Child("protocol"), &errs);
      if (port.has_app_protocol()) {
        Append(&errs, ValidateQualifiedName(port.app_protocol(), pp.Child("appProtocol")));
      }
    }
  }
  return errs;
}

// ---------------------------------------------------------------------------
// Configuration

FieldErrorList ValidateConfigMap(const ConfigMap& cm) {
  FieldErrorList errs = ValidateObjectMeta(cm.metadata(), /*namespaced=*/true,
                                           NameRule::kDNS1123Subdomain, FieldPath("metadata"));
  int64_t total = 0;
  for (const auto& [key, value] : SortedEntries(cm.data())) {
    FieldPath p = FieldPath("data").Key(key);
    Append(&errs, InvalidEach(p, key, IsConfigMapKey(key)));
    if (cm.binary_data().contains(key)) {
      errs.push_back(Invalid(p, key, "duplicate of key present in binaryData"));
    }
    total += static_cast<int64_t>(value.size());
  }
  for (const auto& [key, value] : SortedEntries(cm.binary_data())) {
    Append(&errs, InvalidEach(FieldPath("binaryData").Key(key), key, IsConfigMapKey(key)));
    total += static_cast<int64_t>(value.size());
  }
  // The whole object: reported without a field, as Kubernetes does.
  if (total > kMaxSecretSize) errs.push_back(TooLong(FieldPath(), kMaxSecretSize));
  return errs;
}

FieldErrorList ValidateSecret(const Secret& secret) {
  FieldErrorList errs = ValidateObjectMeta(secret.metadata(), /*namespaced=*/true,
                                           NameRule::kDNS1123Subdomain, FieldPath("metadata"));
  // stringData is merged into data on write (its values win), so both count.
  FieldPath data_path("data");
  int64_t total = 0;
  for (const auto& [key, value] : SortedEntries(secret.data())) {
    Append(&errs, InvalidEach(data_path.Key(key), key, IsConfigMapKey(key)));
    if (!secret.string_data().contains(key)) total += static_cast<int64_t>(value.size());
  }
  for (const auto& [key, value] : SortedEntries(secret.string_data())) {
    Append(&errs, InvalidEach(FieldPath("stringData").Key(key), key, IsConfigMapKey(key)));
    total += static_cast<int64_t>(value.size());
  }
  if (total > kMaxSecretSize) errs.push_back(TooLong(data_path, kMaxSecretSize));

  auto find = [&](const std::string& key) -> std::optional<std::string> {
    if (auto it = secret.string_data().find(key); it != secret.string_data().end()) {
      return it->second;
    }
    if (auto it = secret.data().find(key); it != secret.data().end()) return it->second;
    return std::nullopt;
  };
  auto require_json = [&](const std::string& key) {
    std::optional<std::string> value = find(key);
    if (!value.has_value()) {
      errs.push_back(Required(data_path.Key(key)));
      return;
    }
    nlohmann::json parsed = nlohmann::json::parse(*value, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_object()) {
      errs.push_back(Invalid(data_path.Key(key), "<secret contents redacted>",
                             "must be a well-formed JSON object"));
    }
  };
  const std::string& type = secret.type();
  if (type == "kubernetes.io/service-account-token") {
    constexpr absl::string_view kKey = "kubernetes.io/service-account.name";
    auto it = secret.metadata().annotations().find(std::string(kKey));
    if (it == secret.metadata().annotations().end() || it->second.empty()) {
      errs.push_back(Required(FieldPath("metadata").Child("annotations").Key(kKey)));
    }
  } else if (type == "kubernetes.io/dockercfg") {
    require_json(".dockercfg");
  } else if (type == "kubernetes.io/dockerconfigjson") {
    require_json(".dockerconfigjson");
  } else if (type == "kubernetes.io/basic-auth") {
    if (!find("username").has_value() && !find("password").has_value()) {
      errs.push_back(Required(data_path.Key("username")));
      errs.push_back(Required(data_path.Key("password")));
    }
  } else if (type == "kubernetes.io/ssh-auth") {
    std::optional<std::string> key = find("ssh-privatekey");
    if (!key.has_value() || key->empty()) errs.push_back(Required(data_path.Key("ssh-privatekey")));
  } else if (type == "kubernetes.io/tls") {
    if (!find("tls.crt").has_value()) errs.push_back(Required(data_path.Key("tls.crt")));
    if (!find("tls.key").has_value()) errs.push_back(Required(data_path.Key("tls.key")));
  }
  return errs;
}

FieldErrorList ValidateServiceAccount(const ServiceAccount& sa) {
  return ValidateObjectMeta(sa.metadata(), /*namespaced=*/true, NameRule::kDNS1123Subdomain,
                            FieldPath("metadata"));
}

FieldErrorList ValidateEvent(const Event& event) {
  FieldErrorList errs = ValidateObjectMeta(event.metadata(), /*namespaced=*/true,
                                           NameRule::kDNS1123Subdomain, FieldPath("metadata"));
  const std::string& ns = event.metadata().namespace_();
  const std::string& involved_ns = event.involved_object().namespace_();
  FieldPath involved_ns_path = FieldPath("involvedObject").Child("namespace");
  if (!event.has_event_time()) {
    // An event about a cluster-scoped object lives in "default" (or no
    // namespace); otherwise in its object's namespace.
    if (involved_ns.empty()) {
      if (!ns.empty() && ns != "default") {
        errs.push_back(Invalid(involved_ns_path, involved_ns, "does not match event.namespace"));
      }
    } else if (ns != involved_ns) {
      errs.push_back(Invalid(involved_ns_path, involved_ns, "does not match event.namespace"));
    }
    return errs;
  }
  // A "new" event (with eventTime) must say who reported what.
  if (involved_ns.empty() && ns != "default" && ns != "kube-system") {
    errs.push_back(Invalid(involved_ns_path, involved_ns, "does not match event.namespace"));
  }
  FieldPath reporting("reportingComponent");
  if (event.reporting_component().empty()) {
    errs.push_back(Required(reporting));
  } else {
    Append(&errs, ValidateQualifiedName(event.reporting_component(), reporting));
  }
  if (event.reporting_instance().empty()) {
    errs.push_back(Required(FieldPath("reportingInstance")));
  } else if (event.reporting_instance().size() > 128) {
    errs.push_back(Invalid(FieldPath("reportingInstance"), "", "can have at most 128 characters"));
  }
  if (event.action().empty()) {
    errs.push_back(Required(FieldPath("action")));
  } else if (event.action().size() > 128) {
    errs.push_back(Invalid(FieldPath("action"), "", "can have at most 128 characters"));
  }
  if (event.reason().empty()) {
    errs.push_back(Required(FieldPath("reason")));
  } else if (event.reason().size() > 128) {
    errs.push_back(Invalid(FieldPath("reason"), "", "can have at most 128 characters"));
  }
  if (event.message().size() > 1024) {
    errs.push_back(Invalid(FieldPath("message"), "", "can have at most 1024 characters"));
  }
  return errs;
}

// ---------------------------------------------------------------------------
// Policy

FieldErrorList ValidateLimitRange(const LimitRange& lr) {
  FieldErrorList errs = ValidateObjectMeta(lr.metadata(), /*namespaced=*/true,
                                           NameRule::kDNS1123Subdomain, FieldPath("metadata"));
  FieldPath limits_path = FieldPath("spec").Child("limits");
  absl::flat_hash_set<std::string> types;
  for (int i = 0; i < lr.spec().limits_size(); ++i) {
    const LimitRangeItem& item = lr.spec().limits(i);
    FieldPath p = limits_path.Index(i);
    const std::string& type = item.type();
    FieldErrorList type_errs = ValidateQualifiedName(type, p.Child("type"));
    if (type_errs.empty() && type.find('/') == std::string::npos && !OneOf(type, kLimitTypes)) {
      type_errs.push_back(
          Invalid(p.Child("type"), type, "must be a standard limit type or fully qualified"));
    }
    Append(&errs, std::move(type_errs));
    if (!types.insert(type).second) errs.push_back(Duplicate(p.Child("type"), type));

    bool pod_or_container = type == "Pod" || type == "Container";
    auto check_name = [&](const std::string& name, const FieldPath& np) {
      Append(&errs, pod_or_container ? ValidateContainerResourceName(name, np)
                                     : ValidateResourceName(name, np));
    };
    std::vector<ResourceEntry> max = ParseResourceList(item.max(), p.Child("max"), &errs);
    std::vector<ResourceEntry> min = ParseResourceList(item.min(), p.Child("min"), &errs);
    std::vector<ResourceEntry> defaults;
    std::vector<ResourceEntry> default_requests;
    for (const ResourceEntry& e : max) check_name(e.name, p.Child("max").Key(e.name));
    for (const ResourceEntry& e : min) check_name(e.name, p.Child("min").Key(e.name));
    if (type == "Pod") {
      if (!item.default_().empty()) {
        errs.push_back(Forbidden(p.Child("default"), "may not be specified when `type` is 'Pod'"));
      }
      if (!item.default_request().empty()) {
        errs.push_back(
            Forbidden(p.Child("defaultRequest"), "may not be specified when `type` is 'Pod'"));
      }
    } else {
      defaults = ParseResourceList(item.default_(), p.Child("default"), &errs);
      default_requests =
          ParseResourceList(item.default_request(), p.Child("defaultRequest"), &errs);
      for (const ResourceEntry& e : defaults) check_name(e.name, p.Child("default").Key(e.name));
      for (const ResourceEntry& e : default_requests) {
        check_name(e.name, p.Child("defaultRequest").Key(e.name));
      }
    }
    if (type == "PersistentVolumeClaim" && !item.min().contains("storage") &&
        !item.max().contains("storage")) {
      errs.push_back(Required(p.Child("limits"),
                              "either minimum or maximum storage value is required, but neither "
                              "was provided"));
    }
    std::vector<ResourceEntry> ratios =
        ParseResourceList(item.max_limit_request_ratio(), p.Child("maxLimitRequestRatio"), &errs);
    for (const ResourceEntry& e : ratios) {
      check_name(e.name, p.Child("maxLimitRequestRatio").Key(e.name));
    }

    std::vector<std::string> keys;
    for (const auto* list : {&max, &min, &defaults, &default_requests, &ratios}) {
      for (const ResourceEntry& e : *list) keys.push_back(e.name);
    }
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    for (const std::string& k : keys) {
      const Quantity* mn = FindResource(min, k);
      const Quantity* mx = FindResource(max, k);
      const Quantity* def = FindResource(defaults, k);
      const Quantity* def_req = FindResource(default_requests, k);
      const Quantity* ratio = FindResource(ratios, k);
      if (mn && mx && mn->Compare(*mx) > 0) {
        errs.push_back(
            InvalidQuantity(p.Child("min").Key(k), *mn,
                            absl::StrCat("min value ", mn->ToString(),
                                         " is greater than max value ", mx->ToString())));
      }
      if (def_req && mn && mn->Compare(*def_req) > 0) {
        errs.push_back(InvalidQuantity(
            p.Child("defaultRequest").Key(k), *def_req,
            absl::StrCat("min value ", mn->ToString(), " is greater than default request value ",
                         def_req->ToString())));
      }
      if (def_req && mx && def_req->Compare(*mx) > 0) {
        errs.push_back(
            InvalidQuantity(p.Child("defaultRequest").Key(k), *def_req,
                            absl::StrCat("default request value ", def_req->ToString(),
                                         " is greater than max value ", mx->ToString())));
      }
      if (def_req && def && def_req->Compare(*def) > 0) {
        errs.push_back(InvalidQuantity(
            p.Child("defaultRequest").Key(k), *def_req,
            absl::StrCat("default request value ", def_req->ToString(),
                         " is greater than default limit value ", def->ToString())));
      }
      if (def && mn && mn->Compare(*def) > 0) {
        errs.push_back(
            InvalidQuantity(p.Child("default").Key(k), *mn,
                            absl::StrCat("min value ", mn->ToString(),
                                         " is greater than default value ", def->ToString())));
      }
      if (def && mx && def->Compare(*mx) > 0) {
        errs.push_back(
            InvalidQuantity(p.Child("default").Key(k), *mx,
                            absl::StrCat("default value ", def->ToString(),
                                         " is greater than max value ", mx->ToString())));
      }
      if (ratio && ratio->Compare(Quantity::FromInt64(1)) < 0) {
        errs.push_back(
            InvalidQuantity(p.Child("maxLimitRequestRatio").Key(k), *ratio,
                            absl::StrCat("ratio ", ratio->ToString(), " is less than 1")));
      }
      if (ratio && mn && mx && mn->Sign() > 0) {
        double limit =
            static_cast<double>(mx->MilliValue()) / static_cast<double>(mn->MilliValue());
        double value = static_cast<double>(ratio->MilliValue()) / 1000.0;
        if (value > limit) {
          errs.push_back(InvalidQuantity(
              p.Child("maxLimitRequestRatio").Key(k), *ratio,
              absl::StrCat("ratio ", ratio->ToString(),
                           " is greater than max/min = ", absl::StrFormat("%f", limit))));
        }
      }
      if (!IsOvercommitAllowed(k) && def && def_req && def->Compare(*def_req) != 0) {
        errs.push_back(InvalidQuantity(
            p.Child("defaultRequest").Key(k), *def_req,
            absl::StrCat("default value ", def->ToString(), " must equal to defaultRequest value ",
                         def_req->ToString(), " in ", k)));
      }
    }
  }
  return errs;
}

FieldErrorList ValidateResourceQuota(const ResourceQuota& rq) {
  FieldErrorList errs = ValidateObjectMeta(rq.metadata(), /*namespaced=*/true,
                                           NameRule::kDNS1123Subdomain, FieldPath("metadata"));
  auto check_list = [&](const StringMap& list, const FieldPath& p) {
    for (const ResourceEntry& e : ParseResourceList(list, p, &errs)) {
      Append(&errs, ValidateResourceQuotaResourceName(e.name, p.Key(e.name)));
      Append(&errs, ValidateResourceQuantityValue(e.name, e.quantity, p.Key(e.name)));
    }
  };
  const ResourceQuotaSpec& spec = rq.spec();
  FieldPath spec_path("spec");
  check_list(spec.hard(), spec_path.Child("hard"));

  auto conflicting = [](const absl::flat_hash_set<std::string>& scopes) {
    return (scopes.contains("BestEffort") && scopes.contains("NotBestEffort")) ||
           (scopes.contains("Terminating") && scopes.contains("NotTerminating"));
  };
  FieldPath scopes_path = spec_path.Child("scopes");
  absl::flat_hash_set<std::string> scopes;
  for (const std::string& scope : spec.scopes()) {
    if (!OneOf(scope, kQuotaScopes)) {
      errs.push_back(
          InvalidRendered(scopes_path, RenderStrings(spec.scopes()), "unsupported scope"));
    }
    scopes.insert(scope);
  }
  if (conflicting(scopes)) {
    errs.push_back(
        InvalidRendered(scopes_path, RenderStrings(spec.scopes()), "conflicting scopes"));
  }
  if (spec.has_scope_selector()) {
    FieldPath p = spec_path.Child("scopeSelector").Child("matchExpressions");
    absl::flat_hash_set<std::string> selector_scopes;
    for (const ScopedResourceSelectorRequirement& r : spec.scope_selector().match_expressions()) {
      if (!OneOf(r.scope_name(), kQuotaScopes)) {
        errs.push_back(Invalid(p.Child("scopeName"), r.scope_name(), "unsupported scope"));
      }
      constexpr absl::string_view kExistsOnly[] = {"BestEffort", "NotBestEffort", "Terminating",
                                                   "NotTerminating", "CrossNamespacePodAffinity"};
      if (OneOf(r.scope_name(), kExistsOnly) && r.operator_() != "Exists") {
        errs.push_back(Invalid(p.Child("operator"), r.operator_(),
                               "must be 'Exists' when scope is any of "
                               "ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, "
                               "ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or "
                               "ResourceQuotaScopeCrossNamespacePodAffinity"));
      }
      if (r.operator_() == "In" || r.operator_() == "NotIn") {
        if (r.values_size() == 0) {
          errs.push_back(Required(p.Child("values"),
                                  "must be at least one value when `operator` is 'In' or 'NotIn' "
                                  "for scope selector"));
        }
      } else if (r.operator_() == "Exists" || r.operator_() == "DoesNotExist") {
        if (r.values_size() != 0) {
          errs.push_back(InvalidRendered(p.Child("values"), RenderStrings(r.values()),
                                         "must be no value when `operator` is 'Exist' or "
                                         "'DoesNotExist' for scope selector"));
        }
      } else {
        errs.push_back(
            Invalid(p.Child("operator"), r.operator_(), "not a valid selector operator"));
      }
      selector_scopes.insert(r.scope_name());
    }
    if (conflicting(selector_scopes)) {
      errs.push_back(InvalidRendered(p, RenderStrings(spec.scopes()), "conflicting scopes"));
    }
  }
  check_list(rq.status().hard(), FieldPath("status").Child("hard"));
  check_list(rq.status().used(), FieldPath("status").Child("used"));
  return errs;
}

}  // namespace korch::api
