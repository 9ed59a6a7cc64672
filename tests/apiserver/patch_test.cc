#include "korch/apiserver/patch.h"

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace korch::apiserver {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

json J(const char* text) { return json::parse(text); }

// A Deployment as the API server stores it, trimmed to what the patches touch.
json Deployment() {
  return J(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web", "tier": "front"},
                 "annotations": {"deployment.kubernetes.io/revision": "2",
                                 "kubectl.kubernetes.io/last-applied-configuration": "{}"},
                 "finalizers": ["example.com/a"]},
    "spec": {
      "replicas": 2,
      "selector": {"matchLabels": {"app": "web"}},
      "strategy": {"type": "RollingUpdate",
                   "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
      "template": {
        "metadata": {"labels": {"app": "web"}},
        "spec": {
          "containers": [
            {"name": "app", "image": "nginx:1.25",
             "ports": [{"containerPort": 80, "protocol": "TCP"},
                       {"containerPort": 443, "protocol": "TCP"}],
             "env": [{"name": "A", "value": "1"}],
             "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
            {"name": "sidecar", "image": "busybox:1.36", "args": ["sleep", "3600"]}
          ],
          "tolerations": [{"key": "k1", "operator": "Exists"}],
          "volumes": [{"name": "data", "emptyDir": {}}]
        }
      }
    }
  })");
}

json& PodSpec(json& d) { return d["spec"]["template"]["spec"]; }
json& App(json& d) { return PodSpec(d)["containers"][0]; }
json& Sidecar(json& d) { return PodSpec(d)["containers"][1]; }

// ---------------------------------------------------------------------------
// Strategic merge patch on a Deployment: the patches kubectl apply sends.

struct DeploymentCase {
  const char* name;
  const char* patch;
  std::function<void(json&)> expect;  // edits Deployment() into the result
};

class DeploymentStrategicPatchTest : public ::testing::TestWithParam<DeploymentCase> {};

TEST_P(DeploymentStrategicPatchTest, Applies) {
  const DeploymentCase& c = GetParam();
  json want = Deployment();
  c.expect(want);
  absl::StatusOr<json> got =
      ApplyStrategicMergePatch(Deployment(), J(c.patch), KubernetesStrategicSchema());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, want) << "got  " << got->dump() << "\nwant " << want.dump();
}

