#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "korch/scheduler/framework.h"
#include "scheduler/plugins/plugins.h"
#include "tests/scheduler/fake_handle.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace korch::scheduler {
namespace {

using ::testing::ElementsAre;
using testing::FakeHandle;
using testing::MakeNode;
using testing::MakePod;

constexpr int64_t kMiB = 1024 * 1024;

// `images` as the cache would set them: name -> (size, nodes that have it).
std::shared_ptr<NodeInfo> NodeWithImages(
    const std::string& name, const std::vector<std::pair<std::string, ImageStateSummary>>& images) {
  auto node = MakeNode(name).Info();
  absl::flat_hash_map<std::string, ImageStateSummary> states;
  for (const auto& [image, state] : images) states[image] = state;
  node->SetImageStates(std::move(states));
  return node;
}

TEST(ImageLocalityTest, ScoresImageSizesScaledBySpread) {
  ImageStateSummary big_on_one{250 * kMiB, 1};
  ImageStateSummary big_everywhere{250 * kMiB, 4};
  ImageStateSummary small{10 * kMiB, 1};
  ImageStateSummary huge{4000 * kMiB, 4};
  FakeHandle handle;
  handle.SetNodes({
      NodeWithImages("n0", {}),
      NodeWithImages("n1", {{"nginx:1.0", big_on_one}}),
      NodeWithImages("n2", {{"redis:latest", big_everywhere}, {"tiny:1", small}}),
      NodeWithImages("n3", {{"nginx:1.0", huge}, {"redis:latest", big_everywhere}}),
  });
  auto plugin = plugins::NewImageLocality("", handle);
  ASSERT_TRUE(plugin.ok()) << plugin.status();

  // 250 MiB on 1 of 4 nodes -> 62.5 MiB: 100 * (62.5 - 23) / (1000 - 23) = 4.
  // 4000 MiB everywhere is over the 1000 MiB per container maximum: 100.
  EXPECT_THAT(handle.ScoreThrough(**plugin, *MakePod("ns", "p").Image("nginx:1.0").Info()),
              ElementsAre(0, 4, 0, 100));
  // An untagged image is ":latest"; 250 MiB on every node: 23.
  EXPECT_THAT(handle.ScoreThrough(**plugin, *MakePod("ns", "p").Image("redis").Info()),
              ElementsAre(0, 0, 23, 23));
  // Below the 23 MiB threshold scores 0.
  EXPECT_THAT(handle.ScoreThrough(**plugin, *MakePod("ns", "p").Image("tiny:1").Info()),
              ElementsAre(0, 0, 0, 0));
  // Two containers: the maximum is 2000 MiB; n3 has 4000 + 250 MiB -> 100,
  // n2 250 MiB -> 100 * (250 - 23) / (2000 - 23) = 11.
  MakePod two("ns", "p");
  two.Image("nginx:1.0");
  api::Container* sidecar = two->mutable_spec()->add_containers();
  sidecar->set_name("sidecar");
  sidecar->set_image("redis");
  EXPECT_THAT(handle.ScoreThrough(**plugin, *two.Info()), ElementsAre(0, 1, 11, 100));
}

TEST(ImageLocalityTest, ImageWithRegistryPortIsNotATag) {
  FakeHandle handle;
  handle.SetNodes({NodeWithImages("n0", {{"registry:5000/app:latest", {500 * kMiB, 1}}})});
  auto plugin = plugins::NewImageLocality("", handle);
  ASSERT_TRUE(plugin.ok());
  // 100 * (500 - 23) / 977 = 48.
  EXPECT_THAT(handle.ScoreThrough(**plugin, *MakePod("ns", "p").Image("registry:5000/app").Info()),
              ElementsAre(48));
}

}  // namespace
}  // namespace korch::scheduler
