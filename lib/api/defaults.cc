// Defaulting as the Kubernetes API server does it. Each function follows
// its Go counterpart (pkg/apis/core/v1/defaults.go and the generated
// zz_generated.defaults.go that calls the nested defaulters, apps/v1,
// batch/v1, rbac/v1, scheduling/v1, discovery/v1); comments note where
// korch differs. Where Go tests a string or number for its zero value,
// korch tests presence instead, so that an explicit "" or 0 is kept.
#include "korch/api/defaults.h"

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/map.h"
#include "google/protobuf/reflection.h"
#include "korch/api/quantity.h"

namespace korch::api {
namespace {

using ResourceList = google::protobuf::Map<std::string, std::string>;

constexpr int32_t kDefaultFileMode = 0644;
constexpr char kRbacGroup[] = "rbac.authorization.k8s.io";

// ---- Image references ------------------------------------------------------
// The grammar of github.com/distribution/reference, which Kubernetes uses
// (pkg/util/parsers.ParseImageName) to find the tag that decides the
// default imagePullPolicy.

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool IsWordChar(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_'; }

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// path-component := [a-z0-9]+ (separator [a-z0-9]+)*,
// separator := "." | "_" | "__" | "-"+
bool ValidPathComponent(absl::string_view s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  size_t i = 0;
  while (i < s.size()) {
    if (IsLowerAlnum(s[i])) {
      ++i;
      continue;
    }
    size_t j = i + 1;
    if (s[i] == '_') {
      if (j < s.size() && s[j] == '_') ++j;
    } else if (s[i] == '-') {
      while (j < s.size() && s[j] == '-') ++j;
    } else if (s[i] != '.') {
      return false;
    }
    if (j >= s.size() || !IsLowerAlnum(s[j])) return false;
    i = j;
  }
  return true;
}

bool AllDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// domain := host (":" port)?, host := domain-name | "[" ipv6 "]"
bool ValidDomain(absl::string_view s) {
  absl::string_view host = s;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == absl::string_view::npos || close == 1) return false;
    for (char c : s.substr(1, close - 1)) {
      if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) && c != ':') return false;
    }
    absl::string_view rest = s.substr(close + 1);
    return rest.empty() || (rest.front() == ':' && AllDigits(rest.substr(1)));
  }
  if (size_t colon = s.find(':'); colon != absl::string_view::npos) {
    if (!AllDigits(s.substr(colon + 1))) return false;
    host = s.substr(0, colon);
  }
  for (absl::string_view part : absl::StrSplit(host, '.')) {
    if (part.empty()) return false;
    auto alnum = [](char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); };
    if (!alnum(part.front()) || !alnum(part.back())) return false;
    for (char c : part) {
      if (!alnum(c) && c != '-') return false;
    }
  }
  return true;
}

// name := (domain "/")? path-component ("/" path-component)*
bool ValidName(absl::string_view name) {
  std::vector<absl::string_view> parts = absl::StrSplit(name, '/');
  auto components_ok = [&](size_t from) {
    if (from >= parts.size()) return false;
    for (size_t i = from; i < parts.size(); ++i) {
      if (!ValidPathComponent(parts[i])) return false;
    }
    return true;
  };
  return components_ok(0) || (ValidDomain(parts[0]) && components_ok(1));
}

// tag := [\w][\w.-]{0,127}
bool ValidTag(absl::string_view tag) {
  if (tag.empty() || tag.size() > 128 || !IsWordChar(tag.front())) return false;
  for (char c : tag) {
    if (!IsWordChar(c) && c != '.' && c != '-') return false;
  }
  return true;
}

// The algorithms Kubernetes links in (sha256, sha384, sha512), each with
// its exact lowercase-hex length.
bool ValidDigest(absl::string_view digest) {
  size_t colon = digest.find(':');
  if (colon == absl::string_view::npos) return false;
  absl::string_view algorithm = digest.substr(0, colon);
  absl::string_view encoded = digest.substr(colon + 1);
  size_t want = algorithm == "sha256"   ? 64
                : algorithm == "sha384" ? 96
                : algorithm == "sha512" ? 128
                                        : 0;
  if (want == 0 || encoded.size() != want) return false;
  for (char c : encoded) {
    if (!IsLowerHex(c)) return false;
  }
  return true;
}

