// Discovery: the documents through which clients learn what the API server
// serves (kubernetes-wire.md section 1), computed from an api::Scheme.
//
//   GET /version                      VersionInfoJson
//   GET /api                          ApiVersionsJson   or AggregatedDiscoveryJson(kCore)
//   GET /apis                         ApiGroupListJson  or AggregatedDiscoveryJson(kGroups)
//   GET /api/v1, /apis/<g>/<v>        ApiResourceListJson
//
// /api and /apis answer in the format the client's Accept header asks for
// (NegotiateDiscovery): kubectl >= 1.26 reads the aggregated
// apidiscovery.k8s.io format when the response's Content-Type says so and
// the legacy format otherwise.
//
// Everything here is a pure function of its arguments and thread-safe.
// ApiDocuments serializes every discovery and OpenAPI document of a Scheme
// once, since kubectl fetches them on every command.
#ifndef KORCH_APISERVER_DISCOVERY_H_
#define KORCH_APISERVER_DISCOVERY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "korch/api/scheme.h"
#include "korch/export.h"
#include "nlohmann/json.hpp"

namespace korch::apiserver {

// ---- The served resources ----------------------------------------------------

// One resource or subresource as discovery lists it.
struct DiscoveryResource {
  // "pods", or "pods/status" for a subresource.
  std::string name;
  // "pods" for both "pods" and "pods/status".
  std::string resource;
  // "" for the main resource, "status", "scale", "log", "binding", "finalize".
  std::string subresource;
  // The lower-case kind ("pod") for a main resource; "" for subresources, as
  // in Kubernetes.
  std::string singular_name;
  bool namespaced = false;
  // The kind of request and response bodies: the resource's own kind, or
  // autoscaling/v1 Scale for /scale, v1 Binding for pods/binding.
  std::string group;
  std::string version;
  std::string kind;
  // Kubernetes verbs, sorted: create delete deletecollection get list patch
  // update watch for a stored resource; the kind's own (KindInfo::verbs,
  // "create" for the access reviews) otherwise.
  std::vector<std::string> verbs;
  std::vector<std::string> short_names;
  // ["all"] for the kinds Kubernetes puts in `kubectl get all`.
  std::vector<std::string> categories;
  // The stored kind the URL names (Pod for pods/log and pods/binding).
  const api::KindInfo* stored = nullptr;
  // The kind of the bodies (Scale for /scale); null when the scheme lacks it.
  const api::KindInfo* body = nullptr;
};

// One served group-version: every stored kind of the scheme (a kind with a
// resource name and a list kind) and the subresources korch serves for it,
// and the kinds served with verbs of their own (the access reviews).
struct DiscoveryGroupVersion {
  std::string group;          // "" for the core group
  std::string version;        // "v1"
  std::string group_version;  // "v1", "apps/v1"
  // Sorted by resource name, each resource followed by its subresources.
  std::vector<DiscoveryResource> resources;
};

struct DiscoveryGroup {
  std::string name;  // "" for the core group
  // Preferred (highest priority: v1 > v1beta2 > v1beta1 > v1alpha1) first.
  std::vector<DiscoveryGroupVersion> versions;
};

// Every group the scheme serves: the core group first (when it serves
// anything), then the others in the order the scheme declares them. Groups
// whose kinds are all unstored (autoscaling's Scale, meta.k8s.io) are absent.
KORCH_EXPORT std::vector<DiscoveryGroup> ServedGroups(const api::Scheme& scheme);

// ---- /version ------------------------------------------------------------------

// The Kubernetes version the server claims to be. Clients pick behaviour
// from it (the machine's kubectl dispatcher picks its kubectl from `minor`),
// so it names the Kubernetes release whose API korch follows.
struct ServerVersion {
  int major = 1;
  int minor = 33;
  int patch = 0;
  // korch's own version: appended to gitVersion as semver build metadata
  // ("v1.33.0+korch.0.1.0", ignored by version comparisons) and reported in
  // the extra field "korchVersion", which Kubernetes clients ignore.
  std::string korch_version = "0.1.0";
  std::string git_commit;
  // RFC 3339; "" when unknown.
  std::string build_date;
  // "linux/amd64"; empty: the platform korch was built for.
  std::string platform;
};

// {"major":"1","minor":"33","gitVersion":"v1.33.0+korch.0.1.0",...} with
// every field the Python client requires (buildDate, compiler, gitCommit,
// gitTreeState, goVersion, platform).
KORCH_EXPORT nlohmann::json VersionInfoJson(const ServerVersion& version);

// ---- Legacy discovery (application/json) ---------------------------------------

// GET /api: {"kind":"APIVersions","versions":["v1"],
// "serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":...}]}.
// `server_address` is "host:port" as clients reach the server; empty
// leaves serverAddressByClientCIDRs empty.
KORCH_EXPORT nlohmann::json ApiVersionsJson(const api::Scheme& scheme,
                                            absl::string_view server_address);

// GET /apis: APIGroupList with every served group but the core group.
KORCH_EXPORT nlohmann::json ApiGroupListJson(const api::Scheme& scheme);

// GET /apis/<group>: APIGroup {name, versions, preferredVersion};
// kNotFound when the group is not served.
KORCH_EXPORT absl::StatusOr<nlohmann::json> ApiGroupJson(const api::Scheme& scheme,
                                                         absl::string_view group);

// GET /api/v1 or /apis/<group>/<version>: APIResourceList; kNotFound when
// the group-version is not served.
KORCH_EXPORT absl::StatusOr<nlohmann::json> ApiResourceListJson(const api::Scheme& scheme,
                                                                absl::string_view group,
                                                                absl::string_view version);

// ---- Aggregated discovery ------------------------------------------------------

enum class DiscoveryFormat {
  // APIVersions / APIGroupList, Content-Type application/json.
  kLegacy,
  // apidiscovery.k8s.io/v2 APIGroupDiscoveryList (kubectl >= 1.30).
  kAggregatedV2,
  // apidiscovery.k8s.io/v2beta1, the same shape (kubectl 1.26 - 1.29; later
  // ones still accept it).
  kAggregatedV2Beta1,
};

struct DiscoveryNegotiation {
  DiscoveryFormat format = DiscoveryFormat::kLegacy;
  // The exact Content-Type to answer with, e.g.
  // "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList".
  // Clients decide how to parse the body from it.
  std::string content_type = "application/json";
};

// Picks the format for GET /api and /apis from an Accept header: the
// acceptable media range with the highest q (the earliest among equals)
// that korch can produce. Aggregated discovery needs application/json with
// g=apidiscovery.k8s.io, as=APIGroupDiscoveryList and v=v2 or v2beta1; any
// other JSON range, */*, an empty or malformed header, or nothing
// acceptable at all gives the legacy format. Never fails: Kubernetes
// clients treat a 406 on discovery as fatal.
KORCH_EXPORT DiscoveryNegotiation NegotiateDiscovery(absl::string_view accept);

// Which discovery document: /api (the core group) or /apis (the others).
enum class DiscoveryScope { kCore, kGroups };

// APIGroupDiscoveryList of the core group (/api) or of the other groups
// (/apis) in the aggregated format `format` (kAggregatedV2 or
// kAggregatedV2Beta1; kLegacy is treated as kAggregatedV2).
KORCH_EXPORT nlohmann::json AggregatedDiscoveryJson(const api::Scheme& scheme, DiscoveryScope scope,
                                                    DiscoveryFormat format);

// ---- Every document, serialized once -------------------------------------------

struct ApiDocumentsOptions {
  // What /version reports, and the Kubernetes version the OpenAPI documents
  // carry in info.version.
  ServerVersion version;
  // "host:port" as clients reach the server, for /api's
  // serverAddressByClientCIDRs.
  std::string server_address;
};

// A document ready to send: the Content-Type header and the body.
// The views point into the ApiDocuments that returned them.
struct DocumentReply {
  absl::string_view content_type;
  absl::string_view body;
};

// Every discovery and OpenAPI document of one Scheme, built and serialized
// once at construction. Immutable afterwards and thread-safe; share it as
// std::shared_ptr<const ApiDocuments> and keep it alive while replies are
// being written.
class KORCH_EXPORT ApiDocuments {
 public:
  // Fails only if a document cannot be produced (an internal error).
  static absl::StatusOr<std::shared_ptr<const ApiDocuments>> Build(
      const api::Scheme& scheme, const ApiDocumentsOptions& options = {});

