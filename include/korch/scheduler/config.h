// Scheduler configuration in the shape of Kubernetes'
// KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1), for the fields
// korch supports: profiles with plugins enabled, disabled and weighted per
// extension point (and multiPoint), per-plugin args, parallelism,
// percentageOfNodesToScore and the pod backoff.
#ifndef KORCH_SCHEDULER_CONFIG_H_
#define KORCH_SCHEDULER_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "korch/export.h"

namespace korch::scheduler {

struct PluginRef {
  std::string name;
  // Score weight; 0 means the plugin's default (1, or the in-tree default:
  // e.g. TaintToleration 3, NodeAffinity 2, InterPodAffinity 2,
  // PodTopologySpread 2).
  int32_t weight = 0;
};

// enabled are added after the defaults that are not disabled; disabled
// "*" removes every default at that point.
struct PluginSet {
  std::vector<PluginRef> enabled;
  std::vector<PluginRef> disabled;
};

struct Plugins {
  PluginSet pre_enqueue;
  PluginSet queue_sort;
  PluginSet pre_filter;
  PluginSet filter;
  PluginSet post_filter;
  PluginSet pre_score;
  PluginSet score;
  PluginSet reserve;
  PluginSet permit;
  PluginSet pre_bind;
  PluginSet bind;
  PluginSet post_bind;
  // A plugin enabled here is used at every extension point it implements.
  PluginSet multi_point;
};

struct PluginConfig {
  std::string name;
  // The `args` object as JSON text.
  std::string args_json;
};

struct Profile {
  // Pods choose a profile with spec.schedulerName.
  std::string scheduler_name = "default-scheduler";
  // Overrides the configuration's value for this profile.
  std::optional<int32_t> percentage_of_nodes_to_score;
  // Changes to the default plugins (see DefaultPlugins()).
  Plugins plugins;
  std::vector<PluginConfig> plugin_config;
};

struct SchedulerConfiguration {
  // Threads for filtering and scoring (the scheduling thread also works),
  // at most the number of CPUs. 1: everything on the calling thread, no
  // threads are started. A cycle goes parallel only when it has enough
  // Filter or Score calls to share (about 2,000) to be worth the hand-off.
  int32_t parallelism = 16;
  // Percent of the nodes to find feasible before scoring. 0: Kubernetes'
  // adaptive default (50% at 100 nodes, decreasing by 1% per 125 nodes, at
  // least 5%, and at least 100 nodes); 100: every node (exact results).
  int32_t percentage_of_nodes_to_score = 0;
  absl::Duration pod_initial_backoff = absl::Seconds(1);
  absl::Duration pod_max_backoff = absl::Seconds(10);
  // At least one; names unique.
  std::vector<Profile> profiles = {Profile()};
};

// The default plugins of every profile, as multiPoint entries with their
// default weights (kube-scheduler's v1 defaults).
KORCH_EXPORT std::vector<PluginRef> DefaultPlugins();

// Parses a KubeSchedulerConfiguration document (YAML or JSON). Checks
// apiVersion ("kubescheduler.config.k8s.io/v1") and kind. Unknown fields are
// an error naming their path ("profiles[0].plugins.score.enabled[1].wieght:
// unknown field"); so are values out of range. Fields korch does not
// support (e.g. extenders, clientConnection) are an error saying so, rather
// than silently ignored, except leaderElection and clientConnection which
// the API adapter reads.
KORCH_EXPORT absl::StatusOr<SchedulerConfiguration> ParseSchedulerConfiguration(
    absl::string_view text);

// The number of feasible nodes to look for among `num_nodes`, for a
// configured percentage (0 = adaptive), as kube-scheduler computes it.
KORCH_EXPORT int32_t NumFeasibleNodesToFind(int32_t percentage, int32_t num_nodes);

}  // namespace korch::scheduler

#endif  // KORCH_SCHEDULER_CONFIG_H_
