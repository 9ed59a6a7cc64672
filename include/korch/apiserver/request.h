// The vocabulary of API requests shared by the API server's pipeline
// (korch/apiserver/server.h), the Client interface (korch/client/client.h)
// and the transports: per-verb options, list results, watch events, and how
// an absl::Status maps to a Kubernetes Status (reason and HTTP code).
//
// Objects are protobuf messages of the korch resource model
// (korch/api/*.proto); a resource is named by its api::KindInfo (from
// api::Scheme) plus a namespace and a name.

#ifndef KORCH_APISERVER_REQUEST_H_
#define KORCH_APISERVER_REQUEST_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "korch/api/meta.pb.h"
#include "korch/export.h"

namespace korch::apiserver {

// A stored object as readers see it: shared and immutable.
using ObjectPtr = std::shared_ptr<const google::protobuf::Message>;

// GET of one object.
struct GetOptions {
  // "" for the object's main resource; "status" and "scale" (Deployment,
  // ReplicaSet, StatefulSet: returns an autoscaling/v1 Scale) are supported.
  std::string subresource;
};

// LIST, and the selection part of WATCH and DELETECOLLECTION.
struct ListOptions {
  // A label selector in Kubernetes' syntax ("app=web,tier notin (db)").
  std::string label_selector;
  // A field selector ("metadata.name=x,spec.nodeName="); the fields each
  // resource supports are those of ../shared/reference/kubernetes-wire.md.
  std::string field_selector;
  // At most this many items (0 = all). A partial page carries a continue
  // token; the following pages read at the same revision.
  int64_t limit = 0;
  // The continue token of the previous page.
  std::string continue_token;
  // "" (or "0"): the latest state. A revision: the state at that revision
  // (OutOfRange when compacted).
  std::string resource_version;
};

struct ListResult {
  std::vector<ObjectPtr> items;
  // The store revision the list was read at; a watch from it misses nothing.
  std::string resource_version;
  // Set when more items remain.
  std::string continue_token;
  // How many items remain after this page when known (>= 0), or -1.
  int64_t remaining_item_count = -1;
};

struct WatchOptions {
  std::string label_selector;
  std::string field_selector;
  // "" or "0": one ADDED event per existing object first, then every change.
  // A revision N: every change after N (OutOfRange "too old resource
  // version" when N was compacted).
  std::string resource_version;
  // Send BOOKMARK events (an object of the kind with only
  // metadata.resourceVersion set) every `bookmark_interval`.
  bool allow_bookmarks = false;
  absl::Duration bookmark_interval = absl::Minutes(1);
  // End the watch after this long (0 = never), like Kubernetes'
  // timeoutSeconds; Next() then returns kUnavailable ("watch timed out").
  absl::Duration timeout = absl::ZeroDuration();
  // Events buffered for this watcher before it is ended as too slow (the
  // stream then ends with kResourceExhausted; re-list and watch again).
  size_t max_pending_events = 10000;
};

enum class EventType { kAdded, kModified, kDeleted, kBookmark };

KORCH_EXPORT absl::string_view EventTypeName(EventType type);  // "ADDED", ...

struct WatchEvent {
  EventType type = EventType::kAdded;
  // The object after the change; for kDeleted, the last state before it went
  // (with the deletion's resourceVersion).
  ObjectPtr object;
};

// One watch. Thread-compatible: one consumer calls Next(); Cancel() may be
// called from any thread.
class KORCH_EXPORT WatchStream {
 public:
  virtual ~WatchStream() = default;
  // The next event, waiting up to `timeout`. kDeadlineExceeded when nothing
  // came in time (the stream goes on). Otherwise the stream has ended:
  // kOutOfRange when the resource version is too old (Kubernetes' 410
  // Expired: re-list), kResourceExhausted when the watcher fell behind,
  // kCancelled after Cancel(), kUnavailable when the server stops or the
  // timeout passed. An ended stream keeps returning the same status.
  virtual absl::StatusOr<WatchEvent> Next(absl::Duration timeout) = 0;
  // Ends the stream; a blocked Next() returns kCancelled.
  virtual void Cancel() = 0;
};

struct CreateOptions {
  // Validate and admit, but persist nothing (the answer is what would have
  // been stored).
  bool dry_run = false;
  // The field manager recorded for server-side apply ("" = unknown).
  std::string field_manager;
  // "" or "binding" (pods only: the object is an api::Binding and `name` is
  // the pod's name).
  std::string subresource;
};

struct UpdateOptions {
  bool dry_run = false;
  std::string field_manager;
  // "" (the main resource: status changes are ignored), "status" (only the
  // status changes), "scale" (the object is an autoscaling/v1 Scale), or
  // "finalize" (namespaces: only spec.finalizers changes; a terminating
  // namespace left without finalizers is removed).
  std::string subresource;
};

// The Content-Type of a PATCH.
enum class PatchType {
  kJson,            // application/json-patch+json (RFC 6902)
  kMerge,           // application/merge-patch+json (RFC 7386)
  kStrategicMerge,  // application/strategic-merge-patch+json
  kApply,           // application/apply-patch+yaml (server-side apply)
};

struct PatchOptions {
  bool dry_run = false;
  // Required for kApply.
  std::string field_manager;
  // Server-side apply: take ownership of conflicting fields.
  bool force = false;
  std::string subresource;
};

struct DeleteOptions {
  // Override of the object's grace period (pods: spec's
  // terminationGracePeriodSeconds, default 30). 0 deletes at once.
  std::optional<int64_t> grace_period_seconds;
  // "Orphan", "Background", "Foreground", or "" (Background).
  std::string propagation_policy;
  // Preconditions: the delete fails with kAborted (Conflict) when the
  // object's uid / resourceVersion differ.
  std::string precondition_uid;
  std::string precondition_resource_version;
  bool dry_run = false;
};

struct DeleteResult {
  // The object: its final state when it is gone, or its current state
  // (deletionTimestamp and finalizers set) while deletion is pending.
  ObjectPtr object;
  // True when the object is gone from the store.
  bool deleted = false;
};

// --- Errors ----------------------------------------------------------------
//
// Inside korch, failures are absl::Status values whose code says how to react
// (see ../shared/STYLE.md). A transport turns them into a Kubernetes Status
// with ToKubernetesStatus(). Where the code alone does not pick the
// Kubernetes reason (e.g. 403 Forbidden for "exceeded quota", 409 Conflict for
// kFailedPrecondition), WithReason() attaches it.

// Attaches a Kubernetes reason ("Forbidden", "Conflict", "Expired", ...) and
// HTTP code to `status` as a payload; OK statuses are returned unchanged.
KORCH_EXPORT absl::Status WithReason(absl::Status status, absl::string_view reason, int http_code);

// Attaches Kubernetes StatusDetails (e.g. the causes of an apply conflict) to
// `status`; ToKubernetesStatus() returns them as the Status's details. OK
// statuses are returned unchanged.
KORCH_EXPORT absl::Status WithStatusDetails(absl::Status status, const api::StatusDetails& details);

// The Kubernetes Status for `status`: code and reason from WithReason() when
// present, otherwise by code (kNotFound 404 NotFound, kAlreadyExists 409
// AlreadyExists, kAborted 409 Conflict, kInvalidArgument 422 Invalid with the
// field errors of api::InvalidCauses() as causes, kPermissionDenied 403
// Forbidden, kUnauthenticated 401 Unauthorized, kOutOfRange 410 Expired,
// kResourceExhausted 429 TooManyRequests, kUnavailable 503
// ServiceUnavailable, kDeadlineExceeded 504 Timeout, kFailedPrecondition 409
// Conflict, kUnimplemented 405 MethodNotAllowed, other 500 InternalError).
// For OK: status "Success", code 200.
KORCH_EXPORT api::Status ToKubernetesStatus(const absl::Status& status);

// "pods \"web\" not found" style errors, as Kubernetes words them.
KORCH_EXPORT absl::Status NotFoundError(absl::string_view qualified_resource,
                                        absl::string_view name);
KORCH_EXPORT absl::Status AlreadyExistsError(absl::string_view qualified_resource,
                                             absl::string_view name);
// `Operation cannot be fulfilled on pods "web": <detail>` (409 Conflict).
KORCH_EXPORT absl::Status ConflictError(absl::string_view qualified_resource,
                                        absl::string_view name, absl::string_view detail);
// `pods "web" is forbidden: <detail>` (403 Forbidden).
KORCH_EXPORT absl::Status ForbiddenError(absl::string_view qualified_resource,
                                         absl::string_view name, absl::string_view detail);

}  // namespace korch::apiserver

#endif  // KORCH_APISERVER_REQUEST_H_
