// The RBAC and node-graph caches over the registry's store, and the
// list-then-watch loop they share.
#include "rbac_cache.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "korch/api/core.pb.h"
#include "korch/api/rbac.pb.h"
#include "korch/base/logging.h"
#include "korch/base/status.h"
#include "storage_layout.h"

namespace korch::apiserver::internal {
namespace {

// How long one Watcher::Next() waits. Every return carries the revision the
// watcher has seen everything up to, so this bounds how far Revision() lags
// behind writes that do not touch the watched keys. Cancel() ends a wait at
// once, so it does not delay destruction.
constexpr absl::Duration kWatchPoll = absl::Milliseconds(100);
// Keys per Range() call while listing: bounds a single response from etcd.
// (The RocksDB backend reads a past revision whole anyway, so pages much
// smaller than a typical list would only repeat its work.)
constexpr int64_t kListPageSize = 10000;
// Retry delays after a failed list or watch (the store is unavailable).
constexpr absl::Duration kMinBackoff = absl::Milliseconds(50);
constexpr absl::Duration kMaxBackoff = absl::Seconds(5);

// What a ListWatch reads, handed to its owner. Calls never overlap: they
// come from ListWatch::Start() and then from the watch thread only, so a
// handler keeps its working state unsynchronized and synchronizes only what
// it publishes to readers.
class ListWatchHandler {
 public:
  virtual ~ListWatchHandler() = default;

  // A list (or relist) starts: build a new state from the items that follow
  // without disturbing the published one. A list that fails midway is
  // followed by another BeginList(), never by EndList().
  virtual void BeginList() = 0;
  virtual void ListItem(const store::KeyValue& kv) = 0;
  // The list is complete: replace the published state with the new one.
  virtual void EndList() = 0;
  // Changes under the watched prefixes, in revision order, never empty:
  // apply and publish them.
  virtual void Apply(absl::Span<const std::shared_ptr<const store::Event>> events) = 0;
};

// Lists a set of key prefixes at one revision, then watches them from that
// revision, handing everything to a ListWatchHandler. When the watch ends
// because the watcher fell behind it resumes from the last revision it saw;
// when that revision has been compacted it lists again. One thread, stopped
// and joined by the destructor.
//
// The prefixes are watched with one watch over the smallest key range that
// covers them, filtered here: one stream gives one revision for all of them,
// and a resume or relist covers them together. The cost is that changes to
// keys between the prefixes (other resources) pass through the filter.
class ListWatch {
 public:
  // Lists synchronously (the handler is complete when this returns), then
  // starts the watch thread. `handler` must outlive the ListWatch.
  static absl::StatusOr<std::unique_ptr<ListWatch>> Start(store::Storage* storage,
                                                          std::vector<std::string> prefixes,
                                                          ListWatchHandler* handler, Logger log) {
    if (storage == nullptr) return absl::InvalidArgumentError("storage is null");
    std::unique_ptr<ListWatch> lw(new ListWatch(storage, std::move(prefixes), handler, log));
    KORCH_ASSIGN_OR_RETURN(int64_t revision, lw->List());
    lw->SetRevision(revision);
    lw->thread_ = std::thread([raw = lw.get(), revision] { raw->Run(revision); });
    return lw;
  }

  ~ListWatch() {
    {
      absl::MutexLock l(&mu_);
      stopping_ = true;
      if (watcher_ != nullptr) watcher_->Cancel();
    }
    if (thread_.joinable()) thread_.join();
  }

  int64_t Revision() const {
    absl::MutexLock l(&mu_);
    return revision_;
  }

