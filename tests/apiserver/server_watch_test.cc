// The registry's WATCH: initial events, resuming from a revision,
// selections that objects enter and leave, expiry, bookmarks, timeouts.

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/apiserver/server_test_util.h"

namespace korch::apiserver::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(10);

struct Seen {
  EventType type;
  std::string name;
  std::string resource_version;
};

std::string Describe(const Seen& s) { return absl::StrCat(EventTypeName(s.type), " ", s.name); }

class WatchTest : public ServerTest {
 protected:
  std::unique_ptr<WatchStream> StartWatch(absl::string_view ns, const WatchOptions& options) {
    auto w = server_->Watch(user_, KindOf<api::Pod>(), ns, options);
    EXPECT_TRUE(w.ok()) << w.status();
    return w.ok() ? *std::move(w) : nullptr;
  }

  // The next `n` events, described as "TYPE name".
  std::vector<std::string> NextEvents(WatchStream& w, int n) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) {
      absl::StatusOr<WatchEvent> e = w.Next(kWait);
      if (!e.ok()) {
        out.push_back(absl::StrCat("error: ", e.status().ToString()));
        break;
      }
      last_ = Seen{e->type, Meta(e->object).name(), Meta(e->object).resource_version()};
      out.push_back(Describe(last_));
    }
    return out;
  }

  void ExpectQuiet(WatchStream& w) {
    absl::StatusOr<WatchEvent> e = w.Next(absl::Milliseconds(50));
    EXPECT_EQ(e.status().code(), absl::StatusCode::kDeadlineExceeded)
        << (e.ok() ? Describe({e->type, Meta(e->object).name(), ""}) : e.status().ToString());
  }

  Seen last_;
};

TEST_F(WatchTest, StartsWithTheCurrentObjectsThenFollowsChanges) {
  ASSERT_TRUE(Create(MakePod("default", "b")).ok());
  ASSERT_TRUE(Create(MakePod("default", "a")).ok());
  ASSERT_TRUE(Create(MakePod("other", "x")).ok());
  auto w = StartWatch("default", {});
  ASSERT_NE(w, nullptr);
  EXPECT_THAT(NextEvents(*w, 2), ElementsAre("ADDED a", "ADDED b"));
  ExpectQuiet(*w);

  ASSERT_TRUE(Create(MakePod("default", "c")).ok());
  ASSERT_TRUE(Create(MakePod("other", "y")).ok());
  auto patched =
      Patch<api::Pod>("default", "a", PatchType::kMerge, R"({"metadata":{"labels":{"x":"1"}}})");
  ASSERT_TRUE(patched.ok());
  auto deleted = Delete<api::Pod>("default", "b");
  ASSERT_TRUE(deleted.ok());
  EXPECT_THAT(NextEvents(*w, 3), ElementsAre("ADDED c", "MODIFIED a", "DELETED b"));
  // The deletion carries the last state at the deletion's revision.
  EXPECT_EQ(last_.resource_version, Meta(deleted->object).resource_version());
}

TEST_F(WatchTest, ResumesAfterARevision) {
  auto a = Create(MakePod("default", "a"));
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(Create(MakePod("default", "b")).ok());
  ASSERT_TRUE(Delete<api::Pod>("default", "a").ok());
  WatchOptions o;
  o.resource_version = (*a)->metadata().resource_version();
  auto w = StartWatch("default", o);
  ASSERT_NE(w, nullptr);
  EXPECT_THAT(NextEvents(*w, 2), ElementsAre("ADDED b", "DELETED a"));
  ExpectQuiet(*w);
}

TEST_F(WatchTest, EventsCarryTheirRevision) {
  auto list = List<api::Pod>("default");
  ASSERT_TRUE(list.ok());
  WatchOptions o;
  o.resource_version = list->resource_version;
  auto w = StartWatch("default", o);
  auto created = Create(MakePod("default", "a"));
  ASSERT_TRUE(created.ok());
  auto e = w->Next(kWait);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->type, EventType::kAdded);
  EXPECT_EQ(Meta(e->object).resource_version(), (*created)->metadata().resource_version());
  EXPECT_EQ(Meta(e->object).uid(), (*created)->metadata().uid());
}

