#include "korch/apiserver/patch.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace korch::apiserver {
namespace {

using nlohmann::json;

// Recursion guard: a patch nested deeper than this is rejected instead of
// risking the stack. Kubernetes objects are a few dozen levels deep at most.
constexpr int kMaxDepth = 1000;

constexpr char kPatchDirective[] = "$patch";
constexpr char kRetainKeys[] = "$retainKeys";
constexpr absl::string_view kSetElementOrderPrefix = "$setElementOrder/";
constexpr absl::string_view kDeleteFromPrimitiveListPrefix = "$deleteFromPrimitiveList/";

// Renders a value for an error message; never throws on invalid UTF-8.
std::string Render(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 200) s = absl::StrCat(s.substr(0, 200), "...");
  return s;
}

const char* TypeName(const json& v) { return v.type_name(); }

bool StartsWith(const std::string& s, absl::string_view prefix) {
  return s.size() >= prefix.size() &&
         s.compare(0, prefix.size(), prefix.data(), prefix.size()) == 0;
}

// Runs `fn` and turns any exception (which would be a bug here) into a Status,
// so that nothing ever escapes the library.
template <typename Fn>
absl::StatusOr<json> NoThrow(absl::string_view what, Fn&& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(what, ": ", e.what()));
  } catch (...) {
    return absl::InternalError(absl::StrCat(what, ": unknown exception"));
  }
}

// ---------------------------------------------------------------------------
// RFC 6902

struct Pointer {
  std::string text;                 // as written, for messages
  std::vector<std::string> tokens;  // unescaped reference tokens
};

absl::StatusOr<Pointer> ParsePointer(const std::string& text) {
  Pointer p{text, {}};
  if (text.empty()) return p;
  if (text[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("JSON pointer \"", text, "\" must be empty or start with '/'"));
  }
  for (absl::string_view raw : absl::StrSplit(absl::string_view(text).substr(1), '/')) {
    std::string token;
    token.reserve(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '~') {
        token.push_back(raw[i]);
        continue;
      }
      if (i + 1 < raw.size() && raw[i + 1] == '0') {
        token.push_back('~');
      } else if (i + 1 < raw.size() && raw[i + 1] == '1') {
        token.push_back('/');
      } else {
        return absl::InvalidArgumentError(absl::StrCat(
            "JSON pointer \"", text, "\": '~' must be followed by '0' or '1' (escape '~' as ~0)"));
      }
      ++i;
    }
    p.tokens.push_back(std::move(token));
  }
  return p;
}

// The pointer to the first `n` tokens of `p`, escaped again, for messages.
std::string Prefix(const Pointer& p, size_t n) {
  std::string out;
  for (size_t i = 0; i < n && i < p.tokens.size(); ++i) {
    out.push_back('/');
    for (char c : p.tokens[i]) {
      if (c == '~') {
        out += "~0";
      } else if (c == '/') {
        out += "~1";
      } else {
        out.push_back(c);
      }
    }
  }
  return out;
}

// Parses an array index token: "0" or a decimal without leading zeros.
// Returns -1 when the token is not a valid index.
int64_t ParseIndex(const std::string& token) {
  if (token.empty() || token.size() > 18) return -1;
  if (token.size() > 1 && token[0] == '0') return -1;
  int64_t v = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

// Resolves the first `n` tokens of `p` in `doc`.
absl::StatusOr<json*> Resolve(json& doc, const Pointer& p, size_t n) {
  json* cur = &doc;
  for (size_t i = 0; i < n; ++i) {
    const std::string& tok = p.tokens[i];
    if (cur->is_object()) {
      auto it = cur->find(tok);
      if (it == cur->end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "path ", p.text, " does not exist: no member \"", tok, "\" in ", Prefix(p, i)));
      }
      cur = &*it;
    } else if (cur->is_array()) {
      int64_t idx = ParseIndex(tok);
      if (idx < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "path ", p.text, ": \"", tok, "\" is not an array index of ", Prefix(p, i)));
      }
      if (static_cast<size_t>(idx) >= cur->size()) {
        return absl::InvalidArgumentError(absl::StrCat("path ", p.text, ": index ", idx,
                                                       " is out of range for ", Prefix(p, i),
                                                       " (size ", cur->size(), ")"));
      }
      cur = &(*cur)[static_cast<size_t>(idx)];
    } else {
      return absl::InvalidArgumentError(absl::StrCat("path ", p.text,
                                                     " does not exist: ", Prefix(p, i), " is a ",
                                                     TypeName(*cur), ", not an object or array"));
    }
  }
  return cur;
}

