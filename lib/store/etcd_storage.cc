// The etcd v3 backend: korch::store::Storage as a client of an etcd
// cluster, over etcd's gRPC API (KV, Watch, Maintenance.Status).
//
// Connections. One gRPC channel per member. Requests go to the member that
// answered last; when it is unreachable or answers with a transient error
// (UNAVAILABLE, DEADLINE_EXCEEDED, "too many requests"), the request moves
// to the next member, round after round with a short backoff, until
// `request_timeout` has passed; then kUnavailable lists every member with
// its last error.
//
// Which requests are retried on another member. Retrying is always safe when
// etcd surely did not apply the request (the channel was not connected, or
// etcd answered "no leader", "not capable", "leader changed", "too many
// requests"): reads and writes alike move on. When the outcome is unknown (a
// deadline, a connection lost mid-request, "request timed out"), the
// request may have been committed and a retry could apply it twice. Then:
//   - reads and Compact are retried (idempotent);
//   - guarded writes are retried: the guard of a write that was applied no
//     longer holds, so a retry cannot apply it a second time. These are
//     Create (create_revision == 0), Update and Delete with an expected mod
//     revision, Delete with 0 (the key must exist), and a Txn that has a
//     guard on a key it puts (or deletes, with a non-zero expected revision).
//     If the retry finds its guard broken, the earlier attempt may have been
//     the one that broke it: Create and Update recognize their own write
//     when the key holds exactly the value written (Create: version 1) and
//     report success; otherwise the guard failure is reported
//     (kAlreadyExists / kNotFound / kAborted), as if a concurrent writer
//     had won, with a note in the message. Callers handle those by
//     re-reading, which shows the truth.
//   - unguarded writes (Update with expected_mod_revision 0, a Txn without a
//     protecting guard) are not retried: kUnavailable says the outcome is
//     unknown.
//
// Watches. One bidi Watch stream per Watcher, read by the watcher's own
// thread; events go to a bounded queue drained by Next(). The stream resumes
// on another member after a failure from the last revision received, so the
// consumer sees no gap and no duplicate. korch's start revision is
// exclusive (events after it), etcd's is inclusive: the stream asks for
// start + 1. A watcher whose queue would exceed max_pending_events is ended
// with kResourceExhausted after the events already queued. Progress
// notifications: etcd's own (progress_notify, every 10 minutes by default)
// are passed on; for WatchOptions::progress_interval the watcher asks etcd
// (WatchProgressRequest) when nothing was delivered for that long, working
// around etcd < 3.4.25 sending that answer out of order with events (see
// OnRequestedProgress).
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "etcd/etcdserverpb/rpc.grpc.pb.h"
#include "korch/base/status.h"
#include "korch/store.h"

