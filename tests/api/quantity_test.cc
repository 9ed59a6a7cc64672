#include "korch/api/quantity.h"

#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace korch::api {
namespace {

using ::testing::HasSubstr;
using Format = Quantity::Format;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();

Quantity MustParse(const std::string& text) {
  absl::StatusOr<Quantity> q = Quantity::Parse(text);
  EXPECT_TRUE(q.ok()) << text << ": " << q.status();
  return q.ok() ? *q : Quantity();
}

struct CanonicalCase {
  std::string input;
  std::string canonical;
  Format format;
};

// Expected outputs are those of Kubernetes' CanonicalizeBytes for the value
// ParseQuantity produces.
TEST(QuantityTest, ParsesAndPrintsCanonically) {
  const std::vector<CanonicalCase> cases = {
      // Decimal SI.
      {"100m", "100m", Format::kDecimalSI},
      {"0.1", "100m", Format::kDecimalSI},
      {"1000m", "1", Format::kDecimalSI},
      {"1.5", "1500m", Format::kDecimalSI},
      {"1500", "1500", Format::kDecimalSI},
      {"2000", "2k", Format::kDecimalSI},
      {"1G", "1G", Format::kDecimalSI},
      {"1000M", "1G", Format::kDecimalSI},
      {"1u", "1u", Format::kDecimalSI},
      {"5n", "5n", Format::kDecimalSI},
      {"123456789n", "123456789n", Format::kDecimalSI},
      {"1.000000001", "1000000001n", Format::kDecimalSI},
      {"1.5k", "1500", Format::kDecimalSI},
      {"1234.5678k", "1234567800m", Format::kDecimalSI},
      {"0.5m", "500u", Format::kDecimalSI},
      {"0.0005k", "500m", Format::kDecimalSI},
      {"1E", "1E", Format::kDecimalSI},
      {"9E", "9E", Format::kDecimalSI},
      {"1P", "1P", Format::kDecimalSI},
      {"1T", "1T", Format::kDecimalSI},
      {"1.", "1", Format::kDecimalSI},
      {".5", "500m", Format::kDecimalSI},
      {"-.5", "-500m", Format::kDecimalSI},
      {"+.5", "500m", Format::kDecimalSI},
      {"00.100", "100m", Format::kDecimalSI},
      {"1.000", "1", Format::kDecimalSI},
      {"05", "5", Format::kDecimalSI},
      {"+5", "5", Format::kDecimalSI},
      {"-1", "-1", Format::kDecimalSI},
      {"-1500m", "-1500m", Format::kDecimalSI},
      {"-2000", "-2k", Format::kDecimalSI},
      {"9223372036854775807", "9223372036854775807", Format::kDecimalSI},
      {"-9223372036854775807", "-9223372036854775807", Format::kDecimalSI},
      {"9223372036.854775807", "9223372036854775807n", Format::kDecimalSI},
      // Zero, whatever the spelling, prints as "0" and keeps its format.
      {"0", "0", Format::kDecimalSI},
      {"-0", "0", Format::kDecimalSI},
      {"+0", "0", Format::kDecimalSI},
      {"0.000", "0", Format::kDecimalSI},
      {"0n", "0", Format::kDecimalSI},
      {"0k", "0", Format::kDecimalSI},
      {"0Mi", "0", Format::kBinarySI},
      {"0Ki", "0", Format::kBinarySI},
      {"0e3", "0", Format::kDecimalExponent},
      {"0e-99999", "0", Format::kDecimalExponent},
      // Binary SI.
      {"1Ki", "1Ki", Format::kBinarySI},
      {"1Gi", "1Gi", Format::kBinarySI},
      {"1024Mi", "1Gi", Format::kBinarySI},
      {"1.5Gi", "1536Mi", Format::kBinarySI},
      {"512Ki", "512Ki", Format::kBinarySI},
      {"1536Mi", "1536Mi", Format::kBinarySI},
      {"1500Mi", "1500Mi", Format::kBinarySI},
      {"1025Ki", "1025Ki", Format::kBinarySI},
      {"2048Ki", "2Mi", Format::kBinarySI},
      {"1.Ki", "1Ki", Format::kBinarySI},
      {"1Ti", "1Ti", Format::kBinarySI},
      {"1Pi", "1Pi", Format::kBinarySI},
      {"1Ei", "1Ei", Format::kBinarySI},
      {"7Ei", "7Ei", Format::kBinarySI},
      {"-1Ki", "-1Ki", Format::kBinarySI},
      // Below 1024, or not whole: printed as decimal SI.
      {"0.5Ki", "512", Format::kBinarySI},
      {"-0.5Ki", "-512", Format::kBinarySI},
      {"1.5Ki", "1536", Format::kBinarySI},
      {"0.1Ki", "102400m", Format::kBinarySI},
      {".001Ki", "1024m", Format::kBinarySI},
      // Between 0 and 1 the format itself becomes decimal SI.
      {".000001Ki", "1024u", Format::kDecimalSI},
      {".000000001Ki", "1024n", Format::kDecimalSI},
      {".000000000001Ki", "2n", Format::kDecimalSI},
      {"0.00000000001Ki", "11n", Format::kDecimalSI},
      // Decimal exponent.
      {"1e3", "1e3", Format::kDecimalExponent},
      {"1E3", "1e3", Format::kDecimalExponent},
      {"2e3", "2e3", Format::kDecimalExponent},
      {"12e6", "12e6", Format::kDecimalExponent},
      {"1e+3", "1e3", Format::kDecimalExponent},
      {"1e03", "1e3", Format::kDecimalExponent},
      {"1e0", "1", Format::kDecimalExponent},
      {"2e0", "2", Format::kDecimalExponent},
      {"1.5e3", "1500", Format::kDecimalExponent},
      {"1e-3", "1e-3", Format::kDecimalExponent},
      {"1E-3", "1e-3", Format::kDecimalExponent},
      {"100e-3", "100e-3", Format::kDecimalExponent},
      {"10e-9", "10e-9", Format::kDecimalExponent},
      {"1e-9", "1e-9", Format::kDecimalExponent},
      {"1e18", "1e18", Format::kDecimalExponent},
      {"-1e3", "-1e3", Format::kDecimalExponent},
      // More precise than a nano: rounded away from zero to the next nano.
      {"0.0000000001", "1n", Format::kDecimalSI},
      {"-0.0000000001", "-1n", Format::kDecimalSI},
      {"0.0000000005", "1n", Format::kDecimalSI},
      {"0.9n", "1n", Format::kDecimalSI},
      {"3.001n", "4n", Format::kDecimalSI},
      {"1.1E-9", "2e-9", Format::kDecimalExponent},
      {"0.5e-9", "1e-9", Format::kDecimalExponent},
      {"1e-10", "1e-9", Format::kDecimalExponent},
      {"1e-2147483647", "1e-9", Format::kDecimalExponent},
      {"1.0000000000000000000000000000000000000001", "1000000001n", Format::kDecimalSI},
      {"0.000000000000000000000000000000000000000000000001Ki", "1n", Format::kDecimalSI},
      // Many digits that are all significant are kept exactly.
      {"1234567890123456789.012345678", "1234567890123456789012345678n", Format::kDecimalSI},
  };
  for (const CanonicalCase& c : cases) {
    SCOPED_TRACE(c.input);
    absl::StatusOr<Quantity> q = Quantity::Parse(c.input);
    ASSERT_TRUE(q.ok()) << q.status();
    EXPECT_EQ(q->ToString(), c.canonical);
    EXPECT_EQ(q->format(), c.format);
    absl::StatusOr<std::string> canonical = CanonicalQuantity(c.input);
    ASSERT_TRUE(canonical.ok()) << canonical.status();
    EXPECT_EQ(*canonical, c.canonical);
    // The canonical form parses back to the same value and prints the same.
    absl::StatusOr<Quantity> again = Quantity::Parse(c.canonical);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(*again, *q);
    EXPECT_EQ(again->ToString(), c.canonical);
  }
}

struct ErrorCase {
  std::string input;
  std::string problem;  // A substring of the message after the quoted input.
};

TEST(QuantityTest, RejectsMalformedInputWithActionableMessage) {
  const std::vector<ErrorCase> cases = {
      {"", "must not be empty"},
      {"1.2.3", "has more than one decimal point"},
      {"1.1.M", "has more than one decimal point"},
      {"1..2", "has more than one decimal point"},
      {"10MB", "unknown suffix \"MB\" (did you mean \"10M\" or \"10Mi\"? quantities carry no unit"},
      {"10KiB", "unknown suffix \"KiB\" (did you mean \"10Ki\"?"},
      {"10B", "unknown suffix \"B\" (did you mean \"10\"?"},
      {"1K", "unknown suffix \"K\" (did you mean \"1k\" or \"1Ki\"?"},
      {"0.1mi", "unknown suffix \"mi\" (did you mean \"0.1Mi\"?"},
      {"1Ki2", "unknown suffix \"Ki2\""},
      {"0.1am", "unknown suffix \"am\""},
      {".5i", "unknown suffix \"i\""},
      {"1i", "unknown suffix \"i\""},
      {"-3.01i", "unknown suffix \"i\""},
      {"0x10", "unknown suffix \"x10\""},
      {"1eB", "unknown suffix \"eB\" (did you mean \"1E\" or \"1Ei\"?"},
      {"abc", "must start with a number"},
      {"aoeu", "must start with a number"},
      {"1e", "the exponent \"e\" has no digits"},
      {"1E+", "the exponent \"E+\" has no digits"},
      {"-3.01e-", "the exponent \"e-\" has no digits"},
      {"1e3.5", "unexpected \".5\" after the exponent \"e3\""},
      {"1e3k", "unexpected \"k\" after the exponent \"e3\""},
      {"1e99999999999", "the exponent \"e99999999999\" is out of range"},
      {"1e2147483648", "the exponent \"e2147483648\" is out of range"},
      {"--1", "has more than one sign"},
      {"+-1", "has more than one sign"},
      {"1+1.0M", "a sign may only come first"},
      {"1-", "a sign may only come first"},
      {"-", "missing the number after the sign"},
      {"+", "missing the number after the sign"},
      {".", "missing the number: a decimal point needs a digit"},
      {"-.", "missing the number: a decimal point needs a digit"},
      {".Mi", "missing the number: a decimal point needs a digit"},
      {"Mi", "missing the number before the suffix \"Mi\", like \"1Mi\""},
      {"m", "missing the number before the suffix \"m\""},
      {"E", "missing the number before the suffix \"E\""},
      {"-k", "missing the number before the suffix \"k\""},
      {"e3", "missing the number before the suffix \"e3\""},
      {" 1", "must not contain whitespace"},
      {"1 ", "must not contain whitespace"},
      {"1 Gi", "must not contain whitespace"},
      // Larger than 2^63-1 whole units.
      {"10E", "magnitude is larger than the maximum 9223372036854775807"},
      {"9223372036854775808", "magnitude is larger than the maximum"},
      {"-9223372036854775808", "magnitude is larger than the maximum"},
      {"9223372036854775807.000000001", "magnitude is larger than the maximum"},
      {"8Ei", "magnitude is larger than the maximum"},
      {"1e19", "magnitude is larger than the maximum"},
      {"-1e19", "magnitude is larger than the maximum"},
      {"1e2147483647", "magnitude is larger than the maximum"},
      {"1000000000000000000000000000000", "magnitude is larger than the maximum"},
      {"1024Ei", "magnitude is larger than the maximum"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.input);
    absl::StatusOr<Quantity> q = Quantity::Parse(c.input);
    ASSERT_FALSE(q.ok()) << "parsed as " << *q;
    EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(q.status().message()),
                HasSubstr("invalid quantity \"" + c.input + "\": " + c.problem));
    absl::StatusOr<std::string> canonical = CanonicalQuantity(c.input);
    EXPECT_EQ(canonical.status(), q.status());
  }
}

