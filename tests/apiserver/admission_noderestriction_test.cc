// NodeRestriction: what a node's identity may write.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/coordination.pb.h"
#include "korch/api/core.pb.h"
#include "korch/apiserver/admission.h"
#include "tests/apiserver/admission_test_util.h"

namespace korch::apiserver {
namespace {

using ::korch::apiserver::testing::FakeAttributes;
using ::korch::apiserver::testing::FakeCluster;
using ::korch::apiserver::testing::Yaml;

class NodeRestrictionTest : public ::testing::Test {
 protected:
  NodeRestrictionTest() {
    api::Node a = MakeNode("a");
    a.mutable_metadata()->set_uid("uid-a");
    cluster_.Put(a);
  }

  static api::Node MakeNode(absl::string_view name) {
    api::Node node;
    node.mutable_metadata()->set_name(std::string(name));
    return node;
  }

  static api::Pod MakePod(absl::string_view node_name, bool mirror = false) {
    api::Pod pod = Yaml<api::Pod>(R"(
metadata: {name: p, namespace: ns}
spec: {containers: [{name: app, image: nginx}]}
)");
    pod.mutable_spec()->set_node_name(std::string(node_name));
    if (mirror)
      (*pod.mutable_metadata()->mutable_annotations())["kubernetes.io/config.mirror"] = "x";
    return pod;
  }

  // The request as node `node` makes it.
  static FakeAttributes& AsNode(FakeAttributes& a, absl::string_view node = "a") {
    return a.WithUser(absl::StrCat("system:node:", node), {"system:nodes", "system:authenticated"});
  }

  absl::Status Check(FakeAttributes& a) { return plugin_->Validate(a); }

  FakeCluster cluster_;
  std::shared_ptr<ValidatingAdmissionPlugin> plugin_ = NewNodeRestriction();
};

TEST_F(NodeRestrictionTest, OtherUsersAreNotRestricted) {
  EXPECT_EQ(plugin_->Name(), "NodeRestriction");
  auto a = FakeAttributes::Update(&cluster_, MakeNode("b"), MakeNode("b"));
  EXPECT_TRUE(Check(a).ok());
  // The name alone does not make a node: the group is needed too.
  auto b = FakeAttributes::Update(&cluster_, MakeNode("b"), MakeNode("b"));
  b.WithUser("system:node:a", {"system:authenticated"});
  EXPECT_TRUE(Check(b).ok());
}

TEST_F(NodeRestrictionTest, NodesChangeOnlyThemselves) {
  auto own = FakeAttributes::Update(&cluster_, MakeNode("a"), MakeNode("a"));
  EXPECT_TRUE(Check(AsNode(own)).ok());
  auto own_status = FakeAttributes::Update(&cluster_, MakeNode("a"), MakeNode("a"));
  own_status.WithSubresource("status");
  EXPECT_TRUE(Check(AsNode(own_status)).ok());

  auto other = FakeAttributes::Update(&cluster_, MakeNode("b"), MakeNode("b"));
  absl::Status s = Check(AsNode(other));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(),
            "nodes \"b\" is forbidden: node \"a\" is not allowed to modify node \"b\"");
  auto create_other = FakeAttributes::Create(&cluster_, MakeNode("b"));
  EXPECT_EQ(Check(AsNode(create_other)).code(), absl::StatusCode::kPermissionDenied);
  auto delete_other = FakeAttributes::Delete(&cluster_, MakeNode("b"));
  EXPECT_EQ(Check(AsNode(delete_other)).code(), absl::StatusCode::kPermissionDenied);
  auto delete_own = FakeAttributes::Delete(&cluster_, MakeNode("a"));
  EXPECT_TRUE(Check(AsNode(delete_own)).ok());
}

TEST_F(NodeRestrictionTest, RestrictedLabels) {
  api::Node labelled = MakeNode("a");
  auto& labels = *labelled.mutable_metadata()->mutable_labels();
  labels["kubernetes.io/hostname"] = "a";
  labels["topology.kubernetes.io/zone"] = "z1";
  labels["node.kubernetes.io/instance-type"] = "big";
  labels["example.com/anything"] = "yes";
  auto ok = FakeAttributes::Create(&cluster_, labelled);
  EXPECT_TRUE(Check(AsNode(ok)).ok());

  labels["node-restriction.kubernetes.io/trusted"] = "yes";
  labels["node-role.kubernetes.io/master"] = "";
  auto bad = FakeAttributes::Create(&cluster_, labelled);
  absl::Status s = Check(AsNode(bad));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(),
            "nodes \"a\" is forbidden: node \"a\" is not allowed to set the following labels: "
            "node-restriction.kubernetes.io/trusted, node-role.kubernetes.io/master");

