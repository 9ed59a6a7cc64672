// The Client interface: how every component (controllers, scheduler
// adapter, node agent, host programs) talks to the API server, like
// client-go's dynamic and typed clients. Components never reach the store or
// each other directly.
//
// Implementations: NewInProcessClient() calls an apiserver::ApiServer in the
// same process with a fixed user identity (authorization and admission
// apply exactly as over HTTP); NewHttpClient() (korch/client/http_client.h)
// talks to a remote API server over HTTP(S). Both are thread-safe.
//
// Objects are protobuf messages of the resource model; the typed helpers
// (Get<api::Pod>(...)) cast for you, and the *Json helpers take and return
// Kubernetes JSON.

#ifndef KORCH_CLIENT_CLIENT_H_
#define KORCH_CLIENT_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "korch/api/scheme.h"
#include "korch/apiserver/authn.h"
#include "korch/apiserver/request.h"
#include "korch/export.h"

namespace korch::apiserver {
class ApiServer;
}

namespace korch::client {

using apiserver::CreateOptions;
using apiserver::DeleteOptions;
using apiserver::DeleteResult;
using apiserver::EventType;
using apiserver::GetOptions;
using apiserver::ListOptions;
using apiserver::ListResult;
using apiserver::PatchOptions;
using apiserver::PatchType;
using apiserver::UpdateOptions;
using apiserver::WatchEvent;
using apiserver::WatchOptions;
using apiserver::WatchStream;

class KORCH_EXPORT Client {
 public:
  virtual ~Client() = default;

  // The kinds this client knows.
  virtual const api::Scheme& scheme() const = 0;

  // The verbs, with the semantics of apiserver::ApiServer (server.h). `ns`
  // is ignored for cluster-scoped kinds.
  virtual absl::StatusOr<std::shared_ptr<const google::protobuf::Message>> Get(
      const api::KindInfo& kind, absl::string_view ns, absl::string_view name,
      const GetOptions& options = {}) = 0;
  virtual absl::StatusOr<ListResult> List(const api::KindInfo& kind, absl::string_view ns,
                                          const ListOptions& options = {}) = 0;
  virtual absl::StatusOr<std::unique_ptr<WatchStream>> Watch(const api::KindInfo& kind,
                                                             absl::string_view ns,
                                                             const WatchOptions& options) = 0;
  // Creates `object` in its metadata.namespace (for pods/binding, `object`
  // is an api::Binding and options.subresource is "binding").
  virtual absl::StatusOr<std::shared_ptr<const google::protobuf::Message>> Create(
      const api::KindInfo& kind, const google::protobuf::Message& object,
      const CreateOptions& options = {}) = 0;
  virtual absl::StatusOr<std::shared_ptr<const google::protobuf::Message>> Update(
      const api::KindInfo& kind, const google::protobuf::Message& object,
      const UpdateOptions& options = {}) = 0;
  virtual absl::StatusOr<std::shared_ptr<const google::protobuf::Message>> Patch(
      const api::KindInfo& kind, absl::string_view ns, absl::string_view name, PatchType type,
      absl::string_view patch, const PatchOptions& options = {}) = 0;
  virtual absl::StatusOr<DeleteResult> Delete(const api::KindInfo& kind, absl::string_view ns,
                                              absl::string_view name,
                                              const DeleteOptions& options = {}) = 0;
  virtual absl::StatusOr<ListResult> DeleteCollection(const api::KindInfo& kind,
                                                      absl::string_view ns,
                                                      const ListOptions& selection,
                                                      const DeleteOptions& options = {}) = 0;

  // --- Typed helpers -------------------------------------------------------
  // The KindInfo of message type T (which must be a kind of scheme()).
  template <typename T>
  const api::KindInfo& KindOf() const {
    return *scheme().Find(T::descriptor());
  }
  template <typename T>
  absl::StatusOr<std::shared_ptr<const T>> Get(absl::string_view ns, absl::string_view name,
                                               const GetOptions& options = {}) {
    auto got = Get(KindOf<T>(), ns, name, options);
    if (!got.ok()) return got.status();
    return std::static_pointer_cast<const T>(*std::move(got));
  }
  template <typename T>
  absl::StatusOr<std::shared_ptr<const T>> Create(const T& object,
                                                  const CreateOptions& options = {}) {
    auto got = Create(KindOf<T>(), object, options);
    if (!got.ok()) return got.status();
    return std::static_pointer_cast<const T>(*std::move(got));
  }
  template <typename T>
  absl::StatusOr<std::shared_ptr<const T>> Update(const T& object,
                                                  const UpdateOptions& options = {}) {
    auto got = Update(KindOf<T>(), object, options);
    if (!got.ok()) return got.status();
    return std::static_pointer_cast<const T>(*std::move(got));
  }

  // --- JSON helpers ----------------------------------------------------------
  // Decode `json` (strictly: unknown fields are an error), call the verb,
  // and encode the answer with kind and apiVersion.
  absl::StatusOr<std::string> CreateJson(absl::string_view json, const CreateOptions& options = {});
  absl::StatusOr<std::string> UpdateJson(absl::string_view json, const UpdateOptions& options = {});
  absl::StatusOr<std::string> GetJson(const api::KindInfo& kind, absl::string_view ns,
                                      absl::string_view name);
};

// A Client that calls `server` directly as `user`. `server` must outlive the
// client.
KORCH_EXPORT std::unique_ptr<Client> NewInProcessClient(apiserver::ApiServer& server,
                                                        apiserver::UserInfo user);

}  // namespace korch::client

#endif  // KORCH_CLIENT_CLIENT_H_
