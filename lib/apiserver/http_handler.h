// The Kubernetes REST protocol without the transport (internal to
// korch::apiserver): turns one HTTP request (method, target, a few headers,
// body, verified client certificate) into an ApiServer call and its answer,
// or into a watch for the transport to stream. lib/apiserver/http_server.cc
// is the transport.
//
// Routing, as Kubernetes' RequestInfoFactory does it:
//   /api/v1[/watch]/<resource>[/<name>[/<subresource>]]
//   /api/v1[/watch]/namespaces/<ns>/<resource>[/<name>[/<subresource>]]
//   /apis/<group>/<version>/... the same
//   /api/v1/namespaces/<name>/{status,finalize}: the namespace's subresources
// Everything else is a non-resource path (discovery, OpenAPI, health,
// metrics), authorized with the lower-case HTTP method as the verb.

#ifndef KORCH_LIB_APISERVER_HTTP_HANDLER_H_
#define KORCH_LIB_APISERVER_HTTP_HANDLER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "http_metrics.h"
#include "korch/apiserver/discovery.h"
#include "korch/apiserver/request.h"
#include "korch/apiserver/server.h"

namespace korch::apiserver::internal {

struct HttpRequest {
  std::string method;  // "GET"
  std::string target;  // "/api/v1/pods?watch=true"
  std::string accept;
  std::string content_type;
  std::string authorization;
  // Names the field manager of writes without a fieldManager parameter.
  std::string user_agent;
  // The first Impersonate-* header (kubectl --as), if any: korch does not
  // implement impersonation and refuses such requests rather than running
  // them as the authenticated user.
  std::string impersonation_header;
  std::string body;
  // The DER of the client certificate the TLS handshake verified.
  std::optional<std::string> client_cert_der;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // More headers ("Warning", "Cache-Control", "ETag").
  std::vector<std::pair<std::string, std::string>> headers;
};

// A watch for the transport to stream: 200 with `content_type`, chunked,
// `initial` first, then one line per event of `stream` until it ends.
// Counts itself in the metrics from construction to destruction. Used by
// one thread at a time, except stream->Cancel() (any thread).
class HttpWatch {
 public:
  HttpWatch(HttpMetrics& metrics, RequestLabels labels);
  ~HttpWatch();
  HttpWatch(const HttpWatch&) = delete;
  HttpWatch& operator=(const HttpWatch&) = delete;

  // Null when the watch ended before it began (only `initial` is sent).
  std::unique_ptr<WatchStream> stream;
  std::string content_type = "application/json";
  // Lines sent before any event (an ERROR event when the resource version
  // was already compacted).
  std::string initial;

  // The line of one event, ending in '\n'.
  std::string Encode(const WatchEvent& event);
  // The line to send when Next() ended the stream with `status`: an ERROR
  // event (Expired, fell behind, internal errors), or "" when the end is
  // clean (timeoutSeconds passed, cancelled, server stopping).
  std::string EndLine(const absl::Status& status) const;

  // The event encoder (JSON or one-row Tables).
  std::function<std::string(const WatchEvent&)> encoder;
  // The HTTP code the request is counted with (200 unless the transport
  // could not start streaming).
  int code = 200;

 private:
  HttpMetrics& metrics_;
  const RequestLabels labels_;
  const absl::Time started_;
};

struct HandlerResult {
  HttpResponse response;
  // Set: stream this watch instead of sending `response`.
  std::shared_ptr<HttpWatch> watch;
};

struct HttpHandlerOptions {
  absl::Duration min_watch_timeout = absl::Minutes(30);
  absl::Duration bookmark_interval = absl::Minutes(1);
  int max_watches = 10000;
};

// Thread-safe: Handle() runs concurrently on the transport's threads.
class HttpHandler {
 public:
  HttpHandler(ApiServer& api, std::shared_ptr<const ApiDocuments> documents, HttpMetrics& metrics,
              HttpHandlerOptions options);

  // Answers one request; blocks in the ApiServer.
  HandlerResult Handle(HttpRequest request);

  // /readyz fails from now on.
  void SetShuttingDown() { shutting_down_.store(true, std::memory_order_release); }

  HttpMetrics& metrics() { return metrics_; }

 private:
  struct Call;
  struct Route;

  HandlerResult HandleNonResource(Call& call);
  HandlerResult HandleResource(Call& call, const Route& route);
  HttpResponse Health(Call& call, absl::string_view endpoint, absl::string_view check);

  HandlerResult Get(Call& call, const Route& route, const api::KindInfo& kind);
  HandlerResult List(Call& call, const Route& route, const api::KindInfo& kind);
  HandlerResult Watch(Call& call, const Route& route, const api::KindInfo& kind);
  HandlerResult Create(Call& call, const Route& route, const api::KindInfo& kind);
  HandlerResult Update(Call& call, const Route& route, const api::KindInfo& kind);
  HandlerResult Patch(Call& call, const Route& route, const api::KindInfo& kind);
  HandlerResult Delete(Call& call, const Route& route, const api::KindInfo& kind);
  HandlerResult DeleteCollection(Call& call, const Route& route, const api::KindInfo& kind);

  ApiServer& api_;
  const std::shared_ptr<const ApiDocuments> documents_;
  HttpMetrics& metrics_;
  const HttpHandlerOptions options_;
  std::atomic<bool> shutting_down_{false};
};

}  // namespace korch::apiserver::internal

#endif  // KORCH_LIB_APISERVER_HTTP_HANDLER_H_
