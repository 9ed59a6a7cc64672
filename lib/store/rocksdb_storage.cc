// The embedded default backend: RocksDB with a revisioned watch log.
//
// Layout (column families):
//   default  meta: "format" (marker), "revision" (current), "compacted"
//   kv       user key -> record (create_revision, mod_revision, version, value)
//   log      revision (8 bytes big-endian) + index (4 bytes) -> event
// Every write is one WriteBatch holding the records, the log entries and the
// new revision, so a crash never leaves them out of step.
//
// Writes go through one committer thread: it takes every request queued
// since its last round, checks their guards against the latest state (plus
// the earlier requests of the same round), assigns consecutive revisions,
// and writes the whole round as one batch with one WAL sync (group commit).
//
// Watchers read a shared in-memory window of recent events by revision
// (events are shared_ptr<const Event>, never copied per watcher). A watcher
// starting before the window catches up from the log on disk. A live
// watcher that lets more than its limit of events pile up is ended with
// kResourceExhausted; memory never depends on how slow a watcher is.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <deque>
#include <filesystem>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "korch/base/logging.h"
#include "korch/base/status.h"
#include "korch/store.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"

namespace korch::store {
namespace {

constexpr char kFormatKey[] = "format";
constexpr char kFormatValue[] = "korch-store-v1";
constexpr char kRevisionKey[] = "revision";
constexpr char kCompactedKey[] = "compacted";
constexpr int kMaxTxnOps = 128;
constexpr size_t kMaxWatchBatch = 1000;
// The longest a commit round waits for writers to come back (see
// CommitLoop): bounds the latency a round can add when they do not.
constexpr absl::Duration kMaxGather = absl::Milliseconds(2);

// ---- encoding ---------------------------------------------------------------

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint(absl::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && !in->empty(); shift += 7) {
    uint64_t byte = static_cast<unsigned char>((*in)[0]);
    in->remove_prefix(1);
    result |= (byte & 0x7f) << shift;
    if (byte < 0x80) {
      *v = result;
      return true;
    }
  }
  return false;
}

bool GetBytes(absl::string_view* in, std::string* out) {
  uint64_t n;
  if (!GetVarint(in, &n) || n > in->size()) return false;
  out->assign(in->data(), n);
  in->remove_prefix(n);
  return true;
}

void PutBytes(std::string* out, absl::string_view s) {
  PutVarint(out, s.size());
  out->append(s.data(), s.size());
}

std::string EncodeInt(int64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

int64_t DecodeInt(absl::string_view s) {
  int64_t v = 0;
  for (size_t i = 0; i < 8 && i < s.size(); ++i) v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}

std::string LogKey(int64_t revision, uint32_t index) {
  std::string k = EncodeInt(revision);
  k.push_back(static_cast<char>(index >> 24));
  k.push_back(static_cast<char>(index >> 16));
  k.push_back(static_cast<char>(index >> 8));
  k.push_back(static_cast<char>(index));
  return k;
}

// A stored record: the revisions, then the value to the end (the key is the
// RocksDB key). This writes the part before the value.
void EncodeRecordHead(const KeyValue& kv, std::string* out) {
  PutVarint(out, kv.create_revision);
  PutVarint(out, kv.mod_revision);
  PutVarint(out, kv.version);
}

bool DecodeRecord(absl::string_view in, KeyValue* kv, bool with_value = true) {
  uint64_t c, m, v;
  if (!GetVarint(&in, &c) || !GetVarint(&in, &m) || !GetVarint(&in, &v)) return false;
  kv->create_revision = static_cast<int64_t>(c);
  kv->mod_revision = static_cast<int64_t>(m);
  kv->version = static_cast<int64_t>(v);
  if (with_value) kv->value.assign(in.data(), in.size());
  return true;
}

void EncodeKv(const KeyValue& kv, std::string* out) {
  PutBytes(out, kv.key);
  PutVarint(out, kv.create_revision);
  PutVarint(out, kv.mod_revision);
  PutVarint(out, kv.version);
  PutBytes(out, kv.value);
}

bool DecodeKv(absl::string_view* in, KeyValue* kv) {
  uint64_t c, m, v;
  if (!GetBytes(in, &kv->key) || !GetVarint(in, &c) || !GetVarint(in, &m) || !GetVarint(in, &v) ||
      !GetBytes(in, &kv->value)) {
    return false;
  }
  kv->create_revision = static_cast<int64_t>(c);
  kv->mod_revision = static_cast<int64_t>(m);
  kv->version = static_cast<int64_t>(v);
  return true;
}

// A log entry: the event and the time it was committed (for retention):
// type, key, revisions and value of the event's kv, whether there is a
// previous kv, that kv, the time. Encoded in three parts, head + e.kv.value
// + tail, so that the value (the bulk of a put) is copied straight into the
// write batch.
void EncodeEventParts(const Event& e, int64_t unix_micros, std::string* head, std::string* tail) {
  head->push_back(e.type == Event::Type::kPut ? 'P' : 'D');
  PutBytes(head, e.kv.key);
  PutVarint(head, e.kv.create_revision);
  PutVarint(head, e.kv.mod_revision);
  PutVarint(head, e.kv.version);
  PutVarint(head, e.kv.value.size());
  tail->push_back(e.prev_kv.has_value() ? 1 : 0);
  if (e.prev_kv) EncodeKv(*e.prev_kv, tail);
  PutVarint(tail, static_cast<uint64_t>(unix_micros));
}

bool DecodeEvent(absl::string_view in, Event* e, int64_t* unix_micros) {
  if (in.empty()) return false;
  e->type = in[0] == 'P' ? Event::Type::kPut : Event::Type::kDelete;
  in.remove_prefix(1);
  if (!DecodeKv(&in, &e->kv) || in.empty()) return false;
  bool has_prev = in[0] != 0;
  in.remove_prefix(1);
  if (has_prev) {
    e->prev_kv.emplace();
    if (!DecodeKv(&in, &*e->prev_kv)) return false;
  }
  uint64_t t = 0;
  if (!GetVarint(&in, &t)) return false;
  if (unix_micros) *unix_micros = static_cast<int64_t>(t);
  return true;
}

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = absl::StrCat(what, ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  if (s.IsIOError()) return absl::UnavailableError(msg);
  return absl::InternalError(msg);
}

bool InRange(absl::string_view key, absl::string_view start, absl::string_view end) {
  if (end.empty()) return key == start;
  return key >= start && key < end;
}

absl::Status CompactedError(int64_t revision, int64_t compacted) {
  return absl::OutOfRangeError(absl::StrCat("required revision has been compacted (revision ",
                                            revision, ", compacted up to ", compacted, ")"));
}

// ---- the storage --------------------------------------------------------------

class RocksDbStorage;

class RocksWatcher final : public Watcher {
 public:
  RocksWatcher(RocksDbStorage* storage, std::string start, std::string end, int64_t last,
               const WatchOptions& options, int64_t max_pending);
  ~RocksWatcher() override;
  absl::StatusOr<WatchBatch> Next(absl::Duration timeout) override;
  void Cancel() override;

 private:
  friend class RocksDbStorage;
  RocksDbStorage* storage_;
  std::string start_;
  std::string end_;
  int64_t last_;  // every event <= last_ has been delivered or skipped
  absl::Duration progress_interval_;
  int64_t max_pending_;
  absl::Time last_delivery_;
  bool live_ = false;  // reached the in-memory window
  std::atomic<bool> cancelled_{false};
  absl::Status ended_;
};

class RocksDbStorage final : public Storage {
 public:
  static absl::StatusOr<std::unique_ptr<Storage>> Open(const RocksDbStorageOptions& options,
                                                       rocksdb::Env* env);
  ~RocksDbStorage() override;

  absl::StatusOr<KeyValue> Get(absl::string_view key) override;
  absl::StatusOr<RangeResult> Range(absl::string_view start, absl::string_view end,
                                    const RangeOptions& options) override;
  absl::StatusOr<int64_t> Create(absl::string_view key, absl::string_view value) override;
  absl::StatusOr<int64_t> Update(absl::string_view key, absl::string_view value,
                                 int64_t expected_mod_revision) override;
  absl::StatusOr<KeyValue> Delete(absl::string_view key, int64_t expected_mod_revision) override;
  absl::StatusOr<TxnResult> Txn(const std::vector<Compare>& guards,
                                const std::vector<Op>& ops) override;
  absl::StatusOr<std::unique_ptr<Watcher>> Watch(absl::string_view start, absl::string_view end,
                                                 const WatchOptions& options) override;
  absl::Status Compact(int64_t revision) override;
  absl::StatusOr<int64_t> CurrentRevision() override;
  bool LocalCurrentRevision() const override { return true; }
  StorageStats Stats() override;

 private:
  friend class RocksWatcher;

  enum class Kind { kCreate, kUpdate, kDelete, kTxn };
  struct Request {
    Kind kind = Kind::kTxn;
    std::vector<Compare> guards;
    std::vector<Op> ops;
    int64_t expected = 0;
    // Results, final once the committer sets `done`; the committer does not
    // touch the request after that (the writer may have returned).
    absl::Status status;
    int64_t revision = 0;
    KeyValue prev;
    std::atomic<bool> done{false};
  };
  // A round's earlier writes, by key: the event that last changed the key
  // (owned by the round's event list).
  using Overlay = absl::flat_hash_map<absl::string_view, const Event*>;

  RocksDbStorage(const RocksDbStorageOptions& options, std::unique_ptr<rocksdb::Env> env_owner)
      : options_(options),
        clock_(options.clock ? options.clock : RealClock()),
        env_owner_(std::move(env_owner)),
        log_("store") {}

  absl::Status Init(rocksdb::Env* env);
  absl::Status CheckSizes(absl::string_view key, absl::string_view value) const;
  absl::Status Submit(Request* r);
  void CommitLoop();
  // Commits one round: guards, revisions, one write (and sync), the watch
  // window, then acknowledges its writers.
  void CommitRound(std::vector<Request*>& round, uint64_t round_number);
  void CompactLoop();
  // Applies one request to the round being built.
  void Apply(Request* r, rocksdb::WriteBatch* wb, Overlay* overlay, int64_t* rev,
             std::vector<std::shared_ptr<const Event>>* events, int64_t now_micros);
  // The latest state of `key` (the round's earlier writes, else the
  // database) into *out, with the value only if `with_value`; false if the
  // key does not exist.
  bool Lookup(const std::string& key, const Overlay& overlay, bool with_value, KeyValue* out);
  // Reads log events with revision in (from, to] under [start, end), at most
  // `limit`; *scanned is the last revision looked at.
  absl::Status ReadLog(int64_t from, int64_t to, absl::string_view start, absl::string_view end,
                       size_t limit, std::vector<std::shared_ptr<const Event>>* out,
                       int64_t* scanned);
  void Unregister(RocksWatcher* w);

  const RocksDbStorageOptions options_;
  std::shared_ptr<Clock> clock_;
  std::unique_ptr<rocksdb::Env> env_owner_;
  Logger log_;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* meta_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* kv_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* log_cf_ = nullptr;

  // Queue of pending writes (filled by callers, drained by the committer).
  absl::Mutex queue_mu_;
  std::vector<Request*> queue_ ABSL_GUARDED_BY(queue_mu_);
  // Rounds taken by the committer so far; a request queued now is in round
  // `rounds_taken_`.
  uint64_t rounds_taken_ ABSL_GUARDED_BY(queue_mu_) = 0;
  // Writers sleep on a futex word bumped when their round is acknowledged,
  // so one system call wakes a whole round. Two words, by round parity:
  // writers queued for the next round (which sleep on the other word) are
  // not woken for nothing.
  std::atomic<uint32_t> acked_[2] = {0, 0};
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;
  // A round is being committed (by the committer, or by a lone writer on
  // its own thread); rounds never overlap.
  bool committing_ ABSL_GUARDED_BY(queue_mu_) = false;
  // Writes in the committer's last round; a writer commits on its own
  // thread only while the store sees one writer at a time.
  size_t last_round_size_ ABSL_GUARDED_BY(queue_mu_) = 1;
  // How long the last write took; the longest the next round waits for
  // stragglers (waiting longer would cost more than another round).
  absl::Duration gather_ ABSL_GUARDED_BY(queue_mu_) = absl::ZeroDuration();
  // A failed WAL write leaves the store refusing writes.
  absl::Status fatal_ ABSL_GUARDED_BY(queue_mu_);

  // The committed state visible to watchers.
  absl::Mutex window_mu_;
  absl::CondVar window_cv_;  // signalled when a watcher unregisters
  // Bumped on every change watchers must look at (new events, cancel,
  // close). Watchers sleep on it with a futex, so one commit wakes a
  // thousand of them with one system call and no lock hand-off.
  std::atomic<uint32_t> wake_seq_{0};
  void WakeWatchers() {
    wake_seq_.fetch_add(1, std::memory_order_release);
    ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&wake_seq_), FUTEX_WAKE_PRIVATE, INT_MAX,
              nullptr, nullptr, 0);
  }
  void WaitForWake(uint32_t seen, absl::Duration timeout) {
    if (timeout <= absl::ZeroDuration()) return;
    timespec ts = absl::ToTimespec(timeout);
    ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&wake_seq_), FUTEX_WAIT_PRIVATE, seen, &ts,
              nullptr, 0);
  }
  std::deque<std::shared_ptr<const Event>> window_ ABSL_GUARDED_BY(window_mu_);
  int64_t current_ ABSL_GUARDED_BY(window_mu_) = 0;
  // Revisions <= window_floor_ are not in the window (read them from disk).
  int64_t window_floor_ ABSL_GUARDED_BY(window_mu_) = 0;
  int64_t compacted_ ABSL_GUARDED_BY(window_mu_) = 0;
  int64_t watchers_ ABSL_GUARDED_BY(window_mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(window_mu_) = false;

  absl::Mutex compact_mu_;  // serializes compactions
  absl::Mutex stop_mu_;
  bool stop_compactor_ ABSL_GUARDED_BY(stop_mu_) = false;

  std::thread committer_;
  std::thread compactor_;
};

