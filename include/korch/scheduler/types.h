// The scheduler's view of pods and nodes: a pod digested once into the
// numbers and parsed selectors that filters and scores need (PodInfo), and a
// node with everything placed on it aggregated (NodeInfo). A Snapshot is an
// immutable set of NodeInfos that one scheduling cycle reads.
//
// These types depend only on korch::api. The hot path of the scheduler reads
// them for every (pod, node) pair, so their layout favours plain integers and
// precomputed values over protobuf lookups: parse and compute when a pod or a
// node is added, never per scheduling decision.
#ifndef KORCH_SCHEDULER_TYPES_H_
#define KORCH_SCHEDULER_TYPES_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "korch/api/core.pb.h"
#include "korch/api/selector.h"
#include "korch/export.h"

namespace korch::scheduler {

// Amounts of the resources a pod requests or a node offers. cpu is in
// millicores, memory and ephemeral storage in bytes, pods a count. Every
// other resource name (extended resources like "example.com/gpu",
// "hugepages-2Mi", "attachable-volumes-*") is in `scalar`, in whole units
// (hugepages in bytes), like Kubernetes' framework.Resource.
struct KORCH_EXPORT Resource {
  int64_t milli_cpu = 0;
  int64_t memory = 0;
  int64_t ephemeral_storage = 0;
  int64_t allowed_pod_number = 0;
  absl::flat_hash_map<std::string, int64_t> scalar;

  // Adds (or subtracts) `other` field by field.
  void Add(const Resource& other);
  void Subtract(const Resource& other);
  // Sets every field to the larger of this and `other`.
  void SetMax(const Resource& other);
  // A resource list ({"cpu": "500m", "memory": "1Gi", ...}) as a Resource.
  // Unparsable quantities are an error naming the resource.
  static absl::StatusOr<Resource> FromList(
      const google::protobuf::Map<std::string, std::string>& list);
  friend bool operator==(const Resource&, const Resource&) = default;
};

// A host port a pod uses: (ip, protocol, port). An empty or 0.0.0.0 ip
// conflicts with every ip on the same protocol and port.
struct HostPort {
  std::string ip;        // "0.0.0.0" when the pod did not say
  std::string protocol;  // "TCP" (default), "UDP", "SCTP"
  int32_t port = 0;
  friend bool operator==(const HostPort&, const HostPort&) = default;
};

// Whether two host ports cannot be used on one node at once: same protocol
// and port, and the same ip or either one 0.0.0.0.
KORCH_EXPORT bool Conflicts(const HostPort& a, const HostPort& b);

// One pod (anti-)affinity term, parsed: which pods it selects (label selector
// within a set of namespaces, or namespaces chosen by labels) and the node
// label that defines a topology domain.
struct KORCH_EXPORT AffinityTerm {
  api::Selector selector;
  // Namespaces named by the term; the pod's own namespace when the term
  // names none and has no namespace selector.
  absl::flat_hash_set<std::string> namespaces;
  // Set when the term has a namespaceSelector ({} selects every namespace).
  std::optional<api::Selector> namespace_selector;
  std::string topology_key;
  int32_t weight = 0;  // preferred terms only; 1-100

  // Whether `pod` (with the labels of its namespace, for the namespace
  // selector) is selected by this term.
  bool Matches(const api::Pod& pod,
               const google::protobuf::Map<std::string, std::string>* namespace_labels) const;
};

// A pod digested for scheduling. Immutable once created; shared between the
// queue, the cache and snapshots as std::shared_ptr<const PodInfo>.
class KORCH_EXPORT PodInfo {
 public:
  // Computes everything below from `pod`. Errors (kInvalidArgument) name
  // the field that cannot be parsed: a bad quantity, label selector or
  // toleration.
  static absl::StatusOr<std::shared_ptr<const PodInfo>> Create(std::shared_ptr<const api::Pod> pod);
  static absl::StatusOr<std::shared_ptr<const PodInfo>> Create(const api::Pod& pod);

