#include "korch/scheduler/api_scheduler.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/coordination.pb.h"
#include "korch/api/core.pb.h"
#include "korch/apiserver/server.h"
#include "korch/client/client.h"
#include "korch/scheduler/registry.h"
#include "korch/store.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace korch::scheduler {
namespace {

using ::korch::scheduler::testing::MakeNode;
using ::korch::scheduler::testing::MakePod;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(20);
constexpr char kNs[] = "default";

// Polls `done` (real time) until it holds or `timeout` passes.
template <typename F>
bool WaitUntil(F done, absl::Duration timeout = kWait) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

const api::PodCondition* Condition(const api::Pod& pod, absl::string_view type) {
  for (const api::PodCondition& c : pod.status().conditions()) {
    if (c.type() == type) return &c;
  }
  return nullptr;
}

class ApiSchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto storage = store::OpenMemoryStorage();
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
    apiserver::ApiServerOptions options;
    options.storage = storage_.get();
    auto server = apiserver::ApiServer::Create(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client_ = client::NewInProcessClient(*server_, apiserver::SystemUser());
  }

  void TearDown() override {
    for (auto& s : schedulers_) s->Stop();
    schedulers_.clear();
  }

  // Short backoffs so that retries in the tests take milliseconds.
  ApiSchedulerOptions Options() {
    ApiSchedulerOptions options;
    options.client = client_.get();
    options.config.parallelism = 2;
    options.config.percentage_of_nodes_to_score = 100;
    options.config.pod_initial_backoff = absl::Milliseconds(10);
    options.config.pod_max_backoff = absl::Milliseconds(50);
    options.seed = 1;
    options.cache_sync_timeout = kWait;
    return options;
  }

  ApiScheduler* StartScheduler(ApiSchedulerOptions options) {
    auto created = ApiScheduler::Create(std::move(options));
    EXPECT_TRUE(created.ok()) << created.status();
    if (!created.ok()) return nullptr;
    absl::Status started = (*created)->Start();
    EXPECT_TRUE(started.ok()) << started;
    schedulers_.push_back(*std::move(created));
    return schedulers_.back().get();
  }

  void CreateNode(api::Node node) {
    node.mutable_metadata()->clear_uid();
    auto created = client_->Create(node);
    ASSERT_TRUE(created.ok()) << created.status();
  }
  void CreatePod(api::Pod pod) {
    pod.mutable_metadata()->clear_uid();
    auto created = client_->Create(pod);
    ASSERT_TRUE(created.ok()) << created.status();
  }

  std::shared_ptr<const api::Pod> GetPod(const std::string& name) {
    auto got = client_->Get<api::Pod>(kNs, name);
    return got.ok() ? *got : nullptr;
  }
  std::string NodeOf(const std::string& name) {
    auto pod = GetPod(name);
    return pod == nullptr ? "" : pod->spec().node_name();
  }
  bool Bound(const std::string& name) { return !NodeOf(name).empty(); }

  // Events about pod `name` with `reason`.
  std::vector<api::Event> Events(const std::string& name, const std::string& reason) {
    std::vector<api::Event> out;
    auto list = client_->List(client_->KindOf<api::Event>(), kNs);
    if (!list.ok()) return out;
    for (const auto& item : list->items) {
      const auto& e = static_cast<const api::Event&>(*item);
      if (e.involved_object().name() == name && e.reason() == reason) out.push_back(e);
    }
    return out;
  }

  std::unique_ptr<store::Storage> storage_;
  std::unique_ptr<apiserver::ApiServer> server_;
  std::unique_ptr<client::Client> client_;
  std::vector<std::unique_ptr<ApiScheduler>> schedulers_;
};

TEST_F(ApiSchedulerTest, CreateNeedsAClient) {
  ApiSchedulerOptions options;
  auto created = ApiScheduler::Create(std::move(options));
  EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(created.status().message(), HasSubstr("client"));
}

TEST_F(ApiSchedulerTest, CreateRejectsABadLeaderElectionBlock) {
  ApiSchedulerOptions options = Options();
  options.config_text = R"(apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: true
  leaseDuration: soon
)";
  auto created = ApiScheduler::Create(std::move(options));
  EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(created.status().message(), HasSubstr("leaderElection.leaseDuration"));
}

