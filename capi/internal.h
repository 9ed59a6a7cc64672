// Helpers shared by the C API's translation units: error codes and the
// thread-local message, exception barriers, string copies, and the handle
// types more than one file needs. Not installed.
#ifndef KORCH_CAPI_INTERNAL_H_
#define KORCH_CAPI_INTERNAL_H_

#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "korch.h"
#include "korch/client/client.h"

struct korch_client_t {
  std::unique_ptr<korch::client::Client> client;
};

namespace korch::capi {

// The message of the last error on this thread.
inline std::string& LastError() {
  thread_local std::string message;
  return message;
}

inline int Fail(const absl::Status& status) {
  LastError() = std::string(status.message());
  if (LastError().empty()) LastError() = absl::StatusCodeToString(status.code());
  int code = static_cast<int>(status.code());
  return code == 0 ? KORCH_ERR_UNKNOWN : -code;
}

inline int Fail(int code, std::string message) {
  LastError() = std::move(message);
  return code;
}

inline int Ok() {
  LastError().clear();
  return KORCH_OK;
}

// Runs `body` (returning an int code) with every exception turned into
// KORCH_ERR_INTERNAL.
template <typename F>
int Guard(F&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    return Fail(KORCH_ERR_INTERNAL, absl::StrCat("internal error: ", e.what()));
  } catch (...) {
    return Fail(KORCH_ERR_INTERNAL, "internal error: unknown exception");
  }
}

inline char* CopyOut(absl::string_view s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p == nullptr) return nullptr;
  std::memcpy(p, s.data(), s.size());
  p[s.size()] = '\0';
  return p;
}

inline int SetOut(char** out, absl::string_view s) {
  if (out == nullptr) return Ok();
  *out = CopyOut(s);
  if (*out == nullptr) return Fail(KORCH_ERR_RESOURCE_EXHAUSTED, "out of memory");
  return Ok();
}

inline std::string Str(const char* s) { return s == nullptr ? std::string() : std::string(s); }

#define KORCH_REQUIRE(arg)                                                           \
  do {                                                                               \
    if ((arg) == nullptr) return Fail(KORCH_ERR_INVALID, #arg ": must not be NULL"); \
  } while (0)

}  // namespace korch::capi

#endif  // KORCH_CAPI_INTERNAL_H_
