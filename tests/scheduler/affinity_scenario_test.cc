// InterPodAffinity and PodTopologySpread through the real embedded
// Scheduler (a profile with only these two plugins plus the queue sort and
// binder, every node scored): anti-affinity spreads replicas one per node,
// affinity co-locates, zone spreading with maxSkew 1, minDomains, and the
// default spreading of a Service's pods.
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/scheduler/registry.h"
#include "korch/scheduler/scheduler.h"
#include "scheduler/plugins/plugins.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace korch::scheduler {
namespace {

using ::korch::scheduler::testing::MakeNode;
using ::korch::scheduler::testing::MakePod;
using ::testing::HasSubstr;

constexpr char kZone[] = "topology.kubernetes.io/zone";
constexpr char kHost[] = "kubernetes.io/hostname";

class AffinityScenarioTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(registry_.Register(names::kPrioritySort, plugins::NewPrioritySort).ok());
    ASSERT_TRUE(registry_.Register(names::kDefaultBinder, plugins::NewDefaultBinder).ok());
    ASSERT_TRUE(registry_.Register(names::kInterPodAffinity, plugins::NewInterPodAffinity).ok());
    ASSERT_TRUE(registry_.Register(names::kPodTopologySpread, plugins::NewPodTopologySpread).ok());
    SchedulerOptions options;
    options.config.parallelism = 2;
    options.config.percentage_of_nodes_to_score = 100;
    Profile& profile = options.config.profiles[0];
    profile.plugins.multi_point.disabled.push_back(PluginRef{"*", 0});
    for (absl::string_view name : {names::kPrioritySort, names::kDefaultBinder,
                                   names::kInterPodAffinity, names::kPodTopologySpread}) {
      profile.plugins.multi_point.enabled.push_back(PluginRef{std::string(name), 0});
    }
    options.registry = &registry_;
    options.seed = 7;
    auto s = Scheduler::Create(std::move(options));
    ASSERT_TRUE(s.ok()) << s.status();
    scheduler_ = std::move(*s);
  }

  // Schedules `pod`; the node name or "" with the failure message in `why`.
  std::string Place(const api::Pod& pod, std::string* why = nullptr) {
    auto r = scheduler_->Schedule(pod);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return "";
    if (r->node_name.empty() && why != nullptr && r->fit_error.has_value()) {
      *why = r->fit_error->Message();
    }
    return r->node_name;
  }

  Registry registry_;
  std::unique_ptr<Scheduler> scheduler_;
};

api::PodAffinityTerm Term(const std::string& key, const std::string& value,
                          const std::string& topology_key) {
  api::PodAffinityTerm t;
  (*t.mutable_label_selector()->mutable_match_labels())[key] = value;
  t.set_topology_key(topology_key);
  return t;
}

TEST_F(AffinityScenarioTest, AntiAffinitySpreadsReplicasOnePerNode) {
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(scheduler_->AddNode(MakeNode("n" + std::to_string(i))).ok());
  std::map<std::string, int> per_node;
  for (int i = 0; i < 6; ++i) {
    MakePod p("default", "web-" + std::to_string(i));
    p.Label("app", "web");
    *p->mutable_spec()
         ->mutable_affinity()
         ->mutable_pod_anti_affinity()
         ->add_required_during_scheduling_ignored_during_execution() = Term("app", "web", kHost);
    std::string why;
    const std::string node = Place(p, &why);
    if (i < 5) {
      ASSERT_FALSE(node.empty()) << why;
      ++per_node[node];
    } else {
      EXPECT_EQ(node, "");
      EXPECT_THAT(why, HasSubstr("0/5 nodes are available"));
      EXPECT_THAT(why, HasSubstr("node(s) didn't match pod anti-affinity rules"));
    }
  }
  EXPECT_EQ(per_node.size(), 5u);
}

