#include "korch/api/quantity.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <ostream>
#include <string>
#include <type_traits>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "korch/api/field_errors.h"

namespace korch::api {
namespace {

// Quantities are computed as a signed count of nano-units. The largest
// magnitude, kMaxValue * 10^9, has 28 digits and fits comfortably.
using int128 = __int128;

constexpr int64_t kNanosPerUnit = 1'000'000'000;
constexpr int64_t kNanosPerMilli = 1'000'000;
constexpr int128 kMaxNanos = int128{Quantity::kMaxValue} * kNanosPerUnit;
// Every count of nanos up to kMaxNanos has at most this many digits.
constexpr int64_t kMaxNanosDigits = 28;

struct SuffixInfo {
  absl::string_view text;
  Quantity::Format format;
  // The value of the suffix is 10^exponent for kDecimalSI and 2^exponent
  // for kBinarySI.
  int exponent;
};

constexpr SuffixInfo kSuffixes[] = {
    {"n", Quantity::Format::kDecimalSI, -9}, {"u", Quantity::Format::kDecimalSI, -6},
    {"m", Quantity::Format::kDecimalSI, -3}, {"k", Quantity::Format::kDecimalSI, 3},
    {"M", Quantity::Format::kDecimalSI, 6},  {"G", Quantity::Format::kDecimalSI, 9},
    {"T", Quantity::Format::kDecimalSI, 12}, {"P", Quantity::Format::kDecimalSI, 15},
    {"E", Quantity::Format::kDecimalSI, 18}, {"Ki", Quantity::Format::kBinarySI, 10},
    {"Mi", Quantity::Format::kBinarySI, 20}, {"Gi", Quantity::Format::kBinarySI, 30},
    {"Ti", Quantity::Format::kBinarySI, 40}, {"Pi", Quantity::Format::kBinarySI, 50},
    {"Ei", Quantity::Format::kBinarySI, 60},
};

// Indexed by (exponent + 9) / 3.
constexpr absl::string_view kDecimalSuffixes[] = {"n", "u", "m", "", "k", "M", "G", "T", "P", "E"};
// Indexed by the power of 1024.
constexpr absl::string_view kBinarySuffixes[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};

constexpr absl::string_view kSyntaxHint =
    "a quantity is a number with an optional suffix: n u m k M G T P E (powers of 1000), "
    "Ki Mi Gi Ti Pi Ei (powers of 1024) or e<N> (times 10^N), e.g. \"500m\", \"1.5\", "
    "\"128Mi\", \"2e3\"";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

const SuffixInfo* FindSuffix(absl::string_view s) {
  for (const SuffixInfo& info : kSuffixes) {
    if (info.text == s) return &info;
  }
  return nullptr;
}

// "e3", "E-9", "e+12": an exponent with at least one digit and nothing after.
bool IsExponent(absl::string_view s) {
  if (s.size() < 2 || (s[0] != 'e' && s[0] != 'E')) return false;
  size_t i = 1;
  if (s[i] == '+' || s[i] == '-') ++i;
  if (i == s.size()) return false;
  return std::all_of(s.begin() + i, s.end(), IsDigit);
}

absl::Status ParseError(absl::string_view text, absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid quantity ", QuoteValue(text), ": ", problem));
}

// For a suffix that is not one, the spellings the user probably meant:
// "MB" -> "M", "Mi"; "K" -> "k", "Ki"; "KiB" -> "Ki"; "mi" -> "Mi";
// "B" -> "". Sets `*byte_unit` when the suffix ends in a byte unit.
absl::InlinedVector<std::string, 2> SuggestSuffixes(absl::string_view bad, bool* byte_unit) {
  struct Prefix {
    char letter;
    absl::string_view decimal;
    absl::string_view binary;
  };
  static constexpr Prefix kPrefixes[] = {{'k', "k", "Ki"}, {'m', "M", "Mi"}, {'g', "G", "Gi"},
                                         {'t', "T", "Ti"}, {'p', "P", "Pi"}, {'e', "E", "Ei"}};
  absl::InlinedVector<std::string, 2> out;
  absl::string_view base = bad;
  *byte_unit = !base.empty() && (base.back() == 'B' || base.back() == 'b');
  if (*byte_unit) base.remove_suffix(1);
  if (base.empty()) {
    if (*byte_unit) out.push_back("");
    return out;
  }
  const bool binary = base.size() == 2 && (base[1] == 'i' || base[1] == 'I');
  if (base.size() != 1 && !binary) return out;
  const char letter = absl::ascii_tolower(static_cast<unsigned char>(base[0]));
  for (const Prefix& p : kPrefixes) {
    if (p.letter != letter) continue;
    if (!binary) out.push_back(std::string(p.decimal));
    out.push_back(std::string(p.binary));
  }
  return out;
}

absl::Status UnknownSuffixError(absl::string_view text, absl::string_view number,
                                absl::string_view suffix) {
  std::string problem = absl::StrCat("unknown suffix ", QuoteValue(suffix));
  bool byte_unit = false;
  absl::InlinedVector<std::string, 2> suggestions = SuggestSuffixes(suffix, &byte_unit);
  if (!suggestions.empty()) {
    absl::StrAppend(&problem, " (did you mean ");
    for (size_t i = 0; i < suggestions.size(); ++i) {
      if (i > 0) absl::StrAppend(&problem, " or ");
      absl::StrAppend(&problem, QuoteValue(absl::StrCat(number, suggestions[i])));
    }
    absl::StrAppend(&problem, byte_unit ? "? quantities carry no unit such as bytes)" : "?)");
  }
  absl::StrAppend(&problem, "; ", kSyntaxHint);
  return ParseError(text, problem);
}

absl::Status TooLargeError(absl::string_view text) {
  return ParseError(text, absl::StrCat("magnitude is larger than the maximum ", Quantity::kMaxValue,
                                       " (2^63-1, about 9.2E)"));
}

// Multiplies the little-endian decimal digits in `digits` by `factor`.
void MultiplyDigits(absl::InlinedVector<uint8_t, 48>& digits, uint32_t factor) {
  uint64_t carry = 0;
  for (uint8_t& d : digits) {
    uint64_t v = uint64_t{d} * factor + carry;
    d = static_cast<uint8_t>(v % 10);
    carry = v / 10;
  }
  while (carry > 0) {
    digits.push_back(static_cast<uint8_t>(carry % 10));
    carry /= 10;
  }
}

void AppendInt128(std::string& out, int128 v) {
  char buf[48];
  char* end = buf + sizeof(buf);
  char* p = end;
  unsigned __int128 u = v < 0 ? -static_cast<unsigned __int128>(v) : v;
  do {
    *--p = static_cast<char>('0' + static_cast<int>(u % 10));
    u /= 10;
  } while (u != 0);
  if (v < 0) *--p = '-';
  out.append(p, end);
}

// Appends the non-zero `mantissa` * 10^exponent (exponent >= -9) in the
// canonical decimal form of `format` (kDecimalSI or kDecimalExponent).
template <typename Int>
void AppendDecimal(std::string& out, Int mantissa, int exponent, Quantity::Format format) {
  while (mantissa % 10 == 0) {
    mantissa /= 10;
    ++exponent;
  }
  // Lower the exponent to a multiple of 3. It stays >= -9, and the
  // mantissa no larger than it was before the zeros were stripped.
  const int extra = ((exponent % 3) + 3) % 3;
  for (int k = 0; k < extra; ++k) mantissa *= 10;
  exponent -= extra;

  if constexpr (std::is_same_v<Int, int128>) {
    AppendInt128(out, mantissa);
  } else {
    absl::StrAppend(&out, mantissa);
  }
  if (format == Quantity::Format::kDecimalExponent) {
    if (exponent != 0) absl::StrAppend(&out, "e", exponent);
  } else {
    absl::StrAppend(&out, kDecimalSuffixes[(exponent + 9) / 3]);
  }
}

int128 ToNanos(int64_t units, int32_t nanos) { return int128{units} * kNanosPerUnit + nanos; }

int64_t UnitsOf(int128 nanos) { return static_cast<int64_t>(nanos / kNanosPerUnit); }
int32_t NanosOf(int128 nanos) { return static_cast<int32_t>(nanos % kNanosPerUnit); }

// `n / d` rounded away from zero.
int128 DivideAwayFromZero(int128 n, int64_t d) {
  int128 q = n / d;
  if (n % d != 0) q += n < 0 ? -1 : 1;
  return q;
}

}  // namespace

absl::StatusOr<Quantity> Quantity::Parse(absl::string_view text) {
  if (text.empty()) {
    return ParseError(text, absl::StrCat("must not be empty; ", kSyntaxHint));
  }
  if (std::any_of(text.begin(), text.end(),
                  [](char c) { return absl::ascii_isspace(static_cast<unsigned char>(c)); })) {
    return ParseError(text, "must not contain whitespace");
  }

  // Grammar: [+-]? (digits ("." digits?)? | "." digits) suffix?
  size_t i = 0;
  bool negative = false;
  if (text[0] == '+' || text[0] == '-') {
    negative = text[0] == '-';
    i = 1;
  }
  const size_t number_begin = i;
  while (i < text.size() && IsDigit(text[i])) ++i;
  absl::string_view int_digits = text.substr(number_begin, i - number_begin);
  absl::string_view frac_digits;
  if (i < text.size() && text[i] == '.') {
    const size_t frac_begin = ++i;
    while (i < text.size() && IsDigit(text[i])) ++i;
    frac_digits = text.substr(frac_begin, i - frac_begin);
  }
  const absl::string_view number = text.substr(0, i);
  const absl::string_view suffix = text.substr(i);

  if (int_digits.empty() && frac_digits.empty()) {
    absl::string_view rest = text.substr(number_begin);
    if (rest.empty()) return ParseError(text, "missing the number after the sign");
    if (rest[0] == '+' || rest[0] == '-') return ParseError(text, "has more than one sign");
    if (rest[0] == '.') {
      return ParseError(text,
                        "missing the number: a decimal point needs a digit before or after "
                        "it, like \"0.5\" or \".5\"");
    }
    if (FindSuffix(rest) != nullptr || IsExponent(rest)) {
      return ParseError(text, absl::StrCat("missing the number before the suffix ",
                                           QuoteValue(rest), ", like \"1", rest, "\""));
    }
    return ParseError(text, absl::StrCat("must start with a number; ", kSyntaxHint));
  }

  // value = digits * 10^dec_exponent * 2^bin_exponent.
  Format format = Format::kDecimalSI;
  int64_t dec_exponent = 0;
  int bin_exponent = 0;
  if (!suffix.empty()) {
    if (suffix[0] == '.') return ParseError(text, "has more than one decimal point");
    if (suffix[0] == '+' || suffix[0] == '-') {
      return ParseError(text, "a sign may only come first or right after the \"e\" of an exponent");
    }
    if (const SuffixInfo* info = FindSuffix(suffix)) {
      format = info->format;
      if (info->format == Format::kBinarySI) {
        bin_exponent = info->exponent;
      } else {
        dec_exponent = info->exponent;
      }
    } else if (suffix[0] == 'e' || suffix[0] == 'E') {
      size_t j = 1;
      bool exponent_negative = false;
      if (j < suffix.size() && (suffix[j] == '+' || suffix[j] == '-')) {
        exponent_negative = suffix[j] == '-';
        ++j;
      }
      const size_t digits_begin = j;
      int64_t exponent = 0;
      bool exponent_too_large = false;
      for (; j < suffix.size() && IsDigit(suffix[j]); ++j) {
        exponent = exponent * 10 + (suffix[j] - '0');
        if (exponent > std::numeric_limits<int32_t>::max()) {
          exponent_too_large = true;
          exponent = 0;
        }
      }
      if (j == digits_begin) {
        if (j < suffix.size()) return UnknownSuffixError(text, number, suffix);
        return ParseError(text, absl::StrCat("the exponent ", QuoteValue(suffix),
                                             " has no digits; write it like \"e3\" or \"e-3\""));
      }
      if (j < suffix.size()) {
        return ParseError(
            text, absl::StrCat("unexpected ", QuoteValue(suffix.substr(j)), " after the exponent ",
                               QuoteValue(suffix.substr(0, j)),
                               "; the exponent must be a whole number and end the "
                               "quantity"));
      }
      if (exponent_too_large) {
        return ParseError(text, absl::StrCat("the exponent ", QuoteValue(suffix),
                                             " is out of range (at most 2147483647 in magnitude)"));
      }
      format = Format::kDecimalExponent;
      dec_exponent = exponent_negative ? -exponent : exponent;
    } else {
      return UnknownSuffixError(text, number, suffix);
    }
  }

  // The significant digits, without leading zeros and with trailing zeros
  // moved into the exponent; least significant first after the reverse.
  absl::InlinedVector<uint8_t, 48> digits;
  for (absl::string_view part : {int_digits, frac_digits}) {
    for (char c : part) {
      if (digits.empty() && c == '0') continue;
      digits.push_back(static_cast<uint8_t>(c - '0'));
    }
  }
  dec_exponent -= static_cast<int64_t>(frac_digits.size());
  while (!digits.empty() && digits.back() == 0) {
    digits.pop_back();
    ++dec_exponent;
  }
  if (digits.empty()) return Quantity(0, 0, format);
  std::reverse(digits.begin(), digits.end());
  for (int b = 0; b < bin_exponent; b += 10) MultiplyDigits(digits, 1024);

  // nanos = digits * 10^(dec_exponent + 9), rounded away from zero.
  const int64_t nano_exponent = dec_exponent + 9;
  const int64_t size = static_cast<int64_t>(digits.size());
  int128 nanos = 0;
  if (nano_exponent >= 0) {
    if (size + nano_exponent > kMaxNanosDigits) return TooLargeError(text);
    for (int64_t k = size - 1; k >= 0; --k) nanos = nanos * 10 + digits[k];
    for (int64_t k = 0; k < nano_exponent; ++k) nanos *= 10;
  } else {
    // Drop the digits below a nano; any that is not zero rounds up.
    const int64_t drop = -nano_exponent;
    if (size - drop > kMaxNanosDigits) return TooLargeError(text);
    for (int64_t k = size - 1; k >= drop; --k) nanos = nanos * 10 + digits[k];
    const int64_t dropped = std::min(drop, size);
    if (std::any_of(digits.begin(), digits.begin() + dropped, [](uint8_t d) { return d != 0; })) {
      ++nanos;
    }
  }
  if (nanos > kMaxNanos) return TooLargeError(text);

  // Kubernetes does not keep a binary format for values it cannot show in it.
  if (format == Format::kBinarySI && nanos < kNanosPerUnit) format = Format::kDecimalSI;
  if (negative) nanos = -nanos;
  return Quantity(UnitsOf(nanos), NanosOf(nanos), format);
}

Quantity Quantity::FromInt64(int64_t value, Format format) {
  return Quantity(std::max(value, -kMaxValue), 0, format);
}

Quantity Quantity::FromMilli(int64_t milli, Format format) {
  return Quantity(milli / 1000, static_cast<int32_t>(milli % 1000 * kNanosPerMilli), format);
}

std::string Quantity::ToString() const {
  if (IsZero()) return "0";
  std::string out;
  Format format = format_;
  if (format == Format::kBinarySI) {
    if ((units_ > -1024 && units_ < 1024) || nanos_ != 0) {
      format = Format::kDecimalSI;
    } else {
      int64_t mantissa = units_;
      int power = 0;
      while (mantissa % 1024 == 0) {
        mantissa /= 1024;
        ++power;
      }
      absl::StrAppend(&out, mantissa, kBinarySuffixes[power]);
      return out;
    }
  }

  // Common values fit in 64 bits, where the digit loops are much cheaper.
  if (nanos_ == 0) {
    AppendDecimal(out, units_, 0, format);
  } else if (const int128 nanos = ToNanos(units_, nanos_);
             nanos >= std::numeric_limits<int64_t>::min() &&
             nanos <= std::numeric_limits<int64_t>::max()) {
    AppendDecimal(out, static_cast<int64_t>(nanos), -9, format);
  } else {
    AppendDecimal(out, nanos, -9, format);
  }
  return out;
}

int64_t Quantity::Value() const {
  // |units_| == kMaxValue implies nanos_ == 0, so this cannot overflow.
  if (nanos_ > 0) return units_ + 1;
  if (nanos_ < 0) return units_ - 1;
  return units_;
}

int64_t Quantity::MilliValue() const {
  const int128 milli = DivideAwayFromZero(ToNanos(units_, nanos_), kNanosPerMilli);
  if (milli > std::numeric_limits<int64_t>::max()) return std::numeric_limits<int64_t>::max();
  if (milli < std::numeric_limits<int64_t>::min()) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(milli);
}

int Quantity::Compare(const Quantity& other) const {
  const std::strong_ordering c = *this <=> other;
  if (c < 0) return -1;
  return c > 0 ? 1 : 0;
}

absl::StatusOr<Quantity> Quantity::Add(const Quantity& other) const {
  const int128 sum = ToNanos(units_, nanos_) + ToNanos(other.units_, other.nanos_);
  if (sum > kMaxNanos || sum < -kMaxNanos) {
    return absl::OutOfRangeError(absl::StrCat("quantity ", ToString(), " + ", other.ToString(),
                                              " is out of range: the magnitude of a quantity is at "
                                              "most ",
                                              kMaxValue));
  }
  return Quantity(UnitsOf(sum), NanosOf(sum), IsZero() ? other.format_ : format_);
}

absl::StatusOr<Quantity> Quantity::Sub(const Quantity& other) const {
  const int128 diff = ToNanos(units_, nanos_) - ToNanos(other.units_, other.nanos_);
  if (diff > kMaxNanos || diff < -kMaxNanos) {
    return absl::OutOfRangeError(absl::StrCat("quantity ", ToString(), " - ", other.ToString(),
                                              " is out of range: the magnitude of a quantity is at "
                                              "most ",
                                              kMaxValue));
  }
  return Quantity(UnitsOf(diff), NanosOf(diff), IsZero() ? other.format_ : format_);
}

Quantity Quantity::Neg() const { return Quantity(-units_, -nanos_, format_); }

int Quantity::Sign() const {
  if (units_ > 0 || nanos_ > 0) return 1;
  if (units_ < 0 || nanos_ < 0) return -1;
  return 0;
}

std::ostream& operator<<(std::ostream& os, const Quantity& q) { return os << q.ToString(); }

absl::StatusOr<std::string> CanonicalQuantity(absl::string_view text) {
  absl::StatusOr<Quantity> q = Quantity::Parse(text);
  if (!q.ok()) return q.status();
  return q->ToString();
}

}  // namespace korch::api
