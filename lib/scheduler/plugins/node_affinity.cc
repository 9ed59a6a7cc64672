// NodeAffinity: spec.nodeSelector and required node affinity exclude nodes
// (preemption cannot help: UnschedulableAndUnresolvable); preferred node
// affinity terms add their weights to the score. Args `addedAffinity` apply
// to every pod of the profile.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "korch/api/codec.h"
#include "korch/api/selector.h"
#include "korch/base/status.h"
#include "korch/scheduler/registry.h"
#include "scheduler/plugins/node_plugin_util.h"
#include "scheduler/plugins/plugins.h"

namespace korch::scheduler::plugins {
namespace {

constexpr absl::string_view kKind = "NodeAffinityArgs";
constexpr absl::string_view kReasonPod = "node(s) didn't match Pod's node affinity/selector";
constexpr absl::string_view kReasonEnforced =
    "node(s) didn't match scheduler-enforced node affinity";
constexpr absl::string_view kReasonConflict = "pod affinity terms conflict";

// Required terms are ORed. A term that does not compile matches no node
// (Kubernetes' lazy-error node selector); API validation keeps those out.
struct RequiredTerms {
  std::vector<api::NodeSelectorTermMatcher> terms;
  bool Matches(const NodeInfo& node) const {
    for (const api::NodeSelectorTermMatcher& t : terms) {
      if (t.Matches(node.name(), node.labels())) return true;
    }
    return false;
  }
};

RequiredTerms CompileRequired(const api::NodeSelector& selector) {
  RequiredTerms out;
  for (const api::NodeSelectorTerm& term : selector.node_selector_terms()) {
    absl::StatusOr<api::NodeSelectorTermMatcher> m = api::NodeSelectorTermMatcher::Create(term);
    if (m.ok()) out.terms.push_back(*std::move(m));
  }
  return out;
}

struct WeightedTerm {
  int64_t weight = 0;
  api::NodeSelectorTermMatcher term;
};

// Terms with weight 0 or that do not compile never score.
void CompilePreferred(const google::protobuf::RepeatedPtrField<api::PreferredSchedulingTerm>& terms,
                      std::vector<WeightedTerm>& out) {
  for (const api::PreferredSchedulingTerm& t : terms) {
    if (t.weight() == 0) continue;
    absl::StatusOr<api::NodeSelectorTermMatcher> m =
        api::NodeSelectorTermMatcher::Create(t.preference());
    if (m.ok()) out.push_back({t.weight(), *std::move(m)});
  }
}

int64_t SumMatching(const std::vector<WeightedTerm>& terms, const NodeInfo& node) {
  int64_t sum = 0;
  for (const WeightedTerm& t : terms) {
    if (t.term.Matches(node.name(), node.labels())) sum += t.weight;
  }
  return sum;
}

struct PreFilterState final : StateData {
  // spec.nodeSelector, matched pair by pair against node labels.
  std::vector<std::pair<std::string, std::string>> node_selector;
  std::optional<RequiredTerms> required;
  std::unique_ptr<StateData> Clone() const override {
    return std::make_unique<PreFilterState>(*this);
  }
};

struct PreScoreState final : StateData {
  std::vector<WeightedTerm> preferred;
  std::unique_ptr<StateData> Clone() const override {
    return std::make_unique<PreScoreState>(*this);
  }
};

const api::NodeAffinity* PodNodeAffinity(const PodInfo& pod) {
  const api::PodSpec& spec = pod.pod().spec();
  if (!spec.has_affinity() || !spec.affinity().has_node_affinity()) return nullptr;
  return &spec.affinity().node_affinity();
}

// Shared statuses (node_plugin_util.h) for the fixed rejection reasons.
const PluginStatus& Rejected(absl::string_view reason) {
  static const PluginStatus& kConflict =
      *new PluginStatus(PluginStatus::Unresolvable(std::string(kReasonConflict)));
  static const PluginStatus& kEnforced =
      *new PluginStatus(PluginStatus::Unresolvable(std::string(kReasonEnforced)));
  static const PluginStatus& kPod =
      *new PluginStatus(PluginStatus::Unresolvable(std::string(kReasonPod)));
  if (reason == kReasonConflict) return kConflict;
  if (reason == kReasonEnforced) return kEnforced;
  return kPod;
}

class NodeAffinity final : public PreFilterPlugin,
                           public FilterPlugin,
                           public PreScorePlugin,
                           public ScorePlugin {
 public:
  NodeAffinity(std::optional<RequiredTerms> added_required,
               std::vector<WeightedTerm> added_preferred, StateKey prefilter_key,
               StateKey prescore_key)
      : added_required_(std::move(added_required)),
        added_preferred_(std::move(added_preferred)),
        prefilter_key_(prefilter_key),
        prescore_key_(prescore_key) {}

  absl::string_view Name() const override { return names::kNodeAffinity; }

  PluginStatus PreFilter(CycleState& state, const PodInfo& pod, PreFilterResult& result) override {
    const api::NodeAffinity* affinity = PodNodeAffinity(pod);
    bool has_required =
        affinity != nullptr && affinity->has_required_during_scheduling_ignored_during_execution();
    const auto& selector = pod.pod().spec().node_selector();
    if (!has_required && selector.empty() && !added_required_.has_value()) {
      state.Delete(prefilter_key_);
      return PluginStatus::Skip();
    }
    auto s = std::make_unique<PreFilterState>();
    s->node_selector.reserve(selector.size());
    for (const auto& [k, v] : selector) s->node_selector.emplace_back(k, v);
    if (has_required) {
      s->required =
          CompileRequired(affinity->required_during_scheduling_ignored_during_execution());
    }
    state.Write(prefilter_key_, std::move(s));
    if (!has_required) return PluginStatus();

    // Terms that pin metadata.name narrow the candidate nodes: the union
    // over terms of the intersection within a term. One term without such a
    // requirement leaves every node possible.
    const auto& terms =
        affinity->required_during_scheduling_ignored_during_execution().node_selector_terms();
    if (terms.empty()) return PluginStatus();
    absl::flat_hash_set<std::string> names;
    for (const api::NodeSelectorTerm& term : terms) {
      std::optional<absl::flat_hash_set<std::string>> term_names;
      for (const api::NodeSelectorRequirement& r : term.match_fields()) {
        if (r.key() != "metadata.name" || r.operator_() != "In") continue;
        absl::flat_hash_set<std::string> values(r.values().begin(), r.values().end());
        if (!term_names.has_value()) {
          term_names = std::move(values);
        } else {
          absl::erase_if(*term_names, [&](const std::string& n) { return !values.contains(n); });
        }
      }
      if (!term_names.has_value()) return PluginStatus();
      names.insert(term_names->begin(), term_names->end());
    }
    if (names.empty()) return Rejected(kReasonConflict);
    result.node_names = std::move(names);
    return PluginStatus();
  }

  PluginStatus Filter(const CycleState& state, const PodInfo& pod,
                      const NodeInfo& node) const override {
    if (added_required_.has_value() && !added_required_->Matches(node)) {
      return Rejected(kReasonEnforced);
    }
    const auto* s = state.Read<PreFilterState>(prefilter_key_);
    if (s == nullptr) return PluginStatus();
    const auto& labels = node.labels();
    for (const auto& [key, value] : s->node_selector) {
      auto it = labels.find(key);
      if (it == labels.end() || it->second != value) {
        return Rejected(kReasonPod);
      }
    }
    if (s->required.has_value() && !s->required->Matches(node)) {
      return Rejected(kReasonPod);
    }
    return PluginStatus();
  }

  PluginStatus PreScore(CycleState& state, const PodInfo& pod,
                        absl::Span<const NodeInfo* const> nodes) override {
    const api::NodeAffinity* affinity = PodNodeAffinity(pod);
    auto s = std::make_unique<PreScoreState>();
    if (affinity != nullptr) {
      CompilePreferred(affinity->preferred_during_scheduling_ignored_during_execution(),
                       s->preferred);
    }
    if (s->preferred.empty() && added_preferred_.empty()) {
      state.Delete(prescore_key_);
      return PluginStatus::Skip();
    }
    state.Write(prescore_key_, std::move(s));
    return PluginStatus();
  }

  // The sum of the weights of the preferred terms the node matches.
  int64_t Score(const CycleState& state, const PodInfo& pod, const NodeInfo& node) const override {
    int64_t score = SumMatching(added_preferred_, node);
    if (const auto* s = state.Read<PreScoreState>(prescore_key_); s != nullptr) {
      score += SumMatching(s->preferred, node);
    }
    return score;
  }

  bool HasNormalizeScore() const override { return true; }
  PluginStatus NormalizeScore(const CycleState& state, const PodInfo& pod,
                              absl::Span<NodeScore> scores) const override {
    DefaultNormalizeScore(kMaxNodeScore, /*reverse=*/false, scores);
    return PluginStatus();
  }

 private:
  std::optional<RequiredTerms> added_required_;
  std::vector<WeightedTerm> added_preferred_;
  StateKey prefilter_key_;
  StateKey prescore_key_;
};

}  // namespace

FactoryResult NewNodeAffinity(absl::string_view args_json, Handle& handle) {
  ArgsDecoder d(kKind);
  KORCH_ASSIGN_OR_RETURN(nlohmann::json args, d.Parse(args_json));
  KORCH_RETURN_IF_ERROR(d.CheckKnown(args, d.Root(), {"addedAffinity"}));
  std::optional<RequiredTerms> added_required;
  std::vector<WeightedTerm> added_preferred;
  if (auto it = args.find("addedAffinity"); it != args.end() && !it->is_null()) {
    api::FieldPath path = d.Root().Child("addedAffinity");
    KORCH_RETURN_IF_ERROR(d.ExpectObject(*it, path));
    api::NodeAffinity affinity;
    if (absl::Status s = api::DecodeJsonValue(*it, &affinity); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path.str(), ": ", s.message()));
    }
    // Unlike a pod's terms, configured terms must all be valid.
    if (affinity.has_required_during_scheduling_ignored_during_execution()) {
      const api::NodeSelector& required =
          affinity.required_during_scheduling_ignored_during_execution();
      api::FieldPath rp = path.Child("requiredDuringSchedulingIgnoredDuringExecution");
      KORCH_RETURN_IF_ERROR(api::NodeSelectorMatcher::Create(required, rp).status());
      added_required = CompileRequired(required);
    }
    const auto& preferred = affinity.preferred_during_scheduling_ignored_during_execution();
    for (int i = 0; i < preferred.size(); ++i) {
      api::FieldPath pp = path.Child("preferredDuringSchedulingIgnoredDuringExecution").Index(i);
      if (preferred[i].weight() <= 0 || preferred[i].weight() > 100) {
        return d.Errors({api::Invalid(pp.Child("weight"), preferred[i].weight(),
                                      "must be in the range 1-100")});
      }
      KORCH_RETURN_IF_ERROR(
          api::NodeSelectorTermMatcher::Create(preferred[i].preference(), pp.Child("preference"))
              .status());
    }
    CompilePreferred(preferred, added_preferred);
  }
  return std::unique_ptr<Plugin>(std::make_unique<NodeAffinity>(
      std::move(added_required), std::move(added_preferred),
      handle.StateKeyFor("PreFilterNodeAffinity"), handle.StateKeyFor("PreScoreNodeAffinity")));
}

}  // namespace korch::scheduler::plugins
