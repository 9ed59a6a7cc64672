#include "korch/apiserver/openapi.h"

#include <exception>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "korch/api/options.pb.h"
#include "korch/apiserver/discovery.h"
#include "korch/apiserver/patch.h"
#include "openapiv2/OpenAPIv2.pb.h"

namespace korch::apiserver {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;
using json = nlohmann::json;

enum class Flavor { kV2, kV3 };

constexpr absl::string_view kMetaPackage = "io.k8s.apimachinery.pkg.apis.meta.v1";
constexpr absl::string_view kPatchSchema = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";

// ---- Message types that the JSON codec writes as scalars -----------------------

enum class Special { kNone, kTime, kIntOrString, kRaw };

Special SpecialOf(const Descriptor* d) {
  const std::string& name = d->full_name();
  if (name == "korch.api.Time" || name == "korch.api.MicroTime") return Special::kTime;
  if (name == "korch.api.IntOrString") return Special::kIntOrString;
  if (name == "korch.api.RawExtension") return Special::kRaw;
  return Special::kNone;
}

json GroupVersionKind(absl::string_view group, absl::string_view version, absl::string_view kind) {
  return json{{"group", std::string(group)},
              {"kind", std::string(kind)},
              {"version", std::string(version)}};
}

// ---- Patch metadata by field ----------------------------------------------------

// The strategic-merge rules of KubernetesStrategicSchema() are keyed by field
// path; OpenAPI attaches them to a field of a type. Every path from every
// kind of the scheme to a field is tried; the first rule found wins (a type
// reached along several paths, like Container, gets the same rules on each).
class PatchIndex {
 public:
  explicit PatchIndex(const api::Scheme& scheme) {
    std::vector<std::string> path;
    absl::flat_hash_set<const Descriptor*> on_path;
    for (const auto& kind : scheme.kinds()) Walk(kind->descriptor, path, on_path);
  }

  const FieldPatchInfo* Find(const FieldDescriptor* fd) const {
    auto it = infos_.find(fd);
    return it == infos_.end() ? nullptr : &it->second;
  }

 private:
  // Kubernetes objects nest about 15 levels; the bound keeps a recursive
  // type from walking forever.
  static constexpr size_t kMaxDepth = 32;

  void Walk(const Descriptor* d, std::vector<std::string>& path,
            absl::flat_hash_set<const Descriptor*>& on_path) {
    if (path.size() >= kMaxDepth || !on_path.insert(d).second) return;
    const StrategicSchema& rules = KubernetesStrategicSchema();
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* fd = d->field(i);
      path.push_back(fd->json_name());
      if (const FieldPatchInfo* info = rules.Lookup(path)) infos_.try_emplace(fd, *info);
      if (!fd->is_map() && fd->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
          SpecialOf(fd->message_type()) == Special::kNone) {
        Walk(fd->message_type(), path, on_path);
      }
      path.pop_back();
    }
    on_path.erase(d);
  }

  absl::flat_hash_map<const FieldDescriptor*, FieldPatchInfo> infos_;
};

// ---- Schemas -------------------------------------------------------------------

// Builds the named schemas of message types and of everything they reach.
class SchemaBuilder {
 public:
  SchemaBuilder(Flavor flavor, const PatchIndex& patch) : flavor_(flavor), patch_(patch) {}

  // {"$ref": ...} to the schema of `d`, which is added with everything it
  // reaches.
  json RefTo(const Descriptor* d) {
    Add(d);
    return json{{"$ref", RefPath(OpenApiSchemaName(d))}};
  }

  json PatchRef() {
    if (!definitions_.contains(kPatchSchema)) {
      definitions_[std::string(kPatchSchema)] =
          json{{"type", "object"},
               {"description",
                "A patch document: a JSON patch, a merge patch, a strategic merge patch or an "
                "apply configuration, as the request's Content-Type says."}};
    }
    return json{{"$ref", RefPath(kPatchSchema)}};
  }

  void Add(const Descriptor* d) {
    if (SpecialOf(d) != Special::kNone || !added_.insert(d).second) return;
    pending_.push_back(d);
    // A work list rather than recursion: schemas refer to each other by name.
    while (!pending_.empty()) {
      const Descriptor* next = pending_.back();
      pending_.pop_back();
      definitions_[OpenApiSchemaName(next)] = MessageSchema(next);
    }
  }

  json& definitions() { return definitions_; }

 private:
  std::string RefPath(absl::string_view name) const {
    return absl::StrCat(flavor_ == Flavor::kV2 ? "#/definitions/" : "#/components/schemas/", name);
  }

  // Refers to `d` without building it now (MessageSchema runs inside Add's
  // loop).
  json Reference(const Descriptor* d) {
    if (added_.insert(d).second) pending_.push_back(d);
    return json{{"$ref", RefPath(OpenApiSchemaName(d))}};
  }

