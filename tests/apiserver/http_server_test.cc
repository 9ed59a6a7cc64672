// The HTTP server end to end: a real ApiServer over the in-memory store,
// served on 127.0.0.1:0 (plain HTTP and TLS), driven by a small Beast client.

#include "korch/apiserver/http_server.h"

#include <stdlib.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/core.pb.h"
#include "korch/apiserver/authn.h"
#include "korch/apiserver/server.h"
#include "korch/store.h"
#include "nlohmann/json.hpp"

namespace korch::apiserver {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using json = nlohmann::json;
using ::testing::HasSubstr;

constexpr char kAdminToken[] = "admin-token";
constexpr absl::Duration kTimeout = absl::Seconds(20);

std::chrono::steady_clock::duration Chrono(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(d));
}

// ---- A small HTTP client ------------------------------------------------------------

struct Response {
  int status = 0;
  std::string body;
  http::fields headers;

  std::string Header(absl::string_view name) const {
    auto it = headers.find(beast::string_view(name.data(), name.size()));
    return it == headers.end() ? "" : std::string(it->value());
  }
  json Json() const { return json::parse(body, nullptr, /*allow_exceptions=*/false); }
};

// One connection, plain or TLS. Every operation has a deadline (a timeout
// closes the connection).
class Client {
 public:
  explicit Client(int port) : port_(port) {}
  Client(int port, ssl::context& tls) : port_(port), tls_context_(&tls) {}

  void set_token(std::string token) { token_ = std::move(token); }

  absl::Status Connect() {
    if (tls_context_ != nullptr) {
      tls_ = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ioc_, *tls_context_);
    } else {
      plain_ = std::make_unique<beast::tcp_stream>(ioc_);
    }
    tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port_));
    beast::error_code ec =
        Run(kTimeout, [&](auto handler) { Lowest().async_connect(endpoint, std::move(handler)); });
    if (ec) return absl::UnavailableError(absl::StrCat("connect: ", ec.message()));
    if (tls_ != nullptr) {
      ec = Run(kTimeout, [&](auto handler) {
        tls_->async_handshake(ssl::stream_base::client, std::move(handler));
      });
      if (ec) return absl::UnavailableError(absl::StrCat("TLS handshake: ", ec.message()));
    }
    return absl::OkStatus();
  }

  absl::Status WriteRequest(http::verb verb, absl::string_view target, std::string body,
                            absl::string_view content_type,
                            const std::vector<std::pair<std::string, std::string>>& headers) {
    http::request<http::string_body> req{verb, std::string(target), 11};
    req.set(http::field::host, "127.0.0.1");
    if (!token_.empty()) req.set(http::field::authorization, absl::StrCat("Bearer ", token_));
    for (const auto& [name, value] : headers) req.set(name, value);
    if (!body.empty()) {
      req.set(http::field::content_type, std::string(content_type));
      req.body() = std::move(body);
    }
    req.keep_alive(true);
    req.prepare_payload();
    beast::error_code ec = With([&](auto& s) {
      return Run(kTimeout, [&](auto h) { http::async_write(s, req, std::move(h)); });
    });
    if (ec) return absl::UnavailableError(absl::StrCat("write: ", ec.message()));
    return absl::OkStatus();
  }

  absl::StatusOr<Response> Send(
      http::verb verb, absl::string_view target, std::string body = "",
      absl::string_view content_type = "application/json",
      const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    if (plain_ == nullptr && tls_ == nullptr) {
      if (absl::Status s = Connect(); !s.ok()) return s;
    }
    if (absl::Status s = WriteRequest(verb, target, std::move(body), content_type, headers);
        !s.ok()) {
      return s;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    beast::error_code ec = With([&](auto& s) {
      return Run(kTimeout, [&](auto h) { http::async_read(s, buffer_, parser, std::move(h)); });
    });
    if (ec) return absl::UnavailableError(absl::StrCat("read: ", ec.message()));
    Response r;
    r.status = parser.get().result_int();
    r.body = parser.get().body();
    r.headers = parser.get().base();
    return r;
  }

  // Reads one response (after WriteRequest()).
  absl::StatusOr<Response> ReadResponse() {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    beast::error_code ec = With([&](auto& s) {
      return Run(kTimeout, [&](auto h) { http::async_read(s, buffer_, parser, std::move(h)); });
    });
    if (ec) return absl::UnavailableError(absl::StrCat("read: ", ec.message()));
    Response r;
    r.status = parser.get().result_int();
    r.body = parser.get().body();
    r.headers = parser.get().base();
    return r;
  }

  // Starts a streaming GET; returns the response's status code.
  absl::StatusOr<int> BeginStream(absl::string_view target, absl::string_view accept = "") {
    if (plain_ == nullptr && tls_ == nullptr) {
      if (absl::Status s = Connect(); !s.ok()) return s;
    }
    std::vector<std::pair<std::string, std::string>> headers;
    if (!accept.empty()) headers.emplace_back("Accept", std::string(accept));
    if (absl::Status s = WriteRequest(http::verb::get, target, "", "", headers); !s.ok()) return s;
    stream_.emplace();
    stream_->body_limit(boost::none);
    chunk_callback_ = [this](std::uint64_t, beast::string_view body, beast::error_code&) {
      pending_.append(body.data(), body.size());
      return body.size();
    };
    stream_->on_chunk_body(chunk_callback_);
    beast::error_code ec = With([&](auto& s) {
      return Run(kTimeout,
                 [&](auto h) { http::async_read_header(s, buffer_, *stream_, std::move(h)); });
    });
    if (ec) return absl::UnavailableError(absl::StrCat("read header: ", ec.message()));
    stream_headers_ = stream_->get().base();
    return stream_->get().result_int();
  }

  const http::fields& stream_headers() const { return stream_headers_; }

  // The next line of the stream as JSON; kOutOfRange when the stream ended
  // cleanly (the last chunk came).
  absl::StatusOr<json> NextLine(absl::Duration timeout = kTimeout) {
    absl::Time deadline = absl::Now() + timeout;
    while (true) {
      size_t nl = pending_.find('\n');
      if (nl != std::string::npos) {
        std::string line = pending_.substr(0, nl);
        pending_.erase(0, nl + 1);
        json j = json::parse(line, nullptr, false);
        if (j.is_discarded()) return absl::DataLossError(absl::StrCat("not JSON: ", line));
        return j;
      }
      if (stream_->is_done()) return absl::OutOfRangeError("the stream ended");
      absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return absl::DeadlineExceededError("no line in time");
      beast::error_code ec = With([&](auto& s) {
        return Run(left,
                   [&](auto h) { http::async_read_some(s, buffer_, *stream_, std::move(h)); });
      });
      if (ec == http::error::end_of_chunk) continue;
      if (ec == beast::error::timeout) return absl::DeadlineExceededError("no line in time");
      if (ec) return absl::UnavailableError(absl::StrCat("stream read: ", ec.message()));
    }
  }

  // Raw bytes, for clients that misbehave.
  absl::Status WriteRaw(absl::string_view bytes) {
    beast::error_code ec = With([&](auto& s) {
      return Run(kTimeout, [&](auto h) {
        net::async_write(s, net::buffer(bytes.data(), bytes.size()), std::move(h));
      });
    });
    return ec ? absl::UnavailableError(ec.message()) : absl::OkStatus();
  }
  // Reads until the server closes; kDeadlineExceeded if it does not within
  // `timeout`.
  absl::Status WaitForClose(absl::Duration timeout) {
    absl::Time deadline = absl::Now() + timeout;
    char buf[512];
    while (true) {
      absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return absl::DeadlineExceededError("still open");
      beast::error_code ec = With([&](auto& s) {
        return Run(left, [&](auto h) { s.async_read_some(net::buffer(buf), std::move(h)); });
      });
      if (ec == beast::error::timeout) return absl::DeadlineExceededError("still open");
      if (ec) return absl::OkStatus();  // eof or reset: closed by the server
    }
  }

 private:
  beast::tcp_stream& Lowest() { return tls_ != nullptr ? beast::get_lowest_layer(*tls_) : *plain_; }

  template <class Fn>
  beast::error_code With(Fn fn) {
    if (tls_ != nullptr) return fn(*tls_);
    return fn(*plain_);
  }

  // Starts one asynchronous operation and runs the io_context until it
  // completes (the stream's timer bounds it).
  template <class Start>
  beast::error_code Run(absl::Duration timeout, Start start) {
    Lowest().expires_after(Chrono(timeout));
    beast::error_code result = net::error::would_block;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  const int port_;
  ssl::context* tls_context_ = nullptr;
  std::string token_ = kAdminToken;
  net::io_context ioc_;
  std::unique_ptr<beast::tcp_stream> plain_;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> stream_;
  std::function<size_t(std::uint64_t, beast::string_view, beast::error_code&)> chunk_callback_;
  http::fields stream_headers_;
  std::string pending_;
};

// ---- Fixture ------------------------------------------------------------------------

// Asks its authenticators in order; the first with an opinion decides.
class FirstOf final : public Authenticator {
 public:
  explicit FirstOf(std::vector<std::unique_ptr<Authenticator>> all) : all_(std::move(all)) {}
  absl::string_view Name() const override { return "first-of"; }
  AuthnResult Authenticate(const AuthnRequest& request) const override {
    for (const auto& a : all_) {
      AuthnResult r = a->Authenticate(request);
      if (r.decision != AuthnResult::Decision::kNoOpinion) return r;
    }
    return AuthnResult::NoOpinion();
  }

 private:
  std::vector<std::unique_ptr<Authenticator>> all_;
};

std::string PodJson(absl::string_view ns, absl::string_view name, absl::string_view labels = "{}") {
  return absl::StrCat(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")", name,
                      R"(","namespace":")", ns, R"(","labels":)", labels,
                      R"(},"spec":{"containers":[{"name":"c","image":"nginx:1.25"}]}})");
}

