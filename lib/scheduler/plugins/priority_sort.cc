// PrioritySort: the active queue pops higher spec.priority first, then the
// pod that entered the queue earlier.
#include "absl/strings/str_cat.h"
#include "korch/scheduler/registry.h"
#include "scheduler/plugins/plugins.h"

namespace korch::scheduler::plugins {
namespace {

class PrioritySort final : public QueueSortPlugin {
 public:
  absl::string_view Name() const override { return names::kPrioritySort; }
  bool Less(const QueuedPodInfo& a, const QueuedPodInfo& b) const override {
    int32_t pa = a.pod_info->priority();
    int32_t pb = b.pod_info->priority();
    return pa > pb || (pa == pb && a.timestamp < b.timestamp);
  }
};

}  // namespace

FactoryResult NewPrioritySort(absl::string_view args_json, Handle& handle) {
  if (!args_json.empty() && args_json != "{}") {
    return absl::InvalidArgumentError(
        absl::StrCat(names::kPrioritySort, " takes no arguments, got ", args_json));
  }
  return std::make_unique<PrioritySort>();
}

}  // namespace korch::scheduler::plugins