  json MessageSchema(const Descriptor* d) {
    json properties = json::object();
    const auto& options = d->options();
    bool is_kind = options.HasExtension(api::kind);
    if (is_kind) {
      properties["apiVersion"] =
          json{{"type", "string"},
               {"description", "The versioned schema of this object, e.g. \"v1\" or \"apps/v1\"."}};
      properties["kind"] =
          json{{"type", "string"}, {"description", "The type of this object, e.g. \"Pod\"."}};
    }
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* fd = d->field(i);
      properties[fd->json_name()] = FieldSchema(fd);
    }
    json schema{{"type", "object"}, {"properties", std::move(properties)}};
    if (is_kind) {
      schema["x-kubernetes-group-version-kind"] = json::array(
          {GroupVersionKind(options.GetExtension(api::group), options.GetExtension(api::version),
                            options.GetExtension(api::kind))});
    }
    return schema;
  }

  json IntOrString() const {
    if (flavor_ == Flavor::kV2) {
      // kubectl 1.20's validation lets numbers through where a string is
      // expected, so this admits both.
      return json{{"type", "string"}, {"format", "int-or-string"}};
    }
    return json{{"x-kubernetes-int-or-string", true},
                {"anyOf", json::array({json{{"type", "integer"}}, json{{"type", "string"}}})}};
  }

  // The schema of one value of `fd` (an element when it is repeated).
  json ValueSchema(const FieldDescriptor* fd, bool quantity, bool property) {
    switch (fd->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        if (fd->type() == FieldDescriptor::TYPE_BYTES) {
          return json{{"type", "string"}, {"format", "byte"}};
        }
        if (quantity) return flavor_ == Flavor::kV2 ? json{{"type", "string"}} : IntOrString();
        return json{{"type", "string"}};
      case FieldDescriptor::CPPTYPE_INT32:
      case FieldDescriptor::CPPTYPE_UINT32:
        return json{{"type", "integer"}, {"format", "int32"}};
      case FieldDescriptor::CPPTYPE_INT64:
      case FieldDescriptor::CPPTYPE_UINT64:
        return json{{"type", "integer"}, {"format", "int64"}};
      case FieldDescriptor::CPPTYPE_BOOL:
        return json{{"type", "boolean"}};
      case FieldDescriptor::CPPTYPE_DOUBLE:
        return json{{"type", "number"}, {"format", "double"}};
      case FieldDescriptor::CPPTYPE_FLOAT:
        return json{{"type", "number"}, {"format", "float"}};
      case FieldDescriptor::CPPTYPE_ENUM:
        return json{{"type", "string"}};
      case FieldDescriptor::CPPTYPE_MESSAGE:
        break;
    }
    switch (SpecialOf(fd->message_type())) {
      case Special::kTime:
        return json{{"type", "string"}, {"format", "date-time"}};
      case Special::kIntOrString:
        return IntOrString();
      case Special::kRaw:
        return json{{"type", "object"}};
      case Special::kNone:
        break;
    }
    json ref = Reference(fd->message_type());
    // OpenAPI 3 ignores the siblings of a $ref; Kubernetes wraps references
    // of properties in allOf so that extensions next to them count.
    if (flavor_ == Flavor::kV3 && property) return json{{"allOf", json::array({std::move(ref)})}};
    return ref;
  }

  json FieldSchema(const FieldDescriptor* fd) {
    bool quantity = fd->options().GetExtension(api::quantity);
    if (fd->is_map()) {
      return json{
          {"type", "object"},
          {"additionalProperties", ValueSchema(fd->message_type()->map_value(), quantity, false)}};
    }
    const FieldPatchInfo* info = patch_.Find(fd);
    if (fd->is_repeated()) {
      json schema{{"type", "array"}, {"items", ValueSchema(fd, quantity, false)}};
      bool objects = fd->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
      // Lists of objects merge by key; lists of scalars merge as sets.
      if (info != nullptr && info->strategy == PatchStrategy::kMerge &&
          (!objects || !info->merge_key.empty())) {
        schema["x-kubernetes-patch-strategy"] = info->retain_keys ? "merge,retainKeys" : "merge";
        if (!info->merge_key.empty()) schema["x-kubernetes-patch-merge-key"] = info->merge_key;
      }
      return schema;
    }
    json schema = ValueSchema(fd, quantity, true);
    if (info != nullptr && info->retain_keys &&
        fd->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      schema["x-kubernetes-patch-strategy"] = "retainKeys";
    }
    return schema;
  }

  Flavor flavor_;
  const PatchIndex& patch_;
  absl::flat_hash_set<const Descriptor*> added_;
  std::vector<const Descriptor*> pending_;
  json definitions_ = json::object();
};

// ---- Paths ---------------------------------------------------------------------

struct QueryParam {
  const char* name;
  const char* type;
  const char* description;
};

constexpr QueryParam kDryRun{"dryRun", "string",
                             "\"All\": validate and admit the request, persist nothing."};
constexpr QueryParam kFieldManager{"fieldManager", "string",
                                   "The name of the actor making the change, recorded in "
                                   "managedFields."};
constexpr QueryParam kFieldValidation{
    "fieldValidation", "string",
    "How the server treats unknown and duplicate fields in the body: Ignore, Warn or Strict."};
