// The HTTP client against the real HTTP server: an ApiServer over the
// in-memory store served on 127.0.0.1:0 (plain HTTP, and TLS with
// certificates from korch's PKI). Where it matters, answers are compared
// with the in-process client's, which is the reference.

#include "korch/client/http_client.h"

#include <stdlib.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/apps.pb.h"
#include "korch/api/autoscaling.pb.h"
#include "korch/api/coordination.pb.h"
#include "korch/api/core.pb.h"
#include "korch/api/field_errors.h"
#include "korch/api/meta.pb.h"
#include "korch/api/object.h"
#include "korch/api/selector.h"
#include "korch/apiserver/authn.h"
#include "korch/apiserver/authz.h"
#include "korch/apiserver/http_server.h"
#include "korch/apiserver/pki.h"
#include "korch/apiserver/request.h"
#include "korch/apiserver/server.h"
#include "korch/client/cache.h"
#include "korch/client/client.h"
#include "korch/client/informer.h"
#include "korch/client/leader_election.h"
#include "korch/client/workqueue.h"
#include "korch/store.h"

namespace korch::client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr char kAdminToken[] = "admin-token";
constexpr char kBobToken[] = "bob-token";
constexpr absl::Duration kWait = absl::Seconds(20);

api::ConfigMap MakeConfigMap(const std::string& ns, const std::string& name,
                             const std::string& value = "v",
                             const std::map<std::string, std::string>& labels = {}) {
  api::ConfigMap cm;
  cm.mutable_metadata()->set_namespace_(ns);
  cm.mutable_metadata()->set_name(name);
  for (const auto& [k, v] : labels) (*cm.mutable_metadata()->mutable_labels())[k] = v;
  (*cm.mutable_data())["value"] = value;
  return cm;
}

std::string ValueOf(const api::ConfigMap& cm) {
  auto it = cm.data().find("value");
  return it == cm.data().end() ? "" : it->second;
}

const api::ConfigMap& AsConfigMap(const ObjectPtr& object) {
  return static_cast<const api::ConfigMap&>(*object);
}

std::string NameOf(const ObjectPtr& object) {
  const api::ObjectMeta* meta = api::ObjectMetaOf(*object);
  return meta != nullptr ? meta->name() : "";
}

std::vector<std::string> Names(const std::vector<ObjectPtr>& objects) {
  std::vector<std::string> out;
  for (const ObjectPtr& o : objects) out.push_back(NameOf(o));
  return out;
}

api::Deployment MakeDeployment(const std::string& name, int replicas) {
  api::Deployment d;
  d.mutable_metadata()->set_namespace_("default");
  d.mutable_metadata()->set_name(name);
  d.mutable_spec()->set_replicas(replicas);
  (*d.mutable_spec()->mutable_selector()->mutable_match_labels())["app"] = name;
  (*d.mutable_spec()->mutable_template_()->mutable_metadata()->mutable_labels())["app"] = name;
  api::Container* c = d.mutable_spec()->mutable_template_()->mutable_spec()->add_containers();
  c->set_name("c");
  c->set_image("nginx:1.25");
  return d;
}

// Waits (real time, bounded) until `done` holds.
template <typename F>
bool WaitUntil(F done, absl::Duration timeout = kWait) {
  absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

// The next event that is not a bookmark (bounded).
absl::StatusOr<WatchEvent> NextChange(WatchStream& stream, absl::Duration timeout = kWait) {
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<WatchEvent> e = stream.Next(deadline - absl::Now());
    if (!e.ok() || e->type != EventType::kBookmark) return e;
  }
}

std::string Summary(const absl::StatusOr<WatchEvent>& e) {
  if (!e.ok()) return e.status().ToString();
  return absl::StrCat(EventTypeName(e->type), " ", NameOf(e->object));
}

// Asks its authenticators in order; the first with an opinion decides.
class FirstOf final : public apiserver::Authenticator {
 public:
  explicit FirstOf(std::vector<std::unique_ptr<apiserver::Authenticator>> all)
      : all_(std::move(all)) {}
  absl::string_view Name() const override { return "first-of"; }
  apiserver::AuthnResult Authenticate(const apiserver::AuthnRequest& request) const override {
    for (const auto& a : all_) {
      apiserver::AuthnResult r = a->Authenticate(request);
      if (r.decision != apiserver::AuthnResult::Decision::kNoOpinion) return r;
    }
    return apiserver::AuthnResult::NoOpinion();
  }

 private:
  std::vector<std::unique_ptr<apiserver::Authenticator>> all_;
};

// Forbids everything to user "bob" and allows everyone else.
class DenyBob final : public apiserver::Authorizer {
 public:
  absl::string_view Name() const override { return "deny-bob"; }
  apiserver::AuthzResult Authorize(const apiserver::Attributes& a) const override {
    if (a.user.name == "bob") return apiserver::AuthzResult::Deny("bob is on holiday");
    return apiserver::AuthzResult::Allow();
  }
};

class HttpClientTest : public ::testing::Test {
 protected:
  // Lets a test fixture adjust the options before the servers start.
  virtual void Customize(apiserver::ApiServerOptions& api, apiserver::HttpServerOptions& http) {}

  void SetUp() override {
    auto storage = store::OpenMemoryStorage();
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
    apiserver::ApiServerOptions api;
    api.storage = storage_.get();
    auto tokens = apiserver::TokenFileAuthenticator::FromString(
        absl::StrCat(kAdminToken, ",admin,1,system:masters\n", kBobToken, ",bob,2,devs\n"));
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    api.authenticator = std::shared_ptr<apiserver::Authenticator>(*std::move(tokens));
    api.authorization.extra.push_back(std::make_shared<DenyBob>());
    apiserver::HttpServerOptions http;
    http.listen_address = "127.0.0.1:0";
    http.plain_http = true;
    http.threads = 4;
    Customize(api, http);
    auto server = apiserver::ApiServer::Create(std::move(api));
    ASSERT_TRUE(server.ok()) << server.status();
    api_ = *std::move(server);
    auto started = apiserver::HttpServer::Start(*api_, http);
    ASSERT_TRUE(started.ok()) << started.status();
    http_ = *std::move(started);
    client_ = MakeClient(kAdminToken);
    ASSERT_NE(client_, nullptr);
  }

  void TearDown() override {
    client_.reset();
    if (http_ != nullptr) http_->Shutdown();
    http_.reset();
    api_.reset();
    storage_.reset();
  }

  virtual std::string Url() const { return absl::StrCat("http://127.0.0.1:", http_->port()); }
  // What every client of the test starts from.
  virtual HttpClientOptions BaseOptions() const {
    HttpClientOptions options;
    options.server = Url();
    return options;
  }

