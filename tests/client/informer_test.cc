#include "korch/client/informer.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/core.pb.h"
#include "korch/api/selector.h"
#include "korch/apiserver/server.h"
#include "korch/base/clock.h"
#include "korch/client/client.h"
#include "korch/store.h"

namespace korch::client {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;

constexpr absl::Duration kWait = absl::Seconds(20);

api::ConfigMap MakeConfigMap(const std::string& ns, const std::string& name,
                             const std::string& value = "v",
                             const std::map<std::string, std::string>& labels = {}) {
  api::ConfigMap cm;
  cm.mutable_metadata()->set_namespace_(ns);
  cm.mutable_metadata()->set_name(name);
  for (const auto& [k, v] : labels) (*cm.mutable_metadata()->mutable_labels())[k] = v;
  (*cm.mutable_data())["value"] = value;
  return cm;
}

const api::ConfigMap& AsConfigMap(const ObjectPtr& object) {
  return static_cast<const api::ConfigMap&>(*object);
}

std::string KeyOf(const ObjectPtr& object) {
  const auto& meta = AsConfigMap(object).metadata();
  return meta.namespace_().empty() ? meta.name() : meta.namespace_() + "/" + meta.name();
}

std::string ValueOf(const ObjectPtr& object) {
  const auto& data = AsConfigMap(object).data();
  auto it = data.find("value");
  return it == data.end() ? "" : it->second;
}

int64_t Revision(const std::string& resource_version) {
  int64_t r = 0;
  return absl::SimpleAtoi(resource_version, &r) ? r : -1;
}

// Options made by `set` (designated initializers would trip
// -Wmissing-field-initializers).
template <typename F>
InformerOptions Options(F set) {
  InformerOptions options;
  set(options);
  return options;
}

ResourceEventHandler OnAdd(std::function<void(const ObjectPtr&)> on_add) {
  ResourceEventHandler handler;
  handler.on_add = std::move(on_add);
  return handler;
}

// Waits (real time, bounded) until `done` holds.
template <typename F>
bool WaitUntil(F done, absl::Duration timeout = kWait) {
  absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

// What one handler saw, in order.
struct Event {
  char type;  // 'A'dd, 'U'pdate, 'D'elete
  ObjectPtr old_object;
  ObjectPtr object;
};

class Recorder {
 public:
  ResourceEventHandler Handler() {
    return {
        .on_add =
            [this](const ObjectPtr& o) {
              Record({'A', nullptr, o});
            },
        .on_update =
            [this](const ObjectPtr& o, const ObjectPtr& n) {
              Record({'U', o, n});
            },
        .on_delete =
            [this](const ObjectPtr& o) {
              Record({'D', nullptr, o});
            },
    };
  }

  bool WaitForCount(size_t n, absl::Duration timeout = kWait) {
    absl::MutexLock l(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return events_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }

  std::vector<Event> events() {
    absl::MutexLock l(&mu_);
    return events_;
  }
  size_t size() {
    absl::MutexLock l(&mu_);
    return events_.size();
  }
  // "A default/x" style summaries of events [from, end).
  std::vector<std::string> Summaries(size_t from = 0) {
    std::vector<Event> all = events();
    std::vector<std::string> out;
    for (size_t i = from; i < all.size(); ++i) {
      out.push_back(absl::StrCat(std::string(1, all[i].type), " ", KeyOf(all[i].object)));
    }
    return out;
  }

 private:
  void Record(Event e) {
    absl::MutexLock l(&mu_);
    events_.push_back(std::move(e));
  }

  absl::Mutex mu_;
  std::vector<Event> events_ ABSL_GUARDED_BY(mu_);
};

// Forwards to a real client; counts calls and can make Watch fail, to
// observe paging and to inject a dropped connection.
class ObservedClient : public Client {
 public:
  explicit ObservedClient(Client& inner) : inner_(inner) {}

  std::atomic<int> lists{0};
  std::atomic<int64_t> last_limit{-1};
  std::atomic<int> watches{0};
  std::atomic<bool> fail_watches{false};

  const api::Scheme& scheme() const override { return inner_.scheme(); }
  absl::StatusOr<std::shared_ptr<const google::protobuf::Message>> Get(
      const api::KindInfo& kind, absl::string_view ns, absl::string_view name,
      const GetOptions& options) override {
    return inner_.Get(kind, ns, name, options);
  }
  absl::StatusOr<ListResult> List(const api::KindInfo& kind, absl::string_view ns,
                                  const ListOptions& options) override {
    ++lists;
    last_limit = options.limit;
    return inner_.List(kind, ns, options);
  }
  absl::StatusOr<std::unique_ptr<WatchStream>> Watch(const api::KindInfo& kind,
                                                     absl::string_view ns,
                                                     const WatchOptions& options) override {
    ++watches;
    if (fail_watches) return absl::UnavailableError("connection refused");
    return inner_.Watch(kind, ns, options);
  }
  absl::StatusOr<std::shared_ptr<const google::protobuf::Message>> Create(
      const api::KindInfo& kind, const google::protobuf::Message& object,
      const CreateOptions& options) override {
    return inner_.Create(kind, object, options);
  }
  absl::StatusOr<std::shared_ptr<const google::protobuf::Message>> Update(
      const api::KindInfo& kind, const google::protobuf::Message& object,
      const UpdateOptions& options) override {
    return inner_.Update(kind, object, options);
  }
  absl::StatusOr<std::shared_ptr<const google::protobuf::Message>> Patch(
      const api::KindInfo& kind, absl::string_view ns, absl::string_view name, PatchType type,
      absl::string_view patch, const PatchOptions& options) override {
    return inner_.Patch(kind, ns, name, type, patch, options);
  }
  absl::StatusOr<DeleteResult> Delete(const api::KindInfo& kind, absl::string_view ns,
                                      absl::string_view name,
                                      const DeleteOptions& options) override {
    return inner_.Delete(kind, ns, name, options);
  }
  absl::StatusOr<ListResult> DeleteCollection(const api::KindInfo& kind, absl::string_view ns,
                                              const ListOptions& selection,
                                              const DeleteOptions& options) override {
    return inner_.DeleteCollection(kind, ns, selection, options);
  }

 private:
  Client& inner_;
};

class InformerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto storage = store::OpenMemoryStorage();
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
    apiserver::ApiServerOptions options;
    options.storage = storage_.get();
    auto server = apiserver::ApiServer::Create(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client_ = NewInProcessClient(*server_, apiserver::SystemUser());
  }

  const api::KindInfo& ConfigMaps() { return client_->KindOf<api::ConfigMap>(); }

  std::shared_ptr<const api::ConfigMap> Create(const api::ConfigMap& cm) {
    auto created = client_->Create(cm);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? *created : nullptr;
  }
  std::shared_ptr<const api::ConfigMap> SetValue(const std::string& ns, const std::string& name,
                                                 const std::string& value) {
    auto got = client_->Get<api::ConfigMap>(ns, name);
    EXPECT_TRUE(got.ok()) << got.status();
    if (!got.ok()) return nullptr;
    api::ConfigMap cm = **got;
    (*cm.mutable_data())["value"] = value;
    auto updated = client_->Update(cm);
    EXPECT_TRUE(updated.ok()) << updated.status();
    return updated.ok() ? *updated : nullptr;
  }
  void Delete(const std::string& ns, const std::string& name) {
    auto deleted = client_->Delete(ConfigMaps(), ns, name);
    EXPECT_TRUE(deleted.ok()) << deleted.status();
  }
  int64_t StoreRevision() {
    auto rev = storage_->CurrentRevision();
    EXPECT_TRUE(rev.ok()) << rev.status();
    return rev.ok() ? *rev : -1;
  }
  // Waits until `informer` has applied every change up to the store's
  // current revision of the kind, by writing a marker object it must see.
  bool WaitCaughtUp(const Informer& informer, const std::string& ns = "default") {
    auto marker = Create(MakeConfigMap(ns, absl::StrCat("marker-", ++markers_)));
    if (marker == nullptr) return false;
    int64_t target = Revision(marker->metadata().resource_version());
    return WaitUntil([&] { return Revision(informer.LastResourceVersion()) >= target; });
  }

  std::unique_ptr<store::Storage> storage_;
  std::unique_ptr<apiserver::ApiServer> server_;
  std::unique_ptr<Client> client_;
  int markers_ = 0;
};

TEST_F(InformerTest, SyncListsEveryPageThenDeliversChangesInOrder) {
  std::vector<std::string> keys;
  for (int i = 0; i < 7; ++i) {
    Create(MakeConfigMap("default", absl::StrCat("cm-", i)));
    keys.push_back(absl::StrCat("default/cm-", i));
  }
  ObservedClient observed(*client_);
  Informer informer(observed, ConfigMaps(), Options([](InformerOptions& o) { o.page_size = 3; }));
  Recorder recorder;
  informer.AddEventHandler(recorder.Handler());
  EXPECT_FALSE(informer.HasSynced());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(kWait));

  // Three pages of one list, every object added before HasSynced().
  EXPECT_EQ(observed.lists.load(), 3);
  EXPECT_EQ(observed.last_limit.load(), 3);
  EXPECT_EQ(informer.ListCount(), 1);
  EXPECT_EQ(recorder.size(), 7u);
  std::vector<std::string> added;
  for (const Event& e : recorder.events()) {
    EXPECT_EQ(e.type, 'A');
    added.push_back(KeyOf(e.object));
  }
  EXPECT_THAT(added, UnorderedElementsAreArray(keys));
  EXPECT_THAT(informer.indexer().ListKeys(), UnorderedElementsAreArray(keys));
  // The list's revision: the store's, as nothing changed since.
  EXPECT_EQ(Revision(informer.LastResourceVersion()), StoreRevision());
  EXPECT_EQ(informer.indexer().LastSyncResourceVersion(), informer.LastResourceVersion());

  Create(MakeConfigMap("kube-system", "other"));
  auto fresh = Create(MakeConfigMap("default", "fresh", "1"));
  auto before = informer.indexer().Get("default/cm-0");
  auto updated = SetValue("default", "cm-0", "2");
  Delete("default", "cm-1");
  ASSERT_TRUE(recorder.WaitForCount(11));  // 7 + other + fresh + update + delete

  std::vector<Event> events = recorder.events();
  EXPECT_THAT(recorder.Summaries(7), ElementsAre("A kube-system/other", "A default/fresh",
                                                 "U default/cm-0", "D default/cm-1"));
  EXPECT_EQ(events[8].object->SerializeAsString(), fresh->SerializeAsString());
  // The update carries the cached old state and the new one.
  EXPECT_EQ(events[9].old_object, before);
  EXPECT_EQ(ValueOf(events[9].old_object), "v");
  EXPECT_EQ(ValueOf(events[9].object), "2");
  EXPECT_EQ(AsConfigMap(events[9].object).metadata().resource_version(),
            updated->metadata().resource_version());
  // The deletion carries the last state.
  EXPECT_EQ(ValueOf(events[10].object), "v");
  EXPECT_EQ(informer.indexer().Get("default/cm-1"), nullptr);
  EXPECT_EQ(ValueOf(informer.indexer().Get("default/cm-0")), "2");
  // Applying a change and delivering it advanced the resourceVersion.
  EXPECT_TRUE(
      WaitUntil([&] { return Revision(informer.LastResourceVersion()) >= StoreRevision(); }));
  EXPECT_EQ(informer.ListCount(), 1);
}

TEST_F(InformerTest, NamespaceAndLabelRestrictedInformersSeeOnlyTheirObjects) {
  Create(MakeConfigMap("default", "web-1", "v", {{"app", "web"}}));
  Create(MakeConfigMap("default", "db-1", "v", {{"app", "db"}}));
  Create(MakeConfigMap("kube-system", "web-2", "v", {{"app", "web"}}));

  Informer in_default(*client_, ConfigMaps(),
                      Options([](InformerOptions& o) { o.namespace_ = "default"; }));
  Informer web(*client_, ConfigMaps(),
               Options([](InformerOptions& o) { o.label_selector = "app=web"; }));
  Recorder default_events, web_events;
  in_default.AddEventHandler(default_events.Handler());
  web.AddEventHandler(web_events.Handler());
  in_default.Start();
  web.Start();
  ASSERT_TRUE(WaitForCacheSync({&in_default, &web}, kWait));

  EXPECT_THAT(in_default.indexer().ListKeys(),
              UnorderedElementsAre("default/web-1", "default/db-1"));
  EXPECT_THAT(web.indexer().ListKeys(), UnorderedElementsAre("default/web-1", "kube-system/web-2"));

  Create(MakeConfigMap("kube-system", "web-3", "v", {{"app", "web"}}));
  Create(MakeConfigMap("kube-system", "db-2", "v", {{"app", "db"}}));
  Create(MakeConfigMap("default", "db-3", "v", {{"app", "db"}}));
  Create(MakeConfigMap("default", "web-4", "v", {{"app", "web"}}));

  ASSERT_TRUE(default_events.WaitForCount(4));
  ASSERT_TRUE(web_events.WaitForCount(4));
  // Both caught up with a last change each can see; nothing else arrived.
  ASSERT_TRUE(WaitCaughtUp(in_default));
  EXPECT_THAT(default_events.Summaries(2),
              ElementsAre("A default/db-3", "A default/web-4", "A default/marker-1"));
  EXPECT_THAT(web_events.Summaries(2), ElementsAre("A kube-system/web-3", "A default/web-4"));
  EXPECT_THAT(web.indexer().ListKeys(), UnorderedElementsAre("default/web-1", "kube-system/web-2",
                                                             "kube-system/web-3", "default/web-4"));
}

TEST_F(InformerTest, HandlerAddedAfterSyncGetsExistingObjectsOnce) {
  for (int i = 0; i < 3; ++i) Create(MakeConfigMap("default", absl::StrCat("cm-", i)));
  Informer informer(*client_, ConfigMaps(), InformerOptions{});
  Recorder first;
  informer.AddEventHandler(first.Handler());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(kWait));

