#include "scheduler/framework_runtime.h"

#include <algorithm>
#include <atomic>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "korch/base/status.h"

namespace korch::scheduler::internal {
namespace {

// Filter or Score calls below which one cycle's work is not worth handing
// to the workers (waking them costs microseconds).
std::atomic<int64_t> min_parallel_calls{1024};

// NodeInfos are scattered on the heap and each cycle reads hundreds of
// them: fetch the next ones while filtering this one.
constexpr int kPrefetchAhead = 6;
inline void Prefetch(const NodeInfo* node) {
  const char* p = reinterpret_cast<const char*>(node);
  for (size_t offset = 0; offset < sizeof(NodeInfo); offset += 64) __builtin_prefetch(p + offset);
}

int64_t DefaultWeight(absl::string_view name) {
  if (name == names::kTaintToleration) return 3;
  if (name == names::kNodeAffinity || name == names::kInterPodAffinity ||
      name == names::kPodTopologySpread) {
    return 2;
  }
  return 1;
}

bool Contains(const std::vector<PluginRef>& refs, absl::string_view name) {
  for (const PluginRef& r : refs) {
    if (r.name == name) return true;
  }
  return false;
}

const PluginRef* FindRef(const std::vector<PluginRef>& refs, absl::string_view name) {
  for (const PluginRef& r : refs) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

// The default multiPoint plugins with the profile's multiPoint changes.
std::vector<PluginRef> MultiPoint(const PluginSet& custom) {
  std::vector<PluginRef> out;
  if (!Contains(custom.disabled, "*")) {
    for (PluginRef& r : DefaultPlugins()) {
      if (!Contains(custom.disabled, r.name)) out.push_back(std::move(r));
    }
  }
  for (const PluginRef& r : custom.enabled) {
    auto it =
        std::find_if(out.begin(), out.end(), [&](const PluginRef& o) { return o.name == r.name; });
    if (it != out.end()) {
      if (r.weight != 0) it->weight = r.weight;
    } else {
      out.push_back(r);
    }
  }
  return out;
}

// The plugins of one extension point, in kube-scheduler's order: plugins
// configured at the point that also are multiPoint plugins (in the point's
// order), then the other multiPoint plugins, then the point's others.
// `extends` says whether a plugin implements the point; multiPoint plugins
// that do not are left out, explicitly enabled ones are an error.
absl::StatusOr<std::vector<PluginRef>> Expand(
    const std::vector<PluginRef>& multi, const PluginSet& point, absl::string_view point_name,
    const std::function<bool(absl::string_view)>& extends) {
  const bool disable_all = Contains(point.disabled, "*");
  std::vector<PluginRef> overrides;
  std::vector<PluginRef> others;
  absl::flat_hash_set<std::string> seen;
  for (const PluginRef& r : point.enabled) {
    if (!seen.insert(r.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("plugins.", point_name, ".enabled: Duplicate value: \"", r.name, "\""));
    }
    if (!extends(r.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("plugin \"", r.name, "\" does not extend ", point_name, " plugin"));
    }
    const PluginRef* m = FindRef(multi, r.name);
    PluginRef out = r;
    if (out.weight == 0 && m != nullptr) out.weight = m->weight;
    (m != nullptr ? overrides : others).push_back(std::move(out));
  }
  std::vector<PluginRef> result = std::move(overrides);
  for (const PluginRef& r : multi) {
    if (seen.contains(r.name) || disable_all || Contains(point.disabled, r.name)) continue;
    if (extends(r.name)) result.push_back(r);
  }
  for (PluginRef& r : others) result.push_back(std::move(r));
  return result;
}

}  // namespace

int64_t SetMinParallelCallsForTest(int64_t calls) { return min_parallel_calls.exchange(calls); }

// ---------------------------------------------------------------------------
// Creation
// ---------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Framework>> Framework::Create(const Profile& profile,
                                                             const SchedulerConfiguration& config,
                                                             const Registry& registry,
                                                             FrameworkHost* host, ThreadPool* pool,
                                                             ParallelLoop* loop) {
  std::unique_ptr<Framework> fw(new Framework(host, pool, loop));
  fw->scheduler_name_ = profile.scheduler_name;
  fw->percentage_of_nodes_to_score_ =
      profile.percentage_of_nodes_to_score.value_or(config.percentage_of_nodes_to_score);
  const std::string where = absl::StrCat("profile \"", profile.scheduler_name, "\": ");
  const Plugins& p = profile.plugins;
  const std::vector<PluginRef> multi = MultiPoint(p.multi_point);

  // One instance per plugin name, shared by its extension points.
  absl::flat_hash_map<std::string, Plugin*> instances;
  auto instantiate = [&](const std::string& name) -> absl::Status {
    if (instances.contains(name)) return absl::OkStatus();
    const PluginFactory* factory = registry.Find(name);
    if (factory == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "plugin \"", name, "\" does not exist"));
    }
    std::string args;
    for (const PluginConfig& c : profile.plugin_config) {
      if (c.name == name) args = c.args_json;
    }
    absl::StatusOr<std::unique_ptr<Plugin>> plugin = (*factory)(args, *fw);
    if (!plugin.ok()) {
      return absl::Status(plugin.status().code(), absl::StrCat(where, "plugin \"", name,
                                                               "\": ", plugin.status().message()));
    }
    if (*plugin == nullptr) {
      return absl::InternalError(
          absl::StrCat(where, "plugin \"", name, "\": factory returned null"));
    }
    instances[name] = plugin->get();
    fw->plugins_.push_back(std::move(*plugin));
    return absl::OkStatus();
  };
  for (const PluginRef& r : multi) KORCH_RETURN_IF_ERROR(instantiate(r.name));
  for (const PluginSet* set :
       {&p.pre_enqueue, &p.queue_sort, &p.pre_filter, &p.filter, &p.post_filter, &p.pre_score,
        &p.score, &p.reserve, &p.permit, &p.pre_bind, &p.bind, &p.post_bind}) {
    for (const PluginRef& r : set->enabled) KORCH_RETURN_IF_ERROR(instantiate(r.name));
  }

  auto fill = [&](auto& entries, const PluginSet& set,
                  absl::string_view point_name) -> absl::Status {
    using T = std::remove_pointer_t<decltype(entries[0].plugin)>;
    auto extends = [&](absl::string_view name) {
      auto it = instances.find(name);
      return it != instances.end() && dynamic_cast<T*>(it->second) != nullptr;
    };
    absl::StatusOr<std::vector<PluginRef>> refs = Expand(multi, set, point_name, extends);
    if (!refs.ok()) return absl::InvalidArgumentError(absl::StrCat(where, refs.status().message()));
    for (const PluginRef& r : *refs) {
      typename std::remove_reference_t<decltype(entries)>::value_type e;
      e.plugin = dynamic_cast<T*>(instances.at(r.name));
      e.name = r.name;
      e.weight = r.weight != 0 ? r.weight : DefaultWeight(r.name);
      entries.push_back(std::move(e));
    }
    return absl::OkStatus();
  };
  std::vector<Entry<QueueSortPlugin>> queue_sorts;
  KORCH_RETURN_IF_ERROR(fill(fw->pre_enqueues_, p.pre_enqueue, "preEnqueue"));
  KORCH_RETURN_IF_ERROR(fill(queue_sorts, p.queue_sort, "queueSort"));
  KORCH_RETURN_IF_ERROR(fill(fw->pre_filters_, p.pre_filter, "preFilter"));
  KORCH_RETURN_IF_ERROR(fill(fw->filters_, p.filter, "filter"));
  KORCH_RETURN_IF_ERROR(fill(fw->post_filters_, p.post_filter, "postFilter"));
  KORCH_RETURN_IF_ERROR(fill(fw->pre_scores_, p.pre_score, "preScore"));
  KORCH_RETURN_IF_ERROR(fill(fw->scores_, p.score, "score"));
  KORCH_RETURN_IF_ERROR(fill(fw->reserves_, p.reserve, "reserve"));
  KORCH_RETURN_IF_ERROR(fill(fw->permits_, p.permit, "permit"));
  KORCH_RETURN_IF_ERROR(fill(fw->pre_binds_, p.pre_bind, "preBind"));
  KORCH_RETURN_IF_ERROR(fill(fw->binds_, p.bind, "bind"));
  KORCH_RETURN_IF_ERROR(fill(fw->post_binds_, p.post_bind, "postBind"));
  if (queue_sorts.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, "plugins.queueSort: exactly one queue sort plugin must be enabled, found ",
        queue_sorts.size()));
  }
  fw->queue_sort_ = queue_sorts[0].plugin;
  fw->queue_sort_name_ = queue_sorts[0].name;
  if (fw->binds_.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "plugins.bind: at least one bind plugin must be enabled"));
  }
  for (auto& e : fw->pre_filters_) {
    for (size_t i = 0; i < fw->filters_.size(); ++i) {
      if (fw->filters_[i].name == e.name) e.filter_index = static_cast<int>(i);
    }
  }
  for (auto& e : fw->pre_scores_) {
    for (size_t i = 0; i < fw->scores_.size(); ++i) {
      if (fw->scores_[i].name == e.name) e.score_index = static_cast<int>(i);
    }
  }
  return fw;
}