absl::StatusOr<json*> Get(json& doc, const Pointer& p) { return Resolve(doc, p, p.tokens.size()); }

absl::Status Add(json& doc, const Pointer& p, json value) {
  if (p.tokens.empty()) {
    doc = std::move(value);
    return absl::OkStatus();
  }
  absl::StatusOr<json*> parent = Resolve(doc, p, p.tokens.size() - 1);
  if (!parent.ok()) return parent.status();
  json& container = **parent;
  const std::string& last = p.tokens.back();
  if (container.is_object()) {
    container[last] = std::move(value);
    return absl::OkStatus();
  }
  if (container.is_array()) {
    if (last == "-") {
      container.push_back(std::move(value));
      return absl::OkStatus();
    }
    int64_t idx = ParseIndex(last);
    if (idx < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("path ", p.text, ": \"", last, "\" is not an array index or \"-\""));
    }
    if (static_cast<size_t>(idx) > container.size()) {
      return absl::InvalidArgumentError(absl::StrCat("path ", p.text, ": index ", idx,
                                                     " is out of range for an array of size ",
                                                     container.size()));
    }
    container.insert(container.begin() + idx, std::move(value));
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("path ", p.text, ": parent ",
                                                 Prefix(p, p.tokens.size() - 1), " is a ",
                                                 TypeName(container), ", not an object or array"));
}

absl::StatusOr<json> Remove(json& doc, const Pointer& p) {
  if (p.tokens.empty()) {
    return absl::InvalidArgumentError("cannot remove the whole document (path \"\")");
  }
  absl::StatusOr<json*> parent = Resolve(doc, p, p.tokens.size() - 1);
  if (!parent.ok()) return parent.status();
  json& container = **parent;
  const std::string& last = p.tokens.back();
  if (container.is_object()) {
    auto it = container.find(last);
    if (it == container.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("path ", p.text, " does not exist: no member \"", last, "\""));
    }
    json out = std::move(*it);
    container.erase(it);
    return out;
  }
  if (container.is_array()) {
    int64_t idx = ParseIndex(last);
    if (idx < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("path ", p.text, ": \"", last, "\" is not an array index"));
    }
    if (static_cast<size_t>(idx) >= container.size()) {
      return absl::InvalidArgumentError(absl::StrCat("path ", p.text, ": index ", idx,
                                                     " is out of range for an array of size ",
                                                     container.size()));
    }
    json out = std::move(container[static_cast<size_t>(idx)]);
    container.erase(static_cast<size_t>(idx));
    return out;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("path ", p.text, " does not exist: parent is a ", TypeName(container)));
}

// Fetches a string member of an operation.
absl::StatusOr<Pointer> PointerMember(const json& op, const char* name) {
  auto it = op.find(name);
  if (it == op.end()) {
    return absl::InvalidArgumentError(absl::StrCat("missing \"", name, "\""));
  }
  if (!it->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", name, "\" must be a string, got ", TypeName(*it)));
  }
  return ParsePointer(it->get_ref<const std::string&>());
}

