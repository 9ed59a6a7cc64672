// The authorizer chain, RBAC and the node authorizer.
#include "korch/apiserver/authz.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "korch/api/selector.h"

namespace korch::apiserver {

using Decision = AuthzResult::Decision;

// ---------------------------------------------------------------------------
// AuthorizerChain

std::string ForbiddenMessage(const Attributes& a) {
  if (!a.resource_request) {
    return absl::StrCat("User \"", a.user.name, "\" cannot ", a.verb, " path \"", a.path, "\"");
  }
  std::string resource = a.resource;
  if (!a.subresource.empty()) absl::StrAppend(&resource, "/", a.subresource);
  std::string msg = absl::StrCat("User \"", a.user.name, "\" cannot ", a.verb, " resource \"",
                                 resource, "\" in API group \"", a.api_group, "\"");
  if (a.namespace_.empty()) {
    absl::StrAppend(&msg, " at the cluster scope");
  } else {
    absl::StrAppend(&msg, " in the namespace \"", a.namespace_, "\"");
  }
  return msg;
}

absl::StatusOr<std::unique_ptr<AuthorizerChain>> AuthorizerChain::Create(
    std::vector<std::unique_ptr<Authorizer>> authorizers) {
  absl::flat_hash_set<std::string> names;
  for (size_t i = 0; i < authorizers.size(); ++i) {
    if (authorizers[i] == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("authorizer ", i, " is null"));
    }
    std::string name(authorizers[i]->Name());
    if (!names.insert(name).second) {
      return absl::AlreadyExistsError(
          absl::StrCat("two authorizers are named \"", name, "\"; names must be unique"));
    }
  }
  return std::unique_ptr<AuthorizerChain>(new AuthorizerChain(std::move(authorizers)));
}

AuthorizerChain::AuthorizerChain(std::vector<std::unique_ptr<Authorizer>> authorizers)
    : authorizers_(std::move(authorizers)) {}

std::vector<std::string> AuthorizerChain::Names() const {
  std::vector<std::string> names;
  names.reserve(authorizers_.size());
  for (const auto& a : authorizers_) names.emplace_back(a->Name());
  return names;
}

AuthzResult AuthorizerChain::Decide(const Attributes& attributes) const {
  std::vector<std::string> reasons;
  for (const auto& authorizer : authorizers_) {
    AuthzResult r = authorizer->Authorize(attributes);
    if (r.decision == Decision::kAllow) return r;
    if (!r.reason.empty()) reasons.push_back(std::move(r.reason));
    if (r.decision == Decision::kDeny) {
      return AuthzResult::Deny(absl::StrJoin(reasons, "; "));
    }
  }
  return AuthzResult::NoOpinion(absl::StrJoin(reasons, "; "));
}

absl::Status AuthorizerChain::Authorize(const Attributes& attributes) const {
  AuthzResult r = Decide(attributes);
  if (r.decision == Decision::kAllow) return absl::OkStatus();
  std::string msg = ForbiddenMessage(attributes);
  if (!r.reason.empty()) absl::StrAppend(&msg, ": ", r.reason);
  return absl::PermissionDeniedError(msg);
}

// ---------------------------------------------------------------------------
// StaticRbacRules

namespace {

std::string NamespacedKey(absl::string_view ns, absl::string_view name) {
  return absl::StrCat(ns, "/", name);
}

absl::Status CheckMeta(const api::ObjectMeta& meta, absl::string_view kind, bool namespaced) {
  if (meta.name().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kind, ": metadata.name: Required value: name is required"));
  }
  if (namespaced && meta.namespace_().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        kind, " \"", meta.name(), "\": metadata.namespace: Required value: namespace is required"));
  }
  return absl::OkStatus();
}

// The values of `map`, sorted by key, optionally only those whose key starts
// with `prefix`.
template <typename T>
std::vector<std::shared_ptr<const T>> SortedValues(
    const absl::flat_hash_map<std::string, std::shared_ptr<const T>>& map,
    absl::string_view prefix = "") {
  std::vector<std::pair<absl::string_view, std::shared_ptr<const T>>> items;
  for (const auto& [key, value] : map) {
    if (absl::StartsWith(key, prefix)) items.emplace_back(key, value);
  }
  std::sort(items.begin(), items.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::shared_ptr<const T>> out;
  out.reserve(items.size());
  for (auto& item : items) out.push_back(std::move(item.second));
  return out;
}

template <typename T>
std::shared_ptr<const T> Find(const absl::flat_hash_map<std::string, std::shared_ptr<const T>>& map,
                              const std::string& key) {
  auto it = map.find(key);
  return it == map.end() ? nullptr : it->second;
}

}  // namespace

