#include "korch/apiserver/table.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/apps.pb.h"
#include "korch/api/batch.pb.h"
#include "korch/api/codec.h"
#include "korch/api/coordination.pb.h"
#include "korch/api/core.pb.h"
#include "korch/api/discovery.pb.h"
#include "korch/api/rbac.pb.h"
#include "korch/api/scheduling.pb.h"
#include "korch/api/scheme.h"
#include "korch/apiserver/request.h"

namespace korch::apiserver {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Every object below was created at kCreated, five minutes before kNow.
constexpr char kCreated[] = "2025-01-02T02:59:05Z";
const absl::Time kNow = absl::FromUnixSeconds(1735787045);  // 2025-01-02T03:04:05Z

// The Accept header of human-readable `kubectl get` (and `get -w`): the same
// in kubectl 1.20, 1.27 and 1.33 (kubernetes-wire.md section 3).
constexpr absl::string_view kAcceptKubectlGet =
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s."
    "io,application/json";

const api::KindInfo& Kind(absl::string_view api_version, absl::string_view kind) {
  const api::KindInfo* info = api::Scheme::Builtin().Find(api_version, kind);
  EXPECT_NE(info, nullptr) << api_version << " " << kind;
  return *info;
}

// An object of type T from its JSON, with metadata.creationTimestamp =
// kCreated unless the JSON sets it.
template <typename T>
ObjectPtr Make(absl::string_view text) {
  json j = json::parse(text);
  if (!j["metadata"].contains("creationTimestamp")) {
    j["metadata"]["creationTimestamp"] = std::string(kCreated);
  }
  auto object = std::make_shared<T>();
  absl::Status s = api::DecodeJsonValue(j, object.get());
  EXPECT_TRUE(s.ok()) << s << "\n" << text;
  return object;
}

json Table(const api::KindInfo& kind, const std::vector<ObjectPtr>& objects,
           TableOptions options = {}) {
  options.now = kNow;
  absl::StatusOr<json> table = ToTable(kind, objects, options);
  EXPECT_TRUE(table.ok()) << table.status();
  return table.ok() ? *table : json();
}

// The cells of the single row of `object`'s Table.
template <typename T>
json Cells(absl::string_view api_version, absl::string_view kind, absl::string_view text) {
  json table = Table(Kind(api_version, kind), {Make<T>(text)});
  if (table["rows"].size() != 1) return json();
  return table["rows"][0]["cells"];
}

json PodCells(absl::string_view text) { return Cells<api::Pod>("v1", "Pod", text); }

// The Status cell of a pod.
std::string PodStatus(absl::string_view text) {
  json cells = PodCells(text);
  return cells.size() > 2 ? cells[2].get<std::string>() : "";
}

std::vector<std::string> ColumnNames(const json& table) {
  std::vector<std::string> names;
  for (const json& c : table["columnDefinitions"]) names.push_back(c["name"].get<std::string>());
  return names;
}

std::vector<std::string> WideColumnNames(const json& table) {
  std::vector<std::string> names;
  for (const json& c : table["columnDefinitions"]) {
    if (c["priority"] == 1) names.push_back(c["name"].get<std::string>());
  }
  return names;
}

// ---- HumanDuration ----------------------------------------------------------------------

TEST(HumanDurationTest, PrintsAgesLikeKubectl) {
  EXPECT_EQ(HumanDuration(absl::ZeroDuration()), "0s");
  EXPECT_EQ(HumanDuration(absl::Seconds(5)), "5s");
  EXPECT_EQ(HumanDuration(absl::Seconds(119)), "119s");
  EXPECT_EQ(HumanDuration(absl::Seconds(120)), "2m");
  EXPECT_EQ(HumanDuration(absl::Seconds(182)), "3m2s");
  EXPECT_EQ(HumanDuration(absl::Minutes(9) + absl::Seconds(59)), "9m59s");
  EXPECT_EQ(HumanDuration(absl::Minutes(10) + absl::Seconds(30)), "10m");
  EXPECT_EQ(HumanDuration(absl::Minutes(179)), "179m");
  EXPECT_EQ(HumanDuration(absl::Hours(3)), "3h");
  EXPECT_EQ(HumanDuration(absl::Hours(5) + absl::Minutes(3)), "5h3m");
  EXPECT_EQ(HumanDuration(absl::Hours(8) + absl::Minutes(3)), "8h");
  EXPECT_EQ(HumanDuration(absl::Hours(47)), "47h");
  EXPECT_EQ(HumanDuration(absl::Hours(48)), "2d");
  EXPECT_EQ(HumanDuration(absl::Hours(3 * 24 + 4)), "3d4h");
  EXPECT_EQ(HumanDuration(absl::Hours(10 * 24 + 5)), "10d");
  EXPECT_EQ(HumanDuration(absl::Hours(729 * 24)), "729d");
  EXPECT_EQ(HumanDuration(absl::Hours((2 * 365 + 10) * 24)), "2y10d");
  EXPECT_EQ(HumanDuration(absl::Hours(3 * 365 * 24)), "3y");
  EXPECT_EQ(HumanDuration(absl::Hours(9 * 365 * 24 + 100)), "9y");
}

TEST(HumanDurationTest, SmallClockSkewIsNowLargerIsInvalid) {
  EXPECT_EQ(HumanDuration(absl::Milliseconds(-1500)), "0s");
  EXPECT_EQ(HumanDuration(absl::Seconds(-2)), "<invalid>");
  EXPECT_EQ(HumanDuration(-absl::InfiniteDuration()), "<invalid>");
}

// ---- Negotiation ----------------------------------------------------------------------------

TEST(NegotiateResponseFormatTest, KubectlGetGetsATableV1) {
  absl::StatusOr<ResponseFormat> f = NegotiateResponseFormat(kAcceptKubectlGet);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->kind, ResponseKind::kTable);
  EXPECT_EQ(f->table_api_version, "meta.k8s.io/v1");
  EXPECT_EQ(f->content_type, "application/json;as=Table;v=v1;g=meta.k8s.io");
}

