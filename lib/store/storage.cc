// Helpers shared by every Storage backend.
#include <string>

#include "korch/store.h"

namespace korch::store {

std::string PrefixEnd(absl::string_view prefix) {
  std::string end(prefix);
  // Drop trailing 0xff bytes (they cannot be incremented), then increment
  // the last byte: "a/" -> "a0", "a\xff" -> "b", "\xff\xff" -> "".
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (!end.empty()) end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

}  // namespace korch::store
