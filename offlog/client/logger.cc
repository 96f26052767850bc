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
  OFFLOG_RETURN_IF_ERROR(logger.OpenFile(/*block=*/true));
  return logger;
}

Logger::~Logger() { Close().IgnoreError(); }

absl::Status Logger::OpenFile(bool block) {
  reopen_pending_ = false;
  if (!HasFile()) return absl::OkStatus();
  if (options_.local_file) {
    int fd = ::open(options_.filepath.c_str(),
                    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) return OsErrorWithPath(errno, options_.filepath);
    local_.Reset(fd);
    return absl::OkStatus();
  }
  ProxyFileOptions proxy_options;
  proxy_options.socket_path = options_.offlog_socket_path;
  proxy_options.timeout_ms = options_.offlog_timeout_ms;
  proxy_options.block_open = block;
  proxy_options.max_queued_bytes = options_.offlog_max_queued_bytes;
  proxy_options.overflow_policy = options_.offlog_overflow_policy;
  proxy_options.overflow_block_ms = options_.offlog_overflow_block_ms;
  proxy_options.linger_us = options_.offlog_linger_us;
  proxy_options.batch_bytes = options_.offlog_batch_bytes;
  OFFLOG_ASSIGN_OR_RETURN(proxy_,
                          ProxyFile::Open(options_.filepath, proxy_options));
  return absl::OkStatus();
}

absl::Status Logger::Close(bool block_send, bool block_close) {
  local_.Reset();
  // Files left behind by a rotation: WaitWritten() waits for them, Close()
  // does not (it never did).
  absl::Status retired = retired_.CloseAll(/*block_close=*/false);
  if (!proxy_.has_value()) return retired;
  if (!lost_.empty()) {
    // Make room for the gap's line first; Close() reports a failure.
    if (block_send) proxy_->Flush().IgnoreError();
    WriteLostLine().IgnoreError();
  }
  absl::Status status = proxy_->Close(block_send, block_close);
  proxy_.reset();
  return status.ok() ? retired : status;
}

absl::Status Logger::RetireFile() {
  local_.Reset();
  if (!proxy_.has_value()) return absl::OkStatus();
  if (!lost_.empty()) WriteLostLine().IgnoreError();
  absl::Status status = retired_.Retire(*std::move(proxy_));
  proxy_.reset();
  return status;
}

absl::Status Logger::WaitWritten(absl::Time deadline) {
  OFFLOG_RETURN_IF_ERROR(retired_.WaitWritten(deadline));
  if (!proxy_.has_value()) {
    if (reopen_pending_) {
      return absl::FailedPreconditionError("the log file is not open");
    }
    return absl::OkStatus();
  }
  // If the line does not fit now, it goes before the next record; a
  // failed connection is reported by WaitWritten().
  WriteLostLine().IgnoreError();
  return proxy_->WaitWritten(deadline);
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
  absl::Status status = FollowRotation();
  absl::Time now = options_.clock();
  std::string record = FormatAt(now, level, message, with_exception);
  if (status.ok() && options_.file_level.has_value() &&
      level >= *options_.file_level) {
    status = WriteFile(record, now);
  }
  if (options_.stderr_level.has_value() && level >= *options_.stderr_level) {
    WriteConsole(stderr, record);
  } else if (options_.stdout_level.has_value() &&
             level >= *options_.stdout_level) {
    WriteConsole(stdout, record);
  }
  return status;
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

absl::Status Logger::FollowRotation() {
  if (reopen_pending_) {
    absl::Status status = OpenFile(/*block=*/false);
    reopen_pending_ = !status.ok();
    return status;
  }
  bool rotated = false;
  if (local_.valid()) {
    OFFLOG_ASSIGN_OR_RETURN(rotated, LocalFileRotated());
  } else if (proxy_.has_value()) {
    OFFLOG_ASSIGN_OR_RETURN(rotated, proxy_->CheckRotated());
  }
  if (!rotated) return absl::OkStatus();
  // Blocks only if the socket is full; errors opening the file again arrive
  // on a later write.
  absl::Status closed = RetireFile();
  absl::Status opened = OpenFile(/*block=*/false);
  reopen_pending_ = !opened.ok();
  return closed.ok() ? opened : closed;
}

absl::Status Logger::WriteFile(absl::string_view record, absl::Time when) {
  if (!proxy_.has_value()) return WriteLocal(record);
  // The gap's line and the first record after it go in one write, so that
  // nothing can come between them.
  std::string after_gap;
  if (!lost_.empty()) {
    after_gap = absl::StrCat(FormatAt(when, LogLevel::kWarning,
                                      lost_.Message(options_.time_zone), false),
                             record);
    record = after_gap;
  }
  uint64_t dropped = proxy_->dropped_writes();
  absl::Status status = proxy_->Write(record);
  if (proxy_->dropped_writes() != dropped) {
    lost_.Add(when);
    ++dropped_records_;
  } else if (status.ok()) {
    lost_.Clear();
  }
  return status;
}

absl::Status Logger::WriteLostLine() {
  if (lost_.empty() || !proxy_.has_value()) return absl::OkStatus();
  uint64_t dropped = proxy_->dropped_writes();
  absl::Status status = proxy_->Write(
      Format(LogLevel::kWarning, lost_.Message(options_.time_zone)));
  if (proxy_->dropped_writes() == dropped && status.ok()) lost_.Clear();
  return status;
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
