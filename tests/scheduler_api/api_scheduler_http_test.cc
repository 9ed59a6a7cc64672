// The ApiScheduler as a separate component would run it: over HTTP, with
// its own credentials, against a real HTTP server.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "korch/api/core.pb.h"
#include "korch/apiserver/authn.h"
#include "korch/apiserver/http_server.h"
#include "korch/apiserver/server.h"
#include "korch/client/client.h"
#include "korch/client/http_client.h"
#include "korch/scheduler/api_scheduler.h"
#include "korch/store.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace korch::scheduler {
namespace {

using ::korch::scheduler::testing::MakeNode;
using ::korch::scheduler::testing::MakePod;

constexpr char kToken[] = "scheduler-token";

template <typename F>
bool WaitUntil(F done, absl::Duration timeout = absl::Seconds(20)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

TEST(ApiSchedulerHttpTest, BindsAndRecordsEventsOverHttp) {
  auto storage = store::OpenMemoryStorage();
  ASSERT_TRUE(storage.ok()) << storage.status();
  apiserver::ApiServerOptions api_options;
  api_options.storage = storage->get();
  auto tokens = apiserver::TokenFileAuthenticator::FromString(
      absl::StrCat(kToken, ",system:kube-scheduler,1,system:masters\n"));
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  api_options.authenticator = std::shared_ptr<apiserver::Authenticator>(*std::move(tokens));
  auto api = apiserver::ApiServer::Create(std::move(api_options));
  ASSERT_TRUE(api.ok()) << api.status();
  apiserver::HttpServerOptions http_options;
  http_options.listen_address = "127.0.0.1:0";
  http_options.plain_http = true;
  auto http = apiserver::HttpServer::Start(**api, http_options);
  ASSERT_TRUE(http.ok()) << http.status();

  client::HttpClientOptions client_options;
  client_options.server = absl::StrCat("http://127.0.0.1:", (*http)->port());
  client_options.bearer_token = kToken;
  auto remote = client::NewHttpClient(client_options);
  ASSERT_TRUE(remote.ok()) << remote.status();
  auto local = client::NewInProcessClient(**api, apiserver::SystemUser());

  ApiSchedulerOptions options;
  options.client = remote->get();
  options.config.parallelism = 1;
  options.seed = 1;
  auto scheduler = ApiScheduler::Create(std::move(options));
  ASSERT_TRUE(scheduler.ok()) << scheduler.status();
  ASSERT_TRUE((*scheduler)->Start().ok());

  api::Node node = MakeNode("node-0").Cpu("4").Memory("8Gi");
  node.mutable_metadata()->clear_uid();
  ASSERT_TRUE(local->Create(node).ok());
  for (int i = 0; i < 3; ++i) {
    api::Pod pod = MakePod("default", absl::StrCat("web-", i)).Req("100m");
    pod.mutable_metadata()->clear_uid();
    ASSERT_TRUE(local->Create(pod).ok());
  }
  for (int i = 0; i < 3; ++i) {
    const std::string name = absl::StrCat("web-", i);
    ASSERT_TRUE(WaitUntil([&] {
      auto pod = local->Get<api::Pod>("default", name);
      return pod.ok() && (*pod)->spec().node_name() == "node-0";
    })) << name;
  }
  ASSERT_TRUE((*scheduler)->WaitForWrites(absl::Seconds(20)));
  auto events = local->List(local->KindOf<api::Event>(), "default");
  ASSERT_TRUE(events.ok()) << events.status();
  int scheduled = 0;
  for (const auto& item : events->items) {
    const auto& e = static_cast<const api::Event&>(*item);
    if (e.reason() == "Scheduled") ++scheduled;
  }
  EXPECT_EQ(scheduled, 3);
  EXPECT_EQ((*scheduler)->Stats().bindings, 3);

  (*scheduler)->Stop();
  scheduler->reset();
  (*http)->Shutdown();
}

}  // namespace
}  // namespace korch::scheduler
