// The embeddable scheduler. A host program feeds it nodes and pods and asks
// for decisions; it needs no API server, store or threads it was not asked
// for (parallelism 1 runs everything on the caller's thread).
//
//   korch::scheduler::SchedulerOptions options;
//   options.config.percentage_of_nodes_to_score = 100;
//   auto scheduler = korch::scheduler::Scheduler::Create(std::move(options));
//   (*scheduler)->AddNode(node);
//   auto result = (*scheduler)->Schedule(pod);  // result->node_name
//
// Two ways to drive it:
//  - Direct: Schedule(pod) / ScheduleBatch(pods) run a whole cycle for the
//    given pods now (filter, score, reserve, permit, bind) and return where
//    each went. A scheduled pod then counts on its node.
//  - Queued: AddPod() of a pod without a node puts it in the scheduling
//    queue (active, backoff, unschedulable; gates); ScheduleNext() or
//    RunUntilIdle() pop and schedule; Start() runs a scheduling thread that
//    does so until Stop(). Unschedulable pods return to the active queue
//    when an event that may help happens (a node added or changed, a pod
//    removed, ...), never by polling; failures back off 1 s doubling to 10 s.
//
// Thread-safe: every method may be called from any thread. Scheduling
// cycles are serialized; filtering and scoring use the configured
// parallelism.
#ifndef KORCH_SCHEDULER_SCHEDULER_H_
#define KORCH_SCHEDULER_SCHEDULER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "korch/api/apps.pb.h"
#include "korch/api/core.pb.h"
#include "korch/base/clock.h"
#include "korch/export.h"
#include "korch/scheduler/config.h"
#include "korch/scheduler/framework.h"
#include "korch/scheduler/registry.h"

namespace korch::scheduler {

// Why a pod fits nowhere: node counts per reason.
struct KORCH_EXPORT FitError {
  int32_t num_all_nodes = 0;
  // Reason -> number of nodes that failed with it, e.g. {"Insufficient
  // cpu": 3000, "node(s) had untolerated taint {dedicated: gpu}": 2000}.
  absl::flat_hash_map<std::string, int32_t> reasons;
  // PreFilter or PostFilter messages that are not per node (e.g. "0/5
  // nodes are available: 5 No preemption victims found for incoming pod.").
  std::string pre_filter_message;
  std::string post_filter_message;
  // Kubernetes' message: "0/5000 nodes are available: 2000 node(s) had
  // untolerated taint {dedicated: gpu}, 3000 Insufficient cpu." (reasons
  // sorted by text, then the PostFilter message).
  std::string Message() const;
};

struct ScheduleResult {
  // The node the pod was bound to; empty when it fits nowhere.
  std::string node_name;
  // Set when the pod did not fit: why, per node.
  std::optional<FitError> fit_error;
  // Set when preemption nominated a node for the pod (victims are being
  // evicted; the pod is retried when they are gone).
  std::string nominated_node_name;
  int32_t evaluated_nodes = 0;
  int32_t feasible_nodes = 0;
};

// Told about outcomes, on the thread that ran the cycle (scheduling or
// binding thread). Must not block for long and must not call back into the
// scheduler's scheduling methods.
class SchedulerObserver {
 public:
  virtual ~SchedulerObserver() = default;
  virtual void OnScheduled(const api::Pod& pod, const std::string& node_name) {}
  // Unschedulable (fit_error set) or an error (status not ok).
  virtual void OnFailed(const api::Pod& pod, const ScheduleResult& result,
                        const absl::Status& status) {}
};

struct SchedulerOptions {
  SchedulerConfiguration config;
  // Plugins available to profiles; null means NewInTreeRegistry().
  // Borrowed: must outlive the Scheduler.
  const Registry* registry = nullptr;
  // Time for backoff, Permit timeouts and queue timestamps. Borrowed.
  Clock* clock = RealClock().get();
  // Tie-break and sampling seed; 0 picks one at random. Equal seeds and
  // inputs give equal placements (with parallelism 1 or 100% of nodes).
  uint64_t seed = 0;
  // Binds, evicts and nominates outside the scheduler (e.g. through the
  // API). Null: binding succeeds at once in the scheduler's own cache,
  // victims are removed from the cache, nominations are kept in memory.
  // Borrowed.
  ClusterActions* actions = nullptr;
  // Run the binding cycle on a separate thread (the API adapter does, so a
  // slow bind does not stall scheduling). false: Schedule() returns after
  // the pod is bound.
  bool async_binding = false;
  // With async_binding: binding cycles run at once on this many threads (at
  // least 1). Binding through an API whose store syncs each write is
  // latency-bound; several bindings in flight share the syncs.
  int32_t binding_threads = 1;
  // How long an idle Filter/Score worker (parallelism > 1) spins waiting
  // for the next loop before it sleeps. Spinning keeps back-to-back cycles
  // fast (a sleeping worker wakes too late to help a loop of tens of
  // microseconds) but burns that CPU time; zero when the CPUs have other
  // work to do between cycles.
  absl::Duration worker_spin = absl::Microseconds(30);
  // Borrowed; may be null.
  SchedulerObserver* observer = nullptr;
};

struct SchedulerStats {
  int64_t nodes = 0;
  int64_t pods = 0;          // bound or assumed, in the cache
  int64_t assumed_pods = 0;  // waiting for bind confirmation
  int64_t active_pods = 0;   // queue
  int64_t backoff_pods = 0;
  int64_t unschedulable_pods = 0;
  int64_t gated_pods = 0;
  int64_t scheduled = 0;  // cycles that placed a pod
  int64_t failed = 0;     // cycles that did not
};

class KORCH_EXPORT Scheduler {
 public:
  // Errors: an invalid configuration (unknown plugin, duplicate profile,
  // bad args) names what is wrong.
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(SchedulerOptions options);
  virtual ~Scheduler() = default;

