// The C API over korch's C++ objects. Every entry point catches every
// exception (none should escape the C++ layers, but a C caller cannot
// handle one) and turns absl::Status into a return code plus a thread-local
// message.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "internal.h"
#include "korch.h"
#include "korch/api/codec.h"
#include "korch/api/scheme.h"
#include "korch/apiserver/admission.h"
#include "korch/apiserver/authn.h"
#include "korch/apiserver/http_server.h"
#include "korch/apiserver/server.h"
#include "korch/base/status.h"
#include "korch/client/client.h"
#include "korch/client/http_client.h"
#include "korch/controllers/garbage_collector.h"
#include "korch/controllers/namespace_controller.h"
#include "korch/store.h"
#include "nlohmann/json.hpp"

namespace {

using korch::api::Scheme;
using namespace korch::capi;  // NOLINT: the C layer's helpers
namespace apiserver = korch::apiserver;
namespace client = korch::client;
namespace store = korch::store;

absl::StatusOr<nlohmann::json> ParseJsonOptions(const char* text, absl::string_view what) {
  if (text == nullptr || *text == '\0') return nlohmann::json::object();
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": not a JSON object"));
  }
  return j;
}

}  // namespace

// ---------------------------------------------------------------------------
// Errors, memory, version
// ---------------------------------------------------------------------------

extern "C" {

const char* korch_last_error(void) { return korch::capi::LastError().c_str(); }

void korch_free(void* p) { std::free(p); }

const char* korch_version(void) { return KORCH_VERSION_STRING; }

}  // extern "C"

// ---------------------------------------------------------------------------
// Store
// ---------------------------------------------------------------------------

struct korch_store_t {
  std::unique_ptr<store::Storage> storage;
};

struct korch_watch_t {
  std::atomic<bool> stopping{false};
  // Exactly one of these is set.
  std::unique_ptr<store::Watcher> store_watcher;
  std::unique_ptr<client::WatchStream> client_stream;
  std::thread thread;
};

namespace {

int OpenStore(korch_store_t** out, absl::StatusOr<std::unique_ptr<store::Storage>> opened) {
  if (!opened.ok()) return Fail(opened.status());
  *out = new korch_store_t{*std::move(opened)};
  return Ok();
}

void FillMeta(const store::KeyValue& kv, korch_kv_meta_t* meta) {
  if (meta == nullptr) return;
  meta->create_revision = kv.create_revision;
  meta->mod_revision = kv.mod_revision;
  meta->version = kv.version;
}

}  // namespace