absl::Status StaticRbacRules::SetRole(api::Role role) {
  if (absl::Status s = CheckMeta(role.metadata(), "Role", true); !s.ok()) return s;
  std::string key = NamespacedKey(role.metadata().namespace_(), role.metadata().name());
  auto value = std::make_shared<const api::Role>(std::move(role));
  absl::MutexLock lock(&mu_);
  roles_[key] = std::move(value);
  return absl::OkStatus();
}

absl::Status StaticRbacRules::SetClusterRole(api::ClusterRole role) {
  if (absl::Status s = CheckMeta(role.metadata(), "ClusterRole", false); !s.ok()) return s;
  std::string key = role.metadata().name();
  auto value = std::make_shared<const api::ClusterRole>(std::move(role));
  absl::MutexLock lock(&mu_);
  cluster_roles_[key] = std::move(value);
  return absl::OkStatus();
}

absl::Status StaticRbacRules::SetRoleBinding(api::RoleBinding binding) {
  if (absl::Status s = CheckMeta(binding.metadata(), "RoleBinding", true); !s.ok()) return s;
  std::string key = NamespacedKey(binding.metadata().namespace_(), binding.metadata().name());
  auto value = std::make_shared<const api::RoleBinding>(std::move(binding));
  absl::MutexLock lock(&mu_);
  role_bindings_[key] = std::move(value);
  return absl::OkStatus();
}

absl::Status StaticRbacRules::SetClusterRoleBinding(api::ClusterRoleBinding binding) {
  if (absl::Status s = CheckMeta(binding.metadata(), "ClusterRoleBinding", false); !s.ok()) {
    return s;
  }
  std::string key = binding.metadata().name();
  auto value = std::make_shared<const api::ClusterRoleBinding>(std::move(binding));
  absl::MutexLock lock(&mu_);
  cluster_role_bindings_[key] = std::move(value);
  return absl::OkStatus();
}

bool StaticRbacRules::DeleteRole(absl::string_view ns, absl::string_view name) {
  absl::MutexLock lock(&mu_);
  return roles_.erase(NamespacedKey(ns, name)) > 0;
}

bool StaticRbacRules::DeleteClusterRole(absl::string_view name) {
  absl::MutexLock lock(&mu_);
  return cluster_roles_.erase(std::string(name)) > 0;
}

bool StaticRbacRules::DeleteRoleBinding(absl::string_view ns, absl::string_view name) {
  absl::MutexLock lock(&mu_);
  return role_bindings_.erase(NamespacedKey(ns, name)) > 0;
}

bool StaticRbacRules::DeleteClusterRoleBinding(absl::string_view name) {
  absl::MutexLock lock(&mu_);
  return cluster_role_bindings_.erase(std::string(name)) > 0;
}

std::vector<std::shared_ptr<const api::RoleBinding>> StaticRbacRules::RoleBindings(
    absl::string_view ns) const {
  absl::MutexLock lock(&mu_);
  return SortedValues(role_bindings_, NamespacedKey(ns, ""));
}

std::vector<std::shared_ptr<const api::ClusterRoleBinding>> StaticRbacRules::ClusterRoleBindings()
    const {
  absl::MutexLock lock(&mu_);
  return SortedValues(cluster_role_bindings_);
}

std::shared_ptr<const api::Role> StaticRbacRules::GetRole(absl::string_view ns,
                                                          absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  return Find(roles_, NamespacedKey(ns, name));
}

std::shared_ptr<const api::ClusterRole> StaticRbacRules::GetClusterRole(
    absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  return Find(cluster_roles_, std::string(name));
}

std::vector<std::shared_ptr<const api::ClusterRole>> StaticRbacRules::ListClusterRoles() const {
  absl::MutexLock lock(&mu_);
  return SortedValues(cluster_roles_);
}

// ---------------------------------------------------------------------------
// RBAC rule matching

