// Field management: field sets, ownership on updates, server-side apply
// conflicts, shared ownership, removal of fields no longer applied, and
// subresource entries, through the real ApiServer over a memory store.

#include "korch/apiserver/managed_fields.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/apps.pb.h"
#include "korch/api/codec.h"
#include "korch/api/core.pb.h"
#include "korch/apiserver/patch.h"
#include "server_test_util.h"

namespace korch::apiserver {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::Meta;
using ::testing::UnorderedElementsAre;
using Json = nlohmann::json;

FieldSet SetOf(const Json& object, FieldScope scope = FieldScope::kMainResource) {
  return FieldSetOf(object, KubernetesStrategicSchema(), scope);
}

// --- Field sets --------------------------------------------------------------------

TEST(FieldSetTest, MapsNestedFieldsAndSystemMetadata) {
  Json cm = Json::parse(R"({"apiVersion":"v1","kind":"ConfigMap",
      "metadata":{"name":"x","namespace":"d","uid":"u","resourceVersion":"3",
                  "labels":{"app":"web"}},
      "data":{"k":"v","e":""},"status":{"ignored":true}})");
  EXPECT_EQ(
      SetOf(cm).ToFieldsV1(),
      Json::parse(R"({"f:data":{"f:e":{},"f:k":{}},"f:metadata":{"f:labels":{"f:app":{}}}})"));
  EXPECT_EQ(SetOf(cm, FieldScope::kStatus).ToFieldsV1(),
            Json::parse(R"({"f:status":{"f:ignored":{}}})"));
}

TEST(FieldSetTest, AssociativeListsByMergeKeySetListsAndAtomicLists) {
  Json deploy = Json::parse(R"({"metadata":{"finalizers":["a","b"]},
      "spec":{"template":{"spec":{"containers":[
        {"name":"nginx","image":"nginx:1","args":["-v"],
         "ports":[{"containerPort":80}],
         "env":[{"name":"A","value":"1"}],"resources":{}}],
        "tolerations":[{"key":"k"}]}}}})");
  Json want = Json::parse(R"({
    "f:metadata":{"f:finalizers":{"v:\"a\"":{},"v:\"b\"":{}}},
    "f:spec":{"f:template":{"f:spec":{
      "f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:args":{},
        "f:env":{"k:{\"name\":\"A\"}":{".":{},"f:name":{},"f:value":{}}},
        "f:image":{},"f:name":{},
        "f:ports":{"k:{\"containerPort\":80}":{".":{},"f:containerPort":{}}},
        "f:resources":{}}},
      "f:tolerations":{}}}}})");
  EXPECT_EQ(SetOf(deploy).ToFieldsV1(), want);
}

TEST(FieldSetTest, KeyedItemsWithoutAUniqueKeyGoByIndex) {
  Json pod = Json::parse(R"({"spec":{"containers":[{"image":"a"},{"image":"b"}]}})");
  EXPECT_EQ(SetOf(pod).ToFieldsV1(), Json::parse(R"({"f:spec":{"f:containers":{
      "i:0":{".":{},"f:image":{}},"i:1":{".":{},"f:image":{}}}}})"));
}

TEST(FieldSetTest, FieldsV1RoundTripsAndPrintsLikeKubernetes) {
  Json v1 = Json::parse(R"({"f:metadata":{"f:labels":{".":{},"f:app":{}},
      "f:finalizers":{"v:\"x\"":{}}},
      "f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{}}},
                "f:list":{"i:2":{}},"f:replicas":{}}})");
  absl::StatusOr<FieldSet> set = FieldSet::FromFieldsV1(v1);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->ToFieldsV1(), v1);
  EXPECT_THAT(
      set->PathStrings(),
      ElementsAre(".metadata.finalizers[=\"x\"]", ".metadata.labels", ".metadata.labels.app",
                  ".spec.containers[name=\"web\"]", ".spec.containers[name=\"web\"].image",
                  ".spec.list[2]", ".spec.replicas"));
  EXPECT_FALSE(FieldSet::FromFieldsV1(Json::parse(R"({"x:y":{}})")).ok());
  EXPECT_FALSE(FieldSet::FromFieldsV1(Json::parse(R"([1])")).ok());
}

