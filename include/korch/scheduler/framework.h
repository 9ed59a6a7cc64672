// The scheduling framework: one small interface per extension point, in
// kube-scheduler's model. A profile is an ordered set of plugins per
// extension point; a scheduling cycle for one pod runs
//
//   PreFilter -> Filter (every candidate node, in parallel) -> PostFilter
//   (only when no node fits, e.g. preemption) -> PreScore -> Score (in
//   parallel) -> NormalizeScore -> weighted sum -> pick the best node (ties
//   broken at random, seedable) -> Reserve -> Permit
//
// and the binding cycle (possibly asynchronous) runs PreBind -> Bind ->
// PostBind, or Unreserve on any failure.
//
// Threading: PreFilter, PostFilter, PreScore, NormalizeScore, Reserve,
// Unreserve, Permit run on the scheduling thread, one pod at a time. Filter
// and Score run on several threads at once for the same pod and must not
// mutate shared state: they read the CycleState written by PreFilter and
// PreScore, and the NodeInfo they are given. Binding-cycle plugins run on
// the binding thread(s), one call per pod.
//
// Plugins must not throw; they report failures in PluginStatus.
#ifndef KORCH_SCHEDULER_FRAMEWORK_H_
#define KORCH_SCHEDULER_FRAMEWORK_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "korch/base/clock.h"
#include "korch/export.h"
#include "korch/scheduler/types.h"

namespace korch::scheduler {

// The outcome of a plugin call (kube-scheduler's framework.Code).
enum class Code {
  kSuccess,
  // Internal failure: the pod is retried with backoff, the reason is
  // reported as an error.
  kError,
  // The pod does not fit here, but preemption might make it fit.
  kUnschedulable,
  // The pod does not fit here and preemption cannot help (e.g. node
  // selector mismatch).
  kUnschedulableAndUnresolvable,
  // Permit only: hold the pod until allowed or rejected or timed out.
  kWait,
  // PreFilter/PreScore: this plugin has nothing to do for the pod; its
  // Filter/Score is not called in this cycle. Bind: not mine, ask the next.
  kSkip,
  // PreEnqueue: not ready for the active queue yet (e.g. scheduling gates).
  kPending,
};

KORCH_EXPORT absl::string_view CodeName(Code code);

// A Code with the reasons a user reads, and the plugin that failed.
// Success is cheap to create and copy (no allocation).
class KORCH_EXPORT PluginStatus {
 public:
  PluginStatus() = default;  // success
  PluginStatus(Code code, std::string reason) : code_(code) {
    if (!reason.empty()) AddReason(std::move(reason));
  }
  // Copies share the reasons until one of them changes (copy on write):
  // a plugin can return a copy of a status it made once, and a rejection
  // then allocates nothing per node.
  PluginStatus(const PluginStatus&) = default;
  PluginStatus& operator=(const PluginStatus&) = default;
  PluginStatus(PluginStatus&&) noexcept = default;
  PluginStatus& operator=(PluginStatus&&) noexcept = default;

  static PluginStatus Success() { return PluginStatus(); }
  static PluginStatus Error(std::string reason) { return {Code::kError, std::move(reason)}; }
  static PluginStatus Unschedulable(std::string reason) {
    return {Code::kUnschedulable, std::move(reason)};
  }
  static PluginStatus Unresolvable(std::string reason) {
    return {Code::kUnschedulableAndUnresolvable, std::move(reason)};
  }
  static PluginStatus Skip() { return {Code::kSkip, ""}; }

  Code code() const { return code_; }
  bool ok() const { return code_ == Code::kSuccess; }
  bool IsSkip() const { return code_ == Code::kSkip; }
  bool IsRejected() const {
    return code_ == Code::kUnschedulable || code_ == Code::kUnschedulableAndUnresolvable ||
           code_ == Code::kPending;
  }
  // Reasons, e.g. "Insufficient cpu", "node(s) had untolerated taint
  // {dedicated: gpu}". The FitError message counts nodes per reason.
  const absl::InlinedVector<std::string, 1>& reasons() const {
    return details_ ? details_->reasons : EmptyReasons();
  }
  void AddReason(std::string reason) { MutableDetails().reasons.push_back(std::move(reason)); }
  // The plugin that returned this status (set by the framework).
  const std::string& plugin() const { return details_ ? details_->plugin : EmptyString(); }
  void set_plugin(std::string plugin) { MutableDetails().plugin = std::move(plugin); }
  // "Unschedulable: Insufficient cpu, Insufficient memory".
  std::string ToString() const;

