#include "korch/apiserver/authz.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace korch::apiserver {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Decision = AuthzResult::Decision;

// ---------------------------------------------------------------------------
// Builders

api::PolicyRule Rule(std::vector<std::string> verbs, std::vector<std::string> groups,
                     std::vector<std::string> resources, std::vector<std::string> names = {}) {
  api::PolicyRule r;
  for (auto& v : verbs) r.add_verbs(v);
  for (auto& g : groups) r.add_api_groups(g);
  for (auto& res : resources) r.add_resources(res);
  for (auto& n : names) r.add_resource_names(n);
  return r;
}

api::PolicyRule UrlRule(std::vector<std::string> verbs, std::vector<std::string> urls) {
  api::PolicyRule r;
  for (auto& v : verbs) r.add_verbs(v);
  for (auto& u : urls) r.add_non_resource_urls(u);
  return r;
}

api::Role MakeRole(std::string ns, std::string name, std::vector<api::PolicyRule> rules) {
  api::Role role;
  role.mutable_metadata()->set_namespace_(ns);
  role.mutable_metadata()->set_name(name);
  for (auto& r : rules) *role.add_rules() = r;
  return role;
}

api::ClusterRole MakeClusterRole(std::string name, std::vector<api::PolicyRule> rules,
                                 std::map<std::string, std::string> labels = {}) {
  api::ClusterRole role;
  role.mutable_metadata()->set_name(name);
  for (auto& [k, v] : labels) (*role.mutable_metadata()->mutable_labels())[k] = v;
  for (auto& r : rules) *role.add_rules() = r;
  return role;
}

api::Subject Sub(std::string kind, std::string name, std::string ns = "") {
  api::Subject s;
  s.set_kind(kind);
  s.set_name(name);
  if (!ns.empty()) s.set_namespace_(ns);
  return s;
}

api::RoleRef Ref(std::string kind, std::string name) {
  api::RoleRef r;
  r.set_api_group("rbac.authorization.k8s.io");
  r.set_kind(kind);
  r.set_name(name);
  return r;
}

api::RoleBinding MakeRoleBinding(std::string ns, std::string name, api::RoleRef ref,
                                 std::vector<api::Subject> subjects) {
  api::RoleBinding b;
  b.mutable_metadata()->set_namespace_(ns);
  b.mutable_metadata()->set_name(name);
  *b.mutable_role_ref() = ref;
  for (auto& s : subjects) *b.add_subjects() = s;
  return b;
}

api::ClusterRoleBinding MakeClusterRoleBinding(std::string name, std::string role,
                                               std::vector<api::Subject> subjects) {
  api::ClusterRoleBinding b;
  b.mutable_metadata()->set_name(name);
  *b.mutable_role_ref() = Ref("ClusterRole", role);
  for (auto& s : subjects) *b.add_subjects() = s;
  return b;
}

UserInfo User(std::string name, std::vector<std::string> groups = {}) {
  UserInfo u;
  u.name = std::move(name);
  u.groups = std::move(groups);
  return u;
}

Attributes Res(UserInfo user, std::string verb, std::string group, std::string resource,
               std::string ns = "", std::string name = "", std::string subresource = "") {
  Attributes a;
  a.user = std::move(user);
  a.verb = std::move(verb);
  a.api_group = std::move(group);
  a.resource = std::move(resource);
  a.namespace_ = std::move(ns);
  a.name = std::move(name);
  a.subresource = std::move(subresource);
  return a;
}

Attributes Path(UserInfo user, std::string verb, std::string path) {
  Attributes a;
  a.user = std::move(user);
  a.verb = std::move(verb);
  a.resource_request = false;
  a.path = std::move(path);
  return a;
}

const char* DecisionName(Decision d) {
  switch (d) {
    case Decision::kAllow:
      return "Allow";
    case Decision::kDeny:
      return "Deny";
    case Decision::kNoOpinion:
      return "NoOpinion";
  }
  return "?";
}

struct Case {
  std::string what;
  Attributes attributes;
  Decision want;
};

// Runs every case against `authorizer`, reporting each failure by name.
void RunCases(const Authorizer& authorizer, const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    AuthzResult r = authorizer.Authorize(c.attributes);
    EXPECT_EQ(DecisionName(r.decision), std::string(DecisionName(c.want)))
        << c.what << " (reason: " << r.reason << ")";
  }
}

// ---------------------------------------------------------------------------
// RBAC: rule matching

class RbacTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto authz = RbacAuthorizer::Create(rules_);
    ASSERT_TRUE(authz.ok()) << authz.status();
    authz_ = *std::move(authz);
  }

  // Grants `rules` to alice through a Role and RoleBinding in "dev".
  void GrantAliceInDev(std::vector<api::PolicyRule> rules) {
    ASSERT_TRUE(rules_->SetRole(MakeRole("dev", "r", std::move(rules))).ok());
    ASSERT_TRUE(
        rules_
            ->SetRoleBinding(MakeRoleBinding("dev", "rb", Ref("Role", "r"), {Sub("User", "alice")}))
            .ok());
  }

  std::shared_ptr<StaticRbacRules> rules_ = std::make_shared<StaticRbacRules>();
  std::unique_ptr<RbacAuthorizer> authz_;
  UserInfo alice_ = User("alice", {"system:authenticated"});
};

