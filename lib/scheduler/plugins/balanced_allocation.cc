// NodeResourcesBalancedAllocation: prefers nodes whose resources would be
// used evenly with the pod on them: score = (1 - standard deviation of the
// requested/allocatable fractions) * 100, as Kubernetes computes it.
#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "korch/base/status.h"
#include "korch/scheduler/registry.h"
#include "scheduler/plugins/node_plugin_util.h"
#include "scheduler/plugins/plugins.h"
#include "scheduler/plugins/resource_allocation.h"

namespace korch::scheduler::plugins {
namespace {

constexpr absl::string_view kKind = "NodeResourcesBalancedAllocationArgs";

struct PreScoreState final : StateData {
  PodRequestList requests;
  std::unique_ptr<StateData> Clone() const override {
    return std::make_unique<PreScoreState>(*this);
  }
};

class BalancedAllocation final : public PreScorePlugin, public ScorePlugin {
 public:
  BalancedAllocation(std::vector<ResourceSpec> resources, StateKey key)
      : resources_(std::move(resources)), key_(key) {}

  absl::string_view Name() const override { return names::kNodeResourcesBalancedAllocation; }

  // Pods that request none of the resources (best effort) are not scored:
  // every node would look equally balanced after they land, so they would
  // pile onto the same nodes (kubernetes/kubernetes#129138).
  PluginStatus PreScore(CycleState& state, const PodInfo& pod,
                        absl::Span<const NodeInfo* const> nodes) override {
    auto s = std::make_unique<PreScoreState>();
    s->requests = PodRequests(pod, resources_, /*use_requested=*/true);
    if (std::all_of(s->requests.begin(), s->requests.end(), [](int64_t r) { return r == 0; })) {
      return PluginStatus::Skip();
    }
    state.Write(key_, std::move(s));
    return PluginStatus();
  }

  int64_t Score(const CycleState& state, const PodInfo& pod, const NodeInfo& node) const override {
    const auto* s = state.Read<PreScoreState>(key_);
    // PreScore always runs before Score (the framework's contract).
    return s == nullptr ? 0 : ScoreNode(s->requests, node);
  }

  void ScoreNodes(const CycleState& state, const PodInfo& pod,
                  absl::Span<NodeScore> scores) const override {
    const auto* s = state.Read<PreScoreState>(key_);
    for (NodeScore& ns : scores) ns.score = s == nullptr ? 0 : ScoreNode(s->requests, *ns.node);
  }

 private:
  int64_t ScoreNode(const PodRequestList& requests, const NodeInfo& node) const {
    // Two passes over the fractions instead of storing them: no allocation.
    auto fraction = [&](size_t i, double& out) {
      AllocatableRequested a = NodeAmounts(node, resources_[i], requests[i], true);
      if (a.allocatable == 0) return false;
      out = std::min(1.0, static_cast<double>(a.requested) / static_cast<double>(a.allocatable));
      return true;
    };
    int count = 0;
    double total = 0;
    double first = 0;
    double second = 0;
    for (size_t i = 0; i < resources_.size(); ++i) {
      double f;
      if (!fraction(i, f)) continue;
      if (count == 0) first = f;
      if (count == 1) second = f;
      total += f;
      ++count;
    }
    double std_dev = 0;
    if (count == 2) {
      std_dev = std::abs((first - second) / 2);
    } else if (count > 2) {
      double mean = total / count;
      double sum = 0;
      for (size_t i = 0; i < resources_.size(); ++i) {
        double f;
        if (fraction(i, f)) sum += (f - mean) * (f - mean);
      }
      std_dev = std::sqrt(sum / count);
    }
    return static_cast<int64_t>((1 - std_dev) * static_cast<double>(kMaxNodeScore));
  }

  std::vector<ResourceSpec> resources_;
  StateKey key_;
};

absl::StatusOr<std::vector<ResourceSpec>> DecodeArgs(absl::string_view args_json) {
  ArgsDecoder d(kKind);
  KORCH_ASSIGN_OR_RETURN(nlohmann::json args, d.Parse(args_json));
  KORCH_RETURN_IF_ERROR(d.CheckKnown(args, d.Root(), {"resources"}));
  auto it = args.find("resources");
  if (it == args.end() || it->is_null() || (it->is_array() && it->empty())) {
    return DefaultResourceSpecs();
  }
  api::FieldPath path = d.Root().Child("resources");
  KORCH_ASSIGN_OR_RETURN(std::vector<ResourceSpec> specs, DecodeResourceSpecs(d, *it, path));
  for (size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].weight != 1) {
      return d.Errors({api::Invalid(path.Index(static_cast<int64_t>(i)).Child("weight"),
                                    specs[i].weight, "must be 1")});
    }
  }
  return specs;
}

}  // namespace

FactoryResult NewNodeResourcesBalancedAllocation(absl::string_view args_json, Handle& handle) {
  KORCH_ASSIGN_OR_RETURN(std::vector<ResourceSpec> resources, DecodeArgs(args_json));
  return std::unique_ptr<Plugin>(std::make_unique<BalancedAllocation>(
      std::move(resources), handle.StateKeyFor("PreScoreNodeResourcesBalancedAllocation")));
}

}  // namespace korch::scheduler::plugins