  std::unique_ptr<Client> MakeClient(const std::string& token) {
    HttpClientOptions options = BaseOptions();
    options.bearer_token = token;
    auto client = NewHttpClient(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  const api::KindInfo& ConfigMaps() { return client_->KindOf<api::ConfigMap>(); }

  std::shared_ptr<const api::ConfigMap> Create(const api::ConfigMap& cm) {
    auto created = client_->Create(cm);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? *created : nullptr;
  }

  void CreateNamespace(const std::string& name) {
    api::Namespace ns;
    ns.mutable_metadata()->set_name(name);
    auto created = client_->Create(ns);
    ASSERT_TRUE(created.ok()) << created.status();
  }

  int64_t StoreRevision() {
    auto rev = storage_->CurrentRevision();
    EXPECT_TRUE(rev.ok()) << rev.status();
    return rev.ok() ? *rev : -1;
  }

  std::unique_ptr<store::Storage> storage_;
  std::unique_ptr<apiserver::ApiServer> api_;
  std::unique_ptr<apiserver::HttpServer> http_;
  std::unique_ptr<Client> client_;
};

// ---- CRUD --------------------------------------------------------------------------

TEST_F(HttpClientTest, CrudRoundTripWithTypedHelpers) {
  auto created = client_->Create(MakeConfigMap("default", "web", "1"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_FALSE((*created)->metadata().uid().empty());
  EXPECT_FALSE((*created)->metadata().resource_version().empty());
  EXPECT_EQ(ValueOf(**created), "1");

  auto got = client_->Get<api::ConfigMap>("default", "web");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)->metadata().uid(), (*created)->metadata().uid());
  EXPECT_EQ(ValueOf(**got), "1");

  api::ConfigMap change = **got;
  (*change.mutable_data())["value"] = "2";
  auto updated = client_->Update(change);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(ValueOf(**updated), "2");
  EXPECT_NE((*updated)->metadata().resource_version(), (*got)->metadata().resource_version());

  // JSON helpers go through the same verbs.
  auto json = client_->GetJson(ConfigMaps(), "default", "web");
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_THAT(*json, HasSubstr("\"kind\":\"ConfigMap\""));
  EXPECT_THAT(*json, HasSubstr("\"value\":\"2\""));

  // Gone at once: the server answers with a Status; the result names it.
  auto deleted = client_->Delete(ConfigMaps(), "default", "web");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_TRUE(deleted->deleted);
  ASSERT_NE(deleted->object, nullptr);
  EXPECT_EQ(AsConfigMap(deleted->object).metadata().name(), "web");
  EXPECT_EQ(AsConfigMap(deleted->object).metadata().namespace_(), "default");
  EXPECT_EQ(AsConfigMap(deleted->object).metadata().uid(), (*created)->metadata().uid());
  EXPECT_EQ(client_->Get<api::ConfigMap>("default", "web").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(HttpClientTest, GroupsClusterScopeSubresourcesAndDryRun) {
  // A named group (/apis/apps/v1) and its scale subresource.
  auto deployment = client_->Create(MakeDeployment("web", 3));
  ASSERT_TRUE(deployment.ok()) << deployment.status();
  auto scale = client_->Get(client_->KindOf<api::Deployment>(), "default", "web",
                            GetOptions{.subresource = "scale"});
  ASSERT_TRUE(scale.ok()) << scale.status();
  const auto* as_scale = dynamic_cast<const api::Scale*>(scale->get());
  ASSERT_NE(as_scale, nullptr) << (*scale)->GetTypeName();
  EXPECT_EQ(as_scale->spec().replicas(), 3);
  api::Scale rescale = *as_scale;
  rescale.mutable_spec()->set_replicas(5);
  UpdateOptions scale_update;
  scale_update.subresource = "scale";
  auto rescaled = client_->Update(client_->KindOf<api::Deployment>(), rescale, scale_update);
  ASSERT_TRUE(rescaled.ok()) << rescaled.status();
  auto after = client_->Get<api::Deployment>("default", "web");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ((*after)->spec().replicas(), 5);

  // The status subresource changes only the status.
  api::Deployment with_status = **after;
  with_status.mutable_status()->set_replicas(2);
  with_status.mutable_spec()->set_replicas(9);
  UpdateOptions status_update;
  status_update.subresource = "status";
  auto status_updated = client_->Update(with_status, status_update);
  ASSERT_TRUE(status_updated.ok()) << status_updated.status();
  EXPECT_EQ((*status_updated)->status().replicas(), 2);
  EXPECT_EQ((*status_updated)->spec().replicas(), 5);

  // Cluster-scoped kinds have no namespace in their path.
  CreateNamespace("team-a");
  auto ns = client_->Get<api::Namespace>("", "team-a");
  ASSERT_TRUE(ns.ok()) << ns.status();
  EXPECT_EQ((*ns)->metadata().name(), "team-a");

  // Dry run: the answer is what would be stored; nothing is.
  CreateOptions dry;
  dry.dry_run = true;
  auto would = client_->Create(MakeConfigMap("default", "dry"), dry);
  ASSERT_TRUE(would.ok()) << would.status();
  EXPECT_EQ((*would)->metadata().name(), "dry");
  EXPECT_EQ(client_->Get<api::ConfigMap>("default", "dry").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(HttpClientTest, PodsAnswerDeletesWithTheObjectAndBindingsPost) {
  api::Pod pod;
  pod.mutable_metadata()->set_namespace_("default");
  pod.mutable_metadata()->set_name("p");
  api::Container* c = pod.mutable_spec()->add_containers();
  c->set_name("c");
  c->set_image("nginx:1.25");
  ASSERT_TRUE(client_->Create(pod).ok());
  api::Node node;
  node.mutable_metadata()->set_name("n1");
  ASSERT_TRUE(client_->Create(node).ok());

  api::Binding binding;
  binding.mutable_metadata()->set_namespace_("default");
  binding.mutable_metadata()->set_name("p");
  binding.mutable_target()->set_kind("Node");
  binding.mutable_target()->set_name("n1");
  CreateOptions bind;
  bind.subresource = "binding";
  auto bound = client_->Create(client_->KindOf<api::Pod>(), binding, bind);
  ASSERT_TRUE(bound.ok()) << bound.status();
  auto got = client_->Get<api::Pod>("default", "p");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)->spec().node_name(), "n1");

  // A bound pod is deleted gracefully: the answer is the pod, still there.
  auto pending = client_->Delete(client_->KindOf<api::Pod>(), "default", "p");
  ASSERT_TRUE(pending.ok()) << pending.status();
  EXPECT_FALSE(pending->deleted);
  EXPECT_TRUE(static_cast<const api::Pod&>(*pending->object).metadata().has_deletion_timestamp());
  // With grace 0 it goes at once.
  DeleteOptions now;
  now.grace_period_seconds = 0;
  auto gone = client_->Delete(client_->KindOf<api::Pod>(), "default", "p", now);
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_TRUE(gone->deleted);
  EXPECT_EQ(client_->Get<api::Pod>("default", "p").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(HttpClientTest, DeletePreconditionsAndDeleteCollection) {
  auto a = Create(MakeConfigMap("default", "a", "v", {{"group", "x"}}));
  Create(MakeConfigMap("default", "b", "v", {{"group", "x"}}));
  Create(MakeConfigMap("default", "c", "v", {{"group", "y"}}));
  ASSERT_NE(a, nullptr);

  DeleteOptions wrong_uid;
  wrong_uid.precondition_uid = "not-the-uid";
  auto refused = client_->Delete(ConfigMaps(), "default", "a", wrong_uid);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kAborted) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("Precondition failed"));

  ListOptions selection;
  selection.label_selector = "group=x";
  auto deleted = client_->DeleteCollection(ConfigMaps(), "default", selection);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_THAT(Names(deleted->items), UnorderedElementsAre("a", "b"));
  auto left = client_->List(ConfigMaps(), "default");
  ASSERT_TRUE(left.ok()) << left.status();
  EXPECT_THAT(Names(left->items), ElementsAre("c"));
}

// ---- Errors ---------------------------------------------------------------------------

TEST_F(HttpClientTest, ErrorsHaveTheInProcessClientsCodesMessagesAndCauses) {
  auto in_process = NewInProcessClient(
      *api_,
      apiserver::UserInfo{.name = "admin", .uid = "1", .groups = {"system:masters"}, .extra = {}});
  // Each call runs against both clients; the answers must agree.
  auto expect_same = [&](const char* what, auto call, absl::StatusCode code) {
    absl::Status over_http = call(*client_);
    absl::Status local = call(*in_process);
    EXPECT_EQ(over_http.code(), code) << what << ": " << over_http;
    EXPECT_EQ(local.code(), code) << what << ": " << local;
    EXPECT_EQ(over_http.message(), local.message()) << what;
    api::Status http_k8s = apiserver::ToKubernetesStatus(over_http);
    api::Status local_k8s = apiserver::ToKubernetesStatus(local);
    EXPECT_EQ(http_k8s.reason(), local_k8s.reason()) << what;
    EXPECT_EQ(http_k8s.code(), local_k8s.code()) << what;
    return over_http;
  };

  (void)expect_same(
      "not found", [](Client& c) { return c.Get<api::ConfigMap>("default", "nope").status(); },
      absl::StatusCode::kNotFound);

  ASSERT_NE(Create(MakeConfigMap("default", "taken")), nullptr);
  (void)expect_same(
      "already exists",
      [](Client& c) { return c.Create(MakeConfigMap("default", "taken")).status(); },
      absl::StatusCode::kAlreadyExists);

  auto current = client_->Get<api::ConfigMap>("default", "taken");
  ASSERT_TRUE(current.ok());
  api::ConfigMap stale = **current;
  (*stale.mutable_data())["value"] = "first";
  ASSERT_TRUE(client_->Update(stale).ok());
  absl::Status conflict = expect_same(
      "conflict",
      [&](Client& c) {
        api::ConfigMap again = stale;  // still carries the old resourceVersion
        (*again.mutable_data())["value"] = "second";
        return c.Update(again).status();
      },
      absl::StatusCode::kAborted);
  EXPECT_THAT(conflict.message(), HasSubstr("the object has been modified"));

  absl::Status invalid = expect_same(
      "invalid",
      [](Client& c) {
        api::ConfigMap bad = MakeConfigMap("default", "Bad_Name");
        (*bad.mutable_metadata()->mutable_labels())["-bad"] = "x";
        return c.Create(bad).status();
      },
      absl::StatusCode::kInvalidArgument);
  api::FieldErrorList causes = api::InvalidCauses(invalid);
  ASSERT_GE(causes.size(), 2u) << invalid;
  api::Status local_invalid = apiserver::ToKubernetesStatus(
      in_process->Create(MakeConfigMap("default", "Bad_Name")).status());
  std::vector<std::string> fields;
  for (const api::FieldError& e : causes) fields.push_back(e.field);
  EXPECT_THAT(fields, ::testing::Contains("metadata.name"));
  // The causes survive the trip: a transport serving this status again
  // sends what the server sent.
  api::FieldErrorList local_causes;
  {
    api::ConfigMap bad = MakeConfigMap("default", "Bad_Name");
    (*bad.mutable_metadata()->mutable_labels())["-bad"] = "x";
    local_causes = api::InvalidCauses(in_process->Create(bad).status());
  }
  ASSERT_EQ(causes.size(), local_causes.size());
  for (size_t i = 0; i < causes.size(); ++i) {
    EXPECT_EQ(causes[i].type, local_causes[i].type) << i;
    EXPECT_EQ(causes[i].field, local_causes[i].field) << i;
    EXPECT_EQ(causes[i].ToString(), local_causes[i].ToString()) << i;
  }
  api::Status again = apiserver::ToKubernetesStatus(invalid);
  EXPECT_EQ(again.reason(), "Invalid");
  EXPECT_EQ(again.details().kind(), "ConfigMap");
  EXPECT_EQ(again.details().name(), "Bad_Name");
  ASSERT_EQ(again.details().causes_size(), static_cast<int>(causes.size()));
  EXPECT_EQ(local_invalid.reason(), "Invalid");

  // Forbidden, for a user the authorizer denies.
  auto bob = MakeClient(kBobToken);
  auto bob_local = NewInProcessClient(
      *api_, apiserver::UserInfo{.name = "bob", .uid = "2", .groups = {"devs"}, .extra = {}});
  absl::Status forbidden = bob->List(ConfigMaps(), "default").status();
  absl::Status forbidden_local = bob_local->List(ConfigMaps(), "default").status();
  EXPECT_EQ(forbidden.code(), absl::StatusCode::kPermissionDenied) << forbidden;
  EXPECT_EQ(forbidden.message(), forbidden_local.message());
  EXPECT_THAT(forbidden.message(), HasSubstr("bob is on holiday"));

  // A namespaced object needs a namespace.
  (void)expect_same(
      "no namespace", [](Client& c) { return c.Create(MakeConfigMap("", "x")).status(); },
      absl::StatusCode::kInvalidArgument);
  (void)expect_same(
      "no namespace in an update",
      [](Client& c) { return c.Update(MakeConfigMap("", "taken")).status(); },
      absl::StatusCode::kInvalidArgument);
  // A bad selector is a bad request.
  ListOptions bad_selector;
  bad_selector.label_selector = "a in (";
  absl::Status bad = client_->List(ConfigMaps(), "default", bad_selector).status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument) << bad;
  EXPECT_EQ(apiserver::ToKubernetesStatus(bad).code(), 400);
}

TEST_F(HttpClientTest, UnknownCredentialsAreUnauthenticated) {
  auto stranger = MakeClient("who-knows");
  absl::Status s = stranger->List(ConfigMaps(), "default").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << s;
  EXPECT_EQ(apiserver::ToKubernetesStatus(s).reason(), "Unauthorized");
  auto nobody = MakeClient("");
  EXPECT_EQ(nobody->List(ConfigMaps(), "default").status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(HttpClientTest, AServerThatIsGoneIsUnavailableNamingIt) {
  const std::string url = Url();
  http_->Shutdown();
  auto s = client_->Get<api::ConfigMap>("default", "x").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(s.message(), HasSubstr(url));
  EXPECT_EQ(client_->Watch(ConfigMaps(), "default", {}).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(FromKubernetesStatusTest, MapsReasonsAndCodes) {
  struct Case {
    const char* reason;
    int code;
    absl::StatusCode want;
  };
  const Case cases[] = {
      {"NotFound", 404, absl::StatusCode::kNotFound},
      {"AlreadyExists", 409, absl::StatusCode::kAlreadyExists},
      {"Conflict", 409, absl::StatusCode::kAborted},
      {"Invalid", 422, absl::StatusCode::kInvalidArgument},
      {"BadRequest", 400, absl::StatusCode::kInvalidArgument},
      {"Forbidden", 403, absl::StatusCode::kPermissionDenied},
      {"Unauthorized", 401, absl::StatusCode::kUnauthenticated},
      {"Expired", 410, absl::StatusCode::kOutOfRange},
      {"Gone", 410, absl::StatusCode::kOutOfRange},
      {"TooManyRequests", 429, absl::StatusCode::kResourceExhausted},
      {"ServiceUnavailable", 503, absl::StatusCode::kUnavailable},
      {"Timeout", 504, absl::StatusCode::kDeadlineExceeded},
      {"MethodNotAllowed", 405, absl::StatusCode::kUnimplemented},
      {"InternalError", 500, absl::StatusCode::kInternal},
      {"UnsupportedMediaType", 415, absl::StatusCode::kInvalidArgument},
      // Unknown reasons fall back to the HTTP code.
      {"", 404, absl::StatusCode::kNotFound},
      {"SomethingNew", 409, absl::StatusCode::kAborted},
      {"", 500, absl::StatusCode::kInternal},
      {"", 502, absl::StatusCode::kUnavailable},
      {"", 503, absl::StatusCode::kUnavailable},
      {"", 418, absl::StatusCode::kInvalidArgument},
  };
  for (const Case& c : cases) {
    api::Status k8s;
    k8s.set_status("Failure");
    k8s.set_reason(c.reason);
    k8s.set_code(c.code);
    k8s.set_message(absl::StrCat("message for ", c.reason));
    absl::Status s = FromKubernetesStatus(k8s);
    EXPECT_EQ(s.code(), c.want) << c.reason << " " << c.code;
    EXPECT_EQ(s.message(), absl::StrCat("message for ", c.reason));
    if (c.reason[0] != '\0') {
      // Served again, it is the same Status.
      api::Status back = apiserver::ToKubernetesStatus(s);
      EXPECT_EQ(back.reason(), c.reason);
      EXPECT_EQ(back.code(), c.code);
    }
  }
  // The code may come from the HTTP answer alone.
  api::Status no_code;
  no_code.set_status("Failure");
  EXPECT_EQ(FromKubernetesStatus(no_code, 404).code(), absl::StatusCode::kNotFound);
  api::Status success;
  success.set_status("Success");
  success.set_code(200);
  EXPECT_TRUE(FromKubernetesStatus(success).ok());
  // Every korch status survives the round trip through Kubernetes' form.
  for (const absl::Status& original :
       {apiserver::NotFoundError("pods", "web"), apiserver::AlreadyExistsError("pods", "web"),
        apiserver::ConflictError("deployments.apps", "web", "changed"),
        apiserver::ForbiddenError("pods", "web", "no"), absl::OutOfRangeError("too old"),
        absl::ResourceExhaustedError("slow down"), absl::UnavailableError("later"),
        absl::UnauthenticatedError("who")}) {
    absl::Status back = FromKubernetesStatus(apiserver::ToKubernetesStatus(original));
    EXPECT_EQ(back.code(), original.code()) << original;
    EXPECT_EQ(back.message(), original.message());
  }
}

// ---- Lists ------------------------------------------------------------------------------

TEST_F(HttpClientTest, ListsWithSelectorsAndPages) {
  CreateNamespace("paging");
  for (int i = 0; i < 7; ++i) {
    ASSERT_NE(Create(MakeConfigMap("paging", absl::StrCat("cm-", i), "v",
                                   {{"tier", i < 3 ? "front" : "back"}})),
              nullptr);
  }
  ASSERT_NE(Create(MakeConfigMap("default", "elsewhere")), nullptr);

  ListOptions front;
  front.label_selector = "tier=front";
  auto fronts = client_->List(ConfigMaps(), "paging", front);
  ASSERT_TRUE(fronts.ok()) << fronts.status();
  EXPECT_THAT(Names(fronts->items), UnorderedElementsAre("cm-0", "cm-1", "cm-2"));
  EXPECT_FALSE(fronts->resource_version.empty());

  ListOptions not_front;
  not_front.label_selector = "tier notin (front)";
  auto backs = client_->List(ConfigMaps(), "paging", not_front);
  ASSERT_TRUE(backs.ok()) << backs.status();
  EXPECT_EQ(backs->items.size(), 4u);

  ListOptions by_name;
  by_name.field_selector = "metadata.name=cm-4";
  auto one = client_->List(ConfigMaps(), "paging", by_name);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_THAT(Names(one->items), ElementsAre("cm-4"));

  // Every namespace at once.
  auto all = client_->List(ConfigMaps(), "");
  ASSERT_TRUE(all.ok()) << all.status();
  std::set<std::string> all_names;
  for (const ObjectPtr& o : all->items) all_names.insert(NameOf(o));
  EXPECT_TRUE(all_names.count("elsewhere") && all_names.count("cm-6"));

  // Pages of 3 at one revision, followed by their continue tokens.
  ListOptions page;
  page.limit = 3;
  std::vector<std::string> paged;
  std::string revision;
  for (int i = 0; i < 10; ++i) {
    auto result = client_->List(ConfigMaps(), "paging", page);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_LE(result->items.size(), 3u);
    if (i == 0) {
      revision = result->resource_version;
      EXPECT_EQ(result->remaining_item_count, 4);
      // A write between pages does not show in later pages.
      ASSERT_NE(Create(MakeConfigMap("paging", "late")), nullptr);
    }
    EXPECT_EQ(result->resource_version, revision);
    for (const std::string& n : Names(result->items)) paged.push_back(n);
    if (result->continue_token.empty()) break;
    page.continue_token = result->continue_token;
  }
  EXPECT_THAT(paged, ElementsAre("cm-0", "cm-1", "cm-2", "cm-3", "cm-4", "cm-5", "cm-6"));
}

// ---- Watches ------------------------------------------------------------------------------

TEST_F(HttpClientTest, WatchSendsInitialEventsThenEveryChange) {
  ASSERT_NE(Create(MakeConfigMap("default", "a")), nullptr);
  ASSERT_NE(Create(MakeConfigMap("default", "b")), nullptr);
  auto stream = client_->Watch(ConfigMaps(), "default", {});
  ASSERT_TRUE(stream.ok()) << stream.status();
  std::set<std::string> initial;
  for (int i = 0; i < 2; ++i) {
    auto e = NextChange(**stream);
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->type, EventType::kAdded);
    initial.insert(NameOf(e->object));
  }
  EXPECT_THAT(initial, UnorderedElementsAre("a", "b"));
  EXPECT_EQ((*stream)->Next(absl::Milliseconds(20)).status().code(),
            absl::StatusCode::kDeadlineExceeded);

  ASSERT_NE(Create(MakeConfigMap("default", "c")), nullptr);
  api::ConfigMap a = MakeConfigMap("default", "a", "changed");
  ASSERT_TRUE(client_->Update(a).ok());
  ASSERT_TRUE(client_->Delete(ConfigMaps(), "default", "b").ok());
  EXPECT_EQ(Summary(NextChange(**stream)), "ADDED c");
  auto modified = NextChange(**stream);
  EXPECT_EQ(Summary(modified), "MODIFIED a");
  if (modified.ok()) {
    EXPECT_EQ(ValueOf(AsConfigMap(modified->object)), "changed");
    EXPECT_EQ(modified->object->GetDescriptor(), api::ConfigMap::descriptor());
  }
  EXPECT_EQ(Summary(NextChange(**stream)), "DELETED b");
}

// With bookmarks every 200 ms (the default, a minute, is too long to wait).
class HttpClientBookmarkTest : public HttpClientTest {
 protected:
  void Customize(apiserver::ApiServerOptions& api, apiserver::HttpServerOptions& http) override {
    http.bookmark_interval = absl::Milliseconds(200);
  }
};

TEST_F(HttpClientBookmarkTest, WatchFromAListRevisionWithSelectorsAndBookmarks) {
  ASSERT_NE(Create(MakeConfigMap("default", "old", "v", {{"app", "x"}})), nullptr);
  auto list = client_->List(ConfigMaps(), "default");
  ASSERT_TRUE(list.ok());
  WatchOptions options;
  options.resource_version = list->resource_version;
  options.label_selector = "app=x";
  options.allow_bookmarks = true;
  auto stream = client_->Watch(ConfigMaps(), "default", options);
  ASSERT_TRUE(stream.ok()) << stream.status();
  ASSERT_NE(Create(MakeConfigMap("default", "other", "v", {{"app", "y"}})), nullptr);
  ASSERT_NE(Create(MakeConfigMap("default", "new", "v", {{"app", "x"}})), nullptr);
  // Only changes after the list, only matching ones.
  EXPECT_EQ(Summary(NextChange(**stream)), "ADDED new");
  // The server sends bookmarks every 200 ms when allowed.
  bool bookmark = false;
  absl::Time deadline = absl::Now() + kWait;
  while (!bookmark && absl::Now() < deadline) {
    auto e = (*stream)->Next(deadline - absl::Now());
    ASSERT_TRUE(e.ok()) << e.status();
    if (e->type == EventType::kBookmark) {
      bookmark = true;
      EXPECT_EQ(e->object->GetDescriptor(), api::ConfigMap::descriptor());
      int64_t rv = 0;
      EXPECT_TRUE(absl::SimpleAtoi(api::ObjectMetaOf(*e->object)->resource_version(), &rv));
      EXPECT_GT(rv, 0);
    }
  }
  EXPECT_TRUE(bookmark);
}

TEST_F(HttpClientTest, WatchFromACompactedRevisionEndsExpired) {
  auto created = Create(MakeConfigMap("default", "a", "0"));
  ASSERT_NE(created, nullptr);
  const std::string old_revision = created->metadata().resource_version();
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(client_->Update(MakeConfigMap("default", "a", absl::StrCat(i))).ok());
  }
  ASSERT_TRUE(storage_->Compact(StoreRevision()).ok());
  WatchOptions options;
  options.resource_version = old_revision;
  auto stream = client_->Watch(ConfigMaps(), "default", options);
  ASSERT_TRUE(stream.ok()) << stream.status();
  absl::StatusOr<WatchEvent> e = (*stream)->Next(kWait);
  EXPECT_EQ(e.status().code(), absl::StatusCode::kOutOfRange) << e.status();
  EXPECT_EQ(apiserver::ToKubernetesStatus(e.status()).reason(), "Expired");
  // An ended stream keeps its status.
  EXPECT_EQ((*stream)->Next(absl::Milliseconds(1)).status().code(), absl::StatusCode::kOutOfRange);
}

TEST_F(HttpClientTest, CancelWakesABlockedNextPromptly) {
  auto stream = client_->Watch(ConfigMaps(), "default", {});
  ASSERT_TRUE(stream.ok()) << stream.status();
  absl::Notification started;
  absl::Status seen;
  absl::Duration waited;
  std::thread consumer([&] {
    started.Notify();
    absl::Time begin = absl::Now();
    seen = (*stream)->Next(absl::Seconds(60)).status();
    waited = absl::Now() - begin;
  });
  started.WaitForNotification();
  (*stream)->Cancel();
  consumer.join();
  EXPECT_EQ(seen.code(), absl::StatusCode::kCancelled) << seen;
  EXPECT_LT(waited, kWait);
  EXPECT_EQ((*stream)->Next(absl::ZeroDuration()).status().code(), absl::StatusCode::kCancelled);
  // The server sees the watch go.
  EXPECT_TRUE(WaitUntil([&] { return http_->Stats().active_watches == 0; }));

  // Destroying a stream that nobody cancelled closes it too.
  auto other = client_->Watch(ConfigMaps(), "default", {});
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(WaitUntil([&] { return http_->Stats().active_watches == 1; }));
  other->reset();
  EXPECT_TRUE(WaitUntil([&] { return http_->Stats().active_watches == 0; }));
}

TEST_F(HttpClientTest, WatchEndsUnavailableAtItsTimeoutAndAtServerShutdown) {
  WatchOptions short_watch;
  short_watch.timeout = absl::Seconds(1);
  auto stream = client_->Watch(ConfigMaps(), "default", short_watch);
  ASSERT_TRUE(stream.ok()) << stream.status();
  absl::StatusOr<WatchEvent> e = NextChange(**stream);
  EXPECT_EQ(e.status().code(), absl::StatusCode::kUnavailable) << e.status();

  auto open = client_->Watch(ConfigMaps(), "default", {});
  ASSERT_TRUE(open.ok()) << open.status();
  http_->Shutdown();
  e = NextChange(**open);
  EXPECT_EQ(e.status().code(), absl::StatusCode::kUnavailable) << e.status();
}

TEST_F(HttpClientTest, AWatcherThatFallsBehindEndsResourceExhausted) {
  WatchOptions options;
  options.max_pending_events = 3;
  auto stream = client_->Watch(ConfigMaps(), "default", options);
  ASSERT_TRUE(stream.ok()) << stream.status();
  for (int i = 0; i < 6; ++i)
    ASSERT_NE(Create(MakeConfigMap("default", absl::StrCat("x", i))), nullptr);
  // The stream's reader gives up (and closes the connection) at the fourth
  // event; the three it kept come first, then the end.
  EXPECT_TRUE(WaitUntil([&] { return http_->Stats().active_watches == 0; }));
  absl::Status end;
  int delivered = 0;
  for (int i = 0; i < 10 && end.ok(); ++i) {
    auto e = (*stream)->Next(kWait);
    if (e.ok()) ++delivered;
    if (!e.ok()) end = e.status();
  }
  EXPECT_EQ(delivered, 3);
  EXPECT_EQ(end.code(), absl::StatusCode::kResourceExhausted) << end;
}

// ---- Patches ------------------------------------------------------------------------------

TEST_F(HttpClientTest, EveryPatchType) {
  ASSERT_NE(Create(MakeConfigMap("default", "p", "0")), nullptr);
  const api::KindInfo& kind = ConfigMaps();
  auto patched =
      client_->Patch(kind, "default", "p", PatchType::kMerge, R"({"data":{"value":"merge"}})");
  ASSERT_TRUE(patched.ok()) << patched.status();
  EXPECT_EQ(ValueOf(AsConfigMap(*patched)), "merge");

  patched = client_->Patch(kind, "default", "p", PatchType::kStrategicMerge,
                           R"({"metadata":{"labels":{"s":"1"}},"data":{"value":"strategic"}})");
  ASSERT_TRUE(patched.ok()) << patched.status();
  EXPECT_EQ(ValueOf(AsConfigMap(*patched)), "strategic");
  EXPECT_EQ(AsConfigMap(*patched).metadata().labels().at("s"), "1");

  patched = client_->Patch(kind, "default", "p", PatchType::kJson,
                           R"([{"op":"replace","path":"/data/value","value":"json"}])");
  ASSERT_TRUE(patched.ok()) << patched.status();
  EXPECT_EQ(ValueOf(AsConfigMap(*patched)), "json");

  // Server-side apply creates what is absent and updates what it owns.
  PatchOptions apply;
  apply.field_manager = "http-client-test";
  const std::string manifest =
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"applied","namespace":"default"},"data":{"value":"%s"}})";
  auto applied = client_->Patch(kind, "default", "applied", PatchType::kApply,
                                absl::StrReplaceAll(manifest, {{"%s", "one"}}), apply);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(ValueOf(AsConfigMap(*applied)), "one");
  applied = client_->Patch(kind, "default", "applied", PatchType::kApply,
                           absl::StrReplaceAll(manifest, {{"%s", "two"}}), apply);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(ValueOf(AsConfigMap(*applied)), "two");

  // A dry-run patch changes nothing.
  PatchOptions dry;
  dry.dry_run = true;
  patched =
      client_->Patch(kind, "default", "p", PatchType::kMerge, R"({"data":{"value":"dry"}})", dry);
  ASSERT_TRUE(patched.ok()) << patched.status();
  EXPECT_EQ(ValueOf(AsConfigMap(*patched)), "dry");
  auto now = client_->Get<api::ConfigMap>("default", "p");
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(ValueOf(**now), "json");

  // A resourceVersion in a patch is a precondition.
  auto conflict = client_->Patch(kind, "default", "p", PatchType::kMerge,
                                 R"({"metadata":{"resourceVersion":"1"},"data":{"value":"x"}})");
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAborted) << conflict.status();
  // A patch that does not parse is a bad request.
  auto malformed = client_->Patch(kind, "default", "p", PatchType::kJson, "{not json");
  EXPECT_EQ(malformed.status().code(), absl::StatusCode::kInvalidArgument) << malformed.status();
}

// ---- Concurrency -----------------------------------------------------------------------

TEST_F(HttpClientTest, EightThreadsShareOneClient) {
  constexpr int kThreads = 8;
  constexpr int kRounds = 20;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        const std::string name = absl::StrCat("t", t, "-", r);
        auto created = client_->Create(MakeConfigMap("default", name, "0"));
        if (!created.ok()) {
          ++failures;
          ADD_FAILURE() << created.status();
          continue;
        }
        api::ConfigMap change = **created;
        (*change.mutable_data())["value"] = "1";
        auto updated = client_->Update(change);
        auto got = client_->Get<api::ConfigMap>("default", name);
        if (!updated.ok() || !got.ok() || ValueOf(**got) != "1") {
          ++failures;
          continue;
        }
        if (r % 2 == 0 && !client_->Delete(ConfigMaps(), "default", name).ok()) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto list = client_->List(ConfigMaps(), "default");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->items.size(), static_cast<size_t>(kThreads * kRounds / 2));
  // Kept-alive connections were reused: far fewer than one per request.
  EXPECT_LE(http_->Stats().open_connections, 2 * kThreads);
}

