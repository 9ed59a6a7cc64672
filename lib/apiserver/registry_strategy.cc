#include "registry_strategy.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/message_differencer.h"
#include "korch/api/apps.pb.h"
#include "korch/api/batch.pb.h"
#include "korch/api/object.h"
#include "korch/api/quantity.h"
#include "korch/api/selector.h"

namespace korch::apiserver::internal {
namespace {

using api::QuoteValue;
using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::util::MessageDifferencer;

template <typename T>
T* As(Message& m) {
  return google::protobuf::DynamicCastToGenerated<T>(&m);
}
template <typename T>
const T* As(const Message& m) {
  return google::protobuf::DynamicCastToGenerated<T>(&m);
}

// The top-level fields of `d` other than those named in `skip`.
std::vector<const FieldDescriptor*> FieldsExcept(const Descriptor* d,
                                                 std::initializer_list<absl::string_view> skip) {
  std::vector<const FieldDescriptor*> out;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    bool skipped = false;
    for (absl::string_view s : skip) skipped |= f->name() == s;
    if (!skipped) out.push_back(f);
  }
  return out;
}

bool EqualFields(const Message& a, const Message& b,
                 const std::vector<const FieldDescriptor*>& fields) {
  MessageDifferencer d;
  return d.CompareWithFields(a, b, fields, fields);
}

std::string SelectorString(const api::LabelSelector& selector) {
  absl::StatusOr<api::Selector> s = api::Selector::FromProto(selector);
  return s.ok() ? s->ToString() : std::string();
}

void CheckSelectorImmutable(const api::LabelSelector& now, const api::LabelSelector& old,
                            api::FieldErrorList& errs) {
  if (!MessageDifferencer::Equals(now, old)) {
    errs.push_back(api::InvalidRendered(api::FieldPath("spec").Child("selector"),
                                        QuoteValue(SelectorString(now)), "field is immutable"));
  }
}

bool QuantityEqual(const google::protobuf::Map<std::string, std::string>& a,
                   const google::protobuf::Map<std::string, std::string>& b,
                   absl::string_view key) {
  auto ia = a.find(std::string(key));
  auto ib = b.find(std::string(key));
  if (ia == a.end() || ib == b.end()) return false;
  absl::StatusOr<api::Quantity> qa = api::Quantity::Parse(ia->second);
  absl::StatusOr<api::Quantity> qb = api::Quantity::Parse(ib->second);
  return qa.ok() && qb.ok() && *qa == *qb;
}

bool HasNonZero(const google::protobuf::Map<std::string, std::string>& m) {
  for (absl::string_view key : {"cpu", "memory"}) {
    auto it = m.find(std::string(key));
    if (it == m.end()) continue;
    absl::StatusOr<api::Quantity> q = api::Quantity::Parse(it->second);
    if (!q.ok() || !q->IsZero()) return true;
  }
  return false;
}

void ValidatePodUpdate(const api::Pod& now, const api::Pod& old, api::FieldErrorList& errs) {
  // Take the fields a pod update may change from the old spec; whatever
  // still differs was changed where it may not be.
  api::PodSpec spec = now.spec();
  for (int i = 0; i < spec.containers_size() && i < old.spec().containers_size(); ++i) {
    spec.mutable_containers(i)->set_image(old.spec().containers(i).image());
  }
  for (int i = 0; i < spec.init_containers_size() && i < old.spec().init_containers_size(); ++i) {
    spec.mutable_init_containers(i)->set_image(old.spec().init_containers(i).image());
  }
  if (old.spec().has_active_deadline_seconds()) {
    spec.set_active_deadline_seconds(old.spec().active_deadline_seconds());
  } else if (spec.has_active_deadline_seconds() && !old.spec().has_active_deadline_seconds()) {
    spec.clear_active_deadline_seconds();
  }
  // Tolerations may only be added.
  bool tolerations_ok = true;
  for (const api::Toleration& t : old.spec().tolerations()) {
    bool found = false;
    for (const api::Toleration& n : now.spec().tolerations()) {
      if (MessageDifferencer::Equals(t, n)) {
        found = true;
        break;
      }
    }
    tolerations_ok &= found;
  }
  if (tolerations_ok) *spec.mutable_tolerations() = old.spec().tolerations();
  // Scheduling gates may only be removed.
  bool gates_ok = true;
  for (const api::PodSchedulingGate& g : now.spec().scheduling_gates()) {
    bool found = false;
    for (const api::PodSchedulingGate& o : old.spec().scheduling_gates()) {
      found |= o.name() == g.name();
    }
    gates_ok &= found;
  }
  if (gates_ok) *spec.mutable_scheduling_gates() = old.spec().scheduling_gates();
  if (!MessageDifferencer::Equals(spec, old.spec())) {
    errs.push_back(api::Forbidden(
        api::FieldPath("spec"),
        "pod updates may not change fields other than spec.containers[*].image, "
        "spec.initContainers[*].image, spec.activeDeadlineSeconds, spec.tolerations (only "
        "additions to existing tolerations) and spec.schedulingGates (only removals)"));
  }
}

void ValidateStatefulSetUpdate(const api::StatefulSet& now, const api::StatefulSet& old,
                               api::FieldErrorList& errs) {
  std::vector<const FieldDescriptor*> fixed =
      FieldsExcept(api::StatefulSetSpec::descriptor(),
                   {"replicas", "ordinals", "template", "update_strategy",
                    "persistent_volume_claim_retention_policy", "min_ready_seconds", "selector"});
  CheckSelectorImmutable(now.spec().selector(), old.spec().selector(), errs);
  if (!EqualFields(now.spec(), old.spec(), fixed)) {
    errs.push_back(api::Forbidden(
        api::FieldPath("spec"),
        "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
        "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are "
        "forbidden"));
  }
}

}  // namespace

