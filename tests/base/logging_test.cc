#include "korch/base/logging.h"

#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "korch/base/status.h"

namespace korch {
namespace {

class CapturingSink : public LogSink {
 public:
  void Write(LogLevel level, absl::Time, absl::string_view component,
             absl::string_view message) override {
    absl::MutexLock l(&mu);
    lines.push_back(std::string(component) + "|" + std::string(message));
  }
  absl::Mutex mu;
  std::vector<std::string> lines;
};

TEST(LoggingTest, LevelFiltersAndComponentIsRecorded) {
  auto sink = std::make_shared<CapturingSink>();
  Logger log("scheduler", LogLevel::kInfo, sink);
  int formatted = 0;
  auto count = [&formatted] { return ++formatted; };
  KORCH_LOG(log, kDebug) << "hidden " << count();
  KORCH_LOG(log, kInfo) << "bound " << 3 << " pods";
  KORCH_LOG(log.Child("queue"), kError) << "oops";
  ASSERT_EQ(sink->lines.size(), 2u);
  EXPECT_EQ(sink->lines[0], "scheduler|bound 3 pods");
  EXPECT_EQ(sink->lines[1], "scheduler.queue|oops");
  EXPECT_EQ(formatted, 0) << "disabled levels must not evaluate their arguments";
}

TEST(LoggingTest, ParseLogLevel) {
  LogLevel l;
  EXPECT_TRUE(ParseLogLevel("WARNING", &l));
  EXPECT_EQ(l, LogLevel::kWarning);
  EXPECT_FALSE(ParseLogLevel("loud", &l));
}

absl::StatusOr<int> Half(int x) {
  if (x % 2) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::StatusOr<int> Quarter(int x) {
  KORCH_ASSIGN_OR_RETURN(int h, Half(x));
  KORCH_ASSIGN_OR_RETURN(h, Half(h));
  return h;
}

TEST(StatusTest, AssignOrReturnAndAnnotate) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), absl::StatusCode::kInvalidArgument);
  absl::Status s = Annotate(absl::NotFoundError("no such key"), "reading /registry/pods/a");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "reading /registry/pods/a: no such key");
  EXPECT_TRUE(Annotate(absl::OkStatus(), "x").ok());
}

}  // namespace
}  // namespace korch