TEST(NegotiateResponseFormatTest, V1Beta1OnlyGetsATableV1Beta1) {
  absl::StatusOr<ResponseFormat> f = NegotiateResponseFormat(
      "application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->kind, ResponseKind::kTable);
  EXPECT_EQ(f->table_api_version, "meta.k8s.io/v1beta1");
  EXPECT_EQ(f->content_type, "application/json;as=Table;v=v1beta1;g=meta.k8s.io");
}

TEST(NegotiateResponseFormatTest, PlainJsonClientsGetObjects) {
  // kubectl -o yaml / -o json / apply, client-go, the Python client, curl.
  for (absl::string_view accept :
       {"", "application/json", "application/json, */*", "*/*", "application/*",
        "application/json;stream=watch", "application/vnd.kubernetes.protobuf, */*",
        "APPLICATION/JSON; charset=utf-8"}) {
    absl::StatusOr<ResponseFormat> f = NegotiateResponseFormat(accept);
    ASSERT_TRUE(f.ok()) << accept << ": " << f.status();
    EXPECT_EQ(f->kind, ResponseKind::kObject) << accept;
    EXPECT_EQ(f->content_type, "application/json") << accept;
    EXPECT_EQ(f->table_api_version, "") << accept;
  }
}

TEST(NegotiateResponseFormatTest, HighestQualityWinsThenOrder) {
  absl::StatusOr<ResponseFormat> f = NegotiateResponseFormat(
      "application/json;as=Table;v=v1;g=meta.k8s.io;q=0.5,"
      "application/json;as=Table;v=v1beta1;g=meta.k8s.io;q=0.9,application/json;q=0.1");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->table_api_version, "meta.k8s.io/v1beta1");

  f = NegotiateResponseFormat(
      "application/json;as=Table;v=v1;g=meta.k8s.io;q=0.5,application/json");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->kind, ResponseKind::kObject);

  // q=0 means "not acceptable".
  f = NegotiateResponseFormat("application/json;as=Table;v=v1;g=meta.k8s.io;q=0,application/json");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->kind, ResponseKind::kObject);
}

TEST(NegotiateResponseFormatTest, SkipsRangesKorchCannotProduce) {
  // Protobuf first, as client-go's protobuf clients ask: JSON is the
  // fallback korch can serve.
  absl::StatusOr<ResponseFormat> f = NegotiateResponseFormat(
      "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,"
      "application/json;as=Table;v=v1;g=meta.k8s.io,application/json");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->kind, ResponseKind::kTable);
  // A malformed range and an unknown Table version are skipped.
  f = NegotiateResponseFormat("garbage;;,application/json;as=Table;v=v2;g=meta.k8s.io,*/*");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->kind, ResponseKind::kObject);
}

TEST(NegotiateResponseFormatTest, NothingProducibleIs406) {
  for (absl::string_view accept :
       {"application/vnd.kubernetes.protobuf", "application/yaml",
        "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
        "application/json;as=Table;v=v1", "application/json;as=Table;v=v3;g=meta.k8s.io",
        "application/json;q=0"}) {
    absl::StatusOr<ResponseFormat> f = NegotiateResponseFormat(accept);
    ASSERT_FALSE(f.ok()) << accept;
    api::Status status = ToKubernetesStatus(f.status());
    EXPECT_EQ(status.code(), 406) << accept;
    EXPECT_EQ(status.reason(), "NotAcceptable") << accept;
    EXPECT_THAT(status.message(), HasSubstr("only the following media types are accepted"));
  }
}

TEST(ParseIncludeObjectTest, AcceptsKubernetesValues) {
  EXPECT_EQ(ParseIncludeObject("").value(), IncludeObject::kMetadata);
  EXPECT_EQ(ParseIncludeObject("Metadata").value(), IncludeObject::kMetadata);
  EXPECT_EQ(ParseIncludeObject("Object").value(), IncludeObject::kObject);
  EXPECT_EQ(ParseIncludeObject("None").value(), IncludeObject::kNone);
  absl::StatusOr<IncludeObject> bad = ParseIncludeObject("object");
  ASSERT_FALSE(bad.ok());
  api::Status status = ToKubernetesStatus(bad.status());
  EXPECT_EQ(status.code(), 400);
  EXPECT_EQ(status.reason(), "BadRequest");
  EXPECT_EQ(status.message(), "unrecognized includeObject value: \"object\"");
}

// ---- Table framing --------------------------------------------------------------------------

constexpr absl::string_view kRunningPod = R"({
  "metadata": {"name": "web-1", "namespace": "default", "uid": "u1", "resourceVersion": "42",
               "labels": {"app": "web"}},
  "spec": {"nodeName": "node-a", "containers": [{"name": "app", "image": "nginx:1.27"}]},
  "status": {"phase": "Running", "podIP": "10.0.0.7", "podIPs": [{"ip": "10.0.0.7"}],
             "conditions": [{"type": "Ready", "status": "True"}],
             "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
                                    "image": "nginx:1.27", "imageID": "",
                                    "state": {"running": {"startedAt": "2025-01-02T03:00:00Z"}}}]}
})";

TEST(ToTableTest, ListOfPodsIsAKubernetesTable) {
  TableOptions options;
  options.resource_version = "123";
  json table = Table(Kind("v1", "PodList"), {Make<api::Pod>(kRunningPod)}, options);

  EXPECT_EQ(table["kind"], "Table");
  EXPECT_EQ(table["apiVersion"], "meta.k8s.io/v1");
  EXPECT_EQ(table["metadata"], (json{{"resourceVersion", "123"}}));
  EXPECT_THAT(ColumnNames(table), ElementsAre("Name", "Ready", "Status", "Restarts", "Age", "IP",
                                              "Node", "Nominated Node", "Readiness Gates"));
  EXPECT_THAT(WideColumnNames(table),
              ElementsAre("IP", "Node", "Nominated Node", "Readiness Gates"));
  const json& name = table["columnDefinitions"][0];
  EXPECT_EQ(name["type"], "string");
  EXPECT_EQ(name["format"], "name");
  EXPECT_EQ(name["priority"], 0);
  EXPECT_FALSE(name["description"].get<std::string>().empty());
  for (const json& c : table["columnDefinitions"]) {
    EXPECT_TRUE(c.contains("name") && c.contains("type") && c.contains("format") &&
                c.contains("description") && c.contains("priority"))
        << c;
  }

  ASSERT_EQ(table["rows"].size(), 1u);
  const json& row = table["rows"][0];
  EXPECT_EQ(row["cells"], json::array({"web-1", "1/1", "Running", "0", "5m", "10.0.0.7", "node-a",
                                       "<none>", "<none>"}));
  EXPECT_FALSE(row.contains("conditions"));
  // kubectl reads names, namespaces and labels from the row's metadata.
  EXPECT_EQ(row["object"]["kind"], "PartialObjectMetadata");
  EXPECT_EQ(row["object"]["apiVersion"], "meta.k8s.io/v1");
  EXPECT_EQ(row["object"]["metadata"]["name"], "web-1");
  EXPECT_EQ(row["object"]["metadata"]["namespace"], "default");
  EXPECT_EQ(row["object"]["metadata"]["labels"], (json{{"app", "web"}}));
  EXPECT_EQ(row["object"]["metadata"]["creationTimestamp"], kCreated);
  EXPECT_FALSE(row["object"].contains("spec"));
}

TEST(ToTableTest, EmptyListHasColumnsAndNoRows) {
  json table = Table(Kind("v1", "Pod"), {});
  EXPECT_EQ(table["rows"], json::array());
  EXPECT_EQ(table["columnDefinitions"].size(), 9u);
  EXPECT_EQ(table["metadata"], json::object());
}