  Recorder late;
  informer.AddEventHandler(late.Handler());
  ASSERT_TRUE(late.WaitForCount(3));
  EXPECT_THAT(late.Summaries(),
              UnorderedElementsAre("A default/cm-0", "A default/cm-1", "A default/cm-2"));

  Create(MakeConfigMap("default", "cm-3"));
  ASSERT_TRUE(WaitCaughtUp(informer));
  EXPECT_THAT(late.Summaries(3), ElementsAre("A default/cm-3", "A default/marker-1"));
  EXPECT_THAT(first.Summaries(3), ElementsAre("A default/cm-3", "A default/marker-1"));
  // Waking the thread for the new handler relisted nothing.
  EXPECT_EQ(informer.ListCount(), 1);
}

TEST_F(InformerTest, HandlersAddedWhileEventsFlowMissNothingAndSeeNothingTwice) {
  Informer informer(*client_, ConfigMaps(), Options([](InformerOptions& o) { o.page_size = 2; }));
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(kWait));
  std::thread writer([&] {
    for (int i = 0; i < 40; ++i) Create(MakeConfigMap("default", absl::StrCat("cm-", i)));
  });
  std::vector<std::unique_ptr<Recorder>> recorders;
  for (int i = 0; i < 5; ++i) {
    recorders.push_back(std::make_unique<Recorder>());
    informer.AddEventHandler(recorders.back()->Handler());
  }
  writer.join();
  ASSERT_TRUE(WaitCaughtUp(informer));
  for (auto& recorder : recorders) {
    std::vector<std::string> summaries = recorder->Summaries();
    std::set<std::string> unique(summaries.begin(), summaries.end());
    EXPECT_EQ(unique.size(), summaries.size());
    EXPECT_EQ(summaries.size(), 41u);
  }
}

