// The namespace controller: empties namespaces that are being deleted and
// then lets them go (Kubernetes' namespace lifecycle controller).
//
// Deleting a Namespace only marks it: the registry sets deletionTimestamp,
// status.phase Terminating, and keeps spec.finalizers ["kubernetes"]. For
// every such namespace this controller deletes every object of every
// namespaced stored kind in it (DeleteCollection, falling back to deletes one
// by one), and checks again after a delay while anything remains (pods
// wait out their grace period; objects with finalizers wait for their
// controllers). Meanwhile it reports progress in status.conditions
// (NamespaceDeletionContentFailure, NamespaceContentRemaining,
// NamespaceFinalizersRemaining). When the namespace is empty it removes
// "kubernetes" from spec.finalizers through the namespaces/finalize
// subresource, and the registry deletes the namespace once no finalizer is
// left.
//
// Thread-safe. Borrows the Client (which must outlive it); owns its worker
// threads and, unless the host passes shared informers, its informer.

#ifndef KORCH_CONTROLLERS_NAMESPACE_CONTROLLER_H_
#define KORCH_CONTROLLERS_NAMESPACE_CONTROLLER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "korch/base/clock.h"
#include "korch/base/logging.h"
#include "korch/client/client.h"
#include "korch/client/informer.h"
#include "korch/client/workqueue.h"
#include "korch/export.h"

namespace korch::controllers {

struct NamespaceControllerOptions {
  // Namespaces emptied in parallel (at least 1).
  int workers = 2;
  // Time for requeue delays, retry backoff and informer resync. Null:
  // RealClock().
  std::shared_ptr<Clock> clock;
  // Every `resync_period` (0 = never) every terminating namespace is
  // checked again. Applies to the controller's own informer only.
  absl::Duration resync_period = absl::ZeroDuration();
  // While content remains, the namespace is checked again after this long,
  // or after the longest remaining pod grace period when that is later (and
  // at most `max_requeue_delay`).
  absl::Duration requeue_delay = absl::Seconds(2);
  absl::Duration max_requeue_delay = absl::Seconds(60);
  // A shared informer factory, borrowed (must outlive the controller).
  // Null: the controller makes, starts and stops its own.
  client::SharedInformerFactory* informers = nullptr;
  // Backoff after failures. Null: client::DefaultControllerRateLimiter(clock).
  std::shared_ptr<client::RateLimiter> rate_limiter;
  Logger logger = Logger("namespace-controller");
};

class KORCH_EXPORT NamespaceController {
 public:
  // InvalidArgument when `options.workers` < 1 or the client's scheme has
  // no Namespace kind.
  static absl::StatusOr<std::unique_ptr<NamespaceController>> Create(
      client::Client& client, NamespaceControllerOptions options);
  // Stops.
  virtual ~NamespaceController() = default;

  // Starts the informer and, once it has synced, the workers. Returns at
  // once; later calls do nothing.
  virtual void Start() = 0;
  // Stops promptly: calls in flight finish, threads are joined, queued
  // namespaces are dropped. Start() after Stop() does nothing.
  virtual void Stop() = 0;
  // True once the informer has synced and the workers run.
  virtual bool HasSynced() const = 0;
};

}  // namespace korch::controllers

#endif  // KORCH_CONTROLLERS_NAMESPACE_CONTROLLER_H_
