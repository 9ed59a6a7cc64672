#include "korch/controllers/garbage_collector.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "korch/api/meta.pb.h"
#include "korch/api/object.h"
#include "korch/base/status.h"

namespace korch::controllers {
namespace {

constexpr char kOrphanFinalizer[] = "orphan";
constexpr char kForegroundFinalizer[] = "foregroundDeletion";
// Attempts of a read-modify-write that keeps losing to other writers before
// the item is retried with backoff.
constexpr int kConflictAttempts = 5;

bool HasFinalizer(const api::ObjectMeta& meta, absl::string_view finalizer) {
  return std::find(meta.finalizers().begin(), meta.finalizers().end(), finalizer) !=
         meta.finalizers().end();
}

// A stored kind the collector can list, watch, get and delete.
bool IsCollectable(const api::KindInfo& kind) {
  if (kind.resource.empty() || kind.list == nullptr || kind.descriptor == nullptr) return false;
  const google::protobuf::FieldDescriptor* metadata = kind.descriptor->FindFieldByName("metadata");
  return metadata != nullptr &&
         metadata->type() == google::protobuf::FieldDescriptor::TYPE_MESSAGE &&
         metadata->message_type() == api::ObjectMeta::descriptor();
}

std::string CacheKey(absl::string_view ns, absl::string_view name) {
  return ns.empty() ? std::string(name) : absl::StrCat(ns, "/", name);
}

// `s` as a JSON string literal.
std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppend(&out, "\\u00", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

// One metadata.ownerReferences entry, as the graph keeps it.
struct OwnerRef {
  std::string uid;
  std::string api_version;
  std::string kind;
  std::string name;
  bool block_owner_deletion = false;
};

std::vector<OwnerRef> OwnersOf(const api::ObjectMeta& meta) {
  std::vector<OwnerRef> owners;
  for (const api::OwnerReference& ref : meta.owner_references()) {
    if (ref.uid().empty()) continue;
    auto same = [&](const OwnerRef& o) { return o.uid == ref.uid(); };
    if (std::any_of(owners.begin(), owners.end(), same)) continue;
    owners.push_back(
        {ref.uid(), ref.api_version(), ref.kind(), ref.name(), ref.block_owner_deletion()});
  }
  return owners;
}

const OwnerRef* FindOwner(const std::vector<OwnerRef>& owners, absl::string_view uid) {
  for (const OwnerRef& o : owners) {
    if (o.uid == uid) return &o;
  }
  return nullptr;
}

// What a worker needs to know about one graph node, copied out of the graph
// so that API calls run without the graph lock.
struct OwnerView {
  OwnerRef ref;
  bool observed = false;  // an object with this uid is in a cache
  bool deleting = false;
};

struct DependentView {
  std::string uid;
  const api::KindInfo* kind = nullptr;
  std::string ns;
  std::string name;
  bool blocks = false;    // its reference to the owner has blockOwnerDeletion
  bool deleting = false;  // has a deletionTimestamp
  bool waiting = false;   // deleting with the foregroundDeletion finalizer
};

struct ItemView {
  const api::KindInfo* kind = nullptr;
  std::string ns;
  std::string name;
  bool observed = false;
  std::vector<OwnerView> owners;
  std::vector<DependentView> dependents;
};

// Everything the informers' handlers touch. Handlers hold it weakly: with
// shared informers, handlers outlive the collector and must then do nothing.
class GraphState {
 public:
  GraphState(const api::Scheme& scheme, client::WorkQueueOptions queue_options)
      : scheme_(scheme), queue_(std::move(queue_options)) {}

  client::WorkQueue& queue() { return queue_; }

  // An object was added or changed (`resync`: delivered again unchanged).
  void OnUpsert(const api::KindInfo& kind, const google::protobuf::Message& object, bool resync) {
    const api::ObjectMeta* meta = api::ObjectMetaOf(object);
    if (meta == nullptr || meta->uid().empty()) return;
    const std::string& uid = meta->uid();
    std::vector<std::string> to_queue;
    {
      absl::MutexLock lock(&mu_);
      Node& node = nodes_[uid];
      const bool was_waiting = node.observed && node.Waiting();
      node.kind = &kind;
      node.api_version = kind.api_version;
      node.kind_name = kind.kind;
      node.ns = meta->namespace_();
      node.name = meta->name();
      node.observed = true;
      node.deleting = meta->has_deletion_timestamp();
      node.orphan = HasFinalizer(*meta, kOrphanFinalizer);
      node.foreground = HasFinalizer(*meta, kForegroundFinalizer);

      std::vector<OwnerRef> owners = OwnersOf(*meta);
      // Owners no longer referenced: a waiting one may now be free to go.
      for (const OwnerRef& old : node.owners) {
        if (FindOwner(owners, old.uid) != nullptr) continue;
        auto it = nodes_.find(old.uid);
        if (it == nodes_.end()) continue;
        if (it->second.observed && it->second.Waiting()) to_queue.push_back(old.uid);
        UnlinkLocked(old.uid, uid);
      }
      bool check = resync && !owners.empty();
      for (const OwnerRef& ref : owners) {
        auto [it, inserted] = nodes_.try_emplace(ref.uid);
        Node& owner = it->second;
        if (inserted) {
          // Known only from this reference until an informer sees it.
          owner.api_version = ref.api_version;
          owner.kind_name = ref.kind;
          owner.name = ref.name;
          owner.kind = scheme_.Find(ref.api_version, ref.kind);
          owner.ns = (owner.kind != nullptr && !owner.kind->namespaced) ? "" : node.ns;
        }
        owner.dependents.insert(uid);
        if (!owner.observed || owner.deleting) check = true;
        // A waiting owner's set of blocking dependents may have changed.
        if (owner.observed && owner.Waiting()) to_queue.push_back(ref.uid);
      }
      node.owners = std::move(owners);
      if (node.deleting && (node.orphan || node.foreground)) check = true;
      if (node.Waiting() && !was_waiting) {
        for (const std::string& dep : node.dependents) to_queue.push_back(dep);
      }
      if (check) to_queue.push_back(uid);
    }
    for (const std::string& key : to_queue) queue_.Add(key);
  }

  // An object went away; `object` is its last known state.
  void OnDelete(const google::protobuf::Message& object) {
    const api::ObjectMeta* meta = api::ObjectMetaOf(object);
    if (meta == nullptr || meta->uid().empty()) return;
    const std::string& uid = meta->uid();
    std::vector<std::string> to_queue;
    {
      absl::MutexLock lock(&mu_);
      auto it = nodes_.find(uid);
      if (it == nodes_.end()) return;
      Node& node = it->second;
      // Its dependents may have lost their last owner.
      for (const std::string& dep : node.dependents) to_queue.push_back(dep);
      for (const OwnerRef& ref : node.owners) {
        auto owner = nodes_.find(ref.uid);
        if (owner == nodes_.end()) continue;
        if (owner->second.observed && owner->second.Waiting()) to_queue.push_back(ref.uid);
        if (ref.uid != uid) UnlinkLocked(ref.uid, uid);
      }
      node.owners.clear();
      node.observed = false;
      node.deleting = node.orphan = node.foreground = false;
      // Kept, unobserved, while dependents still point at it.
      if (node.dependents.empty()) nodes_.erase(uid);
    }
    for (const std::string& key : to_queue) queue_.Add(key);
  }

  std::optional<ItemView> View(absl::string_view uid) const {
    absl::ReaderMutexLock lock(&mu_);
    auto it = nodes_.find(uid);
    if (it == nodes_.end()) return std::nullopt;
    const Node& node = it->second;
    ItemView view;
    view.kind = node.kind;
    view.ns = node.ns;
    view.name = node.name;
    view.observed = node.observed;
    for (const OwnerRef& ref : node.owners) {
      OwnerView o{.ref = ref};
      auto owner = nodes_.find(ref.uid);
      if (owner != nodes_.end()) {
        o.observed = owner->second.observed;
        o.deleting = owner->second.deleting;
      }
      view.owners.push_back(std::move(o));
    }
    for (const std::string& dep_uid : node.dependents) {
      auto dep = nodes_.find(dep_uid);
      if (dep == nodes_.end() || !dep->second.observed) continue;
      const Node& d = dep->second;
      const OwnerRef* ref = FindOwner(d.owners, uid);
      view.dependents.push_back({.uid = dep_uid,
                                 .kind = d.kind,
                                 .ns = d.ns,
                                 .name = d.name,
                                 .blocks = ref != nullptr && ref->block_owner_deletion,
                                 .deleting = d.deleting,
                                 .waiting = d.Waiting()});
    }
    return view;
  }

 private:
  struct Node {
    // Identity. For a node only known from references, taken from the
    // first reference; `kind` is null when the scheme does not know it.
    const api::KindInfo* kind = nullptr;
    std::string api_version;
    std::string kind_name;
    std::string ns;
    std::string name;
    // An informer holds an object with this uid.
    bool observed = false;
    bool deleting = false;
    bool orphan = false;
    bool foreground = false;
    std::vector<OwnerRef> owners;
    absl::flat_hash_set<std::string> dependents;

    bool Waiting() const { return deleting && foreground; }
  };

  // Forgets that `dependent` references `owner`; drops an unobserved owner
  // nobody references any more.
  void UnlinkLocked(const std::string& owner, const std::string& dependent)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = nodes_.find(owner);
    if (it == nodes_.end()) return;
    it->second.dependents.erase(dependent);
    if (!it->second.observed && it->second.dependents.empty()) nodes_.erase(it);
  }

  const api::Scheme& scheme_;
  client::WorkQueue queue_;
  mutable absl::Mutex mu_;
  // By uid. node_hash_map: references stay valid while other nodes come and
  // go.
  absl::node_hash_map<std::string, Node> nodes_ ABSL_GUARDED_BY(mu_);
};

enum class OwnerState { kSolid, kDangling, kWaiting };

class GarbageCollectorImpl final : public GarbageCollector {
 public:
  GarbageCollectorImpl(client::Client& client, GarbageCollectorOptions options,
                       std::vector<const api::KindInfo*> kinds)
      : client_(client),
        options_(std::move(options)),
        log_(options_.logger),
        kinds_(std::move(kinds)),
        state_(std::make_shared<GraphState>(
            client.scheme(), client::WorkQueueOptions{.clock = options_.clock,
                                                      .rate_limiter = options_.rate_limiter})) {
    client::SharedInformerFactory* factory = options_.informers;
    if (factory == nullptr) {
      client::SharedInformerFactory::Options factory_options;
      factory_options.resync_period = options_.resync_period;
      factory_options.clock = options_.clock.get();
      own_factory_ = std::make_unique<client::SharedInformerFactory>(client_, factory_options);
      factory = own_factory_.get();
    }
    factory_ = factory;
    std::weak_ptr<GraphState> weak = state_;
    for (const api::KindInfo* kind : kinds_) {
      client::Informer& informer = factory->ForKind(*kind);
      informers_[kind] = &informer;
      informer_list_.push_back(&informer);
      informer.AddEventHandler({
          .on_add =
              [weak, kind](const client::ObjectPtr& object) {
                if (auto state = weak.lock()) state->OnUpsert(*kind, *object, false);
              },
          .on_update =
              [weak, kind](const client::ObjectPtr& old_object,
                           const client::ObjectPtr& new_object) {
                if (auto state = weak.lock()) {
                  state->OnUpsert(*kind, *new_object, old_object == new_object);
                }
              },
          .on_delete =
              [weak](const client::ObjectPtr& last_known) {
                if (auto state = weak.lock()) state->OnDelete(*last_known);
              },
      });
    }
  }

