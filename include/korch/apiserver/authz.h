// Authorization: the second stage of the API server's request pipeline.
//
// An Authorizer looks at what an authenticated user wants to do (Attributes:
// verb, API group, resource, namespace, name, or a non-resource path such as
// /healthz) and allows it, denies it, or has no opinion. An AuthorizerChain,
// owned by the host, asks its authorizers in order: the first Allow or Deny
// decides; when all have no opinion the request is forbidden
// (kPermissionDenied, HTTP 403) with a Kubernetes-style message.
//
// Built-in authorizers, as in Kubernetes' `--authorization-mode`:
//   - AlwaysAllowAuthorizer / AlwaysDenyAuthorizer (AlwaysAllow, AlwaysDeny).
//   - NodeAuthorizer: what kubelets ("system:node:<node>" in "system:nodes")
//     may do, scoped to their own node (Node).
//   - RbacAuthorizer: Roles, ClusterRoles and their bindings read through
//     an RbacRuleSource (RBAC). StaticRbacRules is an in-memory source.
//
// Authorizers never throw and never fail: a problem (a binding that names a
// missing role) becomes part of a kNoOpinion reason.
#ifndef KORCH_APISERVER_AUTHZ_H_
#define KORCH_APISERVER_AUTHZ_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "korch/api/rbac.pb.h"
#include "korch/apiserver/authn.h"
#include "korch/export.h"

namespace korch::apiserver {

// What a request wants to do. A value type.
struct Attributes {
  // Who asks (from the AuthenticatorChain).
  UserInfo user;
  // get, list, watch, create, update, patch, delete, deletecollection for
  // resource requests; the lower-case HTTP method (get, post, put, ...) for
  // non-resource requests, as in Kubernetes.
  std::string verb;
  // The API group ("" for the core group, "apps", ...).
  std::string api_group;
  // The resource, plural and lower-case ("pods").
  std::string resource;
  // The subresource ("status", "log"), or "".
  std::string subresource;
  // The namespace, or "" for cluster-scoped resources and requests across
  // all namespaces.
  std::string namespace_;
  // The object's name, or "" (list, watch, deletecollection, and create when
  // the name is not known yet).
  std::string name;
  // False for requests to non-resource paths; then only `verb` and `path`
  // are meaningful.
  bool resource_request = true;
  // The URL path of a non-resource request ("/healthz", "/metrics").
  std::string path;
};

// One authorizer's answer.
struct AuthzResult {
  enum class Decision {
    // The request may proceed; later authorizers are not asked.
    kAllow,
    // The request is forbidden; later authorizers are not asked.
    kDeny,
    // This authorizer neither allows nor forbids; the chain asks the next.
    kNoOpinion,
  };

  static AuthzResult Allow(std::string reason = "") {
    return {Decision::kAllow, std::move(reason)};
  }
  static AuthzResult Deny(std::string reason) { return {Decision::kDeny, std::move(reason)}; }
  static AuthzResult NoOpinion(std::string reason = "") {
    return {Decision::kNoOpinion, std::move(reason)};
  }

  Decision decision = Decision::kNoOpinion;
  // Why: which rule allowed it, or what was checked and did not match. May
  // be empty. Shown to the client when the request is forbidden, so it names
  // objects (bindings, roles) but never secrets.
  std::string reason;
};

// An authorization plugin. Implementations are thread-safe (Authorize is
// called concurrently from request threads) and must not throw.
class KORCH_EXPORT Authorizer {
 public:
  virtual ~Authorizer() = default;

  // A name unique within a chain ("rbac", "node").
  virtual absl::string_view Name() const = 0;

