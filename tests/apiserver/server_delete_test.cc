// The registry's DELETE: preconditions, graceful deletion of pods driven by
// the clock, finalizers, propagation policies, namespaces, collections.

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/apiserver/server_test_util.h"

namespace korch::apiserver::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

class DeleteTest : public ServerTest {
 protected:
  // A pod bound to a node, with a grace period.
  void CreateBoundPod(absl::string_view name, int64_t grace = 30) {
    api::Pod pod = MakePod("default", name);
    pod.mutable_spec()->set_node_name("node-1");
    pod.mutable_spec()->set_termination_grace_period_seconds(grace);
    ASSERT_TRUE(Create(pod).ok());
  }

  bool Exists(absl::string_view name) { return Get<api::Pod>("default", name).ok(); }
};

TEST_F(DeleteTest, DeleteRemovesTheObject) {
  auto created = Create(MakeConfigMap("default", "cm"));
  ASSERT_TRUE(created.ok());
  auto r = Delete<api::ConfigMap>("default", "cm");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->deleted);
  EXPECT_EQ(Meta(r->object).uid(), (*created)->metadata().uid());
  EXPECT_EQ(Meta(r->object).resource_version(), absl::StrCat(*storage_->CurrentRevision()));
  EXPECT_EQ(Get<api::ConfigMap>("default", "cm").status().code(), absl::StatusCode::kNotFound);
  auto again = Delete<api::ConfigMap>("default", "cm");
  EXPECT_EQ(again.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(again.status().message(), "configmaps \"cm\" not found");
}

TEST_F(DeleteTest, Preconditions) {
  auto created = Create(MakeConfigMap("default", "cm"));
  ASSERT_TRUE(created.ok());
  DeleteOptions uid;
  uid.precondition_uid = "other";
  auto r = Delete<api::ConfigMap>("default", "cm", uid);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(r.status().message(), HasSubstr("Precondition failed: UID in precondition: other"));
  DeleteOptions rv;
  rv.precondition_resource_version = "1";
  EXPECT_EQ(Delete<api::ConfigMap>("default", "cm", rv).status().code(),
            absl::StatusCode::kAborted);
  DeleteOptions right;
  right.precondition_uid = (*created)->metadata().uid();
  right.precondition_resource_version = (*created)->metadata().resource_version();
  EXPECT_TRUE(Delete<api::ConfigMap>("default", "cm", right).ok());
}

TEST_F(DeleteTest, DryRunKeepsTheObject) {
  ASSERT_TRUE(Create(MakeConfigMap("default", "cm")).ok());
  DeleteOptions o;
  o.dry_run = true;
  auto r = Delete<api::ConfigMap>("default", "cm", o);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->deleted);
  EXPECT_TRUE(Get<api::ConfigMap>("default", "cm").ok());
}

TEST_F(DeleteTest, BadOptionsAreInvalid) {
  ASSERT_TRUE(Create(MakeConfigMap("default", "cm")).ok());
  DeleteOptions o;
  o.propagation_policy = "Sideways";
  auto r = Delete<api::ConfigMap>("default", "cm", o);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("propagationPolicy"));
}

TEST_F(DeleteTest, BoundPodsTerminateGracefully) {
  CreateBoundPod("web", 30);
  auto r = Delete<api::Pod>("default", "web");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->deleted);
  const api::ObjectMeta& meta = Meta(r->object);
  EXPECT_EQ(meta.deletion_grace_period_seconds(), 30);
  EXPECT_EQ(meta.deletion_timestamp().seconds(), absl::ToUnixSeconds(clock_.Now()) + 30);
  EXPECT_EQ(meta.generation(), 2);
  EXPECT_TRUE(Exists("web"));

  clock_.Advance(absl::Seconds(29));
  EXPECT_EQ(*server_->CollectExpiredForTest(), 0);
  EXPECT_TRUE(Exists("web"));
  clock_.Advance(absl::Seconds(2));
  // The background thread may get there first; either way it is gone.
  EXPECT_LE(*server_->CollectExpiredForTest(), 1);
  EXPECT_FALSE(Exists("web"));
}

TEST_F(DeleteTest, TheBackgroundThreadFinishesGracefulDeletions) {
  CreateBoundPod("web", 10);
  ASSERT_TRUE(Delete<api::Pod>("default", "web").ok());
  clock_.Advance(absl::Seconds(11));
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (Exists("web") && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_FALSE(Exists("web"));
}

TEST_F(DeleteTest, UnboundAndFinishedPodsGoAtOnce) {
  ASSERT_TRUE(Create(MakePod("default", "unbound")).ok());
  auto r = Delete<api::Pod>("default", "unbound");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->deleted);

  CreateBoundPod("done");
  auto pod = Get<api::Pod>("default", "done");
  api::Pod finished = **pod;
  finished.mutable_status()->set_phase("Succeeded");
  UpdateOptions status;
  status.subresource = "status";
  ASSERT_TRUE(Update(finished, status).ok());
  auto d = Delete<api::Pod>("default", "done");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->deleted);
}

