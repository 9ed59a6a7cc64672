// The scheduler part of the C API: embedded schedulers, C plugins, and a
// scheduler running against an API server.
#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "internal.h"
#include "korch.h"
#include "korch/api/codec.h"
#include "korch/api/core.pb.h"
#include "korch/api/quantity.h"
#include "korch/base/status.h"
#include "korch/scheduler/api_scheduler.h"
#include "korch/scheduler/framework.h"
#include "korch/scheduler/registry.h"
#include "korch/scheduler/scheduler.h"
#include "nlohmann/json.hpp"

namespace sched = korch::scheduler;
using namespace korch::capi;  // NOLINT: the C layer's helpers

namespace {

// Errors of C plugins during one call into the scheduler, reported by that
// call as KORCH_ERR_CALLBACK. Plugins run on worker threads, so the record
// is per scheduler, not per thread; calls into one scheduler are serialized
// by korch_scheduler_t's mutex.
struct CallbackErrors {
  absl::Mutex mu;
  std::string first ABSL_GUARDED_BY(mu);
  std::atomic<bool> any{false};

  void Record(std::string message) {
    absl::MutexLock lock(&mu);
    if (!any.exchange(true)) first = std::move(message);
  }
  void Reset() {
    absl::MutexLock lock(&mu);
    any = false;
    first.clear();
  }
  std::string Take() {
    absl::MutexLock lock(&mu);
    any = false;
    return std::move(first);
  }
};

std::string QuantityText(int64_t value, bool milli) {
  return milli ? korch::api::Quantity::FromMilli(value).ToString()
               : korch::api::Quantity::FromInt64(value).ToString();
}

// {"node": ..., "requested": {...}, "podCount": N} for a node, cached per
// NodeInfo generation: plugins are called per (pod, node) and encoding a
// Node is far more work than the callback usually does.
class NodeJsonCache {
 public:
  std::shared_ptr<const std::string> Get(const sched::NodeInfo& node) {
    {
      absl::ReaderMutexLock lock(&mu_);
      auto it = cache_.find(node.name());
      if (it != cache_.end() && it->second.generation == node.generation() &&
          it->second.node == node.node()) {
        return it->second.json;
      }
    }
    std::string out = "{\"node\":";
    korch::api::AppendJson(*node.node(), korch::api::EncodeOptions(), &out);
    const sched::Resource& r = node.requested();
    nlohmann::json requested = nlohmann::json::object();
    requested["cpu"] = QuantityText(r.milli_cpu, true);
    requested["memory"] = QuantityText(r.memory, false);
    if (r.ephemeral_storage)
      requested["ephemeral-storage"] = QuantityText(r.ephemeral_storage, false);
    for (const auto& [name, amount] : r.scalar) requested[name] = QuantityText(amount, false);
    absl::StrAppend(&out, ",\"requested\":", requested.dump(), ",\"podCount\":", node.pods().size(),
                    "}");
    auto json = std::make_shared<const std::string>(std::move(out));
    absl::MutexLock lock(&mu_);
    cache_[node.name()] = Entry{node.generation(), node.node(), json};
    return json;
  }

 private:
  struct Entry {
    int64_t generation = 0;
    const korch::api::Node* node = nullptr;
    std::shared_ptr<const std::string> json;
  };
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> cache_ ABSL_GUARDED_BY(mu_);
};

// The pod's JSON, encoded once per cycle.
struct PodJson : sched::StateData {
  std::string json;
  std::unique_ptr<sched::StateData> Clone() const override {
    return std::make_unique<PodJson>(*this);
  }
};

// Node name -> score, computed in PreScore.
struct Scores : sched::StateData {
  absl::flat_hash_map<std::string, int64_t> by_node;
  std::unique_ptr<sched::StateData> Clone() const override {
    return std::make_unique<Scores>(*this);
  }
};

class CFilter final : public sched::PreFilterPlugin, public sched::FilterPlugin {
 public:
  CFilter(std::string name, korch_filter_fn fn, void* user_data, sched::Handle& handle,
          std::shared_ptr<CallbackErrors> errors)
      : name_(std::move(name)),
        fn_(fn),
        user_data_(user_data),
        key_(handle.StateKeyFor(name_)),
        errors_(std::move(errors)) {}
  absl::string_view Name() const override { return name_; }

  sched::PluginStatus PreFilter(sched::CycleState& state, const sched::PodInfo& pod,
                                sched::PreFilterResult&) override {
    auto data = std::make_unique<PodJson>();
    data->json = korch::api::EncodeJson(pod.pod());
    state.Write(key_, std::move(data));
    return sched::PluginStatus();
  }