namespace korch::store {
namespace {

namespace pb = ::etcdserverpb;

constexpr int64_t kNoWatchId = -1;  // etcd's id for stream-wide responses
// How long after its creation a watch that replays history is assumed to
// have caught up (etcd syncs such watchers every 100 ms).
constexpr absl::Duration kCatchUpTime = absl::Milliseconds(500);

// A key for messages: printable, and short.
std::string Quote(absl::string_view key) {
  constexpr size_t kMax = 200;
  std::string text = absl::CHexEscape(key.substr(0, kMax));
  return absl::StrCat("\"", text, key.size() > kMax ? "...\"" : "\"");
}

// How a request may be retried on another member (see the file comment).
enum class Retry {
  kIdempotent,    // reads, Compact: retry on any transient error
  kGuardedWrite,  // a second application is prevented by the write's guard
  kWrite,         // retry only if etcd surely did not apply it
};

// What a failed attempt tells about the request.
enum class Outcome {
  kNotApplied,  // transient; etcd did not apply the request
  kUnknown,     // transient; etcd may have applied the request
  kFinal,       // an answer: report it
};

Outcome Classify(const grpc::Status& status) {
  const std::string& msg = status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      if (absl::StrContains(msg, "etcdserver: no leader") ||
          absl::StrContains(msg, "etcdserver: not capable") ||
          absl::StrContains(msg, "etcdserver: leader changed") ||
          absl::StrContains(msg, "etcdserver: unhealthy cluster") ||
          absl::StrContains(msg, "not supported for learner") ||
          absl::StrContains(msg, "failed to connect to all addresses")) {
        return Outcome::kNotApplied;
      }
      return Outcome::kUnknown;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
      return Outcome::kUnknown;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      if (absl::StrContains(msg, "etcdserver: too many requests")) return Outcome::kNotApplied;
      return Outcome::kFinal;
    default:
      return Outcome::kFinal;
  }
}

absl::StatusCode ToAbslCode(grpc::StatusCode code) {
  // gRPC and Abseil share the canonical code numbers.
  return static_cast<absl::StatusCode>(static_cast<int>(code));
}

// Turns etcd's answer into korch's error for `what` ("create \"/a\"").
absl::Status MapError(const grpc::Status& status, absl::string_view what) {
  const std::string& msg = status.error_message();
  if (absl::StrContains(msg, "required revision has been compacted")) {
    return absl::OutOfRangeError(absl::StrCat(what, ": required revision has been compacted"));
  }
  if (absl::StrContains(msg, "required revision is a future revision")) {
    return absl::OutOfRangeError(absl::StrCat(what, ": required revision is in the future"));
  }
  if (absl::StrContains(msg, "etcdserver: request is too large") ||
      (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
       absl::StrContains(msg, "larger than max"))) {
    return absl::InvalidArgumentError(absl::StrCat(
        what,
        ": the request is larger than etcd accepts (its --max-request-bytes, 1.5 MiB by "
        "default): ",
        msg));
  }
  return absl::Status(ToAbslCode(status.error_code()), absl::StrCat("etcd: ", what, ": ", msg));
}

std::string DescribeGrpc(const grpc::Status& status) {
  return absl::StrCat(absl::StatusCodeToString(ToAbslCode(status.error_code())), ": ",
                      status.error_message());
}

std::string ParseEndpoint(absl::string_view endpoint) {
  absl::ConsumePrefix(&endpoint, "http://");
  absl::ConsumeSuffix(&endpoint, "/");
  return std::string(endpoint);
}

struct Endpoint {
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::KV::Stub> kv;
  std::unique_ptr<pb::Watch::Stub> watch;
  std::unique_ptr<pb::Maintenance::Stub> maintenance;
};

class EtcdWatcher;

// The connection to the cluster, shared by the Storage and its watchers
// (a watcher may outlive the Storage; it is ended when the Storage closes).
class EtcdClient {
 public:
  explicit EtcdClient(const EtcdStorageOptions& options) : options_(options) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    // Reconnect quickly to a member that comes back.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    // Notice a member that stopped answering (not just closed) while a
    // watch stream is open. etcd accepts pings every 5 s or slower.
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
    // Channels of different Storage objects must not share connections.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    for (const std::string& e : options.endpoints) {
      auto ep = std::make_unique<Endpoint>();
      ep->address = ParseEndpoint(e);
      ep->channel =
          grpc::CreateCustomChannel(ep->address, grpc::InsecureChannelCredentials(), args);
      ep->kv = pb::KV::NewStub(ep->channel);
      ep->watch = pb::Watch::NewStub(ep->channel);
      ep->maintenance = pb::Maintenance::NewStub(ep->channel);
      endpoints_.push_back(std::move(ep));
    }
  }

  const EtcdStorageOptions& options() const { return options_; }
  int size() const { return static_cast<int>(endpoints_.size()); }
  Endpoint& endpoint(int i) { return *endpoints_[i]; }
  int current() const { return current_.load(std::memory_order_relaxed); }

  // Waits until the channel of `ep` is connected, for at most `deadline`.
  // A channel in TRANSIENT_FAILURE (its member refused or dropped the
  // connection; gRPC keeps reconnecting in the background) is skipped at
  // once, so that failover costs nothing when a member is down.
  // `stop`, if given, ends the wait early when it becomes true.
  bool Connect(Endpoint& ep, absl::Time deadline, std::string* error,
               const std::atomic<bool>* stop = nullptr) {
    grpc_connectivity_state state = ep.channel->GetState(/*try_to_connect=*/true);
    while (state != GRPC_CHANNEL_READY) {
      if (state == GRPC_CHANNEL_TRANSIENT_FAILURE) {
        *error = "not connected (connection failed; reconnecting)";
        return false;
      }
      absl::Time now = absl::Now();
      if (now >= deadline || (stop != nullptr && stop->load())) {
        *error =
            absl::StrCat("could not connect within ", absl::FormatDuration(options_.dial_timeout));
        return false;
      }
      absl::Time until =
          stop != nullptr ? std::min(deadline, now + absl::Milliseconds(100)) : deadline;
      ep.channel->WaitForStateChange(state, absl::ToChronoTime(until));
      state = ep.channel->GetState(true);
    }
    return true;
  }

  // Runs `rpc(endpoint, context, response)` on the members in turn until
  // one answers or request_timeout has passed (see the file comment).
  // `*unknown` is set when an earlier attempt's outcome was unknown and the
  // request was retried.
  template <typename Resp, typename Fn>
  absl::StatusOr<Resp> Call(absl::string_view what, Retry retry, Fn rpc, bool* unknown = nullptr) {
    const absl::Time deadline = absl::Now() + options_.request_timeout;
    const int n = size();
    // With several members, one that hangs must not use up the whole
    // deadline.
    const absl::Duration attempt_timeout =
        n == 1 ? options_.request_timeout
               : std::max(options_.dial_timeout, options_.request_timeout / 2);
    const int start = current();
    std::vector<std::string> errors(n, "not tried");
    absl::Duration backoff = absl::Milliseconds(20);
    while (true) {
      for (int k = 0; k < n; ++k) {
        const int i = (start + k) % n;
        Endpoint& ep = *endpoints_[i];
        absl::Time now = absl::Now();
        if (now >= deadline) break;
        if (!Connect(ep, std::min(deadline, now + options_.dial_timeout), &errors[i])) continue;
        grpc::ClientContext ctx;
        ctx.set_deadline(absl::ToChronoTime(std::min(deadline, absl::Now() + attempt_timeout)));
        Resp resp;
        grpc::Status status = rpc(ep, &ctx, &resp);
        if (status.ok()) {
          current_.store(i, std::memory_order_relaxed);
          return resp;
        }
        errors[i] = DescribeGrpc(status);
        switch (Classify(status)) {
          case Outcome::kFinal:
            return MapError(status, what);
          case Outcome::kNotApplied:
            break;
          case Outcome::kUnknown:
            if (retry == Retry::kWrite) {
              return absl::UnavailableError(absl::StrCat(
                  "etcd: ", what, ": the outcome is unknown (", ep.address, ": ", errors[i],
                  "); the write was not retried because it has no guard that would stop it "
                  "from being applied twice"));
            }
            if (unknown != nullptr) *unknown = true;
            break;
        }
      }
      absl::Time now = absl::Now();
      if (now >= deadline) break;
      absl::SleepFor(std::min(backoff, deadline - now));
      backoff = std::min(backoff * 2, absl::Milliseconds(500));
    }
    std::vector<std::string> parts;
    for (int i = 0; i < n; ++i) {
      parts.push_back(absl::StrCat(endpoints_[i]->address, ": ", errors[i]));
    }
    return absl::UnavailableError(absl::StrCat("etcd: ", what, ": no etcd member answered within ",
                                               absl::FormatDuration(options_.request_timeout), " (",
                                               absl::StrJoin(parts, "; "), ")"));
  }

  void NoteCompacted(int64_t revision) {
    int64_t seen = compacted_.load();
    while (revision > seen && !compacted_.compare_exchange_weak(seen, revision)) {
    }
  }
  int64_t compacted() const { return compacted_.load(); }

  // Watchers register so that Stats() can count them and Close() can end
  // them.
  void Register(EtcdWatcher* w) {
    absl::MutexLock lock(&mu_);
    watchers_.insert(w);
  }
  void Unregister(EtcdWatcher* w) {
    absl::MutexLock lock(&mu_);
    watchers_.erase(w);
  }
  // Ends every watcher with kCancelled (the Storage is being destroyed).
  void Close();
  void WatchStats(int64_t* watchers, int64_t* events);

 private:
  const EtcdStorageOptions options_;
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  std::atomic<int> current_{0};
  std::atomic<int64_t> compacted_{0};
  absl::Mutex mu_;
  absl::flat_hash_set<EtcdWatcher*> watchers_ ABSL_GUARDED_BY(mu_);
};