constexpr QueryParam kForce{"force", "boolean",
                            "Server-side apply: take over fields other managers own."};
constexpr QueryParam kGracePeriod{"gracePeriodSeconds", "integer",
                                  "Seconds before the object is deleted; 0 deletes at once."};
constexpr QueryParam kPropagation{"propagationPolicy", "string",
                                  "Orphan, Background or Foreground deletion of dependents."};
constexpr QueryParam kListParams[] = {
    {"labelSelector", "string", "Only objects whose labels match."},
    {"fieldSelector", "string", "Only objects whose fields match."},
    {"limit", "integer", "At most this many objects; the rest follow `continue`."},
    {"continue", "string", "The token of the previous page."},
    {"resourceVersion", "string", "The version to list at or watch from."},
    {"resourceVersionMatch", "string", "How resourceVersion applies: Exact or NotOlderThan."},
    {"watch", "boolean", "Stream changes instead of listing."},
    {"allowWatchBookmarks", "boolean", "Watch: send BOOKMARK events."},
    {"timeoutSeconds", "integer", "End the list or watch after this many seconds."},
    {"sendInitialEvents", "boolean", "Watch: start with the current objects."},
};
constexpr QueryParam kLogParams[] = {
    {"container", "string", "The container; optional when the pod has one."},
    {"follow", "boolean", "Stream the log as it grows."},
    {"previous", "boolean", "The log of the previous instance of the container."},
    {"tailLines", "integer", "Only the last lines."},
    {"sinceSeconds", "integer", "Only lines newer than this."},
    {"timestamps", "boolean", "Prefix every line with its time."},
    {"limitBytes", "integer", "At most this many bytes."},
};

constexpr const char* kPatchContentTypes[] = {
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
};

enum class Body { kNone, kObject, kPatch, kDeleteOptions };

struct OperationSpec {
  const char* method = "get";
  const char* action = "get";
  std::string operation_id;
  // For x-kubernetes-group-version-kind.
  std::string group, version, kind;
  std::vector<QueryParam> query;
  Body body = Body::kNone;
  const Descriptor* body_type = nullptr;
  const Descriptor* response = nullptr;
  bool created = false;     // 201 as well as 200
  bool text_reply = false;  // pods/log
};

std::string UpperFirst(absl::string_view s) {
  std::string out(s);
  if (!out.empty()) out[0] = absl::ascii_toupper(static_cast<unsigned char>(out[0]));
  return out;
}

// "" -> "Core", "rbac.authorization.k8s.io" -> "RbacAuthorization".
std::string GroupCamel(absl::string_view group) {
  if (group.empty()) return "Core";
  absl::ConsumeSuffix(&group, ".k8s.io");
  std::string out;
  for (absl::string_view part : absl::StrSplit(group, '.', absl::SkipEmpty())) {
    absl::StrAppend(&out, UpperFirst(part));
  }
  return out;
}

std::string Tag(absl::string_view group, absl::string_view version) {
  std::string camel = GroupCamel(group);
  camel[0] = absl::ascii_tolower(static_cast<unsigned char>(camel[0]));
  return absl::StrCat(camel, "_", version);
}

class PathBuilder {
 public:
  PathBuilder(Flavor flavor, const api::Scheme& scheme, SchemaBuilder& schemas)
      : flavor_(flavor),
        schemas_(schemas),
        status_(scheme.Find("v1", "Status")),
        delete_options_(scheme.Find("meta.k8s.io/v1", "DeleteOptions")) {}

  void AddGroupVersion(const DiscoveryGroupVersion& gv) {
    std::string prefix = gv.group.empty() ? absl::StrCat("/api/", gv.version)
                                          : absl::StrCat("/apis/", gv.group, "/", gv.version);
    for (const DiscoveryResource& r : gv.resources) {
      if (r.subresource.empty()) {
        AddResource(gv, prefix, r);
      } else {
        AddSubresource(gv, prefix, r);
      }
    }
  }

  json& paths() { return paths_; }

 private:
  static bool Has(const DiscoveryResource& r, absl::string_view verb) {
    return std::find(r.verbs.begin(), r.verbs.end(), verb) != r.verbs.end();
  }

  std::string OperationId(absl::string_view verb, const DiscoveryGroupVersion& gv,
                          const DiscoveryResource& r, absl::string_view suffix = "") const {
    return absl::StrCat(verb, GroupCamel(gv.group), UpperFirst(gv.version),
                        r.namespaced && suffix != "ForAllNamespaces" ? "Namespaced" : "",
                        r.stored->kind, UpperFirst(r.subresource), suffix);
  }

  OperationSpec Spec(const char* method, const char* action, std::string id,
                     const DiscoveryResource& r) const {
    OperationSpec spec;
    spec.method = method;
    spec.action = action;
    spec.operation_id = std::move(id);
    spec.group = r.group;
    spec.version = r.version;
    spec.kind = r.kind;
    return spec;
  }