  sched::PluginStatus Filter(const sched::CycleState& state, const sched::PodInfo& pod,
                             const sched::NodeInfo& node) const override {
    const PodJson* pod_json = state.Read<PodJson>(key_);
    if (pod_json == nullptr || node.node() == nullptr) {
      return sched::PluginStatus::Error(absl::StrCat(name_, ": no pre-filter state"));
    }
    std::shared_ptr<const std::string> node_json = nodes_.Get(node);
    char* reason = nullptr;
    int rc = fn_(pod_json->json.c_str(), node_json->c_str(), &reason, user_data_);
    std::string text = reason != nullptr ? std::string(reason) : std::string();
    std::free(reason);
    switch (rc) {
      case KORCH_FILTER_FIT:
        return sched::PluginStatus();
      case KORCH_FILTER_UNSCHEDULABLE:
        return sched::PluginStatus::Unschedulable(
            text.empty() ? absl::StrCat("node(s) were rejected by ", name_) : text);
      case KORCH_FILTER_UNRESOLVABLE:
        return sched::PluginStatus::Unresolvable(
            text.empty() ? absl::StrCat("node(s) were rejected by ", name_) : text);
      default: {
        std::string message = absl::StrCat("filter plugin ", name_, " failed on node ", node.name(),
                                           " (code ", rc, ")", text.empty() ? "" : ": ", text);
        errors_->Record(message);
        return sched::PluginStatus::Error(std::move(message));
      }
    }
  }

 private:
  std::string name_;
  korch_filter_fn fn_;
  void* user_data_;
  sched::StateKey key_;
  std::shared_ptr<CallbackErrors> errors_;
  mutable NodeJsonCache nodes_;
};

class CScore final : public sched::PreScorePlugin, public sched::ScorePlugin {
 public:
  CScore(std::string name, korch_score_fn fn, void* user_data, sched::Handle& handle,
         std::shared_ptr<CallbackErrors> errors)
      : name_(std::move(name)),
        fn_(fn),
        user_data_(user_data),
        key_(handle.StateKeyFor(name_)),
        errors_(std::move(errors)) {}
  absl::string_view Name() const override { return name_; }

  // Every score is computed here, on the scheduling thread, so that a
  // failing callback can fail the cycle (Score itself cannot).
  sched::PluginStatus PreScore(sched::CycleState& state, const sched::PodInfo& pod,
                               absl::Span<const sched::NodeInfo* const> nodes) override {
    const std::string pod_json = korch::api::EncodeJson(pod.pod());
    auto scores = std::make_unique<Scores>();
    for (const sched::NodeInfo* node : nodes) {
      std::shared_ptr<const std::string> node_json = nodes_.Get(*node);
      int64_t score = 0;
      int rc = fn_(pod_json.c_str(), node_json->c_str(), &score, user_data_);
      if (rc < 0) {
        std::string message = absl::StrCat("score plugin ", name_, " failed on node ", node->name(),
                                           " (code ", rc, ")");
        errors_->Record(message);
        return sched::PluginStatus::Error(std::move(message));
      }
      scores->by_node[node->name()] =
          std::clamp<int64_t>(score, sched::kMinNodeScore, sched::kMaxNodeScore);
    }
    state.Write(key_, std::move(scores));
    return sched::PluginStatus();
  }

  int64_t Score(const sched::CycleState& state, const sched::PodInfo&,
                const sched::NodeInfo& node) const override {
    const Scores* scores = state.Read<Scores>(key_);
    if (scores == nullptr) return 0;
    auto it = scores->by_node.find(node.name());
    return it == scores->by_node.end() ? 0 : it->second;
  }

 private:
  std::string name_;
  korch_score_fn fn_;
  void* user_data_;
  sched::StateKey key_;
  std::shared_ptr<CallbackErrors> errors_;
  NodeJsonCache nodes_;
};

std::string ResultJson(const sched::ScheduleResult& r) {
  nlohmann::json j;
  j["node"] = r.node_name;
  j["evaluatedNodes"] = r.evaluated_nodes;
  j["feasibleNodes"] = r.feasible_nodes;
  if (!r.nominated_node_name.empty()) j["nominatedNode"] = r.nominated_node_name;
  if (r.fit_error.has_value()) {
    j["message"] = r.fit_error->Message();
    nlohmann::json reasons = nlohmann::json::object();
    for (const auto& [reason, count] : r.fit_error->reasons) reasons[reason] = count;
    j["reasons"] = reasons;
  }
  return j.dump();
}

template <typename T>
absl::StatusOr<T> Decode(const char* json, absl::string_view what) {
  if (json == nullptr) return absl::InvalidArgumentError(absl::StrCat(what, ": NULL"));
  T out;
  korch::api::DecodeOptions options;
  absl::Status s = korch::api::DecodeJson(json, &out, options);
  if (!s.ok()) return korch::Annotate(s, what);
  return out;
}

}  // namespace

