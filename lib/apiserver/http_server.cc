// The HTTP/1.1 (+TLS) transport of the Kubernetes REST protocol:
// Boost.Beast over Boost.Asio. Requests go to internal::HttpHandler.
//
// Threads. `threads` threads run one io_context. Each connection is a
// Session on its own strand: it reads a request (header and body under
// size limits and a deadline), calls the handler on the strand (the
// ApiServer call blocks that io thread, which is fine: calls are short and
// there are several threads), and writes the answer.
//
// Watches. WatchStream offers only a blocking Next(timeout), no readiness
// callback, so a watch needs a thread to wait in Next(). Polling every
// stream with Next(0) from asio timers would trade latency for CPU across
// all watchers (1,000 watchers polled every 10 ms is 100,000 wake-ups a
// second while idle, and still 10 ms late). Instead each watch gets one
// detached thread with a 512 KiB stack (virtual; a blocked thread touches a
// few pages, so 1,000 watchers cost some tens of MiB of memory and nothing
// in CPU while idle). The thread blocks in Next(), encodes events (batching
// what is already queued) and posts the bytes to the connection's strand,
// which writes them as chunks asynchronously; no io thread ever waits for a
// watcher. While streaming, the strand keeps a read pending on the socket
// so that a client that goes away cancels its WatchStream at once; a client
// that stops reading is ended when its backlog passes
// max_watch_backlog_bytes or a chunk write exceeds write_timeout. max_watches
// caps the threads (429 beyond it). A watch response carries
// "Connection: close": the connection ends with its stream.

#include "korch/apiserver/http_server.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>

#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "http_handler.h"
#include "http_metrics.h"
#include "korch/api/codec.h"
#include "korch/base/logging.h"
#include "korch/base/status.h"

namespace korch::apiserver {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

// The stack of a watch thread: Next() decodes protobufs and the encoder
// writes JSON, neither deeply recursive.
constexpr size_t kWatchThreadStack = 512 * 1024;
// How long a watch thread waits in Next() before looking again (Cancel()
// wakes it earlier).
constexpr absl::Duration kWatchWait = absl::Seconds(10);
// Events already waiting are sent together, up to this many bytes.
constexpr size_t kWatchBatchBytes = 64 * 1024;
// How long a closing connection reads and discards what the client still
// sends, so that the client reads our last answer rather than a reset.
constexpr absl::Duration kLingerTime = absl::Seconds(1);

std::chrono::steady_clock::duration Chrono(absl::Duration d) {
  if (d > absl::Hours(24 * 365)) d = absl::Hours(24 * 365);
  if (d < absl::ZeroDuration()) d = absl::ZeroDuration();
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(d));
}

internal::HttpResponse ErrorResponse(const absl::Status& status) {
  api::Status st = ToKubernetesStatus(status);
  internal::HttpResponse r;
  r.status = st.code() > 0 ? st.code() : 500;
  r.body = api::EncodeJson(st);
  return r;
}

class ServerImpl;

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Finish the current request (or end the watch) and close. Thread-safe.
  virtual void RequestShutdown() = 0;
};

class ServerImpl final : public HttpServer {
 public:
  static absl::StatusOr<std::unique_ptr<HttpServer>> Create(ApiServer& api,
                                                            HttpServerOptions options);
  ~ServerImpl() override { Shutdown(); }

  int port() const override { return port_; }
  std::string address() const override { return address_; }
  void Shutdown() override;
  HttpServerStats Stats() const override {
    HttpServerStats s;
    s.open_connections = metrics_.connections();
    s.active_watches = metrics_.watches();
    s.inflight_requests = metrics_.inflight();
    s.requests_total = metrics_.requests_total();
    return s;
  }

  const HttpServerOptions& options() const { return options_; }
  internal::HttpHandler& handler() { return *handler_; }
  internal::HttpMetrics& metrics() { return metrics_; }
  const Logger& log() const { return log_; }