INSTANTIATE_TEST_SUITE_P(
    Kubectl, DeploymentStrategicPatchTest,
    ::testing::Values(
        DeploymentCase{"ChangeImageOfOneContainer",
                       R"({"spec":{"template":{"spec":{
                 "$setElementOrder/containers":[{"name":"app"},{"name":"sidecar"}],
                 "containers":[{"image":"nginx:1.26","name":"app"}]}}}})",
                       [](json& d) { App(d)["image"] = "nginx:1.26"; }},
        DeploymentCase{"AddEnvVar",
                       R"({"spec":{"template":{"spec":{
                 "$setElementOrder/containers":[{"name":"app"},{"name":"sidecar"}],
                 "containers":[{"$setElementOrder/env":[{"name":"A"},{"name":"B"}],
                                "env":[{"name":"B","value":"2"}],"name":"app"}]}}}})",
                       [](json& d) {
                         App(d)["env"].push_back({{"name", "B"}, {"value", "2"}});
                       }},
        DeploymentCase{"ChangeEnvVarValue",
                       R"({"spec":{"template":{"spec":{"containers":[
                 {"env":[{"name":"A","value":"changed"}],"name":"app"}]}}}})",
                       [](json& d) { App(d)["env"][0]["value"] = "changed"; }},
        DeploymentCase{"RemoveEnvVarValueWithNull",
                       R"({"spec":{"template":{"spec":{"containers":[
                 {"env":[{"name":"A","value":null}],"name":"app"}]}}}})",
                       [](json& d) { App(d)["env"][0].erase("value"); }},
        DeploymentCase{"RemovePortWithPatchDelete",
                       R"({"spec":{"template":{"spec":{
                 "$setElementOrder/containers":[{"name":"app"},{"name":"sidecar"}],
                 "containers":[{"$setElementOrder/ports":[{"containerPort":80}],"name":"app",
                                "ports":[{"$patch":"delete","containerPort":443}]}]}}}})",
                       [](json& d) { App(d)["ports"].erase(1); }},
        DeploymentCase{"RemoveContainer",
                       R"({"spec":{"template":{"spec":{
                 "$setElementOrder/containers":[{"name":"app"}],
                 "containers":[{"$patch":"delete","name":"sidecar"}]}}}})",
                       [](json& d) { PodSpec(d)["containers"].erase(1); }},
        DeploymentCase{"ReorderContainersWithSetElementOrder",
                       R"({"spec":{"template":{"spec":{
                 "$setElementOrder/containers":[{"name":"sidecar"},{"name":"app"}]}}}})",
                       [](json& d) {
                         json c = PodSpec(d)["containers"];
                         PodSpec(d)["containers"] = json::array({c[1], c[0]});
                       }},
        DeploymentCase{"AddContainerAtFrontWithSetElementOrder",
                       R"({"spec":{"template":{"spec":{
                 "$setElementOrder/containers":[{"name":"init"},{"name":"app"},{"name":"sidecar"}],
                 "containers":[{"image":"alpine","name":"init"}]}}}})",
                       [](json& d) {
                         PodSpec(d)["containers"].insert(
                             PodSpec(d)["containers"].begin(),
                             json{{"name", "init"}, {"image", "alpine"}});
                       }},
        DeploymentCase{"NewContainersAppendedInPatchOrder",
                       R"({"spec":{"template":{"spec":{"containers":[
                 {"name":"c","image":"c"},{"name":"b","image":"b"}]}}}})",
                       [](json& d) {
                         PodSpec(d)["containers"].push_back({{"name", "c"}, {"image", "c"}});
                         PodSpec(d)["containers"].push_back({{"name", "b"}, {"image", "b"}});
                       }},
        DeploymentCase{"RetainKeysWhenSwitchingToRecreate",
                       R"({"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":null,
                                               "type":"Recreate"}}})",
                       [](json& d) {
                         d["spec"]["strategy"] = {{"type", "Recreate"}};
                       }},
        DeploymentCase{"RetainKeysWithoutNull",
                       R"({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}})",
                       [](json& d) {
                         d["spec"]["strategy"] = {{"type", "Recreate"}};
                       }},
        DeploymentCase{
            "RetainKeysOnVolumeSource",
            R"({"spec":{"template":{"spec":{"volumes":[
                 {"$retainKeys":["configMap","name"],"configMap":{"name":"cm"},"name":"data"}]}}}})",
            [](json& d) {
              PodSpec(d)["volumes"][0] = {{"name", "data"}, {"configMap", {{"name", "cm"}}}};
            }},
        DeploymentCase{"ScaleReplicas", R"({"spec":{"replicas":5}})",
                       [](json& d) { d["spec"]["replicas"] = 5; }},
        DeploymentCase{"TolerationsAreAtomic",
                       R"({"spec":{"template":{"spec":{"tolerations":[
                 {"key":"k2","operator":"Exists"}]}}}})",
                       [](json& d) {
                         PodSpec(d)["tolerations"] = J(R"([{"key":"k2","operator":"Exists"}])");
                       }},
        DeploymentCase{"ArgsAreReplaced",
                       R"({"spec":{"template":{"spec":{"containers":[
                 {"args":["sleep","60"],"name":"sidecar"}]}}}})",
                       [](json& d) {
                         Sidecar(d)["args"] = {"sleep", "60"};
                       }},
        DeploymentCase{"FinalizersMergeAsASet",
                       R"({"metadata":{"finalizers":["example.com/b","example.com/a"]}})",
                       [](json& d) { d["metadata"]["finalizers"].push_back("example.com/b"); }},
        DeploymentCase{"DeleteFromPrimitiveList",
                       R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["example.com/a"]}})",
                       [](json& d) { d["metadata"]["finalizers"] = json::array(); }},
        DeploymentCase{"DeleteFromPrimitiveListOfAtomicList",
                       R"({"spec":{"template":{"spec":{"containers":[
                 {"$deleteFromPrimitiveList/args":["3600"],"name":"sidecar"}]}}}})",
                       [](json& d) { Sidecar(d)["args"] = {"sleep"}; }},
        DeploymentCase{"NullDeletesAnnotation",
                       R"({"metadata":{"annotations":{"deployment.kubernetes.io/revision":null}}})",
                       [](json& d) {
                         d["metadata"]["annotations"].erase("deployment.kubernetes.io/revision");
                       }},
        DeploymentCase{
            "LastAppliedAnnotation",
            R"({"metadata":{"annotations":{
                 "kubectl.kubernetes.io/last-applied-configuration":"{\"kind\":\"Deployment\"}"}}})",
            [](json& d) {
              d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
                  "{\"kind\":\"Deployment\"}";
            }},
        DeploymentCase{"PatchReplaceOnMap",
                       R"({"metadata":{"labels":{"$patch":"replace","new":"yes"}}})",
                       [](json& d) {
                         d["metadata"]["labels"] = {{"new", "yes"}};
                       }},
        DeploymentCase{"PatchDeleteOnMap", R"({"spec":{"strategy":{"$patch":"delete"}}})",
                       [](json& d) { d["spec"].erase("strategy"); }},
        DeploymentCase{"PatchMergeOnMapIsTheDefault",
                       R"({"metadata":{"labels":{"$patch":"merge","new":"yes"}}})",
                       [](json& d) { d["metadata"]["labels"]["new"] = "yes"; }},
        DeploymentCase{
            "ReplaceMarkerInList",
            R"({"spec":{"template":{"spec":{"containers":[
                 {"$patch":"replace"},{"name":"only","image":"x"}]}}}})",
            [](json& d) { PodSpec(d)["containers"] = J(R"([{"name":"only","image":"x"}])"); }},
        DeploymentCase{
            "AddPortAndVolumeMount",
            R"({"spec":{"template":{"spec":{"containers":[{"name":"app",
                 "ports":[{"containerPort":8080}],
                 "volumeMounts":[{"mountPath":"/data","readOnly":true},
                                 {"mountPath":"/cache","name":"cache"}]}]}}}})",
            [](json& d) {
              App(d)["ports"].push_back({{"containerPort", 8080}});
              App(d)["volumeMounts"][0]["readOnly"] = true;
              App(d)["volumeMounts"].push_back({{"mountPath", "/cache"}, {"name", "cache"}});
            }},
        DeploymentCase{"NewFieldDropsNullsAndDirectives",
                       R"({"spec":{"template":{"spec":{"securityContext":{"runAsUser":1,
                 "fsGroup":null,"$patch":"merge"}}}}})",
                       [](json& d) {
                         PodSpec(d)["securityContext"] = {{"runAsUser", 1}};
                       }},
        DeploymentCase{"TypeChangeReplaces", R"({"spec":{"selector":["x"]}})",
                       [](json& d) { d["spec"]["selector"] = {"x"}; }},
        DeploymentCase{"EmptyPatchChangesNothing", R"({})", [](json&) {}},
        DeploymentCase{"DeleteContainerThatDoesNotExist",
                       R"({"spec":{"template":{"spec":{"containers":[
                 {"$patch":"delete","name":"ghost"}]}}}})",
                       [](json&) {}}),
    [](const ::testing::TestParamInfo<DeploymentCase>& info) { return info.param.name; });

// ---------------------------------------------------------------------------
// Strategic merge patch on other kinds: the schema works from the field path.

struct Case {
  const char* name;
  const char* doc;
  const char* patch;
  const char* want;
};

class StrategicPatchTest : public ::testing::TestWithParam<Case> {};

