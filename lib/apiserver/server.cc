// The registry: Kubernetes' generic registry store and per-resource REST
// semantics over korch::store::Storage.

#include "korch/apiserver/server.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/memory/memory.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "korch/api/codec.h"
#include "korch/api/core.pb.h"
#include "korch/api/defaults.h"
#include "korch/api/field_errors.h"
#include "korch/api/object.h"
#include "korch/api/scheduling.pb.h"
#include "korch/api/validation.h"
#include "korch/apiserver/managed_fields.h"
#include "korch/apiserver/patch.h"
#include "korch/base/status.h"
#include "rbac_cache.h"
#include "registry_reviews.h"
#include "registry_select.h"
#include "registry_strategy.h"
#include "registry_watch.h"
#include "service_allocator.h"
#include "storage_layout.h"

namespace korch::apiserver {
namespace {

using google::protobuf::Message;
using internal::Selection;

// Bound on read-modify-write attempts of one request (optimistic
// concurrency retries, admission re-runs after a guard of an extra write
// failed, generated names that were taken).
constexpr int kMaxAttempts = 64;

constexpr char kConflictDetail[] =
    "the object has been modified; please apply your changes to the latest version and try "
    "again";
constexpr char kNameAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
constexpr size_t kMaxGenerateNameBase = 58;
constexpr int kGeneratedNameLength = 5;

absl::Status BadRequest(absl::string_view message) {
  return WithReason(absl::InvalidArgumentError(message), "BadRequest", 400);
}

absl::BitGen& Random() {
  thread_local absl::BitGen gen;
  return gen;
}

std::string NewUid() {
  uint64_t hi = absl::Uniform<uint64_t>(Random());
  uint64_t lo = absl::Uniform<uint64_t>(Random());
  hi = (hi & ~uint64_t{0xf000}) | uint64_t{0x4000};            // version 4
  lo = (lo & ~(uint64_t{0xc} << 60)) | (uint64_t{0x8} << 60);  // RFC 4122 variant
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", hi >> 32, (hi >> 16) & 0xffff, hi & 0xffff,
                         lo >> 48, lo & 0xffffffffffffULL);
}

// Before attempt `attempt` (0-based) of a write that lost a race: a short,
// growing, random pause, so that writers contending for one object (a
// quota's usage) take turns instead of colliding again.
void BackOff(int attempt) {
  if (attempt < 2) return;
  int64_t max_us = std::min<int64_t>(int64_t{50} * attempt, 5000);
  absl::SleepFor(absl::Microseconds(absl::Uniform<int64_t>(Random(), 0, max_us)));
}

std::string GenerateName(absl::string_view base) {
  std::string out(base.substr(0, kMaxGenerateNameBase));
  for (int i = 0; i < kGeneratedNameLength; ++i) {
    out.push_back(kNameAlphabet[absl::Uniform<size_t>(Random(), 0, sizeof(kNameAlphabet) - 1)]);
  }
  return out;
}

api::Time ToProtoTime(absl::Time t) {
  api::Time out;
  out.set_seconds(absl::ToUnixSeconds(t));
  return out;
}

absl::Time FromProtoTime(const api::Time& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

std::unique_ptr<Message> Clone(const Message& m) {
  std::unique_ptr<Message> c(m.New());
  c->CopyFrom(m);
  return c;
}

std::unique_ptr<Message> NewOf(const api::KindInfo& kind) {
  const Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(kind.descriptor);
  return std::unique_ptr<Message>(prototype->New());
}

bool HasFinalizer(const api::ObjectMeta& meta, absl::string_view f) {
  return std::find(meta.finalizers().begin(), meta.finalizers().end(), f) !=
         meta.finalizers().end();
}

// The store's revision in a resourceVersion.
absl::StatusOr<int64_t> ParseResourceVersion(absl::string_view rv) {
  int64_t out = 0;
  if (!absl::SimpleAtoi(rv, &out) || out < 0) {
    return BadRequest(absl::StrCat("invalid resource version: ", api::QuoteValue(rv)));
  }
  return out;
}

// Continue tokens: the revision of the first page and the last key
// returned (relative to the list's prefix), base64 of a small JSON object.
std::string EncodeContinue(int64_t revision, absl::string_view last_key_suffix) {
  nlohmann::json j = {
      {"v", "meta.k8s.io/v1"}, {"rv", revision}, {"start", std::string(last_key_suffix)}};
  return absl::WebSafeBase64Escape(j.dump());
}

struct ContinuePoint {
  int64_t revision = 0;
  std::string last_key_suffix;
};

absl::StatusOr<ContinuePoint> DecodeContinue(absl::string_view token) {
  auto bad = [] { return BadRequest("continue key is not valid: the token does not decode"); };
  std::string text;
  if (!absl::WebSafeBase64Unescape(token, &text) && !absl::Base64Unescape(token, &text)) {
    return bad();
  }
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return bad();
  auto rv = j.find("rv");
  auto start = j.find("start");
  if (rv == j.end() || !rv->is_number_integer() || start == j.end() || !start->is_string()) {
    return bad();
  }
  ContinuePoint out;
  out.revision = rv->get<int64_t>();
  out.last_key_suffix = start->get<std::string>();
  // Whatever the suffix, the list stays inside its own prefix's range.
  if (out.revision <= 0) return bad();
  return out;
}

// Forwards to an authorizer the host shares with the server.
class SharedAuthorizer final : public Authorizer {
 public:
  explicit SharedAuthorizer(std::shared_ptr<Authorizer> a) : a_(std::move(a)) {}
  absl::string_view Name() const override { return a_->Name(); }
  AuthzResult Authorize(const Attributes& attributes) const override {
    return a_->Authorize(attributes);
  }

 private:
  std::shared_ptr<Authorizer> a_;
};

// A stored object with its mod revision.
struct Stored {
  std::unique_ptr<Message> object;
  int64_t mod_revision = 0;
};

// A write admission added to the request's transaction.
struct ExtraWrite {
  std::string key;
  std::string value;
  int64_t mod_revision = 0;
};

struct WriteOutcome {
  ObjectPtr object;
  bool deleted = false;
};

// Builds the next state of an object in a read-modify-write cycle from the
// stored one. `working` keeps its value between attempts, so a transform may
// reuse what it produced before.
using Transform =
    absl::FunctionRef<absl::Status(const Message& old, std::unique_ptr<Message>& working)>;

// Service IPs and ports allocated for one write; released unless committed.
class ServiceAllocationGuard {
 public:
  explicit ServiceAllocationGuard(internal::ServiceAllocator* allocator) : a_(allocator) {}
  ~ServiceAllocationGuard() {
    if (committed_ || a_ == nullptr) return;
    if (!ip_.empty()) (void)a_->ReleaseIP(ip_);
    for (int p : ports_) (void)a_->ReleasePort(p);
  }
  void AddIP(std::string ip) { ip_ = std::move(ip); }
  void AddPort(int port) { ports_.push_back(port); }
  void Commit() { committed_ = true; }

 private:
  internal::ServiceAllocator* a_;
  std::string ip_;
  std::vector<int> ports_;
  bool committed_ = false;
};

bool ServiceNeedsIP(const api::Service& svc) {
  return svc.spec().type() != "ExternalName" && svc.spec().cluster_ip() != "None";
}

absl::string_view ProtocolOf(const api::ServicePort& p) {
  return p.protocol().empty() ? "TCP" : p.protocol();
}

bool ServiceNeedsNodePorts(const api::Service& svc) {
  return svc.spec().type() == "NodePort" || svc.spec().type() == "LoadBalancer";
}

class ApiServerImpl;

class AttributesImpl final : public AdmissionAttributes {
 public:
  AttributesImpl(ApiServerImpl& server, AdmissionOperation op, const api::KindInfo& kind,
                 absl::string_view ns, absl::string_view name, absl::string_view subresource,
                 Message* object, const Message* old_object, const UserInfo& user, bool dry_run,
                 const std::string& own_key)
      : server_(server),
        op_(op),
        kind_(kind),
        ns_(ns),
        name_(name),
        subresource_(subresource),
        object_(object),
        old_object_(old_object),
        user_(user),
        dry_run_(dry_run),
        own_key_(own_key) {}

  AdmissionOperation operation() const override { return op_; }
  const api::KindInfo& kind() const override { return kind_; }
  absl::string_view namespace_() const override { return ns_; }
  absl::string_view name() const override { return name_; }
  absl::string_view subresource() const override { return subresource_; }
  Message* object() override { return object_; }
  const Message* object() const override { return object_; }
  const Message* old_object() const override { return old_object_; }
  const UserInfo& user() const override { return user_; }
  bool dry_run() const override { return dry_run_; }
  Clock& clock() const override;

  absl::StatusOr<ObjectPtr> Get(const api::KindInfo& kind, absl::string_view ns,
                                absl::string_view name) const override;
  absl::StatusOr<std::vector<ObjectPtr>> List(const api::KindInfo& kind,
                                              absl::string_view ns) const override;
  absl::Status UpdateInSameTransaction(const api::KindInfo& kind,
                                       std::unique_ptr<Message> object) override {
    const api::ObjectMeta* meta = object == nullptr ? nullptr : api::ObjectMetaOf(*object);
    if (meta == nullptr || kind.resource.empty() || object->GetDescriptor() != kind.descriptor) {
      return absl::InvalidArgumentError(
          absl::StrCat("admission can only write stored objects of kind ", kind.kind));
    }
    std::string key = internal::ObjectKey(kind, meta->namespace_(), meta->name());
    if (key == own_key_) {
      return absl::InvalidArgumentError(
          "admission cannot write the object of the request itself in the same transaction");
    }
    int64_t rv = 0;
    if (!absl::SimpleAtoi(meta->resource_version(), &rv) || rv <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("admission writes need the resourceVersion the object was read at (",
                       kind.QualifiedResource(), " ", api::QuoteValue(meta->name()), ")"));
    }
    std::string value = internal::EncodeStored(*object);
    for (ExtraWrite& w : extras_) {
      if (w.key == key) {
        w.value = std::move(value);
        w.mod_revision = rv;
        return absl::OkStatus();
      }
    }
    extras_.push_back(ExtraWrite{std::move(key), std::move(value), rv});
    return absl::OkStatus();
  }

  void set_name(absl::string_view name) { name_ = name; }
  void set_object(Message* object) { object_ = object; }
  const std::vector<ExtraWrite>& extras() const { return extras_; }
  void ResetExtras() { extras_.clear(); }

 private:
  ApiServerImpl& server_;
  const AdmissionOperation op_;
  const api::KindInfo& kind_;
  const absl::string_view ns_;
  absl::string_view name_;
  const absl::string_view subresource_;
  Message* object_;
  const Message* old_object_;
  const UserInfo& user_;
  const bool dry_run_;
  // The request's own key; a reference because a create learns it late.
  const std::string& own_key_;
  std::vector<ExtraWrite> extras_;
};

class ApiServerImpl final : public ApiServer {
 public:
  explicit ApiServerImpl(ApiServerOptions options)
      : options_(std::move(options)),
        scheme_(options_.scheme != nullptr ? *options_.scheme : api::Scheme::Builtin()),
        owned_clock_(options_.clock == nullptr ? RealClock() : nullptr),
        clock_(options_.clock != nullptr ? *options_.clock : *owned_clock_),
        storage_(*options_.storage) {}