std::string DeploymentJson(absl::string_view name, int replicas) {
  return absl::StrCat(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":")", name,
                      R"("},"spec":{"replicas":)", replicas,
                      R"(,"selector":{"matchLabels":{"app":")", name,
                      R"("}},"template":{"metadata":{"labels":{"app":")", name,
                      R"("}},"spec":{"containers":[{"name":"c","image":"nginx:1.25"}]}}}})");
}

class HttpServerTest : public ::testing::Test {
 protected:
  // Lets a test adjust the options before the servers start.
  virtual void Customize(ApiServerOptions& api, HttpServerOptions& http) {}

  void SetUp() override {
    absl::StatusOr<std::unique_ptr<store::Storage>> storage = store::OpenMemoryStorage();
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
    ApiServerOptions api;
    api.storage = storage_.get();
    auto tokens = TokenFileAuthenticator::FromString(
        absl::StrCat(kAdminToken, ",admin,1,system:masters\nbob-token,bob,2,devs\n"));
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    api.authenticator = std::shared_ptr<Authenticator>(*std::move(tokens));
    HttpServerOptions http;
    http.listen_address = "127.0.0.1:0";
    http.plain_http = true;
    http.threads = 4;
    Customize(api, http);
    absl::StatusOr<std::unique_ptr<ApiServer>> server = ApiServer::Create(std::move(api));
    ASSERT_TRUE(server.ok()) << server.status();
    api_ = *std::move(server);
    absl::StatusOr<std::unique_ptr<HttpServer>> started = HttpServer::Start(*api_, http);
    ASSERT_TRUE(started.ok()) << started.status();
    http_ = *std::move(started);
  }

  void TearDown() override {
    http_.reset();
    api_.reset();
    storage_.reset();
  }

  int port() const { return http_->port(); }

  Response Call(http::verb verb, absl::string_view target, std::string body = "",
                absl::string_view content_type = "application/json",
                const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    Client client(port());
    absl::StatusOr<Response> r = client.Send(verb, target, std::move(body), content_type, headers);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *std::move(r) : Response();
  }

  std::unique_ptr<store::Storage> storage_;
  std::unique_ptr<ApiServer> api_;
  std::unique_ptr<HttpServer> http_;
};

constexpr char kPods[] = "/api/v1/namespaces/default/pods";

// ---- CRUD ---------------------------------------------------------------------------

