// Early-return helpers for absl::Status, private to the client library.
#ifndef OFFLOG_CLIENT_STATUS_MACROS_H_
#define OFFLOG_CLIENT_STATUS_MACROS_H_

#include "absl/status/status.h"

// Returns from the enclosing function if `expr` is not OK.
#define OFFLOG_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::absl::Status offlog_status_ = (expr);          \
    if (!offlog_status_.ok()) return offlog_status_; \
  } while (0)

#define OFFLOG_STATUS_CONCAT_INNER_(a, b) a##b
#define OFFLOG_STATUS_CONCAT_(a, b) OFFLOG_STATUS_CONCAT_INNER_(a, b)

// `lhs = *expr` for an absl::StatusOr `expr`, or returns its error.
#define OFFLOG_ASSIGN_OR_RETURN(lhs, expr) \
  OFFLOG_ASSIGN_OR_RETURN_IMPL_(           \
      OFFLOG_STATUS_CONCAT_(offlog_statusor_, __LINE__), lhs, expr)
#define OFFLOG_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return statusor.status();            \
  lhs = std::move(statusor).value()

#endif  // OFFLOG_CLIENT_STATUS_MACROS_H_
