// Informers: a local, indexed, eventually consistent copy of one kind of
// object, kept current by list-then-watch through a Client (client-go's
// SharedIndexInformer, Reflector and listers).
//
//   auto factory = SharedInformerFactory(client, {.resync_period = ...});
//   Informer& pods = factory.ForKind(client.KindOf<api::Pod>());
//   pods.AddEventHandler({.on_add = [&](const ObjectPtr& p) { queue.Add(key) }});
//   factory.Start();
//   factory.WaitForCacheSync(absl::Seconds(10));
//   Lister<api::Pod> lister(pods);
//   for (auto& p : lister.List("default", selector)) ...
//
// The informer lists (in pages), fills its Indexer, then watches from the
// list's resourceVersion. When the watch ends it watches again from the last
// revision it saw; when that revision is too old (kOutOfRange, 410 Expired)
// or the watcher fell behind, it lists again and replaces the cache,
// delivering adds, updates and deletes for the difference, so handlers never
// miss a change of state. Retries back off (from 100 ms doubling to 30 s).
//
// Threads: each informer runs one thread that watches and calls the event
// handlers in order, with no lock held (handlers must not block for long;
// enqueue keys). The Indexer and listers are thread-safe and can be read from
// any thread. The cache already holds a change when its handlers are called.
//
// Waiting: Stop() and AddEventHandler() cancel the current watch to wake the
// thread (a handler added while watching costs one re-watch from the last
// revision, never a list). Retry backoff waits on the injected clock (with a
// FakeClock it ends when the test advances time, or at Stop()). Resync
// deadlines are on the injected clock too; with the real clock the thread
// sleeps until the next one, with any other clock it checks every 50 ms of
// real time.

#ifndef KORCH_CLIENT_INFORMER_H_
#define KORCH_CLIENT_INFORMER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "korch/api/scheme.h"
#include "korch/api/selector.h"
#include "korch/base/clock.h"
#include "korch/client/cache.h"
#include "korch/client/client.h"
#include "korch/export.h"

namespace korch::client {

// Callbacks of one handler; any may be empty. `on_delete` gets the last
// state the informer knew (for a watched deletion, the object as the DELETED
// event carries it: its last state with the deletion's resourceVersion).
// On a relist, objects whose resourceVersion did not change get no call.
struct ResourceEventHandler {
  std::function<void(const ObjectPtr& object)> on_add;
  std::function<void(const ObjectPtr& old_object, const ObjectPtr& new_object)> on_update;
  std::function<void(const ObjectPtr& last_known)> on_delete;
};

struct InformerOptions {
  // Watch one namespace ("" = all, or the kind is cluster-scoped).
  std::string namespace_;
  // Server-side selection of the objects cached.
  std::string label_selector;
  std::string field_selector;
  // Every `resync_period` (0 = never) each handler gets on_update(obj, obj)
  // for every cached object, so controllers re-check the world.
  absl::Duration resync_period = absl::ZeroDuration();
  // List page size (0 = one request).
  int64_t page_size = 500;
  // Indexes besides kNamespaceIndex, which is always present.
  Indexers indexers;
  // Clock for resync and retry backoff. Null: the real clock.
  Clock* clock = nullptr;
};

class KORCH_EXPORT Informer {
 public:
  // `client` must outlive the informer.
  Informer(Client& client, const api::KindInfo& kind, InformerOptions options);
  ~Informer();  // Stops.
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Adds a handler. A handler added after the informer started first gets
  // on_add for every cached object (on the informer thread, before any
  // later change, so it misses nothing and sees nothing twice).
  void AddEventHandler(ResourceEventHandler handler);
  // Adds indexes; FailedPrecondition once started.
  absl::Status AddIndexers(Indexers indexers);

  // Starts the list/watch thread (once; later calls do nothing).
  void Start();
  // Stops watching and joins the thread; no handler runs after it returns.
  // Called from one of this informer's handlers, it only asks the thread to
  // stop (it ends once the handler returns). A stopped informer does not
  // start again.
  void Stop();

