// ResourceQuota admission: what is charged, what is refused (with
// Kubernetes' messages), releases, scopes, and that guarded charges make
// racing requests re-run instead of overshooting.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/apps.pb.h"
#include "korch/api/core.pb.h"
#include "korch/apiserver/admission.h"
#include "tests/apiserver/admission_test_util.h"

namespace korch::apiserver {
namespace {

using ::korch::apiserver::testing::FakeAttributes;
using ::korch::apiserver::testing::FakeCluster;
using ::korch::apiserver::testing::Yaml;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

api::Pod MakePod(absl::string_view name, absl::string_view cpu = "",
                 absl::string_view memory = "") {
  api::Pod pod;
  pod.mutable_metadata()->set_namespace_("ns");
  pod.mutable_metadata()->set_name(std::string(name));
  api::Container* c = pod.mutable_spec()->add_containers();
  c->set_name("app");
  c->set_image("nginx");
  auto* requests = c->mutable_resources()->mutable_requests();
  if (!cpu.empty()) (*requests)["cpu"] = std::string(cpu);
  if (!memory.empty()) (*requests)["memory"] = std::string(memory);
  return pod;
}

class ResourceQuotaTest : public ::testing::Test {
 protected:
  // Stores a quota whose status.used is already known.
  void AddQuota(absl::string_view yaml) { cluster_.Put(Yaml<api::ResourceQuota>(yaml)); }

  std::shared_ptr<const api::ResourceQuota> Quota(absl::string_view name = "q") {
    return cluster_.GetAs<api::ResourceQuota>("ns", name);
  }

  // Admits and, when admitted, commits like a successful request.
  absl::Status Run(FakeAttributes& a) {
    if (absl::Status s = plugin_->Validate(a); !s.ok()) return s;
    return a.Commit();
  }

  FakeCluster cluster_;
  std::shared_ptr<ValidatingAdmissionPlugin> plugin_ = NewResourceQuota();
};

TEST_F(ResourceQuotaTest, ChargesAPodCreate) {
  EXPECT_EQ(plugin_->Name(), "ResourceQuota");
  AddQuota(R"(
metadata: {name: q, namespace: ns}
spec: {hard: {pods: "10", requests.cpu: "2", count/pods: "10", configmaps: "5"}}
status:
  hard: {pods: "10", requests.cpu: "2", count/pods: "10", configmaps: "5"}
  used: {pods: "1", requests.cpu: 250m, count/pods: "1", configmaps: "0"}
)");
  auto a = FakeAttributes::Create(&cluster_, MakePod("p", "500m"));
  ASSERT_TRUE(plugin_->Validate(a).ok());
  ASSERT_EQ(a.updates().size(), 1u);
  const api::ResourceQuota* charged = a.UpdateAt<api::ResourceQuota>(0);
  ASSERT_NE(charged, nullptr);
  EXPECT_THAT(charged->status().used(),
              UnorderedElementsAre(Pair("pods", "2"), Pair("requests.cpu", "750m"),
                                   Pair("count/pods", "2"), Pair("configmaps", "0")));
  EXPECT_THAT(charged->status().hard(),
              UnorderedElementsAre(Pair("pods", "10"), Pair("requests.cpu", "2"),
                                   Pair("count/pods", "10"), Pair("configmaps", "5")));
  // The charge is guarded by the quota as it was read.
  EXPECT_EQ(charged->metadata().resource_version(), Quota()->metadata().resource_version());
}

TEST_F(ResourceQuotaTest, ExceededQuotaIsForbidden) {
  AddQuota(R"(
metadata: {name: q, namespace: ns}
spec: {hard: {pods: "2"}}
status: {hard: {pods: "2"}, used: {pods: "2"}}
)");
  auto a = FakeAttributes::Create(&cluster_, MakePod("x"));
  absl::Status s = plugin_->Validate(a);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(),
            "pods \"x\" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, "
            "limited: pods=2");
  EXPECT_THAT(a.updates(), IsEmpty());
}

TEST_F(ResourceQuotaTest, NamesEveryExceededResourceInOrder) {
  AddQuota(R"(
metadata: {name: compute, namespace: ns}
spec: {hard: {pods: "5", requests.memory: 1Gi, requests.cpu: "1", memory: 2Gi}}
status:
  used: {pods: "1", requests.memory: 768Mi, requests.cpu: 800m, memory: 768Mi}
)");
  auto a = FakeAttributes::Create(&cluster_, MakePod("x", "500m", "512Mi"));
  EXPECT_EQ(plugin_->Validate(a).message(),
            "pods \"x\" is forbidden: exceeded quota: compute, requested: "
            "requests.cpu=500m,requests.memory=512Mi, used: "
            "requests.cpu=800m,requests.memory=768Mi, limited: requests.cpu=1,requests.memory=1Gi");
}

TEST_F(ResourceQuotaTest, ComputeQuotaNeedsExplicitRequests) {
  AddQuota(R"(
metadata: {name: q, namespace: ns}
spec: {hard: {requests.cpu: "4", limits.memory: 4Gi}}
)");
  api::Pod pod = MakePod("x", "100m");
  api::Container* side = pod.mutable_spec()->add_containers();
  side->set_name("side");
  side->set_image("envoy");
  auto a = FakeAttributes::Create(&cluster_, pod);
  absl::Status s = plugin_->Validate(a);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(),
            "pods \"x\" is forbidden: failed quota: q: must specify limits.memory for: app,side; "
            "requests.cpu for: side");
}

