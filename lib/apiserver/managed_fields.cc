// Field management: field sets of JSON objects, their comparison, and the
// ownership bookkeeping of updates and server-side apply (managed_fields.h).
//
// The semantics follow Kubernetes' structured-merge-diff as the API server
// uses it; korch has no OpenAPI schema at this point, so the shape of lists
// comes from the strategic-merge-patch schema (patch.h): lists with a merge
// key are associative, scalar lists with the merge strategy are sets, every
// other list is atomic. Every JSON object is walked field by field.

#include "korch/apiserver/managed_fields.h"

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "korch/api/codec.h"
#include "korch/api/field_errors.h"
#include "korch/api/object.h"
#include "korch/apiserver/request.h"
#include "korch/base/status.h"

namespace korch::apiserver {
namespace {

using Json = nlohmann::json;
using Path = std::vector<std::string>;

constexpr size_t kMaxManagerLength = 128;
constexpr char kApply[] = "Apply";
constexpr char kUpdate[] = "Update";
constexpr char kFieldsV1[] = "FieldsV1";

// Parts of metadata the server sets; nobody owns them.
bool SystemMetadataField(const std::string& key) {
  static const auto* const kFields =
      new absl::flat_hash_set<std::string>{"name",
                                           "namespace",
                                           "uid",
                                           "resourceVersion",
                                           "generation",
                                           "creationTimestamp",
                                           "selfLink",
                                           "deletionTimestamp",
                                           "deletionGracePeriodSeconds",
                                           "managedFields"};
  return kFields->contains(key);
}

FieldScope ScopeOf(absl::string_view subresource) {
  return subresource == "status" ? FieldScope::kStatus : FieldScope::kMainResource;
}

// The walk's position: the field names from the root (list elements add
// none), for schema lookups and for the scope of the root's own fields.
struct Walk {
  const StrategicSchema& schema;
  FieldScope scope;
  std::vector<std::string> names;
  // Whether the current map is the object's root or its metadata (not a
  // nested metadata such as spec.template.metadata).
  bool at_root = true;
  bool at_root_metadata = false;

  bool Skip(const std::string& key) const {
    if (at_root) {
      if (key == "apiVersion" || key == "kind") return true;
      return scope == FieldScope::kStatus ? key != "status" : key == "status";
    }
    return at_root_metadata && SystemMetadataField(key);
  }

  // Enters field `key` of the current map; Leave() undoes it.
  struct Saved {
    bool at_root;
    bool at_root_metadata;
  };
  Saved Enter(const std::string& key) {
    Saved saved{at_root, at_root_metadata};
    at_root_metadata = at_root && key == "metadata";
    at_root = false;
    names.push_back(key);
    return saved;
  }
  void Leave(Saved saved) {
    names.pop_back();
    at_root = saved.at_root;
    at_root_metadata = saved.at_root_metadata;
  }
};

enum class ListMode { kAtomic, kKeyed, kSet };

ListMode ModeOf(const Walk& w, const std::string** merge_key) {
  const FieldPatchInfo* info = w.schema.Lookup(absl::MakeConstSpan(w.names));
  if (info == nullptr || info->strategy != PatchStrategy::kMerge) return ListMode::kAtomic;
  if (!info->merge_key.empty()) {
    *merge_key = &info->merge_key;
    return ListMode::kKeyed;
  }
  return ListMode::kSet;
}

std::vector<std::string> IndexElements(const Json& list) {
  std::vector<std::string> out;
  out.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) out.push_back(absl::StrCat("i:", i));
  return out;
}

// The path elements of a list's items, or nullopt when keyed items lack
// their key or repeat it (the caller then addresses them by index). Set
// lists may repeat a value: the repeats get an empty element (skipped).
std::optional<std::vector<std::string>> ItemElements(const Json& list, ListMode mode,
                                                     const std::string* merge_key) {
  std::vector<std::string> out;
  out.reserve(list.size());
  absl::flat_hash_set<std::string> seen;
  for (const Json& item : list) {
    std::string element;
    if (mode == ListMode::kKeyed) {
      if (!item.is_object()) return std::nullopt;
      auto it = item.find(*merge_key);
      if (it == item.end() || it->is_null()) return std::nullopt;
      Json key = Json::object();
      key[*merge_key] = *it;
      element = absl::StrCat("k:", key.dump());
      if (!seen.insert(element).second) return std::nullopt;
    } else {
      element = absl::StrCat("v:", item.dump());
      if (!seen.insert(element).second) element.clear();
    }
    out.push_back(std::move(element));
  }
  return out;
}

// --- FieldSetOf -----------------------------------------------------------------

void Collect(const Json& value, Walk& w, Path& path, FieldSet& out) {
  if (value.is_object()) {
    if (value.empty()) {
      if (!path.empty()) out.Insert(path);
      return;
    }
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (w.Skip(it.key())) continue;
      Walk::Saved saved = w.Enter(it.key());
      path.push_back(absl::StrCat("f:", it.key()));
      Collect(it.value(), w, path, out);
      path.pop_back();
      w.Leave(saved);
    }
    return;
  }
  if (value.is_array()) {
    const std::string* merge_key = nullptr;
    ListMode mode = ModeOf(w, &merge_key);
    if (mode == ListMode::kAtomic) {
      out.Insert(path);
      return;
    }
    std::optional<std::vector<std::string>> elements = ItemElements(value, mode, merge_key);
    if (!elements.has_value()) elements = IndexElements(value);
    for (size_t i = 0; i < value.size(); ++i) {
      if ((*elements)[i].empty()) continue;
      path.push_back((*elements)[i]);
      out.Insert(path);
      if (mode == ListMode::kKeyed) {
        bool saved_root = w.at_root;
        bool saved_meta = w.at_root_metadata;
        w.at_root = w.at_root_metadata = false;
        Collect(value[i], w, path, out);
        w.at_root = saved_root;
        w.at_root_metadata = saved_meta;
      }
      path.pop_back();
    }
    return;
  }
  if (!path.empty()) out.Insert(path);
}

