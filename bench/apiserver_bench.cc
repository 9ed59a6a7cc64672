// The API server's request pipeline, in-process (no HTTP), with everything
// a production server runs on each request: RBAC (a user bound to the "edit"
// ClusterRole in one namespace), the node authorizer, and every built-in
// admission plugin, with a LimitRange in the namespace:
//   BM_Create/<store>/quota:<0|1>  pod creates per second; with quota:1 the
//                                  namespace has a ResourceQuota, so every
//                                  create also charges it in the same
//                                  transaction (they serialize on it, as
//                                  in Kubernetes)
//   BM_Get/<store>                 pod gets per second
//   BM_Update/<store>              pod updates (one label changed) per second;
//                                  each thread updates its own pod
//   BM_InformerFanOut/<informers>  one ConfigMap update delivered to N
//                                  informers: delivery latency median and p99
// <store>: 0 = memory (the pipeline's own cost), 1 = RocksDB with synced
// writes (what a user gets by default). Every loop is bounded by Google
// Benchmark's iteration control or by a deadline.
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "korch/api/codec.h"
#include "korch/api/core.pb.h"
#include "korch/api/object.h"
#include "korch/api/rbac.pb.h"
#include "korch/apiserver/admission.h"
#include "korch/apiserver/server.h"
#include "korch/client/client.h"
#include "korch/client/informer.h"
#include "korch/store.h"

namespace korch {
namespace {

using apiserver::ApiServer;
using apiserver::UserInfo;

template <typename T>
T MustDecode(absl::string_view json) {
  absl::StatusOr<T> out = api::DecodeJsonAs<T>(json);
  if (!out.ok()) {
    fprintf(stderr, "bad fixture: %s\n", out.status().ToString().c_str());
    abort();
  }
  return *std::move(out);
}

void Must(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
    abort();
  }
}

// One server per (store, quota) configuration, made on first use and kept
// for the process (benchmarks with threads share it).
struct Cluster {
  std::filesystem::path dir;
  std::unique_ptr<store::Storage> storage;
  std::unique_ptr<ApiServer> server;
  std::unique_ptr<client::Client> admin;
  std::unique_ptr<client::Client> alice;
  std::atomic<int64_t> next{0};

