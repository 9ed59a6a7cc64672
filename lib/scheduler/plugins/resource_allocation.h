// The resource arithmetic behind NodeResourcesFit's scoring strategies and
// NodeResourcesBalancedAllocation (kube-scheduler's resourceAllocationScorer):
// for each configured resource, the node's allocatable amount and what would
// be requested on it with the pod added.
#ifndef KORCH_LIB_SCHEDULER_PLUGINS_RESOURCE_ALLOCATION_H_
#define KORCH_LIB_SCHEDULER_PLUGINS_RESOURCE_ALLOCATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "korch/scheduler/types.h"
#include "nlohmann/json.hpp"
#include "scheduler/plugins/node_plugin_util.h"

namespace korch::scheduler::plugins {

struct ResourceSpec {
  enum class Kind { kCpu, kMemory, kEphemeralStorage, kScalar, kIgnored };
  std::string name;
  int64_t weight = 1;
  Kind kind = Kind::kScalar;
};

// The kind of a resource name: cpu, memory and ephemeral-storage have their
// own fields; "pods" and other names that are not scalar resources
// (kube's IsScalarResourceName) never score.
ResourceSpec::Kind ResourceKind(const std::string& name);

// cpu and memory with weight 1: the default of both plugins.
std::vector<ResourceSpec> DefaultResourceSpecs();

// Decodes a `resources` list ([{name, weight}], weight 0 defaulting to 1)
// under `path`; duplicate names are an error.
absl::StatusOr<std::vector<ResourceSpec>> DecodeResourceSpecs(const ArgsDecoder& decoder,
                                                              const nlohmann::json& list,
                                                              const api::FieldPath& path);

// The pod's request of each resource, in the order of `specs`. With
// `use_requested` false (NodeResourcesFit) cpu and memory are the non-zero
// requests (containers without requests count 100m / 200Mi).
using PodRequestList = absl::InlinedVector<int64_t, 4>;
PodRequestList PodRequests(const PodInfo& pod, const std::vector<ResourceSpec>& specs,
                           bool use_requested);

// The node's allocatable amount of `spec` and the amount requested with the
// pod (`pod_request`) added. allocatable is 0 when the resource must not be
// scored: an extended resource the pod does not request or the node does
// not have. Does not allocate.
struct AllocatableRequested {
  int64_t allocatable = 0;
  int64_t requested = 0;
};
// Inline: called for every (pod, node, resource) while scoring.
inline AllocatableRequested NodeAmounts(const NodeInfo& node, const ResourceSpec& spec,
                                        int64_t pod_request, bool use_requested) {
  const Resource& alloc = node.allocatable();
  const Resource& req = node.requested();
  switch (spec.kind) {
    case ResourceSpec::Kind::kCpu:
      return {alloc.milli_cpu,
              (use_requested ? req.milli_cpu : node.non_zero_requested_milli_cpu()) + pod_request};
    case ResourceSpec::Kind::kMemory:
      return {alloc.memory,
              (use_requested ? req.memory : node.non_zero_requested_memory()) + pod_request};
    case ResourceSpec::Kind::kEphemeralStorage:
      return {alloc.ephemeral_storage, req.ephemeral_storage + pod_request};
    case ResourceSpec::Kind::kScalar: {
      if (pod_request == 0) return {};
      auto a = alloc.scalar.find(spec.name);
      if (a == alloc.scalar.end()) return {};
      auto r = req.scalar.find(spec.name);
      return {a->second, (r == req.scalar.end() ? 0 : r->second) + pod_request};
    }
    case ResourceSpec::Kind::kIgnored:
      break;
  }
  return {};
}

}  // namespace korch::scheduler::plugins

#endif  // KORCH_LIB_SCHEDULER_PLUGINS_RESOURCE_ALLOCATION_H_