Framework::~Framework() = default;

std::vector<std::string> Framework::PluginNamesFor(absl::string_view point) const {
  std::vector<std::string> out;
  auto add = [&](const auto& entries) {
    for (const auto& e : entries) out.push_back(e.name);
  };
  if (point == "preEnqueue") add(pre_enqueues_);
  if (point == "queueSort") out.push_back(queue_sort_name_);
  if (point == "preFilter") add(pre_filters_);
  if (point == "filter") add(filters_);
  if (point == "postFilter") add(post_filters_);
  if (point == "preScore") add(pre_scores_);
  if (point == "score") add(scores_);
  if (point == "reserve") add(reserves_);
  if (point == "permit") add(permits_);
  if (point == "preBind") add(pre_binds_);
  if (point == "bind") add(binds_);
  if (point == "postBind") add(post_binds_);
  return out;
}

std::vector<std::pair<std::string, int64_t>> Framework::ScoreWeights() const {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& e : scores_) out.emplace_back(e.name, e.weight);
  return out;
}

// ---------------------------------------------------------------------------
// Handle
// ---------------------------------------------------------------------------

StateKey Framework::StateKeyFor(absl::string_view name) {
  auto [it, inserted] = state_keys_.try_emplace(name, static_cast<StateKey>(state_keys_.size()));
  return it->second;
}