TEST_F(ResourceQuotaTest, InitialisesUsageFromTheNamespace) {
  // A quota nobody has charged yet: status is empty.
  AddQuota(R"(
metadata: {name: q, namespace: ns}
spec: {hard: {pods: "3", requests.cpu: "10", count/pods: "10"}}
)");
  cluster_.Put(MakePod("running", "1"));
  api::Pod done = MakePod("done", "1");
  done.mutable_status()->set_phase("Succeeded");
  cluster_.Put(done);
  api::Pod leaving = MakePod("leaving", "1");
  leaving.mutable_metadata()->mutable_deletion_timestamp()->set_seconds(1700000000);
  cluster_.Put(leaving);
  api::Pod elsewhere = MakePod("elsewhere", "1");
  elsewhere.mutable_metadata()->set_namespace_("other");
  cluster_.Put(elsewhere);

  auto a = FakeAttributes::Create(&cluster_, MakePod("new", "2"));
  ASSERT_TRUE(Run(a).ok());
  // Finished pods keep their object count but release pods and compute;
  // pods being deleted hold nothing.
  EXPECT_THAT(
      Quota()->status().used(),
      UnorderedElementsAre(Pair("pods", "2"), Pair("requests.cpu", "3"), Pair("count/pods", "3")));
  EXPECT_THAT(Quota()->status().hard(),
              UnorderedElementsAre(Pair("pods", "3"), Pair("requests.cpu", "10"),
                                   Pair("count/pods", "10")));
}

TEST_F(ResourceQuotaTest, DeleteReleasesOnce) {
  AddQuota(R"(
metadata: {name: q, namespace: ns}
spec: {hard: {pods: "2", requests.cpu: "2"}}
status: {used: {pods: "2", requests.cpu: 1500m}}
)");
  api::Pod pod = MakePod("p", "500m");
  auto del = FakeAttributes::Delete(&cluster_, pod);
  ASSERT_TRUE(Run(del).ok());
  EXPECT_THAT(Quota()->status().used(),
              UnorderedElementsAre(Pair("pods", "1"), Pair("requests.cpu", "1")));

  // Deleting again (the grace period's end, a second kubectl delete) finds
  // the deletion already started and releases nothing more.
  pod.mutable_metadata()->mutable_deletion_timestamp()->set_seconds(1700000030);
  auto again = FakeAttributes::Delete(&cluster_, pod);
  ASSERT_TRUE(plugin_->Validate(again).ok());
  EXPECT_THAT(again.updates(), IsEmpty());
}

