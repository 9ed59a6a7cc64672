// The columns of every kind korch serves and how an object fills them. The
// columns, their order and the cell values follow what `kubectl get` shows
// against a Kubernetes API server of release 1.33, so that users (and
// scripts reading `kubectl get` output) see what they are used to.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "google/protobuf/map.h"
#include "korch/api/apps.pb.h"
#include "korch/api/batch.pb.h"
#include "korch/api/coordination.pb.h"
#include "korch/api/core.pb.h"
#include "korch/api/discovery.pb.h"
#include "korch/api/meta.pb.h"
#include "korch/api/object.h"
#include "korch/api/rbac.pb.h"
#include "korch/api/scheduling.pb.h"
#include "korch/api/selector.h"
#include "korch/apiserver/table.h"
#include "table_internal.h"

namespace korch::apiserver::table_internal {
namespace {

using json = nlohmann::json;
using google::protobuf::Message;

// ---- Columns shared by many kinds -------------------------------------------------

constexpr Column kName{"Name", "string", "name",
                       "The object's name, unique among objects of its kind in its namespace.", 0};
constexpr Column kAge{"Age", "string", "",
                      "How long ago the object was created (metadata.creationTimestamp).", 0};
constexpr Column kCreatedAt{"Created At", "date", "",
                            "When the object was created (metadata.creationTimestamp).", 0};
constexpr Column kContainers{"Containers", "string", "",
                             "Names of the containers in the pod template.", 1};
constexpr Column kImages{"Images", "string", "", "Images of the containers in the pod template.",
                         1};
constexpr Column kSelector{"Selector", "string", "", "Label selector of the pods it manages.", 1};

// ---- Formatting helpers ---------------------------------------------------------

absl::Time ToTime(const api::Time& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

absl::Time ToTime(const api::MicroTime& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// kubectl's "time since": "<unknown>" for an unset timestamp.
template <typename T>
std::string Since(bool present, const T& t, absl::Time now) {
  if (!present) return "<unknown>";
  return HumanDuration(now - ToTime(t));
}

std::string Age(const Message& object, absl::Time now) {
  const api::ObjectMeta* meta = api::ObjectMetaOf(object);
  if (meta == nullptr) return "<unknown>";
  return Since(meta->has_creation_timestamp(), meta->creation_timestamp(), now);
}

std::string NameOf(const Message& object) {
  const api::ObjectMeta* meta = api::ObjectMetaOf(object);
  return meta == nullptr ? std::string() : meta->name();
}

// RFC 3339 in UTC with whole seconds, as Kubernetes prints "date" cells; Go's
// zero time when unset, as Kubernetes does.
std::string CreatedAt(const Message& object) {
  const api::ObjectMeta* meta = api::ObjectMetaOf(object);
  if (meta == nullptr || !meta->has_creation_timestamp()) return "0001-01-01T00:00:00Z";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", ToTime(meta->creation_timestamp()),
                          absl::UTCTimeZone());
}

// Sorted "k=v,k2=v2", or "<none>" (labels.FormatLabels).
std::string FormatLabels(const google::protobuf::Map<std::string, std::string>& labels) {
  if (labels.empty()) return "<none>";
  std::vector<std::pair<absl::string_view, absl::string_view>> sorted(labels.begin(), labels.end());
  std::sort(sorted.begin(), sorted.end());
  return absl::StrJoin(sorted, ",", absl::PairFormatter("="));
}

// A structured selector in the string syntax ("app=web,tier in (a,b)"); ""
// when it selects everything, `invalid` when it does not compile.
std::string SelectorString(const api::LabelSelector& selector, absl::string_view invalid) {
  absl::StatusOr<api::Selector> s = api::Selector::FromProto(selector);
  if (!s.ok()) return std::string(invalid);
  return s->ToString();
}

// metav1.FormatLabelSelector: "<none>" for an empty selector, "<error>" for
// a bad one.
std::string FormatLabelSelector(bool present, const api::LabelSelector& selector) {
  if (!present) return "<none>";
  std::string s = SelectorString(selector, "<error>");
  return s.empty() ? "<none>" : s;
}

// The Containers and Images cells of a pod template.
void AppendContainerCells(const api::PodSpec& spec, Row* row) {
  std::vector<absl::string_view> names;
  std::vector<absl::string_view> images;
  for (const api::Container& c : spec.containers()) {
    names.push_back(c.name());
    images.push_back(c.image());
  }
  row->cells.push_back(absl::StrJoin(names, ","));
  row->cells.push_back(absl::StrJoin(images, ","));
}

// `host:port`, with brackets for IPv6 (net.JoinHostPort).
std::string JoinHostPort(absl::string_view host, int32_t port) {
  if (absl::StrContains(host, ':')) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

// The first `kMaxListed` entries of a long list, then "+ N more...".
constexpr int kMaxListed = 3;

std::string ListWithMore(const std::vector<std::string>& listed, int total,
                         absl::string_view none) {
  std::string joined = absl::StrJoin(listed, ",");
  if (total > kMaxListed) return absl::StrCat(joined, " + ", total - kMaxListed, " more...");
  if (joined.empty()) return std::string(none);
  return joined;
}

bool ConditionTrue(absl::string_view type, const auto& conditions) {
  for (const auto& c : conditions) {
    if (c.type() == type && c.status() == "True") return true;
  }
  return false;
}

// ---- Pod ------------------------------------------------------------------------

// An init container with restartPolicy Always: a sidecar that keeps running
// and counts as one of the pod's containers.
bool IsSidecar(const api::Container* c) {
  return c != nullptr && c->has_restart_policy() && c->restart_policy() == "Always";
}

// When the previous run of a container ended, if it has one.
std::optional<absl::Time> LastTermination(const api::ContainerStatus& s) {
  if (!s.has_last_state() || !s.last_state().has_terminated() ||
      !s.last_state().terminated().has_finished_at()) {
    return std::nullopt;
  }
  return ToTime(s.last_state().terminated().finished_at());
}

void KeepLatest(std::optional<absl::Time> t, std::optional<absl::Time>* latest) {
  if (t.has_value() && (!latest->has_value() || **latest < *t)) *latest = t;
}

// "Error" or "Signal:9" / "ExitCode:2" when the runtime gave no reason.
std::string TerminatedReason(const api::ContainerStateTerminated& t) {
  if (!t.reason().empty()) return t.reason();
  if (t.signal() != 0) return absl::StrCat("Signal:", t.signal());
  return absl::StrCat("ExitCode:", t.exit_code());
}

void PodRow(const api::Pod& pod, absl::Time now, Row* row) {
  const api::PodSpec& spec = pod.spec();
  const api::PodStatus& status = pod.status();
  const std::string& phase = status.phase();

  std::string reason = status.reason().empty() ? phase : status.reason();
  for (const api::PodCondition& c : status.conditions()) {
    if (c.type() == "PodScheduled" && c.reason() == "SchedulingGated") reason = "SchedulingGated";
  }
  // kubectl marks finished pods so that they can be told apart.
  if (phase == "Succeeded" || phase == "Failed") {
    row->conditions =
        json::array({json{{"type", "Completed"},
                          {"status", "True"},
                          {"reason", phase},
                          {"message", phase == "Succeeded" ? "The pod has completed successfully."
                                                           : "The pod failed."}}});
  }

  int total = spec.containers_size();
  absl::flat_hash_map<absl::string_view, const api::Container*> init_by_name;
  for (const api::Container& c : spec.init_containers()) {
    init_by_name[c.name()] = &c;
    if (IsSidecar(&c)) ++total;
  }
  auto init_container = [&](absl::string_view name) -> const api::Container* {
    auto it = init_by_name.find(name);
    return it == init_by_name.end() ? nullptr : it->second;
  };

  int ready = 0;
  int restarts = 0;
  int sidecar_restarts = 0;
  std::optional<absl::Time> last_restart;
  std::optional<absl::Time> last_sidecar_restart;

  // Init containers run one after another: the first one that has not
  // succeeded says how far initialization got.
  bool initializing = false;
  for (int i = 0; i < status.init_container_statuses_size(); ++i) {
    const api::ContainerStatus& s = status.init_container_statuses(i);
    restarts += s.restart_count();
    KeepLatest(LastTermination(s), &last_restart);
    const bool sidecar = IsSidecar(init_container(s.name()));
    if (sidecar) {
      sidecar_restarts += s.restart_count();
      KeepLatest(LastTermination(s), &last_sidecar_restart);
    }
    const api::ContainerState& state = s.state();
    if (state.has_terminated() && state.terminated().exit_code() == 0) continue;
    if (sidecar && s.started()) {
      if (s.ready()) ++ready;
      continue;
    }
    if (state.has_terminated()) {
      reason = absl::StrCat("Init:", TerminatedReason(state.terminated()));
    } else if (state.has_waiting() && !state.waiting().reason().empty() &&
               state.waiting().reason() != "PodInitializing") {
      reason = absl::StrCat("Init:", state.waiting().reason());
    } else {
      reason = absl::StrCat("Init:", i, "/", spec.init_containers_size());
    }
    initializing = true;
    break;
  }

  if (!initializing || ConditionTrue("Initialized", status.conditions())) {
    // Once initialized, only the sidecars' restarts still matter among the
    // init containers'.
    restarts = sidecar_restarts;
    last_restart = last_sidecar_restart;
    bool has_running = false;
    // Backwards, so that the first container's state wins the Status cell.
    for (int i = status.container_statuses_size() - 1; i >= 0; --i) {
      const api::ContainerStatus& s = status.container_statuses(i);
      restarts += s.restart_count();
      KeepLatest(LastTermination(s), &last_restart);
      const api::ContainerState& state = s.state();
      if (state.has_waiting() && !state.waiting().reason().empty()) {
        reason = state.waiting().reason();
      } else if (state.has_terminated()) {
        reason = TerminatedReason(state.terminated());
      } else if (s.ready() && state.has_running()) {
        has_running = true;
        ++ready;
      }
    }
    // A container that completed while others still run does not make the
    // pod "Completed".
    if (reason == "Completed" && has_running) {
      reason = ConditionTrue("Ready", status.conditions()) ? "Running" : "NotReady";
    }
  }

  if (pod.metadata().has_deletion_timestamp()) {
    if (status.reason() == "NodeLost") {
      reason = "Unknown";
    } else if (phase != "Succeeded" && phase != "Failed") {
      reason = "Terminating";
    }
  }

  std::string restarts_cell = absl::StrCat(restarts);
  if (restarts != 0 && last_restart.has_value()) {
    absl::StrAppend(&restarts_cell, " (", HumanDuration(now - *last_restart), " ago)");
  }

  std::string ip;
  if (status.pod_ips_size() > 0) {
    ip = status.pod_ips(0).ip();
  } else {
    ip = status.pod_ip();
  }
  std::string readiness_gates = "<none>";
  if (spec.readiness_gates_size() > 0) {
    int satisfied = 0;
    for (const api::PodReadinessGate& gate : spec.readiness_gates()) {
      for (const api::PodCondition& c : status.conditions()) {
        if (c.type() == gate.condition_type()) {
          if (c.status() == "True") ++satisfied;
          break;
        }
      }
    }
    readiness_gates = absl::StrCat(satisfied, "/", spec.readiness_gates_size());
  }

  row->cells = json::array(
      {pod.metadata().name(), absl::StrCat(ready, "/", total), reason, restarts_cell, Age(pod, now),
       ip.empty() ? "<none>" : ip, spec.node_name().empty() ? "<none>" : spec.node_name(),
       status.nominated_node_name().empty() ? "<none>" : status.nominated_node_name(),
       readiness_gates});
}

Printer PodPrinter() {
  return {{kName,
           {"Ready", "string", "", "Ready containers out of all containers of the pod.", 0},
           {"Status", "string", "", "The aggregate status of the pod's containers.", 0},
           {"Restarts", "string", "",
            "Restarts of the pod's containers, and how long ago the last one was.", 0},
           kAge,
           {"IP", "string", "", "The pod's (first) IP address.", 1},
           {"Node", "string", "", "The node the pod is bound to.", 1},
           {"Nominated Node", "string", "",
            "The node the pod should run on once preemption makes room there.", 1},
           {"Readiness Gates", "string", "", "Readiness gates that are satisfied, out of all.", 1}},
          nullptr};
}

// ---- Node -----------------------------------------------------------------------

// Roles from node-role.kubernetes.io/<role> labels and the legacy
// kubernetes.io/role label, sorted.
std::string NodeRoles(const api::Node& node) {
  std::vector<std::string> roles;
  for (const auto& [key, value] : node.metadata().labels()) {
    absl::string_view k = key;
    if (absl::ConsumePrefix(&k, "node-role.kubernetes.io/")) {
      if (!k.empty()) roles.emplace_back(k);
    } else if (k == "kubernetes.io/role" && !value.empty()) {
      roles.push_back(value);
    }
  }
  if (roles.empty()) return "<none>";
  std::sort(roles.begin(), roles.end());
  roles.erase(std::unique(roles.begin(), roles.end()), roles.end());
  return absl::StrJoin(roles, ",");
}

std::string NodeAddress(const api::Node& node, absl::string_view type) {
  for (const api::NodeAddress& a : node.status().addresses()) {
    if (a.type() == type) return a.address();
  }
  return "<none>";
}

std::string OrUnknown(const std::string& s) { return s.empty() ? "<unknown>" : s; }

void NodeRow(const api::Node& node, absl::Time now, Row* row) {
  std::vector<std::string> status;
  for (const api::NodeCondition& c : node.status().conditions()) {
    // Later entries of a type win, as they would in a map keyed by type.
    if (c.type() == "Ready") {
      status.assign(1, c.status() == "True" ? "Ready" : "NotReady");
    }
  }
  if (status.empty()) status.push_back("Unknown");
  if (node.spec().unschedulable()) status.push_back("SchedulingDisabled");
  const api::NodeSystemInfo& info = node.status().node_info();
  row->cells =
      json::array({node.metadata().name(), absl::StrJoin(status, ","), NodeRoles(node),
                   Age(node, now), info.kubelet_version(), NodeAddress(node, "InternalIP"),
                   NodeAddress(node, "ExternalIP"), OrUnknown(info.os_image()),
                   OrUnknown(info.kernel_version()), OrUnknown(info.container_runtime_version())});
}

Printer NodePrinter() {
  return {{kName,
           {"Status", "string", "", "Whether the node is ready to run pods, and cordoned.", 0},
           {"Roles", "string", "", "The node's roles (node-role.kubernetes.io/* labels).", 0},
           kAge,
           {"Version", "string", "", "The kubelet version the node reports.", 0},
           {"Internal-IP", "string", "", "The node's first InternalIP address.", 1},
           {"External-IP", "string", "", "The node's first ExternalIP address.", 1},
           {"OS-Image", "string", "", "The operating system image the node reports.", 1},
           {"Kernel-Version", "string", "", "The kernel version the node reports.", 1},
           {"Container-Runtime", "string", "", "The container runtime and its version.", 1}},
          nullptr};
}

// ---- Namespace ------------------------------------------------------------------

void NamespaceRow(const api::Namespace& ns, absl::Time now, Row* row) {
  row->cells = json::array({ns.metadata().name(), ns.status().phase(), Age(ns, now)});
}

Printer NamespacePrinter() {
  return {{kName, {"Status", "string", "", "Active or Terminating.", 0}, kAge}, nullptr};
}

// ---- Service, Endpoints, EndpointSlice --------------------------------------------

std::string ServiceExternalIp(const api::Service& svc) {
  const api::ServiceSpec& spec = svc.spec();
  const std::string& type = spec.type();
  if (type == "ClusterIP" || type == "NodePort") {
    if (spec.external_ips_size() > 0) return absl::StrJoin(spec.external_ips(), ",");
    return "<none>";
  }
  if (type == "LoadBalancer") {
    std::vector<std::string> ips;
    for (const api::LoadBalancerIngress& in : svc.status().load_balancer().ingress()) {
      if (!in.ip().empty()) {
        ips.push_back(in.ip());
      } else if (!in.hostname().empty()) {
        ips.push_back(in.hostname());
      }
    }
    for (const std::string& ip : spec.external_ips()) ips.push_back(ip);
    if (ips.empty()) return "<pending>";
    return absl::StrJoin(ips, ",");
  }
  if (type == "ExternalName") return spec.external_name();
  return "<unknown>";
}

std::string ServicePorts(const api::ServiceSpec& spec) {
  std::vector<std::string> ports;
  for (const api::ServicePort& p : spec.ports()) {
    if (p.node_port() > 0) {
      ports.push_back(absl::StrCat(p.port(), ":", p.node_port(), "/", p.protocol()));
    } else {
      ports.push_back(absl::StrCat(p.port(), "/", p.protocol()));
    }
  }
  if (ports.empty()) return "<none>";
  return absl::StrJoin(ports, ",");
}

void ServiceRow(const api::Service& svc, absl::Time now, Row* row) {
  const api::ServiceSpec& spec = svc.spec();
  std::string cluster_ip = "<none>";
  if (spec.cluster_ips_size() > 0) {
    cluster_ip = spec.cluster_ips(0);
  } else if (spec.has_cluster_ip()) {
    cluster_ip = spec.cluster_ip();
  }
  row->cells = json::array({svc.metadata().name(), spec.type(), cluster_ip, ServiceExternalIp(svc),
                            ServicePorts(spec), Age(svc, now), FormatLabels(spec.selector())});
}

Printer ServicePrinter() {
  return {{kName,
           {"Type", "string", "", "ClusterIP, NodePort, LoadBalancer or ExternalName.", 0},
           {"Cluster-IP", "string", "", "The service's virtual IP inside the cluster.", 0},
           {"External-IP", "string", "",
            "Addresses outside the cluster: external IPs, load balancer ingress, or the "
            "external name.",
            0},
           {"Port(s)", "string", "", "port[:nodePort]/protocol of each port.", 0},
           kAge,
           {"Selector", "string", "", "Labels of the pods behind the service.", 1}},
          nullptr};
}

std::string EndpointsCell(const api::Endpoints& ep) {
  if (ep.subsets_size() == 0) return "<none>";
  std::vector<std::string> listed;
  int total = 0;
  for (const api::EndpointSubset& subset : ep.subsets()) {
    if (subset.ports_size() == 0) {
      // Headless services may have addresses without ports.
      for (const api::EndpointAddress& a : subset.addresses()) {
        if (static_cast<int>(listed.size()) < kMaxListed) listed.push_back(a.ip());
        ++total;
      }
      continue;
    }
    for (const api::EndpointPort& p : subset.ports()) {
      for (const api::EndpointAddress& a : subset.addresses()) {
        if (static_cast<int>(listed.size()) < kMaxListed) {
          listed.push_back(JoinHostPort(a.ip(), p.port()));
        }
        ++total;
      }
    }
  }
  // Subsets with only not-ready addresses print as nothing, as in kubectl.
  return ListWithMore(listed, total, "");
}

void EndpointsRow(const api::Endpoints& ep, absl::Time now, Row* row) {
  row->cells = json::array({ep.metadata().name(), EndpointsCell(ep), Age(ep, now)});
}

Printer EndpointsPrinter() {
  return {{kName,
           {"Endpoints", "string", "", "Ready ip:port pairs (the first three, then a count).", 0},
           kAge},
          nullptr};
}

void EndpointSliceRow(const api::EndpointSlice& slice, absl::Time now, Row* row) {
  std::vector<std::string> ports;
  int port_count = 0;
  for (const api::DiscoveryEndpointPort& p : slice.ports()) {
    if (static_cast<int>(ports.size()) < kMaxListed) {
      if (p.has_port()) {
        ports.push_back(absl::StrCat(p.port()));
      } else if (p.has_name()) {
        ports.push_back(p.name());
      } else {
        ports.push_back("<unset>");
      }
    }
    ++port_count;
  }
  std::vector<std::string> addresses;
  int address_count = 0;
  for (const api::DiscoveryEndpoint& e : slice.endpoints()) {
    for (const std::string& a : e.addresses()) {
      if (static_cast<int>(addresses.size()) < kMaxListed) addresses.push_back(a);
      ++address_count;
    }
  }
  row->cells = json::array({slice.metadata().name(), slice.address_type(),
                            ListWithMore(ports, port_count, "<unset>"),
                            ListWithMore(addresses, address_count, "<unset>"), Age(slice, now)});
}

Printer EndpointSlicePrinter() {
  return {
      {kName,
       {"AddressType", "string", "", "IPv4, IPv6 or FQDN.", 0},
       {"Ports", "string", "", "The slice's ports (the first three, then a count).", 0},
       {"Endpoints", "string", "", "The endpoints' addresses (the first three, then a count).", 0},
       kAge},
      nullptr};
}

// ---- ConfigMap, Secret, ServiceAccount ----------------------------------------------

void ConfigMapRow(const api::ConfigMap& cm, absl::Time now, Row* row) {
  row->cells =
      json::array({cm.metadata().name(),
                   static_cast<int64_t>(cm.data_size() + cm.binary_data_size()), Age(cm, now)});
}

Printer ConfigMapPrinter() {
  return {{kName, {"Data", "integer", "", "Number of keys in data and binaryData.", 0}, kAge},
          nullptr};
}

void SecretRow(const api::Secret& secret, absl::Time now, Row* row) {
  row->cells = json::array({secret.metadata().name(), secret.type(),
                            static_cast<int64_t>(secret.data_size()), Age(secret, now)});
}

Printer SecretPrinter() {
  return {{kName,
           {"Type", "string", "", "The secret's type (Opaque, kubernetes.io/tls, ...).", 0},
           {"Data", "integer", "", "Number of keys in data.", 0},
           kAge},
          nullptr};
}

void ServiceAccountRow(const api::ServiceAccount& sa, absl::Time now, Row* row) {
  row->cells =
      json::array({sa.metadata().name(), static_cast<int64_t>(sa.secrets_size()), Age(sa, now)});
}

Printer ServiceAccountPrinter() {
  return {{kName, {"Secrets", "integer", "", "Number of secrets listed for the account.", 0}, kAge},
          nullptr};
}

// ---- Event ------------------------------------------------------------------------

void EventRow(const api::Event& ev, absl::Time now, Row* row) {
  // Events written through events.k8s.io carry eventTime and series instead
  // of the core timestamps and count.
  std::string first_seen = ev.has_first_timestamp()
                               ? Since(true, ev.first_timestamp(), now)
                               : Since(ev.has_event_time(), ev.event_time(), now);
  std::string last_seen =
      ev.has_last_timestamp() ? Since(true, ev.last_timestamp(), now) : first_seen;
  int64_t count = ev.count();
  if (ev.has_series()) {
    last_seen = Since(ev.series().has_last_observed_time(), ev.series().last_observed_time(), now);
    count = ev.series().count();
  } else if (count == 0) {
    count = 1;
  }
  const api::ObjectReference& obj = ev.involved_object();
  std::string object = absl::AsciiStrToLower(obj.kind());
  if (!obj.name().empty()) absl::StrAppend(&object, "/", obj.name());
  const std::string& component =
      ev.source().component().empty() ? ev.reporting_component() : ev.source().component();
  const std::string& instance =
      ev.source().host().empty() ? ev.reporting_instance() : ev.source().host();
  std::string source;
  if (!component.empty()) {
    source = instance.empty() ? component : absl::StrCat(component, ", ", instance);
  }
  row->cells = json::array({last_seen, ev.type(), ev.reason(), object, obj.field_path(), source,
                            std::string(absl::StripAsciiWhitespace(ev.message())), first_seen,
                            count, ev.metadata().name()});
}

Printer EventPrinter() {
  return {{{"Last Seen", "string", "", "How long ago the event was last seen.", 0},
           {"Type", "string", "", "Normal or Warning.", 0},
           {"Reason", "string", "", "Why the event happened, in one CamelCase word.", 0},
           {"Object", "string", "", "The object the event is about (kind/name).", 0},
           {"Subobject", "string", "", "The part of the object, e.g. spec.containers{app}.", 1},
           {"Source", "string", "", "The component (and host) that reported the event.", 1},
           {"Message", "string", "", "What happened, for humans.", 0},
           {"First Seen", "string", "", "How long ago the event was first seen.", 1},
           {"Count", "integer", "", "How many times the event happened.", 1},
           {"Name", "string", "name", kName.description, 1}},
          nullptr};
}

// ---- Workloads ------------------------------------------------------------------

void DeploymentRow(const api::Deployment& d, absl::Time now, Row* row) {
  const int32_t desired = d.spec().has_replicas() ? d.spec().replicas() : 1;
  const api::DeploymentStatus& s = d.status();
  row->cells = json::array({d.metadata().name(), absl::StrCat(s.ready_replicas(), "/", desired),
                            static_cast<int64_t>(s.updated_replicas()),
                            static_cast<int64_t>(s.available_replicas()), Age(d, now)});
  AppendContainerCells(d.spec().template_().spec(), row);
  row->cells.push_back(SelectorString(d.spec().selector(), "<invalid>"));
}

Printer DeploymentPrinter() {
  return {{kName,
           {"Ready", "string", "", "Ready pods out of desired replicas.", 0},
           {"Up-to-date", "integer", "", "Pods that run the current pod template.", 0},
           {"Available", "integer", "",
            "Pods ready for at least minReadySeconds, available to users.", 0},
           kAge,
           kContainers,
           kImages,
           kSelector},
          nullptr};
}

void ReplicaSetRow(const api::ReplicaSet& rs, absl::Time now, Row* row) {
  const int32_t desired = rs.spec().has_replicas() ? rs.spec().replicas() : 1;
  row->cells = json::array({rs.metadata().name(), static_cast<int64_t>(desired),
                            static_cast<int64_t>(rs.status().replicas()),
                            static_cast<int64_t>(rs.status().ready_replicas()), Age(rs, now)});
  AppendContainerCells(rs.spec().template_().spec(), row);
  row->cells.push_back(FormatLabelSelector(rs.spec().has_selector(), rs.spec().selector()));
}

Printer ReplicaSetPrinter() {
  return {{kName,
           {"Desired", "integer", "", "Pods wanted (spec.replicas).", 0},
           {"Current", "integer", "", "Pods that exist (status.replicas).", 0},
           {"Ready", "integer", "", "Pods that are ready.", 0},
           kAge,
           kContainers,
           kImages,
           kSelector},
          nullptr};
}

void StatefulSetRow(const api::StatefulSet& sts, absl::Time now, Row* row) {
  const int32_t desired = sts.spec().has_replicas() ? sts.spec().replicas() : 1;
  row->cells =
      json::array({sts.metadata().name(), absl::StrCat(sts.status().ready_replicas(), "/", desired),
                   Age(sts, now)});
  AppendContainerCells(sts.spec().template_().spec(), row);
}

Printer StatefulSetPrinter() {
  return {{kName,
           {"Ready", "string", "", "Ready pods out of desired replicas.", 0},
           kAge,
           kContainers,
           kImages},
          nullptr};
}

void DaemonSetRow(const api::DaemonSet& ds, absl::Time now, Row* row) {
  const api::DaemonSetStatus& s = ds.status();
  row->cells = json::array(
      {ds.metadata().name(), static_cast<int64_t>(s.desired_number_scheduled()),
       static_cast<int64_t>(s.current_number_scheduled()), static_cast<int64_t>(s.number_ready()),
       static_cast<int64_t>(s.updated_number_scheduled()),
       static_cast<int64_t>(s.number_available()),
       FormatLabels(ds.spec().template_().spec().node_selector()), Age(ds, now)});
  AppendContainerCells(ds.spec().template_().spec(), row);
  row->cells.push_back(FormatLabelSelector(ds.spec().has_selector(), ds.spec().selector()));
}

Printer DaemonSetPrinter() {
  return {{kName,
           {"Desired", "integer", "", "Nodes that should run the daemon pod.", 0},
           {"Current", "integer", "", "Nodes that run at least one daemon pod.", 0},
           {"Ready", "integer", "", "Nodes whose daemon pod is ready.", 0},
           {"Up-to-date", "integer", "", "Nodes that run the current pod template.", 0},
           {"Available", "integer", "", "Nodes whose daemon pod is available.", 0},
           {"Node Selector", "string", "", "The pod template's node selector.", 0},
           kAge,
           kContainers,
           kImages,
           kSelector},
          nullptr};
}

std::string JobStatusCell(const api::Job& job) {
  const auto& conditions = job.status().conditions();
  if (ConditionTrue("Complete", conditions)) return "Complete";
  if (ConditionTrue("Failed", conditions)) return "Failed";
  if (job.metadata().has_deletion_timestamp()) return "Terminating";
  if (ConditionTrue("Suspended", conditions)) return "Suspended";
  if (ConditionTrue("FailureTarget", conditions)) return "FailureTarget";
  if (ConditionTrue("SuccessCriteriaMet", conditions)) return "SuccessCriteriaMet";
  return "Running";
}

void JobRow(const api::Job& job, absl::Time now, Row* row) {
  const api::JobSpec& spec = job.spec();
  const api::JobStatus& status = job.status();
  std::string completions;
  if (spec.has_completions()) {
    completions = absl::StrCat(status.succeeded(), "/", spec.completions());
  } else if (spec.parallelism() > 1) {
    completions = absl::StrCat(status.succeeded(), "/1 of ", spec.parallelism());
  } else {
    completions = absl::StrCat(status.succeeded(), "/1");
  }
  std::string duration;
  if (status.has_start_time()) {
    absl::Time end = status.has_completion_time() ? ToTime(status.completion_time()) : now;
    duration = HumanDuration(end - ToTime(status.start_time()));
  }
  row->cells = json::array(
      {job.metadata().name(), JobStatusCell(job), completions, duration, Age(job, now)});
  AppendContainerCells(spec.template_().spec(), row);
  row->cells.push_back(FormatLabelSelector(spec.has_selector(), spec.selector()));
}

Printer JobPrinter() {
  return {{kName,
           {"Status", "string", "",
            "Complete, Failed, Running, Suspended, Terminating, FailureTarget or "
            "SuccessCriteriaMet.",
            0},
           {"Completions", "string", "", "Succeeded pods out of desired completions.", 0},
           {"Duration", "string", "", "How long the job ran (or has been running).", 0},
           kAge,
           kContainers,
           kImages,
           kSelector},
          nullptr};
}

// ---- Cluster plumbing ----------------------------------------------------------------

void LeaseRow(const api::Lease& lease, absl::Time now, Row* row) {
  row->cells =
      json::array({lease.metadata().name(), lease.spec().holder_identity(), Age(lease, now)});
}

Printer LeasePrinter() {
  return {{kName, {"Holder", "string", "", "Who holds the lease (spec.holderIdentity).", 0}, kAge},
          nullptr};
}

void PriorityClassRow(const api::PriorityClass& pc, absl::Time now, Row* row) {
  row->cells = json::array({pc.metadata().name(), static_cast<int64_t>(pc.value()),
                            pc.global_default(), Age(pc, now), pc.preemption_policy()});
}

Printer PriorityClassPrinter() {
  return {{kName,
           {"Value", "integer", "", "The priority of pods of this class.", 0},
           {"Global-Default", "boolean", "",
            "Whether pods without a priorityClassName get this class.", 0},
           kAge,
           {"PreemptionPolicy", "string", "", "PreemptLowerPriority or Never.", 0}},
          nullptr};
}

void CreatedAtRow(const Message& object, absl::Time /*now*/, Row* row) {
  row->cells = json::array({NameOf(object), CreatedAt(object)});
}

Printer CreatedAtPrinter() { return {{kName, kCreatedAt}, CreatedAtRow}; }

template <typename Binding>
void BindingRow(const Binding& b, absl::Time now, Row* row) {
  std::vector<absl::string_view> users;
  std::vector<absl::string_view> groups;
  std::vector<std::string> service_accounts;
  for (const api::Subject& s : b.subjects()) {
    if (s.kind() == "User") {
      users.push_back(s.name());
    } else if (s.kind() == "Group") {
      groups.push_back(s.name());
    } else if (s.kind() == "ServiceAccount") {
      service_accounts.push_back(absl::StrCat(s.namespace_(), "/", s.name()));
    }
  }
  row->cells =
      json::array({b.metadata().name(), absl::StrCat(b.role_ref().kind(), "/", b.role_ref().name()),
                   Age(b, now), absl::StrJoin(users, ", "), absl::StrJoin(groups, ", "),
                   absl::StrJoin(service_accounts, ", ")});
}

Printer BindingPrinter() {
  return {{kName,
           {"Role", "string", "", "The role granted: Role/<name> or ClusterRole/<name>.", 0},
           kAge,
           {"Users", "string", "", "Users the role is granted to.", 1},
           {"Groups", "string", "", "Groups the role is granted to.", 1},
           {"ServiceAccounts", "string", "",
            "Service accounts (namespace/name) the role is granted to.", 1}},
          nullptr};
}

void ResourceQuotaRow(const api::ResourceQuota& quota, absl::Time now, Row* row) {
  std::vector<absl::string_view> resources;
  for (const auto& [name, hard] : quota.status().hard()) resources.push_back(name);
  std::sort(resources.begin(), resources.end());
  std::vector<std::string> requests;
  std::vector<std::string> limits;
  for (absl::string_view resource : resources) {
    auto used = quota.status().used().find(std::string(resource));
    std::string entry =
        absl::StrCat(resource, ": ", used == quota.status().used().end() ? "0" : used->second, "/",
                     quota.status().hard().at(std::string(resource)));
    // limits.cpu, limits.memory, ... go to the Limit column; the rest
    // (cpu, requests.memory, pods, count/...) to Request.
    if (absl::StartsWith(resource, "limits.")) {
      limits.push_back(std::move(entry));
    } else {
      requests.push_back(std::move(entry));
    }
  }
  row->cells = json::array({quota.metadata().name(), Age(quota, now), absl::StrJoin(requests, ", "),
                            absl::StrJoin(limits, ", ")});
}

Printer ResourceQuotaPrinter() {
  return {{kName,
           kAge,
           {"Request", "string", "", "used/hard of every resource but limits.*.", 0},
           {"Limit", "string", "", "used/hard of limits.*.", 0}},
          nullptr};
}

// ---- Generic ----------------------------------------------------------------------

void GenericRow(const Message& object, absl::Time now, Row* row) {
  row->cells = json::array({NameOf(object), Age(object, now)});
}

// ---- Registry --------------------------------------------------------------------

// Calls `F` with `object` as a T: directly for generated messages, through a
// copy for dynamic messages of the same type.
template <typename T, void (*F)(const T&, absl::Time, Row*)>
void Typed(const Message& object, absl::Time now, Row* row) {
  if (const T* typed = google::protobuf::DynamicCastToGenerated<T>(&object)) {
    F(*typed, now, row);
    return;
  }
  T copy;
  copy.ParseFromString(object.SerializeAsString());
  F(copy, now, row);
}

template <typename T, void (*F)(const T&, absl::Time, Row*)>
std::pair<std::string, Printer> Entry(Printer printer) {
  printer.row = &Typed<T, F>;
  return {std::string(T::descriptor()->full_name()), std::move(printer)};
}

std::pair<std::string, Printer> UntypedEntry(const google::protobuf::Descriptor* descriptor,
                                             Printer printer) {
  return {std::string(descriptor->full_name()), std::move(printer)};
}

const absl::flat_hash_map<std::string, Printer>& Printers() {
  static const auto* const kPrinters = new absl::flat_hash_map<std::string, Printer>{
      Entry<api::Pod, PodRow>(PodPrinter()),
      Entry<api::Node, NodeRow>(NodePrinter()),
      Entry<api::Namespace, NamespaceRow>(NamespacePrinter()),
      Entry<api::Service, ServiceRow>(ServicePrinter()),
      Entry<api::Endpoints, EndpointsRow>(EndpointsPrinter()),
      Entry<api::EndpointSlice, EndpointSliceRow>(EndpointSlicePrinter()),
      Entry<api::ConfigMap, ConfigMapRow>(ConfigMapPrinter()),
      Entry<api::Secret, SecretRow>(SecretPrinter()),
      Entry<api::ServiceAccount, ServiceAccountRow>(ServiceAccountPrinter()),
      Entry<api::Event, EventRow>(EventPrinter()),
      Entry<api::Deployment, DeploymentRow>(DeploymentPrinter()),
      Entry<api::ReplicaSet, ReplicaSetRow>(ReplicaSetPrinter()),
      Entry<api::StatefulSet, StatefulSetRow>(StatefulSetPrinter()),
      Entry<api::DaemonSet, DaemonSetRow>(DaemonSetPrinter()),
      Entry<api::Job, JobRow>(JobPrinter()),
      Entry<api::Lease, LeaseRow>(LeasePrinter()),
      Entry<api::PriorityClass, PriorityClassRow>(PriorityClassPrinter()),
      Entry<api::RoleBinding, BindingRow<api::RoleBinding>>(BindingPrinter()),
      Entry<api::ClusterRoleBinding, BindingRow<api::ClusterRoleBinding>>(BindingPrinter()),
      Entry<api::ResourceQuota, ResourceQuotaRow>(ResourceQuotaPrinter()),
      // Only metadata: no need to know the type.
      UntypedEntry(api::Role::descriptor(), CreatedAtPrinter()),
      UntypedEntry(api::ClusterRole::descriptor(), CreatedAtPrinter()),
      UntypedEntry(api::LimitRange::descriptor(), CreatedAtPrinter()),
  };
  return *kPrinters;
}

}  // namespace

const Printer& PrinterFor(const google::protobuf::Descriptor* descriptor) {
  static const Printer* const kGeneric = new Printer{{kName, kAge}, GenericRow};
  if (descriptor == nullptr) return *kGeneric;
  const auto& printers = Printers();
  auto it = printers.find(descriptor->full_name());
  return it == printers.end() ? *kGeneric : it->second;
}

}  // namespace korch::apiserver::table_internal