  // Returns the session's id, or 0 when the server is stopping.
  uint64_t Register(std::weak_ptr<SessionBase> session) {
    absl::MutexLock lock(&mu_);
    if (stopping_) return 0;
    uint64_t id = next_id_++;
    sessions_.emplace(id, std::move(session));
    return id;
  }
  void Unregister(uint64_t id) {
    if (id == 0) return;
    absl::MutexLock lock(&mu_);
    sessions_.erase(id);
  }

  // Runs `body` on a new small-stack thread; false when the server is
  // stopping or no thread can be made. Shutdown() waits for these threads.
  bool SpawnWatchThread(std::function<void()> body);

 private:
  struct WatchThreadArgs {
    ServerImpl* server;
    std::function<void()> body;
  };
  static void* WatchThreadMain(void* arg);

  ServerImpl(ApiServer& api, HttpServerOptions options)
      : api_(api), options_(std::move(options)), log_("apiserver.http") {}

  void DoAccept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  void RunIo();

  ApiServer& api_;
  const HttpServerOptions options_;
  Logger log_;
  internal::HttpMetrics metrics_;
  std::unique_ptr<internal::HttpHandler> handler_;
  std::unique_ptr<ssl::context> tls_;
  int port_ = 0;
  std::string address_;

  absl::Mutex shutdown_mu_;  // serializes Shutdown()
  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, std::weak_ptr<SessionBase>> sessions_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  int watch_threads_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  // Set when Create() succeeded: the threads run.
  bool started_ ABSL_GUARDED_BY(mu_) = false;

  // Declared last: destroyed first, while what sessions use still exists.
  std::unique_ptr<net::io_context> ioc_;
  // Keeps the io threads running when no operation is pending (watch
  // threads post to the io_context at any time) until Shutdown() stops it.
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::unique_ptr<net::steady_timer> accept_retry_;
  std::vector<std::thread> threads_;
};