TEST(ToTableTest, ListMetadataCarriesContinueAndRemainingCount) {
  TableOptions options;
  options.resource_version = "7";
  options.continue_token = "abc";
  options.remaining_item_count = 12;
  json table = Table(Kind("v1", "Pod"), {}, options);
  EXPECT_EQ(table["metadata"],
            (json{{"resourceVersion", "7"}, {"continue", "abc"}, {"remainingItemCount", 12}}));
}

TEST(ToTableTest, IncludeObjectVariants) {
  ObjectPtr pod = Make<api::Pod>(kRunningPod);

  TableOptions object;
  object.include_object = IncludeObject::kObject;
  json full = Table(Kind("v1", "Pod"), {pod}, object)["rows"][0]["object"];
  EXPECT_EQ(full["kind"], "Pod");
  EXPECT_EQ(full["apiVersion"], "v1");
  EXPECT_EQ(full["spec"]["nodeName"], "node-a");
  EXPECT_EQ(full, api::EncodeJsonValue(*pod));

  TableOptions none;
  none.include_object = IncludeObject::kNone;
  json row = Table(Kind("v1", "Pod"), {pod}, none)["rows"][0];
  EXPECT_FALSE(row.contains("object"));
  EXPECT_EQ(row["cells"][0], "web-1");

  TableOptions beta;
  beta.api_version = "meta.k8s.io/v1beta1";
  json table = Table(Kind("v1", "Pod"), {pod}, beta);
  EXPECT_EQ(table["apiVersion"], "meta.k8s.io/v1beta1");
  EXPECT_EQ(table["rows"][0]["object"]["apiVersion"], "meta.k8s.io/v1beta1");
}

TEST(ToTableTest, NoHeadersLeavesOutColumnDefinitions) {
  // A watch sends column definitions with its first event only.
  TableOptions options;
  options.no_headers = true;
  options.resource_version = "42";
  json table = Table(Kind("v1", "Pod"), {Make<api::Pod>(kRunningPod)}, options);
  EXPECT_FALSE(table.contains("columnDefinitions"));
  EXPECT_EQ(table["rows"].size(), 1u);
  EXPECT_EQ(table["metadata"]["resourceVersion"], "42");
}

TEST(ToTableTest, RejectsObjectsOfAnotherKindAndBadVersions) {
  std::string out = "prefix";
  TableOptions options;
  options.now = kNow;
  absl::Status s = AppendTableJson(
      Kind("v1", "Pod"), {Make<api::ConfigMap>(R"({"metadata":{"name":"c"}})")}, options, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("a Table of Pod cannot hold a ConfigMap"));
  EXPECT_EQ(out, "prefix");

  s = AppendTableJson(Kind("v1", "Pod"), {ObjectPtr()}, options, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);

  options.api_version = "meta.k8s.io/v2";
  s = AppendTableJson(Kind("v1", "Pod"), {}, options, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out, "prefix");
}

TEST(ToTableTest, AppendTableJsonAppendsCompactJson) {
  std::string out = "{\"type\":\"ADDED\",\"object\":";
  TableOptions options;
  options.now = kNow;
  ASSERT_TRUE(
      AppendTableJson(Kind("v1", "Pod"), {Make<api::Pod>(kRunningPod)}, options, &out).ok());
  out += "}";
  EXPECT_EQ(out.find('\n'), std::string::npos);
  json event = json::parse(out);
  EXPECT_EQ(event["object"]["rows"][0]["cells"][0], "web-1");
}

TEST(ToTableTest, InvalidUtf8InACellDoesNotFail) {
  std::string message = "bad \xff byte";
  auto event = std::make_shared<api::Event>();
  event->mutable_metadata()->set_name("e1");
  event->set_message(message);
  json table = Table(Kind("v1", "Event"), {event});
  ASSERT_EQ(table["rows"].size(), 1u);
  EXPECT_THAT(table["rows"][0]["cells"][6].get<std::string>(), HasSubstr("bad"));
}

TEST(ToTableTest, ThousandPodsMakeThousandRows) {
  std::vector<ObjectPtr> pods;
  for (int i = 0; i < 1000; ++i) {
    auto pod = std::make_shared<api::Pod>(
        *std::static_pointer_cast<const api::Pod>(Make<api::Pod>(kRunningPod)));
    pod->mutable_metadata()->set_name(absl::StrCat("web-", i));
    pods.push_back(std::move(pod));
  }
  std::string out;
  TableOptions options;
  options.now = kNow;
  ASSERT_TRUE(AppendTableJson(Kind("v1", "PodList"), pods, options, &out).ok());
  json table = json::parse(out);
  ASSERT_EQ(table["rows"].size(), 1000u);
  EXPECT_EQ(table["rows"][999]["cells"][0], "web-999");
  EXPECT_EQ(table["rows"][999]["object"]["metadata"]["name"], "web-999");
}

TEST(ToTableTest, AgeIsUnknownWithoutCreationTimestamp) {
  auto cm = std::make_shared<api::ConfigMap>();
  cm->mutable_metadata()->set_name("c");
  json table = Table(Kind("v1", "ConfigMap"), {cm});
  EXPECT_EQ(table["rows"][0]["cells"], json::array({"c", 0, "<unknown>"}));
}

TEST(ToTableTest, UnknownKindsGetNameAndAge) {
  // Binding has no printer of its own.
  const api::KindInfo& binding = Kind("v1", "Binding");
  json table = Table(binding, {Make<api::Binding>(R"({"metadata":{"name":"b"}})")});
  EXPECT_THAT(ColumnNames(table), ElementsAre("Name", "Age"));
  EXPECT_EQ(table["rows"][0]["cells"], json::array({"b", "5m"}));
  EXPECT_EQ(table["columnDefinitions"][0]["format"], "name");

  std::vector<TableColumn> columns = TableColumns(binding);
  ASSERT_EQ(columns.size(), 2u);
  EXPECT_EQ(columns[1].name, "Age");
  EXPECT_EQ(columns[1].type, "string");
}

TEST(ToTableTest, EveryServedKindHasColumnsStartingWithNameOrLastSeen) {
  for (const auto& kind : api::Scheme::Builtin().kinds()) {
    if (kind->resource.empty()) continue;
    std::vector<TableColumn> columns = TableColumns(*kind);
    ASSERT_GE(columns.size(), 2u) << kind->kind;
    bool has_name = false;
    for (const TableColumn& c : columns) {
      if (c.format == "name") has_name = true;
      EXPECT_TRUE(c.priority == 0 || c.priority == 1) << kind->kind << " " << c.name;
      EXPECT_FALSE(c.description.empty()) << kind->kind << " " << c.name;
    }
    EXPECT_TRUE(has_name) << kind->kind;
  }
}

// ---- Pods --------------------------------------------------------------------------------

TEST(PodTableTest, PendingUnscheduled) {
  EXPECT_EQ(
      PodCells(R"({"metadata":{"name":"p"},
      "spec":{"containers":[{"name":"a"},{"name":"b"}]},
      "status":{"phase":"Pending"}})"),
      json::array({"p", "0/2", "Pending", "0", "5m", "<none>", "<none>", "<none>", "<none>"}));
}

