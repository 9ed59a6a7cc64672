// korch::store: the cluster's state, with etcd's guarantees.
//
// A Storage holds keys and values under one global, strictly increasing
// revision. Every successful write creates exactly one new revision (a
// transaction's puts and deletes share one). Writes can be guarded by the
// mod revision a key must have, so that read-modify-write cycles never lose
// an update. Every change is kept in a watch log for a while: a watcher can
// start from any retained revision and receives every later change in
// revision order, exactly once. Old history is dropped by compaction.
//
// Backends:
//   - RocksDB (the embedded default, OpenRocksDbStorage): one directory,
//     durable (synced write-ahead log with group commit).
//   - etcd v3 (OpenEtcdStorage): a client of a real etcd cluster, for when
//     one machine is not enough.
//   - memory (OpenMemoryStorage): the RocksDB backend on an in-memory
//     filesystem, for fast tests of upper layers; same semantics, not
//     durable.
// All pass the same conformance suite (tests/store/conformance_test.cc).
//
// Errors (absl::Status codes):
//   kAlreadyExists       Create of a key that exists
//   kNotFound            Update/Delete/Get of a key that does not exist
//   kAborted             a guard failed: the key's mod revision differs from
//                        the expected one (re-read and retry)
//   kOutOfRange          a read or watch at a revision that was compacted
//                        ("required revision has been compacted") or that
//                        is in the future
//   kInvalidArgument     a key or value too large, an empty key
//   kResourceExhausted   a watcher fell too far behind and was ended; it can
//                        resume from the last revision it received
//   kUnavailable         the backend cannot be reached (etcd), or is closed
//   kDataLoss            the data directory is corrupt or not korch's
//
// Implementations are thread-safe.
#ifndef KORCH_STORE_H_
#define KORCH_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "korch/base/clock.h"
#include "korch/export.h"

namespace korch::store {

// A key with its value and revisions.
struct KeyValue {
  std::string key;
  std::string value;
  // The revision that created the key (since its last deletion).
  int64_t create_revision = 0;
  // The revision of the last write to the key.
  int64_t mod_revision = 0;
  // Writes since creation: 1 after Create, +1 per Update.
  int64_t version = 0;
};

struct RangeOptions {
  // Read the state as of this revision; 0 = the latest.
  int64_t revision = 0;
  // At most this many keys; 0 = no limit.
  int64_t limit = 0;
  // Leave `value` empty in the results.
  bool keys_only = false;
};

struct RangeResult {
  // Keys in [start, end) in key order.
  std::vector<KeyValue> kvs;
  // The revision the range was read at. Reading again at this revision
  // (with `start` = `continue_key`) continues the same consistent view.
  int64_t revision = 0;
  // True if keys beyond the last one returned match; continue from
  // `continue_key`.
  bool more = false;
  std::string continue_key;
  // The number of keys in [start, end) at `revision`, regardless of limit.
  int64_t count = 0;
};

// A guard: `key` must have this mod revision (0: the key must not exist).
struct Compare {
  std::string key;
  int64_t mod_revision = 0;
};

// A write inside a transaction.
struct Op {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  std::string key;
  std::string value;  // kPut only

