#include "scheduler/parallel_loop.h"

#include <sched.h>

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace korch::scheduler::internal {
namespace {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

ParallelLoop::ParallelLoop(int workers, absl::Duration spin) : spin_(spin) {
  workers = std::max(1, workers);
  threads_.reserve(workers);
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { WorkLoop(); });
}

ParallelLoop::~ParallelLoop() {
  state_.fetch_or(kStopping, std::memory_order_seq_cst);
  wake_.fetch_add(1, std::memory_order_seq_cst);
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void ParallelLoop::RunChunks(bool front) {
  if (order_ == Order::kInOrder) {
    for (;;) {
      const int begin = next_.fetch_add(chunk_, std::memory_order_relaxed);
      if (begin >= n_) return;
      (*fn_)(begin, std::min(n_, begin + chunk_));
    }
  }
  uint64_t r = range_.load(std::memory_order_relaxed);
  for (;;) {
    const uint32_t low = static_cast<uint32_t>(r);
    const uint32_t high = static_cast<uint32_t>(r >> 32);
    if (low >= high) return;
    const uint32_t c = front ? low : high - 1;
    const uint64_t claimed = front ? (r + 1) : (r - (uint64_t{1} << 32));
    if (!range_.compare_exchange_weak(r, claimed, std::memory_order_relaxed)) continue;
    const int begin = static_cast<int>(c) * chunk_;
    (*fn_)(begin, std::min(n_, begin + chunk_));
    r = range_.load(std::memory_order_relaxed);
  }
}

void ParallelLoop::Run(int n, int chunk, absl::FunctionRef<void(int, int)> fn, Order order) {
  if (n <= 0) return;
  absl::MutexLock lock(&run_mu_);
  n_ = n;
  chunk_ = std::max(1, chunk);
  fn_ = &fn;
  order_ = order;
  next_.store(0, std::memory_order_relaxed);
  const uint64_t chunks = (static_cast<uint64_t>(n) + chunk_ - 1) / chunk_;
  range_.store(chunks << 32, std::memory_order_relaxed);
  const uint64_t seq = (state_.load(std::memory_order_relaxed) >> 2) + 1;
  // Publishes the fields above to workers that read the new state.
  state_.store((seq << 2) | kOpen, std::memory_order_seq_cst);
  if (parked_.load(std::memory_order_seq_cst) > 0) {
    wake_.fetch_add(1, std::memory_order_seq_cst);
    wake_.notify_all();
  }
  RunChunks(/*front=*/true);
  // Every chunk is claimed. Close the loop, then wait for the workers that
  // joined it: each is finishing one chunk at most. A worker that counts
  // itself in after this sees the loop closed and leaves (both sides use
  // sequentially consistent operations, so one of them sees the other).
  state_.store(seq << 2, std::memory_order_seq_cst);
  // A worker preempted in the middle of its chunk needs this CPU back.
  for (int i = 0; active_.load(std::memory_order_seq_cst) != 0; ++i) {
    if (i < 256) {
      CpuRelax();
    } else {
      sched_yield();
    }
  }
  fn_ = nullptr;
}

void ParallelLoop::WorkLoop() {
  uint64_t seen = 0;  // the last sequence this worker looked at
  for (;;) {
    // Wait for a loop newer than `seen`: spin, then park.
    uint64_t s = state_.load(std::memory_order_acquire);
    if ((s & kStopping) == 0 && (s >> 2) == seen) {
      const auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(spin_);
      for (int i = 1;; ++i) {
        // A plain spin: a worker that yields instead loses its CPU to any
        // other runnable thread for a whole time slice, and then misses
        // the loops it is there for.
        CpuRelax();
        s = state_.load(std::memory_order_acquire);
        if ((s & kStopping) != 0 || (s >> 2) != seen) break;
        if (i % 64 == 0 && std::chrono::steady_clock::now() >= deadline) {
          parked_.fetch_add(1, std::memory_order_seq_cst);
          const int w = wake_.load(std::memory_order_seq_cst);
          s = state_.load(std::memory_order_seq_cst);
          if ((s & kStopping) == 0 && (s >> 2) == seen) wake_.wait(w, std::memory_order_seq_cst);
          parked_.fetch_sub(1, std::memory_order_relaxed);
          i = 0;
        }
      }
    }
    if ((s & kStopping) != 0) return;
    seen = s >> 2;
    if ((s & kOpen) == 0) continue;  // that loop is over already
    active_.fetch_add(1, std::memory_order_seq_cst);
    if (state_.load(std::memory_order_seq_cst) == s) RunChunks(/*front=*/false);
    active_.fetch_sub(1, std::memory_order_seq_cst);
  }
}

}  // namespace korch::scheduler::internal
