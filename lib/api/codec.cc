#include "korch/api/codec.h"

#include <charconv>
#include <cmath>
#include <limits>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "korch/api/field_errors.h"
#include "korch/api/meta.pb.h"
#include "korch/api/options.pb.h"
#include "korch/api/quantity.h"
#include "korch/base/status.h"
#include "yaml-cpp/yaml.h"

namespace korch::api {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using json = nlohmann::json;

// ---------------------------------------------------------------------------
// Per-type encoding plans, derived once from the descriptors and their
// options and then shared read-only by every call.

enum class Kind {
  kString,
  kBytes,
  kInt32,
  kInt64,
  kUInt32,
  kUInt64,
  kBool,
  kDouble,
  kFloat,
  kEnum,
  kMessage,
  kTime,
  kMicroTime,
  kIntOrString,
  kRaw,
  kQuantity,
  kMap,
};

struct MessagePlan;

struct FieldPlan {
  const FieldDescriptor* fd = nullptr;
  std::string json_name;
  Kind kind = Kind::kString;
  bool repeated = false;
  bool emit_zero = false;
  const MessagePlan* message = nullptr;  // kMessage
  // kMap: the value field of the entry and how to encode it.
  const FieldDescriptor* map_key = nullptr;
  const FieldDescriptor* map_value = nullptr;
  Kind map_value_kind = Kind::kString;
  const MessagePlan* map_value_message = nullptr;
};

struct MessagePlan {
  const Descriptor* descriptor = nullptr;
  std::string kind;         // set for Kubernetes kinds
  std::string api_version;  // set for Kubernetes kinds
  bool meta_group = false;  // meta.k8s.io kinds also accept apiVersion "v1"
  std::vector<FieldPlan> fields;
  absl::flat_hash_map<std::string, const FieldPlan*> by_json_name;
};

Kind ScalarKind(const FieldDescriptor* fd, bool quantity) {
  switch (fd->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      if (fd->type() == FieldDescriptor::TYPE_BYTES) return Kind::kBytes;
      return quantity ? Kind::kQuantity : Kind::kString;
    case FieldDescriptor::CPPTYPE_INT32:
      return Kind::kInt32;
    case FieldDescriptor::CPPTYPE_INT64:
      return Kind::kInt64;
    case FieldDescriptor::CPPTYPE_UINT32:
      return Kind::kUInt32;
    case FieldDescriptor::CPPTYPE_UINT64:
      return Kind::kUInt64;
    case FieldDescriptor::CPPTYPE_BOOL:
      return Kind::kBool;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return Kind::kDouble;
    case FieldDescriptor::CPPTYPE_FLOAT:
      return Kind::kFloat;
    case FieldDescriptor::CPPTYPE_ENUM:
      return Kind::kEnum;
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const std::string& name = fd->message_type()->full_name();
      if (name == "korch.api.Time") return Kind::kTime;
      if (name == "korch.api.MicroTime") return Kind::kMicroTime;
      if (name == "korch.api.IntOrString") return Kind::kIntOrString;
      if (name == "korch.api.RawExtension") return Kind::kRaw;
      return Kind::kMessage;
    }
  }
  return Kind::kString;
}

class PlanCache {
 public:
  const MessagePlan* Get(const Descriptor* d) {
    {
      absl::ReaderMutexLock l(&mu_);
      auto it = plans_.find(d);
      if (it != plans_.end()) return it->second.get();
    }
    absl::MutexLock l(&mu_);
    return BuildLocked(d);
  }

 private:
  const MessagePlan* BuildLocked(const Descriptor* d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = plans_.find(d);
    if (it != plans_.end()) return it->second.get();
    // Insert first so that recursive types terminate.
    MessagePlan* plan = (plans_[d] = std::make_unique<MessagePlan>()).get();
    plan->descriptor = d;
    const auto& mopts = d->options();
    if (mopts.HasExtension(api::kind)) {
      plan->kind = mopts.GetExtension(api::kind);
      const std::string& g = mopts.GetExtension(api::group);
      const std::string& v = mopts.GetExtension(api::version);
      plan->api_version = g.empty() ? v : absl::StrCat(g, "/", v);
      plan->meta_group = g == "meta.k8s.io";
    }
    plan->fields.resize(d->field_count());
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* fd = d->field(i);
      FieldPlan& fp = plan->fields[i];
      fp.fd = fd;
      fp.json_name = fd->json_name();
      fp.repeated = fd->is_repeated();
      fp.emit_zero = fd->options().GetExtension(api::emit_zero);
      bool quantity = fd->options().GetExtension(api::quantity);
      if (fd->is_map()) {
        fp.kind = Kind::kMap;
        fp.repeated = false;
        fp.map_key = fd->message_type()->map_key();
        fp.map_value = fd->message_type()->map_value();
        fp.map_value_kind = ScalarKind(fp.map_value, quantity);
        if (fp.map_value_kind == Kind::kMessage) {
          fp.map_value_message = BuildLocked(fp.map_value->message_type());
        }
      } else {
        fp.kind = ScalarKind(fd, quantity);
        if (fp.kind == Kind::kMessage) fp.message = BuildLocked(fd->message_type());
      }
    }
    for (const FieldPlan& fp : plan->fields) plan->by_json_name[fp.json_name] = &fp;
    return plan;
  }

  absl::Mutex mu_;
  absl::flat_hash_map<const Descriptor*, std::unique_ptr<MessagePlan>> plans_ ABSL_GUARDED_BY(mu_);
};

// The plans are pure functions of the compiled-in descriptors, so one cache
// serves every caller in the process.
const MessagePlan* PlanFor(const Descriptor* d) {
  static PlanCache* cache = new PlanCache();
  return cache->Get(d);
}

// ---------------------------------------------------------------------------
// JSON parsing with duplicate-key detection and paths.

