#include "korch/scheduler/types.h"

#include <memory>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/codec.h"
#include "korch/scheduler/framework.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace korch::scheduler {
namespace {

api::Pod PodFromJson(const std::string& json) {
  api::Pod pod;
  auto status = api::DecodeJson(json, &pod);
  EXPECT_TRUE(status.ok()) << status;
  return pod;
}

TEST(PodInfoTest, RequestsSumContainersAndTakeTheLargestInitContainer) {
  api::Pod pod = PodFromJson(R"({"apiVersion":"v1","kind":"Pod",
    "metadata":{"name":"p","namespace":"ns","uid":"u1"},
    "spec":{"containers":[
      {"name":"a","image":"nginx","resources":{"requests":{"cpu":"500m","memory":"1Gi"}}},
      {"name":"b","image":"redis","resources":{"requests":{"cpu":"250m","example.com/gpu":"2"}}}],
     "initContainers":[
      {"name":"init","image":"busybox","resources":{"requests":{"cpu":"2","memory":"128Mi"}}}],
     "overhead":{"cpu":"100m"}}})");
  auto info = PodInfo::Create(pod);
  ASSERT_TRUE(info.ok()) << info.status();
  // max(750m, 2000m) + 100m overhead.
  EXPECT_EQ((*info)->requests().milli_cpu, 2100);
  EXPECT_EQ((*info)->requests().memory, int64_t{1} << 30);
  EXPECT_EQ((*info)->requests().scalar.at("example.com/gpu"), 2);
  EXPECT_EQ((*info)->requests().allowed_pod_number, 1);
  EXPECT_EQ((*info)->key(), "ns/p");
  EXPECT_EQ((*info)->scheduler_name(), "default-scheduler");
  EXPECT_THAT((*info)->images(), ::testing::ElementsAre("busybox", "nginx", "redis"));
}

TEST(PodInfoTest, SidecarsRunAlongsideAppContainers) {
  api::Pod pod = PodFromJson(R"({"apiVersion":"v1","kind":"Pod",
    "metadata":{"name":"p","namespace":"ns"},
    "spec":{"containers":[{"name":"a","image":"x","resources":{"requests":{"cpu":"1"}}}],
     "initContainers":[
      {"name":"side","image":"y","restartPolicy":"Always","resources":{"requests":{"cpu":"300m"}}},
      {"name":"init","image":"z","resources":{"requests":{"cpu":"1200m"}}}]}})");
  auto info = PodInfo::Create(pod);
  ASSERT_TRUE(info.ok()) << info.status();
  // Running: 1000m + 300m sidecar; init peak: 300m + 1200m = 1500m.
  EXPECT_EQ((*info)->requests().milli_cpu, 1500);
}

TEST(PodInfoTest, NonZeroDefaultsApplyToContainersWithoutRequests) {
  api::Pod pod = PodFromJson(R"({"apiVersion":"v1","kind":"Pod",
    "metadata":{"name":"p","namespace":"ns"},
    "spec":{"containers":[{"name":"a","image":"x"},
      {"name":"b","image":"x","resources":{"requests":{"cpu":"1"}}}]}})");
  auto info = PodInfo::Create(pod);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ((*info)->requests().milli_cpu, 1000);
  EXPECT_EQ((*info)->non_zero_milli_cpu(), 1100);
  EXPECT_EQ((*info)->non_zero_memory(), 2 * 200 * 1024 * 1024);
}

TEST(PodInfoTest, BadQuantityNamesTheField) {
  api::Pod pod;
  pod.mutable_metadata()->set_name("p");
  auto* c = pod.mutable_spec()->add_containers();
  c->set_name("a");
  (*c->mutable_resources()->mutable_requests())["cpu"] = "lots";
  auto info = PodInfo::Create(pod);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(info.status().message(),
              ::testing::HasSubstr("spec.containers[0].resources.requests"));
  EXPECT_THAT(info.status().message(), ::testing::HasSubstr("cpu"));
}

TEST(PodInfoTest, AffinityTermsDefaultToThePodsNamespaceAndUseMatchLabelKeys) {
  api::Pod pod = PodFromJson(R"({"apiVersion":"v1","kind":"Pod",
    "metadata":{"name":"p","namespace":"ns","labels":{"app":"web","rev":"7"}},
    "spec":{"containers":[{"name":"a","image":"x"}],
     "affinity":{"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[
       {"labelSelector":{"matchLabels":{"app":"web"}},"topologyKey":"kubernetes.io/hostname",
        "matchLabelKeys":["rev"]}]}}}})");
  auto info = PodInfo::Create(pod);
  ASSERT_TRUE(info.ok()) << info.status();
  ASSERT_EQ((*info)->required_anti_affinity().size(), 1u);
  const AffinityTerm& term = (*info)->required_anti_affinity()[0];
  EXPECT_EQ(term.topology_key, "kubernetes.io/hostname");
  EXPECT_TRUE(term.Matches(pod, nullptr));
  api::Pod other = pod;
  (*other.mutable_metadata()->mutable_labels())["rev"] = "8";
  EXPECT_FALSE(term.Matches(other, nullptr)) << "matchLabelKeys pins rev=7";
  api::Pod elsewhere = pod;
  elsewhere.mutable_metadata()->set_namespace_("other");
  EXPECT_FALSE(term.Matches(elsewhere, nullptr));
  EXPECT_TRUE((*info)->has_required_anti_affinity());
}