// One connection. All socket operations and all members below run on the
// connection's strand, except backlog_ (atomic) and the watch thread's
// ProduceEvents(), which touches only its HttpWatch and posts to the strand.
template <bool kTls>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<kTls>> {
 public:
  using Stream = std::conditional_t<kTls, beast::ssl_stream<beast::tcp_stream>, beast::tcp_stream>;

  Session(ServerImpl& server, tcp::socket socket) requires(!kTls)
      : server_(server), stream_(std::move(socket)) {
    server_.metrics().ConnectionOpened();
  }
  Session(ServerImpl& server, tcp::socket socket, ssl::context& tls) requires(kTls)
      : server_(server), stream_(std::move(socket), tls) {
    server_.metrics().ConnectionOpened();
  }
  ~Session() override {
    server_.Unregister(id_);
    server_.metrics().ConnectionClosed();
  }

  void Start(uint64_t id) {
    id_ = id;
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->Begin(); });
  }

  void RequestShutdown() override {
    net::post(stream_.get_executor(),
              [self = this->shared_from_this()] { self->OnShutdownRequest(); });
  }

 private:
  enum class State { kHandshake, kIdle, kReading, kHandling, kWriting, kWatching, kClosing };

  beast::tcp_stream& tcp() { return beast::get_lowest_layer(stream_); }
  const HttpServerOptions& options() const { return server_.options(); }

  void Begin() {
    if constexpr (kTls) {
      state_ = State::kHandshake;
      tcp().expires_after(Chrono(options().request_read_timeout));
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) {
                                  // A bad client certificate ends here.
                                  self->CloseNow();
                                  return;
                                }
                                self->TakePeerCertificate();
                                self->ReadRequest();
                              });
    } else {
      ReadRequest();
    }
  }

  void TakePeerCertificate() {
    if constexpr (kTls) {
      SSL* ssl = stream_.native_handle();
      X509* cert = SSL_get_peer_certificate(ssl);
      if (cert == nullptr) return;
      if (SSL_get_verify_result(ssl) == X509_V_OK) {
        int len = i2d_X509(cert, nullptr);
        if (len > 0) {
          std::string der(static_cast<size_t>(len), '\0');
          auto* p = reinterpret_cast<unsigned char*>(der.data());
          i2d_X509(cert, &p);
          client_cert_der_ = std::move(der);
        }
      }
      X509_free(cert);
    }
  }

  // Waits (up to the idle timeout) for the first byte of the next request,
  // then reads it under the request deadline.
  void ReadRequest() {
    if (shutdown_requested_) return Close();
    if (buffer_.size() > 0) return ReadHeader();
    state_ = State::kIdle;
    tcp().expires_after(Chrono(options().idle_timeout));
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              self->buffer_.commit(n);
                              // Nothing of a request came: no answer is
                              // owed, so close without lingering.
                              if (ec || n == 0) return self->CloseNow();
                              self->ReadHeader();
                            });
  }

  void ReadHeader() {
    state_ = State::kReading;
    parser_.emplace();
    parser_->body_limit(options().max_request_body_bytes);
    parser_->header_limit(static_cast<uint32_t>(options().max_request_header_bytes));
    tcp().expires_after(Chrono(options().request_read_timeout));
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    const auto& req = parser_->get();
    if (beast::iequals(req[http::field::expect], "100-continue") && !parser_->is_done()) {
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_,
                                                                     req.version());
      http::async_write(stream_, *cont,
                        [self = this->shared_from_this(), cont](beast::error_code ec, size_t) {
                          if (ec) return self->CloseNow();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    if (parser_->is_done()) return OnRequest();
    tcp().expires_after(Chrono(options().request_read_timeout));
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->OnReadError(ec);
                       self->OnRequest();
                     });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      keep_alive_ = false;
      return WriteResponse(ErrorResponse(
          WithReason(absl::ResourceExhaustedError(absl::StrCat(
                         "Request entity too large: limit is ", options().max_request_body_bytes)),
                     "RequestEntityTooLarge", 413)));
    }
    if (ec == http::error::header_limit) {
      keep_alive_ = false;
      return WriteResponse(
          ErrorResponse(WithReason(absl::ResourceExhaustedError("Request header fields too large"),
                                   "RequestHeaderFieldsTooLarge", 431)));
    }
    if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      keep_alive_ = false;
      return WriteResponse(ErrorResponse(WithReason(
          absl::InvalidArgumentError(absl::StrCat("malformed HTTP request: ", ec.message())),
          "BadRequest", 400)));
    }
    // End of stream, a timeout (a slow client), a reset: nothing to answer.
    CloseNow();
  }

  void OnRequest() {
    http::request<http::string_body> req = parser_->release();
    parser_.reset();
    state_ = State::kHandling;
    tcp().expires_never();
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    head_ = req.method() == http::verb::head;

    internal::HttpRequest request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    request.accept = std::string(req[http::field::accept]);
    request.content_type = std::string(req[http::field::content_type]);
    request.authorization = std::string(req[http::field::authorization]);
    request.user_agent = std::string(req[http::field::user_agent]);
    for (const auto& field : req) {
      const absl::string_view name(field.name_string().data(), field.name_string().size());
      if (absl::StartsWithIgnoreCase(name, "impersonate-")) {
        request.impersonation_header = std::string(name);
        break;
      }
    }
    request.body = std::move(req.body());
    request.client_cert_der = client_cert_der_;

    internal::HandlerResult result;
    try {
      result = server_.handler().Handle(std::move(request));
    } catch (const std::exception& e) {
      // The handler reports errors as Statuses; this only catches a library
      // (JSON) exception that must not take the server down.
      KORCH_LOG(server_.log(), kError) << "request failed with an exception: " << e.what();
      result.response = ErrorResponse(absl::InternalError("internal error"));
      result.watch.reset();
    }
    if (result.watch != nullptr) return StartWatch(std::move(result.watch));
    WriteResponse(std::move(result.response));
  }

  void WriteResponse(internal::HttpResponse r) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(version_);
    res->result(static_cast<unsigned>(r.status));
    res->set(http::field::content_type, r.content_type);
    for (const auto& [name, value] : r.headers) res->insert(name, value);
    res->body() = std::move(r.body);
    res->keep_alive(keep_alive_ && !shutdown_requested_);
    res->prepare_payload();
    if (head_) res->body().clear();  // Content-Length stays that of the body
    state_ = State::kWriting;
    tcp().expires_after(Chrono(options().write_timeout));
    http::async_write(stream_, *res,
                      [self = this->shared_from_this(), res](beast::error_code ec, size_t) {
                        if (ec) return self->CloseNow();
                        if (!res->keep_alive() || self->shutdown_requested_) return self->Close();
                        self->ReadRequest();
                      });
  }

  // ---- Watches ----

  void StartWatch(std::shared_ptr<internal::HttpWatch> watch) {
    state_ = State::kWatching;
    watch_ = watch;
    queue_ = watch->initial;
    if (watch->stream == nullptr) {
      producer_done_ = true;
    } else if (shutdown_requested_ ||
               !server_.SpawnWatchThread(
                   [self = this->shared_from_this(), watch] { self->ProduceEvents(*watch); })) {
      watch->code = 503;
      watch_.reset();
      queue_.clear();
      keep_alive_ = false;
      return WriteResponse(ErrorResponse(WithReason(
          absl::UnavailableError("the server cannot start another watch now; try again later"),
          "ServiceUnavailable", 503)));
    }
    header_ = std::make_unique<http::response<http::empty_body>>(http::status::ok, version_);
    header_->set(http::field::content_type, watch->content_type);
    header_->set(http::field::cache_control, "no-cache, private");
    header_->chunked(true);
    header_->keep_alive(false);
    serializer_ = std::make_unique<http::response_serializer<http::empty_body>>(*header_);
    write_in_flight_ = true;
    tcp().expires_after(Chrono(options().write_timeout));
    http::async_write_header(stream_, *serializer_,
                             [self = this->shared_from_this()](beast::error_code ec, size_t) {
                               self->write_in_flight_ = false;
                               if (ec) return self->EndWatch();
                               self->header_written_ = true;
                               // The disconnect detector's read must not
                               // inherit the header write's deadline.
                               self->tcp().expires_never();
                               self->DetectDisconnect();
                               self->MaybeWrite();
                             });
  }

  // On the watch thread: waits for events and hands their lines to the
  // strand until the stream ends.
  void ProduceEvents(internal::HttpWatch& watch) {
    const size_t max_backlog = options().max_watch_backlog_bytes;
    while (true) {
      absl::StatusOr<WatchEvent> event = watch.stream->Next(kWatchWait);
      if (!event.ok()) {
        if (event.status().code() == absl::StatusCode::kDeadlineExceeded) continue;
        Deliver(watch.EndLine(event.status()), true);
        return;
      }
      std::string lines = watch.Encode(*event);
      bool ended = false;
      while (lines.size() < kWatchBatchBytes) {
        absl::StatusOr<WatchEvent> more = watch.stream->Next(absl::ZeroDuration());
        if (more.ok()) {
          lines += watch.Encode(*more);
          continue;
        }
        if (more.status().code() != absl::StatusCode::kDeadlineExceeded) {
          lines += watch.EndLine(more.status());
          ended = true;
        }
        break;
      }
      if (backlog_.load(std::memory_order_relaxed) + lines.size() > max_backlog) {
        // The client does not read: end its watch; it re-lists and watches
        // again, as with Kubernetes.
        KORCH_LOG(server_.log(), kWarning) << "ending a watch whose client fell behind";
        watch.stream->Cancel();
        Deliver("", true);
        return;
      }
      Deliver(std::move(lines), ended);
      if (ended) return;
    }
  }

  void Deliver(std::string lines, bool end) {
    backlog_.fetch_add(lines.size(), std::memory_order_relaxed);
    net::post(stream_.get_executor(), [self = this->shared_from_this(), lines = std::move(lines),
                                       end]() mutable { self->OnOutput(std::move(lines), end); });
  }

  void OnOutput(std::string lines, bool end) {
    if (state_ != State::kWatching) {
      backlog_.fetch_sub(lines.size(), std::memory_order_relaxed);
      return;
    }
    queue_ += lines;
    queued_from_thread_ += lines.size();
    if (end) producer_done_ = true;
    MaybeWrite();
  }

  void MaybeWrite() {
    if (state_ != State::kWatching || !header_written_ || write_in_flight_) return;
    if (!queue_.empty()) {
      writing_.swap(queue_);
      queue_.clear();
      writing_from_thread_ = queued_from_thread_;
      queued_from_thread_ = 0;
      write_in_flight_ = true;
      tcp().expires_after(Chrono(options().write_timeout));
      net::async_write(stream_, http::make_chunk(net::buffer(writing_)),
                       [self = this->shared_from_this()](beast::error_code ec, size_t) {
                         self->write_in_flight_ = false;
                         self->backlog_.fetch_sub(self->writing_from_thread_,
                                                  std::memory_order_relaxed);
                         self->writing_from_thread_ = 0;
                         self->writing_.clear();
                         if (ec) return self->EndWatch();
                         self->MaybeWrite();
                       });
      return;
    }
    if (producer_done_) {
      write_in_flight_ = true;
      tcp().expires_after(Chrono(options().write_timeout));
      net::async_write(stream_, http::make_chunk_last(),
                       [self = this->shared_from_this()](beast::error_code, size_t) {
                         self->write_in_flight_ = false;
                         self->EndWatch();
                       });
      return;
    }
    tcp().expires_never();
  }

  // Keeps a read pending while streaming: it completes only when the client
  // closes (or resets) the connection.
  void DetectDisconnect() {
    stream_.async_read_some(
        net::buffer(discard_), [self = this->shared_from_this()](beast::error_code ec, size_t) {
          if (self->state_ != State::kWatching) return;
          if (ec) return self->EndWatch();
          self->DetectDisconnect();  // bytes from a client that should be silent: ignored
        });
  }

  void EndWatch() {
    if (state_ != State::kWatching) return;
    if (watch_ != nullptr && watch_->stream != nullptr) watch_->stream->Cancel();
    watch_.reset();
    queue_.clear();
    CloseNow();
  }

  void OnShutdownRequest() {
    shutdown_requested_ = true;
    switch (state_) {
      case State::kHandshake:
      case State::kIdle:
      case State::kReading:
        tcp().cancel();  // the pending read fails and the session closes
        break;
      case State::kWatching:
        // The watch thread sees the end, the last chunk goes out, and the
        // connection closes.
        if (watch_ != nullptr && watch_->stream != nullptr) watch_->stream->Cancel();
        break;
      default:
        break;  // the response in progress is the last one
    }
  }

  // Half-closes and discards what the client still sends for a moment, so
  // that it reads our last answer instead of a connection reset.
  void Close() {
    if (state_ == State::kClosing) return;
    state_ = State::kClosing;
    beast::error_code ec;
    tcp().socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return CloseNow();
    tcp().expires_after(Chrono(kLingerTime));
    Linger();
  }

  void Linger() {
    tcp().async_read_some(net::buffer(discard_),
                          [self = this->shared_from_this()](beast::error_code ec, size_t) {
                            if (ec) return self->CloseNow();
                            self->Linger();
                          });
  }

  void CloseNow() {
    state_ = State::kClosing;
    tcp().close();
  }

  ServerImpl& server_;
  Stream stream_;
  uint64_t id_ = 0;
  State state_ = State::kIdle;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<std::string> client_cert_der_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool head_ = false;
  bool shutdown_requested_ = false;
  std::array<char, 512> discard_;

  // The watch being streamed.
  std::shared_ptr<internal::HttpWatch> watch_;
  std::unique_ptr<http::response<http::empty_body>> header_;
  std::unique_ptr<http::response_serializer<http::empty_body>> serializer_;
  bool header_written_ = false;
  bool write_in_flight_ = false;
  bool producer_done_ = false;
  std::string queue_;    // lines waiting to be written
  std::string writing_;  // the chunk being written
  size_t queued_from_thread_ = 0;
  size_t writing_from_thread_ = 0;
  // Bytes the watch thread handed over that are not written yet.
  std::atomic<size_t> backlog_{0};
};

