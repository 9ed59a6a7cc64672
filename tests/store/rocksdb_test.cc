// RocksDB backend specifics: durability across reopen and SIGKILL,
// automatic log compaction, bounded memory, and bad data directories.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/base/clock.h"
#include "korch/store.h"

namespace korch::store {
namespace {

using ::testing::HasSubstr;

class RocksDbTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("korch-rocksdb-test-", ::getpid(), "-",
                        testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Storage> Open(RocksDbStorageOptions o = {}) {
    o.path = dir_.string();
    auto s = OpenRocksDbStorage(o);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }

  std::filesystem::path dir_;
};

TEST_F(RocksDbTest, ReopeningContinuesTheRevisionAndKeepsTheLog) {
  int64_t r1, r2;
  {
    auto s = Open();
    r1 = *s->Create("/a", "1");
    r2 = *s->Update("/a", "2", r1);
  }
  auto s = Open();
  EXPECT_EQ(*s->CurrentRevision(), r2);
  EXPECT_EQ(s->Get("/a")->value, "2");
  EXPECT_EQ(*s->Create("/b", "x"), r2 + 1);
  // The log survived: a watch from before the restart sees the old events.
  auto w = s->Watch("/", PrefixEnd("/"), WatchOptions{r1, absl::ZeroDuration(), 0});
  ASSERT_TRUE(w.ok());
  std::vector<std::shared_ptr<const Event>> events;
  for (int i = 0; i < 10 && events.size() < 2; ++i) {
    auto b = (*w)->Next(absl::Seconds(1));
    ASSERT_TRUE(b.ok());
    events.insert(events.end(), b->events.begin(), b->events.end());
  }
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]->revision(), r2);
  EXPECT_EQ(events[0]->prev_kv->value, "1");
  EXPECT_EQ(events[1]->revision(), r2 + 1);
}

TEST_F(RocksDbTest, KilledWritersLoseNoAcknowledgedWrite) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 4; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    int out[2];
    ASSERT_EQ(::pipe(out), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::close(out[0]);
      ::close(out[1]);
      std::string threads = round % 2 == 0 ? "1" : "8";
      ::execl(KORCH_CRASH_WRITER, KORCH_CRASH_WRITER, dir_.c_str(), threads.c_str(), nullptr);
      _exit(127);
    }
    ::close(out[1]);
    // Wait until it is writing (on a loaded machine starting the process
    // and opening the store can take seconds), let it write for a random
    // while, then kill it mid-flight.
    std::string acked;
    char buf[4096];
    ::fcntl(out[0], F_SETFL, O_NONBLOCK);
    const absl::Duration run_for =
        absl::Milliseconds(std::uniform_int_distribution<int>(100, 600)(rng));
    const absl::Time give_up = absl::Now() + absl::Seconds(60);
    std::optional<absl::Time> kill_at;
    while (!kill_at.has_value() || absl::Now() < *kill_at) {
      ssize_t n = ::read(out[0], buf, sizeof(buf));
      if (n > 0) {
        acked.append(buf, n);
      } else {
        absl::SleepFor(absl::Milliseconds(1));
      }
      if (!kill_at.has_value() &&
          (std::count(acked.begin(), acked.end(), '\n') >= 20 || absl::Now() > give_up)) {
        kill_at = absl::Now() + run_for;
      }
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer ended by itself: " << status;
    for (;;) {
      ssize_t n = ::read(out[0], buf, sizeof(buf));
      if (n <= 0) break;
      acked.append(buf, n);
    }
    ::close(out[0]);

    std::map<int64_t, std::string> acks;
    for (absl::string_view line : absl::StrSplit(acked, '\n', absl::SkipEmpty())) {
      std::vector<std::string> parts = absl::StrSplit(line, ' ');
      if (parts.size() != 2) continue;  // a torn last line
      int64_t rev;
      ASSERT_TRUE(absl::SimpleAtoi(parts[0], &rev));
      acks[rev] = parts[1];
    }
    ASSERT_GT(acks.size(), 10u) << "the writer made too little progress to test anything";

    auto s = Open();
    ASSERT_NE(s, nullptr);
    for (const auto& [rev, key] : acks) {
      auto kv = s->Get(key);
      ASSERT_TRUE(kv.ok()) << "acknowledged write " << key << " at revision " << rev << " lost";
      EXPECT_EQ(kv->mod_revision, rev);
      EXPECT_EQ(kv->value.size(), 1000u);
    }
    // Revisions strictly increase and the log has no gaps since revision 1.
    const int64_t current = *s->CurrentRevision();
    EXPECT_GE(current, acks.rbegin()->first);
    auto w = s->Watch("/crash/", PrefixEnd("/crash/"), WatchOptions{1, absl::ZeroDuration(), 0});
    ASSERT_TRUE(w.ok()) << w.status();
    int64_t expect = 2;
    while (expect <= current) {
      auto b = (*w)->Next(absl::Seconds(5));
      ASSERT_TRUE(b.ok()) << b.status();
      ASSERT_FALSE(b->events.empty()) << "log ends at " << expect - 1 << ", current " << current;
      for (const auto& e : b->events) {
        ASSERT_EQ(e->revision(), expect) << "gap or reordering in the log";
        ++expect;
      }
    }
    auto all = s->Range("/crash/", PrefixEnd("/crash/"), RangeOptions{0, 0, true});
    ASSERT_TRUE(all.ok());
    EXPECT_EQ(all->count, current) << "one key per revision";
  }
}