TEST_P(StrategicPatchTest, Applies) {
  const Case& c = GetParam();
  absl::StatusOr<json> got =
      ApplyStrategicMergePatch(J(c.doc), J(c.patch), KubernetesStrategicSchema());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, J(c.want)) << got->dump();
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, StrategicPatchTest,
    ::testing::Values(
        Case{"PodEnv", R"({"spec":{"containers":[{"name":"a","env":[{"name":"X","value":"1"}]}]}})",
             R"({"spec":{"containers":[{"name":"a","env":[{"name":"Y","value":"2"}]}]}})",
             R"({"spec":{"containers":[{"name":"a","env":[{"name":"X","value":"1"},
                                                          {"name":"Y","value":"2"}]}]}})"},
        Case{
            "PodInitContainerPorts",
            R"({"spec":{"initContainers":[{"name":"i","ports":[{"containerPort":1}]}]}})",
            R"({"spec":{"initContainers":[{"name":"i","ports":[{"containerPort":1,"name":"p"}]}]}})",
            R"({"spec":{"initContainers":[{"name":"i","ports":[{"containerPort":1,"name":"p"}]}]}})"},
        Case{"JobTemplate",
             R"({"spec":{"template":{"spec":{"containers":[{"name":"a","image":"1"}]}}}})",
             R"({"spec":{"template":{"spec":{"containers":[{"name":"b","image":"2"}]}}}})",
             R"({"spec":{"template":{"spec":{"containers":[{"name":"a","image":"1"},
                                                            {"name":"b","image":"2"}]}}}})"},
        Case{"CronJobTemplate",
             R"({"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[
                 {"name":"a","env":[{"name":"X","value":"1"}]}]}}}}}})",
             R"({"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[
                 {"name":"a","env":[{"name":"X","value":"2"}]}]}}}}}})",
             R"({"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[
                 {"name":"a","env":[{"name":"X","value":"2"}]}]}}}}}})"},
        Case{
            "ServicePortsByPort",
            R"({"spec":{"ports":[{"port":80,"targetPort":8080},{"port":443,"targetPort":8443}]}})",
            R"({"spec":{"ports":[{"port":443,"targetPort":9443}]}})",
            R"({"spec":{"ports":[{"port":80,"targetPort":8080},{"port":443,"targetPort":9443}]}})"},
        Case{"PodConditionsByType",
             R"({"status":{"conditions":[{"type":"Ready","status":"False"},
                                         {"type":"Initialized","status":"True"}]}})",
             R"({"status":{"conditions":[{"type":"Ready","status":"True"}]}})",
             R"({"status":{"conditions":[{"type":"Ready","status":"True"},
                                         {"type":"Initialized","status":"True"}]}})"},
        Case{"NodeAddressesByType",
             R"({"status":{"addresses":[{"type":"InternalIP","address":"10.0.0.1"}]}})",
             R"({"status":{"addresses":[{"type":"Hostname","address":"n1"},
                                        {"type":"InternalIP","address":"10.0.0.2"}]}})",
             R"({"status":{"addresses":[{"type":"InternalIP","address":"10.0.0.2"},
                                        {"type":"Hostname","address":"n1"}]}})"},
        Case{"HostAliasesByIp", R"({"spec":{"hostAliases":[{"ip":"1.1.1.1","hostnames":["a"]}]}})",
             R"({"spec":{"hostAliases":[{"ip":"1.1.1.1","hostnames":["b"]}]}})",
             R"({"spec":{"hostAliases":[{"ip":"1.1.1.1","hostnames":["b"]}]}})"},
        Case{"OwnerReferencesByUid",
             R"({"metadata":{"ownerReferences":[{"uid":"u1","kind":"ReplicaSet","name":"a"}]}})",
             R"({"metadata":{"ownerReferences":[{"uid":"u2","kind":"ReplicaSet","name":"b"}]}})",
             R"({"metadata":{"ownerReferences":[{"uid":"u1","kind":"ReplicaSet","name":"a"},
                                                {"uid":"u2","kind":"ReplicaSet","name":"b"}]}})"},
        Case{"ImagePullSecretsByName", R"({"spec":{"imagePullSecrets":[{"name":"a"}]}})",
             R"({"spec":{"imagePullSecrets":[{"name":"b"}]}})",
             R"({"spec":{"imagePullSecrets":[{"name":"a"},{"name":"b"}]}})"},
        Case{"UnknownListIsReplaced", R"({"spec":{"items":[{"name":"a"}]}})",
             R"({"spec":{"items":[{"name":"b"}]}})", R"({"spec":{"items":[{"name":"b"}]}})"},
        Case{"EndpointSliceAddressesAreAtomic", R"({"endpoints":[{"addresses":["10.0.0.1"]}]})",
             R"({"endpoints":[{"addresses":["10.0.0.2"]}]})",
             R"({"endpoints":[{"addresses":["10.0.0.2"]}]})"},
        Case{"ListCreatedFromNothing", R"({"spec":{}})",
             R"({"spec":{"containers":[{"name":"a"},{"$patch":"delete","name":"b"}]}})",
             R"({"spec":{"containers":[{"name":"a"}]}})"},
        Case{"SetElementOrderOfPrimitiveList", R"({"metadata":{"finalizers":["a"]}})",
             R"({"metadata":{"$setElementOrder/finalizers":["b","a"],"finalizers":["b"]}})",
             R"({"metadata":{"finalizers":["b","a"]}})"},
        Case{"SetElementOrderKeepsServerOnlyElementsInPlace",
             R"({"spec":{"containers":[{"name":"a"},{"name":"b"},{"name":"c"},{"name":"d"}]}})",
             R"({"spec":{"$setElementOrder/containers":[{"name":"c"},{"name":"a"}]}})",
             R"({"spec":{"containers":[{"name":"b"},{"name":"c"},{"name":"a"},{"name":"d"}]}})"},
        Case{"DocNullIsEmptyObject", "null", R"({"a":{"b":1,"c":null}})", R"({"a":{"b":1}})"},
        Case{"TopLevelDelete", R"({"a":1})", R"({"$patch":"delete"})", R"({})"},
        Case{"TopLevelReplace", R"({"a":1,"b":2})", R"({"$patch":"replace","c":3})", R"({"c":3})"},
        Case{"ElementDeletedByDirectiveInsideMergedElement",
             R"({"spec":{"containers":[{"name":"a"},{"name":"b"}]}})",
             R"({"spec":{"containers":[{"name":"a","$patch":"delete"}]}})",
             R"({"spec":{"containers":[{"name":"b"}]}})"}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(StrategicSchemaTest, LookupUsesTheLongestSuffix) {
  const StrategicSchema& s = KubernetesStrategicSchema();
  ASSERT_NE(s.Lookup("spec.template.spec.containers.ports"), nullptr);
  EXPECT_EQ(s.Lookup("spec.template.spec.containers.ports")->merge_key, "containerPort");
  EXPECT_EQ(s.Lookup("spec.containers.ports")->merge_key, "containerPort");
  EXPECT_EQ(s.Lookup("spec.ports")->merge_key, "port");
  EXPECT_EQ(s.Lookup("spec.containers")->merge_key, "name");
  EXPECT_EQ(s.Lookup("spec.initContainers.env")->merge_key, "name");
  EXPECT_EQ(s.Lookup("spec.containers.volumeMounts")->merge_key, "mountPath");
  EXPECT_EQ(s.Lookup("status.conditions")->merge_key, "type");
  EXPECT_EQ(s.Lookup("spec.template.spec.tolerations")->strategy, PatchStrategy::kReplace);
  EXPECT_EQ(s.Lookup("metadata.finalizers")->strategy, PatchStrategy::kMerge);
  EXPECT_TRUE(s.Lookup("metadata.finalizers")->merge_key.empty());
  EXPECT_TRUE(s.Lookup("spec.strategy")->retain_keys);
  EXPECT_EQ(s.Lookup("spec.containers.args"), nullptr);
  EXPECT_EQ(s.Lookup("endpoints.addresses"), nullptr);
  EXPECT_EQ(s.Lookup(""), nullptr);
}