// Kubernetes objects nest a few dozen levels; anything far deeper is an
// attack or a mistake.
constexpr size_t kMaxJsonDepth = 1000;

class DomBuilder {
 public:
  explicit DomBuilder(bool reject_duplicates) : reject_duplicates_(reject_duplicates) {}

  bool null() { return Put(json(nullptr)); }
  bool boolean(bool v) { return Put(json(v)); }
  bool number_integer(json::number_integer_t v) { return Put(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return Put(json(v)); }
  bool number_float(json::number_float_t v, const std::string&) { return Put(json(v)); }
  bool string(std::string& v) { return Put(json(std::move(v))); }
  bool binary(json::binary_t& v) { return Put(json(std::move(v))); }
  bool start_object(std::size_t) {
    if (!CheckDepth()) return false;
    json* j = Place(json::object());
    stack_.push_back(Frame{j, {}, 0});
    return true;
  }
  bool key(std::string& k) {
    Frame& f = stack_.back();
    if (f.value->contains(k)) {
      if (reject_duplicates_) {
        errors_.push_back(absl::StrCat("duplicate field \"", PathWith(k), "\""));
      }
    }
    f.key = std::move(k);
    return true;
  }
  bool end_object() {
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) {
    if (!CheckDepth()) return false;
    json* j = Place(json::array());
    stack_.push_back(Frame{j, {}, 0});
    return true;
  }
  bool end_array() {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    parse_error_ = absl::StrCat("invalid JSON at byte ", position, ": ", e.what());
    return false;
  }

  json& root() { return root_; }
  const std::vector<std::string>& errors() const { return errors_; }
  const std::string& parse_error_message() const { return parse_error_; }

 private:
  struct Frame {
    json* value;
    std::string key;
    size_t index;
  };

  // Deeper documents are refused before anything recursive (encoding,
  // copying) could exhaust the stack.
  bool CheckDepth() {
    if (stack_.size() < kMaxJsonDepth) return true;
    parse_error_ = absl::StrCat("JSON nested deeper than ", kMaxJsonDepth, " levels");
    return false;
  }

  bool Put(json&& v) {
    Place(std::move(v));
    return true;
  }

  json* Place(json&& v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    Frame& f = stack_.back();
    if (f.value->is_array()) {
      f.value->push_back(std::move(v));
      ++f.index;
      return &f.value->back();
    }
    json& slot = (*f.value)[f.key];
    slot = std::move(v);
    return &slot;
  }

  std::string PathWith(const std::string& key) const {
    std::string path;
    for (size_t i = 0; i + 1 < stack_.size(); ++i) {
      const Frame& f = stack_[i];
      if (f.value->is_array()) {
        absl::StrAppend(&path, "[", f.index - 1, "]");
      } else {
        if (!path.empty()) path += '.';
        path += f.key;
      }
    }
    if (!path.empty()) path += '.';
    path += key;
    return path;
  }

  bool reject_duplicates_;
  json root_;
  std::vector<Frame> stack_;
  std::vector<std::string> errors_;
  std::string parse_error_;
};

// ---------------------------------------------------------------------------
// YAML to JSON.

bool IsYamlNull(const std::string& s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

bool YamlBool(const std::string& s, bool* out) {
  static constexpr const char* kTrue[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
                                          "on",   "On",   "ON",   "y",   "Y"};
  static constexpr const char* kFalse[] = {"false", "False", "FALSE", "no", "No", "NO",
                                           "off",   "Off",   "OFF",   "n",  "N"};
  for (const char* t : kTrue) {
    if (s == t) return *out = true, true;
  }
  for (const char* f : kFalse) {
    if (s == f) return *out = false, true;
  }
  return false;
}

bool YamlInt(const std::string& text, json* out) {
  std::string s;
  for (char c : text) {
    if (c != '_') s += c;
  }
  if (s.empty()) return false;
  size_t i = 0;
  bool neg = false;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    i = 1;
  }
  if (i >= s.size()) return false;
  int base = 10;
  if (s.size() > i + 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
    base = 16;
    i += 2;
  } else if (s.size() > i + 2 && s[i] == '0' && s[i + 1] == 'o') {
    base = 8;
    i += 2;
  } else if (s.size() > i + 1 && s[i] == '0') {
    base = 8;  // YAML 1.1 octal: 0644
    i += 1;
  }
  unsigned long long v = 0;
  const char* begin = s.data() + i;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(begin, end, v, base);
  if (ec != std::errc() || ptr != end) return false;
  if (neg) {
    if (v > static_cast<unsigned long long>(std::numeric_limits<int64_t>::max()) + 1) return false;
    *out = json(static_cast<int64_t>(-static_cast<__int128>(v)));
  } else if (v <= static_cast<unsigned long long>(std::numeric_limits<int64_t>::max())) {
    *out = json(static_cast<int64_t>(v));
  } else {
    *out = json(static_cast<uint64_t>(v));
  }
  return true;
}

bool YamlFloat(const std::string& s, json* out) {
  if (s == ".inf" || s == ".Inf" || s == ".INF" || s == "+.inf") {
    *out = json(std::numeric_limits<double>::infinity());
    return true;
  }
  if (s == "-.inf" || s == "-.Inf" || s == "-.INF") {
    *out = json(-std::numeric_limits<double>::infinity());
    return true;
  }
  if (s == ".nan" || s == ".NaN" || s == ".NAN") {
    *out = json(std::numeric_limits<double>::quiet_NaN());
    return true;
  }
  // [-+]?([0-9][0-9_]*)?\.[0-9.]*([eE][-+][0-9]+)? and plain exponents.
  bool digit = false;
  for (char c : s) {
    if (absl::ascii_isdigit(static_cast<unsigned char>(c)))
      digit = true;
    else if (c != '.' && c != 'e' && c != 'E' && c != '+' && c != '-' && c != '_')
      return false;
  }
  if (!digit) return false;
  std::string t;
  for (char c : s) {
    if (c != '_') t += c;
  }
  double d;
  auto [ptr, ec] = std::from_chars(t.data() + (t[0] == '+' ? 1 : 0), t.data() + t.size(), d);
  if (ec != std::errc() || ptr != t.data() + t.size()) return false;
  *out = json(d);
  return true;
}

json YamlScalar(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  const std::string& tag = node.Tag();
  if (tag == "!" || tag == "tag:yaml.org,2002:str") return json(text);
  json out;
  if (tag == "tag:yaml.org,2002:int" && YamlInt(text, &out)) return out;
  if (tag == "tag:yaml.org,2002:float" && (YamlInt(text, &out) || YamlFloat(text, &out))) {
    return json(out.get<double>());
  }
  if (tag == "tag:yaml.org,2002:bool") {
    bool b;
    if (YamlBool(text, &b)) return json(b);
  }
  if (tag == "tag:yaml.org,2002:null") return json(nullptr);
  if (IsYamlNull(text)) return json(nullptr);
  bool b;
  if (YamlBool(text, &b)) return json(b);
  if (YamlInt(text, &out)) return out;
  if (YamlFloat(text, &out)) return out;
  return json(text);
}

std::string YamlKeyText(const YAML::Node& key) {
  if (key.IsScalar()) return key.Scalar();
  YAML::Emitter e;
  e << YAML::Flow << key;
  return e.c_str();
}

absl::Status YamlToJson(const YAML::Node& node, const std::string& path, bool reject_duplicates,
                        json* out) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      *out = json(nullptr);
      return absl::OkStatus();
    case YAML::NodeType::Scalar:
      *out = YamlScalar(node);
      return absl::OkStatus();
    case YAML::NodeType::Sequence: {
      *out = json::array();
      size_t i = 0;
      for (const YAML::Node& item : node) {
        json v;
        KORCH_RETURN_IF_ERROR(
            YamlToJson(item, absl::StrCat(path, "[", i, "]"), reject_duplicates, &v));
        out->push_back(std::move(v));
        ++i;
      }
      return absl::OkStatus();
    }
    case YAML::NodeType::Map: {
      *out = json::object();
      for (const auto& kv : node) {
        std::string key = YamlKeyText(kv.first);
        std::string child = path.empty() ? key : absl::StrCat(path, ".", key);
        if (out->contains(key) && reject_duplicates) {
          return absl::InvalidArgumentError(
              absl::StrCat("strict decoding error: duplicate field \"", child, "\" (line ",
                           kv.first.Mark().line + 1, ")"));
        }
        json v;
        KORCH_RETURN_IF_ERROR(YamlToJson(kv.second, child, reject_duplicates, &v));
        (*out)[key] = std::move(v);
      }
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Decoding JSON values into messages.

absl::string_view JsonTypeName(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "object";
    case json::value_t::array:
      return "array";
    case json::value_t::string:
      return "string";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "number";
    default:
      return "value";
  }
}

std::string Describe(const json& j) {
  std::string text = j.dump();
  if (text.size() > 64) text = absl::StrCat(text.substr(0, 61), "...");
  return absl::StrCat(JsonTypeName(j), " ", text);
}

// Shortest text that reads back as the same double ("0.5", "1000", "1e+21").
std::string FloatText(double d) {
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), d);
  return std::string(buf, ptr);
}