// ---- ServerImpl ------------------------------------------------------------------

struct ListenAddress {
  std::string host;
  uint16_t port = 0;
};

absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view address) {
  ListenAddress out;
  absl::string_view host, port;
  if (!address.empty() && address[0] == '[') {
    size_t close = address.find("]:");
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "listen address \"", address, "\" must be [IPv6]:PORT (e.g. \"[::1]:6443\")"));
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "listen address \"", address, "\" must be HOST:PORT (e.g. \"127.0.0.1:6443\")"));
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  int p = 0;
  if (!absl::SimpleAtoi(port, &p) || p < 0 || p > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address \"", address, "\" has an invalid port"));
  }
  out.host = host.empty() ? "0.0.0.0" : std::string(host);
  if (out.host == "localhost") out.host = "127.0.0.1";
  out.port = static_cast<uint16_t>(p);
  return out;
}

absl::StatusOr<std::unique_ptr<ssl::context>> MakeTlsContext(const HttpServerOptions& o) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  beast::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use,
                   ec);
  if (!o.tls_cert_pem.empty()) {
    ctx->use_certificate_chain(net::buffer(o.tls_cert_pem), ec);
  } else if (!o.tls_cert_file.empty()) {
    ctx->use_certificate_chain_file(o.tls_cert_file, ec);
  } else {
    return absl::InvalidArgumentError(
        "TLS needs a serving certificate: set tls_cert_file or tls_cert_pem (or plain_http to "
        "serve plain HTTP)");
  }
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load the serving certificate: ", ec.message()));
  }
  if (!o.tls_key_pem.empty()) {
    ctx->use_private_key(net::buffer(o.tls_key_pem), ssl::context::pem, ec);
  } else if (!o.tls_key_file.empty()) {
    ctx->use_private_key_file(o.tls_key_file, ssl::context::pem, ec);
  } else {
    return absl::InvalidArgumentError(
        "TLS needs the serving certificate's private key: set tls_key_file or tls_key_pem");
  }
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load the serving private key: ", ec.message()));
  }
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the private key does not match the serving certificate");
  }
  if (o.client_ca_pem.empty() && o.client_ca_file.empty()) return ctx;

  // Client certificates: asked for (their CA names sent in the handshake),
  // verified against the CA, optional (token clients send none).
  SSL_CTX* native = ctx->native_handle();
  if (!o.client_ca_pem.empty()) {
    ctx->add_certificate_authority(net::buffer(o.client_ca_pem), ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot load the client CA certificates: ", ec.message()));
    }
    BIO* bio = BIO_new_mem_buf(o.client_ca_pem.data(), static_cast<int>(o.client_ca_pem.size()));
    while (X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
      SSL_CTX_add_client_CA(native, ca);
      X509_free(ca);
    }
    BIO_free(bio);
    ERR_clear_error();
  } else {
    ctx->load_verify_file(o.client_ca_file, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot load the client CA file ", o.client_ca_file, ": ", ec.message()));
    }
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.client_ca_file.c_str())) {
      SSL_CTX_set_client_CA_list(native, names);
    }
    ERR_clear_error();
  }
  ctx->set_verify_mode(ssl::verify_peer, ec);
  static const unsigned char kSessionContext[] = "korch-apiserver";
  SSL_CTX_set_session_id_context(native, kSessionContext, sizeof(kSessionContext) - 1);
  if (ec) return absl::InternalError(ec.message());
  return ctx;
}