extern "C" {

int korch_store_open_rocksdb(korch_store_t** out, const char* path, const char* options_json) {
  return Guard([&] {
    KORCH_REQUIRE(out);
    KORCH_REQUIRE(path);
    *out = nullptr;
    absl::StatusOr<nlohmann::json> j = ParseJsonOptions(options_json, "store options");
    if (!j.ok()) return Fail(j.status());
    store::RocksDbStorageOptions options;
    options.path = path;
    for (const auto& [key, value] : j->items()) {
      if (key == "sync" && value.is_boolean()) {
        options.sync = value.get<bool>();
      } else {
        return Fail(KORCH_ERR_INVALID, absl::StrCat("store options: unknown or mistyped field \"",
                                                    key, "\" (known: sync (bool))"));
      }
    }
    return OpenStore(out, store::OpenRocksDbStorage(std::move(options)));
  });
}

int korch_store_open_memory(korch_store_t** out) {
  return Guard([&] {
    KORCH_REQUIRE(out);
    *out = nullptr;
    return OpenStore(out, store::OpenMemoryStorage());
  });
}

int korch_store_open_etcd(korch_store_t** out, const char* endpoints, const char* key_prefix) {
  return Guard([&] {
    KORCH_REQUIRE(out);
    KORCH_REQUIRE(endpoints);
    *out = nullptr;
    store::EtcdStorageOptions options;
    for (absl::string_view e : absl::StrSplit(endpoints, ',', absl::SkipWhitespace())) {
      options.endpoints.emplace_back(e);
    }
    if (options.endpoints.empty()) {
      return Fail(KORCH_ERR_INVALID, "endpoints: Required value: at least one host:port");
    }
    options.key_prefix = Str(key_prefix);
    return OpenStore(out, store::OpenEtcdStorage(std::move(options)));
  });
}

void korch_store_destroy(korch_store_t* store) { delete store; }

int korch_store_get(char** value, size_t* value_len, korch_kv_meta_t* meta, korch_store_t* store,
                    const char* key) {
  return Guard([&] {
    KORCH_REQUIRE(store);
    KORCH_REQUIRE(key);
    absl::StatusOr<store::KeyValue> kv = store->storage->Get(key);
    if (!kv.ok()) return Fail(kv.status());
    FillMeta(*kv, meta);
    if (value_len != nullptr) *value_len = kv->value.size();
    return SetOut(value, kv->value);
  });
}

int korch_store_create(int64_t* revision, korch_store_t* store, const char* key, const void* value,
                       size_t value_len) {
  return Guard([&] {
    KORCH_REQUIRE(store);
    KORCH_REQUIRE(key);
    if (value == nullptr && value_len > 0) return Fail(KORCH_ERR_INVALID, "value: NULL");
    absl::StatusOr<int64_t> rev =
        store->storage->Create(key, absl::string_view(static_cast<const char*>(value), value_len));
    if (!rev.ok()) return Fail(rev.status());
    if (revision != nullptr) *revision = *rev;
    return Ok();
  });
}

int korch_store_update(int64_t* revision, korch_store_t* store, const char* key, const void* value,
                       size_t value_len, int64_t expected_mod_revision) {
  return Guard([&] {
    KORCH_REQUIRE(store);
    KORCH_REQUIRE(key);
    if (value == nullptr && value_len > 0) return Fail(KORCH_ERR_INVALID, "value: NULL");
    absl::StatusOr<int64_t> rev = store->storage->Update(
        key, absl::string_view(static_cast<const char*>(value), value_len), expected_mod_revision);
    if (!rev.ok()) return Fail(rev.status());
    if (revision != nullptr) *revision = *rev;
    return Ok();
  });
}

int korch_store_delete(int64_t* revision, korch_store_t* store, const char* key,
                       int64_t expected_mod_revision) {
  return Guard([&] {
    KORCH_REQUIRE(store);
    KORCH_REQUIRE(key);
    absl::StatusOr<store::KeyValue> kv = store->storage->Delete(key, expected_mod_revision);
    if (!kv.ok()) return Fail(kv.status());
    if (revision != nullptr) *revision = kv->mod_revision;
    return Ok();
  });
}

int korch_store_range(int64_t* at_revision, int* more, korch_store_t* store, const char* start,
                      const char* end, int64_t revision, int64_t limit, korch_kv_fn fn,
                      void* user_data) {
  return Guard([&] {
    KORCH_REQUIRE(store);
    KORCH_REQUIRE(start);
    KORCH_REQUIRE(fn);
    if (limit < 0) return Fail(KORCH_ERR_INVALID, "limit: must be >= 0");
    std::string range_end = end == nullptr ? store::PrefixEnd(start) : std::string(end);
    store::RangeOptions options;
    options.revision = revision;
    options.limit = limit;
    absl::StatusOr<store::RangeResult> result = store->storage->Range(start, range_end, options);
    if (!result.ok()) return Fail(result.status());
    if (at_revision != nullptr) *at_revision = result->revision;
    if (more != nullptr) *more = result->more ? 1 : 0;
    for (const store::KeyValue& kv : result->kvs) {
      korch_kv_meta_t meta;
      FillMeta(kv, &meta);
      if (fn(kv.key.c_str(), kv.key.size(), kv.value.c_str(), kv.value.size(), &meta, user_data) !=
          0) {
        break;
      }
    }
    return Ok();
  });
}

int korch_store_current_revision(int64_t* revision, korch_store_t* store) {
  return Guard([&] {
    KORCH_REQUIRE(revision);
    KORCH_REQUIRE(store);
    absl::StatusOr<int64_t> rev = store->storage->CurrentRevision();
    if (!rev.ok()) return Fail(rev.status());
    *revision = *rev;
    return Ok();
  });
}

int korch_store_compact(korch_store_t* store, int64_t revision) {
  return Guard([&] {
    KORCH_REQUIRE(store);
    absl::Status s = store->storage->Compact(revision);
    return s.ok() ? Ok() : Fail(s);
  });
}

int korch_store_watch(korch_watch_t** out, korch_store_t* store, const char* prefix,
                      int64_t start_revision, korch_store_event_fn on_event,
                      korch_watch_end_fn on_end, void* user_data) {
  return Guard([&] {
    KORCH_REQUIRE(out);
    KORCH_REQUIRE(store);
    KORCH_REQUIRE(prefix);
    KORCH_REQUIRE(on_event);
    *out = nullptr;
    store::WatchOptions options;
    options.start_revision = start_revision < 0 ? store::WatchOptions::kFromNow : start_revision;
    absl::StatusOr<std::unique_ptr<store::Watcher>> watcher =
        store->storage->Watch(prefix, store::PrefixEnd(prefix), options);
    if (!watcher.ok()) return Fail(watcher.status());
    auto watch = std::make_unique<korch_watch_t>();
    watch->store_watcher = *std::move(watcher);
    korch_watch_t* w = watch.get();
    w->thread = std::thread([w, on_event, on_end, user_data] {
      int end_code = KORCH_OK;
      std::string end_message;
      while (!w->stopping.load()) {
        absl::StatusOr<store::WatchBatch> batch = w->store_watcher->Next(absl::Milliseconds(200));
        if (!batch.ok()) {
          if (w->stopping.load()) return;  // destroyed: no end callback
          end_code = -static_cast<int>(batch.status().code());
          end_message = std::string(batch.status().message());
          break;
        }
        bool stop = false;
        for (const auto& e : batch->events) {
          const bool del = e->type == store::Event::Type::kDelete;
          const char* prev = e->prev_kv ? e->prev_kv->value.c_str() : nullptr;
          size_t prev_len = e->prev_kv ? e->prev_kv->value.size() : 0;
          const std::string& value = del ? std::string() : e->kv.value;
          if (on_event(del ? KORCH_EVENT_DELETE : KORCH_EVENT_PUT, e->kv.key.c_str(),
                       e->kv.key.size(), del ? nullptr : value.c_str(), del ? 0 : value.size(),
                       prev, prev_len, e->revision(), user_data) != 0) {
            stop = true;
            break;
          }
        }
        if (stop) {
          end_message = "stopped by the callback";
          break;
        }
      }
      if (w->stopping.load()) return;
      if (on_end != nullptr) on_end(end_code, end_message.c_str(), user_data);
    });
    *out = watch.release();
    return Ok();
  });
}

void korch_watch_destroy(korch_watch_t* watch) {
  if (watch == nullptr) return;
  watch->stopping.store(true);
  if (watch->store_watcher) watch->store_watcher->Cancel();
  if (watch->client_stream) watch->client_stream->Cancel();
  if (watch->thread.joinable()) watch->thread.join();
  delete watch;
}

}  // extern "C"