absl::Status ApplyOperation(json& doc, const json& op) {
  if (!op.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("operation must be an object, got ", TypeName(op)));
  }
  auto op_it = op.find("op");
  if (op_it == op.end()) return absl::InvalidArgumentError("missing \"op\"");
  if (!op_it->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"op\" must be a string, got ", TypeName(*op_it)));
  }
  const std::string& name = op_it->get_ref<const std::string&>();
  absl::StatusOr<Pointer> path = PointerMember(op, "path");
  if (!path.ok()) return path.status();
  auto value_it = op.find("value");
  auto need_value = [&]() -> absl::Status {
    if (value_it == op.end()) {
      return absl::InvalidArgumentError(absl::StrCat("\"", name, "\" needs a \"value\""));
    }
    return absl::OkStatus();
  };

  if (name == "add") {
    if (absl::Status s = need_value(); !s.ok()) return s;
    return Add(doc, *path, *value_it);
  }
  if (name == "remove") {
    return Remove(doc, *path).status();
  }
  if (name == "replace") {
    if (absl::Status s = need_value(); !s.ok()) return s;
    absl::StatusOr<json*> target = Get(doc, *path);
    if (!target.ok()) return target.status();
    **target = *value_it;
    return absl::OkStatus();
  }
  if (name == "test") {
    if (absl::Status s = need_value(); !s.ok()) return s;
    absl::StatusOr<json*> target = Get(doc, *path);
    if (!target.ok()) return absl::FailedPreconditionError(target.status().message());
    if (**target != *value_it) {
      return absl::FailedPreconditionError(absl::StrCat(
          "test failed: ", path->text, " is ", Render(**target), ", not ", Render(*value_it)));
    }
    return absl::OkStatus();
  }
  if (name == "move" || name == "copy") {
    absl::StatusOr<Pointer> from = PointerMember(op, "from");
    if (!from.ok()) return from.status();
    if (name == "move") {
      if (from->tokens == path->tokens) {
        // Moving onto itself changes nothing, but the source must exist.
        return Get(doc, *from).status();
      }
      if (from->tokens.size() < path->tokens.size() &&
          std::equal(from->tokens.begin(), from->tokens.end(), path->tokens.begin())) {
        return absl::InvalidArgumentError(
            absl::StrCat("cannot move ", from->text, " into its own child ", path->text));
      }
      absl::StatusOr<json> value = Remove(doc, *from);
      if (!value.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("from: ", value.status().message()));
      }
      return Add(doc, *path, *std::move(value));
    }
    absl::StatusOr<json*> source = Get(doc, *from);
    if (!source.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("from: ", source.status().message()));
    }
    json copy = **source;
    return Add(doc, *path, std::move(copy));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown op \"", name, "\" (want add, remove, replace, move, copy or test)"));
}

// ---------------------------------------------------------------------------
// RFC 7386

