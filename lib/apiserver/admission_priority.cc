// Priority: pods get the integer priority (and preemption policy) of their
// PriorityClass, and at most one PriorityClass is the global default.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "apiserver/admission_internal.h"
#include "korch/api/core.pb.h"
#include "korch/api/scheduling.pb.h"
#include "korch/apiserver/admission.h"

namespace korch::apiserver {
namespace {

using admission_internal::As;
using admission_internal::AsMutable;
using admission_internal::BuiltinKind;
using admission_internal::Forbidden;
using admission_internal::IsKind;

// What a pod takes from its class.
struct Resolved {
  std::string class_name;
  int32_t value = 0;
  std::optional<std::string> preemption_policy;
};

// The classes every cluster has, even before the bootstrap stored them.
std::optional<Resolved> SystemClass(absl::string_view name) {
  if (name == "system-node-critical") {
    return Resolved{std::string(name), 2000001000, "PreemptLowerPriority"};
  }
  if (name == "system-cluster-critical") {
    return Resolved{std::string(name), 2000000000, "PreemptLowerPriority"};
  }
  return std::nullopt;
}

Resolved FromClass(const api::PriorityClass& pc) {
  Resolved r{pc.metadata().name(), pc.value(), std::nullopt};
  if (pc.has_preemption_policy()) r.preemption_policy = pc.preemption_policy();
  return r;
}

// The global default class: the one with globalDefault (the lowest value,
// then the first name, should several exist), or null.
absl::StatusOr<std::shared_ptr<const api::PriorityClass>> DefaultClass(
    const AdmissionAttributes& a) {
  absl::StatusOr<std::vector<ObjectPtr>> all =
      a.List(BuiltinKind(api::PriorityClass::descriptor()), "");
  if (!all.ok()) return all.status();
  std::shared_ptr<const api::PriorityClass> best;
  for (const ObjectPtr& o : *all) {
    const api::PriorityClass* pc = As<api::PriorityClass>(o.get());
    if (pc == nullptr || !pc->global_default()) continue;
    if (best == nullptr || pc->value() < best->value() ||
        (pc->value() == best->value() && pc->metadata().name() < best->metadata().name())) {
      best = std::shared_ptr<const api::PriorityClass>(o, pc);
    }
  }
  return best;
}

class Priority final : public MutatingAdmissionPlugin {
 public:
  absl::string_view Name() const override { return "Priority"; }

  absl::Status Admit(AdmissionAttributes& a) override {
    if (!a.subresource().empty()) return absl::OkStatus();
    if (IsKind(a.kind(), "", "Pod")) return AdmitPod(a);
    if (IsKind(a.kind(), "scheduling.k8s.io", "PriorityClass")) return AdmitPriorityClass(a);
    return absl::OkStatus();
  }

 private:
  static absl::Status AdmitPod(AdmissionAttributes& a) {
    api::Pod* pod = AsMutable<api::Pod>(a.object());
    if (pod == nullptr) return absl::OkStatus();
    api::PodSpec* spec = pod->mutable_spec();
    if (a.operation() == AdmissionOperation::kUpdate) {
      // The priority was resolved at creation; an update that leaves it out
      // keeps it rather than tripping over its immutability.
      const api::Pod* old = As<api::Pod>(a.old_object());
      if (old == nullptr) return absl::OkStatus();
      if (old->spec().has_priority()) spec->set_priority(old->spec().priority());
      if (old->spec().has_preemption_policy()) {
        spec->set_preemption_policy(old->spec().preemption_policy());
      }
      return absl::OkStatus();
    }
    if (a.operation() != AdmissionOperation::kCreate) return absl::OkStatus();

    Resolved resolved;
    if (spec->priority_class_name().empty()) {
      absl::StatusOr<std::shared_ptr<const api::PriorityClass>> def = DefaultClass(a);
      if (!def.ok()) {
        return absl::InternalError(
            absl::StrCat("failed to get default priority class: ", def.status().message()));
      }
      if (*def != nullptr) resolved = FromClass(**def);
    } else {
      const std::string& name = spec->priority_class_name();
      absl::StatusOr<ObjectPtr> stored =
          a.Get(BuiltinKind(api::PriorityClass::descriptor()), "", name);
      const api::PriorityClass* pc = stored.ok() ? As<api::PriorityClass>(stored->get()) : nullptr;
      if (pc != nullptr) {
        resolved = FromClass(*pc);
      } else if (std::optional<Resolved> system = SystemClass(name); system.has_value()) {
        resolved = *system;
      } else if (stored.ok() || absl::IsNotFound(stored.status())) {
        return Forbidden(a, absl::StrCat("no PriorityClass with name ", name, " was found"));
      } else {
        return absl::InternalError(absl::StrCat("failed to get PriorityClass with name ", name,
                                                ": ", stored.status().message()));
      }
    }

    if (spec->has_priority() && spec->priority() != resolved.value) {
      return Forbidden(a, absl::StrCat("the integer value of priority (", spec->priority(),
                                       ") must not be provided in pod spec; priority admission "
                                       "controller computed ",
                                       resolved.value, " from the given PriorityClass name"));
    }
    if (spec->has_preemption_policy() && resolved.preemption_policy.has_value() &&
        spec->preemption_policy() != *resolved.preemption_policy) {
      return Forbidden(
          a, absl::StrCat("the string value of PreemptionPolicy (", spec->preemption_policy(),
                          ") must not be provided in pod spec; priority admission "
                          "controller computed ",
                          *resolved.preemption_policy, " from the given PriorityClass name"));
    }
    if (!resolved.class_name.empty()) spec->set_priority_class_name(resolved.class_name);
    spec->set_priority(resolved.value);
    if (resolved.preemption_policy.has_value()) {
      spec->set_preemption_policy(*resolved.preemption_policy);
    }
    return absl::OkStatus();
  }

  // The reserved "system-" names are checked by validation (422, as in
  // Kubernetes); here only the one-default rule, which needs other objects.
  static absl::Status AdmitPriorityClass(AdmissionAttributes& a) {
    if (a.operation() == AdmissionOperation::kDelete) return absl::OkStatus();
    const api::PriorityClass* pc = As<api::PriorityClass>(a.object());
    if (pc == nullptr || !pc->global_default()) return absl::OkStatus();
    absl::StatusOr<std::shared_ptr<const api::PriorityClass>> def = DefaultClass(a);
    if (!def.ok()) {
      return absl::InternalError(
          absl::StrCat("failed to get default priority class: ", def.status().message()));
    }
    if (*def == nullptr) return absl::OkStatus();
    const std::string& existing = (*def)->metadata().name();
    if (a.operation() == AdmissionOperation::kCreate || existing != pc->metadata().name()) {
      return Forbidden(a, absl::StrCat("PriorityClass ", existing,
                                       " is already marked as default. Only one default can "
                                       "exist"));
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::shared_ptr<MutatingAdmissionPlugin> NewPriority() { return std::make_shared<Priority>(); }

}  // namespace korch::apiserver
