#include "scheduler/queue.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "korch/scheduler/registry.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace korch::scheduler::internal {
namespace {

using testing::MakePod;

class QueueTest : public ::testing::Test {
 protected:
  QueueTest() {
    // PrioritySort's and SchedulingGates' rules (the plugins themselves are
    // exercised through the Scheduler).
    QueueOptions o;
    o.clock = &clock_;
    o.less = [](const QueuedPodInfo& a, const QueuedPodInfo& b) {
      int32_t pa = a.pod_info->priority();
      int32_t pb = b.pod_info->priority();
      return pa > pb || (pa == pb && a.timestamp < b.timestamp);
    };
    o.pre_enqueue = [](const PodInfo& p) {
      return p.pod().spec().scheduling_gates().empty() ? PluginStatus()
                                                       : PluginStatus(Code::kPending, "gated");
    };
    queue_ = std::make_unique<SchedulingQueue>(std::move(o));
  }

  std::string PopName() {
    std::unique_ptr<QueuedPodInfo> q = queue_->Pop();
    if (q == nullptr) return "";
    popped_.push_back(std::move(q));
    return popped_.back()->pod_info->pod().metadata().name();
  }
  std::unique_ptr<QueuedPodInfo> Popped(size_t i) { return std::move(popped_[i]); }