// The tag of an image reference as ParseImageName reports it: "latest"
// when there is neither tag nor digest, "" when there is only a digest,
// nullopt when the reference does not parse.
std::optional<std::string> ImageTag(absl::string_view image) {
  if (image.empty()) return std::nullopt;
  // A bare 64-hex string is an image ID, not a name.
  if (image.size() == 64 && std::all_of(image.begin(), image.end(), IsLowerHex)) {
    return std::nullopt;
  }
  // splitDockerDomain: the first component is a registry if it looks like
  // a host name.
  std::string domain;
  std::string remainder;
  size_t slash = image.find('/');
  absl::string_view first = image.substr(0, slash == absl::string_view::npos ? 0 : slash);
  if (slash == absl::string_view::npos ||
      (first.find_first_of(".:") == absl::string_view::npos && first != "localhost" &&
       absl::AsciiStrToLower(first) == first)) {
    domain = "docker.io";
    remainder = std::string(image);
  } else {
    domain = std::string(first);
    remainder = std::string(image.substr(slash + 1));
  }
  if (domain == "index.docker.io") domain = "docker.io";
  if (domain == "docker.io" && remainder.find('/') == std::string::npos) {
    remainder = "library/" + remainder;
  }
  absl::string_view remote = absl::string_view(remainder).substr(0, remainder.find(':'));
  if (absl::AsciiStrToLower(remote) != remote) return std::nullopt;

  std::string full = domain + "/" + remainder;
  absl::string_view rest = full;
  absl::string_view digest;
  if (size_t at = rest.find('@'); at != absl::string_view::npos) {
    digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
    if (!ValidDigest(digest)) return std::nullopt;
  }
  absl::string_view tag;
  size_t colon = rest.rfind(':');
  size_t last_slash = rest.rfind('/');
  if (colon != absl::string_view::npos &&
      (last_slash == absl::string_view::npos || colon > last_slash)) {
    tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (!ValidTag(tag)) return std::nullopt;
  }
  if (rest.size() > 255 || !ValidName(rest)) return std::nullopt;
  if (tag.empty() && digest.empty()) return std::string("latest");
  return std::string(tag);
}

// ---- Shared pieces ---------------------------------------------------------

// Kubernetes rounds every resource quantity up to a whole milli-unit
// (SetDefaults_ResourceList): "0.0001" of CPU becomes "1m". Values that do
// not parse are left for validation to report.
void RoundResourceList(ResourceList* list) {
  for (auto& entry : *list) {
    absl::StatusOr<Quantity> q = Quantity::Parse(entry.second);
    if (!q.ok()) continue;
    int64_t milli = q->MilliValue();
    if (milli == std::numeric_limits<int64_t>::max() ||
        milli == std::numeric_limits<int64_t>::min()) {
      continue;  // saturated: far too large to have a fraction worth rounding
    }
    Quantity rounded = Quantity::FromMilli(milli, q->format());
    if (rounded != *q) entry.second = rounded.ToString();
  }
}

void DefaultFieldRef(ObjectFieldSelector* ref) {
  if (!ref->has_api_version()) ref->set_api_version("v1");
}

void DefaultHttpGet(HTTPGetAction* action) {
  if (!action->has_path()) action->set_path("/");
  if (!action->has_scheme()) action->set_scheme("HTTP");
}

void DefaultProbe(Probe* probe) {
  if (!probe->has_timeout_seconds()) probe->set_timeout_seconds(1);
  if (!probe->has_period_seconds()) probe->set_period_seconds(10);
  if (!probe->has_success_threshold()) probe->set_success_threshold(1);
  if (!probe->has_failure_threshold()) probe->set_failure_threshold(3);
  if (probe->has_http_get()) DefaultHttpGet(probe->mutable_http_get());
  // Declarative default (+default="") of GRPCAction.service.
  if (probe->has_grpc() && !probe->grpc().has_service()) probe->mutable_grpc()->set_service("");
}