TEST(QuantityTest, ErrorsListTheValidSuffixes) {
  absl::StatusOr<Quantity> q = Quantity::Parse("5X");
  ASSERT_FALSE(q.ok());
  EXPECT_THAT(std::string(q.status().message()), HasSubstr("n u m k M G T P E"));
  EXPECT_THAT(std::string(q.status().message()), HasSubstr("Ki Mi Gi Ti Pi Ei"));
}

struct ValueCase {
  std::string input;
  int64_t value;
  int64_t milli_value;
};

TEST(QuantityTest, ValueAndMilliValueRoundAwayFromZero) {
  const std::vector<ValueCase> cases = {
      {"0", 0, 0},
      {"0.1", 1, 100},
      {"1n", 1, 1},
      {"-1n", -1, -1},
      {"1.5", 2, 1500},
      {"-1.5", -2, -1500},
      {"100m", 1, 100},
      {"1000m", 1, 1000},
      {"1001m", 2, 1001},
      {"1.0001", 2, 1001},
      {"1Gi", 1073741824, 1073741824000},
      {"1Ki", 1024, 1024000},
      {"2e3", 2000, 2000000},
      {"9223372036854775807", kInt64Max, kInt64Max},
      {"-9223372036854775807", -kInt64Max, kInt64Min},
      {"9E", 9000000000000000000, kInt64Max},
      {"9223372036854775.807", 9223372036854776, kInt64Max},
      {"9223372036854775.808", 9223372036854776, kInt64Max},
      {"9223372036854775.806", 9223372036854776, 9223372036854775806},
      {"-9223372036854775.808", -9223372036854776, kInt64Min},
      {"-9223372036854775.809", -9223372036854776, kInt64Min},
  };
  for (const ValueCase& c : cases) {
    SCOPED_TRACE(c.input);
    Quantity q = MustParse(c.input);
    EXPECT_EQ(q.Value(), c.value);
    EXPECT_EQ(q.MilliValue(), c.milli_value);
  }
}

