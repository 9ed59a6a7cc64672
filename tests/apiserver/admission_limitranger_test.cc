// LimitRanger: defaults from the namespace's LimitRanges, then min, max and
// ratio checks per container and per pod, worded as Kubernetes words them.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/core.pb.h"
#include "korch/api/defaults.h"
#include "korch/apiserver/admission.h"
#include "tests/apiserver/admission_test_util.h"

namespace korch::apiserver {
namespace {

using ::korch::apiserver::testing::FakeAttributes;
using ::korch::apiserver::testing::FakeCluster;
using ::korch::apiserver::testing::Yaml;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

class LimitRangerTest : public ::testing::Test {
 protected:
  // Stores a LimitRange as the registry would: defaulted.
  void AddLimitRange(absl::string_view yaml) {
    api::LimitRange lr = Yaml<api::LimitRange>(yaml);
    api::SetDefaults(&lr);
    cluster_.Put(lr);
  }

  // Runs the plugin as the chain does: mutate, then validate.
  absl::Status Admit(FakeAttributes& a) {
    if (absl::Status s = plugin_->Admit(a); !s.ok()) return s;
    return plugin_->Validate(a);
  }

  static const api::Pod& PodOf(const FakeAttributes& a) {
    return *static_cast<const api::Pod*>(a.object());
  }