absl::StatusOr<std::unique_ptr<Storage>> RocksDbStorage::Open(const RocksDbStorageOptions& options,
                                                              rocksdb::Env* env) {
  std::unique_ptr<rocksdb::Env> owner(env);
  auto s = std::unique_ptr<RocksDbStorage>(new RocksDbStorage(options, std::move(owner)));
  KORCH_RETURN_IF_ERROR(s->Init(s->env_owner_ ? s->env_owner_.get() : rocksdb::Env::Default()));
  return std::unique_ptr<Storage>(std::move(s));
}

absl::Status RocksDbStorage::Init(rocksdb::Env* env) {
  if (options_.path.empty())
    return absl::InvalidArgumentError("store: data directory path is empty");
  const bool in_memory = env_owner_ != nullptr;
  if (!in_memory) {
    std::error_code ec;
    std::filesystem::path dir(options_.path);
    if (std::filesystem::exists(dir, ec)) {
      if (!std::filesystem::is_directory(dir, ec)) {
        return absl::FailedPreconditionError(
            absl::StrCat("store: ", options_.path, " exists and is not a directory"));
      }
      bool empty = std::filesystem::is_empty(dir, ec);
      if (!empty && !std::filesystem::exists(dir / "CURRENT", ec)) {
        return absl::DataLossError(
            absl::StrCat("store: ", options_.path,
                         " is not a korch data directory (it is not empty and holds no database); "
                         "choose an empty or new directory"));
      }
    } else {
      std::filesystem::create_directories(dir, ec);
      if (ec) {
        return absl::UnavailableError(
            absl::StrCat("store: cannot create ", options_.path, ": ", ec.message()));
      }
    }
  }

  rocksdb::DBOptions dbo;
  dbo.create_if_missing = true;
  dbo.create_missing_column_families = true;
  dbo.paranoid_checks = true;
  dbo.env = env;
  dbo.max_background_jobs = 2;
  dbo.enable_pipelined_write = true;
  dbo.max_total_wal_size = options_.max_wal_bytes;
  rocksdb::ColumnFamilyOptions cfo;
  // Creates look up keys that mostly do not exist: bloom filters answer
  // those without reading data blocks.
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.block_cache = rocksdb::NewLRUCache(64 << 20);
  cfo.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // Every write first looks its keys up, and a create's key is new: a bloom
  // filter on the memtable answers without searching it.
  rocksdb::ColumnFamilyOptions kv_cfo = cfo;
  kv_cfo.memtable_whole_key_filtering = true;
  kv_cfo.memtable_prefix_bloom_size_ratio = 0.02;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, cfo}, {"kv", kv_cfo}, {"log", cfo}};

  std::vector<std::string> existing;
  if (rocksdb::DB::ListColumnFamilies(dbo, options_.path, &existing).ok()) {
    for (const auto& name : existing) {
      if (name != rocksdb::kDefaultColumnFamilyName && name != "kv" && name != "log") {
        return absl::DataLossError(absl::StrCat("store: ", options_.path,
                                                " holds a RocksDB database that is not korch's "
                                                "(unexpected column family \"",
                                                name, "\")"));
      }
    }
  }

  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status st = rocksdb::DB::Open(dbo, options_.path, cfs, &handles, &raw);
  if (!st.ok()) {
    return absl::DataLossError(
        absl::StrCat("store: cannot open the database in ", options_.path, ": ", st.ToString()));
  }
  db_.reset(raw);
  meta_cf_ = handles[0];
  kv_cf_ = handles[1];
  log_cf_ = handles[2];

  std::string format, rev, compacted;
  st = db_->Get(rocksdb::ReadOptions(), meta_cf_, kFormatKey, &format);
  if (st.IsNotFound()) {
    // A new database, or a foreign one with korch's column family names.
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), kv_cf_));
    it->SeekToFirst();
    if (it->Valid()) {
      return absl::DataLossError(
          absl::StrCat("store: ", options_.path, " holds data without korch's format marker"));
    }
    rocksdb::WriteOptions wo;
    wo.sync = true;
    rocksdb::WriteBatch wb;
    wb.Put(meta_cf_, kFormatKey, kFormatValue);
    wb.Put(meta_cf_, kRevisionKey, EncodeInt(0));
    wb.Put(meta_cf_, kCompactedKey, EncodeInt(0));
    KORCH_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &wb), "store: initializing"));
  } else if (!st.ok()) {
    return FromRocks(st, "store: reading the format marker");
  } else if (format != kFormatValue) {
    return absl::DataLossError(absl::StrCat("store: ", options_.path, " has format \"", format,
                                            "\", this korch reads \"", kFormatValue, "\""));
  }
  KORCH_RETURN_IF_ERROR(
      FromRocks(db_->Get(rocksdb::ReadOptions(), meta_cf_, kRevisionKey, &rev), "store: revision"));
  KORCH_RETURN_IF_ERROR(
      FromRocks(db_->Get(rocksdb::ReadOptions(), meta_cf_, kCompactedKey, &compacted),
                "store: compacted revision"));
  {
    absl::MutexLock l(&window_mu_);
    current_ = DecodeInt(rev);
    window_floor_ = current_;
    compacted_ = DecodeInt(compacted);
  }
  committer_ = std::thread([this] { CommitLoop(); });
  compactor_ = std::thread([this] { CompactLoop(); });
  return absl::OkStatus();
}

