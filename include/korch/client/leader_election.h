// Leader election on a coordination.k8s.io/v1 Lease, like client-go's
// tools/leaderelection with a LeaseLock: of several candidates (processes or
// objects) that share a lease name, at most one leads at a time, and another
// takes over when the leader stops renewing.
//
//   auto elector = LeaderElector::Create(client, {
//       .lease_namespace = "kube-system", .lease_name = "kube-scheduler",
//       .identity = hostname,
//       .on_started_leading = [&](const LeadershipContext& ctx) {
//         scheduler.Start();
//         ctx.Wait();  // until leadership ends
//         scheduler.Stop();
//       }});
//   (*elector)->Start();
//
// How it works: a candidate reads the Lease. When it is missing the candidate
// creates it naming itself; when another holder's lease is still valid it
// waits `retry_period` and tries again; when the lease expired, was released
// (empty holder) or is its own, it writes itself as holder with an update
// guarded by the resourceVersion it read, so of two candidates racing for
// one expired lease exactly one write succeeds. The leader renews every
// `retry_period`; if it has not renewed for `renew_deadline` (or sees another
// holder) it stops leading. Candidates take turns without jitter: the
// guarded write, not timing, decides races.
//
// Expiry is judged by the local clock only: a candidate remembers when it
// last saw the lease record change and considers the lease held until
// leaseDurationSeconds after that moment, never comparing the holder's
// renewTime with its own clock, so clock skew between machines does not
// matter (only the rate at which their clocks run). Because the leader gives
// up `renew_deadline` after its last successful renewal, and renew_deadline
// < lease_duration, the old leader has stopped believing it leads before
// anyone else may take the lease (provided its requests take less than the
// difference).
//
// Threads: Start() runs the election on a thread the elector owns (Run()
// runs it on the caller's thread instead). on_started_leading runs on a
// second thread, one per term of leadership, so that it may block for the
// whole term. on_new_leader and on_stopped_leading run on the election
// thread and must not block for long. The public methods are thread-safe,
// except that Stop() must not be called from a callback.
//
// Ownership: the elector borrows the Client (and the clock), which must
// outlive it.

#ifndef KORCH_CLIENT_LEADER_ELECTION_H_
#define KORCH_CLIENT_LEADER_ELECTION_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "korch/base/clock.h"
#include "korch/client/client.h"
#include "korch/export.h"

namespace korch::client {

// Tells code running for a leader when its term is over (client-go passes a
// context that is cancelled). Thread-safe; valid until on_started_leading
// returns.
class KORCH_EXPORT LeadershipContext {
 public:
  virtual ~LeadershipContext() = default;

  // True once this term of leadership is over: the lease was lost, or the
  // elector is stopping.
  virtual bool Done() const = 0;
  // Blocks until Done() or the elector's clock reaches `deadline`; returns
  // Done(). Lets leader work pace itself with the injected clock.
  virtual bool WaitUntil(absl::Time deadline) const = 0;
  // Blocks until Done().
  virtual void Wait() const = 0;
};

struct LeaderElectionOptions {
  // The Lease: namespace and name. Both required; the namespace must exist.
  std::string lease_namespace = "default";
  std::string lease_name;
  // This candidate's identity, written as spec.holderIdentity. Required and
  // unique among the candidates (usually hostname plus a random suffix): two
  // candidates with one identity would both believe they lead.
  std::string identity;

  // How long other candidates wait after the lease record last changed
  // before they take it (written as leaseDurationSeconds, rounded up to a
  // whole second). Must exceed renew_deadline.
  absl::Duration lease_duration = absl::Seconds(15);
  // The leader stops leading when it has not renewed for this long. Must
  // exceed retry_period.
  absl::Duration renew_deadline = absl::Seconds(10);
  // How often candidates try to acquire and the leader renews.
  absl::Duration retry_period = absl::Seconds(2);

  // Time for expiry and every wait. Null: the real clock. Borrowed.
  Clock* clock = nullptr;

  // Called when this candidate becomes leader, on a thread of its own for
  // the term. It should do the leader's work until `context` is Done() and
  // then return soon: the elector waits for it to return before it calls
  // on_stopped_leading, releases the lease or campaigns again. It may also
  // return at once, e.g. after starting components that on_stopped_leading
  // stops. May be empty.
  std::function<void(const LeadershipContext& context)> on_started_leading;
  // Called when a term of leadership ends (lease lost or Stop()), after
  // on_started_leading returned and before the lease is released. Not
  // called if this candidate never led.
  std::function<void()> on_stopped_leading;
  // Called with the holder's identity whenever this candidate observes a
  // new holder, including itself (not for a released lease, whose holder is
  // empty).
  std::function<void(absl::string_view identity)> on_new_leader;

  // On Stop(), a leader gives the lease up (empty holderIdentity,
  // leaseDurationSeconds 1) so that another candidate takes over at its next
  // retry instead of after the lease duration. Only safe when the leader's
  // work has really stopped: the elector releases only after
  // on_started_leading and on_stopped_leading have returned.
  bool release_on_cancel = false;
  // After losing the lease, campaign again (true) or end the election
  // (false: Run() returns, as client-go's Run does; hosts then usually exit).
  bool campaign_after_loss = true;
};

// One candidate. Create it, then Start() (or Run()); Stop() ends the
// election. Thread-safe as the file comment says.
class KORCH_EXPORT LeaderElector {
 public:
  // Checks the options (kInvalidArgument naming the bad field). `client`
  // must outlive the elector.
  static absl::StatusOr<std::unique_ptr<LeaderElector>> Create(Client& client,
                                                               LeaderElectionOptions options);
  // Stops.
  virtual ~LeaderElector() = default;

  // Runs the election on a thread the elector owns. kFailedPrecondition
  // when it already ran (an elector campaigns once).
  virtual absl::Status Start() = 0;
  // Runs the election on the calling thread until Stop() (or, with
  // campaign_after_loss false, until leadership is lost). kFailedPrecondition
  // when it already ran.
  virtual absl::Status Run() = 0;
  // Ends the election: interrupts waits at once (also with a FakeClock),
  // ends the current term (on_started_leading's context becomes Done, and
  // its return is awaited), calls on_stopped_leading, releases the lease
  // when release_on_cancel, and joins the election thread. Idempotent.
  virtual void Stop() = 0;

  // True while this candidate leads: from a successful acquire until the
  // term ends.
  virtual bool IsLeader() const = 0;
  // The identity of the holder last observed ("" before the first read or
  // when the lease was released).
  virtual std::string GetLeader() const = 0;
  // This candidate's identity.
  virtual const std::string& identity() const = 0;

  // When the election thread will next wake up by itself: the deadline of
  // the wait it is in, absl::InfinitePast() while it is working (or not
  // started), absl::InfiniteFuture() once the election has ended. A test
  // advancing a FakeClock waits until this is after Now() for every elector,
  // i.e. until each has reacted to the new time.
  virtual absl::Time NextWakeupForTest() const = 0;
};

}  // namespace korch::client

#endif  // KORCH_CLIENT_LEADER_ELECTION_H_
