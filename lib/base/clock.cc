#include "korch/base/clock.h"

namespace korch {
namespace {

class SystemClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  void SleepUntil(absl::Time deadline) override { absl::SleepFor(deadline - absl::Now()); }
  bool AwaitWithDeadline(absl::Mutex* mu, const bool* flag, absl::Time deadline) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    mu->AwaitWithDeadline(absl::Condition(flag), deadline);
    return *flag;
  }
};

}  // namespace

std::shared_ptr<Clock> RealClock() {
  // Stateless, so one shared instance is as good as many.
  static const std::shared_ptr<Clock> clock = std::make_shared<SystemClock>();
  return clock;
}

FakeClock::FakeClock(absl::Time start) : now_(start) {}

absl::Time FakeClock::Now() const {
  absl::MutexLock l(&mu_);
  return now_;
}

void FakeClock::SleepUntil(absl::Time deadline) {
  absl::MutexLock l(&mu_);
  ++sleepers_;
  auto reached = [this, deadline]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return now_ >= deadline; };
  mu_.Await(absl::Condition(&reached));
  --sleepers_;
}

bool FakeClock::AwaitWithDeadline(absl::Mutex* mu, const bool* flag, absl::Time deadline) {
  {
    absl::MutexLock l(&mu_);
    ++sleepers_;
  }
  // The caller's condition is signalled through its own mutex, fake time
  // through ours; a short real-time poll joins the two. Test-only code.
  while (!*flag && Now() < deadline) {
    mu->AwaitWithTimeout(absl::Condition(flag), absl::Milliseconds(1));
  }
  {
    absl::MutexLock l(&mu_);
    --sleepers_;
  }
  return *flag;
}

void FakeClock::Advance(absl::Duration d) {
  absl::MutexLock l(&mu_);
  if (d > absl::ZeroDuration()) now_ += d;
}

void FakeClock::SetTime(absl::Time t) {
  absl::MutexLock l(&mu_);
  if (t > now_) now_ = t;
}

int FakeClock::Sleepers() const {
  absl::MutexLock l(&mu_);
  return sleepers_;
}

}  // namespace korch
