#include "korch/base/logging.h"

#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace korch {
namespace {

char LevelLetter(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return 'D';
    case LogLevel::kInfo:
      return 'I';
    case LogLevel::kWarning:
      return 'W';
    case LogLevel::kError:
      return 'E';
    case LogLevel::kOff:
      break;
  }
  return '?';
}

class StderrSink final : public LogSink {
 public:
  void Write(LogLevel level, absl::Time time, absl::string_view component,
             absl::string_view message) override {
    std::string line =
        absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", time, absl::UTCTimeZone()), " ",
                     std::string(1, LevelLetter(level)), " ", component, "] ", message, "\n");
    size_t off = 0;
    while (off < line.size()) {
      ssize_t n = ::write(STDERR_FILENO, line.data() + off, line.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
  }
};

}  // namespace

bool ParseLogLevel(absl::string_view text, LogLevel* out) {
  std::string t = absl::AsciiStrToLower(text);
  if (t == "debug")
    *out = LogLevel::kDebug;
  else if (t == "info")
    *out = LogLevel::kInfo;
  else if (t == "warning" || t == "warn")
    *out = LogLevel::kWarning;
  else if (t == "error")
    *out = LogLevel::kError;
  else if (t == "off")
    *out = LogLevel::kOff;
  else
    return false;
  return true;
}

std::shared_ptr<LogSink> StderrLogSink() {
  static const std::shared_ptr<LogSink> sink = std::make_shared<StderrSink>();
  return sink;
}

Logger::Logger(std::string component, LogLevel level, std::shared_ptr<LogSink> sink)
    : component_(std::move(component)),
      level_(level),
      sink_(sink ? std::move(sink) : StderrLogSink()) {}

void Logger::Log(LogLevel level, absl::string_view message) const {
  if (!Enabled(level)) return;
  sink_->Write(level, absl::Now(), component_, message);
}

Logger Logger::Child(absl::string_view name) const {
  return Logger(absl::StrCat(component_, ".", name), level_, sink_);
}

}  // namespace korch
