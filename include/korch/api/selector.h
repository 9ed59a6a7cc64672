// Label selectors, field selectors and node selectors with Kubernetes
// semantics (k8s.io/apimachinery/pkg/labels, pkg/fields,
// k8s.io/component-helpers/scheduling/corev1/nodeaffinity).
//
// Each selector is compiled once (parsed and validated, values sorted) and is
// then an immutable value: matching is const, thread-safe, and does not
// allocate, so list filtering, informer indexes and scheduler filters can
// call it in their hot loops.
//
//   KORCH_ASSIGN_OR_RETURN(Selector s, Selector::Parse("app=web,tier in (fe,be)"));
//   if (s.Matches(pod.metadata().labels())) ...
#ifndef KORCH_API_SELECTOR_H_
#define KORCH_API_SELECTOR_H_

#include <google/protobuf/map.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "korch/api/field_errors.h"
#include "korch/export.h"

namespace korch::api {

class LabelSelector;     // korch/api/meta.pb.h
class NodeSelector;      // korch/api/core.pb.h
class NodeSelectorTerm;  // korch/api/core.pb.h

// The label map of ObjectMeta (`metadata.labels`) and of map-valued
// selectors (`spec.selector` of a Service, `nodeSelector` of a pod).
using LabelMap = google::protobuf::Map<std::string, std::string>;

// ---------------------------------------------------------------------------
// Label names and values

// Validates a label map the way the Kubernetes API server validates
// `metadata.labels`: keys are qualified names (optional DNS-1123 subdomain
// prefix of at most 253 bytes and '/', then a name of at most 63 bytes),
// values are label values. Every error is reported at `path` itself (as
// Kubernetes does), one per problem, in key order:
//   metadata.labels: Invalid value: "a/b/c": a qualified name must ...
KORCH_EXPORT FieldErrorList ValidateLabels(const LabelMap& labels, const FieldPath& path);

// Validates one label key (a qualified name), one error per problem.
KORCH_EXPORT FieldErrorList ValidateLabelName(absl::string_view key, const FieldPath& path);

// Validates a structured selector as the API server does for
// `spec.selector` of a Deployment, ReplicaSet, ...: matchLabels as labels,
// matchExpressions with operators In and NotIn (values required), Exists and
// DoesNotExist (values forbidden), keys and values checked. Returns every
// error, e.g. `spec.selector.matchExpressions[0].values: Required value:
// must be specified when `operator` is 'In' or 'NotIn'`.
KORCH_EXPORT FieldErrorList ValidateLabelSelector(const LabelSelector& selector,
                                                  const FieldPath& path);

// ---------------------------------------------------------------------------
// Label selectors

// The operators of a label requirement (k8s.io/apimachinery/pkg/selection).
enum class SelectorOperator {
  kEquals,        // a=b
  kDoubleEquals,  // a==b (same meaning as a=b)
  kNotEquals,     // a!=b: also true when a is absent
  kIn,            // a in (b,c)
  kNotIn,         // a notin (b,c): also true when a is absent
  kExists,        // a
  kDoesNotExist,  // !a
  kGreaterThan,   // a>5: a's value is an integer greater than 5 (node affinity Gt)
  kLessThan,      // a<5: a's value is an integer less than 5 (node affinity Lt)
};

// One condition on one label key. Immutable value type.
class KORCH_EXPORT LabelRequirement {
 public:
  // Validates like Kubernetes' labels.NewRequirement: the key is a
  // qualified name; In and NotIn need at least one value; =, == and != need
  // exactly one; Exists and DoesNotExist need none; Gt and Lt need exactly
  // one integer; every value is a valid label value (the empty value is
  // allowed). kInvalidArgument names the fields under `path`
  // (`key`, `values`, `values[0][key]`), and lists every problem.
  static absl::StatusOr<LabelRequirement> Create(absl::string_view key, SelectorOperator op,
                                                 std::vector<std::string> values,
                                                 const FieldPath& path = FieldPath());

  const std::string& key() const { return key_; }
  SelectorOperator op() const { return op_; }
  // The values, sorted and without duplicates.
  const std::vector<std::string>& values() const { return values_; }

  // Whether a label set in which key() has `value` (nullopt: key() is
  // absent) satisfies this requirement. Does not allocate.
  bool MatchesValue(std::optional<absl::string_view> value) const;

  // Looks key() up in any map from std::string with find(). Does not
  // allocate.
  template <typename Map>
  bool Matches(const Map& labels) const {
    auto it = labels.find(key_);
    if (it == labels.end()) return MatchesValue(std::nullopt);
    return MatchesValue(absl::string_view(it->second));
  }

  // The string form: "a=b", "a in (b,c)", "!a", "a>5".
  std::string ToString() const;

  friend bool operator==(const LabelRequirement&, const LabelRequirement&) = default;

 private:
  friend class Selector;
  LabelRequirement() = default;
  bool HasValue(absl::string_view value) const;

