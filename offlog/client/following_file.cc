#include "offlog/client/following_file.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "offlog/client/status_macros.h"

namespace offlog {

FollowingFile::FollowingFile(std::string path, FollowingFileOptions options,
                             ProxyFile file)
    : path_(std::move(path)), options_(std::move(options)) {
  if (!options_.clock) options_.clock = absl::Now;
  file_.emplace(std::move(file));
}

absl::StatusOr<FollowingFile> FollowingFile::Open(
    std::string path, FollowingFileOptions options) {
  OFFLOG_ASSIGN_OR_RETURN(ProxyFile file, ProxyFile::Open(path, options.file));
  return FollowingFile(std::move(path), std::move(options), std::move(file));
}

FollowingFile::~FollowingFile() { Close().IgnoreError(); }

absl::Status FollowingFile::Reopen() {
  ProxyFileOptions reopen = options_.file;
  reopen.block_open = false;
  absl::StatusOr<ProxyFile> file = ProxyFile::Open(path_, reopen);
  reopen_pending_ = !file.ok();
  if (!file.ok()) return file.status();
  file_.emplace(*std::move(file));
  reopened_ = true;
  return absl::OkStatus();
}

absl::Status FollowingFile::Retire() {
  if (!lost_.empty()) WriteLostLine().IgnoreError();  // The gap is here.
  ++rotations_followed_;
  absl::Status status = retired_.Retire(*std::move(file_));
  file_.reset();
  return status;
}

bool FollowingFile::ReopenFailed() const {
  return reopened_ && !file_->is_open() && !file_->open_confirmed();
}

absl::Status FollowingFile::Follow() {
  if (closed_) return absl::OkStatus();
  if (reopen_pending_) return Reopen();
  absl::StatusOr<bool> rotated = file_->CheckRotated();
  if (!rotated.ok()) {
    // The server could not open the path again: retry on the next call.
    if (ReopenFailed()) {
      file_.reset();
      reopen_pending_ = true;
    }
    return rotated.status();
  }
  if (!*rotated) return absl::OkStatus();
  // Blocks only if the socket is full; a failed reopen is retried later.
  absl::Status retired = Retire();
  absl::Status opened = Reopen();
  return retired.ok() ? opened : retired;
}

absl::Status FollowingFile::Write(absl::string_view record, absl::Time when) {
  if (closed_) {
    return absl::FailedPreconditionError("I/O operation on closed file");
  }
  OFFLOG_RETURN_IF_ERROR(Follow());
  if (lost_.empty()) return WriteCounted(record, when);
  // The gap's line and the first record after it go in one write, so that
  // nothing can come between them.
  return WriteCounted(absl::StrCat(options_.lost_line(lost_, when), record),
                      when);
}

absl::Status FollowingFile::WriteCounted(absl::string_view data,
                                         absl::Time when) {
  uint64_t dropped = file_->dropped_writes();
  absl::Status status = file_->Write(data);
  if (file_->dropped_writes() != dropped) {
    lost_.Add(when);
    ++dropped_records_;
  } else if (status.ok()) {
    lost_.Clear();
  }
  return status;
}

absl::Status FollowingFile::WriteLostLine() {
  if (lost_.empty() || !file_.has_value()) return absl::OkStatus();
  uint64_t dropped = file_->dropped_writes();
  absl::Status status =
      file_->Write(options_.lost_line(lost_, options_.clock()));
  if (file_->dropped_writes() == dropped && status.ok()) lost_.Clear();
  return status;
}

absl::Status FollowingFile::WaitWritten(absl::Time deadline) {
  OFFLOG_RETURN_IF_ERROR(retired_.WaitWritten(deadline));
  if (closed_ || !file_.has_value()) {
    return absl::FailedPreconditionError("the log file is not open");
  }
  // If the line does not fit now, it goes before the next record; a
  // failed connection is reported by WaitWritten().
  WriteLostLine().IgnoreError();
  return file_->WaitWritten(deadline);
}

absl::Status FollowingFile::Close(bool block_send, bool block_close) {
  if (closed_) return absl::OkStatus();
  closed_ = true;
  // Files left behind by a rotation: WaitWritten() waits for them, Close()
  // does not.
  absl::Status retired = retired_.CloseAll(/*block_close=*/false);
  if (!file_.has_value()) return retired;
  if (!lost_.empty()) {
    // Make room for the gap's line first; Close() reports a failure.
    if (block_send) file_->Flush().IgnoreError();
    WriteLostLine().IgnoreError();
  }
  absl::Status status = file_->Close(block_send, block_close);
  file_.reset();
  return status.ok() ? retired : status;
}

}  // namespace offlog
