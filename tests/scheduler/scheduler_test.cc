#include "korch/scheduler/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "scheduler/framework_runtime.h"
#include "tests/scheduler/runtime_test_plugins.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace korch::scheduler {
namespace {

using testing::BasicPlugins;
using ::testing::HasSubstr;
using testing::MakeNode;
using testing::MakePod;
using testing::TestProfile;

class RecordingObserver : public SchedulerObserver {
 public:
  void OnScheduled(const api::Pod& pod, const std::string& node) override {
    absl::MutexLock l(&mu_);
    scheduled_.push_back(pod.metadata().name() + "@" + node);
  }
  void OnFailed(const api::Pod& pod, const ScheduleResult& result,
                const absl::Status& status) override {
    absl::MutexLock l(&mu_);
    failed_.push_back(pod.metadata().name() + ": " +
                      (result.fit_error ? result.fit_error->Message() : status.ToString()));
  }
  std::vector<std::string> scheduled() {
    absl::MutexLock l(&mu_);
    return scheduled_;
  }
  std::vector<std::string> failed() {
    absl::MutexLock l(&mu_);
    return failed_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> scheduled_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> failed_ ABSL_GUARDED_BY(mu_);
};

// Binds through the cache-less path: fails the first `failures` binds.
class FlakyActions : public ClusterActions {
 public:
  explicit FlakyActions(int failures) : failures_(failures) {}
  absl::Status Bind(const api::Pod& pod, const std::string& node) override {
    if (failures_.fetch_sub(1) > 0) return absl::UnavailableError("apiserver is down");
    absl::MutexLock l(&mu_);
    bound_[pod.metadata().name()] = node;
    return absl::OkStatus();
  }
  absl::Status Evict(const api::Pod&, const std::string&) override { return absl::OkStatus(); }
  absl::Status SetNominatedNode(const api::Pod&, const std::string&) override {
    return absl::OkStatus();
  }
  std::map<std::string, std::string> bound() {
    absl::MutexLock l(&mu_);
    return bound_;
  }

 private:
  std::atomic<int> failures_;
  absl::Mutex mu_;
  std::map<std::string, std::string> bound_ ABSL_GUARDED_BY(mu_);
};

class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerTest() : registry_(testing::TestRegistry()) {}

  std::unique_ptr<Scheduler> Make(std::vector<Profile> profiles, int parallelism = 1,
                                  uint64_t seed = 1) {
    SchedulerOptions o;
    o.config.parallelism = parallelism;
    o.config.profiles = std::move(profiles);
    o.registry = &registry_;
    o.clock = &clock_;
    o.seed = seed;
    o.observer = &observer_;
    o.actions = actions_;
    o.async_binding = async_;
    auto s = Scheduler::Create(std::move(o));
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }
  std::unique_ptr<Scheduler> Basic(int parallelism = 1, uint64_t seed = 1) {
    return Make({TestProfile("default-scheduler", BasicPlugins())}, parallelism, seed);
  }

  Registry registry_;
  FakeClock clock_;
  RecordingObserver observer_;
  ClusterActions* actions_ = nullptr;
  bool async_ = false;
};

// Every cycle uses the workers, however small.
class ParallelScope {
 public:
  ParallelScope() : previous_(internal::SetMinParallelCallsForTest(0)) {}
  ~ParallelScope() { internal::SetMinParallelCallsForTest(previous_); }