TEST_F(RbacTest, VerbsGroupsAndResources) {
  GrantAliceInDev({
      Rule({"get", "list"}, {""}, {"pods"}),
      Rule({"*"}, {"apps"}, {"deployments"}),
      Rule({"watch"}, {"*"}, {"configmaps"}),
      Rule({"delete"}, {"batch"}, {"*"}),
  });
  RunCases(
      *authz_,
      {
          {"listed verb", Res(alice_, "get", "", "pods", "dev", "p"), Decision::kAllow},
          {"other listed verb", Res(alice_, "list", "", "pods", "dev"), Decision::kAllow},
          {"unlisted verb", Res(alice_, "delete", "", "pods", "dev", "p"), Decision::kNoOpinion},
          {"wrong group", Res(alice_, "get", "apps", "pods", "dev", "p"), Decision::kNoOpinion},
          {"wildcard verb", Res(alice_, "deletecollection", "apps", "deployments", "dev"),
           Decision::kAllow},
          {"wildcard verb, wrong group",
           Res(alice_, "get", "extensions", "deployments", "dev", "d"), Decision::kNoOpinion},
          {"wildcard group", Res(alice_, "watch", "anything.io", "configmaps", "dev"),
           Decision::kAllow},
          {"wildcard resource", Res(alice_, "delete", "batch", "cronjobs", "dev", "c"),
           Decision::kAllow},
          {"wildcard resource, wrong verb", Res(alice_, "get", "batch", "jobs", "dev", "j"),
           Decision::kNoOpinion},
          {"wildcard resource covers subresources",
           Res(alice_, "delete", "batch", "jobs", "dev", "j", "status"), Decision::kAllow},
          {"other user", Res(User("bob"), "get", "", "pods", "dev", "p"), Decision::kNoOpinion},
      });
}

TEST_F(RbacTest, Subresources) {
  GrantAliceInDev({
      Rule({"get"}, {""}, {"pods"}),
      Rule({"get"}, {""}, {"pods/log"}),
      Rule({"update"}, {"*"}, {"*/status"}),
  });
  RunCases(
      *authz_,
      {
          {"resource", Res(alice_, "get", "", "pods", "dev", "p"), Decision::kAllow},
          {"resource rule does not cover subresource",
           Res(alice_, "get", "", "pods", "dev", "p", "exec"), Decision::kNoOpinion},
          {"resource/subresource", Res(alice_, "get", "", "pods", "dev", "p", "log"),
           Decision::kAllow},
          {"*/subresource", Res(alice_, "update", "apps", "deployments", "dev", "d", "status"),
           Decision::kAllow},
          {"*/subresource does not cover the resource",
           Res(alice_, "update", "apps", "deployments", "dev", "d"), Decision::kNoOpinion},
          {"*/subresource, other subresource",
           Res(alice_, "update", "apps", "deployments", "dev", "d", "scale"), Decision::kNoOpinion},
      });
}

TEST_F(RbacTest, ResourceNames) {
  GrantAliceInDev({Rule({"get", "list", "watch", "update", "delete", "create", "deletecollection"},
                        {""}, {"configmaps"}, {"cm1", "cm2"})});
  RunCases(
      *authz_,
      {
          {"get a named object", Res(alice_, "get", "", "configmaps", "dev", "cm1"),
           Decision::kAllow},
          {"update another named object", Res(alice_, "update", "", "configmaps", "dev", "cm2"),
           Decision::kAllow},
          {"delete a named object", Res(alice_, "delete", "", "configmaps", "dev", "cm2"),
           Decision::kAllow},
          {"get an unnamed object", Res(alice_, "get", "", "configmaps", "dev", "other"),
           Decision::kNoOpinion},
          {"get without a name", Res(alice_, "get", "", "configmaps", "dev"), Decision::kNoOpinion},
          {"list", Res(alice_, "list", "", "configmaps", "dev"), Decision::kNoOpinion},
          {"list with a name", Res(alice_, "list", "", "configmaps", "dev", "cm1"),
           Decision::kNoOpinion},
          {"watch with a name", Res(alice_, "watch", "", "configmaps", "dev", "cm1"),
           Decision::kNoOpinion},
          {"create with a name", Res(alice_, "create", "", "configmaps", "dev", "cm1"),
           Decision::kNoOpinion},
          {"deletecollection", Res(alice_, "deletecollection", "", "configmaps", "dev"),
           Decision::kNoOpinion},
      });
}

