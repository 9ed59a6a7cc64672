#include "korch/agent/simulated_nodes.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "korch/api/coordination.pb.h"
#include "korch/api/core.pb.h"
#include "korch/api/quantity.h"
#include "korch/api/selector.h"
#include "korch/base/logging.h"
#include "korch/base/status.h"
#include "korch/client/informer.h"
#include "korch/client/workqueue.h"

namespace korch::agent {
namespace {

constexpr char kLeaseNamespace[] = "kube-node-lease";

template <typename T>
void SetTime(T* t, absl::Time now) {
  const int64_t nanos = absl::ToUnixNanos(now);
  t->set_seconds(nanos / 1000000000);
  t->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

// Node i's InternalIP and pod subnet: 10.<i/250>.<i%250>.x style addresses
// would collide with the service range, so nodes live in 172.16.0.0/12 and
// pods in 10.244.0.0/16 (one /24 per node, like a flannel-style podCIDR).
std::string NodeIp(int i) {
  return absl::StrCat("172.", 16 + (i >> 16) % 16, ".", (i >> 8) & 255, ".", i & 255);
}
std::string PodCidr(int i) { return absl::StrCat("10.244.", i % 256, ".0/24"); }

class SimulatedNodesImpl final : public SimulatedNodes {
 public:
  SimulatedNodesImpl(client::Client& client, SimulatedNodesOptions options)
      : client_(client),
        options_(std::move(options)),
        clock_(options_.clock ? options_.clock : RealClock()),
        queue_(std::make_shared<client::WorkQueue>(
            client::WorkQueueOptions{.clock = clock_, .rate_limiter = {}})) {
    for (int i = 0; i < options_.count; ++i) {
      names_.push_back(absl::StrCat(options_.name_prefix, i));
      index_[names_.back()] = i;
    }
  }

  ~SimulatedNodesImpl() override { Stop(); }

  absl::Status Start() override {
    {
      absl::MutexLock lock(&mu_);
      if (started_) return absl::OkStatus();
      started_ = true;
    }
    for (int i = 0; i < options_.count; ++i) KORCH_RETURN_IF_ERROR(Register(i));
    for (int i = 0; i < options_.count; ++i) KORCH_RETURN_IF_ERROR(RenewLease(i));

    const api::KindInfo& pod_kind = client_.KindOf<api::Pod>();
    client::InformerOptions informer_options;
    informer_options.clock = clock_.get();
    informer_ = std::make_unique<client::Informer>(client_, pod_kind, informer_options);
    std::weak_ptr<client::WorkQueue> weak = queue_;
    auto enqueue = [this, weak](const client::ObjectPtr& object) {
      const auto& pod = static_cast<const api::Pod&>(*object);
      if (!index_.contains(pod.spec().node_name())) return;
      if (NeedsWork(pod)) {
        if (auto q = weak.lock()) {
          q->Add(absl::StrCat(pod.metadata().namespace_(), "/", pod.metadata().name()));
        }
      }
    };
    client::ResourceEventHandler handler;
    handler.on_add = enqueue;
    handler.on_update = [enqueue](const client::ObjectPtr&, const client::ObjectPtr& now) {
      enqueue(now);
    };
    informer_->AddEventHandler(std::move(handler));
    informer_->Start();
    for (int i = 0; i < std::max(1, options_.workers); ++i) {
      threads_.emplace_back([this] { Work(); });
    }
    // The first renewal is due one interval after registration, whenever
    // the thread gets to run.
    const absl::Time first = clock_->Now() + options_.heartbeat_interval;
    threads_.emplace_back([this, first] { Heartbeat(first); });
    return absl::OkStatus();
  }

  void Stop() override {
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    queue_->ShutDown();
    if (informer_) informer_->Stop();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

  std::vector<std::string> NodeNames() const override { return names_; }
  int64_t PodsStarted() const override { return started_pods_.load(); }

 private:
  static bool NeedsWork(const api::Pod& pod) {
    if (pod.metadata().has_deletion_timestamp()) return true;
    const std::string& phase = pod.status().phase();
    return phase.empty() || phase == "Pending";
  }

  absl::Status Register(int i) {
    api::Node node;
    api::ObjectMeta* meta = node.mutable_metadata();
    meta->set_name(names_[i]);
    auto& labels = *meta->mutable_labels();
    for (const auto& [k, v] : options_.labels) labels[k] = v;
    labels["kubernetes.io/hostname"] = names_[i];
    labels["kubernetes.io/os"] = "linux";
    labels["kubernetes.io/arch"] = "amd64";
    labels["node.korch.io/simulated"] = "true";
    if (options_.zones > 0) {
      labels["topology.kubernetes.io/zone"] = absl::StrCat("zone-", i % options_.zones);
    }
    node.mutable_spec()->set_pod_cidr(PodCidr(i));
    node.mutable_spec()->add_pod_cidrs(PodCidr(i));
    api::NodeStatus* status = node.mutable_status();
    for (const auto& [k, v] : options_.capacity) {
      (*status->mutable_capacity())[k] = v;
      (*status->mutable_allocatable())[k] = v;
    }
    const absl::Time now = clock_->Now();
    for (const char* type : {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}) {
      api::NodeCondition* c = status->add_conditions();
      const bool ready = std::string(type) == "Ready";
      c->set_type(type);
      c->set_status(ready ? "True" : "False");
      c->set_reason(ready ? "KubeletReady" : absl::StrCat("KubeletHas", "No", type));
      c->set_message(ready ? "simulated node is ready" : "simulated node has no pressure");
      SetTime(c->mutable_last_heartbeat_time(), now);
      SetTime(c->mutable_last_transition_time(), now);
    }
    api::NodeAddress* ip = status->add_addresses();
    ip->set_type("InternalIP");
    ip->set_address(NodeIp(i));
    api::NodeAddress* host = status->add_addresses();
    host->set_type("Hostname");
    host->set_address(names_[i]);
    api::NodeSystemInfo* info = status->mutable_node_info();
    info->set_kubelet_version("v1.33.0-korch-simulated");
    info->set_container_runtime_version("simulated://0");
    info->set_operating_system("linux");
    info->set_architecture("amd64");
    info->set_os_image("korch simulated node");
    info->set_kernel_version("simulated");
    status->set_phase("Running");

    auto created = client_.Create(node);
    if (created.ok()) return UpdateStatus(node, **created);
    if (!absl::IsAlreadyExists(created.status())) {
      return Annotate(created.status(), absl::StrCat("registering node ", names_[i]));
    }
    // Left by an earlier run: take it over with our spec and status.
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto existing = client_.Get<api::Node>("", names_[i]);
      if (!existing.ok()) return existing.status();
      api::Node update = node;
      update.mutable_metadata()->set_resource_version((*existing)->metadata().resource_version());
      update.mutable_metadata()->set_uid((*existing)->metadata().uid());
      auto updated = client_.Update(update);
      if (absl::IsAborted(updated.status())) continue;
      if (!updated.ok()) return updated.status();
      return UpdateStatus(node, **updated);
    }
    return absl::AbortedError(absl::StrCat("node ", names_[i], ": too many conflicts"));
  }

  absl::Status UpdateStatus(const api::Node& want, const api::Node& stored) {
    api::Node update = stored;
    *update.mutable_status() = want.status();
    client::UpdateOptions options;
    options.subresource = "status";
    return client_.Update(update, options).status();
  }

  absl::Status RenewLease(int i) {
    const absl::Time now = clock_->Now();
    auto lease = client_.Get<api::Lease>(kLeaseNamespace, names_[i]);
    if (absl::IsNotFound(lease.status())) {
      api::Lease fresh;
      fresh.mutable_metadata()->set_name(names_[i]);
      fresh.mutable_metadata()->set_namespace_(kLeaseNamespace);
      fresh.mutable_spec()->set_holder_identity(names_[i]);
      fresh.mutable_spec()->set_lease_duration_seconds(options_.lease_duration_seconds);
      SetTime(fresh.mutable_spec()->mutable_acquire_time(), now);
      SetTime(fresh.mutable_spec()->mutable_renew_time(), now);
      return client_.Create(fresh).status();
    }
    if (!lease.ok()) return lease.status();
    api::Lease update = **lease;
    update.mutable_spec()->set_holder_identity(names_[i]);
    update.mutable_spec()->set_lease_duration_seconds(options_.lease_duration_seconds);
    SetTime(update.mutable_spec()->mutable_renew_time(), now);
    return client_.Update(update).status();
  }

  void Heartbeat(absl::Time next) {
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopped_; };
        // Wake at least every 100 ms of real time to notice Stop() promptly.
        mu_.AwaitWithTimeout(absl::Condition(&stopping), absl::Milliseconds(100));
        if (stopped_) return;
      }
      if (clock_->Now() < next) continue;
      next = clock_->Now() + options_.heartbeat_interval;
      for (int i = 0; i < options_.count; ++i) {
        if (absl::Status s = RenewLease(i); !s.ok() && !absl::IsAborted(s)) {
          KORCH_LOG(log_, kWarning) << "lease of " << names_[i] << ": " << s;
        }
        absl::MutexLock lock(&mu_);
        if (stopped_) return;
      }
    }
  }

