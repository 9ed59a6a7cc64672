// A fixture for the registry tests: an ApiServer over an in-memory store
// with a FakeClock, plus small builders of objects.

#ifndef KORCH_TESTS_APISERVER_SERVER_TEST_UTIL_H_
#define KORCH_TESTS_APISERVER_SERVER_TEST_UTIL_H_

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/apps.pb.h"
#include "korch/api/codec.h"
#include "korch/api/core.pb.h"
#include "korch/api/object.h"
#include "korch/api/scheme.h"
#include "korch/apiserver/request.h"
#include "korch/apiserver/server.h"
#include "korch/base/clock.h"
#include "korch/store.h"

namespace korch::apiserver::testing {

template <typename T>
const api::KindInfo& KindOf() {
  return *api::Scheme::Builtin().Find(T::descriptor());
}

template <typename T>
T Decode(absl::string_view json) {
  absl::StatusOr<T> out = api::DecodeJsonAs<T>(json);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *std::move(out) : T();
}

inline api::Pod MakePod(absl::string_view ns, absl::string_view name,
                        absl::string_view labels_json = "{}") {
  return Decode<api::Pod>(
      absl::StrCat(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")", name,
                   R"(","namespace":")", ns, R"(","labels":)", labels_json,
                   R"(},"spec":{"containers":[{"name":"c","image":"nginx:1.25"}]}})"));
}

inline api::Deployment MakeDeployment(absl::string_view ns, absl::string_view name,
                                      int replicas = 2) {
  return Decode<api::Deployment>(
      absl::StrCat(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":")", name,
                   R"(","namespace":")", ns, R"("},"spec":{"replicas":)", replicas,
                   R"(,"selector":{"matchLabels":{"app":")", name,
                   R"("}},"template":{"metadata":{"labels":{"app":")", name,
                   R"("}},"spec":{"containers":[{"name":"c","image":"nginx:1.25"}]}}}})"));
}

inline api::ConfigMap MakeConfigMap(absl::string_view ns, absl::string_view name) {
  api::ConfigMap cm;
  cm.mutable_metadata()->set_name(std::string(name));
  cm.mutable_metadata()->set_namespace_(std::string(ns));
  (*cm.mutable_data())["k"] = "v";
  return cm;
}

template <typename T>
std::unique_ptr<google::protobuf::Message> Own(const T& object) {
  return std::make_unique<T>(object);
}

template <typename T>
const T& As(const ObjectPtr& object) {
  return *google::protobuf::DynamicCastToGenerated<T>(object.get());
}

inline const api::ObjectMeta& Meta(const ObjectPtr& object) { return *api::ObjectMetaOf(*object); }

class ServerTest : public ::testing::Test {
 protected:
  // Lets a test adjust the options before the server is created.
  virtual void Customize(ApiServerOptions& options) {}

  void SetUp() override {
    absl::StatusOr<std::unique_ptr<store::Storage>> storage = store::OpenMemoryStorage();
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
    StartServer();
  }

  void StartServer() {
    ApiServerOptions options;
    options.storage = storage_.get();
    options.clock = &clock_;
    Customize(options);
    absl::StatusOr<std::unique_ptr<ApiServer>> server = ApiServer::Create(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  void TearDown() override {
    server_.reset();
    storage_.reset();
  }

  template <typename T>
  absl::StatusOr<std::shared_ptr<const T>> Create(const T& object,
                                                  const CreateOptions& options = {}) {
    const api::ObjectMeta* meta = api::ObjectMetaOf(object);
    absl::StatusOr<ObjectPtr> r =
        server_->Create(user_, KindOf<T>(), meta->namespace_(), "", Own(object), options);
    if (!r.ok()) return r.status();
    return std::static_pointer_cast<const T>(*std::move(r));
  }

  template <typename T>
  absl::StatusOr<std::shared_ptr<const T>> Update(const T& object,
                                                  const UpdateOptions& options = {}) {
    const api::ObjectMeta* meta = api::ObjectMetaOf(object);
    absl::StatusOr<ObjectPtr> r =
        server_->Update(user_, KindOf<T>(), meta->namespace_(), meta->name(), Own(object), options);
    if (!r.ok()) return r.status();
    return std::static_pointer_cast<const T>(*std::move(r));
  }

  template <typename T>
  absl::StatusOr<std::shared_ptr<const T>> Get(absl::string_view ns, absl::string_view name) {
    absl::StatusOr<ObjectPtr> r = server_->Get(user_, KindOf<T>(), ns, name, {});
    if (!r.ok()) return r.status();
    return std::static_pointer_cast<const T>(*std::move(r));
  }

  template <typename T>
  absl::StatusOr<std::shared_ptr<const T>> Patch(absl::string_view ns, absl::string_view name,
                                                 PatchType type, absl::string_view patch,
                                                 const PatchOptions& options = {}) {
    absl::StatusOr<ObjectPtr> r =
        server_->Patch(user_, KindOf<T>(), ns, name, type, patch, options);
    if (!r.ok()) return r.status();
    return std::static_pointer_cast<const T>(*std::move(r));
  }

  template <typename T>
  absl::StatusOr<DeleteResult> Delete(absl::string_view ns, absl::string_view name,
                                      const DeleteOptions& options = {}) {
    return server_->Delete(user_, KindOf<T>(), ns, name, options);
  }

  template <typename T>
  absl::StatusOr<ListResult> List(absl::string_view ns, const ListOptions& options = {}) {
    return server_->List(user_, KindOf<T>(), ns, options);
  }

  // Names of the items of a list, in order.
  static std::vector<std::string> Names(const ListResult& list) {
    std::vector<std::string> out;
    for (const ObjectPtr& item : list.items) out.push_back(Meta(item).name());
    return out;
  }

  FakeClock clock_;
  std::unique_ptr<store::Storage> storage_;
  std::unique_ptr<ApiServer> server_;
  UserInfo user_ = SystemUser();
};

}  // namespace korch::apiserver::testing

#endif  // KORCH_TESTS_APISERVER_SERVER_TEST_UTIL_H_
