// Small plugins for the runtime's tests (registry, queue, cache, scheduler),
// registered under in-tree names where the queue's event table matters.
#ifndef KORCH_TESTS_SCHEDULER_RUNTIME_TEST_PLUGINS_H_
#define KORCH_TESTS_SCHEDULER_RUNTIME_TEST_PLUGINS_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "korch/scheduler/config.h"
#include "korch/scheduler/framework.h"
#include "korch/scheduler/registry.h"
#include "scheduler/plugins/plugins.h"

namespace korch::scheduler::testing {

// cpu and pod-count fit ("NodeResourcesFit" for the queue's event table).
class TestFit final : public FilterPlugin {
 public:
  absl::string_view Name() const override { return names::kNodeResourcesFit; }
  PluginStatus Filter(const CycleState&, const PodInfo& pod, const NodeInfo& node) const override {
    if (node.pods().size() + 1 > static_cast<size_t>(node.allocatable().allowed_pod_number)) {
      return PluginStatus::Unschedulable("Too many pods");
    }
    if (node.requested().milli_cpu + pod.requests().milli_cpu > node.allocatable().milli_cpu) {
      return PluginStatus::Unschedulable("Insufficient cpu");
    }
    return PluginStatus();
  }
};

class TestUnschedulable final : public FilterPlugin {
 public:
  absl::string_view Name() const override { return names::kNodeUnschedulable; }
  PluginStatus Filter(const CycleState&, const PodInfo&, const NodeInfo& node) const override {
    if (node.unschedulable()) return PluginStatus::Unresolvable("node(s) were unschedulable");
    return PluginStatus();
  }
};

// Prefers the node with the most free cpu.
class TestLeastCpu final : public ScorePlugin {
 public:
  absl::string_view Name() const override { return "TestLeastCpu"; }
  int64_t Score(const CycleState&, const PodInfo& pod, const NodeInfo& node) const override {
    int64_t alloc = node.allocatable().milli_cpu;
    if (alloc == 0) return 0;
    return (alloc - node.requested().milli_cpu - pod.requests().milli_cpu) * kMaxNodeScore / alloc;
  }
};

// Pins pods labelled pin=<node> to that node through a PreFilterResult;
// rejects pods labelled reject-prefilter.
class TestPin final : public PreFilterPlugin {
 public:
  absl::string_view Name() const override { return "TestPin"; }
  PluginStatus PreFilter(CycleState&, const PodInfo& pod, PreFilterResult& result) override {
    const auto& labels = pod.pod().metadata().labels();
    if (labels.contains("reject-prefilter")) {
      return PluginStatus::Unresolvable("pod asked to be rejected");
    }
    auto it = labels.find("pin");
    if (it == labels.end()) return PluginStatus::Skip();
    result.node_names.emplace();
    result.node_names->insert(it->second);
    return PluginStatus();
  }
};

// Permit behaviour chosen by the pod's "permit" label: "wait" (with the
// timeout in seconds in "permit-timeout", default 10), "reject", or allow.
class TestPermit final : public PermitPlugin {
 public:
  explicit TestPermit(Handle& handle) : handle_(handle) {}
  absl::string_view Name() const override { return "TestPermit"; }
  PermitResult Permit(CycleState&, const PodInfo& pod, const std::string&) override {
    PermitResult r;
    const auto& labels = pod.pod().metadata().labels();
    auto it = labels.find("permit");
    if (it == labels.end()) return r;
    if (it->second == "reject") {
      r.status = PluginStatus::Unschedulable("rejected by TestPermit");
    } else if (it->second == "wait") {
      r.status = PluginStatus(Code::kWait, "");
      int seconds = 10;
      if (auto t = labels.find("permit-timeout"); t != labels.end()) seconds = std::stoi(t->second);
      r.timeout = absl::Seconds(seconds);
    }
    return r;
  }
  Handle& handle() { return handle_; }

 private:
  Handle& handle_;
};

// Keeps the last TestPermit created, so tests can reach the Handle.
inline std::atomic<TestPermit*>& LastTestPermit() {
  static std::atomic<TestPermit*> p{nullptr};
  return p;
}

inline Registry TestRegistry() {
  Registry r;
  auto ok = [](absl::Status s) {
    if (!s.ok()) abort();
  };
  ok(r.Register(names::kPrioritySort, plugins::NewPrioritySort));
  ok(r.Register(names::kSchedulingGates, plugins::NewSchedulingGates));
  ok(r.Register(names::kDefaultBinder, plugins::NewDefaultBinder));
  ok(r.Register(names::kNodeResourcesFit,
                [](absl::string_view, Handle&) -> absl::StatusOr<std::unique_ptr<Plugin>> {
                  return std::make_unique<TestFit>();
                }));
  ok(r.Register(names::kNodeUnschedulable,
                [](absl::string_view, Handle&) -> absl::StatusOr<std::unique_ptr<Plugin>> {
                  return std::make_unique<TestUnschedulable>();
                }));
  ok(r.Register("TestLeastCpu",
                [](absl::string_view, Handle&) -> absl::StatusOr<std::unique_ptr<Plugin>> {
                  return std::make_unique<TestLeastCpu>();
                }));
  ok(r.Register("TestPin",
                [](absl::string_view, Handle&) -> absl::StatusOr<std::unique_ptr<Plugin>> {
                  return std::make_unique<TestPin>();
                }));
  ok(r.Register("TestPermit",
                [](absl::string_view, Handle& h) -> absl::StatusOr<std::unique_ptr<Plugin>> {
                  auto p = std::make_unique<TestPermit>(h);
                  LastTestPermit() = p.get();
                  return p;
                }));
  return r;
}

// A profile with exactly `plugins` (multiPoint, no defaults).
inline Profile TestProfile(const std::string& name, const std::vector<std::string>& plugins) {
  Profile p;
  p.scheduler_name = name;
  PluginRef all;
  all.name = "*";
  p.plugins.multi_point.disabled.push_back(all);
  for (const std::string& n : plugins) {
    PluginRef r;
    r.name = n;
    p.plugins.multi_point.enabled.push_back(r);
  }
  return p;
}

inline std::vector<std::string> BasicPlugins() {
  return {std::string(names::kPrioritySort),
          std::string(names::kSchedulingGates),
          std::string(names::kNodeUnschedulable),
          std::string(names::kNodeResourcesFit),
          "TestLeastCpu",
          std::string(names::kDefaultBinder)};
}

}  // namespace korch::scheduler::testing

#endif  // KORCH_TESTS_SCHEDULER_RUNTIME_TEST_PLUGINS_H_