TEST(StrategicSchemaTest, CustomSchema) {
  StrategicSchema s;
  s.Add("items", {PatchStrategy::kMerge, "id", false})
      .Add("meta", {PatchStrategy::kReplace, "", false});
  absl::StatusOr<json> got =
      ApplyStrategicMergePatch(J(R"({"items":[{"id":1,"v":1}],"meta":{"a":1}})"),
                               J(R"({"items":[{"id":1,"w":2}],"meta":{"b":2}})"), s);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, J(R"({"items":[{"id":1,"v":1,"w":2}],"meta":{"b":2}})"));
}

struct ErrorCase {
  const char* name;
  const char* doc;
  const char* patch;
  absl::StatusCode code;
  const char* message;
};

class StrategicPatchErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(StrategicPatchErrorTest, Fails) {
  const ErrorCase& c = GetParam();
  absl::StatusOr<json> got =
      ApplyStrategicMergePatch(J(c.doc), J(c.patch), KubernetesStrategicSchema());
  ASSERT_FALSE(got.ok()) << got->dump();
  EXPECT_EQ(got.status().code(), c.code);
  EXPECT_THAT(got.status().message(), HasSubstr(c.message));
}

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

INSTANTIATE_TEST_SUITE_P(
    Errors, StrategicPatchErrorTest,
    ::testing::Values(
        ErrorCase{"PatchIsArray", "{}", "[]", kInvalid,
                  "strategic merge patch must be a JSON object, got array"},
        ErrorCase{"PatchIsString", "{}", R"("x")", kInvalid, "must be a JSON object, got string"},
        ErrorCase{"PatchIsNull", "{}", "null", kInvalid, "must be a JSON object, got null"},
        ErrorCase{"DocIsNumber", "1", "{}", kInvalid, "applies to a JSON object, got number"},
        ErrorCase{"UnknownDirective", "{}", R"({"spec":{"$frob":1}})", kInvalid,
                  "spec: unknown directive \"$frob\""},
        ErrorCase{"UnknownPatchValue", "{}", R"({"spec":{"$patch":"bogus"}})", kInvalid,
                  "spec: unknown \"$patch\" directive \"bogus\""},
        ErrorCase{"PatchValueNotString", "{}", R"({"spec":{"$patch":5}})", kInvalid,
                  "\"$patch\" must be a string"},
        ErrorCase{"ElementWithoutMergeKey", R"({"spec":{"containers":[{"name":"a"}]}})",
                  R"({"spec":{"containers":[{"image":"x"}]}})", kInvalid,
                  "spec.containers: element {\"image\":\"x\"} has no merge key \"name\""},
        ErrorCase{"NestedElementWithoutMergeKey",
                  R"({"spec":{"containers":[{"name":"a","env":[{"name":"X"}]}]}})",
                  R"({"spec":{"containers":[{"name":"a","env":[{"value":"1"}]}]}})", kInvalid,
                  "spec.containers[0].env: element {\"value\":\"1\"} has no merge key \"name\""},
        ErrorCase{"ElementNotAnObject", "{}", R"({"spec":{"containers":["x"]}})", kInvalid,
                  "element \"x\" is a string, but this list merges objects by \"name\""},
        ErrorCase{"DeleteWithoutMergeKey", "{}",
                  R"({"spec":{"containers":[{"$patch":"delete","image":"x"}]}})", kInvalid,
                  "element 0 has \"$patch\": \"delete\" but no merge key \"name\""},
        ErrorCase{"UnknownPatchInList", "{}",
                  R"({"spec":{"containers":[{"$patch":"frob","name":"a"}]}})", kInvalid,
                  "unknown \"$patch\" directive \"frob\""},
        ErrorCase{"RetainKeysNotList", "{}", R"({"spec":{"strategy":{"$retainKeys":"type"}}})",
                  kInvalid, "spec.strategy: \"$retainKeys\" must be a list of field names"},
        ErrorCase{"RetainKeysNotStrings", "{}", R"({"spec":{"$retainKeys":[1]}})", kInvalid,
                  "\"$retainKeys\" must be a list of field names"},
        ErrorCase{"SetElementOrderNotList", "{}", R"({"spec":{"$setElementOrder/containers":{}}})",
                  kInvalid, "\"$setElementOrder/containers\" must be a list"},
        ErrorCase{"SetElementOrderWithoutKey", R"({"spec":{"containers":[{"name":"a"}]}})",
                  R"({"spec":{"$setElementOrder/containers":[{"image":"x"}]}})", kInvalid,
                  "spec.containers: $setElementOrder element {\"image\":\"x\"} has no merge key"},
        ErrorCase{"DeleteFromPrimitiveListNotList", "{}",
                  R"({"metadata":{"$deleteFromPrimitiveList/finalizers":"a"}})", kInvalid,
                  "\"$deleteFromPrimitiveList/finalizers\" must be a list"}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) { return info.param.name; });

// ---------------------------------------------------------------------------
// RFC 7386 merge patch.

class MergePatchTest : public ::testing::TestWithParam<Case> {};

TEST_P(MergePatchTest, Applies) {
  const Case& c = GetParam();
  absl::StatusOr<json> got = ApplyMergePatch(J(c.doc), J(c.patch));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, J(c.want)) << got->dump();
}

