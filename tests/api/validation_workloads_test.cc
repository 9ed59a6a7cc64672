// Validation of the apps, batch, rbac, coordination, scheduling, discovery and
// autoscaling kinds (lib/api/validation_workloads.cc): a minimal valid object
// of each kind passes, and each rule's violation is reported at its field
// path, with its type and Kubernetes' text.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "korch/api/codec.h"
#include "korch/api/defaults.h"
#include "korch/api/field_errors.h"
#include "korch/api/scheme.h"
#include "korch/api/validation.h"

namespace korch::api {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// ---------------------------------------------------------------------------
// Minimal valid objects.

PodTemplateSpec Template(absl::string_view restart_policy = "") {
  PodTemplateSpec t;
  (*t.mutable_metadata()->mutable_labels())["app"] = "web";
  (*t.mutable_metadata()->mutable_labels())["tier"] = "fe";
  if (!restart_policy.empty()) t.mutable_spec()->set_restart_policy(std::string(restart_policy));
  Container* c = t.mutable_spec()->add_containers();
  c->set_name("app");
  c->set_image("registry.example.com/web:1.0");
  return t;
}

void SelectApp(LabelSelector* s, absl::string_view app = "web") {
  (*s->mutable_match_labels())["app"] = std::string(app);
}

void Meta(ObjectMeta* m, absl::string_view name, absl::string_view ns = "default") {
  m->set_name(std::string(name));
  if (!ns.empty()) m->set_namespace_(std::string(ns));
}

Deployment ValidDeployment() {
  Deployment d;
  Meta(d.mutable_metadata(), "web");
  DeploymentSpec* s = d.mutable_spec();
  s->set_replicas(3);
  SelectApp(s->mutable_selector());
  *s->mutable_template_() = Template("Always");
  s->set_progress_deadline_seconds(600);
  return d;
}

ReplicaSet ValidReplicaSet() {
  ReplicaSet rs;
  Meta(rs.mutable_metadata(), "web-7d9f8b6c5d");
  rs.mutable_spec()->set_replicas(2);
  SelectApp(rs.mutable_spec()->mutable_selector());
  *rs.mutable_spec()->mutable_template_() = Template();
  return rs;
}

DaemonSet ValidDaemonSet() {
  DaemonSet ds;
  Meta(ds.mutable_metadata(), "agent");
  SelectApp(ds.mutable_spec()->mutable_selector());
  *ds.mutable_spec()->mutable_template_() = Template();
  return ds;
}

StatefulSet ValidStatefulSet() {
  StatefulSet ss;
  Meta(ss.mutable_metadata(), "db");
  StatefulSetSpec* s = ss.mutable_spec();
  s->set_replicas(3);
  s->set_service_name("db");
  SelectApp(s->mutable_selector());
  *s->mutable_template_() = Template();
  return ss;
}

Job ValidJob() {
  Job job;
  Meta(job.mutable_metadata(), "report");
  job.mutable_spec()->set_completions(3);
  job.mutable_spec()->set_parallelism(2);
  *job.mutable_spec()->mutable_template_() = Template("Never");
  return job;
}

PolicyRule ResourceRule() {
  PolicyRule r;
  r.add_verbs("get");
  r.add_api_groups("");
  r.add_resources("pods");
  return r;
}

Role ValidRole() {
  Role role;
  Meta(role.mutable_metadata(), "pod-reader");
  *role.add_rules() = ResourceRule();
  return role;
}

ClusterRole ValidClusterRole() {
  ClusterRole role;
  Meta(role.mutable_metadata(), "system:monitoring", "");
  *role.add_rules() = ResourceRule();
  PolicyRule* urls = role.add_rules();
  urls->add_verbs("get");
  urls->add_non_resource_urls("/metrics");
  return role;
}

Subject MakeSubject(absl::string_view kind, absl::string_view name, absl::string_view api_group,
                    absl::string_view ns = "") {
  Subject s;
  s.set_kind(std::string(kind));
  s.set_name(std::string(name));
  if (!api_group.empty()) s.set_api_group(std::string(api_group));
  if (!ns.empty()) s.set_namespace_(std::string(ns));
  return s;
}

RoleBinding ValidRoleBinding() {
  RoleBinding b;
  Meta(b.mutable_metadata(), "read-pods");
  b.mutable_role_ref()->set_api_group("rbac.authorization.k8s.io");
  b.mutable_role_ref()->set_kind("Role");
  b.mutable_role_ref()->set_name("pod-reader");
  *b.add_subjects() = MakeSubject("User", "jane@example.com", "rbac.authorization.k8s.io");
  *b.add_subjects() = MakeSubject("ServiceAccount", "web", "");
  return b;
}

ClusterRoleBinding ValidClusterRoleBinding() {
  ClusterRoleBinding b;
  Meta(b.mutable_metadata(), "monitoring", "");
  b.mutable_role_ref()->set_api_group("rbac.authorization.k8s.io");
  b.mutable_role_ref()->set_kind("ClusterRole");
  b.mutable_role_ref()->set_name("system:monitoring");
  *b.add_subjects() = MakeSubject("Group", "sre", "rbac.authorization.k8s.io");
  *b.add_subjects() = MakeSubject("ServiceAccount", "prometheus", "", "monitoring");
  return b;
}

Lease ValidLease() {
  Lease lease;
  Meta(lease.mutable_metadata(), "worker-1", "kube-node-lease");
  lease.mutable_spec()->set_holder_identity("worker-1");
  lease.mutable_spec()->set_lease_duration_seconds(40);
  lease.mutable_spec()->set_lease_transitions(0);
  return lease;
}

PriorityClass ValidPriorityClass() {
  PriorityClass pc;
  Meta(pc.mutable_metadata(), "high-priority", "");
  pc.set_value(1000000);
  pc.set_preemption_policy("PreemptLowerPriority");
  return pc;
}

EndpointSlice ValidEndpointSlice() {
  EndpointSlice slice;
  Meta(slice.mutable_metadata(), "web-h7x2k");
  slice.set_address_type("IPv4");
  DiscoveryEndpoint* ep = slice.add_endpoints();
  ep->add_addresses("10.244.1.12");
  ep->set_node_name("worker-1");
  ep->set_hostname("web-0");
  ep->mutable_hints()->add_for_zones()->set_name("eu-west-1a");
  DiscoveryEndpointPort* port = slice.add_ports();
  port->set_name("http");
  port->set_port(8080);
  port->set_protocol("TCP");
  port->set_app_protocol("kubernetes.io/h2c");
  return slice;
}

Scale ValidScale() {
  Scale scale;
  Meta(scale.mutable_metadata(), "web");
  scale.mutable_spec()->set_replicas(5);
  return scale;
}

// Validates a copy of `valid` changed by `mutate`.
template <typename T>
FieldErrorList With(T (*valid)(), FieldErrorList (*validate)(const T&),
                    const std::function<void(T*)>& mutate) {
  T obj = valid();
  mutate(&obj);
  return validate(obj);
}

FieldErrorList DeploymentWith(const std::function<void(Deployment*)>& f) {
  return With(&ValidDeployment, &ValidateDeployment, f);
}
FieldErrorList ReplicaSetWith(const std::function<void(ReplicaSet*)>& f) {
  return With(&ValidReplicaSet, &ValidateReplicaSet, f);
}
FieldErrorList DaemonSetWith(const std::function<void(DaemonSet*)>& f) {
  return With(&ValidDaemonSet, &ValidateDaemonSet, f);
}
FieldErrorList StatefulSetWith(const std::function<void(StatefulSet*)>& f) {
  return With(&ValidStatefulSet, &ValidateStatefulSet, f);
}
FieldErrorList JobWith(const std::function<void(Job*)>& f) {
  return With(&ValidJob, &ValidateJob, f);
}
FieldErrorList RoleWith(const std::function<void(Role*)>& f) {
  return With(&ValidRole, &ValidateRole, f);
}
FieldErrorList ClusterRoleWith(const std::function<void(ClusterRole*)>& f) {
  return With(&ValidClusterRole, &ValidateClusterRole, f);
}
FieldErrorList RoleBindingWith(const std::function<void(RoleBinding*)>& f) {
  return With(&ValidRoleBinding, &ValidateRoleBinding, f);
}
FieldErrorList ClusterRoleBindingWith(const std::function<void(ClusterRoleBinding*)>& f) {
  return With(&ValidClusterRoleBinding, &ValidateClusterRoleBinding, f);
}
FieldErrorList LeaseWith(const std::function<void(Lease*)>& f) {
  return With(&ValidLease, &ValidateLease, f);
}
FieldErrorList PriorityClassWith(const std::function<void(PriorityClass*)>& f) {
  return With(&ValidPriorityClass, &ValidatePriorityClass, f);
}
FieldErrorList EndpointSliceWith(const std::function<void(EndpointSlice*)>& f) {
  return With(&ValidEndpointSlice, &ValidateEndpointSlice, f);
}
FieldErrorList ScaleWith(const std::function<void(Scale*)>& f) {
  return With(&ValidScale, &ValidateScale, f);
}

std::string Dump(const FieldErrorList& errs) {
  if (errs.empty()) return "(no errors)";
  return absl::StrJoin(errs, "\n  ",
                       [](std::string* out, const FieldError& e) { out->append(e.ToString()); });
}

// ---------------------------------------------------------------------------
// Valid objects pass.

TEST(WorkloadValidationTest, MinimalValidObjectsPass) {
  EXPECT_EQ(Dump(ValidateDeployment(ValidDeployment())), "(no errors)");
  EXPECT_EQ(Dump(ValidateReplicaSet(ValidReplicaSet())), "(no errors)");
  EXPECT_EQ(Dump(ValidateDaemonSet(ValidDaemonSet())), "(no errors)");
  EXPECT_EQ(Dump(ValidateStatefulSet(ValidStatefulSet())), "(no errors)");
  EXPECT_EQ(Dump(ValidateJob(ValidJob())), "(no errors)");
  EXPECT_EQ(Dump(ValidateRole(ValidRole())), "(no errors)");
  EXPECT_EQ(Dump(ValidateClusterRole(ValidClusterRole())), "(no errors)");
  EXPECT_EQ(Dump(ValidateRoleBinding(ValidRoleBinding())), "(no errors)");
  EXPECT_EQ(Dump(ValidateClusterRoleBinding(ValidClusterRoleBinding())), "(no errors)");
  EXPECT_EQ(Dump(ValidateLease(ValidLease())), "(no errors)");
  EXPECT_EQ(Dump(ValidatePriorityClass(ValidPriorityClass())), "(no errors)");
  EXPECT_EQ(Dump(ValidateEndpointSlice(ValidEndpointSlice())), "(no errors)");
  EXPECT_EQ(Dump(ValidateScale(ValidScale())), "(no errors)");
}

// Each of these is valid in Kubernetes too; several rely on the defaults of
// fields that are left unset.
struct ValidCase {
  std::string name;
  std::function<FieldErrorList()> validate;
};

class WorkloadValidationValidTest : public ::testing::TestWithParam<ValidCase> {};

TEST_P(WorkloadValidationValidTest, Passes) {
  EXPECT_EQ(Dump(GetParam().validate()), "(no errors)");
}

std::vector<ValidCase> ValidCases() {
  return {
      {"DeploymentRecreate",
       [] {
         return DeploymentWith(
             [](Deployment* d) { d->mutable_spec()->mutable_strategy()->set_type("Recreate"); });
       }},
      {"DeploymentRollingUpdateParameters",
       [] {
         return DeploymentWith([](Deployment* d) {
           auto* s = d->mutable_spec()->mutable_strategy();
           s->set_type("RollingUpdate");
           s->mutable_rolling_update()->mutable_max_unavailable()->set_int_val(0);
           s->mutable_rolling_update()->mutable_max_surge()->set_str_val("100%");
         });
       }},
      {"DeploymentRollingUpdateWithDefaultedParameters",
       [] {
         // maxUnavailable 0 with maxSurge defaulted to 25%.
         return DeploymentWith([](Deployment* d) {
           d->mutable_spec()
               ->mutable_strategy()
               ->mutable_rolling_update()
               ->mutable_max_unavailable()
               ->set_int_val(0);
         });
       }},
      {"DeploymentZeroReplicasAndHistory",
       [] {
         return DeploymentWith([](Deployment* d) {
           d->mutable_spec()->set_replicas(0);
           d->mutable_spec()->set_revision_history_limit(0);
         });
       }},
      {"DeploymentUnsetRestartPolicyDefaultsToAlways",
       [] {
         return DeploymentWith([](Deployment* d) {
           d->mutable_spec()->mutable_template_()->mutable_spec()->clear_restart_policy();
         });
       }},
      {"DeploymentSelectorWithExpressions",
       [] {
         return DeploymentWith([](Deployment* d) {
           auto* e = d->mutable_spec()->mutable_selector()->add_match_expressions();
           e->set_key("tier");
           e->set_operator_("In");
           e->add_values("fe");
           e->add_values("be");
         });
       }},
      {"DaemonSetOnDelete",
       [] {
         return DaemonSetWith([](DaemonSet* ds) {
           ds->mutable_spec()->mutable_update_strategy()->set_type("OnDelete");
         });
       }},
      {"DaemonSetSurgeInsteadOfUnavailable",
       [] {
         return DaemonSetWith([](DaemonSet* ds) {
           auto* ru = ds->mutable_spec()->mutable_update_strategy()->mutable_rolling_update();
           ru->mutable_max_unavailable()->set_int_val(0);
           ru->mutable_max_surge()->set_str_val("10%");
         });
       }},
      {"StatefulSetParallelOnDelete",
       [] {
         return StatefulSetWith([](StatefulSet* ss) {
           ss->mutable_spec()->set_pod_management_policy("Parallel");
           ss->mutable_spec()->mutable_update_strategy()->set_type("OnDelete");
         });
       }},
      {"StatefulSetPartitionAndMaxUnavailable",
       [] {
         return StatefulSetWith([](StatefulSet* ss) {
           auto* ru = ss->mutable_spec()->mutable_update_strategy()->mutable_rolling_update();
           ru->set_partition(2);
           ru->mutable_max_unavailable()->set_str_val("50%");
         });
       }},
      {"JobOnFailure",
       [] {
         return JobWith([](Job* j) {
           j->mutable_spec()->mutable_template_()->mutable_spec()->set_restart_policy("OnFailure");
         });
       }},
      {"JobWithMatchingSelector",
       [] {
         return JobWith([](Job* j) {
           j->mutable_spec()->set_manual_selector(true);
           SelectApp(j->mutable_spec()->mutable_selector());
         });
       }},
      {"JobIndexedWithPolicies",
       [] {
         return JobWith([](Job* j) {
           JobSpec* s = j->mutable_spec();
           s->set_completion_mode("Indexed");
           s->set_completions(10);
           s->set_backoff_limit_per_index(1);
           s->set_max_failed_indexes(5);
           s->set_pod_replacement_policy("Failed");
           auto* rule = s->mutable_pod_failure_policy()->add_rules();
           rule->set_action("FailIndex");
           rule->mutable_on_exit_codes()->set_operator_("In");
           rule->mutable_on_exit_codes()->add_values(1);
           rule->mutable_on_exit_codes()->add_values(42);
           auto* ignore = s->mutable_pod_failure_policy()->add_rules();
           ignore->set_action("Ignore");
           ignore->add_on_pod_conditions()->set_type("DisruptionTarget");
           auto* sp = s->mutable_success_policy()->add_rules();
           sp->set_succeeded_indexes("0,2-4,9");
           sp->set_succeeded_count(3);
           s->set_managed_by("kubernetes.io/job-controller");
         });
       }},
      {"RoleBindingServiceAccountInBindingNamespace",
       [] {
         return RoleBindingWith([](RoleBinding* b) {
           b->clear_subjects();
           *b->add_subjects() = MakeSubject("ServiceAccount", "web", "");
         });
       }},
      {"RoleBindingDefaultedApiGroups",
       [] {
         return RoleBindingWith([](RoleBinding* b) {
           b->mutable_role_ref()->clear_api_group();
           b->mutable_role_ref()->set_kind("ClusterRole");
           b->mutable_role_ref()->set_name("view");
           *b->add_subjects() = MakeSubject("Group", "storefront-developers", "");
         });
       }},
      {"ClusterRoleAggregation",
       [] {
         return ClusterRoleWith([](ClusterRole* r) {
           r->clear_rules();
           auto* sel = r->mutable_aggregation_rule()->add_cluster_role_selectors();
           (*sel->mutable_match_labels())["rbac.example.com/aggregate-to-monitoring"] = "true";
         });
       }},
      {"KnownSystemPriorityClass",
       [] {
         return PriorityClassWith([](PriorityClass* pc) {
           pc->mutable_metadata()->set_name("system-cluster-critical");
           pc->set_value(2000000000);
         });
       }},
      {"NegativePriority",
       [] {
         return PriorityClassWith([](PriorityClass* pc) {
           pc->set_value(-100);
           pc->set_preemption_policy("Never");
         });
       }},
      {"EndpointSliceIPv6AndUnsetPort",
       [] {
         return EndpointSliceWith([](EndpointSlice* s) {
           s->set_address_type("IPv6");
           s->mutable_endpoints(0)->set_addresses(0, "2001:db8::10");
           s->mutable_ports(0)->clear_port();
           s->mutable_ports(0)->clear_protocol();
         });
       }},
      {"EndpointSliceFQDN",
       [] {
         return EndpointSliceWith([](EndpointSlice* s) {
           s->set_address_type("FQDN");
           s->mutable_endpoints(0)->set_addresses(0, "web.example.com.");
         });
       }},
      {"LeaseWithoutDuration",
       [] {
         return LeaseWith([](Lease* l) { l->mutable_spec()->clear_lease_duration_seconds(); });
       }},
  };
}

INSTANTIATE_TEST_SUITE_P(All, WorkloadValidationValidTest, ::testing::ValuesIn(ValidCases()),
                         [](const ::testing::TestParamInfo<ValidCase>& info) {
                           return info.param.name;
                         });

// ---------------------------------------------------------------------------
// One broken rule at a time.

struct ErrorCase {
  std::string name;
  std::function<FieldErrorList()> validate;
  std::string field;
  FieldErrorType type;
  // The exact ToString() of the error, or empty to check field and type only.
  std::string text;
  // How many errors the object has in all; -1 to not check.
  int count = 1;
};

class WorkloadValidationErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(WorkloadValidationErrorTest, ReportsTheRule) {
  const ErrorCase& c = GetParam();
  FieldErrorList errs = c.validate();
  auto it = std::find_if(errs.begin(), errs.end(), [&](const FieldError& e) {
    return e.field == c.field && e.type == c.type && (c.text.empty() || e.ToString() == c.text);
  });
  EXPECT_NE(it, errs.end()) << "expected " << (c.text.empty() ? c.field : c.text) << "\ngot:\n  "
                            << Dump(errs);
  if (c.count >= 0) {
    EXPECT_EQ(static_cast<int>(errs.size()), c.count) << Dump(errs);
  }
}

using Err = FieldErrorType;

constexpr char kPercentMsg[] =
    "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or "
    "'93%', regex used for validation is '[0-9]+%')";

std::vector<ErrorCase> AppsCases() {
  return {
      // ---- Deployment
      {"DeploymentReplicasNegative",
       [] { return DeploymentWith([](Deployment* d) { d->mutable_spec()->set_replicas(-1); }); },
       "spec.replicas", Err::kInvalid,
       "spec.replicas: Invalid value: -1: must be greater than or equal to 0"},
      {"DeploymentSelectorMissing",
       [] { return DeploymentWith([](Deployment* d) { d->mutable_spec()->clear_selector(); }); },
       "spec.selector", Err::kRequired, "spec.selector: Required value"},
      {"DeploymentSelectorEmpty",
       [] {
         return DeploymentWith(
             [](Deployment* d) { d->mutable_spec()->mutable_selector()->Clear(); });
       },
       "spec.selector", Err::kInvalid,
       "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
       "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for "
       "deployment"},
      {"DeploymentSelectorMismatch",
       [] {
         return DeploymentWith(
             [](Deployment* d) { SelectApp(d->mutable_spec()->mutable_selector(), "x"); });
       },
       "spec.template.metadata.labels", Err::kInvalid,
       "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\", "
       "\"tier\":\"fe\"}: `selector` does not match template `labels`"},
      {"DeploymentSelectorInvalid",
       [] {
         return DeploymentWith([](Deployment* d) {
           auto* e = d->mutable_spec()->mutable_selector()->add_match_expressions();
           e->set_key("tier");
           e->set_operator_("In");
         });
       },
       "spec.selector", Err::kInvalid,
       "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":"
       "\"web\"}, MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"
       "\"tier\", Operator:\"In\", Values:[]string(nil)}}}: invalid label selector",
       2},
      {"DeploymentSelectorInvalidNamesTheExpression",
       [] {
         return DeploymentWith([](Deployment* d) {
           auto* e = d->mutable_spec()->mutable_selector()->add_match_expressions();
           e->set_key("tier");
           e->set_operator_("In");
         });
       },
       "spec.selector.matchExpressions[0].values", Err::kRequired, "", 2},
      {"DeploymentRestartPolicyNever",
       [] {
         return DeploymentWith([](Deployment* d) {
           d->mutable_spec()->mutable_template_()->mutable_spec()->set_restart_policy("Never");
         });
       },
       "spec.template.spec.restartPolicy", Err::kNotSupported,
       "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: "
       "\"Always\""},
      {"DeploymentActiveDeadlineSeconds",
       [] {
         return DeploymentWith([](Deployment* d) {
           d->mutable_spec()->mutable_template_()->mutable_spec()->set_active_deadline_seconds(30);
         });
       },
       "spec.template.spec.activeDeadlineSeconds", Err::kForbidden,
       "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicaSet "
       "is not Supported"},
      {"DeploymentStrategyTypeUnknown",
       [] {
         return DeploymentWith(
             [](Deployment* d) { d->mutable_spec()->mutable_strategy()->set_type("Rolling"); });
       },
       "spec.strategy", Err::kNotSupported,
       "spec.strategy: Unsupported value: apps.DeploymentStrategy{Type:\"Rolling\", "
       "RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}: supported values: \"Recreate\", "
       "\"RollingUpdate\""},
      {"DeploymentRecreateWithRollingUpdate",
       [] {
         return DeploymentWith([](Deployment* d) {
           auto* s = d->mutable_spec()->mutable_strategy();
           s->set_type("Recreate");
           s->mutable_rolling_update()->mutable_max_surge()->set_int_val(1);
         });
       },
       "spec.strategy.rollingUpdate", Err::kForbidden,
       "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is "
       "'Recreate'"},
      {"DeploymentBothZero",
       [] {
         return DeploymentWith([](Deployment* d) {
           auto* ru = d->mutable_spec()->mutable_strategy()->mutable_rolling_update();
           ru->mutable_max_unavailable()->set_int_val(0);
           ru->mutable_max_surge()->set_str_val("0%");
         });
       },
       "spec.strategy.rollingUpdate.maxUnavailable", Err::kInvalid,
       "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, "
       "IntVal:0, StrVal:\"\"}: may not be 0 when `maxSurge` is 0"},
      {"DeploymentMaxUnavailableOver100Percent",
       [] {
         return DeploymentWith([](Deployment* d) {
           d->mutable_spec()
               ->mutable_strategy()
               ->mutable_rolling_update()
               ->mutable_max_unavailable()
               ->set_str_val("110%");
         });
       },
       "spec.strategy.rollingUpdate.maxUnavailable", Err::kInvalid,
       "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, "
       "IntVal:0, StrVal:\"110%\"}: must not be greater than 100%"},
      {"DeploymentMaxSurgeNotAPercent",
       [] {
         return DeploymentWith([](Deployment* d) {
           d->mutable_spec()
               ->mutable_strategy()
               ->mutable_rolling_update()
               ->mutable_max_surge()
               ->set_str_val("1");
         });
       },
       "spec.strategy.rollingUpdate.maxSurge", Err::kInvalid,
       absl::StrCat(
           "spec.strategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:1, "
           "IntVal:0, StrVal:\"1\"}: ",
           kPercentMsg)},
      {"DeploymentMaxSurgeNegative",
       [] {
         return DeploymentWith([](Deployment* d) {
           d->mutable_spec()
               ->mutable_strategy()
               ->mutable_rolling_update()
               ->mutable_max_surge()
               ->set_int_val(-1);
         });
       },
       "spec.strategy.rollingUpdate.maxSurge", Err::kInvalid,
       "spec.strategy.rollingUpdate.maxSurge: Invalid value: -1: must be greater than or equal to "
       "0"},
      {"DeploymentMinReadySecondsNegative",
       [] {
         return DeploymentWith([](Deployment* d) { d->mutable_spec()->set_min_ready_seconds(-1); });
       },
       "spec.minReadySeconds", Err::kInvalid,
       "spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0"},
      {"DeploymentRevisionHistoryLimitNegative",
       [] {
         return DeploymentWith(
             [](Deployment* d) { d->mutable_spec()->set_revision_history_limit(-2); });
       },
       "spec.revisionHistoryLimit", Err::kInvalid,
       "spec.revisionHistoryLimit: Invalid value: -2: must be greater than or equal to 0"},
      {"DeploymentProgressDeadlineNotAboveMinReady",
       [] {
         return DeploymentWith([](Deployment* d) {
           d->mutable_spec()->set_min_ready_seconds(10);
           d->mutable_spec()->set_progress_deadline_seconds(10);
         });
       },
       "spec.progressDeadlineSeconds", Err::kInvalid,
       "spec.progressDeadlineSeconds: Invalid value: 10: must be greater than minReadySeconds"},
      {"DeploymentNameInvalid",
       [] { return DeploymentWith([](Deployment* d) { d->mutable_metadata()->set_name("Web"); }); },
       "metadata.name", Err::kInvalid, ""},
      {"DeploymentNamespaceMissing",
       [] {
         return DeploymentWith([](Deployment* d) { d->mutable_metadata()->clear_namespace_(); });
       },
       "metadata.namespace", Err::kRequired, ""},

      // ---- ReplicaSet
      {"ReplicaSetReplicasNegative",
       [] { return ReplicaSetWith([](ReplicaSet* rs) { rs->mutable_spec()->set_replicas(-1); }); },
       "spec.replicas", Err::kInvalid,
       "spec.replicas: Invalid value: -1: must be greater than or equal to 0"},
      {"ReplicaSetSelectorEmpty",
       [] {
         return ReplicaSetWith(
             [](ReplicaSet* rs) { rs->mutable_spec()->mutable_selector()->Clear(); });
       },
       "spec.selector", Err::kInvalid,
       // Kubernetes names the deployment here as well.
       "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
       "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for "
       "deployment"},
      {"ReplicaSetSelectorMismatch",
       [] {
         return ReplicaSetWith([](ReplicaSet* rs) {
           rs->mutable_spec()->mutable_template_()->mutable_metadata()->mutable_labels()->erase(
               "app");
         });
       },
       "spec.template.metadata.labels", Err::kInvalid,
       "spec.template.metadata.labels: Invalid value: map[string]string{\"tier\":\"fe\"}: "
       "`selector` does not match template `labels`"},
      {"ReplicaSetRestartPolicyOnFailure",
       [] {
         return ReplicaSetWith([](ReplicaSet* rs) {
           rs->mutable_spec()->mutable_template_()->mutable_spec()->set_restart_policy("OnFailure");
         });
       },
       "spec.template.spec.restartPolicy", Err::kNotSupported,
       "spec.template.spec.restartPolicy: Unsupported value: \"OnFailure\": supported values: "
       "\"Always\""},
      {"ReplicaSetMinReadySecondsNegative",
       [] {
         return ReplicaSetWith(
             [](ReplicaSet* rs) { rs->mutable_spec()->set_min_ready_seconds(-5); });
       },
       "spec.minReadySeconds", Err::kInvalid, ""},

      // ---- DaemonSet
      {"DaemonSetSelectorMissing",
       [] { return DaemonSetWith([](DaemonSet* ds) { ds->mutable_spec()->clear_selector(); }); },
       "spec.selector", Err::kRequired, "spec.selector: Required value"},
      {"DaemonSetSelectorEmpty",
       [] {
         return DaemonSetWith(
             [](DaemonSet* ds) { ds->mutable_spec()->mutable_selector()->Clear(); });
       },
       "spec.selector", Err::kInvalid,
       "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
       "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for "
       "daemonset"},
      {"DaemonSetSelectorMismatch",
       [] {
         return DaemonSetWith(
             [](DaemonSet* ds) { SelectApp(ds->mutable_spec()->mutable_selector(), "agent"); });
       },
       "spec.template.metadata.labels", Err::kInvalid, ""},
      {"DaemonSetRestartPolicyNever",
       [] {
         return DaemonSetWith([](DaemonSet* ds) {
           ds->mutable_spec()->mutable_template_()->mutable_spec()->set_restart_policy("Never");
         });
       },
       "spec.template.spec.restartPolicy", Err::kNotSupported, ""},
      {"DaemonSetActiveDeadlineSeconds",
       [] {
         return DaemonSetWith([](DaemonSet* ds) {
           ds->mutable_spec()->mutable_template_()->mutable_spec()->set_active_deadline_seconds(5);
         });
       },
       "spec.template.spec.activeDeadlineSeconds", Err::kForbidden,
       "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in DaemonSet "
       "is not Supported"},
      {"DaemonSetUpdateStrategyUnknown",
       [] {
         return DaemonSetWith([](DaemonSet* ds) {
           ds->mutable_spec()->mutable_update_strategy()->set_type("Bogus");
         });
       },
       "spec.updateStrategy", Err::kNotSupported,
       "spec.updateStrategy: Unsupported value: apps.DaemonSetUpdateStrategy{Type:\"Bogus\", "
       "RollingUpdate:(*apps.RollingUpdateDaemonSet)(nil)}: supported values: \"RollingUpdate\", "
       "\"OnDelete\""},
      {"DaemonSetSurgeAndUnavailable",
       [] {
         return DaemonSetWith([](DaemonSet* ds) {
           auto* ru = ds->mutable_spec()->mutable_update_strategy()->mutable_rolling_update();
           ru->mutable_max_unavailable()->set_int_val(1);
           ru->mutable_max_surge()->set_int_val(1);
         });
       },
       "spec.updateStrategy.rollingUpdate.maxSurge", Err::kInvalid,
       "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:0, "
       "IntVal:1, StrVal:\"\"}: may not be set when maxUnavailable is non-zero"},
      {"DaemonSetNeitherSurgeNorUnavailable",
       [] {
         return DaemonSetWith([](DaemonSet* ds) {
           ds->mutable_spec()
               ->mutable_update_strategy()
               ->mutable_rolling_update()
               ->mutable_max_unavailable()
               ->set_str_val("0%");
         });
       },
       "spec.updateStrategy.rollingUpdate.maxUnavailable", Err::kRequired,
       "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when "
       "maxSurge is 0"},
      {"DaemonSetSurgeOver100Percent",
       [] {
         return DaemonSetWith([](DaemonSet* ds) {
           auto* ru = ds->mutable_spec()->mutable_update_strategy()->mutable_rolling_update();
           ru->mutable_max_unavailable()->set_int_val(0);
           ru->mutable_max_surge()->set_str_val("150%");
         });
       },
       "spec.updateStrategy.rollingUpdate.maxSurge", Err::kInvalid,
       "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:1, "
       "IntVal:0, StrVal:\"150%\"}: must not be greater than 100%"},
      {"DaemonSetRevisionHistoryLimitNegative",
       [] {
         return DaemonSetWith(
             [](DaemonSet* ds) { ds->mutable_spec()->set_revision_history_limit(-1); });
       },
       "spec.revisionHistoryLimit", Err::kInvalid, ""},

      // ---- StatefulSet
      {"StatefulSetPodManagementPolicyUnknown",
       [] {
         return StatefulSetWith(
             [](StatefulSet* ss) { ss->mutable_spec()->set_pod_management_policy("Random"); });
       },
       "spec.podManagementPolicy", Err::kInvalid,
       "spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'"},
      {"StatefulSetUpdateStrategyUnknown",
       [] {
         return StatefulSetWith([](StatefulSet* ss) {
           ss->mutable_spec()->mutable_update_strategy()->set_type("Bogus");
         });
       },
       "spec.updateStrategy", Err::kInvalid,
       "spec.updateStrategy: Invalid value: apps.StatefulSetUpdateStrategy{Type:\"Bogus\", "
       "RollingUpdate:(*apps.RollingUpdateStatefulSetStrategy)(nil)}: must be 'RollingUpdate' or "
       "'OnDelete'"},
      {"StatefulSetOnDeleteWithRollingUpdate",
       [] {
         return StatefulSetWith([](StatefulSet* ss) {
           auto* us = ss->mutable_spec()->mutable_update_strategy();
           us->set_type("OnDelete");
           us->mutable_rolling_update()->set_partition(2);
         });
       },
       "spec.updateStrategy.rollingUpdate", Err::kInvalid,
       "spec.updateStrategy.rollingUpdate: Invalid value: "
       "apps.RollingUpdateStatefulSetStrategy{Partition:2, "
       "MaxUnavailable:(*intstr.IntOrString)(nil)}: only allowed for updateStrategy "
       "'RollingUpdate'"},
      {"StatefulSetPartitionNegative",
       [] {
         return StatefulSetWith([](StatefulSet* ss) {
           ss->mutable_spec()->mutable_update_strategy()->mutable_rolling_update()->set_partition(
               -1);
         });
       },
       "spec.updateStrategy.rollingUpdate.partition", Err::kInvalid,
       "spec.updateStrategy.rollingUpdate.partition: Invalid value: -1: must be greater than or "
       "equal to 0"},
      {"StatefulSetMaxUnavailableZero",
       [] {
         return StatefulSetWith([](StatefulSet* ss) {
           ss->mutable_spec()
               ->mutable_update_strategy()
               ->mutable_rolling_update()
               ->mutable_max_unavailable()
               ->set_int_val(0);
         });
       },
       "spec.updateStrategy.rollingUpdate.maxUnavailable", Err::kInvalid,
       "spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: "
       "intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: cannot be 0"},
      {"StatefulSetServiceNameInvalid",
       [] {
         return StatefulSetWith(
             [](StatefulSet* ss) { ss->mutable_spec()->set_service_name("DB_svc"); });
       },
       "spec.serviceName", Err::kInvalid, ""},
      {"StatefulSetReplicasNegative",
       [] {
         return StatefulSetWith([](StatefulSet* ss) { ss->mutable_spec()->set_replicas(-1); });
       },
       "spec.replicas", Err::kInvalid,
       "spec.replicas: Invalid value: -1: must be greater than or equal to 0"},
      {"StatefulSetOrdinalsStartNegative",
       [] {
         return StatefulSetWith(
             [](StatefulSet* ss) { ss->mutable_spec()->mutable_ordinals()->set_start(-1); });
       },
       "spec.ordinals.start", Err::kInvalid,
       "spec.ordinals.start: Invalid value: -1: must be greater than or equal to 0"},
      {"StatefulSetRetentionPolicyUnknown",
       [] {
         return StatefulSetWith([](StatefulSet* ss) {
           ss->mutable_spec()->mutable_persistent_volume_claim_retention_policy()->set_when_deleted(
               "Keep");
         });
       },
       "spec.persistentVolumeClaimRetentionPolicy.whenDeleted", Err::kNotSupported,
       "spec.persistentVolumeClaimRetentionPolicy.whenDeleted: Unsupported value: \"Keep\": "
       "supported values: \"Retain\", \"Delete\""},
      {"StatefulSetSelectorEmpty",
       [] {
         return StatefulSetWith(
             [](StatefulSet* ss) { ss->mutable_spec()->mutable_selector()->Clear(); });
       },
       "spec.selector", Err::kInvalid,
       "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
       "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for "
       "statefulset"},
      {"StatefulSetRestartPolicyNever",
       [] {
         return StatefulSetWith([](StatefulSet* ss) {
           ss->mutable_spec()->mutable_template_()->mutable_spec()->set_restart_policy("Never");
         });
       },
       "spec.template.spec.restartPolicy", Err::kNotSupported, ""},
      {"StatefulSetNameMustBeADNSLabel",
       [] {
         return StatefulSetWith(
             [](StatefulSet* ss) { ss->mutable_metadata()->set_name("db.primary"); });
       },
       "metadata.name", Err::kInvalid, ""},
  };
}

std::vector<ErrorCase> JobCases() {
  auto set_restart = [](Job* j, const std::string& policy) {
    j->mutable_spec()->mutable_template_()->mutable_spec()->set_restart_policy(policy);
  };
  return {
      {"JobParallelismNegative",
       [] { return JobWith([](Job* j) { j->mutable_spec()->set_parallelism(-1); }); },
       "spec.parallelism", Err::kInvalid,
       "spec.parallelism: Invalid value: -1: must be greater than or equal to 0"},
      {"JobCompletionsNegative",
       [] { return JobWith([](Job* j) { j->mutable_spec()->set_completions(-1); }); },
       "spec.completions", Err::kInvalid, ""},
      {"JobBackoffLimitNegative",
       [] { return JobWith([](Job* j) { j->mutable_spec()->set_backoff_limit(-1); }); },
       "spec.backoffLimit", Err::kInvalid,
       "spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0"},
      {"JobActiveDeadlineSecondsNegative",
       [] { return JobWith([](Job* j) { j->mutable_spec()->set_active_deadline_seconds(-10); }); },
       "spec.activeDeadlineSeconds", Err::kInvalid, ""},
      {"JobTtlNegative",
       [] {
         return JobWith([](Job* j) { j->mutable_spec()->set_ttl_seconds_after_finished(-1); });
       },
       "spec.ttlSecondsAfterFinished", Err::kInvalid, ""},
      {"JobRestartPolicyUnset",
       [] {
         return JobWith([](Job* j) {
           j->mutable_spec()->mutable_template_()->mutable_spec()->clear_restart_policy();
         });
       },
       "spec.template.spec.restartPolicy", Err::kRequired,
       "spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""},
      {"JobRestartPolicyAlways",
       [set_restart] { return JobWith([&](Job* j) { set_restart(j, "Always"); }); },
       "spec.template.spec.restartPolicy", Err::kRequired,
       "spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""},
      {"JobRestartPolicyUnknown",
       [set_restart] { return JobWith([&](Job* j) { set_restart(j, "Sometimes"); }); },
       "spec.template.spec.restartPolicy", Err::kNotSupported,
       "spec.template.spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: "
       "\"OnFailure\", \"Never\"",
       -1},
      {"JobCompletionModeUnknown",
       [] { return JobWith([](Job* j) { j->mutable_spec()->set_completion_mode("Sparse"); }); },
       "spec.completionMode", Err::kNotSupported,
       "spec.completionMode: Unsupported value: \"Sparse\": supported values: \"NonIndexed\", "
       "\"Indexed\""},
      {"JobIndexedWithoutCompletions",
       [] {
         return JobWith([](Job* j) {
           j->mutable_spec()->set_completion_mode("Indexed");
           j->mutable_spec()->clear_completions();
         });
       },
       "spec.completions", Err::kRequired,
       "spec.completions: Required value: when completion mode is Indexed"},
      {"JobBackoffLimitPerIndexNeedsIndexed",
       [] { return JobWith([](Job* j) { j->mutable_spec()->set_backoff_limit_per_index(1); }); },
       "spec.backoffLimitPerIndex", Err::kInvalid,
       "spec.backoffLimitPerIndex: Invalid value: 1: requires indexed completion mode"},
      {"JobIndexedNameTooLongForPods",
       [] {
         return JobWith([](Job* j) {
           j->mutable_metadata()->set_name(std::string(62, 'a'));
           j->mutable_spec()->set_completion_mode("Indexed");
           j->mutable_spec()->set_completions(10);
         });
       },
       "metadata.name", Err::kInvalid,
       absl::StrCat(
           "metadata.name: Invalid value: \"", std::string(62, 'a'),
           "\": will not able to create pod with invalid DNS label: ", std::string(62, 'a'), "-9")},
      {"JobSelectorMismatch",
       [] {
         return JobWith([](Job* j) { SelectApp(j->mutable_spec()->mutable_selector(), "other"); });
       },
       "spec.template.metadata.labels", Err::kInvalid,
       "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\", "
       "\"tier\":\"fe\"}: `selector` does not match template `labels`"},
      {"JobPodFailurePolicyNeedsNever",
       [set_restart] {
         return JobWith([&](Job* j) {
           set_restart(j, "OnFailure");
           auto* rule = j->mutable_spec()->mutable_pod_failure_policy()->add_rules();
           rule->set_action("FailJob");
           rule->mutable_on_exit_codes()->set_operator_("In");
           rule->mutable_on_exit_codes()->add_values(42);
         });
       },
       "spec.template.spec.restartPolicy", Err::kInvalid,
       "spec.template.spec.restartPolicy: Invalid value: \"OnFailure\": only \"Never\" is "
       "supported when podFailurePolicy is specified"},
      {"JobPodFailurePolicyActionMissing",
       [] {
         return JobWith([](Job* j) {
           auto* rule = j->mutable_spec()->mutable_pod_failure_policy()->add_rules();
           rule->add_on_pod_conditions()->set_type("DisruptionTarget");
         });
       },
       "spec.podFailurePolicy.rules[0].action", Err::kRequired,
       "spec.podFailurePolicy.rules[0].action: Required value: valid values: [\"Count\" "
       "\"FailIndex\" \"FailJob\" \"Ignore\"]"},
      {"JobPodFailurePolicyRuleWithoutRequirement",
       [] {
         return JobWith([](Job* j) {
           j->mutable_spec()->mutable_pod_failure_policy()->add_rules()->set_action("Ignore");
         });
       },
       "spec.podFailurePolicy.rules[0]", Err::kInvalid,
       "spec.podFailurePolicy.rules[0]: Invalid value: specifying one of OnExitCodes and "
       "OnPodConditions is required"},
      {"JobPodFailurePolicyExitCodesUnordered",
       [] {
         return JobWith([](Job* j) {
           auto* rule = j->mutable_spec()->mutable_pod_failure_policy()->add_rules();
           rule->set_action("Count");
           rule->mutable_on_exit_codes()->set_operator_("NotIn");
           rule->mutable_on_exit_codes()->add_values(3);
           rule->mutable_on_exit_codes()->add_values(1);
         });
       },
       "spec.podFailurePolicy.rules[0].onExitCodes.values", Err::kInvalid,
       "spec.podFailurePolicy.rules[0].onExitCodes.values: Invalid value: []int32{3, 1}: must be "
       "ordered"},
      {"JobSuccessPolicyNeedsIndexed",
       [] {
         return JobWith([](Job* j) {
           j->mutable_spec()->mutable_success_policy()->add_rules()->set_succeeded_count(1);
         });
       },
       "spec.successPolicy", Err::kInvalid,
       "spec.successPolicy: Invalid value: requires indexed completion mode"},
      {"JobSuccessPolicyIndexOutOfRange",
       [] {
         return JobWith([](Job* j) {
           j->mutable_spec()->set_completion_mode("Indexed");
           j->mutable_spec()->set_completions(5);
           j->mutable_spec()->mutable_success_policy()->add_rules()->set_succeeded_indexes("1-7");
         });
       },
       "spec.successPolicy.rules[0].succeededIndexes", Err::kInvalid,
       "spec.successPolicy.rules[0].succeededIndexes: Invalid value: \"1-7\": error parsing "
       "succeededIndexes: too large index: \"7\""},
      {"JobManagedByNotAPath",
       [] { return JobWith([](Job* j) { j->mutable_spec()->set_managed_by("nope"); }); },
       "spec.managedBy", Err::kInvalid,
       "spec.managedBy: Invalid value: \"nope\": must be a domain-prefixed path (such as "
       "\"acme.io/foo\")"},
      {"JobPodReplacementPolicyUnknown",
       [] {
         return JobWith([](Job* j) { j->mutable_spec()->set_pod_replacement_policy("Sometimes"); });
       },
       "spec.podReplacementPolicy", Err::kNotSupported,
       "spec.podReplacementPolicy: Unsupported value: \"Sometimes\": supported values: "
       "\"Failed\", \"TerminatingOrFailed\""},
  };
}

std::vector<ErrorCase> RbacCases() {
  return {
      {"RoleRuleWithoutVerbs",
       [] { return RoleWith([](Role* r) { r->mutable_rules(0)->clear_verbs(); }); },
       "rules[0].verbs", Err::kRequired,
       "rules[0].verbs: Required value: verbs must contain at least one value"},
      {"RoleRuleWithNonResourceURLs",
       [] {
         return RoleWith([](Role* r) {
           PolicyRule* rule = r->add_rules();
           rule->add_verbs("get");
           rule->add_non_resource_urls("/healthz");
         });
       },
       "rules[1].nonResourceURLs", Err::kInvalid,
       "rules[1].nonResourceURLs: Invalid value: []string{\"/healthz\"}: namespaced rules cannot "
       "apply to non-resource URLs"},
      {"RoleRuleWithoutApiGroups",
       [] { return RoleWith([](Role* r) { r->mutable_rules(0)->clear_api_groups(); }); },
       "rules[0].apiGroups", Err::kRequired,
       "rules[0].apiGroups: Required value: resource rules must supply at least one api group"},
      {"RoleRuleWithoutResources",
       [] { return RoleWith([](Role* r) { r->mutable_rules(0)->clear_resources(); }); },
       "rules[0].resources", Err::kRequired,
       "rules[0].resources: Required value: resource rules must supply at least one resource"},
      {"RoleNeedsNamespace",
       [] { return RoleWith([](Role* r) { r->mutable_metadata()->clear_namespace_(); }); },
       "metadata.namespace", Err::kRequired, ""},
      {"RoleNameWithSlash",
       [] { return RoleWith([](Role* r) { r->mutable_metadata()->set_name("a/b"); }); },
       "metadata.name", Err::kInvalid, ""},
      {"ClusterRoleRuleWithResourcesAndURLs",
       [] {
         return ClusterRoleWith([](ClusterRole* r) { r->mutable_rules(1)->add_resources("pods"); });
       },
       "rules[1].nonResourceURLs", Err::kInvalid,
       "rules[1].nonResourceURLs: Invalid value: []string{\"/metrics\"}: rules cannot apply to "
       "both regular resources and non-resource URLs"},
      {"ClusterRoleAggregationWithoutSelectors",
       [] { return ClusterRoleWith([](ClusterRole* r) { r->mutable_aggregation_rule(); }); },
       "aggregationRule.clusterRoleSelectors", Err::kRequired,
       "aggregationRule.clusterRoleSelectors: Required value: at least one clusterRoleSelector "
       "required if aggregationRule is non-nil"},
      {"ClusterRoleAggregationSelectorInvalid",
       [] {
         return ClusterRoleWith([](ClusterRole* r) {
           auto* e =
               r->mutable_aggregation_rule()->add_cluster_role_selectors()->add_match_expressions();
           e->set_key("rbac.example.com/aggregate");
           e->set_operator_("Exists");
           e->add_values("true");
         });
       },
       "aggregationRule.clusterRoleSelectors[0]", Err::kInvalid,
       "aggregationRule.clusterRoleSelectors[0]: Invalid value: \"null\": invalid label "
       "selector.",
       -1},
      {"ClusterRoleMustNotHaveNamespace",
       [] {
         return ClusterRoleWith(
             [](ClusterRole* r) { r->mutable_metadata()->set_namespace_("default"); });
       },
       "metadata.namespace", Err::kForbidden, ""},
      {"RoleBindingRoleRefKindUnknown",
       [] {
         return RoleBindingWith([](RoleBinding* b) { b->mutable_role_ref()->set_kind("Group"); });
       },
       "roleRef.kind", Err::kNotSupported,
       "roleRef.kind: Unsupported value: \"Group\": supported values: \"Role\", \"ClusterRole\""},
      {"RoleBindingRoleRefApiGroupWrong",
       [] {
         return RoleBindingWith(
             [](RoleBinding* b) { b->mutable_role_ref()->set_api_group("rbac"); });
       },
       "roleRef.apiGroup", Err::kNotSupported,
       "roleRef.apiGroup: Unsupported value: \"rbac\": supported values: "
       "\"rbac.authorization.k8s.io\""},
      {"RoleBindingRoleRefNameMissing",
       [] { return RoleBindingWith([](RoleBinding* b) { b->mutable_role_ref()->clear_name(); }); },
       "roleRef.name", Err::kRequired, "roleRef.name: Required value"},
      {"RoleBindingRoleRefNameDotDot",
       [] {
         return RoleBindingWith([](RoleBinding* b) { b->mutable_role_ref()->set_name(".."); });
       },
       "roleRef.name", Err::kInvalid, "roleRef.name: Invalid value: \"..\": may not be '..'"},
      {"RoleBindingSubjectKindUnknown",
       [] {
         return RoleBindingWith([](RoleBinding* b) { b->mutable_subjects(0)->set_kind("Robot"); });
       },
       "subjects[0].kind", Err::kNotSupported,
       "subjects[0].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", "
       "\"User\", \"Group\""},
      {"RoleBindingSubjectNameMissing",
       [] { return RoleBindingWith([](RoleBinding* b) { b->mutable_subjects(0)->clear_name(); }); },
       "subjects[0].name", Err::kRequired, "subjects[0].name: Required value"},
      {"RoleBindingServiceAccountNameInvalid",
       [] {
         return RoleBindingWith(
             [](RoleBinding* b) { b->mutable_subjects(1)->set_name("Bad_Name"); });
       },
       "subjects[1].name", Err::kInvalid, ""},
      {"RoleBindingServiceAccountWithApiGroup",
       [] {
         return RoleBindingWith([](RoleBinding* b) {
           b->mutable_subjects(1)->set_api_group("rbac.authorization.k8s.io");
         });
       },
       "subjects[1].apiGroup", Err::kNotSupported,
       "subjects[1].apiGroup: Unsupported value: \"rbac.authorization.k8s.io\": supported "
       "values: \"\""},
      {"RoleBindingUserApiGroupWrong",
       [] {
         return RoleBindingWith(
             [](RoleBinding* b) { b->mutable_subjects(0)->set_api_group("example.com"); });
       },
       "subjects[0].apiGroup", Err::kNotSupported,
       "subjects[0].apiGroup: Unsupported value: \"example.com\": supported values: "
       "\"rbac.authorization.k8s.io\""},
      {"ClusterRoleBindingToRole",
       [] {
         return ClusterRoleBindingWith(
             [](ClusterRoleBinding* b) { b->mutable_role_ref()->set_kind("Role"); });
       },
       "roleRef.kind", Err::kNotSupported,
       "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\""},
      {"ClusterRoleBindingServiceAccountWithoutNamespace",
       [] {
         return ClusterRoleBindingWith(
             [](ClusterRoleBinding* b) { b->mutable_subjects(1)->clear_namespace_(); });
       },
       "subjects[1].namespace", Err::kRequired, "subjects[1].namespace: Required value"},
  };
}

std::vector<ErrorCase> OtherCases() {
  return {
      // ---- Lease
      {"LeaseDurationZero",
       [] { return LeaseWith([](Lease* l) { l->mutable_spec()->set_lease_duration_seconds(0); }); },
       "spec.leaseDurationSeconds", Err::kInvalid,
       "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"},
      {"LeaseTransitionsNegative",
       [] { return LeaseWith([](Lease* l) { l->mutable_spec()->set_lease_transitions(-1); }); },
       "spec.leaseTransitions", Err::kInvalid,
       "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0"},

      // ---- PriorityClass
      {"PriorityClassValueTooHigh",
       [] { return PriorityClassWith([](PriorityClass* pc) { pc->set_value(1000000001); }); },
       "value", Err::kForbidden,
       "value: Forbidden: maximum allowed value of a user defined priority is 1000000000"},
      {"PriorityClassUnknownSystemName",
       [] {
         return PriorityClassWith(
             [](PriorityClass* pc) { pc->mutable_metadata()->set_name("system-custom"); });
       },
       "metadata.name", Err::kForbidden,
       "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for "
       "system use only. error: system-custom is not a known system priority class"},
      {"PriorityClassSystemNameWrongValue",
       [] {
         return PriorityClassWith([](PriorityClass* pc) {
           pc->mutable_metadata()->set_name("system-node-critical");
           pc->set_value(5);
         });
       },
       "metadata.name", Err::kForbidden,
       "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for "
       "system use only. error: value of system-node-critical PriorityClass must be 2000001000"},
      {"PriorityClassPreemptionPolicyUnknown",
       [] {
         return PriorityClassWith(
             [](PriorityClass* pc) { pc->set_preemption_policy("Sometimes"); });
       },
       "preemptionPolicy", Err::kNotSupported,
       "preemptionPolicy: Unsupported value: \"Sometimes\": supported values: "
       "\"PreemptLowerPriority\", \"Never\""},
      {"PriorityClassIsClusterScoped",
       [] {
         return PriorityClassWith(
             [](PriorityClass* pc) { pc->mutable_metadata()->set_namespace_("default"); });
       },
       "metadata.namespace", Err::kForbidden, ""},

      // ---- EndpointSlice
      {"EndpointSliceAddressTypeMissing",
       [] { return EndpointSliceWith([](EndpointSlice* s) { s->clear_address_type(); }); },
       "addressType", Err::kRequired, "addressType: Required value"},
      {"EndpointSliceAddressTypeUnknown",
       [] { return EndpointSliceWith([](EndpointSlice* s) { s->set_address_type("IP"); }); },
       "addressType", Err::kNotSupported,
       "addressType: Unsupported value: \"IP\": supported values: \"FQDN\", \"IPv4\", \"IPv6\""},
      {"EndpointWithoutAddresses",
       [] {
         return EndpointSliceWith(
             [](EndpointSlice* s) { s->mutable_endpoints(0)->clear_addresses(); });
       },
       "endpoints[0].addresses", Err::kRequired,
       "endpoints[0].addresses: Required value: must contain at least 1 address"},
      {"EndpointWithTooManyAddresses",
       [] {
         return EndpointSliceWith([](EndpointSlice* s) {
           for (int i = 0; i < 100; ++i)
             s->mutable_endpoints(0)->add_addresses(absl::StrCat("10.1.0.", i + 1));
         });
       },
       "endpoints[0].addresses", Err::kTooMany,
       "endpoints[0].addresses: Too many: 101: must have at most 100 items"},
      {"EndpointSliceTooManyEndpoints",
       [] {
         return EndpointSliceWith([](EndpointSlice* s) {
           for (int i = 0; i < 1000; ++i) *s->add_endpoints() = s->endpoints(0);
         });
       },
       "endpoints", Err::kTooMany, "endpoints: Too many: 1001: must have at most 1000 items"},
      {"EndpointIPv4Malformed",
       [] {
         return EndpointSliceWith(
             [](EndpointSlice* s) { s->mutable_endpoints(0)->set_addresses(0, "10.0.0.256"); });
       },
       "endpoints[0].addresses[0]", Err::kInvalid,
       "endpoints[0].addresses[0]: Invalid value: \"10.0.0.256\": must be a valid IPv4 address", 2},
      {"EndpointIPv6InIPv4Slice",
       [] {
         return EndpointSliceWith(
             [](EndpointSlice* s) { s->mutable_endpoints(0)->set_addresses(0, "fd00::1"); });
       },
       "endpoints[0].addresses[0]", Err::kInvalid,
       "endpoints[0].addresses[0]: Invalid value: \"fd00::1\": must be a valid IPv4 address"},
      {"EndpointLoopback",
       [] {
         return EndpointSliceWith(
             [](EndpointSlice* s) { s->mutable_endpoints(0)->set_addresses(0, "127.0.0.1"); });
       },
       "endpoints[0].addresses[0]", Err::kInvalid,
       "endpoints[0].addresses[0]: Invalid value: \"127.0.0.1\": may not be in the loopback range "
       "(127.0.0.0/8, ::1/128)"},
      {"EndpointIPv6LinkLocal",
       [] {
         return EndpointSliceWith([](EndpointSlice* s) {
           s->set_address_type("IPv6");
           s->mutable_endpoints(0)->set_addresses(0, "fe80::1");
         });
       },
       "endpoints[0].addresses[0]", Err::kInvalid,
       "endpoints[0].addresses[0]: Invalid value: \"fe80::1\": may not be in the link-local range "
       "(169.254.0.0/16, fe80::/10)"},
      {"EndpointFQDNSingleLabel",
       [] {
         return EndpointSliceWith([](EndpointSlice* s) {
           s->set_address_type("FQDN");
           s->mutable_endpoints(0)->set_addresses(0, "web");
         });
       },
       "endpoints[0].addresses[0]", Err::kInvalid,
       "endpoints[0].addresses[0]: Invalid value: \"web\": should be a domain with at least two "
       "segments separated by dots"},
      {"EndpointHostnameInvalid",
       [] {
         return EndpointSliceWith(
             [](EndpointSlice* s) { s->mutable_endpoints(0)->set_hostname("Web"); });
       },
       "endpoints[0].hostname", Err::kInvalid, ""},
      {"EndpointZoneHintDuplicate",
       [] {
         return EndpointSliceWith([](EndpointSlice* s) {
           s->mutable_endpoints(0)->mutable_hints()->add_for_zones()->set_name("eu-west-1a");
         });
       },
       "endpoints[0].hints.forZones[1].name", Err::kDuplicate,
       "endpoints[0].hints.forZones[1].name: Duplicate value: \"eu-west-1a\""},
      {"EndpointPortZero",
       [] { return EndpointSliceWith([](EndpointSlice* s) { s->mutable_ports(0)->set_port(0); }); },
       "ports[0].port", Err::kInvalid,
       "ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"},
      {"EndpointPortTooLarge",
       [] {
         return EndpointSliceWith([](EndpointSlice* s) { s->mutable_ports(0)->set_port(70000); });
       },
       "ports[0].port", Err::kInvalid,
       "ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive"},
      {"EndpointPortNameDuplicate",
       [] {
         return EndpointSliceWith([](EndpointSlice* s) {
           *s->add_ports() = s->ports(0);
           s->mutable_ports(1)->set_port(8443);
         });
       },
       "ports[1].name", Err::kDuplicate, "ports[1].name: Duplicate value: \"http\""},
      {"EndpointPortProtocolUnknown",
       [] {
         return EndpointSliceWith(
             [](EndpointSlice* s) { s->mutable_ports(0)->set_protocol("HTTP"); });
       },
       "ports[0].protocol", Err::kNotSupported,
       "ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", "
       "\"UDP\""},
      {"EndpointSliceTooManyPorts",
       [] {
         return EndpointSliceWith([](EndpointSlice* s) {
           for (int i = 0; i < 100; ++i) {
             DiscoveryEndpointPort* p = s->add_ports();
             p->set_name(absl::StrCat("p", i));
             p->set_port(9000 + i);
           }
         });
       },
       "ports", Err::kTooMany, "ports: Too many: 101: must have at most 100 items"},

      // ---- Scale
      {"ScaleReplicasNegative",
       [] { return ScaleWith([](Scale* s) { s->mutable_spec()->set_replicas(-1); }); },
       "spec.replicas", Err::kInvalid,
       "spec.replicas: Invalid value: -1: must be greater than or equal to 0"},
      {"ScaleNeedsName",
       [] { return ScaleWith([](Scale* s) { s->mutable_metadata()->clear_name(); }); },
       "metadata.name", Err::kRequired, ""},
  };
}

std::string CaseName(const ::testing::TestParamInfo<ErrorCase>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Apps, WorkloadValidationErrorTest, ::testing::ValuesIn(AppsCases()),
                         CaseName);
INSTANTIATE_TEST_SUITE_P(Batch, WorkloadValidationErrorTest, ::testing::ValuesIn(JobCases()),
                         CaseName);
INSTANTIATE_TEST_SUITE_P(Rbac, WorkloadValidationErrorTest, ::testing::ValuesIn(RbacCases()),
                         CaseName);
INSTANTIATE_TEST_SUITE_P(Other, WorkloadValidationErrorTest, ::testing::ValuesIn(OtherCases()),
                         CaseName);

// ---------------------------------------------------------------------------
// Several problems at once.

std::vector<std::string> Fields(const FieldErrorList& errs) {
  std::vector<std::string> out;
  for (const FieldError& e : errs) out.push_back(e.field);
  std::sort(out.begin(), out.end());
  return out;
}

TEST(WorkloadValidationTest, ReportsEveryProblemOfADeploymentAtOnce) {
  Deployment d = ValidDeployment();
  d.mutable_metadata()->set_name("Web");
  d.mutable_spec()->set_replicas(-1);
  d.mutable_spec()->set_revision_history_limit(-1);
  d.mutable_spec()->mutable_strategy()->set_type("Blue-Green");
  d.mutable_spec()->mutable_template_()->mutable_spec()->set_restart_policy("Never");
  SelectApp(d.mutable_spec()->mutable_selector(), "api");
  EXPECT_THAT(Fields(ValidateDeployment(d)),
              ::testing::ElementsAre("metadata.name", "spec.replicas", "spec.revisionHistoryLimit",
                                     "spec.strategy", "spec.template.metadata.labels",
                                     "spec.template.spec.restartPolicy"))
      << Dump(ValidateDeployment(d));
}

TEST(WorkloadValidationTest, ReportsEveryProblemOfABindingAtOnce) {
  ClusterRoleBinding b = ValidClusterRoleBinding();
  b.mutable_role_ref()->set_kind("Role");
  b.mutable_role_ref()->clear_name();
  b.mutable_subjects(0)->clear_name();
  b.mutable_subjects(1)->clear_namespace_();
  *b.add_subjects() = MakeSubject("Robot", "r2d2", "");
  EXPECT_THAT(Fields(ValidateClusterRoleBinding(b)),
              ::testing::ElementsAre("roleRef.kind", "roleRef.name", "subjects[0].name",
                                     "subjects[1].namespace", "subjects[2].kind"))
      << Dump(ValidateClusterRoleBinding(b));
}

TEST(WorkloadValidationTest, ReportsEveryProblemOfAnEndpointSliceAtOnce) {
  EndpointSlice s = ValidEndpointSlice();
  s.mutable_endpoints(0)->add_addresses("0.0.0.0");
  s.mutable_endpoints(0)->add_addresses("169.254.169.254");
  s.add_endpoints();
  s.mutable_ports(0)->set_port(0);
  s.mutable_ports(0)->set_name("HTTP");
  FieldErrorList errs = ValidateEndpointSlice(s);
  EXPECT_THAT(Fields(errs),
              ::testing::ElementsAre("endpoints[0].addresses[1]", "endpoints[0].addresses[2]",
                                     "endpoints[1].addresses", "ports[0].name", "ports[0].port"))
      << Dump(errs);
  EXPECT_THAT(Dump(errs), HasSubstr("endpoints[0].addresses[1]: Invalid value: \"0.0.0.0\": may "
                                    "not be unspecified (0.0.0.0)"));
  EXPECT_THAT(Dump(errs), HasSubstr("endpoints[0].addresses[2]: Invalid value: "
                                    "\"169.254.169.254\": may not be in the link-local range "
                                    "(169.254.0.0/16, fe80::/10)"));
}

TEST(WorkloadValidationTest, JobReportsEveryProblemAtOnce) {
  Job job = ValidJob();
  job.mutable_spec()->set_parallelism(-1);
  job.mutable_spec()->set_backoff_limit(-1);
  job.mutable_spec()->set_completion_mode("Indexed");
  job.mutable_spec()->clear_completions();
  job.mutable_spec()->mutable_template_()->mutable_spec()->set_restart_policy("Always");
  EXPECT_THAT(Fields(ValidateJob(job)),
              ::testing::ElementsAre("spec.backoffLimit", "spec.completions", "spec.parallelism",
                                     "spec.template.spec.restartPolicy"))
      << Dump(ValidateJob(job));
}

// ---------------------------------------------------------------------------
// Through the generic entry points.

TEST(WorkloadValidationTest, ValidateDispatchesAndNamesTheKind) {
  Deployment d = ValidDeployment();
  d.mutable_spec()->set_replicas(-1);
  EXPECT_EQ(Dump(ValidateObject(d)), Dump(ValidateDeployment(d)));
  absl::Status status = Validate(d);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater "
            "than or equal to 0");

  ClusterRoleBinding b = ValidClusterRoleBinding();
  b.mutable_role_ref()->set_kind("Role");
  EXPECT_THAT(std::string(Validate(b).message()),
              StartsWith("ClusterRoleBinding.rbac.authorization.k8s.io \"monitoring\" is invalid: "
                         "roleRef.kind: Unsupported value: \"Role\""));
  EXPECT_TRUE(Validate(ValidPriorityClass()).ok());
}

// The workload objects of the manifest corpus are valid after defaulting, as
// they are for a Kubernetes API server.
TEST(WorkloadValidationTest, CorpusWorkloadsAreValid) {
  const std::vector<const google::protobuf::Descriptor*> mine = {
      Deployment::descriptor(),  ReplicaSet::descriptor(),    DaemonSet::descriptor(),
      StatefulSet::descriptor(), Job::descriptor(),           Role::descriptor(),
      ClusterRole::descriptor(), RoleBinding::descriptor(),   ClusterRoleBinding::descriptor(),
      Lease::descriptor(),       PriorityClass::descriptor(), EndpointSlice::descriptor(),
      Scale::descriptor()};
  int checked = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(KORCH_TEST_DATA_DIR) + "/valid")) {
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    auto objects = DecodeManifest(text.str(), Scheme::Builtin());
    ASSERT_TRUE(objects.ok()) << entry.path() << ": " << objects.status();
    for (auto& obj : *objects) {
      if (std::find(mine.begin(), mine.end(), obj->GetDescriptor()) == mine.end()) continue;
      SetDefaults(obj.get());
      EXPECT_EQ(Dump(ValidateObject(*obj)), "(no errors)")
          << entry.path().filename() << ": " << obj->GetDescriptor()->name();
      ++checked;
    }
  }
  EXPECT_GE(checked, 10);
}

}  // namespace
}  // namespace korch::api
