// manifest_check: reads Kubernetes manifests (YAML or JSON, several
// documents per file), decodes them strictly, applies the API server's
// defaults, validates them, and prints what it found: one line per valid
// object and every error of an invalid one, with field paths.
//
//   manifest_check [--print[=KIND]] [--lenient] FILE...
//
// --print writes each valid object (or only those of KIND) back as
// Kubernetes JSON after defaulting. --lenient ignores unknown fields.
// Exit status: 0 if every object is valid, 1 otherwise, 2 on usage errors.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "korch/api/codec.h"
#include "korch/api/defaults.h"
#include "korch/api/meta.pb.h"
#include "korch/api/scheme.h"
#include "korch/api/validation.h"

namespace {

std::string NameOf(const google::protobuf::Message& m) {
  const auto* fd = m.GetDescriptor()->FindFieldByName("metadata");
  if (fd == nullptr || fd->message_type() != korch::api::ObjectMeta::descriptor()) return "";
  const auto& meta =
      static_cast<const korch::api::ObjectMeta&>(m.GetReflection()->GetMessage(m, fd));
  std::string name = meta.name().empty() ? meta.generate_name() + "*" : meta.name();
  return meta.namespace_().empty() ? name : meta.namespace_() + "/" + name;
}

}  // namespace

int main(int argc, char** argv) {
  bool print = false;
  std::string print_kind;
  korch::api::DecodeOptions decode;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--print") {
      print = true;
    } else if (arg.rfind("--print=", 0) == 0) {
      print = true;
      print_kind = arg.substr(8);
    } else if (arg == "--lenient") {
      decode.strict = false;
    } else if (arg == "--help" || arg == "-h") {
      std::cout << "usage: manifest_check [--print[=KIND]] [--lenient] FILE...\n";
      return 0;
    } else if (!arg.empty() && arg[0] == '-') {
      std::cerr << "manifest_check: unknown flag " << arg << " (see --help)\n";
      return 2;
    } else {
      files.push_back(arg);
    }
  }
  if (files.empty()) {
    std::cerr << "usage: manifest_check [--print[=KIND]] [--lenient] FILE...\n";
    return 2;
  }

  const korch::api::Scheme& scheme = korch::api::Scheme::Builtin();
  int objects = 0, invalid = 0;
  for (const std::string& file : files) {
    std::ifstream in(file);
    if (!in) {
      std::cerr << file << ": cannot open\n";
      ++invalid;
      continue;
    }
    std::stringstream text;
    text << in.rdbuf();
    auto decoded = korch::api::DecodeManifest(text.str(), scheme, decode);
    if (!decoded.ok()) {
      std::cout << file << ": cannot decode: " << decoded.status().message() << "\n";
      ++invalid;
      continue;
    }
    for (auto& obj : *decoded) {
      ++objects;
      const korch::api::KindInfo* info = scheme.Find(obj->GetDescriptor());
      // Like kubectl: a namespaced object without a namespace goes to "default".
      if (info != nullptr && info->namespaced) {
        const auto* fd = obj->GetDescriptor()->FindFieldByName("metadata");
        auto* meta = static_cast<korch::api::ObjectMeta*>(
            obj->GetReflection()->MutableMessage(obj.get(), fd));
        if (meta->namespace_().empty()) meta->set_namespace_("default");
      }
      korch::api::SetDefaults(obj.get());
      std::string what = (info ? info->QualifiedKind() : obj->GetTypeName()) + " " + NameOf(*obj);
      korch::api::FieldErrorList errors = korch::api::ValidateObject(*obj);
      if (errors.empty()) {
        std::cout << file << ": " << what << ": valid\n";
        if (print && (print_kind.empty() || (info && info->kind == print_kind))) {
          korch::api::EncodeOptions pretty;
          pretty.pretty = true;
          std::cout << korch::api::EncodeJson(*obj, pretty) << "\n";
        }
        continue;
      }
      ++invalid;
      std::cout << file << ": " << what << ": " << errors.size() << " error(s)\n";
      for (const auto& e : errors) std::cout << "    " << e.ToString() << "\n";
    }
  }
  std::cout << objects << " object(s), " << invalid << " with errors\n";
  return invalid == 0 ? 0 : 1;
}
