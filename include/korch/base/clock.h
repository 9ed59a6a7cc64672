// An injectable source of time. Components take a `Clock&` (or a
// `std::shared_ptr<Clock>`) in their options so that backoff, leases,
// eviction and graceful deletion can be tested without sleeping.
#ifndef KORCH_BASE_CLOCK_H_
#define KORCH_BASE_CLOCK_H_

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "korch/export.h"

namespace korch {

// Thread-safe.
class KORCH_EXPORT Clock {
 public:
  virtual ~Clock() = default;

  // The current time.
  virtual absl::Time Now() const = 0;

  // Blocks the calling thread until Now() >= deadline.
  virtual void SleepUntil(absl::Time deadline) = 0;

  // Blocks until Now() >= deadline or `*flag` becomes true (read under
  // `mu`, which the caller holds and which is released while waiting).
  // Returns the final value of `*flag`. Used by component loops that sleep
  // but must wake up promptly on Stop().
  virtual bool AwaitWithDeadline(absl::Mutex* mu, const bool* flag, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) = 0;

  void SleepFor(absl::Duration d) { SleepUntil(Now() + d); }
};

// The system clock.
KORCH_EXPORT std::shared_ptr<Clock> RealClock();

// A clock for tests: time stands still until Advance() or SetTime() moves
// it; sleepers wake when their deadline is reached. Thread-safe.
class KORCH_EXPORT FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1700000000));

  absl::Time Now() const override;
  void SleepUntil(absl::Time deadline) override;
  bool AwaitWithDeadline(absl::Mutex* mu, const bool* flag, absl::Time deadline) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Moves time forward by `d` (never backwards) and wakes sleepers whose
  // deadline has passed.
  void Advance(absl::Duration d);
  // Sets the time; it may not go backwards.
  void SetTime(absl::Time t);
  // The number of threads blocked in SleepUntil/AwaitWithDeadline. Tests
  // wait for a component to be asleep before advancing time.
  int Sleepers() const;

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  int sleepers_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace korch

#endif  // KORCH_BASE_CLOCK_H_