TEST(QuantityTest, DefaultIsDecimalZero) {
  Quantity q;
  EXPECT_TRUE(q.IsZero());
  EXPECT_EQ(q.Sign(), 0);
  EXPECT_EQ(q.format(), Format::kDecimalSI);
  EXPECT_EQ(q.ToString(), "0");
  EXPECT_EQ(q, MustParse("0"));
}

TEST(QuantityTest, FromInt64AndFromMilli) {
  struct Case {
    Quantity q;
    std::string canonical;
  };
  const std::vector<Case> cases = {
      {Quantity::FromInt64(0), "0"},
      {Quantity::FromInt64(1024), "1024"},
      {Quantity::FromInt64(1024, Format::kBinarySI), "1Ki"},
      {Quantity::FromInt64(1000, Format::kBinarySI), "1k"},
      {Quantity::FromInt64(3 * 1024 * 1024, Format::kBinarySI), "3Mi"},
      {Quantity::FromInt64(2000, Format::kDecimalExponent), "2e3"},
      {Quantity::FromInt64(2000), "2k"},
      {Quantity::FromInt64(-5), "-5"},
      {Quantity::FromInt64(kInt64Max), "9223372036854775807"},
      // INT64_MIN has no positive counterpart and is clamped to -(2^63-1).
      {Quantity::FromInt64(kInt64Min), "-9223372036854775807"},
      {Quantity::FromMilli(1500), "1500m"},
      {Quantity::FromMilli(2000), "2"},
      {Quantity::FromMilli(-1), "-1m"},
      {Quantity::FromMilli(1, Format::kDecimalExponent), "1e-3"},
      {Quantity::FromMilli(1536000, Format::kBinarySI), "1536"},
      {Quantity::FromMilli(kInt64Max), "9223372036854775807m"},
      {Quantity::FromMilli(kInt64Min), "-9223372036854775808m"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.canonical);
    EXPECT_EQ(c.q.ToString(), c.canonical);
    EXPECT_EQ(MustParse(c.canonical), c.q);
  }
  EXPECT_EQ(Quantity::FromInt64(7, Format::kBinarySI).format(), Format::kBinarySI);
  EXPECT_EQ(Quantity::FromMilli(kInt64Max).MilliValue(), kInt64Max);
  EXPECT_EQ(Quantity::FromMilli(kInt64Min).MilliValue(), kInt64Min);
}

