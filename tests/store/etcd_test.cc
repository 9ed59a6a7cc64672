// The etcd backend against a real etcd (tests/store/etcd_process.h).
#include <algorithm>
#include <atomic>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/store.h"
#include "tests/store/etcd_process.h"

namespace korch::store {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;
using testutil::EtcdProcess;

// Reads batches until `n` events arrived (or `timeout` passed).
std::vector<Event> Collect(Watcher& w, size_t n, absl::Duration timeout = absl::Seconds(10)) {
  std::vector<Event> events;
  absl::Time deadline = absl::Now() + timeout;
  while (events.size() < n && absl::Now() < deadline) {
    auto batch = w.Next(absl::Milliseconds(200));
    if (!batch.ok()) break;
    for (const auto& e : batch->events) events.push_back(*e);
  }
  return events;
}

// One single-member etcd for the whole suite; every test works under its
// own key prefix.
class EtcdStorageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!EtcdProcess::Available()) return;
    etcd_ = new EtcdProcess();
    absl::Status s = etcd_->Start(1);
    if (!s.ok()) {
      start_error_ = new std::string(s.ToString());
      delete etcd_;
      etcd_ = nullptr;
    }
  }
  static void TearDownTestSuite() {
    delete etcd_;
    etcd_ = nullptr;
  }

  void SetUp() override {
    if (!EtcdProcess::Available()) GTEST_SKIP() << "no etcd binary at " << EtcdProcess::Binary();
    ASSERT_NE(etcd_, nullptr) << (start_error_ ? *start_error_ : "etcd did not start");
    storage_ = Open(Prefix());
  }

  std::string Prefix() const {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return absl::StrCat("/korch-test/", info->name(), "/");
  }

  std::unique_ptr<Storage> Open(const std::string& prefix, size_t max_value_bytes = 1536 * 1024) {
    EtcdStorageOptions options;
    options.endpoints = etcd_->ClientEndpoints();
    options.key_prefix = prefix;
    options.max_value_bytes = max_value_bytes;
    auto storage = OpenEtcdStorage(options);
    EXPECT_TRUE(storage.ok()) << storage.status();
    return storage.ok() ? std::move(storage).value() : nullptr;
  }

  static EtcdProcess* etcd_;
  static std::string* start_error_;
  std::unique_ptr<Storage> storage_;
};

EtcdProcess* EtcdStorageTest::etcd_ = nullptr;
std::string* EtcdStorageTest::start_error_ = nullptr;

TEST_F(EtcdStorageTest, CreateGetUpdateDelete) {
  Storage& s = *storage_;
  auto r1 = s.Create("pods/a", "v1");
  ASSERT_TRUE(r1.ok()) << r1.status();
  auto kv = s.Get("pods/a");
  ASSERT_TRUE(kv.ok()) << kv.status();
  EXPECT_EQ(kv->key, "pods/a");
  EXPECT_EQ(kv->value, "v1");
  EXPECT_EQ(kv->create_revision, *r1);
  EXPECT_EQ(kv->mod_revision, *r1);
  EXPECT_EQ(kv->version, 1);

  EXPECT_EQ(s.Create("pods/a", "again").status().code(), absl::StatusCode::kAlreadyExists);

  auto conflict = s.Update("pods/a", "v2", *r1 - 1);
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(conflict.status().message(), HasSubstr("pods/a"));

  auto r2 = s.Update("pods/a", "v2", *r1);
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_GT(*r2, *r1);
  auto r3 = s.Update("pods/a", "v3", 0);  // any revision
  ASSERT_TRUE(r3.ok()) << r3.status();
  kv = s.Get("pods/a");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->value, "v3");
  EXPECT_EQ(kv->create_revision, *r1);
  EXPECT_EQ(kv->mod_revision, *r3);
  EXPECT_EQ(kv->version, 3);

  EXPECT_EQ(s.Update("pods/missing", "x", 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.Update("pods/missing", "x", 5).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.Get("pods/missing").status().code(), absl::StatusCode::kNotFound);

  EXPECT_EQ(s.Delete("pods/a", *r2).status().code(), absl::StatusCode::kAborted);
  auto deleted = s.Delete("pods/a", *r3);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->key, "pods/a");
  EXPECT_EQ(deleted->value, "v3");
  EXPECT_GT(deleted->mod_revision, *r3);
  EXPECT_EQ(s.CurrentRevision().value(), deleted->mod_revision);
  EXPECT_EQ(s.Get("pods/a").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.Delete("pods/a", 0).status().code(), absl::StatusCode::kNotFound);

  // A deleted key can be created again; its history restarts.
  auto r4 = s.Create("pods/a", "new");
  ASSERT_TRUE(r4.ok());
  EXPECT_EQ(s.Get("pods/a")->version, 1);
  auto d2 = s.Delete("pods/a", 0);
  ASSERT_TRUE(d2.ok());
  EXPECT_EQ(d2->value, "new");
}

