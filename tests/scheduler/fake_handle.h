// A minimal Handle for calling plugins directly in unit tests, with helpers
// that run a plugin's extension points the way the framework does (a plugin
// whose PreFilter/PreScore returns Skip is not called further). It runs the
// filter plugins added with AddPlugin() for preemption, and records what
// plugins ask the cluster to do (evictions, nominations).
//
//   FakeHandle handle;
//   handle.SetNodes({MakeNode("n1").Cpu("2").Info()});
//   auto plugin = *plugins::NewNodeResourcesFit("", handle);
//   PluginStatus s = handle.FilterThrough(*plugin, *MakePod("ns", "p").Info(),
//                                         *handle.snapshot().Get("n1"));
#ifndef KORCH_TESTS_SCHEDULER_FAKE_HANDLE_H_
#define KORCH_TESTS_SCHEDULER_FAKE_HANDLE_H_

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "gtest/gtest.h"
#include "korch/base/clock.h"
#include "korch/scheduler/framework.h"
#include "korch/scheduler/types.h"

namespace korch::scheduler::testing {

class RecordingActions : public ClusterActions {
 public:
  absl::Status Bind(const api::Pod& pod, const std::string& node_name) override {
    bound.emplace_back(Key(pod), node_name);
    return absl::OkStatus();
  }
  absl::Status Evict(const api::Pod& victim, const std::string& message) override {
    evicted.emplace_back(Key(victim), message);
    return absl::OkStatus();
  }
  absl::Status SetNominatedNode(const api::Pod& pod, const std::string& node_name) override {
    nominated.emplace_back(Key(pod), node_name);
    return absl::OkStatus();
  }
  static std::string Key(const api::Pod& pod) {
    return pod.metadata().namespace_() + "/" + pod.metadata().name();
  }

  std::vector<std::pair<std::string, std::string>> bound;
  std::vector<std::pair<std::string, std::string>> evicted;  // (pod, message)
  std::vector<std::pair<std::string, std::string>> nominated;
};

class FakeHandle : public Handle {
 public:
  FakeHandle() = default;

  // Replaces the snapshot with these nodes (copied).
  void SetNodes(const std::vector<std::shared_ptr<NodeInfo>>& nodes) {
    std::vector<std::shared_ptr<const NodeInfo>> copies;
    copies.reserve(nodes.size());
    for (const auto& n : nodes) copies.push_back(std::make_shared<NodeInfo>(*n));
    snapshot_ = std::make_unique<Snapshot>(std::move(copies));
  }
  // Registers `plugin` (not owned) for RunPreFilter/RunFilters and the
  // preemption entry points.
  void AddPlugin(Plugin* plugin) {
    if (auto* p = dynamic_cast<PreFilterPlugin*>(plugin)) pre_filters_.push_back(p);
    if (auto* f = dynamic_cast<FilterPlugin*>(plugin)) filters_.push_back(f);
  }
  void Nominate(const std::string& node, std::shared_ptr<const PodInfo> pod) {
    nominated_[node].push_back(std::move(pod));
  }
  RecordingActions& recorded() { return actions_; }
  FakeClock& fake_clock() { return clock_; }

  // Every registered PreFilter, as the framework runs them: a Skip puts the
  // plugin in the state's skip set, a rejection stops.
  PluginStatus RunPreFilter(CycleState& state, const PodInfo& pod,
                            PreFilterResult* merged = nullptr) {
    for (PreFilterPlugin* p : pre_filters_) {
      PreFilterResult result;
      PluginStatus s = p->PreFilter(state, pod, result);
      if (s.IsSkip()) {
        state.skip_filter_plugins().insert(std::string(p->Name()));
        continue;
      }
      if (!s.ok()) {
        s.set_plugin(std::string(p->Name()));
        return s;
      }
      if (merged != nullptr && result.node_names.has_value()) {
        if (!merged->node_names.has_value()) {
          merged->node_names = std::move(result.node_names);
        } else {
          absl::erase_if(*merged->node_names,
                         [&](const std::string& n) { return !result.node_names->contains(n); });
        }
      }
    }
    return PluginStatus();
  }
  // Every registered Filter not skipped; the first rejection wins.
  PluginStatus RunFilters(CycleState& state, const PodInfo& pod, const NodeInfo& node) {
    for (FilterPlugin* f : filters_) {
      if (state.skip_filter_plugins().contains(f->Name())) continue;
      PluginStatus s = f->Filter(state, pod, node);
      if (!s.ok()) {
        s.set_plugin(std::string(f->Name()));
        return s;
      }
    }
    return PluginStatus();
  }

  // One plugin's PreFilter (if it has one) then Filter on `node`, in a
  // fresh CycleState. A skipped plugin passes.
  static PluginStatus FilterThrough(Plugin& plugin, const PodInfo& pod, const NodeInfo& node,
                                    PreFilterResult* result = nullptr) {
    CycleState state;
    if (auto* p = dynamic_cast<PreFilterPlugin*>(&plugin)) {
      PreFilterResult r;
      PluginStatus s = p->PreFilter(state, pod, r);
      if (result != nullptr) *result = r;
      if (s.IsSkip()) return PluginStatus();
      if (!s.ok()) return s;
    }
    return dynamic_cast<FilterPlugin&>(plugin).Filter(state, pod, node);
  }

