#include "korch/api/selector.h"

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "korch/api/core.pb.h"
#include "korch/api/meta.pb.h"
#include "korch/api/name_validation.h"

// Counts heap allocations so that the tests can check that matching does
// not allocate. Only counts while `g_counting` is set. Every non-aligned form
// of new and delete is replaced so that they stay paired (sanitizers check).
namespace {
std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_allocations{0};

void* CountedAlloc(std::size_t size) noexcept {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  return std::malloc(size == 0 ? 1 : size);
}
void* CountedAllocOrThrow(std::size_t size) {
  if (void* p = CountedAlloc(size)) return p;
  throw std::bad_alloc();
}
}  // namespace

// GCC pairs an inlined free() with the library's operator new at some call
// sites; both are replaced here, so they do match.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) { return CountedAllocOrThrow(size); }
void* operator new[](std::size_t size) { return CountedAllocOrThrow(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return CountedAlloc(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return CountedAlloc(size);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace korch::api {
namespace {

// The messages Kubernetes prints, spelled out once.
constexpr char kNamePartMsg[] =
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
constexpr char kValueMsg[] =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value', "
    " or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
constexpr char kSubdomainMsg[] =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
constexpr char kDNSLabelMsg[] =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
constexpr char kDNS1035Msg[] =
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
constexpr char kQualifiedNameMsg[] =
    "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS "
    "subdomain prefix and '/' (e.g. 'example.com/MyName')";

using Strings = std::vector<std::string>;

LabelMap Labels(std::initializer_list<std::pair<const char*, const char*>> kvs) {
  LabelMap m;
  for (const auto& [k, v] : kvs) m[k] = v;
  return m;
}

template <typename T>
T FromText(const std::string& text) {
  T msg;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &msg)) << text;
  return msg;
}

std::string ErrorsText(const FieldErrorList& errs) {
  std::string out;
  for (const FieldError& e : errs) {
    if (!out.empty()) out += "\n";
    out += e.ToString();
  }
  return out;
}

// ---------------------------------------------------------------------------
// Name validation

struct NameCase {
  std::string value;
  Strings errors;
};

TEST(NameValidationTest, DNS1123Label) {
  const std::vector<NameCase> cases = {
      {"a", {}},
      {"abc", {}},
      {"a-b", {}},
      {"0", {}},
      {"123-abc", {}},
      {"a--b", {}},
      {std::string(63, 'a'), {}},
      {"", {kDNSLabelMsg}},
      {"A", {kDNSLabelMsg}},
      {"-a", {kDNSLabelMsg}},
      {"a-", {kDNSLabelMsg}},
      {"a_b", {kDNSLabelMsg}},
      {"a b", {kDNSLabelMsg}},
      {"a.b", {"must not contain dots"}},
      {std::string(64, 'a'), {"must be no more than 63 characters"}},
      {std::string(64, 'A'), {"must be no more than 63 characters", kDNSLabelMsg}},
  };
  for (const NameCase& c : cases) {
    EXPECT_EQ(IsDNS1123Label(c.value), c.errors) << c.value;
  }
}

TEST(NameValidationTest, DNS1123Subdomain) {
  const std::vector<NameCase> cases = {
      {"a", {}},
      {"example.com", {}},
      {"a-b.c-d.e", {}},
      {"1.2.3.4", {}},
      {std::string(253, 'a'), {}},
      {"", {kSubdomainMsg}},
      {"Example.com", {kSubdomainMsg}},
      {".a", {kSubdomainMsg}},
      {"a.", {kSubdomainMsg}},
      {"a..b", {kSubdomainMsg}},
      {"a.-b", {kSubdomainMsg}},
      {"a_b.com", {kSubdomainMsg}},
      {std::string(254, 'a'), {"must be no more than 253 characters"}},
  };
  for (const NameCase& c : cases) {
    EXPECT_EQ(IsDNS1123Subdomain(c.value), c.errors) << c.value;
  }
}

TEST(NameValidationTest, DNS1035Label) {
  const std::vector<NameCase> cases = {
      {"my-name", {}},       {"a", {}},
      {"abc-123", {}},       {"1abc", {kDNS1035Msg}},
      {"", {kDNS1035Msg}},   {"a.b", {kDNS1035Msg}},
      {"a-", {kDNS1035Msg}}, {std::string(64, 'a'), {"must be no more than 63 characters"}},
  };
  for (const NameCase& c : cases) {
    EXPECT_EQ(IsDNS1035Label(c.value), c.errors) << c.value;
  }
}

TEST(NameValidationTest, QualifiedName) {
  const std::vector<NameCase> cases = {
      {"app", {}},
      {"MyName", {}},
      {"my.name", {}},
      {"123-abc", {}},
      {"a_b", {}},
      {"example.com/MyName", {}},
      {"kubernetes.io/hostname", {}},
      {"a/b", {}},
      {std::string(63, 'a'), {}},
      {std::string(253, 'a') + "/" + std::string(63, 'b'), {}},
      {"", {"name part must be non-empty", kNamePartMsg}},
      {"-a", {kNamePartMsg}},
      {"a-", {kNamePartMsg}},
      {"a b", {kNamePartMsg}},
      {"a$", {kNamePartMsg}},
      {"/a", {"prefix part must be non-empty"}},
      {"a/", {"name part must be non-empty", kNamePartMsg}},
      {"a/b/c", {kQualifiedNameMsg}},
      {"Example.com/a", {std::string("prefix part ") + kSubdomainMsg}},
      {"a_b/c", {std::string("prefix part ") + kSubdomainMsg}},
      {std::string(254, 'a') + "/b", {"prefix part must be no more than 253 characters"}},
      {std::string(64, 'a'), {"name part must be no more than 63 characters"}},
      {"example.com/" + std::string(64, 'a'), {"name part must be no more than 63 characters"}},
      {std::string(64, '-'), {"name part must be no more than 63 characters", kNamePartMsg}},
  };
  for (const NameCase& c : cases) {
    EXPECT_EQ(IsQualifiedName(c.value), c.errors) << c.value;
  }
}

TEST(NameValidationTest, LabelValue) {
  const std::vector<NameCase> cases = {
      {"", {}},
      {"a", {}},
      {"MyValue", {}},
      {"my_value", {}},
      {"12345", {}},
      {"a-b_c.d", {}},
      {std::string(63, 'z'), {}},
      {"-a", {kValueMsg}},
      {"a.", {kValueMsg}},
      {"a b", {kValueMsg}},
      {"a/b", {kValueMsg}},
      {"_", {kValueMsg}},
      {std::string(64, 'z'), {"must be no more than 63 characters"}},
      {std::string(64, '.'), {"must be no more than 63 characters", kValueMsg}},
  };
  for (const NameCase& c : cases) {
    EXPECT_EQ(IsValidLabelValue(c.value), c.errors) << c.value;
  }
}

TEST(NameValidationTest, MessageHelpers) {
  EXPECT_EQ(MaxLenError(15), "must be no more than 15 characters");
  EXPECT_EQ(EmptyError(), "must be non-empty");
  EXPECT_EQ(RegexError("bad", "[a-z]+"), "bad (regex used for validation is '[a-z]+')");
  EXPECT_EQ(RegexError("bad", "[a-z]+", {"ab", "cd"}),
            "bad (e.g. 'ab',  or 'cd', regex used for validation is '[a-z]+')");
}

// ---------------------------------------------------------------------------
// ValidateLabels / ValidateLabelSelector

TEST(LabelSelectorValidationTest, ValidateLabels) {
  struct Case {
    LabelMap labels;
    std::string errors;  // one per line
  };
  const std::vector<Case> cases = {
      {Labels({}), ""},
      {Labels({{"app", "web"}, {"example.com/tier", ""}, {"a", "1.2"}}), ""},
      {Labels({{"a/b/c", "x"}}),
       std::string("metadata.labels: Invalid value: \"a/b/c\": ") + kQualifiedNameMsg},
      {Labels({{"app", "-bad"}}),
       std::string("metadata.labels: Invalid value: \"-bad\": ") + kValueMsg},
      {Labels({{"z", std::string(64, 'v').c_str()}, {"-k", "ok"}}),
       std::string("metadata.labels: Invalid value: \"-k\": ") + kNamePartMsg +
           "\nmetadata.labels: Invalid value: \"" + std::string(64, 'v') +
           "\": must be no more than 63 characters"},
      {Labels({{"", ""}}),
       std::string("metadata.labels: Invalid value: \"\": name part must be non-empty\n") +
           "metadata.labels: Invalid value: \"\": " + kNamePartMsg},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ErrorsText(ValidateLabels(c.labels, FieldPath("metadata.labels"))), c.errors);
  }
}

TEST(LabelSelectorValidationTest, ValidateLabelName) {
  EXPECT_TRUE(ValidateLabelName("app.kubernetes.io/name", FieldPath("key")).empty());
  EXPECT_EQ(ErrorsText(ValidateLabelName("a/", FieldPath("key"))),
            std::string("key: Invalid value: \"a/\": name part must be non-empty\n") +
                "key: Invalid value: \"a/\": " + kNamePartMsg);
}

TEST(LabelSelectorValidationTest, ValidateLabelSelector) {
  struct Case {
    std::string proto;
    std::string errors;
  };
  const std::vector<Case> cases = {
      {"", ""},
      {R"(match_labels { key: "app" value: "web" }
          match_expressions { key: "tier" operator: "In" values: "fe" values: "" }
          match_expressions { key: "x" operator: "NotIn" values: "a" }
          match_expressions { key: "y" operator: "Exists" }
          match_expressions { key: "z" operator: "DoesNotExist" })",
       ""},
      {R"(match_expressions { key: "a" operator: "In" })",
       "spec.selector.matchExpressions[0].values: Required value: must be specified when "
       "`operator` is 'In' or 'NotIn'"},
      {R"(match_expressions { key: "a" operator: "NotIn" })",
       "spec.selector.matchExpressions[0].values: Required value: must be specified when "
       "`operator` is 'In' or 'NotIn'"},
      {R"(match_expressions { key: "a" operator: "Exists" values: "b" })",
       "spec.selector.matchExpressions[0].values: Forbidden: may not be specified when "
       "`operator` is 'Exists' or 'DoesNotExist'"},
      {R"(match_expressions { key: "a" operator: "DoesNotExist" values: "b" })",
       "spec.selector.matchExpressions[0].values: Forbidden: may not be specified when "
       "`operator` is 'Exists' or 'DoesNotExist'"},
      {R"(match_expressions { key: "a" operator: "Gt" values: "1" })",
       "spec.selector.matchExpressions[0].operator: Invalid value: \"Gt\": not a valid selector "
       "operator"},
      {R"(match_expressions { key: "a" })",
       "spec.selector.matchExpressions[0].operator: Invalid value: \"\": not a valid selector "
       "operator"},
      {R"(match_expressions { key: "a" operator: "Exists" }
          match_expressions { key: "b$" operator: "In" values: "ok" values: "not ok" })",
       std::string("spec.selector.matchExpressions[1].key: Invalid value: \"b$\": ") +
           kNamePartMsg +
           "\nspec.selector.matchExpressions[1].values[1]: Invalid value: \"not ok\": " +
           kValueMsg},
      {R"(match_labels { key: "a/b/c" value: "x" })",
       std::string("spec.selector.matchLabels: Invalid value: \"a/b/c\": ") + kQualifiedNameMsg},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ErrorsText(ValidateLabelSelector(FromText<LabelSelector>(c.proto),
                                               FieldPath("spec.selector"))),
              c.errors)
        << c.proto;
  }
}

