// Service ClusterIP and NodePort allocation (internal to korch::apiserver).
//
// Each range is a bitmap kept in the store (/registry/ranges/serviceips,
// /registry/ranges/servicenodeports) and changed with guarded writes, so that
// several API servers on one store never hand out the same address or port
// and allocations survive restarts. The registry allocates before it writes
// a Service and releases when the write fails or the Service is deleted;
// Repair() (run at start) rebuilds both bitmaps from the stored Services so
// that a crash between the two writes leaks nothing. Thread-safe.

#ifndef KORCH_LIB_APISERVER_SERVICE_ALLOCATOR_H_
#define KORCH_LIB_APISERVER_SERVICE_ALLOCATOR_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "korch/store.h"

namespace korch::apiserver::internal {

class ServiceAllocator {
 public:
  // `cidr` is an IPv4 CIDR ("10.96.0.0/12"); the network address and the
  // broadcast address are never handed out. Ports are [port_min, port_max].
  // InvalidArgument for a bad range. `storage` must outlive the allocator.
  static absl::StatusOr<std::unique_ptr<ServiceAllocator>> Create(store::Storage* storage,
                                                                  absl::string_view cidr,
                                                                  int port_min, int port_max);
  virtual ~ServiceAllocator() = default;

  // Allocates `ip`, or the next free address when `ip` is empty (scanning
  // from a rotating offset, like Kubernetes). Errors: kInvalidArgument
  // "provided IP (x) is not in the valid range. The range of valid IPs is
  // 10.96.0.0/12" or "not a valid IP", kAlreadyExists "provided IP is
  // already allocated", kResourceExhausted "range is full".
  virtual absl::StatusOr<std::string> AllocateIP(absl::string_view ip) = 0;
  // Frees `ip` (no error when it was free or outside the range).
  virtual absl::Status ReleaseIP(absl::string_view ip) = 0;
  // The same for node ports; port 0 picks a free one. Errors as above with
  // "provided port is not in the valid range. The range of valid ports is
  // 30000-32767" / "provided port is already allocated" / "range is full".
  virtual absl::StatusOr<int> AllocatePort(int port) = 0;
  virtual absl::Status ReleasePort(int port) = 0;

  // Rebuilds both bitmaps from the Services stored under
  // /registry/services/: what they use is allocated, nothing else is.
  virtual absl::Status Repair() = 0;

  // Free addresses / ports left.
  virtual absl::StatusOr<int64_t> FreeIPs() = 0;
  virtual absl::StatusOr<int64_t> FreePorts() = 0;
};

}  // namespace korch::apiserver::internal

#endif  // KORCH_LIB_APISERVER_SERVICE_ALLOCATOR_H_
