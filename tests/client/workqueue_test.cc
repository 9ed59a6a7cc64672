#include "korch/client/workqueue.h"

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace korch::client {
namespace {

// Spins until `done` holds. The real-time bound only turns a hang into a
// failure; no test relies on time passing.
::testing::AssertionResult Eventually(const std::function<bool()>& done) {
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (!done()) {
    if (absl::Now() > give_up) return ::testing::AssertionFailure() << "condition never held";
    std::this_thread::yield();
  }
  return ::testing::AssertionSuccess();
}

class WorkQueueTest : public ::testing::Test {
 protected:
  WorkQueueTest() : clock_(std::make_shared<FakeClock>()), queue_(WorkQueueOptions{clock_, {}}) {}

  // The queue's waiting thread always sleeps on the clock; `others` more.
  void WaitForSleepers(int others = 0) {
    ASSERT_TRUE(Eventually([&] { return clock_->Sleepers() >= 1 + others; }));
  }

  std::shared_ptr<FakeClock> clock_;
  WorkQueue queue_;
};

TEST_F(WorkQueueTest, DuplicatesCollapse) {
  queue_.Add("default/a");
  queue_.Add("default/b");
  queue_.Add("default/a");
  queue_.Add("default/a");
  EXPECT_EQ(queue_.Len(), 2);
  EXPECT_EQ(queue_.Get(), "default/a");
  EXPECT_EQ(queue_.Get(), "default/b");
  EXPECT_EQ(queue_.Len(), 0);
  EXPECT_EQ(queue_.Get(absl::ZeroDuration()), std::nullopt);
}

TEST_F(WorkQueueTest, KeysComeOutInOrder) {
  for (int i = 0; i < 10; ++i) queue_.Add(absl::StrCat("ns/k", i));
  for (int i = 0; i < 10; ++i) {
    std::optional<std::string> key = queue_.Get();
    ASSERT_TRUE(key.has_value());
    EXPECT_EQ(*key, absl::StrCat("ns/k", i));
    queue_.Done(*key);
  }
}

TEST_F(WorkQueueTest, ReAddDuringProcessingComesBackAfterDone) {
  queue_.Add("ns/a");
  ASSERT_EQ(queue_.Get(), "ns/a");
  queue_.Add("ns/a");
  queue_.Add("ns/a");
  // Held by a worker: not handed to a second one.
  EXPECT_EQ(queue_.Len(), 0);
  EXPECT_EQ(queue_.Get(absl::ZeroDuration()), std::nullopt);
  queue_.Done("ns/a");
  EXPECT_EQ(queue_.Len(), 1);
  EXPECT_EQ(queue_.Get(), "ns/a");
  queue_.Done("ns/a");
  EXPECT_EQ(queue_.Len(), 0);
}

TEST_F(WorkQueueTest, DoneWithoutReAddDoesNotRequeue) {
  queue_.Add("ns/a");
  ASSERT_EQ(queue_.Get(), "ns/a");
  queue_.Done("ns/a");
  queue_.Done("ns/a");      // twice: ignored
  queue_.Done("ns/never");  // never handed out: ignored
  EXPECT_EQ(queue_.Len(), 0);
}

TEST(WorkQueueConcurrencyTest, NoKeyIsProcessedTwiceAtOnceAndNoAddIsLost) {
  constexpr int kKeys = 50;
  constexpr int kWorkers = 8;
  constexpr int kAdders = 4;
  constexpr int kAddsPerAdder = 2500;  // 10,000 adds in all
  WorkQueue queue;
  std::array<std::atomic<bool>, kKeys> busy{};
  // Bumped before each Add(); a worker records the value it saw after
  // Get(). Every add must be followed by a Get() that sees it.
  std::array<std::atomic<int>, kKeys> added{};
  std::array<std::atomic<int>, kKeys> seen{};
  std::atomic<int> overlaps{0};
  std::atomic<int> processed{0};

  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&] {
      while (std::optional<std::string> key = queue.Get()) {
        const int k = std::stoi(key->substr(key->find('/') + 2));
        if (busy[k].exchange(true)) overlaps.fetch_add(1);
        const int version = added[k].load();
        if (version > seen[k].load()) seen[k].store(version);
        for (int spin = 0; spin < (k % 7) * 50; ++spin) std::this_thread::yield();
        busy[k].store(false);
        processed.fetch_add(1);
        queue.Done(*key);
      }
    });
  }
  std::vector<std::thread> adders;
  for (int a = 0; a < kAdders; ++a) {
    adders.emplace_back([&, a] {
      for (int i = 0; i < kAddsPerAdder; ++i) {
        const int k = (i * kAdders + a) % kKeys;
        added[k].fetch_add(1);
        queue.Add(absl::StrCat("ns/k", k));
      }
    });
  }
  for (auto& t : adders) t.join();
  queue.ShutDownWithDrain();
  for (auto& t : workers) t.join();

  EXPECT_EQ(overlaps.load(), 0);
  for (int k = 0; k < kKeys; ++k) {
    EXPECT_EQ(seen[k].load(), added[k].load()) << "key " << k;
  }
  EXPECT_GE(processed.load(), kKeys);
  EXPECT_LE(processed.load(), kAdders * kAddsPerAdder);
  EXPECT_EQ(queue.Len(), 0);
}