// --- CompareFields -------------------------------------------------------------

struct Comparer {
  Walk& w;
  FieldComparison& c;
  Path path;

  void Leaf(const Json* l, const Json* r) {
    if (path.empty()) return;
    if (l == nullptr) {
      c.added.Insert(path);
    } else if (r == nullptr) {
      c.removed.Insert(path);
    } else if (*l != *r) {
      c.modified.Insert(path);
    }
  }

  // Maps and list items that appear or go are themselves added or removed,
  // except the object's metadata, spec and status, which Kubernetes' typed
  // objects always have.
  void Post(const Json* l, const Json* r) {
    if (path.empty()) return;
    if (path.size() == 1 &&
        (path[0] == "f:metadata" || path[0] == "f:spec" || path[0] == "f:status")) {
      return;
    }
    if (l == nullptr) {
      c.added.Insert(path);
    } else if (r == nullptr) {
      c.removed.Insert(path);
    }
  }

  void Field(const std::string& key, const Json* l, const Json* r) {
    Walk::Saved saved = w.Enter(key);
    path.push_back(absl::StrCat("f:", key));
    Compare(l, r);
    path.pop_back();
    w.Leave(saved);
  }

  void Compare(const Json* l, const Json* r) {
    const bool l_map = l == nullptr || l->is_object();
    const bool r_map = r == nullptr || r->is_object();
    if (l_map && r_map) {
      const bool l_empty = l == nullptr || l->empty();
      const bool r_empty = r == nullptr || r->empty();
      if (l_empty && r_empty) return Leaf(l, r);
      if (l != nullptr) {
        for (auto it = l->begin(); it != l->end(); ++it) {
          if (w.Skip(it.key())) continue;
          const Json* rv = nullptr;
          if (r != nullptr) {
            auto found = r->find(it.key());
            if (found != r->end()) rv = &*found;
          }
          Field(it.key(), &it.value(), rv);
        }
      }
      if (r != nullptr) {
        for (auto it = r->begin(); it != r->end(); ++it) {
          if (w.Skip(it.key())) continue;
          if (l != nullptr && l->contains(it.key())) continue;
          Field(it.key(), nullptr, &it.value());
        }
      }
      return Post(l, r);
    }
    const bool l_list = l == nullptr || l->is_array();
    const bool r_list = r == nullptr || r->is_array();
    if (!(l_list && r_list)) return Leaf(l, r);
    const std::string* merge_key = nullptr;
    ListMode mode = ModeOf(w, &merge_key);
    if (mode == ListMode::kAtomic) return Leaf(l, r);
    static const Json kEmpty = Json::array();
    const Json& ll = l != nullptr ? *l : kEmpty;
    const Json& rl = r != nullptr ? *r : kEmpty;
    std::optional<std::vector<std::string>> le = ItemElements(ll, mode, merge_key);
    std::optional<std::vector<std::string>> re = ItemElements(rl, mode, merge_key);
    if (!le.has_value() || !re.has_value()) {
      le = IndexElements(ll);
      re = IndexElements(rl);
    }
    absl::flat_hash_map<absl::string_view, size_t> left;
    left.reserve(le->size());
    for (size_t i = 0; i < le->size(); ++i) {
      if (!(*le)[i].empty()) left.emplace((*le)[i], i);
    }
    const bool saved_root = w.at_root;
    const bool saved_meta = w.at_root_metadata;
    w.at_root = w.at_root_metadata = false;
    absl::flat_hash_set<absl::string_view> matched;
    for (size_t i = 0; i < re->size(); ++i) {
      const std::string& element = (*re)[i];
      if (element.empty()) continue;
      const Json* li = nullptr;
      if (auto it = left.find(element); it != left.end()) {
        li = &ll[it->second];
        matched.insert(element);
      }
      path.push_back(element);
      Compare(li, &rl[i]);
      path.pop_back();
    }
    for (size_t i = 0; i < le->size(); ++i) {
      const std::string& element = (*le)[i];
      if (element.empty() || matched.contains(element)) continue;
      path.push_back(element);
      Compare(&ll[i], nullptr);
      path.pop_back();
    }
    w.at_root = saved_root;
    w.at_root_metadata = saved_meta;
    Post(l, r);
  }
};

// The object a create starts from (Comparer::Post treats metadata, spec and
// status as always present, as in the empty object of a kind).
Json CreateBaseline(const Json&) { return Json::object(); }

// --- Entries -----------------------------------------------------------------