TEST(PodTableTest, SchedulingGated) {
  EXPECT_EQ(PodStatus(R"({"metadata":{"name":"p"},
      "spec":{"containers":[{"name":"a"}],"schedulingGates":[{"name":"g"}]},
      "status":{"phase":"Pending","conditions":[
        {"type":"PodScheduled","status":"False","reason":"SchedulingGated"}]}})"),
            "SchedulingGated");
}

TEST(PodTableTest, ContainerCreating) {
  EXPECT_EQ(PodStatus(R"({"metadata":{"name":"p"},
      "spec":{"nodeName":"n","containers":[{"name":"a"}]},
      "status":{"phase":"Pending","containerStatuses":[{"name":"a","ready":false,
        "restartCount":0,"image":"i","imageID":"",
        "state":{"waiting":{"reason":"ContainerCreating"}}}]}})"),
            "ContainerCreating");
}

TEST(PodTableTest, RunningButNotReady) {
  json cells = PodCells(R"({"metadata":{"name":"p"},
      "spec":{"nodeName":"n","containers":[{"name":"a"},{"name":"b"}]},
      "status":{"phase":"Running","containerStatuses":[
        {"name":"a","ready":true,"restartCount":0,"image":"i","imageID":"",
         "state":{"running":{}}},
        {"name":"b","ready":false,"restartCount":0,"image":"i","imageID":"",
         "state":{"running":{}}}]}})");
  EXPECT_EQ(cells[1], "1/2");
  EXPECT_EQ(cells[2], "Running");
}

TEST(PodTableTest, CrashLoopBackOffShowsRestartsAndWhenTheLastWas) {
  json cells = PodCells(R"({"metadata":{"name":"p"},
      "spec":{"nodeName":"n","containers":[{"name":"a"}]},
      "status":{"phase":"Running","containerStatuses":[{"name":"a","ready":false,
        "restartCount":3,"image":"i","imageID":"",
        "state":{"waiting":{"reason":"CrashLoopBackOff","message":"back-off 40s"}},
        "lastState":{"terminated":{"exitCode":1,"reason":"Error",
                                   "finishedAt":"2025-01-02T03:02:05Z"}}}]}})");
  EXPECT_EQ(cells[1], "0/1");
  EXPECT_EQ(cells[2], "CrashLoopBackOff");
  EXPECT_EQ(cells[3], "3 (2m ago)");
}

TEST(PodTableTest, RestartsWithoutAFinishTimeArePlain) {
  json cells = PodCells(R"({"metadata":{"name":"p"},
      "spec":{"containers":[{"name":"a"}]},
      "status":{"phase":"Running","containerStatuses":[{"name":"a","ready":true,
        "restartCount":2,"image":"i","imageID":"","state":{"running":{}}}]}})");
  EXPECT_EQ(cells[3], "2");
}

TEST(PodTableTest, CompletedAndFailedPodsCarryACondition) {
  json table = Table(Kind("v1", "Pod"), {Make<api::Pod>(R"({"metadata":{"name":"p"},
      "spec":{"containers":[{"name":"a"}]},
      "status":{"phase":"Succeeded","containerStatuses":[{"name":"a","ready":false,
        "restartCount":0,"image":"i","imageID":"",
        "state":{"terminated":{"exitCode":0,"reason":"Completed"}}}]}})")});
  const json& row = table["rows"][0];
  EXPECT_EQ(row["cells"][1], "0/1");
  EXPECT_EQ(row["cells"][2], "Completed");
  ASSERT_EQ(row["conditions"].size(), 1u);
  EXPECT_EQ(row["conditions"][0]["type"], "Completed");
  EXPECT_EQ(row["conditions"][0]["status"], "True");
  EXPECT_EQ(row["conditions"][0]["reason"], "Succeeded");

  table = Table(Kind("v1", "Pod"), {Make<api::Pod>(R"({"metadata":{"name":"p"},
      "spec":{"containers":[{"name":"a"}]},
      "status":{"phase":"Failed","containerStatuses":[{"name":"a","ready":false,
        "restartCount":0,"image":"i","imageID":"",
        "state":{"terminated":{"exitCode":1,"reason":"Error"}}}]}})")});
  EXPECT_EQ(table["rows"][0]["cells"][2], "Error");
  EXPECT_EQ(table["rows"][0]["conditions"][0]["reason"], "Failed");
}

TEST(PodTableTest, TerminatedWithoutReasonShowsExitCodeOrSignal) {
  EXPECT_EQ(PodStatus(R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"a"}]},
      "status":{"phase":"Failed","containerStatuses":[{"name":"a","ready":false,
        "restartCount":0,"image":"i","imageID":"",
        "state":{"terminated":{"exitCode":2}}}]}})"),
            "ExitCode:2");
  EXPECT_EQ(PodStatus(R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"a"}]},
      "status":{"phase":"Failed","containerStatuses":[{"name":"a","ready":false,
        "restartCount":0,"image":"i","imageID":"",
        "state":{"terminated":{"exitCode":137,"signal":9}}}]}})"),
            "Signal:9");
}

TEST(PodTableTest, FirstContainersStateWins) {
  EXPECT_EQ(PodStatus(R"({"metadata":{"name":"p"},
      "spec":{"containers":[{"name":"a"},{"name":"b"}]},
      "status":{"phase":"Pending","containerStatuses":[
        {"name":"a","ready":false,"restartCount":0,"image":"i","imageID":"",
         "state":{"waiting":{"reason":"ErrImagePull"}}},
        {"name":"b","ready":false,"restartCount":0,"image":"i","imageID":"",
         "state":{"waiting":{"reason":"ContainerCreating"}}}]}})"),
            "ErrImagePull");
}

TEST(PodTableTest, CompletedContainerBesideARunningOne) {
  constexpr absl::string_view kTemplate = R"({"metadata":{"name":"p"},
      "spec":{"containers":[{"name":"a"},{"name":"b"}]},
      "status":{"phase":"Running","conditions":[{"type":"Ready","status":"%s"}],
        "containerStatuses":[
        {"name":"a","ready":true,"restartCount":0,"image":"i","imageID":"",
         "state":{"running":{}}},
        {"name":"b","ready":false,"restartCount":0,"image":"i","imageID":"",
         "state":{"terminated":{"exitCode":0,"reason":"Completed"}}}]}})";
  std::string ready(kTemplate);
  ready.replace(ready.find("%s"), 2, "True");
  std::string not_ready(kTemplate);
  not_ready.replace(not_ready.find("%s"), 2, "False");
  EXPECT_EQ(PodStatus(ready), "Running");
  EXPECT_EQ(PodStatus(not_ready), "NotReady");
}

