// NewInTreeRegistry(): every in-tree plugin by its kube-scheduler name.
#include "korch/scheduler/registry.h"
#include "scheduler/plugins/plugins.h"

namespace korch::scheduler {

Registry NewInTreeRegistry() {
  Registry r;
  // Names are distinct constants: registration cannot fail.
  auto add = [&r](absl::string_view name, PluginFactory factory) {
    r.Register(name, std::move(factory)).IgnoreError();
  };
  add(names::kPrioritySort, plugins::NewPrioritySort);
  add(names::kSchedulingGates, plugins::NewSchedulingGates);
  add(names::kDefaultBinder, plugins::NewDefaultBinder);
  add(names::kNodeName, plugins::NewNodeName);
  add(names::kNodeUnschedulable, plugins::NewNodeUnschedulable);
  add(names::kNodeResourcesFit, plugins::NewNodeResourcesFit);
  add(names::kNodeResourcesBalancedAllocation, plugins::NewNodeResourcesBalancedAllocation);
  add(names::kNodeAffinity, plugins::NewNodeAffinity);
  add(names::kTaintToleration, plugins::NewTaintToleration);
  add(names::kNodePorts, plugins::NewNodePorts);
  add(names::kImageLocality, plugins::NewImageLocality);
  add(names::kInterPodAffinity, plugins::NewInterPodAffinity);
  add(names::kPodTopologySpread, plugins::NewPodTopologySpread);
  add(names::kDefaultPreemption, plugins::NewDefaultPreemption);
  return r;
}

}  // namespace korch::scheduler
