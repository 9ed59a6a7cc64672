// A Client that calls an ApiServer in the same process as a fixed user.

#include <memory>
#include <string>
#include <utility>

#include "korch/api/core.pb.h"
#include "korch/api/object.h"
#include "korch/apiserver/server.h"
#include "korch/client/client.h"

namespace korch::client {
namespace {

using google::protobuf::Message;

std::unique_ptr<Message> Clone(const Message& m) {
  std::unique_ptr<Message> c(m.New());
  c->CopyFrom(m);
  return c;
}

class InProcessClient final : public Client {
 public:
  InProcessClient(apiserver::ApiServer& server, apiserver::UserInfo user)
      : server_(server), user_(std::move(user)) {}

  const api::Scheme& scheme() const override { return server_.scheme(); }

  absl::StatusOr<std::shared_ptr<const Message>> Get(const api::KindInfo& kind,
                                                     absl::string_view ns, absl::string_view name,
                                                     const GetOptions& options) override {
    return server_.Get(user_, kind, ns, name, options);
  }

  absl::StatusOr<ListResult> List(const api::KindInfo& kind, absl::string_view ns,
                                  const ListOptions& options) override {
    return server_.List(user_, kind, ns, options);
  }

  absl::StatusOr<std::unique_ptr<WatchStream>> Watch(const api::KindInfo& kind,
                                                     absl::string_view ns,
                                                     const WatchOptions& options) override {
    return server_.Watch(user_, kind, ns, options);
  }

  absl::StatusOr<std::shared_ptr<const Message>> Create(const api::KindInfo& kind,
                                                        const Message& object,
                                                        const CreateOptions& options) override {
    const api::ObjectMeta* meta = api::ObjectMetaOf(object);
    std::string ns = meta != nullptr ? meta->namespace_() : std::string();
    std::string name;
    const api::KindInfo* target = &kind;
    if (options.subresource == "binding") {
      // The binding names its pod.
      if (meta != nullptr) name = meta->name();
      if (const api::KindInfo* pods = scheme().Find(api::Pod::descriptor())) target = pods;
    }
    return server_.Create(user_, *target, ns, name, Clone(object), options);
  }

  absl::StatusOr<std::shared_ptr<const Message>> Update(const api::KindInfo& kind,
                                                        const Message& object,
                                                        const UpdateOptions& options) override {
    const api::ObjectMeta* meta = api::ObjectMetaOf(object);
    std::string ns = meta != nullptr ? meta->namespace_() : std::string();
    std::string name = meta != nullptr ? meta->name() : std::string();
    return server_.Update(user_, kind, ns, name, Clone(object), options);
  }

  absl::StatusOr<std::shared_ptr<const Message>> Patch(const api::KindInfo& kind,
                                                       absl::string_view ns, absl::string_view name,
                                                       PatchType type, absl::string_view patch,
                                                       const PatchOptions& options) override {
    return server_.Patch(user_, kind, ns, name, type, patch, options);
  }

  absl::StatusOr<DeleteResult> Delete(const api::KindInfo& kind, absl::string_view ns,
                                      absl::string_view name,
                                      const DeleteOptions& options) override {
    return server_.Delete(user_, kind, ns, name, options);
  }

  absl::StatusOr<ListResult> DeleteCollection(const api::KindInfo& kind, absl::string_view ns,
                                              const ListOptions& selection,
                                              const DeleteOptions& options) override {
    return server_.DeleteCollection(user_, kind, ns, selection, options);
  }

 private:
  apiserver::ApiServer& server_;
  const apiserver::UserInfo user_;
};

}  // namespace

std::unique_ptr<Client> NewInProcessClient(apiserver::ApiServer& server, apiserver::UserInfo user) {
  return std::make_unique<InProcessClient>(server, std::move(user));
}

}  // namespace korch::client
