// Access to the parts every object of the resource model shares, for code
// that handles objects of any kind (the registry, caches, controllers).

#ifndef KORCH_API_OBJECT_H_
#define KORCH_API_OBJECT_H_

#include "google/protobuf/message.h"
#include "korch/api/meta.pb.h"
#include "korch/export.h"

namespace korch::api {

// The object's `metadata`, or null when its kind has none (lists, Status,
// DeleteOptions). Works for generated messages; the result points into
// `object`.
KORCH_EXPORT const ObjectMeta* ObjectMetaOf(const google::protobuf::Message& object);
KORCH_EXPORT ObjectMeta* MutableObjectMetaOf(google::protobuf::Message& object);

// The object's top-level `spec` / `status` field descriptors, or null.
KORCH_EXPORT const google::protobuf::FieldDescriptor* SpecField(
    const google::protobuf::Descriptor* descriptor);
KORCH_EXPORT const google::protobuf::FieldDescriptor* StatusField(
    const google::protobuf::Descriptor* descriptor);

}  // namespace korch::api

#endif  // KORCH_API_OBJECT_H_
