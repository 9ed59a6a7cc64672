// The Client over HTTP: Kubernetes REST paths and queries, JSON bodies,
// Status errors, and watches read by a thread per stream.

#include "korch/client/http_client.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "http_transport.h"
#include "korch/api/autoscaling.pb.h"
#include "korch/api/codec.h"
#include "korch/api/core.pb.h"
#include "korch/api/field_errors.h"
#include "korch/api/meta.pb.h"
#include "korch/api/object.h"
#include "korch/apiserver/request.h"
#include "korch/base/status.h"
#include "nlohmann/json.hpp"

namespace korch::client {
namespace {

using apiserver::ObjectPtr;
using google::protobuf::Message;
using json = nlohmann::json;

// A watch line longer than this is refused (the server's request limit is
// 3 MiB; objects are far smaller).
constexpr size_t kMaxWatchLineBytes = 64 << 20;

// ---- Paths and queries -------------------------------------------------------------

bool Unreserved(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
         c == '~';
}

// Percent-encoding of everything but RFC 3986's unreserved characters: safe
// in a path segment and in a query value alike.
std::string Escape(absl::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (Unreserved(c)) {
      out += c;
    } else {
      unsigned char u = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

class Query {
 public:
  // Empty values are left out (the server's defaults apply).
  void Add(absl::string_view key, absl::string_view value) {
    if (value.empty()) return;
    absl::StrAppend(&text_, text_.empty() ? "?" : "&", key, "=", Escape(value));
  }
  const std::string& str() const { return text_; }

 private:
  std::string text_;
};

// /api/v1[/namespaces/<ns>]/<resource>[/<name>[/<subresource>]], or
// /apis/<group>/<version>/... for named groups.
std::string ResourcePath(const api::KindInfo& kind, absl::string_view ns, absl::string_view name,
                         absl::string_view subresource) {
  std::string path = kind.group.empty() ? absl::StrCat("/api/", kind.version)
                                        : absl::StrCat("/apis/", kind.group, "/", kind.version);
  if (kind.namespaced && !ns.empty()) absl::StrAppend(&path, "/namespaces/", Escape(ns));
  absl::StrAppend(&path, "/", kind.resource);
  if (!name.empty()) {
    absl::StrAppend(&path, "/", Escape(name));
    if (!subresource.empty()) absl::StrAppend(&path, "/", Escape(subresource));
  }
  return path;
}

void AddSelection(Query& q, const ListOptions& o) {
  q.Add("labelSelector", o.label_selector);
  q.Add("fieldSelector", o.field_selector);
  if (o.limit > 0) q.Add("limit", absl::StrCat(o.limit));
  q.Add("continue", o.continue_token);
  q.Add("resourceVersion", o.resource_version);
}

absl::string_view PatchContentType(PatchType type) {
  switch (type) {
    case PatchType::kJson:
      return "application/json-patch+json";
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kStrategicMerge:
      return "application/strategic-merge-patch+json";
    case PatchType::kApply:
      return "application/apply-patch+yaml";
  }
  return "application/merge-patch+json";
}

// ---- Decoding answers --------------------------------------------------------------------

api::DecodeOptions Lenient() {
  api::DecodeOptions o;
  o.strict = false;
  return o;
}

std::string StringMember(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::unique_ptr<Message> NewMessage(const google::protobuf::Descriptor* descriptor) {
  return std::unique_ptr<Message>(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor)->New());
}

// An object of an answer, of the type its own kind and apiVersion name
// (`expected` when it names none, as list items may).
absl::StatusOr<std::unique_ptr<Message>> DecodeObjectValue(const json& value,
                                                           const api::Scheme& scheme,
                                                           const api::KindInfo& expected) {
  if (!value.is_object()) {
    return absl::InternalError("the API server answered with something other than an object");
  }
  const std::string kind = StringMember(value, "kind");
  const std::string api_version = StringMember(value, "apiVersion");
  const api::KindInfo* info = &expected;
  if (!kind.empty() && !api_version.empty() &&
      (kind != expected.kind || api_version != expected.api_version)) {
    info = scheme.Find(api_version, kind);
    if (info == nullptr) {
      return absl::InternalError(absl::StrCat("the API server answered with kind \"", kind,
                                              "\" of \"", api_version,
                                              "\", which this client does not know"));
    }
  }
  std::unique_ptr<Message> out = NewMessage(info->descriptor);
  absl::Status s = api::DecodeJsonValue(value, out.get(), Lenient());
  if (!s.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot decode the API server's ", info->kind, ": ", s.message()));
  }
  return out;
}

absl::StatusOr<ListResult> DecodeList(const json& value, const api::Scheme& scheme,
                                      const api::KindInfo& kind) {
  if (!value.is_object()) {
    return absl::InternalError(
        "the API server answered a list with something other than an object");
  }
  ListResult out;
  if (auto meta = value.find("metadata"); meta != value.end() && meta->is_object()) {
    out.resource_version = StringMember(*meta, "resourceVersion");
    out.continue_token = StringMember(*meta, "continue");
    if (auto remaining = meta->find("remainingItemCount");
        remaining != meta->end() && remaining->is_number_integer() && !out.continue_token.empty()) {
      out.remaining_item_count = remaining->get<int64_t>();
    }
  }
  auto items = value.find("items");
  if (items != value.end() && items->is_array()) {
    out.items.reserve(items->size());
    for (const json& item : *items) {
      KORCH_ASSIGN_OR_RETURN(std::unique_ptr<Message> object,
                             DecodeObjectValue(item, scheme, kind));
      out.items.push_back(ObjectPtr(std::move(object)));
    }
  } else if (items != value.end() && !items->is_null()) {
    return absl::InternalError("the API server answered a list whose items are not a list");
  }
  return out;
}

// The error of a non-2xx answer: its Status when it has one.
absl::Status AnswerError(int http_status, absl::string_view body, absl::string_view server) {
  absl::StatusOr<json> value = api::ParseJson(body, /*reject_duplicates=*/false);
  if (value.ok() && StringMember(*value, "kind") == "Status") {
    api::Status status;
    if (api::DecodeJsonValue(*value, &status, Lenient()).ok()) {
      absl::Status s = FromKubernetesStatus(status, http_status);
      if (!s.ok()) return s;
    }
  }
  std::string excerpt(absl::StripAsciiWhitespace(body.substr(0, 200)));
  absl::StatusCode code = internal::CodeForHttpStatus(http_status);
  if (code == absl::StatusCode::kUnknown) code = absl::StatusCode::kInternal;
  return absl::Status(code, absl::StrCat("the API server at ", server, " answered HTTP ",
                                         http_status, excerpt.empty() ? "" : ": ", excerpt));
}

// ---- Watches -------------------------------------------------------------------------

class HttpWatchStream final : public WatchStream {
 public:
  HttpWatchStream(std::unique_ptr<internal::ResponseStream> body, const api::Scheme& scheme,
                  const api::KindInfo& kind, size_t max_pending, std::string server)
      : body_(std::move(body)),
        scheme_(scheme),
        kind_(kind),
        max_pending_(max_pending),
        server_(std::move(server)) {
    reader_ = std::thread([this] { ReadLoop(); });
  }

  ~HttpWatchStream() override {
    Cancel();
    reader_.join();
  }

  absl::StatusOr<WatchEvent> Next(absl::Duration timeout) override {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !events_.empty() || end_.has_value();
    };
    mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
    if (!events_.empty()) {
      WatchEvent event = std::move(events_.front());
      events_.pop_front();
      return event;
    }
    if (end_.has_value()) return *end_;
    return absl::DeadlineExceededError(
        absl::StrCat("no watch event within ", absl::FormatDuration(timeout)));
  }

  void Cancel() override {
    {
      absl::MutexLock lock(&mu_);
      if (!end_.has_value()) {
        end_ = absl::CancelledError("watch cancelled");
        events_.clear();
      }
    }
    body_->Close();
  }

 private:
  // Ends the stream with `status` unless it already ended.
  void End(absl::Status status) {
    absl::MutexLock lock(&mu_);
    if (!end_.has_value()) end_ = std::move(status);
  }

  bool Ended() {
    absl::MutexLock lock(&mu_);
    return end_.has_value();
  }

  // Reads and queues events until the stream ends; then closes the
  // connection, so that the server sees the watcher go at once.
  void ReadLoop() {
    ReadEvents();
    body_->CloseFromReader();
  }

  void ReadEvents() {
    std::string pending;
    size_t scanned = 0;  // pending[0, scanned) has no newline
    while (true) {
      absl::Status read = body_->Read(&pending);
      size_t start = 0;
      for (size_t nl; (nl = pending.find('\n', std::max(start, scanned))) != std::string::npos;
           start = nl + 1) {
        absl::string_view line =
            absl::StripAsciiWhitespace(absl::string_view(pending).substr(start, nl - start));
        if (line.empty()) continue;
        if (absl::Status s = HandleLine(line); !s.ok()) {
          End(std::move(s));
          return;
        }
      }
      pending.erase(0, start);
      scanned = pending.size();
      if (pending.size() > kMaxWatchLineBytes) {
        End(absl::InternalError(absl::StrCat("a watch event from the API server at ", server_,
                                             " is longer than ", kMaxWatchLineBytes, " bytes")));
        return;
      }
      if (!read.ok()) {
        if (read.code() == absl::StatusCode::kOutOfRange) {
          // The answer ended: the server's timeoutSeconds passed or it is
          // shutting down. Watch again from the last resourceVersion.
          End(absl::UnavailableError(
              absl::StrCat("the API server at ", server_, " ended the watch")));
        } else {
          End(std::move(read));
        }
        return;
      }
      if (Ended()) return;  // cancelled
    }
  }

  absl::Status HandleLine(absl::string_view line) {
    absl::StatusOr<json> value = api::ParseJson(line, /*reject_duplicates=*/false);
    if (!value.ok() || !value->is_object()) {
      return absl::InternalError(
          absl::StrCat("malformed watch event from the API server at ", server_, ": ",
                       value.ok() ? "not an object" : value.status().message()));
    }
    const std::string type = StringMember(*value, "type");
    auto object = value->find("object");
    if (type == "ERROR") {
      api::Status status;
      if (object != value->end()) {
        if (absl::Status s = api::DecodeJsonValue(*object, &status, Lenient()); !s.ok()) {
          return absl::InternalError(absl::StrCat("malformed ERROR event from the API server at ",
                                                  server_, ": ", s.message()));
        }
      }
      absl::Status s = FromKubernetesStatus(status, 500);
      if (s.ok()) s = absl::InternalError("the watch ended with an ERROR event");
      return s;
    }
    WatchEvent event;
    if (type == "ADDED") {
      event.type = EventType::kAdded;
    } else if (type == "MODIFIED") {
      event.type = EventType::kModified;
    } else if (type == "DELETED") {
      event.type = EventType::kDeleted;
    } else if (type == "BOOKMARK") {
      event.type = EventType::kBookmark;
    } else {
      return absl::InternalError(
          absl::StrCat("unknown watch event type \"", type, "\" from the API server at ", server_));
    }
    if (object == value->end()) {
      return absl::InternalError(absl::StrCat("a ", type, " watch event without an object"));
    }
    KORCH_ASSIGN_OR_RETURN(std::unique_ptr<Message> decoded,
                           DecodeObjectValue(*object, scheme_, kind_));
    event.object = ObjectPtr(std::move(decoded));
    absl::MutexLock lock(&mu_);
    if (end_.has_value()) return absl::OkStatus();
    if (events_.size() >= max_pending_) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "the watcher of ", kind_.QualifiedResource(), " fell behind: ", events_.size(),
          " events were not taken; list and watch again"));
    }
    events_.push_back(std::move(event));
    return absl::OkStatus();
  }

