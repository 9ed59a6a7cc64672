#include "apiserver/service_allocator.h"

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "apiserver/storage_layout.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/api/core.pb.h"
#include "korch/api/scheme.h"
#include "korch/store.h"

namespace korch::apiserver::internal {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr char kIpKey[] = "/registry/ranges/serviceips";
constexpr char kPortKey[] = "/registry/ranges/servicenodeports";

std::unique_ptr<store::Storage> MemoryStore() {
  auto storage = store::OpenMemoryStorage();
  EXPECT_TRUE(storage.ok()) << storage.status();
  return *std::move(storage);
}

std::unique_ptr<ServiceAllocator> MustCreate(store::Storage* storage,
                                             const std::string& cidr = "10.96.0.0/12",
                                             int port_min = 30000, int port_max = 32767) {
  auto allocator = ServiceAllocator::Create(storage, cidr, port_min, port_max);
  EXPECT_TRUE(allocator.ok()) << allocator.status();
  return *std::move(allocator);
}

void ExpectError(const absl::Status& status, absl::StatusCode code, const std::string& text) {
  EXPECT_EQ(status.code(), code) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(text));
}

// A temporary directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "korch-alloc-XXXXXX").string();
    path_ = mkdtemp(templ.data()) != nullptr ? templ : "";
    EXPECT_FALSE(path_.empty());
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

api::Service MakeService(const std::string& ns, const std::string& name,
                         const std::vector<std::string>& ips, const std::vector<int>& node_ports,
                         int health_check_node_port = 0) {
  api::Service service;
  service.mutable_metadata()->set_namespace_(ns);
  service.mutable_metadata()->set_name(name);
  if (!ips.empty()) service.mutable_spec()->set_cluster_ip(ips[0]);
  for (const std::string& ip : ips) service.mutable_spec()->add_cluster_ips(ip);
  for (int port : node_ports) {
    api::ServicePort* p = service.mutable_spec()->add_ports();
    p->set_port(80);
    p->set_node_port(port);
  }
  if (health_check_node_port != 0) {
    service.mutable_spec()->set_health_check_node_port(health_check_node_port);
  }
  return service;
}

void PutService(store::Storage& storage, const api::Service& service) {
  const api::KindInfo* kind = api::Scheme::Builtin().Find(api::Service::descriptor());
  ASSERT_NE(kind, nullptr);
  auto rev =
      storage.Create(ObjectKey(*kind, service.metadata().namespace_(), service.metadata().name()),
                     EncodeStored(service));
  ASSERT_TRUE(rev.ok()) << rev.status();
}

TEST(ServiceAllocatorTest, CreateRejectsBadRanges) {
  auto storage = MemoryStore();
  struct Case {
    std::string cidr;
    std::string text;
  };
  const std::vector<Case> cases = {
      {"10.96.0.0", "invalid CIDR address"},
      {"10.96.0.0/33", "prefix length"},
      {"10.96.0.0/", "prefix length"},
      {"10.300.0.0/16", "not a valid IPv4 address"},
      {"", "invalid CIDR address"},
      {"fd00::/108", "only IPv4"},
      {"10.0.0.0/8",
       "specified --service-cluster-ip-range is too large; for 32-bit addresses, the mask must be "
       ">= 12"},
      {"10.0.0.0/31", "specified --service-cluster-ip-range is too small"},
  };
  for (const Case& c : cases) {
    auto allocator = ServiceAllocator::Create(storage.get(), c.cidr, 30000, 32767);
    ExpectError(allocator.status(), absl::StatusCode::kInvalidArgument, c.text);
  }
  for (auto [min, max] : std::vector<std::pair<int, int>>{{0, 100}, {32767, 30000}, {1, 70000}}) {
    auto allocator = ServiceAllocator::Create(storage.get(), "10.96.0.0/12", min, max);
    ExpectError(allocator.status(), absl::StatusCode::kInvalidArgument,
                "invalid service node port range");
  }
  EXPECT_TRUE(ServiceAllocator::Create(storage.get(), "10.0.0.0/12", 1, 65535).ok());
  EXPECT_TRUE(ServiceAllocator::Create(storage.get(), "10.0.0.0/30", 30000, 30000).ok());
}

TEST(ServiceAllocatorTest, HostBitsInTheRangeNameItsNetwork) {
  auto storage = MemoryStore();
  auto allocator = MustCreate(storage.get(), "10.96.7.9/16");
  ExpectError(allocator->AllocateIP("10.97.0.1").status(), absl::StatusCode::kInvalidArgument,
              "The range of valid IPs is 10.96.0.0/16");
}

