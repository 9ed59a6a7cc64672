#include "korch/api/k8s_protobuf.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/apps.pb.h"
#include "korch/api/codec.h"
#include "korch/api/coordination.pb.h"
#include "korch/api/core.pb.h"
#include "korch/api/rbac.pb.h"
#include "korch/api/scheme.h"
#include "korch/k8swire/apps_v1.pb.h"
#include "korch/k8swire/coordination_v1.pb.h"
#include "korch/k8swire/core_v1.pb.h"
#include "korch/k8swire/meta_v1.pb.h"
#include "korch/k8swire/runtime.pb.h"

namespace korch::api {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;
namespace wire_core = ::k8s::io::api::core::v1;
namespace wire_apps = ::k8s::io::api::apps::v1;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Bodies kubectl 1.33 sent for its generator commands; see
// tests/data/k8s_protobuf/README.md for how they were captured.
std::string Captured(const std::string& name) {
  return ReadFile(std::string(KORCH_TEST_DATA_DIR) + "/k8s_protobuf/kubectl-1.33-create-" + name +
                  ".pb");
}

TEST(KubernetesProtobufTest, NamespaceBecomesItsJson) {
  wire_core::Namespace ns;
  ns.mutable_metadata()->set_name("team-a");
  (*ns.mutable_metadata()->mutable_labels())["owner"] = "alice";
  // What Go always writes: empty non-pointer structs and strings.
  ns.mutable_metadata()->mutable_creationtimestamp();
  ns.mutable_spec();
  ns.mutable_status();
  absl::StatusOr<json> j =
      KubernetesProtobufToJson(EncodeKubernetesProtobuf("v1", "Namespace", ns));
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(*j, json::parse(R"({"apiVersion":"v1","kind":"Namespace",
      "metadata":{"name":"team-a","labels":{"owner":"alice"}},"spec":{},"status":{}})"));
}

TEST(KubernetesProtobufTest, DeploymentKeepsZeroPointersAndConvertsSpecialTypes) {
  wire_apps::Deployment d;
  d.mutable_metadata()->set_name("web");
  d.mutable_metadata()->set_namespace_("prod");
  d.mutable_metadata()->mutable_creationtimestamp()->set_seconds(absl::ToUnixSeconds(
      absl::FromCivil(absl::CivilSecond(2025, 1, 2, 3, 4, 5), absl::UTCTimeZone())));
  wire_apps::DeploymentSpec* spec = d.mutable_spec();
  spec->set_replicas(0);  // a Go *int32 set to 0: kept
  (*spec->mutable_selector()->mutable_matchlabels())["app"] = "web";
  spec->mutable_strategy()->set_type("RollingUpdate");
  auto* surge = spec->mutable_strategy()->mutable_rollingupdate()->mutable_maxsurge();
  surge->set_type(1);
  surge->set_strval("25%");
  auto* unavailable = spec->mutable_strategy()->mutable_rollingupdate()->mutable_maxunavailable();
  unavailable->set_type(0);
  unavailable->set_intval(1);
  wire_core::PodSpec* pod = spec->mutable_template_()->mutable_spec();
  (*spec->mutable_template_()->mutable_metadata()->mutable_labels())["app"] = "web";
  wire_core::Container* c = pod->add_containers();
  c->set_name("app");
  c->set_image("busybox:1.36");
  c->add_command("sleep");
  c->add_command("3600");
  c->mutable_ports()->Add()->set_containerport(8080);
  (*c->mutable_resources()->mutable_limits())["memory"].set_string("128Mi");
  auto* get = c->mutable_readinessprobe()->mutable_handler()->mutable_httpget();
  get->set_path("/healthz");
  get->mutable_port()->set_intval(8080);
  c->mutable_readinessprobe()->set_periodseconds(5);
  pod->set_terminationgraceperiodseconds(0);
  wire_core::Volume* v = pod->add_volumes();
  v->set_name("data");
  v->mutable_volumesource()->mutable_emptydir();

  absl::StatusOr<json> j =
      KubernetesProtobufToJson(EncodeKubernetesProtobuf("apps/v1", "Deployment", d));
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(*j, json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment",
    "metadata":{"name":"web","namespace":"prod","creationTimestamp":"2025-01-02T03:04:05Z"},
    "spec":{"replicas":0,"selector":{"matchLabels":{"app":"web"}},
      "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":1}},
      "template":{"metadata":{"labels":{"app":"web"}},"spec":{
        "containers":[{"name":"app","image":"busybox:1.36","command":["sleep","3600"],
          "ports":[{"containerPort":8080}],"resources":{"limits":{"memory":"128Mi"}},
          "readinessProbe":{"httpGet":{"path":"/healthz","port":8080},"periodSeconds":5}}],
        "terminationGracePeriodSeconds":0,
        "volumes":[{"name":"data","emptyDir":{}}]}}}})"))
      << j->dump(2);

  // And korch reads that JSON as it reads any client's.
  auto decoded = DecodeObject(*j, Scheme::Builtin());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  const auto& deployment = dynamic_cast<const Deployment&>(**decoded);
  EXPECT_TRUE(deployment.spec().has_replicas());
  EXPECT_EQ(deployment.spec().replicas(), 0);
  EXPECT_EQ(deployment.spec().template_().spec().containers(0).image(), "busybox:1.36");
}