void DefaultLifecycleHandler(LifecycleHandler* handler) {
  if (handler->has_http_get()) DefaultHttpGet(handler->mutable_http_get());
}

void DefaultContainer(Container* c) {
  if (!c->has_image_pull_policy()) {
    c->set_image_pull_policy(std::string(DefaultImagePullPolicy(c->image())));
  }
  if (!c->has_termination_message_path()) {
    c->set_termination_message_path("/dev/termination-log");
  }
  if (!c->has_termination_message_policy()) c->set_termination_message_policy("File");
  for (ContainerPort& port : *c->mutable_ports()) {
    if (!port.has_protocol()) port.set_protocol("TCP");
  }
  for (EnvVar& env : *c->mutable_env()) {
    if (env.has_value_from() && env.value_from().has_field_ref()) {
      DefaultFieldRef(env.mutable_value_from()->mutable_field_ref());
    }
  }
  if (c->has_resources()) {
    RoundResourceList(c->mutable_resources()->mutable_limits());
    RoundResourceList(c->mutable_resources()->mutable_requests());
  }
  if (c->has_liveness_probe()) DefaultProbe(c->mutable_liveness_probe());
  if (c->has_readiness_probe()) DefaultProbe(c->mutable_readiness_probe());
  if (c->has_startup_probe()) DefaultProbe(c->mutable_startup_probe());
  if (c->has_lifecycle()) {
    Lifecycle* lifecycle = c->mutable_lifecycle();
    if (lifecycle->has_post_start()) DefaultLifecycleHandler(lifecycle->mutable_post_start());
    if (lifecycle->has_pre_stop()) DefaultLifecycleHandler(lifecycle->mutable_pre_stop());
  }
}

// True if any volume source is set. Read through reflection so that a
// source added to the proto later counts without a change here.
bool HasVolumeSource(const Volume& volume) {
  const google::protobuf::Descriptor* d = volume.GetDescriptor();
  const google::protobuf::Reflection* r = volume.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* f = d->field(i);
    if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE && !f->is_repeated() &&
        r->HasField(volume, f)) {
      return true;
    }
  }
  return false;
}

void DefaultDownwardApiFiles(google::protobuf::RepeatedPtrField<DownwardAPIVolumeFile>* files) {
  for (DownwardAPIVolumeFile& file : *files) {
    if (file.has_field_ref()) DefaultFieldRef(file.mutable_field_ref());
  }
}

void DefaultVolume(Volume* v) {
  if (!HasVolumeSource(*v)) v->mutable_empty_dir();
  if (v->has_host_path() && !v->host_path().has_type()) v->mutable_host_path()->set_type("");
  if (v->has_secret() && !v->secret().has_default_mode()) {
    v->mutable_secret()->set_default_mode(kDefaultFileMode);
  }
  if (v->has_config_map() && !v->config_map().has_default_mode()) {
    v->mutable_config_map()->set_default_mode(kDefaultFileMode);
  }
  if (v->has_downward_api()) {
    DownwardAPIVolumeSource* api = v->mutable_downward_api();
    if (!api->has_default_mode()) api->set_default_mode(kDefaultFileMode);
    DefaultDownwardApiFiles(api->mutable_items());
  }
  if (v->has_projected()) {
    ProjectedVolumeSource* projected = v->mutable_projected();
    if (!projected->has_default_mode()) projected->set_default_mode(kDefaultFileMode);
    for (VolumeProjection& source : *projected->mutable_sources()) {
      if (source.has_downward_api()) {
        DefaultDownwardApiFiles(source.mutable_downward_api()->mutable_items());
      }
      if (source.has_service_account_token() &&
          !source.service_account_token().has_expiration_seconds()) {
        source.mutable_service_account_token()->set_expiration_seconds(3600);
      }
    }
  }
}

