#include <memory>
#include <string>

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

TEST(NodeNameTest, FiltersOnSpecNodeName) {
  struct Case {
    std::string name;
    std::string pod_node;
    std::string node;
    Code want;
  };
  const Case cases[] = {
      {"no nodeName fits any node", "", "n1", Code::kSuccess},
      {"nodeName names this node", "n1", "n1", Code::kSuccess},
      {"nodeName names another node", "n2", "n1", Code::kUnschedulableAndUnresolvable},
  };
  FakeHandle handle;
  auto plugin = plugins::NewNodeName("", handle);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    MakePod pod("ns", "p");
    if (!c.pod_node.empty()) pod.Node(c.pod_node);
    auto node = MakeNode(c.node).Info();
    PluginStatus s = FakeHandle::FilterThrough(**plugin, *pod.Info(), *node);
    EXPECT_EQ(s.code(), c.want) << s.ToString();
    if (!s.ok()) {
      EXPECT_THAT(s.reasons(), ElementsAre("node(s) didn't match the requested node name"));
    }
  }
}

TEST(NodeNameTest, PreFilterNarrowsCandidatesToTheNamedNodeOrSkips) {
  FakeHandle handle;
  auto plugin = plugins::NewNodeName("", handle);
  ASSERT_TRUE(plugin.ok());
  auto* pre = dynamic_cast<PreFilterPlugin*>(plugin->get());
  ASSERT_NE(pre, nullptr);
  {
    CycleState state;
    PreFilterResult result;
    EXPECT_TRUE(pre->PreFilter(state, *MakePod("ns", "p").Info(), result).IsSkip());
    EXPECT_FALSE(result.node_names.has_value());
  }
  CycleState state;
  PreFilterResult result;
  EXPECT_TRUE(pre->PreFilter(state, *MakePod("ns", "p").Node("n7").Info(), result).ok());
  ASSERT_TRUE(result.node_names.has_value());
  EXPECT_THAT(*result.node_names, ::testing::UnorderedElementsAre("n7"));
}

TEST(NodeNameTest, RejectsArgs) {
  FakeHandle handle;
  EXPECT_TRUE(plugins::NewNodeName("{}", handle).ok());
  auto bad = plugins::NewNodeName(R"({"foo":1})", handle);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "NodeNameArgs.foo: unknown field");
}

}  // namespace
}  // namespace korch::scheduler