  const std::unique_ptr<internal::ResponseStream> body_;
  const api::Scheme& scheme_;
  const api::KindInfo& kind_;
  const size_t max_pending_;
  const std::string server_;

  absl::Mutex mu_;
  std::deque<WatchEvent> events_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> end_ ABSL_GUARDED_BY(mu_);
  // Last: started once everything it uses exists.
  std::thread reader_;
};

// ---- The client ------------------------------------------------------------------------

class HttpClient final : public Client {
 public:
  HttpClient(std::unique_ptr<internal::Transport> transport, const api::Scheme& scheme,
             absl::Duration request_timeout)
      : transport_(std::move(transport)), scheme_(scheme), request_timeout_(request_timeout) {}

  const api::Scheme& scheme() const override { return scheme_; }

  absl::StatusOr<std::shared_ptr<const Message>> Get(const api::KindInfo& kind,
                                                     absl::string_view ns, absl::string_view name,
                                                     const GetOptions& options) override {
    KORCH_RETURN_IF_ERROR(CheckName(kind, name));
    KORCH_RETURN_IF_ERROR(CheckNamespace(kind, ns));
    KORCH_ASSIGN_OR_RETURN(json answer,
                           Call("GET", ResourcePath(kind, ns, name, options.subresource), "", ""));
    return Object(answer, kind);
  }