// ---------------------------------------------------------------------------
// Selector::Parse

TEST(SelectorParseTest, CanonicalForms) {
  struct Case {
    std::string text;
    std::string canonical;
  };
  const std::vector<Case> cases = {
      {"", ""},
      {"   ", ""},
      {"a=b", "a=b"},
      {"a==b", "a==b"},
      {"a!=b", "a!=b"},
      {"a", "a"},
      {"!a", "!a"},
      {"a in (x,y)", "a in (x,y)"},
      {"a notin (x, y)", "a notin (x,y)"},
      {"a in (c,b,a,b)", "a in (a,b,c)"},
      {"a in ()", "a in ()"},
      {"a in (,)", "a in ()"},
      {"a in (b,)", "a in (,b)"},
      {"a in (,b)", "a in (,b)"},
      {"a in (b,,c)", "a in (,b,c)"},
      {"x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"},
      {"a=", "a="},
      {"a==", "a=="},
      {"a!=", "a!="},
      {"a=,b", "a=,b"},
      {"a>5", "a>5"},
      {"a<3", "a<3"},
      {"a > 7", "a>7"},
      {"b=1,a=2", "a=2,b=1"},
      {"c,b,!a", "!a,b,c"},
      {"a=1,a!=2", "a=1,a!=2"},
      {"  a  =  b  ,  c  ", "a=b,c"},
      {"a\tin\n(\rb )", "a in (b)"},
      {"a  in(b)", "a in (b)"},
      {"in in (in)", "in in (in)"},
      {"notin notin (notin,in)", "notin notin (in,notin)"},
      {"notin=in", "notin=in"},
      {"in", "in"},
      {"!in", "!in"},
      {"example.com/app=web", "example.com/app=web"},
      {"app.kubernetes.io/name in (web, db)", "app.kubernetes.io/name in (db,web)"},
      {"a=A_b-c.9", "a=A_b-c.9"},
      {"environment in (production, qa),tier notin (frontend, backend),partition,!canary",
       "!canary,environment in (production,qa),partition,tier notin (backend,frontend)"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Selector> s = Selector::Parse(c.text);
    ASSERT_TRUE(s.ok()) << c.text << ": " << s.status();
    EXPECT_EQ(s->ToString(), c.canonical) << c.text;
    // The canonical form parses to the same selector.
    absl::StatusOr<Selector> again = Selector::Parse(s->ToString());
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(*again, *s) << c.text;
  }
}

TEST(SelectorParseTest, Errors) {
  struct Case {
    std::string text;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"a in (b",
       "unable to parse requirement: found end of string, expected: ',' or ')' (at position 7)"},
      {"=b", "found '=', expected: !, identifier, or 'end of string' (at position 0)"},
      {"a=b=c", "found '=', expected: ',' or 'end of string' (at position 3)"},
      {"!",
       "unable to parse requirement: found end of string, expected: identifier (at position 1)"},
      {"a=b,", "found end of string, expected: identifier after ',' (at position 4)"},
      {"a,", "found end of string, expected: identifier after ',' (at position 2)"},
      {",a", "found ',', expected: !, identifier, or 'end of string' (at position 0)"},
      {"a,,b", "found ',', expected: identifier after ',' (at position 2)"},
      {"(a)", "found '(', expected: !, identifier, or 'end of string' (at position 0)"},
      {"a (",
       "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt "
       "(at position 2)"},
      {"a b",
       "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt "
       "(at position 2)"},
      {"a!b",
       "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt "
       "(at position 1)"},
      {"a in", "unable to parse requirement: found end of string, expected: '(' (at position 4)"},
      {"a in b", "unable to parse requirement: found 'b', expected: '(' (at position 5)"},
      {"a in (b c)",
       "unable to parse requirement: found 'c', expected: ',' or ')' (at position 8)"},
      {"a in (=)",
       "unable to parse requirement: found '=', expected: ',', ')' or identifier (at position 6)"},
      {"a in (b,=)",
       "unable to parse requirement: found '=', expected: ',', or identifier (at position 8)"},
      {"a in (,",
       "unable to parse requirement: found end of string, expected: ',', or identifier (at "
       "position 7)"},
      {"a in ((b))",
       "unable to parse requirement: found '(', expected: ',', ')' or identifier (at position 6)"},
      {"a=(", "unable to parse requirement: found '(', expected: identifier (at position 2)"},
      {"a!=!", "unable to parse requirement: found '!', expected: identifier (at position 3)"},
      {"!a=b", "found '=', expected: ',' or 'end of string' (at position 2)"},
      {"!!a", "unable to parse requirement: found '!', expected: identifier (at position 1)"},
      {"a in (b) c", "found 'c', expected: ',' or 'end of string' (at position 9)"},
      {"a$=b",
       std::string("unable to parse requirement: key: Invalid value: \"a$\": ") + kNamePartMsg},
      {"a/b/c", std::string("unable to parse requirement: key: Invalid value: \"a/b/c\": ") +
                    kQualifiedNameMsg},
      {"/a",
       "unable to parse requirement: key: Invalid value: \"/a\": prefix part must be "
       "non-empty"},
      {std::string(64, 'k'), "unable to parse requirement: key: Invalid value: \"" +
                                 std::string(64, 'k') +
                                 "\": name part must be no more than 63 characters"},
      {"a=b$", std::string("unable to parse requirement: values[0][a]: Invalid value: \"b$\": ") +
                   kValueMsg},
      {"a in (ok,-x)",
       std::string("unable to parse requirement: values[0][a]: Invalid value: \"-x\": ") +
           kValueMsg},
      {"a=" + std::string(64, 'v'), "unable to parse requirement: values[0][a]: Invalid value: \"" +
                                        std::string(64, 'v') +
                                        "\": must be no more than 63 characters"},
      {"a>b",
       "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, "
       "the value must be an integer"},
      {"a<-3", std::string("unable to parse requirement: values[0][a]: Invalid value: \"-3\": ") +
                   kValueMsg},
      {"a>+7", std::string("unable to parse requirement: values[0][a]: Invalid value: \"+7\": ") +
                   kValueMsg},
      {"a<",
       "unable to parse requirement: values[0]: Invalid value: \"\": for 'Gt', 'Lt' operators, "
       "the value must be an integer"},
      {"a>99999999999999999999",
       "unable to parse requirement: values[0]: Invalid value: \"99999999999999999999\": for "
       "'Gt', 'Lt' operators, the value must be an integer"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Selector> s = Selector::Parse(c.text);
    ASSERT_FALSE(s.ok()) << c.text << " parsed as " << s->ToString();
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_EQ(s.status().message(), c.message) << c.text;
  }
}

// ---------------------------------------------------------------------------
// Selector matching

TEST(SelectorMatchTest, Table) {
  struct Case {
    std::string selector;
    LabelMap labels;
    bool matches;
  };
  const std::vector<Case> cases = {
      {"", Labels({}), true},
      {"", Labels({{"a", "b"}}), true},
      {"a=b", Labels({{"a", "b"}}), true},
      {"a=b", Labels({{"a", "b"}, {"c", "d"}}), true},
      {"a=b", Labels({{"a", "c"}}), false},
      {"a=b", Labels({}), false},
      {"a=b", Labels({{"A", "b"}}), false},
      {"a==b", Labels({{"a", "b"}}), true},
      {"a==b", Labels({{"a", "B"}}), false},
      {"a!=b", Labels({}), true},
      {"a!=b", Labels({{"a", "b"}}), false},
      {"a!=b", Labels({{"a", "c"}}), true},
      {"a=", Labels({{"a", ""}}), true},
      {"a=", Labels({}), false},
      {"a!=", Labels({}), true},
      {"a!=", Labels({{"a", ""}}), false},
      {"a in (b,c)", Labels({{"a", "c"}}), true},
      {"a in (b,c)", Labels({{"a", "b"}}), true},
      {"a in (b,c)", Labels({{"a", "d"}}), false},
      {"a in (b,c)", Labels({}), false},
      {"a in ()", Labels({{"a", ""}}), true},
      {"a in ()", Labels({{"a", "x"}}), false},
      {"a in (b,)", Labels({{"a", ""}}), true},
      {"a notin (b,c)", Labels({}), true},
      {"a notin (b,c)", Labels({{"a", "b"}}), false},
      {"a notin (b,c)", Labels({{"a", "d"}}), true},
      {"a notin ()", Labels({{"a", ""}}), false},
      {"a", Labels({{"a", ""}}), true},
      {"a", Labels({{"a", "x"}}), true},
      {"a", Labels({{"b", "x"}}), false},
      {"!a", Labels({}), true},
      {"!a", Labels({{"a", ""}}), false},
      {"!a", Labels({{"b", ""}}), true},
      {"a>5", Labels({{"a", "6"}}), true},
      {"a>5", Labels({{"a", "5"}}), false},
      {"a>5", Labels({{"a", "+6"}}), true},
      {"a>5", Labels({{"a", "-6"}}), false},
      {"a>5", Labels({{"a", "+-6"}}), false},
      {"a>5", Labels({{"a", "--6"}}), false},
      {"a>5", Labels({{"a", "+"}}), false},
      {"a>5", Labels({{"a", "-"}}), false},
      {"a>5", Labels({{"a", "0006"}}), true},
      {"a>5", Labels({{"a", "9223372036854775807"}}), true},
      {"a<5", Labels({{"a", "-9223372036854775808"}}), true},
      {"a<5", Labels({{"a", "-9223372036854775809"}}), false},
      {"a>5", Labels({{"a", "x"}}), false},
      {"a>5", Labels({{"a", ""}}), false},
      {"a>5", Labels({{"a", "6.0"}}), false},
      {"a>5", Labels({{"a", " 6"}}), false},
      {"a>5", Labels({{"a", "99999999999999999999"}}), false},
      {"a>5", Labels({}), false},
      {"a>0", Labels({{"a", "1"}}), true},
      {"a<5", Labels({{"a", "4"}}), true},
      {"a<5", Labels({{"a", "-10"}}), true},
      {"a<5", Labels({{"a", "5"}}), false},
      {"a<5", Labels({}), false},
      {"a=b,c=d", Labels({{"a", "b"}, {"c", "d"}}), true},
      {"a=b,c=d", Labels({{"a", "b"}}), false},
      {"a=b,c!=d", Labels({{"a", "b"}}), true},
      {"a=b,!c", Labels({{"a", "b"}, {"c", "d"}}), false},
      {"a=1,a!=2", Labels({{"a", "1"}}), true},
      {"a=1,a=2", Labels({{"a", "1"}}), false},
      {"example.com/app in (web,db),tier", Labels({{"example.com/app", "db"}, {"tier", "x"}}),
       true},
      {"example.com/app in (web,db),tier", Labels({{"app", "db"}, {"tier", "x"}}), false},
      // More than a handful of values: looked up by binary search.
      {"a in (v0,v1,v2,v3,v4,v5,v6,v7,v8,v9,v10,v11)", Labels({{"a", "v10"}}), true},
      {"a in (v0,v1,v2,v3,v4,v5,v6,v7,v8,v9,v10,v11)", Labels({{"a", "v0"}}), true},
      {"a in (v0,v1,v2,v3,v4,v5,v6,v7,v8,v9,v10,v11)", Labels({{"a", "v9"}}), true},
      {"a in (v0,v1,v2,v3,v4,v5,v6,v7,v8,v9,v10,v11)", Labels({{"a", "v12"}}), false},
      {"a in (v0,v1,v2,v3,v4,v5,v6,v7,v8,v9,v10,v11)", Labels({{"a", "v"}}), false},
      {"a notin (v0,v1,v2,v3,v4,v5,v6,v7,v8,v9,v10,v11)", Labels({{"a", "v11"}}), false},
      {"a notin (v0,v1,v2,v3,v4,v5,v6,v7,v8,v9,v10,v11)", Labels({{"a", "w"}}), true},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Selector> s = Selector::Parse(c.selector);
    ASSERT_TRUE(s.ok()) << c.selector << ": " << s.status();
    EXPECT_EQ(s->Matches(c.labels), c.matches) << c.selector;
    // The same through other map types.
    std::map<std::string, std::string> std_map(c.labels.begin(), c.labels.end());
    absl::flat_hash_map<std::string, std::string> flat(c.labels.begin(), c.labels.end());
    EXPECT_EQ(s->Matches(std_map), c.matches) << c.selector;
    EXPECT_EQ(s->Matches(flat), c.matches) << c.selector;
  }
}

TEST(SelectorMatchTest, EverythingAndNothing) {
  Selector everything = Selector::Everything();
  Selector nothing = Selector::Nothing();
  EXPECT_TRUE(everything.Empty());
  EXPECT_FALSE(everything.MatchesNothing());
  EXPECT_TRUE(everything.Matches(Labels({})));
  EXPECT_TRUE(everything.Matches(Labels({{"a", "b"}})));
  EXPECT_EQ(everything.ToString(), "");
  EXPECT_EQ(Selector(), everything);

  EXPECT_FALSE(nothing.Empty());
  EXPECT_TRUE(nothing.MatchesNothing());
  EXPECT_FALSE(nothing.Matches(Labels({})));
  EXPECT_FALSE(nothing.Matches(Labels({{"a", "b"}})));
  EXPECT_EQ(nothing.ToString(), "");
  EXPECT_FALSE(nothing.RequiresExactMatch("a").has_value());
  EXPECT_NE(nothing, everything);

  absl::StatusOr<LabelRequirement> r = LabelRequirement::Create("a", SelectorOperator::kExists, {});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(nothing.Add(*r).MatchesNothing());
  EXPECT_EQ(everything.Add(*r).ToString(), "a");

  absl::StatusOr<Selector> parsed = Selector::Parse("a");
  ASSERT_TRUE(parsed.ok());
  EXPECT_FALSE(parsed->Empty());
}

TEST(SelectorMatchTest, RequiresExactMatch) {
  absl::StatusOr<Selector> s = Selector::Parse("a=b,c in (d),e in (f,g),h!=i,j==k,l,m notin (n)");
  ASSERT_TRUE(s.ok()) << s.status();
  struct Case {
    std::string key;
    std::optional<std::string> value;
  };
  const std::vector<Case> cases = {
      {"a", "b"}, {"c", "d"},          {"e", std::nullopt}, {"h", std::nullopt},
      {"j", "k"}, {"l", std::nullopt}, {"m", std::nullopt}, {"x", std::nullopt},
  };
  for (const Case& c : cases) {
    std::optional<absl::string_view> v = s->RequiresExactMatch(c.key);
    EXPECT_EQ(v.has_value(), c.value.has_value()) << c.key;
    if (v && c.value) {
      EXPECT_EQ(*v, *c.value) << c.key;
    }
  }
  // Only the first requirement on a key counts, as in Kubernetes.
  absl::StatusOr<Selector> t = Selector::Parse("a!=x,a=y");
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->RequiresExactMatch("a").has_value());
}

