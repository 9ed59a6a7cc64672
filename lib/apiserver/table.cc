#include "korch/apiserver/table.h"

#include <exception>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "korch/api/codec.h"
#include "korch/api/object.h"
#include "korch/base/clock.h"
#include "table_internal.h"

namespace korch::apiserver {
namespace {

using json = nlohmann::json;
using table_internal::Column;
using table_internal::Printer;
using table_internal::Row;

constexpr absl::string_view kTableV1 = "meta.k8s.io/v1";
constexpr absl::string_view kTableV1Beta1 = "meta.k8s.io/v1beta1";

// ---- Accept ---------------------------------------------------------------------------

struct MediaRange {
  // "application/json", lower case.
  std::string type;
  // Parameters other than q; names in lower case, values as sent (unquoted).
  std::vector<std::pair<std::string, std::string>> params;
  double q = 1.0;

  const std::string* Param(absl::string_view name) const {
    for (const auto& [k, v] : params) {
      if (k == name) return &v;
    }
    return nullptr;
  }
};

// The well-formed ranges of an Accept header, in order. Quoted parameter
// values are unquoted; none of the values clients send contain ',' or ';'.
std::vector<MediaRange> ParseAccept(absl::string_view accept) {
  std::vector<MediaRange> ranges;
  for (absl::string_view part : absl::StrSplit(accept, ',')) {
    std::vector<absl::string_view> pieces = absl::StrSplit(part, ';');
    MediaRange range;
    range.type = absl::AsciiStrToLower(absl::StripAsciiWhitespace(pieces[0]));
    std::vector<absl::string_view> type_subtype = absl::StrSplit(range.type, '/');
    if (type_subtype.size() != 2 || type_subtype[0].empty() || type_subtype[1].empty()) continue;
    bool ok = true;
    for (size_t i = 1; i < pieces.size() && ok; ++i) {
      absl::string_view p = absl::StripAsciiWhitespace(pieces[i]);
      if (p.empty()) continue;
      std::pair<absl::string_view, absl::string_view> kv =
          absl::StrSplit(p, absl::MaxSplits('=', 1));
      std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(kv.first));
      absl::string_view value = absl::StripAsciiWhitespace(kv.second);
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      if (name == "q") {
        ok = absl::SimpleAtod(value, &range.q) && range.q >= 0 && range.q <= 1;
      } else {
        range.params.emplace_back(std::move(name), std::string(value));
      }
    }
    if (ok) ranges.push_back(std::move(range));
  }
  return ranges;
}

// What korch answers for one media range; nullopt if it cannot produce it.
std::optional<ResponseFormat> FormatFor(const MediaRange& range) {
  if (range.type == "*/*" || range.type == "application/*") return ResponseFormat{};
  if (range.type != "application/json") return std::nullopt;
  const std::string* as = range.Param("as");
  if (as == nullptr) return ResponseFormat{};
  const std::string* g = range.Param("g");
  const std::string* v = range.Param("v");
  if (*as != "Table" || g == nullptr || *g != "meta.k8s.io" || v == nullptr ||
      (*v != "v1" && *v != "v1beta1")) {
    return std::nullopt;
  }
  ResponseFormat format;
  format.kind = ResponseKind::kTable;
  format.table_api_version = absl::StrCat("meta.k8s.io/", *v);
  format.content_type = absl::StrCat("application/json;as=Table;v=", *v, ";g=meta.k8s.io");
  return format;
}

// ---- Writing JSON -------------------------------------------------------------------

// Compact JSON; invalid UTF-8 (a cell copied from an event message, say) is
// replaced rather than thrown about.
void AppendValue(const json& value, std::string* out) {
  out->append(value.dump(-1, ' ', false, json::error_handler_t::replace));
}

json Metadata(const TableOptions& options) {
  json meta = json::object();
  if (!options.resource_version.empty()) meta["resourceVersion"] = options.resource_version;
  if (!options.continue_token.empty()) meta["continue"] = options.continue_token;
  if (options.remaining_item_count >= 0) meta["remainingItemCount"] = options.remaining_item_count;
  return meta;
}

json ColumnDefinitions(const Printer& printer) {
  json columns = json::array();
  for (const Column& c : printer.columns) {
    columns.push_back(json{{"name", std::string(c.name)},
                           {"type", std::string(c.type)},
                           {"format", std::string(c.format)},
                           {"description", std::string(c.description)},
                           {"priority", c.priority}});
  }
  return columns;
}

void AppendRow(const google::protobuf::Message& object, const Printer& printer,
               const TableOptions& options, absl::Time now, std::string* out) {
  Row row;
  printer.row(object, now, &row);
  out->append("{\"cells\":");
  AppendValue(row.cells, out);
  if (row.conditions.is_array()) {
    out->append(",\"conditions\":");
    AppendValue(row.conditions, out);
  }
  switch (options.include_object) {
    case IncludeObject::kNone:
      break;
    case IncludeObject::kObject:
      out->append(",\"object\":");
      api::AppendJson(object, api::EncodeOptions{}, out);
      break;
    case IncludeObject::kMetadata: {
      // Only the metadata is encoded: listing 1,000 pods must not encode
      // 1,000 pod specs nobody reads.
      absl::StrAppend(out, ",\"object\":{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"",
                      options.api_version, "\",\"metadata\":");
      const api::ObjectMeta* meta = api::ObjectMetaOf(object);
      if (meta == nullptr) {
        out->append("{}");
      } else {
        api::AppendJson(*meta, api::EncodeOptions{.type_meta = false}, out);
      }
      out->push_back('}');
      break;
    }
  }
  out->push_back('}');
}

}  // namespace