TEST_F(HttpServerTest, CrudRoundTripWithKubernetesCodes) {
  Response created = Call(http::verb::post, kPods, PodJson("default", "web"));
  ASSERT_EQ(created.status, 201) << created.body;
  json pod = created.Json();
  EXPECT_EQ(pod["kind"], "Pod");
  EXPECT_EQ(pod["apiVersion"], "v1");
  EXPECT_FALSE(pod["metadata"]["uid"].get<std::string>().empty());
  const std::string rv = pod["metadata"]["resourceVersion"];

  Response again = Call(http::verb::post, kPods, PodJson("default", "web"));
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.Json()["reason"], "AlreadyExists");
  EXPECT_EQ(again.Json()["kind"], "Status");

  Response got = Call(http::verb::get, absl::StrCat(kPods, "/web"));
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.Json()["metadata"]["name"], "web");
  EXPECT_EQ(got.Header("Content-Type"), "application/json");

  // Update with the current resourceVersion, then with the stale one.
  json update = got.Json();
  update["metadata"]["labels"]["tier"] = "front";
  Response updated = Call(http::verb::put, absl::StrCat(kPods, "/web"), update.dump());
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(updated.Json()["metadata"]["labels"]["tier"], "front");
  Response stale = Call(http::verb::put, absl::StrCat(kPods, "/web"), update.dump());
  EXPECT_EQ(stale.status, 409);
  EXPECT_EQ(stale.Json()["reason"], "Conflict");
  EXPECT_THAT(stale.Json()["message"].get<std::string>(),
              HasSubstr("the object has been modified"));

  Response patched =
      Call(http::verb::patch, absl::StrCat(kPods, "/web"),
           R"({"metadata":{"labels":{"tier":"back"}}})", "application/merge-patch+json");
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(patched.Json()["metadata"]["labels"]["tier"], "back");

  Response strategic =
      Call(http::verb::patch, absl::StrCat(kPods, "/web"),
           R"({"metadata":{"annotations":{"a":"b"}}})", "application/strategic-merge-patch+json");
  EXPECT_EQ(strategic.status, 200) << strategic.body;
  Response json_patch = Call(http::verb::patch, absl::StrCat(kPods, "/web"),
                             R"([{"op":"add","path":"/metadata/labels/x","value":"y"}])",
                             "application/json-patch+json");
  EXPECT_EQ(json_patch.status, 200) << json_patch.body;
  EXPECT_EQ(json_patch.Json()["metadata"]["labels"]["x"], "y");

  Response unsupported = Call(http::verb::patch, absl::StrCat(kPods, "/web"), "{}", "text/plain");
  EXPECT_EQ(unsupported.status, 415);
  EXPECT_EQ(unsupported.Json()["reason"], "UnsupportedMediaType");

  Response deleted = Call(http::verb::delete_, absl::StrCat(kPods, "/web"),
                          R"({"kind":"DeleteOptions","apiVersion":"v1","gracePeriodSeconds":0})");
  EXPECT_EQ(deleted.status, 200) << deleted.body;
  Response gone = Call(http::verb::get, absl::StrCat(kPods, "/web"));
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(gone.Json()["reason"], "NotFound");
  EXPECT_EQ(gone.Json()["message"], "pods \"web\" not found");
  EXPECT_EQ(gone.Json()["details"]["name"], "web");
}

TEST_F(HttpServerTest, BadBodiesGetTheRightStatus) {
  Response malformed = Call(http::verb::post, kPods, "{\"apiVersion\":");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(malformed.Json()["reason"], "BadRequest");

  Response wrong_kind = Call(http::verb::post, kPods,
                             R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"x"}})");
  EXPECT_EQ(wrong_kind.status, 400) << wrong_kind.body;
  Response wrong_version = Call(http::verb::post, kPods,
                                R"({"apiVersion":"apps/v1","kind":"Pod","metadata":{"name":"x"}})");
  EXPECT_EQ(wrong_version.status, 400) << wrong_version.body;

  Response other_ns = Call(http::verb::post, kPods, PodJson("kube-system", "x"));
  EXPECT_EQ(other_ns.status, 400) << other_ns.body;

  std::string unknown_field = R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"strict"},
      "spec":{"containers":[{"name":"c","image":"nginx","imagePullPolcy":"Always"}]}})";
  Response strict =
      Call(http::verb::post, absl::StrCat(kPods, "?fieldValidation=Strict"), unknown_field);
  EXPECT_EQ(strict.status, 400);
  EXPECT_THAT(strict.Json()["message"].get<std::string>(), HasSubstr("imagePullPolcy"));
  Response warn = Call(http::verb::post, kPods, unknown_field);
  EXPECT_EQ(warn.status, 201) << warn.body;
  EXPECT_THAT(warn.Header("Warning"), HasSubstr("imagePullPolcy"));

  Response invalid = Call(http::verb::post, kPods,
                          R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"empty"},
                              "spec":{"containers":[]}})");
  EXPECT_EQ(invalid.status, 422) << invalid.body;
  EXPECT_EQ(invalid.Json()["reason"], "Invalid");
  EXPECT_FALSE(invalid.Json()["details"]["causes"].empty());

  Response no_body = Call(http::verb::post, kPods, "");
  EXPECT_EQ(no_body.status, 400);
}

TEST_F(HttpServerTest, UnknownPathsAreNotFoundStatuses) {
  for (const char* path :
       {"/api/v1/widgets", "/apis/nope/v1/things", "/nope", "/api/v1/namespaces/default/pods/a/b/c",
        "/api/v1/namespaces/x/nodes", "/apis/nope", "/api/v2"}) {
    Response r = Call(http::verb::get, path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.Json()["kind"], "Status") << path << ": " << r.body;
    EXPECT_EQ(r.Json()["reason"], "NotFound") << path;
  }
  Response log = Call(http::verb::get, absl::StrCat(kPods, "/web/log"));
  EXPECT_EQ(log.status, 404);
  EXPECT_THAT(log.Json()["message"].get<std::string>(),
              HasSubstr("the server could not find the requested resource (pods/log web)"));
}

TEST_F(HttpServerTest, ListsWithSelectorsAndPages) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(Call(http::verb::post, kPods,
                   PodJson("default", absl::StrCat("p", i),
                           i % 2 == 0 ? R"({"app":"even"})" : R"({"app":"odd"})"))
                  .status,
              201);
  }
  Response empty = Call(http::verb::get, "/api/v1/namespaces/kube-public/pods");
  ASSERT_EQ(empty.status, 200);
  EXPECT_EQ(empty.body.find("\"items\":[]") != std::string::npos, true) << empty.body;
  EXPECT_EQ(empty.Json()["kind"], "PodList");

  Response even = Call(http::verb::get, absl::StrCat(kPods, "?labelSelector=app%3Deven"));
  ASSERT_EQ(even.status, 200);
  EXPECT_EQ(even.Json()["items"].size(), 3u);
  Response notin = Call(http::verb::get, absl::StrCat(kPods, "?labelSelector=app+notin+(even)"));
  EXPECT_EQ(notin.Json()["items"].size(), 2u) << notin.body;
  Response by_name =
      Call(http::verb::get, absl::StrCat(kPods, "?fieldSelector=metadata.name%3Dp3"));
  ASSERT_EQ(by_name.Json()["items"].size(), 1u);
  EXPECT_EQ(by_name.Json()["items"][0]["metadata"]["name"], "p3");
  Response bad = Call(http::verb::get, absl::StrCat(kPods, "?fieldSelector=spec.nope%3Dx"));
  EXPECT_EQ(bad.status, 400) << bad.body;

  // Pages of two, following continue.
  std::vector<std::string> names;
  std::string next = absl::StrCat(kPods, "?limit=2");
  for (int page = 0; page < 10 && !next.empty(); ++page) {
    Response r = Call(http::verb::get, next);
    ASSERT_EQ(r.status, 200) << r.body;
    json list = r.Json();
    EXPECT_LE(list["items"].size(), 2u);
    for (const json& item : list["items"]) names.push_back(item["metadata"]["name"]);
    std::string token = list["metadata"].value("continue", "");
    next = token.empty() ? "" : absl::StrCat(kPods, "?limit=2&continue=", token);
  }
  EXPECT_THAT(names, ::testing::ElementsAre("p0", "p1", "p2", "p3", "p4"));

  Response all = Call(http::verb::get, "/api/v1/pods");
  ASSERT_EQ(all.status, 200);
  EXPECT_EQ(all.Json()["items"].size(), 5u);

  Response removed = Call(http::verb::delete_, absl::StrCat(kPods, "?labelSelector=app%3Dodd"));
  ASSERT_EQ(removed.status, 200) << removed.body;
  EXPECT_EQ(removed.Json()["items"].size(), 2u);
  EXPECT_EQ(Call(http::verb::get, kPods).Json()["items"].size(), 3u);
}

