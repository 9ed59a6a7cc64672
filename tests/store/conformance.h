// The storage conformance suite: every backend must pass it. A backend
// instantiates it with INSTANTIATE_TEST_SUITE_P(Name, StorageConformanceTest,
// testing::Values(BackendFactory{...})).
#ifndef KORCH_TESTS_STORE_CONFORMANCE_H_
#define KORCH_TESTS_STORE_CONFORMANCE_H_

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "gtest/gtest.h"
#include "korch/store.h"

namespace korch::store {

struct BackendFactory {
  std::string name;
  // Returns a new, empty storage. `max_value_bytes` is the size limit the
  // backend must enforce. Called once per test.
  std::function<std::unique_ptr<Storage>(size_t max_value_bytes)> open;
};

// Test names and failure messages show the backend's name.
inline void PrintTo(const BackendFactory& f, std::ostream* os) { *os << f.name; }

inline std::string BackendName(const testing::TestParamInfo<BackendFactory>& info) {
  return info.param.name;
}

class StorageConformanceTest : public testing::TestWithParam<BackendFactory> {
 protected:
  static constexpr size_t kMaxValue = 64 * 1024;
  void SetUp() override {
    store_ = GetParam().open(kMaxValue);
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override { store_.reset(); }
  std::unique_ptr<Storage> store_;
};

}  // namespace korch::store

#endif  // KORCH_TESTS_STORE_CONFORMANCE_H_