// ---- Informers and work queues over HTTP ------------------------------------------------

TEST_F(HttpClientTest, InformerAndWorkQueueWorkUnchangedOverHttp) {
  for (const char* name : {"a", "b", "c"}) {
    ASSERT_NE(Create(MakeConfigMap("default", name, "0")), nullptr);
  }
  ASSERT_NE(Create(MakeConfigMap("kube-system", "not-mine")), nullptr);

  InformerOptions options;
  options.namespace_ = "default";
  options.page_size = 2;  // the first list takes two pages
  Informer informer(*client_, ConfigMaps(), options);
  WorkQueue queue;
  auto enqueue = [&](const ObjectPtr& o) {
    auto key = ObjectKey(*o);
    if (key.ok()) queue.Add(*key);
  };
  ResourceEventHandler handler;
  handler.on_add = enqueue;
  handler.on_update = [&](const ObjectPtr&, const ObjectPtr& n) { enqueue(n); };
  handler.on_delete = enqueue;
  informer.AddEventHandler(handler);

  // A controller: each key's current state, from the cache, goes into
  // `world` (or leaves it when the object is gone).
  absl::Mutex mu;
  std::map<std::string, std::string> world;
  std::thread worker([&] {
    while (std::optional<std::string> key = queue.Get()) {
      Lister<api::ConfigMap> lister(informer);
      std::string name = key->substr(key->find('/') + 1);
      std::shared_ptr<const api::ConfigMap> cm = lister.Get("default", name);
      {
        absl::MutexLock l(&mu);
        if (cm == nullptr) {
          world.erase(*key);
        } else {
          world[*key] = ValueOf(*cm);
        }
      }
      queue.Forget(*key);
      queue.Done(*key);
    }
  });
  auto world_is = [&](std::map<std::string, std::string> want) {
    return WaitUntil([&] {
      absl::MutexLock l(&mu);
      return world == want;
    });
  };

  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(kWait));
  EXPECT_EQ(informer.ListCount(), 1);
  EXPECT_TRUE(world_is({{"default/a", "0"}, {"default/b", "0"}, {"default/c", "0"}}));

  ASSERT_NE(Create(MakeConfigMap("default", "d", "new")), nullptr);
  ASSERT_TRUE(client_->Update(MakeConfigMap("default", "a", "1")).ok());
  ASSERT_TRUE(client_->Delete(ConfigMaps(), "default", "b").ok());
  ASSERT_NE(Create(MakeConfigMap("kube-system", "still-not-mine")), nullptr);
  EXPECT_TRUE(world_is({{"default/a", "1"}, {"default/c", "0"}, {"default/d", "new"}}));
  EXPECT_EQ(informer.indexer().List().size(), 3u);

  // Writes the informer does not see (another namespace) move the store
  // past its revision, which is then compacted away: its next watch gets
  // 410 Expired over HTTP and it lists again.
  ASSERT_NE(Create(MakeConfigMap("kube-system", "moves-the-revision")), nullptr);
  ASSERT_TRUE(client_->Update(MakeConfigMap("kube-system", "moves-the-revision", "2")).ok());
  ASSERT_TRUE(storage_->Compact(StoreRevision()).ok());
  informer.RestartWatchForTest();
  EXPECT_TRUE(WaitUntil([&] { return informer.ListCount() >= 2; }));
  ASSERT_TRUE(client_->Update(MakeConfigMap("default", "c", "after-compaction")).ok());
  EXPECT_TRUE(
      world_is({{"default/a", "1"}, {"default/c", "after-compaction"}, {"default/d", "new"}}));

  informer.Stop();
  queue.ShutDown();
  worker.join();
}