TEST_F(WatchTest, LabelSelectionReportsObjectsEnteringAndLeaving) {
  ASSERT_TRUE(Create(MakePod("default", "a", R"({"app":"web"})")).ok());
  ASSERT_TRUE(Create(MakePod("default", "b", R"({"app":"db"})")).ok());
  WatchOptions o;
  o.label_selector = "app=web";
  auto w = StartWatch("default", o);
  EXPECT_THAT(NextEvents(*w, 1), ElementsAre("ADDED a"));
  ASSERT_TRUE(
      Patch<api::Pod>("default", "a", PatchType::kMerge, R"({"metadata":{"labels":{"app":"db"}}})")
          .ok());
  ASSERT_TRUE(
      Patch<api::Pod>("default", "b", PatchType::kMerge, R"({"metadata":{"labels":{"app":"web"}}})")
          .ok());
  ASSERT_TRUE(Patch<api::Pod>("default", "b", PatchType::kMerge,
                              R"({"metadata":{"annotations":{"n":"1"}}})")
                  .ok());
  ASSERT_TRUE(Patch<api::Pod>("default", "a", PatchType::kMerge,
                              R"({"metadata":{"annotations":{"n":"1"}}})")
                  .ok());
  EXPECT_THAT(NextEvents(*w, 3), ElementsAre("DELETED a", "ADDED b", "MODIFIED b"));
  ExpectQuiet(*w);
}

TEST_F(WatchTest, FieldSelectionOnOneObject) {
  ASSERT_TRUE(Create(MakePod("default", "a")).ok());
  ASSERT_TRUE(Create(MakePod("default", "ab")).ok());
  WatchOptions o;
  o.field_selector = "metadata.name=a";
  auto w = StartWatch("default", o);
  EXPECT_THAT(NextEvents(*w, 1), ElementsAre("ADDED a"));
  ASSERT_TRUE(
      Patch<api::Pod>("default", "ab", PatchType::kMerge, R"({"metadata":{"labels":{"x":"1"}}})")
          .ok());
  ASSERT_TRUE(
      Patch<api::Pod>("default", "a", PatchType::kMerge, R"({"metadata":{"labels":{"x":"1"}}})")
          .ok());
  EXPECT_THAT(NextEvents(*w, 1), ElementsAre("MODIFIED a"));
  ExpectQuiet(*w);
}

TEST_F(WatchTest, PodsLeavingAFieldSelection) {
  ASSERT_TRUE(Create(MakePod("default", "a")).ok());
  WatchOptions o;
  o.field_selector = "spec.nodeName=";
  auto w = StartWatch("", o);
  EXPECT_THAT(NextEvents(*w, 1), ElementsAre("ADDED a"));
  api::Binding binding;
  binding.mutable_metadata()->set_name("a");
  binding.mutable_target()->set_name("n1");
  CreateOptions bind;
  bind.subresource = "binding";
  ASSERT_TRUE(server_->Create(user_, KindOf<api::Pod>(), "default", "a", Own(binding), bind).ok());
  EXPECT_THAT(NextEvents(*w, 1), ElementsAre("DELETED a"));
}

TEST_F(WatchTest, TooOldResourceVersionIsExpired) {
  auto a = Create(MakePod("default", "a"));
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(Create(MakePod("default", "b")).ok());
  ASSERT_TRUE(Create(MakePod("default", "c")).ok());
  ASSERT_TRUE(storage_->Compact(*storage_->CurrentRevision()).ok());
  WatchOptions o;
  o.resource_version = (*a)->metadata().resource_version();
  absl::Status status;
  auto w = server_->Watch(user_, KindOf<api::Pod>(), "default", o);
  if (w.ok()) {
    status = (*w)->Next(kWait).status();
  } else {
    status = w.status();
  }
  ASSERT_EQ(status.code(), absl::StatusCode::kOutOfRange) << status;
  EXPECT_THAT(status.message(), HasSubstr("too old resource version: " + o.resource_version));
  api::Status k8s = ToKubernetesStatus(status);
  EXPECT_EQ(k8s.code(), 410);
  EXPECT_EQ(k8s.reason(), "Expired");
}