RocksDbStorage::~RocksDbStorage() {
  {
    absl::MutexLock l(&queue_mu_);
    stopping_ = true;
  }
  {
    absl::MutexLock l(&stop_mu_);
    stop_compactor_ = true;
  }
  if (committer_.joinable()) committer_.join();
  if (compactor_.joinable()) compactor_.join();
  {
    absl::MutexLock l(&window_mu_);
    closed_ = true;
    WakeWatchers();
    // Watchers hold a pointer to us; wait until they are gone.
    while (watchers_ > 0) window_cv_.WaitWithTimeout(&window_mu_, absl::Milliseconds(10));
  }
  if (db_) {
    for (auto* h : {meta_cf_, kv_cf_, log_cf_}) {
      if (h) db_->DestroyColumnFamilyHandle(h);
    }
    db_->Close();
    db_.reset();
  }
}

absl::Status RocksDbStorage::CheckSizes(absl::string_view key, absl::string_view value) const {
  if (key.empty()) return absl::InvalidArgumentError("key must not be empty");
  if (key.size() > options_.max_key_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("key is ", key.size(),
                                                   " bytes, larger than the limit of ",
                                                   options_.max_key_bytes, " bytes"));
  }
  if (value.size() > options_.max_value_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("value of key \"", key, "\" is ", value.size(),
                                                   " bytes, larger than the limit of ",
                                                   options_.max_value_bytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status RocksDbStorage::Submit(Request* r) {
  uint64_t round;
  bool direct = true;
  {
    absl::MutexLock l(&queue_mu_);
    if (!fatal_.ok()) return fatal_;
    if (stopping_) return absl::UnavailableError("store is closed");
    if (!committing_ && queue_.empty() && last_round_size_ <= 1) {
      // A lone writer commits its own round: handing it to the committer
      // thread and back costs two cross-thread wake-ups per write, which on
      // a loaded (virtual) machine can take longer than the sync.
      committing_ = true;
      round = rounds_taken_++;
    } else {
      queue_.push_back(r);
      round = rounds_taken_;
      direct = false;
    }
  }
  if (direct) {
    std::vector<Request*> own = {r};
    CommitRound(own, round);
    absl::MutexLock l(&queue_mu_);
    committing_ = false;
    return r->status;
  }
  std::atomic<uint32_t>* word = &acked_[round & 1];
  for (;;) {
    // Read the word before the flag: an acknowledgement after this point
    // changes the word, and the wait then returns at once.
    const uint32_t seen = word->load(std::memory_order_acquire);
    if (r->done.load(std::memory_order_acquire)) break;
    ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, seen, nullptr,
              nullptr, 0);
  }
  return r->status;
}

bool RocksDbStorage::Lookup(const std::string& key, const Overlay& overlay, bool with_value,
                            KeyValue* out) {
  auto it = overlay.find(key);
  if (it != overlay.end()) {
    const Event& e = *it->second;
    if (e.type == Event::Type::kDelete) return false;
    out->key = key;
    out->create_revision = e.kv.create_revision;
    out->mod_revision = e.kv.mod_revision;
    out->version = e.kv.version;
    if (with_value) out->value = e.kv.value;
    return true;
  }
  rocksdb::PinnableSlice raw;
  rocksdb::Status st = db_->Get(rocksdb::ReadOptions(), kv_cf_, key, &raw);
  if (!st.ok()) return false;
  out->key = key;
  return DecodeRecord(absl::string_view(raw.data(), raw.size()), out, with_value);
}

void RocksDbStorage::Apply(Request* r, rocksdb::WriteBatch* wb, Overlay* overlay, int64_t* rev,
                           std::vector<std::shared_ptr<const Event>>* events, int64_t now_micros) {
  // The state before the change of every op (looked up once, also for the
  // guard of a single-key request).
  struct Change {
    Op* op;
    std::optional<KeyValue> prev;
  };
  std::vector<Change> changes;
  changes.reserve(r->ops.size());
  auto current = [&](Op& op) {
    Change c{&op, std::nullopt};
    KeyValue kv;
    if (Lookup(op.key, *overlay, /*with_value=*/true, &kv)) c.prev = std::move(kv);
    return c;
  };
  // Guards first; nothing is written unless all hold.
  if (r->kind == Kind::kTxn) {
    for (const Compare& g : r->guards) {
      KeyValue kv;
      int64_t have = Lookup(g.key, *overlay, /*with_value=*/false, &kv) ? kv.mod_revision : 0;
      if (have != g.mod_revision) {
        r->status =
            absl::AbortedError(absl::StrCat("guard failed: key \"", g.key, "\" has mod revision ",
                                            have, ", expected ", g.mod_revision));
        return;
      }
    }
    for (Op& op : r->ops) changes.push_back(current(op));
  } else {
    changes.push_back(current(r->ops[0]));
    const std::string& key = r->ops[0].key;
    const std::optional<KeyValue>& cur = changes[0].prev;
    if (r->kind == Kind::kCreate) {
      if (cur) {
        r->status = absl::AlreadyExistsError(absl::StrCat("key \"", key, "\" already exists"));
        return;
      }
    } else if (!cur) {
      r->status = absl::NotFoundError(absl::StrCat("key \"", key, "\" not found"));
      return;
    } else if (r->expected != 0 && cur->mod_revision != r->expected) {
      r->status = absl::AbortedError(absl::StrCat("key \"", key, "\" has mod revision ",
                                                  cur->mod_revision, ", expected ", r->expected));
      return;
    }
  }
  // Deleting nothing changes nothing.
  changes.erase(
      std::remove_if(changes.begin(), changes.end(),
                     [](const Change& c) { return c.op->type == Op::Type::kDelete && !c.prev; }),
      changes.end());
  if (changes.empty()) {
    r->revision = *rev;
    return;
  }
  const int64_t revision = ++*rev;
  r->revision = revision;
  uint32_t index = 0;
  std::string head, tail;
  // Writes `head` + `value` + `tail` under `key` without joining them first.
  auto put = [wb, &head, &tail](rocksdb::ColumnFamilyHandle* cf, absl::string_view key,
                                absl::string_view value) {
    const rocksdb::Slice k(key.data(), key.size());
    const rocksdb::Slice v[3] = {rocksdb::Slice(head), rocksdb::Slice(value.data(), value.size()),
                                 rocksdb::Slice(tail)};
    wb->Put(cf, rocksdb::SliceParts(&k, 1), rocksdb::SliceParts(v, 3));
  };
  for (Change& c : changes) {
    auto e = std::make_shared<Event>();
    e->kv.key = c.op->key;
    e->kv.mod_revision = revision;
    if (c.op->type == Op::Type::kPut) {
      e->type = Event::Type::kPut;
      // The request is ours until it is acknowledged: take its value.
      e->kv.value = std::move(c.op->value);
      e->kv.create_revision = c.prev ? c.prev->create_revision : revision;
      e->kv.version = c.prev ? c.prev->version + 1 : 1;
      head.clear();
      tail.clear();
      EncodeRecordHead(e->kv, &head);
      put(kv_cf_, c.op->key, e->kv.value);
    } else {
      e->type = Event::Type::kDelete;
      wb->Delete(kv_cf_, c.op->key);
      r->prev = *c.prev;
      r->prev.mod_revision = revision;
    }
    e->prev_kv = std::move(c.prev);
    head.clear();
    tail.clear();
    EncodeEventParts(*e, now_micros, &head, &tail);
    put(log_cf_, LogKey(revision, index++), e->kv.value);
    (*overlay)[e->kv.key] = e.get();
    events->push_back(std::move(e));
  }
}

void RocksDbStorage::CommitLoop() {
  std::vector<Request*> round;
  // Writers acknowledged by the last round: under a steady load they come
  // straight back with their next write.
  size_t expected = 1;
  for (;;) {
    uint64_t round_number;
    // Everything queued while the previous round was being synced forms the
    // next round: the busier the store, the more writes share one sync.
    {
      absl::MutexLock l(&queue_mu_);
      auto ready = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return stopping_ || (!queue_.empty() && !committing_);
      };
      queue_mu_.Await(absl::Condition(&ready));
      const absl::Duration gather = gather_;
      if (queue_.size() < expected && !stopping_ && gather > absl::ZeroDuration()) {
        // Some of the writers just released have not queued their next write
        // yet (on a small machine they wait for a core). Waiting for them
        // briefly makes one sync cover them all; a writer that does not come
        // back costs at most one sync's time, and shrinks the next wait.
        auto full = [this, expected]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return stopping_ || queue_.size() >= expected;
        };
        queue_mu_.AwaitWithTimeout(absl::Condition(&full), gather);
      }
      if (queue_.empty()) return;  // stopping and drained
      round.swap(queue_);
      round_number = rounds_taken_++;
      committing_ = true;
      last_round_size_ = round.size();
    }
    expected = round.size();
    CommitRound(round, round_number);
    round.clear();
    absl::MutexLock l(&queue_mu_);
    committing_ = false;
  }
}