// The examples of RFC 7386 appendix A, then what kubectl sends.
INSTANTIATE_TEST_SUITE_P(
    Rfc7386, MergePatchTest,
    ::testing::Values(
        Case{"A1", R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})"},
        Case{"A2", R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})"},
        Case{"A3", R"({"a":"b"})", R"({"a":null})", R"({})"},
        Case{"A4", R"({"a":"b","b":"c"})", R"({"a":null})", R"({"b":"c"})"},
        Case{"A5", R"({"a":["b"]})", R"({"a":"c"})", R"({"a":"c"})"},
        Case{"A6", R"({"a":"c"})", R"({"a":["b"]})", R"({"a":["b"]})"},
        Case{"A7", R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})", R"({"a":{"b":"d"}})"},
        Case{"A8", R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})"},
        Case{"A9", R"(["a","b"])", R"(["c","d"])", R"(["c","d"])"},
        Case{"A10", R"({"a":"b"})", R"(["c"])", R"(["c"])"},
        Case{"A11", R"({"a":"foo"})", "null", "null"},
        Case{"A12", R"({"a":"foo"})", R"("bar")", R"("bar")"},
        Case{"A13", R"({"e":null})", R"({"a":1})", R"({"e":null,"a":1})"},
        Case{"A14", R"([1,2])", R"({"a":"b","c":null})", R"({"a":"b"})"},
        Case{"A15", R"({})", R"({"a":{"bb":{"ccc":null}}})", R"({"a":{"bb":{}}})"},
        Case{"KubectlScale", R"({"spec":{"replicas":1,"paused":false},"status":{"replicas":1}})",
             R"({"spec":{"replicas":3}})",
             R"({"spec":{"replicas":3,"paused":false},"status":{"replicas":1}})"},
        Case{"ListsAreReplacedWhole", R"({"spec":{"containers":[{"name":"a"},{"name":"b"}]}})",
             R"({"spec":{"containers":[{"name":"b","image":"x"}]}})",
             R"({"spec":{"containers":[{"name":"b","image":"x"}]}})"},
        Case{"DirectivesAreData", R"({})", R"({"$patch":"delete"})", R"({"$patch":"delete"})"},
        Case{"EmptyPatch", R"({"a":1})", R"({})", R"({"a":1})"}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(MergePatchTest, DeepNestingIsAnErrorNotACrash) {
  json patch = json::object();
  for (int i = 0; i < 3000; ++i) {
    json next = json::object();
    next["a"] = std::move(patch);
    patch = std::move(next);
  }
  absl::StatusOr<json> got = ApplyMergePatch(json::object(), patch);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), kInvalid);
  EXPECT_THAT(got.status().message(), HasSubstr("nested deeper than"));
  got = ApplyStrategicMergePatch(json::object(), patch, KubernetesStrategicSchema());
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.status().message(), HasSubstr("nested deeper than"));
}

// ---------------------------------------------------------------------------
// RFC 6902 JSON patch.

constexpr const char* kJsonDoc =
    R"({"metadata":{"annotations":{"a/b":"1","c~d":"2"},"labels":{"x":"y"}},
        "spec":{"replicas":1,"list":[10,20,30],"template":{"v":1}},"":"empty"})";

class JsonPatchTest : public ::testing::TestWithParam<Case> {};

TEST_P(JsonPatchTest, Applies) {
  const Case& c = GetParam();
  absl::StatusOr<json> got = ApplyJsonPatch(J(c.doc), J(c.patch));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, J(c.want)) << got->dump();
}

INSTANTIATE_TEST_SUITE_P(
    Rfc6902, JsonPatchTest,
    ::testing::Values(
        Case{"AddMember", R"({"a":1})", R"([{"op":"add","path":"/b","value":2}])",
             R"({"a":1,"b":2})"},
        Case{"AddReplacesMember", R"({"a":1})", R"([{"op":"add","path":"/a","value":[1]}])",
             R"({"a":[1]})"},
        Case{"AddInsertsAtIndex", R"({"l":[1,3]})", R"([{"op":"add","path":"/l/1","value":2}])",
             R"({"l":[1,2,3]})"},
        Case{"AddAtEndIndex", R"({"l":[1]})", R"([{"op":"add","path":"/l/1","value":2}])",
             R"({"l":[1,2]})"},
        Case{"AddAppendsWithDash", R"({"l":[1]})", R"([{"op":"add","path":"/l/-","value":2}])",
             R"({"l":[1,2]})"},
        Case{"AddNullValue", R"({})", R"([{"op":"add","path":"/a","value":null}])",
             R"({"a":null})"},
        Case{"AddWholeDocument", R"({"a":1})", R"([{"op":"add","path":"","value":[1]}])", R"([1])"},
        Case{"RemoveMember", R"({"a":1,"b":2})", R"([{"op":"remove","path":"/a"}])", R"({"b":2})"},
        Case{"RemoveElement", R"({"l":[1,2,3]})", R"([{"op":"remove","path":"/l/1"}])",
             R"({"l":[1,3]})"},
        Case{"Replace", R"({"a":{"b":1}})", R"([{"op":"replace","path":"/a/b","value":"x"}])",
             R"({"a":{"b":"x"}})"},
        Case{"ReplaceWholeDocument", R"({"a":1})", R"([{"op":"replace","path":"","value":{}}])",
             R"({})"},
        Case{"MoveMember", R"({"a":{"x":1},"b":{}})",
             R"([{"op":"move","from":"/a/x","path":"/b/y"}])", R"({"a":{},"b":{"y":1}})"},
        Case{"MoveElement", R"({"l":[1,2,3,4]})", R"([{"op":"move","from":"/l/1","path":"/l/3"}])",
             R"({"l":[1,3,4,2]})"},
        Case{"MoveOntoItself", R"({"a":1})", R"([{"op":"move","from":"/a","path":"/a"}])",
             R"({"a":1})"},
        Case{"Copy", R"({"a":{"x":[1]}})", R"([{"op":"copy","from":"/a/x","path":"/b"}])",
             R"({"a":{"x":[1]},"b":[1]})"},
        Case{"CopyAppends", R"({"l":[1]})", R"([{"op":"copy","from":"/l/0","path":"/l/-"}])",
             R"({"l":[1,1]})"},
        Case{"TestPasses", R"({"a":{"b":[1,"x"]}})",
             R"([{"op":"test","path":"/a","value":{"b":[1,"x"]}}])", R"({"a":{"b":[1,"x"]}})"},
        Case{"TestNumbersCompareByValue", R"({"a":1})",
             R"([{"op":"test","path":"/a","value":1.0}])", R"({"a":1})"},
        Case{"EscapedSlashAndTilde", R"({"m":{"a/b":1,"c~d":2}})",
             R"([{"op":"replace","path":"/m/a~1b","value":3},
                 {"op":"remove","path":"/m/c~0d"}])",
             R"({"m":{"a/b":3}})"},
        Case{"EmptyKey", R"({"":1})", R"([{"op":"replace","path":"/","value":2}])", R"({"":2})"},
        Case{"ExtraMembersIgnored", R"({})",
             R"([{"op":"add","path":"/a","value":1,"from":"/nowhere","comment":"x"}])",
             R"({"a":1})"},
        Case{"EmptyPatch", R"({"a":1})", R"([])", R"({"a":1})"},
        Case{"SequenceSeesEarlierOps", R"({})",
             R"([{"op":"add","path":"/a","value":{}},{"op":"add","path":"/a/b","value":1},
                 {"op":"test","path":"/a/b","value":1}])",
             R"({"a":{"b":1}})"},
        Case{"RolloutUndo",
             R"({"metadata":{"name":"web","annotations":{"deployment.kubernetes.io/revision":"3"}},
                 "spec":{"replicas":2,"template":{"metadata":{"labels":{"app":"web"}},
                         "spec":{"containers":[{"name":"app","image":"nginx:1.26"}]}}}})",
             R"([{"op":"replace","path":"/spec/template",
                  "value":{"metadata":{"labels":{"app":"web"}},
                           "spec":{"containers":[{"name":"app","image":"nginx:1.25"}]}}},
                 {"op":"replace","path":"/metadata/annotations",
                  "value":{"deployment.kubernetes.io/revision":"3","kubernetes.io/change-cause":"undo"}}])",
             R"({"metadata":{"name":"web","annotations":{"deployment.kubernetes.io/revision":"3",
                                                        "kubernetes.io/change-cause":"undo"}},
                 "spec":{"replicas":2,"template":{"metadata":{"labels":{"app":"web"}},
                         "spec":{"containers":[{"name":"app","image":"nginx:1.25"}]}}}})"}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

class JsonPatchErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(JsonPatchErrorTest, Fails) {
  const ErrorCase& c = GetParam();
  absl::StatusOr<json> got = ApplyJsonPatch(J(c.doc), J(c.patch));
  ASSERT_FALSE(got.ok()) << got->dump();
  EXPECT_EQ(got.status().code(), c.code) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr(c.message));
}

constexpr absl::StatusCode kPrecondition = absl::StatusCode::kFailedPrecondition;

INSTANTIATE_TEST_SUITE_P(
    Errors, JsonPatchErrorTest,
    ::testing::Values(
        ErrorCase{"PatchIsObject", kJsonDoc, R"({"op":"add"})", kInvalid,
                  "json patch must be a list of operations, got object"},
        ErrorCase{"PatchIsNull", kJsonDoc, "null", kInvalid, "got null"},
        ErrorCase{"PatchIsString", kJsonDoc, R"("[]")", kInvalid, "got string"},
        ErrorCase{"OperationNotObject", kJsonDoc, "[1]", kInvalid,
                  "json patch operation 0: operation must be an object, got number"},
        ErrorCase{"MissingOp", kJsonDoc, R"([{"path":"/a"}])", kInvalid,
                  "json patch operation 0: missing \"op\""},
        ErrorCase{"OpNotString", kJsonDoc, R"([{"op":1,"path":"/a"}])", kInvalid,
                  "\"op\" must be a string, got number"},
        ErrorCase{"UnknownOp", kJsonDoc, R"([{"op":"frob","path":"/a"}])", kInvalid,
                  "json patch operation 0 (frob \"/a\"): unknown op \"frob\""},
        ErrorCase{"MissingPath", kJsonDoc, R"([{"op":"remove"}])", kInvalid, "missing \"path\""},
        ErrorCase{"PathNotString", kJsonDoc, R"([{"op":"remove","path":["a"]}])", kInvalid,
                  "\"path\" must be a string, got array"},
        ErrorCase{"PathWithoutSlash", kJsonDoc, R"([{"op":"remove","path":"spec"}])", kInvalid,
                  "JSON pointer \"spec\" must be empty or start with '/'"},
        ErrorCase{"BadEscape", kJsonDoc, R"([{"op":"remove","path":"/a~2b"}])", kInvalid,
                  "'~' must be followed by '0' or '1'"},
        ErrorCase{"TrailingTilde", kJsonDoc, R"([{"op":"remove","path":"/a~"}])", kInvalid,
                  "'~' must be followed by '0' or '1'"},
        ErrorCase{"AddMissingParent", kJsonDoc, R"([{"op":"add","path":"/spec/nope/x","value":1}])",
                  kInvalid, "path /spec/nope/x does not exist: no member \"nope\" in /spec"},
        ErrorCase{"AddWithoutValue", kJsonDoc, R"([{"op":"add","path":"/a"}])", kInvalid,
                  "\"add\" needs a \"value\""},
        ErrorCase{"AddPastEnd", kJsonDoc, R"([{"op":"add","path":"/spec/list/4","value":1}])",
                  kInvalid, "index 4 is out of range for an array of size 3"},
        ErrorCase{"AddLeadingZero", kJsonDoc, R"([{"op":"add","path":"/spec/list/01","value":1}])",
                  kInvalid, "\"01\" is not an array index or \"-\""},
        ErrorCase{"AddNegativeIndex", kJsonDoc,
                  R"([{"op":"add","path":"/spec/list/-1","value":1}])", kInvalid,
                  "\"-1\" is not an array index"},
        ErrorCase{"AddIntoScalar", kJsonDoc,
                  R"([{"op":"add","path":"/spec/replicas/x","value":1}])", kInvalid,
                  "parent /spec/replicas is a number, not an object or array"},
        ErrorCase{"RemoveMissing", kJsonDoc, R"([{"op":"remove","path":"/metadata/nope"}])",
                  kInvalid, "path /metadata/nope does not exist: no member \"nope\""},
        ErrorCase{"RemoveDash", kJsonDoc, R"([{"op":"remove","path":"/spec/list/-"}])", kInvalid,
                  "\"-\" is not an array index"},
        ErrorCase{"RemoveOutOfRange", kJsonDoc, R"([{"op":"remove","path":"/spec/list/3"}])",
                  kInvalid, "index 3 is out of range for an array of size 3"},
        ErrorCase{"RemoveRoot", kJsonDoc, R"([{"op":"remove","path":""}])", kInvalid,
                  "cannot remove the whole document"},
        ErrorCase{"ReplaceMissing", kJsonDoc,
                  R"([{"op":"replace","path":"/spec/paused","value":true}])", kInvalid,
                  "json patch operation 0 (replace \"/spec/paused\"): path /spec/paused does not "
                  "exist"},
        ErrorCase{"ReplaceThroughMissingIndex", kJsonDoc,
                  R"([{"op":"replace","path":"/spec/list/9/x","value":1}])", kInvalid,
                  "index 9 is out of range for /spec/list (size 3)"},
        ErrorCase{"ReplaceThroughScalar", kJsonDoc,
                  R"([{"op":"replace","path":"/spec/replicas/x/y","value":1}])", kInvalid,
                  "/spec/replicas is a number, not an object or array"},
        ErrorCase{"ReplaceWithoutValue", kJsonDoc, R"([{"op":"replace","path":"/spec"}])", kInvalid,
                  "\"replace\" needs a \"value\""},
        ErrorCase{"MoveIntoChild", kJsonDoc,
                  R"([{"op":"move","from":"/spec","path":"/spec/template/x"}])", kInvalid,
                  "cannot move /spec into its own child /spec/template/x"},
        ErrorCase{"MoveWithoutFrom", kJsonDoc, R"([{"op":"move","path":"/a"}])", kInvalid,
                  "missing \"from\""},
        ErrorCase{"MoveFromMissing", kJsonDoc, R"([{"op":"move","from":"/nope","path":"/a"}])",
                  kInvalid, "from: path /nope does not exist"},
        ErrorCase{"CopyFromMissing", kJsonDoc, R"([{"op":"copy","from":"/nope","path":"/a"}])",
                  kInvalid, "from: path /nope does not exist"},
        ErrorCase{"CopyFromDash", kJsonDoc, R"([{"op":"copy","from":"/spec/list/-","path":"/a"}])",
                  kInvalid, "\"-\" is not an array index of /spec/list"},
        ErrorCase{"TestFails", kJsonDoc, R"([{"op":"test","path":"/spec/replicas","value":2}])",
                  kPrecondition, "test failed: /spec/replicas is 1, not 2"},
        ErrorCase{"TestMissingPath", kJsonDoc, R"([{"op":"test","path":"/nope","value":2}])",
                  kPrecondition, "path /nope does not exist"},
        ErrorCase{"TestWithoutValue", kJsonDoc, R"([{"op":"test","path":"/spec"}])", kInvalid,
                  "\"test\" needs a \"value\""},
        ErrorCase{"TestStringVsNumber", kJsonDoc,
                  R"([{"op":"test","path":"/spec/replicas","value":"1"}])", kPrecondition,
                  "test failed"},
        ErrorCase{"SecondOperationNamed", kJsonDoc,
                  R"([{"op":"add","path":"/a","value":1},{"op":"remove","path":"/b"}])", kInvalid,
                  "json patch operation 1 (remove \"/b\")"}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) { return info.param.name; });

