// InterPodAffinity: required and preferred pod affinity and anti-affinity
// by topology domain, with Kubernetes' semantics
// (pkg/scheduler/framework/plugins/interpodaffinity).
//
// Everything per pod is computed once in PreFilter / PreScore as counts per
// topology pair (node label key, value); Filter and Score then look the
// node's values up in those small maps. The pairs are views into the labels
// of the api::Node objects of the cycle's snapshot, which every NodeInfo
// (and every copy preemption makes) shares and which outlive the cycle, so
// building the maps copies no strings and Filter/Score allocate nothing.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "korch/scheduler/framework.h"
#include "korch/scheduler/registry.h"
#include "nlohmann/json.hpp"
#include "scheduler/plugins/plugins.h"

namespace korch::scheduler::plugins {
namespace {

constexpr absl::string_view kReasonExistingAntiAffinity =
    "node(s) didn't satisfy existing pods anti-affinity rules";
constexpr absl::string_view kReasonAffinity = "node(s) didn't match pod affinity rules";
constexpr absl::string_view kReasonAntiAffinity = "node(s) didn't match pod anti-affinity rules";

using LabelMap = google::protobuf::Map<std::string, std::string>;

// (topology key, value), both viewing a node's label storage.
using TopologyPair = std::pair<absl::string_view, absl::string_view>;
using PairCounts = absl::flat_hash_map<TopologyPair, int64_t>;

const LabelMap& EmptyLabels() {
  static const LabelMap* const kEmpty = new LabelMap();
  return *kEmpty;
}

// The node's (key, value) pair for `key`, viewing the node's label storage.
std::optional<TopologyPair> NodePair(const LabelMap& labels, const std::string& key) {
  auto it = labels.find(key);
  if (it == labels.end()) return std::nullopt;
  return TopologyPair(it->first, it->second);
}

void AddCount(PairCounts& counts, const LabelMap& labels, const std::string& key, int64_t delta) {
  std::optional<TopologyPair> pair = NodePair(labels, key);
  if (!pair.has_value()) return;
  auto [it, inserted] = counts.try_emplace(*pair, 0);
  it->second += delta;
  if (it->second == 0) counts.erase(it);
}

// Whether `term` selects `pod`; the labels of the pod's namespace are looked
// up only when the term has a namespace selector and does not name the
// namespace.
bool TermMatches(const AffinityTerm& term, const api::Pod& pod, const Snapshot& snapshot) {
  if (!term.selector.Matches(pod.metadata().labels())) return false;
  const std::string& ns = pod.metadata().namespace_();
  if (term.namespaces.contains(ns)) return true;
  if (!term.namespace_selector.has_value()) return false;
  const LabelMap* ns_labels = snapshot.NamespaceLabels(ns);
  return term.namespace_selector->Matches(ns_labels != nullptr ? *ns_labels : EmptyLabels());
}

// The same with the labels of the pod's namespace known.
bool TermMatchesWithLabels(const AffinityTerm& term, const api::Pod& pod,
                           const LabelMap& ns_labels) {
  if (!term.selector.Matches(pod.metadata().labels())) return false;
  if (term.namespaces.contains(pod.metadata().namespace_())) return true;
  return term.namespace_selector.has_value() && term.namespace_selector->Matches(ns_labels);
}

bool MatchesAllTerms(const std::vector<AffinityTerm>& terms, const api::Pod& pod,
                     const Snapshot& snapshot) {
  if (terms.empty()) return false;
  for (const AffinityTerm& t : terms) {
    if (!TermMatches(t, pod, snapshot)) return false;
  }
  return true;
}

struct PreFilterState final : StateData {
  // Existing pods' required anti-affinity terms that select the incoming pod,
  // per topology pair of the existing pod's node.
  PairCounts existing_anti;
  // The topology keys of the terms counted in existing_anti (few).
  std::vector<std::string> existing_anti_keys;
  // Existing pods matching all of the incoming pod's required affinity
  // terms, per term topology pair.
  PairCounts affinity;
  // Existing pods matching each of the incoming pod's required
  // anti-affinity terms, per term topology pair.
  PairCounts anti;
  // Whether the incoming pod matches all its own required affinity terms.
  bool self_matches_affinity = false;
  // Labels of the incoming pod's namespace.
  const LabelMap* ns_labels = &EmptyLabels();

