#include "korch/client/leader_election.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "korch/api/coordination.pb.h"
#include "korch/api/meta.pb.h"
#include "korch/base/logging.h"
#include "korch/base/status.h"

namespace korch::client {
namespace {

api::MicroTime ToMicroTime(absl::Time t) {
  // MicroTime keeps microseconds; floor so that the value never lies in the
  // future of `t`.
  const int64_t micros = absl::ToUnixMicros(t);
  int64_t seconds = micros / 1000000;
  int64_t rest = micros % 1000000;
  if (rest < 0) {
    rest += 1000000;
    --seconds;
  }
  api::MicroTime out;
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(rest * 1000));
  return out;
}

// One term of leadership, as on_started_leading sees it.
class Term final : public LeadershipContext {
 public:
  explicit Term(Clock& clock) : clock_(clock) {}

  bool Done() const override {
    absl::MutexLock l(&mu_);
    return done_;
  }
  bool WaitUntil(absl::Time deadline) const override {
    absl::MutexLock l(&mu_);
    return clock_.AwaitWithDeadline(&mu_, &done_, deadline);
  }
  void Wait() const override {
    absl::MutexLock l(&mu_);
    mu_.Await(absl::Condition(&done_));
  }

  void End() {
    absl::MutexLock l(&mu_);
    done_ = true;
  }

 private:
  Clock& clock_;
  mutable absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

// What one read-and-write round found.
enum class Outcome {
  kHolding,      // the lease names us, freshly written
  kHeldByOther,  // another holder's lease is valid (or, while leading, any other holder)
  kFailed,       // a request failed or another candidate's write came first
};

class LeaderElectorImpl final : public LeaderElector {
 public:
  LeaderElectorImpl(Client& client, LeaderElectionOptions options)
      : client_(client),
        options_(std::move(options)),
        clock_(options_.clock != nullptr ? *options_.clock : *RealClock()),
        log_("leaderelection"),
        lease_seconds_(static_cast<int32_t>(absl::Ceil(options_.lease_duration, absl::Seconds(1)) /
                                            absl::Seconds(1))),
        where_(absl::StrCat(options_.lease_namespace, "/", options_.lease_name)) {}

  ~LeaderElectorImpl() override { Stop(); }

  absl::Status Start() override {
    absl::MutexLock l(&mu_);
    KORCH_RETURN_IF_ERROR(BeginRunLocked());
    thread_ = std::thread([this] {
      Campaign();
      EndRun();
    });
    return absl::OkStatus();
  }

  absl::Status Run() override {
    {
      absl::MutexLock l(&mu_);
      KORCH_RETURN_IF_ERROR(BeginRunLocked());
    }
    Campaign();
    EndRun();
    return absl::OkStatus();
  }

  void Stop() override {
    std::thread thread;
    {
      absl::MutexLock l(&mu_);
      stopping_ = true;
      thread = std::move(thread_);
    }
    if (thread.joinable()) thread.join();
    // A Run() on another thread: wait until it has finished its cleanup.
    absl::MutexLock l(&mu_);
    auto finished = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return !running_; };
    mu_.Await(absl::Condition(&finished));
  }

  bool IsLeader() const override {
    absl::MutexLock l(&mu_);
    return leading_;
  }
  std::string GetLeader() const override {
    absl::MutexLock l(&mu_);
    return observed_holder_;
  }
  const std::string& identity() const override { return options_.identity; }

  absl::Time NextWakeupForTest() const override {
    absl::MutexLock l(&mu_);
    return next_wakeup_;
  }

 private:
  absl::Status BeginRunLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (ran_) {
      return absl::FailedPreconditionError(absl::StrCat("leader election for lease ", where_,
                                                        " already ran: an elector campaigns once"));
    }
    ran_ = true;
    running_ = !stopping_;
    return absl::OkStatus();
  }

  void EndRun() {
    absl::MutexLock l(&mu_);
    running_ = false;
    next_wakeup_ = absl::InfiniteFuture();
  }

  bool Stopping() const {
    absl::MutexLock l(&mu_);
    return stopping_;
  }

  // Waits until `deadline` on the clock; true when Stop() interrupted.
  bool WaitUntil(absl::Time deadline) {
    absl::MutexLock l(&mu_);
    next_wakeup_ = deadline;
    const bool stopped = clock_.AwaitWithDeadline(&mu_, &stopping_, deadline);
    next_wakeup_ = absl::InfinitePast();
    return stopped;
  }

  // The election: acquire, lead until the term ends, and again when
  // campaign_after_loss, until Stop().
  void Campaign() {
    while (true) {
      std::optional<absl::Time> acquired_at = Acquire();
      if (!acquired_at.has_value()) return;
      const bool stopped = Lead(*acquired_at);
      if (stopped || !options_.campaign_after_loss) return;
    }
  }