  ~GarbageCollectorImpl() override { Stop(); }

  void Start() override {
    absl::MutexLock lock(&mu_);
    if (started_ || stopped_) return;
    started_ = true;
    factory_->Start();
    runner_ = std::thread([this] { Run(); });
  }

  void Stop() override {
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    // Workers finish the item in hand and see nullopt from Get().
    state_->queue().ShutDown();
    if (runner_.joinable()) runner_.join();
    // The runner has exited, so `workers_` no longer changes.
    for (std::thread& worker : workers_) worker.join();
    workers_.clear();
    if (own_factory_ != nullptr) own_factory_->Stop();
  }

  bool HasSynced() const override { return synced_.load(); }

 private:
  // Waits for the caches, then starts the workers.
  void Run() {
    while (!client::WaitForCacheSync(informer_list_, absl::Milliseconds(50))) {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
    }
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    synced_ = true;
    KORCH_LOG(log_, kInfo) << "caches synced for " << informer_list_.size() << " kinds; starting "
                           << options_.workers << " workers";
    for (int i = 0; i < options_.workers; ++i) {
      workers_.emplace_back([this] { Work(); });
    }
  }

  void Work() {
    client::WorkQueue& queue = state_->queue();
    while (std::optional<std::string> uid = queue.Get()) {
      absl::Status status = Sync(*uid);
      if (status.ok()) {
        queue.Forget(*uid);
      } else {
        KORCH_LOG(log_, kWarning) << "uid " << *uid << ": " << status << " (retrying)";
        queue.AddRateLimited(*uid);
      }
      queue.Done(*uid);
    }
  }