class Decoder {
 public:
  explicit Decoder(const DecodeOptions& options) : options_(options) {}

  void DecodeMessage(const json& j, const MessagePlan& plan, Message* m, const FieldPath& path,
                     bool top_level) {
    if (!j.is_object()) {
      TypeError(path, "an object", j);
      return;
    }
    const Reflection* r = m->GetReflection();
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& key = it.key();
      auto found = plan.by_json_name.find(key);
      if (found == plan.by_json_name.end()) {
        if (!plan.kind.empty() && (key == "kind" || key == "apiVersion")) {
          CheckTypeMeta(plan, key, it.value(), path, top_level);
          continue;
        }
        if (options_.strict) {
          Strict(absl::StrCat("unknown field \"", path.Child(key).str(), "\""));
        }
        continue;
      }
      const FieldPlan& fp = *found->second;
      const json& v = it.value();
      FieldPath child = path.Child(key);
      if (v.is_null()) {
        r->ClearField(m, fp.fd);
        continue;
      }
      if (fp.kind == Kind::kMap) {
        DecodeMap(v, fp, m, child);
      } else if (fp.repeated) {
        if (!v.is_array()) {
          TypeError(child, "an array", v);
          continue;
        }
        r->ClearField(m, fp.fd);
        int i = 0;
        for (const json& item : v) {
          FieldPath ip = child.Index(i++);
          if (item.is_null() && fp.kind != Kind::kMessage) {
            TypeError(ip, "a value", item);
            continue;
          }
          SetValue(item, fp.kind, fp.fd, fp.message, m, ip, /*repeated=*/true);
        }
      } else {
        SetValue(v, fp.kind, fp.fd, fp.message, m, child, /*repeated=*/false);
      }
    }
  }

  absl::Status Finish() {
    if (errors_.empty() && strict_errors_.empty()) return absl::OkStatus();
    std::vector<std::string> all = errors_;
    if (!strict_errors_.empty()) {
      all.push_back(absl::StrCat("strict decoding error: ", absl::StrJoin(strict_errors_, ", ")));
    }
    std::string msg = absl::StrJoin(all, "; ");
    if (dropped_ > 0) absl::StrAppend(&msg, " (and ", dropped_, " more errors)");
    return absl::InvalidArgumentError(msg);
  }

  void AddStrictErrors(const std::vector<std::string>& errors) {
    for (const auto& e : errors) Strict(e);
  }

 private:
  void CheckTypeMeta(const MessagePlan& plan, const std::string& key, const json& v,
                     const FieldPath& path, bool top_level) {
    FieldPath child = path.Child(key);
    if (!v.is_string()) {
      TypeError(child, "a string", v);
      return;
    }
    const std::string& s = v.get_ref<const std::string&>();
    if (s.empty()) return;
    if (key == "kind" && s != plan.kind) {
      Error(absl::StrCat(child.str(), ": kind ", QuoteValue(s),
                         " does not match the expected kind ", QuoteValue(plan.kind)));
    } else if (key == "apiVersion" && s != plan.api_version && !(plan.meta_group && s == "v1")) {
      Error(absl::StrCat(child.str(), ": apiVersion ", QuoteValue(s), " does not match ",
                         QuoteValue(plan.api_version), " for kind ", QuoteValue(plan.kind)));
    }
  }

  void DecodeMap(const json& v, const FieldPlan& fp, Message* m, const FieldPath& path) {
    if (!v.is_object()) {
      TypeError(path, "an object", v);
      return;
    }
    const Reflection* r = m->GetReflection();
    r->ClearField(m, fp.fd);
    for (auto it = v.begin(); it != v.end(); ++it) {
      FieldPath ep = path.Key(it.key());
      if (it.value().is_null()) {
        if (fp.map_value_kind == Kind::kString || fp.map_value_kind == Kind::kBytes) {
          // Go decodes null into "" for a map[string]string value.
          Message* entry = r->AddMessage(m, fp.fd);
          entry->GetReflection()->SetString(entry, fp.map_key, it.key());
          continue;
        }
        TypeError(ep, "a value", it.value());
        continue;
      }
      Message* entry = r->AddMessage(m, fp.fd);
      entry->GetReflection()->SetString(entry, fp.map_key, it.key());
      SetValue(it.value(), fp.map_value_kind, fp.map_value, fp.map_value_message, entry, ep,
               /*repeated=*/false);
    }
  }

  template <typename T>
  bool GetInteger(const json& v, const FieldPath& path, T* out) {
    if (v.is_number_integer() || v.is_number_unsigned()) {
      if (v.is_number_unsigned()) {
        uint64_t u = v.get<uint64_t>();
        if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
          RangeError(path, v);
          return false;
        }
        *out = static_cast<T>(u);
        return true;
      }
      int64_t i = v.get<int64_t>();
      if (i < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
          (i > 0 &&
           static_cast<uint64_t>(i) > static_cast<uint64_t>(std::numeric_limits<T>::max()))) {
        RangeError(path, v);
        return false;
      }
      *out = static_cast<T>(i);
      return true;
    }
    TypeError(path, "an integer", v);
    return false;
  }

  void SetValue(const json& v, Kind kind, const FieldDescriptor* fd, const MessagePlan* mplan,
                Message* m, const FieldPath& path, bool repeated) {
    const Reflection* r = m->GetReflection();
    switch (kind) {
      case Kind::kString: {
        if (!v.is_string()) return TypeError(path, "a string", v);
        const std::string& s = v.get_ref<const std::string&>();
        repeated ? r->AddString(m, fd, s) : r->SetString(m, fd, s);
        return;
      }
      case Kind::kBytes: {
        if (!v.is_string()) return TypeError(path, "a base64 string", v);
        std::string raw;
        if (!absl::Base64Unescape(v.get_ref<const std::string&>(), &raw)) {
          return Error(absl::StrCat(path.str(), ": illegal base64 data"));
        }
        repeated ? r->AddString(m, fd, std::move(raw)) : r->SetString(m, fd, std::move(raw));
        return;
      }
      case Kind::kQuantity: {
        std::string text;
        if (v.is_string()) {
          text = v.get<std::string>();
        } else if (v.is_number_integer()) {
          text = absl::StrCat(v.get<int64_t>());
        } else if (v.is_number_unsigned()) {
          text = absl::StrCat(v.get<uint64_t>());
        } else if (v.is_number_float()) {
          text = FloatText(v.get<double>());
        } else {
          return TypeError(path, "a quantity (string or number)", v);
        }
        absl::StatusOr<std::string> canonical = CanonicalQuantity(text);
        if (!canonical.ok()) {
          return Error(absl::StrCat(path.str(), ": ", canonical.status().message()));
        }
        repeated ? r->AddString(m, fd, *std::move(canonical))
                 : r->SetString(m, fd, *std::move(canonical));
        return;
      }
      case Kind::kInt32: {
        int32_t x;
        if (GetInteger(v, path, &x)) repeated ? r->AddInt32(m, fd, x) : r->SetInt32(m, fd, x);
        return;
      }
      case Kind::kInt64: {
        int64_t x;
        if (GetInteger(v, path, &x)) repeated ? r->AddInt64(m, fd, x) : r->SetInt64(m, fd, x);
        return;
      }
      case Kind::kUInt32: {
        uint32_t x;
        if (GetInteger(v, path, &x)) repeated ? r->AddUInt32(m, fd, x) : r->SetUInt32(m, fd, x);
        return;
      }
      case Kind::kUInt64: {
        uint64_t x;
        if (GetInteger(v, path, &x)) repeated ? r->AddUInt64(m, fd, x) : r->SetUInt64(m, fd, x);
        return;
      }
      case Kind::kBool: {
        if (!v.is_boolean()) return TypeError(path, "a boolean", v);
        bool b = v.get<bool>();
        repeated ? r->AddBool(m, fd, b) : r->SetBool(m, fd, b);
        return;
      }
      case Kind::kDouble:
      case Kind::kFloat: {
        if (!v.is_number()) return TypeError(path, "a number", v);
        double d = v.get<double>();
        if (kind == Kind::kDouble) {
          repeated ? r->AddDouble(m, fd, d) : r->SetDouble(m, fd, d);
        } else {
          repeated ? r->AddFloat(m, fd, static_cast<float>(d))
                   : r->SetFloat(m, fd, static_cast<float>(d));
        }
        return;
      }
      case Kind::kEnum: {
        if (!v.is_string()) return TypeError(path, "a string", v);
        const auto* ev = fd->enum_type()->FindValueByName(v.get<std::string>());
        if (ev == nullptr) return Error(absl::StrCat(path.str(), ": unknown value ", v.dump()));
        repeated ? r->AddEnum(m, fd, ev) : r->SetEnum(m, fd, ev);
        return;
      }
      case Kind::kTime:
      case Kind::kMicroTime: {
        if (!v.is_string()) return TypeError(path, "an RFC 3339 time string", v);
        absl::Time t;
        std::string err;
        if (!absl::ParseTime(absl::RFC3339_full, v.get_ref<const std::string&>(), &t, &err)) {
          return Error(absl::StrCat(path.str(), ": invalid time ", v.dump(),
                                    ": expected RFC 3339 like \"2025-01-02T03:04:05Z\""));
        }
        Message* tm = repeated ? r->AddMessage(m, fd) : r->MutableMessage(m, fd);
        const Descriptor* td = tm->GetDescriptor();
        const Reflection* tr = tm->GetReflection();
        absl::Duration since = t - absl::UnixEpoch();
        int64_t secs = absl::ToInt64Seconds(since);
        if (since < absl::Seconds(secs)) --secs;  // floor for times before 1970
        int32_t nanos = static_cast<int32_t>(absl::ToInt64Nanoseconds(since - absl::Seconds(secs)));
        tr->SetInt64(tm, td->FindFieldByNumber(1), secs);
        if (nanos != 0) tr->SetInt32(tm, td->FindFieldByNumber(2), nanos);
        return;
      }
      case Kind::kIntOrString: {
        Message* im = repeated ? r->AddMessage(m, fd) : r->MutableMessage(m, fd);
        const Descriptor* id = im->GetDescriptor();
        const Reflection* ir = im->GetReflection();
        if (v.is_string()) {
          ir->SetString(im, id->FindFieldByNumber(2), v.get<std::string>());
        } else if (v.is_number_integer() || v.is_number_unsigned()) {
          int32_t x;
          if (GetInteger(v, path, &x)) ir->SetInt32(im, id->FindFieldByNumber(1), x);
        } else {
          TypeError(path, "an integer or a string", v);
        }
        return;
      }
      case Kind::kRaw: {
        Message* rm = repeated ? r->AddMessage(m, fd) : r->MutableMessage(m, fd);
        rm->GetReflection()->SetString(rm, rm->GetDescriptor()->FindFieldByNumber(1), v.dump());
        return;
      }
      case Kind::kMessage: {
        Message* sub = repeated ? r->AddMessage(m, fd) : r->MutableMessage(m, fd);
        if (v.is_null()) return;
        DecodeMessage(v, *mplan, sub, path, /*top_level=*/false);
        return;
      }
      case Kind::kMap:
        return;  // handled by DecodeMap
    }
  }

  void TypeError(const FieldPath& path, absl::string_view expected, const json& got) {
    Error(absl::StrCat(path.empty() ? "" : path.str() + ": ", "expected ", expected, ", got ",
                       Describe(got)));
  }
  void RangeError(const FieldPath& path, const json& got) {
    Error(absl::StrCat(path.str(), ": value ", got.dump(), " is out of range"));
  }
  void Error(std::string e) {
    if (static_cast<int>(errors_.size() + strict_errors_.size()) >= options_.max_errors) {
      ++dropped_;
      return;
    }
    errors_.push_back(std::move(e));
  }
  void Strict(std::string e) {
    if (static_cast<int>(errors_.size() + strict_errors_.size()) >= options_.max_errors) {
      ++dropped_;
      return;
    }
    strict_errors_.push_back(std::move(e));
  }

  const DecodeOptions& options_;
  std::vector<std::string> errors_;
  std::vector<std::string> strict_errors_;
  int dropped_ = 0;
};

