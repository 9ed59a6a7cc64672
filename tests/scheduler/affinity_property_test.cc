// Property test: on random clusters, the Filter verdicts of InterPodAffinity
// and PodTopologySpread equal those of a plain reference evaluator written
// here (every pod checked against every node, no caching), over many
// cycles of one plugin instance while pods land on nodes in place, so that
// the plugins' caches across cycles are exercised too.
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "korch/scheduler/framework.h"
#include "scheduler/plugins/plugins.h"
#include "tests/scheduler/affinity_test_handle.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace korch::scheduler {
namespace {

using ::korch::scheduler::testing::AffinityTestHandle;
using ::korch::scheduler::testing::MakeNode;
using ::korch::scheduler::testing::MakePod;

constexpr char kZone[] = "topology.kubernetes.io/zone";
constexpr char kHost[] = "kubernetes.io/hostname";
constexpr char kOk[] = "";

using LabelMap = google::protobuf::Map<std::string, std::string>;

const std::string* Label(const LabelMap& labels, const std::string& key) {
  auto it = labels.find(key);
  return it == labels.end() ? nullptr : &it->second;
}

// ---- Reference evaluator ---------------------------------------------------

bool RefTermMatches(const api::PodAffinityTerm& t, const api::Pod& owner, const api::Pod& pod) {
  bool ns_ok =
      t.namespaces().empty() ? pod.metadata().namespace_() == owner.metadata().namespace_() : false;
  for (const std::string& ns : t.namespaces()) ns_ok |= ns == pod.metadata().namespace_();
  if (!ns_ok) return false;
  for (const auto& [k, v] : t.label_selector().match_labels()) {
    const std::string* l = Label(pod.metadata().labels(), k);
    if (l == nullptr || *l != v) return false;
  }
  return true;
}

std::string RefInterPodAffinity(const std::vector<std::shared_ptr<NodeInfo>>& nodes,
                                const api::Pod& pod, const NodeInfo& node) {
  const LabelMap& labels = node.labels();
  const auto& aff =
      pod.spec().affinity().pod_affinity().required_during_scheduling_ignored_during_execution();
  const auto& anti = pod.spec()
                         .affinity()
                         .pod_anti_affinity()
                         .required_during_scheduling_ignored_during_execution();
  // Affinity.
  auto matches_all = [&](const api::Pod& p) {
    if (aff.empty()) return false;
    for (const auto& t : aff) {
      if (!RefTermMatches(t, pod, p)) return false;
    }
    return true;
  };
  bool any_anywhere = false;  // some pod matching all terms on a node with a term's key
  for (const auto& m : nodes) {
    for (const auto& p : m->pods()) {
      if (!matches_all(p->pod())) continue;
      for (const auto& t : aff) any_anywhere |= Label(m->labels(), t.topology_key()) != nullptr;
    }
  }
  bool pods_exist = true;
  for (const auto& t : aff) {
    const std::string* v = Label(labels, t.topology_key());
    if (v == nullptr) return "node(s) didn't match pod affinity rules";
    bool found = false;
    for (const auto& m : nodes) {
      const std::string* mv = Label(m->labels(), t.topology_key());
      if (mv == nullptr || *mv != *v) continue;
      for (const auto& p : m->pods()) found |= matches_all(p->pod());
    }
    if (!found) pods_exist = false;
  }
  if (!pods_exist && !(!any_anywhere && matches_all(pod))) {
    return "node(s) didn't match pod affinity rules";
  }
  // The pod's anti-affinity.
  for (const auto& t : anti) {
    const std::string* v = Label(labels, t.topology_key());
    if (v == nullptr) continue;
    for (const auto& m : nodes) {
      const std::string* mv = Label(m->labels(), t.topology_key());
      if (mv == nullptr || *mv != *v) continue;
      for (const auto& p : m->pods()) {
        if (RefTermMatches(t, pod, p->pod())) return "node(s) didn't match pod anti-affinity rules";
      }
    }
  }
  // Existing pods' anti-affinity.
  for (const auto& m : nodes) {
    for (const auto& p : m->pods()) {
      for (const auto& t : p->pod()
                               .spec()
                               .affinity()
                               .pod_anti_affinity()
                               .required_during_scheduling_ignored_during_execution()) {
        const std::string* v = Label(labels, t.topology_key());
        const std::string* mv = Label(m->labels(), t.topology_key());
        if (v != nullptr && mv != nullptr && *v == *mv && RefTermMatches(t, p->pod(), pod)) {
          return "node(s) didn't satisfy existing pods anti-affinity rules";
        }
      }
    }
  }
  return kOk;
}

bool RefSelectorMatches(const api::TopologySpreadConstraint& c, const api::Pod& p) {
  for (const auto& [k, v] : c.label_selector().match_labels()) {
    const std::string* l = Label(p.metadata().labels(), k);
    if (l == nullptr || *l != v) return false;
  }
  return true;
}

std::string RefSpread(const std::vector<std::shared_ptr<NodeInfo>>& nodes, const api::Pod& pod,
                      const NodeInfo& node) {
  std::vector<const api::TopologySpreadConstraint*> hard;
  for (const auto& c : pod.spec().topology_spread_constraints()) {
    if (c.when_unsatisfiable() == "DoNotSchedule") hard.push_back(&c);
  }
  for (const auto* c : hard) {
    const std::string* v = Label(node.labels(), c->topology_key());
    if (v == nullptr) {
      return "node(s) didn't match pod topology spread constraints (missing required label)";
    }
    std::map<std::string, int64_t> counts;
    for (const auto& m : nodes) {
      bool all_keys = true;
      for (const auto* k : hard) all_keys &= Label(m->labels(), k->topology_key()) != nullptr;
      if (!all_keys) continue;
      if (c->node_affinity_policy() != "Ignore") {
        bool ok = true;
        for (const auto& [k, val] : pod.spec().node_selector()) {
          const std::string* l = Label(m->labels(), k);
          ok &= l != nullptr && *l == val;
        }
        if (!ok) continue;
      }
      int64_t& n = counts[*Label(m->labels(), c->topology_key())];
      for (const auto& p : m->pods()) {
        if (p->pod().metadata().namespace_() == pod.metadata().namespace_() &&
            RefSelectorMatches(*c, p->pod())) {
          ++n;
        }
      }
    }
    int64_t min = 0;
    const int32_t min_domains = c->has_min_domains() ? c->min_domains() : 1;
    if (static_cast<int32_t>(counts.size()) >= min_domains) {
      min = INT64_MAX;
      for (const auto& [d, n] : counts) min = std::min(min, n);
    }
    const int64_t self = RefSelectorMatches(*c, pod) ? 1 : 0;
    const int64_t here = counts.contains(*v) ? counts[*v] : 0;
    if (here + self - min > c->max_skew()) {
      return "node(s) didn't match pod topology spread constraints";
    }
  }
  return kOk;
}

// ---- Random clusters -------------------------------------------------------

class Random {
 public:
  explicit Random(uint32_t seed) : rng_(seed) {}
  int Int(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool OneIn(int n) { return Int(n) == 0; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Int(static_cast<int>(v.size()))];
  }

