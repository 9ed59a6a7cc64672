#include "korch/client/leader_election.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "korch/api/coordination.pb.h"
#include "korch/api/core.pb.h"
#include "korch/apiserver/server.h"
#include "korch/base/clock.h"
#include "korch/client/client.h"
#include "korch/store.h"

namespace korch::client {
namespace {

constexpr char kNamespace[] = "default";
constexpr char kLease[] = "controller";

// Spins until `done` holds. The real-time bound only turns a hang into a
// failure; no test relies on real time passing.
::testing::AssertionResult Eventually(const std::function<bool()>& done) {
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (!done()) {
    if (absl::Now() > give_up) return ::testing::AssertionFailure() << "condition never held";
    absl::SleepFor(absl::Microseconds(50));  // a poll interval, not a timing assumption
  }
  return ::testing::AssertionSuccess();
}

// A client whose requests fail while `fail` is set, like one cut off from
// the API server: the only way to make a leader's renewals fail while the
// server stays up for the other candidates.
class CutOffClient final : public Client {
 public:
  explicit CutOffClient(Client& inner) : inner_(inner) {}

  std::atomic<bool> fail{false};

  const api::Scheme& scheme() const override { return inner_.scheme(); }
  absl::StatusOr<std::shared_ptr<const google::protobuf::Message>> Get(
      const api::KindInfo& kind, absl::string_view ns, absl::string_view name,
      const GetOptions& options) override {
    if (fail) return Refused();
    return inner_.Get(kind, ns, name, options);
  }
  absl::StatusOr<ListResult> List(const api::KindInfo& kind, absl::string_view ns,
                                  const ListOptions& options) override {
    if (fail) return Refused();
    return inner_.List(kind, ns, options);
  }
  absl::StatusOr<std::unique_ptr<WatchStream>> Watch(const api::KindInfo& kind,
                                                     absl::string_view ns,
                                                     const WatchOptions& options) override {
    if (fail) return Refused();
    return inner_.Watch(kind, ns, options);
  }
  absl::StatusOr<std::shared_ptr<const google::protobuf::Message>> Create(
      const api::KindInfo& kind, const google::protobuf::Message& object,
      const CreateOptions& options) override {
    if (fail) return Refused();
    return inner_.Create(kind, object, options);
  }
  absl::StatusOr<std::shared_ptr<const google::protobuf::Message>> Update(
      const api::KindInfo& kind, const google::protobuf::Message& object,
      const UpdateOptions& options) override {
    if (fail) return Refused();
    return inner_.Update(kind, object, options);
  }
  absl::StatusOr<std::shared_ptr<const google::protobuf::Message>> Patch(
      const api::KindInfo& kind, absl::string_view ns, absl::string_view name, PatchType type,
      absl::string_view patch, const PatchOptions& options) override {
    if (fail) return Refused();
    return inner_.Patch(kind, ns, name, type, patch, options);
  }
  absl::StatusOr<DeleteResult> Delete(const api::KindInfo& kind, absl::string_view ns,
                                      absl::string_view name,
                                      const DeleteOptions& options) override {
    if (fail) return Refused();
    return inner_.Delete(kind, ns, name, options);
  }
  absl::StatusOr<ListResult> DeleteCollection(const api::KindInfo& kind, absl::string_view ns,
                                              const ListOptions& selection,
                                              const DeleteOptions& options) override {
    if (fail) return Refused();
    return inner_.DeleteCollection(kind, ns, selection, options);
  }

 private:
  static absl::Status Refused() { return absl::UnavailableError("connection refused"); }
  Client& inner_;
};

// One candidate and what its callbacks saw.
struct Candidate {
  std::unique_ptr<LeaderElector> elector;
  std::atomic<int> started{0};
  std::atomic<int> stopped{0};
  absl::Mutex mu;
  std::vector<std::string> new_leaders ABSL_GUARDED_BY(mu);