TEST_F(HttpServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  Client client(port());
  absl::StatusOr<Response> first = client.Send(http::verb::get, kPods);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->status, 200);
  absl::StatusOr<Response> second = client.Send(http::verb::get, "/version");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->status, 200);
  EXPECT_EQ(second->Json()["major"], "1");
  EXPECT_EQ(http_->Stats().open_connections, 1);
}

TEST_F(HttpServerTest, ExpectContinueGetsAnInterimResponse) {
  Client client(port());
  ASSERT_TRUE(client.Connect().ok());
  ASSERT_TRUE(client
                  .WriteRequest(http::verb::post, kPods, PodJson("default", "continued"),
                                "application/json", {{"Expect", "100-continue"}})
                  .ok());
  absl::StatusOr<Response> interim = client.ReadResponse();
  ASSERT_TRUE(interim.ok()) << interim.status();
  EXPECT_EQ(interim->status, 100);
  absl::StatusOr<Response> final_response = client.ReadResponse();
  ASSERT_TRUE(final_response.ok()) << final_response.status();
  EXPECT_EQ(final_response->status, 201) << final_response->body;
}

TEST_F(HttpServerTest, OversizedBodyIsRefusedWith413) {
  std::string huge = PodJson("default", "big");
  huge.insert(huge.size() - 1, absl::StrCat(",\"pad\":\"", std::string(4 << 20, 'x'), "\""));
  Response r = Call(http::verb::post, kPods, huge);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.Json()["reason"], "RequestEntityTooLarge");
  // The server goes on serving.
  EXPECT_EQ(Call(http::verb::get, kPods).status, 200);
}

TEST_F(HttpServerTest, MissingOrWrongCredentialsAre401) {
  Client anonymous(port());
  anonymous.set_token("");
  absl::StatusOr<Response> r = anonymous.Send(http::verb::get, kPods);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->Json()["reason"], "Unauthorized");
  Client wrong(port());
  wrong.set_token("no-such-token");
  r = wrong.Send(http::verb::get, "/healthz");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 401);
}

TEST_F(HttpServerTest, ImpersonationIsRefusedNotIgnored) {
  // kubectl --as sends Impersonate-User; korch must not run the request as
  // the authenticated user instead.
  Response r = Call(http::verb::get, kPods, "", "application/json", {{"Impersonate-User", "bob"}});
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(r.Json()["reason"], "Forbidden");
  EXPECT_NE(r.Json()["message"].get<std::string>().find("impersonation is not supported"),
            std::string::npos);
  r = Call(http::verb::post, kPods, PodJson("default", "as-group"), "application/json",
           {{"impersonate-group", "system:masters"}});
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(Call(http::verb::get, std::string(kPods) + "/as-group").status, 404)
      << "nothing was written";
  EXPECT_EQ(Call(http::verb::get, kPods).status, 200);
}

TEST_F(HttpServerTest, SubresourcesAndServerSideApply) {
  const std::string deployments = "/apis/apps/v1/namespaces/default/deployments";
  ASSERT_EQ(Call(http::verb::post, deployments, DeploymentJson("web", 2)).status, 201);
  Response scale = Call(http::verb::get, deployments + "/web/scale");
  ASSERT_EQ(scale.status, 200) << scale.body;
  EXPECT_EQ(scale.Json()["kind"], "Scale");
  EXPECT_EQ(scale.Json()["apiVersion"], "autoscaling/v1");
  EXPECT_EQ(scale.Json()["spec"]["replicas"], 2);
  Response scaled = Call(http::verb::patch, deployments + "/web/scale",
                         R"({"spec":{"replicas":5}})", "application/merge-patch+json");
  ASSERT_EQ(scaled.status, 200) << scaled.body;
  EXPECT_EQ(scaled.Json()["kind"], "Scale");
  EXPECT_EQ(Call(http::verb::get, deployments + "/web").Json()["spec"]["replicas"], 5);
  Response status = Call(http::verb::get, deployments + "/web/status");
  EXPECT_EQ(status.status, 200);

  const std::string cm = "/api/v1/namespaces/default/configmaps/applied";
  std::string manifest =
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"applied"},"data":{"a":"1"}})";
  Response no_manager = Call(http::verb::patch, cm, manifest, "application/apply-patch+yaml");
  EXPECT_EQ(no_manager.status, 422) << no_manager.body;
  Response created = Call(http::verb::patch, cm + "?fieldManager=kubectl&force=false", manifest,
                          "application/apply-patch+yaml");
  EXPECT_EQ(created.status, 201) << created.body;
  Response reapplied = Call(http::verb::patch, cm + "?fieldManager=kubectl",
                            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n"
                            "data:\n  a: \"2\"\n",
                            "application/apply-patch+yaml");
  EXPECT_EQ(reapplied.status, 200) << reapplied.body;
  EXPECT_EQ(reapplied.Json()["data"]["a"], "2");

  // The scheduler's pods/binding.
  ASSERT_EQ(Call(http::verb::post, kPods, PodJson("default", "unbound")).status, 201);
  Response bound = Call(
      http::verb::post, absl::StrCat(kPods, "/unbound/binding"),
      R"({"apiVersion":"v1","kind":"Binding","metadata":{"name":"unbound"},"target":{"kind":"Node","name":"n1"}})");
  EXPECT_EQ(bound.status, 201) << bound.body;
  EXPECT_EQ(Call(http::verb::get, absl::StrCat(kPods, "/unbound")).Json()["spec"]["nodeName"],
            "n1");
  Response twice = Call(
      http::verb::post, absl::StrCat(kPods, "/unbound/binding"),
      R"({"apiVersion":"v1","kind":"Binding","metadata":{"name":"unbound"},"target":{"kind":"Node","name":"n2"}})");
  EXPECT_EQ(twice.status, 409) << twice.body;
  EXPECT_EQ(Call(http::verb::post, absl::StrCat(kPods, "/unbound/eviction"), "{}").status, 404);

  // A namespace's own subresource path is not a namespaced collection.
  Response ns_status = Call(http::verb::get, "/api/v1/namespaces/default/status");
  EXPECT_EQ(ns_status.status, 200) << ns_status.body;
  EXPECT_EQ(ns_status.Json()["kind"], "Namespace");

  // Cluster-scoped resources; a dry run stores nothing.
  Response dry = Call(http::verb::post, "/api/v1/namespaces?dryRun=All",
                      R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"dry"}})");
  EXPECT_EQ(dry.status, 201) << dry.body;
  EXPECT_EQ(Call(http::verb::get, "/api/v1/namespaces/dry").status, 404);
}