TEST_F(AffinityScenarioTest, AffinityCoLocatesWithItsTarget) {
  const char* zones[] = {"a", "b", "c"};
  for (int i = 0; i < 9; ++i) {
    ASSERT_TRUE(
        scheduler_->AddNode(MakeNode("n" + std::to_string(i)).Label(kZone, zones[i % 3])).ok());
  }
  ASSERT_TRUE(scheduler_->AddPod(MakePod("default", "db").Label("app", "db").Node("n4")).ok());
  for (int i = 0; i < 6; ++i) {
    MakePod p("default", "web-" + std::to_string(i));
    *p->mutable_spec()
         ->mutable_affinity()
         ->mutable_pod_affinity()
         ->add_required_during_scheduling_ignored_during_execution() = Term("app", "db", kZone);
    const std::string node = Place(p);
    ASSERT_FALSE(node.empty());
    EXPECT_EQ(std::stoi(node.substr(1)) % 3, 1) << node << " is not in zone b";
  }
}

api::TopologySpreadConstraint& Spread(MakePod& p, int32_t max_skew, const std::string& key) {
  api::TopologySpreadConstraint* c = p->mutable_spec()->add_topology_spread_constraints();
  c->set_max_skew(max_skew);
  c->set_topology_key(key);
  c->set_when_unsatisfiable("DoNotSchedule");
  (*c->mutable_label_selector()->mutable_match_labels())["color"] = "blue";
  return *c;
}

TEST_F(AffinityScenarioTest, ZoneSpreadWithMaxSkewOne) {
  const char* zones[] = {"moon-1", "moon-2", "moon-3"};
  for (int i = 0; i < 9; ++i) {
    ASSERT_TRUE(
        scheduler_->AddNode(MakeNode("n" + std::to_string(i)).Label(kZone, zones[i % 3])).ok());
  }
  int per_zone[3] = {0, 0, 0};
  for (int i = 0; i < 12; ++i) {
    MakePod p("default", "blue-" + std::to_string(i));
    p.Label("color", "blue");
    Spread(p, 1, kZone);
    const std::string node = Place(p);
    ASSERT_FALSE(node.empty());
    ++per_zone[std::stoi(node.substr(1)) % 3];
    EXPECT_LE(std::max({per_zone[0], per_zone[1], per_zone[2]}) -
                  std::min({per_zone[0], per_zone[1], per_zone[2]}),
              1);
  }
  EXPECT_EQ(per_zone[0], 4);
  EXPECT_EQ(per_zone[1], 4);
  EXPECT_EQ(per_zone[2], 4);
}

TEST_F(AffinityScenarioTest, MinDomainsHoldsPodsUntilEnoughZonesExist) {
  ASSERT_TRUE(scheduler_->AddNode(MakeNode("n0").Label(kZone, "a")).ok());
  ASSERT_TRUE(scheduler_->AddNode(MakeNode("n1").Label(kZone, "b")).ok());
  auto pod = [](int i) {
    MakePod p("default", "blue-" + std::to_string(i));
    p.Label("color", "blue");
    Spread(p, 1, kZone).set_min_domains(3);
    return p;
  };
  // With two zones of the three wanted, the global minimum is 0: one pod
  // per zone, then no more.
  EXPECT_FALSE(Place(pod(0)).empty());
  EXPECT_FALSE(Place(pod(1)).empty());
  std::string why;
  EXPECT_EQ(Place(pod(2), &why), "");
  EXPECT_THAT(why, HasSubstr("node(s) didn't match pod topology spread constraints"));
  // A third zone lets spreading go on.
  ASSERT_TRUE(scheduler_->AddNode(MakeNode("n2").Label(kZone, "c")).ok());
  EXPECT_EQ(Place(pod(3)), "n2");
}