TEST(ServiceAllocatorTest, AllocatesRequestedIPOnce) {
  auto storage = MemoryStore();
  auto allocator = MustCreate(storage.get());
  auto ip = allocator->AllocateIP("10.96.0.10");
  ASSERT_TRUE(ip.ok()) << ip.status();
  EXPECT_EQ(*ip, "10.96.0.10");
  ExpectError(allocator->AllocateIP("10.96.0.10").status(), absl::StatusCode::kAlreadyExists,
              "provided IP is already allocated");
  // The kubernetes Service's address can be had on request.
  EXPECT_EQ(allocator->AllocateIP("10.96.0.1").value_or(""), "10.96.0.1");
}

TEST(ServiceAllocatorTest, RefusesAddressesOutsideTheRangeAndMalformedOnes) {
  auto storage = MemoryStore();
  auto allocator = MustCreate(storage.get());
  ExpectError(allocator->AllocateIP("10.112.0.1").status(), absl::StatusCode::kInvalidArgument,
              "provided IP (10.112.0.1) is not in the valid range. The range of valid IPs is "
              "10.96.0.0/12");
  // Network and broadcast addresses.
  ExpectError(allocator->AllocateIP("10.96.0.0").status(), absl::StatusCode::kInvalidArgument,
              "is not in the valid range");
  ExpectError(allocator->AllocateIP("10.111.255.255").status(), absl::StatusCode::kInvalidArgument,
              "is not in the valid range");
  ExpectError(allocator->AllocateIP("fd00::1").status(), absl::StatusCode::kInvalidArgument,
              "is not in the valid range");
  for (const char* bad : {"10.96.0.x", "10.96.0", "10.96.0.256", "10.96.00.1", " 10.96.0.1"}) {
    ExpectError(allocator->AllocateIP(bad).status(), absl::StatusCode::kInvalidArgument,
                "not a valid IP");
  }
  auto free = allocator->FreeIPs();
  ASSERT_TRUE(free.ok()) << free.status();
  EXPECT_EQ(*free, (1 << 20) - 2);
}

TEST(ServiceAllocatorTest, AnyIPSkipsTheKubernetesAddressAndRunsOut) {
  auto storage = MemoryStore();
  auto allocator = MustCreate(storage.get(), "192.168.1.0/29");
  std::set<std::string> got;
  for (int i = 0; i < 5; ++i) {
    auto ip = allocator->AllocateIP("");
    ASSERT_TRUE(ip.ok()) << ip.status();
    got.insert(*ip);
  }
  EXPECT_THAT(got, UnorderedElementsAre("192.168.1.2", "192.168.1.3", "192.168.1.4", "192.168.1.5",
                                        "192.168.1.6"));
  ExpectError(allocator->AllocateIP("").status(), absl::StatusCode::kResourceExhausted,
              "range is full");
  // Only the reserved address is left, and it is free.
  EXPECT_EQ(allocator->FreeIPs().value_or(-1), 1);
  EXPECT_EQ(allocator->AllocateIP("192.168.1.1").value_or(""), "192.168.1.1");
  EXPECT_EQ(allocator->FreeIPs().value_or(-1), 0);

  ASSERT_TRUE(allocator->ReleaseIP("192.168.1.4").ok());
  EXPECT_EQ(allocator->FreeIPs().value_or(-1), 1);
  EXPECT_EQ(allocator->AllocateIP("").value_or(""), "192.168.1.4");
  ExpectError(allocator->AllocateIP("").status(), absl::StatusCode::kResourceExhausted,
              "range is full");
}

TEST(ServiceAllocatorTest, ReleaseOfFreeOrForeignEntriesIsNoError) {
  auto storage = MemoryStore();
  auto allocator = MustCreate(storage.get());
  EXPECT_TRUE(allocator->ReleaseIP("10.96.0.50").ok());
  EXPECT_TRUE(allocator->ReleaseIP("1.2.3.4").ok());
  EXPECT_TRUE(allocator->ReleaseIP("None").ok());
  EXPECT_TRUE(allocator->ReleaseIP("").ok());
  EXPECT_TRUE(allocator->ReleasePort(31000).ok());
  EXPECT_TRUE(allocator->ReleasePort(80).ok());
  EXPECT_TRUE(allocator->ReleasePort(-1).ok());
  // Releasing twice frees once.
  ASSERT_TRUE(allocator->AllocateIP("10.96.0.50").ok());
  EXPECT_TRUE(allocator->ReleaseIP("10.96.0.50").ok());
  EXPECT_TRUE(allocator->ReleaseIP("10.96.0.50").ok());
  EXPECT_EQ(allocator->FreeIPs().value_or(-1), (1 << 20) - 2);
}

