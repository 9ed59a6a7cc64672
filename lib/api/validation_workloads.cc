// Validation of the workload and policy kinds, with the rules and messages of
// Kubernetes' pkg/apis/{apps,batch,rbac,coordination,scheduling,discovery,
// autoscaling}/validation.
//
// Kubernetes validates objects after defaulting. So that an object that was
// not passed through SetDefaults() is judged the same way, a field that is
// unset here is taken to have its Kubernetes default (a Deployment without a
// strategy rolls with 25%/25%, a StatefulSet without podManagementPolicy is
// OrderedReady, a RoleBinding's roleRef.apiGroup is rbac.authorization.k8s.io,
// ...) and is not reported. Fields without a valid default (selectors,
// a Job template's restartPolicy) are still required.
//
// Invalid values that are not scalars are rendered the way Go's %#v prints
// them, as the Kubernetes API server does (`map[string]string{"app":"x"}`,
// `intstr.IntOrString{Type:1, IntVal:0, StrVal:"110%"}`), so messages read
// the same as kubectl's.
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "korch/api/name_validation.h"
#include "korch/api/selector.h"
#include "korch/api/validation.h"
#include "validation_util.h"

namespace korch::api {
namespace {

using validation_internal::Append;
using validation_internal::InclusiveRangeError;
using validation_internal::InvalidEach;
using validation_internal::kIsNegativeErrorMsg;
using validation_internal::ValidateName;

constexpr absl::string_view kRbacGroup = "rbac.authorization.k8s.io";
constexpr absl::string_view kSelectorMismatch = "`selector` does not match template `labels`";

// Invalid when value < 0 (apivalidation.ValidateNonnegativeField).
void CheckNonNegative(int64_t value, const FieldPath& path, FieldErrorList* errs) {
  if (value < 0) errs->push_back(Invalid(path, value, kIsNegativeErrorMsg));
}

// NotSupported with a value that is already rendered (a struct).
FieldError NotSupportedRendered(const FieldPath& path, std::string rendered,
                                absl::Span<const absl::string_view> supported) {
  FieldError e = NotSupported(path, "", supported);
  e.bad_value = std::move(rendered);
  return e;
}

// ---------------------------------------------------------------------------
// Go %#v renderings of the values Kubernetes puts in its messages.

// map[string]string{"a":"b", "c":"d"}, keys sorted as Go's fmt sorts them.
std::string GoStringMap(const LabelMap& m) {
  if (m.empty()) return "map[string]string(nil)";
  std::vector<std::pair<std::string, std::string>> sorted(m.begin(), m.end());
  std::sort(sorted.begin(), sorted.end());
  return absl::StrCat("map[string]string{",
                      absl::StrJoin(sorted, ", ",
                                    [](std::string* out, const auto& kv) {
                                      absl::StrAppend(out, QuoteValue(kv.first), ":",
                                                      QuoteValue(kv.second));
                                    }),
                      "}");
}

// []string{"a", "b"}.
std::string GoStringSlice(const google::protobuf::RepeatedPtrField<std::string>& values) {
  if (values.empty()) return "[]string(nil)";
  return absl::StrCat(
      "[]string{",
      absl::StrJoin(values, ", ",
                    [](std::string* out, const std::string& s) { out->append(QuoteValue(s)); }),
      "}");
}

// []int32{1, 2}.
std::string GoInt32Slice(const google::protobuf::RepeatedField<int32_t>& values) {
  if (values.empty()) return "[]int32(nil)";
  return absl::StrCat("[]int32{", absl::StrJoin(values, ", "), "}");
}

// intstr.IntOrString{Type:1, IntVal:0, StrVal:"25%"}.
std::string GoIntOrString(const IntOrString& v) {
  if (v.has_str_val()) {
    return absl::StrCat("intstr.IntOrString{Type:1, IntVal:0, StrVal:", QuoteValue(v.str_val()),
                        "}");
  }
  return absl::StrCat("intstr.IntOrString{Type:0, IntVal:", v.int_val(), ", StrVal:\"\"}");
}

// v1.LabelSelector{MatchLabels:..., MatchExpressions:...}.
std::string GoLabelSelector(const LabelSelector& s) {
  std::string exprs;
  if (s.match_expressions().empty()) {
    exprs = "[]v1.LabelSelectorRequirement(nil)";
  } else {
    exprs = absl::StrCat(
        "[]v1.LabelSelectorRequirement{",
        absl::StrJoin(s.match_expressions(), ", ",
                      [](std::string* out, const LabelSelectorRequirement& r) {
                        absl::StrAppend(out,
                                        "v1.LabelSelectorRequirement{Key:", QuoteValue(r.key()),
                                        ", Operator:", QuoteValue(r.operator_()),
                                        ", Values:", GoStringSlice(r.values()), "}");
                      }),
        "}");
  }
  return absl::StrCat("v1.LabelSelector{MatchLabels:", GoStringMap(s.match_labels()),
                      ", MatchExpressions:", exprs, "}");
}

// ---------------------------------------------------------------------------
// IntOrString: counts and percentages (apps/validation).

constexpr absl::string_view kPercentErrMsg =
    "a valid percent string must be a numeric string followed by an ending '%'";

// ^[0-9]+%$
bool IsValidPercent(absl::string_view s) {
  if (s.size() < 2 || s.back() != '%') return false;
  for (char c : s.substr(0, s.size() - 1)) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Go's strconv.Atoi: optional sign, decimal digits, 64-bit. Out-of-range
// values saturate (Atoi returns the clamped value with its error, and the
// Kubernetes callers that ignore the error see it).
std::optional<int64_t> GoAtoi(absl::string_view s, bool* out_of_range = nullptr) {
  if (out_of_range != nullptr) *out_of_range = false;
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  int64_t v = 0;
  bool saturated = false;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    int digit = c - '0';
    if (!saturated && v > (std::numeric_limits<int64_t>::max() - digit) / 10) saturated = true;
    if (!saturated) v = v * 10 + digit;
  }
  if (saturated) {
    if (out_of_range != nullptr) *out_of_range = true;
    return negative ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
  }
  return negative ? -v : v;
}

// The percentage of a valid "N%" string.
std::optional<int64_t> PercentValue(const IntOrString& v) {
  if (!v.has_str_val() || !IsValidPercent(v.str_val())) return std::nullopt;
  return GoAtoi(absl::string_view(v.str_val()).substr(0, v.str_val().size() - 1));
}

// getIntOrPercentValue: the percentage, the integer, or a string's integer
// value (0 when it is not a number).
int64_t IntOrPercentValue(const IntOrString& v) {
  if (std::optional<int64_t> p = PercentValue(v)) return *p;
  if (v.has_str_val()) return GoAtoi(v.str_val()).value_or(0);
  return v.int_val();
}

// ValidatePositiveIntOrPercent: a non-negative integer or "N%".
void ValidateIntOrPercent(const IntOrString& v, const FieldPath& path, FieldErrorList* errs) {
  if (v.has_str_val()) {
    if (!IsValidPercent(v.str_val())) {
      errs->push_back(InvalidRendered(path, GoIntOrString(v),
                                      RegexError(kPercentErrMsg, "[0-9]+%", {"1%", "93%"})));
    }
  } else {
    CheckNonNegative(v.int_val(), path, errs);
  }
}

// IsNotMoreThan100Percent.
void CheckNotMoreThan100Percent(const IntOrString& v, const FieldPath& path, FieldErrorList* errs) {
  std::optional<int64_t> p = PercentValue(v);
  if (p.has_value() && *p > 100) {
    errs->push_back(InvalidRendered(path, GoIntOrString(v), "must not be greater than 100%"));
  }
}

IntOrString IntValue(int32_t v) {
  IntOrString out;
  out.set_int_val(v);
  return out;
}

IntOrString StrValue(absl::string_view v) {
  IntOrString out;
  out.set_str_val(std::string(v));
  return out;
}

// ---------------------------------------------------------------------------
// Selectors and pod templates shared by the apps kinds.

// spec.selector of a Deployment, ReplicaSet, DaemonSet or StatefulSet:
// required, valid, not empty. Returns the compiled selector when it is
// usable for matching. `invalid_detail` is the extra error Kubernetes reports
// when the selector cannot be compiled (nullopt: none).
std::optional<Selector> ValidateWorkloadSelector(bool has_selector, const LabelSelector& selector,
                                                 absl::string_view kind,
                                                 std::optional<absl::string_view> invalid_detail,
                                                 const FieldPath& path, FieldErrorList* errs) {
  if (!has_selector) {
    errs->push_back(Required(path));
    return std::nullopt;
  }
  Append(errs, ValidateLabelSelector(selector, path));
  if (selector.match_labels().empty() && selector.match_expressions().empty()) {
    errs->push_back(InvalidRendered(path, GoLabelSelector(selector),
                                    absl::StrCat("empty selector is invalid for ", kind)));
  }
  absl::StatusOr<Selector> compiled = Selector::FromProto(selector, path);
  if (!compiled.ok()) {
    if (invalid_detail.has_value()) {
      errs->push_back(InvalidRendered(path, GoLabelSelector(selector), *invalid_detail));
    }
    return std::nullopt;
  }
  return *std::move(compiled);
}

// The template labels must be selected by the selector.
void CheckSelectorMatchesTemplate(const std::optional<Selector>& selector,
                                  const PodTemplateSpec& tmpl, const FieldPath& tmpl_path,
                                  FieldErrorList* errs) {
  if (!selector.has_value() || selector->Empty()) return;
  if (!selector->Matches(tmpl.metadata().labels())) {
    errs->push_back(InvalidRendered(tmpl_path.Child("metadata").Child("labels"),
                                    GoStringMap(tmpl.metadata().labels()), kSelectorMismatch));
  }
}

// The pod template of a long-running workload: valid as a pod template, with
// restartPolicy Always and no activeDeadlineSeconds. `kind` names the kind in
// the activeDeadlineSeconds message as Kubernetes does (Deployments share the
// ReplicaSet message).
void ValidateLongRunningTemplate(const PodTemplateSpec& tmpl, absl::string_view kind,
                                 const FieldPath& path, FieldErrorList* errs) {
  Append(errs, ValidatePodTemplateSpec(tmpl, path));
  const PodSpec& spec = tmpl.spec();
  // An unset restartPolicy is defaulted to Always.
  if (!spec.restart_policy().empty() && spec.restart_policy() != "Always") {
    errs->push_back(
        NotSupported(path.Child("spec").Child("restartPolicy"), spec.restart_policy(), {"Always"}));
  }
  if (spec.has_active_deadline_seconds()) {
    errs->push_back(
        Forbidden(path.Child("spec").Child("activeDeadlineSeconds"),
                  absl::StrCat("activeDeadlineSeconds in ", kind, " is not Supported")));
  }
}

// ---------------------------------------------------------------------------
// Deployment

std::string GoRollingUpdateDeployment(const RollingUpdateDeployment& ru) {
  return absl::StrCat(
      "&apps.RollingUpdateDeployment{MaxUnavailable:", GoIntOrString(ru.max_unavailable()),
      ", MaxSurge:", GoIntOrString(ru.max_surge()), "}");
}

void ValidateDeploymentStrategy(const DeploymentStrategy& strategy, const FieldPath& path,
                                FieldErrorList* errs) {
  // An unset type is defaulted to RollingUpdate.
  const std::string type = strategy.type().empty() ? "RollingUpdate" : strategy.type();
  if (type == "Recreate") {
    if (strategy.has_rolling_update()) {
      errs->push_back(Forbidden(path.Child("rollingUpdate"),
                                "may not be specified when strategy `type` is 'Recreate'"));
    }
  } else if (type == "RollingUpdate") {
    // Absent parameters are defaulted to 25%.
    if (!strategy.has_rolling_update()) return;
    const RollingUpdateDeployment& ru = strategy.rolling_update();
    const IntOrString max_unavailable =
        ru.has_max_unavailable() ? ru.max_unavailable() : StrValue("25%");
    const IntOrString max_surge = ru.has_max_surge() ? ru.max_surge() : StrValue("25%");
    FieldPath ru_path = path.Child("rollingUpdate");
    ValidateIntOrPercent(max_unavailable, ru_path.Child("maxUnavailable"), errs);
    ValidateIntOrPercent(max_surge, ru_path.Child("maxSurge"), errs);
    if (IntOrPercentValue(max_unavailable) == 0 && IntOrPercentValue(max_surge) == 0) {
      errs->push_back(InvalidRendered(ru_path.Child("maxUnavailable"),
                                      GoIntOrString(max_unavailable),
                                      "may not be 0 when `maxSurge` is 0"));
    }
    CheckNotMoreThan100Percent(max_unavailable, ru_path.Child("maxUnavailable"), errs);
  } else {
    std::string rendered = absl::StrCat(
        "apps.DeploymentStrategy{Type:", QuoteValue(strategy.type()), ", RollingUpdate:",
        strategy.has_rolling_update() ? GoRollingUpdateDeployment(strategy.rolling_update())
                                      : "(*apps.RollingUpdateDeployment)(nil)",
        "}");
    errs->push_back(NotSupportedRendered(path, std::move(rendered), {"Recreate", "RollingUpdate"}));
  }
}

// ---------------------------------------------------------------------------
// DaemonSet

std::string GoRollingUpdateDaemonSet(const RollingUpdateDaemonSet& ru) {
  return absl::StrCat(
      "&apps.RollingUpdateDaemonSet{MaxUnavailable:", GoIntOrString(ru.max_unavailable()),
      ", MaxSurge:", GoIntOrString(ru.max_surge()), "}");
}

void ValidateDaemonSetUpdateStrategy(const DaemonSetUpdateStrategy& strategy, const FieldPath& path,
                                     FieldErrorList* errs) {
  const std::string type = strategy.type().empty() ? "RollingUpdate" : strategy.type();
  if (type == "OnDelete") return;
  if (type == "RollingUpdate") {
    // Absent parameters are defaulted to maxUnavailable 1, maxSurge 0.
    if (!strategy.has_rolling_update()) return;
    const RollingUpdateDaemonSet& ru = strategy.rolling_update();
    const IntOrString max_unavailable =
        ru.has_max_unavailable() ? ru.max_unavailable() : IntValue(1);
    const IntOrString max_surge = ru.has_max_surge() ? ru.max_surge() : IntValue(0);
    FieldPath ru_path = path.Child("rollingUpdate");
    ValidateIntOrPercent(max_unavailable, ru_path.Child("maxUnavailable"), errs);
    ValidateIntOrPercent(max_surge, ru_path.Child("maxSurge"), errs);
    CheckNotMoreThan100Percent(max_unavailable, ru_path.Child("maxUnavailable"), errs);
    CheckNotMoreThan100Percent(max_surge, ru_path.Child("maxSurge"), errs);
    // Exactly one of the two is non-zero.
    bool has_unavailable = IntOrPercentValue(max_unavailable) != 0;
    bool has_surge = IntOrPercentValue(max_surge) != 0;
    if (has_unavailable && has_surge) {
      errs->push_back(InvalidRendered(ru_path.Child("maxSurge"), GoIntOrString(max_surge),
                                      "may not be set when maxUnavailable is non-zero"));
    } else if (!has_unavailable && !has_surge) {
      errs->push_back(Required(ru_path.Child("maxUnavailable"), "cannot be 0 when maxSurge is 0"));
    }
    return;
  }
  std::string rendered = absl::StrCat(
      "apps.DaemonSetUpdateStrategy{Type:", QuoteValue(strategy.type()), ", RollingUpdate:",
      strategy.has_rolling_update() ? GoRollingUpdateDaemonSet(strategy.rolling_update())
                                    : "(*apps.RollingUpdateDaemonSet)(nil)",
      "}");
  errs->push_back(NotSupportedRendered(path, std::move(rendered), {"RollingUpdate", "OnDelete"}));
}

// ---------------------------------------------------------------------------
// StatefulSet

std::string GoRollingUpdateStatefulSet(const RollingUpdateStatefulSetStrategy& ru) {
  return absl::StrCat(
      "apps.RollingUpdateStatefulSetStrategy{Partition:", ru.partition(), ", MaxUnavailable:",
      ru.has_max_unavailable() ? absl::StrCat("&", GoIntOrString(ru.max_unavailable()))
                               : "(*intstr.IntOrString)(nil)",
      "}");
}

void ValidateStatefulSetUpdateStrategy(const StatefulSetUpdateStrategy& strategy,
                                       const FieldPath& path, FieldErrorList* errs) {
  const std::string type = strategy.type().empty() ? "RollingUpdate" : strategy.type();
  if (type == "OnDelete") {
    if (strategy.has_rolling_update()) {
      errs->push_back(InvalidRendered(path.Child("rollingUpdate"),
                                      GoRollingUpdateStatefulSet(strategy.rolling_update()),
                                      "only allowed for updateStrategy 'RollingUpdate'"));
    }
  } else if (type == "RollingUpdate") {
    if (!strategy.has_rolling_update()) return;
    const RollingUpdateStatefulSetStrategy& ru = strategy.rolling_update();
    FieldPath ru_path = path.Child("rollingUpdate");
    CheckNonNegative(ru.partition(), ru_path.Child("partition"), errs);
    if (ru.has_max_unavailable()) {
      FieldPath mu_path = ru_path.Child("maxUnavailable");
      ValidateIntOrPercent(ru.max_unavailable(), mu_path, errs);
      if (IntOrPercentValue(ru.max_unavailable()) == 0) {
        errs->push_back(
            InvalidRendered(mu_path, GoIntOrString(ru.max_unavailable()), "cannot be 0"));
      }
      CheckNotMoreThan100Percent(ru.max_unavailable(), mu_path, errs);
    }
  } else {
    std::string rendered = absl::StrCat(
        "apps.StatefulSetUpdateStrategy{Type:", QuoteValue(strategy.type()), ", RollingUpdate:",
        strategy.has_rolling_update()
            ? absl::StrCat("&", GoRollingUpdateStatefulSet(strategy.rolling_update()))
            : "(*apps.RollingUpdateStatefulSetStrategy)(nil)",
        "}");
    errs->push_back(
        InvalidRendered(path, std::move(rendered), "must be 'RollingUpdate' or 'OnDelete'"));
  }
}

void ValidatePVCRetentionPolicyType(const std::string& policy, const FieldPath& path,
                                    FieldErrorList* errs) {
  // Unset is defaulted to Retain.
  if (policy.empty() || policy == "Retain" || policy == "Delete") return;
  errs->push_back(NotSupported(path, policy, {"Retain", "Delete"}));
}

// ---------------------------------------------------------------------------
// Job

constexpr int64_t kMaxParallelismForIndexedJob = 100000;
constexpr int64_t kMaxFailedIndexesForIndexedJob = 100000;
constexpr int64_t kCompletionsSoftLimit = 100000;
constexpr int64_t kParallelismLimitForHighCompletions = 10000;
constexpr int64_t kMaxFailedIndexesLimitForHighCompletions = 10000;
constexpr int kMaxPodFailurePolicyRules = 20;
constexpr int kMaxPodFailurePolicyOnExitCodesValues = 255;
constexpr int kMaxPodFailurePolicyOnPodConditionsPatterns = 20;
constexpr size_t kMaxManagedByLength = 63;
constexpr size_t kMaxSucceededIndexesLength = 64 * 1024;
constexpr int kMaxSuccessPolicyRules = 20;

// IsDomainPrefixedPath: "acme.io/foo".
void ValidateDomainPrefixedPath(absl::string_view value, const FieldPath& path,
                                FieldErrorList* errs) {
  if (value.empty()) {
    errs->push_back(Required(path));
    return;
  }
  std::vector<absl::string_view> segments = absl::StrSplit(value, absl::MaxSplits('/', 1));
  if (segments.size() != 2 || segments[0].empty() || segments[1].empty()) {
    errs->push_back(
        Invalid(path, value, "must be a domain-prefixed path (such as \"acme.io/foo\")"));
    return;
  }
  Append(errs, InvalidEach(path, segments[0], IsDNS1123Subdomain(segments[0])));
  // [A-Za-z0-9/\-._~%!$&'()*+,;=:]+
  static constexpr absl::string_view kPathChars = "/-._~%!$&'()*+,;=:";
  for (char c : segments[1]) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              kPathChars.find(c) != absl::string_view::npos;
    if (!ok) {
      errs->push_back(Invalid(path, segments[1],
                              RegexError("Invalid path", "[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+")));
      return;
    }
  }
}

// Go's %q of a []string: ["a" "b"].
std::string GoQuotedList(absl::Span<const absl::string_view> values) {
  return absl::StrCat(
      "[",
      absl::StrJoin(values, " ",
                    [](std::string* out, absl::string_view s) { out->append(QuoteValue(s)); }),
      "]");
}

void ValidatePodFailurePolicy(const JobSpec& spec, const FieldPath& path, FieldErrorList* errs) {
  static constexpr std::array<absl::string_view, 4> kActions = {"Count", "FailIndex", "FailJob",
                                                                "Ignore"};
  static constexpr std::array<absl::string_view, 2> kOperators = {"In", "NotIn"};
  static constexpr std::array<absl::string_view, 3> kStatuses = {"False", "True", "Unknown"};
  const PodFailurePolicy& policy = spec.pod_failure_policy();
  FieldPath rules_path = path.Child("rules");
  if (policy.rules_size() > kMaxPodFailurePolicyRules) {
    errs->push_back(TooMany(rules_path, policy.rules_size(), kMaxPodFailurePolicyRules));
  }
  absl::flat_hash_set<std::string> container_names;
  for (const Container& c : spec.template_().spec().containers()) container_names.insert(c.name());
  for (const Container& c : spec.template_().spec().init_containers()) {
    container_names.insert(c.name());
  }
  for (int i = 0; i < policy.rules_size(); ++i) {
    const PodFailurePolicyRule& rule = policy.rules(i);
    FieldPath rule_path = rules_path.Index(i);
    FieldPath action_path = rule_path.Child("action");
    if (rule.action().empty()) {
      errs->push_back(
          Required(action_path, absl::StrCat("valid values: ", GoQuotedList(kActions))));
    } else if (rule.action() == "FailIndex") {
      if (!spec.has_backoff_limit_per_index()) {
        errs->push_back(
            Invalid(action_path, rule.action(), "requires the backoffLimitPerIndex to be set"));
      }
    } else if (std::find(kActions.begin(), kActions.end(), rule.action()) == kActions.end()) {
      errs->push_back(NotSupported(action_path, rule.action(), kActions));
    }
    if (rule.has_on_exit_codes()) {
      const PodFailurePolicyOnExitCodesRequirement& req = rule.on_exit_codes();
      FieldPath req_path = rule_path.Child("onExitCodes");
      FieldPath op_path = req_path.Child("operator");
      if (req.operator_().empty()) {
        errs->push_back(
            Required(op_path, absl::StrCat("valid values: ", GoQuotedList(kOperators))));
      } else if (std::find(kOperators.begin(), kOperators.end(), req.operator_()) ==
                 kOperators.end()) {
        errs->push_back(NotSupported(op_path, req.operator_(), kOperators));
      }
      if (req.has_container_name() && !container_names.contains(req.container_name())) {
        errs->push_back(
            Invalid(req_path.Child("containerName"), req.container_name(),
                    "must be one of the container or initContainer names in the pod template"));
      }
      FieldPath values_path = req_path.Child("values");
      if (req.values().empty()) {
        errs->push_back(InvalidRendered(values_path, GoInt32Slice(req.values()),
                                        "at least one value is required"));
      } else if (req.values_size() > kMaxPodFailurePolicyOnExitCodesValues) {
        errs->push_back(
            TooMany(values_path, req.values_size(), kMaxPodFailurePolicyOnExitCodesValues));
      }
      bool ordered = true;
      absl::flat_hash_set<int32_t> seen;
      for (int j = 0; j < req.values_size(); ++j) {
        int32_t value = req.values(j);
        FieldPath value_path = values_path.Index(j);
        if (req.operator_() == "In" && value == 0) {
          errs->push_back(Invalid(value_path, value, "must not be 0 for the In operator"));
        }
        if (!seen.insert(value).second) {
          FieldError dup = Duplicate(value_path, "");
          dup.bad_value = absl::StrCat(value);
          errs->push_back(std::move(dup));
        }
        if (j > 0 && req.values(j - 1) > value) ordered = false;
      }
      if (!ordered) {
        errs->push_back(
            InvalidRendered(values_path, GoInt32Slice(req.values()), "must be ordered"));
      }
    }
    if (rule.on_pod_conditions_size() > 0) {
      FieldPath conds_path = rule_path.Child("onPodConditions");
      if (rule.on_pod_conditions_size() > kMaxPodFailurePolicyOnPodConditionsPatterns) {
        errs->push_back(TooMany(conds_path, rule.on_pod_conditions_size(),
                                kMaxPodFailurePolicyOnPodConditionsPatterns));
      }
      for (int j = 0; j < rule.on_pod_conditions_size(); ++j) {
        const PodFailurePolicyOnPodConditionsPattern& p = rule.on_pod_conditions(j);
        FieldPath p_path = conds_path.Index(j);
        Append(errs, InvalidEach(p_path.Child("type"), p.type(), IsQualifiedName(p.type())));
        // An unset status is defaulted to True.
        if (!p.status().empty() &&
            std::find(kStatuses.begin(), kStatuses.end(), p.status()) == kStatuses.end()) {
          errs->push_back(NotSupported(p_path.Child("status"), p.status(), kStatuses));
        }
      }
    }
    if (rule.has_on_exit_codes() && rule.on_pod_conditions_size() > 0) {
      errs->push_back(InvalidRendered(
          rule_path, "", "specifying both OnExitCodes and OnPodConditions is not supported"));
    }
    if (!rule.has_on_exit_codes() && rule.on_pod_conditions_size() == 0) {
      errs->push_back(InvalidRendered(
          rule_path, "", "specifying one of OnExitCodes and OnPodConditions is required"));
    }
  }
}

// parseIndexInterval: "3" or "3-5", each below `completions`.
absl::Status ParseIndexInterval(absl::string_view interval, int64_t completions, int64_t* x,
                                int64_t* y) {
  std::vector<absl::string_view> limits = absl::StrSplit(interval, '-');
  if (limits.size() > 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("the fragment ", QuoteValue(interval),
                     " violates the requirement that an index interval can have at most two "
                     "parts separated by '-'"));
  }
  for (size_t i = 0; i < limits.size(); ++i) {
    bool out_of_range = false;
    std::optional<int64_t> v = GoAtoi(limits[i], &out_of_range);
    if (!v.has_value() || out_of_range) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot convert string to integer for index: ", QuoteValue(limits[i])));
    }
    if (*v >= completions) {
      return absl::InvalidArgumentError(absl::StrCat("too large index: ", QuoteValue(limits[i])));
    }
    (i == 0 ? *x : *y) = *v;
  }
  if (limits.size() == 1) {
    *y = *x;
  } else if (*x >= *y) {
    return absl::InvalidArgumentError(
        absl::StrCat("non-increasing order, previous: ", *x, ", current: ", *y));
  }
  return absl::OkStatus();
}

