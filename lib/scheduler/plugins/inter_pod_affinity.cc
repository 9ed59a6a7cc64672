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
#include <initializer_list>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "korch/scheduler/framework.h"
#include "korch/scheduler/registry.h"
#include "nlohmann/json.hpp"
#include "scheduler/plugins/node_count_cache.h"
#include "scheduler/plugins/plugins.h"

namespace korch::scheduler::plugins {
namespace {

constexpr absl::string_view kReasonExistingAntiAffinity =
    "node(s) didn't satisfy existing pods anti-affinity rules";
constexpr absl::string_view kReasonAffinity = "node(s) didn't match pod affinity rules";
constexpr absl::string_view kReasonAntiAffinity = "node(s) didn't match pod anti-affinity rules";

using LabelMap = google::protobuf::Map<std::string, std::string>;

const LabelMap& EmptyLabels() {
  static const LabelMap* const kEmpty = new LabelMap();
  return *kEmpty;
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

// Counts per domain of one topology key.
struct DomainCounts {
  const TopologyDomains* domains = nullptr;  // the plugin's; valid for the cycle
  std::vector<int64_t> counts;               // by domain id

  // The count of the node's domain; has_key tells whether the node has the
  // topology label. Does not allocate.
  int64_t Get(const NodeInfo& node, bool& has_key) const {
    const int32_t d = domains->DomainOf(node, has_key);
    return d >= 0 && static_cast<size_t>(d) < counts.size() ? counts[d] : 0;
  }
  void Add(int32_t d, int64_t delta) {
    if (d < 0) return;
    if (static_cast<size_t>(d) >= counts.size()) counts.resize(d + 1, 0);
    counts[d] += delta;
  }
  bool AnyPositive() const {
    for (int64_t c : counts) {
      if (c > 0) return true;
    }
    return false;
  }
};

// What one node contributes to an incoming pod's PreFilter state.
struct NodeCounts {
  // Pods matching all the incoming pod's required affinity terms.
  int32_t affinity = 0;
  // Pods matching each of its required anti-affinity terms.
  absl::InlinedVector<int32_t, 2> anti;
  // Existing pods' required anti-affinity terms selecting the incoming pod,
  // per topology key.
  absl::InlinedVector<std::pair<std::string, int32_t>, 1> existing_anti;

  void AddExistingAnti(const std::string& key, int32_t delta) {
    for (auto& [k, n] : existing_anti) {
      if (k == key) {
        n += delta;
        return;
      }
    }
    existing_anti.emplace_back(key, delta);
  }
};

// Computes what the pods of `node` contribute for the incoming `pod`.
void CountNode(const PodInfo& pod, const NodeInfo& node, const Snapshot& snapshot,
               const LabelMap& ns_labels, NodeCounts& out) {
  out.affinity = 0;
  out.anti.assign(pod.required_anti_affinity().size(), 0);
  out.existing_anti.clear();
  for (const auto& existing : node.pods_with_required_anti_affinity()) {
    for (const AffinityTerm& t : existing->required_anti_affinity()) {
      if (TermMatchesWithLabels(t, pod.pod(), ns_labels)) out.AddExistingAnti(t.topology_key, 1);
    }
  }
  if (pod.required_affinity().empty() && pod.required_anti_affinity().empty()) return;
  for (const auto& existing : node.pods()) {
    if (MatchesAllTerms(pod.required_affinity(), existing->pod(), snapshot)) ++out.affinity;
    for (size_t k = 0; k < pod.required_anti_affinity().size(); ++k) {
      if (TermMatches(pod.required_anti_affinity()[k], existing->pod(), snapshot)) ++out.anti[k];
    }
  }
}

struct PreFilterState final : StateData {
  // Per required affinity term of the incoming pod (same order): pods
  // matching all the terms, per domain of the term's key.
  std::vector<DomainCounts> affinity;
  // Per required anti-affinity term: pods matching the term.
  std::vector<DomainCounts> anti;
  // Per topology key: existing pods' required anti-affinity terms that
  // select the incoming pod.
  std::vector<std::pair<std::string, DomainCounts>> existing_anti;
  // Whether some domain has pods matching the affinity terms (Kubernetes'
  // "affinityCounts is not empty").
  bool any_affinity = false;
  // Whether the incoming pod matches all its own required affinity terms.
  bool self_matches_affinity = false;
  // Labels of the incoming pod's namespace.
  const LabelMap* ns_labels = &EmptyLabels();

  std::unique_ptr<StateData> Clone() const override {
    return std::make_unique<PreFilterState>(*this);
  }
};

// What one node's pods add to an incoming pod's score, per topology key
// (the node's domain of that key gets the amount).
struct NodeScoreParts {
  absl::InlinedVector<std::pair<std::string, int64_t>, 1> by_key;

  void Add(const std::string& key, int64_t amount) {
    if (amount == 0) return;
    for (auto& [k, n] : by_key) {
      if (k == key) {
        n += amount;
        return;
      }
    }
    by_key.emplace_back(key, amount);
  }
};

// Per topology key: the score of each domain.
struct PreScoreState final : StateData {
  std::vector<std::pair<std::string, DomainCounts>> scores;

  std::unique_ptr<StateData> Clone() const override {
    return std::make_unique<PreScoreState>(*this);
  }
};

// The identity under which what nodes contribute for `pod` is cached: its
// namespace, labels and namespace labels (what existing pods' terms select)
// and `terms` of its own (what they select among existing pods), with
// `tag` telling the caches apart. nullopt when one of those terms selects
// namespaces by label: namespace labels may change without a node changing.
std::optional<std::string> CacheKey(const PodInfo& pod, const LabelMap& ns_labels, char tag,
                                    std::initializer_list<const std::vector<AffinityTerm>*> terms) {
  std::string key = pod.pod().metadata().namespace_();
  auto append_map = [&key](const LabelMap& m) {
    std::vector<std::pair<absl::string_view, absl::string_view>> sorted(m.begin(), m.end());
    std::sort(sorted.begin(), sorted.end());
    for (const auto& [k, v] : sorted) absl::StrAppend(&key, "\x1f", k, "=", v);
    key.push_back('\x1e');
  };
  append_map(pod.pod().metadata().labels());
  append_map(ns_labels);
  key.push_back(tag);
  for (const std::vector<AffinityTerm>* list : terms) {
    for (const AffinityTerm& t : *list) {
      if (t.namespace_selector.has_value()) return std::nullopt;
      std::vector<absl::string_view> namespaces(t.namespaces.begin(), t.namespaces.end());
      std::sort(namespaces.begin(), namespaces.end());
      absl::StrAppend(&key, t.selector.ToString(), "\x1f", absl::StrJoin(namespaces, ","), "\x1f",
                      t.topology_key, "\x1f", t.weight, "\x1e");
    }
    key.push_back('\x1d');
  }
  return key;
}

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
    state.Delete(prefilter_key_);
    const Snapshot& snapshot = handle_.snapshot();
    const bool has_terms =
        !pod.required_affinity().empty() || !pod.required_anti_affinity().empty();
    if (!has_terms && snapshot.HavePodsWithRequiredAntiAffinity().empty()) {
      return PluginStatus::Skip();
    }
    auto s = std::make_unique<PreFilterState>();
    if (const LabelMap* l = snapshot.NamespaceLabels(pod.pod().metadata().namespace_())) {
      s->ns_labels = l;
    }
    const auto& nodes = snapshot.List();
    const LabelMap& ns_labels = *s->ns_labels;
    auto compute = [&](const NodeInfo& node, NodeCounts& out) {
      CountNode(pod, node, snapshot, ns_labels, out);
    };
    absl::MutexLock lock(&mu_);
    domains_.BeginCycle();
    node_counts_.BeginCycle();
    // What each node contributes depends only on the node's pods and on
    // the incoming pod's namespace, labels and terms: cached across cycles
    // under that identity, unless the pod's terms select namespaces by
    // label (namespace labels may change without a node changing).
    PerNodeCache<NodeCounts> uncached;
    PerNodeCache<NodeCounts>* counts = &uncached;
    if (std::optional<std::string> key = CacheKey(
            pod, ns_labels, 'f', {&pod.required_affinity(), &pod.required_anti_affinity()})) {
      counts = &node_counts_.Get(*key, [] { return PerNodeCache<NodeCounts>(); });
    }
    counts->Refresh(nodes, handle_, compute);

    for (const AffinityTerm& t : pod.required_affinity()) {
      s->affinity.push_back(DomainCounts{&Domains(t.topology_key, nodes), {}});
    }
    for (const AffinityTerm& t : pod.required_anti_affinity()) {
      s->anti.push_back(DomainCounts{&Domains(t.topology_key, nodes), {}});
    }
    for (size_t i = 0; i < nodes.size(); ++i) {
      const NodeCounts& c = counts->Get(i);
      if (c.affinity > 0) {
        for (DomainCounts& d : s->affinity) d.Add(d.domains->Domain(i), c.affinity);
      }
      for (size_t k = 0; k < c.anti.size(); ++k) {
        if (c.anti[k] > 0) s->anti[k].Add(s->anti[k].domains->Domain(i), c.anti[k]);
      }
      for (const auto& [key, n] : c.existing_anti) {
        if (n == 0) continue;
        DomainCounts& d = ExistingAnti(*s, key, nodes);
        d.Add(d.domains->Domain(i), n);
      }
    }
    for (const DomainCounts& d : s->affinity) s->any_affinity |= d.AnyPositive();
    s->self_matches_affinity = MatchesAllTerms(pod.required_affinity(), pod.pod(), snapshot);
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
    if (!SatisfiesAffinity(*s, node)) {
      static const PluginStatus& kRejected =
          *new PluginStatus(PluginStatus::Unresolvable(std::string(kReasonAffinity)));
      return kRejected;
    }
    for (const DomainCounts& d : s->anti) {
      bool has_key = false;
      if (d.Get(node, has_key) > 0) {
        static const PluginStatus& kRejected =
            *new PluginStatus(PluginStatus::Unschedulable(std::string(kReasonAntiAffinity)));
        return kRejected;
      }
    }
    for (const auto& [key, d] : s->existing_anti) {
      bool has_key = false;
      if (d.Get(node, has_key) > 0) {
        static const PluginStatus& kRejected = *new PluginStatus(
            PluginStatus::Unschedulable(std::string(kReasonExistingAntiAffinity)));
        return kRejected;
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
    const auto& all = snapshot.List();
    // Looking at every node costs a few nanoseconds each: when only a few
    // nodes hold pods with affinity (and the pod has no preferred terms of
    // its own), only those are looked at.
    const bool every_node = &candidates == &all || candidates.size() * 4 >= all.size();
    const auto& list = every_node ? all : candidates;
    auto compute = [&](const NodeInfo& node, NodeScoreParts& out) {
      out.by_key.clear();
      if (node.labels().empty()) return;
      const auto& pods = has_preferred ? node.pods() : node.pods_with_affinity();
      for (const auto& existing : pods) {
        ScoreExistingPod(out, pod, *existing, snapshot, *ns_labels);
      }
    };
    absl::MutexLock lock(&mu_);
    score_parts_.BeginCycle();
    // Like PreFilter's counts: what each node adds depends only on its pods
    // and on the incoming pod's namespace, labels and preferred terms, so it
    // is cached across cycles and only changed nodes are scanned again. The
    // cache is by position in `list`: each kind of list has its own.
    PerNodeCache<NodeScoreParts> uncached;
    PerNodeCache<NodeScoreParts>* parts = &uncached;
    if (std::optional<std::string> key =
            CacheKey(pod, *ns_labels, has_preferred ? 's' : (every_node ? 'S' : 'W'),
                     {&pod.preferred_affinity(), &pod.preferred_anti_affinity()})) {
      parts = &score_parts_.Get(*key, [] { return PerNodeCache<NodeScoreParts>(); });
    }
    parts->Refresh(list, handle_, compute);
    auto s = std::make_unique<PreScoreState>();
    // The domain tables of s->scores, by the same index: refreshed over
    // every node (domains by position), or interning the few nodes' values.
    std::vector<TopologyDomains*> tables;
    bool any = false;
    for (size_t i = 0; i < list.size(); ++i) {
      for (const auto& [key, amount] : parts->Get(i).by_key) {
        size_t k = 0;
        while (k < s->scores.size() && s->scores[k].first != key) ++k;
        if (k == s->scores.size()) {
          TopologyDomains& t = every_node ? Domains(key, all)
                                          : domains_.Get(key, [&] { return TopologyDomains(key); });
          s->scores.emplace_back(key, DomainCounts{&t, {}});
          tables.push_back(&t);
        }
        const int32_t domain =
            every_node ? tables[k]->Domain(i) : tables[k]->Intern(list[i]->labels());
        if (domain == TopologyDomains::kNoDomain) continue;
        s->scores[k].second.Add(domain, amount);
        any = true;
      }
    }
    if (!any) return PluginStatus::Skip();
    state.Write(prescore_key_, std::move(s));
    return PluginStatus();
  }

  int64_t Score(const CycleState& state, const PodInfo&, const NodeInfo& node) const override {
    const auto* s = state.Read<PreScoreState>(prescore_key_);
    if (s == nullptr) return 0;
    int64_t score = 0;
    for (const auto& [key, d] : s->scores) {
      bool has_key = false;
      score += d.Get(node, has_key);
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
  TopologyDomains& Domains(const std::string& key, const std::vector<const NodeInfo*>& nodes) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    TopologyDomains& d = domains_.Get(key, [&] { return TopologyDomains(key); });
    d.Refresh(nodes);
    return d;
  }

  DomainCounts& ExistingAnti(PreFilterState& s, const std::string& key,
                             const std::vector<const NodeInfo*>& nodes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (auto& [k, d] : s.existing_anti) {
      if (k == key) return d;
    }
    s.existing_anti.emplace_back(key, DomainCounts{&Domains(key, nodes), {}});
    return s.existing_anti.back().second;
  }

  static bool SatisfiesAffinity(const PreFilterState& s, const NodeInfo& node) {
    bool pods_exist = true;
    for (const DomainCounts& d : s.affinity) {
      bool has_key = false;
      const int64_t n = d.Get(node, has_key);
      // Every topology key must exist on the node.
      if (!has_key) return false;
      if (n <= 0) pods_exist = false;
    }
    // The first pod of a group with affinity to itself: no pod anywhere
    // matches the terms, but the pod matches them itself.
    return pods_exist || (!s.any_affinity && s.self_matches_affinity);
  }

  // Preemption: `other` is added to or removed from `node`. May run on
  // several threads at once, each with its own copy of the state.
  PluginStatus Update(CycleState& state, const PodInfo& pod, const PodInfo& other,
                      const NodeInfo& node, int64_t delta) const {
    auto* s = state.Read<PreFilterState>(prefilter_key_);
    if (s == nullptr) return PluginStatus();
    NodeCounts c;
    for (const AffinityTerm& t : other.required_anti_affinity()) {
      if (TermMatchesWithLabels(t, pod.pod(), *s->ns_labels)) c.AddExistingAnti(t.topology_key, 1);
    }
    const Snapshot& snapshot = handle_.snapshot();
    const bool affinity = MatchesAllTerms(pod.required_affinity(), other.pod(), snapshot);
    bool has_key = false;
    if (affinity) {
      for (DomainCounts& d : s->affinity) d.Add(d.domains->DomainOf(node, has_key), delta);
      s->any_affinity = false;
      for (const DomainCounts& d : s->affinity) s->any_affinity |= d.AnyPositive();
    }
    for (size_t k = 0; k < s->anti.size(); ++k) {
      if (TermMatches(pod.required_anti_affinity()[k], other.pod(), snapshot)) {
        s->anti[k].Add(s->anti[k].domains->DomainOf(node, has_key), delta);
      }
    }
    for (const auto& [key, n] : c.existing_anti) {
      DomainCounts* d = nullptr;
      for (auto& [k, counts] : s->existing_anti) {
        if (k == key) d = &counts;
      }
      if (d == nullptr) {
        absl::MutexLock lock(&mu_);
        s->existing_anti.emplace_back(key,
                                      DomainCounts{&Domains(key, handle_.snapshot().List()), {}});
        d = &s->existing_anti.back().second;
      }
      d->Add(d->domains->DomainOf(node, has_key), delta * n);
    }
    return PluginStatus();
  }

  // What `existing` (on some node) adds to the incoming pod's score of
  // that node's domains, per topology key.
  void ScoreExistingPod(NodeScoreParts& out, const PodInfo& pod, const PodInfo& existing,
                        const Snapshot& snapshot, const LabelMap& ns_labels) const {
    const api::Pod& existing_pod = existing.pod();
    for (const AffinityTerm& t : pod.preferred_affinity()) {
      if (TermMatches(t, existing_pod, snapshot)) out.Add(t.topology_key, t.weight);
    }
    for (const AffinityTerm& t : pod.preferred_anti_affinity()) {
      if (TermMatches(t, existing_pod, snapshot)) out.Add(t.topology_key, -t.weight);
    }
    if (args_.hard_pod_affinity_weight > 0) {
      for (const AffinityTerm& t : existing.required_affinity()) {
        if (TermMatchesWithLabels(t, pod.pod(), ns_labels)) {
          out.Add(t.topology_key, args_.hard_pod_affinity_weight);
        }
      }
    }
    for (const AffinityTerm& t : existing.preferred_affinity()) {
      if (TermMatchesWithLabels(t, pod.pod(), ns_labels)) out.Add(t.topology_key, t.weight);
    }
    for (const AffinityTerm& t : existing.preferred_anti_affinity()) {
      if (TermMatchesWithLabels(t, pod.pod(), ns_labels)) out.Add(t.topology_key, -t.weight);
    }
  }

  const Args args_;
  Handle& handle_;
  const StateKey prefilter_key_;
  const StateKey prescore_key_;
  // Caches across cycles (node_count_cache.h). PreFilter holds mu_ while
  // refreshing them; Filter reads the domain tables without it: no
  // PreFilter of another pod runs during a cycle.
  mutable absl::Mutex mu_;
  mutable SmallLru<std::string, TopologyDomains> domains_ ABSL_GUARDED_BY(mu_){16};
  SmallLru<std::string, PerNodeCache<NodeCounts>> node_counts_ ABSL_GUARDED_BY(mu_){4};
  SmallLru<std::string, PerNodeCache<NodeScoreParts>> score_parts_ ABSL_GUARDED_BY(mu_){4};
};

}  // namespace

FactoryResult NewInterPodAffinity(absl::string_view args_json, Handle& handle) {
  absl::StatusOr<Args> args = ParseArgs(args_json);
  if (!args.ok()) return args.status();
  return std::unique_ptr<Plugin>(new InterPodAffinity(*args, handle));
}

}  // namespace korch::scheduler::plugins