TEST_F(RbacTest, NamespacesOfRoleBindings) {
  ASSERT_TRUE(rules_->SetRole(MakeRole("a", "reader", {Rule({"get"}, {""}, {"pods"})})).ok());
  // A Role of the same name in "b" grants nothing to a binding in "a".
  ASSERT_TRUE(rules_->SetRole(MakeRole("b", "writer", {Rule({"*"}, {"*"}, {"*"})})).ok());
  ASSERT_TRUE(rules_
                  ->SetRoleBinding(
                      MakeRoleBinding("a", "rb", Ref("Role", "reader"), {Sub("User", "alice")}))
                  .ok());
  ASSERT_TRUE(rules_
                  ->SetRoleBinding(MakeRoleBinding("a", "rb-writer", Ref("Role", "writer"),
                                                   {Sub("User", "alice")}))
                  .ok());
  ASSERT_TRUE(
      rules_->SetClusterRole(MakeClusterRole("secret-reader", {Rule({"get"}, {""}, {"secrets"})}))
          .ok());
  ASSERT_TRUE(rules_
                  ->SetRoleBinding(MakeRoleBinding(
                      "a", "rb-cr", Ref("ClusterRole", "secret-reader"), {Sub("User", "alice")}))
                  .ok());
  RunCases(*authz_, {
                        {"Role in the binding's namespace",
                         Res(alice_, "get", "", "pods", "a", "p"), Decision::kAllow},
                        {"not in another namespace", Res(alice_, "get", "", "pods", "b", "p"),
                         Decision::kNoOpinion},
                        {"not at the cluster scope", Res(alice_, "get", "", "pods", "", "p"),
                         Decision::kNoOpinion},
                        {"Role of another namespace is not used",
                         Res(alice_, "delete", "", "pods", "a", "p"), Decision::kNoOpinion},
                        {"ClusterRole via RoleBinding in its namespace",
                         Res(alice_, "get", "", "secrets", "a", "s"), Decision::kAllow},
                        {"ClusterRole via RoleBinding not in another namespace",
                         Res(alice_, "get", "", "secrets", "b", "s"), Decision::kNoOpinion},
                        {"ClusterRole via RoleBinding not at the cluster scope",
                         Res(alice_, "get", "", "secrets", "", "s"), Decision::kNoOpinion},
                    });
  AuthzResult r = authz_->Authorize(Res(alice_, "delete", "", "pods", "a", "p"));
  EXPECT_THAT(r.reason,
              HasSubstr("RoleBinding \"a/rb-writer\" of Role \"writer\", which was not found"));
  EXPECT_THAT(r.reason, HasSubstr("checked RoleBinding \"a/rb\" of Role \"reader\""));
}

TEST_F(RbacTest, ClusterRoleBindingsGrantEverywhere) {
  ASSERT_TRUE(rules_
                  ->SetClusterRole(MakeClusterRole(
                      "node-reader", {Rule({"get", "list"}, {""}, {"nodes", "pods"})}))
                  .ok());
  ASSERT_TRUE(rules_
                  ->SetClusterRoleBinding(
                      MakeClusterRoleBinding("crb", "node-reader", {Sub("User", "alice")}))
                  .ok());
  RunCases(
      *authz_,
      {
          {"cluster-scoped", Res(alice_, "list", "", "nodes"), Decision::kAllow},
          {"cluster-scoped by name", Res(alice_, "get", "", "nodes", "", "n1"), Decision::kAllow},
          {"any namespace", Res(alice_, "list", "", "pods", "x"), Decision::kAllow},
          {"all namespaces", Res(alice_, "list", "", "pods"), Decision::kAllow},
          {"verb not granted", Res(alice_, "delete", "", "nodes", "", "n1"), Decision::kNoOpinion},
      });
  AuthzResult r = authz_->Authorize(Res(alice_, "list", "", "nodes"));
  EXPECT_EQ(r.reason, "RBAC: allowed by ClusterRoleBinding \"crb\" of ClusterRole \"node-reader\"");
}

TEST_F(RbacTest, GroupsAndServiceAccounts) {
  ASSERT_TRUE(
      rules_->SetClusterRole(MakeClusterRole("view", {Rule({"get"}, {""}, {"pods"})})).ok());
  ASSERT_TRUE(rules_
                  ->SetClusterRoleBinding(
                      MakeClusterRoleBinding("devs", "view", {Sub("Group", "developers")}))
                  .ok());
  ASSERT_TRUE(rules_
                  ->SetClusterRoleBinding(MakeClusterRoleBinding(
                      "sa", "view", {Sub("ServiceAccount", "builder", "ci")}))
                  .ok());
  // A ServiceAccount subject without a namespace in a ClusterRoleBinding
  // applies to nobody.
  ASSERT_TRUE(rules_
                  ->SetClusterRoleBinding(MakeClusterRoleBinding(
                      "sa-no-ns", "view", {Sub("ServiceAccount", "deployer")}))
                  .ok());
  // In a RoleBinding it defaults to the binding's namespace.
  ASSERT_TRUE(rules_
                  ->SetRoleBinding(MakeRoleBinding("apps", "rb-sa", Ref("ClusterRole", "view"),
                                                   {Sub("ServiceAccount", "deployer")}))
                  .ok());
  const UserInfo dev = User("carol", {"system:authenticated", "developers"});
  const UserInfo builder = User("system:serviceaccount:ci:builder", {"system:serviceaccounts"});
  const UserInfo other_ns_builder = User("system:serviceaccount:qa:builder");
  const UserInfo deployer = User("system:serviceaccount:apps:deployer");
  const UserInfo named_like_group = User("developers");
  RunCases(*authz_,
           {
               {"group member", Res(dev, "get", "", "pods", "x", "p"), Decision::kAllow},
               {"user named like the group", Res(named_like_group, "get", "", "pods", "x", "p"),
                Decision::kNoOpinion},
               {"service account", Res(builder, "get", "", "pods", "x", "p"), Decision::kAllow},
               {"service account of another namespace",
                Res(other_ns_builder, "get", "", "pods", "x", "p"), Decision::kNoOpinion},
               {"service account defaulted to the RoleBinding's namespace",
                Res(deployer, "get", "", "pods", "apps", "p"), Decision::kAllow},
               {"namespaceless service account in a ClusterRoleBinding",
                Res(deployer, "get", "", "pods", "x", "p"), Decision::kNoOpinion},
               {"user with the service account's short name",
                Res(User("builder"), "get", "", "pods", "x", "p"), Decision::kNoOpinion},
           });
}

