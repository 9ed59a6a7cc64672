// TaintToleration: NoSchedule and NoExecute taints the pod does not tolerate
// exclude a node; PreferNoSchedule taints it does not tolerate lower the
// node's score.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "korch/base/status.h"
#include "korch/scheduler/registry.h"
#include "scheduler/plugins/node_plugin_util.h"
#include "scheduler/plugins/plugins.h"

namespace korch::scheduler::plugins {
namespace {

// The pod's tolerations that can tolerate PreferNoSchedule taints, found
// once per cycle.
struct PreScoreState final : StateData {
  std::vector<const api::Toleration*> tolerations;
  std::unique_ptr<StateData> Clone() const override {
    return std::make_unique<PreScoreState>(*this);
  }
};

class TaintToleration final : public FilterPlugin, public PreScorePlugin, public ScorePlugin {
 public:
  explicit TaintToleration(StateKey key) : key_(key) {}
  absl::string_view Name() const override { return names::kTaintToleration; }

  PluginStatus Filter(const CycleState& state, const PodInfo& pod,
                      const NodeInfo& node) const override {
    for (const api::Taint& taint : node.taints()) {
      if (taint.effect() != "NoSchedule" && taint.effect() != "NoExecute") continue;
      if (AnyToleratesTaint(pod.pod().spec().tolerations(), taint.key(), taint.value(),
                            taint.effect())) {
        continue;
      }
      return PluginStatus::Unresolvable(
          absl::StrCat("node(s) had untolerated taint {", taint.key(), ": ", taint.value(), "}"));
    }
    return PluginStatus();
  }

  PluginStatus PreScore(CycleState& state, const PodInfo& pod,
                        absl::Span<const NodeInfo* const> nodes) override {
    auto s = std::make_unique<PreScoreState>();
    for (const api::Toleration& t : pod.pod().spec().tolerations()) {
      if (t.effect().empty() || t.effect() == "PreferNoSchedule") s->tolerations.push_back(&t);
    }
    state.Write(key_, std::move(s));
    return PluginStatus();
  }

  // The number of PreferNoSchedule taints the pod does not tolerate
  // (reversed into a score by NormalizeScore).
  int64_t Score(const CycleState& state, const PodInfo& pod, const NodeInfo& node) const override {
    if (node.taints().empty()) return 0;
    return CountUntolerated(state.Read<PreScoreState>(key_), pod, node);
  }

  void ScoreNodes(const CycleState& state, const PodInfo& pod,
                  absl::Span<NodeScore> scores) const override {
    const auto* s = state.Read<PreScoreState>(key_);
    for (NodeScore& ns : scores) {
      ns.score = ns.node->taints().empty() ? 0 : CountUntolerated(s, pod, *ns.node);
    }
  }

  bool HasNormalizeScore() const override { return true; }
  PluginStatus NormalizeScore(const CycleState& state, const PodInfo& pod,
                              absl::Span<NodeScore> scores) const override {
    DefaultNormalizeScore(kMaxNodeScore, /*reverse=*/true, scores);
    return PluginStatus();
  }

 private:
  int64_t CountUntolerated(const PreScoreState* s, const PodInfo& pod, const NodeInfo& node) const {
    int64_t count = 0;
    for (const api::Taint& taint : node.taints()) {
      if (taint.effect() != "PreferNoSchedule") continue;
      bool tolerated = false;
      if (s != nullptr) {
        for (const api::Toleration* t : s->tolerations) {
          if (ToleratesTaint(*t, taint)) {
            tolerated = true;
            break;
          }
        }
      } else {
        tolerated = AnyToleratesTaint(pod.pod().spec().tolerations(), taint.key(), taint.value(),
                                      taint.effect());
      }
      if (!tolerated) ++count;
    }
    return count;
  }

  StateKey key_;
};

}  // namespace

FactoryResult NewTaintToleration(absl::string_view args_json, Handle& handle) {
  KORCH_RETURN_IF_ERROR(CheckNoArgs(args_json, "TaintTolerationArgs"));
  return std::unique_ptr<Plugin>(
      std::make_unique<TaintToleration>(handle.StateKeyFor("PreScoreTaintToleration")));
}

}  // namespace korch::scheduler::plugins
