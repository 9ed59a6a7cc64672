#include "korch/scheduler/registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "scheduler/plugins/plugins.h"

namespace korch::scheduler {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(RegistryTest, DuplicateNameIsAlreadyExists) {
  Registry r;
  ASSERT_TRUE(r.Register("A", plugins::NewPrioritySort).ok());
  absl::Status s = r.Register("A", plugins::NewDefaultBinder);
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(s.message(), HasSubstr("\"A\""));
}

TEST(RegistryTest, FindNamesAndUnregister) {
  Registry r;
  ASSERT_TRUE(r.Register("B", plugins::NewDefaultBinder).ok());
  ASSERT_TRUE(r.Register("A", plugins::NewPrioritySort).ok());
  EXPECT_THAT(r.Names(), ElementsAre("A", "B"));
  EXPECT_NE(r.Find("A"), nullptr);
  EXPECT_EQ(r.Find("C"), nullptr);
  EXPECT_TRUE(r.Unregister("A").ok());
  EXPECT_EQ(r.Unregister("A").code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.Names(), ElementsAre("B"));
}

TEST(RegistryTest, MergeWithADuplicateAddsNothing) {
  Registry a;
  ASSERT_TRUE(a.Register("A", plugins::NewPrioritySort).ok());
  Registry b;
  ASSERT_TRUE(b.Register("B", plugins::NewDefaultBinder).ok());
  ASSERT_TRUE(b.Register("A", plugins::NewPrioritySort).ok());
  EXPECT_EQ(a.Merge(b).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(a.Names(), ElementsAre("A"));
  Registry c;
  ASSERT_TRUE(c.Register("C", plugins::NewDefaultBinder).ok());
  EXPECT_TRUE(a.Merge(c).ok());
  EXPECT_THAT(a.Names(), ElementsAre("A", "C"));
}

TEST(RegistryTest, InTreeRegistryHasTheQueueAndBinderPlugins) {
  Registry r = NewInTreeRegistry();
  EXPECT_NE(r.Find(names::kPrioritySort), nullptr);
  EXPECT_NE(r.Find(names::kSchedulingGates), nullptr);
  EXPECT_NE(r.Find(names::kDefaultBinder), nullptr);
}

}  // namespace
}  // namespace korch::scheduler
