// Watch event delivery over HTTP: 1,000 watch connections to an in-process
// HttpServer (plain HTTP on loopback) on the configmaps of one namespace,
// while a writer creates a configmap at a steady rate (a bounded count).
// Each event's latency is from just before the write call to the moment a
// receiver thread reads the event's line from a watcher's socket:
//   BM_HttpWatchFanout/W/B/I  W watchers; B=1 with allowWatchBookmarks (as
//                             informers ask), B=0 without; a write every I ms
// Counters: median_ms, p99_ms, max_ms of all (event, watcher) deliveries;
// delivered = deliveries / (events x watchers), 1 when every watcher got
// every event; events_per_s the write rate achieved; cpu_ms_per_event the
// process's CPU time (server and receivers) per event, i.e. per W
// deliveries.
// The watchers are raw sockets read by two epoll threads, so the client
// side costs little; the server runs one thread per watch (as it does in
// production). Writes go through the in-process client (the write path is
// not what is measured). Every loop is bounded (event count, deadlines).
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "korch/api/core.pb.h"
#include "korch/apiserver/authn.h"
#include "korch/apiserver/http_server.h"
#include "korch/apiserver/server.h"
#include "korch/client/client.h"
#include "korch/store.h"

namespace korch {
namespace {

constexpr int kEvents = 100;
constexpr char kMarker[] = "\"bench-seq\":\"";

void Must(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
    abort();
  }
}

// CPU time of the whole process (server and receivers), in ms.
double ProcessCpuMs() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 +
         (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

bool SendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// One watch connection, read by one receiver thread.
struct Watcher {
  int fd = -1;
  bool headers = false;  // the 200 response head arrived
  std::string buffer;    // unparsed bytes
  std::vector<char> seen = std::vector<char>(kEvents, 0);
};

struct Shared {
  // Write start times, in absl::ToUnixNanos, per event sequence number.
  std::vector<std::atomic<int64_t>> written = std::vector<std::atomic<int64_t>>(kEvents);
  std::atomic<int> ready{0};
  std::atomic<int64_t> deliveries{0};
  std::atomic<bool> stop{false};
};

// Reads its watchers until every one has every event or `deadline`;
// appends latencies (ms) to `latencies`.
void Receive(std::vector<Watcher>* watchers, Shared* shared, absl::Time deadline,
             std::vector<double>* latencies) {
  int ep = epoll_create1(0);
  for (size_t i = 0; i < watchers->size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, (*watchers)[i].fd, &ev);
  }
  const int64_t want = static_cast<int64_t>(watchers->size()) * kEvents;
  int64_t mine = 0;
  std::vector<epoll_event> events(256);
  char buf[64 * 1024];
  while (mine < want && absl::Now() < deadline && !shared->stop.load()) {
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
    for (int e = 0; e < n; ++e) {
      Watcher& w = (*watchers)[events[e].data.u64];
      ssize_t got = recv(w.fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (got <= 0) continue;
      const int64_t now = absl::ToUnixNanos(absl::Now());
      w.buffer.append(buf, static_cast<size_t>(got));
      if (!w.headers) {
        size_t end = w.buffer.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        if (w.buffer.compare(0, 12, "HTTP/1.1 200") != 0) {
          fprintf(stderr, "watch refused: %s\n", w.buffer.substr(0, 200).c_str());
          abort();
        }
        w.headers = true;
        w.buffer.erase(0, end + 4);
        shared->ready.fetch_add(1);
      }
      // Events are whole lines inside chunks; a marker may be cut at the
      // end of a read, so only complete ones are consumed.
      size_t pos = 0;
      while (true) {
        size_t m = w.buffer.find(kMarker, pos);
        if (m == std::string::npos) break;
        size_t start = m + sizeof(kMarker) - 1;
        size_t quote = w.buffer.find('"', start);
        if (quote == std::string::npos) break;
        int seq = -1;
        if (absl::SimpleAtoi(absl::string_view(w.buffer).substr(start, quote - start), &seq) &&
            seq >= 0 && seq < kEvents && !w.seen[seq]) {
          w.seen[seq] = 1;
          ++mine;
          latencies->push_back(static_cast<double>(now - shared->written[seq].load()) / 1e6);
        }
        pos = quote + 1;
      }
      // Drop what was consumed; keep a tail that may hold a partial marker.
      if (pos > 0) w.buffer.erase(0, pos);
      if (w.buffer.size() > 64) w.buffer.erase(0, w.buffer.size() - 64);
    }
  }
  shared->deliveries.fetch_add(mine);
  close(ep);
}

void BM_HttpWatchFanout(benchmark::State& state) {
  const int num_watchers = static_cast<int>(state.range(0));
  const bool bookmarks = state.range(1) != 0;
  const absl::Duration interval = absl::Milliseconds(state.range(2));
  for (auto _ : state) {
    auto storage = store::OpenMemoryStorage();
    Must(storage.status(), "store");
    apiserver::ApiServerOptions options;
    options.storage = storage->get();
    options.authenticator = apiserver::AnonymousAuthenticator::Create();
    auto api = apiserver::ApiServer::Create(std::move(options));
    Must(api.status(), "api server");
    apiserver::HttpServerOptions ho;
    ho.listen_address = "127.0.0.1:0";
    ho.plain_http = true;
    ho.bookmark_interval = absl::Seconds(1);
    auto http = apiserver::HttpServer::Start(**api, std::move(ho));
    Must(http.status(), "http server");
    auto admin = client::NewInProcessClient(**api, apiserver::SystemUser());
    api::Namespace ns;
    ns.mutable_metadata()->set_name("watch");
    Must(admin->Create(ns).status(), "namespace");

    // Two receiver threads, each with half of the watchers.
    constexpr int kReceivers = 2;
    std::vector<std::vector<Watcher>> groups(kReceivers);
    const std::string request =
        absl::StrCat("GET /api/v1/namespaces/watch/configmaps?watch=true",
                     bookmarks ? "&allowWatchBookmarks=true" : "",
                     " HTTP/1.1\r\nHost: 127.0.0.1\r\n", "Accept: application/json\r\n\r\n");
    for (int i = 0; i < num_watchers; ++i) {
      Watcher w;
      w.fd = Connect((*http)->port());
      if (w.fd < 0 || !SendAll(w.fd, request)) {
        state.SkipWithError("cannot open a watch connection");
        return;
      }
      groups[i % kReceivers].push_back(std::move(w));
    }
    Shared shared;
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    std::vector<std::vector<double>> latencies(kReceivers);
    std::vector<std::thread> receivers;
    for (int r = 0; r < kReceivers; ++r) {
      receivers.emplace_back(Receive, &groups[r], &shared, deadline, &latencies[r]);
    }
    // Every watch has its response head before the first write; the
    // server starts the store watch before sending it.
    while (shared.ready.load() < num_watchers && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    const absl::Time writes_start = absl::Now();
    const double cpu_start = ProcessCpuMs();
    for (int seq = 0; seq < kEvents; ++seq) {
      absl::Time due = writes_start + interval * seq;
      if (absl::Time now = absl::Now(); now < due) absl::SleepFor(due - now);
      api::ConfigMap cm;
      cm.mutable_metadata()->set_name(absl::StrCat("cm-", seq));
      cm.mutable_metadata()->set_namespace_("watch");
      (*cm.mutable_data())["bench-seq"] = absl::StrCat(seq);
      shared.written[seq].store(absl::ToUnixNanos(absl::Now()));
      Must(admin->Create(cm).status(), "write");
    }
    const double write_seconds = absl::ToDoubleSeconds(absl::Now() - writes_start);
    for (std::thread& t : receivers) t.join();
    const double cpu_ms = ProcessCpuMs() - cpu_start;
    for (auto& g : groups) {
      for (Watcher& w : g) close(w.fd);
    }
    http->reset();

    std::vector<double> all;
    for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
    std::sort(all.begin(), all.end());
    if (!all.empty()) {
      state.counters["median_ms"] = all[all.size() / 2];
      state.counters["p99_ms"] = all[all.size() * 99 / 100];
      state.counters["max_ms"] = all.back();
    }
    state.counters["delivered"] = static_cast<double>(shared.deliveries.load()) /
                                  (static_cast<double>(num_watchers) * kEvents);
    state.counters["events_per_s"] = kEvents / write_seconds;
    state.counters["watchers"] = num_watchers;
    // CPU spent per event delivered to every watcher (server and receivers).
    state.counters["cpu_ms_per_event"] = cpu_ms / kEvents;
  }
}

BENCHMARK(BM_HttpWatchFanout)
    ->Args({1000, 1, 20})
    ->Args({1000, 0, 20})
    ->Args({1000, 1, 100})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace korch

BENCHMARK_MAIN();
