#include "apiserver/rbac_cache.h"

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "apiserver/storage_layout.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "korch/api/core.pb.h"
#include "korch/api/object.h"
#include "korch/api/rbac.pb.h"
#include "korch/api/scheme.h"
#include "korch/api/validation.h"
#include "korch/apiserver/authz.h"
#include "korch/base/clock.h"
#include "korch/store.h"

namespace korch::apiserver::internal {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAreArray;
using Decision = AuthzResult::Decision;

constexpr absl::Duration kWait = absl::Seconds(10);
const api::Scheme& Scheme() { return api::Scheme::Builtin(); }

// ---------------------------------------------------------------------------
// A storage whose watchers can be held back

// Forwards everything to a real storage, counting lists and watches. While
// paused, its watchers hand out nothing (as a consumer that stopped reading
// would), so that the real watcher behind them falls behind.
class PausableStorage final : public store::Storage {
 public:
  explicit PausableStorage(std::unique_ptr<store::Storage> inner) : inner_(std::move(inner)) {}

  absl::StatusOr<store::KeyValue> Get(absl::string_view key) override { return inner_->Get(key); }
  absl::StatusOr<store::RangeResult> Range(absl::string_view start, absl::string_view end,
                                           const store::RangeOptions& options) override {
    absl::MutexLock l(&mu_);
    ++ranges_;
    return inner_->Range(start, end, options);
  }
  absl::StatusOr<int64_t> Create(absl::string_view key, absl::string_view value) override {
    return inner_->Create(key, value);
  }
  absl::StatusOr<int64_t> Update(absl::string_view key, absl::string_view value,
                                 int64_t expected) override {
    return inner_->Update(key, value, expected);
  }
  absl::StatusOr<store::KeyValue> Delete(absl::string_view key, int64_t expected) override {
    return inner_->Delete(key, expected);
  }
  absl::StatusOr<store::TxnResult> Txn(const std::vector<store::Compare>& guards,
                                       const std::vector<store::Op>& ops) override {
    return inner_->Txn(guards, ops);
  }
  absl::StatusOr<std::unique_ptr<store::Watcher>> Watch(
      absl::string_view start, absl::string_view end, const store::WatchOptions& options) override;
  absl::Status Compact(int64_t revision) override { return inner_->Compact(revision); }
  absl::StatusOr<int64_t> CurrentRevision() override { return inner_->CurrentRevision(); }
  store::StorageStats Stats() override { return inner_->Stats(); }

  // Holds watchers back; returns once one is parked, so that no change
  // written afterwards reaches the consumer until Resume().
  bool Pause() {
    absl::MutexLock l(&mu_);
    paused_ = true;
    auto parked = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return parked_ > 0; };
    return mu_.AwaitWithTimeout(absl::Condition(&parked), kWait);
  }
  void Resume() {
    absl::MutexLock l(&mu_);
    paused_ = false;
  }
  int ranges() const {
    absl::MutexLock l(&mu_);
    return ranges_;
  }
  int watches() const {
    absl::MutexLock l(&mu_);
    return watches_;
  }

 private:
  class PausableWatcher;

  std::unique_ptr<store::Storage> inner_;
  mutable absl::Mutex mu_;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  int parked_ ABSL_GUARDED_BY(mu_) = 0;
  int ranges_ ABSL_GUARDED_BY(mu_) = 0;
  int watches_ ABSL_GUARDED_BY(mu_) = 0;
};

class PausableStorage::PausableWatcher final : public store::Watcher {
 public:
  PausableWatcher(PausableStorage* storage, std::unique_ptr<store::Watcher> inner, int64_t revision)
      : storage_(storage), inner_(std::move(inner)), revision_(revision) {}

  absl::StatusOr<store::WatchBatch> Next(absl::Duration timeout) override {
    {
      absl::MutexLock l(&storage_->mu_);
      if (storage_->paused_) {
        ++storage_->parked_;
        auto go = [this]()
                      ABSL_NO_THREAD_SAFETY_ANALYSIS { return !storage_->paused_ || cancelled_; };
        storage_->mu_.AwaitWithTimeout(absl::Condition(&go), timeout);
        --storage_->parked_;
        if (storage_->paused_ && !cancelled_) {
          store::WatchBatch empty;
          empty.revision = revision_;
          return empty;
        }
      }
    }
    absl::StatusOr<store::WatchBatch> batch = inner_->Next(timeout);
    if (batch.ok()) revision_ = std::max(revision_, batch->revision);
    return batch;
  }

  void Cancel() override {
    {
      absl::MutexLock l(&storage_->mu_);
      cancelled_ = true;
    }
    inner_->Cancel();
  }

 private:
  PausableStorage* const storage_;
  const std::unique_ptr<store::Watcher> inner_;
  int64_t revision_;        // what the consumer has been told
  bool cancelled_ = false;  // guarded by storage_->mu_
};

