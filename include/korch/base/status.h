// Helpers over absl::Status / absl::StatusOr used throughout korch.
//
// korch reports every failure as an absl::Status whose code tells the caller
// how to react (see STYLE.md): kNotFound, kAlreadyExists, kAborted (version
// conflict: re-read and retry), kFailedPrecondition, kInvalidArgument (with
// field paths), kPermissionDenied, kUnauthenticated, kOutOfRange (compacted
// revision), kUnavailable (retry later).
#ifndef KORCH_BASE_STATUS_H_
#define KORCH_BASE_STATUS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "korch/export.h"

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define KORCH_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::absl::Status korch_status_ = (expr);         \
    if (!korch_status_.ok()) return korch_status_; \
  } while (0)

#define KORCH_STATUS_CONCAT_INNER_(a, b) a##b
#define KORCH_STATUS_CONCAT_(a, b) KORCH_STATUS_CONCAT_INNER_(a, b)

// KORCH_ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr<T>),
// returns its status on error, otherwise moves the value into `lhs`, which
// may be a declaration (`auto x`) or an existing variable.
#define KORCH_ASSIGN_OR_RETURN(lhs, expr) \
  KORCH_ASSIGN_OR_RETURN_IMPL_(KORCH_STATUS_CONCAT_(korch_statusor_, __LINE__), lhs, expr)
#define KORCH_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return std::move(tmp).status();     \
  lhs = std::move(tmp).value()

namespace korch {

// Returns `status` with `context` prepended to its message
// ("context: message"); the code and payloads are kept. OK stays OK.
KORCH_EXPORT absl::Status Annotate(const absl::Status& status, absl::string_view context);

}  // namespace korch

#endif  // KORCH_BASE_STATUS_H_
