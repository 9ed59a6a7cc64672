// Field management (metadata.managedFields): which field manager owns which
// fields of an object, as Kubernetes' server-side apply records it.
//
// Every write records ownership. An update (create, update, a non-apply
// patch) by manager M makes M the owner of every field it added or changed
// (one "Update" entry per manager, API version and subresource) and takes
// those fields away from every other manager. A server-side apply by M makes
// M the owner of exactly the fields of its applied configuration (one
// "Apply" entry per manager and subresource); it fails with a 409 Conflict
// when it would change a field another manager owns, unless forced (force
// moves the ownership to M); applying the value a field already has shares
// the field. Fields M applied before and no longer applies are removed from
// the object unless another manager owns them. Entries left without fields
// are dropped.
//
// Field sets are written as Kubernetes' FieldsV1: a JSON trie whose keys are
// path elements: "f:<name>" (a field), "k:{...}" (an element of an
// associative list, by the list's merge key, see patch.h), "v:<json>" (an
// element of a set list such as metadata.finalizers), "i:<n>" (a list
// element by index, for keyed lists whose elements lack a unique key), and
// "." (the node itself is in the set besides fields below it).
//
// apiVersion, kind and the system-set parts of metadata (name, namespace,
// uid, resourceVersion, generation, creationTimestamp, selfLink,
// deletionTimestamp, deletionGracePeriodSeconds, managedFields) are never
// owned. Writes to the main resource do not own `status`; writes to the
// status subresource own only `status`.
//
// Functions are pure and thread-safe.

#ifndef KORCH_APISERVER_MANAGED_FIELDS_H_
#define KORCH_APISERVER_MANAGED_FIELDS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "korch/api/meta.pb.h"
#include "korch/apiserver/patch.h"
#include "korch/export.h"
#include "nlohmann/json.hpp"

namespace korch::apiserver {

// A set of field paths. A path is a sequence of path elements in FieldsV1
// notation ({"f:spec", "f:containers", "k:{\"name\":\"web\"}", "f:image"}).
// A value type; thread-compatible.
class KORCH_EXPORT FieldSet {
 public:
  FieldSet() = default;

  bool empty() const { return !member_ && children_.empty(); }
  void Insert(const std::vector<std::string>& path);
  bool Has(const std::vector<std::string>& path) const;

  // Set algebra on whole paths (a path's members below it are other paths).
  void Add(const FieldSet& other);     // union
  void Remove(const FieldSet& other);  // difference
  FieldSet Intersection(const FieldSet& other) const;

  // Every path in the set, in Kubernetes' printed form, sorted:
  // ".spec.replicas", ".spec.containers[name=\"web\"].image",
  // ".metadata.finalizers[=\"x\"]", ".spec.list[2]".
  std::vector<std::string> PathStrings() const;

  // FieldsV1 JSON ({"f:data":{"f:k":{}}}), and back. FromFieldsV1 fails
  // with kInvalidArgument on anything that is not such a trie.
  nlohmann::json ToFieldsV1() const;
  static absl::StatusOr<FieldSet> FromFieldsV1(const nlohmann::json& json);

  bool operator==(const FieldSet& other) const = default;

  // The node of one path element below this one, or nullptr.
  const FieldSet* Child(const std::string& element) const;
  bool member() const { return member_; }
  const std::map<std::string, FieldSet>& children() const { return children_; }

 private:
  bool member_ = false;
  std::map<std::string, FieldSet> children_;
};

// Which top-level parts of an object a write can own.
enum class FieldScope {
  kMainResource,  // everything but `status`
  kStatus,        // only `status`
};

// The fields of `object` (a full or partial object, e.g. an applied
// configuration) as server-side apply owns them: every scalar, null, empty
// map and atomic list, and every element of associative and set lists.
KORCH_EXPORT FieldSet FieldSetOf(const nlohmann::json& object, const StrategicSchema& schema,
                                 FieldScope scope);

// How `now` differs from `before`, path by path: leaves that appeared,
// changed or went, and maps and list elements that appeared or went.
struct FieldComparison {
  FieldSet added;
  FieldSet modified;
  FieldSet removed;
  bool empty() const { return added.empty() && modified.empty() && removed.empty(); }
};
KORCH_EXPORT FieldComparison CompareFields(const nlohmann::json& before, const nlohmann::json& now,
                                           const StrategicSchema& schema, FieldScope scope);

using ManagedFields = google::protobuf::RepeatedPtrField<api::ManagedFieldsEntry>;

enum class ManagedOperation { kUpdate, kApply };

// Who is writing, for the bookkeeping of one write.
struct FieldManagerRequest {
  // The field manager (fieldManager, or derived from the User-Agent).
  std::string manager;
  ManagedOperation operation = ManagedOperation::kUpdate;
  // The API version of the object written ("apps/v1").
  std::string api_version;
  // "" or the subresource written ("status", "scale").
  std::string subresource;
  // The server's clock at the write: the time of the writer's entry.
  absl::Time now = absl::UnixEpoch();
  // Set by ServerSideApply's caller: the entries the apply computed, stored
  // as they are (RecordWrite then compares nothing).
  std::optional<ManagedFields> applied;
};

// Records the write of `object` (which was `live` before; null for a
// create) in object's metadata.managedFields. The entries to start from are
// those the request object carries when they are valid and non-empty
// (clients may set managedFields; a single empty entry, [{}], clears them),
// otherwise the live object's; subresource writes always start from the
// live object's. Objects without metadata are left alone.
KORCH_EXPORT absl::Status RecordWrite(const google::protobuf::Message* live,
                                      google::protobuf::Message& object,
                                      const FieldManagerRequest& request,
                                      const StrategicSchema& schema);

struct ApplyResult {
  // The object after the apply (merged, fields no longer applied removed),
  // metadata.managedFields as in the live object.
  nlohmann::json object;
  // The managedFields to store with it.
  ManagedFields managed_fields;
};

// Server-side apply of `config` by request.manager to `live` (null: the
// object does not exist yet) whose entries are `live_managed`. kAborted
// Conflict (409, reason Conflict, a FieldManagerConflict cause per field)
// when a field owned by another manager would change and !force.
// kInvalidArgument when `config` sets metadata.managedFields or does not
// merge (see ApplyServerSideApply).
KORCH_EXPORT absl::StatusOr<ApplyResult> ServerSideApply(const nlohmann::json* live,
                                                         const ManagedFields& live_managed,
                                                         const nlohmann::json& config,
                                                         const FieldManagerRequest& request,
                                                         bool force, const StrategicSchema& schema);

// The manager name Kubernetes derives from a User-Agent when a request has
// no fieldManager: the text before the first '/' ("kubectl/v1.30.1 (linux)
// kubernetes/abc" -> "kubectl"), at most 128 bytes.
KORCH_EXPORT std::string FieldManagerFromUserAgent(absl::string_view user_agent);

// Kubernetes' checks of a fieldManager parameter: at most 128 bytes, only
// printable characters. kInvalidArgument: an Invalid status of
// `options_kind` ("PatchOptions.meta.k8s.io") naming field "fieldManager".
KORCH_EXPORT absl::Status ValidateFieldManager(absl::string_view manager,
                                               absl::string_view options_kind);

}  // namespace korch::apiserver

#endif  // KORCH_APISERVER_MANAGED_FIELDS_H_