TEST(PodTableTest, TerminatingAndNodeLost) {
  EXPECT_EQ(PodStatus(R"({"metadata":{"name":"p","deletionTimestamp":"2025-01-02T03:04:00Z"},
      "spec":{"containers":[{"name":"a"}]},
      "status":{"phase":"Running","containerStatuses":[{"name":"a","ready":true,
        "restartCount":0,"image":"i","imageID":"","state":{"running":{}}}]}})"),
            "Terminating");
  EXPECT_EQ(PodStatus(R"({"metadata":{"name":"p","deletionTimestamp":"2025-01-02T03:04:00Z"},
      "spec":{"containers":[{"name":"a"}]},
      "status":{"phase":"Running","reason":"NodeLost"}})"),
            "Unknown");
  // A finished pod being deleted keeps its final status.
  EXPECT_EQ(PodStatus(R"({"metadata":{"name":"p","deletionTimestamp":"2025-01-02T03:04:00Z"},
      "spec":{"containers":[{"name":"a"}]},
      "status":{"phase":"Succeeded","containerStatuses":[{"name":"a","ready":false,
        "restartCount":0,"image":"i","imageID":"",
        "state":{"terminated":{"exitCode":0,"reason":"Completed"}}}]}})"),
            "Completed");
  // Status.reason (e.g. Evicted) replaces the phase.
  EXPECT_EQ(PodStatus(R"({"metadata":{"name":"p"},"spec":{"containers":[{"name":"a"}]},
      "status":{"phase":"Failed","reason":"Evicted"}})"),
            "Evicted");
}

constexpr absl::string_view kInitSpec =
    R"("spec":{"initContainers":[{"name":"i1"},{"name":"i2"}],"containers":[{"name":"a"}]})";

std::string InitPod(absl::string_view init_statuses) {
  return absl::StrCat(R"({"metadata":{"name":"p"},)", kInitSpec,
                      R"(,"status":{"phase":"Pending","initContainerStatuses":[)", init_statuses,
                      R"(],"containerStatuses":[{"name":"a","ready":false,"restartCount":0,
        "image":"i","imageID":"","state":{"waiting":{"reason":"PodInitializing"}}}]}})");
}

TEST(PodTableTest, InitContainers) {
  constexpr absl::string_view kDone =
      R"({"name":"i1","ready":false,"restartCount":0,"image":"i","imageID":"",
          "state":{"terminated":{"exitCode":0,"reason":"Completed"}}})";
  // The first init container runs.
  EXPECT_EQ(PodStatus(InitPod(R"({"name":"i1","ready":false,"restartCount":0,"image":"i",
      "imageID":"","state":{"running":{}}},
      {"name":"i2","ready":false,"restartCount":0,"image":"i","imageID":"",
       "state":{"waiting":{"reason":"PodInitializing"}}})")),
            "Init:0/2");
  // The first is done, the second waits to start.
  EXPECT_EQ(PodStatus(InitPod(absl::StrCat(kDone, R"(,{"name":"i2","ready":false,
      "restartCount":0,"image":"i","imageID":"","state":{"waiting":{"reason":"PodInitializing"}}})"))),
            "Init:1/2");
  // The second crashes over and over.
  json cells = PodCells(InitPod(absl::StrCat(kDone, R"(,{"name":"i2","ready":false,
      "restartCount":4,"image":"i","imageID":"","state":{"waiting":{"reason":"CrashLoopBackOff"}},
      "lastState":{"terminated":{"exitCode":1,"finishedAt":"2025-01-02T03:03:55Z"}}})")));
  EXPECT_EQ(cells[2], "Init:CrashLoopBackOff");
  EXPECT_EQ(cells[3], "4 (10s ago)");
  // The second failed, with and without a reason.
  EXPECT_EQ(PodStatus(InitPod(R"({"name":"i1","ready":false,"restartCount":0,"image":"i",
      "imageID":"","state":{"terminated":{"exitCode":1,"reason":"Error"}}})")),
            "Init:Error");
  EXPECT_EQ(PodStatus(InitPod(R"({"name":"i1","ready":false,"restartCount":0,"image":"i",
      "imageID":"","state":{"terminated":{"exitCode":3}}})")),
            "Init:ExitCode:3");
  // All done: the app container's state shows.
  EXPECT_EQ(PodStatus(InitPod(absl::StrCat(kDone, R"(,{"name":"i2","ready":false,
      "restartCount":0,"image":"i","imageID":"","state":{"terminated":{"exitCode":0}}})"))),
            "PodInitializing");
}

TEST(PodTableTest, SidecarsCountAsContainers) {
  json cells = PodCells(R"({"metadata":{"name":"p"},
      "spec":{"initContainers":[{"name":"proxy","restartPolicy":"Always"}],
              "containers":[{"name":"a"}]},
      "status":{"phase":"Running","conditions":[{"type":"Initialized","status":"True"}],
        "initContainerStatuses":[{"name":"proxy","ready":true,"started":true,
          "restartCount":1,"image":"i","imageID":"","state":{"running":{}},
          "lastState":{"terminated":{"exitCode":1,"finishedAt":"2025-01-02T02:04:05Z"}}}],
        "containerStatuses":[{"name":"a","ready":true,"restartCount":0,"image":"i",
          "imageID":"","state":{"running":{}}}]}})");
  EXPECT_EQ(cells[1], "2/2");
  EXPECT_EQ(cells[2], "Running");
  EXPECT_EQ(cells[3], "1 (60m ago)");
}

TEST(PodTableTest, WideColumns) {
  json cells = PodCells(R"({"metadata":{"name":"p"},
      "spec":{"nodeName":"node-a","containers":[{"name":"a"}],
              "readinessGates":[{"conditionType":"example.com/lb"},
                                {"conditionType":"example.com/dns"}]},
      "status":{"phase":"Pending","nominatedNodeName":"node-b",
                "podIPs":[{"ip":"10.1.0.5"},{"ip":"fd00::5"}],
                "conditions":[{"type":"example.com/lb","status":"True"},
                              {"type":"example.com/dns","status":"False"}]}})");
  EXPECT_EQ(cells[5], "10.1.0.5");
  EXPECT_EQ(cells[6], "node-a");
  EXPECT_EQ(cells[7], "node-b");
  EXPECT_EQ(cells[8], "1/2");
}

// ---- Nodes ------------------------------------------------------------------------------------

