// PodTopologySpread called directly: Filter by skew with selfMatch, missing
// labels, minDomains, node inclusion policies, namespaces, terminating pods,
// matchLabelKeys; the preemption extensions; scoring of ScheduleAnyway
// constraints and of the system default constraints for a Service's pods;
// arguments; and counts that stay right as pods land on nodes between cycles
// (the plugin caches per-node counts across cycles).
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/selector.h"
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
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kZone[] = "topology.kubernetes.io/zone";
constexpr char kHost[] = "kubernetes.io/hostname";
constexpr char kNotMatch[] = "node(s) didn't match pod topology spread constraints";
constexpr char kMissing[] =
    "node(s) didn't match pod topology spread constraints (missing required label)";

api::TopologySpreadConstraint& Spread(MakePod& p, int32_t max_skew, const std::string& key,
                                      const std::string& when, const std::string& label,
                                      const std::string& value) {
  api::TopologySpreadConstraint* c = p->mutable_spec()->add_topology_spread_constraints();
  c->set_max_skew(max_skew);
  c->set_topology_key(key);
  c->set_when_unsatisfiable(when);
  (*c->mutable_label_selector()->mutable_match_labels())[label] = value;
  return *c;
}

MakePod Web(const std::string& name, const std::string& node = "") {
  MakePod p("default", name);
  p.Label("app", "web");
  if (!node.empty()) p.Node(node);
  return p;
}

// n1, n2 in zone a; n3 in zone b; n4 without a zone.
ClusterBuilder Cluster() {
  ClusterBuilder c;
  c.Node(MakeNode("n1").Label(kZone, "a").Label("disk", "ssd"))
      .Node(MakeNode("n2").Label(kZone, "a").Label("disk", "ssd"))
      .Node(MakeNode("n3").Label(kZone, "b"))
      .Node(MakeNode("n4"));
  return c;
}

class PodTopologySpreadTest : public ::testing::Test {
 protected:
  std::unique_ptr<Plugin> New(const std::string& args = "") {
    auto p = plugins::NewPodTopologySpread(args, handle_);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? std::move(*p) : nullptr;
  }
  AffinityTestHandle handle_;
};

TEST_F(PodTopologySpreadTest, SkipsPodsWithoutHardConstraints) {
  handle_.SetSnapshot(Cluster().Build());
  auto plugin = New();
  CycleState state;
  PreFilterResult result;
  auto& pre = dynamic_cast<PreFilterPlugin&>(*plugin);
  EXPECT_TRUE(pre.PreFilter(state, *Web("p").Info(), result).IsSkip());
  MakePod soft = Web("q");
  Spread(soft, 1, kZone, "ScheduleAnyway", "app", "web");
  EXPECT_TRUE(pre.PreFilter(state, *soft.Info(), result).IsSkip());
  // Without constraints of its own or an owner, nothing to score either.
  EXPECT_THAT(Scores(*plugin, handle_, *Web("p").Info()), IsEmpty());
}

struct FilterCase {
  std::string name;
  std::vector<MakePod> existing;
  MakePod pod;
  std::vector<std::string> feasible;
  std::vector<std::pair<std::string, std::string>> reasons;
};