TEST(KubernetesProtobufTest, MicroTimeKeepsMicroseconds) {
  k8s::io::api::coordination::v1::Lease lease;
  lease.mutable_metadata()->set_name("leader");
  lease.mutable_spec()->set_holderidentity("");  // a Go *string set to "": kept
  lease.mutable_spec()->set_leasedurationseconds(15);
  auto* renew = lease.mutable_spec()->mutable_renewtime();
  renew->set_seconds(absl::ToUnixSeconds(
      absl::FromCivil(absl::CivilSecond(2025, 1, 2, 3, 4, 5), absl::UTCTimeZone())));
  renew->set_nanos(123456789);
  absl::StatusOr<json> j =
      KubernetesProtobufToJson(EncodeKubernetesProtobuf("coordination.k8s.io/v1", "Lease", lease));
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ((*j)["spec"], json::parse(R"({"holderIdentity":"","leaseDurationSeconds":15,
      "renewTime":"2025-01-02T03:04:05.123456Z"})"));
  auto decoded = DecodeObject(*j, Scheme::Builtin());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
}

TEST(KubernetesProtobufTest, SecretBytesBecomeBase64) {
  wire_core::Secret s;
  s.mutable_metadata()->set_name("creds");
  (*s.mutable_data())["password"] = std::string("p\0ss", 4);
  s.set_type("Opaque");
  absl::StatusOr<json> j = KubernetesProtobufToJson(EncodeKubernetesProtobuf("v1", "Secret", s));
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ((*j)["data"], json::parse(R"({"password":"cABzcw=="})"));
  auto decoded = DecodeObject(*j, Scheme::Builtin());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(dynamic_cast<const Secret&>(**decoded).data().at("password"), std::string("p\0ss", 4));
}

TEST(KubernetesProtobufTest, AKindWithoutWireDeclarationIsUnimplementedAndSaysSendJson) {
  wire_core::Namespace ns;
  ns.mutable_metadata()->set_name("x");
  for (auto [api_version, kind] :
       std::vector<std::pair<const char*, const char*>>{{"v1", "Widget"},
                                                        {"example.com/v1", "Namespace"},
                                                        {"v1", "PodSpec"},
                                                        {"v2", "Namespace"}}) {
    absl::StatusOr<json> j =
        KubernetesProtobufToJson(EncodeKubernetesProtobuf(api_version, kind, ns));
    ASSERT_FALSE(j.ok()) << api_version << " " << kind;
    EXPECT_EQ(j.status().code(), absl::StatusCode::kUnimplemented);
    EXPECT_THAT(j.status().message(), HasSubstr(kind));
    EXPECT_THAT(j.status().message(), HasSubstr(api_version));
    EXPECT_THAT(j.status().message(), HasSubstr("application/json"));
  }
}

TEST(KubernetesProtobufTest, MalformedBodiesAreInvalidArguments) {
  for (std::string body : {std::string("{\"kind\":\"Namespace\"}"),
                           std::string("k8s\0", 4) + "\xff", std::string("k8s\0", 4)}) {
    absl::StatusOr<json> j = KubernetesProtobufToJson(body);
    ASSERT_FALSE(j.ok());
    EXPECT_EQ(j.status().code(), absl::StatusCode::kInvalidArgument) << j.status();
  }
  // The envelope parses, the object in it does not.
  k8s::io::apimachinery::pkg::runtime::Unknown envelope;
  envelope.mutable_typemeta()->set_apiversion("v1");
  envelope.mutable_typemeta()->set_kind("Namespace");
  envelope.set_raw("\x0a\xff");
  absl::StatusOr<json> j =
      KubernetesProtobufToJson(std::string("k8s\0", 4) + envelope.SerializeAsString());
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(j.status().message(), HasSubstr("does not parse as Namespace"));
}

TEST(KubernetesProtobufTest, AFieldKorchDoesNotDeclareIsNamedByPathAndNumber) {
  wire_core::Pod pod;
  pod.mutable_metadata()->set_name("p");
  pod.mutable_spec()->add_containers()->set_name("c");
  // Field 999 of the container: a field from a Kubernetes newer than korch.
  pod.mutable_spec()
      ->mutable_containers(0)
      ->GetReflection()
      ->MutableUnknownFields(pod.mutable_spec()->mutable_containers(0))
      ->AddVarint(999, 1);
  absl::StatusOr<json> j = KubernetesProtobufToJson(EncodeKubernetesProtobuf("v1", "Pod", pod));
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(j.status().message(), HasSubstr("spec.containers[0]"));
  EXPECT_THAT(j.status().message(), HasSubstr("field 999 of k8s.io.api.core.v1.Container"));
}

