#include "korch/controllers/namespace_controller.h"

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/apps.pb.h"
#include "korch/api/core.pb.h"
#include "korch/apiserver/admission.h"
#include "korch/apiserver/server.h"
#include "korch/base/clock.h"
#include "korch/client/client.h"
#include "korch/controllers/garbage_collector.h"
#include "korch/store.h"

namespace korch::controllers {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr absl::Duration kWait = absl::Seconds(10);

// Polls `done` (real time) until it holds or `timeout` passes; `step` runs
// before each check (tests use it to move a FakeClock).
template <typename F, typename S>
bool WaitUntil(F done, S step, absl::Duration timeout = kWait) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    step();
    if (done()) return true;
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

NamespaceControllerOptions Workers(int n) {
  NamespaceControllerOptions options;
  options.workers = n;
  return options;
}

api::PodSpec PodSpec() {
  api::PodSpec spec;
  api::Container* c = spec.add_containers();
  c->set_name("web");
  c->set_image("nginx");
  return spec;
}

const api::NamespaceCondition* FindCondition(const api::Namespace& ns, absl::string_view type) {
  for (const api::NamespaceCondition& c : ns.status().conditions()) {
    if (c.type() == type) return &c;
  }
  return nullptr;
}

class NamespaceControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto storage = store::OpenMemoryStorage();
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
    apiserver::ApiServerOptions options;
    options.storage = storage_.get();
    options.clock = clock_.get();
    options.admission.validating = {apiserver::NewNamespaceLifecycle()};
    auto server = apiserver::ApiServer::Create(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client_ = client::NewInProcessClient(*server_, apiserver::SystemUser());
  }

  void TearDown() override {
    if (controller_ != nullptr) controller_->Stop();
    controller_.reset();
  }

  void StartController() {
    NamespaceControllerOptions options;
    options.clock = clock_;
    auto controller = NamespaceController::Create(*client_, std::move(options));
    ASSERT_TRUE(controller.ok()) << controller.status();
    controller_ = *std::move(controller);
    controller_->Start();
    ASSERT_TRUE(WaitUntil([&] { return controller_->HasSynced(); }, [] {}));
  }

  void MakeNamespace(const std::string& name) {
    api::Namespace ns;
    ns.mutable_metadata()->set_name(name);
    auto created = client_->Create(ns);
    ASSERT_TRUE(created.ok()) << created.status();
  }

  absl::Status MakeConfigMap(const std::string& ns, const std::string& name,
                             const std::string& finalizer = "") {
    api::ConfigMap cm;
    cm.mutable_metadata()->set_namespace_(ns);
    cm.mutable_metadata()->set_name(name);
    if (!finalizer.empty()) cm.mutable_metadata()->add_finalizers(finalizer);
    return client_->Create(cm).status();
  }

  absl::Status MakePod(const std::string& ns, const std::string& name,
                       const std::string& node = "") {
    api::Pod pod;
    pod.mutable_metadata()->set_namespace_(ns);
    pod.mutable_metadata()->set_name(name);
    *pod.mutable_spec() = PodSpec();
    if (!node.empty()) pod.mutable_spec()->set_node_name(node);
    pod.mutable_spec()->set_termination_grace_period_seconds(30);
    return client_->Create(pod).status();
  }

  absl::Status DeleteNamespace(const std::string& name) {
    return client_->Delete(client_->KindOf<api::Namespace>(), "", name).status();
  }

  bool NamespaceGone(const std::string& name) {
    return absl::IsNotFound(client_->Get<api::Namespace>("", name).status());
  }

  size_t Count(const api::KindInfo& kind, const std::string& ns) {
    auto listed = client_->List(kind, ns);
    EXPECT_TRUE(listed.ok()) << listed.status();
    return listed.ok() ? listed->items.size() : 0;
  }

  // Moves fake time on a little at each poll, so that delayed re-checks and
  // grace periods come due.
  auto Tick(absl::Duration d = absl::Milliseconds(500)) {
    return [this, d] { clock_->Advance(d); };
  }

  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  std::unique_ptr<store::Storage> storage_;
  std::unique_ptr<apiserver::ApiServer> server_;
  std::unique_ptr<client::Client> client_;
  std::unique_ptr<NamespaceController> controller_;
};

TEST_F(NamespaceControllerTest, CreateRejectsBadOptions) {
  EXPECT_TRUE(absl::IsInvalidArgument(NamespaceController::Create(*client_, Workers(0)).status()));
}

