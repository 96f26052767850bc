// RetiredFiles: the ProxyFiles a logger stopped writing to when it followed
// a rotation, kept until the server confirms that their data is written, so
// that the logger's WaitWritten() covers records written before the
// rotation too.
//
// Not thread-safe.
#ifndef OFFLOG_CLIENT_RETIRED_FILES_H_
#define OFFLOG_CLIENT_RETIRED_FILES_H_

#include <cstddef>
#include <deque>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "offlog/client/proxy_file.h"

namespace offlog {

class RetiredFiles {
 public:
  // At most this many files are kept; beyond it the oldest is closed
  // without waiting, and WaitWritten() no longer covers it.
  static constexpr size_t kMaxFiles = 8;

  // Ends sending on `file` (ProxyFile::FinishSending(), which blocks for up
  // to the file's timeout while its socket is full) and keeps it; forgets
  // the files kept earlier whose data is written. Returns FinishSending()'s
  // error (the file is then closed, not kept).
  absl::Status Retire(ProxyFile file);

  // Waits as ProxyFile::WaitWritten() until the data of every file kept is
  // written, or until `deadline`, and forgets the files that are done.
  // Returns DeadlineExceeded, or the first file's error (reported once: that
  // file is forgotten too).
  absl::Status WaitWritten(absl::Time deadline);

  // Closes every file kept, as ProxyFile::Close(false, block_close);
  // returns the first error.
  absl::Status CloseAll(bool block_close);

  size_t size() const { return files_.size(); }

 private:
  std::deque<ProxyFile> files_;
};

}  // namespace offlog

#endif  // OFFLOG_CLIENT_RETIRED_FILES_H_
