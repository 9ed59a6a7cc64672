// A fixed-size pool of worker threads.
#ifndef KORCH_BASE_THREAD_POOL_H_
#define KORCH_BASE_THREAD_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "korch/export.h"

namespace korch {

// Runs tasks on `num_threads` threads started by the constructor. The
// destructor finishes every task already scheduled, then joins the threads.
// Thread-safe. Tasks must not throw.
class KORCH_EXPORT ThreadPool {
 public:
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(threads_.size()); }

  // Queues `task` to run on a worker thread.
  void Schedule(std::function<void()> task);

  // Runs fn(i) for every i in [0, n), split into contiguous chunks across
  // the workers and the calling thread, and returns when all are done. Safe
  // to call from several threads at once; must not be called from inside a
  // task of the same pool.
  void ParallelFor(int n, const std::function<void(int)>& fn);

 private:
  void WorkLoop();

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace korch

#endif  // KORCH_BASE_THREAD_POOL_H_