// Deletes, updates and creates that happen while the informer is not
// watching, with the history compacted, reach handlers through the relist's
// difference against the cache.
TEST_F(InformerTest, RelistAfterCompactionDeliversTheDifference) {
  for (const char* name : {"a", "b", "c"}) Create(MakeConfigMap("default", name));
  ObservedClient observed(*client_);
  FakeClock clock;
  Informer informer(observed, ConfigMaps(), Options([&](InformerOptions& o) { o.clock = &clock; }));
  Recorder recorder;
  informer.AddEventHandler(recorder.Handler());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(kWait));
  ASSERT_EQ(recorder.size(), 3u);
  ObjectPtr old_a = informer.indexer().Get("default/a");
  ObjectPtr old_b = informer.indexer().Get("default/b");

  // The connection drops and cannot be made again: the informer backs off
  // on its clock.
  observed.fail_watches = true;
  informer.RestartWatchForTest();
  ASSERT_TRUE(WaitUntil([&] { return clock.Sleepers() > 0; }));
  int watches = observed.watches.load();

  Delete("default", "a");
  SetValue("default", "b", "2");
  Create(MakeConfigMap("default", "d"));
  ASSERT_TRUE(storage_->Compact(StoreRevision()).ok());

  // The backoff (100 ms on the clock) ends; the re-watch finds its revision
  // compacted and the informer lists again.
  observed.fail_watches = false;
  clock.Advance(absl::Milliseconds(100));
  ASSERT_TRUE(recorder.WaitForCount(6));
  EXPECT_GT(observed.watches.load(), watches);
  EXPECT_EQ(informer.ListCount(), 2);
  EXPECT_THAT(recorder.Summaries(3),
              UnorderedElementsAre("D default/a", "U default/b", "A default/d"));
  for (const Event& e : recorder.events()) {
    if (e.type == 'D') {
      EXPECT_EQ(e.object, old_a);
    }
    if (e.type == 'U') {
      EXPECT_EQ(e.old_object, old_b);
      EXPECT_EQ(ValueOf(e.object), "2");
    }
  }
  EXPECT_THAT(informer.indexer().ListKeys(),
              UnorderedElementsAre("default/b", "default/c", "default/d"));
  // Back to watching.
  ASSERT_TRUE(WaitCaughtUp(informer));
  EXPECT_EQ(recorder.Summaries(6), std::vector<std::string>{"A default/marker-1"});
}

