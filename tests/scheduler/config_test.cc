#include "korch/scheduler/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace korch::scheduler {
namespace {

using ::testing::HasSubstr;

TEST(ConfigTest, DefaultPluginsAreKubeV1MultiPointDefaults) {
  std::vector<std::string> got;
  for (const PluginRef& r : DefaultPlugins()) got.push_back(absl::StrCat(r.name, ":", r.weight));
  EXPECT_THAT(got, ::testing::ElementsAre(
                       "PrioritySort:0", "SchedulingGates:0", "NodeUnschedulable:0", "NodeName:0",
                       "TaintToleration:3", "NodeAffinity:2", "NodePorts:0", "NodeResourcesFit:1",
                       "PodTopologySpread:2", "InterPodAffinity:2", "DefaultPreemption:0",
                       "NodeResourcesBalancedAllocation:1", "ImageLocality:1", "DefaultBinder:0"));
}

TEST(ConfigTest, NumFeasibleNodesToFindLikeKube) {
  EXPECT_EQ(NumFeasibleNodesToFind(0, 50), 50);
  EXPECT_EQ(NumFeasibleNodesToFind(0, 100), 100);
  EXPECT_EQ(NumFeasibleNodesToFind(0, 500), 230);   // 46%
  EXPECT_EQ(NumFeasibleNodesToFind(0, 1000), 420);  // 42%
  EXPECT_EQ(NumFeasibleNodesToFind(0, 5000), 500);  // 10%
  EXPECT_EQ(NumFeasibleNodesToFind(0, 6000), 300);  // floor of 5%
  EXPECT_EQ(NumFeasibleNodesToFind(0, 15000), 750);
  EXPECT_EQ(NumFeasibleNodesToFind(10, 500), 100);  // at least 100
  EXPECT_EQ(NumFeasibleNodesToFind(30, 5000), 1500);
  EXPECT_EQ(NumFeasibleNodesToFind(100, 5000), 5000);
}

TEST(ConfigTest, ParsesYaml) {
  auto config = ParseSchedulerConfiguration(R"(
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
parallelism: 4
percentageOfNodesToScore: 30
podInitialBackoffSeconds: 2
podMaxBackoffSeconds: 20
leaderElection:
  leaderElect: true
profiles:
- schedulerName: default-scheduler
- schedulerName: bin-packing
  percentageOfNodesToScore: 100
  plugins:
    score:
      disabled:
      - name: NodeResourcesBalancedAllocation
      enabled:
      - name: NodeResourcesFit
        weight: 5
    multiPoint:
      disabled:
      - name: "*"
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->parallelism, 4);
  EXPECT_EQ(config->percentage_of_nodes_to_score, 30);
  EXPECT_EQ(config->pod_initial_backoff, absl::Seconds(2));
  EXPECT_EQ(config->pod_max_backoff, absl::Seconds(20));
  ASSERT_EQ(config->profiles.size(), 2u);
  EXPECT_EQ(config->profiles[0].scheduler_name, "default-scheduler");
  const Profile& p = config->profiles[1];
  EXPECT_EQ(p.scheduler_name, "bin-packing");
  EXPECT_EQ(p.percentage_of_nodes_to_score, 100);
  ASSERT_EQ(p.plugins.score.enabled.size(), 1u);
  EXPECT_EQ(p.plugins.score.enabled[0].name, "NodeResourcesFit");
  EXPECT_EQ(p.plugins.score.enabled[0].weight, 5);
  EXPECT_EQ(p.plugins.score.disabled[0].name, "NodeResourcesBalancedAllocation");
  EXPECT_EQ(p.plugins.multi_point.disabled[0].name, "*");
  ASSERT_EQ(p.plugin_config.size(), 1u);
  EXPECT_EQ(p.plugin_config[0].args_json, R"({"scoringStrategy":{"type":"MostAllocated"}})");
}

TEST(ConfigTest, ParsesJsonAndDefaults) {
  auto config = ParseSchedulerConfiguration(
      R"({"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration"})");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->parallelism, 16);
  EXPECT_EQ(config->pod_initial_backoff, absl::Seconds(1));
  EXPECT_EQ(config->pod_max_backoff, absl::Seconds(10));
  ASSERT_EQ(config->profiles.size(), 1u);
  EXPECT_EQ(config->profiles[0].scheduler_name, "default-scheduler");
}

std::string ErrorOf(const std::string& body) {
  auto config = ParseSchedulerConfiguration(
      "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n" + body);
  EXPECT_FALSE(config.ok());
  if (!config.ok()) {
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  }
  return config.ok() ? "" : std::string(config.status().message());
}

TEST(ConfigTest, ErrorsNameTheField) {
  EXPECT_EQ(ErrorOf(R"(
profiles:
- schedulerName: a
  plugins:
    score:
      enabled:
      - name: A
      - name: B
        wieght: 2
)"),
            "profiles[0].plugins.score.enabled[1].wieght: unknown field");
  EXPECT_THAT(ErrorOf("percentageOfNodesToScore: 120\n"),
              HasSubstr("percentageOfNodesToScore: Invalid value: 120"));
  EXPECT_THAT(ErrorOf("profiles:\n- schedulerName: a\n- schedulerName: a\n"),
              HasSubstr("profiles[1].schedulerName: Duplicate value: \"a\""));
  EXPECT_THAT(ErrorOf("profiles:\n- plugins: {}\n"),
              HasSubstr("profiles[0].schedulerName: Required value"));
  EXPECT_THAT(ErrorOf("extenders: []\n"), HasSubstr("extenders: not supported by korch"));
  EXPECT_THAT(ErrorOf("parallelism: many\n"), HasSubstr("parallelism: Invalid type"));
  EXPECT_THAT(ErrorOf("podInitialBackoffSeconds: 5\npodMaxBackoffSeconds: 2\n"),
              HasSubstr("podMaxBackoffSeconds"));
  EXPECT_THAT(ErrorOf("profiles:\n- schedulerName: a\n  pluginConfig:\n  - name: X\n  - name: X\n"),
              HasSubstr("profiles[0].pluginConfig[1].name: Duplicate value"));
  EXPECT_THAT(ErrorOf("parallelism: 1\nparallelism: 2\n"), HasSubstr("parallelism"));
}

TEST(ConfigTest, ChecksApiVersionAndKind) {
  auto config = ParseSchedulerConfiguration(
      "apiVersion: kubescheduler.config.k8s.io/v1beta3\nkind: KubeSchedulerConfiguration\n");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("apiVersion: Unsupported value"));
  config = ParseSchedulerConfiguration("apiVersion: kubescheduler.config.k8s.io/v1\nkind: Pod\n");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("kind: Unsupported value"));
  config = ParseSchedulerConfiguration("kind: KubeSchedulerConfiguration\n");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("apiVersion: Required value"));
}

}  // namespace
}  // namespace korch::scheduler
