#include "korch/scheduler/types.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "korch/api/meta.pb.h"
#include "korch/api/quantity.h"
#include "korch/base/status.h"

namespace korch::scheduler {
namespace {

// Kubernetes' defaults for containers that request nothing, used by scoring
// so that such pods still spread (pkg/scheduler/util: DefaultMilliCPURequest,
// DefaultMemoryRequest).
constexpr int64_t kDefaultMilliCpuRequest = 100;
constexpr int64_t kDefaultMemoryRequest = 200 * 1024 * 1024;

void AddAmount(Resource& r, absl::string_view name, int64_t amount) {
  if (name == "cpu") {
    r.milli_cpu += amount;
  } else if (name == "memory") {
    r.memory += amount;
  } else if (name == "ephemeral-storage") {
    r.ephemeral_storage += amount;
  } else if (name == "pods") {
    r.allowed_pod_number += amount;
  } else {
    r.scalar[name] += amount;
  }
}

// A container's cpu and memory requests for scoring: 0 becomes the default.
void AddNonZero(const api::Container& c, int64_t& cpu, int64_t& memory) {
  const auto& requests = c.resources().requests();
  int64_t container_cpu = 0;
  int64_t container_memory = 0;
  if (auto it = requests.find("cpu"); it != requests.end()) {
    if (auto q = api::Quantity::Parse(it->second); q.ok()) container_cpu = q->MilliValue();
  } else {
    container_cpu = kDefaultMilliCpuRequest;
  }
  if (auto it = requests.find("memory"); it != requests.end()) {
    if (auto q = api::Quantity::Parse(it->second); q.ok()) container_memory = q->Value();
  } else {
    container_memory = kDefaultMemoryRequest;
  }
  cpu += container_cpu;
  memory += container_memory;
}

absl::StatusOr<AffinityTerm> ParseTerm(const api::PodAffinityTerm& term, const api::Pod& pod,
                                       int32_t weight, const std::string& path) {
  AffinityTerm out;
  out.weight = weight;
  out.topology_key = term.topology_key();
  if (term.has_label_selector()) {
    KORCH_ASSIGN_OR_RETURN(
        out.selector,
        api::Selector::FromProto(term.label_selector(), api::FieldPath(path + ".labelSelector")));
  } else {
    // A term without a label selector selects no pod.
    out.selector = api::Selector::Nothing();
  }
  // matchLabelKeys / mismatchLabelKeys: the incoming pod's values are ANDed
  // into the selector with In / NotIn.
  const auto& labels = pod.metadata().labels();
  for (const std::string& key : term.match_label_keys()) {
    auto it = labels.find(key);
    if (it == labels.end()) continue;
    KORCH_ASSIGN_OR_RETURN(
        api::LabelRequirement r,
        api::LabelRequirement::Create(key, api::SelectorOperator::kIn, {it->second}));
    out.selector = out.selector.Add(std::move(r));
  }
  for (const std::string& key : term.mismatch_label_keys()) {
    auto it = labels.find(key);
    if (it == labels.end()) continue;
    KORCH_ASSIGN_OR_RETURN(
        api::LabelRequirement r,
        api::LabelRequirement::Create(key, api::SelectorOperator::kNotIn, {it->second}));
    out.selector = out.selector.Add(std::move(r));
  }
  for (const std::string& ns : term.namespaces()) out.namespaces.insert(ns);
  if (term.has_namespace_selector()) {
    KORCH_ASSIGN_OR_RETURN(out.namespace_selector,
                           api::Selector::FromProto(term.namespace_selector(),
                                                    api::FieldPath(path + ".namespaceSelector")));
  }
  if (out.namespaces.empty() && !out.namespace_selector.has_value()) {
    out.namespaces.insert(pod.metadata().namespace_());
  }
  return out;
}

absl::Status ParseTerms(const google::protobuf::RepeatedPtrField<api::PodAffinityTerm>& terms,
                        const api::Pod& pod, const std::string& path,
                        std::vector<AffinityTerm>& out) {
  for (int i = 0; i < terms.size(); ++i) {
    KORCH_ASSIGN_OR_RETURN(AffinityTerm t,
                           ParseTerm(terms[i], pod, 0, absl::StrCat(path, "[", i, "]")));
    out.push_back(std::move(t));
  }
  return absl::OkStatus();
}

absl::Status ParseWeightedTerms(
    const google::protobuf::RepeatedPtrField<api::WeightedPodAffinityTerm>& terms,
    const api::Pod& pod, const std::string& path, std::vector<AffinityTerm>& out) {
  for (int i = 0; i < terms.size(); ++i) {
    KORCH_ASSIGN_OR_RETURN(AffinityTerm t,
                           ParseTerm(terms[i].pod_affinity_term(), pod, terms[i].weight(),
                                     absl::StrCat(path, "[", i, "].podAffinityTerm")));
    out.push_back(std::move(t));
  }
  return absl::OkStatus();
}

template <typename T>
void EraseByUid(std::vector<std::shared_ptr<const PodInfo>>& pods, const T& uid) {
  for (size_t i = 0; i < pods.size(); ++i) {
    if (pods[i]->uid() == uid) {
      pods[i] = std::move(pods.back());
      pods.pop_back();
      return;
    }
  }
}

}  // namespace

bool Conflicts(const HostPort& a, const HostPort& b) {
  if (a.port != b.port || a.protocol != b.protocol) return false;
  return a.ip == b.ip || a.ip == "0.0.0.0" || b.ip == "0.0.0.0";
}

// ---------------------------------------------------------------------------
// Resource
// ---------------------------------------------------------------------------

void Resource::Add(const Resource& other) {
  milli_cpu += other.milli_cpu;
  memory += other.memory;
  ephemeral_storage += other.ephemeral_storage;
  allowed_pod_number += other.allowed_pod_number;
  for (const auto& [name, amount] : other.scalar) scalar[name] += amount;
}

void Resource::Subtract(const Resource& other) {
  milli_cpu -= other.milli_cpu;
  memory -= other.memory;
  ephemeral_storage -= other.ephemeral_storage;
  allowed_pod_number -= other.allowed_pod_number;
  for (const auto& [name, amount] : other.scalar) {
    auto it = scalar.find(name);
    if (it == scalar.end()) {
      scalar[name] = -amount;
    } else if ((it->second -= amount) == 0) {
      scalar.erase(it);
    }
  }
}

void Resource::SetMax(const Resource& other) {
  milli_cpu = std::max(milli_cpu, other.milli_cpu);
  memory = std::max(memory, other.memory);
  ephemeral_storage = std::max(ephemeral_storage, other.ephemeral_storage);
  allowed_pod_number = std::max(allowed_pod_number, other.allowed_pod_number);
  for (const auto& [name, amount] : other.scalar) {
    int64_t& mine = scalar[name];
    mine = std::max(mine, amount);
  }
}

absl::StatusOr<Resource> Resource::FromList(
    const google::protobuf::Map<std::string, std::string>& list) {
  Resource r;
  for (const auto& [name, text] : list) {
    absl::StatusOr<api::Quantity> q = api::Quantity::Parse(text);
    if (!q.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("resource \"", name, "\": ", q.status().message()));
    }
    AddAmount(r, name, name == "cpu" ? q->MilliValue() : q->Value());
  }
  return r;
}