 private:
  // Reasons and plugin live behind a pointer: Filter returns a status for
  // every (pod, node) pair, and a success is then a code and a null
  // pointer, with nothing to construct or destroy.
  struct Details {
    absl::InlinedVector<std::string, 1> reasons;
    std::string plugin;
  };
  Details& MutableDetails() {
    if (!details_) {
      details_ = std::make_shared<Details>();
    } else if (details_.use_count() > 1) {
      details_ = std::make_shared<Details>(*details_);
    }
    // Not shared (use_count 1): no other status can see the change.
    return const_cast<Details&>(*details_);
  }
  static const absl::InlinedVector<std::string, 1>& EmptyReasons();
  static const std::string& EmptyString();

  Code code_ = Code::kSuccess;
  std::shared_ptr<const Details> details_;
};

// Data a plugin stores in the CycleState during one cycle. Clone() is used
// by preemption, which simulates removing pods on a copy of the state.
class StateData {
 public:
  virtual ~StateData() = default;
  virtual std::unique_ptr<StateData> Clone() const = 0;
};

// A slot in the CycleState, obtained once per plugin from the Handle
// (Handle::StateKeyFor), so that reads in Filter/Score are an index, not a
// string lookup.
using StateKey = int;

// Per-cycle storage. Written in the single-threaded points (PreFilter,
// PreScore, Reserve, and the PreFilter extensions during preemption) and
// read by Filter and Score on many threads. Not thread-safe for writes.
class KORCH_EXPORT CycleState {
 public:
  CycleState() = default;
  CycleState(const CycleState&) = delete;
  CycleState& operator=(const CycleState&) = delete;

  void Write(StateKey key, std::unique_ptr<StateData> data);
  // Null when nothing was written under `key` in this cycle.
  StateData* Read(StateKey key) const {
    return key >= 0 && static_cast<size_t>(key) < slots_.size() ? slots_[key].get() : nullptr;
  }
  template <typename T>
  T* Read(StateKey key) const {
    return static_cast<T*>(Read(key));
  }
  void Delete(StateKey key);
  // A deep copy (each StateData cloned).
  std::unique_ptr<CycleState> Clone() const;
  // Plugins skipped for this cycle (PreFilter/PreScore returned kSkip).
  absl::flat_hash_set<std::string>& skip_filter_plugins() { return skip_filter_; }
  absl::flat_hash_set<std::string>& skip_score_plugins() { return skip_score_; }
  const absl::flat_hash_set<std::string>& skip_filter_plugins() const { return skip_filter_; }
  const absl::flat_hash_set<std::string>& skip_score_plugins() const { return skip_score_; }

