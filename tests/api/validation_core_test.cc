#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/codec.h"
#include "korch/api/core.pb.h"
#include "korch/api/defaults.h"
#include "korch/api/field_errors.h"
#include "korch/api/scheme.h"
#include "korch/api/validation.h"

namespace korch::api {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using T = FieldErrorType;

std::string Render(const FieldErrorList& errs) {
  std::vector<std::string> lines;
  for (const FieldError& e : errs) lines.push_back(e.ToString());
  return absl::StrCat("[", absl::StrJoin(lines, "\n "), "]");
}

template <typename M>
M FromJson(absl::string_view json) {
  absl::StatusOr<M> m = DecodeJsonAs<M>(json);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *m : M();
}

// One broken variant of a valid object: the mutation, and the error it must
// produce (the first of `count` errors), with its exact text when given.
template <typename M>
struct Case {
  std::string name;
  std::function<void(M&)> mutate;
  std::string field;
  FieldErrorType type;
  std::string text = "";
  size_t count = 1;
};

template <typename M>
void RunCases(const M& valid, FieldErrorList (*validate)(const M&),
              const std::vector<Case<M>>& cases) {
  FieldErrorList base_errs = validate(valid);
  ASSERT_THAT(base_errs, IsEmpty()) << Render(base_errs);
  for (const Case<M>& c : cases) {
    SCOPED_TRACE(c.name);
    M obj = valid;
    c.mutate(obj);
    FieldErrorList errs = validate(obj);
    ASSERT_EQ(errs.size(), c.count) << Render(errs);
    EXPECT_EQ(errs[0].field, c.field) << Render(errs);
    EXPECT_EQ(errs[0].type, c.type) << Render(errs);
    if (!c.text.empty()) {
      EXPECT_EQ(errs[0].ToString(), c.text);
    }
  }
}

// A mutation that leaves the object valid.
template <typename M>
void ExpectValid(const M& valid, FieldErrorList (*validate)(const M&),
                 const std::function<void(M&)>& mutate, absl::string_view what) {
  M obj = valid;
  mutate(obj);
  FieldErrorList errs = validate(obj);
  EXPECT_THAT(errs, IsEmpty()) << what << ": " << Render(errs);
}

Pod BasePod() {
  return FromJson<Pod>(R"({
    "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
    "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}
  })");
}

Container* C0(Pod& p) { return p.mutable_spec()->mutable_containers(0); }

// ---------------------------------------------------------------------------
// ObjectMeta

TEST(ObjectMetaValidationTest, Rules) {
  RunCases<Pod>(
      BasePod(), &ValidatePod,
      {
          {"name missing", [](Pod& p) { p.mutable_metadata()->clear_name(); }, "metadata.name",
           T::kRequired, "metadata.name: Required value: name or generateName is required"},
          {"name uppercase", [](Pod& p) { p.mutable_metadata()->set_name("Web"); }, "metadata.name",
           T::kInvalid,
           "metadata.name: Invalid value: \"Web\": a lowercase RFC 1123 subdomain must consist of "
           "lower case alphanumeric characters, '-' or '.', and must start and end with an "
           "alphanumeric character (e.g. 'example.com', regex used for validation is "
           "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"},
          {"name too long", [](Pod& p) { p.mutable_metadata()->set_name(std::string(254, 'a')); },
           "metadata.name", T::kInvalid, ""},
          {"generateName invalid",
           [](Pod& p) {
             p.mutable_metadata()->clear_name();
             p.mutable_metadata()->set_generate_name("Web-");
           },
           "metadata.generateName", T::kInvalid},
          {"namespace missing", [](Pod& p) { p.mutable_metadata()->clear_namespace_(); },
           "metadata.namespace", T::kRequired, "metadata.namespace: Required value"},
          {"namespace not a label", [](Pod& p) { p.mutable_metadata()->set_namespace_("a.b"); },
           "metadata.namespace", T::kInvalid,
           "metadata.namespace: Invalid value: \"a.b\": must not contain dots"},
          {"label value", [](Pod& p) { (*p.mutable_metadata()->mutable_labels())["app"] = "a b"; },
           "metadata.labels", T::kInvalid},
          {"label key", [](Pod& p) { (*p.mutable_metadata()->mutable_labels())["a/b/c"] = "x"; },
           "metadata.labels", T::kInvalid},
          {"annotation key",
           [](Pod& p) { (*p.mutable_metadata()->mutable_annotations())["a b"] = "x"; },
           "metadata.annotations", T::kInvalid},
          {"annotations too large",
           [](Pod& p) {
             (*p.mutable_metadata()->mutable_annotations())["example.com/big"] =
                 std::string(256 * 1024, 'x');
           },
           "metadata.annotations", T::kTooLong,
           "metadata.annotations: Too long: must have at most 262144 bytes"},
          {"owner uid",
           [](Pod& p) {
             OwnerReference* o = p.mutable_metadata()->add_owner_references();
             o->set_api_version("apps/v1");
             o->set_kind("ReplicaSet");
             o->set_name("web-1");
           },
           "metadata.ownerReferences.uid", T::kInvalid,
           "metadata.ownerReferences.uid: Invalid value: \"\": must not be empty"},
          {"owner apiVersion",
           [](Pod& p) {
             OwnerReference* o = p.mutable_metadata()->add_owner_references();
             o->set_kind("ReplicaSet");
             o->set_name("web-1");
             o->set_uid("u1");
           },
           "metadata.ownerReferences.apiVersion", T::kInvalid,
           "metadata.ownerReferences.apiVersion: Invalid value: \"\": version must not be empty"},
          {"two controllers",
           [](Pod& p) {
             for (const char* name : {"a", "b"}) {
               OwnerReference* o = p.mutable_metadata()->add_owner_references();
               o->set_api_version("apps/v1");
               o->set_kind("ReplicaSet");
               o->set_name(name);
               o->set_uid(name);
               o->set_controller(true);
             }
           },
           "metadata.ownerReferences", T::kInvalid},
          {"finalizer syntax",
           [](Pod& p) { p.mutable_metadata()->add_finalizers("example.com/not valid"); },
           "metadata.finalizers", T::kInvalid},
          {"finalizer not qualified",
           [](Pod& p) { p.mutable_metadata()->add_finalizers("cleanup"); },
           "metadata.finalizers[0]", T::kInvalid,
           "metadata.finalizers[0]: Invalid value: \"cleanup\": name is neither a standard "
           "finalizer name nor is it fully qualified"},
          {"finalizer duplicate",
           [](Pod& p) {
             p.mutable_metadata()->add_finalizers("example.com/cleanup");
             p.mutable_metadata()->add_finalizers("example.com/cleanup");
           },
           "metadata.finalizers[1]", T::kDuplicate,
           "metadata.finalizers[1]: Duplicate value: \"example.com/cleanup\""},
          {"generation", [](Pod& p) { p.mutable_metadata()->set_generation(-1); },
           "metadata.generation", T::kInvalid,
           "metadata.generation: Invalid value: -1: must be greater than or equal to 0"},
      });
}

TEST(ObjectMetaValidationTest, GenerateNameAloneIsEnough) {
  ExpectValid<Pod>(
      BasePod(), &ValidatePod,
      [](Pod& p) {
        p.mutable_metadata()->clear_name();
        p.mutable_metadata()->set_generate_name("web-");
      },
      "generateName with a trailing dash");
  ExpectValid<Pod>(
      BasePod(), &ValidatePod,
      [](Pod& p) {
        p.mutable_metadata()->add_finalizers("kubernetes");
        p.mutable_metadata()->add_finalizers("foregroundDeletion");
      },
      "standard finalizers");
}

TEST(ObjectMetaValidationTest, NameRules) {
  ObjectMeta meta;
  meta.set_name("a/b");
  FieldErrorList errs =
      ValidateObjectMeta(meta, /*namespaced=*/false, NameRule::kPathSegment, FieldPath("metadata"));
  ASSERT_EQ(errs.size(), 1u) << Render(errs);
  EXPECT_EQ(errs[0].ToString(), "metadata.name: Invalid value: \"a/b\": may not contain '/'");

  meta.set_name("..");
  errs = ValidateObjectMeta(meta, false, NameRule::kPathSegment, FieldPath("metadata"));
  ASSERT_EQ(errs.size(), 1u) << Render(errs);
  EXPECT_EQ(errs[0].ToString(), "metadata.name: Invalid value: \"..\": may not be '..'");

  meta.set_name("system:controller:Foo_bar");
  EXPECT_THAT(ValidateObjectMeta(meta, false, NameRule::kPathSegment, FieldPath("metadata")),
              IsEmpty());

  meta.set_name("1web");
  errs = ValidateObjectMeta(meta, false, NameRule::kDNS1035Label, FieldPath("metadata"));
  ASSERT_EQ(errs.size(), 1u) << Render(errs);
  EXPECT_THAT(errs[0].ToString(), HasSubstr("a DNS-1035 label must consist of"));

  meta.set_name("web.v2");
  errs = ValidateObjectMeta(meta, false, NameRule::kDNS1123Label, FieldPath("metadata"));
  ASSERT_EQ(errs.size(), 1u) << Render(errs);
  EXPECT_EQ(errs[0].ToString(), "metadata.name: Invalid value: \"web.v2\": must not contain dots");
  EXPECT_THAT(ValidateObjectMeta(meta, false, NameRule::kDNS1123Subdomain, FieldPath("metadata")),
              IsEmpty());
}

// ---------------------------------------------------------------------------
// Containers

