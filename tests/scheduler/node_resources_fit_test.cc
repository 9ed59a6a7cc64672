#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/scheduler/framework.h"
#include "scheduler/plugins/plugins.h"
#include "tests/scheduler/fake_handle.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace korch::scheduler {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using testing::FakeHandle;
using ::testing::HasSubstr;
using testing::MakeNode;
using testing::MakePod;

TEST(NodeResourcesFitTest, FilterReportsEveryInsufficientResource) {
  struct Case {
    std::string name;
    MakePod pod;
    std::vector<std::string> reasons;  // empty: fits
    std::string args = "";
  };
  // The node: 4 cpu, 8Gi, 10Gi ephemeral storage, 2 gpus, 3 pods; one
  // existing pod uses 3 cpu, 4Gi, 1 gpu.
  const Case cases[] = {
      {"fits", MakePod("ns", "p").Req("1", "4Gi"), {}},
      {"best effort pod fits", MakePod("ns", "p"), {}},
      {"cpu", MakePod("ns", "p").Req("1001m", "1Gi"), {"Insufficient cpu"}},
      {"memory", MakePod("ns", "p").Req("", "5Gi"), {"Insufficient memory"}},
      {"cpu and memory",
       MakePod("ns", "p").Req("2", "5Gi"),
       {"Insufficient cpu", "Insufficient memory"}},
      {"ephemeral storage",
       MakePod("ns", "p").Request("ephemeral-storage", "11Gi"),
       {"Insufficient ephemeral-storage"}},
      {"extended resource",
       MakePod("ns", "p").Request("example.com/gpu", "2"),
       {"Insufficient example.com/gpu"}},
      {"extended resource the node lacks",
       MakePod("ns", "p").Request("example.com/fpga", "1"),
       {"Insufficient example.com/fpga"}},
      {"ignored extended resource",
       MakePod("ns", "p").Request("example.com/fpga", "1"),
       {},
       R"({"ignoredResources":["example.com/fpga"]})"},
      {"ignored resource group",
       MakePod("ns", "p").Request("example.com/fpga", "1"),
       {},
       R"({"ignoredResourceGroups":["example.com"]})"},
      {"hugepages cannot be ignored by group",
       MakePod("ns", "p").Request("hugepages-2Mi", "2Mi"),
       {"Insufficient hugepages-2Mi"},
       R"({"ignoredResourceGroups":["hugepages-2Mi"]})"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    FakeHandle handle;
    auto plugin = plugins::NewNodeResourcesFit(c.args, handle);
    ASSERT_TRUE(plugin.ok()) << plugin.status();
    auto node = MakeNode("n1")
                    .Cpu("4")
                    .Memory("8Gi")
                    .Alloc("ephemeral-storage", "10Gi")
                    .Alloc("example.com/gpu", "2")
                    .Pods(3)
                    .Info();
    node->AddPod(MakePod("ns", "existing")
                     .Req("3", "4Gi")
                     .Request("example.com/gpu", "1")
                     .Node("n1")
                     .Info());
    PluginStatus s = FakeHandle::FilterThrough(**plugin, *c.pod.Info(), *node);
    if (c.reasons.empty()) {
      EXPECT_TRUE(s.ok()) << s.ToString();
    } else {
      EXPECT_EQ(s.code(), Code::kUnschedulable);
      EXPECT_THAT(s.reasons(), ElementsAreArray(c.reasons));
    }
  }
}

TEST(NodeResourcesFitTest, PodCountAppliesEvenToPodsThatRequestNothing) {
  FakeHandle handle;
  auto plugin = plugins::NewNodeResourcesFit("", handle);
  ASSERT_TRUE(plugin.ok());
  auto node = MakeNode("n1").Cpu("4").Memory("8Gi").Pods(1).Info();
  EXPECT_TRUE(FakeHandle::FilterThrough(**plugin, *MakePod("ns", "p").Info(), *node).ok());
  node->AddPod(MakePod("ns", "existing").Node("n1").Info());
  PluginStatus s = FakeHandle::FilterThrough(**plugin, *MakePod("ns", "p").Info(), *node);
  EXPECT_EQ(s.code(), Code::kUnschedulable);
  EXPECT_THAT(s.reasons(), ElementsAre("Too many pods"));
  s = FakeHandle::FilterThrough(**plugin, *MakePod("ns", "p").Req("5").Info(), *node);
  EXPECT_THAT(s.reasons(), ElementsAre("Too many pods", "Insufficient cpu"));
}

// Two nodes: n0 with 4 cpu / 8Gi / 4 gpus, n1 with 2 cpu / 4Gi and a pod
// using 500m / 1Gi.
std::vector<std::shared_ptr<NodeInfo>> ScoringNodes() {
  auto n0 = MakeNode("n0").Cpu("4").Memory("8Gi").Alloc("example.com/gpu", "4").Info();
  auto n1 = MakeNode("n1").Cpu("2").Memory("4Gi").Info();
  n1->AddPod(MakePod("ns", "existing").Req("500m", "1Gi").Node("n1").Info());
  return {n0, n1};
}

TEST(NodeResourcesFitTest, ScoringStrategies) {
  struct Case {
    std::string name;
    std::string args;
    MakePod pod;
    std::vector<int64_t> want;
  };
  const Case cases[] = {
      // n0: 3000/4000 and 6/8 free -> 75; n1: 500/2000 and 1/4 free -> 25.
      {"LeastAllocated by default", "", MakePod("ns", "p").Req("1", "2Gi"), {75, 25}},
      // Non-zero defaults: 100m and 200Mi. n0: 97.5 and 97.56 -> 97;
      // n1: (2000-600)/2000 = 70, (4096-1224)/4096 = 70.1 -> 70.
      {"containers without requests count 100m and 200Mi", "", MakePod("ns", "p"), {97, 70}},
      {"MostAllocated",
       R"({"scoringStrategy":{"type":"MostAllocated"}})",
       MakePod("ns", "p").Req("1", "2Gi"),
       {25, 75}},
      // n0: cpu 75 * 3 + memory 50 * 1 over 4 -> 68; n1: cpu 25 * 3 + memory 0.
      {"weights",
       R"({"scoringStrategy":{"type":"LeastAllocated",
           "resources":[{"name":"cpu","weight":3},{"name":"memory","weight":1}]}})",
       MakePod("ns", "p").Req("1", "4Gi"),
       {68, 18}},
      // Scored only where the node has it: n0 cpu 75 and gpu 75; n1 cpu 25.
      {"extended resource",
       R"({"scoringStrategy":{"resources":[{"name":"cpu"},{"name":"example.com/gpu"}],
           "type":"LeastAllocated"}})",
       MakePod("ns", "p").Req("1").Request("example.com/gpu", "1"),
       {75, 25}},
      {"extended resource the pod does not request",
       R"({"scoringStrategy":{"resources":[{"name":"cpu"},{"name":"example.com/gpu"}],
           "type":"MostAllocated"}})",
       MakePod("ns", "p").Req("1"),
       {25, 75}},
      // Utilization 25% / 75%, shape y = x.
      {"RequestedToCapacityRatio increasing",
       R"({"scoringStrategy":{"type":"RequestedToCapacityRatio",
           "requestedToCapacityRatio":{"shape":[{"utilization":0,"score":0},
                                                {"utilization":100,"score":10}]}}})",
       MakePod("ns", "p").Req("1", "2Gi"),
       {25, 75}},
      {"RequestedToCapacityRatio decreasing",
       R"({"scoringStrategy":{"type":"RequestedToCapacityRatio",
           "requestedToCapacityRatio":{"shape":[{"utilization":0,"score":10},
                                                {"utilization":100,"score":0}]}}})",
       MakePod("ns", "p").Req("1", "2Gi"),
       {75, 25}},
      // Flat at 2 (20) up to 50%, then to 10 (100) at 100%: n0 -> 20, n1
      // at 75% -> 20 + 80 * 25 / 50 = 60.
      {"RequestedToCapacityRatio broken line",
       R"({"scoringStrategy":{"type":"RequestedToCapacityRatio",
           "requestedToCapacityRatio":{"shape":[{"utilization":50,"score":2},
                                                {"utilization":100,"score":10}]}}})",
       MakePod("ns", "p").Req("1", "2Gi"),
       {20, 60}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    FakeHandle handle;
    handle.SetNodes(ScoringNodes());
    auto plugin = plugins::NewNodeResourcesFit(c.args, handle);
    ASSERT_TRUE(plugin.ok()) << plugin.status();
    EXPECT_EQ(handle.ScoreThrough(**plugin, *c.pod.Info()), c.want);
  }
}