TEST_F(InformerTest, FailedWatchesBackOffOnTheClockWithDoublingDelays) {
  Create(MakeConfigMap("default", "a"));
  ObservedClient observed(*client_);
  FakeClock clock;
  Informer informer(observed, ConfigMaps(), Options([&](InformerOptions& o) { o.clock = &clock; }));
  Recorder recorder;
  informer.AddEventHandler(recorder.Handler());
  observed.fail_watches = true;
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(kWait));
  ASSERT_EQ(recorder.size(), 1u);

  // First failure: waits 100 ms; second: 200 ms.
  ASSERT_TRUE(WaitUntil([&] { return clock.Sleepers() > 0 && observed.watches == 1; }));
  clock.Advance(absl::Milliseconds(99));
  ASSERT_TRUE(WaitUntil([&] { return clock.Sleepers() > 0; }));
  EXPECT_EQ(observed.watches.load(), 1);
  clock.Advance(absl::Milliseconds(1));
  ASSERT_TRUE(WaitUntil([&] { return observed.watches == 2 && clock.Sleepers() > 0; }));
  clock.Advance(absl::Milliseconds(199));
  ASSERT_TRUE(WaitUntil([&] { return clock.Sleepers() > 0; }));
  EXPECT_EQ(observed.watches.load(), 2);

  // A handler added during the backoff is served without waiting for it.
  Recorder late;
  informer.AddEventHandler(late.Handler());
  ASSERT_TRUE(late.WaitForCount(1));
  EXPECT_THAT(late.Summaries(), ElementsAre("A default/a"));
  EXPECT_EQ(observed.watches.load(), 2);

  Create(MakeConfigMap("default", "x"));
  observed.fail_watches = false;
  clock.Advance(absl::Milliseconds(1));
  ASSERT_TRUE(recorder.WaitForCount(2));
  ASSERT_TRUE(late.WaitForCount(2));
  EXPECT_THAT(recorder.Summaries(), ElementsAre("A default/a", "A default/x"));
  EXPECT_THAT(late.Summaries(), ElementsAre("A default/a", "A default/x"));
  EXPECT_EQ(observed.watches.load(), 3);
  EXPECT_EQ(informer.ListCount(), 1);  // resumed from its revision
}