TEST_F(ResourceQuotaTest, ReleaseNeverGoesNegative) {
  AddQuota(R"(
metadata: {name: q, namespace: ns}
spec: {hard: {pods: "2"}}
status: {used: {pods: "0"}}
)");
  auto del = FakeAttributes::Delete(&cluster_, MakePod("p"));
  ASSERT_TRUE(Run(del).ok());
  EXPECT_THAT(Quota()->status().used(), UnorderedElementsAre(Pair("pods", "0")));
}

TEST_F(ResourceQuotaTest, FinishingAPodReleasesItsComputeResources) {
  AddQuota(R"(
metadata: {name: q, namespace: ns}
spec: {hard: {pods: "2", requests.cpu: "2", count/pods: "5"}}
status: {used: {pods: "2", requests.cpu: "2", count/pods: "2"}}
)");
  api::Pod running = MakePod("p", "1");
  running.mutable_status()->set_phase("Running");
  api::Pod done = running;
  done.mutable_status()->set_phase("Failed");
  auto a = FakeAttributes::Update(&cluster_, done, running);
  a.WithSubresource("status");
  ASSERT_TRUE(Run(a).ok());
  EXPECT_THAT(
      Quota()->status().used(),
      UnorderedElementsAre(Pair("pods", "1"), Pair("requests.cpu", "1"), Pair("count/pods", "2")));

  // A status update that changes no usage writes nothing.
  api::Pod ready = running;
  ready.mutable_status()->set_pod_ip("10.0.0.5");
  auto b = FakeAttributes::Update(&cluster_, ready, running);
  b.WithSubresource("status");
  ASSERT_TRUE(plugin_->Validate(b).ok());
  EXPECT_THAT(b.updates(), IsEmpty());
  EXPECT_EQ(b.reads(), 0);
}

TEST_F(ResourceQuotaTest, ObjectCountsByResourceName) {
  AddQuota(R"(
metadata: {name: q, namespace: ns}
spec: {hard: {count/deployments.apps: "1", configmaps: "1", count/configmaps: "1"}}
status: {used: {count/deployments.apps: "1", configmaps: "0", count/configmaps: "0"}}
)");
  api::Deployment d;
  d.mutable_metadata()->set_namespace_("ns");
  d.mutable_metadata()->set_name("web");
  auto a = FakeAttributes::Create(&cluster_, d);
  EXPECT_EQ(plugin_->Validate(a).message(),
            "deployments.apps \"web\" is forbidden: exceeded quota: q, requested: "
            "count/deployments.apps=1, used: count/deployments.apps=1, limited: "
            "count/deployments.apps=1");

  api::ConfigMap cm;
  cm.mutable_metadata()->set_namespace_("ns");
  cm.mutable_metadata()->set_name("c");
  auto b = FakeAttributes::Create(&cluster_, cm);
  ASSERT_TRUE(Run(b).ok());
  EXPECT_THAT(Quota()->status().used(),
              UnorderedElementsAre(Pair("count/deployments.apps", "1"), Pair("configmaps", "1"),
                                   Pair("count/configmaps", "1")));

  // Updates of counted objects change no count.
  auto c = FakeAttributes::Update(&cluster_, cm, cm);
  ASSERT_TRUE(plugin_->Validate(c).ok());
  EXPECT_THAT(c.updates(), IsEmpty());
}