  const api::Pod& pod() const { return *pod_; }
  const std::shared_ptr<const api::Pod>& pod_ptr() const { return pod_; }
  // "namespace/name".
  const std::string& key() const { return key_; }
  const std::string& uid() const { return pod_->metadata().uid(); }
  const std::string& node_name() const { return pod_->spec().node_name(); }
  const std::string& scheduler_name() const { return scheduler_name_; }
  // spec.priority (0 when unset).
  int32_t priority() const { return priority_; }

  // The effective requests: max(sum of app and restartable init
  // containers, largest init container with the sidecars started before
  // it) plus pod overhead; allowed_pod_number is 1 (the pod itself).
  const Resource& requests() const { return requests_; }
  // cpu and memory requests with Kubernetes' defaults for containers that
  // request none (100m cpu, 200Mi memory); used by scoring only.
  int64_t non_zero_milli_cpu() const { return non_zero_milli_cpu_; }
  int64_t non_zero_memory() const { return non_zero_memory_; }

  const std::vector<HostPort>& host_ports() const { return host_ports_; }
  // Container images, as written in the spec, without duplicates.
  const std::vector<std::string>& images() const { return images_; }

  const std::vector<AffinityTerm>& required_affinity() const { return required_affinity_; }
  const std::vector<AffinityTerm>& required_anti_affinity() const {
    return required_anti_affinity_;
  }
  const std::vector<AffinityTerm>& preferred_affinity() const { return preferred_affinity_; }
  const std::vector<AffinityTerm>& preferred_anti_affinity() const {
    return preferred_anti_affinity_;
  }
  bool has_affinity() const {
    return !required_affinity_.empty() || !required_anti_affinity_.empty() ||
           !preferred_affinity_.empty() || !preferred_anti_affinity_.empty();
  }
  bool has_required_anti_affinity() const { return !required_anti_affinity_.empty(); }

 private:
  PodInfo() = default;

  std::shared_ptr<const api::Pod> pod_;
  std::string key_;
  std::string scheduler_name_;
  int32_t priority_ = 0;
  Resource requests_;
  int64_t non_zero_milli_cpu_ = 0;
  int64_t non_zero_memory_ = 0;
  std::vector<HostPort> host_ports_;
  std::vector<std::string> images_;
  std::vector<AffinityTerm> required_affinity_;
  std::vector<AffinityTerm> required_anti_affinity_;
  std::vector<AffinityTerm> preferred_affinity_;
  std::vector<AffinityTerm> preferred_anti_affinity_;
};

// What the scheduler knows about an image on nodes: its size and how many
// nodes have it (ImageLocality scales by spread).
struct ImageStateSummary {
  int64_t size_bytes = 0;
  int32_t num_nodes = 0;
};

// A node and what is placed on it. Copyable value (a snapshot copies the
// NodeInfos that changed); not thread-safe for mutation, safe to read from
// many threads once published in a Snapshot.
class KORCH_EXPORT NodeInfo {
 public:
  NodeInfo() = default;
  explicit NodeInfo(std::shared_ptr<const api::Node> node) { SetNode(std::move(node)); }

  // The node object; null while the cache knows pods bound to a node it has
  // not seen yet.
  const api::Node* node() const { return node_.get(); }
  const std::shared_ptr<const api::Node>& node_ptr() const { return node_; }
  const std::string& name() const { return name_; }
  const google::protobuf::Map<std::string, std::string>& labels() const;

  // status.allocatable (capacity when allocatable is empty).
  const Resource& allocatable() const { return allocatable_; }
  // Sum of the requests of the pods on the node.
  const Resource& requested() const { return requested_; }
  // Sum of the non-zero cpu/memory requests (see PodInfo).
  int64_t non_zero_requested_milli_cpu() const { return non_zero_milli_cpu_; }
  int64_t non_zero_requested_memory() const { return non_zero_memory_; }
  bool unschedulable() const { return unschedulable_; }
  // spec.taints.
  const std::vector<api::Taint>& taints() const { return taints_; }