TEST(FieldSetTest, CompareFindsAddedModifiedRemoved) {
  Json before = Json::parse(R"({"metadata":{"resourceVersion":"1","labels":{"a":"1"}},
      "spec":{"replicas":1,"containers":[{"name":"c","image":"x"},{"name":"d","image":"y"}]}})");
  Json after = Json::parse(R"({"metadata":{"resourceVersion":"2","labels":{"a":"1"},
      "annotations":{"n":"v"}},
      "spec":{"replicas":2,"containers":[{"name":"c","image":"x2"},{"name":"e","image":"z"}]}})");
  FieldComparison c =
      CompareFields(before, after, KubernetesStrategicSchema(), FieldScope::kMainResource);
  EXPECT_THAT(
      c.added.PathStrings(),
      UnorderedElementsAre(".metadata.annotations", ".metadata.annotations.n",
                           ".spec.containers[name=\"e\"]", ".spec.containers[name=\"e\"].image",
                           ".spec.containers[name=\"e\"].name"));
  EXPECT_THAT(c.modified.PathStrings(),
              UnorderedElementsAre(".spec.containers[name=\"c\"].image", ".spec.replicas"));
  EXPECT_THAT(c.removed.PathStrings(), UnorderedElementsAre(".spec.containers[name=\"d\"]",
                                                            ".spec.containers[name=\"d\"].image",
                                                            ".spec.containers[name=\"d\"].name"));
}

// A create records one entry owning what CompareFields finds added to the
// empty object, whatever the shape (RecordWrite writes creates' fieldsV1
// directly; this holds it to the general comparison).
TEST(FieldSetTest, CreateEntryIsTheComparisonWithTheEmptyObject) {
  const char* objects[] = {
      // Keyed lists (containers, env, ports, volumes), set lists with a
      // repeat (finalizers), atomic lists (args), empty maps, quantities.
      R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"d",
          "labels":{"app":"web","tier":"x\"y"},"annotations":{"note":"caf\u00e9"},
          "finalizers":["b","a","b"],"uid":"u"},
        "spec":{"schedulerName":"default-scheduler","containers":[
          {"name":"pause","image":"pause:3","args":["-v","-v"],
           "ports":[{"containerPort":80},{"containerPort":443,"protocol":"TCP"}],
           "env":[{"name":"B","value":"2"},{"name":"A","value":"1"}],
           "resources":{"requests":{"cpu":"100m","memory":"500Mi"},"limits":{"cpu":"1"}}},
          {"name":"side","image":"busybox","resources":{}}],
         "volumes":[{"name":"v","emptyDir":{}}],
         "tolerations":[{"key":"k","operator":"Exists"}],
         "nodeSelector":{},"terminationGracePeriodSeconds":0},
        "status":{"phase":"Pending"}})",
      // Keyed items without a unique key go by index (past 9: string order).
      R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"q"},"spec":{"containers":[
          {"image":"0"},{"image":"1"},{"image":"2"},{"image":"3"},{"image":"4"},{"image":"5"},
          {"image":"6"},{"image":"7"},{"image":"8"},{"image":"9"},{"image":"10"}]}})",
      R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
        "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},
          "template":{"metadata":{"labels":{"app":"web"}},
            "spec":{"containers":[{"name":"nginx","image":"nginx:1.25"}]}}}})",
      R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},
        "spec":{"selector":{"app":"web"},"ports":[{"port":80,"targetPort":8080},
          {"port":443,"targetPort":"https"}]}})",
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"k":"v","e":""}})",
      // Nothing but system metadata: no entry.
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"d"}})",
  };
  std::vector<std::unique_ptr<google::protobuf::Message>> all;
  for (const char* text : objects) {
    absl::StatusOr<std::unique_ptr<google::protobuf::Message>> object =
        api::DecodeObject(Json::parse(text), api::Scheme::Builtin());
    ASSERT_TRUE(object.ok()) << object.status() << text;
    all.push_back(*std::move(object));
  }
  // And every object of the codec's corpus of real manifests.
  for (const auto& file :
       std::filesystem::directory_iterator(std::string(KORCH_TEST_DATA_DIR) + "/valid")) {
    std::ifstream in(file.path());
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<std::vector<std::unique_ptr<google::protobuf::Message>>> objects =
        api::DecodeManifest(text.str(), api::Scheme::Builtin());
    ASSERT_TRUE(objects.ok()) << file.path() << ": " << objects.status();
    for (auto& o : *objects) all.push_back(std::move(o));
  }
  ASSERT_GE(all.size(), 30u);
  for (std::unique_ptr<google::protobuf::Message>& object : all) {
    SCOPED_TRACE(api::EncodeJson(*object));
    api::MutableObjectMetaOf(*object)->clear_managed_fields();
    Json want_fields = CompareFields(Json::object(), api::EncodeJsonValue(*object),
                                     KubernetesStrategicSchema(), FieldScope::kMainResource)
                           .added.ToFieldsV1();

    FieldManagerRequest request;
    request.manager = "creator";
    request.api_version = "v1";
    request.now = absl::FromUnixSeconds(1700000000);
    ASSERT_TRUE(RecordWrite(nullptr, *object, request, KubernetesStrategicSchema()).ok());
    const api::ObjectMeta& meta = *api::ObjectMetaOf(*object);
    if (want_fields.empty()) {
      EXPECT_THAT(meta.managed_fields(), IsEmpty());
      continue;
    }
    ASSERT_EQ(meta.managed_fields_size(), 1);
    const api::ManagedFieldsEntry& e = meta.managed_fields(0);
    EXPECT_EQ(e.manager(), "creator");
    EXPECT_EQ(e.operation(), "Update");
    EXPECT_EQ(e.api_version(), "v1");
    EXPECT_EQ(e.time().seconds(), 1700000000);
    EXPECT_EQ(e.fields_type(), "FieldsV1");
    // The same text Kubernetes' order gives, not only the same set.
    EXPECT_EQ(e.fields_v1().raw(), want_fields.dump());
  }
}