  FakeClock clock_;
  std::unique_ptr<SchedulingQueue> queue_;
  std::vector<std::unique_ptr<QueuedPodInfo>> popped_;
};

TEST_F(QueueTest, HigherPriorityFirstThenArrival) {
  queue_->Add(MakePod("ns", "low").Priority(1).Info());
  clock_.Advance(absl::Milliseconds(1));
  queue_->Add(MakePod("ns", "high").Priority(10).Info());
  clock_.Advance(absl::Milliseconds(1));
  queue_->Add(MakePod("ns", "low2").Priority(1).Info());
  clock_.Advance(absl::Milliseconds(1));
  queue_->Add(MakePod("ns", "high2").Priority(10).Info());
  EXPECT_EQ(PopName(), "high");
  EXPECT_EQ(PopName(), "high2");
  EXPECT_EQ(PopName(), "low");
  EXPECT_EQ(PopName(), "low2");
  EXPECT_EQ(PopName(), "");
}

TEST_F(QueueTest, ErrorsBackOffDoublingToTheMaximum) {
  EXPECT_EQ(queue_->BackoffFor(1), absl::Seconds(1));
  EXPECT_EQ(queue_->BackoffFor(2), absl::Seconds(2));
  EXPECT_EQ(queue_->BackoffFor(4), absl::Seconds(8));
  EXPECT_EQ(queue_->BackoffFor(5), absl::Seconds(10));
  EXPECT_EQ(queue_->BackoffFor(50), absl::Seconds(10));

  queue_->Add(MakePod("ns", "p").Info());
  for (int attempt = 1; attempt <= 5; ++attempt) {
    ASSERT_EQ(PopName(), "p") << attempt;
    queue_->AddUnschedulable(Popped(attempt - 1), /*error=*/true);
    EXPECT_EQ(queue_->GetCounts().backoff, 1);
    absl::Duration backoff = queue_->BackoffFor(attempt);
    clock_.Advance(backoff - absl::Milliseconds(1));
    EXPECT_EQ(PopName(), "") << attempt;
    clock_.Advance(absl::Milliseconds(1));
  }
  EXPECT_EQ(PopName(), "p");
}

TEST_F(QueueTest, UnschedulablePodsMoveOnlyOnEventsTheirPluginsCareAbout) {
  queue_->Add(MakePod("ns", "fit").Info());
  queue_->Add(MakePod("ns", "affinity").Info());
  ASSERT_EQ(PopName(), "fit");
  ASSERT_EQ(PopName(), "affinity");
  auto fit = Popped(0);
  fit->unschedulable_plugins.insert(std::string(names::kNodeResourcesFit));
  auto affinity = Popped(1);
  affinity->unschedulable_plugins.insert(std::string(names::kNodeAffinity));
  queue_->AddUnschedulable(std::move(fit), false);
  queue_->AddUnschedulable(std::move(affinity), false);
  EXPECT_EQ(queue_->GetCounts().unschedulable, 2);

  // A pod going away frees resources but changes no node's labels.
  queue_->MoveAllToActiveOrBackoff(kAssignedPodDelete);
  EXPECT_EQ(queue_->GetCounts().unschedulable, 1);
  // Still backing off from the first attempt.
  EXPECT_EQ(queue_->GetCounts().backoff, 1);
  EXPECT_EQ(PopName(), "");
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(PopName(), "fit");

  queue_->MoveAllToActiveOrBackoff(kNodeUpdate);
  EXPECT_EQ(queue_->GetCounts().unschedulable, 0);
  EXPECT_EQ(PopName(), "affinity");
}

TEST_F(QueueTest, AnEventWhileInFlightSendsARejectedPodToBackoff) {
  queue_->Add(MakePod("ns", "p").Info());
  ASSERT_EQ(PopName(), "p");
  queue_->MoveAllToActiveOrBackoff(kNodeAdd);
  auto p = Popped(0);
  p->unschedulable_plugins.insert(std::string(names::kNodeResourcesFit));
  queue_->AddUnschedulable(std::move(p), false);
  SchedulingQueue::Counts c = queue_->GetCounts();
  EXPECT_EQ(c.unschedulable, 0);
  EXPECT_EQ(c.backoff, 1);
}

TEST_F(QueueTest, GatedPodsWaitForTheirGatesToBeRemoved) {
  queue_->Add(MakePod("ns", "gated").Gate("example.com/wait").Info());
  EXPECT_EQ(queue_->GetCounts().gated, 1);
  EXPECT_EQ(PopName(), "");
  // Events do not release a gated pod.
  queue_->MoveAllToActiveOrBackoff(kAllEvents);
  EXPECT_EQ(PopName(), "");
  queue_->Update(MakePod("ns", "gated").Info());
  EXPECT_EQ(queue_->GetCounts().gated, 0);
  EXPECT_EQ(PopName(), "gated");
}

TEST_F(QueueTest, DeletedWhileInFlightIsNotRequeued) {
  queue_->Add(MakePod("ns", "p").Info());
  ASSERT_EQ(PopName(), "p");
  queue_->Delete("ns/p");
  queue_->AddUnschedulable(Popped(0), true);
  SchedulingQueue::Counts c = queue_->GetCounts();
  EXPECT_EQ(c.backoff + c.active + c.unschedulable + c.in_flight, 0);
  EXPECT_FALSE(queue_->Contains("ns/p"));
}

TEST_F(QueueTest, PopWaitReturnsWhenAPodArrivesOrOnClose) {
  std::thread t([&] {
    std::unique_ptr<QueuedPodInfo> q = queue_->PopWait(absl::InfiniteFuture());
    EXPECT_NE(q, nullptr);
    EXPECT_EQ(queue_->PopWait(absl::InfiniteFuture()), nullptr);  // closed
  });
  queue_->Add(MakePod("ns", "p").Info());
  // The second PopWait returns once closed.
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (queue_->GetCounts().in_flight == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  queue_->Close();
  t.join();
}

TEST(NominatorTest, TracksPodsPerNode) {
  Nominator n;
  EXPECT_TRUE(n.empty());
  n.Add(MakePod("ns", "a").Info(), "n1");
  n.Add(MakePod("ns", "b").Info(), "n1");
  EXPECT_EQ(n.ForNode("n1").size(), 2u);
  n.Add(MakePod("ns", "a").Info(), "n2");
  EXPECT_EQ(n.ForNode("n1").size(), 1u);
  EXPECT_EQ(n.NodeOf("ns/a"), "n2");
  n.Delete("ns/a");
  n.Delete("ns/b");
  EXPECT_TRUE(n.empty());
  EXPECT_TRUE(n.ForNode("n1").empty());
}

}  // namespace
}  // namespace korch::scheduler::internal