  void Work() {
    while (std::optional<std::string> key = queue_->Get()) {
      absl::Status s = Sync(*key);
      if (s.ok()) {
        queue_->Forget(*key);
      } else {
        KORCH_LOG(log_, kWarning) << "pod " << *key << ": " << s << " (retrying)";
        queue_->AddRateLimited(*key);
      }
      queue_->Done(*key);
    }
  }

  absl::Status Sync(const std::string& key) {
    client::ObjectPtr cached = informer_->indexer().Get(key);
    if (cached == nullptr) return absl::OkStatus();
    const auto& pod = static_cast<const api::Pod&>(*cached);
    if (!NeedsWork(pod)) return absl::OkStatus();
    if (pod.metadata().has_deletion_timestamp()) {
      // The containers "stopped" at once: confirm the deletion.
      client::DeleteOptions options;
      options.grace_period_seconds = 0;
      options.precondition_uid = pod.metadata().uid();
      auto deleted = client_.Delete(client_.KindOf<api::Pod>(), pod.metadata().namespace_(),
                                    pod.metadata().name(), options);
      if (absl::IsNotFound(deleted.status()) || absl::IsFailedPrecondition(deleted.status())) {
        return absl::OkStatus();
      }
      return deleted.status();
    }
    const absl::Time bound = clock_->Now();
    if (options_.startup_delay > absl::ZeroDuration()) {
      // Simple and bounded: the worker waits on the clock (tests use a fake
      // clock and advance it).
      clock_->SleepUntil(clock_->Now() + options_.startup_delay);
    }
    auto it = index_.find(pod.spec().node_name());
    const int node = it == index_.end() ? 0 : it->second;
    api::Pod update = pod;
    api::PodStatus* status = update.mutable_status();
    const absl::Time now = clock_->Now();
    status->set_phase("Running");
    status->set_host_ip(NodeIp(node));
    status->clear_host_ips();
    status->add_host_ips()->set_ip(NodeIp(node));
    const int64_t n = next_ip_.fetch_add(1);
    const std::string pod_ip = absl::StrCat("10.244.", node % 256, ".", 2 + n % 250);
    status->set_pod_ip(pod.spec().host_network() ? NodeIp(node) : pod_ip);
    status->clear_pod_ips();
    status->add_pod_ips()->set_ip(status->pod_ip());
    SetTime(status->mutable_start_time(), bound);
    if (status->qos_class().empty()) status->set_qos_class("BestEffort");
    for (const char* type :
         {"PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready", "PodScheduled"}) {
      api::PodCondition* c = nullptr;
      for (auto& existing : *status->mutable_conditions()) {
        if (existing.type() == type) c = &existing;
      }
      if (c == nullptr) {
        c = status->add_conditions();
        c->set_type(type);
      }
      if (c->status() != "True") SetTime(c->mutable_last_transition_time(), now);
      c->set_status("True");
      c->clear_reason();
      c->clear_message();
    }
    status->clear_container_statuses();
    for (const api::Container& container : pod.spec().containers()) {
      api::ContainerStatus* cs = status->add_container_statuses();
      cs->set_name(container.name());
      cs->set_image(container.image());
      cs->set_image_id(absl::StrCat("simulated://", container.image()));
      cs->set_container_id(
          absl::StrCat("simulated://", pod.metadata().uid(), "/", container.name()));
      cs->set_ready(true);
      cs->set_started(true);
      cs->set_restart_count(0);
      SetTime(cs->mutable_state()->mutable_running()->mutable_started_at(), now);
    }
    client::UpdateOptions options;
    options.subresource = "status";
    auto updated = client_.Update(update, options);
    if (absl::IsNotFound(updated.status())) return absl::OkStatus();
    if (absl::IsAborted(updated.status())) {
      // The informer will deliver the newer pod and enqueue it again.
      return absl::OkStatus();
    }
    if (updated.ok()) started_pods_.fetch_add(1);
    return updated.status();
  }

