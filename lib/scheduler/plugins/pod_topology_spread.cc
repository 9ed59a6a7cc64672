// PodTopologySpread: spreads matching pods evenly across topology domains,
// with Kubernetes' semantics (pkg/scheduler/framework/plugins/
// podtopologyspread): DoNotSchedule constraints filter by skew, ScheduleAnyway
// constraints score; constraints come from the pod or, when it has none, from
// the plugin's default constraints with the selectors of the Services,
// ReplicaSets and StatefulSets that select the pod.
//
// Counting matching pods per domain visits every node, so it is made cheap
// across cycles: the number of matching pods on each node and each node's
// domain are cached per (namespace, selector) and per topology key
// (node_count_cache.h) and recomputed only for nodes that changed since the
// previous pod. PreFilter and PreScore then cost a few loads per node.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "korch/api/codec.h"
#include "korch/api/selector.h"
#include "korch/base/status.h"
#include "korch/scheduler/framework.h"
#include "korch/scheduler/registry.h"
#include "nlohmann/json.hpp"
#include "scheduler/plugins/node_count_cache.h"
#include "scheduler/plugins/plugins.h"

namespace korch::scheduler::plugins {
namespace {

constexpr absl::string_view kReasonNotMatch =
    "node(s) didn't match pod topology spread constraints";
constexpr absl::string_view kReasonMissingLabel =
    "node(s) didn't match pod topology spread constraints (missing required label)";
constexpr absl::string_view kHostnameKey = "kubernetes.io/hostname";
constexpr absl::string_view kZoneKey = "topology.kubernetes.io/zone";
constexpr absl::string_view kDoNotSchedule = "DoNotSchedule";
constexpr absl::string_view kScheduleAnyway = "ScheduleAnyway";

using LabelMap = google::protobuf::Map<std::string, std::string>;

// A spread constraint, parsed, with the caches that count for it.
struct Constraint {
  int32_t max_skew = 1;
  std::string topology_key;
  api::Selector selector;
  int32_t min_domains = 1;
  bool honor_node_affinity = true;
  bool honor_taints = false;
  // Whether the incoming pod matches the selector itself.
  bool self_match = false;
  // Views into the plugin's caches; valid for the cycle.
  const TopologyDomains* domains = nullptr;
  const NodePodCounts* counts = nullptr;  // null: the selector counts nothing
};

// The incoming pod's nodeSelector and required node affinity
// (nodeaffinity.GetRequiredNodeAffinity).
class RequiredNodeAffinity {
 public:
  explicit RequiredNodeAffinity(const api::Pod& pod) : node_selector_(pod.spec().node_selector()) {
    const api::PodSpec& spec = pod.spec();
    if (spec.has_affinity() && spec.affinity().has_node_affinity() &&
        spec.affinity().node_affinity().has_required_during_scheduling_ignored_during_execution()) {
      absl::StatusOr<api::NodeSelectorMatcher> m = api::NodeSelectorMatcher::Create(
          spec.affinity().node_affinity().required_during_scheduling_ignored_during_execution());
      // A selector that cannot be parsed matches no node.
      matcher_ = m.ok() ? std::optional<api::NodeSelectorMatcher>(std::move(*m)) : std::nullopt;
      has_matcher_ = true;
    }
  }
  bool Empty() const { return node_selector_.empty() && !has_matcher_; }
  bool Matches(const NodeInfo& node) const {
    const LabelMap& labels = node.labels();
    for (const auto& [k, v] : node_selector_) {
      auto it = labels.find(k);
      if (it == labels.end() || it->second != v) return false;
    }
    if (!has_matcher_) return true;
    return matcher_.has_value() && matcher_->Matches(node.name(), labels);
  }