  std::unique_ptr<StateData> Clone() const override {
    return std::make_unique<PreFilterState>(*this);
  }

  void AddExistingAntiKey(const std::string& key) {
    if (std::find(existing_anti_keys.begin(), existing_anti_keys.end(), key) ==
        existing_anti_keys.end()) {
      existing_anti_keys.push_back(key);
    }
  }

  // Counts `existing` (on a node with `labels`) for an incoming `pod`.
  void AddExistingPod(const PodInfo& pod, const PodInfo& existing, const LabelMap& labels,
                      const Snapshot& snapshot, int64_t delta) {
    for (const AffinityTerm& t : existing.required_anti_affinity()) {
      if (TermMatchesWithLabels(t, pod.pod(), *ns_labels)) {
        AddExistingAntiKey(t.topology_key);
        AddCount(existing_anti, labels, t.topology_key, delta);
      }
    }
    AddIncomingTerms(pod, existing.pod(), labels, snapshot, affinity, anti, delta);
  }

  // Counts `existing` against the incoming pod's required terms.
  static void AddIncomingTerms(const PodInfo& pod, const api::Pod& existing, const LabelMap& labels,
                               const Snapshot& snapshot, PairCounts& affinity, PairCounts& anti,
                               int64_t delta) {
    if (MatchesAllTerms(pod.required_affinity(), existing, snapshot)) {
      for (const AffinityTerm& t : pod.required_affinity()) {
        AddCount(affinity, labels, t.topology_key, delta);
      }
    }
    for (const AffinityTerm& t : pod.required_anti_affinity()) {
      if (TermMatches(t, existing, snapshot)) AddCount(anti, labels, t.topology_key, delta);
    }
  }
};

// topology key -> value -> score.
struct PreScoreState final : StateData {
  std::vector<std::pair<std::string, absl::flat_hash_map<absl::string_view, int64_t>>> scores;

  std::unique_ptr<StateData> Clone() const override {
    return std::make_unique<PreScoreState>(*this);
  }