TEST(NodeTableTest, StatusRolesVersionAndWideColumns) {
  json table = Table(Kind("v1", "Node"), {Make<api::Node>(R"({
      "metadata":{"name":"cp-1","labels":{"node-role.kubernetes.io/control-plane":"",
                                          "node-role.kubernetes.io/etcd":"true",
                                          "kubernetes.io/hostname":"cp-1"}},
      "status":{"conditions":[{"type":"MemoryPressure","status":"False"},
                              {"type":"Ready","status":"True"}],
                "addresses":[{"type":"Hostname","address":"cp-1"},
                             {"type":"InternalIP","address":"192.168.1.10"}],
                "nodeInfo":{"kubeletVersion":"v1.33.0","osImage":"Debian GNU/Linux 12",
                            "kernelVersion":"6.1.0","containerRuntimeVersion":"containerd://1.7"}}})")});
  EXPECT_THAT(ColumnNames(table),
              ElementsAre("Name", "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP",
                          "OS-Image", "Kernel-Version", "Container-Runtime"));
  EXPECT_THAT(WideColumnNames(table), ElementsAre("Internal-IP", "External-IP", "OS-Image",
                                                  "Kernel-Version", "Container-Runtime"));
  EXPECT_EQ(table["rows"][0]["cells"],
            json::array({"cp-1", "Ready", "control-plane,etcd", "5m", "v1.33.0", "192.168.1.10",
                         "<none>", "Debian GNU/Linux 12", "6.1.0", "containerd://1.7"}));
}

TEST(NodeTableTest, NotReadyUnknownAndCordoned) {
  json cells = Cells<api::Node>("v1", "Node", R"({"metadata":{"name":"n"},
      "spec":{"unschedulable":true},
      "status":{"conditions":[{"type":"Ready","status":"Unknown"}]}})");
  EXPECT_EQ(cells[1], "NotReady,SchedulingDisabled");
  EXPECT_EQ(cells[2], "<none>");
  EXPECT_EQ(cells[7], "<unknown>");

  cells = Cells<api::Node>("v1", "Node", R"({"metadata":{"name":"n",
      "labels":{"kubernetes.io/role":"worker"}}})");
  EXPECT_EQ(cells[1], "Unknown");
  EXPECT_EQ(cells[2], "worker");
}

// ---- Core kinds -----------------------------------------------------------------------------

TEST(CoreTableTest, Namespace) {
  EXPECT_EQ(Cells<api::Namespace>("v1", "Namespace",
                                  R"({"metadata":{"name":"dev"},"status":{"phase":"Active"}})"),
            json::array({"dev", "Active", "5m"}));
}

TEST(CoreTableTest, Services) {
  json table = Table(Kind("v1", "Service"), {Make<api::Service>(R"({"metadata":{"name":"web"},
      "spec":{"type":"ClusterIP","clusterIP":"10.96.0.10","clusterIPs":["10.96.0.10"],
              "selector":{"tier":"fe","app":"web"},
              "ports":[{"port":80,"protocol":"TCP"},{"port":53,"protocol":"UDP"}]}})")});
  EXPECT_THAT(ColumnNames(table), ElementsAre("Name", "Type", "Cluster-IP", "External-IP",
                                              "Port(s)", "Age", "Selector"));
  EXPECT_THAT(WideColumnNames(table), ElementsAre("Selector"));
  EXPECT_EQ(table["rows"][0]["cells"], json::array({"web", "ClusterIP", "10.96.0.10", "<none>",
                                                    "80/TCP,53/UDP", "5m", "app=web,tier=fe"}));

  EXPECT_EQ(
      Cells<api::Service>("v1", "Service", R"({"metadata":{"name":"np"},
      "spec":{"type":"NodePort","clusterIPs":["10.96.0.11"],"externalIPs":["1.2.3.4"],
              "ports":[{"port":80,"nodePort":30080,"protocol":"TCP"}]}})"),
      json::array({"np", "NodePort", "10.96.0.11", "1.2.3.4", "80:30080/TCP", "5m", "<none>"}));

  json lb = Cells<api::Service>("v1", "Service", R"({"metadata":{"name":"lb"},
      "spec":{"type":"LoadBalancer","clusterIPs":["10.96.0.12"],
              "ports":[{"port":443,"nodePort":31443,"protocol":"TCP"}]}})");
  EXPECT_EQ(lb[3], "<pending>");
  lb = Cells<api::Service>("v1", "Service", R"({"metadata":{"name":"lb"},
      "spec":{"type":"LoadBalancer","clusterIPs":["10.96.0.12"],"externalIPs":["5.6.7.8"]},
      "status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.1"},{"hostname":"lb.example.com"}]}}})");
  EXPECT_EQ(lb[3], "203.0.113.1,lb.example.com,5.6.7.8");
  EXPECT_EQ(lb[4], "<none>");

  json headless = Cells<api::Service>("v1", "Service", R"({"metadata":{"name":"db"},
      "spec":{"type":"ClusterIP","clusterIP":"None","clusterIPs":["None"],
              "ports":[{"port":5432,"protocol":"TCP"}]}})");
  EXPECT_EQ(headless[2], "None");

  json external = Cells<api::Service>("v1", "Service", R"({"metadata":{"name":"ext"},
      "spec":{"type":"ExternalName","externalName":"db.example.com"}})");
  EXPECT_EQ(external[2], "<none>");
  EXPECT_EQ(external[3], "db.example.com");
}

TEST(CoreTableTest, Endpoints) {
  EXPECT_EQ(Cells<api::Endpoints>("v1", "Endpoints", R"({"metadata":{"name":"e"}})"),
            json::array({"e", "<none>", "5m"}));
  EXPECT_EQ(Cells<api::Endpoints>("v1", "Endpoints", R"({"metadata":{"name":"e"},
      "subsets":[{"addresses":[{"ip":"10.0.0.1"},{"ip":"fd00::2"}],
                  "ports":[{"port":8080}]}]})")[1],
            "10.0.0.1:8080,[fd00::2]:8080");
  EXPECT_EQ(Cells<api::Endpoints>("v1", "Endpoints", R"({"metadata":{"name":"e"},
      "subsets":[{"addresses":[{"ip":"10.0.0.1"},{"ip":"10.0.0.2"},{"ip":"10.0.0.3"}],
                  "ports":[{"port":80},{"port":443}]}]})")[1],
            "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 3 more...");
  // A headless service without ports lists bare addresses.
  EXPECT_EQ(Cells<api::Endpoints>("v1", "Endpoints", R"({"metadata":{"name":"e"},
      "subsets":[{"addresses":[{"ip":"10.0.0.1"}]}]})")[1],
            "10.0.0.1");
}

TEST(CoreTableTest, EndpointSlice) {
  EXPECT_EQ(
      Cells<api::EndpointSlice>("discovery.k8s.io/v1", "EndpointSlice",
                                R"({"metadata":{"name":"web-abc"},"addressType":"IPv4",
      "ports":[{"name":"http","port":80,"protocol":"TCP"},{"name":"named"}],
      "endpoints":[{"addresses":["10.0.0.1"]},{"addresses":["10.0.0.2"]},
                   {"addresses":["10.0.0.3"]},{"addresses":["10.0.0.4"]}]})"),
      json::array({"web-abc", "IPv4", "80,named", "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...", "5m"}));
  EXPECT_EQ(Cells<api::EndpointSlice>("discovery.k8s.io/v1", "EndpointSlice",
                                      R"({"metadata":{"name":"empty"},"addressType":"IPv6",
      "endpoints":[]})"),
            json::array({"empty", "IPv6", "<unset>", "<unset>", "5m"}));
}