TEST(FieldManagerTest, UserAgentsAndValidation) {
  EXPECT_EQ(FieldManagerFromUserAgent("kubectl/v1.30.1 (linux/amd64) kubernetes/7c48c2b"),
            "kubectl");
  EXPECT_EQ(FieldManagerFromUserAgent("OpenAPI-Generator/29.0.0/python"), "OpenAPI-Generator");
  EXPECT_EQ(FieldManagerFromUserAgent(""), "");
  EXPECT_EQ(FieldManagerFromUserAgent(std::string(300, 'a')).size(), 128u);
  EXPECT_TRUE(ValidateFieldManager("kubectl-edit", "UpdateOptions.meta.k8s.io").ok());
  absl::Status s = ValidateFieldManager(std::string(129, 'a'), "UpdateOptions.meta.k8s.io");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("fieldManager"));
  EXPECT_FALSE(ValidateFieldManager("a\nb", "UpdateOptions.meta.k8s.io").ok());
}

// --- Through the API server ----------------------------------------------------------

struct EntryView {
  std::string manager;
  std::string operation;
  std::string subresource;
  Json fields;
};

std::vector<EntryView> Entries(const api::ObjectMeta& meta) {
  std::vector<EntryView> out;
  for (const api::ManagedFieldsEntry& e : meta.managed_fields()) {
    EXPECT_EQ(e.fields_type(), "FieldsV1");
    EXPECT_TRUE(e.has_time()) << e.manager();
    out.push_back({e.manager(), e.operation(), e.subresource(), Json::parse(e.fields_v1().raw())});
  }
  return out;
}

const EntryView* Find(const std::vector<EntryView>& entries, absl::string_view manager,
                      absl::string_view operation, absl::string_view sub = "") {
  for (const EntryView& e : entries) {
    if (e.manager == manager && e.operation == operation && e.subresource == sub) return &e;
  }
  return nullptr;
}

class ManagedFieldsServerTest : public testing::ServerTest {
 protected:
  template <typename T>
  absl::StatusOr<std::shared_ptr<const T>> Apply(absl::string_view ns, absl::string_view name,
                                                 absl::string_view manager,
                                                 absl::string_view config, bool force = false,
                                                 absl::string_view sub = "") {
    PatchOptions o;
    o.field_manager = std::string(manager);
    o.force = force;
    o.subresource = std::string(sub);
    return Patch<T>(ns, name, PatchType::kApply, config, o);
  }
};

constexpr char kDeployV1[] = R"({"apiVersion":"apps/v1","kind":"Deployment",
  "metadata":{"name":"web","namespace":"default","labels":{"app":"web"}},
  "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},
    "template":{"metadata":{"labels":{"app":"web"}},
      "spec":{"containers":[{"name":"nginx","image":"nginx:1.25"}]}}}})";