  ~ApiServerImpl() override {
    {
      absl::MutexLock l(&mu_);
      stop_ = true;
      signal_ = true;
    }
    if (collector_.joinable()) collector_.join();
  }

  absl::Status Init() {
    InitAdmissionCaches();
    absl::StatusOr<std::unique_ptr<internal::ServiceAllocator>> allocator =
        internal::ServiceAllocator::Create(&storage_, options_.service_cluster_ip_range,
                                           options_.node_port_min, options_.node_port_max);
    if (!allocator.ok()) return allocator.status();
    allocator_ = *std::move(allocator);
    if (options_.bootstrap) KORCH_RETURN_IF_ERROR(Bootstrap());
    KORCH_RETURN_IF_ERROR(allocator_->Repair());

    std::vector<std::unique_ptr<Authorizer>> authorizers;
    if (options_.authorization.node) {
      KORCH_ASSIGN_OR_RETURN(node_graph_, internal::StoreNodeGraph::Start(&storage_, scheme_));
      KORCH_ASSIGN_OR_RETURN(std::unique_ptr<NodeAuthorizer> node,
                             NodeAuthorizer::Create(node_graph_));
      authorizers.push_back(std::move(node));
    }
    if (options_.authorization.rbac) {
      KORCH_ASSIGN_OR_RETURN(rbac_source_,
                             internal::StoreRbacRuleSource::Start(&storage_, scheme_));
      KORCH_ASSIGN_OR_RETURN(std::unique_ptr<RbacAuthorizer> rbac,
                             RbacAuthorizer::Create(rbac_source_));
      authorizers.push_back(std::move(rbac));
    }
    for (const std::shared_ptr<Authorizer>& a : options_.authorization.extra) {
      if (a == nullptr) return absl::InvalidArgumentError("an extra authorizer is null");
      authorizers.push_back(std::make_unique<SharedAuthorizer>(a));
    }
    if (!authorizers.empty()) {
      KORCH_ASSIGN_OR_RETURN(authorizer_, AuthorizerChain::Create(std::move(authorizers)));
    }

    KORCH_RETURN_IF_ERROR(ScanTerminatingPods());
    collector_ = std::thread([this] { CollectorLoop(); });
    return absl::OkStatus();
  }

  const api::Scheme& scheme() const override { return scheme_; }
  Clock& clock() const override { return clock_; }
  store::Storage& storage() const override { return storage_; }

  absl::StatusOr<UserInfo> Authenticate(const AuthnRequest& request) const override {
    if (options_.authenticator == nullptr) return absl::UnauthenticatedError("Unauthorized");
    AuthnResult r = options_.authenticator->Authenticate(request);
    switch (r.decision) {
      case AuthnResult::Decision::kAuthenticated: {
        UserInfo user = std::move(r.user);
        // As AuthenticatorChain does: every authenticated user but the
        // anonymous one is in system:authenticated (the anonymous user must
        // not get what that group is granted).
        if (user.name != kAnonymousUser && std::find(user.groups.begin(), user.groups.end(),
                                                     kAllAuthenticatedGroup) == user.groups.end()) {
          user.groups.push_back(kAllAuthenticatedGroup);
        }
        return user;
      }
      case AuthnResult::Decision::kRejected:
        return absl::UnauthenticatedError(r.reason.empty() ? "Unauthorized" : r.reason);
      case AuthnResult::Decision::kNoOpinion:
        break;
    }
    return absl::UnauthenticatedError("Unauthorized");
  }

  absl::Status Authorize(const Attributes& attributes) const override {
    if (authorizer_ == nullptr) return absl::OkStatus();
    AuthzResult r = authorizer_->Decide(attributes);
    if (r.decision == AuthzResult::Decision::kAllow) return absl::OkStatus();
    std::string message = ForbiddenMessage(attributes);
    if (!r.reason.empty()) absl::StrAppend(&message, ": ", r.reason);
    if (!attributes.resource_request) {
      return absl::PermissionDeniedError(absl::StrCat("forbidden: ", message));
    }
    std::string resource = attributes.resource;
    if (!attributes.api_group.empty()) absl::StrAppend(&resource, ".", attributes.api_group);
    return ForbiddenError(resource, attributes.name, message);
  }

  absl::StatusOr<ObjectPtr> Get(const UserInfo& user, const api::KindInfo& kind,
                                absl::string_view ns_in, absl::string_view name,
                                const GetOptions& options) override {
    KORCH_RETURN_IF_ERROR(CheckKind(kind));
    KORCH_ASSIGN_OR_RETURN(std::string ns, ObjectNamespace(kind, ns_in));
    KORCH_RETURN_IF_ERROR(CheckName(name));
    const std::string& sub = options.subresource;
    if (!sub.empty() && sub != "status" && !(sub == "scale" && internal::IsScalable(kind))) {
      return NoSuchSubresource(kind, sub);
    }
    KORCH_RETURN_IF_ERROR(AuthorizeVerb(user, "get", kind, sub, ns, name));
    KORCH_ASSIGN_OR_RETURN(Stored stored, Read(kind, ns, name));
    if (sub == "scale") return ObjectPtr(internal::ScaleOf(*stored.object));
    return ObjectPtr(std::move(stored.object));
  }

  absl::StatusOr<ListResult> List(const UserInfo& user, const api::KindInfo& kind,
                                  absl::string_view ns_in, const ListOptions& options) override {
    KORCH_RETURN_IF_ERROR(CheckKind(kind));
    std::string ns = kind.namespaced ? std::string(ns_in) : std::string();
    KORCH_ASSIGN_OR_RETURN(Selection selection,
                           Selection::Parse(kind, options.label_selector, options.field_selector));
    KORCH_RETURN_IF_ERROR(AuthorizeVerb(user, "list", kind, "", ns, ""));
    return ListInternal(kind, ns, selection, options.limit, options.continue_token,
                        options.resource_version);
  }

  absl::StatusOr<std::unique_ptr<WatchStream>> Watch(const UserInfo& user,
                                                     const api::KindInfo& kind,
                                                     absl::string_view ns_in,
                                                     const WatchOptions& options) override {
    KORCH_RETURN_IF_ERROR(CheckKind(kind));
    std::string ns = kind.namespaced ? std::string(ns_in) : std::string();
    KORCH_ASSIGN_OR_RETURN(Selection selection,
                           Selection::Parse(kind, options.label_selector, options.field_selector));
    KORCH_RETURN_IF_ERROR(AuthorizeVerb(user, "watch", kind, "", ns, ""));

    internal::RegistryWatchSetup setup;
    setup.kind = &kind;
    setup.clock = &clock_;
    setup.allow_bookmarks = options.allow_bookmarks;
    setup.bookmark_interval = options.bookmark_interval;
    setup.timeout = options.timeout;
    setup.requested_resource_version = options.resource_version;

    auto [start, end] = KeyRange(kind, ns, selection);
    int64_t start_revision = 0;
    if (options.resource_version.empty() || options.resource_version == "0") {
      KORCH_ASSIGN_OR_RETURN(ListResult initial, ListInternal(kind, ns, selection, 0, "", ""));
      for (ObjectPtr& item : initial.items) {
        setup.initial.push_back(WatchEvent{EventType::kAdded, std::move(item)});
      }
      KORCH_ASSIGN_OR_RETURN(start_revision, ParseResourceVersion(initial.resource_version));
    } else {
      KORCH_ASSIGN_OR_RETURN(start_revision, ParseResourceVersion(options.resource_version));
    }
    store::WatchOptions wopts;
    wopts.start_revision = start_revision;
    wopts.max_pending_events = static_cast<int64_t>(options.max_pending_events);
    if (options.allow_bookmarks) {
      wopts.progress_interval = std::max(options.bookmark_interval, absl::Milliseconds(10));
    }
    absl::StatusOr<std::unique_ptr<store::Watcher>> watcher = storage_.Watch(start, end, wopts);
    if (!watcher.ok()) {
      if (watcher.status().code() == absl::StatusCode::kOutOfRange) {
        return TooOldResourceVersion(options.resource_version);
      }
      return watcher.status();
    }
    setup.watcher = *std::move(watcher);
    setup.revision = start_revision;
    setup.selection = std::move(selection);
    return internal::NewRegistryWatch(std::move(setup));
  }

  absl::StatusOr<ObjectPtr> Create(const UserInfo& user, const api::KindInfo& kind,
                                   absl::string_view ns, absl::string_view name,
                                   std::unique_ptr<Message> object,
                                   const CreateOptions& options) override {
    if (internal::IsAccessReview(kind)) {
      return CreateAccessReview(user, kind, ns, std::move(object), options);
    }
    KORCH_RETURN_IF_ERROR(CheckKind(kind));
    if (object == nullptr) return BadRequest("the request has no object");
    if (options.subresource == "binding" && kind.resource == "pods" && kind.group.empty()) {
      return Bind(user, kind, ns, name, std::move(object), options);
    }
    if (!options.subresource.empty()) return NoSuchSubresource(kind, options.subresource);
    std::string effective_ns;
    if (kind.namespaced) {
      effective_ns = std::string(ns);
      if (const api::ObjectMeta* meta = api::ObjectMetaOf(*object);
          effective_ns.empty() && meta != nullptr) {
        effective_ns = meta->namespace_();
      }
    }
    // As in Kubernetes, a create is authorized without the object's name.
    KORCH_RETURN_IF_ERROR(AuthorizeVerb(user, "create", kind, "", effective_ns, ""));
    KORCH_RETURN_IF_ERROR(ValidateFieldManager(options.field_manager, "CreateOptions.meta.k8s.io"));
    FieldManagerRequest fields =
        FieldManager(kind, options.field_manager, "", ManagedOperation::kUpdate);
    return CreateInternal(user, kind, effective_ns, std::move(object), options.dry_run, &fields);
  }

