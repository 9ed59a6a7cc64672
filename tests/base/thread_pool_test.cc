#include "korch/base/thread_pool.h"

#include <atomic>
#include <vector>

#include "gtest/gtest.h"

namespace korch {
namespace {

TEST(ThreadPoolTest, RunsEveryScheduledTaskBeforeDestruction) {
  std::atomic<int> count{0};
  {
    ThreadPool pool(3);
    for (int i = 0; i < 1000; ++i) pool.Schedule([&count] { count.fetch_add(1); });
  }
  EXPECT_EQ(count.load(), 1000);
}

TEST(ThreadPoolTest, ParallelForVisitsEachIndexOnce) {
  ThreadPool pool(4);
  std::vector<std::atomic<int>> hits(10007);
  pool.ParallelFor(static_cast<int>(hits.size()), [&hits](int i) { hits[i].fetch_add(1); });
  for (size_t i = 0; i < hits.size(); ++i) ASSERT_EQ(hits[i].load(), 1) << "index " << i;
}

TEST(ThreadPoolTest, ParallelForFromSeveralThreadsAtOnce) {
  ThreadPool pool(2);
  std::atomic<long> sum{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] { pool.ParallelFor(1000, [&sum](int i) { sum.fetch_add(i); }); });
  }
  for (auto& c : callers) c.join();
  EXPECT_EQ(sum.load(), 4L * (999L * 1000L / 2));
}

TEST(ThreadPoolTest, ParallelForWithZeroOrOneItems) {
  ThreadPool pool(2);
  int calls = 0;
  pool.ParallelFor(0, [&calls](int) { ++calls; });
  EXPECT_EQ(calls, 0);
  pool.ParallelFor(1, [&calls](int i) { calls += 1 + i; });
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace korch
