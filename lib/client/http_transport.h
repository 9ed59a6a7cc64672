// The HTTP/1.1 transport of the HTTP client (internal to korch::client):
// connections to one API server (plain TCP or TLS, Boost.Beast over
// Boost.Asio), a pool of kept-alive ones, and streaming responses for
// watches. No Beast type appears here so that only http_transport.cc pays
// for Boost's headers.

#ifndef KORCH_LIB_CLIENT_HTTP_TRANSPORT_H_
#define KORCH_LIB_CLIENT_HTTP_TRANSPORT_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "korch/client/http_client.h"

namespace korch::client::internal {

// The parts of an API server URL.
struct ServerUrl {
  bool tls = true;
  // Without brackets for IPv6 ("::1").
  std::string host;
  std::string port;
  // "" or "/prefix" (no trailing slash): put in front of every path.
  std::string base_path;
  // The Host header: host[:port], brackets kept for IPv6.
  std::string host_header;
};

// kInvalidArgument naming what is wrong with `url`.
absl::StatusOr<ServerUrl> ParseServerUrl(absl::string_view url);

// The absl code for an HTTP status code when no Status body says more.
absl::StatusCode CodeForHttpStatus(int http_code);

// One complete answer.
struct HttpAnswer {
  int status = 0;
  std::string content_type;
  std::string body;
};

// The body of a streaming answer (a watch) as it arrives. Read() is called
// by one thread at a time; Close() by any thread.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  // Blocks until more of the body came and appends it to `*out` (OK, maybe
  // with nothing appended), the answer ended (kOutOfRange), Close() was
  // called (kCancelled), or the connection broke (kUnavailable naming the
  // server).
  virtual absl::Status Read(std::string* out) = 0;
  // Closes the connection; a blocked Read() returns kCancelled soon. Any
  // thread.
  virtual void Close() = 0;
  // Closes the connection at once; only on the thread that calls Read(),
  // when it is done reading.
  virtual void CloseFromReader() = 0;
};

// A streaming answer's start: its status, and either the stream (200) or
// the whole body (any other status).
struct StreamStart {
  int status = 0;
  std::string body;
  std::unique_ptr<ResponseStream> stream;
};

// Thread-safe.
class Transport {
 public:
  // kInvalidArgument / kNotFound for bad options (see NewHttpClient()).
  static absl::StatusOr<std::unique_ptr<Transport>> Create(const HttpClientOptions& options);
  virtual ~Transport() = default;

  // One request on a pooled connection. `target` is the path and query
  // (the base path is added here). A connection the server had closed
  // while idle is replaced once for GET. kUnavailable when the server
  // cannot be reached, kDeadlineExceeded when no answer came within
  // request_timeout.
  virtual absl::StatusOr<HttpAnswer> Request(absl::string_view method, absl::string_view target,
                                             absl::string_view content_type, std::string body) = 0;
  // A GET whose answer is streamed, on a connection of its own.
  virtual absl::StatusOr<StreamStart> Stream(absl::string_view target,
                                             absl::Duration stream_read_timeout) = 0;

  // The server URL, for messages.
  virtual const std::string& server() const = 0;
};

}  // namespace korch::client::internal

#endif  // KORCH_LIB_CLIENT_HTTP_TRANSPORT_H_