  void AddResource(const DiscoveryGroupVersion& gv, const std::string& prefix,
                   const DiscoveryResource& r) {
    std::string collection =
        absl::StrCat(prefix, r.namespaced ? "/namespaces/{namespace}/" : "/", r.resource);
    std::string item = absl::StrCat(collection, "/{name}");
    const Descriptor* type = r.body->descriptor;
    const Descriptor* list = r.stored->list != nullptr ? r.stored->list->descriptor : nullptr;
    std::vector<QueryParam> list_params(std::begin(kListParams), std::end(kListParams));
    std::string tag = Tag(gv.group, gv.version);

    if (Has(r, "list") && list != nullptr) {
      OperationSpec spec = Spec("get", "list", OperationId("list", gv, r), r);
      spec.query = list_params;
      spec.response = list;
      AddOperation(collection, r.namespaced, false, tag, spec);
      if (r.namespaced) {
        OperationSpec all = Spec("get", "list", OperationId("list", gv, r, "ForAllNamespaces"), r);
        all.query = list_params;
        all.response = list;
        AddOperation(absl::StrCat(prefix, "/", r.resource), false, false, tag, all);
      }
    }
    if (Has(r, "create")) {
      OperationSpec spec = Spec("post", "post", OperationId("create", gv, r), r);
      spec.query = {kDryRun, kFieldManager, kFieldValidation};
      spec.body = Body::kObject;
      spec.body_type = type;
      spec.response = type;
      spec.created = true;
      AddOperation(collection, r.namespaced, false, tag, spec);
    }
    if (Has(r, "deletecollection")) {
      OperationSpec spec =
          Spec("delete", "deletecollection", OperationId("deleteCollection", gv, r), r);
      spec.query = list_params;
      spec.query.insert(spec.query.end(), {kDryRun, kGracePeriod, kPropagation});
      spec.body = Body::kDeleteOptions;
      spec.response = status_ != nullptr ? status_->descriptor : nullptr;
      AddOperation(collection, r.namespaced, false, tag, spec);
    }
    if (Has(r, "get")) {
      OperationSpec spec = Spec("get", "get", OperationId("read", gv, r), r);
      spec.response = type;
      AddOperation(item, r.namespaced, true, tag, spec);
    }
    if (Has(r, "update")) {
      OperationSpec spec = Spec("put", "put", OperationId("replace", gv, r), r);
      spec.query = {kDryRun, kFieldManager, kFieldValidation};
      spec.body = Body::kObject;
      spec.body_type = type;
      spec.response = type;
      spec.created = true;
      AddOperation(item, r.namespaced, true, tag, spec);
    }
    if (Has(r, "patch")) AddPatch(item, gv, r, tag);
    if (Has(r, "delete")) {
      OperationSpec spec = Spec("delete", "delete", OperationId("delete", gv, r), r);
      spec.query = {kDryRun, kGracePeriod, kPropagation};
      spec.body = Body::kDeleteOptions;
      spec.response = status_ != nullptr ? status_->descriptor : nullptr;
      AddOperation(item, r.namespaced, true, tag, spec);
    }
  }

  void AddSubresource(const DiscoveryGroupVersion& gv, const std::string& prefix,
                      const DiscoveryResource& r) {
    std::string path = absl::StrCat(prefix, r.namespaced ? "/namespaces/{namespace}/" : "/",
                                    r.resource, "/{name}/", r.subresource);
    const Descriptor* type = r.body->descriptor;
    std::string tag = Tag(gv.group, gv.version);
    if (r.subresource == "log") {
      OperationSpec spec = Spec("get", "get", OperationId("read", gv, r), r);
      spec.query.assign(std::begin(kLogParams), std::end(kLogParams));
      spec.text_reply = true;
      AddOperation(path, r.namespaced, true, tag, spec);
      return;
    }
    if (Has(r, "get")) {
      OperationSpec spec = Spec("get", "get", OperationId("read", gv, r), r);
      spec.response = type;
      AddOperation(path, r.namespaced, true, tag, spec);
    }
    if (Has(r, "create")) {
      OperationSpec spec = Spec("post", "post", OperationId("create", gv, r), r);
      spec.query = {kDryRun, kFieldManager, kFieldValidation};
      spec.body = Body::kObject;
      spec.body_type = type;
      spec.response = type;
      spec.created = true;
      AddOperation(path, r.namespaced, true, tag, spec);
    }
    if (Has(r, "update")) {
      OperationSpec spec = Spec("put", "put", OperationId("replace", gv, r), r);
      spec.query = {kDryRun, kFieldManager, kFieldValidation};
      spec.body = Body::kObject;
      spec.body_type = type;
      spec.response = type;
      spec.created = true;
      AddOperation(path, r.namespaced, true, tag, spec);
    }
    if (Has(r, "patch")) AddPatch(path, gv, r, tag);
  }

  void AddPatch(const std::string& path, const DiscoveryGroupVersion& gv,
                const DiscoveryResource& r, const std::string& tag) {
    OperationSpec spec = Spec("patch", "patch", OperationId("patch", gv, r), r);
    spec.query = {kDryRun, kFieldManager, kFieldValidation, kForce};
    spec.body = Body::kPatch;
    spec.response = r.body->descriptor;
    spec.created = true;
    AddOperation(path, r.namespaced, true, tag, spec);
  }

