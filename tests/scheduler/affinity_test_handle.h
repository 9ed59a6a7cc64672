// A minimal Handle for calling InterPodAffinity and PodTopologySpread
// directly in tests: a snapshot the test sets, state keys, ParallelFor on
// the calling thread, and owner selectors the test chooses. The preemption
// and waiting-pod parts are not used by these plugins and do nothing.
#ifndef KORCH_TESTS_SCHEDULER_AFFINITY_TEST_HANDLE_H_
#define KORCH_TESTS_SCHEDULER_AFFINITY_TEST_HANDLE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "gtest/gtest.h"
#include "korch/base/clock.h"
#include "korch/scheduler/framework.h"
#include "scheduler/plugins/plugins.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace korch::scheduler::testing {

class NoActions final : public ClusterActions {
 public:
  absl::Status Bind(const api::Pod&, const std::string&) override { return absl::OkStatus(); }
  absl::Status Evict(const api::Pod&, const std::string&) override { return absl::OkStatus(); }
  absl::Status SetNominatedNode(const api::Pod&, const std::string&) override {
    return absl::OkStatus();
  }
};

class AffinityTestHandle final : public Handle {
 public:
  AffinityTestHandle() : clock_(RealClock()) {}

  void SetSnapshot(std::shared_ptr<const Snapshot> snapshot) { snapshot_ = std::move(snapshot); }
  // Selectors returned by OwnerSelectors for pods with label `key`=`value`.
  void AddOwner(const std::string& key, const std::string& value, api::Selector selector) {
    owners_.push_back({key, value, std::move(selector)});
  }

  const Snapshot& snapshot() const override { return *snapshot_; }
  StateKey StateKeyFor(absl::string_view name) override {
    auto [it, inserted] = keys_.try_emplace(std::string(name), static_cast<int>(keys_.size()));
    return it->second;
  }
  Clock& clock() override { return *clock_; }
  void ParallelFor(int n, const std::function<void(int)>& fn) override {
    for (int i = 0; i < n; ++i) fn(i);
  }
  PluginStatus RunFilterPluginsWithNominatedPods(CycleState&, const PodInfo&,
                                                 const NodeInfo&) override {
    return PluginStatus();
  }
  PluginStatus RunPreFilterExtensionAddPod(CycleState&, const PodInfo&, const PodInfo&,
                                           const NodeInfo&) override {
    return PluginStatus();
  }
  PluginStatus RunPreFilterExtensionRemovePod(CycleState&, const PodInfo&, const PodInfo&,
                                              const NodeInfo&) override {
    return PluginStatus();
  }
  std::vector<std::shared_ptr<const PodInfo>> NominatedPodsForNode(
      const std::string&) const override {
    return {};
  }
  ClusterActions& actions() override { return actions_; }
  WaitingPod* GetWaitingPod(const std::string&) override { return nullptr; }
  void IterateOverWaitingPods(const std::function<void(WaitingPod&)>&) override {}
  std::vector<api::Selector> OwnerSelectors(const api::Pod& pod) const override {
    std::vector<api::Selector> out;
    for (const Owner& o : owners_) {
      auto it = pod.metadata().labels().find(o.key);
      if (it != pod.metadata().labels().end() && it->second == o.value) out.push_back(o.selector);
    }
    return out;
  }

 private:
  struct Owner {
    std::string key;
    std::string value;
    api::Selector selector;
  };
  std::shared_ptr<Clock> clock_;
  std::shared_ptr<const Snapshot> snapshot_ = std::make_shared<Snapshot>();
  absl::flat_hash_map<std::string, int> keys_;
  NoActions actions_;
  std::vector<Owner> owners_;
};

// A cluster under construction: nodes with pods, turned into a Snapshot.
class ClusterBuilder {
 public:
  ClusterBuilder& Node(const MakeNode& node) {
    nodes_.push_back(node.Info());
    return *this;
  }
  // Places `pod` on the node named by its spec.nodeName.
  ClusterBuilder& Pod(const MakePod& pod) {
    std::shared_ptr<const PodInfo> info = pod.Info();
    EXPECT_NE(info, nullptr);
    if (info == nullptr) return *this;
    for (auto& n : nodes_) {
      if (n->name() == info->node_name()) {
        n->AddPod(info);
        return *this;
      }
    }
    ADD_FAILURE() << "no node " << info->node_name();
    return *this;
  }
  ClusterBuilder& Namespace(const std::string& name,
                            std::vector<std::pair<std::string, std::string>> labels) {
    auto& l = namespaces_[name];
    for (auto& [k, v] : labels) l[k] = v;
    return *this;
  }
  std::shared_ptr<const Snapshot> Build() const {
    std::vector<std::shared_ptr<const NodeInfo>> nodes(nodes_.begin(), nodes_.end());
    return std::make_shared<Snapshot>(std::move(nodes), namespaces_);
  }
  std::vector<std::shared_ptr<NodeInfo>>& nodes() { return nodes_; }

 private:
  std::vector<std::shared_ptr<NodeInfo>> nodes_;
  absl::flat_hash_map<std::string, google::protobuf::Map<std::string, std::string>> namespaces_;
};

// Runs PreFilter then Filter on every node of the handle's snapshot and
// returns the names of the nodes that pass; `reasons` gets each failing
// node's first reason. PreFilter's Skip passes every node.
inline std::vector<std::string> FeasibleNodes(
    Plugin& plugin, AffinityTestHandle& handle, const PodInfo& pod,
    absl::flat_hash_map<std::string, std::string>* reasons = nullptr,
    absl::flat_hash_map<std::string, Code>* codes = nullptr) {
  auto& pre = dynamic_cast<PreFilterPlugin&>(plugin);
  auto& filter = dynamic_cast<FilterPlugin&>(plugin);
  CycleState state;
  PreFilterResult result;
  PluginStatus s = pre.PreFilter(state, pod, result);
  std::vector<std::string> out;
  for (const NodeInfo* node : handle.snapshot().List()) {
    PluginStatus f = s.IsSkip() ? PluginStatus() : filter.Filter(state, pod, *node);
    if (f.ok()) {
      out.push_back(node->name());
    } else {
      if (reasons != nullptr && !f.reasons().empty()) (*reasons)[node->name()] = f.reasons()[0];
      if (codes != nullptr) (*codes)[node->name()] = f.code();
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Runs PreScore, Score on every node and NormalizeScore; name -> score.
// Empty when PreScore skips.
inline absl::flat_hash_map<std::string, int64_t> Scores(Plugin& plugin, AffinityTestHandle& handle,
                                                        const PodInfo& pod) {
  auto& pre = dynamic_cast<PreScorePlugin&>(plugin);
  auto& score = dynamic_cast<ScorePlugin&>(plugin);
  CycleState state;
  std::vector<const NodeInfo*> nodes = handle.snapshot().List();
  absl::flat_hash_map<std::string, int64_t> out;
  PluginStatus s = pre.PreScore(state, pod, nodes);
  if (s.IsSkip()) return out;
  EXPECT_TRUE(s.ok()) << s.ToString();
  std::vector<NodeScore> scores;
  for (const NodeInfo* n : nodes) scores.push_back(NodeScore{n, score.Score(state, pod, *n)});
  if (score.HasNormalizeScore()) {
    EXPECT_TRUE(score.NormalizeScore(state, pod, absl::MakeSpan(scores)).ok());
  }
  for (const NodeScore& n : scores) out[n.node->name()] = n.score;
  return out;
}

}  // namespace korch::scheduler::testing

#endif  // KORCH_TESTS_SCHEDULER_AFFINITY_TEST_HANDLE_H_