  FakeCluster cluster_;
  std::shared_ptr<LimitRangerPlugin> plugin_ = NewLimitRanger();
};

TEST_F(LimitRangerTest, AppliesContainerDefaults) {
  AddLimitRange(R"(
metadata: {name: limits, namespace: ns}
spec:
  limits:
  - type: Container
    default: {cpu: 500m, memory: 256Mi}
    defaultRequest: {cpu: 100m}
)");
  EXPECT_EQ(static_cast<MutatingAdmissionPlugin&>(*plugin_).Name(), "LimitRanger");
  auto a = FakeAttributes::Create(&cluster_, Yaml<api::Pod>(R"(
metadata: {name: p, namespace: ns}
spec:
  initContainers:
  - name: init
    image: busybox
  containers:
  - name: app
    image: nginx
  - name: sized
    image: nginx
    resources:
      limits: {memory: 1Gi}
)"));
  ASSERT_TRUE(Admit(a).ok());
  const api::Pod& pod = PodOf(a);
  const api::ResourceRequirements& app = pod.spec().containers(0).resources();
  EXPECT_THAT(app.limits(), UnorderedElementsAre(Pair("cpu", "500m"), Pair("memory", "256Mi")));
  // The default request of memory falls back to the default limit.
  EXPECT_THAT(app.requests(), UnorderedElementsAre(Pair("cpu", "100m"), Pair("memory", "256Mi")));
  // A limit of its own implies an equal request, as pod defaulting does.
  const api::ResourceRequirements& sized = pod.spec().containers(1).resources();
  EXPECT_THAT(sized.limits(), UnorderedElementsAre(Pair("cpu", "500m"), Pair("memory", "1Gi")));
  EXPECT_THAT(sized.requests(), UnorderedElementsAre(Pair("cpu", "100m"), Pair("memory", "1Gi")));
  const api::ResourceRequirements& init = pod.spec().init_containers(0).resources();
  EXPECT_THAT(init.requests(), UnorderedElementsAre(Pair("cpu", "100m"), Pair("memory", "256Mi")));
  EXPECT_EQ(pod.metadata().annotations().at("kubernetes.io/limit-ranger"),
            "LimitRanger plugin set: cpu, memory request for container app; cpu, memory limit for "
            "container app; cpu request for container sized; cpu limit for container sized; cpu, "
            "memory request for init container init; cpu, memory limit for init container init");
}

TEST_F(LimitRangerTest, NoLimitRangeNoChange) {
  auto a = FakeAttributes::Create(&cluster_, Yaml<api::Pod>(R"(
metadata: {name: p, namespace: ns}
spec: {containers: [{name: app, image: nginx}]}
)"));
  ASSERT_TRUE(Admit(a).ok());
  EXPECT_FALSE(PodOf(a).spec().containers(0).has_resources());
  EXPECT_TRUE(PodOf(a).metadata().annotations().empty());
}

TEST_F(LimitRangerTest, RefusesContainersOutsideMinAndMax) {
  AddLimitRange(R"(
metadata: {name: limits, namespace: ns}
spec:
  limits:
  - type: Container
    min: {cpu: 100m}
    max: {memory: 1Gi}
)");
  auto a = FakeAttributes::Create(&cluster_, Yaml<api::Pod>(R"(
metadata: {name: x, namespace: ns}
spec:
  containers:
  - name: app
    image: nginx
    resources:
      requests: {cpu: 50m, memory: 100Mi}
      limits: {memory: 2Gi}
)"));
  absl::Status s = Admit(a);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(),
            "pods \"x\" is forbidden: [minimum cpu usage per Container is 100m, but request is "
            "50m, maximum memory usage per Container is 1Gi, but limit is 2Gi]");
}

TEST_F(LimitRangerTest, OneViolationHasNoBrackets) {
  AddLimitRange(R"(
metadata: {name: limits, namespace: ns}
spec:
  limits:
  - type: Container
    max: {cpu: "1"}
)");
  auto a = FakeAttributes::Create(&cluster_, Yaml<api::Pod>(R"(
metadata: {name: x, namespace: ns}
spec:
  containers:
  - name: app
    image: nginx
    resources:
      limits: {cpu: "2"}
)"));
  absl::Status s = Admit(a);
  EXPECT_EQ(s.message(),
            "pods \"x\" is forbidden: maximum cpu usage per Container is 1, but limit is 2");
}

TEST_F(LimitRangerTest, DefaultsSatisfyTheirOwnBounds) {
  // max alone makes it the default limit and request.
  AddLimitRange(R"(
metadata: {name: limits, namespace: ns}
spec:
  limits:
  - type: Container
    max: {cpu: "1", memory: 1Gi}
    min: {cpu: 10m}
)");
  auto a = FakeAttributes::Create(&cluster_, Yaml<api::Pod>(R"(
metadata: {name: p, namespace: ns}
spec: {containers: [{name: app, image: nginx}]}
)"));
  ASSERT_TRUE(Admit(a).ok());
  EXPECT_THAT(PodOf(a).spec().containers(0).resources().limits(),
              UnorderedElementsAre(Pair("cpu", "1"), Pair("memory", "1Gi")));
}

TEST_F(LimitRangerTest, MissingRequestOrLimit) {
  AddLimitRange(R"(
metadata: {name: limits, namespace: ns}
spec:
  limits:
  - type: Pod
    min: {cpu: 100m}
    max: {memory: 1Gi}
)");
  auto a = FakeAttributes::Create(&cluster_, Yaml<api::Pod>(R"(
metadata: {name: x, namespace: ns}
spec: {containers: [{name: app, image: nginx}]}
)"));
  absl::Status s = Admit(a);
  EXPECT_EQ(s.message(),
            "pods \"x\" is forbidden: [minimum cpu usage per Pod is 100m.  No request is "
            "specified, maximum memory usage per Pod is 1Gi.  No limit is specified]");
}

TEST_F(LimitRangerTest, PodLimitsSumTheContainers) {
  AddLimitRange(R"(
metadata: {name: limits, namespace: ns}
spec:
  limits:
  - type: Pod
    max: {memory: 1Gi}
)");
  auto a = FakeAttributes::Create(&cluster_, Yaml<api::Pod>(R"(
metadata: {name: x, namespace: ns}
spec:
  initContainers:
  - {name: init, image: busybox, resources: {limits: {memory: 900Mi}}}
  containers:
  - {name: a, image: nginx, resources: {limits: {memory: 768Mi}}}
  - {name: b, image: nginx, resources: {limits: {memory: 768Mi}}}
)"));
  absl::Status s = Admit(a);
  EXPECT_EQ(s.message(),
            "pods \"x\" is forbidden: maximum memory usage per Pod is 1Gi, but limit is 1536Mi");

  // Init containers run one at a time, before the others: the peak counts.
  auto ok = FakeAttributes::Create(&cluster_, Yaml<api::Pod>(R"(
metadata: {name: second, namespace: ns}
spec:
  initContainers:
  - {name: init1, image: busybox, resources: {limits: {memory: 900Mi}}}
  - {name: init2, image: busybox, resources: {limits: {memory: 900Mi}}}
  containers:
  - {name: a, image: nginx, resources: {limits: {memory: 512Mi}}}
)"));
  EXPECT_TRUE(Admit(ok).ok());
}

TEST_F(LimitRangerTest, LimitToRequestRatio) {
  AddLimitRange(R"(
metadata: {name: limits, namespace: ns}
spec:
  limits:
  - type: Container
    maxLimitRequestRatio: {cpu: "2"}
)");
  auto a = FakeAttributes::Create(&cluster_, Yaml<api::Pod>(R"(
metadata: {name: x, namespace: ns}
spec:
  containers:
  - name: app
    image: nginx
    resources:
      requests: {cpu: 250m}
      limits: {cpu: "1"}
)"));
  absl::Status s = Admit(a);
  EXPECT_EQ(s.message(),
            "pods \"x\" is forbidden: cpu max limit to request ratio per Container is 2, but "
            "provided ratio is 4.000000");

  auto exact = FakeAttributes::Create(&cluster_, Yaml<api::Pod>(R"(
metadata: {name: second, namespace: ns}
spec:
  containers:
  - name: app
    image: nginx
    resources:
      requests: {cpu: 500m}
      limits: {cpu: "1"}
)"));
  EXPECT_TRUE(Admit(exact).ok());

  auto unlimited = FakeAttributes::Create(&cluster_, Yaml<api::Pod>(R"(
metadata: {name: third, namespace: ns}
spec:
  containers:
  - {name: app, image: nginx, resources: {requests: {cpu: 500m}}}
)"));
  EXPECT_EQ(
      Admit(unlimited).message(),
      "pods \"third\" is forbidden: cpu max limit to request ratio per Container is 2, but no "
      "limit is specified or limit is 0");
}

TEST_F(LimitRangerTest, OnlyPodCreationIsChecked) {
  AddLimitRange(R"(
metadata: {name: limits, namespace: ns}
spec:
  limits:
  - type: Container
    max: {cpu: 100m}
)");
  api::Pod big = Yaml<api::Pod>(R"(
metadata: {name: x, namespace: ns}
spec:
  containers:
  - {name: app, image: nginx, resources: {limits: {cpu: "4"}}}
)");
  auto update = FakeAttributes::Update(&cluster_, big, big);
  EXPECT_TRUE(Admit(update).ok());
  auto status = FakeAttributes::Create(&cluster_, big);
  status.WithSubresource("status");
  EXPECT_TRUE(Admit(status).ok());
  api::ConfigMap cm;
  cm.mutable_metadata()->set_namespace_("ns");
  cm.mutable_metadata()->set_name("c");
  auto other = FakeAttributes::Create(&cluster_, cm);
  EXPECT_TRUE(Admit(other).ok());
  EXPECT_EQ(other.reads(), 0);
}

}  // namespace
}  // namespace korch::apiserver
