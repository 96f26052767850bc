// SyncProxyFile: a ProxyFile that many threads may share.
//
// Every call takes one mutex, so writes from different threads never
// interleave within a record: each Write() reaches the file whole, in the
// order the calls took the lock. Write() still never blocks on the server,
// only (briefly) on other threads' calls (unless the overflow policy is
// kBlock); Flush(), WaitWritten() and Close() hold the lock while they
// block, so other threads' writes wait for them.
#ifndef OFFLOG_CLIENT_SYNC_PROXY_FILE_H_
#define OFFLOG_CLIENT_SYNC_PROXY_FILE_H_

#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "offlog/client/proxy_file.h"

namespace offlog {

class SyncProxyFile {
 public:
  // As ProxyFile::Open().
  static absl::StatusOr<std::unique_ptr<SyncProxyFile>> Open(
      absl::string_view path, const ProxyFileOptions& options = {});

  explicit SyncProxyFile(ProxyFile file) : file_(std::move(file)) {}
  SyncProxyFile(const SyncProxyFile&) = delete;
  SyncProxyFile& operator=(const SyncProxyFile&) = delete;

  // Each as the ProxyFile method of the same name, under the mutex.
  absl::Status Write(absl::string_view data) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<bool> CheckRotated() ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Flush() ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status WaitWritten(absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Close(bool block_send = true, bool block_close = true)
      ABSL_LOCKS_EXCLUDED(mu_);
  size_t queued_bytes() const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t dropped_bytes() const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t dropped_writes() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  ProxyFile file_ ABSL_GUARDED_BY(mu_);
};

}  // namespace offlog

#endif  // OFFLOG_CLIENT_SYNC_PROXY_FILE_H_