TEST(QuantityTest, ComparesByValueAcrossFormats) {
  struct Case {
    std::string a;
    std::string b;
    int want;
  };
  const std::vector<Case> cases = {
      {"1Ki", "1024", 0},  {"1", "1000m", 0}, {"1e3", "1k", 0},     {"0", "0Mi", 0},
      {"-0", "0", 0},      {"999m", "1", -1}, {"1", "999m", 1},     {"-1", "0", -1},
      {"0", "1n", -1},     {"-1n", "0", -1},  {"-1.5", "-1.2", -1}, {"-1.5", "-0.5", -1},
      {"-0.5", "0.5", -1}, {"1E", "999P", 1}, {"1Gi", "1G", 1},     {"1n", "0.0000000001", 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.a + " vs " + c.b);
    Quantity a = MustParse(c.a);
    Quantity b = MustParse(c.b);
    EXPECT_EQ(a.Compare(b), c.want);
    EXPECT_EQ(b.Compare(a), -c.want);
    EXPECT_EQ(a == b, c.want == 0);
    EXPECT_EQ(a != b, c.want != 0);
    EXPECT_EQ(a < b, c.want < 0);
    EXPECT_EQ(a <= b, c.want <= 0);
    EXPECT_EQ(a > b, c.want > 0);
    EXPECT_EQ(a >= b, c.want >= 0);
    if (c.want == 0) {
      EXPECT_EQ(absl::Hash<Quantity>()(a), absl::Hash<Quantity>()(b));
    }
  }
}