  std::string key_;
  SelectorOperator op_ = SelectorOperator::kExists;
  std::vector<std::string> values_;
  int64_t bound_ = 0;  // the parsed value of Gt and Lt
};

// A compiled label selector: the AND of its requirements, sorted by key.
// Immutable value type; copying copies the requirements.
//
// Kubernetes distinguishes two selectors with no requirements: Everything()
// (an empty selector, `{}` or "") matches every object, Nothing() (a nil
// selector on objects where that means "select nothing", such as a
// ReplicaSet's) matches none.
class KORCH_EXPORT Selector {
 public:
  // Everything.
  Selector() = default;

  // Parses the string form used by `?labelSelector=` and `kubectl -l`:
  //   a=b  a==b  a!=b  a in (x,y)  a notin (x, y)  a  !a  a>5  a<5
  // joined by ',' (AND), with blanks allowed between tokens. `a in ()`
  // means `a in ("")`; "" is Everything. Keys and values are validated like
  // Kubernetes. Errors are kInvalidArgument saying what was found, where,
  // and what was expected, e.g.
  //   unable to parse requirement: found '(', expected: in, notin, =, ==,
  //   !=, gt, lt (at position 2)
  static absl::StatusOr<Selector> Parse(absl::string_view text);

  // The structured form (metav1.LabelSelectorAsSelector): matchLabels are
  // `key=value` requirements, matchExpressions use In, NotIn, Exists and
  // DoesNotExist. An empty selector is Everything. Errors are those of
  // ValidateLabelSelector(), under `path`, as kInvalidArgument
  // ("selector.matchExpressions[0].values: Required value: ...", or
  // "[first, second]" when there are several).
  static absl::StatusOr<Selector> FromProto(const LabelSelector& selector,
                                            const FieldPath& path = FieldPath("selector"));

  // A selector that requires every key of `labels` to have its value
  // (labels.SelectorFromSet; a Service's `spec.selector`). An empty map is
  // Everything. Keys and values are validated.
  static absl::StatusOr<Selector> FromSet(const LabelMap& labels);

  // The AND of already validated requirements.
  static Selector FromRequirements(std::vector<LabelRequirement> requirements);

  static Selector Everything() { return Selector(); }
  static Selector Nothing();

  // Whether every requirement holds for `labels`. Does not allocate.
  bool Matches(const LabelMap& labels) const;
  // The same for any map from std::string with find() (std::map,
  // absl::flat_hash_map, ...).
  template <typename Map>
  bool Matches(const Map& labels) const {
    if (nothing_) return false;
    for (const LabelRequirement& r : requirements_) {
      if (!r.Matches(labels)) return false;
    }
    return true;
  }

  // True when the selector does not restrict anything (Everything()).
  // Nothing() is not empty.
  bool Empty() const { return !nothing_ && requirements_.empty(); }
  // True for Nothing().
  bool MatchesNothing() const { return nothing_; }

  // The requirements, sorted by key (requirements on one key keep their
  // order). Empty for Everything() and Nothing().
  const std::vector<LabelRequirement>& requirements() const { return requirements_; }

  // The canonical string form, which Parse() accepts: requirements sorted
  // by key, values sorted, joined by ','. "" for Everything() and Nothing().
  std::string ToString() const;

  // If the first requirement on `key` pins it to a single value (a=v,
  // a==v, a in (v)), that value, for an index lookup; the view points into
  // this selector. nullopt otherwise.
  std::optional<absl::string_view> RequiresExactMatch(absl::string_view key) const;

  // This selector AND `requirement`. Nothing() stays Nothing().
  Selector Add(LabelRequirement requirement) const;

  friend bool operator==(const Selector&, const Selector&) = default;

 private:
  std::vector<LabelRequirement> requirements_;
  bool nothing_ = false;
};

// ---------------------------------------------------------------------------
// Field selectors

enum class FieldSelectorOperator {
  kEquals,     // field=value, field==value
  kNotEquals,  // field!=value
};

struct KORCH_EXPORT FieldRequirement {
  // The field path as written, e.g. "metadata.name", "spec.nodeName".
  std::string field;
  FieldSelectorOperator op = FieldSelectorOperator::kEquals;
  // The value, unescaped.
  std::string value;

  friend bool operator==(const FieldRequirement&, const FieldRequirement&) = default;
};

// A compiled field selector (`?fieldSelector=`): the AND of field=value and
// field!=value terms. Which fields exist is up to the caller: an API server
// checks requirements() against the fields its resource supports (and
// answers 400 for others), and can use RequiresExactMatch("metadata.name")
// as a single-object lookup. Immutable value type.
class KORCH_EXPORT FieldSelector {
 public:
  // Returns the value of a field of the object being matched: "" for a
  // known field that is unset (so `spec.nodeName=` selects unscheduled
  // pods, as in Kubernetes), nullopt for a field the object does not have.
  using FieldGetter = absl::FunctionRef<std::optional<absl::string_view>(absl::string_view field)>;

  // Everything.
  FieldSelector() = default;