void PrepareForCreate(Message& object) {
  const Descriptor* d = object.GetDescriptor();
  if (auto* pod = As<api::Pod>(object)) {
    pod->clear_status();
    pod->mutable_status()->set_phase("Pending");
    pod->mutable_status()->set_qos_class(PodQosClass(*pod));
    return;
  }
  if (auto* ns = As<api::Namespace>(object)) {
    ns->clear_status();
    ns->mutable_status()->set_phase("Active");
    if (ns->spec().finalizers().empty()) ns->mutable_spec()->add_finalizers("kubernetes");
    return;
  }
  if (auto* job = As<api::Job>(object)) {
    job->clear_status();
    api::JobSpec* spec = job->mutable_spec();
    if (!spec->manual_selector() && !spec->has_selector()) {
      const std::string& uid = job->metadata().uid();
      (*spec->mutable_selector()->mutable_match_labels())["batch.kubernetes.io/controller-uid"] =
          uid;
      auto* labels = spec->mutable_template_()->mutable_metadata()->mutable_labels();
      (*labels)["batch.kubernetes.io/controller-uid"] = uid;
      (*labels)["batch.kubernetes.io/job-name"] = job->metadata().name();
      (*labels)["controller-uid"] = uid;
      (*labels)["job-name"] = job->metadata().name();
    }
    return;
  }
  if (As<api::Deployment>(object) != nullptr || As<api::ReplicaSet>(object) != nullptr ||
      As<api::StatefulSet>(object) != nullptr || As<api::DaemonSet>(object) != nullptr ||
      As<api::Service>(object) != nullptr) {
    if (const FieldDescriptor* status = api::StatusField(d)) {
      object.GetReflection()->ClearField(&object, status);
    }
  }
}

void NormalizeForStorage(Message& object) {
  if (auto* secret = As<api::Secret>(object)) {
    for (const auto& [key, value] : secret->string_data()) {
      (*secret->mutable_data())[key] = value;
    }
    secret->clear_string_data();
  }
}

api::FieldErrorList ValidateUpdate(const Message& now, const Message& old) {
  api::FieldErrorList errs;
  const api::ObjectMeta* now_meta = api::ObjectMetaOf(now);
  const api::ObjectMeta* old_meta = api::ObjectMetaOf(old);
  if (now_meta != nullptr && old_meta != nullptr && old_meta->has_deletion_timestamp()) {
    absl::flat_hash_set<std::string> had(old_meta->finalizers().begin(),
                                         old_meta->finalizers().end());
    std::vector<std::string> added;
    for (const std::string& f : now_meta->finalizers()) {
      if (!had.contains(f)) added.push_back(QuoteValue(f));
    }
    if (!added.empty()) {
      errs.push_back(api::Forbidden(
          api::FieldPath("metadata").Child("finalizers"),
          absl::StrCat("no new finalizers can be added if the object is being deleted, found "
                       "new finalizers [",
                       absl::StrJoin(added, ", "), "]")));
    }
  }
  if (const auto* pod = As<api::Pod>(now)) {
    ValidatePodUpdate(*pod, *As<api::Pod>(old), errs);
  } else if (const auto* d = As<api::Deployment>(now)) {
    CheckSelectorImmutable(d->spec().selector(), As<api::Deployment>(old)->spec().selector(), errs);
  } else if (const auto* rs = As<api::ReplicaSet>(now)) {
    CheckSelectorImmutable(rs->spec().selector(), As<api::ReplicaSet>(old)->spec().selector(),
                           errs);
  } else if (const auto* ds = As<api::DaemonSet>(now)) {
    CheckSelectorImmutable(ds->spec().selector(), As<api::DaemonSet>(old)->spec().selector(), errs);
  } else if (const auto* ss = As<api::StatefulSet>(now)) {
    ValidateStatefulSetUpdate(*ss, *As<api::StatefulSet>(old), errs);
  } else if (const auto* job = As<api::Job>(now)) {
    const api::Job& old_job = *As<api::Job>(old);
    CheckSelectorImmutable(job->spec().selector(), old_job.spec().selector(), errs);
    if (!MessageDifferencer::Equals(job->spec().template_(), old_job.spec().template_())) {
      errs.push_back(api::InvalidRendered(api::FieldPath("spec").Child("template"),
                                          "core.PodTemplateSpec{...}", "field is immutable"));
    }
  } else if (const auto* svc = As<api::Service>(now)) {
    const api::Service& old_svc = *As<api::Service>(old);
    if (svc->spec().cluster_ip() != old_svc.spec().cluster_ip() &&
        !old_svc.spec().cluster_ip().empty()) {
      errs.push_back(api::Invalid(api::FieldPath("spec").Child("clusterIPs").Index(0),
                                  svc->spec().cluster_ip(), "field is immutable"));
    }
  }
  return errs;
}

