// The scheduler's node cache: every node with the pods placed on it (bound,
// or assumed by a scheduling cycle and not yet confirmed), image states and
// namespace labels; and the incremental update of a cycle's Snapshot.
#ifndef KORCH_LIB_SCHEDULER_CACHE_H_
#define KORCH_LIB_SCHEDULER_CACHE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "korch/api/core.pb.h"
#include "korch/base/clock.h"
#include "korch/scheduler/types.h"

namespace korch::scheduler::internal {

// The cache key of a pod: its uid, or namespace/name when it has none.
std::string PodKeyOf(const PodInfo& pod);
std::string PodKeyOf(const api::Pod& pod);

// Thread-safe. Pods are keyed by PodKeyOf(); every pod given to the cache
// has spec.nodeName set.
class Cache {
 public:
  // `assumed_ttl`: an assumed pod whose binding finished but that was not
  // confirmed (AddPod) within this time is dropped by
  // CleanupExpiredAssumedPods(); zero keeps assumed pods until confirmed or
  // forgotten.
  explicit Cache(Clock* clock, absl::Duration assumed_ttl = absl::ZeroDuration());

  // kAlreadyExists / kNotFound by node name.
  absl::Status AddNode(std::shared_ptr<const api::Node> node);
  absl::Status UpdateNode(std::shared_ptr<const api::Node> node);
  absl::Status RemoveNode(absl::string_view name);

  // A pod bound to a node. Confirms it when it was assumed (on that node or
  // another); replaces it when already known.
  absl::Status AddPod(std::shared_ptr<const PodInfo> pod);
  // kNotFound when the pod is not in the cache.
  absl::Status RemovePod(absl::string_view key);
  // Places a pod a scheduling cycle chose; it counts on its node at once.
  // kAlreadyExists when the pod is in the cache.
  absl::Status AssumePod(std::shared_ptr<const PodInfo> pod);
  // The binding of an assumed pod finished: its expiry (if any) starts.
  absl::Status FinishBinding(absl::string_view key);
  // The binding was done in the cache itself: the pod is bound.
  absl::Status ConfirmPod(absl::string_view key);
  // Undoes AssumePod. kFailedPrecondition when the pod is bound, not
  // assumed; kNotFound when unknown.
  absl::Status ForgetPod(absl::string_view key);
  // Drops expired assumed pods; returns how many.
  int CleanupExpiredAssumedPods();

  bool Contains(absl::string_view key) const;
  bool IsAssumed(absl::string_view key) const;
  // The node of a cached pod, or "".
  std::string NodeOf(absl::string_view key) const;
  // The cached pod, or null.
  std::shared_ptr<const PodInfo> GetPod(absl::string_view key) const;

  void UpsertNamespace(const std::string& name,
                       const google::protobuf::Map<std::string, std::string>& labels);
  void RemoveNamespace(absl::string_view name);

  // Brings `snapshot` up to date, copying only the NodeInfos that changed
  // since the previous call (one cache feeds one snapshot).
  void UpdateSnapshot(Snapshot& snapshot);

  struct Counts {
    int64_t nodes = 0;
    int64_t pods = 0;
    int64_t assumed_pods = 0;
  };
  Counts GetCounts() const;
  // NodeInfos copied into the snapshot so far (for tests of incrementality).
  int64_t snapshot_copies_for_test() const;

 private:
  struct PodState {
    std::shared_ptr<const PodInfo> pod;
    bool assumed = false;
    bool binding_finished = false;
    absl::Time deadline = absl::InfiniteFuture();
  };
  struct ImageState {
    int64_t size_bytes = 0;
    absl::flat_hash_set<std::string> nodes;
  };

  NodeInfo& NodeFor(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddPodToNode(std::shared_ptr<const PodInfo> pod) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemovePodFromNode(const PodInfo& pod) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Touch(NodeInfo& node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddImages(const api::Node& node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveImages(const api::Node& node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::shared_ptr<const NodeInfo> CopyForSnapshot(const NodeInfo& node) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Clock* const clock_;
  const absl::Duration assumed_ttl_;

  mutable absl::Mutex mu_;
  int64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, std::shared_ptr<NodeInfo>> nodes_ ABSL_GUARDED_BY(mu_);
  // Names of nodes with a Node object, in the order they were added: the
  // snapshot's order.
  std::vector<std::string> node_order_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, PodState> pods_ ABSL_GUARDED_BY(mu_);
  int64_t assumed_count_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, ImageState> images_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, google::protobuf::Map<std::string, std::string>> namespaces_
      ABSL_GUARDED_BY(mu_);

  // Snapshot bookkeeping.
  absl::flat_hash_set<std::string> dirty_nodes_ ABSL_GUARDED_BY(mu_);
  bool node_set_changed_ ABSL_GUARDED_BY(mu_) = true;
  bool namespaces_changed_ ABSL_GUARDED_BY(mu_) = true;
  absl::flat_hash_map<std::string, size_t> snapshot_index_ ABSL_GUARDED_BY(mu_);
  int64_t snapshot_copies_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace korch::scheduler::internal

#endif  // KORCH_LIB_SCHEDULER_CACHE_H_
