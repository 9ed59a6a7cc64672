#include "korch/api/object.h"

#include "google/protobuf/descriptor.h"

namespace korch::api {
namespace {

const google::protobuf::FieldDescriptor* MetaField(const google::protobuf::Descriptor* d) {
  const google::protobuf::FieldDescriptor* f = d->FindFieldByName("metadata");
  if (f == nullptr || f->is_repeated() || f->message_type() != ObjectMeta::descriptor()) {
    return nullptr;
  }
  return f;
}

const google::protobuf::FieldDescriptor* MessageField(const google::protobuf::Descriptor* d,
                                                      const char* name) {
  const google::protobuf::FieldDescriptor* f = d->FindFieldByName(name);
  if (f == nullptr || f->is_repeated() ||
      f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
    return nullptr;
  }
  return f;
}

}  // namespace

const ObjectMeta* ObjectMetaOf(const google::protobuf::Message& object) {
  const google::protobuf::FieldDescriptor* f = MetaField(object.GetDescriptor());
  if (f == nullptr) return nullptr;
  return google::protobuf::DynamicCastToGenerated<ObjectMeta>(
      &object.GetReflection()->GetMessage(object, f));
}

ObjectMeta* MutableObjectMetaOf(google::protobuf::Message& object) {
  const google::protobuf::FieldDescriptor* f = MetaField(object.GetDescriptor());
  if (f == nullptr) return nullptr;
  return google::protobuf::DynamicCastToGenerated<ObjectMeta>(
      object.GetReflection()->MutableMessage(&object, f));
}

const google::protobuf::FieldDescriptor* SpecField(const google::protobuf::Descriptor* descriptor) {
  return MessageField(descriptor, "spec");
}

const google::protobuf::FieldDescriptor* StatusField(
    const google::protobuf::Descriptor* descriptor) {
  return MessageField(descriptor, "status");
}

}  // namespace korch::api