TEST(PodValidationTest, Containers) {
  RunCases<Pod>(
      BasePod(), &ValidatePod,
      {
          {"no containers", [](Pod& p) { p.mutable_spec()->clear_containers(); }, "spec.containers",
           T::kRequired, "spec.containers: Required value"},
          {"name missing", [](Pod& p) { C0(p)->clear_name(); }, "spec.containers[0].name",
           T::kRequired, "spec.containers[0].name: Required value"},
          {"name not a label", [](Pod& p) { C0(p)->set_name("App"); }, "spec.containers[0].name",
           T::kInvalid},
          {"duplicate name",
           [](Pod& p) { *p.mutable_spec()->add_containers() = p.spec().containers(0); },
           "spec.containers[1].name", T::kDuplicate,
           "spec.containers[1].name: Duplicate value: \"app\""},
          {"init container name taken",
           [](Pod& p) { *p.mutable_spec()->add_init_containers() = p.spec().containers(0); },
           "spec.initContainers[0].name", T::kDuplicate,
           "spec.initContainers[0].name: Duplicate value: \"app\""},
          {"image missing", [](Pod& p) { C0(p)->clear_image(); }, "spec.containers[0].image",
           T::kRequired, "spec.containers[0].image: Required value"},
          {"image whitespace", [](Pod& p) { C0(p)->set_image(" nginx"); },
           "spec.containers[0].image", T::kInvalid,
           "spec.containers[0].image: Invalid value: \" nginx\": must not have leading or trailing "
           "whitespace"},
          {"pull policy", [](Pod& p) { C0(p)->set_image_pull_policy("Sometimes"); },
           "spec.containers[0].imagePullPolicy", T::kNotSupported,
           "spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": supported "
           "values: \"Always\", \"IfNotPresent\", \"Never\""},
          {"termination message policy", [](Pod& p) { C0(p)->set_termination_message_policy(""); },
           "spec.containers[0].terminationMessagePolicy", T::kRequired},
          {"restartPolicy on a regular container",
           [](Pod& p) { C0(p)->set_restart_policy("Always"); }, "spec.containers[0].restartPolicy",
           T::kForbidden,
           "spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers"},
          {"init container restartPolicy",
           [](Pod& p) {
             Container* c = p.mutable_spec()->add_init_containers();
             c->set_name("init");
             c->set_image("busybox");
             c->set_restart_policy("OnFailure");
           },
           "spec.initContainers[0].restartPolicy", T::kNotSupported,
           "spec.initContainers[0].restartPolicy: Unsupported value: \"OnFailure\": supported "
           "values: \"Always\""},
          {"probe on a plain init container",
           [](Pod& p) {
             Container* c = p.mutable_spec()->add_init_containers();
             c->set_name("init");
             c->set_image("busybox");
             c->mutable_liveness_probe()->mutable_exec()->add_command("true");
           },
           "spec.initContainers[0].livenessProbe", T::kForbidden,
           "spec.initContainers[0].livenessProbe: Forbidden: may not be set for init containers "
           "without restartPolicy=Always"},
      });
  ExpectValid<Pod>(
      BasePod(), &ValidatePod,
      [](Pod& p) {
        Container* c = p.mutable_spec()->add_init_containers();
        c->set_name("sidecar");
        c->set_image("envoy");
        c->set_restart_policy("Always");
        c->mutable_readiness_probe()->mutable_tcp_socket()->mutable_port()->set_int_val(9901);
      },
      "sidecar with a probe");
}

TEST(PodValidationTest, Ports) {
  auto port = [](Pod& p) { return C0(p)->add_ports(); };
  RunCases<Pod>(
      BasePod(), &ValidatePod,
      {
          {"containerPort too large", [&](Pod& p) { port(p)->set_container_port(70000); },
           "spec.containers[0].ports[0].containerPort", T::kInvalid,
           "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and "
           "65535, inclusive"},
          {"containerPort zero", [&](Pod& p) { port(p)->set_container_port(0); },
           "spec.containers[0].ports[0].containerPort", T::kRequired,
           "spec.containers[0].ports[0].containerPort: Required value"},
          {"hostPort negative",
           [&](Pod& p) {
             ContainerPort* cp = port(p);
             cp->set_container_port(80);
             cp->set_host_port(-1);
           },
           "spec.containers[0].ports[0].hostPort", T::kInvalid,
           "spec.containers[0].ports[0].hostPort: Invalid value: -1: must be between 1 and 65535, "
           "inclusive"},
          {"protocol",
           [&](Pod& p) {
             ContainerPort* cp = port(p);
             cp->set_container_port(80);
             cp->set_protocol("HTTP");
           },
           "spec.containers[0].ports[0].protocol", T::kNotSupported,
           "spec.containers[0].ports[0].protocol: Unsupported value: \"HTTP\": supported values: "
           "\"SCTP\", \"TCP\", \"UDP\""},
          {"protocol empty",
           [&](Pod& p) {
             ContainerPort* cp = port(p);
             cp->set_container_port(80);
             cp->set_protocol("");
           },
           "spec.containers[0].ports[0].protocol", T::kRequired},
          {"name too long",
           [&](Pod& p) {
             ContainerPort* cp = port(p);
             cp->set_container_port(80);
             cp->set_name("a-much-too-long-name");
           },
           "spec.containers[0].ports[0].name", T::kInvalid,
           "spec.containers[0].ports[0].name: Invalid value: \"a-much-too-long-name\": must be no "
           "more than 15 characters"},
          {"name without a letter",
           [&](Pod& p) {
             ContainerPort* cp = port(p);
             cp->set_container_port(80);
             cp->set_name("8080");
           },
           "spec.containers[0].ports[0].name", T::kInvalid,
           "spec.containers[0].ports[0].name: Invalid value: \"8080\": must contain at least one "
           "letter (a-z)"},
          {"name charset",
           [&](Pod& p) {
             ContainerPort* cp = port(p);
             cp->set_container_port(80);
             cp->set_name("web_http");
           },
           "spec.containers[0].ports[0].name", T::kInvalid,
           "spec.containers[0].ports[0].name: Invalid value: \"web_http\": must contain only "
           "alpha-numeric characters (a-z, 0-9), and hyphens (-)"},
          {"duplicate name",
           [&](Pod& p) {
             for (int n : {80, 81}) {
               ContainerPort* cp = port(p);
               cp->set_container_port(n);
               cp->set_name("http");
             }
           },
           "spec.containers[0].ports[1].name", T::kDuplicate,
           "spec.containers[0].ports[1].name: Duplicate value: \"http\""},
          {"host port used twice",
           [&](Pod& p) {
             *p.mutable_spec()->add_containers() = p.spec().containers(0);
             p.mutable_spec()->mutable_containers(1)->set_name("other");
             for (int i = 0; i < 2; ++i) {
               ContainerPort* cp = p.mutable_spec()->mutable_containers(i)->add_ports();
               cp->set_container_port(8080 + i);
               cp->set_host_port(8080);
             }
           },
           "spec.containers[1].ports[0].hostPort", T::kDuplicate,
           "spec.containers[1].ports[0].hostPort: Duplicate value: \"TCP//8080\""},
          {"hostNetwork needs equal ports",
           [&](Pod& p) {
             p.mutable_spec()->set_host_network(true);
             ContainerPort* cp = port(p);
             cp->set_container_port(80);
             cp->set_host_port(8080);
           },
           "spec.containers[0].ports[0].hostPort", T::kInvalid,
           "spec.containers[0].ports[0].hostPort: Invalid value: 8080: must match `containerPort` "
           "when `hostNetwork` is true"},
      });
}

TEST(PodValidationTest, Env) {
  auto env = [](Pod& p) { return C0(p)->add_env(); };
  RunCases<Pod>(
      BasePod(), &ValidatePod,
      {
          {"name missing", [&](Pod& p) { env(p)->set_value("x"); },
           "spec.containers[0].env[0].name", T::kRequired},
          {"name starts with a digit", [&](Pod& p) { env(p)->set_name("1ST"); },
           "spec.containers[0].env[0].name", T::kInvalid,
           "spec.containers[0].env[0].name: Invalid value: \"1ST\": a valid environment variable "
           "name must consist of alphabetic characters, digits, '_', '-', or '.', and must not "
           "start "
           "with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for "
           "validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"},
          {"value and valueFrom",
           [&](Pod& p) {
             EnvVar* e = env(p);
             e->set_name("NS");
             e->set_value("x");
             e->mutable_value_from()->mutable_field_ref()->set_field_path("metadata.namespace");
           },
           "spec.containers[0].env[0].valueFrom", T::kInvalid,
           "spec.containers[0].env[0].valueFrom: Invalid value: \"\": may not be specified when "
           "`value` is not empty"},
          {"valueFrom without a source",
           [&](Pod& p) {
             EnvVar* e = env(p);
             e->set_name("NS");
             e->mutable_value_from();
           },
           "spec.containers[0].env[0].valueFrom", T::kInvalid,
           "spec.containers[0].env[0].valueFrom: Invalid value: \"\": must specify one of: "
           "`fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"},
          {"valueFrom with two sources",
           [&](Pod& p) {
             EnvVar* e = env(p);
             e->set_name("NS");
             e->mutable_value_from()->mutable_field_ref()->set_field_path("metadata.namespace");
             e->mutable_value_from()->mutable_config_map_key_ref()->set_name("cfg");
             e->mutable_value_from()->mutable_config_map_key_ref()->set_key("ns");
           },
           "spec.containers[0].env[0].valueFrom", T::kInvalid,
           "spec.containers[0].env[0].valueFrom: Invalid value: \"\": may not have more than one "
           "field specified at a time"},
          {"fieldRef unknown",
           [&](Pod& p) {
             EnvVar* e = env(p);
             e->set_name("X");
             e->mutable_value_from()->mutable_field_ref()->set_field_path("spec.unknown");
           },
           "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath", T::kInvalid,
           "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Invalid value: "
           "\"spec.unknown\": error converting fieldPath: field label not supported: spec.unknown"},
          {"fieldRef not for env",
           [&](Pod& p) {
             EnvVar* e = env(p);
             e->set_name("X");
             e->mutable_value_from()->mutable_field_ref()->set_field_path("metadata.labels");
           },
           "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath", T::kNotSupported},
          {"resourceFieldRef resource",
           [&](Pod& p) {
             EnvVar* e = env(p);
             e->set_name("X");
             e->mutable_value_from()->mutable_resource_field_ref()->set_resource("limits.gpu");
           },
           "spec.containers[0].env[0].valueFrom.resourceFieldRef.resource", T::kNotSupported},
          {"configMapKeyRef key",
           [&](Pod& p) {
             EnvVar* e = env(p);
             e->set_name("X");
             e->mutable_value_from()->mutable_config_map_key_ref()->set_name("cfg");
             e->mutable_value_from()->mutable_config_map_key_ref()->set_key("a key");
           },
           "spec.containers[0].env[0].valueFrom.configMapKeyRef.key", T::kInvalid},
          {"secretKeyRef key missing",
           [&](Pod& p) {
             EnvVar* e = env(p);
             e->set_name("X");
             e->mutable_value_from()->mutable_secret_key_ref()->set_name("creds");
           },
           "spec.containers[0].env[0].valueFrom.secretKeyRef.key", T::kRequired},
          {"envFrom without a source", [](Pod& p) { C0(p)->add_env_from()->set_prefix("P_"); },
           "spec.containers[0].envFrom", T::kInvalid,
           "spec.containers[0].envFrom: Invalid value: \"\": must specify one of: `configMapRef` "
           "or "
           "`secretRef`"},
          {"envFrom prefix",
           [](Pod& p) {
             EnvFromSource* e = C0(p)->add_env_from();
             e->set_prefix("1_");
             e->mutable_config_map_ref()->set_name("cfg");
           },
           "spec.containers[0].envFrom[0].prefix", T::kInvalid},
      });
  ExpectValid<Pod>(
      BasePod(), &ValidatePod,
      [](Pod& p) {
        EnvVar* e = C0(p)->add_env();
        e->set_name("APP_LABEL");
        e->mutable_value_from()->mutable_field_ref()->set_field_path("metadata.labels['app']");
        e = C0(p)->add_env();
        e->set_name("CPU");
        e->mutable_value_from()->mutable_resource_field_ref()->set_resource("limits.cpu");
        e->mutable_value_from()->mutable_resource_field_ref()->set_divisor("1m");
      },
      "downward API env");
}

