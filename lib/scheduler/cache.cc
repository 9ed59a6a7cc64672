#include "scheduler/cache.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace korch::scheduler {

// The cache's access to a Snapshot's internals (Snapshot befriends it).
class SnapshotBuilder {
 public:
  static std::vector<std::shared_ptr<const NodeInfo>>& owned(Snapshot& s) { return s.owned_; }
  static std::vector<const NodeInfo*>& list(Snapshot& s) { return s.list_; }
  static absl::flat_hash_map<std::string, const NodeInfo*>& by_name(Snapshot& s) {
    return s.by_name_;
  }
  static void RebuildAffinityLists(Snapshot& s) {
    s.with_affinity_.clear();
    s.with_required_anti_affinity_.clear();
    for (const NodeInfo* n : s.list_) {
      if (!n->pods_with_affinity().empty()) s.with_affinity_.push_back(n);
      if (!n->pods_with_required_anti_affinity().empty()) {
        s.with_required_anti_affinity_.push_back(n);
      }
    }
  }
  // Replaces `old_node` by `new_node` in the affinity lists; false when a
  // list's membership changes (the caller rebuilds them).
  static bool ReplaceInAffinityLists(Snapshot& s, const NodeInfo* old_node,
                                     const NodeInfo* new_node) {
    auto replace = [&](std::vector<const NodeInfo*>& list, bool had, bool has) {
      if (had != has) return false;
      if (!had) return true;
      auto it = std::find(list.begin(), list.end(), old_node);
      if (it == list.end()) return false;
      *it = new_node;
      return true;
    };
    return replace(s.with_affinity_, !old_node->pods_with_affinity().empty(),
                   !new_node->pods_with_affinity().empty()) &&
           replace(s.with_required_anti_affinity_,
                   !old_node->pods_with_required_anti_affinity().empty(),
                   !new_node->pods_with_required_anti_affinity().empty());
  }
  static void SetNamespaces(
      Snapshot& s,
      const absl::flat_hash_map<std::string, google::protobuf::Map<std::string, std::string>>&
          namespaces) {
    s.namespace_labels_ = namespaces;
  }
};

namespace internal {

std::string PodKeyOf(const api::Pod& pod) {
  if (!pod.metadata().uid().empty()) return pod.metadata().uid();
  return absl::StrCat(pod.metadata().namespace_(), "/", pod.metadata().name());
}

std::string PodKeyOf(const PodInfo& pod) { return pod.uid().empty() ? pod.key() : pod.uid(); }

Cache::Cache(Clock* clock, absl::Duration assumed_ttl) : clock_(clock), assumed_ttl_(assumed_ttl) {}

void Cache::Touch(NodeInfo& node) {
  node.set_generation(++generation_);
  if (node.node() != nullptr) dirty_nodes_.insert(node.name());
}

NodeInfo& Cache::NodeFor(const std::string& name) {
  std::shared_ptr<NodeInfo>& slot = nodes_[name];
  if (slot == nullptr) slot = std::make_shared<NodeInfo>();
  return *slot;
}

void Cache::AddPodToNode(std::shared_ptr<const PodInfo> pod) {
  NodeInfo& node = NodeFor(pod->node_name());
  node.AddPod(std::move(pod));
  Touch(node);
}

void Cache::RemovePodFromNode(const PodInfo& pod) {
  auto it = nodes_.find(pod.node_name());
  if (it == nodes_.end()) return;
  NodeInfo& node = *it->second;
  if (!node.RemovePod(pod).ok()) return;
  Touch(node);
  if (node.node() == nullptr && node.pods().empty()) nodes_.erase(it);
}

void Cache::AddImages(const api::Node& node) {
  for (const api::ContainerImage& image : node.status().images()) {
    for (const std::string& name : image.names()) {
      ImageState& state = images_[name];
      state.size_bytes = image.size_bytes();
      state.nodes.insert(node.metadata().name());
    }
  }
}

void Cache::RemoveImages(const api::Node& node) {
  for (const api::ContainerImage& image : node.status().images()) {
    for (const std::string& name : image.names()) {
      auto it = images_.find(name);
      if (it == images_.end()) continue;
      it->second.nodes.erase(node.metadata().name());
      if (it->second.nodes.empty()) images_.erase(it);
    }
  }
}

absl::Status Cache::AddNode(std::shared_ptr<const api::Node> node) {
  const std::string& name = node->metadata().name();
  absl::MutexLock l(&mu_);
  NodeInfo& info = NodeFor(name);
  if (info.node() != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat("node \"", name, "\" is already in the cache"));
  }
  AddImages(*node);
  info.SetNode(std::move(node));
  node_order_.push_back(name);
  node_set_changed_ = true;
  Touch(info);
  return absl::OkStatus();
}

absl::Status Cache::UpdateNode(std::shared_ptr<const api::Node> node) {
  const std::string& name = node->metadata().name();
  absl::MutexLock l(&mu_);
  auto it = nodes_.find(name);
  if (it == nodes_.end() || it->second->node() == nullptr) {
    return absl::NotFoundError(absl::StrCat("node \"", name, "\" is not in the cache"));
  }
  NodeInfo& info = *it->second;
  RemoveImages(*info.node());
  AddImages(*node);
  info.SetNode(std::move(node));
  Touch(info);
  return absl::OkStatus();
}