void CopyLimitsToRequests(Container* c) {
  if (!c->has_resources() || c->resources().limits().empty()) return;
  ResourceRequirements* resources = c->mutable_resources();
  ResourceList* requests = resources->mutable_requests();
  for (const auto& [name, value] : resources->limits()) {
    if (!requests->contains(name)) (*requests)[name] = value;
  }
}

void DefaultHostNetworkPorts(Container* c) {
  for (ContainerPort& port : *c->mutable_ports()) {
    if (!port.has_host_port()) port.set_host_port(port.container_port());
  }
}

// Kubernetes' conversion keeps a deprecated singular field (podIP,
// hostIP, podCIDR) and its plural successor in step: a set singular value
// replaces a list that is empty or starts elsewhere; otherwise the
// singular value is read from the list.
void SyncPodIPs(PodStatus* status) {
  if (!status->pod_ip().empty() &&
      (status->pod_ips().empty() || status->pod_ips(0).ip() != status->pod_ip())) {
    status->clear_pod_ips();
    status->add_pod_ips()->set_ip(status->pod_ip());
  }
  if (!status->pod_ips().empty() && !status->pod_ips(0).ip().empty()) {
    status->set_pod_ip(status->pod_ips(0).ip());
  }
}

void SyncHostIPs(PodStatus* status) {
  if (!status->host_ip().empty() &&
      (status->host_ips().empty() || status->host_ips(0).ip() != status->host_ip())) {
    status->clear_host_ips();
    status->add_host_ips()->set_ip(status->host_ip());
  }
  if (!status->host_ips().empty() && !status->host_ips(0).ip().empty()) {
    status->set_host_ip(status->host_ips(0).ip());
  }
}

void SyncPodCIDRs(NodeSpec* spec) {
  if (!spec->pod_cidr().empty() &&
      (spec->pod_cidrs().empty() || spec->pod_cidrs(0) != spec->pod_cidr())) {
    spec->clear_pod_cidrs();
    spec->add_pod_cidrs(spec->pod_cidr());
  }
  if (!spec->pod_cidrs().empty() && !spec->pod_cidrs(0).empty()) {
    spec->set_pod_cidr(spec->pod_cidrs(0));
  }
}

void DefaultPodTemplate(PodTemplateSpec* tmpl) { SetPodSpecDefaults(tmpl->mutable_spec()); }

void DefaultSubject(Subject* subject) {
  if (subject->has_api_group()) return;
  // ServiceAccount subjects keep the core group "", which Kubernetes does
  // not write (omitempty); leaving the field unset encodes the same way.
  if (subject->kind() == "User" || subject->kind() == "Group") subject->set_api_group(kRbacGroup);
}

// ---- Dispatch ----------------------------------------------------------------

using Defaulter = void (*)(google::protobuf::Message*);

// Runs `fn` on `m` as a T. A message of T's type that is not the generated
// class (a DynamicMessage) is defaulted through a copy.
template <typename T, typename Fn>
void AsTyped(google::protobuf::Message* m, Fn fn) {
  if (auto* typed = dynamic_cast<T*>(m)) {
    fn(typed);
    return;
  }
  T copy;
  copy.CopyFrom(*m);
  fn(&copy);
  m->CopyFrom(copy);
}

template <typename T, void (*F)(T*)>
void ApplyOne(google::protobuf::Message* m) {
  AsTyped<T>(m, [](T* t) { F(t); });
}

template <typename L, typename T, void (*F)(T*)>
void ApplyList(google::protobuf::Message* m) {
  AsTyped<L>(m, [](L* list) {
    for (T& item : *list->mutable_items()) F(&item);
  });
}

template <typename T, typename L, void (*F)(T*)>
void Register(absl::flat_hash_map<const google::protobuf::Descriptor*, Defaulter>* table) {
  (*table)[T::descriptor()] = &ApplyOne<T, F>;
  (*table)[L::descriptor()] = &ApplyList<L, T, F>;
}