TEST(QuantityTest, SignAndIsZero) {
  struct Case {
    std::string input;
    int sign;
  };
  const std::vector<Case> cases = {
      {"0", 0}, {"0Ki", 0}, {"-0", 0}, {"1n", 1}, {"-1n", -1}, {"5", 1}, {"-5Gi", -1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.input);
    Quantity q = MustParse(c.input);
    EXPECT_EQ(q.Sign(), c.sign);
    EXPECT_EQ(q.IsZero(), c.sign == 0);
  }
}

TEST(QuantityTest, AddAndSubAreExact) {
  struct Case {
    std::string a;
    std::string b;
    std::string sum;
    std::string difference;
  };
  const std::vector<Case> cases = {
      {"1", "500m", "1500m", "500m"},
      {"100m", "100m", "200m", "0"},
      // The result keeps the left format: 2Gi stays binary.
      {"1Gi", "1Gi", "2Gi", "0"},
      {"1Gi", "1", "1073741825", "1073741823"},
      {"1Gi", "512Mi", "1536Mi", "512Mi"},
      // A zero left operand takes the right one's format.
      {"0", "1Ki", "1Ki", "-1Ki"},
      {"1k", "1Ki", "2024", "-24"},
      {"1e3", "1e3", "2e3", "0"},
      {"1n", "1E", "1000000000000000000000000001n", "-999999999999999999999999999n"},
      {"-1.5", "1.5", "0", "-3"},
      {"9223372036854775806", "1", "9223372036854775807", "9223372036854775805"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.a + " and " + c.b);
    Quantity a = MustParse(c.a);
    Quantity b = MustParse(c.b);
    absl::StatusOr<Quantity> sum = a.Add(b);
    ASSERT_TRUE(sum.ok()) << sum.status();
    EXPECT_EQ(sum->ToString(), c.sum);
    absl::StatusOr<Quantity> difference = a.Sub(b);
    ASSERT_TRUE(difference.ok()) << difference.status();
    EXPECT_EQ(difference->ToString(), c.difference);
    // Subtraction undoes addition.
    absl::StatusOr<Quantity> back = sum->Sub(b);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, a);
  }
  EXPECT_EQ(MustParse("1Gi").Add(MustParse("1Gi"))->format(), Format::kBinarySI);
  EXPECT_EQ(MustParse("0").Add(MustParse("1Ki"))->format(), Format::kBinarySI);
  EXPECT_EQ(MustParse("0").Sub(MustParse("1e3"))->format(), Format::kDecimalExponent);
}

TEST(QuantityTest, AddAndSubReportOverflow) {
  struct Case {
    std::string a;
    std::string b;
    bool add;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"9E", "1E", true, "quantity 9E + 1E is out of range"},
      {"9223372036854775807", "1n", true, "is out of range"},
      {"-9E", "-1E", true, "quantity -9E + -1E is out of range"},
      {"-9E", "1E", false, "quantity -9E - 1E is out of range"},
      {"9223372036854775807", "-1", false, "is out of range"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    Quantity a = MustParse(c.a);
    Quantity b = MustParse(c.b);
    absl::StatusOr<Quantity> r = c.add ? a.Add(b) : a.Sub(b);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kOutOfRange);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.message));
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("9223372036854775807"));
  }
  // The extremes themselves are fine.
  absl::StatusOr<Quantity> max = MustParse("9223372036854775806").Add(MustParse("1"));
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(max->Value(), kInt64Max);
  absl::StatusOr<Quantity> min = max->Neg().Sub(MustParse("0"));
  ASSERT_TRUE(min.ok());
  EXPECT_EQ(min->Value(), -kInt64Max);
}

TEST(QuantityTest, NegKeepsFormat) {
  Quantity q = MustParse("1Ki").Neg();
  EXPECT_EQ(q.ToString(), "-1Ki");
  EXPECT_EQ(q.format(), Format::kBinarySI);
  EXPECT_EQ(MustParse("-500m").Neg().ToString(), "500m");
  EXPECT_TRUE(Quantity().Neg().IsZero());
}

TEST(QuantityTest, StreamsCanonicalForm) {
  std::ostringstream os;
  os << MustParse("1.5Gi") << " " << MustParse("0.5");
  EXPECT_EQ(os.str(), "1536Mi 500m");
}

}  // namespace
}  // namespace korch::api