struct Entry {
  std::string manager;
  ManagedOperation operation = ManagedOperation::kUpdate;
  std::string api_version;
  std::string subresource;
  std::optional<api::Time> time;
  FieldSet fields;

  // Kubernetes keys Update entries by manager, API version and subresource,
  // and Apply entries by manager and subresource.
  bool SameOwner(absl::string_view m, ManagedOperation op, absl::string_view version,
                 absl::string_view sub) const {
    if (manager != m || operation != op || subresource != sub) return false;
    return op == ManagedOperation::kApply || api_version == version;
  }
};

absl::StatusOr<std::vector<Entry>> DecodeEntries(const ManagedFields& managed) {
  std::vector<Entry> out;
  out.reserve(managed.size());
  for (const api::ManagedFieldsEntry& e : managed) {
    Entry entry;
    entry.manager = e.manager();
    if (e.operation() == kApply) {
      entry.operation = ManagedOperation::kApply;
    } else if (e.operation() == kUpdate) {
      entry.operation = ManagedOperation::kUpdate;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("metadata.managedFields: unsupported operation \"", e.operation(), "\""));
    }
    if (e.fields_type() != kFieldsV1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "metadata.managedFields: fieldsType must be FieldsV1, not \"", e.fields_type(), "\""));
    }
    entry.api_version = e.api_version();
    entry.subresource = e.subresource();
    if (e.has_time()) entry.time = e.time();
    if (!e.fields_v1().raw().empty()) {
      Json raw = Json::parse(e.fields_v1().raw(), nullptr, /*allow_exceptions=*/false);
      if (raw.is_discarded()) {
        return absl::InvalidArgumentError("metadata.managedFields: fieldsV1 is not JSON");
      }
      KORCH_ASSIGN_OR_RETURN(entry.fields, FieldSet::FromFieldsV1(raw));
    }
    // Two entries for one owner (a client may send them): one set.
    auto same = std::find_if(out.begin(), out.end(), [&](const Entry& o) {
      return o.SameOwner(entry.manager, entry.operation, entry.api_version, entry.subresource);
    });
    if (same != out.end()) {
      same->fields.Add(entry.fields);
      continue;
    }
    out.push_back(std::move(entry));
  }
  return out;
}

// Appends `s` as a JSON string, as nlohmann::json's dump() writes it.
void AppendJsonString(absl::string_view s, std::string* out) {
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f) {
      // Control characters and UTF-8: leave the rules to the library.
      out->append(Json(std::string(s)).dump());
      return;
    }
  }
  out->push_back('"');
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out->push_back('\\');
    out->push_back(ch);
  }
  out->push_back('"');
}

// ToFieldsV1().dump() without building the JSON: the same keys in the same
// (byte-wise sorted) order, "." first.
void AppendFieldsV1(const FieldSet& set, std::string* out) {
  out->push_back('{');
  bool first = true;
  if (set.member() && !set.children().empty()) {
    out->append("\".\":{}");
    first = false;
  }
  for (const auto& [element, child] : set.children()) {
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(element, out);
    out->push_back(':');
    AppendFieldsV1(child, out);
  }
  out->push_back('}');
}

// `e` with the fieldsV1 text `raw` of its fields.
void FillEntry(const Entry& e, std::string raw, api::ManagedFieldsEntry& m) {
  if (!e.manager.empty()) m.set_manager(e.manager);
  m.set_operation(e.operation == ManagedOperation::kApply ? kApply : kUpdate);
  if (!e.api_version.empty()) m.set_api_version(e.api_version);
  if (e.time.has_value()) *m.mutable_time() = *e.time;
  m.set_fields_type(kFieldsV1);
  m.mutable_fields_v1()->set_raw(std::move(raw));
  if (!e.subresource.empty()) m.set_subresource(e.subresource);
}

// --- What a create sets ------------------------------------------------------

// The fieldsV1 text of CompareFields({}, object).added for an object's JSON
// events (Comparer::Compare(nullptr, value) at every node), as
// AppendFieldsV1() writes it, with neither a json value nor field-set
// tries: creates are most writes. Gives up (ok() false) on embedded raw
// JSON and on fractional or non-scalar merge keys and set items, which
// creates do not carry; the caller then compares json values.
class CreatedFields final : public api::JsonVisitor {
 public:
  CreatedFields(const StrategicSchema& schema, FieldScope scope) : w_{schema, scope, {}} {}

  bool ok() const { return ok_; }
  // "" when nothing is set.
  std::string Take() { return std::move(result_); }

  void BeginObject() override { Open(Frame::kObject); }
  void BeginArray() override { Open(Frame::kArray); }
  void EndObject() override { Close(); }
  void EndArray() override { Close(); }
  void Key(absl::string_view key) override {
    if (!ok_ || depth_ == 0) return;
    Frame& top = frames_[depth_ - 1];
    if (top.kind == Frame::kObject) top.nonempty = true;
    key_.assign(key.data(), key.size());
  }
  void String(absl::string_view value) override { Scalar(value, Scalar::kString); }
  void Integer(absl::string_view text) override { Scalar(text, Scalar::kPlain); }
  void Bool(bool value) override { Scalar(value ? "true" : "false", Scalar::kPlain); }
  void Null() override { Scalar("null", Scalar::kNull); }
  void Double(absl::string_view text) override {
    // The json value of "3" is an integer, of "0.5" a double whose printing
    // may differ: only integral text stays exact.
    Scalar(text, text.find_first_of(".eE") == absl::string_view::npos ? Scalar::kPlain
                                                                      : Scalar::kInexact);
  }
  void Raw(absl::string_view) override { ok_ = false; }