// ---------------------------------------------------------------------------
// API server
// ---------------------------------------------------------------------------

namespace {

nlohmann::json UserJson(const apiserver::UserInfo& user) {
  nlohmann::json j;
  j["name"] = user.name;
  j["groups"] = user.groups;
  if (!user.uid.empty()) j["uid"] = user.uid;
  return j;
}

absl::StatusOr<apiserver::UserInfo> ParseUser(const char* text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("user: not a JSON object like {\"name\": \"alice\"}");
  }
  apiserver::UserInfo user;
  if (!j.contains("name") || !j["name"].is_string() || j["name"].get<std::string>().empty()) {
    return absl::InvalidArgumentError("user.name: Required value");
  }
  user.name = j["name"].get<std::string>();
  if (j.contains("uid") && j["uid"].is_string()) user.uid = j["uid"].get<std::string>();
  if (j.contains("groups")) {
    if (!j["groups"].is_array()) return absl::InvalidArgumentError("user.groups: must be a list");
    for (const auto& g : j["groups"]) {
      if (!g.is_string()) return absl::InvalidArgumentError("user.groups: must be strings");
      user.groups.push_back(g.get<std::string>());
    }
  }
  return user;
}

absl::Status CallbackRefusal(int code, char* message, absl::string_view plugin) {
  std::string text = message != nullptr ? std::string(message) : std::string();
  std::free(message);
  if (text.empty()) text = absl::StrCat("refused by admission plugin ", plugin);
  switch (code) {
    case KORCH_ERR_INVALID:
      return absl::InvalidArgumentError(text);
    case KORCH_ERR_FORBIDDEN:
      return absl::PermissionDeniedError(text);
    case KORCH_ERR_UNAVAILABLE:
      return absl::UnavailableError(text);
    default:
      return absl::PermissionDeniedError(
          absl::StrCat("admission plugin ", plugin, " failed (code ", code, "): ", text));
  }
}