const absl::flat_hash_map<const google::protobuf::Descriptor*, Defaulter>& Defaulters() {
  static const auto* table = [] {
    auto* t = new absl::flat_hash_map<const google::protobuf::Descriptor*, Defaulter>();
    Register<Pod, PodList, &SetPodDefaults>(t);
    Register<Service, ServiceList, &SetServiceDefaults>(t);
    Register<Namespace, NamespaceList, &SetNamespaceDefaults>(t);
    Register<Node, NodeList, &SetNodeDefaults>(t);
    Register<Secret, SecretList, &SetSecretDefaults>(t);
    Register<Endpoints, EndpointsList, &SetEndpointsDefaults>(t);
    Register<LimitRange, LimitRangeList, &SetLimitRangeDefaults>(t);
    Register<ResourceQuota, ResourceQuotaList, &SetResourceQuotaDefaults>(t);
    Register<Deployment, DeploymentList, &SetDeploymentDefaults>(t);
    Register<ReplicaSet, ReplicaSetList, &SetReplicaSetDefaults>(t);
    Register<DaemonSet, DaemonSetList, &SetDaemonSetDefaults>(t);
    Register<StatefulSet, StatefulSetList, &SetStatefulSetDefaults>(t);
    Register<Job, JobList, &SetJobDefaults>(t);
    Register<EndpointSlice, EndpointSliceList, &SetEndpointSliceDefaults>(t);
    Register<RoleBinding, RoleBindingList, &SetRoleBindingDefaults>(t);
    Register<ClusterRoleBinding, ClusterRoleBindingList, &SetClusterRoleBindingDefaults>(t);
    Register<PriorityClass, PriorityClassList, &SetPriorityClassDefaults>(t);
    return t;
  }();
  return *table;
}

}  // namespace

absl::string_view DefaultImagePullPolicy(absl::string_view image) {
  std::optional<std::string> tag = ImageTag(image);
  return tag.has_value() && *tag == "latest" ? "Always" : "IfNotPresent";
}

void SetDefaults(google::protobuf::Message* object) {
  if (object == nullptr) return;
  const auto& table = Defaulters();
  auto it = table.find(object->GetDescriptor());
  if (it != table.end()) it->second(object);
}

// ---- core/v1 -----------------------------------------------------------------

void SetPodSpecDefaults(PodSpec* spec) {
  if (!spec->has_dns_policy()) spec->set_dns_policy("ClusterFirst");
  if (!spec->has_restart_policy()) spec->set_restart_policy("Always");
  if (!spec->has_security_context()) spec->mutable_security_context();
  if (!spec->has_termination_grace_period_seconds()) {
    spec->set_termination_grace_period_seconds(30);
  }
  if (!spec->has_scheduler_name()) spec->set_scheduler_name("default-scheduler");
  // Conversion: serviceAccountName falls back to the deprecated
  // serviceAccount, which is then always written as a copy of it.
  if (spec->service_account_name().empty() && !spec->service_account().empty()) {
    spec->set_service_account_name(spec->service_account());
  }
  if (!spec->service_account_name().empty()) {
    spec->set_service_account(spec->service_account_name());
  }
  RoundResourceList(spec->mutable_overhead());
  for (Volume& volume : *spec->mutable_volumes()) DefaultVolume(&volume);
  for (Container& c : *spec->mutable_init_containers()) DefaultContainer(&c);
  for (Container& c : *spec->mutable_containers()) DefaultContainer(&c);
}

