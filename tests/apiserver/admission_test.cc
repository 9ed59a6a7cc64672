// The admission chain's bookkeeping and the plugins NamespaceLifecycle,
// DefaultTolerationSeconds and Priority.

#include "korch/apiserver/admission.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "korch/api/core.pb.h"
#include "korch/api/scheduling.pb.h"
#include "tests/apiserver/admission_test_util.h"

namespace korch::apiserver {
namespace {

using ::korch::apiserver::testing::FakeAttributes;
using ::korch::apiserver::testing::FakeCluster;
using ::korch::apiserver::testing::KindOf;
using ::korch::apiserver::testing::Yaml;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

api::Pod MakePod(absl::string_view ns = "ns", absl::string_view name = "p") {
  api::Pod pod;
  pod.mutable_metadata()->set_namespace_(std::string(ns));
  pod.mutable_metadata()->set_name(std::string(name));
  api::Container* c = pod.mutable_spec()->add_containers();
  c->set_name("app");
  c->set_image("nginx");
  return pod;
}

api::Namespace MakeNamespace(absl::string_view name, absl::string_view phase = "Active") {
  api::Namespace ns;
  ns.mutable_metadata()->set_name(std::string(name));
  ns.mutable_status()->set_phase(std::string(phase));
  return ns;
}

// --- The chain ---------------------------------------------------------------

TEST(AdmissionChainTest, OperationNames) {
  EXPECT_EQ(AdmissionOperationName(AdmissionOperation::kCreate), "CREATE");
  EXPECT_EQ(AdmissionOperationName(AdmissionOperation::kUpdate), "UPDATE");
  EXPECT_EQ(AdmissionOperationName(AdmissionOperation::kDelete), "DELETE");
}

TEST(AdmissionChainTest, DefaultChainHasKubernetesOrder) {
  AdmissionChain chain = DefaultAdmissionChain();
  EXPECT_TRUE(chain.Check().ok());
  std::vector<std::string> mutating;
  for (const auto& p : chain.mutating) mutating.emplace_back(p->Name());
  std::vector<std::string> validating;
  for (const auto& p : chain.validating) validating.emplace_back(p->Name());
  EXPECT_THAT(mutating, ElementsAre("DefaultTolerationSeconds", "LimitRanger", "Priority"));
  EXPECT_THAT(validating,
              ElementsAre("NamespaceLifecycle", "LimitRanger", "NodeRestriction", "ResourceQuota"));
}

TEST(AdmissionChainTest, RefusesDuplicatesAndNulls) {
  AdmissionChain chain;
  chain.validating = {NewNamespaceLifecycle(), NewResourceQuota(), NewNamespaceLifecycle()};
  absl::Status s = chain.Check();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("\"NamespaceLifecycle\" appears twice in the validating"));

  AdmissionChain with_null;
  with_null.mutating = {NewPriority(), nullptr};
  s = with_null.Check();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("admission plugin 1 of the mutating chain is null"));

  // One plugin object in both chains is how LimitRanger is meant to be used.
  AdmissionChain both;
  auto lr = NewLimitRanger();
  both.mutating = {lr};
  both.validating = {lr};
  EXPECT_TRUE(both.Check().ok());
}

// --- NamespaceLifecycle -------------------------------------------------------

class NamespaceLifecycleTest : public ::testing::Test {
 protected:
  NamespaceLifecycleTest() {
    cluster_.Put(MakeNamespace("ns"));
    cluster_.Put(MakeNamespace("going", "Terminating"));
    api::Namespace deleted = MakeNamespace("deleted");
    deleted.mutable_metadata()->mutable_deletion_timestamp()->set_seconds(1700000000);
    cluster_.Put(deleted);
  }
  FakeCluster cluster_;
  std::shared_ptr<ValidatingAdmissionPlugin> plugin_ = NewNamespaceLifecycle();
};

TEST_F(NamespaceLifecycleTest, CreatesInAnActiveNamespace) {
  EXPECT_EQ(plugin_->Name(), "NamespaceLifecycle");
  auto a = FakeAttributes::Create(&cluster_, MakePod("ns"));
  EXPECT_TRUE(plugin_->Validate(a).ok());
}

TEST_F(NamespaceLifecycleTest, MissingNamespaceIsNotFound) {
  auto a = FakeAttributes::Create(&cluster_, MakePod("nope"));
  absl::Status s = plugin_->Validate(a);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "namespaces \"nope\" not found");
  // Updates need the namespace too; deletes do not.
  auto u = FakeAttributes::Update(&cluster_, MakePod("nope"), MakePod("nope"));
  EXPECT_EQ(plugin_->Validate(u).code(), absl::StatusCode::kNotFound);
  auto d = FakeAttributes::Delete(&cluster_, MakePod("nope"));
  EXPECT_TRUE(plugin_->Validate(d).ok());
}