KeyValue FromPb(const mvccpb::KeyValue& kv, size_t prefix_len) {
  KeyValue out;
  out.key = kv.key().size() >= prefix_len ? kv.key().substr(prefix_len) : kv.key();
  out.value = kv.value();
  out.create_revision = kv.create_revision();
  out.mod_revision = kv.mod_revision();
  out.version = kv.version();
  return out;
}

// A stream of changes from one etcd Watch stream at a time; see the file
// comment.
class EtcdWatcher final : public Watcher {
 public:
  EtcdWatcher(std::shared_ptr<EtcdClient> client, std::string key, std::string range_end,
              int64_t start_after, const WatchOptions& options)
      : client_(std::move(client)),
        key_(std::move(key)),
        range_end_(std::move(range_end)),
        progress_interval_(options.progress_interval),
        delivered_rev_(start_after),
        last_delivery_(absl::Now()),
        received_rev_(start_after) {
    max_pending_ = client_->options().max_pending_events;
    if (options.max_pending_events > 0 &&
        (max_pending_ <= 0 || options.max_pending_events < max_pending_)) {
      max_pending_ = options.max_pending_events;
    }
    if (max_pending_ <= 0) max_pending_ = 10000;
  }

  ~EtcdWatcher() override {
    client_->Unregister(this);
    Stop(absl::CancelledError("watch cancelled"));
    if (thread_.joinable()) thread_.join();
  }

  void Start() {
    client_->Register(this);
    thread_ = std::thread([this] { Run(); });
  }

  absl::StatusOr<WatchBatch> Next(absl::Duration timeout) override {
    const absl::Time deadline = absl::Now() + timeout;
    absl::MutexLock lock(&mu_);
    while (true) {
      if (!queue_.empty()) {
        WatchBatch batch = std::move(queue_.front());
        queue_.pop_front();
        queued_events_ -= static_cast<int64_t>(batch.events.size());
        delivered_rev_ = std::max(delivered_rev_, batch.revision);
        last_delivery_ = absl::Now();
        return batch;
      }
      if (!end_.ok()) return end_;
      absl::Time now = absl::Now();
      absl::Time wake = deadline;
      if (progress_interval_ > absl::ZeroDuration() && streaming_) {
        absl::Time due =
            std::max(std::max(last_delivery_, progress_requested_at_) + progress_interval_,
                     progress_allowed_at_);
        if (now >= due) {
          progress_requested_at_ = now;
          progress_candidate_ = 0;
          mu_.Unlock();
          SendProgressRequest();
          mu_.Lock();
          continue;
        }
        wake = std::min(wake, due);
      }
      if (now >= deadline) return WatchBatch{{}, delivered_rev_};
      cv_.WaitWithDeadline(&mu_, wake);
    }
  }

  void Cancel() override { Stop(absl::CancelledError("watch cancelled")); }

  // Ends the watch with `status` at once, dropping undelivered events.
  void Stop(absl::Status status) {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    stop_.store(true);
    if (end_.ok()) end_ = std::move(status);
    queue_.clear();
    queued_events_ = 0;
    if (ctx_ != nullptr) ctx_->TryCancel();
    cv_.SignalAll();
  }

  int64_t queued_events() {
    absl::MutexLock lock(&mu_);
    return queued_events_;
  }

 private:
  using Stream = grpc::ClientReaderWriter<pb::WatchRequest, pb::WatchResponse>;

