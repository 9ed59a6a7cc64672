#include "korch/base/clock.h"

#include <thread>

#include "gtest/gtest.h"

namespace korch {
namespace {

TEST(FakeClockTest, TimeMovesOnlyWhenAdvanced) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(1000));
  clock.Advance(absl::Seconds(5));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(1005));
  clock.SetTime(absl::FromUnixSeconds(900));  // backwards is ignored
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(1005));
}

TEST(FakeClockTest, SleeperWakesWhenDeadlineIsReached) {
  FakeClock clock;
  std::atomic<bool> woke{false};
  std::thread sleeper([&] {
    clock.SleepFor(absl::Seconds(10));
    woke = true;
  });
  while (clock.Sleepers() == 0) std::this_thread::yield();
  clock.Advance(absl::Seconds(9));
  EXPECT_FALSE(woke.load());
  clock.Advance(absl::Seconds(1));
  sleeper.join();
  EXPECT_TRUE(woke.load());
}

TEST(FakeClockTest, AwaitReturnsEarlyWhenFlagIsSet) {
  FakeClock clock;
  absl::Mutex mu;
  bool stop = false;
  bool result = false;
  std::thread waiter([&] {
    absl::MutexLock l(&mu);
    result = clock.AwaitWithDeadline(&mu, &stop, clock.Now() + absl::Hours(1));
  });
  while (clock.Sleepers() == 0) std::this_thread::yield();
  {
    absl::MutexLock l(&mu);
    stop = true;
  }
  waiter.join();
  EXPECT_TRUE(result);
}

TEST(FakeClockTest, AwaitReturnsFalseAtDeadline) {
  FakeClock clock;
  absl::Mutex mu;
  bool stop = false;
  bool result = true;
  std::thread waiter([&] {
    absl::MutexLock l(&mu);
    result = clock.AwaitWithDeadline(&mu, &stop, clock.Now() + absl::Seconds(30));
  });
  while (clock.Sleepers() == 0) std::this_thread::yield();
  clock.Advance(absl::Seconds(30));
  waiter.join();
  EXPECT_FALSE(result);
}

TEST(RealClockTest, NowIsCloseToSystemTime) {
  auto clock = RealClock();
  EXPECT_LT(absl::AbsDuration(clock->Now() - absl::Now()), absl::Seconds(1));
}

}  // namespace
}  // namespace korch