TEST_F(ManagedFieldsServerTest, CreateAndUpdateRecordUpdateEntries) {
  CreateOptions co;
  co.field_manager = "kubectl-create";
  auto created = Create(testing::MakeConfigMap("default", "cm"), co);
  ASSERT_TRUE(created.ok()) << created.status();
  std::vector<EntryView> entries = Entries((*created)->metadata());
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].manager, "kubectl-create");
  EXPECT_EQ(entries[0].operation, "Update");
  EXPECT_EQ(entries[0].fields, Json::parse(R"({"f:data":{".":{},"f:k":{}}})"));
  EXPECT_EQ((*created)->metadata().managed_fields(0).api_version(), "v1");
  EXPECT_EQ((*created)->metadata().managed_fields(0).time().seconds(),
            absl::ToUnixSeconds(clock_.Now()));

  // Another manager changes k and adds a label: it takes k.
  api::ConfigMap cm = **created;
  (*cm.mutable_data())["k"] = "v2";
  (*cm.mutable_metadata()->mutable_labels())["l"] = "1";
  UpdateOptions uo;
  uo.field_manager = "kubectl-edit";
  auto updated = Update(cm, uo);
  ASSERT_TRUE(updated.ok()) << updated.status();
  entries = Entries((*updated)->metadata());
  ASSERT_EQ(entries.size(), 2u);
  // The creator kept only the map itself; the editor owns k and the label.
  const EntryView* create = Find(entries, "kubectl-create", "Update");
  const EntryView* edit = Find(entries, "kubectl-edit", "Update");
  ASSERT_NE(create, nullptr);
  ASSERT_NE(edit, nullptr);
  EXPECT_EQ(create->fields, Json::parse(R"({"f:data":{}})"));
  EXPECT_EQ(edit->fields, Json::parse(R"({"f:data":{"f:k":{}},
      "f:metadata":{"f:labels":{".":{},"f:l":{}}}})"));

  // A client that sends no managedFields keeps them; [{}] clears them.
  cm = **updated;
  cm.mutable_metadata()->clear_managed_fields();
  (*cm.mutable_data())["k"] = "v3";
  updated = Update(cm, uo);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(Entries((*updated)->metadata()).size(), 2u);
  cm = **updated;
  cm.mutable_metadata()->clear_managed_fields();
  cm.mutable_metadata()->add_managed_fields();
  updated = Update(cm, uo);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_THAT((*updated)->metadata().managed_fields(), IsEmpty());
}

TEST_F(ManagedFieldsServerTest, ApplyOwnsTheAppliedFieldsOnly) {
  auto applied = Apply<api::Deployment>("default", "web", "kubectl", kDeployV1);
  ASSERT_TRUE(applied.ok()) << applied.status();
  std::vector<EntryView> entries = Entries((*applied)->metadata());
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].operation, "Apply");
  EXPECT_EQ(entries[0].fields, Json::parse(R"({
    "f:metadata":{"f:labels":{"f:app":{}}},
    "f:spec":{"f:replicas":{},"f:selector":{"f:matchLabels":{"f:app":{}}},
      "f:template":{"f:metadata":{"f:labels":{"f:app":{}}},
        "f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{}}}}}}})"));
  EXPECT_TRUE((*applied)->metadata().managed_fields(0).api_version() == "apps/v1");
}

TEST_F(ManagedFieldsServerTest, ApplyConflictsWithAnotherManagerUnlessForced) {
  ASSERT_TRUE(Apply<api::Deployment>("default", "web", "kubectl", kDeployV1).ok());
  // Another manager changes replicas with an update.
  PatchOptions po;
  po.field_manager = "kubectl-client-side-apply";
  auto scaled =
      Patch<api::Deployment>("default", "web", PatchType::kMerge, R"({"spec":{"replicas":5}})", po);
  ASSERT_TRUE(scaled.ok()) << scaled.status();
  std::vector<EntryView> entries = Entries((*scaled)->metadata());
  const EntryView* other = Find(entries, "kubectl-client-side-apply", "Update");
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->fields, Json::parse(R"({"f:spec":{"f:replicas":{}}})"));
  EXPECT_FALSE(Find(entries, "kubectl", "Apply")->fields["f:spec"].contains("f:replicas"));

  // Applying replicas 2 again conflicts.
  auto conflict = Apply<api::Deployment>("default", "web", "kubectl", kDeployV1);
  ASSERT_EQ(conflict.status().code(), absl::StatusCode::kAborted) << conflict.status();
  EXPECT_EQ(conflict.status().message(),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using "
            "apps/v1: .spec.replicas");
  api::Status status = ToKubernetesStatus(conflict.status());
  EXPECT_EQ(status.code(), 409);
  EXPECT_EQ(status.reason(), "Conflict");
  ASSERT_EQ(status.details().causes_size(), 1);
  EXPECT_EQ(status.details().causes(0).reason(), "FieldManagerConflict");
  EXPECT_EQ(status.details().causes(0).field(), ".spec.replicas");
  EXPECT_EQ(status.details().causes(0).message(),
            "conflict with \"kubectl-client-side-apply\" using apps/v1");
  auto live = Get<api::Deployment>("default", "web");
  ASSERT_TRUE(live.ok());
  EXPECT_EQ((*live)->spec().replicas(), 5);

  // Forced: the applier takes replicas; the other manager's entry goes.
  auto forced = Apply<api::Deployment>("default", "web", "kubectl", kDeployV1, /*force=*/true);
  ASSERT_TRUE(forced.ok()) << forced.status();
  EXPECT_EQ((*forced)->spec().replicas(), 2);
  entries = Entries((*forced)->metadata());
  EXPECT_EQ(Find(entries, "kubectl-client-side-apply", "Update"), nullptr);
  EXPECT_TRUE(Find(entries, "kubectl", "Apply")->fields["f:spec"].contains("f:replicas"));
}