void RocksDbStorage::CommitRound(std::vector<Request*>& round, uint64_t round_number) {
  int64_t rev;
  {
    absl::MutexLock l(&window_mu_);
    rev = current_;
  }
  const int64_t start_rev = rev;
  rocksdb::WriteBatch wb;
  Overlay overlay;
  std::vector<std::shared_ptr<const Event>> events;
  const int64_t now = absl::ToUnixMicros(clock_->Now());
  for (Request* r : round) Apply(r, &wb, &overlay, &rev, &events, now);

  absl::Status write_status;
  if (rev != start_rev) {
    wb.Put(meta_cf_, kRevisionKey, EncodeInt(rev));
    rocksdb::WriteOptions wo;
    wo.sync = options_.sync;
    const absl::Time write_start = absl::Now();
    write_status = FromRocks(db_->Write(wo, &wb), "store: writing");
    const absl::Duration took = std::min(absl::Now() - write_start, kMaxGather);
    absl::MutexLock l(&queue_mu_);
    gather_ = took;
  }
  bool watched = false;
  if (write_status.ok() && rev != start_rev) {
    absl::MutexLock l(&window_mu_);
    watched = watchers_ > 0;
    for (auto& e : events) window_.push_back(std::move(e));
    current_ = rev;
    while (static_cast<int64_t>(window_.size()) > options_.window_events) {
      window_floor_ = window_.front()->revision();
      window_.pop_front();
    }
    // Keep whole revisions in the window: drop the rest of a split one.
    while (!window_.empty() && window_.front()->revision() <= window_floor_) window_.pop_front();
  }
  // Without watchers nobody can be asleep on the word (a new watcher reads
  // the window first): skip the system call.
  if (write_status.ok() && rev != start_rev) {
    if (watched) {
      WakeWatchers();
    } else {
      wake_seq_.fetch_add(1, std::memory_order_release);
    }
  }
  if (!write_status.ok()) {
    KORCH_LOG(log_, kError) << "write failed, the store refuses further writes: " << write_status;
    absl::MutexLock l(&queue_mu_);
    fatal_ = write_status;
  }
  // Acknowledge only after the sync: every write of the round is durable.
  for (Request* r : round) {
    if (!write_status.ok() && r->status.ok()) r->status = write_status;
    r->done.store(true, std::memory_order_release);
  }
  std::atomic<uint32_t>* word = &acked_[round_number & 1];
  word->fetch_add(1, std::memory_order_release);
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
            nullptr, 0);
}

