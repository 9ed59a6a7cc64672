#include "korch/scheduler/scheduler.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <random>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "korch/base/status.h"
#include "korch/base/thread_pool.h"
#include "scheduler/cache.h"
#include "scheduler/framework_runtime.h"
#include "scheduler/queue.h"

namespace korch::scheduler {

std::string FitError::Message() const {
  std::string out = absl::StrCat("0/", num_all_nodes, " nodes are available:");
  if (!pre_filter_message.empty()) {
    absl::StrAppend(&out, " ", pre_filter_message, ".");
  } else if (!reasons.empty()) {
    std::vector<std::string> counted;
    counted.reserve(reasons.size());
    for (const auto& [reason, count] : reasons) counted.push_back(absl::StrCat(count, " ", reason));
    std::sort(counted.begin(), counted.end());
    absl::StrAppend(&out, " ", absl::StrJoin(counted, ", "), ".");
  }
  if (!post_filter_message.empty()) absl::StrAppend(&out, " ", post_filter_message, ".");
  return out;
}

namespace {

using internal::Cache;
using internal::Framework;
using internal::Nominator;
using internal::ParallelLoop;
using internal::PodKeyOf;
using internal::SchedulingQueue;

class SchedulerImpl;

// A pod held at Permit until every waiting plugin allows it, one rejects
// it, or a plugin's timeout passes.
class WaitingPodImpl final : public WaitingPod {
 public:
  WaitingPodImpl(std::shared_ptr<const PodInfo> pod, std::string node,
                 const std::vector<internal::PermitWait>& waits, absl::Time now,
                 std::function<void(WaitingPodImpl*)> on_resolved)
      : pod_(std::move(pod)), node_(std::move(node)), on_resolved_(std::move(on_resolved)) {
    for (const auto& w : waits) {
      Pending p;
      p.deadline = now + w.timeout;
      p.timeout = w.timeout;
      pending_[w.plugin] = p;
    }
  }

  const PodInfo& pod() const override { return *pod_; }
  const std::string& node_name() const override { return node_; }
  std::vector<std::string> PendingPlugins() const override {
    absl::MutexLock l(&mu_);
    std::vector<std::string> out;
    for (const auto& [name, p] : pending_) out.push_back(name);
    std::sort(out.begin(), out.end());
    return out;
  }
  void Allow(absl::string_view plugin) override {
    {
      absl::MutexLock l(&mu_);
      if (resolved_) return;
      pending_.erase(plugin);
      if (!pending_.empty()) return;
      resolved_ = true;
      allowed_ = true;
    }
    on_resolved_(this);
  }
  void Reject(absl::string_view plugin, std::string message) override {
    {
      absl::MutexLock l(&mu_);
      if (resolved_) return;
      resolved_ = true;
      rejected_by_ = std::string(plugin);
      message_ = std::move(message);
    }
    on_resolved_(this);
  }
  // Rejects the pod when a pending plugin's timeout passed.
  void Expire(absl::Time now) {
    std::string plugin;
    absl::Duration waited;
    {
      absl::MutexLock l(&mu_);
      if (resolved_) return;
      for (const auto& [name, p] : pending_) {
        if (p.deadline <= now) {
          plugin = name;
          waited = p.timeout;
          break;
        }
      }
    }
    if (plugin.empty()) return;
    Reject(plugin, absl::StrCat("rejected due to timeout after waiting ",
                                absl::FormatDuration(waited), " at plugin ", plugin));
  }
  absl::Time Deadline() const {
    absl::MutexLock l(&mu_);
    absl::Time d = absl::InfiniteFuture();
    if (resolved_) return d;
    for (const auto& [name, p] : pending_) d = std::min(d, p.deadline);
    return d;
  }
  bool allowed() const {
    absl::MutexLock l(&mu_);
    return allowed_;
  }
  std::string rejected_by() const {
    absl::MutexLock l(&mu_);
    return rejected_by_;
  }
  std::string message() const {
    absl::MutexLock l(&mu_);
    return message_;
  }

 private:
  struct Pending {
    absl::Time deadline;
    absl::Duration timeout;
  };
  const std::shared_ptr<const PodInfo> pod_;
  const std::string node_;
  const std::function<void(WaitingPodImpl*)> on_resolved_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Pending> pending_ ABSL_GUARDED_BY(mu_);
  bool resolved_ ABSL_GUARDED_BY(mu_) = false;
  bool allowed_ ABSL_GUARDED_BY(mu_) = false;
  std::string rejected_by_ ABSL_GUARDED_BY(mu_);
  std::string message_ ABSL_GUARDED_BY(mu_);
};

// A scheduled pod on its way to being bound.
struct BindingTask {
  Framework* fw = nullptr;
  std::unique_ptr<CycleState> state;
  std::shared_ptr<const PodInfo> pod;      // as given
  std::shared_ptr<const PodInfo> assumed;  // with spec.nodeName
  std::string node;
  std::string key;
  std::unique_ptr<QueuedPodInfo> qpi;  // null for direct Schedule() calls
  std::shared_ptr<WaitingPodImpl> waiting;
};

// With no ClusterActions from the host: bind and evict in the cache.
class BuiltinActions final : public ClusterActions {
 public:
  explicit BuiltinActions(SchedulerImpl* scheduler) : scheduler_(scheduler) {}
  absl::Status Bind(const api::Pod& pod, const std::string& node_name) override;
  absl::Status Evict(const api::Pod& victim, const std::string& message) override;
  absl::Status SetNominatedNode(const api::Pod& pod, const std::string& node_name) override {
    return absl::OkStatus();  // the scheduler's nominator has it already
  }

