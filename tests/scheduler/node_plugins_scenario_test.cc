// Scenarios through the real Scheduler with the default profile: the node
// plugins and DefaultPreemption as a user embedding the scheduler sees them.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/codec.h"
#include "korch/scheduler/config.h"
#include "korch/scheduler/registry.h"
#include "korch/scheduler/scheduler.h"
#include "scheduler/plugins/plugins.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace korch::scheduler {
namespace {

using testing::MakeNode;
using testing::MakePod;

// Every in-tree plugin, whether or not NewInTreeRegistry() has them yet.
Registry FullRegistry() {
  Registry r = NewInTreeRegistry();
  const std::pair<absl::string_view, PluginFactory> all[] = {
      {names::kPrioritySort, plugins::NewPrioritySort},
      {names::kSchedulingGates, plugins::NewSchedulingGates},
      {names::kDefaultBinder, plugins::NewDefaultBinder},
      {names::kNodeName, plugins::NewNodeName},
      {names::kNodeUnschedulable, plugins::NewNodeUnschedulable},
      {names::kNodeResourcesFit, plugins::NewNodeResourcesFit},
      {names::kNodeResourcesBalancedAllocation, plugins::NewNodeResourcesBalancedAllocation},
      {names::kNodeAffinity, plugins::NewNodeAffinity},
      {names::kTaintToleration, plugins::NewTaintToleration},
      {names::kNodePorts, plugins::NewNodePorts},
      {names::kImageLocality, plugins::NewImageLocality},
      {names::kInterPodAffinity, plugins::NewInterPodAffinity},
      {names::kPodTopologySpread, plugins::NewPodTopologySpread},
      {names::kDefaultPreemption, plugins::NewDefaultPreemption},
  };
  for (const auto& [name, factory] : all) {
    if (r.Find(name) == nullptr) r.Register(name, factory).IgnoreError();
  }
  return r;
}

class NodePluginsScenarioTest : public ::testing::Test {
 protected:
  NodePluginsScenarioTest() : registry_(FullRegistry()) {}

  std::unique_ptr<Scheduler> Make(Profile profile = Profile()) {
    SchedulerOptions o;
    o.config.parallelism = 1;
    o.config.percentage_of_nodes_to_score = 100;
    o.config.profiles = {std::move(profile)};
    o.registry = &registry_;
    o.clock = &clock_;
    o.seed = 7;
    auto s = Scheduler::Create(std::move(o));
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }

  Registry registry_;
  FakeClock clock_;
};

TEST_F(NodePluginsScenarioTest, FitErrorCombinesFilterAndPreemptionReasons) {
  auto s = Make();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->AddNode(MakeNode("small").Cpu("1").Label("zone", "a")).ok());
  ASSERT_TRUE(
      s->AddNode(
           MakeNode("gpu").Cpu("8").Label("zone", "a").Taint("dedicated", "gpu", "NoSchedule"))
          .ok());
  ASSERT_TRUE(s->AddNode(MakeNode("elsewhere").Cpu("8").Label("zone", "b")).ok());
  auto r = s->Schedule(MakePod("ns", "p").Req("2").NodeSelector("zone", "a"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->fit_error.has_value());
  EXPECT_EQ(r->fit_error->Message(),
            "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node "
            "affinity/selector, 1 node(s) had untolerated taint {dedicated: gpu}. preemption: 0/3 "
            "nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption "
            "is not helpful for scheduling..");

  // Tolerating the taint makes the gpu node fit.
  auto tolerant = s->Schedule(MakePod("ns", "q")
                                  .Req("2")
                                  .NodeSelector("zone", "a")
                                  .Toleration("dedicated", "Equal", "gpu", "NoSchedule"));
  ASSERT_TRUE(tolerant.ok()) << tolerant.status();
  EXPECT_EQ(tolerant->node_name, "gpu");
}

TEST_F(NodePluginsScenarioTest, HigherPriorityPodPreemptsAndLandsOnTheNominatedNode) {
  auto s = Make();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->AddNode(MakeNode("a").Cpu("2")).ok());
  ASSERT_TRUE(s->AddNode(MakeNode("b").Cpu("2")).ok());
  ASSERT_TRUE(s->AddPod(MakePod("ns", "batch").Req("2").Priority(1).Node("a")).ok());
  ASSERT_TRUE(s->AddPod(MakePod("ns", "service").Req("2").Priority(50).Node("b")).ok());