  absl::Status Sync(absl::string_view uid) {
    std::optional<ItemView> item = state_->View(uid);
    // Unobserved nodes are owners known only from references; their
    // dependents are queued themselves.
    if (!item.has_value() || !item->observed || item->kind == nullptr) return absl::OkStatus();
    auto informer = informers_.find(item->kind);
    if (informer == informers_.end()) return absl::OkStatus();
    client::ObjectPtr object = informer->second->indexer().Get(CacheKey(item->ns, item->name));
    if (object == nullptr) return absl::OkStatus();
    const api::ObjectMeta* meta = api::ObjectMetaOf(*object);
    if (meta == nullptr || meta->uid() != uid) return absl::OkStatus();

    if (meta->has_deletion_timestamp()) {
      if (HasFinalizer(*meta, kOrphanFinalizer)) {
        KORCH_RETURN_IF_ERROR(OrphanDependents(uid, *item));
        return RemoveFinalizer(*item, uid, kOrphanFinalizer);
      }
      if (HasFinalizer(*meta, kForegroundFinalizer)) return DeleteDependents(uid, *item);
      // Already going; its dependents are checked when it is gone.
      return absl::OkStatus();
    }
    return AttemptToDelete(uid, *item);
  }

  // Removes the references to `uid` from every dependent.
  absl::Status OrphanDependents(absl::string_view uid, const ItemView& item) {
    absl::Status result;
    for (const DependentView& dep : item.dependents) {
      absl::Status s = PatchOwnerRefs(dep.kind, dep.ns, dep.name, {std::string(uid)}, {});
      if (!s.ok()) result.Update(s);
    }
    if (!result.ok()) return result;
    KORCH_LOG(log_, kDebug) << "orphaned " << item.dependents.size() << " dependents of "
                            << item.kind->QualifiedResource() << " "
                            << CacheKey(item.ns, item.name);
    return absl::OkStatus();
  }