  bool WaitForRevision(int64_t revision, absl::Duration timeout) const {
    absl::MutexLock l(&mu_);
    auto reached = [this, revision]()
                       ABSL_NO_THREAD_SAFETY_ANALYSIS { return revision_ >= revision; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
  }

 private:
  ListWatch(store::Storage* storage, std::vector<std::string> prefixes, ListWatchHandler* handler,
            Logger log)
      : storage_(storage), prefixes_(std::move(prefixes)), handler_(handler), log_(std::move(log)) {
    std::sort(prefixes_.begin(), prefixes_.end());
    start_ = prefixes_.front();
    for (const std::string& p : prefixes_) end_ = std::max(end_, store::PrefixEnd(p));
  }

  // Reads every prefix at one revision into the handler; returns that
  // revision.
  absl::StatusOr<int64_t> List() {
    handler_->BeginList();
    int64_t revision = 0;  // the first read fixes it for the others
    for (const std::string& prefix : prefixes_) {
      const std::string end = store::PrefixEnd(prefix);
      std::string from = prefix;
      for (;;) {
        store::RangeOptions options;
        options.revision = revision;
        options.limit = kListPageSize;
        KORCH_ASSIGN_OR_RETURN(store::RangeResult page, storage_->Range(from, end, options));
        revision = page.revision;
        for (const store::KeyValue& kv : page.kvs) handler_->ListItem(kv);
        if (!page.more) break;
        from = std::move(page.continue_key);
      }
    }
    handler_->EndList();
    return revision;
  }

  void Run(int64_t revision) {
    absl::Duration backoff = kMinBackoff;
    bool relist = false;
    for (;;) {
      if (relist) {
        absl::StatusOr<int64_t> listed = List();
        if (!listed.ok()) {
          KORCH_LOG(log_, kWarning)
              << "listing " << absl::StrJoin(prefixes_, ", ") << " failed, retrying in " << backoff
              << ": " << listed.status();
          if (!SleepUnlessStopping(&backoff)) return;
          continue;
        }
        revision = *listed;
        relist = false;
        SetRevision(revision);
      }

      store::WatchOptions options;
      options.start_revision = revision;
      options.progress_interval = absl::ZeroDuration();  // Next()'s timeout serves
      absl::StatusOr<std::unique_ptr<store::Watcher>> watcher =
          storage_->Watch(start_, end_, options);
      absl::Status ended;
      if (watcher.ok()) {
        {
          absl::MutexLock l(&mu_);
          if (stopping_) return;
          watcher_ = watcher->get();
        }
        ended = Consume(**watcher, &revision, &backoff);
        {
          absl::MutexLock l(&mu_);
          watcher_ = nullptr;
        }
        watcher->reset();
      } else {
        ended = watcher.status();
      }
      if (Stopping()) return;

      switch (ended.code()) {
        case absl::StatusCode::kResourceExhausted:
          // Fell behind: resume from where it was; if that history is gone
          // the next Watch() says kOutOfRange and we list again.
          KORCH_LOG(log_, kInfo) << "watch of " << absl::StrJoin(prefixes_, ", ")
                                 << " fell behind; resuming from revision " << revision;
          break;
        case absl::StatusCode::kOutOfRange:
          KORCH_LOG(log_, kInfo) << "watch of " << absl::StrJoin(prefixes_, ", ") << " at revision "
                                 << revision << " is no longer possible; listing again: " << ended;
          relist = true;
          break;
        case absl::StatusCode::kCancelled:
          // Not by us (we checked): the store is closing.
          KORCH_LOG(log_, kWarning)
              << "watch of " << absl::StrJoin(prefixes_, ", ") << " ended: " << ended
              << "; the cache stops at revision " << revision;
          return;
        default:
          KORCH_LOG(log_, kWarning) << "watch of " << absl::StrJoin(prefixes_, ", ")
                                    << " failed, retrying in " << backoff << ": " << ended;
          if (!SleepUnlessStopping(&backoff)) return;
          break;
      }
    }
  }

  // Hands batches to the handler until the watch ends; returns why.
  absl::Status Consume(store::Watcher& watcher, int64_t* revision, absl::Duration* backoff) {
    const bool filter = prefixes_.size() > 1;
    std::vector<std::shared_ptr<const store::Event>> mine;
    for (;;) {
      absl::StatusOr<store::WatchBatch> batch = watcher.Next(kWatchPoll);
      if (!batch.ok()) return batch.status();
      *backoff = kMinBackoff;
      if (!batch->events.empty()) {
        if (filter) {
          mine.clear();
          for (const auto& e : batch->events) {
            if (Watched(e->kv.key)) mine.push_back(e);
          }
          if (!mine.empty()) handler_->Apply(mine);
        } else {
          handler_->Apply(batch->events);
        }
      }
      if (batch->revision > *revision) {
        *revision = batch->revision;
        SetRevision(*revision);
      }
    }
  }

  bool Watched(absl::string_view key) const {
    for (const std::string& p : prefixes_) {
      if (absl::StartsWith(key, p)) return true;
    }
    return false;
  }

  void SetRevision(int64_t revision) {
    absl::MutexLock l(&mu_);
    revision_ = std::max(revision_, revision);
  }

  bool Stopping() const {
    absl::MutexLock l(&mu_);
    return stopping_;
  }

  // Waits `*backoff` (doubling it for next time) unless stopped first;
  // false when stopping.
  bool SleepUnlessStopping(absl::Duration* backoff) {
    absl::MutexLock l(&mu_);
    bool stopped = mu_.AwaitWithTimeout(absl::Condition(&stopping_), *backoff);
    *backoff = std::min(*backoff * 2, kMaxBackoff);
    return !stopped;
  }

  store::Storage* const storage_;
  std::vector<std::string> prefixes_;  // sorted
  std::string start_, end_;            // the range covering them
  ListWatchHandler* const handler_;
  const Logger log_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  // Every change up to here has been handed to the handler.
  int64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The watch thread's current watcher, for the destructor to cancel.
  store::Watcher* watcher_ ABSL_GUARDED_BY(mu_) = nullptr;
};

const api::KindInfo* KindOf(const api::Scheme& scheme, const google::protobuf::Descriptor* d,
                            absl::Status* status) {
  const api::KindInfo* kind = scheme.Find(d);
  if (kind == nullptr || kind->resource.empty()) {
    *status = absl::InvalidArgumentError(
        absl::StrCat("the scheme does not serve ", d->name(), ", which the cache needs"));
  }
  return kind;
}

// The stored object at `kv` as a T.
template <typename T>
absl::StatusOr<std::shared_ptr<const T>> Decode(const api::KindInfo& kind,
                                                const store::KeyValue& kv) {
  KORCH_ASSIGN_OR_RETURN(std::unique_ptr<google::protobuf::Message> message,
                         DecodeStored(kind, kv.key, kv.value, kv.mod_revision));
  T* typed = dynamic_cast<T*>(message.get());
  if (typed == nullptr) {
    return absl::InternalError(absl::StrCat("stored value of ", kv.key, " decoded as ",
                                            message->GetTypeName(), ", not ", kind.kind));
  }
  message.release();
  return std::shared_ptr<const T>(typed);
}

// Splits "<ns>/<name>" (what follows a namespaced kind's prefix).
bool SplitNamespaced(absl::string_view rest, absl::string_view* ns, absl::string_view* name) {
  size_t slash = rest.find('/');
  if (slash == absl::string_view::npos || slash == 0 || slash + 1 == rest.size()) return false;
  *ns = rest.substr(0, slash);
  *name = rest.substr(slash + 1);
  return name->find('/') == absl::string_view::npos;
}

template <typename T>
using Ptr = std::shared_ptr<const T>;
template <typename T>
using PtrList = std::vector<Ptr<T>>;

template <typename T>
std::shared_ptr<const PtrList<T>> Values(const std::map<std::string, Ptr<T>>& sorted) {
  auto out = std::make_shared<PtrList<T>>();
  out->reserve(sorted.size());
  for (const auto& [name, value] : sorted) out->push_back(value);
  return out;
}

// ---------------------------------------------------------------------------
// RBAC

class StoreRbacRuleSourceImpl final : public StoreRbacRuleSource, private ListWatchHandler {
 public:
  static absl::StatusOr<std::shared_ptr<StoreRbacRuleSource>> Start(store::Storage* storage,
                                                                    const api::Scheme& scheme) {
    absl::Status status;
    const api::KindInfo* kinds[] = {
        KindOf(scheme, api::Role::descriptor(), &status),
        KindOf(scheme, api::ClusterRole::descriptor(), &status),
        KindOf(scheme, api::RoleBinding::descriptor(), &status),
        KindOf(scheme, api::ClusterRoleBinding::descriptor(), &status),
    };
    KORCH_RETURN_IF_ERROR(status);
    std::shared_ptr<StoreRbacRuleSourceImpl> source(
        new StoreRbacRuleSourceImpl(*kinds[0], *kinds[1], *kinds[2], *kinds[3]));
    std::vector<std::string> prefixes;
    for (const Kind& k : source->kinds_) prefixes.push_back(k.prefix);
    KORCH_ASSIGN_OR_RETURN(
        source->loop_, ListWatch::Start(storage, std::move(prefixes), source.get(), source->log_));
    return source;
  }