TEST_F(ApiSchedulerTest, BindsPodsAndRecordsScheduledEvents) {
  for (int i = 0; i < 3; ++i) CreateNode(MakeNode(absl::StrCat("node-", i)).Cpu("4").Memory("8Gi"));
  ApiScheduler* scheduler = StartScheduler(Options());
  ASSERT_NE(scheduler, nullptr);
  EXPECT_TRUE(scheduler->IsLeader());
  for (int i = 0; i < 6; ++i) CreatePod(MakePod(kNs, absl::StrCat("web-", i)).Req("500m", "1Gi"));

  for (int i = 0; i < 6; ++i) {
    const std::string name = absl::StrCat("web-", i);
    ASSERT_TRUE(WaitUntil([&] { return Bound(name); })) << name << " was not bound";
    auto pod = GetPod(name);
    const api::PodCondition* scheduled = Condition(*pod, "PodScheduled");
    ASSERT_NE(scheduled, nullptr);
    EXPECT_EQ(scheduled->status(), "True");
  }
  ASSERT_TRUE(scheduler->WaitForWrites(kWait));
  for (int i = 0; i < 6; ++i) {
    const std::string name = absl::StrCat("web-", i);
    std::vector<api::Event> events = Events(name, "Scheduled");
    ASSERT_EQ(events.size(), 1u) << name;
    EXPECT_EQ(events[0].message(),
              absl::StrCat("Successfully assigned default/", name, " to ", NodeOf(name)));
    EXPECT_EQ(events[0].type(), "Normal");
    EXPECT_EQ(events[0].source().component(), "default-scheduler");
  }
  ApiSchedulerStats stats = scheduler->Stats();
  EXPECT_EQ(stats.bindings, 6);
  EXPECT_EQ(stats.binding_failures, 0);
  // Two pods per node: LeastAllocated spreads them.
  for (int i = 0; i < 3; ++i) {
    int on_node = 0;
    for (int j = 0; j < 6; ++j)
      on_node += NodeOf(absl::StrCat("web-", j)) == absl::StrCat("node-", i);
    EXPECT_EQ(on_node, 2) << "node-" << i;
  }
}

TEST_F(ApiSchedulerTest, UnschedulablePodGetsConditionAndEventUntilANodeFits) {
  CreateNode(MakeNode("small").Cpu("1").Memory("4Gi"));
  ApiScheduler* scheduler = StartScheduler(Options());
  ASSERT_NE(scheduler, nullptr);
  CreatePod(MakePod(kNs, "big").Req("2", "1Gi"));

  // Kubernetes' words, with DefaultPreemption's finding after them.
  const std::string want =
      "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No "
      "preemption victims found for incoming pod..";
  ASSERT_TRUE(WaitUntil([&] {
    auto pod = GetPod("big");
    const api::PodCondition* c = pod == nullptr ? nullptr : Condition(*pod, "PodScheduled");
    return c != nullptr && c->status() == "False";
  }));
  auto pod = GetPod("big");
  const api::PodCondition* c = Condition(*pod, "PodScheduled");
  EXPECT_EQ(c->reason(), "Unschedulable");
  EXPECT_EQ(c->message(), want);
  EXPECT_TRUE(pod->spec().node_name().empty());
  ASSERT_TRUE(WaitUntil([&] { return !Events("big", "FailedScheduling").empty(); }));
  std::vector<api::Event> failed = Events("big", "FailedScheduling");
  EXPECT_EQ(failed[0].message(), want);
  EXPECT_EQ(failed[0].type(), "Warning");

  // A node that fits moves the pod back to the active queue.
  CreateNode(MakeNode("large").Cpu("8").Memory("16Gi"));
  ASSERT_TRUE(WaitUntil([&] { return NodeOf("big") == "large"; }));
  auto bound = GetPod("big");
  EXPECT_EQ(Condition(*bound, "PodScheduled")->status(), "True");
  ASSERT_TRUE(WaitUntil([&] { return !Events("big", "Scheduled").empty(); }));
}

TEST_F(ApiSchedulerTest, RepeatedFailuresCountOnOneEvent) {
  CreateNode(MakeNode("small").Cpu("1").Memory("4Gi"));
  ApiScheduler* scheduler = StartScheduler(Options());
  ASSERT_NE(scheduler, nullptr);
  CreatePod(MakePod(kNs, "big").Req("2", "1Gi"));
  ASSERT_TRUE(WaitUntil([&] { return !Events("big", "FailedScheduling").empty(); }));

  // More cpu, still not enough: the pod is tried again and fails the same
  // way; the event's count goes up instead of a second event appearing.
  auto node = client_->Get<api::Node>("", "small");
  ASSERT_TRUE(node.ok()) << node.status();
  api::Node bigger = **node;
  (*bigger.mutable_status()->mutable_allocatable())["cpu"] = "1500m";
  (*bigger.mutable_status()->mutable_capacity())["cpu"] = "1500m";
  client::UpdateOptions status;
  status.subresource = "status";
  ASSERT_TRUE(client_->Update(bigger, status).ok());
  ASSERT_TRUE(WaitUntil([&] {
    std::vector<api::Event> events = Events("big", "FailedScheduling");
    return events.size() == 1 && events[0].count() >= 2;
  })) << "FailedScheduling events: "
      << Events("big", "FailedScheduling").size();
}

