// The scheduling cycle's parallel loop: every index runs exactly once per
// Run, whatever the workers are doing (spinning, parked, joining late), and
// Run returns only after every chunk has finished.
#include "scheduler/parallel_loop.h"

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace korch::scheduler::internal {
namespace {

// Runs `runs` loops of sizes 0..max_n and checks that each index was
// visited once and that no chunk was still running when Run returned.
void CheckEveryIndexOnce(ParallelLoop& loop, int runs, int max_n, int chunk) {
  for (int r = 0; r < runs; ++r) {
    const int n = r % (max_n + 1);
    std::vector<std::atomic<int>> visits(n);
    std::atomic<int> running{0};
    loop.Run(n, chunk, [&](int begin, int end) {
      running.fetch_add(1);
      ASSERT_LT(begin, end);
      ASSERT_LE(end, n);
      ASSERT_LE(end - begin, chunk);
      for (int i = begin; i < end; ++i) visits[i].fetch_add(1);
      running.fetch_sub(1);
    });
    ASSERT_EQ(running.load(), 0) << "Run returned with a chunk in flight, run " << r;
    for (int i = 0; i < n; ++i) ASSERT_EQ(visits[i].load(), 1) << "index " << i << ", run " << r;
  }
}

TEST(ParallelLoopTest, EveryIndexOnceWhileWorkersSpin) {
  ParallelLoop loop(3);
  CheckEveryIndexOnce(loop, 3000, 700, 64);
}

TEST(ParallelLoopTest, EveryIndexOnceWhenWorkersParkBetweenLoops) {
  // No spinning: every loop finds the workers parked (or waking up late).
  ParallelLoop loop(2, absl::ZeroDuration());
  for (int i = 0; i < 50; ++i) {
    CheckEveryIndexOnce(loop, 20, 300, 7);
    absl::SleepFor(absl::Microseconds(200));
  }
}

TEST(ParallelLoopTest, WorkersTakeChunksWhenTheCallerIsSlow) {
  // With a chunk per index and a caller stuck in its first chunk, the
  // other chunks can only be run by a worker.
  ParallelLoop loop(1);
  std::set<std::thread::id> threads;
  absl::Mutex mu;
  bool second_done = false;
  loop.Run(2, 1, [&](int begin, int) {
    {
      absl::MutexLock l(&mu);
      threads.insert(std::this_thread::get_id());
      if (begin == 1) second_done = true;
    }
    if (begin == 0) {
      // Wait (bounded) for the worker to run index 1.
      absl::MutexLock l(&mu);
      mu.AwaitWithTimeout(absl::Condition(&second_done), absl::Seconds(30));
    }
  });
  EXPECT_TRUE(second_done);
  EXPECT_EQ(threads.size(), 2u) << "a worker should have run the second chunk";
}

TEST(ParallelLoopTest, ConcurrentCallersAreSerialized) {
  ParallelLoop loop(2);
  std::vector<std::thread> callers;
  for (int t = 0; t < 3; ++t) {
    callers.emplace_back([&loop] { CheckEveryIndexOnce(loop, 300, 200, 16); });
  }
  for (auto& t : callers) t.join();
}

TEST(ParallelLoopTest, DestroysWithParkedAndSpinningWorkers) {
  for (int i = 0; i < 20; ++i) {
    ParallelLoop loop(3, i % 2 == 0 ? absl::ZeroDuration() : absl::Milliseconds(10));
    CheckEveryIndexOnce(loop, 5, 100, 8);
  }
}

}  // namespace
}  // namespace korch::scheduler::internal
