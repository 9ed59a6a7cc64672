// Kubernetes Status objects back into absl::Status: the inverse of
// apiserver::ToKubernetesStatus(), so that a caller of the HTTP client sees
// the same codes, messages and field errors as a caller of the in-process
// client.

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "http_transport.h"
#include "korch/api/field_errors.h"
#include "korch/api/meta.pb.h"
#include "korch/apiserver/request.h"
#include "korch/client/http_client.h"

namespace korch::client {
namespace {

// The code for a Kubernetes reason (k8s.io/apimachinery's StatusReason
// values), or kUnknown for reasons without a fixed meaning.
absl::StatusCode CodeForReason(absl::string_view reason) {
  struct Entry {
    absl::string_view reason;
    absl::StatusCode code;
  };
  static constexpr Entry kTable[] = {
      {"NotFound", absl::StatusCode::kNotFound},
      {"AlreadyExists", absl::StatusCode::kAlreadyExists},
      {"Conflict", absl::StatusCode::kAborted},
      {"Invalid", absl::StatusCode::kInvalidArgument},
      {"BadRequest", absl::StatusCode::kInvalidArgument},
      {"UnsupportedMediaType", absl::StatusCode::kInvalidArgument},
      {"NotAcceptable", absl::StatusCode::kInvalidArgument},
      {"RequestEntityTooLarge", absl::StatusCode::kInvalidArgument},
      {"Forbidden", absl::StatusCode::kPermissionDenied},
      {"Unauthorized", absl::StatusCode::kUnauthenticated},
      {"Expired", absl::StatusCode::kOutOfRange},
      {"Gone", absl::StatusCode::kOutOfRange},
      {"TooManyRequests", absl::StatusCode::kResourceExhausted},
      {"ServiceUnavailable", absl::StatusCode::kUnavailable},
      // The server could not finish in time and asks to retry.
      {"ServerTimeout", absl::StatusCode::kUnavailable},
      {"Timeout", absl::StatusCode::kDeadlineExceeded},
      {"MethodNotAllowed", absl::StatusCode::kUnimplemented},
      {"InternalError", absl::StatusCode::kInternal},
  };
  for (const Entry& e : kTable) {
    if (e.reason == reason) return e.code;
  }
  return absl::StatusCode::kUnknown;
}

api::FieldErrorType TypeForCauseReason(absl::string_view reason) {
  static constexpr api::FieldErrorType kAll[] = {
      api::FieldErrorType::kRequired,     api::FieldErrorType::kInvalid,
      api::FieldErrorType::kNotSupported, api::FieldErrorType::kDuplicate,
      api::FieldErrorType::kForbidden,    api::FieldErrorType::kTooLong,
      api::FieldErrorType::kTooMany,      api::FieldErrorType::kNotFound,
      api::FieldErrorType::kTypeInvalid,  api::FieldErrorType::kInternal};
  for (api::FieldErrorType t : kAll) {
    api::FieldError e;
    e.type = t;
    if (e.Reason() == reason) return t;
  }
  return api::FieldErrorType::kInvalid;
}

// A field error whose ToString() is "<field>: <message>" again: the server
// sends each cause's message without the field in front and with the
// type's text ("Invalid value: ...") first.
api::FieldError FieldErrorFromCause(const api::StatusCause& cause) {
  api::FieldError e;
  e.type = TypeForCauseReason(cause.reason());
  e.field = cause.field();
  absl::string_view message = cause.message();
  const std::string prefix = absl::StrCat(cause.field(), ": ");
  if (!cause.field().empty()) absl::ConsumePrefix(&message, prefix);
  api::FieldError bare;
  bare.type = e.type;
  const std::string type_text = bare.ToString();  // no field, value or detail
  if (message == type_text) return e;
  if (absl::ConsumePrefix(&message, absl::StrCat(type_text, ": "))) {
    e.detail = std::string(message);
    return e;
  }
  e.detail = std::string(message);
  return e;
}

}  // namespace

absl::Status FromKubernetesStatus(const api::Status& status, int http_code) {
  if (status.status() == "Success") return absl::OkStatus();
  const int code = status.code() > 0 ? status.code() : http_code;
  absl::StatusCode absl_code = CodeForReason(status.reason());
  if (absl_code == absl::StatusCode::kUnknown) absl_code = internal::CodeForHttpStatus(code);
  if (absl_code == absl::StatusCode::kOk) absl_code = absl::StatusCode::kUnknown;
  std::string message = status.message();
  if (message.empty()) {
    message = absl::StrCat("the server reported ",
                           status.reason().empty() ? "a failure" : status.reason(),
                           code > 0 ? absl::StrCat(" (HTTP ", code, ")") : "");
  }
  absl::Status out(absl_code, message);

  if (status.has_details() && !status.details().causes().empty()) {
    // Carried as api::InvalidStatus() carries them, so InvalidCauses()
    // finds them; the message stays the server's.
    const api::StatusDetails& details = status.details();
    api::FieldErrorList errors;
    for (const api::StatusCause& cause : details.causes()) {
      errors.push_back(FieldErrorFromCause(cause));
    }
    std::string qualified_kind = details.kind();
    if (!details.group().empty()) absl::StrAppend(&qualified_kind, ".", details.group());
    absl::Status invalid = api::InvalidStatus(qualified_kind, details.name(), errors);
    invalid.ForEachPayload([&out](absl::string_view type_url, const absl::Cord& payload) {
      out.SetPayload(type_url, payload);
    });
  }
  if (!status.reason().empty() && code > 0) {
    out = apiserver::WithReason(std::move(out), status.reason(), code);
  }
  return out;
}

}  // namespace korch::client