  // The watcher's thread: one stream after another until the watch ends.
  void Run() {
    const int n = client_->size();
    const absl::Duration give_up_after = client_->options().request_timeout;
    std::vector<std::string> errors(n, "not tried");
    int ep = client_->current();
    int failures = 0;  // streams that failed since one last worked
    absl::Time failing_since;
    absl::Duration backoff = absl::Milliseconds(50);
    while (true) {
      bool established = false;
      absl::Status status = RunStream(client_->endpoint(ep), &established, &errors[ep]);
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) return;
      }
      if (!status.ok()) {
        End(std::move(status));
        return;
      }
      if (established) {
        failures = 0;
        backoff = absl::Milliseconds(50);
      }
      if (failures++ == 0) failing_since = absl::Now();
      if (absl::Now() - failing_since > give_up_after) {
        std::vector<std::string> parts;
        for (int i = 0; i < n; ++i) {
          parts.push_back(absl::StrCat(client_->endpoint(i).address, ": ", errors[i]));
        }
        End(absl::UnavailableError(absl::StrCat(
            "etcd: watch on ", Quote(key_), " lost its stream and no member took it over within ",
            absl::FormatDuration(give_up_after), " (", absl::StrJoin(parts, "; "), ")")));
        return;
      }
      ep = (ep + 1) % n;
      if (failures % n == 0) {
        // Every member failed in turn: wait a little before the next round.
        absl::MutexLock lock(&mu_);
        absl::Time until = absl::Now() + backoff;
        while (!stopping_ && absl::Now() < until) cv_.WaitWithDeadline(&mu_, until);
        if (stopping_) return;
        backoff = std::min(backoff * 2, absl::Seconds(1));
      }
    }
  }

  // Runs one Watch stream on `ep` from the revision after the last one
  // received. Returns OK when the stream ended and should be resumed on
  // another member (`*error` says why), or the status that ends the watch.
  absl::Status RunStream(Endpoint& ep, bool* established, std::string* error) {
    const EtcdStorageOptions& options = client_->options();
    error->clear();
    if (!client_->Connect(ep, absl::Now() + options.dial_timeout, error, &stop_)) {
      return absl::OkStatus();
    }
    grpc::ClientContext ctx;
    // Let etcd end the stream when its member loses the leader, so that the
    // watch moves to a member that still receives changes.
    ctx.AddMetadata("hasleader", "true");
    int64_t resume_after;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return absl::OkStatus();
      ctx_ = &ctx;
      resume_after = received_rev_;
    }
    std::unique_ptr<Stream> stream = ep.watch->Watch(&ctx);
    {
      absl::MutexLock lock(&write_mu_);
      stream_ = stream.get();
    }
    pb::WatchRequest create;
    pb::WatchCreateRequest* c = create.mutable_create_request();
    c->set_key(key_);
    c->set_range_end(range_end_);
    c->set_start_revision(resume_after + 1);
    c->set_prev_kv(true);
    c->set_progress_notify(progress_interval_ > absl::ZeroDuration());
    absl::Status end;
    bool writable;
    {
      absl::MutexLock lock(&write_mu_);
      writable = stream->Write(create);
    }
    int64_t watch_id = kNoWatchId;
    pb::WatchResponse resp;
    while (writable && end.ok() && stream->Read(&resp)) {
      if (resp.created()) {
        if (resp.canceled()) {
          end = CancelStatus(resp, error);
          break;
        }
        watch_id = resp.watch_id();
        *established = true;
        absl::MutexLock lock(&mu_);
        streaming_ = true;
        progress_requested_at_ = absl::InfinitePast();
        progress_candidate_ = 0;
        // A watch starting at or before the current revision is "unsynced"
        // in etcd until it has caught up (etcd checks every 100 ms); etcd
        // 3.4 answers progress requests even then, with a revision the
        // watcher has not reached. Ask only once it has surely caught up.
        progress_allowed_at_ =
            resume_after + 1 > resp.header().revision() ? absl::Now() : absl::Now() + kCatchUpTime;
        continue;
      }
      if (resp.canceled() || resp.compact_revision() != 0) {
        end = CancelStatus(resp, error);
        break;
      }
      if (resp.events_size() > 0) {
        end = PushEvents(resp);
      } else if (watch_id != kNoWatchId && resp.watch_id() == watch_id) {
        // A progress notification for this watcher, from etcd's own
        // ticker: sent in order with the events, so it is exact.
        PushProgress(resp.header().revision());
      } else if (resp.watch_id() == kNoWatchId) {
        OnRequestedProgress(resp.header().revision());
      }
    }
    {
      absl::MutexLock lock(&write_mu_);
      stream_ = nullptr;
    }
    {
      absl::MutexLock lock(&mu_);
      streaming_ = false;
    }
    ctx.TryCancel();
    grpc::Status finish = stream->Finish();
    {
      absl::MutexLock lock(&mu_);
      ctx_ = nullptr;
    }
    if (error->empty()) *error = finish.ok() ? "stream ended" : DescribeGrpc(finish);
    return end;
  }

  // A canceled WatchResponse: compaction ends the watch; other reasons
  // (the member lost its leader, ...) move it to another member.
  absl::Status CancelStatus(const pb::WatchResponse& resp, std::string* error) {
    if (resp.compact_revision() != 0) {
      client_->NoteCompacted(resp.compact_revision());
      int64_t after;
      {
        absl::MutexLock lock(&mu_);
        after = received_rev_;
      }
      return absl::OutOfRangeError(absl::StrCat(
          "watch on ", Quote(key_), " from revision ", after,
          ": required revision has been compacted (compacted revision: ", resp.compact_revision(),
          ")"));
    }
    if (absl::StrContains(resp.cancel_reason(), "permission denied")) {
      return absl::PermissionDeniedError(absl::StrCat("etcd: watch: ", resp.cancel_reason()));
    }
    *error = absl::StrCat("watch canceled by etcd: ",
                          resp.cancel_reason().empty() ? "no reason given" : resp.cancel_reason());
    return absl::OkStatus();
  }

  // Queues the events of one etcd response. The queue holds at most
  // max_pending_events undelivered events, counted by whole revisions (a
  // revision is never split across batches, so an empty queue accepts one
  // revision of any size). One response may carry many revisions (a watch
  // catching up on history): the revisions that fit are queued, and the
  // watch ends after them.
  absl::Status PushEvents(const pb::WatchResponse& resp) {
    const size_t prefix_len = client_->options().key_prefix.size();
    absl::MutexLock lock(&mu_);
    progress_candidate_ = 0;
    WatchBatch batch;
    absl::Status status;
    const int n = resp.events_size();
    for (int i = 0; i < n;) {
      const int64_t rev = resp.events(i).kv().mod_revision();
      int j = i;
      while (j < n && resp.events(j).kv().mod_revision() == rev) ++j;
      // Never deliver a revision twice (a resumed stream starts after the
      // last one received).
      if (rev <= received_rev_ || (!batch.events.empty() && rev <= batch.revision)) {
        i = j;
        continue;
      }
      const int64_t pending = queued_events_ + static_cast<int64_t>(batch.events.size());
      if (pending > 0 && pending + (j - i) > max_pending_) {
        status = absl::ResourceExhaustedError(
            absl::StrCat("watch on ", Quote(key_), " fell behind: more than ", max_pending_,
                         " undelivered events; resume from revision ",
                         batch.events.empty() ? received_rev_ : batch.revision));
        break;
      }
      for (; i < j; ++i) {
        const mvccpb::Event& e = resp.events(i);
        auto ev = std::make_shared<Event>();
        ev->type = e.type() == mvccpb::Event::DELETE ? Event::Type::kDelete : Event::Type::kPut;
        ev->kv = FromPb(e.kv(), prefix_len);
        if (e.has_prev_kv()) ev->prev_kv = FromPb(e.prev_kv(), prefix_len);
        batch.events.push_back(std::move(ev));
      }
      batch.revision = rev;
    }
    if (!batch.events.empty()) {
      if (!queue_.empty() && queue_.back().events.empty()) {
        queue_.pop_back();  // a progress notification made stale by events
      }
      received_rev_ = batch.revision;
      queued_events_ += static_cast<int64_t>(batch.events.size());
      queue_.push_back(std::move(batch));
      cv_.SignalAll();
    }
    return status;
  }

  void PushProgress(int64_t revision) {
    absl::MutexLock lock(&mu_);
    if (revision <= received_rev_) return;
    received_rev_ = revision;
    if (!queue_.empty() && queue_.back().events.empty()) {
      queue_.back().revision = revision;
    } else {
      queue_.push_back(WatchBatch{{}, revision});
    }
    cv_.SignalAll();
  }

  // The answer to a WatchProgressRequest. etcd 3.4 (before 3.4.25) may
  // send it ahead of events it had already queued for this stream, so its
  // revision is confirmed by a second request: events queued before the
  // first answer go out while etcd is idle between the two requests. Only
  // then is the first answer's revision delivered.
  void OnRequestedProgress(int64_t revision) {
    int64_t confirmed = 0;
    {
      absl::MutexLock lock(&mu_);
      if (progress_candidate_ == 0) {
        progress_candidate_ = revision;
      } else {
        confirmed = progress_candidate_;
        progress_candidate_ = 0;
      }
    }
    if (confirmed != 0) {
      PushProgress(confirmed);
    } else {
      SendProgressRequest();
    }
  }

  void SendProgressRequest() {
    pb::WatchRequest req;
    req.mutable_progress_request();
    absl::MutexLock lock(&write_mu_);
    if (stream_ != nullptr) stream_->Write(req);
  }

  // Ends the watch with `status` after the events already queued.
  void End(absl::Status status) {
    absl::MutexLock lock(&mu_);
    if (end_.ok()) end_ = std::move(status);
    cv_.SignalAll();
  }

  const std::shared_ptr<EtcdClient> client_;
  const std::string key_;
  const std::string range_end_;
  const absl::Duration progress_interval_;
  int64_t max_pending_ = 0;
  std::thread thread_;

  // The consumer's view (Next() only runs on one thread, under mu_).
  absl::Mutex mu_;
  absl::CondVar cv_;
  int64_t delivered_rev_ ABSL_GUARDED_BY(mu_);
  absl::Time last_delivery_ ABSL_GUARDED_BY(mu_);
  absl::Time progress_requested_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time progress_allowed_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // The stream's side.
  std::deque<WatchBatch> queue_ ABSL_GUARDED_BY(mu_);
  int64_t queued_events_ ABSL_GUARDED_BY(mu_) = 0;
  // Everything up to this revision is queued or delivered.
  int64_t received_rev_ ABSL_GUARDED_BY(mu_);
  int64_t progress_candidate_ ABSL_GUARDED_BY(mu_) = 0;
  bool streaming_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status end_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> stop_{false};  // == stopping_, readable without mu_
  grpc::ClientContext* ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
  // Writes to the stream come from the reader thread and from Next().
  absl::Mutex write_mu_ ABSL_ACQUIRED_AFTER(mu_);
  Stream* stream_ ABSL_GUARDED_BY(write_mu_) = nullptr;
};

