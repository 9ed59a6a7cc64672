// Kubernetes-compatible JSON (and YAML) for korch's resource types.
//
// Objects are protobuf messages (see docs/resource-model.md); their JSON
// form is exactly what the Kubernetes API server reads and writes: `kind`
// and `apiVersion` on top-level objects, Kubernetes field names,
// quantities as canonical strings, int-or-string fields as numbers or
// strings, RFC 3339 timestamps, base64 bytes, and the fields that clients
// require emitted even when zero.
//
// All functions are thread-safe and keep no state between calls.
#ifndef KORCH_API_CODEC_H_
#define KORCH_API_CODEC_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "korch/api/scheme.h"
#include "korch/export.h"
#include "nlohmann/json.hpp"

namespace korch::api {

struct DecodeOptions {
  // Strict decoding, like the Kubernetes API server's fieldValidation=Strict:
  // unknown fields and fields given twice are errors naming the field path
  // (`unknown field "spec.containers[0].imagePullPolcy"`). When false they
  // are ignored (a repeated field keeps its last value). Type errors (a
  // string where a number belongs, a malformed quantity) are errors in
  // both modes.
  bool strict = true;
  // Maximum number of errors reported by one call; the rest are counted.
  int max_errors = 20;
};

struct EncodeOptions {
  // Emit `kind` and `apiVersion` on the top-level object when its type is a
  // Kubernetes kind.
  bool type_meta = true;
  // Indent with two spaces and break lines; compact (one line) otherwise.
  bool pretty = false;
};

// ---- Typed decoding ---------------------------------------------------------

// Decodes one JSON document into `out` (cleared first). Errors are
// kInvalidArgument and name the field path of every problem found.
KORCH_EXPORT absl::Status DecodeJson(absl::string_view json, google::protobuf::Message* out,
                                     const DecodeOptions& options = {});

// Decodes an already parsed JSON value into `out` (cleared first). Duplicate
// keys cannot be seen here; use ParseJson(..., strict) to reject them.
KORCH_EXPORT absl::Status DecodeJsonValue(const nlohmann::json& json,
                                          google::protobuf::Message* out,
                                          const DecodeOptions& options = {});

template <typename T>
absl::StatusOr<T> DecodeJsonAs(absl::string_view json, const DecodeOptions& options = {}) {
  T out;
  absl::Status s = DecodeJson(json, &out, options);
  if (!s.ok()) return s;
  return out;
}

// ---- Encoding ---------------------------------------------------------------

KORCH_EXPORT std::string EncodeJson(const google::protobuf::Message& message,
                                    const EncodeOptions& options = {});
// Appends the encoding to `*out` (no allocation beyond the string's growth).
KORCH_EXPORT void AppendJson(const google::protobuf::Message& message, const EncodeOptions& options,
                             std::string* out);
// The encoding as a JSON value (for patching and comparisons).
KORCH_EXPORT nlohmann::json EncodeJsonValue(const google::protobuf::Message& message,
                                            const EncodeOptions& options = {});

// The encoding as a stream of events, in the order EncodeJson writes it, for
// callers that need its structure but neither text nor a json value. Keys
// and strings arrive unescaped; numbers as their JSON text.
class KORCH_EXPORT JsonVisitor {
 public:
  virtual ~JsonVisitor() = default;
  virtual void BeginObject() = 0;
  virtual void EndObject() = 0;
  virtual void BeginArray() = 0;
  virtual void EndArray() = 0;
  // The key of the next value in the current object.
  virtual void Key(absl::string_view key) = 0;
  virtual void String(absl::string_view value) = 0;
  // An integer, in decimal.
  virtual void Integer(absl::string_view text) = 0;
  virtual void Bool(bool value) = 0;
  virtual void Null() = 0;
  // A floating-point number: the shortest text that reads back the same.
  virtual void Double(absl::string_view text) = 0;
  // Embedded JSON (a RawExtension), as text.
  virtual void Raw(absl::string_view json) = 0;
};
KORCH_EXPORT void VisitJson(const google::protobuf::Message& message, const EncodeOptions& options,
                            JsonVisitor* visitor);

// ---- Parsing text -----------------------------------------------------------

// Parses JSON text. With `reject_duplicates`, a key given twice in one
// object is an error naming its path (`duplicate field "metadata.name"`);
// otherwise the last value wins.
KORCH_EXPORT absl::StatusOr<nlohmann::json> ParseJson(absl::string_view text,
                                                      bool reject_duplicates);

// Parses one or more YAML documents (separated by `---`) into JSON values,
// resolving plain scalars like Kubernetes' YAML reader (YAML 1.1: `true`,
// `yes`, `on` are booleans; `0644` is octal; `~` is null). Empty documents
// are skipped. Duplicate keys are an error with `reject_duplicates`.
KORCH_EXPORT absl::StatusOr<std::vector<nlohmann::json>> ParseYaml(absl::string_view text,
                                                                   bool reject_duplicates);

// ---- Objects of any kind ----------------------------------------------------

// Decodes an object whose type is named by its own `apiVersion` and `kind`.
KORCH_EXPORT absl::StatusOr<std::unique_ptr<google::protobuf::Message>> DecodeObject(
    const nlohmann::json& json, const Scheme& scheme, const DecodeOptions& options = {});

// Decodes a manifest: JSON or YAML text with one or more objects (YAML
// documents, or the items of a `kind: List`). Errors name the document
// ("document 2 (Deployment "web"): ...").
KORCH_EXPORT absl::StatusOr<std::vector<std::unique_ptr<google::protobuf::Message>>> DecodeManifest(
    absl::string_view text, const Scheme& scheme, const DecodeOptions& options = {});

// The `kind` and `apiVersion` strings of a message type ("Pod", "v1";
// "Deployment", "apps/v1"); empty if the type is not a Kubernetes kind.
KORCH_EXPORT std::string KindOf(const google::protobuf::Descriptor* descriptor);
KORCH_EXPORT std::string ApiVersionOf(const google::protobuf::Descriptor* descriptor);

}  // namespace korch::api

#endif  // KORCH_API_CODEC_H_
