// The HTTP server's Prometheus metrics (internal to korch::apiserver):
// requests by verb, resource and code with latency histograms, in-flight
// requests, watchers, connections, and the store's revision and sizes,
// rendered in the Prometheus text format (version 0.0.4) for /metrics.
//
// Metric names follow the Kubernetes API server's where it has one.
// Thread-safe.

#ifndef KORCH_LIB_APISERVER_HTTP_METRICS_H_
#define KORCH_LIB_APISERVER_HTTP_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <tuple>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "korch/store.h"

namespace korch::apiserver::internal {

// What a request was, for its metric labels.
struct RequestLabels {
  // Kubernetes' metric verbs: GET, LIST, WATCH, POST, PUT, PATCH, APPLY,
  // DELETE, DELETECOLLECTION; the HTTP method for non-resource requests.
  std::string verb;
  std::string group;
  std::string version;
  std::string resource;
  std::string subresource;
  // "resource", "namespace", "cluster" or "" (non-resource requests).
  std::string scope;
};

class HttpMetrics {
 public:
  // The latency histogram's upper bounds, in seconds (Kubernetes' buckets).
  static constexpr std::array<double, 23> kBuckets = {0.005, 0.025, 0.05, 0.1, 0.2,  0.4,  0.6, 0.8,
                                                      1.0,   1.25,  1.5,  2.0, 3.0,  4.0,  5.0, 6.0,
                                                      8.0,   10,    15,   20,  30.0, 45.0, 60.0};

  // A request began (in flight until Finished()). `mutating`: not a read.
  void Started(bool mutating);
  // A request that Started() ended with HTTP `code` after `latency`.
  void Finished(const RequestLabels& labels, bool mutating, int code, absl::Duration latency) {
    EndInflight(mutating);
    Record(labels, code, latency);
  }
  // A request that Started() is no longer in flight: it ended, or became a
  // long-running watch (not counted as in flight, as in Kubernetes).
  void EndInflight(bool mutating);
  // Counts a request that ended with HTTP `code` after `latency`. Watches
  // are counted but kept out of the latency histogram (their latency is the
  // stream's lifetime).
  void Record(const RequestLabels& labels, int code, absl::Duration latency);

  void WatchOpened(const RequestLabels& labels);
  void WatchClosed(const RequestLabels& labels);

  void ConnectionOpened() { connections_.fetch_add(1, std::memory_order_relaxed); }
  void ConnectionClosed() { connections_.fetch_sub(1, std::memory_order_relaxed); }

  int64_t inflight() const;
  int64_t watches() const { return watches_.load(std::memory_order_relaxed); }
  int64_t connections() const { return connections_.load(std::memory_order_relaxed); }
  int64_t requests_total() const { return requests_total_.load(std::memory_order_relaxed); }

  // The text exposition of every metric, with the store's figures read now.
  std::string Render(store::Storage& storage) const;

 private:
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> counts{};  // per bucket (not cumulative)
    uint64_t count = 0;
    double sum = 0;
  };
  // (verb, group, version, resource, subresource, scope)
  using Key =
      std::tuple<std::string, std::string, std::string, std::string, std::string, std::string>;
  static Key KeyOf(const RequestLabels& labels);

  std::atomic<int64_t> inflight_read_{0};
  std::atomic<int64_t> inflight_mutating_{0};
  std::atomic<int64_t> watches_{0};
  std::atomic<int64_t> connections_{0};
  std::atomic<int64_t> requests_total_{0};

  mutable absl::Mutex mu_;
  // Ordered, so that /metrics is stable from one scrape to the next.
  absl::btree_map<std::tuple<Key, int>, uint64_t> requests_ ABSL_GUARDED_BY(mu_);
  absl::btree_map<Key, Histogram> latency_ ABSL_GUARDED_BY(mu_);
  // (group, version, resource) -> registered watchers.
  absl::btree_map<std::tuple<std::string, std::string, std::string>, int64_t> watchers_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace korch::apiserver::internal

#endif  // KORCH_LIB_APISERVER_HTTP_METRICS_H_
