// A profile's plugins instantiated from the configuration and a registry,
// and the code that runs each extension point: the scheduling algorithm
// (PreFilter, parallel Filter with nominated pods, PreScore, parallel Score,
// NormalizeScore, weights, seeded tie-break), PostFilter, Reserve, Permit
// and the binding cycle. Implements Handle for the plugins.
#ifndef KORCH_LIB_SCHEDULER_FRAMEWORK_RUNTIME_H_
#define KORCH_LIB_SCHEDULER_FRAMEWORK_RUNTIME_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "korch/base/thread_pool.h"
#include "korch/scheduler/config.h"
#include "korch/scheduler/framework.h"
#include "korch/scheduler/registry.h"
#include "korch/scheduler/scheduler.h"
#include "scheduler/parallel_loop.h"
#include "scheduler/queue.h"

namespace korch::scheduler::internal {

// What a profile's framework uses from the scheduler that runs it.
class FrameworkHost {
 public:
  virtual ~FrameworkHost() = default;
  virtual Clock& clock() = 0;
  virtual ClusterActions& actions() = 0;
  virtual const Nominator& nominator() const = 0;
  virtual WaitingPod* GetWaitingPod(const std::string& uid) = 0;
  virtual void IterateOverWaitingPods(const std::function<void(WaitingPod&)>& fn) = 0;
  virtual std::vector<api::Selector> OwnerSelectors(const api::Pod& pod) const = 0;
};

// The outcome of the scheduling algorithm for one pod.
struct AlgorithmResult {
  // The chosen node; null when none fits or on error.
  const NodeInfo* node = nullptr;
  int32_t evaluated_nodes = 0;
  int32_t feasible_nodes = 0;
  // Set when no node fits.
  std::optional<FitError> fit_error;
  // Per node, when no node fits (for PostFilter).
  NodeStatusMap statuses;
  // Plugins that rejected the pod (the queue retries it on their events).
  absl::flat_hash_set<std::string> rejectors;
  // Not ok on an internal error of a plugin.
  absl::Status error;
};

// Below this many Filter (or Score) calls in a cycle, the cycle runs on the
// calling thread only (default 1024). Tests set 0 to exercise the workers.
int64_t SetMinParallelCallsForTest(int64_t calls);  // returns the old value

// A Wait of one Permit plugin.
struct PermitWait {
  std::string plugin;
  absl::Duration timeout;
};

class Framework final : public Handle {
 public:
  // `loop`: the workers for the Filter and Score loops; `pool`: workers
  // for plugins' ParallelFor (either null: the calling thread only).
  // `config` gives the default percentage of nodes to score.
  static absl::StatusOr<std::unique_ptr<Framework>> Create(const Profile& profile,
                                                           const SchedulerConfiguration& config,
                                                           const Registry& registry,
                                                           FrameworkHost* host, ThreadPool* pool,
                                                           ParallelLoop* loop);
  ~Framework() override;

  const std::string& scheduler_name() const { return scheduler_name_; }
  const QueueSortPlugin* queue_sort() const { return queue_sort_; }
  const std::string& queue_sort_name() const { return queue_sort_name_; }
  PluginStatus RunPreEnqueue(const PodInfo& pod);

  // Must be called before a cycle; the snapshot must stay unchanged until
  // the scheduling cycle ends.
  void set_snapshot(const Snapshot* snapshot) { snapshot_ = snapshot; }

  // PreFilter, Filter, PreScore, Score and selection. `nominated_node`
  // (where an earlier preemption made room; may be empty) is tried first.
  // Not thread-safe: one cycle at a time.
  AlgorithmResult RunAlgorithm(CycleState& state, const PodInfo& pod,
                               const std::string& nominated_node, std::mt19937_64& rng);
  bool HasPostFilter() const { return !post_filters_.empty(); }
  PostFilterResult RunPostFilter(CycleState& state, const PodInfo& pod,
                                 const NodeStatusMap& statuses);
  // Runs every Reserve; on failure unreserves them all and returns it.
  PluginStatus RunReserve(CycleState& state, const PodInfo& pod, const std::string& node);
  // Unreserve of every Reserve plugin, in reverse order.
  void RunUnreserve(CycleState& state, const PodInfo& pod, const std::string& node);
  // Success, a rejection or error, or kWait with the waits in `waits`.
  PluginStatus RunPermit(CycleState& state, const PodInfo& pod, const std::string& node,
                         std::vector<PermitWait>& waits);
  PluginStatus RunPreBind(CycleState& state, const PodInfo& pod, const std::string& node);
  PluginStatus RunBind(CycleState& state, const PodInfo& pod, const std::string& node);
  void RunPostBind(CycleState& state, const PodInfo& pod, const std::string& node);

