#include "offlog/client/glog_sink.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "offlog/client/abspath.h"
#include "offlog/client/status_macros.h"

namespace offlog {

GlogSink::GlogSink(PrivateTag, std::string absolute_path,
                   ProxyFileOptions options, ProxyFile file)
    : path_(std::move(absolute_path)), options_(std::move(options)) {
  file_.emplace(std::move(file));
}

absl::StatusOr<std::unique_ptr<GlogSink>> GlogSink::Install(
    absl::string_view path, const ProxyFileOptions& options) {
  // Reopened after a rotation by this name, whatever the directory then.
  OFFLOG_ASSIGN_OR_RETURN(std::string absolute, AbsolutePath(path));
  OFFLOG_ASSIGN_OR_RETURN(ProxyFile file, ProxyFile::Open(absolute, options));
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
  if (!file_.has_value()) return absl::OkStatus();
  absl::Status status = file_->Close();
  file_.reset();
  return status;
}

void GlogSink::send(google::LogSeverity severity, const char* /*full_filename*/,
                    const char* base_filename, int line,
                    const google::LogMessageTime& time, const char* message,
                    size_t message_len) {
  std::string record = absl::StrCat(
      ToString(severity, base_filename, line, time, message, message_len),
      "\n");
  absl::MutexLock lock(&mu_);
  absl::Status status = Append(record);
  if (status_.ok()) status_ = status;
}

absl::Status GlogSink::Append(absl::string_view record) {
  if (!file_.has_value()) return absl::OkStatus();
  OFFLOG_ASSIGN_OR_RETURN(bool rotated, file_->CheckRotated());
  if (rotated) {
    absl::Status closed = file_->Close(/*block_send=*/true,
                                       /*block_close=*/false);
    ProxyFileOptions reopen = options_;
    reopen.block_open = false;
    absl::StatusOr<ProxyFile> file = ProxyFile::Open(path_, reopen);
    if (!file.ok()) return file.status();
    *file_ = std::move(*file);
    OFFLOG_RETURN_IF_ERROR(closed);
  }
  return file_->Write(record);
}

absl::Status GlogSink::status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

}  // namespace offlog
