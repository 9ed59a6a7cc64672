// The registry's create, get, list, update, subresource and patch verbs.

#include "korch/apiserver/server.h"

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/autoscaling.pb.h"
#include "korch/api/batch.pb.h"
#include "korch/api/field_errors.h"
#include "korch/api/rbac.pb.h"
#include "tests/apiserver/server_test_util.h"

namespace korch::apiserver::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::StartsWith;

int64_t Rv(const ObjectPtr& object) {
  int64_t rv = 0;
  EXPECT_TRUE(absl::SimpleAtoi(Meta(object).resource_version(), &rv));
  return rv;
}
template <typename T>
int64_t Rv(const std::shared_ptr<const T>& object) {
  return Rv(ObjectPtr(object));
}

// ---------------------------------------------------------------------------
// Create

TEST_F(ServerTest, CreateFillsSystemFields) {
  auto pod = Create(MakePod("default", "web"));
  ASSERT_TRUE(pod.ok()) << pod.status();
  const api::ObjectMeta& meta = (*pod)->metadata();
  EXPECT_EQ(meta.name(), "web");
  EXPECT_EQ(meta.namespace_(), "default");
  ASSERT_EQ(meta.uid().size(), 36u);
  EXPECT_EQ(meta.uid()[14], '4');  // UUID version 4
  EXPECT_EQ(meta.creation_timestamp().seconds(), absl::ToUnixSeconds(clock_.Now()));
  EXPECT_EQ(meta.generation(), 1);
  EXPECT_GT(Rv(*pod), 0);
  EXPECT_FALSE(meta.has_deletion_timestamp());
  // Defaults and the pod's initial status.
  EXPECT_EQ((*pod)->spec().restart_policy(), "Always");
  EXPECT_EQ((*pod)->status().phase(), "Pending");
  EXPECT_EQ((*pod)->status().qos_class(), "BestEffort");

  auto got = Get<api::Pod>("default", "web");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)->metadata().uid(), meta.uid());
  EXPECT_EQ(Rv(*got), Rv(*pod));
}

TEST_F(ServerTest, CreateReplacesWhatClientsMayNotSet) {
  api::Pod pod = MakePod("default", "web");
  pod.mutable_metadata()->set_uid("client-uid");
  pod.mutable_metadata()->set_resource_version("12345");
  pod.mutable_metadata()->set_generation(7);
  pod.mutable_metadata()->mutable_deletion_timestamp()->set_seconds(1);
  pod.mutable_status()->set_phase("Running");
  auto created = Create(pod);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_NE((*created)->metadata().uid(), "client-uid");
  EXPECT_NE((*created)->metadata().resource_version(), "12345");
  EXPECT_EQ((*created)->metadata().generation(), 1);
  EXPECT_FALSE((*created)->metadata().has_deletion_timestamp());
  EXPECT_EQ((*created)->status().phase(), "Pending");
}

TEST_F(ServerTest, QosClassIsComputed) {
  api::Pod pod = MakePod("default", "g");
  auto* resources = pod.mutable_spec()->mutable_containers(0)->mutable_resources();
  (*resources->mutable_limits())["cpu"] = "500m";
  (*resources->mutable_limits())["memory"] = "128Mi";
  auto created = Create(pod);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)->status().qos_class(), "Guaranteed");

  api::Pod burst = MakePod("default", "b");
  (*burst.mutable_spec()->mutable_containers(0)->mutable_resources()->mutable_requests())["cpu"] =
      "100m";
  auto b = Create(burst);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->status().qos_class(), "Burstable");
}

TEST_F(ServerTest, GenerateNameAppendsFiveCharacters) {
  api::Pod pod = MakePod("default", "");
  pod.mutable_metadata()->set_generate_name("web-");
  std::set<std::string> names;
  for (int i = 0; i < 5; ++i) {
    auto created = Create(pod);
    ASSERT_TRUE(created.ok()) << created.status();
    const std::string& name = (*created)->metadata().name();
    EXPECT_THAT(name, StartsWith("web-"));
    ASSERT_EQ(name.size(), 9u);
    for (char c : name.substr(4)) {
      EXPECT_NE(std::string("bcdfghjklmnpqrstvwxz2456789").find(c), std::string::npos) << name;
    }
    names.insert(name);
  }
  EXPECT_THAT(names, SizeIs(5));
}

TEST_F(ServerTest, GenerateNameTruncatesLongBases) {
  api::ConfigMap cm = MakeConfigMap("default", "");
  cm.mutable_metadata()->set_generate_name(std::string(70, 'a'));
  auto created = Create(cm);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)->metadata().name().size(), 63u);
}

TEST_F(ServerTest, CreateExistingIsAlreadyExists) {
  ASSERT_TRUE(Create(MakePod("default", "web")).ok());
  auto again = Create(MakePod("default", "web"));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(again.status().message(), "pods \"web\" already exists");
  api::Status status = ToKubernetesStatus(again.status());
  EXPECT_EQ(status.code(), 409);
  EXPECT_EQ(status.reason(), "AlreadyExists");
  EXPECT_EQ(status.details().name(), "web");
  EXPECT_EQ(status.details().kind(), "pods");
}