 private:
  SchedulerImpl* const scheduler_;
};

class SchedulerImpl final : public Scheduler, public internal::FrameworkHost {
 public:
  explicit SchedulerImpl(SchedulerOptions options);
  ~SchedulerImpl() override;
  absl::Status Init();

  absl::Status AddNode(const api::Node& node) override;
  absl::Status UpdateNode(const api::Node& node) override;
  absl::Status RemoveNode(absl::string_view name) override;
  absl::Status AddPod(const api::Pod& pod) override;
  absl::Status UpdatePod(const api::Pod& pod) override;
  absl::Status AddSharedPod(std::shared_ptr<const api::Pod> pod) override;
  absl::Status UpdateSharedPod(std::shared_ptr<const api::Pod> pod) override;
  absl::Status RemovePod(const api::Pod& pod) override;
  absl::Status UpsertNamespace(const api::Namespace& ns) override;
  absl::Status RemoveNamespace(absl::string_view name) override;
  absl::Status UpsertService(const api::Service& service) override;
  absl::Status UpsertReplicaSet(const api::ReplicaSet& replica_set) override;
  absl::Status UpsertStatefulSet(const api::StatefulSet& stateful_set) override;
  absl::Status RemoveWorkload(absl::string_view kind, absl::string_view ns,
                              absl::string_view name) override;

  absl::StatusOr<ScheduleResult> Schedule(const api::Pod& pod) override;
  absl::StatusOr<ScheduleResult> Schedule(std::shared_ptr<const api::Pod> pod) override;
  std::vector<absl::StatusOr<ScheduleResult>> ScheduleBatch(
      absl::Span<const api::Pod> pods) override;
  absl::StatusOr<ScheduleResult> Evaluate(const api::Pod& pod) override;
  bool ScheduleNext() override;
  int64_t RunUntilIdle(int64_t max_pods) override;
  absl::Status Start() override;
  void Stop() override;
  void WaitForBindings() override;
  SchedulerStats Stats() const override;
  std::string NodeOf(const api::Pod& pod) const override;

  // FrameworkHost.
  Clock& clock() override { return *clock_; }
  ClusterActions& actions() override { return *actions_; }
  const Nominator& nominator() const override { return nominator_; }
  WaitingPod* GetWaitingPod(const std::string& uid) override;
  void IterateOverWaitingPods(const std::function<void(WaitingPod&)>& fn) override;
  std::vector<api::Selector> OwnerSelectors(const api::Pod& pod) const override;

  Cache& cache() { return cache_; }
  absl::Status RemovePodByKey(const std::string& key);

 private:
  Framework* FrameworkFor(const std::string& scheduler_name) const {
    auto it = by_name_.find(scheduler_name);
    return it == by_name_.end() ? nullptr : it->second;
  }
  absl::StatusOr<std::shared_ptr<const PodInfo>> Digest(const api::Pod& pod) const;
  absl::StatusOr<std::shared_ptr<const PodInfo>> Digest(std::shared_ptr<const api::Pod> pod) const;
  // AddPod() and UpdatePod() after the phase check and the digest.
  absl::Status AddDigested(std::shared_ptr<const PodInfo> info);
  absl::Status UpdateDigested(std::shared_ptr<const PodInfo> info);
  absl::StatusOr<std::shared_ptr<const PodInfo>> DigestUnbound(
      std::shared_ptr<const api::Pod> pod) const;
  absl::StatusOr<ScheduleResult> RunCycle(std::shared_ptr<const PodInfo> pod,
                                          std::unique_ptr<QueuedPodInfo> qpi, bool evaluate_only)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(cycle_mu_);
  void ScheduleQueued(std::unique_ptr<QueuedPodInfo> qpi) ABSL_EXCLUSIVE_LOCKS_REQUIRED(cycle_mu_);
  // A failed attempt: back to the queue (if it came from there), counted,
  // and told to the observer.
  void Fail(const PodInfo& pod, std::unique_ptr<QueuedPodInfo> qpi, const ScheduleResult& result,
            const absl::Status& status, const absl::flat_hash_set<std::string>& rejectors);
  absl::Status RunBindingCycle(BindingTask task);
  void StartBinding(BindingTask task);
  void OnWaitingResolved(WaitingPodImpl* wp);
  void ExpireWaitingPods();
  absl::Time NextWaitingDeadline() const;
  void SchedulingLoop();
  void BindingLoop();
  // The binding threads after the first: binding cycles only (the first
  // also expires pods waiting at Permit).
  void BindingWorker();
  // `except`: a pod the event must not move (the one that caused it).
  void AssignedPodEvent(uint32_t event, absl::string_view except = "") {
    queue_->MoveAllToActiveOrBackoff(event, except);
  }

  SchedulerOptions options_;
  Clock* const clock_;
  BuiltinActions builtin_actions_;
  ClusterActions* const actions_;
  Cache cache_;
  Nominator nominator_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<ParallelLoop> loop_;
  std::vector<std::unique_ptr<Framework>> frameworks_;
  absl::flat_hash_map<std::string, Framework*> by_name_;
  std::unique_ptr<SchedulingQueue> queue_;

  absl::Mutex cycle_mu_;
  Snapshot snapshot_ ABSL_GUARDED_BY(cycle_mu_);
  std::mt19937_64 rng_ ABSL_GUARDED_BY(cycle_mu_);