TEST_F(RbacTest, NonResourceUrls) {
  ASSERT_TRUE(
      rules_
          ->SetClusterRole(MakeClusterRole("probes", {UrlRule({"get"}, {"/healthz", "/readyz"}),
                                                      UrlRule({"get", "post"}, {"/apis/*"})}))
          .ok());
  ASSERT_TRUE(rules_
                  ->SetClusterRoleBinding(
                      MakeClusterRoleBinding("probes", "probes", {Sub("User", "alice")}))
                  .ok());
  // The same ClusterRole through a RoleBinding grants no paths.
  ASSERT_TRUE(rules_
                  ->SetRoleBinding(MakeRoleBinding("default", "rb", Ref("ClusterRole", "probes"),
                                                   {Sub("User", "bob")}))
                  .ok());
  ASSERT_TRUE(rules_->SetClusterRole(MakeClusterRole("all", {UrlRule({"*"}, {"*"})})).ok());
  ASSERT_TRUE(
      rules_->SetClusterRoleBinding(MakeClusterRoleBinding("all", "all", {Sub("User", "root")}))
          .ok());
  Attributes bob_in_ns = Path(User("bob"), "get", "/healthz");
  bob_in_ns.namespace_ = "default";
  RunCases(
      *authz_,
      {
          {"exact", Path(alice_, "get", "/healthz"), Decision::kAllow},
          {"exact, other path", Path(alice_, "get", "/healthz/ping"), Decision::kNoOpinion},
          {"exact, wrong verb", Path(alice_, "post", "/readyz"), Decision::kNoOpinion},
          {"prefix", Path(alice_, "post", "/apis/apps/v1"), Decision::kAllow},
          {"prefix itself", Path(alice_, "get", "/apis/"), Decision::kAllow},
          {"prefix does not match shorter", Path(alice_, "get", "/apis"), Decision::kNoOpinion},
          {"unlisted path", Path(alice_, "get", "/metrics"), Decision::kNoOpinion},
          {"not through a RoleBinding", bob_in_ns, Decision::kNoOpinion},
          {"star", Path(User("root"), "delete", "/anything"), Decision::kAllow},
          {"URL rules do not grant resources", Res(alice_, "get", "", "healthz", "", "x"),
           Decision::kNoOpinion},
      });
}

TEST_F(RbacTest, RoleRulesDoNotGrantPaths) {
  GrantAliceInDev({UrlRule({"get"}, {"*"}), Rule({"*"}, {"*"}, {"*"})});
  Attributes in_dev = Path(alice_, "get", "/healthz");
  in_dev.namespace_ = "dev";
  RunCases(*authz_, {
                        {"path", in_dev, Decision::kNoOpinion},
                        {"resource", Res(alice_, "get", "", "pods", "dev", "p"), Decision::kAllow},
                    });
}

