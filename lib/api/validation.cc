// Validate(), ValidateObject() and ObjectMeta validation
// (k8s.io/apimachinery/pkg/api/validation/objectmeta.go), plus the helpers
// of validation_util.h.
#include "korch/api/validation.h"

#include <arpa/inet.h>

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"
#include "korch/api/codec.h"
#include "korch/api/name_validation.h"
#include "korch/api/scheme.h"
#include "korch/api/selector.h"
#include "validation_util.h"

namespace korch::api {

namespace validation_internal {

FieldErrorList InvalidEach(const FieldPath& path, absl::string_view value,
                           const std::vector<std::string>& messages) {
  FieldErrorList errs;
  for (const std::string& msg : messages) errs.push_back(Invalid(path, value, msg));
  return errs;
}

std::string InclusiveRangeError(int64_t lo, int64_t hi) {
  return absl::StrCat("must be between ", lo, " and ", hi, ", inclusive");
}

FieldErrorList ValidateNonnegative(int64_t value, const FieldPath& path) {
  FieldErrorList errs;
  if (value < 0) errs.push_back(Invalid(path, value, kIsNegativeErrorMsg));
  return errs;
}

namespace {

// apimachinery's maskTrailingDash: a generateName may end in '-', since
// random characters are appended to it.
std::string MaskTrailingDash(absl::string_view name) {
  std::string out(name);
  if (!out.empty() && out.back() == '-') out.back() = 'a';
  return out;
}

// apimachinery/pkg/api/validation/path: IsValidPathSegmentName/Prefix.
std::vector<std::string> PathSegmentErrors(absl::string_view name, bool prefix) {
  if (!prefix) {
    for (absl::string_view bad : {".", ".."}) {
      if (name == bad) return {absl::StrCat("may not be '", bad, "'")};
    }
  }
  std::vector<std::string> errs;
  for (absl::string_view bad : {"/", "%"}) {
    if (absl::StrContains(name, bad)) errs.push_back(absl::StrCat("may not contain '", bad, "'"));
  }
  return errs;
}

// A dotted quad; like Go's ParseIPSloppy, components may have leading zeros.
bool IsIPv4(absl::string_view s) {
  std::vector<absl::string_view> parts = absl::StrSplit(s, '.');
  if (parts.size() != 4) return false;
  for (absl::string_view p : parts) {
    if (p.empty() || p.size() > 3) return false;
    int v = 0;
    for (char c : p) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    if (v > 255) return false;
  }
  return true;
}

}  // namespace

bool IsIPv6(absl::string_view value) {
  if (value.find(':') == absl::string_view::npos) return false;
  std::string s(value);
  unsigned char buf[16];
  return inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool IsIP(absl::string_view value) { return IsIPv4(value) || IsIPv6(value); }

bool IsCIDR(absl::string_view value) {
  size_t slash = value.find('/');
  if (slash == absl::string_view::npos) return false;
  absl::string_view ip = value.substr(0, slash);
  absl::string_view bits = value.substr(slash + 1);
  if (bits.empty() || bits.size() > 3) return false;
  int n = 0;
  for (char c : bits) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  if (IsIPv4(ip)) return n <= 32;
  if (IsIPv6(ip)) return n <= 128;
  return false;
}

FieldErrorList ValidateIP(absl::string_view value, const FieldPath& path) {
  FieldErrorList errs;
  if (!IsIP(value)) {
    errs.push_back(
        Invalid(path, value, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"));
  }
  return errs;
}

FieldErrorList ValidateCIDR(absl::string_view value, const FieldPath& path) {
  FieldErrorList errs;
  if (!IsCIDR(value)) {
    errs.push_back(
        Invalid(path, value, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"));
  }
  return errs;
}

std::vector<std::string> NameErrors(absl::string_view name, NameRule rule, bool prefix) {
  std::string n =
      prefix && rule != NameRule::kPathSegment ? MaskTrailingDash(name) : std::string(name);
  switch (rule) {
    case NameRule::kDNS1123Subdomain:
      return IsDNS1123Subdomain(n);
    case NameRule::kDNS1123Label:
      return IsDNS1123Label(n);
    case NameRule::kDNS1035Label:
      return IsDNS1035Label(n);
    case NameRule::kPathSegment:
      return PathSegmentErrors(n, prefix);
  }
  return {};
}

FieldErrorList ValidateName(absl::string_view name, NameRule rule, const FieldPath& path) {
  if (name.empty()) return {};
  return InvalidEach(path, name, NameErrors(name, rule, /*prefix=*/false));
}

}  // namespace validation_internal

using namespace validation_internal;  // NOLINT(build/namespaces): this file's own helpers

namespace {

constexpr int64_t kTotalAnnotationSizeLimit = 256 * (1 << 10);  // 256 KiB

std::string RenderJson(const google::protobuf::Message& m) {
  EncodeOptions options;
  options.type_meta = false;
  return EncodeJson(m, options);
}

// metav1.FinalizerOrphanDependents, FinalizerDeleteDependents and
// core.FinalizerKubernetes.
constexpr absl::string_view kFinalizerOrphan = "orphan";
constexpr absl::string_view kFinalizerForeground = "foregroundDeletion";

bool IsStandardFinalizerName(absl::string_view name) {
  return name == "kubernetes" || name == kFinalizerOrphan || name == kFinalizerForeground;
}

// The version part of an apiVersion ("v1", "apps/v1"), as
// schema.ParseGroupVersion finds it; empty when there is none or the
// apiVersion is malformed.
absl::string_view ApiVersionVersion(absl::string_view api_version) {
  if (api_version.empty()) return "";
  std::vector<absl::string_view> parts = absl::StrSplit(api_version, '/');
  if (parts.size() == 1) return parts[0];
  if (parts.size() == 2) return parts[1];
  return "";
}

absl::string_view ApiVersionGroup(absl::string_view api_version) {
  std::vector<absl::string_view> parts = absl::StrSplit(api_version, '/');
  return parts.size() == 2 ? parts[0] : "";
}

FieldErrorList ValidateOwnerReferences(const ObjectMeta& meta, const FieldPath& path) {
  FieldErrorList errs;
  std::string first_controller;
  for (const OwnerReference& ref : meta.owner_references()) {
    // Kubernetes reports these at the list's path, without an index.
    absl::string_view version = ApiVersionVersion(ref.api_version());
    if (version.empty()) {
      errs.push_back(
          Invalid(path.Child("apiVersion"), ref.api_version(), "version must not be empty"));
    }
    if (ref.kind().empty()) {
      errs.push_back(Invalid(path.Child("kind"), ref.kind(), "must not be empty"));
    }
    if (ref.name().empty()) {
      errs.push_back(Invalid(path.Child("name"), ref.name(), "must not be empty"));
    }
    if (ref.uid().empty()) {
      errs.push_back(Invalid(path.Child("uid"), ref.uid(), "must not be empty"));
    }
    if (ApiVersionGroup(ref.api_version()).empty() && version == "v1" && ref.kind() == "Event") {
      errs.push_back(InvalidRendered(path, RenderJson(ref),
                                     "/v1, Kind=Event is disallowed from being an owner"));
    }
    if (ref.controller()) {
      std::string current = absl::StrCat(ref.kind(), "/", ref.name());
      if (!first_controller.empty()) {
        std::vector<std::string> rendered;
        for (const OwnerReference& r : meta.owner_references()) rendered.push_back(RenderJson(r));
        errs.push_back(InvalidRendered(
            path, absl::StrCat("[", absl::StrJoin(rendered, ","), "]"),
            absl::StrCat("Only one reference can have Controller set to true. Found \"true\" in "
                         "references for ",
                         first_controller, " and ", current)));
      } else {
        first_controller = current;
      }
    }
  }
  return errs;
}

FieldErrorList ValidateFinalizers(const ObjectMeta& meta, const FieldPath& path) {
  FieldErrorList errs;
  bool orphan = false;
  bool foreground = false;
  absl::flat_hash_set<absl::string_view> seen;
  for (int i = 0; i < meta.finalizers_size(); ++i) {
    const std::string& f = meta.finalizers(i);
    // The qualified-name check reports at the list's path, as apimachinery
    // does; the standard-name check at the entry, as pkg/apis/core does.
    Append(&errs, InvalidEach(path, f, IsQualifiedName(f)));
    if (f.find('/') == std::string::npos && !IsStandardFinalizerName(f)) {
      errs.push_back(Invalid(path.Index(i), f,
                             "name is neither a standard finalizer name nor is it fully "
                             "qualified"));
    }
    if (!seen.insert(f).second) errs.push_back(Duplicate(path.Index(i), f));
    orphan = orphan || f == kFinalizerOrphan;
    foreground = foreground || f == kFinalizerForeground;
  }
  if (orphan && foreground) {
    std::vector<std::string> quoted;
    for (const std::string& f : meta.finalizers()) quoted.push_back(QuoteValue(f));
    errs.push_back(InvalidRendered(path, absl::StrCat("[", absl::StrJoin(quoted, ","), "]"),
                                   "finalizer orphan and foregroundDeletion cannot be both set"));
  }
  return errs;
}

// Validates the generated type T when `m` is one (or a dynamic message of
// T's type).
template <typename T>
bool Dispatch(const google::protobuf::Message& m, FieldErrorList (*fn)(const T&),
              FieldErrorList* out) {
  if (m.GetDescriptor() != T::descriptor()) return false;
  if (const T* t = google::protobuf::DynamicCastToGenerated<T>(&m)) {
    *out = fn(*t);
  } else {
    T copy;
    copy.CopyFrom(m);
    *out = fn(copy);
  }
  return true;
}

// The ObjectMeta of any kind, when it has one.
bool GetObjectMeta(const google::protobuf::Message& object, ObjectMeta* meta) {
  const google::protobuf::FieldDescriptor* f = object.GetDescriptor()->FindFieldByName("metadata");
  if (f == nullptr || f->message_type() != ObjectMeta::descriptor() || f->is_repeated()) {
    return false;
  }
  meta->CopyFrom(object.GetReflection()->GetMessage(object, f));
  return true;
}

void PrefixErrors(absl::string_view prefix, FieldErrorList* errs) {
  for (FieldError& e : *errs) {
    e.field = e.field.empty() ? std::string(prefix) : absl::StrCat(prefix, ".", e.field);
  }
}

}  // namespace

FieldErrorList ValidateObjectMeta(const ObjectMeta& meta, bool namespaced, NameRule rule,
                                  const FieldPath& path) {
  FieldErrorList errs;
  if (!meta.generate_name().empty()) {
    Append(&errs, InvalidEach(path.Child("generateName"), meta.generate_name(),
                              NameErrors(meta.generate_name(), rule, /*prefix=*/true)));
  }
  if (meta.name().empty()) {
    // With only a generateName the name is generated when the object is
    // created; until then only the prefix can be checked.
    if (meta.generate_name().empty()) {
      errs.push_back(Required(path.Child("name"), "name or generateName is required"));
    }
  } else {
    Append(&errs, ValidateName(meta.name(), rule, path.Child("name")));
  }
  if (namespaced) {
    if (meta.namespace_().empty()) {
      errs.push_back(Required(path.Child("namespace")));
    } else {
      Append(&errs, InvalidEach(path.Child("namespace"), meta.namespace_(),
                                IsDNS1123Label(meta.namespace_())));
    }
  } else if (!meta.namespace_().empty()) {
    errs.push_back(Forbidden(path.Child("namespace"), "not allowed on this type"));
  }
  Append(&errs, ValidateNonnegative(meta.generation(), path.Child("generation")));
  Append(&errs, ValidateLabels(meta.labels(), path.Child("labels")));

  FieldPath annotations = path.Child("annotations");
  int64_t annotation_bytes = 0;
  for (const auto& [key, value] : SortedEntries(meta.annotations())) {
    // Annotation keys are qualified names in which case does not matter.
    Append(&errs, InvalidEach(annotations, key, IsQualifiedName(absl::AsciiStrToLower(key))));
    annotation_bytes += static_cast<int64_t>(key.size() + value.size());
  }
  if (annotation_bytes > kTotalAnnotationSizeLimit) {
    errs.push_back(TooLong(annotations, kTotalAnnotationSizeLimit));
  }
  Append(&errs, ValidateOwnerReferences(meta, path.Child("ownerReferences")));
  Append(&errs, ValidateFinalizers(meta, path.Child("finalizers")));
  return errs;
}

FieldErrorList ValidateObject(const google::protobuf::Message& object) {
  FieldErrorList errs;
  if (Dispatch<Pod>(object, &ValidatePod, &errs) ||
      Dispatch<Namespace>(object, &ValidateNamespace, &errs) ||
      Dispatch<Node>(object, &ValidateNode, &errs) ||
      Dispatch<Service>(object, &ValidateService, &errs) ||
      Dispatch<Endpoints>(object, &ValidateEndpoints, &errs) ||
      Dispatch<ConfigMap>(object, &ValidateConfigMap, &errs) ||
      Dispatch<Secret>(object, &ValidateSecret, &errs) ||
      Dispatch<ServiceAccount>(object, &ValidateServiceAccount, &errs) ||
      Dispatch<Event>(object, &ValidateEvent, &errs) ||
      Dispatch<LimitRange>(object, &ValidateLimitRange, &errs) ||
      Dispatch<ResourceQuota>(object, &ValidateResourceQuota, &errs) ||
      Dispatch<Binding>(object, &ValidateBinding, &errs) ||
      Dispatch<Deployment>(object, &ValidateDeployment, &errs) ||
      Dispatch<ReplicaSet>(object, &ValidateReplicaSet, &errs) ||
      Dispatch<DaemonSet>(object, &ValidateDaemonSet, &errs) ||
      Dispatch<StatefulSet>(object, &ValidateStatefulSet, &errs) ||
      Dispatch<Job>(object, &ValidateJob, &errs) || Dispatch<Role>(object, &ValidateRole, &errs) ||
      Dispatch<ClusterRole>(object, &ValidateClusterRole, &errs) ||
      Dispatch<RoleBinding>(object, &ValidateRoleBinding, &errs) ||
      Dispatch<ClusterRoleBinding>(object, &ValidateClusterRoleBinding, &errs) ||
      Dispatch<Lease>(object, &ValidateLease, &errs) ||
      Dispatch<PriorityClass>(object, &ValidatePriorityClass, &errs) ||
      Dispatch<EndpointSlice>(object, &ValidateEndpointSlice, &errs) ||
      Dispatch<Scale>(object, &ValidateScale, &errs)) {
    return errs;
  }

  const google::protobuf::Descriptor* descriptor = object.GetDescriptor();
  const KindInfo* kind = Scheme::Builtin().Find(descriptor);
  if (kind == nullptr) return errs;

  if (kind->item != nullptr) {
    // A list: every item, under items[i].
    const google::protobuf::FieldDescriptor* items = descriptor->FindFieldByName("items");
    if (items == nullptr || !items->is_repeated() ||
        items->type() != google::protobuf::FieldDescriptor::TYPE_MESSAGE) {
      return errs;
    }
    const google::protobuf::Reflection* reflection = object.GetReflection();
    int n = reflection->FieldSize(object, items);
    for (int i = 0; i < n; ++i) {
      FieldErrorList item_errs = ValidateObject(reflection->GetRepeatedMessage(object, items, i));
      PrefixErrors(absl::StrCat("items[", i, "]"), &item_errs);
      Append(&errs, std::move(item_errs));
    }
    return errs;
  }

  // A kind without rules of its own: its metadata, if it is stored.
  ObjectMeta meta;
  if (!kind->resource.empty() && kind->verbs.empty() && GetObjectMeta(object, &meta)) {
    errs = ValidateObjectMeta(meta, kind->namespaced, NameRule::kDNS1123Subdomain,
                              FieldPath("metadata"));
  }
  return errs;
}

absl::Status Validate(const google::protobuf::Message& object) {
  FieldErrorList errs = ValidateObject(object);
  if (errs.empty()) return absl::OkStatus();
  const KindInfo* kind = Scheme::Builtin().Find(object.GetDescriptor());
  std::string qualified_kind =
      kind != nullptr ? kind->QualifiedKind() : std::string(object.GetDescriptor()->name());
  ObjectMeta meta;
  std::string name;
  if (GetObjectMeta(object, &meta)) name = meta.name();
  return InvalidStatus(qualified_kind, name, errs);
}

}  // namespace korch::api
