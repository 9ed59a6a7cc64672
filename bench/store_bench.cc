// The store's write, range and watch paths, on the RocksDB backend and on a
// local etcd started by the benchmark, in one run, so the two can be
// compared as a ratio on the same (noisy, shared) machine:
//   BM_DurablePuts/<backend>/<writers>   ~1 KiB values (a Pod), synced
//   BM_Range10k/<backend>                range over 10,000 keys
//   BM_WatchLatency/<backend>/<watchers> delivery latency of a steady write
//                                        stream to every watcher (median, p99)
// Every loop is bounded by Google Benchmark's iteration control.
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "korch/store.h"
#include "tests/store/etcd_process.h"

namespace korch::store {
namespace {

enum Backend { kRocksDb = 0, kEtcd = 1 };

// One etcd and one RocksDB directory per process.
struct Fixtures {
  testutil::EtcdProcess etcd;
  bool etcd_ok = false;
  std::filesystem::path dir;
  int prefix = 0;

  Fixtures() {
    dir = std::filesystem::temp_directory_path() / absl::StrCat("korch-store-bench-", ::getpid());
    std::filesystem::remove_all(dir);
    etcd_ok = testutil::EtcdProcess::Available() && etcd.Start(1).ok();
  }
  ~Fixtures() { std::filesystem::remove_all(dir); }

