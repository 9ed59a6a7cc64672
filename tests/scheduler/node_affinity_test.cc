#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/codec.h"
#include "korch/scheduler/framework.h"
#include "scheduler/plugins/plugins.h"
#include "tests/scheduler/fake_handle.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace korch::scheduler {
namespace {

using ::testing::ElementsAre;
using testing::FakeHandle;
using ::testing::HasSubstr;
using testing::MakeNode;
using testing::MakePod;
using ::testing::UnorderedElementsAre;

// A pod with spec.affinity.nodeAffinity from JSON.
MakePod WithNodeAffinity(MakePod pod, const std::string& node_affinity_json) {
  auto affinity = api::DecodeJsonAs<api::NodeAffinity>(node_affinity_json);
  EXPECT_TRUE(affinity.ok()) << affinity.status();
  if (affinity.ok()) *pod->mutable_spec()->mutable_affinity()->mutable_node_affinity() = *affinity;
  return pod;
}

TEST(NodeAffinityTest, FilterMatchesNodeSelectorAndRequiredTerms) {
  struct Case {
    std::string name;
    MakePod pod;
    bool fits;
  };
  // The node: zone=a, disk=ssd, cores=8.
  const Case cases[] = {
      {"nodeSelector matches", MakePod("ns", "p").NodeSelector("zone", "a"), true},
      {"nodeSelector value differs", MakePod("ns", "p").NodeSelector("zone", "b"), false},
      {"nodeSelector label missing", MakePod("ns", "p").NodeSelector("gpu", "yes"), false},
      {"nodeSelector needs every label",
       MakePod("ns", "p").NodeSelector("zone", "a").NodeSelector("disk", "hdd"), false},
      {"required In",
       WithNodeAffinity(MakePod("ns", "p"), R"({"requiredDuringSchedulingIgnoredDuringExecution":
          {"nodeSelectorTerms":[{"matchExpressions":[
            {"key":"zone","operator":"In","values":["a","b"]}]}]}})"),
       true},
      {"required NotIn",
       WithNodeAffinity(MakePod("ns", "p"), R"({"requiredDuringSchedulingIgnoredDuringExecution":
          {"nodeSelectorTerms":[{"matchExpressions":[
            {"key":"zone","operator":"NotIn","values":["a"]}]}]}})"),
       false},
      {"required Gt",
       WithNodeAffinity(MakePod("ns", "p"), R"({"requiredDuringSchedulingIgnoredDuringExecution":
          {"nodeSelectorTerms":[{"matchExpressions":[
            {"key":"cores","operator":"Gt","values":["4"]}]}]}})"),
       true},
      {"terms are ORed",
       WithNodeAffinity(MakePod("ns", "p"), R"({"requiredDuringSchedulingIgnoredDuringExecution":
          {"nodeSelectorTerms":[
            {"matchExpressions":[{"key":"zone","operator":"In","values":["b"]}]},
            {"matchExpressions":[{"key":"disk","operator":"Exists"}]}]}})"),
       true},
      {"expressions within a term are ANDed",
       WithNodeAffinity(MakePod("ns", "p"), R"({"requiredDuringSchedulingIgnoredDuringExecution":
          {"nodeSelectorTerms":[{"matchExpressions":[
            {"key":"zone","operator":"In","values":["a"]},
            {"key":"disk","operator":"DoesNotExist"}]}]}})"),
       false},
      {"no terms match no node",
       WithNodeAffinity(MakePod("ns", "p"),
                        R"({"requiredDuringSchedulingIgnoredDuringExecution":
                            {"nodeSelectorTerms":[]}})"),
       false},
      {"an invalid term matches no node",
       WithNodeAffinity(MakePod("ns", "p"), R"({"requiredDuringSchedulingIgnoredDuringExecution":
          {"nodeSelectorTerms":[{"matchExpressions":[
            {"key":"zone","operator":"Near","values":["a"]}]}]}})"),
       false},
      {"nodeSelector and affinity must both hold",
       WithNodeAffinity(MakePod("ns", "p").NodeSelector("zone", "b"),
                        R"({"requiredDuringSchedulingIgnoredDuringExecution":
          {"nodeSelectorTerms":[{"matchExpressions":[
            {"key":"zone","operator":"In","values":["a"]}]}]}})"),
       false},
      {"matchFields on the node name",
       WithNodeAffinity(MakePod("ns", "p"), R"({"requiredDuringSchedulingIgnoredDuringExecution":
          {"nodeSelectorTerms":[{"matchFields":[
            {"key":"metadata.name","operator":"In","values":["n1"]}]}]}})"),
       true},
      {"preferred terms do not filter",
       WithNodeAffinity(MakePod("ns", "p"), R"({"preferredDuringSchedulingIgnoredDuringExecution":
          [{"weight":1,"preference":{"matchExpressions":[
            {"key":"zone","operator":"In","values":["b"]}]}}]})"),
       true},
  };
  FakeHandle handle;
  auto plugin = plugins::NewNodeAffinity("", handle);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  auto node = MakeNode("n1").Label("zone", "a").Label("disk", "ssd").Label("cores", "8").Info();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    PluginStatus s = FakeHandle::FilterThrough(**plugin, *c.pod.Info(), *node);
    if (c.fits) {
      EXPECT_TRUE(s.ok()) << s.ToString();
    } else {
      EXPECT_EQ(s.code(), Code::kUnschedulableAndUnresolvable);
      EXPECT_THAT(s.reasons(), ElementsAre("node(s) didn't match Pod's node affinity/selector"));
    }
  }
}