  json Parameter(absl::string_view name, absl::string_view in, absl::string_view type,
                 absl::string_view description, bool required) const {
    json p{{"name", std::string(name)},
           {"in", std::string(in)},
           {"description", std::string(description)}};
    if (flavor_ == Flavor::kV2) {
      p["type"] = std::string(type);
      if (in == "query") p["uniqueItems"] = true;
    } else {
      p["schema"] = json{{"type", std::string(type)}};
      if (in == "query") p["schema"]["uniqueItems"] = true;
    }
    if (required) p["required"] = true;
    return p;
  }

  // Adds `spec` to the path item at `path`, creating the path item with its
  // path parameters.
  void AddOperation(const std::string& path, bool namespaced, bool named, const std::string& tag,
                    const OperationSpec& spec) {
    json& item = paths_[path];
    if (!item.contains("parameters")) {
      json params = json::array();
      if (named) params.push_back(Parameter("name", "path", "string", "The object's name.", true));
      if (namespaced) {
        params.push_back(Parameter("namespace", "path", "string", "The namespace.", true));
      }
      params.push_back(
          Parameter("pretty", "query", "string", "If 'true', the output is indented.", false));
      item["parameters"] = std::move(params);
    }

    json op{
        {"operationId", spec.operation_id},
        {"tags", json::array({tag})},
        {"x-kubernetes-action", spec.action},
        {"x-kubernetes-group-version-kind", GroupVersionKind(spec.group, spec.version, spec.kind)}};
    json parameters = json::array();

    // Request body.
    json body_schema;
    std::vector<std::string> consumes = {"*/*"};
    switch (spec.body) {
      case Body::kNone:
        break;
      case Body::kObject:
        if (spec.body_type != nullptr) body_schema = schemas_.RefTo(spec.body_type);
        break;
      case Body::kPatch:
        body_schema = schemas_.PatchRef();
        consumes.assign(std::begin(kPatchContentTypes), std::end(kPatchContentTypes));
        break;
      case Body::kDeleteOptions:
        if (delete_options_ != nullptr) body_schema = schemas_.RefTo(delete_options_->descriptor);
        break;
    }
    bool body_required = spec.body == Body::kObject || spec.body == Body::kPatch;
    if (!body_schema.is_null()) {
      if (flavor_ == Flavor::kV2) {
        json p{{"name", "body"}, {"in", "body"}, {"schema", body_schema}};
        if (body_required) p["required"] = true;
        parameters.push_back(std::move(p));
      } else {
        json content = json::object();
        for (const std::string& type : consumes) {
          content[type] = json{{"schema", body_schema}};
        }
        op["requestBody"] = json{{"content", std::move(content)}, {"required", body_required}};
      }
    }
    for (const QueryParam& q : spec.query) {
      parameters.push_back(Parameter(q.name, "query", q.type, q.description, false));
    }
    op["parameters"] = std::move(parameters);

    // Responses.
    json reply_schema;
    std::string produces = "application/json";
    if (spec.text_reply) {
      reply_schema = json{{"type", "string"}};
      produces = "text/plain";
    } else if (spec.response != nullptr) {
      reply_schema = schemas_.RefTo(spec.response);
    }
    json responses = json::object();
    auto reply = [&](const char* code, const char* description) {
      json r{{"description", description}};
      if (!reply_schema.is_null()) {
        if (flavor_ == Flavor::kV2) {
          r["schema"] = reply_schema;
        } else {
          r["content"] = json{{produces, json{{"schema", reply_schema}}}};
        }
      }
      responses[code] = std::move(r);
    };
    reply("200", "OK");
    if (spec.created) reply("201", "Created");
    responses["401"] = json{{"description", "Unauthorized"}};
    op["responses"] = std::move(responses);

    if (flavor_ == Flavor::kV2) {
      op["consumes"] = consumes;
      op["produces"] = json::array({produces});
      op["schemes"] = json::array({"https"});
    }
    item[spec.method] = std::move(op);
  }

  Flavor flavor_;
  SchemaBuilder& schemas_;
  const api::KindInfo* status_;
  const api::KindInfo* delete_options_;
  json paths_ = json::object();
};

// ---- Swagger 2.0 JSON to gnostic protobuf -------------------------------------

namespace pb = ::openapi::v2;

// JSON text is YAML (flow style); spaces after the separators keep it
// readable by every YAML 1.1 parser.
void AppendYamlFlow(const json& value, std::string* out) {
  if (value.is_object()) {
    out->push_back('{');
    bool first = true;
    for (const auto& [key, item] : value.items()) {
      if (!first) out->append(", ");
      first = false;
      out->append(json(key).dump(-1, ' ', false, json::error_handler_t::replace));
      out->append(": ");
      AppendYamlFlow(item, out);
    }
    out->push_back('}');
  } else if (value.is_array()) {
    out->push_back('[');
    bool first = true;
    for (const json& item : value) {
      if (!first) out->append(", ");
      first = false;
      AppendYamlFlow(item, out);
    }
    out->push_back(']');
  } else {
    out->append(value.dump(-1, ' ', false, json::error_handler_t::replace));
  }
}