TEST_F(ServerTest, CreateInAnotherNamespaceThanTheRequestIsBadRequest) {
  auto r =
      server_->Create(user_, KindOf<api::Pod>(), "other", "", Own(MakePod("default", "web")), {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("does not match the namespace"));
  EXPECT_EQ(ToKubernetesStatus(r.status()).code(), 400);
}

TEST_F(ServerTest, CreateTakesTheRequestNamespaceWhenTheObjectHasNone) {
  auto r =
      server_->Create(user_, KindOf<api::Pod>(), "kube-system", "", Own(MakePod("", "web")), {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Meta(*r).namespace_(), "kube-system");
}

TEST_F(ServerTest, CreateInvalidObjectNamesTheField) {
  api::Pod pod = MakePod("default", "web");
  pod.mutable_spec()->mutable_containers(0)->clear_image();
  auto r = Create(pod);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("Pod \"web\" is invalid"));
  EXPECT_THAT(r.status().message(), HasSubstr("spec.containers[0].image: Required value"));
  api::Status status = ToKubernetesStatus(r.status());
  EXPECT_EQ(status.code(), 422);
  EXPECT_EQ(status.reason(), "Invalid");
  ASSERT_FALSE(status.details().causes().empty());
  EXPECT_EQ(status.details().causes(0).field(), "spec.containers[0].image");
  EXPECT_EQ(status.details().causes(0).reason(), "FieldValueRequired");
  EXPECT_EQ(status.details().kind(), "Pod");
  EXPECT_EQ(status.details().name(), "web");
  EXPECT_FALSE(Get<api::Pod>("default", "web").ok());
}

TEST_F(ServerTest, NameIsRequired) {
  auto r = Create(MakePod("default", ""));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("metadata.name"));
}

TEST_F(ServerTest, DryRunCreateWritesNothing) {
  int64_t before = *storage_->CurrentRevision();
  CreateOptions options;
  options.dry_run = true;
  auto r = Create(MakePod("default", "web"), options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->metadata().name(), "web");
  EXPECT_FALSE((*r)->metadata().uid().empty());
  EXPECT_TRUE((*r)->metadata().resource_version().empty());
  EXPECT_EQ(*storage_->CurrentRevision(), before);
  EXPECT_EQ(Get<api::Pod>("default", "web").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ServerTest, ClusterScopedKindsIgnoreTheNamespace) {
  api::Node node;
  node.mutable_metadata()->set_name("n1");
  auto r = server_->Create(user_, KindOf<api::Node>(), "default", "", Own(node), {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Meta(*r).namespace_(), "");
  auto got = server_->Get(user_, KindOf<api::Node>(), "whatever", "n1", {});
  ASSERT_TRUE(got.ok()) << got.status();
  auto keys = storage_->Range("/registry/nodes/", store::PrefixEnd("/registry/nodes/"));
  ASSERT_TRUE(keys.ok());
  ASSERT_THAT(keys->kvs, SizeIs(1));
  EXPECT_EQ(keys->kvs[0].key, "/registry/nodes/n1");
}

TEST_F(ServerTest, WorkloadStatusIsClearedOnCreate) {
  api::Deployment d = MakeDeployment("default", "web");
  d.mutable_status()->set_replicas(5);
  d.mutable_status()->set_observed_generation(3);
  auto r = Create(d);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->status().replicas(), 0);
  EXPECT_EQ((*r)->status().observed_generation(), 0);
  EXPECT_EQ((*r)->spec().replicas(), 2);
}

TEST_F(ServerTest, NamespacesStartActiveWithTheKubernetesFinalizer) {
  api::Namespace ns;
  ns.mutable_metadata()->set_name("team-a");
  ns.mutable_status()->set_phase("Terminating");
  auto r = Create(ns);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->status().phase(), "Active");
  EXPECT_THAT((*r)->spec().finalizers(), ElementsAre("kubernetes"));
  EXPECT_EQ((*r)->metadata().labels().at("kubernetes.io/metadata.name"), "team-a");
}

TEST_F(ServerTest, JobsGetAGeneratedSelector) {
  api::Job job = Decode<api::Job>(R"({"apiVersion":"batch/v1","kind":"Job",
    "metadata":{"name":"pi","namespace":"default"},
    "spec":{"template":{"spec":{"restartPolicy":"Never",
      "containers":[{"name":"pi","image":"perl:5.34"}]}}}})");
  auto r = Create(job);
  ASSERT_TRUE(r.ok()) << r.status();
  const std::string& uid = (*r)->metadata().uid();
  EXPECT_EQ((*r)->spec().selector().match_labels().at("batch.kubernetes.io/controller-uid"), uid);
  const auto& labels = (*r)->spec().template_().metadata().labels();
  EXPECT_EQ(labels.at("batch.kubernetes.io/job-name"), "pi");
  EXPECT_EQ(labels.at("controller-uid"), uid);
}