// ---------------------------------------------------------------------------
// Encoding.

class Writer {
 public:
  Writer(std::string* out, bool pretty) : out_(out), pretty_(pretty) {}

  void BeginObject() { Open('{'); }
  void EndObject() { Close('}'); }
  void BeginArray() { Open('['); }
  void EndArray() { Close(']'); }
  void Key(absl::string_view k) {
    Separator();
    String(k);
    out_->append(pretty_ ? ": " : ":");
    after_key_ = true;
  }
  void Value(absl::string_view raw) {
    Separator();
    out_->append(raw.data(), raw.size());
  }
  void StringValue(absl::string_view s) {
    Separator();
    String(s);
  }
  template <typename T>
  void Integer(T v) {
    char buf[32];
    auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    Value(absl::string_view(buf, ptr - buf));
  }
  void Bool(bool b) { Value(b ? "true" : "false"); }
  void Null() { Value("null"); }
  void Double(absl::string_view text) { Value(text); }
  void Raw(absl::string_view json) { Value(json); }

 private:
  void Open(char c) {
    Separator();
    out_->push_back(c);
    first_.push_back(true);
  }
  void Close(char c) {
    bool empty = first_.back();
    first_.pop_back();
    if (pretty_ && !empty) Newline();
    out_->push_back(c);
  }
  void Separator() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (first_.empty()) return;
    if (!first_.back()) out_->push_back(',');
    first_.back() = false;
    if (pretty_) Newline();
  }
  void Newline() {
    out_->push_back('\n');
    out_->append(2 * first_.size(), ' ');
  }
  void String(absl::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    out_->push_back('"');
    for (char ch : s) {
      unsigned char c = static_cast<unsigned char>(ch);
      switch (c) {
        case '"':
          out_->append("\\\"");
          break;
        case '\\':
          out_->append("\\\\");
          break;
        case '\n':
          out_->append("\\n");
          break;
        case '\r':
          out_->append("\\r");
          break;
        case '\t':
          out_->append("\\t");
          break;
        case '\b':
          out_->append("\\b");
          break;
        case '\f':
          out_->append("\\f");
          break;
        default:
          if (c < 0x20) {
            out_->append("\\u00");
            out_->push_back(kHex[c >> 4]);
            out_->push_back(kHex[c & 15]);
          } else {
            out_->push_back(ch);
          }
      }
    }
    out_->push_back('"');
  }

  std::string* out_;
  bool pretty_;
  bool after_key_ = false;
  std::vector<bool> first_;
};

