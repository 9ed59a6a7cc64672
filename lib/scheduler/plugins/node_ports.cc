// NodePorts: a pod's host ports must be free on the node (same protocol and
// port on the same ip, or either ip 0.0.0.0, conflict).
#include <memory>
#include <string>

#include "korch/base/status.h"
#include "korch/scheduler/registry.h"
#include "scheduler/plugins/node_plugin_util.h"
#include "scheduler/plugins/plugins.h"

namespace korch::scheduler::plugins {
namespace {

constexpr absl::string_view kReason = "node(s) didn't have free ports for the requested pod ports";

class NodePorts final : public PreFilterPlugin, public FilterPlugin {
 public:
  absl::string_view Name() const override { return names::kNodePorts; }

  // PodInfo already holds the host ports; there is nothing to compute, only
  // pods without host ports to skip.
  PluginStatus PreFilter(CycleState& state, const PodInfo& pod, PreFilterResult& result) override {
    return pod.host_ports().empty() ? PluginStatus::Skip() : PluginStatus();
  }

  PluginStatus Filter(const CycleState& state, const PodInfo& pod,
                      const NodeInfo& node) const override {
    const std::vector<HostPort>& used = node.used_ports();
    if (used.empty()) return PluginStatus();
    for (const HostPort& want : pod.host_ports()) {
      for (const HostPort& have : used) {
        if (Conflicts(want, have)) {
          static const PluginStatus& kRejected =
              *new PluginStatus(PluginStatus::Unschedulable(std::string(kReason)));
          return kRejected;
        }
      }
    }
    return PluginStatus();
  }
};

}  // namespace

FactoryResult NewNodePorts(absl::string_view args_json, Handle& handle) {
  KORCH_RETURN_IF_ERROR(CheckNoArgs(args_json, "NodePortsArgs"));
  return std::unique_ptr<Plugin>(std::make_unique<NodePorts>());
}

}  // namespace korch::scheduler::plugins