absl::StatusOr<int64_t> RocksDbStorage::Create(absl::string_view key, absl::string_view value) {
  KORCH_RETURN_IF_ERROR(CheckSizes(key, value));
  Request r;
  r.kind = Kind::kCreate;
  r.ops.push_back(Op::Put(std::string(key), std::string(value)));
  KORCH_RETURN_IF_ERROR(Submit(&r));
  return r.revision;
}

absl::StatusOr<int64_t> RocksDbStorage::Update(absl::string_view key, absl::string_view value,
                                               int64_t expected_mod_revision) {
  KORCH_RETURN_IF_ERROR(CheckSizes(key, value));
  Request r;
  r.kind = Kind::kUpdate;
  r.expected = expected_mod_revision;
  r.ops.push_back(Op::Put(std::string(key), std::string(value)));
  KORCH_RETURN_IF_ERROR(Submit(&r));
  return r.revision;
}

absl::StatusOr<KeyValue> RocksDbStorage::Delete(absl::string_view key,
                                                int64_t expected_mod_revision) {
  KORCH_RETURN_IF_ERROR(CheckSizes(key, ""));
  Request r;
  r.kind = Kind::kDelete;
  r.expected = expected_mod_revision;
  r.ops.push_back(Op::Delete(std::string(key)));
  KORCH_RETURN_IF_ERROR(Submit(&r));
  return r.prev;
}

