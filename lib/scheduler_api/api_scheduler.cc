#include "korch/scheduler/api_scheduler.h"

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "korch/api/apps.pb.h"
#include "korch/api/codec.h"
#include "korch/api/core.pb.h"
#include "korch/api/meta.pb.h"
#include "korch/base/status.h"
#include "korch/client/leader_election.h"
#include "nlohmann/json.hpp"

namespace korch::scheduler {
namespace {

// Kubernetes truncates event and condition messages it writes to this many
// bytes (the Event validation limit).
constexpr size_t kMaxMessageBytes = 1024;
// Deduplicated events remembered for count updates; beyond this many the
// memory is cleared (later repeats start new events).
constexpr size_t kMaxRememberedEvents = 4096;

std::string Truncate(std::string message) {
  if (message.size() <= kMaxMessageBytes) return message;
  message.resize(kMaxMessageBytes - 3);
  message += "...";
  return message;
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

api::Time ProtoTime(absl::Time t) {
  api::Time out;
  out.set_seconds(absl::ToUnixSeconds(t));
  return out;
}

std::string DefaultIdentity() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof(host), "korch-scheduler");
  }
  std::random_device rd;
  std::mt19937_64 rng((static_cast<uint64_t>(rd()) << 32) ^ rd());
  return absl::StrCat(host, "_", absl::Hex(rng(), absl::kZeroPad16));
}

bool IsAssigned(const api::Pod& pod) { return !pod.spec().node_name().empty(); }

// What an event or a status write needs of a pod, copied instead of the
// whole object for writes made later on the writer threads.
struct PodRef {
  explicit PodRef(const api::Pod& pod)
      : ns(pod.metadata().namespace_()),
        name(pod.metadata().name()),
        uid(pod.metadata().uid()),
        resource_version(pod.metadata().resource_version()),
        scheduler_name(pod.spec().scheduler_name().empty() ? "default-scheduler"
                                                           : pod.spec().scheduler_name()) {}
  std::string ns;
  std::string name;
  std::string uid;
  std::string resource_version;
  std::string scheduler_name;
};
bool IsTerminating(const api::Pod& pod) { return pod.metadata().has_deletion_timestamp(); }

const api::PodCondition* FindCondition(const api::Pod& pod, absl::string_view type) {
  for (const api::PodCondition& c : pod.status().conditions()) {
    if (c.type() == type) return &c;
  }
  return nullptr;
}

// The leaderElection block of a KubeSchedulerConfiguration, applied over
// `out`. The scheduler core's parser accepts the block and leaves it to us.
absl::Status ReadLeaderElection(absl::string_view text, ApiSchedulerLeaderElection& out) {
  absl::StatusOr<nlohmann::json> doc = api::ParseJson(text, /*reject_duplicates=*/false);
  if (!doc.ok()) {
    absl::StatusOr<std::vector<nlohmann::json>> docs = api::ParseYaml(text, false);
    if (!docs.ok()) return docs.status();
    if (docs->size() != 1) {
      return absl::InvalidArgumentError("the scheduler configuration must be one document");
    }
    doc = std::move((*docs)[0]);
  }
  if (!doc->is_object()) return absl::OkStatus();
  auto le = doc->find("leaderElection");
  if (le == doc->end() || le->is_null()) return absl::OkStatus();
  if (!le->is_object()) return absl::InvalidArgumentError("leaderElection: must be an object");
  for (const auto& [key, value] : le->items()) {
    const std::string path = absl::StrCat("leaderElection.", key);
    auto duration = [&](absl::Duration& d) -> absl::Status {
      if (!value.is_string() || !absl::ParseDuration(value.get<std::string>(), &d) ||
          d <= absl::ZeroDuration()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": want a positive duration such as \"15s\""));
      }
      return absl::OkStatus();
    };
    auto text_field = [&](std::string& s) -> absl::Status {
      if (!value.is_string() || value.get<std::string>().empty()) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": want a non-empty string"));
      }
      s = value.get<std::string>();
      return absl::OkStatus();
    };
    if (key == "leaderElect") {
      if (!value.is_boolean()) return absl::InvalidArgumentError(path + ": want true or false");
      out.enabled = value.get<bool>();
    } else if (key == "leaseDuration") {
      KORCH_RETURN_IF_ERROR(duration(out.lease_duration));
    } else if (key == "renewDeadline") {
      KORCH_RETURN_IF_ERROR(duration(out.renew_deadline));
    } else if (key == "retryPeriod") {
      KORCH_RETURN_IF_ERROR(duration(out.retry_period));
    } else if (key == "resourceName") {
      KORCH_RETURN_IF_ERROR(text_field(out.lease_name));
    } else if (key == "resourceNamespace") {
      KORCH_RETURN_IF_ERROR(text_field(out.lease_namespace));
    } else if (key == "resourceLock") {
      if (!value.is_string() || value.get<std::string>() != "leases") {
        return absl::InvalidArgumentError(path + ": only \"leases\" is supported");
      }
    } else {
      return absl::InvalidArgumentError(path + ": unknown field");
    }
  }
  return absl::OkStatus();
}