  // RbacRuleSource.
  std::vector<std::shared_ptr<const api::RoleBinding>> RoleBindings(
      absl::string_view ns) const override {
    std::shared_ptr<const Snapshot> s = snapshot();
    auto it = s->role_bindings->find(ns);
    if (it == s->role_bindings->end()) return {};
    return *it->second;
  }
  std::vector<std::shared_ptr<const api::ClusterRoleBinding>> ClusterRoleBindings() const override {
    return *snapshot()->cluster_role_bindings;
  }
  std::shared_ptr<const api::Role> GetRole(absl::string_view ns,
                                           absl::string_view name) const override {
    std::shared_ptr<const Snapshot> s = snapshot();
    auto it = s->roles->find(absl::StrCat(ns, "/", name));
    return it == s->roles->end() ? nullptr : it->second;
  }
  std::shared_ptr<const api::ClusterRole> GetClusterRole(absl::string_view name) const override {
    std::shared_ptr<const Snapshot> s = snapshot();
    auto it = s->cluster_roles->find(name);
    return it == s->cluster_roles->end() ? nullptr : it->second;
  }
  std::vector<std::shared_ptr<const api::ClusterRole>> ListClusterRoles() const override {
    return *snapshot()->cluster_role_list;
  }

  int64_t Revision() const override { return loop_->Revision(); }
  bool WaitForRevision(int64_t revision, absl::Duration timeout) const override {
    return loop_->WaitForRevision(revision, timeout);
  }

