// Behaviour every Storage backend must have (etcd's semantics). Instantiated
// here for the memory and RocksDB backends, and for etcd in
// etcd_conformance_test.cc.
#include "tests/store/conformance.h"

#include <atomic>
#include <filesystem>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace korch::store {
namespace {

using ::testing::HasSubstr;

// Collects events from a watcher until `n` arrived or `timeout` passed.
std::vector<Event> Collect(Watcher& w, size_t n, absl::Duration timeout = absl::Seconds(10)) {
  std::vector<Event> out;
  absl::Time deadline = absl::Now() + timeout;
  while (out.size() < n && absl::Now() < deadline) {
    auto b = w.Next(absl::Milliseconds(100));
    if (!b.ok()) {
      ADD_FAILURE() << "watch ended: " << b.status();
      break;
    }
    for (auto& e : b->events) out.push_back(*e);
  }
  return out;
}

TEST_P(StorageConformanceTest, CreateGetUpdateDeleteKeepRevisionsAndVersions) {
  auto r1 = store_->Create("/a", "1");
  ASSERT_TRUE(r1.ok()) << r1.status();
  auto kv = store_->Get("/a");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->value, "1");
  EXPECT_EQ(kv->create_revision, *r1);
  EXPECT_EQ(kv->mod_revision, *r1);
  EXPECT_EQ(kv->version, 1);

  auto r2 = store_->Update("/a", "2", *r1);
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(*r2, *r1 + 1) << "every write is exactly one new revision";
  kv = store_->Get("/a");
  EXPECT_EQ(kv->value, "2");
  EXPECT_EQ(kv->create_revision, *r1);
  EXPECT_EQ(kv->mod_revision, *r2);
  EXPECT_EQ(kv->version, 2);
  EXPECT_EQ(*store_->CurrentRevision(), *r2);

  auto del = store_->Delete("/a", *r2);
  ASSERT_TRUE(del.ok()) << del.status();
  EXPECT_EQ(del->value, "2");
  EXPECT_EQ(del->mod_revision, *r2 + 1);
  EXPECT_EQ(store_->Get("/a").status().code(), absl::StatusCode::kNotFound);

  // Re-creating starts a new life: version 1, new create revision.
  auto r4 = store_->Create("/a", "3");
  ASSERT_TRUE(r4.ok());
  kv = store_->Get("/a");
  EXPECT_EQ(kv->create_revision, *r4);
  EXPECT_EQ(kv->version, 1);
}