absl::StatusOr<std::unique_ptr<store::Watcher>> PausableStorage::Watch(
    absl::string_view start, absl::string_view end, const store::WatchOptions& options) {
  {
    absl::MutexLock l(&mu_);
    ++watches_;
  }
  absl::StatusOr<std::unique_ptr<store::Watcher>> inner = inner_->Watch(start, end, options);
  if (!inner.ok()) return inner.status();
  return std::make_unique<PausableWatcher>(this, *std::move(inner), options.start_revision);
}

// ---------------------------------------------------------------------------
// Objects and writes

const api::KindInfo& KindOf(const google::protobuf::Message& m) {
  return *Scheme().Find(m.GetDescriptor());
}

std::string KeyOf(const google::protobuf::Message& m) {
  const api::ObjectMeta& meta = *api::ObjectMetaOf(m);
  return ObjectKey(KindOf(m), meta.namespace_(), meta.name());
}

// Creates or replaces `m` the way the registry stores it; returns the
// revision of the write.
int64_t Put(store::Storage& storage, const google::protobuf::Message& m) {
  const std::string key = KeyOf(m);
  absl::StatusOr<int64_t> rev = storage.Create(key, EncodeStored(m));
  if (absl::IsAlreadyExists(rev.status())) rev = storage.Update(key, EncodeStored(m), 0);
  EXPECT_TRUE(rev.ok()) << key << ": " << rev.status();
  return rev.value_or(0);
}

int64_t Remove(store::Storage& storage, const google::protobuf::Message& m) {
  absl::StatusOr<store::KeyValue> kv = storage.Delete(KeyOf(m), 0);
  EXPECT_TRUE(kv.ok()) << KeyOf(m) << ": " << kv.status();
  return kv.ok() ? kv->mod_revision : 0;
}

api::PolicyRule Rule(std::vector<std::string> verbs, std::vector<std::string> groups,
                     std::vector<std::string> resources) {
  api::PolicyRule r;
  for (auto& v : verbs) r.add_verbs(v);
  for (auto& g : groups) r.add_api_groups(g);
  for (auto& res : resources) r.add_resources(res);
  return r;
}

api::Role MakeRole(std::string ns, std::string name, std::vector<api::PolicyRule> rules) {
  api::Role role;
  role.mutable_metadata()->set_namespace_(ns);
  role.mutable_metadata()->set_name(name);
  for (auto& r : rules) *role.add_rules() = r;
  return role;
}

api::ClusterRole MakeClusterRole(std::string name, std::vector<api::PolicyRule> rules) {
  api::ClusterRole role;
  role.mutable_metadata()->set_name(name);
  for (auto& r : rules) *role.add_rules() = r;
  return role;
}

api::Subject User(std::string name) {
  api::Subject s;
  s.set_kind("User");
  s.set_api_group("rbac.authorization.k8s.io");
  s.set_name(name);
  return s;
}

api::RoleBinding MakeRoleBinding(std::string ns, std::string name, std::string role_kind,
                                 std::string role, std::vector<api::Subject> subjects) {
  api::RoleBinding b;
  b.mutable_metadata()->set_namespace_(ns);
  b.mutable_metadata()->set_name(name);
  b.mutable_role_ref()->set_api_group("rbac.authorization.k8s.io");
  b.mutable_role_ref()->set_kind(role_kind);
  b.mutable_role_ref()->set_name(role);
  for (auto& s : subjects) *b.add_subjects() = s;
  return b;
}

api::ClusterRoleBinding MakeClusterRoleBinding(std::string name, std::string role,
                                               std::vector<api::Subject> subjects) {
  api::ClusterRoleBinding b;
  b.mutable_metadata()->set_name(name);
  b.mutable_role_ref()->set_api_group("rbac.authorization.k8s.io");
  b.mutable_role_ref()->set_kind("ClusterRole");
  b.mutable_role_ref()->set_name(role);
  for (auto& s : subjects) *b.add_subjects() = s;
  return b;
}

api::Pod MakePod(std::string ns, std::string name, std::string node = "") {
  api::Pod pod;
  pod.mutable_metadata()->set_namespace_(ns);
  pod.mutable_metadata()->set_name(name);
  if (!node.empty()) pod.mutable_spec()->set_node_name(node);
  pod.mutable_spec()->add_containers()->set_name("c");
  return pod;
}

Attributes Request(std::string user, std::vector<std::string> groups, std::string verb,
                   std::string group, std::string resource, std::string ns = "",
                   std::string name = "") {
  Attributes a;
  a.user.name = std::move(user);
  a.user.groups = std::move(groups);
  a.verb = std::move(verb);
  a.api_group = std::move(group);
  size_t slash = resource.find('/');
  if (slash != std::string::npos) {
    a.subresource = resource.substr(slash + 1);
    resource.resize(slash);
  }
  a.resource = std::move(resource);
  a.namespace_ = std::move(ns);
  a.name = std::move(name);
  return a;
}

Attributes PathRequest(std::string user, std::vector<std::string> groups, std::string verb,
                       std::string path) {
  Attributes a;
  a.user.name = std::move(user);
  a.user.groups = std::move(groups);
  a.verb = std::move(verb);
  a.resource_request = false;
  a.path = std::move(path);
  return a;
}