TEST_F(DeleteTest, GracePeriodOptionsOverrideTheSpec) {
  CreateBoundPod("web", 30);
  DeleteOptions zero;
  zero.grace_period_seconds = 0;
  auto r = Delete<api::Pod>("default", "web", zero);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->deleted);

  api::Pod pod = MakePod("default", "default-grace");
  pod.mutable_spec()->set_node_name("node-1");
  ASSERT_TRUE(Create(pod).ok());
  auto d = Delete<api::Pod>("default", "default-grace");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(Meta(d->object).deletion_grace_period_seconds(), 30);
}

TEST_F(DeleteTest, ASecondDeleteCanShortenTheGracePeriod) {
  CreateBoundPod("web", 60);
  ASSERT_TRUE(Delete<api::Pod>("default", "web").ok());
  // The same grace again changes nothing.
  auto same = Delete<api::Pod>("default", "web");
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(same->deleted);
  EXPECT_EQ(Meta(same->object).deletion_grace_period_seconds(), 60);

  DeleteOptions shorter;
  shorter.grace_period_seconds = 5;
  auto r = Delete<api::Pod>("default", "web", shorter);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->deleted);
  EXPECT_EQ(Meta(r->object).deletion_grace_period_seconds(), 5);
  clock_.Advance(absl::Seconds(6));
  // The background thread may get there first; either way it is gone.
  EXPECT_LE(*server_->CollectExpiredForTest(), 1);
  EXPECT_FALSE(Exists("web"));

  CreateBoundPod("web2", 60);
  ASSERT_TRUE(Delete<api::Pod>("default", "web2").ok());
  DeleteOptions now;
  now.grace_period_seconds = 0;
  auto gone = Delete<api::Pod>("default", "web2", now);
  ASSERT_TRUE(gone.ok());
  EXPECT_TRUE(gone->deleted);
}

TEST_F(DeleteTest, GracefulDeletionSurvivesARestart) {
  CreateBoundPod("web", 30);
  ASSERT_TRUE(Delete<api::Pod>("default", "web").ok());
  server_.reset();
  StartServer();
  clock_.Advance(absl::Seconds(31));
  // The background thread may get there first; either way it is gone.
  EXPECT_LE(*server_->CollectExpiredForTest(), 1);
  EXPECT_FALSE(Exists("web"));
}

TEST_F(DeleteTest, FinalizersKeepTheObjectUntilEmptied) {
  api::ConfigMap cm = MakeConfigMap("default", "cm");
  cm.mutable_metadata()->add_finalizers("example.com/keep");
  ASSERT_TRUE(Create(cm).ok());
  auto r = Delete<api::ConfigMap>("default", "cm");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->deleted);
  EXPECT_TRUE(Meta(r->object).has_deletion_timestamp());
  EXPECT_EQ(Meta(r->object).deletion_grace_period_seconds(), 0);

  auto current = Get<api::ConfigMap>("default", "cm");
  ASSERT_TRUE(current.ok());
  // New finalizers may not be added any more.
  api::ConfigMap more = **current;
  more.mutable_metadata()->add_finalizers("example.com/other");
  auto refused = Update(more);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("no new finalizers"));

  // Other changes are fine and keep it.
  api::ConfigMap changed = **current;
  (*changed.mutable_data())["k"] = "still here";
  auto kept = Update(changed);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_TRUE((*kept)->metadata().has_deletion_timestamp());

  api::ConfigMap emptied = **kept;
  emptied.mutable_metadata()->clear_finalizers();
  auto last = Update(emptied);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(Get<api::ConfigMap>("default", "cm").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(DeleteTest, RemovingTheLastFinalizerWithAPatchDeletes) {
  api::ConfigMap cm = MakeConfigMap("default", "cm");
  cm.mutable_metadata()->add_finalizers("example.com/keep");
  ASSERT_TRUE(Create(cm).ok());
  ASSERT_TRUE(Delete<api::ConfigMap>("default", "cm").ok());
  auto r = Patch<api::ConfigMap>("default", "cm", PatchType::kMerge,
                                 R"({"metadata":{"finalizers":null}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Get<api::ConfigMap>("default", "cm").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(DeleteTest, PropagationPoliciesAddFinalizers) {
  ASSERT_TRUE(Create(MakeDeployment("default", "orphaned")).ok());
  ASSERT_TRUE(Create(MakeDeployment("default", "foreground")).ok());
  ASSERT_TRUE(Create(MakeDeployment("default", "background")).ok());
  DeleteOptions orphan;
  orphan.propagation_policy = "Orphan";
  auto o = Delete<api::Deployment>("default", "orphaned", orphan);
  ASSERT_TRUE(o.ok());
  EXPECT_FALSE(o->deleted);
  EXPECT_THAT(Meta(o->object).finalizers(), ElementsAre("orphan"));
  DeleteOptions foreground;
  foreground.propagation_policy = "Foreground";
  auto f = Delete<api::Deployment>("default", "foreground", foreground);
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->deleted);
  EXPECT_THAT(Meta(f->object).finalizers(), ElementsAre("foregroundDeletion"));
  DeleteOptions background;
  background.propagation_policy = "Background";
  auto b = Delete<api::Deployment>("default", "background", background);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->deleted);
}