  absl::StatusOr<ObjectPtr> Update(const UserInfo& user, const api::KindInfo& kind,
                                   absl::string_view ns_in, absl::string_view name_in,
                                   std::unique_ptr<Message> object,
                                   const UpdateOptions& options) override {
    KORCH_RETURN_IF_ERROR(CheckKind(kind));
    if (object == nullptr) return BadRequest("the request has no object");
    const std::string& sub = options.subresource;
    api::ObjectMeta* request_meta = api::MutableObjectMetaOf(*object);
    if (request_meta == nullptr) return BadRequest("the object has no metadata");
    std::string name = name_in.empty() ? request_meta->name() : std::string(name_in);
    std::string ns_arg(ns_in);
    if (kind.namespaced && ns_arg.empty()) ns_arg = request_meta->namespace_();
    KORCH_ASSIGN_OR_RETURN(std::string ns, ObjectNamespace(kind, ns_arg));
    KORCH_RETURN_IF_ERROR(CheckName(name));
    KORCH_RETURN_IF_ERROR(ValidateFieldManager(options.field_manager, "UpdateOptions.meta.k8s.io"));
    FieldManagerRequest fields =
        FieldManager(kind, options.field_manager, sub, ManagedOperation::kUpdate);

    if (sub == "scale") {
      if (!internal::IsScalable(kind)) return NoSuchSubresource(kind, sub);
      auto* scale = google::protobuf::DynamicCastToGenerated<api::Scale>(object.get());
      if (scale == nullptr) return BadRequest("the body of a scale update must be a Scale");
      KORCH_RETURN_IF_ERROR(AuthorizeVerb(user, "update", kind, sub, ns, name));
      KORCH_RETURN_IF_ERROR(CheckScale(*scale, name));
      const std::string rv = scale->metadata().resource_version();
      const int32_t replicas = scale->spec().replicas();
      auto transform = [&](const Message& old, std::unique_ptr<Message>& working) {
        working = Clone(old);
        internal::SetReplicas(*working, replicas);
        api::MutableObjectMetaOf(*working)->set_resource_version(rv);
        return absl::OkStatus();
      };
      KORCH_ASSIGN_OR_RETURN(WriteOutcome out, UpdateCore(user, kind, ns, name, sub,
                                                          options.dry_run, transform, &fields));
      return ObjectPtr(internal::ScaleOf(*out.object));
    }
    if (sub == "finalize") {
      auto* request = google::protobuf::DynamicCastToGenerated<api::Namespace>(object.get());
      if (kind.resource != "namespaces" || !kind.group.empty()) {
        return NoSuchSubresource(kind, sub);
      }
      if (request == nullptr)
        return BadRequest("the body of a finalize update must be a Namespace");
      KORCH_RETURN_IF_ERROR(AuthorizeVerb(user, "update", kind, sub, ns, name));
      const std::string rv = request->metadata().resource_version();
      auto transform = [&](const Message& old, std::unique_ptr<Message>& working) {
        working = Clone(old);
        auto* ns_obj = google::protobuf::DynamicCastToGenerated<api::Namespace>(working.get());
        *ns_obj->mutable_spec()->mutable_finalizers() = request->spec().finalizers();
        ns_obj->mutable_metadata()->set_resource_version(rv);
        return absl::OkStatus();
      };
      KORCH_ASSIGN_OR_RETURN(WriteOutcome out, UpdateCore(user, kind, ns, name, sub,
                                                          options.dry_run, transform, &fields));
      return out.object;
    }
    if (!sub.empty() && sub != "status") return NoSuchSubresource(kind, sub);
    if (object->GetDescriptor() != kind.descriptor) {
      return BadRequest(
          absl::StrCat("the object is a ", object->GetDescriptor()->name(), ", not a ", kind.kind));
    }
    KORCH_RETURN_IF_ERROR(AuthorizeVerb(user, "update", kind, sub, ns, name));
    const std::string rv = request_meta->resource_version();
    auto transform = [&](const Message&, std::unique_ptr<Message>& working) {
      if (working == nullptr) working = std::move(object);
      api::MutableObjectMetaOf(*working)->set_resource_version(rv);
      return absl::OkStatus();
    };
    KORCH_ASSIGN_OR_RETURN(WriteOutcome out, UpdateCore(user, kind, ns, name, sub, options.dry_run,
                                                        transform, &fields));
    return out.object;
  }

  absl::StatusOr<ObjectPtr> Patch(const UserInfo& user, const api::KindInfo& kind,
                                  absl::string_view ns_in, absl::string_view name_in,
                                  PatchType type, absl::string_view patch,
                                  const PatchOptions& options) override {
    KORCH_RETURN_IF_ERROR(CheckKind(kind));
    KORCH_ASSIGN_OR_RETURN(std::string ns, ObjectNamespace(kind, ns_in));
    std::string name(name_in);
    KORCH_RETURN_IF_ERROR(CheckName(name));
    const std::string& sub = options.subresource;
    if (!sub.empty() && sub != "status" && !(sub == "scale" && internal::IsScalable(kind))) {
      return NoSuchSubresource(kind, sub);
    }
    if (type == PatchType::kApply && options.field_manager.empty()) {
      return api::InvalidStatus(
          "PatchOptions.meta.k8s.io", "",
          {api::Required(api::FieldPath("fieldManager"), "is required for apply requests")});
    }
    KORCH_RETURN_IF_ERROR(AuthorizeVerb(user, "patch", kind, sub, ns, name));
    KORCH_RETURN_IF_ERROR(ValidateFieldManager(options.field_manager, "PatchOptions.meta.k8s.io"));
    FieldManagerRequest fields = FieldManager(
        kind, options.field_manager, sub,
        type == PatchType::kApply ? ManagedOperation::kApply : ManagedOperation::kUpdate);
    KORCH_ASSIGN_OR_RETURN(nlohmann::json body, ParsePatch(type, patch));
    const bool sets_rv = PatchSetsResourceVersion(type, body);
    const api::KindInfo* scale_kind = scheme_.Find(api::Scale::descriptor());

    auto apply = [&](const Message& target) -> absl::StatusOr<nlohmann::json> {
      nlohmann::json doc = api::EncodeJsonValue(target);
      if (!sets_rv && doc.is_object() && doc.contains("metadata") && doc["metadata"].is_object()) {
        doc["metadata"].erase("resourceVersion");
      }
      absl::StatusOr<nlohmann::json> out;
      switch (type) {
        case PatchType::kJson:
          out = ApplyJsonPatch(doc, body);
          break;
        case PatchType::kMerge:
          out = ApplyMergePatch(doc, body);
          break;
        case PatchType::kStrategicMerge:
          out = ApplyStrategicMergePatch(doc, body, KubernetesStrategicSchema());
          break;
        case PatchType::kApply: {
          if (sub == "scale") {
            out = ApplyServerSideApply(&doc, body, KubernetesStrategicSchema());
            break;
          }
          // Conflicts and bad configurations are returned as they are.
          KORCH_ASSIGN_OR_RETURN(
              ApplyResult applied,
              ServerSideApply(&doc, api::ObjectMetaOf(target)->managed_fields(), body, fields,
                              options.force, KubernetesStrategicSchema()));
          fields.applied = std::move(applied.managed_fields);
          out = std::move(applied.object);
          break;
        }
      }
      if (!out.ok()) return absl::InvalidArgumentError(out.status().message());
      return out;
    };

    auto transform = [&](const Message& old, std::unique_ptr<Message>& working) -> absl::Status {
      if (sub == "scale") {
        std::unique_ptr<api::Scale> scale = internal::ScaleOf(old);
        if (!sets_rv) scale->mutable_metadata()->clear_resource_version();
        KORCH_ASSIGN_OR_RETURN(nlohmann::json patched, apply(*scale));
        api::Scale result;
        KORCH_RETURN_IF_ERROR(DecodePatched(patched, result, *scale_kind));
        KORCH_RETURN_IF_ERROR(CheckScale(result, name));
        working = Clone(old);
        internal::SetReplicas(*working, result.spec().replicas());
        api::MutableObjectMetaOf(*working)->set_resource_version(
            result.metadata().resource_version());
        return absl::OkStatus();
      }
      KORCH_ASSIGN_OR_RETURN(nlohmann::json patched, apply(old));
      working = NewOf(kind);
      return DecodePatched(patched, *working, kind);
    };

    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      absl::StatusOr<WriteOutcome> out =
          UpdateCore(user, kind, ns, name, sub, options.dry_run, transform, &fields);
      if (out.ok()) {
        if (sub == "scale") return ObjectPtr(internal::ScaleOf(*out->object));
        return out->object;
      }
      if (type != PatchType::kApply || !sub.empty() ||
          out.status().code() != absl::StatusCode::kNotFound) {
        return out.status();
      }
      // Server-side apply of an object that does not exist creates it.
      absl::StatusOr<ApplyResult> created = ServerSideApply(
          nullptr, ManagedFields(), body, fields, options.force, KubernetesStrategicSchema());
      if (!created.ok()) return absl::InvalidArgumentError(created.status().message());
      std::unique_ptr<Message> object = NewOf(kind);
      KORCH_RETURN_IF_ERROR(DecodePatched(created->object, *object, kind));
      fields.applied = std::move(created->managed_fields);
      api::ObjectMeta* meta = api::MutableObjectMetaOf(*object);
      if (meta->name().empty()) meta->set_name(name);
      if (meta->name() != name) {
        return BadRequest(absl::StrCat("the name of the object (", meta->name(),
                                       ") does not match the name on the URL (", name, ")"));
      }
      absl::StatusOr<ObjectPtr> result =
          CreateInternal(user, kind, ns, std::move(object), options.dry_run, &fields);
      if (result.ok() || result.status().code() != absl::StatusCode::kAlreadyExists) {
        return result;
      }
      // Someone created it meanwhile: apply to theirs.
    }
    return ConflictError(kind.QualifiedResource(), name, kConflictDetail);
  }

  absl::StatusOr<DeleteResult> Delete(const UserInfo& user, const api::KindInfo& kind,
                                      absl::string_view ns_in, absl::string_view name,
                                      const DeleteOptions& options) override {
    KORCH_RETURN_IF_ERROR(CheckKind(kind));
    KORCH_ASSIGN_OR_RETURN(std::string ns, ObjectNamespace(kind, ns_in));
    KORCH_RETURN_IF_ERROR(CheckName(name));
    KORCH_RETURN_IF_ERROR(CheckDeleteOptions(options));
    KORCH_RETURN_IF_ERROR(AuthorizeVerb(user, "delete", kind, "", ns, name));
    return DeleteInternal(user, kind, ns, std::string(name), options);
  }

  absl::StatusOr<ListResult> DeleteCollection(const UserInfo& user, const api::KindInfo& kind,
                                              absl::string_view ns_in,
                                              const ListOptions& selection_options,
                                              const DeleteOptions& options) override {
    KORCH_RETURN_IF_ERROR(CheckKind(kind));
    std::string ns = kind.namespaced ? std::string(ns_in) : std::string();
    KORCH_ASSIGN_OR_RETURN(
        Selection selection,
        Selection::Parse(kind, selection_options.label_selector, selection_options.field_selector));
    KORCH_RETURN_IF_ERROR(CheckDeleteOptions(options));
    KORCH_RETURN_IF_ERROR(AuthorizeVerb(user, "deletecollection", kind, "", ns, ""));
    KORCH_ASSIGN_OR_RETURN(ListResult listed, ListInternal(kind, ns, selection, 0, "", ""));
    ListResult out;
    out.resource_version = listed.resource_version;
    for (const ObjectPtr& item : listed.items) {
      const api::ObjectMeta* meta = api::ObjectMetaOf(*item);
      absl::StatusOr<DeleteResult> r =
          DeleteInternal(user, kind, meta->namespace_(), meta->name(), options);
      if (r.ok()) {
        out.items.push_back(std::move(r->object));
      } else if (r.status().code() != absl::StatusCode::kNotFound) {
        return r.status();
      }
    }
    return out;
  }

  absl::StatusOr<int> CollectExpiredForTest() override {
    KORCH_RETURN_IF_ERROR(ScanTerminatingPods());
    return CollectDue(clock_.Now());
  }

  // --- Reads for admission plugins (no authorization) ------------------------

