#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "korch/scheduler/framework.h"

namespace korch::scheduler {

absl::string_view CodeName(Code code) {
  switch (code) {
    case Code::kSuccess:
      return "Success";
    case Code::kError:
      return "Error";
    case Code::kUnschedulable:
      return "Unschedulable";
    case Code::kUnschedulableAndUnresolvable:
      return "UnschedulableAndUnresolvable";
    case Code::kWait:
      return "Wait";
    case Code::kSkip:
      return "Skip";
    case Code::kPending:
      return "Pending";
  }
  return "Unknown";
}

std::string PluginStatus::ToString() const {
  std::string out(CodeName(code_));
  if (!reasons().empty()) absl::StrAppend(&out, ": ", absl::StrJoin(reasons(), ", "));
  return out;
}

const absl::InlinedVector<std::string, 1>& PluginStatus::EmptyReasons() {
  static const auto* const empty = new absl::InlinedVector<std::string, 1>();  // never freed
  return *empty;
}

const std::string& PluginStatus::EmptyString() {
  static const auto* const empty = new std::string();  // never freed
  return *empty;
}

void CycleState::Write(StateKey key, std::unique_ptr<StateData> data) {
  if (key < 0) return;
  if (static_cast<size_t>(key) >= slots_.size()) slots_.resize(key + 1);
  slots_[key] = std::move(data);
}

void CycleState::Delete(StateKey key) {
  if (key >= 0 && static_cast<size_t>(key) < slots_.size()) slots_[key].reset();
}

std::unique_ptr<CycleState> CycleState::Clone() const {
  auto copy = std::make_unique<CycleState>();
  copy->slots_.resize(slots_.size());
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i]) copy->slots_[i] = slots_[i]->Clone();
  }
  copy->skip_filter_ = skip_filter_;
  copy->skip_score_ = skip_score_;
  return copy;
}

}  // namespace korch::scheduler
