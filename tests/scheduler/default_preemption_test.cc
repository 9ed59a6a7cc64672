#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/scheduler/framework.h"
#include "korch/scheduler/registry.h"
#include "scheduler/plugins/plugins.h"
#include "tests/scheduler/fake_handle.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace korch::scheduler {
namespace {

using ::testing::ElementsAre;
using testing::FakeHandle;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::MakeNode;
using testing::MakePod;
using ::testing::Pair;

MakePod Started(MakePod pod, int64_t unix_seconds) {
  pod->mutable_status()->mutable_start_time()->set_seconds(unix_seconds);
  return pod;
}

// Filter plugins of a profile plus DefaultPreemption, over a FakeHandle.
class Env {
 public:
  void Build(const std::vector<std::shared_ptr<NodeInfo>>& nodes,
             const std::string& preemption_args = "") {
    handle_.SetNodes(nodes);
    for (auto factory :
         {plugins::NewNodeResourcesFit, plugins::NewTaintToleration, plugins::NewNodePorts}) {
      auto p = factory("", handle_);
      ASSERT_TRUE(p.ok()) << p.status();
      handle_.AddPlugin(p->get());
      filters_.push_back(*std::move(p));
    }
    auto p = plugins::NewDefaultPreemption(preemption_args, handle_);
    ASSERT_TRUE(p.ok()) << p.status();
    preemption_.reset(dynamic_cast<PostFilterPlugin*>(p->release()));
    ASSERT_NE(preemption_, nullptr);
  }

  // A scheduling cycle that found no node, then PostFilter.
  PostFilterResult Preempt(const PodInfo& pod) {
    CycleState state;
    PluginStatus pre = handle_.RunPreFilter(state, pod);
    EXPECT_TRUE(pre.ok()) << pre.ToString();
    NodeStatusMap statuses;
    for (const NodeInfo* n : handle_.snapshot().List()) {
      PluginStatus s = handle_.RunFilters(state, pod, *n);
      EXPECT_FALSE(s.ok()) << "pod fits on " << n->name() << " without preemption";
      statuses.emplace(n->name(), std::move(s));
    }
    return preemption_->PostFilter(state, pod, statuses);
  }

  FakeHandle handle_;
  std::vector<std::unique_ptr<Plugin>> filters_;
  std::unique_ptr<PostFilterPlugin> preemption_;
};

class PreemptionTest : public ::testing::Test, public Env {};

TEST_F(PreemptionTest, EvictsTheLowestPriorityVictimsAndNominatesTheNode) {
  auto n1 = MakeNode("n1").Cpu("2").Info();
  n1->AddPod(MakePod("ns", "low").Req("2").Priority(1).Node("n1").Info());
  auto n2 = MakeNode("n2").Cpu("2").Info();
  n2->AddPod(MakePod("ns", "mid").Req("2").Priority(5).Node("n2").Info());
  Build({n1, n2});
  PostFilterResult r = Preempt(*MakePod("ns", "high").Req("1").Priority(10).Info());
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.nominated_node_name, "n1");
  EXPECT_THAT(handle_.recorded().evicted,
              ElementsAre(Pair("ns/low",
                               "default-scheduler: preempting to accommodate a higher "
                               "priority pod")));
  // The scheduler nominates the preemptor from the result, not the plugin.
  EXPECT_THAT(handle_.recorded().nominated, ::testing::IsEmpty());
}

TEST_F(PreemptionTest, ReprievesTheMostImportantVictimsThatCanStay) {
  auto n1 = MakeNode("n1").Cpu("4").Info();
  n1->AddPod(MakePod("ns", "a").Req("1").Priority(1).Node("n1").Info());
  n1->AddPod(MakePod("ns", "b").Req("1").Priority(2).Node("n1").Info());
  n1->AddPod(MakePod("ns", "c").Req("2").Priority(3).Node("n1").Info());
  n1->AddPod(MakePod("ns", "top").Req("0").Priority(100).Node("n1").Info());
  Build({n1});
  PostFilterResult r = Preempt(*MakePod("ns", "p").Req("2").Priority(10).Info());
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.nominated_node_name, "n1");
  // c (priority 3) is put back first and fits next to the pod; b and a not.
  EXPECT_THAT(handle_.recorded().evicted,
              ElementsAre(Pair("ns/b", ::testing::_), Pair("ns/a", ::testing::_)));
}

