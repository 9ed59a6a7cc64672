#include "korch/scheduler/config.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "korch/api/codec.h"
#include "korch/base/status.h"
#include "korch/scheduler/registry.h"
#include "nlohmann/json.hpp"

namespace korch::scheduler {

using nlohmann::json;

std::vector<PluginRef> DefaultPlugins() {
  auto ref = [](absl::string_view name, int32_t weight) {
    PluginRef r;
    r.name = std::string(name);
    r.weight = weight;
    return r;
  };
  return {
      ref(names::kPrioritySort, 0),      ref(names::kSchedulingGates, 0),
      ref(names::kNodeUnschedulable, 0), ref(names::kNodeName, 0),
      ref(names::kTaintToleration, 3),   ref(names::kNodeAffinity, 2),
      ref(names::kNodePorts, 0),         ref(names::kNodeResourcesFit, 1),
      ref(names::kPodTopologySpread, 2), ref(names::kInterPodAffinity, 2),
      ref(names::kDefaultPreemption, 0), ref(names::kNodeResourcesBalancedAllocation, 1),
      ref(names::kImageLocality, 1),     ref(names::kDefaultBinder, 0),
  };
}

int32_t NumFeasibleNodesToFind(int32_t percentage, int32_t num_nodes) {
  // kube-scheduler's minFeasibleNodesToFind, minFeasibleNodesPercentageToFind
  // and the adaptive base of 50% minus 1% per 125 nodes.
  constexpr int32_t kMinFeasibleNodes = 100;
  constexpr int32_t kMinPercentage = 5;
  constexpr int32_t kBasePercentage = 50;
  if (num_nodes < kMinFeasibleNodes || percentage >= 100) return num_nodes;
  int32_t adaptive = percentage;
  if (adaptive <= 0) {
    adaptive = kBasePercentage - num_nodes / 125;
    if (adaptive < kMinPercentage) adaptive = kMinPercentage;
  }
  int64_t n = static_cast<int64_t>(num_nodes) * adaptive / 100;
  if (n < kMinFeasibleNodes) return kMinFeasibleNodes;
  return static_cast<int32_t>(n);
}

namespace {

constexpr absl::string_view kApiVersion = "kubescheduler.config.k8s.io/v1";
constexpr absl::string_view kKind = "KubeSchedulerConfiguration";

absl::Status FieldError(const std::string& path, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
}

std::string TypeName(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "bool";
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "array";
    case json::value_t::object:
      return "object";
    default:
      return "number";
  }
}

absl::Status ExpectType(const json& j, json::value_t type, absl::string_view type_name,
                        const std::string& path) {
  if (j.type() == type) return absl::OkStatus();
  return FieldError(path,
                    absl::StrCat("Invalid type: expected ", type_name, ", got ", TypeName(j)));
}

absl::StatusOr<int64_t> GetInt(const json& j, const std::string& path) {
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_number_float()) {
    double d = j.get<double>();
    if (d == static_cast<double>(static_cast<int64_t>(d))) return static_cast<int64_t>(d);
  }
  return FieldError(path, absl::StrCat("Invalid type: expected integer, got ", TypeName(j)));
}

absl::StatusOr<std::string> GetString(const json& j, const std::string& path) {
  if (!j.is_string()) {
    return FieldError(path, absl::StrCat("Invalid type: expected string, got ", TypeName(j)));
  }
  return j.get<std::string>();
}

absl::Status ParsePluginList(const json& j, const std::string& path, std::vector<PluginRef>& out) {
  if (j.is_null()) return absl::OkStatus();
  KORCH_RETURN_IF_ERROR(ExpectType(j, json::value_t::array, "array", path));
  for (size_t i = 0; i < j.size(); ++i) {
    std::string item_path = absl::StrCat(path, "[", i, "]");
    const json& item = j[i];
    KORCH_RETURN_IF_ERROR(ExpectType(item, json::value_t::object, "object", item_path));
    PluginRef ref;
    for (const auto& [key, value] : item.items()) {
      std::string field = absl::StrCat(item_path, ".", key);
      if (key == "name") {
        KORCH_ASSIGN_OR_RETURN(ref.name, GetString(value, field));
      } else if (key == "weight") {
        KORCH_ASSIGN_OR_RETURN(int64_t w, GetInt(value, field));
        if (w < 0 || w > 100) {
          return FieldError(field,
                            absl::StrCat("Invalid value: ", w, ": must be in the range [0, 100]"));
        }
        ref.weight = static_cast<int32_t>(w);
      } else {
        return FieldError(field, "unknown field");
      }
    }
    if (ref.name.empty()) return FieldError(item_path + ".name", "Required value");
    out.push_back(std::move(ref));
  }
  return absl::OkStatus();
}