// An admission plugin whose logic is a C callback.
class CAdmission final : public apiserver::MutatingAdmissionPlugin,
                         public apiserver::ValidatingAdmissionPlugin {
 public:
  CAdmission(std::string name, bool mutating, korch_admission_fn fn, void* user_data)
      : name_(std::move(name)), mutating_(mutating), fn_(fn), user_data_(user_data) {}
  absl::string_view Name() const override { return name_; }
  absl::Status Admit(apiserver::AdmissionAttributes& a) override { return Call(a, true); }
  absl::Status Validate(apiserver::AdmissionAttributes& a) override { return Call(a, false); }

 private:
  absl::Status Call(apiserver::AdmissionAttributes& a, bool may_mutate) {
    int op = a.operation() == apiserver::AdmissionOperation::kCreate   ? KORCH_OP_CREATE
             : a.operation() == apiserver::AdmissionOperation::kUpdate ? KORCH_OP_UPDATE
                                                                       : KORCH_OP_DELETE;
    const google::protobuf::Message* object = a.object();
    if (object == nullptr) object = a.old_object();
    std::string object_json = object != nullptr ? korch::api::EncodeJson(*object) : "null";
    std::string old_json = a.old_object() != nullptr ? korch::api::EncodeJson(*a.old_object()) : "";
    std::string user_json = UserJson(a.user()).dump();
    char* mutated = nullptr;
    char* message = nullptr;
    int rc = fn_(op, object_json.c_str(), old_json.empty() ? nullptr : old_json.c_str(),
                 user_json.c_str(), may_mutate ? &mutated : nullptr, &message, user_data_);
    if (rc != KORCH_OK) {
      std::free(mutated);
      return CallbackRefusal(rc, message, name_);
    }
    std::free(message);
    if (mutated == nullptr) return absl::OkStatus();
    std::string replacement(mutated);
    std::free(mutated);
    google::protobuf::Message* target = a.object();
    if (target == nullptr) {
      return absl::InternalError(
          absl::StrCat("admission plugin ", name_, " returned an object for a delete"));
    }
    std::unique_ptr<google::protobuf::Message> decoded(target->New());
    absl::Status s = korch::api::DecodeJson(replacement, decoded.get());
    if (!s.ok()) {
      return absl::InternalError(absl::StrCat(
          "admission plugin ", name_, " returned an object that does not decode: ", s.message()));
    }
    target->CopyFrom(*decoded);
    return absl::OkStatus();
  }

  std::string name_;
  bool mutating_;
  korch_admission_fn fn_;
  void* user_data_;
};

class CAuthenticator final : public apiserver::Authenticator {
 public:
  CAuthenticator(std::string name, korch_authenticator_fn fn, void* user_data)
      : name_(std::move(name)), fn_(fn), user_data_(user_data) {}
  absl::string_view Name() const override { return name_; }
  apiserver::AuthnResult Authenticate(const apiserver::AuthnRequest& request) const override {
    if (!request.bearer_token.has_value()) return apiserver::AuthnResult::NoOpinion();
    char* user_json = nullptr;
    int rc = fn_(request.bearer_token->c_str(), &user_json, user_data_);
    std::string text = user_json != nullptr ? std::string(user_json) : std::string();
    std::free(user_json);
    if (rc == 0) return apiserver::AuthnResult::NoOpinion();
    if (rc < 0) {
      return apiserver::AuthnResult::Rejected(
          absl::StrCat("authenticator ", name_, " rejected the token (code ", rc, ")"));
    }
    absl::StatusOr<apiserver::UserInfo> user = ParseUser(text.c_str());
    if (!user.ok()) {
      return apiserver::AuthnResult::Rejected(
          absl::StrCat("authenticator ", name_, " returned a bad user: ", user.status().message()));
    }
    return apiserver::AuthnResult::Authenticated(*std::move(user));
  }

 private:
  std::string name_;
  korch_authenticator_fn fn_;
  void* user_data_;
};

// Adapts an AuthenticatorChain to the single Authenticator the server takes.
class ChainAuthenticator final : public apiserver::Authenticator {
 public:
  explicit ChainAuthenticator(std::unique_ptr<apiserver::AuthenticatorChain> chain)
      : chain_(std::move(chain)) {}
  absl::string_view Name() const override { return "chain"; }
  apiserver::AuthnResult Authenticate(const apiserver::AuthnRequest& request) const override {
    absl::StatusOr<apiserver::UserInfo> user = chain_->Authenticate(request);
    if (!user.ok()) return apiserver::AuthnResult::Rejected(std::string(user.status().message()));
    return apiserver::AuthnResult::Authenticated(*std::move(user));
  }

 private:
  std::unique_ptr<apiserver::AuthenticatorChain> chain_;
};

}  // namespace

struct korch_apiserver_options_t {
  nlohmann::json json;
  std::vector<std::shared_ptr<CAdmission>> mutating;
  std::vector<std::shared_ptr<CAdmission>> validating;
  std::vector<std::shared_ptr<CAuthenticator>> authenticators;
};

struct korch_apiserver_t {
  std::unique_ptr<store::Storage> storage;
  std::unique_ptr<apiserver::ApiServer> server;
  std::unique_ptr<client::Client> system_client;
  std::unique_ptr<korch::controllers::GarbageCollector> gc;
  std::unique_ptr<korch::controllers::NamespaceController> namespaces;
  std::unique_ptr<apiserver::HttpServer> http;
  std::string url;
};