TEST_F(InformerTest, ResyncDeliversUpdatesOfUnchangedObjectsOnTheClock) {
  Create(MakeConfigMap("default", "a"));
  Create(MakeConfigMap("default", "b"));
  FakeClock clock;
  Informer informer(*client_, ConfigMaps(), Options([&](InformerOptions& o) {
    o.resync_period = absl::Minutes(1);
    o.clock = &clock;
  }));
  Recorder recorder;
  informer.AddEventHandler(recorder.Handler());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(kWait));
  ASSERT_EQ(recorder.size(), 2u);

  // Not yet due: a change arrives, no resync.
  clock.Advance(absl::Seconds(59));
  ASSERT_TRUE(WaitCaughtUp(informer));
  EXPECT_THAT(recorder.Summaries(2), ElementsAre("A default/marker-1"));

  clock.Advance(absl::Seconds(1));
  ASSERT_TRUE(recorder.WaitForCount(6));
  std::vector<Event> events = recorder.events();
  std::set<std::string> resynced;
  for (size_t i = 3; i < events.size(); ++i) {
    EXPECT_EQ(events[i].type, 'U');
    EXPECT_EQ(events[i].old_object, events[i].object);
    EXPECT_EQ(informer.indexer().Get(KeyOf(events[i].object)), events[i].object);
    resynced.insert(KeyOf(events[i].object));
  }
  EXPECT_THAT(resynced, UnorderedElementsAre("default/a", "default/b", "default/marker-1"));

  // The next one is a period later.
  clock.Advance(absl::Seconds(30));
  ASSERT_TRUE(WaitCaughtUp(informer));
  EXPECT_EQ(recorder.size(), 7u);
  clock.Advance(absl::Seconds(30));
  ASSERT_TRUE(recorder.WaitForCount(11));
}