TEST(ServiceAllocatorTest, NodePorts) {
  auto storage = MemoryStore();
  auto allocator = MustCreate(storage.get(), "10.96.0.0/24", 30000, 30004);
  EXPECT_EQ(allocator->AllocatePort(30002).value_or(0), 30002);
  ExpectError(allocator->AllocatePort(30002).status(), absl::StatusCode::kAlreadyExists,
              "provided port is already allocated");
  for (int bad : {29999, 30005, 80, -5}) {
    ExpectError(allocator->AllocatePort(bad).status(), absl::StatusCode::kInvalidArgument,
                "provided port is not in the valid range. The range of valid ports is "
                "30000-30004");
  }
  std::set<int> got = {30002};
  for (int i = 0; i < 4; ++i) {
    auto port = allocator->AllocatePort(0);
    ASSERT_TRUE(port.ok()) << port.status();
    got.insert(*port);
  }
  EXPECT_THAT(got, UnorderedElementsAre(30000, 30001, 30002, 30003, 30004));
  ExpectError(allocator->AllocatePort(0).status(), absl::StatusCode::kResourceExhausted,
              "range is full");
  EXPECT_EQ(allocator->FreePorts().value_or(-1), 0);
  ASSERT_TRUE(allocator->ReleasePort(30000).ok());
  EXPECT_EQ(allocator->FreePorts().value_or(-1), 1);
  EXPECT_EQ(allocator->AllocatePort(0).value_or(0), 30000);
}

TEST(ServiceAllocatorTest, AllocationsSurviveReopeningTheStore) {
  TempDir dir;
  store::RocksDbStorageOptions options;
  options.path = dir.path();
  {
    auto storage = store::OpenRocksDbStorage(options);
    ASSERT_TRUE(storage.ok()) << storage.status();
    auto allocator = MustCreate(storage->get(), "10.96.0.0/24");
    ASSERT_TRUE(allocator->AllocateIP("10.96.0.10").ok());
    ASSERT_TRUE(allocator->AllocateIP("").ok());
    ASSERT_TRUE(allocator->AllocatePort(31000).ok());
  }
  auto storage = store::OpenRocksDbStorage(options);
  ASSERT_TRUE(storage.ok()) << storage.status();
  auto allocator = MustCreate(storage->get(), "10.96.0.0/24");
  EXPECT_EQ(allocator->FreeIPs().value_or(-1), 254 - 2);
  EXPECT_EQ(allocator->FreePorts().value_or(-1), 2768 - 1);
  ExpectError(allocator->AllocateIP("10.96.0.10").status(), absl::StatusCode::kAlreadyExists,
              "already allocated");
  ExpectError(allocator->AllocatePort(31000).status(), absl::StatusCode::kAlreadyExists,
              "already allocated");
}

TEST(ServiceAllocatorTest, StoredMapIsCompact) {
  auto storage = MemoryStore();
  auto allocator = MustCreate(storage.get());  // a /12: 128 KiB as a plain bitmap
  ASSERT_TRUE(allocator->AllocateIP("10.100.0.7").ok());
  ASSERT_TRUE(allocator->AllocateIP("10.96.0.1").ok());
  auto kv = storage->Get(kIpKey);
  ASSERT_TRUE(kv.ok()) << kv.status();
  EXPECT_LT(kv->value.size(), 100u);
  EXPECT_THAT(kv->value, ::testing::StartsWith("korch-range/v1 10.96.0.0/12 "));
}

TEST(ServiceAllocatorTest, SecondAllocatorSeesTheFirstOnesAllocations) {
  auto storage = MemoryStore();
  auto a = MustCreate(storage.get(), "10.96.0.0/24");
  auto b = MustCreate(storage.get(), "10.96.0.0/24");
  // Both have read the maps before either changes them.
  ASSERT_TRUE(a->AllocateIP("10.96.0.5").ok());
  ASSERT_TRUE(b->AllocateIP("10.96.0.6").ok());
  ASSERT_TRUE(a->AllocatePort(30005).ok());
  ASSERT_TRUE(b->AllocatePort(30006).ok());

  ExpectError(a->AllocateIP("10.96.0.6").status(), absl::StatusCode::kAlreadyExists,
              "already allocated");
  ExpectError(b->AllocateIP("10.96.0.5").status(), absl::StatusCode::kAlreadyExists,
              "already allocated");
  ExpectError(a->AllocatePort(30006).status(), absl::StatusCode::kAlreadyExists,
              "already allocated");
  // A release through one server frees the entry for the other.
  ASSERT_TRUE(b->ReleaseIP("10.96.0.5").ok());
  EXPECT_EQ(a->AllocateIP("10.96.0.5").value_or(""), "10.96.0.5");
  ASSERT_TRUE(a->ReleasePort(30006).ok());
  EXPECT_EQ(b->AllocatePort(30006).value_or(0), 30006);
  EXPECT_EQ(a->FreeIPs().value_or(-1), 252);
  EXPECT_EQ(b->FreeIPs().value_or(-1), 252);
}