std::unique_ptr<store::Storage> MemoryStorage(store::RocksDbStorageOptions options = {}) {
  absl::StatusOr<std::unique_ptr<store::Storage>> s = store::OpenMemoryStorage(std::move(options));
  EXPECT_TRUE(s.ok()) << s.status();
  return *std::move(s);
}

std::shared_ptr<StoreRbacRuleSource> StartRbac(store::Storage& storage) {
  absl::StatusOr<std::shared_ptr<StoreRbacRuleSource>> source =
      StoreRbacRuleSource::Start(&storage, Scheme());
  EXPECT_TRUE(source.ok()) << source.status();
  return source.value_or(nullptr);
}

std::shared_ptr<StoreNodeGraph> StartGraph(store::Storage& storage) {
  absl::StatusOr<std::shared_ptr<StoreNodeGraph>> graph = StoreNodeGraph::Start(&storage, Scheme());
  EXPECT_TRUE(graph.ok()) << graph.status();
  return graph.value_or(nullptr);
}

std::unique_ptr<RbacAuthorizer> Rbac(std::shared_ptr<const RbacRuleSource> source) {
  return *RbacAuthorizer::Create(std::move(source));
}

template <typename T>
std::vector<std::string> Names(const std::vector<std::shared_ptr<const T>>& objects) {
  std::vector<std::string> names;
  for (const auto& o : objects) names.push_back(o->metadata().name());
  return names;
}

// Decodes every object of `kind` in the store.
template <typename T>
std::vector<T> StoredObjects(store::Storage& storage) {
  const api::KindInfo& kind = *Scheme().Find(T::descriptor());
  const std::string prefix = ResourcePrefix(kind);
  absl::StatusOr<store::RangeResult> range = storage.Range(prefix, store::PrefixEnd(prefix));
  EXPECT_TRUE(range.ok()) << range.status();
  std::vector<T> out;
  if (!range.ok()) return out;
  for (const store::KeyValue& kv : range->kvs) {
    auto decoded = DecodeStored(kind, kv.key, kv.value, kv.mod_revision);
    EXPECT_TRUE(decoded.ok()) << decoded.status();
    if (decoded.ok()) out.push_back(static_cast<const T&>(**decoded));
  }
  return out;
}

// Whether the source holds exactly what the store holds.
void ExpectCacheEqualsStore(store::Storage& storage, const StoreRbacRuleSource& source) {
  std::set<std::string> namespaces;
  std::vector<api::Role> roles = StoredObjects<api::Role>(storage);
  for (const api::Role& role : roles) {
    namespaces.insert(role.metadata().namespace_());
    auto cached = source.GetRole(role.metadata().namespace_(), role.metadata().name());
    ASSERT_NE(cached, nullptr) << role.metadata().name();
    EXPECT_TRUE(MessageDifferencer::Equals(*cached, role)) << cached->DebugString();
  }
  std::vector<api::ClusterRole> cluster_roles = StoredObjects<api::ClusterRole>(storage);
  ASSERT_EQ(source.ListClusterRoles().size(), cluster_roles.size());
  for (const api::ClusterRole& role : cluster_roles) {
    auto cached = source.GetClusterRole(role.metadata().name());
    ASSERT_NE(cached, nullptr) << role.metadata().name();
    EXPECT_TRUE(MessageDifferencer::Equals(*cached, role)) << cached->DebugString();
  }
  std::map<std::string, std::vector<api::RoleBinding>> bindings_by_ns;
  for (api::RoleBinding& b : StoredObjects<api::RoleBinding>(storage)) {
    namespaces.insert(b.metadata().namespace_());
    bindings_by_ns[b.metadata().namespace_()].push_back(std::move(b));
  }
  for (const std::string& ns : namespaces) {
    auto cached = source.RoleBindings(ns);
    const auto& stored = bindings_by_ns[ns];
    ASSERT_EQ(cached.size(), stored.size()) << ns;
    for (size_t i = 0; i < stored.size(); ++i) {
      EXPECT_TRUE(MessageDifferencer::Equals(*cached[i], stored[i])) << cached[i]->DebugString();
    }
  }
  std::vector<api::ClusterRoleBinding> crbs = StoredObjects<api::ClusterRoleBinding>(storage);
  auto cached_crbs = source.ClusterRoleBindings();
  ASSERT_EQ(cached_crbs.size(), crbs.size());
  for (size_t i = 0; i < crbs.size(); ++i) {
    EXPECT_TRUE(MessageDifferencer::Equals(*cached_crbs[i], crbs[i]));
  }
}

int64_t Current(store::Storage& storage) { return *storage.CurrentRevision(); }

// ---------------------------------------------------------------------------
// StoreRbacRuleSource

