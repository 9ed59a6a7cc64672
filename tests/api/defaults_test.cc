#include "korch/api/defaults.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "korch/api/codec.h"
#include "korch/api/coordination.pb.h"
#include "korch/api/scheme.h"

namespace korch::api {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// Objects are written in protobuf text format (proto field names), so
// that these tests depend on nothing but the generated classes.
template <typename T>
T Parse(const std::string& text) {
  T message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message)) << text;
  return message;
}

template <typename T>
T Defaulted(T object) {
  SetDefaults(&object);
  return object;
}

std::string Diff(const google::protobuf::Message& a, const google::protobuf::Message& b) {
  std::string report;
  MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&report);
  differencer.Compare(a, b);
  return report;
}

// Applying defaults to an already defaulted object changes nothing.
template <typename T>
void ExpectIdempotent(const T& object) {
  T once = Defaulted(object);
  T twice = Defaulted(once);
  EXPECT_TRUE(MessageDifferencer::Equals(once, twice)) << Diff(once, twice);
}

// ---- Pod ---------------------------------------------------------------------

TEST(DefaultsPodTest, FillsEveryUnsetField) {
  Pod pod = Defaulted(Parse<Pod>(R"pb(
    metadata { name: "web" namespace: "default" }
    spec { containers { name: "app" image: "nginx:1.25" } }
  )pb"));
  const PodSpec& spec = pod.spec();
  EXPECT_EQ(spec.restart_policy(), "Always");
  EXPECT_EQ(spec.termination_grace_period_seconds(), 30);
  EXPECT_EQ(spec.dns_policy(), "ClusterFirst");
  EXPECT_EQ(spec.scheduler_name(), "default-scheduler");
  EXPECT_TRUE(spec.has_security_context());
  EXPECT_EQ(spec.security_context().ByteSizeLong(), 0u);
  ASSERT_TRUE(spec.has_enable_service_links());
  EXPECT_TRUE(spec.enable_service_links());
  const Container& c = spec.containers(0);
  EXPECT_EQ(c.termination_message_path(), "/dev/termination-log");
  EXPECT_EQ(c.termination_message_policy(), "File");
  EXPECT_EQ(c.image_pull_policy(), "IfNotPresent");
}

TEST(DefaultsPodTest, LeavesWhatAdmissionAndRegistriesSet) {
  Pod pod = Defaulted(Parse<Pod>(R"pb(
    spec {
      priority_class_name: "high"
      containers { name: "app" image: "nginx" }
    }
  )pb"));
  EXPECT_FALSE(pod.spec().has_priority());
  EXPECT_FALSE(pod.spec().has_preemption_policy());
  EXPECT_FALSE(pod.spec().has_node_name());
  EXPECT_FALSE(pod.has_status());
  EXPECT_FALSE(pod.spec().has_service_account_name());
  EXPECT_FALSE(pod.spec().has_automount_service_account_token());
}

// Every defaulted field given explicitly, with zero values where they are
// allowed: defaulting must not touch any of them.
TEST(DefaultsPodTest, ExplicitValuesIncludingZeroAreKept) {
  Pod pod = Parse<Pod>(R"pb(
    spec {
      restart_policy: ""
      termination_grace_period_seconds: 0
      dns_policy: ""
      scheduler_name: ""
      security_context { run_as_user: 0 }
      enable_service_links: false
      host_network: true
      containers {
        name: "app"
        image: "nginx"
        image_pull_policy: ""
        termination_message_path: ""
        termination_message_policy: ""
        ports { container_port: 80 host_port: 0 protocol: "" }
        env {
          name: "NODE"
          value_from { field_ref { api_version: "" field_path: "spec.nodeName" } }
        }
        resources {
          limits { key: "cpu" value: "1" }
          requests { key: "cpu" value: "0" }
        }
        liveness_probe {
          http_get {
            path: ""
            scheme: ""
            port { int_val: 80 }
          }
          timeout_seconds: 0
          period_seconds: 0
          success_threshold: 0
          failure_threshold: 0
        }
        readiness_probe {
          grpc { port: 9090 service: "" }
          timeout_seconds: 5
          period_seconds: 7
          success_threshold: 2
          failure_threshold: 9
        }
      }
      volumes {
        name: "host"
        host_path { path: "/var/log" type: "Directory" }
      }
      volumes {
        name: "cfg"
        config_map { name: "cfg" default_mode: 0 }
      }
      volumes {
        name: "sec"
        secret { secret_name: "sec" default_mode: 256 }
      }
      volumes {
        name: "api"
        projected {
          default_mode: 420
          sources { service_account_token { path: "token" expiration_seconds: 7200 } }
        }
      }
    }
  )pb");
  Pod after = Defaulted(pod);
  EXPECT_TRUE(MessageDifferencer::Equals(pod, after)) << Diff(pod, after);
}

TEST(DefaultsPodTest, IsIdempotent) {
  ExpectIdempotent(Parse<Pod>(R"pb(
    metadata { name: "web" }
    spec {
      host_network: true
      service_account: "builder"
      init_containers {
        name: "init"
        image: "busybox"
        resources { limits { key: "memory" value: "64Mi" } }
      }
      containers {
        name: "app"
        image: "nginx"
        ports { container_port: 80 }
        resources { limits { key: "cpu" value: "0.0001" } }
        liveness_probe { http_get { port { int_val: 80 } } }
        lifecycle { pre_stop { http_get { port { str_val: "http" } } } }
      }
      volumes { name: "scratch" }
      volumes {
        name: "api"
        downward_api {
          items {
            path: "labels"
            field_ref { field_path: "metadata.labels" }
          }
        }
      }
    }
    status {
      pod_ip: "10.0.0.5"
      host_ips { ip: "192.168.1.2" }
    }
  )pb"));
}

struct PullPolicyCase {
  std::string image;
  std::string want;
};

class DefaultsImagePullPolicyTest : public ::testing::TestWithParam<PullPolicyCase> {};

TEST_P(DefaultsImagePullPolicyTest, FollowsTheTag) {
  const PullPolicyCase& tc = GetParam();
  EXPECT_EQ(DefaultImagePullPolicy(tc.image), tc.want) << tc.image;
  Pod pod;
  Container* c = pod.mutable_spec()->add_containers();
  c->set_name("app");
  c->set_image(tc.image);
  SetPodDefaults(&pod);
  EXPECT_EQ(pod.spec().containers(0).image_pull_policy(), tc.want) << tc.image;
}

const char kDigest[] = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

INSTANTIATE_TEST_SUITE_P(
    DefaultsImages, DefaultsImagePullPolicyTest,
    ::testing::Values(PullPolicyCase{"nginx", "Always"}, PullPolicyCase{"nginx:latest", "Always"},
                      PullPolicyCase{"nginx:1.25", "IfNotPresent"},
                      PullPolicyCase{"registry:5000/nginx", "Always"},
                      PullPolicyCase{"registry:5000/nginx:1.0", "IfNotPresent"},
                      PullPolicyCase{"localhost/team/app", "Always"},
                      PullPolicyCase{"ghcr.io/org/app:latest", "Always"},
                      PullPolicyCase{"docker.io/library/busybox:1.36", "IfNotPresent"},
                      PullPolicyCase{"[::1]:5000/app", "Always"},
                      PullPolicyCase{std::string("nginx@") + kDigest, "IfNotPresent"},
                      PullPolicyCase{std::string("nginx:latest@") + kDigest, "Always"},
                      PullPolicyCase{std::string("nginx:1.25@") + kDigest, "IfNotPresent"},
                      // References that do not parse get IfNotPresent, as in Kubernetes.
                      PullPolicyCase{"", "IfNotPresent"}, PullPolicyCase{"NGINX", "IfNotPresent"},
                      PullPolicyCase{"nginx:", "IfNotPresent"},
                      PullPolicyCase{"nginx@sha256:abc", "IfNotPresent"},
                      PullPolicyCase{
                          "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                          "IfNotPresent"}));

TEST(DefaultsPodTest, RequestsAreCopiedFromLimitsOnlyWhereMissing) {
  Pod pod = Defaulted(Parse<Pod>(R"pb(
    spec {
      containers {
        name: "app"
        resources {
          limits { key: "cpu" value: "2" }
          limits { key: "memory" value: "1Gi" }
          requests { key: "cpu" value: "500m" }
          requests { key: "ephemeral-storage" value: "1Gi" }
        }
      }
      containers {
        name: "no-limits"
        resources { requests { key: "cpu" value: "100m" } }
      }
      containers { name: "no-resources" }
      init_containers {
        name: "init"
        resources { limits { key: "memory" value: "64Mi" } }
      }
    }
  )pb"));
  EXPECT_THAT(pod.spec().containers(0).resources().requests(),
              UnorderedElementsAre(Pair("cpu", "500m"), Pair("memory", "1Gi"),
                                   Pair("ephemeral-storage", "1Gi")));
  EXPECT_THAT(pod.spec().containers(1).resources().requests(),
              UnorderedElementsAre(Pair("cpu", "100m")));
  EXPECT_FALSE(pod.spec().containers(2).has_resources());
  EXPECT_THAT(pod.spec().init_containers(0).resources().requests(),
              UnorderedElementsAre(Pair("memory", "64Mi")));
}

TEST(DefaultsPodTest, ResourceQuantitiesAreRoundedUpToMilli) {
  Pod pod = Defaulted(Parse<Pod>(R"pb(
    spec {
      containers {
        name: "app"
        resources {
          limits { key: "cpu" value: "100u" }
          limits { key: "memory" value: "1Gi" }
          requests { key: "cpu" value: "1500m" }
        }
      }
      overhead { key: "cpu" value: "1n" }
    }
  )pb"));
  EXPECT_THAT(pod.spec().containers(0).resources().limits(),
              UnorderedElementsAre(Pair("cpu", "1m"), Pair("memory", "1Gi")));
  EXPECT_THAT(pod.spec().containers(0).resources().requests(),
              UnorderedElementsAre(Pair("cpu", "1500m"), Pair("memory", "1Gi")));
  EXPECT_THAT(pod.spec().overhead(), UnorderedElementsAre(Pair("cpu", "1m")));
}

TEST(DefaultsPodTest, PortsGetTcpAndHostPortsUnderHostNetwork) {
  Pod pod = Defaulted(Parse<Pod>(R"pb(
    spec {
      host_network: true
      containers {
        name: "app"
        ports { container_port: 80 }
        ports { container_port: 53 protocol: "UDP" host_port: 53 }
      }
      init_containers {
        name: "init"
        ports { container_port: 9000 }
      }
    }
  )pb"));
  const Container& c = pod.spec().containers(0);
  EXPECT_EQ(c.ports(0).protocol(), "TCP");
  EXPECT_EQ(c.ports(0).host_port(), 80);
  EXPECT_EQ(c.ports(1).protocol(), "UDP");
  EXPECT_EQ(c.ports(1).host_port(), 53);
  EXPECT_EQ(pod.spec().init_containers(0).ports(0).host_port(), 9000);

  Pod plain = Defaulted(Parse<Pod>(R"pb(
    spec {
      containers {
        name: "app"
        ports { container_port: 80 }
      }
    }
  )pb"));
  EXPECT_FALSE(plain.spec().containers(0).ports(0).has_host_port());
}

TEST(DefaultsPodTest, ProbesAndHandlers) {
  Pod pod = Defaulted(Parse<Pod>(R"pb(
    spec {
      containers {
        name: "app"
        liveness_probe { http_get { port { int_val: 8080 } } }
        readiness_probe {
          tcp_socket { port { str_val: "http" } }
          initial_delay_seconds: 5
        }
        startup_probe {
          grpc { port: 9090 }
          failure_threshold: 30
        }
        lifecycle {
          post_start {
            http_get {
              path: "/warm"
              port { int_val: 8080 }
            }
          }
          pre_stop { exec { command: "sleep" } }
        }
      }
    }
  )pb"));
  const Container& c = pod.spec().containers(0);
  for (const Probe* p : {&c.liveness_probe(), &c.readiness_probe(), &c.startup_probe()}) {
    EXPECT_EQ(p->timeout_seconds(), 1);
    EXPECT_EQ(p->period_seconds(), 10);
    EXPECT_EQ(p->success_threshold(), 1);
  }
  EXPECT_EQ(c.liveness_probe().failure_threshold(), 3);
  EXPECT_EQ(c.startup_probe().failure_threshold(), 30);
  EXPECT_EQ(c.readiness_probe().initial_delay_seconds(), 5);
  EXPECT_FALSE(c.liveness_probe().has_initial_delay_seconds());
  EXPECT_EQ(c.liveness_probe().http_get().path(), "/");
  EXPECT_EQ(c.liveness_probe().http_get().scheme(), "HTTP");
  ASSERT_TRUE(c.startup_probe().grpc().has_service());
  EXPECT_EQ(c.startup_probe().grpc().service(), "");
  EXPECT_EQ(c.lifecycle().post_start().http_get().path(), "/warm");
  EXPECT_EQ(c.lifecycle().post_start().http_get().scheme(), "HTTP");
  EXPECT_FALSE(c.lifecycle().pre_stop().has_http_get());
}

TEST(DefaultsPodTest, FieldRefsGetApiVersionV1) {
  Pod pod = Defaulted(Parse<Pod>(R"pb(
    spec {
      containers {
        name: "app"
        env {
          name: "NODE"
          value_from { field_ref { field_path: "spec.nodeName" } }
        }
        env {
          name: "LIMIT"
          value_from { resource_field_ref { resource: "limits.cpu" } }
        }
        env { name: "PLAIN" value: "x" }
      }
      volumes {
        name: "info"
        downward_api {
          items {
            path: "name"
            field_ref { field_path: "metadata.name" }
          }
        }
      }
      volumes {
        name: "api"
        projected {
          sources {
            downward_api {
              items {
                path: "ns"
                field_ref { field_path: "metadata.namespace" }
              }
            }
          }
        }
      }
    }
  )pb"));
  const Container& c = pod.spec().containers(0);
  EXPECT_EQ(c.env(0).value_from().field_ref().api_version(), "v1");
  EXPECT_FALSE(c.env(1).value_from().has_field_ref());
  EXPECT_FALSE(c.env(2).has_value_from());
  EXPECT_EQ(pod.spec().volumes(0).downward_api().items(0).field_ref().api_version(), "v1");
  EXPECT_EQ(pod.spec()
                .volumes(1)
                .projected()
                .sources(0)
                .downward_api()
                .items(0)
                .field_ref()
                .api_version(),
            "v1");
}

TEST(DefaultsPodTest, Volumes) {
  Pod pod = Defaulted(Parse<Pod>(R"pb(
    spec {
      volumes { name: "scratch" }
      volumes {
        name: "tmp"
        empty_dir { medium: "Memory" }
      }
      volumes {
        name: "logs"
        host_path { path: "/var/log" }
      }
      volumes {
        name: "cfg"
        config_map { name: "cfg" }
      }
      volumes {
        name: "sec"
        secret { secret_name: "sec" }
      }
      volumes {
        name: "info"
        downward_api {}
      }
      volumes {
        name: "api"
        projected {
          sources { service_account_token { path: "token" } }
          sources { config_map { name: "ca" } }
        }
      }
      volumes {
        name: "data"
        persistent_volume_claim { claim_name: "data" }
      }
    }
  )pb"));
  const auto& v = pod.spec().volumes();
  EXPECT_TRUE(v[0].has_empty_dir());
  EXPECT_EQ(v[0].empty_dir().ByteSizeLong(), 0u);
  EXPECT_EQ(v[1].empty_dir().medium(), "Memory");
  EXPECT_FALSE(v[1].empty_dir().has_size_limit());
  ASSERT_TRUE(v[2].host_path().has_type());
  EXPECT_EQ(v[2].host_path().type(), "");
  EXPECT_EQ(v[3].config_map().default_mode(), 420);
  EXPECT_EQ(v[4].secret().default_mode(), 420);
  EXPECT_EQ(v[5].downward_api().default_mode(), 420);
  EXPECT_EQ(v[6].projected().default_mode(), 420);
  EXPECT_EQ(v[6].projected().sources(0).service_account_token().expiration_seconds(), 3600);
  EXPECT_FALSE(v[6].projected().sources(1).config_map().has_optional());
  EXPECT_FALSE(v[7].has_empty_dir());
  EXPECT_FALSE(v[7].persistent_volume_claim().has_read_only());
}

TEST(DefaultsPodTest, TolerationsAndSpreadConstraintsAreLeftAlone) {
  Pod pod = Parse<Pod>(R"pb(
    spec {
      tolerations { key: "dedicated" }
      topology_spread_constraints {
        max_skew: 1
        topology_key: "zone"
        when_unsatisfiable: "DoNotSchedule"
      }
    }
  )pb");
  Pod after = Defaulted(pod);
  EXPECT_TRUE(MessageDifferencer::Equals(pod.spec().tolerations(0), after.spec().tolerations(0)));
  EXPECT_TRUE(MessageDifferencer::Equals(pod.spec().topology_spread_constraints(0),
                                         after.spec().topology_spread_constraints(0)));
}

TEST(DefaultsPodTest, ServiceAccountNameAndDeprecatedAliasMirrorEachOther) {
  Pod from_alias = Defaulted(Parse<Pod>(R"pb(spec { service_account: "builder" })pb"));
  EXPECT_EQ(from_alias.spec().service_account_name(), "builder");
  EXPECT_EQ(from_alias.spec().service_account(), "builder");

  Pod from_name = Defaulted(Parse<Pod>(R"pb(spec { service_account_name: "builder" })pb"));
  EXPECT_EQ(from_name.spec().service_account(), "builder");

  // The alias is dropped on the way in: the real field wins.
  Pod both =
      Defaulted(Parse<Pod>(R"pb(spec { service_account_name: "new" service_account: "old" })pb"));
  EXPECT_EQ(both.spec().service_account_name(), "new");
  EXPECT_EQ(both.spec().service_account(), "new");
}

TEST(DefaultsPodTest, PodAndHostIpsAreKeptConsistent) {
  Pod singular =
      Defaulted(Parse<Pod>(R"pb(status { pod_ip: "10.0.0.5" host_ip: "192.168.1.2" })pb"));
  ASSERT_EQ(singular.status().pod_ips_size(), 1);
  EXPECT_EQ(singular.status().pod_ips(0).ip(), "10.0.0.5");
  ASSERT_EQ(singular.status().host_ips_size(), 1);
  EXPECT_EQ(singular.status().host_ips(0).ip(), "192.168.1.2");

  Pod plural = Defaulted(Parse<Pod>(R"pb(status {
                                           pod_ips { ip: "10.0.0.5" }
                                           pod_ips { ip: "fd00::5" }
                                         })pb"));
  EXPECT_EQ(plural.status().pod_ip(), "10.0.0.5");
  EXPECT_EQ(plural.status().pod_ips_size(), 2);

  Pod conflict = Defaulted(Parse<Pod>(R"pb(status {
                                             pod_ip: "10.0.0.9"
                                             pod_ips { ip: "10.0.0.5" }
                                           })pb"));
  EXPECT_EQ(conflict.status().pod_ip(), "10.0.0.9");
  ASSERT_EQ(conflict.status().pod_ips_size(), 1);
  EXPECT_EQ(conflict.status().pod_ips(0).ip(), "10.0.0.9");

  Pod none = Defaulted(Parse<Pod>(R"pb(status { phase: "Pending" })pb"));
  EXPECT_FALSE(none.status().has_pod_ip());
  EXPECT_EQ(none.status().pod_ips_size(), 0);
}

// ---- Pod templates -------------------------------------------------------------

TEST(DefaultsTemplateTest, TemplatesGetPodSpecDefaultsButNotPodOnlyOnes) {
  Deployment d = Defaulted(Parse<Deployment>(R"pb(
    spec {
      template {
        spec {
          host_network: true
          containers {
            name: "app"
            image: "nginx"
            ports { container_port: 80 }
            resources { limits { key: "cpu" value: "1" } }
          }
        }
      }
    }
  )pb"));
  const PodSpec& spec = d.spec().template_().spec();
  EXPECT_EQ(spec.restart_policy(), "Always");
  EXPECT_EQ(spec.dns_policy(), "ClusterFirst");
  EXPECT_EQ(spec.scheduler_name(), "default-scheduler");
  EXPECT_EQ(spec.termination_grace_period_seconds(), 30);
  EXPECT_TRUE(spec.has_security_context());
  EXPECT_EQ(spec.containers(0).image_pull_policy(), "Always");
  EXPECT_EQ(spec.containers(0).ports(0).protocol(), "TCP");
  // Pod-only defaults.
  EXPECT_FALSE(spec.has_enable_service_links());
  EXPECT_TRUE(spec.containers(0).resources().requests().empty());
  EXPECT_FALSE(spec.containers(0).ports(0).has_host_port());
}

TEST(DefaultsTemplateTest, EveryWorkloadDefaultsItsTemplate) {
  const std::string tmpl =
      R"pb(template { spec { containers { name: "app" image: "busybox" } } })pb";
  ReplicaSet rs = Defaulted(Parse<ReplicaSet>("spec { " + tmpl + " }"));
  DaemonSet ds = Defaulted(Parse<DaemonSet>("spec { " + tmpl + " }"));
  StatefulSet ss = Defaulted(Parse<StatefulSet>("spec { " + tmpl + " }"));
  Job job = Defaulted(Parse<Job>("spec { " + tmpl + " }"));
  for (const PodSpec* spec : {&rs.spec().template_().spec(), &ds.spec().template_().spec(),
                              &ss.spec().template_().spec(), &job.spec().template_().spec()}) {
    EXPECT_EQ(spec->restart_policy(), "Always");
    EXPECT_EQ(spec->containers(0).termination_message_policy(), "File");
    EXPECT_EQ(spec->containers(0).image_pull_policy(), "Always");
  }
}

// ---- Service -------------------------------------------------------------------

TEST(DefaultsServiceTest, ClusterIpService) {
  Service svc = Defaulted(Parse<Service>(R"pb(
    metadata { name: "web" }
    spec {
      selector { key: "app" value: "web" }
      ports { port: 80 }
      ports {
        name: "named"
        port: 443
        target_port { str_val: "https" }
        protocol: "TCP"
      }
      ports {
        name: "dns"
        port: 53
        protocol: "UDP"
        target_port { int_val: 5353 }
      }
    }
  )pb"));
  const ServiceSpec& spec = svc.spec();
  EXPECT_EQ(spec.type(), "ClusterIP");
  EXPECT_EQ(spec.session_affinity(), "None");
  EXPECT_FALSE(spec.has_session_affinity_config());
  EXPECT_EQ(spec.internal_traffic_policy(), "Cluster");
  EXPECT_FALSE(spec.has_external_traffic_policy());
  EXPECT_FALSE(spec.has_allocate_load_balancer_node_ports());
  // Left to IP allocation.
  EXPECT_FALSE(spec.has_cluster_ip());
  EXPECT_FALSE(spec.has_ip_family_policy());
  EXPECT_EQ(spec.ip_families_size(), 0);
  EXPECT_EQ(spec.ports(0).protocol(), "TCP");
  EXPECT_EQ(spec.ports(0).target_port().int_val(), 80);
  EXPECT_FALSE(spec.ports(0).target_port().has_str_val());
  EXPECT_EQ(spec.ports(1).target_port().str_val(), "https");
  EXPECT_EQ(spec.ports(2).protocol(), "UDP");
  EXPECT_EQ(spec.ports(2).target_port().int_val(), 5353);
}

TEST(DefaultsServiceTest, ZeroOrEmptyTargetPortMeansUnsetAsInKubernetes) {
  Service svc = Defaulted(Parse<Service>(R"pb(
    spec {
      ports {
        port: 80
        target_port { int_val: 0 }
      }
      ports {
        port: 81
        target_port { str_val: "" }
      }
      ports {
        port: 82
        target_port {}
      }
    }
  )pb"));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(svc.spec().ports(i).target_port().int_val(), 80 + i);
    EXPECT_FALSE(svc.spec().ports(i).target_port().has_str_val());
  }
}

struct ServiceTypeCase {
  std::string type;
  bool external_ips;
  std::string want_etp;  // "" = unset
  std::string want_itp;
  bool want_allocate;
};

class DefaultsServiceTypeTest : public ::testing::TestWithParam<ServiceTypeCase> {};

TEST_P(DefaultsServiceTypeTest, TrafficPolicies) {
  const ServiceTypeCase& tc = GetParam();
  Service svc;
  svc.mutable_spec()->set_type(tc.type);
  if (tc.external_ips) svc.mutable_spec()->add_external_ips("203.0.113.7");
  SetServiceDefaults(&svc);
  EXPECT_EQ(svc.spec().has_external_traffic_policy(), !tc.want_etp.empty());
  EXPECT_EQ(svc.spec().external_traffic_policy(), tc.want_etp);
  EXPECT_EQ(svc.spec().has_internal_traffic_policy(), !tc.want_itp.empty());
  EXPECT_EQ(svc.spec().internal_traffic_policy(), tc.want_itp);
  EXPECT_EQ(svc.spec().has_allocate_load_balancer_node_ports(), tc.want_allocate);
  if (tc.want_allocate) {
    EXPECT_TRUE(svc.spec().allocate_load_balancer_node_ports());
  }
}

INSTANTIATE_TEST_SUITE_P(
    DefaultsTypes, DefaultsServiceTypeTest,
    ::testing::Values(ServiceTypeCase{"ClusterIP", false, "", "Cluster", false},
                      ServiceTypeCase{"ClusterIP", true, "Cluster", "Cluster", false},
                      ServiceTypeCase{"NodePort", false, "Cluster", "Cluster", false},
                      ServiceTypeCase{"LoadBalancer", false, "Cluster", "Cluster", true},
                      ServiceTypeCase{"ExternalName", false, "", "", false}));

TEST(DefaultsServiceTest, ExplicitPoliciesAreKept) {
  Service svc = Parse<Service>(R"pb(
    spec {
      type: "LoadBalancer"
      session_affinity: "ClientIP"
      session_affinity_config { client_ip { timeout_seconds: 60 } }
      external_traffic_policy: "Local"
      internal_traffic_policy: "Local"
      allocate_load_balancer_node_ports: false
      ports {
        port: 80
        protocol: "SCTP"
        target_port { int_val: 8080 }
      }
    }
  )pb");
  Service after = Defaulted(svc);
  EXPECT_TRUE(MessageDifferencer::Equals(svc, after)) << Diff(svc, after);
}

TEST(DefaultsServiceTest, SessionAffinity) {
  Service client_ip = Defaulted(Parse<Service>(R"pb(spec { session_affinity: "ClientIP" })pb"));
  EXPECT_EQ(client_ip.spec().session_affinity_config().client_ip().timeout_seconds(), 10800);

  // Kubernetes drops the config of a service without affinity.
  Service none = Defaulted(Parse<Service>(R"pb(
    spec { session_affinity_config { client_ip { timeout_seconds: 60 } } }
  )pb"));
  EXPECT_EQ(none.spec().session_affinity(), "None");
  EXPECT_FALSE(none.spec().has_session_affinity_config());
}

TEST(DefaultsServiceTest, LoadBalancerIngressIpModeIsVip) {
  Service svc = Defaulted(Parse<Service>(R"pb(
    spec { type: "LoadBalancer" }
    status {
      load_balancer {
        ingress { ip: "203.0.113.7" }
        ingress { hostname: "lb.example.com" }
        ingress { ip: "203.0.113.8" ip_mode: "Proxy" }
      }
    }
  )pb"));
  const auto& ingress = svc.status().load_balancer().ingress();
  EXPECT_EQ(ingress[0].ip_mode(), "VIP");
  EXPECT_FALSE(ingress[1].has_ip_mode());
  EXPECT_EQ(ingress[2].ip_mode(), "Proxy");
}

TEST(DefaultsServiceTest, IsIdempotent) {
  ExpectIdempotent(Parse<Service>(R"pb(
    spec {
      type: "NodePort"
      session_affinity: "ClientIP"
      ports { port: 80 }
      ports {
        port: 90
        target_port { int_val: 0 }
      }
    }
  )pb"));
}

// ---- Other core kinds ----------------------------------------------------------

TEST(DefaultsNamespaceTest, FinalizerPhaseAndNameLabel) {
  Namespace ns = Defaulted(Parse<Namespace>(R"pb(metadata { name: "web" })pb"));
  EXPECT_THAT(ns.spec().finalizers(), ElementsAre("kubernetes"));
  EXPECT_EQ(ns.status().phase(), "Active");
  EXPECT_THAT(ns.metadata().labels(),
              UnorderedElementsAre(Pair("kubernetes.io/metadata.name", "web")));
  ExpectIdempotent(ns);
}

TEST(DefaultsNamespaceTest, ExplicitValuesAreKeptAndTheNameLabelIsForced) {
  Namespace ns = Defaulted(Parse<Namespace>(R"pb(
    metadata {
      name: "web"
      labels { key: "kubernetes.io/metadata.name" value: "other" }
      labels { key: "team" value: "a" }
    }
    spec { finalizers: "example.com/cleanup" }
    status { phase: "Terminating" }
  )pb"));
  EXPECT_THAT(ns.spec().finalizers(), ElementsAre("example.com/cleanup"));
  EXPECT_EQ(ns.status().phase(), "Terminating");
  EXPECT_THAT(ns.metadata().labels(),
              UnorderedElementsAre(Pair("kubernetes.io/metadata.name", "web"), Pair("team", "a")));
}

TEST(DefaultsNamespaceTest, FinalizerIsNotBroughtBackDuringDeletion) {
  Namespace ns = Defaulted(Parse<Namespace>(R"pb(
    metadata {
      name: "web"
      deletion_timestamp { seconds: 1700000000 }
    }
    status { phase: "Terminating" }
  )pb"));
  EXPECT_TRUE(ns.spec().finalizers().empty());
}

TEST(DefaultsNodeTest, AllocatableDefaultsToCapacity) {
  Node node = Defaulted(Parse<Node>(R"pb(
    status {
      capacity { key: "cpu" value: "4" }
      capacity { key: "memory" value: "8Gi" }
    }
  )pb"));
  EXPECT_THAT(node.status().allocatable(),
              UnorderedElementsAre(Pair("cpu", "4"), Pair("memory", "8Gi")));
  EXPECT_FALSE(node.status().has_phase());

  Node explicit_alloc = Defaulted(Parse<Node>(R"pb(
    status {
      capacity { key: "cpu" value: "4" }
      allocatable { key: "cpu" value: "3800m" }
    }
  )pb"));
  EXPECT_THAT(explicit_alloc.status().allocatable(), UnorderedElementsAre(Pair("cpu", "3800m")));
}

TEST(DefaultsNodeTest, PodCidrsAreKeptConsistent) {
  Node node = Defaulted(Parse<Node>(R"pb(spec { pod_cidr: "10.244.1.0/24" })pb"));
  EXPECT_THAT(node.spec().pod_cidrs(), ElementsAre("10.244.1.0/24"));
  Node plural =
      Defaulted(Parse<Node>(R"pb(spec { pod_cidrs: "10.244.1.0/24" pod_cidrs: "fd00:1::/64" })pb"));
  EXPECT_EQ(plural.spec().pod_cidr(), "10.244.1.0/24");
  EXPECT_EQ(plural.spec().pod_cidrs_size(), 2);
  Node empty = Defaulted(Parse<Node>(R"pb(spec { unschedulable: true })pb"));
  EXPECT_FALSE(empty.spec().has_pod_cidr());
}

TEST(DefaultsSecretTest, TypeOpaqueUnlessGiven) {
  EXPECT_EQ(Defaulted(Secret()).type(), "Opaque");
  Secret tls = Defaulted(Parse<Secret>(R"pb(type: "kubernetes.io/tls")pb"));
  EXPECT_EQ(tls.type(), "kubernetes.io/tls");
  Secret empty = Defaulted(Parse<Secret>(R"pb(type: "")pb"));
  EXPECT_TRUE(empty.has_type());
  EXPECT_EQ(empty.type(), "");
}

TEST(DefaultsEndpointsTest, PortProtocols) {
  Endpoints ep = Defaulted(Parse<Endpoints>(R"pb(
    subsets {
      addresses { ip: "10.0.0.5" }
      ports { port: 80 }
      ports { port: 53 protocol: "UDP" }
    }
  )pb"));
  EXPECT_EQ(ep.subsets(0).ports(0).protocol(), "TCP");
  EXPECT_EQ(ep.subsets(0).ports(1).protocol(), "UDP");

  EndpointSlice slice = Defaulted(Parse<EndpointSlice>(R"pb(
    address_type: "IPv4"
    ports { port: 80 }
    ports { name: "dns" port: 53 protocol: "UDP" }
  )pb"));
  EXPECT_EQ(slice.ports(0).protocol(), "TCP");
  ASSERT_TRUE(slice.ports(0).has_name());
  EXPECT_EQ(slice.ports(0).name(), "");
  EXPECT_EQ(slice.ports(1).name(), "dns");
  EXPECT_EQ(slice.ports(1).protocol(), "UDP");
}

TEST(DefaultsLimitRangeTest, ContainerDefaultsDeriveFromMaxAndMin) {
  LimitRange lr = Defaulted(Parse<LimitRange>(R"pb(
    spec {
      limits {
        type: "Container"
        max { key: "cpu" value: "2" }
        max { key: "memory" value: "1Gi" }
        min { key: "cpu" value: "100m" }
        min { key: "ephemeral-storage" value: "1Gi" }
        default { key: "memory" value: "512Mi" }
        default_request { key: "memory" value: "256Mi" }
      }
      limits {
        type: "Pod"
        max { key: "cpu" value: "4" }
      }
    }
  )pb"));
  const LimitRangeItem& c = lr.spec().limits(0);
  // default: explicit memory, cpu from max.
  EXPECT_THAT(c.default_(), UnorderedElementsAre(Pair("cpu", "2"), Pair("memory", "512Mi")));
  // defaultRequest: explicit memory, cpu from default (before min), storage
  // from min.
  EXPECT_THAT(c.default_request(), UnorderedElementsAre(Pair("cpu", "2"), Pair("memory", "256Mi"),
                                                        Pair("ephemeral-storage", "1Gi")));
  const LimitRangeItem& pod = lr.spec().limits(1);
  EXPECT_TRUE(pod.default_().empty());
  EXPECT_TRUE(pod.default_request().empty());
  ExpectIdempotent(lr);
}

TEST(DefaultsResourceQuotaTest, HardIsRounded) {
  ResourceQuota q = Defaulted(Parse<ResourceQuota>(R"pb(
    spec {
      hard { key: "requests.cpu" value: "0.0005" }
      hard { key: "pods" value: "10" }
    }
  )pb"));
  EXPECT_THAT(q.spec().hard(),
              UnorderedElementsAre(Pair("requests.cpu", "1m"), Pair("pods", "10")));
}

// ---- apps/v1 -----------------------------------------------------------------

TEST(DefaultsDeploymentTest, FillsEveryUnsetField) {
  Deployment d = Defaulted(Parse<Deployment>(R"pb(metadata { name: "web" })pb"));
  const DeploymentSpec& spec = d.spec();
  EXPECT_EQ(spec.replicas(), 1);
  EXPECT_EQ(spec.strategy().type(), "RollingUpdate");
  ASSERT_TRUE(spec.strategy().rolling_update().max_unavailable().has_str_val());
  EXPECT_EQ(spec.strategy().rolling_update().max_unavailable().str_val(), "25%");
  ASSERT_TRUE(spec.strategy().rolling_update().max_surge().has_str_val());
  EXPECT_EQ(spec.strategy().rolling_update().max_surge().str_val(), "25%");
  EXPECT_EQ(spec.revision_history_limit(), 10);
  EXPECT_EQ(spec.progress_deadline_seconds(), 600);
  EXPECT_FALSE(spec.has_paused());
  EXPECT_FALSE(spec.has_min_ready_seconds());
}

TEST(DefaultsDeploymentTest, ExplicitZerosAreKept) {
  Deployment d = Defaulted(Parse<Deployment>(R"pb(
    spec {
      replicas: 0
      revision_history_limit: 0
      progress_deadline_seconds: 0
      strategy {
        type: "RollingUpdate"
        rolling_update { max_surge { int_val: 0 } }
      }
    }
  )pb"));
  EXPECT_TRUE(d.spec().has_replicas());
  EXPECT_EQ(d.spec().replicas(), 0);
  EXPECT_EQ(d.spec().revision_history_limit(), 0);
  EXPECT_EQ(d.spec().progress_deadline_seconds(), 0);
  EXPECT_TRUE(d.spec().strategy().rolling_update().max_surge().has_int_val());
  EXPECT_EQ(d.spec().strategy().rolling_update().max_surge().int_val(), 0);
  EXPECT_EQ(d.spec().strategy().rolling_update().max_unavailable().str_val(), "25%");
}

TEST(DefaultsDeploymentTest, RecreateGetsNoRollingUpdate) {
  Deployment d = Defaulted(Parse<Deployment>(R"pb(spec { strategy { type: "Recreate" } })pb"));
  EXPECT_FALSE(d.spec().strategy().has_rolling_update());
  ExpectIdempotent(d);
}

TEST(DefaultsReplicaSetTest, Replicas) {
  EXPECT_EQ(Defaulted(ReplicaSet()).spec().replicas(), 1);
  ReplicaSet zero = Defaulted(Parse<ReplicaSet>(R"pb(spec { replicas: 0 })pb"));
  EXPECT_TRUE(zero.spec().has_replicas());
  EXPECT_EQ(zero.spec().replicas(), 0);
}

TEST(DefaultsDaemonSetTest, RollingUpdateWithIntegers) {
  DaemonSet ds = Defaulted(DaemonSet());
  const DaemonSetUpdateStrategy& s = ds.spec().update_strategy();
  EXPECT_EQ(s.type(), "RollingUpdate");
  ASSERT_TRUE(s.rolling_update().max_unavailable().has_int_val());
  EXPECT_EQ(s.rolling_update().max_unavailable().int_val(), 1);
  ASSERT_TRUE(s.rolling_update().max_surge().has_int_val());
  EXPECT_EQ(s.rolling_update().max_surge().int_val(), 0);
  EXPECT_EQ(ds.spec().revision_history_limit(), 10);

  DaemonSet on_delete =
      Defaulted(Parse<DaemonSet>(R"pb(spec { update_strategy { type: "OnDelete" } })pb"));
  EXPECT_FALSE(on_delete.spec().update_strategy().has_rolling_update());

  DaemonSet percent = Defaulted(Parse<DaemonSet>(R"pb(
    spec { update_strategy { rolling_update { max_unavailable { str_val: "10%" } } } }
  )pb"));
  EXPECT_EQ(percent.spec().update_strategy().rolling_update().max_unavailable().str_val(), "10%");
  EXPECT_EQ(percent.spec().update_strategy().rolling_update().max_surge().int_val(), 0);
}

TEST(DefaultsStatefulSetTest, FillsEveryUnsetField) {
  StatefulSet ss = Defaulted(Parse<StatefulSet>(R"pb(spec { service_name: "db" })pb"));
  const StatefulSetSpec& spec = ss.spec();
  EXPECT_EQ(spec.replicas(), 1);
  EXPECT_EQ(spec.pod_management_policy(), "OrderedReady");
  EXPECT_EQ(spec.update_strategy().type(), "RollingUpdate");
  ASSERT_TRUE(spec.update_strategy().rolling_update().has_partition());
  EXPECT_EQ(spec.update_strategy().rolling_update().partition(), 0);
  EXPECT_FALSE(spec.update_strategy().rolling_update().has_max_unavailable());
  EXPECT_EQ(spec.revision_history_limit(), 10);
  EXPECT_EQ(spec.persistent_volume_claim_retention_policy().when_deleted(), "Retain");
  EXPECT_EQ(spec.persistent_volume_claim_retention_policy().when_scaled(), "Retain");
  EXPECT_FALSE(spec.has_ordinals());
}

TEST(DefaultsStatefulSetTest, UpdateStrategyVariants) {
  StatefulSet on_delete =
      Defaulted(Parse<StatefulSet>(R"pb(spec { update_strategy { type: "OnDelete" } })pb"));
  EXPECT_FALSE(on_delete.spec().update_strategy().has_rolling_update());

  // As in Kubernetes: an explicit RollingUpdate type alone gets no partition.
  StatefulSet bare =
      Defaulted(Parse<StatefulSet>(R"pb(spec { update_strategy { type: "RollingUpdate" } })pb"));
  EXPECT_FALSE(bare.spec().update_strategy().has_rolling_update());

  StatefulSet partitioned = Defaulted(Parse<StatefulSet>(R"pb(
    spec {
      update_strategy {
        type: "RollingUpdate"
        rolling_update { partition: 3 }
      }
      persistent_volume_claim_retention_policy { when_deleted: "Delete" }
      pod_management_policy: "Parallel"
    }
  )pb"));
  EXPECT_EQ(partitioned.spec().update_strategy().rolling_update().partition(), 3);
  EXPECT_EQ(partitioned.spec().persistent_volume_claim_retention_policy().when_deleted(), "Delete");
  EXPECT_EQ(partitioned.spec().persistent_volume_claim_retention_policy().when_scaled(), "Retain");
  EXPECT_EQ(partitioned.spec().pod_management_policy(), "Parallel");
}

// ---- batch/v1 ----------------------------------------------------------------

struct JobCountsCase {
  std::string spec;
  std::optional<int32_t> want_completions;
  std::optional<int32_t> want_parallelism;
};

class DefaultsJobCountsTest : public ::testing::TestWithParam<JobCountsCase> {};

TEST_P(DefaultsJobCountsTest, CompletionsAndParallelism) {
  const JobCountsCase& tc = GetParam();
  Job job = Defaulted(Parse<Job>("spec { " + tc.spec + " }"));
  ASSERT_EQ(job.spec().has_completions(), tc.want_completions.has_value()) << tc.spec;
  if (tc.want_completions) {
    EXPECT_EQ(job.spec().completions(), *tc.want_completions);
  }
  ASSERT_EQ(job.spec().has_parallelism(), tc.want_parallelism.has_value()) << tc.spec;
  if (tc.want_parallelism) {
    EXPECT_EQ(job.spec().parallelism(), *tc.want_parallelism);
  }
}

INSTANTIATE_TEST_SUITE_P(DefaultsCases, DefaultsJobCountsTest,
                         ::testing::Values(JobCountsCase{"", 1, 1},
                                           // Work queue: completions stays unset.
                                           JobCountsCase{"parallelism: 5", std::nullopt, 5},
                                           JobCountsCase{"completions: 3", 3, 1},
                                           JobCountsCase{"completions: 8 parallelism: 2", 8, 2},
                                           JobCountsCase{"completions: 0 parallelism: 0", 0, 0},
                                           JobCountsCase{"parallelism: 0", std::nullopt, 0}));

TEST(DefaultsJobTest, FillsEveryUnsetField) {
  Job job = Defaulted(Parse<Job>(R"pb(
    metadata { name: "pi" }
    spec {
      template {
        metadata { labels { key: "app" value: "pi" } }
        spec { restart_policy: "Never" }
      }
    }
  )pb"));
  const JobSpec& spec = job.spec();
  EXPECT_EQ(spec.backoff_limit(), 6);
  EXPECT_EQ(spec.completion_mode(), "NonIndexed");
  ASSERT_TRUE(spec.has_suspend());
  EXPECT_FALSE(spec.suspend());
  EXPECT_EQ(spec.pod_replacement_policy(), "TerminatingOrFailed");
  EXPECT_FALSE(spec.has_manual_selector());
  EXPECT_FALSE(spec.has_selector());  // generated by the registry, not here
  EXPECT_FALSE(spec.has_active_deadline_seconds());
  EXPECT_FALSE(spec.has_ttl_seconds_after_finished());
  EXPECT_EQ(spec.template_().spec().restart_policy(), "Never");
  // The Job takes its template's labels when it has none.
  EXPECT_THAT(job.metadata().labels(), UnorderedElementsAre(Pair("app", "pi")));
}

TEST(DefaultsJobTest, ExplicitValuesAreKept) {
  Job job = Parse<Job>(R"pb(
    metadata { labels { key: "team" value: "a" } }
    spec {
      completions: 1
      parallelism: 1
      backoff_limit: 0
      completion_mode: "Indexed"
      suspend: true
      manual_selector: false
      pod_replacement_policy: "Failed"
      template { metadata { labels { key: "app" value: "pi" } } }
    }
  )pb");
  Job after = Defaulted(job);
  // Only the template's PodSpec gains defaults.
  after.mutable_spec()->mutable_template_()->clear_spec();
  EXPECT_TRUE(MessageDifferencer::Equals(job, after)) << Diff(job, after);
}

TEST(DefaultsJobTest, PodFailurePolicyAndBackoffPerIndex) {
  Job job = Defaulted(Parse<Job>(R"pb(
    spec {
      completion_mode: "Indexed"
      backoff_limit_per_index: 1
      pod_failure_policy {
        rules {
          action: "Ignore"
          on_pod_conditions { type: "DisruptionTarget" }
        }
        rules {
          action: "Count"
          on_pod_conditions { type: "ConfigIssue" status: "False" }
        }
        rules {
          action: "FailJob"
          on_exit_codes { operator: "In" values: 42 }
        }
      }
    }
  )pb"));
  EXPECT_EQ(job.spec().backoff_limit(), std::numeric_limits<int32_t>::max());
  EXPECT_EQ(job.spec().pod_replacement_policy(), "Failed");
  const auto& rules = job.spec().pod_failure_policy().rules();
  EXPECT_EQ(rules[0].on_pod_conditions(0).status(), "True");
  EXPECT_EQ(rules[1].on_pod_conditions(0).status(), "False");
  ExpectIdempotent(job);
}

// ---- rbac, scheduling ----------------------------------------------------------

struct SubjectCase {
  std::string kind;
  bool want_set;
  std::string want_group;
};

class DefaultsSubjectTest : public ::testing::TestWithParam<SubjectCase> {};

TEST_P(DefaultsSubjectTest, ApiGroupByKind) {
  const SubjectCase& tc = GetParam();
  RoleBinding rb;
  Subject* s = rb.add_subjects();
  s->set_kind(tc.kind);
  s->set_name("x");
  ClusterRoleBinding crb;
  *crb.add_subjects() = *s;
  SetDefaults(&rb);
  SetDefaults(&crb);
  for (const Subject* got : {&rb.subjects(0), &crb.subjects(0)}) {
    // A ServiceAccount's group is "", which Kubernetes omits: left unset.
    EXPECT_EQ(got->has_api_group(), tc.want_set) << tc.kind;
    EXPECT_EQ(got->api_group(), tc.want_group) << tc.kind;
  }
  EXPECT_EQ(rb.role_ref().api_group(), "rbac.authorization.k8s.io");
  EXPECT_EQ(crb.role_ref().api_group(), "rbac.authorization.k8s.io");
}

INSTANTIATE_TEST_SUITE_P(DefaultsKinds, DefaultsSubjectTest,
                         ::testing::Values(SubjectCase{"User", true, "rbac.authorization.k8s.io"},
                                           SubjectCase{"Group", true, "rbac.authorization.k8s.io"},
                                           SubjectCase{"ServiceAccount", false, ""}));

TEST(DefaultsRbacTest, ExplicitGroupIsKept) {
  RoleBinding rb = Defaulted(Parse<RoleBinding>(R"pb(
    subjects { kind: "User" name: "jane" api_group: "" }
    role_ref { api_group: "example.com" kind: "Role" name: "r" }
  )pb"));
  EXPECT_TRUE(rb.subjects(0).has_api_group());
  EXPECT_EQ(rb.subjects(0).api_group(), "");
  EXPECT_EQ(rb.role_ref().api_group(), "example.com");
}

TEST(DefaultsPriorityClassTest, PreemptionPolicy) {
  EXPECT_EQ(Defaulted(PriorityClass()).preemption_policy(), "PreemptLowerPriority");
  PriorityClass never =
      Defaulted(Parse<PriorityClass>(R"pb(value: 0 preemption_policy: "Never")pb"));
  EXPECT_EQ(never.preemption_policy(), "Never");
  EXPECT_FALSE(never.has_global_default());
}

// ---- Dispatch ------------------------------------------------------------------

TEST(DefaultsDispatchTest, ListsDefaultEveryItem) {
  DeploymentList list = Defaulted(Parse<DeploymentList>(R"pb(
    items { metadata { name: "a" } }
    items {
      metadata { name: "b" }
      spec { replicas: 3 }
    }
  )pb"));
  EXPECT_EQ(list.items(0).spec().replicas(), 1);
  EXPECT_EQ(list.items(1).spec().replicas(), 3);
  EXPECT_EQ(list.items(1).spec().revision_history_limit(), 10);

  PodList pods = Defaulted(Parse<PodList>(R"pb(items { spec { containers { name: "a" } } })pb"));
  EXPECT_EQ(pods.items(0).spec().restart_policy(), "Always");
  SecretList secrets = Defaulted(Parse<SecretList>(R"pb(items {}
                                                        items { type: "x" })pb"));
  EXPECT_EQ(secrets.items(0).type(), "Opaque");
  EXPECT_EQ(secrets.items(1).type(), "x");
}

TEST(DefaultsDispatchTest, KindsWithoutDefaultsAreUnchanged) {
  ConfigMap cm = Parse<ConfigMap>(R"pb(metadata { name: "c" })pb");
  Lease lease = Parse<Lease>(R"pb(metadata { name: "l" })pb");
  Event event = Parse<Event>(R"pb(metadata { name: "e" }
                                  reason: "Started")pb");
  ServiceAccount sa = Parse<ServiceAccount>(R"pb(metadata { name: "sa" })pb");
  Role role = Parse<Role>(R"pb(rules { verbs: "get" resources: "pods" })pb");
  EXPECT_TRUE(MessageDifferencer::Equals(cm, Defaulted(cm)));
  EXPECT_TRUE(MessageDifferencer::Equals(lease, Defaulted(lease)));
  EXPECT_TRUE(MessageDifferencer::Equals(event, Defaulted(event)));
  EXPECT_TRUE(MessageDifferencer::Equals(sa, Defaulted(sa)));
  EXPECT_TRUE(MessageDifferencer::Equals(role, Defaulted(role)));
  SetDefaults(nullptr);  // does nothing
}

TEST(DefaultsDispatchTest, MatchesTheTypedFunctions) {
  Pod pod = Parse<Pod>(R"pb(spec { containers { name: "a" image: "nginx" } })pb");
  Pod typed = pod;
  SetPodDefaults(&typed);
  google::protobuf::Message* generic = &pod;
  SetDefaults(generic);
  EXPECT_TRUE(MessageDifferencer::Equals(pod, typed)) << Diff(pod, typed);
}

TEST(DefaultsDispatchTest, DynamicMessagesAreDefaultedToo) {
  google::protobuf::DynamicMessageFactory factory;
  std::unique_ptr<google::protobuf::Message> dynamic(
      factory.GetPrototype(Deployment::descriptor())->New());
  SetDefaults(dynamic.get());
  Deployment copy;
  copy.CopyFrom(*dynamic);
  EXPECT_EQ(copy.spec().replicas(), 1);
  EXPECT_EQ(copy.spec().strategy().type(), "RollingUpdate");
}

// ---- The test corpus ---------------------------------------------------------

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(DefaultsManifestTest, EveryValidManifestDefaultsIdempotently) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(KORCH_TEST_DATA_DIR) + "/valid/")) {
    files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty());
  int objects = 0;
  for (const auto& file : files) {
    SCOPED_TRACE(file.filename().string());
    auto decoded = DecodeManifest(ReadFile(file), Scheme::Builtin());
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    for (auto& object : *decoded) {
      SCOPED_TRACE(KindOf(object->GetDescriptor()));
      ++objects;
      SetDefaults(object.get());
      std::string once = EncodeJson(*object);
      SetDefaults(object.get());
      std::string twice = EncodeJson(*object);
      EXPECT_EQ(once, twice);
      // What is defaulted still decodes to the same object.
      auto again = DecodeObject(nlohmann::json::parse(once), Scheme::Builtin());
      ASSERT_TRUE(again.ok()) << again.status();
      SetDefaults(again->get());
      EXPECT_EQ(EncodeJson(**again), once);
    }
  }
  EXPECT_GT(objects, 10);
}

// These files hold objects as a Kubernetes API server returned them, so
// they are already defaulted: korch must find nothing left to fill in.
TEST(DefaultsManifestTest, ServerOutputIsAlreadyComplete) {
  for (const char* name : {"pod-status.json", "deployment-status.json"}) {
    SCOPED_TRACE(name);
    auto decoded = DecodeManifest(ReadFile(std::string(KORCH_TEST_DATA_DIR) + "/valid/" + name),
                                  Scheme::Builtin());
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    ASSERT_EQ(decoded->size(), 1u);
    google::protobuf::Message& object = *decoded->front();
    std::string before = EncodeJson(object);
    SetDefaults(&object);
    EXPECT_EQ(EncodeJson(object), before);
  }
}

}  // namespace
}  // namespace korch::api