  // Tries every retry_period until this candidate holds the lease; returns
  // when it wrote itself as holder, or nullopt when stopped.
  std::optional<absl::Time> Acquire() {
    while (!Stopping()) {
      const absl::Time now = clock_.Now();
      if (TryAcquireOrRenew(now, /*leading=*/false) == Outcome::kHolding) {
        if (Stopping()) {
          // Stopped while the write was under way: never lead, but do not
          // leave the lease blocked when asked not to.
          if (options_.release_on_cancel) Release();
          return std::nullopt;
        }
        return now;
      }
      if (WaitUntil(clock_.Now() + options_.retry_period)) return std::nullopt;
    }
    return std::nullopt;
  }

  // One term: renews every retry_period until the lease is lost, renewals
  // failed for renew_deadline, or Stop(). Returns true when stopped.
  bool Lead(absl::Time acquired_at) {
    auto term = std::make_shared<Term>(clock_);
    {
      absl::MutexLock l(&mu_);
      leading_ = true;
    }
    KORCH_LOG(log_, kInfo) << options_.identity << " became leader of lease " << where_;
    std::thread worker;
    if (options_.on_started_leading) {
      worker = std::thread([this, term] { options_.on_started_leading(*term); });
    }

    bool stopped = false;
    absl::Time last_renew = acquired_at;
    absl::Time next = acquired_at + options_.retry_period;
    while (true) {
      if (WaitUntil(next)) {
        stopped = true;
        break;
      }
      const absl::Time now = clock_.Now();
      const Outcome outcome = TryAcquireOrRenew(now, /*leading=*/true);
      if (outcome == Outcome::kHolding) {
        last_renew = now;
        next = now + options_.retry_period;
        continue;
      }
      if (outcome == Outcome::kHeldByOther) {
        KORCH_LOG(log_, kInfo) << options_.identity << " lost lease " << where_ << " to "
                               << GetLeader();
        break;
      }
      // Step down no later than renew_deadline after the last renewal: the
      // others may take the lease lease_duration after they saw it.
      const absl::Time give_up = last_renew + options_.renew_deadline;
      const absl::Time after = clock_.Now();
      if (after >= give_up) {
        KORCH_LOG(log_, kWarning) << options_.identity << " failed to renew lease " << where_
                                  << " within " << options_.renew_deadline << "; stepping down";
        break;
      }
      next = std::min(after + options_.retry_period, give_up);
    }

    {
      absl::MutexLock l(&mu_);
      leading_ = false;
    }
    term->End();
    if (worker.joinable()) worker.join();
    KORCH_LOG(log_, kInfo) << options_.identity << " stopped leading lease " << where_;
    if (options_.on_stopped_leading) options_.on_stopped_leading();
    // Only once the leader's work has stopped (both callbacks returned) may
    // another candidate start.
    if (stopped && options_.release_on_cancel) Release();
    return stopped;
  }

  // One round of client-go's tryAcquireOrRenew: read the lease, decide,
  // and write ourselves as holder guarded by the resourceVersion read.
  Outcome TryAcquireOrRenew(absl::Time now, bool leading) {
    absl::StatusOr<std::shared_ptr<const api::Lease>> got =
        client_.Get<api::Lease>(options_.lease_namespace, options_.lease_name);
    if (!got.ok()) {
      if (!absl::IsNotFound(got.status())) {
        KORCH_LOG(log_, kWarning) << "reading lease " << where_ << ": " << got.status();
        return Outcome::kFailed;
      }
      api::Lease lease;
      lease.mutable_metadata()->set_namespace_(options_.lease_namespace);
      lease.mutable_metadata()->set_name(options_.lease_name);
      api::LeaseSpec& spec = *lease.mutable_spec();
      spec.set_holder_identity(options_.identity);
      spec.set_lease_duration_seconds(lease_seconds_);
      *spec.mutable_acquire_time() = ToMicroTime(now);
      *spec.mutable_renew_time() = ToMicroTime(now);
      spec.set_lease_transitions(0);
      absl::StatusOr<std::shared_ptr<const api::Lease>> created = client_.Create(lease);
      if (!created.ok()) {
        LogWriteFailure("creating", created.status());
        return Outcome::kFailed;
      }
      Observe(*created);
      return Outcome::kHolding;
    }

    const std::shared_ptr<const api::Lease>& old = *got;
    Observe(old);
    const api::LeaseSpec& old_spec = old->spec();
    const bool ours = old_spec.holder_identity() == options_.identity;
    if (!ours) {
      // A leader that finds another name on its lease was interrupted, even
      // if that holder has expired since: its term is over.
      if (leading) return Outcome::kHeldByOther;
      if (!old_spec.holder_identity().empty() &&
          clock_.Now() < observed_time_ + absl::Seconds(old_spec.lease_duration_seconds())) {
        return Outcome::kHeldByOther;
      }
    }

    api::Lease lease = *old;  // keeps metadata.resourceVersion: the guard
    api::LeaseSpec& spec = *lease.mutable_spec();
    spec.set_holder_identity(options_.identity);
    spec.set_lease_duration_seconds(lease_seconds_);
    *spec.mutable_renew_time() = ToMicroTime(now);
    if (!ours) {
      *spec.mutable_acquire_time() = ToMicroTime(now);
      spec.set_lease_transitions(old_spec.lease_transitions() + 1);
    }
    absl::StatusOr<std::shared_ptr<const api::Lease>> updated = client_.Update(lease);
    if (!updated.ok()) {
      LogWriteFailure(ours ? "renewing" : "acquiring", updated.status());
      return Outcome::kFailed;
    }
    Observe(*updated);
    return Outcome::kHolding;
  }