  client::Client& client_;
  const SimulatedNodesOptions options_;
  std::shared_ptr<Clock> clock_;
  Logger log_{"agent.simulated"};
  std::vector<std::string> names_;
  absl::flat_hash_map<std::string, int> index_;
  std::shared_ptr<client::WorkQueue> queue_;
  std::unique_ptr<client::Informer> informer_;
  std::vector<std::thread> threads_;
  std::atomic<int64_t> started_pods_{0};
  std::atomic<int64_t> next_ip_{0};
  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

absl::Status CheckOptions(const SimulatedNodesOptions& options) {
  if (options.count < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("simulated nodes: count must be at least 0, not ", options.count));
  }
  if (options.zones < 0) {
    return absl::InvalidArgumentError("simulated nodes: zones must be at least 0");
  }
  if (options.heartbeat_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("simulated nodes: heartbeat_interval must be positive");
  }
  for (const auto& [name, value] : options.capacity) {
    if (auto q = api::Quantity::Parse(value); !q.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("simulated nodes: capacity[", name, "]: ", q.status().message()));
    }
  }
  google::protobuf::Map<std::string, std::string> labels(options.labels.begin(),
                                                         options.labels.end());
  if (absl::StatusOr<api::Selector> s = api::Selector::FromSet(labels); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("simulated nodes: labels: ", s.status().message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<SimulatedNodes>> SimulatedNodes::Create(
    client::Client& client, SimulatedNodesOptions options) {
  KORCH_RETURN_IF_ERROR(CheckOptions(options));
  return std::make_unique<SimulatedNodesImpl>(client, std::move(options));
}

}  // namespace korch::agent
