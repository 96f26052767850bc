// Logger: the original offlog Logger, in C++.
//
// Writes each record to a file (through the offlog server, or to an
// ordinary local file), to stdout and to stderr, each with its own minimum
// level. A record looks like
//
//   [2023-07-03 10:12:54.796 my app INFO] Hello world, params are foo 7
//
// (local time, milliseconds; "[2023-07-03 10:12:54.796 INFO] ..." when the
// logger has no name), byte for byte as the Python original writes it.
//
// By default DEBUG and up go to the file, INFO to stdout, and WARNING and up
// to stderr (a record goes to stderr instead of stdout, never both).
//
// Example:
//
//   offlog::LoggerOptions options;
//   options.name = "my app";
//   options.filepath = "/tmp/myapp.log";
//   absl::StatusOr<offlog::Logger> logger = offlog::Logger::Open(options);
//   if (!logger.ok()) return logger.status();
//   logger->Info("Hello world, params are %s %d", "foo", 7).IgnoreError();
//   try {
//     ...
//   } catch (...) {
//     logger->Exception("Got an error").IgnoreError();
//   }
//
// Messages given with arguments are formatted by absl::StrFormat, checked at
// compile time; a message without arguments is written as it is ('%' and
// all). Each call returns the error of the file write, if any; like a
// ProxyFile, the logger never blocks on the file. When the server reports
// that the file was rotated, the logger closes it (blocking only if the
// socket is full) and reopens it without blocking; a reopen that fails is
// retried by the next record (FollowingFile does this).
//
// The file's records queue in the client while the server cannot take them,
// up to offlog_max_queued_bytes; beyond that the policy decides (by default
// they are dropped, whole). After a gap, the next record written to the
// file is preceded by one WARNING record saying how many records were lost
// and between which times, e.g.
//
//   [2023-07-03 10:12:55.002 my app WARNING] offlog: 12 records lost
//   between 2023-07-03 10:12:54.796 and 2023-07-03 10:12:55.001 (the
//   client's queue was full)
//
// (on one line). WaitWritten() returns once the records are in the file.
//
// A Logger is not thread-safe: give each thread its own, or guard one.
#ifndef OFFLOG_CLIENT_LOGGER_H_
#define OFFLOG_CLIENT_LOGGER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "offlog/client/following_file.h"
#include "offlog/client/proxy_file.h"
#include "offlog/common/protocol.h"
#include "offlog/common/unique_fd.h"

namespace offlog {

// Python's logging levels, with the same numbers.
enum class LogLevel : int {
  kDebug = 10,
  kInfo = 20,
  kWarning = 30,
  kError = 40,
  kCritical = 50,
};

// "DEBUG", "INFO", "WARNING", "ERROR" or "CRITICAL".
absl::string_view LogLevelName(LogLevel level);

struct LoggerOptions {
  // Shown in every record; empty for none.
  std::string name;
  // The log file; empty for none.
  std::string filepath;
  // Minimum levels per destination; nullopt switches a destination off.
  std::optional<LogLevel> file_level = LogLevel::kDebug;
  std::optional<LogLevel> stdout_level = LogLevel::kInfo;
  std::optional<LogLevel> stderr_level = LogLevel::kWarning;
  // Append to `filepath` directly instead of through the server.
  bool local_file = false;
  // The server's socket and the timeout for blocking exchanges with it, as
  // in ProxyFileOptions.
  std::string offlog_socket_path = std::string(kDefaultSocketPath);
  int offlog_timeout_ms = kDefaultTimeoutMs;
  // The bound on records queued in this process and what happens to those
  // beyond it, as ProxyFileOptions' max_queued_bytes, overflow_policy and
  // overflow_block_ms. A record is queued whole or dropped whole.
  size_t offlog_max_queued_bytes = kDefaultMaxQueuedBytes;
  OverflowPolicy offlog_overflow_policy = OverflowPolicy::kDrop;
  int offlog_overflow_block_ms = kDefaultTimeoutMs;
  // Batching, as ProxyFileOptions' linger_us (0, the default, is off) and
  // batch_bytes: records may be held in this process for up to
  // offlog_linger_us microseconds, and a crash can lose that much.
  int64_t offlog_linger_us = 0;
  size_t offlog_batch_bytes = kDefaultBatchBytes;
  // Where record times come from, and their time zone. For tests.
  std::function<absl::Time()> clock = absl::Now;
  absl::TimeZone time_zone = absl::LocalTimeZone();
};

class Logger {
 public:
  // Opens the file (blocking until the server confirms it, up to the
  // timeout) unless there is none.
  static absl::StatusOr<Logger> Open(LoggerOptions options);