TEST(PodValidationTest, Resources) {
  auto set = [](Pod& p, const char* list, const std::string& name, const std::string& value) {
    ResourceRequirements* r = C0(p)->mutable_resources();
    (*(std::string(list) == "limits" ? r->mutable_limits() : r->mutable_requests()))[name] = value;
  };
  RunCases<Pod>(
      BasePod(), &ValidatePod,
      {
          {"request above limit",
           [&](Pod& p) {
             set(p, "requests", "cpu", "2");
             set(p, "limits", "cpu", "1");
           },
           "spec.containers[0].resources.requests", T::kInvalid,
           "spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or "
           "equal "
           "to cpu limit of 1"},
          {"negative", [&](Pod& p) { set(p, "requests", "memory", "-1"); },
           "spec.containers[0].resources.requests[memory]", T::kInvalid,
           "spec.containers[0].resources.requests[memory]: Invalid value: \"-1\": must be greater "
           "than or equal to 0"},
          {"unknown name", [&](Pod& p) { set(p, "limits", "gpu", "1"); },
           "spec.containers[0].resources.limits[gpu]", T::kInvalid,
           "spec.containers[0].resources.limits[gpu]: Invalid value: \"gpu\": must be a standard "
           "resource type or fully qualified",
           2},
          {"not a container resource", [&](Pod& p) { set(p, "limits", "pods", "1"); },
           "spec.containers[0].resources.limits[pods]", T::kInvalid,
           "spec.containers[0].resources.limits[pods]: Invalid value: \"pods\": must be a standard "
           "resource for containers"},
          {"extended request differs from limit",
           [&](Pod& p) {
             set(p, "requests", "example.com/gpu", "1");
             set(p, "limits", "example.com/gpu", "2");
           },
           "spec.containers[0].resources.requests", T::kInvalid,
           "spec.containers[0].resources.requests: Invalid value: \"1\": must be equal to "
           "example.com/gpu limit of 2"},
          {"extended without limit", [&](Pod& p) { set(p, "requests", "example.com/gpu", "1"); },
           "spec.containers[0].resources.limits", T::kRequired,
           "spec.containers[0].resources.limits: Required value: Limit must be set for non "
           "overcommitable resources"},
          {"extended not whole", [&](Pod& p) { set(p, "limits", "example.com/gpu", "500m"); },
           "spec.containers[0].resources.limits[example.com/gpu]", T::kInvalid,
           "spec.containers[0].resources.limits[example.com/gpu]: Invalid value: 500m: must be an "
           "integer"},
          {"hugepages alone",
           [&](Pod& p) {
             set(p, "limits", "hugepages-2Mi", "4Mi");
             set(p, "requests", "hugepages-2Mi", "4Mi");
           },
           "spec.containers[0].resources", T::kForbidden,
           "spec.containers[0].resources: Forbidden: HugePages require cpu or memory"},
          {"hugepages not a multiple",
           [&](Pod& p) {
             set(p, "limits", "hugepages-2Mi", "3Mi");
             set(p, "limits", "memory", "1Gi");
           },
           "spec.containers[0].resources.limits[hugepages-2Mi]", T::kInvalid,
           "spec.containers[0].resources.limits[hugepages-2Mi]: Invalid value: \"3Mi\": 3Mi is not "
           "positive integer multiple of hugepages-2Mi"},
      });
  ExpectValid<Pod>(
      BasePod(), &ValidatePod,
      [&](Pod& p) {
        set(p, "requests", "cpu", "500m");
        set(p, "limits", "cpu", "1");
        set(p, "requests", "memory", "64Mi");
        set(p, "limits", "ephemeral-storage", "1Gi");
        set(p, "limits", "example.com/gpu", "2");
        set(p, "requests", "example.com/gpu", "2");
        set(p, "limits", "hugepages-2Mi", "4Mi");
      },
      "standard and extended resources");
}

TEST(PodValidationTest, VolumesAndMounts) {
  Pod base = BasePod();
  Volume* v = base.mutable_spec()->add_volumes();
  v->set_name("data");
  v->mutable_empty_dir();
  VolumeMount* m = C0(base)->add_volume_mounts();
  m->set_name("data");
  m->set_mount_path("/data");
  RunCases<Pod>(
      base, &ValidatePod,
      {
          {"mount of a missing volume",
           [](Pod& p) { C0(p)->mutable_volume_mounts(0)->set_name("cache"); },
           "spec.containers[0].volumeMounts[0].name", T::kNotFound,
           "spec.containers[0].volumeMounts[0].name: Not found: \"cache\""},
          {"mountPath missing", [](Pod& p) { C0(p)->mutable_volume_mounts(0)->clear_mount_path(); },
           "spec.containers[0].volumeMounts[0].mountPath", T::kRequired},
          {"mountPath twice", [](Pod& p) { *C0(p)->add_volume_mounts() = C0(p)->volume_mounts(0); },
           "spec.containers[0].volumeMounts[1].mountPath", T::kInvalid,
           "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/data\": must be "
           "unique"},
          {"subPath absolute",
           [](Pod& p) { C0(p)->mutable_volume_mounts(0)->set_sub_path("/etc"); },
           "spec.containers[0].volumeMounts[0].subPath", T::kInvalid,
           "spec.containers[0].volumeMounts[0].subPath: Invalid value: \"/etc\": must be a "
           "relative "
           "path"},
          {"bidirectional propagation",
           [](Pod& p) { C0(p)->mutable_volume_mounts(0)->set_mount_propagation("Bidirectional"); },
           "spec.containers[0].volumeMounts[0].mountPropagation", T::kForbidden},
          {"volume name", [](Pod& p) { p.mutable_spec()->add_volumes()->set_name("Cache"); },
           "spec.volumes[1]", T::kRequired,
           "spec.volumes[1]: Required value: must specify a volume "
           "type",
           2},
          {"volume name twice",
           [](Pod& p) { *p.mutable_spec()->add_volumes() = p.spec().volumes(0); },
           "spec.volumes[1].name", T::kDuplicate,
           "spec.volumes[1].name: Duplicate value: \"data\""},
          {"no source", [](Pod& p) { p.mutable_spec()->mutable_volumes(0)->clear_empty_dir(); },
           "spec.volumes[0]", T::kRequired,
           "spec.volumes[0]: Required value: must specify a volume "
           "type",
           2},  // and the mount no longer finds it
          {"two sources",
           [](Pod& p) {
             p.mutable_spec()->mutable_volumes(0)->mutable_host_path()->set_path("/x");
           },
           "spec.volumes[0].hostPath", T::kForbidden,
           "spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type", 2},
          {"hostPath path missing",
           [](Pod& p) {
             Volume* vol = p.mutable_spec()->add_volumes();
             vol->set_name("host");
             vol->mutable_host_path();
           },
           "spec.volumes[1].hostPath.path", T::kRequired},
          {"hostPath type",
           [](Pod& p) {
             Volume* vol = p.mutable_spec()->add_volumes();
             vol->set_name("host");
             vol->mutable_host_path()->set_path("/var/log");
             vol->mutable_host_path()->set_type("Folder");
           },
           "spec.volumes[1].hostPath.type", T::kNotSupported},
          {"configMap name",
           [](Pod& p) {
             Volume* vol = p.mutable_spec()->add_volumes();
             vol->set_name("cfg");
             vol->mutable_config_map();
           },
           "spec.volumes[1].configMap.name", T::kRequired},
          {"secret mode",
           [](Pod& p) {
             Volume* vol = p.mutable_spec()->add_volumes();
             vol->set_name("creds");
             vol->mutable_secret()->set_secret_name("creds");
             vol->mutable_secret()->set_default_mode(01000);
           },
           "spec.volumes[1].secret.defaultMode", T::kInvalid,
           "spec.volumes[1].secret.defaultMode: Invalid value: 512: must be a number between 0 and "
           "0777 (octal), both inclusive"},
          {"item path escapes",
           [](Pod& p) {
             Volume* vol = p.mutable_spec()->add_volumes();
             vol->set_name("cfg");
             vol->mutable_config_map()->set_name("cfg");
             KeyToPath* kp = vol->mutable_config_map()->add_items();
             kp->set_key("a");
             kp->set_path("../a");
           },
           "spec.volumes[1].configMap.items[0].path", T::kInvalid},
          {"pvc claimName",
           [](Pod& p) {
             Volume* vol = p.mutable_spec()->add_volumes();
             vol->set_name("pvc");
             vol->mutable_persistent_volume_claim();
           },
           "spec.volumes[1].persistentVolumeClaim.claimName", T::kRequired},
      });
}

