// NodeResourcesFit: the node must have room for the pod's requests (pods,
// cpu, memory, ephemeral storage, extended resources), and scores nodes by
// how allocated they would be: LeastAllocated (spread, the default),
// MostAllocated (bin packing) or RequestedToCapacityRatio (a piecewise
// linear function of utilization).
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "korch/base/status.h"
#include "korch/scheduler/registry.h"
#include "scheduler/plugins/node_plugin_util.h"
#include "scheduler/plugins/plugins.h"
#include "scheduler/plugins/resource_allocation.h"

namespace korch::scheduler::plugins {
namespace {

constexpr absl::string_view kKind = "NodeResourcesFitArgs";

enum class Strategy { kLeastAllocated, kMostAllocated, kRequestedToCapacityRatio };

struct ShapePoint {
  int64_t utilization = 0;  // 0-100
  int64_t score = 0;        // 0-100 (the configured 0-10, scaled)
};

struct FitArgs {
  absl::flat_hash_set<std::string> ignored_resources;
  absl::flat_hash_set<std::string> ignored_resource_groups;
  Strategy strategy = Strategy::kLeastAllocated;
  std::vector<ResourceSpec> resources = DefaultResourceSpecs();
  std::vector<ShapePoint> shape;
};

// The scalar resources a pod requests that Filter must check (non-zero and
// not ignored), found once per cycle. Absent from the CycleState when there
// are none.
struct PreFilterState final : StateData {
  std::vector<std::pair<std::string, int64_t>> scalars;
  std::unique_ptr<StateData> Clone() const override {
    return std::make_unique<PreFilterState>(*this);
  }
};

struct PreScoreState final : StateData {
  PodRequestList requests;
  std::unique_ptr<StateData> Clone() const override {
    return std::make_unique<PreScoreState>(*this);
  }
};

// Shared rejections (node_plugin_util.h), one per fixed reason.
enum Shortage { kTooManyPods, kCpu, kMemory, kEphemeralStorage };
const PluginStatus& Rejected(Shortage shortage) {
  static const PluginStatus* const kStatuses = new PluginStatus[4]{
      PluginStatus::Unschedulable("Too many pods"),
      PluginStatus::Unschedulable("Insufficient cpu"),
      PluginStatus::Unschedulable("Insufficient memory"),
      PluginStatus::Unschedulable("Insufficient ephemeral-storage"),
  };
  return kStatuses[shortage];
}

int64_t LeastRequestedScore(int64_t requested, int64_t capacity) {
  if (capacity == 0 || requested > capacity) return 0;
  return (capacity - requested) * kMaxNodeScore / capacity;
}

int64_t MostRequestedScore(int64_t requested, int64_t capacity) {
  if (capacity == 0) return 0;
  if (requested > capacity) requested = capacity;
  return requested * kMaxNodeScore / capacity;
}

// The broken linear function through `shape` (sorted by utilization):
// constant before the first and after the last point.
int64_t BrokenLinear(const std::vector<ShapePoint>& shape, int64_t p) {
  for (size_t i = 0; i < shape.size(); ++i) {
    if (p <= shape[i].utilization) {
      if (i == 0) return shape[0].score;
      const ShapePoint& a = shape[i - 1];
      const ShapePoint& b = shape[i];
      return a.score + (b.score - a.score) * (p - a.utilization) / (b.utilization - a.utilization);
    }
  }
  return shape.back().score;
}

class NodeResourcesFit final : public PreFilterPlugin,
                               public FilterPlugin,
                               public PreScorePlugin,
                               public ScorePlugin {
 public:
  NodeResourcesFit(FitArgs args, StateKey prefilter_key, StateKey prescore_key)
      : args_(std::move(args)), prefilter_key_(prefilter_key), prescore_key_(prescore_key) {}

  absl::string_view Name() const override { return names::kNodeResourcesFit; }

  PluginStatus PreFilter(CycleState& state, const PodInfo& pod, PreFilterResult& result) override {
    const auto& scalar = pod.requests().scalar;
    if (scalar.empty()) {
      state.Delete(prefilter_key_);
      return PluginStatus();
    }
    auto s = std::make_unique<PreFilterState>();
    for (const auto& [name, amount] : scalar) {
      if (amount == 0 || Ignored(name)) continue;
      s->scalars.emplace_back(name, amount);
    }
    state.Write(prefilter_key_, std::move(s));
    return PluginStatus();
  }

  PluginStatus Filter(const CycleState& state, const PodInfo& pod,
                      const NodeInfo& node) const override {
    PluginStatus status;
    // The first reason comes from a shared status (node_plugin_util.h): a
    // node short of one resource costs no allocation.
    auto fail = [&status](const PluginStatus& shared) {
      if (status.ok()) {
        status = shared;
      } else {
        status.AddReason(shared.reasons()[0]);
      }
    };
    auto fail_scalar = [&status](const std::string& name) {
      std::string reason = absl::StrCat("Insufficient ", name);
      if (status.ok()) {
        status = PluginStatus::Unschedulable(std::move(reason));
      } else {
        status.AddReason(std::move(reason));
      }
    };
    const Resource& alloc = node.allocatable();
    const Resource& used = node.requested();
    if (static_cast<int64_t>(node.pods().size()) + 1 > alloc.allowed_pod_number) {
      fail(Rejected(kTooManyPods));
    }
    const Resource& want = pod.requests();
    if (want.milli_cpu > 0 && want.milli_cpu > alloc.milli_cpu - used.milli_cpu) {
      fail(Rejected(kCpu));
    }
    if (want.memory > 0 && want.memory > alloc.memory - used.memory) fail(Rejected(kMemory));
    if (want.ephemeral_storage > 0 &&
        want.ephemeral_storage > alloc.ephemeral_storage - used.ephemeral_storage) {
      fail(Rejected(kEphemeralStorage));
    }
    if (const auto* s = state.Read<PreFilterState>(prefilter_key_); s != nullptr) {
      for (const auto& [name, amount] : s->scalars) {
        auto a = alloc.scalar.find(name);
        auto u = used.scalar.find(name);
        int64_t free =
            (a == alloc.scalar.end() ? 0 : a->second) - (u == used.scalar.end() ? 0 : u->second);
        if (amount > free) fail_scalar(name);
      }
    }
    return status;
  }

  PluginStatus PreScore(CycleState& state, const PodInfo& pod,
                        absl::Span<const NodeInfo* const> nodes) override {
    auto s = std::make_unique<PreScoreState>();
    s->requests = PodRequests(pod, args_.resources, /*use_requested=*/false);
    state.Write(prescore_key_, std::move(s));
    return PluginStatus();
  }

  int64_t Score(const CycleState& state, const PodInfo& pod, const NodeInfo& node) const override {
    const auto* s = state.Read<PreScoreState>(prescore_key_);
    // PreScore always runs before Score (the framework's contract).
    return s == nullptr ? 0 : ScoreNode(s->requests, node);
  }

  void ScoreNodes(const CycleState& state, const PodInfo& pod,
                  absl::Span<NodeScore> scores) const override {
    const auto* s = state.Read<PreScoreState>(prescore_key_);
    for (NodeScore& ns : scores) ns.score = s == nullptr ? 0 : ScoreNode(s->requests, *ns.node);
  }

 private:
  int64_t ScoreNode(const PodRequestList& requests, const NodeInfo& node) const {
    int64_t node_score = 0;
    int64_t weight_sum = 0;
    for (size_t i = 0; i < args_.resources.size(); ++i) {
      const ResourceSpec& spec = args_.resources[i];
      AllocatableRequested a = NodeAmounts(node, spec, requests[i], /*use_requested=*/false);
      if (a.allocatable == 0) continue;
      switch (args_.strategy) {
        case Strategy::kLeastAllocated:
          node_score += LeastRequestedScore(a.requested, a.allocatable) * spec.weight;
          weight_sum += spec.weight;
          break;
        case Strategy::kMostAllocated:
          node_score += MostRequestedScore(a.requested, a.allocatable) * spec.weight;
          weight_sum += spec.weight;
          break;
        case Strategy::kRequestedToCapacityRatio: {
          int64_t utilization =
              a.requested > a.allocatable ? 100 : a.requested * 100 / a.allocatable;
          int64_t score = BrokenLinear(args_.shape, utilization);
          // Kubernetes leaves resources that score 0 out of the average.
          if (score > 0) {
            node_score += score * spec.weight;
            weight_sum += spec.weight;
          }
          break;
        }
      }
    }
    if (weight_sum == 0) return 0;
    if (args_.strategy == Strategy::kRequestedToCapacityRatio) {
      return static_cast<int64_t>(
          std::round(static_cast<double>(node_score) / static_cast<double>(weight_sum)));
    }
    return node_score / weight_sum;
  }

  // Only extended resources can be ignored, by name or by domain prefix.
  bool Ignored(const std::string& name) const {
    if (!IsExtendedResourceName(name)) return false;
    if (args_.ignored_resources.contains(name)) return true;
    if (args_.ignored_resource_groups.empty()) return false;
    absl::string_view prefix = name;
    prefix = prefix.substr(0, prefix.find('/'));
    return args_.ignored_resource_groups.contains(prefix);
  }

  FitArgs args_;
  StateKey prefilter_key_;
  StateKey prescore_key_;
};

absl::Status DecodeStringSet(const ArgsDecoder& d, const nlohmann::json& list,
                             const api::FieldPath& path, bool group,
                             absl::flat_hash_set<std::string>& out) {
  KORCH_RETURN_IF_ERROR(d.ExpectArray(list, path));
  for (size_t i = 0; i < list.size(); ++i) {
    api::FieldPath p = path.Index(static_cast<int64_t>(i));
    KORCH_RETURN_IF_ERROR(d.ExpectString(list[i], p));
    const std::string& name = list[i].get_ref<const std::string&>();
    if (group && name.find('/') != std::string::npos) {
      return d.Errors({api::Invalid(p, name, "resource group name can't contain '/'")});
    }
    api::FieldErrorList errors = api::ValidateLabelName(name, p);
    if (!errors.empty()) return d.Errors(errors);
    out.insert(name);
  }
  return absl::OkStatus();
}

absl::StatusOr<FitArgs> DecodeFitArgs(absl::string_view args_json) {
  ArgsDecoder d(kKind);
  KORCH_ASSIGN_OR_RETURN(nlohmann::json args, d.Parse(args_json));
  api::FieldPath root = d.Root();
  KORCH_RETURN_IF_ERROR(
      d.CheckKnown(args, root, {"ignoredResources", "ignoredResourceGroups", "scoringStrategy"}));
  FitArgs out;
  if (auto it = args.find("ignoredResources"); it != args.end() && !it->is_null()) {
    KORCH_RETURN_IF_ERROR(
        DecodeStringSet(d, *it, root.Child("ignoredResources"), false, out.ignored_resources));
  }
  if (auto it = args.find("ignoredResourceGroups"); it != args.end() && !it->is_null()) {
    KORCH_RETURN_IF_ERROR(DecodeStringSet(d, *it, root.Child("ignoredResourceGroups"), true,
                                          out.ignored_resource_groups));
  }
  auto it = args.find("scoringStrategy");
  if (it == args.end() || it->is_null()) return out;
  const nlohmann::json& strategy = *it;
  api::FieldPath sp = root.Child("scoringStrategy");
  KORCH_RETURN_IF_ERROR(d.ExpectObject(strategy, sp));
  KORCH_RETURN_IF_ERROR(
      d.CheckKnown(strategy, sp, {"type", "resources", "requestedToCapacityRatio"}));
  std::string type;
  if (auto t = strategy.find("type"); t != strategy.end()) {
    KORCH_RETURN_IF_ERROR(d.ExpectString(*t, sp.Child("type")));
    type = t->get<std::string>();
  }
  if (type == "LeastAllocated") {
    out.strategy = Strategy::kLeastAllocated;
  } else if (type == "MostAllocated") {
    out.strategy = Strategy::kMostAllocated;
  } else if (type == "RequestedToCapacityRatio") {
    out.strategy = Strategy::kRequestedToCapacityRatio;
  } else {
    return d.Errors({api::NotSupported(
        sp.Child("type"), type, {"LeastAllocated", "MostAllocated", "RequestedToCapacityRatio"})});
  }
  if (auto r = strategy.find("resources"); r != strategy.end() && !r->is_null() && !r->empty()) {
    KORCH_ASSIGN_OR_RETURN(out.resources, DecodeResourceSpecs(d, *r, sp.Child("resources")));
    for (size_t i = 0; i < out.resources.size(); ++i) {
      int64_t w = out.resources[i].weight;
      if (w <= 0 || w > 100) {
        return d.Errors(
            {api::Invalid(sp.Child("resources").Index(static_cast<int64_t>(i)).Child("weight"), w,
                          absl::StrCat("resource weight of ", out.resources[i].name,
                                       " not in valid range (0, 100]"))});
      }
    }
  }
  auto rtcr = strategy.find("requestedToCapacityRatio");
  if (out.strategy != Strategy::kRequestedToCapacityRatio) {
    if (rtcr != strategy.end() && !rtcr->is_null()) {
      return d.Errors({api::Forbidden(sp.Child("requestedToCapacityRatio"),
                                      "only allowed with type RequestedToCapacityRatio")});
    }
    return out;
  }
  api::FieldPath rp = sp.Child("requestedToCapacityRatio");
  if (rtcr == strategy.end() || rtcr->is_null()) return d.Errors({api::Required(rp)});
  KORCH_RETURN_IF_ERROR(d.ExpectObject(*rtcr, rp));
  KORCH_RETURN_IF_ERROR(d.CheckKnown(*rtcr, rp, {"shape"}));
  api::FieldPath shape_path = rp.Child("shape");
  auto shape = rtcr->find("shape");
  if (shape == rtcr->end() || shape->is_null() || (shape->is_array() && shape->empty())) {
    return d.Errors({api::Required(shape_path, "at least one point must be specified")});
  }
  KORCH_RETURN_IF_ERROR(d.ExpectArray(*shape, shape_path));
  api::FieldErrorList errors;
  for (size_t i = 0; i < shape->size(); ++i) {
    const nlohmann::json& point = (*shape)[i];
    api::FieldPath pp = shape_path.Index(static_cast<int64_t>(i));
    KORCH_RETURN_IF_ERROR(d.ExpectObject(point, pp));
    KORCH_RETURN_IF_ERROR(d.CheckKnown(point, pp, {"utilization", "score"}));
    ShapePoint sp_out;
    if (auto u = point.find("utilization"); u != point.end()) {
      KORCH_RETURN_IF_ERROR(d.ExpectInteger(*u, pp.Child("utilization")));
      sp_out.utilization = u->get<int64_t>();
    }
    int64_t score = 0;
    if (auto s = point.find("score"); s != point.end()) {
      KORCH_RETURN_IF_ERROR(d.ExpectInteger(*s, pp.Child("score")));
      score = s->get<int64_t>();
    }
    if (sp_out.utilization < 0) {
      errors.push_back(api::Invalid(pp.Child("utilization"), sp_out.utilization,
                                    "utilization values must not be less than 0"));
    } else if (sp_out.utilization > 100) {
      errors.push_back(api::Invalid(pp.Child("utilization"), sp_out.utilization,
                                    "utilization values must not be greater than 100"));
    }
    if (i > 0 && (*shape)[i - 1].value("utilization", int64_t{0}) >= sp_out.utilization) {
      errors.push_back(api::Invalid(pp.Child("utilization"), sp_out.utilization,
                                    "utilization values must be sorted in increasing order"));
    }
    if (score < 0) {
      errors.push_back(
          api::Invalid(pp.Child("score"), score, "score values must not be less than 0"));
    } else if (score > 10) {
      errors.push_back(
          api::Invalid(pp.Child("score"), score, "score values must not be greater than 10"));
    }
    // Configured scores are 0-10; node scores are 0-100.
    sp_out.score = score * (kMaxNodeScore / 10);
    out.shape.push_back(sp_out);
  }
  if (!errors.empty()) return d.Errors(errors);
  return out;
}

}  // namespace

FactoryResult NewNodeResourcesFit(absl::string_view args_json, Handle& handle) {
  KORCH_ASSIGN_OR_RETURN(FitArgs args, DecodeFitArgs(args_json));
  return std::unique_ptr<Plugin>(std::make_unique<NodeResourcesFit>(
      std::move(args), handle.StateKeyFor("PreFilterNodeResourcesFit"),
      handle.StateKeyFor("PreScoreNodeResourcesFit")));
}

}  // namespace korch::scheduler::plugins
