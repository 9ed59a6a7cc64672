// The per-kind printers behind korch/apiserver/table.h: which columns a
// kind's Table has and how one object becomes one row. table.cc frames the
// Table; table_printers.cc holds the printers.
#ifndef KORCH_LIB_APISERVER_TABLE_INTERNAL_H_
#define KORCH_LIB_APISERVER_TABLE_INTERNAL_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "nlohmann/json.hpp"

namespace korch::apiserver::table_internal {

struct Column {
  absl::string_view name;
  absl::string_view type;
  absl::string_view format;
  absl::string_view description;
  int priority = 0;
};

struct Row {
  // One JSON value per column, in column order.
  nlohmann::json cells = nlohmann::json::array();
  // meta.k8s.io TableRowConditions ([{type, status, reason, message}]), or
  // null for none.
  nlohmann::json conditions;
};

// Fills `row` from `object`, which has the printer's message type (a
// generated message or a dynamic one of the same descriptor).
using RowFunction = void (*)(const google::protobuf::Message& object, absl::Time now, Row* row);

struct Printer {
  std::vector<Column> columns;
  RowFunction row = nullptr;
};

// The printer of objects of type `descriptor`: a kind's own, or the generic
// Name/Age one. Never null; the printers live for the whole program.
const Printer& PrinterFor(const google::protobuf::Descriptor* descriptor);

}  // namespace korch::apiserver::table_internal

#endif  // KORCH_LIB_APISERVER_TABLE_INTERNAL_H_