 private:
  const LabelMap& node_selector_;
  bool has_matcher_ = false;
  std::optional<api::NodeSelectorMatcher> matcher_;
};

bool ToleratesTaint(const api::Toleration& t, const api::Taint& taint) {
  if (!t.effect().empty() && t.effect() != taint.effect()) return false;
  if (!t.key().empty() && t.key() != taint.key()) return false;
  if (t.operator_() == "Exists") return true;
  return t.value() == taint.value();
}

// Whether the node has a NoSchedule or NoExecute taint the pod does not
// tolerate.
bool HasUntoleratedTaint(const api::Pod& pod, const NodeInfo& node) {
  for (const api::Taint& taint : node.taints()) {
    if (taint.effect() != "NoSchedule" && taint.effect() != "NoExecute") continue;
    bool tolerated = false;
    for (const api::Toleration& t : pod.spec().tolerations()) {
      if (ToleratesTaint(t, taint)) {
        tolerated = true;
        break;
      }
    }
    if (!tolerated) return true;
  }
  return false;
}

// Per node, whether it passes a constraint's inclusion policies; computed
// at most once per node and policy.
class NodeInclusion {
 public:
  NodeInclusion(const api::Pod& pod, const RequiredNodeAffinity& affinity)
      : pod_(pod), affinity_(affinity) {}
  void Reset() { affinity_ok_ = taints_ok_ = -1; }
  bool Includes(const Constraint& c, const NodeInfo& node) {
    if (c.honor_node_affinity && !affinity_.Empty()) {
      if (affinity_ok_ < 0) affinity_ok_ = affinity_.Matches(node) ? 1 : 0;
      if (affinity_ok_ == 0) return false;
    }
    if (c.honor_taints && !node.taints().empty()) {
      if (taints_ok_ < 0) taints_ok_ = HasUntoleratedTaint(pod_, node) ? 0 : 1;
      if (taints_ok_ == 0) return false;
    }
    return true;
  }

 private:
  const api::Pod& pod_;
  const RequiredNodeAffinity& affinity_;
  int affinity_ok_ = -1;
  int taints_ok_ = -1;
};

int32_t CountMatching(const NodeInfo& node, const std::string& ns, const api::Selector& selector) {
  int32_t n = 0;
  for (const auto& p : node.pods()) {
    const api::Pod& pod = p->pod();
    // Terminating pods do not count (kubernetes#87621).
    if (pod.metadata().has_deletion_timestamp() || pod.metadata().namespace_() != ns) continue;
    if (selector.Matches(pod.metadata().labels())) ++n;
  }
  return n;
}

// Per hard constraint: matching pods per domain among eligible nodes.
struct HardConstraintState {
  Constraint c;
  std::vector<int64_t> match_num;  // by domain id
  std::vector<char> eligible;      // by domain id: the domain has an eligible node
  int64_t num_domains = 0;
  int64_t min_match = 0;