  absl::StatusOr<ObjectPtr> AdmissionGet(const api::KindInfo& kind, absl::string_view ns,
                                         absl::string_view name) {
    KORCH_RETURN_IF_ERROR(CheckKind(kind));
    if (auto it = admission_caches_.find(kind.descriptor); it != admission_caches_.end()) {
      absl::StatusOr<ObjectPtr> cached =
          CachedGet(kind, kind.namespaced ? ns : absl::string_view(), name, *it->second);
      if (cached.ok() || absl::IsNotFound(cached.status())) return cached;
    }
    KORCH_ASSIGN_OR_RETURN(Stored stored,
                           Read(kind, kind.namespaced ? ns : absl::string_view(), name));
    return ObjectPtr(std::move(stored.object));
  }

  absl::StatusOr<std::vector<ObjectPtr>> AdmissionList(const api::KindInfo& kind,
                                                       absl::string_view ns) {
    KORCH_RETURN_IF_ERROR(CheckKind(kind));
    if (auto it = admission_caches_.find(kind.descriptor); it != admission_caches_.end()) {
      absl::StatusOr<std::vector<ObjectPtr>> cached =
          CachedList(kind, kind.namespaced ? ns : absl::string_view(), *it->second);
      if (cached.ok()) return cached;
      // The cache starts again on the next read; this one lists the store.
    }
    KORCH_ASSIGN_OR_RETURN(ListResult r,
                           ListInternal(kind, kind.namespaced ? std::string(ns) : std::string(),
                                        Selection(), 0, "", ""));
    return std::move(r.items);
  }

 private:
  // --- Admission caches ------------------------------------------------------

  // Admission reads some kinds on every create (LimitRanger lists its
  // LimitRanges twice per pod, Priority the PriorityClasses once per pod,
  // ResourceQuota the namespace's quotas and NamespaceLifecycle gets the
  // namespace once per object). On an embedded store those kinds are kept in memory by a store
  // watch, which each read first brings up to the store's current revision:
  // a read sees every write acknowledged before it began, exactly as a list
  // from the store would, without a store iterator per create.
  struct AdmissionCache {
    absl::Mutex mu;
    // Null: not filled (yet, or again after the watch ended).
    std::unique_ptr<store::Watcher> watcher ABSL_GUARDED_BY(mu);
    std::map<std::string, ObjectPtr> objects ABSL_GUARDED_BY(mu);  // by store key
  };
  // Watch batches one read may consume before it gives up on the cache.
  static constexpr int kMaxCatchUpBatches = 64;

  void InitAdmissionCaches() {
    if (!storage_.LocalCurrentRevision()) return;
    for (const google::protobuf::Descriptor* d :
         {api::LimitRange::descriptor(), api::ResourceQuota::descriptor(),
          api::PriorityClass::descriptor(), api::Namespace::descriptor()}) {
      admission_caches_.emplace(d, std::make_unique<AdmissionCache>());
    }
  }

  absl::StatusOr<std::vector<ObjectPtr>> CachedList(const api::KindInfo& kind, absl::string_view ns,
                                                    AdmissionCache& cache) {
    absl::MutexLock l(&cache.mu);
    absl::Status caught_up = CatchUp(kind, cache);
    if (!caught_up.ok()) {
      cache.watcher.reset();
      cache.objects.clear();
      return caught_up;
    }
    std::vector<ObjectPtr> out;
    const std::string prefix = internal::NamespacePrefix(kind, ns);
    for (auto it = cache.objects.lower_bound(prefix);
         it != cache.objects.end() && absl::StartsWith(it->first, prefix); ++it) {
      out.push_back(it->second);
    }
    return out;
  }

  absl::StatusOr<ObjectPtr> CachedGet(const api::KindInfo& kind, absl::string_view ns,
                                      absl::string_view name, AdmissionCache& cache) {
    absl::MutexLock l(&cache.mu);
    absl::Status caught_up = CatchUp(kind, cache);
    if (!caught_up.ok()) {
      cache.watcher.reset();
      cache.objects.clear();
      return caught_up;
    }
    auto it = cache.objects.find(internal::ObjectKey(kind, ns, name));
    if (it == cache.objects.end()) return NotFoundError(kind.QualifiedResource(), name);
    return it->second;
  }

  absl::Status CatchUp(const api::KindInfo& kind, AdmissionCache& cache)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(cache.mu) {
    KORCH_ASSIGN_OR_RETURN(const int64_t target, storage_.CurrentRevision());
    const std::string prefix = internal::ResourcePrefix(kind);
    const std::string end = store::PrefixEnd(prefix);
    auto put = [&](const store::KeyValue& kv) -> absl::Status {
      KORCH_ASSIGN_OR_RETURN(std::unique_ptr<Message> object,
                             internal::DecodeStored(kind, kv.key, kv.value, kv.mod_revision));
      cache.objects[kv.key] = ObjectPtr(std::move(object));
      return absl::OkStatus();
    };
    if (cache.watcher == nullptr) {
      cache.objects.clear();
      KORCH_ASSIGN_OR_RETURN(store::RangeResult listed, storage_.Range(prefix, end));
      for (const store::KeyValue& kv : listed.kvs) KORCH_RETURN_IF_ERROR(put(kv));
      store::WatchOptions wo;
      wo.start_revision = listed.revision;
      wo.progress_interval = absl::ZeroDuration();
      KORCH_ASSIGN_OR_RETURN(cache.watcher, storage_.Watch(prefix, end, wo));
      if (listed.revision >= target) return absl::OkStatus();
    }
    for (int i = 0; i < kMaxCatchUpBatches; ++i) {
      // A zero timeout: the batch says how far the watch has seen.
      KORCH_ASSIGN_OR_RETURN(store::WatchBatch batch, cache.watcher->Next(absl::ZeroDuration()));
      for (const std::shared_ptr<const store::Event>& e : batch.events) {
        if (e->type == store::Event::Type::kDelete) {
          cache.objects.erase(e->kv.key);
        } else {
          KORCH_RETURN_IF_ERROR(put(e->kv));
        }
      }
      if (batch.revision >= target) return absl::OkStatus();
    }
    return absl::UnavailableError("the admission cache did not catch up with the store");
  }

  // --- Request checks ----------------------------------------------------------

  // The writer of one request, for metadata.managedFields.
  FieldManagerRequest FieldManager(const api::KindInfo& kind, absl::string_view manager,
                                   absl::string_view sub, ManagedOperation operation) const {
    FieldManagerRequest out;
    out.manager = std::string(manager);
    out.operation = operation;
    out.api_version = kind.api_version;
    out.subresource = std::string(sub);
    out.now = clock_.Now();
    return out;
  }

  absl::Status CheckKind(const api::KindInfo& kind) const {
    if (kind.resource.empty() || kind.descriptor == nullptr) {
      return WithReason(absl::NotFoundError(
                            absl::StrCat("the server could not find the requested resource (kind ",
                                         kind.kind, " is not served)")),
                        "NotFound", 404);
    }
    // Kinds served with verbs of their own (the access reviews) are only
    // created, which Create() handles before asking.
    if (!kind.verbs.empty()) {
      return WithReason(absl::UnimplementedError(
                            "the server does not allow this method on the requested resource"),
                        "MethodNotAllowed", 405);
    }
    return absl::OkStatus();
  }

  static absl::StatusOr<std::string> ObjectNamespace(const api::KindInfo& kind,
                                                     absl::string_view ns) {
    if (!kind.namespaced) return std::string();
    if (ns.empty()) {
      return BadRequest(absl::StrCat("a namespace is required for ", kind.QualifiedResource()));
    }
    return std::string(ns);
  }

  static absl::Status CheckName(absl::string_view name) {
    if (name.empty()) return BadRequest("resource name may not be empty");
    if (name.find('/') != absl::string_view::npos || name == "." || name == "..") {
      return BadRequest(absl::StrCat("resource name may not contain '/' or be '.' or '..': ",
                                     api::QuoteValue(name)));
    }
    return absl::OkStatus();
  }

  static absl::Status NoSuchSubresource(const api::KindInfo& kind, absl::string_view sub) {
    return WithReason(
        absl::NotFoundError(absl::StrCat("the server could not find the requested resource (",
                                         kind.resource, "/", sub, ")")),
        "NotFound", 404);
  }

  static absl::Status CheckDeleteOptions(const DeleteOptions& options) {
    const std::string& p = options.propagation_policy;
    if (!p.empty() && p != "Orphan" && p != "Background" && p != "Foreground") {
      return api::InvalidStatus("DeleteOptions.meta.k8s.io", "",
                                {api::NotSupported(api::FieldPath("propagationPolicy"), p,
                                                   {"Foreground", "Background", "Orphan", "nil"})});
    }
    if (options.grace_period_seconds.has_value() && *options.grace_period_seconds < 0) {
      return api::InvalidStatus(
          "DeleteOptions.meta.k8s.io", "",
          {api::Invalid(api::FieldPath("gracePeriodSeconds"), *options.grace_period_seconds,
                        "must be greater than or equal to 0")});
    }
    return absl::OkStatus();
  }

  absl::Status CheckScale(const api::Scale& scale, absl::string_view name) const {
    if (!scale.metadata().name().empty() && scale.metadata().name() != name) {
      return BadRequest(absl::StrCat("the name of the object (", scale.metadata().name(),
                                     ") does not match the name on the URL (", name, ")"));
    }
    if (scale.spec().replicas() < 0) {
      return api::InvalidStatus(
          "Scale.autoscaling", name,
          {api::Invalid(api::FieldPath("spec").Child("replicas"), scale.spec().replicas(),
                        "must be greater than or equal to 0")});
    }
    return absl::OkStatus();
  }

  absl::Status AuthorizeVerb(const UserInfo& user, absl::string_view verb,
                             const api::KindInfo& kind, absl::string_view sub, absl::string_view ns,
                             absl::string_view name) const {
    if (authorizer_ == nullptr) return absl::OkStatus();
    Attributes a;
    a.user = user;
    a.verb = std::string(verb);
    a.api_group = kind.group;
    a.resource = kind.resource;
    a.subresource = std::string(sub);
    a.namespace_ = std::string(ns);
    a.name = std::string(name);
    return Authorize(a);
  }

  absl::Status TooOldResourceVersion(absl::string_view rv) {
    return absl::OutOfRangeError(absl::StrCat("too old resource version: ", rv, " (",
                                              storage_.Stats().compacted_revision, ")"));
  }

  // --- Reads -------------------------------------------------------------------

  absl::StatusOr<Stored> Read(const api::KindInfo& kind, absl::string_view ns,
                              absl::string_view name) {
    std::string key = internal::ObjectKey(kind, ns, name);
    absl::StatusOr<store::KeyValue> kv = storage_.Get(key);
    if (!kv.ok()) {
      if (kv.status().code() == absl::StatusCode::kNotFound) {
        return NotFoundError(kind.QualifiedResource(), name);
      }
      return kv.status();
    }
    KORCH_ASSIGN_OR_RETURN(std::unique_ptr<Message> object,
                           internal::DecodeStored(kind, key, kv->value, kv->mod_revision));
    return Stored{std::move(object), kv->mod_revision};
  }

  // The key range of a selection: one key when it names a single object.
  static std::pair<std::string, std::string> KeyRange(const api::KindInfo& kind,
                                                      absl::string_view ns,
                                                      const Selection& selection) {
    std::optional<absl::string_view> name = selection.ExactName();
    if (name.has_value() && !name->empty() && (!kind.namespaced || !ns.empty())) {
      return {internal::ObjectKey(kind, ns, *name), ""};
    }
    std::string prefix = internal::NamespacePrefix(kind, ns);
    std::string end = store::PrefixEnd(prefix);
    return {std::move(prefix), std::move(end)};
  }