namespace {

constexpr absl::string_view kAll = "*";

template <typename Strings>
bool ContainsOrAll(const Strings& values, absl::string_view want) {
  for (const std::string& v : values) {
    if (v == kAll || v == want) return true;
  }
  return false;
}

bool ResourceMatches(const api::PolicyRule& rule, const Attributes& a) {
  std::string combined = a.resource;
  if (!a.subresource.empty()) absl::StrAppend(&combined, "/", a.subresource);
  for (const std::string& r : rule.resources()) {
    if (r == kAll || r == combined) return true;
    if (!a.subresource.empty() && r.size() == a.subresource.size() + 2 &&
        absl::StartsWith(r, "*/") && absl::EndsWith(r, a.subresource)) {
      return true;
    }
  }
  return false;
}

bool ResourceNameMatches(const api::PolicyRule& rule, const Attributes& a) {
  if (rule.resource_names().empty()) return true;
  // A restriction to names cannot be checked for requests that are not
  // about one existing object, so such rules never grant them.
  if (a.verb == "create" || a.verb == "list" || a.verb == "watch" || a.verb == "deletecollection" ||
      a.name.empty()) {
    return false;
  }
  return std::find(rule.resource_names().begin(), rule.resource_names().end(), a.name) !=
         rule.resource_names().end();
}

bool NonResourceUrlMatches(const api::PolicyRule& rule, absl::string_view path) {
  for (const std::string& url : rule.non_resource_urls()) {
    if (url == kAll || url == path) return true;
    if (absl::EndsWith(url, "*") && absl::StartsWith(path, absl::StripSuffix(url, "*"))) {
      return true;
    }
  }
  return false;
}

}  // namespace

bool RuleAllows(const Attributes& a, const api::PolicyRule& rule) {
  if (!ContainsOrAll(rule.verbs(), a.verb)) return false;
  if (!a.resource_request) return NonResourceUrlMatches(rule, a.path);
  return ContainsOrAll(rule.api_groups(), a.api_group) && ResourceMatches(rule, a) &&
         ResourceNameMatches(rule, a);
}

// ---------------------------------------------------------------------------
// RbacAuthorizer

namespace {

constexpr absl::string_view kServiceAccountPrefix = "system:serviceaccount:";

// Whether `subject` names `user`. `binding_ns` is the RoleBinding's
// namespace ("" for ClusterRoleBindings), the default namespace of
// ServiceAccount subjects.
bool SubjectApplies(const api::Subject& subject, const UserInfo& user,
                    absl::string_view binding_ns) {
  if (subject.kind() == "User") return subject.name() == user.name;
  if (subject.kind() == "Group") {
    return std::find(user.groups.begin(), user.groups.end(), subject.name()) != user.groups.end();
  }
  if (subject.kind() == "ServiceAccount") {
    absl::string_view ns = subject.namespace_().empty() ? binding_ns : subject.namespace_();
    if (ns.empty() || subject.name().empty()) return false;
    return user.name == absl::StrCat(kServiceAccountPrefix, ns, ":", subject.name());
  }
  return false;
}

template <typename Binding>
bool BindingApplies(const Binding& binding, const UserInfo& user, absl::string_view binding_ns) {
  for (const api::Subject& s : binding.subjects()) {
    if (SubjectApplies(s, user, binding_ns)) return true;
  }
  return false;
}

// Resolves ClusterRoles, including aggregation, for one authorization.
class ClusterRoleRules {
 public:
  explicit ClusterRoleRules(const RbacRuleSource& source) : source_(source) {}

  // Whether a rule of `role`, aggregated if it has an aggregation rule,
  // allows `a`.
  bool Allows(const api::ClusterRole& role, const Attributes& a) {
    absl::flat_hash_set<std::string> visited = {role.metadata().name()};
    return AllowsImpl(role, a, visited);
  }

  // Appends the rules of `role` (aggregated if it has an aggregation rule)
  // to `out`.
  void Collect(const api::ClusterRole& role, std::vector<api::PolicyRule>* out) {
    absl::flat_hash_set<std::string> visited = {role.metadata().name()};
    CollectImpl(role, out, visited);
  }