TEST_F(EtcdStorageTest, RejectsEmptyKeysAndLargeValues) {
  EXPECT_EQ(storage_->Create("", "v").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(storage_->Get("").status().code(), absl::StatusCode::kInvalidArgument);

  auto small = Open(Prefix(), /*max_value_bytes=*/1000);
  auto big = small->Create("k", std::string(1001, 'x'));
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(big.status().message(), HasSubstr("1001 bytes"));
  EXPECT_THAT(big.status().message(), HasSubstr("1000 bytes"));
  EXPECT_EQ(small->Get("k").status().code(), absl::StatusCode::kNotFound);

  // Past etcd's own request limit (1.5 MiB by default).
  auto unlimited = Open(Prefix(), /*max_value_bytes=*/8 << 20);
  auto too_large = unlimited->Create("k", std::string(2 << 20, 'x'));
  EXPECT_EQ(too_large.status().code(), absl::StatusCode::kInvalidArgument) << too_large.status();
  EXPECT_EQ(storage_->Get("k").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(EtcdStorageTest, RangeWithLimitRevisionAndKeysOnly) {
  Storage& s = *storage_;
  for (const char* k : {"r/a", "r/b", "r/c", "r/d"}) ASSERT_TRUE(s.Create(k, k).ok());
  ASSERT_TRUE(s.Create("other", "x").ok());

  auto page = s.Range("r/", PrefixEnd("r/"), {.limit = 2});
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_THAT(page->kvs, SizeIs(2));
  EXPECT_EQ(page->kvs[0].key, "r/a");
  EXPECT_EQ(page->kvs[1].key, "r/b");
  EXPECT_TRUE(page->more);
  EXPECT_EQ(page->count, 4);
  EXPECT_EQ(page->continue_key, std::string("r/b\0", 4));
  const int64_t at = page->revision;

  // Changes after the first page do not show in the continuation.
  ASSERT_TRUE(s.Update("r/c", "changed", 0).ok());
  ASSERT_TRUE(s.Create("r/e", "e").ok());
  auto rest = s.Range(page->continue_key, PrefixEnd("r/"), {.revision = at, .limit = 2});
  ASSERT_TRUE(rest.ok()) << rest.status();
  ASSERT_THAT(rest->kvs, SizeIs(2));
  EXPECT_EQ(rest->kvs[0].key, "r/c");
  EXPECT_EQ(rest->kvs[0].value, "r/c");
  EXPECT_EQ(rest->kvs[1].key, "r/d");
  EXPECT_FALSE(rest->more);
  EXPECT_EQ(rest->revision, at);

  auto keys = s.Range("r/", PrefixEnd("r/"), {.keys_only = true});
  ASSERT_TRUE(keys.ok());
  ASSERT_THAT(keys->kvs, SizeIs(5));
  for (const KeyValue& kv : keys->kvs) EXPECT_EQ(kv.value, "");
  EXPECT_EQ(keys->revision, s.CurrentRevision().value());

  // An empty end means exactly one key.
  auto one = s.Range("r/c", "");
  ASSERT_TRUE(one.ok());
  ASSERT_THAT(one->kvs, SizeIs(1));
  EXPECT_EQ(one->kvs[0].value, "changed");

  auto future = s.Range("r/", PrefixEnd("r/"), {.revision = at + 1000});
  EXPECT_EQ(future.status().code(), absl::StatusCode::kOutOfRange);
}

TEST_F(EtcdStorageTest, TxnAppliesAllOrNothing) {
  Storage& s = *storage_;
  auto ra = s.Create("t/a", "a1");
  ASSERT_TRUE(ra.ok());
  auto txn = s.Txn({{"t/a", *ra}, {"t/new", 0}},
                   {Op::Put("t/a", "a2"), Op::Put("t/new", "n"), Op::Delete("t/gone")});
  ASSERT_TRUE(txn.ok()) << txn.status();
  EXPECT_EQ(s.Get("t/a")->mod_revision, txn->revision);
  EXPECT_EQ(s.Get("t/new")->mod_revision, txn->revision);

  // A stale guard: nothing is written, and the message names the key.
  auto failed =
      s.Txn({{"t/new", txn->revision}, {"t/a", *ra}}, {Op::Put("t/a", "a3"), Op::Delete("t/new")});
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(failed.status().message(), HasSubstr("t/a"));
  EXPECT_EQ(s.Get("t/a")->value, "a2");
  EXPECT_TRUE(s.Get("t/new").ok());

  auto exists = s.Txn({{"t/new", 0}}, {Op::Put("t/x", "x")});
  EXPECT_EQ(exists.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(exists.status().message(), HasSubstr("t/new"));

  // No writes: the current revision.
  auto none = s.Txn({}, {});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->revision, s.CurrentRevision().value());
}

TEST_F(EtcdStorageTest, KeyPrefixesIsolateStorages) {
  auto a = Open(Prefix() + "a/");
  auto b = Open(Prefix() + "b/");
  // Everything under a's prefix (PrefixEnd("") is "", which would mean a
  // single key).
  auto wa = a->Watch(std::string(1, '\0'), "\xff", {});
  ASSERT_TRUE(wa.ok()) << wa.status();
  ASSERT_TRUE(a->Create("x", "from-a").ok());
  ASSERT_TRUE(b->Create("x", "from-b").ok());
  ASSERT_TRUE(b->Create("y", "only-b").ok());
  EXPECT_EQ(a->Get("x")->value, "from-a");
  EXPECT_EQ(b->Get("x")->value, "from-b");
  EXPECT_EQ(a->Get("y").status().code(), absl::StatusCode::kNotFound);
  auto all_a = a->Range(std::string(1, '\0'), "\xff");
  ASSERT_TRUE(all_a.ok());
  ASSERT_THAT(all_a->kvs, SizeIs(1));
  EXPECT_EQ(all_a->kvs[0].key, "x");
  EXPECT_EQ(a->Stats().keys, 1);
  EXPECT_EQ(b->Stats().keys, 2);

  ASSERT_TRUE(a->Create("z", "z").ok());
  auto events = Collect(**wa, 2);
  ASSERT_THAT(events, SizeIs(2));
  EXPECT_EQ(events[0].kv.key, "x");
  EXPECT_EQ(events[0].kv.value, "from-a");
  EXPECT_EQ(events[1].kv.key, "z");
}

TEST_F(EtcdStorageTest, WatchDeliversChangesInOrderWithPreviousValues) {
  Storage& s = *storage_;
  ASSERT_TRUE(s.Create("w/before", "b").ok());
  auto w = s.Watch("w/", PrefixEnd("w/"), {});
  ASSERT_TRUE(w.ok()) << w.status();
  auto r1 = s.Create("w/a", "1");
  auto r2 = s.Update("w/a", "2", *r1);
  ASSERT_TRUE(s.Create("elsewhere", "x").ok());
  auto del = s.Delete("w/a", *r2);
  auto txn = s.Txn({}, {Op::Put("w/b", "b"), Op::Put("w/c", "c")});
  ASSERT_TRUE(r1.ok() && r2.ok() && del.ok() && txn.ok());

  auto events = Collect(**w, 5);
  ASSERT_THAT(events, SizeIs(5));
  EXPECT_EQ(events[0].type, Event::Type::kPut);
  EXPECT_EQ(events[0].revision(), *r1);
  EXPECT_FALSE(events[0].prev_kv.has_value());
  EXPECT_EQ(events[1].kv.value, "2");
  EXPECT_EQ(events[1].kv.version, 2);
  ASSERT_TRUE(events[1].prev_kv.has_value());
  EXPECT_EQ(events[1].prev_kv->value, "1");
  EXPECT_EQ(events[2].type, Event::Type::kDelete);
  EXPECT_EQ(events[2].kv.key, "w/a");
  EXPECT_EQ(events[2].kv.value, "");
  EXPECT_EQ(events[2].revision(), del->mod_revision);
  ASSERT_TRUE(events[2].prev_kv.has_value());
  EXPECT_EQ(events[2].prev_kv->value, "2");
  EXPECT_EQ(events[3].revision(), txn->revision);
  EXPECT_EQ(events[4].revision(), txn->revision);
  EXPECT_EQ(events[3].kv.key, "w/b");

  // From a past revision: exactly the changes after it.
  auto replay = s.Watch("w/", PrefixEnd("w/"), {.start_revision = *r1});
  ASSERT_TRUE(replay.ok()) << replay.status();
  auto again = Collect(**replay, 4);
  ASSERT_THAT(again, SizeIs(4));
  EXPECT_EQ(again[0].revision(), *r2);
  EXPECT_EQ(again[3].revision(), txn->revision);

  // A single key.
  auto one = s.Watch("w/b", "", {.start_revision = *r1});
  ASSERT_TRUE(one.ok());
  auto b_events = Collect(**one, 1);
  ASSERT_THAT(b_events, SizeIs(1));
  EXPECT_EQ(b_events[0].kv.key, "w/b");
  auto nothing_more = (*one)->Next(absl::Milliseconds(100));
  ASSERT_TRUE(nothing_more.ok());
  EXPECT_TRUE(nothing_more->events.empty());
  EXPECT_EQ(nothing_more->revision, txn->revision);

  (*w)->Cancel();
  EXPECT_EQ((*w)->Next(absl::Seconds(1)).status().code(), absl::StatusCode::kCancelled);
}

TEST_F(EtcdStorageTest, CompactionEndsOldReadsAndWatches) {
  Storage& s = *storage_;
  auto r1 = s.Create("c/a", "1");
  ASSERT_TRUE(r1.ok());
  auto live = s.Watch("c/", PrefixEnd("c/"), {.start_revision = *r1});
  ASSERT_TRUE(live.ok());
  auto r2 = s.Update("c/a", "2", *r1);
  auto r3 = s.Update("c/a", "3", *r2);
  ASSERT_TRUE(r2.ok() && r3.ok());
  EXPECT_THAT(Collect(**live, 2), SizeIs(2));

  ASSERT_TRUE(s.Compact(*r3).ok());
  EXPECT_GE(s.Stats().compacted_revision, *r3);
  EXPECT_EQ(s.Compact(*r2).code(), absl::StatusCode::kOutOfRange);  // already compacted
  EXPECT_EQ(s.Compact(*r3 + 1000).code(), absl::StatusCode::kOutOfRange);

  auto old_read = s.Range("c/a", "", {.revision = *r2});
  EXPECT_EQ(old_read.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(old_read.status().message(), HasSubstr("required revision has been compacted"));
  auto at = s.Range("c/a", "", {.revision = *r3});
  ASSERT_TRUE(at.ok()) << at.status();
  EXPECT_EQ(at->kvs[0].value, "3");

  auto old_watch = s.Watch("c/", PrefixEnd("c/"), {.start_revision = *r1});
  EXPECT_EQ(old_watch.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(old_watch.status().message(), HasSubstr("required revision has been compacted"));

  // Recover the way a client does: re-list, then watch from the list.
  auto list = s.Range("c/", PrefixEnd("c/"));
  ASSERT_TRUE(list.ok());
  auto resumed = s.Watch("c/", PrefixEnd("c/"), {.start_revision = list->revision});
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  auto r4 = s.Update("c/a", "4", *r3);
  ASSERT_TRUE(r4.ok());
  auto events = Collect(**resumed, 1);
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].revision(), *r4);
  // A watcher that had caught up before the compaction goes on.
  auto live_events = Collect(**live, 1);
  ASSERT_THAT(live_events, SizeIs(1));
  EXPECT_EQ(live_events[0].revision(), *r4);
}

TEST_F(EtcdStorageTest, QuietWatcherGetsProgressNotifications) {
  Storage& s = *storage_;
  auto w = s.Watch("quiet/", PrefixEnd("quiet/"), {.progress_interval = absl::Milliseconds(200)});
  ASSERT_TRUE(w.ok());
  auto elsewhere = s.Create("busy", "x");
  ASSERT_TRUE(elsewhere.ok());
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  int64_t progress = 0;
  while (progress < *elsewhere && absl::Now() < deadline) {
    auto batch = (*w)->Next(absl::Seconds(1));
    ASSERT_TRUE(batch.ok()) << batch.status();
    ASSERT_TRUE(batch->events.empty());
    progress = batch->revision;
  }
  EXPECT_GE(progress, *elsewhere);
}

// Reads a watcher until it ends; returns how it ended, the events it
// delivered and the revision of the last batch.
struct Drained {
  absl::Status end;
  size_t events = 0;
  int64_t last = 0;
};
Drained DrainUntilEnd(Watcher& w) {
  Drained d;
  for (int i = 0; i < 1000; ++i) {
    auto batch = w.Next(absl::Seconds(5));
    if (!batch.ok()) {
      d.end = batch.status();
      return d;
    }
    if (batch->events.empty()) {
      ADD_FAILURE() << "no error after all events";
      return d;
    }
    d.events += batch->events.size();
    d.last = batch->revision;
  }
  return d;
}

TEST_F(EtcdStorageTest, SlowWatcherIsEndedAndCanResume) {
  Storage& s = *storage_;
  const int64_t before = s.CurrentRevision().value();
  auto w = s.Watch("slow/", PrefixEnd("slow/"), {.max_pending_events = 10});
  ASSERT_TRUE(w.ok());
  std::vector<int64_t> revisions;
  for (int i = 0; i < 40; ++i) {
    auto r = s.Create(absl::StrCat("slow/", i), "v");
    ASSERT_TRUE(r.ok());
    revisions.push_back(*r);
  }
  // The consumer comes back late: it gets what was queued, then the error
  // naming the revision to resume from.
  Drained d = DrainUntilEnd(**w);
  EXPECT_EQ(d.end.code(), absl::StatusCode::kResourceExhausted) << d.end;
  EXPECT_THAT(d.end.message(), HasSubstr(absl::StrCat("resume from revision ", d.last)));
  EXPECT_LE(d.events, 10u);
  EXPECT_EQ((*w)->Next(absl::Milliseconds(10)).status().code(),
            absl::StatusCode::kResourceExhausted);  // stays ended

  const int64_t from = d.last == 0 ? before : d.last;
  auto resumed = s.Watch("slow/", PrefixEnd("slow/"), {.start_revision = from});
  ASSERT_TRUE(resumed.ok());
  auto next = std::upper_bound(revisions.begin(), revisions.end(), from);
  auto rest = Collect(**resumed, static_cast<size_t>(revisions.end() - next));
  ASSERT_EQ(rest.size(), static_cast<size_t>(revisions.end() - next));
  for (const Event& e : rest) EXPECT_EQ(e.revision(), *next++);

  // Replaying history that exceeds the limit: etcd sends it in one
  // response, and the limit still holds.
  auto replay =
      s.Watch("slow/", PrefixEnd("slow/"), {.start_revision = before, .max_pending_events = 10});
  ASSERT_TRUE(replay.ok());
  d = DrainUntilEnd(**replay);
  EXPECT_EQ(d.end.code(), absl::StatusCode::kResourceExhausted) << d.end;
  EXPECT_EQ(d.events, 10u);
  EXPECT_EQ(d.last, revisions[9]);
}

TEST_F(EtcdStorageTest, ClosingTheStorageCancelsWatchers) {
  auto other = Open(Prefix());
  auto w = other->Watch("k", "", {});
  ASSERT_TRUE(w.ok());
  other.reset();
  EXPECT_EQ((*w)->Next(absl::Seconds(1)).status().code(), absl::StatusCode::kCancelled);
}

TEST(EtcdStorageUnavailableTest, ListsEndpointsWhenNoMemberAnswers) {
  EtcdStorageOptions options;
  options.endpoints = {"127.0.0.1:1", "http://127.0.0.1:2"};
  options.request_timeout = absl::Milliseconds(500);
  options.dial_timeout = absl::Milliseconds(200);
  absl::Time start = absl::Now();
  auto storage = OpenEtcdStorage(options);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_EQ(storage.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(storage.status().message(), HasSubstr("127.0.0.1:1"));
  EXPECT_THAT(storage.status().message(), HasSubstr("127.0.0.1:2"));

  EXPECT_EQ(OpenEtcdStorage({}).status().code(), absl::StatusCode::kInvalidArgument);
}

// The cluster test: 3 members, 4 writers x 300 creates, one member
// SIGKILLed mid-load. Every acknowledged write must be in the store, and a
// watcher started before the kill must have seen each one, in order, once.
// `kill_leader`: kill the Raft leader (the client's member survives and
// sees an election); otherwise kill the member the client talks to (a
// follower: requests and the watch stream move to another member).
void RunFailoverUnderLoad(bool kill_leader) {
  if (!EtcdProcess::Available()) GTEST_SKIP() << "no etcd binary at " << EtcdProcess::Binary();
  absl::Time t0 = absl::Now();
  EtcdProcess etcd;
  ASSERT_TRUE(etcd.Start(3).ok());
  std::cout << "[ cluster  ] 3 members up in " << absl::FormatDuration(absl::Now() - t0) << "\n";
  auto leader = etcd.Leader();
  ASSERT_TRUE(leader.ok()) << leader.status();
  // The client starts with the member after the leader (a follower).
  const int first = (*leader + 1) % 3;
  const int victim = kill_leader ? *leader : first;
  EtcdStorageOptions options;
  for (int i = 0; i < 3; ++i) options.endpoints.push_back(etcd.ClientEndpoint((first + i) % 3));
  options.key_prefix = "/cluster-test/";
  auto opened = OpenEtcdStorage(options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  Storage& s = **opened;

  auto w = s.Watch("load/", PrefixEnd("load/"), {});
  ASSERT_TRUE(w.ok()) << w.status();
  std::vector<Event> watched;
  absl::Status watch_end;
  std::atomic<int64_t> watch_until{-1};  // stop once this revision is seen
  int64_t watched_up_to = 0;
  std::thread consumer([&] {
    // Runs until the writers are done and the last acknowledged revision
    // was seen, or for 20 s more.
    absl::Time deadline = absl::InfiniteFuture();
    while (absl::Now() < deadline) {
      auto batch = (*w)->Next(absl::Milliseconds(100));
      if (!batch.ok()) {
        watch_end = batch.status();
        return;
      }
      for (const auto& e : batch->events) watched.push_back(*e);
      watched_up_to = batch->revision;
      int64_t until = watch_until.load();
      if (until >= 0 && batch->revision >= until) return;
      if (until >= 0 && deadline == absl::InfiniteFuture())
        deadline = absl::Now() + absl::Seconds(20);
    }
  });

  constexpr int kWriters = 4;
  constexpr int kPerWriter = 300;
  absl::Mutex mu;
  std::map<std::string, int64_t> acked;  // key -> revision
  std::vector<std::string> failures;
  std::atomic<int> done{0};
  absl::Time start = absl::Now();
  std::vector<std::thread> writers;
  for (int t = 0; t < kWriters; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerWriter; ++i) {
        std::string key = absl::StrCat("load/", t, "/", i);
        auto r = s.Create(key, "value-" + key);
        absl::MutexLock lock(&mu);
        if (r.ok()) {
          acked[key] = *r;
        } else {
          failures.push_back(absl::StrCat(key, ": ", r.status().ToString()));
        }
        done++;
      }
    });
  }
  while (done.load() < kWriters * kPerWriter / 2) absl::SleepFor(absl::Milliseconds(2));
  ASSERT_TRUE(etcd.Kill(victim).ok());
  absl::Time killed = absl::Now();
  for (auto& t : writers) t.join();
  absl::Duration elapsed = absl::Now() - start;

  int64_t max_rev = 0;
  for (const auto& [key, rev] : acked) max_rev = std::max(max_rev, rev);
  watch_until = max_rev;
  consumer.join();

  std::cout << "[ cluster  ] killed " << (kill_leader ? "the leader" : "the client's member")
            << ": " << acked.size() << " creates acknowledged in " << absl::FormatDuration(elapsed)
            << " (" << static_cast<int>(acked.size() / absl::ToDoubleSeconds(elapsed))
            << "/s); the writes after the kill took " << absl::FormatDuration(absl::Now() - killed)
            << "; " << failures.size() << " failed\n";
  for (const std::string& f : failures) std::cout << "  failed: " << f << "\n";
  // Failover hides the dead member: a write fails only if the cluster has
  // no quorum for longer than request_timeout, which must not happen here.
  EXPECT_TRUE(failures.empty());
  EXPECT_GT(acked.size(), static_cast<size_t>(kWriters * kPerWriter * 9 / 10));

  // Every acknowledged write is stored, with its value and revision.
  for (const auto& [key, rev] : acked) {
    auto kv = s.Get(key);
    ASSERT_TRUE(kv.ok()) << key << ": " << kv.status();
    EXPECT_EQ(kv->value, "value-" + key);
    EXPECT_EQ(kv->create_revision, rev);
  }

  // The watcher saw each of them once, in revision order, with no gap.
  EXPECT_TRUE(watch_end.ok()) << watch_end;
  EXPECT_GE(watched_up_to, max_rev) << "the watcher did not catch up";
  std::map<std::string, int64_t> seen;
  int64_t prev = 0;
  for (const Event& e : watched) {
    EXPECT_GT(e.revision(), prev) << "out of order or duplicate at " << e.kv.key;
    prev = e.revision();
    EXPECT_TRUE(seen.emplace(e.kv.key, e.revision()).second) << "duplicate " << e.kv.key;
    EXPECT_EQ(e.kv.value, "value-" + e.kv.key);
  }
  for (const auto& [key, rev] : acked) {
    auto it = seen.find(key);
    ASSERT_NE(it, seen.end()) << "watcher missed " << key;
    EXPECT_EQ(it->second, rev) << key;
  }

  // The killed member comes back and catches up.
  absl::Time t1 = absl::Now();
  ASSERT_TRUE(etcd.Restart(victim).ok());
  std::cout << "[ cluster  ] checks done; member restarted in "
            << absl::FormatDuration(absl::Now() - t1) << "\n";
  EtcdStorageOptions only_victim = options;
  only_victim.endpoints = {etcd.ClientEndpoint(victim)};
  auto restarted = OpenEtcdStorage(only_victim);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  auto count = (*restarted)->Range("load/", PrefixEnd("load/"), {.keys_only = true});
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_GE(count->count, static_cast<int64_t>(acked.size()));
}

TEST(EtcdClusterTest, KillingTheClientsMemberLosesNoAcknowledgedWriteOrEvent) {
  RunFailoverUnderLoad(/*kill_leader=*/false);
}

TEST(EtcdClusterTest, KillingTheLeaderLosesNoAcknowledgedWriteOrEvent) {
  RunFailoverUnderLoad(/*kill_leader=*/true);
}

}  // namespace
}  // namespace korch::store
