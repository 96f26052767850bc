#include "offlog/server/server_log.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "offlog/common/timefmt.h"

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

// Length of the valid UTF-8 sequence at the start of `s`, or 0.
size_t Utf8SequenceLength(absl::string_view s) {
  unsigned char b0 = static_cast<unsigned char>(s[0]);
  size_t len = b0 >= 0xF0 && b0 <= 0xF4   ? 4
               : b0 >= 0xE0 && b0 <= 0xEF ? 3
               : b0 >= 0xC2 && b0 <= 0xDF ? 2
                                          : 0;
  if (len == 0 || len > s.size()) return 0;
  for (size_t i = 1; i < len; ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) return 0;
  }
  return len;
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

void LogRecord(Level level, absl::string_view message) {
  if (log_sink != nullptr) {
    log_sink->Write(level, message);
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

std::string EscapeForLog(absl::string_view path) {
  std::string out;
  out.reserve(path.size());
  while (!path.empty()) {
    unsigned char c = static_cast<unsigned char>(path[0]);
    size_t len = c < 0x80 ? 1 : Utf8SequenceLength(path);
    if (c < 0x20 || c == 0x7F || c == '\\' || len == 0) {
      absl::StrAppendFormat(&out, "\\x%02x", c);
      len = 1;
    } else {
      out.append(path.data(), len);
    }
    path.remove_prefix(len);
  }
  return out;
}

}  // namespace offlog