  // On update only changes count: a restricted label an administrator set
  // may stay, but the node may not change or remove it.
  api::Node old = MakeNode("a");
  (*old.mutable_metadata()->mutable_labels())["node-restriction.kubernetes.io/trusted"] = "yes";
  api::Node kept = old;
  (*kept.mutable_metadata()->mutable_labels())["example.com/x"] = "1";
  auto keep = FakeAttributes::Update(&cluster_, kept, old);
  EXPECT_TRUE(Check(AsNode(keep)).ok());
  auto remove = FakeAttributes::Update(&cluster_, MakeNode("a"), old);
  EXPECT_EQ(Check(AsNode(remove)).message(),
            "nodes \"a\" is forbidden: node \"a\" is not allowed to modify labels: "
            "node-restriction.kubernetes.io/trusted");
}

TEST_F(NodeRestrictionTest, NodesCannotChangeTheirTaints) {
  api::Node old = MakeNode("a");
  api::Taint* t = old.mutable_spec()->add_taints();
  t->set_key("dedicated");
  t->set_effect("NoSchedule");
  auto untainted = FakeAttributes::Update(&cluster_, MakeNode("a"), old);
  absl::Status s = Check(AsNode(untainted));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "nodes \"a\" is forbidden: node \"a\" is not allowed to modify taints");
  auto same = FakeAttributes::Update(&cluster_, old, old);
  EXPECT_TRUE(Check(AsNode(same)).ok());
}

TEST_F(NodeRestrictionTest, NodesCreateOnlyTheirOwnMirrorPods) {
  auto regular = FakeAttributes::Create(&cluster_, MakePod("a"));
  EXPECT_EQ(Check(AsNode(regular)).message(),
            "pods \"p\" is forbidden: pod does not have \"kubernetes.io/config.mirror\" "
            "annotation, node \"a\" can only create mirror pods");

  auto mirror = FakeAttributes::Create(&cluster_, MakePod("a", true));
  EXPECT_TRUE(Check(AsNode(mirror)).ok());

  auto elsewhere = FakeAttributes::Create(&cluster_, MakePod("b", true));
  EXPECT_EQ(Check(AsNode(elsewhere)).message(),
            "pods \"p\" is forbidden: node \"a\" can only create pods with spec.nodeName set to "
            "itself");

  api::Pod secret = MakePod("a", true);
  secret.mutable_spec()->add_volumes()->mutable_secret()->set_secret_name("token");
  auto with_secret = FakeAttributes::Create(&cluster_, secret);
  EXPECT_EQ(Check(AsNode(with_secret)).message(),
            "pods \"p\" is forbidden: node \"a\" can not create pods that reference secrets");

  api::Pod cm = MakePod("a", true);
  cm.mutable_spec()->mutable_containers(0)->add_env_from()->mutable_config_map_ref()->set_name(
      "cfg");
  auto with_cm = FakeAttributes::Create(&cluster_, cm);
  EXPECT_EQ(Check(AsNode(with_cm)).message(),
            "pods \"p\" is forbidden: node \"a\" can not create pods that reference configmaps");

  api::Pod sa = MakePod("a", true);
  sa.mutable_spec()->set_service_account_name("builder");
  auto with_sa = FakeAttributes::Create(&cluster_, sa);
  EXPECT_EQ(Check(AsNode(with_sa)).message(),
            "pods \"p\" is forbidden: node \"a\" can not create pods that reference a service "
            "account");
}