TEST_F(ApiSchedulerTest, LeavesOtherSchedulersAndTerminatingPodsAlone) {
  CreateNode(MakeNode("node-0").Cpu("4").Memory("8Gi"));
  // A pod being deleted (held by a finalizer) before the scheduler starts.
  api::Pod held = MakePod(kNs, "held").Req("100m");
  held.mutable_metadata()->add_finalizers("example.com/hold");
  CreatePod(held);
  ASSERT_TRUE(client_->Delete(client_->KindOf<api::Pod>(), kNs, "held").ok());
  ASSERT_TRUE(GetPod("held")->metadata().has_deletion_timestamp());

  ApiScheduler* scheduler = StartScheduler(Options());
  ASSERT_NE(scheduler, nullptr);
  CreatePod(MakePod(kNs, "other").Req("100m").SchedulerName("other-scheduler"));
  CreatePod(MakePod(kNs, "mine").Req("100m"));
  ASSERT_TRUE(WaitUntil([&] { return Bound("mine"); }));
  ASSERT_TRUE(scheduler->WaitForWrites(kWait));
  EXPECT_FALSE(Bound("other"));
  EXPECT_FALSE(Bound("held"));
  EXPECT_EQ(Condition(*GetPod("other"), "PodScheduled"), nullptr);
  EXPECT_TRUE(Events("other", "FailedScheduling").empty());
  EXPECT_EQ(scheduler->Stats().bindings, 1);
}

TEST_F(ApiSchedulerTest, CountsPodsBoundByOthers) {
  CreateNode(MakeNode("node-0").Cpu("2").Memory("8Gi"));
  // Someone else bound a pod that uses the whole node.
  CreatePod(MakePod(kNs, "elsewhere").Req("2").Node("node-0"));
  ApiScheduler* scheduler = StartScheduler(Options());
  ASSERT_NE(scheduler, nullptr);
  CreatePod(MakePod(kNs, "late").Req("1"));
  ASSERT_TRUE(WaitUntil([&] {
    auto pod = GetPod("late");
    const api::PodCondition* c = pod == nullptr ? nullptr : Condition(*pod, "PodScheduled");
    return c != nullptr && c->status() == "False";
  }));
  EXPECT_THAT(Condition(*GetPod("late"), "PodScheduled")->message(),
              ::testing::StartsWith("0/1 nodes are available: 1 Insufficient cpu."));
  // Its deletion frees the node (grace period 0: gone at once).
  client::DeleteOptions now;
  now.grace_period_seconds = 0;
  ASSERT_TRUE(client_->Delete(client_->KindOf<api::Pod>(), kNs, "elsewhere", now).ok());
  ASSERT_TRUE(WaitUntil([&] { return NodeOf("late") == "node-0"; }));
}

// A PreBind plugin that binds the pod to another node through the API
// first, as a competing scheduler would, so that the scheduler's own
// binding conflicts.
class BindRacer final : public PreBindPlugin {
 public:
  BindRacer(client::Client& client, std::string node) : client_(client), node_(std::move(node)) {}
  absl::string_view Name() const override { return "BindRacer"; }
  PluginStatus PreBind(CycleState&, const PodInfo& pod, const std::string&) override {
    api::Binding b;
    b.mutable_metadata()->set_namespace_(pod.pod().metadata().namespace_());
    b.mutable_metadata()->set_name(pod.pod().metadata().name());
    b.mutable_target()->set_kind("Node");
    b.mutable_target()->set_name(node_);
    client::CreateOptions co;
    co.subresource = "binding";
    (void)client_.Create(client_.KindOf<api::Pod>(), b, co);
    return PluginStatus();
  }

 private:
  client::Client& client_;
  std::string node_;
};