 private:
  enum KindIndex { kRole = 0, kClusterRole, kRoleBinding, kClusterRoleBinding, kNumKinds };
  struct Kind {
    const api::KindInfo* info;
    std::string prefix;
  };

  // What readers see: immutable, replaced as a whole under mu_. Parts that
  // a change did not touch are shared with the previous snapshot, so that
  // publishing a change to one binding costs little more than that
  // binding's namespace. Lists are sorted by name.
  struct Snapshot {
    // "<ns>/<name>" -> Role.
    std::shared_ptr<const absl::flat_hash_map<std::string, Ptr<api::Role>>> roles;
    std::shared_ptr<const absl::flat_hash_map<std::string, Ptr<api::ClusterRole>>> cluster_roles;
    std::shared_ptr<const PtrList<api::ClusterRole>> cluster_role_list;
    // namespace -> its RoleBindings.
    std::shared_ptr<
        const absl::flat_hash_map<std::string, std::shared_ptr<const PtrList<api::RoleBinding>>>>
        role_bindings;
    std::shared_ptr<const PtrList<api::ClusterRoleBinding>> cluster_role_bindings;
  };

  StoreRbacRuleSourceImpl(const api::KindInfo& role, const api::KindInfo& cluster_role,
                          const api::KindInfo& role_binding,
                          const api::KindInfo& cluster_role_binding)
      : kinds_{Kind{&role, ResourcePrefix(role)}, Kind{&cluster_role, ResourcePrefix(cluster_role)},
               Kind{&role_binding, ResourcePrefix(role_binding)},
               Kind{&cluster_role_binding, ResourcePrefix(cluster_role_binding)}},
        log_("apiserver.rbac-cache") {}

  std::shared_ptr<const Snapshot> snapshot() const {
    absl::MutexLock l(&mu_);
    return snapshot_;
  }

  // ListWatchHandler. The working state below is only touched here, on
  // one thread at a time.
  void BeginList() override {
    roles_.clear();
    cluster_roles_.clear();
    role_bindings_.clear();
    cluster_role_bindings_.clear();
  }

  void ListItem(const store::KeyValue& kv) override { Put(kv); }

  void EndList() override {
    roles_dirty_ = cluster_roles_dirty_ = cluster_role_bindings_dirty_ = true;
    all_namespaces_dirty_ = true;
    Publish();
  }

  void Apply(absl::Span<const std::shared_ptr<const store::Event>> events) override {
    for (const auto& e : events) {
      if (e->type == store::Event::Type::kPut) {
        Put(e->kv);
      } else {
        Remove(e->kv.key);
      }
    }
    Publish();
  }