  absl::StatusOr<ListResult> List(const api::KindInfo& kind, absl::string_view ns,
                                  const ListOptions& options) override {
    Query q;
    AddSelection(q, options);
    KORCH_ASSIGN_OR_RETURN(json answer,
                           Call("GET", ResourcePath(kind, ns, "", "") + q.str(), "", ""));
    return DecodeList(answer, scheme_, kind);
  }

  absl::StatusOr<std::unique_ptr<WatchStream>> Watch(const api::KindInfo& kind,
                                                     absl::string_view ns,
                                                     const WatchOptions& options) override {
    Query q;
    q.Add("watch", "true");
    q.Add("labelSelector", options.label_selector);
    q.Add("fieldSelector", options.field_selector);
    q.Add("resourceVersion", options.resource_version);
    if (options.allow_bookmarks) q.Add("allowWatchBookmarks", "true");
    // No read limit on an open watch (it may be quiet for as long as it
    // lasts), except past its own end.
    absl::Duration read_timeout = absl::InfiniteDuration();
    if (options.timeout > absl::ZeroDuration()) {
      q.Add("timeoutSeconds",
            absl::StrCat(static_cast<int64_t>(std::ceil(absl::ToDoubleSeconds(options.timeout)))));
      read_timeout = options.timeout + request_timeout_;
    }
    KORCH_ASSIGN_OR_RETURN(
        internal::StreamStart start,
        transport_->Stream(ResourcePath(kind, ns, "", "") + q.str(), read_timeout));
    if (start.status != 200) return AnswerError(start.status, start.body, transport_->server());
    return std::unique_ptr<WatchStream>(
        new HttpWatchStream(std::move(start.stream), scheme_, kind,
                            std::max<size_t>(options.max_pending_events, 1), transport_->server()));
  }

