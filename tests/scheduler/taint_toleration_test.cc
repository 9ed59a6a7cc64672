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
using testing::FakeHandle;
using testing::MakeNode;
using testing::MakePod;

struct Taint {
  std::string key, value, effect;
};
struct Toleration {
  std::string key, op, value, effect;
};

TEST(TaintTolerationTest, FilterRejectsUntoleratedNoScheduleAndNoExecuteTaints) {
  struct Case {
    std::string name;
    std::vector<Taint> taints;
    std::vector<Toleration> tolerations;
    std::string reason;  // empty: fits
  };
  const Case cases[] = {
      {"no taints", {}, {}, ""},
      {"NoSchedule not tolerated",
       {{"dedicated", "gpu", "NoSchedule"}},
       {},
       "node(s) had untolerated taint {dedicated: gpu}"},
      {"NoExecute not tolerated",
       {{"k", "v", "NoExecute"}},
       {},
       "node(s) had untolerated taint {k: v}"},
      {"PreferNoSchedule does not filter", {{"k", "v", "PreferNoSchedule"}}, {}, ""},
      {"tolerated with Equal", {{"k", "v", "NoSchedule"}}, {{"k", "Equal", "v", "NoSchedule"}}, ""},
      {"tolerated with an empty operator", {{"k", "v", "NoSchedule"}}, {{"k", "", "v", ""}}, ""},
      {"Equal with another value",
       {{"k", "v", "NoSchedule"}},
       {{"k", "Equal", "w", "NoSchedule"}},
       "node(s) had untolerated taint {k: v}"},
      {"tolerated with Exists", {{"k", "v", "NoExecute"}}, {{"k", "Exists", "", ""}}, ""},
      {"Exists without a key tolerates everything",
       {{"a", "1", "NoSchedule"}, {"b", "2", "NoExecute"}},
       {{"", "Exists", "", ""}},
       ""},
      {"the first untolerated taint is reported",
       {{"a", "1", "NoSchedule"}, {"b", "2", "NoExecute"}},
       {{"a", "Exists", "", ""}},
       "node(s) had untolerated taint {b: 2}"},
      {"effect must match",
       {{"k", "v", "NoExecute"}},
       {{"k", "Exists", "", "NoSchedule"}},
       "node(s) had untolerated taint {k: v}"},
      {"empty value shown", {{"k", "", "NoSchedule"}}, {}, "node(s) had untolerated taint {k: }"},
  };
  FakeHandle handle;
  auto plugin = plugins::NewTaintToleration("", handle);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    MakeNode node("n1");
    for (const Taint& t : c.taints) node.Taint(t.key, t.value, t.effect);
    MakePod pod("ns", "p");
    for (const Toleration& t : c.tolerations) pod.Toleration(t.key, t.op, t.value, t.effect);
    PluginStatus s = FakeHandle::FilterThrough(**plugin, *pod.Info(), *node.Info());
    if (c.reason.empty()) {
      EXPECT_TRUE(s.ok()) << s.ToString();
    } else {
      EXPECT_EQ(s.code(), Code::kUnschedulableAndUnresolvable);
      EXPECT_THAT(s.reasons(), ElementsAre(c.reason));
    }
  }
}

TEST(TaintTolerationTest, ScorePrefersNodesWithFewerIntolerablePreferNoScheduleTaints) {
  struct Case {
    std::string name;
    std::vector<std::vector<Taint>> nodes;
    std::vector<Toleration> tolerations;
    std::vector<int64_t> want;
  };
  const Case cases[] = {
      {"no taints anywhere", {{}, {}}, {}, {100, 100}},
      {"one node with an intolerable taint", {{}, {{"k", "v", "PreferNoSchedule"}}}, {}, {100, 0}},
      {"tolerated taints do not count",
       {{{"k", "v", "PreferNoSchedule"}}, {{"other", "v", "PreferNoSchedule"}}},
       {{"k", "Equal", "v", "PreferNoSchedule"}},
       {100, 0}},
      {"NoSchedule tolerations do not tolerate PreferNoSchedule",
       {{{"k", "v", "PreferNoSchedule"}}, {}},
       {{"k", "Exists", "", "NoSchedule"}},
       {0, 100}},
      {"counts are scaled to the worst node",
       {{},
        {{"a", "1", "PreferNoSchedule"}},
        {{"a", "1", "PreferNoSchedule"}, {"b", "1", "PreferNoSchedule"}},
        {{"c", "1", "NoSchedule"}}},
       {},
       {100, 50, 0, 100}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    FakeHandle handle;
    std::vector<std::shared_ptr<NodeInfo>> nodes;
    for (size_t i = 0; i < c.nodes.size(); ++i) {
      MakeNode node("n" + std::to_string(i));
      for (const Taint& t : c.nodes[i]) node.Taint(t.key, t.value, t.effect);
      nodes.push_back(node.Info());
    }
    handle.SetNodes(nodes);
    auto plugin = plugins::NewTaintToleration("", handle);
    ASSERT_TRUE(plugin.ok());
    MakePod pod("ns", "p");
    for (const Toleration& t : c.tolerations) pod.Toleration(t.key, t.op, t.value, t.effect);
    EXPECT_EQ(handle.ScoreThrough(**plugin, *pod.Info()), c.want);
  }
}

}  // namespace
}  // namespace korch::scheduler
