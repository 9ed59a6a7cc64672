#include "korch/api/k8s_protobuf.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/unknown_field_set.h"
#include "korch/api/codec.h"
#include "korch/base/status.h"
#include "korch/k8swire/apps_v1.pb.h"
#include "korch/k8swire/authorization_v1.pb.h"
#include "korch/k8swire/autoscaling_v1.pb.h"
#include "korch/k8swire/batch_v1.pb.h"
#include "korch/k8swire/coordination_v1.pb.h"
#include "korch/k8swire/core_v1.pb.h"
#include "korch/k8swire/discovery_v1.pb.h"
#include "korch/k8swire/meta_v1.pb.h"
#include "korch/k8swire/options.pb.h"
#include "korch/k8swire/policy_v1.pb.h"
#include "korch/k8swire/rbac_v1.pb.h"
#include "korch/k8swire/runtime.pb.h"
#include "korch/k8swire/scheduling_v1.pb.h"

namespace korch::api {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using nlohmann::json;

constexpr absl::string_view kMagic("k8s\0", 4);
constexpr absl::string_view kSendJson =
    "; send the object as application/json instead (kubectl: use `create -f` with a manifest)";

constexpr absl::string_view kMetaPackage = "k8s.io.apimachinery.pkg.apis.meta.v1";
constexpr absl::string_view kTime = "k8s.io.apimachinery.pkg.apis.meta.v1.Time";
constexpr absl::string_view kMicroTime = "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime";
constexpr absl::string_view kFieldsV1 = "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1";
constexpr absl::string_view kQuantity = "k8s.io.apimachinery.pkg.api.resource.Quantity";
constexpr absl::string_view kIntOrString = "k8s.io.apimachinery.pkg.util.intstr.IntOrString";
constexpr absl::string_view kRawExtension = "k8s.io.apimachinery.pkg.runtime.RawExtension";

// The generated descriptors register themselves when their object files are
// linked in; naming one message of each file keeps a static link from
// dropping them, since lookups go by name only.
void LinkWireDescriptors() {
  static const bool linked = [] {
    const Descriptor* all[] = {
        k8s::io::api::core::v1::Pod::descriptor(),
        k8s::io::api::apps::v1::Deployment::descriptor(),
        k8s::io::api::batch::v1::Job::descriptor(),
        k8s::io::api::rbac::v1::Role::descriptor(),
        k8s::io::api::scheduling::v1::PriorityClass::descriptor(),
        k8s::io::api::policy::v1::PodDisruptionBudget::descriptor(),
        k8s::io::api::coordination::v1::Lease::descriptor(),
        k8s::io::api::discovery::v1::EndpointSlice::descriptor(),
        k8s::io::api::autoscaling::v1::Scale::descriptor(),
        k8s::io::api::authorization::v1::SelfSubjectAccessReview::descriptor(),
        k8s::io::apimachinery::pkg::apis::meta::v1::DeleteOptions::descriptor(),
        k8s::io::apimachinery::pkg::runtime::Unknown::descriptor(),
    };
    return all[0] != nullptr;
  }();
  (void)linked;
}

std::string Join(absl::string_view path, absl::string_view name) {
  return path.empty() ? std::string(name) : absl::StrCat(path, ".", name);
}

absl::Status Invalid(absl::string_view path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(
      "the protobuf body ", path.empty() ? "" : absl::StrCat("at ", path, " "), what, kSendJson));
}

absl::StatusOr<json> ToJson(const Message& m, const std::string& path);

// The JSON that Kubernetes gives a time: RFC 3339, UTC, whole seconds
// (metav1.Time) or microseconds (metav1.MicroTime); null for the zero time.
json TimeJson(const Message& m, bool micro) {
  const Reflection* r = m.GetReflection();
  const Descriptor* d = m.GetDescriptor();
  int64_t seconds = r->GetInt64(m, d->FindFieldByName("seconds"));
  int32_t nanos = r->GetInt32(m, d->FindFieldByName("nanos"));
  if (seconds == 0 && nanos == 0) return nullptr;
  absl::Time t = absl::FromUnixSeconds(seconds) + absl::Nanoseconds(nanos);
  return absl::FormatTime(micro ? "%Y-%m-%dT%H:%M:%E6SZ" : "%Y-%m-%dT%H:%M:%SZ", t,
                          absl::UTCTimeZone());
}

// Raw bytes that hold an embedded JSON document (RawExtension, FieldsV1).
absl::StatusOr<json> EmbeddedJson(const std::string& raw, const std::string& path) {
  if (raw.empty()) return json(nullptr);
  if (absl::StartsWith(raw, kMagic)) {
    return Invalid(path, "embeds an object in protobuf, which korch does not read");
  }
  absl::StatusOr<json> parsed = ParseJson(raw, /*reject_duplicates=*/false);
  if (!parsed.ok()) return Invalid(path, "embeds bytes that are not JSON");
  return parsed;
}

