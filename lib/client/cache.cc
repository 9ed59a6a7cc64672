#include "korch/client/cache.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "korch/api/core.pb.h"
#include "korch/api/meta.pb.h"

namespace korch::client {
namespace {

// `m` as the generated type T without copying when it is one, a copy in
// `scratch` when it is a dynamic message of T's type, null otherwise.
template <typename T>
const T* As(const google::protobuf::Message& m, std::optional<T>& scratch) {
  if (m.GetDescriptor() != T::descriptor()) return nullptr;
  if (const T* t = google::protobuf::DynamicCastToGenerated<T>(&m)) return t;
  scratch.emplace();
  scratch->CopyFrom(m);
  return &*scratch;
}

// The ObjectMeta of `object` (in `scratch` if it must be copied), or null
// when the kind has none.
const api::ObjectMeta* Meta(const google::protobuf::Message& object,
                            std::optional<api::ObjectMeta>& scratch) {
  const google::protobuf::FieldDescriptor* f = object.GetDescriptor()->FindFieldByName("metadata");
  if (f == nullptr || f->is_repeated() || f->message_type() != api::ObjectMeta::descriptor()) {
    return nullptr;
  }
  return As<api::ObjectMeta>(object.GetReflection()->GetMessage(object, f), scratch);
}

absl::Status UnknownIndex(absl::string_view name) {
  return absl::NotFoundError(absl::StrCat("index \"", name, "\" does not exist"));
}

absl::StatusOr<std::string> CheckedKey(const ObjectPtr& object) {
  if (object == nullptr) return absl::InvalidArgumentError("object is null");
  return ObjectKey(*object);
}

}  // namespace

absl::StatusOr<std::string> ObjectKey(const google::protobuf::Message& object) {
  std::optional<api::ObjectMeta> scratch;
  const api::ObjectMeta* meta = Meta(object, scratch);
  if (meta == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        object.GetDescriptor()->full_name(), " has no metadata of type korch.api.ObjectMeta"));
  }
  if (meta->name().empty()) return absl::InvalidArgumentError("metadata.name: required");
  if (meta->namespace_().empty()) return meta->name();
  return absl::StrCat(meta->namespace_(), "/", meta->name());
}

IndexFunc NamespaceIndex() {
  return [](const google::protobuf::Message& object) -> std::vector<std::string> {
    std::optional<api::ObjectMeta> scratch;
    const api::ObjectMeta* meta = Meta(object, scratch);
    if (meta == nullptr) return {};
    return {meta->namespace_()};
  };
}

IndexFunc NodeNameIndex() {
  return [](const google::protobuf::Message& object) -> std::vector<std::string> {
    std::optional<api::Pod> scratch;
    const api::Pod* pod = As<api::Pod>(object, scratch);
    if (pod == nullptr || pod->spec().node_name().empty()) return {};
    return {pod->spec().node_name()};
  };
}

IndexFunc OwnerUidIndex() {
  return [](const google::protobuf::Message& object) -> std::vector<std::string> {
    std::optional<api::ObjectMeta> scratch;
    const api::ObjectMeta* meta = Meta(object, scratch);
    std::vector<std::string> uids;
    if (meta == nullptr) return uids;
    uids.reserve(meta->owner_references_size());
    for (const api::OwnerReference& ref : meta->owner_references()) {
      if (!ref.uid().empty()) uids.push_back(ref.uid());
    }
    return uids;
  };
}

IndexFunc LabelIndex(absl::string_view key) {
  return [key = std::string(key)](const google::protobuf::Message& object) {
    std::optional<api::ObjectMeta> scratch;
    const api::ObjectMeta* meta = Meta(object, scratch);
    std::vector<std::string> values;
    if (meta == nullptr) return values;
    auto it = meta->labels().find(key);
    if (it != meta->labels().end()) values.push_back(it->second);
    return values;
  };
}

Indexer::Indexer(Indexers indexers)
    : indexers_(std::make_shared<const Indexers>(std::move(indexers))) {
  for (const auto& [name, fn] : *indexers_) indices_[name];
}

absl::Status Indexer::AddIndexers(Indexers indexers) {
  absl::MutexLock l(&mu_);
  if (!items_.empty()) {
    return absl::FailedPreconditionError("cannot add indexers to an Indexer that holds objects");
  }
  for (const auto& [name, fn] : indexers) {
    if (indexers_->contains(name)) {
      return absl::AlreadyExistsError(absl::StrCat("index \"", name, "\" already exists"));
    }
  }
  auto merged = std::make_shared<Indexers>(*indexers_);
  for (auto& [name, fn] : indexers) {
    indices_[name];
    merged->emplace(name, std::move(fn));
  }
  indexers_ = std::move(merged);
  return absl::OkStatus();
}

void Indexer::IndexObject(const Indexers& indexers, const std::string& key,
                          const google::protobuf::Message& object, Indices& indices) {
  for (const auto& [name, fn] : indexers) {
    if (!fn) continue;
    Index& index = indices[name];
    for (std::string& value : fn(object)) index[std::move(value)].insert(key);
  }
}

