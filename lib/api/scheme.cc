#include "korch/api/scheme.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/message.h"
#include "korch/api/apps.pb.h"
#include "korch/api/authorization.pb.h"
#include "korch/api/autoscaling.pb.h"
#include "korch/api/batch.pb.h"
#include "korch/api/coordination.pb.h"
#include "korch/api/core.pb.h"
#include "korch/api/discovery.pb.h"
#include "korch/api/meta.pb.h"
#include "korch/api/options.pb.h"
#include "korch/api/rbac.pb.h"
#include "korch/api/scheduling.pb.h"

namespace korch::api {
namespace {

std::string KindKey(absl::string_view api_version, absl::string_view kind) {
  return absl::StrCat(api_version, "/", kind);
}

void Collect(const google::protobuf::Descriptor* d,
             std::vector<const google::protobuf::Descriptor*>* out) {
  out->push_back(d);
  for (int i = 0; i < d->nested_type_count(); ++i) Collect(d->nested_type(i), out);
}

}  // namespace

std::string KindInfo::QualifiedKind() const {
  return group.empty() ? kind : absl::StrCat(kind, ".", group);
}

std::string KindInfo::QualifiedResource() const {
  return group.empty() ? resource : absl::StrCat(resource, ".", group);
}

Scheme::Scheme(const std::vector<const google::protobuf::FileDescriptor*>& files) {
  std::vector<const google::protobuf::Descriptor*> messages;
  for (const auto* file : files) {
    for (int i = 0; i < file->message_type_count(); ++i) Collect(file->message_type(i), &messages);
  }
  for (const auto* d : messages) {
    const auto& opts = d->options();
    if (!opts.HasExtension(kind)) continue;
    auto info = std::make_unique<KindInfo>();
    info->descriptor = d;
    info->kind = opts.GetExtension(kind);
    info->group = opts.GetExtension(group);
    info->version = opts.GetExtension(version);
    info->api_version =
        info->group.empty() ? info->version : absl::StrCat(info->group, "/", info->version);
    info->resource = opts.GetExtension(resource);
    info->namespaced = opts.GetExtension(namespaced);
    for (absl::string_view s :
         absl::StrSplit(opts.GetExtension(short_names), ',', absl::SkipWhitespace())) {
      info->short_names.emplace_back(s);
    }
    for (absl::string_view v :
         absl::StrSplit(opts.GetExtension(verbs), ',', absl::SkipWhitespace())) {
      info->verbs.emplace_back(v);
    }
    by_kind_[KindKey(info->api_version, info->kind)] = info.get();
    by_descriptor_[d] = info.get();
    if (!info->resource.empty()) {
      by_resource_[KindKey(info->api_version, info->resource)] = info.get();
    }
    kinds_.push_back(std::move(info));
  }
  // Link lists and their items.
  for (auto& info : kinds_) {
    const auto& opts = info->descriptor->options();
    if (!opts.HasExtension(list_item_kind)) continue;
    auto it = by_kind_.find(KindKey(info->api_version, opts.GetExtension(list_item_kind)));
    if (it == by_kind_.end()) continue;
    KindInfo* item = const_cast<KindInfo*>(it->second);
    item->list = info.get();
    info->item = item;
  }
}

const Scheme& Scheme::Builtin() {
  // One message per file is named so that a static link keeps every
  // generated file (and its descriptors) in the program.
  static const Scheme* scheme = new Scheme({
      Status::descriptor()->file(),
      Pod::descriptor()->file(),
      Deployment::descriptor()->file(),
      Job::descriptor()->file(),
      Role::descriptor()->file(),
      Lease::descriptor()->file(),
      PriorityClass::descriptor()->file(),
      Scale::descriptor()->file(),
      EndpointSlice::descriptor()->file(),
      SelfSubjectAccessReview::descriptor()->file(),
  });
  return *scheme;
}

const KindInfo* Scheme::Find(absl::string_view api_version, absl::string_view kind) const {
  auto it = by_kind_.find(KindKey(api_version, kind));
  return it == by_kind_.end() ? nullptr : it->second;
}

const KindInfo* Scheme::FindResource(absl::string_view group, absl::string_view version,
                                     absl::string_view resource) const {
  std::string api_version =
      group.empty() ? std::string(version) : absl::StrCat(group, "/", version);
  auto it = by_resource_.find(KindKey(api_version, resource));
  return it == by_resource_.end() ? nullptr : it->second;
}

const KindInfo* Scheme::Find(const google::protobuf::Descriptor* descriptor) const {
  auto it = by_descriptor_.find(descriptor);
  return it == by_descriptor_.end() ? nullptr : it->second;
}

absl::StatusOr<std::unique_ptr<google::protobuf::Message>> Scheme::New(
    absl::string_view api_version, absl::string_view kind) const {
  const KindInfo* info = Find(api_version, kind);
  if (info == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no kind \"", kind, "\" is registered for version \"", api_version, "\""));
  }
  const google::protobuf::Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(info->descriptor);
  return std::unique_ptr<google::protobuf::Message>(prototype->New());
}

}  // namespace korch::api
