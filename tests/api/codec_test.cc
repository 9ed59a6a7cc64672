#include "korch/api/codec.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "korch/api/apps.pb.h"
#include "korch/api/coordination.pb.h"
#include "korch/api/core.pb.h"
#include "korch/api/quantity.h"
#include "korch/api/scheme.h"

namespace korch::api {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> DataFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e :
       std::filesystem::directory_iterator(std::string(KORCH_TEST_DATA_DIR) + "/" + dir)) {
    out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool IsEmptyValue(const json& j) { return j.is_null() || (j.is_array() && j.empty()); }

// Every value in `in` must be in `out`, except values that are empty in the
// input (which Kubernetes omits too). Strings that are quantities may come
// back canonical; numbers may come back as quantity strings.
void ExpectSubset(const json& in, const json& out, const std::string& path) {
  if (in.is_object()) {
    ASSERT_TRUE(out.is_object()) << path << ": expected an object, got " << out.dump();
    for (auto it = in.begin(); it != in.end(); ++it) {
      std::string child = path.empty() ? it.key() : path + "." + it.key();
      if (IsEmptyValue(it.value())) continue;
      ASSERT_TRUE(out.contains(it.key())) << child << " was lost in the round trip";
      ExpectSubset(it.value(), out[it.key()], child);
    }
    return;
  }
  if (in.is_array()) {
    ASSERT_TRUE(out.is_array()) << path;
    ASSERT_EQ(in.size(), out.size()) << path;
    for (size_t i = 0; i < in.size(); ++i)
      ExpectSubset(in[i], out[i], absl::StrCat(path, "[", i, "]"));
    return;
  }
  if (in == out) return;
  // A quantity given as a number or in a non-canonical form.
  std::string text = in.is_string() ? in.get<std::string>() : in.dump();
  ASSERT_TRUE(out.is_string()) << path << ": " << in.dump() << " became " << out.dump();
  auto a = Quantity::Parse(text);
  auto b = Quantity::Parse(out.get<std::string>());
  ASSERT_TRUE(a.ok() && b.ok()) << path << ": " << in.dump() << " became " << out.dump();
  EXPECT_EQ(a->Compare(*b), 0) << path << ": " << in.dump() << " became " << out.dump();
}

TEST(CodecTest, EveryCorpusManifestRoundTripsWithoutLoss) {
  const Scheme& scheme = Scheme::Builtin();
  int objects = 0;
  for (const std::string& file : DataFiles("valid")) {
    SCOPED_TRACE(file);
    std::string text = ReadFile(file);
    auto decoded = DecodeManifest(text, scheme);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    std::vector<json> inputs;
    if (absl::EndsWith(file, ".json")) {
      inputs.push_back(json::parse(text));
    } else {
      inputs = *ParseYaml(text, true);
    }
    ASSERT_EQ(inputs.size(), decoded->size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      ++objects;
      const auto& msg = *(*decoded)[i];
      std::string encoded = EncodeJson(msg);
      json out = json::parse(encoded);
      ExpectSubset(inputs[i], out, "");
      // The value form is what parsing the text gives, to the type of each
      // number.
      EXPECT_EQ(EncodeJsonValue(msg).dump(), out.dump());
      // Decoding the encoding gives the same message.
      std::unique_ptr<google::protobuf::Message> again(msg.New());
      ASSERT_TRUE(DecodeJson(encoded, again.get()).ok());
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(msg, *again)) << encoded;
      // And encoding is stable.
      EXPECT_EQ(EncodeJson(*again), encoded);
    }
  }
  EXPECT_GE(objects, 30) << "the corpus should hold a realistic number of objects";
}

TEST(CodecTest, BrokenManifestsFailToDecodeWithTheFieldPath) {
  int checked = 0;
  for (const std::string& file : DataFiles("invalid")) {
    std::string text = ReadFile(file);
    const std::string marker = "# expect-decode: ";
    if (!absl::StartsWith(text, marker)) continue;
    SCOPED_TRACE(file);
    std::string expect = text.substr(marker.size(), text.find('\n') - marker.size());
    auto decoded = DecodeManifest(text, Scheme::Builtin());
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(decoded.status().message()), HasSubstr(expect));
    // Lenient decoding accepts unknown and duplicate fields, never bad values.
    DecodeOptions lenient;
    lenient.strict = false;
    if (absl::StrContains(expect, "unknown field") ||
        absl::StrContains(expect, "duplicate field")) {
      EXPECT_TRUE(DecodeManifest(text, Scheme::Builtin(), lenient).ok());
    }
    ++checked;
  }
  EXPECT_GE(checked, 3);
}

