// ResourceQuota: charges every write's usage to the namespace's quotas and
// refuses what would go over a hard limit.
//
// Usage is kept exact without a quota controller: each write that changes
// usage adds its delta (new usage minus old) to status.used of every quota
// that covers it, in the same store transaction as the write and guarded by
// the quota's resourceVersion (AdmissionAttributes::UpdateInSameTransaction).
// Concurrent writes therefore serialise on the quota: the loser's guard
// fails and the registry runs admission again on the fresh quota, so no
// interleaving can exceed it.
//
// What counts, as in Kubernetes' quota evaluators:
//  - every namespaced object: count/<resource>[.<group>], and for the core
//    kinds that had object-count quotas first, the bare plural (services,
//    configmaps, secrets, replicationcontrollers, resourcequotas,
//    persistentvolumeclaims);
//  - pods that are not finished (phase Succeeded or Failed): pods, and the
//    compute resources of the pod as a whole (requests.cpu, cpu, limits.cpu,
//    memory, ephemeral-storage, hugepages-*, requests.<extended>, ...);
//  - services: services.nodeports (their ports, for NodePort and
//    LoadBalancer services) and services.loadbalancers.
// An object stops counting when its deletion starts (deletionTimestamp
// set), not when it finally goes: a pod in its grace period no longer holds
// quota. Kubernetes releases terminating pods when their grace period ends,
// through the quota controller's recalculation.
//
// A quota key that status.used lacks (a new quota, or a key just added to
// spec.hard) is initialised by listing the namespace's objects, which is
// what Kubernetes' quota controller would have written.
//
// Scopes (spec.scopes and spec.scopeSelector: Terminating, NotTerminating,
// BestEffort, NotBestEffort, PriorityClass, CrossNamespacePodAffinity) select
// pods; a quota with scopes tracks nothing else.

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "apiserver/admission_internal.h"
#include "korch/api/core.pb.h"
#include "korch/api/object.h"
#include "korch/apiserver/admission.h"

