// Caches the API server builds from its own store (internal to
// korch::apiserver): the RBAC objects for RbacAuthorizer, and the pod -> node
// graph for NodeAuthorizer. Each lists its prefixes and then watches them,
// listing again when the watch falls behind or its revision is compacted, so
// that authorization follows changes within milliseconds. Bootstrap policy:
// the ClusterRoles and ClusterRoleBindings a fresh cluster starts with.

#ifndef KORCH_LIB_APISERVER_RBAC_CACHE_H_
#define KORCH_LIB_APISERVER_RBAC_CACHE_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "korch/api/scheme.h"
#include "korch/apiserver/authz.h"
#include "korch/store.h"

namespace korch::apiserver::internal {

// An RbacRuleSource over the Roles, ClusterRoles, RoleBindings and
// ClusterRoleBindings stored in `storage` (layout of storage_layout.h).
// Start() lists them (the source is complete when it returns) and starts a
// watch thread; the destructor stops it. Thread-safe.
class StoreRbacRuleSource : public RbacRuleSource {
 public:
  static absl::StatusOr<std::shared_ptr<StoreRbacRuleSource>> Start(store::Storage* storage,
                                                                    const api::Scheme& scheme);
  // The store revision the cache reflects (for tests: wait until it reaches
  // a write's revision).
  virtual int64_t Revision() const = 0;
  // Blocks until Revision() >= `revision` or `timeout`; true when reached.
  virtual bool WaitForRevision(int64_t revision, absl::Duration timeout) const = 0;
};

// A NodeGraph over the Pods stored in `storage`, kept current the same way.
class StoreNodeGraph : public NodeGraph {
 public:
  static absl::StatusOr<std::shared_ptr<StoreNodeGraph>> Start(store::Storage* storage,
                                                               const api::Scheme& scheme);
  virtual int64_t Revision() const = 0;
  virtual bool WaitForRevision(int64_t revision, absl::Duration timeout) const = 0;
};

// The bootstrap ClusterRoles (cluster-admin, admin, edit, view with their
// aggregation labels, system:node, system:kube-scheduler,
// system:kube-controller-manager, system:discovery, system:basic-user,
// system:public-info-viewer) and ClusterRoleBindings (system:masters ->
// cluster-admin, system:nodes -> system:node, system:kube-scheduler, ...,
// system:authenticated -> system:discovery/basic-user, system:unauthenticated
// + authenticated -> system:public-info-viewer), as Kubernetes' bootstrap
// policy grants them, as api::ClusterRole / api::ClusterRoleBinding objects.
std::vector<std::unique_ptr<google::protobuf::Message>> BootstrapRbacObjects();

}  // namespace korch::apiserver::internal

#endif  // KORCH_LIB_APISERVER_RBAC_CACHE_H_