 private:
  std::vector<std::unique_ptr<StateData>> slots_;
  absl::flat_hash_set<std::string> skip_filter_;
  absl::flat_hash_set<std::string> skip_score_;
};

// ---------------------------------------------------------------------------
// Extension points
// ---------------------------------------------------------------------------

class KORCH_EXPORT Plugin {
 public:
  virtual ~Plugin() = default;
  virtual absl::string_view Name() const = 0;
};

// A pod waiting in a queue, with its scheduling history.
struct QueuedPodInfo {
  std::shared_ptr<const PodInfo> pod_info;
  // When the pod first entered the queue and when it last did.
  absl::Time initial_attempt_timestamp;
  absl::Time timestamp;
  int attempts = 0;
  // Plugins that rejected the pod in its last attempt: only events those
  // plugins care about move it back to the active queue.
  absl::flat_hash_set<std::string> unschedulable_plugins;
  // Set when PreEnqueue keeps the pod out of the active queue (gates).
  bool gated = false;
};

// Orders the active queue. Exactly one per profile (PrioritySort: higher
// priority first, then earlier timestamp).
class QueueSortPlugin : public virtual Plugin {
 public:
  virtual bool Less(const QueuedPodInfo& a, const QueuedPodInfo& b) const = 0;
};

// Decides whether a pod may enter the active queue (kSuccess) or must wait
// (kPending, e.g. schedulingGates). Called whenever the pod is added or
// updated.
class PreEnqueuePlugin : public virtual Plugin {
 public:
  virtual PluginStatus PreEnqueue(const PodInfo& pod) = 0;
};

// PreFilter may restrict the candidate nodes (NodeName, NodeAffinity on
// metadata.name): the framework intersects the sets of all plugins.
struct PreFilterResult {
  std::optional<absl::flat_hash_set<std::string>> node_names;
};

// Incremental updates of a plugin's PreFilter state when preemption
// simulates adding or removing a pod on `node`.
class PreFilterExtensions {
 public:
  virtual ~PreFilterExtensions() = default;
  virtual PluginStatus AddPod(CycleState& state, const PodInfo& pod_to_schedule,
                              const PodInfo& pod_to_add, const NodeInfo& node) const = 0;
  virtual PluginStatus RemovePod(CycleState& state, const PodInfo& pod_to_schedule,
                                 const PodInfo& pod_to_remove, const NodeInfo& node) const = 0;
};

class PreFilterPlugin : public virtual Plugin {
 public:
  // Computes per-cycle state. kSkip: the plugin's Filter is not called for
  // this pod. A rejection fails the pod on every node with this status.
  virtual PluginStatus PreFilter(CycleState& state, const PodInfo& pod,
                                 PreFilterResult& result) = 0;
  // Null when the plugin has no state to update incrementally.
  virtual const PreFilterExtensions* Extensions() const { return nullptr; }
};

class FilterPlugin : public virtual Plugin {
 public:
  // Whether `pod` fits on `node`. Called concurrently for different nodes.
  virtual PluginStatus Filter(const CycleState& state, const PodInfo& pod,
                              const NodeInfo& node) const = 0;
};

// Per-node statuses of a failed cycle, keyed by node name.
using NodeStatusMap = absl::flat_hash_map<std::string, PluginStatus>;

struct PostFilterResult {
  PluginStatus status;  // kSuccess when a nominated node was found
  std::string nominated_node_name;
};

// Runs when no node fits (DefaultPreemption).
class PostFilterPlugin : public virtual Plugin {
 public:
  virtual PostFilterResult PostFilter(CycleState& state, const PodInfo& pod,
                                      const NodeStatusMap& filtered_statuses) = 0;
};

class PreScorePlugin : public virtual Plugin {
 public:
  // `nodes` are the feasible nodes. kSkip: Score is not called this cycle.
  virtual PluginStatus PreScore(CycleState& state, const PodInfo& pod,
                                absl::Span<const NodeInfo* const> nodes) = 0;
};

struct NodeScore {
  const NodeInfo* node = nullptr;
  int64_t score = 0;
};

// Scores range from kMinNodeScore to kMaxNodeScore after normalization; the
// framework multiplies each plugin's score by its weight and sums.
inline constexpr int64_t kMinNodeScore = 0;
inline constexpr int64_t kMaxNodeScore = 100;

class ScorePlugin : public virtual Plugin {
 public:
  // Called concurrently for different nodes, only for feasible nodes, and
  // only after PreScore (if the plugin has one) succeeded.
  virtual int64_t Score(const CycleState& state, const PodInfo& pod,
                        const NodeInfo& node) const = 0;
  // Scores a run of feasible nodes: sets scores[i].score to what Score
  // returns for *scores[i].node. The framework calls this, with runs of up
  // to 64 nodes (concurrently for different runs); the default calls Score
  // for each node. Plugins override it to read their CycleState once per
  // run and score in a tight loop; the result must equal Score's.
  virtual void ScoreNodes(const CycleState& state, const PodInfo& pod,
                          absl::Span<NodeScore> scores) const {
    for (NodeScore& s : scores) s.score = Score(state, pod, *s.node);
  }
  // Whether NormalizeScore must be called.
  virtual bool HasNormalizeScore() const { return false; }
  // Maps raw scores into [kMinNodeScore, kMaxNodeScore] in place.
  virtual PluginStatus NormalizeScore(const CycleState& state, const PodInfo& pod,
                                      absl::Span<NodeScore> scores) const {
    return PluginStatus();
  }
};

class ReservePlugin : public virtual Plugin {
 public:
  virtual PluginStatus Reserve(CycleState& state, const PodInfo& pod,
                               const std::string& node_name) = 0;
  // Undoes Reserve when a later step fails; must be idempotent.
  virtual void Unreserve(CycleState& state, const PodInfo& pod, const std::string& node_name) = 0;
};

struct PermitResult {
  PluginStatus status;                            // kSuccess, kWait, or a rejection
  absl::Duration timeout = absl::ZeroDuration();  // for kWait
};

class PermitPlugin : public virtual Plugin {
 public:
  virtual PermitResult Permit(CycleState& state, const PodInfo& pod,
                              const std::string& node_name) = 0;
};

class PreBindPlugin : public virtual Plugin {
 public:
  virtual PluginStatus PreBind(CycleState& state, const PodInfo& pod,
                               const std::string& node_name) = 0;
};

// Binds the pod. The first plugin not returning kSkip decides.
class BindPlugin : public virtual Plugin {
 public:
  virtual PluginStatus Bind(CycleState& state, const PodInfo& pod,
                            const std::string& node_name) = 0;
};

class PostBindPlugin : public virtual Plugin {
 public:
  virtual void PostBind(CycleState& state, const PodInfo& pod, const std::string& node_name) = 0;
};

// A pod held at Permit. Thread-safe.
class WaitingPod {
 public:
  virtual ~WaitingPod() = default;
  virtual const PodInfo& pod() const = 0;
  virtual const std::string& node_name() const = 0;
  // Plugins that still have to allow the pod.
  virtual std::vector<std::string> PendingPlugins() const = 0;
  // Allows the pod on behalf of `plugin`; it binds once every waiting
  // plugin has allowed it.
  virtual void Allow(absl::string_view plugin) = 0;
  // Rejects the pod: it is unreserved and goes back to the queue.
  virtual void Reject(absl::string_view plugin, std::string message) = 0;
};

// How a plugin binds or evicts in the world outside the scheduler. The
// embedded scheduler's default binds and evicts in its own cache only; the
// API adapter writes pods/binding and deletes victims through the API.
class KORCH_EXPORT ClusterActions {
 public:
  virtual ~ClusterActions() = default;
  // Binds `pod` to `node_name`. Called on a binding thread.
  virtual absl::Status Bind(const api::Pod& pod, const std::string& node_name) = 0;
  // Evicts a preemption victim (graceful delete); the scheduler learns of
  // the removal when the host removes the pod (Scheduler::RemovePod).
  virtual absl::Status Evict(const api::Pod& victim, const std::string& message) = 0;
  // Records the node nominated for a preemptor (status.nominatedNodeName);
  // an empty name clears it.
  virtual absl::Status SetNominatedNode(const api::Pod& pod, const std::string& node_name) = 0;
};

// What plugins can use from the framework that runs them. Owned by the
// framework; valid for the plugin's lifetime.
class KORCH_EXPORT Handle {
 public:
  virtual ~Handle() = default;

