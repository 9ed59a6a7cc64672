#include "korch/api/selector.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "korch/api/core.pb.h"
#include "korch/api/meta.pb.h"
#include "korch/api/name_validation.h"

namespace korch::api {
namespace {

// ---------------------------------------------------------------------------
// Helpers

// strconv.ParseInt(s, 10, 64): an optional sign, then decimal digits, in
// range. No blanks.
std::optional<int64_t> ParseInt64(absl::string_view s) {
  size_t digits = !s.empty() && (s.front() == '+' || s.front() == '-') ? 1 : 0;
  if (digits == s.size()) return std::nullopt;
  for (size_t i = digits; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
  }
  if (s.front() == '+') s.remove_prefix(1);  // from_chars takes '-' only
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// A Go []string as field.Invalid renders it (JSON).
std::string RenderList(const std::vector<std::string>& values) {
  return absl::StrCat(
      "[",
      absl::StrJoin(values, ",",
                    [](std::string* out, const std::string& v) { out->append(QuoteValue(v)); }),
      "]");
}

// An aggregate of field errors as Kubernetes prints it: the error alone, or
// "[a, b]".
std::string JoinErrors(const FieldErrorList& errors) {
  if (errors.size() == 1) return errors[0].ToString();
  return absl::StrCat(
      "[",
      absl::StrJoin(errors, ", ",
                    [](std::string* out, const FieldError& e) { out->append(e.ToString()); }),
      "]");
}

absl::Status ErrorsToStatus(const FieldErrorList& errors) {
  return absl::InvalidArgumentError(JoinErrors(errors));
}

absl::string_view OperatorName(SelectorOperator op) {
  switch (op) {
    case SelectorOperator::kIn:
      return "in";
    case SelectorOperator::kNotIn:
      return "notin";
    case SelectorOperator::kEquals:
      return "=";
    case SelectorOperator::kDoubleEquals:
      return "==";
    case SelectorOperator::kNotEquals:
      return "!=";
    case SelectorOperator::kGreaterThan:
      return "gt";
    case SelectorOperator::kLessThan:
      return "lt";
    case SelectorOperator::kExists:
      return "exists";
    case SelectorOperator::kDoesNotExist:
      return "!";
  }
  return "";
}

// labels.NewRequirement's checks. `values` in the caller's order (the
// indexes in messages refer to it).
FieldErrorList ValidateRequirement(absl::string_view key, SelectorOperator op,
                                   const std::vector<std::string>& values, const FieldPath& path) {
  FieldErrorList errs;
  if (std::vector<std::string> msgs = IsQualifiedName(key); !msgs.empty()) {
    errs.push_back(Invalid(path.Child("key"), key, absl::StrJoin(msgs, "; ")));
  }
  FieldPath values_path = path.Child("values");
  switch (op) {
    case SelectorOperator::kIn:
    case SelectorOperator::kNotIn:
      if (values.empty()) {
        errs.push_back(InvalidRendered(values_path, RenderList(values),
                                       "for 'in', 'notin' operators, values set can't be empty"));
      }
      break;
    case SelectorOperator::kEquals:
    case SelectorOperator::kDoubleEquals:
    case SelectorOperator::kNotEquals:
      if (values.size() != 1) {
        errs.push_back(InvalidRendered(values_path, RenderList(values),
                                       "exact-match compatibility requires one single value"));
      }
      break;
    case SelectorOperator::kExists:
    case SelectorOperator::kDoesNotExist:
      if (!values.empty()) {
        errs.push_back(InvalidRendered(values_path, RenderList(values),
                                       "values set must be empty for exists and does not exist"));
      }
      break;
    case SelectorOperator::kGreaterThan:
    case SelectorOperator::kLessThan:
      if (values.size() != 1) {
        errs.push_back(InvalidRendered(values_path, RenderList(values),
                                       "for 'Gt', 'Lt' operators, exactly one value is required"));
      }
      for (size_t i = 0; i < values.size(); ++i) {
        if (!ParseInt64(values[i])) {
          errs.push_back(Invalid(values_path.Index(static_cast<int64_t>(i)), values[i],
                                 "for 'Gt', 'Lt' operators, the value must be an integer"));
        }
      }
      break;
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (std::vector<std::string> msgs = IsValidLabelValue(values[i]); !msgs.empty()) {
      errs.push_back(Invalid(values_path.Index(static_cast<int64_t>(i)).Key(key), values[i],
                             absl::StrJoin(msgs, "; ")));
    }
  }
  return errs;
}

void SortUnique(std::vector<std::string>& values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
}

void SortByKey(std::vector<LabelRequirement>& reqs) {
  std::stable_sort(
      reqs.begin(), reqs.end(),
      [](const LabelRequirement& a, const LabelRequirement& b) { return a.key() < b.key(); });
}

// ---------------------------------------------------------------------------
// The label selector lexer and parser (labels.Parse).

enum class Tok {
  kEnd,
  kClosedPar,
  kComma,
  kDoesNotExist,
  kDoubleEquals,
  kEquals,
  kGreaterThan,
  kIdentifier,
  kIn,
  kLessThan,
  kNotEquals,
  kNotIn,
  kOpenPar,
};

struct Token {
  Tok tok;
  absl::string_view lit;
  size_t pos;
};

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool IsSpecial(char c) {
  switch (c) {
    case '=':
    case '!':
    case '(':
    case ')':
    case ',':
    case '>':
    case '<':
      return true;
    default:
      return false;
  }
}

std::vector<Token> Lex(absl::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  while (true) {
    while (i < s.size() && IsBlank(s[i])) ++i;
    if (i == s.size()) {
      out.push_back({Tok::kEnd, "", i});
      return out;
    }
    size_t start = i;
    char c = s[i];
    if (IsSpecial(c)) {
      // The longest operator: "==" and "!=" are the only two-character ones.
      if (i + 1 < s.size() && s[i + 1] == '=' && (c == '=' || c == '!')) {
        out.push_back({c == '=' ? Tok::kDoubleEquals : Tok::kNotEquals, s.substr(i, 2), start});
        i += 2;
        continue;
      }
      Tok t = Tok::kEnd;
      switch (c) {
        case '=':
          t = Tok::kEquals;
          break;
        case '!':
          t = Tok::kDoesNotExist;
          break;
        case '(':
          t = Tok::kOpenPar;
          break;
        case ')':
          t = Tok::kClosedPar;
          break;
        case ',':
          t = Tok::kComma;
          break;
        case '>':
          t = Tok::kGreaterThan;
          break;
        case '<':
          t = Tok::kLessThan;
          break;
      }
      out.push_back({t, s.substr(i, 1), start});
      ++i;
      continue;
    }
    while (i < s.size() && !IsSpecial(s[i]) && !IsBlank(s[i])) ++i;
    absl::string_view lit = s.substr(start, i - start);
    Tok t = Tok::kIdentifier;
    if (lit == "in") t = Tok::kIn;
    if (lit == "notin") t = Tok::kNotIn;
    out.push_back({t, lit, start});
  }
}

// Where "in" and "notin" are keywords (after a key) or plain identifiers
// ("in in (in)").
enum class Context { kKeyAndOperator, kValues };

class Parser {
 public:
  explicit Parser(absl::string_view text) : tokens_(Lex(text)) {}

  absl::StatusOr<std::vector<LabelRequirement>> Parse() {
    std::vector<LabelRequirement> reqs;
    while (true) {
      Token t = Lookahead(Context::kValues);
      switch (t.tok) {
        case Tok::kIdentifier:
        case Tok::kDoesNotExist: {
          absl::StatusOr<LabelRequirement> r = ParseRequirement();
          if (!r.ok()) {
            return absl::InvalidArgumentError(
                absl::StrCat("unable to parse requirement: ", r.status().message()));
          }
          reqs.push_back(*std::move(r));
          Token next = Consume(Context::kValues);
          if (next.tok == Tok::kEnd) return reqs;
          if (next.tok != Tok::kComma) return Error(next, "',' or 'end of string'");
          Token after = Lookahead(Context::kValues);
          if (after.tok != Tok::kIdentifier && after.tok != Tok::kDoesNotExist) {
            return Error(after, "identifier after ','");
          }
          break;
        }
        case Tok::kEnd:
          return reqs;
        default:
          return Error(t, "!, identifier, or 'end of string'");
      }
    }
  }

 private:
  static absl::Status Error(const Token& t, absl::string_view expected) {
    std::string found =
        t.tok == Tok::kEnd ? std::string("end of string") : absl::StrCat("'", t.lit, "'");
    return absl::InvalidArgumentError(
        absl::StrCat("found ", found, ", expected: ", expected, " (at position ", t.pos, ")"));
  }

  static Token InContext(Token t, Context c) {
    if (c == Context::kValues && (t.tok == Tok::kIn || t.tok == Tok::kNotIn)) {
      t.tok = Tok::kIdentifier;
    }
    return t;
  }
  Token Lookahead(Context c) const { return InContext(tokens_[pos_], c); }
  Token Consume(Context c) {
    Token t = tokens_[pos_];
    if (t.tok != Tok::kEnd) ++pos_;
    return InContext(t, c);
  }

  absl::StatusOr<LabelRequirement> ParseRequirement() {
    // [!] KEY
    bool not_exists = false;
    Token t = Consume(Context::kValues);
    if (t.tok == Tok::kDoesNotExist) {
      not_exists = true;
      t = Consume(Context::kValues);
    }
    if (t.tok != Tok::kIdentifier) return Error(t, "identifier");
    absl::string_view key = t.lit;
    if (std::vector<std::string> msgs = IsQualifiedName(key); !msgs.empty()) {
      return ErrorsToStatus({Invalid(FieldPath("key"), key, absl::StrJoin(msgs, "; "))});
    }
    if (not_exists) {
      return LabelRequirement::Create(key, SelectorOperator::kDoesNotExist, {});
    }
    Token next = Lookahead(Context::kValues);
    if (next.tok == Tok::kEnd || next.tok == Tok::kComma) {
      return LabelRequirement::Create(key, SelectorOperator::kExists, {});
    }

    // Operator.
    Token op_tok = Consume(Context::kKeyAndOperator);
    SelectorOperator op;
    switch (op_tok.tok) {
      case Tok::kIn:
        op = SelectorOperator::kIn;
        break;
      case Tok::kNotIn:
        op = SelectorOperator::kNotIn;
        break;
      case Tok::kEquals:
        op = SelectorOperator::kEquals;
        break;
      case Tok::kDoubleEquals:
        op = SelectorOperator::kDoubleEquals;
        break;
      case Tok::kNotEquals:
        op = SelectorOperator::kNotEquals;
        break;
      case Tok::kGreaterThan:
        op = SelectorOperator::kGreaterThan;
        break;
      case Tok::kLessThan:
        op = SelectorOperator::kLessThan;
        break;
      default:
        return Error(op_tok, "in, notin, =, ==, !=, gt, lt");
    }

    // Values.
    std::vector<std::string> values;
    if (op == SelectorOperator::kIn || op == SelectorOperator::kNotIn) {
      absl::Status s = ParseValueSet(values);
      if (!s.ok()) return s;
    } else {
      absl::Status s = ParseExactValue(values);
      if (!s.ok()) return s;
    }
    SortUnique(values);
    return LabelRequirement::Create(key, op, std::move(values));
  }

  // "(" [VALUE] {"," [VALUE]} ")": empty items are the empty value.
  absl::Status ParseValueSet(std::vector<std::string>& values) {
    Token t = Consume(Context::kValues);
    if (t.tok != Tok::kOpenPar) return Error(t, "'('");
    Token first = Lookahead(Context::kValues);
    if (first.tok == Tok::kClosedPar) {  // "()"
      Consume(Context::kValues);
      values.emplace_back();
      return absl::OkStatus();
    }
    if (first.tok != Tok::kIdentifier && first.tok != Tok::kComma) {
      return Error(first, "',', ')' or identifier");
    }
    bool expect_value = true;  // at the start, or right after a ','
    while (true) {
      Token v = Consume(Context::kValues);
      switch (v.tok) {
        case Tok::kIdentifier: {
          values.emplace_back(v.lit);
          expect_value = false;
          Token n = Lookahead(Context::kValues);
          if (n.tok != Tok::kComma && n.tok != Tok::kClosedPar) {
            return Error(n, "',' or ')'");
          }
          break;
        }
        case Tok::kComma:
          if (expect_value) values.emplace_back();  // "(," or ",,"
          expect_value = true;
          break;
        case Tok::kClosedPar:
          if (expect_value) values.emplace_back();  // ",)"
          return absl::OkStatus();
        default:
          return Error(v, "',', or identifier");
      }
    }
  }

  // [VALUE]: an absent value is the empty value ("a=", "a=,b").
  absl::Status ParseExactValue(std::vector<std::string>& values) {
    Token n = Lookahead(Context::kValues);
    if (n.tok == Tok::kEnd || n.tok == Tok::kComma) {
      values.emplace_back();
      return absl::OkStatus();
    }
    Token v = Consume(Context::kValues);
    if (v.tok != Tok::kIdentifier) return Error(v, "identifier");
    values.emplace_back(v.lit);
    return absl::OkStatus();
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
};

}  // namespace

// ---------------------------------------------------------------------------
// Label validation

FieldErrorList ValidateLabelName(absl::string_view key, const FieldPath& path) {
  FieldErrorList errs;
  for (const std::string& msg : IsQualifiedName(key)) errs.push_back(Invalid(path, key, msg));
  return errs;
}

FieldErrorList ValidateLabels(const LabelMap& labels, const FieldPath& path) {
  std::vector<const LabelMap::value_type*> sorted;
  sorted.reserve(labels.size());
  for (const auto& kv : labels) sorted.push_back(&kv);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  FieldErrorList errs;
  for (const auto* kv : sorted) {
    FieldErrorList key_errs = ValidateLabelName(kv->first, path);
    errs.insert(errs.end(), key_errs.begin(), key_errs.end());
    for (const std::string& msg : IsValidLabelValue(kv->second)) {
      errs.push_back(Invalid(path, kv->second, msg));
    }
  }
  return errs;
}

FieldErrorList ValidateLabelSelector(const LabelSelector& selector, const FieldPath& path) {
  FieldErrorList errs = ValidateLabels(selector.match_labels(), path.Child("matchLabels"));
  FieldPath exprs_path = path.Child("matchExpressions");
  for (int i = 0; i < selector.match_expressions_size(); ++i) {
    const LabelSelectorRequirement& r = selector.match_expressions(i);
    FieldPath p = exprs_path.Index(i);
    const std::string& op = r.operator_();
    if (op == "In" || op == "NotIn") {
      if (r.values_size() == 0) {
        errs.push_back(
            Required(p.Child("values"), "must be specified when `operator` is 'In' or 'NotIn'"));
      }
    } else if (op == "Exists" || op == "DoesNotExist") {
      if (r.values_size() > 0) {
        errs.push_back(Forbidden(p.Child("values"),
                                 "may not be specified when `operator` is 'Exists' or "
                                 "'DoesNotExist'"));
      }
    } else {
      errs.push_back(Invalid(p.Child("operator"), op, "not a valid selector operator"));
    }
    FieldErrorList key_errs = ValidateLabelName(r.key(), p.Child("key"));
    errs.insert(errs.end(), key_errs.begin(), key_errs.end());
    for (int j = 0; j < r.values_size(); ++j) {
      for (const std::string& msg : IsValidLabelValue(r.values(j))) {
        errs.push_back(Invalid(p.Child("values").Index(j), r.values(j), msg));
      }
    }
  }
  return errs;
}

// ---------------------------------------------------------------------------
// LabelRequirement

absl::StatusOr<LabelRequirement> LabelRequirement::Create(absl::string_view key,
                                                          SelectorOperator op,
                                                          std::vector<std::string> values,
                                                          const FieldPath& path) {
  if (FieldErrorList errs = ValidateRequirement(key, op, values, path); !errs.empty()) {
    return ErrorsToStatus(errs);
  }
  LabelRequirement r;
  r.key_ = std::string(key);
  r.op_ = op;
  if (op == SelectorOperator::kGreaterThan || op == SelectorOperator::kLessThan) {
    r.bound_ = *ParseInt64(values[0]);
  }
  SortUnique(values);
  r.values_ = std::move(values);
  return r;
}

bool LabelRequirement::HasValue(absl::string_view value) const {
  if (values_.size() <= 8) {
    for (const std::string& v : values_) {
      if (v == value) return true;
    }
    return false;
  }
  auto it = std::lower_bound(
      values_.begin(), values_.end(), value,
      [](const std::string& a, absl::string_view b) { return absl::string_view(a) < b; });
  return it != values_.end() && *it == value;
}

bool LabelRequirement::MatchesValue(std::optional<absl::string_view> value) const {
  switch (op_) {
    case SelectorOperator::kIn:
    case SelectorOperator::kEquals:
    case SelectorOperator::kDoubleEquals:
      return value.has_value() && HasValue(*value);
    case SelectorOperator::kNotIn:
    case SelectorOperator::kNotEquals:
      return !value.has_value() || !HasValue(*value);
    case SelectorOperator::kExists:
      return value.has_value();
    case SelectorOperator::kDoesNotExist:
      return !value.has_value();
    case SelectorOperator::kGreaterThan:
    case SelectorOperator::kLessThan: {
      if (!value.has_value()) return false;
      std::optional<int64_t> v = ParseInt64(*value);
      if (!v) return false;
      return op_ == SelectorOperator::kGreaterThan ? *v > bound_ : *v < bound_;
    }
  }
  return false;
}

std::string LabelRequirement::ToString() const {
  switch (op_) {
    case SelectorOperator::kExists:
      return key_;
    case SelectorOperator::kDoesNotExist:
      return absl::StrCat("!", key_);
    case SelectorOperator::kIn:
    case SelectorOperator::kNotIn:
      return absl::StrCat(key_, " ", OperatorName(op_), " (", absl::StrJoin(values_, ","), ")");
    case SelectorOperator::kGreaterThan:
      return absl::StrCat(key_, ">", absl::StrJoin(values_, ","));
    case SelectorOperator::kLessThan:
      return absl::StrCat(key_, "<", absl::StrJoin(values_, ","));
    case SelectorOperator::kEquals:
    case SelectorOperator::kDoubleEquals:
    case SelectorOperator::kNotEquals:
      return absl::StrCat(key_, OperatorName(op_), absl::StrJoin(values_, ","));
  }
  return key_;
}

// ---------------------------------------------------------------------------
// Selector

absl::StatusOr<Selector> Selector::Parse(absl::string_view text) {
  absl::StatusOr<std::vector<LabelRequirement>> reqs = Parser(text).Parse();
  if (!reqs.ok()) return reqs.status();
  return FromRequirements(*std::move(reqs));
}

absl::StatusOr<Selector> Selector::FromProto(const LabelSelector& selector, const FieldPath& path) {
  if (FieldErrorList errs = ValidateLabelSelector(selector, path); !errs.empty()) {
    return ErrorsToStatus(errs);
  }
  std::vector<LabelRequirement> reqs;
  reqs.reserve(selector.match_labels().size() + selector.match_expressions_size());
  for (const auto& [key, value] : selector.match_labels()) {
    LabelRequirement r;
    r.key_ = key;
    r.op_ = SelectorOperator::kEquals;
    r.values_.push_back(value);
    reqs.push_back(std::move(r));
  }
  // Map order is unspecified; make it deterministic before adding the
  // expressions (a stable sort keeps matchLabels before expressions on the
  // same key).
  SortByKey(reqs);
  for (const LabelSelectorRequirement& e : selector.match_expressions()) {
    LabelRequirement r;
    r.key_ = e.key();
    const std::string& op = e.operator_();
    if (op == "In") {
      r.op_ = SelectorOperator::kIn;
    } else if (op == "NotIn") {
      r.op_ = SelectorOperator::kNotIn;
    } else if (op == "Exists") {
      r.op_ = SelectorOperator::kExists;
    } else {
      r.op_ = SelectorOperator::kDoesNotExist;
    }
    r.values_.assign(e.values().begin(), e.values().end());
    SortUnique(r.values_);
    reqs.push_back(std::move(r));
  }
  return FromRequirements(std::move(reqs));
}

absl::StatusOr<Selector> Selector::FromSet(const LabelMap& labels) {
  std::vector<LabelRequirement> reqs;
  reqs.reserve(labels.size());
  for (const auto& [key, value] : labels) {
    absl::StatusOr<LabelRequirement> r =
        LabelRequirement::Create(key, SelectorOperator::kEquals, {value});
    if (!r.ok()) return r.status();
    reqs.push_back(*std::move(r));
  }
  return FromRequirements(std::move(reqs));
}

Selector Selector::FromRequirements(std::vector<LabelRequirement> requirements) {
  Selector s;
  s.requirements_ = std::move(requirements);
  SortByKey(s.requirements_);
  return s;
}

Selector Selector::Nothing() {
  Selector s;
  s.nothing_ = true;
  return s;
}

bool Selector::Matches(const LabelMap& labels) const { return Matches<LabelMap>(labels); }

std::string Selector::ToString() const {
  return absl::StrJoin(requirements_, ",", [](std::string* out, const LabelRequirement& r) {
    out->append(r.ToString());
  });
}

std::optional<absl::string_view> Selector::RequiresExactMatch(absl::string_view key) const {
  for (const LabelRequirement& r : requirements_) {
    if (r.key() != key) continue;
    switch (r.op()) {
      case SelectorOperator::kEquals:
      case SelectorOperator::kDoubleEquals:
      case SelectorOperator::kIn:
        if (r.values().size() == 1) return absl::string_view(r.values()[0]);
        return std::nullopt;
      default:
        return std::nullopt;
    }
  }
  return std::nullopt;
}

Selector Selector::Add(LabelRequirement requirement) const {
  if (nothing_) return *this;
  Selector s = *this;
  auto pos = std::upper_bound(
      s.requirements_.begin(), s.requirements_.end(), requirement,
      [](const LabelRequirement& a, const LabelRequirement& b) { return a.key() < b.key(); });
  s.requirements_.insert(pos, std::move(requirement));
  return s;
}

// ---------------------------------------------------------------------------
// Field selectors

std::string EscapeFieldSelectorValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\' || c == ',' || c == '=') out += '\\';
    out += c;
  }
  return out;
}

absl::StatusOr<std::string> UnescapeFieldSelectorValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool in_slash = false;
  for (char c : value) {
    if (in_slash) {
      if (c != '\\' && c != ',' && c != '=') {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid field selector: invalid escape sequence: \\", std::string(1, c)));
      }
      out += c;
      in_slash = false;
      continue;
    }
    if (c == '\\') {
      in_slash = true;
    } else if (c == ',' || c == '=') {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid field selector: unescaped character in value: '", std::string(1, c), "'"));
    } else {
      out += c;
    }
  }
  if (in_slash) {
    return absl::InvalidArgumentError("invalid field selector: invalid escape sequence: \\");
  }
  return out;
}

