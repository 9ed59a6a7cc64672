// The garbage collector: deletes objects whose owners are gone and carries
// out the "orphan" and "foregroundDeletion" finalizers that the registry puts
// on owners deleted with propagationPolicy Orphan and Foreground
// (Kubernetes' garbage collector controller).
//
// It watches every stored kind of the client's scheme through informers and
// keeps a graph of objects by uid, linked by metadata.ownerReferences. Event
// handlers only update the graph and queue uids; workers take a uid and
//
//   - when the object is being deleted with the "orphan" finalizer: remove
//     the reference to it from every dependent, then remove the finalizer
//     (the registry then deletes the object);
//   - when it is being deleted with "foregroundDeletion": delete every
//     dependent (with Foreground propagation), and remove the finalizer once
//     no dependent that blocks owner deletion (blockOwnerDeletion=true)
//     remains;
//   - otherwise, when it has owners: check each owner with a live GET (the
//     cache may be behind). With no owner left, delete the object (Foreground
//     when an owner is itself waiting for its dependents, Background
//     otherwise); with a live owner besides gone or waiting ones, drop the
//     references to those.
//
// Failed API calls are retried with per-uid backoff; conflicts re-read the
// object. Workers start once every informer has synced.
//
// Thread-safe. The collector borrows the Client (which must outlive it) and
// owns its worker threads and, unless the host passes shared informers, its
// informers.

#ifndef KORCH_CONTROLLERS_GARBAGE_COLLECTOR_H_
#define KORCH_CONTROLLERS_GARBAGE_COLLECTOR_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "korch/api/scheme.h"
#include "korch/base/clock.h"
#include "korch/base/logging.h"
#include "korch/client/client.h"
#include "korch/client/informer.h"
#include "korch/client/workqueue.h"
#include "korch/export.h"

namespace korch::controllers {

struct GarbageCollectorOptions {
  // Threads that make the API calls (at least 1).
  int workers = 2;
  // Time for retry backoff, delayed requeues and informer resync. Null:
  // RealClock().
  std::shared_ptr<Clock> clock;
  // Every `resync_period` (0 = never) every object with owners is checked
  // again, repairing anything a lost event left behind. Applies to the
  // collector's own informers only.
  absl::Duration resync_period = absl::ZeroDuration();
  // The kinds watched. Empty: every kind of the client's scheme that is
  // stored (has a resource and a list kind). Owners of kinds not watched are
  // still checked with live GETs, but their dependents are only collected
  // when they are watched.
  std::vector<const api::KindInfo*> kinds;
  // Informers shared with other components of the process, borrowed (must
  // outlive the collector). Null: the collector makes, starts and stops its
  // own. A shared factory is started by Start() but never stopped.
  client::SharedInformerFactory* informers = nullptr;
  // Backoff of failed items. Null: client::DefaultControllerRateLimiter(clock).
  std::shared_ptr<client::RateLimiter> rate_limiter;
  Logger logger = Logger("garbagecollector");
};

class KORCH_EXPORT GarbageCollector {
 public:
  // InvalidArgument when `options.workers` < 1 or a kind is not a stored
  // kind of the client's scheme.
  static absl::StatusOr<std::unique_ptr<GarbageCollector>> Create(client::Client& client,
                                                                  GarbageCollectorOptions options);
  // Stops.
  virtual ~GarbageCollector() = default;

  // Starts the informers and, once they have synced, the workers. Returns
  // at once; later calls do nothing.
  virtual void Start() = 0;
  // Stops promptly: no new item is started, calls in flight finish, threads
  // are joined. Items still queued are dropped (the next collector finds
  // the same state again). Later calls do nothing; Start() after Stop()
  // does nothing.
  virtual void Stop() = 0;
  // True once every informer has synced and the workers run.
  virtual bool HasSynced() const = 0;
};

}  // namespace korch::controllers

#endif  // KORCH_CONTROLLERS_GARBAGE_COLLECTOR_H_