 private:
  const int64_t previous_;
};

TEST_F(SchedulerTest, DirectModePlacesPodsAndCountsThem) {
  auto s = Basic();
  ASSERT_TRUE(s->AddNode(MakeNode("a").Cpu("1")).ok());
  ASSERT_TRUE(s->AddNode(MakeNode("b").Cpu("1")).ok());
  auto r1 = s->Schedule(MakePod("ns", "p1").Req("600m"));
  auto r2 = s->Schedule(MakePod("ns", "p2").Req("600m"));
  ASSERT_TRUE(r1.ok() && r2.ok());
  EXPECT_FALSE(r1->node_name.empty());
  EXPECT_FALSE(r2->node_name.empty());
  EXPECT_NE(r1->node_name, r2->node_name);
  EXPECT_EQ(s->NodeOf(MakePod("ns", "p1")), r1->node_name);
  auto r3 = s->Schedule(MakePod("ns", "p3").Req("600m"));
  ASSERT_TRUE(r3.ok());
  EXPECT_TRUE(r3->node_name.empty());
  ASSERT_TRUE(r3->fit_error.has_value());
  EXPECT_EQ(r3->fit_error->Message(), "0/2 nodes are available: 2 Insufficient cpu.");
  SchedulerStats st = s->Stats();
  EXPECT_EQ(st.scheduled, 2);
  EXPECT_EQ(st.failed, 1);
  EXPECT_EQ(st.pods, 2);
  EXPECT_EQ(st.assumed_pods, 0);  // bound in the cache
  EXPECT_THAT(observer_.scheduled(), ::testing::SizeIs(2));
}

TEST_F(SchedulerTest, FitErrorCountsNodesPerReason) {
  auto s = Basic();
  ASSERT_TRUE(s->AddNode(MakeNode("small").Cpu("100m")).ok());
  ASSERT_TRUE(s->AddNode(MakeNode("cordoned1").Cpu("8").Unschedulable()).ok());
  ASSERT_TRUE(s->AddNode(MakeNode("cordoned2").Cpu("8").Unschedulable()).ok());
  auto r = s->Schedule(MakePod("ns", "p").Req("1"));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->fit_error.has_value());
  EXPECT_EQ(r->fit_error->num_all_nodes, 3);
  EXPECT_EQ(r->fit_error->Message(),
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) were unschedulable.");
}

