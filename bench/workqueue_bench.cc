// Benchmarks for korch::client::WorkQueue: how many keys per second go
// through Add -> Get -> Done, the path every controller event takes.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "korch/client/workqueue.h"

namespace korch::client {
namespace {

std::vector<std::string> MakeKeys(int n) {
  std::vector<std::string> keys;
  keys.reserve(n);
  for (int i = 0; i < n; ++i) keys.push_back(absl::StrCat("default/pod-", i));
  return keys;
}

// One thread adds, takes and finishes each key in turn: the queue's own
// cost with no contention.
void BM_AddGetDoneInline(benchmark::State& state) {
  WorkQueue queue;
  const std::vector<std::string> keys = MakeKeys(1000);
  size_t i = 0;
  for (auto _ : state) {
    const std::string& key = keys[i++ % keys.size()];
    queue.Add(key);
    std::optional<std::string> got = queue.Get();
    queue.Done(*got);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AddGetDoneInline);

// The benchmark thread adds a batch of distinct keys (an informer's event
// handler) and `workers` threads take and finish them; an iteration ends
// when the whole batch is Done.
void BM_AddGetDone(benchmark::State& state) {
  const int workers = static_cast<int>(state.range(0));
  constexpr int kBatch = 1000;
  const std::vector<std::string> keys = MakeKeys(kBatch);
  WorkQueue queue;
  absl::Mutex mu;
  int64_t done = 0;  // guarded by mu
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      while (std::optional<std::string> key = queue.Get()) {
        benchmark::DoNotOptimize(key->data());
        queue.Done(*key);
        absl::MutexLock l(&mu);
        ++done;
      }
    });
  }
  int64_t target = 0;
  for (auto _ : state) {
    for (const std::string& key : keys) queue.Add(key);
    target += kBatch;
    absl::MutexLock l(&mu);
    auto finished = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return done >= target; };
    mu.Await(absl::Condition(&finished));
  }
  queue.ShutDown();
  for (auto& t : threads) t.join();
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_AddGetDone)->Arg(1)->Arg(4)->ArgName("workers")->UseRealTime();

}  // namespace
}  // namespace korch::client

BENCHMARK_MAIN();
