// The HTTP client's transport: Beast over Asio, one io_context per
// connection.
//
// Each connection owns its io_context and is used by one thread at a time:
// an operation is started and the io_context is run on the calling thread
// until it completes, with the tcp_stream's timer bounding it. That keeps
// a blocking API (the Client interface is blocking) without a shared
// event-loop thread, and lets another thread interrupt a streaming read
// safely by posting a close to the connection's io_context (it runs on the
// reading thread, inside its run()).

#include "http_transport.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "korch/apiserver/pki.h"
#include "korch/base/status.h"

namespace korch::client::internal {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

using HttpRequest = http::request<http::string_body>;
using Parser = http::response_parser<http::string_body>;

std::chrono::steady_clock::duration Chrono(absl::Duration d) {
  if (d < absl::ZeroDuration()) d = absl::ZeroDuration();
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(d));
}

bool IsIpAddress(const std::string& host) {
  boost::system::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

// The first error in OpenSSL's queue as text (and clears the queue).
std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  std::string out = "unknown OpenSSL error";
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    out = buf;
  }
  ERR_clear_error();
  return out;
}

// Adds every certificate in `pem` to the context's trust store.
absl::Status AddCertificateAuthorities(SSL_CTX* ctx, absl::string_view pem,
                                       absl::string_view source) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return absl::InternalError("out of memory reading CA certificates");
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);  // a duplicate is not an error here
    X509_free(cert);
    ++added;
  }
  // The loop ends with "no start line" once the text is used up.
  ERR_clear_error();
  BIO_free(bio);
  if (added == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("no PEM certificate in the certificate authority ", source));
  }
  return absl::OkStatus();
}

// PEM text from the option's text or, when empty, from its file.
absl::StatusOr<std::string> PemFrom(const std::string& pem, const std::string& file) {
  if (!pem.empty()) return pem;
  if (file.empty()) return std::string();
  absl::StatusOr<std::string> text = apiserver::ReadFileToString(file);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat("cannot read ", file, ": ", text.status().message()));
  }
  return text;
}

absl::StatusOr<std::unique_ptr<ssl::context>> MakeTlsContext(const HttpClientOptions& o) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  SSL_CTX* native = ctx->native_handle();
  if (o.insecure_skip_tls_verify) {
    SSL_CTX_set_verify(native, SSL_VERIFY_NONE, nullptr);
  } else {
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
    KORCH_ASSIGN_OR_RETURN(std::string ca, PemFrom(o.ca_pem, o.ca_file));
    if (!ca.empty()) {
      KORCH_RETURN_IF_ERROR(AddCertificateAuthorities(
          native, ca, o.ca_pem.empty() ? absl::StrCat("file ", o.ca_file) : "PEM"));
    } else if (SSL_CTX_set_default_verify_paths(native) != 1) {
      return absl::InternalError(
          absl::StrCat("cannot load the system's CA certificates: ", OpenSslError()));
    }
  }

  KORCH_ASSIGN_OR_RETURN(std::string cert, PemFrom(o.client_cert_pem, o.client_cert_file));
  KORCH_ASSIGN_OR_RETURN(std::string key, PemFrom(o.client_key_pem, o.client_key_file));
  if (cert.empty() != key.empty()) {
    return absl::InvalidArgumentError(
        cert.empty() ? "a client key was given without its client certificate"
                     : "a client certificate was given without its private key");
  }
  if (!cert.empty()) {
    boost::system::error_code ec;
    ctx->use_certificate_chain(net::buffer(cert), ec);
    if (ec) {
      ERR_clear_error();
      return absl::InvalidArgumentError(
          absl::StrCat("the client certificate does not parse: ", ec.message()));
    }
    ctx->use_private_key(net::buffer(key), ssl::context::pem, ec);
    if (ec) {
      ERR_clear_error();
      return absl::InvalidArgumentError(
          absl::StrCat("the client key does not parse: ", ec.message()));
    }
    if (SSL_CTX_check_private_key(native) != 1) {
      ERR_clear_error();
      return absl::InvalidArgumentError("the client key is not the client certificate's key");
    }
  }
  return ctx;
}

