// The scheduler run against the API, like kube-scheduler: informers on pods,
// nodes, namespaces, services, replicasets and statefulsets feed an embedded
// korch::scheduler::Scheduler, which binds pods through the pods/binding
// subresource.
//
//   korch::scheduler::ApiSchedulerOptions options;
//   options.client = client.get();
//   auto scheduler = korch::scheduler::ApiScheduler::Create(std::move(options));
//   (*scheduler)->Start();  // returns once the caches synced
//   ...
//   (*scheduler)->Stop();
//
// What it writes, as kube-scheduler does:
//  - a Binding (pods/binding) for each placed pod, asynchronously, so that a
//    slow write does not stall scheduling; the API server sets spec.nodeName
//    and the PodScheduled=True condition;
//  - an Event "Scheduled" ("Successfully assigned ns/pod to node") per
//    placed pod and "FailedScheduling" (the FitError message) per failed
//    attempt, and the PodScheduled=False condition (reason Unschedulable, or
//    SchedulerError for errors) through pods/status;
//  - for preemption: status.nominatedNodeName of the preemptor (pods/status)
//    and a graceful delete of each victim, after its DisruptionTarget
//    condition is set.
//
// Which pods: those without spec.nodeName whose spec.schedulerName names one
// of the configuration's profiles and whose deletionTimestamp is not set.
// Pods bound to nodes (by this scheduler or by anyone else) are counted in
// the scheduler's cache until they are deleted or terminal.
//
// Leader election: with several replicas, each ApiScheduler campaigns for
// the Lease kube-system/kube-scheduler; every replica keeps its caches
// current, and only the leader schedules. A leader that stops releases the
// lease, so another replica takes over at its next retry.
//
// Thread-safe. The informer threads call the embedded Scheduler; writes
// (events, status) and bindings are made by threads the ApiScheduler owns.
#ifndef KORCH_SCHEDULER_API_SCHEDULER_H_
#define KORCH_SCHEDULER_API_SCHEDULER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "korch/base/clock.h"
#include "korch/base/logging.h"
#include "korch/client/client.h"
#include "korch/client/informer.h"
#include "korch/export.h"
#include "korch/scheduler/config.h"
#include "korch/scheduler/registry.h"
#include "korch/scheduler/scheduler.h"

namespace korch::scheduler {

// Leader election among scheduler replicas (kube-scheduler's
// leaderElection block).
struct ApiSchedulerLeaderElection {
  // Campaign for the lease and schedule only while leading. Off: this
  // replica schedules as soon as its caches synced (one replica only).
  bool enabled = false;
  std::string lease_namespace = "kube-system";
  std::string lease_name = "kube-scheduler";
  // kube-scheduler's defaults.
  absl::Duration lease_duration = absl::Seconds(15);
  absl::Duration renew_deadline = absl::Seconds(10);
  absl::Duration retry_period = absl::Seconds(2);
};

struct ApiSchedulerOptions {
  // The API. Required; borrowed, must outlive the ApiScheduler.
  client::Client* client = nullptr;
  // The scheduler configuration. When `config_text` is set, it is parsed
  // (a KubeSchedulerConfiguration, YAML or JSON) and replaces `config`.
  SchedulerConfiguration config;
  std::string config_text;
  // Plugins available to profiles; null means NewInTreeRegistry().
  // Borrowed.
  const Registry* registry = nullptr;
  // Time for the queue's backoff, leases and timestamps written to the API.
  // Null: the real clock. Borrowed.
  Clock* clock = nullptr;
  // Tie-break seed (0: random).
  uint64_t seed = 0;
  // This replica's identity: the lease holder, and the reportingInstance of
  // its events. Empty: the host name plus a random suffix.
  std::string identity;
  ApiSchedulerLeaderElection leader_election;
  // Informers to share with other components of the process; borrowed,
  // must outlive the ApiScheduler, and must not be started yet when the
  // ApiScheduler starts (or the informers for its kinds must exist: the
  // ApiScheduler adds its handlers either way). Null: the ApiScheduler
  // makes, starts and stops its own.
  client::SharedInformerFactory* informers = nullptr;
  // How long Start() waits for the informers' first lists.
  absl::Duration cache_sync_timeout = absl::Seconds(60);
  // Bindings written at once (each waits for the store's write; several in
  // flight share its syncs), like kube-scheduler's binding goroutines.
  int32_t binding_threads = 16;
  // Record Scheduled / FailedScheduling / Preempted events.
  bool record_events = true;
  // Threads writing events and conditions (a pod's writes all go to one).
  int32_t write_threads = 4;
  // Writes (events, PodScheduled conditions) waiting for the writer threads;
  // beyond this many, new writes are dropped (and counted), so a slow API
  // never makes scheduling wait or memory grow.
  size_t max_pending_writes = 10000;
  Logger logger = Logger("scheduler");
};

// Counters of what the ApiScheduler did, for tests and benchmarks.
struct ApiSchedulerStats {
  SchedulerStats scheduler;
  int64_t bindings = 0;           // Bindings written
  int64_t binding_failures = 0;   // Bindings the API refused
  int64_t evictions = 0;          // victims deleted
  int64_t nominations = 0;        // status.nominatedNodeName set (or cleared)
  int64_t events = 0;             // Events written (or counts updated)
  int64_t condition_updates = 0;  // PodScheduled=False written
  int64_t dropped_writes = 0;     // writes dropped because the queue was full
  int64_t write_failures = 0;     // event or status writes the API refused
};

class KORCH_EXPORT ApiScheduler {
 public:
  // Checks the options and builds the embedded Scheduler. kInvalidArgument
  // for a missing client or a bad configuration (naming what is wrong).
  static absl::StatusOr<std::unique_ptr<ApiScheduler>> Create(ApiSchedulerOptions options);
  // Stops.
  virtual ~ApiScheduler() = default;

  // Starts the informers, waits until they synced (kDeadlineExceeded after
  // cache_sync_timeout), then schedules (or campaigns for the lease).
  // kFailedPrecondition when called twice.
  virtual absl::Status Start() = 0;
  // Stops scheduling (after the cycle in progress and the bindings in
  // flight), gives the lease up, stops the informers this ApiScheduler
  // made and the writer threads. Idempotent.
  virtual void Stop() = 0;

  // True while this replica schedules: always after Start() without leader
  // election, while it holds the lease with it.
  virtual bool IsLeader() const = 0;
  // Waits until every write queued so far (events, conditions) was made
  // and every binding started so far finished, or `timeout` passes (real
  // time); true when idle.
  virtual bool WaitForWrites(absl::Duration timeout) = 0;
  virtual ApiSchedulerStats Stats() const = 0;
  const std::string& identity() const { return identity_; }

  // The embedded scheduler (its cache and queue), e.g. to ask where a pod
  // is placed. Owned by the ApiScheduler.
  virtual Scheduler& scheduler() = 0;

 protected:
  explicit ApiScheduler(std::string identity) : identity_(std::move(identity)) {}

 private:
  std::string identity_;
};

}  // namespace korch::scheduler

#endif  // KORCH_SCHEDULER_API_SCHEDULER_H_
