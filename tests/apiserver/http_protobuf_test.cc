// Request bodies in Kubernetes' protobuf format (what kubectl's generators
// send) through the HTTP protocol handler.
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "apiserver/http_handler.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/k8s_protobuf.h"
#include "korch/apiserver/authn.h"
#include "korch/apiserver/discovery.h"
#include "korch/apiserver/server.h"
#include "korch/k8swire/core_v1.pb.h"
#include "korch/k8swire/meta_v1.pb.h"
#include "korch/store.h"
#include "nlohmann/json.hpp"

namespace korch::apiserver::internal {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;
namespace wire_core = ::k8s::io::api::core::v1;

constexpr char kToken[] = "admin-token";
constexpr char kProtobuf[] = "application/vnd.kubernetes.protobuf";
// What kubectl 1.33 sends along with a protobuf body.
constexpr char kKubectlAccept[] = "application/vnd.kubernetes.protobuf,application/json";

std::string Captured(const std::string& what) {
  std::ifstream in(
      std::string(KORCH_TEST_DATA_DIR) + "/k8s_protobuf/kubectl-1.33-create-" + what + ".pb",
      std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class HttpProtobufTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<store::Storage>> storage = store::OpenMemoryStorage();
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
    ApiServerOptions options;
    options.storage = storage_.get();
    auto tokens =
        TokenFileAuthenticator::FromString(absl::StrCat(kToken, ",admin,1,system:masters\n"));
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    options.authenticator = std::shared_ptr<Authenticator>(*std::move(tokens));
    absl::StatusOr<std::unique_ptr<ApiServer>> api = ApiServer::Create(std::move(options));
    ASSERT_TRUE(api.ok()) << api.status();
    api_ = *std::move(api);
    absl::StatusOr<std::shared_ptr<const ApiDocuments>> documents =
        ApiDocuments::Build(api_->scheme(), ApiDocumentsOptions());
    ASSERT_TRUE(documents.ok()) << documents.status();
    handler_ =
        std::make_unique<HttpHandler>(*api_, *std::move(documents), metrics_, HttpHandlerOptions());
  }

  HttpResponse Call(const std::string& method, const std::string& target, std::string body = "",
                    const std::string& content_type = kProtobuf,
                    const std::string& accept = kKubectlAccept) {
    HttpRequest request;
    request.method = method;
    request.target = target;
    request.accept = accept;
    request.content_type = content_type;
    request.authorization = absl::StrCat("Bearer ", kToken);
    request.body = std::move(body);
    return handler_->Handle(std::move(request)).response;
  }

  std::unique_ptr<store::Storage> storage_;
  std::unique_ptr<ApiServer> api_;
  HttpMetrics metrics_;
  std::unique_ptr<HttpHandler> handler_;
};

TEST_F(HttpProtobufTest, KubectlGeneratorBodiesCreateObjectsAndGetJsonBack) {
  const std::string query = "?fieldManager=kubectl-create&fieldValidation=Strict";
  HttpResponse ns = Call("POST", "/api/v1/namespaces" + query, Captured("namespace"));
  ASSERT_EQ(ns.status, 201) << ns.body;
  EXPECT_EQ(ns.content_type, "application/json");
  EXPECT_EQ(json::parse(ns.body)["metadata"]["name"], "gen");

  struct Case {
    const char* what;
    const char* collection;
  };
  for (const Case& c :
       {Case{"configmap", "/api/v1/namespaces/gen/configmaps"},
        Case{"secret", "/api/v1/namespaces/gen/secrets"},
        Case{"deployment", "/apis/apps/v1/namespaces/gen/deployments"},
        Case{"serviceaccount", "/api/v1/namespaces/gen/serviceaccounts"},
        Case{"role", "/apis/rbac.authorization.k8s.io/v1/namespaces/gen/roles"},
        Case{"rolebinding", "/apis/rbac.authorization.k8s.io/v1/namespaces/gen/rolebindings"},
        Case{"clusterrole", "/apis/rbac.authorization.k8s.io/v1/clusterroles"},
        Case{"clusterrolebinding", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"},
        Case{"job", "/apis/batch/v1/namespaces/gen/jobs"},
        Case{"service_clusterip", "/api/v1/namespaces/gen/services"},
        Case{"quota", "/api/v1/namespaces/gen/resourcequotas"},
        Case{"priorityclass", "/apis/scheduling.k8s.io/v1/priorityclasses"}}) {
    HttpResponse r = Call("POST", c.collection + query, Captured(c.what));
    EXPECT_EQ(r.status, 201) << c.what << ": " << r.body;
  }

  json cm = json::parse(Call("GET", "/api/v1/namespaces/gen/configmaps/gen-cm").body);
  EXPECT_EQ(cm["data"], json::parse(R"({"a":"b"})"));
  json secret = json::parse(Call("GET", "/api/v1/namespaces/gen/secrets/gen-secret").body);
  EXPECT_EQ(secret["data"], json::parse(R"({"a":"Yg=="})"));
  // --replicas=0 stays 0 (not defaulted to 1).
  json deploy =
      json::parse(Call("GET", "/apis/apps/v1/namespaces/gen/deployments/gen-deploy").body);
  EXPECT_EQ(deploy["spec"]["replicas"], 0);
  EXPECT_EQ(deploy["spec"]["template"]["spec"]["containers"][0]["image"], "busybox:1.36");
  json svc = json::parse(Call("GET", "/api/v1/namespaces/gen/services/gen-svc").body);
  EXPECT_EQ(svc["spec"]["ports"][0]["targetPort"], 8080);
  EXPECT_FALSE(svc["spec"]["clusterIP"].get<std::string>().empty());
}

TEST_F(HttpProtobufTest, UpdateAndDeleteOptionsInProtobuf) {
  ASSERT_EQ(Call("POST", "/api/v1/namespaces", Captured("namespace")).status, 201);
  ASSERT_EQ(Call("POST", "/api/v1/namespaces/gen/configmaps", Captured("configmap")).status, 201);

  wire_core::ConfigMap cm;
  cm.mutable_metadata()->set_name("gen-cm");
  cm.mutable_metadata()->set_namespace_("gen");
  (*cm.mutable_data())["a"] = "changed";
  HttpResponse updated = Call("PUT", "/api/v1/namespaces/gen/configmaps/gen-cm",
                              api::EncodeKubernetesProtobuf("v1", "ConfigMap", cm));
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(json::parse(updated.body)["data"]["a"], "changed");

  k8s::io::apimachinery::pkg::apis::meta::v1::DeleteOptions options;
  options.set_propagationpolicy("Background");
  HttpResponse deleted = Call("DELETE", "/api/v1/namespaces/gen/configmaps/gen-cm",
                              api::EncodeKubernetesProtobuf("v1", "DeleteOptions", options));
  EXPECT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(Call("GET", "/api/v1/namespaces/gen/configmaps/gen-cm").status, 404);
}

TEST_F(HttpProtobufTest, BodiesKorchCannotReadGetClearStatuses) {
  ASSERT_EQ(Call("POST", "/api/v1/namespaces", Captured("namespace")).status, 201);

  // A kind without a wire declaration: 415 naming it, and what to send.
  wire_core::ConfigMap cm;
  cm.mutable_metadata()->set_name("w");
  HttpResponse unsupported = Call("POST", "/api/v1/namespaces/gen/configmaps",
                                  api::EncodeKubernetesProtobuf("v1", "Widget", cm));
  EXPECT_EQ(unsupported.status, 415) << unsupported.body;
  json status = json::parse(unsupported.body);
  EXPECT_EQ(status["reason"], "UnsupportedMediaType");
  EXPECT_THAT(status["message"].get<std::string>(), HasSubstr("Widget"));
  EXPECT_THAT(status["message"].get<std::string>(), HasSubstr("application/json"));

  // A kind that does not belong at the URL: as with JSON.
  HttpResponse wrong_kind =
      Call("POST", "/api/v1/namespaces/gen/configmaps", Captured("serviceaccount"));
  EXPECT_EQ(wrong_kind.status, 400) << wrong_kind.body;
  EXPECT_THAT(json::parse(wrong_kind.body)["message"].get<std::string>(),
              HasSubstr("ServiceAccount"));

  // Not protobuf at all, or broken after the prefix.
  for (std::string body :
       {std::string(R"({"kind":"ConfigMap"})"), std::string("k8s\0", 4) + "\x0a\x05garbage"}) {
    HttpResponse bad = Call("POST", "/api/v1/namespaces/gen/configmaps", body);
    EXPECT_EQ(bad.status, 400) << bad.body;
    EXPECT_EQ(json::parse(bad.body)["reason"], "BadRequest");
  }
}

TEST_F(HttpProtobufTest, AClientAcceptingOnlyProtobufGets406AndNothingIsWritten) {
  HttpResponse r = Call("POST", "/api/v1/namespaces", Captured("namespace"), kProtobuf, kProtobuf);
  EXPECT_EQ(r.status, 406) << r.body;
  EXPECT_EQ(json::parse(r.body)["reason"], "NotAcceptable");
  EXPECT_EQ(Call("GET", "/api/v1/namespaces/gen").status, 404);
}

}  // namespace
}  // namespace korch::apiserver::internal