  mutable absl::Mutex waiting_mu_;
  absl::flat_hash_map<std::string, BindingTask> waiting_ ABSL_GUARDED_BY(waiting_mu_);

  mutable absl::Mutex workloads_mu_;
  // namespace -> "kind/name" -> selector.
  absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, api::Selector>> workloads_
      ABSL_GUARDED_BY(workloads_mu_);

  absl::Mutex bind_mu_;
  std::deque<BindingTask> bind_queue_ ABSL_GUARDED_BY(bind_mu_);
  int64_t bindings_in_progress_ ABSL_GUARDED_BY(bind_mu_) = 0;
  bool bind_wake_ ABSL_GUARDED_BY(bind_mu_) = false;
  bool bind_stop_ ABSL_GUARDED_BY(bind_mu_) = false;

  absl::Mutex run_mu_;
  bool running_ ABSL_GUARDED_BY(run_mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(run_mu_) = false;
  std::thread scheduling_thread_;
  std::thread binding_thread_;
  std::vector<std::thread> binding_workers_;

  std::atomic<int64_t> scheduled_{0};
  std::atomic<int64_t> failed_{0};
};

absl::Status BuiltinActions::Bind(const api::Pod& pod, const std::string& node_name) {
  return scheduler_->cache().ConfirmPod(PodKeyOf(pod));
}

absl::Status BuiltinActions::Evict(const api::Pod& victim, const std::string& message) {
  return scheduler_->RemovePodByKey(PodKeyOf(victim));
}

// ---------------------------------------------------------------------------
// Creation
// ---------------------------------------------------------------------------

SchedulerImpl::SchedulerImpl(SchedulerOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : RealClock().get()),
      builtin_actions_(this),
      actions_(options_.actions != nullptr ? options_.actions : &builtin_actions_),
      cache_(clock_) {
  uint64_t seed = options_.seed;
  if (seed == 0)
    seed = (static_cast<uint64_t>(std::random_device()()) << 32) ^ std::random_device()();
  rng_.seed(seed);
}

absl::Status SchedulerImpl::Init() {
  const SchedulerConfiguration& config = options_.config;
  if (config.profiles.empty()) {
    return absl::InvalidArgumentError("profiles: Required value: at least one profile");
  }
  if (options_.binding_threads < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "binding_threads: Invalid value: ", options_.binding_threads, ": must be at least 1"));
  }
  if (config.parallelism < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("parallelism: Invalid value: ", config.parallelism, ": must be at least 1"));
  }
  // More threads than CPUs only make the Filter and Score loops wait for
  // preempted workers (Kubernetes' 16 are goroutines on GOMAXPROCS threads).
  const int threads = std::min<int>(
      config.parallelism, std::max(1, static_cast<int>(std::thread::hardware_concurrency())));
  if (threads > 1) {
    pool_ = std::make_unique<ThreadPool>(threads - 1);
    loop_ = std::make_unique<ParallelLoop>(threads - 1, options_.worker_spin);
  }
  Registry in_tree;
  const Registry* registry = options_.registry;
  if (registry == nullptr) {
    in_tree = NewInTreeRegistry();
    registry = &in_tree;
  }
  for (size_t i = 0; i < config.profiles.size(); ++i) {
    const Profile& profile = config.profiles[i];
    if (by_name_.contains(profile.scheduler_name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "profiles[", i, "].schedulerName: Duplicate value: \"", profile.scheduler_name, "\""));
    }
    KORCH_ASSIGN_OR_RETURN(
        std::unique_ptr<Framework> fw,
        Framework::Create(profile, config, *registry, this, pool_.get(), loop_.get()));
    if (!frameworks_.empty() && fw->queue_sort_name() != frameworks_[0]->queue_sort_name()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "profiles[", i, "].plugins.queueSort: Invalid value: \"", fw->queue_sort_name(),
          "\": every profile must use the same queue sort plugin (\"",
          frameworks_[0]->queue_sort_name(), "\")"));
    }
    by_name_[profile.scheduler_name] = fw.get();
    frameworks_.push_back(std::move(fw));
  }
  internal::QueueOptions qo;
  qo.clock = clock_;
  qo.initial_backoff = config.pod_initial_backoff;
  qo.max_backoff = config.pod_max_backoff;
  const QueueSortPlugin* sort = frameworks_[0]->queue_sort();
  qo.less = [sort](const QueuedPodInfo& a, const QueuedPodInfo& b) { return sort->Less(a, b); };
  qo.pre_enqueue = [this](const PodInfo& pod) {
    Framework* fw = FrameworkFor(pod.scheduler_name());
    return fw != nullptr ? fw->RunPreEnqueue(pod) : PluginStatus();
  };
  queue_ = std::make_unique<SchedulingQueue>(std::move(qo));
  if (options_.async_binding) {
    binding_thread_ = std::thread([this] { BindingLoop(); });
    for (int32_t i = 1; i < options_.binding_threads; ++i) {
      binding_workers_.emplace_back([this] { BindingWorker(); });
    }
  }
  return absl::OkStatus();
}

SchedulerImpl::~SchedulerImpl() { Stop(); }

// ---------------------------------------------------------------------------
// Cluster state
// ---------------------------------------------------------------------------

absl::StatusOr<std::shared_ptr<const PodInfo>> SchedulerImpl::Digest(const api::Pod& pod) const {
  return Digest(std::make_shared<const api::Pod>(pod));
}