// Builds the json value that parsing Writer's compact text would give,
// without the text: EncodeJsonValue() feeds field management on every write.
class DomWriter {
 public:
  explicit DomWriter(json* root) : root_(root) {}

  void BeginObject() { stack_.push_back(Put(json(json::value_t::object))); }
  void EndObject() { stack_.pop_back(); }
  void BeginArray() { stack_.push_back(Put(json(json::value_t::array))); }
  void EndArray() { stack_.pop_back(); }
  void Key(absl::string_view k) { key_.assign(k.data(), k.size()); }
  void Bool(bool b) { Put(json(b)); }
  void Null() { Put(json(nullptr)); }
  // As the parser reads the text ("3" is an integer).
  void Double(absl::string_view text) { Put(json::parse(text.begin(), text.end())); }
  void Raw(absl::string_view text) { Put(json::parse(text.begin(), text.end())); }
  void StringValue(absl::string_view s) { Put(json(std::string(s))); }
  template <typename T>
  void Integer(T v) {
    // The parser reads non-negative integers as unsigned.
    if (v >= 0) {
      Put(json(static_cast<uint64_t>(v)));
    } else {
      Put(json(static_cast<int64_t>(v)));
    }
  }

 private:
  json* Put(json value) {
    if (stack_.empty()) {
      *root_ = std::move(value);
      return root_;
    }
    json* top = stack_.back();
    if (top->is_array()) {
      top->push_back(std::move(value));
      return &top->back();
    }
    json& slot = (*top)[key_];
    slot = std::move(value);
    return &slot;
  }