void SetPodDefaults(Pod* pod) {
  PodSpec* spec = pod->mutable_spec();
  // Pod only, not templates: a template's limits must not turn into
  // requests before a LimitRange has had its say on the pod.
  for (Container& c : *spec->mutable_containers()) CopyLimitsToRequests(&c);
  for (Container& c : *spec->mutable_init_containers()) CopyLimitsToRequests(&c);
  if (!spec->has_enable_service_links()) spec->set_enable_service_links(true);
  if (spec->host_network()) {
    for (Container& c : *spec->mutable_containers()) DefaultHostNetworkPorts(&c);
    for (Container& c : *spec->mutable_init_containers()) DefaultHostNetworkPorts(&c);
  }
  SetPodSpecDefaults(spec);

  if (pod->has_status()) {
    PodStatus* status = pod->mutable_status();
    SyncPodIPs(status);
    SyncHostIPs(status);
    for (auto* statuses :
         {status->mutable_init_container_statuses(), status->mutable_container_statuses()}) {
      for (ContainerStatus& cs : *statuses) {
        RoundResourceList(cs.mutable_allocated_resources());
        if (cs.has_resources()) {
          RoundResourceList(cs.mutable_resources()->mutable_limits());
          RoundResourceList(cs.mutable_resources()->mutable_requests());
        }
      }
    }
  }
}

void SetServiceDefaults(Service* service) {
  ServiceSpec* spec = service->mutable_spec();
  if (!spec->has_session_affinity()) spec->set_session_affinity("None");
  if (spec->session_affinity() == "None") spec->clear_session_affinity_config();
  if (spec->session_affinity() == "ClientIP") {
    ClientIPConfig* client_ip = spec->mutable_session_affinity_config()->mutable_client_ip();
    if (!client_ip->has_timeout_seconds()) client_ip->set_timeout_seconds(10800);
  }
  if (!spec->has_type()) spec->set_type("ClusterIP");
  for (ServicePort& port : *spec->mutable_ports()) {
    if (!port.has_protocol()) port.set_protocol("TCP");
    // Go's IntOrString is a value: 0 and "" are how it spells "unset".
    const IntOrString& target = port.target_port();
    bool unset = !port.has_target_port() || (!target.has_int_val() && !target.has_str_val()) ||
                 (target.has_int_val() && target.int_val() == 0) ||
                 (target.has_str_val() && target.str_val().empty());
    if (unset) {
      port.mutable_target_port()->Clear();
      port.mutable_target_port()->set_int_val(port.port());
    }
  }
  const std::string& type = spec->type();
  bool externally_accessible = type == "LoadBalancer" || type == "NodePort" ||
                               (type == "ClusterIP" && spec->external_ips_size() > 0);
  if (externally_accessible && !spec->has_external_traffic_policy()) {
    spec->set_external_traffic_policy("Cluster");
  }
  if (!spec->has_internal_traffic_policy() &&
      (type == "ClusterIP" || type == "NodePort" || type == "LoadBalancer")) {
    spec->set_internal_traffic_policy("Cluster");
  }
  if (type == "LoadBalancer") {
    if (!spec->has_allocate_load_balancer_node_ports()) {
      spec->set_allocate_load_balancer_node_ports(true);
    }
    if (service->has_status() && service->status().has_load_balancer()) {
      for (LoadBalancerIngress& ingress :
           *service->mutable_status()->mutable_load_balancer()->mutable_ingress()) {
        if (!ingress.ip().empty() && !ingress.has_ip_mode()) ingress.set_ip_mode("VIP");
      }
    }
  }
}

void SetNamespaceDefaults(Namespace* ns) {
  ObjectMeta* meta = ns->mutable_metadata();
  if (!meta->name().empty()) {
    (*meta->mutable_labels())["kubernetes.io/metadata.name"] = meta->name();
  }
  if (!meta->has_deletion_timestamp() && ns->spec().finalizers().empty()) {
    ns->mutable_spec()->add_finalizers("kubernetes");
  }
  if (!ns->status().has_phase()) ns->mutable_status()->set_phase("Active");
}

void SetNodeDefaults(Node* node) {
  if (node->has_spec()) SyncPodCIDRs(node->mutable_spec());
  if (node->has_status()) {
    NodeStatus* status = node->mutable_status();
    if (status->allocatable().empty() && !status->capacity().empty()) {
      *status->mutable_allocatable() = status->capacity();
    }
    RoundResourceList(status->mutable_capacity());
    RoundResourceList(status->mutable_allocatable());
  }
}

