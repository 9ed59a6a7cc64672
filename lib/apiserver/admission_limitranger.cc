// LimitRanger: the namespace's LimitRanges default the resources of new
// pods' containers and bound them (min, max, limit/request ratio) per
// container and per pod.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "apiserver/admission_internal.h"
#include "korch/api/core.pb.h"
#include "korch/apiserver/admission.h"

namespace korch::apiserver {
namespace {

using admission_internal::As;
using admission_internal::AsMutable;
using admission_internal::BuiltinKind;
using admission_internal::ParseResourceList;
using admission_internal::ProtoResourceList;
using admission_internal::ResourceMap;

constexpr char kAnnotation[] = "kubernetes.io/limit-ranger";

// Only pod creation: containers cannot change afterwards, so an update has
// nothing to default or re-check. (PersistentVolumeClaims are not served.)
bool Applies(const AdmissionAttributes& a) {
  return a.operation() == AdmissionOperation::kCreate && a.subresource().empty() &&
         admission_internal::IsKind(a.kind(), "", "Pod");
}

absl::StatusOr<std::vector<std::shared_ptr<const api::LimitRange>>> LimitRanges(
    const AdmissionAttributes& a) {
  absl::StatusOr<std::vector<ObjectPtr>> all =
      a.List(BuiltinKind(api::LimitRange::descriptor()), a.namespace_());
  if (!all.ok()) return all.status();
  std::vector<std::shared_ptr<const api::LimitRange>> out;
  for (const ObjectPtr& o : *all) {
    if (const api::LimitRange* lr = As<api::LimitRange>(o.get()); lr != nullptr) {
      out.push_back(std::shared_ptr<const api::LimitRange>(o, lr));
    }
  }
  return out;
}

// Fills the resources `container` lacks from the defaults; returns what it
// set, for the annotation ("cpu, memory request for container app").
std::vector<std::string> MergeDefaults(api::Container& container, absl::string_view what,
                                       const ProtoResourceList& default_limits,
                                       const ProtoResourceList& default_requests) {
  api::ResourceRequirements* r = container.mutable_resources();
  // What pod defaulting does first in Kubernetes: a limit without a request
  // implies an equal request, which a default request must not replace.
  for (const auto& [name, value] : r->limits()) {
    if (!r->requests().contains(name)) (*r->mutable_requests())[name] = value;
  }
  std::vector<std::string> set_requests;
  std::vector<std::string> set_limits;
  for (const auto& [name, value] : default_limits) {
    if (r->limits().contains(name)) continue;
    (*r->mutable_limits())[name] = value;
    set_limits.push_back(name);
  }
  for (const auto& [name, value] : default_requests) {
    if (r->requests().contains(name)) continue;
    (*r->mutable_requests())[name] = value;
    set_requests.push_back(name);
  }
  std::vector<std::string> notes;
  std::sort(set_requests.begin(), set_requests.end());
  std::sort(set_limits.begin(), set_limits.end());
  if (!set_requests.empty()) {
    notes.push_back(absl::StrCat(absl::StrJoin(set_requests, ", "), " request for ", what, " ",
                                 container.name()));
  }
  if (!set_limits.empty()) {
    notes.push_back(
        absl::StrCat(absl::StrJoin(set_limits, ", "), " limit for ", what, " ", container.name()));
  }
  return notes;
}

// The three checks of one resource against one LimitRange item, worded as
// Kubernetes words them. `type` is "Container" or "Pod".
void CheckMin(absl::string_view type, const std::string& name, const api::Quantity& min,
              const ResourceMap& requests, const ResourceMap& limits,
              std::vector<std::string>& errors) {
  auto req = requests.find(name);
  auto lim = limits.find(name);
  if (req == requests.end()) {
    errors.push_back(absl::StrCat("minimum ", name, " usage per ", type, " is ", min.ToString(),
                                  ".  No request is specified"));
  } else if (req->second < min) {
    errors.push_back(absl::StrCat("minimum ", name, " usage per ", type, " is ", min.ToString(),
                                  ", but request is ", req->second.ToString()));
  } else if (lim != limits.end() && lim->second < min) {
    errors.push_back(absl::StrCat("minimum ", name, " usage per ", type, " is ", min.ToString(),
                                  ", but limit is ", lim->second.ToString()));
  }
}

void CheckMax(absl::string_view type, const std::string& name, const api::Quantity& max,
              const ResourceMap& requests, const ResourceMap& limits,
              std::vector<std::string>& errors) {
  auto req = requests.find(name);
  auto lim = limits.find(name);
  if (lim == limits.end()) {
    errors.push_back(absl::StrCat("maximum ", name, " usage per ", type, " is ", max.ToString(),
                                  ".  No limit is specified"));
  } else if (lim->second > max) {
    errors.push_back(absl::StrCat("maximum ", name, " usage per ", type, " is ", max.ToString(),
                                  ", but limit is ", lim->second.ToString()));
  } else if (req != requests.end() && req->second > max) {
    errors.push_back(absl::StrCat("maximum ", name, " usage per ", type, " is ", max.ToString(),
                                  ", but request is ", req->second.ToString()));
  }
}

void CheckRatio(absl::string_view type, const std::string& name, const api::Quantity& ratio,
                const ResourceMap& requests, const ResourceMap& limits,
                std::vector<std::string>& errors) {
  auto req = requests.find(name);
  auto lim = limits.find(name);
  if (req == requests.end() || req->second.IsZero()) {
    errors.push_back(absl::StrCat(name, " max limit to request ratio per ", type, " is ",
                                  ratio.ToString(),
                                  ", but no request is specified or request is 0"));
    return;
  }
  if (lim == limits.end() || lim->second.IsZero()) {
    errors.push_back(absl::StrCat(name, " max limit to request ratio per ", type, " is ",
                                  ratio.ToString(), ", but no limit is specified or limit is 0"));
    return;
  }
  // limit / request > ratio, compared exactly in thousandths.
  const __int128 lim_m = lim->second.MilliValue();
  const __int128 req_m = req->second.MilliValue();
  const __int128 ratio_m = ratio.MilliValue();
  if (lim_m * 1000 > ratio_m * req_m) {
    const double observed = static_cast<double>(lim->second.MilliValue()) /
                            static_cast<double>(req->second.MilliValue());
    errors.push_back(
        absl::StrFormat("%s max limit to request ratio per %s is %s, but provided "
                        "ratio is %f",
                        name, type, ratio.ToString(), observed));
  }
}

absl::Status CheckItem(absl::string_view type, const api::LimitRangeItem& item,
                       const ResourceMap& requests, const ResourceMap& limits,
                       std::vector<std::string>& errors) {
  absl::StatusOr<ResourceMap> min = ParseResourceList(item.min());
  absl::StatusOr<ResourceMap> max = ParseResourceList(item.max());
  absl::StatusOr<ResourceMap> ratio = ParseResourceList(item.max_limit_request_ratio());
  for (const absl::Status& s : {min.status(), max.status(), ratio.status()}) {
    if (!s.ok()) return s;
  }
  for (const auto& [name, q] : *min) CheckMin(type, name, q, requests, limits, errors);
  for (const auto& [name, q] : *max) CheckMax(type, name, q, requests, limits, errors);
  for (const auto& [name, q] : *ratio) CheckRatio(type, name, q, requests, limits, errors);
  return absl::OkStatus();
}

absl::Status CheckPod(const api::LimitRange& lr, const api::Pod& pod,
                      std::vector<std::string>& errors) {
  for (const api::LimitRangeItem& item : lr.spec().limits()) {
    if (item.type() == "Container") {
      for (const auto* containers : {&pod.spec().containers(), &pod.spec().init_containers()}) {
        for (const api::Container& c : *containers) {
          absl::StatusOr<ResourceMap> requests = ParseResourceList(c.resources().requests());
          if (!requests.ok()) return requests.status();
          absl::StatusOr<ResourceMap> limits = ParseResourceList(c.resources().limits());
          if (!limits.ok()) return limits.status();
          if (absl::Status s = CheckItem("Container", item, *requests, *limits, errors); !s.ok()) {
            return s;
          }
        }
      }
    } else if (item.type() == "Pod") {
      absl::StatusOr<ResourceMap> requests =
          admission_internal::PodRequests(pod.spec(), /*include_overhead=*/false);
      if (!requests.ok()) return requests.status();
      absl::StatusOr<ResourceMap> limits =
          admission_internal::PodLimits(pod.spec(), /*include_overhead=*/false);
      if (!limits.ok()) return limits.status();
      if (absl::Status s = CheckItem("Pod", item, *requests, *limits, errors); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

class LimitRanger final : public LimitRangerPlugin {
 public:
  absl::string_view Name() const override { return "LimitRanger"; }

  absl::Status Admit(AdmissionAttributes& a) override {
    if (!Applies(a)) return absl::OkStatus();
    api::Pod* pod = AsMutable<api::Pod>(a.object());
    if (pod == nullptr) return absl::OkStatus();
    absl::StatusOr<std::vector<std::shared_ptr<const api::LimitRange>>> ranges = LimitRanges(a);
    if (!ranges.ok()) return ranges.status();
    std::vector<std::string> notes;
    for (const auto& lr : *ranges) {
      // The Container items' defaults; a later item overrides an earlier
      // one for the same resource, and the first LimitRange that defaults a
      // resource wins (later ones find it set).
      ProtoResourceList default_limits;
      ProtoResourceList default_requests;
      for (const api::LimitRangeItem& item : lr->spec().limits()) {
        if (item.type() != "Container") continue;
        for (const auto& [k, v] : item.default_()) default_limits[k] = v;
        for (const auto& [k, v] : item.default_request()) default_requests[k] = v;
      }
      if (default_limits.empty() && default_requests.empty()) continue;
      for (api::Container& c : *pod->mutable_spec()->mutable_containers()) {
        for (std::string& n : MergeDefaults(c, "container", default_limits, default_requests)) {
          notes.push_back(std::move(n));
        }
      }
      for (api::Container& c : *pod->mutable_spec()->mutable_init_containers()) {
        for (std::string& n :
             MergeDefaults(c, "init container", default_limits, default_requests)) {
          notes.push_back(std::move(n));
        }
      }
    }
    if (!notes.empty()) {
      (*pod->mutable_metadata()->mutable_annotations())[kAnnotation] =
          absl::StrCat("LimitRanger plugin set: ", absl::StrJoin(notes, "; "));
    }
    return absl::OkStatus();
  }

  absl::Status Validate(AdmissionAttributes& a) override {
    if (!Applies(a)) return absl::OkStatus();
    const api::Pod* pod = As<api::Pod>(a.object());
    if (pod == nullptr) return absl::OkStatus();
    absl::StatusOr<std::vector<std::shared_ptr<const api::LimitRange>>> ranges = LimitRanges(a);
    if (!ranges.ok()) return ranges.status();
    for (const auto& lr : *ranges) {
      std::vector<std::string> errors;
      if (absl::Status s = CheckPod(*lr, *pod, errors); !s.ok()) {
        return absl::InternalError(absl::StrCat("LimitRange ", lr->metadata().name(),
                                                " cannot be applied: ", s.message()));
      }
      if (errors.empty()) continue;
      // Kubernetes' error aggregate: one message bare, several in brackets.
      return admission_internal::Forbidden(
          a, errors.size() == 1 ? errors[0] : absl::StrCat("[", absl::StrJoin(errors, ", "), "]"));
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::shared_ptr<LimitRangerPlugin> NewLimitRanger() { return std::make_shared<LimitRanger>(); }

}  // namespace korch::apiserver