struct korch_scheduler_registry_t {
  sched::Registry registry = sched::NewInTreeRegistry();
  // The C plugins: filters need their PreFilter (the pod's JSON, once per
  // cycle) and scores their PreScore (all scores, so that a failure fails
  // the cycle) wherever a configuration enables them.
  std::vector<std::string> c_filters;
  std::vector<std::string> c_scores;
  // Shared by every plugin created from this registry; a scheduler resets
  // and reads it around each call.
  std::shared_ptr<CallbackErrors> errors = std::make_shared<CallbackErrors>();
};

struct korch_scheduler_t {
  absl::Mutex mu;  // serializes calls, so that callback errors belong to one
  std::unique_ptr<sched::Registry> own_registry;
  std::shared_ptr<CallbackErrors> errors;
  std::unique_ptr<sched::Scheduler> scheduler;
};

struct korch_scheduler_runner_t {
  std::unique_ptr<sched::ApiScheduler> scheduler;
};

namespace {

bool Contains(const std::vector<sched::PluginRef>& refs, const std::string& name) {
  return std::any_of(refs.begin(), refs.end(),
                     [&](const sched::PluginRef& r) { return r.name == name; });
}

// A C plugin enabled at `point` (filter, score) is also enabled at its
// companion (preFilter, preScore), which does the per-cycle work.
void AddCompanionPoints(const std::vector<std::string>& c_plugins, const sched::PluginSet& point,
                        sched::PluginSet& companion) {
  for (const std::string& name : c_plugins) {
    if (Contains(point.enabled, name) && !Contains(companion.enabled, name)) {
      companion.enabled.push_back(sched::PluginRef{name, 0});
    }
  }
}

template <typename F>
int WithScheduler(korch_scheduler_t* s, F&& body) {
  absl::MutexLock lock(&s->mu);
  s->errors->Reset();
  absl::StatusOr<std::string> out = body();
  if (s->errors->any.load()) return Fail(KORCH_ERR_CALLBACK, s->errors->Take());
  if (!out.ok()) return Fail(out.status());
  LastError().clear();
  return KORCH_OK;
}

// Decodes `json` as a T and hands it to one of the Scheduler's cluster-state
// methods (AddNode, UpdateNode, AddPod, RemovePod).
template <typename T>
int ApplyObject(korch_scheduler_t* s, const char* json, absl::string_view what,
                absl::Status (sched::Scheduler::*method)(const T&)) {
  return Guard([&] {
    KORCH_REQUIRE(s);
    return WithScheduler(s, [&]() -> absl::StatusOr<std::string> {
      KORCH_ASSIGN_OR_RETURN(T object, Decode<T>(json, what));
      KORCH_RETURN_IF_ERROR(((*s->scheduler).*method)(object));
      return std::string();
    });
  });
}

}  // namespace