std::vector<FilterCase> FilterCases() {
  std::vector<FilterCase> cases;
  {
    FilterCase c{"ZoneSkew", {Web("w1", "n1"), Web("w2", "n2")}, Web("p"), {}, {}};
    Spread(c.pod, 1, kZone, "DoNotSchedule", "app", "web");
    // a: 2 + 1 - 0 > 1; b: 0 + 1 - 0 <= 1; n4 has no zone.
    c.feasible = {"n3"};
    c.reasons = {{"n1", kNotMatch}, {"n2", kNotMatch}, {"n4", kMissing}};
    cases.push_back(std::move(c));
  }
  {
    FilterCase c{"BalancedZones", {Web("w1", "n1"), Web("w2", "n3")}, Web("p"), {}, {}};
    Spread(c.pod, 1, kZone, "DoNotSchedule", "app", "web");
    c.feasible = {"n1", "n2", "n3"};
    c.reasons = {{"n4", kMissing}};
    cases.push_back(std::move(c));
  }
  {
    FilterCase c{"PodNotMatchingItsSelector",
                 {Web("w1", "n1"), Web("w2", "n1")},
                 MakePod("default", "p"),
                 {},
                 {}};
    Spread(c.pod, 2, kZone, "DoNotSchedule", "app", "web");
    c.feasible = {"n1", "n2", "n3"};
    c.reasons = {{"n4", kMissing}};
    cases.push_back(std::move(c));
  }
  {
    FilterCase c{
        "HostnameSkew", {Web("w1", "n1"), Web("w2", "n2"), Web("w3", "n3")}, Web("p"), {}, {}};
    Spread(c.pod, 1, kHost, "DoNotSchedule", "app", "web");
    c.feasible = {"n4"};
    c.reasons = {{"n1", kNotMatch}, {"n2", kNotMatch}, {"n3", kNotMatch}};
    cases.push_back(std::move(c));
  }
  {
    // Two zones exist but three are wanted: the global minimum is 0.
    FilterCase c{"MinDomains", {Web("w1", "n1"), Web("w2", "n3")}, Web("p"), {}, {}};
    Spread(c.pod, 1, kZone, "DoNotSchedule", "app", "web").set_min_domains(3);
    c.reasons = {{"n1", kNotMatch}, {"n2", kNotMatch}, {"n3", kNotMatch}, {"n4", kMissing}};
    cases.push_back(std::move(c));
  }
  {
    // Only zone a matches the pod's node selector: zone b is not a domain.
    FilterCase c{"NodeAffinityPolicyHonor", {Web("w1", "n1"), Web("w2", "n2")}, Web("p"), {}, {}};
    c.pod.NodeSelector("disk", "ssd");
    Spread(c.pod, 1, kZone, "DoNotSchedule", "app", "web");
    c.feasible = {"n1", "n2", "n3"};
    c.reasons = {{"n4", kMissing}};
    cases.push_back(std::move(c));
  }
  {
    FilterCase c{"NodeAffinityPolicyIgnore", {Web("w1", "n1"), Web("w2", "n2")}, Web("p"), {}, {}};
    c.pod.NodeSelector("disk", "ssd");
    Spread(c.pod, 1, kZone, "DoNotSchedule", "app", "web").set_node_affinity_policy("Ignore");
    c.feasible = {"n3"};
    c.reasons = {{"n1", kNotMatch}, {"n2", kNotMatch}, {"n4", kMissing}};
    cases.push_back(std::move(c));
  }
  {
    FilterCase c{"OtherNamespacesAndTerminatingPodsDoNotCount",
                 {MakePod("other", "w1").Label("app", "web").Node("n1"), Web("w2", "n2")},
                 Web("p"),
                 {},
                 {}};
    c.existing[1]->mutable_metadata()->mutable_deletion_timestamp();
    Spread(c.pod, 1, kZone, "DoNotSchedule", "app", "web");
    c.feasible = {"n1", "n2", "n3"};
    c.reasons = {{"n4", kMissing}};
    cases.push_back(std::move(c));
  }
  {
    // matchLabelKeys: only pods of the incoming pod's version count.
    FilterCase c{"MatchLabelKeys",
                 {Web("w1", "n1").Label("version", "v1"), Web("w2", "n2").Label("version", "v1")},
                 Web("p").Label("version", "v2"),
                 {},
                 {}};
    Spread(c.pod, 1, kZone, "DoNotSchedule", "app", "web").add_match_label_keys("version");
    c.feasible = {"n1", "n2", "n3"};
    c.reasons = {{"n4", kMissing}};
    cases.push_back(std::move(c));
  }
  {
    FilterCase c{"TwoConstraints", {Web("w1", "n1"), Web("w2", "n3")}, Web("p"), {}, {}};
    Spread(c.pod, 1, kZone, "DoNotSchedule", "app", "web");
    Spread(c.pod, 1, kHost, "DoNotSchedule", "app", "web");
    // n4 lacks a zone, so it is not a hostname domain either: hostname
    // minimum is 0 (n2), so n1 and n3 fail on hostname.
    c.feasible = {"n2"};
    c.reasons = {{"n1", kNotMatch}, {"n3", kNotMatch}, {"n4", kMissing}};
    cases.push_back(std::move(c));
  }
  return cases;
}

TEST_F(PodTopologySpreadTest, Filter) {
  for (const FilterCase& c : FilterCases()) {
    SCOPED_TRACE(c.name);
    ClusterBuilder cluster = Cluster();
    for (const MakePod& p : c.existing) cluster.Pod(p);
    handle_.SetSnapshot(cluster.Build());
    auto plugin = New();
    absl::flat_hash_map<std::string, std::string> reasons;
    absl::flat_hash_map<std::string, Code> codes;
    EXPECT_EQ(FeasibleNodes(*plugin, handle_, *c.pod.Info(), &reasons, &codes), c.feasible);
    EXPECT_EQ(reasons.size(), c.reasons.size());
    for (const auto& [node, reason] : c.reasons) {
      EXPECT_EQ(reasons[node], reason) << node;
      EXPECT_EQ(codes[node],
                reason == kMissing ? Code::kUnschedulableAndUnresolvable : Code::kUnschedulable)
          << node;
    }
  }
}