  // Where `key` belongs: its kind, namespace (namespaced kinds) and name.
  bool Classify(absl::string_view key, KindIndex* index, absl::string_view* ns,
                absl::string_view* name) const {
    for (int i = 0; i < kNumKinds; ++i) {
      absl::string_view rest = key;
      if (!absl::ConsumePrefix(&rest, kinds_[i].prefix)) continue;
      *index = static_cast<KindIndex>(i);
      if (kinds_[i].info->namespaced) return SplitNamespaced(rest, ns, name);
      *ns = "";
      *name = rest;
      return !rest.empty() && rest.find('/') == absl::string_view::npos;
    }
    return false;
  }

  void Put(const store::KeyValue& kv) {
    KindIndex index;
    absl::string_view ns, name;
    if (!Classify(kv.key, &index, &ns, &name)) {
      KORCH_LOG(log_, kWarning) << "ignoring unexpected key " << kv.key;
      return;
    }
    absl::Status decoded = PutDecoded(index, ns, name, kv);
    if (!decoded.ok()) {
      // Forget the previous version too: an object that cannot be read must
      // not keep granting what it used to.
      KORCH_LOG(log_, kError) << "dropping " << kv.key << " from the RBAC cache: " << decoded;
      Remove(kv.key);
    }
  }

  absl::Status PutDecoded(KindIndex index, absl::string_view ns, absl::string_view name,
                          const store::KeyValue& kv) {
    const api::KindInfo& info = *kinds_[index].info;
    switch (index) {
      case kRole: {
        KORCH_ASSIGN_OR_RETURN(roles_[absl::StrCat(ns, "/", name)], Decode<api::Role>(info, kv));
        roles_dirty_ = true;
        break;
      }
      case kClusterRole: {
        KORCH_ASSIGN_OR_RETURN(cluster_roles_[std::string(name)],
                               Decode<api::ClusterRole>(info, kv));
        cluster_roles_dirty_ = true;
        break;
      }
      case kRoleBinding: {
        KORCH_ASSIGN_OR_RETURN(Ptr<api::RoleBinding> binding, Decode<api::RoleBinding>(info, kv));
        role_bindings_[ns][std::string(name)] = std::move(binding);
        dirty_namespaces_.insert(std::string(ns));
        break;
      }
      case kClusterRoleBinding: {
        KORCH_ASSIGN_OR_RETURN(cluster_role_bindings_[std::string(name)],
                               Decode<api::ClusterRoleBinding>(info, kv));
        cluster_role_bindings_dirty_ = true;
        break;
      }
      case kNumKinds:
        break;
    }
    return absl::OkStatus();
  }

  void Remove(absl::string_view key) {
    KindIndex index;
    absl::string_view ns, name;
    if (!Classify(key, &index, &ns, &name)) return;
    switch (index) {
      case kRole:
        roles_dirty_ |= roles_.erase(absl::StrCat(ns, "/", name)) > 0;
        break;
      case kClusterRole:
        cluster_roles_dirty_ |= cluster_roles_.erase(std::string(name)) > 0;
        break;
      case kRoleBinding: {
        auto it = role_bindings_.find(ns);
        if (it != role_bindings_.end() && it->second.erase(std::string(name)) > 0) {
          dirty_namespaces_.insert(std::string(ns));
          if (it->second.empty()) role_bindings_.erase(it);
        }
        break;
      }
      case kClusterRoleBinding:
        cluster_role_bindings_dirty_ |= cluster_role_bindings_.erase(std::string(name)) > 0;
        break;
      case kNumKinds:
        break;
    }
  }