void Framework::ParallelFor(int n, const std::function<void(int)>& fn) {
  if (pool_ == nullptr || n <= 1) {
    for (int i = 0; i < n; ++i) fn(i);
    return;
  }
  pool_->ParallelFor(n, fn);
}

int64_t Framework::MinParallelCalls() const {
  const int64_t calls = min_parallel_calls.load(std::memory_order_relaxed);
  // Sleeping workers are woken with a system call each and join late: a
  // loop must be much longer to gain from them than from spinning ones.
  return loop_ != nullptr && loop_->workers_sleep() ? calls * 8 : calls;
}

template <typename Fn>
void Framework::ForChunks(int parallel_n, int n, int chunk, Fn&& fn, ParallelLoop::Order order) {
  if (n <= 0) return;
  if (loop_ == nullptr || parallel_n <= chunk) {
    fn(0, n);
    return;
  }
  loop_->Run(n, chunk, fn, order);
}

PluginStatus Framework::RunActiveFilters(const CycleState& state, const PodInfo& pod,
                                         const NodeInfo& node, int* rejector) const {
  for (int k : active_filters_) {
    PluginStatus s = filters_[k].plugin->Filter(state, pod, node);
    if (!s.ok()) {
      *rejector = k;
      return s;
    }
  }
  return PluginStatus();
}

PluginStatus Framework::FilterWithNominated(
    const CycleState& state, const PodInfo& pod, const NodeInfo& node,
    const std::vector<std::shared_ptr<const PodInfo>>& nominated, int* rejector) {
  // With the nominated pods of at least the pod's priority counted on the
  // node first (they will be there once their victims are gone), then
  // without them (they may not go there after all).
  std::unique_ptr<CycleState> with = state.Clone();
  NodeInfo node_with = node;
  bool added = false;
  for (const auto& p : nominated) {
    if (p->priority() < pod.priority() || p->uid() == pod.uid()) continue;
    node_with.AddPod(p);
    RunPreFilterExtensionAddPod(*with, pod, *p, node_with);
    added = true;
  }
  if (added) {
    PluginStatus s = RunActiveFilters(*with, pod, node_with, rejector);
    if (!s.ok()) return s;
  }
  return RunActiveFilters(state, pod, node, rejector);
}

