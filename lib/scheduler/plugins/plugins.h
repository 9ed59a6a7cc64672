// Factories of the in-tree plugins (korch/scheduler/registry.h lists their
// names). Each is implemented in its own file in this directory;
// NewInTreeRegistry() registers them all.
#ifndef KORCH_LIB_SCHEDULER_PLUGINS_PLUGINS_H_
#define KORCH_LIB_SCHEDULER_PLUGINS_PLUGINS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "korch/scheduler/framework.h"

namespace korch::scheduler::plugins {

using FactoryResult = absl::StatusOr<std::unique_ptr<Plugin>>;

// Queue and lifecycle (lib/scheduler/plugins/{priority_sort,scheduling_gates,default_binder}.cc).
FactoryResult NewPrioritySort(absl::string_view args_json, Handle& handle);
FactoryResult NewSchedulingGates(absl::string_view args_json, Handle& handle);
FactoryResult NewDefaultBinder(absl::string_view args_json, Handle& handle);

// Node filters and scores (node_name.cc, node_unschedulable.cc,
// node_resources_fit.cc, balanced_allocation.cc, node_affinity.cc,
// taint_toleration.cc, node_ports.cc, image_locality.cc).
FactoryResult NewNodeName(absl::string_view args_json, Handle& handle);
FactoryResult NewNodeUnschedulable(absl::string_view args_json, Handle& handle);
FactoryResult NewNodeResourcesFit(absl::string_view args_json, Handle& handle);
FactoryResult NewNodeResourcesBalancedAllocation(absl::string_view args_json, Handle& handle);
FactoryResult NewNodeAffinity(absl::string_view args_json, Handle& handle);
FactoryResult NewTaintToleration(absl::string_view args_json, Handle& handle);
FactoryResult NewNodePorts(absl::string_view args_json, Handle& handle);
FactoryResult NewImageLocality(absl::string_view args_json, Handle& handle);

// Pod-to-pod constraints (inter_pod_affinity.cc, pod_topology_spread.cc).
FactoryResult NewInterPodAffinity(absl::string_view args_json, Handle& handle);
FactoryResult NewPodTopologySpread(absl::string_view args_json, Handle& handle);

// Preemption (default_preemption.cc).
FactoryResult NewDefaultPreemption(absl::string_view args_json, Handle& handle);

}  // namespace korch::scheduler::plugins

#endif  // KORCH_LIB_SCHEDULER_PLUGINS_PLUGINS_H_