std::string YamlFlow(const json& value) {
  std::string out;
  AppendYamlFlow(value, &out);
  return out;
}

const std::string* String(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
}

bool Bool(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

template <typename Setter>
void SetString(const json& object, const char* key, Setter set) {
  if (const std::string* s = String(object, key)) set(*s);
}

void AddStrings(const json& object, const char* key,
                google::protobuf::RepeatedPtrField<std::string>* out) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_array()) return;
  for (const json& s : *it) {
    if (s.is_string()) out->Add(s.get<std::string>());
  }
}

void AddExtensions(const json& object, google::protobuf::RepeatedPtrField<pb::NamedAny>* out) {
  for (const auto& [key, value] : object.items()) {
    if (!absl::StartsWith(key, "x-")) continue;
    pb::NamedAny* named = out->Add();
    named->set_name(key);
    named->mutable_value()->set_yaml(YamlFlow(value));
  }
}

// Schemas nest a few levels (definitions refer to each other by name); the
// bound guards against a hostile or broken input.
constexpr int kMaxSchemaDepth = 64;

void ToSchema(const json& s, pb::Schema* out, int depth) {
  if (!s.is_object() || depth > kMaxSchemaDepth) return;
  SetString(s, "$ref", [&](const std::string& v) { out->set__ref(v); });
  SetString(s, "format", [&](const std::string& v) { out->set_format(v); });
  SetString(s, "title", [&](const std::string& v) { out->set_title(v); });
  SetString(s, "description", [&](const std::string& v) { out->set_description(v); });
  SetString(s, "pattern", [&](const std::string& v) { out->set_pattern(v); });
  if (auto it = s.find("default"); it != s.end()) out->mutable_default_()->set_yaml(YamlFlow(*it));
  AddStrings(s, "required", out->mutable_required());
  out->set_unique_items(Bool(s, "uniqueItems"));
  out->set_read_only(Bool(s, "readOnly"));
  if (auto it = s.find("type"); it != s.end()) {
    if (it->is_string()) {
      out->mutable_type()->add_value(it->get<std::string>());
    } else if (it->is_array()) {
      AddStrings(s, "type", out->mutable_type()->mutable_value());
    }
  }
  if (auto it = s.find("items"); it != s.end()) {
    if (it->is_object()) {
      ToSchema(*it, out->mutable_items()->add_schema(), depth + 1);
    } else if (it->is_array()) {
      for (const json& item : *it) ToSchema(item, out->mutable_items()->add_schema(), depth + 1);
    }
  }
  if (auto it = s.find("allOf"); it != s.end() && it->is_array()) {
    for (const json& item : *it) ToSchema(item, out->add_all_of(), depth + 1);
  }
  if (auto it = s.find("properties"); it != s.end() && it->is_object()) {
    // Present even when empty: kubectl tells objects with fields from maps
    // by it.
    pb::Properties* properties = out->mutable_properties();
    for (const auto& [name, property] : it->items()) {
      pb::NamedSchema* named = properties->add_additional_properties();
      named->set_name(name);
      ToSchema(property, named->mutable_value(), depth + 1);
    }
  }
  if (auto it = s.find("additionalProperties"); it != s.end()) {
    if (it->is_object()) {
      ToSchema(*it, out->mutable_additional_properties()->mutable_schema(), depth + 1);
    } else if (it->is_boolean()) {
      out->mutable_additional_properties()->set_boolean(it->get<bool>());
    }
  }
  AddExtensions(s, out->mutable_vendor_extension());
}

template <typename SubSchema>
void ToNonBodyParameter(const json& p, SubSchema* out) {
  out->set_required(Bool(p, "required"));
  SetString(p, "in", [&](const std::string& v) { out->set_in(v); });
  SetString(p, "description", [&](const std::string& v) { out->set_description(v); });
  SetString(p, "name", [&](const std::string& v) { out->set_name(v); });
  SetString(p, "type", [&](const std::string& v) { out->set_type(v); });
  SetString(p, "format", [&](const std::string& v) { out->set_format(v); });
  out->set_unique_items(Bool(p, "uniqueItems"));
  AddExtensions(p, out->mutable_vendor_extension());
}