  static Op Put(std::string key, std::string value) {
    return Op{Type::kPut, std::move(key), std::move(value)};
  }
  static Op Delete(std::string key) { return Op{Type::kDelete, std::move(key), {}}; }
};

struct TxnResult {
  // The revision of the transaction's writes (or the current revision if
  // there were none).
  int64_t revision = 0;
};

struct Event {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  // After the change; for a delete, the key and the deletion's revision as
  // mod_revision, with an empty value.
  KeyValue kv;
  // Before the change; absent on a create.
  std::optional<KeyValue> prev_kv;
  // The revision of this change (== kv.mod_revision).
  int64_t revision() const { return kv.mod_revision; }
};

// One delivery from a watch: events in revision order, or a progress
// notification (no events) saying that nothing under the watcher's prefix
// changed up to `revision` (a Kubernetes bookmark).
struct WatchBatch {
  std::vector<std::shared_ptr<const Event>> events;
  // The revision the watcher has seen everything up to. Resume a watch from
  // here to continue without gaps.
  int64_t revision = 0;
  bool progress_notify() const { return events.empty(); }
};

struct WatchOptions {
  static constexpr int64_t kFromNow = -1;
  // Deliver every change with revision > start_revision (0: the whole
  // retained history). kFromNow: only changes after the current revision.
  int64_t start_revision = kFromNow;
  // Send a progress notification when nothing was delivered for this long
  // (zero: never).
  absl::Duration progress_interval = absl::Seconds(10);
  // How many undelivered events a watcher may have before it is ended with
  // kResourceExhausted (0: the backend's default).
  int64_t max_pending_events = 0;
};

// A stream of changes under one key range. Not thread-safe: one consumer.
// Destroying it cancels the watch. Destroy every Watcher before the Storage
// that made it (the Storage's destructor waits for them).
class KORCH_EXPORT Watcher {
 public:
  virtual ~Watcher() = default;

  // Waits up to `timeout` for the next batch. Returns an empty batch if
  // nothing arrived (callers re-check their own stop condition and call
  // again); its `revision` is, as for every batch, one the watcher has seen
  // every change up to, so resuming from it never skips an event.
  // Returns an error when the watch ends: kResourceExhausted (fell behind),
  // kOutOfRange (compacted), kUnavailable (backend gone), kCancelled
  // (Cancel() or storage closed). After an error, the watcher stays ended.
  virtual absl::StatusOr<WatchBatch> Next(absl::Duration timeout) = 0;

  // Ends the watch; a blocked Next() returns kCancelled. Thread-safe.
  virtual void Cancel() = 0;
};

struct StorageStats {
  int64_t current_revision = 0;
  int64_t compacted_revision = 0;
  int64_t keys = 0;
  int64_t watchers = 0;
  // Events held in memory for watch fan-out.
  int64_t window_events = 0;
};

class KORCH_EXPORT Storage {
 public:
  virtual ~Storage() = default;

  virtual absl::StatusOr<KeyValue> Get(absl::string_view key) = 0;

  // Keys in [start, end). An empty `end` means only `start`; use
  // PrefixEnd(prefix) to range over a prefix. There is no "to the end of
  // the keyspace" form: keep keys under a common prefix (the API server
  // uses "/registry/") and range over that.
  virtual absl::StatusOr<RangeResult> Range(absl::string_view start, absl::string_view end,
                                            const RangeOptions& options = {}) = 0;

  // Creates `key`; kAlreadyExists if present. Returns the new revision.
  virtual absl::StatusOr<int64_t> Create(absl::string_view key, absl::string_view value) = 0;

  // Replaces the value of an existing key whose mod revision is
  // `expected_mod_revision` (0: any). kNotFound if absent, kAborted on a
  // mismatch. Returns the new revision.
  virtual absl::StatusOr<int64_t> Update(absl::string_view key, absl::string_view value,
                                         int64_t expected_mod_revision) = 0;

  // Deletes an existing key whose mod revision is `expected_mod_revision`
  // (0: any). kNotFound if absent, kAborted on a mismatch. Returns the key
  // as it was, with the deletion's revision in `mod_revision`.
  virtual absl::StatusOr<KeyValue> Delete(absl::string_view key, int64_t expected_mod_revision) = 0;

  // If every guard holds, applies `ops` atomically under one revision;
  // otherwise kAborted naming the first failed guard and nothing is written.
  virtual absl::StatusOr<TxnResult> Txn(const std::vector<Compare>& guards,
                                        const std::vector<Op>& ops) = 0;

