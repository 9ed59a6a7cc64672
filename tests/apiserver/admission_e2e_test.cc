// The built-in admission chain inside a real ApiServer over the in-memory
// store: quota under concurrent creates, namespace lifecycle, and the
// mutating plugins' effect on stored pods.

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/core.pb.h"
#include "korch/api/object.h"
#include "korch/api/scheduling.pb.h"
#include "korch/api/scheme.h"
#include "korch/apiserver/admission.h"
#include "korch/apiserver/request.h"
#include "korch/apiserver/server.h"
#include "korch/base/clock.h"
#include "korch/store.h"

namespace korch::apiserver {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

template <typename T>
const api::KindInfo& Kind() {
  return *api::Scheme::Builtin().Find(T::descriptor());
}

api::Pod PodNamed(absl::string_view ns, absl::string_view name) {
  api::Pod pod;
  pod.mutable_metadata()->set_namespace_(std::string(ns));
  pod.mutable_metadata()->set_name(std::string(name));
  api::Container* c = pod.mutable_spec()->add_containers();
  c->set_name("app");
  c->set_image("nginx:1.25");
  return pod;
}

class AdmissionE2eTest : public ::testing::Test {
 protected:
  virtual store::RocksDbStorageOptions StorageOptions() const { return {}; }

  void SetUp() override {
    absl::StatusOr<std::unique_ptr<store::Storage>> storage =
        store::OpenMemoryStorage(StorageOptions());
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
    ApiServerOptions options;
    options.storage = storage_.get();
    options.clock = &clock_;
    options.admission = DefaultAdmissionChain();
    absl::StatusOr<std::unique_ptr<ApiServer>> server = ApiServer::Create(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_TRUE(CreateNamespace("team").ok());
  }

  void TearDown() override {
    server_.reset();
    storage_.reset();
  }

  absl::Status CreateNamespace(absl::string_view name) {
    api::Namespace ns;
    ns.mutable_metadata()->set_name(std::string(name));
    return Create(ns).status();
  }

  template <typename T>
  absl::StatusOr<std::shared_ptr<const T>> Create(const T& object) {
    const api::ObjectMeta* meta = api::ObjectMetaOf(object);
    absl::StatusOr<ObjectPtr> r =
        server_->Create(user_, Kind<T>(), meta->namespace_(), "", std::make_unique<T>(object), {});
    if (!r.ok()) return r.status();
    return std::static_pointer_cast<const T>(*std::move(r));
  }

  template <typename T>
  absl::StatusOr<std::shared_ptr<const T>> Get(absl::string_view ns, absl::string_view name) {
    absl::StatusOr<ObjectPtr> r = server_->Get(user_, Kind<T>(), ns, name, {});
    if (!r.ok()) return r.status();
    return std::static_pointer_cast<const T>(*std::move(r));
  }

  absl::Status Delete(const api::KindInfo& kind, absl::string_view ns, absl::string_view name) {
    return server_->Delete(user_, kind, ns, name, {}).status();
  }

  absl::Status AddQuota(absl::string_view name, absl::string_view resource,
                        absl::string_view hard) {
    api::ResourceQuota quota;
    quota.mutable_metadata()->set_namespace_("team");
    quota.mutable_metadata()->set_name(std::string(name));
    (*quota.mutable_spec()->mutable_hard())[std::string(resource)] = std::string(hard);
    return Create(quota).status();
  }

  FakeClock clock_;
  std::unique_ptr<store::Storage> storage_;
  std::unique_ptr<ApiServer> server_;
  UserInfo user_ = SystemUser();
};

TEST_F(AdmissionE2eTest, ConcurrentCreatesNeverExceedTheQuota) {
  ASSERT_TRUE(AddQuota("q", "pods", "10").ok());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 4;
  std::atomic<int> created{0};
  std::atomic<int> refused{0};
  absl::Mutex mu;
  std::vector<std::string> unexpected;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        absl::StatusOr<std::shared_ptr<const api::Pod>> r =
            Create(PodNamed("team", absl::StrCat("p-", t, "-", i)));
        if (r.ok()) {
          ++created;
        } else if (r.status().code() == absl::StatusCode::kPermissionDenied &&
                   absl::StrContains(r.status().message(), "exceeded quota: q")) {
          ++refused;
        } else {
          absl::MutexLock lock(&mu);
          unexpected.push_back(r.status().ToString());
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_THAT(unexpected, ::testing::IsEmpty());
  EXPECT_EQ(created.load(), 10);
  EXPECT_EQ(refused.load(), kThreads * kPerThread - 10);

  absl::StatusOr<std::shared_ptr<const api::ResourceQuota>> quota =
      Get<api::ResourceQuota>("team", "q");
  ASSERT_TRUE(quota.ok()) << quota.status();
  EXPECT_THAT((*quota)->status().used(), UnorderedElementsAre(Pair("pods", "10")));
  EXPECT_THAT((*quota)->status().hard(), UnorderedElementsAre(Pair("pods", "10")));
  absl::StatusOr<ListResult> pods = server_->List(user_, Kind<api::Pod>(), "team", {});
  ASSERT_TRUE(pods.ok()) << pods.status();
  EXPECT_EQ(pods->items.size(), 10u);

  absl::StatusOr<std::shared_ptr<const api::Pod>> more = Create(PodNamed("team", "one-more"));
  EXPECT_EQ(more.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(more.status().message(),
            "pods \"one-more\" is forbidden: exceeded quota: q, requested: pods=1, used: "
            "pods=10, limited: pods=10");
}

TEST_F(AdmissionE2eTest, DeletingReleasesQuota) {
  ASSERT_TRUE(AddQuota("q", "pods", "1").ok());
  ASSERT_TRUE(Create(PodNamed("team", "a")).ok());
  EXPECT_EQ(Create(PodNamed("team", "b")).status().code(), absl::StatusCode::kPermissionDenied);
  // An unscheduled pod goes at once.
  ASSERT_TRUE(Delete(Kind<api::Pod>(), "team", "a").ok());
  absl::StatusOr<std::shared_ptr<const api::ResourceQuota>> quota =
      Get<api::ResourceQuota>("team", "q");
  ASSERT_TRUE(quota.ok());
  EXPECT_THAT((*quota)->status().used(), UnorderedElementsAre(Pair("pods", "0")));
  EXPECT_TRUE(Create(PodNamed("team", "b")).ok());
}

TEST_F(AdmissionE2eTest, QuotaCountsWhatExistedBeforeIt) {
  ASSERT_TRUE(Create(PodNamed("team", "old-1")).ok());
  ASSERT_TRUE(Create(PodNamed("team", "old-2")).ok());
  ASSERT_TRUE(AddQuota("q", "count/pods", "3").ok());
  ASSERT_TRUE(Create(PodNamed("team", "new-1")).ok());
  absl::StatusOr<std::shared_ptr<const api::Pod>> r = Create(PodNamed("team", "new-2"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status().message(), HasSubstr("used: count/pods=3, limited: count/pods=3"));
}

TEST_F(AdmissionE2eTest, TerminatingNamespaceRefusesNewContent) {
  ASSERT_TRUE(CreateNamespace("doomed").ok());
  ASSERT_TRUE(Create(PodNamed("doomed", "before")).ok());
  // No namespace controller runs here: the namespace stays Terminating.
  ASSERT_TRUE(Delete(Kind<api::Namespace>(), "", "doomed").ok());
  absl::StatusOr<std::shared_ptr<const api::Pod>> r = Create(PodNamed("doomed", "after"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(r.status().message(),
            "pods \"after\" is forbidden: unable to create new content in namespace doomed "
            "because it is being terminated");
  api::Status status = ToKubernetesStatus(r.status());
  EXPECT_EQ(status.code(), 403);
  EXPECT_EQ(status.reason(), "Forbidden");
  // What is inside may still go.
  EXPECT_TRUE(Delete(Kind<api::Pod>(), "doomed", "before").ok());

  absl::StatusOr<std::shared_ptr<const api::Pod>> missing = Create(PodNamed("nowhere", "p"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "namespaces \"nowhere\" not found");

  absl::Status s = Delete(Kind<api::Namespace>(), "", "default");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "namespaces \"default\" is forbidden: this namespace may not be deleted");
}

TEST_F(AdmissionE2eTest, MutatingPluginsShapeStoredPods) {
  api::LimitRange lr;
  lr.mutable_metadata()->set_namespace_("team");
  lr.mutable_metadata()->set_name("limits");
  api::LimitRangeItem* item = lr.mutable_spec()->add_limits();
  item->set_type("Container");
  (*item->mutable_default_())["cpu"] = "200m";
  (*item->mutable_default_request())["cpu"] = "100m";
  (*item->mutable_max())["memory"] = "1Gi";
  ASSERT_TRUE(Create(lr).ok());

  absl::StatusOr<std::shared_ptr<const api::Pod>> pod = Create(PodNamed("team", "shaped"));
  ASSERT_TRUE(pod.ok()) << pod.status();
  const api::PodSpec& spec = (*pod)->spec();
  EXPECT_EQ(spec.tolerations_size(), 2);
  EXPECT_EQ(spec.priority(), 0);
  const api::ResourceRequirements& r = spec.containers(0).resources();
  // The LimitRange's stored defaults: max memory doubles as the default.
  EXPECT_THAT(r.limits(), UnorderedElementsAre(Pair("cpu", "200m"), Pair("memory", "1Gi")));
  EXPECT_THAT(r.requests(), UnorderedElementsAre(Pair("cpu", "100m"), Pair("memory", "1Gi")));

  api::Pod greedy = PodNamed("team", "greedy");
  (*greedy.mutable_spec()->mutable_containers(0)->mutable_resources()->mutable_limits())["memory"] =
      "2Gi";
  EXPECT_EQ(Create(greedy).status().message(),
            "pods \"greedy\" is forbidden: maximum memory usage per Container is 1Gi, but limit "
            "is 2Gi");

  api::Pod critical = PodNamed("team", "critical");
  critical.mutable_spec()->set_priority_class_name("system-cluster-critical");
  absl::StatusOr<std::shared_ptr<const api::Pod>> c = Create(critical);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->spec().priority(), 2000000000);
}

// The store keeps few events for watchers here, so that the API server's
// in-memory copy of what admission lists (LimitRanges, PriorityClasses,
// ResourceQuotas) loses its watch and starts again in the middle.
class AdmissionFreshnessTest : public AdmissionE2eTest {
 protected:
  store::RocksDbStorageOptions StorageOptions() const override {
    store::RocksDbStorageOptions o;
    o.window_events = 8;
    o.max_pending_events = 8;
    return o;
  }

  absl::StatusOr<std::shared_ptr<const api::Pod>> CreatePod() {
    return Create(PodNamed("team", absl::StrCat("p-", ++pods_)));
  }

  int pods_ = 0;
};

TEST_F(AdmissionFreshnessTest, AdmissionSeesEveryWriteMadeBeforeTheRequest) {
  api::LimitRange lr;
  lr.mutable_metadata()->set_namespace_("team");
  lr.mutable_metadata()->set_name("limits");
  api::LimitRangeItem* item = lr.mutable_spec()->add_limits();
  item->set_type("Container");
  (*item->mutable_default_())["cpu"] = "200m";
  absl::StatusOr<std::shared_ptr<const api::LimitRange>> stored = Create(lr);
  ASSERT_TRUE(stored.ok()) << stored.status();
  absl::StatusOr<std::shared_ptr<const api::Pod>> pod = CreatePod();
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_THAT((*pod)->spec().containers(0).resources().limits(),
              UnorderedElementsAre(Pair("cpu", "200m")));

  // A change is seen by the next create.
  auto changed = std::make_unique<api::LimitRange>(**stored);
  (*changed->mutable_spec()->mutable_limits(0)->mutable_default_())["cpu"] = "300m";
  ASSERT_TRUE(
      server_->Update(user_, Kind<api::LimitRange>(), "team", "limits", std::move(changed), {})
          .ok());
  pod = CreatePod();
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_THAT((*pod)->spec().containers(0).resources().limits(),
              UnorderedElementsAre(Pair("cpu", "300m")));

  // Many other writes: more than the store keeps for a watcher.
  for (int i = 0; i < 40; ++i) {
    api::ConfigMap cm;
    cm.mutable_metadata()->set_namespace_("team");
    cm.mutable_metadata()->set_name(absl::StrCat("cm-", i));
    ASSERT_TRUE(Create(cm).ok());
  }
  pod = CreatePod();
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_THAT((*pod)->spec().containers(0).resources().limits(),
              UnorderedElementsAre(Pair("cpu", "300m")));

  ASSERT_TRUE(Delete(Kind<api::LimitRange>(), "team", "limits").ok());
  pod = CreatePod();
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_TRUE((*pod)->spec().containers(0).resources().limits().empty());

  // A global default PriorityClass applies from the next pod on, and no
  // longer once deleted.
  api::PriorityClass pc;
  pc.mutable_metadata()->set_name("everyone");
  pc.set_value(1000);
  pc.set_global_default(true);
  ASSERT_TRUE(Create(pc).ok());
  pod = CreatePod();
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ((*pod)->spec().priority(), 1000);
  EXPECT_EQ((*pod)->spec().priority_class_name(), "everyone");
  ASSERT_TRUE(Delete(Kind<api::PriorityClass>(), "", "everyone").ok());
  pod = CreatePod();
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ((*pod)->spec().priority(), 0);

  // A quota counts from the next create, including what exists.
  ASSERT_TRUE(AddQuota("q", "count/pods", absl::StrCat(pods_ + 1)).ok());
  EXPECT_TRUE(CreatePod().ok());
  EXPECT_EQ(CreatePod().status().code(), absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace korch::apiserver