TEST(PodValidationTest, Probes) {
  auto liveness = [](Pod& p) { return C0(p)->mutable_liveness_probe(); };
  RunCases<Pod>(
      BasePod(), &ValidatePod,
      {
          {"no handler", [&](Pod& p) { liveness(p)->set_period_seconds(10); },
           "spec.containers[0].livenessProbe", T::kRequired,
           "spec.containers[0].livenessProbe: Required value: must specify a handler type"},
          {"two handlers",
           [&](Pod& p) {
             liveness(p)->mutable_exec()->add_command("true");
             liveness(p)->mutable_tcp_socket()->mutable_port()->set_int_val(80);
           },
           "spec.containers[0].livenessProbe.tcpSocket", T::kForbidden,
           "spec.containers[0].livenessProbe.tcpSocket: Forbidden: may not specify more than 1 "
           "handler type"},
          {"liveness successThreshold",
           [&](Pod& p) {
             liveness(p)->mutable_exec()->add_command("true");
             liveness(p)->set_success_threshold(2);
           },
           "spec.containers[0].livenessProbe.successThreshold", T::kInvalid,
           "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1"},
          {"startup successThreshold",
           [](Pod& p) {
             Probe* probe = C0(p)->mutable_startup_probe();
             probe->mutable_exec()->add_command("true");
             probe->set_success_threshold(3);
           },
           "spec.containers[0].startupProbe.successThreshold", T::kInvalid},
          {"negative period",
           [&](Pod& p) {
             liveness(p)->mutable_exec()->add_command("true");
             liveness(p)->set_period_seconds(-1);
           },
           "spec.containers[0].livenessProbe.periodSeconds", T::kInvalid,
           "spec.containers[0].livenessProbe.periodSeconds: Invalid value: -1: must be greater "
           "than "
           "or equal to 0"},
          {"exec without command", [&](Pod& p) { liveness(p)->mutable_exec(); },
           "spec.containers[0].livenessProbe.exec.command", T::kRequired},
          {"httpGet port number",
           [&](Pod& p) { liveness(p)->mutable_http_get()->mutable_port()->set_int_val(0); },
           "spec.containers[0].livenessProbe.httpGet.port", T::kInvalid,
           "spec.containers[0].livenessProbe.httpGet.port: Invalid value: 0: must be between 1 and "
           "65535, inclusive"},
          {"httpGet port name",
           [&](Pod& p) {
             liveness(p)->mutable_http_get()->mutable_port()->set_str_val("health_z");
           },
           "spec.containers[0].livenessProbe.httpGet.port", T::kInvalid},
          {"httpGet scheme",
           [&](Pod& p) {
             liveness(p)->mutable_http_get()->mutable_port()->set_str_val("http");
             liveness(p)->mutable_http_get()->set_scheme("FTP");
           },
           "spec.containers[0].livenessProbe.httpGet.scheme", T::kNotSupported,
           "spec.containers[0].livenessProbe.httpGet.scheme: Unsupported value: \"FTP\": supported "
           "values: \"HTTP\", \"HTTPS\""},
          {"grpc port", [&](Pod& p) { liveness(p)->mutable_grpc()->set_port(70000); },
           "spec.containers[0].livenessProbe.grpc.port", T::kInvalid},
          {"readiness grace period",
           [](Pod& p) {
             Probe* probe = C0(p)->mutable_readiness_probe();
             probe->mutable_exec()->add_command("true");
             probe->set_termination_grace_period_seconds(10);
           },
           "spec.containers[0].readinessProbe.terminationGracePeriodSeconds", T::kInvalid,
           "spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Invalid value: 10: "
           "must not be set for readinessProbes"},
          {"preStop sleep beyond the grace period",
           [](Pod& p) {
             C0(p)->mutable_lifecycle()->mutable_pre_stop()->mutable_sleep()->set_seconds(60);
           },
           "spec.containers[0].lifecycle.preStop.sleep", T::kInvalid,
           "spec.containers[0].lifecycle.preStop.sleep: Invalid value: 60: must be non-negative "
           "and "
           "less than terminationGracePeriodSeconds (30)"},
          {"postStart without handler",
           [](Pod& p) { C0(p)->mutable_lifecycle()->mutable_post_start(); },
           "spec.containers[0].lifecycle.postStart", T::kRequired},
      });
  ExpectValid<Pod>(
      BasePod(), &ValidatePod,
      [&](Pod& p) {
        liveness(p)->mutable_http_get()->mutable_port()->set_str_val("http");
        Probe* r = C0(p)->mutable_readiness_probe();
        r->mutable_grpc()->set_port(9090);
        r->set_success_threshold(3);
      },
      "probes with named ports");
}

TEST(PodValidationTest, SpecFields) {
  RunCases<Pod>(
      BasePod(), &ValidatePod,
      {
          {"restartPolicy", [](Pod& p) { p.mutable_spec()->set_restart_policy("Sometimes"); },
           "spec.restartPolicy", T::kNotSupported,
           "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", "
           "\"OnFailure\", \"Never\""},
          {"restartPolicy empty", [](Pod& p) { p.mutable_spec()->set_restart_policy(""); },
           "spec.restartPolicy", T::kRequired, "spec.restartPolicy: Required value"},
          {"dnsPolicy", [](Pod& p) { p.mutable_spec()->set_dns_policy("Google"); },
           "spec.dnsPolicy", T::kNotSupported,
           "spec.dnsPolicy: Unsupported value: \"Google\": supported values: "
           "\"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\""},
          {"dnsPolicy None without config",
           [](Pod& p) { p.mutable_spec()->set_dns_policy("None"); }, "spec.dnsConfig", T::kRequired,
           "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"},
          {"nameserver",
           [](Pod& p) { p.mutable_spec()->mutable_dns_config()->add_nameservers("dns"); },
           "spec.dnsConfig.nameservers[0]", T::kInvalid},
          {"terminationGracePeriodSeconds",
           [](Pod& p) { p.mutable_spec()->set_termination_grace_period_seconds(-1); },
           "spec.terminationGracePeriodSeconds", T::kInvalid,
           "spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal "
           "to "
           "0"},
          {"activeDeadlineSeconds",
           [](Pod& p) { p.mutable_spec()->set_active_deadline_seconds(0); },
           "spec.activeDeadlineSeconds", T::kInvalid,
           "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, "
           "inclusive"},
          {"nodeSelector",
           [](Pod& p) { (*p.mutable_spec()->mutable_node_selector())["disk type"] = "ssd"; },
           "spec.nodeSelector", T::kInvalid},
          {"schedulingGates duplicate",
           [](Pod& p) {
             p.mutable_spec()->add_scheduling_gates()->set_name("example.com/quota");
             p.mutable_spec()->add_scheduling_gates()->set_name("example.com/quota");
           },
           "spec.schedulingGates[1]", T::kDuplicate,
           "spec.schedulingGates[1]: Duplicate value: \"example.com/quota\""},
          {"schedulingGates name",
           [](Pod& p) { p.mutable_spec()->add_scheduling_gates()->set_name("not valid"); },
           "spec.schedulingGates[0]", T::kInvalid},
          {"nodeName with gates",
           [](Pod& p) {
             p.mutable_spec()->add_scheduling_gates()->set_name("example.com/quota");
             p.mutable_spec()->set_node_name("node-1");
           },
           "spec.nodeName", T::kForbidden,
           "spec.nodeName: Forbidden: cannot be set until all schedulingGates have been cleared"},
          {"priorityClassName", [](Pod& p) { p.mutable_spec()->set_priority_class_name("High"); },
           "spec.priorityClassName", T::kInvalid},
          {"serviceAccountName",
           [](Pod& p) { p.mutable_spec()->set_service_account_name("my_sa"); },
           "spec.serviceAccountName", T::kInvalid},
          {"hostname", [](Pod& p) { p.mutable_spec()->set_hostname("web.local"); }, "spec.hostname",
           T::kInvalid},
          {"hostAliases ip",
           [](Pod& p) {
             HostAlias* a = p.mutable_spec()->add_host_aliases();
             a->set_ip("1.2.3");
             a->add_hostnames("db.local");
           },
           "spec.hostAliases[0].ip", T::kInvalid,
           "spec.hostAliases[0].ip: Invalid value: \"1.2.3\": must be a valid IP address, (e.g. "
           "10.9.8.7 or 2001:db8::ffff)"},
          {"preemptionPolicy", [](Pod& p) { p.mutable_spec()->set_preemption_policy("Always"); },
           "spec.preemptionPolicy", T::kNotSupported},
          {"os", [](Pod& p) { p.mutable_spec()->mutable_os()->set_name("plan9"); }, "spec.os.name",
           T::kNotSupported},
          {"runAsUser",
           [](Pod& p) { p.mutable_spec()->mutable_security_context()->set_run_as_user(-1); },
           "spec.securityContext.runAsUser", T::kInvalid,
           "spec.securityContext.runAsUser: Invalid value: -1: must be between 0 and 4294967295, "
           "inclusive"},
          {"seccomp Localhost without profile",
           [](Pod& p) {
             p.mutable_spec()->mutable_security_context()->mutable_seccomp_profile()->set_type(
                 "Localhost");
           },
           "spec.securityContext.seccompProfile.localhostProfile", T::kRequired},
          {"sysctl",
           [](Pod& p) {
             Sysctl* s = p.mutable_spec()->mutable_security_context()->add_sysctls();
             s->set_name("Net.Core");
             s->set_value("1");
           },
           "spec.securityContext.sysctls[0].name", T::kInvalid},
          {"container privilege escalation",
           [](Pod& p) {
             SecurityContext* sc = C0(p)->mutable_security_context();
             sc->set_privileged(true);
             sc->set_allow_privilege_escalation(false);
           },
           "spec.containers[0].securityContext", T::kInvalid},
      });
  ExpectValid<Pod>(
      BasePod(), &ValidatePod,
      [](Pod& p) {
        PodSpec* s = p.mutable_spec();
        s->set_restart_policy("OnFailure");
        s->set_dns_policy("None");
        s->mutable_dns_config()->add_nameservers("10.0.0.10");
        s->mutable_dns_config()->add_searches("svc.cluster.local.");
        s->set_termination_grace_period_seconds(0);
        s->set_active_deadline_seconds(600);
        s->set_priority_class_name("high-priority");
        HostAlias* a = s->add_host_aliases();
        a->set_ip("fd00::1");
        a->add_hostnames("db.local");
      },
      "assorted valid spec fields");
}