  // Watches keys in [start, end) (empty `end`: only `start`). kOutOfRange if
  // options.start_revision has been compacted.
  virtual absl::StatusOr<std::unique_ptr<Watcher>> Watch(absl::string_view start,
                                                         absl::string_view end,
                                                         const WatchOptions& options = {}) = 0;

  // Drops history before `revision` (as etcd does): afterwards, reads at a
  // revision < `revision` and watches with start_revision < `revision` fail
  // with kOutOfRange. The state at `revision` and later stays readable.
  // kOutOfRange if `revision` is in the future.
  virtual absl::Status Compact(int64_t revision) = 0;

  virtual absl::StatusOr<int64_t> CurrentRevision() = 0;

  // Whether CurrentRevision() is answered from memory, cheaply enough to
  // ask on every request (an embedded store), rather than with a round trip
  // to a server. Callers use it to decide whether to keep caches that they
  // bring up to date with a watch before each read.
  virtual bool LocalCurrentRevision() const { return false; }

  virtual StorageStats Stats() = 0;
};

// The smallest key greater than every key starting with `prefix`
// ("" if there is none, i.e. the prefix is all 0xff).
KORCH_EXPORT std::string PrefixEnd(absl::string_view prefix);

struct RocksDbStorageOptions {
  // The data directory; created if missing.
  std::string path;
  // Sync the write-ahead log before acknowledging a write (durable across a
  // power loss). Concurrent writes share one sync (group commit). When
  // false, an acknowledged write survives a process crash but not a machine
  // crash; several times faster for single writers.
  bool sync = true;
  // Largest key, and largest value, accepted (etcd's default request limit
  // is 1.5 MiB).
  size_t max_key_bytes = 4096;
  size_t max_value_bytes = 1536 * 1024;
  // The watch log keeps at least this much history and at most
  // `max_log_events` events; older entries are compacted automatically.
  absl::Duration log_retention = absl::Minutes(5);
  int64_t max_log_events = 100000;
  // How many recent events are held in memory for watch fan-out.
  int64_t window_events = 10000;
  // Per-watcher limit on undelivered events (WatchOptions may lower it).
  int64_t max_pending_events = 10000;
  // Write-ahead log kept on disk, at most about this much: beyond it the
  // column families still holding the oldest log are flushed so that it can
  // be deleted. A restart replays the whole log, so this bounds restart time
  // (without it, the small metadata column family, which rarely fills its
  // memtable, kept gigabytes of log alive).
  uint64_t max_wal_bytes = 128 << 20;
  // Time source for retention and progress notifications.
  std::shared_ptr<Clock> clock;  // null: the real clock
};

KORCH_EXPORT absl::StatusOr<std::unique_ptr<Storage>> OpenRocksDbStorage(
    const RocksDbStorageOptions& options);

// The RocksDB backend on an in-memory filesystem: for tests; nothing is
// written to disk. `options.path` is ignored.
KORCH_EXPORT absl::StatusOr<std::unique_ptr<Storage>> OpenMemoryStorage(
    RocksDbStorageOptions options = {});

struct EtcdStorageOptions {
  // Client URLs of the cluster's members ("127.0.0.1:2379" or
  // "http://127.0.0.1:2379"). Requests fail over to the next member when
  // one is unreachable.
  std::vector<std::string> endpoints;
  // Every key is stored under this prefix in etcd (so several korch
  // clusters can share one etcd); it is invisible to callers.
  std::string key_prefix;
  // Deadline for one request, including failover.
  absl::Duration request_timeout = absl::Seconds(10);
  // Time to connect to one member before trying the next.
  absl::Duration dial_timeout = absl::Seconds(2);
  size_t max_value_bytes = 1536 * 1024;
  // Per-watcher limit on undelivered events.
  int64_t max_pending_events = 10000;
};

KORCH_EXPORT absl::StatusOr<std::unique_ptr<Storage>> OpenEtcdStorage(
    const EtcdStorageOptions& options);

}  // namespace korch::store

#endif  // KORCH_STORE_H_