TEST(NodeAffinityTest, PreFilterSkipsPodsWithoutSelectorOrAffinity) {
  FakeHandle handle;
  auto plugin = plugins::NewNodeAffinity("", handle);
  ASSERT_TRUE(plugin.ok());
  auto* pre = dynamic_cast<PreFilterPlugin*>(plugin->get());
  CycleState state;
  PreFilterResult result;
  EXPECT_TRUE(pre->PreFilter(state, *MakePod("ns", "p").Info(), result).IsSkip());
  EXPECT_TRUE(
      pre->PreFilter(state,
                     *WithNodeAffinity(MakePod("ns", "p"),
                                       R"({"preferredDuringSchedulingIgnoredDuringExecution":
          [{"weight":1,"preference":{"matchExpressions":[
            {"key":"zone","operator":"In","values":["b"]}]}}]})")
                          .Info(),
                     result)
          .IsSkip());
  EXPECT_TRUE(
      pre->PreFilter(state, *MakePod("ns", "p").NodeSelector("a", "b").Info(), result).ok());
}

TEST(NodeAffinityTest, PreFilterResultFromMetadataNameTerms) {
  struct Case {
    std::string name;
    std::string affinity;
    std::optional<std::vector<std::string>> nodes;  // nullopt: every node
    bool conflict = false;
  };
  const Case cases[] = {
      {"one name",
       R"({"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[
           {"matchFields":[{"key":"metadata.name","operator":"In","values":["n1"]}]}]}})",
       std::vector<std::string>{"n1"}},
      {"union over terms",
       R"({"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[
           {"matchFields":[{"key":"metadata.name","operator":"In","values":["n1"]}]},
           {"matchFields":[{"key":"metadata.name","operator":"In","values":["n2"]}]}]}})",
       std::vector<std::string>{"n1", "n2"}},
      {"a term without names allows every node",
       R"({"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[
           {"matchFields":[{"key":"metadata.name","operator":"In","values":["n1"]}]},
           {"matchExpressions":[{"key":"zone","operator":"Exists"}]}]}})",
       std::nullopt},
      {"NotIn does not narrow",
       R"({"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[
           {"matchFields":[{"key":"metadata.name","operator":"NotIn","values":["n1"]}]}]}})",
       std::nullopt},
      {"intersection within a term can be empty",
       R"({"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[
           {"matchFields":[{"key":"metadata.name","operator":"In","values":["n1"]},
                           {"key":"metadata.name","operator":"In","values":["n2"]}]}]}})",
       std::nullopt, true},
  };
  FakeHandle handle;
  auto plugin = plugins::NewNodeAffinity("", handle);
  ASSERT_TRUE(plugin.ok());
  auto* pre = dynamic_cast<PreFilterPlugin*>(plugin->get());
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    CycleState state;
    PreFilterResult result;
    PluginStatus s =
        pre->PreFilter(state, *WithNodeAffinity(MakePod("ns", "p"), c.affinity).Info(), result);
    if (c.conflict) {
      EXPECT_EQ(s.code(), Code::kUnschedulableAndUnresolvable);
      EXPECT_THAT(s.reasons(), ElementsAre("pod affinity terms conflict"));
      continue;
    }
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(result.node_names.has_value(), c.nodes.has_value());
    if (c.nodes.has_value()) {
      EXPECT_THAT(*result.node_names, ::testing::UnorderedElementsAreArray(*c.nodes));
    }
  }
}

