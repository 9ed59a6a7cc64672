#include "registry_reviews.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "korch/api/authorization.pb.h"
#include "korch/api/field_errors.h"
#include "korch/base/status.h"

namespace korch::apiserver::internal {
namespace {

using google::protobuf::DynamicCastToGenerated;
using google::protobuf::Message;

absl::Status BadRequest(absl::string_view message) {
  return WithReason(absl::InvalidArgumentError(message), "BadRequest", 400);
}

// Checks that exactly one of the attributes is set (Kubernetes' rule for
// every access review spec).
void CheckOneAttributes(bool resource, bool non_resource, api::FieldErrorList* errs) {
  if (resource == non_resource) {
    errs->push_back(api::InvalidRendered(
        api::FieldPath("spec").Child("resourceAttributes"), resource ? "{...}" : "null",
        "exactly one of nonResourceAttributes or resourceAttributes must be specified"));
  }
}

Attributes ResourceAttributesOf(const UserInfo& user, const api::ResourceAttributes& r) {
  Attributes a;
  a.user = user;
  a.verb = r.verb();
  a.api_group = r.group();
  a.resource = r.resource();
  a.subresource = r.subresource();
  a.namespace_ = r.namespace_();
  a.name = r.name();
  a.resource_request = true;
  return a;
}

Attributes NonResourceAttributesOf(const UserInfo& user, const api::NonResourceAttributes& n) {
  Attributes a;
  a.user = user;
  a.verb = n.verb();
  a.path = n.path();
  a.resource_request = false;
  return a;
}

// Asks the chain, and writes the decision as Kubernetes reports it: the
// reason of an allow or a deny; nothing when no authorizer had an opinion
// (the reasons korch gives in a 403 would be noise to `kubectl auth can-i`,
// which prints any reason after "no").
void Decide(const ReviewAuthorizers& authorizers, const Attributes& a,
            api::SubjectAccessReviewStatus* status) {
  status->Clear();
  if (authorizers.chain == nullptr) {
    status->set_allowed(true);
    return;
  }
  AuthzResult r = authorizers.chain->Decide(a);
  switch (r.decision) {
    case AuthzResult::Decision::kAllow:
      status->set_allowed(true);
      if (!r.reason.empty()) status->set_reason(r.reason);
      break;
    case AuthzResult::Decision::kDeny:
      status->set_allowed(false);
      status->set_denied(true);
      if (!r.reason.empty()) status->set_reason(r.reason);
      break;
    case AuthzResult::Decision::kNoOpinion:
      status->set_allowed(false);
      break;
  }
}

// The user a SubjectAccessReview asks about, as its spec describes it.
UserInfo SubjectOf(const api::SubjectAccessReviewSpec& spec) {
  UserInfo user;
  user.name = spec.user();
  user.uid = spec.uid();
  user.groups.assign(spec.groups().begin(), spec.groups().end());
  return user;
}

absl::Status CheckSubjectSpec(const api::KindInfo& kind, const api::SubjectAccessReviewSpec& spec,
                              api::FieldErrorList errs) {
  CheckOneAttributes(spec.has_resource_attributes(), spec.has_non_resource_attributes(), &errs);
  if (spec.user().empty() && spec.groups().empty()) {
    errs.push_back(api::Invalid(api::FieldPath("spec").Child("user"), spec.user(),
                                "at least one of user or group must be specified"));
  }
  return api::InvalidStatus(kind.QualifiedKind(), "", errs);
}

void EvaluateSubject(const ReviewAuthorizers& authorizers, const UserInfo& user,
                     const api::SubjectAccessReviewSpec& spec,
                     api::SubjectAccessReviewStatus* status) {
  Attributes a = spec.has_resource_attributes()
                     ? ResourceAttributesOf(user, spec.resource_attributes())
                     : NonResourceAttributesOf(user, spec.non_resource_attributes());
  Decide(authorizers, a, status);
}

bool IsNodeUser(const UserInfo& user) {
  return user.name.size() > sizeof(kNodeUserPrefix) - 1 &&
         absl::string_view(user.name).substr(0, sizeof(kNodeUserPrefix) - 1) == kNodeUserPrefix &&
         std::find(user.groups.begin(), user.groups.end(), kNodesGroup) != user.groups.end();
}

void ListRules(const ReviewAuthorizers& authorizers, const UserInfo& user, absl::string_view ns,
               api::SubjectRulesReviewStatus* status) {
  status->Clear();
  if (authorizers.chain == nullptr) {
    // Everything is allowed.
    api::ResourceRule* r = status->add_resource_rules();
    r->add_verbs("*");
    r->add_api_groups("*");
    r->add_resources("*");
    api::NonResourceRule* n = status->add_non_resource_rules();
    n->add_verbs("*");
    n->add_non_resource_urls("*");
    status->set_incomplete(false);
    return;
  }
  std::vector<std::string> errors;
  bool incomplete = false;
  if (authorizers.node && IsNodeUser(user)) {
    incomplete = true;
    errors.push_back("the node authorizer cannot list the rules it grants");
  }
  if (authorizers.rbac != nullptr) {
    RbacRules rbac = RbacRulesFor(*authorizers.rbac, user, ns);
    for (const api::PolicyRule& rule : rbac.rules) {
      if (!rule.resources().empty()) {
        api::ResourceRule* r = status->add_resource_rules();
        r->mutable_verbs()->CopyFrom(rule.verbs());
        r->mutable_api_groups()->CopyFrom(rule.api_groups());
        r->mutable_resources()->CopyFrom(rule.resources());
        r->mutable_resource_names()->CopyFrom(rule.resource_names());
      }
      if (!rule.non_resource_urls().empty()) {
        api::NonResourceRule* n = status->add_non_resource_rules();
        n->mutable_verbs()->CopyFrom(rule.verbs());
        n->mutable_non_resource_urls()->CopyFrom(rule.non_resource_urls());
      }
    }
    errors.insert(errors.end(), rbac.errors.begin(), rbac.errors.end());
  }
  if (authorizers.extra) {
    incomplete = true;
    errors.push_back("authorizers other than RBAC and Node cannot list the rules they grant");
  }
  status->set_incomplete(incomplete);
  if (!errors.empty()) status->set_evaluation_error(absl::StrJoin(errors, "; "));
}

}  // namespace

bool IsAccessReview(const api::KindInfo& kind) {
  const google::protobuf::Descriptor* d = kind.descriptor;
  return d != nullptr && (d == api::SelfSubjectAccessReview::descriptor() ||
                          d == api::SubjectAccessReview::descriptor() ||
                          d == api::LocalSubjectAccessReview::descriptor() ||
                          d == api::SelfSubjectRulesReview::descriptor());
}

absl::StatusOr<ObjectPtr> EvaluateAccessReview(const ReviewAuthorizers& authorizers,
                                               const UserInfo& caller, const api::KindInfo& kind,
                                               absl::string_view ns,
                                               std::unique_ptr<Message> object) {
  if (object == nullptr || object->GetDescriptor() != kind.descriptor) {
    return BadRequest(absl::StrCat("the body of the request must be a ", kind.kind));
  }
  Message* m = object.get();
  if (auto* review = DynamicCastToGenerated<api::SelfSubjectAccessReview>(m)) {
    const api::SelfSubjectAccessReviewSpec& spec = review->spec();
    api::FieldErrorList errs;
    CheckOneAttributes(spec.has_resource_attributes(), spec.has_non_resource_attributes(), &errs);
    if (absl::Status s = api::InvalidStatus(kind.QualifiedKind(), "", errs); !s.ok()) return s;
    Attributes a = spec.has_resource_attributes()
                       ? ResourceAttributesOf(caller, spec.resource_attributes())
                       : NonResourceAttributesOf(caller, spec.non_resource_attributes());
    Decide(authorizers, a, review->mutable_status());
  } else if (auto* review = DynamicCastToGenerated<api::SubjectAccessReview>(m)) {
    KORCH_RETURN_IF_ERROR(CheckSubjectSpec(kind, review->spec(), {}));
    EvaluateSubject(authorizers, SubjectOf(review->spec()), review->spec(),
                    review->mutable_status());
  } else if (auto* review = DynamicCastToGenerated<api::LocalSubjectAccessReview>(m)) {
    api::SubjectAccessReviewSpec* spec = review->mutable_spec();
    api::FieldErrorList errs;
    if (spec->has_non_resource_attributes()) {
      errs.push_back(api::InvalidRendered(api::FieldPath("spec").Child("nonResourceAttributes"),
                                          "{...}", "disallowed on this kind of request"));
    }
    KORCH_RETURN_IF_ERROR(CheckSubjectSpec(kind, *spec, std::move(errs)));
    api::ResourceAttributes* attrs = spec->mutable_resource_attributes();
    if (attrs->namespace_().empty()) attrs->set_namespace_(std::string(ns));
    if (attrs->namespace_() != ns) {
      return BadRequest(
          absl::StrCat("spec.resourceAttributes.namespace must match namespace: ", ns));
    }
    if (!review->metadata().namespace_().empty() && review->metadata().namespace_() != ns) {
      return BadRequest(absl::StrCat("the namespace of the object (",
                                     review->metadata().namespace_(),
                                     ") does not match the namespace on the request (", ns, ")"));
    }
    EvaluateSubject(authorizers, SubjectOf(*spec), *spec, review->mutable_status());
  } else if (auto* review = DynamicCastToGenerated<api::SelfSubjectRulesReview>(m)) {
    if (review->spec().namespace_().empty()) return BadRequest("no namespace on request");
    ListRules(authorizers, caller, review->spec().namespace_(), review->mutable_status());
  } else {
    return BadRequest(absl::StrCat(kind.kind, " is not an access review"));
  }
  return ObjectPtr(std::move(object));
}

}  // namespace korch::apiserver::internal