TEST_P(StorageConformanceTest, GuardedWritesFailWithoutWriting) {
  auto r1 = *store_->Create("/k", "v1");
  EXPECT_EQ(store_->Create("/k", "again").status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->Update("/missing", "x", 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Delete("/missing", 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Update("/k", "x", r1 + 100).status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(store_->Delete("/k", r1 + 100).status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(*store_->CurrentRevision(), r1) << "failed writes must not create revisions";
  EXPECT_EQ(store_->Get("/k")->value, "v1");
  // Expected revision 0 means unconditional.
  ASSERT_TRUE(store_->Update("/k", "v2", 0).ok());
  EXPECT_EQ(store_->Get("/k")->value, "v2");
  ASSERT_TRUE(store_->Delete("/k", 0).ok());
}

TEST_P(StorageConformanceTest, TransactionsApplyAllOrNothingUnderOneRevision) {
  auto ra = *store_->Create("/t/a", "a");
  auto rb = *store_->Create("/t/b", "b");
  auto res = store_->Txn({{"/t/a", ra}, {"/t/b", rb}, {"/t/c", 0}},
                         {Op::Put("/t/a", "a2"), Op::Delete("/t/b"), Op::Put("/t/c", "c")});
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->revision, rb + 1);
  EXPECT_EQ(store_->Get("/t/a")->mod_revision, res->revision);
  EXPECT_EQ(store_->Get("/t/c")->mod_revision, res->revision);
  EXPECT_EQ(store_->Get("/t/b").status().code(), absl::StatusCode::kNotFound);

  // One stale guard: nothing happens.
  auto bad = store_->Txn({{"/t/a", res->revision}, {"/t/c", ra}},
                         {Op::Put("/t/a", "a3"), Op::Put("/t/d", "d")});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("/t/c"));
  EXPECT_EQ(store_->Get("/t/a")->value, "a2");
  EXPECT_EQ(store_->Get("/t/d").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*store_->CurrentRevision(), res->revision);
}

TEST_P(StorageConformanceTest, ConcurrentGuardedIncrementsLoseNoUpdate) {
  ASSERT_TRUE(store_->Create("/counter", "0").ok());
  constexpr int kThreads = 8;
  constexpr int kIncrements = 40;
  std::atomic<int> conflicts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        for (int attempt = 0; attempt < 10000; ++attempt) {
          auto kv = store_->Get("/counter");
          ASSERT_TRUE(kv.ok());
          int v = std::stoi(kv->value);
          auto r = store_->Update("/counter", std::to_string(v + 1), kv->mod_revision);
          if (r.ok()) break;
          ASSERT_EQ(r.status().code(), absl::StatusCode::kAborted) << r.status();
          ++conflicts;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(store_->Get("/counter")->value, std::to_string(kThreads * kIncrements));
  EXPECT_EQ(store_->Get("/counter")->version, kThreads * kIncrements + 1);
}

// Writers racing on one key: the store decides each race against every
// earlier write, including writes committed together with it (a create
// right after a delete, a second create of a key just created).
TEST_P(StorageConformanceTest, WritersRacingOnOneKeySeeEachOthersWrites) {
  const int64_t start = *store_->CurrentRevision();
  auto w =
      store_->Watch("/race/", PrefixEnd("/race/"), WatchOptions{start, absl::ZeroDuration(), 0});
  ASSERT_TRUE(w.ok()) << w.status();
  constexpr int kThreads = 8;
  constexpr int kAttempts = 30;
  std::atomic<int> created{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAttempts; ++i) {
        auto rev = store_->Create("/race/k", absl::StrCat(t, "-", i));
        if (!rev.ok()) {
          ASSERT_EQ(rev.status().code(), absl::StatusCode::kAlreadyExists) << rev.status();
          continue;
        }
        ++created;
        // Only creators delete, so the key is still ours.
        auto deleted = store_->Delete("/race/k", *rev);
        ASSERT_TRUE(deleted.ok()) << deleted.status();
        EXPECT_EQ(deleted->value, absl::StrCat(t, "-", i));
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_GT(created.load(), 0);
  EXPECT_EQ(store_->Get("/race/k").status().code(), absl::StatusCode::kNotFound);
  // The history alternates: every create is followed by the delete of that
  // same value.
  auto events = Collect(**w, 2 * static_cast<size_t>(created.load()));
  ASSERT_EQ(events.size(), 2 * static_cast<size_t>(created.load()));
  for (size_t i = 0; i < events.size(); i += 2) {
    EXPECT_EQ(events[i].type, Event::Type::kPut);
    EXPECT_FALSE(events[i].prev_kv.has_value());
    EXPECT_EQ(events[i].kv.version, 1);
    EXPECT_EQ(events[i + 1].type, Event::Type::kDelete);
    ASSERT_TRUE(events[i + 1].prev_kv.has_value());
    EXPECT_EQ(events[i + 1].prev_kv->value, events[i].kv.value);
    EXPECT_EQ(events[i + 1].prev_kv->mod_revision, events[i].revision());
    EXPECT_GT(events[i + 1].revision(), events[i].revision());
  }
}

TEST_P(StorageConformanceTest, RangeIsAConsistentViewAtOneRevision) {
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(store_->Create(absl::StrFormat("/r/%03d", i), absl::StrCat("v", i)).ok());
  }
  ASSERT_TRUE(store_->Create("/s/outside", "x").ok());
  // Writes go on while we page through the range at a fixed revision.
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; i < 200 && !stop; ++i) {
      (void)store_->Update(absl::StrFormat("/r/%03d", i % 50), "changed", 0);
      (void)store_->Create(absl::StrFormat("/r/new%03d", i), "new");
    }
  });
  auto first = store_->Range("/r/", PrefixEnd("/r/"), RangeOptions{0, 7, false});
  ASSERT_TRUE(first.ok()) << first.status();
  const int64_t rev = first->revision;
  std::vector<KeyValue> all = first->kvs;
  std::string next = first->continue_key;
  bool more = first->more;
  while (more) {
    auto page = store_->Range(next, PrefixEnd("/r/"), RangeOptions{rev, 7, false});
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_EQ(page->revision, rev);
    all.insert(all.end(), page->kvs.begin(), page->kvs.end());
    next = page->continue_key;
    more = page->more;
  }
  stop = true;
  writer.join();
  EXPECT_EQ(static_cast<int64_t>(all.size()), first->count);
  auto whole = store_->Range("/r/", PrefixEnd("/r/"), RangeOptions{rev, 0, false});
  ASSERT_TRUE(whole.ok());
  ASSERT_EQ(whole->kvs.size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].key, whole->kvs[i].key);
    EXPECT_EQ(all[i].value, whole->kvs[i].value);
    EXPECT_LE(all[i].mod_revision, rev);
  }
  for (size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1].key, all[i].key);
}