  virtual AuthzResult Authorize(const Attributes& attributes) const = 0;
};

// Kubernetes' text for a forbidden request, without reasons:
//   User "alice" cannot list resource "pods" in API group "" in the namespace "default"
//   User "alice" cannot get resource "nodes" in API group "" at the cluster scope
//   User "alice" cannot get resource "pods/log" in API group "" in the namespace "default"
//   User "alice" cannot get path "/healthz"
KORCH_EXPORT std::string ForbiddenMessage(const Attributes& attributes);

// An ordered list of authorizers that the host builds once and owns.
// Immutable after Create(), hence thread-safe.
//
// The first authorizer to answer kAllow or kDeny decides; the rest are not
// asked (Kubernetes' union authorizer). When every authorizer has no
// opinion, the request is denied.
class KORCH_EXPORT AuthorizerChain {
 public:
  // Fails with kInvalidArgument on a null authorizer and with kAlreadyExists
  // when two authorizers share a Name(). An empty chain denies everything.
  static absl::StatusOr<std::unique_ptr<AuthorizerChain>> Create(
      std::vector<std::unique_ptr<Authorizer>> authorizers);

  // The chain's decision: kAllow or kDeny from the deciding authorizer, or
  // kNoOpinion when none had an opinion. For kAllow the reason is the
  // deciding authorizer's; otherwise it joins, with "; ", the non-empty
  // reasons of every authorizer asked, in order.
  AuthzResult Decide(const Attributes& attributes) const;

  // OK when allowed. Otherwise kPermissionDenied (HTTP 403) with
  // ForbiddenMessage(attributes), followed by ": " and the reasons of
  // Decide() when there are any.
  absl::Status Authorize(const Attributes& attributes) const;

  // The authorizers' names, in order.
  std::vector<std::string> Names() const;

 private:
  explicit AuthorizerChain(std::vector<std::unique_ptr<Authorizer>> authorizers);

  const std::vector<std::unique_ptr<Authorizer>> authorizers_;
};

// Allows every request (`--authorization-mode=AlwaysAllow`). Name() is
// "always-allow". For tests and single-user hosts.
class KORCH_EXPORT AlwaysAllowAuthorizer final : public Authorizer {
 public:
  absl::string_view Name() const override { return "always-allow"; }
  AuthzResult Authorize(const Attributes&) const override { return AuthzResult::Allow(); }
};

// Denies every request (`--authorization-mode=AlwaysDeny`). Name() is
// "always-deny".
class KORCH_EXPORT AlwaysDenyAuthorizer final : public Authorizer {
 public:
  absl::string_view Name() const override { return "always-deny"; }
  AuthzResult Authorize(const Attributes&) const override {
    return AuthzResult::Deny("everything is denied");
  }
};

// ---------------------------------------------------------------------------
// RBAC

// Where RbacAuthorizer reads Roles, ClusterRoles and their bindings. The
// registry implements it over its watch cache; StaticRbacRules keeps them in
// memory.
//
// Objects are handed out as shared_ptr<const T>: the source keeps its own
// immutable copies and an authorization shares them instead of copying
// protos. A replaced object stays valid for as long as a caller holds it.
// Implementations must be thread-safe; each call may see a different
// snapshot (RBAC is eventually consistent in Kubernetes too).
class KORCH_EXPORT RbacRuleSource {
 public:
  virtual ~RbacRuleSource() = default;

  // The RoleBindings of namespace `ns` (never empty `ns`).
  virtual std::vector<std::shared_ptr<const api::RoleBinding>> RoleBindings(
      absl::string_view ns) const = 0;
  // All ClusterRoleBindings.
  virtual std::vector<std::shared_ptr<const api::ClusterRoleBinding>> ClusterRoleBindings()
      const = 0;
  // The Role `ns`/`name`, or nullptr when there is none.
  virtual std::shared_ptr<const api::Role> GetRole(absl::string_view ns,
                                                   absl::string_view name) const = 0;
  // The ClusterRole `name`, or nullptr when there is none.
  virtual std::shared_ptr<const api::ClusterRole> GetClusterRole(absl::string_view name) const = 0;
  // All ClusterRoles (to resolve aggregation rules).
  virtual std::vector<std::shared_ptr<const api::ClusterRole>> ListClusterRoles() const = 0;
};

// An in-memory RbacRuleSource that a host fills with Set*() (which adds or
// replaces an object with the same namespace and name) and Delete*().
// Thread-safe: readers and writers may run concurrently; readers get the
// objects current at the time of their call.
class KORCH_EXPORT StaticRbacRules final : public RbacRuleSource {
 public:
  StaticRbacRules() = default;