absl::StatusOr<TxnResult> RocksDbStorage::Txn(const std::vector<Compare>& guards,
                                              const std::vector<Op>& ops) {
  if (ops.size() > kMaxTxnOps) {
    return absl::InvalidArgumentError(absl::StrCat(
        "transaction has ", ops.size(), " operations, more than the limit of ", kMaxTxnOps));
  }
  absl::flat_hash_map<absl::string_view, int> seen;
  for (const Op& op : ops) {
    KORCH_RETURN_IF_ERROR(CheckSizes(op.key, op.value));
    if (!seen.emplace(op.key, 1).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("duplicate key \"", op.key, "\" in one transaction"));
    }
  }
  for (const Compare& g : guards) KORCH_RETURN_IF_ERROR(CheckSizes(g.key, ""));
  Request r;
  r.kind = Kind::kTxn;
  r.guards = guards;
  r.ops = ops;
  KORCH_RETURN_IF_ERROR(Submit(&r));
  return TxnResult{r.revision};
}

absl::StatusOr<KeyValue> RocksDbStorage::Get(absl::string_view key) {
  std::string raw;
  rocksdb::Status st =
      db_->Get(rocksdb::ReadOptions(), kv_cf_, rocksdb::Slice(key.data(), key.size()), &raw);
  if (st.IsNotFound()) return absl::NotFoundError(absl::StrCat("key \"", key, "\" not found"));
  KORCH_RETURN_IF_ERROR(FromRocks(st, "store: get"));
  KeyValue kv;
  kv.key = std::string(key);
  if (!DecodeRecord(raw, &kv)) {
    return absl::DataLossError(absl::StrCat("store: record of key \"", key, "\" is corrupt"));
  }
  return kv;
}

absl::Status RocksDbStorage::ReadLog(int64_t from, int64_t to, absl::string_view start,
                                     absl::string_view end, size_t limit,
                                     std::vector<std::shared_ptr<const Event>>* out,
                                     int64_t* scanned) {
  *scanned = from;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), log_cf_));
  for (it->Seek(LogKey(from + 1, 0)); it->Valid(); it->Next()) {
    int64_t rev = DecodeInt(absl::string_view(it->key().data(), it->key().size()));
    if (rev > to) break;
    // Stop between revisions once the batch is full.
    if (out->size() >= limit && rev != *scanned) break;
    auto e = std::make_shared<Event>();
    if (!DecodeEvent(absl::string_view(it->value().data(), it->value().size()), e.get(), nullptr)) {
      return absl::DataLossError(absl::StrCat("store: log entry at revision ", rev, " is corrupt"));
    }
    *scanned = rev;
    if (InRange(e->kv.key, start, end)) out->push_back(std::move(e));
  }
  KORCH_RETURN_IF_ERROR(FromRocks(it->status(), "store: reading the log"));
  if (*scanned < to && out->size() < limit) *scanned = to;
  return absl::OkStatus();
}

