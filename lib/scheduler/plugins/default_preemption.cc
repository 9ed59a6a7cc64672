// DefaultPreemption (PostFilter): when a pod fits nowhere, find nodes where
// evicting lower-priority pods would let it fit, pick the one where that
// disrupts least, evict those victims and nominate the node for the pod.
// kube-scheduler's algorithm:
//
// 1. Eligibility: preemptionPolicy Never never preempts; a pod nominated to
//    a node where lower-priority pods are already terminating waits for
//    them instead of preempting again.
// 2. Candidates: only nodes whose filter status was Unschedulable
//    (UnschedulableAndUnresolvable means eviction cannot help). At most
//    max(minCandidateNodesPercentage% of them, minCandidateNodesAbsolute)
//    candidates are collected, starting at an offset so that preemption
//    spreads over a large cluster.
// 3. Per node, on a copy of the NodeInfo and a clone of the CycleState:
//    remove every lower-priority pod (through the PreFilter extensions),
//    check that the pod fits, then add victims back from the most important
//    down, keeping each one that still lets the pod fit.
// 4. Choose the node by, in order: fewest PodDisruptionBudget violations
//    (always 0: korch has no PodDisruptionBudget yet, so budgets are not
//    respected), lowest highest-victim priority, smallest sum of victim
//    priorities, fewest victims, latest start of the most important victims;
//    then the first candidate.
// 5. Evict the victims (pods held at Permit are rejected instead), clear the
//    nominations of lower-priority pods nominated to that node, and nominate
//    the node for the preemptor.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "korch/base/status.h"
#include "korch/scheduler/registry.h"
#include "scheduler/plugins/node_plugin_util.h"
#include "scheduler/plugins/plugins.h"

namespace korch::scheduler::plugins {
namespace {

constexpr absl::string_view kKind = "DefaultPreemptionArgs";
constexpr absl::string_view kNoVictims = "No preemption victims found for incoming pod";
constexpr absl::string_view kNotHelpful = "Preemption is not helpful for scheduling";

struct PreemptionArgs {
  int64_t min_candidate_nodes_percentage = 10;
  int64_t min_candidate_nodes_absolute = 100;
};

using PodPtr = std::shared_ptr<const PodInfo>;

struct Candidate {
  const NodeInfo* node = nullptr;
  std::vector<PodPtr> victims;  // most important first
};

// The most important pod first: higher priority, then started earlier.
// Pods that have not started count as starting now.
struct MoreImportant {
  absl::Time now;
  absl::Time StartTime(const PodInfo& p) const {
    const api::PodStatus& status = p.pod().status();
    if (!status.has_start_time()) return now;
    return absl::FromUnixSeconds(status.start_time().seconds()) +
           absl::Nanoseconds(status.start_time().nanos());
  }
  bool operator()(const PodPtr& a, const PodPtr& b) const {
    if (a->priority() != b->priority()) return a->priority() > b->priority();
    return StartTime(*a) < StartTime(*b);
  }
};

// A lower-priority pod being deleted. Kubernetes also checks the
// DisruptionTarget condition that its preemption writes; korch's hosts
// evict through ClusterActions and may not write it, so any graceful
// deletion counts.
bool Terminating(const PodInfo& p) { return p.pod().metadata().has_deletion_timestamp(); }

// "0/5 nodes are available: 1 No preemption victims found for incoming pod,
// 4 Preemption is not helpful for scheduling." Reasons are counted over the
// nodes and sorted, as kube-scheduler's FitError renders them.
std::string FitMessage(size_t num_nodes, const std::vector<const PluginStatus*>& statuses,
                       size_t num_absent) {
  std::map<std::string, int64_t> counts;
  for (const PluginStatus* s : statuses) {
    for (const std::string& r : s->reasons()) ++counts[r];
  }
  if (num_absent > 0) counts[std::string(kNotHelpful)] += static_cast<int64_t>(num_absent);
  std::vector<std::string> parts;
  for (const auto& [reason, n] : counts) parts.push_back(absl::StrCat(n, " ", reason));
  std::sort(parts.begin(), parts.end());
  std::string msg = absl::StrCat("0/", num_nodes, " nodes are available:");
  if (!parts.empty()) absl::StrAppend(&msg, " ", absl::StrJoin(parts, ", "), ".");
  return msg;
}

class DefaultPreemption final : public PostFilterPlugin {
 public:
  DefaultPreemption(PreemptionArgs args, Handle& handle) : args_(args), handle_(handle) {}

