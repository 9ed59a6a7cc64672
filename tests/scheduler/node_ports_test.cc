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

struct Port {
  int32_t port;
  std::string protocol;
  std::string ip;
};

MakePod PodWithPorts(const std::string& name, const std::vector<Port>& ports) {
  MakePod pod("ns", name);
  for (const Port& p : ports) pod.HostPort(p.port, p.protocol, p.ip);
  return pod;
}

TEST(NodePortsTest, HostPortsMustBeFree) {
  struct Case {
    std::string name;
    std::vector<Port> used;
    std::vector<Port> wanted;
    bool fits;
  };
  const Case cases[] = {
      {"nothing used", {}, {{8080, "TCP", ""}}, true},
      {"same port and protocol", {{8080, "TCP", ""}}, {{8080, "TCP", ""}}, false},
      {"another port", {{8080, "TCP", ""}}, {{8081, "TCP", ""}}, true},
      {"another protocol", {{8080, "UDP", ""}}, {{8080, "TCP", ""}}, true},
      {"different ips", {{8080, "TCP", "127.0.0.1"}}, {{8080, "TCP", "10.0.0.1"}}, true},
      {"same ip", {{8080, "TCP", "10.0.0.1"}}, {{8080, "TCP", "10.0.0.1"}}, false},
      {"wildcard used", {{8080, "TCP", ""}}, {{8080, "TCP", "10.0.0.1"}}, false},
      {"wildcard wanted", {{8080, "TCP", "10.0.0.1"}}, {{8080, "TCP", "0.0.0.0"}}, false},
      {"one of several conflicts",
       {{9000, "UDP", ""}},
       {{8080, "TCP", ""}, {9000, "UDP", ""}},
       false},
  };
  FakeHandle handle;
  auto plugin = plugins::NewNodePorts("", handle);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto node = MakeNode("n1").Info();
    if (!c.used.empty()) node->AddPod(PodWithPorts("existing", c.used).Node("n1").Info());
    PluginStatus s =
        FakeHandle::FilterThrough(**plugin, *PodWithPorts("p", c.wanted).Info(), *node);
    if (c.fits) {
      EXPECT_TRUE(s.ok()) << s.ToString();
    } else {
      EXPECT_EQ(s.code(), Code::kUnschedulable);
      EXPECT_THAT(s.reasons(),
                  ElementsAre("node(s) didn't have free ports for the requested pod ports"));
    }
  }
}

TEST(NodePortsTest, PodsWithoutHostPortsSkipTheFilter) {
  FakeHandle handle;
  auto plugin = plugins::NewNodePorts("", handle);
  ASSERT_TRUE(plugin.ok());
  CycleState state;
  PreFilterResult result;
  auto* pre = dynamic_cast<PreFilterPlugin*>(plugin->get());
  EXPECT_TRUE(pre->PreFilter(state, *MakePod("ns", "p").Info(), result).IsSkip());
  EXPECT_TRUE(pre->PreFilter(state, *MakePod("ns", "p").HostPort(80).Info(), result).ok());
}

}  // namespace
}  // namespace korch::scheduler