TEST_F(ServerTest, SecretStringDataIsFoldedIntoData) {
  api::Secret secret;
  secret.mutable_metadata()->set_name("s");
  secret.mutable_metadata()->set_namespace_("default");
  (*secret.mutable_string_data())["password"] = "hunter2";
  auto r = Create(secret);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->data().at("password"), "hunter2");
  EXPECT_TRUE((*r)->string_data().empty());
}

TEST_F(ServerTest, BootstrapCreatesSystemNamespacesAndPolicy) {
  for (const char* name : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    auto ns = Get<api::Namespace>("", name);
    ASSERT_TRUE(ns.ok()) << name << ": " << ns.status();
    EXPECT_EQ((*ns)->status().phase(), "Active");
  }
  EXPECT_TRUE(Get<api::ClusterRole>("", "cluster-admin").ok());
  EXPECT_TRUE(Get<api::ClusterRoleBinding>("", "cluster-admin").ok());
  // A restart over the same store finds them and leaves them alone.
  std::string before = (*Get<api::Namespace>("", "default"))->metadata().resource_version();
  server_.reset();
  StartServer();
  EXPECT_EQ((*Get<api::Namespace>("", "default"))->metadata().resource_version(), before);
}

TEST_F(ServerTest, UnservedKindsAreNotFound) {
  const api::KindInfo& scale = KindOf<api::Scale>();
  auto r = server_->Get(user_, scale, "default", "x", {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ServerTest, NamespacedKindsNeedANamespace) {
  auto r = server_->Get(user_, KindOf<api::Pod>(), "", "web", {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ToKubernetesStatus(r.status()).code(), 400);
}

// ---------------------------------------------------------------------------
// Get

TEST_F(ServerTest, GetMissingIsNotFound) {
  auto r = Get<api::Pod>("default", "nope");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(), "pods \"nope\" not found");
  auto d = Get<api::Deployment>("default", "nope");
  EXPECT_EQ(d.status().message(), "deployments.apps \"nope\" not found");
  api::Status status = ToKubernetesStatus(d.status());
  EXPECT_EQ(status.details().group(), "apps");
  EXPECT_EQ(status.details().kind(), "deployments");
}

TEST_F(ServerTest, GetStatusAndScaleSubresources) {
  ASSERT_TRUE(Create(MakeDeployment("default", "web", 3)).ok());
  GetOptions status;
  status.subresource = "status";
  auto s = server_->Get(user_, KindOf<api::Deployment>(), "default", "web", status);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(As<api::Deployment>(*s).metadata().name(), "web");

  GetOptions scale;
  scale.subresource = "scale";
  auto sc = server_->Get(user_, KindOf<api::Deployment>(), "default", "web", scale);
  ASSERT_TRUE(sc.ok()) << sc.status();
  const api::Scale& sv = As<api::Scale>(*sc);
  EXPECT_EQ(sv.spec().replicas(), 3);
  EXPECT_EQ(sv.status().replicas(), 0);
  EXPECT_EQ(sv.status().selector(), "app=web");
  EXPECT_EQ(sv.metadata().name(), "web");
  EXPECT_FALSE(sv.metadata().resource_version().empty());

  auto bad = server_->Get(user_, KindOf<api::Pod>(), "default", "web", scale);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kNotFound);
}

// ---------------------------------------------------------------------------
// List

class ListTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    ASSERT_TRUE(Create(MakePod("default", "a", R"({"app":"web","tier":"fe"})")).ok());
    ASSERT_TRUE(Create(MakePod("default", "b", R"({"app":"web","tier":"be"})")).ok());
    ASSERT_TRUE(Create(MakePod("default", "c", R"({"app":"db"})")).ok());
    ASSERT_TRUE(Create(MakePod("kube-system", "d", R"({"app":"web"})")).ok());
  }
};

TEST_F(ListTest, ListsANamespaceOrAll) {
  auto ns = List<api::Pod>("default");
  ASSERT_TRUE(ns.ok()) << ns.status();
  EXPECT_THAT(Names(*ns), ElementsAre("a", "b", "c"));
  EXPECT_EQ(ns->resource_version, absl::StrCat(*storage_->CurrentRevision()));
  EXPECT_TRUE(ns->continue_token.empty());
  auto all = List<api::Pod>("");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(Names(*all), ElementsAre("a", "b", "c", "d"));
}

TEST_F(ListTest, LabelSelector) {
  ListOptions o;
  o.label_selector = "app=web,tier notin (be)";
  auto r = List<api::Pod>("", o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(Names(*r), ElementsAre("a", "d"));
  o.label_selector = "app in (web";
  auto bad = List<api::Pod>("", o);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ToKubernetesStatus(bad.status()).code(), 400);
}

