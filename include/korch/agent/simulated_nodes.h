// Simulated nodes ("hollow" kubelets, like Kubernetes' kubemark): N Node
// objects registered through the API with the capacity and labels a host
// chooses, kept alive by Lease heartbeats, whose pods are reported Running
// and Ready as soon as they are bound and are confirmed deleted when they are
// deleted gracefully. Nothing is run: this is how scheduling, controllers and
// clients are seen working without real machines (korch server
// --simulated-nodes N, demos, tests and benchmarks).
//
// One informer on pods and a small worker pool serve every simulated node,
// so thousands of them cost a few threads, not thousands.
#ifndef KORCH_AGENT_SIMULATED_NODES_H_
#define KORCH_AGENT_SIMULATED_NODES_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "korch/base/clock.h"
#include "korch/client/client.h"
#include "korch/export.h"

namespace korch::agent {

struct SimulatedNodesOptions {
  // How many nodes; names are name_prefix + index ("sim-node-0", ...).
  int count = 0;
  std::string name_prefix = "sim-node-";
  // status.capacity and status.allocatable of every node.
  std::map<std::string, std::string> capacity = {
      {"cpu", "8"}, {"memory", "32Gi"}, {"pods", "110"}, {"ephemeral-storage", "100Gi"}};
  // Labels added to every node, next to kubernetes.io/hostname,
  // kubernetes.io/os, kubernetes.io/arch and topology.kubernetes.io/zone.
  std::map<std::string, std::string> labels;
  // Nodes are spread round-robin over this many zones ("zone-0", ...); 0
  // leaves the zone label out.
  int zones = 3;
  // Lease renewal period (kubelet: 10 s) and duration (40 s).
  absl::Duration heartbeat_interval = absl::Seconds(10);
  int32_t lease_duration_seconds = 40;
  // Time from binding to Running.
  absl::Duration startup_delay = absl::ZeroDuration();
  // Workers writing pod status.
  int workers = 2;
  // Null: the real clock.
  std::shared_ptr<Clock> clock;
};

// Thread-safe. Stop() (or destruction) ends every thread; the Node objects
// stay in the API (like a kubelet that stops).
class KORCH_EXPORT SimulatedNodes {
 public:
  // Errors (kInvalidArgument) name the option: a negative count, a bad
  // quantity or label.
  static absl::StatusOr<std::unique_ptr<SimulatedNodes>> Create(client::Client& client,
                                                                SimulatedNodesOptions options);
  virtual ~SimulatedNodes() = default;

  // Registers the nodes (creating them, or updating nodes of the same name
  // left by an earlier run), then starts heartbeats and the pod workers.
  virtual absl::Status Start() = 0;
  virtual void Stop() = 0;
  virtual std::vector<std::string> NodeNames() const = 0;
  // Pods reported Running so far.
  virtual int64_t PodsStarted() const = 0;
};

}  // namespace korch::agent

#endif  // KORCH_AGENT_SIMULATED_NODES_H_