// ---------------------------------------------------------------------------
// AffinityTerm
// ---------------------------------------------------------------------------

bool AffinityTerm::Matches(
    const api::Pod& pod,
    const google::protobuf::Map<std::string, std::string>* namespace_labels) const {
  const std::string& ns = pod.metadata().namespace_();
  bool ns_match = namespaces.contains(ns);
  if (!ns_match && namespace_selector.has_value()) {
    static const google::protobuf::Map<std::string, std::string> kNoLabels;
    ns_match = namespace_selector->Matches(namespace_labels ? *namespace_labels : kNoLabels);
  }
  return ns_match && selector.Matches(pod.metadata().labels());
}

// ---------------------------------------------------------------------------
// PodInfo
// ---------------------------------------------------------------------------

absl::StatusOr<std::shared_ptr<const PodInfo>> PodInfo::Create(const api::Pod& pod) {
  return Create(std::make_shared<const api::Pod>(pod));
}

absl::StatusOr<std::shared_ptr<const PodInfo>> PodInfo::Create(
    std::shared_ptr<const api::Pod> pod) {
  if (pod == nullptr) return absl::InvalidArgumentError("pod: Required value");
  std::shared_ptr<PodInfo> info(new PodInfo());
  const api::PodSpec& spec = pod->spec();
  info->key_ = absl::StrCat(pod->metadata().namespace_(), "/", pod->metadata().name());
  info->scheduler_name_ = spec.has_scheduler_name() && !spec.scheduler_name().empty()
                              ? spec.scheduler_name()
                              : "default-scheduler";
  info->priority_ = spec.priority();

  // Requests: app containers and sidecars run together; each regular init
  // container runs alone next to the sidecars started before it.
  Resource running;
  Resource sidecars;
  Resource init_peak;
  for (int i = 0; i < spec.containers_size(); ++i) {
    const api::Container& c = spec.containers(i);
    absl::StatusOr<Resource> r = Resource::FromList(c.resources().requests());
    if (!r.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec.containers[", i, "].resources.requests: ", r.status().message()));
    }
    running.Add(*r);
    AddNonZero(c, info->non_zero_milli_cpu_, info->non_zero_memory_);
  }
  int64_t init_nz_cpu = 0;
  int64_t init_nz_memory = 0;
  int64_t sidecar_nz_cpu = 0;
  int64_t sidecar_nz_memory = 0;
  for (int i = 0; i < spec.init_containers_size(); ++i) {
    const api::Container& c = spec.init_containers(i);
    absl::StatusOr<Resource> r = Resource::FromList(c.resources().requests());
    if (!r.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec.initContainers[", i, "].resources.requests: ", r.status().message()));
    }
    int64_t nz_cpu = 0;
    int64_t nz_memory = 0;
    AddNonZero(c, nz_cpu, nz_memory);
    if (c.restart_policy() == "Always") {
      running.Add(*r);
      sidecars.Add(*r);
      init_peak.SetMax(sidecars);
      info->non_zero_milli_cpu_ += nz_cpu;
      info->non_zero_memory_ += nz_memory;
      sidecar_nz_cpu += nz_cpu;
      sidecar_nz_memory += nz_memory;
      init_nz_cpu = std::max(init_nz_cpu, sidecar_nz_cpu);
      init_nz_memory = std::max(init_nz_memory, sidecar_nz_memory);
    } else {
      Resource with_sidecars = sidecars;
      with_sidecars.Add(*r);
      init_peak.SetMax(with_sidecars);
      init_nz_cpu = std::max(init_nz_cpu, sidecar_nz_cpu + nz_cpu);
      init_nz_memory = std::max(init_nz_memory, sidecar_nz_memory + nz_memory);
    }
  }
  running.SetMax(init_peak);
  info->non_zero_milli_cpu_ = std::max(info->non_zero_milli_cpu_, init_nz_cpu);
  info->non_zero_memory_ = std::max(info->non_zero_memory_, init_nz_memory);
  if (!spec.overhead().empty()) {
    absl::StatusOr<Resource> overhead = Resource::FromList(spec.overhead());
    if (!overhead.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec.overhead: ", overhead.status().message()));
    }
    running.Add(*overhead);
    info->non_zero_milli_cpu_ += overhead->milli_cpu;
    info->non_zero_memory_ += overhead->memory;
  }
  running.allowed_pod_number = 1;
  info->requests_ = std::move(running);

  // Host ports and images.
  auto add_ports = [&](const api::Container& c) {
    for (const api::ContainerPort& p : c.ports()) {
      if (p.host_port() <= 0) continue;
      HostPort hp;
      hp.ip = p.host_ip().empty() ? "0.0.0.0" : p.host_ip();
      hp.protocol = p.protocol().empty() ? "TCP" : p.protocol();
      hp.port = p.host_port();
      info->host_ports_.push_back(std::move(hp));
    }
    if (!c.image().empty() &&
        std::find(info->images_.begin(), info->images_.end(), c.image()) == info->images_.end()) {
      info->images_.push_back(c.image());
    }
  };
  for (const api::Container& c : spec.init_containers()) add_ports(c);
  for (const api::Container& c : spec.containers()) add_ports(c);

  // Pod (anti-)affinity.
  if (spec.has_affinity()) {
    const api::Affinity& a = spec.affinity();
    if (a.has_pod_affinity()) {
      KORCH_RETURN_IF_ERROR(
          ParseTerms(a.pod_affinity().required_during_scheduling_ignored_during_execution(), *pod,
                     "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution",
                     info->required_affinity_));
      KORCH_RETURN_IF_ERROR(ParseWeightedTerms(
          a.pod_affinity().preferred_during_scheduling_ignored_during_execution(), *pod,
          "spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution",
          info->preferred_affinity_));
    }
    if (a.has_pod_anti_affinity()) {
      KORCH_RETURN_IF_ERROR(ParseTerms(
          a.pod_anti_affinity().required_during_scheduling_ignored_during_execution(), *pod,
          "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution",
          info->required_anti_affinity_));
      KORCH_RETURN_IF_ERROR(ParseWeightedTerms(
          a.pod_anti_affinity().preferred_during_scheduling_ignored_during_execution(), *pod,
          "spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution",
          info->preferred_anti_affinity_));
    }
  }
  info->pod_ = std::move(pod);
  return std::shared_ptr<const PodInfo>(std::move(info));
}

