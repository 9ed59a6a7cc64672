// The scheduler on kube-scheduler's scheduler_perf workload shapes
// (test/integration/scheduler_perf/config/performance-config.yaml), other
// than SchedulingBasic embedded (bench/scheduler_bench.cc):
//
//   BM_DaemonSet/<nodes>          one pod per node, each pinned by required
//                                 node affinity on metadata.name (the
//                                 NodeAffinity PreFilter narrows the nodes)
//   BM_PodAntiAffinity/<nodes>    required anti-affinity on hostname among
//                                 pods labelled color=green (1,000 placed
//                                 in sched-0 first, 1,000 measured in
//                                 sched-1; the term names both namespaces)
//   BM_PodAffinity/<nodes>        required affinity by zone (every node in
//                                 zone1) to color=blue pods; 5,000 placed,
//                                 1,000 measured
//   BM_TopologySpreading/<nodes>  maxSkew 5 over three zones, DoNotSchedule;
//                                 5,000 plain pods placed, 2,000 measured
//   BM_NodeAffinity/<nodes>       required node affinity zone In (zone1,
//                                 zone2); 5,000 placed, 1,000 measured
//   BM_Preemption/<nodes>         2,000 low-priority 900m pods fill 500
//                                 nodes; 500 priority-10 3-cpu pods each
//                                 preempt (victims leave the cache, the pod
//                                 is scheduled again on its nominated node)
//   BM_Memory/<nodes>/<pods>      15,000 nodes holding 150,000 bound pods:
//                                 the RSS the scheduler's cache adds
//   BM_ApiSchedulingBasic/<nodes>/<sync>  end to end: an ApiServer over
//                                 RocksDB in a temp dir (sync: fsync each
//                                 write, the default), pods created through
//                                 the in-process Client, the ApiScheduler
//                                 binding them through pods/binding; pods/s
//                                 from the first create to the last binding
//
// Nodes are scheduler_perf's node-default (4 cpu, 32Gi, 110 pods); pods
// request 100m and 500Mi unless said. Each benchmark runs once (setup is
// not timed) and reports pods/s; every wait is bounded.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "korch/api/core.pb.h"
#include "korch/apiserver/admission.h"
#include "korch/apiserver/server.h"
#include "korch/client/client.h"
#include "korch/scheduler/api_scheduler.h"
#include "korch/scheduler/scheduler.h"
#include "korch/store.h"

namespace korch::scheduler {
namespace {

void Must(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
    abort();
  }
}

// The machine's cores, or KORCH_BENCH_PARALLELISM.
int Parallelism() {
  if (const char* env = std::getenv("KORCH_BENCH_PARALLELISM"); env != nullptr && atoi(env) > 0) {
    return atoi(env);
  }
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 2 : static_cast<int>(n);
}

// CPU time of the whole process (every thread) so far.
absl::Duration ProcessCpu() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return absl::DurationFromTimeval(u.ru_utime) + absl::DurationFromTimeval(u.ru_stime);
}

int64_t RssBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

api::Node Node(int i, const std::string& zone = "") {
  api::Node n;
  const std::string name = absl::StrCat("node-", i);
  n.mutable_metadata()->set_name(name);
  n.mutable_metadata()->set_uid(absl::StrCat("uid-", name));
  (*n.mutable_metadata()->mutable_labels())["kubernetes.io/hostname"] = name;
  if (!zone.empty())
    (*n.mutable_metadata()->mutable_labels())["topology.kubernetes.io/zone"] = zone;
  for (auto* list :
       {n.mutable_status()->mutable_capacity(), n.mutable_status()->mutable_allocatable()}) {
    (*list)["cpu"] = "4";
    (*list)["memory"] = "32Gi";
    (*list)["pods"] = "110";
  }
  return n;
}