TEST_F(NamespaceLifecycleTest, TerminatingNamespaceRefusesNewContent) {
  for (absl::string_view ns : {"going", "deleted"}) {
    auto a = FakeAttributes::Create(&cluster_, MakePod(ns));
    absl::Status s = plugin_->Validate(a);
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << ns;
    EXPECT_EQ(s.message(), absl::StrCat("pods \"p\" is forbidden: unable to create new content in "
                                        "namespace ",
                                        ns, " because it is being terminated"));
  }
  // Binding a pod is a create too.
  api::Binding binding;
  binding.mutable_metadata()->set_namespace_("going");
  binding.mutable_metadata()->set_name("p");
  auto b = FakeAttributes::Create(&cluster_, binding);
  b.WithKind(KindOf(api::Pod::descriptor())).WithSubresource("binding");
  EXPECT_EQ(plugin_->Validate(b).code(), absl::StatusCode::kPermissionDenied);
  // What is already there may still change and go.
  auto u = FakeAttributes::Update(&cluster_, MakePod("going"), MakePod("going"));
  EXPECT_TRUE(plugin_->Validate(u).ok());
  auto d = FakeAttributes::Delete(&cluster_, MakePod("going"));
  EXPECT_TRUE(plugin_->Validate(d).ok());
}

TEST_F(NamespaceLifecycleTest, SystemNamespacesCannotBeDeleted) {
  for (absl::string_view name : {"default", "kube-system", "kube-public"}) {
    auto a = FakeAttributes::Delete(&cluster_, MakeNamespace(name));
    absl::Status s = plugin_->Validate(a);
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(s.message(), absl::StrCat("namespaces \"", name,
                                        "\" is forbidden: this namespace may not be "
                                        "deleted"));
  }
  auto other = FakeAttributes::Delete(&cluster_, MakeNamespace("ns"));
  EXPECT_TRUE(plugin_->Validate(other).ok());
  auto lease_ns = FakeAttributes::Delete(&cluster_, MakeNamespace("kube-node-lease"));
  EXPECT_TRUE(plugin_->Validate(lease_ns).ok());
}

TEST_F(NamespaceLifecycleTest, NamespacesAndClusterScopedObjectsPass) {
  auto ns = FakeAttributes::Create(&cluster_, MakeNamespace("fresh"));
  EXPECT_TRUE(plugin_->Validate(ns).ok());
  api::Node node;
  node.mutable_metadata()->set_name("n1");
  auto n = FakeAttributes::Create(&cluster_, node);
  EXPECT_TRUE(plugin_->Validate(n).ok());
  EXPECT_EQ(n.reads(), 0);
}

// --- DefaultTolerationSeconds --------------------------------------------------

std::vector<std::string> Tolerations(const google::protobuf::Message* m) {
  std::vector<std::string> out;
  for (const api::Toleration& t : static_cast<const api::Pod*>(m)->spec().tolerations()) {
    out.push_back(absl::StrCat(t.key(), " ", t.operator_(), " ", t.effect(), " ",
                               t.has_toleration_seconds() ? t.toleration_seconds() : -1));
  }
  return out;
}

TEST(DefaultTolerationSecondsTest, AddsBothTolerations) {
  FakeCluster cluster;
  auto plugin = NewDefaultTolerationSeconds();
  EXPECT_EQ(plugin->Name(), "DefaultTolerationSeconds");
  auto a = FakeAttributes::Create(&cluster, MakePod());
  ASSERT_TRUE(plugin->Admit(a).ok());
  EXPECT_THAT(Tolerations(a.object()),
              ElementsAre("node.kubernetes.io/not-ready Exists NoExecute 300",
                          "node.kubernetes.io/unreachable Exists NoExecute 300"));
}

TEST(DefaultTolerationSecondsTest, KeepsWhatThePodAlreadyTolerates) {
  FakeCluster cluster;
  auto plugin = NewDefaultTolerationSeconds(60, 120);
  api::Pod pod = MakePod();
  api::Toleration* t = pod.mutable_spec()->add_tolerations();
  t->set_key("node.kubernetes.io/not-ready");
  t->set_operator_("Exists");
  t->set_effect("NoExecute");
  t->set_toleration_seconds(5);
  // NoSchedule does not cover eviction.
  api::Toleration* ns = pod.mutable_spec()->add_tolerations();
  ns->set_key("node.kubernetes.io/unreachable");
  ns->set_operator_("Exists");
  ns->set_effect("NoSchedule");
  auto a = FakeAttributes::Create(&cluster, pod);
  ASSERT_TRUE(plugin->Admit(a).ok());
  EXPECT_THAT(Tolerations(a.object()),
              ElementsAre("node.kubernetes.io/not-ready Exists NoExecute 5",
                          "node.kubernetes.io/unreachable Exists NoSchedule -1",
                          "node.kubernetes.io/unreachable Exists NoExecute 120"));
}

