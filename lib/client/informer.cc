#include "korch/client/informer.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "korch/api/object.h"
#include "korch/base/logging.h"
#include "korch/base/status.h"

namespace korch::client {
namespace {

constexpr absl::Duration kInitialBackoff = absl::Milliseconds(100);
constexpr absl::Duration kMaxBackoff = absl::Seconds(30);
// How long one Next() may block when nothing else needs the thread. Stop()
// and AddEventHandler() cancel the watch, so this only bounds how long a
// lost wake-up could last.
constexpr absl::Duration kIdleWait = absl::Seconds(30);
// With a clock other than the real one, resync deadlines cannot be slept
// towards in real time; the thread looks at the clock this often instead.
constexpr absl::Duration kClockPoll = absl::Milliseconds(50);

const Logger& InformerLog() {
  static const Logger* const log = new Logger("client.informer");
  return *log;
}

std::string ResourceVersionOf(const google::protobuf::Message& object) {
  const api::ObjectMeta* meta = api::ObjectMetaOf(object);
  return meta == nullptr ? std::string() : meta->resource_version();
}

}  // namespace

class Informer::Impl {
 public:
  Impl(Client& client, const api::KindInfo& kind, InformerOptions options)
      : client_(client),
        kind_(kind),
        options_(std::move(options)),
        clock_(options_.clock != nullptr ? options_.clock : RealClock().get()),
        clock_is_real_(clock_ == RealClock().get()),
        indexer_(Indexers{{kNamespaceIndex, NamespaceIndex()}}) {
    Indexers extra = options_.indexers;
    extra.erase(kNamespaceIndex);
    if (!extra.empty()) indexer_.AddIndexers(std::move(extra)).IgnoreError();
    if (!kind_.namespaced) options_.namespace_.clear();
  }

  ~Impl() { Stop(); }

  void AddEventHandler(ResourceEventHandler handler) {
    absl::MutexLock l(&mu_);
    pending_handlers_.push_back(std::move(handler));
    has_pending_.store(true, std::memory_order_release);
    // The thread hands the new handler the cache's contents at its next safe
    // point; wake it if it waits for the server or for a backoff.
    wake_ = true;
    CancelStream();
  }

  absl::Status AddIndexers(Indexers indexers) {
    {
      absl::MutexLock l(&mu_);
      if (started_) {
        return absl::FailedPreconditionError(absl::StrCat(
            "cannot add indexers to running informer for ", kind_.QualifiedResource()));
      }
    }
    return indexer_.AddIndexers(std::move(indexers));
  }

  void Start() {
    absl::MutexLock l(&mu_);
    if (started_ || stopping_.load()) return;
    started_ = true;
    absl::MutexLock j(&join_mu_);
    thread_ = std::thread([this] { Run(); });
  }

  void Stop() {
    {
      absl::MutexLock l(&mu_);
      stopping_.store(true);
      wake_ = true;
      CancelStream();
    }
    // From a handler: the thread notices `stopping_` once the handler returns.
    if (std::this_thread::get_id() == thread_id_.load()) return;
    // Held while joining so that a concurrent Stop() returns only after the
    // thread ended too.
    absl::MutexLock l(&join_mu_);
    if (thread_.joinable()) thread_.join();
  }

  bool HasSynced() const {
    absl::MutexLock l(&mu_);
    return synced_;
  }

  bool WaitForSync(absl::Duration timeout) const {
    absl::MutexLock l(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&synced_), timeout);
  }

  const Indexer& indexer() const { return indexer_; }

  std::string LastResourceVersion() const {
    absl::MutexLock l(&mu_);
    return resource_version_;
  }

  int64_t ListCount() const {
    absl::MutexLock l(&mu_);
    return list_count_;
  }

  void RestartWatchForTest() {
    absl::MutexLock l(&mu_);
    restart_watch_ = true;
    CancelStream();
  }

 private:
  bool Stopping() const { return stopping_.load(std::memory_order_acquire); }