  json* root_;
  std::vector<json*> stack_;
  std::string key_;
};

// Forwards the encoder's calls to a JsonVisitor.
class VisitorWriter {
 public:
  explicit VisitorWriter(JsonVisitor* v) : v_(v) {}
  void BeginObject() { v_->BeginObject(); }
  void EndObject() { v_->EndObject(); }
  void BeginArray() { v_->BeginArray(); }
  void EndArray() { v_->EndArray(); }
  void Key(absl::string_view k) { v_->Key(k); }
  void StringValue(absl::string_view s) { v_->String(s); }
  template <typename T>
  void Integer(T v) {
    char buf[32];
    auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    v_->Integer(absl::string_view(buf, ptr - buf));
  }
  void Bool(bool b) { v_->Bool(b); }
  void Null() { v_->Null(); }
  void Double(absl::string_view text) { v_->Double(text); }
  void Raw(absl::string_view json) { v_->Raw(json); }

 private:
  JsonVisitor* v_;
};

std::string FormatTime(int64_t seconds, int32_t nanos, bool micro) {
  absl::Time t = absl::FromUnixSeconds(seconds) + absl::Nanoseconds(nanos);
  return absl::FormatTime(micro ? "%Y-%m-%dT%H:%M:%E6SZ" : "%Y-%m-%dT%H:%M:%SZ", t,
                          absl::UTCTimeZone());
}

template <typename W>
class Encoder {
 public:
  explicit Encoder(W* w) : w_(w) {}

  void EncodeMessage(const Message& m, const MessagePlan& plan, bool type_meta) {
    w_->BeginObject();
    if (type_meta && !plan.kind.empty()) {
      w_->Key("kind");
      w_->StringValue(plan.kind);
      w_->Key("apiVersion");
      w_->StringValue(plan.api_version);
    }
    const Reflection* r = m.GetReflection();
    for (const FieldPlan& fp : plan.fields) {
      const FieldDescriptor* fd = fp.fd;
      if (fp.kind == Kind::kMap) {
        int n = r->FieldSize(m, fd);
        if (n == 0 && !fp.emit_zero) continue;
        w_->Key(fp.json_name);
        EncodeMap(m, fp, n);
      } else if (fp.repeated) {
        int n = r->FieldSize(m, fd);
        if (n == 0 && !fp.emit_zero) continue;
        w_->Key(fp.json_name);
        w_->BeginArray();
        for (int i = 0; i < n; ++i) EncodeRepeated(m, fp, i);
        w_->EndArray();
      } else if (r->HasField(m, fd)) {
        w_->Key(fp.json_name);
        EncodeSingular(m, fp.kind, fd, fp.message);
      } else if (fp.emit_zero) {
        w_->Key(fp.json_name);
        EncodeZero(fp);
      }
    }
    w_->EndObject();
  }

