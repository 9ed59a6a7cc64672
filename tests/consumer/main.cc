// Builds against an installed korch and uses the resource model and the
// codec through the public headers only.
#include <cstdio>

#include "korch/api/codec.h"
#include "korch/api/core.pb.h"
#include "korch/api/quantity.h"
#include "korch/api/validation.h"

int main() {
  korch::api::Pod pod;
  if (auto s = korch::api::DecodeJson(
          R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"default"},
              "spec":{"containers":[{"name":"web","image":"nginx",
                      "resources":{"requests":{"cpu":"0.5"}}}]}})",
          &pod);
      !s.ok()) {
    std::fprintf(stderr, "decode: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  if (pod.spec().containers(0).resources().requests().at("cpu") != "500m") {
    std::fprintf(stderr, "quantity not canonical\n");
    return 1;
  }
  if (!korch::api::Validate(pod).ok()) return 1;
  std::printf("%s\n", korch::api::EncodeJson(pod).c_str());
  return 0;
}