TEST_F(NodeRestrictionTest, MirrorPodOwnerMustBeTheNode) {
  api::Pod pod = MakePod("a", true);
  api::OwnerReference* owner = pod.mutable_metadata()->add_owner_references();
  owner->set_api_version("v1");
  owner->set_kind("Node");
  owner->set_name("a");
  owner->set_uid("uid-a");
  owner->set_controller(true);
  auto ok = FakeAttributes::Create(&cluster_, pod);
  EXPECT_TRUE(Check(AsNode(ok)).ok());

  owner->set_uid("uid-old");
  auto stale = FakeAttributes::Create(&cluster_, pod);
  EXPECT_EQ(Check(AsNode(stale)).message(),
            "pods \"p\" is forbidden: node a UID mismatch: expected uid-a got uid-old");

  owner->set_name("b");
  auto foreign = FakeAttributes::Create(&cluster_, pod);
  EXPECT_EQ(Check(AsNode(foreign)).message(),
            "pods \"p\" is forbidden: node \"a\" can only create pods with an owner reference set "
            "to itself");
}

TEST_F(NodeRestrictionTest, PodStatusAndDeletionOnlyForBoundPods) {
  auto own = FakeAttributes::Update(&cluster_, MakePod("a"), MakePod("a"));
  own.WithSubresource("status");
  EXPECT_TRUE(Check(AsNode(own)).ok());

  auto other = FakeAttributes::Update(&cluster_, MakePod("b"), MakePod("b"));
  other.WithSubresource("status");
  EXPECT_EQ(Check(AsNode(other)).message(),
            "pods \"p\" is forbidden: node \"a\" can only update pod status for pods with "
            "spec.nodeName set to itself");

  api::Pod relabelled = MakePod("a");
  (*relabelled.mutable_metadata()->mutable_labels())["role"] = "db";
  auto labels = FakeAttributes::Update(&cluster_, relabelled, MakePod("a"));
  labels.WithSubresource("status");
  EXPECT_EQ(Check(AsNode(labels)).message(),
            "pods \"p\" is forbidden: node \"a\" cannot update labels through pod status");

  auto del_own = FakeAttributes::Delete(&cluster_, MakePod("a"));
  EXPECT_TRUE(Check(AsNode(del_own)).ok());
  auto del_other = FakeAttributes::Delete(&cluster_, MakePod("b"));
  EXPECT_EQ(Check(AsNode(del_other)).message(),
            "pods \"p\" is forbidden: node \"a\" can only delete pods with spec.nodeName set to "
            "itself");

  auto update = FakeAttributes::Update(&cluster_, MakePod("a"), MakePod("a"));
  EXPECT_EQ(Check(AsNode(update)).message(),
            "pods \"p\" is forbidden: unexpected operation \"UPDATE\", node \"a\" can only create "
            "and delete mirror pods");

  api::Binding binding;
  binding.mutable_metadata()->set_namespace_("ns");
  binding.mutable_metadata()->set_name("p");
  auto bind = FakeAttributes::Create(&cluster_, binding);
  bind.WithKind(testing::KindOf(api::Pod::descriptor())).WithSubresource("binding");
  EXPECT_EQ(Check(AsNode(bind)).message(),
            "pods \"p\" is forbidden: unexpected pod subresource \"binding\", only 'status' and "
            "'eviction' are allowed");
}

TEST_F(NodeRestrictionTest, NodeLeases) {
  api::Lease lease;
  lease.mutable_metadata()->set_namespace_("kube-node-lease");
  lease.mutable_metadata()->set_name("a");
  auto own = FakeAttributes::Create(&cluster_, lease);
  EXPECT_TRUE(Check(AsNode(own)).ok());

  lease.mutable_metadata()->set_name("b");
  auto other = FakeAttributes::Update(&cluster_, lease, lease);
  EXPECT_EQ(Check(AsNode(other)).message(),
            "leases.coordination.k8s.io \"b\" is forbidden: can only access node lease with the "
            "same name as the requesting node");

  lease.mutable_metadata()->set_namespace_("default");
  lease.mutable_metadata()->set_name("a");
  auto wrong_ns = FakeAttributes::Create(&cluster_, lease);
  EXPECT_EQ(Check(AsNode(wrong_ns)).message(),
            "leases.coordination.k8s.io \"a\" is forbidden: can only access leases in the "
            "\"kube-node-lease\" namespace");
}

}  // namespace
}  // namespace korch::apiserver
