// The patch machinery of the API server: the four ways a client can change
// an object without sending all of it (kubernetes-wire.md section 5).
//
//   application/json-patch+json            ApplyJsonPatch           RFC 6902
//   application/merge-patch+json           ApplyMergePatch          RFC 7386
//   application/strategic-merge-patch+json ApplyStrategicMergePatch Kubernetes
//   application/apply-patch+yaml           ApplyServerSideApply     Kubernetes
//
// All functions work on parsed JSON (nlohmann::json), are pure (the inputs
// are never modified; the result is a new document), never throw, and are
// safe to call from any number of threads. Errors are absl::Status:
// kInvalidArgument for a malformed patch or one that does not apply (the
// message names the JSON pointer, the operation index or the field path),
// kFailedPrecondition for a failed JSON-patch `test` operation.
#ifndef KORCH_APISERVER_PATCH_H_
#define KORCH_APISERVER_PATCH_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "korch/export.h"
#include "nlohmann/json.hpp"

namespace korch::apiserver {

// How a strategic merge patch (and server-side apply) combines the live value
// of one field with the patch's value.
enum class PatchStrategy {
  // Lists: merge element by element (by `merge_key` for lists of objects,
  // as an ordered set for lists of scalars). Maps: merge key by key.
  kMerge,
  // The field is atomic: the patch's value replaces the live one.
  kReplace,
};

// What the schema says about one field. Fields the schema does not know
// behave as in Kubernetes' defaults: maps merge, lists are replaced.
struct FieldPatchInfo {
  // Strategy for the field's value.
  PatchStrategy strategy = PatchStrategy::kMerge;
  // For lists of objects with strategy kMerge: the field that identifies an
  // element ("name", "containerPort", ...). Empty for lists of scalars, which
  // then merge as an ordered set (metadata.finalizers).
  std::string merge_key;
  // The field's map is a union whose unset members go away when the patch
  // carries `$retainKeys` (Deployment spec.strategy, volumes). Informational:
  // `$retainKeys` is honoured wherever it appears, as in Kubernetes.
  bool retain_keys = false;
};

// Per-field patch metadata, looked up by field path.
//
// Kubernetes keys this metadata by Go struct type; korch keys it by the
// *last segments of the field path*, which identify the type without knowing
// the kind. A field path is the list of field names from the object's root
// with list indexes removed: a Deployment's container env is
// "spec.template.spec.containers.env", a Pod's is "spec.containers.env".
// Lookup tries the rules whose key is a suffix of that path (at segment
// boundaries) and takes the longest one: with rules "containers" and
// "containers.ports", the path "spec.template.spec.containers.ports" finds
// "containers.ports", "spec.containers" finds "containers", and the Service
// rule "spec.ports" matches "spec.ports" but not "spec.containers.ports".
// A rule therefore covers every kind that embeds the same structure (Pod,
// PodTemplate, Deployment, Job, CronJob's spec.jobTemplate, ...).
//
// Thread-compatible: build it, then share it read-only.
class KORCH_EXPORT StrategicSchema {
 public:
  StrategicSchema() = default;

  // Adds or replaces the rule for fields whose path ends with `suffix`
  // (dotted field names, e.g. "containers.env").
  StrategicSchema& Add(absl::string_view suffix, FieldPatchInfo info);

  // The rule for the field at `path` (field names, no indexes), or nullptr.
  const FieldPatchInfo* Lookup(absl::Span<const std::string> path) const;
  // The same for a dotted path, "spec.template.spec.containers".
  const FieldPatchInfo* Lookup(absl::string_view dotted_path) const;