absl::StatusOr<RangeResult> RocksDbStorage::Range(absl::string_view start, absl::string_view end,
                                                  const RangeOptions& options) {
  rocksdb::ManagedSnapshot snap(db_.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snap.snapshot();
  std::string raw;
  KORCH_RETURN_IF_ERROR(FromRocks(db_->Get(ro, meta_cf_, kRevisionKey, &raw), "store: revision"));
  const int64_t current = DecodeInt(raw);
  KORCH_RETURN_IF_ERROR(FromRocks(db_->Get(ro, meta_cf_, kCompactedKey, &raw), "store: compacted"));
  const int64_t compacted = DecodeInt(raw);
  const int64_t at = options.revision == 0 ? current : options.revision;
  if (at > current) {
    return absl::OutOfRangeError(
        absl::StrCat("required revision ", at, " is a future revision (current is ", current, ")"));
  }
  if (at < compacted) return CompactedError(at, compacted);

  RangeResult result;
  result.revision = at;
  const bool single = end.empty();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, kv_cf_));
  auto record = [&](absl::string_view key, absl::string_view value, KeyValue* kv) {
    kv->key = std::string(key);
    return DecodeRecord(value, kv, !options.keys_only);
  };

  if (at == current) {
    // The common case: the latest state, streamed with the limit applied.
    for (it->Seek(rocksdb::Slice(start.data(), start.size())); it->Valid(); it->Next()) {
      absl::string_view key(it->key().data(), it->key().size());
      if (single ? key != start : key >= end) break;
      ++result.count;
      if (options.limit > 0 && static_cast<int64_t>(result.kvs.size()) >= options.limit) {
        if (!result.more) {
          result.more = true;
          result.continue_key = std::string(key);
        }
        continue;
      }
      KeyValue kv;
      if (!record(key, absl::string_view(it->value().data(), it->value().size()), &kv)) {
        return absl::DataLossError(absl::StrCat("store: record of key \"", key, "\" is corrupt"));
      }
      result.kvs.push_back(std::move(kv));
      if (single) break;
    }
    KORCH_RETURN_IF_ERROR(FromRocks(it->status(), "store: range"));
    return result;
  }

  // An older revision: today's values, with the changes after `at` undone.
  std::map<std::string, KeyValue> state;
  for (it->Seek(rocksdb::Slice(start.data(), start.size())); it->Valid(); it->Next()) {
    absl::string_view key(it->key().data(), it->key().size());
    if (single ? key != start : key >= end) break;
    KeyValue kv;
    if (!record(key, absl::string_view(it->value().data(), it->value().size()), &kv)) {
      return absl::DataLossError(absl::StrCat("store: record of key \"", key, "\" is corrupt"));
    }
    state.emplace(kv.key, std::move(kv));
    if (single) break;
  }
  KORCH_RETURN_IF_ERROR(FromRocks(it->status(), "store: range"));
  std::vector<Event> undo;
  std::unique_ptr<rocksdb::Iterator> log(db_->NewIterator(ro, log_cf_));
  for (log->Seek(LogKey(at + 1, 0)); log->Valid(); log->Next()) {
    Event e;
    if (!DecodeEvent(absl::string_view(log->value().data(), log->value().size()), &e, nullptr)) {
      return absl::DataLossError("store: log entry is corrupt");
    }
    if (InRange(e.kv.key, start, end)) undo.push_back(std::move(e));
  }
  KORCH_RETURN_IF_ERROR(FromRocks(log->status(), "store: reading the log"));
  for (auto e = undo.rbegin(); e != undo.rend(); ++e) {
    if (e->prev_kv) {
      KeyValue prev = *e->prev_kv;
      if (options.keys_only) prev.value.clear();
      state[prev.key] = std::move(prev);
    } else {
      state.erase(e->kv.key);
    }
  }
  result.count = static_cast<int64_t>(state.size());
  for (auto& [key, kv] : state) {
    if (options.limit > 0 && static_cast<int64_t>(result.kvs.size()) >= options.limit) {
      result.more = true;
      result.continue_key = key;
      break;
    }
    result.kvs.push_back(std::move(kv));
  }
  return result;
}

absl::StatusOr<std::unique_ptr<Watcher>> RocksDbStorage::Watch(absl::string_view start,
                                                               absl::string_view end,
                                                               const WatchOptions& options) {
  absl::MutexLock l(&window_mu_);
  if (closed_) return absl::UnavailableError("store is closed");
  int64_t from = options.start_revision < 0 ? current_ : options.start_revision;
  if (from < compacted_) return CompactedError(from, compacted_);
  int64_t max_pending =
      options.max_pending_events > 0 ? options.max_pending_events : options_.max_pending_events;
  ++watchers_;
  return std::unique_ptr<Watcher>(
      new RocksWatcher(this, std::string(start), std::string(end), from, options, max_pending));
}

void RocksDbStorage::Unregister(RocksWatcher*) {
  absl::MutexLock l(&window_mu_);
  --watchers_;
  window_cv_.SignalAll();
}

absl::Status RocksDbStorage::Compact(int64_t revision) {
  absl::MutexLock cl(&compact_mu_);
  int64_t current, compacted;
  {
    absl::MutexLock l(&window_mu_);
    current = current_;
    compacted = compacted_;
  }
  if (revision > current) {
    return absl::OutOfRangeError(absl::StrCat("cannot compact to revision ", revision,
                                              ": it is a future revision (current is ", current,
                                              ")"));
  }
  if (revision <= compacted) {
    return absl::OutOfRangeError(absl::StrCat("required revision has been compacted (revision ",
                                              revision, ", compacted up to ", compacted, ")"));
  }
  rocksdb::WriteBatch wb;
  wb.DeleteRange(log_cf_, LogKey(0, 0), LogKey(revision + 1, 0));
  wb.Put(meta_cf_, kCompactedKey, EncodeInt(revision));
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  KORCH_RETURN_IF_ERROR(FromRocks(db_->Write(wo, &wb), "store: compacting"));
  absl::MutexLock l(&window_mu_);
  compacted_ = revision;
  return absl::OkStatus();
}

void RocksDbStorage::CompactLoop() {
  const absl::Duration interval =
      std::max(absl::Seconds(1), std::min(absl::Minutes(1), options_.log_retention / 10));
  for (;;) {
    {
      absl::MutexLock l(&stop_mu_);
      if (clock_->AwaitWithDeadline(&stop_mu_, &stop_compactor_, clock_->Now() + interval)) return;
    }
    int64_t current, compacted;
    {
      absl::MutexLock l(&window_mu_);
      current = current_;
      compacted = compacted_;
    }
    // Drop what is older than the retention, and what exceeds the count.
    int64_t target = std::max<int64_t>(compacted, current - options_.max_log_events);
    const int64_t cutoff = absl::ToUnixMicros(clock_->Now() - options_.log_retention);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), log_cf_));
    for (it->Seek(LogKey(target + 1, 0)); it->Valid(); it->Next()) {
      Event e;
      int64_t t = 0;
      if (!DecodeEvent(absl::string_view(it->value().data(), it->value().size()), &e, &t)) break;
      if (t > cutoff) break;
      target = e.revision();
    }
    // Keep the latest revision readable.
    target = std::min(target, current);
    if (target > compacted) {
      absl::Status s = Compact(target);
      if (!s.ok() && s.code() != absl::StatusCode::kOutOfRange) {
        KORCH_LOG(log_, kWarning) << "automatic compaction to " << target << " failed: " << s;
      }
    }
  }
}