namespace {

absl::StatusOr<std::unique_ptr<store::Storage>> OpenStoreFromJson(const nlohmann::json& j) {
  if (j.is_null() || (j.is_string() && j.get<std::string>() == "memory")) {
    return store::OpenMemoryStorage();
  }
  if (j.is_object() && j.contains("rocksdb") && j["rocksdb"].is_string()) {
    store::RocksDbStorageOptions options;
    options.path = j["rocksdb"].get<std::string>();
    return store::OpenRocksDbStorage(std::move(options));
  }
  if (j.is_object() && j.contains("etcd") && j["etcd"].is_string()) {
    store::EtcdStorageOptions options;
    for (absl::string_view e :
         absl::StrSplit(j["etcd"].get<std::string>(), ',', absl::SkipWhitespace())) {
      options.endpoints.emplace_back(e);
    }
    if (j.contains("prefix") && j["prefix"].is_string()) {
      options.key_prefix = j["prefix"].get<std::string>();
    }
    return store::OpenEtcdStorage(std::move(options));
  }
  return absl::InvalidArgumentError(
      "options.store: must be \"memory\", {\"rocksdb\": \"/path\"} or {\"etcd\": "
      "\"host:port,...\"}");
}

absl::Status CheckServerOptions(const nlohmann::json& j) {
  static const char* const kKnown[] = {
      "store",          "listen",          "plain_http", "tls_cert_file", "tls_key_file",
      "client_ca_file", "token_auth_file", "anonymous",  "rbac",          "admission"};
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (const char* k : kKnown) known = known || key == k;
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat("options.", key, ": unknown field"));
    }
    if ((key == "plain_http" || key == "anonymous" || key == "rbac" || key == "admission") &&
        !value.is_boolean()) {
      return absl::InvalidArgumentError(absl::StrCat("options.", key, ": must be true or false"));
    }
    if ((key == "listen" || absl::EndsWith(key, "_file")) && !value.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("options.", key, ": must be a string"));
    }
  }
  return absl::OkStatus();
}

bool Flag(const nlohmann::json& j, const char* key, bool fallback) {
  return j.contains(key) ? j[key].get<bool>() : fallback;
}

std::string StrField(const nlohmann::json& j, const char* key) {
  return j.contains(key) ? j[key].get<std::string>() : std::string();
}

absl::Status StartServer(korch_apiserver_t& s, const korch_apiserver_options_t& o) {
  const nlohmann::json& j = o.json;
  KORCH_RETURN_IF_ERROR(CheckServerOptions(j));
  KORCH_ASSIGN_OR_RETURN(s.storage,
                         OpenStoreFromJson(j.contains("store") ? j["store"] : nlohmann::json()));

  std::vector<std::unique_ptr<apiserver::Authenticator>> authenticators;
  for (const auto& a : o.authenticators) {
    authenticators.push_back(std::make_unique<CAuthenticator>(*a));
  }
  if (const std::string file = StrField(j, "token_auth_file"); !file.empty()) {
    KORCH_ASSIGN_OR_RETURN(auto tokens, apiserver::TokenFileAuthenticator::Load(file));
    authenticators.push_back(std::move(tokens));
  }
  if (!StrField(j, "client_ca_file").empty()) {
    KORCH_ASSIGN_OR_RETURN(auto x509, apiserver::X509Authenticator::Create());
    authenticators.push_back(std::move(x509));
  }
  apiserver::AuthenticatorChainOptions chain_options;
  chain_options.allow_anonymous = Flag(j, "anonymous", false);
  KORCH_ASSIGN_OR_RETURN(
      auto chain, apiserver::AuthenticatorChain::Create(std::move(authenticators), chain_options));

  apiserver::ApiServerOptions options;
  options.storage = s.storage.get();
  options.authenticator = std::make_shared<ChainAuthenticator>(std::move(chain));
  options.authorization.rbac = Flag(j, "rbac", true);
  options.authorization.node = options.authorization.rbac;
  if (Flag(j, "admission", true)) options.admission = apiserver::DefaultAdmissionChain();
  for (const auto& m : o.mutating) options.admission.mutating.push_back(m);
  for (const auto& v : o.validating) options.admission.validating.push_back(v);
  KORCH_RETURN_IF_ERROR(options.admission.Check());
  KORCH_ASSIGN_OR_RETURN(s.server, apiserver::ApiServer::Create(std::move(options)));

  s.system_client = client::NewInProcessClient(*s.server, apiserver::SystemUser());
  KORCH_ASSIGN_OR_RETURN(s.gc,
                         korch::controllers::GarbageCollector::Create(
                             *s.system_client, korch::controllers::GarbageCollectorOptions()));
  KORCH_ASSIGN_OR_RETURN(s.namespaces,
                         korch::controllers::NamespaceController::Create(
                             *s.system_client, korch::controllers::NamespaceControllerOptions()));
  s.gc->Start();
  s.namespaces->Start();

  if (const std::string listen = StrField(j, "listen"); !listen.empty()) {
    apiserver::HttpServerOptions http;
    http.listen_address = listen;
    http.plain_http = Flag(j, "plain_http", false);
    http.tls_cert_file = StrField(j, "tls_cert_file");
    http.tls_key_file = StrField(j, "tls_key_file");
    http.client_ca_file = StrField(j, "client_ca_file");
    if (!http.plain_http && (http.tls_cert_file.empty() || http.tls_key_file.empty())) {
      return absl::InvalidArgumentError(
          "options.tls_cert_file and options.tls_key_file: Required value: HTTPS needs a "
          "certificate (or set plain_http for loopback development)");
    }
    KORCH_ASSIGN_OR_RETURN(s.http, apiserver::HttpServer::Start(*s.server, std::move(http)));
    s.url = absl::StrCat(Flag(j, "plain_http", false) ? "http://" : "https://", s.http->address());
  }
  return absl::OkStatus();
}