TEST(CodecTest, TypeMetaIsEmittedFirstAndChecked) {
  Pod pod;
  pod.mutable_metadata()->set_name("web");
  std::string out = EncodeJson(pod);
  EXPECT_TRUE(absl::StartsWith(out, R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":"web"})"))
      << out;
  Deployment d;
  EXPECT_TRUE(absl::StartsWith(EncodeJson(d), R"({"kind":"Deployment","apiVersion":"apps/v1")"));

  absl::Status s = DecodeJson(R"({"kind":"Service","apiVersion":"v1"})", &pod);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("kind \"Service\" does not match the expected kind \"Pod\""));
  s = DecodeJson(R"({"kind":"Deployment","apiVersion":"apps/v2"})", &d);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("apiVersion \"apps/v2\" does not match \"apps/v1\""));
}

TEST(CodecTest, StrictModeReportsEveryUnknownAndDuplicateField) {
  Pod pod;
  absl::Status s = DecodeJson(
      R"({"metadata":{"name":"a","name":"b","labelz":{}},
          "spec":{"containers":[{"name":"c","imagePullPolcy":"Always"}]}})",
      &pod);
  ASSERT_FALSE(s.ok());
  std::string m(s.message());
  EXPECT_THAT(m, HasSubstr("strict decoding error"));
  EXPECT_THAT(m, HasSubstr(R"(duplicate field "metadata.name")"));
  EXPECT_THAT(m, HasSubstr(R"(unknown field "metadata.labelz")"));
  EXPECT_THAT(m, HasSubstr(R"(unknown field "spec.containers[0].imagePullPolcy")"));

  DecodeOptions lenient;
  lenient.strict = false;
  ASSERT_TRUE(DecodeJson(R"({"metadata":{"name":"a","name":"b","x":1}})", &pod, lenient).ok());
  EXPECT_EQ(pod.metadata().name(), "b") << "the last duplicate wins, as in Go";
}

TEST(CodecTest, DuplicateKeysInYamlAreRejectedInStrictMode) {
  auto docs = ParseYaml("metadata:\n  name: a\n  name: b\n", true);
  ASSERT_FALSE(docs.ok());
  EXPECT_THAT(std::string(docs.status().message()),
              HasSubstr(R"(duplicate field "metadata.name")"));
  EXPECT_TRUE(ParseYaml("metadata:\n  name: a\n  name: b\n", false).ok());
}

TEST(CodecTest, TypeErrorsNameTheFieldInBothModes) {
  struct Case {
    const char* json;
    const char* want;
  } cases[] = {
      {R"({"spec":{"containers":[{"name":"c","ports":[{"containerPort":"80"}]}]}})",
       R"(spec.containers[0].ports[0].containerPort: expected an integer, got string "80")"},
      {R"({"spec":{"containers":"x"}})", "spec.containers: expected an array, got string"},
      {R"({"spec":{"hostNetwork":"yes"}})", "spec.hostNetwork: expected a boolean"},
      {R"({"spec":{"terminationGracePeriodSeconds":1.5}})",
       "spec.terminationGracePeriodSeconds: expected an integer, got number 1.5"},
      {R"({"spec":{"containers":[{"name":"c","ports":[{"containerPort":4294967296}]}]}})",
       "spec.containers[0].ports[0].containerPort: value 4294967296 is out of range"},
      {R"({"metadata":{"labels":{"a":1}}})", "metadata.labels[a]: expected a string, got number 1"},
      {R"({"metadata":{"creationTimestamp":"yesterday"}})",
       R"(metadata.creationTimestamp: invalid time "yesterday")"},
      {R"({"spec":{"containers":[{"name":"c","resources":{"limits":{"memory":"1x"}}}]}})",
       "spec.containers[0].resources.limits[memory]: "},
      {R"({"metadata":[]})", "metadata: expected an object, got array"},
      {R"({"spec":{"containers":[{"name":"c"}]},)", "invalid JSON"},
  };
  for (const Case& c : cases) {
    for (bool strict : {true, false}) {
      Pod pod;
      DecodeOptions opts;
      opts.strict = strict;
      absl::Status s = DecodeJson(c.json, &pod, opts);
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.json;
      EXPECT_THAT(std::string(s.message()), HasSubstr(c.want)) << c.json;
    }
  }
}