TEST_F(WorkQueueTest, AddAfterReleasesKeysByDueTime) {
  queue_.AddAfter("ns/c", absl::Seconds(3));
  queue_.AddAfter("ns/a", absl::Seconds(1));
  queue_.AddAfter("ns/b", absl::Seconds(2));
  EXPECT_EQ(queue_.Len(), 0);
  WaitForSleepers();
  clock_->Advance(absl::Seconds(1));
  EXPECT_EQ(queue_.Get(), "ns/a");
  EXPECT_EQ(queue_.Len(), 0);
  clock_->Advance(absl::Seconds(1));
  EXPECT_EQ(queue_.Get(), "ns/b");
  EXPECT_EQ(queue_.Len(), 0);
  clock_->Advance(absl::Seconds(1));
  EXPECT_EQ(queue_.Get(), "ns/c");
}

TEST_F(WorkQueueTest, KeysDueTogetherKeepDueTimeOrder) {
  queue_.AddAfter("ns/c", absl::Seconds(3));
  queue_.AddAfter("ns/a", absl::Seconds(1));
  queue_.AddAfter("ns/b", absl::Seconds(2));
  clock_->Advance(absl::Seconds(10));
  EXPECT_EQ(queue_.Get(), "ns/a");
  EXPECT_EQ(queue_.Get(), "ns/b");
  EXPECT_EQ(queue_.Get(), "ns/c");
}

TEST_F(WorkQueueTest, EarlierKeyWakesTheWaitingThread) {
  queue_.AddAfter("ns/late", absl::Hours(1));
  WaitForSleepers();  // asleep until the hour is up
  queue_.AddAfter("ns/soon", absl::Seconds(1));
  clock_->Advance(absl::Seconds(1));
  EXPECT_EQ(queue_.Get(), "ns/soon");
  EXPECT_EQ(queue_.Len(), 0);
}

TEST_F(WorkQueueTest, AddAfterKeepsOneEntryPerKeyAtTheEarliestTime) {
  queue_.AddAfter("ns/a", absl::Seconds(5));
  queue_.AddAfter("ns/a", absl::Seconds(2));
  queue_.AddAfter("ns/a", absl::Seconds(9));
  clock_->Advance(absl::Seconds(2));
  EXPECT_EQ(queue_.Get(), "ns/a");
  queue_.Done("ns/a");
  // The later entries were merged into the first: nothing else arrives.
  // A marker due after them shows that the waiting thread has passed them.
  clock_->Advance(absl::Seconds(10));
  queue_.AddAfter("ns/marker", absl::Nanoseconds(1));
  clock_->Advance(absl::Nanoseconds(1));
  EXPECT_EQ(queue_.Get(), "ns/marker");
  EXPECT_EQ(queue_.Len(), 0);
}

TEST_F(WorkQueueTest, AddAfterWithoutDelayAddsAtOnce) {
  queue_.AddAfter("ns/a", absl::ZeroDuration());
  queue_.AddAfter("ns/b", -absl::Seconds(1));
  EXPECT_EQ(queue_.Len(), 2);
}

TEST_F(WorkQueueTest, GetTimesOutOnTheClock) {
  std::optional<std::string> got = "unset";
  std::thread worker([&] { got = queue_.Get(absl::Seconds(5)); });
  WaitForSleepers(1);
  clock_->Advance(absl::Seconds(5));
  worker.join();
  EXPECT_EQ(got, std::nullopt);
  EXPECT_FALSE(queue_.ShuttingDown());
}