bool SpecChanged(const Message& a, const Message& b) {
  std::vector<const FieldDescriptor*> fields =
      FieldsExcept(a.GetDescriptor(), {"metadata", "status"});
  return !EqualFields(a, b, fields);
}

bool SameObject(const Message& a, const Message& b) {
  const api::ObjectMeta* ma = api::ObjectMetaOf(a);
  const api::ObjectMeta* mb = api::ObjectMetaOf(b);
  if (ma == nullptr || mb == nullptr) return MessageDifferencer::Equals(a, b);
  std::vector<const FieldDescriptor*> fields = FieldsExcept(a.GetDescriptor(), {"metadata"});
  if (!EqualFields(a, b, fields)) return false;
  std::vector<const FieldDescriptor*> meta_fields =
      FieldsExcept(api::ObjectMeta::descriptor(), {"resource_version"});
  return EqualFields(*ma, *mb, meta_fields);
}

std::string PodQosClass(const api::Pod& pod) {
  bool any = false;
  bool guaranteed = true;
  auto visit = [&](const api::Container& c) {
    const auto& requests = c.resources().requests();
    const auto& limits = c.resources().limits();
    any |= HasNonZero(requests) || HasNonZero(limits);
    for (absl::string_view key : {"cpu", "memory"}) {
      if (!limits.contains(std::string(key))) {
        guaranteed = false;
        continue;
      }
      if (requests.contains(std::string(key)) && !QuantityEqual(requests, limits, key)) {
        guaranteed = false;
      }
    }
  };
  for (const api::Container& c : pod.spec().init_containers()) visit(c);
  for (const api::Container& c : pod.spec().containers()) visit(c);
  if (!any) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}

bool IsScalable(const api::KindInfo& kind) {
  return kind.group == "apps" &&
         (kind.resource == "deployments" || kind.resource == "replicasets" ||
          kind.resource == "statefulsets");
}

std::unique_ptr<api::Scale> ScaleOf(const Message& object) {
  auto scale = std::make_unique<api::Scale>();
  if (const api::ObjectMeta* meta = api::ObjectMetaOf(object)) {
    api::ObjectMeta* out = scale->mutable_metadata();
    out->set_name(meta->name());
    out->set_namespace_(meta->namespace_());
    out->set_uid(meta->uid());
    out->set_resource_version(meta->resource_version());
    if (meta->has_creation_timestamp()) {
      *out->mutable_creation_timestamp() = meta->creation_timestamp();
    }
  }
  const google::protobuf::Reflection* r = object.GetReflection();
  if (const FieldDescriptor* spec_field = api::SpecField(object.GetDescriptor())) {
    const Message& spec = r->GetMessage(object, spec_field);
    const FieldDescriptor* replicas = spec.GetDescriptor()->FindFieldByName("replicas");
    if (replicas != nullptr) {
      scale->mutable_spec()->set_replicas(spec.GetReflection()->GetInt32(spec, replicas));
    }
    const FieldDescriptor* selector = spec.GetDescriptor()->FindFieldByName("selector");
    if (selector != nullptr && selector->message_type() == api::LabelSelector::descriptor()) {
      const auto* ls = google::protobuf::DynamicCastToGenerated<api::LabelSelector>(
          &spec.GetReflection()->GetMessage(spec, selector));
      if (ls != nullptr) scale->mutable_status()->set_selector(SelectorString(*ls));
    }
  }
  scale->mutable_status()->set_replicas(0);
  if (const FieldDescriptor* status_field = api::StatusField(object.GetDescriptor())) {
    const Message& status = r->GetMessage(object, status_field);
    const FieldDescriptor* replicas = status.GetDescriptor()->FindFieldByName("replicas");
    if (replicas != nullptr) {
      scale->mutable_status()->set_replicas(status.GetReflection()->GetInt32(status, replicas));
    }
  }
  return scale;
}

void SetReplicas(Message& object, int32_t replicas) {
  const FieldDescriptor* spec_field = api::SpecField(object.GetDescriptor());
  if (spec_field == nullptr) return;
  Message* spec = object.GetReflection()->MutableMessage(&object, spec_field);
  const FieldDescriptor* f = spec->GetDescriptor()->FindFieldByName("replicas");
  if (f != nullptr) spec->GetReflection()->SetInt32(spec, f, replicas);
}

}  // namespace korch::apiserver::internal