bool Framework::FilterNode(const CycleState& state, const PodInfo& pod, const NodeInfo& node,
                           int pos) {
  if (!nominated_.empty()) {
    auto it = nominated_.find(node.name());
    if (it != nominated_.end()) {
      int rejector = -1;
      PluginStatus s = FilterWithNominated(state, pod, node, it->second, &rejector);
      if (s.ok()) {
        node_result_[pos] = 1;
        return true;
      }
      node_result_[pos] = 2;
      node_rejector_[pos] = static_cast<int16_t>(rejector);
      node_status_[pos] = std::move(s);
      return false;
    }
  }
  for (int k : active_filters_) {
    PluginStatus s = filters_[k].plugin->Filter(state, pod, node);
    if (!s.ok()) [[unlikely]] {
      node_result_[pos] = 2;
      node_rejector_[pos] = static_cast<int16_t>(k);
      node_status_[pos] = std::move(s);
      return false;
    }
  }
  node_result_[pos] = 1;
  return true;
}

PluginStatus Framework::RunFilterPluginsWithNominatedPods(CycleState& state, const PodInfo& pod,
                                                          const NodeInfo& node) {
  auto run = [&](const CycleState& st, const NodeInfo& n) {
    for (const auto& e : filters_) {
      if (st.skip_filter_plugins().contains(e.name)) continue;
      PluginStatus s = e.plugin->Filter(st, pod, n);
      if (!s.ok()) {
        s.set_plugin(e.name);
        return s;
      }
    }
    return PluginStatus();
  };
  std::vector<std::shared_ptr<const PodInfo>> nominated = NominatedPodsForNode(node.name());
  bool added = false;
  std::unique_ptr<CycleState> with;
  NodeInfo node_with;
  for (const auto& p : nominated) {
    if (p->priority() < pod.priority() || p->uid() == pod.uid()) continue;
    if (!added) {
      with = state.Clone();
      node_with = node;
      added = true;
    }
    node_with.AddPod(p);
    PluginStatus s = RunPreFilterExtensionAddPod(*with, pod, *p, node_with);
    if (!s.ok()) return s;
  }
  if (added) {
    PluginStatus s = run(*with, node_with);
    if (!s.ok()) return s;
  }
  return run(state, node);
}

PluginStatus Framework::RunPreFilterExtensionAddPod(CycleState& state, const PodInfo& pod,
                                                    const PodInfo& to_add, const NodeInfo& node) {
  for (const auto& e : pre_filters_) {
    const PreFilterExtensions* ext = e.plugin->Extensions();
    if (ext == nullptr || state.skip_filter_plugins().contains(e.name)) continue;
    PluginStatus s = ext->AddPod(state, pod, to_add, node);
    if (!s.ok()) {
      s.set_plugin(e.name);
      return s;
    }
  }
  return PluginStatus();
}

PluginStatus Framework::RunPreFilterExtensionRemovePod(CycleState& state, const PodInfo& pod,
                                                       const PodInfo& to_remove,
                                                       const NodeInfo& node) {
  for (const auto& e : pre_filters_) {
    const PreFilterExtensions* ext = e.plugin->Extensions();
    if (ext == nullptr || state.skip_filter_plugins().contains(e.name)) continue;
    PluginStatus s = ext->RemovePod(state, pod, to_remove, node);
    if (!s.ok()) {
      s.set_plugin(e.name);
      return s;
    }
  }
  return PluginStatus();
}

std::vector<std::shared_ptr<const PodInfo>> Framework::NominatedPodsForNode(
    const std::string& node_name) const {
  return host_->nominator().ForNode(node_name);
}

// ---------------------------------------------------------------------------
// The scheduling algorithm
// ---------------------------------------------------------------------------

PluginStatus Framework::RunPreEnqueue(const PodInfo& pod) {
  for (const auto& e : pre_enqueues_) {
    PluginStatus s = e.plugin->PreEnqueue(pod);
    if (!s.ok()) {
      s.set_plugin(e.name);
      return s;
    }
  }
  return PluginStatus();
}