TEST_F(ListTest, FieldSelectors) {
  // Bind b so that spec.nodeName differs.
  api::Binding binding;
  binding.mutable_metadata()->set_name("b");
  binding.mutable_target()->set_kind("Node");
  binding.mutable_target()->set_name("n1");
  CreateOptions bind;
  bind.subresource = "binding";
  ASSERT_TRUE(server_->Create(user_, KindOf<api::Pod>(), "default", "b", Own(binding), bind).ok());

  ListOptions o;
  o.field_selector = "spec.nodeName=n1";
  EXPECT_THAT(Names(*List<api::Pod>("", o)), ElementsAre("b"));
  o.field_selector = "spec.nodeName=";
  EXPECT_THAT(Names(*List<api::Pod>("", o)), ElementsAre("a", "c", "d"));
  o.field_selector = "metadata.name=c";
  EXPECT_THAT(Names(*List<api::Pod>("default", o)), ElementsAre("c"));
  o.field_selector = "metadata.namespace=kube-system";
  EXPECT_THAT(Names(*List<api::Pod>("", o)), ElementsAre("d"));
  o.field_selector = "status.phase=Pending,metadata.name!=a";
  EXPECT_THAT(Names(*List<api::Pod>("default", o)), ElementsAre("b", "c"));
  o.field_selector = "spec.nodeName=n1,status.phase!=Succeeded,status.phase!=Failed";
  EXPECT_THAT(Names(*List<api::Pod>("", o)), ElementsAre("b"));
}