void EtcdClient::Close() {
  absl::MutexLock lock(&mu_);
  for (EtcdWatcher* w : watchers_) w->Stop(absl::CancelledError("storage closed"));
}

void EtcdClient::WatchStats(int64_t* watchers, int64_t* events) {
  absl::MutexLock lock(&mu_);
  *watchers = static_cast<int64_t>(watchers_.size());
  *events = 0;
  for (EtcdWatcher* w : watchers_) *events += w->queued_events();
}

class EtcdStorage final : public Storage {
 public:
  explicit EtcdStorage(std::shared_ptr<EtcdClient> client)
      : client_(std::move(client)), prefix_(client_->options().key_prefix) {}

  ~EtcdStorage() override { client_->Close(); }

  absl::Status Ping() {
    pb::StatusRequest req;
    return client_
        ->Call<pb::StatusResponse>(
            "status", Retry::kIdempotent,
            [&](Endpoint& ep, grpc::ClientContext* ctx, pb::StatusResponse* resp) {
              return ep.maintenance->Status(ctx, req, resp);
            })
        .status();
  }

  absl::StatusOr<KeyValue> Get(absl::string_view key) override {
    if (key.empty()) return EmptyKey();
    pb::RangeRequest req;
    req.set_key(Full(key));
    auto resp = RangeRpc(absl::StrCat("get ", Quote(key)), req);
    if (!resp.ok()) return resp.status();
    if (resp->kvs_size() == 0) return NotFound(key);
    return FromPb(resp->kvs(0), prefix_.size());
  }