absl::StatusOr<std::shared_ptr<const PodInfo>> SchedulerImpl::Digest(
    std::shared_ptr<const api::Pod> pod) const {
  // `pod` stays ours for the message: a failed Create drops its copy.
  absl::StatusOr<std::shared_ptr<const PodInfo>> info = PodInfo::Create(pod);
  if (!info.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("pod ", pod->metadata().namespace_(), "/",
                                                   pod->metadata().name(), ": ",
                                                   info.status().message()));
  }
  return info;
}

absl::Status SchedulerImpl::AddNode(const api::Node& node) {
  KORCH_RETURN_IF_ERROR(cache_.AddNode(std::make_shared<const api::Node>(node)));
  queue_->MoveAllToActiveOrBackoff(internal::kNodeAdd);
  return absl::OkStatus();
}

absl::Status SchedulerImpl::UpdateNode(const api::Node& node) {
  absl::Status s = cache_.UpdateNode(std::make_shared<const api::Node>(node));
  if (absl::IsNotFound(s)) return AddNode(node);
  KORCH_RETURN_IF_ERROR(s);
  queue_->MoveAllToActiveOrBackoff(internal::kNodeUpdate);
  return absl::OkStatus();
}

absl::Status SchedulerImpl::RemoveNode(absl::string_view name) {
  KORCH_RETURN_IF_ERROR(cache_.RemoveNode(name));
  queue_->MoveAllToActiveOrBackoff(internal::kNodeDelete);
  return absl::OkStatus();
}

absl::Status SchedulerImpl::AddPod(const api::Pod& pod) {
  const std::string& phase = pod.status().phase();
  if (phase == "Succeeded" || phase == "Failed") return RemovePod(pod);
  KORCH_ASSIGN_OR_RETURN(std::shared_ptr<const PodInfo> info, Digest(pod));
  return AddDigested(std::move(info));
}

absl::Status SchedulerImpl::AddSharedPod(std::shared_ptr<const api::Pod> pod) {
  const std::string& phase = pod->status().phase();
  if (phase == "Succeeded" || phase == "Failed") return RemovePod(*pod);
  KORCH_ASSIGN_OR_RETURN(std::shared_ptr<const PodInfo> info, Digest(std::move(pod)));
  return AddDigested(std::move(info));
}

absl::Status SchedulerImpl::AddDigested(std::shared_ptr<const PodInfo> info) {
  const api::Pod& pod = info->pod();
  std::string key = PodKeyOf(*info);
  if (!info->node_name().empty()) {
    queue_->Delete(key);
    nominator_.Delete(key);
    // Confirming a pod assumed on that node changes nothing others see.
    bool confirm = cache_.IsAssumed(key) && cache_.NodeOf(key) == info->node_name();
    bool known = cache_.Contains(key);
    KORCH_RETURN_IF_ERROR(cache_.AddPod(info));
    if (!confirm) {
      AssignedPodEvent(known ? internal::kAssignedPodUpdate : internal::kAssignedPodAdd);
    }
    return absl::OkStatus();
  }
  // Assumed and being bound: the bound version will follow.
  if (cache_.Contains(key)) return absl::OkStatus();
  // Another scheduler's pod.
  if (FrameworkFor(info->scheduler_name()) == nullptr) return absl::OkStatus();
  if (!pod.status().nominated_node_name().empty()) {
    nominator_.Add(info, pod.status().nominated_node_name());
  }
  queue_->Add(std::move(info));
  return absl::OkStatus();
}

absl::Status SchedulerImpl::UpdatePod(const api::Pod& pod) {
  const std::string& phase = pod.status().phase();
  if (phase == "Succeeded" || phase == "Failed") return RemovePod(pod);
  KORCH_ASSIGN_OR_RETURN(std::shared_ptr<const PodInfo> info, Digest(pod));
  return UpdateDigested(std::move(info));
}

absl::Status SchedulerImpl::UpdateSharedPod(std::shared_ptr<const api::Pod> pod) {
  const std::string& phase = pod->status().phase();
  if (phase == "Succeeded" || phase == "Failed") return RemovePod(*pod);
  KORCH_ASSIGN_OR_RETURN(std::shared_ptr<const PodInfo> info, Digest(std::move(pod)));
  return UpdateDigested(std::move(info));
}

absl::Status SchedulerImpl::UpdateDigested(std::shared_ptr<const PodInfo> info) {
  const api::Pod& pod = info->pod();
  std::string key = PodKeyOf(*info);
  // A bound pod: as an add (the phase was checked).
  if (!info->node_name().empty()) return AddDigested(std::move(info));
  if (cache_.Contains(key)) return absl::OkStatus();
  if (FrameworkFor(info->scheduler_name()) == nullptr) return absl::OkStatus();
  if (!pod.status().nominated_node_name().empty()) {
    nominator_.Add(info, pod.status().nominated_node_name());
  } else {
    nominator_.Update(info);
  }
  queue_->Update(std::move(info));
  return absl::OkStatus();
}

absl::Status SchedulerImpl::RemovePodByKey(const std::string& key) {
  queue_->Delete(key);
  nominator_.Delete(key);
  std::shared_ptr<WaitingPodImpl> waiting;
  {
    absl::MutexLock l(&waiting_mu_);
    auto it = waiting_.find(key);
    if (it != waiting_.end()) waiting = it->second.waiting;
  }
  if (waiting != nullptr) waiting->Reject("", "pod was deleted");
  if (cache_.RemovePod(key).ok()) AssignedPodEvent(internal::kAssignedPodDelete);
  return absl::OkStatus();
}