absl::Status Cache::RemoveNode(absl::string_view name) {
  absl::MutexLock l(&mu_);
  auto it = nodes_.find(name);
  if (it == nodes_.end() || it->second->node() == nullptr) {
    return absl::NotFoundError(absl::StrCat("node \"", name, "\" is not in the cache"));
  }
  RemoveImages(*it->second->node());
  // Pods still bound to the node stay until they are removed, like
  // kube-scheduler's cache, but the node leaves the snapshot.
  it->second->SetNode(nullptr);
  it->second->set_generation(++generation_);
  if (it->second->pods().empty()) nodes_.erase(it);
  node_order_.erase(std::find(node_order_.begin(), node_order_.end(), name));
  dirty_nodes_.erase(name);
  node_set_changed_ = true;
  return absl::OkStatus();
}

absl::Status Cache::AddPod(std::shared_ptr<const PodInfo> pod) {
  if (pod->node_name().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("pod ", pod->key(), " has no spec.nodeName"));
  }
  std::string key = PodKeyOf(*pod);
  absl::MutexLock l(&mu_);
  auto it = pods_.find(key);
  if (it != pods_.end()) {
    RemovePodFromNode(*it->second.pod);
    if (it->second.assumed) --assumed_count_;
    it->second = PodState();
    it->second.pod = pod;
  } else {
    pods_[key].pod = pod;
  }
  AddPodToNode(std::move(pod));
  return absl::OkStatus();
}

absl::Status Cache::RemovePod(absl::string_view key) {
  absl::MutexLock l(&mu_);
  auto it = pods_.find(key);
  if (it == pods_.end()) {
    return absl::NotFoundError(absl::StrCat("pod ", key, " is not in the cache"));
  }
  RemovePodFromNode(*it->second.pod);
  if (it->second.assumed) --assumed_count_;
  pods_.erase(it);
  return absl::OkStatus();
}

absl::Status Cache::AssumePod(std::shared_ptr<const PodInfo> pod) {
  if (pod->node_name().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("pod ", pod->key(), " has no spec.nodeName"));
  }
  std::string key = PodKeyOf(*pod);
  absl::MutexLock l(&mu_);
  auto [it, inserted] = pods_.try_emplace(std::move(key));
  if (!inserted) {
    return absl::AlreadyExistsError(
        absl::StrCat("pod ", pod->key(), " is already in the cache, so can't be assumed"));
  }
  it->second.pod = pod;
  it->second.assumed = true;
  ++assumed_count_;
  AddPodToNode(std::move(pod));
  return absl::OkStatus();
}

absl::Status Cache::FinishBinding(absl::string_view key) {
  absl::MutexLock l(&mu_);
  auto it = pods_.find(key);
  if (it == pods_.end())
    return absl::NotFoundError(absl::StrCat("pod ", key, " is not in the cache"));
  if (!it->second.assumed) return absl::OkStatus();
  it->second.binding_finished = true;
  if (assumed_ttl_ > absl::ZeroDuration()) it->second.deadline = clock_->Now() + assumed_ttl_;
  return absl::OkStatus();
}

absl::Status Cache::ConfirmPod(absl::string_view key) {
  absl::MutexLock l(&mu_);
  auto it = pods_.find(key);
  if (it == pods_.end())
    return absl::NotFoundError(absl::StrCat("pod ", key, " is not in the cache"));
  if (it->second.assumed) {
    it->second.assumed = false;
    --assumed_count_;
  }
  return absl::OkStatus();
}

absl::Status Cache::ForgetPod(absl::string_view key) {
  absl::MutexLock l(&mu_);
  auto it = pods_.find(key);
  if (it == pods_.end())
    return absl::NotFoundError(absl::StrCat("pod ", key, " is not in the cache"));
  if (!it->second.assumed) {
    return absl::FailedPreconditionError(absl::StrCat(
        "pod ", it->second.pod->key(), " is bound, not assumed: it can't be forgotten"));
  }
  RemovePodFromNode(*it->second.pod);
  --assumed_count_;
  pods_.erase(it);
  return absl::OkStatus();
}

int Cache::CleanupExpiredAssumedPods() {
  if (assumed_ttl_ <= absl::ZeroDuration()) return 0;
  absl::Time now = clock_->Now();
  absl::MutexLock l(&mu_);
  if (assumed_count_ == 0) return 0;
  std::vector<std::string> expired;
  for (const auto& [key, state] : pods_) {
    if (state.assumed && state.binding_finished && now >= state.deadline) expired.push_back(key);
  }
  for (const std::string& key : expired) {
    auto it = pods_.find(key);
    RemovePodFromNode(*it->second.pod);
    --assumed_count_;
    pods_.erase(it);
  }
  return static_cast<int>(expired.size());
}

bool Cache::Contains(absl::string_view key) const {
  absl::MutexLock l(&mu_);
  return pods_.contains(key);
}

