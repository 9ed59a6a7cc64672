#include "registry_watch.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "korch/api/object.h"
#include "storage_layout.h"

namespace korch::apiserver::internal {
namespace {

using google::protobuf::Message;

// How often a waiting Next() looks at the injected clock for the watch
// timeout and bookmarks: a FakeClock moves without waking the store watch.
constexpr absl::Duration kClockPoll = absl::Milliseconds(100);

class RegistryWatch final : public WatchStream {
 public:
  explicit RegistryWatch(RegistryWatchSetup setup)
      : kind_(*setup.kind),
        selection_(std::move(setup.selection)),
        watcher_(std::move(setup.watcher)),
        pending_(std::move(setup.initial)),
        revision_(setup.revision),
        clock_(*setup.clock),
        bookmarks_(setup.allow_bookmarks),
        bookmark_interval_(std::max(setup.bookmark_interval, absl::Milliseconds(1))),
        requested_rv_(std::move(setup.requested_resource_version)) {
    absl::Time now = clock_.Now();
    if (setup.timeout > absl::ZeroDuration()) timeout_at_ = now + setup.timeout;
    next_bookmark_ = now + bookmark_interval_;
  }

  ~RegistryWatch() override { watcher_->Cancel(); }

  absl::StatusOr<WatchEvent> Next(absl::Duration timeout) override {
    if (!ended_.ok()) return ended_;
    if (cancelled_.load(std::memory_order_acquire)) {
      return End(absl::CancelledError("the watch was cancelled"));
    }
    if (!pending_.empty()) return Pop();
    absl::Time wait_until = absl::Now() + std::max(timeout, absl::ZeroDuration());
    while (true) {
      absl::Time now = clock_.Now();
      if (now >= timeout_at_) return End(absl::UnavailableError("watch timed out"));
      if (bookmarks_ && now >= next_bookmark_) {
        next_bookmark_ = now + bookmark_interval_;
        return Bookmark();
      }
      absl::Duration wait = wait_until - absl::Now();
      if (wait <= absl::ZeroDuration()) {
        return absl::DeadlineExceededError("no watch event arrived in time");
      }
      if (bookmarks_ || timeout_at_ != absl::InfiniteFuture()) {
        absl::Time clock_deadline =
            bookmarks_ ? std::min(next_bookmark_, timeout_at_) : timeout_at_;
        wait = std::min({wait, clock_deadline - now, kClockPoll});
        wait = std::max(wait, absl::ZeroDuration());
      }
      absl::StatusOr<store::WatchBatch> batch = watcher_->Next(wait);
      if (!batch.ok()) {
        if (cancelled_.load(std::memory_order_acquire)) {
          return End(absl::CancelledError("the watch was cancelled"));
        }
        return End(MapStoreError(batch.status()));
      }
      revision_ = std::max(revision_, batch->revision);
      for (const std::shared_ptr<const store::Event>& event : batch->events) {
        absl::Status s = Convert(*event);
        if (!s.ok()) return End(s);
      }
      if (!pending_.empty()) return Pop();
    }
  }

  void Cancel() override {
    cancelled_.store(true, std::memory_order_release);
    watcher_->Cancel();
  }

 private:
  absl::Status End(absl::Status status) {
    ended_ = std::move(status);
    pending_.clear();
    watcher_->Cancel();
    return ended_;
  }

  WatchEvent Pop() {
    WatchEvent e = std::move(pending_.front());
    pending_.pop_front();
    return e;
  }

  absl::Status MapStoreError(const absl::Status& status) {
    switch (status.code()) {
      case absl::StatusCode::kOutOfRange:
        return absl::OutOfRangeError(
            absl::StrCat("too old resource version: ", requested_rv_, " (", status.message(), ")"));
      case absl::StatusCode::kResourceExhausted:
        return absl::ResourceExhaustedError(
            absl::StrCat("the watch of ", kind_.resource,
                         " fell too far behind; list and watch again: ", status.message()));
      case absl::StatusCode::kCancelled:
        return absl::UnavailableError(
            absl::StrCat("the watch of ", kind_.resource, " ended: ", status.message()));
      default:
        return status;
    }
  }

  WatchEvent Bookmark() {
    std::unique_ptr<Message> object(google::protobuf::MessageFactory::generated_factory()
                                        ->GetPrototype(kind_.descriptor)
                                        ->New());
    if (api::ObjectMeta* meta = api::MutableObjectMetaOf(*object)) {
      meta->set_resource_version(absl::StrCat(revision_));
    }
    return WatchEvent{EventType::kBookmark, ObjectPtr(std::move(object))};
  }

  absl::StatusOr<ObjectPtr> Decode(const store::KeyValue& kv, int64_t revision) {
    absl::StatusOr<std::unique_ptr<Message>> object =
        DecodeStored(kind_, kv.key, kv.value, revision);
    if (!object.ok()) return object.status();
    return ObjectPtr(*std::move(object));
  }

  absl::Status Convert(const store::Event& event) {
    const int64_t revision = event.revision();
    if (event.type == store::Event::Type::kDelete) {
      if (!event.prev_kv.has_value()) return absl::OkStatus();
      absl::StatusOr<ObjectPtr> old = Decode(*event.prev_kv, revision);
      if (!old.ok()) return old.status();
      if (selection_.Matches(**old)) {
        pending_.push_back(WatchEvent{EventType::kDeleted, *std::move(old)});
      }
      return absl::OkStatus();
    }
    absl::StatusOr<ObjectPtr> now = Decode(event.kv, revision);
    if (!now.ok()) return now.status();
    const bool now_matches = selection_.Matches(**now);
    if (!event.prev_kv.has_value()) {
      if (now_matches) pending_.push_back(WatchEvent{EventType::kAdded, *std::move(now)});
      return absl::OkStatus();
    }
    if (selection_.Everything()) {
      pending_.push_back(WatchEvent{EventType::kModified, *std::move(now)});
      return absl::OkStatus();
    }
    absl::StatusOr<ObjectPtr> before = Decode(*event.prev_kv, revision);
    if (!before.ok()) return before.status();
    const bool before_matched = selection_.Matches(**before);
    if (now_matches) {
      pending_.push_back(
          WatchEvent{before_matched ? EventType::kModified : EventType::kAdded, *std::move(now)});
    } else if (before_matched) {
      // It left the selection: to this watcher it is gone, in its last
      // matching state.
      pending_.push_back(WatchEvent{EventType::kDeleted, *std::move(before)});
    }
    return absl::OkStatus();
  }

  const api::KindInfo& kind_;
  const Selection selection_;
  const std::unique_ptr<store::Watcher> watcher_;
  std::deque<WatchEvent> pending_;
  int64_t revision_;
  Clock& clock_;
  const bool bookmarks_;
  const absl::Duration bookmark_interval_;
  const std::string requested_rv_;
  absl::Time timeout_at_ = absl::InfiniteFuture();
  absl::Time next_bookmark_;
  absl::Status ended_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

std::unique_ptr<WatchStream> NewRegistryWatch(RegistryWatchSetup setup) {
  return std::make_unique<RegistryWatch>(std::move(setup));
}

}  // namespace korch::apiserver::internal