  // Foreground deletion of `uid`: its dependents go first (each queued, so
  // that its own sync decides how: deleted, or only unlinked when it has
  // another live owner), and the finalizer goes once nothing blocks.
  absl::Status DeleteDependents(absl::string_view uid, const ItemView& item) {
    bool blocked = false;
    for (const DependentView& dep : item.dependents) {
      if (dep.blocks) blocked = true;
      if (!dep.deleting) state_->queue().Add(dep.uid);
    }
    // Not blocked yet: the dependents' changes queue this owner again.
    if (blocked) return absl::OkStatus();
    return RemoveFinalizer(item, uid, kForegroundFinalizer);
  }

  // Whether the owner named by `owner` still exists and how. A live GET,
  // unless the cache shows it alive and not being deleted: only the GET may
  // conclude that an owner is gone.
  absl::StatusOr<OwnerState> ClassifyOwner(const OwnerView& owner, absl::string_view ns) {
    if (owner.observed && !owner.deleting) return OwnerState::kSolid;
    const api::KindInfo* kind = client_.scheme().Find(owner.ref.api_version, owner.ref.kind);
    if (kind == nullptr || !IsCollectable(*kind)) {
      // Nothing proves it gone; leave the dependent alone.
      KORCH_LOG(log_, kDebug) << "owner kind " << owner.ref.kind << " (" << owner.ref.api_version
                              << ") is unknown; not collecting its dependents";
      return OwnerState::kSolid;
    }
    // A cluster-scoped dependent cannot have a namespaced owner.
    if (kind->namespaced && ns.empty()) return OwnerState::kDangling;
    auto got = client_.Get(*kind, kind->namespaced ? ns : "", owner.ref.name);
    if (absl::IsNotFound(got.status())) return OwnerState::kDangling;
    if (!got.ok()) return got.status();
    const api::ObjectMeta* meta = api::ObjectMetaOf(**got);
    if (meta == nullptr || meta->uid() != owner.ref.uid) return OwnerState::kDangling;
    if (meta->has_deletion_timestamp() && HasFinalizer(*meta, kForegroundFinalizer)) {
      return OwnerState::kWaiting;
    }
    return OwnerState::kSolid;
  }

