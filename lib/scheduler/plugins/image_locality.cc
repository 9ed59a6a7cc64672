// ImageLocality: prefers nodes that already have the pod's container
// images, weighting each image's size by the fraction of nodes that have it
// (so that an image present everywhere does not pull every pod to one
// place), with Kubernetes' thresholds: below 23 MiB in total scores 0, the
// maximum is reached at 1000 MiB per container.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "korch/base/status.h"
#include "korch/scheduler/registry.h"
#include "scheduler/plugins/node_plugin_util.h"
#include "scheduler/plugins/plugins.h"

namespace korch::scheduler::plugins {
namespace {

constexpr int64_t kMiB = 1024 * 1024;
constexpr int64_t kMinThreshold = 23 * kMiB;
constexpr int64_t kMaxContainerThreshold = 1000 * kMiB;

// An image without a tag (after the last '/') means ":latest", as node
// status reports it.
std::string NormalizedImageName(const std::string& name) {
  size_t colon = name.rfind(':');
  size_t slash = name.rfind('/');
  bool has_tag = colon != std::string::npos && (slash == std::string::npos || colon > slash);
  return has_tag ? name : absl::StrCat(name, ":latest");
}

struct PreScoreState final : StateData {
  // One entry per container (init and regular), duplicates included.
  std::vector<std::string> images;
  int64_t num_containers = 0;
  int64_t total_nodes = 0;
  std::unique_ptr<StateData> Clone() const override {
    return std::make_unique<PreScoreState>(*this);
  }
};

class ImageLocality final : public PreScorePlugin, public ScorePlugin {
 public:
  ImageLocality(Handle& handle, StateKey key) : handle_(handle), key_(key) {}

  absl::string_view Name() const override { return names::kImageLocality; }

  PluginStatus PreScore(CycleState& state, const PodInfo& pod,
                        absl::Span<const NodeInfo* const> nodes) override {
    // Nodes that report no images score 0 whatever the pod: when no
    // feasible node reports any, every score would be 0, so skip Score.
    if (std::all_of(nodes.begin(), nodes.end(),
                    [](const NodeInfo* n) { return n->image_states().empty(); })) {
      return PluginStatus::Skip();
    }
    auto s = std::make_unique<PreScoreState>();
    const api::PodSpec& spec = pod.pod().spec();
    s->images.reserve(spec.init_containers_size() + spec.containers_size());
    for (const api::Container& c : spec.init_containers()) {
      s->images.push_back(NormalizedImageName(c.image()));
    }
    for (const api::Container& c : spec.containers()) {
      s->images.push_back(NormalizedImageName(c.image()));
    }
    s->num_containers = spec.init_containers_size() + spec.containers_size();
    s->total_nodes = static_cast<int64_t>(handle_.snapshot().NumNodes());
    state.Write(key_, std::move(s));
    return PluginStatus();
  }

  int64_t Score(const CycleState& state, const PodInfo& pod, const NodeInfo& node) const override {
    const auto* s = state.Read<PreScoreState>(key_);
    if (s == nullptr || s->num_containers == 0) return 0;
    const auto& images = node.image_states();
    int64_t sum = 0;
    if (!images.empty() && s->total_nodes > 0) {
      for (const std::string& image : s->images) {
        auto it = images.find(image);
        if (it == images.end()) continue;
        double spread =
            static_cast<double>(it->second.num_nodes) / static_cast<double>(s->total_nodes);
        sum += static_cast<int64_t>(static_cast<double>(it->second.size_bytes) * spread);
      }
    }
    int64_t max_threshold = kMaxContainerThreshold * s->num_containers;
    if (sum < kMinThreshold) {
      sum = kMinThreshold;
    } else if (sum > max_threshold) {
      sum = max_threshold;
    }
    return kMaxNodeScore * (sum - kMinThreshold) / (max_threshold - kMinThreshold);
  }

 private:
  Handle& handle_;
  StateKey key_;
};

}  // namespace

FactoryResult NewImageLocality(absl::string_view args_json, Handle& handle) {
  KORCH_RETURN_IF_ERROR(CheckNoArgs(args_json, "ImageLocalityArgs"));
  return std::unique_ptr<Plugin>(
      std::make_unique<ImageLocality>(handle, handle.StateKeyFor("PreScoreImageLocality")));
}

}  // namespace korch::scheduler::plugins