TEST_F(WorkQueueTest, GetWithTimeoutReturnsAKeyAddedWhileWaiting) {
  std::optional<std::string> got;
  std::thread worker([&] { got = queue_.Get(absl::Seconds(5)); });
  WaitForSleepers(1);
  queue_.Add("ns/a");
  worker.join();
  EXPECT_EQ(got, "ns/a");
}

TEST(RateLimiterTest, ExponentialBackoffDoublesUpToTheCapAndForgetResets) {
  ItemExponentialFailureRateLimiter limiter(absl::Milliseconds(5), absl::Seconds(1000));
  absl::Duration expected = absl::Milliseconds(5);
  for (int i = 0; i < 18; ++i) {
    EXPECT_EQ(limiter.When("ns/a"), expected) << "requeue " << i;
    expected *= 2;
  }
  // 5ms * 2^18 = 1310.72s > 1000s.
  EXPECT_EQ(limiter.When("ns/a"), absl::Seconds(1000));
  for (int i = 0; i < 100; ++i) limiter.When("ns/a");  // no overflow past 2^62
  EXPECT_EQ(limiter.When("ns/a"), absl::Seconds(1000));
  EXPECT_EQ(limiter.NumRequeues("ns/a"), 120);

  // Keys back off independently.
  EXPECT_EQ(limiter.When("ns/b"), absl::Milliseconds(5));
  EXPECT_EQ(limiter.NumRequeues("ns/b"), 1);

  limiter.Forget("ns/a");
  EXPECT_EQ(limiter.NumRequeues("ns/a"), 0);
  EXPECT_EQ(limiter.When("ns/a"), absl::Milliseconds(5));
  EXPECT_EQ(limiter.When("ns/a"), absl::Milliseconds(10));
}

TEST(RateLimiterTest, TokenBucketAllowsBurstThenSpacesByQps) {
  auto clock = std::make_shared<FakeClock>();
  BucketRateLimiter limiter(clock, 10, 100);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(limiter.When("ns/x"), absl::ZeroDuration()) << i;
  EXPECT_EQ(limiter.When("ns/x"), absl::Milliseconds(100));
  EXPECT_EQ(limiter.When("ns/y"), absl::Milliseconds(200));
  EXPECT_EQ(limiter.When("ns/z"), absl::Milliseconds(300));
  // One second refills ten tokens; three were already promised.
  clock->Advance(absl::Seconds(1));
  for (int i = 0; i < 7; ++i) EXPECT_EQ(limiter.When("ns/x"), absl::ZeroDuration()) << i;
  EXPECT_EQ(limiter.When("ns/x"), absl::Milliseconds(100));
  // A long idle period refills the bucket only up to the burst.
  clock->Advance(absl::Hours(1));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(limiter.When("ns/x"), absl::ZeroDuration()) << i;
  EXPECT_EQ(limiter.When("ns/x"), absl::Milliseconds(100));
  EXPECT_EQ(limiter.NumRequeues("ns/x"), 0);
}

TEST(RateLimiterTest, DefaultControllerRateLimiterTakesTheWorstOfBoth) {
  auto clock = std::make_shared<FakeClock>();
  std::unique_ptr<RateLimiter> limiter = DefaultControllerRateLimiter(clock);
  // Within the burst, per-key backoff decides.
  EXPECT_EQ(limiter->When("ns/a"), absl::Milliseconds(5));
  EXPECT_EQ(limiter->When("ns/a"), absl::Milliseconds(10));
  EXPECT_EQ(limiter->NumRequeues("ns/a"), 2);
  for (int i = 2; i < 100; ++i) {
    EXPECT_EQ(limiter->When(absl::StrCat("ns/k", i)), absl::Milliseconds(5));
  }
  // The burst is spent: the overall bucket decides for a fresh key.
  EXPECT_EQ(limiter->When("ns/fresh"), absl::Milliseconds(100));
  limiter->Forget("ns/a");
  EXPECT_EQ(limiter->NumRequeues("ns/a"), 0);
}

