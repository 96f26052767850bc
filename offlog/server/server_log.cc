#include "offlog/server/server_log.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "offlog/common/timefmt.h"
#include "offlog/common/utf8.h"

namespace offlog {
namespace {

// The log file descriptor: set once before any fork, then only read.
int log_file_fd = -1;
// Set while single-threaded (SetLogSink).
LogSink* log_sink = nullptr;

absl::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "DEBUG";
    case Level::kInfo:
      return "INFO";
    case Level::kWarning:
      return "WARNING";
    case Level::kError:
      return "ERROR";
    case Level::kCritical:
      return "CRITICAL";
  }
  return "INFO";
}

void WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // A broken log sink must not take the server down.
    data.remove_prefix(n);
  }
}

// Code points that can change what a terminal or an editor shows around
// them: C1 controls (NEL, 8-bit CSI, ...), the bidirectional formatting
// characters (ALM, LRM, RLM, LRE..RLO, LRI..PDI and the deprecated
// U+206A..U+206F), the line and paragraph separators and the BOM. The C0
// controls and DEL are ASCII and handled bytewise.
bool IsDisplayControl(uint32_t c) {
  return (c >= 0x80 && c <= 0x9F) || c == 0x061C || c == 0x200E ||
         c == 0x200F || (c >= 0x2028 && c <= 0x202E) ||
         (c >= 0x2066 && c <= 0x206F) || c == 0xFEFF;
}

// Appends `\<kind>` and `value` as `digits` lower-case hex digits.
void AppendHexEscape(char kind, uint32_t value, int digits, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('\\');
  out->push_back(kind);
  for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4) {
    out->push_back(kHex[(value >> shift) & 0xF]);
  }
}

// The scheme EscapeForLog documents; `keep_backslash` for SanitizeEscaped.
std::string Escape(absl::string_view text, bool keep_backslash) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    Utf8Char c = DecodeUtf8(text, i);
    uint32_t cp = c.code_point;
    if (!c.valid || cp < 0x20 || cp == 0x7F ||
        (cp == '\\' && !keep_backslash)) {
      AppendHexEscape('x', cp, 2, &out);
    } else if (IsDisplayControl(cp)) {
      AppendHexEscape('u', cp, 4, &out);
    } else {
      out.append(text.data() + i, c.length);
    }
    i += c.length;
  }
  return out;
}

}  // namespace

absl::Status OpenServerLogFile(absl::string_view path) {
  std::string p(path);
  int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  log_file_fd = fd;
  return absl::OkStatus();
}

int ServerLogFileFd() { return log_file_fd; }

void SetLogSink(LogSink* sink) { log_sink = sink; }

void LogRecord(Level level, absl::string_view message,
               const LogFields& fields) {
  if (log_sink != nullptr) {
    log_sink->Write(level, message, fields);
  } else {
    WriteRecord(level, message);
  }
}

void WriteRecord(Level level, absl::string_view message) {
  std::string record =
      absl::StrCat(FormatRecordPrefix(absl::Now(), absl::LocalTimeZone(),
                                      "offlog", LevelName(level)),
                   message, "\n");
  if (level >= Level::kWarning) {
    WriteAll(STDERR_FILENO, record);
  } else if (level >= Level::kInfo) {
    WriteAll(STDOUT_FILENO, record);
  }
  if (log_file_fd >= 0) WriteAll(log_file_fd, record);
}

void WriteRecordToLogFile(Level level, absl::string_view message) {
  if (log_file_fd < 0) return;
  WriteAll(log_file_fd,
           absl::StrCat(FormatRecordPrefix(absl::Now(), absl::LocalTimeZone(),
                                           "offlog", LevelName(level)),
                        message, "\n"));
}

std::string EscapeForLog(absl::string_view path) {
  return Escape(path, /*keep_backslash=*/false);
}

std::string SanitizeEscaped(absl::string_view text) {
  return Escape(text, /*keep_backslash=*/true);
}

}  // namespace offlog