bool Cache::IsAssumed(absl::string_view key) const {
  absl::MutexLock l(&mu_);
  auto it = pods_.find(key);
  return it != pods_.end() && it->second.assumed;
}

std::string Cache::NodeOf(absl::string_view key) const {
  absl::MutexLock l(&mu_);
  auto it = pods_.find(key);
  return it == pods_.end() ? std::string() : it->second.pod->node_name();
}

std::shared_ptr<const PodInfo> Cache::GetPod(absl::string_view key) const {
  absl::MutexLock l(&mu_);
  auto it = pods_.find(key);
  return it == pods_.end() ? nullptr : it->second.pod;
}

void Cache::UpsertNamespace(const std::string& name,
                            const google::protobuf::Map<std::string, std::string>& labels) {
  absl::MutexLock l(&mu_);
  namespaces_[name] = labels;
  namespaces_changed_ = true;
}

void Cache::RemoveNamespace(absl::string_view name) {
  absl::MutexLock l(&mu_);
  if (namespaces_.erase(name) > 0) namespaces_changed_ = true;
}

Cache::Counts Cache::GetCounts() const {
  absl::MutexLock l(&mu_);
  Counts c;
  c.nodes = static_cast<int64_t>(node_order_.size());
  c.pods = static_cast<int64_t>(pods_.size());
  c.assumed_pods = assumed_count_;
  return c;
}

int64_t Cache::snapshot_copies_for_test() const {
  absl::MutexLock l(&mu_);
  return snapshot_copies_;
}

std::shared_ptr<const NodeInfo> Cache::CopyForSnapshot(const NodeInfo& node) const {
  auto copy = std::make_shared<NodeInfo>(node);
  if (node.node() != nullptr && node.node()->status().images_size() > 0) {
    // Counts as of this copy: a node that does not change keeps the counts
    // it was copied with, as in kube-scheduler.
    absl::flat_hash_map<std::string, ImageStateSummary> states;
    for (const api::ContainerImage& image : node.node()->status().images()) {
      for (const std::string& name : image.names()) {
        auto it = images_.find(name);
        if (it == images_.end()) continue;
        ImageStateSummary& s = states[name];
        s.size_bytes = it->second.size_bytes;
        s.num_nodes = static_cast<int32_t>(it->second.nodes.size());
      }
    }
    copy->SetImageStates(std::move(states));
    copy->set_generation(node.generation());
  }
  return copy;
}

void Cache::UpdateSnapshot(Snapshot& snapshot) {
  absl::MutexLock l(&mu_);
  auto& owned = SnapshotBuilder::owned(snapshot);
  auto& list = SnapshotBuilder::list(snapshot);
  auto& by_name = SnapshotBuilder::by_name(snapshot);
  if (namespaces_changed_) {
    SnapshotBuilder::SetNamespaces(snapshot, namespaces_);
    namespaces_changed_ = false;
  }
  if (node_set_changed_) {
    // Nodes came or went: rebuild the lists, reusing the copies of nodes
    // that did not change.
    absl::flat_hash_map<std::string, std::shared_ptr<const NodeInfo>> previous;
    previous.reserve(owned.size());
    for (auto& n : owned) previous.emplace(n->name(), std::move(n));
    owned.clear();
    list.clear();
    by_name.clear();
    snapshot_index_.clear();
    owned.reserve(node_order_.size());
    list.reserve(node_order_.size());
    by_name.reserve(node_order_.size());
    for (const std::string& name : node_order_) {
      const NodeInfo& master = *nodes_.at(name);
      auto it = previous.find(name);
      std::shared_ptr<const NodeInfo> copy;
      if (it != previous.end() && it->second->generation() == master.generation()) {
        copy = std::move(it->second);
      } else {
        copy = CopyForSnapshot(master);
        ++snapshot_copies_;
      }
      snapshot_index_[name] = owned.size();
      list.push_back(copy.get());
      by_name[name] = copy.get();
      owned.push_back(std::move(copy));
    }
    SnapshotBuilder::RebuildAffinityLists(snapshot);
    node_set_changed_ = false;
    dirty_nodes_.clear();
    return;
  }
  bool rebuild_affinity = false;
  for (const std::string& name : dirty_nodes_) {
    auto index = snapshot_index_.find(name);
    auto node = nodes_.find(name);
    if (index == snapshot_index_.end() || node == nodes_.end()) continue;
    std::shared_ptr<const NodeInfo>& slot = owned[index->second];
    if (slot->generation() == node->second->generation()) continue;
    std::shared_ptr<const NodeInfo> copy = CopyForSnapshot(*node->second);
    ++snapshot_copies_;
    if (!rebuild_affinity &&
        !SnapshotBuilder::ReplaceInAffinityLists(snapshot, slot.get(), copy.get())) {
      rebuild_affinity = true;
    }
    list[index->second] = copy.get();
    by_name[name] = copy.get();
    slot = std::move(copy);
  }
  dirty_nodes_.clear();
  if (rebuild_affinity) SnapshotBuilder::RebuildAffinityLists(snapshot);
}

}  // namespace internal
}  // namespace korch::scheduler