extern "C" {

int korch_scheduler_registry_new(korch_scheduler_registry_t** out) {
  return Guard([&] {
    KORCH_REQUIRE(out);
    *out = new korch_scheduler_registry_t();
    return Ok();
  });
}

void korch_scheduler_registry_destroy(korch_scheduler_registry_t* registry) { delete registry; }

int korch_scheduler_registry_add_filter(korch_scheduler_registry_t* registry, const char* name,
                                        korch_filter_fn fn, void* user_data) {
  return Guard([&] {
    KORCH_REQUIRE(registry);
    KORCH_REQUIRE(name);
    KORCH_REQUIRE(fn);
    std::string plugin(name);
    auto errors = registry->errors;
    absl::Status s = registry->registry.Register(
        plugin,
        [plugin, fn, user_data, errors](absl::string_view, sched::Handle& handle)
            -> absl::StatusOr<std::unique_ptr<sched::Plugin>> {
          return std::unique_ptr<sched::Plugin>(
              std::make_unique<CFilter>(plugin, fn, user_data, handle, errors));
        });
    if (s.ok()) registry->c_filters.push_back(plugin);
    return s.ok() ? Ok() : Fail(s);
  });
}

int korch_scheduler_registry_add_score(korch_scheduler_registry_t* registry, const char* name,
                                       korch_score_fn fn, void* user_data) {
  return Guard([&] {
    KORCH_REQUIRE(registry);
    KORCH_REQUIRE(name);
    KORCH_REQUIRE(fn);
    std::string plugin(name);
    auto errors = registry->errors;
    absl::Status s = registry->registry.Register(
        plugin,
        [plugin, fn, user_data, errors](absl::string_view, sched::Handle& handle)
            -> absl::StatusOr<std::unique_ptr<sched::Plugin>> {
          return std::unique_ptr<sched::Plugin>(
              std::make_unique<CScore>(plugin, fn, user_data, handle, errors));
        });
    if (s.ok()) registry->c_scores.push_back(plugin);
    return s.ok() ? Ok() : Fail(s);
  });
}

int korch_scheduler_new(korch_scheduler_t** out, const char* config,
                        korch_scheduler_registry_t* registry, const char* options_json) {
  return Guard([&] {
    KORCH_REQUIRE(out);
    *out = nullptr;
    sched::SchedulerOptions options;
    if (config != nullptr && *config != '\0') {
      absl::StatusOr<sched::SchedulerConfiguration> parsed =
          sched::ParseSchedulerConfiguration(config);
      if (!parsed.ok()) return Fail(parsed.status());
      options.config = *std::move(parsed);
    }
    nlohmann::json j = nlohmann::json::object();
    if (options_json != nullptr && *options_json != '\0') {
      j = nlohmann::json::parse(options_json, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        return Fail(KORCH_ERR_INVALID, "options: not a JSON object");
      }
    }
    for (const auto& [key, value] : j.items()) {
      if (key == "seed" && value.is_number_unsigned()) {
        options.seed = value.get<uint64_t>();
      } else if (key == "parallelism" && value.is_number_integer() && value.get<int>() >= 1) {
        options.config.parallelism = value.get<int>();
      } else {
        return Fail(KORCH_ERR_INVALID,
                    absl::StrCat("options.", key,
                                 ": unknown or invalid field (known: seed (unsigned integer), "
                                 "parallelism (integer >= 1))"));
      }
    }
    if (registry != nullptr) {
      for (sched::Profile& profile : options.config.profiles) {
        AddCompanionPoints(registry->c_filters, profile.plugins.filter, profile.plugins.pre_filter);
        AddCompanionPoints(registry->c_scores, profile.plugins.score, profile.plugins.pre_score);
      }
    }
    auto handle = std::make_unique<korch_scheduler_t>();
    if (registry != nullptr) {
      options.registry = &registry->registry;
      handle->errors = registry->errors;
    } else {
      handle->errors = std::make_shared<CallbackErrors>();
    }
    absl::StatusOr<std::unique_ptr<sched::Scheduler>> created =
        sched::Scheduler::Create(std::move(options));
    if (!created.ok()) return Fail(created.status());
    handle->scheduler = *std::move(created);
    *out = handle.release();
    return Ok();
  });
}

void korch_scheduler_destroy(korch_scheduler_t* scheduler) { delete scheduler; }

int korch_scheduler_add_node(korch_scheduler_t* s, const char* node_json) {
  return ApplyObject<korch::api::Node>(s, node_json, "node", &sched::Scheduler::AddNode);
}

int korch_scheduler_update_node(korch_scheduler_t* s, const char* node_json) {
  return ApplyObject<korch::api::Node>(s, node_json, "node", &sched::Scheduler::UpdateNode);
}

int korch_scheduler_remove_node(korch_scheduler_t* s, const char* name) {
  return Guard([&] {
    KORCH_REQUIRE(s);
    KORCH_REQUIRE(name);
    return WithScheduler(s, [&]() -> absl::StatusOr<std::string> {
      KORCH_RETURN_IF_ERROR(s->scheduler->RemoveNode(name));
      return std::string();
    });
  });
}

int korch_scheduler_add_pod(korch_scheduler_t* s, const char* pod_json) {
  return ApplyObject<korch::api::Pod>(s, pod_json, "pod", &sched::Scheduler::AddPod);
}

int korch_scheduler_remove_pod(korch_scheduler_t* s, const char* pod_json) {
  return ApplyObject<korch::api::Pod>(s, pod_json, "pod", &sched::Scheduler::RemovePod);
}

namespace {

// korch_scheduler_schedule and korch_scheduler_evaluate: one pod decoded,
// one decision encoded.
int DecideOne(char** result, korch_scheduler_t* s, const char* pod_json, bool evaluate_only) {
  return Guard([&] {
    KORCH_REQUIRE(result);
    KORCH_REQUIRE(s);
    std::string out;
    int rc = WithScheduler(s, [&]() -> absl::StatusOr<std::string> {
      KORCH_ASSIGN_OR_RETURN(auto pod, Decode<korch::api::Pod>(pod_json, "pod"));
      // Scheduling shares the decoded pod with the scheduler's cache
      // instead of copying it.
      KORCH_ASSIGN_OR_RETURN(
          sched::ScheduleResult r,
          evaluate_only
              ? s->scheduler->Evaluate(pod)
              : s->scheduler->Schedule(std::make_shared<const korch::api::Pod>(std::move(pod))));
      out = ResultJson(r);
      return out;
    });
    if (rc != KORCH_OK) return rc;
    return SetOut(result, out);
  });
}

}  // namespace

int korch_scheduler_schedule(char** result, korch_scheduler_t* s, const char* pod_json) {
  return DecideOne(result, s, pod_json, /*evaluate_only=*/false);
}

int korch_scheduler_evaluate(char** result, korch_scheduler_t* s, const char* pod_json) {
  return DecideOne(result, s, pod_json, /*evaluate_only=*/true);
}

int korch_scheduler_schedule_batch(char** results, korch_scheduler_t* s, const char* pods_json) {
  return Guard([&] {
    KORCH_REQUIRE(results);
    KORCH_REQUIRE(s);
    KORCH_REQUIRE(pods_json);
    nlohmann::json pods = nlohmann::json::parse(pods_json, nullptr, false);
    if (pods.is_discarded() || !pods.is_array()) {
      return Fail(KORCH_ERR_INVALID, "pods: not a JSON array of Pod objects");
    }
    std::vector<korch::api::Pod> decoded(pods.size());
    for (size_t i = 0; i < pods.size(); ++i) {
      absl::Status st = korch::api::DecodeJsonValue(pods[i], &decoded[i]);
      if (!st.ok()) return Fail(korch::Annotate(st, absl::StrCat("pods[", i, "]")));
    }
    std::string out;
    int rc = WithScheduler(s, [&]() -> absl::StatusOr<std::string> {
      std::vector<absl::StatusOr<sched::ScheduleResult>> all = s->scheduler->ScheduleBatch(decoded);
      nlohmann::json array = nlohmann::json::array();
      for (const auto& r : all) {
        if (r.ok()) {
          array.push_back(nlohmann::json::parse(ResultJson(*r)));
        } else {
          nlohmann::json e;
          e["error"] = std::string(r.status().message());
          e["code"] = -static_cast<int>(r.status().code());
          array.push_back(std::move(e));
        }
      }
      out = array.dump();
      return out;
    });
    if (rc != KORCH_OK) return rc;
    return SetOut(results, out);
  });
}

int korch_scheduler_stats(char** stats_json, korch_scheduler_t* s) {
  return Guard([&] {
    KORCH_REQUIRE(stats_json);
    KORCH_REQUIRE(s);
    sched::SchedulerStats st = s->scheduler->Stats();
    nlohmann::json j;
    j["nodes"] = st.nodes;
    j["pods"] = st.pods;
    j["assumedPods"] = st.assumed_pods;
    j["activePods"] = st.active_pods;
    j["backoffPods"] = st.backoff_pods;
    j["unschedulablePods"] = st.unschedulable_pods;
    j["gatedPods"] = st.gated_pods;
    j["scheduled"] = st.scheduled;
    j["failed"] = st.failed;
    return SetOut(stats_json, j.dump());
  });
}

int korch_scheduler_run(korch_scheduler_runner_t** out, korch_client_t* client, const char* config,
                        korch_scheduler_registry_t* registry) {
  return Guard([&] {
    KORCH_REQUIRE(out);
    KORCH_REQUIRE(client);
    *out = nullptr;
    sched::ApiSchedulerOptions options;
    options.client = client->client.get();
    options.config_text = Str(config);
    if (registry != nullptr) options.registry = &registry->registry;
    absl::StatusOr<std::unique_ptr<sched::ApiScheduler>> created =
        sched::ApiScheduler::Create(std::move(options));
    if (!created.ok()) return Fail(created.status());
    if (absl::Status st = (*created)->Start(); !st.ok()) return Fail(st);
    *out = new korch_scheduler_runner_t{*std::move(created)};
    return Ok();
  });
}

void korch_scheduler_runner_destroy(korch_scheduler_runner_t* runner) {
  if (runner == nullptr) return;
  try {
    runner->scheduler->Stop();
  } catch (...) {
  }
  delete runner;
}

}  // extern "C"