TEST_F(HttpClientTest, SharedInformerFactoryAndListersOverHttp) {
  ASSERT_NE(Create(MakeConfigMap("default", "x", "1", {{"app", "web"}})), nullptr);
  SharedInformerFactory factory(*client_);
  Informer& cms = factory.For<api::ConfigMap>();
  Informer& namespaces = factory.For<api::Namespace>();
  EXPECT_EQ(&cms, &factory.For<api::ConfigMap>());
  factory.Start();
  ASSERT_TRUE(factory.WaitForCacheSync(kWait));
  Lister<api::ConfigMap> lister(cms);
  auto selector = api::Selector::Parse("app=web");
  ASSERT_TRUE(selector.ok()) << selector.status();
  EXPECT_EQ(lister.List("default", *selector).size(), 1u);
  Lister<api::Namespace> ns_lister(namespaces);
  EXPECT_NE(ns_lister.Get("", "default"), nullptr);
  ASSERT_NE(Create(MakeConfigMap("default", "y", "1", {{"app", "web"}})), nullptr);
  EXPECT_TRUE(WaitUntil([&] { return lister.List("default", *selector).size() == 2; }));
  factory.Stop();
}

TEST_F(HttpClientTest, LeaderElectionOverHttpHandsOverOnRelease) {
  auto other_client = MakeClient(kAdminToken);
  std::atomic<int> leading{0};
  auto make = [&](Client& client, const std::string& identity) {
    LeaderElectionOptions options;
    options.lease_name = "http-client-test";
    options.identity = identity;
    options.lease_duration = absl::Seconds(3);
    options.renew_deadline = absl::Seconds(2);
    options.retry_period = absl::Milliseconds(50);
    options.release_on_cancel = true;
    options.on_started_leading = [&](const LeadershipContext&) { ++leading; };
    auto elector = LeaderElector::Create(client, options);
    EXPECT_TRUE(elector.ok()) << elector.status();
    return elector.ok() ? *std::move(elector) : nullptr;
  };
  auto first = make(*client_, "first");
  auto second = make(*other_client, "second");
  ASSERT_TRUE(first != nullptr && second != nullptr);
  ASSERT_TRUE(first->Start().ok());
  ASSERT_TRUE(WaitUntil([&] { return first->IsLeader(); }));
  ASSERT_TRUE(second->Start().ok());
  EXPECT_TRUE(WaitUntil([&] { return second->GetLeader() == "first"; }));
  EXPECT_FALSE(second->IsLeader());
  first->Stop();
  EXPECT_TRUE(WaitUntil([&] { return second->IsLeader(); }));
  auto lease = client_->Get<api::Lease>("default", "http-client-test");
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ((*lease)->spec().holder_identity(), "second");
  second->Stop();
  EXPECT_EQ(leading.load(), 2);
}