  absl::string_view Name() const override { return names::kDefaultPreemption; }

  PostFilterResult PostFilter(CycleState& state, const PodInfo& pod,
                              const NodeStatusMap& filtered_statuses) override {
    PostFilterResult result;
    if (std::optional<std::string> why = NotEligible(pod, filtered_statuses)) {
      result.status = PluginStatus::Unschedulable(absl::StrCat("preemption: ", *why));
      return result;
    }
    const Snapshot& snapshot = handle_.snapshot();
    const std::vector<const NodeInfo*>& all = snapshot.List();
    if (all.empty()) {
      result.status = PluginStatus::Error("preemption: no nodes available");
      return result;
    }

    // Nodes where removing pods may help.
    std::vector<const NodeInfo*> potential;
    for (const NodeInfo* n : all) {
      auto it = filtered_statuses.find(n->name());
      if (it != filtered_statuses.end() && it->second.code() == Code::kUnschedulable) {
        potential.push_back(n);
      }
    }
    std::vector<Candidate> candidates;
    std::vector<PluginStatus> statuses(potential.size());
    if (!potential.empty()) {
      absl::Status s = FindCandidates(state, pod, potential, candidates, statuses);
      if (!s.ok() && candidates.empty()) {
        result.status = PluginStatus::Error(absl::StrCat("preemption: ", s.message()));
        return result;
      }
    }
    if (candidates.empty()) {
      std::vector<const PluginStatus*> evaluated;
      for (const PluginStatus& s : statuses) {
        if (!s.ok()) evaluated.push_back(&s);
      }
      ClearNomination(pod);
      result.status = PluginStatus::Unschedulable(absl::StrCat(
          "preemption: ", FitMessage(all.size(), evaluated, all.size() - evaluated.size())));
      return result;
    }

    const Candidate& best = SelectCandidate(candidates);
    if (PluginStatus s = Prepare(best, pod); !s.ok()) {
      result.status = std::move(s);
      return result;
    }
    result.nominated_node_name = best.node->name();
    return result;
  }

 private:
  // Why `pod` may not preempt, or nullopt when it may.
  std::optional<std::string> NotEligible(const PodInfo& pod, const NodeStatusMap& statuses) const {
    const api::PodSpec& spec = pod.pod().spec();
    if (spec.preemption_policy() == "Never") {
      return "not eligible due to preemptionPolicy=Never.";
    }
    const std::string& nominated = pod.pod().status().nominated_node_name();
    if (nominated.empty()) return std::nullopt;
    // Filters now find the nominated node hopeless: preempt elsewhere.
    if (auto it = statuses.find(nominated);
        it != statuses.end() && it->second.code() == Code::kUnschedulableAndUnresolvable) {
      return std::nullopt;
    }
    if (const NodeInfo* node = handle_.snapshot().Get(nominated)) {
      for (const PodPtr& p : node->pods()) {
        if (p->priority() < pod.priority() && Terminating(*p)) {
          return "not eligible due to a terminating pod on the nominated node.";
        }
      }
    }
    return std::nullopt;
  }

  int64_t NumCandidates(int64_t num_nodes) const {
    int64_t n = num_nodes * args_.min_candidate_nodes_percentage / 100;
    n = std::max(n, args_.min_candidate_nodes_absolute);
    return std::min(n, num_nodes);
  }