TEST_F(NamespaceControllerTest, DeletingANamespaceRemovesItsContentThenTheNamespace) {
  MakeNamespace("team");
  MakeNamespace("neighbour");
  ASSERT_TRUE(MakeConfigMap("team", "settings").ok());
  ASSERT_TRUE(MakeConfigMap("neighbour", "settings").ok());
  api::Secret secret;
  secret.mutable_metadata()->set_namespace_("team");
  secret.mutable_metadata()->set_name("token");
  (*secret.mutable_string_data())["password"] = "hunter2";
  ASSERT_TRUE(client_->Create(secret).ok());
  ASSERT_TRUE(MakePod("team", "unbound-1").ok());
  ASSERT_TRUE(MakePod("team", "unbound-2").ok());
  api::Deployment deployment;
  deployment.mutable_metadata()->set_namespace_("team");
  deployment.mutable_metadata()->set_name("web");
  (*deployment.mutable_spec()->mutable_selector()->mutable_match_labels())["app"] = "web";
  (*deployment.mutable_spec()->mutable_template_()->mutable_metadata()->mutable_labels())["app"] =
      "web";
  *deployment.mutable_spec()->mutable_template_()->mutable_spec() = PodSpec();
  auto created = client_->Create(deployment);
  ASSERT_TRUE(created.ok()) << created.status();

  StartController();
  ASSERT_TRUE(DeleteNamespace("team").ok());
  EXPECT_TRUE(WaitUntil([&] { return NamespaceGone("team"); }, Tick()));

  EXPECT_EQ(Count(client_->KindOf<api::ConfigMap>(), "team"), 0u);
  EXPECT_EQ(Count(client_->KindOf<api::Secret>(), "team"), 0u);
  EXPECT_EQ(Count(client_->KindOf<api::Pod>(), "team"), 0u);
  EXPECT_EQ(Count(client_->KindOf<api::Deployment>(), "team"), 0u);
  // Other namespaces are left alone.
  EXPECT_TRUE(client_->Get<api::Namespace>("", "neighbour").ok());
  EXPECT_EQ(Count(client_->KindOf<api::ConfigMap>(), "neighbour"), 1u);
}

TEST_F(NamespaceControllerTest, WaitsForGracefulPodsAndRefusesNewContentMeanwhile) {
  MakeNamespace("graceful");
  ASSERT_TRUE(MakePod("graceful", "bound", "node-1").ok());
  StartController();
  ASSERT_TRUE(DeleteNamespace("graceful").ok());

  // The controller asks the bound pod to go; it has 30 s of grace.
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto pod = client_->Get<api::Pod>("graceful", "bound");
        return pod.ok() && (*pod)->metadata().has_deletion_timestamp();
      },
      [] {}));
  // Terminating until then, and closed to new objects.
  absl::Status refused = MakeConfigMap("graceful", "late");
  EXPECT_TRUE(absl::IsPermissionDenied(refused)) << refused;
  EXPECT_THAT(refused.message(), HasSubstr("being terminated"));
  auto ns = client_->Get<api::Namespace>("", "graceful");
  ASSERT_TRUE(ns.ok()) << ns.status();
  EXPECT_EQ((*ns)->status().phase(), "Terminating");
  // The remaining content is reported in the namespace's conditions.
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto ns = client_->Get<api::Namespace>("", "graceful");
        const api::NamespaceCondition* c =
            ns.ok() ? FindCondition(**ns, "NamespaceContentRemaining") : nullptr;
        return c != nullptr && c->status() == "True";
      },
      [] {}));
  ns = client_->Get<api::Namespace>("", "graceful");
  ASSERT_TRUE(ns.ok());
  EXPECT_THAT(FindCondition(**ns, "NamespaceContentRemaining")->message(), HasSubstr("pods: 1"));

  // Once the grace period has passed, the pod and then the namespace go.
  EXPECT_TRUE(WaitUntil([&] { return NamespaceGone("graceful"); }, Tick(absl::Seconds(1))));
  EXPECT_EQ(Count(client_->KindOf<api::Pod>(), "graceful"), 0u);
}

