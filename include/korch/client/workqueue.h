// The rate-limited work queue that controllers feed from their event
// handlers: client-go's `util/workqueue` (Type, delaying queue, rate-limiting
// queue) as one object.
//
// A controller's event handlers only enqueue keys ("namespace/name"); its
// workers loop on Get(), reconcile the key, then call Forget() on success or
// AddRateLimited() on failure, and always Done():
//
//   while (std::optional<std::string> key = queue.Get()) {
//     absl::Status s = Sync(*key);
//     if (s.ok()) queue.Forget(*key); else queue.AddRateLimited(*key);
//     queue.Done(*key);
//   }
#ifndef KORCH_CLIENT_WORKQUEUE_H_
#define KORCH_CLIENT_WORKQUEUE_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "korch/base/clock.h"
#include "korch/export.h"

namespace korch::client {

// Decides how long a key must wait before it is processed again after a
// failure (client-go `workqueue.RateLimiter`). Implementations are
// thread-safe.
class KORCH_EXPORT RateLimiter {
 public:
  virtual ~RateLimiter() = default;

  // Records one more requeue of `key` and returns how long it must wait.
  virtual absl::Duration When(absl::string_view key) = 0;
  // Stops tracking `key`: its next When() starts from scratch. Called when
  // the key was processed successfully.
  virtual void Forget(absl::string_view key) = 0;
  // How many times When() was called for `key` since it was last forgotten.
  virtual int NumRequeues(absl::string_view key) = 0;
};

// Per-key exponential backoff: the n-th When() for a key (counting from 0)
// returns base_delay * 2^n, capped at max_delay. Memory grows with the
// number of keys that have failed and not been forgotten.
class KORCH_EXPORT ItemExponentialFailureRateLimiter final : public RateLimiter {
 public:
  ItemExponentialFailureRateLimiter(absl::Duration base_delay, absl::Duration max_delay);

  absl::Duration When(absl::string_view key) override;
  void Forget(absl::string_view key) override;
  int NumRequeues(absl::string_view key) override;

 private:
  const absl::Duration base_delay_;
  const absl::Duration max_delay_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, int> failures_ ABSL_GUARDED_BY(mu_);
};

// One token bucket shared by all keys (client-go `BucketRateLimiter`): it
// holds at most `burst` tokens, refilled at `qps` per second of `clock`
// time, and starts full. Each When() takes a token; when none is left it
// reserves a future one and returns the time until then, so callers are
// spaced 1/qps apart. Does not track keys: Forget() does nothing and
// NumRequeues() is 0. A non-positive `qps` disables the limit (When() is
// always zero); `burst` is at least 1.
class KORCH_EXPORT BucketRateLimiter final : public RateLimiter {
 public:
  BucketRateLimiter(std::shared_ptr<Clock> clock, double qps, int burst);

  absl::Duration When(absl::string_view key) override;
  void Forget(absl::string_view key) override {}
  int NumRequeues(absl::string_view key) override { return 0; }

 private:
  const std::shared_ptr<Clock> clock_;
  const absl::Duration interval_;  // time to earn one token; zero: unlimited
  const absl::Duration capacity_;  // burst * interval_
  absl::Mutex mu_;
  // The tokens held, as the time it took to earn them (tokens * interval_).
  // Negative when future tokens are reserved.
  absl::Duration credit_ ABSL_GUARDED_BY(mu_);
  absl::Time last_ ABSL_GUARDED_BY(mu_);
};

// The worst (longest) of several limiters (client-go `MaxOfRateLimiter`):
// When() asks every limiter, so each records the requeue; Forget() forgets
// in all of them; NumRequeues() is the largest count.
class KORCH_EXPORT MaxOfRateLimiter final : public RateLimiter {
 public:
  explicit MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters);

  absl::Duration When(absl::string_view key) override;
  void Forget(absl::string_view key) override;
  int NumRequeues(absl::string_view key) override;

 private:
  const std::vector<std::unique_ptr<RateLimiter>> limiters_;
};

// client-go's DefaultControllerRateLimiter: the max of per-key exponential
// backoff (5 ms doubling up to 1000 s) and an overall bucket of 10 qps with
// a burst of 100, on `clock`.
KORCH_EXPORT std::unique_ptr<RateLimiter> DefaultControllerRateLimiter(
    std::shared_ptr<Clock> clock);

struct WorkQueueOptions {
  // Time for AddAfter(), AddRateLimited() and Get(timeout). Null means
  // RealClock().
  std::shared_ptr<Clock> clock;
  // Used by AddRateLimited(), Forget() and NumRequeues(). Null means
  // DefaultControllerRateLimiter(clock).
  std::shared_ptr<RateLimiter> rate_limiter;
};