  // Dry-runs preemption on the potential nodes (in parallel), starting at an
  // offset derived from the pod's uid (spread over the cluster, yet
  // reproducible), until enough candidates are found. `statuses[i]` is the
  // failure of the i-th node evaluated (ok when it became a candidate or was
  // not evaluated).
  absl::Status FindCandidates(CycleState& state, const PodInfo& pod,
                              const std::vector<const NodeInfo*>& potential,
                              std::vector<Candidate>& candidates,
                              std::vector<PluginStatus>& statuses) {
    const size_t n = potential.size();
    const int64_t wanted = NumCandidates(static_cast<int64_t>(n));
    const size_t offset = absl::HashOf(pod.uid()) % n;
    std::vector<std::optional<Candidate>> found(n);
    std::atomic<int64_t> num_found{0};
    const MoreImportant order{handle_.clock().Now()};
    handle_.ParallelFor(static_cast<int>(n), [&](int i) {
      if (num_found.load(std::memory_order_relaxed) >= wanted) return;
      const NodeInfo* node = potential[(offset + static_cast<size_t>(i)) % n];
      std::unique_ptr<CycleState> state_copy = state.Clone();
      NodeInfo node_copy = *node;
      std::vector<PodPtr> victims;
      PluginStatus s = SelectVictimsOnNode(*state_copy, pod, node_copy, order, victims);
      if (s.ok() && !victims.empty()) {
        found[i] = Candidate{node, std::move(victims)};
        num_found.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      if (s.ok()) {
        s = PluginStatus::Error(
            absl::StrCat("expected at least one victim pod on node ", node->name()));
      }
      statuses[i] = std::move(s);
    });
    absl::Status error;
    for (size_t i = 0; i < n; ++i) {
      if (found[i].has_value() && static_cast<int64_t>(candidates.size()) < wanted) {
        candidates.push_back(*std::move(found[i]));
      }
      if (statuses[i].code() == Code::kError && error.ok()) {
        error = absl::InternalError(absl::StrJoin(statuses[i].reasons(), ", "));
      }
    }
    return error;
  }

  // kube-scheduler's SelectVictimsOnNode: `node` and `state` are copies this
  // call may change. On success `victims` holds the pods to evict, most
  // important first.
  PluginStatus SelectVictimsOnNode(CycleState& state, const PodInfo& pod, NodeInfo& node,
                                   const MoreImportant& order, std::vector<PodPtr>& victims) {
    auto remove = [&](const PodPtr& p) -> PluginStatus {
      if (absl::Status s = node.RemovePod(*p); !s.ok()) {
        return PluginStatus::Error(std::string(s.message()));
      }
      return handle_.RunPreFilterExtensionRemovePod(state, pod, *p, node);
    };
    auto add = [&](const PodPtr& p) -> PluginStatus {
      node.AddPod(p);
      return handle_.RunPreFilterExtensionAddPod(state, pod, *p, node);
    };

    std::vector<PodPtr> potential;
    for (const PodPtr& p : node.pods()) {
      if (p->priority() < pod.priority()) potential.push_back(p);
    }
    if (potential.empty()) return PluginStatus::Unresolvable(std::string(kNoVictims));
    for (const PodPtr& p : potential) {
      if (PluginStatus s = remove(p); !s.ok()) return s;
    }
    // If the pod does not fit even without every lower-priority pod, this
    // node cannot help (affinity to a victim is not considered, as in
    // Kubernetes).
    if (PluginStatus s = handle_.RunFilterPluginsWithNominatedPods(state, pod, node); !s.ok()) {
      return s;
    }
    // Reprieve from the most important down. Without PodDisruptionBudgets
    // every victim is non-violating.
    std::sort(potential.begin(), potential.end(), order);
    for (const PodPtr& p : potential) {
      if (PluginStatus s = add(p); !s.ok()) return s;
      if (handle_.RunFilterPluginsWithNominatedPods(state, pod, node).ok()) continue;
      if (PluginStatus s = remove(p); !s.ok()) return s;
      victims.push_back(p);
    }
    return PluginStatus();
  }

  // pickOneNodeForPreemption with the default criteria.
  const Candidate& SelectCandidate(const std::vector<Candidate>& candidates) const {
    if (candidates.size() == 1) return candidates[0];
    const MoreImportant order{handle_.clock().Now()};
    // Each criterion maps a candidate to a score; the highest wins, ties go
    // to the next criterion.
    const std::vector<std::function<int64_t(const Candidate&)>> criteria = {
        // Lowest priority of the most important victim.
        [](const Candidate& c) { return -static_cast<int64_t>(c.victims[0]->priority()); },
        // Smallest sum of priorities, shifted so that negative priorities
        // still add up.
        [](const Candidate& c) {
          int64_t sum = 0;
          for (const PodPtr& p : c.victims) {
            sum += int64_t{std::numeric_limits<int32_t>::max()} + p->priority() + 1;
          }
          return -sum;
        },
        // Fewest victims.
        [](const Candidate& c) { return -static_cast<int64_t>(c.victims.size()); },
        // Latest start among the most important victims: disturb the
        // pods that have run the shortest.
        [&order](const Candidate& c) {
          int32_t top = c.victims[0]->priority();
          absl::Time earliest = order.StartTime(*c.victims[0]);
          for (const PodPtr& p : c.victims) {
            if (p->priority() == top) earliest = std::min(earliest, order.StartTime(*p));
          }
          return absl::ToUnixNanos(earliest);
        },
    };
    std::vector<const Candidate*> remaining;
    for (const Candidate& c : candidates) remaining.push_back(&c);
    for (const auto& score : criteria) {
      int64_t best = std::numeric_limits<int64_t>::min();
      std::vector<const Candidate*> selected;
      for (const Candidate* c : remaining) {
        int64_t s = score(*c);
        if (s > best) {
          best = s;
          selected.clear();
        }
        if (s == best) selected.push_back(c);
      }
      if (selected.size() == 1) return *selected[0];
      remaining = std::move(selected);
    }
    return *remaining[0];
  }

  PluginStatus Prepare(const Candidate& c, const PodInfo& pod) {
    const std::string message =
        absl::StrCat(pod.scheduler_name(), ": preempting to accommodate a higher priority pod");
    for (const PodPtr& victim : c.victims) {
      if (WaitingPod* waiting = handle_.GetWaitingPod(victim->uid())) {
        waiting->Reject(Name(), "preempted");
        continue;
      }
      if (absl::Status s = handle_.actions().Evict(victim->pod(), message); !s.ok()) {
        return PluginStatus::Error(
            absl::StrCat("preemption: evicting ", victim->key(), ": ", s.message()));
      }
    }
    // Lower-priority pods nominated to this node may no longer fit there;
    // clearing their nomination sends them to look elsewhere.
    for (const PodPtr& p : handle_.NominatedPodsForNode(c.node->name())) {
      if (p->priority() < pod.priority() && p->uid() != pod.uid()) {
        (void)handle_.actions().SetNominatedNode(p->pod(), "");
      }
    }
    // The preemptor itself is nominated by the scheduler, from the
    // PostFilter result (one status write, as in Kubernetes).
    return PluginStatus();
  }

  void ClearNomination(const PodInfo& pod) {
    if (!pod.pod().status().nominated_node_name().empty()) {
      (void)handle_.actions().SetNominatedNode(pod.pod(), "");
    }
  }

  PreemptionArgs args_;
  Handle& handle_;
};

absl::StatusOr<PreemptionArgs> DecodeArgs(absl::string_view args_json) {
  ArgsDecoder d(kKind);
  KORCH_ASSIGN_OR_RETURN(nlohmann::json args, d.Parse(args_json));
  KORCH_RETURN_IF_ERROR(
      d.CheckKnown(args, d.Root(), {"minCandidateNodesPercentage", "minCandidateNodesAbsolute"}));
  PreemptionArgs out;
  api::FieldPath pct_path = d.Root().Child("minCandidateNodesPercentage");
  api::FieldPath abs_path = d.Root().Child("minCandidateNodesAbsolute");
  if (auto it = args.find("minCandidateNodesPercentage"); it != args.end() && !it->is_null()) {
    KORCH_RETURN_IF_ERROR(d.ExpectInteger(*it, pct_path));
    out.min_candidate_nodes_percentage = it->get<int64_t>();
  }
  if (auto it = args.find("minCandidateNodesAbsolute"); it != args.end() && !it->is_null()) {
    KORCH_RETURN_IF_ERROR(d.ExpectInteger(*it, abs_path));
    out.min_candidate_nodes_absolute = it->get<int64_t>();
  }
  api::FieldErrorList errors;
  if (out.min_candidate_nodes_percentage < 0 || out.min_candidate_nodes_percentage > 100) {
    errors.push_back(
        api::Invalid(pct_path, out.min_candidate_nodes_percentage, "not in valid range [0, 100]"));
  }
  if (out.min_candidate_nodes_absolute < 0) {
    errors.push_back(
        api::Invalid(abs_path, out.min_candidate_nodes_absolute, "not in valid range [0, inf)"));
  }
  if (out.min_candidate_nodes_percentage == 0 && out.min_candidate_nodes_absolute == 0) {
    errors.push_back(
        api::Invalid(pct_path, 0, "cannot be zero at the same time as minCandidateNodesAbsolute"));
    errors.push_back(api::Invalid(
        abs_path, 0, "cannot be zero at the same time as minCandidateNodesPercentage"));
  }
  if (!errors.empty()) return d.Errors(errors);
  return out;
}

}  // namespace

FactoryResult NewDefaultPreemption(absl::string_view args_json, Handle& handle) {
  KORCH_ASSIGN_OR_RETURN(PreemptionArgs args, DecodeArgs(args_json));
  return std::unique_ptr<Plugin>(std::make_unique<DefaultPreemption>(args, handle));
}

}  // namespace korch::scheduler::plugins
