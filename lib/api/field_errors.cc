#include "korch/api/field_errors.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "korch/api/meta.pb.h"

namespace korch::api {
namespace {

constexpr char kCausesPayload[] = "korch.io/field-errors";

absl::string_view TypeText(FieldErrorType t) {
  switch (t) {
    case FieldErrorType::kRequired:
      return "Required value";
    case FieldErrorType::kInvalid:
      return "Invalid value";
    case FieldErrorType::kNotSupported:
      return "Unsupported value";
    case FieldErrorType::kDuplicate:
      return "Duplicate value";
    case FieldErrorType::kForbidden:
      return "Forbidden";
    case FieldErrorType::kTooLong:
      return "Too long";
    case FieldErrorType::kTooMany:
      return "Too many";
    case FieldErrorType::kNotFound:
      return "Not found";
    case FieldErrorType::kTypeInvalid:
      return "Invalid value";
    case FieldErrorType::kInternal:
      return "Internal error";
  }
  return "Invalid value";
}

FieldErrorType TypeFromReason(absl::string_view reason) {
  static constexpr FieldErrorType kAll[] = {
      FieldErrorType::kRequired,  FieldErrorType::kInvalid,   FieldErrorType::kNotSupported,
      FieldErrorType::kDuplicate, FieldErrorType::kForbidden, FieldErrorType::kTooLong,
      FieldErrorType::kTooMany,   FieldErrorType::kNotFound,  FieldErrorType::kTypeInvalid,
      FieldErrorType::kInternal};
  for (FieldErrorType t : kAll) {
    FieldError e;
    e.type = t;
    if (e.Reason() == reason) return t;
  }
  return FieldErrorType::kInvalid;
}

FieldError Make(FieldErrorType type, const FieldPath& path, std::string value,
                absl::string_view detail) {
  FieldError e;
  e.type = type;
  e.field = path.str();
  e.bad_value = std::move(value);
  e.detail = std::string(detail);
  return e;
}

}  // namespace

FieldPath FieldPath::Child(absl::string_view name) const {
  FieldPath p;
  p.path_ = path_.empty() ? std::string(name) : absl::StrCat(path_, ".", name);
  return p;
}

FieldPath FieldPath::Index(int64_t i) const {
  FieldPath p;
  p.path_ = absl::StrCat(path_, "[", i, "]");
  return p;
}

FieldPath FieldPath::Key(absl::string_view key) const {
  FieldPath p;
  p.path_ = absl::StrCat(path_, "[", key, "]");
  return p;
}

std::string FieldError::ToString() const {
  std::string out = absl::StrCat(field, field.empty() ? "" : ": ", TypeText(type));
  switch (type) {
    case FieldErrorType::kRequired:
    case FieldErrorType::kForbidden:
    case FieldErrorType::kTooLong:
    case FieldErrorType::kInternal:
      if (!detail.empty()) absl::StrAppend(&out, ": ", detail);
      return out;
    default:
      break;
  }
  if (!bad_value.empty()) absl::StrAppend(&out, ": ", bad_value);
  if (!detail.empty()) absl::StrAppend(&out, ": ", detail);
  return out;
}

absl::string_view FieldError::Reason() const {
  switch (type) {
    case FieldErrorType::kRequired:
      return "FieldValueRequired";
    case FieldErrorType::kInvalid:
      return "FieldValueInvalid";
    case FieldErrorType::kNotSupported:
      return "FieldValueNotSupported";
    case FieldErrorType::kDuplicate:
      return "FieldValueDuplicate";
    case FieldErrorType::kForbidden:
      return "FieldValueForbidden";
    case FieldErrorType::kTooLong:
      return "FieldValueTooLong";
    case FieldErrorType::kTooMany:
      return "FieldValueTooMany";
    case FieldErrorType::kNotFound:
      return "FieldValueNotFound";
    case FieldErrorType::kTypeInvalid:
      return "FieldValueTypeInvalid";
    case FieldErrorType::kInternal:
      return "InternalError";
  }
  return "FieldValueInvalid";
}

std::string QuoteValue(absl::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += c;
    }
  }
  out += '"';
  return out;
}