TEST_F(WorkQueueTest, AddRateLimitedBacksOffOnTheClock) {
  queue_.AddRateLimited("ns/a");
  EXPECT_EQ(queue_.NumRequeues("ns/a"), 1);
  EXPECT_EQ(queue_.Len(), 0);
  WaitForSleepers();
  clock_->Advance(absl::Milliseconds(5));
  ASSERT_EQ(queue_.Get(), "ns/a");
  queue_.AddRateLimited("ns/a");  // failed again: 10ms
  queue_.Done("ns/a");
  clock_->Advance(absl::Milliseconds(9));
  EXPECT_EQ(queue_.Len(), 0);
  clock_->Advance(absl::Milliseconds(1));
  ASSERT_EQ(queue_.Get(), "ns/a");
  queue_.Forget("ns/a");  // succeeded
  queue_.Done("ns/a");
  EXPECT_EQ(queue_.NumRequeues("ns/a"), 0);
  queue_.AddRateLimited("ns/a");
  clock_->Advance(absl::Milliseconds(5));
  EXPECT_EQ(queue_.Get(), "ns/a");
}

TEST_F(WorkQueueTest, ShutDownHandsOutQueuedKeysThenStops) {
  queue_.Add("ns/a");
  queue_.Add("ns/b");
  queue_.AddAfter("ns/later", absl::Seconds(1));
  queue_.ShutDown();
  EXPECT_TRUE(queue_.ShuttingDown());
  queue_.Add("ns/c");  // ignored
  clock_->Advance(absl::Seconds(1));
  EXPECT_EQ(queue_.Get(), "ns/a");
  EXPECT_EQ(queue_.Get(), "ns/b");
  EXPECT_EQ(queue_.Get(), std::nullopt);
  EXPECT_EQ(queue_.Get(absl::Hours(1)), std::nullopt);
}

TEST_F(WorkQueueTest, ShutDownWakesBlockedGet) {
  std::optional<std::string> got = "unset";
  std::thread worker([&] { got = queue_.Get(); });
  queue_.ShutDown();
  worker.join();
  EXPECT_EQ(got, std::nullopt);
}

TEST_F(WorkQueueTest, ShutDownWakesGetWaitingOnTheClock) {
  std::optional<std::string> got = "unset";
  std::thread worker([&] { got = queue_.Get(absl::InfiniteDuration()); });
  WaitForSleepers(1);  // the worker is blocked
  queue_.ShutDown();
  worker.join();
  EXPECT_EQ(got, std::nullopt);
}

TEST_F(WorkQueueTest, ShutDownWithDrainWaitsForInFlightKeys) {
  queue_.Add("ns/a");
  ASSERT_EQ(queue_.Get(), "ns/a");
  std::atomic<bool> drained{false};
  std::thread stopper([&] {
    queue_.ShutDownWithDrain();
    drained = true;
  });
  ASSERT_TRUE(Eventually([&] { return queue_.ShuttingDown(); }));
  queue_.Add("ns/a");  // after shutdown: ignored
  EXPECT_EQ(queue_.Get(absl::ZeroDuration()), std::nullopt);
  EXPECT_FALSE(drained.load());
  queue_.Done("ns/a");
  stopper.join();
  EXPECT_TRUE(drained.load());
  EXPECT_EQ(queue_.Len(), 0);
}

TEST_F(WorkQueueTest, ShutDownWithDrainHandsOutKeysReAddedBeforeShutdown) {
  queue_.Add("ns/a");
  ASSERT_EQ(queue_.Get(), "ns/a");
  queue_.Add("ns/a");  // a change seen while a worker holds the key
  std::atomic<bool> drained{false};
  std::thread stopper([&] {
    queue_.ShutDownWithDrain();
    drained = true;
  });
  ASSERT_TRUE(Eventually([&] { return queue_.ShuttingDown(); }));
  queue_.Done("ns/a");
  ASSERT_EQ(queue_.Get(), "ns/a");
  EXPECT_FALSE(drained.load());
  queue_.Done("ns/a");
  stopper.join();
  EXPECT_TRUE(drained.load());
  EXPECT_EQ(queue_.Get(), std::nullopt);
}

TEST(WorkQueueBoundTest, QueueNeverHoldsMoreThanOneEntryPerKey) {
  auto clock = std::make_shared<FakeClock>();
  WorkQueue queue(WorkQueueOptions{clock, {}});
  for (int round = 0; round < 100; ++round) {
    for (int k = 0; k < 20; ++k) {
      queue.Add(absl::StrCat("ns/k", k));
      queue.AddAfter(absl::StrCat("ns/k", k), absl::Seconds(1 + round));
    }
    EXPECT_LE(queue.Len(), 20);
  }
  clock->Advance(absl::Hours(1));
  int got = 0;
  while (queue.Get(absl::ZeroDuration())) ++got;
  EXPECT_EQ(got, 20);
}

}  // namespace
}  // namespace korch::client
