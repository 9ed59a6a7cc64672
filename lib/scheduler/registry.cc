#include "korch/scheduler/registry.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace korch::scheduler {

absl::Status Registry::Register(absl::string_view name, PluginFactory factory) {
  if (name.empty()) return absl::InvalidArgumentError("plugin name: Required value");
  if (factory == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("plugin \"", name, "\": factory is null"));
  }
  auto [it, inserted] = factories_.try_emplace(name, std::move(factory));
  if (!inserted) {
    return absl::AlreadyExistsError(
        absl::StrCat("a plugin named \"", name, "\" already exists in the registry"));
  }
  return absl::OkStatus();
}

absl::Status Registry::Unregister(absl::string_view name) {
  if (factories_.erase(name) == 0) {
    return absl::NotFoundError(
        absl::StrCat("no plugin named \"", name, "\" exists in the registry"));
  }
  return absl::OkStatus();
}

const PluginFactory* Registry::Find(absl::string_view name) const {
  auto it = factories_.find(name);
  return it == factories_.end() ? nullptr : &it->second;
}

std::vector<std::string> Registry::Names() const {
  std::vector<std::string> names;
  names.reserve(factories_.size());
  for (const auto& [name, factory] : factories_) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

absl::Status Registry::Merge(const Registry& other) {
  // Checked first so that a failed merge adds nothing; sorted so that the
  // duplicate reported is the same on every run.
  std::vector<std::string> names = other.Names();
  for (const std::string& name : names) {
    if (factories_.contains(name)) {
      return absl::AlreadyExistsError(
          absl::StrCat("a plugin named \"", name, "\" already exists in the registry"));
    }
  }
  for (const std::string& name : names) factories_.emplace(name, other.factories_.at(name));
  return absl::OkStatus();
}

}  // namespace korch::scheduler
