#include "offlog/client/sync_proxy_file.h"

#include "offlog/client/status_macros.h"

namespace offlog {

absl::StatusOr<std::unique_ptr<SyncProxyFile>> SyncProxyFile::Open(
    absl::string_view path, const ProxyFileOptions& options) {
  OFFLOG_ASSIGN_OR_RETURN(ProxyFile file, ProxyFile::Open(path, options));
  return std::make_unique<SyncProxyFile>(std::move(file));
}

absl::Status SyncProxyFile::Write(absl::string_view data) {
  absl::MutexLock lock(&mu_);
  return file_.Write(data);
}

absl::StatusOr<bool> SyncProxyFile::CheckRotated() {
  absl::MutexLock lock(&mu_);
  return file_.CheckRotated();
}

absl::Status SyncProxyFile::Flush() {
  absl::MutexLock lock(&mu_);
  return file_.Flush();
}

absl::Status SyncProxyFile::WaitWritten(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  return file_.WaitWritten(deadline);
}

absl::Status SyncProxyFile::Close(bool block_send, bool block_close) {
  absl::MutexLock lock(&mu_);
  return file_.Close(block_send, block_close);
}

size_t SyncProxyFile::queued_bytes() const {
  absl::MutexLock lock(&mu_);
  return file_.queued_bytes();
}

uint64_t SyncProxyFile::dropped_bytes() const {
  absl::MutexLock lock(&mu_);
  return file_.dropped_bytes();
}

uint64_t SyncProxyFile::dropped_writes() const {
  absl::MutexLock lock(&mu_);
  return file_.dropped_writes();
}

}  // namespace offlog