TEST_F(InformerTest, StopIsPromptAndNoHandlerRunsAfterIt) {
  Create(MakeConfigMap("default", "a"));
  auto informer = std::make_unique<Informer>(*client_, ConfigMaps(), InformerOptions{});
  std::atomic<bool> stopped{false};
  std::atomic<int> late_calls{0}, calls{0};
  informer->AddEventHandler(OnAdd([&](const ObjectPtr&) {
    ++calls;
    if (stopped) {
      ++late_calls;
    }
  }));
  informer->Start();
  ASSERT_TRUE(informer->WaitForSync(kWait));
  ASSERT_TRUE(WaitCaughtUp(*informer));

  // The thread is blocked reading an idle watch; Stop() ends it.
  absl::Time start = absl::Now();
  informer->Stop();
  stopped = true;
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  int seen = calls;
  for (int i = 0; i < 5; ++i) Create(MakeConfigMap("default", absl::StrCat("after-", i)));
  informer->Stop();   // again: nothing
  informer->Start();  // a stopped informer does not start again
  informer.reset();
  EXPECT_EQ(calls.load(), seen);
  EXPECT_EQ(late_calls.load(), 0);
}

TEST_F(InformerTest, StopFromAHandlerDoesNotDeadlock) {
  Create(MakeConfigMap("default", "a"));
  Create(MakeConfigMap("default", "b"));
  Informer informer(*client_, ConfigMaps(), InformerOptions{});
  std::atomic<int> calls{0};
  informer.AddEventHandler(OnAdd([&](const ObjectPtr&) {
    ++calls;
    informer.Stop();
  }));
  informer.Start();
  ASSERT_TRUE(WaitUntil([&] { return calls >= 1; }));
  informer.Stop();
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(InformerTest, AddIndexersFailsOnceStarted) {
  Create(MakeConfigMap("default", "a", "v", {{"tier", "fe"}}));
  Informer informer(*client_, ConfigMaps(), Options([](InformerOptions& o) {
    o.indexers = {{"tier", LabelIndex("tier")}};
  }));
  EXPECT_TRUE(informer.AddIndexers({{"app", LabelIndex("app")}}).ok());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(kWait));
  EXPECT_EQ(informer.AddIndexers({{"x", LabelIndex("x")}}).code(),
            absl::StatusCode::kFailedPrecondition);
  auto fe = informer.indexer().ByIndex("tier", "fe");
  ASSERT_TRUE(fe.ok());
  ASSERT_EQ(fe->size(), 1u);
  EXPECT_EQ(KeyOf((*fe)[0]), "default/a");
  EXPECT_TRUE(informer.indexer().ByIndex(kNamespaceIndex, "default").ok());
}