TEST(NodeInfoTest, AddAndRemovePodsKeepAggregates) {
  auto node = std::make_shared<api::Node>();
  node->mutable_metadata()->set_name("n1");
  (*node->mutable_status()->mutable_allocatable())["cpu"] = "4";
  (*node->mutable_status()->mutable_allocatable())["memory"] = "8Gi";
  (*node->mutable_status()->mutable_allocatable())["pods"] = "110";
  NodeInfo info(node);
  EXPECT_EQ(info.allocatable().milli_cpu, 4000);
  EXPECT_EQ(info.allocatable().allowed_pod_number, 110);

  api::Pod pod = PodFromJson(R"({"apiVersion":"v1","kind":"Pod",
    "metadata":{"name":"p","namespace":"ns","uid":"u1"},
    "spec":{"nodeName":"n1","containers":[{"name":"a","image":"x",
      "ports":[{"containerPort":80,"hostPort":8080}],
      "resources":{"requests":{"cpu":"1","memory":"1Gi"}}}]}})");
  auto pi = PodInfo::Create(pod);
  ASSERT_TRUE(pi.ok());
  int64_t generation = info.generation();
  info.AddPod(*pi);
  EXPECT_GT(info.generation(), generation);
  EXPECT_EQ(info.requested().milli_cpu, 1000);
  EXPECT_EQ(info.requested().allowed_pod_number, 1);
  ASSERT_EQ(info.used_ports().size(), 1u);
  EXPECT_EQ(info.used_ports()[0].port, 8080);
  EXPECT_EQ(info.used_ports()[0].ip, "0.0.0.0");

  ASSERT_TRUE(info.RemovePod(**pi).ok());
  EXPECT_EQ(info.requested(), Resource());
  EXPECT_TRUE(info.used_ports().empty());
  EXPECT_TRUE(info.pods().empty());
  EXPECT_EQ(info.RemovePod(**pi).code(), absl::StatusCode::kNotFound);
}

TEST(HostPortTest, WildcardIpConflictsWithEveryIp) {
  HostPort any{"0.0.0.0", "TCP", 80};
  HostPort local{"127.0.0.1", "TCP", 80};
  HostPort other{"10.0.0.1", "TCP", 80};
  HostPort udp{"0.0.0.0", "UDP", 80};
  EXPECT_TRUE(Conflicts(any, local));
  EXPECT_FALSE(Conflicts(local, other));
  EXPECT_FALSE(Conflicts(any, udp));
}

TEST(SnapshotTest, ListsNodesAndThoseWithAffinityPods) {
  auto node = std::make_shared<api::Node>();
  node->mutable_metadata()->set_name("n1");
  auto info = std::make_shared<NodeInfo>(node);
  auto orphan = std::make_shared<NodeInfo>();  // pods bound to an unknown node
  Snapshot snapshot({info, orphan});
  EXPECT_EQ(snapshot.NumNodes(), 1u);
  EXPECT_EQ(snapshot.Get("n1"), info.get());
  EXPECT_EQ(snapshot.Get("n2"), nullptr);
  EXPECT_TRUE(snapshot.HavePodsWithAffinity().empty());
}

}  // namespace
}  // namespace korch::scheduler

namespace korch::scheduler {
namespace {

TEST(TestUtilTest, BuildersProduceDigestablePodsAndNodes) {
  auto node = testing::MakeNode("n1").Cpu("2").Memory("4Gi").Taint("k", "v", "NoSchedule").Info();
  EXPECT_EQ(node->allocatable().milli_cpu, 2000);
  EXPECT_EQ(node->taints().size(), 1u);
  auto pod = testing::MakePod("ns", "p").Req("250m", "64Mi").HostPort(80).Priority(5).Info();
  ASSERT_NE(pod, nullptr);
  EXPECT_EQ(pod->requests().milli_cpu, 250);
  EXPECT_EQ(pod->priority(), 5);
  EXPECT_EQ(pod->host_ports().size(), 1u);
}

}  // namespace
}  // namespace korch::scheduler

namespace korch::scheduler {
namespace {

// Plugins return copies of shared rejection statuses: a copy that changes
// (a second reason, the framework naming the plugin) must not change the
// status it was copied from, nor the other way round.
TEST(PluginStatusTest, CopiesShareUntilOneChanges) {
  const PluginStatus shared = PluginStatus::Unschedulable("Insufficient cpu");
  PluginStatus a = shared;
  PluginStatus b = shared;
  a.AddReason("Insufficient memory");
  b.set_plugin("NodeResourcesFit");
  EXPECT_THAT(shared.reasons(), ::testing::ElementsAre("Insufficient cpu"));
  EXPECT_EQ(shared.plugin(), "");
  EXPECT_THAT(a.reasons(), ::testing::ElementsAre("Insufficient cpu", "Insufficient memory"));
  EXPECT_EQ(a.plugin(), "");
  EXPECT_THAT(b.reasons(), ::testing::ElementsAre("Insufficient cpu"));
  EXPECT_EQ(b.plugin(), "NodeResourcesFit");
  EXPECT_EQ(a.ToString(), "Unschedulable: Insufficient cpu, Insufficient memory");
  PluginStatus ok;
  EXPECT_TRUE(ok.ok());
  EXPECT_TRUE(ok.reasons().empty());
  EXPECT_EQ(ok.plugin(), "");
  ok = a;
  EXPECT_EQ(ok.code(), Code::kUnschedulable);
  EXPECT_EQ(ok.reasons().size(), 2u);
}

}  // namespace
}  // namespace korch::scheduler