  absl::StatusOr<std::shared_ptr<const Message>> Create(const api::KindInfo& kind,
                                                        const Message& object,
                                                        const CreateOptions& options) override {
    const api::ObjectMeta* meta = api::ObjectMetaOf(object);
    const std::string ns = meta != nullptr ? meta->namespace_() : std::string();
    std::string path;
    const api::KindInfo* target = &kind;
    if (options.subresource == "binding") {
      // POST .../pods/<pod>/binding with the Binding, which names its pod.
      if (const api::KindInfo* pods = scheme_.Find(api::Pod::descriptor())) target = pods;
      const std::string name = meta != nullptr ? meta->name() : std::string();
      KORCH_RETURN_IF_ERROR(CheckName(*target, name));
      KORCH_RETURN_IF_ERROR(CheckNamespace(*target, ns));
      path = ResourcePath(*target, ns, name, "binding");
    } else if (!options.subresource.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("cannot create the ", options.subresource,
                                                     " subresource of ", kind.QualifiedResource()));
    } else {
      if (kind.namespaced && ns.empty()) {
        // What the server's validation says of such an object.
        return api::InvalidStatus(kind.QualifiedKind(), meta != nullptr ? meta->name() : "",
                                  {api::Required(api::FieldPath("metadata").Child("namespace"))});
      }
      path = ResourcePath(kind, ns, "", "");
    }
    Query q;
    if (options.dry_run) q.Add("dryRun", "All");
    q.Add("fieldManager", options.field_manager);
    KORCH_ASSIGN_OR_RETURN(
        json answer, Call("POST", path + q.str(), "application/json", api::EncodeJson(object)));
    return Object(answer, *target);
  }

  absl::StatusOr<std::shared_ptr<const Message>> Update(const api::KindInfo& kind,
                                                        const Message& object,
                                                        const UpdateOptions& options) override {
    const api::ObjectMeta* meta = api::ObjectMetaOf(object);
    const std::string ns = meta != nullptr ? meta->namespace_() : std::string();
    const std::string name = meta != nullptr ? meta->name() : std::string();
    KORCH_RETURN_IF_ERROR(CheckName(kind, name));
    KORCH_RETURN_IF_ERROR(CheckNamespace(kind, ns));
    Query q;
    if (options.dry_run) q.Add("dryRun", "All");
    q.Add("fieldManager", options.field_manager);
    KORCH_ASSIGN_OR_RETURN(json answer,
                           Call("PUT", ResourcePath(kind, ns, name, options.subresource) + q.str(),
                                "application/json", api::EncodeJson(object)));
    return Object(answer, kind);
  }

  absl::StatusOr<std::shared_ptr<const Message>> Patch(const api::KindInfo& kind,
                                                       absl::string_view ns, absl::string_view name,
                                                       PatchType type, absl::string_view patch,
                                                       const PatchOptions& options) override {
    KORCH_RETURN_IF_ERROR(CheckName(kind, name));
    KORCH_RETURN_IF_ERROR(CheckNamespace(kind, ns));
    Query q;
    if (options.dry_run) q.Add("dryRun", "All");
    q.Add("fieldManager", options.field_manager);
    if (options.force) q.Add("force", "true");
    KORCH_ASSIGN_OR_RETURN(
        json answer, Call("PATCH", ResourcePath(kind, ns, name, options.subresource) + q.str(),
                          PatchContentType(type), std::string(patch)));
    return Object(answer, kind);
  }

  absl::StatusOr<DeleteResult> Delete(const api::KindInfo& kind, absl::string_view ns,
                                      absl::string_view name,
                                      const DeleteOptions& options) override {
    KORCH_RETURN_IF_ERROR(CheckName(kind, name));
    KORCH_RETURN_IF_ERROR(CheckNamespace(kind, ns));
    KORCH_ASSIGN_OR_RETURN(json answer, Call("DELETE", ResourcePath(kind, ns, name, ""),
                                             "application/json", DeleteBody(kind, options)));
    DeleteResult result;
    if (StringMember(answer, "kind") == "Status") {
      // Gone at once: Kubernetes answers with a Success Status naming it.
      api::Status status;
      KORCH_RETURN_IF_ERROR(api::DecodeJsonValue(answer, &status, Lenient()));
      KORCH_RETURN_IF_ERROR(FromKubernetesStatus(status, 200));
      std::unique_ptr<Message> object = NewMessage(kind.descriptor);
      if (api::ObjectMeta* meta = api::MutableObjectMetaOf(*object)) {
        meta->set_name(std::string(name));
        if (kind.namespaced) meta->set_namespace_(std::string(ns));
        if (!status.details().uid().empty()) meta->set_uid(status.details().uid());
      }
      result.object = ObjectPtr(std::move(object));
      result.deleted = true;
      return result;
    }
    KORCH_ASSIGN_OR_RETURN(result.object, Object(answer, kind));
    const api::ObjectMeta* meta = api::ObjectMetaOf(*result.object);
    result.deleted = meta == nullptr || !meta->has_deletion_timestamp();
    if (!result.deleted && !options.dry_run) {
      // A pod's answer is the object whether it went or is still being
      // deleted (both carry deletionTimestamp when an earlier delete began
      // a grace period); only the store can tell.
      auto now = Get(kind, ns, name, GetOptions());
      if (now.ok()) {
        const api::ObjectMeta* now_meta = api::ObjectMetaOf(**now);
        result.deleted = now_meta != nullptr && now_meta->uid() != meta->uid();
      } else {
        result.deleted = now.status().code() == absl::StatusCode::kNotFound;
      }
    }
    return result;
  }

  absl::StatusOr<ListResult> DeleteCollection(const api::KindInfo& kind, absl::string_view ns,
                                              const ListOptions& selection,
                                              const DeleteOptions& options) override {
    Query q;
    AddSelection(q, selection);
    KORCH_ASSIGN_OR_RETURN(json answer, Call("DELETE", ResourcePath(kind, ns, "", "") + q.str(),
                                             "application/json", DeleteBody(kind, options)));
    return DecodeList(answer, scheme_, kind);
  }

 private:
  // Requests that cannot name an object are refused here, as the
  // in-process server refuses them (400 BadRequest).
  static absl::Status CheckName(const api::KindInfo& kind, absl::string_view name) {
    if (!name.empty()) return absl::OkStatus();
    return apiserver::WithReason(
        absl::InvalidArgumentError(
            absl::StrCat("resource name may not be empty (", kind.QualifiedResource(), ")")),
        "BadRequest", 400);
  }
  static absl::Status CheckNamespace(const api::KindInfo& kind, absl::string_view ns) {
    if (!kind.namespaced || !ns.empty()) return absl::OkStatus();
    return apiserver::WithReason(absl::InvalidArgumentError(absl::StrCat(
                                     "a namespace is required for ", kind.QualifiedResource())),
                                 "BadRequest", 400);
  }

  // A DeleteOptions in the request's group-version (how client-go sends it).
  static std::string DeleteBody(const api::KindInfo& kind, const DeleteOptions& options) {
    json body = {{"kind", "DeleteOptions"}, {"apiVersion", kind.api_version}};
    if (options.grace_period_seconds.has_value()) {
      body["gracePeriodSeconds"] = *options.grace_period_seconds;
    }
    if (!options.propagation_policy.empty()) {
      body["propagationPolicy"] = options.propagation_policy;
    }
    if (!options.precondition_uid.empty() || !options.precondition_resource_version.empty()) {
      json pre = json::object();
      if (!options.precondition_uid.empty()) pre["uid"] = options.precondition_uid;
      if (!options.precondition_resource_version.empty()) {
        pre["resourceVersion"] = options.precondition_resource_version;
      }
      body["preconditions"] = std::move(pre);
    }
    if (options.dry_run) body["dryRun"] = json::array({"All"});
    return body.dump();
  }

  absl::StatusOr<json> Call(absl::string_view method, const std::string& target,
                            absl::string_view content_type, std::string body) {
    KORCH_ASSIGN_OR_RETURN(internal::HttpAnswer answer,
                           transport_->Request(method, target, content_type, std::move(body)));
    if (answer.status < 200 || answer.status >= 300) {
      return AnswerError(answer.status, answer.body, transport_->server());
    }
    absl::StatusOr<json> value = api::ParseJson(answer.body, /*reject_duplicates=*/false);
    if (!value.ok()) {
      return absl::InternalError(absl::StrCat("the API server at ", transport_->server(),
                                              " answered ", method, " ", target,
                                              " with malformed JSON: ", value.status().message()));
    }
    return value;
  }

  absl::StatusOr<std::shared_ptr<const Message>> Object(const json& answer,
                                                        const api::KindInfo& kind) {
    KORCH_ASSIGN_OR_RETURN(std::unique_ptr<Message> object,
                           DecodeObjectValue(answer, scheme_, kind));
    return std::shared_ptr<const Message>(std::move(object));
  }

  const std::unique_ptr<internal::Transport> transport_;
  const api::Scheme& scheme_;
  const absl::Duration request_timeout_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> NewHttpClient(HttpClientOptions options) {
  const api::Scheme& scheme = options.scheme != nullptr ? *options.scheme : api::Scheme::Builtin();
  KORCH_ASSIGN_OR_RETURN(std::unique_ptr<internal::Transport> transport,
                         internal::Transport::Create(options));
  return std::unique_ptr<Client>(
      new HttpClient(std::move(transport), scheme, options.request_timeout));
}

}  // namespace korch::client