  // One plugin's PreScore (if it has one), Score on every node of the
  // snapshot and NormalizeScore, as the framework runs them. A skipped
  // plugin scores 0 everywhere.
  std::vector<int64_t> ScoreThrough(Plugin& plugin, const PodInfo& pod) {
    const std::vector<const NodeInfo*>& nodes = snapshot().List();
    CycleState state;
    if (auto* p = dynamic_cast<PreScorePlugin*>(&plugin)) {
      PluginStatus s = p->PreScore(state, pod, absl::MakeConstSpan(nodes));
      if (s.IsSkip()) return std::vector<int64_t>(nodes.size(), 0);
    }
    auto& scorer = dynamic_cast<ScorePlugin&>(plugin);
    std::vector<NodeScore> scores;
    for (const NodeInfo* n : nodes) scores.push_back({n, scorer.Score(state, pod, *n)});
    // The framework scores runs of nodes through ScoreNodes: it must agree
    // with Score, whatever the runs (here: the first node alone, then the
    // rest).
    std::vector<NodeScore> batch;
    for (const NodeInfo* n : nodes) batch.push_back({n, -1});
    const size_t first = std::min<size_t>(1, batch.size());
    scorer.ScoreNodes(state, pod, absl::MakeSpan(batch.data(), first));
    scorer.ScoreNodes(state, pod, absl::MakeSpan(batch.data() + first, batch.size() - first));
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (batch[i].score != scores[i].score) {
        ADD_FAILURE() << plugin.Name() << ": ScoreNodes gave " << batch[i].score << " for node "
                      << nodes[i]->name() << ", Score gave " << scores[i].score;
      }
    }
    if (scorer.HasNormalizeScore()) scorer.NormalizeScore(state, pod, absl::MakeSpan(scores));
    std::vector<int64_t> out;
    for (const NodeScore& s : scores) out.push_back(s.score);
    return out;
  }

  // Handle.
  const Snapshot& snapshot() const override { return *snapshot_; }
  StateKey StateKeyFor(absl::string_view name) override {
    auto [it, inserted] = keys_.try_emplace(std::string(name), static_cast<int>(keys_.size()));
    return it->second;
  }
  Clock& clock() override { return clock_; }
  void ParallelFor(int n, const std::function<void(int)>& fn) override {
    for (int i = 0; i < n; ++i) fn(i);
  }
  // kube-scheduler's semantics: with the nominated pods of priority >= the
  // pod's added first, then (if that passed) without them.
  PluginStatus RunFilterPluginsWithNominatedPods(CycleState& state, const PodInfo& pod,
                                                 const NodeInfo& node) override {
    std::unique_ptr<CycleState> state_with;
    NodeInfo node_with = node;
    bool added = false;
    auto it = nominated_.find(node.name());
    if (it != nominated_.end()) {
      for (const auto& p : it->second) {
        if (p->uid() == pod.uid() || p->priority() < pod.priority()) continue;
        if (!added) state_with = state.Clone();
        added = true;
        node_with.AddPod(p);
        PluginStatus s = RunPreFilterExtensionAddPod(*state_with, pod, *p, node_with);
        if (!s.ok()) return s;
      }
    }
    if (added) {
      PluginStatus s = RunFilters(*state_with, pod, node_with);
      if (!s.ok()) return s;
    }
    return RunFilters(state, pod, node);
  }
  PluginStatus RunPreFilterExtensionAddPod(CycleState& state, const PodInfo& pod,
                                           const PodInfo& to_add, const NodeInfo& node) override {
    for (PreFilterPlugin* p : pre_filters_) {
      if (p->Extensions() == nullptr || state.skip_filter_plugins().contains(p->Name())) continue;
      PluginStatus s = p->Extensions()->AddPod(state, pod, to_add, node);
      if (!s.ok()) return s;
    }
    return PluginStatus();
  }
  PluginStatus RunPreFilterExtensionRemovePod(CycleState& state, const PodInfo& pod,
                                              const PodInfo& to_remove,
                                              const NodeInfo& node) override {
    for (PreFilterPlugin* p : pre_filters_) {
      if (p->Extensions() == nullptr || state.skip_filter_plugins().contains(p->Name())) continue;
      PluginStatus s = p->Extensions()->RemovePod(state, pod, to_remove, node);
      if (!s.ok()) return s;
    }
    return PluginStatus();
  }
  std::vector<std::shared_ptr<const PodInfo>> NominatedPodsForNode(
      const std::string& node_name) const override {
    auto it = nominated_.find(node_name);
    return it == nominated_.end() ? std::vector<std::shared_ptr<const PodInfo>>() : it->second;
  }
  ClusterActions& actions() override { return actions_; }
  WaitingPod* GetWaitingPod(const std::string& uid) override { return nullptr; }
  void IterateOverWaitingPods(const std::function<void(WaitingPod&)>& fn) override {}
  std::vector<api::Selector> OwnerSelectors(const api::Pod& pod) const override { return {}; }

 private:
  std::unique_ptr<Snapshot> snapshot_ = std::make_unique<Snapshot>();
  absl::flat_hash_map<std::string, int> keys_;
  FakeClock clock_;
  RecordingActions actions_;
  std::vector<PreFilterPlugin*> pre_filters_;
  std::vector<FilterPlugin*> filters_;
  std::map<std::string, std::vector<std::shared_ptr<const PodInfo>>> nominated_;
};

}  // namespace korch::scheduler::testing

#endif  // KORCH_TESTS_SCHEDULER_FAKE_HANDLE_H_