// Threads that make the API writes the scheduler must not wait for
// (events, conditions), from bounded queues. Writes about one pod go to one
// thread, in order, so that repeats of an event are counted on one Event
// and a pod's conditions are written in the order they happened.
class Writer {
 public:
  Writer(size_t max_pending, int threads)
      : max_pending_(max_pending), threads_(threads), jobs_(threads) {}
  ~Writer() { Stop(); }

  void Start() {
    absl::MutexLock lock(&mu_);
    if (started_) return;
    started_ = true;
    for (int i = 0; i < threads_; ++i) workers_.emplace_back([this, i] { Run(i); });
  }

  // Queues `job` on the thread for `shard` (e.g. the pod's uid). False when
  // max_pending writes are queued (the write is dropped) or stopping.
  bool Add(absl::string_view shard, std::function<void()> job) {
    const size_t i = absl::Hash<absl::string_view>()(shard) % jobs_.size();
    absl::MutexLock lock(&mu_);
    if (stopping_ || pending_ >= max_pending_) return false;
    jobs_[i].push_back(std::move(job));
    ++pending_;
    return true;
  }

  bool WaitIdle(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return (pending_ == 0 && busy_ == 0) || !started_;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
  }

  // Runs what is queued (for at most `drain`), then joins.
  void Stop(absl::Duration drain = absl::Seconds(5)) {
    WaitIdle(drain);
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      for (auto& q : jobs_) q.clear();
      pending_ = 0;
    }
    for (std::thread& t : workers_) t.join();
    workers_.clear();
  }

 private:
  void Run(int i) {
    while (true) {
      std::function<void()> job;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [this, i]()
                         ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_ || !jobs_[i].empty(); };
        mu_.Await(absl::Condition(&ready));
        if (stopping_) return;
        job = std::move(jobs_[i].front());
        jobs_[i].pop_front();
        --pending_;
        ++busy_;
      }
      job();
      absl::MutexLock lock(&mu_);
      --busy_;
    }
  }

  const size_t max_pending_;
  const int threads_;
  absl::Mutex mu_;
  std::vector<std::deque<std::function<void()>>> jobs_ ABSL_GUARDED_BY(mu_);
  size_t pending_ ABSL_GUARDED_BY(mu_) = 0;  // queued, not running
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int busy_ ABSL_GUARDED_BY(mu_) = 0;  // jobs running
  std::vector<std::thread> workers_;
};

class ApiSchedulerImpl;

// What the informer handlers call; detached on Stop() so that handlers of
// a borrowed informer factory (which cannot be removed) do nothing after.
struct HandlerTarget {
  absl::Mutex mu;
  ApiSchedulerImpl* impl ABSL_GUARDED_BY(mu) = nullptr;
};