  // Cluster state. Nodes are keyed by name, pods by uid (namespace/name
  // when uid is empty). A pod with spec.nodeName is placed on that node in
  // the cache (confirming an assumed pod); one without it is queued, when
  // its schedulerName matches a profile. Terminal pods (Succeeded/Failed)
  // are removed.
  virtual absl::Status AddNode(const api::Node& node) = 0;
  virtual absl::Status UpdateNode(const api::Node& node) = 0;
  virtual absl::Status RemoveNode(absl::string_view name) = 0;
  virtual absl::Status AddPod(const api::Pod& pod) = 0;
  virtual absl::Status UpdatePod(const api::Pod& pod) = 0;
  virtual absl::Status RemovePod(const api::Pod& pod) = 0;
  // AddPod() and UpdatePod() of a pod that nobody changes afterwards (an
  // informer's cached object): the scheduler keeps `pod` instead of a copy.
  virtual absl::Status AddSharedPod(std::shared_ptr<const api::Pod> pod) { return AddPod(*pod); }
  virtual absl::Status UpdateSharedPod(std::shared_ptr<const api::Pod> pod) {
    return UpdatePod(*pod);
  }
  // Namespace labels, for namespaceSelector in pod affinity terms.
  virtual absl::Status UpsertNamespace(const api::Namespace& ns) = 0;
  virtual absl::Status RemoveNamespace(absl::string_view name) = 0;
  // Workloads whose selectors drive default topology spreading.
  virtual absl::Status UpsertService(const api::Service& service) = 0;
  virtual absl::Status UpsertReplicaSet(const api::ReplicaSet& replica_set) = 0;
  virtual absl::Status UpsertStatefulSet(const api::StatefulSet& stateful_set) = 0;
  // kind: "Service", "ReplicaSet" or "StatefulSet".
  virtual absl::Status RemoveWorkload(absl::string_view kind, absl::string_view ns,
                                      absl::string_view name) = 0;

  // Direct mode: one full cycle for `pod` now (it need not have been
  // added). Returns the placement or a FitError; errors (not
  // unschedulable) are statuses: kInvalidArgument for a pod that cannot be
  // digested, kFailedPrecondition for a pod already bound or a
  // schedulerName no profile has.
  virtual absl::StatusOr<ScheduleResult> Schedule(const api::Pod& pod) = 0;
  // The same, sharing `pod` instead of copying it: the scheduler keeps a
  // reference while the pod is placed, so the host must not change it
  // afterwards. Saves a copy of the pod per cycle.
  virtual absl::StatusOr<ScheduleResult> Schedule(std::shared_ptr<const api::Pod> pod) = 0;
  // The pods in order, each seeing the placements before it.
  virtual std::vector<absl::StatusOr<ScheduleResult>> ScheduleBatch(
      absl::Span<const api::Pod> pods) = 0;
  // Filter and score only: where `pod` would go, changing nothing.
  virtual absl::StatusOr<ScheduleResult> Evaluate(const api::Pod& pod) = 0;

  // Queued mode. Schedules the next pod of the active queue (moving pods
  // whose backoff expired first); false when the active queue is empty.
  virtual bool ScheduleNext() = 0;
  // Schedules until the active queue is empty or `max_pods` cycles ran;
  // returns the number of cycles.
  virtual int64_t RunUntilIdle(int64_t max_pods = INT64_MAX) = 0;
  // A scheduling thread that waits for pods; Stop() ends it (and the
  // binding thread) after the cycle in progress. Idempotent.
  virtual absl::Status Start() = 0;
  virtual void Stop() = 0;
  // Waits until every binding started so far has finished (async binding).
  virtual void WaitForBindings() = 0;

  virtual SchedulerStats Stats() const = 0;
  // The node a pod is placed on in the cache (assumed or bound), or empty.
  virtual std::string NodeOf(const api::Pod& pod) const = 0;
};

}  // namespace korch::scheduler

#endif  // KORCH_SCHEDULER_SCHEDULER_H_