TEST(CodecTest, AbsurdlyDeepDocumentsAreRefusedNotCrashed) {
  const int depth = 100000;
  std::string text = R"({"metadata":{"managedFields":[{"fieldsV1":)" + std::string(depth, '[') +
                     std::string(depth, ']') + "}]}}";
  Pod pod;
  absl::Status s = DecodeJson(text, &pod);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("nested deeper than 1000 levels"));
  EXPECT_FALSE(ParseJson(text, false).ok());
  EXPECT_FALSE(ParseYaml("a: " + std::string(depth, '[') + std::string(depth, ']'), true).ok());
  // Ordinary nesting inside opaque fields still works.
  ASSERT_TRUE(
      DecodeJson(R"({"metadata":{"managedFields":[{"fieldsV1":{"f:a":{"f:b":{}}}}]}})", &pod).ok());
  EXPECT_THAT(EncodeJson(pod), HasSubstr(R"("fieldsV1":{"f:a":{"f:b":{}}})"));
}

TEST(CodecTest, SpecialTypes) {
  Service svc;
  ASSERT_TRUE(
      DecodeJson(
          R"({"spec":{"ports":[{"port":80,"targetPort":8080},{"port":443,"targetPort":"https"}]}})",
          &svc)
          .ok());
  EXPECT_EQ(svc.spec().ports(0).target_port().int_val(), 8080);
  EXPECT_EQ(svc.spec().ports(1).target_port().str_val(), "https");
  EXPECT_THAT(EncodeJson(svc), HasSubstr(R"("targetPort":8080)"));
  EXPECT_THAT(EncodeJson(svc), HasSubstr(R"("targetPort":"https")"));

  Secret secret;
  ASSERT_TRUE(DecodeJson(R"({"data":{"password":"aHVudGVyMg=="}})", &secret).ok());
  EXPECT_EQ(secret.data().at("password"), "hunter2");
  EXPECT_THAT(EncodeJson(secret), HasSubstr(R"("password":"aHVudGVyMg==")"));
  EXPECT_FALSE(DecodeJson(R"({"data":{"password":"***"}})", &secret).ok());

  Pod pod;
  ASSERT_TRUE(DecodeJson(R"({"metadata":{"creationTimestamp":"2025-01-02T03:04:05Z"},
      "spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":0.5,"memory":"1.5Gi"},
                                                     "limits":{"cpu":2}}}]}})",
                         &pod)
                  .ok());
  EXPECT_EQ(pod.metadata().creation_timestamp().seconds(), 1735787045);
  EXPECT_EQ(pod.spec().containers(0).resources().requests().at("cpu"), "500m");
  EXPECT_EQ(pod.spec().containers(0).resources().requests().at("memory"), "1536Mi");
  EXPECT_EQ(pod.spec().containers(0).resources().limits().at("cpu"), "2");
  EXPECT_THAT(EncodeJson(pod), HasSubstr(R"("creationTimestamp":"2025-01-02T03:04:05Z")"));

  // A time with an offset is normalised to UTC; MicroTime keeps microseconds.
  ASSERT_TRUE(
      DecodeJson(R"({"metadata":{"creationTimestamp":"2025-01-02T05:04:05+02:00"}})", &pod).ok());
  EXPECT_EQ(pod.metadata().creation_timestamp().seconds(), 1735787045);
  Lease lease;
  ASSERT_TRUE(DecodeJson(R"({"spec":{"renewTime":"2025-01-02T03:04:05.123456Z"}})", &lease).ok());
  EXPECT_THAT(EncodeJson(lease), HasSubstr(R"("renewTime":"2025-01-02T03:04:05.123456Z")"));
}