TEST(PodValidationTest, Tolerations) {
  auto tol = [](Pod& p) { return p.mutable_spec()->add_tolerations(); };
  RunCases<Pod>(
      BasePod(), &ValidatePod,
      {
          {"Exists with a value",
           [&](Pod& p) {
             Toleration* t = tol(p);
             t->set_key("example.com/dedicated");
             t->set_operator_("Exists");
             t->set_value("monitoring");
           },
           "spec.tolerations[0].operator", T::kInvalid,
           "spec.tolerations[0].operator: Invalid value: \"monitoring\": value must be empty when "
           "`operator` is 'Exists'"},
          {"operator",
           [&](Pod& p) {
             Toleration* t = tol(p);
             t->set_key("k");
             t->set_operator_("Like");
           },
           "spec.tolerations[0].operator", T::kNotSupported,
           "spec.tolerations[0].operator: Unsupported value: \"Like\": supported values: "
           "\"Equal\", \"Exists\""},
          {"effect",
           [&](Pod& p) {
             Toleration* t = tol(p);
             t->set_key("k");
             t->set_effect("NoRun");
           },
           "spec.tolerations[0].effect", T::kNotSupported,
           "spec.tolerations[0].effect: Unsupported value: \"NoRun\": supported values: "
           "\"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\""},
          {"tolerationSeconds without NoExecute",
           [&](Pod& p) {
             Toleration* t = tol(p);
             t->set_key("k");
             t->set_effect("NoSchedule");
             t->set_toleration_seconds(60);
           },
           "spec.tolerations[0].effect", T::kInvalid,
           "spec.tolerations[0].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' "
           "when `tolerationSeconds` is set"},
          {"empty key needs Exists", [&](Pod& p) { tol(p)->set_value("v"); },
           "spec.tolerations[0].operator", T::kInvalid},
          {"key", [&](Pod& p) { tol(p)->set_key("a b"); }, "spec.tolerations[0].key", T::kInvalid},
      });
  ExpectValid<Pod>(
      BasePod(), &ValidatePod,
      [&](Pod& p) {
        tol(p)->set_operator_("Exists");
        Toleration* t = tol(p);
        t->set_key("node.kubernetes.io/not-ready");
        t->set_operator_("Exists");
        t->set_effect("NoExecute");
        t->set_toleration_seconds(300);
      },
      "tolerate everything, and not-ready for 5 minutes");
}

TEST(PodValidationTest, Affinity) {
  auto required_term = [](Pod& p) {
    return p.mutable_spec()
        ->mutable_affinity()
        ->mutable_node_affinity()
        ->mutable_required_during_scheduling_ignored_during_execution()
        ->add_node_selector_terms();
  };
  auto expr = [&](Pod& p, const std::string& op, std::vector<std::string> values) {
    NodeSelectorRequirement* r = required_term(p)->add_match_expressions();
    r->set_key("example.com/tier");
    r->set_operator_(op);
    for (const std::string& v : values) r->add_values(v);
  };
  const std::string term0 =
      "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution."
      "nodeSelectorTerms";
  auto pod_term = [](Pod& p) {
    return p.mutable_spec()
        ->mutable_affinity()
        ->mutable_pod_anti_affinity()
        ->add_required_during_scheduling_ignored_during_execution();
  };
  RunCases<Pod>(
      BasePod(), &ValidatePod,
      {
          {"no terms",
           [](Pod& p) {
             p.mutable_spec()
                 ->mutable_affinity()
                 ->mutable_node_affinity()
                 ->mutable_required_during_scheduling_ignored_during_execution();
           },
           term0, T::kRequired,
           term0 + ": Required value: must have at least one node selector term"},
          {"In without values", [&](Pod& p) { expr(p, "In", {}); },
           term0 + "[0].matchExpressions[0].values", T::kRequired,
           term0 + "[0].matchExpressions[0].values: Required value: must be specified when "
                   "`operator` is 'In' or 'NotIn'"},
          {"Exists with values", [&](Pod& p) { expr(p, "Exists", {"a"}); },
           term0 + "[0].matchExpressions[0].values", T::kForbidden},
          {"Gt with two values",
           [&](Pod& p) {
             expr(p, "Gt", {"1", "2"});
           },
           term0 + "[0].matchExpressions[0].values", T::kRequired,
           term0 + "[0].matchExpressions[0].values: Required value: must be specified single value "
                   "when `operator` is 'Lt' or 'Gt'"},
          {"Lt not an integer", [&](Pod& p) { expr(p, "Lt", {"ten"}); },
           term0 + "[0].matchExpressions[0].values[0]", T::kInvalid},
          {"operator", [&](Pod& p) { expr(p, "Near", {"a"}); },
           term0 + "[0].matchExpressions[0].operator", T::kInvalid,
           term0 +
               "[0].matchExpressions[0].operator: Invalid value: \"Near\": not a valid selector "
               "operator"},
          {"matchFields key",
           [&](Pod& p) {
             NodeSelectorRequirement* r = required_term(p)->add_match_fields();
             r->set_key("metadata.uid");
             r->set_operator_("In");
             r->add_values("x");
           },
           term0 + "[0].matchFields[0].key", T::kInvalid},
          {"preferred weight",
           [](Pod& p) {
             PreferredSchedulingTerm* t =
                 p.mutable_spec()
                     ->mutable_affinity()
                     ->mutable_node_affinity()
                     ->add_preferred_during_scheduling_ignored_during_execution();
             t->set_weight(0);
             NodeSelectorRequirement* r = t->mutable_preference()->add_match_expressions();
             r->set_key("zone");
             r->set_operator_("Exists");
           },
           "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight",
           T::kInvalid,
           "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: "
           "Invalid value: 0: must be in the range 1-100"},
          {"pod affinity topologyKey",
           [&](Pod& p) {
             (*pod_term(p)->mutable_label_selector()->mutable_match_labels())["a"] = "b";
           },
           "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]."
           "topologyKey",
           T::kRequired,
           "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]."
           "topologyKey: Required value: can not be empty"},
          {"pod affinity selector",
           [&](Pod& p) {
             PodAffinityTerm* t = pod_term(p);
             t->set_topology_key("kubernetes.io/hostname");
             LabelSelectorRequirement* r = t->mutable_label_selector()->add_match_expressions();
             r->set_key("app");
             r->set_operator_("In");
           },
           "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]."
           "labelSelector.matchExpressions[0].values",
           T::kRequired},
          {"weighted pod affinity",
           [](Pod& p) {
             WeightedPodAffinityTerm* w =
                 p.mutable_spec()
                     ->mutable_affinity()
                     ->mutable_pod_affinity()
                     ->add_preferred_during_scheduling_ignored_during_execution();
             w->set_weight(101);
             w->mutable_pod_affinity_term()->set_topology_key("zone");
           },
           "spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight",
           T::kInvalid},
      });
}

TEST(PodValidationTest, TopologySpread) {
  auto tsc = [](Pod& p) {
    TopologySpreadConstraint* c = p.mutable_spec()->add_topology_spread_constraints();
    c->set_max_skew(1);
    c->set_topology_key("topology.kubernetes.io/zone");
    c->set_when_unsatisfiable("DoNotSchedule");
    (*c->mutable_label_selector()->mutable_match_labels())["app"] = "web";
    return c;
  };
  const std::string c0 = "spec.topologySpreadConstraints[0]";
  RunCases<Pod>(
      BasePod(), &ValidatePod,
      {
          {"maxSkew zero", [&](Pod& p) { tsc(p)->set_max_skew(0); }, c0 + ".maxSkew", T::kInvalid,
           c0 + ".maxSkew: Invalid value: 0: must be greater than zero"},
          {"topologyKey", [&](Pod& p) { tsc(p)->clear_topology_key(); }, c0 + ".topologyKey",
           T::kRequired, c0 + ".topologyKey: Required value: can not be empty"},
          {"whenUnsatisfiable", [&](Pod& p) { tsc(p)->set_when_unsatisfiable("Maybe"); },
           c0 + ".whenUnsatisfiable", T::kNotSupported,
           c0 + ".whenUnsatisfiable: Unsupported value: \"Maybe\": supported values: "
                "\"DoNotSchedule\", \"ScheduleAnyway\""},
          {"minDomains zero", [&](Pod& p) { tsc(p)->set_min_domains(0); }, c0 + ".minDomains",
           T::kInvalid, c0 + ".minDomains: Invalid value: 0: must be greater than zero"},
          {"minDomains with ScheduleAnyway",
           [&](Pod& p) {
             TopologySpreadConstraint* c = tsc(p);
             c->set_when_unsatisfiable("ScheduleAnyway");
             c->set_min_domains(2);
           },
           c0 + ".minDomains", T::kInvalid,
           c0 + ".minDomains: Invalid value: 2: can only use minDomains if "
                "whenUnsatisfiable=DoNotSchedule, not ScheduleAnyway"},
          {"nodeAffinityPolicy", [&](Pod& p) { tsc(p)->set_node_affinity_policy("Sometimes"); },
           c0 + ".nodeAffinityPolicy", T::kNotSupported,
           c0 + ".nodeAffinityPolicy: Unsupported value: \"Sometimes\": supported values: "
                "\"Honor\", \"Ignore\""},
          {"nodeTaintsPolicy", [&](Pod& p) { tsc(p)->set_node_taints_policy("honor"); },
           c0 + ".nodeTaintsPolicy", T::kNotSupported},
          {"same key and action twice",
           [&](Pod& p) {
             tsc(p);
             tsc(p)->set_max_skew(2);
           },
           c0 + ".{topologyKey, whenUnsatisfiable}", T::kDuplicate,
           c0 + ".{topologyKey, whenUnsatisfiable}: Duplicate value: "
                "\"{topology.kubernetes.io/zone, DoNotSchedule}\""},
          {"matchLabelKeys in the selector", [&](Pod& p) { tsc(p)->add_match_label_keys("app"); },
           c0 + ".matchLabelKeys[0]", T::kInvalid},
          {"labelSelector",
           [&](Pod& p) {
             (*tsc(p)->mutable_label_selector()->mutable_match_labels())["app"] = "not valid";
           },
           c0 + ".labelSelector.matchLabels", T::kInvalid},
      });
}

// ---------------------------------------------------------------------------
// Several problems at once, and the status built from them.