  std::unique_ptr<Storage> Open(Backend b) {
    ++prefix;
    if (b == kEtcd) {
      if (!etcd_ok) return nullptr;
      EtcdStorageOptions o;
      o.endpoints = etcd.ClientEndpoints();
      o.key_prefix = absl::StrCat("/bench", prefix);
      auto s = OpenEtcdStorage(o);
      return s.ok() ? *std::move(s) : nullptr;
    }
    RocksDbStorageOptions o;
    o.path = (dir / absl::StrCat(prefix)).string();
    o.sync = true;
    auto s = OpenRocksDbStorage(o);
    return s.ok() ? *std::move(s) : nullptr;
  }
};

// Destroyed at exit, which stops the etcd and removes the directories.
Fixtures& F() {
  static Fixtures f;
  return f;
}

const char* Name(int64_t b) { return b == kEtcd ? "etcd" : "rocksdb"; }

void BM_DurablePuts(benchmark::State& state) {
  const Backend backend = static_cast<Backend>(state.range(0));
  const int writers = static_cast<int>(state.range(1));
  auto store = F().Open(backend);
  if (!store) {
    state.SkipWithError("backend unavailable");
    return;
  }
  const std::string value(1024, 'v');
  constexpr int kPuts = 200;
  int64_t total = 0;
  for (auto _ : state) {
    // Each iteration: every writer does kPuts puts (enough that starting and
    // joining the threads is a small part of the time).
    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
      threads.emplace_back([&, w] {
        for (int i = 0; i < kPuts; ++i) {
          auto r = store->Create(absl::StrCat("/p/", total, "/", w, "/", i), value);
          if (!r.ok()) ++errors;
        }
      });
    }
    for (auto& t : threads) t.join();
    if (errors > 0) state.SkipWithError("write failed");
    total += 1;
  }
  state.counters["puts_per_s"] =
      benchmark::Counter(static_cast<double>(total * writers * kPuts), benchmark::Counter::kIsRate);
  state.SetLabel(Name(backend));
}
BENCHMARK(BM_DurablePuts)
    ->ArgsProduct({{kRocksDb, kEtcd}, {1, 16, 64}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2);

void BM_Range10k(benchmark::State& state) {
  const Backend backend = static_cast<Backend>(state.range(0));
  auto store = F().Open(backend);
  if (!store) {
    state.SkipWithError("backend unavailable");
    return;
  }
  const std::string value(1024, 'r');
  for (int i = 0; i < 10000; i += 100) {
    std::vector<Op> ops;
    for (int j = i; j < i + 100; ++j)
      ops.push_back(Op::Put(absl::StrCat("/r/", 100000 + j), value));
    if (!store->Txn({}, ops).ok()) {
      state.SkipWithError("load failed");
      return;
    }
  }
  for (auto _ : state) {
    auto r = store->Range("/r/", PrefixEnd("/r/"));
    if (!r.ok() || r->kvs.size() != 10000) state.SkipWithError("range failed");
    benchmark::DoNotOptimize(r);
  }
  state.SetLabel(Name(backend));
}
BENCHMARK(BM_Range10k)->Arg(kRocksDb)->Arg(kEtcd)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_WatchLatency(benchmark::State& state) {
  const Backend backend = static_cast<Backend>(state.range(0));
  const int watchers = static_cast<int>(state.range(1));
  auto store = F().Open(backend);
  if (!store) {
    state.SkipWithError("backend unavailable");
    return;
  }
  constexpr int kEvents = 200;
  const absl::Duration kInterval = absl::Milliseconds(5);  // 200 writes/s
  std::vector<double> latencies_ms;
  std::vector<double> write_ms;  // how long the writes themselves took
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<std::unique_ptr<Watcher>> ws;
    for (int i = 0; i < watchers; ++i) {
      auto w = store->Watch("/w/", PrefixEnd("/w/"));
      if (!w.ok()) {
        state.SkipWithError("watch failed");
        return;
      }
      ws.push_back(*std::move(w));
    }
    // The writer is the only one writing, so the i-th write gets revision
    // base + i; its start time is recorded before the write is issued, and
    // latency is measured from there (it includes the commit).
    auto cur = store->CurrentRevision();
    if (!cur.ok()) {
      state.SkipWithError("revision");
      return;
    }
    const int64_t base = *cur + 1;
    std::vector<std::atomic<int64_t>> start_ns(kEvents);
    std::atomic<int> short_deliveries{0};
    std::vector<std::vector<double>> per(watchers);
    std::vector<std::thread> readers;
    for (int i = 0; i < watchers; ++i) {
      readers.emplace_back([&, i] {
        int got = 0;
        absl::Time give_up = absl::Now() + absl::Seconds(30);
        while (got < kEvents && absl::Now() < give_up) {
          auto b = ws[i]->Next(absl::Milliseconds(200));
          if (!b.ok()) break;
          int64_t now = absl::GetCurrentTimeNanos();
          for (const auto& e : b->events) {
            int64_t idx = e->revision() - base;
            if (idx >= 0 && idx < kEvents) per[i].push_back((now - start_ns[idx].load()) / 1e6);
            ++got;
          }
        }
        if (got < kEvents) ++short_deliveries;
      });
    }
    state.ResumeTiming();
    for (int i = 0; i < kEvents; ++i) {
      absl::Time t = absl::Now();
      start_ns[i].store(absl::ToUnixNanos(t));
      if (!store->Create(absl::StrCat("/w/", i), "event").ok()) break;
      write_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t));
      absl::SleepFor(kInterval - (absl::Now() - t));
    }
    for (auto& r : readers) r.join();
    state.PauseTiming();
    if (short_deliveries > 0) state.SkipWithError("a watcher missed events");
    for (auto& v : per) latencies_ms.insert(latencies_ms.end(), v.begin(), v.end());
    ws.clear();
    state.ResumeTiming();
  }
  if (!latencies_ms.empty()) {
    std::sort(latencies_ms.begin(), latencies_ms.end());
    state.counters["median_ms"] = latencies_ms[latencies_ms.size() / 2];
    state.counters["p99_ms"] = latencies_ms[latencies_ms.size() * 99 / 100];
    state.counters["deliveries"] = static_cast<double>(latencies_ms.size());
    std::sort(write_ms.begin(), write_ms.end());
    if (!write_ms.empty()) state.counters["write_p99_ms"] = write_ms[write_ms.size() * 99 / 100];
  }
  state.SetLabel(Name(backend));
}
BENCHMARK(BM_WatchLatency)
    ->ArgsProduct({{kRocksDb, kEtcd}, {1, 100, 1000}})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace korch::store

BENCHMARK_MAIN();
