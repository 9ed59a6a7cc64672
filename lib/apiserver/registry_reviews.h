// The access reviews of authorization.k8s.io/v1 (internal to
// korch::apiserver): SelfSubjectAccessReview, SubjectAccessReview,
// LocalSubjectAccessReview and SelfSubjectRulesReview. A create of one of
// them asks the server's authorizers a question and answers it in the
// returned object's status; nothing is stored.

#ifndef KORCH_LIB_APISERVER_REGISTRY_REVIEWS_H_
#define KORCH_LIB_APISERVER_REGISTRY_REVIEWS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "korch/api/scheme.h"
#include "korch/apiserver/authn.h"
#include "korch/apiserver/authz.h"
#include "korch/apiserver/request.h"

namespace korch::apiserver::internal {

// The authorizers a server runs, as the reviews need to know them.
// Borrowed pointers; they must outlive the call.
struct ReviewAuthorizers {
  // The server's chain; null when no authorizer is enabled (then every
  // request is allowed, and a rules review lists "*" rules).
  const AuthorizerChain* chain = nullptr;
  // RBAC's roles and bindings; null when RBAC is not enabled.
  const RbacRuleSource* rbac = nullptr;
  // Whether the node authorizer is in the chain: it cannot list what it
  // grants, so rules reviews of node users are incomplete.
  bool node = false;
  // Whether other authorizers are in the chain: rules reviews are then
  // incomplete for everybody.
  bool extra = false;
};

// Whether `kind` is one of the access reviews.
bool IsAccessReview(const api::KindInfo& kind);

// Evaluates the access review `object` (of `kind`, for which
// IsAccessReview() holds) for `caller`, who must already have been allowed
// to create it, and returns it with status filled in. `ns` is the URL's
// namespace (LocalSubjectAccessReview only). Errors: Invalid (422) for a
// spec with neither or both of resource and non-resource attributes, or a
// SubjectAccessReview naming neither user nor groups; BadRequest (400) for
// a LocalSubjectAccessReview whose namespace is not the URL's and for a
// rules review without a namespace.
absl::StatusOr<ObjectPtr> EvaluateAccessReview(const ReviewAuthorizers& authorizers,
                                               const UserInfo& caller, const api::KindInfo& kind,
                                               absl::string_view ns,
                                               std::unique_ptr<google::protobuf::Message> object);

}  // namespace korch::apiserver::internal

#endif  // KORCH_LIB_APISERVER_REGISTRY_REVIEWS_H_