TEST_F(ListTest, UnsupportedFieldIsBadRequest) {
  ListOptions o;
  o.field_selector = "spec.foo=bar";
  auto r = List<api::Pod>("default", o);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "field label not supported: spec.foo");
  api::Status status = ToKubernetesStatus(r.status());
  EXPECT_EQ(status.code(), 400);
  EXPECT_EQ(status.reason(), "BadRequest");
  // A field of another kind is not a field of this one.
  o.field_selector = "spec.nodeName=x";
  EXPECT_EQ(List<api::ConfigMap>("default", o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ListTest, EventFieldSelectors) {
  api::Event ev;
  ev.mutable_metadata()->set_name("e1");
  ev.mutable_metadata()->set_namespace_("default");
  ev.mutable_involved_object()->set_kind("Pod");
  ev.mutable_involved_object()->set_name("a");
  ev.mutable_involved_object()->set_namespace_("default");
  ev.set_reason("Scheduled");
  ASSERT_TRUE(Create(ev).ok());
  ListOptions o;
  o.field_selector = "involvedObject.kind=Pod,involvedObject.name=a";
  auto r = List<api::Event>("default", o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(Names(*r), ElementsAre("e1"));
  o.field_selector = "involvedObject.name=b";
  EXPECT_THAT(List<api::Event>("default", o)->items, IsEmpty());
}

TEST_F(ListTest, LimitAndContinue) {
  ListOptions o;
  o.limit = 3;
  auto first = List<api::Pod>("", o);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(Names(*first), ElementsAre("a", "b", "c"));
  ASSERT_FALSE(first->continue_token.empty());
  EXPECT_EQ(first->remaining_item_count, 1);
  o.continue_token = first->continue_token;
  auto second = List<api::Pod>("", o);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_THAT(Names(*second), ElementsAre("d"));
  EXPECT_TRUE(second->continue_token.empty());
  EXPECT_EQ(second->resource_version, first->resource_version);
}

TEST_F(ListTest, PagesReadAtTheFirstPagesRevision) {
  ListOptions o;
  o.limit = 2;
  auto first = List<api::Pod>("default", o);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(Names(*first), ElementsAre("a", "b"));
  // Concurrent changes after the first page do not show in later pages.
  ASSERT_TRUE(Delete<api::Pod>("default", "c").ok());
  ASSERT_TRUE(Create(MakePod("default", "e")).ok());
  o.continue_token = first->continue_token;
  auto second = List<api::Pod>("default", o);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_THAT(Names(*second), ElementsAre("c"));
  EXPECT_TRUE(second->continue_token.empty());
  // A fresh list sees them.
  EXPECT_THAT(Names(*List<api::Pod>("default")), ElementsAre("a", "b", "e"));
}

TEST_F(ListTest, LimitWithSelector) {
  ListOptions o;
  o.label_selector = "app=web";
  o.limit = 1;
  std::vector<std::string> all;
  for (int page = 0; page < 10; ++page) {
    auto r = List<api::Pod>("", o);
    ASSERT_TRUE(r.ok()) << r.status();
    for (const std::string& n : Names(*r)) all.push_back(n);
    EXPECT_EQ(r->remaining_item_count, -1);
    if (r->continue_token.empty()) break;
    o.continue_token = r->continue_token;
  }
  EXPECT_THAT(all, ElementsAre("a", "b", "d"));
}

TEST_F(ListTest, ContinueTokenExpiresWithCompaction) {
  ListOptions o;
  o.limit = 1;
  auto first = List<api::Pod>("default", o);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(Create(MakePod("default", "z")).ok());
  ASSERT_TRUE(storage_->Compact(*storage_->CurrentRevision()).ok());
  o.continue_token = first->continue_token;
  auto r = List<api::Pod>("default", o);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(r.status().message(), HasSubstr("continue parameter is too old"));
  api::Status status = ToKubernetesStatus(r.status());
  EXPECT_EQ(status.code(), 410);
  EXPECT_EQ(status.reason(), "Expired");

  o.continue_token = "not-a-token";
  EXPECT_EQ(List<api::Pod>("default", o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ListTest, ListAtAResourceVersion) {
  auto before = List<api::Pod>("default");
  ASSERT_TRUE(before.ok());
  ASSERT_TRUE(Delete<api::Pod>("default", "a").ok());
  ListOptions o;
  o.resource_version = before->resource_version;
  auto then = List<api::Pod>("default", o);
  ASSERT_TRUE(then.ok()) << then.status();
  EXPECT_THAT(Names(*then), ElementsAre("a", "b", "c"));
  EXPECT_EQ(then->resource_version, before->resource_version);
}

// ---------------------------------------------------------------------------
// Update

TEST_F(ServerTest, UpdateWithAStaleResourceVersionConflicts) {
  auto created = Create(MakeConfigMap("default", "cm"));
  ASSERT_TRUE(created.ok());
  api::ConfigMap first = **created;
  (*first.mutable_data())["k"] = "v2";
  auto updated = Update(first);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_GT(Rv(*updated), Rv(*created));

  api::ConfigMap stale = **created;
  (*stale.mutable_data())["k"] = "v3";
  auto r = Update(stale);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(r.status().message(),
            "Operation cannot be fulfilled on configmaps \"cm\": the object has been modified; "
            "please apply your changes to the latest version and try again");
  EXPECT_EQ(ToKubernetesStatus(r.status()).reason(), "Conflict");
  EXPECT_EQ((*Get<api::ConfigMap>("default", "cm"))->data().at("k"), "v2");
}

TEST_F(ServerTest, UpdateWithoutResourceVersionIsUnconditional) {
  ASSERT_TRUE(Create(MakeConfigMap("default", "cm")).ok());
  api::ConfigMap cm = MakeConfigMap("default", "cm");
  (*cm.mutable_data())["k"] = "forced";
  auto r = Update(cm);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->data().at("k"), "forced");
}

TEST_F(ServerTest, UpdateOfAMissingObjectIsNotFound) {
  auto r = Update(MakeConfigMap("default", "nope"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(), "configmaps \"nope\" not found");
}

TEST_F(ServerTest, UpdateKeepsSystemFields) {
  auto created = Create(MakeConfigMap("default", "cm"));
  ASSERT_TRUE(created.ok());
  clock_.Advance(absl::Hours(1));
  api::ConfigMap cm = **created;
  cm.mutable_metadata()->mutable_creation_timestamp()->set_seconds(5);
  cm.mutable_metadata()->set_generation(99);
  (*cm.mutable_metadata()->mutable_labels())["x"] = "y";
  auto r = Update(cm);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->metadata().creation_timestamp().seconds(),
            (*created)->metadata().creation_timestamp().seconds());
  EXPECT_EQ((*r)->metadata().uid(), (*created)->metadata().uid());
  EXPECT_EQ((*r)->metadata().generation(), 1);
  EXPECT_EQ((*r)->metadata().labels().at("x"), "y");

  cm.mutable_metadata()->set_resource_version("");
  cm.mutable_metadata()->set_uid("someone-else");
  EXPECT_EQ(Update(cm).status().code(), absl::StatusCode::kAborted);
}

TEST_F(ServerTest, UpdateNameMismatchIsBadRequest) {
  ASSERT_TRUE(Create(MakeConfigMap("default", "cm")).ok());
  auto r = server_->Update(user_, KindOf<api::ConfigMap>(), "default", "cm",
                           Own(MakeConfigMap("default", "other")), {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("does not match the name"));
}

TEST_F(ServerTest, NoOpUpdateWritesNothing) {
  auto created = Create(MakeConfigMap("default", "cm"));
  ASSERT_TRUE(created.ok());
  int64_t before = *storage_->CurrentRevision();
  auto r = Update(**created);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Rv(*r), Rv(*created));
  EXPECT_EQ(*storage_->CurrentRevision(), before);
}

TEST_F(ServerTest, GenerationMovesOnSpecChangesOnly) {
  auto created = Create(MakeDeployment("default", "web"));
  ASSERT_TRUE(created.ok());
  api::Deployment d = **created;
  (*d.mutable_metadata()->mutable_labels())["team"] = "a";
  auto labelled = Update(d);
  ASSERT_TRUE(labelled.ok()) << labelled.status();
  EXPECT_EQ((*labelled)->metadata().generation(), 1);

  d = **labelled;
  d.mutable_spec()->set_replicas(5);
  auto scaled = Update(d);
  ASSERT_TRUE(scaled.ok()) << scaled.status();
  EXPECT_EQ((*scaled)->metadata().generation(), 2);

  d = **scaled;
  d.mutable_status()->set_replicas(5);
  UpdateOptions status;
  status.subresource = "status";
  auto st = Update(d, status);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ((*st)->metadata().generation(), 2);
  EXPECT_EQ((*st)->status().replicas(), 5);
}

TEST_F(ServerTest, MainResourceIgnoresStatusAndStatusIgnoresTheRest) {
  auto created = Create(MakeDeployment("default", "web"));
  ASSERT_TRUE(created.ok());
  api::Deployment d = **created;
  d.mutable_status()->set_replicas(7);
  d.mutable_spec()->set_replicas(4);
  auto main = Update(d);
  ASSERT_TRUE(main.ok()) << main.status();
  EXPECT_EQ((*main)->status().replicas(), 0);
  EXPECT_EQ((*main)->spec().replicas(), 4);

  d = **main;
  d.mutable_status()->set_replicas(7);
  d.mutable_spec()->set_replicas(9);
  (*d.mutable_metadata()->mutable_labels())["ignored"] = "yes";
  UpdateOptions status;
  status.subresource = "status";
  auto st = Update(d, status);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ((*st)->status().replicas(), 7);
  EXPECT_EQ((*st)->spec().replicas(), 4);
  EXPECT_FALSE((*st)->metadata().labels().contains("ignored"));
}

TEST_F(ServerTest, PodStatusUpdates) {
  auto created = Create(MakePod("default", "web"));
  ASSERT_TRUE(created.ok());
  api::Pod pod = **created;
  pod.mutable_status()->set_phase("Running");
  pod.mutable_status()->set_pod_ip("10.0.0.5");
  UpdateOptions status;
  status.subresource = "status";
  auto r = Update(pod, status);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->status().phase(), "Running");
  ListOptions o;
  o.field_selector = "status.podIP=10.0.0.5";
  EXPECT_THAT(Names(*List<api::Pod>("default", o)), ElementsAre("web"));
}

TEST_F(ServerTest, WorkloadSelectorsAreImmutable) {
  auto created = Create(MakeDeployment("default", "web"));
  ASSERT_TRUE(created.ok());
  api::Deployment d = **created;
  (*d.mutable_spec()->mutable_selector()->mutable_match_labels())["app"] = "other";
  (*d.mutable_spec()->mutable_template_()->mutable_metadata()->mutable_labels())["app"] = "other";
  auto r = Update(d);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("spec.selector"));
  EXPECT_THAT(r.status().message(), HasSubstr("field is immutable"));
}

TEST_F(ServerTest, PodSpecIsMostlyImmutable) {
  auto created = Create(MakePod("default", "web"));
  ASSERT_TRUE(created.ok());
  api::Pod pod = **created;
  pod.mutable_spec()->mutable_containers(0)->set_image("nginx:1.26");
  auto image = Update(pod);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ((*image)->spec().containers(0).image(), "nginx:1.26");

  pod = **image;
  pod.mutable_spec()->set_restart_policy("Never");
  auto r = Update(pod);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("pod updates may not change fields"));

  pod = **image;
  auto* t = pod.mutable_spec()->add_tolerations();
  t->set_key("k");
  t->set_operator_("Exists");
  EXPECT_TRUE(Update(pod).ok());
}