TEST(JsonPatchTest, FailedPatchLeavesInputUntouched) {
  json doc = J(R"({"a":1})");
  absl::StatusOr<json> got =
      ApplyJsonPatch(doc, J(R"([{"op":"add","path":"/b","value":2},{"op":"remove","path":"/c"}])"));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(doc, J(R"({"a":1})"));
}

// ---------------------------------------------------------------------------
// Server-side apply.

class ServerSideApplyTest : public ::testing::TestWithParam<Case> {};

TEST_P(ServerSideApplyTest, Merges) {
  const Case& c = GetParam();
  json live = J(c.doc);
  absl::StatusOr<json> got = ApplyServerSideApply(live.is_null() ? nullptr : &live, J(c.patch),
                                                  KubernetesStrategicSchema());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, J(c.want)) << got->dump();
}

INSTANTIATE_TEST_SUITE_P(
    Structural, ServerSideApplyTest,
    ::testing::Values(
        Case{"Create", "null", R"({"kind":"ConfigMap","data":{"a":"1"}})",
             R"({"kind":"ConfigMap","data":{"a":"1"}})"},
        Case{"FieldsOverwriteMapsMerge",
             R"({"metadata":{"labels":{"a":"1"},"uid":"u"},"data":{"x":"1"}})",
             R"({"metadata":{"labels":{"b":"2"}},"data":{"x":"2"}})",
             R"({"metadata":{"labels":{"a":"1","b":"2"},"uid":"u"},"data":{"x":"2"}})"},
        Case{"ContainersMergeByName",
             R"({"spec":{"template":{"spec":{"containers":[
                 {"name":"app","image":"1","resources":{}},{"name":"side","image":"s"}]}}}})",
             R"({"spec":{"template":{"spec":{"containers":[{"name":"app","image":"2"}]}}}})",
             R"({"spec":{"template":{"spec":{"containers":[
                 {"name":"app","image":"2","resources":{}},{"name":"side","image":"s"}]}}}})"},
        Case{"NewElementsAppended", R"({"spec":{"containers":[{"name":"a"}]}})",
             R"({"spec":{"containers":[{"name":"b"},{"name":"a","image":"x"}]}})",
             R"({"spec":{"containers":[{"name":"a","image":"x"},{"name":"b"}]}})"},
        Case{"EnvMergesByName",
             R"({"spec":{"containers":[{"name":"a","env":[{"name":"X","value":"1"}]}]}})",
             R"({"spec":{"containers":[{"name":"a","env":[{"name":"Y","value":"2"}]}]}})",
             R"({"spec":{"containers":[{"name":"a","env":[{"name":"X","value":"1"},
                                                          {"name":"Y","value":"2"}]}]}})"},
        Case{
            "AtomicListsReplaced",
            R"({"spec":{"tolerations":[{"key":"a"}],"containers":[{"name":"a","args":["1","2"]}]}})",
            R"({"spec":{"tolerations":[{"key":"b"}],"containers":[{"name":"a","args":["3"]}]}})",
            R"({"spec":{"tolerations":[{"key":"b"}],"containers":[{"name":"a","args":["3"]}]}})"},
        Case{"FinalizersUnion", R"({"metadata":{"finalizers":["a"]}})",
             R"({"metadata":{"finalizers":["b","a"]}})",
             R"({"metadata":{"finalizers":["a","b"]}})"},
        Case{"ServicePortsByPort",
             R"({"spec":{"ports":[{"port":80,"targetPort":1,"nodePort":30000}]}})",
             R"({"spec":{"ports":[{"port":80,"targetPort":2}]}})",
             R"({"spec":{"ports":[{"port":80,"targetPort":2,"nodePort":30000}]}})"},
        Case{"NullRemoves", R"({"metadata":{"labels":{"a":"1","b":"2"}}})",
             R"({"metadata":{"labels":{"a":null}}})", R"({"metadata":{"labels":{"b":"2"}}})"},
        Case{"TypeChangeReplaces", R"({"spec":{"x":{"a":1}}})", R"({"spec":{"x":[1]}})",
             R"({"spec":{"x":[1]}})"}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(ServerSideApplyTest, Errors) {
  const StrategicSchema& s = KubernetesStrategicSchema();
  json live = J(R"({"spec":{"containers":[{"name":"a"}]}})");
  absl::StatusOr<json> got = ApplyServerSideApply(&live, J(R"([1])"), s);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), kInvalid);
  EXPECT_THAT(got.status().message(), HasSubstr("must be a JSON object, got array"));

  got = ApplyServerSideApply(&live, J(R"({"spec":{"containers":[{"image":"x"}]}})"), s);
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.status().message(),
              HasSubstr("spec.containers: element {\"image\":\"x\"} has no key field \"name\""));

  // The key is required even when the object does not exist yet.
  got = ApplyServerSideApply(nullptr, J(R"({"spec":{"containers":[{"name":"a","env":[{}]}]}})"), s);
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.status().message(), HasSubstr("spec.containers[0].env"));
}