TEST(NodeResourcesFitTest, ArgsErrorsNameTheField) {
  struct Case {
    std::string args;
    std::string error;
  };
  const Case cases[] = {
      {R"({"scoringStrategy":{"type":"Foo"}})",
       "NodeResourcesFitArgs.scoringStrategy.type: Unsupported value: \"Foo\""},
      {R"({"scoringStrategy":{"tpye":"MostAllocated"}})",
       "NodeResourcesFitArgs.scoringStrategy.tpye: unknown field"},
      {R"({"scoringStrategy":{"type":"LeastAllocated","resources":[{"name":"cpu","weight":101}]}})",
       "NodeResourcesFitArgs.scoringStrategy.resources[0].weight: Invalid value: 101"},
      {R"({"scoringStrategy":{"type":"LeastAllocated",
           "resources":[{"name":"cpu"},{"name":"cpu"}]}})",
       "NodeResourcesFitArgs.scoringStrategy.resources[1].name: Duplicate value: \"cpu\""},
      {R"({"scoringStrategy":{"type":"RequestedToCapacityRatio"}})",
       "NodeResourcesFitArgs.scoringStrategy.requestedToCapacityRatio: Required value"},
      {R"({"scoringStrategy":{"type":"RequestedToCapacityRatio",
           "requestedToCapacityRatio":{"shape":[{"utilization":50,"score":1},
                                                {"utilization":40,"score":11}]}}})",
       "utilization values must be sorted in increasing order"},
      {R"({"scoringStrategy":{"type":"RequestedToCapacityRatio",
           "requestedToCapacityRatio":{"shape":[{"utilization":50,"score":11}]}}})",
       "NodeResourcesFitArgs.scoringStrategy.requestedToCapacityRatio.shape[0].score: "
       "Invalid value: 11: score values must not be greater than 10"},
      {R"({"ignoredResourceGroups":["example.com/gpu"]})",
       "NodeResourcesFitArgs.ignoredResourceGroups[0]: Invalid value: \"example.com/gpu\": "
       "resource group name can't contain '/'"},
      {R"({"ignoredResources":"example.com/gpu"})",
       "NodeResourcesFitArgs.ignoredResources: Invalid value: \"example.com/gpu\": must be a "
       "list"},
      {R"([1])", "NodeResourcesFitArgs: args must be an object"},
      {R"({"kind":"NodeAffinityArgs"})", "NodeResourcesFitArgs.kind: Unsupported value"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    FakeHandle handle;
    auto plugin = plugins::NewNodeResourcesFit(c.args, handle);
    ASSERT_FALSE(plugin.ok());
    EXPECT_EQ(plugin.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(plugin.status().message(), HasSubstr(c.error));
  }
  FakeHandle handle;
  EXPECT_TRUE(plugins::NewNodeResourcesFit(
                  R"({"apiVersion":"kubescheduler.config.k8s.io/v1","kind":"NodeResourcesFitArgs",
                      "scoringStrategy":{"type":"MostAllocated","resources":[{"name":"cpu"}]}})",
                  handle)
                  .ok());
}

}  // namespace
}  // namespace korch::scheduler
