#include "korch/client/workqueue.h"

#include <algorithm>
#include <utility>

namespace korch::client {

ItemExponentialFailureRateLimiter::ItemExponentialFailureRateLimiter(absl::Duration base_delay,
                                                                     absl::Duration max_delay)
    : base_delay_(base_delay), max_delay_(max_delay) {}

absl::Duration ItemExponentialFailureRateLimiter::When(absl::string_view key) {
  int exp;
  {
    absl::MutexLock l(&mu_);
    exp = failures_[key]++;
  }
  // Past 2^62 the shift would overflow; the cap has long been reached.
  if (exp >= 62) return max_delay_;
  // Duration arithmetic saturates to infinity instead of overflowing.
  return std::min(base_delay_ * (int64_t{1} << exp), max_delay_);
}

void ItemExponentialFailureRateLimiter::Forget(absl::string_view key) {
  absl::MutexLock l(&mu_);
  failures_.erase(key);
}

int ItemExponentialFailureRateLimiter::NumRequeues(absl::string_view key) {
  absl::MutexLock l(&mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

BucketRateLimiter::BucketRateLimiter(std::shared_ptr<Clock> clock, double qps, int burst)
    : clock_(std::move(clock)),
      interval_(qps > 0 ? absl::Seconds(1) / qps : absl::ZeroDuration()),
      capacity_(interval_ * std::max(burst, 1)),
      credit_(capacity_),
      last_(clock_->Now()) {}

absl::Duration BucketRateLimiter::When(absl::string_view key) {
  if (interval_ == absl::ZeroDuration()) return absl::ZeroDuration();
  const absl::Time now = clock_->Now();
  absl::MutexLock l(&mu_);
  // Tokens earned since the last call, up to a full bucket (golang.org/x/
  // time/rate's advance + reserve, in exact integer time).
  if (now > last_) {
    credit_ = std::min(credit_ + (now - last_), capacity_);
    last_ = now;
  }
  credit_ -= interval_;
  return credit_ < absl::ZeroDuration() ? -credit_ : absl::ZeroDuration();
}

MaxOfRateLimiter::MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters)
    : limiters_(std::move(limiters)) {}

absl::Duration MaxOfRateLimiter::When(absl::string_view key) {
  absl::Duration worst = absl::ZeroDuration();
  for (const auto& limiter : limiters_) worst = std::max(worst, limiter->When(key));
  return worst;
}

void MaxOfRateLimiter::Forget(absl::string_view key) {
  for (const auto& limiter : limiters_) limiter->Forget(key);
}

int MaxOfRateLimiter::NumRequeues(absl::string_view key) {
  int most = 0;
  for (const auto& limiter : limiters_) most = std::max(most, limiter->NumRequeues(key));
  return most;
}

std::unique_ptr<RateLimiter> DefaultControllerRateLimiter(std::shared_ptr<Clock> clock) {
  std::vector<std::unique_ptr<RateLimiter>> limiters;
  limiters.push_back(std::make_unique<ItemExponentialFailureRateLimiter>(absl::Milliseconds(5),
                                                                         absl::Seconds(1000)));
  limiters.push_back(std::make_unique<BucketRateLimiter>(std::move(clock), 10, 100));
  return std::make_unique<MaxOfRateLimiter>(std::move(limiters));
}

WorkQueue::WorkQueue(WorkQueueOptions options)
    : clock_(options.clock ? std::move(options.clock) : RealClock()),
      rate_limiter_(options.rate_limiter
                        ? std::move(options.rate_limiter)
                        : std::shared_ptr<RateLimiter>(DefaultControllerRateLimiter(clock_))) {
  waiting_thread_ = std::thread([this] { WaitingLoop(); });
}

WorkQueue::~WorkQueue() {
  ShutDown();
  waiting_thread_.join();
}

void WorkQueue::AddLocked(absl::string_view key) {
  if (shutting_down_) return;
  auto [it, inserted] = dirty_.emplace(key);
  if (!inserted) return;                  // already queued, or held and already re-added
  if (processing_.contains(key)) return;  // Done() queues it
  queue_.push_back(*it);
  UpdateReadyLocked();
}

std::string WorkQueue::PopLocked() {
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  dirty_.erase(key);
  processing_.insert(key);
  UpdateReadyLocked();
  return key;
}

void WorkQueue::Add(absl::string_view key) {
  absl::MutexLock l(&mu_);
  AddLocked(key);
}

void WorkQueue::AddAfter(absl::string_view key, absl::Duration delay) {
  if (delay <= absl::ZeroDuration()) {
    Add(key);
    return;
  }
  const absl::Time due = clock_->Now() + delay;
  absl::MutexLock l(&mu_);
  if (shutting_down_) return;
  auto it = waiting_by_key_.find(key);
  if (it != waiting_by_key_.end()) {
    if (it->second.first <= due) return;  // already due sooner
    waiting_.erase(Waiting(it->second.first, it->second.second, std::string(key)));
    it->second = {due, next_seq_};
  } else {
    waiting_by_key_.emplace(key, std::make_pair(due, next_seq_));
  }
  auto [pos, inserted] = waiting_.emplace(due, next_seq_++, std::string(key));
  if (pos == waiting_.begin()) wake_waiting_ = true;
}

void WorkQueue::AddRateLimited(absl::string_view key) { AddAfter(key, rate_limiter_->When(key)); }

void WorkQueue::Forget(absl::string_view key) { rate_limiter_->Forget(key); }

int WorkQueue::NumRequeues(absl::string_view key) { return rate_limiter_->NumRequeues(key); }

std::optional<std::string> WorkQueue::Get() {
  absl::MutexLock l(&mu_);
  mu_.Await(absl::Condition(&ready_));
  if (queue_.empty()) return std::nullopt;  // shut down and drained
  return PopLocked();
}

std::optional<std::string> WorkQueue::Get(absl::Duration timeout) {
  const absl::Time deadline = clock_->Now() + timeout;
  absl::MutexLock l(&mu_);
  // Another worker may take the key that woke us, so wait again until the
  // deadline.
  while (!ready_ && clock_->Now() < deadline) {
    clock_->AwaitWithDeadline(&mu_, &ready_, deadline);
  }
  if (queue_.empty()) return std::nullopt;
  return PopLocked();
}

void WorkQueue::Done(absl::string_view key) {
  absl::MutexLock l(&mu_);
  auto it = processing_.find(key);
  if (it == processing_.end()) return;
  processing_.erase(it);
  // Added while held: queue it now. This happens even after shutdown, so
  // that a change seen before shutdown is still handed to a draining worker.
  if (dirty_.contains(key)) {
    queue_.emplace_back(key);
    UpdateReadyLocked();
  }
}

int WorkQueue::Len() const {
  absl::MutexLock l(&mu_);
  return static_cast<int>(queue_.size());
}

void WorkQueue::ShutDownLocked() {
  shutting_down_ = true;
  wake_waiting_ = true;
  waiting_.clear();
  waiting_by_key_.clear();
  UpdateReadyLocked();
}

void WorkQueue::ShutDown() {
  absl::MutexLock l(&mu_);
  ShutDownLocked();
}

void WorkQueue::ShutDownWithDrain() {
  absl::MutexLock l(&mu_);
  ShutDownLocked();
  auto drained = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return queue_.empty() && processing_.empty();
  };
  mu_.Await(absl::Condition(&drained));
}

bool WorkQueue::ShuttingDown() const {
  absl::MutexLock l(&mu_);
  return shutting_down_;
}

void WorkQueue::WaitingLoop() {
  absl::MutexLock l(&mu_);
  while (!shutting_down_) {
    const absl::Time now = clock_->Now();
    while (!waiting_.empty() && std::get<0>(*waiting_.begin()) <= now) {
      auto node = waiting_.extract(waiting_.begin());
      const std::string& key = std::get<2>(node.value());
      waiting_by_key_.erase(key);
      AddLocked(key);
    }
    const absl::Time next =
        waiting_.empty() ? absl::InfiniteFuture() : std::get<0>(*waiting_.begin());
    wake_waiting_ = false;
    clock_->AwaitWithDeadline(&mu_, &wake_waiting_, next);
  }
}

}  // namespace korch::client