  // Builds a snapshot from the working state, reusing the parts of the
  // current one that did not change, and swaps it in.
  void Publish() {
    auto next = std::make_shared<Snapshot>(*snapshot());
    if (roles_dirty_) {
      next->roles = std::make_shared<const absl::flat_hash_map<std::string, Ptr<api::Role>>>(
          roles_.begin(), roles_.end());
    }
    if (cluster_roles_dirty_) {
      next->cluster_roles =
          std::make_shared<const absl::flat_hash_map<std::string, Ptr<api::ClusterRole>>>(
              cluster_roles_.begin(), cluster_roles_.end());
      next->cluster_role_list = Values(cluster_roles_);
    }
    if (cluster_role_bindings_dirty_) {
      next->cluster_role_bindings = Values(cluster_role_bindings_);
    }
    if (all_namespaces_dirty_ || !dirty_namespaces_.empty()) {
      using ByNamespace =
          absl::flat_hash_map<std::string, std::shared_ptr<const PtrList<api::RoleBinding>>>;
      auto by_ns = std::make_shared<ByNamespace>();
      if (all_namespaces_dirty_) {
        for (const auto& [ns, bindings] : role_bindings_) (*by_ns)[ns] = Values(bindings);
      } else {
        *by_ns = *next->role_bindings;
        for (const std::string& ns : dirty_namespaces_) {
          auto it = role_bindings_.find(ns);
          if (it == role_bindings_.end()) {
            by_ns->erase(ns);
          } else {
            (*by_ns)[ns] = Values(it->second);
          }
        }
      }
      next->role_bindings = std::move(by_ns);
    }
    roles_dirty_ = cluster_roles_dirty_ = cluster_role_bindings_dirty_ = false;
    all_namespaces_dirty_ = false;
    dirty_namespaces_.clear();
    // `old` is released after the lock: its last reference may free whole
    // maps.
    std::shared_ptr<const Snapshot> old;
    {
      absl::MutexLock l(&mu_);
      old = std::exchange(snapshot_, std::move(next));
    }
  }

  static std::shared_ptr<const Snapshot> EmptySnapshot() {
    auto s = std::make_shared<Snapshot>();
    s->roles = std::make_shared<const absl::flat_hash_map<std::string, Ptr<api::Role>>>();
    s->cluster_roles =
        std::make_shared<const absl::flat_hash_map<std::string, Ptr<api::ClusterRole>>>();
    s->cluster_role_list = std::make_shared<const PtrList<api::ClusterRole>>();
    s->role_bindings = std::make_shared<
        const absl::flat_hash_map<std::string, std::shared_ptr<const PtrList<api::RoleBinding>>>>();
    s->cluster_role_bindings = std::make_shared<const PtrList<api::ClusterRoleBinding>>();
    return s;
  }

  const Kind kinds_[kNumKinds];
  const Logger log_;

  mutable absl::Mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_ ABSL_GUARDED_BY(mu_) = EmptySnapshot();

  // Working state (see ListWatchHandler): the objects by name, sorted.
  absl::flat_hash_map<std::string, Ptr<api::Role>> roles_;  // "<ns>/<name>"
  std::map<std::string, Ptr<api::ClusterRole>> cluster_roles_;
  absl::flat_hash_map<std::string, std::map<std::string, Ptr<api::RoleBinding>>> role_bindings_;
  std::map<std::string, Ptr<api::ClusterRoleBinding>> cluster_role_bindings_;
  // What changed since the last Publish().
  bool roles_dirty_ = false;
  bool cluster_roles_dirty_ = false;
  bool cluster_role_bindings_dirty_ = false;
  bool all_namespaces_dirty_ = false;
  absl::flat_hash_set<std::string> dirty_namespaces_;

  // Last: destroyed first, so the watch thread stops before the state it
  // writes goes away.
  std::unique_ptr<ListWatch> loop_;
};

// ---------------------------------------------------------------------------
// Node graph

class StoreNodeGraphImpl final : public StoreNodeGraph, private ListWatchHandler {
 public:
  static absl::StatusOr<std::shared_ptr<StoreNodeGraph>> Start(store::Storage* storage,
                                                               const api::Scheme& scheme) {
    absl::Status status;
    const api::KindInfo* pod = KindOf(scheme, api::Pod::descriptor(), &status);
    KORCH_RETURN_IF_ERROR(status);
    std::shared_ptr<StoreNodeGraphImpl> graph(new StoreNodeGraphImpl(*pod));
    KORCH_ASSIGN_OR_RETURN(graph->loop_,
                           ListWatch::Start(storage, {graph->prefix_}, graph.get(), graph->log_));
    return graph;
  }

  std::optional<std::string> PodNode(absl::string_view ns, absl::string_view name) const override {
    absl::ReaderMutexLock l(&mu_);
    auto in_ns = pods_.find(ns);
    if (in_ns == pods_.end()) return std::nullopt;
    auto it = in_ns->second.find(name);
    if (it == in_ns->second.end()) return std::nullopt;
    return it->second;
  }