  // The snapshot of the current cycle. Valid from PreFilter until the end
  // of the scheduling cycle.
  virtual const Snapshot& snapshot() const = 0;
  // A stable CycleState slot for `name` (usually the plugin's name).
  virtual StateKey StateKeyFor(absl::string_view name) = 0;
  virtual Clock& clock() = 0;
  // Runs fn(i) for i in [0, n) on the framework's workers (and the calling
  // thread); returns when all are done.
  virtual void ParallelFor(int n, const std::function<void(int)>& fn) = 0;

  // Preemption support. Runs every Filter plugin of this profile for `pod`
  // on `node`, with the pods nominated to that node with priority >= the
  // pod's added first (as kube-scheduler does).
  virtual PluginStatus RunFilterPluginsWithNominatedPods(CycleState& state, const PodInfo& pod,
                                                         const NodeInfo& node) = 0;
  // Runs every PreFilter plugin's extension.
  virtual PluginStatus RunPreFilterExtensionAddPod(CycleState& state, const PodInfo& pod,
                                                   const PodInfo& to_add, const NodeInfo& node) = 0;
  virtual PluginStatus RunPreFilterExtensionRemovePod(CycleState& state, const PodInfo& pod,
                                                      const PodInfo& to_remove,
                                                      const NodeInfo& node) = 0;
  // Pods nominated to `node_name` (waiting for preemption victims to go).
  virtual std::vector<std::shared_ptr<const PodInfo>> NominatedPodsForNode(
      const std::string& node_name) const = 0;
  virtual ClusterActions& actions() = 0;

  // Pods held at Permit.
  virtual WaitingPod* GetWaitingPod(const std::string& uid) = 0;
  virtual void IterateOverWaitingPods(const std::function<void(WaitingPod&)>& fn) = 0;

  // Selectors of the Services, ReplicaSets and StatefulSets that select
  // `pod` (for default topology spreading).
  virtual std::vector<api::Selector> OwnerSelectors(const api::Pod& pod) const = 0;
};

}  // namespace korch::scheduler

#endif  // KORCH_SCHEDULER_FRAMEWORK_H_