TEST(KubernetesProtobufTest, AnUndeclaredFieldHoldingItsZeroValueIsIgnored) {
  // client-go before 1.25 writes ObjectMeta.clusterName (field 15, since
  // removed) as "" on every object.
  wire_core::ConfigMap cm;
  cm.mutable_metadata()->set_name("old-client");
  cm.mutable_metadata()
      ->GetReflection()
      ->MutableUnknownFields(cm.mutable_metadata())
      ->AddLengthDelimited(15, "");
  absl::StatusOr<json> j =
      KubernetesProtobufToJson(EncodeKubernetesProtobuf("v1", "ConfigMap", cm));
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ((*j)["metadata"], json::parse(R"({"name":"old-client"})"));

  cm.mutable_metadata()
      ->GetReflection()
      ->MutableUnknownFields(cm.mutable_metadata())
      ->AddLengthDelimited(15, "east");
  j = KubernetesProtobufToJson(EncodeKubernetesProtobuf("v1", "ConfigMap", cm));
  ASSERT_FALSE(j.ok());
  EXPECT_THAT(j.status().message(), HasSubstr("metadata"));
}

TEST(KubernetesProtobufTest, KubectlGeneratorBodiesDecodeToTheObjectsAsked) {
  // kubectl create namespace gen
  absl::StatusOr<json> ns = KubernetesProtobufToJson(Captured("namespace"));
  ASSERT_TRUE(ns.ok()) << ns.status();
  EXPECT_EQ(*ns, json::parse(R"({"apiVersion":"v1","kind":"Namespace",
      "metadata":{"name":"gen"},"spec":{},"status":{}})"));

  // kubectl create configmap gen-cm -n gen --from-literal=a=b
  absl::StatusOr<json> cm = KubernetesProtobufToJson(Captured("configmap"));
  ASSERT_TRUE(cm.ok()) << cm.status();
  EXPECT_EQ(*cm, json::parse(R"({"apiVersion":"v1","kind":"ConfigMap",
      "metadata":{"name":"gen-cm","namespace":"gen"},"data":{"a":"b"}})"));

  // kubectl create secret generic gen-secret -n gen --from-literal=a=b
  absl::StatusOr<json> secret = KubernetesProtobufToJson(Captured("secret"));
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ((*secret)["data"], json::parse(R"({"a":"Yg=="})"));

  // kubectl create deployment gen-deploy -n gen --image=busybox:1.36 --replicas=0
  absl::StatusOr<json> deploy = KubernetesProtobufToJson(Captured("deployment"));
  ASSERT_TRUE(deploy.ok()) << deploy.status();
  EXPECT_EQ((*deploy)["spec"]["replicas"], 0) << deploy->dump();
  EXPECT_EQ((*deploy)["spec"]["template"]["spec"]["containers"][0]["image"], "busybox:1.36");

  // Every captured body becomes an object korch decodes strictly, of the
  // kind kubectl named.
  const Scheme& scheme = Scheme::Builtin();
  DecodeOptions strict;
  strict.strict = true;
  int decoded_count = 0;
  for (const auto& e :
       std::filesystem::directory_iterator(std::string(KORCH_TEST_DATA_DIR) + "/k8s_protobuf")) {
    if (e.path().extension() != ".pb") continue;
    SCOPED_TRACE(e.path().filename().string());
    absl::StatusOr<json> j = KubernetesProtobufToJson(ReadFile(e.path().string()));
    ASSERT_TRUE(j.ok()) << j.status();
    if (scheme.Find((*j)["apiVersion"].get<std::string>(), (*j)["kind"].get<std::string>()) ==
        nullptr) {
      continue;  // a kind korch does not serve (CronJob, PodDisruptionBudget)
    }
    auto object = DecodeObject(*j, scheme, strict);
    ASSERT_TRUE(object.ok()) << object.status() << "\n" << j->dump();
    EXPECT_EQ(KindOf((*object)->GetDescriptor()), (*j)["kind"]);
    ++decoded_count;
  }
  EXPECT_GE(decoded_count, 13);
}

TEST(KubernetesProtobufTest, RoleBindingFromKubectl) {
  absl::StatusOr<json> j = KubernetesProtobufToJson(Captured("rolebinding"));
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(*j, json::parse(R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding",
      "metadata":{"name":"gen-rb","namespace":"gen"},
      "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"view"},
      "subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"nobody"}]})"))
      << j->dump();
}

}  // namespace
}  // namespace korch::api