TEST(ValidateTest, ReportsEveryProblemAtOnce) {
  Pod pod = BasePod();
  pod.mutable_metadata()->clear_namespace_();
  Container* c = C0(pod);
  c->clear_image();
  c->add_ports()->set_container_port(70000);
  c->add_env()->set_name("1BAD");
  pod.mutable_spec()->set_restart_policy("Sometimes");
  Toleration* t = pod.mutable_spec()->add_tolerations();
  t->set_key("k");
  t->set_operator_("Exists");
  t->set_value("v");

  FieldErrorList errs = ValidateObject(pod);
  std::vector<std::string> fields;
  for (const FieldError& e : errs) fields.push_back(e.field);
  EXPECT_THAT(fields, ::testing::ElementsAre("metadata.namespace", "spec.containers[0].image",
                                             "spec.containers[0].ports[0].containerPort",
                                             "spec.containers[0].env[0].name", "spec.restartPolicy",
                                             "spec.tolerations[0].operator"))
      << Render(errs);

  absl::Status status = Validate(pod);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              ::testing::StartsWith("Pod \"web\" is invalid: [metadata.namespace: Required value, "
                                    "spec.containers[0].image: Required value, "));
  EXPECT_THAT(std::string(status.message()), ::testing::EndsWith("]"));
  EXPECT_EQ(InvalidCauses(status).size(), errs.size());
}

TEST(ValidateTest, StatusMessage) {
  Pod pod = BasePod();
  EXPECT_TRUE(Validate(pod).ok());
  C0(pod)->clear_image();
  absl::Status status = Validate(pod);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "Pod \"web\" is invalid: spec.containers[0].image: Required value");
  FieldErrorList causes = InvalidCauses(status);
  ASSERT_EQ(causes.size(), 1u);
  EXPECT_EQ(causes[0].field, "spec.containers[0].image");
  EXPECT_EQ(causes[0].type, FieldErrorType::kRequired);
}

TEST(ValidateTest, DispatchesOnType) {
  Namespace ns;
  ns.mutable_metadata()->set_name("Team");
  absl::Status status = Validate(ns);
  EXPECT_THAT(std::string(status.message()), ::testing::StartsWith("Namespace \"Team\" is invalid: "
                                                                   "metadata.name: Invalid value"));

  Deployment d;
  d.mutable_metadata()->set_name("Web");
  d.mutable_metadata()->set_namespace_("default");
  status = Validate(d);
  EXPECT_THAT(std::string(status.message()),
              ::testing::StartsWith("Deployment.apps \"Web\" is invalid: "));
  EXPECT_THAT(std::string(status.message()), HasSubstr("metadata.name: Invalid value: \"Web\""));
}

TEST(ValidateTest, ListsValidateEachItem) {
  PodList list;
  *list.add_items() = BasePod();
  *list.add_items() = BasePod();
  list.mutable_items(1)->mutable_spec()->mutable_containers(0)->clear_image();
  FieldErrorList errs = ValidateObject(list);
  ASSERT_EQ(errs.size(), 1u) << Render(errs);
  EXPECT_EQ(errs[0].field, "items[1].spec.containers[0].image");
  EXPECT_EQ(errs[0].type, FieldErrorType::kRequired);
}

TEST(ValidateTest, KindsWithoutRulesGetObjectMeta) {
  // A kind that has no validator of its own and is not stored has nothing
  // to check; every stored kind has at least metadata rules.
  PartialObjectMetadata partial;
  partial.mutable_metadata()->set_name("Not Valid");
  EXPECT_THAT(ValidateObject(partial), IsEmpty());
  for (const auto& kind : Scheme::Builtin().kinds()) {
    // Kinds served with only some verbs (the access reviews) are not stored.
    if (kind->resource.empty() || kind->item != nullptr || !kind->verbs.empty()) continue;
    std::unique_ptr<google::protobuf::Message> m(
        google::protobuf::MessageFactory::generated_factory()
            ->GetPrototype(kind->descriptor)
            ->New());
    FieldErrorList errs = ValidateObject(*m);
    bool name_required = std::any_of(errs.begin(), errs.end(), [](const FieldError& e) {
      return e.field == "metadata.name" && e.type == FieldErrorType::kRequired;
    });
    EXPECT_TRUE(name_required) << kind->kind << ": " << Render(errs);
  }
}

// ---------------------------------------------------------------------------
// Services, endpoints, nodes

Service BaseService() {
  return FromJson<Service>(R"({
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]}
  })");
}

ServicePort* AddPort(Service& s, const std::string& name, int port) {
  ServicePort* p = s.mutable_spec()->add_ports();
  if (!name.empty()) p->set_name(name);
  p->set_port(port);
  return p;
}

TEST(ServiceValidationTest, Rules) {
  RunCases<Service>(
      BaseService(), &ValidateService,
      {
          {"no ports", [](Service& s) { s.mutable_spec()->clear_ports(); }, "spec.ports",
           T::kRequired, "spec.ports: Required value"},
          {"port out of range", [](Service& s) { s.mutable_spec()->mutable_ports(0)->set_port(0); },
           "spec.ports[0].port", T::kInvalid,
           "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"},
          {"names required with several ports",
           [](Service& s) {
             s.mutable_spec()->mutable_ports(0)->clear_name();
             AddPort(s, "https", 443);
           },
           "spec.ports[0].name", T::kRequired, "spec.ports[0].name: Required value"},
          {"duplicate name", [](Service& s) { AddPort(s, "http", 8080); }, "spec.ports[1].name",
           T::kDuplicate, "spec.ports[1].name: Duplicate value: \"http\""},
          {"duplicate port and protocol", [](Service& s) { AddPort(s, "alt", 80); },
           "spec.ports[1]", T::kDuplicate},
          {"port name not a label",
           [](Service& s) { s.mutable_spec()->mutable_ports(0)->set_name("HTTP"); },
           "spec.ports[0].name", T::kInvalid},
          {"protocol", [](Service& s) { s.mutable_spec()->mutable_ports(0)->set_protocol("ICMP"); },
           "spec.ports[0].protocol", T::kNotSupported},
          {"targetPort",
           [](Service& s) {
             s.mutable_spec()->mutable_ports(0)->mutable_target_port()->set_str_val("web_port");
           },
           "spec.ports[0].targetPort", T::kInvalid},
          {"nodePort on ClusterIP",
           [](Service& s) { s.mutable_spec()->mutable_ports(0)->set_node_port(30080); },
           "spec.ports[0].nodePort", T::kForbidden,
           "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"},
          {"nodePort syntax",
           [](Service& s) {
             s.mutable_spec()->set_type("NodePort");
             s.mutable_spec()->mutable_ports(0)->set_node_port(70000);
           },
           "spec.ports[0].nodePort", T::kInvalid},
          {"type", [](Service& s) { s.mutable_spec()->set_type("Internal"); }, "spec.type",
           T::kNotSupported,
           "spec.type: Unsupported value: \"Internal\": supported values: \"ClusterIP\", "
           "\"ExternalName\", \"LoadBalancer\", \"NodePort\""},
          {"clusterIP", [](Service& s) { s.mutable_spec()->set_cluster_ip("10.0.0.300"); },
           "spec.clusterIP", T::kInvalid},
          {"clusterIPs must start with clusterIP",
           [](Service& s) {
             s.mutable_spec()->set_cluster_ip("10.0.0.10");
             s.mutable_spec()->add_cluster_ips("10.0.0.11");
           },
           "spec.clusterIPs", T::kInvalid},
          {"headless NodePort",
           [](Service& s) {
             s.mutable_spec()->set_type("NodePort");
             s.mutable_spec()->set_cluster_ip("None");
           },
           "spec.clusterIP", T::kInvalid,
           "spec.clusterIP: Invalid value: \"None\": may not be set to 'None' for NodePort "
           "services"},
          {"selector", [](Service& s) { (*s.mutable_spec()->mutable_selector())["app"] = "a b"; },
           "spec.selector", T::kInvalid},
          {"sessionAffinity", [](Service& s) { s.mutable_spec()->set_session_affinity("Sticky"); },
           "spec.sessionAffinity", T::kNotSupported,
           "spec.sessionAffinity: Unsupported value: \"Sticky\": supported values: \"ClientIP\", "
           "\"None\""},
          {"ExternalName without a name",
           [](Service& s) {
             s.mutable_spec()->set_type("ExternalName");
             s.mutable_spec()->clear_ports();
           },
           "spec.externalName", T::kRequired},
          {"externalTrafficPolicy on ClusterIP",
           [](Service& s) { s.mutable_spec()->set_external_traffic_policy("Local"); },
           "spec.externalTrafficPolicy", T::kInvalid},
          {"loadBalancerSourceRanges on ClusterIP",
           [](Service& s) { s.mutable_spec()->add_load_balancer_source_ranges("10.0.0.0/8"); },
           "spec.loadBalancerSourceRanges", T::kForbidden},
          {"externalIPs loopback",
           [](Service& s) { s.mutable_spec()->add_external_ips("127.0.0.1"); },
           "spec.externalIPs[0]", T::kInvalid,
           "spec.externalIPs[0]: Invalid value: \"127.0.0.1\": may not be in the loopback range "
           "(127.0.0.0/8, ::1/128)"},
          {"name is a DNS-1035 label", [](Service& s) { s.mutable_metadata()->set_name("1web"); },
           "metadata.name", T::kInvalid},
      });
  ExpectValid<Service>(
      BaseService(), &ValidateService,
      [](Service& s) {
        s.mutable_spec()->clear_ports();
        s.mutable_spec()->set_cluster_ip("None");
      },
      "headless without ports");
  ExpectValid<Service>(
      BaseService(), &ValidateService,
      [](Service& s) {
        s.mutable_spec()->clear_ports();
        s.mutable_spec()->set_type("ExternalName");
        s.mutable_spec()->set_external_name("db.example.com.");
      },
      "ExternalName");
  ExpectValid<Service>(
      BaseService(), &ValidateService,
      [](Service& s) {
        ServiceSpec* spec = s.mutable_spec();
        spec->set_type("LoadBalancer");
        spec->set_cluster_ip("10.96.0.10");
        spec->add_cluster_ips("10.96.0.10");
        spec->add_cluster_ips("fd00::10");
        spec->add_ip_families("IPv4");
        spec->add_ip_families("IPv6");
        spec->set_external_traffic_policy("Local");
        spec->set_health_check_node_port(30999);
        spec->mutable_ports(0)->set_node_port(30080);
        spec->mutable_ports(0)->mutable_target_port()->set_str_val("http");
        spec->add_load_balancer_source_ranges(" 10.0.0.0/8");
        spec->set_session_affinity("ClientIP");
      },
      "dual-stack LoadBalancer");
}