  // kInvalidArgument when metadata.name is empty, or metadata.namespace is
  // empty for a Role or RoleBinding.
  absl::Status SetRole(api::Role role);
  absl::Status SetClusterRole(api::ClusterRole role);
  absl::Status SetRoleBinding(api::RoleBinding binding);
  absl::Status SetClusterRoleBinding(api::ClusterRoleBinding binding);

  // Whether there was such an object.
  bool DeleteRole(absl::string_view ns, absl::string_view name);
  bool DeleteClusterRole(absl::string_view name);
  bool DeleteRoleBinding(absl::string_view ns, absl::string_view name);
  bool DeleteClusterRoleBinding(absl::string_view name);

  // RbacRuleSource. Lists are sorted by namespace and name.
  std::vector<std::shared_ptr<const api::RoleBinding>> RoleBindings(
      absl::string_view ns) const override;
  std::vector<std::shared_ptr<const api::ClusterRoleBinding>> ClusterRoleBindings() const override;
  std::shared_ptr<const api::Role> GetRole(absl::string_view ns,
                                           absl::string_view name) const override;
  std::shared_ptr<const api::ClusterRole> GetClusterRole(absl::string_view name) const override;
  std::vector<std::shared_ptr<const api::ClusterRole>> ListClusterRoles() const override;

 private:
  // Keys are "<namespace>/<name>" for namespaced objects, "<name>" otherwise.
  template <typename T>
  using Map = absl::flat_hash_map<std::string, std::shared_ptr<const T>>;

  mutable absl::Mutex mu_;
  Map<api::Role> roles_ ABSL_GUARDED_BY(mu_);
  Map<api::ClusterRole> cluster_roles_ ABSL_GUARDED_BY(mu_);
  Map<api::RoleBinding> role_bindings_ ABSL_GUARDED_BY(mu_);
  Map<api::ClusterRoleBinding> cluster_role_bindings_ ABSL_GUARDED_BY(mu_);
};

// Kubernetes' RBAC authorizer. Name() is "rbac". Thread-safe if its source
// is. RBAC only grants: it answers kAllow or kNoOpinion, never kDeny.
//
// Which bindings apply:
//   - ClusterRoleBindings grant their ClusterRole everywhere: in every
//     namespace, at the cluster scope and, for non-resource requests, on
//     paths.
//   - For a resource request in namespace N, the RoleBindings of N grant
//     their Role (the Role of that name in N) or their ClusterRole, whose
//     rules then apply in N only. RoleBindings never grant at the cluster
//     scope or on non-resource paths.
//   - A binding applies to the user when one of its subjects does:
//     kind "User" by user name; "Group" when the user is in that group;
//     "ServiceAccount" when the user is "system:serviceaccount:<ns>:<name>",
//     where <ns> is the subject's namespace, or for a RoleBinding whose
//     subject has none, the binding's namespace (as Kubernetes); a
//     ServiceAccount subject with no namespace in a ClusterRoleBinding
//     applies to nobody.
//
// How a PolicyRule matches a resource request: `verbs` contains the verb or
// "*"; `api_groups` contains the group or "*"; `resources` contains "*",
// the resource (without subresource), "<resource>/<subresource>", or
// "*/<subresource>"; and `resource_names` is empty or contains the request's
// name. A rule with resource_names never matches create, list, watch or
// deletecollection, nor a request without a name. A rule matches a
// non-resource request when its verbs match and one of its
// `non_resource_urls` equals the path, is "*", or ends in "*" and the rest
// is a prefix of the path.
//
// Aggregated ClusterRoles: the rules of a ClusterRole with an
// aggregation_rule are those of every other ClusterRole whose labels match
// any of its cluster_role_selectors, resolved transitively (the fixed point
// that Kubernetes' aggregation controller reaches); its own `rules` are
// ignored, as the controller would overwrite them. This is computed at
// authorization time, through ListClusterRoles(), each time a binding to
// an aggregated role is consulted: there is no cache to go stale. A
// selector that does not compile matches nothing.
class KORCH_EXPORT RbacAuthorizer final : public Authorizer {
 public:
  // kInvalidArgument when `source` is null.
  static absl::StatusOr<std::unique_ptr<RbacAuthorizer>> Create(
      std::shared_ptr<const RbacRuleSource> source);

