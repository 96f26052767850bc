#include "offlog/client/glog_sink.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "offlog/client/abspath.h"
#include "offlog/client/status_macros.h"

namespace offlog {
namespace {

// The severity of the record this thread last sent to the sinks: glog calls
// WaitTillSent() in the same thread, after send(), and without severity.
// Per thread, so that another thread's record cannot hide a FATAL one.
thread_local google::LogSeverity last_sent_severity = google::GLOG_INFO;

absl::Time RecordTime(const google::LogMessageTime& time) {
  return absl::FromUnixSeconds(time.timestamp()) +
         absl::Microseconds(time.usec());
}

// A glog WARNING line, stamped now, for the gap `lost` leaves in the file.
std::string LostLine(const LostRecords& lost) {
  absl::Time now = absl::Now();
  google::LogMessageTime time(absl::ToTimeT(now),
                              absl::ToDoubleSeconds(now - absl::UnixEpoch()));
  std::string message = lost.Message(absl::LocalTimeZone());
  return absl::StrCat(
      google::LogSink::ToString(google::GLOG_WARNING, "glog_sink.cc", __LINE__,
                                time, message.data(), message.size()),
      "\n");
}

}  // namespace

GlogSink::GlogSink(PrivateTag, std::string absolute_path,
                   GlogSinkOptions options, ProxyFile file)
    : path_(std::move(absolute_path)), options_(std::move(options)) {
  file_.emplace(std::move(file));
}

absl::StatusOr<std::unique_ptr<GlogSink>> GlogSink::Install(
    absl::string_view path, const ProxyFileOptions& options) {
  GlogSinkOptions sink_options;
  sink_options.file = options;
  return Install(path, sink_options);
}

absl::StatusOr<std::unique_ptr<GlogSink>> GlogSink::Install(
    absl::string_view path, const GlogSinkOptions& options) {
  // Reopened after a rotation by this name, whatever the directory then.
  OFFLOG_ASSIGN_OR_RETURN(std::string absolute, AbsolutePath(path));
  OFFLOG_ASSIGN_OR_RETURN(ProxyFile file,
                          ProxyFile::Open(absolute, options.file));
  auto sink = std::make_unique<GlogSink>(PrivateTag(), std::move(absolute),
                                         options, std::move(file));
  {
    absl::MutexLock lock(&sink->mu_);
    sink->installed_ = true;
  }
  google::AddLogSink(sink.get());
  return sink;
}

GlogSink::~GlogSink() { Close().IgnoreError(); }

absl::Status GlogSink::Close() {
  bool installed;
  {
    absl::MutexLock lock(&mu_);
    installed = std::exchange(installed_, false);
  }
  // Outside mu_: glog holds its sink lock while calling send().
  if (installed) google::RemoveLogSink(this);
  absl::MutexLock lock(&mu_);
  // Rotated-away files: WaitWritten() waits for them, Close() does not.
  absl::Status retired = retired_.CloseAll(/*block_close=*/false);
  if (!file_.has_value()) return retired;
  if (!lost_.empty()) {
    file_->Flush().IgnoreError();  // Room for the gap's line.
    WriteLostLine();
  }
  absl::Status status = file_->Close();
  file_.reset();
  return status.ok() ? retired : status;
}

void GlogSink::send(google::LogSeverity severity, const char* /*full_filename*/,
                    const char* base_filename, int line,
                    const google::LogMessageTime& time, const char* message,
                    size_t message_len) {
  last_sent_severity = severity;
  std::string record = absl::StrCat(
      ToString(severity, base_filename, line, time, message, message_len),
      "\n");
  absl::MutexLock lock(&mu_);
  absl::Status status = Append(record, RecordTime(time));
  if (status_.ok()) status_ = status;
}

void GlogSink::WaitTillSent() {
  if (last_sent_severity != google::GLOG_FATAL) return;
  absl::Status status =
      WaitWritten(absl::Now() + absl::Milliseconds(options_.fatal_wait_ms));
  absl::MutexLock lock(&mu_);
  // Running out of time is not a write error.
  if (status_.ok() && !absl::IsDeadlineExceeded(status)) status_ = status;
}

absl::Status GlogSink::WaitWritten(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  OFFLOG_RETURN_IF_ERROR(retired_.WaitWritten(deadline));
  if (!file_.has_value()) {
    return absl::FailedPreconditionError("the sink is closed");
  }
  WriteLostLine();
  return file_->WaitWritten(deadline);
}

absl::Status GlogSink::Append(absl::string_view record, absl::Time when) {
  if (!file_.has_value()) return absl::OkStatus();
  OFFLOG_ASSIGN_OR_RETURN(bool rotated, file_->CheckRotated());
  if (rotated) {
    WriteLostLine();  // The gap is in the old file.
    // Blocks only if the socket is full.
    absl::Status closed = retired_.Retire(*std::move(file_));
    ProxyFileOptions reopen = options_.file;
    reopen.block_open = false;
    absl::StatusOr<ProxyFile> file = ProxyFile::Open(path_, reopen);
    if (!file.ok()) return file.status();
    *file_ = std::move(*file);
    OFFLOG_RETURN_IF_ERROR(closed);
  }
  return WriteRecord(record, when);
}

absl::Status GlogSink::WriteRecord(absl::string_view record, absl::Time when) {
  // The gap's line and the first record after it go in one write, so that
  // nothing can come between them.
  std::string after_gap;
  if (!lost_.empty()) {
    after_gap = absl::StrCat(LostLine(lost_), record);
    record = after_gap;
  }
  uint64_t dropped = file_->dropped_writes();
  absl::Status status = file_->Write(record);
  if (file_->dropped_writes() != dropped) {
    lost_.Add(when);
    ++dropped_records_;
  } else if (status.ok()) {
    lost_.Clear();
  }
  return status;
}

void GlogSink::WriteLostLine() {
  if (lost_.empty() || !file_.has_value()) return;
  uint64_t dropped = file_->dropped_writes();
  absl::Status status = file_->Write(LostLine(lost_));
  if (file_->dropped_writes() == dropped && status.ok()) lost_.Clear();
}

absl::Status GlogSink::status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

uint64_t GlogSink::dropped_records() const {
  absl::MutexLock lock(&mu_);
  return dropped_records_;
}

}  // namespace offlog