TEST(NodeAffinityTest, ScoreSumsPreferredWeightsNormalizedTo100) {
  FakeHandle handle;
  handle.SetNodes({MakeNode("n0").Info(), MakeNode("n1").Label("zone", "a").Info(),
                   MakeNode("n2").Label("disk", "ssd").Info(),
                   MakeNode("n3").Label("zone", "a").Label("disk", "ssd").Info()});
  auto plugin = plugins::NewNodeAffinity("", handle);
  ASSERT_TRUE(plugin.ok());
  MakePod pod = WithNodeAffinity(MakePod("ns", "p"),
                                 R"({"preferredDuringSchedulingIgnoredDuringExecution":[
      {"weight":2,"preference":{"matchExpressions":[{"key":"zone","operator":"In","values":["a"]}]}},
      {"weight":8,"preference":{"matchExpressions":[{"key":"disk","operator":"Exists"}]}},
      {"weight":0,"preference":{"matchExpressions":[{"key":"zone","operator":"Exists"}]}},
      {"weight":5,"preference":{}}]})");
  EXPECT_THAT(handle.ScoreThrough(**plugin, *pod.Info()), ElementsAre(0, 20, 80, 100));
  // Without preferred terms PreScore skips.
  EXPECT_THAT(handle.ScoreThrough(**plugin, *MakePod("ns", "q").Info()), ElementsAre(0, 0, 0, 0));
}

TEST(NodeAffinityTest, AddedAffinityAppliesToEveryPod) {
  FakeHandle handle;
  handle.SetNodes({MakeNode("n0").Info(), MakeNode("n1").Label("pool", "batch").Info(),
                   MakeNode("n2").Label("pool", "batch").Label("fast", "yes").Info()});
  auto plugin = plugins::NewNodeAffinity(R"({"addedAffinity":{
      "requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[
        {"matchExpressions":[{"key":"pool","operator":"In","values":["batch"]}]}]},
      "preferredDuringSchedulingIgnoredDuringExecution":[
        {"weight":10,"preference":{"matchExpressions":[{"key":"fast","operator":"Exists"}]}}]}})",
                                         handle);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  auto pod = MakePod("ns", "p").Info();
  PluginStatus s = FakeHandle::FilterThrough(**plugin, *pod, *handle.snapshot().Get("n0"));
  EXPECT_EQ(s.code(), Code::kUnschedulableAndUnresolvable);
  EXPECT_THAT(s.reasons(), ElementsAre("node(s) didn't match scheduler-enforced node affinity"));
  EXPECT_TRUE(FakeHandle::FilterThrough(**plugin, *pod, *handle.snapshot().Get("n1")).ok());
  EXPECT_THAT(handle.ScoreThrough(**plugin, *pod), ElementsAre(0, 0, 100));
}

TEST(NodeAffinityTest, ArgsErrorsNameTheField) {
  FakeHandle handle;
  auto unknown = plugins::NewNodeAffinity(R"({"addedAfinity":{}})", handle);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(), "NodeAffinityArgs.addedAfinity: unknown field");
  auto bad_op = plugins::NewNodeAffinity(R"({"addedAffinity":{
      "requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[
        {"matchExpressions":[{"key":"pool","operator":"Near","values":["x"]}]}]}}})",
                                         handle);
  ASSERT_FALSE(bad_op.ok());
  EXPECT_THAT(bad_op.status().message(),
              HasSubstr("NodeAffinityArgs.addedAffinity.requiredDuringSchedulingIgnoredDuring"
                        "Execution.nodeSelectorTerms[0].matchExpressions[0].operator"));
}

}  // namespace
}  // namespace korch::scheduler