TEST_P(StorageConformanceTest, RangeAtAnOlderRevisionShowsThePast) {
  auto r1 = *store_->Create("/h/a", "a1");
  auto r2 = *store_->Create("/h/b", "b1");
  ASSERT_TRUE(store_->Update("/h/a", "a2", r1).ok());
  ASSERT_TRUE(store_->Delete("/h/b", r2).ok());
  ASSERT_TRUE(store_->Create("/h/c", "c1").ok());

  auto past = store_->Range("/h/", PrefixEnd("/h/"), RangeOptions{r2, 0, false});
  ASSERT_TRUE(past.ok()) << past.status();
  ASSERT_EQ(past->kvs.size(), 2u);
  EXPECT_EQ(past->kvs[0].key, "/h/a");
  EXPECT_EQ(past->kvs[0].value, "a1");
  EXPECT_EQ(past->kvs[0].mod_revision, r1);
  EXPECT_EQ(past->kvs[1].key, "/h/b");
  EXPECT_EQ(past->kvs[1].value, "b1");

  auto now = store_->Range("/h/", PrefixEnd("/h/"));
  ASSERT_EQ(now->kvs.size(), 2u);
  EXPECT_EQ(now->kvs[0].value, "a2");
  EXPECT_EQ(now->kvs[1].key, "/h/c");

  auto keys = store_->Range("/h/", PrefixEnd("/h/"), RangeOptions{0, 0, true});
  ASSERT_EQ(keys->kvs.size(), 2u);
  EXPECT_TRUE(keys->kvs[0].value.empty());

  auto future = store_->Range("/h/", PrefixEnd("/h/"),
                              RangeOptions{*store_->CurrentRevision() + 10, 0, false});
  EXPECT_EQ(future.status().code(), absl::StatusCode::kOutOfRange);
}