  const std::vector<std::shared_ptr<const PodInfo>>& pods() const { return pods_; }
  // Pods with any (anti-)affinity, and pods with required anti-affinity.
  const std::vector<std::shared_ptr<const PodInfo>>& pods_with_affinity() const {
    return pods_with_affinity_;
  }
  const std::vector<std::shared_ptr<const PodInfo>>& pods_with_required_anti_affinity() const {
    return pods_with_required_anti_affinity_;
  }
  const std::vector<HostPort>& used_ports() const { return used_ports_; }
  // Images on the node (status.images names) with cluster-wide counts; set
  // by the cache.
  const absl::flat_hash_map<std::string, ImageStateSummary>& image_states() const {
    return image_states_;
  }
  // Bumped on every change; snapshots copy a NodeInfo only when it moved.
  int64_t generation() const { return generation_; }

  // Mutation (the cache and tests; plugins see const NodeInfos).
  // Sets the node and recomputes allocatable, taints and unschedulable.
  // A node whose allocatable cannot be parsed gets zero allocatable (it
  // fits nothing) rather than an error: the API validated it.
  void SetNode(std::shared_ptr<const api::Node> node);
  void AddPod(std::shared_ptr<const PodInfo> pod);
  // kNotFound when no pod with that uid is on the node.
  absl::Status RemovePod(const PodInfo& pod);
  void SetImageStates(absl::flat_hash_map<std::string, ImageStateSummary> states);
  void set_generation(int64_t generation) { generation_ = generation; }

 private:
  std::shared_ptr<const api::Node> node_;
  std::string name_;
  Resource allocatable_;
  Resource requested_;
  int64_t non_zero_milli_cpu_ = 0;
  int64_t non_zero_memory_ = 0;
  bool unschedulable_ = false;
  std::vector<api::Taint> taints_;
  std::vector<std::shared_ptr<const PodInfo>> pods_;
  std::vector<std::shared_ptr<const PodInfo>> pods_with_affinity_;
  std::vector<std::shared_ptr<const PodInfo>> pods_with_required_anti_affinity_;
  std::vector<HostPort> used_ports_;
  absl::flat_hash_map<std::string, ImageStateSummary> image_states_;
  int64_t generation_ = 0;
};

// An immutable view of the cluster for one scheduling cycle. Cheap to read
// from many threads. Built by the scheduler's cache; tests and embedders can
// build one directly from NodeInfos.
class KORCH_EXPORT Snapshot {
 public:
  Snapshot() = default;
  // Takes the NodeInfos as they are (nodes without a Node object are left
  // out of List()).
  explicit Snapshot(
      std::vector<std::shared_ptr<const NodeInfo>> nodes,
      absl::flat_hash_map<std::string, google::protobuf::Map<std::string, std::string>>
          namespace_labels = {});

  // Every node, in a stable order.
  const std::vector<const NodeInfo*>& List() const { return list_; }
  // Nodes with at least one pod with (anti-)affinity / required anti-affinity.
  const std::vector<const NodeInfo*>& HavePodsWithAffinity() const { return with_affinity_; }
  const std::vector<const NodeInfo*>& HavePodsWithRequiredAntiAffinity() const {
    return with_required_anti_affinity_;
  }
  // Null when absent.
  const NodeInfo* Get(absl::string_view name) const;
  // Labels of a namespace the scheduler was told about; null when unknown.
  const google::protobuf::Map<std::string, std::string>* NamespaceLabels(
      absl::string_view ns) const;
  size_t NumNodes() const { return list_.size(); }

 private:
  friend class SnapshotBuilder;  // the cache's incremental updater (lib/)
  std::vector<std::shared_ptr<const NodeInfo>> owned_;
  std::vector<const NodeInfo*> list_;
  std::vector<const NodeInfo*> with_affinity_;
  std::vector<const NodeInfo*> with_required_anti_affinity_;
  absl::flat_hash_map<std::string, const NodeInfo*> by_name_;
  absl::flat_hash_map<std::string, google::protobuf::Map<std::string, std::string>>
      namespace_labels_;
};

}  // namespace korch::scheduler

#endif  // KORCH_SCHEDULER_TYPES_H_