// validateIndexesFormat: "1,3-5,7", increasing; returns the number of
// indexes.
absl::StatusOr<int64_t> ParseIndexes(absl::string_view indexes, int64_t completions) {
  if (indexes.empty()) return 0;
  std::optional<int64_t> last;
  int64_t total = 0;
  for (absl::string_view interval : absl::StrSplit(indexes, ',')) {
    int64_t x = 0, y = 0;
    absl::Status s = ParseIndexInterval(interval, completions, &x, &y);
    if (!s.ok()) return s;
    if (last.has_value() && *last >= x) {
      return absl::InvalidArgumentError(
          absl::StrCat("non-increasing order, previous: ", *last, ", current: ", x));
    }
    total += y - x + 1;
    last = y;
  }
  return total;
}

void ValidateSuccessPolicy(const JobSpec& spec, const FieldPath& path, FieldErrorList* errs) {
  const SuccessPolicy& policy = spec.success_policy();
  FieldPath rules_path = path.Child("rules");
  if (policy.rules().empty()) {
    errs->push_back(Required(
        rules_path, "at least one rules must be specified when the successPolicy is specified"));
  }
  if (policy.rules_size() > kMaxSuccessPolicyRules) {
    errs->push_back(TooMany(rules_path, policy.rules_size(), kMaxSuccessPolicyRules));
  }
  // Without completions an Indexed Job is already reported; the rules can
  // not be checked against it.
  if (!spec.has_completions()) return;
  const int64_t completions = spec.completions();
  for (int i = 0; i < policy.rules_size(); ++i) {
    const SuccessPolicyRule& rule = policy.rules(i);
    FieldPath rule_path = rules_path.Index(i);
    if (!rule.has_succeeded_count() && !rule.has_succeeded_indexes()) {
      errs->push_back(Required(
          rule_path, "at least one of succeededCount or succeededIndexes must be specified"));
    }
    int64_t total_indexes = 0;
    if (rule.has_succeeded_indexes()) {
      FieldPath indexes_path = rule_path.Child("succeededIndexes");
      if (rule.succeeded_indexes().size() > kMaxSucceededIndexesLength) {
        errs->push_back(TooLong(indexes_path, kMaxSucceededIndexesLength));
      }
      absl::StatusOr<int64_t> parsed = ParseIndexes(rule.succeeded_indexes(), completions);
      if (parsed.ok()) {
        total_indexes = *parsed;
      } else {
        errs->push_back(
            Invalid(indexes_path, rule.succeeded_indexes(),
                    absl::StrCat("error parsing succeededIndexes: ", parsed.status().message())));
      }
    }
    if (rule.has_succeeded_count()) {
      FieldPath count_path = rule_path.Child("succeededCount");
      CheckNonNegative(rule.succeeded_count(), count_path, errs);
      if (rule.succeeded_count() > completions) {
        errs->push_back(Invalid(count_path, rule.succeeded_count(),
                                absl::StrCat("must be less than or equal to ", completions,
                                             " (the number of specified completions)")));
      }
      if (rule.has_succeeded_indexes() && rule.succeeded_count() > total_indexes) {
        errs->push_back(Invalid(
            count_path, rule.succeeded_count(),
            absl::StrCat("must be less than or equal to ", total_indexes,
                         " (the number of indexes in the specified succeededIndexes field)")));
      }
    }
  }
}

