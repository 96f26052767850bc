#include "offlog/client/logger.h"

#include <cxxabi.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <typeinfo>
#include <utility>

#include "absl/strings/str_cat.h"
#include "offlog/client/status_macros.h"
#include "offlog/common/pyerror.h"
#include "offlog/common/timefmt.h"

namespace offlog {
namespace {

std::optional<LogLevel> MinLevel(const LoggerOptions& options) {
  std::optional<LogLevel> min;
  for (const std::optional<LogLevel>& level :
       {options.file_level, options.stdout_level, options.stderr_level}) {
    if (level.has_value() && (!min.has_value() || *level < *min)) min = level;
  }
  return min;
}

std::string Demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> name(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), &std::free);
  return status == 0 && name != nullptr ? std::string(name.get())
                                        : std::string(mangled);
}

// "<type>: <what>\n" for the exception being handled, as the last line of a
// Python traceback reads; "NoneType: None\n" when there is none.
std::string CurrentExceptionLine() {
  std::exception_ptr current = std::current_exception();
  if (current == nullptr) return "NoneType: None\n";
  std::string type, what;
  try {
    std::rethrow_exception(current);
  } catch (const std::exception& e) {
    type = Demangle(typeid(e).name());
    what = e.what();
  } catch (...) {
    const std::type_info* info = abi::__cxa_current_exception_type();
    type = info != nullptr ? Demangle(info->name()) : "unknown exception";
  }
  if (what.empty()) return absl::StrCat(type, "\n");
  return absl::StrCat(type, ": ", what, "\n");
}

void WriteConsole(std::FILE* stream, absl::string_view record) {
  std::fwrite(record.data(), 1, record.size(), stream);
  std::fflush(stream);
}

absl::Status OsErrorWithPath(int err, absl::string_view path) {
  return StatusFromServerError(FormatOsError(err, path));
}

ProxyFileOptions ProxyOptions(const LoggerOptions& options) {
  ProxyFileOptions proxy;
  proxy.socket_path = options.offlog_socket_path;
  proxy.timeout_ms = options.offlog_timeout_ms;
  proxy.block_open = true;
  proxy.max_queued_bytes = options.offlog_max_queued_bytes;
  proxy.overflow_policy = options.offlog_overflow_policy;
  proxy.overflow_block_ms = options.offlog_overflow_block_ms;
  proxy.linger_us = options.offlog_linger_us;
  proxy.batch_bytes = options.offlog_batch_bytes;
  return proxy;
}

}  // namespace

absl::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarning:
      return "WARNING";
    case LogLevel::kError:
      return "ERROR";
    case LogLevel::kCritical:
      return "CRITICAL";
  }
  return "UNKNOWN";
}

Logger::Logger(LoggerOptions options)
    : options_(std::move(options)), min_level_(MinLevel(options_)) {
  if (!options_.clock) options_.clock = absl::Now;
}

absl::StatusOr<Logger> Logger::Open(LoggerOptions options) {
  Logger logger(std::move(options));
  OFFLOG_RETURN_IF_ERROR(logger.OpenFile());
  return logger;
}

Logger::~Logger() { Close().IgnoreError(); }

absl::Status Logger::OpenFile() {
  if (!HasFile()) return absl::OkStatus();
  if (options_.local_file) return OpenLocal();
  FollowingFileOptions file_options;
  file_options.file = ProxyOptions(options_);
  // Copies, not `this`: a Logger moves.
  file_options.lost_line = [name = options_.name, tz = options_.time_zone](
                               const LostRecords& lost, absl::Time when) {
    return absl::StrCat(
        FormatRecordPrefix(when, tz, name, LogLevelName(LogLevel::kWarning)),
        lost.Message(tz), "\n");
  };
  file_options.clock = options_.clock;
  OFFLOG_ASSIGN_OR_RETURN(
      file_, FollowingFile::Open(options_.filepath, std::move(file_options)));
  return absl::OkStatus();
}

absl::Status Logger::OpenLocal() {
  int fd = ::open(options_.filepath.c_str(),
                  O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
  local_reopen_pending_ = fd < 0;
  if (fd < 0) return OsErrorWithPath(errno, options_.filepath);
  local_.Reset(fd);
  return absl::OkStatus();
}

absl::Status Logger::Close(bool block_send, bool block_close) {
  local_.Reset();
  local_reopen_pending_ = false;
  if (!file_.has_value()) return absl::OkStatus();
  return file_->Close(block_send, block_close);
}

absl::Status Logger::WaitWritten(absl::Time deadline) {
  if (local_reopen_pending_) {
    return absl::FailedPreconditionError("the log file is not open");
  }
  if (!file_.has_value() || file_->closed()) return absl::OkStatus();
  return file_->WaitWritten(deadline);
}

std::string Logger::Format(LogLevel level, absl::string_view message,
                           bool with_exception) const {
  return FormatAt(options_.clock(), level, message, with_exception);
}

std::string Logger::FormatAt(absl::Time when, LogLevel level,
                             absl::string_view message,
                             bool with_exception) const {
  std::string record =
      absl::StrCat(FormatRecordPrefix(when, options_.time_zone, options_.name,
                                      LogLevelName(level)),
                   message, "\n");
  if (with_exception) record += CurrentExceptionLine();
  return record;
}

absl::Status Logger::Emit(LogLevel level, absl::string_view message,
                          bool with_exception) {
  if (!Enabled(level)) return absl::OkStatus();
  absl::Time now = options_.clock();
  std::string record = FormatAt(now, level, message, with_exception);
  absl::Status status = ToFile(level, record, now);
  if (options_.stderr_level.has_value() && level >= *options_.stderr_level) {
    WriteConsole(stderr, record);
  } else if (options_.stdout_level.has_value() &&
             level >= *options_.stdout_level) {
    WriteConsole(stdout, record);
  }
  return status;
}

absl::Status Logger::ToFile(LogLevel level, absl::string_view record,
                            absl::Time when) {
  bool wanted =
      options_.file_level.has_value() && level >= *options_.file_level;
  // A record for the console alone still follows a rotation.
  if (file_.has_value()) {
    return wanted ? file_->Write(record, when) : file_->Follow();
  }
  OFFLOG_RETURN_IF_ERROR(FollowLocal());
  return wanted ? WriteLocal(record) : absl::OkStatus();
}

absl::StatusOr<bool> Logger::LocalFileRotated() const {
  struct stat open_file, at_path;
  if (::fstat(local_.get(), &open_file) != 0) return OsErrorWithPath(errno, "");
  if (::stat(options_.filepath.c_str(), &at_path) != 0) {
    if (errno == ENOENT) return true;
    return OsErrorWithPath(errno, options_.filepath);
  }
  return open_file.st_ino != at_path.st_ino ||
         open_file.st_dev != at_path.st_dev;
}

absl::Status Logger::FollowLocal() {
  if (local_reopen_pending_) return OpenLocal();
  if (!local_.valid()) return absl::OkStatus();
  OFFLOG_ASSIGN_OR_RETURN(bool rotated, LocalFileRotated());
  if (!rotated) return absl::OkStatus();
  local_.Reset();
  return OpenLocal();
}

absl::Status Logger::WriteLocal(absl::string_view record) {
  if (!HasFile()) return absl::OkStatus();
  if (!local_.valid()) {
    return absl::FailedPreconditionError("I/O operation on closed file");
  }
  while (!record.empty()) {
    ssize_t n = ::write(local_.get(), record.data(), record.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return StatusFromServerError(FormatOsError(errno));
    record.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace offlog
