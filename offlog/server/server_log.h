// The server's own log, in the original offlog server's format:
//   [2023-07-03 10:12:21.895 offlog INFO] Listening on socket /tmp/offlog.sock
// INFO goes to stdout, WARNING and above to stderr, everything to the
// --logfile when one is given. Each record is one write() to each sink, so
// records from the acceptor and its writer processes, which share the sinks,
// never interleave within a line.
#ifndef OFFLOG_SERVER_SERVER_LOG_H_
#define OFFLOG_SERVER_SERVER_LOG_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace offlog {

enum class Level { kDebug, kInfo, kWarning, kError, kCritical };

// Opens (appending) the log file that every later record also goes to.
// Called once at start-up, before any writer is forked; forks inherit it.
absl::Status OpenServerLogFile(absl::string_view path);

// Where a process's records go. By default LogRecord writes them itself
// (WriteRecord, blocking as the sinks do); the acceptor installs an
// AsyncLog (async_log.h), so that a full pipe or a slow terminal blocks no
// client, and a writer sends its records to the acceptor over its channel.
class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual void Write(Level level, absl::string_view message) = 0;
};

// Sends this process's records to `sink` from now on (nullptr: back to
// WriteRecord). `sink` must outlive its installation. Set it while the
// process is single-threaded; it is the one mutable global of the log.
void SetLogSink(LogSink* sink);

void LogRecord(Level level, absl::string_view message);

// Formats and writes one record to stdout or stderr and the log file now,
// blocking while they do.
void WriteRecord(Level level, absl::string_view message);

// The log file's descriptor, or -1: forked writers keep it open.
int ServerLogFileFd();

template <typename... Args>
void LogInfo(const absl::FormatSpec<Args...>& fmt, const Args&... args) {
  LogRecord(Level::kInfo, absl::StrFormat(fmt, args...));
}

template <typename... Args>
void LogWarning(const absl::FormatSpec<Args...>& fmt, const Args&... args) {
  LogRecord(Level::kWarning, absl::StrFormat(fmt, args...));
}

template <typename... Args>
void LogError(const absl::FormatSpec<Args...>& fmt, const Args&... args) {
  LogRecord(Level::kError, absl::StrFormat(fmt, args...));
}

// A client-supplied path made safe for a log line: control characters,
// DEL, backslash and bytes that are not UTF-8 become \xNN escapes, so that
// no path can forge or break a record.
std::string EscapeForLog(absl::string_view path);

}  // namespace offlog

#endif  // OFFLOG_SERVER_SERVER_LOG_H_
