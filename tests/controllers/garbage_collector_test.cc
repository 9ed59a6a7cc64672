#include "korch/controllers/garbage_collector.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/apps.pb.h"
#include "korch/api/core.pb.h"
#include "korch/api/object.h"
#include "korch/api/rbac.pb.h"
#include "korch/apiserver/server.h"
#include "korch/client/client.h"
#include "korch/store.h"

namespace korch::controllers {
namespace {

using ::testing::IsEmpty;

constexpr absl::Duration kWait = absl::Seconds(10);
constexpr char kNs[] = "default";

// Polls `done` (real time) until it holds or `timeout` passes.
template <typename F>
bool WaitUntil(F done, absl::Duration timeout = kWait) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

api::OwnerReference RefTo(const google::protobuf::Message& owner, bool block = false) {
  const api::KindInfo& kind = *api::Scheme::Builtin().Find(owner.GetDescriptor());
  const api::ObjectMeta& meta = *api::ObjectMetaOf(owner);
  api::OwnerReference ref;
  ref.set_api_version(kind.api_version);
  ref.set_kind(kind.kind);
  ref.set_name(meta.name());
  ref.set_uid(meta.uid());
  if (block) ref.set_block_owner_deletion(true);
  return ref;
}

GarbageCollectorOptions Workers(int n) {
  GarbageCollectorOptions options;
  options.workers = n;
  return options;
}

api::PodTemplateSpec Template() {
  api::PodTemplateSpec t;
  (*t.mutable_metadata()->mutable_labels())["app"] = "web";
  api::Container* c = t.mutable_spec()->add_containers();
  c->set_name("web");
  c->set_image("nginx");
  return t;
}

class GarbageCollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto storage = store::OpenMemoryStorage();
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
    apiserver::ApiServerOptions options;
    options.storage = storage_.get();
    auto server = apiserver::ApiServer::Create(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client_ = client::NewInProcessClient(*server_, apiserver::SystemUser());
  }

  void TearDown() override {
    if (gc_ != nullptr) gc_->Stop();
    gc_.reset();
  }

  void StartCollector(GarbageCollectorOptions options = {}) {
    auto gc = GarbageCollector::Create(*client_, std::move(options));
    ASSERT_TRUE(gc.ok()) << gc.status();
    gc_ = *std::move(gc);
    gc_->Start();
    ASSERT_TRUE(WaitUntil([&] { return gc_->HasSynced(); }));
  }

  // Creates a ConfigMap owned by `owners`.
  std::shared_ptr<const api::ConfigMap> MakeConfigMap(
      const std::string& name, const std::vector<api::OwnerReference>& owners = {}) {
    api::ConfigMap cm;
    cm.mutable_metadata()->set_namespace_(kNs);
    cm.mutable_metadata()->set_name(name);
    for (const api::OwnerReference& ref : owners) {
      *cm.mutable_metadata()->add_owner_references() = ref;
    }
    (*cm.mutable_data())["k"] = "v";
    auto created = client_->Create(cm);
    EXPECT_TRUE(created.ok()) << name << ": " << created.status();
    return created.ok() ? *created : nullptr;
  }

  template <typename T>
  bool Exists(const std::string& name) {
    return client_->Get<T>(kNs, name).ok();
  }
  template <typename T>
  bool Gone(const std::string& name) {
    return absl::IsNotFound(client_->Get<T>(kNs, name).status());
  }

  absl::StatusOr<client::DeleteResult> DeleteConfigMap(const std::string& name,
                                                       const std::string& policy) {
    client::DeleteOptions options;
    options.propagation_policy = policy;
    return client_->Delete(client_->KindOf<api::ConfigMap>(), kNs, name, options);
  }