  // Parses "metadata.name=x,status.phase!=Failed": terms joined by ',' (empty
  // terms are ignored), each `field=value`, `field==value` or
  // `field!=value`, split at the first operator. In values, `\,` `\=` and
  // `\\` stand for ',', '=' and '\'; any other backslash sequence and an
  // unescaped ',' or '=' in a value are errors. Terms are sorted, as in
  // Kubernetes. Errors are kInvalidArgument, e.g.
  //   invalid selector: 'a,b=c'; can't understand 'a' (expected ...)
  static absl::StatusOr<FieldSelector> Parse(absl::string_view text);

  // The AND of `requirements`, kept in the given order.
  static FieldSelector FromRequirements(std::vector<FieldRequirement> requirements);
  // field=value.
  static FieldSelector OneTermEqual(absl::string_view field, absl::string_view value);

  static FieldSelector Everything() { return FieldSelector(); }
  static FieldSelector Nothing();

  // Whether every term holds; a term on a field for which `get` returns
  // nullopt does not hold (whatever its operator). Calls `get` once per
  // term with a view of the term's field name. Does not allocate.
  bool Matches(FieldGetter get) const;

  bool Empty() const { return !nothing_ && requirements_.empty(); }
  bool MatchesNothing() const { return nothing_; }
  const std::vector<FieldRequirement>& requirements() const { return requirements_; }

  // If a term requires `field` == value, that value (a view into this
  // selector); nullopt otherwise.
  std::optional<absl::string_view> RequiresExactMatch(absl::string_view field) const;

  // "metadata.name=x,status.phase!=Failed", values escaped. "" for
  // Everything() and Nothing().
  std::string ToString() const;

  friend bool operator==(const FieldSelector&, const FieldSelector&) = default;

 private:
  std::vector<FieldRequirement> requirements_;
  bool nothing_ = false;
};

// Escapes '\', ',' and '=' with a backslash, for a field selector value.
KORCH_EXPORT std::string EscapeFieldSelectorValue(absl::string_view value);
// The inverse of EscapeFieldSelectorValue; kInvalidArgument for a bad
// escape or an unescaped ',' or '='.
KORCH_EXPORT absl::StatusOr<std::string> UnescapeFieldSelectorValue(absl::string_view value);

// ---------------------------------------------------------------------------
// Node selectors (node affinity)

// One compiled NodeSelectorTerm: its matchExpressions (on node labels) and
// matchFields (on node fields) must all hold. A term with neither matches
// no node. Immutable value type.
class KORCH_EXPORT NodeSelectorTermMatcher {
 public:
  // Compiles `term`. matchExpressions support In, NotIn, Exists,
  // DoesNotExist, Gt and Lt (one integer value; a label that is not an
  // integer does not match); matchFields support only the key
  // `metadata.name` with In or NotIn and exactly one value. Errors are
  // kInvalidArgument with every problem, named under `path`
  // ("matchExpressions[0].operator: Unsupported value: ...").
  static absl::StatusOr<NodeSelectorTermMatcher> Create(const NodeSelectorTerm& term,
                                                        const FieldPath& path = FieldPath());

  // Whether the node named `node_name` with `labels` satisfies the term.
  // As in Kubernetes, matchFields are not checked when `node_name` is
  // empty. Does not allocate.
  bool Matches(absl::string_view node_name, const LabelMap& labels) const;
  template <typename Map>
  bool Matches(absl::string_view node_name, const Map& labels) const {
    return !empty_ && labels_.Matches(labels) && MatchesName(node_name);
  }

 private:
  friend class NodeSelectorMatcher;
  // Compiles `term`, appending its problems to `errors`.
  static NodeSelectorTermMatcher Compile(const NodeSelectorTerm& term, const FieldPath& path,
                                         FieldErrorList& errors);

  struct NameRequirement {
    bool in = true;  // In (== name) or NotIn (!= name)
    std::string name;
  };
  bool MatchesName(absl::string_view node_name) const;

  bool empty_ = true;
  Selector labels_;
  std::vector<NameRequirement> names_;
};

// A compiled NodeSelector (`requiredDuringSchedulingIgnoredDuringExecution`,
// nodeaffinity.NewNodeSelector): its terms are ORed; a selector with no
// terms, or only empty terms, matches no node. Immutable value type.
class KORCH_EXPORT NodeSelectorMatcher {
 public:
  // Compiles every term; errors are kInvalidArgument listing the problems of
  // all terms, under `path` ("nodeSelectorTerms[1].matchFields[0].key: ...").
  static absl::StatusOr<NodeSelectorMatcher> Create(const NodeSelector& selector,
                                                    const FieldPath& path = FieldPath());

  // Whether any term matches. Does not allocate.
  bool Matches(absl::string_view node_name, const LabelMap& labels) const;
  template <typename Map>
  bool Matches(absl::string_view node_name, const Map& labels) const {
    for (const NodeSelectorTermMatcher& t : terms_) {
      if (t.Matches(node_name, labels)) return true;
    }
    return false;
  }

 private:
  std::vector<NodeSelectorTermMatcher> terms_;  // the non-empty terms
};

}  // namespace korch::api

#endif  // KORCH_API_SELECTOR_H_
