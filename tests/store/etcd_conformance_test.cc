// The storage conformance suite against a real etcd: one single-member etcd
// for the whole suite, each test under its own key prefix.
#include <atomic>

#include "absl/strings/str_cat.h"
#include "tests/store/conformance.h"
#include "tests/store/etcd_process.h"

namespace korch::store {
namespace {

std::atomic<bool> etcd_started{false};

testutil::EtcdProcess* SharedEtcd() {
  static testutil::EtcdProcess* etcd = [] {
    etcd_started = true;
    auto* e = new testutil::EtcdProcess();
    absl::Status s = e->Start(1);
    if (!s.ok()) {
      ADD_FAILURE() << "etcd did not start: " << s;
      delete e;
      return static_cast<testutil::EtcdProcess*>(nullptr);
    }
    return e;
  }();
  return etcd;
}

// Stops the shared etcd when the test program ends.
class StopEtcd : public testing::Environment {
 public:
  void TearDown() override {
    if (!etcd_started) return;  // this process ran no etcd test
    if (auto* e = SharedEtcd()) e->Stop();
  }
};
const auto* const kStopEtcd = testing::AddGlobalTestEnvironment(new StopEtcd);

INSTANTIATE_TEST_SUITE_P(Etcd, StorageConformanceTest,
                         testing::Values(BackendFactory{
                             "Etcd",
                             [](size_t max_value) -> std::unique_ptr<Storage> {
                               static std::atomic<int> n{0};
                               testutil::EtcdProcess* etcd = SharedEtcd();
                               if (etcd == nullptr) return nullptr;
                               EtcdStorageOptions o;
                               o.endpoints = etcd->ClientEndpoints();
                               o.key_prefix = absl::StrCat("/conformance/", n++, "/");
                               o.max_value_bytes = max_value;
                               auto s = OpenEtcdStorage(o);
                               EXPECT_TRUE(s.ok()) << s.status();
                               return s.ok() ? *std::move(s) : nullptr;
                             }}),
                         BackendName);

}  // namespace
}  // namespace korch::store