TEST_F(PodTopologySpreadTest, NodeTaintsPolicy) {
  ClusterBuilder cluster;
  cluster.Node(MakeNode("n1").Label(kZone, "a"))
      .Node(MakeNode("n2").Label(kZone, "b").Taint("dedicated", "gpu", "NoSchedule"))
      .Pod(Web("w1", "n1"));
  handle_.SetSnapshot(cluster.Build());
  auto plugin = New();
  MakePod ignore = Web("p");
  Spread(ignore, 1, kZone, "DoNotSchedule", "app", "web");
  EXPECT_THAT(FeasibleNodes(*plugin, handle_, *ignore.Info()), ElementsAre("n2"));
  MakePod honor = Web("p");
  Spread(honor, 1, kZone, "DoNotSchedule", "app", "web").set_node_taints_policy("Honor");
  EXPECT_THAT(FeasibleNodes(*plugin, handle_, *honor.Info()), ElementsAre("n1", "n2"));
  MakePod tolerates = Web("p");
  tolerates.Toleration("dedicated", "Equal", "gpu", "NoSchedule");
  Spread(tolerates, 1, kZone, "DoNotSchedule", "app", "web").set_node_taints_policy("Honor");
  EXPECT_THAT(FeasibleNodes(*plugin, handle_, *tolerates.Info()), ElementsAre("n2"));
}

TEST_F(PodTopologySpreadTest, PreemptionExtensionsUpdateCounts) {
  ClusterBuilder cluster = Cluster();
  cluster.Pod(Web("w1", "n1")).Pod(Web("w2", "n2"));
  handle_.SetSnapshot(cluster.Build());
  auto plugin = New();
  MakePod p = Web("p");
  Spread(p, 1, kZone, "DoNotSchedule", "app", "web");
  auto pod = p.Info();
  auto& pre = dynamic_cast<PreFilterPlugin&>(*plugin);
  auto& filter = dynamic_cast<FilterPlugin&>(*plugin);
  CycleState state;
  PreFilterResult result;
  ASSERT_TRUE(pre.PreFilter(state, *pod, result).ok());
  const Snapshot& snap = handle_.snapshot();
  EXPECT_FALSE(filter.Filter(state, *pod, *snap.Get("n1")).ok());

  std::unique_ptr<CycleState> copy = state.Clone();
  ASSERT_TRUE(
      pre.Extensions()->RemovePod(*copy, *pod, *Web("w1", "n1").Info(), *snap.Get("n1")).ok());
  EXPECT_FALSE(filter.Filter(*copy, *pod, *snap.Get("n1")).ok());  // a: 1 + 1 - 0
  ASSERT_TRUE(pre.Extensions()->AddPod(*copy, *pod, *Web("w3", "n3").Info(), *snap.Get("n3")).ok());
  EXPECT_TRUE(filter.Filter(*copy, *pod, *snap.Get("n1")).ok());  // a: 1 + 1 - 1
  EXPECT_TRUE(filter.Filter(*copy, *pod, *snap.Get("n3")).ok());  // b: 1 + 1 - 1
  // The original state is untouched.
  EXPECT_FALSE(filter.Filter(state, *pod, *snap.Get("n1")).ok());
  // A pod of another namespace changes nothing.
  ASSERT_TRUE(
      pre.Extensions()
          ->AddPod(*copy, *pod, *MakePod("other", "x").Label("app", "web").Info(), *snap.Get("n1"))
          .ok());
  EXPECT_TRUE(filter.Filter(*copy, *pod, *snap.Get("n1")).ok());
}

TEST_F(PodTopologySpreadTest, ZoneSpreadAcrossCyclesKeepsSkew) {
  // kube's TopologySpreading shape, small: nodes over 3 zones, unrelated
  // pods already placed, and pods that spread over zones with maxSkew 1.
  ClusterBuilder cluster;
  const char* zones[] = {"moon-1", "moon-2", "moon-3"};
  for (int i = 0; i < 30; ++i) {
    cluster.Node(MakeNode("n" + std::to_string(i)).Label(kZone, zones[i % 3]));
  }
  for (int i = 0; i < 30; ++i) {
    cluster.Pod(MakePod("default", "init-" + std::to_string(i)).Node("n" + std::to_string(i / 3)));
  }
  auto plugin = New();
  int per_zone[3] = {0, 0, 0};
  for (int i = 0; i < 60; ++i) {
    MakePod p("default", "spread-" + std::to_string(i));
    p.Label("color", "blue");
    Spread(p, 1, kZone, "DoNotSchedule", "color", "blue");
    handle_.SetSnapshot(cluster.Build());
    std::vector<std::string> feasible = FeasibleNodes(*plugin, handle_, *p.Info());
    ASSERT_FALSE(feasible.empty()) << i;
    // Always the node that sorts first: a worst case for skew.
    const std::string& chosen = feasible.front();
    const int node_index = std::stoi(chosen.substr(1));
    ++per_zone[node_index % 3];
    cluster.Pod(p.Node(chosen));
    const int hi = std::max({per_zone[0], per_zone[1], per_zone[2]});
    const int lo = std::min({per_zone[0], per_zone[1], per_zone[2]});
    ASSERT_LE(hi - lo, 1) << "after pod " << i;
  }
  EXPECT_EQ(per_zone[0], 20);
  EXPECT_EQ(per_zone[1], 20);
  EXPECT_EQ(per_zone[2], 20);
}