absl::StatusOr<FieldSelector> FieldSelector::Parse(absl::string_view text) {
  // Split at the commas that are not escaped; the escapes stay in the terms.
  std::vector<absl::string_view> terms;
  if (!text.empty()) {
    size_t start = 0;
    bool in_slash = false;
    for (size_t i = 0; i < text.size(); ++i) {
      if (in_slash) {
        in_slash = false;
      } else if (text[i] == '\\') {
        in_slash = true;
      } else if (text[i] == ',') {
        terms.push_back(text.substr(start, i - start));
        start = i + 1;
      }
    }
    terms.push_back(text.substr(start));
  }
  std::sort(terms.begin(), terms.end());

  FieldSelector s;
  for (absl::string_view term : terms) {
    if (term.empty()) continue;
    // The field has no escapes: the first operator splits the term.
    size_t i = 0;
    absl::string_view op;
    for (; i < term.size(); ++i) {
      absl::string_view rest = term.substr(i);
      if (absl::StartsWith(rest, "!=")) {
        op = "!=";
      } else if (absl::StartsWith(rest, "==")) {
        op = "==";
      } else if (rest.front() == '=') {
        op = "=";
      }
      if (!op.empty()) break;
    }
    if (op.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid selector: '", text, "'; can't understand '", term,
                       "' (expected <field>=<value>, <field>==<value> or <field>!=<value>)"));
    }
    if (i == 0) {
      return absl::InvalidArgumentError(absl::StrCat("invalid selector: '", text,
                                                     "'; can't understand '", term,
                                                     "' (no field name before '", op, "')"));
    }
    absl::StatusOr<std::string> value = UnescapeFieldSelectorValue(term.substr(i + op.size()));
    if (!value.ok()) return value.status();
    FieldRequirement r;
    r.field = std::string(term.substr(0, i));
    r.op = op == "!=" ? FieldSelectorOperator::kNotEquals : FieldSelectorOperator::kEquals;
    r.value = *std::move(value);
    s.requirements_.push_back(std::move(r));
  }
  return s;
}