 private:
  enum class Scalar { kString, kPlain, kNull, kInexact };

  struct Item {
    std::string text;
    bool object = false;
    // Keyed lists: the JSON of the item's merge key value (unset: absent
    // or null). Set lists: the JSON of the item.
    std::optional<std::string> value;
  };
  struct Frame {
    enum Kind { kObject, kArray, kSkipped, kLeaf };
    Kind kind = kObject;
    int depth = 0;  // kSkipped and kLeaf: containers opened inside
    bool item = false;
    std::string element;  // a field's "f:<key>"; items get theirs at the list's end
    bool exempt = false;  // the root's metadata, spec or status
    bool nonempty = false;
    bool entered = false;  // w_.Enter() at the open
    Walk::Saved saved{};
    Walk::Saved array_saved{};  // lists: the walk's flags at the open
    // Objects.
    std::vector<std::pair<std::string, std::string>> children;
    const std::string* capture = nullptr;  // an item of a keyed list: its merge key
    std::optional<std::string> captured;
    // Lists.
    ListMode mode = ListMode::kAtomic;
    const std::string* merge_key = nullptr;
    std::vector<Item> items;
  };

  static std::string Dump(absl::string_view value, Scalar kind) {
    std::string out;
    if (kind == Scalar::kString) {
      AppendJsonString(value, &out);
    } else {
      out.assign(value.data(), value.size());
    }
    return out;
  }

  void Scalar(absl::string_view value, Scalar kind) {
    if (!ok_ || depth_ == 0) return;
    Frame& top = frames_[depth_ - 1];
    switch (top.kind) {
      case Frame::kSkipped:
      case Frame::kLeaf:
        return;
      case Frame::kObject:
        if (w_.Skip(key_)) return;
        if (top.capture != nullptr && key_ == *top.capture && kind != Scalar::kNull) {
          if (kind == Scalar::kInexact) {
            ok_ = false;
            return;
          }
          top.captured = Dump(value, kind);
        }
        top.children.emplace_back(absl::StrCat("f:", key_), "{}");
        return;
      case Frame::kArray: {
        Item item;
        item.text = "{}";
        if (top.mode == ListMode::kSet) {
          if (kind == Scalar::kInexact) {
            ok_ = false;
            return;
          }
          item.value = Dump(value, kind);
        }
        top.items.push_back(std::move(item));
        return;
      }
    }
  }

  // A frame for a container opened one level deeper, reused across calls
  // with its buffers' capacity.
  Frame& Push() {
    if (depth_ == frames_.size()) frames_.emplace_back();
    Frame& f = frames_[depth_++];
    f.kind = Frame::kObject;
    f.depth = 0;
    f.item = false;
    f.element.clear();
    f.exempt = false;
    f.nonempty = false;
    f.entered = false;
    f.children.clear();
    f.capture = nullptr;
    f.captured.reset();
    f.mode = ListMode::kAtomic;
    f.merge_key = nullptr;
    f.items.clear();
    return f;
  }

  void Open(Frame::Kind kind) {
    if (!ok_) return;
    if (depth_ == 0) {
      if (kind != Frame::kObject) {
        ok_ = false;
        return;
      }
      Push();  // the root: walked at the root, never a member
      return;
    }
    Frame& top = frames_[depth_ - 1];
    if (top.kind == Frame::kSkipped || top.kind == Frame::kLeaf) {
      ++top.depth;
      return;
    }
    if (top.kind == Frame::kObject) {
      if (w_.Skip(key_)) {
        Push().kind = Frame::kSkipped;
        return;
      }
      if (top.capture != nullptr && key_ == *top.capture) {
        ok_ = false;  // a merge key that is a map or a list
        return;
      }
      const bool exempt = w_.at_root && (key_ == "metadata" || key_ == "spec" || key_ == "status");
      Frame& f = Push();  // `top` is not used past here: Push() may move it
      f.exempt = exempt;
      f.element = "f:";
      f.element.append(key_);
      f.saved = w_.Enter(key_);
      f.entered = true;
      OpenAs(f, kind);
      return;
    }
    // An item of a list.
    if (top.mode == ListMode::kSet) {
      ok_ = false;  // set items are scalars
      return;
    }
    const std::string* capture =
        kind == Frame::kObject && top.mode == ListMode::kKeyed ? top.merge_key : nullptr;
    Frame& f = Push();
    f.item = true;
    f.capture = capture;
    OpenAs(f, kind);
  }

  void OpenAs(Frame& f, Frame::Kind kind) {
    f.kind = kind;
    if (kind == Frame::kArray) {
      f.mode = ModeOf(w_, &f.merge_key);
      if (f.mode == ListMode::kAtomic) f.kind = Frame::kLeaf;
      f.array_saved = Walk::Saved{w_.at_root, w_.at_root_metadata};
      w_.at_root = w_.at_root_metadata = false;
    }
  }