TEST(CodecTest, JsonValueIsTheParsedText) {
  Pod pod;
  ASSERT_TRUE(DecodeJson(R"({"apiVersion":"v1","kind":"Pod",
      "metadata":{"name":"p","labels":{"a\"b":"caf\u00e9\n\u0001"},
        "creationTimestamp":"2025-01-02T03:04:05Z",
        "managedFields":[{"manager":"m","operation":"Update","fieldsType":"FieldsV1",
          "fieldsV1":{"f:metadata":{"f:labels":{}}}}]},
      "spec":{"priority":-7,"activeDeadlineSeconds":9007199254740993,
        "enableServiceLinks":false,"terminationGracePeriodSeconds":0,
        "containers":[{"name":"c","ports":[{"containerPort":80}],
          "resources":{"requests":{"cpu":"0.5"}},
          "livenessProbe":{"httpGet":{"port":"http"}}}]}})",
                         &pod)
                  .ok());
  for (bool type_meta : {true, false}) {
    EncodeOptions o;
    o.type_meta = type_meta;
    json parsed = json::parse(EncodeJson(pod, o));
    json value = EncodeJsonValue(pod, o);
    EXPECT_EQ(value, parsed);
    EXPECT_EQ(value.dump(), parsed.dump());
    EXPECT_EQ(value.contains("kind"), type_meta);
  }
  EXPECT_EQ(EncodeJsonValue(pod)["spec"]["priority"], -7);
  EXPECT_EQ(EncodeJsonValue(Pod()).dump(), json::parse(EncodeJson(Pod())).dump());
}

TEST(CodecTest, RequiredFieldsAreEmittedEvenWhenZero) {
  PodList list;
  EXPECT_EQ(EncodeJson(list), R"({"kind":"PodList","apiVersion":"v1","items":[]})");

  Pod pod;
  pod.mutable_status()->add_container_statuses();
  json j = json::parse(EncodeJson(pod));
  const json& cs = j["status"]["containerStatuses"][0];
  EXPECT_EQ(cs["name"], "");
  EXPECT_EQ(cs["image"], "");
  EXPECT_EQ(cs["imageID"], "");
  EXPECT_EQ(cs["ready"], false);
  EXPECT_EQ(cs["restartCount"], 0);

  ReplicaSet rs;
  rs.mutable_status();
  EXPECT_EQ(json::parse(EncodeJson(rs))["status"]["replicas"], 0);

  Node node;
  node.mutable_status()->mutable_node_info();
  json info = json::parse(EncodeJson(node))["status"]["nodeInfo"];
  for (const char* f :
       {"machineID", "systemUUID", "bootID", "kernelVersion", "osImage", "containerRuntimeVersion",
        "kubeletVersion", "kubeProxyVersion", "operatingSystem", "architecture"}) {
    EXPECT_TRUE(info.contains(f)) << f;
  }
  // An explicit zero is kept (presence), an unset field is not emitted.
  Deployment d;
  d.mutable_spec()->set_replicas(0);
  EXPECT_THAT(EncodeJson(d), HasSubstr(R"("replicas":0)"));
  d.mutable_spec()->clear_replicas();
  EXPECT_THAT(EncodeJson(d), ::testing::Not(HasSubstr("replicas")));
}

TEST(CodecTest, YamlScalarsResolveLikeKubernetes) {
  auto docs = ParseYaml(R"(
a: yes
b: "yes"
c: 0644
d: 0x1F
e: 1.5
f: ~
g: 12
h: '12'
i: -3
j: on
k: 1e3
l: plain text
)",
                        true);
  ASSERT_TRUE(docs.ok()) << docs.status();
  const json& j = (*docs)[0];
  EXPECT_EQ(j["a"], true);
  EXPECT_EQ(j["b"], "yes");
  EXPECT_EQ(j["c"], 420);
  EXPECT_EQ(j["d"], 31);
  EXPECT_EQ(j["e"], 1.5);
  EXPECT_TRUE(j["f"].is_null());
  EXPECT_EQ(j["g"], 12);
  EXPECT_EQ(j["h"], "12");
  EXPECT_EQ(j["i"], -3);
  EXPECT_EQ(j["j"], true);
  EXPECT_EQ(j["k"], 1000.0);
  EXPECT_EQ(j["l"], "plain text");
}