TEST_F(RbacTest, AggregatedClusterRoles) {
  api::ClusterRole monitoring = MakeClusterRole("monitoring", {Rule({"*"}, {"*"}, {"*"})});
  // Its own rules are ignored: the aggregation controller would replace them.
  api::LabelSelector* s = monitoring.mutable_aggregation_rule()->add_cluster_role_selectors();
  (*s->mutable_match_labels())["rbac.example.com/aggregate-to-monitoring"] = "true";
  ASSERT_TRUE(rules_->SetClusterRole(monitoring).ok());

  ASSERT_TRUE(
      rules_
          ->SetClusterRole(MakeClusterRole("metrics", {Rule({"get"}, {""}, {"endpoints"})},
                                           {{"rbac.example.com/aggregate-to-monitoring", "true"}}))
          .ok());
  // Aggregation is transitive: "nested" aggregates "services" and is
  // itself aggregated into "monitoring".
  api::ClusterRole nested =
      MakeClusterRole("nested", {}, {{"rbac.example.com/aggregate-to-monitoring", "true"}});
  api::LabelSelector* ns = nested.mutable_aggregation_rule()->add_cluster_role_selectors();
  api::LabelSelectorRequirement* req = ns->add_match_expressions();
  req->set_key("nested");
  req->set_operator_("Exists");
  ASSERT_TRUE(rules_->SetClusterRole(nested).ok());
  ASSERT_TRUE(rules_
                  ->SetClusterRole(MakeClusterRole("services", {Rule({"list"}, {""}, {"services"})},
                                                   {{"nested", "yes"}}))
                  .ok());
  ASSERT_TRUE(
      rules_
          ->SetClusterRole(MakeClusterRole("unlabeled", {Rule({"get"}, {""}, {"secrets"})},
                                           {{"rbac.example.com/aggregate-to-monitoring", "false"}}))
          .ok());
  ASSERT_TRUE(rules_
                  ->SetClusterRoleBinding(
                      MakeClusterRoleBinding("mon", "monitoring", {Sub("User", "alice")}))
                  .ok());
  RunCases(*authz_,
           {
               {"aggregated rule", Res(alice_, "get", "", "endpoints", "x", "e"), Decision::kAllow},
               {"transitively aggregated rule", Res(alice_, "list", "", "services", "x"),
                Decision::kAllow},
               {"role whose labels do not match", Res(alice_, "get", "", "secrets", "x", "s"),
                Decision::kNoOpinion},
               {"the aggregated role's own rules", Res(alice_, "delete", "", "pods", "x", "p"),
                Decision::kNoOpinion},
           });
  // Computed at authorization time: a newly labeled role counts at once.
  ASSERT_TRUE(
      rules_
          ->SetClusterRole(MakeClusterRole("unlabeled", {Rule({"get"}, {""}, {"secrets"})},
                                           {{"rbac.example.com/aggregate-to-monitoring", "true"}}))
          .ok());
  EXPECT_EQ(authz_->Authorize(Res(alice_, "get", "", "secrets", "x", "s")).decision,
            Decision::kAllow);
}

TEST_F(RbacTest, AggregationCyclesTerminate) {
  for (const char* name : {"a", "b"}) {
    api::ClusterRole role = MakeClusterRole(name, {}, {{"ring", "yes"}});
    (*role.mutable_aggregation_rule()
          ->add_cluster_role_selectors()
          ->mutable_match_labels())["ring"] = "yes";
    ASSERT_TRUE(rules_->SetClusterRole(role).ok());
  }
  ASSERT_TRUE(
      rules_->SetClusterRoleBinding(MakeClusterRoleBinding("crb", "a", {Sub("User", "alice")}))
          .ok());
  EXPECT_EQ(authz_->Authorize(Res(alice_, "get", "", "pods", "x", "p")).decision,
            Decision::kNoOpinion);
}

TEST_F(RbacTest, NoOpinionReasons) {
  AuthzResult r = authz_->Authorize(Res(alice_, "get", "", "pods", "dev", "p"));
  EXPECT_EQ(r.decision, Decision::kNoOpinion);
  EXPECT_EQ(r.reason,
            "RBAC: no RoleBinding in namespace \"dev\" or ClusterRoleBinding applies to User "
            "\"alice\" (groups \"system:authenticated\")");

  ASSERT_TRUE(rules_
                  ->SetClusterRoleBinding(
                      MakeClusterRoleBinding("dangling", "gone", {Sub("User", "alice")}))
                  .ok());
  r = authz_->Authorize(Res(alice_, "list", "", "nodes"));
  EXPECT_EQ(r.reason,
            "RBAC: no rule allows it; ClusterRoleBinding \"dangling\" of ClusterRole \"gone\", "
            "which was not found");
}

