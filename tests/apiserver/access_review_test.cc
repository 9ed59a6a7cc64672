// The access reviews of authorization.k8s.io/v1 (what `kubectl auth can-i`
// asks): answered from the server's authorizers, never stored.
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/authorization.pb.h"
#include "korch/api/codec.h"
#include "korch/api/k8s_protobuf.h"
#include "korch/api/rbac.pb.h"
#include "korch/apiserver/discovery.h"
#include "korch/apiserver/openapi.h"
#include "korch/k8swire/authorization_v1.pb.h"
#include "server_test_util.h"

namespace korch::apiserver {
namespace {

using ::korch::apiserver::testing::As;
using ::korch::apiserver::testing::KindOf;
using ::korch::apiserver::testing::Own;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kNs[] = "team";

UserInfo Bob() { return UserInfo{"bob", "", {"system:authenticated"}, {}}; }

api::SelfSubjectAccessReview ResourceReview(absl::string_view verb, absl::string_view group,
                                            absl::string_view resource, absl::string_view ns,
                                            absl::string_view subresource = "") {
  api::SelfSubjectAccessReview review;
  api::ResourceAttributes* a = review.mutable_spec()->mutable_resource_attributes();
  a->set_verb(std::string(verb));
  a->set_group(std::string(group));
  a->set_resource(std::string(resource));
  a->set_namespace_(std::string(ns));
  a->set_subresource(std::string(subresource));
  return review;
}

api::SelfSubjectAccessReview PathReview(absl::string_view verb, absl::string_view path) {
  api::SelfSubjectAccessReview review;
  review.mutable_spec()->mutable_non_resource_attributes()->set_verb(std::string(verb));
  review.mutable_spec()->mutable_non_resource_attributes()->set_path(std::string(path));
  return review;
}

class AccessReviewTest : public testing::ServerTest {
 protected:
  void Customize(ApiServerOptions& options) override { options.authorization.rbac = true; }

  template <typename T>
  absl::StatusOr<T> Ask(const UserInfo& user, const T& review, absl::string_view ns = "") {
    absl::StatusOr<ObjectPtr> r = server_->Create(user, KindOf<T>(), ns, "", Own(review), {});
    if (!r.ok()) return r.status();
    return As<T>(*r);
  }

  // Whether `user` may `verb` `resource` in `ns`, by a SelfSubjectAccessReview.
  bool Can(const UserInfo& user, absl::string_view verb, absl::string_view resource,
           absl::string_view ns, absl::string_view subresource = "") {
    absl::StatusOr<api::SelfSubjectAccessReview> r =
        Ask(user, ResourceReview(verb, "", resource, ns, subresource));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() && r->status().allowed();
  }

  // Binds ClusterRole `role` to bob in `ns`, and waits (bounded) until the
  // RBAC cache, which follows the store, grants it.
  void BindBob(absl::string_view role, absl::string_view ns) {
    api::RoleBinding rb;
    rb.mutable_metadata()->set_name(absl::StrCat("bob-", role));
    rb.mutable_metadata()->set_namespace_(std::string(ns));
    rb.mutable_role_ref()->set_api_group("rbac.authorization.k8s.io");
    rb.mutable_role_ref()->set_kind("ClusterRole");
    rb.mutable_role_ref()->set_name(std::string(role));
    api::Subject* s = rb.add_subjects();
    s->set_kind("User");
    s->set_api_group("rbac.authorization.k8s.io");
    s->set_name("bob");
    ASSERT_TRUE(Create(rb).ok());
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (!Can(Bob(), "get", "pods", ns) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    ASSERT_TRUE(Can(Bob(), "get", "pods", ns));
  }
};

TEST_F(AccessReviewTest, SelfReviewAllowedForAdmin) {
  absl::StatusOr<api::SelfSubjectAccessReview> r =
      Ask(user_, ResourceReview("create", "", "pods", kNs));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->status().allowed());
  EXPECT_FALSE(r->status().denied());
  EXPECT_THAT(r->status().reason(), HasSubstr("cluster-admin"));
  // The question comes back with the answer.
  EXPECT_EQ(r->spec().resource_attributes().verb(), "create");

