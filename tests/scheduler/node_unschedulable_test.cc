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

TEST(NodeUnschedulableTest, CordonedNodesTakeOnlyPodsThatTolerateIt) {
  struct Toleration {
    std::string key, op, value, effect;
  };
  struct Case {
    std::string name;
    bool unschedulable;
    std::vector<Toleration> tolerations;
    bool fits;
  };
  const std::string kKey = "node.kubernetes.io/unschedulable";
  const Case cases[] = {
      {"schedulable node", false, {}, true},
      {"cordoned node", true, {}, false},
      {"tolerates the taint with Exists", true, {{kKey, "Exists", "", "NoSchedule"}}, true},
      {"tolerates every taint", true, {{"", "Exists", "", ""}}, true},
      {"tolerates with an empty effect", true, {{kKey, "Exists", "", ""}}, true},
      {"wrong effect", true, {{kKey, "Exists", "", "NoExecute"}}, false},
      {"wrong key", true, {{"other", "Exists", "", "NoSchedule"}}, false},
      {"Equal with the empty value", true, {{kKey, "Equal", "", "NoSchedule"}}, true},
      {"Equal with another value", true, {{kKey, "Equal", "x", "NoSchedule"}}, false},
  };
  FakeHandle handle;
  auto plugin = plugins::NewNodeUnschedulable("", handle);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    MakeNode node("n1");
    if (c.unschedulable) node.Unschedulable();
    MakePod pod("ns", "p");
    for (const Toleration& t : c.tolerations) pod.Toleration(t.key, t.op, t.value, t.effect);
    PluginStatus s = FakeHandle::FilterThrough(**plugin, *pod.Info(), *node.Info());
    if (c.fits) {
      EXPECT_TRUE(s.ok()) << s.ToString();
    } else {
      EXPECT_EQ(s.code(), Code::kUnschedulableAndUnresolvable);
      EXPECT_THAT(s.reasons(), ElementsAre("node(s) were unschedulable"));
    }
  }
}

}  // namespace
}  // namespace korch::scheduler
