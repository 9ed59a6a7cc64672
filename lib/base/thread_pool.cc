#include "korch/base/thread_pool.h"

#include <algorithm>
#include <atomic>

namespace korch {

ThreadPool::ThreadPool(int num_threads) {
  num_threads = std::max(1, num_threads);
  threads_.reserve(num_threads);
  for (int i = 0; i < num_threads; ++i) threads_.emplace_back([this] { WorkLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
  }
  for (auto& t : threads_) t.join();
}

void ThreadPool::Schedule(std::function<void()> task) {
  absl::MutexLock l(&mu_);
  tasks_.push_back(std::move(task));
}

void ThreadPool::WorkLoop() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock l(&mu_);
      auto ready = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stopping_ || !tasks_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (tasks_.empty()) return;  // stopping and drained
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

void ThreadPool::ParallelFor(int n, const std::function<void(int)>& fn) {
  if (n <= 0) return;
  const int workers = std::min(n, size() + 1);
  if (workers == 1) {
    for (int i = 0; i < n; ++i) fn(i);
    return;
  }
  // Chunks are claimed dynamically so that a slow chunk does not hold up the
  // others; the caller works too, so this never deadlocks on a busy pool.
  const int chunk = std::max(1, n / (workers * 4));
  std::atomic<int> next{0};
  absl::Mutex done_mu;
  int active = workers - 1;
  auto run = [&] {
    for (;;) {
      int begin = next.fetch_add(chunk, std::memory_order_relaxed);
      if (begin >= n) break;
      int end = std::min(n, begin + chunk);
      for (int i = begin; i < end; ++i) fn(i);
    }
  };
  for (int w = 0; w < workers - 1; ++w) {
    Schedule([&] {
      run();
      absl::MutexLock l(&done_mu);
      --active;
    });
  }
  run();
  absl::MutexLock l(&done_mu);
  auto finished = [&active]() { return active == 0; };
  done_mu.Await(absl::Condition(&finished));
}

}  // namespace korch