// The consistency requirement: under concurrent random writes and a
// forced relist after compaction, the cache and the state kept by handlers
// end equal to the store.
TEST_F(InformerTest, CacheAndHandlerStateEqualTheStoreUnderConcurrentWritesAndRelist) {
  constexpr int kNames = 24;
  constexpr int kWriters = 4;
  constexpr int kOpsPerPhase = 300;

  Informer informer(*client_, ConfigMaps(), Options([](InformerOptions& o) { o.page_size = 5; }));
  // State maintained only from handler callbacks, checked as it goes.
  absl::Mutex mu;
  std::map<std::string, std::pair<std::string, std::string>> tracked;  // key -> (rv, value)
  int violations = 0;
  informer.AddEventHandler({
      .on_add =
          [&](const ObjectPtr& o) {
            absl::MutexLock l(&mu);
            auto [it, inserted] = tracked.emplace(
                KeyOf(o), std::make_pair(AsConfigMap(o).metadata().resource_version(), ValueOf(o)));
            if (!inserted) ++violations;
          },
      .on_update =
          [&](const ObjectPtr& old_object, const ObjectPtr& o) {
            absl::MutexLock l(&mu);
            auto it = tracked.find(KeyOf(o));
            if (it == tracked.end() ||
                it->second.first != AsConfigMap(old_object).metadata().resource_version() ||
                Revision(AsConfigMap(o).metadata().resource_version()) <=
                    Revision(it->second.first)) {
              ++violations;
            }
            tracked[KeyOf(o)] = {AsConfigMap(o).metadata().resource_version(), ValueOf(o)};
          },
      .on_delete =
          [&](const ObjectPtr& o) {
            absl::MutexLock l(&mu);
            if (tracked.erase(KeyOf(o)) != 1) ++violations;
          },
  });
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(kWait));

  std::atomic<int> writes{0};
  auto run_writers = [&](int phase) {
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back([&, w] {
        std::mt19937 rng(1000 * phase + w);
        for (int op = 0; op < kOpsPerPhase; ++op) {
          std::string name = absl::StrCat("cm-", rng() % kNames);
          std::string value = absl::StrCat(phase, "-", w, "-", op);
          switch (rng() % 3) {
            case 0:
              if (client_->Create(MakeConfigMap("default", name, value)).ok()) ++writes;
              break;
            case 1: {
              auto got = client_->Get<api::ConfigMap>("default", name);
              if (!got.ok()) break;
              api::ConfigMap cm = **got;
              (*cm.mutable_data())["value"] = value;
              if (client_->Update(cm).ok()) ++writes;  // conflicts are fine
              break;
            }
            default:
              if (client_->Delete(ConfigMaps(), "default", name).ok()) ++writes;
              break;
          }
        }
      });
    }
    for (std::thread& t : writers) t.join();
  };

  run_writers(1);
  // Changes of another kind move the store past the informer's revision, so
  // compacting at the current revision drops the revision it watches from.
  for (int i = 0; i < 2; ++i) {
    api::Secret secret;
    secret.mutable_metadata()->set_namespace_("default");
    secret.mutable_metadata()->set_name(absl::StrCat("s-", i));
    ASSERT_TRUE(client_->Create(secret).ok());
  }
  ASSERT_TRUE(storage_->Compact(StoreRevision()).ok());
  // The dropped watch's re-watch fails as too old; the relist runs while
  // the second phase writes.
  informer.RestartWatchForTest();
  run_writers(2);
  // Enough writes succeeded for the test to mean something.
  EXPECT_GT(writes.load(), kWriters * kOpsPerPhase / 2);

  ASSERT_TRUE(WaitCaughtUp(informer));
  EXPECT_GE(informer.ListCount(), 2);

  auto listed = client_->List(ConfigMaps(), "", {});
  ASSERT_TRUE(listed.ok()) << listed.status();
  std::map<std::string, std::string> want;  // key -> serialized object
  for (const ObjectPtr& o : listed->items) want[KeyOf(o)] = o->SerializeAsString();
  std::map<std::string, std::string> cached;
  for (const ObjectPtr& o : informer.indexer().List()) cached[KeyOf(o)] = o->SerializeAsString();
  EXPECT_EQ(cached.size(), want.size());
  EXPECT_TRUE(cached == want);

  absl::MutexLock l(&mu);
  EXPECT_EQ(violations, 0);
  std::map<std::string, std::pair<std::string, std::string>> want_tracked;
  for (const ObjectPtr& o : listed->items) {
    want_tracked[KeyOf(o)] = {AsConfigMap(o).metadata().resource_version(), ValueOf(o)};
  }
  EXPECT_TRUE(tracked == want_tracked);
}

