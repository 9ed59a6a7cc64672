// DefaultBinder: binds through the scheduler's ClusterActions (the API
// adapter writes pods/binding; the embedded default binds in the cache).
#include "absl/strings/str_cat.h"
#include "korch/scheduler/registry.h"
#include "scheduler/plugins/plugins.h"

namespace korch::scheduler::plugins {
namespace {

class DefaultBinder final : public BindPlugin {
 public:
  explicit DefaultBinder(Handle& handle) : handle_(handle) {}
  absl::string_view Name() const override { return names::kDefaultBinder; }
  PluginStatus Bind(CycleState& state, const PodInfo& pod, const std::string& node_name) override {
    absl::Status s = handle_.actions().Bind(pod.pod(), node_name);
    if (!s.ok()) return PluginStatus::Error(std::string(s.message()));
    return PluginStatus();
  }

 private:
  Handle& handle_;
};

}  // namespace

FactoryResult NewDefaultBinder(absl::string_view args_json, Handle& handle) {
  if (!args_json.empty() && args_json != "{}") {
    return absl::InvalidArgumentError(
        absl::StrCat(names::kDefaultBinder, " takes no arguments, got ", args_json));
  }
  return std::make_unique<DefaultBinder>(handle);
}

}  // namespace korch::scheduler::plugins