void SetSecretDefaults(Secret* secret) {
  if (!secret->has_type()) secret->set_type("Opaque");
}

void SetEndpointsDefaults(Endpoints* endpoints) {
  for (EndpointSubset& subset : *endpoints->mutable_subsets()) {
    for (EndpointPort& port : *subset.mutable_ports()) {
      if (!port.has_protocol()) port.set_protocol("TCP");
    }
  }
}

void SetLimitRangeDefaults(LimitRange* lr) {
  if (!lr->has_spec()) return;
  for (LimitRangeItem& item : *lr->mutable_spec()->mutable_limits()) {
    if (item.type() == "Container") {
      ResourceList* default_limit = item.mutable_default_();
      ResourceList* default_request = item.mutable_default_request();
      // The default limit falls back to max; the default request to the
      // default limit, then to min.
      for (const auto& [name, value] : item.max()) {
        if (!default_limit->contains(name)) (*default_limit)[name] = value;
      }
      for (const auto& [name, value] : *default_limit) {
        if (!default_request->contains(name)) (*default_request)[name] = value;
      }
      for (const auto& [name, value] : item.min()) {
        if (!default_request->contains(name)) (*default_request)[name] = value;
      }
    }
    RoundResourceList(item.mutable_max());
    RoundResourceList(item.mutable_min());
    RoundResourceList(item.mutable_default_());
    RoundResourceList(item.mutable_default_request());
    RoundResourceList(item.mutable_max_limit_request_ratio());
  }
}

void SetResourceQuotaDefaults(ResourceQuota* quota) {
  if (quota->has_spec()) RoundResourceList(quota->mutable_spec()->mutable_hard());
  if (quota->has_status()) {
    RoundResourceList(quota->mutable_status()->mutable_hard());
    RoundResourceList(quota->mutable_status()->mutable_used());
  }
}

// ---- apps/v1 -----------------------------------------------------------------

void SetDeploymentDefaults(Deployment* d) {
  DeploymentSpec* spec = d->mutable_spec();
  if (!spec->has_replicas()) spec->set_replicas(1);
  DeploymentStrategy* strategy = spec->mutable_strategy();
  if (!strategy->has_type()) strategy->set_type("RollingUpdate");
  if (strategy->type() == "RollingUpdate") {
    RollingUpdateDeployment* rolling = strategy->mutable_rolling_update();
    if (!rolling->has_max_unavailable()) rolling->mutable_max_unavailable()->set_str_val("25%");
    if (!rolling->has_max_surge()) rolling->mutable_max_surge()->set_str_val("25%");
  }
  if (!spec->has_revision_history_limit()) spec->set_revision_history_limit(10);
  if (!spec->has_progress_deadline_seconds()) spec->set_progress_deadline_seconds(600);
  DefaultPodTemplate(spec->mutable_template_());
}

void SetReplicaSetDefaults(ReplicaSet* rs) {
  ReplicaSetSpec* spec = rs->mutable_spec();
  if (!spec->has_replicas()) spec->set_replicas(1);
  DefaultPodTemplate(spec->mutable_template_());
}

void SetDaemonSetDefaults(DaemonSet* ds) {
  DaemonSetSpec* spec = ds->mutable_spec();
  DaemonSetUpdateStrategy* strategy = spec->mutable_update_strategy();
  if (!strategy->has_type()) strategy->set_type("RollingUpdate");
  if (strategy->type() == "RollingUpdate") {
    RollingUpdateDaemonSet* rolling = strategy->mutable_rolling_update();
    if (!rolling->has_max_unavailable()) rolling->mutable_max_unavailable()->set_int_val(1);
    if (!rolling->has_max_surge()) rolling->mutable_max_surge()->set_int_val(0);
  }
  if (!spec->has_revision_history_limit()) spec->set_revision_history_limit(10);
  DefaultPodTemplate(spec->mutable_template_());
}

