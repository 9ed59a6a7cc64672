// The admission chain's bookkeeping and the helpers the built-in plugins
// share (admission_internal.h). The plugins themselves are in
// admission_*.cc.

#include "korch/apiserver/admission.h"

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "apiserver/admission_internal.h"
#include "korch/api/object.h"
#include "korch/apiserver/request.h"

namespace korch::apiserver {

absl::string_view AdmissionOperationName(AdmissionOperation op) {
  switch (op) {
    case AdmissionOperation::kCreate:
      return "CREATE";
    case AdmissionOperation::kUpdate:
      return "UPDATE";
    case AdmissionOperation::kDelete:
      return "DELETE";
  }
  return "UNKNOWN";
}

namespace {

template <typename Plugin>
absl::Status CheckOneChain(const std::vector<std::shared_ptr<Plugin>>& plugins,
                           absl::string_view chain) {
  absl::flat_hash_set<std::string> seen;
  for (size_t i = 0; i < plugins.size(); ++i) {
    if (plugins[i] == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("admission plugin ", i, " of the ", chain, " chain is null"));
    }
    std::string name(plugins[i]->Name());
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("admission plugin \"", name, "\" appears twice in the ", chain, " chain"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status AdmissionChain::Check() const {
  if (absl::Status s = CheckOneChain(mutating, "mutating"); !s.ok()) return s;
  return CheckOneChain(validating, "validating");
}

AdmissionChain DefaultAdmissionChain() {
  AdmissionChain chain;
  std::shared_ptr<LimitRangerPlugin> limit_ranger = NewLimitRanger();
  chain.mutating = {NewDefaultTolerationSeconds(), limit_ranger, NewPriority()};
  // ResourceQuota is last so that it charges only requests every other
  // plugin has accepted.
  chain.validating = {NewNamespaceLifecycle(), limit_ranger, NewNodeRestriction(),
                      NewResourceQuota()};
  return chain;
}

namespace admission_internal {

bool IsKind(const api::KindInfo& kind, absl::string_view group, absl::string_view kind_name) {
  return kind.group == group && kind.kind == kind_name;
}

const api::KindInfo& BuiltinKind(const google::protobuf::Descriptor* descriptor) {
  const api::KindInfo* info = api::Scheme::Builtin().Find(descriptor);
  // Only called with korch's own resource types, which the built-in scheme
  // always has.
  return *info;
}

std::string SubjectName(const AdmissionAttributes& a) {
  if (!a.name().empty()) return std::string(a.name());
  for (const google::protobuf::Message* m : {a.object(), a.old_object()}) {
    if (m == nullptr) continue;
    if (const api::ObjectMeta* meta = api::ObjectMetaOf(*m); meta != nullptr) {
      if (!meta->name().empty()) return meta->name();
    }
  }
  return "";
}

absl::Status Forbidden(const AdmissionAttributes& a, absl::string_view detail) {
  return ForbiddenError(a.kind().QualifiedResource(), SubjectName(a), detail);
}

absl::StatusOr<ResourceMap> ParseResourceList(const ProtoResourceList& list) {
  ResourceMap out;
  for (const auto& [name, text] : list) {
    absl::StatusOr<api::Quantity> q = api::Quantity::Parse(text);
    if (!q.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("resource ", name, ": ", q.status().message()));
    }
    out.emplace(name, *q);
  }
  return out;
}

absl::Status AddInto(ResourceMap& into, const ResourceMap& add) {
  for (const auto& [name, q] : add) {
    auto it = into.find(name);
    if (it == into.end()) {
      into.emplace(name, q);
      continue;
    }
    absl::StatusOr<api::Quantity> sum = it->second.Add(q);
    if (!sum.ok()) return sum.status();
    it->second = *sum;
  }
  return absl::OkStatus();
}

void MaxInto(ResourceMap& into, const ResourceMap& other) {
  for (const auto& [name, q] : other) {
    auto it = into.find(name);
    if (it == into.end()) {
      into.emplace(name, q);
    } else if (q > it->second) {
      it->second = q;
    }
  }
}

std::string FormatResourceMap(const ResourceMap& map) {
  return absl::StrJoin(map, ",", [](std::string* out, const auto& entry) {
    absl::StrAppend(out, entry.first, "=", entry.second.ToString());
  });
}

namespace {

using ListOf = const ProtoResourceList& (*)(const api::ResourceRequirements&);

const ProtoResourceList& RequestsOf(const api::ResourceRequirements& r) { return r.requests(); }
const ProtoResourceList& LimitsOf(const api::ResourceRequirements& r) { return r.limits(); }

// Kubernetes' resourcehelper aggregation: regular containers run together,
// init containers one at a time, except sidecars (restartPolicy Always),
// which start in order and then keep running beside everything after them.
absl::StatusOr<ResourceMap> Aggregate(const api::PodSpec& spec, ListOf list) {
  ResourceMap total;
  for (const api::Container& c : spec.containers()) {
    absl::StatusOr<ResourceMap> r = ParseResourceList(list(c.resources()));
    if (!r.ok()) return r.status();
    if (absl::Status s = AddInto(total, *r); !s.ok()) return s;
  }
  ResourceMap sidecars;
  ResourceMap init_peak;
  for (const api::Container& c : spec.init_containers()) {
    absl::StatusOr<ResourceMap> r = ParseResourceList(list(c.resources()));
    if (!r.ok()) return r.status();
    ResourceMap while_running;
    if (c.restart_policy() == "Always") {
      if (absl::Status s = AddInto(total, *r); !s.ok()) return s;
      if (absl::Status s = AddInto(sidecars, *r); !s.ok()) return s;
      while_running = sidecars;
    } else {
      while_running = *r;
      if (absl::Status s = AddInto(while_running, sidecars); !s.ok()) return s;
    }
    MaxInto(init_peak, while_running);
  }
  MaxInto(total, init_peak);
  return total;
}

}  // namespace

absl::StatusOr<ResourceMap> PodRequests(const api::PodSpec& spec, bool include_overhead) {
  absl::StatusOr<ResourceMap> total = Aggregate(spec, &RequestsOf);
  if (!total.ok() || !include_overhead) return total;
  absl::StatusOr<ResourceMap> overhead = ParseResourceList(spec.overhead());
  if (!overhead.ok()) return overhead.status();
  if (absl::Status s = AddInto(*total, *overhead); !s.ok()) return s;
  return total;
}

absl::StatusOr<ResourceMap> PodLimits(const api::PodSpec& spec, bool include_overhead) {
  absl::StatusOr<ResourceMap> total = Aggregate(spec, &LimitsOf);
  if (!total.ok() || !include_overhead) return total;
  absl::StatusOr<ResourceMap> overhead = ParseResourceList(spec.overhead());
  if (!overhead.ok()) return overhead.status();
  // Overhead raises only limits that exist: no limit stays no limit.
  for (const auto& [name, q] : *overhead) {
    auto it = total->find(name);
    if (it == total->end()) continue;
    absl::StatusOr<api::Quantity> sum = it->second.Add(q);
    if (!sum.ok()) return sum.status();
    it->second = *sum;
  }
  return total;
}

}  // namespace admission_internal
}  // namespace korch::apiserver