namespace korch::apiserver {
namespace {

using admission_internal::As;
using admission_internal::BuiltinKind;
using admission_internal::IsKind;
using admission_internal::ParseResourceList;
using admission_internal::ResourceMap;

constexpr absl::string_view kLegacyCounted[] = {"services",       "configmaps",
                                                "secrets",        "replicationcontrollers",
                                                "resourcequotas", "persistentvolumeclaims"};

// Quota'ing one of these obliges every container to state it: Kubernetes'
// backward-compatible rule for cpu and memory.
constexpr absl::string_view kMustSpecify[] = {"cpu",    "limits.cpu",   "limits.memory",
                                              "memory", "requests.cpu", "requests.memory"};

const api::Quantity kOne = api::Quantity::FromInt64(1);

bool IsLegacyCounted(absl::string_view resource) {
  return absl::c_linear_search(kLegacyCounted, resource);
}

// Extended resources ("example.com/gpu") are quota'd as requests.<name>.
bool IsExtendedResource(absl::string_view name) {
  return absl::StrContains(name, "/") && !absl::StrContains(name, "kubernetes.io/") &&
         !absl::StartsWith(name, "requests.");
}

// The quota keys a set of requests and limits uses (Kubernetes'
// podComputeUsageHelper, without "pods").
ResourceMap ComputeUsage(const ResourceMap& requests, const ResourceMap& limits) {
  ResourceMap out;
  for (absl::string_view native : {"cpu", "memory", "ephemeral-storage"}) {
    if (auto it = requests.find(native); it != requests.end()) {
      out.insert_or_assign(std::string(native), it->second);
      out.insert_or_assign(absl::StrCat("requests.", native), it->second);
    }
    if (auto it = limits.find(native); it != limits.end()) {
      out.insert_or_assign(absl::StrCat("limits.", native), it->second);
    }
  }
  for (const auto& [name, q] : requests) {
    if (absl::StartsWith(name, "hugepages-")) {
      out.insert_or_assign(name, q);
      out.insert_or_assign(absl::StrCat("requests.", name), q);
    } else if (IsExtendedResource(name)) {
      out.insert_or_assign(absl::StrCat("requests.", name), q);
    }
  }
  for (const auto& [name, q] : limits) {
    if (absl::StartsWith(name, "hugepages-"))
      out.insert_or_assign(absl::StrCat("limits.", name), q);
  }
  return out;
}

bool IsFinished(const api::Pod& pod) {
  return pod.status().phase() == "Succeeded" || pod.status().phase() == "Failed";
}

// What `object` (of `kind`) holds of every quota key it uses.
absl::StatusOr<ResourceMap> Usage(const api::KindInfo& kind,
                                  const google::protobuf::Message& object) {
  ResourceMap usage;
  if (const api::ObjectMeta* meta = api::ObjectMetaOf(object);
      meta != nullptr && meta->has_deletion_timestamp()) {
    return usage;
  }
  usage.emplace(absl::StrCat("count/", kind.QualifiedResource()), kOne);
  if (kind.group.empty() && IsLegacyCounted(kind.resource)) usage.emplace(kind.resource, kOne);

  if (const api::Pod* pod = As<api::Pod>(&object); pod != nullptr && !IsFinished(*pod)) {
    usage.emplace("pods", kOne);
    absl::StatusOr<ResourceMap> requests =
        admission_internal::PodRequests(pod->spec(), /*include_overhead=*/true);
    if (!requests.ok()) return requests.status();
    absl::StatusOr<ResourceMap> limits =
        admission_internal::PodLimits(pod->spec(), /*include_overhead=*/true);
    if (!limits.ok()) return limits.status();
    usage.merge(ComputeUsage(*requests, *limits));
  } else if (const api::Service* svc = As<api::Service>(&object); svc != nullptr) {
    const std::string& type = svc->spec().type();
    if (type == "NodePort" || type == "LoadBalancer") {
      int64_t node_ports = svc->spec().ports_size();
      // A load balancer without allocated node ports uses only the ones
      // it names.
      if (type == "LoadBalancer" && svc->spec().has_allocate_load_balancer_node_ports() &&
          !svc->spec().allocate_load_balancer_node_ports()) {
        node_ports = absl::c_count_if(svc->spec().ports(),
                                      [](const api::ServicePort& p) { return p.node_port() != 0; });
      }
      usage.emplace("services.nodeports", api::Quantity::FromInt64(node_ports));
    }
    if (type == "LoadBalancer") usage.emplace("services.loadbalancers", kOne);
  }
  return usage;
}

// --- Scopes ------------------------------------------------------------------

bool IsBestEffort(const api::PodSpec& spec) {
  for (const auto* containers : {&spec.containers(), &spec.init_containers()}) {
    for (const api::Container& c : *containers) {
      for (const auto* list : {&c.resources().requests(), &c.resources().limits()}) {
        if (list->contains("cpu") || list->contains("memory")) return false;
      }
    }
  }
  return true;
}

bool UsesCrossNamespaceAffinity(const api::PodSpec& spec) {
  auto crosses = [](const api::PodAffinityTerm& t) {
    return t.namespaces_size() > 0 || t.has_namespace_selector();
  };
  auto any = [&](const auto& required, const auto& preferred) {
    return absl::c_any_of(required, crosses) ||
           absl::c_any_of(preferred, [&](const api::WeightedPodAffinityTerm& w) {
             return crosses(w.pod_affinity_term());
           });
  };
  const api::Affinity& aff = spec.affinity();
  return any(aff.pod_affinity().required_during_scheduling_ignored_during_execution(),
             aff.pod_affinity().preferred_during_scheduling_ignored_during_execution()) ||
         any(aff.pod_anti_affinity().required_during_scheduling_ignored_during_execution(),
             aff.pod_anti_affinity().preferred_during_scheduling_ignored_during_execution());
}

bool PodMatchesScope(const api::Pod& pod, const api::ScopedResourceSelectorRequirement& req) {
  const api::PodSpec& spec = pod.spec();
  const std::string& scope = req.scope_name();
  if (scope == "Terminating") {
    return spec.has_active_deadline_seconds() && spec.active_deadline_seconds() >= 0;
  }
  if (scope == "NotTerminating") {
    return !(spec.has_active_deadline_seconds() && spec.active_deadline_seconds() >= 0);
  }
  if (scope == "BestEffort") return IsBestEffort(spec);
  if (scope == "NotBestEffort") return !IsBestEffort(spec);
  if (scope == "CrossNamespacePodAffinity") return UsesCrossNamespaceAffinity(spec);
  if (scope == "PriorityClass") {
    const std::string& name = spec.priority_class_name();
    const std::string& op = req.operator_();
    if (op == "Exists") return !name.empty();
    if (op == "DoesNotExist") return name.empty();
    const bool listed = absl::c_linear_search(req.values(), name);
    if (op == "In") return listed;
    if (op == "NotIn") return !listed;
    return false;
  }
  return false;
}

// Whether `quota` tracks `object` at all.
bool QuotaMatches(const api::ResourceQuota& quota, const api::KindInfo& kind,
                  const google::protobuf::Message& object) {
  std::vector<api::ScopedResourceSelectorRequirement> scopes;
  for (const std::string& s : quota.spec().scopes()) {
    api::ScopedResourceSelectorRequirement r;
    r.set_scope_name(s);
    r.set_operator_("Exists");
    scopes.push_back(std::move(r));
  }
  for (const auto& r : quota.spec().scope_selector().match_expressions()) scopes.push_back(r);
  if (scopes.empty()) return true;
  const api::Pod* pod = As<api::Pod>(&object);
  if (pod == nullptr || !IsKind(kind, "", "Pod")) return false;
  return absl::c_all_of(scopes, [&](const auto& r) { return PodMatchesScope(*pod, r); });
}

// --- Initialising usage ------------------------------------------------------

// The kind whose objects make up quota key `key`, or null.
const api::KindInfo* KindForKey(absl::string_view key) {
  const api::Scheme& scheme = api::Scheme::Builtin();
  std::string resource;
  std::string group;
  if (absl::ConsumePrefix(&key, "count/")) {
    size_t dot = key.find('.');
    resource = std::string(key.substr(0, dot));
    if (dot != absl::string_view::npos) group = std::string(key.substr(dot + 1));
  } else if (IsLegacyCounted(key)) {
    resource = std::string(key);
  } else if (absl::StartsWith(key, "services.")) {
    resource = "services";
  } else {
    resource = "pods";  // "pods" and the compute resources.
  }
  for (const auto& kind : scheme.kinds()) {
    if (kind->namespaced && kind->item == nullptr && kind->resource == resource &&
        kind->group == group) {
      return kind.get();
    }
  }
  return nullptr;
}

// The namespace's current usage of `keys` as far as `quota` tracks it.
absl::StatusOr<ResourceMap> RecomputeUsage(const AdmissionAttributes& a,
                                           const api::ResourceQuota& quota,
                                           const std::set<std::string>& keys) {
  std::vector<const api::KindInfo*> kinds;
  for (const std::string& key : keys) {
    const api::KindInfo* kind = KindForKey(key);
    if (kind != nullptr && !absl::c_linear_search(kinds, kind)) kinds.push_back(kind);
  }
  ResourceMap total;
  for (const std::string& key : keys) total.emplace(key, api::Quantity());
  for (const api::KindInfo* kind : kinds) {
    absl::StatusOr<std::vector<ObjectPtr>> objects = a.List(*kind, a.namespace_());
    if (!objects.ok()) return objects.status();
    for (const ObjectPtr& o : *objects) {
      if (o == nullptr || !QuotaMatches(quota, *kind, *o)) continue;
      absl::StatusOr<ResourceMap> usage = Usage(*kind, *o);
      if (!usage.ok()) return usage.status();
      for (auto it = usage->begin(); it != usage->end();) {
        it = keys.contains(it->first) ? std::next(it) : usage->erase(it);
      }
      if (absl::Status s = admission_internal::AddInto(total, *usage); !s.ok()) return s;
    }
  }
  return total;
}

// --- The plugin --------------------------------------------------------------

// "must specify cpu for: a,b; memory for: b", or "" when every container
// states what `hard` quotas.
std::string MissingRequests(const api::PodSpec& spec, const ResourceMap& hard) {
  std::vector<absl::string_view> required;
  for (absl::string_view r : kMustSpecify) {
    if (hard.contains(r)) required.push_back(r);
  }
  if (required.empty()) return "";
  std::map<std::string, std::set<std::string>> missing;
  for (const auto* containers : {&spec.containers(), &spec.init_containers()}) {
    for (const api::Container& c : *containers) {
      absl::StatusOr<ResourceMap> requests = ParseResourceList(c.resources().requests());
      absl::StatusOr<ResourceMap> limits = ParseResourceList(c.resources().limits());
      // Validation has refused bad quantities already; treat them as absent.
      ResourceMap usage = ComputeUsage(requests.ok() ? *requests : ResourceMap(),
                                       limits.ok() ? *limits : ResourceMap());
      for (absl::string_view r : required) {
        if (!usage.contains(r)) missing[std::string(r)].insert(c.name());
      }
    }
  }
  if (missing.empty()) return "";
  return absl::StrCat(
      "must specify ", absl::StrJoin(missing, "; ", [](std::string* out, const auto& entry) {
        absl::StrAppend(out, entry.first, " for: ", absl::StrJoin(entry.second, ","));
      }));
}

ResourceMap Mask(const ResourceMap& map, const std::set<std::string>& keys) {
  ResourceMap out;
  for (const std::string& k : keys) {
    if (auto it = map.find(k); it != map.end()) out.emplace(k, it->second);
  }
  return out;
}

// usage(new) - usage(old) of the request, without zeros.
absl::StatusOr<ResourceMap> UsageDelta(const api::KindInfo& kind,
                                       const google::protobuf::Message* new_object,
                                       const google::protobuf::Message* old_object) {
  ResourceMap delta;
  if (new_object != nullptr) {
    absl::StatusOr<ResourceMap> u = Usage(kind, *new_object);
    if (!u.ok()) return u.status();
    delta = *std::move(u);
  }
  if (old_object != nullptr) {
    absl::StatusOr<ResourceMap> u = Usage(kind, *old_object);
    if (!u.ok()) return u.status();
    ResourceMap negated;
    for (const auto& [k, q] : *u) negated.emplace(k, q.Neg());
    if (absl::Status s = admission_internal::AddInto(delta, negated); !s.ok()) return s;
  }
  std::erase_if(delta, [](const auto& entry) { return entry.second.IsZero(); });
  return delta;
}

// The quota's status.used for every key of `hard`: as recorded, and
// recounted where the record is silent.
absl::StatusOr<ResourceMap> CurrentUsage(const AdmissionAttributes& a,
                                         const api::ResourceQuota& quota, const ResourceMap& hard) {
  ResourceMap used;
  std::set<std::string> unknown;
  for (const auto& entry : hard) {
    const std::string& k = entry.first;
    auto it = quota.status().used().find(k);
    absl::StatusOr<api::Quantity> q = it == quota.status().used().end()
                                          ? absl::StatusOr<api::Quantity>(absl::NotFoundError(k))
                                          : api::Quantity::Parse(it->second);
    if (q.ok()) {
      used.emplace(k, *q);
    } else {
      unknown.insert(k);
    }
  }
  if (!unknown.empty()) {
    absl::StatusOr<ResourceMap> recounted = RecomputeUsage(a, quota, unknown);
    if (!recounted.ok()) return recounted.status();
    used.merge(std::move(*recounted));
  }
  return used;
}

// Checks `delta` against one quota. Returns the charged copy of the quota,
// null when the quota does not track anything the request changes, or the
// refusal.
absl::StatusOr<std::unique_ptr<api::ResourceQuota>> Charge(const AdmissionAttributes& a,
                                                           const api::ResourceQuota& quota,
                                                           const google::protobuf::Message& subject,
                                                           const ResourceMap& delta) {
  const std::string& name = quota.metadata().name();
  absl::StatusOr<ResourceMap> hard = ParseResourceList(quota.spec().hard());
  if (!hard.ok()) {
    return absl::InternalError(
        absl::StrCat("resource quota ", name, " is unusable: ", hard.status().message()));
  }
  if (a.operation() == AdmissionOperation::kCreate) {
    if (const api::Pod* pod = As<api::Pod>(&subject); pod != nullptr) {
      std::string missing = MissingRequests(pod->spec(), *hard);
      if (!missing.empty()) {
        return admission_internal::Forbidden(a,
                                             absl::StrCat("failed quota: ", name, ": ", missing));
      }
    }
  }
  std::set<std::string> covered;
  for (const auto& entry : delta) {
    if (hard->contains(entry.first)) covered.insert(entry.first);
  }
  if (covered.empty()) return nullptr;

  absl::StatusOr<ResourceMap> used = CurrentUsage(a, quota, *hard);
  if (!used.ok()) return used.status();
  ResourceMap new_used = *used;
  ResourceMap requested;
  std::set<std::string> exceeded;
  for (const std::string& k : covered) {
    const api::Quantity& d = delta.at(k);
    absl::StatusOr<api::Quantity> sum = used->at(k).Add(d);
    if (!sum.ok()) return sum.status();
    // Only what grows is checked: a release is welcome even over the limit.
    if (d.Sign() > 0) {
      requested.emplace(k, d);
      if (*sum > hard->at(k)) exceeded.insert(k);
    }
    // Releasing what was never charged (objects older than the quota's
    // last recount) must not go below zero.
    new_used[k] = sum->Sign() < 0 ? api::Quantity() : *sum;
  }
  if (!exceeded.empty()) {
    using admission_internal::FormatResourceMap;
    return admission_internal::Forbidden(
        a, absl::StrCat("exceeded quota: ", name,
                        ", requested: ", FormatResourceMap(Mask(requested, exceeded)),
                        ", used: ", FormatResourceMap(Mask(*used, exceeded)),
                        ", limited: ", FormatResourceMap(Mask(*hard, exceeded))));
  }

  auto charged = std::make_unique<api::ResourceQuota>(quota);
  api::ResourceQuotaStatus* status = charged->mutable_status();
  *status->mutable_hard() = quota.spec().hard();
  status->mutable_used()->clear();
  for (const auto& [k, q] : new_used) (*status->mutable_used())[k] = q.ToString();
  return charged;
}

class ResourceQuotaPlugin final : public ValidatingAdmissionPlugin {
 public:
  absl::string_view Name() const override { return "ResourceQuota"; }