  // True once the first list has been stored and its adds delivered.
  bool HasSynced() const;
  // Waits until HasSynced() or `timeout` passes (real time).
  bool WaitForSync(absl::Duration timeout) const;

  const api::KindInfo& kind() const { return kind_; }
  // The cache. Read-only use: writes would be overwritten by the watch.
  const Indexer& indexer() const;
  // The resourceVersion of the last event or list applied to the cache,
  // advanced once the handlers for it have returned (so a caller that sees
  // revision N also sees every handler call for changes up to N). Bookmarks
  // advance it too.
  std::string LastResourceVersion() const;
  // How many times the informer has listed (1 after the first sync),
  // counted once a list has replaced the cache, before its handler calls.
  int64_t ListCount() const;

  // Ends the current watch as if the connection dropped: the informer
  // watches again from LastResourceVersion() (and lists again when that
  // revision was compacted meanwhile).
  void RestartWatchForTest();

 private:
  class Impl;
  const api::KindInfo& kind_;
  std::unique_ptr<Impl> impl_;
};

// Waits up to `timeout` (real time); true when every informer synced.
KORCH_EXPORT bool WaitForCacheSync(const std::vector<const Informer*>& informers,
                                   absl::Duration timeout);

// One informer per kind (restricted to Options::namespace_) shared by every
// component of a process that asks for it. Thread-safe.
class KORCH_EXPORT SharedInformerFactory {
 public:
  struct Options {
    // Default resync period of the informers made (0 = none).
    absl::Duration resync_period = absl::ZeroDuration();
    // Restrict every informer to one namespace ("" = all).
    std::string namespace_;
    Clock* clock = nullptr;
  };
  SharedInformerFactory(Client& client, Options options);
  explicit SharedInformerFactory(Client& client) : SharedInformerFactory(client, Options{}) {}
  ~SharedInformerFactory();  // Stops every informer.

  // The informer for `kind` (made on first use; started at once when the
  // factory was already started). Indexes named by `indexers` are added
  // when the informer has not started yet.
  Informer& ForKind(const api::KindInfo& kind, Indexers indexers = {});
  template <typename T>
  Informer& For() {
    return ForKind(*client_.scheme().Find(T::descriptor()));
  }
  // Starts every informer made so far (and those made later).
  void Start();
  // True when every informer made so far synced within `timeout`.
  bool WaitForCacheSync(absl::Duration timeout);
  void Stop();

 private:
  Client& client_;
  Options options_;
  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<const api::KindInfo*, std::unique_ptr<Informer>> informers_
      ABSL_GUARDED_BY(mu_);
};

// Typed, read-only views of an informer's cache (client-go listers).
template <typename T>
class Lister {
 public:
  explicit Lister(const Informer& informer) : informer_(informer) {}

  // The cached object `ns`/`name` (`name` for cluster-scoped kinds), or null.
  std::shared_ptr<const T> Get(absl::string_view ns, absl::string_view name) const {
    ObjectPtr object = informer_.indexer().Get(
        ns.empty() ? std::string(name) : std::string(ns) + "/" + std::string(name));
    return std::static_pointer_cast<const T>(object);
  }
  // Cached objects of namespace `ns` ("" = all) whose labels match
  // `selector` (default: everything).
  std::vector<std::shared_ptr<const T>> List(absl::string_view ns,
                                             const api::Selector& selector = {}) const {
    std::vector<ObjectPtr> objects;
    if (ns.empty()) {
      objects = informer_.indexer().List();
    } else {
      auto by = informer_.indexer().ByIndex(kNamespaceIndex, ns);
      if (by.ok()) objects = *std::move(by);
    }
    std::vector<std::shared_ptr<const T>> out;
    out.reserve(objects.size());
    for (ObjectPtr& o : objects) {
      auto typed = std::static_pointer_cast<const T>(std::move(o));
      if (selector.Matches(typed->metadata().labels())) out.push_back(std::move(typed));
    }
    return out;
  }

 private:
  const Informer& informer_;
};

}  // namespace korch::client

#endif  // KORCH_CLIENT_INFORMER_H_
