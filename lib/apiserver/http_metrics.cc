#include "http_metrics.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace korch::apiserver::internal {
namespace {

// A label value in the text format: backslash, quote and newline escaped.
std::string Escape(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string Number(double v) { return absl::StrFormat("%g", v); }

void Header(std::string* out, absl::string_view name, absl::string_view type,
            absl::string_view help) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

}  // namespace

HttpMetrics::Key HttpMetrics::KeyOf(const RequestLabels& l) {
  return Key(l.verb, l.group, l.version, l.resource, l.subresource, l.scope);
}

void HttpMetrics::Started(bool mutating) {
  (mutating ? inflight_mutating_ : inflight_read_).fetch_add(1, std::memory_order_relaxed);
}

void HttpMetrics::EndInflight(bool mutating) {
  (mutating ? inflight_mutating_ : inflight_read_).fetch_sub(1, std::memory_order_relaxed);
}

void HttpMetrics::Record(const RequestLabels& labels, int code, absl::Duration latency) {
  requests_total_.fetch_add(1, std::memory_order_relaxed);
  Key key = KeyOf(labels);
  const double seconds = absl::ToDoubleSeconds(latency);
  absl::MutexLock lock(&mu_);
  ++requests_[std::make_tuple(key, code)];
  if (labels.verb == "WATCH") return;
  Histogram& h = latency_[key];
  size_t i = 0;
  while (i < kBuckets.size() && seconds > kBuckets[i]) ++i;
  if (i < kBuckets.size()) ++h.counts[i];
  ++h.count;
  h.sum += seconds;
}

void HttpMetrics::WatchOpened(const RequestLabels& labels) {
  watches_.fetch_add(1, std::memory_order_relaxed);
  absl::MutexLock lock(&mu_);
  ++watchers_[std::make_tuple(labels.group, labels.version, labels.resource)];
}

void HttpMetrics::WatchClosed(const RequestLabels& labels) {
  watches_.fetch_sub(1, std::memory_order_relaxed);
  absl::MutexLock lock(&mu_);
  auto it = watchers_.find(std::make_tuple(labels.group, labels.version, labels.resource));
  if (it != watchers_.end()) --it->second;
}

int64_t HttpMetrics::inflight() const {
  return inflight_read_.load(std::memory_order_relaxed) +
         inflight_mutating_.load(std::memory_order_relaxed);
}

std::string HttpMetrics::Render(store::Storage& storage) const {
  std::string out;
  auto labels = [](const Key& k) {
    const auto& [verb, group, version, resource, subresource, scope] = k;
    return absl::StrCat("verb=\"", Escape(verb), "\",group=\"", Escape(group), "\",version=\"",
                        Escape(version), "\",resource=\"", Escape(resource), "\",subresource=\"",
                        Escape(subresource), "\",scope=\"", Escape(scope), "\"");
  };
  {
    absl::MutexLock lock(&mu_);
    Header(&out, "apiserver_request_total", "counter",
           "Requests by verb, group, version, resource, subresource, scope and HTTP code.");
    for (const auto& [key_code, n] : requests_) {
      const auto& [key, code] = key_code;
      absl::StrAppend(&out, "apiserver_request_total{", labels(key), ",code=\"", code, "\"} ", n,
                      "\n");
    }
    Header(&out, "apiserver_request_duration_seconds", "histogram",
           "Response latency by verb, group, version, resource, subresource and scope "
           "(watches excluded).");
    for (const auto& [key, h] : latency_) {
      const std::string l = labels(key);
      uint64_t cumulative = 0;
      for (size_t i = 0; i < kBuckets.size(); ++i) {
        cumulative += h.counts[i];
        absl::StrAppend(&out, "apiserver_request_duration_seconds_bucket{", l, ",le=\"",
                        Number(kBuckets[i]), "\"} ", cumulative, "\n");
      }
      absl::StrAppend(&out, "apiserver_request_duration_seconds_bucket{", l, ",le=\"+Inf\"} ",
                      h.count, "\n");
      absl::StrAppend(&out, "apiserver_request_duration_seconds_sum{", l, "} ", Number(h.sum),
                      "\n");
      absl::StrAppend(&out, "apiserver_request_duration_seconds_count{", l, "} ", h.count, "\n");
    }
    Header(&out, "apiserver_registered_watchers", "gauge",
           "Open watch streams by group, version and resource.");
    for (const auto& [gvr, n] : watchers_) {
      const auto& [group, version, resource] = gvr;
      absl::StrAppend(&out, "apiserver_registered_watchers{group=\"", Escape(group),
                      "\",version=\"", Escape(version), "\",resource=\"", Escape(resource), "\"} ",
                      n, "\n");
    }
  }
  Header(&out, "apiserver_current_inflight_requests", "gauge",
         "Requests being served, by kind (readOnly or mutating).");
  absl::StrAppend(&out, "apiserver_current_inflight_requests{request_kind=\"readOnly\"} ",
                  inflight_read_.load(std::memory_order_relaxed), "\n");
  absl::StrAppend(&out, "apiserver_current_inflight_requests{request_kind=\"mutating\"} ",
                  inflight_mutating_.load(std::memory_order_relaxed), "\n");
  Header(&out, "apiserver_longrunning_requests", "gauge", "Open watch streams.");
  absl::StrAppend(&out, "apiserver_longrunning_requests{verb=\"WATCH\"} ", watches(), "\n");
  Header(&out, "korch_http_open_connections", "gauge", "Open HTTP connections.");
  absl::StrAppend(&out, "korch_http_open_connections ", connections(), "\n");

  store::StorageStats stats = storage.Stats();
  absl::StatusOr<int64_t> revision = storage.CurrentRevision();
  Header(&out, "korch_store_revision", "gauge", "The store's current revision.");
  absl::StrAppend(&out, "korch_store_revision ", revision.ok() ? *revision : stats.current_revision,
                  "\n");
  Header(&out, "korch_store_compacted_revision", "gauge",
         "The revision before which the store's history is compacted.");
  absl::StrAppend(&out, "korch_store_compacted_revision ", stats.compacted_revision, "\n");
  Header(&out, "korch_store_keys", "gauge", "Keys in the store.");
  absl::StrAppend(&out, "korch_store_keys ", stats.keys, "\n");
  Header(&out, "korch_store_watchers", "gauge", "Store watchers (of every client).");
  absl::StrAppend(&out, "korch_store_watchers ", stats.watchers, "\n");
  Header(&out, "korch_store_window_events", "gauge", "Events held in memory for watch fan-out.");
  absl::StrAppend(&out, "korch_store_window_events ", stats.window_events, "\n");
  return out;
}

}  // namespace korch::apiserver::internal
