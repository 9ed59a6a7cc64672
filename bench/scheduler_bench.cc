// The embedded scheduler on kube-scheduler's scheduler_perf workloads,
// with the default profile (every in-tree plugin, adaptive percentage of
// nodes to score). Each workload is a function below; they share the
// cluster builders at the top. pods/s counts the measured pods only (the
// nodes and the pods placed beforehand are set up outside the timing).
//
//   SchedulingBasic: nodes like scheduler_perf's node-default.yaml (4 cpu,
//   32Gi, 110 pods), pods like pod-default.yaml (one pause container asking
//   100m cpu and 500Mi), some pods already placed, then the measured pods,
//   scheduled one at a time with Scheduler::Schedule() (direct) or queued
//   with AddPod() and drained with RunUntilIdle() (queued).
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "korch/api/core.pb.h"
#include "korch/scheduler/scheduler.h"

namespace korch::scheduler {
namespace {

// ---------------------------------------------------------------------------
// Cluster builders shared by the workloads.
// ---------------------------------------------------------------------------

api::Node BenchNode(int i) {
  api::Node n;
  std::string name = absl::StrCat("node-", i);
  n.mutable_metadata()->set_name(name);
  n.mutable_metadata()->set_uid(absl::StrCat("uid-", name));
  auto& labels = *n.mutable_metadata()->mutable_labels();
  labels["kubernetes.io/hostname"] = name;
  labels["topology.kubernetes.io/zone"] = absl::StrCat("zone-", i % 3);
  for (auto* list :
       {n.mutable_status()->mutable_capacity(), n.mutable_status()->mutable_allocatable()}) {
    (*list)["cpu"] = "4";
    (*list)["memory"] = "32Gi";
    (*list)["pods"] = "110";
  }
  return n;
}

api::Pod BenchPod(const std::string& ns, const std::string& name) {
  api::Pod p;
  p.mutable_metadata()->set_namespace_(ns);
  p.mutable_metadata()->set_name(name);
  p.mutable_metadata()->set_uid(absl::StrCat(ns, "-", name));
  api::Container* c = p.mutable_spec()->add_containers();
  c->set_name("pause");
  c->set_image("registry.k8s.io/pause:3.9");
  auto& requests = *c->mutable_resources()->mutable_requests();
  requests["cpu"] = "100m";
  requests["memory"] = "500Mi";
  return p;
}

struct BenchCluster {
  int nodes = 0;
  int placed_pods = 0;  // bound round-robin before the measurement
  int parallelism = 2;
  // Only PrioritySort and DefaultBinder: what the framework itself costs.
  bool framework_only = false;
  int percentage = 0;  // percentageOfNodesToScore; 0: adaptive
};

std::unique_ptr<Scheduler> NewBenchScheduler(const BenchCluster& shape) {
  SchedulerOptions options;
  options.config.parallelism = shape.parallelism;
  options.config.percentage_of_nodes_to_score = shape.percentage;
  options.seed = 1;
  if (shape.framework_only) {
    Plugins& plugins = options.config.profiles[0].plugins;
    PluginRef all;
    all.name = "*";
    plugins.multi_point.disabled.push_back(all);
    for (const char* name : {"PrioritySort", "DefaultBinder"}) {
      PluginRef r;
      r.name = name;
      plugins.multi_point.enabled.push_back(r);
    }
  }
  auto s = Scheduler::Create(std::move(options));
  if (!s.ok()) {
    fprintf(stderr, "Scheduler::Create: %s\n", s.status().ToString().c_str());
    abort();
  }
  for (int i = 0; i < shape.nodes; ++i) {
    if (!(*s)->AddNode(BenchNode(i)).ok()) abort();
  }
  for (int i = 0; i < shape.placed_pods; ++i) {
    api::Pod p = BenchPod("init", absl::StrCat("init-", i));
    p.mutable_spec()->set_node_name(absl::StrCat("node-", i % shape.nodes));
    if (!(*s)->AddPod(p).ok()) abort();
  }
  return std::move(*s);
}

std::vector<api::Pod> BenchPods(const std::string& ns, int n) {
  std::vector<api::Pod> pods;
  pods.reserve(n);
  for (int i = 0; i < n; ++i) pods.push_back(BenchPod(ns, absl::StrCat("pod-", i)));
  return pods;
}

// ---------------------------------------------------------------------------
// SchedulingBasic
// ---------------------------------------------------------------------------

// Args: nodes, placed pods, measured pods, queued (0: Schedule(), 1:
// AddPod() + RunUntilIdle()), parallelism, framework only (1: no filter or
// score plugin, to see what the runtime itself costs per pod),
// percentageOfNodesToScore (0: adaptive, 10% at 5,000 nodes; 100: every
// node filtered and scored, where parallelism has the most work to share).
void BM_SchedulingBasic(benchmark::State& state) {
  BenchCluster shape;
  shape.nodes = static_cast<int>(state.range(0));
  shape.placed_pods = static_cast<int>(state.range(1));
  shape.parallelism = static_cast<int>(state.range(4));
  shape.framework_only = state.range(5) != 0;
  shape.percentage = static_cast<int>(state.range(6));
  const int measured = static_cast<int>(state.range(2));
  const bool queued = state.range(3) != 0;
  int64_t scheduled = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::unique_ptr<Scheduler> s = NewBenchScheduler(shape);
    std::vector<api::Pod> pods = BenchPods("sched", measured);
    // The scheduler shares the pods (Schedule(shared_ptr), AddSharedPod),
    // as a host that keeps its pods in shared_ptrs would (the API adapter's
    // informer does), rather than copying each one.
    std::vector<std::shared_ptr<const api::Pod>> shared;
    shared.reserve(pods.size());
    for (api::Pod& p : pods) shared.push_back(std::make_shared<const api::Pod>(std::move(p)));
    state.ResumeTiming();
    if (queued) {
      for (const auto& p : shared) {
        if (!s->AddSharedPod(p).ok()) abort();
      }
      s->RunUntilIdle();
    } else {
      for (const auto& p : shared) {
        auto r = s->Schedule(p);
        if (!r.ok() || r->node_name.empty()) abort();
      }
    }
    state.PauseTiming();
    scheduled += s->Stats().scheduled;
    s.reset();
    state.ResumeTiming();
  }
  state.counters["pods/s"] =
      benchmark::Counter(static_cast<double>(scheduled), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SchedulingBasic)
    ->ArgNames({"nodes", "placed", "pods", "queued", "par", "bare", "pct"})
    ->Args({500, 0, 1000, 0, 1, 0, 0})
    ->Args({500, 0, 1000, 0, 2, 0, 0})
    ->Args({5000, 1000, 10000, 0, 1, 0, 0})
    ->Args({5000, 1000, 10000, 0, 2, 0, 0})
    ->Args({5000, 1000, 10000, 1, 2, 0, 0})
    ->Args({5000, 0, 50000, 0, 1, 0, 0})
    ->Args({5000, 0, 50000, 0, 2, 0, 0})
    ->Args({5000, 1000, 10000, 0, 1, 1, 0})
    ->Args({5000, 1000, 2000, 0, 1, 0, 100})
    ->Args({5000, 1000, 2000, 0, 2, 0, 100})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

}  // namespace
}  // namespace korch::scheduler

BENCHMARK_MAIN();