// ---------------------------------------------------------------------------
// NodeInfo
// ---------------------------------------------------------------------------

const google::protobuf::Map<std::string, std::string>& NodeInfo::labels() const {
  static const google::protobuf::Map<std::string, std::string> kEmpty;
  return node_ ? node_->metadata().labels() : kEmpty;
}

void NodeInfo::SetNode(std::shared_ptr<const api::Node> node) {
  node_ = std::move(node);
  allocatable_ = Resource();
  taints_.clear();
  unschedulable_ = false;
  if (node_ == nullptr) return;
  name_ = node_->metadata().name();
  const auto& list = node_->status().allocatable().empty() ? node_->status().capacity()
                                                           : node_->status().allocatable();
  if (absl::StatusOr<Resource> r = Resource::FromList(list); r.ok()) {
    allocatable_ = std::move(*r);
  }
  unschedulable_ = node_->spec().unschedulable();
  taints_.assign(node_->spec().taints().begin(), node_->spec().taints().end());
  ++generation_;
}

void NodeInfo::AddPod(std::shared_ptr<const PodInfo> pod) {
  requested_.Add(pod->requests());
  non_zero_milli_cpu_ += pod->non_zero_milli_cpu();
  non_zero_memory_ += pod->non_zero_memory();
  for (const HostPort& p : pod->host_ports()) used_ports_.push_back(p);
  if (pod->has_affinity()) pods_with_affinity_.push_back(pod);
  if (pod->has_required_anti_affinity()) pods_with_required_anti_affinity_.push_back(pod);
  if (name_.empty()) name_ = pod->node_name();
  pods_.push_back(std::move(pod));
  ++generation_;
}