TEST(SelectorMatchTest, Requirements) {
  absl::StatusOr<Selector> s = Selector::Parse("z in (b,a),!y,x>3");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->requirements().size(), 3u);
  EXPECT_EQ(s->requirements()[0].key(), "x");
  EXPECT_EQ(s->requirements()[0].op(), SelectorOperator::kGreaterThan);
  EXPECT_EQ(s->requirements()[0].values(), Strings({"3"}));
  EXPECT_EQ(s->requirements()[1].key(), "y");
  EXPECT_EQ(s->requirements()[1].op(), SelectorOperator::kDoesNotExist);
  EXPECT_TRUE(s->requirements()[1].values().empty());
  EXPECT_EQ(s->requirements()[2].key(), "z");
  EXPECT_EQ(s->requirements()[2].op(), SelectorOperator::kIn);
  EXPECT_EQ(s->requirements()[2].values(), Strings({"a", "b"}));
  EXPECT_EQ(s->requirements()[2].ToString(), "z in (a,b)");
  EXPECT_TRUE(s->requirements()[2].MatchesValue("a"));
  EXPECT_FALSE(s->requirements()[2].MatchesValue(std::nullopt));
}

// ---------------------------------------------------------------------------
// LabelRequirement::Create

TEST(LabelRequirementSelectorTest, Create) {
  struct Case {
    std::string key;
    SelectorOperator op;
    Strings values;
    std::string error;  // "" when valid
    std::string text;   // ToString() when valid
  };
  const std::vector<Case> cases = {
      {"a", SelectorOperator::kIn, {"b", "a"}, "", "a in (a,b)"},
      {"a", SelectorOperator::kNotIn, {""}, "", "a notin ()"},
      {"a", SelectorOperator::kEquals, {"b"}, "", "a=b"},
      {"a", SelectorOperator::kDoubleEquals, {"b"}, "", "a==b"},
      {"a", SelectorOperator::kNotEquals, {""}, "", "a!="},
      {"a", SelectorOperator::kExists, {}, "", "a"},
      {"a", SelectorOperator::kDoesNotExist, {}, "", "!a"},
      {"a", SelectorOperator::kGreaterThan, {"4"}, "", "a>4"},
      // Label values cannot start with a sign, in Gt and Lt too.
      {"a",
       SelectorOperator::kGreaterThan,
       {"-4"},
       std::string("values[0][a]: Invalid value: \"-4\": ") + kValueMsg,
       ""},
      {"a", SelectorOperator::kLessThan, {"9223372036854775807"}, "", "a<9223372036854775807"},
      {"a",
       SelectorOperator::kIn,
       {},
       "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty",
       ""},
      {"a",
       SelectorOperator::kNotIn,
       {},
       "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty",
       ""},
      {"a",
       SelectorOperator::kEquals,
       {"b", "c"},
       "values: Invalid value: [\"b\",\"c\"]: exact-match compatibility requires one single value",
       ""},
      {"a",
       SelectorOperator::kNotEquals,
       {},
       "values: Invalid value: []: exact-match compatibility requires one single value",
       ""},
      {"a",
       SelectorOperator::kExists,
       {"b"},
       "values: Invalid value: [\"b\"]: values set must be empty for exists and does not exist",
       ""},
      {"a",
       SelectorOperator::kDoesNotExist,
       {"b"},
       "values: Invalid value: [\"b\"]: values set must be empty for exists and does not exist",
       ""},
      {"a",
       SelectorOperator::kGreaterThan,
       {"1", "2"},
       "values: Invalid value: [\"1\",\"2\"]: for 'Gt', 'Lt' operators, exactly one value is "
       "required",
       ""},
      {"a",
       SelectorOperator::kLessThan,
       {"1.5"},
       "values[0]: Invalid value: \"1.5\": for 'Gt', 'Lt' operators, the value must be an integer",
       ""},
      {"a$",
       SelectorOperator::kExists,
       {},
       std::string("key: Invalid value: \"a$\": ") + kNamePartMsg,
       ""},
      {"",
       SelectorOperator::kExists,
       {},
       std::string("key: Invalid value: \"\": name part must be non-empty; ") + kNamePartMsg,
       ""},
      {"a$",
       SelectorOperator::kIn,
       {},
       std::string("[key: Invalid value: \"a$\": ") + kNamePartMsg +
           ", values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty]",
       ""},
      {"k",
       SelectorOperator::kIn,
       {"ok", "b$"},
       std::string("values[1][k]: Invalid value: \"b$\": ") + kValueMsg,
       ""},
  };
  for (const Case& c : cases) {
    absl::StatusOr<LabelRequirement> r = LabelRequirement::Create(c.key, c.op, c.values);
    if (c.error.empty()) {
      ASSERT_TRUE(r.ok()) << c.key << ": " << r.status();
      EXPECT_EQ(r->ToString(), c.text);
    } else {
      ASSERT_FALSE(r.ok()) << c.key;
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(r.status().message(), c.error) << c.key;
    }
  }
  // The path prefixes the field names.
  absl::StatusOr<LabelRequirement> r = LabelRequirement::Create(
      "a", SelectorOperator::kIn, {}, FieldPath("spec").Child("selector").Index(2));
  EXPECT_EQ(r.status().message(),
            "spec.selector[2].values: Invalid value: []: for 'in', 'notin' operators, values set "
            "can't be empty");
}