absl::Status ParsePluginSet(const json& j, const std::string& path, PluginSet& out) {
  if (j.is_null()) return absl::OkStatus();
  KORCH_RETURN_IF_ERROR(ExpectType(j, json::value_t::object, "object", path));
  for (const auto& [key, value] : j.items()) {
    std::string field = absl::StrCat(path, ".", key);
    if (key == "enabled") {
      KORCH_RETURN_IF_ERROR(ParsePluginList(value, field, out.enabled));
    } else if (key == "disabled") {
      KORCH_RETURN_IF_ERROR(ParsePluginList(value, field, out.disabled));
    } else {
      return FieldError(field, "unknown field");
    }
  }
  return absl::OkStatus();
}

absl::Status ParsePlugins(const json& j, const std::string& path, Plugins& out) {
  if (j.is_null()) return absl::OkStatus();
  KORCH_RETURN_IF_ERROR(ExpectType(j, json::value_t::object, "object", path));
  const std::pair<absl::string_view, PluginSet Plugins::*> sets[] = {
      {"preEnqueue", &Plugins::pre_enqueue},
      {"queueSort", &Plugins::queue_sort},
      {"preFilter", &Plugins::pre_filter},
      {"filter", &Plugins::filter},
      {"postFilter", &Plugins::post_filter},
      {"preScore", &Plugins::pre_score},
      {"score", &Plugins::score},
      {"reserve", &Plugins::reserve},
      {"permit", &Plugins::permit},
      {"preBind", &Plugins::pre_bind},
      {"bind", &Plugins::bind},
      {"postBind", &Plugins::post_bind},
      {"multiPoint", &Plugins::multi_point},
  };
  for (const auto& [key, value] : j.items()) {
    std::string field = absl::StrCat(path, ".", key);
    bool known = false;
    for (const auto& [name, member] : sets) {
      if (key == name) {
        KORCH_RETURN_IF_ERROR(ParsePluginSet(value, field, out.*member));
        known = true;
        break;
      }
    }
    if (!known) return FieldError(field, "unknown field");
  }
  return absl::OkStatus();
}

absl::StatusOr<int32_t> GetPercentage(const json& j, const std::string& path) {
  KORCH_ASSIGN_OR_RETURN(int64_t p, GetInt(j, path));
  if (p < 0 || p > 100) {
    return FieldError(path, absl::StrCat("Invalid value: ", p, ": not in valid range [0-100]"));
  }
  return static_cast<int32_t>(p);
}

