// Logging: levels, timestamps and component names, written to a sink that
// the host program chooses.
//
//   korch::Logger log("scheduler");
//   KORCH_LOG(log, kInfo) << "bound " << pod << " to " << node;
//
// A Logger is cheap to copy and thread-safe. Messages below the logger's
// level are not formatted at all.
#ifndef KORCH_BASE_LOGGING_H_
#define KORCH_BASE_LOGGING_H_

#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "korch/export.h"

namespace korch {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3, kOff = 4 };

// Parses "debug", "info", "warning", "error" or "off" (case-insensitive).
KORCH_EXPORT bool ParseLogLevel(absl::string_view text, LogLevel* out);

// Where log lines go. Implementations must be thread-safe.
class KORCH_EXPORT LogSink {
 public:
  virtual ~LogSink() = default;
  virtual void Write(LogLevel level, absl::Time time, absl::string_view component,
                     absl::string_view message) = 0;
};

// A sink writing "2025-01-02T03:04:05.123456Z I scheduler] message" lines to
// stderr. One line is written with one write(2) call, so lines from
// different threads never interleave.
KORCH_EXPORT std::shared_ptr<LogSink> StderrLogSink();

class KORCH_EXPORT Logger {
 public:
  // Logs to `sink` (stderr when null) at `level` and above.
  explicit Logger(std::string component, LogLevel level = LogLevel::kInfo,
                  std::shared_ptr<LogSink> sink = nullptr);

  bool Enabled(LogLevel level) const { return level >= level_ && level_ != LogLevel::kOff; }
  void Log(LogLevel level, absl::string_view message) const;
  const std::string& component() const { return component_; }
  // A logger for a sub-component ("apiserver" -> "apiserver.watch") sharing
  // the sink and level.
  Logger Child(absl::string_view name) const;

 private:
  std::string component_;
  LogLevel level_;
  std::shared_ptr<LogSink> sink_;
};

namespace internal {
// Collects one message and hands it to the logger when destroyed.
class KORCH_EXPORT LogMessage {
 public:
  LogMessage(const Logger& logger, LogLevel level) : logger_(logger), level_(level) {}
  ~LogMessage() { logger_.Log(level_, stream_.str()); }
  std::ostream& stream() { return stream_; }

 private:
  const Logger& logger_;
  LogLevel level_;
  std::ostringstream stream_;
};
}  // namespace internal

}  // namespace korch

#define KORCH_LOG(logger, level)                     \
  if (!(logger).Enabled(::korch::LogLevel::level)) { \
  } else                                             \
    ::korch::internal::LogMessage((logger), ::korch::LogLevel::level).stream()

#endif  // KORCH_BASE_LOGGING_H_