// Restart replays the write-ahead log: it must stay near max_wal_bytes
// however long the store runs, without losing what it held.
TEST_F(RocksDbTest, WriteAheadLogStaysBounded) {
  auto wal_bytes = [this] {
    uint64_t total = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      if (e.path().extension() == ".log") total += e.file_size();
    }
    return total;
  };
  RocksDbStorageOptions o;
  o.sync = false;
  o.max_wal_bytes = 1 << 20;
  auto s = Open(o);
  ASSERT_NE(s, nullptr);
  const std::string value(4096, 'v');
  constexpr int kWrites = 3000;  // 12 MiB of values, plus the watch log
  for (int i = 0; i < kWrites; ++i) {
    ASSERT_TRUE(s->Create(absl::StrCat("/big/", i), value).ok()) << i;
  }
  // About 25 MiB of log is written (values go to the records and to the
  // watch log). Flushes run in the background, and the logs they free go
  // once they finish: a few limits' worth may be alive at a time.
  constexpr uint64_t kBound = 8u << 20;
  for (int i = 0; i < 500 && wal_bytes() > kBound; ++i) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_LE(wal_bytes(), kBound) << "the write-ahead log kept growing";
  s.reset();
  s = Open(o);
  ASSERT_NE(s, nullptr);
  auto all = s->Range("/big/", PrefixEnd("/big/"));
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->count, kWrites);
}

TEST_F(RocksDbTest, LogIsCompactedByCountAndAge) {
  auto clock = std::make_shared<FakeClock>();
  RocksDbStorageOptions o;
  o.clock = clock;
  o.max_log_events = 20;
  o.log_retention = absl::Seconds(30);
  auto s = Open(o);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(s->Create(absl::StrCat("/n/", i), "v").ok());
  // The compactor runs every few (fake) seconds.
  for (int i = 0; i < 2000 && s->Stats().compacted_revision < 30; ++i) {
    clock->Advance(absl::Seconds(1));
    absl::SleepFor(absl::Milliseconds(2));
  }
  EXPECT_GE(s->Stats().compacted_revision, 30) << "count limit not applied";
  EXPECT_EQ(s->Range("/n/", PrefixEnd("/n/"), RangeOptions{10, 0, false}).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(s->Range("/n/", PrefixEnd("/n/"))->count, 50) << "current values are kept";
  // Past the retention, everything but the latest revision goes.
  for (int i = 0; i < 2000 && s->Stats().compacted_revision < 50; ++i) {
    clock->Advance(absl::Seconds(5));
    absl::SleepFor(absl::Milliseconds(2));
  }
  EXPECT_EQ(s->Stats().compacted_revision, 50);
}

TEST_F(RocksDbTest, AStalledWatcherDoesNotGrowMemory) {
  RocksDbStorageOptions o;
  o.sync = false;
  o.window_events = 500;
  o.max_pending_events = 100000;  // only the window bounds it
  auto s = Open(o);
  auto stalled = s->Watch("/", PrefixEnd("/"));
  ASSERT_TRUE(stalled.ok());
  ASSERT_TRUE((*stalled)->Next(absl::Milliseconds(1)).ok());
  for (int i = 0; i < 5000; ++i)
    ASSERT_TRUE(s->Create(absl::StrCat("/m/", i), std::string(1000, 'x')).ok());
  EXPECT_LE(s->Stats().window_events, 500);
  auto b = (*stalled)->Next(absl::Milliseconds(1));
  EXPECT_EQ(b.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(b.status().message()), HasSubstr("resume from revision"));
}

TEST_F(RocksDbTest, ForeignOrCorruptDirectoriesGiveAClearError) {
  std::filesystem::create_directories(dir_);
  { std::ofstream(dir_ / "notes.txt") << "my files"; }
  RocksDbStorageOptions o;
  o.path = dir_.string();
  auto s = OpenRocksDbStorage(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("is not a korch data directory"));

  std::filesystem::remove_all(dir_);
  {
    auto ok = Open();
    ASSERT_TRUE(ok->Create("/a", "1").ok());
  }
  // Scribble over the database's files.
  for (const auto& f : std::filesystem::directory_iterator(dir_)) {
    std::string name = f.path().filename().string();
    if (name.rfind("MANIFEST", 0) == 0 || name == "CURRENT") {
      std::ofstream(f.path(), std::ios::trunc) << "garbage";
    }
  }
  s = OpenRocksDbStorage(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss) << s.status();

  auto file = std::filesystem::temp_directory_path() / absl::StrCat("korch-file-", ::getpid());
  { std::ofstream(file) << "x"; }
  o.path = file.string();
  s = OpenRocksDbStorage(o);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("not a directory"));
  std::filesystem::remove(file);
}

}  // namespace
}  // namespace korch::store