absl::Status SchedulerImpl::RemovePod(const api::Pod& pod) { return RemovePodByKey(PodKeyOf(pod)); }

absl::Status SchedulerImpl::UpsertNamespace(const api::Namespace& ns) {
  cache_.UpsertNamespace(ns.metadata().name(), ns.metadata().labels());
  queue_->MoveAllToActiveOrBackoff(internal::kNamespaceChange);
  return absl::OkStatus();
}

absl::Status SchedulerImpl::RemoveNamespace(absl::string_view name) {
  cache_.RemoveNamespace(name);
  return absl::OkStatus();
}

absl::Status SchedulerImpl::UpsertService(const api::Service& service) {
  const auto& m = service.metadata();
  std::string key = absl::StrCat("Service/", m.name());
  absl::MutexLock l(&workloads_mu_);
  if (service.spec().selector().empty()) {
    // A Service without a selector selects no pod.
    auto it = workloads_.find(m.namespace_());
    if (it != workloads_.end()) it->second.erase(key);
    return absl::OkStatus();
  }
  KORCH_ASSIGN_OR_RETURN(api::Selector selector, api::Selector::FromSet(service.spec().selector()));
  workloads_[m.namespace_()].insert_or_assign(key, std::move(selector));
  return absl::OkStatus();
}

absl::Status SchedulerImpl::UpsertReplicaSet(const api::ReplicaSet& rs) {
  KORCH_ASSIGN_OR_RETURN(
      api::Selector selector,
      api::Selector::FromProto(rs.spec().selector(), api::FieldPath("spec.selector")));
  absl::MutexLock l(&workloads_mu_);
  workloads_[rs.metadata().namespace_()].insert_or_assign(
      absl::StrCat("ReplicaSet/", rs.metadata().name()), std::move(selector));
  return absl::OkStatus();
}

absl::Status SchedulerImpl::UpsertStatefulSet(const api::StatefulSet& ss) {
  KORCH_ASSIGN_OR_RETURN(
      api::Selector selector,
      api::Selector::FromProto(ss.spec().selector(), api::FieldPath("spec.selector")));
  absl::MutexLock l(&workloads_mu_);
  workloads_[ss.metadata().namespace_()].insert_or_assign(
      absl::StrCat("StatefulSet/", ss.metadata().name()), std::move(selector));
  return absl::OkStatus();
}

absl::Status SchedulerImpl::RemoveWorkload(absl::string_view kind, absl::string_view ns,
                                           absl::string_view name) {
  if (kind != "Service" && kind != "ReplicaSet" && kind != "StatefulSet") {
    return absl::InvalidArgumentError(
        absl::StrCat("kind: Unsupported value: \"", kind,
                     "\": supported values: \"Service\", \"ReplicaSet\", "
                     "\"StatefulSet\""));
  }
  absl::MutexLock l(&workloads_mu_);
  auto it = workloads_.find(ns);
  if (it == workloads_.end() || it->second.erase(absl::StrCat(kind, "/", name)) == 0) {
    return absl::NotFoundError(absl::StrCat(kind, " ", ns, "/", name, " is not known"));
  }
  if (it->second.empty()) workloads_.erase(it);
  return absl::OkStatus();
}