TEST_P(StorageConformanceTest, WatchDeliversEveryChangeInOrderExactlyOnce) {
  auto w = store_->Watch("/w/", PrefixEnd("/w/"));
  ASSERT_TRUE(w.ok()) << w.status();
  auto r1 = *store_->Create("/w/a", "1");
  ASSERT_TRUE(store_->Create("/x/outside", "1").ok());
  auto r2 = *store_->Update("/w/a", "2", r1);
  auto r3 = store_->Delete("/w/a", r2)->mod_revision;
  auto r4 = store_->Txn({}, {Op::Put("/w/b", "b"), Op::Put("/w/c", "c")})->revision;

  auto events = Collect(**w, 5);
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].type, Event::Type::kPut);
  EXPECT_EQ(events[0].revision(), r1);
  EXPECT_FALSE(events[0].prev_kv.has_value());
  EXPECT_EQ(events[1].revision(), r2);
  EXPECT_EQ(events[1].kv.value, "2");
  ASSERT_TRUE(events[1].prev_kv.has_value());
  EXPECT_EQ(events[1].prev_kv->value, "1");
  EXPECT_EQ(events[2].type, Event::Type::kDelete);
  EXPECT_EQ(events[2].revision(), r3);
  ASSERT_TRUE(events[2].prev_kv.has_value());
  EXPECT_EQ(events[2].prev_kv->value, "2");
  EXPECT_EQ(events[3].revision(), r4);
  EXPECT_EQ(events[4].revision(), r4);
  EXPECT_EQ(events[3].kv.key, "/w/b");
  EXPECT_EQ(events[4].kv.key, "/w/c");
  // Nothing more arrives.
  auto more = (*w)->Next(absl::Milliseconds(200));
  ASSERT_TRUE(more.ok());
  EXPECT_TRUE(more->events.empty());
}

TEST_P(StorageConformanceTest, WatchResumesFromAnyRetainedRevision) {
  std::vector<int64_t> revs;
  int64_t start = *store_->CurrentRevision();
  for (int i = 0; i < 20; ++i) revs.push_back(*store_->Create(absl::StrCat("/z/", i), "v"));
  for (int i = 0; i < 20; i += 3) {
    auto w = store_->Watch("/z/", PrefixEnd("/z/"), WatchOptions{revs[i], absl::ZeroDuration(), 0});
    ASSERT_TRUE(w.ok()) << w.status();
    auto events = Collect(**w, 19 - i);
    ASSERT_EQ(events.size(), static_cast<size_t>(19 - i)) << "from revision " << revs[i];
    for (size_t j = 0; j < events.size(); ++j) EXPECT_EQ(events[j].revision(), revs[i + 1 + j]);
  }
  auto all = store_->Watch("/z/", PrefixEnd("/z/"), WatchOptions{start, absl::ZeroDuration(), 0});
  EXPECT_EQ(Collect(**all, 20).size(), 20u);
}

TEST_P(StorageConformanceTest, CompactionMakesOldRevisionsUnavailable) {
  std::vector<int64_t> revs;
  for (int i = 0; i < 10; ++i) revs.push_back(*store_->Create(absl::StrCat("/c/", i), "v"));
  ASSERT_TRUE(store_->Compact(revs[5]).ok());
  auto old = store_->Range("/c/", PrefixEnd("/c/"), RangeOptions{revs[2], 0, false});
  EXPECT_EQ(old.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(old.status().message()), HasSubstr("compacted"));
  auto at = store_->Range("/c/", PrefixEnd("/c/"), RangeOptions{revs[5], 0, false});
  ASSERT_TRUE(at.ok()) << at.status();
  EXPECT_EQ(at->kvs.size(), 6u);

  auto w = store_->Watch("/c/", PrefixEnd("/c/"), WatchOptions{revs[2], absl::ZeroDuration(), 0});
  if (w.ok()) {
    // A backend may report the compaction on the first Next().
    auto b = (*w)->Next(absl::Seconds(5));
    EXPECT_EQ(b.status().code(), absl::StatusCode::kOutOfRange)
        << "watch from a compacted revision";
  } else {
    EXPECT_EQ(w.status().code(), absl::StatusCode::kOutOfRange);
  }
  auto ok = store_->Watch("/c/", PrefixEnd("/c/"), WatchOptions{revs[6], absl::ZeroDuration(), 0});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(Collect(**ok, 3).size(), 3u);
  // Current values survive compaction.
  EXPECT_EQ(store_->Range("/c/", PrefixEnd("/c/"))->kvs.size(), 10u);
}