  // An object that is not being deleted: collect it when no owner is left.
  absl::Status AttemptToDelete(absl::string_view uid, const ItemView& item) {
    if (item.owners.empty()) return absl::OkStatus();
    std::vector<std::string> solid, dangling, waiting;
    for (const OwnerView& owner : item.owners) {
      KORCH_ASSIGN_OR_RETURN(OwnerState state, ClassifyOwner(owner, item.ns));
      switch (state) {
        case OwnerState::kSolid:
          solid.push_back(owner.ref.uid);
          break;
        case OwnerState::kDangling:
          dangling.push_back(owner.ref.uid);
          break;
        case OwnerState::kWaiting:
          waiting.push_back(owner.ref.uid);
          break;
      }
    }
    if (!solid.empty()) {
      if (dangling.empty() && waiting.empty()) return absl::OkStatus();
      // A live owner keeps it; forget the owners that are gone or going.
      std::vector<std::string> drop = std::move(dangling);
      drop.insert(drop.end(), waiting.begin(), waiting.end());
      return PatchOwnerRefs(item.kind, item.ns, item.name, drop, {});
    }
    if (!waiting.empty()) {
      // Deleting it in the foreground makes a waiting owner wait for this
      // object's own dependents. When one of those waits for its dependents
      // too, there may be a cycle: stop blocking the owners rather than
      // deadlock.
      const bool cycle = std::any_of(item.dependents.begin(), item.dependents.end(),
                                     [](const DependentView& d) { return d.waiting; });
      if (cycle) {
        KORCH_RETURN_IF_ERROR(PatchOwnerRefs(item.kind, item.ns, item.name, {}, waiting));
      }
    }
    client::DeleteOptions options;
    options.propagation_policy = waiting.empty() ? "Background" : "Foreground";
    options.precondition_uid = std::string(uid);
    auto deleted = client_.Delete(*item.kind, item.ns, item.name, options);
    // NotFound: already gone. Conflict on the uid: a new object took the
    // name, and its own events bring it here.
    if (deleted.ok() || absl::IsNotFound(deleted.status()) || absl::IsAborted(deleted.status())) {
      if (deleted.ok()) {
        KORCH_LOG(log_, kDebug) << "deleted " << item.kind->QualifiedResource() << " "
                                << CacheKey(item.ns, item.name)
                                << (waiting.empty()
                                        ? ": its owners are gone"
                                        : ": its owner is being deleted in the foreground");
      }
      return absl::OkStatus();
    }
    return deleted.status();
  }

  // Strategic merge patch of one object's ownerReferences: removes the
  // references to `remove` and sets blockOwnerDeletion=false on those to
  // `unblock`.
  absl::Status PatchOwnerRefs(const api::KindInfo* kind, absl::string_view ns,
                              absl::string_view name, const std::vector<std::string>& remove,
                              const std::vector<std::string>& unblock) {
    std::vector<std::string> elements;
    for (const std::string& uid : remove) {
      elements.push_back(absl::StrCat(R"({"$patch":"delete","uid":)", JsonString(uid), "}"));
    }
    for (const std::string& uid : unblock) {
      elements.push_back(
          absl::StrCat(R"({"uid":)", JsonString(uid), R"(,"blockOwnerDeletion":false})"));
    }
    const std::string patch =
        absl::StrCat(R"({"metadata":{"ownerReferences":[)", absl::StrJoin(elements, ","), "]}}");
    auto patched = client_.Patch(*kind, ns, name, client::PatchType::kStrategicMerge, patch);
    if (patched.ok() || absl::IsNotFound(patched.status())) return absl::OkStatus();
    return patched.status();
  }