// ---------------------------------------------------------------------------
// Selector::FromProto / FromSet

TEST(LabelSelectorFromProtoTest, Conversions) {
  struct Case {
    std::string proto;
    std::string canonical;
    std::vector<std::pair<LabelMap, bool>> matches;
  };
  const std::vector<Case> cases = {
      {"", "", {{Labels({}), true}, {Labels({{"a", "b"}}), true}}},
      {R"(match_labels { key: "app" value: "web" })",
       "app=web",
       {{Labels({{"app", "web"}}), true}, {Labels({{"app", "db"}}), false}, {Labels({}), false}}},
      {R"(match_labels { key: "b" value: "2" } match_labels { key: "a" value: "1" })",
       "a=1,b=2",
       {{Labels({{"a", "1"}, {"b", "2"}}), true}, {Labels({{"a", "1"}}), false}}},
      {R"(match_labels { key: "app" value: "web" }
          match_expressions { key: "tier" operator: "In" values: "fe" values: "be" }
          match_expressions { key: "env" operator: "NotIn" values: "prod" }
          match_expressions { key: "canary" operator: "DoesNotExist" }
          match_expressions { key: "app" operator: "Exists" })",
       "app=web,app,!canary,env notin (prod),tier in (be,fe)",
       {{Labels({{"app", "web"}, {"tier", "fe"}}), true},
        {Labels({{"app", "web"}, {"tier", "be"}, {"env", "dev"}}), true},
        {Labels({{"app", "web"}, {"tier", "be"}, {"env", "prod"}}), false},
        {Labels({{"app", "web"}, {"tier", "be"}, {"canary", "1"}}), false},
        {Labels({{"app", "web"}}), false},
        {Labels({{"tier", "fe"}}), false}}},
      {R"(match_expressions { key: "a" operator: "In" values: "" })",
       "a in ()",
       {{Labels({{"a", ""}}), true}, {Labels({}), false}}},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Selector> s = Selector::FromProto(FromText<LabelSelector>(c.proto));
    ASSERT_TRUE(s.ok()) << c.proto << ": " << s.status();
    EXPECT_EQ(s->ToString(), c.canonical);
    for (const auto& [labels, want] : c.matches) {
      EXPECT_EQ(s->Matches(labels), want) << c.proto;
    }
  }
}

