// The Kubernetes REST protocol over HTTP/1.1 (and TLS) in front of an
// ApiServer: what kubectl, client-go and the Python client talk to.
//
//   GET    /api/v1/namespaces/default/pods            list (or watch with ?watch=true)
//   POST   /apis/apps/v1/namespaces/default/deployments
//   PATCH  /apis/apps/v1/namespaces/default/deployments/web/scale
//   GET    /version, /api, /apis, /openapi/v2, /healthz, /readyz, /metrics, ...
//
// Every request is authenticated with the ApiServer's authenticator (the
// verified TLS client certificate and the `Authorization: Bearer` token) and
// authorized; failures are Kubernetes Status objects with the HTTP code of
// their reason (401, 403, 404, 409, 410, 415, 422, ...).
//
// Transport: Boost.Beast over Boost.Asio, `threads` threads running one
// io_context. A request is read (header and body bounded in size and time),
// handled on the thread that read it (ApiServer calls block that thread),
// and answered; connections are kept alive. A watch answers with a chunked
// stream of one JSON event per line and pins no io thread: each watch has
// one small-stack thread that blocks in WatchStream::Next() and hands the
// encoded lines to the connection's strand, which writes them asynchronously
// and reads the socket to notice a client that went away (then the
// WatchStream is cancelled). See lib/apiserver/http_server.cc for why.
//
// Thread-safe. The HttpServer borrows the ApiServer, which must outlive it.

#ifndef KORCH_APISERVER_HTTP_SERVER_H_
#define KORCH_APISERVER_HTTP_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "korch/apiserver/discovery.h"
#include "korch/apiserver/server.h"
#include "korch/export.h"

namespace korch::apiserver {

struct HttpServerOptions {
  // "host:port" to listen on; port 0 picks a free port (see
  // HttpServer::port()). IPv6 hosts in brackets: "[::1]:6443".
  std::string listen_address = "127.0.0.1:6443";

  // Serve plain HTTP instead of TLS. Off by default: set it explicitly, for
  // development on loopback only; clients then have no client certificate.
  bool plain_http = false;

  // The serving certificate (chain) and its private key, PEM. Either the
  // file paths or the PEM text itself; required unless plain_http.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_cert_pem;
  std::string tls_key_pem;
  // CA certificates (PEM) that client certificates must chain to
  // (Kubernetes' --client-ca-file). When set, a client certificate is
  // verified at the TLS handshake (a bad one fails the handshake) and the
  // verified leaf goes to the authenticators; clients may also come without
  // one (bearer tokens). Empty: client certificates are not asked for.
  std::string client_ca_file;
  std::string client_ca_pem;

  // Threads running the io_context, which also run the (blocking)
  // ApiServer calls of plain requests. 0: 2 x hardware threads, at least 4.
  int threads = 0;
  // Open connections beyond this are closed as soon as they are accepted.
  int max_connections = 20000;
  // Concurrent watches (each is one connection and one small thread);
  // beyond this a watch request gets 429 TooManyRequests.
  int max_watches = 10000;

  // The largest request body; larger ones get 413 RequestEntityTooLarge
  // (3 MiB, like Kubernetes).
  size_t max_request_body_bytes = 3 * 1024 * 1024;
  // The largest request header block (431 beyond it). Large enough for
  // OIDC bearer tokens.
  size_t max_request_header_bytes = 1024 * 1024;
  // From the first byte of a request to its last (header and body), and for
  // the TLS handshake: a client slower than this is disconnected, so a slow
  // client cannot hold a connection slot forever.
  absl::Duration request_read_timeout = absl::Seconds(60);
  // How long a kept-alive connection may wait for its next request.
  absl::Duration idle_timeout = absl::Seconds(90);
  // How long writing one response (or one watch chunk) may take; a client
  // that does not read is disconnected after it.
  absl::Duration write_timeout = absl::Seconds(60);
  // Encoded watch events waiting to be written to one slow client before
  // its watch is ended (it re-lists and watches again, as in Kubernetes).
  size_t max_watch_backlog_bytes = 16 * 1024 * 1024;
  // Watches without timeoutSeconds end after a random duration between this
  // and twice this (Kubernetes' --min-request-timeout), so long-lived
  // clients spread over servers. Zero: they never time out.
  absl::Duration min_watch_timeout = absl::Minutes(30);
  // How often watches send BOOKMARK events when the client allows them.
  absl::Duration bookmark_interval = absl::Minutes(1);

  // Discovery and OpenAPI documents. Null: built from the ApiServer's
  // scheme at Start() with default ApiDocumentsOptions and the bound
  // address as server_address.
  std::shared_ptr<const ApiDocuments> documents;

  // Shutdown() waits this long for in-flight requests and the last chunks
  // of ended watches before it closes the remaining connections.
  absl::Duration shutdown_grace = absl::Seconds(10);
};

// Counters of a running server (also exported at /metrics).
struct HttpServerStats {
  int64_t open_connections = 0;
  int64_t active_watches = 0;
  int64_t inflight_requests = 0;
  int64_t requests_total = 0;
};

class KORCH_EXPORT HttpServer {
 public:
  // Binds, starts the threads and serves until Shutdown() or destruction.
  // kInvalidArgument for bad options (a malformed address, missing or bad
  // TLS material), kUnavailable when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(ApiServer& api,
                                                           HttpServerOptions options);
  // Shuts down (see Shutdown()).
  virtual ~HttpServer() = default;

  // The bound port (the chosen one when listening on port 0).
  virtual int port() const = 0;
  // "host:port" as bound.
  virtual std::string address() const = 0;

  // Stops accepting, makes /readyz fail, ends every watch (each client sees
  // the end of its chunked stream), lets in-flight requests finish (up to
  // shutdown_grace), closes every connection and joins every thread.
  // Idempotent; blocks until done.
  virtual void Shutdown() = 0;

  virtual HttpServerStats Stats() const = 0;
};

}  // namespace korch::apiserver

#endif  // KORCH_APISERVER_HTTP_SERVER_H_