// TCP keepalive probes after 30 s of silence, every 10 s, 3 of them: a
// watch on a server that vanished (no FIN, no RST) ends within about a
// minute instead of the kernel's default two hours. Best effort.
void EnableKeepAlive(int fd) {
  int on = 1, idle = 30, interval = 10, count = 3;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
}

// ---- Connections ----------------------------------------------------------------------

class Connection {
 public:
  explicit Connection(ssl::context* tls) {
    if (tls != nullptr) {
      tls_.emplace(ioc_, *tls);
    } else {
      plain_.emplace(ioc_);
    }
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  net::io_context& ioc() { return ioc_; }
  beast::flat_buffer& buffer() { return buffer_; }
  bool is_tls() const { return tls_.has_value(); }
  SSL* ssl() { return tls_->native_handle(); }
  beast::ssl_stream<beast::tcp_stream>& Tls() { return *tls_; }
  beast::tcp_stream& Lowest() { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }

  // Calls fn with the stream that carries HTTP (the TLS stream or the TCP
  // stream).
  template <class Fn>
  void With(Fn&& fn) {
    if (tls_) {
      fn(*tls_);
    } else {
      fn(*plain_);
    }
  }

  // Starts one operation and runs the io_context on this thread until it
  // completes; the stream's timer closes the socket after `timeout`
  // (InfiniteDuration: no limit), which completes it with
  // beast::error::timeout.
  template <class Start>
  beast::error_code Run(absl::Duration timeout, Start start) {
    if (timeout == absl::InfiniteDuration()) {
      Lowest().expires_never();
    } else {
      Lowest().expires_after(Chrono(timeout));
    }
    beast::error_code result = net::error::would_block;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  // False when the server closed (or wrote to) the connection while it was
  // idle: a kept-alive connection must have nothing to read between
  // requests.
  bool LooksUsable() {
    if (buffer_.size() != 0) return false;
    pollfd p{};
    p.fd = Lowest().socket().native_handle();
    p.events = POLLIN;
    return ::poll(&p, 1, 0) == 0;
  }

  absl::Time idle_since;

 private:
  // Declared first: the streams use it and go before it.
  net::io_context ioc_;
  std::optional<beast::tcp_stream> plain_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
  beast::flat_buffer buffer_;
};

// How one exchange went.
struct Exchange {
  absl::Status status;
  HttpAnswer answer;
  bool keep_alive = false;
  // Failed before any of the answer came, for a reason other than a
  // timeout: on a reused connection, the server probably closed it.
  bool nothing_received = false;
  bool write_failed = false;
};

// The streaming body of a watch.
class StreamImpl final : public ResponseStream {
 public:
  StreamImpl(std::unique_ptr<Connection> conn, std::unique_ptr<Parser> parser,
             absl::Duration read_timeout, std::string server)
      : conn_(std::move(conn)),
        parser_(std::move(parser)),
        read_timeout_(read_timeout),
        server_(std::move(server)) {
    // Not eager: each read_some then ends once the parser made some
    // progress (a chunk), instead of reading on until the answer ends.
    parser_->eager(false);
  }

  absl::Status Read(std::string* out) override {
    if (closed_.load(std::memory_order_acquire)) return absl::CancelledError("watch cancelled");
    if (parser_->is_done()) return absl::OutOfRangeError("the server ended the answer");
    beast::error_code ec = conn_->Run(read_timeout_, [&](auto handler) {
      conn_->With([&](auto& stream) {
        http::async_read_some(stream, conn_->buffer(), *parser_, std::move(handler));
      });
    });
    std::string& body = parser_->get().body();
    out->append(body);
    body.clear();
    if (closed_.load(std::memory_order_acquire)) return absl::CancelledError("watch cancelled");
    if (!ec || ec == http::error::end_of_chunk || ec == http::error::need_more) {
      return absl::OkStatus();
    }
    if (ec == beast::error::timeout) {
      return absl::UnavailableError(absl::StrCat("no data from the API server at ", server_,
                                                 " for ", absl::FormatDuration(read_timeout_)));
    }
    if (ec == http::error::end_of_stream || ec == net::error::eof) {
      return absl::UnavailableError(
          absl::StrCat("the API server at ", server_, " closed the connection"));
    }
    return absl::UnavailableError(
        absl::StrCat("reading from the API server at ", server_, ": ", ec.message()));
  }

  void CloseFromReader() override {
    closed_.store(true, std::memory_order_release);
    beast::error_code ignored;
    conn_->Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    conn_->Lowest().close();
  }

  void Close() override {
    if (closed_.exchange(true, std::memory_order_acq_rel)) return;
    // Runs on the reading thread inside its io_context.run() (or never, if
    // no read follows; the destructor closes the socket then).
    Connection* conn = conn_.get();
    net::post(conn->ioc(), [conn] {
      beast::error_code ignored;
      conn->Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
      conn->Lowest().close();
    });
  }

 private:
  std::unique_ptr<Connection> conn_;
  std::unique_ptr<Parser> parser_;
  const absl::Duration read_timeout_;
  const std::string server_;
  std::atomic<bool> closed_{false};
};

class TransportImpl final : public Transport {
 public:
  TransportImpl(const HttpClientOptions& options, ServerUrl url, std::unique_ptr<ssl::context> tls)
      : options_(options), url_(std::move(url)), tls_(std::move(tls)) {}

  const std::string& server() const override { return options_.server; }

  absl::StatusOr<HttpAnswer> Request(absl::string_view method, absl::string_view target,
                                     absl::string_view content_type, std::string body) override {
    HttpRequest req = MakeRequest(method, target);
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      req.set(http::field::content_type, std::string(content_type));
      req.body() = std::move(body);
    }
    req.prepare_payload();
    const bool idempotent = method == "GET" || method == "HEAD";
    const absl::Time deadline = absl::Now() + options_.request_timeout;
    for (int attempt = 0;; ++attempt) {
      std::unique_ptr<Connection> conn = TakeIdle();
      const bool reused = conn != nullptr;
      if (conn == nullptr) {
        absl::StatusOr<std::unique_ptr<Connection>> opened = Open();
        if (!opened.ok()) return opened.status();
        conn = *std::move(opened);
      }
      Exchange ex = DoExchange(*conn, req, deadline);
      if (ex.status.ok()) {
        if (ex.keep_alive) GiveBack(std::move(conn));
        return std::move(ex.answer);
      }
      // A kept-alive connection the server closed just as it was taken:
      // the request never reached the server, so sending it again on a new
      // connection is safe (for writes only if it could not be written).
      if (reused && attempt == 0 && ex.nothing_received && (ex.write_failed || idempotent)) {
        continue;
      }
      return ex.status;
    }
  }

  absl::StatusOr<StreamStart> Stream(absl::string_view target,
                                     absl::Duration stream_read_timeout) override {
    HttpRequest req = MakeRequest("GET", target);
    req.prepare_payload();
    const absl::Time deadline = absl::Now() + options_.request_timeout;
    KORCH_ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, Open());
    beast::error_code ec = conn->Run(deadline - absl::Now(), [&](auto handler) {
      conn->With([&](auto& stream) { http::async_write(stream, req, std::move(handler)); });
    });
    if (ec) return ExchangeError(ec, "sending the request to", target);
    auto parser = std::make_unique<Parser>();
    // A watch is as long as it lasts. (Not boost::none: Boost 1.74 then
    // refuses any answer with a Content-Length, such as an error.)
    parser->body_limit(std::numeric_limits<std::uint64_t>::max());
    ec = conn->Run(deadline - absl::Now(), [&](auto handler) {
      conn->With([&](auto& stream) {
        http::async_read_header(stream, conn->buffer(), *parser, std::move(handler));
      });
    });
    if (ec) return ExchangeError(ec, "reading the answer of", target);
    StreamStart start;
    start.status = parser->get().result_int();
    if (start.status != 200) {
      // An error answer: read it whole (it is a Status).
      ec = conn->Run(deadline - absl::Now(), [&](auto handler) {
        conn->With([&](auto& stream) {
          http::async_read(stream, conn->buffer(), *parser, std::move(handler));
        });
      });
      if (ec) return ExchangeError(ec, "reading the answer of", target);
      start.body = std::move(parser->get().body());
      return start;
    }
    start.stream = std::make_unique<StreamImpl>(std::move(conn), std::move(parser),
                                                stream_read_timeout, options_.server);
    return start;
  }

