// Benchmarks for korch::api value types.
#include <string>

#include "benchmark/benchmark.h"
#include "korch/api/core.pb.h"
#include "korch/api/quantity.h"
#include "korch/api/selector.h"

namespace korch::api {
namespace {

void BM_QuantityParse(benchmark::State& state, const char* text) {
  for (auto _ : state) {
    auto q = Quantity::Parse(text);
    benchmark::DoNotOptimize(q);
  }
}
BENCHMARK_CAPTURE(BM_QuantityParse, milli, "500m");
BENCHMARK_CAPTURE(BM_QuantityParse, binary, "128Mi");
BENCHMARK_CAPTURE(BM_QuantityParse, fraction, "1.5");

void BM_QuantityToString(benchmark::State& state, const char* text) {
  const Quantity q = *Quantity::Parse(text);
  for (auto _ : state) {
    std::string s = q.ToString();
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK_CAPTURE(BM_QuantityToString, milli, "500m");
BENCHMARK_CAPTURE(BM_QuantityToString, binary, "128Mi");
BENCHMARK_CAPTURE(BM_QuantityToString, fraction, "1.5");

}  // namespace
}  // namespace korch::api

// Selectors: parsing a `?labelSelector=` / `?fieldSelector=` and matching
// object labels, as a list filter or scheduler filter does per object.
namespace korch::api {
namespace {

LabelMap PodLabels() {
  LabelMap labels;
  labels["app"] = "web";
  labels["tier"] = "frontend";
  labels["env"] = "staging";
  labels["pod-template-hash"] = "7d4b9c8f6d";
  labels["app.kubernetes.io/name"] = "web";
  labels["app.kubernetes.io/version"] = "1.4.2";
  return labels;
}

void BM_SelectorParse(benchmark::State& state, const char* text) {
  for (auto _ : state) {
    auto s = Selector::Parse(text);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK_CAPTURE(BM_SelectorParse, equality, "app=web");
BENCHMARK_CAPTURE(BM_SelectorParse, mixed, "app=web,tier in (frontend,backend),!canary,env");

void BM_SelectorMatch(benchmark::State& state, const char* text) {
  const Selector s = *Selector::Parse(text);
  const LabelMap labels = PodLabels();
  for (auto _ : state) {
    bool m = s.Matches(labels);
    benchmark::DoNotOptimize(m);
  }
}
BENCHMARK_CAPTURE(BM_SelectorMatch, equality, "app=web");
BENCHMARK_CAPTURE(BM_SelectorMatch, mixed, "app=web,tier in (frontend,backend),!canary,env");
BENCHMARK_CAPTURE(BM_SelectorMatch, miss_first, "app=db,tier in (frontend,backend),!canary");
BENCHMARK_CAPTURE(BM_SelectorMatch, in_32_values,
                  "tier in (v0,v1,v2,v3,v4,v5,v6,v7,v8,v9,v10,v11,v12,v13,v14,v15,v16,v17,"
                  "v18,v19,v20,v21,v22,v23,v24,v25,v26,v27,v28,v29,v30,frontend)");

void BM_SelectorFromProto(benchmark::State& state) {
  LabelSelector proto;
  (*proto.mutable_match_labels())["app"] = "web";
  LabelSelectorRequirement* r = proto.add_match_expressions();
  r->set_key("tier");
  r->set_operator_("In");
  r->add_values("frontend");
  r->add_values("backend");
  for (auto _ : state) {
    auto s = Selector::FromProto(proto);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_SelectorFromProto);

void BM_FieldSelectorParse(benchmark::State& state) {
  for (auto _ : state) {
    auto s =
        FieldSelector::Parse("spec.nodeName=node-1,status.phase!=Succeeded,status.phase!=Failed");
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_FieldSelectorParse);

void BM_FieldSelectorMatch(benchmark::State& state) {
  const FieldSelector s =
      *FieldSelector::Parse("spec.nodeName=node-1,status.phase!=Succeeded,status.phase!=Failed");
  auto get = [](absl::string_view field) -> std::optional<absl::string_view> {
    if (field == "spec.nodeName") return absl::string_view("node-1");
    if (field == "status.phase") return absl::string_view("Running");
    return std::nullopt;
  };
  for (auto _ : state) {
    bool m = s.Matches(get);
    benchmark::DoNotOptimize(m);
  }
}
BENCHMARK(BM_FieldSelectorMatch);

void BM_NodeSelectorMatch(benchmark::State& state) {
  NodeSelector proto;
  NodeSelectorTerm* t1 = proto.add_node_selector_terms();
  NodeSelectorRequirement* r1 = t1->add_match_expressions();
  r1->set_key("topology.kubernetes.io/zone");
  r1->set_operator_("In");
  r1->add_values("zone-a");
  r1->add_values("zone-b");
  NodeSelectorTerm* t2 = proto.add_node_selector_terms();
  NodeSelectorRequirement* r2 = t2->add_match_expressions();
  r2->set_key("example.com/cores");
  r2->set_operator_("Gt");
  r2->add_values("8");
  NodeSelectorRequirement* f = t2->add_match_fields();
  f->set_key("metadata.name");
  f->set_operator_("NotIn");
  f->add_values("node-0");
  const NodeSelectorMatcher m = *NodeSelectorMatcher::Create(proto);
  LabelMap labels;
  labels["kubernetes.io/hostname"] = "node-7";
  labels["kubernetes.io/os"] = "linux";
  labels["topology.kubernetes.io/zone"] = "zone-c";
  labels["example.com/cores"] = "16";
  for (auto _ : state) {
    bool ok = m.Matches("node-7", labels);
    benchmark::DoNotOptimize(ok);
  }
}
BENCHMARK(BM_NodeSelectorMatch);

}  // namespace
}  // namespace korch::api

BENCHMARK_MAIN();