 private:
  std::mt19937 rng_;
};

api::PodAffinityTerm RandomTerm(Random& r) {
  api::PodAffinityTerm t;
  (*t.mutable_label_selector()->mutable_match_labels())["app"] =
      r.Pick(std::vector<std::string>{"x", "y", "z"});
  t.set_topology_key(r.OneIn(2) ? kZone : kHost);
  if (r.OneIn(4)) {
    t.add_namespaces("default");
    t.add_namespaces("other");
  }
  return t;
}

MakePod RandomPod(Random& r, const std::string& name, bool incoming) {
  MakePod p(r.OneIn(4) ? "other" : "default", name);
  p.Label("app", r.Pick(std::vector<std::string>{"x", "y", "z"}));
  auto* aff = p->mutable_spec()->mutable_affinity();
  if (r.OneIn(incoming ? 3 : 6)) {
    *aff->mutable_pod_anti_affinity()->add_required_during_scheduling_ignored_during_execution() =
        RandomTerm(r);
  }
  if (incoming && r.OneIn(3)) {
    *aff->mutable_pod_affinity()->add_required_during_scheduling_ignored_during_execution() =
        RandomTerm(r);
    if (r.OneIn(3)) {
      *aff->mutable_pod_affinity()->add_required_during_scheduling_ignored_during_execution() =
          RandomTerm(r);
    }
  }
  if (incoming) {
    const int n = r.Int(3);
    for (int i = 0; i < n; ++i) {
      auto* c = p->mutable_spec()->add_topology_spread_constraints();
      c->set_max_skew(1 + r.Int(2));
      c->set_topology_key(i == 0 ? kZone : kHost);
      c->set_when_unsatisfiable(r.OneIn(4) ? "ScheduleAnyway" : "DoNotSchedule");
      (*c->mutable_label_selector()->mutable_match_labels())["app"] =
          r.Pick(std::vector<std::string>{"x", "y"});
      if (r.OneIn(3)) c->set_min_domains(2 + r.Int(3));
      if (r.OneIn(3)) c->set_node_affinity_policy("Ignore");
    }
    if (r.OneIn(4)) p.NodeSelector("disk", "ssd");
  }
  return p;
}

TEST(AffinityPropertyTest, FiltersMatchReferenceOnRandomClusters) {
  // How often each verdict was seen: the random clusters must reach every
  // reason, or the comparison proves little.
  std::map<std::string, int> seen;
  for (uint32_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    Random r(seed);
    AffinityTestHandle handle;
    std::vector<std::shared_ptr<NodeInfo>> nodes;
    const int num_nodes = 3 + r.Int(10);
    for (int i = 0; i < num_nodes; ++i) {
      MakeNode n("n" + std::to_string(i));
      if (!r.OneIn(5)) n.Label(kZone, r.Pick(std::vector<std::string>{"a", "b", "c"}));
      if (r.OneIn(2)) n.Label("disk", "ssd");
      nodes.push_back(n.Info());
    }
    auto publish = [&] {
      handle.SetSnapshot(std::make_shared<Snapshot>(
          std::vector<std::shared_ptr<const NodeInfo>>(nodes.begin(), nodes.end())));
    };
    for (int i = 0; i < r.Int(15); ++i) {
      auto& node = nodes[r.Int(num_nodes)];
      node->AddPod(RandomPod(r, "init-" + std::to_string(i), false).Node(node->name()).Info());
    }
    auto affinity = *plugins::NewInterPodAffinity("", handle);
    auto spread = *plugins::NewPodTopologySpread("", handle);
    for (int cycle = 0; cycle < 25; ++cycle) {
      SCOPED_TRACE(::testing::Message() << "cycle " << cycle);
      publish();
      MakePod incoming = RandomPod(r, "p-" + std::to_string(cycle), true);
      auto pod = incoming.Info();
      ASSERT_NE(pod, nullptr);
      std::vector<int> feasible;
      for (Plugin* plugin : {affinity.get(), spread.get()}) {
        absl::flat_hash_map<std::string, std::string> reasons;
        testing::FeasibleNodes(*plugin, handle, *pod, &reasons);
        for (int i = 0; i < num_nodes; ++i) {
          const NodeInfo& n = *nodes[i];
          const std::string want = plugin == affinity.get()
                                       ? RefInterPodAffinity(nodes, incoming.Obj(), n)
                                       : RefSpread(nodes, incoming.Obj(), n);
          const std::string got = reasons.contains(n.name()) ? reasons[n.name()] : kOk;
          ASSERT_EQ(got, want) << plugin->Name() << " on " << n.name();
          ++seen[want];
          if (plugin == spread.get() && want.empty() &&
              RefInterPodAffinity(nodes, incoming.Obj(), n).empty()) {
            feasible.push_back(i);
          }
        }
      }
      // Place the pod where both allow (in place: the next cycle's counts
      // come from the plugins' caches plus the changed node), or anywhere
      // now and then to create skew.
      if (!feasible.empty() || r.OneIn(3)) {
        const int i = feasible.empty() ? r.Int(num_nodes) : feasible[r.Int(feasible.size())];
        nodes[i]->AddPod(incoming.Node(nodes[i]->name()).Info());
      }
      // Sometimes a pod goes away.
      if (r.OneIn(4)) {
        auto& node = nodes[r.Int(num_nodes)];
        if (!node->pods().empty()) {
          std::shared_ptr<const PodInfo> victim = node->pods()[r.Int(node->pods().size())];
          ASSERT_TRUE(node->RemovePod(*victim).ok());
        }
      }
    }
  }
  for (const char* reason : {kOk, "node(s) didn't match pod affinity rules",
                             "node(s) didn't match pod anti-affinity rules",
                             "node(s) didn't satisfy existing pods anti-affinity rules",
                             "node(s) didn't match pod topology spread constraints",
                             "node(s) didn't match pod topology spread constraints (missing "
                             "required label)"}) {
    EXPECT_GT(seen[reason], 10) << "\"" << reason << "\"";
  }
}

}  // namespace
}  // namespace korch::scheduler