// A FIFO queue of keys with client-go workqueue semantics:
//
// - Duplicates collapse: Add() of a key that is already queued does nothing.
// - A key is never handed to two workers at once: Add() of a key that a
//   worker holds (between Get() and Done()) marks it, and Done() queues it
//   again, so the change that caused the Add() is not lost.
// - AddAfter() and AddRateLimited() hold a key back until the clock reaches
//   its due time, then Add() it. A key waits at most once; adding it again
//   with an earlier due time moves it earlier.
//
// Bounded: the queue, the set of held keys and the set of waiting keys each
// contain a key at most once, so memory is bounded by the number of
// distinct keys (the objects the controller watches), however often they
// are added. The rate limiter's per-key state is freed by Forget().
//
// Threads: every method is thread-safe. The queue owns one thread that
// moves waiting keys to the queue when they are due; it sleeps on the
// injected clock and is woken by earlier due times and by shutdown. Get()
// blocks the calling worker. Workers must have returned from Get() before
// the queue is destroyed.
class KORCH_EXPORT WorkQueue {
 public:
  explicit WorkQueue(WorkQueueOptions options = {});
  // Shuts down (without draining) and joins the waiting thread.
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Queues `key` unless it is already queued. If a worker holds it, it is
  // queued when that worker calls Done(). Ignored after shutdown.
  void Add(absl::string_view key);
  // Add()s `key` once `delay` of clock time has passed (at once if `delay`
  // is not positive). Ignored after shutdown.
  void AddAfter(absl::string_view key, absl::Duration delay);
  // AddAfter(key, rate_limiter.When(key)): retry with backoff.
  void AddRateLimited(absl::string_view key);
  // Resets the rate limiter's backoff for `key`. It does not remove the key
  // from the queue.
  void Forget(absl::string_view key);
  // How many times `key` was AddRateLimited() since it was last forgotten.
  int NumRequeues(absl::string_view key);

  // Blocks until a key is queued, removes the first one and hands it to the
  // caller, which must call Done(key) when finished with it. Returns
  // nullopt once the queue is shut down and empty: the worker should exit.
  std::optional<std::string> Get();
  // Like Get(), but also returns nullopt when `timeout` of clock time passes
  // with nothing queued (ShuttingDown() tells the two apart). A zero timeout
  // polls.
  std::optional<std::string> Get(absl::Duration timeout);
  // Marks the end of processing `key`; queues it again if it was added
  // meanwhile. A key that is not held is ignored.
  void Done(absl::string_view key);

  // The number of queued keys: not counting held or waiting ones.
  int Len() const;

  // Rejects further adds and drops waiting keys. Keys already queued are
  // still handed out; then Get() returns nullopt to every worker. Does not
  // wait.
  void ShutDown();
  // ShutDown(), then blocks until the workers have emptied the queue and
  // called Done() for every key they were handed. Needs running workers.
  void ShutDownWithDrain();
  bool ShuttingDown() const;

 private:
  // A waiting key, ordered by due time then by arrival.
  using Waiting = std::tuple<absl::Time, uint64_t, std::string>;

  void AddLocked(absl::string_view key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string PopLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ShutDownLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateReadyLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ready_ = !queue_.empty() || shutting_down_;
  }
  void WaitingLoop();

  const std::shared_ptr<Clock> clock_;
  const std::shared_ptr<RateLimiter> rate_limiter_;

  mutable absl::Mutex mu_;
  // Keys in FIFO order, each at most once; always a subset of dirty_.
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  // Keys that need processing: queued, or held and added again.
  absl::flat_hash_set<std::string> dirty_ ABSL_GUARDED_BY(mu_);
  // Keys handed out by Get() and not yet Done().
  absl::flat_hash_set<std::string> processing_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  // !queue_.empty() || shutting_down_, as a flag for Clock::AwaitWithDeadline.
  bool ready_ ABSL_GUARDED_BY(mu_) = false;

  // Keys held back by AddAfter(), soonest first, and each key's entry.
  std::set<Waiting> waiting_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::pair<absl::Time, uint64_t>> waiting_by_key_
      ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  // Set to wake the waiting thread: a new soonest key, or shutdown.
  bool wake_waiting_ ABSL_GUARDED_BY(mu_) = false;

  std::thread waiting_thread_;
};

}  // namespace korch::client

#endif  // KORCH_CLIENT_WORKQUEUE_H_