  std::vector<std::string> NewLeaders() {
    absl::MutexLock l(&mu);
    return new_leaders;
  }
};

class LeaderElectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto storage = store::OpenMemoryStorage();
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
    apiserver::ApiServerOptions options;
    options.storage = storage_.get();
    // The server keeps its own time: lease expiry must depend only on the
    // candidates' clock.
    options.clock = &server_clock_;
    auto server = apiserver::ApiServer::Create(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client_ = NewInProcessClient(*server_, apiserver::SystemUser());

    auto ns = client_->Get<api::Namespace>("", kNamespace);
    if (absl::IsNotFound(ns.status())) {
      api::Namespace create;
      create.mutable_metadata()->set_name(kNamespace);
      ASSERT_TRUE(client_->Create(create).ok());
    } else {
      ASSERT_TRUE(ns.ok()) << ns.status();
    }
  }

  void TearDown() override {
    for (auto& c : candidates_) c->elector->Stop();
  }

  LeaderElectionOptions Options(absl::string_view identity) {
    LeaderElectionOptions options;
    options.lease_namespace = kNamespace;
    options.lease_name = kLease;
    options.identity = std::string(identity);
    options.clock = &clock_;
    return options;
  }

  // Makes a candidate (not started) whose callbacks record into it; its
  // leader work waits for the end of the term.
  Candidate& Add(absl::string_view identity, Client* client = nullptr,
                 std::function<void(LeaderElectionOptions&)> tweak = nullptr) {
    auto candidate = std::make_unique<Candidate>();
    Candidate* c = candidate.get();
    LeaderElectionOptions options = Options(identity);
    options.on_started_leading = [c](const LeadershipContext& context) {
      ++c->started;
      context.Wait();
    };
    options.on_stopped_leading = [c] { ++c->stopped; };
    options.on_new_leader = [c](absl::string_view leader) {
      absl::MutexLock l(&c->mu);
      c->new_leaders.emplace_back(leader);
    };
    if (tweak) tweak(options);
    auto elector = LeaderElector::Create(client != nullptr ? *client : *client_, options);
    EXPECT_TRUE(elector.ok()) << elector.status();
    c->elector = *std::move(elector);
    candidates_.push_back(std::move(candidate));
    return *c;
  }

  // Waits until every candidate has reacted to the current time: each is
  // asleep until a later time (or finished).
  void Settle() {
    ASSERT_TRUE(Eventually([&] {
      const absl::Time now = clock_.Now();
      for (auto& c : candidates_) {
        if (c->elector->NextWakeupForTest() <= now) return false;
      }
      return true;
    }));
  }

  void Step(absl::Duration d = absl::Seconds(1)) {
    clock_.Advance(d);
    Settle();
  }

  std::vector<Candidate*> Leaders() {
    std::vector<Candidate*> leaders;
    for (auto& c : candidates_) {
      if (c->elector->IsLeader()) leaders.push_back(c.get());
    }
    return leaders;
  }

  api::Lease GetLease() {
    auto lease = client_->Get<api::Lease>(kNamespace, kLease);
    EXPECT_TRUE(lease.ok()) << lease.status();
    return lease.ok() ? **lease : api::Lease();
  }

  // Starts three candidates and returns the one that leads.
  Candidate* StartThree(std::function<void(LeaderElectionOptions&)> tweak = nullptr) {
    for (const char* id : {"a", "b", "c"}) {
      EXPECT_TRUE(Add(id, nullptr, tweak).elector->Start().ok());
    }
    Settle();
    std::vector<Candidate*> leaders = Leaders();
    EXPECT_EQ(leaders.size(), 1u);
    return leaders.empty() ? nullptr : leaders[0];
  }