std::vector<api::Selector> SchedulerImpl::OwnerSelectors(const api::Pod& pod) const {
  std::vector<api::Selector> out;
  absl::MutexLock l(&workloads_mu_);
  auto it = workloads_.find(pod.metadata().namespace_());
  if (it == workloads_.end()) return out;
  for (const auto& [key, selector] : it->second) {
    if (selector.Matches(pod.metadata().labels())) out.push_back(selector);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Waiting pods
// ---------------------------------------------------------------------------

WaitingPod* SchedulerImpl::GetWaitingPod(const std::string& uid) {
  absl::MutexLock l(&waiting_mu_);
  auto it = waiting_.find(uid);
  return it == waiting_.end() ? nullptr : it->second.waiting.get();
}

void SchedulerImpl::IterateOverWaitingPods(const std::function<void(WaitingPod&)>& fn) {
  std::vector<std::shared_ptr<WaitingPodImpl>> pods;
  {
    absl::MutexLock l(&waiting_mu_);
    for (auto& [key, task] : waiting_) pods.push_back(task.waiting);
  }
  for (auto& p : pods) fn(*p);
}

void SchedulerImpl::ExpireWaitingPods() {
  std::vector<std::shared_ptr<WaitingPodImpl>> pods;
  {
    absl::MutexLock l(&waiting_mu_);
    if (waiting_.empty()) return;
    for (auto& [key, task] : waiting_) pods.push_back(task.waiting);
  }
  absl::Time now = clock_->Now();
  for (auto& p : pods) p->Expire(now);
}

absl::Time SchedulerImpl::NextWaitingDeadline() const {
  absl::MutexLock l(&waiting_mu_);
  absl::Time d = absl::InfiniteFuture();
  for (const auto& [key, task] : waiting_) d = std::min(d, task.waiting->Deadline());
  return d;
}

void SchedulerImpl::OnWaitingResolved(WaitingPodImpl* wp) {
  BindingTask task;
  {
    absl::MutexLock l(&waiting_mu_);
    auto it = waiting_.find(PodKeyOf(wp->pod()));
    if (it == waiting_.end() || it->second.waiting.get() != wp) return;
    task = std::move(it->second);
    waiting_.erase(it);
  }
  if (wp->allowed()) {
    StartBinding(std::move(task));
    return;
  }
  // Rejected (by a plugin, a timeout, Stop() or the pod's removal).
  task.fw->RunUnreserve(*task.state, *task.assumed, task.node);
  cache_.ForgetPod(task.key).IgnoreError();
  ScheduleResult result;
  absl::flat_hash_set<std::string> rejectors;
  if (!wp->rejected_by().empty()) rejectors.insert(wp->rejected_by());
  Fail(*task.pod, std::move(task.qpi), result,
       absl::AbortedError(
           absl::StrCat("pod ", task.pod->key(), " rejected at Permit: ", wp->message())),
       rejectors);
  // What the pod held on the node is free again.
  AssignedPodEvent(internal::kAssignedPodDelete, task.key);
}

// ---------------------------------------------------------------------------
// Scheduling cycles
// ---------------------------------------------------------------------------

void SchedulerImpl::Fail(const PodInfo& pod, std::unique_ptr<QueuedPodInfo> qpi,
                         const ScheduleResult& result, const absl::Status& status,
                         const absl::flat_hash_set<std::string>& rejectors) {
  failed_.fetch_add(1, std::memory_order_relaxed);
  if (qpi != nullptr) {
    const bool error = !status.ok() && !absl::IsAborted(status);
    qpi->unschedulable_plugins = rejectors;
    queue_->AddUnschedulable(std::move(qpi), error);
  }
  if (options_.observer != nullptr) options_.observer->OnFailed(pod.pod(), result, status);
}

absl::StatusOr<ScheduleResult> SchedulerImpl::RunCycle(std::shared_ptr<const PodInfo> pod,
                                                       std::unique_ptr<QueuedPodInfo> qpi,
                                                       bool evaluate_only) {
  Framework* fw = FrameworkFor(pod->scheduler_name());
  if (fw == nullptr) {
    absl::Status s = absl::FailedPreconditionError(absl::StrCat(
        "pod ", pod->key(), ": no profile has schedulerName \"", pod->scheduler_name(), "\""));
    if (qpi != nullptr) queue_->Done(PodKeyOf(*pod));
    return s;
  }
  cache_.CleanupExpiredAssumedPods();
  cache_.UpdateSnapshot(snapshot_);
  fw->set_snapshot(&snapshot_);
  auto state = std::make_unique<CycleState>();
  // The node an earlier preemption nominated: from the pod's status (set
  // through the API) or the scheduler's own nominator (embedded).
  std::string nominated = pod->pod().status().nominated_node_name();
  if (nominated.empty()) nominated = nominator_.NodeOf(PodKeyOf(*pod));
  internal::AlgorithmResult ar = fw->RunAlgorithm(*state, *pod, nominated, rng_);
  ScheduleResult result;
  result.evaluated_nodes = ar.evaluated_nodes;
  result.feasible_nodes = ar.feasible_nodes;
  if (!ar.error.ok()) {
    if (!evaluate_only) Fail(*pod, std::move(qpi), result, ar.error, {});
    return ar.error;
  }
  if (ar.fit_error.has_value()) {
    result.fit_error = std::move(ar.fit_error);
    if (evaluate_only) return result;
    if (fw->HasPostFilter()) {
      PostFilterResult pf = fw->RunPostFilter(*state, *pod, ar.statuses);
      if (pf.status.ok() && !pf.nominated_node_name.empty()) {
        result.nominated_node_name = pf.nominated_node_name;
        nominator_.Add(pod, pf.nominated_node_name);
        if (actions_ != &builtin_actions_) {
          actions_->SetNominatedNode(pod->pod(), pf.nominated_node_name).IgnoreError();
        }
      } else if (!pf.status.reasons().empty() && !pf.status.reasons()[0].empty()) {
        result.fit_error->post_filter_message = absl::StrJoin(pf.status.reasons(), ", ");
      }
    }
    Fail(*pod, std::move(qpi), result, absl::OkStatus(), ar.rejectors);
    return result;
  }
  const std::string& node = ar.node->name();
  result.node_name = node;
  if (evaluate_only) return result;

  // Assume: the pod counts on the node from now on.
  BindingTask task;
  task.fw = fw;
  task.pod = pod;
  task.assumed = pod->WithNodeName(node);
  task.node = node;
  task.key = PodKeyOf(*pod);
  absl::Status assumed = cache_.AssumePod(task.assumed);
  if (!assumed.ok()) {
    result.node_name.clear();
    Fail(*pod, std::move(qpi), result, assumed, {});
    return assumed;
  }
  nominator_.Delete(task.key);

  PluginStatus s = fw->RunReserve(*state, *task.assumed, node);
  if (!s.ok()) {
    cache_.ForgetPod(task.key).IgnoreError();
    result.node_name.clear();
    absl::Status status = s.IsRejected()
                              ? absl::AbortedError(absl::StrCat("running Reserve plugin \"",
                                                                s.plugin(), "\": ", s.ToString()))
                              : absl::InternalError(absl::StrCat("running Reserve plugin \"",
                                                                 s.plugin(), "\": ", s.ToString()));
    absl::flat_hash_set<std::string> rejectors;
    if (s.IsRejected()) rejectors.insert(s.plugin());
    Fail(*pod, std::move(qpi), result, status, rejectors);
    return status;
  }
  std::vector<internal::PermitWait> waits;
  s = fw->RunPermit(*state, *task.assumed, node, waits);
  if (!s.ok() && s.code() != Code::kWait) {
    fw->RunUnreserve(*state, *task.assumed, node);
    cache_.ForgetPod(task.key).IgnoreError();
    result.node_name.clear();
    absl::Status status = s.IsRejected()
                              ? absl::AbortedError(absl::StrCat(
                                    "pod ", pod->key(), " rejected at Permit: ", s.ToString()))
                              : absl::InternalError(absl::StrCat("running Permit plugin \"",
                                                                 s.plugin(), "\": ", s.ToString()));
    absl::flat_hash_set<std::string> rejectors;
    if (s.IsRejected()) rejectors.insert(s.plugin());
    Fail(*pod, std::move(qpi), result, status, rejectors);
    return status;
  }
  task.state = std::move(state);
  task.qpi = std::move(qpi);
  if (s.code() == Code::kWait) {
    auto wp = std::make_shared<WaitingPodImpl>(task.assumed, node, waits, clock_->Now(),
                                               [this](WaitingPodImpl* w) { OnWaitingResolved(w); });
    task.waiting = wp;
    {
      absl::MutexLock l(&waiting_mu_);
      waiting_[task.key] = std::move(task);
    }
    // Threads waiting on the clock recompute their deadline.
    queue_->Wake();
    {
      absl::MutexLock l(&bind_mu_);
      bind_wake_ = true;
    }
    return result;
  }
  if (options_.async_binding) {
    StartBinding(std::move(task));
    return result;
  }
  absl::Status bound = RunBindingCycle(std::move(task));
  if (!bound.ok()) return bound;
  return result;
}

void SchedulerImpl::StartBinding(BindingTask task) {
  if (!options_.async_binding) {
    RunBindingCycle(std::move(task)).IgnoreError();
    return;
  }
  absl::MutexLock l(&bind_mu_);
  ++bindings_in_progress_;
  bind_queue_.push_back(std::move(task));
  bind_wake_ = true;
}

absl::Status SchedulerImpl::RunBindingCycle(BindingTask task) {
  PluginStatus s = task.fw->RunPreBind(*task.state, *task.assumed, task.node);
  if (s.ok()) s = task.fw->RunBind(*task.state, *task.assumed, task.node);
  if (!s.ok()) {
    task.fw->RunUnreserve(*task.state, *task.assumed, task.node);
    cache_.ForgetPod(task.key).IgnoreError();
    absl::Status status =
        absl::UnavailableError(absl::StrCat("binding pod ", task.pod->key(), " to node ", task.node,
                                            ": plugin \"", s.plugin(), "\": ", s.ToString()));
    ScheduleResult result;
    Fail(*task.pod, std::move(task.qpi), result, status, {});
    // What the pod held on the node is free again.
    AssignedPodEvent(internal::kAssignedPodDelete, task.key);
    return status;
  }
  if (actions_ != &builtin_actions_) cache_.FinishBinding(task.key).IgnoreError();
  task.fw->RunPostBind(*task.state, *task.assumed, task.node);
  if (task.qpi != nullptr) queue_->Done(task.key);
  scheduled_.fetch_add(1, std::memory_order_relaxed);
  if (options_.observer != nullptr) options_.observer->OnScheduled(task.assumed->pod(), task.node);
  return absl::OkStatus();
}

void SchedulerImpl::ScheduleQueued(std::unique_ptr<QueuedPodInfo> qpi) {
  std::string key = PodKeyOf(*qpi->pod_info);
  if (cache_.Contains(key)) {
    // Scheduled meanwhile (a direct Schedule() call) or bound by someone.
    queue_->Done(key);
    return;
  }
  std::shared_ptr<const PodInfo> pod = qpi->pod_info;
  RunCycle(std::move(pod), std::move(qpi), false).IgnoreError();
}

absl::StatusOr<ScheduleResult> SchedulerImpl::Schedule(const api::Pod& pod) {
  return Schedule(std::make_shared<const api::Pod>(pod));
}

absl::StatusOr<ScheduleResult> SchedulerImpl::Schedule(std::shared_ptr<const api::Pod> pod) {
  if (pod == nullptr) return absl::InvalidArgumentError("pod: Required value");
  ExpireWaitingPods();
  KORCH_ASSIGN_OR_RETURN(std::shared_ptr<const PodInfo> info, DigestUnbound(std::move(pod)));
  absl::MutexLock l(&cycle_mu_);
  return RunCycle(std::move(info), nullptr, false);
}

absl::StatusOr<std::shared_ptr<const PodInfo>> SchedulerImpl::DigestUnbound(
    std::shared_ptr<const api::Pod> pod_ptr) const {
  const api::Pod& pod = *pod_ptr;
  if (!pod.spec().node_name().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("pod ", pod.metadata().namespace_(), "/", pod.metadata().name(),
                     " is already bound to node ", pod.spec().node_name()));
  }
  std::string node = cache_.NodeOf(PodKeyOf(pod));
  if (!node.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("pod ", pod.metadata().namespace_(), "/",
                                                      pod.metadata().name(),
                                                      " is already placed on node ", node));
  }
  return Digest(std::move(pod_ptr));
}

