// NodeRestriction: a kubelet's credentials reach only its own node. The
// Node authorizer already limits which objects a node may touch; this
// plugin checks what it writes into them (Kubernetes'
// plugin/pkg/admission/noderestriction).

#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "apiserver/admission_internal.h"
#include "google/protobuf/util/message_differencer.h"
#include "korch/api/coordination.pb.h"
#include "korch/api/core.pb.h"
#include "korch/apiserver/admission.h"
#include "korch/apiserver/authz.h"
#include "korch/apiserver/request.h"

namespace korch::apiserver {
namespace {

using admission_internal::As;
using admission_internal::BuiltinKind;
using admission_internal::Forbidden;
using admission_internal::IsKind;

constexpr char kMirrorPodAnnotation[] = "kubernetes.io/config.mirror";
constexpr char kNodeLeaseNamespace[] = "kube-node-lease";

// The node a user speaks for, when it is a node's identity.
std::optional<std::string> NodeIdentity(const UserInfo& user) {
  absl::string_view name = user.name;
  if (!absl::ConsumePrefix(&name, kNodeUserPrefix)) return std::nullopt;
  for (const std::string& g : user.groups) {
    if (g == kNodesGroup) return std::string(name);
  }
  return std::nullopt;
}

// The DNS prefix of a label key ("node.kubernetes.io" of
// "node.kubernetes.io/exclude-from-external-load-balancers"), or "".
absl::string_view LabelDomain(absl::string_view key) {
  size_t slash = key.find('/');
  return slash == absl::string_view::npos ? absl::string_view() : key.substr(0, slash);
}

bool InDomain(absl::string_view domain, absl::string_view suffix) {
  return domain == suffix || absl::EndsWith(domain, absl::StrCat(".", suffix));
}

// The kubernetes.io / k8s.io labels a kubelet may set on its node.
bool IsKubeletLabel(absl::string_view key) {
  static constexpr absl::string_view kAllowed[] = {
      "kubernetes.io/hostname",
      "kubernetes.io/arch",
      "kubernetes.io/os",
      "beta.kubernetes.io/arch",
      "beta.kubernetes.io/os",
      "beta.kubernetes.io/instance-type",
      "node.kubernetes.io/instance-type",
      "failure-domain.beta.kubernetes.io/zone",
      "failure-domain.beta.kubernetes.io/region",
      "topology.kubernetes.io/zone",
      "topology.kubernetes.io/region",
  };
  for (absl::string_view allowed : kAllowed) {
    if (key == allowed) return true;
  }
  absl::string_view domain = LabelDomain(key);
  return InDomain(domain, "kubelet.kubernetes.io") || InDomain(domain, "node.kubernetes.io");
}

// Labels a node may not set or change on itself: the
// node-restriction.kubernetes.io/ prefix is how administrators mark nodes
// for workloads that must trust the label, and other Kubernetes-reserved
// labels are not the kubelet's to invent.
std::set<std::string> ForbiddenLabels(
    const google::protobuf::Map<std::string, std::string>& now,
    const google::protobuf::Map<std::string, std::string>* before) {
  std::set<std::string> changed;
  for (const auto& [k, v] : now) {
    if (before == nullptr) {
      changed.insert(k);
    } else if (auto it = before->find(k); it == before->end() || it->second != v) {
      changed.insert(k);
    }
  }
  if (before != nullptr) {
    for (const auto& [k, v] : *before) {
      if (!now.contains(k)) changed.insert(k);
    }
  }
  std::set<std::string> forbidden;
  for (const std::string& key : changed) {
    absl::string_view domain = LabelDomain(key);
    if (InDomain(domain, "node-restriction.kubernetes.io")) {
      forbidden.insert(key);
    } else if ((InDomain(domain, "kubernetes.io") || InDomain(domain, "k8s.io")) &&
               !IsKubeletLabel(key)) {
      forbidden.insert(key);
    }
  }
  return forbidden;
}

bool SameTaints(const api::NodeSpec& a, const api::NodeSpec& b) {
  if (a.taints_size() != b.taints_size()) return false;
  for (int i = 0; i < a.taints_size(); ++i) {
    if (!google::protobuf::util::MessageDifferencer::Equals(a.taints(i), b.taints(i))) return false;
  }
  return true;
}

bool SameLabels(const google::protobuf::Map<std::string, std::string>& a,
                const google::protobuf::Map<std::string, std::string>& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end() || it->second != v) return false;
  }
  return true;
}

// Whether the pod refers to secrets or configmaps anywhere, which a mirror
// pod must not: its node could read them through it.
struct PodReferences {
  bool secrets = false;
  bool config_maps = false;
  bool claims = false;
};