TEST_F(SchedulerTest, BoundPodsAndUnknownSchedulersAreFailedPrecondition) {
  auto s = Basic();
  ASSERT_TRUE(s->AddNode(MakeNode("a").Cpu("1")).ok());
  EXPECT_EQ(s->Schedule(MakePod("ns", "p").Node("a")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s->Schedule(MakePod("ns", "q").SchedulerName("other")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(s->Schedule(MakePod("ns", "r")).ok());
  EXPECT_EQ(s->Schedule(MakePod("ns", "r")).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s->Schedule(MakePod("ns", "bad").Req("lots")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SchedulerTest, ScheduleSharesThePodItIsGiven) {
  auto s = Basic();
  ASSERT_TRUE(s->AddNode(MakeNode("a").Cpu("1")).ok());
  auto pod = std::make_shared<const api::Pod>(MakePod("ns", "shared").Req("600m"));
  auto r = s->Schedule(pod);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->node_name, "a");
  // The cache holds the host's object (no copy) while the pod is placed.
  EXPECT_GT(pod.use_count(), 1);
  EXPECT_EQ(s->NodeOf(*pod), "a");
  // Placed once: the same pod again is refused, and so is no pod at all.
  EXPECT_EQ(s->Schedule(pod).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s->Schedule(std::shared_ptr<const api::Pod>()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SchedulerTest, UnknownPluginOrDuplicateProfileFailsCreate) {
  SchedulerOptions o;
  o.registry = &registry_;
  o.config.profiles = {TestProfile("a", {"PrioritySort", "DefaultBinder", "Nope"})};
  auto s = Scheduler::Create(o);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("plugin \"Nope\" does not exist"));
  o.config.profiles = {TestProfile("a", BasicPlugins()), TestProfile("a", BasicPlugins())};
  s = Scheduler::Create(o);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("Duplicate value"));
  o.config.profiles = {TestProfile("a", {"DefaultBinder"})};
  s = Scheduler::Create(o);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("queue sort"));
}

TEST_F(SchedulerTest, ProfilesAreChosenBySchedulerName) {
  std::vector<std::string> lenient = {"PrioritySort", "NodeResourcesFit", "DefaultBinder"};
  auto s =
      Make({TestProfile("default-scheduler", BasicPlugins()), TestProfile("lenient", lenient)});
  ASSERT_TRUE(s->AddNode(MakeNode("cordoned").Cpu("4").Unschedulable()).ok());
  auto strict = s->Schedule(MakePod("ns", "a"));
  ASSERT_TRUE(strict.ok());
  EXPECT_TRUE(strict->fit_error.has_value());
  auto relaxed = s->Schedule(MakePod("ns", "b").SchedulerName("lenient"));
  ASSERT_TRUE(relaxed.ok());
  EXPECT_EQ(relaxed->node_name, "cordoned");
}

TEST_F(SchedulerTest, QueuedModeSchedulesEverythingAndRetriesOnNodeAdd) {
  auto s = Basic();
  ASSERT_TRUE(s->AddNode(MakeNode("a").Cpu("2")).ok());
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(s->AddPod(MakePod("ns", "p" + std::to_string(i)).Req("1")).ok());
  EXPECT_EQ(s->Stats().active_pods, 3);
  EXPECT_EQ(s->RunUntilIdle(), 3);
  SchedulerStats st = s->Stats();
  EXPECT_EQ(st.scheduled, 2);
  EXPECT_EQ(st.unschedulable_pods, 1);
  // Nothing moves it back but an event.
  clock_.Advance(absl::Minutes(1));
  EXPECT_EQ(s->RunUntilIdle(), 0);
  ASSERT_TRUE(s->AddNode(MakeNode("b").Cpu("2")).ok());
  EXPECT_EQ(s->RunUntilIdle(), 1);
  EXPECT_EQ(s->Stats().scheduled, 3);
  EXPECT_EQ(s->NodeOf(MakePod("ns", "p2")), "b");
}

TEST_F(SchedulerTest, PodDeletionFreesRoomForAnUnschedulablePod) {
  auto s = Basic();
  ASSERT_TRUE(s->AddNode(MakeNode("a").Cpu("1")).ok());
  ASSERT_TRUE(s->AddPod(MakePod("ns", "old").Req("1").Node("a")).ok());
  ASSERT_TRUE(s->AddPod(MakePod("ns", "new").Req("1")).ok());
  s->RunUntilIdle();
  EXPECT_EQ(s->Stats().unschedulable_pods, 1);
  ASSERT_TRUE(s->RemovePod(MakePod("ns", "old")).ok());
  // Back off from the failed attempt first.
  EXPECT_EQ(s->Stats().backoff_pods, 1);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(s->RunUntilIdle(), 1);
  EXPECT_EQ(s->NodeOf(MakePod("ns", "new")), "a");
}

TEST_F(SchedulerTest, GatedPodsAreNotScheduledUntilUngated) {
  auto s = Basic();
  ASSERT_TRUE(s->AddNode(MakeNode("a").Cpu("1")).ok());
  ASSERT_TRUE(s->AddPod(MakePod("ns", "g").Gate("example.com/quota")).ok());
  EXPECT_EQ(s->Stats().gated_pods, 1);
  EXPECT_EQ(s->RunUntilIdle(), 0);
  ASSERT_TRUE(s->UpdatePod(MakePod("ns", "g")).ok());
  EXPECT_EQ(s->RunUntilIdle(), 1);
  EXPECT_EQ(s->NodeOf(MakePod("ns", "g")), "a");
}

TEST_F(SchedulerTest, AsyncBindingFailureUnreservesAndRetries) {
  FlakyActions actions(1);
  actions_ = &actions;
  async_ = true;
  auto s = Basic();
  ASSERT_TRUE(s->AddNode(MakeNode("a").Cpu("1")).ok());
  ASSERT_TRUE(s->AddPod(MakePod("ns", "p").Req("1")).ok());
  EXPECT_EQ(s->RunUntilIdle(), 1);
  s->WaitForBindings();
  EXPECT_EQ(s->NodeOf(MakePod("ns", "p")), "");  // forgotten
  EXPECT_EQ(s->Stats().backoff_pods, 1);
  EXPECT_THAT(observer_.failed(), ::testing::ElementsAre(HasSubstr("apiserver is down")));
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(s->RunUntilIdle(), 1);
  s->WaitForBindings();
  EXPECT_EQ(actions.bound().at("p"), "a");
  // Assumed until the host confirms the binding.
  EXPECT_EQ(s->Stats().assumed_pods, 1);
  ASSERT_TRUE(s->AddPod(MakePod("ns", "p").Req("1").Node("a")).ok());
  EXPECT_EQ(s->Stats().assumed_pods, 0);
  EXPECT_EQ(s->Stats().scheduled, 1);
}

TEST_F(SchedulerTest, SyncBindingFailureIsAnError) {
  FlakyActions actions(1);
  actions_ = &actions;
  auto s = Basic();
  ASSERT_TRUE(s->AddNode(MakeNode("a").Cpu("1")).ok());
  auto r = s->Schedule(MakePod("ns", "p").Req("1"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s->NodeOf(MakePod("ns", "p")), "");
  r = s->Schedule(MakePod("ns", "p").Req("1"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->node_name, "a");
}

std::vector<std::string> WithPermit() {
  std::vector<std::string> p = BasicPlugins();
  p.push_back("TestPermit");
  return p;
}

TEST_F(SchedulerTest, PermitWaitThenAllowBinds) {
  auto s = Make({TestProfile("default-scheduler", WithPermit())});
  ASSERT_TRUE(s->AddNode(MakeNode("a").Cpu("1")).ok());
  auto r = s->Schedule(MakePod("ns", "p").Req("1").Label("permit", "wait"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->node_name, "a");
  // Reserved: the node is full for others while the pod waits.
  auto other = s->Schedule(MakePod("ns", "q").Req("1"));
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->fit_error.has_value());
  Handle& h = testing::LastTestPermit().load()->handle();
  WaitingPod* w = h.GetWaitingPod("ns/p");
  ASSERT_NE(w, nullptr);
  EXPECT_THAT(w->PendingPlugins(), ::testing::ElementsAre("TestPermit"));
  EXPECT_EQ(w->node_name(), "a");
  EXPECT_TRUE(observer_.scheduled().empty());
  w->Allow("TestPermit");
  EXPECT_THAT(observer_.scheduled(), ::testing::ElementsAre("p@a"));
  EXPECT_EQ(h.GetWaitingPod("ns/p"), nullptr);
  EXPECT_EQ(s->Stats().assumed_pods, 0);
}

TEST_F(SchedulerTest, PermitRejectAndTimeoutUnreserve) {
  auto s = Make({TestProfile("default-scheduler", WithPermit())});
  ASSERT_TRUE(s->AddNode(MakeNode("a").Cpu("1")).ok());
  auto rejected = s->Schedule(MakePod("ns", "r").Req("1").Label("permit", "reject"));
  EXPECT_EQ(rejected.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(s->NodeOf(MakePod("ns", "r")), "");

  ASSERT_TRUE(
      s->AddPod(MakePod("ns", "w").Req("1").Label("permit", "wait").Label("permit-timeout", "5"))
          .ok());
  EXPECT_EQ(s->RunUntilIdle(), 1);
  EXPECT_EQ(s->NodeOf(MakePod("ns", "w")), "a");
  Handle& h = testing::LastTestPermit().load()->handle();
  WaitingPod* w = h.GetWaitingPod("ns/w");
  ASSERT_NE(w, nullptr);
  w->Reject("TestPermit", "not now");
  EXPECT_EQ(s->NodeOf(MakePod("ns", "w")), "");
  EXPECT_EQ(s->Stats().unschedulable_pods, 1);
  EXPECT_THAT(observer_.failed().back(), HasSubstr("not now"));

  // Retried (any event: its rejecting plugin is not in the event table).
  ASSERT_TRUE(s->AddNode(MakeNode("b").Cpu("1")).ok());
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(s->RunUntilIdle(), 1);
  ASSERT_NE(h.GetWaitingPod("ns/w"), nullptr);
  clock_.Advance(absl::Seconds(4));
  s->ScheduleNext();  // checks Permit timeouts
  ASSERT_NE(h.GetWaitingPod("ns/w"), nullptr);
  clock_.Advance(absl::Seconds(1));
  s->ScheduleNext();
  EXPECT_EQ(h.GetWaitingPod("ns/w"), nullptr);
  EXPECT_EQ(s->NodeOf(MakePod("ns", "w")), "");
  EXPECT_THAT(observer_.failed().back(),
              HasSubstr("rejected due to timeout after waiting 5s at plugin TestPermit"));
}

TEST_F(SchedulerTest, StopRejectsWaitingPods) {
  async_ = true;
  auto s = Make({TestProfile("default-scheduler", WithPermit())}, /*parallelism=*/2);
  ASSERT_TRUE(s->AddNode(MakeNode("a").Cpu("1")).ok());
  ASSERT_TRUE(s->Start().ok());
  ASSERT_TRUE(
      s->AddPod(MakePod("ns", "w").Label("permit", "wait").Label("permit-timeout", "60")).ok());
  ASSERT_TRUE(s->AddPod(MakePod("ns", "x")).ok());
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while ((s->NodeOf(MakePod("ns", "w")).empty() || s->NodeOf(MakePod("ns", "x")).empty()) &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_EQ(s->NodeOf(MakePod("ns", "w")), "a");
  s->WaitForBindings();
  EXPECT_EQ(s->Stats().scheduled, 1);
  s->Stop();
  s->Stop();
  EXPECT_EQ(s->NodeOf(MakePod("ns", "w")), "");
  EXPECT_EQ(s->NodeOf(MakePod("ns", "x")), "a");
  EXPECT_EQ(s->Stats().unschedulable_pods, 1);
  EXPECT_EQ(s->Start().code(), absl::StatusCode::kFailedPrecondition);
}

std::vector<std::string> Placements(Scheduler& s, int pods) {
  std::vector<std::string> out;
  for (int i = 0; i < pods; ++i) {
    auto r = s.Schedule(MakePod("ns", "p" + std::to_string(i)));
    out.push_back(r.ok() ? r->node_name : "error");
  }
  return out;
}

TEST_F(SchedulerTest, SeededTieBreakIsReproducible) {
  ParallelScope parallel;
  std::vector<std::string> no_score = {"PrioritySort", "NodeResourcesFit", "DefaultBinder"};
  auto make = [&](uint64_t seed, int parallelism) {
    auto s = Make({TestProfile("default-scheduler", no_score)}, parallelism, seed);
    for (int i = 0; i < 50; ++i)
      EXPECT_TRUE(s->AddNode(MakeNode("n" + std::to_string(i)).Cpu("4")).ok());
    return s;
  };
  auto a = make(42, 1);
  auto b = make(42, 3);
  auto c = make(7, 1);
  std::vector<std::string> pa = Placements(*a, 30);
  EXPECT_EQ(pa, Placements(*b, 30));
  EXPECT_NE(pa, Placements(*c, 30));
  // Ties are spread, not always the first node.
  std::set<std::string> distinct(pa.begin(), pa.end());
  EXPECT_GT(distinct.size(), 10u);
}

TEST_F(SchedulerTest, FindsOnlyAsManyFeasibleNodesAsThePercentageAsks) {
  ParallelScope parallel;
  for (int parallelism : {1, 4}) {
    auto s = Basic(parallelism);
    for (int i = 0; i < 1000; ++i)
      ASSERT_TRUE(s->AddNode(MakeNode("n" + std::to_string(i)).Cpu("4")).ok());
    for (int i = 0; i < 5; ++i) {
      auto r = s->Schedule(MakePod("ns", "p" + std::to_string(i)).Req("100m"));
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(r->feasible_nodes, 420) << parallelism;
      EXPECT_FALSE(r->node_name.empty());
    }
    // Exact when nothing fits: every node evaluated.
    auto r = s->Schedule(MakePod("ns", "huge").Req("5"));
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(r->fit_error.has_value());
    EXPECT_EQ(r->fit_error->Message(), "0/1000 nodes are available: 1000 Insufficient cpu.");
  }
}

TEST_F(SchedulerTest, ParallelFilteringAndScoringPicksTheBestNode) {
  ParallelScope parallel;
  auto s = Basic(/*parallelism=*/4);
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(s->AddNode(MakeNode("n" + std::to_string(i)).Cpu(i == 123 ? "64" : "4")).ok());
  }
  auto r = s->Schedule(MakePod("ns", "p").Req("1"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->node_name, "n123");  // most free cpu
}

TEST_F(SchedulerTest, EvaluateChangesNothingAndBatchSeesEarlierPlacements) {
  auto s = Basic();
  ASSERT_TRUE(s->AddNode(MakeNode("a").Cpu("1")).ok());
  auto e = s->Evaluate(MakePod("ns", "p").Req("1"));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->node_name, "a");
  EXPECT_EQ(s->NodeOf(MakePod("ns", "p")), "");
  std::vector<api::Pod> pods = {MakePod("ns", "x").Req("1"), MakePod("ns", "y").Req("1")};
  auto results = s->ScheduleBatch(pods);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0]->node_name, "a");
  EXPECT_TRUE(results[1]->fit_error.has_value());
}

TEST_F(SchedulerTest, PreFilterResultsAndRejections) {
  std::vector<std::string> plugins = BasicPlugins();
  plugins.push_back("TestPin");
  auto s = Make({TestProfile("default-scheduler", plugins)});
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(s->AddNode(MakeNode("n" + std::to_string(i)).Cpu("1")).ok());
  auto pinned = s->Schedule(MakePod("ns", "p").Req("1").Label("pin", "n3"));
  ASSERT_TRUE(pinned.ok());
  EXPECT_EQ(pinned->node_name, "n3");
  auto full = s->Schedule(MakePod("ns", "q").Req("1").Label("pin", "n3"));
  ASSERT_TRUE(full.ok());
  ASSERT_TRUE(full->fit_error.has_value());
  EXPECT_EQ(
      full->fit_error->Message(),
      "0/5 nodes are available: 1 Insufficient cpu, 4 node(s) didn't satisfy plugin TestPin.");
  auto rejected = s->Schedule(MakePod("ns", "r").Label("reject-prefilter", ""));
  ASSERT_TRUE(rejected.ok());
  ASSERT_TRUE(rejected->fit_error.has_value());
  EXPECT_EQ(rejected->fit_error->Message(), "0/5 nodes are available: pod asked to be rejected.");
  auto nowhere = s->Schedule(MakePod("ns", "s").Label("pin", "gone"));
  ASSERT_TRUE(nowhere.ok());
  EXPECT_EQ(nowhere->fit_error->Message(),
            "0/5 nodes are available: node(s) didn't satisfy plugin TestPin.");
}

TEST_F(SchedulerTest, APodGoesToItsNominatedNodeWhenItFits) {
  auto s = Basic();
  ASSERT_TRUE(s->AddNode(MakeNode("roomy").Cpu("8")).ok());
  ASSERT_TRUE(s->AddNode(MakeNode("nominated").Cpu("2")).ok());
  MakePod p("ns", "p");
  p.Req("1");
  p->mutable_status()->set_nominated_node_name("nominated");
  auto r = s->Schedule(p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->node_name, "nominated");
  EXPECT_EQ(r->evaluated_nodes, 1);
  // When it no longer fits there, the pod is scheduled as usual.
  MakePod q("ns", "q");
  q.Req("2");
  q->mutable_status()->set_nominated_node_name("nominated");
  r = s->Schedule(q);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->node_name, "roomy");
}

TEST_F(SchedulerTest, NominatedPodsOfHigherPriorityHoldTheirRoom) {
  auto s = Basic();
  ASSERT_TRUE(s->AddNode(MakeNode("a").Cpu("1")).ok());
  ASSERT_TRUE(s->AddNode(MakeNode("b").Cpu("1")).ok());
  MakePod preemptor("ns", "preemptor");
  preemptor.Req("800m").Priority(100).Gate("hold");  // stays out of the way
  preemptor->mutable_status()->set_nominated_node_name("a");
  ASSERT_TRUE(s->AddPod(preemptor).ok());
  for (int i = 0; i < 2; ++i) {
    auto r = s->Schedule(MakePod("ns", "low" + std::to_string(i)).Req("600m").Priority(1));
    ASSERT_TRUE(r.ok());
    if (i == 0) {
      EXPECT_EQ(r->node_name, "b");
    } else {
      EXPECT_TRUE(r->fit_error.has_value());
    }
  }
  // A pod of higher priority ignores the nomination.
  auto high = s->Schedule(MakePod("ns", "high").Req("600m").Priority(1000));
  ASSERT_TRUE(high.ok());
  EXPECT_EQ(high->node_name, "a");
}

}  // namespace
}  // namespace korch::scheduler

namespace korch::scheduler {
namespace {

TEST(DefaultProfileTest, InTreePluginsWithTheDefaultConfiguration) {
  FakeClock clock;
  SchedulerOptions o;
  o.clock = &clock;
  o.seed = 3;
  auto s = Scheduler::Create(std::move(o));
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->AddNode(MakeNode("small").Cpu("1").Memory("4Gi")).ok());
  ASSERT_TRUE(
      (*s)->AddNode(MakeNode("gpu").Cpu("8").Memory("32Gi").Taint("dedicated", "gpu", "NoSchedule"))
          .ok());
  ASSERT_TRUE((*s)->AddNode(MakeNode("big").Cpu("8").Memory("32Gi")).ok());
  auto r = (*s)->Schedule(MakePod("ns", "p").Req("2", "1Gi"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->node_name, "big");
  auto none = (*s)->Schedule(MakePod("ns", "q").Req("7", "1Gi"));
  ASSERT_TRUE(none.ok()) << none.status();
  ASSERT_TRUE(none->fit_error.has_value());
  EXPECT_THAT(none->fit_error->Message(),
              ::testing::StartsWith("0/3 nodes are available: 1 node(s) had untolerated taint "
                                    "{dedicated: gpu}, 2 Insufficient cpu."));
}

}  // namespace
}  // namespace korch::scheduler