std::vector<absl::StatusOr<ScheduleResult>> SchedulerImpl::ScheduleBatch(
    absl::Span<const api::Pod> pods) {
  std::vector<absl::StatusOr<ScheduleResult>> out;
  out.reserve(pods.size());
  for (const api::Pod& pod : pods) out.push_back(Schedule(pod));
  return out;
}

absl::StatusOr<ScheduleResult> SchedulerImpl::Evaluate(const api::Pod& pod) {
  KORCH_ASSIGN_OR_RETURN(std::shared_ptr<const PodInfo> info,
                         DigestUnbound(std::make_shared<const api::Pod>(pod)));
  absl::MutexLock l(&cycle_mu_);
  return RunCycle(std::move(info), nullptr, true);
}

bool SchedulerImpl::ScheduleNext() {
  ExpireWaitingPods();
  absl::MutexLock l(&cycle_mu_);
  std::unique_ptr<QueuedPodInfo> qpi = queue_->Pop();
  if (qpi == nullptr) return false;
  ScheduleQueued(std::move(qpi));
  return true;
}

int64_t SchedulerImpl::RunUntilIdle(int64_t max_pods) {
  int64_t n = 0;
  while (n < max_pods && ScheduleNext()) ++n;
  return n;
}

// ---------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------

absl::Status SchedulerImpl::Start() {
  absl::MutexLock l(&run_mu_);
  if (stopped_) return absl::FailedPreconditionError("the scheduler was stopped");
  if (running_) return absl::OkStatus();
  running_ = true;
  scheduling_thread_ = std::thread([this] { SchedulingLoop(); });
  return absl::OkStatus();
}