FieldSelector FieldSelector::FromRequirements(std::vector<FieldRequirement> requirements) {
  FieldSelector s;
  s.requirements_ = std::move(requirements);
  return s;
}

FieldSelector FieldSelector::OneTermEqual(absl::string_view field, absl::string_view value) {
  return FromRequirements(
      {FieldRequirement{std::string(field), FieldSelectorOperator::kEquals, std::string(value)}});
}

FieldSelector FieldSelector::Nothing() {
  FieldSelector s;
  s.nothing_ = true;
  return s;
}

bool FieldSelector::Matches(FieldGetter get) const {
  if (nothing_) return false;
  for (const FieldRequirement& r : requirements_) {
    std::optional<absl::string_view> v = get(r.field);
    if (!v.has_value()) return false;
    bool equal = *v == r.value;
    if (equal != (r.op == FieldSelectorOperator::kEquals)) return false;
  }
  return true;
}

std::optional<absl::string_view> FieldSelector::RequiresExactMatch(absl::string_view field) const {
  for (const FieldRequirement& r : requirements_) {
    if (r.field == field && r.op == FieldSelectorOperator::kEquals) {
      return absl::string_view(r.value);
    }
  }
  return std::nullopt;
}

std::string FieldSelector::ToString() const {
  return absl::StrJoin(requirements_, ",", [](std::string* out, const FieldRequirement& r) {
    absl::StrAppend(out, r.field, r.op == FieldSelectorOperator::kEquals ? "=" : "!=",
                    EscapeFieldSelectorValue(r.value));
  });
}