TEST_F(ResourceQuotaTest, ServiceNodePortsAndLoadBalancers) {
  AddQuota(R"(
metadata: {name: q, namespace: ns}
spec: {hard: {services: "10", services.nodeports: "2", services.loadbalancers: "1"}}
status: {used: {services: "0", services.nodeports: "0", services.loadbalancers: "0"}}
)");
  api::Service svc = Yaml<api::Service>(R"(
metadata: {name: web, namespace: ns}
spec:
  type: NodePort
  ports: [{port: 80}, {port: 443}]
)");
  auto a = FakeAttributes::Create(&cluster_, svc);
  ASSERT_TRUE(Run(a).ok());
  EXPECT_THAT(Quota()->status().used(),
              UnorderedElementsAre(Pair("services", "1"), Pair("services.nodeports", "2"),
                                   Pair("services.loadbalancers", "0")));
  // Turning a ClusterIP service into a load balancer charges the change.
  api::Service plain = Yaml<api::Service>(R"(
metadata: {name: db, namespace: ns}
spec: {ports: [{port: 5432}]}
)");
  api::Service lb = plain;
  lb.mutable_spec()->set_type("LoadBalancer");
  auto b = FakeAttributes::Update(&cluster_, lb, plain);
  EXPECT_EQ(plugin_->Validate(b).message(),
            "services \"db\" is forbidden: exceeded quota: q, requested: services.nodeports=1, "
            "used: services.nodeports=2, limited: services.nodeports=2");
}

TEST_F(ResourceQuotaTest, ScopesSelectPods) {
  AddQuota(R"(
metadata: {name: besteffort, namespace: ns}
spec: {hard: {pods: "1"}, scopes: [BestEffort]}
status: {used: {pods: "1"}}
)");
  AddQuota(R"(
metadata: {name: critical, namespace: ns}
spec:
  hard: {pods: "5"}
  scopeSelector:
    matchExpressions:
    - {scopeName: PriorityClass, operator: In, values: [high]}
status: {used: {pods: "0"}}
)");
  AddQuota(R"(
metadata: {name: short, namespace: ns}
spec: {hard: {pods: "5"}, scopes: [Terminating]}
status: {used: {pods: "0"}}
)");
  // Has requests: not BestEffort, no class, no deadline: no quota applies.
  auto sized = FakeAttributes::Create(&cluster_, MakePod("sized", "100m"));
  ASSERT_TRUE(plugin_->Validate(sized).ok());
  EXPECT_THAT(sized.updates(), IsEmpty());

  auto bare = FakeAttributes::Create(&cluster_, MakePod("bare"));
  EXPECT_EQ(plugin_->Validate(bare).message(),
            "pods \"bare\" is forbidden: exceeded quota: besteffort, requested: pods=1, used: "
            "pods=1, limited: pods=1");

  api::Pod high = MakePod("high", "100m");
  high.mutable_spec()->set_priority_class_name("high");
  high.mutable_spec()->set_active_deadline_seconds(60);
  auto h = FakeAttributes::Create(&cluster_, high);
  ASSERT_TRUE(plugin_->Validate(h).ok());
  ASSERT_EQ(h.updates().size(), 2u);
  EXPECT_EQ(h.UpdateAt<api::ResourceQuota>(0)->metadata().name(), "critical");
  EXPECT_EQ(h.UpdateAt<api::ResourceQuota>(1)->metadata().name(), "short");

  // Scoped quotas track only pods.
  api::ConfigMap cm;
  cm.mutable_metadata()->set_namespace_("ns");
  cm.mutable_metadata()->set_name("c");
  auto c = FakeAttributes::Create(&cluster_, cm);
  ASSERT_TRUE(plugin_->Validate(c).ok());
  EXPECT_THAT(c.updates(), IsEmpty());
}