absl::Status NodeInfo::RemovePod(const PodInfo& pod) {
  auto it = std::find_if(pods_.begin(), pods_.end(),
                         [&](const auto& p) { return p->uid() == pod.uid(); });
  if (it == pods_.end()) {
    return absl::NotFoundError(
        absl::StrCat("pod ", pod.key(), " (uid ", pod.uid(), ") is not on node ", name_));
  }
  // Subtract what was added for the stored copy: it may differ from `pod`.
  std::shared_ptr<const PodInfo> stored = std::move(*it);
  *it = std::move(pods_.back());
  pods_.pop_back();
  requested_.Subtract(stored->requests());
  non_zero_milli_cpu_ -= stored->non_zero_milli_cpu();
  non_zero_memory_ -= stored->non_zero_memory();
  for (const HostPort& p : stored->host_ports()) {
    auto port = std::find(used_ports_.begin(), used_ports_.end(), p);
    if (port != used_ports_.end()) used_ports_.erase(port);
  }
  if (stored->has_affinity()) EraseByUid(pods_with_affinity_, stored->uid());
  if (stored->has_required_anti_affinity()) {
    EraseByUid(pods_with_required_anti_affinity_, stored->uid());
  }
  ++generation_;
  return absl::OkStatus();
}

void NodeInfo::SetImageStates(absl::flat_hash_map<std::string, ImageStateSummary> states) {
  image_states_ = std::move(states);
  ++generation_;
}

// ---------------------------------------------------------------------------
// Snapshot
// ---------------------------------------------------------------------------

Snapshot::Snapshot(std::vector<std::shared_ptr<const NodeInfo>> nodes,
                   absl::flat_hash_map<std::string, google::protobuf::Map<std::string, std::string>>
                       namespace_labels)
    : owned_(std::move(nodes)), namespace_labels_(std::move(namespace_labels)) {
  for (const auto& n : owned_) {
    if (n == nullptr || n->node() == nullptr) continue;
    list_.push_back(n.get());
    by_name_[n->name()] = n.get();
    if (!n->pods_with_affinity().empty()) with_affinity_.push_back(n.get());
    if (!n->pods_with_required_anti_affinity().empty()) {
      with_required_anti_affinity_.push_back(n.get());
    }
  }
}

const NodeInfo* Snapshot::Get(absl::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

const google::protobuf::Map<std::string, std::string>* Snapshot::NamespaceLabels(
    absl::string_view ns) const {
  auto it = namespace_labels_.find(ns);
  return it == namespace_labels_.end() ? nullptr : &it->second;
}

}  // namespace korch::scheduler
