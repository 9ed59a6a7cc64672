// Resource quantities with the semantics of Kubernetes'
// k8s.io/apimachinery/pkg/api/resource.Quantity: "500m" of CPU, "128Mi" of
// memory, "1.5", "2e3". Parsing accepts what Kubernetes accepts and
// ToString() prints what Kubernetes prints, so values round-trip through
// manifests and kubectl unchanged.
//
// Arithmetic is exact and uses no floating point. Where Kubernetes silently
// changes a value, korch does so too or reports an error instead:
//  - Values more precise than 1n (10^-9) are rounded away from zero to the
//    next nano, as Kubernetes does ("0.0000000001" is 1n): asking for a
//    little of a resource should not yield none.
//  - Magnitudes above 2^63-1 whole units are an error. (Kubernetes caps some
//    of them at 2^63-1 and keeps others; korch refuses both.)
//  - ToString() always returns the canonical form. Kubernetes' String()
//    echoes the input when it judges it canonical, which differs for a few
//    spellings: "+5" (korch: "5"), "05" ("5"), "1E3" ("1e3"), "1e+3"
//    ("1e3"), "2e0" ("2").
#ifndef KORCH_API_QUANTITY_H_
#define KORCH_API_QUANTITY_H_

#include <compare>
#include <cstdint>
#include <iosfwd>
#include <limits>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "korch/export.h"

namespace korch::api {

// A fixed-point number with a preferred serialization format. Any value
// that is a whole number of nano-units (10^-9) with a magnitude of at most
// kMaxValue whole units is held exactly.
//
// Equality, ordering and hashing are by value: "1Ki" == "1024" and
// "1" == "1000m", although they print differently.
//
// Immutable value type; safe to share between threads.
class KORCH_EXPORT Quantity {
 public:
  // How ToString() renders the value; taken from the suffix when parsing.
  enum class Format {
    // Powers of 1000: "500m", "1.5" -> "1500m", "2k", "1G".
    kDecimalSI,
    // Powers of 1024: "1Ki", "128Mi". Values that are not whole multiples
    // of a unit, or smaller than 1024 in magnitude, print as kDecimalSI.
    kBinarySI,
    // Powers of 10 written as an exponent: "1e3", "12e6", "1e-3".
    kDecimalExponent,
  };

  // The largest magnitude, in whole units (2^63-1). The smallest value is
  // -kMaxValue.
  static constexpr int64_t kMaxValue = std::numeric_limits<int64_t>::max();

  // Zero, kDecimalSI.
  Quantity() = default;

  // Parses the Kubernetes quantity syntax: an optionally signed decimal
  // number ("1", "1.5", ".5", "1.") followed by at most one of the suffixes
  // n u m k M G T P E (powers of 1000), Ki Mi Gi Ti Pi Ei (powers of 1024),
  // or an exponent e<N> / E<N> (N an optionally signed integer). No
  // whitespace. The format comes from the suffix: none or a decimal suffix
  // -> kDecimalSI, binary -> kBinarySI (kDecimalSI when 0 < |value| < 1, as
  // in Kubernetes), exponent -> kDecimalExponent.
  //
  // Errors (kInvalidArgument) quote the input and say what is wrong: an
  // empty string, no number, a second sign or decimal point, an unknown
  // suffix, an exponent without digits or outside the int32 range, or a
  // magnitude above kMaxValue.
  static absl::StatusOr<Quantity> Parse(absl::string_view text);

  // `value` whole units. INT64_MIN, which has no positive counterpart,
  // becomes -kMaxValue.
  static Quantity FromInt64(int64_t value, Format format = Format::kDecimalSI);
  // `milli` thousandths of a unit: FromMilli(1500) is "1500m".
  static Quantity FromMilli(int64_t milli, Format format = Format::kDecimalSI);

  // The canonical form, as Kubernetes' Quantity.CanonicalizeBytes renders
  // it: "0" for zero; kBinarySI values that are whole and at least 1024 in
  // magnitude as the largest exact power-of-1024 suffix ("1536Mi");
  // everything else with trailing zeros moved into a power-of-1000 suffix
  // ("1500m", "2k") or, for kDecimalExponent, an exponent that is a
  // multiple of 3 ("12e6", "100e-3"; none when it is 0).
  std::string ToString() const;

  // Whole units, rounded away from zero like Kubernetes' Value():
  // 1.5 -> 2, -1.5 -> -2, 1n -> 1. Never overflows.
  int64_t Value() const;
  // Thousandths of a unit, rounded away from zero (1n -> 1); values beyond
  // the int64 range saturate at its limits.
  int64_t MilliValue() const;

  // -1, 0 or 1 as this is less than, equal to or greater than `other`.
  int Compare(const Quantity& other) const;

  // Exact sum and difference. The result keeps this quantity's format, or
  // takes `other`'s when this one is zero (as Kubernetes does).
  // kOutOfRange when the magnitude of the result exceeds kMaxValue.
  absl::StatusOr<Quantity> Add(const Quantity& other) const;
  absl::StatusOr<Quantity> Sub(const Quantity& other) const;
  // The negated value, same format. Never fails: the range is symmetric.
  Quantity Neg() const;

  bool IsZero() const { return units_ == 0 && nanos_ == 0; }
  // -1, 0 or 1.
  int Sign() const;
  Format format() const { return format_; }

  friend bool operator==(const Quantity& a, const Quantity& b) {
    return a.units_ == b.units_ && a.nanos_ == b.nanos_;
  }
  // units_ and nanos_ share a sign, so (units_, nanos_) order like the value.
  friend std::strong_ordering operator<=>(const Quantity& a, const Quantity& b) {
    if (auto c = a.units_ <=> b.units_; c != 0) return c;
    return a.nanos_ <=> b.nanos_;
  }
  template <typename H>
  friend H AbslHashValue(H h, const Quantity& q) {
    return H::combine(std::move(h), q.units_, q.nanos_);
  }

 private:
  Quantity(int64_t units, int32_t nanos, Format format)
      : units_(units), nanos_(nanos), format_(format) {}

  // value = units_ + nanos_ / 10^9, with |units_| <= kMaxValue,
  // |nanos_| < 10^9, nanos_ zero or of the same sign as units_, and nanos_
  // zero when |units_| == kMaxValue.
  int64_t units_ = 0;
  int32_t nanos_ = 0;
  Format format_ = Format::kDecimalSI;
};

// Writes q.ToString().
KORCH_EXPORT std::ostream& operator<<(std::ostream& os, const Quantity& q);

// Parses `text` and returns its canonical form: "0.5" -> "500m",
// "1.5Gi" -> "1536Mi", "1000m" -> "1", "2000" -> "2k". Errors as Parse().
KORCH_EXPORT absl::StatusOr<std::string> CanonicalQuantity(absl::string_view text);

}  // namespace korch::api

#endif  // KORCH_API_QUANTITY_H_