TEST_F(RbacTest, StaticRulesSetReplaceDelete) {
  EXPECT_EQ(rules_->SetRole(MakeRole("", "r", {})).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(rules_->SetClusterRole(MakeClusterRole("", {})).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RbacAuthorizer::Create(nullptr).status().code(), absl::StatusCode::kInvalidArgument);

  GrantAliceInDev({Rule({"get"}, {""}, {"pods"})});
  Attributes get = Res(alice_, "get", "", "pods", "dev", "p");
  Attributes del = Res(alice_, "delete", "", "pods", "dev", "p");
  EXPECT_EQ(authz_->Authorize(del).decision, Decision::kNoOpinion);
  // Replace the role: the new rules apply at once.
  ASSERT_TRUE(rules_->SetRole(MakeRole("dev", "r", {Rule({"delete"}, {""}, {"pods"})})).ok());
  EXPECT_EQ(authz_->Authorize(del).decision, Decision::kAllow);
  EXPECT_EQ(authz_->Authorize(get).decision, Decision::kNoOpinion);
  EXPECT_TRUE(rules_->DeleteRoleBinding("dev", "rb"));
  EXPECT_FALSE(rules_->DeleteRoleBinding("dev", "rb"));
  EXPECT_EQ(authz_->Authorize(del).decision, Decision::kNoOpinion);

  ASSERT_TRUE(rules_->SetRoleBinding(MakeRoleBinding("dev", "b2", Ref("Role", "r"), {})).ok());
  ASSERT_TRUE(rules_->SetRoleBinding(MakeRoleBinding("dev2", "b1", Ref("Role", "r"), {})).ok());
  ASSERT_TRUE(rules_->SetRoleBinding(MakeRoleBinding("dev", "a1", Ref("Role", "r"), {})).ok());
  std::vector<std::string> names;
  for (const auto& b : rules_->RoleBindings("dev")) names.push_back(b->metadata().name());
  EXPECT_THAT(names, ElementsAre("a1", "b2"));
  EXPECT_NE(rules_->GetRole("dev", "r"), nullptr);
  EXPECT_EQ(rules_->GetRole("dev2", "r"), nullptr);
}

TEST_F(RbacTest, ConcurrentReadersAndWriters) {
  GrantAliceInDev({Rule({"get"}, {""}, {"pods"})});
  Attributes get = Res(alice_, "get", "", "pods", "dev", "p");
  std::thread writer([&] {
    for (int i = 0; i < 200; ++i) {
      ASSERT_TRUE(rules_->SetRole(MakeRole("dev", "r", {Rule({"get"}, {""}, {"pods"})})).ok());
      ASSERT_TRUE(rules_->SetClusterRole(MakeClusterRole(absl::StrCat("c", i % 5), {})).ok());
    }
  });
  for (int i = 0; i < 200; ++i) EXPECT_EQ(authz_->Authorize(get).decision, Decision::kAllow);
  writer.join();
}

// ---------------------------------------------------------------------------
// The chain

// Answers the same for every request.
class FixedAuthorizer final : public Authorizer {
 public:
  FixedAuthorizer(std::string name, AuthzResult result, int* calls = nullptr)
      : name_(std::move(name)), result_(std::move(result)), calls_(calls) {}
  absl::string_view Name() const override { return name_; }
  AuthzResult Authorize(const Attributes&) const override {
    if (calls_ != nullptr) ++*calls_;
    return result_;
  }

 private:
  std::string name_;
  AuthzResult result_;
  int* calls_;
};

std::unique_ptr<AuthorizerChain> Chain(std::vector<std::unique_ptr<Authorizer>> authorizers) {
  auto chain = AuthorizerChain::Create(std::move(authorizers));
  EXPECT_TRUE(chain.ok()) << chain.status();
  return chain.ok() ? *std::move(chain) : nullptr;
}

template <typename... T>
std::vector<std::unique_ptr<Authorizer>> List(std::unique_ptr<T>... a) {
  std::vector<std::unique_ptr<Authorizer>> out;
  (out.push_back(std::move(a)), ...);
  return out;
}

TEST(AuthzChainTest, CreateRejectsDuplicatesAndNull) {
  auto dup = AuthorizerChain::Create(
      List(std::make_unique<AlwaysAllowAuthorizer>(), std::make_unique<AlwaysAllowAuthorizer>()));
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(dup.status().message(), HasSubstr("always-allow"));
  std::vector<std::unique_ptr<Authorizer>> with_null;
  with_null.push_back(nullptr);
  EXPECT_EQ(AuthorizerChain::Create(std::move(with_null)).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto chain = Chain(List(std::make_unique<FixedAuthorizer>("a", AuthzResult::NoOpinion()),
                          std::make_unique<AlwaysAllowAuthorizer>()));
  EXPECT_THAT(chain->Names(), ElementsAre("a", "always-allow"));
}

TEST(AuthzChainTest, FirstDecisionWins) {
  const Attributes attrs = Res(User("alice"), "get", "", "pods", "default", "p");
  struct ChainCase {
    std::string what;
    std::vector<AuthzResult> answers;
    Decision want;
    int want_calls;  // how many authorizers were asked
  };
  const std::vector<ChainCase> cases = {
      {"allow first", {AuthzResult::Allow(), AuthzResult::Deny("no")}, Decision::kAllow, 1},
      {"deny stops", {AuthzResult::Deny("no"), AuthzResult::Allow()}, Decision::kDeny, 1},
      {"no opinion then allow",
       {AuthzResult::NoOpinion("x"), AuthzResult::Allow()},
       Decision::kAllow,
       2},
      {"no opinion then deny then allow",
       {AuthzResult::NoOpinion("x"), AuthzResult::Deny("no"), AuthzResult::Allow()},
       Decision::kDeny,
       2},
      {"all no opinion",
       {AuthzResult::NoOpinion("x"), AuthzResult::NoOpinion("y")},
       Decision::kNoOpinion,
       2},
      {"empty chain", {}, Decision::kNoOpinion, 0},
  };
  for (const ChainCase& c : cases) {
    int calls = 0;
    std::vector<std::unique_ptr<Authorizer>> authorizers;
    for (size_t i = 0; i < c.answers.size(); ++i) {
      authorizers.push_back(
          std::make_unique<FixedAuthorizer>(absl::StrCat("a", i), c.answers[i], &calls));
    }
    auto chain = Chain(std::move(authorizers));
    AuthzResult r = chain->Decide(attrs);
    EXPECT_EQ(DecisionName(r.decision), std::string(DecisionName(c.want))) << c.what;
    EXPECT_EQ(calls, c.want_calls) << c.what;
    EXPECT_EQ(chain->Authorize(attrs).ok(), c.want == Decision::kAllow) << c.what;
  }
}

TEST(AuthzChainTest, ForbiddenMessages) {
  auto chain = Chain(List(std::make_unique<FixedAuthorizer>("a", AuthzResult::NoOpinion("first")),
                          std::make_unique<FixedAuthorizer>("b", AuthzResult::NoOpinion()),
                          std::make_unique<FixedAuthorizer>("c", AuthzResult::NoOpinion("third"))));
  absl::Status s = chain->Authorize(Res(User("alice"), "list", "", "pods", "default"));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(),
            "User \"alice\" cannot list resource \"pods\" in API group \"\" in the namespace "
            "\"default\": first; third");

  auto silent = Chain(List(std::make_unique<FixedAuthorizer>("a", AuthzResult::NoOpinion())));
  EXPECT_EQ(silent->Authorize(Res(User("alice"), "get", "apps", "deployments", "", "d")).message(),
            "User \"alice\" cannot get resource \"deployments\" in API group \"apps\" at the "
            "cluster scope");
  EXPECT_EQ(ForbiddenMessage(Res(User("alice"), "get", "", "pods", "default", "p", "log")),
            "User \"alice\" cannot get resource \"pods/log\" in API group \"\" in the namespace "
            "\"default\"");
  EXPECT_EQ(ForbiddenMessage(Path(User("bob"), "get", "/healthz")),
            "User \"bob\" cannot get path \"/healthz\"");

  auto deny = Chain(List(std::make_unique<FixedAuthorizer>("a", AuthzResult::NoOpinion("first")),
                         std::make_unique<AlwaysDenyAuthorizer>()));
  EXPECT_EQ(deny->Authorize(Res(User("alice"), "list", "", "nodes")).message(),
            "User \"alice\" cannot list resource \"nodes\" in API group \"\" at the cluster scope: "
            "first; everything is denied");
}

TEST(AuthzChainTest, RbacInAChain) {
  auto rules = std::make_shared<StaticRbacRules>();
  ASSERT_TRUE(
      rules->SetClusterRole(MakeClusterRole("view", {Rule({"get", "list"}, {""}, {"pods"})})).ok());
  ASSERT_TRUE(
      rules->SetClusterRoleBinding(MakeClusterRoleBinding("v", "view", {Sub("User", "alice")}))
          .ok());
  auto rbac = RbacAuthorizer::Create(rules);
  ASSERT_TRUE(rbac.ok());
  std::vector<std::unique_ptr<Authorizer>> authorizers;
  authorizers.push_back(*std::move(rbac));
  auto chain = Chain(std::move(authorizers));
  EXPECT_TRUE(chain->Authorize(Res(User("alice"), "list", "", "pods", "default")).ok());
  absl::Status s = chain->Authorize(Res(User("alice"), "delete", "", "pods", "default", "p"));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(),
            "User \"alice\" cannot delete resource \"pods\" in API group \"\" in the namespace "
            "\"default\": RBAC: no rule allows it; checked ClusterRoleBinding \"v\" of "
            "ClusterRole \"view\"");
}