  absl::StatusOr<RangeResult> Range(absl::string_view start, absl::string_view end,
                                    const RangeOptions& options) override {
    if (start.empty() && end.empty()) return EmptyKey();
    if (options.revision < 0 || options.limit < 0) {
      return absl::InvalidArgumentError("range: revision and limit must not be negative");
    }
    pb::RangeRequest req;
    SetRange(start, end, req.mutable_key(), req.mutable_range_end());
    req.set_limit(options.limit);
    req.set_revision(options.revision);
    req.set_keys_only(options.keys_only);
    auto resp = RangeRpc(absl::StrCat("range ", Quote(start), "..", Quote(end)), req);
    if (!resp.ok()) return resp.status();
    RangeResult result;
    result.kvs.reserve(resp->kvs_size());
    for (const mvccpb::KeyValue& kv : resp->kvs()) result.kvs.push_back(FromPb(kv, prefix_.size()));
    result.revision = options.revision != 0 ? options.revision : resp->header().revision();
    result.more = resp->more();
    result.count = resp->count();
    if (result.more && !result.kvs.empty()) {
      result.continue_key = result.kvs.back().key;
      result.continue_key.push_back('\0');
    }
    return result;
  }

  absl::StatusOr<int64_t> Create(absl::string_view key, absl::string_view value) override {
    if (key.empty()) return EmptyKey();
    KORCH_RETURN_IF_ERROR(CheckValue(key, value));
    pb::TxnRequest req;
    const std::string full = Full(key);
    MustNotExist(full, req.add_compare());
    Put(full, value, req.add_success());
    ReadKey(full, req.add_failure());
    bool unknown = false;
    auto resp = TxnRpc(absl::StrCat("create ", Quote(key)), Retry::kGuardedWrite, req, &unknown);
    if (!resp.ok()) return resp.status();
    if (resp->succeeded()) return resp->header().revision();
    const mvccpb::KeyValue* existing = FailureKv(*resp, 0);
    if (unknown && existing != nullptr && existing->version() == 1 && existing->value() == value) {
      return existing->mod_revision();  // our own earlier attempt
    }
    return absl::AlreadyExistsError(
        absl::StrCat("key ", Quote(key), " already exists", UnknownNote(unknown)));
  }

  absl::StatusOr<int64_t> Update(absl::string_view key, absl::string_view value,
                                 int64_t expected_mod_revision) override {
    if (key.empty()) return EmptyKey();
    KORCH_RETURN_IF_ERROR(CheckValue(key, value));
    pb::TxnRequest req;
    const std::string full = Full(key);
    Guard(full, expected_mod_revision, req.add_compare());
    Put(full, value, req.add_success());
    ReadKey(full, req.add_failure());
    bool unknown = false;
    auto resp =
        TxnRpc(absl::StrCat("update ", Quote(key)),
               expected_mod_revision != 0 ? Retry::kGuardedWrite : Retry::kWrite, req, &unknown);
    if (!resp.ok()) return resp.status();
    if (resp->succeeded()) return resp->header().revision();
    const mvccpb::KeyValue* existing = FailureKv(*resp, 0);
    if (existing == nullptr) return NotFound(key, UnknownNote(unknown));
    if (unknown && existing->value() == value && existing->mod_revision() > expected_mod_revision) {
      return existing->mod_revision();  // our own earlier attempt
    }
    return absl::AbortedError(absl::StrCat("key ", Quote(key), " has mod revision ",
                                           existing->mod_revision(), ", expected ",
                                           expected_mod_revision, UnknownNote(unknown)));
  }

  absl::StatusOr<KeyValue> Delete(absl::string_view key, int64_t expected_mod_revision) override {
    if (key.empty()) return EmptyKey();
    pb::TxnRequest req;
    const std::string full = Full(key);
    Guard(full, expected_mod_revision, req.add_compare());
    pb::DeleteRangeRequest* del = req.add_success()->mutable_request_delete_range();
    del->set_key(full);
    del->set_prev_kv(true);
    ReadKey(full, req.add_failure());
    bool unknown = false;
    auto resp = TxnRpc(absl::StrCat("delete ", Quote(key)), Retry::kGuardedWrite, req, &unknown);
    if (!resp.ok()) return resp.status();
    if (resp->succeeded()) {
      const pb::DeleteRangeResponse& d = resp->responses(0).response_delete_range();
      if (d.prev_kvs_size() == 0) return NotFound(key);
      KeyValue kv = FromPb(d.prev_kvs(0), prefix_.size());
      kv.mod_revision = resp->header().revision();
      return kv;
    }
    const mvccpb::KeyValue* existing = FailureKv(*resp, 0);
    if (existing == nullptr) return NotFound(key, UnknownNote(unknown));
    return absl::AbortedError(absl::StrCat("key ", Quote(key), " has mod revision ",
                                           existing->mod_revision(), ", expected ",
                                           expected_mod_revision, UnknownNote(unknown)));
  }