TEST(StoreRbacRuleSourceTest, StartListsWhatIsStored) {
  auto storage = MemoryStorage();
  Put(*storage, MakeRole("ns1", "reader", {Rule({"get"}, {""}, {"pods"})}));
  Put(*storage, MakeRole("ns2", "reader", {Rule({"list"}, {""}, {"pods"})}));
  Put(*storage, MakeClusterRole("b-role", {Rule({"get"}, {""}, {"nodes"})}));
  Put(*storage, MakeClusterRole("a-role", {Rule({"get"}, {""}, {"nodes"})}));
  Put(*storage, MakeRoleBinding("ns1", "zed", "Role", "reader", {User("alice")}));
  Put(*storage, MakeRoleBinding("ns1", "abe", "Role", "reader", {User("bob")}));
  Put(*storage, MakeRoleBinding("ns2", "one", "Role", "reader", {User("carol")}));
  const int64_t last = Put(*storage, MakeClusterRoleBinding("crb", "a-role", {User("dave")}));
  // Something that is not RBAC, between the RBAC prefixes.
  Put(*storage, MakePod("ns1", "web"));

  auto source = StartRbac(*storage);
  ASSERT_NE(source, nullptr);
  EXPECT_GE(source->Revision(), last);

  auto role = source->GetRole("ns2", "reader");
  ASSERT_NE(role, nullptr);
  EXPECT_EQ(role->rules(0).verbs(0), "list");
  EXPECT_FALSE(role->metadata().resource_version().empty());
  EXPECT_EQ(source->GetRole("ns3", "reader"), nullptr);
  EXPECT_EQ(source->GetRole("ns1", "writer"), nullptr);

  ASSERT_NE(source->GetClusterRole("a-role"), nullptr);
  EXPECT_EQ(source->GetClusterRole("missing"), nullptr);
  EXPECT_THAT(Names(source->ListClusterRoles()), ElementsAre("a-role", "b-role"));
  EXPECT_THAT(Names(source->RoleBindings("ns1")), ElementsAre("abe", "zed"));
  EXPECT_THAT(Names(source->RoleBindings("ns2")), ElementsAre("one"));
  EXPECT_THAT(source->RoleBindings("ns3"), IsEmpty());
  EXPECT_THAT(Names(source->ClusterRoleBindings()), ElementsAre("crb"));
  auto crb = source->ClusterRoleBindings()[0];
  EXPECT_EQ(crb->metadata().resource_version(), absl::StrCat(last));
  ExpectCacheEqualsStore(*storage, *source);
}

TEST(StoreRbacRuleSourceTest, AuthorizationFollowsGrantsAndRevocations) {
  auto storage = MemoryStorage();
  auto source = StartRbac(*storage);
  ASSERT_NE(source, nullptr);
  auto rbac = Rbac(source);
  const Attributes get_pod = Request("alice", {}, "get", "", "pods", "ns1", "web");
  EXPECT_EQ(rbac->Authorize(get_pod).decision, Decision::kNoOpinion);

  api::Role role = MakeRole("ns1", "reader", {Rule({"get"}, {""}, {"pods"})});
  Put(*storage, role);
  api::RoleBinding binding =
      MakeRoleBinding("ns1", "alice-reads", "Role", "reader", {User("alice")});
  ASSERT_TRUE(source->WaitForRevision(Put(*storage, binding), kWait));
  EXPECT_EQ(rbac->Authorize(get_pod).decision, Decision::kAllow);
  EXPECT_EQ(rbac->Authorize(Request("alice", {}, "get", "", "pods", "ns2", "web")).decision,
            Decision::kNoOpinion);

  // The role loses the verb.
  *role.mutable_rules(0) = Rule({"list"}, {""}, {"pods"});
  ASSERT_TRUE(source->WaitForRevision(Put(*storage, role), kWait));
  EXPECT_EQ(rbac->Authorize(get_pod).decision, Decision::kNoOpinion);

  // Back again, then the binding goes.
  *role.mutable_rules(0) = Rule({"get"}, {""}, {"pods"});
  ASSERT_TRUE(source->WaitForRevision(Put(*storage, role), kWait));
  EXPECT_EQ(rbac->Authorize(get_pod).decision, Decision::kAllow);
  ASSERT_TRUE(source->WaitForRevision(Remove(*storage, binding), kWait));
  EXPECT_EQ(rbac->Authorize(get_pod).decision, Decision::kNoOpinion);
  EXPECT_THAT(source->RoleBindings("ns1"), IsEmpty());

  // A ClusterRoleBinding grants everywhere until it is deleted.
  Put(*storage, MakeClusterRole("pod-reader", {Rule({"get"}, {""}, {"pods"})}));
  api::ClusterRoleBinding crb =
      MakeClusterRoleBinding("alice-everywhere", "pod-reader", {User("alice")});
  ASSERT_TRUE(source->WaitForRevision(Put(*storage, crb), kWait));
  EXPECT_EQ(rbac->Authorize(Request("alice", {}, "get", "", "pods", "ns9", "x")).decision,
            Decision::kAllow);
  ASSERT_TRUE(source->WaitForRevision(Remove(*storage, crb), kWait));
  EXPECT_EQ(rbac->Authorize(Request("alice", {}, "get", "", "pods", "ns9", "x")).decision,
            Decision::kNoOpinion);
  ExpectCacheEqualsStore(*storage, *source);
}