  // Wakes the thread from Next() by ending the current watch.
  void CancelStream() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (stream_ == nullptr) return;
    cancel_requested_ = true;
    stream_->Cancel();
  }

  void Run() {
    thread_id_.store(std::this_thread::get_id());
    absl::Duration backoff = kInitialBackoff;
    // Waits `backoff` on the clock (or until Stop()) and doubles it.
    auto back_off = [&] {
      WaitBackoff(backoff);
      backoff = std::min(backoff * 2, kMaxBackoff);
    };
    bool need_list = true;
    while (!Stopping()) {
      DrainPendingHandlers();
      if (need_list) {
        absl::Status listed = ListAndReplace();
        if (Stopping()) break;
        if (!listed.ok()) {
          KORCH_LOG(InformerLog(), kWarning)
              << "listing " << kind_.QualifiedResource() << " failed: " << listed;
          back_off();
          continue;
        }
        backoff = kInitialBackoff;
        need_list = false;
      }

      WatchOptions watch_options;
      watch_options.label_selector = options_.label_selector;
      watch_options.field_selector = options_.field_selector;
      watch_options.resource_version = LastResourceVersion();
      watch_options.allow_bookmarks = true;
      absl::StatusOr<std::unique_ptr<WatchStream>> stream =
          client_.Watch(kind_, options_.namespace_, watch_options);
      if (!stream.ok()) {
        if (Stopping()) break;
        if (stream.status().code() == absl::StatusCode::kOutOfRange) {
          // The revision we know was compacted: only a list can catch up.
          need_list = true;
          continue;
        }
        KORCH_LOG(InformerLog(), kWarning)
            << "watching " << kind_.QualifiedResource() << " failed: " << stream.status();
        back_off();
        continue;
      }
      bool progressed = false;
      absl::Status ended = Consume(**stream, progressed);
      if (progressed) backoff = kInitialBackoff;
      if (Stopping()) break;
      switch (ended.code()) {
        case absl::StatusCode::kOk:  // woken by us: watch again at once
          break;
        case absl::StatusCode::kOutOfRange:         // 410 Expired
        case absl::StatusCode::kResourceExhausted:  // we fell behind
          need_list = true;
          break;
        default:
          KORCH_LOG(InformerLog(), kInfo)
              << "watch of " << kind_.QualifiedResource() << " ended: " << ended;
          back_off();
          break;
      }
    }
  }

  // Reads events until the stream ends (its status) or the thread is woken
  // by Stop() or RestartWatchForTest() (OK). Sets `progressed` when an
  // event arrived.
  absl::Status Consume(WatchStream& stream, bool& progressed) {
    {
      absl::MutexLock l(&mu_);
      if (stopping_.load() || restart_watch_) {
        restart_watch_ = false;
        return absl::OkStatus();
      }
      stream_ = &stream;
    }
    absl::Status ended;
    while (true) {
      if (has_pending_.load(std::memory_order_acquire)) DrainPendingHandlers();
      MaybeResync();
      absl::StatusOr<WatchEvent> event = stream.Next(NextTimeout());
      if (event.ok()) {
        progressed = true;
        ApplyEvent(*event);
        if (Stopping()) break;
        continue;
      }
      if (event.status().code() == absl::StatusCode::kDeadlineExceeded) {
        if (Stopping()) break;
        continue;
      }
      ended = event.status();
      break;
    }
    absl::MutexLock l(&mu_);
    stream_ = nullptr;
    // A cancellation we asked for (Stop, a new handler, a test restart) is
    // not an error: the caller watches again from the last revision.
    bool ours = cancel_requested_ || restart_watch_ || stopping_.load();
    cancel_requested_ = false;
    restart_watch_ = false;
    return ours ? absl::OkStatus() : ended;
  }

  absl::Duration NextTimeout() const {
    if (options_.resync_period <= absl::ZeroDuration()) return kIdleWait;
    if (!clock_is_real_) return kClockPoll;
    absl::Duration left = next_resync_ - clock_->Now();
    return std::clamp(left, absl::Milliseconds(1), kIdleWait);
  }

  // Lists every page at one revision, replaces the cache and delivers the
  // difference to the handlers.
  absl::Status ListAndReplace() {
    ListOptions list_options;
    list_options.label_selector = options_.label_selector;
    list_options.field_selector = options_.field_selector;
    list_options.limit = std::max<int64_t>(options_.page_size, 0);
    std::vector<ObjectPtr> items;
    std::string resource_version;
    while (true) {
      if (Stopping()) return absl::CancelledError("informer stopped");
      absl::StatusOr<ListResult> page = client_.List(kind_, options_.namespace_, list_options);
      if (!page.ok()) {
        if (page.status().code() == absl::StatusCode::kOutOfRange &&
            !list_options.continue_token.empty()) {
          // The continue token's revision was compacted mid-list: start
          // over in one request, which cannot expire.
          items.clear();
          list_options.continue_token.clear();
          list_options.limit = 0;
          continue;
        }
        return page.status();
      }
      if (items.empty() && page->remaining_item_count > 0) {
        items.reserve(page->items.size() + static_cast<size_t>(page->remaining_item_count));
      }
      for (ObjectPtr& object : page->items) items.push_back(std::move(object));
      resource_version = std::move(page->resource_version);
      if (page->continue_token.empty()) break;
      list_options.continue_token = std::move(page->continue_token);
    }

    // Handlers added meanwhile are primed from the old contents, so that the
    // difference below is exactly what they miss.
    DrainPendingHandlers();

    absl::flat_hash_map<std::string, ObjectPtr> old_objects;
    {
      std::vector<ObjectPtr> old_list = indexer_.List();
      old_objects.reserve(old_list.size());
      for (ObjectPtr& object : old_list) {
        absl::StatusOr<std::string> key = ObjectKey(*object);
        if (key.ok()) old_objects.emplace(*std::move(key), std::move(object));
      }
    }
    KORCH_RETURN_IF_ERROR(indexer_.Replace(items, resource_version));
    {
      absl::MutexLock l(&mu_);
      ++list_count_;
    }

    for (const ObjectPtr& object : items) {
      if (Stopping()) return absl::CancelledError("informer stopped");
      absl::StatusOr<std::string> key = ObjectKey(*object);
      if (!key.ok()) continue;  // Replace() accepted it, so unreachable
      auto it = old_objects.find(*key);
      if (it == old_objects.end()) {
        DeliverAdd(object);
        continue;
      }
      if (ResourceVersionOf(*it->second) != ResourceVersionOf(*object)) {
        DeliverUpdate(it->second, object);
      }
      old_objects.erase(it);
    }
    for (auto& [key, last_known] : old_objects) {
      if (Stopping()) return absl::CancelledError("informer stopped");
      DeliverDelete(last_known);
    }

    absl::MutexLock l(&mu_);
    resource_version_ = std::move(resource_version);
    if (!synced_) {
      synced_ = true;
      next_resync_ = clock_->Now() + options_.resync_period;
    }
    return absl::OkStatus();
  }

  void ApplyEvent(const WatchEvent& event) {
    const ObjectPtr& object = event.object;
    if (object == nullptr) return;
    switch (event.type) {
      case EventType::kBookmark:
        break;
      case EventType::kAdded:
      case EventType::kModified: {
        absl::StatusOr<std::string> key = ObjectKey(*object);
        if (!key.ok()) return;
        ObjectPtr old = indexer_.Get(*key);
        if (!indexer_.Update(object).ok()) return;
        if (old == nullptr) {
          DeliverAdd(object);
        } else {
          DeliverUpdate(old, object);
        }
        break;
      }
      case EventType::kDeleted: {
        absl::StatusOr<std::string> key = ObjectKey(*object);
        if (!key.ok()) return;
        // A deletion of an object never cached (e.g. one that left the
        // selection before we listed) tells handlers nothing.
        if (indexer_.Delete(*key)) DeliverDelete(object);
        break;
      }
    }
    const api::ObjectMeta* meta = api::ObjectMetaOf(*object);
    if (meta != nullptr && !meta->resource_version().empty()) {
      absl::MutexLock l(&mu_);
      resource_version_ = meta->resource_version();
    }
  }

  void MaybeResync() {
    if (options_.resync_period <= absl::ZeroDuration()) return;
    absl::Time now = clock_->Now();
    if (now < next_resync_) return;
    next_resync_ = now + options_.resync_period;
    for (const ObjectPtr& object : indexer_.List()) {
      if (Stopping()) return;
      DeliverUpdate(object, object);
    }
  }

  // Moves handlers added since the last call to `handlers_`, first giving
  // each on_add for the cache's current contents.
  void DrainPendingHandlers() {
    std::vector<ResourceEventHandler> added;
    {
      absl::MutexLock l(&mu_);
      added.swap(pending_handlers_);
      has_pending_.store(false, std::memory_order_release);
      // Wake-ups before this point are served by this call.
      wake_ = stopping_.load();
    }
    if (added.empty()) return;
    std::vector<ObjectPtr> contents = indexer_.List();
    for (ResourceEventHandler& handler : added) {
      if (handler.on_add) {
        for (const ObjectPtr& object : contents) {
          if (Stopping()) break;
          handler.on_add(object);
        }
      }
      handlers_.push_back(std::move(handler));
    }
  }

  // Waits `duration` on the clock, serving handlers added meanwhile; returns
  // early on Stop().
  void WaitBackoff(absl::Duration duration) {
    absl::Time deadline = clock_->Now() + duration;
    while (!Stopping()) {
      bool woken;
      {
        absl::MutexLock l(&mu_);
        woken = clock_->AwaitWithDeadline(&mu_, &wake_, deadline);
      }
      if (!woken) return;  // deadline reached
      DrainPendingHandlers();
    }
  }

  void DeliverAdd(const ObjectPtr& object) {
    for (const ResourceEventHandler& handler : handlers_) {
      if (handler.on_add) handler.on_add(object);
    }
  }
  void DeliverUpdate(const ObjectPtr& old_object, const ObjectPtr& new_object) {
    for (const ResourceEventHandler& handler : handlers_) {
      if (handler.on_update) handler.on_update(old_object, new_object);
    }
  }
  void DeliverDelete(const ObjectPtr& last_known) {
    for (const ResourceEventHandler& handler : handlers_) {
      if (handler.on_delete) handler.on_delete(last_known);
    }
  }

  Client& client_;
  const api::KindInfo& kind_;
  InformerOptions options_;
  Clock* const clock_;
  const bool clock_is_real_;
  Indexer indexer_;

  // Owned by the informer thread: the handlers that have seen the cache's
  // contents, and the next resync deadline.
  std::vector<ResourceEventHandler> handlers_;
  absl::Time next_resync_ = absl::InfiniteFuture();

  // Read without `mu_` on hot paths; written under it.
  std::atomic<bool> stopping_{false};
  std::atomic<bool> has_pending_{false};
  std::atomic<std::thread::id> thread_id_{};

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  // Set by Stop() and AddEventHandler() to end a backoff wait early.
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool restart_watch_ ABSL_GUARDED_BY(mu_) = false;
  // CancelStream() ended the current watch.
  bool cancel_requested_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<ResourceEventHandler> pending_handlers_ ABSL_GUARDED_BY(mu_);
  // The watch being read, so that Stop() can cancel it.
  WatchStream* stream_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::string resource_version_ ABSL_GUARDED_BY(mu_);
  int64_t list_count_ ABSL_GUARDED_BY(mu_) = 0;

  // Guards moving `thread_` out in Stop(), which may race with itself.
  absl::Mutex join_mu_ ABSL_ACQUIRED_AFTER(mu_);
  std::thread thread_ ABSL_GUARDED_BY(join_mu_);
};

