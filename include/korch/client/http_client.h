// A Client that talks to an API server over HTTP(S) with the Kubernetes REST
// protocol: korch's own HttpServer (korch/apiserver/http_server.h) or a real
// Kubernetes API server. Components built on Client (informers, work-queue
// controllers, the scheduler adapter, the node agent) run unchanged in
// another process or on another machine with it.
//
//   KORCH_ASSIGN_OR_RETURN(HttpClientOptions options,
//                          LoadKubeconfig("/var/lib/korch/admin.kubeconfig"));
//   KORCH_ASSIGN_OR_RETURN(std::unique_ptr<Client> client, NewHttpClient(options));
//   auto pod = client->Get<api::Pod>("default", "web");
//
// Requests: JSON bodies encoded with korch's codec (kind and apiVersion
// set); answers decoded leniently (fields this korch does not know are
// ignored, as client-go does) into the type the answer's kind and
// apiVersion name. Errors are the server's Status objects turned back into
// absl::Status with FromKubernetesStatus(): the same code as the server's
// own status, the server's message, the reason and HTTP code attached with
// apiserver::WithReason() and the field errors of an Invalid answer
// recoverable with api::InvalidCauses(). A server that cannot be reached
// (refused, reset, TLS failure) is kUnavailable naming the server; a request
// that gets no answer within request_timeout is kDeadlineExceeded.
//
// Watches: one streaming GET per WatchStream, read by a thread the stream
// owns; events are queued (at most WatchOptions::max_pending_events, beyond
// which the stream ends with kResourceExhausted) until Next() takes them.
// An ERROR event ends the stream with its status (410 Expired: kOutOfRange);
// the end of the response or a broken connection ends it with kUnavailable;
// Cancel() closes the connection at once and ends it with kCancelled.
// WatchOptions::bookmark_interval is the server's to choose over HTTP.
// Unlike the in-process client, a resource version that is already
// compacted shows at the first Next() (kOutOfRange), not at Watch(), since
// servers answer it with 200 and an ERROR event.
//
// Delete: Kubernetes answers the deletion of an object that is gone at once
// with a Status for every resource but pods, so DeleteResult::object is then
// an object of the kind with only metadata.name, namespace and uid set.
// DeleteResult::deleted is true for that answer and for an object answered
// without metadata.deletionTimestamp; for an answer with one (a pod in its
// grace period, an object with finalizers, or a pod that went just now), a
// GET asks the server whether the object is still there.
//
// Connections: a small pool of kept-alive connections per client (at most
// max_idle_connections idle ones; any number are opened when many threads
// call at once); watches use connections of their own. Thread-safe.

#ifndef KORCH_CLIENT_HTTP_CLIENT_H_
#define KORCH_CLIENT_HTTP_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "korch/api/meta.pb.h"
#include "korch/api/scheme.h"
#include "korch/client/client.h"
#include "korch/export.h"

namespace korch::client {

struct HttpClientOptions {
  // The server's URL: "https://host:port" or "http://host:port", with an
  // optional path prefix ("https://proxy.example/k8s"). IPv6 hosts in
  // brackets. The port defaults to 443 / 80. Required.
  std::string server;

  // CA certificates (PEM) that the server's certificate must chain to: the
  // file's path or the PEM text. Neither: the system's trusted CAs.
  std::string ca_file;
  std::string ca_pem;
  // Skip verifying the server's certificate (kubeconfig's
  // insecure-skip-tls-verify). For tests and development only.
  bool insecure_skip_tls_verify = false;
  // The name the server's certificate must be valid for (and the TLS SNI
  // name) when it differs from the URL's host (kubeconfig's
  // tls-server-name).
  std::string tls_server_name;

  // A client certificate (chain) and its private key, PEM: file paths or
  // the PEM text. Both or neither.
  std::string client_cert_file;
  std::string client_cert_pem;
  std::string client_key_file;
  std::string client_key_pem;

  // Sent as `Authorization: Bearer <token>` on every request when set.
  std::string bearer_token;

  // Opening a connection (name resolution, TCP connect and TLS handshake).
  absl::Duration connect_timeout = absl::Seconds(10);
  // Writing one request and reading its whole answer (for a watch: its
  // response header). Not applied to the events of a watch.
  absl::Duration request_timeout = absl::Seconds(60);
  // Kept-alive connections kept open for later requests; more are opened
  // (and closed after use) when more requests run at once.
  int max_idle_connections = 8;
  // An idle connection older than this is closed instead of reused (below
  // the server's idle timeout, so that a request rarely meets a connection
  // the server is closing; Kubernetes' is 90 s).
  absl::Duration idle_connection_timeout = absl::Seconds(45);
  // The largest answer accepted (a LIST of many objects can be large).
  size_t max_response_bytes = size_t{1} << 30;
  // The User-Agent header.
  std::string user_agent = "korch-client";

  // The kinds the client knows (and decodes answers into). Null:
  // api::Scheme::Builtin(). Borrowed; must outlive the client.
  const api::Scheme* scheme = nullptr;
};

// A Client for the server of `options`. Certificates and keys are read and
// checked here: kInvalidArgument for a malformed URL or bad TLS material,
// kNotFound naming a file that does not exist. No connection is opened
// until the first request.
KORCH_EXPORT absl::StatusOr<std::unique_ptr<Client>> NewHttpClient(HttpClientOptions options);

// Options from a kubeconfig file (what kubectl reads): the cluster and user
// of `context` (empty: the file's current-context). Reads the cluster's
// server, certificate-authority(-data), insecure-skip-tls-verify and
// tls-server-name, and the user's client-certificate(-data),
// client-key(-data), token and tokenFile; relative paths are relative to
// the kubeconfig's directory, as kubectl resolves them. kNotFound when the
// file does not exist; kInvalidArgument naming what is missing or malformed;
// kUnimplemented for credentials korch cannot use (exec plugins,
// auth-provider, basic auth).
KORCH_EXPORT absl::StatusOr<HttpClientOptions> LoadKubeconfig(absl::string_view path,
                                                              absl::string_view context = "");
// The same from kubeconfig text; relative paths are relative to `base_dir`.
KORCH_EXPORT absl::StatusOr<HttpClientOptions> ParseKubeconfig(absl::string_view yaml,
                                                               absl::string_view base_dir,
                                                               absl::string_view context = "");

// The absl::Status for a Kubernetes Status (the inverse of
// apiserver::ToKubernetesStatus()): OK for status "Success"; otherwise the
// code by reason (NotFound kNotFound, AlreadyExists kAlreadyExists, Conflict
// kAborted, Invalid and BadRequest kInvalidArgument, Forbidden
// kPermissionDenied, Unauthorized kUnauthenticated, Expired and Gone
// kOutOfRange, TooManyRequests kResourceExhausted, ServiceUnavailable
// kUnavailable, Timeout kDeadlineExceeded, MethodNotAllowed kUnimplemented,
// InternalError kInternal, ...), or by HTTP code for other reasons (5xx:
// kUnavailable, 500 kInternal); the message is the Status message. The
// reason and code are attached with apiserver::WithReason(), and an
// Invalid status's causes are recoverable with api::InvalidCauses().
// `http_code` is used when the Status carries no code.
KORCH_EXPORT absl::Status FromKubernetesStatus(const api::Status& status, int http_code = 0);

}  // namespace korch::client

#endif  // KORCH_CLIENT_HTTP_CLIENT_H_