  void Add(const AffinityTerm& term, const LabelMap& labels, int64_t amount) {
    if (amount == 0) return;
    auto it = labels.find(term.topology_key);
    if (it == labels.end()) return;
    auto key = std::find_if(scores.begin(), scores.end(),
                            [&](const auto& s) { return s.first == term.topology_key; });
    if (key == scores.end()) {
      scores.emplace_back(term.topology_key, absl::flat_hash_map<absl::string_view, int64_t>());
      key = scores.end() - 1;
    }
    key->second[it->second] += amount;
  }
};

struct Args {
  int32_t hard_pod_affinity_weight = 1;
  bool ignore_preferred_terms_of_existing_pods = false;
};

absl::StatusOr<Args> ParseArgs(absl::string_view args_json) {
  Args args;
  if (args_json.empty()) return args;
  nlohmann::json j = nlohmann::json::parse(args_json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("InterPodAffinityArgs: must be a JSON object");
  }
  for (const auto& [field, value] : j.items()) {
    if (field == "kind" || field == "apiVersion") continue;
    if (field == "hardPodAffinityWeight") {
      if (!value.is_number_integer()) {
        return absl::InvalidArgumentError(
            "InterPodAffinityArgs.hardPodAffinityWeight: Invalid value: must be an integer");
      }
      int64_t w = value.get<int64_t>();
      if (w < 0 || w > 100) {
        return absl::InvalidArgumentError(
            absl::StrCat("InterPodAffinityArgs.hardPodAffinityWeight: Invalid value: ", w,
                         ": not in valid range [0-100]"));
      }
      args.hard_pod_affinity_weight = static_cast<int32_t>(w);
    } else if (field == "ignorePreferredTermsOfExistingPods") {
      if (!value.is_boolean()) {
        return absl::InvalidArgumentError(
            "InterPodAffinityArgs.ignorePreferredTermsOfExistingPods: Invalid value: must be a "
            "boolean");
      }
      args.ignore_preferred_terms_of_existing_pods = value.get<bool>();
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("InterPodAffinityArgs.", field, ": unknown field"));
    }
  }
  return args;
}

// Nodes per ParallelFor work item when scanning every pod.
constexpr int kNodesPerChunk = 64;

class InterPodAffinity final : public PreFilterPlugin,
                               public FilterPlugin,
                               public PreScorePlugin,
                               public ScorePlugin,
                               public PreFilterExtensions {
 public:
  InterPodAffinity(Args args, Handle& handle)
      : args_(args),
        handle_(handle),
        prefilter_key_(handle.StateKeyFor("InterPodAffinity/PreFilter")),
        prescore_key_(handle.StateKeyFor("InterPodAffinity/PreScore")) {}

  absl::string_view Name() const override { return names::kInterPodAffinity; }

  PluginStatus PreFilter(CycleState& state, const PodInfo& pod, PreFilterResult&) override {
    const Snapshot& snapshot = handle_.snapshot();
    const auto& with_anti = snapshot.HavePodsWithRequiredAntiAffinity();
    const bool has_terms =
        !pod.required_affinity().empty() || !pod.required_anti_affinity().empty();
    if (!has_terms && with_anti.empty()) {
      state.Delete(prefilter_key_);
      return PluginStatus::Skip();
    }
    auto s = std::make_unique<PreFilterState>();
    if (const LabelMap* l = snapshot.NamespaceLabels(pod.pod().metadata().namespace_())) {
      s->ns_labels = l;
    }
    // Existing pods' anti-affinity towards the incoming pod.
    for (const NodeInfo* node : with_anti) {
      const LabelMap& labels = node->labels();
      for (const auto& existing : node->pods_with_required_anti_affinity()) {
        for (const AffinityTerm& t : existing->required_anti_affinity()) {
          if (TermMatchesWithLabels(t, pod.pod(), *s->ns_labels)) {
            s->AddExistingAntiKey(t.topology_key);
            AddCount(s->existing_anti, labels, t.topology_key, 1);
          }
        }
      }
    }
    // The incoming pod's terms against every existing pod, in parallel over
    // chunks of nodes, merged afterwards.
    if (has_terms) {
      const auto& nodes = snapshot.List();
      const int chunks = static_cast<int>((nodes.size() + kNodesPerChunk - 1) / kNodesPerChunk);
      std::vector<std::pair<PairCounts, PairCounts>> partial(chunks);
      handle_.ParallelFor(chunks, [&](int c) {
        auto& [affinity, anti] = partial[c];
        const size_t end = std::min(nodes.size(), static_cast<size_t>(c + 1) * kNodesPerChunk);
        for (size_t i = static_cast<size_t>(c) * kNodesPerChunk; i < end; ++i) {
          const LabelMap& labels = nodes[i]->labels();
          for (const auto& existing : nodes[i]->pods()) {
            PreFilterState::AddIncomingTerms(pod, existing->pod(), labels, snapshot, affinity, anti,
                                             1);
          }
        }
      });
      for (auto& [affinity, anti] : partial) {
        Merge(s->affinity, affinity);
        Merge(s->anti, anti);
      }
      s->self_matches_affinity = MatchesAllTerms(pod.required_affinity(), pod.pod(), snapshot);
    }
    state.Write(prefilter_key_, std::move(s));
    return PluginStatus();
  }

  const PreFilterExtensions* Extensions() const override { return this; }

  PluginStatus AddPod(CycleState& state, const PodInfo& pod_to_schedule, const PodInfo& pod_to_add,
                      const NodeInfo& node) const override {
    return Update(state, pod_to_schedule, pod_to_add, node, 1);
  }
  PluginStatus RemovePod(CycleState& state, const PodInfo& pod_to_schedule,
                         const PodInfo& pod_to_remove, const NodeInfo& node) const override {
    return Update(state, pod_to_schedule, pod_to_remove, node, -1);
  }

  PluginStatus Filter(const CycleState& state, const PodInfo& pod,
                      const NodeInfo& node) const override {
    const auto* s = state.Read<PreFilterState>(prefilter_key_);
    if (s == nullptr) return PluginStatus();
    const LabelMap& labels = node.labels();
    if (!SatisfiesAffinity(*s, pod, labels)) {
      return PluginStatus::Unresolvable(std::string(kReasonAffinity));
    }
    if (!s->anti.empty()) {
      for (const AffinityTerm& t : pod.required_anti_affinity()) {
        auto it = labels.find(t.topology_key);
        if (it == labels.end()) continue;
        auto count = s->anti.find(TopologyPair(t.topology_key, it->second));
        if (count != s->anti.end() && count->second > 0) {
          return PluginStatus::Unschedulable(std::string(kReasonAntiAffinity));
        }
      }
    }
    if (!s->existing_anti.empty()) {
      for (const std::string& key : s->existing_anti_keys) {
        auto it = labels.find(key);
        if (it == labels.end()) continue;
        auto count = s->existing_anti.find(TopologyPair(key, it->second));
        if (count != s->existing_anti.end() && count->second > 0) {
          return PluginStatus::Unschedulable(std::string(kReasonExistingAntiAffinity));
        }
      }
    }
    return PluginStatus();
  }

  PluginStatus PreScore(CycleState& state, const PodInfo& pod,
                        absl::Span<const NodeInfo* const> nodes) override {
    state.Delete(prescore_key_);
    if (nodes.empty()) return PluginStatus::Skip();
    const bool has_preferred =
        !pod.preferred_affinity().empty() || !pod.preferred_anti_affinity().empty();
    if (args_.ignore_preferred_terms_of_existing_pods && !has_preferred) {
      return PluginStatus::Skip();
    }
    const Snapshot& snapshot = handle_.snapshot();
    // Without preferred terms of its own, only pods with affinity matter.
    const auto& candidates = has_preferred ? snapshot.List() : snapshot.HavePodsWithAffinity();
    if (candidates.empty()) return PluginStatus::Skip();
    const LabelMap* ns_labels = snapshot.NamespaceLabels(pod.pod().metadata().namespace_());
    if (ns_labels == nullptr) ns_labels = &EmptyLabels();
    auto s = std::make_unique<PreScoreState>();
    for (const NodeInfo* node : candidates) {
      const LabelMap& labels = node->labels();
      if (labels.empty()) continue;
      const auto& pods = has_preferred ? node->pods() : node->pods_with_affinity();
      for (const auto& existing : pods) {
        ScoreExistingPod(*s, pod, *existing, labels, snapshot, *ns_labels);
      }
    }
    if (s->scores.empty()) return PluginStatus::Skip();
    state.Write(prescore_key_, std::move(s));
    return PluginStatus();
  }

  int64_t Score(const CycleState& state, const PodInfo&, const NodeInfo& node) const override {
    const auto* s = state.Read<PreScoreState>(prescore_key_);
    if (s == nullptr) return 0;
    const LabelMap& labels = node.labels();
    int64_t score = 0;
    for (const auto& [key, values] : s->scores) {
      auto it = labels.find(key);
      if (it == labels.end()) continue;
      auto v = values.find(absl::string_view(it->second));
      if (v != values.end()) score += v->second;
    }
    return score;
  }

  bool HasNormalizeScore() const override { return true; }

  PluginStatus NormalizeScore(const CycleState& state, const PodInfo&,
                              absl::Span<NodeScore> scores) const override {
    const auto* s = state.Read<PreScoreState>(prescore_key_);
    if (s == nullptr || s->scores.empty() || scores.empty()) return PluginStatus();
    int64_t lo = std::numeric_limits<int64_t>::max();
    int64_t hi = std::numeric_limits<int64_t>::min();
    for (const NodeScore& n : scores) {
      lo = std::min(lo, n.score);
      hi = std::max(hi, n.score);
    }
    const int64_t diff = hi - lo;
    for (NodeScore& n : scores) {
      n.score = diff > 0 ? static_cast<int64_t>(static_cast<double>(kMaxNodeScore) *
                                                static_cast<double>(n.score - lo) /
                                                static_cast<double>(diff))
                         : 0;
    }
    return PluginStatus();
  }

 private:
  static void Merge(PairCounts& into, const PairCounts& from) {
    if (into.empty()) {
      into = from;
      return;
    }
    for (const auto& [pair, count] : from) into[pair] += count;
  }

  static bool SatisfiesAffinity(const PreFilterState& s, const PodInfo& pod,
                                const LabelMap& labels) {
    bool pods_exist = true;
    for (const AffinityTerm& t : pod.required_affinity()) {
      auto it = labels.find(t.topology_key);
      // Every topology key must exist on the node.
      if (it == labels.end()) return false;
      auto count = s.affinity.find(TopologyPair(t.topology_key, it->second));
      if (count == s.affinity.end() || count->second <= 0) pods_exist = false;
    }
    // The first pod of a group with affinity to itself: no pod anywhere
    // matches the terms, but the pod matches them itself.
    return pods_exist || (s.affinity.empty() && s.self_matches_affinity);
  }

  PluginStatus Update(CycleState& state, const PodInfo& pod, const PodInfo& other,
                      const NodeInfo& node, int64_t delta) const {
    auto* s = state.Read<PreFilterState>(prefilter_key_);
    if (s == nullptr) return PluginStatus();
    s->AddExistingPod(pod, other, node.labels(), handle_.snapshot(), delta);
    return PluginStatus();
  }

  void ScoreExistingPod(PreScoreState& s, const PodInfo& pod, const PodInfo& existing,
                        const LabelMap& labels, const Snapshot& snapshot,
                        const LabelMap& ns_labels) const {
    const api::Pod& existing_pod = existing.pod();
    for (const AffinityTerm& t : pod.preferred_affinity()) {
      if (TermMatches(t, existing_pod, snapshot)) s.Add(t, labels, t.weight);
    }
    for (const AffinityTerm& t : pod.preferred_anti_affinity()) {
      if (TermMatches(t, existing_pod, snapshot)) s.Add(t, labels, -t.weight);
    }
    if (args_.hard_pod_affinity_weight > 0) {
      for (const AffinityTerm& t : existing.required_affinity()) {
        if (TermMatchesWithLabels(t, pod.pod(), ns_labels)) {
          s.Add(t, labels, args_.hard_pod_affinity_weight);
        }
      }
    }
    for (const AffinityTerm& t : existing.preferred_affinity()) {
      if (TermMatchesWithLabels(t, pod.pod(), ns_labels)) s.Add(t, labels, t.weight);
    }
    for (const AffinityTerm& t : existing.preferred_anti_affinity()) {
      if (TermMatchesWithLabels(t, pod.pod(), ns_labels)) s.Add(t, labels, -t.weight);
    }
  }

  const Args args_;
  Handle& handle_;
  const StateKey prefilter_key_;
  const StateKey prescore_key_;
};

}  // namespace

FactoryResult NewInterPodAffinity(absl::string_view args_json, Handle& handle) {
  absl::StatusOr<Args> args = ParseArgs(args_json);
  if (!args.ok()) return args.status();
  return std::unique_ptr<Plugin>(new InterPodAffinity(*args, handle));
}

}  // namespace korch::scheduler::plugins