TEST(AuthzChainTest, AlwaysAllow) {
  AlwaysAllowAuthorizer a;
  EXPECT_EQ(a.Authorize(Path(User("x"), "get", "/")).decision, Decision::kAllow);
  EXPECT_EQ(a.Name(), "always-allow");
}

// ---------------------------------------------------------------------------
// Node authorizer

class FakeNodeGraph final : public NodeGraph {
 public:
  std::optional<std::string> PodNode(absl::string_view ns, absl::string_view name) const override {
    auto it = pods_.find(absl::StrCat(ns, "/", name));
    if (it == pods_.end()) return std::nullopt;
    return it->second;
  }
  std::map<std::string, std::string> pods_;
};

TEST(NodeAuthorizerTest, Decisions) {
  auto graph = std::make_shared<FakeNodeGraph>();
  graph->pods_["default/mine"] = "n1";
  graph->pods_["default/theirs"] = "n2";
  auto authz = NodeAuthorizer::Create(graph);
  ASSERT_TRUE(authz.ok()) << authz.status();
  EXPECT_EQ(NodeAuthorizer::Create(nullptr).status().code(), absl::StatusCode::kInvalidArgument);

  const UserInfo n1 = User("system:node:n1", {"system:nodes", "system:authenticated"});
  const UserInfo not_in_group = User("system:node:n1", {"system:authenticated"});
  const UserInfo alice = User("alice", {"system:nodes"});
  const std::string kLease = "coordination.k8s.io";
  RunCases(
      **authz,
      {
          // Nodes.
          {"get any node", Res(n1, "get", "", "nodes", "", "n2"), Decision::kAllow},
          {"list nodes", Res(n1, "list", "", "nodes"), Decision::kAllow},
          {"watch nodes", Res(n1, "watch", "", "nodes"), Decision::kAllow},
          {"create own node", Res(n1, "create", "", "nodes", "", "n1"), Decision::kAllow},
          {"create a node, name unknown", Res(n1, "create", "", "nodes"), Decision::kAllow},
          {"create another node", Res(n1, "create", "", "nodes", "", "n2"), Decision::kNoOpinion},
          {"update own node", Res(n1, "update", "", "nodes", "", "n1"), Decision::kAllow},
          {"patch own node status", Res(n1, "patch", "", "nodes", "", "n1", "status"),
           Decision::kAllow},
          {"update another node", Res(n1, "update", "", "nodes", "", "n2"), Decision::kNoOpinion},
          {"update another node's status", Res(n1, "update", "", "nodes", "", "n2", "status"),
           Decision::kNoOpinion},
          {"delete own node", Res(n1, "delete", "", "nodes", "", "n1"), Decision::kNoOpinion},
          // Pods.
          {"get a pod", Res(n1, "get", "", "pods", "default", "theirs"), Decision::kAllow},
          {"list pods", Res(n1, "list", "", "pods"), Decision::kAllow},
          {"watch pods", Res(n1, "watch", "", "pods", "default"), Decision::kAllow},
          {"update status of own pod", Res(n1, "update", "", "pods", "default", "mine", "status"),
           Decision::kAllow},
          {"patch status of own pod", Res(n1, "patch", "", "pods", "default", "mine", "status"),
           Decision::kAllow},
          {"update status of another node's pod",
           Res(n1, "update", "", "pods", "default", "theirs", "status"), Decision::kNoOpinion},
          {"update status of a missing pod",
           Res(n1, "update", "", "pods", "default", "missing", "status"), Decision::kNoOpinion},
          {"update own pod", Res(n1, "update", "", "pods", "default", "mine"),
           Decision::kNoOpinion},
          {"delete a pod", Res(n1, "delete", "", "pods", "default", "mine"), Decision::kNoOpinion},
          {"pod exec", Res(n1, "create", "", "pods", "default", "mine", "exec"),
           Decision::kNoOpinion},
          // Leases.
          {"create own lease", Res(n1, "create", kLease, "leases", "kube-node-lease", "n1"),
           Decision::kAllow},
          {"update own lease", Res(n1, "update", kLease, "leases", "kube-node-lease", "n1"),
           Decision::kAllow},
          {"get own lease", Res(n1, "get", kLease, "leases", "kube-node-lease", "n1"),
           Decision::kAllow},
          {"update another lease", Res(n1, "update", kLease, "leases", "kube-node-lease", "n2"),
           Decision::kNoOpinion},
          {"lease in another namespace", Res(n1, "update", kLease, "leases", "default", "n1"),
           Decision::kNoOpinion},
          {"list leases", Res(n1, "list", kLease, "leases", "kube-node-lease"),
           Decision::kNoOpinion},
          // Events.
          {"create event", Res(n1, "create", "", "events", "default"), Decision::kAllow},
          {"create events.k8s.io event", Res(n1, "create", "events.k8s.io", "events", "default"),
           Decision::kAllow},
          {"delete event", Res(n1, "delete", "", "events", "default", "e"), Decision::kNoOpinion},
          // Everything else goes to the next authorizer.
          {"secrets", Res(n1, "get", "", "secrets", "default", "s"), Decision::kNoOpinion},
          {"non-resource path", Path(n1, "get", "/healthz"), Decision::kNoOpinion},
          {"node name without group", Res(not_in_group, "get", "", "nodes", "", "n1"),
           Decision::kNoOpinion},
          {"group without node name", Res(alice, "get", "", "nodes", "", "n1"),
           Decision::kNoOpinion},
          {"empty node name", Res(User("system:node:", {"system:nodes"}), "get", "", "nodes"),
           Decision::kNoOpinion},
      });

  AuthzResult r = (*authz)->Authorize(Res(n1, "update", "", "pods", "default", "theirs", "status"));
  EXPECT_THAT(r.reason,
              HasSubstr("node \"n1\" may not update the status of pod \"default/theirs\""));
  EXPECT_TRUE((*authz)->Authorize(Res(alice, "get", "", "nodes")).reason.empty());
}