FieldError Required(const FieldPath& path, absl::string_view detail) {
  return Make(FieldErrorType::kRequired, path, "", detail);
}
FieldError Invalid(const FieldPath& path, absl::string_view value, absl::string_view detail) {
  return Make(FieldErrorType::kInvalid, path, QuoteValue(value), detail);
}
FieldError Invalid(const FieldPath& path, int64_t value, absl::string_view detail) {
  return Make(FieldErrorType::kInvalid, path, absl::StrCat(value), detail);
}
FieldError InvalidRendered(const FieldPath& path, absl::string_view rendered,
                           absl::string_view detail) {
  return Make(FieldErrorType::kInvalid, path, std::string(rendered), detail);
}
FieldError NotSupported(const FieldPath& path, absl::string_view value,
                        absl::Span<const absl::string_view> supported) {
  std::string detail;
  if (!supported.empty()) {
    detail = absl::StrCat("supported values: ",
                          absl::StrJoin(supported, ", ", [](std::string* out, absl::string_view s) {
                            out->append(QuoteValue(s));
                          }));
  }
  return Make(FieldErrorType::kNotSupported, path, QuoteValue(value), detail);
}
FieldError Duplicate(const FieldPath& path, absl::string_view value) {
  return Make(FieldErrorType::kDuplicate, path, QuoteValue(value), "");
}
FieldError Forbidden(const FieldPath& path, absl::string_view detail) {
  return Make(FieldErrorType::kForbidden, path, "", detail);
}
FieldError TooLong(const FieldPath& path, int64_t max_length) {
  return Make(FieldErrorType::kTooLong, path, "",
              absl::StrCat("must have at most ", max_length, " bytes"));
}
FieldError TooMany(const FieldPath& path, int64_t actual, int64_t max_items) {
  return Make(FieldErrorType::kTooMany, path, absl::StrCat(actual),
              absl::StrCat("must have at most ", max_items, " items"));
}
FieldError NotFound(const FieldPath& path, absl::string_view value) {
  return Make(FieldErrorType::kNotFound, path, QuoteValue(value), "");
}

absl::Status InvalidStatus(absl::string_view qualified_kind, absl::string_view name,
                           const FieldErrorList& errors) {
  if (errors.empty()) return absl::OkStatus();
  std::string message = absl::StrCat(qualified_kind, " ", QuoteValue(name), " is invalid: ");
  if (errors.size() == 1) {
    absl::StrAppend(&message, errors[0].ToString());
  } else {
    absl::StrAppend(
        &message, "[",
        absl::StrJoin(errors, ", ",
                      [](std::string* out, const FieldError& e) { out->append(e.ToString()); }),
        "]");
  }
  absl::Status status = absl::InvalidArgumentError(message);
  StatusDetails details;
  details.set_name(std::string(name));
  details.set_kind(std::string(qualified_kind));
  for (const FieldError& e : errors) {
    StatusCause* cause = details.add_causes();
    cause->set_reason(std::string(e.Reason()));
    cause->set_message(e.ToString());
    cause->set_field(e.field);
  }
  status.SetPayload(kCausesPayload, absl::Cord(details.SerializeAsString()));
  return status;
}

FieldErrorList InvalidCauses(const absl::Status& status) {
  FieldErrorList out;
  auto payload = status.GetPayload(kCausesPayload);
  if (!payload.has_value()) return out;
  StatusDetails details;
  if (!details.ParseFromString(std::string(*payload))) return out;
  for (const StatusCause& c : details.causes()) {
    FieldError e;
    e.type = TypeFromReason(c.reason());
    e.field = c.field();
    e.detail = c.message();
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace korch::api
