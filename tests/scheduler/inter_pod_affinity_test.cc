// InterPodAffinity called directly: Filter with required affinity and
// anti-affinity (the incoming pod's and the existing pods'), the
// first-pod-of-a-group case, namespaces and namespace selectors, the
// preemption extensions, scoring with preferred terms and the hard pod
// affinity weight, and arguments.
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/scheduler/framework.h"
#include "scheduler/plugins/plugins.h"
#include "tests/scheduler/affinity_test_handle.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace korch::scheduler {
namespace {

using ::korch::scheduler::testing::AffinityTestHandle;
using ::korch::scheduler::testing::ClusterBuilder;
using ::korch::scheduler::testing::FeasibleNodes;
using ::korch::scheduler::testing::MakeNode;
using ::korch::scheduler::testing::MakePod;
using ::korch::scheduler::testing::Scores;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr char kZone[] = "topology.kubernetes.io/zone";
constexpr char kHost[] = "kubernetes.io/hostname";
constexpr char kExisting[] = "node(s) didn't satisfy existing pods anti-affinity rules";
constexpr char kAffinity[] = "node(s) didn't match pod affinity rules";
constexpr char kAnti[] = "node(s) didn't match pod anti-affinity rules";

api::PodAffinityTerm Term(const std::string& key, const std::string& value,
                          const std::string& topology_key) {
  api::PodAffinityTerm t;
  (*t.mutable_label_selector()->mutable_match_labels())[key] = value;
  t.set_topology_key(topology_key);
  return t;
}

api::PodAffinityTerm InNamespaces(api::PodAffinityTerm t, std::vector<std::string> namespaces) {
  for (auto& ns : namespaces) t.add_namespaces(ns);
  return t;
}

api::PodAffinityTerm WithNamespaceSelector(api::PodAffinityTerm t, const std::string& key,
                                           const std::string& value) {
  (*t.mutable_namespace_selector()->mutable_match_labels())[key] = value;
  return t;
}

MakePod& RequireAffinity(MakePod& p, const api::PodAffinityTerm& t) {
  *p->mutable_spec()
       ->mutable_affinity()
       ->mutable_pod_affinity()
       ->add_required_during_scheduling_ignored_during_execution() = t;
  return p;
}
MakePod& RequireAnti(MakePod& p, const api::PodAffinityTerm& t) {
  *p->mutable_spec()
       ->mutable_affinity()
       ->mutable_pod_anti_affinity()
       ->add_required_during_scheduling_ignored_during_execution() = t;
  return p;
}
MakePod& PreferAffinity(MakePod& p, int32_t weight, const api::PodAffinityTerm& t) {
  auto* w = p->mutable_spec()
                ->mutable_affinity()
                ->mutable_pod_affinity()
                ->add_preferred_during_scheduling_ignored_during_execution();
  w->set_weight(weight);
  *w->mutable_pod_affinity_term() = t;
  return p;
}
MakePod& PreferAnti(MakePod& p, int32_t weight, const api::PodAffinityTerm& t) {
  auto* w = p->mutable_spec()
                ->mutable_affinity()
                ->mutable_pod_anti_affinity()
                ->add_preferred_during_scheduling_ignored_during_execution();
  w->set_weight(weight);
  *w->mutable_pod_affinity_term() = t;
  return p;
}

// Three nodes in two zones and one node without a zone.
ClusterBuilder ThreeNodesTwoZones() {
  ClusterBuilder c;
  c.Node(MakeNode("n1").Label(kZone, "a"))
      .Node(MakeNode("n2").Label(kZone, "a"))
      .Node(MakeNode("n3").Label(kZone, "b"))
      .Node(MakeNode("n4"));
  return c;
}

class InterPodAffinityTest : public ::testing::Test {
 protected:
  std::unique_ptr<Plugin> New(const std::string& args = "") {
    auto p = plugins::NewInterPodAffinity(args, handle_);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? std::move(*p) : nullptr;
  }
  AffinityTestHandle handle_;
};

TEST_F(InterPodAffinityTest, SkipsPodsWithoutTermsWhenNoPodHasAntiAffinity) {
  handle_.SetSnapshot(
      ThreeNodesTwoZones().Pod(MakePod("default", "db").Label("app", "db").Node("n1")).Build());
  auto plugin = New();
  CycleState state;
  PreFilterResult result;
  EXPECT_TRUE(dynamic_cast<PreFilterPlugin&>(*plugin)
                  .PreFilter(state, *MakePod("default", "p").Info(), result)
                  .IsSkip());
  EXPECT_THAT(Scores(*plugin, handle_, *MakePod("default", "p").Info()), IsEmpty());
}

struct FilterCase {
  std::string name;
  std::vector<MakePod> existing;
  MakePod pod;
  std::vector<std::string> feasible;
  // node -> first reason for the nodes that fail.
  std::vector<std::pair<std::string, std::string>> reasons;
};

std::vector<FilterCase> FilterCases() {
  std::vector<FilterCase> cases;
  {
    FilterCase c{"AffinityToZoneOfMatchingPod", {}, MakePod("default", "web"), {}, {}};
    c.existing.push_back(MakePod("default", "db").Label("app", "db").Node("n1"));
    RequireAffinity(c.pod, Term("app", "db", kZone));
    c.feasible = {"n1", "n2"};
    c.reasons = {{"n3", kAffinity}, {"n4", kAffinity}};
    cases.push_back(std::move(c));
  }
  {
    FilterCase c{"AffinityNothingMatchesAndNotSelf", {}, MakePod("default", "web"), {}, {}};
    c.existing.push_back(MakePod("default", "cache").Label("app", "cache").Node("n1"));
    RequireAffinity(c.pod, Term("app", "db", kZone));
    c.reasons = {{"n1", kAffinity}, {"n2", kAffinity}, {"n3", kAffinity}, {"n4", kAffinity}};
    cases.push_back(std::move(c));
  }
  {
    // The first pod of a group with affinity to itself goes anywhere the
    // topology key exists.
    FilterCase c{
        "FirstPodOfSelfAffineGroup", {}, MakePod("default", "web-0").Label("app", "web"), {}, {}};
    RequireAffinity(c.pod, Term("app", "web", kZone));
    c.feasible = {"n1", "n2", "n3"};
    c.reasons = {{"n4", kAffinity}};
    cases.push_back(std::move(c));
  }
  {
    FilterCase c{"SecondPodOfSelfAffineGroupFollowsFirst",
                 {},
                 MakePod("default", "web-1").Label("app", "web"),
                 {},
                 {}};
    c.existing.push_back(MakePod("default", "web-0").Label("app", "web").Node("n3"));
    RequireAffinity(c.pod, Term("app", "web", kZone));
    c.feasible = {"n3"};
    c.reasons = {{"n1", kAffinity}, {"n2", kAffinity}, {"n4", kAffinity}};
    cases.push_back(std::move(c));
  }
  {
    FilterCase c{"AffinityAllTermsMustMatchOnePod", {}, MakePod("default", "web"), {}, {}};
    c.existing.push_back(MakePod("default", "db").Label("app", "db").Node("n1"));
    c.existing.push_back(MakePod("default", "cache").Label("tier", "cache").Node("n3"));
    RequireAffinity(c.pod, Term("app", "db", kZone));
    RequireAffinity(c.pod, Term("tier", "cache", kZone));
    c.reasons = {{"n1", kAffinity}, {"n2", kAffinity}, {"n3", kAffinity}, {"n4", kAffinity}};
    cases.push_back(std::move(c));
  }
  {
    FilterCase c{
        "AntiAffinityOnHostname", {}, MakePod("default", "web-1").Label("app", "web"), {}, {}};
    c.existing.push_back(MakePod("default", "web-0").Label("app", "web").Node("n1"));
    RequireAnti(c.pod, Term("app", "web", kHost));
    c.feasible = {"n2", "n3", "n4"};
    c.reasons = {{"n1", kAnti}};
    cases.push_back(std::move(c));
  }
  {
    FilterCase c{"AntiAffinityOnZoneNodeWithoutZonePasses", {}, MakePod("default", "web"), {}, {}};
    c.existing.push_back(MakePod("default", "db").Label("app", "db").Node("n2"));
    RequireAnti(c.pod, Term("app", "db", kZone));
    c.feasible = {"n3", "n4"};
    c.reasons = {{"n1", kAnti}, {"n2", kAnti}};
    cases.push_back(std::move(c));
  }
  {
    FilterCase c{
        "ExistingPodsAntiAffinity", {}, MakePod("default", "web").Label("app", "web"), {}, {}};
    MakePod db("default", "db");
    db.Label("app", "db").Node("n1");
    RequireAnti(db, Term("app", "web", kZone));
    c.existing.push_back(db);
    c.feasible = {"n3", "n4"};
    c.reasons = {{"n1", kExisting}, {"n2", kExisting}};
    cases.push_back(std::move(c));
  }
  {
    FilterCase c{"ExistingAntiAffinityOtherNamespaceIgnored",
                 {},
                 MakePod("other", "web").Label("app", "web"),
                 {},
                 {}};
    MakePod db("default", "db");
    db.Label("app", "db").Node("n1");
    RequireAnti(db, Term("app", "web", kZone));
    c.existing.push_back(db);
    c.feasible = {"n1", "n2", "n3", "n4"};
    cases.push_back(std::move(c));
  }
  {
    FilterCase c{"TermNamespacesSelectPodsElsewhere", {}, MakePod("default", "web"), {}, {}};
    c.existing.push_back(MakePod("prod", "db").Label("app", "db").Node("n3"));
    c.existing.push_back(MakePod("default", "db").Label("app", "db").Node("n1"));
    RequireAffinity(c.pod, InNamespaces(Term("app", "db", kZone), {"prod"}));
    c.feasible = {"n3"};
    c.reasons = {{"n1", kAffinity}, {"n2", kAffinity}, {"n4", kAffinity}};
    cases.push_back(std::move(c));
  }
  {
    FilterCase c{"NamespaceSelector", {}, MakePod("default", "web"), {}, {}};
    c.existing.push_back(MakePod("team-a", "db").Label("app", "db").Node("n3"));
    c.existing.push_back(MakePod("team-b", "db").Label("app", "db").Node("n1"));
    RequireAnti(c.pod, WithNamespaceSelector(Term("app", "db", kZone), "team", "a"));
    c.feasible = {"n1", "n2", "n4"};
    c.reasons = {{"n3", kAnti}};
    cases.push_back(std::move(c));
  }
  {
    FilterCase c{"AffinityAndAntiAffinityTogether",
                 {},
                 MakePod("default", "web").Label("app", "web"),
                 {},
                 {}};
    c.existing.push_back(MakePod("default", "db").Label("app", "db").Node("n1"));
    c.existing.push_back(MakePod("default", "web-0").Label("app", "web").Node("n2"));
    RequireAffinity(c.pod, Term("app", "db", kZone));
    RequireAnti(c.pod, Term("app", "web", kHost));
    c.feasible = {"n1"};
    c.reasons = {{"n2", kAnti}, {"n3", kAffinity}, {"n4", kAffinity}};
    cases.push_back(std::move(c));
  }
  return cases;
}

TEST_F(InterPodAffinityTest, Filter) {
  for (const FilterCase& c : FilterCases()) {
    SCOPED_TRACE(c.name);
    ClusterBuilder cluster = ThreeNodesTwoZones();
    cluster.Namespace("team-a", {{"team", "a"}}).Namespace("team-b", {{"team", "b"}});
    for (const MakePod& p : c.existing) cluster.Pod(p);
    handle_.SetSnapshot(cluster.Build());
    auto plugin = New();
    absl::flat_hash_map<std::string, std::string> reasons;
    absl::flat_hash_map<std::string, Code> codes;
    EXPECT_EQ(FeasibleNodes(*plugin, handle_, *c.pod.Info(), &reasons, &codes), c.feasible);
    EXPECT_EQ(reasons.size(), c.reasons.size());
    for (const auto& [node, reason] : c.reasons) {
      EXPECT_EQ(reasons[node], reason) << node;
      // Affinity cannot be fixed by preemption; anti-affinity can.
      EXPECT_EQ(codes[node],
                reason == kAffinity ? Code::kUnschedulableAndUnresolvable : Code::kUnschedulable)
          << node;
    }
  }
}

TEST_F(InterPodAffinityTest, PreemptionExtensionsUpdateCounts) {
  ClusterBuilder cluster = ThreeNodesTwoZones();
  MakePod blocker("default", "blocker");
  blocker.Label("app", "db").Node("n1");
  RequireAnti(blocker, Term("app", "web", kZone));
  cluster.Pod(blocker).Pod(MakePod("default", "web-0").Label("app", "web").Node("n3"));
  handle_.SetSnapshot(cluster.Build());
  auto plugin = New();
  MakePod web("default", "web");
  web.Label("app", "web");
  RequireAnti(web, Term("app", "web", kHost));
  auto pod = web.Info();

  CycleState state;
  PreFilterResult result;
  auto& pre = dynamic_cast<PreFilterPlugin&>(*plugin);
  auto& filter = dynamic_cast<FilterPlugin&>(*plugin);
  ASSERT_TRUE(pre.PreFilter(state, *pod, result).ok());
  const Snapshot& snap = handle_.snapshot();
  EXPECT_EQ(filter.Filter(state, *pod, *snap.Get("n1")).reasons()[0], kExisting);
  EXPECT_EQ(filter.Filter(state, *pod, *snap.Get("n3")).reasons()[0], kAnti);
  ASSERT_NE(pre.Extensions(), nullptr);

  // Removing the victims makes both nodes fit; a clone keeps its own counts.
  std::unique_ptr<CycleState> copy = state.Clone();
  EXPECT_TRUE(pre.Extensions()->RemovePod(*copy, *pod, *blocker.Info(), *snap.Get("n1")).ok());
  EXPECT_TRUE(filter.Filter(*copy, *pod, *snap.Get("n1")).ok());
  EXPECT_TRUE(filter.Filter(*copy, *pod, *snap.Get("n2")).ok());
  EXPECT_FALSE(filter.Filter(state, *pod, *snap.Get("n1")).ok());
  EXPECT_TRUE(pre.Extensions()
                  ->RemovePod(*copy, *pod, *MakePod("default", "web-0").Label("app", "web").Info(),
                              *snap.Get("n3"))
                  .ok());
  EXPECT_TRUE(filter.Filter(*copy, *pod, *snap.Get("n3")).ok());

  // Adding a nominated web pod on n2 blocks n2 for the incoming pod.
  EXPECT_TRUE(pre.Extensions()
                  ->AddPod(*copy, *pod, *MakePod("default", "web-9").Label("app", "web").Info(),
                           *snap.Get("n2"))
                  .ok());
  EXPECT_EQ(filter.Filter(*copy, *pod, *snap.Get("n2")).reasons()[0], kAnti);
}

TEST_F(InterPodAffinityTest, AntiAffinityReplicasSpreadOnePerNode) {
  // kube's SchedulingPodAntiAffinity shape, small: every pod is green and
  // avoids green pods on its host.
  ClusterBuilder cluster;
  for (int i = 0; i < 20; ++i) cluster.Node(MakeNode("n" + std::to_string(i)));
  auto plugin = New();
  for (int i = 0; i < 21; ++i) {
    MakePod p("sched-1", "anti-" + std::to_string(i));
    p.Label("color", "green");
    RequireAnti(p, InNamespaces(Term("color", "green", kHost), {"sched-0", "sched-1"}));
    handle_.SetSnapshot(cluster.Build());
    std::vector<std::string> feasible = FeasibleNodes(*plugin, handle_, *p.Info());
    if (i == 20) {
      EXPECT_THAT(feasible, IsEmpty());
      break;
    }
    ASSERT_EQ(feasible.size(), 20u - i);
    cluster.Pod(p.Node(feasible.front()));
  }
  for (const auto& n : cluster.nodes()) EXPECT_EQ(n->pods().size(), 1u) << n->name();
}

TEST_F(InterPodAffinityTest, ScoresPreferredTerms) {
  ClusterBuilder cluster = ThreeNodesTwoZones();
  cluster.Pod(MakePod("default", "db").Label("app", "db").Node("n1"));
  cluster.Pod(MakePod("default", "cache").Label("app", "cache").Node("n3"));
  handle_.SetSnapshot(cluster.Build());
  auto plugin = New();

  MakePod likes_db("default", "p1");
  PreferAffinity(likes_db, 10, Term("app", "db", kZone));
  auto scores = Scores(*plugin, handle_, *likes_db.Info());
  EXPECT_EQ(scores["n1"], 100);
  EXPECT_EQ(scores["n2"], 100);
  EXPECT_EQ(scores["n3"], 0);
  EXPECT_EQ(scores["n4"], 0);

  MakePod mixed("default", "p2");
  PreferAffinity(mixed, 10, Term("app", "db", kZone));
  PreferAnti(mixed, 5, Term("app", "cache", kHost));
  scores = Scores(*plugin, handle_, *mixed.Info());
  // zone a: +10, n3: -5, n4: 0 -> normalized from [-5, 10].
  EXPECT_EQ(scores["n1"], 100);
  EXPECT_EQ(scores["n2"], 100);
  EXPECT_EQ(scores["n3"], 0);
  EXPECT_EQ(scores["n4"], 33);
}

TEST_F(InterPodAffinityTest, ScoresExistingPodsTerms) {
  ClusterBuilder cluster = ThreeNodesTwoZones();
  MakePod wants_web("default", "a");
  wants_web.Label("app", "a").Node("n3");
  RequireAffinity(wants_web, Term("app", "web", kZone));
  MakePod avoids_web("default", "b");
  avoids_web.Label("app", "b").Node("n1");
  PreferAnti(avoids_web, 7, Term("app", "web", kHost));
  cluster.Pod(wants_web).Pod(avoids_web);
  handle_.SetSnapshot(cluster.Build());

  auto web = MakePod("default", "web").Label("app", "web").Info();
  auto plugin = New();
  auto scores = Scores(*plugin, handle_, *web);
  // n3: +1 (hard weight), n1: -7 -> normalized over [-7, 1].
  EXPECT_EQ(scores["n3"], 100);
  EXPECT_EQ(scores["n1"], 0);
  EXPECT_EQ(scores["n2"], 87);

  auto heavy = New(R"({"hardPodAffinityWeight": 100})");
  scores = Scores(*heavy, handle_, *web);
  EXPECT_EQ(scores["n3"], 100);
  EXPECT_EQ(scores["n2"], 6);  // 100 * 7 / 107

  auto ignoring = New(R"({"ignorePreferredTermsOfExistingPods": true})");
  EXPECT_THAT(Scores(*ignoring, handle_, *web), IsEmpty());

  // A pod no term mentions: nothing to score.
  EXPECT_THAT(Scores(*plugin, handle_, *MakePod("default", "x").Info()), IsEmpty());
}

TEST_F(InterPodAffinityTest, Args) {
  EXPECT_TRUE(plugins::NewInterPodAffinity(
                  R"({"kind": "InterPodAffinityArgs", "hardPodAffinityWeight": 0})", handle_)
                  .ok());
  auto bad = plugins::NewInterPodAffinity(R"({"hardPodAffinityWeight": 101})", handle_);
  EXPECT_THAT(bad.status().message(), ::testing::HasSubstr("not in valid range [0-100]"));
  auto unknown = plugins::NewInterPodAffinity(R"({"hardPodAfinityWeight": 1})", handle_);
  EXPECT_THAT(unknown.status().message(),
              ::testing::HasSubstr("hardPodAfinityWeight: unknown field"));
  EXPECT_FALSE(plugins::NewInterPodAffinity("[1]", handle_).ok());
}

}  // namespace
}  // namespace korch::scheduler