// ---- TLS ------------------------------------------------------------------------------

// A temporary directory removed at the end.
class TempDir {
 public:
  TempDir() {
    std::string templ = ::testing::TempDir() + "/korch-http-client-XXXXXX";
    path_ = mkdtemp(templ.data()) != nullptr ? templ : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string File(absl::string_view name, absl::string_view contents) const {
    std::string p = absl::StrCat(path_, "/", name);
    std::ofstream(p) << contents;
    return p;
  }

 private:
  std::string path_;
};

class HttpClientTlsTest : public HttpClientTest {
 protected:
  void SetUp() override {
    auto ca = apiserver::CertificateAuthority::Create({});
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_.emplace(*std::move(ca));
    auto serving = ca_->IssueServingCertificate({});
    ASSERT_TRUE(serving.ok()) << serving.status();
    serving_ = *std::move(serving);
    apiserver::ClientCertOptions alice;
    alice.user = "alice";
    alice.groups = {"system:masters"};
    auto alice_cert = ca_->IssueClientCertificate(alice);
    ASSERT_TRUE(alice_cert.ok()) << alice_cert.status();
    alice_ = *std::move(alice_cert);
    HttpClientTest::SetUp();
  }

  void Customize(apiserver::ApiServerOptions& api, apiserver::HttpServerOptions& http) override {
    std::vector<std::unique_ptr<apiserver::Authenticator>> chain;
    auto x509 = apiserver::X509Authenticator::Create();
    ASSERT_TRUE(x509.ok());
    chain.push_back(*std::move(x509));
    auto tokens = apiserver::TokenFileAuthenticator::FromString(
        absl::StrCat(kAdminToken, ",admin,1,system:masters\n"));
    ASSERT_TRUE(tokens.ok());
    chain.push_back(*std::move(tokens));
    api.authenticator = std::make_shared<FirstOf>(std::move(chain));
    http.plain_http = false;
    http.tls_cert_pem = serving_.cert_pem;
    http.tls_key_pem = serving_.key_pem;
    http.client_ca_pem = ca_->cert_pem();
  }