TEST(ServiceAllocatorTest, ConcurrentAllocatorsNeverHandOutAnEntryTwice) {
  auto storage = MemoryStore();
  auto a = MustCreate(storage.get(), "10.96.0.0/24", 30000, 30199);
  auto b = MustCreate(storage.get(), "10.96.0.0/24", 30000, 30199);
  constexpr int kThreads = 4;
  constexpr int kEach = 40;
  absl::Mutex mu;
  std::vector<std::string> ips;
  std::vector<int> ports;
  std::vector<absl::Status> errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    ServiceAllocator* allocator = (t % 2 == 0 ? a : b).get();
    threads.emplace_back([&, allocator] {
      for (int i = 0; i < kEach; ++i) {
        auto ip = allocator->AllocateIP("");
        auto port = allocator->AllocatePort(0);
        absl::MutexLock lock(&mu);
        if (ip.ok()) {
          ips.push_back(*ip);
        } else {
          errors.push_back(ip.status());
        }
        if (port.ok()) {
          ports.push_back(*port);
        } else {
          errors.push_back(port.status());
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_EQ(ips.size(), kThreads * kEach);
  EXPECT_EQ(std::set<std::string>(ips.begin(), ips.end()).size(), ips.size());
  EXPECT_EQ(std::set<int>(ports.begin(), ports.end()).size(), ports.size());
  EXPECT_EQ(a->FreeIPs().value_or(-1), 254 - kThreads * kEach);
  EXPECT_EQ(b->FreePorts().value_or(-1), 200 - kThreads * kEach);
}

TEST(ServiceAllocatorTest, ConcurrentRequestsForOneAddressHaveOneWinner) {
  auto storage = MemoryStore();
  auto a = MustCreate(storage.get(), "10.96.0.0/24");
  auto b = MustCreate(storage.get(), "10.96.0.0/24");
  constexpr int kRounds = 20;
  for (int round = 1; round <= kRounds; ++round) {
    const std::string ip = absl::StrCat("10.96.0.", round + 1);
    absl::StatusOr<std::string> results[2];
    std::thread ta([&] { results[0] = a->AllocateIP(ip); });
    std::thread tb([&] { results[1] = b->AllocateIP(ip); });
    ta.join();
    tb.join();
    EXPECT_NE(results[0].ok(), results[1].ok()) << ip;
    for (const auto& r : results) {
      if (!r.ok()) {
        EXPECT_EQ(r.status().code(), absl::StatusCode::kAlreadyExists) << r.status();
      }
    }
  }
}

TEST(ServiceAllocatorTest, ChangedRangeKeepsAllocationsThatStillFit) {
  auto storage = MemoryStore();
  {
    auto wide = MustCreate(storage.get(), "10.96.0.0/24", 30000, 30100);
    ASSERT_TRUE(wide->AllocateIP("10.96.0.10").ok());
    ASSERT_TRUE(wide->AllocateIP("10.96.0.200").ok());
    ASSERT_TRUE(wide->AllocatePort(30010).ok());
    ASSERT_TRUE(wide->AllocatePort(30090).ok());
  }
  auto narrow = MustCreate(storage.get(), "10.96.0.0/25", 30050, 30100);
  ExpectError(narrow->AllocateIP("10.96.0.10").status(), absl::StatusCode::kAlreadyExists,
              "already allocated");
  EXPECT_EQ(narrow->FreeIPs().value_or(-1), 126 - 1);
  ExpectError(narrow->AllocatePort(30090).status(), absl::StatusCode::kAlreadyExists,
              "already allocated");
  EXPECT_EQ(narrow->FreePorts().value_or(-1), 51 - 1);
  // The next write stores the configured range.
  ASSERT_TRUE(narrow->AllocateIP("10.96.0.11").ok());
  ASSERT_TRUE(narrow->AllocatePort(30051).ok());
  EXPECT_THAT(storage->Get(kIpKey)->value, ::testing::StartsWith("korch-range/v1 10.96.0.0/25 "));
  EXPECT_THAT(storage->Get(kPortKey)->value, ::testing::StartsWith("korch-range/v1 30050-30100 "));

  // Moving to another network keeps only what overlaps.
  auto moved = MustCreate(storage.get(), "10.96.0.0/30");
  EXPECT_EQ(moved->FreeIPs().value_or(-1), 2);
}

TEST(ServiceAllocatorTest, RepairRebuildsBothMapsFromServices) {
  auto storage = MemoryStore();
  auto allocator = MustCreate(storage.get(), "10.96.0.0/24");
  // Leaked: allocated, but no Service uses them.
  ASSERT_TRUE(allocator->AllocateIP("10.96.0.99").ok());
  ASSERT_TRUE(allocator->AllocatePort(30099).ok());
  // Missing: Services use them, but the maps do not say so.
  PutService(*storage, MakeService("default", "web", {"10.96.0.10"}, {30010}));
  PutService(*storage, MakeService("default", "headless", {"None"}, {}));
  PutService(*storage, MakeService("prod", "lb", {"10.96.0.20", "fd00::20"}, {30020, 30021},
                                   /*health_check_node_port=*/30022));
  PutService(*storage, MakeService("prod", "outside", {"10.200.0.1"}, {8080}));
  PutService(*storage, MakeService("kube-system", "external", {}, {}));

  // Repair through another API server, so that `allocator` has stale maps.
  auto other = MustCreate(storage.get(), "10.96.0.0/24");
  ASSERT_TRUE(other->Repair().ok());

  EXPECT_EQ(allocator->FreeIPs().value_or(-1), 254 - 2);
  EXPECT_EQ(allocator->FreePorts().value_or(-1), 2768 - 4);
  ExpectError(allocator->AllocateIP("10.96.0.10").status(), absl::StatusCode::kAlreadyExists,
              "already allocated");
  ExpectError(allocator->AllocateIP("10.96.0.20").status(), absl::StatusCode::kAlreadyExists,
              "already allocated");
  for (int port : {30010, 30020, 30021, 30022}) {
    ExpectError(allocator->AllocatePort(port).status(), absl::StatusCode::kAlreadyExists,
                "already allocated");
  }
  EXPECT_EQ(allocator->AllocateIP("10.96.0.99").value_or(""), "10.96.0.99");
  EXPECT_EQ(allocator->AllocatePort(30099).value_or(0), 30099);
}

TEST(ServiceAllocatorTest, RepairWithManyServicesAndNoMaps) {
  auto storage = MemoryStore();
  // More Services than one page of the repair's read.
  for (int i = 0; i < 1200; ++i) {
    PutService(*storage,
               MakeService(absl::StrCat("ns", i % 7), absl::StrCat("svc", i),
                           {absl::StrCat("10.96.", 1 + i / 250, ".", 1 + i % 250)}, {30000 + i}));
  }
  auto allocator = MustCreate(storage.get());
  ASSERT_TRUE(allocator->Repair().ok());
  EXPECT_EQ(allocator->FreeIPs().value_or(-1), (1 << 20) - 2 - 1200);
  EXPECT_EQ(allocator->FreePorts().value_or(-1), 2768 - 1200);
  ExpectError(allocator->AllocateIP("10.96.4.200").status(), absl::StatusCode::kAlreadyExists,
              "already allocated");
}

TEST(ServiceAllocatorTest, RepairReplacesACorruptMap) {
  auto storage = MemoryStore();
  ASSERT_TRUE(storage->Create(kIpKey, "garbage").ok());
  ASSERT_TRUE(storage->Create(kPortKey, "korch-range/v1 30000-32767 zrle\n\xff\xff\xff").ok());
  auto allocator = MustCreate(storage.get());
  EXPECT_EQ(allocator->AllocateIP("").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(allocator->AllocatePort(0).status().code(), absl::StatusCode::kDataLoss);
  PutService(*storage, MakeService("default", "web", {"10.96.0.10"}, {30010}));
  ASSERT_TRUE(allocator->Repair().ok());
  EXPECT_EQ(allocator->FreeIPs().value_or(-1), (1 << 20) - 3);
  ExpectError(allocator->AllocatePort(30010).status(), absl::StatusCode::kAlreadyExists,
              "already allocated");
}

}  // namespace
}  // namespace korch::apiserver::internal