TEST_F(ResourceQuotaTest, UnrelatedWritesLeaveQuotasAlone) {
  AddQuota(R"(
metadata: {name: q, namespace: ns}
spec: {hard: {pods: "1"}}
)");
  api::Secret secret;
  secret.mutable_metadata()->set_namespace_("ns");
  secret.mutable_metadata()->set_name("s");
  auto a = FakeAttributes::Create(&cluster_, secret);
  ASSERT_TRUE(plugin_->Validate(a).ok());
  EXPECT_THAT(a.updates(), IsEmpty());
  // Cluster-scoped objects and subresources other than pod status: no reads.
  api::Node node;
  node.mutable_metadata()->set_name("n");
  auto n = FakeAttributes::Create(&cluster_, node);
  ASSERT_TRUE(plugin_->Validate(n).ok());
  auto binding = FakeAttributes::Create(&cluster_, MakePod("p"));
  binding.WithSubresource("binding");
  ASSERT_TRUE(plugin_->Validate(binding).ok());
  EXPECT_EQ(n.reads() + binding.reads(), 0);
}

TEST_F(ResourceQuotaTest, QuotasCountThemselvesOnlyInOtherQuotas) {
  AddQuota(R"(
metadata: {name: q, namespace: ns}
spec: {hard: {resourcequotas: "2"}}
status: {used: {resourcequotas: "1"}}
)");
  api::ResourceQuota second = Yaml<api::ResourceQuota>(R"(
metadata: {name: second, namespace: ns}
spec: {hard: {pods: "1"}}
)");
  auto a = FakeAttributes::Create(&cluster_, second);
  ASSERT_TRUE(Run(a).ok());
  EXPECT_THAT(Quota()->status().used(), UnorderedElementsAre(Pair("resourcequotas", "2")));
  cluster_.Put(second);
  // Deleting q itself writes nothing to q (it is the request's own object).
  auto del = FakeAttributes::Delete(&cluster_, *Quota());
  ASSERT_TRUE(plugin_->Validate(del).ok());
  EXPECT_THAT(del.updates(), IsEmpty());
}

TEST_F(ResourceQuotaTest, RacingRequestsCannotBothTakeTheLastSlot) {
  AddQuota(R"(
metadata: {name: q, namespace: ns}
spec: {hard: {pods: "1"}}
status: {used: {pods: "0"}}
)");
  // Both are admitted against the same quota state...
  auto first = FakeAttributes::Create(&cluster_, MakePod("a"));
  auto second = FakeAttributes::Create(&cluster_, MakePod("b"));
  ASSERT_TRUE(plugin_->Validate(first).ok());
  ASSERT_TRUE(plugin_->Validate(second).ok());
  // ...but only the first commit's guard holds; the registry then re-runs
  // admission for the second, which now sees the quota full.
  ASSERT_TRUE(first.Commit().ok());
  EXPECT_EQ(second.Commit().code(), absl::StatusCode::kAborted);
  auto retry = FakeAttributes::Create(&cluster_, MakePod("b"));
  EXPECT_EQ(plugin_->Validate(retry).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(Quota()->status().used(), UnorderedElementsAre(Pair("pods", "1")));
}

TEST_F(ResourceQuotaTest, ExtendedResourcesAndOverhead) {
  AddQuota(R"(
metadata: {name: q, namespace: ns}
spec: {hard: {requests.example.com/gpu: "2", requests.memory: 1Gi, limits.memory: 2Gi}}
status: {used: {requests.example.com/gpu: "0", requests.memory: "0", limits.memory: "0"}}
)");
  api::Pod pod = Yaml<api::Pod>(R"(
metadata: {name: p, namespace: ns}
spec:
  overhead: {memory: 64Mi}
  containers:
  - name: app
    image: cuda
    resources:
      requests: {example.com/gpu: "1", memory: 256Mi}
      limits: {example.com/gpu: "1", memory: 512Mi}
)");
  auto a = FakeAttributes::Create(&cluster_, pod);
  ASSERT_TRUE(Run(a).ok());
  EXPECT_THAT(Quota()->status().used(), UnorderedElementsAre(Pair("requests.example.com/gpu", "1"),
                                                             Pair("requests.memory", "320Mi"),
                                                             Pair("limits.memory", "576Mi")));
}

}  // namespace
}  // namespace korch::apiserver