 private:
  absl::flat_hash_map<std::string, FieldPatchInfo> rules_;
  size_t max_segments_ = 0;
};

// The merge keys and strategies of the built-in Kubernetes types that korch
// serves: containers, initContainers, ephemeralContainers, volumes,
// imagePullSecrets, env, schedulingGates (name); container ports
// (containerPort); volumeMounts (mountPath); volumeDevices (devicePath);
// Service spec.ports (port); every `conditions` (type); Node
// status.addresses (type); hostAliases (ip); topologySpreadConstraints
// (topologyKey); metadata.ownerReferences (uid); metadata.finalizers (a set);
// Deployment strategy and DaemonSet updateStrategy (retainKeys).
// tolerations, args, command and every other list are atomic. A process-wide
// immutable object.
KORCH_EXPORT const StrategicSchema& KubernetesStrategicSchema();

// RFC 6902 JSON patch: `patch` must be an array of operation objects (add,
// remove, replace, move, copy, test), applied in order to a copy of `doc`;
// any failing operation fails the whole patch. Paths are RFC 6901 JSON
// pointers ("~1" is "/", "~0" is "~"); "-" appends to an array in `add` (and
// as the destination of `move`/`copy`). Array indexes must be decimal
// without leading zeros. Errors name the operation index and the pointer:
// "json patch operation 1 (replace /spec/replicas): ...".
KORCH_EXPORT absl::StatusOr<nlohmann::json> ApplyJsonPatch(const nlohmann::json& doc,
                                                           const nlohmann::json& patch);

// RFC 7386 JSON merge patch: an object patch merges recursively into `doc`
// (a non-object `doc` is treated as {}), a null member deletes the key, and
// any other value (arrays included) replaces. A non-object patch replaces
// the whole document. Fails only on absurdly deep nesting.
KORCH_EXPORT absl::StatusOr<nlohmann::json> ApplyMergePatch(const nlohmann::json& doc,
                                                            const nlohmann::json& patch);

// Kubernetes strategic merge patch (k8s.io/apimachinery strategicpatch, as
// the API server applies it). `patch` must be an object; `doc` an object or
// null. Rules:
//  - maps merge key by key; a null value deletes the key;
//  - lists whose schema strategy is kMerge with a merge key merge element by
//    element by that key: matching elements merge recursively, new elements
//    are appended in patch order; lists of scalars with kMerge are an ordered
//    set union (finalizers); every other list is replaced;
//  - directives:
//      {"$patch": "delete", <key>: v} in a keyed list removes that element;
//      "$patch": "delete" in a map removes the map (the key holding it goes
//        away; at the top level the result is {});
//      "$patch": "replace" in a map replaces it with the rest of the patch
//        map; {"$patch": "replace"} as a list element replaces the list with
//        the patch's other elements;
//      "$patch": "merge" is the default and changes nothing;
//      "$setElementOrder/<list>": [...] orders the merged list: the listed
//        elements in that order, elements only on the server keep their
//        relative place (Kubernetes' normalizeElementOrder);
//      "$retainKeys": [...] removes the live map's keys not listed before the
//        patch is merged (as Kubernetes does: the patch's own keys stay);
//      "$deleteFromPrimitiveList/<list>": [...] removes those scalars from
//        the list (whatever the list's strategy).
//    Any other key starting with '$' is an error.
// Differences from Kubernetes, all for inputs kubectl does not send: a map
// deleted with "$patch: delete" loses its key rather than becoming {}; values
// the live object lacks are merged into an empty value, so directives and
// nulls never leak into the result.
KORCH_EXPORT absl::StatusOr<nlohmann::json> ApplyStrategicMergePatch(const nlohmann::json& doc,
                                                                     const nlohmann::json& patch,
                                                                     const StrategicSchema& schema);

// The structural merge of server-side apply: fields of `applied` overwrite
// those of `*live`, maps merge, lists with a kMerge strategy merge by the
// same keys as strategic merge patch (live elements missing from `applied`
// stay; new ones are appended), scalar kMerge lists are set unions, other
// lists are replaced; a null in `applied` removes the field. With `live` ==
// nullptr (the object does not exist yet) the result is `applied`.
// Not done here: field ownership (metadata.managedFields), removing fields a
// manager stopped applying, and conflicts between managers; the caller
// records managers and decides about `force`. Keyed elements of `applied`
// that lack their key are an error, as in Kubernetes.
KORCH_EXPORT absl::StatusOr<nlohmann::json> ApplyServerSideApply(const nlohmann::json* live,
                                                                 const nlohmann::json& applied,
                                                                 const StrategicSchema& schema);

}  // namespace korch::apiserver

#endif  // KORCH_APISERVER_PATCH_H_