void StopServer(korch_apiserver_t* s) {
  if (s->http) s->http->Shutdown();
  if (s->namespaces) s->namespaces->Stop();
  if (s->gc) s->gc->Stop();
  s->http.reset();
  s->namespaces.reset();
  s->gc.reset();
  s->system_client.reset();
  s->server.reset();
  s->storage.reset();
}

}  // namespace

extern "C" {

int korch_apiserver_options_new(korch_apiserver_options_t** out, const char* options_json) {
  return Guard([&] {
    KORCH_REQUIRE(out);
    *out = nullptr;
    absl::StatusOr<nlohmann::json> j = ParseJsonOptions(options_json, "options");
    if (!j.ok()) return Fail(j.status());
    if (absl::Status s = CheckServerOptions(*j); !s.ok()) return Fail(s);
    *out = new korch_apiserver_options_t{*std::move(j), {}, {}, {}};
    return Ok();
  });
}

void korch_apiserver_options_destroy(korch_apiserver_options_t* options) { delete options; }

int korch_apiserver_options_add_admission(korch_apiserver_options_t* options, const char* name,
                                          int mutating, korch_admission_fn fn, void* user_data) {
  return Guard([&] {
    KORCH_REQUIRE(options);
    KORCH_REQUIRE(name);
    KORCH_REQUIRE(fn);
    if (*name == '\0') return Fail(KORCH_ERR_INVALID, "name: Required value");
    auto& list = mutating ? options->mutating : options->validating;
    for (const auto& p : list) {
      if (p->Name() == name) {
        return Fail(KORCH_ERR_ALREADY_EXISTS,
                    absl::StrCat("admission plugin \"", name, "\" is already registered"));
      }
    }
    list.push_back(std::make_shared<CAdmission>(name, mutating != 0, fn, user_data));
    return Ok();
  });
}

int korch_apiserver_options_add_authenticator(korch_apiserver_options_t* options, const char* name,
                                              korch_authenticator_fn fn, void* user_data) {
  return Guard([&] {
    KORCH_REQUIRE(options);
    KORCH_REQUIRE(name);
    KORCH_REQUIRE(fn);
    for (const auto& a : options->authenticators) {
      if (a->Name() == name) {
        return Fail(KORCH_ERR_ALREADY_EXISTS,
                    absl::StrCat("authenticator \"", name, "\" is already registered"));
      }
    }
    options->authenticators.push_back(std::make_shared<CAuthenticator>(name, fn, user_data));
    return Ok();
  });
}

int korch_apiserver_start(korch_apiserver_t** out, const korch_apiserver_options_t* options) {
  return Guard([&] {
    KORCH_REQUIRE(out);
    *out = nullptr;
    korch_apiserver_options_t defaults{nlohmann::json::object(), {}, {}, {}};
    auto server = std::make_unique<korch_apiserver_t>();
    absl::Status s = StartServer(*server, options != nullptr ? *options : defaults);
    if (!s.ok()) {
      StopServer(server.get());
      return Fail(s);
    }
    *out = server.release();
    return Ok();
  });
}

int korch_apiserver_url(char** url, korch_apiserver_t* server) {
  return Guard([&] {
    KORCH_REQUIRE(url);
    KORCH_REQUIRE(server);
    if (server->url.empty()) {
      return Fail(KORCH_ERR_FAILED_PRECONDITION,
                  "the server has no HTTP listener (set \"listen\" in its options)");
    }
    return SetOut(url, server->url);
  });
}

void korch_apiserver_destroy(korch_apiserver_t* server) {
  if (server == nullptr) return;
  try {
    StopServer(server);
  } catch (...) {
  }
  delete server;
}

}  // extern "C"

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