absl::Status ParseProfile(const json& j, const std::string& path, Profile& out) {
  KORCH_RETURN_IF_ERROR(ExpectType(j, json::value_t::object, "object", path));
  bool has_name = false;
  for (const auto& [key, value] : j.items()) {
    std::string field = absl::StrCat(path, ".", key);
    if (key == "schedulerName") {
      KORCH_ASSIGN_OR_RETURN(out.scheduler_name, GetString(value, field));
      has_name = true;
    } else if (key == "percentageOfNodesToScore") {
      if (value.is_null()) continue;
      KORCH_ASSIGN_OR_RETURN(int32_t p, GetPercentage(value, field));
      out.percentage_of_nodes_to_score = p;
    } else if (key == "plugins") {
      KORCH_RETURN_IF_ERROR(ParsePlugins(value, field, out.plugins));
    } else if (key == "pluginConfig") {
      if (value.is_null()) continue;
      KORCH_RETURN_IF_ERROR(ExpectType(value, json::value_t::array, "array", field));
      absl::flat_hash_set<std::string> seen;
      for (size_t i = 0; i < value.size(); ++i) {
        std::string item_path = absl::StrCat(field, "[", i, "]");
        const json& item = value[i];
        KORCH_RETURN_IF_ERROR(ExpectType(item, json::value_t::object, "object", item_path));
        PluginConfig config;
        for (const auto& [k, v] : item.items()) {
          std::string f = absl::StrCat(item_path, ".", k);
          if (k == "name") {
            KORCH_ASSIGN_OR_RETURN(config.name, GetString(v, f));
          } else if (k == "args") {
            if (v.is_null()) continue;
            KORCH_RETURN_IF_ERROR(ExpectType(v, json::value_t::object, "object", f));
            config.args_json = v.dump();
          } else {
            return FieldError(f, "unknown field");
          }
        }
        if (config.name.empty()) return FieldError(item_path + ".name", "Required value");
        if (!seen.insert(config.name).second) {
          return FieldError(item_path + ".name",
                            absl::StrCat("Duplicate value: \"", config.name, "\""));
        }
        out.plugin_config.push_back(std::move(config));
      }
    } else {
      return FieldError(field, "unknown field");
    }
  }
  if (!has_name || out.scheduler_name.empty()) {
    return FieldError(path + ".schedulerName", "Required value");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SchedulerConfiguration> ParseSchedulerConfiguration(absl::string_view text) {
  json doc;
  absl::string_view trimmed = absl::StripLeadingAsciiWhitespace(text);
  if (!trimmed.empty() && trimmed.front() == '{') {
    KORCH_ASSIGN_OR_RETURN(doc, api::ParseJson(text, /*reject_duplicates=*/true));
  } else {
    KORCH_ASSIGN_OR_RETURN(std::vector<json> docs,
                           api::ParseYaml(text, /*reject_duplicates=*/true));
    if (docs.size() != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a scheduler configuration must be exactly one document, found ", docs.size()));
    }
    doc = std::move(docs[0]);
  }
  KORCH_RETURN_IF_ERROR(ExpectType(doc, json::value_t::object, "object", "<root>"));

  SchedulerConfiguration config;
  config.profiles.clear();
  bool has_api_version = false;
  bool has_kind = false;
  bool has_profiles = false;
  std::optional<int64_t> initial_backoff;
  std::optional<int64_t> max_backoff;
  for (const auto& [key, value] : doc.items()) {
    if (key == "apiVersion") {
      KORCH_ASSIGN_OR_RETURN(std::string v, GetString(value, key));
      if (v != kApiVersion) {
        return FieldError(key, absl::StrCat("Unsupported value: \"", v, "\": supported values: \"",
                                            kApiVersion, "\""));
      }
      has_api_version = true;
    } else if (key == "kind") {
      KORCH_ASSIGN_OR_RETURN(std::string v, GetString(value, key));
      if (v != kKind) {
        return FieldError(
            key, absl::StrCat("Unsupported value: \"", v, "\": supported values: \"", kKind, "\""));
      }
      has_kind = true;
    } else if (key == "parallelism") {
      KORCH_ASSIGN_OR_RETURN(int64_t p, GetInt(value, key));
      if (p <= 0 || p > 1024) {
        return FieldError(key, absl::StrCat("Invalid value: ", p, ": should be in [1, 1024]"));
      }
      config.parallelism = static_cast<int32_t>(p);
    } else if (key == "percentageOfNodesToScore") {
      if (value.is_null()) continue;
      KORCH_ASSIGN_OR_RETURN(config.percentage_of_nodes_to_score, GetPercentage(value, key));
    } else if (key == "podInitialBackoffSeconds") {
      KORCH_ASSIGN_OR_RETURN(int64_t s, GetInt(value, key));
      if (s <= 0)
        return FieldError(key, absl::StrCat("Invalid value: ", s, ": must be greater than 0"));
      initial_backoff = s;
    } else if (key == "podMaxBackoffSeconds") {
      KORCH_ASSIGN_OR_RETURN(int64_t s, GetInt(value, key));
      if (s <= 0)
        return FieldError(key, absl::StrCat("Invalid value: ", s, ": must be greater than 0"));
      max_backoff = s;
    } else if (key == "profiles") {
      if (value.is_null()) continue;
      KORCH_RETURN_IF_ERROR(ExpectType(value, json::value_t::array, "array", key));
      absl::flat_hash_set<std::string> names;
      for (size_t i = 0; i < value.size(); ++i) {
        std::string path = absl::StrCat("profiles[", i, "]");
        Profile profile;
        KORCH_RETURN_IF_ERROR(ParseProfile(value[i], path, profile));
        if (!names.insert(profile.scheduler_name).second) {
          return FieldError(path + ".schedulerName",
                            absl::StrCat("Duplicate value: \"", profile.scheduler_name, "\""));
        }
        config.profiles.push_back(std::move(profile));
      }
      has_profiles = true;
    } else if (key == "leaderElection" || key == "clientConnection") {
      // Read by the API adapter, which parses the document itself.
      KORCH_RETURN_IF_ERROR(ExpectType(value, json::value_t::object, "object", key));
    } else if (key == "extenders" || key == "delayCacheUntilActive" || key == "enableProfiling" ||
               key == "enableContentionProfiling" || key == "healthzBindAddress" ||
               key == "metricsBindAddress") {
      return FieldError(key, "not supported by korch");
    } else {
      return FieldError(key, "unknown field");
    }
  }
  if (!has_api_version) return FieldError("apiVersion", "Required value");
  if (!has_kind) return FieldError("kind", "Required value");
  if (!has_profiles || config.profiles.empty()) config.profiles.push_back(Profile());
  if (initial_backoff) config.pod_initial_backoff = absl::Seconds(*initial_backoff);
  if (max_backoff) config.pod_max_backoff = absl::Seconds(*max_backoff);
  if (config.pod_max_backoff < config.pod_initial_backoff) {
    return FieldError("podMaxBackoffSeconds",
                      absl::StrCat("Invalid value: ", absl::ToInt64Seconds(config.pod_max_backoff),
                                   ": must be greater than or equal to podInitialBackoffSeconds"));
  }
  return config;
}

}  // namespace korch::scheduler