PodReferences FindReferences(const api::PodSpec& spec) {
  PodReferences refs;
  refs.secrets = spec.image_pull_secrets_size() > 0;
  for (const auto* containers : {&spec.containers(), &spec.init_containers()}) {
    for (const api::Container& c : *containers) {
      for (const api::EnvFromSource& e : c.env_from()) {
        refs.secrets |= e.has_secret_ref();
        refs.config_maps |= e.has_config_map_ref();
      }
      for (const api::EnvVar& e : c.env()) {
        refs.secrets |= e.value_from().has_secret_key_ref();
        refs.config_maps |= e.value_from().has_config_map_key_ref();
      }
    }
  }
  for (const api::Volume& v : spec.volumes()) {
    refs.secrets |= v.has_secret();
    refs.config_maps |= v.has_config_map();
    refs.claims |= v.has_persistent_volume_claim();
    for (const api::VolumeProjection& p : v.projected().sources()) {
      refs.secrets |= p.has_secret();
      refs.config_maps |= p.has_config_map();
    }
  }
  return refs;
}

class NodeRestriction final : public ValidatingAdmissionPlugin {
 public:
  absl::string_view Name() const override { return "NodeRestriction"; }

  absl::Status Validate(AdmissionAttributes& a) override {
    std::optional<std::string> node = NodeIdentity(a.user());
    if (!node.has_value()) return absl::OkStatus();
    if (node->empty()) {
      return Forbidden(a,
                       absl::StrCat("could not determine node from user \"", a.user().name, "\""));
    }
    if (IsKind(a.kind(), "", "Pod")) {
      if (a.subresource().empty()) return AdmitPod(a, *node);
      if (a.subresource() == "status") return AdmitPodStatus(a, *node);
      return Forbidden(a, absl::StrCat("unexpected pod subresource \"", a.subresource(),
                                       "\", only 'status' and 'eviction' are allowed"));
    }
    if (IsKind(a.kind(), "", "Node")) return AdmitNode(a, *node);
    if (IsKind(a.kind(), "coordination.k8s.io", "Lease")) return AdmitLease(a, *node);
    return absl::OkStatus();
  }

 private:
  static absl::Status AdmitPod(AdmissionAttributes& a, const std::string& node) {
    switch (a.operation()) {
      case AdmissionOperation::kCreate:
        return AdmitMirrorPod(a, node);
      case AdmissionOperation::kDelete: {
        const api::Pod* pod = As<api::Pod>(a.old_object());
        if (pod == nullptr) {
          absl::StatusOr<ObjectPtr> stored =
              a.Get(BuiltinKind(api::Pod::descriptor()), a.namespace_(), a.name());
          if (!stored.ok()) return stored.status();
          pod = As<api::Pod>(stored->get());
        }
        if (pod == nullptr || pod->spec().node_name() != node) {
          return Forbidden(a, absl::StrCat("node \"", node,
                                           "\" can only delete pods with spec.nodeName set to "
                                           "itself"));
        }
        return absl::OkStatus();
      }
      case AdmissionOperation::kUpdate:
        break;
    }
    return Forbidden(
        a, absl::StrCat("unexpected operation \"", AdmissionOperationName(a.operation()),
                        "\", node \"", node, "\" can only create and delete mirror pods"));
  }