// ---------------------------------------------------------------------------
// Node selectors

NodeSelectorTermMatcher NodeSelectorTermMatcher::Compile(const NodeSelectorTerm& term,
                                                         const FieldPath& path,
                                                         FieldErrorList& errors) {
  NodeSelectorTermMatcher m;
  if (term.match_expressions().empty() && term.match_fields().empty()) return m;
  m.empty_ = false;

  std::vector<LabelRequirement> reqs;
  FieldPath exprs_path = path.Child("matchExpressions");
  for (int i = 0; i < term.match_expressions_size(); ++i) {
    const NodeSelectorRequirement& e = term.match_expressions(i);
    FieldPath p = exprs_path.Index(i);
    SelectorOperator op;
    const std::string& name = e.operator_();
    if (name == "In") {
      op = SelectorOperator::kIn;
    } else if (name == "NotIn") {
      op = SelectorOperator::kNotIn;
    } else if (name == "Exists") {
      op = SelectorOperator::kExists;
    } else if (name == "DoesNotExist") {
      op = SelectorOperator::kDoesNotExist;
    } else if (name == "Gt") {
      op = SelectorOperator::kGreaterThan;
    } else if (name == "Lt") {
      op = SelectorOperator::kLessThan;
    } else {
      errors.push_back(NotSupported(p.Child("operator"), name,
                                    {"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"}));
      continue;
    }
    std::vector<std::string> values(e.values().begin(), e.values().end());
    if (FieldErrorList errs = ValidateRequirement(e.key(), op, values, p); !errs.empty()) {
      errors.insert(errors.end(), errs.begin(), errs.end());
      continue;
    }
    absl::StatusOr<LabelRequirement> r = LabelRequirement::Create(e.key(), op, std::move(values));
    if (r.ok()) reqs.push_back(*std::move(r));
  }
  m.labels_ = Selector::FromRequirements(std::move(reqs));

  FieldPath fields_path = path.Child("matchFields");
  for (int i = 0; i < term.match_fields_size(); ++i) {
    const NodeSelectorRequirement& f = term.match_fields(i);
    FieldPath p = fields_path.Index(i);
    const std::string& name = f.operator_();
    bool ok = true;
    if (name == "In" || name == "NotIn") {
      if (f.values_size() != 1) {
        errors.push_back(InvalidRendered(
            p.Child("values"),
            RenderList(std::vector<std::string>(f.values().begin(), f.values().end())),
            "must have one element"));
        ok = false;
      }
    } else {
      errors.push_back(NotSupported(p.Child("operator"), name, {"In", "NotIn"}));
      ok = false;
    }
    if (f.key() != "metadata.name") {
      errors.push_back(Invalid(p.Child("key"), f.key(), "not a valid field selector key"));
      ok = false;
    }
    if (ok) m.names_.push_back(NameRequirement{name == "In", f.values(0)});
  }
  return m;
}

