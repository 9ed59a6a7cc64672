#include "korch/apiserver/discovery.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/scheme.h"

namespace korch::apiserver {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;

// The Accept headers real clients send on GET /api and /apis (client-go's
// discovery client of each release).
constexpr absl::string_view kAcceptKubectl120 = "application/json, */*";
constexpr absl::string_view kAcceptKubectl127 =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
constexpr absl::string_view kAcceptKubectl133 =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

const api::Scheme& Scheme() { return api::Scheme::Builtin(); }

json ResourceList(absl::string_view group, absl::string_view version) {
  absl::StatusOr<json> list = ApiResourceListJson(Scheme(), group, version);
  EXPECT_TRUE(list.ok()) << list.status();
  return list.ok() ? *list : json::object();
}

json FindByName(const json& resources, absl::string_view name) {
  for (const json& r : resources) {
    if (r.value("name", "") == name) return r;
  }
  return json();
}

std::vector<std::string> Strings(const json& j) {
  std::vector<std::string> out;
  if (j.is_array()) {
    for (const json& s : j) out.push_back(s.get<std::string>());
  }
  return out;
}

// What client-go's ContentTypeIsGVK reads from a Content-Type.
std::map<std::string, std::string> MediaParams(absl::string_view content_type, std::string* base) {
  std::vector<std::string> parts = absl::StrSplit(content_type, ';');
  *base = std::string(absl::StripAsciiWhitespace(parts[0]));
  std::map<std::string, std::string> params;
  for (size_t i = 1; i < parts.size(); ++i) {
    std::vector<std::string> kv = absl::StrSplit(parts[i], absl::MaxSplits('=', 1));
    if (kv.size() == 2) params[std::string(absl::StripAsciiWhitespace(kv[0]))] = kv[1];
  }
  return params;
}

TEST(ServedGroupsTest, CoreGroupFirstAndOnlyGroupsWithStoredKinds) {
  std::vector<DiscoveryGroup> groups = ServedGroups(Scheme());
  ASSERT_FALSE(groups.empty());
  EXPECT_EQ(groups[0].name, "");
  std::set<std::string> names;
  for (const DiscoveryGroup& g : groups) {
    names.insert(g.name);
    EXPECT_FALSE(g.versions.empty()) << g.name;
  }
  EXPECT_TRUE(names.count("apps"));
  EXPECT_TRUE(names.count("batch"));
  EXPECT_TRUE(names.count("rbac.authorization.k8s.io"));
  // Scale and DeleteOptions are bodies, not stored kinds: their groups are
  // not served.
  EXPECT_FALSE(names.count("autoscaling"));
  EXPECT_FALSE(names.count("meta.k8s.io"));
}

TEST(VersionTest, ClaimsKubernetes133WithEveryFieldClientsRequire) {
  json v = VersionInfoJson(ServerVersion{});
  EXPECT_EQ(v["major"], "1");
  EXPECT_EQ(v["minor"], "33");
  std::string git_version = v["gitVersion"];
  EXPECT_TRUE(absl::StartsWith(git_version, "v1.33.0+")) << git_version;
  // The Python client refuses a VersionInfo without these.
  for (const char* field : {"buildDate", "compiler", "gitCommit", "gitTreeState", "gitVersion",
                            "goVersion", "major", "minor", "platform"}) {
    ASSERT_TRUE(v.contains(field)) << field;
    EXPECT_TRUE(v[field].is_string()) << field;
  }
  EXPECT_EQ(v["platform"], "linux/amd64");
  EXPECT_EQ(v["korchVersion"], "0.1.0");

  ServerVersion other;
  other.minor = 27;
  EXPECT_EQ(VersionInfoJson(other)["minor"], "27");
}

TEST(LegacyDiscoveryTest, ApiListsV1AndTheServerAddress) {
  json api = ApiVersionsJson(Scheme(), "10.1.2.3:6443");
  EXPECT_EQ(api["kind"], "APIVersions");
  EXPECT_THAT(Strings(api["versions"]), ElementsAre("v1"));
  ASSERT_EQ(api["serverAddressByClientCIDRs"].size(), 1u);
  EXPECT_EQ(api["serverAddressByClientCIDRs"][0]["clientCIDR"], "0.0.0.0/0");
  EXPECT_EQ(api["serverAddressByClientCIDRs"][0]["serverAddress"], "10.1.2.3:6443");
}

TEST(LegacyDiscoveryTest, ApisListsEveryGroupButCoreAndEveryListedVersionIsServed) {
  json apis = ApiGroupListJson(Scheme());
  EXPECT_EQ(apis["kind"], "APIGroupList");
  EXPECT_EQ(apis["apiVersion"], "v1");
  std::set<std::string> names;
  for (const json& g : apis["groups"]) {
    std::string name = g["name"];
    names.insert(name);
    EXPECT_FALSE(name.empty());
    ASSERT_FALSE(g["versions"].empty()) << name;
    EXPECT_EQ(g["preferredVersion"], g["versions"][0]) << name;
    for (const json& v : g["versions"]) {
      EXPECT_EQ(v["groupVersion"], name + "/" + v["version"].get<std::string>());
      EXPECT_TRUE(ApiResourceListJson(Scheme(), name, v["version"].get<std::string>()).ok())
          << v["groupVersion"];
    }
  }
  EXPECT_TRUE(names.count("apps"));
  EXPECT_TRUE(names.count("batch"));
  EXPECT_TRUE(names.count("coordination.k8s.io"));
  EXPECT_TRUE(names.count("discovery.k8s.io"));
  EXPECT_TRUE(names.count("scheduling.k8s.io"));
  EXPECT_FALSE(names.count("autoscaling"));

  json apps;
  for (const json& g : apis["groups"]) {
    if (g["name"] == "apps") apps = g;
  }
  EXPECT_EQ(apps["preferredVersion"], (json{{"groupVersion", "apps/v1"}, {"version", "v1"}}));

  absl::StatusOr<json> group = ApiGroupJson(Scheme(), "apps");
  ASSERT_TRUE(group.ok());
  EXPECT_EQ((*group)["kind"], "APIGroup");
  EXPECT_EQ((*group)["preferredVersion"], apps["preferredVersion"]);
  EXPECT_EQ(ApiGroupJson(Scheme(), "").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ApiGroupJson(Scheme(), "example.com").status().code(), absl::StatusCode::kNotFound);
}

TEST(LegacyDiscoveryTest, CoreResourcesHaveScopeVerbsShortNamesAndCategories) {
  json list = ResourceList("", "v1");
  EXPECT_EQ(list["kind"], "APIResourceList");
  EXPECT_EQ(list["groupVersion"], "v1");
  const json& resources = list["resources"];

  const std::vector<std::string> kAllVerbs = {"create", "delete", "deletecollection", "get",
                                              "list",   "patch",  "update",           "watch"};
  json pods = FindByName(resources, "pods");
  ASSERT_TRUE(pods.is_object());
  EXPECT_EQ(pods["singularName"], "pod");
  EXPECT_EQ(pods["namespaced"], true);
  EXPECT_EQ(pods["kind"], "Pod");
  EXPECT_EQ(Strings(pods["verbs"]), kAllVerbs);
  EXPECT_THAT(Strings(pods["shortNames"]), ElementsAre("po"));
  EXPECT_THAT(Strings(pods["categories"]), ElementsAre("all"));
  EXPECT_FALSE(pods.contains("group"));

  struct Expected {
    const char* name;
    const char* kind;
    bool namespaced;
    const char* short_name;
  };
  for (const Expected& e :
       {Expected{"services", "Service", true, "svc"},
        Expected{"namespaces", "Namespace", false, "ns"}, Expected{"nodes", "Node", false, "no"},
        Expected{"configmaps", "ConfigMap", true, "cm"},
        Expected{"endpoints", "Endpoints", true, "ep"}, Expected{"events", "Event", true, "ev"},
        Expected{"serviceaccounts", "ServiceAccount", true, "sa"}}) {
    json r = FindByName(resources, e.name);
    ASSERT_TRUE(r.is_object()) << e.name;
    EXPECT_EQ(r["kind"], e.kind) << e.name;
    EXPECT_EQ(r["namespaced"], e.namespaced) << e.name;
    EXPECT_THAT(Strings(r["shortNames"]), ElementsAre(e.short_name)) << e.name;
    EXPECT_FALSE(r["singularName"].get<std::string>().empty()) << e.name;
  }
  EXPECT_THAT(Strings(FindByName(resources, "services")["categories"]), ElementsAre("all"));
  EXPECT_FALSE(FindByName(resources, "configmaps").contains("categories"));
  EXPECT_EQ(Strings(FindByName(resources, "configmaps")["verbs"]), kAllVerbs);
  // Kubernetes serves no deletecollection on namespaces.
  EXPECT_THAT(Strings(FindByName(resources, "namespaces")["verbs"]),
              ElementsAre("create", "delete", "get", "list", "patch", "update", "watch"));

  // Subresources are entries of their own.
  json status = FindByName(resources, "pods/status");
  EXPECT_EQ(status["kind"], "Pod");
  EXPECT_EQ(status["singularName"], "");
  EXPECT_THAT(Strings(status["verbs"]), ElementsAre("get", "patch", "update"));
  EXPECT_THAT(Strings(FindByName(resources, "pods/log")["verbs"]), ElementsAre("get"));
  json binding = FindByName(resources, "pods/binding");
  EXPECT_EQ(binding["kind"], "Binding");
  EXPECT_THAT(Strings(binding["verbs"]), ElementsAre("create"));
  EXPECT_THAT(Strings(FindByName(resources, "namespaces/finalize")["verbs"]),
              ElementsAre("update"));
  EXPECT_TRUE(FindByName(resources, "namespaces/status").is_object());
  EXPECT_TRUE(FindByName(resources, "nodes/status").is_object());
  EXPECT_TRUE(FindByName(resources, "services/status").is_object());
  EXPECT_TRUE(FindByName(resources, "configmaps/status").is_null());

  // Kinds that are only bodies are not resources.
  EXPECT_TRUE(FindByName(resources, "bindings").is_null());
  for (const json& r : resources) {
    EXPECT_NE(r["kind"], "Status");
    EXPECT_NE(r["kind"], "Scale");
    // Always present: the Python client requires them.
    EXPECT_TRUE(r.contains("singularName")) << r["name"];
    EXPECT_TRUE(r["verbs"].is_array()) << r["name"];
  }
}

TEST(LegacyDiscoveryTest, WorkloadsHaveScaleSubresourcesOfAutoscalingV1Scale) {
  json list = ResourceList("apps", "v1");
  EXPECT_EQ(list["groupVersion"], "apps/v1");
  const json& resources = list["resources"];
  for (const auto& [name, short_name] :
       std::vector<std::pair<std::string, std::string>>{{"deployments", "deploy"},
                                                        {"replicasets", "rs"},
                                                        {"statefulsets", "sts"},
                                                        {"daemonsets", "ds"}}) {
    json r = FindByName(resources, name);
    ASSERT_TRUE(r.is_object()) << name;
    EXPECT_EQ(r["namespaced"], true);
    EXPECT_THAT(Strings(r["shortNames"]), ElementsAre(short_name));
    EXPECT_THAT(Strings(r["categories"]), ElementsAre("all"));
    EXPECT_TRUE(FindByName(resources, name + "/status").is_object()) << name;
  }
  for (const char* name : {"deployments/scale", "replicasets/scale", "statefulsets/scale"}) {
    json scale = FindByName(resources, name);
    ASSERT_TRUE(scale.is_object()) << name;
    EXPECT_EQ(scale["group"], "autoscaling") << name;
    EXPECT_EQ(scale["version"], "v1") << name;
    EXPECT_EQ(scale["kind"], "Scale") << name;
    EXPECT_THAT(Strings(scale["verbs"]), ElementsAre("get", "patch", "update")) << name;
  }
  // DaemonSets have no replica count.
  EXPECT_TRUE(FindByName(resources, "daemonsets/scale").is_null());

  json jobs = FindByName(ResourceList("batch", "v1")["resources"], "jobs");
  EXPECT_THAT(Strings(jobs["categories"]), ElementsAre("all"));
}

TEST(LegacyDiscoveryTest, UnservedGroupVersionIsNotFound) {
  EXPECT_EQ(ApiResourceListJson(Scheme(), "apps", "v1beta1").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ApiResourceListJson(Scheme(), "autoscaling", "v1").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ApiResourceListJson(Scheme(), "", "v2").status().code(), absl::StatusCode::kNotFound);
}

TEST(AggregatedDiscoveryTest, GroupsHaveResourcesWithResponseKindsAndSubresources) {
  json list =
      AggregatedDiscoveryJson(Scheme(), DiscoveryScope::kGroups, DiscoveryFormat::kAggregatedV2);
  EXPECT_EQ(list["kind"], "APIGroupDiscoveryList");
  EXPECT_EQ(list["apiVersion"], "apidiscovery.k8s.io/v2");
  json apps;
  for (const json& item : list["items"]) {
    EXPECT_FALSE(item["metadata"].value("name", "").empty());
    if (item["metadata"]["name"] == "apps") apps = item;
  }
  ASSERT_TRUE(apps.is_object());
  ASSERT_EQ(apps["versions"].size(), 1u);
  const json& v1 = apps["versions"][0];
  EXPECT_EQ(v1["version"], "v1");
  EXPECT_EQ(v1["freshness"], "Current");
  json deployments;
  for (const json& r : v1["resources"]) {
    EXPECT_EQ(r["resource"].get<std::string>().find('/'), std::string::npos);
    if (r["resource"] == "deployments") deployments = r;
  }
  ASSERT_TRUE(deployments.is_object());
  EXPECT_EQ(deployments["responseKind"],
            (json{{"group", "apps"}, {"version", "v1"}, {"kind", "Deployment"}}));
  EXPECT_EQ(deployments["scope"], "Namespaced");
  EXPECT_EQ(deployments["singularResource"], "deployment");
  EXPECT_THAT(Strings(deployments["shortNames"]), ElementsAre("deploy"));
  EXPECT_THAT(Strings(deployments["categories"]), ElementsAre("all"));
  std::map<std::string, json> subresources;
  for (const json& s : deployments["subresources"]) subresources[s["subresource"]] = s;
  ASSERT_TRUE(subresources.count("scale"));
  ASSERT_TRUE(subresources.count("status"));
  EXPECT_EQ(subresources["scale"]["responseKind"],
            (json{{"group", "autoscaling"}, {"version", "v1"}, {"kind", "Scale"}}));
  EXPECT_THAT(Strings(subresources["scale"]["verbs"]), ElementsAre("get", "patch", "update"));

  json beta = AggregatedDiscoveryJson(Scheme(), DiscoveryScope::kGroups,
                                      DiscoveryFormat::kAggregatedV2Beta1);
  EXPECT_EQ(beta["apiVersion"], "apidiscovery.k8s.io/v2beta1");
  EXPECT_EQ(beta["items"], list["items"]);
}

TEST(AggregatedDiscoveryTest, CoreGroupIsTheOnlyItemOfApi) {
  json list =
      AggregatedDiscoveryJson(Scheme(), DiscoveryScope::kCore, DiscoveryFormat::kAggregatedV2);
  ASSERT_EQ(list["items"].size(), 1u);
  const json& core = list["items"][0];
  EXPECT_EQ(core["metadata"].value("name", ""), "");
  ASSERT_EQ(core["versions"].size(), 1u);
  json nodes;
  for (const json& r : core["versions"][0]["resources"]) {
    if (r["resource"] == "nodes") nodes = r;
  }
  EXPECT_EQ(nodes["scope"], "Cluster");
  EXPECT_EQ(nodes["responseKind"], (json{{"group", ""}, {"version", "v1"}, {"kind", "Node"}}));
  EXPECT_THAT(Strings(nodes["shortNames"]), ElementsAre("no"));
}

// client-go turns the aggregated form back into APIResourceLists; the result
// must be what the legacy endpoints serve.
TEST(AggregatedDiscoveryTest, SplitsBackIntoTheLegacyResourceLists) {
  for (DiscoveryScope scope : {DiscoveryScope::kCore, DiscoveryScope::kGroups}) {
    json list = AggregatedDiscoveryJson(Scheme(), scope, DiscoveryFormat::kAggregatedV2);
    for (const json& item : list["items"]) {
      std::string group = item["metadata"].value("name", "");
      for (const json& version : item["versions"]) {
        std::set<std::string> from_aggregated;
        for (const json& r : version["resources"]) {
          const json& kind = r["responseKind"];
          bool namespaced = r["scope"] == "Namespaced";
          from_aggregated.insert(json{r["resource"], kind["kind"], namespaced, r["verbs"]}.dump());
          for (const json& s : r.value("subresources", json::array())) {
            from_aggregated.insert(
                json{r["resource"].get<std::string>() + "/" + s["subresource"].get<std::string>(),
                     s["responseKind"]["kind"], namespaced, s["verbs"]}
                    .dump());
          }
        }
        std::set<std::string> from_legacy;
        json legacy = ResourceList(group, version["version"].get<std::string>());
        for (const json& r : legacy["resources"]) {
          from_legacy.insert(json{r["name"], r["kind"], r["namespaced"], r["verbs"]}.dump());
        }
        EXPECT_EQ(from_aggregated, from_legacy) << group;
      }
    }
  }
}

TEST(NegotiateDiscoveryTest, PicksTheFormatEachKubectlAsksFor) {
  DiscoveryNegotiation old = NegotiateDiscovery(kAcceptKubectl120);
  EXPECT_EQ(old.format, DiscoveryFormat::kLegacy);
  EXPECT_EQ(old.content_type, "application/json");

  DiscoveryNegotiation beta = NegotiateDiscovery(kAcceptKubectl127);
  EXPECT_EQ(beta.format, DiscoveryFormat::kAggregatedV2Beta1);
  EXPECT_EQ(beta.content_type,
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList");

  DiscoveryNegotiation v2 = NegotiateDiscovery(kAcceptKubectl133);
  EXPECT_EQ(v2.format, DiscoveryFormat::kAggregatedV2);
  EXPECT_EQ(v2.content_type,
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");

  // The client decides by the Content-Type's media type and g, v, as.
  std::string base;
  std::map<std::string, std::string> params = MediaParams(v2.content_type, &base);
  EXPECT_EQ(base, "application/json");
  EXPECT_EQ(params["g"], "apidiscovery.k8s.io");
  EXPECT_EQ(params["v"], "v2");
  EXPECT_EQ(params["as"], "APIGroupDiscoveryList");

  // The Python client and plain curl.
  EXPECT_EQ(NegotiateDiscovery("application/json").format, DiscoveryFormat::kLegacy);
  EXPECT_EQ(NegotiateDiscovery("*/*").format, DiscoveryFormat::kLegacy);
}

TEST(NegotiateDiscoveryTest, NeverFailsAndHonoursQualityAndParameterOrder) {
  for (absl::string_view accept :
       {"", "application/yaml", "text/html", ",,;;", "application/json;q=0", "garbage",
        "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
        "application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList"}) {
    DiscoveryNegotiation n = NegotiateDiscovery(accept);
    EXPECT_EQ(n.format, DiscoveryFormat::kLegacy) << accept;
    EXPECT_EQ(n.content_type, "application/json") << accept;
  }
  EXPECT_EQ(NegotiateDiscovery("application/json; as=APIGroupDiscoveryList ; v=v2; "
                               "g=apidiscovery.k8s.io")
                .format,
            DiscoveryFormat::kAggregatedV2);
  EXPECT_EQ(NegotiateDiscovery("application/json;q=0.5,application/json;g=apidiscovery.k8s.io;"
                               "v=v2beta1;as=APIGroupDiscoveryList")
                .format,
            DiscoveryFormat::kAggregatedV2Beta1);
  EXPECT_EQ(NegotiateDiscovery("application/json;g=apidiscovery.k8s.io;v=v2;as="
                               "APIGroupDiscoveryList;q=0.1,application/json")
                .format,
            DiscoveryFormat::kLegacy);
  // A version korch does not speak falls through to the next range.
  EXPECT_EQ(NegotiateDiscovery("application/json;g=apidiscovery.k8s.io;v=v3;as="
                               "APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v="
                               "v2;as=APIGroupDiscoveryList")
                .format,
            DiscoveryFormat::kAggregatedV2);
  // Newer clients ask for the profile without peers first.
  EXPECT_EQ(NegotiateDiscovery("application/json;g=apidiscovery.k8s.io;v=v2;as="
                               "APIGroupDiscoveryList;profile=nopeer,application/json")
                .format,
            DiscoveryFormat::kAggregatedV2);
}

TEST(ApiDocumentsTest, ServesEveryDocumentInTheNegotiatedFormat) {
  ApiDocumentsOptions options;
  options.server_address = "127.0.0.1:6443";
  absl::StatusOr<std::shared_ptr<const ApiDocuments>> built =
      ApiDocuments::Build(Scheme(), options);
  ASSERT_TRUE(built.ok()) << built.status();
  const ApiDocuments& docs = **built;

  EXPECT_EQ(json::parse(docs.Version().body)["minor"], "33");

  DocumentReply legacy = docs.Api(kAcceptKubectl120);
  EXPECT_EQ(legacy.content_type, "application/json");
  json api = json::parse(legacy.body);
  EXPECT_EQ(api["kind"], "APIVersions");
  EXPECT_EQ(api["serverAddressByClientCIDRs"][0]["serverAddress"], "127.0.0.1:6443");

  DocumentReply aggregated = docs.Apis(kAcceptKubectl133);
  EXPECT_EQ(aggregated.content_type,
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
  EXPECT_EQ(json::parse(aggregated.body)["apiVersion"], "apidiscovery.k8s.io/v2");
  EXPECT_EQ(json::parse(docs.Api(kAcceptKubectl127).body)["apiVersion"],
            "apidiscovery.k8s.io/v2beta1");
  EXPECT_EQ(json::parse(docs.Apis(kAcceptKubectl120).body)["kind"], "APIGroupList");

  absl::StatusOr<DocumentReply> group = docs.Group("batch");
  ASSERT_TRUE(group.ok());
  EXPECT_EQ(json::parse(group->body)["name"], "batch");
  EXPECT_EQ(docs.Group("example.com").status().code(), absl::StatusCode::kNotFound);

  absl::StatusOr<DocumentReply> apps = docs.ResourceList("apps", "v1");
  ASSERT_TRUE(apps.ok());
  EXPECT_EQ(json::parse(apps->body)["groupVersion"], "apps/v1");
  EXPECT_TRUE(docs.ResourceList("", "v1").ok());
  EXPECT_EQ(docs.ResourceList("example.com", "v1").status().code(), absl::StatusCode::kNotFound);

  // What kubectl asks for; the reply's type must parse as a Go media type
  // (no '@').
  DocumentReply v2pb = docs.OpenApiV2("application/com.github.proto-openapi.spec.v2@v1.0+protobuf");
  EXPECT_EQ(v2pb.content_type, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf");
  EXPECT_FALSE(v2pb.body.empty());
  EXPECT_EQ(
      docs.OpenApiV2("application/com.github.proto-openapi.spec.v2.v1.0+protobuf").content_type,
      "application/com.github.proto-openapi.spec.v2.v1.0+protobuf");
  DocumentReply v2json = docs.OpenApiV2("application/json");
  EXPECT_EQ(v2json.content_type, "application/json");
  EXPECT_EQ(json::parse(v2json.body)["swagger"], "2.0");
  EXPECT_FALSE(docs.OpenApiV2Etag().empty());

  json index = json::parse(docs.OpenApiV3Index().body);
  ASSERT_TRUE(index["paths"].contains("api/v1"));
  ASSERT_TRUE(index["paths"].contains("apis/apps/v1"));
  for (const auto& [path, entry] : index["paths"].items()) {
    std::string url = entry["serverRelativeURL"];
    EXPECT_EQ(url, "/openapi/v3/" + path + "?hash=" + std::string(docs.OpenApiV3Hash(path)));
    absl::StatusOr<DocumentReply> doc = docs.OpenApiV3(path);
    ASSERT_TRUE(doc.ok()) << path;
    EXPECT_EQ(json::parse(doc->body)["openapi"], "3.0.0") << path;
  }
  EXPECT_EQ(docs.OpenApiV3("apis/example.com/v1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(docs.OpenApiV3Hash("apis/example.com/v1"), "");
}

TEST(ApiDocumentsTest, DocumentsAreStableAndReadableFromManyThreads) {
  absl::StatusOr<std::shared_ptr<const ApiDocuments>> a = ApiDocuments::Build(Scheme());
  absl::StatusOr<std::shared_ptr<const ApiDocuments>> b = ApiDocuments::Build(Scheme());
  ASSERT_TRUE(a.ok() && b.ok());
  // Same scheme, same hashes: kubectl's cache keyed by the URL stays valid
  // across server restarts.
  EXPECT_EQ((*a)->OpenApiV3Hash("api/v1"), (*b)->OpenApiV3Hash("api/v1"));
  EXPECT_EQ((*a)->OpenApiV2Etag(), (*b)->OpenApiV2Etag());

  std::shared_ptr<const ApiDocuments> docs = *a;
  std::string expected(docs->Apis(kAcceptKubectl133).body);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        if (docs->Apis(kAcceptKubectl133).body != expected) ++mismatches[t];
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_THAT(mismatches, ElementsAre(0, 0, 0, 0));
}

}  // namespace
}  // namespace korch::apiserver
