// KORCH_EXPORT marks the symbols that libkorch.so exports. Everything else
// is built with -fvisibility=hidden.
#ifndef KORCH_EXPORT_H_
#define KORCH_EXPORT_H_

#ifndef KORCH_EXPORT
#define KORCH_EXPORT __attribute__((visibility("default")))
#endif

#endif  // KORCH_EXPORT_H_