  void RecomputeMin() {
    int64_t lo = std::numeric_limits<int64_t>::max();
    num_domains = 0;
    for (size_t d = 0; d < eligible.size(); ++d) {
      if (!eligible[d]) continue;
      ++num_domains;
      lo = std::min(lo, match_num[d]);
    }
    // Fewer eligible domains than minDomains: the global minimum is 0.
    min_match = num_domains < c.min_domains ? 0 : lo;
  }
};

struct PreFilterState final : StateData {
  std::vector<HardConstraintState> constraints;
  std::unique_ptr<StateData> Clone() const override {
    return std::make_unique<PreFilterState>(*this);
  }
};

struct SoftConstraintState {
  Constraint c;
  bool hostname = false;
  std::vector<int64_t> counts;  // by domain id
  std::vector<char> tracked;    // by domain id: a scored node is in the domain
  double weight = 0;
};

struct PreScoreState final : StateData {
  std::vector<SoftConstraintState> constraints;
  std::string ns;
  // Feasible nodes lacking one of the topology keys: scored 0.
  absl::flat_hash_set<const NodeInfo*> ignored;
  std::unique_ptr<StateData> Clone() const override {
    return std::make_unique<PreScoreState>(*this);
  }
};

struct Args {
  bool system_defaulted = true;
  std::vector<api::TopologySpreadConstraint> default_constraints;
};

std::vector<api::TopologySpreadConstraint> SystemDefaultConstraints() {
  std::vector<api::TopologySpreadConstraint> out(2);
  out[0].set_max_skew(3);
  out[0].set_topology_key(std::string(kHostnameKey));
  out[0].set_when_unsatisfiable(std::string(kScheduleAnyway));
  out[1].set_max_skew(5);
  out[1].set_topology_key(std::string(kZoneKey));
  out[1].set_when_unsatisfiable(std::string(kScheduleAnyway));
  return out;
}

absl::StatusOr<Args> ParseArgs(absl::string_view args_json) {
  Args args;
  args.default_constraints = SystemDefaultConstraints();
  if (args_json.empty()) return args;
  nlohmann::json j = nlohmann::json::parse(args_json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("PodTopologySpreadArgs: must be a JSON object");
  }
  std::string defaulting_type = "System";
  std::vector<api::TopologySpreadConstraint> given;
  for (const auto& [field, value] : j.items()) {
    if (field == "kind" || field == "apiVersion") continue;
    if (field == "defaultingType") {
      if (!value.is_string() || (value != "System" && value != "List")) {
        return absl::InvalidArgumentError(
            absl::StrCat("PodTopologySpreadArgs.defaultingType: Unsupported value: ", value.dump(),
                         ": supported values: \"List\", \"System\""));
      }
      defaulting_type = value.get<std::string>();
    } else if (field == "defaultConstraints") {
      if (!value.is_array()) {
        return absl::InvalidArgumentError(
            "PodTopologySpreadArgs.defaultConstraints: Invalid value: must be a list");
      }
      for (size_t i = 0; i < value.size(); ++i) {
        const std::string path = absl::StrCat("PodTopologySpreadArgs.defaultConstraints[", i, "]");
        api::TopologySpreadConstraint c;
        if (absl::Status s = api::DecodeJsonValue(value[i], &c); !s.ok()) {
          return absl::InvalidArgumentError(absl::StrCat(path, ": ", s.message()));
        }
        if (c.max_skew() <= 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              path, ".maxSkew: Invalid value: ", c.max_skew(), ": must be greater than 0"));
        }
        if (c.topology_key().empty()) {
          return absl::InvalidArgumentError(absl::StrCat(path, ".topologyKey: Required value"));
        }
        if (c.when_unsatisfiable() != kDoNotSchedule && c.when_unsatisfiable() != kScheduleAnyway) {
          return absl::InvalidArgumentError(absl::StrCat(
              path, ".whenUnsatisfiable: Unsupported value: \"", c.when_unsatisfiable(),
              "\": supported values: \"DoNotSchedule\", \"ScheduleAnyway\""));
        }
        if (c.has_label_selector()) {
          return absl::InvalidArgumentError(
              absl::StrCat(path,
                           ".labelSelector: Forbidden: constraint must not define a selector, as "
                           "they deduced for each pod"));
        }
        for (const auto& other : given) {
          if (other.topology_key() == c.topology_key() &&
              other.when_unsatisfiable() == c.when_unsatisfiable()) {
            return absl::InvalidArgumentError(absl::StrCat(
                path, ": Duplicate value: {", c.topology_key(), ", ", c.when_unsatisfiable(), "}"));
          }
        }
        given.push_back(std::move(c));
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("PodTopologySpreadArgs.", field, ": unknown field"));
    }
  }
  if (defaulting_type == "System") {
    if (!given.empty()) {
      return absl::InvalidArgumentError(
          "PodTopologySpreadArgs.defaultConstraints: Invalid value: when .defaultingType is "
          "\"System\", .defaultConstraints must be empty");
    }
  } else {
    args.system_defaulted = false;
    args.default_constraints = std::move(given);
  }
  return args;
}

// Identity of a per-node count: pods of a namespace matching a selector.
struct CountKey {
  std::string ns;
  api::Selector selector;
  friend bool operator==(const CountKey&, const CountKey&) = default;
};