TEST(NodeAuthorizerTest, RbacDecidesWhatTheNodeAuthorizerLeaves) {
  auto graph = std::make_shared<FakeNodeGraph>();
  auto rules = std::make_shared<StaticRbacRules>();
  ASSERT_TRUE(
      rules->SetClusterRole(MakeClusterRole("cm", {Rule({"get"}, {""}, {"configmaps"})})).ok());
  ASSERT_TRUE(rules
                  ->SetClusterRoleBinding(
                      MakeClusterRoleBinding("nodes-cm", "cm", {Sub("Group", "system:nodes")}))
                  .ok());
  auto node = NodeAuthorizer::Create(graph);
  auto rbac = RbacAuthorizer::Create(rules);
  ASSERT_TRUE(node.ok() && rbac.ok());
  std::vector<std::unique_ptr<Authorizer>> authorizers;
  authorizers.push_back(*std::move(node));
  authorizers.push_back(*std::move(rbac));
  auto chain = Chain(std::move(authorizers));
  const UserInfo n1 = User("system:node:n1", {"system:nodes"});
  EXPECT_TRUE(chain->Authorize(Res(n1, "get", "", "configmaps", "kube-system", "c")).ok());
  EXPECT_TRUE(chain->Authorize(Res(n1, "list", "", "nodes")).ok());
  absl::Status s = chain->Authorize(Res(n1, "get", "", "secrets", "kube-system", "s"));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("node \"n1\" has no node-specific permission for it; RBAC: "));
}

}  // namespace
}  // namespace korch::apiserver