TEST(DefaultTolerationSecondsTest, TolerateEverythingNeedsNothing) {
  FakeCluster cluster;
  auto plugin = NewDefaultTolerationSeconds();
  api::Pod pod = MakePod();
  pod.mutable_spec()->add_tolerations()->set_operator_("Exists");
  auto a = FakeAttributes::Create(&cluster, pod);
  ASSERT_TRUE(plugin->Admit(a).ok());
  EXPECT_THAT(Tolerations(a.object()), ElementsAre(" Exists  -1"));
}

TEST(DefaultTolerationSecondsTest, OnlyPodCreation) {
  FakeCluster cluster;
  auto plugin = NewDefaultTolerationSeconds();
  auto u = FakeAttributes::Update(&cluster, MakePod(), MakePod());
  ASSERT_TRUE(plugin->Admit(u).ok());
  EXPECT_TRUE(Tolerations(u.object()).empty());
  auto s = FakeAttributes::Create(&cluster, MakePod());
  s.WithSubresource("status");
  ASSERT_TRUE(plugin->Admit(s).ok());
  EXPECT_TRUE(Tolerations(s.object()).empty());
}

// --- Priority ------------------------------------------------------------------

api::PriorityClass MakeClass(absl::string_view name, int32_t value, bool global_default = false,
                             absl::string_view policy = "PreemptLowerPriority") {
  api::PriorityClass pc;
  pc.mutable_metadata()->set_name(std::string(name));
  pc.set_value(value);
  pc.set_global_default(global_default);
  pc.set_preemption_policy(std::string(policy));
  return pc;
}

const api::PodSpec& SpecOf(const FakeAttributes& a) {
  return static_cast<const api::Pod*>(a.object())->spec();
}

TEST(PriorityTest, ResolvesTheNamedClass) {
  FakeCluster cluster;
  cluster.Put(MakeClass("high", 1000, false, "Never"));
  auto plugin = NewPriority();
  EXPECT_EQ(plugin->Name(), "Priority");
  api::Pod pod = MakePod();
  pod.mutable_spec()->set_priority_class_name("high");
  auto a = FakeAttributes::Create(&cluster, pod);
  ASSERT_TRUE(plugin->Admit(a).ok());
  EXPECT_EQ(SpecOf(a).priority(), 1000);
  EXPECT_EQ(SpecOf(a).preemption_policy(), "Never");
}

TEST(PriorityTest, UnknownClassIsForbidden) {
  FakeCluster cluster;
  auto plugin = NewPriority();
  api::Pod pod = MakePod();
  pod.mutable_spec()->set_priority_class_name("gold");
  auto a = FakeAttributes::Create(&cluster, pod);
  absl::Status s = plugin->Admit(a);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "pods \"p\" is forbidden: no PriorityClass with name gold was found");
}

TEST(PriorityTest, SystemClassesAlwaysResolve) {
  FakeCluster cluster;
  auto plugin = NewPriority();
  for (auto [name, value] : {std::pair<const char*, int32_t>{"system-node-critical", 2000001000},
                             {"system-cluster-critical", 2000000000}}) {
    api::Pod pod = MakePod();
    pod.mutable_spec()->set_priority_class_name(name);
    auto a = FakeAttributes::Create(&cluster, pod);
    ASSERT_TRUE(plugin->Admit(a).ok()) << name;
    EXPECT_EQ(SpecOf(a).priority(), value);
    EXPECT_EQ(SpecOf(a).preemption_policy(), "PreemptLowerPriority");
  }
}

TEST(PriorityTest, UnnamedPodsGetTheGlobalDefaultOrZero) {
  FakeCluster cluster;
  auto plugin = NewPriority();
  auto none = FakeAttributes::Create(&cluster, MakePod());
  ASSERT_TRUE(plugin->Admit(none).ok());
  EXPECT_TRUE(SpecOf(none).has_priority());
  EXPECT_EQ(SpecOf(none).priority(), 0);
  EXPECT_EQ(SpecOf(none).priority_class_name(), "");

  cluster.Put(MakeClass("normal", 100));
  cluster.Put(MakeClass("default-b", 50, true));
  cluster.Put(MakeClass("default-a", 70, true));
  auto a = FakeAttributes::Create(&cluster, MakePod());
  ASSERT_TRUE(plugin->Admit(a).ok());
  EXPECT_EQ(SpecOf(a).priority(), 50);
  EXPECT_EQ(SpecOf(a).priority_class_name(), "default-b");
}