TEST_P(StorageConformanceTest, ProgressNotificationsCarryTheRevision) {
  auto w = store_->Watch("/quiet/", PrefixEnd("/quiet/"),
                         WatchOptions{WatchOptions::kFromNow, absl::Milliseconds(200), 0});
  ASSERT_TRUE(w.ok());
  int64_t rev = *store_->Create("/busy/a", "1");
  bool got = false;
  absl::Time deadline = absl::Now() + absl::Seconds(15);
  while (!got && absl::Now() < deadline) {
    auto b = (*w)->Next(absl::Milliseconds(500));
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_TRUE(b->events.empty()) << "no key under /quiet/ changed";
    if (b->revision >= rev) got = true;
  }
  EXPECT_TRUE(got) << "no progress notification reached revision " << rev;
}

TEST_P(StorageConformanceTest, OversizedValuesAreRejectedAndNothingIsStored) {
  std::string big(kMaxValue + 1, 'x');
  auto r = store_->Create("/big", big);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Get("/big").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->Create("/big", std::string(kMaxValue / 2, 'y')).ok());
  EXPECT_EQ(store_->Update("/big", big, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Get("/big")->value.size(), kMaxValue / 2);
}

TEST_P(StorageConformanceTest, AWatcherThatFallsBehindIsEndedAndCanResume) {
  auto w = store_->Watch("/slow/", PrefixEnd("/slow/"),
                         WatchOptions{WatchOptions::kFromNow, absl::ZeroDuration(), 10});
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Next(absl::Milliseconds(10)).ok());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(store_->Create(absl::StrCat("/slow/", i), "v").ok());
  int64_t last = 0;
  size_t received = 0;
  absl::Status ended;
  for (int i = 0; i < 200 && ended.ok(); ++i) {
    auto b = (*w)->Next(absl::Milliseconds(100));
    if (!b.ok()) {
      ended = b.status();
      break;
    }
    received += b->events.size();
    if (!b->events.empty()) last = b->events.back()->revision();
  }
  ASSERT_EQ(ended.code(), absl::StatusCode::kResourceExhausted) << ended;
  EXPECT_LT(received, 100u);
  // Resuming from the last revision received delivers the rest, no gaps.
  int64_t from = last == 0 ? *store_->CurrentRevision() - 100 : last;
  auto again =
      store_->Watch("/slow/", PrefixEnd("/slow/"), WatchOptions{from, absl::ZeroDuration(), 0});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(Collect(**again, 100 - received).size(), 100 - received);
}

// ---- backends ---------------------------------------------------------------

std::filesystem::path TempRoot() {
  return std::filesystem::temp_directory_path() / absl::StrCat("korch-conformance-", ::getpid());
}

std::string TempDir() {
  static std::atomic<int> n{0};
  auto dir = TempRoot() / absl::StrCat(n++);
  std::filesystem::remove_all(dir);
  return dir.string();
}

// Removes the data directories when the test program ends.
class TempRootCleanup : public testing::Environment {
 public:
  void TearDown() override { std::filesystem::remove_all(TempRoot()); }
};
const auto* const kCleanup = testing::AddGlobalTestEnvironment(new TempRootCleanup);

INSTANTIATE_TEST_SUITE_P(Embedded, StorageConformanceTest,
                         testing::Values(BackendFactory{"Memory",
                                                        [](size_t max_value) {
                                                          RocksDbStorageOptions o;
                                                          o.max_value_bytes = max_value;
                                                          return *OpenMemoryStorage(o);
                                                        }},
                                         BackendFactory{"RocksDB",
                                                        [](size_t max_value) {
                                                          RocksDbStorageOptions o;
                                                          o.path = TempDir();
                                                          o.max_value_bytes = max_value;
                                                          return *OpenRocksDbStorage(o);
                                                        }}),
                         BackendName);

}  // namespace
}  // namespace korch::store