namespace {

absl::StatusOr<const korch::api::KindInfo*> FindKind(client::Client& c, const char* api_version,
                                                     const char* kind) {
  if (api_version == nullptr || *api_version == '\0') {
    return absl::InvalidArgumentError("apiVersion: Required value");
  }
  if (kind == nullptr || *kind == '\0') return absl::InvalidArgumentError("kind: Required value");
  const korch::api::KindInfo* info = c.scheme().Find(api_version, kind);
  if (info == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no kind \"", kind, "\" is registered for version \"", api_version, "\""));
  }
  return info;
}

absl::StatusOr<apiserver::PatchType> ParsePatchType(const char* type) {
  std::string t = Str(type);
  if (t == "json") return apiserver::PatchType::kJson;
  if (t == "merge") return apiserver::PatchType::kMerge;
  if (t == "strategic") return apiserver::PatchType::kStrategicMerge;
  if (t == "apply") return apiserver::PatchType::kApply;
  return absl::InvalidArgumentError(absl::StrCat("patch_type: Unsupported value: \"", t,
                                                 "\": supported values: \"json\", \"merge\", "
                                                 "\"strategic\", \"apply\""));
}

std::string Ns(const char* ns) { return ns == nullptr ? std::string() : std::string(ns); }

}  // namespace