TEST(EndpointsValidationTest, Rules) {
  Endpoints base = FromJson<Endpoints>(R"({
    "metadata": {"name": "web", "namespace": "default"},
    "subsets": [{"addresses": [{"ip": "10.244.1.12", "nodeName": "worker-1"}],
                 "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]
  })");
  auto addr = [](Endpoints& e) { return e.mutable_subsets(0)->mutable_addresses(0); };
  RunCases<Endpoints>(
      base, &ValidateEndpoints,
      {
          {"ip", [&](Endpoints& e) { addr(e)->set_ip("10.244.1"); }, "subsets[0].addresses[0].ip",
           T::kInvalid,
           "subsets[0].addresses[0].ip: Invalid value: \"10.244.1\": must be a valid IP address, "
           "(e.g. 10.9.8.7 or 2001:db8::ffff)",
           2},
          {"loopback", [&](Endpoints& e) { addr(e)->set_ip("127.0.0.1"); },
           "subsets[0].addresses[0].ip", T::kInvalid},
          {"link-local ipv6", [&](Endpoints& e) { addr(e)->set_ip("fe80::1"); },
           "subsets[0].addresses[0].ip", T::kInvalid},
          {"nodeName", [&](Endpoints& e) { addr(e)->set_node_name("Worker_1"); },
           "subsets[0].addresses[0].nodeName", T::kInvalid},
          {"no addresses", [](Endpoints& e) { e.mutable_subsets(0)->clear_addresses(); },
           "subsets[0]", T::kRequired,
           "subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`"},
          {"port", [](Endpoints& e) { e.mutable_subsets(0)->mutable_ports(0)->set_port(0); },
           "subsets[0].ports[0].port", T::kInvalid},
          {"port names with several ports",
           [](Endpoints& e) { e.mutable_subsets(0)->add_ports()->set_port(9090); },
           "subsets[0].ports[1].name", T::kRequired},
          {"protocol",
           [](Endpoints& e) { e.mutable_subsets(0)->mutable_ports(0)->set_protocol("tcp"); },
           "subsets[0].ports[0].protocol", T::kNotSupported},
      });
}

TEST(NodeValidationTest, Rules) {
  Node base = FromJson<Node>(R"({
    "metadata": {"name": "worker-1"},
    "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24", "fd00:1::/64"],
             "taints": [{"key": "example.com/dedicated", "value": "db", "effect": "NoSchedule"}]},
    "status": {"capacity": {"cpu": "8", "pods": "110"}}
  })");
  auto taint = [](Node& n) { return n.mutable_spec()->mutable_taints(0); };
  RunCases<Node>(
      base, &ValidateNode,
      {
          {"namespace", [](Node& n) { n.mutable_metadata()->set_namespace_("default"); },
           "metadata.namespace", T::kForbidden,
           "metadata.namespace: Forbidden: not allowed on this type"},
          {"taint effect", [&](Node& n) { taint(n)->set_effect("NoRun"); }, "spec.taints[0].effect",
           T::kNotSupported},
          {"taint effect missing", [&](Node& n) { taint(n)->clear_effect(); },
           "spec.taints[0].effect", T::kRequired},
          {"taint key", [&](Node& n) { taint(n)->set_key("a b"); }, "spec.taints[0].key",
           T::kInvalid},
          {"taint value", [&](Node& n) { taint(n)->set_value("a b"); }, "spec.taints[0].value",
           T::kInvalid},
          {"duplicate taint",
           [](Node& n) {
             Taint* t = n.mutable_spec()->add_taints();
             *t = n.spec().taints(0);
             t->set_value("other");
           },
           "spec.taints[1]", T::kDuplicate},
          {"podCIDR",
           [](Node& n) {
             n.mutable_spec()->set_pod_cidr("10.244.1.0/33");
             n.mutable_spec()->clear_pod_cidrs();
           },
           "spec.podCIDR", T::kInvalid,
           "spec.podCIDR: Invalid value: \"10.244.1.0/33\": must be a valid CIDR value, (e.g. "
           "10.9.8.0/24 or 2001:db8::/64)"},
          {"podCIDRs of one family",
           [](Node& n) { n.mutable_spec()->set_pod_cidrs(1, "10.245.0.0/24"); }, "spec.podCIDRs",
           T::kInvalid},
          {"capacity negative",
           [](Node& n) { (*n.mutable_status()->mutable_capacity())["cpu"] = "-1"; },
           "status.capacity[cpu]", T::kInvalid},
      });
  FieldErrorList errs;
  Node dup = base;
  *dup.mutable_spec()->add_taints() = base.spec().taints(0);
  errs = ValidateNode(dup);
  ASSERT_EQ(errs.size(), 1u) << Render(errs);
  EXPECT_THAT(errs[0].ToString(), ::testing::StartsWith("spec.taints[1]: Duplicate value: {"));
  EXPECT_THAT(errs[0].ToString(),
              ::testing::EndsWith(": taints must be unique by key and effect pair"));
}

// ---------------------------------------------------------------------------
// Configuration and policy

TEST(ConfigMapValidationTest, Rules) {
  ConfigMap base = FromJson<ConfigMap>(R"({
    "metadata": {"name": "cfg", "namespace": "default"},
    "data": {"LOG_LEVEL": "info", "app.conf": "x=1"},
    "binaryData": {"blob.bin": "AAEC"}
  })");
  RunCases<ConfigMap>(
      base, &ValidateConfigMap,
      {
          {"key", [](ConfigMap& c) { (*c.mutable_data())["bad key"] = "x"; }, "data[bad key]",
           T::kInvalid,
           "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of "
           "alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or "
           "'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"},
          {"dot-dot", [](ConfigMap& c) { (*c.mutable_data())[".."] = "x"; }, "data[..]",
           T::kInvalid, "data[..]: Invalid value: \"..\": must not be '..'"},
          {"binary key", [](ConfigMap& c) { (*c.mutable_binary_data())["a/b"] = "x"; },
           "binaryData[a/b]", T::kInvalid},
          {"key in both", [](ConfigMap& c) { (*c.mutable_binary_data())["LOG_LEVEL"] = "x"; },
           "data[LOG_LEVEL]", T::kInvalid,
           "data[LOG_LEVEL]: Invalid value: \"LOG_LEVEL\": duplicate of key present in binaryData"},
          {"too large",
           [](ConfigMap& c) { (*c.mutable_data())["big"] = std::string(1 << 20, 'x'); }, "",
           T::kTooLong, "Too long: must have at most 1048576 bytes"},
      });
}

TEST(SecretValidationTest, Rules) {
  Secret base = FromJson<Secret>(R"({
    "metadata": {"name": "tls", "namespace": "default"},
    "type": "kubernetes.io/tls",
    "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"}
  })");
  RunCases<Secret>(
      base, &ValidateSecret,
      {
          {"tls key missing", [](Secret& s) { s.mutable_data()->erase("tls.key"); },
           "data[tls.key]", T::kRequired, "data[tls.key]: Required value"},
          {"tls cert missing", [](Secret& s) { s.mutable_data()->erase("tls.crt"); },
           "data[tls.crt]", T::kRequired},
          {"key", [](Secret& s) { (*s.mutable_data())["a b"] = "x"; }, "data[a b]", T::kInvalid},
          {"stringData key", [](Secret& s) { (*s.mutable_string_data())["a b"] = "x"; },
           "stringData[a b]", T::kInvalid},
          {"dockerconfigjson missing",
           [](Secret& s) { s.set_type("kubernetes.io/dockerconfigjson"); },
           "data[.dockerconfigjson]", T::kRequired},
          {"dockerconfigjson not JSON",
           [](Secret& s) {
             s.set_type("kubernetes.io/dockerconfigjson");
             (*s.mutable_data())[".dockerconfigjson"] = "{nope";
           },
           "data[.dockerconfigjson]", T::kInvalid},
          {"basic-auth", [](Secret& s) { s.set_type("kubernetes.io/basic-auth"); },
           "data[username]", T::kRequired, "", 2},
          {"service account token",
           [](Secret& s) { s.set_type("kubernetes.io/service-account-token"); },
           "metadata.annotations[kubernetes.io/service-account.name]", T::kRequired},
          {"too large", [](Secret& s) { (*s.mutable_data())["big"] = std::string(1 << 20, 'x'); },
           "data", T::kTooLong, "data: Too long: must have at most 1048576 bytes"},
      });
  ExpectValid<Secret>(
      base, &ValidateSecret,
      [](Secret& s) {
        s.mutable_data()->clear();
        (*s.mutable_string_data())["tls.crt"] = "cert";
        (*s.mutable_string_data())["tls.key"] = "key";
      },
      "tls keys given as stringData");
  ExpectValid<Secret>(
      base, &ValidateSecret,
      [](Secret& s) {
        s.set_type("kubernetes.io/dockerconfigjson");
        (*s.mutable_data())[".dockerconfigjson"] = R"({"auths":{}})";
      },
      "dockerconfigjson");
}

TEST(NamespaceValidationTest, Rules) {
  Namespace base = FromJson<Namespace>(R"({"metadata": {"name": "team-a"},
                                           "spec": {"finalizers": ["kubernetes"]}})");
  RunCases<Namespace>(
      base, &ValidateNamespace,
      {
          {"dots", [](Namespace& n) { n.mutable_metadata()->set_name("team.a"); }, "metadata.name",
           T::kInvalid, "metadata.name: Invalid value: \"team.a\": must not contain dots"},
          {"too long", [](Namespace& n) { n.mutable_metadata()->set_name(std::string(64, 'a')); },
           "metadata.name", T::kInvalid,
           "metadata.name: Invalid value: \"" + std::string(64, 'a') +
               "\": must be no more than 63 characters"},
          {"namespace", [](Namespace& n) { n.mutable_metadata()->set_namespace_("default"); },
           "metadata.namespace", T::kForbidden},
          {"finalizer", [](Namespace& n) { n.mutable_spec()->add_finalizers("cleanup"); },
           "spec.finalizers", T::kInvalid},
      });
}

TEST(ServiceAccountValidationTest, Rules) {
  ServiceAccount base =
      FromJson<ServiceAccount>(R"({"metadata": {"name": "builder", "namespace": "ci"}})");
  RunCases<ServiceAccount>(
      base, &ValidateServiceAccount,
      {
          {"name", [](ServiceAccount& s) { s.mutable_metadata()->set_name("Builder"); },
           "metadata.name", T::kInvalid},
      });
}