// ---- Negotiation ------------------------------------------------------------------------

absl::StatusOr<ResponseFormat> NegotiateResponseFormat(absl::string_view accept) {
  std::vector<MediaRange> ranges = ParseAccept(accept);
  if (ranges.empty()) return ResponseFormat{};
  std::optional<ResponseFormat> best;
  double best_q = 0;
  for (const MediaRange& range : ranges) {
    if (range.q <= 0 || (best.has_value() && range.q <= best_q)) continue;
    std::optional<ResponseFormat> format = FormatFor(range);
    if (!format.has_value()) continue;
    best = std::move(format);
    best_q = range.q;
  }
  if (!best.has_value()) {
    return WithReason(
        absl::InvalidArgumentError("only the following media types are accepted: application/json, "
                                   "application/json;as=Table;v=v1;g=meta.k8s.io, "
                                   "application/json;as=Table;v=v1beta1;g=meta.k8s.io"),
        "NotAcceptable", 406);
  }
  return *std::move(best);
}

absl::StatusOr<IncludeObject> ParseIncludeObject(absl::string_view value) {
  if (value.empty() || value == "Metadata") return IncludeObject::kMetadata;
  if (value == "Object") return IncludeObject::kObject;
  if (value == "None") return IncludeObject::kNone;
  return WithReason(absl::InvalidArgumentError(
                        absl::StrFormat("unrecognized includeObject value: \"%s\"", value)),
                    "BadRequest", 400);
}

// ---- Conversion --------------------------------------------------------------------------

std::vector<TableColumn> TableColumns(const api::KindInfo& kind) {
  const api::KindInfo& item = kind.item != nullptr ? *kind.item : kind;
  std::vector<TableColumn> columns;
  for (const Column& c : table_internal::PrinterFor(item.descriptor).columns) {
    columns.push_back(TableColumn{std::string(c.name), std::string(c.type), std::string(c.format),
                                  std::string(c.description), c.priority});
  }
  return columns;
}

