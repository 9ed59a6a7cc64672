#include "korch/controllers/namespace_controller.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "korch/api/core.pb.h"
#include "korch/api/meta.pb.h"
#include "korch/api/object.h"
#include "korch/base/status.h"

namespace korch::controllers {
namespace {

// The finalizer this controller owns in spec.finalizers.
constexpr char kKubernetesFinalizer[] = "kubernetes";
constexpr int kConflictAttempts = 5;

bool IsNamespacedStoredKind(const api::KindInfo& kind) {
  if (!kind.namespaced || kind.resource.empty() || kind.list == nullptr ||
      kind.descriptor == nullptr) {
    return false;
  }
  const google::protobuf::FieldDescriptor* metadata = kind.descriptor->FindFieldByName("metadata");
  return metadata != nullptr &&
         metadata->type() == google::protobuf::FieldDescriptor::TYPE_MESSAGE &&
         metadata->message_type() == api::ObjectMeta::descriptor();
}

bool HasKubernetesFinalizer(const api::Namespace& ns) {
  return std::find(ns.spec().finalizers().begin(), ns.spec().finalizers().end(),
                   kKubernetesFinalizer) != ns.spec().finalizers().end();
}

client::UpdateOptions SubresourceOptions(absl::string_view subresource) {
  client::UpdateOptions options;
  options.subresource = std::string(subresource);
  return options;
}

absl::Time ToTime(const api::Time& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

api::Time FromTime(absl::Time t) {
  api::Time out;
  const int64_t seconds = absl::ToUnixSeconds(t);
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds))));
  return out;
}

// What one pass over a namespace's content found.
struct ContentReport {
  // Objects still present, by qualified resource ("pods", "deployments.apps").
  std::map<std::string, int> remaining;
  // Objects still present because of finalizers, by finalizer.
  std::map<std::string, int> finalizers;
  // Failures to delete or list, one line each.
  std::vector<std::string> errors;
  // The longest time a pod still has to finish its graceful deletion.
  absl::Duration longest_grace = absl::ZeroDuration();
};

class NamespaceControllerImpl final : public NamespaceController {
 public:
  NamespaceControllerImpl(client::Client& client, NamespaceControllerOptions options,
                          const api::KindInfo& namespace_kind)
      : client_(client),
        options_(std::move(options)),
        log_(options_.logger),
        namespace_kind_(namespace_kind),
        queue_(std::make_shared<client::WorkQueue>(client::WorkQueueOptions{
            .clock = options_.clock, .rate_limiter = options_.rate_limiter})) {
    for (const auto& kind : client_.scheme().kinds()) {
      if (IsNamespacedStoredKind(*kind)) content_kinds_.push_back(kind.get());
    }
    client::SharedInformerFactory* factory = options_.informers;
    if (factory == nullptr) {
      client::SharedInformerFactory::Options factory_options;
      factory_options.resync_period = options_.resync_period;
      factory_options.clock = options_.clock.get();
      own_factory_ = std::make_unique<client::SharedInformerFactory>(client_, factory_options);
      factory = own_factory_.get();
    }
    factory_ = factory;
    informer_ = &factory->ForKind(namespace_kind_);
    // Held weakly: a shared informer keeps its handlers after the
    // controller is gone, and they must then do nothing.
    std::weak_ptr<client::WorkQueue> weak = queue_;
    auto enqueue = [weak](const client::ObjectPtr& object) {
      const api::ObjectMeta* meta = api::ObjectMetaOf(*object);
      if (meta == nullptr || !meta->has_deletion_timestamp()) return;
      if (auto queue = weak.lock()) queue->Add(meta->name());
    };
    client::ResourceEventHandler handler;
    handler.on_add = enqueue;
    handler.on_update = [enqueue](const client::ObjectPtr&, const client::ObjectPtr& new_object) {
      enqueue(new_object);
    };
    informer_->AddEventHandler(std::move(handler));
  }