// Whether a message's Go type has its own JSON form (SpecialJson).
bool IsSpecial(const Descriptor* d) {
  const std::string& name = d->full_name();
  return name == kTime || name == kMicroTime || name == kQuantity || name == kIntOrString ||
         name == kRawExtension || name == kFieldsV1;
}

// The JSON of a message for which IsSpecial() holds.
absl::StatusOr<json> SpecialJson(const Message& m, const std::string& path) {
  const std::string& name = m.GetDescriptor()->full_name();
  const Reflection* r = m.GetReflection();
  const Descriptor* d = m.GetDescriptor();
  if (name == kTime) return TimeJson(m, false);
  if (name == kMicroTime) return TimeJson(m, true);
  if (name == kQuantity) {
    return json(r->GetString(m, d->FindFieldByName("string")));
  }
  if (name == kIntOrString) {
    // type 0 is an int, 1 a string (intstr.Type).
    if (r->GetInt64(m, d->FindFieldByName("type")) == 1) {
      return json(r->GetString(m, d->FindFieldByName("strVal")));
    }
    return json(r->GetInt32(m, d->FindFieldByName("intVal")));
  }
  // RawExtension and FieldsV1.
  return EmbeddedJson(r->GetString(m, d->field(0)), path);
}

absl::StatusOr<json> ScalarJson(const Message& m, const FieldDescriptor* f, int index,
                                const std::string& path) {
  const Reflection* r = m.GetReflection();
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return json(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
    case FieldDescriptor::CPPTYPE_INT64:
      return json(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f));
    case FieldDescriptor::CPPTYPE_UINT32:
      return json(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
    case FieldDescriptor::CPPTYPE_UINT64:
      return json(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return json(rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return json(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f));
    case FieldDescriptor::CPPTYPE_BOOL:
      return json(rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f));
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string s = rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
      // Go's []byte is base64 in JSON (Secret data, ConfigMap binaryData).
      if (f->type() == FieldDescriptor::TYPE_BYTES) return json(absl::Base64Escape(s));
      return json(std::move(s));
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const Message& sub = rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f);
      return ToJson(sub, path);
    }
    case FieldDescriptor::CPPTYPE_ENUM:
      break;
  }
  return Invalid(path,
                 absl::StrCat("has a field of a type korch does not read (", f->full_name(), ")"));
}

// Go writes every non-pointer field, set or not. A field korch does not
// declare that holds its zero value (0, "", an empty struct) was left unset
// by the client, or was removed from Kubernetes and is still written by an
// older client-go (ObjectMeta.clusterName, field 15, before 1.25): ignoring
// it changes nothing.
bool IsZero(const google::protobuf::UnknownField& f) {
  switch (f.type()) {
    case google::protobuf::UnknownField::TYPE_VARINT:
      return f.varint() == 0;
    case google::protobuf::UnknownField::TYPE_FIXED32:
      return f.fixed32() == 0;
    case google::protobuf::UnknownField::TYPE_FIXED64:
      return f.fixed64() == 0;
    case google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED:
      return f.length_delimited().empty();
    case google::protobuf::UnknownField::TYPE_GROUP:
      return f.group().empty();
  }
  return false;
}

absl::StatusOr<json> ToJson(const Message& m, const std::string& path) {
  if (IsSpecial(m.GetDescriptor())) return SpecialJson(m, path);

  const Reflection* r = m.GetReflection();
  const google::protobuf::UnknownFieldSet& unknown = r->GetUnknownFields(m);
  std::vector<int> numbers;
  for (int i = 0; i < unknown.field_count(); ++i) {
    if (!IsZero(unknown.field(i))) numbers.push_back(unknown.field(i).number());
  }
  if (!numbers.empty()) {
    return Invalid(path.empty() ? "the object" : path,
                   absl::StrCat("has field ", absl::StrJoin(numbers, ", "), " of ",
                                m.GetDescriptor()->full_name(),
                                ", which korch does not know (a newer Kubernetes field?)"));
  }

  json out = json::object();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    const std::string& name = f->json_name();
    std::string field_path = Join(path, name);
    if (f->is_map()) {
      const FieldDescriptor* key = f->message_type()->map_key();
      const FieldDescriptor* value = f->message_type()->map_value();
      json object = json::object();
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        const Message& entry = r->GetRepeatedMessage(m, f, i);
        KORCH_ASSIGN_OR_RETURN(json k, ScalarJson(entry, key, -1, field_path));
        std::string key_text = k.is_string() ? k.get<std::string>() : k.dump();
        KORCH_ASSIGN_OR_RETURN(
            json v, ScalarJson(entry, value, -1, absl::StrCat(field_path, "[", key_text, "]")));
        object[key_text] = std::move(v);
      }
      out[name] = std::move(object);
    } else if (f->is_repeated()) {
      json array = json::array();
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        KORCH_ASSIGN_OR_RETURN(json v, ScalarJson(m, f, i, absl::StrCat(field_path, "[", i, "]")));
        array.push_back(std::move(v));
      }
      out[name] = std::move(array);
    } else if (f->options().GetExtension(korch::k8swire::inline_)) {
      // An embedded Go struct: its fields are the enclosing object's.
      KORCH_ASSIGN_OR_RETURN(json v, ScalarJson(m, f, -1, path));
      if (!v.is_object()) return Invalid(path, "has an inlined field that is not an object");
      for (auto& [k, item] : v.items()) out[k] = std::move(item);
    } else {
      KORCH_ASSIGN_OR_RETURN(json v, ScalarJson(m, f, -1, field_path));
      if (v.is_null()) continue;  // the zero time, an empty RawExtension
      out[name] = std::move(v);
    }
  }
  return out;
}