absl::StatusOr<std::unique_ptr<HttpServer>> ServerImpl::Create(ApiServer& api,
                                                               HttpServerOptions options) {
  KORCH_ASSIGN_OR_RETURN(ListenAddress where, ParseListenAddress(options.listen_address));
  beast::error_code ec;
  net::ip::address ip = net::ip::make_address(where.host, ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat("listen address \"", options.listen_address,
                                                   "\": \"", where.host,
                                                   "\" is not an IP address"));
  }
  if (options.max_connections < 1 || options.max_watches < 0) {
    return absl::InvalidArgumentError("max_connections must be positive, max_watches >= 0");
  }

  std::unique_ptr<ServerImpl> server(new ServerImpl(api, std::move(options)));
  const HttpServerOptions& o = server->options_;
  if (!o.plain_http) {
    KORCH_ASSIGN_OR_RETURN(server->tls_, MakeTlsContext(o));
  }

  int threads = o.threads;
  if (threads <= 0) {
    threads = std::max(4, 2 * static_cast<int>(std::thread::hardware_concurrency()));
  }
  server->ioc_ = std::make_unique<net::io_context>(threads);
  server->work_.emplace(server->ioc_->get_executor());
  server->acceptor_ = std::make_unique<tcp::acceptor>(net::make_strand(*server->ioc_));
  server->accept_retry_ = std::make_unique<net::steady_timer>(server->acceptor_->get_executor());
  tcp::endpoint endpoint(ip, where.port);
  tcp::acceptor& acceptor = *server->acceptor_;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", o.listen_address, ": ", ec.message()));
  }
  server->port_ = acceptor.local_endpoint(ec).port();
  server->address_ = ip.is_v6() ? absl::StrCat("[", where.host, "]:", server->port_)
                                : absl::StrCat(where.host, ":", server->port_);

  std::shared_ptr<const ApiDocuments> documents = o.documents;
  if (documents == nullptr) {
    ApiDocumentsOptions doc_options;
    doc_options.server_address = server->address_;
    KORCH_ASSIGN_OR_RETURN(documents, ApiDocuments::Build(api.scheme(), doc_options));
  }
  internal::HttpHandlerOptions handler_options;
  handler_options.min_watch_timeout = o.min_watch_timeout;
  handler_options.bookmark_interval = o.bookmark_interval;
  handler_options.max_watches = o.max_watches;
  server->handler_ = std::make_unique<internal::HttpHandler>(api, std::move(documents),
                                                             server->metrics_, handler_options);

  server->DoAccept();
  for (int i = 0; i < threads; ++i) {
    server->threads_.emplace_back([s = server.get()] { s->RunIo(); });
  }
  {
    absl::MutexLock lock(&server->mu_);
    server->started_ = true;
  }
  KORCH_LOG(server->log_, kInfo) << "serving the Kubernetes API on "
                                 << (o.plain_http ? "http://" : "https://") << server->address_;
  return std::unique_ptr<HttpServer>(std::move(server));
}