TEST_F(ApiSchedulerTest, ABindingConflictLeavesThePodWhereTheOtherBinderPutIt) {
  CreateNode(MakeNode("chosen").Cpu("8").Memory("16Gi"));
  // Only "chosen" is schedulable; the racer binds to "taken".
  CreateNode(MakeNode("taken").Cpu("8").Memory("16Gi").Unschedulable());
  Registry registry = NewInTreeRegistry();
  ASSERT_TRUE(
      registry
          .Register("BindRacer",
                    [this](absl::string_view, Handle&) -> absl::StatusOr<std::unique_ptr<Plugin>> {
                      return std::make_unique<BindRacer>(*client_, "taken");
                    })
          .ok());
  ApiSchedulerOptions options = Options();
  options.registry = &registry;
  options.config.profiles[0].plugins.pre_bind.enabled.push_back(PluginRef{"BindRacer", 0});
  ApiScheduler* scheduler = StartScheduler(std::move(options));
  ASSERT_NE(scheduler, nullptr);
  CreatePod(MakePod(kNs, "raced").Req("1"));

  ASSERT_TRUE(WaitUntil([&] { return scheduler->Stats().binding_failures == 1; }));
  EXPECT_EQ(NodeOf("raced"), "taken");
  // The scheduler's cache follows the API: the pod counts on "taken".
  ASSERT_TRUE(
      WaitUntil([&] { return scheduler->scheduler().NodeOf(*GetPod("raced")) == "taken"; }));
  ASSERT_TRUE(scheduler->WaitForWrites(kWait));
  // The pod stays scheduled: no PodScheduled=False over the binding's True.
  EXPECT_EQ(Condition(*GetPod("raced"), "PodScheduled")->status(), "True");
  EXPECT_EQ(scheduler->Stats().bindings, 0);
  // And the scheduler goes on scheduling.
  CreatePod(MakePod(kNs, "next").Req("1"));
  ASSERT_TRUE(WaitUntil([&] { return Bound("next"); }));
}

TEST_F(ApiSchedulerTest, OnlyTheLeaderBindsAndAnotherTakesOverWhenItStops) {
  for (int i = 0; i < 2; ++i)
    CreateNode(MakeNode(absl::StrCat("node-", i)).Cpu("8").Memory("16Gi"));
  auto options = [&](const std::string& identity) {
    ApiSchedulerOptions o = Options();
    o.identity = identity;
    o.leader_election.enabled = true;
    o.leader_election.lease_duration = absl::Seconds(3);
    o.leader_election.renew_deadline = absl::Seconds(2);
    o.leader_election.retry_period = absl::Milliseconds(50);
    return o;
  };
  ApiScheduler* a = StartScheduler(options("replica-a"));
  ApiScheduler* b = StartScheduler(options("replica-b"));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return a->IsLeader() || b->IsLeader(); }));
  ApiScheduler* leader = a->IsLeader() ? a : b;
  ApiScheduler* follower = leader == a ? b : a;
  EXPECT_FALSE(follower->IsLeader());
  auto lease = client_->Get<api::Lease>("kube-system", "kube-scheduler");
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ((*lease)->spec().holder_identity(), leader->identity());

  for (int i = 0; i < 4; ++i) CreatePod(MakePod(kNs, absl::StrCat("first-", i)).Req("100m"));
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(WaitUntil([&] { return Bound(absl::StrCat("first-", i)); }));
  }
  // (The counter moves once the binding call returned.)
  ASSERT_TRUE(WaitUntil([&] { return leader->Stats().bindings == 4; }));
  EXPECT_EQ(follower->Stats().bindings, 0);
  // The follower's cache is current: it knows the bound pods.
  ASSERT_TRUE(WaitUntil([&] { return follower->scheduler().Stats().pods == 4; }));

  leader->Stop();
  ASSERT_TRUE(WaitUntil([&] { return follower->IsLeader(); }));
  for (int i = 0; i < 4; ++i) CreatePod(MakePod(kNs, absl::StrCat("second-", i)).Req("100m"));
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(WaitUntil([&] { return Bound(absl::StrCat("second-", i)); }));
  }
  ASSERT_TRUE(WaitUntil([&] { return follower->Stats().bindings == 4; }));
  EXPECT_EQ(leader->Stats().bindings, 4);
}