  // The text of the node `f` closes, or nullopt when it is not in the set.
  std::optional<std::string> NodeText(Frame& f) {
    switch (f.kind) {
      case Frame::kSkipped:
        return std::nullopt;
      case Frame::kLeaf:
        return std::string("{}");
      case Frame::kObject:
        if (!f.nonempty) return std::string("{}");  // an empty map is a leaf
        return Join(f.children, f.exempt);
      case Frame::kArray:
        break;
    }
    std::vector<std::pair<std::string, std::string>> children;
    children.reserve(f.items.size());
    bool by_index = false;
    if (f.mode == ListMode::kKeyed) {
      absl::flat_hash_set<absl::string_view> seen;
      for (const Item& item : f.items) {
        if (!item.object || !item.value.has_value() || !seen.insert(*item.value).second) {
          by_index = true;
          break;
        }
      }
    }
    absl::flat_hash_set<std::string> seen;
    for (size_t i = 0; i < f.items.size(); ++i) {
      Item& item = f.items[i];
      std::string element;
      if (by_index) {
        element = absl::StrCat("i:", i);
      } else if (f.mode == ListMode::kKeyed) {
        element = "k:{";
        AppendJsonString(*f.merge_key, &element);
        absl::StrAppend(&element, ":", *item.value, "}");
      } else {
        element = absl::StrCat("v:", *item.value);
        if (!seen.insert(element).second) continue;  // a repeat
      }
      children.emplace_back(std::move(element), std::move(item.text));
    }
    return Join(children, f.exempt);
  }

  // A map or list node with `children`: a member unless exempt.
  static std::optional<std::string> Join(std::vector<std::pair<std::string, std::string>>& children,
                                         bool exempt) {
    if (children.empty()) {
      if (exempt) return std::nullopt;
      return std::string("{}");
    }
    std::sort(children.begin(), children.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string out = "{";
    if (!exempt) out.append("\".\":{}");
    for (const auto& [element, text] : children) {
      if (out.size() > 1) out.push_back(',');
      AppendJsonString(element, &out);
      out.push_back(':');
      out.append(text);
    }
    out.push_back('}');
    return out;
  }

  void Close() {
    if (!ok_ || depth_ == 0) return;
    Frame& f = frames_[depth_ - 1];
    if ((f.kind == Frame::kSkipped || f.kind == Frame::kLeaf) && f.depth > 0) {
      --f.depth;
      return;
    }
    --depth_;
    if (depth_ == 0) {  // the root
      if (!f.children.empty()) result_ = *Join(f.children, /*exempt=*/true);
      return;
    }
    std::optional<std::string> text = NodeText(f);
    if (!ok_) return;
    if (f.kind == Frame::kArray || f.kind == Frame::kLeaf) {
      w_.at_root = f.array_saved.at_root;
      w_.at_root_metadata = f.array_saved.at_root_metadata;
    }
    if (f.entered) w_.Leave(f.saved);
    Frame& parent = frames_[depth_ - 1];
    if (parent.kind == Frame::kObject) {
      if (text.has_value()) parent.children.emplace_back(std::move(f.element), *std::move(text));
      return;
    }
    Item& item = parent.items.emplace_back();
    item.text = text.has_value() ? *std::move(text) : std::string("{}");
    item.object = f.kind == Frame::kObject;
    item.value = std::move(f.captured);
  }

  Walk w_;
  bool ok_ = true;
  std::string key_;
  // frames_[0, depth_): the open containers, the root first.
  std::vector<Frame> frames_;
  size_t depth_ = 0;
  std::string result_;
};

void EncodeEntries(std::vector<Entry>& entries, ManagedFields& out) {
  entries.erase(std::remove_if(entries.begin(), entries.end(),
                               [](const Entry& e) { return e.fields.empty(); }),
                entries.end());
  // Kubernetes' order: Apply before Update, then oldest first, then by name.
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    if (a.operation != b.operation) return a.operation == ManagedOperation::kApply;
    int64_t ta = a.time.has_value() ? a.time->seconds() : 0;
    int64_t tb = b.time.has_value() ? b.time->seconds() : 0;
    if (ta != tb) return ta < tb;
    if (a.manager != b.manager) return a.manager < b.manager;
    if (a.api_version != b.api_version) return a.api_version < b.api_version;
    return a.subresource < b.subresource;
  });
  out.Clear();
  out.Reserve(static_cast<int>(entries.size()));
  for (const Entry& e : entries) {
    std::string raw;
    AppendFieldsV1(e.fields, &raw);
    FillEntry(e, std::move(raw), *out.Add());
  }
}

api::Time ProtoTime(absl::Time t) {
  api::Time out;
  out.set_seconds(absl::ToUnixSeconds(t));
  return out;
}

// [{}]: the one way a client clears managedFields.
bool IsReset(const ManagedFields& managed) {
  return managed.size() == 1 && managed[0].ByteSizeLong() == 0;
}

Entry* FindOrAdd(std::vector<Entry>& entries, const FieldManagerRequest& request) {
  for (Entry& e : entries) {
    if (e.SameOwner(request.manager, request.operation, request.api_version, request.subresource)) {
      return &e;
    }
  }
  Entry& e = entries.emplace_back();
  e.manager = request.manager;
  e.operation = request.operation;
  e.api_version = request.api_version;
  e.subresource = request.subresource;
  return &e;
}

// --- Removing fields an applier no longer applies ---------------------------------

