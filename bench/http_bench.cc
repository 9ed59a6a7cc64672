// The API server over HTTP on loopback (plain HTTP, so the figures are the
// protocol's cost, not TLS's), through korch's HTTP Client with one
// keep-alive connection per benchmark thread:
//   BM_HttpGet        GET of one pod
//   BM_HttpList1000   LIST of a namespace holding 1,000 pods
//   BM_HttpPost       POST of a new pod
//   BM_HttpPatch      strategic merge PATCH of a pod's labels
// each at 1, 16 and 64 threads (= concurrent connections); items/s is the
// request rate; median_us / p99_us are each connection's request latency
// percentiles averaged over the connections.
// Store: memory; anonymous requests with authorization always-allow; the
// default admission chain.
// Every loop is bounded by Google Benchmark's iteration control.
#include <algorithm>
#include <atomic>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "korch/api/codec.h"
#include "korch/api/core.pb.h"
#include "korch/apiserver/admission.h"
#include "korch/apiserver/authn.h"
#include "korch/apiserver/http_server.h"
#include "korch/apiserver/server.h"
#include "korch/client/client.h"
#include "korch/client/http_client.h"
#include "korch/store.h"

namespace korch {
namespace {

void Must(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
    abort();
  }
}

api::Pod MakePod(absl::string_view ns, absl::string_view name) {
  absl::StatusOr<api::Pod> pod = api::DecodeJsonAs<api::Pod>(absl::StrCat(
      R"({"metadata":{"name":")", name, R"(","namespace":")", ns,
      R"(","labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"nginx:1.25",)",
      R"("ports":[{"containerPort":80}]}]}})"));
  Must(pod.status(), "pod");
  return *std::move(pod);
}

// One server for the process.
struct Fixture {
  std::unique_ptr<store::Storage> storage;
  std::unique_ptr<apiserver::ApiServer> api;
  std::unique_ptr<apiserver::HttpServer> http;
  std::string url;
  std::atomic<int64_t> next{0};

  Fixture() {
    auto s = store::OpenMemoryStorage();
    Must(s.status(), "store");
    storage = *std::move(s);
    apiserver::ApiServerOptions options;
    options.storage = storage.get();
    options.admission = apiserver::DefaultAdmissionChain();
    // Requests are anonymous and every one is allowed: the benchmark measures
    // the protocol and the pipeline, not a particular policy.
    options.authenticator = apiserver::AnonymousAuthenticator::Create();
    auto a = apiserver::ApiServer::Create(std::move(options));
    Must(a.status(), "api server");
    api = *std::move(a);
    apiserver::HttpServerOptions ho;
    ho.listen_address = "127.0.0.1:0";
    ho.plain_http = true;
    auto h = apiserver::HttpServer::Start(*api, std::move(ho));
    Must(h.status(), "http server");
    http = *std::move(h);
    url = absl::StrCat("http://127.0.0.1:", http->port());
    auto admin = client::NewInProcessClient(*api, apiserver::SystemUser());
    for (const char* ns : {"bench", "list"}) {
      api::Namespace n;
      n.mutable_metadata()->set_name(ns);
      Must(admin->Create(n).status(), "namespace");
    }
    for (int i = 0; i < 1000; ++i) {
      Must(admin->Create(MakePod("list", absl::StrCat("pod-", i))).status(), "fill");
      Must(admin->Create(MakePod("bench", absl::StrCat("get-", i))).status(), "fill");
    }
  }

  std::unique_ptr<client::Client> NewClient() {
    client::HttpClientOptions o;
    o.server = url;
    auto c = client::NewHttpClient(std::move(o));
    Must(c.status(), "client");
    return *std::move(c);
  }
};

Fixture& F() {
  static Fixture* f = new Fixture();  // lives until exit; its threads with it
  return *f;
}

template <typename Call>
void Run(benchmark::State& state, Call call) {
  Fixture& f = F();
  std::unique_ptr<client::Client> c = f.NewClient();
  std::vector<double> mine;
  int64_t errors = 0;
  for (auto _ : state) {
    absl::Time t0 = absl::Now();
    if (!call(f, *c)) ++errors;
    mine.push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
  }
  // Each connection's median and p99, averaged over the connections.
  std::sort(mine.begin(), mine.end());
  if (!mine.empty()) {
    state.counters["median_us"] =
        benchmark::Counter(mine[mine.size() / 2], benchmark::Counter::kAvgThreads);
    state.counters["p99_us"] =
        benchmark::Counter(mine[mine.size() * 99 / 100], benchmark::Counter::kAvgThreads);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["errors"] =
      benchmark::Counter(static_cast<double>(errors), benchmark::Counter::kAvgThreads);
}

void BM_HttpGet(benchmark::State& state) {
  int64_t i = state.thread_index() * 131;
  Run(state, [&](Fixture&, client::Client& c) {
    return c.Get(c.KindOf<api::Pod>(), "bench", absl::StrCat("get-", i++ % 1000)).ok();
  });
}

void BM_HttpList1000(benchmark::State& state) {
  Run(state, [&](Fixture&, client::Client& c) {
    auto listed = c.List(c.KindOf<api::Pod>(), "list");
    return listed.ok() && listed->items.size() == 1000;
  });
}

void BM_HttpPost(benchmark::State& state) {
  Run(state, [&](Fixture& f, client::Client& c) {
    return c.Create(MakePod("bench", absl::StrCat("post-", f.next.fetch_add(1)))).ok();
  });
}

void BM_HttpPatch(benchmark::State& state) {
  int64_t i = state.thread_index() * 131;
  int64_t n = 0;
  Run(state, [&](Fixture&, client::Client& c) {
    return c
        .Patch(c.KindOf<api::Pod>(), "bench", absl::StrCat("get-", i++ % 1000),
               client::PatchType::kStrategicMerge,
               absl::StrCat(R"({"metadata":{"labels":{"n":")", ++n, R"("}}})"))
        .ok();
  });
}

BENCHMARK(BM_HttpGet)->Threads(1)->Threads(16)->Threads(64)->UseRealTime();
BENCHMARK(BM_HttpList1000)->Threads(1)->Threads(16)->Threads(64)->UseRealTime();
BENCHMARK(BM_HttpPost)->Threads(1)->Threads(16)->Threads(64)->UseRealTime();
BENCHMARK(BM_HttpPatch)->Threads(1)->Threads(16)->Threads(64)->UseRealTime();

}  // namespace
}  // namespace korch

BENCHMARK_MAIN();
