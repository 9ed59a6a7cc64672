// The indexed object cache that informers fill and listers read: client-go's
// `tools/cache` ThreadSafeStore / Indexer.
//
// An informer keeps an Indexer equal to the API server's view of one
// resource: it calls Replace() with the result of every (re)list and
// Add()/Update()/Delete() for each watch event. Controllers read it from
// their workers (Get(key) for the key the work queue handed them, ByIndex()
// for "all pods on node X", "all objects owned by UID U") and never write
// it.
//
//   Indexer pods({{kNamespaceIndex, NamespaceIndex()}, {kNodeNameIndex, NodeNameIndex()}});
//   pods.Add(std::make_shared<const api::Pod>(std::move(pod)));
//   absl::StatusOr<std::vector<ObjectPtr>> on_node = pods.ByIndex(kNodeNameIndex, "node-1");
#ifndef KORCH_CLIENT_CACHE_H_
#define KORCH_CLIENT_CACHE_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/message.h"
#include "korch/export.h"

namespace korch::client {

// A cached object. Objects are immutable once stored: readers share them
// without copying, and a writer that wants to change one stores a new
// object under the same key.
using ObjectPtr = std::shared_ptr<const google::protobuf::Message>;

// The cache key of `object`: "namespace/name", or "name" when
// metadata.namespace is empty (cluster-scoped kinds). `object` must have a
// singular field named "metadata" of type korch.api.ObjectMeta
// (InvalidArgument otherwise) with a non-empty name (InvalidArgument,
// "metadata.name: required").
KORCH_EXPORT absl::StatusOr<std::string> ObjectKey(const google::protobuf::Message& object);

// Computes the values under which an object is indexed; an object may have
// none, one or several. Must be a pure function of the object (the Indexer
// calls it again on the stored object to find the old values when it is
// replaced or deleted), must be thread-safe, and must not call back into
// the Indexer (it runs under the Indexer's write lock).
using IndexFunc = std::function<std::vector<std::string>(const google::protobuf::Message&)>;

// Index functions by index name.
using Indexers = absl::flat_hash_map<std::string, IndexFunc>;

// Conventional names for the built-in index functions below.
inline constexpr char kNamespaceIndex[] = "namespace";
inline constexpr char kNodeNameIndex[] = "nodeName";
inline constexpr char kOwnerUidIndex[] = "ownerUid";

// metadata.namespace; "" for cluster-scoped objects (as client-go's
// MetaNamespaceIndexFunc). No values for objects without metadata.
KORCH_EXPORT IndexFunc NamespaceIndex();
// spec.nodeName of Pods. No values for unscheduled pods (empty nodeName)
// and for every other kind.
KORCH_EXPORT IndexFunc NodeNameIndex();
// The uid of every metadata.ownerReferences[] entry (empty uids skipped).
KORCH_EXPORT IndexFunc OwnerUidIndex();
// The value of the label `key` (possibly ""); no values when the object
// does not carry the label. `key` is copied.
KORCH_EXPORT IndexFunc LabelIndex(absl::string_view key);

// A thread-safe map from ObjectKey() to object, with secondary indexes
// maintained on every write: for each index name, a map from index value to
// the set of keys whose object produces that value.
//
// Invariant: after every public call returns, each index holds exactly the
// values that its IndexFunc gives for the stored objects, and no value with
// an empty key set (deleting the last object under a value frees it).
//
// Threads: every method is thread-safe. Reads (Get, List, ByIndex, ...)
// take a shared lock and run in parallel; writes take an exclusive lock.
// Each call sees one consistent state: ByIndex() never returns an object
// that is no longer stored or whose current index values do not include
// the value asked for. Results are snapshots; returned objects stay valid
// (they are shared) after they are replaced or deleted. The order of
// List(), ListKeys(), ByIndex(), IndexKeys() and ListIndexFuncValues() is
// unspecified.
//
// Memory: one shared_ptr per object and, per index, one key string per
// (value, object) pair.
class KORCH_EXPORT Indexer {
 public:
  // `indexers` may be empty. A null IndexFunc indexes nothing.
  explicit Indexer(Indexers indexers = {});

  Indexer(const Indexer&) = delete;
  Indexer& operator=(const Indexer&) = delete;

  // Adds more indexes before first use. AlreadyExists if a name is already
  // an index (nothing is added then); FailedPrecondition once the Indexer
  // holds objects (client-go: "cannot add indexers to running index").
  absl::Status AddIndexers(Indexers indexers);

  // Stores `object` under ObjectKey(*object), replacing any object stored
  // under that key and moving the key from the old object's index values to
  // the new one's. InvalidArgument for a null object or one without a key;
  // nothing changes then. Add and Update are the same operation.
  absl::Status Add(ObjectPtr object);
  absl::Status Update(ObjectPtr object);

  // Removes the object stored under `key` from the map and every index.
  // Returns whether one was stored.
  bool Delete(absl::string_view key);

  // The object stored under `key`, or null.
  ObjectPtr Get(absl::string_view key) const;

  // All stored objects / keys.
  std::vector<ObjectPtr> List() const;
  std::vector<std::string> ListKeys() const;

  // The objects / keys indexed under `value` by the index `index_name`
  // (empty when none). NotFound for an unknown index name.
  absl::StatusOr<std::vector<ObjectPtr>> ByIndex(absl::string_view index_name,
                                                 absl::string_view value) const;
  absl::StatusOr<std::vector<std::string>> IndexKeys(absl::string_view index_name,
                                                     absl::string_view value) const;

  // Every value of the index `index_name` that at least one stored object
  // has. NotFound for an unknown index name.
  absl::StatusOr<std::vector<std::string>> ListIndexFuncValues(absl::string_view index_name) const;

  // The names of the indexes.
  std::vector<std::string> IndexNames() const;

  // Replaces the whole content with `objects` (a relist) and records
  // `resource_version`. The new content and its indexes are built without
  // holding the lock and swapped in at once, so readers see either the old
  // or the new content, never a mix. When two objects have the same key,
  // the later one wins. InvalidArgument (nothing changes) if an object is
  // null or has no key.
  absl::Status Replace(std::vector<ObjectPtr> objects, absl::string_view resource_version);

  // The resource_version given to the last Replace() ("" before any).
  std::string LastSyncResourceVersion() const;

  // The number of stored objects.
  size_t Size() const;

 private:
  // Keys by index value.
  using Index = absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>>;
  using Items = absl::flat_hash_map<std::string, ObjectPtr>;
  using Indices = absl::flat_hash_map<std::string, Index>;

  // Adds `key` to every index under the values of `object`.
  static void IndexObject(const Indexers& indexers, const std::string& key,
                          const google::protobuf::Message& object, Indices& indices);
  // Removes `key` from every index under the values of `object`, freeing
  // values left with no key.
  static void UnindexObject(const Indexers& indexers, const std::string& key,
                            const google::protobuf::Message& object, Indices& indices);
  static Indices BuildIndices(const Indexers& indexers, const Items& items);

  mutable absl::Mutex mu_;
  // Copy-on-write so that Replace() can build indexes outside the lock with
  // the functions current when it started; AddIndexers() swaps in a new map.
  std::shared_ptr<const Indexers> indexers_ ABSL_GUARDED_BY(mu_);
  Items items_ ABSL_GUARDED_BY(mu_);
  // One entry per index name, present even when the index is empty.
  Indices indices_ ABSL_GUARDED_BY(mu_);
  std::string resource_version_ ABSL_GUARDED_BY(mu_);
};

}  // namespace korch::client

#endif  // KORCH_CLIENT_CACHE_H_