TEST(LabelSelectorFromProtoTest, Errors) {
  struct Case {
    std::string proto;
    std::string message;
  };
  const std::vector<Case> cases = {
      {R"(match_expressions { key: "a" operator: "In" })",
       "selector.matchExpressions[0].values: Required value: must be specified when `operator` "
       "is 'In' or 'NotIn'"},
      {R"(match_expressions { key: "a" operator: "Exists" values: "x" })",
       "selector.matchExpressions[0].values: Forbidden: may not be specified when `operator` is "
       "'Exists' or 'DoesNotExist'"},
      {R"(match_expressions { key: "a" operator: "in" values: "x" })",
       "selector.matchExpressions[0].operator: Invalid value: \"in\": not a valid selector "
       "operator"},
      {R"(match_expressions { key: "a" operator: "Exists" }
          match_expressions { key: "b" operator: "Lt" values: "3" }
          match_expressions { key: "c" operator: "NotIn" })",
       "[selector.matchExpressions[1].operator: Invalid value: \"Lt\": not a valid selector "
       "operator, selector.matchExpressions[2].values: Required value: must be specified when "
       "`operator` is 'In' or 'NotIn']"},
      {R"(match_labels { key: "app" value: "a b" })",
       std::string("selector.matchLabels: Invalid value: \"a b\": ") + kValueMsg},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Selector> s = Selector::FromProto(FromText<LabelSelector>(c.proto));
    ASSERT_FALSE(s.ok()) << c.proto;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(s.status().message(), c.message);
  }
  absl::StatusOr<Selector> s = Selector::FromProto(
      FromText<LabelSelector>(R"(match_expressions { key: "a" operator: "In" })"),
      FieldPath("spec.template.spec.affinity"));
  EXPECT_EQ(s.status().message(),
            "spec.template.spec.affinity.matchExpressions[0].values: Required value: must be "
            "specified when `operator` is 'In' or 'NotIn'");
}

TEST(LabelSelectorFromProtoTest, FromSet) {
  absl::StatusOr<Selector> empty = Selector::FromSet(Labels({}));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->Empty());

  absl::StatusOr<Selector> s = Selector::FromSet(Labels({{"b", "2"}, {"a", "1"}}));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->ToString(), "a=1,b=2");
  EXPECT_TRUE(s->Matches(Labels({{"a", "1"}, {"b", "2"}, {"c", "3"}})));
  EXPECT_FALSE(s->Matches(Labels({{"a", "1"}})));
  EXPECT_EQ(*s->RequiresExactMatch("b"), "2");

  absl::StatusOr<Selector> bad = Selector::FromSet(Labels({{"a", "-"}}));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            std::string("values[0][a]: Invalid value: \"-\": ") + kValueMsg);
}