  // `kubectl auth can-i '*' '*'`.
  r = Ask(user_, ResourceReview("*", "", "*", "default"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->status().allowed());
}

TEST_F(AccessReviewTest, SelfReviewDeniedForUserWithoutGrants) {
  // Any authenticated user may ask about themselves (system:basic-user).
  absl::StatusOr<api::SelfSubjectAccessReview> r =
      Ask(Bob(), ResourceReview("list", "", "pods", kNs));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->status().allowed());
  // No authorizer denied it outright, and `kubectl auth can-i` prints the
  // reason after "no": there is none.
  EXPECT_FALSE(r->status().denied());
  EXPECT_EQ(r->status().reason(), "");
  EXPECT_FALSE(Can(Bob(), "*", "*", "default"));
  // Nothing is stored: there is nothing to get or list either.
  EXPECT_EQ(server_->List(user_, KindOf<api::SelfSubjectAccessReview>(), "", {}).status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(ToKubernetesStatus(
                server_->Get(user_, KindOf<api::SelfSubjectAccessReview>(), "", "x", {}).status())
                .code(),
            405);
}

TEST_F(AccessReviewTest, SelfReviewOfAViewerInOneNamespace) {
  BindBob("view", kNs);
  EXPECT_TRUE(Can(Bob(), "list", "pods", kNs));
  EXPECT_FALSE(Can(Bob(), "create", "pods", kNs));
  EXPECT_FALSE(Can(Bob(), "list", "pods", "default"));
  // Subresources (`--subresource`): view reads pods/log, but may not exec.
  EXPECT_TRUE(Can(Bob(), "get", "pods", kNs, "log"));
  EXPECT_FALSE(Can(Bob(), "create", "pods", kNs, "exec"));
  absl::StatusOr<api::SelfSubjectAccessReview> r =
      Ask(Bob(), ResourceReview("list", "apps", "deployments", kNs));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->status().allowed());
  EXPECT_THAT(r->status().reason(), HasSubstr("bob-view"));
}

TEST_F(AccessReviewTest, NonResourcePaths) {
  // `kubectl auth can-i get /healthz`: public info for every user.
  absl::StatusOr<api::SelfSubjectAccessReview> r = Ask(Bob(), PathReview("get", "/healthz"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->status().allowed());
  r = Ask(Bob(), PathReview("get", "/metrics"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->status().allowed());
  r = Ask(user_, PathReview("get", "/metrics"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->status().allowed());
}

TEST_F(AccessReviewTest, SpecNeedsExactlyOneKindOfAttributes) {
  api::SelfSubjectAccessReview neither;
  absl::StatusOr<api::SelfSubjectAccessReview> r = Ask(Bob(), neither);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ToKubernetesStatus(r.status()).code(), 422);
  EXPECT_THAT(r.status().message(),
              HasSubstr("exactly one of nonResourceAttributes or resourceAttributes"));
  api::SelfSubjectAccessReview both = ResourceReview("get", "", "pods", kNs);
  *both.mutable_spec()->mutable_non_resource_attributes() =
      PathReview("get", "/healthz").spec().non_resource_attributes();
  EXPECT_EQ(Ask(Bob(), both).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(AccessReviewTest, RulesReviewListsWhatAppliesInTheNamespace) {
  BindBob("view", kNs);
  api::SelfSubjectRulesReview review;
  review.mutable_spec()->set_namespace_(kNs);
  absl::StatusOr<api::SelfSubjectRulesReview> r = Ask(Bob(), review);
  ASSERT_TRUE(r.ok()) << r.status();
  const api::SubjectRulesReviewStatus& status = r->status();
  EXPECT_FALSE(status.incomplete());
  EXPECT_EQ(status.evaluation_error(), "");
  auto grants = [](const api::SubjectRulesReviewStatus& s, absl::string_view verb,
                   absl::string_view resource) {
    for (const api::ResourceRule& rule : s.resource_rules()) {
      bool verb_ok = false, resource_ok = false;
      for (const std::string& v : rule.verbs()) verb_ok |= v == verb;
      for (const std::string& res : rule.resources()) resource_ok |= res == resource;
      if (verb_ok && resource_ok) return true;
    }
    return false;
  };
  EXPECT_TRUE(grants(status, "list", "pods"));
  EXPECT_TRUE(grants(status, "get", "deployments"));
  EXPECT_FALSE(grants(status, "create", "pods"));
  // system:basic-user's self reviews, from a ClusterRoleBinding.
  EXPECT_TRUE(grants(status, "create", "selfsubjectaccessreviews"));
  // system:discovery and system:public-info-viewer.
  bool healthz = false;
  for (const api::NonResourceRule& rule : status.non_resource_rules()) {
    for (const std::string& url : rule.non_resource_urls()) healthz |= url == "/healthz";
  }
  EXPECT_TRUE(healthz);

  // In another namespace the RoleBinding does not apply.
  review.mutable_spec()->set_namespace_("default");
  r = Ask(Bob(), review);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(grants(r->status(), "list", "pods"));
  EXPECT_TRUE(grants(r->status(), "create", "selfsubjectaccessreviews"));

  // The namespace is required.
  EXPECT_EQ(ToKubernetesStatus(Ask(Bob(), api::SelfSubjectRulesReview()).status()).code(), 400);
}

TEST_F(AccessReviewTest, SubjectAccessReviewNeedsItsOwnGrant) {
  BindBob("view", kNs);
  api::SubjectAccessReview review;
  *review.mutable_spec()->mutable_resource_attributes() =
      ResourceReview("list", "", "pods", kNs).spec().resource_attributes();
  review.mutable_spec()->set_user("bob");

  // A plain user may not ask about others.
  absl::StatusOr<api::SubjectAccessReview> r = Ask(Bob(), review);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status().message(),
              HasSubstr("cannot create resource \"subjectaccessreviews\" in API group "
                        "\"authorization.k8s.io\" at the cluster scope"));

  // cluster-admin may; the subject is exactly the user and groups given.
  r = Ask(user_, review);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->status().allowed());
  review.mutable_spec()->set_user("carol");
  r = Ask(user_, review);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->status().allowed());
  review.mutable_spec()->add_groups("system:masters");
  r = Ask(user_, review);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->status().allowed());

  // Somebody must be named.
  review.mutable_spec()->clear_user();
  review.mutable_spec()->clear_groups();
  r = Ask(user_, review);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("at least one of user or group must be specified"));
}

TEST_F(AccessReviewTest, LocalSubjectAccessReviewIsBoundToItsNamespace) {
  api::LocalSubjectAccessReview review;
  api::ResourceAttributes* a = review.mutable_spec()->mutable_resource_attributes();
  a->set_verb("list");
  a->set_resource("pods");
  review.mutable_spec()->set_user("bob");
  // The namespace defaults to the URL's.
  absl::StatusOr<api::LocalSubjectAccessReview> r = Ask(user_, review, kNs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->spec().resource_attributes().namespace_(), kNs);
  EXPECT_FALSE(r->status().allowed());
  // Another namespace in the spec is refused.
  a->set_namespace_("default");
  r = Ask(user_, review, kNs);
  EXPECT_EQ(ToKubernetesStatus(r.status()).code(), 400);
  EXPECT_THAT(r.status().message(), HasSubstr("must match namespace"));
  // A plain user may not ask (admin grants it per namespace).
  a->clear_namespace_();
  EXPECT_EQ(Ask(Bob(), review, kNs).status().code(), absl::StatusCode::kPermissionDenied);
}

// Without any authorizer every request is allowed, and the rules say so.
class AccessReviewNoAuthzTest : public testing::ServerTest {};

TEST_F(AccessReviewNoAuthzTest, EverythingIsAllowed) {
  absl::StatusOr<ObjectPtr> r =
      server_->Create(Bob(), KindOf<api::SelfSubjectAccessReview>(), "", "",
                      Own(ResourceReview("delete", "", "nodes", "")), {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(As<api::SelfSubjectAccessReview>(*r).status().allowed());
  api::SelfSubjectRulesReview review;
  review.mutable_spec()->set_namespace_("default");
  r = server_->Create(Bob(), KindOf<api::SelfSubjectRulesReview>(), "", "", Own(review), {});
  ASSERT_TRUE(r.ok()) << r.status();
  const auto& status = As<api::SelfSubjectRulesReview>(*r).status();
  ASSERT_EQ(status.resource_rules_size(), 1);
  EXPECT_THAT(status.resource_rules(0).verbs(), ElementsAre("*"));
  EXPECT_THAT(status.non_resource_rules(0).non_resource_urls(), ElementsAre("*"));
  EXPECT_FALSE(status.incomplete());
}

// kubectl 1.32 and later post the reviews in Kubernetes protobuf.
TEST(AccessReviewWireTest, ProtobufReviewsDecodeToTheQuestionAsked) {
  k8s::io::api::authorization::v1::SelfSubjectAccessReview wire;
  auto* attrs = wire.mutable_spec()->mutable_resourceattributes();
  attrs->set_namespace_("team");
  attrs->set_verb("get");
  attrs->set_resource("pods");
  attrs->set_subresource("log");
  // Go writes every non-pointer field, zero or not.
  wire.mutable_status()->set_allowed(false);
  absl::StatusOr<nlohmann::json> j = api::KubernetesProtobufToJson(
      api::EncodeKubernetesProtobuf("authorization.k8s.io/v1", "SelfSubjectAccessReview", wire));
  ASSERT_TRUE(j.ok()) << j.status();
  absl::StatusOr<std::unique_ptr<google::protobuf::Message>> decoded =
      api::DecodeObject(*j, api::Scheme::Builtin());
  ASSERT_TRUE(decoded.ok()) << decoded.status() << " " << j->dump();
  auto* review =
      google::protobuf::DynamicCastToGenerated<api::SelfSubjectAccessReview>(decoded->get());
  ASSERT_NE(review, nullptr);
  EXPECT_EQ(review->spec().resource_attributes().namespace_(), "team");
  EXPECT_EQ(review->spec().resource_attributes().subresource(), "log");
  EXPECT_FALSE(review->spec().has_non_resource_attributes());

  k8s::io::api::authorization::v1::SelfSubjectRulesReview rules;
  rules.mutable_spec()->set_namespace_("team");
  j = api::KubernetesProtobufToJson(
      api::EncodeKubernetesProtobuf("authorization.k8s.io/v1", "SelfSubjectRulesReview", rules));
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ((*j)["spec"]["namespace"], "team");
}

TEST(AccessReviewDiscoveryTest, ServedCreateOnlyWithoutSubresources) {
  std::vector<DiscoveryGroup> groups = ServedGroups(api::Scheme::Builtin());
  const DiscoveryGroupVersion* gv = nullptr;
  for (const DiscoveryGroup& g : groups) {
    if (g.name == "authorization.k8s.io") gv = &g.versions.front();
  }
  ASSERT_NE(gv, nullptr);
  std::vector<std::string> names;
  for (const DiscoveryResource& r : gv->resources) {
    names.push_back(r.name);
    EXPECT_THAT(r.verbs, ElementsAre("create")) << r.name;
    EXPECT_EQ(r.namespaced, r.name == "localsubjectaccessreviews") << r.name;
  }
  EXPECT_THAT(names, ElementsAre("localsubjectaccessreviews", "selfsubjectaccessreviews",
                                 "selfsubjectrulesreviews", "subjectaccessreviews"));

  // OpenAPI has the create operation and the schema, for kubectl's
  // validation of `kubectl create -f` of a review.
  absl::StatusOr<nlohmann::json> v3 =
      OpenApiV3Document(api::Scheme::Builtin(), "authorization.k8s.io", "v1");
  ASSERT_TRUE(v3.ok()) << v3.status();
  EXPECT_TRUE((*v3)["paths"].contains("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"));
  EXPECT_TRUE((*v3)["components"]["schemas"].contains(
      "io.k8s.api.authorization.v1.SelfSubjectAccessReview"));
  nlohmann::json v2 = OpenApiV2Document(api::Scheme::Builtin());
  EXPECT_TRUE(v2["paths"].contains(
      "/apis/authorization.k8s.io/v1/namespaces/{namespace}/localsubjectaccessreviews"));
  EXPECT_TRUE(v2["definitions"].contains("io.k8s.api.authorization.v1.SubjectAccessReview"));
}

}  // namespace
}  // namespace korch::apiserver