void SchedulerImpl::SchedulingLoop() {
  for (;;) {
    ExpireWaitingPods();
    std::unique_ptr<QueuedPodInfo> qpi = queue_->PopWait(NextWaitingDeadline());
    {
      absl::MutexLock l(&run_mu_);
      if (stopped_) {
        if (qpi != nullptr) queue_->AddUnschedulable(std::move(qpi), /*error=*/true);
        return;
      }
    }
    if (qpi == nullptr) continue;
    absl::MutexLock l(&cycle_mu_);
    ScheduleQueued(std::move(qpi));
  }
}

void SchedulerImpl::BindingLoop() {
  for (;;) {
    ExpireWaitingPods();
    absl::Time deadline = NextWaitingDeadline();
    BindingTask task;
    {
      absl::MutexLock l(&bind_mu_);
      if (bind_queue_.empty()) {
        if (bind_stop_) return;
        if (!bind_wake_) clock_->AwaitWithDeadline(&bind_mu_, &bind_wake_, deadline);
        bind_wake_ = false;
        continue;
      }
      task = std::move(bind_queue_.front());
      bind_queue_.pop_front();
    }
    RunBindingCycle(std::move(task)).IgnoreError();
    absl::MutexLock l(&bind_mu_);
    --bindings_in_progress_;
  }
}

void SchedulerImpl::BindingWorker() {
  for (;;) {
    BindingTask task;
    {
      absl::MutexLock l(&bind_mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(bind_mu_) {
        return !bind_queue_.empty() || bind_stop_;
      };
      bind_mu_.Await(absl::Condition(&ready));
      if (bind_queue_.empty()) return;  // stopping, nothing left
      task = std::move(bind_queue_.front());
      bind_queue_.pop_front();
    }
    RunBindingCycle(std::move(task)).IgnoreError();
    absl::MutexLock l(&bind_mu_);
    --bindings_in_progress_;
  }
}

void SchedulerImpl::Stop() {
  {
    absl::MutexLock l(&run_mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  if (queue_ != nullptr) queue_->Close();
  if (scheduling_thread_.joinable()) scheduling_thread_.join();
  // Pods held at Permit go back to the queue.
  std::vector<std::shared_ptr<WaitingPodImpl>> waiting;
  {
    absl::MutexLock l(&waiting_mu_);
    for (auto& [key, task] : waiting_) waiting.push_back(task.waiting);
  }
  for (auto& w : waiting) w->Reject("", "scheduler stopped");
  // The binding thread finishes the bindings already started.
  {
    absl::MutexLock l(&bind_mu_);
    bind_stop_ = true;
    bind_wake_ = true;
  }
  if (binding_thread_.joinable()) binding_thread_.join();
  for (std::thread& t : binding_workers_) t.join();
  binding_workers_.clear();
}

void SchedulerImpl::WaitForBindings() {
  absl::MutexLock l(&bind_mu_);
  auto done = [this]()
                  ABSL_EXCLUSIVE_LOCKS_REQUIRED(bind_mu_) { return bindings_in_progress_ == 0; };
  bind_mu_.Await(absl::Condition(&done));
}

SchedulerStats SchedulerImpl::Stats() const {
  SchedulerStats s;
  Cache::Counts c = cache_.GetCounts();
  SchedulingQueue::Counts q = queue_->GetCounts();
  s.nodes = c.nodes;
  s.pods = c.pods;
  s.assumed_pods = c.assumed_pods;
  s.active_pods = q.active;
  s.backoff_pods = q.backoff;
  s.unschedulable_pods = q.unschedulable;
  s.gated_pods = q.gated;
  s.scheduled = scheduled_.load(std::memory_order_relaxed);
  s.failed = failed_.load(std::memory_order_relaxed);
  return s;
}

std::string SchedulerImpl::NodeOf(const api::Pod& pod) const {
  return cache_.NodeOf(PodKeyOf(pod));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(SchedulerOptions options) {
  auto scheduler = std::make_unique<SchedulerImpl>(std::move(options));
  KORCH_RETURN_IF_ERROR(scheduler->Init());
  return std::unique_ptr<Scheduler>(std::move(scheduler));
}

}  // namespace korch::scheduler
