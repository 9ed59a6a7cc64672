// The threads that run a scheduling cycle's data-parallel loops: Filter over
// the nodes and Score over the feasible ones.
//
// A cycle at 5,000 nodes takes tens of microseconds, and it has two such
// loops. ThreadPool::ParallelFor is too slow a hand-off for that: the caller
// sleeps until every worker has woken up and finished, so a worker that
// wakes late makes the loop wait for it. Here:
//  - The caller never waits for a worker that has not joined: a worker that
//    arrives after the last chunk was claimed finds the loop closed and
//    leaves without touching it. The caller waits only for chunks in flight.
//  - Idle workers spin for a short while before they park on a futex, since
//    under load the next loop starts a few microseconds after the last one.
#ifndef KORCH_LIB_SCHEDULER_PARALLEL_LOOP_H_
#define KORCH_LIB_SCHEDULER_PARALLEL_LOOP_H_

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace korch::scheduler::internal {

class ParallelLoop {
 public:
  // Starts `workers` threads (at least 1). An idle worker spins for `spin`
  // before it parks (zero: it parks at once, and joins a loop only if it
  // wakes up before the loop ends).
  explicit ParallelLoop(int workers, absl::Duration spin = absl::Microseconds(30));
  ~ParallelLoop();
  ParallelLoop(const ParallelLoop&) = delete;
  ParallelLoop& operator=(const ParallelLoop&) = delete;

  int workers() const { return static_cast<int>(threads_.size()); }
  // Whether idle workers sleep at once (zero spin).
  bool workers_sleep() const { return spin_ <= absl::ZeroDuration(); }

  // Calls fn(begin, end) for consecutive chunks of [0, n) of `chunk`
  // indices (the last one shorter), on the calling thread and any workers
  // that join. Returns once every chunk has been run. Callers are
  // serialized; fn must not call Run.
  //
  // In `kInOrder` chunks are claimed in increasing order, so that a loop
  // that stops early has evaluated an almost contiguous prefix. In
  // `kFromBothEnds` (loops that always run to the end) the caller takes
  // chunks from the front and the workers from the back: from one call to
  // the next, each thread then mostly gets the same indices (the same
  // nodes), whose data is still in its own core's cache.
  enum class Order { kInOrder, kFromBothEnds };
  void Run(int n, int chunk, absl::FunctionRef<void(int, int)> fn, Order order = Order::kInOrder);

 private:
  void WorkLoop();
  // Runs chunks of the current loop until none are left; `front` says
  // which end a thread takes them from in kFromBothEnds.
  void RunChunks(bool front);

  const absl::Duration spin_;
  absl::Mutex run_mu_;  // one Run at a time

  // The loop being run; written by Run before it publishes `state_`.
  int n_ = 0;
  int chunk_ = 1;
  const absl::FunctionRef<void(int, int)>* fn_ = nullptr;
  Order order_ = Order::kInOrder;
  std::atomic<int> next_{0};  // kInOrder: the next index
  // kFromBothEnds: the unclaimed chunks [low, high), as low | high << 32.
  std::atomic<uint64_t> range_{0};

  // (sequence number << 2) | open bit | stopping bit. A worker joins the
  // loop with sequence s only while the state still reads s with the open
  // bit set, after counting itself in `active_`.
  static constexpr uint64_t kOpen = 1;
  static constexpr uint64_t kStopping = 2;
  std::atomic<uint64_t> state_{0};
  std::atomic<int> active_{0};  // workers inside the current loop

  // Parking: workers that stopped spinning wait for `wake_` to change.
  std::atomic<int> parked_{0};
  std::atomic<int> wake_{0};

  std::vector<std::thread> threads_;
};

}  // namespace korch::scheduler::internal

#endif  // KORCH_LIB_SCHEDULER_PARALLEL_LOOP_H_
