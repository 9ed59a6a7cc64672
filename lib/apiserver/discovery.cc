#include "korch/apiserver/discovery.h"

#include <openssl/evp.h>

#include <algorithm>
#include <exception>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "korch/apiserver/openapi.h"

namespace korch::apiserver {
namespace {

using json = nlohmann::json;

constexpr absl::string_view kJsonContentType = "application/json";
constexpr absl::string_view kV2ContentType =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
constexpr absl::string_view kV2Beta1ContentType =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

// ---- Which resources and subresources a scheme serves -------------------------

// The kinds `kubectl get all` shows (Kubernetes' "all" category), by
// qualified resource.
bool InCategoryAll(const api::KindInfo& kind) {
  static const auto* const kAll =
      new absl::flat_hash_set<std::string>{"pods",
                                           "services",
                                           "replicationcontrollers",
                                           "deployments.apps",
                                           "replicasets.apps",
                                           "statefulsets.apps",
                                           "daemonsets.apps",
                                           "jobs.batch",
                                           "cronjobs.batch",
                                           "horizontalpodautoscalers.autoscaling"};
  return kAll->contains(kind.QualifiedResource());
}

const google::protobuf::FieldDescriptor* MessageField(const google::protobuf::Descriptor* d,
                                                      absl::string_view name) {
  const google::protobuf::FieldDescriptor* fd = d->FindFieldByName(std::string(name));
  if (fd == nullptr || fd->is_repeated() ||
      fd->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
    return nullptr;
  }
  return fd;
}

// Kinds with a `status` message have the /status subresource.
bool HasStatus(const api::KindInfo& kind) {
  return MessageField(kind.descriptor, "status") != nullptr;
}

// Kinds with status and spec.replicas have /scale (Deployment, ReplicaSet,
// StatefulSet).
bool HasScale(const api::KindInfo& kind) {
  const google::protobuf::FieldDescriptor* spec = MessageField(kind.descriptor, "spec");
  return HasStatus(kind) && spec != nullptr &&
         spec->message_type()->FindFieldByName("replicas") != nullptr;
}

std::vector<std::string> MainVerbs(const api::KindInfo& kind) {
  if (!kind.verbs.empty()) return kind.verbs;
  // Kubernetes serves no deletecollection for namespaces.
  if (kind.group.empty() && kind.resource == "namespaces") {
    return {"create", "delete", "get", "list", "patch", "update", "watch"};
  }
  return {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"};
}

DiscoveryResource Subresource(const DiscoveryResource& parent, absl::string_view name,
                              const api::KindInfo* body, std::vector<std::string> verbs) {
  DiscoveryResource r;
  r.name = absl::StrCat(parent.resource, "/", name);
  r.resource = parent.resource;
  r.subresource = std::string(name);
  r.namespaced = parent.namespaced;
  r.group = body->group;
  r.version = body->version;
  r.kind = body->kind;
  r.verbs = std::move(verbs);
  r.stored = parent.stored;
  r.body = body;
  return r;
}

void AddResources(const api::Scheme& scheme, const api::KindInfo& kind,
                  std::vector<DiscoveryResource>* out) {
  DiscoveryResource main;
  main.name = kind.resource;
  main.resource = kind.resource;
  main.singular_name = absl::AsciiStrToLower(kind.kind);
  main.namespaced = kind.namespaced;
  main.group = kind.group;
  main.version = kind.version;
  main.kind = kind.kind;
  main.verbs = MainVerbs(kind);
  main.short_names = kind.short_names;
  if (InCategoryAll(kind)) main.categories = {"all"};
  main.stored = &kind;
  main.body = &kind;
  out->push_back(main);
  // Kinds with verbs of their own are not stored: no subresources.
  if (!kind.verbs.empty()) return;

  if (HasStatus(kind))
    out->push_back(Subresource(main, "status", &kind, {"get", "patch", "update"}));
  if (HasScale(kind)) {
    if (const api::KindInfo* scale = scheme.Find("autoscaling/v1", "Scale")) {
      out->push_back(Subresource(main, "scale", scale, {"get", "patch", "update"}));
    }
  }
  if (kind.group.empty() && kind.resource == "pods") {
    if (const api::KindInfo* binding = scheme.Find(kind.api_version, "Binding")) {
      out->push_back(Subresource(main, "binding", binding, {"create"}));
    }
    out->push_back(Subresource(main, "log", &kind, {"get"}));
  }
  if (kind.group.empty() && kind.resource == "namespaces") {
    out->push_back(Subresource(main, "finalize", &kind, {"update"}));
  }
}

// Kubernetes' version priority: GA before beta before alpha, higher numbers
// first; anything else after, alphabetically.
struct VersionKey {
  int level = 0;  // 3 GA, 2 beta, 1 alpha, 0 other
  int major = 0;
  int minor = 0;
};

VersionKey ParseVersion(absl::string_view v) {
  VersionKey key;
  if (!absl::ConsumePrefix(&v, "v")) return key;
  size_t digits = 0;
  while (digits < v.size() && absl::ascii_isdigit(static_cast<unsigned char>(v[digits]))) ++digits;
  if (digits == 0 || !absl::SimpleAtoi(v.substr(0, digits), &key.major)) return VersionKey{};
  absl::string_view rest = v.substr(digits);
  if (rest.empty()) {
    key.level = 3;
    return key;
  }
  int level = 0;
  if (absl::ConsumePrefix(&rest, "beta")) {
    level = 2;
  } else if (absl::ConsumePrefix(&rest, "alpha")) {
    level = 1;
  }
  if (level == 0 || rest.empty() || !absl::SimpleAtoi(rest, &key.minor)) return VersionKey{};
  key.level = level;
  return key;
}

bool HigherPriority(const std::string& a, const std::string& b) {
  VersionKey ka = ParseVersion(a);
  VersionKey kb = ParseVersion(b);
  if (ka.level != kb.level) return ka.level > kb.level;
  if (ka.level == 0) return a < b;
  if (ka.major != kb.major) return ka.major > kb.major;
  return ka.minor > kb.minor;
}

const DiscoveryGroupVersion* FindGroupVersion(const std::vector<DiscoveryGroup>& groups,
                                              absl::string_view group, absl::string_view version) {
  for (const DiscoveryGroup& g : groups) {
    if (g.name != group) continue;
    for (const DiscoveryGroupVersion& gv : g.versions) {
      if (gv.version == version) return &gv;
    }
  }
  return nullptr;
}

// ---- JSON --------------------------------------------------------------------

json GroupVersionForDiscovery(const DiscoveryGroupVersion& gv) {
  return json{{"groupVersion", gv.group_version}, {"version", gv.version}};
}

json ApiGroup(const DiscoveryGroup& g) {
  json versions = json::array();
  for (const DiscoveryGroupVersion& gv : g.versions)
    versions.push_back(GroupVersionForDiscovery(gv));
  return json{{"name", g.name},
              {"versions", std::move(versions)},
              {"preferredVersion", GroupVersionForDiscovery(g.versions.front())}};
}

json LegacyResource(const DiscoveryGroupVersion& gv, const DiscoveryResource& r) {
  json out{{"name", r.name},
           {"singularName", r.singular_name},
           {"namespaced", r.namespaced},
           {"kind", r.kind},
           {"verbs", r.verbs}};
  // Only a body of another group-version names its group and version
  // (deployments/scale: autoscaling/v1 Scale).
  if (r.group != gv.group || r.version != gv.version) {
    out["group"] = r.group;
    out["version"] = r.version;
  }
  if (!r.short_names.empty()) out["shortNames"] = r.short_names;
  if (!r.categories.empty()) out["categories"] = r.categories;
  return out;
}

json ResponseKind(const DiscoveryResource& r) {
  return json{{"group", r.group}, {"version", r.version}, {"kind", r.kind}};
}

json AggregatedVersion(const DiscoveryGroupVersion& gv) {
  json resources = json::array();
  for (size_t i = 0; i < gv.resources.size(); ++i) {
    const DiscoveryResource& r = gv.resources[i];
    if (!r.subresource.empty()) continue;  // listed under its resource below
    json entry{{"resource", r.resource},
               {"responseKind", ResponseKind(r)},
               {"scope", r.namespaced ? "Namespaced" : "Cluster"},
               {"singularResource", r.singular_name},
               {"verbs", r.verbs}};
    if (!r.short_names.empty()) entry["shortNames"] = r.short_names;
    if (!r.categories.empty()) entry["categories"] = r.categories;
    json subresources = json::array();
    for (size_t j = i + 1; j < gv.resources.size() && gv.resources[j].resource == r.resource &&
                           !gv.resources[j].subresource.empty();
         ++j) {
      const DiscoveryResource& s = gv.resources[j];
      subresources.push_back(json{
          {"subresource", s.subresource}, {"responseKind", ResponseKind(s)}, {"verbs", s.verbs}});
    }
    if (!subresources.empty()) entry["subresources"] = std::move(subresources);
    resources.push_back(std::move(entry));
  }
  return json{
      {"version", gv.version}, {"resources", std::move(resources)}, {"freshness", "Current"}};
}

json AggregatedGroup(const DiscoveryGroup& group) {
  json versions = json::array();
  for (const DiscoveryGroupVersion& gv : group.versions) versions.push_back(AggregatedVersion(gv));
  json metadata = json::object();
  if (!group.name.empty()) metadata["name"] = group.name;
  return json{{"metadata", std::move(metadata)}, {"versions", std::move(versions)}};
}

// ---- Accept headers ----------------------------------------------------------

struct MediaRange {
  std::string type;  // "application/json", lower case
  absl::flat_hash_map<std::string, std::string> params;
  double q = 1.0;
  size_t position = 0;
};

// Parses an Accept header leniently: malformed ranges are skipped, never
// fatal.
std::vector<MediaRange> ParseAccept(absl::string_view accept) {
  std::vector<MediaRange> out;
  size_t position = 0;
  for (absl::string_view part : absl::StrSplit(accept, ',', absl::SkipWhitespace())) {
    std::vector<absl::string_view> pieces = absl::StrSplit(part, ';');
    MediaRange range;
    range.type = absl::AsciiStrToLower(absl::StripAsciiWhitespace(pieces[0]));
    if (range.type.empty() || !absl::StrContains(range.type, '/')) continue;
    bool ok = true;
    for (size_t i = 1; i < pieces.size(); ++i) {
      absl::string_view param = absl::StripAsciiWhitespace(pieces[i]);
      if (param.empty()) continue;
      std::pair<absl::string_view, absl::string_view> kv =
          absl::StrSplit(param, absl::MaxSplits('=', 1));
      std::string key = absl::AsciiStrToLower(absl::StripAsciiWhitespace(kv.first));
      absl::string_view value = absl::StripAsciiWhitespace(kv.second);
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      if (key == "q") {
        double q = 1.0;
        if (!absl::SimpleAtod(value, &q) || q < 0 || q > 1) {
          ok = false;
          break;
        }
        range.q = q;
      } else {
        range.params[key] = std::string(value);
      }
    }
    if (!ok || range.q <= 0) continue;
    range.position = position++;
    out.push_back(std::move(range));
  }
  // Highest q first; among equals, the client's order.
  std::stable_sort(out.begin(), out.end(),
                   [](const MediaRange& a, const MediaRange& b) { return a.q > b.q; });
  return out;
}

std::string Param(const MediaRange& range, absl::string_view key) {
  auto it = range.params.find(key);
  return it == range.params.end() ? std::string() : it->second;
}

// The discovery format a media range asks for, if korch can produce it.
std::optional<DiscoveryFormat> DiscoveryFormatOf(const MediaRange& range) {
  if (range.type == "*/*" || range.type == "application/*") return DiscoveryFormat::kLegacy;
  if (range.type != kJsonContentType) return std::nullopt;
  std::string g = Param(range, "g");
  std::string v = Param(range, "v");
  std::string as = Param(range, "as");
  if (g.empty() && v.empty() && as.empty()) return DiscoveryFormat::kLegacy;
  if (g != "apidiscovery.k8s.io" || as != "APIGroupDiscoveryList") return std::nullopt;
  // Newer clients ask for the profile without peer servers; korch has none.
  std::string profile = Param(range, "profile");
  if (!profile.empty() && profile != "nopeer") return std::nullopt;
  if (v == "v2") return DiscoveryFormat::kAggregatedV2;
  if (v == "v2beta1") return DiscoveryFormat::kAggregatedV2Beta1;
  return std::nullopt;
}

std::string Sha256Hex(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    return std::string();
  }
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string DefaultPlatform() {
#if defined(__linux__)
  constexpr absl::string_view os = "linux";
#elif defined(__APPLE__)
  constexpr absl::string_view os = "darwin";
#else
  constexpr absl::string_view os = "unknown";
#endif
#if defined(__x86_64__)
  constexpr absl::string_view arch = "amd64";
#elif defined(__aarch64__)
  constexpr absl::string_view arch = "arm64";
#elif defined(__powerpc64__)
  constexpr absl::string_view arch = "ppc64le";
#elif defined(__s390x__)
  constexpr absl::string_view arch = "s390x";
#else
  constexpr absl::string_view arch = "unknown";
#endif
  return absl::StrCat(os, "/", arch);
}

}  // namespace

// ---- Public functions ----------------------------------------------------------

std::vector<DiscoveryGroup> ServedGroups(const api::Scheme& scheme) {
  std::vector<DiscoveryGroup> groups;
  auto group_of = [&](const std::string& name) -> DiscoveryGroup& {
    for (DiscoveryGroup& g : groups) {
      if (g.name == name) return g;
    }
    groups.push_back(DiscoveryGroup{name, {}});
    return groups.back();
  };
  for (const auto& kind : scheme.kinds()) {
    // Stored kinds (a resource name and a list kind) and kinds served with
    // their own verbs (the access reviews). Binding, Scale, Status and the
    // like are bodies of subresources or replies.
    if (kind->resource.empty() || (kind->list == nullptr && kind->verbs.empty())) continue;
    DiscoveryGroup& group = group_of(kind->group);
    DiscoveryGroupVersion* gv = nullptr;
    for (DiscoveryGroupVersion& v : group.versions) {
      if (v.version == kind->version) gv = &v;
    }
    if (gv == nullptr) {
      group.versions.push_back(
          DiscoveryGroupVersion{kind->group, kind->version, kind->api_version, {}});
      gv = &group.versions.back();
    }
    AddResources(scheme, *kind, &gv->resources);
  }
  for (DiscoveryGroup& group : groups) {
    std::sort(group.versions.begin(), group.versions.end(),
              [](const DiscoveryGroupVersion& a, const DiscoveryGroupVersion& b) {
                return HigherPriority(a.version, b.version);
              });
    for (DiscoveryGroupVersion& gv : group.versions) {
      // By resource, then subresource, so that subresources follow their
      // resource even when another resource's name sorts between them
      // ("pods", "pods-x", "pods/log").
      std::stable_sort(gv.resources.begin(), gv.resources.end(),
                       [](const DiscoveryResource& a, const DiscoveryResource& b) {
                         return std::tie(a.resource, a.subresource) <
                                std::tie(b.resource, b.subresource);
                       });
    }
  }
  std::stable_partition(groups.begin(), groups.end(),
                        [](const DiscoveryGroup& g) { return g.name.empty(); });
  return groups;
}

json VersionInfoJson(const ServerVersion& version) {
  std::string git_version =
      absl::StrCat("v", version.major, ".", version.minor, ".", version.patch);
  if (!version.korch_version.empty()) {
    absl::StrAppend(&git_version, "+korch.", version.korch_version);
  } else {
    absl::StrAppend(&git_version, "+korch");
  }
  return json{
      {"major", absl::StrCat(version.major)},
      {"minor", absl::StrCat(version.minor)},
      {"emulationMajor", absl::StrCat(version.major)},
      {"emulationMinor", absl::StrCat(version.minor)},
      {"minCompatibilityMajor", absl::StrCat(version.major)},
      {"minCompatibilityMinor", absl::StrCat(std::max(0, version.minor - 1))},
      {"gitVersion", git_version},
      {"gitCommit", version.git_commit},
      {"gitTreeState", "clean"},
      {"buildDate", version.build_date},
      // korch is not built by a Go toolchain; the fields stay for clients
      // that require them.
      {"goVersion", ""},
      {"compiler", "gc"},
      {"platform", version.platform.empty() ? DefaultPlatform() : version.platform},
      {"korchVersion", version.korch_version},
  };
}

json ApiVersionsJson(const api::Scheme& scheme, absl::string_view server_address) {
  json versions = json::array();
  for (const DiscoveryGroup& g : ServedGroups(scheme)) {
    if (!g.name.empty()) continue;
    for (const DiscoveryGroupVersion& gv : g.versions) versions.push_back(gv.version);
  }
  json addresses = json::array();
  if (!server_address.empty()) {
    addresses.push_back(
        json{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", std::string(server_address)}});
  }
  return json{{"kind", "APIVersions"},
              {"apiVersion", "v1"},
              {"versions", std::move(versions)},
              {"serverAddressByClientCIDRs", std::move(addresses)}};
}

json ApiGroupListJson(const api::Scheme& scheme) {
  json groups = json::array();
  for (const DiscoveryGroup& g : ServedGroups(scheme)) {
    if (g.name.empty() || g.versions.empty()) continue;
    groups.push_back(ApiGroup(g));
  }
  return json{{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", std::move(groups)}};
}

absl::StatusOr<json> ApiGroupJson(const api::Scheme& scheme, absl::string_view group) {
  for (const DiscoveryGroup& g : ServedGroups(scheme)) {
    if (g.name.empty() || g.name != group || g.versions.empty()) continue;
    json out = ApiGroup(g);
    out["kind"] = "APIGroup";
    out["apiVersion"] = "v1";
    return out;
  }
  return absl::NotFoundError(
      absl::StrCat("the server could not find the requested resource (group "
                   ", group, "
                   " is not served)"));
}

absl::StatusOr<json> ApiResourceListJson(const api::Scheme& scheme, absl::string_view group,
                                         absl::string_view version) {
  std::vector<DiscoveryGroup> groups = ServedGroups(scheme);
  const DiscoveryGroupVersion* gv = FindGroupVersion(groups, group, version);
  if (gv == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("the server could not find the requested resource (group version \"",
                     group.empty() ? std::string(version) : absl::StrCat(group, "/", version),
                     "\" is not served)"));
  }
  json resources = json::array();
  for (const DiscoveryResource& r : gv->resources) resources.push_back(LegacyResource(*gv, r));
  return json{{"kind", "APIResourceList"},
              {"apiVersion", "v1"},
              {"groupVersion", gv->group_version},
              {"resources", std::move(resources)}};
}

DiscoveryNegotiation NegotiateDiscovery(absl::string_view accept) {
  for (const MediaRange& range : ParseAccept(accept)) {
    std::optional<DiscoveryFormat> format = DiscoveryFormatOf(range);
    if (!format.has_value()) continue;
    switch (*format) {
      case DiscoveryFormat::kAggregatedV2:
        return DiscoveryNegotiation{*format, std::string(kV2ContentType)};
      case DiscoveryFormat::kAggregatedV2Beta1:
        return DiscoveryNegotiation{*format, std::string(kV2Beta1ContentType)};
      case DiscoveryFormat::kLegacy:
        return DiscoveryNegotiation{};
    }
  }
  return DiscoveryNegotiation{};
}

json AggregatedDiscoveryJson(const api::Scheme& scheme, DiscoveryScope scope,
                             DiscoveryFormat format) {
  json items = json::array();
  for (const DiscoveryGroup& g : ServedGroups(scheme)) {
    if (g.name.empty() != (scope == DiscoveryScope::kCore)) continue;
    items.push_back(AggregatedGroup(g));
  }
  return json{
      {"kind", "APIGroupDiscoveryList"},
      {"apiVersion", format == DiscoveryFormat::kAggregatedV2Beta1 ? "apidiscovery.k8s.io/v2beta1"
                                                                   : "apidiscovery.k8s.io/v2"},
      {"metadata", json::object()},
      {"items", std::move(items)}};
}

// ---- ApiDocuments --------------------------------------------------------------

absl::StatusOr<std::shared_ptr<const ApiDocuments>> ApiDocuments::Build(
    const api::Scheme& scheme, const ApiDocumentsOptions& options) {
  // nlohmann::json reports misuse with exceptions; none may leave korch.
  try {
    std::shared_ptr<ApiDocuments> docs(new ApiDocuments());
    docs->version_ = Dump(VersionInfoJson(options.version));
    docs->api_legacy_ = Dump(ApiVersionsJson(scheme, options.server_address));
    docs->apis_legacy_ = Dump(ApiGroupListJson(scheme));
    for (DiscoveryScope scope : {DiscoveryScope::kCore, DiscoveryScope::kGroups}) {
      AggregatedBodies& bodies =
          scope == DiscoveryScope::kCore ? docs->api_aggregated_ : docs->apis_aggregated_;
      bodies.v2 = Dump(AggregatedDiscoveryJson(scheme, scope, DiscoveryFormat::kAggregatedV2));
      bodies.v2beta1 =
          Dump(AggregatedDiscoveryJson(scheme, scope, DiscoveryFormat::kAggregatedV2Beta1));
    }
    for (const DiscoveryGroup& g : ServedGroups(scheme)) {
      if (!g.name.empty()) {
        absl::StatusOr<json> group = ApiGroupJson(scheme, g.name);
        if (!group.ok()) return group.status();
        docs->groups_[g.name] = Dump(*group);
      }
      for (const DiscoveryGroupVersion& gv : g.versions) {
        absl::StatusOr<json> list = ApiResourceListJson(scheme, gv.group, gv.version);
        if (!list.ok()) return list.status();
        docs->resource_lists_[gv.group_version] = Dump(*list);
      }
    }

    OpenApiOptions openapi;
    openapi.version = absl::StrCat("v", options.version.major, ".", options.version.minor, ".",
                                   options.version.patch);
    json v2 = OpenApiV2Document(scheme, openapi);
    docs->openapi_v2_json_ = Dump(v2);
    absl::StatusOr<std::string> v2_protobuf = OpenApiV2Protobuf(v2);
    if (!v2_protobuf.ok()) return v2_protobuf.status();
    docs->openapi_v2_protobuf_ = *std::move(v2_protobuf);
    docs->openapi_v2_etag_ = absl::StrCat("\"", Sha256Hex(docs->openapi_v2_json_), "\"");

    json index{{"paths", json::object()}};
    for (const std::string& path : OpenApiV3Paths(scheme)) {
      std::vector<std::string> parts = absl::StrSplit(path, '/');
      absl::StatusOr<json> doc = parts.size() == 2
                                     ? OpenApiV3Document(scheme, "", parts[1], openapi)
                                     : OpenApiV3Document(scheme, parts[1], parts[2], openapi);
      if (!doc.ok()) return doc.status();
      V3Document& entry = docs->openapi_v3_[path];
      entry.body = Dump(*doc);
      entry.hash = Sha256Hex(entry.body);
      index["paths"][path] =
          json{{"serverRelativeURL", absl::StrCat("/openapi/v3/", path, "?hash=", entry.hash)}};
    }
    docs->openapi_v3_index_ = Dump(index);
    return std::shared_ptr<const ApiDocuments>(std::move(docs));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("building the discovery documents: ", e.what()));
  }
}

DocumentReply ApiDocuments::Version() const { return DocumentReply{kJsonContentType, version_}; }

DocumentReply ApiDocuments::Discovery(const std::string& legacy, const AggregatedBodies& aggregated,
                                      absl::string_view accept) const {
  switch (NegotiateDiscovery(accept).format) {
    case DiscoveryFormat::kAggregatedV2:
      return DocumentReply{kV2ContentType, aggregated.v2};
    case DiscoveryFormat::kAggregatedV2Beta1:
      return DocumentReply{kV2Beta1ContentType, aggregated.v2beta1};
    case DiscoveryFormat::kLegacy:
      break;
  }
  return DocumentReply{kJsonContentType, legacy};
}

DocumentReply ApiDocuments::Api(absl::string_view accept) const {
  return Discovery(api_legacy_, api_aggregated_, accept);
}

DocumentReply ApiDocuments::Apis(absl::string_view accept) const {
  return Discovery(apis_legacy_, apis_aggregated_, accept);
}

absl::StatusOr<DocumentReply> ApiDocuments::Group(absl::string_view group) const {
  auto it = groups_.find(group);
  if (it == groups_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "the server could not find the requested resource (group \"", group, "\" is not served)"));
  }
  return DocumentReply{kJsonContentType, it->second};
}

absl::StatusOr<DocumentReply> ApiDocuments::ResourceList(absl::string_view group,
                                                         absl::string_view version) const {
  std::string key = group.empty() ? std::string(version) : absl::StrCat(group, "/", version);
  auto it = resource_lists_.find(key);
  if (it == resource_lists_.end()) {
    return absl::NotFoundError(
        absl::StrCat("the server could not find the requested resource (group version \"", key,
                     "\" is not served)"));
  }
  return DocumentReply{kJsonContentType, it->second};
}

DocumentReply ApiDocuments::OpenApiV2(absl::string_view accept) const {
  for (const MediaRange& range : ParseAccept(accept)) {
    if (range.type == kOpenApiV2ProtobufContentType || range.type == kOpenApiV2ProtobufAcceptType) {
      return DocumentReply{kOpenApiV2ProtobufContentType, openapi_v2_protobuf_};
    }
    if (range.type == kJsonContentType || range.type == "*/*" || range.type == "application/*") {
      break;
    }
  }
  return DocumentReply{kJsonContentType, openapi_v2_json_};
}

DocumentReply ApiDocuments::OpenApiV3Index() const {
  return DocumentReply{kJsonContentType, openapi_v3_index_};
}

absl::StatusOr<DocumentReply> ApiDocuments::OpenApiV3(absl::string_view path) const {
  auto it = openapi_v3_.find(path);
  if (it == openapi_v3_.end()) {
    return absl::NotFoundError(
        absl::StrCat("no OpenAPI v3 document for \"", path, "\": the group version is not served"));
  }
  return DocumentReply{kJsonContentType, it->second.body};
}

absl::string_view ApiDocuments::OpenApiV3Hash(absl::string_view path) const {
  auto it = openapi_v3_.find(path);
  return it == openapi_v3_.end() ? absl::string_view() : absl::string_view(it->second.hash);
}

}  // namespace korch::apiserver
