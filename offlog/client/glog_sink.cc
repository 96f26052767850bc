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
std::string LostLine(const LostRecords& lost, absl::Time /*record_time*/) {
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

GlogSink::GlogSink(PrivateTag, GlogSinkOptions options, FollowingFile file)
    : options_(std::move(options)) {
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
  FollowingFileOptions file_options;
  file_options.file = options.file;
  file_options.lost_line = &LostLine;
  OFFLOG_ASSIGN_OR_RETURN(
      FollowingFile file,
      FollowingFile::Open(std::move(absolute), std::move(file_options)));
  auto sink =
      std::make_unique<GlogSink>(PrivateTag(), options, std::move(file));
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
  if (!file_.has_value()) return absl::OkStatus();
  // Rotated-away files: WaitWritten() waits for them, Close() does not.
  absl::Status status = file_->Close();
  dropped_records_ = file_->dropped_records();
  file_.reset();
  return status;
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
  if (!file_.has_value()) return;
  absl::Status status = file_->Write(record, RecordTime(time));
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
  if (!file_.has_value()) {
    return absl::FailedPreconditionError("the sink is closed");
  }
  return file_->WaitWritten(deadline);
}

absl::Status GlogSink::status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

uint64_t GlogSink::dropped_records() const {
  absl::MutexLock lock(&mu_);
  return file_.has_value() ? file_->dropped_records() : dropped_records_;
}

}  // namespace offlog