  absl::StatusOr<TxnResult> Txn(const std::vector<Compare>& guards,
                                const std::vector<Op>& ops) override {
    pb::TxnRequest req;
    bool protecting_guard = false;
    for (const Compare& g : guards) {
      if (g.key.empty()) return EmptyKey();
      if (g.mod_revision < 0) {
        return absl::InvalidArgumentError("txn: a guard's mod revision must not be negative");
      }
      pb::Compare* c = req.add_compare();
      if (g.mod_revision == 0) {
        MustNotExist(Full(g.key), c);
      } else {
        Guard(Full(g.key), g.mod_revision, c);
      }
      ReadKey(Full(g.key), req.add_failure());
    }
    for (const Op& op : ops) {
      if (op.key.empty()) return EmptyKey();
      if (op.type == Op::Type::kPut) {
        KORCH_RETURN_IF_ERROR(CheckValue(op.key, op.value));
        Put(Full(op.key), op.value, req.add_success());
      } else {
        req.add_success()->mutable_request_delete_range()->set_key(Full(op.key));
      }
      for (const Compare& g : guards) {
        if (g.key == op.key && (op.type == Op::Type::kPut || g.mod_revision != 0)) {
          protecting_guard = true;
        }
      }
    }
    const Retry retry = ops.empty()        ? Retry::kIdempotent
                        : protecting_guard ? Retry::kGuardedWrite
                                           : Retry::kWrite;
    bool unknown = false;
    auto resp = TxnRpc("txn", retry, req, &unknown);
    if (!resp.ok()) return resp.status();
    if (resp->succeeded()) return TxnResult{resp->header().revision()};
    for (size_t i = 0; i < guards.size(); ++i) {
      const mvccpb::KeyValue* kv = FailureKv(*resp, static_cast<int>(i));
      int64_t actual = kv == nullptr ? 0 : kv->mod_revision();
      if (actual == guards[i].mod_revision) continue;
      std::string why;
      if (guards[i].mod_revision == 0) {
        why = absl::StrCat("key ", Quote(guards[i].key), " exists (mod revision ", actual,
                           "), expected it not to");
      } else if (actual == 0) {
        why = absl::StrCat("key ", Quote(guards[i].key), " does not exist, expected mod revision ",
                           guards[i].mod_revision);
      } else {
        why = absl::StrCat("key ", Quote(guards[i].key), " has mod revision ", actual,
                           ", expected ", guards[i].mod_revision);
      }
      return absl::AbortedError(absl::StrCat("txn guard failed: ", why, UnknownNote(unknown)));
    }
    return absl::AbortedError(absl::StrCat("txn guard failed", UnknownNote(unknown)));
  }

  absl::StatusOr<std::unique_ptr<Watcher>> Watch(absl::string_view start, absl::string_view end,
                                                 const WatchOptions& options) override {
    if (start.empty() && end.empty()) return EmptyKey();
    const int64_t from = options.start_revision;
    if (from < 0 && from != WatchOptions::kFromNow) {
      return absl::InvalidArgumentError(
          "watch: start_revision must be a revision, 0 or WatchOptions::kFromNow");
    }
    std::string key, range_end;
    SetRange(start, end, &key, &range_end);
    // Fix the starting point now, with a read at the start revision: a
    // compacted or future start revision is reported here (reads at a
    // revision < the compacted one fail, exactly like watches from it), and
    // with kFromNow every change after this call returns is delivered even
    // if the stream is not open yet. From 0, the read is at revision 1, the
    // first revision an etcd cluster has.
    pb::RangeRequest req;
    req.set_key(key);
    req.set_count_only(true);
    req.set_revision(from == WatchOptions::kFromNow ? 0 : std::max<int64_t>(from, 1));
    auto resp = RangeRpc(from == WatchOptions::kFromNow
                             ? absl::StrCat("watch ", Quote(start))
                             : absl::StrCat("watch ", Quote(start), " from revision ", from),
                         req);
    if (!resp.ok()) return resp.status();
    const int64_t start_after = from == WatchOptions::kFromNow ? resp->header().revision() : from;
    auto watcher = std::make_unique<EtcdWatcher>(client_, std::move(key), std::move(range_end),
                                                 start_after, options);
    watcher->Start();
    return watcher;
  }