void ValidateJobSpec(const JobSpec& spec, const FieldPath& path, FieldErrorList* errs) {
  if (spec.has_parallelism()) CheckNonNegative(spec.parallelism(), path.Child("parallelism"), errs);
  if (spec.has_completions()) CheckNonNegative(spec.completions(), path.Child("completions"), errs);
  if (spec.has_active_deadline_seconds()) {
    CheckNonNegative(spec.active_deadline_seconds(), path.Child("activeDeadlineSeconds"), errs);
  }
  if (spec.has_backoff_limit()) {
    CheckNonNegative(spec.backoff_limit(), path.Child("backoffLimit"), errs);
  }
  if (spec.has_ttl_seconds_after_finished()) {
    CheckNonNegative(spec.ttl_seconds_after_finished(), path.Child("ttlSecondsAfterFinished"),
                     errs);
  }
  if (spec.has_backoff_limit_per_index()) {
    CheckNonNegative(spec.backoff_limit_per_index(), path.Child("backoffLimitPerIndex"), errs);
  }
  if (spec.has_max_failed_indexes()) {
    CheckNonNegative(spec.max_failed_indexes(), path.Child("maxFailedIndexes"), errs);
    if (!spec.has_backoff_limit_per_index()) {
      errs->push_back(
          Required(path.Child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"));
    }
  }
  if (spec.has_managed_by()) {
    FieldPath managed_by = path.Child("managedBy");
    ValidateDomainPrefixedPath(spec.managed_by(), managed_by, errs);
    if (spec.managed_by().size() > kMaxManagedByLength) {
      errs->push_back(TooLong(managed_by, kMaxManagedByLength));
    }
  }

  const bool indexed = spec.completion_mode() == "Indexed";
  if (spec.has_completion_mode()) {
    if (spec.completion_mode() != "NonIndexed" && !indexed) {
      errs->push_back(NotSupported(path.Child("completionMode"), spec.completion_mode(),
                                   {"NonIndexed", "Indexed"}));
    }
    if (indexed) {
      if (!spec.has_completions()) {
        errs->push_back(Required(path.Child("completions"), "when completion mode is Indexed"));
      }
      if (spec.has_parallelism() && spec.parallelism() > kMaxParallelismForIndexedJob) {
        errs->push_back(
            Invalid(path.Child("parallelism"), spec.parallelism(),
                    absl::StrCat("must be less than or equal to ", kMaxParallelismForIndexedJob,
                                 " when completion mode is Indexed")));
      }
      if (spec.has_completions() && spec.has_max_failed_indexes() &&
          spec.max_failed_indexes() > spec.completions()) {
        errs->push_back(Invalid(path.Child("maxFailedIndexes"), spec.max_failed_indexes(),
                                "must be less than or equal to completions"));
      }
      if (spec.has_max_failed_indexes() &&
          spec.max_failed_indexes() > kMaxFailedIndexesForIndexedJob) {
        errs->push_back(Invalid(
            path.Child("maxFailedIndexes"), spec.max_failed_indexes(),
            absl::StrCat("must be less than or equal to ", kMaxFailedIndexesForIndexedJob)));
      }
      if (spec.has_completions() && spec.completions() > kCompletionsSoftLimit &&
          spec.has_backoff_limit_per_index()) {
        const std::string suffix =
            absl::StrCat(" when completions are above ", kCompletionsSoftLimit,
                         " and used with backoff limit per index");
        if (!spec.has_max_failed_indexes()) {
          errs->push_back(Required(
              path.Child("maxFailedIndexes"),
              absl::StrCat("must be specified when completions is above ", kCompletionsSoftLimit)));
        }
        if (spec.has_parallelism() && spec.parallelism() > kParallelismLimitForHighCompletions) {
          errs->push_back(Invalid(path.Child("parallelism"), spec.parallelism(),
                                  absl::StrCat("must be less than or equal to ",
                                               kParallelismLimitForHighCompletions, suffix)));
        }
        if (spec.has_max_failed_indexes() &&
            spec.max_failed_indexes() > kMaxFailedIndexesLimitForHighCompletions) {
          errs->push_back(Invalid(path.Child("maxFailedIndexes"), spec.max_failed_indexes(),
                                  absl::StrCat("must be less than or equal to ",
                                               kMaxFailedIndexesLimitForHighCompletions, suffix)));
        }
      }
    }
  }
  if (!spec.has_completion_mode() || spec.completion_mode() == "NonIndexed") {
    if (spec.has_backoff_limit_per_index()) {
      errs->push_back(Invalid(path.Child("backoffLimitPerIndex"), spec.backoff_limit_per_index(),
                              "requires indexed completion mode"));
    }
    if (spec.has_max_failed_indexes()) {
      errs->push_back(Invalid(path.Child("maxFailedIndexes"), spec.max_failed_indexes(),
                              "requires indexed completion mode"));
    }
  }

  if (spec.has_pod_failure_policy()) {
    ValidatePodFailurePolicy(spec, path.Child("podFailurePolicy"), errs);
  }
  if (spec.has_success_policy()) {
    if (!indexed) {
      errs->push_back(
          InvalidRendered(path.Child("successPolicy"), "", "requires indexed completion mode"));
    } else {
      ValidateSuccessPolicy(spec, path.Child("successPolicy"), errs);
    }
  }
  if (spec.has_pod_replacement_policy()) {
    FieldPath prp = path.Child("podReplacementPolicy");
    const std::string& policy = spec.pod_replacement_policy();
    if (spec.has_pod_failure_policy()) {
      if (policy != "Failed") errs->push_back(NotSupported(prp, policy, {"Failed"}));
    } else if (policy != "Failed" && policy != "TerminatingOrFailed") {
      errs->push_back(NotSupported(prp, policy, {"Failed", "TerminatingOrFailed"}));
    }
  }

  FieldPath tmpl_path = path.Child("template");
  Append(errs, ValidatePodTemplateSpec(spec.template_(), tmpl_path));
  // Pods default to Always, which a Job cannot use: both unset and Always
  // ask for a choice.
  const std::string& restart = spec.template_().spec().restart_policy();
  FieldPath restart_path = tmpl_path.Child("spec").Child("restartPolicy");
  if (restart.empty() || restart == "Always") {
    errs->push_back(Required(restart_path, "valid values: \"OnFailure\", \"Never\""));
  } else if (restart != "OnFailure" && restart != "Never") {
    errs->push_back(NotSupported(restart_path, restart, {"OnFailure", "Never"}));
  } else if (spec.has_pod_failure_policy() && restart != "Never") {
    errs->push_back(Invalid(restart_path, restart,
                            "only \"Never\" is supported when podFailurePolicy is specified"));
  }

  // The API server generates a selector when there is none; one given by
  // the user must select the template's pods.
  if (spec.has_selector()) {
    FieldPath selector_path = path.Child("selector");
    Append(errs, ValidateLabelSelector(spec.selector(), selector_path));
    absl::StatusOr<Selector> selector = Selector::FromProto(spec.selector(), selector_path);
    if (selector.ok() && !selector->Matches(spec.template_().metadata().labels())) {
      errs->push_back(InvalidRendered(tmpl_path.Child("metadata").Child("labels"),
                                      GoStringMap(spec.template_().metadata().labels()),
                                      kSelectorMismatch));
    }
  }
}

// ---------------------------------------------------------------------------
// RBAC

void ValidatePolicyRule(const PolicyRule& rule, bool namespaced, const FieldPath& path,
                        FieldErrorList* errs) {
  if (rule.verbs().empty()) {
    errs->push_back(Required(path.Child("verbs"), "verbs must contain at least one value"));
  }
  if (!rule.non_resource_urls().empty()) {
    FieldPath urls = path.Child("nonResourceURLs");
    if (namespaced) {
      errs->push_back(InvalidRendered(urls, GoStringSlice(rule.non_resource_urls()),
                                      "namespaced rules cannot apply to non-resource URLs"));
    }
    if (!rule.api_groups().empty() || !rule.resources().empty() || !rule.resource_names().empty()) {
      errs->push_back(
          InvalidRendered(urls, GoStringSlice(rule.non_resource_urls()),
                          "rules cannot apply to both regular resources and non-resource URLs"));
    }
    return;
  }
  if (rule.api_groups().empty()) {
    errs->push_back(
        Required(path.Child("apiGroups"), "resource rules must supply at least one api group"));
  }
  if (rule.resources().empty()) {
    errs->push_back(
        Required(path.Child("resources"), "resource rules must supply at least one resource"));
  }
}

void ValidateRoleRef(const RoleRef& ref, bool cluster_binding, FieldErrorList* errs) {
  FieldPath path("roleRef");
  // An unset apiGroup is defaulted to rbac.authorization.k8s.io.
  if (!ref.api_group().empty() && ref.api_group() != kRbacGroup) {
    errs->push_back(NotSupported(path.Child("apiGroup"), ref.api_group(), {kRbacGroup}));
  }
  if (cluster_binding) {
    if (ref.kind() != "ClusterRole") {
      errs->push_back(NotSupported(path.Child("kind"), ref.kind(), {"ClusterRole"}));
    }
  } else if (ref.kind() != "Role" && ref.kind() != "ClusterRole") {
    errs->push_back(NotSupported(path.Child("kind"), ref.kind(), {"Role", "ClusterRole"}));
  }
  if (ref.name().empty()) {
    errs->push_back(Required(path.Child("name")));
  } else {
    Append(errs, ValidateName(ref.name(), NameRule::kPathSegment, path.Child("name")));
  }
}

void ValidateSubject(const Subject& subject, bool namespaced, const FieldPath& path,
                     FieldErrorList* errs) {
  if (subject.name().empty()) errs->push_back(Required(path.Child("name")));
  const std::string& kind = subject.kind();
  if (kind == "ServiceAccount") {
    if (!subject.name().empty()) {
      Append(errs,
             InvalidEach(path.Child("name"), subject.name(), IsDNS1123Subdomain(subject.name())));
    }
    if (!subject.api_group().empty()) {
      errs->push_back(NotSupported(path.Child("apiGroup"), subject.api_group(), {""}));
    }
    if (!namespaced && subject.namespace_().empty()) {
      errs->push_back(Required(path.Child("namespace")));
    }
  } else if (kind == "User" || kind == "Group") {
    // An unset apiGroup is defaulted to rbac.authorization.k8s.io.
    if (!subject.api_group().empty() && subject.api_group() != kRbacGroup) {
      errs->push_back(NotSupported(path.Child("apiGroup"), subject.api_group(), {kRbacGroup}));
    }
  } else {
    errs->push_back(NotSupported(path.Child("kind"), kind, {"ServiceAccount", "User", "Group"}));
  }
}

// ---------------------------------------------------------------------------
// EndpointSlice

constexpr int kMaxEndpoints = 1000;
constexpr int kMaxAddresses = 100;
constexpr int kMaxPorts = 100;
constexpr int kMaxZoneHints = 8;

// An IP address as Go's net.ParseIP (IPv4 components may have leading
// zeros, as with Kubernetes' ParseIPSloppy), in 16-byte form.
struct ParsedIP {
  std::array<uint8_t, 16> bytes{};
  // IPv4, or IPv4-mapped IPv6 (Go's To4() != nil).
  bool is4 = false;
};

std::optional<ParsedIP> ParseIP(absl::string_view s) {
  ParsedIP ip;
  if (s.find(':') == absl::string_view::npos) {
    std::vector<absl::string_view> parts = absl::StrSplit(s, '.');
    if (parts.size() != 4) return std::nullopt;
    ip.bytes[10] = ip.bytes[11] = 0xff;
    for (int i = 0; i < 4; ++i) {
      if (parts[i].empty()) return std::nullopt;
      int v = 0;
      for (char c : parts[i]) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + (c - '0');
        if (v > 255) return std::nullopt;
      }
      ip.bytes[12 + i] = static_cast<uint8_t>(v);
    }
    ip.is4 = true;
    return ip;
  }
  std::string copy(s);
  if (inet_pton(AF_INET6, copy.c_str(), ip.bytes.data()) != 1) return std::nullopt;
  static constexpr uint8_t kV4InV6Prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  ip.is4 = std::memcmp(ip.bytes.data(), kV4InV6Prefix, sizeof(kV4InV6Prefix)) == 0;
  return ip;
}

// apivalidation.ValidateEndpointIP.
void ValidateEndpointIP(absl::string_view address, const FieldPath& path, FieldErrorList* errs) {
  std::optional<ParsedIP> ip = ParseIP(address);
  if (!ip.has_value()) {
    errs->push_back(Invalid(path, address, "must be a valid IP address"));
    return;
  }
  const std::array<uint8_t, 16>& b = ip->bytes;
  bool unspecified, loopback, link_local, link_local_multicast;
  if (ip->is4) {
    unspecified = b[12] == 0 && b[13] == 0 && b[14] == 0 && b[15] == 0;
    loopback = b[12] == 127;
    link_local = b[12] == 169 && b[13] == 254;
    link_local_multicast = b[12] == 224 && b[13] == 0 && b[14] == 0;
  } else {
    bool all_zero_but_last = std::all_of(b.begin(), b.end() - 1, [](uint8_t x) { return x == 0; });
    unspecified = all_zero_but_last && b[15] == 0;
    loopback = all_zero_but_last && b[15] == 1;
    link_local = b[0] == 0xfe && (b[1] & 0xc0) == 0x80;
    link_local_multicast = b[0] == 0xff && (b[1] & 0x0f) == 0x02;
  }
  if (unspecified) {
    errs->push_back(Invalid(path, address, absl::StrCat("may not be unspecified (", address, ")")));
  }
  if (loopback) {
    errs->push_back(
        Invalid(path, address, "may not be in the loopback range (127.0.0.0/8, ::1/128)"));
  }
  if (link_local) {
    errs->push_back(
        Invalid(path, address, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"));
  }
  if (link_local_multicast) {
    errs->push_back(Invalid(
        path, address, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"));
  }
}

// validation.IsFullyQualifiedDomainName.
void ValidateFQDN(absl::string_view name, const FieldPath& path, FieldErrorList* errs) {
  if (name.empty()) {
    errs->push_back(Required(path));
    return;
  }
  if (absl::EndsWith(name, ".")) name.remove_suffix(1);
  std::vector<std::string> msgs = IsDNS1123Subdomain(name);
  if (!msgs.empty()) {
    errs->push_back(Invalid(path, name, absl::StrJoin(msgs, ",")));
    return;
  }
  std::vector<absl::string_view> labels = absl::StrSplit(name, '.');
  if (labels.size() < 2) {
    errs->push_back(
        Invalid(path, name, "should be a domain with at least two segments separated by dots"));
    return;
  }
  for (absl::string_view label : labels) {
    msgs = IsDNS1123Label(label);
    if (!msgs.empty()) {
      errs->push_back(Invalid(path, label, absl::StrJoin(msgs, ",")));
      return;
    }
  }
}

void ValidateEndpoint(const DiscoveryEndpoint& ep, absl::string_view address_type,
                      const FieldPath& path, FieldErrorList* errs) {
  FieldPath addresses = path.Child("addresses");
  if (ep.addresses().empty()) {
    errs->push_back(Required(addresses, "must contain at least 1 address"));
  } else if (ep.addresses_size() > kMaxAddresses) {
    errs->push_back(TooMany(addresses, ep.addresses_size(), kMaxAddresses));
  }
  for (int i = 0; i < ep.addresses_size(); ++i) {
    const std::string& address = ep.addresses(i);
    FieldPath p = addresses.Index(i);
    // Addresses of an unknown type are not checked; the type is reported.
    if (address_type == "IPv4") {
      std::optional<ParsedIP> ip = ParseIP(address);
      if (!ip.has_value() || !ip->is4) {
        errs->push_back(Invalid(p, address, "must be a valid IPv4 address"));
      }
      ValidateEndpointIP(address, p, errs);
    } else if (address_type == "IPv6") {
      std::optional<ParsedIP> ip = ParseIP(address);
      if (!ip.has_value() || ip->is4) {
        errs->push_back(Invalid(p, address, "must be a valid IPv6 address"));
      }
      ValidateEndpointIP(address, p, errs);
    } else if (address_type == "FQDN") {
      ValidateFQDN(address, p, errs);
    }
  }
  if (ep.has_node_name()) {
    Append(errs,
           InvalidEach(path.Child("nodeName"), ep.node_name(), IsDNS1123Subdomain(ep.node_name())));
  }
  if (ep.has_hostname()) {
    Append(errs, InvalidEach(path.Child("hostname"), ep.hostname(), IsDNS1123Label(ep.hostname())));
  }
  if (ep.has_hints()) {
    FieldPath zones = path.Child("hints").Child("forZones");
    if (ep.hints().for_zones_size() > kMaxZoneHints) {
      errs->push_back(TooMany(zones, ep.hints().for_zones_size(), kMaxZoneHints));
      return;
    }
    absl::flat_hash_set<std::string> seen;
    for (int i = 0; i < ep.hints().for_zones_size(); ++i) {
      const std::string& zone = ep.hints().for_zones(i).name();
      FieldPath p = zones.Index(i).Child("name");
      if (!seen.insert(zone).second) errs->push_back(Duplicate(p, zone));
      Append(errs, InvalidEach(p, zone, IsValidLabelValue(zone)));
    }
  }
}

void ValidateEndpointSlicePorts(const EndpointSlice& slice, FieldErrorList* errs) {
  FieldPath path("ports");
  if (slice.ports_size() > kMaxPorts) {
    errs->push_back(TooMany(path, slice.ports_size(), kMaxPorts));
    return;
  }
  absl::flat_hash_set<std::string> names;
  for (int i = 0; i < slice.ports_size(); ++i) {
    const DiscoveryEndpointPort& port = slice.ports(i);
    FieldPath p = path.Index(i);
    if (!port.name().empty()) {
      Append(errs, InvalidEach(p.Child("name"), port.name(), IsDNS1123Label(port.name())));
    }
    if (!names.insert(port.name()).second) errs->push_back(Duplicate(p.Child("name"), port.name()));
    // An unset protocol is defaulted to TCP.
    if (port.has_protocol() && port.protocol() != "TCP" && port.protocol() != "UDP" &&
        port.protocol() != "SCTP") {
      errs->push_back(NotSupported(p.Child("protocol"), port.protocol(), {"SCTP", "TCP", "UDP"}));
    }
    // An unset port means all ports.
    if (port.has_port() && (port.port() < 1 || port.port() > 65535)) {
      errs->push_back(Invalid(p.Child("port"), port.port(), InclusiveRangeError(1, 65535)));
    }
    if (port.has_app_protocol()) {
      Append(errs, InvalidEach(p.Child("appProtocol"), port.app_protocol(),
                               IsQualifiedName(port.app_protocol())));
    }
  }
}

// ---------------------------------------------------------------------------
// PriorityClass

constexpr int32_t kHighestUserDefinablePriority = 1000000000;
constexpr absl::string_view kSystemPriorityClassPrefix = "system-";

// schedulingapiv1.IsKnownSystemPriorityClass: OK, or why not.
absl::Status CheckKnownSystemPriorityClass(const PriorityClass& pc) {
  struct Known {
    absl::string_view name;
    int32_t value;
  };
  static constexpr Known kKnown[] = {
      {"system-node-critical", 2 * kHighestUserDefinablePriority + 1000},
      {"system-cluster-critical", 2 * kHighestUserDefinablePriority},
  };
  const std::string& name = pc.metadata().name();
  for (const Known& k : kKnown) {
    if (k.name != name) continue;
    if (pc.value() != k.value) {
      return absl::InvalidArgumentError(
          absl::StrCat("value of ", k.name, " PriorityClass must be ", k.value));
    }
    if (pc.global_default()) {
      return absl::InvalidArgumentError(
          absl::StrCat("globalDefault of ", k.name, " PriorityClass must be false"));
    }
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(name, " is not a known system priority class"));
}

}  // namespace

// ---------------------------------------------------------------------------
// apps/v1

FieldErrorList ValidateDeployment(const Deployment& d) {
  FieldErrorList errs =
      ValidateObjectMeta(d.metadata(), true, NameRule::kDNS1123Subdomain, FieldPath("metadata"));
  const DeploymentSpec& spec = d.spec();
  FieldPath path("spec");
  if (spec.has_replicas()) CheckNonNegative(spec.replicas(), path.Child("replicas"), &errs);
  std::optional<Selector> selector =
      ValidateWorkloadSelector(spec.has_selector(), spec.selector(), "deployment",
                               "invalid label selector", path.Child("selector"), &errs);
  CheckSelectorMatchesTemplate(selector, spec.template_(), path.Child("template"), &errs);
  ValidateLongRunningTemplate(spec.template_(), "ReplicaSet", path.Child("template"), &errs);
  ValidateDeploymentStrategy(spec.strategy(), path.Child("strategy"), &errs);
  if (spec.has_min_ready_seconds()) {
    CheckNonNegative(spec.min_ready_seconds(), path.Child("minReadySeconds"), &errs);
  }
  if (spec.has_revision_history_limit()) {
    CheckNonNegative(spec.revision_history_limit(), path.Child("revisionHistoryLimit"), &errs);
  }
  if (spec.has_progress_deadline_seconds()) {
    FieldPath pds = path.Child("progressDeadlineSeconds");
    CheckNonNegative(spec.progress_deadline_seconds(), pds, &errs);
    if (spec.progress_deadline_seconds() <= spec.min_ready_seconds()) {
      errs.push_back(
          Invalid(pds, spec.progress_deadline_seconds(), "must be greater than minReadySeconds"));
    }
  }
  return errs;
}

FieldErrorList ValidateReplicaSet(const ReplicaSet& rs) {
  FieldErrorList errs =
      ValidateObjectMeta(rs.metadata(), true, NameRule::kDNS1123Subdomain, FieldPath("metadata"));
  const ReplicaSetSpec& spec = rs.spec();
  FieldPath path("spec");
  if (spec.has_replicas()) CheckNonNegative(spec.replicas(), path.Child("replicas"), &errs);
  if (spec.has_min_ready_seconds()) {
    CheckNonNegative(spec.min_ready_seconds(), path.Child("minReadySeconds"), &errs);
  }
  // Kubernetes says "deployment" here too.
  std::optional<Selector> selector =
      ValidateWorkloadSelector(spec.has_selector(), spec.selector(), "deployment",
                               "invalid label selector", path.Child("selector"), &errs);
  CheckSelectorMatchesTemplate(selector, spec.template_(), path.Child("template"), &errs);
  ValidateLongRunningTemplate(spec.template_(), "ReplicaSet", path.Child("template"), &errs);
  return errs;
}

FieldErrorList ValidateDaemonSet(const DaemonSet& ds) {
  FieldErrorList errs =
      ValidateObjectMeta(ds.metadata(), true, NameRule::kDNS1123Subdomain, FieldPath("metadata"));
  const DaemonSetSpec& spec = ds.spec();
  FieldPath path("spec");
  std::optional<Selector> selector =
      ValidateWorkloadSelector(spec.has_selector(), spec.selector(), "daemonset", std::nullopt,
                               path.Child("selector"), &errs);
  CheckSelectorMatchesTemplate(selector, spec.template_(), path.Child("template"), &errs);
  ValidateLongRunningTemplate(spec.template_(), "DaemonSet", path.Child("template"), &errs);
  if (spec.has_min_ready_seconds()) {
    CheckNonNegative(spec.min_ready_seconds(), path.Child("minReadySeconds"), &errs);
  }
  ValidateDaemonSetUpdateStrategy(spec.update_strategy(), path.Child("updateStrategy"), &errs);
  if (spec.has_revision_history_limit()) {
    CheckNonNegative(spec.revision_history_limit(), path.Child("revisionHistoryLimit"), &errs);
  }
  return errs;
}

FieldErrorList ValidateStatefulSet(const StatefulSet& ss) {
  // StatefulSet names become pod hostnames: DNS labels.
  FieldErrorList errs =
      ValidateObjectMeta(ss.metadata(), true, NameRule::kDNS1123Label, FieldPath("metadata"));
  const StatefulSetSpec& spec = ss.spec();
  FieldPath path("spec");
  const std::string& policy = spec.pod_management_policy();
  if (!policy.empty() && policy != "OrderedReady" && policy != "Parallel") {
    errs.push_back(
        Invalid(path.Child("podManagementPolicy"), policy, "must be 'OrderedReady' or 'Parallel'"));
  }
  ValidateStatefulSetUpdateStrategy(spec.update_strategy(), path.Child("updateStrategy"), &errs);
  if (spec.has_persistent_volume_claim_retention_policy()) {
    const StatefulSetPersistentVolumeClaimRetentionPolicy& p =
        spec.persistent_volume_claim_retention_policy();
    FieldPath pp = path.Child("persistentVolumeClaimRetentionPolicy");
    ValidatePVCRetentionPolicyType(p.when_deleted(), pp.Child("whenDeleted"), &errs);
    ValidatePVCRetentionPolicyType(p.when_scaled(), pp.Child("whenScaled"), &errs);
  }
  if (spec.has_replicas()) CheckNonNegative(spec.replicas(), path.Child("replicas"), &errs);
  if (spec.has_min_ready_seconds()) {
    CheckNonNegative(spec.min_ready_seconds(), path.Child("minReadySeconds"), &errs);
  }
  if (spec.has_ordinals()) {
    CheckNonNegative(spec.ordinals().start(), path.Child("ordinals").Child("start"), &errs);
  }
  if (!spec.service_name().empty()) {
    Append(&errs, InvalidEach(path.Child("serviceName"), spec.service_name(),
                              IsDNS1123Label(spec.service_name())));
  }
  std::optional<Selector> selector = ValidateWorkloadSelector(
      spec.has_selector(), spec.selector(), "statefulset", "", path.Child("selector"), &errs);
  CheckSelectorMatchesTemplate(selector, spec.template_(), path.Child("template"), &errs);
  ValidateLongRunningTemplate(spec.template_(), "StatefulSet", path.Child("template"), &errs);
  return errs;
}

// ---------------------------------------------------------------------------
// batch/v1

FieldErrorList ValidateJob(const Job& job) {
  FieldErrorList errs =
      ValidateObjectMeta(job.metadata(), true, NameRule::kDNS1123Subdomain, FieldPath("metadata"));
  ValidateJobSpec(job.spec(), FieldPath("spec"), &errs);
  // The pods of an Indexed Job are named <job>-<index>: the largest must be
  // a DNS label.
  const JobSpec& spec = job.spec();
  if (spec.completion_mode() == "Indexed" && spec.has_completions() && spec.completions() > 0 &&
      !job.metadata().name().empty()) {
    std::string hostname = absl::StrCat(job.metadata().name(), "-", spec.completions() - 1);
    if (!IsDNS1123Label(hostname).empty()) {
      errs.push_back(
          Invalid(FieldPath("metadata").Child("name"), job.metadata().name(),
                  absl::StrCat("will not able to create pod with invalid DNS label: ", hostname)));
    }
  }
  return errs;
}

// ---------------------------------------------------------------------------
// rbac.authorization.k8s.io/v1

FieldErrorList ValidateRole(const Role& role) {
  FieldErrorList errs =
      ValidateObjectMeta(role.metadata(), true, NameRule::kPathSegment, FieldPath("metadata"));
  for (int i = 0; i < role.rules_size(); ++i) {
    ValidatePolicyRule(role.rules(i), /*namespaced=*/true, FieldPath("rules").Index(i), &errs);
  }
  return errs;
}

FieldErrorList ValidateClusterRole(const ClusterRole& role) {
  FieldErrorList errs =
      ValidateObjectMeta(role.metadata(), false, NameRule::kPathSegment, FieldPath("metadata"));
  for (int i = 0; i < role.rules_size(); ++i) {
    ValidatePolicyRule(role.rules(i), /*namespaced=*/false, FieldPath("rules").Index(i), &errs);
  }
  if (role.has_aggregation_rule()) {
    FieldPath selectors = FieldPath("aggregationRule").Child("clusterRoleSelectors");
    const AggregationRule& rule = role.aggregation_rule();
    if (rule.cluster_role_selectors().empty()) {
      errs.push_back(Required(
          selectors, "at least one clusterRoleSelector required if aggregationRule is non-nil"));
    }
    for (int i = 0; i < rule.cluster_role_selectors_size(); ++i) {
      FieldPath p = selectors.Index(i);
      Append(&errs, ValidateLabelSelector(rule.cluster_role_selectors(i), p));
      if (!Selector::FromProto(rule.cluster_role_selectors(i), p).ok()) {
        // Kubernetes prints the (nil) compiled selector here.
        errs.push_back(Invalid(p, "null", "invalid label selector."));
      }
    }
  }
  return errs;
}

FieldErrorList ValidateRoleBinding(const RoleBinding& binding) {
  FieldErrorList errs =
      ValidateObjectMeta(binding.metadata(), true, NameRule::kPathSegment, FieldPath("metadata"));
  ValidateRoleRef(binding.role_ref(), /*cluster_binding=*/false, &errs);
  for (int i = 0; i < binding.subjects_size(); ++i) {
    ValidateSubject(binding.subjects(i), /*namespaced=*/true, FieldPath("subjects").Index(i),
                    &errs);
  }
  return errs;
}

FieldErrorList ValidateClusterRoleBinding(const ClusterRoleBinding& binding) {
  FieldErrorList errs =
      ValidateObjectMeta(binding.metadata(), false, NameRule::kPathSegment, FieldPath("metadata"));
  ValidateRoleRef(binding.role_ref(), /*cluster_binding=*/true, &errs);
  for (int i = 0; i < binding.subjects_size(); ++i) {
    ValidateSubject(binding.subjects(i), /*namespaced=*/false, FieldPath("subjects").Index(i),
                    &errs);
  }
  return errs;
}

// ---------------------------------------------------------------------------
// coordination.k8s.io/v1

FieldErrorList ValidateLease(const Lease& lease) {
  FieldErrorList errs = ValidateObjectMeta(lease.metadata(), true, NameRule::kDNS1123Subdomain,
                                           FieldPath("metadata"));
  const LeaseSpec& spec = lease.spec();
  FieldPath path("spec");
  if (spec.has_lease_duration_seconds() && spec.lease_duration_seconds() <= 0) {
    errs.push_back(Invalid(path.Child("leaseDurationSeconds"), spec.lease_duration_seconds(),
                           "must be greater than 0"));
  }
  if (spec.has_lease_transitions()) {
    CheckNonNegative(spec.lease_transitions(), path.Child("leaseTransitions"), &errs);
  }
  return errs;
}

// ---------------------------------------------------------------------------
// scheduling.k8s.io/v1

FieldErrorList ValidatePriorityClass(const PriorityClass& pc) {
  FieldErrorList errs =
      ValidateObjectMeta(pc.metadata(), false, NameRule::kDNS1123Subdomain, FieldPath("metadata"));
  if (absl::StartsWith(pc.metadata().name(), kSystemPriorityClassPrefix)) {
    absl::Status known = CheckKnownSystemPriorityClass(pc);
    if (!known.ok()) {
      errs.push_back(Forbidden(
          FieldPath("metadata").Child("name"),
          absl::StrCat("priority class names with '", kSystemPriorityClassPrefix,
                       "' prefix are reserved for system use only. error: ", known.message())));
    }
  } else if (pc.value() > kHighestUserDefinablePriority) {
    errs.push_back(Forbidden(FieldPath("value"),
                             absl::StrCat("maximum allowed value of a user defined priority is ",
                                          kHighestUserDefinablePriority)));
  }
  if (pc.has_preemption_policy()) {
    FieldPath p("preemptionPolicy");
    const std::string& policy = pc.preemption_policy();
    if (policy.empty()) {
      errs.push_back(Required(p));
    } else if (policy != "PreemptLowerPriority" && policy != "Never") {
      errs.push_back(NotSupported(p, policy, {"PreemptLowerPriority", "Never"}));
    }
  }
  return errs;
}

// ---------------------------------------------------------------------------
// discovery.k8s.io/v1

FieldErrorList ValidateEndpointSlice(const EndpointSlice& slice) {
  FieldErrorList errs = ValidateObjectMeta(slice.metadata(), true, NameRule::kDNS1123Subdomain,
                                           FieldPath("metadata"));
  const std::string& type = slice.address_type();
  if (type.empty()) {
    errs.push_back(Required(FieldPath("addressType")));
  } else if (type != "IPv4" && type != "IPv6" && type != "FQDN") {
    errs.push_back(NotSupported(FieldPath("addressType"), type, {"FQDN", "IPv4", "IPv6"}));
  }
  FieldPath endpoints("endpoints");
  if (slice.endpoints_size() > kMaxEndpoints) {
    errs.push_back(TooMany(endpoints, slice.endpoints_size(), kMaxEndpoints));
  } else {
    for (int i = 0; i < slice.endpoints_size(); ++i) {
      ValidateEndpoint(slice.endpoints(i), type, endpoints.Index(i), &errs);
    }
  }
  ValidateEndpointSlicePorts(slice, &errs);
  return errs;
}

// ---------------------------------------------------------------------------
// autoscaling/v1

FieldErrorList ValidateScale(const Scale& scale) {
  FieldErrorList errs = ValidateObjectMeta(scale.metadata(), true, NameRule::kDNS1123Subdomain,
                                           FieldPath("metadata"));
  if (scale.spec().replicas() < 0) {
    errs.push_back(
        Invalid(FieldPath("spec").Child("replicas"), scale.spec().replicas(), kIsNegativeErrorMsg));
  }
  return errs;
}

}  // namespace korch::api