TEST_F(HttpServerTest, TablesWhenAcceptAsksForThem) {
  ASSERT_EQ(Call(http::verb::post, kPods, PodJson("default", "web")).status, 201);
  const std::vector<std::pair<std::string, std::string>> accept = {
      {"Accept",
       "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta."
       "k8s.io,application/json"}};
  Response list = Call(http::verb::get, kPods, "", "", accept);
  ASSERT_EQ(list.status, 200);
  json table = list.Json();
  EXPECT_EQ(table["kind"], "Table");
  EXPECT_EQ(table["apiVersion"], "meta.k8s.io/v1");
  EXPECT_FALSE(table["columnDefinitions"].empty());
  ASSERT_EQ(table["rows"].size(), 1u);
  EXPECT_EQ(table["rows"][0]["cells"][0], "web");
  EXPECT_EQ(table["rows"][0]["object"]["metadata"]["name"], "web");
  std::vector<std::string> columns;
  for (const json& c : table["columnDefinitions"]) columns.push_back(c["name"]);
  EXPECT_THAT(columns, ::testing::IsSupersetOf({"Name", "Ready", "Status", "Restarts", "Age"}));
  Response protobuf_only =
      Call(http::verb::get, kPods, "", "", {{"Accept", "application/vnd.kubernetes.protobuf"}});
  EXPECT_EQ(protobuf_only.status, 406) << protobuf_only.body;
  Response one = Call(http::verb::get, absl::StrCat(kPods, "/web"), "", "", accept);
  EXPECT_EQ(one.Json()["kind"], "Table");
  EXPECT_EQ(one.Json()["rows"].size(), 1u);
}

// ---- Discovery, health, metrics -------------------------------------------------------

TEST_F(HttpServerTest, DiscoveryAndOpenApiDocuments) {
  Response version = Call(http::verb::get, "/version/");
  ASSERT_EQ(version.status, 200);
  EXPECT_EQ(version.Json()["major"], "1");
  Response api = Call(http::verb::get, "/api");
  EXPECT_EQ(api.Json()["kind"], "APIVersions");
  Response aggregated =
      Call(http::verb::get, "/apis", "", "",
           {{"Accept",
             "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/"
             "json"}});
  EXPECT_EQ(aggregated.status, 200);
  EXPECT_THAT(aggregated.Header("Content-Type"), HasSubstr("as=APIGroupDiscoveryList"));
  Response legacy = Call(http::verb::get, "/apis");
  EXPECT_EQ(legacy.Json()["kind"], "APIGroupList");
  Response resources = Call(http::verb::get, "/apis/apps/v1");
  EXPECT_EQ(resources.Json()["groupVersion"], "apps/v1");
  EXPECT_EQ(Call(http::verb::get, "/api/v1").Json()["kind"], "APIResourceList");
  Response v2 = Call(http::verb::get, "/openapi/v2", "", "",
                     {{"Accept", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"}});
  EXPECT_EQ(v2.status, 200);
  EXPECT_FALSE(v2.body.empty());
  Response v3 = Call(http::verb::get, "/openapi/v3");
  ASSERT_EQ(v3.status, 200);
  EXPECT_TRUE(v3.Json()["paths"].contains("api/v1")) << v3.body;
  Response v3_core = Call(http::verb::get, "/openapi/v3/api/v1");
  EXPECT_EQ(v3_core.status, 200);
}

TEST_F(HttpServerTest, HealthAndMetrics) {
  for (const char* path : {"/healthz", "/livez", "/readyz", "/readyz/ping"}) {
    Response r = Call(http::verb::get, path);
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.body, "ok") << path;
  }
  Response verbose = Call(http::verb::get, "/readyz?verbose");
  EXPECT_THAT(verbose.body, HasSubstr("[+]shutdown ok"));
  EXPECT_THAT(verbose.body, HasSubstr("readyz check passed"));

  ASSERT_EQ(Call(http::verb::post, kPods, PodJson("default", "m")).status, 201);
  Response metrics = Call(http::verb::get, "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.Header("Content-Type"), HasSubstr("text/plain"));
  EXPECT_THAT(metrics.body,
              HasSubstr("apiserver_request_total{verb=\"POST\",group=\"\",version=\"v1\","
                        "resource=\"pods\",subresource=\"\",scope=\"namespace\",code=\"201\"} 1"));
  EXPECT_THAT(metrics.body, HasSubstr("apiserver_request_duration_seconds_bucket{verb=\"POST\""));
  EXPECT_THAT(metrics.body, HasSubstr("apiserver_current_inflight_requests{request_kind="));
  EXPECT_THAT(metrics.body, HasSubstr("apiserver_longrunning_requests{verb=\"WATCH\"} 0"));
  absl::StatusOr<int64_t> revision = storage_->CurrentRevision();
  ASSERT_TRUE(revision.ok());
  EXPECT_THAT(metrics.body, HasSubstr(absl::StrCat("korch_store_revision ", *revision)));
  EXPECT_THAT(metrics.body, HasSubstr("korch_store_keys "));
}

// ---- Watches ----------------------------------------------------------------------------

TEST_F(HttpServerTest, WatchStreamsInitialStateThenChanges) {
  ASSERT_EQ(Call(http::verb::post, kPods, PodJson("default", "old")).status, 201);
  Client watcher(port());
  absl::StatusOr<int> code = watcher.BeginStream(absl::StrCat(kPods, "?watch=True"));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 200);
  EXPECT_EQ(std::string(watcher.stream_headers()[http::field::content_type]), "application/json");
  EXPECT_EQ(std::string(watcher.stream_headers()[http::field::transfer_encoding]), "chunked");

  absl::StatusOr<json> initial = watcher.NextLine();
  ASSERT_TRUE(initial.ok()) << initial.status();
  EXPECT_EQ((*initial)["type"], "ADDED");
  EXPECT_EQ((*initial)["object"]["metadata"]["name"], "old");
  EXPECT_EQ((*initial)["object"]["kind"], "Pod");

  ASSERT_EQ(Call(http::verb::post, kPods, PodJson("default", "new")).status, 201);
  ASSERT_EQ(Call(http::verb::patch, absl::StrCat(kPods, "/new"),
                 R"({"metadata":{"labels":{"a":"b"}}})", "application/merge-patch+json")
                .status,
            200);
  ASSERT_EQ(Call(http::verb::delete_, absl::StrCat(kPods, "/new?gracePeriodSeconds=0")).status,
            200);
  std::vector<std::string> seen;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<json> e = watcher.NextLine();
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ((*e)["object"]["metadata"]["name"], "new");
    seen.push_back((*e)["type"]);
  }
  EXPECT_THAT(seen, ::testing::ElementsAre("ADDED", "MODIFIED", "DELETED"));
  EXPECT_EQ(http_->Stats().active_watches, 1);
}

TEST_F(HttpServerTest, WatchResumesFromAResourceVersion) {
  ASSERT_EQ(Call(http::verb::post, kPods, PodJson("default", "a")).status, 201);
  Response list = Call(http::verb::get, kPods);
  const std::string rv = list.Json()["metadata"]["resourceVersion"];
  ASSERT_EQ(Call(http::verb::post, kPods, PodJson("default", "b")).status, 201);
  ASSERT_EQ(Call(http::verb::post, kPods, PodJson("default", "c")).status, 201);

  Client watcher(port());
  absl::StatusOr<int> code =
      watcher.BeginStream(absl::StrCat(kPods, "?watch=1&resourceVersion=", rv));
  ASSERT_TRUE(code.ok()) << code.status();
  std::vector<std::string> names;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<json> e = watcher.NextLine();
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ((*e)["type"], "ADDED");
    names.push_back((*e)["object"]["metadata"]["name"]);
  }
  EXPECT_THAT(names, ::testing::ElementsAre("b", "c"));

  // One object by name (kubectl get -w NAME).
  Client one(port());
  ASSERT_TRUE(
      one.BeginStream(absl::StrCat(kPods, "?watch=true&fieldSelector=metadata.name%3Dc")).ok());
  absl::StatusOr<json> e = one.NextLine();
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ((*e)["object"]["metadata"]["name"], "c");
}

