#include "korch/agent/simulated_nodes.h"

#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/coordination.pb.h"
#include "korch/api/core.pb.h"
#include "korch/apiserver/server.h"
#include "korch/base/clock.h"
#include "korch/client/client.h"
#include "korch/store.h"

namespace korch::agent {
namespace {

using ::testing::HasSubstr;

// Polls `done` in real time until it holds or 10 s pass.
template <typename F>
bool WaitUntil(F done) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return done();
}

class SimulatedNodesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto storage = store::OpenMemoryStorage();
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
    apiserver::ApiServerOptions options;
    options.storage = storage_.get();
    options.clock = clock_.get();
    auto server = apiserver::ApiServer::Create(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client_ = client::NewInProcessClient(*server_, apiserver::SystemUser());
  }

  void TearDown() override {
    nodes_.reset();
    client_.reset();
    server_.reset();
  }

  void StartNodes(int count) {
    SimulatedNodesOptions options;
    options.count = count;
    options.zones = 2;
    options.labels = {{"pool", "sim"}};
    options.clock = clock_;
    auto nodes = SimulatedNodes::Create(*client_, std::move(options));
    ASSERT_TRUE(nodes.ok()) << nodes.status();
    nodes_ = *std::move(nodes);
    ASSERT_TRUE(nodes_->Start().ok());
  }

  api::Pod MakePod(const std::string& name, const std::string& node) {
    api::Pod pod;
    pod.mutable_metadata()->set_name(name);
    pod.mutable_metadata()->set_namespace_("default");
    pod.mutable_spec()->set_node_name(node);
    api::Container* c = pod.mutable_spec()->add_containers();
    c->set_name("app");
    c->set_image("nginx:1.25");
    return pod;
  }

  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(absl::FromUnixSeconds(1e9));
  std::unique_ptr<store::Storage> storage_;
  std::unique_ptr<apiserver::ApiServer> server_;
  std::unique_ptr<client::Client> client_;
  std::unique_ptr<SimulatedNodes> nodes_;
};

TEST_F(SimulatedNodesTest, RegistersReadyNodesWithCapacityLabelsAndLeases) {
  StartNodes(3);
  EXPECT_THAT(nodes_->NodeNames(),
              ::testing::ElementsAre("sim-node-0", "sim-node-1", "sim-node-2"));
  auto node = client_->Get<api::Node>("", "sim-node-1");
  ASSERT_TRUE(node.ok()) << node.status();
  const auto& labels = (*node)->metadata().labels();
  EXPECT_EQ(labels.at("kubernetes.io/hostname"), "sim-node-1");
  EXPECT_EQ(labels.at("topology.kubernetes.io/zone"), "zone-1");
  EXPECT_EQ(labels.at("pool"), "sim");
  EXPECT_EQ((*node)->status().allocatable().at("cpu"), "8");
  EXPECT_EQ((*node)->status().capacity().at("pods"), "110");
  bool ready = false;
  for (const auto& c : (*node)->status().conditions()) {
    if (c.type() == "Ready") ready = c.status() == "True";
  }
  EXPECT_TRUE(ready);
  auto lease = client_->Get<api::Lease>("kube-node-lease", "sim-node-2");
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ((*lease)->spec().holder_identity(), "sim-node-2");
  const int64_t renewed = (*lease)->spec().renew_time().seconds();

  // Heartbeats follow the (fake) clock.
  clock_->Advance(absl::Seconds(11));
  EXPECT_TRUE(WaitUntil([&] {
    auto l = client_->Get<api::Lease>("kube-node-lease", "sim-node-2");
    return l.ok() && (*l)->spec().renew_time().seconds() > renewed;
  }));
}

TEST_F(SimulatedNodesTest, BoundPodsRunAndGracefulDeletesComplete) {
  StartNodes(2);
  ASSERT_TRUE(client_->Create(MakePod("web", "sim-node-1")).ok());
  ASSERT_TRUE(client_->Create(MakePod("elsewhere", "real-node")).ok());
  ASSERT_TRUE(WaitUntil([&] {
    auto p = client_->Get<api::Pod>("default", "web");
    return p.ok() && (*p)->status().phase() == "Running";
  }));
  auto pod = client_->Get<api::Pod>("default", "web");
  ASSERT_TRUE(pod.ok());
  EXPECT_THAT((*pod)->status().pod_ip(), HasSubstr("10.244."));
  ASSERT_EQ((*pod)->status().container_statuses_size(), 1);
  EXPECT_TRUE((*pod)->status().container_statuses(0).ready());
  EXPECT_TRUE(WaitUntil([&] { return nodes_->PodsStarted() == 1; }));
  // A pod on a node it does not simulate is left alone.
  auto other = client_->Get<api::Pod>("default", "elsewhere");
  ASSERT_TRUE(other.ok());
  EXPECT_NE((*other)->status().phase(), "Running");

  // A graceful delete (30 s) is confirmed at once, as a kubelet does when
  // the containers have stopped.
  auto deleted = client_->Delete(client_->KindOf<api::Pod>(), "default", "web");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_TRUE(WaitUntil(
      [&] { return absl::IsNotFound(client_->Get<api::Pod>("default", "web").status()); }));
}

TEST_F(SimulatedNodesTest, RestartTakesOverExistingNodes) {
  StartNodes(1);
  nodes_->Stop();
  nodes_.reset();
  StartNodes(1);
  auto node = client_->Get<api::Node>("", "sim-node-0");
  ASSERT_TRUE(node.ok());
  EXPECT_EQ((*node)->metadata().labels().at("pool"), "sim");
}

TEST(SimulatedNodesOptionsTest, BadOptionsNameTheField) {
  auto storage = store::OpenMemoryStorage();
  ASSERT_TRUE(storage.ok());
  apiserver::ApiServerOptions options;
  options.storage = storage->get();
  auto server = apiserver::ApiServer::Create(std::move(options));
  ASSERT_TRUE(server.ok());
  auto client = client::NewInProcessClient(**server, apiserver::SystemUser());
  SimulatedNodesOptions bad;
  bad.count = 1;
  bad.capacity = {{"cpu", "eight"}};
  auto nodes = SimulatedNodes::Create(*client, bad);
  ASSERT_FALSE(nodes.ok());
  EXPECT_THAT(nodes.status().message(), HasSubstr("capacity[cpu]"));
  SimulatedNodesOptions negative;
  negative.count = -1;
  EXPECT_EQ(SimulatedNodes::Create(*client, negative).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace korch::agent