void Framework::BuildFailure(const PodInfo& pod, int evaluated_positions,
                             const std::vector<const NodeInfo*>* candidates,
                             AlgorithmResult& result) {
  const auto& all = snapshot_->List();
  const int n =
      candidates != nullptr ? static_cast<int>(candidates->size()) : static_cast<int>(all.size());
  FitError fit;
  fit.num_all_nodes = static_cast<int32_t>(all.size());
  for (int pos = 0; pos < evaluated_positions; ++pos) {
    if (node_result_[pos] != 2) continue;
    const NodeInfo* node =
        candidates != nullptr ? (*candidates)[pos] : all[(next_start_index_ + pos) % n];
    PluginStatus& s = node_status_[pos];
    const std::string& plugin = filters_[node_rejector_[pos]].name;
    s.set_plugin(plugin);
    result.rejectors.insert(plugin);
    for (const std::string& reason : s.reasons()) ++fit.reasons[reason];
    result.statuses[node->name()] = std::move(s);
  }
  result.fit_error = std::move(fit);
}

AlgorithmResult Framework::RunAlgorithm(CycleState& state, const PodInfo& pod,
                                        const std::string& nominated_node, std::mt19937_64& rng) {
  AlgorithmResult result;
  const auto& all = snapshot_->List();

  // One allocation each for the state's slots and skip sets, rather than
  // one per plugin that writes or skips.
  if (!state_keys_.empty()) state.Write(static_cast<StateKey>(state_keys_.size()) - 1, nullptr);
  state.skip_filter_plugins().reserve(pre_filters_.size());
  state.skip_score_plugins().reserve(pre_scores_.size());

  // PreFilter.
  std::optional<absl::flat_hash_set<std::string>> restrict;
  std::vector<std::string> restricting;
  active_filters_.clear();
  std::vector<uint8_t>& skip_filter = skip_filter_;
  skip_filter.assign(filters_.size(), 0);
  for (const auto& e : pre_filters_) {
    PreFilterResult r;
    PluginStatus s = e.plugin->PreFilter(state, pod, r);
    if (s.IsSkip()) {
      state.skip_filter_plugins().insert(e.name);
      if (e.filter_index >= 0) skip_filter[e.filter_index] = 1;
      continue;
    }
    if (s.code() == Code::kError) {
      result.error = absl::InternalError(
          absl::StrCat("running PreFilter plugin \"", e.name, "\": ", s.ToString()));
      return result;
    }
    if (!s.ok()) {
      // Every node fails with this status.
      s.set_plugin(e.name);
      FitError fit;
      fit.num_all_nodes = static_cast<int32_t>(all.size());
      fit.pre_filter_message = absl::StrJoin(s.reasons(), ", ");
      result.rejectors.insert(e.name);
      for (const NodeInfo* node : all) result.statuses[node->name()] = s;
      result.fit_error = std::move(fit);
      return result;
    }
    if (r.node_names.has_value()) {
      restricting.push_back(e.name);
      if (!restrict.has_value()) {
        restrict = std::move(r.node_names);
      } else {
        absl::erase_if(*restrict, [&](const std::string& n) { return !r.node_names->contains(n); });
      }
    }
  }
  for (size_t k = 0; k < filters_.size(); ++k) {
    if (!skip_filter[k]) active_filters_.push_back(static_cast<int>(k));
  }

  // The nominated pods of this cycle (rare: preemption in progress).
  nominated_.clear();
  if (!host_->nominator().empty()) {
    nominated_ = host_->nominator().Copy();
    for (auto it = nominated_.begin(); it != nominated_.end();) {
      auto& pods = it->second;
      pods.erase(std::remove_if(pods.begin(), pods.end(),
                                [&](const auto& p) {
                                  return p->priority() < pod.priority() || p->uid() == pod.uid();
                                }),
                 pods.end());
      if (pods.empty()) {
        nominated_.erase(it++);
      } else {
        ++it;
      }
    }
  }

  // The candidate nodes.
  const std::vector<const NodeInfo*>* candidates = nullptr;
  if (restrict.has_value()) {
    candidates_.clear();
    for (const std::string& name : * restrict) {
      if (const NodeInfo* n = snapshot_->Get(name)) candidates_.push_back(n);
    }
    // Set iteration order is unspecified: sort for reproducible results.
    std::sort(candidates_.begin(), candidates_.end(),
              [](const NodeInfo* a, const NodeInfo* b) { return a->name() < b->name(); });
    candidates = &candidates_;
    if (candidates_.empty()) {
      FitError fit;
      fit.num_all_nodes = static_cast<int32_t>(all.size());
      fit.pre_filter_message =
          restricting.size() == 1
              ? absl::StrCat("node(s) didn't satisfy plugin ", restricting[0])
              : absl::StrCat("node(s) didn't satisfy plugins [", absl::StrJoin(restricting, ", "),
                             "] simultaneously");
      for (const std::string& r : restricting) result.rejectors.insert(r);
      PluginStatus s = PluginStatus::Unresolvable(fit.pre_filter_message);
      s.set_plugin(restricting[0]);
      for (const NodeInfo* node : all) result.statuses[node->name()] = s;
      result.fit_error = std::move(fit);
      return result;
    }
  }
  const int n =
      candidates != nullptr ? static_cast<int>(candidates->size()) : static_cast<int>(all.size());
  if (n == 0) {
    FitError fit;
    result.fit_error = std::move(fit);
    return result;
  }
  const int start = candidates != nullptr ? 0 : next_start_index_ % n;
  if (candidates == nullptr) next_start_index_ = start;
  auto node_at = [&](int pos) -> const NodeInfo* {
    if (candidates != nullptr) return (*candidates)[pos];
    int i = start + pos;
    return all[i >= n ? i - n : i];
  };

  // A node nominated for the pod by an earlier preemption is tried first.
  if (!nominated_node.empty() && (!restrict.has_value() || restrict->contains(nominated_node))) {
    if (const NodeInfo* node = snapshot_->Get(nominated_node)) {
      int rejector = -1;
      PluginStatus s;
      auto it = nominated_.find(node->name());
      s = it != nominated_.end() ? FilterWithNominated(state, pod, *node, it->second, &rejector)
                                 : RunActiveFilters(state, pod, *node, &rejector);
      if (s.ok()) {
        result.node = node;
        result.evaluated_nodes = 1;
        result.feasible_nodes = 1;
        return result;
      }
    }
  }

  // Filter: stop once enough nodes fit.
  const int to_find = NumFeasibleNodesToFind(percentage_of_nodes_to_score_, n);
  if (node_result_.size() < static_cast<size_t>(n)) {
    node_result_.resize(n);
    node_status_.resize(n);
    node_rejector_.resize(n);
  }
  std::fill(node_result_.begin(), node_result_.begin() + n, 0);
  std::atomic<int> found{0};
  if (active_filters_.empty() && nominated_.empty()) {
    for (int pos = 0; pos < std::min(n, to_find); ++pos) node_result_[pos] = 1;
  } else {
    const bool parallel =
        static_cast<int64_t>(std::min(n, to_find)) * static_cast<int64_t>(active_filters_.size()) >=
        MinParallelCalls();
    // Each chunk counts what it finds locally and publishes the count once:
    // an atomic add per feasible node would bounce the counter's cache line
    // between the threads for every node. Other chunks' finds are looked at
    // every 16 nodes, so a chunk stops soon after enough nodes were found.
    ForChunks(
        parallel ? n : 0, n, 64,
        [&](int begin, int end) {
          int others = found.load(std::memory_order_relaxed);
          int local = 0;
          for (int pos = begin; pos < end; ++pos) {
            if (((pos - begin) & 15) == 15) others = found.load(std::memory_order_relaxed);
            if (others + local >= to_find) break;
            if (pos + kPrefetchAhead < end) Prefetch(node_at(pos + kPrefetchAhead));
            if (FilterNode(state, pod, *node_at(pos), pos)) ++local;
          }
          if (local > 0) found.fetch_add(local, std::memory_order_relaxed);
        },
        // Every node is filtered when all feasible ones are wanted.
        to_find >= n ? ParallelLoop::Order::kFromBothEnds : ParallelLoop::Order::kInOrder);
  }
  feasible_.clear();
  int processed = 0;
  for (int pos = 0; pos < n && static_cast<int>(feasible_.size()) < to_find; ++pos) {
    if (node_result_[pos] == 1) {
      feasible_.push_back(node_at(pos));
    } else if (node_result_[pos] == 2 && node_status_[pos].code() == Code::kError) {
      result.error = absl::InternalError(absl::StrCat(
          "running Filter plugin \"", filters_[node_rejector_[pos]].name, "\" on node \"",
          node_at(pos)->name(), "\": ", node_status_[pos].ToString()));
      return result;
    }
    processed = pos + 1;
  }
  if (candidates == nullptr) next_start_index_ = (start + processed) % n;
  result.evaluated_nodes = processed;
  result.feasible_nodes = static_cast<int32_t>(feasible_.size());
  if (feasible_.empty()) {
    BuildFailure(pod, n, candidates, result);
    if (candidates != nullptr) {
      // Nodes the PreFilter results left out.
      std::string reason = restricting.size() == 1
                               ? absl::StrCat("node(s) didn't satisfy plugin ", restricting[0])
                               : absl::StrCat("node(s) didn't satisfy plugins [",
                                              absl::StrJoin(restricting, ", "), "] simultaneously");
      for (const NodeInfo* node : all) {
        if (result.statuses.contains(node->name()) || restrict->contains(node->name())) continue;
        PluginStatus s = PluginStatus::Unresolvable(reason);
        s.set_plugin(restricting[0]);
        result.statuses[node->name()] = std::move(s);
        ++result.fit_error->reasons[reason];
      }
      for (const std::string& r : restricting) result.rejectors.insert(r);
    }
    return result;
  }
  if (feasible_.size() == 1) {
    result.node = feasible_[0];
    return result;
  }

  // PreScore.
  const int f = static_cast<int>(feasible_.size());
  std::vector<uint8_t>& skip_score = skip_score_;
  skip_score.assign(scores_.size(), 0);
  for (const auto& e : pre_scores_) {
    PluginStatus s = e.plugin->PreScore(state, pod, absl::MakeConstSpan(feasible_));
    if (s.IsSkip()) {
      state.skip_score_plugins().insert(e.name);
      if (e.score_index >= 0) skip_score[e.score_index] = 1;
      continue;
    }
    if (!s.ok()) {
      result.node = nullptr;
      result.error = absl::InternalError(
          absl::StrCat("running PreScore plugin \"", e.name, "\": ", s.ToString()));
      return result;
    }
  }
  active_scores_.clear();
  for (size_t k = 0; k < scores_.size(); ++k) {
    if (!skip_score[k]) active_scores_.push_back(static_cast<int>(k));
  }

  // Score, normalize, weigh.
  const int num_scores = static_cast<int>(active_scores_.size());
  if (node_scores_.size() < static_cast<size_t>(num_scores * f)) {
    node_scores_.resize(num_scores * f);
  }
  if (totals_.size() < static_cast<size_t>(f)) totals_.resize(f);
  std::fill(totals_.begin(), totals_.begin() + f, 0);
  if (num_scores > 0) {
    const bool parallel = static_cast<int64_t>(f) * num_scores >= MinParallelCalls();
    ForChunks(
        parallel ? f : 0, f, 64,
        [&](int begin, int end) {
          for (int j = 0; j < num_scores; ++j) {
            const ScorePlugin* plugin = scores_[active_scores_[j]].plugin;
            NodeScore* out = &node_scores_[static_cast<size_t>(j) * f];
            for (int i = begin; i < end; ++i) out[i].node = feasible_[i];
            plugin->ScoreNodes(state, pod, absl::Span<NodeScore>(out + begin, end - begin));
          }
        },
        ParallelLoop::Order::kFromBothEnds);
    for (int j = 0; j < num_scores; ++j) {
      const auto& e = scores_[active_scores_[j]];
      absl::Span<NodeScore> span(&node_scores_[static_cast<size_t>(j) * f], f);
      if (e.plugin->HasNormalizeScore()) {
        PluginStatus s = e.plugin->NormalizeScore(state, pod, span);
        if (!s.ok()) {
          result.error = absl::InternalError(
              absl::StrCat("running NormalizeScore plugin \"", e.name, "\": ", s.ToString()));
          return result;
        }
      }
      const int64_t weight = e.weight;
      int64_t* __restrict totals = totals_.data();
      const NodeScore* __restrict scores = span.data();
      for (int i = 0; i < f; ++i) totals[i] += scores[i].score * weight;
    }
  }

  // The best node; ties broken uniformly at random with one draw (the
  // same distribution as kube-scheduler's reservoir sampling, without a
  // division per tie).
  int64_t best_score = totals_[0];
  int ties = 0;
  for (int i = 0; i < f; ++i) {
    if (totals_[i] > best_score) {
      best_score = totals_[i];
      ties = 0;
    }
    ties += totals_[i] == best_score;
  }
  int pick = ties > 1 ? static_cast<int>(rng() % static_cast<uint64_t>(ties)) : 0;
  int best = 0;
  for (int i = 0; i < f; ++i) {
    if (totals_[i] == best_score && pick-- == 0) {
      best = i;
      break;
    }
  }
  result.node = feasible_[best];
  return result;
}