TEST(PriorityTest, ConflictingPriorityIsForbidden) {
  FakeCluster cluster;
  cluster.Put(MakeClass("high", 1000));
  auto plugin = NewPriority();
  api::Pod pod = MakePod();
  pod.mutable_spec()->set_priority_class_name("high");
  pod.mutable_spec()->set_priority(5);
  auto a = FakeAttributes::Create(&cluster, pod);
  absl::Status s = plugin->Admit(a);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(),
            "pods \"p\" is forbidden: the integer value of priority (5) must not be provided in "
            "pod spec; priority admission controller computed 1000 from the given PriorityClass "
            "name");

  pod.mutable_spec()->set_priority(1000);
  auto same = FakeAttributes::Create(&cluster, pod);
  EXPECT_TRUE(plugin->Admit(same).ok());

  pod.mutable_spec()->set_preemption_policy("Never");
  auto policy = FakeAttributes::Create(&cluster, pod);
  s = plugin->Admit(policy);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("the string value of PreemptionPolicy (Never) must not be "
                                     "provided in pod spec; priority admission controller "
                                     "computed PreemptLowerPriority"));
}

TEST(PriorityTest, UpdatesKeepTheResolvedPriority) {
  FakeCluster cluster;
  auto plugin = NewPriority();
  api::Pod old = MakePod();
  old.mutable_spec()->set_priority(1000);
  old.mutable_spec()->set_preemption_policy("Never");
  auto a = FakeAttributes::Update(&cluster, MakePod(), old);
  ASSERT_TRUE(plugin->Admit(a).ok());
  EXPECT_EQ(SpecOf(a).priority(), 1000);
  EXPECT_EQ(SpecOf(a).preemption_policy(), "Never");
}

TEST(PriorityTest, OnlyOneGlobalDefault) {
  FakeCluster cluster;
  auto plugin = NewPriority();
  auto first = FakeAttributes::Create(&cluster, MakeClass("first", 10, true));
  ASSERT_TRUE(plugin->Admit(first).ok());
  cluster.Put(MakeClass("first", 10, true));

  auto second = FakeAttributes::Create(&cluster, MakeClass("second", 20, true));
  absl::Status s = plugin->Admit(second);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(),
            "priorityclasses.scheduling.k8s.io \"second\" is forbidden: PriorityClass first is "
            "already marked as default. Only one default can exist");

  // The default itself may be updated; another class may not become one.
  auto same =
      FakeAttributes::Update(&cluster, MakeClass("first", 11, true), MakeClass("first", 10, true));
  EXPECT_TRUE(plugin->Admit(same).ok());
  cluster.Put(MakeClass("other", 5));
  auto promote =
      FakeAttributes::Update(&cluster, MakeClass("other", 5, true), MakeClass("other", 5));
  EXPECT_EQ(plugin->Admit(promote).code(), absl::StatusCode::kPermissionDenied);
  auto plain = FakeAttributes::Create(&cluster, MakeClass("third", 30));
  EXPECT_TRUE(plugin->Admit(plain).ok());
}

// The registry runs the mutating chain again when a guarded admission write
// lost a race; a second pass must leave the pod as the first left it.
TEST(MutatingChainTest, SecondPassChangesNothing) {
  FakeCluster cluster;
  cluster.Put(MakeClass("normal", 100, true));
  api::LimitRange lr = Yaml<api::LimitRange>(R"(
metadata: {name: limits, namespace: ns}
spec:
  limits:
  - type: Container
    default: {cpu: 200m}
    defaultRequest: {cpu: 100m}
)");
  cluster.Put(lr);
  AdmissionChain chain = DefaultAdmissionChain();
  auto a = FakeAttributes::Create(&cluster, MakePod());
  for (const auto& plugin : chain.mutating) ASSERT_TRUE(plugin->Admit(a).ok()) << plugin->Name();
  api::Pod first = *static_cast<const api::Pod*>(a.object());
  for (const auto& plugin : chain.mutating) ASSERT_TRUE(plugin->Admit(a).ok()) << plugin->Name();
  const api::Pod& second = *static_cast<const api::Pod*>(a.object());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(first, second));
  EXPECT_EQ(second.spec().tolerations_size(), 2);
  EXPECT_EQ(second.spec().priority(), 100);
  EXPECT_EQ(second.metadata().annotations().at("kubernetes.io/limit-ranger"),
            "LimitRanger plugin set: cpu request for container app; cpu limit for container app");
}

}  // namespace
}  // namespace korch::apiserver
