// SchedulingGates: a pod with spec.schedulingGates stays out of the active
// queue until every gate is removed (an update of the pod).
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "korch/scheduler/registry.h"
#include "scheduler/plugins/plugins.h"

namespace korch::scheduler::plugins {
namespace {

class SchedulingGates final : public PreEnqueuePlugin {
 public:
  absl::string_view Name() const override { return names::kSchedulingGates; }
  PluginStatus PreEnqueue(const PodInfo& pod) override {
    const auto& gates = pod.pod().spec().scheduling_gates();
    if (gates.empty()) return PluginStatus();
    std::vector<std::string> names;
    names.reserve(gates.size());
    for (const auto& g : gates) names.push_back(g.name());
    return PluginStatus(Code::kPending, absl::StrCat("waiting for scheduling gates: [",
                                                     absl::StrJoin(names, " "), "]"));
  }
};

}  // namespace

FactoryResult NewSchedulingGates(absl::string_view args_json, Handle& handle) {
  if (!args_json.empty() && args_json != "{}") {
    return absl::InvalidArgumentError(
        absl::StrCat(names::kSchedulingGates, " takes no arguments, got ", args_json));
  }
  return std::make_unique<SchedulingGates>();
}

}  // namespace korch::scheduler::plugins
