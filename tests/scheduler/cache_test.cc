#include "scheduler/cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/scheduler/scheduler_test_util.h"

namespace korch::scheduler::internal {
namespace {

using testing::MakeNode;
using testing::MakePod;

std::shared_ptr<const api::Node> Node(const MakeNode& n) {
  return std::make_shared<const api::Node>(n.Obj());
}

class CacheTest : public ::testing::Test {
 protected:
  void AddNodes(int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(cache_.AddNode(Node(MakeNode("n" + std::to_string(i)).Cpu("4"))).ok());
    }
  }
  FakeClock clock_;
  Cache cache_{&clock_, absl::Seconds(30)};
};

TEST_F(CacheTest, AssumedPodCountsAtOnceAndForgetUndoesIt) {
  AddNodes(1);
  auto pod = MakePod("ns", "p").Req("1").Node("n0").Info();
  ASSERT_TRUE(cache_.AssumePod(pod).ok());
  EXPECT_EQ(cache_.AssumePod(pod).code(), absl::StatusCode::kAlreadyExists);
  Snapshot snap;
  cache_.UpdateSnapshot(snap);
  EXPECT_EQ(snap.Get("n0")->requested().milli_cpu, 1000);
  EXPECT_TRUE(cache_.IsAssumed("ns/p"));
  EXPECT_EQ(cache_.GetCounts().assumed_pods, 1);

  ASSERT_TRUE(cache_.ForgetPod("ns/p").ok());
  cache_.UpdateSnapshot(snap);
  EXPECT_EQ(snap.Get("n0")->requested().milli_cpu, 0);
  EXPECT_FALSE(cache_.Contains("ns/p"));
  EXPECT_EQ(cache_.ForgetPod("ns/p").code(), absl::StatusCode::kNotFound);
}

TEST_F(CacheTest, AddPodConfirmsAnAssumedPodEvenOnAnotherNode) {
  AddNodes(2);
  ASSERT_TRUE(cache_.AssumePod(MakePod("ns", "p").Req("1").Node("n0").Info()).ok());
  ASSERT_TRUE(cache_.AddPod(MakePod("ns", "p").Req("1").Node("n1").Info()).ok());
  EXPECT_FALSE(cache_.IsAssumed("ns/p"));
  EXPECT_EQ(cache_.NodeOf("ns/p"), "n1");
  Snapshot snap;
  cache_.UpdateSnapshot(snap);
  EXPECT_EQ(snap.Get("n0")->requested().milli_cpu, 0);
  EXPECT_EQ(snap.Get("n1")->requested().milli_cpu, 1000);
  // A bound pod cannot be forgotten.
  EXPECT_EQ(cache_.ForgetPod("ns/p").code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(cache_.RemovePod("ns/p").ok());
  cache_.UpdateSnapshot(snap);
  EXPECT_EQ(snap.Get("n1")->requested().milli_cpu, 0);
}

TEST_F(CacheTest, AssumedPodsExpireOnlyAfterBindingFinishedAndTheTtl) {
  AddNodes(1);
  ASSERT_TRUE(cache_.AssumePod(MakePod("ns", "p").Node("n0").Info()).ok());
  clock_.Advance(absl::Minutes(5));
  EXPECT_EQ(cache_.CleanupExpiredAssumedPods(), 0);  // still binding
  ASSERT_TRUE(cache_.FinishBinding("ns/p").ok());
  clock_.Advance(absl::Seconds(29));
  EXPECT_EQ(cache_.CleanupExpiredAssumedPods(), 0);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(cache_.CleanupExpiredAssumedPods(), 1);
  EXPECT_FALSE(cache_.Contains("ns/p"));
  // Confirmed pods never expire.
  ASSERT_TRUE(cache_.AssumePod(MakePod("ns", "q").Node("n0").Info()).ok());
  ASSERT_TRUE(cache_.FinishBinding("ns/q").ok());
  ASSERT_TRUE(cache_.ConfirmPod("ns/q").ok());
  clock_.Advance(absl::Minutes(1));
  EXPECT_EQ(cache_.CleanupExpiredAssumedPods(), 0);
  EXPECT_TRUE(cache_.Contains("ns/q"));
}

TEST_F(CacheTest, SnapshotCopiesOnlyChangedNodes) {
  AddNodes(100);
  Snapshot snap;
  cache_.UpdateSnapshot(snap);
  EXPECT_EQ(snap.NumNodes(), 100u);
  EXPECT_EQ(cache_.snapshot_copies_for_test(), 100);
  const NodeInfo* n5 = snap.Get("n5");
  const NodeInfo* n7 = snap.Get("n7");

  ASSERT_TRUE(cache_.AssumePod(MakePod("ns", "p").Req("1").Node("n7").Info()).ok());
  cache_.UpdateSnapshot(snap);
  EXPECT_EQ(cache_.snapshot_copies_for_test(), 101);
  EXPECT_EQ(snap.Get("n5"), n5);
  EXPECT_NE(snap.Get("n7"), n7);
  EXPECT_EQ(snap.Get("n7")->pods().size(), 1u);
  EXPECT_EQ(snap.List()[7], snap.Get("n7"));
  // Nothing changed: nothing copied.
  cache_.UpdateSnapshot(snap);
  EXPECT_EQ(cache_.snapshot_copies_for_test(), 101);

  // A new node is copied; the others are reused.
  ASSERT_TRUE(cache_.AddNode(Node(MakeNode("extra").Cpu("2"))).ok());
  cache_.UpdateSnapshot(snap);
  EXPECT_EQ(cache_.snapshot_copies_for_test(), 102);
  EXPECT_EQ(snap.NumNodes(), 101u);
  EXPECT_EQ(snap.Get("n5"), n5);

  ASSERT_TRUE(cache_.RemoveNode("n5").ok());
  cache_.UpdateSnapshot(snap);
  EXPECT_EQ(snap.NumNodes(), 100u);
  EXPECT_EQ(snap.Get("n5"), nullptr);
  EXPECT_EQ(cache_.snapshot_copies_for_test(), 102);
}

TEST_F(CacheTest, AffinityListsFollowPods) {
  AddNodes(3);
  MakePod with_affinity("ns", "a");
  auto* term = with_affinity->mutable_spec()
                   ->mutable_affinity()
                   ->mutable_pod_anti_affinity()
                   ->add_required_during_scheduling_ignored_during_execution();
  term->set_topology_key("kubernetes.io/hostname");
  (*term->mutable_label_selector()->mutable_match_labels())["app"] = "x";
  with_affinity.Node("n1");
  Snapshot snap;
  cache_.UpdateSnapshot(snap);
  EXPECT_TRUE(snap.HavePodsWithAffinity().empty());
  ASSERT_TRUE(cache_.AssumePod(with_affinity.Info()).ok());
  cache_.UpdateSnapshot(snap);
  ASSERT_EQ(snap.HavePodsWithRequiredAntiAffinity().size(), 1u);
  EXPECT_EQ(snap.HavePodsWithRequiredAntiAffinity()[0], snap.Get("n1"));
  // Another pod on the same node: the list points at the new copy.
  ASSERT_TRUE(cache_.AddPod(MakePod("ns", "b").Node("n1").Info()).ok());
  cache_.UpdateSnapshot(snap);
  ASSERT_EQ(snap.HavePodsWithAffinity().size(), 1u);
  EXPECT_EQ(snap.HavePodsWithAffinity()[0], snap.Get("n1"));
  ASSERT_TRUE(cache_.ForgetPod("ns/a").ok());
  cache_.UpdateSnapshot(snap);
  EXPECT_TRUE(snap.HavePodsWithAffinity().empty());
}

TEST_F(CacheTest, ImageStatesCountNodes) {
  ASSERT_TRUE(cache_.AddNode(Node(MakeNode("a").Image("nginx:1", 1000))).ok());
  ASSERT_TRUE(cache_.AddNode(Node(MakeNode("b").Image("nginx:1", 1000).Image("redis:7", 50))).ok());
  Snapshot snap;
  cache_.UpdateSnapshot(snap);
  const auto& states = snap.Get("b")->image_states();
  ASSERT_TRUE(states.contains("nginx:1"));
  EXPECT_EQ(states.at("nginx:1").num_nodes, 2);
  EXPECT_EQ(states.at("nginx:1").size_bytes, 1000);
  EXPECT_EQ(states.at("redis:7").num_nodes, 1);
}

TEST_F(CacheTest, PodsOfUnknownNodesWaitForTheNode) {
  ASSERT_TRUE(cache_.AddPod(MakePod("ns", "p").Req("1").Node("later").Info()).ok());
  Snapshot snap;
  cache_.UpdateSnapshot(snap);
  EXPECT_EQ(snap.NumNodes(), 0u);
  ASSERT_TRUE(cache_.AddNode(Node(MakeNode("later").Cpu("4"))).ok());
  cache_.UpdateSnapshot(snap);
  ASSERT_NE(snap.Get("later"), nullptr);
  EXPECT_EQ(snap.Get("later")->requested().milli_cpu, 1000);
  EXPECT_EQ(cache_.AddNode(Node(MakeNode("later"))).code(), absl::StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace korch::scheduler::internal
