// The scheduling queue (active heap ordered by the profile's QueueSort,
// backoff heap, unschedulable pods waiting for a cluster event, gated pods)
// and the nominator (pods nominated to nodes by preemption).
#ifndef KORCH_LIB_SCHEDULER_QUEUE_H_
#define KORCH_LIB_SCHEDULER_QUEUE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "korch/base/clock.h"
#include "korch/scheduler/framework.h"

namespace korch::scheduler::internal {

// Cluster events that may make an unschedulable pod schedulable (a mask).
enum ClusterEvent : uint32_t {
  kNodeAdd = 1u << 0,
  kNodeUpdate = 1u << 1,
  kNodeDelete = 1u << 2,
  kAssignedPodAdd = 1u << 3,
  kAssignedPodUpdate = 1u << 4,
  kAssignedPodDelete = 1u << 5,
  kNamespaceChange = 1u << 6,
  kWorkloadChange = 1u << 7,
  kAllEvents = 0xffffffffu,
};

// The events after which a pod rejected by `plugin` is worth retrying
// (kube-scheduler's EventsToRegister of the in-tree plugins); every event
// for plugins not known here.
uint32_t EventsForPlugin(absl::string_view plugin);

struct QueueOptions {
  Clock* clock = nullptr;
  absl::Duration initial_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Seconds(10);
  // QueueSort: whether `a` is scheduled before `b`.
  std::function<bool(const QueuedPodInfo& a, const QueuedPodInfo& b)> less;
  // The PreEnqueue plugins of the pod's profile: success, or the first
  // status that keeps the pod out of the active queue.
  std::function<PluginStatus(const PodInfo& pod)> pre_enqueue;
};

// Thread-safe. Pods are keyed by PodKeyOf().
class SchedulingQueue {
 public:
  explicit SchedulingQueue(QueueOptions options);
  ~SchedulingQueue();

  // A pod waiting for a node: into the active queue, or gated when
  // PreEnqueue says so. Replaces a queued pod with the same key.
  void Add(std::shared_ptr<const PodInfo> pod);
  // A newer version of a pending pod: PreEnqueue runs again; an
  // unschedulable pod is retried (its spec may have changed).
  void Update(std::shared_ptr<const PodInfo> pod);
  void Delete(absl::string_view key);
  bool Contains(absl::string_view key) const;

  // The next active pod (pods whose backoff expired are moved first), or
  // null. The pod is in flight until Done() or AddUnschedulable().
  std::unique_ptr<QueuedPodInfo> Pop();
  // Like Pop(), but waits (on the clock) for a pod until `deadline` or
  // Close(); null then.
  std::unique_ptr<QueuedPodInfo> PopWait(absl::Time deadline);
  // Makes a PopWait() caller return null now (e.g. an earlier deadline
  // exists now).
  void Wake();
  // Makes PopWait() return null from now on.
  void Close();

  // A popped pod failed. Rejections (`error` false; the plugins are in
  // qpi->unschedulable_plugins) wait for an event those plugins care about
  // unless one happened while the pod was in flight; errors back off.
  void AddUnschedulable(std::unique_ptr<QueuedPodInfo> qpi, bool error);
  // A popped pod was scheduled (or dropped).
  void Done(absl::string_view key);

  // Moves the unschedulable pods that `event` may help to the active queue
  // (or to the backoff queue while they back off).
  // `except` names a pod left where it is.
  void MoveAllToActiveOrBackoff(uint32_t event, absl::string_view except = "");

  struct Counts {
    int64_t active = 0;
    int64_t backoff = 0;
    int64_t unschedulable = 0;
    int64_t gated = 0;
    int64_t in_flight = 0;
  };
  Counts GetCounts() const;
  // The backoff of a pod after `attempts` failed attempts.
  absl::Duration BackoffFor(int attempts) const;

 private:
  enum class Where { kActive, kBackoff, kUnschedulable, kGated, kInFlight };
  struct Entry {
    std::unique_ptr<QueuedPodInfo> qpi;  // null while in flight
    std::string key;
    Where where = Where::kActive;
    int heap_index = -1;
    absl::Time backoff_expiry;
    int64_t popped_cycle = 0;
    // Arrival order in the active queue: FIFO among pods QueueSort ties.
    uint64_t seq = 0;
    // In flight: a newer version arrived (used when the pod is requeued).
    std::shared_ptr<const PodInfo> updated;
  };
  // A binary heap of entries that knows each entry's index.
  class Heap {
   public:
    explicit Heap(std::function<bool(const Entry*, const Entry*)> less) : less_(std::move(less)) {}
    void Push(Entry* e);
    Entry* Top() const { return items_.empty() ? nullptr : items_[0]; }
    void Remove(Entry* e);
    size_t size() const { return items_.size(); }
    bool empty() const { return items_.empty(); }

   private:
    void Up(int i);
    void Down(int i);
    void Swap(int i, int j);
    std::function<bool(const Entry*, const Entry*)> less_;
    std::vector<Entry*> items_;
  };

  void AddLocked(std::string key, std::shared_ptr<const PodInfo> pod, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PlaceLocked(Entry& e, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DetachLocked(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MoveToActiveOrBackoffLocked(Entry& e, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FlushLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::unique_ptr<QueuedPodInfo> PopLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const QueueOptions options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
  Heap active_ ABSL_GUARDED_BY(mu_);
  Heap backoff_ ABSL_GUARDED_BY(mu_);
  int64_t unschedulable_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t gated_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t cycle_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t seq_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t move_request_cycle_ ABSL_GUARDED_BY(mu_) = -1;
  absl::Time last_unschedulable_flush_ ABSL_GUARDED_BY(mu_);
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool kicked_ ABSL_GUARDED_BY(mu_) = false;
};

// Pods nominated to nodes (preemptors waiting for their victims to go).
// Thread-safe.
class Nominator {
 public:
  void Add(std::shared_ptr<const PodInfo> pod, const std::string& node_name);
  // Replaces the pod's info when it is nominated.
  void Update(std::shared_ptr<const PodInfo> pod);
  void Delete(absl::string_view key);
  std::vector<std::shared_ptr<const PodInfo>> ForNode(const std::string& node_name) const;
  std::string NodeOf(absl::string_view key) const;
  bool empty() const { return count_.load(std::memory_order_relaxed) == 0; }
  // Nominated pods per node, copied for one cycle.
  absl::flat_hash_map<std::string, std::vector<std::shared_ptr<const PodInfo>>> Copy() const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::vector<std::shared_ptr<const PodInfo>>> by_node_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> node_of_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> count_{0};
};

}  // namespace korch::scheduler::internal

#endif  // KORCH_LIB_SCHEDULER_QUEUE_H_