// ---------------------------------------------------------------------------
// No input can make the functions throw.

// Every outcome is a result or a deliberate error; kInternal would mean an
// exception was caught inside the library.
void ExpectHandled(const absl::StatusOr<json>& r) {
  EXPECT_NE(r.status().code(), absl::StatusCode::kInternal) << r.status();
}

std::vector<json> Garbage() {
  std::vector<json> out = {nullptr,
                           true,
                           false,
                           0,
                           -1,
                           1.5,
                           1e300,
                           "",
                           "x",
                           "/",
                           "-",
                           "~",
                           "\xff\xfe",
                           "$patch",
                           json::array(),
                           json::object(),
                           J("[1,[2],{}]"),
                           J(R"({"a":null})"),
                           J(R"({"$patch":1})"),
                           J(R"({"$patch":"delete"})"),
                           J(R"({"$patch":"replace"})"),
                           J(R"([{"$patch":"replace"}])"),
                           J(R"([{"$patch":"delete"}])"),
                           J(R"([{"name":1},{"name":[]},{"name":null}])"),
                           J(R"({"name":"a","$patch":"merge"})"),
                           J(R"(["a",{"name":"a"},["x"]])")};
  return out;
}

TEST(PatchNoThrowTest, MalformedJsonPatches) {
  json doc = J(kJsonDoc);
  std::vector<json> ops = {"add", "remove", "replace", "move", "copy", "test", "x", 1, nullptr};
  std::vector<json> paths = {"",
                             "/",
                             "/spec",
                             "/spec/list/0",
                             "/spec/list/-",
                             "/spec/list/99",
                             "/spec/replicas/x",
                             "~",
                             "spec",
                             1,
                             nullptr,
                             "/metadata/annotations/a~1b",
                             "/spec/list/00",
                             "/spec/list/18446744073709551616"};
  int n = 0;
  for (const json& op : ops) {
    for (const json& path : paths) {
      for (const json& from : paths) {
        for (const json& value : Garbage()) {
          json o = {{"op", op}, {"path", path}, {"from", from}, {"value", value}};
          EXPECT_NO_THROW(ExpectHandled(ApplyJsonPatch(doc, json::array({o}))));
          EXPECT_NO_THROW(ExpectHandled(ApplyJsonPatch(value, json::array({o}))));
          ++n;
        }
      }
    }
  }
  for (const json& g : Garbage()) {
    EXPECT_NO_THROW(ExpectHandled(ApplyJsonPatch(doc, g)));
    EXPECT_NO_THROW(ExpectHandled(ApplyJsonPatch(doc, json::array({g}))));
  }
  EXPECT_GT(n, 1000);
}

TEST(PatchNoThrowTest, MalformedMergeAndStrategicPatches) {
  const StrategicSchema& s = KubernetesStrategicSchema();
  std::vector<json> docs = {Deployment(), nullptr, json::object(), 1, "x", json::array()};
  std::vector<std::string> keys = {"containers",
                                   "env",
                                   "ports",
                                   "finalizers",
                                   "tolerations",
                                   "strategy",
                                   "$patch",
                                   "$retainKeys",
                                   "$setElementOrder/containers",
                                   "$setElementOrder/finalizers",
                                   "$deleteFromPrimitiveList/finalizers",
                                   "$frob",
                                   "metadata",
                                   "spec"};
  for (const json& doc : docs) {
    for (const json& g : Garbage()) {
      EXPECT_NO_THROW(ExpectHandled(ApplyMergePatch(doc, g)));
      EXPECT_NO_THROW(ExpectHandled(ApplyStrategicMergePatch(doc, g, s)));
      EXPECT_NO_THROW(ExpectHandled(ApplyServerSideApply(&doc, g, s)));
      for (const std::string& k : keys) {
        // The garbage at every level kubectl's patches reach.
        json at_root = {{k, g}};
        json in_meta = {{"metadata", {{k, g}}}};
        json in_spec = {{"spec", {{"template", {{"spec", {{k, g}}}}}}}};
        json container = json::object({{"name", "app"}, {k, g}});
        json in_container = json::object();
        in_container["spec"]["template"]["spec"]["containers"] = json::array({container});
        for (const json& p : {at_root, in_meta, in_spec, in_container}) {
          EXPECT_NO_THROW(ExpectHandled(ApplyMergePatch(doc, p)));
          EXPECT_NO_THROW(ExpectHandled(ApplyStrategicMergePatch(doc, p, s)));
          EXPECT_NO_THROW(ExpectHandled(ApplyServerSideApply(&doc, p, s)));
          EXPECT_NO_THROW(ExpectHandled(ApplyServerSideApply(nullptr, p, s)));
        }
      }
    }
  }
}

TEST(PatchNoThrowTest, InvalidUtf8InMessages) {
  absl::StatusOr<json> got = ApplyJsonPatch(
      J(R"({"a":1})"), json::array({{{"op", "test"}, {"path", "/a"}, {"value", "\xff"}}}));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), kPrecondition);
  got = ApplyStrategicMergePatch(json::object(), {{"spec", {{"containers", {"\xff"}}}}},
                                 KubernetesStrategicSchema());
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), kInvalid);
}

}  // namespace
}  // namespace korch::apiserver
