// A stand-in for the registry's side of admission in plugin unit tests: an
// in-memory set of stored objects (FakeCluster) and AdmissionAttributes over
// it that record the plugins' guarded writes and can commit them the way
// the registry would, resourceVersion guard included.

#ifndef KORCH_TESTS_APISERVER_ADMISSION_TEST_UTIL_H_
#define KORCH_TESTS_APISERVER_ADMISSION_TEST_UTIL_H_

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "korch/api/codec.h"
#include "korch/api/object.h"
#include "korch/api/scheme.h"
#include "korch/apiserver/admission.h"
#include "korch/base/clock.h"

namespace korch::apiserver::testing {

// Decodes a YAML manifest of one object into T; fails the test otherwise.
template <typename T>
T Yaml(absl::string_view text) {
  T out;
  absl::StatusOr<std::vector<nlohmann::json>> docs = api::ParseYaml(text, true);
  EXPECT_TRUE(docs.ok()) << docs.status();
  if (!docs.ok() || docs->size() != 1) {
    ADD_FAILURE() << "expected one YAML document";
    return out;
  }
  absl::Status s = api::DecodeJsonValue((*docs)[0], &out);
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

inline const api::KindInfo& KindOf(const google::protobuf::Descriptor* d) {
  return *api::Scheme::Builtin().Find(d);
}

// Stored objects by kind, namespace and name. Not thread-safe.
class FakeCluster {
 public:
  // Stores a copy with a fresh resourceVersion; returns it.
  ObjectPtr Put(const google::protobuf::Message& object) {
    std::shared_ptr<google::protobuf::Message> copy(object.New());
    copy->CopyFrom(object);
    api::ObjectMeta* meta = api::MutableObjectMetaOf(*copy);
    meta->set_resource_version(absl::StrCat(++revision_));
    objects_[Key(copy->GetDescriptor(), meta->namespace_(), meta->name())] = copy;
    return copy;
  }

  absl::StatusOr<ObjectPtr> Get(const api::KindInfo& kind, absl::string_view ns,
                                absl::string_view name) const {
    auto it = objects_.find(Key(kind.descriptor, ns, name));
    if (it == objects_.end()) {
      return absl::NotFoundError(
          absl::StrCat(kind.QualifiedResource(), " \"", name, "\" not found"));
    }
    return it->second;
  }

  template <typename T>
  std::shared_ptr<const T> GetAs(absl::string_view ns, absl::string_view name) const {
    absl::StatusOr<ObjectPtr> o = Get(KindOf(T::descriptor()), ns, name);
    if (!o.ok()) return nullptr;
    return std::shared_ptr<const T>(*o, static_cast<const T*>(o->get()));
  }

  std::vector<ObjectPtr> List(const api::KindInfo& kind, absl::string_view ns) const {
    std::vector<ObjectPtr> out;
    for (const auto& [key, object] : objects_) {
      if (std::get<0>(key) != kind.descriptor->full_name()) continue;
      if (!ns.empty() && std::get<1>(key) != ns) continue;
      out.push_back(object);
    }
    return out;
  }

  void Remove(const google::protobuf::Descriptor* d, absl::string_view ns, absl::string_view name) {
    objects_.erase(Key(d, ns, name));
  }

  // Writes `object` if its resourceVersion is still the stored one.
  absl::Status GuardedPut(const google::protobuf::Message& object) {
    const api::ObjectMeta* meta = api::ObjectMetaOf(object);
    auto it = objects_.find(Key(object.GetDescriptor(), meta->namespace_(), meta->name()));
    if (it == objects_.end() ||
        api::ObjectMetaOf(*it->second)->resource_version() != meta->resource_version()) {
      return absl::AbortedError(absl::StrCat("guard failed for ", meta->name()));
    }
    Put(object);
    return absl::OkStatus();
  }

 private:
  using KeyT = std::tuple<std::string, std::string, std::string>;
  static KeyT Key(const google::protobuf::Descriptor* d, absl::string_view ns,
                  absl::string_view name) {
    return {d->full_name(), std::string(ns), std::string(name)};
  }

  std::map<KeyT, ObjectPtr> objects_;
  int64_t revision_ = 100;
};

// One request. The kind, namespace and name come from the object (or the
// old object) unless set.
class FakeAttributes : public AdmissionAttributes {
 public:
  FakeAttributes(FakeCluster* cluster, AdmissionOperation op,
                 std::unique_ptr<google::protobuf::Message> object,
                 std::unique_ptr<google::protobuf::Message> old = nullptr)
      : cluster_(cluster), op_(op), object_(std::move(object)), old_(std::move(old)) {
    const google::protobuf::Message* any = object_ != nullptr ? object_.get() : old_.get();
    kind_ = &KindOf(any->GetDescriptor());
    const api::ObjectMeta* meta = api::ObjectMetaOf(*any);
    ns_ = meta->namespace_();
    name_ = meta->name();
    user_.name = "alice";
    user_.groups = {"system:authenticated"};
  }

  template <typename T>
  static FakeAttributes Create(FakeCluster* cluster, const T& object) {
    return FakeAttributes(cluster, AdmissionOperation::kCreate, std::make_unique<T>(object));
  }
  template <typename T>
  static FakeAttributes Update(FakeCluster* cluster, const T& object, const T& old) {
    return FakeAttributes(cluster, AdmissionOperation::kUpdate, std::make_unique<T>(object),
                          std::make_unique<T>(old));
  }
  template <typename T>
  static FakeAttributes Delete(FakeCluster* cluster, const T& old) {
    return FakeAttributes(cluster, AdmissionOperation::kDelete, nullptr, std::make_unique<T>(old));
  }

  FakeAttributes& WithSubresource(std::string s) {
    subresource_ = std::move(s);
    return *this;
  }
  FakeAttributes& WithUser(std::string name, std::vector<std::string> groups) {
    user_.name = std::move(name);
    user_.groups = std::move(groups);
    return *this;
  }
  FakeAttributes& WithKind(const api::KindInfo& kind) {
    kind_ = &kind;
    return *this;
  }
  FakeAttributes& WithName(std::string name) {
    name_ = std::move(name);
    return *this;
  }

  AdmissionOperation operation() const override { return op_; }
  const api::KindInfo& kind() const override { return *kind_; }
  absl::string_view namespace_() const override { return ns_; }
  absl::string_view name() const override { return name_; }
  absl::string_view subresource() const override { return subresource_; }
  google::protobuf::Message* object() override { return object_.get(); }
  const google::protobuf::Message* object() const override { return object_.get(); }
  const google::protobuf::Message* old_object() const override { return old_.get(); }
  const UserInfo& user() const override { return user_; }
  bool dry_run() const override { return false; }
  Clock& clock() const override { return clock_; }

  absl::StatusOr<ObjectPtr> Get(const api::KindInfo& kind, absl::string_view ns,
                                absl::string_view name) const override {
    ++reads_;
    return cluster_->Get(kind, ns, name);
  }
  absl::StatusOr<std::vector<ObjectPtr>> List(const api::KindInfo& kind,
                                              absl::string_view ns) const override {
    ++reads_;
    return cluster_->List(kind, ns);
  }
  absl::Status UpdateInSameTransaction(const api::KindInfo& kind,
                                       std::unique_ptr<google::protobuf::Message> object) override {
    EXPECT_EQ(kind.descriptor, object->GetDescriptor());
    updates_.push_back(std::move(object));
    return absl::OkStatus();
  }

  // What the plugins asked to write alongside the request.
  const std::vector<std::unique_ptr<google::protobuf::Message>>& updates() const {
    return updates_;
  }
  template <typename T>
  const T* UpdateAt(size_t i) const {
    return i < updates_.size() ? google::protobuf::DynamicCastToGenerated<T>(updates_[i].get())
                               : nullptr;
  }
  // Commits the recorded writes as the registry would: all or nothing,
  // each guarded by its resourceVersion (kAborted when one is stale).
  absl::Status Commit() {
    for (const auto& u : updates_) {
      const api::ObjectMeta* meta = api::ObjectMetaOf(*u);
      absl::StatusOr<ObjectPtr> stored =
          cluster_->Get(KindOf(u->GetDescriptor()), meta->namespace_(), meta->name());
      if (!stored.ok() ||
          api::ObjectMetaOf(**stored)->resource_version() != meta->resource_version()) {
        return absl::AbortedError("a guarded write is stale");
      }
    }
    for (const auto& u : updates_) {
      if (absl::Status s = cluster_->GuardedPut(*u); !s.ok()) return s;
    }
    updates_.clear();
    return absl::OkStatus();
  }
  int reads() const { return reads_; }

 private:
  FakeCluster* cluster_;
  AdmissionOperation op_;
  std::unique_ptr<google::protobuf::Message> object_;
  std::unique_ptr<google::protobuf::Message> old_;
  const api::KindInfo* kind_ = nullptr;
  std::string ns_;
  std::string name_;
  std::string subresource_;
  UserInfo user_;
  mutable FakeClock clock_;
  mutable int reads_ = 0;
  std::vector<std::unique_ptr<google::protobuf::Message>> updates_;
};

}  // namespace korch::apiserver::testing

#endif  // KORCH_TESTS_APISERVER_ADMISSION_TEST_UTIL_H_