class ApiSchedulerImpl final : public ApiScheduler,
                               public ClusterActions,
                               public SchedulerObserver {
 public:
  ApiSchedulerImpl(ApiSchedulerOptions options, std::string identity)
      : ApiScheduler(std::move(identity)),
        options_(std::move(options)),
        client_(*options_.client),
        clock_(options_.clock != nullptr ? options_.clock : RealClock().get()),
        log_(options_.logger),
        writer_(options_.max_pending_writes, options_.write_threads) {
    for (const Profile& p : options_.config.profiles) profiles_.insert(p.scheduler_name);
  }

  ~ApiSchedulerImpl() override { Stop(); }

  absl::StatusOr<std::shared_ptr<Scheduler>> NewScheduler() {
    SchedulerOptions so;
    so.config = options_.config;
    so.registry = options_.registry;
    so.clock = clock_;
    so.seed = options_.seed;
    so.actions = this;
    so.async_binding = true;
    so.binding_threads = options_.binding_threads;
    // Pods arrive from the API at intervals, and the API server shares the
    // CPUs: workers sleep between cycles rather than spin.
    so.worker_spin = absl::ZeroDuration();
    so.observer = this;
    KORCH_ASSIGN_OR_RETURN(std::unique_ptr<Scheduler> made, Scheduler::Create(std::move(so)));
    return std::shared_ptr<Scheduler>(std::move(made));
  }

  absl::Status Init() {
    KORCH_ASSIGN_OR_RETURN(std::shared_ptr<Scheduler> first, NewScheduler());
    {
      absl::MutexLock lock(&sched_mu_);
      scheduler_ = std::move(first);
    }
    if (options_.leader_election.enabled) {
      client::LeaderElectionOptions le;
      le.lease_namespace = options_.leader_election.lease_namespace;
      le.lease_name = options_.leader_election.lease_name;
      le.identity = identity();
      le.lease_duration = options_.leader_election.lease_duration;
      le.renew_deadline = options_.leader_election.renew_deadline;
      le.retry_period = options_.leader_election.retry_period;
      le.clock = clock_;
      le.release_on_cancel = true;
      le.on_started_leading = [this](const client::LeadershipContext& context) {
        KORCH_LOG(log_, kInfo) << identity() << " leads: scheduling";
        // A stopped Scheduler does not start again: a later term schedules
        // with a new one, filled from the informers' caches.
        if (terms_++ > 0) Rebuild();
        StartScheduling();
        context.Wait();
        StopScheduling();
        KORCH_LOG(log_, kInfo) << identity() << " stopped leading";
      };
      KORCH_ASSIGN_OR_RETURN(elector_, client::LeaderElector::Create(client_, std::move(le)));
    }
    return absl::OkStatus();
  }

  // --- ApiScheduler ----------------------------------------------------------

  absl::Status Start() override {
    {
      absl::MutexLock lock(&mu_);
      if (started_) return absl::FailedPreconditionError("the scheduler was already started");
      started_ = true;
    }
    client::SharedInformerFactory* factory = options_.informers;
    if (factory == nullptr) {
      client::SharedInformerFactory::Options fo;
      fo.clock = clock_;
      own_informers_ = std::make_unique<client::SharedInformerFactory>(client_, std::move(fo));
      factory = own_informers_.get();
    }
    target_ = std::make_shared<HandlerTarget>();
    {
      absl::MutexLock lock(&target_->mu);
      target_->impl = this;
    }
    pods_ = &factory->For<api::Pod>();
    AddHandlers(*factory);
    writer_.Start();
    factory->Start();
    if (!factory->WaitForCacheSync(options_.cache_sync_timeout)) {
      return absl::DeadlineExceededError(
          absl::StrCat("the scheduler's informers did not sync within ",
                       absl::FormatDuration(options_.cache_sync_timeout)));
    }
    KORCH_LOG(log_, kInfo) << "Caches synced; "
                           << (elector_ ? "campaigning for the lease " : "scheduling")
                           << (elector_ ? options_.leader_election.lease_namespace + "/" +
                                              options_.leader_election.lease_name
                                        : "");
    if (elector_ != nullptr) return elector_->Start();
    StartScheduling();
    return absl::OkStatus();
  }

  void Stop() override {
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    if (elector_ != nullptr) {
      elector_->Stop();  // ends the term: StopScheduling() ran
    } else {
      StopScheduling();
    }
    if (target_ != nullptr) {
      absl::MutexLock lock(&target_->mu);
      target_->impl = nullptr;
    }
    if (own_informers_ != nullptr) own_informers_->Stop();
    writer_.Stop();
  }

  bool IsLeader() const override { return scheduling_.load(); }

  bool WaitForWrites(absl::Duration timeout) override {
    const absl::Time deadline = absl::Now() + timeout;
    Current()->WaitForBindings();
    return writer_.WaitIdle(std::max(deadline - absl::Now(), absl::ZeroDuration()));
  }

  ApiSchedulerStats Stats() const override {
    ApiSchedulerStats s;
    s.scheduler = Current()->Stats();
    s.bindings = bindings_.load();
    s.binding_failures = binding_failures_.load();
    s.evictions = evictions_.load();
    s.nominations = nominations_.load();
    s.events = events_.load();
    s.condition_updates = condition_updates_.load();
    s.dropped_writes = dropped_writes_.load();
    s.write_failures = write_failures_.load();
    return s;
  }

  Scheduler& scheduler() override { return *Current(); }

  // --- ClusterActions (binding threads and PostFilter) ----------------------

  absl::Status Bind(const api::Pod& pod, const std::string& node_name) override {
    api::Binding binding;
    binding.mutable_metadata()->set_namespace_(pod.metadata().namespace_());
    binding.mutable_metadata()->set_name(pod.metadata().name());
    binding.mutable_metadata()->set_uid(pod.metadata().uid());
    binding.mutable_target()->set_kind("Node");
    binding.mutable_target()->set_name(node_name);
    client::CreateOptions co;
    co.subresource = "binding";
    auto bound = client_.Create(client_.KindOf<api::Pod>(), binding, co);
    if (!bound.ok()) {
      binding_failures_.fetch_add(1);
      KORCH_LOG(log_, kDebug) << "Binding " << pod.metadata().namespace_() << "/"
                              << pod.metadata().name() << " to " << node_name
                              << " failed: " << bound.status();
      return bound.status();
    }
    bindings_.fetch_add(1);
    return absl::OkStatus();
  }

  absl::Status Evict(const api::Pod& victim, const std::string& message) override {
    const std::string& ns = victim.metadata().namespace_();
    const std::string& name = victim.metadata().name();
    // The DisruptionTarget condition tells the victim's owner why it goes.
    nlohmann::json condition = {{"type", "DisruptionTarget"},
                                {"status", "True"},
                                {"reason", "PreemptionByScheduler"},
                                {"message", absl::StrCat(victim.spec().scheduler_name(),
                                                         ": preempting to accommodate a higher "
                                                         "priority pod")},
                                {"lastTransitionTime", Rfc3339(clock_->Now())}};
    nlohmann::json patch = {{"status", {{"conditions", nlohmann::json::array({condition})}}}};
    client::PatchOptions po;
    po.subresource = "status";
    auto patched = client_.Patch(client_.KindOf<api::Pod>(), ns, name,
                                 client::PatchType::kStrategicMerge, patch.dump(), po);
    if (!patched.ok() && absl::IsNotFound(patched.status())) return absl::OkStatus();
    client::DeleteOptions d;
    d.precondition_uid = victim.metadata().uid();
    auto deleted = client_.Delete(client_.KindOf<api::Pod>(), ns, name, d);
    if (!deleted.ok() && !absl::IsNotFound(deleted.status())) return deleted.status();
    evictions_.fetch_add(1);
    if (options_.record_events) {
      QueueWrite(victim.metadata().uid(), [this, v = PodRef(victim), message] {
        RecordEvent(v, "Normal", "Preempted", "Preempting", message);
      });
    }
    return absl::OkStatus();
  }

  absl::Status SetNominatedNode(const api::Pod& pod, const std::string& node_name) override {
    nlohmann::json value = node_name.empty() ? nlohmann::json(nullptr) : nlohmann::json(node_name);
    nlohmann::json patch = {{"status", {{"nominatedNodeName", value}}}};
    client::PatchOptions po;
    po.subresource = "status";
    auto patched =
        client_.Patch(client_.KindOf<api::Pod>(), pod.metadata().namespace_(),
                      pod.metadata().name(), client::PatchType::kMerge, patch.dump(), po);
    if (!patched.ok() && !absl::IsNotFound(patched.status())) return patched.status();
    nominations_.fetch_add(1);
    return absl::OkStatus();
  }

  // --- SchedulerObserver (scheduling and binding threads) -------------------

  void OnScheduled(const api::Pod& pod, const std::string& node_name) override {
    if (!options_.record_events) return;
    QueueWrite(pod.metadata().uid(), [this, p = PodRef(pod), node_name] {
      RecordEvent(p, "Normal", "Scheduled", "Binding",
                  absl::StrCat("Successfully assigned ", p.ns, "/", p.name, " to ", node_name));
    });
  }

  void OnFailed(const api::Pod& pod, const ScheduleResult& result,
                const absl::Status& status) override {
    std::string reason = "SchedulerError";
    std::string message;
    if (result.fit_error.has_value()) {
      reason = "Unschedulable";
      message = result.fit_error->Message();
    } else if (!status.ok()) {
      message = std::string(status.message());
    } else {
      return;
    }
    QueueWrite(pod.metadata().uid(),
               [this, p = PodRef(pod), reason, message = Truncate(std::move(message))] {
                 // The live pod, as the informer last saw it: no condition for a pod
                 // that is gone or was bound meanwhile (e.g. by another scheduler).
                 std::shared_ptr<const api::Pod> live = LivePod(p);
                 if (live == nullptr) return;
                 if (options_.record_events) {
                   RecordEvent(p, "Warning", "FailedScheduling", "Scheduling", message);
                 }
                 if (!IsAssigned(*live)) SetUnschedulableCondition(*live, reason, message);
               });
  }

  // --- Informer handlers ------------------------------------------------------

  // Whether the scheduler should know `pod`: bound pods use their node's
  // resources; unbound ones are ours to schedule when a profile matches and
  // they are not being deleted.
  bool Tracked(const api::Pod& pod) const {
    if (IsAssigned(pod)) return true;
    return !IsTerminating(pod) &&
           profiles_.contains(pod.spec().scheduler_name().empty() ? "default-scheduler"
                                                                  : pod.spec().scheduler_name());
  }

  // The informer's objects are immutable: the scheduler shares them.
  void OnPodAdd(std::shared_ptr<const api::Pod> pod) {
    if (!Tracked(*pod)) return;
    Report("adding pod", Current()->AddSharedPod(std::move(pod)));
  }
  void OnPodUpdate(const api::Pod& old_pod, std::shared_ptr<const api::Pod> pod) {
    const bool was = Tracked(old_pod), is = Tracked(*pod);
    if (!is) {
      if (was) Report("removing pod", IgnoreNotFound(Current()->RemovePod(old_pod)));
      return;
    }
    Report("updating pod", was ? Current()->UpdateSharedPod(std::move(pod))
                               : Current()->AddSharedPod(std::move(pod)));
  }
  void OnPodDelete(const api::Pod& pod) {
    Report("removing pod", IgnoreNotFound(Current()->RemovePod(pod)));
  }

  Scheduler& sched() { return *Current(); }

  std::shared_ptr<Scheduler> Current() const {
    absl::MutexLock lock(&sched_mu_);
    return scheduler_;
  }

  void Report(absl::string_view what, const absl::Status& status) {
    if (!status.ok()) {
      KORCH_LOG(log_, kWarning) << what << ": " << status;
    }
  }
  static absl::Status IgnoreNotFound(absl::Status s) {
    return absl::IsNotFound(s) ? absl::OkStatus() : s;
  }

 private:
  // Calls `fn(impl)` when the target is still attached.
  template <typename T, typename Fn>
  static std::function<void(const client::ObjectPtr&)> Call1(std::shared_ptr<HandlerTarget> target,
                                                             Fn fn) {
    return [target = std::move(target), fn](const client::ObjectPtr& o) {
      absl::ReaderMutexLock lock(&target->mu);
      if (target->impl != nullptr) fn(*target->impl, static_cast<const T&>(*o));
    };
  }
  template <typename T, typename Fn>
  static std::function<void(const client::ObjectPtr&, const client::ObjectPtr&)> Call2(
      std::shared_ptr<HandlerTarget> target, Fn fn) {
    return
        [target = std::move(target), fn](const client::ObjectPtr& a, const client::ObjectPtr& b) {
          absl::ReaderMutexLock lock(&target->mu);
          if (target->impl != nullptr) {
            fn(*target->impl, static_cast<const T&>(*a), static_cast<const T&>(*b));
          }
        };
  }

  template <typename T>
  void AddWorkloadHandlers(client::SharedInformerFactory& factory, absl::string_view kind,
                           absl::Status (Scheduler::*upsert)(const T&)) {
    client::ResourceEventHandler h;
    h.on_add = Call1<T>(target_, [upsert](ApiSchedulerImpl& s, const T& o) {
      s.Report("adding workload", (s.sched().*upsert)(o));
    });
    h.on_update = Call2<T>(target_, [upsert](ApiSchedulerImpl& s, const T&, const T& o) {
      s.Report("updating workload", (s.sched().*upsert)(o));
    });
    h.on_delete = Call1<T>(target_, [kind = std::string(kind)](ApiSchedulerImpl& s, const T& o) {
      s.Report("removing workload", IgnoreNotFound(s.sched().RemoveWorkload(
                                        kind, o.metadata().namespace_(), o.metadata().name())));
    });
    client::Informer& informer = factory.For<T>();
    informer.AddEventHandler(std::move(h));
    informer_of_[std::string(kind)] = &informer;
  }

  void AddHandlers(client::SharedInformerFactory& factory) {
    {
      client::ResourceEventHandler h;
      h.on_add = Call1<api::Node>(target_, [](ApiSchedulerImpl& s, const api::Node& n) {
        s.Report("adding node", s.sched().AddNode(n));
      });
      h.on_update =
          Call2<api::Node>(target_, [](ApiSchedulerImpl& s, const api::Node&, const api::Node& n) {
            s.Report("updating node", s.sched().UpdateNode(n));
          });
      h.on_delete = Call1<api::Node>(target_, [](ApiSchedulerImpl& s, const api::Node& n) {
        s.Report("removing node", IgnoreNotFound(s.sched().RemoveNode(n.metadata().name())));
      });
      factory.For<api::Node>().AddEventHandler(std::move(h));
      informer_of_["Node"] = &factory.For<api::Node>();
    }
    {
      client::ResourceEventHandler h;
      h.on_add = Call1<api::Namespace>(target_, [](ApiSchedulerImpl& s, const api::Namespace& n) {
        s.Report("adding namespace", s.sched().UpsertNamespace(n));
      });
      h.on_update = Call2<api::Namespace>(
          target_, [](ApiSchedulerImpl& s, const api::Namespace&, const api::Namespace& n) {
            s.Report("updating namespace", s.sched().UpsertNamespace(n));
          });
      h.on_delete =
          Call1<api::Namespace>(target_, [](ApiSchedulerImpl& s, const api::Namespace& n) {
            s.Report("removing namespace",
                     IgnoreNotFound(s.sched().RemoveNamespace(n.metadata().name())));
          });
      factory.For<api::Namespace>().AddEventHandler(std::move(h));
      informer_of_["Namespace"] = &factory.For<api::Namespace>();
    }
    AddWorkloadHandlers<api::Service>(factory, "Service", &Scheduler::UpsertService);
    AddWorkloadHandlers<api::ReplicaSet>(factory, "ReplicaSet", &Scheduler::UpsertReplicaSet);
    AddWorkloadHandlers<api::StatefulSet>(factory, "StatefulSet", &Scheduler::UpsertStatefulSet);
    {
      client::ResourceEventHandler h;
      h.on_add = [target = target_](const client::ObjectPtr& o) {
        absl::ReaderMutexLock lock(&target->mu);
        if (target->impl != nullptr) {
          target->impl->OnPodAdd(std::static_pointer_cast<const api::Pod>(o));
        }
      };
      h.on_update = [target = target_](const client::ObjectPtr& a, const client::ObjectPtr& b) {
        absl::ReaderMutexLock lock(&target->mu);
        if (target->impl != nullptr) {
          target->impl->OnPodUpdate(static_cast<const api::Pod&>(*a),
                                    std::static_pointer_cast<const api::Pod>(b));
        }
      };
      h.on_delete = Call1<api::Pod>(
          target_, [](ApiSchedulerImpl& s, const api::Pod& p) { s.OnPodDelete(p); });
      pods_->AddEventHandler(std::move(h));
    }
  }

  // Replaces the (stopped) scheduler with a new one holding what the
  // informers hold. Handlers are held off meanwhile; those waiting deliver
  // changes the caches already have, which the scheduler takes again
  // harmlessly (adds and updates of a known object replace it).
  void Rebuild() {
    absl::StatusOr<std::shared_ptr<Scheduler>> fresh = NewScheduler();
    if (!fresh.ok()) {
      KORCH_LOG(log_, kError) << "Making a new scheduler for this term: " << fresh.status();
      return;
    }
    Scheduler& s = **fresh;
    absl::WriterMutexLock pause(&target_->mu);
    for (const client::ObjectPtr& o : informer_of_.at("Namespace")->indexer().List()) {
      Report("adding namespace", s.UpsertNamespace(static_cast<const api::Namespace&>(*o)));
    }
    for (const client::ObjectPtr& o : informer_of_.at("Service")->indexer().List()) {
      Report("adding workload", s.UpsertService(static_cast<const api::Service&>(*o)));
    }
    for (const client::ObjectPtr& o : informer_of_.at("ReplicaSet")->indexer().List()) {
      Report("adding workload", s.UpsertReplicaSet(static_cast<const api::ReplicaSet&>(*o)));
    }
    for (const client::ObjectPtr& o : informer_of_.at("StatefulSet")->indexer().List()) {
      Report("adding workload", s.UpsertStatefulSet(static_cast<const api::StatefulSet&>(*o)));
    }
    for (const client::ObjectPtr& o : informer_of_.at("Node")->indexer().List()) {
      Report("adding node", s.AddNode(static_cast<const api::Node&>(*o)));
    }
    for (const client::ObjectPtr& o : pods_->indexer().List()) {
      auto pod = std::static_pointer_cast<const api::Pod>(o);
      if (Tracked(*pod)) Report("adding pod", s.AddSharedPod(std::move(pod)));
    }
    absl::MutexLock lock(&sched_mu_);
    retired_.push_back(std::move(scheduler_));
    scheduler_ = *std::move(fresh);
  }

  void StartScheduling() {
    Report("starting the scheduling thread", Current()->Start());
    scheduling_.store(true);
  }

  void StopScheduling() {
    if (!scheduling_.exchange(false)) return;
    std::shared_ptr<Scheduler> s = Current();
    s->Stop();
    s->WaitForBindings();
  }

  void QueueWrite(absl::string_view pod_uid, std::function<void()> job) {
    if (!writer_.Add(pod_uid, std::move(job))) dropped_writes_.fetch_add(1);
  }

  std::shared_ptr<const api::Pod> LivePod(const PodRef& pod) const {
    if (pods_ == nullptr) return nullptr;
    auto live = std::static_pointer_cast<const api::Pod>(
        pods_->indexer().Get(absl::StrCat(pod.ns, "/", pod.name)));
    if (live == nullptr || live->metadata().uid() != pod.uid) return nullptr;
    return live;
  }

  // Writer thread.
  void SetUnschedulableCondition(const api::Pod& live, const std::string& reason,
                                 const std::string& message) {
    const api::PodCondition* current = FindCondition(live, "PodScheduled");
    if (current != nullptr && current->status() == "False" && current->reason() == reason &&
        current->message() == message) {
      return;  // nothing changed
    }
    nlohmann::json condition = {{"type", "PodScheduled"},
                                {"status", "False"},
                                {"reason", reason},
                                {"message", message},
                                {"lastProbeTime", nullptr}};
    if (current == nullptr || current->status() != "False") {
      condition["lastTransitionTime"] = Rfc3339(clock_->Now());
    }
    // Guarded by the resourceVersion the decision was made on: the informer
    // may not have seen a binding yet (this scheduler's lost race, or
    // another binder), and PodScheduled=False must never overwrite the
    // binding's True. On a conflict, decide again on the live pod.
    std::shared_ptr<const api::Pod> current_pod;
    absl::StatusOr<std::shared_ptr<const google::protobuf::Message>> patched =
        absl::AbortedError("not tried");
    const api::Pod* target = &live;
    for (int attempt = 0; attempt < 3; ++attempt) {
      nlohmann::json patch = {
          {"metadata", {{"resourceVersion", target->metadata().resource_version()}}},
          {"status", {{"conditions", nlohmann::json::array({condition})}}}};
      client::PatchOptions po;
      po.subresource = "status";
      patched = client_.Patch(client_.KindOf<api::Pod>(), target->metadata().namespace_(),
                              target->metadata().name(), client::PatchType::kStrategicMerge,
                              patch.dump(), po);
      if (!absl::IsAborted(patched.status())) break;
      auto fresh = client_.Get<api::Pod>(live.metadata().namespace_(), live.metadata().name());
      if (!fresh.ok()) {
        patched = fresh.status();
        break;
      }
      current_pod = *std::move(fresh);
      if (IsAssigned(*current_pod) || current_pod->metadata().uid() != live.metadata().uid()) {
        return;  // bound meanwhile, or another pod of that name
      }
      target = current_pod.get();
    }
    if (patched.ok()) {
      condition_updates_.fetch_add(1);
    } else if (!absl::IsNotFound(patched.status())) {
      write_failures_.fetch_add(1);
      KORCH_LOG(log_, kWarning) << "Setting PodScheduled on " << live.metadata().namespace_() << "/"
                                << live.metadata().name() << ": " << patched.status();
    }
  }

  // Writer threads. Repeats of one (object, reason, message) update the
  // count of the event first written, as Kubernetes' event correlator does
  // (two repeats written at once may count one).
  void RecordEvent(const PodRef& pod, const std::string& type, const std::string& reason,
                   const std::string& action, std::string message) {
    message = Truncate(std::move(message));
    const absl::Time now = clock_->Now();
    const std::string key = absl::StrCat(pod.uid, "\x1f", reason, "\x1f", message);
    std::optional<Recorded> seen;
    {
      absl::MutexLock lock(&events_mu_);
      if (auto it = recorded_.find(key); it != recorded_.end()) seen = it->second;
    }
    if (seen.has_value()) {
      nlohmann::json patch = {{"count", seen->count + 1}, {"lastTimestamp", Rfc3339(now)}};
      auto patched = client_.Patch(client_.KindOf<api::Event>(), pod.ns, seen->name,
                                   client::PatchType::kMerge, patch.dump());
      absl::MutexLock lock(&events_mu_);
      if (patched.ok()) {
        if (auto it = recorded_.find(key); it != recorded_.end())
          it->second.count = seen->count + 1;
        events_.fetch_add(1);
        return;
      }
      recorded_.erase(key);  // gone (e.g. expired): write a new one
    }
    api::Event event;
    event.mutable_metadata()->set_namespace_(pod.ns);
    event.mutable_metadata()->set_name(absl::StrCat(
        pod.name, ".", absl::Hex(absl::ToUnixNanos(now)), absl::Hex(event_seq_.fetch_add(1) + 1)));
    api::ObjectReference* ref = event.mutable_involved_object();
    ref->set_kind("Pod");
    ref->set_api_version("v1");
    ref->set_namespace_(pod.ns);
    ref->set_name(pod.name);
    ref->set_uid(pod.uid);
    ref->set_resource_version(pod.resource_version);
    event.set_reason(reason);
    event.set_message(message);
    event.set_type(type);
    event.set_action(action);
    const std::string& component = pod.scheduler_name;
    event.mutable_source()->set_component(component);
    event.set_reporting_component(component);
    event.set_reporting_instance(identity());
    *event.mutable_first_timestamp() = ProtoTime(now);
    *event.mutable_last_timestamp() = ProtoTime(now);
    event.set_count(1);
    auto created = client_.Create(event);
    if (!created.ok()) {
      write_failures_.fetch_add(1);
      KORCH_LOG(log_, kDebug) << "Recording event " << reason << " on " << pod.ns << "/" << pod.name
                              << ": " << created.status();
      return;
    }
    events_.fetch_add(1);
    if (reason == "Scheduled") return;  // happens once per pod: nothing to correlate
    absl::MutexLock lock(&events_mu_);
    if (recorded_.size() >= kMaxRememberedEvents) recorded_.clear();
    recorded_[key] = Recorded{event.metadata().name(), 1};
  }

  ApiSchedulerOptions options_;
  client::Client& client_;
  Clock* clock_;
  Logger log_;
  absl::flat_hash_set<std::string> profiles_;
  mutable absl::Mutex sched_mu_;
  std::shared_ptr<Scheduler> scheduler_ ABSL_GUARDED_BY(sched_mu_);
  // Schedulers of earlier terms, kept so that references handed out by
  // scheduler() stay valid.
  std::vector<std::shared_ptr<Scheduler>> retired_ ABSL_GUARDED_BY(sched_mu_);
  int terms_ = 0;  // the elector's term thread only
  std::unique_ptr<client::LeaderElector> elector_;
  std::unique_ptr<client::SharedInformerFactory> own_informers_;
  std::shared_ptr<HandlerTarget> target_;
  client::Informer* pods_ = nullptr;
  // The informers by kind ("Node", "Namespace", "Service", ...), set in
  // Start().
  absl::flat_hash_map<std::string, client::Informer*> informer_of_;
  Writer writer_;

  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> scheduling_{false};

  struct Recorded {
    std::string name;
    int32_t count = 0;
  };
  absl::Mutex events_mu_;
  absl::flat_hash_map<std::string, Recorded> recorded_ ABSL_GUARDED_BY(events_mu_);
  std::atomic<uint64_t> event_seq_{0};

  std::atomic<int64_t> bindings_{0};
  std::atomic<int64_t> binding_failures_{0};
  std::atomic<int64_t> evictions_{0};
  std::atomic<int64_t> nominations_{0};
  std::atomic<int64_t> events_{0};
  std::atomic<int64_t> condition_updates_{0};
  std::atomic<int64_t> dropped_writes_{0};
  std::atomic<int64_t> write_failures_{0};
};

}  // namespace

absl::StatusOr<std::unique_ptr<ApiScheduler>> ApiScheduler::Create(ApiSchedulerOptions options) {
  if (options.client == nullptr) return absl::InvalidArgumentError("client: required");
  if (!options.config_text.empty()) {
    KORCH_ASSIGN_OR_RETURN(options.config, ParseSchedulerConfiguration(options.config_text));
    KORCH_RETURN_IF_ERROR(ReadLeaderElection(options.config_text, options.leader_election));
  }
  if (options.binding_threads < 1) {
    return absl::InvalidArgumentError("binding_threads: must be at least 1");
  }
  if (options.write_threads < 1)
    return absl::InvalidArgumentError("write_threads: must be at least 1");
  if (options.max_pending_writes == 0) {
    return absl::InvalidArgumentError("max_pending_writes: must be at least 1");
  }
  std::string identity = options.identity.empty() ? DefaultIdentity() : options.identity;
  auto impl = std::make_unique<ApiSchedulerImpl>(std::move(options), std::move(identity));
  KORCH_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<ApiScheduler>(std::move(impl));
}

}  // namespace korch::scheduler