TEST_F(InformerTest, FactorySharesOneInformerPerKindAndListersRead) {
  Create(MakeConfigMap("default", "web", "v", {{"app", "web"}}));
  Create(MakeConfigMap("default", "db", "v", {{"app", "db"}}));
  Create(MakeConfigMap("kube-system", "web", "v", {{"app", "web"}}));

  SharedInformerFactory::Options factory_options;
  factory_options.namespace_ = "default";
  SharedInformerFactory factory(*client_, factory_options);
  Informer& configmaps = factory.For<api::ConfigMap>();
  EXPECT_EQ(&factory.ForKind(ConfigMaps()), &configmaps);
  Informer& namespaces = factory.For<api::Namespace>();
  EXPECT_NE(static_cast<void*>(&namespaces), static_cast<void*>(&configmaps));
  factory.Start();
  ASSERT_TRUE(factory.WaitForCacheSync(kWait));
  EXPECT_TRUE(configmaps.HasSynced());

  // The namespace restriction applies to namespaced kinds only.
  Lister<api::ConfigMap> lister(configmaps);
  EXPECT_EQ(lister.Get("kube-system", "web"), nullptr);
  auto web = lister.Get("default", "web");
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->metadata().labels().at("app"), "web");
  auto selector = api::Selector::Parse("app=web");
  ASSERT_TRUE(selector.ok());
  EXPECT_EQ(lister.List("default", *selector).size(), 1u);
  EXPECT_EQ(lister.List("", *selector).size(), 1u);
  EXPECT_EQ(lister.List("default").size(), 2u);
  Lister<api::Namespace> ns_lister(namespaces);
  EXPECT_NE(ns_lister.Get("", "kube-system"), nullptr);

  // Made after Start: started at once.
  Informer& secrets = factory.For<api::Secret>();
  EXPECT_TRUE(secrets.WaitForSync(kWait));
  EXPECT_TRUE(factory.WaitForCacheSync(kWait));
  factory.Stop();
}

}  // namespace
}  // namespace korch::client