TEST(CoreTableTest, ConfigMapSecretServiceAccount) {
  json table = Table(Kind("v1", "ConfigMap"), {Make<api::ConfigMap>(R"({"metadata":{"name":"c"},
      "data":{"a":"1","b":"2"},"binaryData":{"c":"AAE="}})")});
  EXPECT_EQ(table["rows"][0]["cells"], json::array({"c", 3, "5m"}));
  EXPECT_EQ(table["columnDefinitions"][1]["type"], "integer");

  EXPECT_EQ(Cells<api::Secret>("v1", "Secret", R"({"metadata":{"name":"s"},
      "type":"kubernetes.io/tls","data":{"tls.crt":"YQ==","tls.key":"Yg=="}})"),
            json::array({"s", "kubernetes.io/tls", 2, "5m"}));
  EXPECT_EQ(Cells<api::ServiceAccount>("v1", "ServiceAccount", R"({"metadata":{"name":"default"},
      "secrets":[{"name":"default-token"}]})"),
            json::array({"default", 1, "5m"}));
}

TEST(CoreTableTest, Events) {
  json table = Table(Kind("v1", "Event"), {Make<api::Event>(R"({
      "metadata":{"name":"web-1.17f"},
      "involvedObject":{"kind":"Pod","name":"web-1","fieldPath":"spec.containers{app}"},
      "reason":"BackOff","message":"Back-off restarting failed container\n","type":"Warning",
      "source":{"component":"kubelet","host":"node-a"},
      "firstTimestamp":"2025-01-02T02:04:05Z","lastTimestamp":"2025-01-02T03:03:05Z",
      "count":12})")});
  EXPECT_THAT(ColumnNames(table), ElementsAre("Last Seen", "Type", "Reason", "Object", "Subobject",
                                              "Source", "Message", "First Seen", "Count", "Name"));
  EXPECT_THAT(WideColumnNames(table),
              ElementsAre("Subobject", "Source", "First Seen", "Count", "Name"));
  EXPECT_EQ(table["rows"][0]["cells"],
            json::array({"60s", "Warning", "BackOff", "pod/web-1", "spec.containers{app}",
                         "kubelet, node-a", "Back-off restarting failed container", "60m", 12,
                         "web-1.17f"}));

  // An events.k8s.io-style event: eventTime and series, reportingComponent.
  json cells = Cells<api::Event>("v1", "Event", R"({"metadata":{"name":"n.1"},
      "involvedObject":{"kind":"Node"},"reason":"Starting","type":"Normal",
      "eventTime":"2025-01-02T03:00:05.000000Z","reportingComponent":"kube-proxy",
      "series":{"count":4,"lastObservedTime":"2025-01-02T03:04:00.000000Z"}})");
  EXPECT_EQ(cells[0], "5s");
  EXPECT_EQ(cells[3], "node");
  EXPECT_EQ(cells[5], "kube-proxy");
  EXPECT_EQ(cells[7], "4m");
  EXPECT_EQ(cells[8], 4);

  // A singleton event without count counts once.
  cells = Cells<api::Event>("v1", "Event", R"({"metadata":{"name":"x"},
      "involvedObject":{"kind":"Pod","name":"p"}})");
  EXPECT_EQ(cells[0], "<unknown>");
  EXPECT_EQ(cells[8], 1);
}

