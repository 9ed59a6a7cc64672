// The node plugins' hot path, called directly on 5,000 nodes: one
// iteration runs a plugin's PreFilter/PreScore once and its Filter or Score
// on every node (items = nodes, so the rate is (pod, node) pairs per
// second). The nodes look like scheduler_perf's SchedulingBasic ones (4 cpu,
// 32Gi, 110 pods, a zone label, 2 pods placed each); the pod requests
// 100m / 500Mi. NodeAffinityFilterSelector selects one zone in three, so
// two thirds of the calls take the failure path (which allocates the
// reason). "Selector" variants give the pod a nodeSelector / a node
// taint so that the plugins do real work instead of skipping.
//
// SchedulerBasic runs the whole default profile through the embedded
// Scheduler (Schedule() in direct mode, parallelism 1) on 5,000 nodes.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "korch/scheduler/registry.h"
#include "korch/scheduler/scheduler.h"
#include "lib/scheduler/plugins/plugins.h"
#include "tests/scheduler/fake_handle.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace korch::scheduler {
namespace {

using testing::FakeHandle;
using testing::MakeNode;
using testing::MakePod;

constexpr int kNodes = 5000;

std::vector<std::shared_ptr<NodeInfo>> Nodes(bool tainted) {
  std::vector<std::shared_ptr<NodeInfo>> nodes;
  for (int i = 0; i < kNodes; ++i) {
    std::string name = "node-" + std::to_string(i);
    MakeNode n(name);
    n.Cpu("4").Memory("32Gi").Pods(110).Label("topology.kubernetes.io/zone",
                                              "zone-" + std::to_string(i % 3));
    if (tainted) n.Taint("dedicated", "infra", "PreferNoSchedule");
    auto info = n.Info();
    for (int j = 0; j < 2; ++j) {
      info->AddPod(
          MakePod("bench", name + "-" + std::to_string(j)).Req("100m", "500Mi").Node(name).Info());
    }
    nodes.push_back(info);
  }
  return nodes;
}

using Factory = plugins::FactoryResult (*)(absl::string_view, Handle&);

void RunFilter(benchmark::State& state, Factory factory, const PodInfo& pod, bool tainted) {
  FakeHandle handle;
  handle.SetNodes(Nodes(tainted));
  auto plugin = factory("", handle);
  if (!plugin.ok()) {
    state.SkipWithError(std::string(plugin.status().message()).c_str());
    return;
  }
  auto* pre = dynamic_cast<PreFilterPlugin*>(plugin->get());
  auto& filter = dynamic_cast<FilterPlugin&>(**plugin);
  const std::vector<const NodeInfo*>& nodes = handle.snapshot().List();
  int64_t passed = 0;
  for (auto _ : state) {
    CycleState cycle;
    PreFilterResult result;
    if (pre != nullptr && pre->PreFilter(cycle, pod, result).IsSkip()) continue;
    for (const NodeInfo* n : nodes) passed += filter.Filter(cycle, pod, *n).ok();
  }
  benchmark::DoNotOptimize(passed);
  state.SetItemsProcessed(state.iterations() * kNodes);
}

void RunScore(benchmark::State& state, Factory factory, const PodInfo& pod, bool tainted) {
  FakeHandle handle;
  handle.SetNodes(Nodes(tainted));
  auto plugin = factory("", handle);
  if (!plugin.ok()) {
    state.SkipWithError(std::string(plugin.status().message()).c_str());
    return;
  }
  auto* pre = dynamic_cast<PreScorePlugin*>(plugin->get());
  auto& scorer = dynamic_cast<ScorePlugin&>(**plugin);
  const std::vector<const NodeInfo*>& nodes = handle.snapshot().List();
  std::vector<NodeScore> scores(nodes.size());
  for (auto _ : state) {
    CycleState cycle;
    if (pre != nullptr && pre->PreScore(cycle, pod, absl::MakeConstSpan(nodes)).IsSkip()) {
      continue;
    }
    for (size_t i = 0; i < nodes.size(); ++i) {
      scores[i] = NodeScore{nodes[i], scorer.Score(cycle, pod, *nodes[i])};
    }
    if (scorer.HasNormalizeScore()) scorer.NormalizeScore(cycle, pod, absl::MakeSpan(scores));
  }
  state.SetItemsProcessed(state.iterations() * kNodes);
}

std::shared_ptr<const PodInfo> BasicPod() {
  return MakePod("bench", "incoming").Req("100m", "500Mi").Info();
}

void BM_NodeResourcesFitFilter(benchmark::State& s) {
  RunFilter(s, plugins::NewNodeResourcesFit, *BasicPod(), false);
}
void BM_NodeResourcesFitScore(benchmark::State& s) {
  RunScore(s, plugins::NewNodeResourcesFit, *BasicPod(), false);
}
void BM_BalancedAllocationScore(benchmark::State& s) {
  RunScore(s, plugins::NewNodeResourcesBalancedAllocation, *BasicPod(), false);
}
void BM_TaintTolerationFilter(benchmark::State& s) {
  RunFilter(s, plugins::NewTaintToleration, *BasicPod(), false);
}
void BM_TaintTolerationFilterTainted(benchmark::State& s) {
  RunFilter(s, plugins::NewTaintToleration, *BasicPod(), true);
}
void BM_TaintTolerationScoreTainted(benchmark::State& s) {
  RunScore(s, plugins::NewTaintToleration, *BasicPod(), true);
}
void BM_NodeAffinityFilterSelector(benchmark::State& s) {
  RunFilter(s, plugins::NewNodeAffinity,
            *MakePod("bench", "incoming")
                 .Req("100m", "500Mi")
                 .NodeSelector("topology.kubernetes.io/zone", "zone-1")
                 .Info(),
            false);
}
// Every node matches: the success path only.
void BM_NodeAffinityFilterSelectorAllMatch(benchmark::State& s) {
  RunFilter(
      s, plugins::NewNodeAffinity,
      *MakePod("bench", "incoming").Req("100m", "500Mi").NodeSelector("pool", "default").Info(),
      false);
}
void BM_NodeUnschedulableFilter(benchmark::State& s) {
  RunFilter(s, plugins::NewNodeUnschedulable, *BasicPod(), false);
}
void BM_NodePortsFilter(benchmark::State& s) {
  RunFilter(s, plugins::NewNodePorts, *MakePod("bench", "incoming").HostPort(8080).Info(), false);
}
void BM_ImageLocalityScore(benchmark::State& s) {
  RunScore(s, plugins::NewImageLocality, *BasicPod(), false);
}
BENCHMARK(BM_NodeResourcesFitFilter);
BENCHMARK(BM_NodeResourcesFitScore);
BENCHMARK(BM_BalancedAllocationScore);
BENCHMARK(BM_TaintTolerationFilter);
BENCHMARK(BM_TaintTolerationFilterTainted);
BENCHMARK(BM_TaintTolerationScoreTainted);
BENCHMARK(BM_NodeAffinityFilterSelector);
BENCHMARK(BM_NodeAffinityFilterSelectorAllMatch);
BENCHMARK(BM_NodeUnschedulableFilter);
BENCHMARK(BM_NodePortsFilter);
BENCHMARK(BM_ImageLocalityScore);

Registry FullRegistry() {
  Registry r = NewInTreeRegistry();
  const std::pair<absl::string_view, PluginFactory> all[] = {
      {names::kPrioritySort, plugins::NewPrioritySort},
      {names::kSchedulingGates, plugins::NewSchedulingGates},
      {names::kDefaultBinder, plugins::NewDefaultBinder},
      {names::kNodeName, plugins::NewNodeName},
      {names::kNodeUnschedulable, plugins::NewNodeUnschedulable},
      {names::kNodeResourcesFit, plugins::NewNodeResourcesFit},
      {names::kNodeResourcesBalancedAllocation, plugins::NewNodeResourcesBalancedAllocation},
      {names::kNodeAffinity, plugins::NewNodeAffinity},
      {names::kTaintToleration, plugins::NewTaintToleration},
      {names::kNodePorts, plugins::NewNodePorts},
      {names::kImageLocality, plugins::NewImageLocality},
      {names::kInterPodAffinity, plugins::NewInterPodAffinity},
      {names::kPodTopologySpread, plugins::NewPodTopologySpread},
      {names::kDefaultPreemption, plugins::NewDefaultPreemption},
  };
  for (const auto& [name, factory] : all) {
    if (r.Find(name) == nullptr) r.Register(name, factory).IgnoreError();
  }
  return r;
}

// Pods/s of the default profile on 5,000 nodes (adaptive
// percentageOfNodesToScore, parallelism 1); each iteration schedules one
// new pod and binds it in the scheduler's cache.
void BM_SchedulerBasicDefaultProfile(benchmark::State& state) {
  Registry registry = FullRegistry();
  SchedulerOptions o;
  o.config.parallelism = 1;
  o.registry = &registry;
  o.seed = 1;
  auto s = Scheduler::Create(std::move(o));
  if (!s.ok()) {
    state.SkipWithError(std::string(s.status().message()).c_str());
    return;
  }
  for (int i = 0; i < kNodes; ++i) {
    (*s)->AddNode(MakeNode("node-" + std::to_string(i))
                      .Cpu("4")
                      .Memory("32Gi")
                      .Pods(110)
                      .Label("topology.kubernetes.io/zone", "zone-" + std::to_string(i % 3)))
        .IgnoreError();
  }
  int64_t n = 0;
  for (auto _ : state) {
    auto r = (*s)->Schedule(MakePod("bench", "p" + std::to_string(n++)).Req("100m", "500Mi"));
    if (!r.ok() || r->node_name.empty()) {
      state.SkipWithError("a pod did not schedule");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SchedulerBasicDefaultProfile)->Iterations(20000);

}  // namespace
}  // namespace korch::scheduler

BENCHMARK_MAIN();