PostFilterResult Framework::RunPostFilter(CycleState& state, const PodInfo& pod,
                                          const NodeStatusMap& statuses) {
  PostFilterResult last;
  last.status = PluginStatus::Unschedulable("");
  std::vector<std::string> messages;
  for (const auto& e : post_filters_) {
    PostFilterResult r = e.plugin->PostFilter(state, pod, statuses);
    r.status.set_plugin(e.name);
    if (r.status.ok()) return r;
    if (r.status.code() == Code::kError) return r;
    for (const std::string& reason : r.status.reasons()) messages.push_back(reason);
    last = std::move(r);
  }
  PostFilterResult out;
  out.status = PluginStatus(last.status.code(), absl::StrJoin(messages, "; "));
  out.status.set_plugin(last.status.plugin());
  return out;
}

PluginStatus Framework::RunReserve(CycleState& state, const PodInfo& pod, const std::string& node) {
  for (const auto& e : reserves_) {
    PluginStatus s = e.plugin->Reserve(state, pod, node);
    if (!s.ok()) {
      s.set_plugin(e.name);
      RunUnreserve(state, pod, node);
      return s;
    }
  }
  return PluginStatus();
}

void Framework::RunUnreserve(CycleState& state, const PodInfo& pod, const std::string& node) {
  for (auto it = reserves_.rbegin(); it != reserves_.rend(); ++it) {
    it->plugin->Unreserve(state, pod, node);
  }
}