api::Pod Pod(const std::string& ns, const std::string& name, const std::string& cpu = "100m") {
  api::Pod p;
  p.mutable_metadata()->set_namespace_(ns);
  p.mutable_metadata()->set_name(name);
  p.mutable_metadata()->set_uid(absl::StrCat(ns, "/", name));
  p.mutable_spec()->set_scheduler_name("default-scheduler");
  api::Container* c = p.mutable_spec()->add_containers();
  c->set_name("pause");
  c->set_image("registry.k8s.io/pause:3.10");
  c->add_ports()->set_container_port(80);
  for (auto* list :
       {c->mutable_resources()->mutable_requests(), c->mutable_resources()->mutable_limits()}) {
    (*list)["cpu"] = cpu;
    (*list)["memory"] = "500Mi";
  }
  return p;
}

api::PodAffinityTerm Term(const std::string& label, const std::string& value,
                          const std::string& topology_key) {
  api::PodAffinityTerm t;
  (*t.mutable_label_selector()->mutable_match_labels())[label] = value;
  t.set_topology_key(topology_key);
  t.add_namespaces("sched-0");
  t.add_namespaces("sched-1");
  return t;
}

std::unique_ptr<Scheduler> NewScheduler() {
  SchedulerOptions options;
  options.config.parallelism = Parallelism();
  options.seed = 42;
  auto s = Scheduler::Create(std::move(options));
  Must(s.status(), "Scheduler::Create");
  return *std::move(s);
}

// Schedules `pods` as one batch; aborts the benchmark on errors and
// counts unschedulable pods.
int64_t Batch(Scheduler& s, const std::vector<api::Pod>& pods) {
  int64_t failed = 0;
  for (const auto& r : s.ScheduleBatch(pods)) {
    if (!r.ok()) Must(r.status(), "ScheduleBatch");
    if (r->node_name.empty()) ++failed;
  }
  return failed;
}

// Runs the measured batch once and reports pods/s and unschedulable pods.
void Measure(benchmark::State& state, Scheduler& s, const std::vector<api::Pod>& pods) {
  int64_t failed = 0;
  for (auto _ : state) failed = Batch(s, pods);
  state.counters["pods/s"] =
      benchmark::Counter(static_cast<double>(pods.size()), benchmark::Counter::kIsRate);
  state.counters["unschedulable"] = static_cast<double>(failed);
}

