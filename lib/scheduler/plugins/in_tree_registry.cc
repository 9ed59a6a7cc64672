// NewInTreeRegistry(): every in-tree plugin by its kube-scheduler name.
#include "korch/scheduler/registry.h"
#include "scheduler/plugins/plugins.h"

namespace korch::scheduler {

Registry NewInTreeRegistry() {
  Registry r;
  // Names are distinct constants: registration cannot fail.
  r.Register(names::kPrioritySort, plugins::NewPrioritySort).IgnoreError();
  r.Register(names::kSchedulingGates, plugins::NewSchedulingGates).IgnoreError();
  r.Register(names::kNodeName, plugins::NewNodeName).IgnoreError();
  r.Register(names::kNodeUnschedulable, plugins::NewNodeUnschedulable).IgnoreError();
  r.Register(names::kNodeResourcesFit, plugins::NewNodeResourcesFit).IgnoreError();
  r.Register(names::kNodeResourcesBalancedAllocation, plugins::NewNodeResourcesBalancedAllocation)
      .IgnoreError();
  r.Register(names::kNodeAffinity, plugins::NewNodeAffinity).IgnoreError();
  r.Register(names::kTaintToleration, plugins::NewTaintToleration).IgnoreError();
  r.Register(names::kNodePorts, plugins::NewNodePorts).IgnoreError();
  r.Register(names::kImageLocality, plugins::NewImageLocality).IgnoreError();
  r.Register(names::kInterPodAffinity, plugins::NewInterPodAffinity).IgnoreError();
  r.Register(names::kPodTopologySpread, plugins::NewPodTopologySpread).IgnoreError();
  r.Register(names::kDefaultPreemption, plugins::NewDefaultPreemption).IgnoreError();
  r.Register(names::kDefaultBinder, plugins::NewDefaultBinder).IgnoreError();
  return r;
}

}  // namespace korch::scheduler