  std::unique_ptr<store::Storage> storage_;
  std::unique_ptr<apiserver::ApiServer> server_;
  std::unique_ptr<client::Client> client_;
  std::unique_ptr<GarbageCollector> gc_;
};

TEST_F(GarbageCollectorTest, CreateRejectsBadOptions) {
  EXPECT_TRUE(absl::IsInvalidArgument(GarbageCollector::Create(*client_, Workers(0)).status()));
  GarbageCollectorOptions options;
  options.kinds = {api::Scheme::Builtin().Find(api::Binding::descriptor())};
  EXPECT_TRUE(absl::IsInvalidArgument(GarbageCollector::Create(*client_, options).status()));
}

TEST_F(GarbageCollectorTest, BackgroundDeletionCollectsDependentsTransitively) {
  StartCollector();
  api::Deployment deployment;
  deployment.mutable_metadata()->set_namespace_(kNs);
  deployment.mutable_metadata()->set_name("web");
  (*deployment.mutable_spec()->mutable_selector()->mutable_match_labels())["app"] = "web";
  *deployment.mutable_spec()->mutable_template_() = Template();
  auto d = client_->Create(deployment);
  ASSERT_TRUE(d.ok()) << d.status();

  api::ReplicaSet replica_set;
  replica_set.mutable_metadata()->set_namespace_(kNs);
  replica_set.mutable_metadata()->set_name("web-1");
  *replica_set.mutable_metadata()->add_owner_references() = RefTo(**d, true);
  (*replica_set.mutable_spec()->mutable_selector()->mutable_match_labels())["app"] = "web";
  *replica_set.mutable_spec()->mutable_template_() = Template();
  auto rs = client_->Create(replica_set);
  ASSERT_TRUE(rs.ok()) << rs.status();

  for (const char* name : {"web-1-a", "web-1-b"}) {
    api::Pod pod;
    pod.mutable_metadata()->set_namespace_(kNs);
    pod.mutable_metadata()->set_name(name);
    *pod.mutable_metadata()->add_owner_references() = RefTo(**rs, true);
    *pod.mutable_spec() = Template().spec();  // unbound: deleted at once
    auto created = client_->Create(pod);
    ASSERT_TRUE(created.ok()) << created.status();
  }
  // An unrelated pod stays.
  api::Pod other;
  other.mutable_metadata()->set_namespace_(kNs);
  other.mutable_metadata()->set_name("other");
  *other.mutable_spec() = Template().spec();
  ASSERT_TRUE(client_->Create(other).ok());

  auto deleted =
      client_->Delete(client_->KindOf<api::Deployment>(), kNs, "web", client::DeleteOptions{});
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_TRUE(WaitUntil([&] {
    return Gone<api::ReplicaSet>("web-1") && Gone<api::Pod>("web-1-a") && Gone<api::Pod>("web-1-b");
  }));
  EXPECT_TRUE(Exists<api::Pod>("other"));
}

TEST_F(GarbageCollectorTest, OrphanKeepsDependentsAndDropsTheirReference) {
  StartCollector();
  auto owner = MakeConfigMap("owner");
  ASSERT_NE(owner, nullptr);
  auto other_owner = MakeConfigMap("other-owner");
  ASSERT_NE(other_owner, nullptr);
  ASSERT_NE(MakeConfigMap("child-1", {RefTo(*owner)}), nullptr);
  ASSERT_NE(MakeConfigMap("child-2", {RefTo(*owner, true), RefTo(*other_owner)}), nullptr);

  auto deleted = DeleteConfigMap("owner", "Orphan");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  ASSERT_TRUE(WaitUntil([&] { return Gone<api::ConfigMap>("owner"); }));

  auto child1 = client_->Get<api::ConfigMap>(kNs, "child-1");
  ASSERT_TRUE(child1.ok()) << child1.status();
  EXPECT_THAT((*child1)->metadata().owner_references(), IsEmpty());
  auto child2 = client_->Get<api::ConfigMap>(kNs, "child-2");
  ASSERT_TRUE(child2.ok()) << child2.status();
  ASSERT_EQ((*child2)->metadata().owner_references_size(), 1);
  EXPECT_EQ((*child2)->metadata().owner_references(0).uid(), other_owner->metadata().uid());
}

TEST_F(GarbageCollectorTest, ForegroundDeletesDependentsBeforeTheOwner) {
  StartCollector();
  auto owner = MakeConfigMap("owner");
  ASSERT_NE(owner, nullptr);
  auto child = MakeConfigMap("child", {RefTo(*owner, true)});
  ASSERT_NE(child, nullptr);
  ASSERT_NE(MakeConfigMap("grandchild", {RefTo(*child, true)}), nullptr);
  ASSERT_NE(MakeConfigMap("loose-child", {RefTo(*owner)}), nullptr);

  // Watch the deletions from now on to see their order.
  auto listed = client_->List(client_->KindOf<api::ConfigMap>(), kNs);
  ASSERT_TRUE(listed.ok()) << listed.status();
  client::WatchOptions watch_options;
  watch_options.resource_version = listed->resource_version;
  auto watch = client_->Watch(client_->KindOf<api::ConfigMap>(), kNs, watch_options);
  ASSERT_TRUE(watch.ok()) << watch.status();

  auto deleted = DeleteConfigMap("owner", "Foreground");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  ASSERT_FALSE(deleted->deleted);

  std::vector<std::string> deletions;
  const absl::Time deadline = absl::Now() + kWait;
  while (deletions.size() < 4 && absl::Now() < deadline) {
    auto event = (*watch)->Next(absl::Milliseconds(100));
    if (absl::IsDeadlineExceeded(event.status())) continue;
    ASSERT_TRUE(event.ok()) << event.status();
    if (event->type == client::EventType::kDeleted) {
      deletions.push_back(api::ObjectMetaOf(*event->object)->name());
    }
  }
  (*watch)->Cancel();
  ASSERT_EQ(deletions.size(), 4u) << testing::PrintToString(deletions);
  // The blocking chain goes bottom-up, the owner after it. (The loose
  // child does not block the owner: it may go before or after.)
  auto position = [&](const std::string& name) {
    return std::find(deletions.begin(), deletions.end(), name) - deletions.begin();
  };
  EXPECT_LT(position("grandchild"), position("child")) << testing::PrintToString(deletions);
  EXPECT_LT(position("child"), position("owner")) << testing::PrintToString(deletions);
  EXPECT_LT(position("loose-child"), 4) << testing::PrintToString(deletions);
}

TEST_F(GarbageCollectorTest, ForegroundKeepsDependentWithAnotherLiveOwner) {
  StartCollector();
  auto owner = MakeConfigMap("owner");
  auto keeper = MakeConfigMap("keeper");
  ASSERT_NE(owner, nullptr);
  ASSERT_NE(keeper, nullptr);
  ASSERT_NE(MakeConfigMap("shared", {RefTo(*owner, true), RefTo(*keeper)}), nullptr);

  ASSERT_TRUE(DeleteConfigMap("owner", "Foreground").ok());
  ASSERT_TRUE(WaitUntil([&] { return Gone<api::ConfigMap>("owner"); }));
  auto shared = client_->Get<api::ConfigMap>(kNs, "shared");
  ASSERT_TRUE(shared.ok()) << shared.status();
  ASSERT_EQ((*shared)->metadata().owner_references_size(), 1);
  EXPECT_EQ((*shared)->metadata().owner_references(0).uid(), keeper->metadata().uid());
}

TEST_F(GarbageCollectorTest, DependentWithTwoOwnersSurvivesUntilBothAreGone) {
  StartCollector();
  auto a = MakeConfigMap("owner-a");
  auto b = MakeConfigMap("owner-b");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_NE(MakeConfigMap("child", {RefTo(*a), RefTo(*b)}), nullptr);

  ASSERT_TRUE(DeleteConfigMap("owner-a", "Background").ok());
  // The collector drops the reference to the gone owner and keeps the child.
  ASSERT_TRUE(WaitUntil([&] {
    auto child = client_->Get<api::ConfigMap>(kNs, "child");
    return child.ok() && (*child)->metadata().owner_references_size() == 1;
  }));
  auto child = client_->Get<api::ConfigMap>(kNs, "child");
  ASSERT_TRUE(child.ok());
  EXPECT_EQ((*child)->metadata().owner_references(0).uid(), b->metadata().uid());

  ASSERT_TRUE(DeleteConfigMap("owner-b", "Background").ok());
  EXPECT_TRUE(WaitUntil([&] { return Gone<api::ConfigMap>("child"); }));
}

TEST_F(GarbageCollectorTest, CollectsDependentsOfOwnersThatNeverExisted) {
  StartCollector();
  auto real = MakeConfigMap("real");
  ASSERT_NE(real, nullptr);
  // Right name, wrong uid: a different (earlier) object of that name.
  api::OwnerReference stale = RefTo(*real);
  stale.set_uid("00000000-0000-0000-0000-000000000001");
  ASSERT_NE(MakeConfigMap("stale-child", {stale}), nullptr);
  api::OwnerReference missing = RefTo(*real);
  missing.set_name("missing");
  missing.set_uid("00000000-0000-0000-0000-000000000002");
  ASSERT_NE(MakeConfigMap("orphan-child", {missing}), nullptr);
  ASSERT_NE(MakeConfigMap("good-child", {RefTo(*real)}), nullptr);

  EXPECT_TRUE(WaitUntil(
      [&] { return Gone<api::ConfigMap>("stale-child") && Gone<api::ConfigMap>("orphan-child"); }));
  EXPECT_TRUE(Exists<api::ConfigMap>("good-child"));
  EXPECT_TRUE(Exists<api::ConfigMap>("real"));
}

TEST_F(GarbageCollectorTest, NamespacedDependentsOfAClusterScopedOwner) {
  StartCollector();
  api::ClusterRole role;
  role.mutable_metadata()->set_name("reader");
  auto owner = client_->Create(role);
  ASSERT_TRUE(owner.ok()) << owner.status();
  ASSERT_NE(MakeConfigMap("role-data", {RefTo(**owner)}), nullptr);

  ASSERT_TRUE(client_->Delete(client_->KindOf<api::ClusterRole>(), "", "reader").ok());
  EXPECT_TRUE(WaitUntil([&] { return Gone<api::ConfigMap>("role-data"); }));
}

TEST_F(GarbageCollectorTest, CollectsWhatWasLeftWhileItWasNotRunning) {
  auto owner = MakeConfigMap("owner");
  ASSERT_NE(owner, nullptr);
  ASSERT_NE(MakeConfigMap("child", {RefTo(*owner)}), nullptr);
  ASSERT_TRUE(DeleteConfigMap("owner", "Background").ok());
  // Left waiting for the orphan finalizer: nobody is there to act on it.
  auto orphaned = MakeConfigMap("orphaned-owner-2");
  ASSERT_NE(orphaned, nullptr);
  ASSERT_NE(MakeConfigMap("kept-child", {RefTo(*orphaned)}), nullptr);
  auto pending = DeleteConfigMap("orphaned-owner-2", "Orphan");
  ASSERT_TRUE(pending.ok()) << pending.status();
  ASSERT_FALSE(pending->deleted);
  ASSERT_TRUE(Exists<api::ConfigMap>("child"));

  StartCollector(Workers(1));
  EXPECT_TRUE(WaitUntil(
      [&] { return Gone<api::ConfigMap>("child") && Gone<api::ConfigMap>("orphaned-owner-2"); }));
  auto kept = client_->Get<api::ConfigMap>(kNs, "kept-child");
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_THAT((*kept)->metadata().owner_references(), IsEmpty());
}

TEST_F(GarbageCollectorTest, StopIsPromptAndIdempotent) {
  StartCollector(Workers(4));
  const absl::Time start = absl::Now();
  gc_->Stop();
  gc_->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // Stopped: nothing is collected any more.
  gc_->Start();
  auto owner = MakeConfigMap("owner");
  ASSERT_NE(owner, nullptr);
  ASSERT_NE(MakeConfigMap("child", {RefTo(*owner)}), nullptr);
  ASSERT_TRUE(DeleteConfigMap("owner", "Background").ok());
  EXPECT_TRUE(Exists<api::ConfigMap>("child"));
}

TEST_F(GarbageCollectorTest, SharesAHostsInformers) {
  client::SharedInformerFactory factory(*client_);
  GarbageCollectorOptions options;
  options.informers = &factory;
  options.kinds = {&client_->KindOf<api::ConfigMap>()};
  StartCollector(std::move(options));
  auto owner = MakeConfigMap("owner");
  ASSERT_NE(owner, nullptr);
  ASSERT_NE(MakeConfigMap("child", {RefTo(*owner)}), nullptr);
  ASSERT_TRUE(DeleteConfigMap("owner", "Background").ok());
  EXPECT_TRUE(WaitUntil([&] { return Gone<api::ConfigMap>("child"); }));
  // The factory outlives the collector; its handlers must then do nothing.
  gc_->Stop();
  gc_.reset();
  ASSERT_NE(MakeConfigMap("after", {RefTo(*owner)}), nullptr);
  EXPECT_TRUE(WaitUntil([&] {
    return factory.For<api::ConfigMap>().indexer().Get(absl::StrCat(kNs, "/after")) != nullptr;
  }));
  factory.Stop();
}

}  // namespace
}  // namespace korch::controllers