TEST(StoreRbacRuleSourceTest, ObjectsHandedOutStayValidAfterChanges) {
  auto storage = MemoryStorage();
  Put(*storage, MakeClusterRole("r", {Rule({"get"}, {""}, {"pods"})}));
  auto source = StartRbac(*storage);
  ASSERT_NE(source, nullptr);
  std::shared_ptr<const api::ClusterRole> held = source->GetClusterRole("r");
  ASSERT_NE(held, nullptr);
  ASSERT_TRUE(source->WaitForRevision(
      Put(*storage, MakeClusterRole("r", {Rule({"delete"}, {""}, {"pods"})})), kWait));
  EXPECT_EQ(held->rules(0).verbs(0), "get");
  EXPECT_EQ(source->GetClusterRole("r")->rules(0).verbs(0), "delete");
}

TEST(StoreRbacRuleSourceTest, RevisionFollowsWritesToOtherResources) {
  auto storage = MemoryStorage();
  auto source = StartRbac(*storage);
  ASSERT_NE(source, nullptr);
  // Pods and configmaps sort between clusterroles and roles; services after.
  EXPECT_TRUE(source->WaitForRevision(Put(*storage, MakePod("ns1", "web")), kWait));
  api::Service service;
  service.mutable_metadata()->set_namespace_("ns1");
  service.mutable_metadata()->set_name("svc");
  EXPECT_TRUE(source->WaitForRevision(Put(*storage, service), kWait));
  EXPECT_THAT(source->ListClusterRoles(), IsEmpty());
  EXPECT_FALSE(source->WaitForRevision(Current(*storage) + 1, absl::Milliseconds(1)));
}

TEST(StoreRbacRuleSourceTest, UnreadableObjectIsDropped) {
  auto storage = MemoryStorage();
  api::ClusterRoleBinding crb = MakeClusterRoleBinding("crb", "r", {User("alice")});
  Put(*storage, crb);
  auto source = StartRbac(*storage);
  ASSERT_NE(source, nullptr);
  ASSERT_EQ(source->ClusterRoleBindings().size(), 1u);
  // A length-delimited field whose length runs past the end: not protobuf.
  absl::StatusOr<int64_t> rev = storage->Update(KeyOf(crb), std::string("\x0a\x7f", 2), 0);
  ASSERT_TRUE(rev.ok()) << rev.status();
  ASSERT_TRUE(source->WaitForRevision(*rev, kWait));
  EXPECT_THAT(source->ClusterRoleBindings(), IsEmpty());
  ASSERT_TRUE(source->WaitForRevision(Put(*storage, crb), kWait));
  EXPECT_THAT(Names(source->ClusterRoleBindings()), ElementsAre("crb"));
}