  absl::Status Validate(AdmissionAttributes& a) override {
    if (a.namespace_().empty()) return absl::OkStatus();
    const api::KindInfo& kind = a.kind();
    // A pod's status can finish it, which releases its compute resources;
    // no other subresource changes usage.
    if (!a.subresource().empty() && !(IsKind(kind, "", "Pod") && a.subresource() == "status")) {
      return absl::OkStatus();
    }
    const AdmissionOperation op = a.operation();
    const google::protobuf::Message* new_object =
        op == AdmissionOperation::kDelete ? nullptr : a.object();
    const google::protobuf::Message* old_object =
        op == AdmissionOperation::kCreate ? nullptr : a.old_object();
    if (op != AdmissionOperation::kDelete &&
        (new_object == nullptr || new_object->GetDescriptor() != kind.descriptor)) {
      return absl::OkStatus();
    }
    if (op != AdmissionOperation::kCreate && old_object == nullptr) return absl::OkStatus();

    // A create always uses something: look for quotas first (most
    // namespaces have none). An update often changes no usage: that is
    // known without reading anything.
    const api::KindInfo& quota_kind = BuiltinKind(api::ResourceQuota::descriptor());
    absl::StatusOr<std::vector<ObjectPtr>> stored;
    if (op == AdmissionOperation::kCreate) {
      stored = a.List(quota_kind, a.namespace_());
      if (!stored.ok()) return stored.status();
      if (stored->empty()) return absl::OkStatus();
    }
    absl::StatusOr<ResourceMap> delta = UsageDelta(kind, new_object, old_object);
    if (!delta.ok()) return delta.status();
    if (delta->empty()) return absl::OkStatus();
    if (op != AdmissionOperation::kCreate) {
      stored = a.List(quota_kind, a.namespace_());
      if (!stored.ok()) return stored.status();
    }
    std::vector<const api::ResourceQuota*> quotas;
    for (const ObjectPtr& o : *stored) {
      if (const auto* q = As<api::ResourceQuota>(o.get()); q != nullptr) quotas.push_back(q);
    }
    absl::c_sort(quotas, [](const api::ResourceQuota* x, const api::ResourceQuota* y) {
      return x->metadata().name() < y->metadata().name();
    });

    const google::protobuf::Message& subject = new_object != nullptr ? *new_object : *old_object;
    const bool writes_quota = IsKind(kind, "", "ResourceQuota");
    const std::string subject_name = admission_internal::SubjectName(a);
    std::vector<std::unique_ptr<api::ResourceQuota>> charges;
    for (const api::ResourceQuota* quota : quotas) {
      // The request's own quota is its write, not a charge.
      if (writes_quota && quota->metadata().name() == subject_name) continue;
      if (!QuotaMatches(*quota, kind, subject)) continue;
      absl::StatusOr<std::unique_ptr<api::ResourceQuota>> charged =
          Charge(a, *quota, subject, *delta);
      if (!charged.ok()) return charged.status();
      if (*charged != nullptr) charges.push_back(*std::move(charged));
    }
    // Charge only when every quota has agreed.
    for (auto& charged : charges) {
      if (absl::Status s = a.UpdateInSameTransaction(quota_kind, std::move(charged)); !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::shared_ptr<ValidatingAdmissionPlugin> NewResourceQuota() {
  return std::make_shared<ResourceQuotaPlugin>();
}

}  // namespace korch::apiserver