TEST(CodecTest, ManifestWithSeveralDocumentsAndLists) {
  const char* text = R"(
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: a, namespace: shop}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, namespace: shop}
)";
  auto objs = DecodeManifest(text, Scheme::Builtin());
  ASSERT_TRUE(objs.ok()) << objs.status();
  ASSERT_EQ(objs->size(), 3u);
  EXPECT_EQ((*objs)[0]->GetDescriptor(), Namespace::descriptor());
  EXPECT_EQ((*objs)[1]->GetDescriptor(), ConfigMap::descriptor());
  EXPECT_EQ((*objs)[2]->GetDescriptor(), Deployment::descriptor());

  auto bad = DecodeManifest(
      "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\n"
      "apiVersion: v1\nkind: Widget\nmetadata: {name: w}\n",
      Scheme::Builtin());
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(
      std::string(bad.status().message()),
      HasSubstr(R"(document 2 (Widget "w"): no kind "Widget" is registered for version "v1")"));
  auto nokind = DecodeManifest("apiVersion: v1\nmetadata: {name: a}\n", Scheme::Builtin());
  EXPECT_THAT(std::string(nokind.status().message()), HasSubstr("Object 'Kind' is missing"));
  auto broken = DecodeManifest("a: [1, 2\n", Scheme::Builtin());
  EXPECT_THAT(std::string(broken.status().message()), HasSubstr("invalid YAML at line"));
}

TEST(CodecTest, SchemeKnowsEveryKind) {
  const Scheme& s = Scheme::Builtin();
  struct Want {
    const char* api_version;
    const char* kind;
    const char* resource;
    bool namespaced;
  } wants[] = {
      {"v1", "Pod", "pods", true},
      {"v1", "Node", "nodes", false},
      {"v1", "Namespace", "namespaces", false},
      {"v1", "Service", "services", true},
      {"v1", "Endpoints", "endpoints", true},
      {"v1", "ConfigMap", "configmaps", true},
      {"v1", "Secret", "secrets", true},
      {"v1", "ServiceAccount", "serviceaccounts", true},
      {"v1", "Event", "events", true},
      {"v1", "LimitRange", "limitranges", true},
      {"v1", "ResourceQuota", "resourcequotas", true},
      {"apps/v1", "Deployment", "deployments", true},
      {"apps/v1", "ReplicaSet", "replicasets", true},
      {"apps/v1", "DaemonSet", "daemonsets", true},
      {"apps/v1", "StatefulSet", "statefulsets", true},
      {"batch/v1", "Job", "jobs", true},
      {"rbac.authorization.k8s.io/v1", "Role", "roles", true},
      {"rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", false},
      {"rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", true},
      {"rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", false},
      {"coordination.k8s.io/v1", "Lease", "leases", true},
      {"scheduling.k8s.io/v1", "PriorityClass", "priorityclasses", false},
      {"discovery.k8s.io/v1", "EndpointSlice", "endpointslices", true},
  };
  for (const Want& w : wants) {
    const KindInfo* k = s.Find(w.api_version, w.kind);
    ASSERT_NE(k, nullptr) << w.kind;
    EXPECT_EQ(k->resource, w.resource);
    EXPECT_EQ(k->namespaced, w.namespaced) << w.kind;
    ASSERT_NE(k->list, nullptr) << w.kind << " has no list kind";
    EXPECT_EQ(k->list->kind, std::string(w.kind) + "List");
    auto slash = std::string(w.api_version).find('/');
    std::string group =
        slash == std::string::npos ? "" : std::string(w.api_version).substr(0, slash);
    std::string version =
        slash == std::string::npos ? w.api_version : std::string(w.api_version).substr(slash + 1);
    EXPECT_EQ(s.FindResource(group, version, w.resource), k);
  }
  EXPECT_EQ(s.Find("apps/v1", "Deployment")->QualifiedKind(), "Deployment.apps");
  EXPECT_THAT(s.Find("v1", "Pod")->short_names, ::testing::ElementsAre("po"));
  EXPECT_NE(s.Find("autoscaling/v1", "Scale"), nullptr);
  EXPECT_FALSE(s.New("v1", "Widget").ok());
}

TEST(CodecTest, PrettyOutputIsValidJsonWithTheSameContent) {
  Pod pod;
  pod.mutable_metadata()->set_name("a");
  (*pod.mutable_metadata()->mutable_labels())["z"] = "1";
  (*pod.mutable_metadata()->mutable_labels())["a"] = "2";
  pod.mutable_spec()->add_containers()->set_name("c");
  EncodeOptions pretty;
  pretty.pretty = true;
  std::string p = EncodeJson(pod, pretty);
  EXPECT_THAT(p, HasSubstr("\n  \"metadata\": {\n    \"name\": \"a\""));
  EXPECT_EQ(json::parse(p), json::parse(EncodeJson(pod)));
  // Map keys are sorted, as Go writes them.
  EXPECT_THAT(EncodeJson(pod), HasSubstr(R"("labels":{"a":"2","z":"1"})"));
}

}  // namespace
}  // namespace korch::api
