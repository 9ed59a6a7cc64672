// Decoding and encoding a typical Pod: Kubernetes JSON (korch's codec),
// protobuf binary, and protobuf's own JSON for comparison. The Pod is
// tests/data/valid/pod-status.json, a running Pod as an API server returns
// it (metadata, spec with probes and resources, full status).
#include <fstream>
#include <sstream>

#include "benchmark/benchmark.h"
#include "google/protobuf/util/json_util.h"
#include "korch/api/codec.h"
#include "korch/api/core.pb.h"

namespace {

std::string PodJson() {
  std::ifstream in(std::string(KORCH_TEST_DATA_DIR) + "/valid/pod-status.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

korch::api::Pod PodMessage() {
  korch::api::Pod pod;
  if (!korch::api::DecodeJson(PodJson(), &pod).ok()) std::abort();
  return pod;
}

void BM_DecodeJson_Pod(benchmark::State& state) {
  std::string text = PodJson();
  korch::api::DecodeOptions opts;
  opts.strict = state.range(0) != 0;
  korch::api::Pod pod;
  for (auto _ : state) {
    auto s = korch::api::DecodeJson(text, &pod, opts);
    benchmark::DoNotOptimize(s);
  }
  state.SetBytesProcessed(state.iterations() * text.size());
  state.SetLabel(opts.strict ? "strict" : "lenient");
}
BENCHMARK(BM_DecodeJson_Pod)->Arg(1)->Arg(0);

void BM_EncodeJson_Pod(benchmark::State& state) {
  korch::api::Pod pod = PodMessage();
  std::string out;
  korch::api::EncodeOptions opts;
  for (auto _ : state) {
    out.clear();
    korch::api::AppendJson(pod, opts, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * out.size());
}
BENCHMARK(BM_EncodeJson_Pod);

void BM_DecodeProto_Pod(benchmark::State& state) {
  std::string bytes = PodMessage().SerializeAsString();
  korch::api::Pod pod;
  for (auto _ : state) {
    bool ok = pod.ParseFromString(bytes);
    benchmark::DoNotOptimize(ok);
  }
  state.SetBytesProcessed(state.iterations() * bytes.size());
}
BENCHMARK(BM_DecodeProto_Pod);

void BM_EncodeProto_Pod(benchmark::State& state) {
  korch::api::Pod pod = PodMessage();
  std::string out;
  for (auto _ : state) {
    out.clear();
    pod.SerializeToString(&out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * out.size());
}
BENCHMARK(BM_EncodeProto_Pod);

// protobuf's generic JSON printer on the same message, as a yardstick (it
// does not produce Kubernetes JSON: no kind, no quantities, wrong times).
void BM_ProtobufJsonUtil_EncodePod(benchmark::State& state) {
  korch::api::Pod pod = PodMessage();
  std::string out;
  for (auto _ : state) {
    out.clear();
    auto s = google::protobuf::util::MessageToJsonString(pod, &out);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_ProtobufJsonUtil_EncodePod);

}  // namespace

BENCHMARK_MAIN();