TEST_F(ManagedFieldsServerTest, ConflictsWithSeveralManagersListThemAll) {
  ASSERT_TRUE(Apply<api::ConfigMap>("default", "cm", "a",
                                    R"({"apiVersion":"v1","kind":"ConfigMap",
                                        "metadata":{"name":"cm"},"data":{"x":"1","y":"1"}})")
                  .ok());
  auto conflict = Apply<api::ConfigMap>("default", "cm", "b",
                                        R"({"apiVersion":"v1","kind":"ConfigMap",
                                            "metadata":{"name":"cm"},"data":{"x":"2","y":"2"}})");
  ASSERT_EQ(conflict.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(conflict.status().message(),
            "Apply failed with 2 conflicts: conflicts with \"a\":\n- .data.x\n- .data.y");
}

TEST_F(ManagedFieldsServerTest, ApplyingTheSameValueSharesOwnership) {
  constexpr char kConfig[] = R"({"apiVersion":"v1","kind":"ConfigMap",
      "metadata":{"name":"cm"},"data":{"shared":"same"}})";
  ASSERT_TRUE(Apply<api::ConfigMap>("default", "cm", "a", kConfig).ok());
  auto second = Apply<api::ConfigMap>("default", "cm", "b", kConfig);
  ASSERT_TRUE(second.ok()) << second.status();
  std::vector<EntryView> entries = Entries((*second)->metadata());
  ASSERT_EQ(entries.size(), 2u);
  Json owned = Json::parse(R"({"f:data":{"f:shared":{}}})");
  EXPECT_EQ(Find(entries, "a", "Apply")->fields, owned);
  EXPECT_EQ(Find(entries, "b", "Apply")->fields, owned);
  // A shared field another owner still applies stays when one stops.
  auto dropped = Apply<api::ConfigMap>("default", "cm", "a",
                                       R"({"apiVersion":"v1","kind":"ConfigMap",
                                           "metadata":{"name":"cm"},"data":{"mine":"1"}})");
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ((*dropped)->data().at("shared"), "same");
  // Changing the shared value now conflicts with the other owner.
  auto conflict = Apply<api::ConfigMap>("default", "cm", "a",
                                        R"({"apiVersion":"v1","kind":"ConfigMap",
                                            "metadata":{"name":"cm"},"data":{"shared":"new"}})");
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAborted);
}

