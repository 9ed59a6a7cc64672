// Server-side Table conversion: the meta.k8s.io Table that human-readable
// `kubectl get` asks for (kubernetes-wire.md section 3) and prints column by
// column. Without it kubectl shows only NAME and AGE.
//
//   Accept: application/json;as=Table;v=v1;g=meta.k8s.io,
//           application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json
//
//   {"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"123"},
//    "columnDefinitions":[{"name":"Name","type":"string","format":"name",
//                          "description":"...","priority":0},...],
//    "rows":[{"cells":["web-1","1/1","Running","0","5m"],
//             "object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1",
//                       "metadata":{...}}}]}
//
// The columns are those kubectl users know from Kubernetes' own printers
// (Pod: Name, Ready, Status, Restarts, Age; wide: IP, Node, ...), for every
// kind korch serves; other kinds get Name and Age. Every row carries every
// column: `priority` 1 marks the ones kubectl shows only with `-o wide`.
//
// How a transport uses it:
//  - GET, LIST and WATCH only: NegotiateResponseFormat(Accept) says whether
//    a Table is wanted; ParseIncludeObject(?includeObject=) what each row's
//    `object` holds.
//  - LIST: one Table of all items, `resource_version` and `continue_token`
//    from the ListResult.
//  - GET: a one-row Table, `resource_version` = the object's.
//  - WATCH: each event's object is a one-row Table; set `no_headers` for all
//    but the first event. kubectl does not ask for bookmarks when it watches
//    Tables; should a client do so, a Table without rows (`objects` empty)
//    carrying the bookmark's resourceVersion says the same.
//
// Everything here is a pure function of its arguments (and of the real
// clock when TableOptions::now is left unset) and thread-safe.
#ifndef KORCH_APISERVER_TABLE_H_
#define KORCH_APISERVER_TABLE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "korch/api/scheme.h"
#include "korch/apiserver/request.h"
#include "korch/export.h"
#include "nlohmann/json.hpp"

namespace korch::apiserver {

// ---- What the client asked for ----------------------------------------------------

enum class ResponseKind {
  // The objects themselves (a Pod, a PodList, watch events of Pods).
  kObject,
  // A meta.k8s.io Table of them.
  kTable,
};

struct ResponseFormat {
  ResponseKind kind = ResponseKind::kObject;
  // For kTable: "meta.k8s.io/v1" or "meta.k8s.io/v1beta1", the apiVersion of
  // the Table and of its rows' PartialObjectMetadata. Empty for kObject.
  std::string table_api_version;
  // The Content-Type to answer with: "application/json", or for a Table
  // "application/json;as=Table;v=v1;g=meta.k8s.io".
  std::string content_type = "application/json";
};

// Picks the reply's form for GET, LIST and WATCH from an Accept header: the
// acceptable media range with the highest q (the earliest among equals)
// that korch can produce. A Table needs application/json with as=Table,
// g=meta.k8s.io and v=v1 or v1beta1; application/json without `as`,
// application/* and */* give the objects. An empty header gives the
// objects, as does a header of only malformed ranges (malformed ranges are
// skipped).
//
// Error: 406 NotAcceptable (WithReason) when the header lists ranges but
// none korch can produce (only protobuf or YAML, as=PartialObjectMetadata,
// an unknown Table version): "only the following media types are accepted:
// application/json, ...".
KORCH_EXPORT absl::StatusOr<ResponseFormat> NegotiateResponseFormat(absl::string_view accept);

// What each row's `object` holds (?includeObject=).
enum class IncludeObject {
  // {"kind":"PartialObjectMetadata","apiVersion":<table's>,"metadata":{...}}:
  // what kubectl reads (for --show-labels, -L, namespaces with -A).
  kMetadata,
  // The whole object, as a GET returns it.
  kObject,
  // No `object`.
  kNone,
};

// "" (the default) and "Metadata" -> kMetadata, "Object", "None". Anything
// else: 400 BadRequest `unrecognized includeObject value: "X"`.
KORCH_EXPORT absl::StatusOr<IncludeObject> ParseIncludeObject(absl::string_view value);

// ---- Conversion ---------------------------------------------------------------------

// One column of a kind's Table, as the `columnDefinitions` entry says it.
struct TableColumn {
  // "Name", "Ready", "Nominated Node", ...
  std::string name;
  // OpenAPI type of the cells: "string", "integer", "boolean" or "date"
  // (an RFC 3339 string).
  std::string type;
  // "name" for the object's name column, else "".
  std::string format;
  std::string description;
  // 0: always shown; 1: shown with `kubectl get -o wide`.
  int priority = 0;
};

// The columns of `kind`'s Table (a list kind's are its items'); Name and
// Age for kinds korch has no printer for.
KORCH_EXPORT std::vector<TableColumn> TableColumns(const api::KindInfo& kind);

struct TableOptions {
  // The Table's metadata.resourceVersion: the list's revision for a LIST,
  // the object's for a GET or a watch event. Omitted when empty.
  std::string resource_version;
  // The Table's metadata.continue for a partial LIST page; omitted when
  // empty.
  std::string continue_token;
  // The Table's metadata.remainingItemCount when >= 0.
  int64_t remaining_item_count = -1;
  // The Table's apiVersion: "meta.k8s.io/v1" or "meta.k8s.io/v1beta1"
  // (ResponseFormat::table_api_version).
  std::string api_version = "meta.k8s.io/v1";
  IncludeObject include_object = IncludeObject::kMetadata;
  // Leave out columnDefinitions (watch events after the first).
  bool no_headers = false;
  // The time ages are computed against ("5m" = now - creationTimestamp); the
  // caller's Clock::Now(). absl::InfinitePast() means the real clock's now.
  absl::Time now = absl::InfinitePast();
};

// Appends the Table of `objects`, all of kind `kind` (or of its item kind
// when `kind` is a list kind), in order, as compact JSON to `*out`. The fast
// path for transports: object and metadata JSON is written straight from
// the protobuf messages by the codec, never re-parsed.
//
// Errors (nothing is appended then): kInvalidArgument when an object is
// null or not of kind `kind`, or `options.api_version` is not
// meta.k8s.io/v1 or v1beta1.
KORCH_EXPORT absl::Status AppendTableJson(const api::KindInfo& kind,
                                          absl::Span<const ObjectPtr> objects,
                                          const TableOptions& options, std::string* out);

// The same Table as a JSON value (for tests and callers that post-process
// it; a transport should prefer AppendTableJson).
KORCH_EXPORT absl::StatusOr<nlohmann::json> ToTable(const api::KindInfo& kind,
                                                    absl::Span<const ObjectPtr> objects,
                                                    const TableOptions& options);

// ---- Formatting shared with other human-readable output -----------------------------

// A duration as kubectl prints ages: "0s".."119s", "2m".."9m59s" ("3m2s",
// "5m"), "10m".."179m", "3h".."7h59m" ("5h3m"), "8h".."47h", "2d".."7d23h"
// ("3d4h"), "8d".."729d", "2y".."7y364d" ("2y10d"), then "8y". Less than
// two seconds in the future is "0s" (clock skew); further is "<invalid>".
KORCH_EXPORT std::string HumanDuration(absl::Duration d);

}  // namespace korch::apiserver

#endif  // KORCH_APISERVER_TABLE_H_