  static absl::Status AdmitMirrorPod(AdmissionAttributes& a, const std::string& node) {
    const api::Pod* pod = As<api::Pod>(a.object());
    if (pod == nullptr) return Forbidden(a, "unexpected type, expected a Pod");
    if (!pod->metadata().annotations().contains(kMirrorPodAnnotation)) {
      return Forbidden(
          a, absl::StrCat("pod does not have \"", kMirrorPodAnnotation, "\" annotation, node \"",
                          node, "\" can only create mirror pods"));
    }
    if (pod->spec().node_name() != node) {
      return Forbidden(a, absl::StrCat("node \"", node,
                                       "\" can only create pods with spec.nodeName set to itself"));
    }
    const auto& owners = pod->metadata().owner_references();
    if (owners.size() > 1) {
      return Forbidden(a, absl::StrCat("node \"", node,
                                       "\" can only create pods with a single owner reference "
                                       "set to itself"));
    }
    if (owners.size() == 1) {
      const api::OwnerReference& owner = owners[0];
      if (owner.api_version() != "v1" || owner.kind() != "Node" || owner.name() != node) {
        return Forbidden(a, absl::StrCat("node \"", node,
                                         "\" can only create pods with an owner reference set "
                                         "to itself"));
      }
      if (!owner.controller()) {
        return Forbidden(a, absl::StrCat("node \"", node,
                                         "\" can only create pods with a controller owner "
                                         "reference set to itself"));
      }
      if (owner.block_owner_deletion()) {
        return Forbidden(a, absl::StrCat("node \"", node,
                                         "\" must not set blockOwnerDeletion on an owner "
                                         "reference"));
      }
      absl::StatusOr<ObjectPtr> stored = a.Get(BuiltinKind(api::Node::descriptor()), "", node);
      if (absl::IsNotFound(stored.status())) return NotFoundError("nodes", node);
      if (!stored.ok()) {
        return Forbidden(a, absl::StrCat("error looking up node ", node,
                                         " to verify uid: ", stored.status().message()));
      }
      const api::Node* stored_node = As<api::Node>(stored->get());
      const std::string uid = stored_node == nullptr ? "" : stored_node->metadata().uid();
      if (owner.uid() != uid) {
        return Forbidden(
            a, absl::StrCat("node ", node, " UID mismatch: expected ", uid, " got ", owner.uid()));
      }
    }
    if (!pod->spec().service_account_name().empty()) {
      return Forbidden(a, absl::StrCat("node \"", node,
                                       "\" can not create pods that reference a service "
                                       "account"));
    }
    PodReferences refs = FindReferences(pod->spec());
    if (refs.secrets) {
      return Forbidden(
          a, absl::StrCat("node \"", node, "\" can not create pods that reference secrets"));
    }
    if (refs.config_maps) {
      return Forbidden(
          a, absl::StrCat("node \"", node, "\" can not create pods that reference configmaps"));
    }
    if (refs.claims) {
      return Forbidden(a, absl::StrCat("node \"", node,
                                       "\" can not create pods that reference "
                                       "persistentvolumeclaims"));
    }
    return absl::OkStatus();
  }

  static absl::Status AdmitPodStatus(AdmissionAttributes& a, const std::string& node) {
    if (a.operation() != AdmissionOperation::kUpdate) {
      return Forbidden(
          a, absl::StrCat("unexpected operation \"", AdmissionOperationName(a.operation()), "\""));
    }
    const api::Pod* old = As<api::Pod>(a.old_object());
    if (old == nullptr || old->spec().node_name() != node) {
      return Forbidden(a, absl::StrCat("node \"", node,
                                       "\" can only update pod status for pods with "
                                       "spec.nodeName set to itself"));
    }
    const api::Pod* pod = As<api::Pod>(a.object());
    if (pod != nullptr && !SameLabels(pod->metadata().labels(), old->metadata().labels())) {
      return Forbidden(a,
                       absl::StrCat("node \"", node, "\" cannot update labels through pod status"));
    }
    return absl::OkStatus();
  }

  static absl::Status AdmitNode(AdmissionAttributes& a, const std::string& node) {
    const std::string target = admission_internal::SubjectName(a);
    if (target != node) {
      return Forbidden(
          a, absl::StrCat("node \"", node, "\" is not allowed to modify node \"", target, "\""));
    }
    const api::Node* object = As<api::Node>(a.object());
    if (a.operation() == AdmissionOperation::kCreate && object != nullptr) {
      std::set<std::string> forbidden = ForbiddenLabels(object->metadata().labels(), nullptr);
      if (!forbidden.empty()) {
        return Forbidden(
            a, absl::StrCat("node \"", node, "\" is not allowed to set the following labels: ",
                            absl::StrJoin(forbidden, ", ")));
      }
    }
    const api::Node* old = As<api::Node>(a.old_object());
    if (a.operation() == AdmissionOperation::kUpdate && object != nullptr && old != nullptr) {
      // Taints keep workloads off a node; a node that could drop its own
      // would pull in what was meant to stay away.
      if (!SameTaints(object->spec(), old->spec())) {
        return Forbidden(a, absl::StrCat("node \"", node, "\" is not allowed to modify taints"));
      }
      std::set<std::string> forbidden =
          ForbiddenLabels(object->metadata().labels(), &old->metadata().labels());
      if (!forbidden.empty()) {
        return Forbidden(a, absl::StrCat("node \"", node, "\" is not allowed to modify labels: ",
                                         absl::StrJoin(forbidden, ", ")));
      }
    }
    return absl::OkStatus();
  }

  static absl::Status AdmitLease(AdmissionAttributes& a, const std::string& node) {
    if (a.namespace_() != kNodeLeaseNamespace) {
      return Forbidden(
          a, absl::StrCat("can only access leases in the \"", kNodeLeaseNamespace, "\" namespace"));
    }
    if (admission_internal::SubjectName(a) != node) {
      return Forbidden(a, "can only access node lease with the same name as the requesting node");
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::shared_ptr<ValidatingAdmissionPlugin> NewNodeRestriction() {
  return std::make_shared<NodeRestriction>();
}

}  // namespace korch::apiserver