void ToParametersItem(const json& p, pb::ParametersItem* out) {
  if (!p.is_object()) return;
  if (const std::string* ref = String(p, "$ref")) {
    out->mutable_json_reference()->set__ref(*ref);
    return;
  }
  const std::string* in = String(p, "in");
  if (in == nullptr) return;
  if (*in == "body") {
    pb::BodyParameter* body = out->mutable_parameter()->mutable_body_parameter();
    SetString(p, "description", [&](const std::string& v) { body->set_description(v); });
    SetString(p, "name", [&](const std::string& v) { body->set_name(v); });
    body->set_in(*in);
    body->set_required(Bool(p, "required"));
    if (auto it = p.find("schema"); it != p.end()) ToSchema(*it, body->mutable_schema(), 0);
    AddExtensions(p, body->mutable_vendor_extension());
  } else if (*in == "query") {
    ToNonBodyParameter(p, out->mutable_parameter()
                              ->mutable_non_body_parameter()
                              ->mutable_query_parameter_sub_schema());
  } else if (*in == "path") {
    ToNonBodyParameter(p, out->mutable_parameter()
                              ->mutable_non_body_parameter()
                              ->mutable_path_parameter_sub_schema());
  }
  // korch emits no header or formData parameters.
}

void ToOperation(const json& op, pb::Operation* out) {
  AddStrings(op, "tags", out->mutable_tags());
  SetString(op, "summary", [&](const std::string& v) { out->set_summary(v); });
  SetString(op, "description", [&](const std::string& v) { out->set_description(v); });
  SetString(op, "operationId", [&](const std::string& v) { out->set_operation_id(v); });
  AddStrings(op, "produces", out->mutable_produces());
  AddStrings(op, "consumes", out->mutable_consumes());
  if (auto it = op.find("parameters"); it != op.end() && it->is_array()) {
    for (const json& p : *it) ToParametersItem(p, out->add_parameters());
  }
  if (auto it = op.find("responses"); it != op.end() && it->is_object()) {
    pb::Responses* responses = out->mutable_responses();
    for (const auto& [code, r] : it->items()) {
      if (absl::StartsWith(code, "x-") || !r.is_object()) continue;
      pb::NamedResponseValue* named = responses->add_response_code();
      named->set_name(code);
      if (const std::string* ref = String(r, "$ref")) {
        named->mutable_value()->mutable_json_reference()->set__ref(*ref);
        continue;
      }
      pb::Response* response = named->mutable_value()->mutable_response();
      SetString(r, "description", [&](const std::string& v) { response->set_description(v); });
      if (auto s = r.find("schema"); s != r.end()) {
        ToSchema(*s, response->mutable_schema()->mutable_schema(), 0);
      }
      AddExtensions(r, response->mutable_vendor_extension());
    }
    AddExtensions(*it, responses->mutable_vendor_extension());
  }
  AddStrings(op, "schemes", out->mutable_schemes());
  out->set_deprecated(Bool(op, "deprecated"));
  AddExtensions(op, out->mutable_vendor_extension());
}

void ToPathItem(const json& item, pb::PathItem* out) {
  SetString(item, "$ref", [&](const std::string& v) { out->set__ref(v); });
  struct Method {
    const char* name;
    pb::Operation* (pb::PathItem::*mutable_op)();
  };
  static constexpr Method kMethods[] = {
      {"get", &pb::PathItem::mutable_get},         {"put", &pb::PathItem::mutable_put},
      {"post", &pb::PathItem::mutable_post},       {"delete", &pb::PathItem::mutable_delete_},
      {"options", &pb::PathItem::mutable_options}, {"head", &pb::PathItem::mutable_head},
      {"patch", &pb::PathItem::mutable_patch},
  };
  for (const Method& m : kMethods) {
    if (auto it = item.find(m.name); it != item.end() && it->is_object()) {
      ToOperation(*it, (out->*m.mutable_op)());
    }
  }
  if (auto it = item.find("parameters"); it != item.end() && it->is_array()) {
    for (const json& p : *it) ToParametersItem(p, out->add_parameters());
  }
  AddExtensions(item, out->mutable_vendor_extension());
}

// ---- Shared by both documents --------------------------------------------------

std::string IndexPath(const DiscoveryGroupVersion& gv) {
  return gv.group.empty() ? absl::StrCat("api/", gv.version)
                          : absl::StrCat("apis/", gv.group, "/", gv.version);
}

}  // namespace

std::string OpenApiSchemaName(const Descriptor* descriptor) {
  const FileDescriptor* file = descriptor->file();
  std::string package;
  bool found = false;
  for (int i = 0; i < file->message_type_count(); ++i) {
    const auto& options = file->message_type(i)->options();
    if (!options.HasExtension(api::kind)) continue;
    const std::string& group = options.GetExtension(api::group);
    if (group == "meta.k8s.io") {
      package = std::string(kMetaPackage);
      found = true;
      break;
    }
    if (!package.empty()) continue;
    absl::string_view label = group.empty() ? absl::string_view("core")
                                            : absl::string_view(group).substr(0, group.find('.'));
    package = absl::StrCat("io.k8s.api.", label, ".", options.GetExtension(api::version));
    found = true;
  }
  if (!found) {
    // A file without kinds: its own namespace, which no Kubernetes name uses.
    absl::string_view stem = file->name();
    if (size_t slash = stem.rfind('/'); slash != absl::string_view::npos) {
      stem = stem.substr(slash + 1);
    }
    absl::ConsumeSuffix(&stem, ".proto");
    package = absl::StrCat("io.korch.api.", stem);
  }
  // Nested messages keep their parent's name: "Outer.Inner".
  absl::string_view relative = descriptor->full_name();
  if (!file->package().empty()) {
    absl::ConsumePrefix(&relative, file->package());
    absl::ConsumePrefix(&relative, ".");
  }
  return absl::StrCat(package, ".", relative);
}

