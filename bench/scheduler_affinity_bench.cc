// InterPodAffinity and PodTopologySpread on kube-scheduler's scheduler_perf
// shapes at 5,000 nodes, called directly (no framework): each iteration
// schedules one pod — PreFilter, Filter on every node (not just enough to
// find 10% feasible, as the real scheduler would), PreScore and Score on the
// feasible ones — and places it on the first feasible node, so the cluster
// grows as in the real workload. The snapshot rebuild after each placement
// is excluded from the timing (the scheduler's cache does it incrementally).
//
//   SchedulingPodAntiAffinity: 5,000 nodes, 1,000 pods placed, then 2,000
//     pods labelled color=green with required anti-affinity to color=green
//     on kubernetes.io/hostname (namespaces sched-0 and sched-1).
//   TopologySpreading: 5,000 nodes over zones moon-1..3, 5,000 plain pods
//     placed, then 2,000 pods color=blue spread over zones with maxSkew 5,
//     DoNotSchedule.
#include <benchmark/benchmark.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "korch/base/clock.h"
#include "korch/scheduler/framework.h"
#include "lib/scheduler/plugins/plugins.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace korch::scheduler {
namespace {

using testing::MakeNode;
using testing::MakePod;

class NoActions final : public ClusterActions {
 public:
  absl::Status Bind(const api::Pod&, const std::string&) override { return absl::OkStatus(); }
  absl::Status Evict(const api::Pod&, const std::string&) override { return absl::OkStatus(); }
  absl::Status SetNominatedNode(const api::Pod&, const std::string&) override {
    return absl::OkStatus();
  }
};

class BenchHandle final : public Handle {
 public:
  std::shared_ptr<const Snapshot> snapshot_ = std::make_shared<Snapshot>();
  const Snapshot& snapshot() const override { return *snapshot_; }
  StateKey StateKeyFor(absl::string_view name) override {
    return keys_.try_emplace(std::string(name), static_cast<int>(keys_.size())).first->second;
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
  std::vector<api::Selector> OwnerSelectors(const api::Pod&) const override { return {}; }

 private:
  std::shared_ptr<Clock> clock_ = RealClock();
  absl::flat_hash_map<std::string, int> keys_;
  NoActions actions_;
};

struct Cluster {
  std::vector<std::shared_ptr<NodeInfo>> nodes;
  void Publish(BenchHandle& handle) {
    handle.snapshot_ = std::make_shared<Snapshot>(
        std::vector<std::shared_ptr<const NodeInfo>>(nodes.begin(), nodes.end()));
  }
};

// One scheduling cycle of `plugin` for `pod`; the index of the chosen node
// (the first feasible one with the best score) or -1.
int ScheduleOne(Plugin& plugin, BenchHandle& handle, const PodInfo& pod) {
  auto& pre = dynamic_cast<PreFilterPlugin&>(plugin);
  auto& filter = dynamic_cast<FilterPlugin&>(plugin);
  auto& prescore = dynamic_cast<PreScorePlugin&>(plugin);
  auto& score = dynamic_cast<ScorePlugin&>(plugin);
  CycleState state;
  PreFilterResult result;
  PluginStatus s = pre.PreFilter(state, pod, result);
  const auto& nodes = handle.snapshot().List();
  std::vector<const NodeInfo*> feasible;
  std::vector<int> index;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (s.IsSkip() || filter.Filter(state, pod, *nodes[i]).ok()) {
      feasible.push_back(nodes[i]);
      index.push_back(static_cast<int>(i));
    }
  }
  if (feasible.empty()) return -1;
  if (prescore.PreScore(state, pod, feasible).IsSkip()) return index[0];
  std::vector<NodeScore> scores;
  scores.reserve(feasible.size());
  for (const NodeInfo* n : feasible) scores.push_back(NodeScore{n, score.Score(state, pod, *n)});
  if (score.HasNormalizeScore()) {
    (void)score.NormalizeScore(state, pod, absl::MakeSpan(scores));
  }
  size_t best = 0;
  for (size_t i = 1; i < scores.size(); ++i) {
    if (scores[i].score > scores[best].score) best = i;
  }
  return index[best];
}

MakePod AntiAffinityPod(const std::string& ns, int i) {
  MakePod p(ns, "anti-affinity-pod-" + std::to_string(i));
  p.Req("100m", "500Mi").Label("color", "green");
  api::PodAffinityTerm* t = p->mutable_spec()
                                ->mutable_affinity()
                                ->mutable_pod_anti_affinity()
                                ->add_required_during_scheduling_ignored_during_execution();
  (*t->mutable_label_selector()->mutable_match_labels())["color"] = "green";
  t->set_topology_key("kubernetes.io/hostname");
  t->add_namespaces("sched-1");
  t->add_namespaces("sched-0");
  return p;
}

void BM_SchedulingPodAntiAffinity(benchmark::State& state) {
  const int num_nodes = static_cast<int>(state.range(0));
  const int init_pods = num_nodes / 5;
  BenchHandle handle;
  Cluster cluster;
  for (int i = 0; i < num_nodes; ++i) {
    cluster.nodes.push_back(MakeNode("node-" + std::to_string(i)).Cpu("4").Memory("32Gi").Info());
  }
  for (int i = 0; i < init_pods; ++i) {
    cluster.nodes[i]->AddPod(AntiAffinityPod("sched-0", i).Node(cluster.nodes[i]->name()).Info());
  }
  cluster.Publish(handle);
  std::unique_ptr<Plugin> plugin = *plugins::NewInterPodAffinity("", handle);
  int i = 0;
  int64_t placed = 0;
  for (auto _ : state) {
    auto pod = AntiAffinityPod("sched-1", i++).Info();
    const int chosen = ScheduleOne(*plugin, handle, *pod);
    state.PauseTiming();
    if (chosen >= 0) {
      ++placed;
      MakePod bound = AntiAffinityPod("sched-1", i - 1);
      cluster.nodes[chosen]->AddPod(bound.Node(cluster.nodes[chosen]->name()).Info());
      cluster.Publish(handle);
    }
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["placed"] = static_cast<double>(placed);
}
BENCHMARK(BM_SchedulingPodAntiAffinity)
    ->Arg(500)
    ->Arg(5000)
    ->Iterations(2000)
    ->Unit(benchmark::kMicrosecond);

MakePod SpreadingPod(int i) {
  MakePod p("default", "spreading-pod-" + std::to_string(i));
  p.Req("100m", "500Mi").Label("color", "blue");
  api::TopologySpreadConstraint* c = p->mutable_spec()->add_topology_spread_constraints();
  c->set_max_skew(5);
  c->set_topology_key("topology.kubernetes.io/zone");
  c->set_when_unsatisfiable("DoNotSchedule");
  (*c->mutable_label_selector()->mutable_match_labels())["color"] = "blue";
  return p;
}

void BM_TopologySpreading(benchmark::State& state) {
  const int num_nodes = static_cast<int>(state.range(0));
  BenchHandle handle;
  Cluster cluster;
  const char* zones[] = {"moon-1", "moon-2", "moon-3"};
  for (int i = 0; i < num_nodes; ++i) {
    cluster.nodes.push_back(MakeNode("node-" + std::to_string(i))
                                .Cpu("4")
                                .Memory("32Gi")
                                .Label("topology.kubernetes.io/zone", zones[i % 3])
                                .Info());
  }
  for (int i = 0; i < num_nodes; ++i) {
    cluster.nodes[i]->AddPod(MakePod("default", "init-" + std::to_string(i))
                                 .Req("100m", "500Mi")
                                 .Node(cluster.nodes[i]->name())
                                 .Info());
  }
  cluster.Publish(handle);
  std::unique_ptr<Plugin> plugin = *plugins::NewPodTopologySpread("", handle);
  int i = 0;
  int64_t placed = 0;
  for (auto _ : state) {
    auto pod = SpreadingPod(i++).Info();
    const int chosen = ScheduleOne(*plugin, handle, *pod);
    state.PauseTiming();
    if (chosen >= 0) {
      ++placed;
      // Spread the placements like the real scheduler's scores would.
      const int target = (chosen + i * 7) % num_nodes;
      const int node = target - target % 3 + chosen % 3;
      cluster.nodes[node < num_nodes ? node : chosen]->AddPod(
          SpreadingPod(i - 1).Node(cluster.nodes[node < num_nodes ? node : chosen]->name()).Info());
      cluster.Publish(handle);
    }
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["placed"] = static_cast<double>(placed);
}
BENCHMARK(BM_TopologySpreading)
    ->Arg(500)
    ->Arg(5000)
    ->Iterations(2000)
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace korch::scheduler

BENCHMARK_MAIN();
