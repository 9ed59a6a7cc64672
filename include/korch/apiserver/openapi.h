// OpenAPI documents of the served kinds (kubernetes-wire.md section 2),
// generated from the protobuf descriptors of the resource model.
//
//   GET /openapi/v2                    OpenApiV2Document (JSON), or
//                                      OpenApiV2Protobuf of it (kubectl 1.20)
//   GET /openapi/v3                    an index of OpenApiV3Paths
//   GET /openapi/v3/api/v1, .../apis/<g>/<v>   OpenApiV3Document
//
// Schemas are named like Kubernetes' ("io.k8s.api.core.v1.Pod",
// "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta") and carry what kubectl
// reads from them:
//  - properties under the Kubernetes JSON field names, with `apiVersion`
//    and `kind` on every kind; maps as additionalProperties, repeated fields
//    as arrays, Time as a date-time string, int-or-string fields and
//    quantities as int-or-string (v3: x-kubernetes-int-or-string; v2: the
//    string type, which kubectl's validation lets numbers through);
//  - x-kubernetes-group-version-kind on every kind, which is how kubectl
//    finds a kind's schema (explain, validation, apply);
//  - x-kubernetes-patch-merge-key / x-kubernetes-patch-strategy from
//    KubernetesStrategicSchema(), which kubectl apply uses to compute its
//    strategic merge patches.
// Paths give every resource its operations; each PATCH operation carries
// x-kubernetes-group-version-kind, the four patch content types and the
// dryRun, fieldManager, fieldValidation and force query parameters, so
// kubectl >= 1.27 leaves field validation to the server (fieldValidation)
// and kubectl 1.20 allows --dry-run=server.
//
// Fields korch does not model are absent from the schemas; kubectl 1.20's
// client-side validation then rejects them, as the server's strict decoding
// would.
//
// All functions are pure and thread-safe.
#ifndef KORCH_APISERVER_OPENAPI_H_
#define KORCH_APISERVER_OPENAPI_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "korch/api/scheme.h"
#include "korch/export.h"
#include "nlohmann/json.hpp"

namespace korch::apiserver {

// The Content-Type of the protobuf form of /openapi/v2. Clients ask for it
// under this name or, like kubectl, under kOpenApiV2ProtobufAcceptType; the
// reply always carries this one, since Go's media type parser rejects the
// '@' (client-go fails on such a response with "mime: unexpected content
// after media subtype").
inline constexpr absl::string_view kOpenApiV2ProtobufContentType =
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
// The older spelling of the same type that kubectl (1.20 - 1.33) sends in
// its Accept header.
inline constexpr absl::string_view kOpenApiV2ProtobufAcceptType =
    "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

struct OpenApiOptions {
  // info.title.
  std::string title = "Kubernetes";
  // info.version: the Kubernetes version served ("v1.33.0").
  std::string version = "v1.33.0";
};

// The schema name of a message type, Kubernetes style: the package of the
// group its .proto file serves plus the message name
// ("io.k8s.api.apps.v1.DeploymentSpec"); meta.k8s.io's file maps to
// "io.k8s.apimachinery.pkg.apis.meta.v1".
KORCH_EXPORT std::string OpenApiSchemaName(const google::protobuf::Descriptor* descriptor);

// The group-versions with an OpenAPI v3 document, as index paths: "api/v1",
// "apis/apps/v1", ... (the served group-versions of ServedGroups()).
KORCH_EXPORT std::vector<std::string> OpenApiV3Paths(const api::Scheme& scheme);

// The OpenAPI 3.0 document of one served group-version ("" group for the
// core group): its paths and every schema they reach. kNotFound when the
// group-version is not served.
KORCH_EXPORT absl::StatusOr<nlohmann::json> OpenApiV3Document(const api::Scheme& scheme,
                                                              absl::string_view group,
                                                              absl::string_view version,
                                                              const OpenApiOptions& options = {});

// The Swagger 2.0 document of every served group-version.
KORCH_EXPORT nlohmann::json OpenApiV2Document(const api::Scheme& scheme,
                                              const OpenApiOptions& options = {});

// The protobuf wire form (gnostic's openapi_v2.Document) of a Swagger 2.0
// document, as kubectl 1.20 decodes it. Vendor extensions are carried as
// YAML text (flow style). Parts of the document the gnostic model cannot
// hold are dropped; kInvalidArgument when `document` is not a JSON object.
KORCH_EXPORT absl::StatusOr<std::string> OpenApiV2Protobuf(const nlohmann::json& document);

}  // namespace korch::apiserver

#endif  // KORCH_APISERVER_OPENAPI_H_