extern "C" {

int korch_client_new(korch_client_t** out, korch_apiserver_t* server, const char* user_json) {
  return Guard([&] {
    KORCH_REQUIRE(out);
    KORCH_REQUIRE(server);
    *out = nullptr;
    apiserver::UserInfo user = apiserver::SystemUser();
    if (user_json != nullptr) {
      absl::StatusOr<apiserver::UserInfo> parsed = ParseUser(user_json);
      if (!parsed.ok()) return Fail(parsed.status());
      user = *std::move(parsed);
      if (user.name != apiserver::kAnonymousUser &&
          std::find(user.groups.begin(), user.groups.end(), apiserver::kAllAuthenticatedGroup) ==
              user.groups.end()) {
        user.groups.push_back(apiserver::kAllAuthenticatedGroup);
      }
    }
    *out = new korch_client_t{client::NewInProcessClient(*server->server, std::move(user))};
    return Ok();
  });
}

int korch_client_connect(korch_client_t** out, const char* kubeconfig_path, const char* context) {
  return Guard([&] {
    KORCH_REQUIRE(out);
    KORCH_REQUIRE(kubeconfig_path);
    *out = nullptr;
    absl::StatusOr<client::HttpClientOptions> options =
        client::LoadKubeconfig(kubeconfig_path, Str(context));
    if (!options.ok()) return Fail(options.status());
    absl::StatusOr<std::unique_ptr<client::Client>> c = client::NewHttpClient(*std::move(options));
    if (!c.ok()) return Fail(c.status());
    *out = new korch_client_t{*std::move(c)};
    return Ok();
  });
}

void korch_client_destroy(korch_client_t* client) { delete client; }

int korch_client_create(char** result, korch_client_t* client, const char* object_json) {
  return Guard([&] {
    KORCH_REQUIRE(client);
    KORCH_REQUIRE(object_json);
    absl::StatusOr<std::string> created = client->client->CreateJson(object_json);
    if (!created.ok()) return Fail(created.status());
    return SetOut(result, *created);
  });
}

int korch_client_get(char** result, korch_client_t* client, const char* api_version,
                     const char* kind, const char* ns, const char* name) {
  return Guard([&] {
    KORCH_REQUIRE(result);
    KORCH_REQUIRE(client);
    KORCH_REQUIRE(name);
    absl::StatusOr<const korch::api::KindInfo*> info = FindKind(*client->client, api_version, kind);
    if (!info.ok()) return Fail(info.status());
    absl::StatusOr<std::string> got = client->client->GetJson(**info, Ns(ns), name);
    if (!got.ok()) return Fail(got.status());
    return SetOut(result, *got);
  });
}

int korch_client_list(char** result, korch_client_t* client, const char* api_version,
                      const char* kind, const char* ns, const char* label_selector,
                      const char* field_selector) {
  return Guard([&] {
    KORCH_REQUIRE(result);
    KORCH_REQUIRE(client);
    absl::StatusOr<const korch::api::KindInfo*> info = FindKind(*client->client, api_version, kind);
    if (!info.ok()) return Fail(info.status());
    client::ListOptions options;
    options.label_selector = Str(label_selector);
    options.field_selector = Str(field_selector);
    absl::StatusOr<client::ListResult> list = client->client->List(**info, Ns(ns), options);
    if (!list.ok()) return Fail(list.status());
    std::string out = absl::StrCat("{\"apiVersion\":\"", (*info)->api_version, "\",\"kind\":\"",
                                   (*info)->kind, "List\",\"metadata\":{\"resourceVersion\":\"",
                                   list->resource_version, "\"},\"items\":[");
    korch::api::EncodeOptions encode;
    for (size_t i = 0; i < list->items.size(); ++i) {
      if (i > 0) out.push_back(',');
      korch::api::AppendJson(*list->items[i], encode, &out);
    }
    out += "]}";
    return SetOut(result, out);
  });
}

int korch_client_update(char** result, korch_client_t* client, const char* object_json) {
  return Guard([&] {
    KORCH_REQUIRE(client);
    KORCH_REQUIRE(object_json);
    absl::StatusOr<std::string> updated = client->client->UpdateJson(object_json);
    if (!updated.ok()) return Fail(updated.status());
    return SetOut(result, *updated);
  });
}

int korch_client_patch(char** result, korch_client_t* client, const char* api_version,
                       const char* kind, const char* ns, const char* name, const char* patch_type,
                       const char* patch, const char* field_manager) {
  return Guard([&] {
    KORCH_REQUIRE(client);
    KORCH_REQUIRE(name);
    KORCH_REQUIRE(patch);
    absl::StatusOr<const korch::api::KindInfo*> info = FindKind(*client->client, api_version, kind);
    if (!info.ok()) return Fail(info.status());
    absl::StatusOr<apiserver::PatchType> type = ParsePatchType(patch_type);
    if (!type.ok()) return Fail(type.status());
    client::PatchOptions options;
    options.field_manager = Str(field_manager);
    auto patched = client->client->Patch(**info, Ns(ns), name, *type, patch, options);
    if (!patched.ok()) return Fail(patched.status());
    return SetOut(result, korch::api::EncodeJson(**patched));
  });
}

int korch_client_delete(korch_client_t* client, const char* api_version, const char* kind,
                        const char* ns, const char* name) {
  return Guard([&] {
    KORCH_REQUIRE(client);
    KORCH_REQUIRE(name);
    absl::StatusOr<const korch::api::KindInfo*> info = FindKind(*client->client, api_version, kind);
    if (!info.ok()) return Fail(info.status());
    auto deleted = client->client->Delete(**info, Ns(ns), name);
    if (!deleted.ok()) return Fail(deleted.status());
    return Ok();
  });
}

int korch_client_watch(korch_watch_t** out, korch_client_t* client, const char* api_version,
                       const char* kind, const char* ns, const char* label_selector,
                       const char* resource_version, korch_client_event_fn on_event,
                       korch_watch_end_fn on_end, void* user_data) {
  return Guard([&] {
    KORCH_REQUIRE(out);
    KORCH_REQUIRE(client);
    KORCH_REQUIRE(on_event);
    *out = nullptr;
    absl::StatusOr<const korch::api::KindInfo*> info = FindKind(*client->client, api_version, kind);
    if (!info.ok()) return Fail(info.status());
    client::WatchOptions options;
    options.label_selector = Str(label_selector);
    options.resource_version = Str(resource_version);
    auto stream = client->client->Watch(**info, Ns(ns), options);
    if (!stream.ok()) return Fail(stream.status());
    auto watch = std::make_unique<korch_watch_t>();
    watch->client_stream = *std::move(stream);
    korch_watch_t* w = watch.get();
    w->thread = std::thread([w, on_event, on_end, user_data] {
      int end_code = KORCH_OK;
      std::string end_message;
      while (!w->stopping.load()) {
        absl::StatusOr<client::WatchEvent> event = w->client_stream->Next(absl::Milliseconds(200));
        if (!event.ok()) {
          if (absl::IsDeadlineExceeded(event.status())) continue;  // nothing yet
          if (w->stopping.load()) return;
          end_code = -static_cast<int>(event.status().code());
          end_message = std::string(event.status().message());
          break;
        }
        std::string json = event->object ? korch::api::EncodeJson(*event->object) : "null";
        std::string type(apiserver::EventTypeName(event->type));
        if (on_event(type.c_str(), json.c_str(), user_data) != 0) {
          end_message = "stopped by the callback";
          break;
        }
      }
      if (w->stopping.load()) return;
      if (on_end != nullptr) on_end(end_code, end_message.c_str(), user_data);
    });
    *out = watch.release();
    return Ok();
  });
}

}  // extern "C"