 private:
  bool AllowsImpl(const api::ClusterRole& role, const Attributes& a,
                  absl::flat_hash_set<std::string>& visited) {
    if (!role.has_aggregation_rule()) {
      for (const api::PolicyRule& rule : role.rules()) {
        if (RuleAllows(a, rule)) return true;
      }
      return false;
    }
    std::vector<api::Selector> selectors = Selectors(role);
    for (const auto& other : All()) {
      if (visited.contains(other->metadata().name()) || !Selected(selectors, *other)) continue;
      visited.insert(other->metadata().name());
      if (AllowsImpl(*other, a, visited)) return true;
    }
    return false;
  }

  void CollectImpl(const api::ClusterRole& role, std::vector<api::PolicyRule>* out,
                   absl::flat_hash_set<std::string>& visited) {
    if (!role.has_aggregation_rule()) {
      out->insert(out->end(), role.rules().begin(), role.rules().end());
      return;
    }
    std::vector<api::Selector> selectors = Selectors(role);
    for (const auto& other : All()) {
      if (visited.contains(other->metadata().name()) || !Selected(selectors, *other)) continue;
      visited.insert(other->metadata().name());
      CollectImpl(*other, out, visited);
    }
  }

  // The compiled selectors of an aggregated role; one that does not compile
  // matches nothing.
  static std::vector<api::Selector> Selectors(const api::ClusterRole& role) {
    std::vector<api::Selector> selectors;
    for (const api::LabelSelector& s : role.aggregation_rule().cluster_role_selectors()) {
      absl::StatusOr<api::Selector> compiled = api::Selector::FromProto(s);
      if (compiled.ok()) selectors.push_back(*std::move(compiled));
    }
    return selectors;
  }

  static bool Selected(const std::vector<api::Selector>& selectors, const api::ClusterRole& other) {
    for (const api::Selector& s : selectors) {
      if (s.Matches(other.metadata().labels())) return true;
    }
    return false;
  }

  const std::vector<std::shared_ptr<const api::ClusterRole>>& All() {
    if (!all_.has_value()) all_ = source_.ListClusterRoles();
    return *all_;
  }

