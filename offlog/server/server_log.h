// The server's own log, in the original offlog server's format:
//   [2023-07-03 10:12:21.895 offlog INFO] Listening on socket /tmp/offlog.sock
// INFO goes to stdout, WARNING and above to stderr, everything to the
// --logfile when one is given. Each record is one write() to each sink, so
// records from the acceptor and its writer processes, which share the sinks,
// never interleave within a line.
#ifndef OFFLOG_SERVER_SERVER_LOG_H_
#define OFFLOG_SERVER_SERVER_LOG_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
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
// What a record is about, for journald's fields (OFFLOG_PATH,
// OFFLOG_CLIENT_ID, OFFLOG_CLIENT_UID); the text formats ignore them.
struct LogFields {
  std::string path;        // Raw bytes as the client sent them; "" if none.
  uint64_t client_id = 0;  // 0: none.
  std::optional<uid_t> client_uid;
};

class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual void Write(Level level, absl::string_view message,
                     const LogFields& fields) = 0;
};

// Sends this process's records to `sink` from now on (nullptr: back to
// WriteRecord). `sink` must outlive its installation. Set it while the
// process is single-threaded; it is the one mutable global of the log.
void SetLogSink(LogSink* sink);

void LogRecord(Level level, absl::string_view message,
               const LogFields& fields = {});

// Formats and writes one record to stdout or stderr and the log file now,
// blocking while they do.
void WriteRecord(Level level, absl::string_view message);
// Only to the --logfile, if there is one (when the journal takes the rest).
void WriteRecordToLogFile(Level level, absl::string_view message);

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

// The same, with fields for the journal.
template <typename... Args>
void LogInfo(const LogFields& f, const absl::FormatSpec<Args...>& fmt,
             const Args&... args) {
  LogRecord(Level::kInfo, absl::StrFormat(fmt, args...), f);
}

template <typename... Args>
void LogWarning(const LogFields& f, const absl::FormatSpec<Args...>& fmt,
                const Args&... args) {
  LogRecord(Level::kWarning, absl::StrFormat(fmt, args...), f);
}

template <typename... Args>
void LogError(const LogFields& f, const absl::FormatSpec<Args...>& fmt,
              const Args&... args) {
  LogRecord(Level::kError, absl::StrFormat(fmt, args...), f);
}

// A client-supplied path made safe for a log line, a status table, JSON or
// a metrics label: the result is valid UTF-8 and holds no control
// character, so no path can forge or break a record or rewrite what a
// terminal shows. The scheme, decoded strictly (offlog/common/utf8.h):
//   \xNN    one byte: a byte that is not part of well-formed UTF-8 (an
//           overlong form, a surrogate, above U+10FFFF, truncated), a C0
//           control (0x00..0x1F), DEL (0x7F), or the backslash (\x5c);
//   \uNNNN  one code point (lower-case hex) that controls display: a C1
//           control (U+0080..U+009F), a bidirectional formatting character
//           (U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+206F), the
//           line or paragraph separator (U+2028, U+2029), or U+FEFF;
//   everything else is copied unchanged.
// The mapping is reversible: \xNN stands for byte NN, \uNNNN for the UTF-8
// encoding of U+NNNN, and a backslash never stands for itself.
std::string EscapeForLog(absl::string_view path);

// As EscapeForLog, except that a backslash is copied unchanged: for text
// that should already be EscapeForLog's output but comes from another
// process (a path in a status answer). EscapeForLog's output passes through
// unchanged; anything else comes out as safe as EscapeForLog would make it.
std::string SanitizeEscaped(absl::string_view text);

}  // namespace offlog

#endif  // OFFLOG_SERVER_SERVER_LOG_H_
