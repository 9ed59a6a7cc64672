#include "registry_select.h"

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "korch/api/apps.pb.h"
#include "korch/api/batch.pb.h"
#include "korch/api/core.pb.h"
#include "korch/api/object.h"
#include "korch/apiserver/request.h"

namespace korch::apiserver::internal {
namespace {

using google::protobuf::Message;

absl::string_view Bool(bool b) { return b ? "true" : "false"; }

absl::string_view Int(int64_t v, std::string& scratch) {
  scratch = absl::StrCat(v);
  return scratch;
}

std::optional<absl::string_view> PodField(const api::Pod& pod, absl::string_view f) {
  if (f == "spec.nodeName") return pod.spec().node_name();
  if (f == "spec.restartPolicy") return pod.spec().restart_policy();
  if (f == "spec.schedulerName") return pod.spec().scheduler_name();
  if (f == "spec.serviceAccountName") return pod.spec().service_account_name();
  if (f == "spec.hostNetwork") return Bool(pod.spec().host_network());
  if (f == "status.phase") return pod.status().phase();
  if (f == "status.podIP") return pod.status().pod_ip();
  if (f == "status.nominatedNodeName") return pod.status().nominated_node_name();
  return std::nullopt;
}

std::optional<absl::string_view> EventField(const api::Event& e, absl::string_view f) {
  const api::ObjectReference& o = e.involved_object();
  if (f == "involvedObject.kind") return o.kind();
  if (f == "involvedObject.namespace") return o.namespace_();
  if (f == "involvedObject.name") return o.name();
  if (f == "involvedObject.uid") return o.uid();
  if (f == "involvedObject.apiVersion") return o.api_version();
  if (f == "involvedObject.resourceVersion") return o.resource_version();
  if (f == "involvedObject.fieldPath") return o.field_path();
  if (f == "reason") return e.reason();
  if (f == "reportingComponent") return e.reporting_component();
  if (f == "source") return e.source().component();
  if (f == "type") return e.type();
  return std::nullopt;
}

}  // namespace

std::optional<absl::string_view> FieldValue(const Message& object, absl::string_view field,
                                            std::string& scratch) {
  const api::ObjectMeta* meta = api::ObjectMetaOf(object);
  if (meta != nullptr) {
    if (field == "metadata.name") return meta->name();
    if (field == "metadata.namespace") return meta->namespace_();
  }
  if (const auto* pod = google::protobuf::DynamicCastToGenerated<api::Pod>(&object)) {
    return PodField(*pod, field);
  }
  if (const auto* e = google::protobuf::DynamicCastToGenerated<api::Event>(&object)) {
    return EventField(*e, field);
  }
  if (const auto* s = google::protobuf::DynamicCastToGenerated<api::Secret>(&object)) {
    if (field == "type") return s->type();
    return std::nullopt;
  }
  if (const auto* n = google::protobuf::DynamicCastToGenerated<api::Node>(&object)) {
    if (field == "spec.unschedulable") return Bool(n->spec().unschedulable());
    return std::nullopt;
  }
  if (const auto* ns = google::protobuf::DynamicCastToGenerated<api::Namespace>(&object)) {
    if (field == "status.phase") return ns->status().phase();
    return std::nullopt;
  }
  if (const auto* rs = google::protobuf::DynamicCastToGenerated<api::ReplicaSet>(&object)) {
    if (field == "status.replicas") return Int(rs->status().replicas(), scratch);
    return std::nullopt;
  }
  if (const auto* job = google::protobuf::DynamicCastToGenerated<api::Job>(&object)) {
    if (field == "status.successful") return Int(job->status().succeeded(), scratch);
    return std::nullopt;
  }
  if (const auto* svc = google::protobuf::DynamicCastToGenerated<api::Service>(&object)) {
    if (field == "spec.clusterIP") return svc->spec().cluster_ip();
    if (field == "spec.type") return svc->spec().type();
    return std::nullopt;
  }
  return std::nullopt;
}

bool FieldSupported(const api::KindInfo& kind, absl::string_view field) {
  if (field == "metadata.name" || field == "metadata.namespace") return true;
  // Ask the getter on an empty object of the kind: it knows the fields.
  const Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(kind.descriptor);
  if (prototype == nullptr) return false;
  std::string scratch;
  return FieldValue(*prototype, field, scratch).has_value();
}

absl::StatusOr<Selection> Selection::Parse(const api::KindInfo& kind,
                                           absl::string_view label_selector,
                                           absl::string_view field_selector) {
  Selection s;
  s.kind_ = &kind;
  if (!label_selector.empty()) {
    absl::StatusOr<api::Selector> labels = api::Selector::Parse(label_selector);
    if (!labels.ok()) {
      return WithReason(absl::InvalidArgumentError(labels.status().message()), "BadRequest", 400);
    }
    s.labels_ = *std::move(labels);
  }
  if (!field_selector.empty()) {
    absl::StatusOr<api::FieldSelector> fields = api::FieldSelector::Parse(field_selector);
    if (!fields.ok()) {
      return WithReason(absl::InvalidArgumentError(fields.status().message()), "BadRequest", 400);
    }
    for (const api::FieldRequirement& r : fields->requirements()) {
      if (!FieldSupported(kind, r.field)) {
        return WithReason(
            absl::InvalidArgumentError(absl::StrCat("field label not supported: ", r.field)),
            "BadRequest", 400);
      }
    }
    s.fields_ = *std::move(fields);
  }
  return s;
}

bool Selection::Matches(const Message& object) const {
  if (!labels_.Empty()) {
    const api::ObjectMeta* meta = api::ObjectMetaOf(object);
    if (meta == nullptr || !labels_.Matches(meta->labels())) return false;
  }
  if (!fields_.Empty()) {
    std::string scratch;
    return fields_.Matches(
        [&](absl::string_view field) { return FieldValue(object, field, scratch); });
  }
  return true;
}

}  // namespace korch::apiserver::internal