TEST(CoreTableTest, ResourceQuotaAndLimitRange) {
  json table = Table(Kind("v1", "ResourceQuota"), {Make<api::ResourceQuota>(R"({
      "metadata":{"name":"q"},
      "spec":{"hard":{"pods":"10","requests.cpu":"2","limits.memory":"4Gi"}},
      "status":{"hard":{"pods":"10","requests.cpu":"2","limits.memory":"4Gi","limits.cpu":"4"},
                "used":{"pods":"3","requests.cpu":"500m","limits.memory":"1Gi"}}})")});
  EXPECT_THAT(ColumnNames(table), ElementsAre("Name", "Age", "Request", "Limit"));
  EXPECT_EQ(table["rows"][0]["cells"], json::array({"q", "5m", "pods: 3/10, requests.cpu: 500m/2",
                                                    "limits.cpu: 0/4, limits.memory: 1Gi/4Gi"}));

  table = Table(Kind("v1", "LimitRange"), {Make<api::LimitRange>(R"({"metadata":{"name":"l"},
      "spec":{"limits":[{"type":"Container"}]}})")});
  EXPECT_THAT(ColumnNames(table), ElementsAre("Name", "Created At"));
  EXPECT_EQ(table["columnDefinitions"][1]["type"], "date");
  EXPECT_EQ(table["rows"][0]["cells"], json::array({"l", kCreated}));
}

// ---- Workloads ---------------------------------------------------------------------------

constexpr absl::string_view kTemplate = R"(
  "selector":{"matchLabels":{"app":"web"},
              "matchExpressions":[{"key":"tier","operator":"In","values":["fe","be"]}]},
  "template":{"metadata":{"labels":{"app":"web","tier":"fe"}},
              "spec":{"containers":[{"name":"app","image":"nginx:1.27"},
                                    {"name":"log","image":"busybox"}]}})";

TEST(WorkloadTableTest, Deployment) {
  json table = Table(Kind("apps/v1", "Deployment"),
                     {Make<api::Deployment>(absl::StrCat(
                         R"({"metadata":{"name":"web"},"spec":{"replicas":3,)", kTemplate,
                         R"(},"status":{"replicas":3,"updatedReplicas":3,"readyReplicas":2,
                            "availableReplicas":2}})"))});
  EXPECT_THAT(ColumnNames(table), ElementsAre("Name", "Ready", "Up-to-date", "Available", "Age",
                                              "Containers", "Images", "Selector"));
  EXPECT_THAT(WideColumnNames(table), ElementsAre("Containers", "Images", "Selector"));
  EXPECT_EQ(table["rows"][0]["cells"],
            json::array({"web", "2/3", 3, 2, "5m", "app,log", "nginx:1.27,busybox",
                         "app=web,tier in (be,fe)"}));
}

TEST(WorkloadTableTest, ReplicaSet) {
  json table = Table(Kind("apps/v1", "ReplicaSet"),
                     {Make<api::ReplicaSet>(absl::StrCat(
                         R"({"metadata":{"name":"web-5d8"},"spec":{"replicas":3,)", kTemplate,
                         R"(},"status":{"replicas":3,"readyReplicas":1}})"))});
  EXPECT_THAT(ColumnNames(table), ElementsAre("Name", "Desired", "Current", "Ready", "Age",
                                              "Containers", "Images", "Selector"));
  EXPECT_EQ(table["rows"][0]["cells"],
            json::array({"web-5d8", 3, 3, 1, "5m", "app,log", "nginx:1.27,busybox",
                         "app=web,tier in (be,fe)"}));
}

TEST(WorkloadTableTest, StatefulSet) {
  json table = Table(Kind("apps/v1", "StatefulSet"),
                     {Make<api::StatefulSet>(absl::StrCat(
                         R"({"metadata":{"name":"db"},"spec":{"replicas":2,"serviceName":"db",)",
                         kTemplate, R"(},"status":{"replicas":2,"readyReplicas":2}})"))});
  EXPECT_THAT(ColumnNames(table), ElementsAre("Name", "Ready", "Age", "Containers", "Images"));
  EXPECT_EQ(table["rows"][0]["cells"],
            json::array({"db", "2/2", "5m", "app,log", "nginx:1.27,busybox"}));
}

TEST(WorkloadTableTest, DaemonSet) {
  json table =
      Table(Kind("apps/v1", "DaemonSet"), {Make<api::DaemonSet>(R"({"metadata":{"name":"agent"},
          "spec":{"selector":{"matchLabels":{"app":"agent"}},
                  "template":{"metadata":{"labels":{"app":"agent"}},
                              "spec":{"nodeSelector":{"kubernetes.io/os":"linux"},
                                      "containers":[{"name":"a","image":"agent:1"}]}}},
          "status":{"desiredNumberScheduled":3,"currentNumberScheduled":3,"numberReady":2,
                    "numberMisscheduled":0,"updatedNumberScheduled":1,"numberAvailable":2}})")});
  EXPECT_THAT(ColumnNames(table),
              ElementsAre("Name", "Desired", "Current", "Ready", "Up-to-date", "Available",
                          "Node Selector", "Age", "Containers", "Images", "Selector"));
  EXPECT_EQ(table["rows"][0]["cells"],
            json::array({"agent", 3, 3, 2, 1, 2, "kubernetes.io/os=linux", "5m", "a", "agent:1",
                         "app=agent"}));
}

TEST(WorkloadTableTest, Jobs) {
  json table = Table(Kind("batch/v1", "Job"), {Make<api::Job>(R"({"metadata":{"name":"pi"},
      "spec":{"completions":1,"parallelism":1,
              "selector":{"matchLabels":{"batch.kubernetes.io/controller-uid":"u"}},
              "template":{"spec":{"containers":[{"name":"pi","image":"perl"}]}}},
      "status":{"succeeded":1,"startTime":"2025-01-02T03:00:00Z",
                "completionTime":"2025-01-02T03:00:42Z",
                "conditions":[{"type":"Complete","status":"True"}]}})")});
  EXPECT_THAT(ColumnNames(table), ElementsAre("Name", "Status", "Completions", "Duration", "Age",
                                              "Containers", "Images", "Selector"));
  EXPECT_EQ(table["rows"][0]["cells"],
            json::array({"pi", "Complete", "1/1", "42s", "5m", "pi", "perl",
                         "batch.kubernetes.io/controller-uid=u"}));

  json running = Cells<api::Job>("batch/v1", "Job", R"({"metadata":{"name":"j"},
      "spec":{"parallelism":3,"template":{"spec":{"containers":[{"name":"c","image":"i"}]}}},
      "status":{"active":3,"succeeded":1,"startTime":"2025-01-02T03:01:05Z"}})");
  EXPECT_EQ(running[1], "Running");
  EXPECT_EQ(running[2], "1/1 of 3");
  EXPECT_EQ(running[3], "3m");
  EXPECT_EQ(running[4 + 3], "<none>");

  EXPECT_EQ(Cells<api::Job>("batch/v1", "Job", R"({"metadata":{"name":"j"},
      "spec":{"completions":5,"template":{"spec":{"containers":[]}}},
      "status":{"failed":6,"conditions":[{"type":"FailureTarget","status":"True"},
                                         {"type":"Failed","status":"True"}]}})")[1],
            "Failed");
  json suspended = Cells<api::Job>("batch/v1", "Job", R"({"metadata":{"name":"j"},
      "spec":{"completions":5,"suspend":true,"template":{"spec":{"containers":[]}}},
      "status":{"conditions":[{"type":"Suspended","status":"True"}]}})");
  EXPECT_EQ(suspended[1], "Suspended");
  EXPECT_EQ(suspended[2], "0/5");
  EXPECT_EQ(suspended[3], "");
}

// ---- Cluster plumbing ----------------------------------------------------------------------

TEST(ClusterTableTest, LeaseAndPriorityClass) {
  EXPECT_EQ(Cells<api::Lease>("coordination.k8s.io/v1", "Lease",
                              R"({"metadata":{"name":"node-a"},
      "spec":{"holderIdentity":"node-a","leaseDurationSeconds":40}})"),
            json::array({"node-a", "node-a", "5m"}));

  json table = Table(Kind("scheduling.k8s.io/v1", "PriorityClass"),
                     {Make<api::PriorityClass>(R"({"metadata":{"name":"system-node-critical"},
      "value":2000001000,"globalDefault":false,"preemptionPolicy":"PreemptLowerPriority"})")});
  EXPECT_THAT(ColumnNames(table),
              ElementsAre("Name", "Value", "Global-Default", "Age", "PreemptionPolicy"));
  EXPECT_EQ(table["columnDefinitions"][2]["type"], "boolean");
  EXPECT_EQ(table["rows"][0]["cells"],
            json::array({"system-node-critical", 2000001000, false, "5m", "PreemptLowerPriority"}));
}

TEST(ClusterTableTest, RbacKinds) {
  json table = Table(Kind("rbac.authorization.k8s.io/v1", "ClusterRole"),
                     {Make<api::ClusterRole>(R"({"metadata":{"name":"view"}})")});
  EXPECT_THAT(ColumnNames(table), ElementsAre("Name", "Created At"));
  EXPECT_EQ(table["rows"][0]["cells"], json::array({"view", kCreated}));
  EXPECT_EQ(
      Cells<api::Role>("rbac.authorization.k8s.io/v1", "Role", R"({"metadata":{"name":"r"}})"),
      json::array({"r", kCreated}));

  table = Table(Kind("rbac.authorization.k8s.io/v1", "RoleBinding"),
                {Make<api::RoleBinding>(R"({"metadata":{"name":"rb"},
      "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"view"},
      "subjects":[{"kind":"User","name":"alice"},{"kind":"User","name":"bob"},
                  {"kind":"Group","name":"devs"},
                  {"kind":"ServiceAccount","name":"ci","namespace":"build"}]})")});
  EXPECT_THAT(ColumnNames(table),
              ElementsAre("Name", "Role", "Age", "Users", "Groups", "ServiceAccounts"));
  EXPECT_THAT(WideColumnNames(table), ElementsAre("Users", "Groups", "ServiceAccounts"));
  EXPECT_EQ(table["rows"][0]["cells"],
            json::array({"rb", "ClusterRole/view", "5m", "alice, bob", "devs", "build/ci"}));

  EXPECT_EQ(Cells<api::ClusterRoleBinding>("rbac.authorization.k8s.io/v1", "ClusterRoleBinding",
                                           R"({"metadata":{"name":"crb"},
      "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"admin"}})"),
            json::array({"crb", "ClusterRole/admin", "5m", "", "", ""}));
}

}  // namespace
}  // namespace korch::apiserver
