// NodeName: a pod with spec.nodeName fits only the node of that name.
#include <memory>
#include <string>

#include "korch/base/status.h"
#include "korch/scheduler/registry.h"
#include "scheduler/plugins/node_plugin_util.h"
#include "scheduler/plugins/plugins.h"

namespace korch::scheduler::plugins {
namespace {

constexpr absl::string_view kReason = "node(s) didn't match the requested node name";

class NodeName final : public PreFilterPlugin, public FilterPlugin {
 public:
  absl::string_view Name() const override { return names::kNodeName; }

  // Narrows the candidates to the named node, so that Filter runs on one
  // node instead of all of them.
  PluginStatus PreFilter(CycleState& state, const PodInfo& pod, PreFilterResult& result) override {
    if (pod.node_name().empty()) return PluginStatus::Skip();
    result.node_names.emplace();
    result.node_names->insert(pod.node_name());
    return PluginStatus::Success();
  }

  PluginStatus Filter(const CycleState& state, const PodInfo& pod,
                      const NodeInfo& node) const override {
    if (pod.node_name().empty() || pod.node_name() == node.name()) return PluginStatus();
    static const PluginStatus& kRejected =
        *new PluginStatus(PluginStatus::Unresolvable(std::string(kReason)));
    return kRejected;
  }
};

}  // namespace

FactoryResult NewNodeName(absl::string_view args_json, Handle& handle) {
  KORCH_RETURN_IF_ERROR(CheckNoArgs(args_json, "NodeNameArgs"));
  return std::unique_ptr<Plugin>(std::make_unique<NodeName>());
}

}  // namespace korch::scheduler::plugins