TEST(LimitRangeValidationTest, Rules) {
  LimitRange base = FromJson<LimitRange>(R"({
    "metadata": {"name": "limits", "namespace": "default"},
    "spec": {"limits": [{"type": "Container",
                         "min": {"cpu": "10m"}, "defaultRequest": {"cpu": "100m"},
                         "default": {"cpu": "200m"}, "max": {"cpu": "1"},
                         "maxLimitRequestRatio": {"cpu": "4"}}]}
  })");
  auto item = [](LimitRange& l) { return l.mutable_spec()->mutable_limits(0); };
  RunCases<LimitRange>(
      base, &ValidateLimitRange,
      {
          {"type", [&](LimitRange& l) { item(l)->set_type("Widget"); }, "spec.limits[0].type",
           T::kInvalid,
           "spec.limits[0].type: Invalid value: \"Widget\": must be a standard limit type or fully "
           "qualified"},
          {"duplicate type",
           [](LimitRange& l) { *l.mutable_spec()->add_limits() = l.spec().limits(0); },
           "spec.limits[1].type", T::kDuplicate},
          {"min above max", [&](LimitRange& l) { (*item(l)->mutable_min())["cpu"] = "2"; },
           "spec.limits[0].min[cpu]", T::kInvalid,
           "spec.limits[0].min[cpu]: Invalid value: 2: min value 2 is greater than max value 1",
           4},  // and above the default and the default request
          {"default request above default",
           [&](LimitRange& l) { (*item(l)->mutable_default_request())["cpu"] = "300m"; },
           "spec.limits[0].defaultRequest[cpu]", T::kInvalid,
           "spec.limits[0].defaultRequest[cpu]: Invalid value: 300m: default request value 300m is "
           "greater than default limit value 200m"},
          {"default above max", [&](LimitRange& l) { (*item(l)->mutable_default_())["cpu"] = "2"; },
           "spec.limits[0].default[cpu]", T::kInvalid},
          {"ratio below 1",
           [&](LimitRange& l) { (*item(l)->mutable_max_limit_request_ratio())["cpu"] = "500m"; },
           "spec.limits[0].maxLimitRequestRatio[cpu]", T::kInvalid},
          {"ratio above max/min",
           [&](LimitRange& l) { (*item(l)->mutable_max_limit_request_ratio())["cpu"] = "200"; },
           "spec.limits[0].maxLimitRequestRatio[cpu]", T::kInvalid,
           "spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value: 200: ratio 200 is greater "
           "than "
           "max/min = 100.000000"},
          {"Pod with defaults", [&](LimitRange& l) { item(l)->set_type("Pod"); },
           "spec.limits[0].default", T::kForbidden,
           "spec.limits[0].default: Forbidden: may not be specified when `type` is 'Pod'", 2},
          {"resource name", [&](LimitRange& l) { (*item(l)->mutable_max())["pods"] = "1"; },
           "spec.limits[0].max[pods]", T::kInvalid},
      });
}

TEST(ResourceQuotaValidationTest, Rules) {
  ResourceQuota base = FromJson<ResourceQuota>(R"({
    "metadata": {"name": "compute", "namespace": "default"},
    "spec": {"hard": {"pods": "10", "requests.cpu": "4", "count/deployments.apps": "5"}}
  })");
  auto hard = [](ResourceQuota& q) { return q.mutable_spec()->mutable_hard(); };
  RunCases<ResourceQuota>(
      base, &ValidateResourceQuota,
      {
          {"negative", [&](ResourceQuota& q) { (*hard(q))["requests.cpu"] = "-1"; },
           "spec.hard[requests.cpu]", T::kInvalid,
           "spec.hard[requests.cpu]: Invalid value: \"-1\": must be greater than or equal to 0"},
          {"not whole", [&](ResourceQuota& q) { (*hard(q))["pods"] = "1500m"; }, "spec.hard[pods]",
           T::kInvalid, "spec.hard[pods]: Invalid value: 1500m: must be an integer"},
          {"unknown", [&](ResourceQuota& q) { (*hard(q))["widgets"] = "1"; }, "spec.hard[widgets]",
           T::kInvalid, "", 2},
          {"conflicting scopes",
           [](ResourceQuota& q) {
             q.mutable_spec()->add_scopes("BestEffort");
             q.mutable_spec()->add_scopes("NotBestEffort");
           },
           "spec.scopes", T::kInvalid},
          {"unknown scope", [](ResourceQuota& q) { q.mutable_spec()->add_scopes("Cheap"); },
           "spec.scopes", T::kInvalid},
          {"scopeSelector In without values",
           [](ResourceQuota& q) {
             ScopedResourceSelectorRequirement* r =
                 q.mutable_spec()->mutable_scope_selector()->add_match_expressions();
             r->set_scope_name("PriorityClass");
             r->set_operator_("In");
           },
           "spec.scopeSelector.matchExpressions.values", T::kRequired},
          {"status", [](ResourceQuota& q) { (*q.mutable_status()->mutable_used())["pods"] = "-2"; },
           "status.used[pods]", T::kInvalid},
      });
}

TEST(EventValidationTest, Rules) {
  Event base = FromJson<Event>(R"({
    "metadata": {"name": "web.1816a7c2e4b09f31", "namespace": "web"},
    "involvedObject": {"kind": "Pod", "namespace": "web", "name": "web-0"},
    "reason": "Pulled", "type": "Normal"
  })");
  RunCases<Event>(
      base, &ValidateEvent,
      {
          {"namespace mismatch",
           [](Event& e) { e.mutable_involved_object()->set_namespace_("other"); },
           "involvedObject.namespace", T::kInvalid,
           "involvedObject.namespace: Invalid value: \"other\": does not match event.namespace"},
          {"new event without reporter",
           [](Event& e) {
             e.mutable_event_time()->set_seconds(1700000000);
             e.set_action("Pulling");
             e.set_reporting_instance("worker-1");
           },
           "reportingComponent", T::kRequired},
      });
  ExpectValid<Event>(
      base, &ValidateEvent,
      [](Event& e) {
        e.mutable_metadata()->set_namespace_("default");
        e.mutable_involved_object()->clear_namespace_();
        e.mutable_involved_object()->set_kind("Node");
      },
      "an event about a node, in default");
}

TEST(BindingValidationTest, Rules) {
  Binding base = FromJson<Binding>(R"({
    "metadata": {"name": "web-0", "namespace": "default"},
    "target": {"kind": "Node", "name": "worker-1"}
  })");
  RunCases<Binding>(
      base, &ValidateBinding,
      {
          {"kind", [](Binding& b) { b.mutable_target()->set_kind("Pod"); }, "target.kind",
           T::kNotSupported,
           "target.kind: Unsupported value: \"Pod\": supported values: \"Node\", \"<empty>\""},
          {"name", [](Binding& b) { b.mutable_target()->clear_name(); }, "target.name",
           T::kRequired, "target.name: Required value"},
      });
}

TEST(PodTemplateValidationTest, PathsStartAtTheTemplate) {
  PodTemplateSpec tmpl;
  (*tmpl.mutable_metadata()->mutable_labels())["app"] = "not valid";
  Container* c = tmpl.mutable_spec()->add_containers();
  c->set_name("app");
  FieldErrorList errs = ValidatePodTemplateSpec(tmpl, FieldPath("spec").Child("template"));
  std::vector<std::string> fields;
  for (const FieldError& e : errs) fields.push_back(e.field);
  EXPECT_THAT(fields, ::testing::ElementsAre("spec.template.metadata.labels",
                                             "spec.template.spec.containers[0].image"))
      << Render(errs);
}

// ---------------------------------------------------------------------------
// The manifests in tests/data

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> DataFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e :
       std::filesystem::directory_iterator(std::string(KORCH_TEST_DATA_DIR) + dir)) {
    out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// kubectl fills in the namespace of its context for namespaced objects that
// do not name one; do the same.
void DefaultNamespace(google::protobuf::Message* object) {
  const KindInfo* kind = Scheme::Builtin().Find(object->GetDescriptor());
  if (kind == nullptr || !kind->namespaced) return;
  const google::protobuf::FieldDescriptor* f = object->GetDescriptor()->FindFieldByName("metadata");
  auto* meta = google::protobuf::DynamicCastToGenerated<ObjectMeta>(
      object->GetReflection()->MutableMessage(object, f));
  if (meta != nullptr && meta->namespace_().empty()) meta->set_namespace_("default");
}

TEST(ManifestValidationTest, InvalidFilesReportTheExpectedError) {
  int checked = 0;
  for (const std::string& path : DataFiles("/invalid/")) {
    SCOPED_TRACE(path);
    std::ifstream in(path);
    std::string first_line;
    std::getline(in, first_line);
    if (absl::StartsWith(first_line, "# expect-decode:")) continue;
    absl::string_view expect = first_line;
    ASSERT_TRUE(absl::ConsumePrefix(&expect, "# expect: ")) << first_line;
    auto objects = DecodeManifest(ReadFile(path), Scheme::Builtin());
    ASSERT_TRUE(objects.ok()) << objects.status();
    ASSERT_FALSE(objects->empty());
    std::vector<std::string> messages;
    for (auto& object : *objects) {
      SetDefaults(object.get());
      absl::Status status = Validate(*object);
      if (!status.ok()) messages.emplace_back(status.message());
    }
    ASSERT_FALSE(messages.empty()) << "no validation error; expected " << expect;
    EXPECT_THAT(absl::StrJoin(messages, "\n"), HasSubstr(expect));
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(ManifestValidationTest, ValidFilesHaveNoErrors) {
  int checked = 0;
  for (const std::string& path : DataFiles("/valid/")) {
    SCOPED_TRACE(path);
    auto objects = DecodeManifest(ReadFile(path), Scheme::Builtin());
    ASSERT_TRUE(objects.ok()) << objects.status();
    for (auto& object : *objects) {
      SetDefaults(object.get());
      DefaultNamespace(object.get());
      absl::Status status = Validate(*object);
      EXPECT_TRUE(status.ok()) << status.message();
      ++checked;
    }
  }
  EXPECT_GT(checked, 10);
}

}  // namespace
}  // namespace korch::api