TEST_F(DeleteTest, PodWithFinalizersOutlivesItsGracePeriod) {
  api::Pod pod = MakePod("default", "web");
  pod.mutable_spec()->set_node_name("node-1");
  pod.mutable_metadata()->add_finalizers("example.com/keep");
  ASSERT_TRUE(Create(pod).ok());
  ASSERT_TRUE(Delete<api::Pod>("default", "web").ok());
  clock_.Advance(absl::Seconds(31));
  EXPECT_EQ(*server_->CollectExpiredForTest(), 0);
  auto current = Get<api::Pod>("default", "web");
  ASSERT_TRUE(current.ok());
  EXPECT_EQ((*current)->metadata().deletion_grace_period_seconds(), 0);
  api::Pod emptied = **current;
  emptied.mutable_metadata()->clear_finalizers();
  ASSERT_TRUE(Update(emptied).ok());
  EXPECT_FALSE(Exists("web"));
}

TEST_F(DeleteTest, NamespacesTerminateUntilFinalized) {
  api::Namespace ns;
  ns.mutable_metadata()->set_name("team");
  ASSERT_TRUE(Create(ns).ok());
  auto r = Delete<api::Namespace>("", "team");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->deleted);
  const api::Namespace& terminating = As<api::Namespace>(r->object);
  EXPECT_EQ(terminating.status().phase(), "Terminating");
  EXPECT_TRUE(terminating.metadata().has_deletion_timestamp());
  EXPECT_THAT(terminating.spec().finalizers(), ElementsAre("kubernetes"));

  // A second delete returns it as it is.
  auto again = Delete<api::Namespace>("", "team");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->deleted);
  EXPECT_EQ(Meta(again->object).resource_version(), terminating.metadata().resource_version());

  // The main resource cannot drop spec.finalizers.
  api::Namespace main = terminating;
  main.mutable_spec()->clear_finalizers();
  auto kept = Update(main);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_THAT((*kept)->spec().finalizers(), ElementsAre("kubernetes"));

  // /finalize does, and then the namespace goes.
  api::Namespace finalize = **kept;
  finalize.mutable_spec()->clear_finalizers();
  UpdateOptions o;
  o.subresource = "finalize";
  auto done = Update(finalize, o);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(Get<api::Namespace>("", "team").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(DeleteTest, NamespacesWithoutFinalizersGoAtOnce) {
  api::Namespace ns;
  ns.mutable_metadata()->set_name("team");
  ASSERT_TRUE(Create(ns).ok());
  api::Namespace stored = **Get<api::Namespace>("", "team");
  stored.mutable_spec()->clear_finalizers();
  UpdateOptions o;
  o.subresource = "finalize";
  ASSERT_TRUE(Update(stored, o).ok());
  auto r = Delete<api::Namespace>("", "team");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->deleted);
}

TEST_F(DeleteTest, DeleteCollectionDeletesTheSelection) {
  ASSERT_TRUE(Create(MakePod("default", "a", R"({"app":"web"})")).ok());
  ASSERT_TRUE(Create(MakePod("default", "b", R"({"app":"web"})")).ok());
  ASSERT_TRUE(Create(MakePod("default", "c", R"({"app":"db"})")).ok());
  ASSERT_TRUE(Create(MakePod("other", "d", R"({"app":"web"})")).ok());
  ListOptions selection;
  selection.label_selector = "app=web";
  auto r = server_->DeleteCollection(user_, KindOf<api::Pod>(), "default", selection, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(Names(*r), UnorderedElementsAre("a", "b"));
  EXPECT_THAT(Names(*List<api::Pod>("")), ElementsAre("c", "d"));

  auto all = server_->DeleteCollection(user_, KindOf<api::Pod>(), "", {}, {});
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(List<api::Pod>("")->items, IsEmpty());
}

}  // namespace
}  // namespace korch::apiserver::testing
