#include "http_handler.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/message.h"
#include "korch/api/autoscaling.pb.h"
#include "korch/api/codec.h"
#include "korch/api/core.pb.h"
#include "korch/api/field_errors.h"
#include "korch/api/k8s_protobuf.h"
#include "korch/api/meta.pb.h"
#include "korch/api/object.h"
#include "korch/api/scheme.h"
#include "korch/apiserver/authn.h"
#include "korch/apiserver/authz.h"
#include "korch/apiserver/managed_fields.h"
#include "korch/apiserver/table.h"
#include "korch/base/status.h"
#include "nlohmann/json.hpp"

namespace korch::apiserver::internal {
namespace {

using google::protobuf::Message;
using json = nlohmann::json;

constexpr absl::string_view kJsonType = "application/json";
constexpr absl::string_view kTextType = "text/plain; charset=utf-8";

using Query = absl::flat_hash_map<std::string, std::string>;

// ---- Small parsers ----------------------------------------------------------------

// Go's strconv.ParseBool, which Kubernetes uses for query booleans (the
// Python client sends "True").
bool ParseBool(absl::string_view v) {
  return v == "1" || v == "t" || v == "T" || v == "true" || v == "True" || v == "TRUE";
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding; '+' is a space in query components (as Go's
// url.ParseQuery reads them) but not in paths.
std::optional<std::string> PercentDecode(absl::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      int hi = HexValue(in[i + 1]);
      int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

absl::Status BadRequest(absl::string_view message) {
  return WithReason(absl::InvalidArgumentError(message), "BadRequest", 400);
}

absl::Status NoSuchPath() {
  return WithReason(absl::NotFoundError("the server could not find the requested resource"),
                    "NotFound", 404);
}

absl::Status MethodNotAllowed() {
  return WithReason(
      absl::UnimplementedError("the server does not allow this method on the requested resource"),
      "MethodNotAllowed", 405);
}

// The first value of every parameter (Kubernetes reads the first too).
absl::StatusOr<Query> ParseQuery(absl::string_view raw) {
  Query out;
  for (absl::string_view part : absl::StrSplit(raw, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(part, absl::MaxSplits('=', 1));
    std::optional<std::string> key = PercentDecode(kv.first, true);
    std::optional<std::string> value = PercentDecode(kv.second, true);
    if (!key.has_value() || !value.has_value()) {
      return BadRequest(absl::StrCat("invalid URL escape in the query: ", api::QuoteValue(part)));
    }
    out.try_emplace(*std::move(key), *std::move(value));
  }
  return out;
}

std::string Param(const Query& q, absl::string_view name) {
  auto it = q.find(name);
  return it == q.end() ? std::string() : it->second;
}

// The media type of a Content-Type or Accept range, lower-case, without
// parameters.
std::string MediaType(absl::string_view value) {
  absl::string_view type = value.substr(0, value.find(';'));
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(type));
}

// ---- Responses --------------------------------------------------------------------

HttpResponse StatusResponse(const absl::Status& status) {
  api::Status st = ToKubernetesStatus(status);
  HttpResponse r;
  r.status = st.code() > 0 ? st.code() : 500;
  r.body = api::EncodeJson(st);
  return r;
}

HandlerResult Fail(const absl::Status& status) { return HandlerResult{StatusResponse(status), {}}; }

HandlerResult ObjectReply(int code, const Message& object) {
  HttpResponse r;
  r.status = code;
  r.body = api::EncodeJson(object);
  return HandlerResult{std::move(r), {}};
}

HandlerResult Reply(int code, absl::string_view content_type, std::string body) {
  HttpResponse r;
  r.status = code;
  r.content_type = std::string(content_type);
  r.body = std::move(body);
  return HandlerResult{std::move(r), {}};
}

std::string Quoted(absl::string_view s) { return json(std::string(s)).dump(); }

std::string ListKind(const api::KindInfo& kind) {
  return kind.list != nullptr ? kind.list->kind : absl::StrCat(kind.kind, "List");
}

// {"kind":"PodList","apiVersion":"v1","metadata":{...},"items":[...]}; items
// is present even when empty (the Python client fails on null).
std::string ListJson(const api::KindInfo& kind, const ListResult& list) {
  std::string out;
  absl::StrAppend(&out, "{\"kind\":", Quoted(ListKind(kind)),
                  ",\"apiVersion\":", Quoted(kind.api_version),
                  ",\"metadata\":{\"resourceVersion\":", Quoted(list.resource_version));
  if (!list.continue_token.empty()) {
    absl::StrAppend(&out, ",\"continue\":", Quoted(list.continue_token));
    if (list.remaining_item_count >= 0) {
      absl::StrAppend(&out, ",\"remainingItemCount\":", list.remaining_item_count);
    }
  }
  out += "},\"items\":[";
  api::EncodeOptions options;
  for (size_t i = 0; i < list.items.size(); ++i) {
    if (i > 0) out += ',';
    api::AppendJson(*list.items[i], options, &out);
  }
  out += "]}";
  return out;
}

// ---- Tables ---------------------------------------------------------------------------

// What GET, LIST and WATCH answer with: objects or a Table (Accept), and
// the Table's options (?includeObject=, the server's clock for ages).
struct Presentation {
  ResponseFormat format;
  TableOptions table;
  bool is_table() const { return format.kind == ResponseKind::kTable; }
};

absl::StatusOr<Presentation> PresentationOf(const HttpRequest& request, const Query& q,
                                            absl::Time now) {
  Presentation p;
  KORCH_ASSIGN_OR_RETURN(p.format, NegotiateResponseFormat(request.accept));
  if (p.is_table()) {
    KORCH_ASSIGN_OR_RETURN(p.table.include_object, ParseIncludeObject(Param(q, "includeObject")));
    p.table.api_version = p.format.table_api_version;
    p.table.now = now;
  }
  return p;
}

// ---- Request bodies -----------------------------------------------------------------

enum class FieldValidation { kIgnore, kWarn, kStrict };

absl::StatusOr<FieldValidation> ParseFieldValidation(const Query& q) {
  std::string v = Param(q, "fieldValidation");
  if (v.empty() || v == "Warn") return FieldValidation::kWarn;
  if (v == "Strict") return FieldValidation::kStrict;
  if (v == "Ignore") return FieldValidation::kIgnore;
  return BadRequest(absl::StrCat("fieldValidation must be one of Ignore, Warn or Strict, not ",
                                 api::QuoteValue(v)));
}

absl::StatusOr<bool> ParseDryRun(const Query& q) {
  auto it = q.find("dryRun");
  if (it == q.end() || it->second.empty()) return false;
  if (it->second == "All") return true;
  return BadRequest(absl::StrCat("dryRun must be \"All\", not ", api::QuoteValue(it->second)));
}

// The body as a JSON value: JSON, or YAML for the YAML content types.
absl::StatusOr<json> ParseBody(absl::string_view body, absl::string_view content_type) {
  if (absl::StripAsciiWhitespace(body).empty()) {
    return BadRequest("the request has no body; an object is required");
  }
  std::string type = MediaType(content_type);
  if (type == "application/yaml" || type == "application/x-yaml" || type == "text/yaml") {
    absl::StatusOr<std::vector<json>> docs = api::ParseYaml(body, /*reject_duplicates=*/false);
    if (!docs.ok())
      return BadRequest(absl::StrCat("the body does not parse as YAML: ", docs.status().message()));
    if (docs->size() != 1) return BadRequest("the body must hold exactly one YAML document");
    return std::move((*docs)[0]);
  }
  if (type == api::kKubernetesProtobufMediaType) {
    absl::StatusOr<json> transcoded = api::KubernetesProtobufToJson(body);
    if (transcoded.status().code() == absl::StatusCode::kUnimplemented) {
      return WithReason(absl::InvalidArgumentError(transcoded.status().message()),
                        "UnsupportedMediaType", 415);
    }
    if (!transcoded.ok()) return BadRequest(transcoded.status().message());
    return transcoded;
  }
  if (!type.empty() && type != "application/json" && type != "*/*") {
    return WithReason(absl::InvalidArgumentError(absl::StrCat(
                          "the body of the request was in an unknown format (", type,
                          ") - accepted media types include: application/json, application/yaml, ",
                          api::kKubernetesProtobufMediaType)),
                      "UnsupportedMediaType", 415);
  }
  absl::StatusOr<json> parsed = api::ParseJson(body, /*reject_duplicates=*/false);
  if (!parsed.ok()) {
    return BadRequest(
        absl::StrCat("couldn't get version/kind; json parse error: ", parsed.status().message()));
  }
  return parsed;
}

// The Warning header value for one warning (RFC 7234 warn-code 299).
std::string WarningHeader(absl::string_view text) {
  std::string escaped;
  for (char c : text) {
    if (c == '"' || c == '\\') escaped += '\\';
    escaped += (c == '\n' || c == '\r') ? ' ' : c;
  }
  return absl::StrCat("299 - \"", escaped, "\"");
}

}  // namespace

// ---- HttpWatch --------------------------------------------------------------------

HttpWatch::HttpWatch(HttpMetrics& metrics, RequestLabels labels)
    : metrics_(metrics), labels_(std::move(labels)), started_(absl::Now()) {
  metrics_.WatchOpened(labels_);
}

HttpWatch::~HttpWatch() {
  if (stream != nullptr) stream->Cancel();
  stream.reset();
  metrics_.WatchClosed(labels_);
  metrics_.Record(labels_, code, absl::Now() - started_);
}

std::string HttpWatch::Encode(const WatchEvent& event) { return encoder(event); }

std::string HttpWatch::EndLine(const absl::Status& status) const {
  switch (status.code()) {
    case absl::StatusCode::kOk:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return "";
    default:
      break;
  }
  std::string line = "{\"type\":\"ERROR\",\"object\":";
  api::AppendJson(ToKubernetesStatus(status), api::EncodeOptions(), &line);
  line += "}\n";
  return line;
}

// ---- The handler ----------------------------------------------------------------

struct HttpHandler::Call {
  HttpRequest request;
  std::string path;
  Query query;
  UserInfo user;
  RequestLabels labels;
  bool mutating = false;
  std::vector<std::string> warnings;
};

namespace {

// The fieldManager parameter, or as Kubernetes does without one, the
// User-Agent's program name ("kubectl/v1.30.1 (linux/amd64) ..." -> "kubectl").
std::string FieldManagerOrUserAgent(const Query& query, const HttpRequest& request) {
  std::string manager = Param(query, "fieldManager");
  if (!manager.empty()) return manager;
  return FieldManagerFromUserAgent(request.user_agent);
}

}  // namespace

struct HttpHandler::Route {
  std::string group;
  std::string version;
  // The URL names a namespace (/namespaces/<ns>/<resource>...).
  bool namespaced_path = false;
  std::string ns;
  std::string resource;
  std::string name;
  std::string subresource;
  // The deprecated /watch/ prefix.
  bool watch_prefix = false;
};

HttpHandler::HttpHandler(ApiServer& api, std::shared_ptr<const ApiDocuments> documents,
                         HttpMetrics& metrics, HttpHandlerOptions options)
    : api_(api), documents_(std::move(documents)), metrics_(metrics), options_(options) {}

HandlerResult HttpHandler::Handle(HttpRequest request) {
  const absl::Time start = absl::Now();
  Call call;
  call.request = std::move(request);
  const std::string& method = call.request.method;
  call.mutating = !(method == "GET" || method == "HEAD" || method == "OPTIONS");
  call.labels.verb = method;
  metrics_.Started(call.mutating);

  HandlerResult result = [&]() -> HandlerResult {
    absl::string_view target = call.request.target;
    size_t q = target.find('?');
    absl::string_view raw_path = target.substr(0, q);
    std::optional<std::string> path = PercentDecode(raw_path, false);
    if (!path.has_value() || path->empty() || (*path)[0] != '/') {
      return Fail(BadRequest(absl::StrCat("invalid request path ", api::QuoteValue(raw_path))));
    }
    call.path = *std::move(path);
    if (q != absl::string_view::npos) {
      absl::StatusOr<Query> query = ParseQuery(target.substr(q + 1));
      if (!query.ok()) return Fail(query.status());
      call.query = *std::move(query);
    }

    AuthnRequest authn;
    absl::string_view authorization = absl::StripAsciiWhitespace(call.request.authorization);
    if (authorization.size() > 7 && absl::StartsWithIgnoreCase(authorization, "bearer ")) {
      authn.bearer_token = std::string(absl::StripAsciiWhitespace(authorization.substr(7)));
    }
    authn.client_cert_der = call.request.client_cert_der;
    absl::StatusOr<UserInfo> user = api_.Authenticate(authn);
    if (!user.ok()) {
      return Fail(
          WithReason(absl::UnauthenticatedError(user.status().message()), "Unauthorized", 401));
    }
    call.user = *std::move(user);
    if (!call.request.impersonation_header.empty()) {
      // Running the request as the caller instead would answer for the
      // wrong user (kubectl auth can-i --as would say "yes" for the admin).
      return Fail(
          WithReason(absl::PermissionDeniedError(absl::StrCat(
                         "impersonation is not supported by korch: the request carries the ",
                         call.request.impersonation_header,
                         " header (kubectl --as/--as-group); send it as user \"", call.user.name,
                         "\" without impersonation")),
                     "Forbidden", 403));
    }

    // /api/<version>/... and /apis/<group>/<version>/... with something
    // after the group-version are resource requests.
    std::vector<std::string> segments = absl::StrSplit(call.path, '/', absl::SkipEmpty());
    size_t prefix = 0;
    Route route;
    if (!segments.empty() && segments[0] == "api" && segments.size() > 2) {
      route.version = segments[1];
      prefix = 2;
    } else if (!segments.empty() && segments[0] == "apis" && segments.size() > 3) {
      route.group = segments[1];
      route.version = segments[2];
      prefix = 3;
    }
    if (prefix == 0) return HandleNonResource(call);

    std::vector<std::string> parts(segments.begin() + prefix, segments.end());
    if (!parts.empty() && parts[0] == "watch") {
      route.watch_prefix = true;
      parts.erase(parts.begin());
    }
    if (parts.size() >= 2 && parts[0] == "namespaces") {
      if (parts.size() == 2 || parts[2] == "status" || parts[2] == "finalize") {
        // The namespace itself (cluster-scoped) or its subresources.
      } else {
        route.namespaced_path = true;
        route.ns = parts[1];
        parts.erase(parts.begin(), parts.begin() + 2);
      }
    }
    if (parts.empty() || parts.size() > 3) return Fail(NoSuchPath());
    route.resource = parts[0];
    if (parts.size() > 1) route.name = parts[1];
    if (parts.size() > 2) route.subresource = parts[2];
    return HandleResource(call, route);
  }();

  if (!call.warnings.empty()) {
    for (const std::string& w : call.warnings) {
      result.response.headers.emplace_back("Warning", WarningHeader(w));
    }
  }
  if (result.watch != nullptr) {
    // Counted by the HttpWatch when it ends; not in flight meanwhile.
    metrics_.EndInflight(call.mutating);
  } else {
    metrics_.Finished(call.labels, call.mutating, result.response.status, absl::Now() - start);
  }
  return result;
}

// ---- Non-resource paths --------------------------------------------------------------

HandlerResult HttpHandler::HandleNonResource(Call& call) {
  const std::string& method = call.request.method;
  std::string path = call.path;
  while (path.size() > 1 && path.back() == '/') path.pop_back();

  Attributes attributes;
  attributes.user = call.user;
  attributes.verb = absl::AsciiStrToLower(method);
  attributes.resource_request = false;
  attributes.path = call.path;
  if (absl::Status s = api_.Authorize(attributes); !s.ok()) return Fail(s);
  if (method != "GET" && method != "HEAD") return Fail(MethodNotAllowed());

  const std::string& accept = call.request.accept;
  auto document = [](DocumentReply doc) {
    return Reply(200, doc.content_type, std::string(doc.body));
  };
  std::vector<std::string> segments = absl::StrSplit(path, '/', absl::SkipEmpty());

  if (path == "/version") return document(documents_->Version());
  if (path == "/api" || path == "/apis") {
    HandlerResult r = document(path == "/api" ? documents_->Api(accept) : documents_->Apis(accept));
    r.response.headers.emplace_back("Vary", "Accept");
    return r;
  }
  if (segments.size() == 2 && segments[0] == "apis") {
    absl::StatusOr<DocumentReply> doc = documents_->Group(segments[1]);
    if (!doc.ok()) return Fail(NoSuchPath());
    return document(*doc);
  }
  if ((segments.size() == 2 && segments[0] == "api") ||
      (segments.size() == 3 && segments[0] == "apis")) {
    absl::StatusOr<DocumentReply> doc = segments[0] == "api"
                                            ? documents_->ResourceList("", segments[1])
                                            : documents_->ResourceList(segments[1], segments[2]);
    if (!doc.ok()) return Fail(NoSuchPath());
    return document(*doc);
  }
  if (path == "/openapi/v2" || path == "/swagger-2.0.0.pb-v1") {
    HandlerResult r = document(documents_->OpenApiV2(accept));
    r.response.headers.emplace_back("ETag", absl::StrCat("\"", documents_->OpenApiV2Etag(), "\""));
    return r;
  }
  if (path == "/openapi/v3") return document(documents_->OpenApiV3Index());
  if (absl::StartsWith(path, "/openapi/v3/")) {
    absl::string_view rest = absl::string_view(path).substr(strlen("/openapi/v3/"));
    absl::StatusOr<DocumentReply> doc = documents_->OpenApiV3(rest);
    if (!doc.ok()) return Fail(NoSuchPath());
    HandlerResult r = document(*doc);
    std::string hash = Param(call.query, "hash");
    if (!hash.empty() && hash == documents_->OpenApiV3Hash(rest)) {
      r.response.headers.emplace_back("Cache-Control", "public, immutable");
    }
    return r;
  }
  for (absl::string_view endpoint : {"healthz", "livez", "readyz"}) {
    if (!segments.empty() && segments[0] == endpoint && segments.size() <= 2) {
      return HandlerResult{Health(call, endpoint, segments.size() == 2 ? segments[1] : ""), {}};
    }
  }
  if (path == "/metrics") {
    return Reply(200, "text/plain; version=0.0.4; charset=utf-8", metrics_.Render(api_.storage()));
  }
  if (path == "/") {
    json paths = json::array({"/api", "/api/v1", "/apis", "/healthz", "/livez", "/metrics",
                              "/openapi/v2", "/openapi/v3", "/readyz", "/version"});
    return Reply(200, kJsonType, json{{"paths", std::move(paths)}}.dump());
  }
  return Fail(NoSuchPath());
}

HttpResponse HttpHandler::Health(Call& call, absl::string_view endpoint, absl::string_view check) {
  struct Check {
    std::string name;
    bool ok;
  };
  std::vector<Check> checks;
  checks.push_back({"ping", true});
  checks.push_back({"store", api_.storage().CurrentRevision().ok()});
  if (endpoint == "readyz") {
    checks.push_back({"shutdown", !shutting_down_.load(std::memory_order_acquire)});
  }
  HttpResponse r;
  r.content_type = std::string(kTextType);
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  if (!check.empty()) {
    for (const Check& c : checks) {
      if (c.name != check) continue;
      r.status = c.ok ? 200 : 500;
      r.body = c.ok ? "ok" : absl::StrCat("internal server error: ", c.name, " check failed");
      return r;
    }
    return StatusResponse(NoSuchPath());
  }
  bool all_ok = true;
  std::string report;
  for (const Check& c : checks) {
    all_ok = all_ok && c.ok;
    absl::StrAppend(&report, c.ok ? "[+]" : "[-]", c.name, c.ok ? " ok" : " failed", "\n");
  }
  absl::StrAppend(&report, endpoint, all_ok ? " check passed\n" : " check failed\n");
  r.status = all_ok ? 200 : 500;
  r.body = all_ok && !call.query.contains("verbose") ? "ok" : report;
  return r;
}

// ---- Resource requests --------------------------------------------------------------

HandlerResult HttpHandler::HandleResource(Call& call, const Route& route) {
  const api::KindInfo* kind =
      api_.scheme().FindResource(route.group, route.version, route.resource);
  if (kind == nullptr || kind->resource.empty()) return Fail(NoSuchPath());
  if (route.namespaced_path && !kind->namespaced) return Fail(NoSuchPath());
  if (kind->namespaced && !route.namespaced_path && !route.name.empty()) {
    return Fail(NoSuchPath());
  }

  const std::string& method = call.request.method;
  const bool watch = route.watch_prefix || ParseBool(Param(call.query, "watch"));
  RequestLabels& labels = call.labels;
  labels.group = route.group;
  labels.version = route.version;
  labels.resource = route.resource;
  labels.subresource = route.subresource;
  labels.scope = !route.name.empty() ? "resource" : (route.ns.empty() ? "cluster" : "namespace");

  if (route.subresource == "log") {
    labels.verb = "GET";
    // Container logs come from the node agent, which korch does not have yet.
    return Fail(WithReason(
        absl::NotFoundError(absl::StrCat(
            "the server could not find the requested resource (", route.resource, "/log ",
            route.name, "): container logs are not available (no node agent serves them yet)")),
        "NotFound", 404));
  }

  if (method == "GET" || method == "HEAD") {
    if (watch) {
      labels.verb = "WATCH";
      if (!route.subresource.empty()) return Fail(NoSuchPath());
      return Watch(call, route, *kind);
    }
    if (route.name.empty()) {
      labels.verb = "LIST";
      return List(call, route, *kind);
    }
    labels.verb = "GET";
    return Get(call, route, *kind);
  }
  if (method == "POST") {
    labels.verb = "POST";
    if (route.name.empty()) {
      if (kind->namespaced && !route.namespaced_path) return Fail(MethodNotAllowed());
      return Create(call, route, *kind);
    }
    if (route.subresource.empty()) return Fail(MethodNotAllowed());
    if (route.subresource != "binding") {
      return Fail(WithReason(
          absl::NotFoundError(absl::StrCat("the server could not find the requested resource (",
                                           route.resource, "/", route.subresource, ")")),
          "NotFound", 404));
    }
    return Create(call, route, *kind);
  }
  if (method == "PUT") {
    labels.verb = "PUT";
    if (route.name.empty()) return Fail(MethodNotAllowed());
    return Update(call, route, *kind);
  }
  if (method == "PATCH") {
    labels.verb = "PATCH";
    if (route.name.empty()) return Fail(MethodNotAllowed());
    return Patch(call, route, *kind);
  }
  if (method == "DELETE") {
    if (route.name.empty()) {
      labels.verb = "DELETECOLLECTION";
      if (kind->namespaced && !route.namespaced_path) return Fail(MethodNotAllowed());
      return DeleteCollection(call, route, *kind);
    }
    labels.verb = "DELETE";
    if (!route.subresource.empty()) return Fail(MethodNotAllowed());
    return Delete(call, route, *kind);
  }
  return Fail(MethodNotAllowed());
}

namespace {

absl::StatusOr<ListOptions> ListOptionsOf(const Query& q) {
  ListOptions o;
  o.label_selector = Param(q, "labelSelector");
  o.field_selector = Param(q, "fieldSelector");
  o.continue_token = Param(q, "continue");
  o.resource_version = Param(q, "resourceVersion");
  std::string limit = Param(q, "limit");
  if (!limit.empty() && !absl::SimpleAtoi(limit, &o.limit)) {
    return BadRequest(absl::StrCat("limit must be an integer, not ", api::QuoteValue(limit)));
  }
  if (o.limit < 0) o.limit = 0;
  return o;
}

// Decodes a request body into a new message of `expected`, checking its
// kind and apiVersion and applying the request's field validation.
absl::StatusOr<std::unique_ptr<Message>> DecodeBody(const HttpRequest& request, const Query& q,
                                                    const api::KindInfo& expected,
                                                    std::vector<std::string>* warnings) {
  KORCH_ASSIGN_OR_RETURN(FieldValidation validation, ParseFieldValidation(q));
  KORCH_ASSIGN_OR_RETURN(json value, ParseBody(request.body, request.content_type));
  if (!value.is_object()) return BadRequest("the body must be a JSON object");
  auto text_of = [&](const char* key) -> std::string {
    auto it = value.find(key);
    return it != value.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::string api_version = text_of("apiVersion");
  std::string kind = text_of("kind");
  if (!api_version.empty() && api_version != expected.api_version) {
    return BadRequest(absl::StrCat("the API version in the data (", api_version,
                                   ") does not match the expected API version (",
                                   expected.api_version, ")"));
  }
  if (!kind.empty() && kind != expected.kind) {
    return BadRequest(absl::StrCat("the kind in the data (", kind,
                                   ") does not match the expected kind (", expected.kind, ")"));
  }
  std::unique_ptr<Message> out(google::protobuf::MessageFactory::generated_factory()
                                   ->GetPrototype(expected.descriptor)
                                   ->New());
  // The reply is JSON: a client that accepts only protobuf gets 406 before
  // anything is written.
  KORCH_RETURN_IF_ERROR(NegotiateResponseFormat(request.accept).status());
  const std::string media_type = MediaType(request.content_type);
  const bool is_json = media_type.find("yaml") == std::string::npos &&
                       media_type != api::kKubernetesProtobufMediaType;
  auto decode_strict = [&]() -> absl::Status {
    api::DecodeOptions strict;
    strict.strict = true;
    // JSON text is decoded again so that duplicate fields are seen.
    return is_json ? api::DecodeJson(request.body, out.get(), strict)
                   : api::DecodeJsonValue(value, out.get(), strict);
  };
  auto decode_lenient = [&]() -> absl::Status {
    api::DecodeOptions lenient;
    lenient.strict = false;
    return api::DecodeJsonValue(value, out.get(), lenient);
  };
  absl::Status s;
  switch (validation) {
    case FieldValidation::kStrict:
      s = decode_strict();
      break;
    case FieldValidation::kIgnore:
      s = decode_lenient();
      break;
    case FieldValidation::kWarn: {
      absl::Status strict = decode_strict();
      if (strict.ok()) break;
      s = decode_lenient();
      if (s.ok()) warnings->push_back(std::string(strict.message()));
      break;
    }
  }
  if (!s.ok()) return BadRequest(s.message());
  return out;
}

}  // namespace

HandlerResult HttpHandler::Get(Call& call, const Route& route, const api::KindInfo& kind) {
  GetOptions options;
  options.subresource = route.subresource;
  absl::StatusOr<Presentation> presentation =
      PresentationOf(call.request, call.query, api_.clock().Now());
  if (!presentation.ok()) return Fail(presentation.status());
  absl::StatusOr<ObjectPtr> object = api_.Get(call.user, kind, route.ns, route.name, options);
  if (!object.ok()) return Fail(object.status());
  // Tables show the resource itself; /scale answers a Scale either way.
  if (presentation->is_table() && route.subresource != "scale") {
    TableOptions table = presentation->table;
    if (const api::ObjectMeta* meta = api::ObjectMetaOf(**object)) {
      table.resource_version = meta->resource_version();
    }
    std::string body;
    if (absl::Status s = AppendTableJson(kind, {*object}, table, &body); !s.ok()) return Fail(s);
    return Reply(200, presentation->format.content_type, std::move(body));
  }
  return ObjectReply(200, **object);
}

HandlerResult HttpHandler::List(Call& call, const Route& route, const api::KindInfo& kind) {
  if (!route.subresource.empty()) return Fail(NoSuchPath());
  absl::StatusOr<ListOptions> options = ListOptionsOf(call.query);
  if (!options.ok()) return Fail(options.status());
  absl::StatusOr<Presentation> presentation =
      PresentationOf(call.request, call.query, api_.clock().Now());
  if (!presentation.ok()) return Fail(presentation.status());
  absl::StatusOr<ListResult> list = api_.List(call.user, kind, route.ns, *options);
  if (!list.ok()) return Fail(list.status());
  if (presentation->is_table()) {
    TableOptions table = presentation->table;
    table.resource_version = list->resource_version;
    table.continue_token = list->continue_token;
    table.remaining_item_count = list->remaining_item_count;
    std::string body;
    if (absl::Status s = AppendTableJson(kind, list->items, table, &body); !s.ok()) return Fail(s);
    return Reply(200, presentation->format.content_type, std::move(body));
  }
  return Reply(200, kJsonType, ListJson(kind, *list));
}

HandlerResult HttpHandler::Watch(Call& call, const Route& route, const api::KindInfo& kind) {
  if (metrics_.watches() >= options_.max_watches) {
    return Fail(
        WithReason(absl::ResourceExhaustedError(absl::StrCat(
                       "too many open watches (", options_.max_watches, "); try again later")),
                   "TooManyRequests", 429));
  }
  const Query& q = call.query;
  WatchOptions options;
  options.label_selector = Param(q, "labelSelector");
  options.field_selector = Param(q, "fieldSelector");
  if (!route.name.empty()) {
    // A watch of one object is a watch of its collection by name.
    std::string by_name = absl::StrCat("metadata.name=", route.name);
    options.field_selector = options.field_selector.empty()
                                 ? by_name
                                 : absl::StrCat(options.field_selector, ",", by_name);
  }
  options.resource_version = Param(q, "resourceVersion");
  options.allow_bookmarks = ParseBool(Param(q, "allowWatchBookmarks"));
  options.bookmark_interval = options_.bookmark_interval;
  std::string timeout = Param(q, "timeoutSeconds");
  int64_t seconds = 0;
  if (!timeout.empty() && !absl::SimpleAtoi(timeout, &seconds)) {
    return Fail(BadRequest(
        absl::StrCat("timeoutSeconds must be an integer, not ", api::QuoteValue(timeout))));
  }
  if (seconds > 0) {
    options.timeout = absl::Seconds(seconds);
  } else if (options_.min_watch_timeout > absl::ZeroDuration()) {
    // Kubernetes spreads watch ends over [min, 2 x min).
    thread_local std::minstd_rand rng(std::random_device{}());
    double factor = 1.0 + std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    options.timeout = options_.min_watch_timeout * factor;
  }

  absl::StatusOr<Presentation> presentation =
      PresentationOf(call.request, call.query, api_.clock().Now());
  if (!presentation.ok()) return Fail(presentation.status());
  absl::StatusOr<std::unique_ptr<WatchStream>> stream =
      api_.Watch(call.user, kind, route.ns, options);
  auto watch = std::make_shared<HttpWatch>(metrics_, call.labels);
  watch->content_type = presentation->format.content_type;
  if (!stream.ok()) {
    // A resource version that is gone: 200 and an ERROR event (Expired), as
    // clients expect from a watch; other errors are plain error responses.
    if (stream.status().code() != absl::StatusCode::kOutOfRange) {
      watch->code = ToKubernetesStatus(stream.status()).code();
      return Fail(stream.status());
    }
    watch->initial = watch->EndLine(stream.status());
    return HandlerResult{HttpResponse(), std::move(watch)};
  }
  watch->stream = *std::move(stream);
  if (presentation->is_table()) {
    // One-row Tables; column definitions only in the first event. Ages are
    // computed when the event is sent.
    Clock& clock = api_.clock();
    watch->encoder = [&kind, &clock, table = presentation->table,
                      first = true](const WatchEvent& event) mutable {
      std::string line = absl::StrCat("{\"type\":\"", EventTypeName(event.type), "\",\"object\":");
      const api::ObjectMeta* meta = api::ObjectMetaOf(*event.object);
      table.resource_version = meta != nullptr ? meta->resource_version() : "";
      table.no_headers = !first;
      table.now = clock.Now();
      std::vector<ObjectPtr> rows;
      if (event.type != EventType::kBookmark) rows.push_back(event.object);
      absl::Status s = AppendTableJson(kind, rows, table, &line);
      if (!s.ok()) {
        // Not expected (the objects are of `kind`): say so in the stream.
        line = "{\"type\":\"ERROR\",\"object\":";
        api::AppendJson(ToKubernetesStatus(s), api::EncodeOptions(), &line);
      }
      line += "}\n";
      first = false;
      return line;
    };
  } else {
    watch->encoder = [](const WatchEvent& event) {
      std::string line = absl::StrCat("{\"type\":\"", EventTypeName(event.type), "\",\"object\":");
      api::AppendJson(*event.object, api::EncodeOptions(), &line);
      line += "}\n";
      return line;
    };
  }
  return HandlerResult{HttpResponse(), std::move(watch)};
}

// Authorizes a write from its URL before the body is read, as Kubernetes
// does: a user who may not write gets 403, whatever the body holds. The
// ApiServer authorizes the request again with the same attributes.
static absl::Status AuthorizeFromUrl(ApiServer& api, const UserInfo& user, absl::string_view verb,
                                     const api::KindInfo& kind, absl::string_view subresource,
                                     absl::string_view ns, absl::string_view name) {
  Attributes attributes;
  attributes.user = user;
  attributes.verb = std::string(verb);
  attributes.api_group = kind.group;
  attributes.resource = kind.resource;
  attributes.subresource = std::string(subresource);
  attributes.namespace_ = kind.namespaced ? std::string(ns) : std::string();
  attributes.name = std::string(name);
  return api.Authorize(attributes);
}

HandlerResult HttpHandler::Create(Call& call, const Route& route, const api::KindInfo& kind) {
  if (absl::Status s = AuthorizeFromUrl(api_, call.user, "create", kind, route.subresource,
                                        route.ns, route.name);
      !s.ok()) {
    return Fail(s);
  }
  const api::KindInfo* body_kind = &kind;
  CreateOptions options;
  if (route.subresource == "binding") {
    body_kind = api_.scheme().Find(api::Binding::descriptor());
    options.subresource = "binding";
    if (body_kind == nullptr) return Fail(NoSuchPath());
  }
  absl::StatusOr<bool> dry_run = ParseDryRun(call.query);
  if (!dry_run.ok()) return Fail(dry_run.status());
  options.dry_run = *dry_run;
  options.field_manager = FieldManagerOrUserAgent(call.query, call.request);
  absl::StatusOr<std::unique_ptr<Message>> object =
      DecodeBody(call.request, call.query, *body_kind, &call.warnings);
  if (!object.ok()) return Fail(object.status());
  absl::StatusOr<ObjectPtr> created =
      api_.Create(call.user, kind, route.ns, route.name, *std::move(object), options);
  if (!created.ok()) return Fail(created.status());
  return ObjectReply(201, **created);
}

HandlerResult HttpHandler::Update(Call& call, const Route& route, const api::KindInfo& kind) {
  if (absl::Status s = AuthorizeFromUrl(api_, call.user, "update", kind, route.subresource,
                                        route.ns, route.name);
      !s.ok()) {
    return Fail(s);
  }
  const api::KindInfo* body_kind = &kind;
  if (route.subresource == "scale") {
    body_kind = api_.scheme().Find(api::Scale::descriptor());
    if (body_kind == nullptr) return Fail(NoSuchPath());
  }
  UpdateOptions options;
  absl::StatusOr<bool> dry_run = ParseDryRun(call.query);
  if (!dry_run.ok()) return Fail(dry_run.status());
  options.dry_run = *dry_run;
  options.field_manager = FieldManagerOrUserAgent(call.query, call.request);
  options.subresource = route.subresource;
  absl::StatusOr<std::unique_ptr<Message>> object =
      DecodeBody(call.request, call.query, *body_kind, &call.warnings);
  if (!object.ok()) return Fail(object.status());
  absl::StatusOr<ObjectPtr> updated =
      api_.Update(call.user, kind, route.ns, route.name, *std::move(object), options);
  if (!updated.ok()) return Fail(updated.status());
  return ObjectReply(200, **updated);
}

HandlerResult HttpHandler::Patch(Call& call, const Route& route, const api::KindInfo& kind) {
  if (absl::Status s =
          AuthorizeFromUrl(api_, call.user, "patch", kind, route.subresource, route.ns, route.name);
      !s.ok()) {
    return Fail(s);
  }
  std::string type = MediaType(call.request.content_type);
  PatchType patch_type;
  if (type == "application/json-patch+json") {
    patch_type = PatchType::kJson;
  } else if (type == "application/merge-patch+json") {
    patch_type = PatchType::kMerge;
  } else if (type == "application/strategic-merge-patch+json") {
    patch_type = PatchType::kStrategicMerge;
  } else if (type == "application/apply-patch+yaml" || type == "application/apply-patch+json") {
    patch_type = PatchType::kApply;
    call.labels.verb = "APPLY";
  } else {
    return Fail(WithReason(absl::InvalidArgumentError(absl::StrCat(
                               "the body of the request was in an unknown format (",
                               type.empty() ? "no Content-Type" : type,
                               ") - accepted media types include: application/json-patch+json, "
                               "application/merge-patch+json, application/apply-patch+yaml, "
                               "application/strategic-merge-patch+json")),
                           "UnsupportedMediaType", 415));
  }
  PatchOptions options;
  absl::StatusOr<bool> dry_run = ParseDryRun(call.query);
  if (!dry_run.ok()) return Fail(dry_run.status());
  options.dry_run = *dry_run;
  // Apply needs an explicit fieldManager; other patches default to the
  // User-Agent's program name.
  options.field_manager = patch_type == PatchType::kApply
                              ? Param(call.query, "fieldManager")
                              : FieldManagerOrUserAgent(call.query, call.request);
  options.force = ParseBool(Param(call.query, "force"));
  options.subresource = route.subresource;
  if (absl::Status s = ParseFieldValidation(call.query).status(); !s.ok()) return Fail(s);

  // Server-side apply answers 201 when it created the object.
  bool existed = true;
  if (patch_type == PatchType::kApply && route.subresource.empty()) {
    absl::StatusOr<ObjectPtr> before = api_.Get(call.user, kind, route.ns, route.name, {});
    existed = before.ok() || before.status().code() != absl::StatusCode::kNotFound;
  }
  absl::StatusOr<ObjectPtr> patched =
      api_.Patch(call.user, kind, route.ns, route.name, patch_type, call.request.body, options);
  if (!patched.ok()) return Fail(patched.status());
  return ObjectReply(existed ? 200 : 201, **patched);
}

namespace {

absl::StatusOr<DeleteOptions> DeleteOptionsOf(const HttpRequest& request, const Query& q) {
  DeleteOptions out;
  std::string grace = Param(q, "gracePeriodSeconds");
  if (!grace.empty()) {
    int64_t seconds = 0;
    if (!absl::SimpleAtoi(grace, &seconds)) {
      return BadRequest(
          absl::StrCat("gracePeriodSeconds must be an integer, not ", api::QuoteValue(grace)));
    }
    out.grace_period_seconds = seconds;
  }
  out.propagation_policy = Param(q, "propagationPolicy");
  if (q.contains("orphanDependents") && ParseBool(Param(q, "orphanDependents")) &&
      out.propagation_policy.empty()) {
    out.propagation_policy = "Orphan";
  }
  KORCH_ASSIGN_OR_RETURN(out.dry_run, ParseDryRun(q));

  if (absl::StripAsciiWhitespace(request.body).empty()) return out;
  KORCH_ASSIGN_OR_RETURN(json value, ParseBody(request.body, request.content_type));
  if (!value.is_object()) return BadRequest("the body of a delete must be a DeleteOptions object");
  // Clients send DeleteOptions as v1, meta.k8s.io/v1 or their group's
  // version; the kind alone says what it is.
  std::string kind = value.value("kind", "");
  if (!kind.empty() && kind != "DeleteOptions") {
    return BadRequest(absl::StrCat("the kind in the data (", kind,
                                   ") does not match the expected kind (DeleteOptions)"));
  }
  value.erase("kind");
  value.erase("apiVersion");
  api::DeleteOptions body;
  api::DecodeOptions lenient;
  lenient.strict = false;
  if (absl::Status s = api::DecodeJsonValue(value, &body, lenient); !s.ok()) {
    return BadRequest(s.message());
  }
  if (body.has_grace_period_seconds()) out.grace_period_seconds = body.grace_period_seconds();
  if (!body.propagation_policy().empty()) {
    out.propagation_policy = body.propagation_policy();
  } else if (body.has_orphan_dependents() && body.orphan_dependents()) {
    out.propagation_policy = "Orphan";
  }
  if (body.has_preconditions()) {
    out.precondition_uid = body.preconditions().uid();
    out.precondition_resource_version = body.preconditions().resource_version();
  }
  for (const std::string& d : body.dry_run()) {
    if (d != "All") return BadRequest(absl::StrCat("dryRun must be \"All\", not ", d));
    out.dry_run = true;
  }
  return out;
}

}  // namespace

HandlerResult HttpHandler::Delete(Call& call, const Route& route, const api::KindInfo& kind) {
  absl::StatusOr<DeleteOptions> options = DeleteOptionsOf(call.request, call.query);
  if (!options.ok()) return Fail(options.status());
  absl::StatusOr<DeleteResult> result =
      api_.Delete(call.user, kind, route.ns, route.name, *options);
  if (!result.ok()) return Fail(result.status());
  // As in Kubernetes: an object that is gone is answered with a Success
  // Status, except pods (and objects whose deletion is still pending, which
  // are returned as they now are).
  const bool pod = kind.group.empty() && kind.resource == "pods";
  if (result->deleted && !pod) {
    api::Status status = ToKubernetesStatus(absl::OkStatus());
    api::StatusDetails* details = status.mutable_details();
    details->set_name(route.name);
    if (!kind.group.empty()) details->set_group(kind.group);
    details->set_kind(kind.resource);
    if (const api::ObjectMeta* meta = api::ObjectMetaOf(*result->object)) {
      details->set_uid(meta->uid());
    }
    return ObjectReply(200, status);
  }
  return ObjectReply(200, *result->object);
}

HandlerResult HttpHandler::DeleteCollection(Call& call, const Route& route,
                                            const api::KindInfo& kind) {
  absl::StatusOr<ListOptions> selection = ListOptionsOf(call.query);
  if (!selection.ok()) return Fail(selection.status());
  absl::StatusOr<DeleteOptions> options = DeleteOptionsOf(call.request, call.query);
  if (!options.ok()) return Fail(options.status());
  absl::StatusOr<ListResult> deleted =
      api_.DeleteCollection(call.user, kind, route.ns, *selection, *options);
  if (!deleted.ok()) return Fail(deleted.status());
  return Reply(200, kJsonType, ListJson(kind, *deleted));
}

}  // namespace korch::apiserver::internal