  const RbacRuleSource& source_;
  std::optional<std::vector<std::shared_ptr<const api::ClusterRole>>> all_;
};

std::string Quoted(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

std::string DescribeUser(const UserInfo& user) {
  std::string out = absl::StrCat("User ", Quoted(user.name));
  if (!user.groups.empty()) {
    absl::StrAppend(
        &out, " (groups ",
        absl::StrJoin(user.groups, ", ",
                      [](std::string* o, const std::string& g) { absl::StrAppend(o, Quoted(g)); }),
        ")");
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RbacAuthorizer>> RbacAuthorizer::Create(
    std::shared_ptr<const RbacRuleSource> source) {
  if (source == nullptr) return absl::InvalidArgumentError("RBAC rule source is null");
  return std::unique_ptr<RbacAuthorizer>(new RbacAuthorizer(std::move(source)));
}

AuthzResult RbacAuthorizer::Authorize(const Attributes& a) const {
  ClusterRoleRules cluster_roles(*source_);
  std::vector<std::string> applied;   // bindings that applied, with their roles
  std::vector<std::string> problems;  // bindings that refer to missing roles

  for (const auto& binding : source_->ClusterRoleBindings()) {
    if (!BindingApplies(*binding, a.user, "")) continue;
    const std::string& name = binding->metadata().name();
    const api::RoleRef& ref = binding->role_ref();
    std::string what =
        absl::StrCat("ClusterRoleBinding ", Quoted(name), " of ClusterRole ", Quoted(ref.name()));
    if (ref.kind() != "ClusterRole") {
      problems.push_back(absl::StrCat("ClusterRoleBinding ", Quoted(name), " refers to a ",
                                      Quoted(ref.kind()), ", not a ClusterRole"));
      continue;
    }
    std::shared_ptr<const api::ClusterRole> role = source_->GetClusterRole(ref.name());
    if (role == nullptr) {
      problems.push_back(absl::StrCat(what, ", which was not found"));
      continue;
    }
    if (cluster_roles.Allows(*role, a)) {
      return AuthzResult::Allow(absl::StrCat("RBAC: allowed by ", what));
    }
    applied.push_back(std::move(what));
  }

  // RoleBindings grant only resources in their own namespace.
  if (a.resource_request && !a.namespace_.empty()) {
    for (const auto& binding : source_->RoleBindings(a.namespace_)) {
      if (!BindingApplies(*binding, a.user, a.namespace_)) continue;
      const std::string binding_name = NamespacedKey(a.namespace_, binding->metadata().name());
      const api::RoleRef& ref = binding->role_ref();
      std::string what = absl::StrCat("RoleBinding ", Quoted(binding_name), " of ", ref.kind(), " ",
                                      Quoted(ref.name()));
      bool allows = false;
      if (ref.kind() == "Role") {
        std::shared_ptr<const api::Role> role = source_->GetRole(a.namespace_, ref.name());
        if (role == nullptr) {
          problems.push_back(absl::StrCat(what, ", which was not found"));
          continue;
        }
        for (const api::PolicyRule& rule : role->rules()) {
          if (RuleAllows(a, rule)) {
            allows = true;
            break;
          }
        }
      } else if (ref.kind() == "ClusterRole") {
        std::shared_ptr<const api::ClusterRole> role = source_->GetClusterRole(ref.name());
        if (role == nullptr) {
          problems.push_back(absl::StrCat(what, ", which was not found"));
          continue;
        }
        allows = cluster_roles.Allows(*role, a);
      } else {
        problems.push_back(absl::StrCat("RoleBinding ", Quoted(binding_name), " refers to a ",
                                        Quoted(ref.kind()), ", not a Role or ClusterRole"));
        continue;
      }
      if (allows) return AuthzResult::Allow(absl::StrCat("RBAC: allowed by ", what));
      applied.push_back(std::move(what));
    }
  }

  std::string reason;
  if (applied.empty() && problems.empty()) {
    reason = absl::StrCat(
        "RBAC: no ",
        a.resource_request && !a.namespace_.empty()
            ? "RoleBinding in namespace " + Quoted(a.namespace_) + " or ClusterRoleBinding"
            : std::string("ClusterRoleBinding"),
        " applies to ", DescribeUser(a.user));
  } else {
    reason = absl::StrCat("RBAC: no rule allows it");
    if (!applied.empty()) {
      absl::StrAppend(&reason, "; checked ", absl::StrJoin(applied, ", "));
    }
    if (!problems.empty()) absl::StrAppend(&reason, "; ", absl::StrJoin(problems, "; "));
  }
  return AuthzResult::NoOpinion(std::move(reason));
}

RbacRules RbacRulesFor(const RbacRuleSource& source, const UserInfo& user, absl::string_view ns) {
  RbacRules out;
  ClusterRoleRules cluster_roles(source);
  for (const auto& binding : source.ClusterRoleBindings()) {
    if (!BindingApplies(*binding, user, "")) continue;
    const std::string& name = binding->metadata().name();
    const api::RoleRef& ref = binding->role_ref();
    if (ref.kind() != "ClusterRole") {
      out.errors.push_back(absl::StrCat("ClusterRoleBinding ", Quoted(name), " refers to a ",
                                        Quoted(ref.kind()), ", not a ClusterRole"));
      continue;
    }
    std::shared_ptr<const api::ClusterRole> role = source.GetClusterRole(ref.name());
    if (role == nullptr) {
      out.errors.push_back(absl::StrCat("ClusterRoleBinding ", Quoted(name), " of ClusterRole ",
                                        Quoted(ref.name()), ", which was not found"));
      continue;
    }
    cluster_roles.Collect(*role, &out.rules);
  }
  if (ns.empty()) return out;

  for (const auto& binding : source.RoleBindings(ns)) {
    if (!BindingApplies(*binding, user, ns)) continue;
    const std::string binding_name = NamespacedKey(ns, binding->metadata().name());
    const api::RoleRef& ref = binding->role_ref();
    std::vector<api::PolicyRule> granted;
    bool found = false;
    if (ref.kind() == "Role") {
      if (std::shared_ptr<const api::Role> role = source.GetRole(ns, ref.name())) {
        found = true;
        granted.assign(role->rules().begin(), role->rules().end());
      }
    } else if (ref.kind() == "ClusterRole") {
      if (std::shared_ptr<const api::ClusterRole> role = source.GetClusterRole(ref.name())) {
        found = true;
        cluster_roles.Collect(*role, &granted);
      }
    } else {
      out.errors.push_back(absl::StrCat("RoleBinding ", Quoted(binding_name), " refers to a ",
                                        Quoted(ref.kind()), ", not a Role or ClusterRole"));
      continue;
    }
    if (!found) {
      out.errors.push_back(absl::StrCat("RoleBinding ", Quoted(binding_name), " of ", ref.kind(),
                                        " ", Quoted(ref.name()), ", which was not found"));
      continue;
    }
    for (api::PolicyRule& rule : granted) {
      if (rule.resources().empty()) continue;  // only non-resource URLs: not granted here
      rule.clear_non_resource_urls();
      out.rules.push_back(std::move(rule));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// NodeAuthorizer

namespace {

bool IsOneOf(absl::string_view verb, std::initializer_list<absl::string_view> verbs) {
  return std::find(verbs.begin(), verbs.end(), verb) != verbs.end();
}

}  // namespace

absl::StatusOr<std::unique_ptr<NodeAuthorizer>> NodeAuthorizer::Create(
    std::shared_ptr<const NodeGraph> graph) {
  if (graph == nullptr) return absl::InvalidArgumentError("node graph is null");
  return std::unique_ptr<NodeAuthorizer>(new NodeAuthorizer(std::move(graph)));
}

AuthzResult NodeAuthorizer::Authorize(const Attributes& a) const {
  absl::string_view node = a.user.name;
  if (!absl::ConsumePrefix(&node, kNodeUserPrefix) || node.empty() ||
      std::find(a.user.groups.begin(), a.user.groups.end(), kNodesGroup) == a.user.groups.end()) {
    return AuthzResult::NoOpinion();  // not a node
  }
  auto no = [&](absl::string_view why) {
    return AuthzResult::NoOpinion(absl::StrCat("node ", Quoted(node), " ", why));
  };
  if (!a.resource_request) return no("may not access non-resource paths");
  const std::string& v = a.verb;

  if (a.api_group.empty() && a.resource == "nodes") {
    if (a.subresource.empty()) {
      if (IsOneOf(v, {"get", "list", "watch"})) return AuthzResult::Allow();
      if (v == "create" && (a.name.empty() || a.name == node)) return AuthzResult::Allow();
      if (IsOneOf(v, {"update", "patch"}) && a.name == node) return AuthzResult::Allow();
      return no("may only get, list and watch nodes, and create, update and patch its own Node");
    }
    if (a.subresource == "status" && IsOneOf(v, {"update", "patch"}) && a.name == node) {
      return AuthzResult::Allow();
    }
    return no("may only update and patch the status of its own Node");
  }

  if (a.api_group.empty() && a.resource == "pods") {
    if (a.subresource.empty()) {
      if (IsOneOf(v, {"get", "list", "watch"})) return AuthzResult::Allow();
      return no("may only get, list and watch pods");
    }
    if (a.subresource == "status" && IsOneOf(v, {"update", "patch"}) && !a.name.empty()) {
      std::optional<std::string> bound = graph_->PodNode(a.namespace_, a.name);
      if (bound.has_value() && *bound == node) return AuthzResult::Allow();
      return no(absl::StrCat("may not update the status of pod ",
                             Quoted(NamespacedKey(a.namespace_, a.name)),
                             ", which is not bound to it"));
    }
    return no("may only update and patch the status of pods bound to it");
  }

  if (a.api_group == "coordination.k8s.io" && a.resource == "leases" && a.subresource.empty()) {
    if (!IsOneOf(v, {"get", "create", "update", "patch", "delete"})) {
      return no("may only get, create, update, patch and delete its own lease");
    }
    if (a.namespace_ != kNodeLeaseNamespace) {
      return no(absl::StrCat("may only access leases in namespace ", Quoted(kNodeLeaseNamespace)));
    }
    if (a.name == node || (v == "create" && a.name.empty())) return AuthzResult::Allow();
    return no("may only access the lease named after it");
  }

  if ((a.api_group.empty() || a.api_group == "events.k8s.io") && a.resource == "events" &&
      a.subresource.empty()) {
    if (IsOneOf(v, {"create", "update", "patch"})) return AuthzResult::Allow();
    return no("may only create, update and patch events");
  }

  return no("has no node-specific permission for it");
}

}  // namespace korch::apiserver