  Logger(Logger&&) = default;
  Logger& operator=(Logger&&) = default;
  // Close()s, ignoring errors.
  ~Logger();

  // Logs `message` as it is, or the absl::StrFormat of `format` and `args`.
  absl::Status Log(LogLevel level, absl::string_view message) {
    return Emit(level, message, false);
  }
  template <typename A, typename... As>
  absl::Status Log(LogLevel level, const absl::FormatSpec<A, As...>& format,
                   const A& arg, const As&... args) {
    if (!Enabled(level)) return absl::OkStatus();
    return Emit(level, absl::StrFormat(format, arg, args...), false);
  }

#define OFFLOG_LOGGER_LEVEL_METHODS_(Method, level, with_exception)            \
  absl::Status Method(absl::string_view message) {                             \
    return Emit(level, message, with_exception);                               \
  }                                                                            \
  template <typename A, typename... As>                                        \
  absl::Status Method(const absl::FormatSpec<A, As...>& format, const A& arg,  \
                      const As&... args) {                                     \
    if (!Enabled(level)) return absl::OkStatus();                              \
    return Emit(level, absl::StrFormat(format, arg, args...), with_exception); \
  }

  OFFLOG_LOGGER_LEVEL_METHODS_(Debug, LogLevel::kDebug, false)
  OFFLOG_LOGGER_LEVEL_METHODS_(Info, LogLevel::kInfo, false)
  OFFLOG_LOGGER_LEVEL_METHODS_(Warning, LogLevel::kWarning, false)
  OFFLOG_LOGGER_LEVEL_METHODS_(Error, LogLevel::kError, false)
  OFFLOG_LOGGER_LEVEL_METHODS_(Critical, LogLevel::kCritical, false)
  // At ERROR, followed by a line naming the exception being handled and
  // its what() ("std::runtime_error: boom"), or "NoneType: None" outside a
  // handler, where the original appends a Python traceback.
  OFFLOG_LOGGER_LEVEL_METHODS_(Exception, LogLevel::kError, true)
#undef OFFLOG_LOGGER_LEVEL_METHODS_

  // Returns the whole record for `message` at `level` as it would be
  // written now, newline included.
  std::string Format(LogLevel level, absl::string_view message,
                     bool with_exception = false) const;

  // Blocks until every record written so far is in the file, or until
  // `deadline`, as ProxyFile::WaitWritten() (a pending "records lost" line
  // is written first). Covers the records written to a file before the
  // logger followed its rotation too (up to RetiredFiles::kMaxFiles
  // rotations back). OK at once for a local file or no file.
  absl::Status WaitWritten(absl::Time deadline);

  // Records not written to the file because the queue was full, since
  // Open(). Never reset.
  uint64_t dropped_records() const {
    return file_.has_value() ? file_->dropped_records() : 0;
  }

  // Closes the file, as ProxyFile::Close() (the flags are ignored for a
  // local file), after writing a pending "records lost" line. Idempotent.
  absl::Status Close(bool block_send = true, bool block_close = true);

 private:
  explicit Logger(LoggerOptions options);

  bool Enabled(LogLevel level) const {
    return min_level_.has_value() && level >= *min_level_;
  }
  bool HasFile() const {
    return options_.file_level.has_value() && !options_.filepath.empty();
  }
  absl::Status Emit(LogLevel level, absl::string_view message,
                    bool with_exception);
  // Opens the file (blocking until the server confirms it).
  absl::Status OpenFile();
  // Opens the local file; a failure leaves the reopen pending.
  absl::Status OpenLocal();
  // Follows the rotation of the file (FollowingFile follows it through the
  // server; the local file is checked here), and writes `record`, made at
  // `when`, to it if `level` is at or above file_level.
  absl::Status ToFile(LogLevel level, absl::string_view record,
                      absl::Time when);
  // Reopens the local file if it was rotated, or if reopening it failed.
  absl::Status FollowLocal();
  absl::StatusOr<bool> LocalFileRotated() const;
  std::string FormatAt(absl::Time when, LogLevel level,
                       absl::string_view message, bool with_exception) const;
  absl::Status WriteLocal(absl::string_view record);

  LoggerOptions options_;
  std::optional<LogLevel> min_level_;
  // Through the server: rotation following, gaps and retired files.
  std::optional<FollowingFile> file_;
  // Or a local file.
  UniqueFd local_;
  bool local_reopen_pending_ = false;
};

}  // namespace offlog

#endif  // OFFLOG_CLIENT_LOGGER_H_
