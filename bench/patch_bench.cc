// The PATCH path of the API server on a Deployment: the strategic merge
// patch kubectl apply sends when one container's image changes, a merge
// patch as `kubectl scale` sends, the JSON patch of `rollout undo`, and
// server-side apply of the whole object.
#include <cstdlib>

#include "benchmark/benchmark.h"
#include "korch/apiserver/patch.h"

namespace {

using nlohmann::json;

json Deployment() {
  json d = json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default", "uid": "5f0c7c1e-1d2b-4d8a-9a49-0c4f4f7a1c11",
                 "resourceVersion": "12345", "generation": 4,
                 "labels": {"app": "web", "tier": "front"},
                 "annotations": {"deployment.kubernetes.io/revision": "4"}},
    "spec": {
      "replicas": 3,
      "selector": {"matchLabels": {"app": "web"}},
      "strategy": {"type": "RollingUpdate",
                   "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
      "template": {
        "metadata": {"labels": {"app": "web"}},
        "spec": {
          "containers": [],
          "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                           "effect": "NoExecute", "tolerationSeconds": 300}],
          "volumes": [{"name": "data", "emptyDir": {}}, {"name": "config",
                       "configMap": {"name": "web-config"}}]
        }
      }
    },
    "status": {"replicas": 3, "readyReplicas": 3,
               "conditions": [{"type": "Available", "status": "True"},
                              {"type": "Progressing", "status": "True"}]}
  })");
  json& containers = d["spec"]["template"]["spec"]["containers"];
  for (const char* name : {"app", "proxy", "metrics"}) {
    json c = {{"name", name},
              {"image", std::string("registry.example.com/") + name + ":1.0"},
              {"ports", json::array({{{"containerPort", 8080}, {"protocol", "TCP"}},
                                     {{"containerPort", 9090}, {"protocol", "TCP"}}})},
              {"resources", {{"requests", {{"cpu", "100m"}, {"memory", "128Mi"}}}}},
              {"volumeMounts", json::array({{{"name", "data"}, {"mountPath", "/data"}},
                                            {{"name", "config"}, {"mountPath", "/etc/web"}}})}};
    json env = json::array();
    for (int i = 0; i < 10; ++i) {
      env.push_back({{"name", "VAR_" + std::to_string(i)}, {"value", std::to_string(i)}});
    }
    c["env"] = std::move(env);
    containers.push_back(std::move(c));
  }
  return d;
}

void BM_StrategicMergePatch_Deployment(benchmark::State& state) {
  json doc = Deployment();
  json patch = json::parse(R"({"metadata":{"annotations":{
      "kubectl.kubernetes.io/last-applied-configuration":"{}"}},
    "spec":{"template":{"spec":{
      "$setElementOrder/containers":[{"name":"app"},{"name":"proxy"},{"name":"metrics"}],
      "containers":[{"image":"registry.example.com/proxy:1.1","name":"proxy",
                     "$setElementOrder/env":[{"name":"VAR_0"},{"name":"VAR_1"},{"name":"VAR_2"},
                       {"name":"VAR_3"},{"name":"VAR_4"},{"name":"VAR_5"},{"name":"VAR_6"},
                       {"name":"VAR_7"},{"name":"VAR_8"},{"name":"VAR_9"},{"name":"NEW"}],
                     "env":[{"name":"NEW","value":"x"}]}]}}}})");
  const korch::apiserver::StrategicSchema& schema = korch::apiserver::KubernetesStrategicSchema();
  for (auto _ : state) {
    auto out = korch::apiserver::ApplyStrategicMergePatch(doc, patch, schema);
    if (!out.ok()) std::abort();
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_StrategicMergePatch_Deployment);

void BM_MergePatch_Scale(benchmark::State& state) {
  json doc = Deployment();
  json patch = {{"spec", {{"replicas", 5}}}};
  for (auto _ : state) {
    auto out = korch::apiserver::ApplyMergePatch(doc, patch);
    if (!out.ok()) std::abort();
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_MergePatch_Scale);

void BM_JsonPatch_RolloutUndo(benchmark::State& state) {
  json doc = Deployment();
  json patch = json::array(
      {{{"op", "replace"}, {"path", "/spec/template"}, {"value", doc["spec"]["template"]}},
       {{"op", "replace"},
        {"path", "/metadata/annotations"},
        {"value", {{"deployment.kubernetes.io/revision", "5"}}}}});
  for (auto _ : state) {
    auto out = korch::apiserver::ApplyJsonPatch(doc, patch);
    if (!out.ok()) std::abort();
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_JsonPatch_RolloutUndo);

void BM_ServerSideApply_Deployment(benchmark::State& state) {
  json live = Deployment();
  json applied = Deployment();
  applied.erase("status");
  applied["spec"]["template"]["spec"]["containers"][1]["image"] = "registry.example.com/proxy:1.1";
  const korch::apiserver::StrategicSchema& schema = korch::apiserver::KubernetesStrategicSchema();
  for (auto _ : state) {
    auto out = korch::apiserver::ApplyServerSideApply(&live, applied, schema);
    if (!out.ok()) std::abort();
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_ServerSideApply_Deployment);

}  // namespace

BENCHMARK_MAIN();