  int64_t Revision() const override { return loop_->Revision(); }
  bool WaitForRevision(int64_t revision, absl::Duration timeout) const override {
    return loop_->WaitForRevision(revision, timeout);
  }

 private:
  // namespace -> pod name -> node, for bound pods only: the one field the
  // node authorizer asks about, not whole pods.
  using PodNodes = absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, std::string>>;

  explicit StoreNodeGraphImpl(const api::KindInfo& pod)
      : pod_(pod), prefix_(ResourcePrefix(pod)), log_("apiserver.node-graph") {}

  // The pod at `key` and its node ("" when unbound or unreadable); false
  // for a key that is not a pod's.
  bool Read(const store::KeyValue& kv, absl::string_view* ns, absl::string_view* name,
            std::string* node) const {
    absl::string_view rest = kv.key;
    if (!absl::ConsumePrefix(&rest, prefix_) || !SplitNamespaced(rest, ns, name)) {
      KORCH_LOG(log_, kWarning) << "ignoring unexpected key " << kv.key;
      return false;
    }
    node->clear();
    absl::StatusOr<Ptr<api::Pod>> pod = Decode<api::Pod>(pod_, kv);
    if (!pod.ok()) {
      // Unreadable: treated as unbound, so that no node gains rights over it.
      KORCH_LOG(log_, kError) << "treating " << kv.key << " as unbound: " << pod.status();
      return true;
    }
    *node = (*pod)->spec().node_name();
    return true;
  }

  static void Set(PodNodes& pods, absl::string_view ns, absl::string_view name, std::string node) {
    if (!node.empty()) {
      pods[ns][name] = std::move(node);
      return;
    }
    auto in_ns = pods.find(ns);
    if (in_ns == pods.end()) return;
    in_ns->second.erase(name);
    if (in_ns->second.empty()) pods.erase(in_ns);
  }

  // ListWatchHandler.
  void BeginList() override { listing_ = PodNodes(); }

  void ListItem(const store::KeyValue& kv) override {
    absl::string_view ns, name;
    std::string node;
    if (Read(kv, &ns, &name, &node)) Set(listing_, ns, name, std::move(node));
  }

  void EndList() override {
    PodNodes old;
    {
      absl::MutexLock l(&mu_);
      old = std::exchange(pods_, std::move(listing_));
    }
    listing_ = PodNodes();
  }

  void Apply(absl::Span<const std::shared_ptr<const store::Event>> events) override {
    // Decode outside the lock; readers wait only for the map updates.
    struct Change {
      absl::string_view ns, name;
      std::string node;  // "" removes
    };
    std::vector<Change> changes;
    changes.reserve(events.size());
    for (const auto& e : events) {
      Change c;
      if (e->type == store::Event::Type::kPut) {
        if (!Read(e->kv, &c.ns, &c.name, &c.node)) continue;
      } else {
        absl::string_view rest = e->kv.key;
        if (!absl::ConsumePrefix(&rest, prefix_) || !SplitNamespaced(rest, &c.ns, &c.name)) {
          continue;
        }
      }
      changes.push_back(std::move(c));
    }
    absl::MutexLock l(&mu_);
    for (Change& c : changes) Set(pods_, c.ns, c.name, std::move(c.node));
  }

  const api::KindInfo& pod_;
  const std::string prefix_;
  const Logger log_;

  mutable absl::Mutex mu_;
  PodNodes pods_ ABSL_GUARDED_BY(mu_);
  // The list in progress (see ListWatchHandler).
  PodNodes listing_;

  // Last: destroyed first, so the watch thread stops before the maps go.
  std::unique_ptr<ListWatch> loop_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<StoreRbacRuleSource>> StoreRbacRuleSource::Start(
    store::Storage* storage, const api::Scheme& scheme) {
  return StoreRbacRuleSourceImpl::Start(storage, scheme);
}

absl::StatusOr<std::shared_ptr<StoreNodeGraph>> StoreNodeGraph::Start(store::Storage* storage,
                                                                      const api::Scheme& scheme) {
  return StoreNodeGraphImpl::Start(storage, scheme);
}

}  // namespace korch::apiserver::internal