// Preferred affinity scores are cached per node across cycles: each
// placement must still follow the pods as they come, move and go.
TEST_F(AffinityScenarioTest, PreferredAffinityFollowsTheTargetAcrossCycles) {
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(
        scheduler_->AddNode(MakeNode("n" + std::to_string(i)).Label(kHost, "n" + std::to_string(i)))
            .ok());
  }
  int next = 0;
  auto follower = [&] {
    MakePod p("default", "follower-" + std::to_string(next++));
    api::WeightedPodAffinityTerm* w =
        p->mutable_spec()
            ->mutable_affinity()
            ->mutable_pod_affinity()
            ->add_preferred_during_scheduling_ignored_during_execution();
    w->set_weight(100);
    *w->mutable_pod_affinity_term() = Term("app", "db", kHost);
    return p;
  };
  // The same incoming pod shape each time (one cache entry), the target on
  // a different node each time.
  for (const char* target : {"n2", "n5", "n0"}) {
    MakePod db("default", std::string("db-") + target);
    db.Label("app", "db").Node(target);
    ASSERT_TRUE(scheduler_->AddPod(db).ok());
    for (int k = 0; k < 2; ++k) EXPECT_EQ(Place(follower()), target);
    ASSERT_TRUE(scheduler_->RemovePod(db).ok());
  }
  // A target added after the others left still attracts.
  MakePod db("default", "db-last");
  db.Label("app", "db").Node("n3");
  ASSERT_TRUE(scheduler_->AddPod(db).ok());
  EXPECT_EQ(Place(follower()), "n3");
}

// A pod with no terms of its own is drawn by an existing pod's preferred
// affinity for it (Kubernetes scores both directions). With the attracting
// pod on one node of eight, only the nodes holding pods with affinity are
// looked at; the placement must follow that pod as it moves.
TEST_F(AffinityScenarioTest, ExistingPodsPreferredTermsDrawPodsWithoutTerms) {
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(scheduler_
                    ->AddNode(MakeNode("n" + std::to_string(i))
                                  .Label(kHost, "n" + std::to_string(i))
                                  .Label(kZone, i < 4 ? "a" : "b"))
                    .ok());
  }
  auto magnet = [](const std::string& name, const std::string& node) {
    MakePod p("default", name);
    p.Node(node);
    api::WeightedPodAffinityTerm* w =
        p->mutable_spec()
            ->mutable_affinity()
            ->mutable_pod_affinity()
            ->add_preferred_during_scheduling_ignored_during_execution();
    w->set_weight(50);
    *w->mutable_pod_affinity_term() = Term("app", "web", kHost);
    return p;
  };
  int next = 0;
  auto web = [&] {
    MakePod p("default", "web-" + std::to_string(next++));
    p.Label("app", "web");
    return p;
  };
  for (const char* node : {"n5", "n2", "n7"}) {
    MakePod m = magnet(std::string("magnet-") + node, node);
    ASSERT_TRUE(scheduler_->AddPod(m).ok());
    for (int k = 0; k < 2; ++k) EXPECT_EQ(Place(web()), node);
    ASSERT_TRUE(scheduler_->RemovePod(m).ok());
  }
}

TEST_F(AffinityScenarioTest, DefaultSpreadingOfAServicesPods) {
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(
        scheduler_->AddNode(MakeNode("n" + std::to_string(i)).Label(kZone, i < 2 ? "a" : "b"))
            .ok());
  }
  api::Service svc;
  svc.mutable_metadata()->set_namespace_("default");
  svc.mutable_metadata()->set_name("web");
  (*svc.mutable_spec()->mutable_selector())["app"] = "web";
  ASSERT_TRUE(scheduler_->UpsertService(svc).ok());
  std::map<std::string, int> per_node;
  for (int i = 0; i < 8; ++i) {
    const std::string node =
        Place(MakePod("default", "web-" + std::to_string(i)).Label("app", "web"));
    ASSERT_FALSE(node.empty());
    ++per_node[node];
  }
  // System default constraints (hostname maxSkew 3, zone maxSkew 5,
  // ScheduleAnyway) score emptier nodes higher: two pods per node.
  for (const auto& [node, n] : per_node) EXPECT_EQ(n, 2) << node;
  EXPECT_EQ(per_node.size(), 4u);
}

}  // namespace
}  // namespace korch::scheduler