void ServerImpl::RunIo() {
  while (true) {
    try {
      ioc_->run();
      return;
    } catch (const std::exception& e) {
      KORCH_LOG(log_, kError) << "an io handler threw: " << e.what();
    }
  }
}

void ServerImpl::DoAccept() {
  acceptor_->async_accept(
      net::make_strand(*ioc_),
      [this](beast::error_code ec, tcp::socket socket) { OnAccept(ec, std::move(socket)); });
}

void ServerImpl::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor_->is_open()) return;
  if (ec) {
    // Out of descriptors, typically: try again shortly rather than spin.
    KORCH_LOG(log_, kWarning) << "accept failed: " << ec.message();
    accept_retry_->expires_after(std::chrono::milliseconds(50));
    accept_retry_->async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec && acceptor_->is_open()) DoAccept();
    });
    return;
  }
  if (metrics_.connections() >= options_.max_connections) {
    beast::error_code ignored;
    socket.close(ignored);
  } else {
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    if (tls_ != nullptr) {
      auto session = std::make_shared<Session<true>>(*this, std::move(socket), *tls_);
      if (uint64_t id = Register(session)) session->Start(id);
    } else {
      auto session = std::make_shared<Session<false>>(*this, std::move(socket));
      if (uint64_t id = Register(session)) session->Start(id);
    }
  }
  DoAccept();
}