TEST_F(HttpServerTest, WatchFromACompactedVersionGetsExpiredThenEnds) {
  Response created = Call(http::verb::post, kPods, PodJson("default", "a"));
  const std::string old_rv = created.Json()["metadata"]["resourceVersion"];
  ASSERT_EQ(Call(http::verb::post, kPods, PodJson("default", "b")).status, 201);
  absl::StatusOr<int64_t> now = storage_->CurrentRevision();
  ASSERT_TRUE(now.ok());
  ASSERT_TRUE(storage_->Compact(*now).ok());

  Client watcher(port());
  absl::StatusOr<int> code = watcher.BeginStream(
      absl::StrCat(kPods, "?watch=true&resourceVersion=", std::stoll(old_rv) - 1));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 200);
  absl::StatusOr<json> e = watcher.NextLine();
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ((*e)["type"], "ERROR");
  EXPECT_EQ((*e)["object"]["kind"], "Status");
  EXPECT_EQ((*e)["object"]["reason"], "Expired");
  EXPECT_EQ((*e)["object"]["code"], 410);
  EXPECT_EQ(watcher.NextLine().status().code(), absl::StatusCode::kOutOfRange);
}

class HttpBookmarkTest : public HttpServerTest {
 protected:
  void Customize(ApiServerOptions& api, HttpServerOptions& http) override {
    http.bookmark_interval = absl::Milliseconds(200);
  }
};

TEST_F(HttpBookmarkTest, BookmarksCarryTheResourceVersion) {
  Client watcher(port());
  ASSERT_TRUE(watcher
                  .BeginStream(
                      absl::StrCat(kPods, "?watch=true&allowWatchBookmarks=true&resourceVersion=1"))
                  .ok());
  absl::StatusOr<json> e = watcher.NextLine();
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ((*e)["type"], "BOOKMARK");
  EXPECT_FALSE((*e)["object"]["metadata"]["resourceVersion"].get<std::string>().empty());
}

TEST_F(HttpServerTest, WatchTimeoutSecondsEndsTheStreamCleanly) {
  Client watcher(port());
  ASSERT_TRUE(watcher.BeginStream(absl::StrCat(kPods, "?watch=true&timeoutSeconds=1")).ok());
  absl::StatusOr<json> e = watcher.NextLine();
  EXPECT_EQ(e.status().code(), absl::StatusCode::kOutOfRange) << e.status();
}