Informer::Informer(Client& client, const api::KindInfo& kind, InformerOptions options)
    : kind_(kind), impl_(std::make_unique<Impl>(client, kind, std::move(options))) {}

Informer::~Informer() = default;

void Informer::AddEventHandler(ResourceEventHandler handler) {
  impl_->AddEventHandler(std::move(handler));
}
absl::Status Informer::AddIndexers(Indexers indexers) {
  return impl_->AddIndexers(std::move(indexers));
}
void Informer::Start() { impl_->Start(); }
void Informer::Stop() { impl_->Stop(); }
bool Informer::HasSynced() const { return impl_->HasSynced(); }
bool Informer::WaitForSync(absl::Duration timeout) const { return impl_->WaitForSync(timeout); }
const Indexer& Informer::indexer() const { return impl_->indexer(); }
std::string Informer::LastResourceVersion() const { return impl_->LastResourceVersion(); }
int64_t Informer::ListCount() const { return impl_->ListCount(); }
void Informer::RestartWatchForTest() { impl_->RestartWatchForTest(); }

bool WaitForCacheSync(const std::vector<const Informer*>& informers, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  for (const Informer* informer : informers) {
    if (!informer->WaitForSync(std::max(deadline - absl::Now(), absl::ZeroDuration()))) {
      return false;
    }
  }
  return true;
}