TEST_F(NamespaceControllerTest, ContentWithFinalizersHoldsTheNamespace) {
  MakeNamespace("held");
  ASSERT_TRUE(MakeConfigMap("held", "guarded", "example.com/hold").ok());
  StartController();
  ASSERT_TRUE(DeleteNamespace("held").ok());

  ASSERT_TRUE(WaitUntil(
      [&] {
        auto ns = client_->Get<api::Namespace>("", "held");
        const api::NamespaceCondition* c =
            ns.ok() ? FindCondition(**ns, "NamespaceFinalizersRemaining") : nullptr;
        return c != nullptr && c->status() == "True";
      },
      Tick()));
  auto ns = client_->Get<api::Namespace>("", "held");
  ASSERT_TRUE(ns.ok());
  EXPECT_THAT(FindCondition(**ns, "NamespaceFinalizersRemaining")->message(),
              HasSubstr("example.com/hold: 1"));
  EXPECT_FALSE(NamespaceGone("held"));

  // Whoever owns the finalizer finishes; the namespace can go.
  auto cm = client_->Get<api::ConfigMap>("held", "guarded");
  ASSERT_TRUE(cm.ok()) << cm.status();
  EXPECT_TRUE((*cm)->metadata().has_deletion_timestamp());
  api::ConfigMap released = **cm;
  released.mutable_metadata()->clear_finalizers();
  ASSERT_TRUE(client_->Update(released).ok());
  EXPECT_TRUE(WaitUntil([&] { return NamespaceGone("held"); }, Tick()));
}

TEST_F(NamespaceControllerTest, ActiveNamespacesAreLeftAlone) {
  MakeNamespace("busy");
  ASSERT_TRUE(MakeConfigMap("busy", "settings").ok());
  MakeNamespace("doomed");
  StartController();
  ASSERT_TRUE(DeleteNamespace("doomed").ok());
  ASSERT_TRUE(WaitUntil([&] { return NamespaceGone("doomed"); }, Tick()));
  auto busy = client_->Get<api::Namespace>("", "busy");
  ASSERT_TRUE(busy.ok()) << busy.status();
  EXPECT_FALSE((*busy)->metadata().has_deletion_timestamp());
  EXPECT_THAT((*busy)->status().conditions(), IsEmpty());
  EXPECT_EQ(Count(client_->KindOf<api::ConfigMap>(), "busy"), 1u);
}

TEST_F(NamespaceControllerTest, WorksAlongsideTheGarbageCollector) {
  MakeNamespace("apps");
  api::Deployment deployment;
  deployment.mutable_metadata()->set_namespace_("apps");
  deployment.mutable_metadata()->set_name("web");
  (*deployment.mutable_spec()->mutable_selector()->mutable_match_labels())["app"] = "web";
  (*deployment.mutable_spec()->mutable_template_()->mutable_metadata()->mutable_labels())["app"] =
      "web";
  *deployment.mutable_spec()->mutable_template_()->mutable_spec() = PodSpec();
  auto d = client_->Create(deployment);
  ASSERT_TRUE(d.ok()) << d.status();
  // A dependent holding its owner with a foreground finalizer of its own.
  api::ConfigMap cm;
  cm.mutable_metadata()->set_namespace_("apps");
  cm.mutable_metadata()->set_name("web-config");
  api::OwnerReference* ref = cm.mutable_metadata()->add_owner_references();
  ref->set_api_version("apps/v1");
  ref->set_kind("Deployment");
  ref->set_name("web");
  ref->set_uid((*d)->metadata().uid());
  ref->set_block_owner_deletion(true);
  ASSERT_TRUE(client_->Create(cm).ok());
  // Deleted in the foreground before the namespace goes: the collector
  // must finish that for the namespace to empty.
  client::DeleteOptions foreground;
  foreground.propagation_policy = "Foreground";
  ASSERT_TRUE(client_->Delete(client_->KindOf<api::Deployment>(), "apps", "web", foreground).ok());

  GarbageCollectorOptions gc_options;
  gc_options.clock = clock_;
  auto gc = GarbageCollector::Create(*client_, std::move(gc_options));
  ASSERT_TRUE(gc.ok()) << gc.status();
  (*gc)->Start();
  StartController();
  ASSERT_TRUE(DeleteNamespace("apps").ok());
  EXPECT_TRUE(WaitUntil([&] { return NamespaceGone("apps"); }, Tick()));
  EXPECT_EQ(Count(client_->KindOf<api::Deployment>(), "apps"), 0u);
  EXPECT_EQ(Count(client_->KindOf<api::ConfigMap>(), "apps"), 0u);
  (*gc)->Stop();
}

TEST_F(NamespaceControllerTest, StopIsPromptAndIdempotent) {
  StartController();
  const absl::Time start = absl::Now();
  controller_->Stop();
  controller_->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

}  // namespace
}  // namespace korch::controllers