  // Gives the lease up if the last record seen names us.
  void Release() {
    if (observed_ == nullptr || observed_->spec().holder_identity() != options_.identity) return;
    api::Lease lease = *observed_;
    api::LeaseSpec& spec = *lease.mutable_spec();
    const absl::Time now = clock_.Now();
    spec.set_holder_identity("");
    spec.set_lease_duration_seconds(1);
    *spec.mutable_acquire_time() = ToMicroTime(now);
    *spec.mutable_renew_time() = ToMicroTime(now);
    absl::StatusOr<std::shared_ptr<const api::Lease>> updated = client_.Update(lease);
    if (!updated.ok()) {
      LogWriteFailure("releasing", updated.status());
      return;
    }
    Observe(*updated);
  }

  void LogWriteFailure(absl::string_view what, const absl::Status& status) {
    // Losing a race to another candidate is the normal way to lose.
    if (absl::IsAborted(status) || absl::IsAlreadyExists(status)) {
      KORCH_LOG(log_, kDebug) << what << " lease " << where_ << " lost a race: " << status;
    } else {
      KORCH_LOG(log_, kWarning) << what << " lease " << where_ << ": " << status;
    }
  }

  // Records a lease read or written. The observed time changes only when
  // the record does: expiry counts from when we last saw it change, by our
  // own clock.
  void Observe(std::shared_ptr<const api::Lease> lease) {
    // LeaseSpec has no maps, so equal records serialize identically.
    std::string record = lease->spec().SerializeAsString();
    if (observed_ == nullptr || record != observed_record_) {
      observed_record_ = std::move(record);
      observed_time_ = clock_.Now();
    }
    const std::string holder = lease->spec().holder_identity();
    observed_ = std::move(lease);
    {
      absl::MutexLock l(&mu_);
      observed_holder_ = holder;
    }
    if (holder == reported_leader_) return;
    reported_leader_ = holder;
    if (!holder.empty() && options_.on_new_leader) options_.on_new_leader(holder);
  }

  Client& client_;
  const LeaderElectionOptions options_;
  Clock& clock_;
  const Logger log_;
  const int32_t lease_seconds_;
  const std::string where_;  // "namespace/name", for messages

  mutable absl::Mutex mu_;
  bool ran_ ABSL_GUARDED_BY(mu_) = false;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool leading_ ABSL_GUARDED_BY(mu_) = false;
  std::string observed_holder_ ABSL_GUARDED_BY(mu_);
  absl::Time next_wakeup_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::thread thread_ ABSL_GUARDED_BY(mu_);

  // Used by the election thread only.
  std::shared_ptr<const api::Lease> observed_;
  std::string observed_record_;
  absl::Time observed_time_;
  std::string reported_leader_;
};

absl::Status CheckOptions(const Client& client, const LeaderElectionOptions& o) {
  auto invalid = [](absl::string_view field, absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("leader election: ", field, ": ", why));
  };
  if (client.scheme().Find(api::Lease::descriptor()) == nullptr) {
    return absl::FailedPreconditionError(
        "leader election: the client's scheme has no coordination.k8s.io/v1 Lease");
  }
  if (o.lease_namespace.empty()) return invalid("lease_namespace", "Required value");
  if (o.lease_name.empty()) return invalid("lease_name", "Required value");
  if (o.identity.empty()) return invalid("identity", "Required value");
  if (o.retry_period <= absl::ZeroDuration()) {
    return invalid("retry_period", "must be greater than zero");
  }
  if (o.renew_deadline <= o.retry_period) {
    return invalid("renew_deadline", "must be greater than retry_period");
  }
  if (o.lease_duration <= o.renew_deadline) {
    return invalid("lease_duration", "must be greater than renew_deadline");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LeaderElector>> LeaderElector::Create(
    Client& client, LeaderElectionOptions options) {
  KORCH_RETURN_IF_ERROR(CheckOptions(client, options));
  return std::make_unique<LeaderElectorImpl>(client, std::move(options));
}

}  // namespace korch::client