TEST_F(ApiSchedulerTest, SchedulesAgainAfterLosingAndRegainingTheLease) {
  CreateNode(MakeNode("node-0").Cpu("8").Memory("16Gi"));
  ApiSchedulerOptions options = Options();
  options.identity = "replica";
  options.leader_election.enabled = true;
  options.leader_election.lease_duration = absl::Seconds(2);
  options.leader_election.renew_deadline = absl::Seconds(1);
  options.leader_election.retry_period = absl::Milliseconds(50);
  ApiScheduler* scheduler = StartScheduler(std::move(options));
  ASSERT_NE(scheduler, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return scheduler->IsLeader(); }));
  CreatePod(MakePod(kNs, "before").Req("100m"));
  ASSERT_TRUE(WaitUntil([&] { return Bound("before"); }));

  // Another holder takes the lease (and never renews it): this replica
  // stops scheduling, then takes the lease back when it expires.
  // (The replica renews every 50 ms: retry on write conflicts.)
  bool taken = false;
  for (int attempt = 0; attempt < 100 && !taken; ++attempt) {
    auto lease = client_->Get<api::Lease>("kube-system", "kube-scheduler");
    ASSERT_TRUE(lease.ok()) << lease.status();
    api::Lease intruder = **lease;
    intruder.mutable_spec()->set_holder_identity("intruder");
    intruder.mutable_spec()->set_lease_duration_seconds(1);
    taken = client_->Update(intruder).ok();
  }
  ASSERT_TRUE(taken);
  ASSERT_TRUE(WaitUntil([&] { return !scheduler->IsLeader(); }));
  ASSERT_TRUE(WaitUntil([&] { return scheduler->IsLeader(); }));

  // The new term's scheduler knows the cluster: the node, and the pod
  // already bound.
  EXPECT_EQ(scheduler->scheduler().NodeOf(*GetPod("before")), "node-0");
  CreatePod(MakePod(kNs, "after").Req("100m"));
  ASSERT_TRUE(WaitUntil([&] { return Bound("after"); }));
  ASSERT_TRUE(WaitUntil([&] { return scheduler->Stats().bindings == 2; }));
}

TEST_F(ApiSchedulerTest, LeaderElectionFromTheConfigurationFile) {
  CreateNode(MakeNode("node-0").Cpu("8").Memory("16Gi"));
  ApiSchedulerOptions options = Options();
  options.identity = "from-config";
  options.config_text = R"(apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 100
leaderElection:
  leaderElect: true
  resourceName: my-scheduler
  resourceNamespace: default
  leaseDuration: 3s
  renewDeadline: 2s
  retryPeriod: 100ms
)";
  ApiScheduler* scheduler = StartScheduler(std::move(options));
  ASSERT_NE(scheduler, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return scheduler->IsLeader(); }));
  auto lease = client_->Get<api::Lease>("default", "my-scheduler");
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ((*lease)->spec().holder_identity(), "from-config");
  CreatePod(MakePod(kNs, "p").Req("100m"));
  ASSERT_TRUE(WaitUntil([&] { return Bound("p"); }));
}

TEST_F(ApiSchedulerTest, PreemptionDeletesVictimsAndNominatesTheNode) {
  if (NewInTreeRegistry().Find(names::kDefaultPreemption) == nullptr) {
    GTEST_SKIP() << "DefaultPreemption is not registered yet";
  }
  CreateNode(MakeNode("node-0").Cpu("2").Memory("8Gi"));
  api::Pod victim = MakePod(kNs, "victim").Req("2").Priority(0);
  victim.mutable_spec()->set_termination_grace_period_seconds(0);
  CreatePod(victim);
  ApiScheduler* scheduler = StartScheduler(Options());
  ASSERT_NE(scheduler, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return NodeOf("victim") == "node-0"; }));

  CreatePod(MakePod(kNs, "urgent").Req("2").Priority(1000));
  ASSERT_TRUE(WaitUntil([&] { return GetPod("victim") == nullptr; })) << "victim not deleted";
  ASSERT_TRUE(WaitUntil([&] { return NodeOf("urgent") == "node-0"; }));
  EXPECT_EQ(scheduler->Stats().evictions, 1);
  // One status write nominates the preemptor (not one from the plugin and
  // another from the scheduler).
  EXPECT_EQ(scheduler->Stats().nominations, 1);
  ASSERT_TRUE(scheduler->WaitForWrites(kWait));
  EXPECT_FALSE(Events("victim", "Preempted").empty());
  std::vector<api::Event> failed = Events("urgent", "FailedScheduling");
  ASSERT_FALSE(failed.empty());
  EXPECT_THAT(failed[0].message(), HasSubstr("0/1 nodes are available"));
}

}  // namespace
}  // namespace korch::scheduler