  // Handle.
  const Snapshot& snapshot() const override { return *snapshot_; }
  StateKey StateKeyFor(absl::string_view name) override;
  Clock& clock() override { return host_->clock(); }
  void ParallelFor(int n, const std::function<void(int)>& fn) override;
  PluginStatus RunFilterPluginsWithNominatedPods(CycleState& state, const PodInfo& pod,
                                                 const NodeInfo& node) override;
  PluginStatus RunPreFilterExtensionAddPod(CycleState& state, const PodInfo& pod,
                                           const PodInfo& to_add, const NodeInfo& node) override;
  PluginStatus RunPreFilterExtensionRemovePod(CycleState& state, const PodInfo& pod,
                                              const PodInfo& to_remove,
                                              const NodeInfo& node) override;
  std::vector<std::shared_ptr<const PodInfo>> NominatedPodsForNode(
      const std::string& node_name) const override;
  ClusterActions& actions() override { return host_->actions(); }
  WaitingPod* GetWaitingPod(const std::string& uid) override { return host_->GetWaitingPod(uid); }
  void IterateOverWaitingPods(const std::function<void(WaitingPod&)>& fn) override {
    host_->IterateOverWaitingPods(fn);
  }
  std::vector<api::Selector> OwnerSelectors(const api::Pod& pod) const override {
    return host_->OwnerSelectors(pod);
  }

  // The enabled plugins of an extension point, in order (for tests).
  std::vector<std::string> PluginNamesFor(absl::string_view extension_point) const;
  // Score plugins with their weights (for tests).
  std::vector<std::pair<std::string, int64_t>> ScoreWeights() const;

 private:
  template <typename T>
  struct Entry {
    T* plugin = nullptr;
    std::string name;
    int64_t weight = 0;     // Score only
    int filter_index = -1;  // PreFilter: the same plugin's Filter entry
    int score_index = -1;   // PreScore: the same plugin's Score entry
  };

  Framework(FrameworkHost* host, ThreadPool* pool, ParallelLoop* loop)
      : host_(host), pool_(pool), loop_(loop) {}

  // Runs the active filters on one node; false (with the status stored at
  // `pos`) when it does not fit.
  bool FilterNode(const CycleState& state, const PodInfo& pod, const NodeInfo& node, int pos);
  // Filters with the nominated pods of `node` added first (slow path).
  PluginStatus FilterWithNominated(const CycleState& state, const PodInfo& pod,
                                   const NodeInfo& node,
                                   const std::vector<std::shared_ptr<const PodInfo>>& nominated,
                                   int* rejector);
  PluginStatus RunActiveFilters(const CycleState& state, const PodInfo& pod, const NodeInfo& node,
                                int* rejector) const;
  // Runs fn(begin, end) over [0, n) in chunks on the workers and the
  // calling thread; inline when `parallel_n` is not more than one chunk or
  // there are no workers.
  // Filter or Score calls from which a cycle's loop goes to the workers.
  int64_t MinParallelCalls() const;
  template <typename Fn>
  void ForChunks(int parallel_n, int n, int chunk, Fn&& fn,
                 ParallelLoop::Order order = ParallelLoop::Order::kInOrder);
  void BuildFailure(const PodInfo& pod, int evaluated_positions,
                    const std::vector<const NodeInfo*>* candidates, AlgorithmResult& result);

  FrameworkHost* const host_;
  ThreadPool* const pool_;
  ParallelLoop* const loop_;
  std::string scheduler_name_;
  int32_t percentage_of_nodes_to_score_ = 0;
  const Snapshot* snapshot_ = nullptr;
  absl::flat_hash_map<std::string, StateKey> state_keys_;

  std::vector<std::unique_ptr<Plugin>> plugins_;
  const QueueSortPlugin* queue_sort_ = nullptr;
  std::string queue_sort_name_;
  std::vector<Entry<PreEnqueuePlugin>> pre_enqueues_;
  std::vector<Entry<PreFilterPlugin>> pre_filters_;
  std::vector<Entry<FilterPlugin>> filters_;
  std::vector<Entry<PostFilterPlugin>> post_filters_;
  std::vector<Entry<PreScorePlugin>> pre_scores_;
  std::vector<Entry<ScorePlugin>> scores_;
  std::vector<Entry<ReservePlugin>> reserves_;
  std::vector<Entry<PermitPlugin>> permits_;
  std::vector<Entry<PreBindPlugin>> pre_binds_;
  std::vector<Entry<BindPlugin>> binds_;
  std::vector<Entry<PostBindPlugin>> post_binds_;

  // Per-cycle buffers, kept between cycles so that a cycle allocates
  // nothing per node.
  int next_start_index_ = 0;
  std::vector<int> active_filters_;
  std::vector<int> active_scores_;
  std::vector<uint8_t> skip_filter_;
  std::vector<uint8_t> skip_score_;
  std::vector<uint8_t> node_result_;  // per position: 0 not evaluated, 1 fits, 2 rejected
  std::vector<PluginStatus> node_status_;
  std::vector<int16_t> node_rejector_;
  std::vector<const NodeInfo*> candidates_;
  std::vector<const NodeInfo*> feasible_;
  std::vector<NodeScore> node_scores_;
  std::vector<int64_t> totals_;
  absl::flat_hash_map<std::string, std::vector<std::shared_ptr<const PodInfo>>> nominated_;
};

}  // namespace korch::scheduler::internal

#endif  // KORCH_LIB_SCHEDULER_FRAMEWORK_RUNTIME_H_