 private:
  void EncodeMap(const Message& m, const FieldPlan& fp, int n) {
    const Reflection* r = m.GetReflection();
    // Kubernetes (Go) writes map keys sorted.
    std::vector<std::pair<std::string, const Message*>> entries;
    entries.reserve(n);
    for (int i = 0; i < n; ++i) {
      const Message& e = r->GetRepeatedMessage(m, fp.fd, i);
      entries.emplace_back(e.GetReflection()->GetString(e, fp.map_key), &e);
    }
    std::sort(entries.begin(), entries.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    w_->BeginObject();
    for (const auto& [key, e] : entries) {
      w_->Key(key);
      EncodeSingular(*e, fp.map_value_kind, fp.map_value, fp.map_value_message);
    }
    w_->EndObject();
  }

  void EncodeZero(const FieldPlan& fp) {
    if (fp.kind == Kind::kMap) {
      w_->BeginObject();
      w_->EndObject();
      return;
    }
    if (fp.repeated) {
      w_->BeginArray();
      w_->EndArray();
      return;
    }
    switch (fp.kind) {
      case Kind::kString:
      case Kind::kBytes:
        w_->StringValue("");
        return;
      case Kind::kQuantity:
        w_->StringValue("0");
        return;
      case Kind::kBool:
        w_->Bool(false);
        return;
      case Kind::kMessage:
        EncodeMessage(*google::protobuf::MessageFactory::generated_factory()->GetPrototype(
                          fp.fd->message_type()),
                      *fp.message, false);
        return;
      case Kind::kRaw:
        w_->Null();
        return;
      case Kind::kIntOrString:
        w_->Integer(0);
        return;
      case Kind::kTime:
      case Kind::kMicroTime:
        w_->Null();
        return;
      default:
        w_->Integer(0);
        return;
    }
  }

  void EncodeRepeated(const Message& m, const FieldPlan& fp, int i) {
    const Reflection* r = m.GetReflection();
    const FieldDescriptor* fd = fp.fd;
    switch (fp.kind) {
      case Kind::kString:
        w_->StringValue(r->GetRepeatedStringReference(m, fd, i, &scratch_));
        return;
      case Kind::kQuantity:
        w_->StringValue(r->GetRepeatedStringReference(m, fd, i, &scratch_));
        return;
      case Kind::kBytes:
        w_->StringValue(absl::Base64Escape(r->GetRepeatedStringReference(m, fd, i, &scratch_)));
        return;
      case Kind::kInt32:
        Number(r->GetRepeatedInt32(m, fd, i));
        return;
      case Kind::kInt64:
        Number(r->GetRepeatedInt64(m, fd, i));
        return;
      case Kind::kUInt32:
        Number(r->GetRepeatedUInt32(m, fd, i));
        return;
      case Kind::kUInt64:
        Number(r->GetRepeatedUInt64(m, fd, i));
        return;
      case Kind::kBool:
        w_->Bool(r->GetRepeatedBool(m, fd, i));
        return;
      case Kind::kDouble:
        Double(r->GetRepeatedDouble(m, fd, i));
        return;
      case Kind::kFloat:
        Double(r->GetRepeatedFloat(m, fd, i));
        return;
      case Kind::kEnum:
        w_->StringValue(r->GetRepeatedEnum(m, fd, i)->name());
        return;
      default:
        EncodeMessageValue(r->GetRepeatedMessage(m, fd, i), fp.kind, fp.message);
        return;
    }
  }

  void EncodeSingular(const Message& m, Kind kind, const FieldDescriptor* fd,
                      const MessagePlan* mplan) {
    const Reflection* r = m.GetReflection();
    switch (kind) {
      case Kind::kString:
      case Kind::kQuantity:
        w_->StringValue(r->GetStringReference(m, fd, &scratch_));
        return;
      case Kind::kBytes:
        w_->StringValue(absl::Base64Escape(r->GetStringReference(m, fd, &scratch_)));
        return;
      case Kind::kInt32:
        Number(r->GetInt32(m, fd));
        return;
      case Kind::kInt64:
        Number(r->GetInt64(m, fd));
        return;
      case Kind::kUInt32:
        Number(r->GetUInt32(m, fd));
        return;
      case Kind::kUInt64:
        Number(r->GetUInt64(m, fd));
        return;
      case Kind::kBool:
        w_->Bool(r->GetBool(m, fd));
        return;
      case Kind::kDouble:
        Double(r->GetDouble(m, fd));
        return;
      case Kind::kFloat:
        Double(r->GetFloat(m, fd));
        return;
      case Kind::kEnum:
        w_->StringValue(r->GetEnum(m, fd)->name());
        return;
      default:
        EncodeMessageValue(r->GetMessage(m, fd), kind, mplan);
        return;
    }
  }

  void EncodeMessageValue(const Message& sub, Kind kind, const MessagePlan* mplan) {
    const Descriptor* d = sub.GetDescriptor();
    const Reflection* r = sub.GetReflection();
    switch (kind) {
      case Kind::kTime:
      case Kind::kMicroTime:
        w_->StringValue(FormatTime(r->GetInt64(sub, d->FindFieldByNumber(1)),
                                   r->GetInt32(sub, d->FindFieldByNumber(2)),
                                   kind == Kind::kMicroTime));
        return;
      case Kind::kIntOrString: {
        const FieldDescriptor* s = d->FindFieldByNumber(2);
        if (r->HasField(sub, s)) {
          w_->StringValue(r->GetStringReference(sub, s, &scratch_));
        } else {
          Number(r->GetInt32(sub, d->FindFieldByNumber(1)));
        }
        return;
      }
      case Kind::kRaw: {
        const std::string& raw = r->GetStringReference(sub, d->FindFieldByNumber(1), &scratch_);
        if (raw.empty()) {
          w_->Null();
        } else {
          w_->Raw(raw);
        }
        return;
      }
      default:
        EncodeMessage(sub, *mplan, false);
        return;
    }
  }

  template <typename T>
  void Number(T v) {
    w_->Integer(v);
  }
  void Double(double d) {
    if (!std::isfinite(d)) {
      w_->Null();
      return;
    }
    w_->Double(FloatText(d));
  }

  W* w_;
  std::string scratch_;
};

}  // namespace

// ---------------------------------------------------------------------------

absl::StatusOr<json> ParseJson(absl::string_view text, bool reject_duplicates) {
  DomBuilder builder(reject_duplicates);
  bool ok = json::sax_parse(text.begin(), text.end(), &builder);
  if (!ok) {
    return absl::InvalidArgumentError(builder.parse_error_message().empty()
                                          ? std::string("invalid JSON")
                                          : builder.parse_error_message());
  }
  if (!builder.errors().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("strict decoding error: ", absl::StrJoin(builder.errors(), ", ")));
  }
  return std::move(builder.root());
}