SharedInformerFactory::SharedInformerFactory(Client& client, Options options)
    : client_(client), options_(std::move(options)) {}

SharedInformerFactory::~SharedInformerFactory() { Stop(); }

Informer& SharedInformerFactory::ForKind(const api::KindInfo& kind, Indexers indexers) {
  absl::MutexLock l(&mu_);
  std::unique_ptr<Informer>& informer = informers_[&kind];
  if (informer == nullptr) {
    InformerOptions options;
    options.namespace_ = kind.namespaced ? options_.namespace_ : "";
    options.resync_period = options_.resync_period;
    options.clock = options_.clock;
    options.indexers = std::move(indexers);
    informer = std::make_unique<Informer>(client_, kind, std::move(options));
    if (started_) informer->Start();
    return *informer;
  }
  if (!indexers.empty()) {
    // Indexes already present are fine; once started, none can be added.
    absl::Status added = informer->AddIndexers(std::move(indexers));
    if (!added.ok() && added.code() != absl::StatusCode::kAlreadyExists) {
      KORCH_LOG(InformerLog(), kWarning)
          << "indexers for " << kind.QualifiedResource() << " not added: " << added;
    }
  }
  return *informer;
}

void SharedInformerFactory::Start() {
  absl::MutexLock l(&mu_);
  started_ = true;
  for (auto& [kind, informer] : informers_) informer->Start();
}

bool SharedInformerFactory::WaitForCacheSync(absl::Duration timeout) {
  std::vector<const Informer*> informers;
  {
    absl::MutexLock l(&mu_);
    for (auto& [kind, informer] : informers_) informers.push_back(informer.get());
  }
  return client::WaitForCacheSync(informers, timeout);
}

void SharedInformerFactory::Stop() {
  std::vector<Informer*> informers;
  {
    absl::MutexLock l(&mu_);
    for (auto& [kind, informer] : informers_) informers.push_back(informer.get());
  }
  for (Informer* informer : informers) informer->Stop();
}

}  // namespace korch::client