absl::Status MergePatchInto(json& target, const json& patch, int depth) {
  if (depth > kMaxDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat("merge patch is nested deeper than ", kMaxDepth, " levels"));
  }
  if (!patch.is_object()) {
    target = patch;
    return absl::OkStatus();
  }
  if (!target.is_object()) target = json::object();
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (it->is_null()) {
      target.erase(it.key());
      continue;
    }
    json& slot = target[it.key()];
    if (absl::Status s = MergePatchInto(slot, *it, depth + 1); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Strategic merge patch

// The field path during a merge: names for schema lookups plus a display
// path with list indexes for messages.
class FieldStack {
 public:
  void Push(const std::string& name) {
    names_.push_back(name);
    display_.push_back(name);
  }
  void PushIndex(size_t i) { display_.push_back(absl::StrCat("[", i, "]")); }
  void PopIndex() { display_.pop_back(); }
  void Pop() {
    names_.pop_back();
    display_.pop_back();
  }
  absl::Span<const std::string> names() const { return names_; }
  size_t depth() const { return display_.size(); }
  std::string Display() const {
    if (display_.empty()) return "<root>";
    std::string out;
    for (const std::string& s : display_) {
      if (!out.empty() && s[0] != '[') out.push_back('.');
      out += s;
    }
    return out;
  }
  std::string DisplayChild(const std::string& name) const {
    return display_.empty() ? name : absl::StrCat(Display(), ".", name);
  }

 private:
  std::vector<std::string> names_;
  std::vector<std::string> display_;
};

enum class Outcome { kKeep, kDelete };

class StrategicMerger {
 public:
  explicit StrategicMerger(const StrategicSchema& schema) : schema_(schema) {}

  // Merges map `patch` into `orig` (made an object if it is not one).
  // Returns kDelete when the patch says "$patch": "delete".
  absl::StatusOr<Outcome> MergeMap(json& orig, const json& patch) {
    if (path_.depth() > static_cast<size_t>(kMaxDepth)) {
      return absl::InvalidArgumentError(
          absl::StrCat("strategic merge patch is nested deeper than ", kMaxDepth, " levels"));
    }
    if (!orig.is_object()) orig = json::object();
    auto directive = patch.find(kPatchDirective);
    if (directive != patch.end()) {
      if (!directive->is_string()) {
        return Error(absl::StrCat("\"$patch\" must be a string, got ", Render(*directive)));
      }
      const std::string& d = directive->get_ref<const std::string&>();
      if (d == "delete") return Outcome::kDelete;
      if (d == "replace") {
        orig = json::object();
      } else if (d != "merge") {
        return Error(absl::StrCat("unknown \"$patch\" directive \"", d,
                                  "\" (want delete, replace or merge)"));
      }
    }

    auto retain = patch.find(kRetainKeys);
    if (retain != patch.end()) {
      if (!retain->is_array()) {
        return Error(
            absl::StrCat("\"$retainKeys\" must be a list of field names, got ", Render(*retain)));
      }
      for (const json& k : *retain) {
        if (!k.is_string()) {
          return Error(
              absl::StrCat("\"$retainKeys\" must be a list of field names, got ", Render(*retain)));
        }
      }
      for (auto it = orig.begin(); it != orig.end();) {
        if (std::find(retain->begin(), retain->end(), json(it.key())) == retain->end()) {
          it = orig.erase(it);
        } else {
          ++it;
        }
      }
    }

    // Lists to reorder once merged, with their value before the merge.
    std::vector<std::pair<std::string, const json*>> orders;
    std::vector<std::pair<std::string, json>> before;
    for (auto it = patch.begin(); it != patch.end(); ++it) {
      const std::string& key = it.key();
      if (key.empty() || key[0] != '$') continue;
      if (key == kPatchDirective || key == kRetainKeys) continue;
      if (StartsWith(key, kSetElementOrderPrefix)) {
        std::string list = key.substr(kSetElementOrderPrefix.size());
        if (!it->is_array()) {
          return Error(absl::StrCat("\"", key, "\" must be a list, got ", Render(*it)));
        }
        auto live = orig.find(list);
        before.emplace_back(list, live != orig.end() && live->is_array() ? *live : json::array());
        orders.emplace_back(std::move(list), &*it);
        continue;
      }
      if (StartsWith(key, kDeleteFromPrimitiveListPrefix)) {
        std::string list = key.substr(kDeleteFromPrimitiveListPrefix.size());
        if (!it->is_array()) {
          return Error(absl::StrCat("\"", key, "\" must be a list, got ", Render(*it)));
        }
        auto live = orig.find(list);
        if (live == orig.end() || !live->is_array()) continue;
        json kept = json::array();
        for (json& v : *live) {
          if (std::find(it->begin(), it->end(), v) == it->end()) kept.push_back(std::move(v));
        }
        *live = std::move(kept);
        continue;
      }
      return Error(absl::StrCat("unknown directive \"", key, "\""));
    }

    for (auto it = patch.begin(); it != patch.end(); ++it) {
      const std::string& key = it.key();
      if (!key.empty() && key[0] == '$') continue;
      if (it->is_null()) {
        orig.erase(key);
        continue;
      }
      path_.Push(key);
      auto live = orig.find(key);
      absl::StatusOr<Outcome> outcome =
          live == orig.end() ? MergeNew(orig, key, *it) : MergeValue(*live, *it);
      path_.Pop();
      if (!outcome.ok()) return outcome.status();
      if (*outcome == Outcome::kDelete) orig.erase(key);
    }

    for (size_t i = 0; i < orders.size(); ++i) {
      path_.Push(orders[i].first);
      absl::Status s = Reorder(orig, orders[i].first, *orders[i].second, before[i].second);
      path_.Pop();
      if (!s.ok()) return s;
    }
    return Outcome::kKeep;
  }

 private:
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(path_.Display(), ": ", what));
  }

  // A field the live object lacks: the patch value merged into nothing, so
  // that its directives are applied and its nulls dropped.
  absl::StatusOr<Outcome> MergeNew(json& parent, const std::string& key, const json& value) {
    if (!value.is_structured()) {
      parent[key] = value;
      return Outcome::kKeep;
    }
    json fresh = value.is_object() ? json::object() : json::array();
    absl::StatusOr<Outcome> outcome = MergeValue(fresh, value);
    if (outcome.ok() && *outcome == Outcome::kKeep) parent[key] = std::move(fresh);
    return outcome;
  }

  absl::StatusOr<Outcome> MergeValue(json& orig, const json& patch) {
    const FieldPatchInfo* info = schema_.Lookup(path_.names());
    if (patch.is_object()) {
      if (info != nullptr && info->strategy == PatchStrategy::kReplace) orig = json::object();
      return MergeMap(orig, patch);
    }
    if (patch.is_array()) {
      if (!orig.is_array()) orig = json::array();
      absl::Status s;
      if (info == nullptr || info->strategy == PatchStrategy::kReplace) {
        s = ReplaceList(orig, patch);
      } else if (info->merge_key.empty()) {
        s = MergeScalarList(orig, patch);
      } else {
        s = MergeKeyedList(orig, patch, info->merge_key);
      }
      if (!s.ok()) return s;
      return Outcome::kKeep;
    }
    orig = patch;
    return Outcome::kKeep;
  }

  static bool IsMarker(const json& e) {
    return e.is_object() && e.size() == 1 && e.contains(kPatchDirective);
  }

  absl::Status ReplaceList(json& orig, const json& patch) {
    json out = json::array();
    for (const json& e : patch) {
      if (IsMarker(e)) continue;
      out.push_back(e);
    }
    orig = std::move(out);
    return absl::OkStatus();
  }

  absl::Status MergeScalarList(json& orig, const json& patch) {
    bool replace = false;
    for (const json& e : patch) {
      if (IsMarker(e) && e.at(kPatchDirective) == "replace") replace = true;
    }
    if (replace) orig = json::array();
    for (const json& e : patch) {
      if (IsMarker(e)) continue;
      if (std::find(orig.begin(), orig.end(), e) == orig.end()) orig.push_back(e);
    }
    return absl::OkStatus();
  }

  absl::Status MergeKeyedList(json& orig, const json& patch, const std::string& key) {
    bool replace = false;
    std::vector<const json*> items;
    for (size_t i = 0; i < patch.size(); ++i) {
      const json& e = patch[i];
      auto d = e.is_object() ? e.find(kPatchDirective) : e.end();
      if (!e.is_object() || d == e.end()) {
        items.push_back(&e);
        continue;
      }
      if (!d->is_string()) {
        return Error(
            absl::StrCat("element ", i, ": \"$patch\" must be a string, got ", Render(*d)));
      }
      const std::string& directive = d->get_ref<const std::string&>();
      if (directive == "replace") {
        replace = true;
      } else if (directive == "delete") {
        auto k = e.find(key);
        if (k == e.end()) {
          return Error(absl::StrCat("element ", i,
                                    " has \"$patch\": \"delete\" but no merge key \"", key, "\""));
        }
        json kept = json::array();
        for (json& o : orig) {
          if (o.is_object() && o.contains(key) && o[key] == *k) continue;
          kept.push_back(std::move(o));
        }
        orig = std::move(kept);
      } else if (directive == "merge") {
        if (e.contains(key)) items.push_back(&e);
      } else {
        return Error(absl::StrCat("element ", i, ": unknown \"$patch\" directive \"", directive,
                                  "\" (want delete, replace or merge)"));
      }
    }
    if (replace) orig = json::array();
    for (size_t i = 0; i < items.size(); ++i) {
      const json& e = *items[i];
      if (!e.is_object()) {
        return Error(absl::StrCat("element ", Render(e), " is a ", TypeName(e),
                                  ", but this list merges objects by \"", key, "\""));
      }
      auto k = e.find(key);
      if (k == e.end()) {
        return Error(absl::StrCat("element ", Render(e), " has no merge key \"", key, "\""));
      }
      size_t at = orig.size();
      for (size_t j = 0; j < orig.size(); ++j) {
        const json& o = orig[j];
        if (o.is_object()) {
          auto ok = o.find(key);
          if (ok != o.end() && *ok == *k) {
            at = j;
            break;
          }
        }
      }
      path_.PushIndex(at);
      absl::StatusOr<Outcome> outcome;
      if (at < orig.size()) {
        outcome = MergeMap(orig[at], e);
        if (outcome.ok() && *outcome == Outcome::kDelete) orig.erase(at);
      } else {
        json fresh = json::object();
        outcome = MergeMap(fresh, e);
        if (outcome.ok() && *outcome == Outcome::kKeep) orig.push_back(std::move(fresh));
      }
      path_.PopIndex();
      if (!outcome.ok()) return outcome.status();
    }
    return absl::OkStatus();
  }

  // Kubernetes' normalizeElementOrder: the elements named in `order` come in
  // that order; elements only on the server keep their place relative to
  // the list before the merge (`server`).
  absl::Status Reorder(json& parent, const std::string& list, const json& order,
                       const json& server) {
    auto it = parent.find(list);
    if (it == parent.end() || !it->is_array()) return absl::OkStatus();
    const FieldPatchInfo* info = schema_.Lookup(path_.names());
    const std::string* key =
        info != nullptr && info->strategy == PatchStrategy::kMerge && !info->merge_key.empty()
            ? &info->merge_key
            : nullptr;
    auto identity = [&](const json& e) -> const json* {
      if (key == nullptr) return &e;
      if (!e.is_object()) return nullptr;
      auto k = e.find(*key);
      return k == e.end() ? nullptr : &*k;
    };
    std::vector<const json*> order_ids;
    for (const json& e : order) {
      const json* id = identity(e);
      if (id == nullptr) {
        return Error(absl::StrCat("$setElementOrder element ", Render(e),
                                  key ? absl::StrCat(" has no merge key \"", *key, "\"") : ""));
      }
      order_ids.push_back(id);
    }
    std::vector<const json*> server_ids;
    for (const json& e : server) server_ids.push_back(identity(e));
    auto index_in = [](const std::vector<const json*>& ids, const json* id) -> int64_t {
      if (id == nullptr) return -1;
      for (size_t i = 0; i < ids.size(); ++i) {
        if (ids[i] != nullptr && *ids[i] == *id) return static_cast<int64_t>(i);
      }
      return -1;
    };

    std::vector<std::pair<int64_t, json*>> patch_items;
    std::vector<json*> server_only;
    for (json& e : *it) {
      int64_t i = index_in(order_ids, identity(e));
      if (i >= 0) {
        patch_items.emplace_back(i, &e);
      } else {
        server_only.push_back(&e);
      }
    }
    std::stable_sort(patch_items.begin(), patch_items.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });

    json out = json::array();
    size_t i = 0, j = 0;
    while (i < server_only.size() || j < patch_items.size()) {
      bool take_left;
      if (j >= patch_items.size()) {
        take_left = true;
      } else if (i >= server_only.size()) {
        take_left = false;
      } else {
        int64_t li = index_in(server_ids, identity(*server_only[i]));
        int64_t ri = index_in(server_ids, identity(*patch_items[j].second));
        take_left = li >= 0 && ri >= 0 && li < ri;
      }
      if (take_left) {
        out.push_back(std::move(*server_only[i++]));
      } else {
        out.push_back(std::move(*patch_items[j++].second));
      }
    }
    *it = std::move(out);
    return absl::OkStatus();
  }

  const StrategicSchema& schema_;
  FieldStack path_;
};

