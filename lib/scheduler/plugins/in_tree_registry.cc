// NewInTreeRegistry(): every in-tree plugin by its kube-scheduler name.
#include "korch/scheduler/registry.h"
#include "scheduler/plugins/plugins.h"

namespace korch::scheduler {

Registry NewInTreeRegistry() {
  Registry r;
  // Names are distinct constants: registration cannot fail.
  r.Register(names::kPrioritySort, plugins::NewPrioritySort).IgnoreError();
  r.Register(names::kSchedulingGates, plugins::NewSchedulingGates).IgnoreError();
  r.Register(names::kDefaultBinder, plugins::NewDefaultBinder).IgnoreError();
  return r;
}

}  // namespace korch::scheduler