// ---------------------------------------------------------------------------
// FieldSelector

TEST(FieldSelectorTest, Parse) {
  struct Case {
    std::string text;
    std::vector<FieldRequirement> requirements;
    std::string canonical;
  };
  using Op = FieldSelectorOperator;
  const std::vector<Case> cases = {
      {"", {}, ""},
      {",", {}, ""},
      {"metadata.name=x", {{"metadata.name", Op::kEquals, "x"}}, "metadata.name=x"},
      {"metadata.name==x", {{"metadata.name", Op::kEquals, "x"}}, "metadata.name=x"},
      {"status.phase!=Failed",
       {{"status.phase", Op::kNotEquals, "Failed"}},
       "status.phase!=Failed"},
      {"metadata.name=x,status.phase!=Failed",
       {{"metadata.name", Op::kEquals, "x"}, {"status.phase", Op::kNotEquals, "Failed"}},
       "metadata.name=x,status.phase!=Failed"},
      {"spec.nodeName=N,status.phase!=Succeeded,status.phase!=Failed",
       {{"spec.nodeName", Op::kEquals, "N"},
        {"status.phase", Op::kNotEquals, "Failed"},
        {"status.phase", Op::kNotEquals, "Succeeded"}},
       "spec.nodeName=N,status.phase!=Failed,status.phase!=Succeeded"},
      {"b=1,a=2", {{"a", Op::kEquals, "2"}, {"b", Op::kEquals, "1"}}, "a=2,b=1"},
      {"a=1,,b=2,", {{"a", Op::kEquals, "1"}, {"b", Op::kEquals, "2"}}, "a=1,b=2"},
      {"spec.nodeName=", {{"spec.nodeName", Op::kEquals, ""}}, "spec.nodeName="},
      {"a!=", {{"a", Op::kNotEquals, ""}}, "a!="},
      {R"(a=b\,c)", {{"a", Op::kEquals, "b,c"}}, R"(a=b\,c)"},
      {R"(a=b\=c)", {{"a", Op::kEquals, "b=c"}}, R"(a=b\=c)"},
      {R"(a=b\\c)", {{"a", Op::kEquals, R"(b\c)"}}, R"(a=b\\c)"},
      {R"(a=\,\=\\)", {{"a", Op::kEquals, R"(,=\)"}}, R"(a=\,\=\\)"},
      {R"(a=x\,y,b=z)", {{"a", Op::kEquals, "x,y"}, {"b", Op::kEquals, "z"}}, R"(a=x\,y,b=z)"},
      {"a!b=c", {{"a!b", Op::kEquals, "c"}}, "a!b=c"},
      {"a b=c d", {{"a b", Op::kEquals, "c d"}}, "a b=c d"},
      {"involvedObject.name=web-0,involvedObject.namespace=default",
       {{"involvedObject.name", Op::kEquals, "web-0"},
        {"involvedObject.namespace", Op::kEquals, "default"}},
       "involvedObject.name=web-0,involvedObject.namespace=default"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<FieldSelector> s = FieldSelector::Parse(c.text);
    ASSERT_TRUE(s.ok()) << c.text << ": " << s.status();
    EXPECT_EQ(s->requirements(), c.requirements) << c.text;
    EXPECT_EQ(s->ToString(), c.canonical) << c.text;
    EXPECT_EQ(s->Empty(), c.requirements.empty()) << c.text;
    absl::StatusOr<FieldSelector> again = FieldSelector::Parse(s->ToString());
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(*again, *s) << c.text;
  }
}

TEST(FieldSelectorTest, ParseErrors) {
  struct Case {
    std::string text;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"a",
       "invalid selector: 'a'; can't understand 'a' (expected <field>=<value>, "
       "<field>==<value> or <field>!=<value>)"},
      {"b=c,a",
       "invalid selector: 'b=c,a'; can't understand 'a' (expected <field>=<value>, "
       "<field>==<value> or <field>!=<value>)"},
      {"a!b",
       "invalid selector: 'a!b'; can't understand 'a!b' (expected <field>=<value>, "
       "<field>==<value> or <field>!=<value>)"},
      {"=x", "invalid selector: '=x'; can't understand '=x' (no field name before '=')"},
      {"!=x", "invalid selector: '!=x'; can't understand '!=x' (no field name before '!=')"},
      {"a=b=c", "invalid field selector: unescaped character in value: '='"},
      {"a!==b", "invalid field selector: unescaped character in value: '='"},
      {R"(a=b\x)", R"(invalid field selector: invalid escape sequence: \x)"},
      {R"(a=b\)", R"(invalid field selector: invalid escape sequence: \)"},
      {R"(a=b\n)", R"(invalid field selector: invalid escape sequence: \n)"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<FieldSelector> s = FieldSelector::Parse(c.text);
    ASSERT_FALSE(s.ok()) << c.text;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(s.status().message(), c.message) << c.text;
  }
}

TEST(FieldSelectorTest, Matches) {
  // A pod with these fields; other fields are unknown.
  std::map<std::string, std::string> pod = {{"metadata.name", "web-0"},
                                            {"metadata.namespace", "default"},
                                            {"spec.nodeName", ""},
                                            {"status.phase", "Pending"}};
  auto get = [&pod](absl::string_view field) -> std::optional<absl::string_view> {
    auto it = pod.find(std::string(field));
    if (it == pod.end()) return std::nullopt;
    return it->second;
  };
  struct Case {
    std::string selector;
    bool matches;
  };
  const std::vector<Case> cases = {
      {"", true},
      {"metadata.name=web-0", true},
      {"metadata.name==web-0", true},
      {"metadata.name=web-1", false},
      {"metadata.name!=web-1", true},
      {"metadata.name!=web-0", false},
      {"spec.nodeName=", true},
      {"spec.nodeName!=", false},
      {"spec.nodeName=n1", false},
      {"metadata.namespace=default,status.phase!=Failed", true},
      {"metadata.namespace=default,status.phase!=Pending", false},
      {"spec.nodeName=,status.phase!=Succeeded,status.phase!=Failed", true},
      {"spec.unknown=x", false},
      {"spec.unknown!=x", false},
      {"spec.unknown=", false},
  };
  for (const Case& c : cases) {
    absl::StatusOr<FieldSelector> s = FieldSelector::Parse(c.selector);
    ASSERT_TRUE(s.ok()) << c.selector << ": " << s.status();
    EXPECT_EQ(s->Matches(get), c.matches) << c.selector;
  }
  EXPECT_TRUE(FieldSelector::Everything().Matches(get));
  EXPECT_FALSE(FieldSelector::Nothing().Matches(get));
  EXPECT_TRUE(FieldSelector::OneTermEqual("metadata.name", "web-0").Matches(get));
  EXPECT_FALSE(FieldSelector::OneTermEqual("metadata.name", "web-1").Matches(get));
}

TEST(FieldSelectorTest, ExactMatchAndIntrospection) {
  absl::StatusOr<FieldSelector> s =
      FieldSelector::Parse("metadata.namespace!=kube-system,metadata.name=web\\,0");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s->RequiresExactMatch("metadata.name"), "web,0");
  EXPECT_FALSE(s->RequiresExactMatch("metadata.namespace").has_value());
  EXPECT_FALSE(s->RequiresExactMatch("spec.nodeName").has_value());
  EXPECT_FALSE(s->Empty());

  FieldSelector nothing = FieldSelector::Nothing();
  EXPECT_FALSE(nothing.Empty());
  EXPECT_TRUE(nothing.MatchesNothing());
  EXPECT_EQ(nothing.ToString(), "");
  EXPECT_TRUE(FieldSelector::Everything().Empty());

  FieldSelector built = FieldSelector::FromRequirements(
      {{"z", FieldSelectorOperator::kNotEquals, "a=b"}, {"a", FieldSelectorOperator::kEquals, ""}});
  EXPECT_EQ(built.ToString(), R"(z!=a\=b,a=)");
}