  std::string Url() const override { return absl::StrCat("https://127.0.0.1:", http_->port()); }

  HttpClientOptions BaseOptions() const override {
    HttpClientOptions options;
    options.server = Url();
    options.ca_pem = ca_->cert_pem();
    return options;
  }
  HttpClientOptions TlsOptions() const { return BaseOptions(); }

  std::optional<apiserver::CertificateAuthority> ca_;
  apiserver::CertKeyPair serving_;
  apiserver::CertKeyPair alice_;
};

TEST_F(HttpClientTlsTest, ClientCertificateTokenAndNoCredentials) {
  // The fixture's client: a bearer token over TLS.
  ASSERT_NE(Create(MakeConfigMap("default", "over-tls")), nullptr);

  HttpClientOptions cert = TlsOptions();
  cert.client_cert_pem = alice_.cert_pem;
  cert.client_key_pem = alice_.key_pem;
  auto alice = NewHttpClient(cert);
  ASSERT_TRUE(alice.ok()) << alice.status();
  auto got = (*alice)->Get<api::ConfigMap>("default", "over-tls");
  ASSERT_TRUE(got.ok()) << got.status();

  // A watch over TLS, cancelled while it waits.
  auto stream = (*alice)->Watch(ConfigMaps(), "default", {});
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_EQ(Summary(NextChange(**stream)), "ADDED over-tls");
  ASSERT_NE(Create(MakeConfigMap("default", "second")), nullptr);
  EXPECT_EQ(Summary(NextChange(**stream)), "ADDED second");
  (*stream)->Cancel();
  EXPECT_EQ((*stream)->Next(kWait).status().code(), absl::StatusCode::kCancelled);

  auto nobody = NewHttpClient(TlsOptions());
  ASSERT_TRUE(nobody.ok()) << nobody.status();
  absl::Status s = (*nobody)->Get<api::ConfigMap>("default", "over-tls").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << s;
}

TEST_F(HttpClientTlsTest, AServerTheClientCannotVerifyIsUnavailable) {
  auto other_ca = apiserver::CertificateAuthority::Create({});
  ASSERT_TRUE(other_ca.ok());
  HttpClientOptions wrong_ca = TlsOptions();
  wrong_ca.ca_pem = other_ca->cert_pem();
  wrong_ca.bearer_token = kAdminToken;
  auto client = NewHttpClient(wrong_ca);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::Status s = (*client)->Get<api::ConfigMap>("default", "x").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(s.message(), HasSubstr("TLS handshake"));
  EXPECT_THAT(s.message(), HasSubstr(Url()));

  // The certificate is valid for 127.0.0.1, not for another name.
  HttpClientOptions wrong_name = TlsOptions();
  wrong_name.tls_server_name = "api.example.com";
  wrong_name.bearer_token = kAdminToken;
  client = NewHttpClient(wrong_name);
  ASSERT_TRUE(client.ok()) << client.status();
  s = (*client)->Get<api::ConfigMap>("default", "x").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  // ...and for "localhost", which the serving certificate names.
  HttpClientOptions by_name = TlsOptions();
  by_name.server = absl::StrCat("https://localhost:", http_->port());
  by_name.bearer_token = kAdminToken;
  client = NewHttpClient(by_name);
  ASSERT_TRUE(client.ok()) << client.status();
  s = (*client)->Get<api::ConfigMap>("default", "x").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;

  // Skipping verification (development only) connects anyway.
  HttpClientOptions insecure = wrong_ca;
  insecure.insecure_skip_tls_verify = true;
  client = NewHttpClient(insecure);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->Get<api::ConfigMap>("default", "x").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(HttpClientTlsTest, KubeconfigWithEmbeddedAndFileCredentials) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  // Embedded data, as `korch server` writes admin.kubeconfig.
  const std::string embedded = absl::StrCat(
      "apiVersion: v1\nkind: Config\ncurrent-context: korch\n"
      "clusters:\n- name: korch\n  cluster:\n    server: ",
      Url(), "\n    certificate-authority-data: ", absl::Base64Escape(ca_->cert_pem()),
      "\ncontexts:\n- name: korch\n  context:\n    cluster: korch\n    user: admin\n"
      "users:\n- name: admin\n  user:\n    token: ",
      kAdminToken, "\n");
  auto options = LoadKubeconfig(dir.File("admin.kubeconfig", embedded));
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->server, Url());
  EXPECT_EQ(options->bearer_token, kAdminToken);
  auto client = NewHttpClient(*options);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE((*client)->List(ConfigMaps(), "default").ok());