absl::StatusOr<NodeSelectorTermMatcher> NodeSelectorTermMatcher::Create(
    const NodeSelectorTerm& term, const FieldPath& path) {
  FieldErrorList errors;
  NodeSelectorTermMatcher m = Compile(term, path, errors);
  if (!errors.empty()) return ErrorsToStatus(errors);
  return m;
}

bool NodeSelectorTermMatcher::Matches(absl::string_view node_name, const LabelMap& labels) const {
  return Matches<LabelMap>(node_name, labels);
}

bool NodeSelectorTermMatcher::MatchesName(absl::string_view node_name) const {
  // Kubernetes matches fields only when the node has a name.
  if (node_name.empty()) return true;
  for (const NameRequirement& r : names_) {
    if ((node_name == r.name) != r.in) return false;
  }
  return true;
}

absl::StatusOr<NodeSelectorMatcher> NodeSelectorMatcher::Create(const NodeSelector& selector,
                                                                const FieldPath& path) {
  NodeSelectorMatcher m;
  FieldErrorList errors;
  FieldPath terms_path = path.Child("nodeSelectorTerms");
  for (int i = 0; i < selector.node_selector_terms_size(); ++i) {
    NodeSelectorTermMatcher t = NodeSelectorTermMatcher::Compile(selector.node_selector_terms(i),
                                                                 terms_path.Index(i), errors);
    if (!t.empty_) m.terms_.push_back(std::move(t));
  }
  if (!errors.empty()) return ErrorsToStatus(errors);
  return m;
}

bool NodeSelectorMatcher::Matches(absl::string_view node_name, const LabelMap& labels) const {
  return Matches<LabelMap>(node_name, labels);
}

}  // namespace korch::api
