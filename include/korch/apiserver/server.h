// The API server's request pipeline and registry: the single gate through
// which every component reads and writes cluster state.
//
// Each request names the user making it (already authenticated by the
// transport, e.g. with Authenticate()) and goes through
//   authorization (the Authorizer chain; Forbidden naming the missing rule)
//   -> mutating admission -> defaulting + validation -> validating admission
//   -> one guarded store write (object + admission's writes in one Txn).
// Reads are authorized too. Objects are stored at
// /registry/<resource>/<namespace>/<name> (cluster-scoped:
// /registry/<resource>/<name>) as protobuf bytes; resourceVersion is the
// store's mod revision.
//
// Kubernetes' per-resource semantics live here: uid, generateName,
// creationTimestamp, generation (bumped on spec changes only), status and
// scale subresources, pods/binding, optimistic concurrency, graceful
// deletion of pods, finalizers, deletion propagation (Orphan and Foreground
// add the "orphan" / "foregroundDeletion" finalizers that the garbage
// collector acts on), namespaces that become Terminating on delete, and
// Service ClusterIP / NodePort allocation.
//
// Thread-safe. The ApiServer borrows the Storage (which must outlive it) and
// owns a background thread that finishes graceful deletions when their grace
// period ends (driven by the injected clock) and the in-memory RBAC and node
// graph caches it builds from the store.

#ifndef KORCH_APISERVER_SERVER_H_
#define KORCH_APISERVER_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "korch/api/scheme.h"
#include "korch/apiserver/admission.h"
#include "korch/apiserver/authn.h"
#include "korch/apiserver/authz.h"
#include "korch/apiserver/request.h"
#include "korch/base/clock.h"
#include "korch/export.h"
#include "korch/store.h"

namespace korch::apiserver {

// Which authorizers the server builds and chains, in this order.
struct AuthorizationOptions {
  // The Node authorizer over the server's pod graph (for users
  // system:node:<name>).
  bool node = false;
  // RBAC over the Roles and bindings stored in this server (a watch-updated
  // cache).
  bool rbac = false;
  // Extra authorizers asked after the built-in ones, in order.
  std::vector<std::shared_ptr<Authorizer>> extra;
  // When no authorizer is enabled at all, every request is allowed
  // (development mode, like --authorization-mode=AlwaysAllow).
};

struct ApiServerOptions {
  // The store. Required; borrowed, must outlive the server.
  store::Storage* storage = nullptr;
  // The kinds served. Null: api::Scheme::Builtin().
  const api::Scheme* scheme = nullptr;
  // Time source for timestamps and graceful deletion. Null: the real clock.
  Clock* clock = nullptr;

  // Authenticates transport credentials in Authenticate(). Null: every
  // request is unauthenticated (Authenticate() fails with kUnauthenticated).
  std::shared_ptr<Authenticator> authenticator;
  AuthorizationOptions authorization;
  AdmissionChain admission;

  // Service IPs are allocated from this range (CIDR); the first address is
  // reserved for the "kubernetes" service.
  std::string service_cluster_ip_range = "10.96.0.0/12";
  // NodePorts are allocated from this inclusive range.
  int node_port_min = 30000;
  int node_port_max = 32767;

  // Default grace period of pods that do not set
  // terminationGracePeriodSeconds.
  int64_t default_pod_grace_seconds = 30;
  // Create the namespaces default, kube-system, kube-public and
  // kube-node-lease, and the bootstrap ClusterRoles (cluster-admin, admin,
  // edit, view, system:node, ...) and ClusterRoleBindings (system:masters ->
  // cluster-admin, ...), when missing.
  bool bootstrap = true;
};

class KORCH_EXPORT ApiServer {
 public:
  static absl::StatusOr<std::unique_ptr<ApiServer>> Create(ApiServerOptions options);
  virtual ~ApiServer() = default;

  // The scheme of the kinds served.
  virtual const api::Scheme& scheme() const = 0;
  virtual Clock& clock() const = 0;
  virtual store::Storage& storage() const = 0;

  // Runs the authenticator chain (kUnauthenticated when no authenticator
  // accepts the credentials).
  virtual absl::StatusOr<UserInfo> Authenticate(const AuthnRequest& request) const = 0;
  // Runs the authorizer chain: OK when allowed, kPermissionDenied with
  // Kubernetes' message otherwise.
  virtual absl::Status Authorize(const Attributes& attributes) const = 0;

  virtual absl::StatusOr<ObjectPtr> Get(const UserInfo& user, const api::KindInfo& kind,
                                        absl::string_view ns, absl::string_view name,
                                        const GetOptions& options) = 0;
  virtual absl::StatusOr<ListResult> List(const UserInfo& user, const api::KindInfo& kind,
                                          absl::string_view ns, const ListOptions& options) = 0;
  virtual absl::StatusOr<std::unique_ptr<WatchStream>> Watch(const UserInfo& user,
                                                             const api::KindInfo& kind,
                                                             absl::string_view ns,
                                                             const WatchOptions& options) = 0;
  // `object` is of `kind` (of api::Binding for pods/binding, where `name`
  // is the pod). Its namespace must be empty or equal `ns`. For
  // pods/binding the answer is the Binding (the pod is read with Get).
  virtual absl::StatusOr<ObjectPtr> Create(const UserInfo& user, const api::KindInfo& kind,
                                           absl::string_view ns, absl::string_view name,
                                           std::unique_ptr<google::protobuf::Message> object,
                                           const CreateOptions& options) = 0;
  // Replaces the object named by object's metadata (or by `name` for
  // subresources whose object is not of `kind`). A non-empty
  // metadata.resourceVersion must equal the stored one (kAborted Conflict
  // otherwise); empty means unconditional.
  virtual absl::StatusOr<ObjectPtr> Update(const UserInfo& user, const api::KindInfo& kind,
                                           absl::string_view ns, absl::string_view name,
                                           std::unique_ptr<google::protobuf::Message> object,
                                           const UpdateOptions& options) = 0;
  virtual absl::StatusOr<ObjectPtr> Patch(const UserInfo& user, const api::KindInfo& kind,
                                          absl::string_view ns, absl::string_view name,
                                          PatchType type, absl::string_view patch,
                                          const PatchOptions& options) = 0;
  virtual absl::StatusOr<DeleteResult> Delete(const UserInfo& user, const api::KindInfo& kind,
                                              absl::string_view ns, absl::string_view name,
                                              const DeleteOptions& options) = 0;
  // Deletes every object selected by `selection` (label/field selectors);
  // returns the objects as Delete() left them.
  virtual absl::StatusOr<ListResult> DeleteCollection(const UserInfo& user,
                                                      const api::KindInfo& kind,
                                                      absl::string_view ns,
                                                      const ListOptions& selection,
                                                      const DeleteOptions& options) = 0;

  // Finishes every graceful deletion whose grace period has ended at the
  // clock's current time (the background thread does this on its own;
  // tests with a FakeClock may call it after Advance()). Returns how many
  // objects went.
  virtual absl::StatusOr<int> CollectExpiredForTest() = 0;
};

// The identity korch's own components use in-process: user
// "system:apiserver" in group "system:masters" (allowed everything by the
// bootstrap RBAC rules).
KORCH_EXPORT UserInfo SystemUser();

}  // namespace korch::apiserver

#endif  // KORCH_APISERVER_SERVER_H_