 private:
  HttpRequest MakeRequest(absl::string_view method, absl::string_view target) const {
    HttpRequest req;
    req.method(http::string_to_verb(beast::string_view(method.data(), method.size())));
    req.target(absl::StrCat(url_.base_path, target));
    req.version(11);
    req.set(http::field::host, url_.host_header);
    req.set(http::field::user_agent, options_.user_agent);
    req.set(http::field::accept, "application/json");
    if (!options_.bearer_token.empty()) {
      req.set(http::field::authorization, absl::StrCat("Bearer ", options_.bearer_token));
    }
    req.keep_alive(true);
    return req;
  }

  absl::Status ExchangeError(const beast::error_code& ec, absl::string_view doing,
                             absl::string_view target) const {
    if (ec == beast::error::timeout) {
      return absl::DeadlineExceededError(absl::StrCat(
          "no answer from the API server at ", options_.server, " within ",
          absl::FormatDuration(options_.request_timeout), " (", url_.base_path, target, ")"));
    }
    if (ec == http::error::body_limit) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the answer of the API server at ", options_.server, " to ", target,
                       " is larger than ", options_.max_response_bytes, " bytes"));
    }
    return absl::UnavailableError(
        absl::StrCat("error ", doing, " the API server at ", options_.server, ": ", ec.message()));
  }

  Exchange DoExchange(Connection& conn, const HttpRequest& req, absl::Time deadline) {
    Exchange ex;
    const std::string target(req.target());
    beast::error_code ec = conn.Run(deadline - absl::Now(), [&](auto handler) {
      conn.With([&](auto& stream) { http::async_write(stream, req, std::move(handler)); });
    });
    if (ec) {
      ex.status = ExchangeError(ec, "sending the request to", target);
      ex.write_failed = ec != beast::error::timeout;
      ex.nothing_received = ex.write_failed;
      return ex;
    }
    Parser parser;
    parser.body_limit(options_.max_response_bytes);
    ec = conn.Run(deadline - absl::Now(), [&](auto handler) {
      conn.With([&](auto& stream) {
        http::async_read(stream, conn.buffer(), parser, std::move(handler));
      });
    });
    if (ec) {
      ex.status = ExchangeError(ec, "reading the answer of", target);
      ex.nothing_received = !parser.got_some() && ec != beast::error::timeout;
      return ex;
    }
    auto& res = parser.get();
    ex.answer.status = res.result_int();
    ex.answer.content_type = std::string(res[http::field::content_type]);
    ex.answer.body = std::move(res.body());
    ex.keep_alive = res.keep_alive();
    return ex;
  }

  // A new connection: resolved, connected and (for https) handshaken
  // within connect_timeout.
  absl::StatusOr<std::unique_ptr<Connection>> Open() {
    const absl::Time deadline = absl::Now() + options_.connect_timeout;
    auto conn = std::make_unique<Connection>(tls_.get());
    auto unavailable = [&](absl::string_view what, absl::string_view detail) {
      return absl::UnavailableError(absl::StrCat(what, " the API server at ", options_.server,
                                                 detail.empty() ? "" : ": ", detail));
    };

    std::vector<tcp::endpoint> endpoints;
    boost::system::error_code ec;
    net::ip::address address = net::ip::make_address(url_.host, ec);
    uint16_t port = 0;
    {
      int p = 0;
      if (absl::SimpleAtoi(url_.port, &p)) port = static_cast<uint16_t>(p);
    }
    if (!ec) {
      endpoints.emplace_back(address, port);
    } else {
      // getaddrinfo has no timeout of its own; the resolver's are short.
      tcp::resolver resolver(conn->ioc());
      auto results = resolver.resolve(url_.host, url_.port, ec);
      if (ec) return unavailable("cannot resolve the host of", ec.message());
      for (const auto& r : results) endpoints.push_back(r.endpoint());
    }

    ec = conn->Run(deadline - absl::Now(), [&](auto handler) {
      conn->Lowest().async_connect(endpoints, std::move(handler));
    });
    if (ec == beast::error::timeout) {
      return unavailable(
          "timed out connecting to",
          absl::StrCat("no connection within ", absl::FormatDuration(options_.connect_timeout)));
    }
    if (ec) return unavailable("cannot connect to", ec.message());
    conn->Lowest().socket().set_option(tcp::no_delay(true), ec);
    EnableKeepAlive(conn->Lowest().socket().native_handle());

    if (conn->is_tls()) {
      SSL* ssl = conn->ssl();
      const std::string& name =
          options_.tls_server_name.empty() ? url_.host : options_.tls_server_name;
      const bool ip = IsIpAddress(name);
      if (!ip && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) {
        return absl::InternalError(
            absl::StrCat("cannot set the TLS server name: ", OpenSslError()));
      }
      if (!options_.insecure_skip_tls_verify) {
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        int ok = 0;
        if (ip) {
          ok = X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
        } else {
          X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
          ok = X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
        }
        if (ok != 1) {
          return absl::InternalError(
              absl::StrCat("cannot set the name to verify the server by: ", OpenSslError()));
        }
      }
      beast::error_code hs = conn->Run(deadline - absl::Now(), [&](auto handler) {
        conn->Tls().async_handshake(ssl::stream_base::client, std::move(handler));
      });
      if (hs) {
        std::string detail = hs == beast::error::timeout
                                 ? absl::StrCat("no TLS handshake within ",
                                                absl::FormatDuration(options_.connect_timeout))
                                 : hs.message();
        long verify = SSL_get_verify_result(ssl);
        if (verify != X509_V_OK) {
          absl::StrAppend(&detail, " (", X509_verify_cert_error_string(verify), ")");
        }
        ERR_clear_error();
        return unavailable("TLS handshake failed with", detail);
      }
    }
    return conn;
  }

  std::unique_ptr<Connection> TakeIdle() {
    std::vector<std::unique_ptr<Connection>> stale;
    std::unique_ptr<Connection> out;
    {
      absl::MutexLock lock(&mu_);
      const absl::Time now = absl::Now();
      while (!idle_.empty()) {
        std::unique_ptr<Connection> c = std::move(idle_.back());
        idle_.pop_back();
        if (now - c->idle_since < options_.idle_connection_timeout && c->LooksUsable()) {
          out = std::move(c);
          break;
        }
        stale.push_back(std::move(c));
      }
    }
    return out;  // `stale` ones close here, outside the lock
  }

  void GiveBack(std::unique_ptr<Connection> conn) {
    conn->idle_since = absl::Now();
    absl::MutexLock lock(&mu_);
    if (static_cast<int>(idle_.size()) < options_.max_idle_connections) {
      idle_.push_back(std::move(conn));
    }
    // Otherwise `conn`, a parameter, closes after the lock is released.
  }

  const HttpClientOptions options_;
  const ServerUrl url_;
  // Null for http://. SSL_CTX may create connections from many threads.
  const std::unique_ptr<ssl::context> tls_;
  absl::Mutex mu_;
  // Most recently used last.
  std::vector<std::unique_ptr<Connection>> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<ServerUrl> ParseServerUrl(absl::string_view url) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("invalid API server URL \"", url, "\": ", why));
  };
  ServerUrl out;
  absl::string_view rest = url;
  if (absl::ConsumePrefix(&rest, "https://")) {
    out.tls = true;
  } else if (absl::ConsumePrefix(&rest, "http://")) {
    out.tls = false;
  } else {
    return bad("it must start with https:// or http://");
  }
  size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  absl::string_view path = slash == absl::string_view::npos ? "" : rest.substr(slash);
  if (absl::StrContains(authority, '@')) return bad("user information in the URL is not supported");
  if (absl::StrContains(path, '?') || absl::StrContains(path, '#')) {
    return bad("a query or fragment is not allowed");
  }
  absl::string_view port;
  if (absl::StartsWith(authority, "[")) {
    size_t close = authority.find(']');
    if (close == absl::string_view::npos) return bad("unterminated IPv6 address");
    out.host = std::string(authority.substr(1, close - 1));
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("unexpected text after the IPv6 address");
      port = after.substr(1);
    }
    if (!IsIpAddress(out.host)) return bad("malformed IPv6 address");
  } else {
    size_t colon = authority.find(':');
    if (colon != absl::string_view::npos &&
        authority.find(':', colon + 1) != absl::string_view::npos) {
      return bad("IPv6 addresses must be in brackets");
    }
    out.host = std::string(authority.substr(0, colon));
    if (colon != absl::string_view::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return bad("no host");
  if (port.empty()) {
    out.port = out.tls ? "443" : "80";
  } else {
    int p = 0;
    if (!absl::SimpleAtoi(port, &p) || p <= 0 || p > 65535) {
      return bad(absl::StrCat("invalid port \"", port, "\""));
    }
    out.port = absl::StrCat(p);
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  out.base_path = std::string(path);
  const bool v6 = out.host.find(':') != std::string::npos;
  out.host_header = v6 ? absl::StrCat("[", out.host, "]") : out.host;
  if (!port.empty()) absl::StrAppend(&out.host_header, ":", out.port);
  return out;
}

absl::StatusCode CodeForHttpStatus(int http_code) {
  switch (http_code) {
    case 400:
    case 406:
    case 413:
    case 415:
    case 422:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 405:
    case 501:
      return absl::StatusCode::kUnimplemented;
    case 409:
      return absl::StatusCode::kAborted;
    case 410:
      return absl::StatusCode::kOutOfRange;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 500:
      return absl::StatusCode::kInternal;
    case 504:
      return absl::StatusCode::kDeadlineExceeded;
    default:
      break;
  }
  if (http_code >= 500) return absl::StatusCode::kUnavailable;
  if (http_code >= 400) return absl::StatusCode::kInvalidArgument;
  return absl::StatusCode::kUnknown;
}

absl::StatusOr<std::unique_ptr<Transport>> Transport::Create(const HttpClientOptions& options) {
  KORCH_ASSIGN_OR_RETURN(ServerUrl url, ParseServerUrl(options.server));
  if (options.max_idle_connections < 0) {
    return absl::InvalidArgumentError("max_idle_connections must not be negative");
  }
  std::unique_ptr<ssl::context> tls;
  if (url.tls) {
    KORCH_ASSIGN_OR_RETURN(tls, MakeTlsContext(options));
  } else if (!options.client_cert_file.empty() || !options.client_cert_pem.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("a client certificate needs an https:// server URL, not ", options.server));
  }
  return std::unique_ptr<Transport>(new TransportImpl(options, std::move(url), std::move(tls)));
}

}  // namespace korch::client::internal