TEST(FieldSelectorTest, Escaping) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", ""},           {"plain", "plain"},    {"a,b", R"(a\,b)"},
      {"a=b", R"(a\=b)"}, {R"(a\b)", R"(a\\b)"}, {R"(\,=)", R"(\\\,\=)"},
  };
  for (const auto& [raw, escaped] : cases) {
    EXPECT_EQ(EscapeFieldSelectorValue(raw), escaped);
    absl::StatusOr<std::string> back = UnescapeFieldSelectorValue(escaped);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, raw);
  }
  EXPECT_EQ(UnescapeFieldSelectorValue("a,b").status().message(),
            "invalid field selector: unescaped character in value: ','");
}

// ---------------------------------------------------------------------------
// Node selectors

struct NodeCase {
  std::string node_name;
  LabelMap labels;
  bool matches;
};

void ExpectNodeMatches(const std::string& proto, const std::vector<NodeCase>& cases) {
  absl::StatusOr<NodeSelectorMatcher> m =
      NodeSelectorMatcher::Create(FromText<NodeSelector>(proto));
  ASSERT_TRUE(m.ok()) << proto << ": " << m.status();
  for (const NodeCase& c : cases) {
    EXPECT_EQ(m->Matches(c.node_name, c.labels), c.matches) << proto << "\nnode " << c.node_name;
    std::map<std::string, std::string> std_map(c.labels.begin(), c.labels.end());
    EXPECT_EQ(m->Matches(c.node_name, std_map), c.matches) << proto;
  }
}

TEST(NodeSelectorTest, Operators) {
  struct Case {
    std::string proto;
    std::vector<NodeCase> nodes;
  };
  const std::vector<Case> cases = {
      {R"(node_selector_terms { match_expressions { key: "zone" operator: "In" values: "a" values: "b" } })",
       {{"n", Labels({{"zone", "a"}}), true},
        {"n", Labels({{"zone", "b"}}), true},
        {"n", Labels({{"zone", "c"}}), false},
        {"n", Labels({}), false}}},
      {R"(node_selector_terms { match_expressions { key: "zone" operator: "NotIn" values: "a" } })",
       {{"n", Labels({{"zone", "a"}}), false},
        {"n", Labels({{"zone", "b"}}), true},
        {"n", Labels({}), true}}},
      {R"(node_selector_terms { match_expressions { key: "gpu" operator: "Exists" } })",
       {{"n", Labels({{"gpu", ""}}), true}, {"n", Labels({{"cpu", ""}}), false}}},
      {R"(node_selector_terms { match_expressions { key: "gpu" operator: "DoesNotExist" } })",
       {{"n", Labels({{"gpu", ""}}), false}, {"n", Labels({{"cpu", ""}}), true}}},
      {R"(node_selector_terms { match_expressions { key: "cores" operator: "Gt" values: "4" } })",
       {{"n", Labels({{"cores", "8"}}), true},
        {"n", Labels({{"cores", "4"}}), false},
        {"n", Labels({{"cores", "many"}}), false},
        {"n", Labels({}), false}}},
      {R"(node_selector_terms { match_expressions { key: "cores" operator: "Lt" values: "4" } })",
       {{"n", Labels({{"cores", "3"}}), true},
        {"n", Labels({{"cores", "-3"}}), true},
        {"n", Labels({{"cores", "4"}}), false},
        {"n", Labels({{"cores", "3x"}}), false},
        {"n", Labels({}), false}}},
      // Requirements in a term are ANDed.
      {R"(node_selector_terms {
            match_expressions { key: "zone" operator: "In" values: "a" }
            match_expressions { key: "disk" operator: "In" values: "ssd" } })",
       {{"n", Labels({{"zone", "a"}, {"disk", "ssd"}}), true},
        {"n", Labels({{"zone", "a"}, {"disk", "hdd"}}), false},
        {"n", Labels({{"disk", "ssd"}}), false}}},
      // Terms are ORed.
      {R"(node_selector_terms { match_expressions { key: "zone" operator: "In" values: "a" } }
          node_selector_terms { match_expressions { key: "disk" operator: "In" values: "ssd" } })",
       {{"n", Labels({{"zone", "a"}}), true},
        {"n", Labels({{"disk", "ssd"}}), true},
        {"n", Labels({{"zone", "b"}, {"disk", "hdd"}}), false}}},
      // matchFields on metadata.name.
      {R"(node_selector_terms { match_fields { key: "metadata.name" operator: "In" values: "n1" } })",
       {{"n1", Labels({}), true}, {"n2", Labels({}), false}}},
      {R"(node_selector_terms { match_fields { key: "metadata.name" operator: "NotIn" values: "n1" } })",
       {{"n1", Labels({}), false}, {"n2", Labels({}), true}}},
      // Fields and labels in one term.
      {R"(node_selector_terms {
            match_expressions { key: "zone" operator: "In" values: "a" }
            match_fields { key: "metadata.name" operator: "In" values: "n1" } })",
       {{"n1", Labels({{"zone", "a"}}), true},
        {"n1", Labels({{"zone", "b"}}), false},
        {"n2", Labels({{"zone", "a"}}), false}}},
      // As in Kubernetes, a node without a name skips matchFields.
      {R"(node_selector_terms { match_fields { key: "metadata.name" operator: "In" values: "n1" } })",
       {{"", Labels({}), true}}},
      // No terms, or only empty terms: nothing matches.
      {"", {{"n", Labels({}), false}, {"n", Labels({{"a", "b"}}), false}}},
      {"node_selector_terms {}", {{"n", Labels({}), false}, {"n", Labels({{"a", "b"}}), false}}},
      {R"(node_selector_terms {}
          node_selector_terms { match_expressions { key: "a" operator: "Exists" } })",
       {{"n", Labels({{"a", "b"}}), true}, {"n", Labels({}), false}}},
  };
  for (const Case& c : cases) ExpectNodeMatches(c.proto, c.nodes);
}

TEST(NodeSelectorTest, TermMatcher) {
  absl::StatusOr<NodeSelectorTermMatcher> empty =
      NodeSelectorTermMatcher::Create(NodeSelectorTerm());
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->Matches("n", Labels({})));
  EXPECT_FALSE(empty->Matches("n", Labels({{"a", "b"}})));

  absl::StatusOr<NodeSelectorTermMatcher> t = NodeSelectorTermMatcher::Create(
      FromText<NodeSelectorTerm>(R"(match_expressions { key: "a" operator: "Gt" values: "1" })"));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(t->Matches("n", Labels({{"a", "2"}})));
  EXPECT_FALSE(t->Matches("n", Labels({{"a", "1"}})));

  absl::StatusOr<NodeSelectorTermMatcher> bad = NodeSelectorTermMatcher::Create(
      FromText<NodeSelectorTerm>(R"(match_expressions { key: "a" operator: "Gt" })"),
      FieldPath("spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution")
          .Index(0)
          .Child("preference"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]."
            "preference.matchExpressions[0].values: Invalid value: []: for 'Gt', 'Lt' operators, "
            "exactly one value is required");
}