// Whether list item `item` is the one path element `element` names.
bool ItemMatches(const Json& item, const std::string& element, const Json& parsed) {
  if (absl::StartsWith(element, "k:")) {
    if (!item.is_object() || !parsed.is_object()) return false;
    for (auto it = parsed.begin(); it != parsed.end(); ++it) {
      auto found = item.find(it.key());
      if (found == item.end() || *found != it.value()) return false;
    }
    return true;
  }
  return item == parsed;  // "v:"
}

// Removes from `node` what `last` (the applier's previous set, at this node)
// has and `owned` (everyone's sets now, the applier's new one included)
// does not: a removed field takes its subtree with it unless something in
// that subtree is owned.
void Prune(Json& node, const FieldSet& last, const FieldSet* owned) {
  if (node.is_object()) {
    for (const auto& [element, child] : last.children()) {
      if (!absl::StartsWith(element, "f:")) continue;
      auto it = node.find(element.substr(2));
      if (it == node.end()) continue;
      const FieldSet* o = owned != nullptr ? owned->Child(element) : nullptr;
      if (child.member() && (o == nullptr || o->empty())) {
        node.erase(it);
      } else if (!child.children().empty()) {
        Prune(*it, child, o);
      }
    }
    return;
  }
  if (!node.is_array()) return;
  std::vector<size_t> doomed;
  for (const auto& [element, child] : last.children()) {
    std::optional<size_t> index;
    if (absl::StartsWith(element, "i:")) {
      size_t i = 0;
      if (absl::SimpleAtoi(absl::string_view(element).substr(2), &i) && i < node.size()) index = i;
    } else if (absl::StartsWith(element, "k:") || absl::StartsWith(element, "v:")) {
      Json parsed = Json::parse(element.substr(2), nullptr, /*allow_exceptions=*/false);
      if (parsed.is_discarded()) continue;
      for (size_t i = 0; i < node.size(); ++i) {
        if (ItemMatches(node[i], element, parsed)) {
          index = i;
          break;
        }
      }
    }
    if (!index.has_value()) continue;
    const FieldSet* o = owned != nullptr ? owned->Child(element) : nullptr;
    if (child.member() && (o == nullptr || o->empty())) {
      doomed.push_back(*index);
    } else if (!child.children().empty()) {
      Prune(node[*index], child, o);
    }
  }
  std::sort(doomed.begin(), doomed.end());
  doomed.erase(std::unique(doomed.begin(), doomed.end()), doomed.end());
  for (auto it = doomed.rbegin(); it != doomed.rend(); ++it) {
    node.erase(static_cast<Json::size_type>(*it));
  }
}

// --- Conflicts -------------------------------------------------------------------

// How Kubernetes names a manager in a conflict.
std::string DescribeManager(const Entry& e) {
  std::string out = absl::StrCat("\"", e.manager, "\"");
  if (!e.subresource.empty()) absl::StrAppend(&out, " with subresource \"", e.subresource, "\"");
  if (e.operation == ManagedOperation::kUpdate) absl::StrAppend(&out, " using ", e.api_version);
  return out;
}

absl::Status ConflictStatus(const std::vector<std::pair<std::string, std::vector<std::string>>>&
                                conflicts /* manager description -> paths */) {
  api::StatusDetails details;
  size_t count = 0;
  for (const auto& [manager, paths] : conflicts) {
    for (const std::string& p : paths) {
      api::StatusCause* cause = details.add_causes();
      cause->set_reason("FieldManagerConflict");
      cause->set_message(absl::StrCat("conflict with ", manager));
      cause->set_field(p);
      ++count;
    }
  }
  std::string message;
  if (count == 1) {
    message = absl::StrCat("Apply failed with 1 conflict: conflict with ", conflicts[0].first, ": ",
                           conflicts[0].second[0]);
  } else {
    std::vector<std::string> lines;
    for (const auto& [manager, paths] : conflicts) {
      lines.push_back(absl::StrCat("conflicts with ", manager, ":"));
      for (const std::string& p : paths) lines.push_back(absl::StrCat("- ", p));
    }
    message = absl::StrCat("Apply failed with ", count, " conflicts: ", absl::StrJoin(lines, "\n"));
  }
  return WithStatusDetails(absl::AbortedError(message), details);
}

// "k:{\"name\":\"web\"}" -> "[name=\"web\"]" and so on.
std::string PrintElement(const std::string& element) {
  absl::string_view rest = absl::string_view(element).substr(2);
  if (absl::StartsWith(element, "f:")) return absl::StrCat(".", rest);
  if (absl::StartsWith(element, "v:")) return absl::StrCat("[=", rest, "]");
  if (absl::StartsWith(element, "i:")) return absl::StrCat("[", rest, "]");
  Json key = Json::parse(rest, nullptr, /*allow_exceptions=*/false);
  if (!key.is_object()) return absl::StrCat("[", rest, "]");
  std::vector<std::string> parts;
  for (auto it = key.begin(); it != key.end(); ++it) {
    parts.push_back(absl::StrCat(it.key(), "=", it.value().dump()));
  }
  return absl::StrCat("[", absl::StrJoin(parts, ","), "]");
}