  absl::StatusOr<ListResult> ListInternal(const api::KindInfo& kind, const std::string& ns,
                                          const Selection& selection, int64_t limit,
                                          const std::string& continue_token,
                                          const std::string& resource_version) {
    const std::string prefix = internal::NamespacePrefix(kind, ns);
    auto [start, end] = KeyRange(kind, ns, selection);
    int64_t revision = 0;
    if (!continue_token.empty()) {
      KORCH_ASSIGN_OR_RETURN(ContinuePoint point, DecodeContinue(continue_token));
      revision = point.revision;
      start = prefix + point.last_key_suffix + std::string(1, '\0');
      if (!end.empty() && start >= end) {
        ListResult done;
        done.resource_version = absl::StrCat(revision);
        return done;
      }
      if (end.empty()) {
        // An exact-name list has nothing after its single key.
        ListResult done;
        done.resource_version = absl::StrCat(revision);
        return done;
      }
    } else if (!resource_version.empty() && resource_version != "0") {
      KORCH_ASSIGN_OR_RETURN(revision, ParseResourceVersion(resource_version));
    }

    ListResult out;
    if (limit < 0) limit = 0;
    while (true) {
      store::RangeOptions ro;
      ro.revision = revision;
      if (limit > 0) {
        int64_t want = limit - static_cast<int64_t>(out.items.size());
        // With a selection, read ahead: most keys may not match.
        ro.limit = selection.Everything() ? want : std::max<int64_t>(want, 256);
      }
      absl::StatusOr<store::RangeResult> r = storage_.Range(start, end, ro);
      if (!r.ok()) {
        if (r.status().code() == absl::StatusCode::kOutOfRange) {
          if (!continue_token.empty()) {
            return WithReason(
                absl::OutOfRangeError(
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter."),
                "Expired", 410);
          }
          return WithReason(
              absl::OutOfRangeError(absl::StrCat(
                  "The resourceVersion for the provided list is too old: ", resource_version)),
              "Expired", 410);
        }
        return r.status();
      }
      if (revision == 0) revision = r->revision;
      for (size_t i = 0; i < r->kvs.size(); ++i) {
        const store::KeyValue& kv = r->kvs[i];
        KORCH_ASSIGN_OR_RETURN(std::unique_ptr<Message> object,
                               internal::DecodeStored(kind, kv.key, kv.value, kv.mod_revision));
        if (!selection.Matches(*object)) continue;
        out.items.emplace_back(std::move(object));
        if (limit > 0 && static_cast<int64_t>(out.items.size()) == limit) {
          if (i + 1 < r->kvs.size() || r->more) {
            out.continue_token =
                EncodeContinue(revision, absl::string_view(kv.key).substr(prefix.size()));
            if (selection.Everything()) {
              out.remaining_item_count = r->count - static_cast<int64_t>(i + 1);
            }
          }
          out.resource_version = absl::StrCat(revision);
          return out;
        }
      }
      if (!r->more) break;
      start = r->continue_key;
    }
    out.resource_version = absl::StrCat(revision);
    return out;
  }

  // --- Admission ---------------------------------------------------------------

  absl::Status RunMutating(AttributesImpl& attributes) {
    for (const auto& plugin : options_.admission.mutating) {
      KORCH_RETURN_IF_ERROR(plugin->Admit(attributes));
    }
    return absl::OkStatus();
  }

  absl::Status RunValidating(AttributesImpl& attributes) {
    for (const auto& plugin : options_.admission.validating) {
      KORCH_RETURN_IF_ERROR(plugin->Validate(attributes));
    }
    return absl::OkStatus();
  }

  // --- Writes ------------------------------------------------------------------

  // Writes `op` on `key`, guarded by `mod_revision` (0: must not exist),
  // together with admission's writes. kAborted when a guard failed;
  // kAlreadyExists / kNotFound from the single-key fast paths.
  absl::StatusOr<int64_t> Commit(const std::string& key, int64_t mod_revision, store::Op op,
                                 const std::vector<ExtraWrite>& extras) {
    if (extras.empty()) {
      if (op.type == store::Op::Type::kDelete) {
        KORCH_ASSIGN_OR_RETURN(store::KeyValue kv, storage_.Delete(key, mod_revision));
        return kv.mod_revision;
      }
      if (mod_revision == 0) return storage_.Create(key, op.value);
      return storage_.Update(key, op.value, mod_revision);
    }
    std::vector<store::Compare> guards;
    std::vector<store::Op> ops;
    guards.reserve(extras.size() + 1);
    ops.reserve(extras.size() + 1);
    guards.push_back(store::Compare{key, mod_revision});
    ops.push_back(std::move(op));
    for (const ExtraWrite& w : extras) {
      guards.push_back(store::Compare{w.key, w.mod_revision});
      ops.push_back(store::Op::Put(w.key, w.value));
    }
    KORCH_ASSIGN_OR_RETURN(store::TxnResult r, storage_.Txn(guards, ops));
    return r.revision;
  }

  // Whether the key still has `mod_revision` (0: is absent).
  bool Unchanged(const std::string& key, int64_t mod_revision) {
    absl::StatusOr<store::KeyValue> kv = storage_.Get(key);
    if (!kv.ok()) return mod_revision == 0 && kv.status().code() == absl::StatusCode::kNotFound;
    return kv->mod_revision == mod_revision;
  }

  // `fields` (null: leave metadata.managedFields alone) names the writer for
  // field management.
  absl::StatusOr<ObjectPtr> CreateInternal(const UserInfo& user, const api::KindInfo& kind,
                                           const std::string& ns, std::unique_ptr<Message> object,
                                           bool dry_run,
                                           const FieldManagerRequest* fields = nullptr) {
    if (object->GetDescriptor() != kind.descriptor) {
      return BadRequest(
          absl::StrCat("the object is a ", object->GetDescriptor()->name(), ", not a ", kind.kind));
    }
    api::ObjectMeta* meta = api::MutableObjectMetaOf(*object);
    if (meta == nullptr) return BadRequest("the object has no metadata");
    if (kind.namespaced) {
      if (meta->namespace_().empty()) {
        meta->set_namespace_(ns);
      } else if (!ns.empty() && meta->namespace_() != ns) {
        return BadRequest(
            "the namespace of the provided object does not match the namespace sent on the "
            "request");
      }
    } else {
      meta->clear_namespace_();
    }
    const std::string object_ns = meta->namespace_();
    const bool generated = meta->name().empty() && !meta->generate_name().empty();
    const std::string uid = NewUid();
    std::string key;
    AttributesImpl attributes(*this, AdmissionOperation::kCreate, kind, object_ns, meta->name(), "",
                              object.get(), nullptr, user, dry_run, key);
    auto* service = google::protobuf::DynamicCastToGenerated<api::Service>(object.get());
    std::optional<ServiceAllocationGuard> allocation;

    // After an admission write lost a race (two creates charging one
    // ResourceQuota), the retries hold a per-namespace lock: in this server
    // contended creates then queue instead of failing after kMaxAttempts.
    // Other servers on the same store still race and retry.
    absl::Mutex* serialized = nullptr;
    struct Unlock {
      absl::Mutex*& mu;
      ~Unlock() {
        if (mu != nullptr) mu->Unlock();
      }
    } unlock{serialized};

    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      if (serialized == nullptr) BackOff(attempt);
      attributes.ResetExtras();
      api::SetDefaults(object.get());
      KORCH_RETURN_IF_ERROR(RunMutating(attributes));
      api::SetDefaults(object.get());
      meta = api::MutableObjectMetaOf(*object);
      if (generated && key.empty()) meta->set_name(GenerateName(meta->generate_name()));
      // System fields: whatever the client or a plugin put there is replaced.
      meta->set_uid(uid);
      *meta->mutable_creation_timestamp() = ToProtoTime(clock_.Now());
      meta->set_generation(1);
      meta->clear_deletion_timestamp();
      meta->clear_deletion_grace_period_seconds();
      meta->clear_resource_version();
      meta->clear_self_link();
      internal::PrepareForCreate(*object);
      key = internal::ObjectKey(kind, meta->namespace_(), meta->name());
      attributes.set_name(meta->name());
      KORCH_RETURN_IF_ERROR(api::Validate(*object));
      KORCH_RETURN_IF_ERROR(RunValidating(attributes));
      internal::NormalizeForStorage(*object);
      if (fields != nullptr) {
        KORCH_RETURN_IF_ERROR(RecordWrite(nullptr, *object, *fields, KubernetesStrategicSchema()));
      }
      if (dry_run) return ObjectPtr(std::move(object));

      if (service != nullptr && !allocation.has_value()) {
        allocation.emplace(allocator_.get());
        KORCH_RETURN_IF_ERROR(AllocateService(*service, nullptr, *allocation));
      }
      absl::StatusOr<int64_t> rev =
          Commit(key, 0, store::Op::Put(key, object->SerializeAsString()), attributes.extras());
      if (rev.ok()) {
        if (allocation.has_value()) allocation->Commit();
        meta->set_resource_version(absl::StrCat(*rev));
        return ObjectPtr(std::move(object));
      }
      absl::StatusCode code = rev.status().code();
      bool exists = code == absl::StatusCode::kAlreadyExists ||
                    (code == absl::StatusCode::kAborted && !Unchanged(key, 0));
      if (exists) {
        if (generated) {
          key.clear();  // another name next time
          continue;
        }
        return AlreadyExistsError(kind.QualifiedResource(), meta->name());
      }
      if (code != absl::StatusCode::kAborted) return rev.status();
      // An admission write lost a race: admit again with fresh reads.
      if (serialized == nullptr) {
        serialized = &contended_creates_[absl::Hash<std::string>{}(object_ns) %
                                         std::size(contended_creates_)];
        serialized->Lock();
      }
    }
    return ConflictError(kind.QualifiedResource(), meta->name(), kConflictDetail);
  }

