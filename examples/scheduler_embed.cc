// scheduler_embed: korch's scheduler embedded in an "existing tool", with no
// API server, store or threads. It reads a cluster from a JSON file
//
//   {"nodes": [<Kubernetes Node objects>], "pods": [<Kubernetes Pod objects>]}
//
// places the pods that have no spec.nodeName (in file order, each seeing the
// placements before it, as one batch), and prints one line per pod:
//
//   default/web-0 -> node-a
//   default/huge: unschedulable: 0/3 nodes are available: 3 Insufficient cpu.
//
// Pods that already name a node are counted on it ("default/db-0 on node-b
// (already bound)"). Placements are reproducible for a given --seed.
//
//   scheduler_embed [--seed=N] [--config=FILE] FILE
//
// --config takes a KubeSchedulerConfiguration (YAML or JSON) to change
// plugins, weights and arguments.
// Exit status: 0 when every pod was placed, 1 when some pod is unschedulable
// or the input is bad, 2 on usage errors.
#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "korch/api/codec.h"
#include "korch/api/core.pb.h"
#include "korch/api/defaults.h"
#include "korch/scheduler/config.h"
#include "korch/scheduler/scheduler.h"

namespace {

constexpr char kUsage[] = "usage: scheduler_embed [--seed=N] [--config=FILE] FILE\n";

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  *out = s.str();
  return true;
}

std::string KeyOf(const korch::api::Pod& pod) {
  return absl::StrCat(pod.metadata().namespace_().empty() ? "default" : pod.metadata().namespace_(),
                      "/", pod.metadata().name());
}

// Decodes the items of `doc[field]` as T, with the API server's defaults.
template <typename T>
bool DecodeItems(const nlohmann::json& doc, const char* field, std::vector<T>* out) {
  auto it = doc.find(field);
  if (it == doc.end()) return true;
  if (!it->is_array()) {
    std::cerr << "scheduler_embed: \"" << field << "\" must be a list\n";
    return false;
  }
  for (size_t i = 0; i < it->size(); ++i) {
    T object;
    korch::api::DecodeOptions options;
    options.strict = false;  // tools pass objects with fields korch does not model
    if (absl::Status s = korch::api::DecodeJsonValue((*it)[i], &object, options); !s.ok()) {
      std::cerr << "scheduler_embed: " << field << "[" << i << "]: " << s.message() << "\n";
      return false;
    }
    korch::api::SetDefaults(&object);
    out->push_back(std::move(object));
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seed = 1;
  std::string config_path;
  std::string path;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (arg.rfind("--seed=", 0) == 0) {
      if (!absl::SimpleAtoi(arg.substr(7), &seed)) {
        std::cerr << "scheduler_embed: invalid --seed \"" << arg.substr(7) << "\"\n" << kUsage;
        return 2;
      }
    } else if (arg.rfind("--config=", 0) == 0) {
      config_path = arg.substr(9);
    } else if (!arg.empty() && arg[0] == '-') {
      std::cerr << "scheduler_embed: unknown flag " << arg << "\n" << kUsage;
      return 2;
    } else if (path.empty()) {
      path = arg;
    } else {
      std::cerr << "scheduler_embed: one input file only\n" << kUsage;
      return 2;
    }
  }
  if (path.empty()) {
    std::cerr << kUsage;
    return 2;
  }

  std::string text;
  if (!ReadFile(path, &text)) {
    std::cerr << "scheduler_embed: cannot read " << path << "\n";
    return 1;
  }
  absl::StatusOr<nlohmann::json> doc = korch::api::ParseJson(text, /*reject_duplicates=*/true);
  if (!doc.ok() || !doc->is_object()) {
    std::cerr << "scheduler_embed: " << path << ": "
              << (doc.ok() ? "want a JSON object {\"nodes\": [...], \"pods\": [...]}"
                           : std::string(doc.status().message()))
              << "\n";
    return 1;
  }
  std::vector<korch::api::Node> nodes;
  std::vector<korch::api::Pod> pods;
  if (!DecodeItems(*doc, "nodes", &nodes) || !DecodeItems(*doc, "pods", &pods)) return 1;

  // The scheduler: every node scored (exact, reproducible answers), no
  // threads, a fixed tie-break seed.
  korch::scheduler::SchedulerOptions options;
  if (!config_path.empty()) {
    std::string config_text;
    if (!ReadFile(config_path, &config_text)) {
      std::cerr << "scheduler_embed: cannot read " << config_path << "\n";
      return 1;
    }
    auto config = korch::scheduler::ParseSchedulerConfiguration(config_text);
    if (!config.ok()) {
      std::cerr << "scheduler_embed: " << config_path << ": " << config.status().message() << "\n";
      return 1;
    }
    options.config = *std::move(config);
  } else {
    options.config.percentage_of_nodes_to_score = 100;
  }
  options.config.parallelism = 1;
  options.seed = seed;
  auto scheduler = korch::scheduler::Scheduler::Create(std::move(options));
  if (!scheduler.ok()) {
    std::cerr << "scheduler_embed: " << scheduler.status().message() << "\n";
    return 1;
  }

  for (const korch::api::Node& node : nodes) {
    if (absl::Status s = (*scheduler)->AddNode(node); !s.ok()) {
      std::cerr << "scheduler_embed: node " << node.metadata().name() << ": " << s.message()
                << "\n";
      return 1;
    }
  }
  std::vector<korch::api::Pod> pending;
  for (const korch::api::Pod& pod : pods) {
    if (pod.spec().node_name().empty()) {
      pending.push_back(pod);
      continue;
    }
    if (absl::Status s = (*scheduler)->AddPod(pod); !s.ok()) {
      std::cerr << "scheduler_embed: pod " << KeyOf(pod) << ": " << s.message() << "\n";
      return 1;
    }
    std::cout << KeyOf(pod) << " on " << pod.spec().node_name() << " (already bound)\n";
  }

  std::vector<absl::StatusOr<korch::scheduler::ScheduleResult>> results =
      (*scheduler)->ScheduleBatch(pending);
  int placed = 0, unschedulable = 0;
  for (size_t i = 0; i < pending.size(); ++i) {
    const std::string key = KeyOf(pending[i]);
    if (!results[i].ok()) {
      ++unschedulable;
      std::cout << key << ": error: " << results[i].status().message() << "\n";
    } else if (!results[i]->node_name.empty()) {
      ++placed;
      std::cout << key << " -> " << results[i]->node_name << "\n";
    } else {
      ++unschedulable;
      std::cout << key << ": unschedulable: "
                << (results[i]->fit_error.has_value() ? results[i]->fit_error->Message()
                                                      : std::string("no node fits"))
                << "\n";
    }
  }
  std::cout << placed << " placed, " << unschedulable << " unschedulable, " << nodes.size()
            << " nodes\n";
  return unschedulable == 0 ? 0 : 1;
}