TEST_F(ServerTest, ConcurrentIncrementsLoseNothing) {
  ASSERT_TRUE(Create(MakeConfigMap("default", "counter")).ok());
  constexpr int kThreads = 8;
  constexpr int kIncrements = 50;
  std::atomic<int> conflicts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        for (int attempt = 0; attempt < 1000; ++attempt) {
          auto current = Get<api::ConfigMap>("default", "counter");
          ASSERT_TRUE(current.ok()) << current.status();
          api::ConfigMap next = **current;
          int value = 0;
          auto it = next.metadata().annotations().find("count");
          if (it != next.metadata().annotations().end()) {
            ASSERT_TRUE(absl::SimpleAtoi(it->second, &value));
          }
          (*next.mutable_metadata()->mutable_annotations())["count"] = absl::StrCat(value + 1);
          auto r = Update(next);
          if (r.ok()) break;
          ASSERT_EQ(r.status().code(), absl::StatusCode::kAborted) << r.status();
          ++conflicts;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  auto final_state = Get<api::ConfigMap>("default", "counter");
  ASSERT_TRUE(final_state.ok());
  EXPECT_EQ((*final_state)->metadata().annotations().at("count"),
            absl::StrCat(kThreads * kIncrements));
}

// ---------------------------------------------------------------------------
// Scale and binding

TEST_F(ServerTest, ScaleUpdateSetsReplicas) {
  ASSERT_TRUE(Create(MakeDeployment("default", "web", 2)).ok());
  GetOptions get_scale;
  get_scale.subresource = "scale";
  auto sc = server_->Get(user_, KindOf<api::Deployment>(), "default", "web", get_scale);
  ASSERT_TRUE(sc.ok());
  api::Scale scale = As<api::Scale>(*sc);
  scale.mutable_spec()->set_replicas(6);
  UpdateOptions options;
  options.subresource = "scale";
  auto r = server_->Update(user_, KindOf<api::Deployment>(), "default", "web", Own(scale), options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(As<api::Scale>(*r).spec().replicas(), 6);
  auto d = Get<api::Deployment>("default", "web");
  EXPECT_EQ((*d)->spec().replicas(), 6);
  EXPECT_EQ((*d)->metadata().generation(), 2);

  // The Scale's resourceVersion is a precondition.
  scale.mutable_spec()->set_replicas(1);
  auto stale =
      server_->Update(user_, KindOf<api::Deployment>(), "default", "web", Own(scale), options);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  scale.mutable_metadata()->clear_resource_version();
  scale.mutable_spec()->set_replicas(-1);
  auto negative =
      server_->Update(user_, KindOf<api::Deployment>(), "default", "web", Own(scale), options);
  EXPECT_EQ(negative.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ServerTest, BindingAssignsANodeOnce) {
  ASSERT_TRUE(Create(MakePod("default", "web")).ok());
  api::Binding binding;
  binding.mutable_metadata()->set_name("web");
  binding.mutable_target()->set_kind("Node");
  binding.mutable_target()->set_name("node-1");
  CreateOptions options;
  options.subresource = "binding";
  auto r = server_->Create(user_, KindOf<api::Pod>(), "default", "web", Own(binding), options);
  ASSERT_TRUE(r.ok()) << r.status();
  auto pod = Get<api::Pod>("default", "web");
  ASSERT_TRUE(pod.ok());
  EXPECT_EQ((*pod)->spec().node_name(), "node-1");
  bool scheduled = false;
  for (const api::PodCondition& c : (*pod)->status().conditions()) {
    if (c.type() == "PodScheduled") scheduled = c.status() == "True";
  }
  EXPECT_TRUE(scheduled);

  binding.mutable_target()->set_name("node-2");
  auto again = server_->Create(user_, KindOf<api::Pod>(), "default", "web", Own(binding), options);
  ASSERT_EQ(again.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(again.status().message(),
            "Operation cannot be fulfilled on pods/binding \"web\": pod web is already assigned "
            "to node \"node-1\"");

  binding.mutable_metadata()->set_name("missing");
  auto missing =
      server_->Create(user_, KindOf<api::Pod>(), "default", "missing", Own(binding), options);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ServerTest, ConcurrentBindingsBindOnce) {
  ASSERT_TRUE(Create(MakePod("default", "web")).ok());
  std::atomic<int> bound{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      api::Binding binding;
      binding.mutable_metadata()->set_name("web");
      binding.mutable_target()->set_name(absl::StrCat("node-", t));
      CreateOptions options;
      options.subresource = "binding";
      if (server_->Create(user_, KindOf<api::Pod>(), "default", "web", Own(binding), options)
              .ok()) {
        ++bound;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(bound.load(), 1);
}

// ---------------------------------------------------------------------------
// Patch

TEST_F(ServerTest, MergePatch) {
  ASSERT_TRUE(Create(MakeDeployment("default", "web", 2)).ok());
  auto r = Patch<api::Deployment>("default", "web", PatchType::kMerge,
                                  R"({"spec":{"replicas":4},"metadata":{"labels":{"a":"b"}}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->spec().replicas(), 4);
  EXPECT_EQ((*r)->metadata().labels().at("a"), "b");
  EXPECT_EQ((*r)->metadata().generation(), 2);
  auto removed = Patch<api::Deployment>("default", "web", PatchType::kMerge,
                                        R"({"metadata":{"labels":{"a":null}}})");
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_FALSE((*removed)->metadata().labels().contains("a"));
}

TEST_F(ServerTest, JsonPatch) {
  ASSERT_TRUE(Create(MakeDeployment("default", "web", 2)).ok());
  auto r = Patch<api::Deployment>("default", "web", PatchType::kJson,
                                  R"([{"op":"replace","path":"/spec/replicas","value":3},
          {"op":"add","path":"/metadata/annotations","value":{"x":"1"}}])");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->spec().replicas(), 3);
  EXPECT_EQ((*r)->metadata().annotations().at("x"), "1");
  auto failed = Patch<api::Deployment>("default", "web", PatchType::kJson,
                                       R"([{"op":"test","path":"/spec/replicas","value":9}])");
  EXPECT_FALSE(failed.ok());
  auto bad = Patch<api::Deployment>("default", "web", PatchType::kJson, R"({"op":"x"})");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ServerTest, StrategicMergePatchMergesContainersByName) {
  api::Pod pod = MakePod("default", "web");
  auto* sidecar = pod.mutable_spec()->add_containers();
  sidecar->set_name("sidecar");
  sidecar->set_image("busybox:1");
  ASSERT_TRUE(Create(pod).ok());
  auto r = Patch<api::Pod>("default", "web", PatchType::kStrategicMerge,
                           R"({"spec":{"containers":[{"name":"sidecar","image":"busybox:2"}]}})");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ((*r)->spec().containers_size(), 2);
  EXPECT_EQ((*r)->spec().containers(0).image(), "nginx:1.25");
  EXPECT_EQ((*r)->spec().containers(1).image(), "busybox:2");
}

TEST_F(ServerTest, PatchWithAResourceVersionIsAPrecondition) {
  auto created = Create(MakeConfigMap("default", "cm"));
  ASSERT_TRUE(created.ok());
  ASSERT_TRUE(
      Patch<api::ConfigMap>("default", "cm", PatchType::kMerge, R"({"data":{"k":"2"}})").ok());
  auto r = Patch<api::ConfigMap>(
      "default", "cm", PatchType::kMerge,
      absl::StrCat(R"({"metadata":{"resourceVersion":")", (*created)->metadata().resource_version(),
                   R"("},"data":{"k":"3"}})"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted);
}

TEST_F(ServerTest, PatchStatusSubresourceChangesOnlyStatus) {
  ASSERT_TRUE(Create(MakeDeployment("default", "web", 2)).ok());
  PatchOptions o;
  o.subresource = "status";
  auto r = Patch<api::Deployment>("default", "web", PatchType::kMerge,
                                  R"({"spec":{"replicas":9},"status":{"replicas":2}})", o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->status().replicas(), 2);
  EXPECT_EQ((*r)->spec().replicas(), 2);
  // And the main resource ignores status.
  auto main =
      Patch<api::Deployment>("default", "web", PatchType::kMerge, R"({"status":{"replicas":7}})");
  ASSERT_TRUE(main.ok()) << main.status();
  EXPECT_EQ((*main)->status().replicas(), 2);
}

TEST_F(ServerTest, PatchScaleSubresource) {
  ASSERT_TRUE(Create(MakeDeployment("default", "web", 2)).ok());
  PatchOptions o;
  o.subresource = "scale";
  auto r = server_->Patch(user_, KindOf<api::Deployment>(), "default", "web", PatchType::kMerge,
                          R"({"spec":{"replicas":5}})", o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(As<api::Scale>(*r).spec().replicas(), 5);
  EXPECT_EQ((*Get<api::Deployment>("default", "web"))->spec().replicas(), 5);
}

TEST_F(ServerTest, PatchErrorsNameTheProblem) {
  ASSERT_TRUE(Create(MakeConfigMap("default", "cm")).ok());
  auto unparsable = Patch<api::ConfigMap>("default", "cm", PatchType::kMerge, "{nope");
  EXPECT_EQ(unparsable.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ToKubernetesStatus(unparsable.status()).code(), 400);
  auto unknown = Patch<api::ConfigMap>("default", "cm", PatchType::kMerge, R"({"bogus":1})");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), HasSubstr("bogus"));
  auto missing = Patch<api::ConfigMap>("default", "nope", PatchType::kMerge, R"({})");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  auto invalid = Patch<api::ConfigMap>("default", "cm", PatchType::kMerge,
                                       R"({"metadata":{"labels":{"a":"-bad-"}}})");
  EXPECT_EQ(invalid.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(invalid.status().message(), HasSubstr("metadata.labels"));
}

TEST_F(ServerTest, ServerSideApplyCreatesAndUpdates) {
  PatchOptions o;
  o.field_manager = "kubectl";
  const std::string manifest = R"({"apiVersion":"v1","kind":"ConfigMap",
      "metadata":{"name":"cm","namespace":"default"},"data":{"a":"1"}})";
  auto created = Patch<api::ConfigMap>("default", "cm", PatchType::kApply, manifest, o);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)->data().at("a"), "1");
  EXPECT_FALSE((*created)->metadata().uid().empty());

  auto updated = Patch<api::ConfigMap>("default", "cm", PatchType::kApply,
                                       R"({"apiVersion":"v1","kind":"ConfigMap",
      "metadata":{"name":"cm","namespace":"default"},"data":{"b":"2"}})",
                                       o);
  ASSERT_TRUE(updated.ok()) << updated.status();
  // The manager no longer applies "a" and nobody else owns it: it goes.
  EXPECT_FALSE((*updated)->data().contains("a"));
  EXPECT_EQ((*updated)->data().at("b"), "2");
  EXPECT_EQ((*updated)->metadata().uid(), (*created)->metadata().uid());

  PatchOptions no_manager;
  auto r = Patch<api::ConfigMap>("default", "cm", PatchType::kApply, manifest, no_manager);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("PatchOptions.meta.k8s.io"));
  EXPECT_THAT(r.status().message(), HasSubstr("fieldManager: Required value"));
}

TEST_F(ServerTest, ApplyAcceptsYaml) {
  PatchOptions o;
  o.field_manager = "kubectl";
  auto r = Patch<api::ConfigMap>("default", "cm", PatchType::kApply,
                                 "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n"
                                 "  namespace: default\ndata:\n  a: x\n",
                                 o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->data().at("a"), "x");
}

TEST_F(ServerTest, ConcurrentPatchesRetryOnConflicts) {
  ASSERT_TRUE(Create(MakeConfigMap("default", "cm")).ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        auto r = Patch<api::ConfigMap>("default", "cm", PatchType::kMerge,
                                       absl::StrCat(R"({"data":{"t)", t, "-", i, R"(":"x"}})"));
        EXPECT_TRUE(r.ok()) << r.status();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ((*Get<api::ConfigMap>("default", "cm"))->data_size(), 1 + 4 * 20);
}

}  // namespace
}  // namespace korch::apiserver::testing
