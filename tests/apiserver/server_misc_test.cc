// The registry's pipeline around the verbs: authentication, authorization,
// admission (with writes in the request's transaction), Service
// allocations, the Status mapping, the in-process client, and persistence
// across restarts on RocksDB.

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/field_errors.h"
#include "korch/api/rbac.pb.h"
#include "korch/apiserver/admission.h"
#include "korch/apiserver/authz.h"
#include "korch/client/client.h"
#include "tests/apiserver/server_test_util.h"

namespace korch::apiserver::testing {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// ---------------------------------------------------------------------------
// Authentication and authorization

// Allows everything but deletes, and remembers what it was asked.
class RecordingAuthorizer final : public Authorizer {
 public:
  absl::string_view Name() const override { return "recording"; }
  AuthzResult Authorize(const Attributes& a) const override {
    {
      absl::MutexLock l(&mu_);
      seen_.push_back(a);
    }
    if (a.verb == "delete" || a.user.name == "eve") return AuthzResult::NoOpinion("not today");
    return AuthzResult::Allow();
  }
  std::vector<Attributes> Seen() const {
    absl::MutexLock l(&mu_);
    return seen_;
  }

 private:
  mutable absl::Mutex mu_;
  mutable std::vector<Attributes> seen_ ABSL_GUARDED_BY(mu_);
};

class AuthzTest : public ServerTest {
 protected:
  void Customize(ApiServerOptions& options) override {
    options.authorization.extra.push_back(authorizer_);
  }
  std::shared_ptr<RecordingAuthorizer> authorizer_ = std::make_shared<RecordingAuthorizer>();
};

TEST_F(AuthzTest, DenialsUseKubernetesWords) {
  user_ = UserInfo{"alice", "", {"system:authenticated"}, {}};
  ASSERT_TRUE(Create(MakeConfigMap("default", "cm")).ok());
  auto r = Delete<api::ConfigMap>("default", "cm");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(r.status().message(),
            "configmaps \"cm\" is forbidden: User \"alice\" cannot delete resource \"configmaps\" "
            "in API group \"\" in the namespace \"default\": not today");
  api::Status status = ToKubernetesStatus(r.status());
  EXPECT_EQ(status.code(), 403);
  EXPECT_EQ(status.reason(), "Forbidden");
  EXPECT_TRUE(Get<api::ConfigMap>("default", "cm").ok());

  user_.name = "eve";
  auto c = Create(MakeConfigMap("default", "x"));
  EXPECT_THAT(std::string(c.status().message()),
              StartsWith("configmaps is forbidden: User \"eve\" cannot create resource "
                         "\"configmaps\" in API group \"\" in the namespace \"default\""));
  auto n = server_->Get(user_, KindOf<api::Node>(), "", "n1", {});
  EXPECT_THAT(std::string(n.status().message()),
              StartsWith("nodes \"n1\" is forbidden: User \"eve\" cannot get resource \"nodes\" "
                         "in API group \"\" at the cluster scope"));
  auto d = Get<api::Deployment>("default", "web");
  EXPECT_THAT(std::string(d.status().message()),
              StartsWith("deployments.apps \"web\" is forbidden"));
}

TEST_F(AuthzTest, EveryVerbIsAuthorizedWithItsAttributes) {
  ASSERT_TRUE(Create(MakePod("default", "web")).ok());
  api::Binding binding;
  binding.mutable_metadata()->set_name("web");
  binding.mutable_target()->set_name("n1");
  CreateOptions bind;
  bind.subresource = "binding";
  ASSERT_TRUE(
      server_->Create(user_, KindOf<api::Pod>(), "default", "web", Own(binding), bind).ok());
  ASSERT_TRUE(List<api::Pod>("").ok());
  GetOptions status;
  status.subresource = "status";
  ASSERT_TRUE(server_->Get(user_, KindOf<api::Pod>(), "default", "web", status).ok());
  ASSERT_TRUE(
      Patch<api::Pod>("default", "web", PatchType::kMerge, R"({"metadata":{"labels":{"a":"b"}}})")
          .ok());
  auto w = server_->Watch(user_, KindOf<api::Pod>(), "default", {});
  ASSERT_TRUE(w.ok());

  std::vector<std::string> seen;
  for (const Attributes& a : authorizer_->Seen()) {
    seen.push_back(absl::StrCat(a.verb, " ", a.api_group, "/", a.resource,
                                a.subresource.empty() ? "" : "/", a.subresource, " ", a.namespace_,
                                "/", a.name));
    EXPECT_EQ(a.user.name, "system:apiserver");
    EXPECT_TRUE(a.resource_request);
  }
  EXPECT_THAT(seen, ElementsAre("create /pods default/", "create /pods/binding default/web",
                                "list /pods /", "get /pods/status default/web",
                                "patch /pods default/web", "watch /pods default/"));
}

class ServerRbacTest : public ServerTest {
 protected:
  void Customize(ApiServerOptions& options) override { options.authorization.rbac = true; }
};

TEST_F(ServerRbacTest, BootstrapPolicyAndBindingsFromTheStore) {
  // system:masters may do anything through the bootstrap policy.
  ASSERT_TRUE(Create(MakePod("default", "web")).ok());

  UserInfo bob{"bob", "", {"system:authenticated"}, {}};
  auto denied = server_->Get(bob, KindOf<api::Pod>(), "default", "web", {});
  ASSERT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(denied.status().message()),
              StartsWith("pods \"web\" is forbidden: User \"bob\" cannot get resource \"pods\" in "
                         "API group \"\" in the namespace \"default\""));

