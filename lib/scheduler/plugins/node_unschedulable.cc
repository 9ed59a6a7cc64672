// NodeUnschedulable: cordoned nodes (spec.unschedulable) take only pods that
// tolerate the node.kubernetes.io/unschedulable:NoSchedule taint.
#include <memory>
#include <string>

#include "korch/base/status.h"
#include "korch/scheduler/registry.h"
#include "scheduler/plugins/node_plugin_util.h"
#include "scheduler/plugins/plugins.h"

namespace korch::scheduler::plugins {
namespace {

constexpr absl::string_view kReason = "node(s) were unschedulable";
constexpr absl::string_view kTaintKey = "node.kubernetes.io/unschedulable";

class NodeUnschedulable final : public FilterPlugin {
 public:
  absl::string_view Name() const override { return names::kNodeUnschedulable; }

  PluginStatus Filter(const CycleState& state, const PodInfo& pod,
                      const NodeInfo& node) const override {
    if (!node.unschedulable()) return PluginStatus();
    if (AnyToleratesTaint(pod.pod().spec().tolerations(), kTaintKey, "", "NoSchedule")) {
      return PluginStatus();
    }
    static const PluginStatus& kRejected =
        *new PluginStatus(PluginStatus::Unresolvable(std::string(kReason)));
    return kRejected;
  }
};

}  // namespace

FactoryResult NewNodeUnschedulable(absl::string_view args_json, Handle& handle) {
  KORCH_RETURN_IF_ERROR(CheckNoArgs(args_json, "NodeUnschedulableArgs"));
  return std::unique_ptr<Plugin>(std::make_unique<NodeUnschedulable>());
}

}  // namespace korch::scheduler::plugins
