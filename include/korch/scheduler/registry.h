// Plugin registry: plugin name -> factory. The host owns the registry, adds
// its own plugins next to the in-tree ones, and hands it to the Scheduler.
// No global registry exists; two schedulers in one process can use
// different plugins.
#ifndef KORCH_SCHEDULER_REGISTRY_H_
#define KORCH_SCHEDULER_REGISTRY_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "korch/export.h"
#include "korch/scheduler/framework.h"

namespace korch::scheduler {

// Builds one plugin instance for one profile. `args_json` is the plugin's
// `args` object from the configuration as JSON text ("" when none was
// given: use the defaults). Unknown or invalid arguments are an error naming
// the field ("NodeResourcesFitArgs.scoringStrategy.type: unsupported value
// \"Foo\""). The plugin may keep `handle` for its lifetime.
using PluginFactory = std::function<absl::StatusOr<std::unique_ptr<Plugin>>(
    absl::string_view args_json, Handle& handle)>;

// Not thread-safe for registration; read-only use from many schedulers is
// safe once registration is done.
class KORCH_EXPORT Registry {
 public:
  // kAlreadyExists when `name` is registered.
  absl::Status Register(absl::string_view name, PluginFactory factory);
  // kNotFound when `name` is not registered.
  absl::Status Unregister(absl::string_view name);
  // Null when unknown.
  const PluginFactory* Find(absl::string_view name) const;
  std::vector<std::string> Names() const;
  // Adds every plugin of `other`; kAlreadyExists on the first duplicate.
  absl::Status Merge(const Registry& other);

 private:
  absl::flat_hash_map<std::string, PluginFactory> factories_;
};

// The in-tree plugins' names (kube-scheduler's).
namespace names {
inline constexpr absl::string_view kPrioritySort = "PrioritySort";
inline constexpr absl::string_view kSchedulingGates = "SchedulingGates";
inline constexpr absl::string_view kNodeName = "NodeName";
inline constexpr absl::string_view kNodeUnschedulable = "NodeUnschedulable";
inline constexpr absl::string_view kNodeResourcesFit = "NodeResourcesFit";
inline constexpr absl::string_view kNodeResourcesBalancedAllocation =
    "NodeResourcesBalancedAllocation";
inline constexpr absl::string_view kNodeAffinity = "NodeAffinity";
inline constexpr absl::string_view kTaintToleration = "TaintToleration";
inline constexpr absl::string_view kInterPodAffinity = "InterPodAffinity";
inline constexpr absl::string_view kPodTopologySpread = "PodTopologySpread";
inline constexpr absl::string_view kNodePorts = "NodePorts";
inline constexpr absl::string_view kImageLocality = "ImageLocality";
inline constexpr absl::string_view kDefaultPreemption = "DefaultPreemption";
inline constexpr absl::string_view kDefaultBinder = "DefaultBinder";
}  // namespace names

// A registry with every in-tree plugin.
KORCH_EXPORT Registry NewInTreeRegistry();

}  // namespace korch::scheduler

#endif  // KORCH_SCHEDULER_REGISTRY_H_
