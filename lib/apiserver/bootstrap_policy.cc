// The RBAC policy a fresh cluster starts with: the ClusterRoles and
// ClusterRoleBindings that Kubernetes' API server creates at startup, with
// the rules narrowed to the resources korch serves.
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "korch/api/rbac.pb.h"
#include "rbac_cache.h"

namespace korch::apiserver::internal {
namespace {

using Strings = std::initializer_list<absl::string_view>;

constexpr absl::string_view kRbacGroup = "rbac.authorization.k8s.io";
// Marks the objects as the API server's own: Kubernetes' reconciler (and
// kubectl users) recognise them by this label, and the annotation says the
// server may bring them up to date at startup.
constexpr absl::string_view kBootstrappingLabel = "kubernetes.io/bootstrapping";
constexpr absl::string_view kBootstrappingValue = "rbac-defaults";
constexpr absl::string_view kAutoupdateAnnotation = "rbac.authorization.kubernetes.io/autoupdate";
// "<prefix>admin": the label through which a ClusterRole adds its rules to
// the admin, edit or view role.
constexpr absl::string_view kAggregateToPrefix = "rbac.authorization.k8s.io/aggregate-to-";

// API groups.
constexpr absl::string_view kCore = "";
constexpr absl::string_view kApps = "apps";
constexpr absl::string_view kBatch = "batch";
constexpr absl::string_view kCoordination = "coordination.k8s.io";
constexpr absl::string_view kDiscovery = "discovery.k8s.io";
constexpr absl::string_view kEvents = "events.k8s.io";
constexpr absl::string_view kScheduling = "scheduling.k8s.io";
constexpr absl::string_view kAuthorization = "authorization.k8s.io";
constexpr absl::string_view kAuthentication = "authentication.k8s.io";

// Verb sets.
constexpr Strings kRead = {"get", "list", "watch"};
constexpr Strings kWrite = {"create", "update", "patch", "delete", "deletecollection"};
constexpr Strings kReadWrite = {"get",    "list",  "watch",  "create",
                                "update", "patch", "delete", "deletecollection"};

api::PolicyRule Rule(Strings verbs, Strings groups, Strings resources, Strings names = {}) {
  api::PolicyRule rule;
  for (absl::string_view v : verbs) rule.add_verbs(std::string(v));
  for (absl::string_view g : groups) rule.add_api_groups(std::string(g));
  for (absl::string_view r : resources) rule.add_resources(std::string(r));
  for (absl::string_view n : names) rule.add_resource_names(std::string(n));
  return rule;
}

api::PolicyRule PathRule(Strings verbs, Strings paths) {
  api::PolicyRule rule;
  for (absl::string_view v : verbs) rule.add_verbs(std::string(v));
  for (absl::string_view p : paths) rule.add_non_resource_urls(std::string(p));
  return rule;
}

void MarkBootstrap(absl::string_view name, api::ObjectMeta* meta) {
  meta->set_name(std::string(name));
  (*meta->mutable_labels())[std::string(kBootstrappingLabel)] = std::string(kBootstrappingValue);
  (*meta->mutable_annotations())[std::string(kAutoupdateAnnotation)] = "true";
}

std::string AggregateLabel(absl::string_view to) { return absl::StrCat(kAggregateToPrefix, to); }

struct RoleSpec {
  absl::string_view name;
  std::vector<api::PolicyRule> rules = {};
  // Adds this role's rules to admin, edit or view ("" for none).
  absl::string_view aggregate_to = "";
  // For a role made of others: the aggregate-to label it selects.
  absl::string_view aggregate_from = "";
};

std::unique_ptr<api::ClusterRole> MakeRole(RoleSpec spec) {
  auto role = std::make_unique<api::ClusterRole>();
  MarkBootstrap(spec.name, role->mutable_metadata());
  if (!spec.aggregate_to.empty()) {
    (*role->mutable_metadata()->mutable_labels())[AggregateLabel(spec.aggregate_to)] = "true";
  }
  if (!spec.aggregate_from.empty()) {
    api::LabelSelector* selector = role->mutable_aggregation_rule()->add_cluster_role_selectors();
    (*selector->mutable_match_labels())[AggregateLabel(spec.aggregate_from)] = "true";
  }
  for (api::PolicyRule& r : spec.rules) *role->add_rules() = std::move(r);
  return role;
}

struct Subjects {
  Strings users = {};
  Strings groups = {};
};

std::unique_ptr<api::ClusterRoleBinding> MakeBinding(absl::string_view role, Subjects subjects) {
  auto binding = std::make_unique<api::ClusterRoleBinding>();
  MarkBootstrap(role, binding->mutable_metadata());
  api::RoleRef* ref = binding->mutable_role_ref();
  ref->set_api_group(std::string(kRbacGroup));
  ref->set_kind("ClusterRole");
  ref->set_name(std::string(role));
  auto add = [&](absl::string_view kind, absl::string_view name) {
    api::Subject* s = binding->add_subjects();
    s->set_kind(std::string(kind));
    s->set_api_group(std::string(kRbacGroup));
    s->set_name(std::string(name));
  };
  for (absl::string_view u : subjects.users) add("User", u);
  for (absl::string_view g : subjects.groups) add("Group", g);
  return binding;
}

// Reading a namespace's workloads and configuration, but not its secrets
// (reading a service account's token would grant that account's rights).
std::vector<api::PolicyRule> ViewRules() {
  return {
      Rule(kRead, {kCore},
           {"pods", "pods/log", "pods/status", "services", "services/status", "endpoints",
            "configmaps", "serviceaccounts", "events", "limitranges", "resourcequotas",
            "resourcequotas/status", "namespaces", "namespaces/status", "bindings"}),
      Rule(kRead, {kApps},
           {"deployments", "deployments/status", "deployments/scale", "replicasets",
            "replicasets/status", "replicasets/scale", "statefulsets", "statefulsets/status",
            "statefulsets/scale", "daemonsets", "daemonsets/status"}),
      Rule(kRead, {kBatch}, {"jobs", "jobs/status"}),
      Rule(kRead, {kDiscovery}, {"endpointslices"}),
      Rule(kRead, {kEvents}, {"events"}),
      Rule(kRead, {kCoordination}, {"leases"}),
  };
}

// Changing a namespace's workloads and configuration, and reading secrets.
std::vector<api::PolicyRule> EditRules() {
  return {
      Rule(kWrite, {kCore},
           {"pods", "services", "endpoints", "configmaps", "secrets", "serviceaccounts"}),
      Rule(kRead, {kCore}, {"secrets"}),
      Rule(kWrite, {kApps},
           {"deployments", "deployments/scale", "replicasets", "replicasets/scale", "statefulsets",
            "statefulsets/scale", "daemonsets"}),
      Rule(kWrite, {kBatch}, {"jobs"}),
      Rule(kWrite, {kCoordination}, {"leases"}),
  };
}

// Managing who may do what in a namespace.
std::vector<api::PolicyRule> AdminRules() {
  return {
      Rule(kReadWrite, {kRbacGroup}, {"roles", "rolebindings"}),
      Rule({"create"}, {kAuthorization}, {"localsubjectaccessreviews"}),
  };
}

// A node agent (and the service proxy it runs): its Node and Lease, the
// pods it runs, and what they refer to. Bound to every node, this grants
// more than the node authorizer, which limits a node to its own objects
// (leases, for instance, only in kube-node-lease).
std::vector<api::PolicyRule> NodeRules() {
  return {
      Rule(kRead, {kCore}, {"pods", "nodes", "services", "endpoints"}),
      Rule({"delete"}, {kCore}, {"pods"}),
      Rule({"update", "patch"}, {kCore}, {"pods/status", "nodes/status"}),
      Rule({"create", "update", "patch"}, {kCore}, {"nodes"}),
      Rule({"get"}, {kCore}, {"configmaps", "secrets"}),
      Rule({"create", "update", "patch"}, {kCore, kEvents}, {"events"}),
      Rule({"get", "create", "update", "patch", "delete"}, {kCoordination}, {"leases"}),
      Rule(kRead, {kDiscovery}, {"endpointslices"}),
  };
}

std::vector<api::PolicyRule> SchedulerRules() {
  return {
      Rule(kRead, {kCore}, {"pods", "nodes", "namespaces", "services"}),
      // Preemption deletes the victims.
      Rule({"delete"}, {kCore}, {"pods"}),
      Rule({"create"}, {kCore}, {"bindings", "pods/binding"}),
      Rule({"update", "patch"}, {kCore}, {"pods/status"}),
      Rule(kRead, {kApps}, {"replicasets", "statefulsets"}),
      Rule(kRead, {kScheduling}, {"priorityclasses"}),
      Rule({"create", "update", "patch"}, {kCore, kEvents}, {"events"}),
      // Leader election: the lease is created under a name the rule cannot
      // see yet, then only its own is read and renewed.
      Rule({"create"}, {kCoordination}, {"leases"}),
      Rule({"get", "update", "patch"}, {kCoordination}, {"leases"}, {"kube-scheduler"}),
  };
}

// Kubernetes runs each controller under its own service account with a
// narrow role; korch runs its controllers in one process under one
// identity, so this role is their union. The garbage collector and the
// namespace controller act on objects of every kind (removing dependents,
// emptying a deleted namespace, finalizing it), hence the wildcards.
std::vector<api::PolicyRule> ControllerManagerRules() {
  return {
      Rule({"get", "list", "watch", "update", "patch", "delete", "deletecollection"}, {"*"}, {"*"}),
      Rule({"create"}, {kCore},
           {"pods", "events", "endpoints", "serviceaccounts", "secrets", "configmaps"}),
      Rule({"create"}, {kApps}, {"replicasets"}),
      Rule({"create"}, {kBatch}, {"jobs"}),
      Rule({"create"}, {kDiscovery}, {"endpointslices"}),
      Rule({"create"}, {kCoordination}, {"leases"}),
      Rule({"create"}, {kEvents}, {"events"}),
  };
}

}  // namespace

std::vector<std::unique_ptr<google::protobuf::Message>> BootstrapRbacObjects() {
  std::vector<std::unique_ptr<google::protobuf::Message>> out;

  // Roles first, so that a host creating the objects in order never has a
  // binding to a role that does not exist yet.
  out.push_back(MakeRole(
      {.name = "cluster-admin", .rules = {Rule({"*"}, {"*"}, {"*"}), PathRule({"*"}, {"*"})}}));

  // admin includes edit, which includes view: each user-facing role is the union of the roles
  // labelled to aggregate into it, and edit and view themselves carry the
  // label of the role above them. The top roles have no rules of their own.
  out.push_back(MakeRole({.name = "admin", .aggregate_from = "admin"}));
  out.push_back(MakeRole({.name = "edit", .aggregate_to = "admin", .aggregate_from = "edit"}));
  out.push_back(MakeRole({.name = "view", .aggregate_to = "edit", .aggregate_from = "view"}));
  out.push_back(MakeRole(
      {.name = "system:aggregate-to-admin", .rules = AdminRules(), .aggregate_to = "admin"}));
  out.push_back(
      MakeRole({.name = "system:aggregate-to-edit", .rules = EditRules(), .aggregate_to = "edit"}));
  out.push_back(
      MakeRole({.name = "system:aggregate-to-view", .rules = ViewRules(), .aggregate_to = "view"}));

  out.push_back(MakeRole({.name = "system:node", .rules = NodeRules()}));
  out.push_back(MakeRole({.name = "system:kube-scheduler", .rules = SchedulerRules()}));
  out.push_back(
      MakeRole({.name = "system:kube-controller-manager", .rules = ControllerManagerRules()}));
  out.push_back(MakeRole({.name = "system:discovery",
                          .rules = {PathRule({"get"}, {"/api", "/api/*", "/apis", "/apis/*",
                                                       "/healthz", "/livez", "/readyz", "/version",
                                                       "/version/", "/openapi", "/openapi/*"})}}));
  out.push_back(MakeRole({.name = "system:basic-user",
                          .rules = {Rule({"create"}, {kAuthorization},
                                         {"selfsubjectaccessreviews", "selfsubjectrulesreviews"}),
                                    Rule({"create"}, {kAuthentication}, {"selfsubjectreviews"})}}));
  out.push_back(MakeRole(
      {.name = "system:public-info-viewer",
       .rules = {PathRule({"get"}, {"/healthz", "/livez", "/readyz", "/version", "/version/"})}}));

  out.push_back(MakeBinding("cluster-admin", {.groups = {"system:masters"}}));
  // Kubernetes leaves system:node unbound and lets the Node authorizer
  // grant kubelets their (narrower) rights; korch binds it to every node
  // for simplicity, so nodes also work where only RBAC is enabled.
  out.push_back(MakeBinding("system:node", {.groups = {"system:nodes"}}));
  out.push_back(MakeBinding("system:kube-scheduler", {.users = {"system:kube-scheduler"}}));
  out.push_back(
      MakeBinding("system:kube-controller-manager", {.users = {"system:kube-controller-manager"}}));
  out.push_back(MakeBinding("system:discovery", {.groups = {"system:authenticated"}}));
  out.push_back(MakeBinding("system:basic-user", {.groups = {"system:authenticated"}}));
  out.push_back(MakeBinding("system:public-info-viewer",
                            {.groups = {"system:authenticated", "system:unauthenticated"}}));
  return out;
}

}  // namespace korch::apiserver::internal
