// Per-node caches shared by InterPodAffinity and PodTopologySpread, so that
// counting pods per topology domain for an incoming pod costs a few loads
// per node instead of a scan of every pod and a label lookup per node.
//
// Both caches are indexed by a node's position in Snapshot::List() (a
// stable order) and validate each slot against the node it was computed
// for: the api::Node object (held, so its address cannot be reused while
// cached), the NodeInfo generation (bumped on every pod or node change) and
// the number of pods. A slot that does not match is recomputed, so a
// snapshot with nodes added, removed or reordered is still counted right,
// only more slowly.
//
// Not thread-safe: the owning plugin serialises its PreFilter/PreScore
// calls with a mutex.
#ifndef KORCH_LIB_SCHEDULER_PLUGINS_NODE_COUNT_CACHE_H_
#define KORCH_LIB_SCHEDULER_PLUGINS_NODE_COUNT_CACHE_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "korch/scheduler/framework.h"
#include "korch/scheduler/types.h"

namespace korch::scheduler::plugins {

// The topology domain (value of one node label key) of every node, interned
// as small integers.
class TopologyDomains {
 public:
  static constexpr int32_t kNoDomain = -1;

  explicit TopologyDomains(std::string key) : key_(std::move(key)) {}

  const std::string& key() const { return key_; }

  // Brings the domain of every node in `nodes` up to date; afterwards
  // Domain(i) is the domain of nodes[i].
  void Refresh(const std::vector<const NodeInfo*>& nodes) {
    for (size_t i = nodes.size(); i < slots_.size(); ++i) by_node_.erase(slots_[i].node.get());
    if (slots_.size() != nodes.size()) slots_.resize(nodes.size());
    for (size_t i = 0; i < nodes.size(); ++i) {
      Slot& slot = slots_[i];
      const api::Node* node = nodes[i]->node();
      if (slot.node.get() == node) continue;
      if (slot.node != nullptr) by_node_.erase(slot.node.get());
      slot.node = nodes[i]->node_ptr();
      slot.domain = Intern(nodes[i]->labels());
      by_node_[node] = slot.domain;
    }
  }

  int32_t Domain(size_t i) const { return slots_[i].domain; }

  // The domain of `node`: a pointer lookup for the nodes of the last
  // Refresh, a label lookup otherwise. `has_key` tells whether the node has
  // the label at all (kNoDomain with has_key is a value never seen).
  // Does not allocate.
  int32_t DomainOf(const NodeInfo& node, bool& has_key) const {
    auto it = by_node_.find(node.node());
    if (it != by_node_.end()) {
      has_key = it->second != kNoDomain;
      return it->second;
    }
    const auto& labels = node.labels();
    auto label = labels.find(key_);
    has_key = label != labels.end();
    return has_key ? FindValue(label->second) : kNoDomain;
  }
  // The domain of a label value (kNoDomain when never seen).
  int32_t FindValue(absl::string_view value) const {
    auto d = ids_.find(value);
    return d == ids_.end() ? kNoDomain : d->second;
  }
  // The domain of a node by its labels, interning a new value.
  int32_t Intern(const google::protobuf::Map<std::string, std::string>& labels) {
    auto it = labels.find(key_);
    if (it == labels.end()) return kNoDomain;
    auto [d, inserted] = ids_.try_emplace(it->second, static_cast<int32_t>(values_.size()));
    if (inserted) values_.push_back(it->second);
    return d->second;
  }
  size_t NumDomains() const { return values_.size(); }
  const std::string& Value(int32_t domain) const { return values_[domain]; }

 private:
  struct Slot {
    std::shared_ptr<const api::Node> node;
    int32_t domain = kNoDomain;
  };
  std::string key_;
  std::vector<Slot> slots_;
  absl::flat_hash_map<const api::Node*, int32_t> by_node_;
  absl::flat_hash_map<std::string, int32_t> ids_;
  std::vector<std::string> values_;
};

// For one query (e.g. "pods in namespace X matching selector S"), a value
// per node computed from the node's pods.
template <typename T>
class PerNodeCache {
 public:
  // Brings every slot up to date, recomputing stale ones with
  // `compute(node, value)` (called concurrently for different nodes through
  // `handle.ParallelFor` when many are stale); afterwards Get(i) is the
  // value of nodes[i].
  void Refresh(const std::vector<const NodeInfo*>& nodes, Handle& handle,
               absl::FunctionRef<void(const NodeInfo&, T&)> compute) {
    if (slots_.size() != nodes.size()) slots_.resize(nodes.size());
    stale_.clear();
    for (size_t i = 0; i < nodes.size(); ++i) {
      const NodeInfo& n = *nodes[i];
      const Slot& slot = slots_[i];
      if (slot.node.get() != n.node() || slot.generation != n.generation() ||
          slot.num_pods != n.pods().size()) {
        stale_.push_back(i);
      }
    }
    if (stale_.empty()) return;
    auto recompute = [&](size_t i) {
      const NodeInfo& n = *nodes[i];
      Slot& slot = slots_[i];
      slot.node = n.node_ptr();
      slot.generation = n.generation();
      slot.num_pods = n.pods().size();
      compute(n, slot.value);
    };
    constexpr size_t kChunk = 128;
    if (stale_.size() <= kChunk) {
      for (size_t i : stale_) recompute(i);
      return;
    }
    const int chunks = static_cast<int>((stale_.size() + kChunk - 1) / kChunk);
    handle.ParallelFor(chunks, [&](int c) {
      const size_t end = std::min(stale_.size(), (static_cast<size_t>(c) + 1) * kChunk);
      for (size_t j = static_cast<size_t>(c) * kChunk; j < end; ++j) recompute(stale_[j]);
    });
  }

  const T& Get(size_t i) const { return slots_[i].value; }

 private:
  struct Slot {
    std::shared_ptr<const api::Node> node;
    int64_t generation = -1;
    size_t num_pods = 0;
    T value{};
  };
  std::vector<Slot> slots_;
  std::vector<size_t> stale_;
};

using NodePodCounts = PerNodeCache<int32_t>;

// A small set of caches keyed by a query identity, least recently used
// evicted. Entries returned since the last BeginCycle() are never evicted
// (the set grows instead), so that references taken during one PreFilter
// stay valid through the cycle.
template <typename Key, typename Value>
class SmallLru {
 public:
  explicit SmallLru(size_t capacity) : capacity_(capacity) {}

  void BeginCycle() { cycle_start_ = ++tick_; }

  // The value for `key`, created with `make()` when absent.
  template <typename Make>
  Value& Get(const Key& key, Make make) {
    ++tick_;
    for (Entry& e : entries_) {
      if (e.key == key) {
        e.used = tick_;
        return *e.value;
      }
    }
    if (entries_.size() >= capacity_) {
      auto oldest = entries_.end();
      for (auto it = entries_.begin(); it != entries_.end(); ++it) {
        if (it->used >= cycle_start_) continue;
        if (oldest == entries_.end() || it->used < oldest->used) oldest = it;
      }
      if (oldest != entries_.end()) entries_.erase(oldest);
    }
    entries_.push_back(Entry{key, std::make_unique<Value>(make()), tick_});
    return *entries_.back().value;
  }

 private:
  struct Entry {
    Key key;
    std::unique_ptr<Value> value;
    uint64_t used = 0;
  };
  size_t capacity_;
  uint64_t tick_ = 0;
  uint64_t cycle_start_ = 0;
  std::vector<Entry> entries_;
};

}  // namespace korch::scheduler::plugins

#endif  // KORCH_LIB_SCHEDULER_PLUGINS_NODE_COUNT_CACHE_H_
