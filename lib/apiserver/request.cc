// The request vocabulary: event names and the mapping of absl::Status to
// Kubernetes' Status objects.

#include "korch/apiserver/request.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "korch/api/field_errors.h"

namespace korch::apiserver {
namespace {

// Payload carrying "Reason:code" from WithReason().
constexpr char kReasonPayload[] = "korch.io/k8s-reason";
// Payload carrying a serialized api::StatusDetails (name, group, kind) from
// the error constructors below.
constexpr char kDetailsPayload[] = "korch.io/k8s-details";
// The payload api::InvalidStatus() attaches (lib/api/field_errors.cc): a
// serialized api::StatusDetails with name, qualified kind and causes.
constexpr char kFieldErrorsPayload[] = "korch.io/field-errors";

struct ReasonAndCode {
  std::string reason;
  int code = 500;
};

ReasonAndCode DefaultReason(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return {"", 200};
    case absl::StatusCode::kNotFound:
      return {"NotFound", 404};
    case absl::StatusCode::kAlreadyExists:
      return {"AlreadyExists", 409};
    case absl::StatusCode::kAborted:
      return {"Conflict", 409};
    case absl::StatusCode::kInvalidArgument:
      return {"Invalid", 422};
    case absl::StatusCode::kPermissionDenied:
      return {"Forbidden", 403};
    case absl::StatusCode::kUnauthenticated:
      return {"Unauthorized", 401};
    case absl::StatusCode::kOutOfRange:
      return {"Expired", 410};
    case absl::StatusCode::kResourceExhausted:
      return {"TooManyRequests", 429};
    case absl::StatusCode::kUnavailable:
      return {"ServiceUnavailable", 503};
    case absl::StatusCode::kDeadlineExceeded:
      return {"Timeout", 504};
    case absl::StatusCode::kFailedPrecondition:
      return {"Conflict", 409};
    case absl::StatusCode::kUnimplemented:
      return {"MethodNotAllowed", 405};
    default:
      return {"InternalError", 500};
  }
}

std::optional<ReasonAndCode> AttachedReason(const absl::Status& status) {
  auto payload = status.GetPayload(kReasonPayload);
  if (!payload.has_value()) return std::nullopt;
  std::string text(*payload);
  std::pair<std::string, std::string> parts = absl::StrSplit(text, absl::MaxSplits(':', 1));
  ReasonAndCode out;
  out.reason = parts.first;
  if (!absl::SimpleAtoi(parts.second, &out.code)) out.code = 500;
  return out;
}

// "deployments.apps" -> {"deployments", "apps"}; "pods" -> {"pods", ""}.
std::pair<std::string, std::string> SplitQualified(absl::string_view qualified) {
  size_t dot = qualified.find('.');
  if (dot == absl::string_view::npos) return {std::string(qualified), ""};
  return {std::string(qualified.substr(0, dot)), std::string(qualified.substr(dot + 1))};
}

absl::Status WithDetails(absl::Status status, absl::string_view qualified_resource,
                         absl::string_view name) {
  api::StatusDetails details;
  auto [resource, group] = SplitQualified(qualified_resource);
  if (!name.empty()) details.set_name(std::string(name));
  details.set_kind(resource);
  if (!group.empty()) details.set_group(group);
  status.SetPayload(kDetailsPayload, absl::Cord(details.SerializeAsString()));
  return status;
}

// `pods "web"` or, without a name, `pods`.
std::string Subject(absl::string_view qualified_resource, absl::string_view name) {
  if (name.empty()) return std::string(qualified_resource);
  return absl::StrCat(qualified_resource, " \"", name, "\"");
}

}  // namespace

absl::string_view EventTypeName(EventType type) {
  switch (type) {
    case EventType::kAdded:
      return "ADDED";
    case EventType::kModified:
      return "MODIFIED";
    case EventType::kDeleted:
      return "DELETED";
    case EventType::kBookmark:
      return "BOOKMARK";
  }
  return "ERROR";
}

absl::Status WithReason(absl::Status status, absl::string_view reason, int http_code) {
  if (status.ok()) return status;
  status.SetPayload(kReasonPayload, absl::Cord(absl::StrCat(reason, ":", http_code)));
  return status;
}

absl::Status WithStatusDetails(absl::Status status, const api::StatusDetails& details) {
  if (status.ok()) return status;
  status.SetPayload(kDetailsPayload, absl::Cord(details.SerializeAsString()));
  return status;
}

api::Status ToKubernetesStatus(const absl::Status& status) {
  api::Status out;
  out.mutable_metadata();
  if (status.ok()) {
    out.set_status("Success");
    out.set_code(200);
    return out;
  }
  out.set_status("Failure");
  out.set_message(std::string(status.message()));
  ReasonAndCode rc = DefaultReason(status.code());
  if (std::optional<ReasonAndCode> attached = AttachedReason(status)) rc = *attached;
  out.set_reason(rc.reason);
  out.set_code(rc.code);

  if (auto payload = status.GetPayload(kDetailsPayload)) {
    api::StatusDetails details;
    if (details.ParseFromString(std::string(*payload))) *out.mutable_details() = details;
  }
  if (auto payload = status.GetPayload(kFieldErrorsPayload)) {
    // Kubernetes' Invalid details: the kind without its group, the group
    // separately, and each cause's message without the field path in front
    // (the field has its own member).
    api::StatusDetails invalid;
    if (invalid.ParseFromString(std::string(*payload))) {
      api::StatusDetails* details = out.mutable_details();
      if (!invalid.name().empty()) details->set_name(invalid.name());
      auto [kind, group] = SplitQualified(invalid.kind());
      if (!kind.empty()) details->set_kind(kind);
      if (!group.empty()) details->set_group(group);
      details->clear_causes();
      for (const api::StatusCause& cause : invalid.causes()) {
        api::StatusCause* c = details->add_causes();
        c->set_reason(cause.reason());
        c->set_field(cause.field());
        absl::string_view message = cause.message();
        std::string prefix = absl::StrCat(cause.field(), ": ");
        if (!cause.field().empty() && absl::StartsWith(message, prefix)) {
          message.remove_prefix(prefix.size());
        }
        c->set_message(std::string(message));
      }
    }
  }
  return out;
}

absl::Status NotFoundError(absl::string_view qualified_resource, absl::string_view name) {
  return WithDetails(
      absl::NotFoundError(absl::StrCat(Subject(qualified_resource, name), " not found")),
      qualified_resource, name);
}

absl::Status AlreadyExistsError(absl::string_view qualified_resource, absl::string_view name) {
  return WithDetails(
      absl::AlreadyExistsError(absl::StrCat(Subject(qualified_resource, name), " already exists")),
      qualified_resource, name);
}

absl::Status ConflictError(absl::string_view qualified_resource, absl::string_view name,
                           absl::string_view detail) {
  return WithDetails(
      absl::AbortedError(absl::StrCat("Operation cannot be fulfilled on ",
                                      Subject(qualified_resource, name), ": ", detail)),
      qualified_resource, name);
}

absl::Status ForbiddenError(absl::string_view qualified_resource, absl::string_view name,
                            absl::string_view detail) {
  return WithDetails(absl::PermissionDeniedError(absl::StrCat(Subject(qualified_resource, name),
                                                              " is forbidden: ", detail)),
                     qualified_resource, name);
}

}  // namespace korch::apiserver
