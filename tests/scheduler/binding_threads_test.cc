// SchedulerOptions::binding_threads: binding cycles overlap, so a binder
// that waits (an API over a synced store) does not serialize bindings.
#include <algorithm>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "korch/scheduler/scheduler.h"
#include "tests/scheduler/runtime_test_plugins.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace korch::scheduler {
namespace {

using testing::MakeNode;
using testing::MakePod;

// Holds every Bind until `want` of them are in flight at once (or a
// bounded real-time wait passes), then lets them all return.
class GatheringActions final : public ClusterActions {
 public:
  GatheringActions(int want, absl::Duration timeout) : want_(want), timeout_(timeout) {}
  absl::Status Bind(const api::Pod&, const std::string&) override {
    absl::MutexLock l(&mu_);
    ++in_flight_;
    max_in_flight_ = std::max(max_in_flight_, in_flight_);
    auto gathered = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return max_in_flight_ >= want_; };
    mu_.AwaitWithTimeout(absl::Condition(&gathered), timeout_);
    --in_flight_;
    return absl::OkStatus();
  }
  absl::Status Evict(const api::Pod&, const std::string&) override { return absl::OkStatus(); }
  absl::Status SetNominatedNode(const api::Pod&, const std::string&) override {
    return absl::OkStatus();
  }
  int max_in_flight() {
    absl::MutexLock l(&mu_);
    return max_in_flight_;
  }

 private:
  const int want_;
  const absl::Duration timeout_;
  absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int max_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

std::unique_ptr<Scheduler> Make(const Registry& registry, ClusterActions* actions, int threads) {
  SchedulerOptions o;
  o.config.parallelism = 1;
  o.config.profiles = {testing::TestProfile("default-scheduler", testing::BasicPlugins())};
  o.registry = &registry;
  o.actions = actions;
  o.async_binding = true;
  o.binding_threads = threads;
  auto s = Scheduler::Create(std::move(o));
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

TEST(BindingThreadsTest, BindingsOverlapOnSeveralThreads) {
  Registry registry = testing::TestRegistry();
  GatheringActions actions(4, absl::Seconds(10));
  auto s = Make(registry, &actions, 4);
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->AddNode(MakeNode("a").Cpu("8")).ok());
  for (int i = 0; i < 4; ++i) {
    auto r = s->Schedule(MakePod("ns", absl::StrCat("p", i)).Req("100m"));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->node_name, "a");
  }
  s->WaitForBindings();
  EXPECT_EQ(actions.max_in_flight(), 4);
  s->Stop();
}

TEST(BindingThreadsTest, OneThreadBindsOneAtATime) {
  Registry registry = testing::TestRegistry();
  // Never gathers: each Bind waits out its (short) timeout alone.
  GatheringActions actions(2, absl::Milliseconds(50));
  auto s = Make(registry, &actions, 1);
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->AddNode(MakeNode("a").Cpu("8")).ok());
  ASSERT_TRUE(s->Schedule(MakePod("ns", "p0").Req("100m")).ok());
  ASSERT_TRUE(s->Schedule(MakePod("ns", "p1").Req("100m")).ok());
  s->Stop();  // finishes the bindings already started
  EXPECT_EQ(actions.max_in_flight(), 1);
}

TEST(BindingThreadsTest, ZeroThreadsIsInvalid) {
  Registry registry = testing::TestRegistry();
  SchedulerOptions o;
  o.config.profiles = {testing::TestProfile("default-scheduler", testing::BasicPlugins())};
  o.registry = &registry;
  o.async_binding = true;
  o.binding_threads = 0;
  auto s = Scheduler::Create(std::move(o));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace korch::scheduler