TEST_F(HttpServerTest, TableWatchSendsColumnsOnlyFirst) {
  Client watcher(port());
  ASSERT_TRUE(watcher
                  .BeginStream(absl::StrCat(kPods, "?watch=true"),
                               "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
                  .ok());
  ASSERT_EQ(Call(http::verb::post, kPods, PodJson("default", "t1")).status, 201);
  ASSERT_EQ(Call(http::verb::post, kPods, PodJson("default", "t2")).status, 201);
  absl::StatusOr<json> first = watcher.NextLine();
  absl::StatusOr<json> second = watcher.NextLine();
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ((*first)["object"]["kind"], "Table");
  EXPECT_FALSE((*first)["object"]["columnDefinitions"].empty());
  EXPECT_EQ((*first)["object"]["rows"].size(), 1u);
  EXPECT_TRUE((*second)["object"]["columnDefinitions"].is_null() ||
              (*second)["object"]["columnDefinitions"].empty());
  EXPECT_EQ((*second)["object"]["rows"][0]["cells"][0], "t2");
}

TEST_F(HttpServerTest, ClientDisconnectEndsTheWatch) {
  {
    Client watcher(port());
    ASSERT_TRUE(watcher.BeginStream(absl::StrCat(kPods, "?watch=true")).ok());
    EXPECT_EQ(http_->Stats().active_watches, 1);
  }  // the client closes its connection
  absl::Time deadline = absl::Now() + kTimeout;
  while (http_->Stats().active_watches != 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(http_->Stats().active_watches, 0);
}

TEST_F(HttpServerTest, ShutdownEndsOpenWatchesCleanly) {
  std::vector<std::unique_ptr<Client>> watchers;
  for (int i = 0; i < 3; ++i) {
    watchers.push_back(std::make_unique<Client>(port()));
    ASSERT_TRUE(watchers.back()->BeginStream(absl::StrCat(kPods, "?watch=true")).ok());
  }
  http_->Shutdown();
  for (auto& w : watchers) {
    absl::StatusOr<json> e = w->NextLine();
    EXPECT_EQ(e.status().code(), absl::StatusCode::kOutOfRange) << e.status();
  }
  EXPECT_EQ(http_->Stats().active_watches, 0);
  // Nothing listens any more.
  Client late(port());
  EXPECT_FALSE(late.Send(http::verb::get, "/healthz").ok());
  http_->Shutdown();  // idempotent
}

class HttpSlowClientTest : public HttpServerTest {
 protected:
  void Customize(ApiServerOptions& api, HttpServerOptions& http) override {
    http.request_read_timeout = absl::Seconds(1);
    http.idle_timeout = absl::Seconds(1);
  }
};

TEST_F(HttpSlowClientTest, HalfAHeaderIsDroppedAfterTheReadTimeout) {
  Client slow(port());
  ASSERT_TRUE(slow.Connect().ok());
  ASSERT_TRUE(slow.WriteRaw("GET /api/v1/pods HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept:").ok());
  EXPECT_TRUE(slow.WaitForClose(kTimeout).ok());

  Client idle(port());
  ASSERT_TRUE(idle.Connect().ok());
  EXPECT_TRUE(idle.WaitForClose(kTimeout).ok());
  // Others are served meanwhile and afterwards.
  EXPECT_EQ(Call(http::verb::get, "/healthz").status, 200);
}

// ---- Many watchers --------------------------------------------------------------------

// A watch client on a shared io_context: connects, asks for the watch and
// counts the events it receives.
class AsyncWatcher : public std::enable_shared_from_this<AsyncWatcher> {
 public:
  AsyncWatcher(net::io_context& ioc, int port, std::string target)
      : stream_(ioc), port_(port), target_(std::move(target)) {}

  void Start() {
    parser_.body_limit(boost::none);
    on_chunk_ = [this](std::uint64_t, beast::string_view body, beast::error_code&) {
      for (char c : body) events_ += (c == '\n');
      return body.size();
    };
    parser_.on_chunk_body(on_chunk_);
    request_ = {http::verb::get, target_, 11};
    request_.set(http::field::host, "127.0.0.1");
    request_.set(http::field::authorization, absl::StrCat("Bearer ", kAdminToken));
    tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port_));
    stream_.async_connect(endpoint, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->Fail();
      http::async_write(self->stream_, self->request_, [self](beast::error_code ec, size_t) {
        if (ec) return self->Fail();
        http::async_read_header(self->stream_, self->buffer_, self->parser_,
                                [self](beast::error_code ec, size_t) {
                                  if (ec) return self->Fail();
                                  self->streaming_ = true;
                                  self->Read();
                                });
      });
    });
  }

  void Read() {
    http::async_read_some(stream_, buffer_, parser_,
                          [self = shared_from_this()](beast::error_code ec, size_t) {
                            if (ec && ec != http::error::end_of_chunk) return;
                            if (self->parser_.is_done()) return;
                            self->Read();
                          });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().close(ignored);
  }

  int events() const { return events_.load(); }
  bool streaming() const { return streaming_.load(); }
  bool failed() const { return failed_.load(); }

 private:
  void Fail() { failed_ = true; }

  beast::tcp_stream stream_;
  const int port_;
  const std::string target_;
  http::request<http::empty_body> request_;
  beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
  std::function<size_t(std::uint64_t, beast::string_view, beast::error_code&)> on_chunk_;
  std::atomic<int> events_{0};
  std::atomic<bool> streaming_{false};
  std::atomic<bool> failed_{false};
};

TEST_F(HttpServerTest, AThousandWatchersEachReceiveEveryEvent) {
  constexpr int kWatchers = 1000;
  constexpr int kEvents = 3;
  Response list = Call(http::verb::get, "/api/v1/namespaces/default/configmaps");
  const std::string rv = list.Json()["metadata"]["resourceVersion"];
  net::io_context ioc;
  auto work = net::make_work_guard(ioc);
  std::thread client_thread([&] { ioc.run(); });
  std::vector<std::shared_ptr<AsyncWatcher>> watchers;
  for (int i = 0; i < kWatchers; ++i) {
    watchers.push_back(std::make_shared<AsyncWatcher>(
        ioc, port(),
        absl::StrCat("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=", rv)));
  }
  net::post(ioc, [&] {
    for (auto& w : watchers) w->Start();
  });
  auto wait_for = [&](const std::function<bool()>& done) {
    absl::Time deadline = absl::Now() + absl::Seconds(120);
    while (!done() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
    return done();
  };
  EXPECT_TRUE(wait_for([&] { return http_->Stats().active_watches == kWatchers; }))
      << http_->Stats().active_watches << " watches";
  for (int i = 0; i < kEvents; ++i) {
    Response r =
        Call(http::verb::post, "/api/v1/namespaces/default/configmaps",
             absl::StrCat(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm)", i,
                          R"("},"data":{"k":"v"}})"));
    ASSERT_EQ(r.status, 201) << r.body;
  }
  EXPECT_TRUE(wait_for([&] {
    for (const auto& w : watchers) {
      if (w->events() < kEvents) return false;
    }
    return true;
  }));
  int complete = 0, failed = 0;
  for (const auto& w : watchers) {
    complete += w->events() == kEvents;
    failed += w->failed();
  }
  EXPECT_EQ(complete, kWatchers);
  EXPECT_EQ(failed, 0);
  net::post(ioc, [&] {
    for (auto& w : watchers) w->Close();
  });
  EXPECT_TRUE(wait_for([&] { return http_->Stats().active_watches == 0; }));
  work.reset();
  ioc.stop();
  client_thread.join();
}

// ---- TLS ----------------------------------------------------------------------------------

// A CA, a serving certificate for 127.0.0.1, client certificates, and a
// second CA whose certificates the server must refuse; made with the
// openssl command in a temporary directory.
class TlsMaterial {
 public:
  TlsMaterial() {
    std::string templ = ::testing::TempDir() + "/korch-http-tls-XXXXXX";
    dir_ = mkdtemp(templ.data()) != nullptr ? templ : "";
  }
  ~TlsMaterial() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  bool Make() {
    if (dir_.empty()) return false;
    std::ofstream(Path("san.ext")) << "subjectAltName=IP:127.0.0.1\n";
    return Ca("ca") && Ca("rogue") && Leaf("server", "ca", "/CN=127.0.0.1", true) &&
           Leaf("alice", "ca", "/O=system:masters/CN=alice", false) &&
           Leaf("bob", "ca", "/O=devs/CN=bob", false) &&
           Leaf("mallory", "rogue", "/O=system:masters/CN=mallory", false);
  }

  std::string Path(absl::string_view name) const { return absl::StrCat(dir_, "/", name); }

 private:
  bool Run(const std::string& command) {
    return std::system(absl::StrCat(command, " >/dev/null 2>&1").c_str()) == 0;
  }
  bool Ca(absl::string_view name) {
    return Run(
        absl::StrCat("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                     "-nodes -days 2 -subj /CN=",
                     name, "-ca -keyout ", Path(absl::StrCat(name, ".key")), " -out ",
                     Path(absl::StrCat(name, ".crt"))));
  }
  bool Leaf(absl::string_view name, absl::string_view ca, absl::string_view subject, bool server) {
    std::string key = Path(absl::StrCat(name, ".key"));
    std::string csr = Path(absl::StrCat(name, ".csr"));
    return Run(absl::StrCat("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                            "-subj ",
                            subject, " -keyout ", key, " -out ", csr)) &&
           Run(absl::StrCat("openssl x509 -req -days 2 -in ", csr, " -CA ",
                            Path(absl::StrCat(ca, ".crt")), " -CAkey ",
                            Path(absl::StrCat(ca, ".key")), " -CAcreateserial -out ",
                            Path(absl::StrCat(name, ".crt")),
                            server ? absl::StrCat(" -extfile ", Path("san.ext")) : ""));
  }