void BM_DaemonSet(benchmark::State& state) {
  const int nodes = static_cast<int>(state.range(0));
  auto s = NewScheduler();
  for (int i = 0; i < nodes; ++i) Must(s->AddNode(Node(i)), "AddNode");
  std::vector<api::Pod> pods;
  pods.reserve(nodes);
  for (int i = 0; i < nodes; ++i) {
    api::Pod p = Pod("default", absl::StrCat("daemonset-", i), "");
    p.mutable_spec()->mutable_containers(0)->mutable_resources()->Clear();
    api::NodeSelectorRequirement* r =
        p.mutable_spec()
            ->mutable_affinity()
            ->mutable_node_affinity()
            ->mutable_required_during_scheduling_ignored_during_execution()
            ->add_node_selector_terms()
            ->add_match_fields();
    r->set_key("metadata.name");
    r->set_operator_("In");
    r->add_values(absl::StrCat("node-", i));
    pods.push_back(std::move(p));
  }
  Measure(state, *s, pods);
}
BENCHMARK(BM_DaemonSet)
    ->Arg(500)
    ->Arg(15000)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_PodAntiAffinity(benchmark::State& state) {
  const int nodes = static_cast<int>(state.range(0));
  const int init = nodes >= 5000 ? 1000 : 100, measure = nodes >= 5000 ? 1000 : 400;
  auto s = NewScheduler();
  for (int i = 0; i < nodes; ++i) Must(s->AddNode(Node(i)), "AddNode");
  auto make = [](const std::string& ns, int i) {
    api::Pod p = Pod(ns, absl::StrCat("anti-affinity-pod-", i));
    (*p.mutable_metadata()->mutable_labels())["color"] = "green";
    *p.mutable_spec()
         ->mutable_affinity()
         ->mutable_pod_anti_affinity()
         ->add_required_during_scheduling_ignored_during_execution() =
        Term("color", "green", "kubernetes.io/hostname");
    return p;
  };
  std::vector<api::Pod> setup, pods;
  for (int i = 0; i < init; ++i) setup.push_back(make("sched-0", i));
  for (int i = 0; i < measure; ++i) pods.push_back(make("sched-1", i));
  Batch(*s, setup);
  Measure(state, *s, pods);
}
BENCHMARK(BM_PodAntiAffinity)
    ->Arg(500)
    ->Arg(5000)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_PodAffinity(benchmark::State& state) {
  const int nodes = static_cast<int>(state.range(0));
  const int init = nodes >= 5000 ? 5000 : 500, measure = 1000;
  auto s = NewScheduler();
  for (int i = 0; i < nodes; ++i) Must(s->AddNode(Node(i, "zone1")), "AddNode");
  auto make = [](const std::string& ns, int i) {
    api::Pod p = Pod(ns, absl::StrCat("affinity-pod-", i));
    (*p.mutable_metadata()->mutable_labels())["color"] = "blue";
    *p.mutable_spec()
         ->mutable_affinity()
         ->mutable_pod_affinity()
         ->add_required_during_scheduling_ignored_during_execution() =
        Term("color", "blue", "topology.kubernetes.io/zone");
    return p;
  };
  std::vector<api::Pod> setup, pods;
  for (int i = 0; i < init; ++i) setup.push_back(make("sched-0", i));
  for (int i = 0; i < measure; ++i) pods.push_back(make("sched-1", i));
  Batch(*s, setup);
  Measure(state, *s, pods);
}
BENCHMARK(BM_PodAffinity)
    ->Arg(500)
    ->Arg(5000)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_TopologySpreading(benchmark::State& state) {
  const int nodes = static_cast<int>(state.range(0));
  const int init = nodes >= 5000 ? 5000 : 1000, measure = nodes >= 5000 ? 2000 : 1000;
  const char* zones[] = {"moon-1", "moon-2", "moon-3"};
  auto s = NewScheduler();
  for (int i = 0; i < nodes; ++i) Must(s->AddNode(Node(i, zones[i % 3])), "AddNode");
  std::vector<api::Pod> setup, pods;
  for (int i = 0; i < init; ++i) setup.push_back(Pod("default", absl::StrCat("pod-", i)));
  for (int i = 0; i < measure; ++i) {
    api::Pod p = Pod("default", absl::StrCat("spreading-pod-", i));
    (*p.mutable_metadata()->mutable_labels())["color"] = "blue";
    api::TopologySpreadConstraint* c = p.mutable_spec()->add_topology_spread_constraints();
    c->set_max_skew(5);
    c->set_topology_key("topology.kubernetes.io/zone");
    c->set_when_unsatisfiable("DoNotSchedule");
    (*c->mutable_label_selector()->mutable_match_labels())["color"] = "blue";
    pods.push_back(std::move(p));
  }
  Batch(*s, setup);
  Measure(state, *s, pods);
}
BENCHMARK(BM_TopologySpreading)
    ->Arg(500)
    ->Arg(5000)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_NodeAffinity(benchmark::State& state) {
  const int nodes = static_cast<int>(state.range(0));
  const int init = nodes >= 5000 ? 5000 : 500, measure = 1000;
  auto s = NewScheduler();
  for (int i = 0; i < nodes; ++i) Must(s->AddNode(Node(i, "zone1")), "AddNode");
  std::vector<api::Pod> setup, pods;
  for (int i = 0; i < init; ++i) setup.push_back(Pod("default", absl::StrCat("pod-", i)));
  for (int i = 0; i < measure; ++i) {
    api::Pod p = Pod("default", absl::StrCat("node-affinity-", i));
    api::NodeSelectorRequirement* r =
        p.mutable_spec()
            ->mutable_affinity()
            ->mutable_node_affinity()
            ->mutable_required_during_scheduling_ignored_during_execution()
            ->add_node_selector_terms()
            ->add_match_expressions();
    r->set_key("topology.kubernetes.io/zone");
    r->set_operator_("In");
    r->add_values("zone1");
    r->add_values("zone2");
    pods.push_back(std::move(p));
  }
  Batch(*s, setup);
  Measure(state, *s, pods);
}
BENCHMARK(BM_NodeAffinity)
    ->Arg(500)
    ->Arg(5000)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_Preemption(benchmark::State& state) {
  const int nodes = static_cast<int>(state.range(0));
  const int init = nodes * 4, measure = nodes;
  auto s = NewScheduler();
  for (int i = 0; i < nodes; ++i) Must(s->AddNode(Node(i)), "AddNode");
  std::vector<api::Pod> setup, pods;
  for (int i = 0; i < init; ++i) {
    api::Pod p = Pod("default", absl::StrCat("low-", i), "900m");
    p.mutable_spec()->set_termination_grace_period_seconds(0);
    setup.push_back(std::move(p));
  }
  for (int i = 0; i < measure; ++i) {
    api::Pod p = Pod("default", absl::StrCat("high-", i), "3");
    p.mutable_spec()->set_priority(10);
    pods.push_back(std::move(p));
  }
  int64_t setup_failed = Batch(*s, setup);
  int64_t failed = 0, preempted = 0;
  for (auto _ : state) {
    for (const api::Pod& pod : pods) {
      // At most a few cycles per pod: preempt, then place on the nominated
      // node once the victims left the cache.
      bool placed = false;
      for (int attempt = 0; attempt < 3 && !placed; ++attempt) {
        auto r = s->Schedule(pod);
        Must(r.status(), "Schedule");
        placed = !r->node_name.empty();
        if (!r->nominated_node_name.empty()) ++preempted;
        if (!placed && r->nominated_node_name.empty()) break;
      }
      if (!placed) ++failed;
    }
  }
  state.counters["pods/s"] =
      benchmark::Counter(static_cast<double>(pods.size()), benchmark::Counter::kIsRate);
  state.counters["unschedulable"] = static_cast<double>(failed);
  state.counters["preemptions"] = static_cast<double>(preempted);
  state.counters["setup_unschedulable"] = static_cast<double>(setup_failed);
}
BENCHMARK(BM_Preemption)->Arg(500)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_Memory(benchmark::State& state) {
  const int nodes = static_cast<int>(state.range(0));
  const int pods = static_cast<int>(state.range(1));
  for (auto _ : state) {
    const int64_t before = RssBytes();
    auto s = NewScheduler();
    for (int i = 0; i < nodes; ++i) Must(s->AddNode(Node(i)), "AddNode");
    for (int i = 0; i < pods; ++i) {
      api::Pod p = Pod("default", absl::StrCat("pod-", i));
      p.mutable_spec()->set_node_name(absl::StrCat("node-", i % nodes));
      Must(s->AddPod(p), "AddPod");
    }
    const int64_t after = RssBytes();
    state.counters["rss_MiB"] = static_cast<double>(after - before) / (1 << 20);
    state.counters["bytes/pod"] = static_cast<double>(after - before) / pods;
    state.counters["cached_pods"] = static_cast<double>(s->Stats().pods);
    state.counters["pods/s"] =
        benchmark::Counter(static_cast<double>(pods), benchmark::Counter::kIsRate);
  }
}
BENCHMARK(BM_Memory)
    ->Args({15000, 150000})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// --- End to end through the API ---------------------------------------------