// ---------------------------------------------------------------------------
// Server-side apply

class ApplyMerger {
 public:
  explicit ApplyMerger(const StrategicSchema& schema) : schema_(schema) {}

  absl::Status Merge(json& live, const json& applied) {
    if (path_.depth() > static_cast<size_t>(kMaxDepth)) {
      return absl::InvalidArgumentError(
          absl::StrCat("applied configuration is nested deeper than ", kMaxDepth, " levels"));
    }
    const FieldPatchInfo* info = path_.depth() == 0 ? nullptr : schema_.Lookup(path_.names());
    bool atomic = info != nullptr && info->strategy == PatchStrategy::kReplace;
    if (applied.is_object() && live.is_object() && !atomic) return MergeElement(live, applied);
    if (applied.is_array() && info != nullptr && info->strategy == PatchStrategy::kMerge) {
      if (info->merge_key.empty()) {
        if (!live.is_array()) live = json::array();
        for (const json& e : applied) {
          if (std::find(live.begin(), live.end(), e) == live.end()) live.push_back(e);
        }
        return absl::OkStatus();
      }
      return MergeKeyed(live, applied, info->merge_key);
    }
    live = applied;
    return absl::OkStatus();
  }

  absl::Status CheckKeys(const json& applied) {
    // Keyed elements must carry their key even when nothing is live.
    if (path_.depth() > static_cast<size_t>(kMaxDepth)) {
      return absl::InvalidArgumentError(
          absl::StrCat("applied configuration is nested deeper than ", kMaxDepth, " levels"));
    }
    if (applied.is_object()) {
      for (auto it = applied.begin(); it != applied.end(); ++it) {
        if (!it->is_structured()) continue;
        path_.Push(it.key());
        absl::Status s = CheckKeys(*it);
        path_.Pop();
        if (!s.ok()) return s;
      }
      return absl::OkStatus();
    }
    if (!applied.is_array()) return absl::OkStatus();
    const FieldPatchInfo* info = schema_.Lookup(path_.names());
    if (info == nullptr || info->strategy != PatchStrategy::kMerge || info->merge_key.empty()) {
      return absl::OkStatus();
    }
    for (size_t i = 0; i < applied.size(); ++i) {
      if (absl::Status s = CheckElement(applied[i], info->merge_key); !s.ok()) return s;
      path_.PushIndex(i);
      absl::Status s = CheckKeys(applied[i]);
      path_.PopIndex();
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

 private:
  absl::Status CheckElement(const json& e, const std::string& key) const {
    if (!e.is_object() || !e.contains(key)) {
      return absl::InvalidArgumentError(absl::StrCat(path_.Display(), ": element ", Render(e),
                                                     " has no key field \"", key, "\""));
    }
    return absl::OkStatus();
  }

  absl::Status MergeKeyed(json& live, const json& applied, const std::string& key) {
    if (!live.is_array()) live = json::array();
    for (const json& e : applied) {
      if (absl::Status s = CheckElement(e, key); !s.ok()) return s;
      const json& k = e.at(key);
      size_t at = live.size();
      for (size_t j = 0; j < live.size(); ++j) {
        const json& o = live[j];
        if (o.is_object()) {
          auto ok = o.find(key);
          if (ok != o.end() && *ok == k) {
            at = j;
            break;
          }
        }
      }
      if (at == live.size()) {
        live.push_back(e);
        continue;
      }
      path_.PushIndex(at);
      // Elements are maps merged field by field; the list's own rule must not
      // apply to them, so look up with the same names (indexes are dropped).
      absl::Status s = MergeElement(live[at], e);
      path_.PopIndex();
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status MergeElement(json& live, const json& applied) {
    for (auto it = applied.begin(); it != applied.end(); ++it) {
      if (it->is_null()) {
        live.erase(it.key());
        continue;
      }
      auto l = live.find(it.key());
      if (l == live.end()) {
        live[it.key()] = *it;
        continue;
      }
      path_.Push(it.key());
      absl::Status s = Merge(*l, *it);
      path_.Pop();
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  const StrategicSchema& schema_;
  FieldStack path_;
};

StrategicSchema BuildKubernetesSchema() {
  StrategicSchema s;
  auto keyed = [&](absl::string_view suffix, absl::string_view key, bool retain = false) {
    s.Add(suffix, FieldPatchInfo{PatchStrategy::kMerge, std::string(key), retain});
  };
  // PodSpec, wherever it is embedded (Pod, PodTemplate, workloads' templates,
  // CronJob's jobTemplate).
  for (absl::string_view c : {"containers", "initContainers", "ephemeralContainers"}) {
    keyed(c, "name");
    keyed(absl::StrCat(c, ".env"), "name");
    keyed(absl::StrCat(c, ".ports"), "containerPort");
    keyed(absl::StrCat(c, ".volumeMounts"), "mountPath");
    keyed(absl::StrCat(c, ".volumeDevices"), "devicePath");
  }
  keyed("volumes", "name", /*retain=*/true);
  keyed("imagePullSecrets", "name");
  keyed("hostAliases", "ip");
  keyed("topologySpreadConstraints", "topologyKey");
  keyed("schedulingGates", "name");
  keyed("resourceClaims", "name");
  s.Add("tolerations", FieldPatchInfo{PatchStrategy::kReplace, "", false});
  // Service.
  keyed("spec.ports", "port");
  // Status of every kind, Node addresses, Pod IPs.
  keyed("conditions", "type");
  keyed("status.addresses", "type");
  keyed("status.podIPs", "ip");
  // Metadata.
  keyed("metadata.ownerReferences", "uid");
  s.Add("metadata.finalizers", FieldPatchInfo{PatchStrategy::kMerge, "", false});
  // Unions cleared with $retainKeys.
  s.Add("strategy", FieldPatchInfo{PatchStrategy::kMerge, "", true});
  s.Add("updateStrategy", FieldPatchInfo{PatchStrategy::kMerge, "", true});
  return s;
}

}  // namespace

StrategicSchema& StrategicSchema::Add(absl::string_view suffix, FieldPatchInfo info) {
  size_t segments = 1 + static_cast<size_t>(std::count(suffix.begin(), suffix.end(), '.'));
  max_segments_ = std::max(max_segments_, segments);
  rules_[std::string(suffix)] = std::move(info);
  return *this;
}

const FieldPatchInfo* StrategicSchema::Lookup(absl::Span<const std::string> path) const {
  if (path.empty() || rules_.empty()) return nullptr;
  size_t longest = std::min(max_segments_, path.size());
  std::string key;
  for (size_t n = longest; n >= 1; --n) {
    key.clear();
    for (size_t i = path.size() - n; i < path.size(); ++i) {
      if (!key.empty()) key.push_back('.');
      key += path[i];
    }
    auto it = rules_.find(key);
    if (it != rules_.end()) return &it->second;
  }
  return nullptr;
}

const FieldPatchInfo* StrategicSchema::Lookup(absl::string_view dotted_path) const {
  std::vector<std::string> names = absl::StrSplit(dotted_path, '.', absl::SkipEmpty());
  return Lookup(names);
}

const StrategicSchema& KubernetesStrategicSchema() {
  static const StrategicSchema* const schema = new StrategicSchema(BuildKubernetesSchema());
  return *schema;
}

absl::StatusOr<json> ApplyJsonPatch(const json& doc, const json& patch) {
  return NoThrow("json patch", [&]() -> absl::StatusOr<json> {
    if (!patch.is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat("json patch must be a list of operations, got ", TypeName(patch)));
    }
    json out = doc;
    for (size_t i = 0; i < patch.size(); ++i) {
      absl::Status s = ApplyOperation(out, patch[i]);
      if (s.ok()) continue;
      std::string what;
      if (patch[i].is_object()) {
        auto op = patch[i].find("op");
        auto path = patch[i].find("path");
        if (op != patch[i].end() && op->is_string()) {
          what = op->get<std::string>();
          if (path != patch[i].end() && path->is_string()) {
            absl::StrAppend(&what, " ", Render(*path));
          }
        }
      }
      std::string prefix = what.empty() ? absl::StrCat("json patch operation ", i)
                                        : absl::StrCat("json patch operation ", i, " (", what, ")");
      return absl::Status(s.code(), absl::StrCat(prefix, ": ", s.message()));
    }
    return out;
  });
}

absl::StatusOr<json> ApplyMergePatch(const json& doc, const json& patch) {
  return NoThrow("merge patch", [&]() -> absl::StatusOr<json> {
    json out = doc;
    if (absl::Status s = MergePatchInto(out, patch, 0); !s.ok()) return s;
    return out;
  });
}

absl::StatusOr<json> ApplyStrategicMergePatch(const json& doc, const json& patch,
                                              const StrategicSchema& schema) {
  return NoThrow("strategic merge patch", [&]() -> absl::StatusOr<json> {
    if (!patch.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("strategic merge patch must be a JSON object, got ", TypeName(patch)));
    }
    if (!doc.is_object() && !doc.is_null()) {
      return absl::InvalidArgumentError(
          absl::StrCat("strategic merge patch applies to a JSON object, got ", TypeName(doc)));
    }
    json out = doc.is_null() ? json::object() : doc;
    StrategicMerger merger(schema);
    absl::StatusOr<Outcome> outcome = merger.MergeMap(out, patch);
    if (!outcome.ok()) return outcome.status();
    if (*outcome == Outcome::kDelete) return json::object();
    return out;
  });
}

absl::StatusOr<json> ApplyServerSideApply(const json* live, const json& applied,
                                          const StrategicSchema& schema) {
  return NoThrow("server-side apply", [&]() -> absl::StatusOr<json> {
    if (!applied.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("applied configuration must be a JSON object, got ", TypeName(applied)));
    }
    ApplyMerger merger(schema);
    if (absl::Status s = merger.CheckKeys(applied); !s.ok()) return s;
    if (live == nullptr) return applied;
    json out = *live;
    if (absl::Status s = merger.Merge(out, applied); !s.ok()) return s;
    return out;
  });
}

}  // namespace korch::apiserver
