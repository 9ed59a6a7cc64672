// Helpers shared by the node plugins (NodeUnschedulable, TaintToleration,
// NodeResourcesFit, NodeResourcesBalancedAllocation, NodeAffinity,
// ImageLocality, DefaultPreemption): toleration matching, score
// normalization, resource names, and strict decoding of plugin args.
#ifndef KORCH_LIB_SCHEDULER_PLUGINS_NODE_PLUGIN_UTIL_H_
#define KORCH_LIB_SCHEDULER_PLUGINS_NODE_PLUGIN_UTIL_H_

#include <cstdint>
#include <initializer_list>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "korch/api/core.pb.h"
#include "korch/api/field_errors.h"
#include "korch/scheduler/framework.h"
#include "nlohmann/json.hpp"

namespace korch::scheduler::plugins {

// Kubernetes' Toleration.ToleratesTaint: the effect and key match when the
// toleration names them (empty matches any), then operator Exists matches
// any value and Equal (or empty) needs the same value.
bool ToleratesTaint(const api::Toleration& toleration, absl::string_view taint_key,
                    absl::string_view taint_value, absl::string_view taint_effect);
inline bool ToleratesTaint(const api::Toleration& toleration, const api::Taint& taint) {
  return ToleratesTaint(toleration, taint.key(), taint.value(), taint.effect());
}
// Whether any of `tolerations` tolerates the taint.
bool AnyToleratesTaint(const google::protobuf::RepeatedPtrField<api::Toleration>& tolerations,
                       absl::string_view taint_key, absl::string_view taint_value,
                       absl::string_view taint_effect);

// A copy of a status made once per (code, reason) site: Filter returns it
// for every node it rejects, and copies share the reason, so a rejection
// allocates nothing. Use as
//   static const PluginStatus& kRejected = *new PluginStatus(...);
//   return kRejected;
// (never freed: plugins may run until the process exits).

// Kubernetes' helper.DefaultNormalizeScore: scales scores so that the
// largest becomes `max_priority` (all stay 0 when the largest is 0), and
// with `reverse` maps s to max_priority - s (all become max_priority when
// the largest is 0).
void DefaultNormalizeScore(int64_t max_priority, bool reverse, absl::Span<NodeScore> scores);

// Resource names (k8s.io/api/core/v1 helper): an extended resource has a
// domain prefix outside kubernetes.io and is not a quota "requests." name.
bool IsExtendedResourceName(absl::string_view name);

// Strict JSON decoding of plugin args. Errors are kInvalidArgument and
// name the field under `<kind>.` ("NodeResourcesFitArgs.scoringStrategy.
// type: Unsupported value: ...").
class ArgsDecoder {
 public:
  explicit ArgsDecoder(absl::string_view kind) : kind_(kind) {}

  // Parses `args_json` ("" or "null" is an empty object) and checks that it
  // is an object; apiVersion is accepted, kind must be `kind` if present.
  absl::StatusOr<nlohmann::json> Parse(absl::string_view args_json) const;
  // kInvalidArgument "<kind>.<path>.<key>: unknown field" for a key of
  // `object` not in `known`.
  absl::Status CheckKnown(const nlohmann::json& object, const api::FieldPath& path,
                          std::initializer_list<absl::string_view> known) const;
  // Type checks: "<kind>.<path>: Invalid value: ...: must be a string".
  absl::Status ExpectString(const nlohmann::json& value, const api::FieldPath& path) const;
  absl::Status ExpectInteger(const nlohmann::json& value, const api::FieldPath& path) const;
  absl::Status ExpectArray(const nlohmann::json& value, const api::FieldPath& path) const;
  absl::Status ExpectObject(const nlohmann::json& value, const api::FieldPath& path) const;
  // The errors as one status ("<kind>.a: ..." or "<kind>: [a: ..., b: ...]").
  absl::Status Errors(const api::FieldErrorList& errors) const;
  // The path of a field under the args root.
  api::FieldPath Root() const { return api::FieldPath(kind_); }

 private:
  std::string kind_;
};

// For plugins without args: "" and {} are fine, any field is unknown.
absl::Status CheckNoArgs(absl::string_view args_json, absl::string_view kind);

}  // namespace korch::scheduler::plugins

#endif  // KORCH_LIB_SCHEDULER_PLUGINS_NODE_PLUGIN_UTIL_H_