TEST(PreemptionChoiceTest, PicksTheNodeThatDisruptsLeast) {
  struct Case {
    std::string name;
    std::vector<MakePod> n1_pods;
    std::vector<MakePod> n2_pods;
    std::string want;
  };
  const Case cases[] = {
      {"lowest highest-victim priority",
       {MakePod("ns", "x").Req("2").Priority(3)},
       {MakePod("ns", "y").Req("1").Priority(1), MakePod("ns", "z").Req("1").Priority(2)},
       "n2"},
      {"smallest sum of priorities",
       {MakePod("ns", "x").Req("1").Priority(2), MakePod("ns", "y").Req("1").Priority(2)},
       {MakePod("ns", "z").Req("2").Priority(2)},
       "n2"},
      {"the sum counts negative priorities",
       {MakePod("ns", "x").Req("1").Priority(-5), MakePod("ns", "y").Req("1").Priority(-5)},
       {MakePod("ns", "z").Req("2").Priority(-5)},
       "n2"},
      {"latest start time",
       {Started(MakePod("ns", "x").Req("2").Priority(1), 2000)},
       {Started(MakePod("ns", "y").Req("2").Priority(1), 1000)},
       "n1"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto n1 = MakeNode("n1").Cpu("2").Info();
    for (MakePod p : c.n1_pods) n1->AddPod(p.Node("n1").Info());
    auto n2 = MakeNode("n2").Cpu("2").Info();
    for (MakePod p : c.n2_pods) n2->AddPod(p.Node("n2").Info());
    Env env;
    env.Build({n1, n2});
    PostFilterResult r = env.Preempt(*MakePod("ns", "p").Req("2").Priority(10).Info());
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    EXPECT_EQ(r.nominated_node_name, c.want);
  }
}

TEST_F(PreemptionTest, ExplainsWhyNoNodeCanBeFreed) {
  // n1: only a higher-priority pod; n2: untolerated taint (unresolvable);
  // n3: too small even when emptied.
  auto n1 = MakeNode("n1").Cpu("2").Info();
  n1->AddPod(MakePod("ns", "vip").Req("2").Priority(100).Node("n1").Info());
  auto n2 = MakeNode("n2").Cpu("8").Taint("dedicated", "gpu", "NoSchedule").Info();
  auto n3 = MakeNode("n3").Cpu("1").Info();
  n3->AddPod(MakePod("ns", "low").Req("1").Priority(1).Node("n3").Info());
  Build({n1, n2, n3});
  PostFilterResult r = Preempt(*MakePod("ns", "p").Req("2").Priority(10).Info());
  EXPECT_EQ(r.status.code(), Code::kUnschedulable);
  EXPECT_THAT(r.status.reasons(),
              ElementsAre("preemption: 0/3 nodes are available: 1 Insufficient cpu, 1 No "
                          "preemption victims found for incoming pod, 1 Preemption is not "
                          "helpful for scheduling."));
  EXPECT_EQ(r.nominated_node_name, "");
  EXPECT_THAT(handle_.recorded().evicted, IsEmpty());
}

TEST_F(PreemptionTest, OnlyUnresolvableNodesMeansPreemptionCannotHelp) {
  auto n1 = MakeNode("n1").Cpu("8").Taint("k", "v", "NoExecute").Info();
  auto n2 = MakeNode("n2").Cpu("8").Taint("k", "v", "NoSchedule").Info();
  Build({n1, n2});
  MakePod pod("ns", "p");
  pod.Priority(10);
  pod->mutable_status()->set_nominated_node_name("n1");
  PostFilterResult r = Preempt(*pod.Info());
  EXPECT_THAT(r.status.reasons(),
              ElementsAre("preemption: 0/2 nodes are available: 2 Preemption is not helpful for "
                          "scheduling."));
  // A stale nomination is cleared.
  EXPECT_THAT(handle_.recorded().nominated, ElementsAre(Pair("ns/p", "")));
}

TEST_F(PreemptionTest, PodsThatMayNotPreempt) {
  auto n1 = MakeNode("n1").Cpu("2").Info();
  MakePod leaving = MakePod("ns", "leaving").Req("1").Priority(1).Node("n1");
  leaving->mutable_metadata()->mutable_deletion_timestamp()->set_seconds(1700000000);
  n1->AddPod(leaving.Info());
  n1->AddPod(MakePod("ns", "low").Req("1").Priority(1).Node("n1").Info());
  Build({n1});

  MakePod never = MakePod("ns", "never").Req("2").Priority(10);
  never->mutable_spec()->set_preemption_policy("Never");
  PostFilterResult r = Preempt(*never.Info());
  EXPECT_EQ(r.status.code(), Code::kUnschedulable);
  EXPECT_THAT(r.status.reasons(),
              ElementsAre("preemption: not eligible due to preemptionPolicy=Never."));

  MakePod waiting = MakePod("ns", "waiting").Req("2").Priority(10);
  waiting->mutable_status()->set_nominated_node_name("n1");
  r = Preempt(*waiting.Info());
  EXPECT_THAT(r.status.reasons(),
              ElementsAre("preemption: not eligible due to a terminating pod on the nominated "
                          "node."));
  EXPECT_THAT(handle_.recorded().evicted, IsEmpty());
}

TEST_F(PreemptionTest, NominatedHigherPriorityPodsKeepTheirRoom) {
  auto n1 = MakeNode("n1").Cpu("2").Info();
  n1->AddPod(MakePod("ns", "low").Req("2").Priority(1).Node("n1").Info());
  Build({n1});
  handle_.Nominate("n1", MakePod("ns", "vip").Req("2").Priority(20).Info());
  PostFilterResult r = Preempt(*MakePod("ns", "p").Req("1").Priority(10).Info());
  EXPECT_THAT(r.status.reasons(),
              ElementsAre("preemption: 0/1 nodes are available: 1 Insufficient cpu."));
}

TEST_F(PreemptionTest, ClearsNominationsOfLowerPriorityPodsOnTheChosenNode) {
  auto n1 = MakeNode("n1").Cpu("2").Info();
  n1->AddPod(MakePod("ns", "low").Req("2").Priority(1).Node("n1").Info());
  Build({n1});
  handle_.Nominate("n1", MakePod("ns", "meh").Req("1").Priority(5).Info());
  PostFilterResult r = Preempt(*MakePod("ns", "p").Req("1").Priority(10).Info());
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_THAT(handle_.recorded().nominated, ElementsAre(Pair("ns/meh", "")));
}

// Records which nodes the dry run filters.
class NodeRecorder final : public FilterPlugin {
 public:
  absl::string_view Name() const override { return "NodeRecorder"; }
  PluginStatus Filter(const CycleState&, const PodInfo&, const NodeInfo& node) const override {
    absl::MutexLock lock(&mu_);
    seen_.insert(node.name());
    return PluginStatus();
  }
  size_t count() const {
    absl::MutexLock lock(&mu_);
    return seen_.size();
  }
  void clear() {
    absl::MutexLock lock(&mu_);
    seen_.clear();
  }

 private:
  mutable absl::Mutex mu_;
  mutable absl::flat_hash_set<std::string> seen_ ABSL_GUARDED_BY(mu_);
};

TEST_F(PreemptionTest, StopsAfterEnoughCandidates) {
  std::vector<std::shared_ptr<NodeInfo>> nodes;
  for (int i = 0; i < 20; ++i) {
    std::string name = "n" + std::to_string(i);
    auto n = MakeNode(name).Cpu("1").Info();
    n->AddPod(MakePod("ns", "low" + std::to_string(i)).Req("1").Priority(1).Node(name).Info());
    nodes.push_back(n);
  }
  Build(nodes, R"({"minCandidateNodesPercentage":10,"minCandidateNodesAbsolute":3})");
  NodeRecorder recorder;
  handle_.AddPlugin(&recorder);
  auto pod = MakePod("ns", "p").Req("1").Priority(10).Info();
  // Preempt() runs every filter once per node; count only the dry run.
  CycleState state;
  ASSERT_TRUE(handle_.RunPreFilter(state, *pod).ok());
  NodeStatusMap statuses;
  for (const NodeInfo* n : handle_.snapshot().List()) {
    statuses.emplace(n->name(), handle_.RunFilters(state, *pod, *n));
  }
  recorder.clear();
  PostFilterResult r = preemption_->PostFilter(state, *pod, statuses);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(recorder.count(), 3u);  // max(10% of 20, 3)
  EXPECT_EQ(handle_.recorded().evicted.size(), 1u);
}

TEST(DefaultPreemptionArgsTest, ErrorsNameTheField) {
  struct Case {
    std::string args;
    std::string error;
  };
  const Case cases[] = {
      {R"({"minCandidateNodesPercentage":101})",
       "DefaultPreemptionArgs.minCandidateNodesPercentage: Invalid value: 101: not in valid range "
       "[0, 100]"},
      {R"({"minCandidateNodesAbsolute":-1})",
       "DefaultPreemptionArgs.minCandidateNodesAbsolute: Invalid value: -1: not in valid range "
       "[0, inf)"},
      {R"({"minCandidateNodesPercentage":0,"minCandidateNodesAbsolute":0})",
       "cannot be zero at the same time as minCandidateNodesAbsolute"},
      {R"({"minCandidateNodes":5})", "DefaultPreemptionArgs.minCandidateNodes: unknown field"},
      {R"({"minCandidateNodesAbsolute":"5"})",
       "DefaultPreemptionArgs.minCandidateNodesAbsolute: Invalid value: \"5\": must be an "
       "integer"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    FakeHandle handle;
    auto p = plugins::NewDefaultPreemption(c.args, handle);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(p.status().message(), HasSubstr(c.error));
  }
}

}  // namespace
}  // namespace korch::scheduler