// The wire package of an API group's version; empty if korch declares none
// ("apps" -> k8s.io.api.apps.v1, "rbac.authorization.k8s.io" ->
// k8s.io.api.rbac.v1).
std::string PackageOf(absl::string_view group, absl::string_view version) {
  if (group.empty()) return absl::StrCat("k8s.io.api.core.", version);
  if (group == "meta.k8s.io") return std::string(kMetaPackage);
  if (absl::StrContains(group, '.') && !absl::EndsWith(group, ".k8s.io")) return "";
  std::string first(group.substr(0, group.find('.')));
  return absl::StrCat("k8s.io.api.", first, ".", version);
}

}  // namespace

const Descriptor* KubernetesProtobufType(absl::string_view api_version, absl::string_view kind) {
  LinkWireDescriptors();
  std::pair<absl::string_view, absl::string_view> gv =
      api_version.find('/') == absl::string_view::npos
          ? std::make_pair(absl::string_view(), api_version)
          : std::pair<absl::string_view, absl::string_view>(
                absl::StrSplit(api_version, absl::MaxSplits('/', 1)));
  if (kind.empty() || gv.second.empty()) return nullptr;
  // Clients send DeleteOptions in the version of the resource being deleted.
  std::string package =
      kind == "DeleteOptions" ? std::string(kMetaPackage) : PackageOf(gv.first, gv.second);
  if (package.empty()) return nullptr;
  const Descriptor* d = google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
      absl::StrCat(package, ".", kind));
  if (d == nullptr) return nullptr;
  // Only objects: a kind has metadata (DeleteOptions is the one exception).
  if (kind != "DeleteOptions" && d->FindFieldByName("metadata") == nullptr) return nullptr;
  return d;
}

absl::StatusOr<json> KubernetesProtobufToJson(absl::string_view body) {
  if (!absl::StartsWith(body, kMagic)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the body is not in Kubernetes' protobuf format: it does not start with \"k8s\\x00\"",
        kSendJson));
  }
  body.remove_prefix(kMagic.size());
  k8s::io::apimachinery::pkg::runtime::Unknown envelope;
  if (!envelope.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat("the protobuf body does not parse as a runtime.Unknown envelope", kSendJson));
  }
  if (!envelope.contentencoding().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("the protobuf body has content encoding \"",
                                                   envelope.contentencoding(),
                                                   "\", which korch does not read", kSendJson));
  }
  const std::string& api_version = envelope.typemeta().apiversion();
  const std::string& kind = envelope.typemeta().kind();
  if (kind.empty() || api_version.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the protobuf body names no apiVersion and kind", kSendJson));
  }
  const Descriptor* type = KubernetesProtobufType(api_version, kind);
  if (type == nullptr) {
    return absl::UnimplementedError(
        absl::StrCat("korch cannot read ", kind, " (", api_version, ") in protobuf", kSendJson));
  }
  std::unique_ptr<Message> object(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(type)->New());
  if (!object->ParseFromString(envelope.raw())) {
    return absl::InvalidArgumentError(absl::StrCat("the protobuf body does not parse as ", kind,
                                                   " (", type->full_name(), ")", kSendJson));
  }
  KORCH_ASSIGN_OR_RETURN(json fields, ToJson(*object, ""));
  json out = json::object();
  out["apiVersion"] = api_version;
  out["kind"] = kind;
  for (auto& [k, v] : fields.items()) out[k] = std::move(v);
  return out;
}

std::string EncodeKubernetesProtobuf(absl::string_view api_version, absl::string_view kind,
                                     const Message& object) {
  k8s::io::apimachinery::pkg::runtime::Unknown envelope;
  envelope.mutable_typemeta()->set_apiversion(std::string(api_version));
  envelope.mutable_typemeta()->set_kind(std::string(kind));
  envelope.set_raw(object.SerializeAsString());
  return absl::StrCat(kMagic, envelope.SerializeAsString());
}

}  // namespace korch::api