  absl::Status Compact(int64_t revision) override {
    if (revision <= 0) return absl::InvalidArgumentError("compact: revision must be positive");
    pb::CompactionRequest req;
    req.set_revision(revision);
    req.set_physical(true);
    bool unknown = false;
    auto resp = client_->Call<pb::CompactionResponse>(
        absl::StrCat("compact at revision ", revision), Retry::kIdempotent,
        [&](Endpoint& ep, grpc::ClientContext* ctx, pb::CompactionResponse* r) {
          return ep.kv->Compact(ctx, req, r);
        },
        &unknown);
    if (!resp.ok()) {
      // etcd refuses to compact at or below the compacted revision. After
      // an attempt whose outcome is unknown, that attempt is the likely
      // reason: report success.
      if (unknown && absl::IsOutOfRange(resp.status()) &&
          absl::StrContains(resp.status().message(), "compacted")) {
        client_->NoteCompacted(revision);
        return absl::OkStatus();
      }
      return resp.status();
    }
    client_->NoteCompacted(revision);
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> CurrentRevision() override {
    pb::RangeRequest req;
    req.set_key(prefix_.empty() ? std::string(1, '\0') : prefix_);
    req.set_count_only(true);
    auto resp = RangeRpc("current revision", req);
    if (!resp.ok()) return resp.status();
    return resp->header().revision();
  }

  StorageStats Stats() override {
    StorageStats stats;
    pb::RangeRequest req;
    SetRange("", "", req.mutable_key(), req.mutable_range_end(), /*all=*/true);
    req.set_count_only(true);
    auto resp = RangeRpc("stats", req);
    if (resp.ok()) {
      stats.current_revision = resp->header().revision();
      stats.keys = resp->count();
    }
    stats.compacted_revision = client_->compacted();
    client_->WatchStats(&stats.watchers, &stats.window_events);
    return stats;
  }

 private:
  std::string Full(absl::string_view key) const { return absl::StrCat(prefix_, key); }

  // The etcd range for korch's [start, end) (empty end: only start; `all`:
  // every key under the prefix).
  void SetRange(absl::string_view start, absl::string_view end, std::string* key,
                std::string* range_end, bool all = false) const {
    *key = Full(start);
    if (all) {
      *range_end = prefix_.empty() ? std::string(1, '\0') : PrefixEnd(prefix_);
    } else {
      *range_end = end.empty() ? std::string() : Full(end);
    }
    // etcd requires a non-empty key; "\0" is the smallest one.
    if (key->empty()) key->push_back('\0');
  }

  absl::Status CheckValue(absl::string_view key, absl::string_view value) const {
    const size_t limit = client_->options().max_value_bytes;
    if (value.size() > limit) {
      return absl::InvalidArgumentError(
          absl::StrCat("value of key ", Quote(key), " is ", value.size(),
                       " bytes, more than the limit of ", limit, " bytes"));
    }
    return absl::OkStatus();
  }

  static absl::Status EmptyKey() { return absl::InvalidArgumentError("key must not be empty"); }

  static absl::Status NotFound(absl::string_view key, absl::string_view note = "") {
    return absl::NotFoundError(absl::StrCat("key ", Quote(key), " not found", note));
  }

  static std::string UnknownNote(bool unknown) {
    return unknown ? " (an earlier attempt of this request failed with an unknown outcome and "
                     "may have been applied)"
                   : "";
  }

  static void MustNotExist(const std::string& key, pb::Compare* c) {
    c->set_key(key);
    c->set_target(pb::Compare::CREATE);
    c->set_result(pb::Compare::EQUAL);
    c->set_create_revision(0);
  }

  // mod_revision == expected, or (expected 0) the key exists.
  static void Guard(const std::string& key, int64_t expected, pb::Compare* c) {
    c->set_key(key);
    if (expected != 0) {
      c->set_target(pb::Compare::MOD);
      c->set_result(pb::Compare::EQUAL);
      c->set_mod_revision(expected);
    } else {
      c->set_target(pb::Compare::CREATE);
      c->set_result(pb::Compare::GREATER);
      c->set_create_revision(0);
    }
  }

  static void Put(const std::string& key, absl::string_view value, pb::RequestOp* op) {
    pb::PutRequest* put = op->mutable_request_put();
    put->set_key(key);
    put->set_value(std::string(value));
  }

  static void ReadKey(const std::string& key, pb::RequestOp* op) {
    op->mutable_request_range()->set_key(key);
  }

  // The key read by the failure branch's `i`th range, or null if absent.
  static const mvccpb::KeyValue* FailureKv(const pb::TxnResponse& resp, int i) {
    if (i >= resp.responses_size()) return nullptr;
    const pb::RangeResponse& r = resp.responses(i).response_range();
    return r.kvs_size() > 0 ? &r.kvs(0) : nullptr;
  }

  absl::StatusOr<pb::RangeResponse> RangeRpc(absl::string_view what, const pb::RangeRequest& req) {
    return client_->Call<pb::RangeResponse>(
        what, Retry::kIdempotent,
        [&](Endpoint& ep, grpc::ClientContext* ctx, pb::RangeResponse* resp) {
          return ep.kv->Range(ctx, req, resp);
        });
  }

  absl::StatusOr<pb::TxnResponse> TxnRpc(absl::string_view what, Retry retry,
                                         const pb::TxnRequest& req, bool* unknown) {
    return client_->Call<pb::TxnResponse>(
        what, retry,
        [&](Endpoint& ep, grpc::ClientContext* ctx, pb::TxnResponse* resp) {
          return ep.kv->Txn(ctx, req, resp);
        },
        unknown);
  }

  const std::shared_ptr<EtcdClient> client_;
  const std::string prefix_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Storage>> OpenEtcdStorage(const EtcdStorageOptions& options) {
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError("endpoints: at least one etcd endpoint is required");
  }
  for (size_t i = 0; i < options.endpoints.size(); ++i) {
    absl::string_view e = options.endpoints[i];
    if (absl::StartsWith(e, "https://") || absl::StartsWith(e, "unix")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "endpoints[", i, "]: ", e, ": only plain http://host:port endpoints are supported"));
    }
    if (ParseEndpoint(e).empty()) {
      return absl::InvalidArgumentError(absl::StrCat("endpoints[", i, "]: empty endpoint"));
    }
  }
  if (options.request_timeout <= absl::ZeroDuration() ||
      options.dial_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("request_timeout and dial_timeout must be positive");
  }
  auto storage = std::make_unique<EtcdStorage>(std::make_shared<EtcdClient>(options));
  if (absl::Status s = storage->Ping(); !s.ok()) return s;
  return storage;
}

}  // namespace korch::store