// Threads creating pods, or KORCH_BENCH_CREATORS. Kubernetes' test
// utilities create pods from 30 workers; on two cores 30 creators outrun the
// scheduler, while 16 keep enough writes in flight for a synced store to
// share each sync among more of them (measured here: with 8, a synced run
// binds about a quarter fewer pods per second at more CPU per pod).
int Creators() {
  if (const char* env = std::getenv("KORCH_BENCH_CREATORS"); env != nullptr && atoi(env) > 0) {
    return atoi(env);
  }
  return 16;
}

void BM_ApiSchedulingBasic(benchmark::State& state) {
  const int nodes = static_cast<int>(state.range(0));
  const bool sync = state.range(1) != 0;
  const int init = nodes >= 5000 ? 1000 : 500, measure = nodes >= 5000 ? 10000 : 1000;
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      absl::StrCat("korch-scheduler-bench-", ::getpid(), "-", nodes, "-", sync);
  std::filesystem::remove_all(dir);
  store::RocksDbStorageOptions so;
  so.path = dir.string();
  so.sync = sync;
  auto storage = store::OpenRocksDbStorage(so);
  Must(storage.status(), "OpenRocksDbStorage");
  apiserver::ApiServerOptions ao;
  ao.storage = storage->get();
  ao.admission = apiserver::DefaultAdmissionChain();
  auto server = apiserver::ApiServer::Create(std::move(ao));
  Must(server.status(), "ApiServer::Create");
  auto client = client::NewInProcessClient(**server, apiserver::SystemUser());

  auto create = [&](api::Pod p) {
    p.mutable_metadata()->clear_uid();
    Must(client->Create(p).status(), "create pod");
  };
  for (int i = 0; i < nodes; ++i) {
    api::Node n = Node(i);
    n.mutable_metadata()->clear_uid();
    Must(client->Create(n).status(), "create node");
  }
  for (int i = 0; i < init; ++i) {
    api::Pod p = Pod("default", absl::StrCat("init-", i));
    p.mutable_spec()->set_node_name(absl::StrCat("node-", i % nodes));
    create(std::move(p));
  }
  ApiSchedulerOptions options;
  options.client = client.get();
  options.config.parallelism = Parallelism();
  options.seed = 42;
  options.identity = "bench";
  options.logger = Logger("scheduler", LogLevel::kWarning);
  auto scheduler = ApiScheduler::Create(std::move(options));
  Must(scheduler.status(), "ApiScheduler::Create");
  Must((*scheduler)->Start(), "ApiScheduler::Start");

  int64_t bound = 0;
  bool timed_out = false;
  absl::Duration creating;
  absl::Duration cpu;
  absl::Mutex created_mu;
  absl::Time created_at = absl::InfinitePast();
  for (auto _ : state) {
    // Creators in parallel (scheduler_perf creates pods concurrently; a
    // synced store shares one sync among concurrent writes).
    std::vector<std::thread> creators;
    const absl::Duration cpu_start = ProcessCpu();
    const absl::Time start = absl::Now();
    const int creator_threads = Creators();
    for (int t = 0; t < creator_threads; ++t) {
      creators.emplace_back([&, t, creator_threads] {
        for (int i = t; i < measure; i += creator_threads)
          create(Pod("default", absl::StrCat("pod-", i)));
        absl::MutexLock lock(&created_mu);
        created_at = std::max(created_at, absl::Now());
      });
    }
    const absl::Time deadline = absl::Now() + absl::Seconds(300);
    while ((*scheduler)->Stats().bindings < measure) {
      if (absl::Now() > deadline) {
        timed_out = true;
        break;
      }
      absl::SleepFor(absl::Microseconds(200));
    }
    for (auto& t : creators) t.join();
    bound = (*scheduler)->Stats().bindings;
    cpu = ProcessCpu() - cpu_start;
    absl::MutexLock lock(&created_mu);
    creating = created_at - start;
  }
  ApiSchedulerStats stats = (*scheduler)->Stats();
  (*scheduler)->WaitForWrites(absl::Seconds(30));
  stats = (*scheduler)->Stats();
  state.counters["pods/s"] =
      benchmark::Counter(static_cast<double>(bound), benchmark::Counter::kIsRate);
  state.counters["bound"] = static_cast<double>(bound);
  // How fast the pods were created meanwhile: the end-to-end rate's ceiling.
  state.counters["creates/s"] = measure / absl::ToDoubleSeconds(creating);
  // CPU (all threads) per bound pod: on a shared machine a steadier
  // measure of the path's cost than the rates.
  state.counters["cpu_us/pod"] = absl::ToDoubleMicroseconds(cpu) / std::max<int64_t>(bound, 1);
  state.counters["timed_out"] = timed_out ? 1 : 0;
  state.counters["binding_failures"] = static_cast<double>(stats.binding_failures);
  state.counters["events"] = static_cast<double>(stats.events);
  state.counters["dropped_writes"] = static_cast<double>(stats.dropped_writes);
  (*scheduler)->Stop();
  scheduler->reset();
  client.reset();
  server->reset();
  storage->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_ApiSchedulingBasic)
    ->Args({500, 1})
    ->Args({5000, 1})
    ->Args({5000, 0})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace korch::scheduler

BENCHMARK_MAIN();