bool ServerImpl::SpawnWatchThread(std::function<void()> body) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return false;
    ++watch_threads_;
  }
  auto* args = new WatchThreadArgs{this, std::move(body)};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kWatchThreadStack);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t thread;
  int rc = pthread_create(&thread, &attr, &ServerImpl::WatchThreadMain, args);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    KORCH_LOG(log_, kWarning) << "cannot start a watch thread: error " << rc;
    delete args;
    absl::MutexLock lock(&mu_);
    --watch_threads_;
    return false;
  }
  return true;
}

void* ServerImpl::WatchThreadMain(void* arg) {
  auto* args = static_cast<WatchThreadArgs*>(arg);
  ServerImpl* server = args->server;
  {
    std::function<void()> body = std::move(args->body);
    delete args;
    try {
      body();
    } catch (const std::exception& e) {
      KORCH_LOG(server->log_, kError) << "a watch stream threw: " << e.what();
    }
    // `body` and what it holds (the session) go here, before the server
    // may be destroyed.
  }
  absl::MutexLock lock(&server->mu_);
  --server->watch_threads_;
  return nullptr;
}

void ServerImpl::Shutdown() {
  absl::MutexLock serial(&shutdown_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopping_ = true;
    if (!started_) {
      // Create() failed half-way: no thread runs and no session exists.
      stopped_ = true;
      return;
    }
  }
  handler_->SetShuttingDown();
  net::post(acceptor_->get_executor(), [this] {
    beast::error_code ignored;
    acceptor_->close(ignored);
    accept_retry_->cancel();
  });

  auto ask_sessions = [this] {
    std::vector<std::shared_ptr<SessionBase>> live;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [id, weak] : sessions_) {
        if (std::shared_ptr<SessionBase> s = weak.lock()) live.push_back(std::move(s));
      }
    }
    for (const std::shared_ptr<SessionBase>& s : live) s->RequestShutdown();
  };
  ask_sessions();
  {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](ServerImpl* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
                               return s->sessions_.empty() && s->watch_threads_ == 0;
                             },
                             this),
                         options_.shutdown_grace);
    if (!sessions_.empty() || watch_threads_ > 0) {
      KORCH_LOG(log_, kWarning) << "shutdown: " << sessions_.size() << " connections and "
                                << watch_threads_
                                << " watches still open after the grace period; closing them";
    }
  }
  // Whatever is left: end its watch (the threads must be gone before the
  // io_context they post to), then stop.
  ask_sessions();
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](ServerImpl* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) { return s->watch_threads_ == 0; },
        this));
  }
  work_.reset();
  ioc_->stop();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  accept_retry_.reset();
  acceptor_.reset();
  ioc_.reset();  // destroys the sessions still referenced by pending handlers
  absl::MutexLock lock(&mu_);
  stopped_ = true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(ApiServer& api,
                                                              HttpServerOptions options) {
  return ServerImpl::Create(api, std::move(options));
}

}  // namespace korch::apiserver
