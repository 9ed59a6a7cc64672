// The WatchStream of the registry (internal to korch::apiserver): turns the
// store's key events into Kubernetes watch events of one kind, filtered by
// a Selection, with bookmarks and a timeout.

#ifndef KORCH_LIB_APISERVER_REGISTRY_WATCH_H_
#define KORCH_LIB_APISERVER_REGISTRY_WATCH_H_

#include <cstdint>
#include <deque>
#include <memory>

#include "korch/api/scheme.h"
#include "korch/apiserver/request.h"
#include "korch/base/clock.h"
#include "korch/store.h"
#include "registry_select.h"

namespace korch::apiserver::internal {

struct RegistryWatchSetup {
  const api::KindInfo* kind = nullptr;
  Selection selection;
  // The store watch, started after `revision`.
  std::unique_ptr<store::Watcher> watcher;
  // Synthetic ADDED events delivered first (resourceVersion "" or "0").
  std::deque<WatchEvent> initial;
  // The revision the stream is known to be complete up to at its start.
  int64_t revision = 0;
  // Times the watch timeout and bookmarks; borrowed.
  Clock* clock = nullptr;
  bool allow_bookmarks = false;
  absl::Duration bookmark_interval = absl::Minutes(1);
  absl::Duration timeout = absl::ZeroDuration();
  // The resourceVersion the client asked for, for error messages.
  std::string requested_resource_version;
};

std::unique_ptr<WatchStream> NewRegistryWatch(RegistryWatchSetup setup);

}  // namespace korch::apiserver::internal

#endif  // KORCH_LIB_APISERVER_REGISTRY_WATCH_H_