PluginStatus Framework::RunPermit(CycleState& state, const PodInfo& pod, const std::string& node,
                                  std::vector<PermitWait>& waits) {
  // kube-scheduler's cap on a Permit wait.
  constexpr absl::Duration kMaxWait = absl::Minutes(15);
  waits.clear();
  for (const auto& e : permits_) {
    PermitResult r = e.plugin->Permit(state, pod, node);
    if (r.status.code() == Code::kWait) {
      PermitWait w;
      w.plugin = e.name;
      w.timeout = std::min(r.timeout, kMaxWait);
      waits.push_back(std::move(w));
      continue;
    }
    if (!r.status.ok()) {
      r.status.set_plugin(e.name);
      return r.status;
    }
  }
  if (!waits.empty()) return PluginStatus(Code::kWait, "");
  return PluginStatus();
}

PluginStatus Framework::RunPreBind(CycleState& state, const PodInfo& pod, const std::string& node) {
  for (const auto& e : pre_binds_) {
    PluginStatus s = e.plugin->PreBind(state, pod, node);
    if (!s.ok()) {
      s.set_plugin(e.name);
      return s;
    }
  }
  return PluginStatus();
}

PluginStatus Framework::RunBind(CycleState& state, const PodInfo& pod, const std::string& node) {
  for (const auto& e : binds_) {
    PluginStatus s = e.plugin->Bind(state, pod, node);
    if (s.IsSkip()) continue;
    s.set_plugin(e.name);
    return s;
  }
  return PluginStatus::Error("every bind plugin skipped the pod");
}

void Framework::RunPostBind(CycleState& state, const PodInfo& pod, const std::string& node) {
  for (const auto& e : post_binds_) e.plugin->PostBind(state, pod, node);
}

}  // namespace korch::scheduler::internal
