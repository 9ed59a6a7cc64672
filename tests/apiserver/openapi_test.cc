#include "korch/apiserver/openapi.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/apps.pb.h"
#include "korch/api/codec.h"
#include "korch/api/coordination.pb.h"
#include "korch/api/core.pb.h"
#include "korch/api/meta.pb.h"
#include "korch/api/rbac.pb.h"
#include "korch/api/scheme.h"
#include "korch/apiserver/discovery.h"
#include "openapiv2/OpenAPIv2.pb.h"

namespace korch::apiserver {
namespace {

using json = nlohmann::json;
using ::testing::Contains;

const api::Scheme& Scheme() { return api::Scheme::Builtin(); }

constexpr absl::string_view kSchemas = "#/components/schemas/";

json V3(absl::string_view group, absl::string_view version) {
  absl::StatusOr<json> doc = OpenApiV3Document(Scheme(), group, version);
  EXPECT_TRUE(doc.ok()) << doc.status();
  return doc.ok() ? *doc : json::object();
}

// Follows a property's reference the way kubectl's strategic-merge lookup
// does (allOf[0], then $ref).
const json& Resolve(const json& doc, const json& schema) {
  const json* s = &schema;
  if (s->contains("allOf")) s = &(*s)["allOf"][0];
  if (s->contains("$ref")) {
    std::string ref = (*s)["$ref"];
    EXPECT_TRUE(absl::StartsWith(ref, kSchemas)) << ref;
    return doc["components"]["schemas"][ref.substr(kSchemas.size())];
  }
  return *s;
}

const json& Schema(const json& doc, absl::string_view name) {
  return doc["components"]["schemas"][std::string(name)];
}

void CollectRefs(const json& j, std::vector<std::string>* out) {
  if (j.is_object()) {
    for (const auto& [key, value] : j.items()) {
      if (key == "$ref" && value.is_string()) out->push_back(value);
      CollectRefs(value, out);
    }
  } else if (j.is_array()) {
    for (const json& item : j) CollectRefs(item, out);
  }
}

bool HasQueryParam(const json& op, absl::string_view name) {
  for (const json& p : op.value("parameters", json::array())) {
    if (p.value("name", "") == name && p.value("in", "") == "query") return true;
  }
  return false;
}

TEST(OpenApiSchemaNameTest, NamesTypesLikeKubernetes) {
  EXPECT_EQ(OpenApiSchemaName(api::Pod::descriptor()), "io.k8s.api.core.v1.Pod");
  EXPECT_EQ(OpenApiSchemaName(api::Container::descriptor()), "io.k8s.api.core.v1.Container");
  EXPECT_EQ(OpenApiSchemaName(api::ObjectMeta::descriptor()),
            "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
  EXPECT_EQ(OpenApiSchemaName(api::Status::descriptor()),
            "io.k8s.apimachinery.pkg.apis.meta.v1.Status");
  EXPECT_EQ(OpenApiSchemaName(api::Deployment::descriptor()), "io.k8s.api.apps.v1.Deployment");
  EXPECT_EQ(OpenApiSchemaName(api::Role::descriptor()), "io.k8s.api.rbac.v1.Role");
  EXPECT_EQ(OpenApiSchemaName(api::Lease::descriptor()), "io.k8s.api.coordination.v1.Lease");
}

TEST(OpenApiV3Test, PathsAreTheServedGroupVersions) {
  std::vector<std::string> paths = OpenApiV3Paths(Scheme());
  EXPECT_THAT(paths, Contains("api/v1"));
  EXPECT_THAT(paths, Contains("apis/apps/v1"));
  EXPECT_THAT(paths, Contains("apis/batch/v1"));
  EXPECT_THAT(paths, Contains("apis/rbac.authorization.k8s.io/v1"));
  EXPECT_THAT(paths, ::testing::Not(Contains("apis/autoscaling/v1")));
  EXPECT_EQ(OpenApiV3Document(Scheme(), "example.com", "v1").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(OpenApiV3Test, PodSchemaHasKubernetesFieldsAndPatchMetadata) {
  json doc = V3("", "v1");
  EXPECT_EQ(doc["openapi"], "3.0.0");
  const json& pod = Schema(doc, "io.k8s.api.core.v1.Pod");
  ASSERT_TRUE(pod.is_object());
  EXPECT_EQ(pod["type"], "object");
  EXPECT_EQ(pod["x-kubernetes-group-version-kind"],
            json::parse(R"([{"group":"","kind":"Pod","version":"v1"}])"));
  EXPECT_EQ(pod["properties"]["apiVersion"]["type"], "string");
  EXPECT_EQ(pod["properties"]["kind"]["type"], "string");
  EXPECT_EQ(pod["properties"]["metadata"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");

  const json& meta = Resolve(doc, pod["properties"]["metadata"]);
  EXPECT_EQ(meta["properties"]["labels"]["type"], "object");
  EXPECT_EQ(meta["properties"]["labels"]["additionalProperties"]["type"], "string");
  EXPECT_EQ(meta["properties"]["creationTimestamp"]["format"], "date-time");
  EXPECT_EQ(meta["properties"]["generateName"]["type"], "string");
  EXPECT_EQ(meta["properties"]["ownerReferences"]["x-kubernetes-patch-merge-key"], "uid");
  EXPECT_EQ(meta["properties"]["finalizers"]["x-kubernetes-patch-strategy"], "merge");
  EXPECT_FALSE(meta["properties"]["finalizers"].contains("x-kubernetes-patch-merge-key"));
  EXPECT_FALSE(meta.contains("x-kubernetes-group-version-kind"));

  const json& spec = Resolve(doc, pod["properties"]["spec"]);
  const json& containers = spec["properties"]["containers"];
  EXPECT_EQ(containers["type"], "array");
  EXPECT_EQ(containers["x-kubernetes-patch-merge-key"], "name");
  EXPECT_EQ(containers["x-kubernetes-patch-strategy"], "merge");
  EXPECT_EQ(containers["items"]["$ref"], "#/components/schemas/io.k8s.api.core.v1.Container");
  EXPECT_EQ(spec["properties"]["initContainers"]["x-kubernetes-patch-merge-key"], "name");
  EXPECT_EQ(spec["properties"]["volumes"]["x-kubernetes-patch-strategy"], "merge,retainKeys");
  EXPECT_EQ(spec["properties"]["imagePullSecrets"]["x-kubernetes-patch-merge-key"], "name");
  // Atomic lists carry nothing: kubectl replaces them.
  EXPECT_FALSE(spec["properties"]["tolerations"].contains("x-kubernetes-patch-strategy"));
  EXPECT_EQ(spec["properties"]["hostPID"]["type"], "boolean");
  EXPECT_EQ(spec["properties"]["terminationGracePeriodSeconds"]["type"], "integer");

  const json& container = Resolve(doc, containers["items"]);
  EXPECT_EQ(container["properties"]["ports"]["x-kubernetes-patch-merge-key"], "containerPort");
  EXPECT_EQ(container["properties"]["env"]["x-kubernetes-patch-merge-key"], "name");
  EXPECT_EQ(container["properties"]["volumeMounts"]["x-kubernetes-patch-merge-key"], "mountPath");
  EXPECT_EQ(container["properties"]["args"]["items"]["type"], "string");
  EXPECT_FALSE(container["properties"]["args"].contains("x-kubernetes-patch-strategy"));

  // Quantities and int-or-string values take numbers and strings.
  const json& resources = Resolve(doc, container["properties"]["resources"]);
  const json& limit = resources["properties"]["limits"]["additionalProperties"];
  EXPECT_EQ(limit["x-kubernetes-int-or-string"], true);
  const json& probe = Resolve(doc, container["properties"]["livenessProbe"]);
  const json& http_get = Resolve(doc, probe["properties"]["httpGet"]);
  EXPECT_EQ(http_get["properties"]["port"]["x-kubernetes-int-or-string"], true);

  const json& status = Resolve(doc, pod["properties"]["status"]);
  EXPECT_EQ(status["properties"]["conditions"]["x-kubernetes-patch-merge-key"], "type");
  EXPECT_EQ(status["properties"]["podIP"]["type"], "string");
  EXPECT_EQ(status["properties"]["podIPs"]["x-kubernetes-patch-merge-key"], "ip");

  // Other core kinds.
  const json& service_spec =
      Resolve(doc, Schema(doc, "io.k8s.api.core.v1.Service")["properties"]["spec"]);
  EXPECT_EQ(service_spec["properties"]["ports"]["x-kubernetes-patch-merge-key"], "port");
  EXPECT_EQ(service_spec["properties"]["clusterIP"]["type"], "string");
  const json& node_status =
      Resolve(doc, Schema(doc, "io.k8s.api.core.v1.Node")["properties"]["status"]);
  EXPECT_EQ(node_status["properties"]["addresses"]["x-kubernetes-patch-merge-key"], "type");
  const json& secret = Schema(doc, "io.k8s.api.core.v1.Secret");
  EXPECT_EQ(secret["properties"]["data"]["additionalProperties"]["format"], "byte");
  EXPECT_EQ(Schema(doc, "io.k8s.api.core.v1.PodList")["properties"]["items"]["items"]["$ref"],
            "#/components/schemas/io.k8s.api.core.v1.Pod");
}

TEST(OpenApiV3Test, EveryReferenceResolvesAndEveryPropertyHasAType) {
  for (const std::string& path : OpenApiV3Paths(Scheme())) {
    std::vector<std::string> parts = absl::StrSplit(path, '/');
    json doc = parts.size() == 2 ? V3("", parts[1]) : V3(parts[1], parts[2]);
    std::vector<std::string> refs;
    CollectRefs(doc, &refs);
    EXPECT_FALSE(refs.empty()) << path;
    for (const std::string& ref : refs) {
      ASSERT_TRUE(absl::StartsWith(ref, kSchemas)) << path << ": " << ref;
      EXPECT_TRUE(doc["components"]["schemas"].contains(ref.substr(kSchemas.size())))
          << path << ": " << ref;
    }
    for (const auto& [name, schema] : doc["components"]["schemas"].items()) {
      json properties = schema.value("properties", json::object());
      for (const auto& [field, property] : properties.items()) {
        EXPECT_TRUE(property.contains("type") || property.contains("allOf") ||
                    property.contains("x-kubernetes-int-or-string"))
            << path << ": " << name << "." << field;
      }
    }
  }
}

// kubectl >= 1.27 leaves field validation to the server when the PATCH
// operation of the kind (the first one it finds, in any order) lists
// fieldValidation; kubectl apply computes strategic merge patches from the
// schema when that operation accepts them.
TEST(OpenApiV3Test, EveryKindHasPatchOperationsWithFieldValidation) {
  for (const DiscoveryGroup& group : ServedGroups(Scheme())) {
    for (const DiscoveryGroupVersion& gv : group.versions) {
      json doc = V3(gv.group, gv.version);
      for (const DiscoveryResource& r : gv.resources) {
        // Resources without patch (the create-only access reviews) are
        // checked in access_review_test.cc.
        if (!r.subresource.empty() ||
            std::find(r.verbs.begin(), r.verbs.end(), "patch") == r.verbs.end()) {
          continue;
        }
        int found = 0;
        for (const auto& [path, item] : doc["paths"].items()) {
          ASSERT_TRUE(absl::StartsWith(path, "/")) << path;
          if (!item.contains("patch")) continue;
          const json& op = item["patch"];
          if (op["x-kubernetes-group-version-kind"] !=
              (json{{"group", r.group}, {"kind", r.kind}, {"version", r.version}})) {
            continue;
          }
          ++found;
          EXPECT_TRUE(HasQueryParam(op, "fieldValidation")) << path;
          EXPECT_TRUE(HasQueryParam(op, "dryRun")) << path;
          EXPECT_TRUE(
              op["requestBody"]["content"].contains("application/strategic-merge-patch+json"))
              << path;
        }
        EXPECT_GE(found, 1) << gv.group_version << " " << r.kind;
      }
    }
  }
  json core = V3("", "v1");
  const json& item = core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"];
  ASSERT_TRUE(item.is_object());
  for (const char* method : {"get", "put", "patch", "delete"}) {
    EXPECT_TRUE(item.contains(method)) << method;
  }
  EXPECT_EQ(item["patch"]["x-kubernetes-action"], "patch");
  EXPECT_EQ(item["patch"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/io.k8s.api.core.v1.Pod");
  EXPECT_TRUE(core["paths"]["/api/v1/pods"]["get"].is_object());
  EXPECT_TRUE(core["paths"]["/api/v1/nodes/{name}/status"]["patch"].is_object());
  EXPECT_TRUE(core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/log"]["get"].is_object());
  EXPECT_TRUE(
      core["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/binding"]["post"].is_object());
}

TEST(OpenApiV3Test, AppsDocumentHasWorkloadsAndTheirScale) {
  json doc = V3("apps", "v1");
  const json& deployment = Schema(doc, "io.k8s.api.apps.v1.Deployment");
  EXPECT_EQ(deployment["x-kubernetes-group-version-kind"],
            json::parse(R"([{"group":"apps","kind":"Deployment","version":"v1"}])"));
  const json& spec = Resolve(doc, deployment["properties"]["spec"]);
  EXPECT_EQ(spec["properties"]["replicas"]["type"], "integer");
  EXPECT_EQ(spec["properties"]["strategy"]["x-kubernetes-patch-strategy"], "retainKeys");
  const json& pod_spec =
      Resolve(doc, Resolve(doc, spec["properties"]["template"])["properties"]["spec"]);
  EXPECT_EQ(pod_spec["properties"]["containers"]["x-kubernetes-patch-merge-key"], "name");
  EXPECT_EQ(Schema(doc, "io.k8s.api.autoscaling.v1.Scale")["x-kubernetes-group-version-kind"],
            json::parse(R"([{"group":"autoscaling","kind":"Scale","version":"v1"}])"));
  const json& scale = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"];
  EXPECT_EQ(scale["patch"]["x-kubernetes-group-version-kind"],
            (json{{"group", "autoscaling"}, {"kind", "Scale"}, {"version", "v1"}}));
  EXPECT_TRUE(doc["paths"].contains("/apis/apps/v1/deployments"));
}

// ---- OpenAPI v2 -------------------------------------------------------------------

TEST(OpenApiV2Test, JsonDocumentHasDefinitionsAndPatchOperations) {
  json doc = OpenApiV2Document(Scheme());
  EXPECT_EQ(doc["swagger"], "2.0");
  const json& pod = doc["definitions"]["io.k8s.api.core.v1.Pod"];
  EXPECT_EQ(pod["properties"]["spec"]["$ref"], "#/definitions/io.k8s.api.core.v1.PodSpec");
  EXPECT_EQ(pod["x-kubernetes-group-version-kind"][0]["kind"], "Pod");
  const json& port =
      doc["definitions"]["io.k8s.api.core.v1.ServicePort"]["properties"]["targetPort"];
  EXPECT_EQ(port, (json{{"type", "string"}, {"format", "int-or-string"}}));
  std::vector<std::string> refs;
  CollectRefs(doc, &refs);
  for (const std::string& ref : refs) {
    ASSERT_TRUE(absl::StartsWith(ref, "#/definitions/")) << ref;
    EXPECT_TRUE(doc["definitions"].contains(ref.substr(strlen("#/definitions/")))) << ref;
  }
  const json& patch =
      doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
  EXPECT_THAT(patch["consumes"].get<std::vector<std::string>>(),
              Contains("application/strategic-merge-patch+json"));
  EXPECT_TRUE(HasQueryParam(patch, "dryRun"));
  EXPECT_TRUE(HasQueryParam(patch, "fieldValidation"));
  EXPECT_EQ(patch["parameters"][0]["in"], "body");
}

// kube-openapi's reading of a v2 schema (pkg/util/proto), which kubectl
// 1.20 applies to every definition: any violation makes kubectl give up on
// the whole document.
void CheckGnosticSchema(const openapi::v2::Schema& s, const std::set<std::string>& definitions,
                        const std::string& where, std::vector<std::string>* errors) {
  for (const auto& ext : s.vendor_extension()) {
    if (!api::ParseYaml(ext.value().yaml(), true).ok()) {
      errors->push_back(absl::StrCat(where, ": extension ", ext.name(), " is not YAML"));
    }
  }
  if (!s._ref().empty()) {
    if (s.properties().additional_properties_size() > 0 || s.type().value_size() > 0) {
      errors->push_back(absl::StrCat(where, ": a reference with a type or properties"));
    }
    absl::string_view name = s._ref();
    if (!absl::ConsumePrefix(&name, "#/definitions/") || !definitions.count(std::string(name))) {
      errors->push_back(absl::StrCat(where, ": unknown reference ", s._ref()));
    }
    return;
  }
  auto check_properties = [&] {
    for (const auto& p : s.properties().additional_properties()) {
      CheckGnosticSchema(p.value(), definitions, absl::StrCat(where, ".", p.name()), errors);
    }
  };
  if (s.type().value_size() == 0) {
    if (s.has_properties()) check_properties();
    return;
  }
  if (s.type().value_size() > 1) {
    errors->push_back(absl::StrCat(where, ": several types"));
    return;
  }
  const std::string& type = s.type().value(0);
  if (type == "object") {
    if (s.has_properties()) {
      check_properties();
    } else if (s.additional_properties().has_schema()) {
      CheckGnosticSchema(s.additional_properties().schema(), definitions, where + "[]", errors);
    }
  } else if (type == "array") {
    if (s.items().schema_size() != 1) {
      errors->push_back(absl::StrCat(where, ": an array needs exactly one item schema"));
    } else {
      CheckGnosticSchema(s.items().schema(0), definitions, where + "[]", errors);
    }
  } else if (type != "string" && type != "integer" && type != "number" && type != "boolean") {
    errors->push_back(absl::StrCat(where, ": unknown primitive type ", type));
  }
}

const openapi::v2::NamedAny* Extension(
    const google::protobuf::RepeatedPtrField<openapi::v2::NamedAny>& extensions,
    absl::string_view name) {
  for (const auto& e : extensions) {
    if (e.name() == name) return &e;
  }
  return nullptr;
}

json YamlValue(const openapi::v2::NamedAny* extension) {
  if (extension == nullptr) return json();
  absl::StatusOr<std::vector<json>> docs = api::ParseYaml(extension->value().yaml(), true);
  if (!docs.ok() || docs->size() != 1) return json();
  return (*docs)[0];
}

TEST(OpenApiV2Test, ProtobufParsesBackAsGnosticDocumentThatKubectlCanRead) {
  absl::StatusOr<std::string> bytes = OpenApiV2Protobuf(OpenApiV2Document(Scheme()));
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  openapi::v2::Document doc;
  ASSERT_TRUE(doc.ParseFromString(*bytes));
  EXPECT_EQ(doc.swagger(), "2.0");
  EXPECT_EQ(doc.info().title(), "Kubernetes");

  std::set<std::string> names;
  for (const auto& d : doc.definitions().additional_properties()) names.insert(d.name());
  std::vector<std::string> errors;
  const openapi::v2::Schema* pod = nullptr;
  const openapi::v2::Schema* pod_spec = nullptr;
  for (const auto& d : doc.definitions().additional_properties()) {
    CheckGnosticSchema(d.value(), names, d.name(), &errors);
    if (d.name() == "io.k8s.api.core.v1.Pod") pod = &d.value();
    if (d.name() == "io.k8s.api.core.v1.PodSpec") pod_spec = &d.value();
  }
  EXPECT_THAT(errors, ::testing::IsEmpty());

  ASSERT_NE(pod, nullptr);
  ASSERT_NE(pod_spec, nullptr);
  EXPECT_EQ(YamlValue(Extension(pod->vendor_extension(), "x-kubernetes-group-version-kind")),
            json::parse(R"([{"group":"","kind":"Pod","version":"v1"}])"));
  std::set<std::string> pod_fields;
  for (const auto& p : pod->properties().additional_properties()) pod_fields.insert(p.name());
  EXPECT_EQ(pod_fields,
            (std::set<std::string>{"apiVersion", "kind", "metadata", "spec", "status"}));
  for (const auto& p : pod_spec->properties().additional_properties()) {
    if (p.name() != "containers") continue;
    EXPECT_EQ(p.value().type().value(0), "array");
    EXPECT_EQ(p.value().items().schema(0)._ref(), "#/definitions/io.k8s.api.core.v1.Container");
    EXPECT_EQ(YamlValue(Extension(p.value().vendor_extension(), "x-kubernetes-patch-merge-key")),
              "name");
    EXPECT_EQ(YamlValue(Extension(p.value().vendor_extension(), "x-kubernetes-patch-strategy")),
              "merge");
  }

  // What kubectl 1.20 reads from the paths: the PATCH operation of a kind
  // (by its x-kubernetes-group-version-kind), its content types and its
  // query parameters (dryRun for --dry-run=server).
  bool found = false;
  for (const auto& path : doc.paths().path()) {
    const openapi::v2::Operation& patch = path.value().patch();
    if (YamlValue(Extension(patch.vendor_extension(), "x-kubernetes-group-version-kind")) !=
        json{{"group", "apps"}, {"kind", "Deployment"}, {"version", "v1"}}) {
      continue;
    }
    found = true;
    EXPECT_THAT(patch.consumes(), Contains("application/strategic-merge-patch+json"));
    std::set<std::string> query;
    for (const auto& p : patch.parameters()) {
      query.insert(p.parameter().non_body_parameter().query_parameter_sub_schema().name());
    }
    EXPECT_TRUE(query.count("dryRun")) << path.name();
    EXPECT_TRUE(query.count("fieldValidation")) << path.name();
  }
  EXPECT_TRUE(found);
}

TEST(OpenApiV2Test, ProtobufConversionRejectsNonObjects) {
  EXPECT_EQ(OpenApiV2Protobuf(json::array()).status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::string> empty = OpenApiV2Protobuf(json::object());
  ASSERT_TRUE(empty.ok());
  openapi::v2::Document doc;
  EXPECT_TRUE(doc.ParseFromString(*empty));
}

}  // namespace
}  // namespace korch::apiserver
