#include "offlog/client/retired_files.h"

#include <utility>

#include "offlog/client/status_macros.h"

namespace offlog {

absl::Status RetiredFiles::Retire(ProxyFile file) {
  OFFLOG_RETURN_IF_ERROR(file.FinishSending());
  // Forget what is written already; a past deadline makes this one check.
  std::erase_if(files_, [](ProxyFile& f) {
    return f.WaitWritten(absl::InfinitePast()).ok();
  });
  files_.push_back(std::move(file));
  if (files_.size() > kMaxFiles) {
    files_.front()
        .Close(/*block_send=*/false, /*block_close=*/false)
        .IgnoreError();
    files_.pop_front();
  }
  return absl::OkStatus();
}

absl::Status RetiredFiles::WaitWritten(absl::Time deadline) {
  while (!files_.empty()) {
    absl::Status status = files_.front().WaitWritten(deadline);
    if (absl::IsDeadlineExceeded(status)) return status;
    files_.pop_front();
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status RetiredFiles::CloseAll(bool block_close) {
  absl::Status first;
  for (ProxyFile& file : files_) {
    absl::Status status = file.Close(/*block_send=*/false, block_close);
    if (first.ok()) first = status;
  }
  files_.clear();
  return first;
}

}  // namespace offlog