  ApiDocuments(const ApiDocuments&) = delete;
  ApiDocuments& operator=(const ApiDocuments&) = delete;

  // GET /version (and /version/).
  DocumentReply Version() const;
  // GET /api and GET /apis, in the format `accept` asks for.
  DocumentReply Api(absl::string_view accept) const;
  DocumentReply Apis(absl::string_view accept) const;
  // GET /apis/<group>; kNotFound when not served.
  absl::StatusOr<DocumentReply> Group(absl::string_view group) const;
  // GET /api/v1 ("" group) or /apis/<group>/<version>; kNotFound when not
  // served.
  absl::StatusOr<DocumentReply> ResourceList(absl::string_view group,
                                             absl::string_view version) const;

  // GET /openapi/v2: gnostic protobuf (Content-Type
  // kOpenApiV2ProtobufContentType) when `accept` names it in either
  // spelling (kubectl sends kOpenApiV2ProtobufAcceptType), Swagger 2.0 JSON
  // otherwise.
  DocumentReply OpenApiV2(absl::string_view accept) const;
  // A strong validator of the v2 document for ETag / If-None-Match.
  absl::string_view OpenApiV2Etag() const { return openapi_v2_etag_; }

  // GET /openapi/v3: {"paths":{"api/v1":{"serverRelativeURL":
  // "/openapi/v3/api/v1?hash=..."},...}}.
  DocumentReply OpenApiV3Index() const;
  // GET /openapi/v3/<path> for a path of the index ("api/v1",
  // "apis/apps/v1"; no leading slash, no query); kNotFound otherwise.
  absl::StatusOr<DocumentReply> OpenApiV3(absl::string_view path) const;
  // The hash in the serverRelativeURL of `path` ("" if not served). A
  // request whose `hash` parameter equals it may be cached forever
  // (Cache-Control: public, immutable), as Kubernetes does.
  absl::string_view OpenApiV3Hash(absl::string_view path) const;

 private:
  ApiDocuments() = default;

  struct AggregatedBodies {
    std::string v2;
    std::string v2beta1;
  };

  DocumentReply Discovery(const std::string& legacy, const AggregatedBodies& aggregated,
                          absl::string_view accept) const;

  std::string version_;
  std::string api_legacy_;
  std::string apis_legacy_;
  AggregatedBodies api_aggregated_;
  AggregatedBodies apis_aggregated_;
  // Keyed by group name ("apps").
  absl::flat_hash_map<std::string, std::string> groups_;
  // Keyed by group_version ("v1", "apps/v1").
  absl::flat_hash_map<std::string, std::string> resource_lists_;
  std::string openapi_v2_json_;
  std::string openapi_v2_protobuf_;
  std::string openapi_v2_etag_;
  std::string openapi_v3_index_;
  struct V3Document {
    std::string body;
    std::string hash;
  };
  // Keyed by index path ("api/v1", "apis/apps/v1").
  absl::flat_hash_map<std::string, V3Document> openapi_v3_;
};

}  // namespace korch::apiserver

#endif  // KORCH_APISERVER_DISCOVERY_H_