  // Files relative to the kubeconfig, and a context that is not current.
  dir.File("ca.crt", ca_->cert_pem());
  dir.File("alice.crt", alice_.cert_pem);
  dir.File("alice.key", alice_.key_pem);
  const std::string files = absl::StrCat(
      "apiVersion: v1\nkind: Config\ncurrent-context: nowhere\n"
      "clusters:\n- name: c\n  cluster:\n    server: ",
      Url(),
      "\n    certificate-authority: ca.crt\n"
      "contexts:\n- name: alice\n  context:\n    cluster: c\n    user: alice\n"
      "users:\n- name: alice\n  user:\n    client-certificate: alice.crt\n"
      "    client-key: alice.key\n");
  const std::string path = dir.File("alice.kubeconfig", files);
  EXPECT_EQ(LoadKubeconfig(path).status().code(), absl::StatusCode::kInvalidArgument);
  options = LoadKubeconfig(path, "alice");
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->client_cert_file, dir.path() + "/alice.crt");
  client = NewHttpClient(*options);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE((*client)->List(ConfigMaps(), "default").ok());
}

// ---- Options ---------------------------------------------------------------------------

TEST(HttpClientOptionsTest, BadOptionsAreRefusedAtCreation) {
  auto make = [](auto set) {
    HttpClientOptions o;
    o.server = "https://127.0.0.1:6443";
    set(o);
    return NewHttpClient(o).status();
  };
  EXPECT_TRUE(make([](HttpClientOptions&) {}).ok());
  EXPECT_TRUE(make([](HttpClientOptions& o) { o.server = "http://[::1]:8080/prefix/"; }).ok());
  for (const char* bad : {"", "ftp://x", "https://", "https://host:0", "https://host:99999",
                          "https://::1:6443", "https://user@host", "http://host/x?y"}) {
    absl::Status s = make([&](HttpClientOptions& o) { o.server = bad; });
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad << ": " << s;
  }
  absl::Status s = make([](HttpClientOptions& o) { o.ca_file = "/nonexistent/ca.crt"; });
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_THAT(s.message(), HasSubstr("/nonexistent/ca.crt"));
  EXPECT_EQ(make([](HttpClientOptions& o) { o.ca_pem = "not a certificate"; }).code(),
            absl::StatusCode::kInvalidArgument);
  auto ca = apiserver::CertificateAuthority::Create({});
  ASSERT_TRUE(ca.ok());
  auto alice = ca->IssueClientCertificate(
      {.user = "alice", .groups = {}, .key_type = apiserver::KeyType::kEcP256, .times = {}});
  ASSERT_TRUE(alice.ok());
  auto bob = ca->IssueClientCertificate(
      {.user = "bob", .groups = {}, .key_type = apiserver::KeyType::kEcP256, .times = {}});
  ASSERT_TRUE(bob.ok());
  EXPECT_EQ(make([&](HttpClientOptions& o) { o.client_cert_pem = alice->cert_pem; }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(make([&](HttpClientOptions& o) {
              o.client_cert_pem = alice->cert_pem;
              o.client_key_pem = bob->key_pem;
            }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(make([&](HttpClientOptions& o) {
                o.client_cert_pem = alice->cert_pem;
                o.client_key_pem = alice->key_pem;
              }).ok());
}

TEST(KubeconfigTest, ErrorsNameWhatIsWrong) {
  EXPECT_EQ(LoadKubeconfig("/nonexistent/kubeconfig").status().code(), absl::StatusCode::kNotFound);
  const std::string base =
      "clusters:\n- name: c\n  cluster:\n    server: https://10.0.0.1:6443\n"
      "contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n";
  auto parsed = ParseKubeconfig(
      base + "current-context: x\nusers:\n- name: u\n  user:\n    tokenFile: token\n", "/dir");
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kNotFound) << parsed.status();
  EXPECT_THAT(parsed.status().message(), HasSubstr("/dir/token"));

  parsed = ParseKubeconfig(base + "users:\n- name: u\n  user:\n    token: t\n", "/dir");
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(parsed.status().message(), HasSubstr("current-context"));

  parsed = ParseKubeconfig(base + "users:\n- name: u\n  user:\n    token: t\n", "/dir", "y");
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(parsed.status().message(), HasSubstr("context \"y\" not found"));

  parsed = ParseKubeconfig(base + "users:\n- name: u\n  user:\n    exec:\n      command: aws\n",
                           "/dir", "x");
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kUnimplemented) << parsed.status();

  parsed = ParseKubeconfig(
      base + "users:\n- name: u\n  user:\n    client-certificate-data: '%%%'\n", "/dir", "x");
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);

  parsed = ParseKubeconfig(base +
                               "users:\n- name: u\n  user:\n    client-certificate: /abs/c.crt\n"
                               "    client-key: rel/c.key\n",
                           "/dir", "x");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->server, "https://10.0.0.1:6443");
  EXPECT_EQ(parsed->client_cert_file, "/abs/c.crt");
  EXPECT_EQ(parsed->client_key_file, "/dir/rel/c.key");
}

}  // namespace
}  // namespace korch::client