TEST(NodeSelectorTest, Errors) {
  struct Case {
    std::string proto;
    std::string message;
  };
  const std::vector<Case> cases = {
      {R"(node_selector_terms { match_expressions { key: "a" operator: "Foo" } })",
       "nodeSelectorTerms[0].matchExpressions[0].operator: Unsupported value: \"Foo\": supported "
       "values: \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\", \"Gt\", \"Lt\""},
      {R"(node_selector_terms { match_expressions { key: "a" } })",
       "nodeSelectorTerms[0].matchExpressions[0].operator: Unsupported value: \"\": supported "
       "values: \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\", \"Gt\", \"Lt\""},
      {R"(node_selector_terms { match_expressions { key: "a" operator: "Gt" values: "1" values: "2" } })",
       "nodeSelectorTerms[0].matchExpressions[0].values: Invalid value: [\"1\",\"2\"]: for 'Gt', "
       "'Lt' operators, exactly one value is required"},
      {R"(node_selector_terms { match_expressions { key: "a" operator: "Lt" values: "x" } })",
       "nodeSelectorTerms[0].matchExpressions[0].values[0]: Invalid value: \"x\": for 'Gt', 'Lt' "
       "operators, the value must be an integer"},
      {R"(node_selector_terms { match_expressions { key: "a" operator: "In" } })",
       "nodeSelectorTerms[0].matchExpressions[0].values: Invalid value: []: for 'in', 'notin' "
       "operators, values set can't be empty"},
      {R"(node_selector_terms { match_expressions { key: "a" operator: "Exists" values: "b" } })",
       "nodeSelectorTerms[0].matchExpressions[0].values: Invalid value: [\"b\"]: values set must "
       "be empty for exists and does not exist"},
      {R"(node_selector_terms { match_expressions { key: "-a" operator: "Exists" } })",
       std::string("nodeSelectorTerms[0].matchExpressions[0].key: Invalid value: \"-a\": ") +
           kNamePartMsg},
      {R"(node_selector_terms { match_expressions { key: "a" operator: "In" values: "b c" } })",
       std::string("nodeSelectorTerms[0].matchExpressions[0].values[0][a]: Invalid value: \"b "
                   "c\": ") +
           kValueMsg},
      {R"(node_selector_terms { match_fields { key: "metadata.name" operator: "Exists" } })",
       "nodeSelectorTerms[0].matchFields[0].operator: Unsupported value: \"Exists\": supported "
       "values: \"In\", \"NotIn\""},
      {R"(node_selector_terms { match_fields { key: "metadata.name" operator: "In" values: "a" values: "b" } })",
       "nodeSelectorTerms[0].matchFields[0].values: Invalid value: [\"a\",\"b\"]: must have one "
       "element"},
      {R"(node_selector_terms { match_fields { key: "metadata.name" operator: "NotIn" } })",
       "nodeSelectorTerms[0].matchFields[0].values: Invalid value: []: must have one element"},
      {R"(node_selector_terms { match_fields { key: "metadata.labels" operator: "In" values: "a" } })",
       "nodeSelectorTerms[0].matchFields[0].key: Invalid value: \"metadata.labels\": not a valid "
       "field selector key"},
      // Every problem of every term.
      {R"(node_selector_terms { match_expressions { key: "a" operator: "Exists" } }
          node_selector_terms {
            match_expressions { key: "a" operator: "Gt" values: "1" values: "2" }
            match_fields { key: "spec.unschedulable" operator: "In" values: "true" } })",
       "[nodeSelectorTerms[1].matchExpressions[0].values: Invalid value: [\"1\",\"2\"]: for 'Gt', "
       "'Lt' operators, exactly one value is required, nodeSelectorTerms[1].matchFields[0].key: "
       "Invalid value: \"spec.unschedulable\": not a valid field selector key]"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<NodeSelectorMatcher> m =
        NodeSelectorMatcher::Create(FromText<NodeSelector>(c.proto));
    ASSERT_FALSE(m.ok()) << c.proto;
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(m.status().message(), c.message) << c.proto;
  }
  absl::StatusOr<NodeSelectorMatcher> m = NodeSelectorMatcher::Create(
      FromText<NodeSelector>(R"(node_selector_terms { match_expressions { key: "a" } })"),
      FieldPath("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"));
  EXPECT_EQ(m.status().message(),
            "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution."
            "nodeSelectorTerms[0].matchExpressions[0].operator: Unsupported value: \"\": "
            "supported values: \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\", \"Gt\", \"Lt\"");
}

// ---------------------------------------------------------------------------
// Matching does not allocate.

class AllocationCounter {
 public:
  AllocationCounter() {
    g_allocations.store(0);
    g_counting.store(true);
  }
  ~AllocationCounter() { g_counting.store(false); }
  int64_t count() const { return g_allocations.load(); }
};

TEST(SelectorAllocationTest, MatchingDoesNotAllocate) {
  absl::StatusOr<Selector> s = Selector::Parse(
      "app=web,tier in (fe,be),env notin (prod),!canary,version,cores>2,"
      "big in (v0,v1,v2,v3,v4,v5,v6,v7,v8,v9,v10,v11)");
  ASSERT_TRUE(s.ok()) << s.status();
  LabelMap labels = Labels({{"app", "web"},
                            {"tier", "fe"},
                            {"env", "dev"},
                            {"version", "1"},
                            {"cores", "4"},
                            {"big", "v7"}});
  std::map<std::string, std::string> std_labels(labels.begin(), labels.end());

  absl::StatusOr<FieldSelector> f =
      FieldSelector::Parse("metadata.name=web-0,status.phase!=Failed");
  ASSERT_TRUE(f.ok());
  auto get = [](absl::string_view field) -> std::optional<absl::string_view> {
    if (field == "metadata.name") return absl::string_view("web-0");
    if (field == "status.phase") return absl::string_view("Running");
    return std::nullopt;
  };

  absl::StatusOr<NodeSelectorMatcher> n = NodeSelectorMatcher::Create(FromText<NodeSelector>(
      R"(node_selector_terms { match_expressions { key: "zone" operator: "In" values: "z" } }
         node_selector_terms {
           match_expressions { key: "cores" operator: "Gt" values: "2" }
           match_fields { key: "metadata.name" operator: "NotIn" values: "n0" } })"));
  ASSERT_TRUE(n.ok()) << n.status();

  bool all = true;
  int64_t allocations = 0;
  {
    AllocationCounter counter;
    for (int i = 0; i < 100; ++i) {
      all = all && s->Matches(labels);
      all = all && s->Matches(std_labels);
      all = all && f->Matches(get);
      all = all && n->Matches("n1", labels);
      all = all && s->RequiresExactMatch("app").has_value();
    }
    allocations = counter.count();
  }
  EXPECT_TRUE(all);
  EXPECT_EQ(allocations, 0);

  // The counter does see allocations.
  {
    AllocationCounter counter;
    std::string text = s->ToString();
    EXPECT_GT(counter.count(), 0) << text;
  }
}

}  // namespace
}  // namespace korch::api