void SetStatefulSetDefaults(StatefulSet* ss) {
  StatefulSetSpec* spec = ss->mutable_spec();
  if (!spec->has_pod_management_policy()) spec->set_pod_management_policy("OrderedReady");
  StatefulSetUpdateStrategy* strategy = spec->mutable_update_strategy();
  if (!strategy->has_type()) {
    strategy->set_type("RollingUpdate");
    strategy->mutable_rolling_update();
  }
  // As in Kubernetes, an explicit RollingUpdate without rollingUpdate stays
  // without it. maxUnavailable is left unset: it belongs to the
  // MaxUnavailableStatefulSet feature, which is off by default.
  if (strategy->type() == "RollingUpdate" && strategy->has_rolling_update() &&
      !strategy->rolling_update().has_partition()) {
    strategy->mutable_rolling_update()->set_partition(0);
  }
  StatefulSetPersistentVolumeClaimRetentionPolicy* retention =
      spec->mutable_persistent_volume_claim_retention_policy();
  if (!retention->has_when_deleted()) retention->set_when_deleted("Retain");
  if (!retention->has_when_scaled()) retention->set_when_scaled("Retain");
  if (!spec->has_replicas()) spec->set_replicas(1);
  if (!spec->has_revision_history_limit()) spec->set_revision_history_limit(10);
  DefaultPodTemplate(spec->mutable_template_());
}

// ---- batch/v1 ----------------------------------------------------------------

void SetJobDefaults(Job* job) {
  JobSpec* spec = job->mutable_spec();
  // A non-parallel Job may leave both unset; both become 1. A work-queue
  // Job sets only parallelism and keeps completions unset.
  if (!spec->has_completions() && !spec->has_parallelism()) {
    spec->set_completions(1);
    spec->set_parallelism(1);
  }
  if (!spec->has_parallelism()) spec->set_parallelism(1);
  if (!spec->has_backoff_limit()) {
    spec->set_backoff_limit(
        spec->has_backoff_limit_per_index() ? std::numeric_limits<int32_t>::max() : 6);
  }
  const auto& template_labels = spec->template_().metadata().labels();
  if (!template_labels.empty() && job->metadata().labels().empty()) {
    *job->mutable_metadata()->mutable_labels() = template_labels;
  }
  if (!spec->has_completion_mode()) spec->set_completion_mode("NonIndexed");
  if (!spec->has_suspend()) spec->set_suspend(false);
  if (spec->has_pod_failure_policy()) {
    for (PodFailurePolicyRule& rule : *spec->mutable_pod_failure_policy()->mutable_rules()) {
      for (PodFailurePolicyOnPodConditionsPattern& pattern : *rule.mutable_on_pod_conditions()) {
        if (!pattern.has_status()) pattern.set_status("True");
      }
    }
  }
  if (!spec->has_pod_replacement_policy()) {
    spec->set_pod_replacement_policy(spec->has_pod_failure_policy() ? "Failed"
                                                                    : "TerminatingOrFailed");
  }
  DefaultPodTemplate(spec->mutable_template_());
}

// ---- discovery, rbac, scheduling ---------------------------------------------

void SetEndpointSliceDefaults(EndpointSlice* slice) {
  for (DiscoveryEndpointPort& port : *slice->mutable_ports()) {
    if (!port.has_name()) port.set_name("");
    if (!port.has_protocol()) port.set_protocol("TCP");
  }
}

void SetRoleBindingDefaults(RoleBinding* rb) {
  if (!rb->role_ref().has_api_group()) rb->mutable_role_ref()->set_api_group(kRbacGroup);
  for (Subject& subject : *rb->mutable_subjects()) DefaultSubject(&subject);
}

void SetClusterRoleBindingDefaults(ClusterRoleBinding* crb) {
  if (!crb->role_ref().has_api_group()) crb->mutable_role_ref()->set_api_group(kRbacGroup);
  for (Subject& subject : *crb->mutable_subjects()) DefaultSubject(&subject);
}

void SetPriorityClassDefaults(PriorityClass* pc) {
  if (!pc->has_preemption_policy()) pc->set_preemption_policy("PreemptLowerPriority");
}

}  // namespace korch::api