  api::RoleBinding rb;
  rb.mutable_metadata()->set_name("bob-view");
  rb.mutable_metadata()->set_namespace_("default");
  rb.mutable_role_ref()->set_api_group("rbac.authorization.k8s.io");
  rb.mutable_role_ref()->set_kind("ClusterRole");
  rb.mutable_role_ref()->set_name("view");
  auto* subject = rb.add_subjects();
  subject->set_kind("User");
  subject->set_name("bob");
  subject->set_api_group("rbac.authorization.k8s.io");
  ASSERT_TRUE(Create(rb).ok());

  // The cache follows the store within moments.
  absl::Status status;
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  do {
    status = server_->Get(bob, KindOf<api::Pod>(), "default", "web", {}).status();
    if (status.ok()) break;
    absl::SleepFor(absl::Milliseconds(5));
  } while (absl::Now() < deadline);
  EXPECT_TRUE(status.ok()) << status;
  // View grants no writes, and nothing in other namespaces.
  EXPECT_EQ(server_->Delete(bob, KindOf<api::Pod>(), "default", "web", {}).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(server_->List(bob, KindOf<api::Pod>(), "kube-system", {}).status().code(),
            absl::StatusCode::kPermissionDenied);
}

class TokenAuthenticator final : public Authenticator {
 public:
  absl::string_view Name() const override { return "token"; }
  AuthnResult Authenticate(const AuthnRequest& r) const override {
    if (!r.bearer_token.has_value()) return AuthnResult::NoOpinion();
    if (*r.bearer_token == "good")
      return AuthnResult::Authenticated(UserInfo{"alice", "1", {}, {}});
    return AuthnResult::Rejected("the token has expired");
  }
};

class AuthnTest : public ServerTest {
 protected:
  void Customize(ApiServerOptions& options) override {
    options.authenticator = std::make_shared<TokenAuthenticator>();
  }
};

TEST_F(AuthnTest, AuthenticateRunsTheAuthenticator) {
  AuthnRequest good;
  good.bearer_token = "good";
  auto user = server_->Authenticate(good);
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->name, "alice");
  EXPECT_THAT(user->groups, ElementsAre("system:authenticated"));
  AuthnRequest bad;
  bad.bearer_token = "old";
  auto rejected = server_->Authenticate(bad);
  EXPECT_EQ(rejected.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(rejected.status().message(), HasSubstr("expired"));
  EXPECT_EQ(server_->Authenticate(AuthnRequest{}).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(ToKubernetesStatus(rejected.status()).code(), 401);
}

class AnonymousAuthnTest : public ServerTest {
 protected:
  void Customize(ApiServerOptions& options) override {
    options.authenticator = std::shared_ptr<Authenticator>(AnonymousAuthenticator::Create());
    options.authorization.rbac = true;
  }
};

// The anonymous user is not in system:authenticated, so it does not get what
// the bootstrap policy grants that group (discovery, self reviews), only the
// public info paths.
TEST_F(AnonymousAuthnTest, AnonymousIsNotAuthenticatedGroup) {
  auto user = server_->Authenticate(AuthnRequest{});
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->name, "system:anonymous");
  EXPECT_THAT(user->groups, Not(Contains("system:authenticated")));
  Attributes version;
  version.user = *user;
  version.verb = "get";
  version.resource_request = false;
  version.path = "/version";
  EXPECT_TRUE(server_->Authorize(version).ok());
  Attributes apis = version;
  apis.path = "/apis";  // system:discovery is bound to system:authenticated only
  EXPECT_EQ(server_->Authorize(apis).code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(ServerTest, WithoutAnAuthenticatorNobodyIsAuthenticated) {
  AuthnRequest r;
  r.bearer_token = "anything";
  EXPECT_EQ(server_->Authenticate(r).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(ServerTest, WithoutAuthorizersEverythingIsAllowed) {
  UserInfo nobody{"nobody", "", {}, {}};
  Attributes a;
  a.user = nobody;
  a.verb = "delete";
  a.resource = "nodes";
  EXPECT_TRUE(server_->Authorize(a).ok());
}

TEST(SystemUserTest, IsAMaster) {
  UserInfo u = SystemUser();
  EXPECT_EQ(u.name, "system:apiserver");
  EXPECT_THAT(u.groups, ElementsAre("system:masters"));
}

// ---------------------------------------------------------------------------
// Admission

// Labels every ConfigMap it sees created.
class LabelPlugin final : public MutatingAdmissionPlugin {
 public:
  absl::string_view Name() const override { return "label"; }
  absl::Status Admit(AdmissionAttributes& a) override {
    if (a.operation() != AdmissionOperation::kCreate || a.object() == nullptr) {
      return absl::OkStatus();
    }
    auto* meta = api::MutableObjectMetaOf(*a.object());
    if (meta != nullptr) (*meta->mutable_labels())["admitted"] = "true";
    return absl::OkStatus();
  }
};

// Refuses objects named "forbidden"; counts ConfigMap creates in the
// Secret default/counter, in the request's own transaction.
class CountingPlugin final : public ValidatingAdmissionPlugin {
 public:
  absl::string_view Name() const override { return "count"; }
  absl::Status Validate(AdmissionAttributes& a) override {
    ++calls;
    if (a.name() == "forbidden") {
      return ForbiddenError("configmaps", a.name(), "the name is reserved");
    }
    if (a.operation() != AdmissionOperation::kCreate || a.kind().kind != "ConfigMap") {
      return absl::OkStatus();
    }
    // Labels set by the mutating chain are visible here.
    if (api::ObjectMetaOf(*a.object())->labels().count("admitted") == 0) {
      return absl::InternalError("mutation not seen");
    }
    auto counter = a.Get(KindOf<api::Secret>(), "default", "counter");
    if (absl::IsNotFound(counter.status())) return absl::OkStatus();
    if (!counter.ok()) return counter.status();
    auto next = std::make_unique<api::Secret>(As<api::Secret>(*counter));
    int value = 0;
    auto it = next->metadata().annotations().find("count");
    if (it != next->metadata().annotations().end()) (void)absl::SimpleAtoi(it->second, &value);
    (*next->mutable_metadata()->mutable_annotations())["count"] = absl::StrCat(value + 1);
    return a.UpdateInSameTransaction(KindOf<api::Secret>(), std::move(next));
  }
  std::atomic<int> calls{0};
};

class AdmissionTest : public ServerTest {
 protected:
  void Customize(ApiServerOptions& options) override {
    options.admission.mutating.push_back(std::make_shared<LabelPlugin>());
    options.admission.validating.push_back(counting_);
  }
  std::shared_ptr<CountingPlugin> counting_ = std::make_shared<CountingPlugin>();
};

TEST_F(AdmissionTest, PluginsMutateAndRefuse) {
  auto r = Create(MakeConfigMap("default", "cm"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->metadata().labels().at("admitted"), "true");
  auto refused = Create(MakeConfigMap("default", "forbidden"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Get<api::ConfigMap>("default", "forbidden").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(AdmissionTest, AdmissionWritesCommitWithTheRequest) {
  api::Secret counter;
  counter.mutable_metadata()->set_name("counter");
  counter.mutable_metadata()->set_namespace_("default");
  ASSERT_TRUE(Create(counter).ok());

  constexpr int kThreads = 4;
  constexpr int kEach = 10;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto r = Create(MakeConfigMap("default", absl::StrCat("cm-", t, "-", i)));
        EXPECT_TRUE(r.ok()) << r.status();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  auto stored = Get<api::Secret>("default", "counter");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ((*stored)->metadata().annotations().at("count"), absl::StrCat(kThreads * kEach));

  // A refused or dry-run request writes nothing of admission's.
  CreateOptions dry;
  dry.dry_run = true;
  ASSERT_TRUE(Create(MakeConfigMap("default", "dry"), dry).ok());
  EXPECT_EQ((*Get<api::Secret>("default", "counter"))->metadata().annotations().at("count"),
            absl::StrCat(kThreads * kEach));
}

TEST_F(AdmissionTest, DeletesAreAdmitted) {
  ASSERT_TRUE(Create(MakeConfigMap("default", "forbidden-not")).ok());
  int before = counting_->calls.load();
  ASSERT_TRUE(Delete<api::ConfigMap>("default", "forbidden-not").ok());
  EXPECT_EQ(counting_->calls.load(), before + 1);
}

class BuiltinAdmissionTest : public ServerTest {
 protected:
  void Customize(ApiServerOptions& options) override {
    options.admission = DefaultAdmissionChain();
  }
};

TEST_F(BuiltinAdmissionTest, NamespaceLifecycleAndQuota) {
  auto missing = Create(MakePod("nope", "web"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "namespaces \"nope\" not found");

  api::ResourceQuota quota;
  quota.mutable_metadata()->set_name("q");
  quota.mutable_metadata()->set_namespace_("default");
  (*quota.mutable_spec()->mutable_hard())["pods"] = "2";
  ASSERT_TRUE(Create(quota).ok());
  ASSERT_TRUE(Create(MakePod("default", "a")).ok());
  ASSERT_TRUE(Create(MakePod("default", "b")).ok());
  auto third = Create(MakePod("default", "c"));
  ASSERT_FALSE(third.ok());
  EXPECT_THAT(third.status().message(), HasSubstr("exceeded quota"));

  // Pods got the default tolerations.
  auto a = Get<api::Pod>("default", "a");
  ASSERT_TRUE(a.ok());
  EXPECT_GE((*a)->spec().tolerations_size(), 2);
}

// ---------------------------------------------------------------------------
// Services

api::Service MakeService(absl::string_view name, absl::string_view type = "ClusterIP",
                         absl::string_view cluster_ip = "", int node_port = 0) {
  api::Service svc;
  svc.mutable_metadata()->set_name(std::string(name));
  svc.mutable_metadata()->set_namespace_("default");
  svc.mutable_spec()->set_type(std::string(type));
  if (!cluster_ip.empty()) svc.mutable_spec()->set_cluster_ip(std::string(cluster_ip));
  (*svc.mutable_spec()->mutable_selector())["app"] = std::string(name);
  auto* port = svc.mutable_spec()->add_ports();
  port->set_port(80);
  if (node_port != 0) port->set_node_port(node_port);
  return svc;
}

TEST_F(ServerTest, ServicesGetAClusterIP) {
  auto svc = Create(MakeService("web"));
  ASSERT_TRUE(svc.ok()) << svc.status();
  const std::string& ip = (*svc)->spec().cluster_ip();
  EXPECT_THAT(ip, StartsWith("10."));
  EXPECT_THAT((*svc)->spec().cluster_ips(), ElementsAre(ip));
  auto other = Create(MakeService("api"));
  ASSERT_TRUE(other.ok());
  EXPECT_NE((*other)->spec().cluster_ip(), ip);

  auto headless = Create(MakeService("db", "ClusterIP", "None"));
  ASSERT_TRUE(headless.ok()) << headless.status();
  EXPECT_EQ((*headless)->spec().cluster_ip(), "None");
}

TEST_F(ServerTest, RequestedClusterIPsAreHonouredOnce) {
  auto svc = Create(MakeService("a", "ClusterIP", "10.96.0.50"));
  ASSERT_TRUE(svc.ok()) << svc.status();
  EXPECT_EQ((*svc)->spec().cluster_ip(), "10.96.0.50");
  auto taken = Create(MakeService("b", "ClusterIP", "10.96.0.50"));
  ASSERT_EQ(taken.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(taken.status().message(), HasSubstr("10.96.0.50"));
  auto outside = Create(MakeService("c", "ClusterIP", "192.168.0.1"));
  EXPECT_EQ(outside.status().code(), absl::StatusCode::kInvalidArgument);

  // Deleting releases it.
  ASSERT_TRUE(Delete<api::Service>("default", "a").ok());
  EXPECT_TRUE(Create(MakeService("b", "ClusterIP", "10.96.0.50")).ok());
}

TEST_F(ServerTest, AFailedCreateReleasesItsAllocation) {
  ASSERT_TRUE(Create(MakeService("a")).ok());
  auto dup = Create(MakeService("a", "NodePort", "10.96.0.60", 30080));
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists);
  auto b = Create(MakeService("b", "NodePort", "10.96.0.60", 30080));
  ASSERT_TRUE(b.ok()) << b.status();
}

TEST_F(ServerTest, NodePortsAreAllocatedAndReleased) {
  auto svc = Create(MakeService("web", "NodePort"));
  ASSERT_TRUE(svc.ok()) << svc.status();
  int port = (*svc)->spec().ports(0).node_port();
  EXPECT_GE(port, 30000);
  EXPECT_LE(port, 32767);
  auto fixed = Create(MakeService("fixed", "NodePort", "", 30080));
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_EQ((*fixed)->spec().ports(0).node_port(), 30080);
  auto clash = Create(MakeService("clash", "NodePort", "", 30080));
  ASSERT_EQ(clash.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(clash.status().message(), HasSubstr("spec.ports[0].nodePort"));
  ASSERT_TRUE(Delete<api::Service>("default", "fixed").ok());
  EXPECT_TRUE(Create(MakeService("clash", "NodePort", "", 30080)).ok());
}

TEST_F(ServerTest, ServiceUpdatesKeepAllocations) {
  auto svc = Create(MakeService("web", "NodePort"));
  ASSERT_TRUE(svc.ok());
  const std::string ip = (*svc)->spec().cluster_ip();
  const int port = (*svc)->spec().ports(0).node_port();
  // A client that leaves them out keeps them.
  api::Service update = MakeService("web", "NodePort");
  (*update.mutable_metadata()->mutable_labels())["x"] = "y";
  auto r = Update(update);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->spec().cluster_ip(), ip);
  EXPECT_EQ((*r)->spec().ports(0).node_port(), port);

  api::Service moved = **r;
  moved.mutable_spec()->set_cluster_ip("10.96.0.99");
  moved.mutable_spec()->clear_cluster_ips();
  auto refused = Update(moved);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("field is immutable"));

  // Switching to ClusterIP releases the node port.
  api::Service plain = **r;
  plain.mutable_spec()->set_type("ClusterIP");
  plain.mutable_spec()->mutable_ports(0)->clear_node_port();
  auto p = Update(plain);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)->spec().ports(0).node_port(), 0);
  EXPECT_TRUE(Create(MakeService("reuse", "NodePort", "", port)).ok());
}

// ---------------------------------------------------------------------------
// Status mapping

TEST(RequestTest, ToKubernetesStatusMapsCodes) {
  struct Case {
    absl::Status status;
    int code;
    const char* reason;
  };
  const Case cases[] = {
      {absl::NotFoundError("x"), 404, "NotFound"},
      {absl::AlreadyExistsError("x"), 409, "AlreadyExists"},
      {absl::AbortedError("x"), 409, "Conflict"},
      {absl::InvalidArgumentError("x"), 422, "Invalid"},
      {absl::PermissionDeniedError("x"), 403, "Forbidden"},
      {absl::UnauthenticatedError("x"), 401, "Unauthorized"},
      {absl::OutOfRangeError("x"), 410, "Expired"},
      {absl::ResourceExhaustedError("x"), 429, "TooManyRequests"},
      {absl::UnavailableError("x"), 503, "ServiceUnavailable"},
      {absl::DeadlineExceededError("x"), 504, "Timeout"},
      {absl::FailedPreconditionError("x"), 409, "Conflict"},
      {absl::UnimplementedError("x"), 405, "MethodNotAllowed"},
      {absl::InternalError("x"), 500, "InternalError"},
      {WithReason(absl::FailedPreconditionError("quota"), "Forbidden", 403), 403, "Forbidden"},
  };
  for (const Case& c : cases) {
    api::Status s = ToKubernetesStatus(c.status);
    EXPECT_EQ(s.status(), "Failure");
    EXPECT_EQ(s.code(), c.code) << c.status;
    EXPECT_EQ(s.reason(), c.reason) << c.status;
    EXPECT_EQ(s.message(), c.status.message());
  }
  api::Status ok = ToKubernetesStatus(absl::OkStatus());
  EXPECT_EQ(ok.status(), "Success");
  EXPECT_EQ(ok.code(), 200);
  EXPECT_TRUE(WithReason(absl::OkStatus(), "Forbidden", 403).ok());
}

TEST(RequestTest, ErrorTexts) {
  EXPECT_EQ(NotFoundError("pods", "web").message(), "pods \"web\" not found");
  EXPECT_EQ(AlreadyExistsError("deployments.apps", "web").message(),
            "deployments.apps \"web\" already exists");
  EXPECT_EQ(ConflictError("pods", "web", "x").message(),
            "Operation cannot be fulfilled on pods \"web\": x");
  EXPECT_EQ(ForbiddenError("pods", "web", "y").message(), "pods \"web\" is forbidden: y");
  api::Status s = ToKubernetesStatus(ConflictError("deployments.apps", "web", "x"));
  EXPECT_EQ(s.details().name(), "web");
  EXPECT_EQ(s.details().group(), "apps");
  EXPECT_EQ(s.details().kind(), "deployments");
  EXPECT_EQ(EventTypeName(EventType::kAdded), "ADDED");
  EXPECT_EQ(EventTypeName(EventType::kModified), "MODIFIED");
  EXPECT_EQ(EventTypeName(EventType::kDeleted), "DELETED");
  EXPECT_EQ(EventTypeName(EventType::kBookmark), "BOOKMARK");
}

TEST(RequestTest, InvalidCausesCarryFieldsWithoutRepeatingThem) {
  absl::Status invalid =
      api::InvalidStatus("Deployment.apps", "web",
                         {api::Invalid(api::FieldPath("spec").Child("replicas"), -1,
                                       "must be greater than or equal to 0")});
  api::Status s = ToKubernetesStatus(invalid);
  EXPECT_EQ(s.code(), 422);
  EXPECT_EQ(s.details().kind(), "Deployment");
  EXPECT_EQ(s.details().group(), "apps");
  ASSERT_EQ(s.details().causes_size(), 1);
  EXPECT_EQ(s.details().causes(0).field(), "spec.replicas");
  EXPECT_EQ(s.details().causes(0).reason(), "FieldValueInvalid");
  EXPECT_EQ(s.details().causes(0).message(),
            "Invalid value: -1: must be greater than or equal to 0");
}

// ---------------------------------------------------------------------------
// The in-process client

TEST_F(ServerTest, InProcessClientForwardsEveryVerb) {
  std::unique_ptr<client::Client> c = client::NewInProcessClient(*server_, SystemUser());
  auto pod = c->Create(MakePod("default", "web"));
  ASSERT_TRUE(pod.ok()) << pod.status();
  auto got = c->Get<api::Pod>("default", "web");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)->metadata().uid(), (*pod)->metadata().uid());

  api::Pod changed = **got;
  (*changed.mutable_metadata()->mutable_labels())["a"] = "b";
  auto updated = c->Update(changed);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ((*updated)->metadata().labels().at("a"), "b");

  api::Binding binding;
  binding.mutable_metadata()->set_name("web");
  binding.mutable_metadata()->set_namespace_("default");
  binding.mutable_target()->set_name("n1");
  CreateOptions bind;
  bind.subresource = "binding";
  auto bound = c->Create(binding, bind);
  ASSERT_TRUE(bound.ok()) << bound.status();
  EXPECT_EQ((*c->Get<api::Pod>("default", "web"))->spec().node_name(), "n1");

  auto list = c->List(c->KindOf<api::Pod>(), "default");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->items.size(), 1u);
  auto patched = c->Patch(c->KindOf<api::Pod>(), "default", "web", PatchType::kMerge,
                          R"({"metadata":{"labels":{"c":"d"}}})");
  ASSERT_TRUE(patched.ok()) << patched.status();
  auto deleted = c->Delete(c->KindOf<api::Pod>(), "default", "web");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_FALSE(deleted->deleted);  // bound: graceful
}

TEST_F(ServerTest, ClientJsonHelpers) {
  std::unique_ptr<client::Client> c = client::NewInProcessClient(*server_, SystemUser());
  auto created = c->CreateJson(R"({"apiVersion":"v1","kind":"ConfigMap",
      "metadata":{"name":"cm","namespace":"default"},"data":{"a":"1"}})");
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_THAT(*created, HasSubstr(R"("kind":"ConfigMap")"));
  EXPECT_THAT(*created, HasSubstr(R"("resourceVersion":")"));

  auto unknown = c->CreateJson(R"({"apiVersion":"v1","kind":"ConfigMap",
      "metadata":{"name":"cm2","namespace":"default"},"bogus":1})");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), HasSubstr("bogus"));

  auto got = c->GetJson(c->KindOf<api::ConfigMap>(), "default", "cm");
  ASSERT_TRUE(got.ok());
  EXPECT_THAT(*got, HasSubstr(R"("apiVersion":"v1")"));

  auto updated = c->UpdateJson(R"({"apiVersion":"v1","kind":"ConfigMap",
      "metadata":{"name":"cm","namespace":"default"},"data":{"a":"2"}})");
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_THAT(*updated, HasSubstr(R"("a":"2")"));
}

TEST_F(AuthzTest, ClientsActAsTheirUser) {
  std::unique_ptr<client::Client> c =
      client::NewInProcessClient(*server_, UserInfo{"eve", "", {}, {}});
  auto r = c->Create(MakeConfigMap("default", "cm"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
}

// ---------------------------------------------------------------------------
// Persistence

class RocksDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/korch-registry-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  absl::StatusOr<std::unique_ptr<store::Storage>> Open() {
    store::RocksDbStorageOptions o;
    o.path = dir_;
    o.sync = false;
    return store::OpenRocksDbStorage(o);
  }

  std::string dir_;
  FakeClock clock_;
};

TEST_F(RocksDbTest, ObjectsAndAllocationsSurviveARestart) {
  std::string uid;
  {
    auto storage = Open();
    ASSERT_TRUE(storage.ok()) << storage.status();
    ApiServerOptions o;
    o.storage = storage->get();
    o.clock = &clock_;
    auto server = ApiServer::Create(std::move(o));
    ASSERT_TRUE(server.ok()) << server.status();
    auto pod = (*server)->Create(SystemUser(), KindOf<api::Pod>(), "default", "",
                                 Own(MakePod("default", "web")), {});
    ASSERT_TRUE(pod.ok()) << pod.status();
    uid = Meta(*pod).uid();
    ASSERT_TRUE((*server)
                    ->Create(SystemUser(), KindOf<api::Service>(), "default", "",
                             Own(MakeService("svc", "NodePort", "10.96.0.77", 30077)), {})
                    .ok());
  }
  auto storage = Open();
  ASSERT_TRUE(storage.ok()) << storage.status();
  ApiServerOptions o;
  o.storage = storage->get();
  o.clock = &clock_;
  auto server = ApiServer::Create(std::move(o));
  ASSERT_TRUE(server.ok()) << server.status();
  auto pod = (*server)->Get(SystemUser(), KindOf<api::Pod>(), "default", "web", {});
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(Meta(*pod).uid(), uid);
  auto clash = (*server)->Create(SystemUser(), KindOf<api::Service>(), "default", "",
                                 Own(MakeService("other", "ClusterIP", "10.96.0.77")), {});
  EXPECT_EQ(clash.status().code(), absl::StatusCode::kInvalidArgument);
  auto port_clash = (*server)->Create(SystemUser(), KindOf<api::Service>(), "default", "",
                                      Own(MakeService("other2", "NodePort", "", 30077)), {});
  EXPECT_EQ(port_clash.status().code(), absl::StatusCode::kInvalidArgument);
  server->reset();
}

}  // namespace
}  // namespace korch::apiserver::testing
