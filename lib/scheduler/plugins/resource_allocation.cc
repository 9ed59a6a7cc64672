#include "scheduler/plugins/resource_allocation.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "korch/base/status.h"

namespace korch::scheduler::plugins {

ResourceSpec::Kind ResourceKind(const std::string& name) {
  using Kind = ResourceSpec::Kind;
  if (name == "cpu") return Kind::kCpu;
  if (name == "memory") return Kind::kMemory;
  if (name == "ephemeral-storage") return Kind::kEphemeralStorage;
  // Scalar resources: extended, hugepages-*, kubernetes.io/-prefixed native
  // resources and attachable-volumes-*.
  if (IsExtendedResourceName(name) || absl::StartsWith(name, "hugepages-") ||
      absl::StrContains(name, "kubernetes.io/") || absl::StartsWith(name, "attachable-volumes-")) {
    return Kind::kScalar;
  }
  return Kind::kIgnored;
}

std::vector<ResourceSpec> DefaultResourceSpecs() {
  std::vector<ResourceSpec> specs(2);
  specs[0].name = "cpu";
  specs[0].kind = ResourceSpec::Kind::kCpu;
  specs[1].name = "memory";
  specs[1].kind = ResourceSpec::Kind::kMemory;
  return specs;
}

absl::StatusOr<std::vector<ResourceSpec>> DecodeResourceSpecs(const ArgsDecoder& decoder,
                                                              const nlohmann::json& list,
                                                              const api::FieldPath& path) {
  KORCH_RETURN_IF_ERROR(decoder.ExpectArray(list, path));
  std::vector<ResourceSpec> specs;
  absl::flat_hash_set<std::string> seen;
  for (size_t i = 0; i < list.size(); ++i) {
    const nlohmann::json& item = list[i];
    api::FieldPath item_path = path.Index(static_cast<int64_t>(i));
    KORCH_RETURN_IF_ERROR(decoder.ExpectObject(item, item_path));
    KORCH_RETURN_IF_ERROR(decoder.CheckKnown(item, item_path, {"name", "weight"}));
    ResourceSpec spec;
    if (auto it = item.find("name"); it != item.end()) {
      KORCH_RETURN_IF_ERROR(decoder.ExpectString(*it, item_path.Child("name")));
      spec.name = it->get<std::string>();
    }
    if (spec.name.empty()) return decoder.Errors({api::Required(item_path.Child("name"))});
    if (!seen.insert(spec.name).second) {
      return decoder.Errors({api::Duplicate(item_path.Child("name"), spec.name)});
    }
    if (auto it = item.find("weight"); it != item.end()) {
      KORCH_RETURN_IF_ERROR(decoder.ExpectInteger(*it, item_path.Child("weight")));
      spec.weight = it->get<int64_t>();
      if (spec.weight == 0) spec.weight = 1;
    }
    spec.kind = ResourceKind(spec.name);
    specs.push_back(std::move(spec));
  }
  return specs;
}

PodRequestList PodRequests(const PodInfo& pod, const std::vector<ResourceSpec>& specs,
                           bool use_requested) {
  PodRequestList out(specs.size(), 0);
  const Resource& r = pod.requests();
  for (size_t i = 0; i < specs.size(); ++i) {
    switch (specs[i].kind) {
      case ResourceSpec::Kind::kCpu:
        out[i] = use_requested ? r.milli_cpu : pod.non_zero_milli_cpu();
        break;
      case ResourceSpec::Kind::kMemory:
        out[i] = use_requested ? r.memory : pod.non_zero_memory();
        break;
      case ResourceSpec::Kind::kEphemeralStorage:
        out[i] = r.ephemeral_storage;
        break;
      case ResourceSpec::Kind::kScalar:
        if (auto it = r.scalar.find(specs[i].name); it != r.scalar.end()) out[i] = it->second;
        break;
      case ResourceSpec::Kind::kIgnored:
        break;
    }
  }
  return out;
}

}  // namespace korch::scheduler::plugins