void CollectPaths(const FieldSet& node, std::string& prefix, std::vector<std::string>& out) {
  if (node.member() && !prefix.empty()) out.push_back(prefix);
  for (const auto& [element, child] : node.children()) {
    size_t size = prefix.size();
    prefix += PrintElement(element);
    CollectPaths(child, prefix, out);
    prefix.resize(size);
  }
}

bool Printable(absl::string_view s, std::string* bad) {
  // UTF-8 sequences pass; ASCII control characters do not.
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      *bad = absl::StrCat("invalid character U+", absl::Hex(c, absl::kZeroPad4), " (at position ",
                          i, ")");
      return false;
    }
  }
  return true;
}

}  // namespace

// --- FieldSet ----------------------------------------------------------------------

void FieldSet::Insert(const std::vector<std::string>& path) {
  FieldSet* node = this;
  for (const std::string& element : path) node = &node->children_[element];
  node->member_ = true;
}

bool FieldSet::Has(const std::vector<std::string>& path) const {
  const FieldSet* node = this;
  for (const std::string& element : path) {
    node = node->Child(element);
    if (node == nullptr) return false;
  }
  return node->member_;
}

const FieldSet* FieldSet::Child(const std::string& element) const {
  auto it = children_.find(element);
  return it == children_.end() ? nullptr : &it->second;
}

void FieldSet::Add(const FieldSet& other) {
  member_ = member_ || other.member_;
  for (const auto& [element, child] : other.children_) children_[element].Add(child);
}

void FieldSet::Remove(const FieldSet& other) {
  if (other.member_) member_ = false;
  for (const auto& [element, child] : other.children_) {
    auto it = children_.find(element);
    if (it == children_.end()) continue;
    it->second.Remove(child);
    if (it->second.empty()) children_.erase(it);
  }
}

FieldSet FieldSet::Intersection(const FieldSet& other) const {
  FieldSet out;
  out.member_ = member_ && other.member_;
  for (const auto& [element, child] : children_) {
    const FieldSet* o = other.Child(element);
    if (o == nullptr) continue;
    FieldSet both = child.Intersection(*o);
    if (!both.empty()) out.children_.emplace(element, std::move(both));
  }
  return out;
}

std::vector<std::string> FieldSet::PathStrings() const {
  std::vector<std::string> out;
  std::string prefix;
  CollectPaths(*this, prefix, out);
  return out;
}

nlohmann::json FieldSet::ToFieldsV1() const {
  Json out = Json::object();
  if (member_ && !children_.empty()) out["."] = Json::object();
  for (const auto& [element, child] : children_) out[element] = child.ToFieldsV1();
  return out;
}

absl::StatusOr<FieldSet> FieldSet::FromFieldsV1(const nlohmann::json& json) {
  if (!json.is_object()) return absl::InvalidArgumentError("fieldsV1: expected a JSON object");
  FieldSet out;
  for (auto it = json.begin(); it != json.end(); ++it) {
    const std::string& key = it.key();
    if (key == ".") {
      out.member_ = true;
      continue;
    }
    if (key.size() < 2 || key[1] != ':' ||
        (key[0] != 'f' && key[0] != 'k' && key[0] != 'v' && key[0] != 'i')) {
      return absl::InvalidArgumentError(
          absl::StrCat("fieldsV1: \"", key, "\" is not a path element (f:, k:, v:, i: or .)"));
    }
    KORCH_ASSIGN_OR_RETURN(FieldSet child, FromFieldsV1(it.value()));
    if (it.value().empty()) child.member_ = true;
    out.children_.emplace(key, std::move(child));
  }
  return out;
}

// --- Field sets of objects ---------------------------------------------------------------

FieldSet FieldSetOf(const nlohmann::json& object, const StrategicSchema& schema, FieldScope scope) {
  FieldSet out;
  Walk w{schema, scope, {}};
  Path path;
  Collect(object, w, path, out);
  return out;
}

FieldComparison CompareFields(const nlohmann::json& before, const nlohmann::json& now,
                              const StrategicSchema& schema, FieldScope scope) {
  FieldComparison out;
  Walk w{schema, scope, {}};
  Comparer comparer{w, out, {}};
  comparer.Compare(&before, &now);
  return out;
}

// --- Bookkeeping ---------------------------------------------------------------------------