  // Removes `finalizer` from the live object `uid` (read fresh: an update
  // must carry the current resourceVersion).
  absl::Status RemoveFinalizer(const ItemView& item, absl::string_view uid,
                               absl::string_view finalizer) {
    for (int attempt = 0; attempt < kConflictAttempts; ++attempt) {
      auto got = client_.Get(*item.kind, item.ns, item.name);
      if (absl::IsNotFound(got.status())) return absl::OkStatus();
      if (!got.ok()) return got.status();
      const api::ObjectMeta* meta = api::ObjectMetaOf(**got);
      if (meta == nullptr || meta->uid() != uid || !HasFinalizer(*meta, finalizer)) {
        return absl::OkStatus();
      }
      std::unique_ptr<google::protobuf::Message> copy((*got)->New());
      copy->CopyFrom(**got);
      auto* finalizers = api::MutableObjectMetaOf(*copy)->mutable_finalizers();
      finalizers->erase(std::remove(finalizers->begin(), finalizers->end(), finalizer),
                        finalizers->end());
      auto updated = client_.Update(*item.kind, *copy);
      if (updated.ok() || absl::IsNotFound(updated.status())) {
        KORCH_LOG(log_, kDebug) << "removed finalizer " << finalizer << " from "
                                << item.kind->QualifiedResource() << " "
                                << CacheKey(item.ns, item.name);
        return absl::OkStatus();
      }
      if (!absl::IsAborted(updated.status())) return updated.status();
    }
    return absl::AbortedError(absl::StrCat("removing finalizer ", finalizer, " from ",
                                           item.kind->QualifiedResource(), " \"", item.name,
                                           "\": conflicts on every attempt"));
  }

  client::Client& client_;
  const GarbageCollectorOptions options_;
  const Logger log_;
  const std::vector<const api::KindInfo*> kinds_;
  const std::shared_ptr<GraphState> state_;
  std::unique_ptr<client::SharedInformerFactory> own_factory_;
  client::SharedInformerFactory* factory_ = nullptr;
  // Fixed after construction.
  absl::flat_hash_map<const api::KindInfo*, client::Informer*> informers_;
  std::vector<const client::Informer*> informer_list_;

  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::thread runner_;
  // Appended by the runner under mu_; joined by Stop() after the runner.
  std::vector<std::thread> workers_;
  std::atomic<bool> synced_{false};
};

}  // namespace

absl::StatusOr<std::unique_ptr<GarbageCollector>> GarbageCollector::Create(
    client::Client& client, GarbageCollectorOptions options) {
  if (options.workers < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("garbage collector: workers must be at least 1, not ", options.workers));
  }
  if (options.clock == nullptr) options.clock = RealClock();
  std::vector<const api::KindInfo*> kinds = options.kinds;
  if (kinds.empty()) {
    for (const auto& kind : client.scheme().kinds()) {
      if (IsCollectable(*kind)) kinds.push_back(kind.get());
    }
  }
  absl::flat_hash_set<const api::KindInfo*> seen;
  std::vector<const api::KindInfo*> unique;
  for (const api::KindInfo* kind : kinds) {
    if (kind == nullptr || !IsCollectable(*kind) ||
        client.scheme().Find(kind->descriptor) != kind) {
      return absl::InvalidArgumentError(
          absl::StrCat("garbage collector: kind ", kind == nullptr ? "<null>" : kind->kind,
                       " is not a stored kind of the client's scheme"));
    }
    if (seen.insert(kind).second) unique.push_back(kind);
  }
  return std::make_unique<GarbageCollectorImpl>(client, std::move(options), std::move(unique));
}

}  // namespace korch::controllers