std::vector<std::string> OpenApiV3Paths(const api::Scheme& scheme) {
  std::vector<std::string> out;
  for (const DiscoveryGroup& g : ServedGroups(scheme)) {
    for (const DiscoveryGroupVersion& gv : g.versions) out.push_back(IndexPath(gv));
  }
  return out;
}

absl::StatusOr<json> OpenApiV3Document(const api::Scheme& scheme, absl::string_view group,
                                       absl::string_view version, const OpenApiOptions& options) {
  std::vector<DiscoveryGroup> groups = ServedGroups(scheme);
  const DiscoveryGroupVersion* served = nullptr;
  for (const DiscoveryGroup& g : groups) {
    for (const DiscoveryGroupVersion& gv : g.versions) {
      if (gv.group == group && gv.version == version) served = &gv;
    }
  }
  if (served == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no OpenAPI v3 document for group version \"",
                     group.empty() ? std::string(version) : absl::StrCat(group, "/", version),
                     "\": it is not served"));
  }
  PatchIndex patch(scheme);
  SchemaBuilder schemas(Flavor::kV3, patch);
  PathBuilder paths(Flavor::kV3, scheme, schemas);
  paths.AddGroupVersion(*served);
  // Every kind of the group-version, including those only used as bodies.
  for (const auto& kind : scheme.kinds()) {
    if (kind->group == group && kind->version == version) schemas.Add(kind->descriptor);
  }
  return json{{"openapi", "3.0.0"},
              {"info", json{{"title", options.title}, {"version", options.version}}},
              {"paths", std::move(paths.paths())},
              {"components", json{{"schemas", std::move(schemas.definitions())}}}};
}

json OpenApiV2Document(const api::Scheme& scheme, const OpenApiOptions& options) {
  PatchIndex patch(scheme);
  SchemaBuilder schemas(Flavor::kV2, patch);
  PathBuilder paths(Flavor::kV2, scheme, schemas);
  for (const DiscoveryGroup& g : ServedGroups(scheme)) {
    for (const DiscoveryGroupVersion& gv : g.versions) paths.AddGroupVersion(gv);
  }
  for (const auto& kind : scheme.kinds()) schemas.Add(kind->descriptor);
  return json{{"swagger", "2.0"},
              {"info", json{{"title", options.title}, {"version", options.version}}},
              {"paths", std::move(paths.paths())},
              {"definitions", std::move(schemas.definitions())}};
}

absl::StatusOr<std::string> OpenApiV2Protobuf(const json& document) {
  if (!document.is_object()) {
    return absl::InvalidArgumentError("an OpenAPI v2 document must be a JSON object");
  }
  try {
    pb::Document doc;
    SetString(document, "swagger", [&](const std::string& v) { doc.set_swagger(v); });
    if (auto it = document.find("info"); it != document.end() && it->is_object()) {
      pb::Info* info = doc.mutable_info();
      SetString(*it, "title", [&](const std::string& v) { info->set_title(v); });
      SetString(*it, "version", [&](const std::string& v) { info->set_version(v); });
      SetString(*it, "description", [&](const std::string& v) { info->set_description(v); });
      AddExtensions(*it, info->mutable_vendor_extension());
    }
    SetString(document, "host", [&](const std::string& v) { doc.set_host(v); });
    SetString(document, "basePath", [&](const std::string& v) { doc.set_base_path(v); });
    AddStrings(document, "schemes", doc.mutable_schemes());
    AddStrings(document, "consumes", doc.mutable_consumes());
    AddStrings(document, "produces", doc.mutable_produces());
    if (auto it = document.find("paths"); it != document.end() && it->is_object()) {
      pb::Paths* paths = doc.mutable_paths();
      for (const auto& [path, item] : it->items()) {
        if (absl::StartsWith(path, "x-") || !item.is_object()) continue;
        pb::NamedPathItem* named = paths->add_path();
        named->set_name(path);
        ToPathItem(item, named->mutable_value());
      }
      AddExtensions(*it, paths->mutable_vendor_extension());
    }
    if (auto it = document.find("definitions"); it != document.end() && it->is_object()) {
      pb::Definitions* definitions = doc.mutable_definitions();
      for (const auto& [name, schema] : it->items()) {
        pb::NamedSchema* named = definitions->add_additional_properties();
        named->set_name(name);
        ToSchema(schema, named->mutable_value(), 0);
      }
    }
    AddExtensions(document, doc.mutable_vendor_extension());
    std::string out;
    if (!doc.SerializeToString(&out)) {
      return absl::InternalError("serializing the OpenAPI v2 document failed");
    }
    return out;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("malformed OpenAPI v2 document: ", e.what()));
  }
}

}  // namespace korch::apiserver