  // The read-modify-write cycle of update, patch and the subresources.
  // `fields` (null: leave metadata.managedFields alone) names the writer for
  // field management.
  absl::StatusOr<WriteOutcome> UpdateCore(const UserInfo& user, const api::KindInfo& kind,
                                          const std::string& ns, const std::string& name,
                                          absl::string_view sub, bool dry_run, Transform transform,
                                          const FieldManagerRequest* fields = nullptr) {
    const std::string key = internal::ObjectKey(kind, ns, name);
    const std::string qualified = kind.QualifiedResource();
    const google::protobuf::FieldDescriptor* status_field = api::StatusField(kind.descriptor);
    std::unique_ptr<Message> working;
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      BackOff(attempt);
      KORCH_ASSIGN_OR_RETURN(Stored stored, Read(kind, ns, name));
      const Message& old = *stored.object;
      const api::ObjectMeta& old_meta = *api::ObjectMetaOf(old);
      KORCH_RETURN_IF_ERROR(transform(old, working));
      if (working == nullptr || working->GetDescriptor() != kind.descriptor) {
        return absl::InternalError("update produced an object of the wrong kind");
      }
      const std::string precondition = api::ObjectMetaOf(*working)->resource_version();
      if (!precondition.empty() && precondition != old_meta.resource_version()) {
        return ConflictError(qualified, name, kConflictDetail);
      }

      if (sub == "status") {
        // Only the status comes from the request.
        std::unique_ptr<Message> merged = Clone(old);
        if (status_field != nullptr) {
          merged->GetReflection()->SwapFields(merged.get(), working.get(), {status_field});
        }
        working = std::move(merged);
      } else if (sub.empty()) {
        // The main resource ignores status changes.
        if (status_field != nullptr) {
          const google::protobuf::Reflection* r = old.GetReflection();
          if (r->HasField(old, status_field)) {
            r->MutableMessage(working.get(), status_field)
                ->CopyFrom(r->GetMessage(old, status_field));
          } else {
            r->ClearField(working.get(), status_field);
          }
        }
        if (auto* ns_obj =
                google::protobuf::DynamicCastToGenerated<api::Namespace>(working.get())) {
          // spec.finalizers change only through /finalize.
          *ns_obj->mutable_spec() =
              google::protobuf::DynamicCastToGenerated<api::Namespace>(&old)->spec();
        }
        if (auto* svc = google::protobuf::DynamicCastToGenerated<api::Service>(working.get())) {
          CarryServiceAllocations(*svc,
                                  *google::protobuf::DynamicCastToGenerated<api::Service>(&old));
        }
      }

      api::ObjectMeta* meta = api::MutableObjectMetaOf(*working);
      if (meta->name().empty()) meta->set_name(name);
      if (meta->name() != name) {
        return BadRequest(absl::StrCat("the name of the object (", meta->name(),
                                       ") does not match the name on the URL (", name, ")"));
      }
      if (kind.namespaced) {
        if (meta->namespace_().empty()) meta->set_namespace_(ns);
        if (meta->namespace_() != ns) {
          return BadRequest(
              "the namespace of the provided object does not match the namespace sent on the "
              "request");
        }
      } else {
        meta->clear_namespace_();
      }
      if (!meta->uid().empty() && meta->uid() != old_meta.uid()) {
        return ConflictError(qualified, name,
                             absl::StrCat("Precondition failed: UID in precondition: ", meta->uid(),
                                          ", UID in object meta: ", old_meta.uid()));
      }
      meta->set_uid(old_meta.uid());
      *meta->mutable_creation_timestamp() = old_meta.creation_timestamp();
      if (old_meta.has_deletion_timestamp()) {
        *meta->mutable_deletion_timestamp() = old_meta.deletion_timestamp();
      } else {
        meta->clear_deletion_timestamp();
      }
      if (old_meta.has_deletion_grace_period_seconds()) {
        meta->set_deletion_grace_period_seconds(old_meta.deletion_grace_period_seconds());
      } else {
        meta->clear_deletion_grace_period_seconds();
      }
      meta->set_generation(old_meta.generation());
      meta->clear_self_link();
      meta->clear_resource_version();

      // Defaulting would bring back a namespace's "kubernetes" finalizer,
      // which Kubernetes adds on create only.
      std::optional<api::NamespaceSpec> ns_spec;
      if (auto* n = google::protobuf::DynamicCastToGenerated<api::Namespace>(working.get())) {
        ns_spec = n->spec();
      }
      auto set_defaults = [&] {
        api::SetDefaults(working.get());
        if (ns_spec.has_value()) {
          *google::protobuf::DynamicCastToGenerated<api::Namespace>(working.get())->mutable_spec() =
              *ns_spec;
        }
      };
      set_defaults();
      AttributesImpl attributes(*this, AdmissionOperation::kUpdate, kind, ns, name, sub,
                                working.get(), &old, user, dry_run, key);
      std::unique_ptr<api::Scale> scale;
      if (sub == "scale") {
        scale = internal::ScaleOf(*working);
        attributes.set_object(scale.get());
      }
      KORCH_RETURN_IF_ERROR(RunMutating(attributes));
      if (scale != nullptr) internal::SetReplicas(*working, scale->spec().replicas());
      set_defaults();
      meta = api::MutableObjectMetaOf(*working);
      if (internal::SpecChanged(*working, old)) meta->set_generation(old_meta.generation() + 1);

      api::FieldErrorList errors = internal::ValidateUpdate(*working, old);
      api::FieldErrorList more = api::ValidateObject(*working);
      errors.insert(errors.end(), more.begin(), more.end());
      KORCH_RETURN_IF_ERROR(api::InvalidStatus(kind.QualifiedKind(), name, errors));
      KORCH_RETURN_IF_ERROR(RunValidating(attributes));
      internal::NormalizeForStorage(*working);
      if (fields != nullptr) {
        KORCH_RETURN_IF_ERROR(RecordWrite(&old, *working, *fields, KubernetesStrategicSchema()));
      }

      const bool delete_now = DeletesOnUpdate(*working);
      if (dry_run) {
        meta->set_resource_version(old_meta.resource_version());
        return WriteOutcome{ObjectPtr(std::move(working)), delete_now};
      }
      if (!delete_now && attributes.extras().empty() && internal::SameObject(*working, old)) {
        // Nothing changed: no write, no new resourceVersion, no watch event.
        return WriteOutcome{ObjectPtr(std::move(stored.object)), false};
      }

      std::optional<ServiceAllocationGuard> allocation;
      auto* svc = google::protobuf::DynamicCastToGenerated<api::Service>(working.get());
      const auto* old_svc = google::protobuf::DynamicCastToGenerated<api::Service>(&old);
      if (svc != nullptr && !delete_now) {
        allocation.emplace(allocator_.get());
        KORCH_RETURN_IF_ERROR(AllocateService(*svc, old_svc, *allocation));
      }
      store::Op op =
          delete_now ? store::Op::Delete(key) : store::Op::Put(key, working->SerializeAsString());
      absl::StatusOr<int64_t> rev =
          Commit(key, stored.mod_revision, std::move(op), attributes.extras());
      if (!rev.ok()) {
        absl::StatusCode code = rev.status().code();
        if (code != absl::StatusCode::kAborted && code != absl::StatusCode::kNotFound) {
          return rev.status();
        }
        if (!precondition.empty() && code == absl::StatusCode::kAborted &&
            !Unchanged(key, stored.mod_revision)) {
          return ConflictError(qualified, name, kConflictDetail);
        }
        continue;
      }
      if (allocation.has_value()) {
        allocation->Commit();
        ReleaseUnusedServiceAllocations(*old_svc, *svc);
      }
      if (delete_now && old_svc != nullptr) ReleaseService(*old_svc);
      meta->set_resource_version(absl::StrCat(*rev));
      return WriteOutcome{ObjectPtr(std::move(working)), delete_now};
    }
    return ConflictError(qualified, name, kConflictDetail);
  }

  // An update that leaves an object being deleted without finalizers (and
  // without a grace period still running) removes it.
  static bool DeletesOnUpdate(const Message& object) {
    const api::ObjectMeta* meta = api::ObjectMetaOf(object);
    if (!meta->has_deletion_timestamp() || !meta->finalizers().empty()) return false;
    if (meta->deletion_grace_period_seconds() != 0) return false;
    if (const auto* ns = google::protobuf::DynamicCastToGenerated<api::Namespace>(&object)) {
      return ns->spec().finalizers().empty();
    }
    return true;
  }

  absl::StatusOr<DeleteResult> DeleteInternal(const UserInfo& user, const api::KindInfo& kind,
                                              const std::string& ns, const std::string& name,
                                              const DeleteOptions& options) {
    const std::string key = internal::ObjectKey(kind, ns, name);
    const std::string qualified = kind.QualifiedResource();
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      BackOff(attempt);
      KORCH_ASSIGN_OR_RETURN(Stored stored, Read(kind, ns, name));
      const Message& old = *stored.object;
      const api::ObjectMeta& old_meta = *api::ObjectMetaOf(old);
      if (!options.precondition_uid.empty() && options.precondition_uid != old_meta.uid()) {
        return ConflictError(
            qualified, name,
            absl::StrCat("Precondition failed: UID in precondition: ", options.precondition_uid,
                         ", UID in object meta: ", old_meta.uid()));
      }
      if (!options.precondition_resource_version.empty() &&
          options.precondition_resource_version != old_meta.resource_version()) {
        return ConflictError(
            qualified, name,
            absl::StrCat("Precondition failed: ResourceVersion in precondition: ",
                         options.precondition_resource_version,
                         ", ResourceVersion in object meta: ", old_meta.resource_version()));
      }
      AttributesImpl attributes(*this, AdmissionOperation::kDelete, kind, ns, name, "", nullptr,
                                &old, user, options.dry_run, key);
      KORCH_RETURN_IF_ERROR(RunValidating(attributes));

      std::unique_ptr<Message> working = Clone(old);
      api::ObjectMeta* meta = api::MutableObjectMetaOf(*working);
      const absl::Time now = clock_.Now();
      bool changed = false;
      auto add_finalizer = [&](absl::string_view f) {
        if (!HasFinalizer(*meta, f)) {
          meta->add_finalizers(std::string(f));
          changed = true;
        }
      };
      if (options.propagation_policy == "Orphan") add_finalizer("orphan");
      if (options.propagation_policy == "Foreground") add_finalizer("foregroundDeletion");

      auto* pod = google::protobuf::DynamicCastToGenerated<api::Pod>(working.get());
      auto* ns_obj = google::protobuf::DynamicCastToGenerated<api::Namespace>(working.get());
      int64_t grace = 0;
      if (pod != nullptr) {
        grace = options.grace_period_seconds.has_value()
                    ? *options.grace_period_seconds
                    : (pod->spec().has_termination_grace_period_seconds()
                           ? pod->spec().termination_grace_period_seconds()
                           : options_.default_pod_grace_seconds);
        const std::string& phase = pod->status().phase();
        if (pod->spec().node_name().empty() || phase == "Succeeded" || phase == "Failed") {
          grace = 0;
        }
        grace = std::max<int64_t>(grace, 0);
      }

      bool delete_now = false;
      std::optional<absl::Time> collect_at;
      if (old_meta.has_deletion_timestamp()) {
        if (pod != nullptr && grace < old_meta.deletion_grace_period_seconds()) {
          // A shorter grace period brings the end forward.
          *meta->mutable_deletion_timestamp() = ToProtoTime(now + absl::Seconds(grace));
          meta->set_deletion_grace_period_seconds(grace);
          changed = true;
          if (grace > 0) collect_at = now + absl::Seconds(grace);
        }
        delete_now = DeletesOnUpdate(*working);
        if (!changed && !delete_now) {
          return DeleteResult{ObjectPtr(std::move(stored.object)), false};
        }
      } else {
        meta->set_generation(old_meta.generation() + 1);
        changed = true;
        if (ns_obj != nullptr) {
          *meta->mutable_deletion_timestamp() = ToProtoTime(now);
          meta->set_deletion_grace_period_seconds(0);
          ns_obj->mutable_status()->set_phase("Terminating");
          delete_now = DeletesOnUpdate(*working);
        } else if (grace > 0) {
          *meta->mutable_deletion_timestamp() = ToProtoTime(now + absl::Seconds(grace));
          meta->set_deletion_grace_period_seconds(grace);
          collect_at = now + absl::Seconds(grace);
        } else if (!meta->finalizers().empty()) {
          *meta->mutable_deletion_timestamp() = ToProtoTime(now);
          meta->set_deletion_grace_period_seconds(0);
        } else {
          delete_now = true;
        }
      }

      if (options.dry_run) {
        if (delete_now) return DeleteResult{ObjectPtr(std::move(stored.object)), true};
        return DeleteResult{ObjectPtr(std::move(working)), false};
      }
      // Admission's writes for a deletion (a quota's released usage) are
      // committed once, with the request that starts the deletion.
      static const std::vector<ExtraWrite> kNoWrites;
      const std::vector<ExtraWrite>& extras =
          old_meta.has_deletion_timestamp() ? kNoWrites : attributes.extras();
      absl::StatusOr<int64_t> rev =
          delete_now ? Commit(key, stored.mod_revision, store::Op::Delete(key), extras)
                     : Commit(key, stored.mod_revision,
                              store::Op::Put(key, working->SerializeAsString()), extras);
      if (!rev.ok()) {
        absl::StatusCode code = rev.status().code();
        if (code == absl::StatusCode::kAborted || code == absl::StatusCode::kNotFound) continue;
        return rev.status();
      }
      if (delete_now) {
        if (const auto* svc = google::protobuf::DynamicCastToGenerated<api::Service>(&old)) {
          ReleaseService(*svc);
        }
        api::MutableObjectMetaOf(*stored.object)->set_resource_version(absl::StrCat(*rev));
        return DeleteResult{ObjectPtr(std::move(stored.object)), true};
      }
      if (collect_at.has_value()) ScheduleCollection(key, *collect_at);
      meta->set_resource_version(absl::StrCat(*rev));
      return DeleteResult{ObjectPtr(std::move(working)), false};
    }
    return ConflictError(qualified, name, kConflictDetail);
  }

  // The reviews of authorization.k8s.io: authorized as a create of the
  // review, then answered from the authorizers; never stored.
  absl::StatusOr<ObjectPtr> CreateAccessReview(const UserInfo& user, const api::KindInfo& kind,
                                               absl::string_view ns_in,
                                               std::unique_ptr<Message> object,
                                               const CreateOptions& options) {
    if (object == nullptr) return BadRequest("the request has no object");
    if (!options.subresource.empty()) return NoSuchSubresource(kind, options.subresource);
    KORCH_ASSIGN_OR_RETURN(std::string ns, ObjectNamespace(kind, ns_in));
    KORCH_RETURN_IF_ERROR(AuthorizeVerb(user, "create", kind, "", ns, ""));
    internal::ReviewAuthorizers authorizers;
    authorizers.chain = authorizer_.get();
    authorizers.rbac = rbac_source_.get();
    authorizers.node = options_.authorization.node;
    authorizers.extra = !options_.authorization.extra.empty();
    return internal::EvaluateAccessReview(authorizers, user, kind, ns, std::move(object));
  }

  // POST pods/<name>/binding.
  absl::StatusOr<ObjectPtr> Bind(const UserInfo& user, const api::KindInfo& pods,
                                 absl::string_view ns_in, absl::string_view name_in,
                                 std::unique_ptr<Message> object, const CreateOptions& options) {
    auto* binding = google::protobuf::DynamicCastToGenerated<api::Binding>(object.get());
    if (binding == nullptr) return BadRequest("the body of a binding must be a Binding");
    api::ObjectMeta* bmeta = binding->mutable_metadata();
    std::string name = name_in.empty() ? bmeta->name() : std::string(name_in);
    std::string ns_arg = ns_in.empty() ? bmeta->namespace_() : std::string(ns_in);
    KORCH_ASSIGN_OR_RETURN(std::string ns, ObjectNamespace(pods, ns_arg));
    KORCH_RETURN_IF_ERROR(CheckName(name));
    if (!bmeta->namespace_().empty() && bmeta->namespace_() != ns) {
      return BadRequest(
          "the namespace of the provided object does not match the namespace sent on the "
          "request");
    }
    if (!bmeta->name().empty() && bmeta->name() != name) {
      return BadRequest(absl::StrCat("the name of the object (", bmeta->name(),
                                     ") does not match the name on the URL (", name, ")"));
    }
    bmeta->set_namespace_(ns);
    bmeta->set_name(name);
    KORCH_RETURN_IF_ERROR(AuthorizeVerb(user, "create", pods, "binding", ns, name));
    KORCH_RETURN_IF_ERROR(api::Validate(*binding));
    const std::string key = internal::ObjectKey(pods, ns, name);
    const std::string qualified = "pods/binding";
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      BackOff(attempt);
      KORCH_ASSIGN_OR_RETURN(Stored stored, Read(pods, ns, name));
      AttributesImpl attributes(*this, AdmissionOperation::kCreate, pods, ns, name, "binding",
                                binding, stored.object.get(), user, options.dry_run, key);
      KORCH_RETURN_IF_ERROR(RunMutating(attributes));
      KORCH_RETURN_IF_ERROR(RunValidating(attributes));
      auto& pod = *google::protobuf::DynamicCastToGenerated<api::Pod>(stored.object.get());
      if (pod.metadata().has_deletion_timestamp()) {
        return ConflictError(
            qualified, name,
            absl::StrCat("pod ", name, " is being deleted, cannot be assigned to a host"));
      }
      if (!pod.spec().node_name().empty()) {
        return ConflictError(qualified, name,
                             absl::StrCat("pod ", name, " is already assigned to node \"",
                                          pod.spec().node_name(), "\""));
      }
      if (!binding->target().kind().empty() && binding->target().kind() != "Node") {
        return api::InvalidStatus("Binding", name,
                                  {api::NotSupported(api::FieldPath("target").Child("kind"),
                                                     binding->target().kind(), {"Node", ""})});
      }
      pod.mutable_spec()->set_node_name(binding->target().name());
      for (const auto& [k, v] : binding->metadata().annotations()) {
        (*pod.mutable_metadata()->mutable_annotations())[k] = v;
      }
      api::PodCondition* scheduled = nullptr;
      for (api::PodCondition& c : *pod.mutable_status()->mutable_conditions()) {
        if (c.type() == "PodScheduled") scheduled = &c;
      }
      if (scheduled == nullptr) {
        scheduled = pod.mutable_status()->add_conditions();
        scheduled->set_type("PodScheduled");
      }
      if (scheduled->status() != "True") {
        *scheduled->mutable_last_transition_time() = ToProtoTime(clock_.Now());
      }
      scheduled->set_status("True");
      scheduled->clear_reason();
      scheduled->clear_message();
      pod.mutable_metadata()->clear_resource_version();
      if (options.dry_run) return ObjectPtr(std::move(object));
      absl::StatusOr<int64_t> rev =
          Commit(key, stored.mod_revision, store::Op::Put(key, pod.SerializeAsString()),
                 attributes.extras());
      if (rev.ok()) return ObjectPtr(std::move(object));
      absl::StatusCode code = rev.status().code();
      if (code != absl::StatusCode::kAborted && code != absl::StatusCode::kNotFound) {
        return rev.status();
      }
    }
    return ConflictError(qualified, name, kConflictDetail);
  }

  // --- Patches -----------------------------------------------------------------

  static absl::StatusOr<nlohmann::json> ParsePatch(PatchType type, absl::string_view text) {
    absl::StatusOr<nlohmann::json> body = api::ParseJson(text, /*reject_duplicates=*/false);
    if (!body.ok() && type == PatchType::kApply) {
      absl::StatusOr<std::vector<nlohmann::json>> docs =
          api::ParseYaml(text, /*reject_duplicates=*/true);
      if (docs.ok() && docs->size() == 1) body = std::move((*docs)[0]);
    }
    if (!body.ok()) {
      return BadRequest(absl::StrCat("the patch does not parse: ", body.status().message()));
    }
    if (type == PatchType::kJson && !body->is_array()) {
      return BadRequest("a JSON patch must be a list of operations");
    }
    if ((type == PatchType::kStrategicMerge || type == PatchType::kApply) && !body->is_object()) {
      return BadRequest("the patch must be a JSON object");
    }
    return body;
  }

  static bool PatchSetsResourceVersion(PatchType type, const nlohmann::json& body) {
    if (type == PatchType::kJson) {
      for (const nlohmann::json& op : body) {
        if (!op.is_object()) continue;
        auto path = op.find("path");
        auto kind = op.find("op");
        if (path != op.end() && path->is_string() &&
            path->get<std::string>() == "/metadata/resourceVersion" && kind != op.end() &&
            kind->is_string() &&
            (kind->get<std::string>() == "add" || kind->get<std::string>() == "replace")) {
          return true;
        }
      }
      return false;
    }
    if (!body.is_object()) return false;
    auto meta = body.find("metadata");
    if (meta == body.end() || !meta->is_object()) return false;
    auto rv = meta->find("resourceVersion");
    return rv != meta->end() && rv->is_string() && !rv->get<std::string>().empty();
  }

  static absl::Status DecodePatched(const nlohmann::json& patched, Message& out,
                                    const api::KindInfo& kind) {
    absl::Status s = api::DecodeJsonValue(patched, &out);
    if (!s.ok()) {
      const api::ObjectMeta* meta = api::ObjectMetaOf(out);
      std::string name = meta != nullptr ? meta->name() : std::string();
      return absl::InvalidArgumentError(absl::StrCat(kind.QualifiedKind(), " ",
                                                     api::QuoteValue(name),
                                                     " is invalid after the patch: ", s.message()));
    }
    return absl::OkStatus();
  }

  // --- Services ----------------------------------------------------------------

  // Keeps the allocations of the stored Service when an update leaves them
  // out (Kubernetes' clients send Services without clusterIP / nodePort).
  static void CarryServiceAllocations(api::Service& now, const api::Service& old) {
    api::ServiceSpec* spec = now.mutable_spec();
    if (spec->cluster_ip().empty() && !old.spec().cluster_ip().empty() &&
        spec->type() != "ExternalName") {
      spec->set_cluster_ip(old.spec().cluster_ip());
    }
    if (spec->cluster_ips().empty() && !old.spec().cluster_ips().empty() &&
        spec->cluster_ip() == old.spec().cluster_ip()) {
      *spec->mutable_cluster_ips() = old.spec().cluster_ips();
    }
    if (ServiceNeedsNodePorts(old) && !ServiceNeedsNodePorts(now)) {
      // Leaving NodePort / LoadBalancer: what only those types use goes,
      // unless the client changed it on purpose (then validation says no).
      if (spec->external_traffic_policy() == old.spec().external_traffic_policy()) {
        spec->clear_external_traffic_policy();
      }
      for (api::ServicePort& p : *spec->mutable_ports()) {
        for (const api::ServicePort& o : old.spec().ports()) {
          if (o.port() == p.port() && o.node_port() == p.node_port()) p.clear_node_port();
        }
      }
    }
    if (ServiceNeedsNodePorts(now)) {
      for (api::ServicePort& p : *spec->mutable_ports()) {
        if (p.node_port() != 0) continue;
        for (const api::ServicePort& o : old.spec().ports()) {
          if (o.port() == p.port() && ProtocolOf(o) == ProtocolOf(p) && o.node_port() != 0) {
            p.set_node_port(o.node_port());
            break;
          }
        }
      }
    }
  }

  absl::Status AllocateService(api::Service& svc, const api::Service* old,
                               ServiceAllocationGuard& guard) {
    if (allocator_ == nullptr) return absl::OkStatus();
    const std::string& name = svc.metadata().name();
    api::ServiceSpec* spec = svc.mutable_spec();
    const bool had_ip =
        old != nullptr && !old->spec().cluster_ip().empty() && old->spec().cluster_ip() != "None";
    if (ServiceNeedsIP(svc) && !(had_ip && spec->cluster_ip() == old->spec().cluster_ip())) {
      absl::StatusOr<std::string> ip = allocator_->AllocateIP(spec->cluster_ip());
      if (!ip.ok()) {
        if (ip.status().code() == absl::StatusCode::kResourceExhausted) {
          return absl::InternalError(
              absl::StrCat("failed to allocate a serviceIP: ", ip.status().message()));
        }
        return api::InvalidStatus(
            "Service", name,
            {api::Invalid(api::FieldPath("spec").Child("clusterIPs").Index(0), spec->cluster_ip(),
                          absl::StrCat("failed to allocate IP ", spec->cluster_ip(), ": ",
                                       ip.status().message()))});
      }
      guard.AddIP(*ip);
      spec->set_cluster_ip(*ip);
      spec->clear_cluster_ips();
      spec->add_cluster_ips(*ip);
    }
    if (!ServiceNeedsNodePorts(svc)) return absl::OkStatus();
    for (int i = 0; i < spec->ports_size(); ++i) {
      api::ServicePort* p = spec->mutable_ports(i);
      bool owned = false;
      if (old != nullptr && p->node_port() != 0) {
        for (const api::ServicePort& o : old->spec().ports())
          owned |= o.node_port() == p->node_port();
      }
      if (owned) continue;
      absl::StatusOr<int> port = allocator_->AllocatePort(p->node_port());
      if (!port.ok()) {
        if (port.status().code() == absl::StatusCode::kResourceExhausted) {
          return absl::InternalError(
              absl::StrCat("failed to allocate a nodePort: ", port.status().message()));
        }
        return api::InvalidStatus(
            "Service", name,
            {api::Invalid(api::FieldPath("spec").Child("ports").Index(i).Child("nodePort"),
                          p->node_port(), port.status().message())});
      }
      guard.AddPort(*port);
      p->set_node_port(*port);
    }
    return absl::OkStatus();
  }

  void ReleaseUnusedServiceAllocations(const api::Service& old, const api::Service& now) {
    if (allocator_ == nullptr) return;
    if (!old.spec().cluster_ip().empty() && old.spec().cluster_ip() != "None" &&
        old.spec().cluster_ip() != now.spec().cluster_ip()) {
      (void)allocator_->ReleaseIP(old.spec().cluster_ip());
    }
    for (const api::ServicePort& o : old.spec().ports()) {
      if (o.node_port() == 0) continue;
      bool kept = false;
      for (const api::ServicePort& p : now.spec().ports()) kept |= p.node_port() == o.node_port();
      if (!kept) (void)allocator_->ReleasePort(o.node_port());
    }
  }

  void ReleaseService(const api::Service& svc) {
    if (allocator_ == nullptr) return;
    if (!svc.spec().cluster_ip().empty() && svc.spec().cluster_ip() != "None") {
      (void)allocator_->ReleaseIP(svc.spec().cluster_ip());
    }
    for (const api::ServicePort& p : svc.spec().ports()) {
      if (p.node_port() != 0) (void)allocator_->ReleasePort(p.node_port());
    }
  }

  // --- Bootstrap -----------------------------------------------------------------

  absl::Status CreateIfMissing(std::unique_ptr<Message> object) {
    const api::KindInfo* kind = scheme_.Find(object->GetDescriptor());
    if (kind == nullptr || kind->resource.empty()) {
      return absl::InternalError(
          absl::StrCat("bootstrap object of unserved type ", object->GetDescriptor()->name()));
    }
    api::SetDefaults(object.get());
    api::ObjectMeta* meta = api::MutableObjectMetaOf(*object);
    meta->set_uid(NewUid());
    *meta->mutable_creation_timestamp() = ToProtoTime(clock_.Now());
    meta->set_generation(1);
    internal::PrepareForCreate(*object);
    std::string key = internal::ObjectKey(*kind, meta->namespace_(), meta->name());
    absl::StatusOr<int64_t> rev = storage_.Create(key, internal::EncodeStored(*object));
    if (!rev.ok() && rev.status().code() != absl::StatusCode::kAlreadyExists) {
      return rev.status();
    }
    return absl::OkStatus();
  }

  absl::Status Bootstrap() {
    for (const char* name : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
      auto ns = std::make_unique<api::Namespace>();
      ns->mutable_metadata()->set_name(name);
      KORCH_RETURN_IF_ERROR(CreateIfMissing(std::move(ns)));
    }
    for (std::unique_ptr<Message>& object : internal::BootstrapRbacObjects()) {
      KORCH_RETURN_IF_ERROR(CreateIfMissing(std::move(object)));
    }
    return absl::OkStatus();
  }

  // --- Graceful deletion -----------------------------------------------------------

  void ScheduleCollection(const std::string& key, absl::Time at) {
    absl::MutexLock l(&mu_);
    collect_at_[key] = at;
    signal_ = true;
  }

  // Finds every pod whose graceful deletion is pending (at start, and so
  // that CollectExpiredForTest() also sees other servers' deletions).
  absl::Status ScanTerminatingPods() {
    const api::KindInfo* pods = scheme_.Find(api::Pod::descriptor());
    if (pods == nullptr || pods->resource.empty()) return absl::OkStatus();
    std::string prefix = internal::ResourcePrefix(*pods);
    std::string end = store::PrefixEnd(prefix);
    std::string start = prefix;
    int64_t revision = 0;
    for (int page = 0; page < 1000000; ++page) {
      store::RangeOptions ro;
      ro.revision = revision;
      ro.limit = 1000;
      KORCH_ASSIGN_OR_RETURN(store::RangeResult r, storage_.Range(start, end, ro));
      revision = r.revision;
      for (const store::KeyValue& kv : r.kvs) {
        api::Pod pod;
        if (!pod.ParseFromString(kv.value)) continue;
        if (!pod.metadata().has_deletion_timestamp() ||
            pod.metadata().deletion_grace_period_seconds() == 0) {
          continue;
        }
        absl::MutexLock l(&mu_);
        collect_at_[kv.key] = FromProtoTime(pod.metadata().deletion_timestamp());
      }
      if (!r.more) break;
      start = r.continue_key;
    }
    return absl::OkStatus();
  }

  // Finishes the graceful deletions due at `now`; returns how many pods went.
  int CollectDue(absl::Time now) {
    std::vector<std::string> due;
    {
      absl::MutexLock l(&mu_);
      for (const auto& [key, at] : collect_at_) {
        if (at <= now) due.push_back(key);
      }
      for (const std::string& key : due) collect_at_.erase(key);
    }
    const api::KindInfo* pods = scheme_.Find(api::Pod::descriptor());
    int deleted = 0;
    for (const std::string& key : due) {
      for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
        absl::StatusOr<store::KeyValue> kv = storage_.Get(key);
        if (!kv.ok()) break;
        absl::StatusOr<std::unique_ptr<Message>> decoded =
            internal::DecodeStored(*pods, key, kv->value, kv->mod_revision);
        if (!decoded.ok()) break;
        auto& pod = *google::protobuf::DynamicCastToGenerated<api::Pod>(decoded->get());
        const api::ObjectMeta& meta = pod.metadata();
        if (!meta.has_deletion_timestamp() || meta.deletion_grace_period_seconds() == 0) break;
        absl::Time at = FromProtoTime(meta.deletion_timestamp());
        if (at > now) {
          ScheduleCollection(key, at);
          break;
        }
        absl::Status s;
        if (!meta.finalizers().empty()) {
          // The grace period is over; the pod goes when its finalizers do.
          pod.mutable_metadata()->set_deletion_grace_period_seconds(0);
          pod.mutable_metadata()->clear_resource_version();
          s = storage_.Update(key, pod.SerializeAsString(), kv->mod_revision).status();
        } else {
          s = storage_.Delete(key, kv->mod_revision).status();
          if (s.ok()) ++deleted;
        }
        // Other errors leave the pod terminating; the next scan retries it.
        if (s.code() != absl::StatusCode::kAborted) break;
      }
    }
    return deleted;
  }

  void CollectorLoop() {
    absl::MutexLock l(&mu_);
    while (!stop_) {
      absl::Time now = clock_.Now();
      absl::Time next = absl::InfiniteFuture();
      for (const auto& [key, at] : collect_at_) next = std::min(next, at);
      if (next <= now) {
        mu_.Unlock();
        CollectDue(now);
        mu_.Lock();
        continue;
      }
      signal_ = false;
      clock_.AwaitWithDeadline(&mu_, &signal_, next);
    }
  }

  ApiServerOptions options_;
  const api::Scheme& scheme_;
  const std::shared_ptr<Clock> owned_clock_;
  Clock& clock_;
  store::Storage& storage_;
  std::unique_ptr<internal::ServiceAllocator> allocator_;
  std::shared_ptr<internal::StoreNodeGraph> node_graph_;
  std::shared_ptr<internal::StoreRbacRuleSource> rbac_source_;
  std::unique_ptr<AuthorizerChain> authorizer_;  // null: everything is allowed
  // Striped by namespace: creates whose admission writes lost a race.
  absl::Mutex contended_creates_[16];
  // By message type; set in Init(), then only read.
  absl::flat_hash_map<const google::protobuf::Descriptor*, std::unique_ptr<AdmissionCache>>
      admission_caches_;

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // Set to wake the collector (new deadline, or stop).
  bool signal_ ABSL_GUARDED_BY(mu_) = false;
  // Store keys of pods in graceful deletion, and when their grace ends.
  absl::flat_hash_map<std::string, absl::Time> collect_at_ ABSL_GUARDED_BY(mu_);
  std::thread collector_;
};

Clock& AttributesImpl::clock() const { return server_.clock(); }

absl::StatusOr<ObjectPtr> AttributesImpl::Get(const api::KindInfo& kind, absl::string_view ns,
                                              absl::string_view name) const {
  return server_.AdmissionGet(kind, ns, name);
}

absl::StatusOr<std::vector<ObjectPtr>> AttributesImpl::List(const api::KindInfo& kind,
                                                            absl::string_view ns) const {
  return server_.AdmissionList(kind, ns);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ApiServer>> ApiServer::Create(ApiServerOptions options) {
  if (options.storage == nullptr) {
    return absl::InvalidArgumentError("ApiServerOptions.storage is required");
  }
  KORCH_RETURN_IF_ERROR(options.admission.Check());
  auto server = std::make_unique<ApiServerImpl>(std::move(options));
  KORCH_RETURN_IF_ERROR(server->Init());
  return std::unique_ptr<ApiServer>(std::move(server));
}

UserInfo SystemUser() {
  UserInfo user;
  user.name = "system:apiserver";
  user.groups = {"system:masters"};
  return user;
}

}  // namespace korch::apiserver