class PodTopologySpread final : public PreFilterPlugin,
                                public FilterPlugin,
                                public PreScorePlugin,
                                public ScorePlugin,
                                public PreFilterExtensions {
 public:
  PodTopologySpread(Args args, Handle& handle)
      : args_(std::move(args)),
        handle_(handle),
        prefilter_key_(handle.StateKeyFor("PodTopologySpread/PreFilter")),
        prescore_key_(handle.StateKeyFor("PodTopologySpread/PreScore")) {}

  absl::string_view Name() const override { return names::kPodTopologySpread; }

  PluginStatus PreFilter(CycleState& state, const PodInfo& pod, PreFilterResult&) override {
    state.Delete(prefilter_key_);
    absl::StatusOr<std::vector<Constraint>> constraints = Constraints(pod.pod(), kDoNotSchedule);
    if (!constraints.ok()) return PluginStatus::Error(std::string(constraints.status().message()));
    if (constraints->empty()) return PluginStatus::Skip();

    const api::Pod& p = pod.pod();
    const auto& nodes = handle_.snapshot().List();
    auto s = std::make_unique<PreFilterState>();
    absl::MutexLock lock(&mu_);
    domains_.BeginCycle();
    counts_.BeginCycle();
    for (Constraint& c : *constraints) {
      Bind(c, p.metadata().namespace_(), nodes);
      HardConstraintState h;
      h.c = std::move(c);
      h.match_num.assign(h.c.domains->NumDomains(), 0);
      h.eligible.assign(h.c.domains->NumDomains(), 0);
      s->constraints.push_back(std::move(h));
    }
    RequiredNodeAffinity affinity(p);
    NodeInclusion inclusion(p, affinity);
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (!HasAllKeys(s->constraints, i)) continue;
      inclusion.Reset();
      for (HardConstraintState& h : s->constraints) {
        if (!inclusion.Includes(h.c, *nodes[i])) continue;
        const int32_t d = h.c.domains->Domain(i);
        h.eligible[d] = 1;
        if (h.c.counts != nullptr) h.match_num[d] += h.c.counts->Get(i);
      }
    }
    for (HardConstraintState& h : s->constraints) h.RecomputeMin();
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

  PluginStatus Filter(const CycleState& state, const PodInfo&,
                      const NodeInfo& node) const override {
    const auto* s = state.Read<PreFilterState>(prefilter_key_);
    if (s == nullptr) return PluginStatus();
    for (const HardConstraintState& h : s->constraints) {
      bool has_key = false;
      const int32_t d = h.c.domains->DomainOf(node, has_key);
      if (!has_key) {
        static const PluginStatus& kRejected =
            *new PluginStatus(PluginStatus::Unresolvable(std::string(kReasonMissingLabel)));
        return kRejected;
      }
      const int64_t match =
          d >= 0 && static_cast<size_t>(d) < h.match_num.size() ? h.match_num[d] : 0;
      if (match + (h.c.self_match ? 1 : 0) - h.min_match > h.c.max_skew) {
        static const PluginStatus& kRejected =
            *new PluginStatus(PluginStatus::Unschedulable(std::string(kReasonNotMatch)));
        return kRejected;
      }
    }
    return PluginStatus();
  }

  PluginStatus PreScore(CycleState& state, const PodInfo& pod,
                        absl::Span<const NodeInfo* const> filtered) override {
    state.Delete(prescore_key_);
    const auto& nodes = handle_.snapshot().List();
    if (filtered.empty() || nodes.empty()) return PluginStatus::Skip();
    absl::StatusOr<std::vector<Constraint>> constraints = Constraints(pod.pod(), kScheduleAnyway);
    if (!constraints.ok()) return PluginStatus::Error(std::string(constraints.status().message()));
    if (constraints->empty()) return PluginStatus::Skip();

    const api::Pod& p = pod.pod();
    // Only constraints of the pod or of a configured list require every
    // topology key on a node: with the system defaults, nodes without a
    // zone still spread by hostname.
    const bool require_all =
        p.spec().topology_spread_constraints_size() > 0 || !args_.system_defaulted;
    auto s = std::make_unique<PreScoreState>();
    s->ns = p.metadata().namespace_();
    absl::MutexLock lock(&mu_);
    domains_.BeginCycle();
    counts_.BeginCycle();
    for (Constraint& c : *constraints) {
      Bind(c, s->ns, nodes);
      SoftConstraintState soft;
      soft.c = std::move(c);
      soft.hostname = soft.c.topology_key == kHostnameKey;
      soft.counts.assign(soft.c.domains->NumDomains(), 0);
      soft.tracked.assign(soft.c.domains->NumDomains(), 0);
      s->constraints.push_back(std::move(soft));
    }
    std::vector<int64_t> sizes(s->constraints.size(), 0);
    // With the system defaults, nodes without a key form one domain (the
    // empty value) for the weights, as in Kubernetes.
    std::vector<char> empty_domain(s->constraints.size(), 0);
    for (const NodeInfo* node : filtered) {
      const LabelMap& labels = node->labels();
      if (require_all) {
        bool all = true;
        for (const SoftConstraintState& soft : s->constraints) {
          if (!labels.contains(soft.c.topology_key)) {
            all = false;
            break;
          }
        }
        if (!all) {
          s->ignored.insert(node);
          continue;
        }
      }
      for (size_t k = 0; k < s->constraints.size(); ++k) {
        SoftConstraintState& soft = s->constraints[k];
        if (soft.hostname) continue;
        auto it = labels.find(soft.c.topology_key);
        if (it == labels.end()) {
          if (!empty_domain[k]) ++sizes[k];
          empty_domain[k] = 1;
          continue;
        }
        const int32_t d = soft.c.domains->FindValue(it->second);
        if (d < 0 || soft.tracked[d]) continue;
        soft.tracked[d] = 1;
        ++sizes[k];
      }
    }
    const int64_t scored = static_cast<int64_t>(filtered.size() - s->ignored.size());
    for (size_t k = 0; k < s->constraints.size(); ++k) {
      SoftConstraintState& soft = s->constraints[k];
      soft.weight = std::log(static_cast<double>((soft.hostname ? scored : sizes[k]) + 2));
    }
    RequiredNodeAffinity affinity(p);
    NodeInclusion inclusion(p, affinity);
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (require_all && !HasAllKeys(s->constraints, i)) continue;
      inclusion.Reset();
      for (SoftConstraintState& soft : s->constraints) {
        if (soft.hostname || soft.c.counts == nullptr) continue;
        const int32_t d = soft.c.domains->Domain(i);
        if (d < 0 || !soft.tracked[d]) continue;
        if (!inclusion.Includes(soft.c, *nodes[i])) continue;
        soft.counts[d] += soft.c.counts->Get(i);
      }
    }
    state.Write(prescore_key_, std::move(s));
    return PluginStatus();
  }

  int64_t Score(const CycleState& state, const PodInfo&, const NodeInfo& node) const override {
    const auto* s = state.Read<PreScoreState>(prescore_key_);
    if (s == nullptr || s->ignored.contains(&node)) return 0;
    double score = 0;
    for (const SoftConstraintState& soft : s->constraints) {
      bool has_key = false;
      const int32_t d = soft.c.domains->DomainOf(node, has_key);
      if (!has_key) continue;
      int64_t count = 0;
      if (soft.hostname) {
        if (soft.c.counts != nullptr) count = CountMatching(node, s->ns, soft.c.selector);
      } else {
        if (d >= 0 && static_cast<size_t>(d) < soft.counts.size()) count = soft.counts[d];
      }
      score += static_cast<double>(count) * soft.weight + static_cast<double>(soft.c.max_skew - 1);
    }
    return static_cast<int64_t>(std::round(score));
  }

  bool HasNormalizeScore() const override { return true; }

  PluginStatus NormalizeScore(const CycleState& state, const PodInfo&,
                              absl::Span<NodeScore> scores) const override {
    const auto* s = state.Read<PreScoreState>(prescore_key_);
    if (s == nullptr) return PluginStatus();
    int64_t lo = std::numeric_limits<int64_t>::max();
    int64_t hi = 0;
    for (const NodeScore& n : scores) {
      if (s->ignored.contains(n.node)) continue;
      lo = std::min(lo, n.score);
      hi = std::max(hi, n.score);
    }
    for (NodeScore& n : scores) {
      if (s->ignored.contains(n.node)) {
        n.score = 0;
      } else if (hi == 0) {
        n.score = kMaxNodeScore;
      } else {
        // Fewer matching pods score higher.
        n.score = kMaxNodeScore * (hi + lo - n.score) / hi;
      }
    }
    return PluginStatus();
  }

 private:
  // The pod's constraints with `action`, or the default constraints with the
  // selectors of the pod's owners.
  absl::StatusOr<std::vector<Constraint>> Constraints(const api::Pod& pod,
                                                      absl::string_view action) const {
    std::vector<Constraint> out;
    const auto& labels = pod.metadata().labels();
    if (pod.spec().topology_spread_constraints_size() > 0) {
      for (int i = 0; i < pod.spec().topology_spread_constraints_size(); ++i) {
        const api::TopologySpreadConstraint& tsc = pod.spec().topology_spread_constraints(i);
        if (tsc.when_unsatisfiable() != action) continue;
        api::Selector selector = api::Selector::Nothing();
        if (tsc.has_label_selector()) {
          absl::StatusOr<api::Selector> sel = api::Selector::FromProto(
              tsc.label_selector(), api::FieldPath(absl::StrCat("spec.topologySpreadConstraints[",
                                                                i, "].labelSelector")));
          if (!sel.ok()) return sel.status();
          selector = std::move(*sel);
        }
        KORCH_RETURN_IF_ERROR(AddMatchLabelKeys(tsc, labels, selector));
        out.push_back(MakeConstraint(tsc, std::move(selector), labels));
      }
      return out;
    }
    bool any = false;
    for (const auto& tsc : args_.default_constraints) any |= tsc.when_unsatisfiable() == action;
    if (!any) return out;
    std::vector<api::LabelRequirement> requirements;
    for (const api::Selector& owner : handle_.OwnerSelectors(pod)) {
      for (const api::LabelRequirement& r : owner.requirements()) requirements.push_back(r);
    }
    if (requirements.empty()) return out;
    const api::Selector selector = api::Selector::FromRequirements(std::move(requirements));
    for (const auto& tsc : args_.default_constraints) {
      if (tsc.when_unsatisfiable() != action) continue;
      api::Selector with_keys = selector;
      KORCH_RETURN_IF_ERROR(AddMatchLabelKeys(tsc, labels, with_keys));
      out.push_back(MakeConstraint(tsc, std::move(with_keys), labels));
    }
    return out;
  }

  static absl::Status AddMatchLabelKeys(const api::TopologySpreadConstraint& tsc,
                                        const LabelMap& labels, api::Selector& selector) {
    for (const std::string& key : tsc.match_label_keys()) {
      auto it = labels.find(key);
      if (it == labels.end()) continue;
      absl::StatusOr<api::LabelRequirement> r =
          api::LabelRequirement::Create(key, api::SelectorOperator::kIn, {it->second});
      if (!r.ok()) return r.status();
      selector = selector.Add(std::move(*r));
    }
    return absl::OkStatus();
  }

  static Constraint MakeConstraint(const api::TopologySpreadConstraint& tsc, api::Selector selector,
                                   const LabelMap& pod_labels) {
    Constraint c;
    c.max_skew = tsc.max_skew();
    c.topology_key = tsc.topology_key();
    c.self_match = selector.Matches(pod_labels);
    c.selector = std::move(selector);
    if (tsc.when_unsatisfiable() == kDoNotSchedule && tsc.has_min_domains() &&
        tsc.min_domains() > 0) {
      c.min_domains = tsc.min_domains();
    }
    c.honor_node_affinity = tsc.node_affinity_policy() != "Ignore";
    c.honor_taints = tsc.node_taints_policy() == "Honor";
    return c;
  }

  // Points `c` at up-to-date caches for its topology key and selector.
  void Bind(Constraint& c, const std::string& ns, const std::vector<const NodeInfo*>& nodes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    TopologyDomains& domains =
        domains_.Get(c.topology_key, [&] { return TopologyDomains(c.topology_key); });
    domains.Refresh(nodes);
    c.domains = &domains;
    // An empty selector counts no pod (as in Kubernetes); neither does
    // Nothing().
    if (c.selector.Empty() || c.selector.MatchesNothing()) {
      c.counts = nullptr;
      return;
    }
    CountKey key{ns, c.selector};
    NodePodCounts& counts = counts_.Get(key, [] { return NodePodCounts(); });
    const api::Selector& selector = c.selector;
    counts.Refresh(nodes, handle_, [&](const NodeInfo& node, int32_t& count) {
      count = CountMatching(node, ns, selector);
    });
    c.counts = &counts;
  }

  template <typename State>
  static bool HasAllKeys(const std::vector<State>& constraints, size_t i) {
    for (const State& s : constraints) {
      if (s.c.domains->Domain(i) == TopologyDomains::kNoDomain) return false;
    }
    return true;
  }

  PluginStatus Update(CycleState& state, const PodInfo& pod, const PodInfo& other,
                      const NodeInfo& node, int64_t delta) const {
    auto* s = state.Read<PreFilterState>(prefilter_key_);
    if (s == nullptr) return PluginStatus();
    const api::Pod& incoming = pod.pod();
    if (other.pod().metadata().namespace_() != incoming.metadata().namespace_()) {
      return PluginStatus();
    }
    const LabelMap& labels = node.labels();
    for (const HardConstraintState& h : s->constraints) {
      if (!labels.contains(h.c.topology_key)) return PluginStatus();
    }
    RequiredNodeAffinity affinity(incoming);
    NodeInclusion inclusion(incoming, affinity);
    for (HardConstraintState& h : s->constraints) {
      if (!inclusion.Includes(h.c, node)) continue;
      if (!h.c.selector.Matches(other.pod().metadata().labels())) continue;
      bool has_key = false;
      const int32_t d = h.c.domains->DomainOf(node, has_key);
      if (d < 0) continue;  // a value no node of the snapshot has
      if (static_cast<size_t>(d) >= h.match_num.size()) {
        h.match_num.resize(d + 1, 0);
        h.eligible.resize(d + 1, 0);
      }
      h.match_num[d] += delta;
      h.eligible[d] = 1;
      h.RecomputeMin();
    }
    return PluginStatus();
  }

  const Args args_;
  Handle& handle_;
  const StateKey prefilter_key_;
  const StateKey prescore_key_;
  // Caches across cycles; PreFilter/PreScore hold mu_ while refreshing and
  // reading them. Filter/Score read the domain tables without it: no
  // PreFilter/PreScore of another pod runs during a cycle.
  absl::Mutex mu_;
  SmallLru<std::string, TopologyDomains> domains_ ABSL_GUARDED_BY(mu_){8};
  SmallLru<CountKey, NodePodCounts> counts_ ABSL_GUARDED_BY(mu_){8};
};

}  // namespace

FactoryResult NewPodTopologySpread(absl::string_view args_json, Handle& handle) {
  absl::StatusOr<Args> args = ParseArgs(args_json);
  if (!args.ok()) return args.status();
  return std::unique_ptr<Plugin>(new PodTopologySpread(std::move(*args), handle));
}

}  // namespace korch::scheduler::plugins