TEST_F(PodTopologySpreadTest, ScoresSoftConstraints) {
  ClusterBuilder cluster = Cluster();
  cluster.Pod(Web("w1", "n1")).Pod(Web("w2", "n1"));
  handle_.SetSnapshot(cluster.Build());
  auto plugin = New();
  MakePod p = Web("p");
  Spread(p, 1, kZone, "ScheduleAnyway", "app", "web");
  auto scores = Scores(*plugin, handle_, *p.Info());
  // Zone a holds both pods: b scores best; n4 lacks the zone and scores 0.
  EXPECT_EQ(scores["n1"], 0);
  EXPECT_EQ(scores["n2"], 0);
  EXPECT_EQ(scores["n3"], 100);
  EXPECT_EQ(scores["n4"], 0);
}

TEST_F(PodTopologySpreadTest, DefaultConstraintsSpreadAServicesPods) {
  ClusterBuilder cluster = Cluster();
  cluster.Pod(Web("w1", "n1")).Pod(Web("w2", "n1"));
  handle_.SetSnapshot(cluster.Build());
  handle_.AddOwner("app", "web", *api::Selector::Parse("app=web"));
  auto plugin = New();
  auto scores = Scores(*plugin, handle_, *Web("p").Info());
  // hostname (maxSkew 3, weight ln 6) and zone (maxSkew 5, weight ln 5, the
  // zoneless node counting as one more domain): raw n1 13, n2 9, n3 6, n4 2.
  EXPECT_EQ(scores["n1"], 15);
  EXPECT_EQ(scores["n2"], 46);
  EXPECT_EQ(scores["n3"], 69);
  EXPECT_EQ(scores["n4"], 100);
  // A pod nobody owns is not spread by default.
  EXPECT_THAT(Scores(*plugin, handle_, *MakePod("default", "lonely").Info()), IsEmpty());
}

TEST_F(PodTopologySpreadTest, ListDefaultConstraintsCanFilter) {
  ClusterBuilder cluster = Cluster();
  cluster.Pod(Web("w1", "n1"));
  handle_.SetSnapshot(cluster.Build());
  handle_.AddOwner("app", "web", *api::Selector::Parse("app=web"));
  auto plugin = New(R"({"defaultingType": "List", "defaultConstraints": [
      {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule"}]})");
  EXPECT_THAT(FeasibleNodes(*plugin, handle_, *Web("p").Info()), ElementsAre("n2", "n3", "n4"));
  EXPECT_THAT(FeasibleNodes(*plugin, handle_, *MakePod("default", "x").Info()),
              ElementsAre("n1", "n2", "n3", "n4"));
}

TEST_F(PodTopologySpreadTest, Args) {
  auto system_with_list = plugins::NewPodTopologySpread(
      R"({"defaultConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]})",
      handle_);
  EXPECT_THAT(system_with_list.status().message(), HasSubstr("must be empty"));
  auto bad_type = plugins::NewPodTopologySpread(R"({"defaultingType": "Sometimes"})", handle_);
  EXPECT_THAT(bad_type.status().message(), HasSubstr("defaultingType: Unsupported value"));
  auto selector = plugins::NewPodTopologySpread(
      R"({"defaultingType": "List", "defaultConstraints": [{"maxSkew": 1, "topologyKey": "zone",
          "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {}}]})",
      handle_);
  EXPECT_THAT(selector.status().message(), HasSubstr("defaultConstraints[0].labelSelector"));
  auto skew = plugins::NewPodTopologySpread(
      R"({"defaultingType": "List", "defaultConstraints": [{"maxSkew": 0, "topologyKey": "zone",
          "whenUnsatisfiable": "DoNotSchedule"}]})",
      handle_);
  EXPECT_THAT(skew.status().message(), HasSubstr("maxSkew"));
  auto unknown = plugins::NewPodTopologySpread(R"({"defaultConstraint": []})", handle_);
  EXPECT_THAT(unknown.status().message(), HasSubstr("defaultConstraint: unknown field"));
  EXPECT_TRUE(plugins::NewPodTopologySpread(R"({"defaultingType": "List"})", handle_).ok());
}

}  // namespace
}  // namespace korch::scheduler
