#include "korch/client/cache.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/core.pb.h"
#include "korch/api/meta.pb.h"

namespace korch::client {
namespace {

using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;

struct PodSpec {
  std::string ns = "default";
  std::string name;
  std::string node = {};
  std::map<std::string, std::string> labels = {};
  std::vector<std::string> owner_uids = {};
};

std::shared_ptr<const api::Pod> MakePod(const PodSpec& s) {
  auto pod = std::make_shared<api::Pod>();
  pod->mutable_metadata()->set_name(s.name);
  pod->mutable_metadata()->set_namespace_(s.ns);
  for (const auto& [k, v] : s.labels) (*pod->mutable_metadata()->mutable_labels())[k] = v;
  for (const std::string& uid : s.owner_uids) {
    api::OwnerReference* ref = pod->mutable_metadata()->add_owner_references();
    ref->set_kind("ReplicaSet");
    ref->set_name("rs");
    ref->set_uid(uid);
  }
  if (!s.node.empty()) pod->mutable_spec()->set_node_name(s.node);
  return pod;
}

std::shared_ptr<const api::Node> MakeNode(const std::string& name) {
  auto node = std::make_shared<api::Node>();
  node->mutable_metadata()->set_name(name);
  return node;
}

Indexers AllIndexers() {
  return {{kNamespaceIndex, NamespaceIndex()},
          {kNodeNameIndex, NodeNameIndex()},
          {kOwnerUidIndex, OwnerUidIndex()},
          {"app", LabelIndex("app")}};
}

std::vector<std::string> Keys(const std::vector<ObjectPtr>& objects) {
  std::vector<std::string> keys;
  for (const ObjectPtr& o : objects) keys.push_back(*ObjectKey(*o));
  return keys;
}

std::vector<std::string> KeysByIndex(const Indexer& indexer, absl::string_view index,
                                     absl::string_view value) {
  absl::StatusOr<std::vector<ObjectPtr>> objects = indexer.ByIndex(index, value);
  EXPECT_TRUE(objects.ok()) << objects.status();
  return objects.ok() ? Keys(*objects) : std::vector<std::string>{};
}

// Every index of `indexer` equals what a fresh rebuild from its List()
// gives, through both IndexKeys() and ByIndex(), with no empty values.
::testing::AssertionResult IndexesConsistent(const Indexer& indexer, const Indexers& indexers) {
  const std::vector<ObjectPtr> objects = indexer.List();
  for (const auto& [name, fn] : indexers) {
    std::map<std::string, std::set<std::string>> expected;
    for (const ObjectPtr& o : objects) {
      for (const std::string& v : fn(*o)) expected[v].insert(*ObjectKey(*o));
    }
    absl::StatusOr<std::vector<std::string>> values = indexer.ListIndexFuncValues(name);
    if (!values.ok()) return ::testing::AssertionFailure() << values.status();
    std::set<std::string> actual_values(values->begin(), values->end());
    std::set<std::string> expected_values;
    for (const auto& [v, keys] : expected) expected_values.insert(v);
    if (actual_values != expected_values) {
      return ::testing::AssertionFailure() << "index " << name << ": " << actual_values.size()
                                           << " values, want " << expected_values.size();
    }
    for (const auto& [v, keys] : expected) {
      absl::StatusOr<std::vector<std::string>> got = indexer.IndexKeys(name, v);
      if (!got.ok()) return ::testing::AssertionFailure() << got.status();
      if (std::set<std::string>(got->begin(), got->end()) != keys || got->size() != keys.size()) {
        return ::testing::AssertionFailure() << "index " << name << " value " << v << " differs";
      }
      absl::StatusOr<std::vector<ObjectPtr>> by = indexer.ByIndex(name, v);
      if (!by.ok()) return ::testing::AssertionFailure() << by.status();
      std::vector<std::string> by_keys = Keys(*by);
      if (std::set<std::string>(by_keys.begin(), by_keys.end()) != keys) {
        return ::testing::AssertionFailure() << "ByIndex " << name << " value " << v << " differs";
      }
    }
  }
  return ::testing::AssertionSuccess();
}

TEST(CacheObjectKeyTest, NamespacedAndClusterScoped) {
  EXPECT_EQ(*ObjectKey(*MakePod({.ns = "prod", .name = "web"})), "prod/web");
  EXPECT_EQ(*ObjectKey(*MakeNode("node-1")), "node-1");
}

TEST(CacheObjectKeyTest, RejectsObjectsWithoutMetadataOrName) {
  EXPECT_EQ(ObjectKey(api::ObjectMeta()).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ObjectKey(api::Pod()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(IndexFuncTest, BuiltIns) {
  auto pod = MakePod({.ns = "prod",
                      .name = "web",
                      .node = "n1",
                      .labels = {{"app", "shop"}},
                      .owner_uids = {"u1", "u2"}});
  EXPECT_THAT(NamespaceIndex()(*pod), UnorderedElementsAre("prod"));
  EXPECT_THAT(NodeNameIndex()(*pod), UnorderedElementsAre("n1"));
  EXPECT_THAT(OwnerUidIndex()(*pod), UnorderedElementsAre("u1", "u2"));
  EXPECT_THAT(LabelIndex("app")(*pod), UnorderedElementsAre("shop"));
  EXPECT_THAT(LabelIndex("tier")(*pod), IsEmpty());
  // Unscheduled pods and other kinds have no node.
  EXPECT_THAT(NodeNameIndex()(*MakePod({.name = "pending"})), IsEmpty());
  EXPECT_THAT(NodeNameIndex()(*MakeNode("n1")), IsEmpty());
  // Cluster-scoped objects are in the "" namespace, as in client-go.
  EXPECT_THAT(NamespaceIndex()(*MakeNode("n1")), UnorderedElementsAre(""));
  EXPECT_THAT(NamespaceIndex()(api::ObjectMeta()), IsEmpty());
}

TEST(IndexerTest, AddGetListDelete) {
  Indexer indexer(AllIndexers());
  auto a = MakePod({.name = "a", .node = "n1"});
  ASSERT_TRUE(indexer.Add(a).ok());
  ASSERT_TRUE(indexer.Add(MakePod({.ns = "other", .name = "a"})).ok());
  EXPECT_EQ(indexer.Size(), 2u);
  // Readers share the stored object; nothing is copied.
  EXPECT_EQ(indexer.Get("default/a"), a);
  EXPECT_EQ(indexer.Get("default/missing"), nullptr);
  EXPECT_THAT(indexer.ListKeys(), UnorderedElementsAre("default/a", "other/a"));
  EXPECT_THAT(Keys(indexer.List()), UnorderedElementsAre("default/a", "other/a"));

  EXPECT_TRUE(indexer.Delete("default/a"));
  EXPECT_FALSE(indexer.Delete("default/a"));
  EXPECT_EQ(indexer.Get("default/a"), nullptr);
  EXPECT_EQ(indexer.Size(), 1u);
  EXPECT_TRUE(IndexesConsistent(indexer, AllIndexers()));
}

TEST(IndexerTest, ByIndexForEachBuiltIn) {
  Indexer indexer(AllIndexers());
  ASSERT_TRUE(indexer
                  .Add(MakePod({.ns = "prod",
                                .name = "web-1",
                                .node = "n1",
                                .labels = {{"app", "web"}},
                                .owner_uids = {"rs-web"}}))
                  .ok());
  ASSERT_TRUE(indexer
                  .Add(MakePod({.ns = "prod",
                                .name = "web-2",
                                .node = "n2",
                                .labels = {{"app", "web"}},
                                .owner_uids = {"rs-web", "other"}}))
                  .ok());
  ASSERT_TRUE(indexer.Add(MakePod({.ns = "dev", .name = "db", .labels = {{"app", "db"}}})).ok());
  ASSERT_TRUE(indexer.Add(MakeNode("n1")).ok());

  EXPECT_THAT(KeysByIndex(indexer, kNamespaceIndex, "prod"),
              UnorderedElementsAre("prod/web-1", "prod/web-2"));
  EXPECT_THAT(KeysByIndex(indexer, kNamespaceIndex, "dev"), UnorderedElementsAre("dev/db"));
  EXPECT_THAT(KeysByIndex(indexer, kNamespaceIndex, ""), UnorderedElementsAre("n1"));
  EXPECT_THAT(KeysByIndex(indexer, kNodeNameIndex, "n1"), UnorderedElementsAre("prod/web-1"));
  EXPECT_THAT(KeysByIndex(indexer, kNodeNameIndex, "n3"), IsEmpty());
  EXPECT_THAT(KeysByIndex(indexer, kOwnerUidIndex, "rs-web"),
              UnorderedElementsAre("prod/web-1", "prod/web-2"));
  EXPECT_THAT(KeysByIndex(indexer, kOwnerUidIndex, "other"), UnorderedElementsAre("prod/web-2"));
  EXPECT_THAT(KeysByIndex(indexer, "app", "web"), UnorderedElementsAre("prod/web-1", "prod/web-2"));
  EXPECT_THAT(*indexer.IndexKeys("app", "db"), UnorderedElementsAre("dev/db"));
  EXPECT_THAT(*indexer.ListIndexFuncValues(kNodeNameIndex), UnorderedElementsAre("n1", "n2"));
  EXPECT_THAT(*indexer.ListIndexFuncValues(kNamespaceIndex),
              UnorderedElementsAre("prod", "dev", ""));
  EXPECT_TRUE(IndexesConsistent(indexer, AllIndexers()));
}

TEST(IndexerTest, UpdateMovesKeyBetweenIndexValues) {
  Indexer indexer(AllIndexers());
  ASSERT_TRUE(
      indexer
          .Add(MakePod(
              {.name = "p", .node = "n1", .labels = {{"app", "a"}}, .owner_uids = {"u1", "u2"}}))
          .ok());
  ASSERT_TRUE(
      indexer
          .Update(MakePod(
              {.name = "p", .node = "n2", .labels = {{"app", "b"}}, .owner_uids = {"u2", "u3"}}))
          .ok());
  EXPECT_EQ(indexer.Size(), 1u);
  EXPECT_THAT(KeysByIndex(indexer, kNodeNameIndex, "n1"), IsEmpty());
  EXPECT_THAT(KeysByIndex(indexer, kNodeNameIndex, "n2"), UnorderedElementsAre("default/p"));
  EXPECT_THAT(KeysByIndex(indexer, "app", "b"), UnorderedElementsAre("default/p"));
  EXPECT_THAT(*indexer.ListIndexFuncValues(kOwnerUidIndex), UnorderedElementsAre("u2", "u3"));
  // Emptied values are freed, not kept as empty buckets.
  EXPECT_THAT(*indexer.ListIndexFuncValues(kNodeNameIndex), UnorderedElementsAre("n2"));
  EXPECT_THAT(*indexer.ListIndexFuncValues("app"), UnorderedElementsAre("b"));

  // Unscheduling drops the pod from the node index altogether.
  ASSERT_TRUE(indexer.Update(MakePod({.name = "p"})).ok());
  EXPECT_THAT(*indexer.ListIndexFuncValues(kNodeNameIndex), IsEmpty());
  EXPECT_TRUE(IndexesConsistent(indexer, AllIndexers()));
}

TEST(IndexerTest, DeleteRemovesKeyFromEveryIndex) {
  Indexer indexer(AllIndexers());
  ASSERT_TRUE(indexer
                  .Add(MakePod({.ns = "prod",
                                .name = "p",
                                .node = "n1",
                                .labels = {{"app", "a"}},
                                .owner_uids = {"u1"}}))
                  .ok());
  ASSERT_TRUE(indexer.Add(MakePod({.ns = "prod", .name = "q", .node = "n1"})).ok());
  ASSERT_TRUE(indexer.Delete("prod/p"));
  EXPECT_THAT(KeysByIndex(indexer, kNamespaceIndex, "prod"), UnorderedElementsAre("prod/q"));
  EXPECT_THAT(KeysByIndex(indexer, kNodeNameIndex, "n1"), UnorderedElementsAre("prod/q"));
  EXPECT_THAT(*indexer.ListIndexFuncValues(kOwnerUidIndex), IsEmpty());
  EXPECT_THAT(*indexer.ListIndexFuncValues("app"), IsEmpty());
  ASSERT_TRUE(indexer.Delete("prod/q"));
  for (const auto& [name, fn] : AllIndexers()) {
    EXPECT_THAT(*indexer.ListIndexFuncValues(name), IsEmpty()) << name;
  }
}

TEST(IndexerTest, ReplaceSwapsContentAndRebuildsIndexes) {
  Indexer indexer(AllIndexers());
  ASSERT_TRUE(indexer.Add(MakePod({.name = "old", .node = "n1", .owner_uids = {"u1"}})).ok());
  ASSERT_TRUE(indexer.Add(MakePod({.name = "kept", .node = "n1"})).ok());
  ASSERT_TRUE(
      indexer
          .Replace({MakePod({.name = "kept", .node = "n2"}),
                    MakePod({.ns = "x", .name = "new", .labels = {{"app", "z"}}}), MakeNode("n9")},
                   "42")
          .ok());
  EXPECT_EQ(indexer.LastSyncResourceVersion(), "42");
  EXPECT_THAT(indexer.ListKeys(), UnorderedElementsAre("default/kept", "x/new", "n9"));
  EXPECT_THAT(KeysByIndex(indexer, kNodeNameIndex, "n1"), IsEmpty());
  EXPECT_THAT(KeysByIndex(indexer, kNodeNameIndex, "n2"), UnorderedElementsAre("default/kept"));
  EXPECT_THAT(*indexer.ListIndexFuncValues(kOwnerUidIndex), IsEmpty());
  EXPECT_THAT(KeysByIndex(indexer, "app", "z"), UnorderedElementsAre("x/new"));
  EXPECT_TRUE(IndexesConsistent(indexer, AllIndexers()));

  // Later duplicates win; an empty relist empties everything.
  ASSERT_TRUE(
      indexer
          .Replace({MakePod({.name = "d", .node = "n1"}), MakePod({.name = "d", .node = "n3"})},
                   "43")
          .ok());
  EXPECT_THAT(*indexer.ListIndexFuncValues(kNodeNameIndex), UnorderedElementsAre("n3"));
  ASSERT_TRUE(indexer.Replace({}, "44").ok());
  EXPECT_EQ(indexer.Size(), 0u);
  EXPECT_THAT(*indexer.ListIndexFuncValues(kNamespaceIndex), IsEmpty());
}

TEST(IndexerTest, InvalidObjectsChangeNothing) {
  Indexer indexer(AllIndexers());
  ASSERT_TRUE(indexer.Add(MakePod({.name = "a", .node = "n1"})).ok());
  EXPECT_EQ(indexer.Add(nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(indexer.Add(std::make_shared<api::ObjectMeta>()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(indexer.Replace({MakePod({.name = "b"}), nullptr}, "9").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(indexer.Replace({MakePod({.name = "b"}), std::make_shared<api::Pod>()}, "9").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(indexer.ListKeys(), UnorderedElementsAre("default/a"));
  EXPECT_EQ(indexer.LastSyncResourceVersion(), "");
  EXPECT_TRUE(IndexesConsistent(indexer, AllIndexers()));
}

TEST(IndexerTest, UnknownIndexIsNotFound) {
  Indexer indexer(AllIndexers());
  EXPECT_EQ(indexer.ByIndex("nope", "x").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(indexer.IndexKeys("nope", "x").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(indexer.ListIndexFuncValues("nope").status().code(), absl::StatusCode::kNotFound);
  // A known index with no objects is empty, not an error.
  EXPECT_THAT(*indexer.ByIndex(kNodeNameIndex, "n1"), IsEmpty());
}

TEST(IndexerTest, AddIndexers) {
  Indexer indexer({{kNamespaceIndex, NamespaceIndex()}});
  EXPECT_EQ(indexer.AddIndexers({{kNamespaceIndex, NamespaceIndex()}}).code(),
            absl::StatusCode::kAlreadyExists);
  // A rejected call adds none of its indexes.
  EXPECT_EQ(
      indexer.AddIndexers({{kNodeNameIndex, NodeNameIndex()}, {kNamespaceIndex, NamespaceIndex()}})
          .code(),
      absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(indexer.IndexNames(), UnorderedElementsAre(kNamespaceIndex));
  ASSERT_TRUE(indexer.AddIndexers({{kNodeNameIndex, NodeNameIndex()}}).ok());
  EXPECT_THAT(indexer.IndexNames(), UnorderedElementsAre(kNamespaceIndex, kNodeNameIndex));

  ASSERT_TRUE(indexer.Add(MakePod({.name = "a", .node = "n1"})).ok());
  EXPECT_THAT(KeysByIndex(indexer, kNodeNameIndex, "n1"), UnorderedElementsAre("default/a"));
  EXPECT_EQ(indexer.AddIndexers({{"app", LabelIndex("app")}}).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(IndexerTest, NullIndexFuncIndexesNothing) {
  Indexer indexer({{"null", IndexFunc()}});
  ASSERT_TRUE(indexer.Add(MakePod({.name = "a"})).ok());
  EXPECT_THAT(*indexer.ListIndexFuncValues("null"), IsEmpty());
}

TEST(IndexerTest, RepeatedIndexValueIsIndexedOnce) {
  Indexer indexer({{"twice", [](const google::protobuf::Message&) {
                      return std::vector<std::string>{"v", "v"};
                    }}});
  ASSERT_TRUE(indexer.Add(MakePod({.name = "a"})).ok());
  EXPECT_THAT(*indexer.IndexKeys("twice", "v"), UnorderedElementsAre("default/a"));
  ASSERT_TRUE(indexer.Delete("default/a"));
  EXPECT_THAT(*indexer.ListIndexFuncValues("twice"), IsEmpty());
}

// Writers add, update and delete random pods while readers query; every
// reader result is one consistent state, and at the end the indexes equal a
// rebuild from List().
TEST(IndexerTest, ConcurrentWritersAndReadersKeepIndexesConsistent) {
  constexpr int kKeys = 200;
  constexpr int kWriters = 4;
  constexpr int kReaders = 4;
  constexpr int kOpsPerWriter = 5000;
  const Indexers indexers = AllIndexers();
  Indexer indexer(AllIndexers());

  std::atomic<int> writers_left{kWriters};
  std::atomic<int> reader_errors{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937 rng(1234 + w);
      for (int i = 0; i < kOpsPerWriter; ++i) {
        const int k = static_cast<int>(rng() % kKeys);
        const std::string name = absl::StrCat("p", k);
        const std::string ns = absl::StrCat("ns", k % 5);
        if (rng() % 4 == 0) {
          indexer.Delete(absl::StrCat(ns, "/", name));
          continue;
        }
        PodSpec spec{.ns = ns, .name = name};
        if (rng() % 5 != 0) spec.node = absl::StrCat("n", rng() % 10);
        spec.labels["app"] = absl::StrCat("a", rng() % 7);
        for (int o = static_cast<int>(rng() % 3); o > 0; --o) {
          spec.owner_uids.push_back(absl::StrCat("u", rng() % 20));
        }
        ASSERT_TRUE(indexer.Update(MakePod(spec)).ok());
      }
      writers_left.fetch_sub(1);
    });
  }
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937 rng(99 + r);
      while (writers_left.load() > 0) {
        const std::string node = absl::StrCat("n", rng() % 10);
        absl::StatusOr<std::vector<ObjectPtr>> on_node = indexer.ByIndex(kNodeNameIndex, node);
        if (!on_node.ok()) {
          reader_errors.fetch_add(1);
          continue;
        }
        // Each returned object is one that, as stored then, was on `node`.
        for (const ObjectPtr& o : *on_node) {
          std::vector<std::string> values = NodeNameIndex()(*o);
          if (values.size() != 1 || values[0] != node) reader_errors.fetch_add(1);
        }
        const std::string uid = absl::StrCat("u", rng() % 20);
        absl::StatusOr<std::vector<ObjectPtr>> owned = indexer.ByIndex(kOwnerUidIndex, uid);
        if (!owned.ok()) {
          reader_errors.fetch_add(1);
          continue;
        }
        for (const ObjectPtr& o : *owned) {
          std::vector<std::string> uids = OwnerUidIndex()(*o);
          if (std::find(uids.begin(), uids.end(), uid) == uids.end()) reader_errors.fetch_add(1);
        }
        if (indexer.List().size() > static_cast<size_t>(kKeys)) reader_errors.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();

  EXPECT_EQ(reader_errors.load(), 0);
  EXPECT_LE(indexer.Size(), static_cast<size_t>(kKeys));
  EXPECT_THAT(indexer.ListKeys(), UnorderedElementsAreArray(Keys(indexer.List())));
  EXPECT_TRUE(IndexesConsistent(indexer, indexers));
}

}  // namespace
}  // namespace korch::client