  MakePod urgent = MakePod("ns", "urgent").Req("1500m").Priority(100);
  ASSERT_TRUE(s->AddPod(urgent).ok());
  s->RunUntilIdle(10);
  // The preemptor waits out its backoff, then lands.
  clock_.Advance(absl::Seconds(11));
  s->RunUntilIdle(10);
  // The batch pod was evicted (removed from the scheduler's cache) and the
  // urgent pod took its place; the service pod stays.
  EXPECT_EQ(s->NodeOf(urgent), "a");
  EXPECT_EQ(s->NodeOf(MakePod("ns", "batch")), "");
  EXPECT_EQ(s->NodeOf(MakePod("ns", "service")), "b");

  // Nothing of lower priority is left to evict.
  auto r = s->Schedule(MakePod("ns", "another").Req("1").Priority(50));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->fit_error.has_value());
  EXPECT_EQ(r->fit_error->Message(),
            "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 "
            "No preemption victims found for incoming pod..");
}

TEST_F(NodePluginsScenarioTest, PreemptionPolicyNeverWaits) {
  auto s = Make();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->AddNode(MakeNode("a").Cpu("1")).ok());
  ASSERT_TRUE(s->AddPod(MakePod("ns", "low").Req("1").Priority(1).Node("a")).ok());
  MakePod polite = MakePod("ns", "polite").Req("1").Priority(100);
  polite->mutable_spec()->set_preemption_policy("Never");
  auto r = s->Schedule(polite);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->fit_error.has_value());
  EXPECT_EQ(r->fit_error->Message(),
            "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to "
            "preemptionPolicy=Never..");
  EXPECT_EQ(s->NodeOf(MakePod("ns", "low")), "a");
}

TEST_F(NodePluginsScenarioTest, LeastAllocatedSpreadsAndMostAllocatedPacks) {
  for (const char* strategy : {"LeastAllocated", "MostAllocated"}) {
    SCOPED_TRACE(strategy);
    Profile profile;
    PluginConfig fit;
    fit.name = "NodeResourcesFit";
    fit.args_json = absl::StrCat(R"({"scoringStrategy":{"type":")", strategy, R"("}})");
    profile.plugin_config.push_back(fit);
    auto s = Make(profile);
    ASSERT_NE(s, nullptr);
    for (const char* n : {"n1", "n2", "n3"}) {
      ASSERT_TRUE(s->AddNode(MakeNode(n).Cpu("4").Memory("8Gi")).ok());
    }
    std::set<std::string> used;
    for (int i = 0; i < 3; ++i) {
      auto r = s->Schedule(MakePod("ns", "p" + std::to_string(i)).Req("1", "2Gi"));
      ASSERT_TRUE(r.ok()) << r.status();
      used.insert(r->node_name);
    }
    EXPECT_EQ(used.size(), std::string(strategy) == "LeastAllocated" ? 3u : 1u);
  }
}

TEST_F(NodePluginsScenarioTest, PreferredAffinityAndPortsSteerPlacement) {
  auto s = Make();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->AddNode(MakeNode("plain").Cpu("4").Memory("8Gi")).ok());
  ASSERT_TRUE(s->AddNode(MakeNode("ssd").Cpu("4").Memory("8Gi").Label("disk", "ssd")).ok());
  auto affinity = api::DecodeJsonAs<api::NodeAffinity>(
      R"({"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":50,
          "preference":{"matchExpressions":[{"key":"disk","operator":"In","values":["ssd"]}]}}]})");
  ASSERT_TRUE(affinity.ok()) << affinity.status();
  MakePod web = MakePod("ns", "web").Req("100m", "128Mi").HostPort(8080);
  *web->mutable_spec()->mutable_affinity()->mutable_node_affinity() = *affinity;
  auto first = s->Schedule(web);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->node_name, "ssd");
  // The port is taken on ssd now: the second replica goes to plain.
  MakePod web2 = web;
  web2->mutable_metadata()->set_name("web2");
  web2->mutable_metadata()->set_uid("ns/web2");
  auto second = s->Schedule(web2);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->node_name, "plain");
}

}  // namespace
}  // namespace korch::scheduler
