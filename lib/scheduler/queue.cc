#include "scheduler/queue.h"

#include <algorithm>
#include <utility>

#include "korch/scheduler/registry.h"
#include "scheduler/cache.h"

namespace korch::scheduler::internal {
namespace {

// kube-scheduler retries unschedulable pods that no event moved after this
// long, as a safety net for events it does not model.
constexpr absl::Duration kMaxInUnschedulable = absl::Minutes(5);
constexpr absl::Duration kUnschedulableFlushInterval = absl::Seconds(30);

}  // namespace

uint32_t EventsForPlugin(absl::string_view plugin) {
  constexpr uint32_t kNode = kNodeAdd | kNodeUpdate;
  if (plugin == names::kNodeUnschedulable || plugin == names::kNodeName ||
      plugin == names::kTaintToleration || plugin == names::kNodeAffinity) {
    return kNode;
  }
  if (plugin == names::kNodePorts) return kNodeAdd | kAssignedPodDelete;
  if (plugin == names::kNodeResourcesFit) return kNode | kAssignedPodDelete | kAssignedPodUpdate;
  if (plugin == names::kInterPodAffinity) {
    return kNode | kAssignedPodAdd | kAssignedPodUpdate | kAssignedPodDelete | kNamespaceChange;
  }
  if (plugin == names::kPodTopologySpread) {
    return kNode | kNodeDelete | kAssignedPodAdd | kAssignedPodUpdate | kAssignedPodDelete;
  }
  return kAllEvents;
}

// ---------------------------------------------------------------------------
// Heap
// ---------------------------------------------------------------------------

void SchedulingQueue::Heap::Swap(int i, int j) {
  std::swap(items_[i], items_[j]);
  items_[i]->heap_index = i;
  items_[j]->heap_index = j;
}

void SchedulingQueue::Heap::Up(int i) {
  while (i > 0) {
    int parent = (i - 1) / 2;
    if (!less_(items_[i], items_[parent])) break;
    Swap(i, parent);
    i = parent;
  }
}

void SchedulingQueue::Heap::Down(int i) {
  const int n = static_cast<int>(items_.size());
  for (;;) {
    int best = i;
    int l = 2 * i + 1;
    int r = l + 1;
    if (l < n && less_(items_[l], items_[best])) best = l;
    if (r < n && less_(items_[r], items_[best])) best = r;
    if (best == i) return;
    Swap(i, best);
    i = best;
  }
}

void SchedulingQueue::Heap::Push(Entry* e) {
  e->heap_index = static_cast<int>(items_.size());
  items_.push_back(e);
  Up(e->heap_index);
}

void SchedulingQueue::Heap::Remove(Entry* e) {
  int i = e->heap_index;
  int last = static_cast<int>(items_.size()) - 1;
  if (i != last) Swap(i, last);
  items_.pop_back();
  e->heap_index = -1;
  if (i < last) {
    Down(i);
    Up(i);
  }
}

// ---------------------------------------------------------------------------
// SchedulingQueue
// ---------------------------------------------------------------------------

SchedulingQueue::SchedulingQueue(QueueOptions options)
    : options_(std::move(options)),
      active_([this](const Entry* a, const Entry* b) {
        if (options_.less(*a->qpi, *b->qpi)) return true;
        if (options_.less(*b->qpi, *a->qpi)) return false;
        return a->seq < b->seq;
      }),
      backoff_(
          [](const Entry* a, const Entry* b) { return a->backoff_expiry < b->backoff_expiry; }) {
  last_unschedulable_flush_ = options_.clock->Now();
}

SchedulingQueue::~SchedulingQueue() = default;

absl::Duration SchedulingQueue::BackoffFor(int attempts) const {
  absl::Duration d = options_.initial_backoff;
  for (int i = 1; i < attempts; ++i) {
    d *= 2;
    if (d >= options_.max_backoff) return options_.max_backoff;
  }
  return std::min(d, options_.max_backoff);
}

void SchedulingQueue::DetachLocked(Entry& e) {
  switch (e.where) {
    case Where::kActive:
      active_.Remove(&e);
      break;
    case Where::kBackoff:
      backoff_.Remove(&e);
      break;
    case Where::kUnschedulable:
      --unschedulable_;
      break;
    case Where::kGated:
      --gated_;
      break;
    case Where::kInFlight:
      --in_flight_;
      break;
  }
}

// Puts a fresh or updated (detached) pod where PreEnqueue says.
void SchedulingQueue::PlaceLocked(Entry& e, absl::Time now) {
  PluginStatus s =
      options_.pre_enqueue ? options_.pre_enqueue(*e.qpi->pod_info) : PluginStatus::Success();
  if (!s.ok()) {
    e.qpi->gated = true;
    e.where = Where::kGated;
    ++gated_;
    return;
  }
  e.qpi->gated = false;
  e.qpi->timestamp = now;
  e.where = Where::kActive;
  e.seq = ++seq_;
  active_.Push(&e);
  wake_ = true;
}

void SchedulingQueue::MoveToActiveOrBackoffLocked(Entry& e, absl::Time now) {
  e.backoff_expiry = e.qpi->timestamp + BackoffFor(e.qpi->attempts);
  if (e.qpi->attempts > 0 && e.backoff_expiry > now) {
    e.where = Where::kBackoff;
    backoff_.Push(&e);
    wake_ = true;  // PopWait recomputes its deadline
    return;
  }
  e.where = Where::kActive;
  e.seq = ++seq_;
  active_.Push(&e);
  wake_ = true;
}

void SchedulingQueue::Add(std::shared_ptr<const PodInfo> pod) {
  std::string key = PodKeyOf(*pod);
  absl::Time now = options_.clock->Now();
  absl::MutexLock l(&mu_);
  AddLocked(std::move(key), std::move(pod), now);
}

void SchedulingQueue::AddLocked(std::string key, std::shared_ptr<const PodInfo> pod,
                                absl::Time now) {
  auto& slot = entries_[key];
  if (slot != nullptr) {
    if (slot->where == Where::kInFlight) {
      slot->updated = std::move(pod);
      return;
    }
    DetachLocked(*slot);
    slot->qpi->pod_info = std::move(pod);
  } else {
    slot = std::make_unique<Entry>();
    slot->key = std::move(key);
    slot->qpi = std::make_unique<QueuedPodInfo>();
    slot->qpi->pod_info = std::move(pod);
    slot->qpi->initial_attempt_timestamp = now;
  }
  PlaceLocked(*slot, now);
}

void SchedulingQueue::Update(std::shared_ptr<const PodInfo> pod) {
  std::string key = PodKeyOf(*pod);
  absl::Time now = options_.clock->Now();
  absl::MutexLock l(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    AddLocked(std::move(key), std::move(pod), now);
    return;
  }
  Entry& e = *it->second;
  if (e.where == Where::kInFlight) {
    e.updated = std::move(pod);
    return;
  }
  e.qpi->pod_info = std::move(pod);
  switch (e.where) {
    case Where::kGated:
      --gated_;
      PlaceLocked(e, now);
      break;
    case Where::kUnschedulable:
      // The update may be what the pod needed.
      --unschedulable_;
      MoveToActiveOrBackoffLocked(e, now);
      break;
    default:
      break;  // active or backing off: the heaps' order does not change
  }
}

void SchedulingQueue::Delete(absl::string_view key) {
  absl::MutexLock l(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  DetachLocked(*it->second);
  entries_.erase(it);
}

bool SchedulingQueue::Contains(absl::string_view key) const {
  absl::MutexLock l(&mu_);
  return entries_.contains(key);
}

void SchedulingQueue::FlushLocked(absl::Time now) {
  while (!backoff_.empty() && backoff_.Top()->backoff_expiry <= now) {
    Entry* e = backoff_.Top();
    backoff_.Remove(e);
    e->where = Where::kActive;
    e->seq = ++seq_;
    active_.Push(e);
  }
  if (unschedulable_ > 0 && now - last_unschedulable_flush_ >= kUnschedulableFlushInterval) {
    last_unschedulable_flush_ = now;
    for (auto& [key, e] : entries_) {
      if (e->where == Where::kUnschedulable && now - e->qpi->timestamp >= kMaxInUnschedulable) {
        --unschedulable_;
        MoveToActiveOrBackoffLocked(*e, now);
      }
    }
  }
}

std::unique_ptr<QueuedPodInfo> SchedulingQueue::PopLocked() {
  Entry* e = active_.Top();
  active_.Remove(e);
  e->where = Where::kInFlight;
  e->popped_cycle = ++cycle_;
  ++in_flight_;
  std::unique_ptr<QueuedPodInfo> qpi = std::move(e->qpi);
  ++qpi->attempts;
  qpi->unschedulable_plugins.clear();
  return qpi;
}

std::unique_ptr<QueuedPodInfo> SchedulingQueue::Pop() {
  absl::Time now = options_.clock->Now();
  absl::MutexLock l(&mu_);
  FlushLocked(now);
  if (active_.empty()) return nullptr;
  return PopLocked();
}

std::unique_ptr<QueuedPodInfo> SchedulingQueue::PopWait(absl::Time deadline) {
  absl::MutexLock l(&mu_);
  for (;;) {
    if (closed_) return nullptr;
    if (kicked_) {
      kicked_ = false;
      return nullptr;
    }
    absl::Time now = options_.clock->Now();
    FlushLocked(now);
    if (!active_.empty()) return PopLocked();
    if (now >= deadline) return nullptr;
    absl::Time wake_at = deadline;
    if (!backoff_.empty()) wake_at = std::min(wake_at, backoff_.Top()->backoff_expiry);
    if (unschedulable_ > 0) {
      wake_at = std::min(wake_at, last_unschedulable_flush_ + kUnschedulableFlushInterval);
    }
    wake_ = false;
    options_.clock->AwaitWithDeadline(&mu_, &wake_, wake_at);
  }
}

void SchedulingQueue::Wake() {
  absl::MutexLock l(&mu_);
  kicked_ = true;
  wake_ = true;
}

void SchedulingQueue::Close() {
  absl::MutexLock l(&mu_);
  closed_ = true;
  wake_ = true;
}

void SchedulingQueue::AddUnschedulable(std::unique_ptr<QueuedPodInfo> qpi, bool error) {
  std::string key = PodKeyOf(*qpi->pod_info);
  absl::Time now = options_.clock->Now();
  absl::MutexLock l(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second->where != Where::kInFlight) {
    // Deleted while in flight (or never queued: a direct Schedule() call).
    return;
  }
  Entry& e = *it->second;
  --in_flight_;
  if (e.updated != nullptr) qpi->pod_info = std::move(e.updated);
  e.qpi = std::move(qpi);
  e.qpi->timestamp = now;
  if (!error && move_request_cycle_ < e.popped_cycle) {
    e.where = Where::kUnschedulable;
    ++unschedulable_;
    return;
  }
  // An error, or an event that may help came while the pod was in flight.
  e.backoff_expiry = now + BackoffFor(e.qpi->attempts);
  e.where = Where::kBackoff;
  backoff_.Push(&e);
  wake_ = true;
}

void SchedulingQueue::Done(absl::string_view key) {
  absl::MutexLock l(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second->where != Where::kInFlight) return;
  --in_flight_;
  entries_.erase(it);
}

void SchedulingQueue::MoveAllToActiveOrBackoff(uint32_t event, absl::string_view except) {
  absl::Time now = options_.clock->Now();
  absl::MutexLock l(&mu_);
  if (in_flight_ > 0) move_request_cycle_ = cycle_;
  if (unschedulable_ == 0) return;
  for (auto& [key, e] : entries_) {
    if (e->where != Where::kUnschedulable || key == except) continue;
    bool interested = e->qpi->unschedulable_plugins.empty();
    for (const std::string& plugin : e->qpi->unschedulable_plugins) {
      if (EventsForPlugin(plugin) & event) {
        interested = true;
        break;
      }
    }
    if (!interested) continue;
    --unschedulable_;
    MoveToActiveOrBackoffLocked(*e, now);
  }
}

SchedulingQueue::Counts SchedulingQueue::GetCounts() const {
  absl::MutexLock l(&mu_);
  Counts c;
  c.active = static_cast<int64_t>(active_.size());
  c.backoff = static_cast<int64_t>(backoff_.size());
  c.unschedulable = unschedulable_;
  c.gated = gated_;
  c.in_flight = in_flight_;
  return c;
}

// ---------------------------------------------------------------------------
// Nominator
// ---------------------------------------------------------------------------

void Nominator::Add(std::shared_ptr<const PodInfo> pod, const std::string& node_name) {
  std::string key = PodKeyOf(*pod);
  absl::MutexLock l(&mu_);
  auto it = node_of_.find(key);
  if (it != node_of_.end()) {
    auto& pods = by_node_[it->second];
    pods.erase(std::remove_if(pods.begin(), pods.end(),
                              [&](const auto& p) { return PodKeyOf(*p) == key; }),
               pods.end());
    if (pods.empty()) by_node_.erase(it->second);
    count_.fetch_sub(1, std::memory_order_relaxed);
  }
  node_of_[key] = node_name;
  by_node_[node_name].push_back(std::move(pod));
  count_.fetch_add(1, std::memory_order_relaxed);
}

void Nominator::Update(std::shared_ptr<const PodInfo> pod) {
  std::string key = PodKeyOf(*pod);
  absl::MutexLock l(&mu_);
  auto it = node_of_.find(key);
  if (it == node_of_.end()) return;
  for (auto& p : by_node_[it->second]) {
    if (PodKeyOf(*p) == key) p = pod;
  }
}

void Nominator::Delete(absl::string_view key) {
  if (empty()) return;
  absl::MutexLock l(&mu_);
  auto it = node_of_.find(key);
  if (it == node_of_.end()) return;
  auto node = by_node_.find(it->second);
  if (node != by_node_.end()) {
    auto& pods = node->second;
    pods.erase(std::remove_if(pods.begin(), pods.end(),
                              [&](const auto& p) { return PodKeyOf(*p) == key; }),
               pods.end());
    if (pods.empty()) by_node_.erase(node);
  }
  node_of_.erase(it);
  count_.fetch_sub(1, std::memory_order_relaxed);
}

std::vector<std::shared_ptr<const PodInfo>> Nominator::ForNode(const std::string& node_name) const {
  if (empty()) return {};
  absl::MutexLock l(&mu_);
  auto it = by_node_.find(node_name);
  return it == by_node_.end() ? std::vector<std::shared_ptr<const PodInfo>>() : it->second;
}

std::string Nominator::NodeOf(absl::string_view key) const {
  if (empty()) return "";
  absl::MutexLock l(&mu_);
  auto it = node_of_.find(key);
  return it == node_of_.end() ? std::string() : it->second;
}

absl::flat_hash_map<std::string, std::vector<std::shared_ptr<const PodInfo>>> Nominator::Copy()
    const {
  absl::MutexLock l(&mu_);
  return by_node_;
}

}  // namespace korch::scheduler::internal