  ~NamespaceControllerImpl() override { Stop(); }

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
    queue_->ShutDown();
    if (runner_.joinable()) runner_.join();
    for (std::thread& worker : workers_) worker.join();
    workers_.clear();
    if (own_factory_ != nullptr) own_factory_->Stop();
  }

  bool HasSynced() const override { return synced_.load(); }

 private:
  void Run() {
    while (!informer_->WaitForSync(absl::Milliseconds(50))) {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
    }
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    synced_ = true;
    for (int i = 0; i < options_.workers; ++i) {
      workers_.emplace_back([this] { Work(); });
    }
  }

  void Work() {
    while (std::optional<std::string> name = queue_->Get()) {
      absl::StatusOr<absl::Duration> requeue = Sync(*name);
      if (requeue.ok()) {
        queue_->Forget(*name);
        if (*requeue > absl::ZeroDuration()) queue_->AddAfter(*name, *requeue);
      } else {
        KORCH_LOG(log_, kWarning) << "namespace " << *name << ": " << requeue.status()
                                  << " (retrying)";
        queue_->AddRateLimited(*name);
      }
      queue_->Done(*name);
    }
  }

  // One pass over a terminating namespace. Returns how long to wait before
  // the next pass (zero: done).
  absl::StatusOr<absl::Duration> Sync(absl::string_view name) {
    client::ObjectPtr cached = informer_->indexer().Get(name);
    if (cached == nullptr) return absl::ZeroDuration();
    if (!api::ObjectMetaOf(*cached)->has_deletion_timestamp()) return absl::ZeroDuration();
    // The cache may be behind a finalize that already happened.
    auto live = client_.Get(namespace_kind_, "", name);
    if (absl::IsNotFound(live.status())) return absl::ZeroDuration();
    if (!live.ok()) return live.status();
    auto ns = std::static_pointer_cast<const api::Namespace>(*std::move(live));
    if (!ns->metadata().has_deletion_timestamp() || !HasKubernetesFinalizer(*ns)) {
      return absl::ZeroDuration();
    }

    ContentReport report = DeleteContent(name);
    UpdateConditions(*ns, report);
    if (!report.errors.empty()) {
      return absl::UnavailableError(absl::StrCat("deleting the content of namespace ", name, ": ",
                                                 absl::StrJoin(report.errors, "; ")));
    }
    if (!report.remaining.empty()) {
      absl::Duration delay = std::max(options_.requeue_delay, report.longest_grace);
      delay = std::min(delay, options_.max_requeue_delay);
      KORCH_LOG(log_, kDebug) << "namespace " << name << ": content remains; checking again in "
                              << delay;
      return delay;
    }
    KORCH_RETURN_IF_ERROR(Finalize(name));
    return absl::ZeroDuration();
  }

  // Deletes every object of every namespaced kind in `ns` and reports what
  // is still there.
  ContentReport DeleteContent(absl::string_view ns) {
    ContentReport report;
    const absl::Time now = options_.clock->Now();
    for (const api::KindInfo* kind : content_kinds_) {
      const std::string resource = kind->QualifiedResource();
      auto listed = client_.List(*kind, ns);
      if (!listed.ok()) {
        report.errors.push_back(
            absl::StrCat("listing ", resource, ": ", listed.status().message()));
        continue;
      }
      if (listed->items.empty()) continue;
      const bool all_deleting =
          std::all_of(listed->items.begin(), listed->items.end(), [](const client::ObjectPtr& o) {
            return api::ObjectMetaOf(*o)->has_deletion_timestamp();
          });
      if (!all_deleting) {
        absl::Status deleted = DeleteAll(*kind, ns, listed->items);
        if (!deleted.ok()) {
          report.errors.push_back(absl::StrCat("deleting ", resource, ": ", deleted.message()));
          continue;
        }
        listed = client_.List(*kind, ns);
        if (!listed.ok()) {
          report.errors.push_back(
              absl::StrCat("listing ", resource, ": ", listed.status().message()));
          continue;
        }
      }
      for (const client::ObjectPtr& object : listed->items) {
        const api::ObjectMeta& meta = *api::ObjectMetaOf(*object);
        ++report.remaining[resource];
        for (const std::string& finalizer : meta.finalizers()) ++report.finalizers[finalizer];
        if (meta.has_deletion_timestamp() && meta.finalizers_size() == 0) {
          // Graceful deletion: gone once its deadline passes.
          report.longest_grace =
              std::max(report.longest_grace, ToTime(meta.deletion_timestamp()) - now);
        }
      }
    }
    return report;
  }

  // DeleteCollection when the kind supports it, one delete per object
  // otherwise.
  absl::Status DeleteAll(const api::KindInfo& kind, absl::string_view ns,
                         const std::vector<client::ObjectPtr>& items) {
    client::DeleteOptions options;
    options.propagation_policy = "Background";
    auto collection = client_.DeleteCollection(kind, ns, {}, options);
    if (collection.ok()) return absl::OkStatus();
    if (!absl::IsUnimplemented(collection.status())) return collection.status();
    absl::Status result;
    for (const client::ObjectPtr& object : items) {
      const api::ObjectMeta& meta = *api::ObjectMetaOf(*object);
      if (meta.has_deletion_timestamp()) continue;
      client::DeleteOptions one = options;
      one.precondition_uid = meta.uid();
      auto deleted = client_.Delete(kind, ns, meta.name(), one);
      if (!deleted.ok() && !absl::IsNotFound(deleted.status()) &&
          !absl::IsAborted(deleted.status())) {
        result.Update(deleted.status());
      }
    }
    return result;
  }

  // Records the progress of the deletion in status.conditions, as kubectl
  // describe shows it. Best effort: a failure only delays the report.
  void UpdateConditions(const api::Namespace& ns, const ContentReport& report) {
    std::vector<api::NamespaceCondition> wanted;
    auto add = [&](absl::string_view type, bool is_true, absl::string_view true_reason,
                   std::string true_message, absl::string_view false_reason,
                   absl::string_view false_message) {
      api::NamespaceCondition c;
      c.set_type(std::string(type));
      c.set_status(is_true ? "True" : "False");
      c.set_reason(std::string(is_true ? true_reason : false_reason));
      c.set_message(is_true ? std::move(true_message) : std::string(false_message));
      wanted.push_back(std::move(c));
    };
    add("NamespaceDeletionContentFailure", !report.errors.empty(), "ContentDeletionFailed",
        absl::StrCat("Failed to delete all content: ", absl::StrJoin(report.errors, "; ")),
        "ContentDeleted", "All content deleted; some may be waiting on finalization");
    std::vector<std::string> remaining;
    for (const auto& [resource, count] : report.remaining) {
      remaining.push_back(absl::StrCat(resource, ": ", count));
    }
    add("NamespaceContentRemaining", !report.remaining.empty(), "SomeResourcesRemain",
        absl::StrCat("Objects remain (resource: count): ", absl::StrJoin(remaining, ", ")),
        "ContentRemoved", "No objects remain");
    std::vector<std::string> finalizers;
    for (const auto& [finalizer, count] : report.finalizers) {
      finalizers.push_back(absl::StrCat(finalizer, ": ", count));
    }
    add("NamespaceFinalizersRemaining", !report.finalizers.empty(), "SomeFinalizersRemain",
        absl::StrCat("Objects wait for finalizers (finalizer: objects): ",
                     absl::StrJoin(finalizers, ", ")),
        "ContentHasNoFinalizers", "No object waits for a finalizer");

    api::Namespace updated = ns;
    bool changed = false;
    const api::Time now = FromTime(options_.clock->Now());
    for (api::NamespaceCondition& c : wanted) {
      api::NamespaceCondition* existing = nullptr;
      for (api::NamespaceCondition& e : *updated.mutable_status()->mutable_conditions()) {
        if (e.type() == c.type()) existing = &e;
      }
      if (existing == nullptr) {
        *c.mutable_last_transition_time() = now;
        *updated.mutable_status()->add_conditions() = std::move(c);
        changed = true;
        continue;
      }
      if (existing->status() != c.status()) {
        *c.mutable_last_transition_time() = now;
      } else if (existing->reason() == c.reason() && existing->message() == c.message()) {
        continue;
      } else {
        *c.mutable_last_transition_time() = existing->last_transition_time();
      }
      *existing = std::move(c);
      changed = true;
    }
    if (!changed) return;
    auto written = client_.Update(namespace_kind_, updated, SubresourceOptions("status"));
    if (!written.ok()) {
      KORCH_LOG(log_, kDebug) << "namespace " << ns.metadata().name()
                              << ": updating conditions: " << written.status();
    }
  }

  // Removes "kubernetes" from spec.finalizers through namespaces/finalize;
  // the registry deletes the namespace when no finalizer is left.
  absl::Status Finalize(absl::string_view name) {
    for (int attempt = 0; attempt < kConflictAttempts; ++attempt) {
      auto got = client_.Get(namespace_kind_, "", name);
      if (absl::IsNotFound(got.status())) return absl::OkStatus();
      if (!got.ok()) return got.status();
      api::Namespace ns = *std::static_pointer_cast<const api::Namespace>(*got);
      if (!HasKubernetesFinalizer(ns)) return absl::OkStatus();
      auto* finalizers = ns.mutable_spec()->mutable_finalizers();
      finalizers->erase(std::remove(finalizers->begin(), finalizers->end(), kKubernetesFinalizer),
                        finalizers->end());
      auto updated = client_.Update(namespace_kind_, ns, SubresourceOptions("finalize"));
      if (updated.ok() || absl::IsNotFound(updated.status())) {
        KORCH_LOG(log_, kInfo) << "namespace " << name << " is empty; finalized";
        return absl::OkStatus();
      }
      if (!absl::IsAborted(updated.status())) return updated.status();
    }
    return absl::AbortedError(
        absl::StrCat("finalizing namespace \"", name, "\": conflicts on every attempt"));
  }

  client::Client& client_;
  const NamespaceControllerOptions options_;
  const Logger log_;
  const api::KindInfo& namespace_kind_;
  const std::shared_ptr<client::WorkQueue> queue_;
  std::vector<const api::KindInfo*> content_kinds_;  // fixed after construction
  std::unique_ptr<client::SharedInformerFactory> own_factory_;
  client::SharedInformerFactory* factory_ = nullptr;
  client::Informer* informer_ = nullptr;

  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::thread runner_;
  // Appended by the runner under mu_; joined by Stop() after the runner.
  std::vector<std::thread> workers_;
  std::atomic<bool> synced_{false};
};

}  // namespace

absl::StatusOr<std::unique_ptr<NamespaceController>> NamespaceController::Create(
    client::Client& client, NamespaceControllerOptions options) {
  if (options.workers < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("namespace controller: workers must be at least 1, not ", options.workers));
  }
  const api::KindInfo* namespace_kind = client.scheme().Find(api::Namespace::descriptor());
  if (namespace_kind == nullptr) {
    return absl::InvalidArgumentError(
        "namespace controller: the client's scheme has no kind Namespace");
  }
  if (options.clock == nullptr) options.clock = RealClock();
  return std::make_unique<NamespaceControllerImpl>(client, std::move(options), *namespace_kind);
}

}  // namespace korch::controllers