  std::string dir_;
};

class HttpTlsTest : public HttpServerTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(material_.Make()) << "openssl could not make the test certificates";
    HttpServerTest::SetUp();
  }

  void Customize(ApiServerOptions& api, HttpServerOptions& http) override {
    std::vector<std::unique_ptr<Authenticator>> chain;
    absl::StatusOr<std::unique_ptr<Authenticator>> x509 = X509Authenticator::Create();
    ASSERT_TRUE(x509.ok());
    chain.push_back(*std::move(x509));
    auto tokens =
        TokenFileAuthenticator::FromString(absl::StrCat(kAdminToken, ",admin,1,system:masters\n"));
    ASSERT_TRUE(tokens.ok());
    chain.push_back(*std::move(tokens));
    api.authenticator = std::make_shared<FirstOf>(std::move(chain));
    api.authorization.rbac = true;
    http.plain_http = false;
    http.tls_cert_file = material_.Path("server.crt");
    http.tls_key_file = material_.Path("server.key");
    http.client_ca_file = material_.Path("ca.crt");
  }

  // A client context trusting the test CA, presenting `user`'s certificate
  // ("" for none).
  std::unique_ptr<ssl::context> ClientContext(absl::string_view user) {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    ctx->load_verify_file(material_.Path("ca.crt"));
    ctx->set_verify_mode(ssl::verify_peer);
    if (!user.empty()) {
      ctx->use_certificate_chain_file(material_.Path(absl::StrCat(user, ".crt")));
      ctx->use_private_key_file(material_.Path(absl::StrCat(user, ".key")), ssl::context::pem);
    }
    return ctx;
  }

  TlsMaterial material_;
};

TEST_F(HttpTlsTest, ClientCertificatesIdentifyTheUser) {
  auto alice_ctx = ClientContext("alice");
  Client alice(port(), *alice_ctx);
  alice.set_token("");
  absl::StatusOr<Response> r = alice.Send(http::verb::get, kPods);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;

  auto bob_ctx = ClientContext("bob");
  Client bob(port(), *bob_ctx);
  bob.set_token("");
  r = bob.Send(http::verb::get, kPods);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(r->Json()["reason"], "Forbidden");
  EXPECT_THAT(r->Json()["message"].get<std::string>(), HasSubstr("User \"bob\""));

  // A bearer token over TLS without a certificate.
  auto plain_ctx = ClientContext("");
  Client admin(port(), *plain_ctx);
  r = admin.Send(http::verb::get, kPods);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);

  Client nobody(port(), *plain_ctx);
  nobody.set_token("");
  r = nobody.Send(http::verb::get, kPods);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 401);
}

TEST_F(HttpTlsTest, ACertificateFromAnotherCaIsRefusedAtTheHandshake) {
  auto mallory_ctx = ClientContext("mallory");
  Client mallory(port(), *mallory_ctx);
  mallory.set_token("");
  // With TLS 1.3 the client may finish its side of the handshake before the
  // server's alert arrives; either way no HTTP answer comes back.
  absl::StatusOr<Response> r = mallory.Send(http::verb::get, kPods);
  EXPECT_FALSE(r.ok());
  // The server goes on serving good clients.
  auto alice_ctx = ClientContext("alice");
  Client alice(port(), *alice_ctx);
  alice.set_token("");
  r = alice.Send(http::verb::get, "/healthz");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
}

TEST_F(HttpTlsTest, WatchOverTls) {
  auto alice_ctx = ClientContext("alice");
  Client watcher(port(), *alice_ctx);
  watcher.set_token("");
  absl::StatusOr<int> code = watcher.BeginStream(absl::StrCat(kPods, "?watch=true"));
  ASSERT_TRUE(code.ok()) << code.status();
  ASSERT_EQ(*code, 200);
  auto admin_ctx = ClientContext("");
  Client admin(port(), *admin_ctx);
  absl::StatusOr<Response> r = admin.Send(http::verb::post, kPods, PodJson("default", "tls"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->status, 201) << r->body;
  absl::StatusOr<json> e = watcher.NextLine();
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ((*e)["object"]["metadata"]["name"], "tls");
  http_->Shutdown();
  EXPECT_EQ(watcher.NextLine().status().code(), absl::StatusCode::kOutOfRange);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST_F(HttpTlsTest, PemTextInsteadOfFiles) {
  HttpServerOptions options;
  options.listen_address = "127.0.0.1:0";
  options.tls_cert_pem = ReadFile(material_.Path("server.crt"));
  options.tls_key_pem = ReadFile(material_.Path("server.key"));
  options.client_ca_pem = ReadFile(material_.Path("ca.crt"));
  absl::StatusOr<std::unique_ptr<HttpServer>> second = HttpServer::Start(*api_, options);
  ASSERT_TRUE(second.ok()) << second.status();
  auto alice_ctx = ClientContext("alice");
  Client alice((*second)->port(), *alice_ctx);
  alice.set_token("");
  absl::StatusOr<Response> r = alice.Send(http::verb::get, kPods);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;
  auto mallory_ctx = ClientContext("mallory");
  Client mallory((*second)->port(), *mallory_ctx);
  mallory.set_token("");
  EXPECT_FALSE(mallory.Send(http::verb::get, kPods).ok());

  // A key that does not belong to the certificate is refused at Start().
  options.tls_key_pem = ReadFile(material_.Path("bob.key"));
  EXPECT_EQ(HttpServer::Start(*api_, options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(HttpServerOptionsTest, BadOptionsAreRefused) {
  absl::StatusOr<std::unique_ptr<store::Storage>> storage = store::OpenMemoryStorage();
  ASSERT_TRUE(storage.ok());
  ApiServerOptions api_options;
  api_options.storage = storage->get();
  absl::StatusOr<std::unique_ptr<ApiServer>> api = ApiServer::Create(std::move(api_options));
  ASSERT_TRUE(api.ok());
  HttpServerOptions options;
  options.listen_address = "127.0.0.1:0";
  // TLS is the default and needs a certificate.
  EXPECT_EQ(HttpServer::Start(**api, options).status().code(), absl::StatusCode::kInvalidArgument);
  options.plain_http = true;
  options.listen_address = "no-port";
  EXPECT_EQ(HttpServer::Start(**api, options).status().code(), absl::StatusCode::kInvalidArgument);
  options.listen_address = "example.com:80";
  EXPECT_EQ(HttpServer::Start(**api, options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace korch::apiserver