TEST_F(WatchTest, BookmarksFollowTheClock) {
  auto created = Create(MakePod("default", "a"));
  ASSERT_TRUE(created.ok());
  WatchOptions o;
  o.resource_version = (*created)->metadata().resource_version();
  o.allow_bookmarks = true;
  o.bookmark_interval = absl::Seconds(30);
  auto w = StartWatch("default", o);
  ExpectQuiet(*w);
  clock_.Advance(absl::Seconds(31));
  auto e = w->Next(kWait);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->type, EventType::kBookmark);
  int64_t rv = 0;
  ASSERT_TRUE(absl::SimpleAtoi(Meta(e->object).resource_version(), &rv));
  int64_t created_rv = 0;
  ASSERT_TRUE(absl::SimpleAtoi((*created)->metadata().resource_version(), &created_rv));
  EXPECT_GE(rv, created_rv);
  EXPECT_TRUE(Meta(e->object).name().empty());
  ExpectQuiet(*w);
}

TEST_F(WatchTest, NoBookmarksUnlessAsked) {
  auto w = StartWatch("default", {});
  clock_.Advance(absl::Minutes(5));
  ExpectQuiet(*w);
}

TEST_F(WatchTest, TimeoutEndsTheWatch) {
  WatchOptions o;
  o.timeout = absl::Seconds(60);
  auto w = StartWatch("default", o);
  ExpectQuiet(*w);
  clock_.Advance(absl::Seconds(61));
  auto e = w->Next(kWait);
  EXPECT_EQ(e.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(w->Next(kWait).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(WatchTest, CancelEndsABlockedNext) {
  auto w = StartWatch("default", {});
  std::thread canceller([&] { w->Cancel(); });
  absl::Status status;
  for (int i = 0; i < 100; ++i) {
    status = w->Next(absl::Milliseconds(100)).status();
    if (status.code() != absl::StatusCode::kDeadlineExceeded) break;
  }
  canceller.join();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
}

TEST_F(WatchTest, ASlowConsumerIsEnded) {
  auto list = List<api::ConfigMap>("default");
  ASSERT_TRUE(list.ok());
  WatchOptions o;
  o.resource_version = list->resource_version;
  o.max_pending_events = 5;
  auto w = server_->Watch(user_, KindOf<api::ConfigMap>(), "default", o);
  ASSERT_TRUE(w.ok());
  // Reading once makes the watch live; then it stops reading.
  EXPECT_EQ((*w)->Next(absl::Milliseconds(10)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(Create(MakeConfigMap("default", absl::StrCat("cm-", i))).ok());
  }
  absl::Status status;
  for (int i = 0; i < 100 && status.ok(); ++i) status = (*w)->Next(kWait).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
}

TEST_F(WatchTest, BadSelectorsAreRefused) {
  WatchOptions o;
  o.field_selector = "spec.bogus=1";
  auto w = server_->Watch(user_, KindOf<api::Pod>(), "default", o);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
  WatchOptions rv;
  rv.resource_version = "abc";
  EXPECT_EQ(server_->Watch(user_, KindOf<api::Pod>(), "default", rv).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(WatchTest, ClusterScopedKinds) {
  auto w = server_->Watch(user_, KindOf<api::Namespace>(), "", {});
  ASSERT_TRUE(w.ok());
  EXPECT_THAT(NextEvents(**w, 4), ElementsAre("ADDED default", "ADDED kube-node-lease",
                                              "ADDED kube-public", "ADDED kube-system"));
  api::Namespace ns;
  ns.mutable_metadata()->set_name("team");
  ASSERT_TRUE(Create(ns).ok());
  EXPECT_THAT(NextEvents(**w, 1), ElementsAre("ADDED team"));
}

}  // namespace
}  // namespace korch::apiserver::testing