TEST_F(ManagedFieldsServerTest, FieldsNoLongerAppliedAreRemovedUnlessOwnedByOthers) {
  ASSERT_TRUE(Apply<api::Deployment>("default", "web", "kubectl", kDeployV1).ok());
  // Another manager adds a label of its own.
  PatchOptions po;
  po.field_manager = "labeler";
  ASSERT_TRUE(Patch<api::Deployment>("default", "web", PatchType::kMerge,
                                     R"({"metadata":{"labels":{"team":"a"}}})", po)
                  .ok());
  // The applier drops its label and replicas, and a second container appears
  // then goes.
  Json config = Json::parse(kDeployV1);
  config["spec"]["template"]["spec"]["containers"].push_back(
      {{"name", "side"}, {"image", "busybox"}});
  auto two = Apply<api::Deployment>("default", "web", "kubectl", config.dump());
  ASSERT_TRUE(two.ok()) << two.status();
  ASSERT_EQ((*two)->spec().template_().spec().containers_size(), 2);

  config = Json::parse(kDeployV1);
  config["metadata"].erase("labels");
  config["spec"].erase("replicas");
  auto pruned = Apply<api::Deployment>("default", "web", "kubectl", config.dump());
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  const api::Deployment& d = **pruned;
  ASSERT_EQ(d.metadata().labels_size(), 1);
  EXPECT_EQ(d.metadata().labels().at("team"), "a");
  // replicas went and was defaulted back to 1, as in Kubernetes.
  EXPECT_EQ(d.spec().replicas(), 1);
  ASSERT_EQ(d.spec().template_().spec().containers_size(), 1);
  EXPECT_EQ(d.spec().template_().spec().containers(0).name(), "nginx");
  std::vector<EntryView> entries = Entries(d.metadata());
  EXPECT_FALSE(Find(entries, "kubectl", "Apply")->fields["f:spec"].contains("f:replicas"));
  EXPECT_NE(Find(entries, "labeler", "Update"), nullptr);
}

TEST_F(ManagedFieldsServerTest, SubresourceWritesHaveTheirOwnEntries) {
  ASSERT_TRUE(Apply<api::Deployment>("default", "web", "kubectl", kDeployV1).ok());
  // Scale: the parent records .spec.replicas for the scale subresource.
  PatchOptions scale;
  scale.field_manager = "kubectl-scale";
  scale.subresource = "scale";
  ASSERT_TRUE(Patch<api::Deployment>("default", "web", PatchType::kMerge,
                                     R"({"spec":{"replicas":4}})", scale)
                  .ok());
  // Status through an update of /status.
  auto live = Get<api::Deployment>("default", "web");
  ASSERT_TRUE(live.ok());
  api::Deployment d = **live;
  d.mutable_status()->set_replicas(4);
  UpdateOptions status;
  status.field_manager = "controller";
  status.subresource = "status";
  auto updated = Update(d, status);
  ASSERT_TRUE(updated.ok()) << updated.status();
  std::vector<EntryView> entries = Entries((*updated)->metadata());
  const EntryView* s = Find(entries, "kubectl-scale", "Update", "scale");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->fields, Json::parse(R"({"f:spec":{"f:replicas":{}}})"));
  const EntryView* st = Find(entries, "controller", "Update", "status");
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(st->fields, Json::parse(R"({"f:status":{"f:replicas":{}}})"));
  // The applier lost replicas to the scale.
  EXPECT_FALSE(Find(entries, "kubectl", "Apply")->fields["f:spec"].contains("f:replicas"));
  // A conflict names the subresource.
  auto conflict = Apply<api::Deployment>("default", "web", "kubectl", kDeployV1);
  EXPECT_EQ(conflict.status().message(),
            "Apply failed with 1 conflict: conflict with \"kubectl-scale\" with subresource "
            "\"scale\" using apps/v1: .spec.replicas");
}

TEST_F(ManagedFieldsServerTest, ApplyRejectsManagedFieldsAndNeedsAManager) {
  auto bad = Apply<api::ConfigMap>("default", "cm", "a",
                                   R"({"apiVersion":"v1","kind":"ConfigMap",
                                       "metadata":{"name":"cm","managedFields":[]}})");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  auto anonymous = Apply<api::ConfigMap>("default", "cm", "",
                                         R"({"apiVersion":"v1","kind":"ConfigMap",
                                             "metadata":{"name":"cm"}})");
  EXPECT_EQ(anonymous.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ManagedFieldsServerTest, NoOpWritesDoNotChangeTheObject) {
  constexpr char kConfig[] = R"({"apiVersion":"v1","kind":"ConfigMap",
      "metadata":{"name":"cm"},"data":{"k":"v"}})";
  auto first = Apply<api::ConfigMap>("default", "cm", "a", kConfig);
  ASSERT_TRUE(first.ok()) << first.status();
  clock_.Advance(absl::Minutes(1));
  auto again = Apply<api::ConfigMap>("default", "cm", "a", kConfig);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Meta(*again).resource_version(), Meta(*first).resource_version());
  UpdateOptions uo;
  uo.field_manager = "b";
  auto same = Update(**again, uo);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(Meta(*same).resource_version(), Meta(*first).resource_version());
}

}  // namespace
}  // namespace korch::apiserver