absl::StatusOr<int64_t> RocksDbStorage::CurrentRevision() {
  absl::MutexLock l(&window_mu_);
  return current_;
}

StorageStats RocksDbStorage::Stats() {
  StorageStats s;
  uint64_t keys = 0;
  db_->GetIntProperty(kv_cf_, "rocksdb.estimate-num-keys", &keys);
  s.keys = static_cast<int64_t>(keys);
  absl::MutexLock l(&window_mu_);
  s.current_revision = current_;
  s.compacted_revision = compacted_;
  s.watchers = watchers_;
  s.window_events = static_cast<int64_t>(window_.size());
  return s;
}

// ---- watchers -----------------------------------------------------------------

RocksWatcher::RocksWatcher(RocksDbStorage* storage, std::string start, std::string end,
                           int64_t last, const WatchOptions& options, int64_t max_pending)
    : storage_(storage),
      start_(std::move(start)),
      end_(std::move(end)),
      last_(last),
      progress_interval_(options.progress_interval),
      max_pending_(max_pending),
      last_delivery_(storage->clock_->Now()) {}

RocksWatcher::~RocksWatcher() { storage_->Unregister(this); }

void RocksWatcher::Cancel() {
  cancelled_ = true;
  storage_->WakeWatchers();
}

absl::StatusOr<WatchBatch> RocksWatcher::Next(absl::Duration timeout) {
  if (!ended_.ok()) return ended_;
  auto end_with = [this](absl::Status s) {
    ended_ = std::move(s);
    return ended_;
  };
  Clock& clock = *storage_->clock_;
  const absl::Time deadline = clock.Now() + timeout;
  WatchBatch batch;
  for (;;) {
    // Read before looking at the window: a commit after this point changes
    // it, and the futex wait below then returns at once.
    const uint32_t seen = storage_->wake_seq_.load(std::memory_order_acquire);
    if (cancelled_) return end_with(absl::CancelledError("watch cancelled"));
    int64_t floor, current, compacted;
    bool closed;
    {
      // Watchers only read the window: they share the lock, so a thousand of
      // them scan it at once instead of queueing.
      absl::ReaderMutexLock l(&storage_->window_mu_);
      floor = storage_->window_floor_;
      current = storage_->current_;
      compacted = storage_->compacted_;
      closed = storage_->closed_;
      if (closed) return end_with(absl::CancelledError("store is closed"));
      if (last_ >= floor) {
        if (live_ && current - last_ > max_pending_) {
          return end_with(absl::ResourceExhaustedError(
              absl::StrCat("watcher fell behind by more than ", max_pending_,
                           " events and was ended; resume from revision ", last_)));
        }
        live_ = true;
        // Binary search the window for the first event after last_.
        auto& w = storage_->window_;
        auto it = std::upper_bound(
            w.begin(), w.end(), last_,
            [](int64_t rev, const std::shared_ptr<const Event>& e) { return rev < e->revision(); });
        for (; it != w.end(); ++it) {
          const auto& e = *it;
          if (batch.events.size() >= kMaxWatchBatch && e->revision() != last_) break;
          last_ = e->revision();
          if (InRange(e->kv.key, start_, end_)) batch.events.push_back(e);
        }
        if (it == w.end()) last_ = std::max(last_, current);
      }
    }
    if (last_ < floor) {
      // Behind the window: catch up from the log on disk.
      if (live_) {
        return end_with(absl::ResourceExhaustedError(absl::StrCat(
            "watcher fell behind the in-memory window and was ended; resume from revision ",
            last_)));
      }
      if (last_ < compacted) return end_with(CompactedError(last_, compacted));
      int64_t scanned;
      absl::Status s =
          storage_->ReadLog(last_, floor, start_, end_, kMaxWatchBatch, &batch.events, &scanned);
      if (!s.ok()) return end_with(s);
      last_ = scanned;
    }
    if (!batch.events.empty()) {
      batch.revision = last_;
      last_delivery_ = clock.Now();
      return batch;
    }
    const absl::Time now = clock.Now();
    if (progress_interval_ > absl::ZeroDuration() && now >= last_delivery_ + progress_interval_) {
      last_delivery_ = now;
      batch.revision = last_;
      return batch;  // progress notification
    }
    if (now >= deadline) {
      batch.revision = last_;
      return batch;
    }
    if (last_ < floor) continue;  // more to read from disk
    absl::Time wake = deadline;
    if (progress_interval_ > absl::ZeroDuration()) {
      wake = std::min(wake, last_delivery_ + progress_interval_);
    }
    // Real-time wait bounded by the (possibly fake) clock's remaining time;
    // fake clocks are polled so that Advance() is noticed.
    absl::Duration wait = wake - now;
    if (dynamic_cast<FakeClock*>(&clock) != nullptr) wait = std::min(wait, absl::Milliseconds(5));
    storage_->WaitForWake(seen, wait);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Storage>> OpenRocksDbStorage(const RocksDbStorageOptions& options) {
  return RocksDbStorage::Open(options, nullptr);
}

absl::StatusOr<std::unique_ptr<Storage>> OpenMemoryStorage(RocksDbStorageOptions options) {
  options.path = "/korch-memory-store";
  options.sync = false;
  return RocksDbStorage::Open(options, rocksdb::NewMemEnv(rocksdb::Env::Default()));
}

}  // namespace korch::store