void Indexer::UnindexObject(const Indexers& indexers, const std::string& key,
                            const google::protobuf::Message& object, Indices& indices) {
  for (const auto& [name, fn] : indexers) {
    if (!fn) continue;
    Index& index = indices[name];
    for (const std::string& value : fn(object)) {
      auto it = index.find(value);
      if (it == index.end()) continue;  // a repeated value, already removed
      it->second.erase(key);
      // Free emptied values so that churn over many values (node names,
      // owner uids) does not grow the index forever.
      if (it->second.empty()) index.erase(it);
    }
  }
}

Indexer::Indices Indexer::BuildIndices(const Indexers& indexers, const Items& items) {
  Indices indices;
  for (const auto& [name, fn] : indexers) indices[name];
  for (const auto& [key, object] : items) IndexObject(indexers, key, *object, indices);
  return indices;
}

absl::Status Indexer::Add(ObjectPtr object) {
  absl::StatusOr<std::string> key = CheckedKey(object);
  if (!key.ok()) return key.status();
  absl::MutexLock l(&mu_);
  auto [it, inserted] = items_.try_emplace(*std::move(key));
  if (!inserted) UnindexObject(*indexers_, it->first, *it->second, indices_);
  IndexObject(*indexers_, it->first, *object, indices_);
  it->second = std::move(object);
  return absl::OkStatus();
}

absl::Status Indexer::Update(ObjectPtr object) { return Add(std::move(object)); }

bool Indexer::Delete(absl::string_view key) {
  absl::MutexLock l(&mu_);
  auto it = items_.find(key);
  if (it == items_.end()) return false;
  UnindexObject(*indexers_, it->first, *it->second, indices_);
  items_.erase(it);
  return true;
}

ObjectPtr Indexer::Get(absl::string_view key) const {
  absl::ReaderMutexLock l(&mu_);
  auto it = items_.find(key);
  return it == items_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> Indexer::List() const {
  absl::ReaderMutexLock l(&mu_);
  std::vector<ObjectPtr> objects;
  objects.reserve(items_.size());
  for (const auto& [key, object] : items_) objects.push_back(object);
  return objects;
}

std::vector<std::string> Indexer::ListKeys() const {
  absl::ReaderMutexLock l(&mu_);
  std::vector<std::string> keys;
  keys.reserve(items_.size());
  for (const auto& [key, object] : items_) keys.push_back(key);
  return keys;
}

absl::StatusOr<std::vector<ObjectPtr>> Indexer::ByIndex(absl::string_view index_name,
                                                        absl::string_view value) const {
  absl::ReaderMutexLock l(&mu_);
  auto index = indices_.find(index_name);
  if (index == indices_.end()) return UnknownIndex(index_name);
  std::vector<ObjectPtr> objects;
  auto keys = index->second.find(value);
  if (keys == index->second.end()) return objects;
  objects.reserve(keys->second.size());
  for (const std::string& key : keys->second) objects.push_back(items_.at(key));
  return objects;
}

absl::StatusOr<std::vector<std::string>> Indexer::IndexKeys(absl::string_view index_name,
                                                            absl::string_view value) const {
  absl::ReaderMutexLock l(&mu_);
  auto index = indices_.find(index_name);
  if (index == indices_.end()) return UnknownIndex(index_name);
  auto keys = index->second.find(value);
  if (keys == index->second.end()) return std::vector<std::string>();
  return std::vector<std::string>(keys->second.begin(), keys->second.end());
}

absl::StatusOr<std::vector<std::string>> Indexer::ListIndexFuncValues(
    absl::string_view index_name) const {
  absl::ReaderMutexLock l(&mu_);
  auto index = indices_.find(index_name);
  if (index == indices_.end()) return UnknownIndex(index_name);
  std::vector<std::string> values;
  values.reserve(index->second.size());
  for (const auto& [value, keys] : index->second) values.push_back(value);
  return values;
}

std::vector<std::string> Indexer::IndexNames() const {
  absl::ReaderMutexLock l(&mu_);
  std::vector<std::string> names;
  names.reserve(indices_.size());
  for (const auto& [name, index] : indices_) names.push_back(name);
  return names;
}

absl::Status Indexer::Replace(std::vector<ObjectPtr> objects, absl::string_view resource_version) {
  Items items;
  items.reserve(objects.size());
  for (ObjectPtr& object : objects) {
    absl::StatusOr<std::string> key = CheckedKey(object);
    if (!key.ok()) return key.status();
    items.insert_or_assign(*std::move(key), std::move(object));
  }
  std::shared_ptr<const Indexers> indexers;
  {
    absl::ReaderMutexLock l(&mu_);
    indexers = indexers_;
  }
  Indices indices = BuildIndices(*indexers, items);
  Items old_items;
  Indices old_indices;
  {
    absl::MutexLock l(&mu_);
    // AddIndexers() ran meanwhile (only possible while empty): rebuild with
    // the new functions under the lock; rare.
    if (indexers_ != indexers) indices = BuildIndices(*indexers_, items);
    old_items.swap(items_);
    old_indices.swap(indices_);
    items_ = std::move(items);
    indices_ = std::move(indices);
    resource_version_ = std::string(resource_version);
  }
  // old_items and old_indices are freed here, outside the lock.
  return absl::OkStatus();
}

std::string Indexer::LastSyncResourceVersion() const {
  absl::ReaderMutexLock l(&mu_);
  return resource_version_;
}

size_t Indexer::Size() const {
  absl::ReaderMutexLock l(&mu_);
  return items_.size();
}

}  // namespace korch::client