  Cluster(int store_kind, bool quota) {
    if (store_kind == 1) {
      dir = std::filesystem::temp_directory_path() /
            absl::StrCat("korch-apiserver-bench-", ::getpid(), "-", quota);
      std::filesystem::remove_all(dir);
      store::RocksDbStorageOptions o;
      o.path = dir.string();
      o.sync = true;
      auto s = store::OpenRocksDbStorage(o);
      Must(s.status(), "open rocksdb");
      storage = *std::move(s);
    } else {
      auto s = store::OpenMemoryStorage();
      Must(s.status(), "open memory store");
      storage = *std::move(s);
    }
    apiserver::ApiServerOptions options;
    options.storage = storage.get();
    options.authorization.rbac = true;
    options.authorization.node = true;
    options.admission = apiserver::DefaultAdmissionChain();
    auto made = ApiServer::Create(std::move(options));
    Must(made.status(), "create server");
    server = *std::move(made);
    admin = client::NewInProcessClient(*server, apiserver::SystemUser());
    UserInfo user;
    user.name = "alice";
    user.groups = {"system:authenticated"};
    alice = client::NewInProcessClient(*server, user);

    Must(admin->Create(MustDecode<api::Namespace>(R"({"metadata":{"name":"bench"}})")).status(),
         "namespace");
    Must(admin
             ->Create(MustDecode<api::RoleBinding>(
                 R"({"metadata":{"name":"alice-edit","namespace":"bench"},
                     "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"edit"},
                     "subjects":[{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"alice"}]})"))
             .status(),
         "rolebinding");
    Must(admin
             ->Create(MustDecode<api::LimitRange>(
                 R"({"metadata":{"name":"defaults","namespace":"bench"},
                     "spec":{"limits":[{"type":"Container","default":{"cpu":"500m","memory":"256Mi"},
                                        "defaultRequest":{"cpu":"100m","memory":"64Mi"}}]}})"))
             .status(),
         "limitrange");
    if (quota) {
      Must(admin
               ->Create(MustDecode<api::ResourceQuota>(
                   R"({"metadata":{"name":"q","namespace":"bench"},
                       "spec":{"hard":{"pods":"1000000000","requests.cpu":"1000000","requests.memory":"1000Ti"}}})"))
               .status(),
           "quota");
    }
    // RBAC changes reach the authorizer through a watch: wait until alice
    // may create (bounded).
    api::Pod probe = Pod(0);
    probe.mutable_metadata()->set_name("probe");
    absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (!alice->Create(probe).ok()) {
      if (absl::Now() > deadline) {
        fprintf(stderr, "alice never got her grant\n");
        abort();
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  ~Cluster() {
    admin.reset();
    alice.reset();
    server.reset();
    storage.reset();
    if (!dir.empty()) std::filesystem::remove_all(dir);
  }

  static api::Pod Pod(int64_t i) {
    static const api::Pod tmpl = MustDecode<api::Pod>(R"({
      "metadata":{"namespace":"bench","labels":{"app":"web","tier":"frontend"}},
      "spec":{"containers":[{"name":"web","image":"nginx:1.25",
        "ports":[{"containerPort":80}],
        "env":[{"name":"MODE","value":"production"}]}]}})");
    api::Pod p = tmpl;
    p.mutable_metadata()->set_name(absl::StrCat("pod-", i));
    return p;
  }
};

Cluster& Get(int store_kind, bool quota) {
  static absl::Mutex mu;
  static std::unique_ptr<Cluster> clusters[2][2];
  absl::MutexLock lock(&mu);
  auto& c = clusters[store_kind][quota ? 1 : 0];
  if (c == nullptr) c = std::make_unique<Cluster>(store_kind, quota);
  return *c;
}

void BM_Create(benchmark::State& state) {
  Cluster& c = Get(static_cast<int>(state.range(0)), state.range(1) != 0);
  int64_t errors = 0;
  for (auto _ : state) {
    api::Pod pod = Cluster::Pod(c.next.fetch_add(1) + 1);
    if (!c.alice->Create(pod).ok()) ++errors;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["errors"] = static_cast<double>(errors);
}
BENCHMARK(BM_Create)
    ->ArgNames({"store", "quota"})
    ->Args({0, 0})
    ->Args({0, 1})
    ->Args({1, 0})
    ->Args({1, 1})
    ->Threads(1)
    ->Threads(16)
    ->UseRealTime()
    ->MinTime(2.0);

void BM_Get(benchmark::State& state) {
  Cluster& c = Get(static_cast<int>(state.range(0)), false);
  const int64_t kPods = 1000;
  if (state.thread_index() == 0) {
    static std::atomic<bool> filled[2] = {false, false};
    if (!filled[state.range(0)].exchange(true)) {
      for (int64_t i = 0; i < kPods; ++i) {
        api::Pod pod = Cluster::Pod(1'000'000'000 + i);
        Must(c.admin->Create(pod).status(), "fill");
      }
    }
  }
  const auto& kind = c.alice->KindOf<api::Pod>();
  int64_t i = state.thread_index() * 7919;
  int64_t errors = 0;
  for (auto _ : state) {
    auto got = c.alice->Get(kind, "bench", absl::StrCat("pod-", 1'000'000'000 + (i++ % kPods)));
    if (!got.ok()) ++errors;
    benchmark::DoNotOptimize(got);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["errors"] = static_cast<double>(errors);
}
BENCHMARK(BM_Get)->ArgName("store")->Arg(0)->Arg(1)->Threads(1)->Threads(16)->UseRealTime();

void BM_Update(benchmark::State& state) {
  Cluster& c = Get(static_cast<int>(state.range(0)), false);
  api::Pod pod = Cluster::Pod(2'000'000'000 + state.thread_index());
  pod.mutable_metadata()->set_name(
      absl::StrCat("update-", state.range(0), "-", state.threads(), "-", state.thread_index()));
  // Google Benchmark runs this function more than once: the pod may exist.
  if (auto made = c.alice->Create(pod);
      !made.ok() && made.status().code() != absl::StatusCode::kAlreadyExists) {
    Must(made.status(), "create the pod to update");
  }
  // Update the stored pod: admission (LimitRange) filled in its resources.
  auto stored = c.alice->Get(c.alice->KindOf<api::Pod>(), "bench", pod.metadata().name());
  Must(stored.status(), "get the pod to update");
  pod.CopyFrom(**stored);
  pod.mutable_metadata()->clear_resource_version();
  int64_t errors = 0;
  int64_t n = 0;
  for (auto _ : state) {
    (*pod.mutable_metadata()->mutable_labels())["n"] = absl::StrCat(++n);
    if (auto updated = c.alice->Update(pod); !updated.ok()) {
      if (errors++ == 0) fprintf(stderr, "update: %s\n", updated.status().ToString().c_str());
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["errors"] = static_cast<double>(errors);
}
BENCHMARK(BM_Update)
    ->ArgName("store")
    ->Arg(0)
    ->Arg(1)
    ->Threads(1)
    ->Threads(16)
    ->UseRealTime()
    ->MinTime(2.0);

// N informers on one namespace's ConfigMaps; each iteration updates one
// ConfigMap and waits until every informer's handler saw that revision.
void BM_InformerFanOut(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  auto storage = store::OpenMemoryStorage();
  Must(storage.status(), "store");
  apiserver::ApiServerOptions options;
  options.storage = storage->get();
  options.admission = apiserver::DefaultAdmissionChain();
  auto server = ApiServer::Create(std::move(options));
  Must(server.status(), "server");
  auto admin = client::NewInProcessClient(**server, apiserver::SystemUser());
  Must(admin->Create(MustDecode<api::Namespace>(R"({"metadata":{"name":"fan"}})")).status(), "ns");
  api::ConfigMap cm = MustDecode<api::ConfigMap>(
      R"({"metadata":{"name":"watched","namespace":"fan"},"data":{"n":"0"}})");
  Must(admin->Create(cm).status(), "configmap");

  absl::Mutex mu;
  std::string wanted_rv;  // guarded by mu
  absl::Time sent;        // guarded by mu
  std::vector<double> latencies_us;
  int pending = 0;  // guarded by mu
  std::vector<std::unique_ptr<client::Informer>> informers;
  informers.reserve(n);
  for (int i = 0; i < n; ++i) {
    client::InformerOptions io;
    io.namespace_ = "fan";
    auto inf = std::make_unique<client::Informer>(*admin, admin->KindOf<api::ConfigMap>(), io);
    client::ResourceEventHandler h;
    h.on_update = [&](const client::ObjectPtr&, const client::ObjectPtr& now) {
      const std::string& rv = api::ObjectMetaOf(*now)->resource_version();
      absl::Time t = absl::Now();
      absl::MutexLock lock(&mu);
      if (rv != wanted_rv || pending == 0) return;
      latencies_us.push_back(absl::ToDoubleMicroseconds(t - sent));
      --pending;
    };
    inf->AddEventHandler(std::move(h));
    inf->Start();
    informers.push_back(std::move(inf));
  }
  for (auto& inf : informers) {
    if (!inf->WaitForSync(absl::Seconds(60))) {
      state.SkipWithError("informers did not sync");
      return;
    }
  }
  int64_t value = 0;
  int64_t timeouts = 0;
  for (auto _ : state) {
    cm.mutable_data()->at("n") = absl::StrCat(++value);
    cm.mutable_metadata()->clear_resource_version();
    {
      // Hold the lock across the write so no handler can see the revision
      // before it is the wanted one.
      absl::MutexLock lock(&mu);
      pending = n;
      sent = absl::Now();
      auto updated = admin->Update(cm);
      Must(updated.status(), "update");
      wanted_rv = api::ObjectMetaOf(**updated)->resource_version();
    }
    absl::MutexLock lock(&mu);
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return pending == 0; };
    if (!mu.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(10))) ++timeouts;
    pending = 0;
  }
  for (auto& inf : informers) inf->Stop();
  std::sort(latencies_us.begin(), latencies_us.end());
  if (!latencies_us.empty()) {
    state.counters["median_us"] = latencies_us[latencies_us.size() / 2];
    state.counters["p99_us"] = latencies_us[latencies_us.size() * 99 / 100];
  }
  state.counters["timeouts"] = static_cast<double>(timeouts);
}
BENCHMARK(BM_InformerFanOut)
    ->Arg(100)
    ->Arg(1000)
    ->Iterations(50)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace korch

BENCHMARK_MAIN();
