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

using testing::FakeHandle;
using ::testing::HasSubstr;
using testing::MakeNode;
using testing::MakePod;

TEST(BalancedAllocationTest, ScoresOneMinusTheStandardDeviationOfTheFractions) {
  struct Case {
    std::string name;
    std::string args;
    MakePod pod;
    std::vector<int64_t> want;
  };
  const Case cases[] = {
      // n0 (4 cpu, 8Gi): 0.25 and 0.125 -> std 0.0625 -> 93;
      // n1 (2 cpu, 4Gi, 1 cpu / 1Gi used): 1.0 and 0.5 -> 75.
      {"cpu and memory", "", MakePod("ns", "p").Req("1", "1Gi"), {93, 75}},
      // n1 would be 150% cpu: capped at 1, with memory 0.5 -> 75.
      {"fractions are capped at 1", "", MakePod("ns", "p").Req("2", "1Gi"), {81, 75}},
      // n0: 0.25, 0.25, 0.5 -> std 0.1179 -> 88; n1 has no ephemeral
      // storage: 1.0 and 0.75 -> 87.
      {"three resources",
       R"({"resources":[{"name":"cpu","weight":1},{"name":"memory"},
                        {"name":"ephemeral-storage"}]})",
       MakePod("ns", "p").Req("1", "2Gi").Request("ephemeral-storage", "5Gi"),
       {88, 87}},
      {"best effort pods are not scored", "", MakePod("ns", "p"), {0, 0}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto n0 = MakeNode("n0").Cpu("4").Memory("8Gi").Alloc("ephemeral-storage", "10Gi").Info();
    auto n1 = MakeNode("n1").Cpu("2").Memory("4Gi").Info();
    n1->AddPod(MakePod("ns", "existing").Req("1", "1Gi").Node("n1").Info());
    FakeHandle handle;
    handle.SetNodes({n0, n1});
    auto plugin = plugins::NewNodeResourcesBalancedAllocation(c.args, handle);
    ASSERT_TRUE(plugin.ok()) << plugin.status();
    EXPECT_EQ(handle.ScoreThrough(**plugin, *c.pod.Info()), c.want);
  }
}

TEST(BalancedAllocationTest, WeightsMustBeOne) {
  FakeHandle handle;
  auto plugin = plugins::NewNodeResourcesBalancedAllocation(
      R"({"resources":[{"name":"cpu","weight":2}]})", handle);
  ASSERT_FALSE(plugin.ok());
  EXPECT_THAT(plugin.status().message(),
              HasSubstr("NodeResourcesBalancedAllocationArgs.resources[0].weight: Invalid value: "
                        "2: must be 1"));
}

}  // namespace
}  // namespace korch::scheduler