absl::Status RecordWrite(const google::protobuf::Message* live, google::protobuf::Message& object,
                         const FieldManagerRequest& request, const StrategicSchema& schema) {
  api::ObjectMeta* meta = api::MutableObjectMetaOf(object);
  if (meta == nullptr) return absl::OkStatus();
  if (request.applied.has_value()) {
    *meta->mutable_managed_fields() = *request.applied;
    return absl::OkStatus();
  }
  const api::ObjectMeta* live_meta = live != nullptr ? api::ObjectMetaOf(*live) : nullptr;

  // The entries to start from: the request's when valid (not for
  // subresources), else the live object's (clients unaware of managedFields
  // must not erase them).
  std::vector<Entry> entries;
  bool from_request = false;
  if (request.subresource.empty() && !meta->managed_fields().empty()) {
    if (IsReset(meta->managed_fields())) {
      from_request = true;
    } else if (absl::StatusOr<std::vector<Entry>> sent = DecodeEntries(meta->managed_fields());
               sent.ok() && !sent->empty()) {
      entries = *std::move(sent);
      from_request = true;
    }
  }
  if (!from_request && live_meta != nullptr) {
    // Stored entries korch cannot read are dropped rather than failing writes.
    entries = DecodeEntries(live_meta->managed_fields()).value_or(std::vector<Entry>());
  }

  meta->clear_managed_fields();
  if (live == nullptr && entries.empty()) {
    // A create from nothing: one entry, the writer's, owning all it set.
    CreatedFields created(schema, ScopeOf(request.subresource));
    api::VisitJson(object, api::EncodeOptions(), &created);
    if (created.ok()) {
      std::string raw = created.Take();
      if (raw.empty()) return absl::OkStatus();
      Entry mine;
      mine.manager = request.manager;
      mine.operation = request.operation;
      mine.api_version = request.api_version;
      mine.subresource = request.subresource;
      mine.time = ProtoTime(request.now);
      FillEntry(mine, std::move(raw), *meta->mutable_managed_fields()->Add());
      return absl::OkStatus();
    }
  }
  Json after = api::EncodeJsonValue(object);
  Json before = live != nullptr ? api::EncodeJsonValue(*live) : CreateBaseline(after);
  FieldComparison cmp = CompareFields(before, after, schema, ScopeOf(request.subresource));

  FieldSet changed = std::move(cmp.added);
  if (!cmp.modified.empty()) changed.Add(cmp.modified);
  for (Entry& e : entries) {
    e.fields.Remove(changed);
    e.fields.Remove(cmp.removed);
  }
  if (!changed.empty()) {
    Entry* mine = FindOrAdd(entries, request);
    if (mine->fields.empty()) {
      mine->fields = std::move(changed);
    } else {
      mine->fields.Add(changed);
    }
    mine->time = ProtoTime(request.now);
  }
  EncodeEntries(entries, *meta->mutable_managed_fields());
  return absl::OkStatus();
}

absl::StatusOr<ApplyResult> ServerSideApply(const nlohmann::json* live,
                                            const ManagedFields& live_managed,
                                            const nlohmann::json& config,
                                            const FieldManagerRequest& request, bool force,
                                            const StrategicSchema& schema) {
  if (config.is_object()) {
    auto meta = config.find("metadata");
    if (meta != config.end() && meta->is_object()) {
      auto managed = meta->find("managedFields");
      if (managed != meta->end() && !managed->is_null()) {
        return absl::InvalidArgumentError("metadata.managedFields must be nil");
      }
    }
  }
  std::vector<Entry> entries = DecodeEntries(live_managed).value_or(std::vector<Entry>());
  KORCH_ASSIGN_OR_RETURN(Json merged, ApplyServerSideApply(live, config, schema));

  const FieldScope scope = ScopeOf(request.subresource);
  FieldSet applied = FieldSetOf(config, schema, scope);
  FieldManagerRequest as_apply;
  as_apply.manager = request.manager;
  as_apply.operation = ManagedOperation::kApply;
  as_apply.api_version = request.api_version;
  as_apply.subresource = request.subresource;
  Entry* mine = FindOrAdd(entries, as_apply);
  const bool new_entry = mine->fields.empty() && !mine->time.has_value();
  FieldSet last = std::move(mine->fields);
  mine->fields = applied;

  if (!last.empty()) {
    FieldSet owned;
    for (const Entry& e : entries) owned.Add(e.fields);
    Prune(merged, last, &owned);
  }

  Json baseline;
  if (live == nullptr) baseline = CreateBaseline(merged);
  const Json& before = live != nullptr ? *live : baseline;
  FieldComparison cmp = CompareFields(before, merged, schema, scope);
  FieldSet changed = cmp.added;
  changed.Add(cmp.modified);

  std::vector<std::pair<std::string, std::vector<std::string>>> conflicts;
  std::vector<FieldSet> taken(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    if (&entries[i] == mine) continue;
    taken[i] = entries[i].fields.Intersection(changed);
    if (!taken[i].empty())
      conflicts.emplace_back(DescribeManager(entries[i]), taken[i].PathStrings());
  }
  if (!force && !conflicts.empty()) {
    std::sort(conflicts.begin(), conflicts.end());
    return ConflictStatus(conflicts);
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    if (&entries[i] == mine) continue;
    entries[i].fields.Remove(taken[i]);
    entries[i].fields.Remove(cmp.removed);
  }
  if (!cmp.empty() || new_entry) mine->time = ProtoTime(request.now);

  ApplyResult result;
  result.object = std::move(merged);
  EncodeEntries(entries, result.managed_fields);
  return result;
}

std::string FieldManagerFromUserAgent(absl::string_view user_agent) {
  absl::string_view prefix = user_agent.substr(0, user_agent.find('/'));
  if (prefix.size() > kMaxManagerLength) prefix = prefix.substr(0, kMaxManagerLength);
  return std::string(prefix);
}

absl::Status ValidateFieldManager(absl::string_view manager, absl::string_view options_kind) {
  api::FieldErrorList errors;
  api::FieldPath path("fieldManager");
  if (manager.size() > kMaxManagerLength) {
    errors.push_back(api::TooLong(path, static_cast<int64_t>(kMaxManagerLength)));
  }
  std::string bad;
  if (!Printable(manager, &bad)) errors.push_back(api::Invalid(path, manager, bad));
  return api::InvalidStatus(options_kind, "", errors);
}

}  // namespace korch::apiserver