TEST(StoreRbacRuleSourceTest, StartFailsWhenTheSchemeLacksRbac) {
  auto storage = MemoryStorage();
  api::Scheme core_only({api::Pod::descriptor()->file()});
  absl::StatusOr<std::shared_ptr<StoreRbacRuleSource>> source =
      StoreRbacRuleSource::Start(storage.get(), core_only);
  EXPECT_EQ(source.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StoreRbacRuleSource::Start(nullptr, Scheme()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Writes a mix of changes to the RBAC objects: creates, updates, deletes.
void Churn(store::Storage& storage, int round) {
  for (int i = 0; i < 3; ++i) {
    Put(storage,
        MakeRole("ns1", absl::StrCat("role-", round, "-", i), {Rule({"get"}, {""}, {"pods"})}));
    Put(storage, MakeRoleBinding(absl::StrCat("ns", i), absl::StrCat("rb-", round), "Role", "role",
                                 {User(absl::StrCat("u", round))}));
  }
  Put(storage, MakeClusterRole(absl::StrCat("cr-", round), {Rule({"get"}, {""}, {"nodes"})}));
  Put(storage, MakeClusterRoleBinding(absl::StrCat("crb-", round), "cr", {User("x")}));
  if (round > 0) {
    Remove(storage, MakeRole("ns1", absl::StrCat("role-", round - 1, "-0"), {}));
    Remove(storage, MakeRoleBinding("ns0", absl::StrCat("rb-", round - 1), "Role", "role", {}));
    Remove(storage, MakeClusterRole(absl::StrCat("cr-", round - 1), {}));
    Put(storage, MakeClusterRoleBinding(absl::StrCat("crb-", round - 1), "cr", {User("y")}));
  }
}

// Makes sure the source's watcher has delivered something, so that the
// store treats it as a live consumer that can fall behind.
void Settle(store::Storage& storage, const StoreRbacRuleSource& source) {
  ASSERT_TRUE(source.WaitForRevision(
      Put(storage, MakeClusterRole("settle", {Rule({"get"}, {""}, {"pods"})})), kWait));
}

store::RocksDbStorageOptions SmallWatchQueue() {
  store::RocksDbStorageOptions options;
  options.max_pending_events = 4;  // Churn() writes more than this
  return options;
}

TEST(StoreRbacRuleSourceTest, RelistsWhenTheWatchFellBehindCompactedHistory) {
  PausableStorage storage(MemoryStorage(SmallWatchQueue()));
  Churn(storage, 0);
  auto source = StartRbac(storage);
  ASSERT_NE(source, nullptr);
  Settle(storage, *source);
  const int ranges_after_start = storage.ranges();

  ASSERT_TRUE(storage.Pause());
  Churn(storage, 1);
  Churn(storage, 2);
  ASSERT_TRUE(storage.Compact(Current(storage)).ok());
  storage.Resume();

  ASSERT_TRUE(source->WaitForRevision(Current(storage), kWait));
  EXPECT_GE(storage.ranges(), ranges_after_start + 4) << "no relist of the four prefixes";
  ExpectCacheEqualsStore(storage, *source);
  EXPECT_EQ(source->GetClusterRole("cr-1"), nullptr);
  EXPECT_NE(source->GetClusterRole("cr-2"), nullptr);

  // And it keeps watching afterwards.
  ASSERT_TRUE(source->WaitForRevision(
      Put(storage, MakeClusterRole("after", {Rule({"get"}, {""}, {"pods"})})), kWait));
  EXPECT_NE(source->GetClusterRole("after"), nullptr);
}

TEST(StoreRbacRuleSourceTest, ResumesWithoutRelistWhenHistoryIsRetained) {
  PausableStorage storage(MemoryStorage(SmallWatchQueue()));
  auto source = StartRbac(storage);
  ASSERT_NE(source, nullptr);
  Settle(storage, *source);
  const int ranges_after_start = storage.ranges();
  const int watches_after_start = storage.watches();

  ASSERT_TRUE(storage.Pause());
  Churn(storage, 0);
  Churn(storage, 1);
  storage.Resume();

  ASSERT_TRUE(source->WaitForRevision(Current(storage), kWait));
  EXPECT_GT(storage.watches(), watches_after_start) << "the watch was never ended";
  EXPECT_EQ(storage.ranges(), ranges_after_start);
  ExpectCacheEqualsStore(storage, *source);
}

TEST(StoreRbacRuleSourceTest, DestructionStopsAnIdleWatchPromptly) {
  // On a fake clock that never moves the watch never times out by itself:
  // only cancelling it lets the destructor return.
  store::RocksDbStorageOptions options;
  options.clock = std::make_shared<FakeClock>();
  auto storage = MemoryStorage(options);
  auto source = StartRbac(*storage);
  auto graph = StartGraph(*storage);
  ASSERT_NE(source, nullptr);
  ASSERT_NE(graph, nullptr);
  ASSERT_TRUE(source->WaitForRevision(
      Put(*storage, MakeClusterRole("r", {Rule({"get"}, {""}, {"pods"})})), kWait));
  const absl::Time start = absl::Now();
  source.reset();
  graph.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

// ---------------------------------------------------------------------------
// StoreNodeGraph

TEST(StoreNodeGraphTest, FollowsBindsAndDeletes) {
  auto storage = MemoryStorage();
  Put(*storage, MakePod("ns1", "bound", "n1"));
  Put(*storage, MakePod("ns1", "pending"));
  auto graph = StartGraph(*storage);
  ASSERT_NE(graph, nullptr);
  EXPECT_EQ(graph->PodNode("ns1", "bound"), std::optional<std::string>("n1"));
  EXPECT_EQ(graph->PodNode("ns1", "pending"), std::nullopt);
  EXPECT_EQ(graph->PodNode("ns2", "bound"), std::nullopt);

  auto node = *NodeAuthorizer::Create(graph);
  const std::vector<std::string> nodes_group = {kNodesGroup};
  const Attributes n1_status =
      Request("system:node:n1", nodes_group, "update", "", "pods/status", "ns1", "pending");
  const Attributes n2_status =
      Request("system:node:n2", nodes_group, "update", "", "pods/status", "ns1", "pending");
  EXPECT_EQ(node->Authorize(n1_status).decision, Decision::kNoOpinion);

  ASSERT_TRUE(graph->WaitForRevision(Put(*storage, MakePod("ns1", "pending", "n1")), kWait));
  EXPECT_EQ(graph->PodNode("ns1", "pending"), std::optional<std::string>("n1"));
  EXPECT_EQ(node->Authorize(n1_status).decision, Decision::kAllow);
  EXPECT_EQ(node->Authorize(n2_status).decision, Decision::kNoOpinion);

  ASSERT_TRUE(graph->WaitForRevision(Remove(*storage, MakePod("ns1", "pending")), kWait));
  EXPECT_EQ(graph->PodNode("ns1", "pending"), std::nullopt);
  EXPECT_EQ(node->Authorize(n1_status).decision, Decision::kNoOpinion);

  // Recreated under the same name on another node.
  ASSERT_TRUE(graph->WaitForRevision(Put(*storage, MakePod("ns1", "pending", "n2")), kWait));
  EXPECT_EQ(node->Authorize(n1_status).decision, Decision::kNoOpinion);
  EXPECT_EQ(node->Authorize(n2_status).decision, Decision::kAllow);
}

TEST(StoreNodeGraphTest, RelistsAfterCompaction) {
  PausableStorage storage(MemoryStorage(SmallWatchQueue()));
  Put(storage, MakePod("ns1", "a", "n1"));
  auto graph = StartGraph(storage);
  ASSERT_NE(graph, nullptr);
  ASSERT_TRUE(graph->WaitForRevision(Put(storage, MakePod("ns1", "b", "n1")), kWait));
  const int ranges_after_start = storage.ranges();
  ASSERT_TRUE(storage.Pause());
  Remove(storage, MakePod("ns1", "a"));
  for (int i = 0; i < 8; ++i) Put(storage, MakePod("ns2", absl::StrCat("p", i), "n2"));
  ASSERT_TRUE(storage.Compact(Current(storage)).ok());
  storage.Resume();
  ASSERT_TRUE(graph->WaitForRevision(Current(storage), kWait));
  EXPECT_GT(storage.ranges(), ranges_after_start) << "no relist";
  EXPECT_EQ(graph->PodNode("ns1", "a"), std::nullopt);
  EXPECT_EQ(graph->PodNode("ns1", "b"), std::optional<std::string>("n1"));
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(graph->PodNode("ns2", absl::StrCat("p", i)), std::optional<std::string>("n2"));
  }
}

// ---------------------------------------------------------------------------
// Bootstrap policy

TEST(BootstrapPolicyTest, ObjectsAreValidAndConsistent) {
  std::vector<std::unique_ptr<google::protobuf::Message>> objects = BootstrapRbacObjects();
  std::set<std::string> roles, bindings;
  for (const auto& o : objects) {
    EXPECT_TRUE(api::Validate(*o).ok()) << api::Validate(*o);
    const api::ObjectMeta& meta = *api::ObjectMetaOf(*o);
    EXPECT_EQ(meta.labels().at("kubernetes.io/bootstrapping"), "rbac-defaults") << meta.name();
    EXPECT_EQ(meta.annotations().at("rbac.authorization.kubernetes.io/autoupdate"), "true");
    if (const auto* role = dynamic_cast<const api::ClusterRole*>(o.get())) {
      EXPECT_TRUE(roles.insert(role->metadata().name()).second) << role->metadata().name();
    } else if (const auto* b = dynamic_cast<const api::ClusterRoleBinding*>(o.get())) {
      EXPECT_TRUE(bindings.insert(b->metadata().name()).second) << b->metadata().name();
      EXPECT_TRUE(roles.contains(b->role_ref().name()))
          << b->metadata().name() << " is listed before its role or refers to a missing one";
    } else {
      ADD_FAILURE() << "unexpected type " << o->GetTypeName();
    }
  }
  for (const char* name : {"cluster-admin", "admin", "edit", "view", "system:node",
                           "system:kube-scheduler", "system:kube-controller-manager",
                           "system:discovery", "system:basic-user", "system:public-info-viewer"}) {
    EXPECT_TRUE(roles.contains(name)) << name;
  }
  EXPECT_THAT(bindings,
              UnorderedElementsAreArray({"cluster-admin", "system:node", "system:kube-scheduler",
                                         "system:kube-controller-manager", "system:discovery",
                                         "system:basic-user", "system:public-info-viewer"}));
}

class BootstrapAuthorizationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage_ = MemoryStorage();
    for (const auto& o : BootstrapRbacObjects()) Put(*storage_, *o);
    source_ = StartRbac(*storage_);
    ASSERT_NE(source_, nullptr);
    rbac_ = Rbac(source_);
  }
  void TearDown() override {
    rbac_.reset();
    source_.reset();
  }

  Decision Decide(const Attributes& a) { return rbac_->Authorize(a).decision; }
  // Binds `role` to `user` in `ns`.
  void Grant(std::string ns, std::string role, std::string user) {
    ASSERT_TRUE(source_->WaitForRevision(
        Put(*storage_,
            MakeRoleBinding(ns, absl::StrCat(user, "-", role), "ClusterRole", role, {User(user)})),
        kWait));
  }

  std::unique_ptr<store::Storage> storage_;
  std::shared_ptr<StoreRbacRuleSource> source_;
  std::unique_ptr<RbacAuthorizer> rbac_;
};

const std::vector<std::string> kAuthenticated = {"system:authenticated"};

TEST_F(BootstrapAuthorizationTest, MastersMayDoEverything) {
  const std::vector<std::string> masters = {"system:masters", "system:authenticated"};
  EXPECT_EQ(Decide(Request("root", masters, "delete", "", "secrets", "kube-system", "s")),
            Decision::kAllow);
  EXPECT_EQ(Decide(Request("root", masters, "create", "rbac.authorization.k8s.io", "clusterroles")),
            Decision::kAllow);
  EXPECT_EQ(Decide(Request("root", masters, "update", "", "nodes/status", "", "n1")),
            Decision::kAllow);
  EXPECT_EQ(Decide(PathRequest("root", masters, "get", "/metrics")), Decision::kAllow);
}

TEST_F(BootstrapAuthorizationTest, NodesSchedulerAndControllers) {
  const std::vector<std::string> node = {"system:nodes", "system:authenticated"};
  EXPECT_EQ(Decide(Request("system:node:n1", node, "get", "", "pods", "default", "web")),
            Decision::kAllow);
  EXPECT_EQ(Decide(Request("system:node:n1", node, "patch", "", "nodes/status", "", "n1")),
            Decision::kAllow);
  EXPECT_EQ(Decide(Request("system:node:n1", node, "list", "", "secrets", "default")),
            Decision::kNoOpinion);

  EXPECT_EQ(Decide(Request("system:kube-scheduler", kAuthenticated, "create", "", "pods/binding",
                           "default", "web")),
            Decision::kAllow);
  EXPECT_EQ(Decide(Request("system:kube-scheduler", kAuthenticated, "update", "coordination.k8s.io",
                           "leases", "kube-system", "kube-scheduler")),
            Decision::kAllow);
  EXPECT_EQ(Decide(Request("system:kube-scheduler", kAuthenticated, "update", "coordination.k8s.io",
                           "leases", "kube-system", "other")),
            Decision::kNoOpinion);
  EXPECT_EQ(
      Decide(Request("system:kube-scheduler", kAuthenticated, "delete", "", "nodes", "", "n1")),
      Decision::kNoOpinion);

  const std::string kcm = "system:kube-controller-manager";
  EXPECT_EQ(Decide(Request(kcm, kAuthenticated, "create", "", "pods", "default")),
            Decision::kAllow);
  EXPECT_EQ(Decide(Request(kcm, kAuthenticated, "update", "", "namespaces/finalize", "", "ns1")),
            Decision::kAllow);
  EXPECT_EQ(Decide(Request(kcm, kAuthenticated, "delete", "apps", "replicasets", "ns1", "rs")),
            Decision::kAllow);
  EXPECT_EQ(Decide(Request(kcm, kAuthenticated, "create", "rbac.authorization.k8s.io",
                           "clusterrolebindings")),
            Decision::kNoOpinion);
}

TEST_F(BootstrapAuthorizationTest, EveryoneMayReadPublicInfoAndNothingElse) {
  EXPECT_EQ(Decide(PathRequest("alice", kAuthenticated, "get", "/version")), Decision::kAllow);
  EXPECT_EQ(Decide(PathRequest("alice", kAuthenticated, "get", "/apis/apps/v1")), Decision::kAllow);
  EXPECT_EQ(Decide(Request("alice", kAuthenticated, "create", "authorization.k8s.io",
                           "selfsubjectaccessreviews")),
            Decision::kAllow);
  EXPECT_EQ(Decide(Request("alice", kAuthenticated, "list", "", "secrets", "default")),
            Decision::kNoOpinion);
  EXPECT_EQ(Decide(Request("alice", kAuthenticated, "list", "", "pods")), Decision::kNoOpinion);
  EXPECT_EQ(Decide(PathRequest("alice", kAuthenticated, "get", "/metrics")), Decision::kNoOpinion);

  const std::vector<std::string> anonymous = {"system:unauthenticated"};
  EXPECT_EQ(Decide(PathRequest("system:anonymous", anonymous, "get", "/healthz")),
            Decision::kAllow);
  EXPECT_EQ(Decide(PathRequest("system:anonymous", anonymous, "get", "/version")),
            Decision::kAllow);
  EXPECT_EQ(Decide(PathRequest("system:anonymous", anonymous, "get", "/api")),
            Decision::kNoOpinion);
}

TEST_F(BootstrapAuthorizationTest, AggregatedUserRolesNest) {
  Grant("team", "view", "viewer");
  Grant("team", "edit", "editor");
  Grant("team", "admin", "boss");
  const auto can = [&](const std::string& user, const std::string& verb, const std::string& group,
                       const std::string& resource) {
    return Decide(Request(user, kAuthenticated, verb, group, resource, "team", "x")) ==
           Decision::kAllow;
  };
  for (const std::string user : {"viewer", "editor", "boss"}) {
    EXPECT_TRUE(can(user, "get", "", "pods")) << user;
    EXPECT_TRUE(can(user, "get", "", "pods/log")) << user;
    EXPECT_TRUE(can(user, "list", "apps", "deployments")) << user;
    EXPECT_FALSE(can(user, "get", "rbac.authorization.k8s.io", "clusterroles")) << user;
    // Only inside the namespace of the binding.
    EXPECT_NE(Decide(Request(user, kAuthenticated, "get", "", "pods", "other", "x")),
              Decision::kAllow);
  }
  EXPECT_FALSE(can("viewer", "get", "", "secrets"));
  EXPECT_FALSE(can("viewer", "delete", "", "pods"));
  for (const std::string user : {"editor", "boss"}) {
    EXPECT_TRUE(can(user, "get", "", "secrets")) << user;
    EXPECT_TRUE(can(user, "delete", "", "pods")) << user;
    EXPECT_TRUE(can(user, "patch", "apps", "deployments/scale")) << user;
    EXPECT_TRUE(can(user, "create", "batch", "jobs")) << user;
  }
  EXPECT_FALSE(can("editor", "create", "rbac.authorization.k8s.io", "rolebindings"));
  EXPECT_TRUE(can("boss", "create", "rbac.authorization.k8s.io", "rolebindings"));
}

}  // namespace
}  // namespace korch::apiserver::internal