absl::Status AppendTableJson(const api::KindInfo& kind, absl::Span<const ObjectPtr> objects,
                             const TableOptions& options, std::string* out) {
  const api::KindInfo& item = kind.item != nullptr ? *kind.item : kind;
  if (options.api_version != kTableV1 && options.api_version != kTableV1Beta1) {
    return absl::InvalidArgumentError(absl::StrCat("no Table for apiVersion \"",
                                                   options.api_version,
                                                   "\": meta.k8s.io/v1 or v1beta1 expected"));
  }
  for (size_t i = 0; i < objects.size(); ++i) {
    if (objects[i] == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("object ", i, " of the Table is null"));
    }
    const google::protobuf::Descriptor* d = objects[i]->GetDescriptor();
    if (item.descriptor != nullptr && d->full_name() != item.descriptor->full_name()) {
      return absl::InvalidArgumentError(absl::StrCat("a Table of ", item.kind, " cannot hold a ",
                                                     api::KindOf(d), " (object ", i, ")"));
    }
  }
  const Printer& printer = table_internal::PrinterFor(item.descriptor);
  const absl::Time now = options.now == absl::InfinitePast() ? RealClock()->Now() : options.now;

  const size_t start = out->size();
  // nlohmann::json reports misuse with exceptions; none may leave korch.
  try {
    absl::StrAppend(out, "{\"kind\":\"Table\",\"apiVersion\":\"", options.api_version,
                    "\",\"metadata\":");
    AppendValue(Metadata(options), out);
    if (!options.no_headers) {
      out->append(",\"columnDefinitions\":");
      AppendValue(ColumnDefinitions(printer), out);
    }
    out->append(",\"rows\":[");
    for (size_t i = 0; i < objects.size(); ++i) {
      if (i > 0) out->push_back(',');
      AppendRow(*objects[i], printer, options, now, out);
    }
    out->append("]}");
  } catch (const std::exception& e) {
    out->resize(start);
    return absl::InternalError(absl::StrCat("building the Table of ", item.kind, ": ", e.what()));
  }
  return absl::OkStatus();
}

absl::StatusOr<json> ToTable(const api::KindInfo& kind, absl::Span<const ObjectPtr> objects,
                             const TableOptions& options) {
  std::string text;
  absl::Status s = AppendTableJson(kind, objects, options, &text);
  if (!s.ok()) return s;
  json table = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (table.is_discarded()) {
    return absl::InternalError(absl::StrCat("the Table of ", kind.kind, " is not valid JSON"));
  }
  return table;
}

// ---- Formatting ---------------------------------------------------------------------------

std::string HumanDuration(absl::Duration d) {
  const int64_t seconds = absl::ToInt64Seconds(d);
  // Clocks of different machines disagree a little: a timestamp less than
  // two seconds ahead still reads as "now".
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 2 * 60) return absl::StrCat(seconds, "s");
  const int64_t minutes = absl::ToInt64Minutes(d);
  if (minutes < 10) {
    const int64_t s = seconds % 60;
    return s == 0 ? absl::StrCat(minutes, "m") : absl::StrCat(minutes, "m", s, "s");
  }
  if (minutes < 3 * 60) return absl::StrCat(minutes, "m");
  const int64_t hours = absl::ToInt64Hours(d);
  if (hours < 8) {
    const int64_t m = minutes % 60;
    return m == 0 ? absl::StrCat(hours, "h") : absl::StrCat(hours, "h", m, "m");
  }
  if (hours < 48) return absl::StrCat(hours, "h");
  const int64_t days = hours / 24;
  if (hours < 8 * 24) {
    const int64_t h = hours % 24;
    return h == 0 ? absl::StrCat(days, "d") : absl::StrCat(days, "d", h, "h");
  }
  if (hours < 2 * 365 * 24) return absl::StrCat(days, "d");
  const int64_t years = days / 365;
  if (hours < 8 * 365 * 24) {
    const int64_t dy = days % 365;
    return dy == 0 ? absl::StrCat(years, "y") : absl::StrCat(years, "y", dy, "d");
  }
  return absl::StrCat(years, "y");
}

}  // namespace korch::apiserver