  absl::string_view Name() const override { return "rbac"; }
  // kAllow with the binding and role that granted it, or kNoOpinion with the
  // bindings that applied to the user (and those that refer to missing
  // roles).
  AuthzResult Authorize(const Attributes& attributes) const override;

 private:
  explicit RbacAuthorizer(std::shared_ptr<const RbacRuleSource> source)
      : source_(std::move(source)) {}

  const std::shared_ptr<const RbacRuleSource> source_;
};

// Whether `rule` grants `attributes` by the matching rules described at
// RbacAuthorizer (ignoring who the user is). Exposed for access reviews.
KORCH_EXPORT bool RuleAllows(const Attributes& attributes, const api::PolicyRule& rule);

// The rules RBAC grants a user in one namespace, as RbacAuthorizer applies
// them: those of every ClusterRoleBinding that applies to the user, and for
// a non-empty `ns` those of the RoleBindings of `ns` (without their
// non_resource_urls, which RoleBindings never grant). Aggregated
// ClusterRoles are resolved. What SelfSubjectRulesReview answers; rules
// may repeat.
struct RbacRules {
  std::vector<api::PolicyRule> rules;
  // Bindings that could not be followed (a missing role), as the
  // authorizer's reasons name them.
  std::vector<std::string> errors;
};
KORCH_EXPORT RbacRules RbacRulesFor(const RbacRuleSource& source, const UserInfo& user,
                                    absl::string_view ns);

// ---------------------------------------------------------------------------
// Node authorizer

// Well-known names of node identities.
inline constexpr char kNodeUserPrefix[] = "system:node:";
inline constexpr char kNodesGroup[] = "system:nodes";
inline constexpr char kNodeLeaseNamespace[] = "kube-node-lease";

// What the node authorizer needs to know about the cluster. The registry
// implements it over its watch cache. Implementations must be thread-safe.
class KORCH_EXPORT NodeGraph {
 public:
  virtual ~NodeGraph() = default;

  // The node that pod `ns`/`name` is bound to (spec.nodeName); nullopt when
  // there is no such pod or it is not bound.
  virtual std::optional<std::string> PodNode(absl::string_view ns,
                                             absl::string_view name) const = 0;
};

// Kubernetes' Node authorizer, for kubelets: users named
// "system:node:<node>" in group "system:nodes". Name() is "node".
// Thread-safe if its graph is.
//
// It allows a node:
//   - get, list, watch of nodes; create of its own Node; update and patch
//     of its own Node and of its nodes/status;
//   - get, list, watch of pods (in any namespace, as Kubernetes);
//     update and patch of pods/status of pods bound to it (NodeGraph);
//   - get, create, update, patch and delete of its own Lease (named after
//     the node) in kube-node-lease, API group coordination.k8s.io;
//   - create, update and patch of events (API group "" or events.k8s.io),
//     as Kubernetes' system:node role grants.
// Where a create carries no name (it is not known before decoding the
// body), create of a Node or Lease is allowed and admission
// (NodeRestriction) must check the name, as in Kubernetes.
//
// Everything else, for node users and for others, is kNoOpinion, never
// kDeny: as in Kubernetes, a later authorizer (RBAC) may still grant it.
// Put this authorizer before RbacAuthorizer. Not covered yet: secrets,
// configmaps, volumes and service account tokens of the node's pods, mirror
// pod create and delete, CSINodes.
class KORCH_EXPORT NodeAuthorizer final : public Authorizer {
 public:
  // kInvalidArgument when `graph` is null.
  static absl::StatusOr<std::unique_ptr<NodeAuthorizer>> Create(
      std::shared_ptr<const NodeGraph> graph);

  absl::string_view Name() const override { return "node"; }
  AuthzResult Authorize(const Attributes& attributes) const override;

 private:
  explicit NodeAuthorizer(std::shared_ptr<const NodeGraph> graph) : graph_(std::move(graph)) {}

  const std::shared_ptr<const NodeGraph> graph_;
};

}  // namespace korch::apiserver

#endif  // KORCH_APISERVER_AUTHZ_H_
