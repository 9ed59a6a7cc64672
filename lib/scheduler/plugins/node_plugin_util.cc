#include "scheduler/plugins/node_plugin_util.h"

#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace korch::scheduler::plugins {

bool ToleratesTaint(const api::Toleration& toleration, absl::string_view taint_key,
                    absl::string_view taint_value, absl::string_view taint_effect) {
  if (!toleration.effect().empty() && toleration.effect() != taint_effect) return false;
  if (!toleration.key().empty() && toleration.key() != taint_key) return false;
  const std::string& op = toleration.operator_();
  if (op.empty() || op == "Equal") return toleration.value() == taint_value;
  return op == "Exists";
}

bool AnyToleratesTaint(const google::protobuf::RepeatedPtrField<api::Toleration>& tolerations,
                       absl::string_view taint_key, absl::string_view taint_value,
                       absl::string_view taint_effect) {
  for (const api::Toleration& t : tolerations) {
    if (ToleratesTaint(t, taint_key, taint_value, taint_effect)) return true;
  }
  return false;
}

void DefaultNormalizeScore(int64_t max_priority, bool reverse, absl::Span<NodeScore> scores) {
  int64_t max_count = 0;
  for (const NodeScore& s : scores) max_count = std::max(max_count, s.score);
  if (max_count == 0) {
    if (reverse) {
      for (NodeScore& s : scores) s.score = max_priority;
    }
    return;
  }
  for (NodeScore& s : scores) {
    int64_t score = max_priority * s.score / max_count;
    s.score = reverse ? max_priority - score : score;
  }
}

bool IsExtendedResourceName(absl::string_view name) {
  if (!absl::StrContains(name, '/')) return false;              // native: cpu, memory, ...
  if (absl::StrContains(name, "kubernetes.io/")) return false;  // prefixed native
  return !absl::StartsWith(name, "requests.");                  // quota names
}

// ---------------------------------------------------------------------------
// ArgsDecoder
// ---------------------------------------------------------------------------

absl::StatusOr<nlohmann::json> ArgsDecoder::Parse(absl::string_view args_json) const {
  if (args_json.empty()) return nlohmann::json::object();
  nlohmann::json parsed = nlohmann::json::parse(args_json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(kind_, ": args are not valid JSON"));
  }
  if (parsed.is_null()) return nlohmann::json::object();
  if (!parsed.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(kind_, ": args must be an object"));
  }
  if (auto it = parsed.find("kind"); it != parsed.end()) {
    if (!it->is_string() || it->get_ref<const std::string&>() != kind_) {
      return Errors(
          {api::NotSupported(Root().Child("kind"),
                             it->is_string() ? it->get_ref<const std::string&>() : "", {kind_})});
    }
  }
  return parsed;
}

absl::Status ArgsDecoder::CheckKnown(const nlohmann::json& object, const api::FieldPath& path,
                                     std::initializer_list<absl::string_view> known) const {
  for (auto it = object.begin(); it != object.end(); ++it) {
    const std::string& key = it.key();
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    if (path.str() == kind_ && (key == "apiVersion" || key == "kind")) continue;
    return absl::InvalidArgumentError(absl::StrCat(path.Child(key).str(), ": unknown field"));
  }
  return absl::OkStatus();
}

absl::Status ArgsDecoder::ExpectString(const nlohmann::json& value,
                                       const api::FieldPath& path) const {
  if (value.is_string()) return absl::OkStatus();
  return Errors({api::InvalidRendered(path, value.dump(), "must be a string")});
}

absl::Status ArgsDecoder::ExpectInteger(const nlohmann::json& value,
                                        const api::FieldPath& path) const {
  if (value.is_number_integer()) return absl::OkStatus();
  return Errors({api::InvalidRendered(path, value.dump(), "must be an integer")});
}

absl::Status ArgsDecoder::ExpectArray(const nlohmann::json& value,
                                      const api::FieldPath& path) const {
  if (value.is_array()) return absl::OkStatus();
  return Errors({api::InvalidRendered(path, value.dump(), "must be a list")});
}

absl::Status ArgsDecoder::ExpectObject(const nlohmann::json& value,
                                       const api::FieldPath& path) const {
  if (value.is_object()) return absl::OkStatus();
  return Errors({api::InvalidRendered(path, value.dump(), "must be an object")});
}

absl::Status ArgsDecoder::Errors(const api::FieldErrorList& errors) const {
  if (errors.empty()) return absl::OkStatus();
  if (errors.size() == 1) return absl::InvalidArgumentError(errors[0].ToString());
  std::vector<std::string> parts;
  parts.reserve(errors.size());
  for (const api::FieldError& e : errors) parts.push_back(e.ToString());
  return absl::InvalidArgumentError(absl::StrCat(kind_, ": [", absl::StrJoin(parts, ", "), "]"));
}

absl::Status CheckNoArgs(absl::string_view args_json, absl::string_view kind) {
  ArgsDecoder decoder(kind);
  absl::StatusOr<nlohmann::json> args = decoder.Parse(args_json);
  if (!args.ok()) return args.status();
  return decoder.CheckKnown(*args, decoder.Root(), {});
}

}  // namespace korch::scheduler::plugins