  FakeClock server_clock_;
  FakeClock clock_;
  std::unique_ptr<store::Storage> storage_;
  std::unique_ptr<apiserver::ApiServer> server_;
  std::unique_ptr<Client> client_;
  std::vector<std::unique_ptr<Candidate>> candidates_;
};

TEST_F(LeaderElectionTest, ExactlyOneOfThreeLeads) {
  Candidate* leader = StartThree();
  ASSERT_NE(leader, nullptr);
  const std::string id = leader->elector->identity();

  api::Lease lease = GetLease();
  EXPECT_EQ(lease.spec().holder_identity(), id);
  EXPECT_EQ(lease.spec().lease_duration_seconds(), 15);
  EXPECT_EQ(lease.spec().lease_transitions(), 0);
  EXPECT_TRUE(lease.spec().has_acquire_time());
  // What kubectl shows: MicroTime with six fractional digits.
  auto json = client_->GetJson(client_->KindOf<api::Lease>(), kNamespace, kLease);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_NE(json->find(absl::StrCat("\"holderIdentity\":\"", id, "\"")), std::string::npos)
      << *json;
  EXPECT_NE(json->find("\"renewTime\":\"2023-11-14T22:13:20.000000Z\""), std::string::npos)
      << *json;

  // A minute of renewals: the same single leader throughout.
  for (int i = 0; i < 60; ++i) {
    Step();
    std::vector<Candidate*> leaders = Leaders();
    ASSERT_EQ(leaders.size(), 1u) << "at second " << i + 1;
    ASSERT_EQ(leaders[0], leader);
  }
  lease = GetLease();
  EXPECT_EQ(lease.spec().holder_identity(), id);
  EXPECT_EQ(lease.spec().lease_transitions(), 0);
  EXPECT_EQ(absl::FromUnixSeconds(lease.spec().renew_time().seconds()), clock_.Now());

  ASSERT_TRUE(Eventually([&] { return leader->started == 1; }));
  for (auto& c : candidates_) {
    EXPECT_EQ(c->elector->GetLeader(), id);
    EXPECT_EQ(c->NewLeaders(), std::vector<std::string>{id});
    if (c.get() != leader) {
      EXPECT_EQ(c->started, 0);
    }
    EXPECT_EQ(c->stopped, 0);
  }
}

TEST_F(LeaderElectionTest, TakeoverWaitsForTheLeaseDurationWhenTheLeaderDoesNotRelease) {
  Candidate* old_leader = StartThree();
  ASSERT_NE(old_leader, nullptr);
  const std::string old_id = old_leader->elector->identity();
  for (int i = 0; i < 10; ++i) Step();

  // The leader renewed at this very moment; then it goes away silently.
  const absl::Time stopped_at = clock_.Now();
  old_leader->elector->Stop();
  EXPECT_FALSE(old_leader->elector->IsLeader());
  EXPECT_EQ(old_leader->started, 1);
  EXPECT_EQ(old_leader->stopped, 1);
  EXPECT_EQ(GetLease().spec().holder_identity(), old_id);

  Candidate* new_leader = nullptr;
  for (int i = 0; i < 30 && new_leader == nullptr; ++i) {
    Step();
    std::vector<Candidate*> leaders = Leaders();
    ASSERT_LE(leaders.size(), 1u);
    if (!leaders.empty()) new_leader = leaders[0];
  }
  ASSERT_NE(new_leader, nullptr);
  const absl::Duration waited = clock_.Now() - stopped_at;
  EXPECT_GE(waited, absl::Seconds(15));
  // Observed at the next retry at the latest, taken at the retry after expiry.
  EXPECT_LE(waited, absl::Seconds(15 + 2 + 2));

  const std::string new_id = new_leader->elector->identity();
  EXPECT_NE(new_id, old_id);
  api::Lease lease = GetLease();
  EXPECT_EQ(lease.spec().holder_identity(), new_id);
  EXPECT_EQ(lease.spec().lease_transitions(), 1);
  EXPECT_EQ(absl::FromUnixSeconds(lease.spec().acquire_time().seconds()), clock_.Now());
  ASSERT_TRUE(Eventually([&] { return new_leader->started == 1; }));

  // A candidate that lost the race for the expired lease sees the winner at
  // its next retry.
  for (int i = 0; i < 2; ++i) {
    Step();
    ASSERT_EQ(Leaders(), std::vector<Candidate*>{new_leader});
  }
  for (auto& c : candidates_) {
    if (c.get() == old_leader) {
      EXPECT_EQ(c->NewLeaders(), std::vector<std::string>{old_id});
    } else {
      EXPECT_EQ(c->NewLeaders(), (std::vector<std::string>{old_id, new_id}));
      EXPECT_EQ(c->elector->GetLeader(), new_id);
    }
  }
}

TEST_F(LeaderElectionTest, ReleaseOnCancelHandsOverAtTheNextRetry) {
  Candidate* old_leader = StartThree([](LeaderElectionOptions& o) { o.release_on_cancel = true; });
  ASSERT_NE(old_leader, nullptr);
  for (int i = 0; i < 5; ++i) Step();

  old_leader->elector->Stop();
  EXPECT_EQ(old_leader->stopped, 1);
  api::Lease lease = GetLease();
  EXPECT_EQ(lease.spec().holder_identity(), "");
  EXPECT_EQ(lease.spec().lease_duration_seconds(), 1);
  EXPECT_EQ(lease.spec().lease_transitions(), 0);
  EXPECT_EQ(old_leader->elector->GetLeader(), "");

  // Every candidate tries again within one retry period.
  Settle();
  Step();
  Step();
  std::vector<Candidate*> leaders = Leaders();
  ASSERT_EQ(leaders.size(), 1u);
  EXPECT_NE(leaders[0], old_leader);
  lease = GetLease();
  EXPECT_EQ(lease.spec().holder_identity(), leaders[0]->elector->identity());
  EXPECT_EQ(lease.spec().lease_duration_seconds(), 15);
  EXPECT_EQ(lease.spec().lease_transitions(), 1);
}

TEST_F(LeaderElectionTest, LeaderStepsDownWhenAnotherHolderReplacesTheLease) {
  Candidate& a = Add("a");
  ASSERT_TRUE(a.elector->Start().ok());
  Settle();
  ASSERT_TRUE(a.elector->IsLeader());
  ASSERT_TRUE(Eventually([&] { return a.started == 1; }));

  // Someone deletes the lease and recreates it holding it themselves.
  ASSERT_TRUE(client_->Delete(client_->KindOf<api::Lease>(), kNamespace, kLease).ok());
  api::Lease intruder;
  intruder.mutable_metadata()->set_namespace_(kNamespace);
  intruder.mutable_metadata()->set_name(kLease);
  intruder.mutable_spec()->set_holder_identity("intruder");
  intruder.mutable_spec()->set_lease_duration_seconds(15);
  intruder.mutable_spec()->mutable_renew_time()->set_seconds(absl::ToUnixSeconds(clock_.Now()));
  intruder.mutable_spec()->set_lease_transitions(0);
  ASSERT_TRUE(client_->Create(intruder).ok());

  // The next renewal sees it.
  Step();
  Step();
  EXPECT_FALSE(a.elector->IsLeader());
  EXPECT_EQ(a.stopped, 1);
  EXPECT_EQ(a.elector->GetLeader(), "intruder");
  EXPECT_EQ(a.NewLeaders(), (std::vector<std::string>{"a", "intruder"}));

  // The intruder never renews: `a` takes the lease back once it expired.
  const absl::Time seen = clock_.Now();
  for (int i = 0; i < 30 && !a.elector->IsLeader(); ++i) {
    Step();
    if (clock_.Now() - seen < absl::Seconds(15)) {
      ASSERT_FALSE(a.elector->IsLeader());
    }
  }
  ASSERT_TRUE(a.elector->IsLeader());
  ASSERT_TRUE(Eventually([&] { return a.started == 2; }));
  api::Lease lease = GetLease();
  EXPECT_EQ(lease.spec().holder_identity(), "a");
  EXPECT_EQ(lease.spec().lease_transitions(), 1);
}

TEST_F(LeaderElectionTest, LeaderCutOffFromTheServerStepsDownBeforeAnotherTakesOver) {
  CutOffClient cut_off(*client_);
  Candidate& a = Add("a", &cut_off);
  ASSERT_TRUE(a.elector->Start().ok());
  Settle();
  ASSERT_TRUE(a.elector->IsLeader());
  Candidate& b = Add("b");
  ASSERT_TRUE(b.elector->Start().ok());
  Settle();
  // Even seconds: `a` renews at the time the cut happens.
  for (int i = 0; i < 6; ++i) Step();
  ASSERT_TRUE(a.elector->IsLeader());

  const absl::Time cut_at = clock_.Now();
  cut_off.fail = true;
  bool b_led = false;
  for (int i = 0; i < 30 && !b_led; ++i) {
    Step();
    const absl::Duration since = clock_.Now() - cut_at;
    ASSERT_LE(Leaders().size(), 1u) << since;
    // renew_deadline after its last renewal, the leader gives up...
    EXPECT_EQ(a.elector->IsLeader(), since < absl::Seconds(10)) << since;
    // ...well before the others may take the lease.
    if (since < absl::Seconds(15)) {
      ASSERT_FALSE(b.elector->IsLeader()) << since;
    }
    b_led = b.elector->IsLeader();
  }
  ASSERT_TRUE(b_led);
  EXPECT_EQ(a.stopped, 1);
  ASSERT_TRUE(Eventually([&] { return b.started == 1; }));
  EXPECT_EQ(GetLease().spec().holder_identity(), "b");
  EXPECT_EQ(GetLease().spec().lease_transitions(), 1);

  // Back in touch, `a` sees the new leader and stays a follower.
  cut_off.fail = false;
  for (int i = 0; i < 20; ++i) {
    Step();
    ASSERT_EQ(Leaders(), std::vector<Candidate*>{&b});
  }
  EXPECT_EQ(a.elector->GetLeader(), "b");
}

TEST_F(LeaderElectionTest, RunReturnsAfterLossWithoutCampaigningAgain) {
  Candidate& a = Add("a", nullptr, [](LeaderElectionOptions& o) { o.campaign_after_loss = false; });
  absl::Status run_status = absl::UnknownError("not run");
  std::thread runner([&] { run_status = a.elector->Run(); });
  Settle();
  ASSERT_TRUE(a.elector->IsLeader());

  api::Lease lease = GetLease();
  lease.mutable_spec()->set_holder_identity("other");
  ASSERT_TRUE(client_->Update(lease).ok());
  Step();
  Step();
  runner.join();
  EXPECT_TRUE(run_status.ok()) << run_status;
  EXPECT_EQ(a.started, 1);
  EXPECT_EQ(a.stopped, 1);
  EXPECT_FALSE(a.elector->IsLeader());
  EXPECT_EQ(a.elector->NextWakeupForTest(), absl::InfiniteFuture());
  EXPECT_EQ(a.elector->Run().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(LeaderElectionTest, StopInterruptsWaitsWithoutTimePassing) {
  Candidate* leader = StartThree();
  ASSERT_NE(leader, nullptr);
  const absl::Time before = clock_.Now();
  // Followers and the leader are all asleep on the fake clock.
  for (auto& c : candidates_) c->elector->Stop();
  EXPECT_EQ(clock_.Now(), before);
  EXPECT_TRUE(Leaders().empty());
  EXPECT_EQ(leader->stopped, 1);
  for (auto& c : candidates_) {
    EXPECT_EQ(c->elector->NextWakeupForTest(), absl::InfiniteFuture());
    EXPECT_EQ(c->elector->Start().code(), absl::StatusCode::kFailedPrecondition);
  }
}

TEST_F(LeaderElectionTest, LeaderWorkPacesItselfWithTheElectorsClock) {
  std::atomic<int> ticks{0};
  Candidate& a = Add("a", nullptr, [&](LeaderElectionOptions& o) {
    o.on_started_leading = [&](const LeadershipContext& context) {
      while (!context.WaitUntil(clock_.Now() + absl::Seconds(5))) ++ticks;
    };
  });
  ASSERT_TRUE(a.elector->Start().ok());
  Settle();
  ASSERT_TRUE(a.elector->IsLeader());
  // The leader's own work sleeps on the clock too: wait for it as well.
  ASSERT_TRUE(Eventually([&] { return clock_.Sleepers() == 2; }));
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(absl::Seconds(5));
    ASSERT_TRUE(Eventually([&] { return ticks == i + 1 && clock_.Sleepers() == 2; }));
    Settle();
  }
  a.elector->Stop();
  EXPECT_EQ(ticks, 5);
}

TEST_F(LeaderElectionTest, CreateRejectsBadOptions) {
  auto with = [&](std::function<void(LeaderElectionOptions&)> tweak) {
    LeaderElectionOptions options = Options("a");
    tweak(options);
    return LeaderElector::Create(*client_, options).status();
  };
  EXPECT_TRUE(with([](LeaderElectionOptions&) {}).ok());
  absl::Status s = with([](LeaderElectionOptions& o) { o.identity.clear(); });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("identity"), absl::string_view::npos) << s;
  EXPECT_EQ(with([](LeaderElectionOptions& o) { o.lease_name.clear(); }).code(),
            absl::StatusCode::kInvalidArgument);
  s = with([](LeaderElectionOptions& o) { o.renew_deadline = absl::Seconds(15); });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("lease_duration"), absl::string_view::npos) << s;
  EXPECT_EQ(with([](LeaderElectionOptions& o) { o.retry_period = absl::Seconds(10); }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](LeaderElectionOptions& o) { o.retry_period = absl::ZeroDuration(); }).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace korch::client