absl::StatusOr<std::vector<json>> ParseYaml(absl::string_view text, bool reject_duplicates) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid YAML at line ", e.mark.line + 1,
                                                   ", column ", e.mark.column + 1, ": ", e.msg));
  }
  std::vector<json> out;
  for (const YAML::Node& doc : docs) {
    if (!doc.IsDefined() || doc.IsNull()) continue;
    json j;
    absl::Status s = YamlToJson(doc, "", reject_duplicates, &j);
    if (!s.ok()) return s;
    out.push_back(std::move(j));
  }
  return out;
}

absl::Status DecodeJsonValue(const json& j, Message* out, const DecodeOptions& options) {
  out->Clear();
  Decoder decoder(options);
  decoder.DecodeMessage(j, *PlanFor(out->GetDescriptor()), out, FieldPath(), true);
  return decoder.Finish();
}

absl::Status DecodeJson(absl::string_view text, Message* out, const DecodeOptions& options) {
  out->Clear();
  DomBuilder builder(options.strict);
  if (!json::sax_parse(text.begin(), text.end(), &builder)) {
    return absl::InvalidArgumentError(builder.parse_error_message().empty()
                                          ? std::string("invalid JSON")
                                          : builder.parse_error_message());
  }
  Decoder decoder(options);
  decoder.AddStrictErrors(builder.errors());
  decoder.DecodeMessage(builder.root(), *PlanFor(out->GetDescriptor()), out, FieldPath(), true);
  return decoder.Finish();
}

void AppendJson(const Message& message, const EncodeOptions& options, std::string* out) {
  Writer w(out, options.pretty);
  Encoder<Writer> e(&w);
  e.EncodeMessage(message, *PlanFor(message.GetDescriptor()), options.type_meta);
}

std::string EncodeJson(const Message& message, const EncodeOptions& options) {
  std::string out;
  out.reserve(1024);
  AppendJson(message, options, &out);
  return out;
}

json EncodeJsonValue(const Message& message, const EncodeOptions& options) {
  json out;
  DomWriter w(&out);
  Encoder<DomWriter> e(&w);
  e.EncodeMessage(message, *PlanFor(message.GetDescriptor()), options.type_meta);
  return out;
}

void VisitJson(const Message& message, const EncodeOptions& options, JsonVisitor* visitor) {
  VisitorWriter w(visitor);
  Encoder<VisitorWriter> e(&w);
  e.EncodeMessage(message, *PlanFor(message.GetDescriptor()), options.type_meta);
}

std::string KindOf(const Descriptor* descriptor) { return PlanFor(descriptor)->kind; }

std::string ApiVersionOf(const Descriptor* descriptor) { return PlanFor(descriptor)->api_version; }

absl::StatusOr<std::unique_ptr<Message>> DecodeObject(const json& j, const Scheme& scheme,
                                                      const DecodeOptions& options) {
  if (!j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("expected an object, got ", Describe(j)));
  }
  auto kind_it = j.find("kind");
  auto version_it = j.find("apiVersion");
  if (kind_it == j.end() || !kind_it->is_string() || kind_it->get<std::string>().empty()) {
    return absl::InvalidArgumentError("Object 'Kind' is missing");
  }
  if (version_it == j.end() || !version_it->is_string() || version_it->get<std::string>().empty()) {
    return absl::InvalidArgumentError("Object 'apiVersion' is missing");
  }
  auto msg = scheme.New(version_it->get<std::string>(), kind_it->get<std::string>());
  if (!msg.ok()) return msg.status();
  KORCH_RETURN_IF_ERROR(DecodeJsonValue(j, msg->get(), options));
  return std::move(*msg);
}

absl::StatusOr<std::vector<std::unique_ptr<Message>>> DecodeManifest(absl::string_view text,
                                                                     const Scheme& scheme,
                                                                     const DecodeOptions& options) {
  std::vector<json> docs;
  absl::string_view trimmed = absl::StripLeadingAsciiWhitespace(text);
  if (absl::StartsWith(trimmed, "{")) {
    auto j = ParseJson(text, options.strict);
    if (!j.ok()) return j.status();
    docs.push_back(*std::move(j));
  } else {
    auto parsed = ParseYaml(text, options.strict);
    if (!parsed.ok()) return parsed.status();
    docs = *std::move(parsed);
  }
  // Expand `kind: List` documents into their items.
  std::vector<json> objects;
  for (json& d : docs) {
    if (d.is_object() && d.value("kind", "") == "List" && d.contains("items")) {
      if (!d["items"].is_array()) {
        return absl::InvalidArgumentError("List: expected items to be an array");
      }
      for (json& item : d["items"]) objects.push_back(std::move(item));
    } else {
      objects.push_back(std::move(d));
    }
  }
  std::vector<std::unique_ptr<Message>> out;
  for (size_t i = 0; i < objects.size(); ++i) {
    auto obj = DecodeObject(objects[i], scheme, options);
    if (!obj.ok()) {
      std::string what = absl::StrCat("document ", i + 1);
      const json& o = objects[i];
      if (o.is_object() && o.contains("kind") && o["kind"].is_string()) {
        std::string name;
        if (o.contains("metadata") && o["metadata"].is_object() && o["metadata"].contains("name") &&
            o["metadata"]["name"].is_string()) {
          name = o["metadata"]["name"].get<std::string>();
        }
        absl::StrAppend(&what, " (", o["kind"].get<std::string>(), " ", QuoteValue(name), ")");
      }
      return absl::Status(obj.status().code(), absl::StrCat(what, ": ", obj.status().message()));
    }
    out.push_back(*std::move(obj));
  }
  return out;
}

}  // namespace korch::api
