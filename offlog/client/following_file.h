// FollowingFile: a ProxyFile that follows the rotation of its file, marks
// the records it drops, and waits for the files it left behind. The one
// implementation of what Logger and GlogSink do with their file.
//
// Write() first follows a rotation the server has reported
// (ProxyFile::CheckRotated()): the current file gets the line for a pending
// gap, is retired into RetiredFiles (ProxyFile::FinishSending(), which
// blocks only while its socket is full) and the same path is opened again
// without blocking (ProxyFileOptions::block_open = false). A reopen that
// fails is retried by each later Write() until one succeeds: whether it
// fails at once (Open()'s error: the server's socket is gone, the timeout
// passed) or later, when the server reports that it could not open the
// file (its directory is gone; before it confirmed the open, see
// ProxyFile::open_confirmed()). The Write() that meets the failure returns
// its error and writes nothing; a record written to a reopened file before
// the server's error arrives is lost with it, unreported, as with any
// non-blocking open.
//
// Records the queue cannot take (ProxyFileOptions::max_queued_bytes and the
// overflow policy) are counted; after such a gap, the next record kept is
// preceded by one line for the gap, formatted by the caller
// (FollowingFileOptions::lost_line), in the same ProxyFile::Write() call,
// so that nothing comes between them and they are kept or dropped
// together. WaitWritten() and Close() write a pending line on its own.
//
// Obligations of the caller:
//  * Threading: not thread-safe, like ProxyFile. Call every method,
//    accessors included, from one thread at a time; a caller shared by
//    threads holds its own lock around each call (GlogSink does).
//  * The path is reopened as given to Open(): a relative one against the
//    current directory at the time of each reopen. Pass an absolute path
//    to keep following the same file after a chdir().
//  * The lost_line and clock functions are called from inside the methods,
//    under the caller's lock; they must not call back into the file.
//
// Units: times are absl::Time; timeouts and limits are those of
// ProxyFileOptions (milliseconds, bytes). Errors: every call returns
// absl::Status (or StatusOr) as ProxyFile does; the server's errors keep
// its text (docs/CLIENT.md, "Errors").
#ifndef OFFLOG_CLIENT_FOLLOWING_FILE_H_
#define OFFLOG_CLIENT_FOLLOWING_FILE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "offlog/client/lost_records.h"
#include "offlog/client/proxy_file.h"
#include "offlog/client/retired_files.h"

namespace offlog {

struct FollowingFileOptions {
  // The connection; block_open applies to Open() only (reopens after a
  // rotation never block).
  ProxyFileOptions file;
  // The whole line (newline included) that marks the gap `lost`, at time
  // `when`: the time of the record it precedes, or clock() when it is
  // written on its own. Required.
  std::function<std::string(const LostRecords& lost, absl::Time when)>
      lost_line;
  // The time of a gap's line written on its own.
  std::function<absl::Time()> clock = absl::Now;
};

class FollowingFile {
 public:
  // Opens `path` as ProxyFile::Open(path, options.file) does, and returns
  // its error.
  static absl::StatusOr<FollowingFile> Open(std::string path,
                                            FollowingFileOptions options);

  FollowingFile(FollowingFile&&) = default;
  FollowingFile& operator=(FollowingFile&&) = default;
  // Close()s, ignoring errors.
  ~FollowingFile();

  // Follow(), then writes `record` (made at `when`, the time of its gap if
  // it is dropped) after the line for a pending gap. Returns Follow()'s
  // error (nothing is written then) or ProxyFile::Write()'s; a record that
  // the queue drops is counted by dropped_records(). FailedPrecondition
  // "I/O operation on closed file" after Close().
  absl::Status Write(absl::string_view record, absl::Time when);

  // Follows a rotation the server has reported, or retries a reopen that
  // failed, as described above; OK when there is nothing to do. Returns the
  // error of retiring the old file or of the reopen, or the current file's
  // error (ProxyFile::CheckRotated()). Never blocks unless the old file's
  // socket is full. Write() calls it first; a caller may call it alone
  // (Logger does so for records that go only to the console). OK after
  // Close().
  absl::Status Follow();

  // Blocks until every record written so far is in the file, or until
  // `deadline`, as ProxyFile::WaitWritten(), after writing a pending gap's
  // line; the files left behind by rotations come first (up to
  // RetiredFiles::kMaxFiles of them). FailedPrecondition "the log file is
  // not open" while a reopen is pending, and after Close().
  absl::Status WaitWritten(absl::Time deadline);

  // Writes a pending gap's line (after making room for it, with
  // `block_send`) and closes the file as ProxyFile::Close(block_send,
  // block_close); closes the retired files without waiting for them.
  // Returns the first error. Idempotent.
  absl::Status Close(bool block_send = true, bool block_close = true);

  // Records dropped because the queue was full, since Open(); never reset,
  // readable after Close().
  uint64_t dropped_records() const { return dropped_records_; }
  // Rotations followed (old files retired) since Open().
  uint64_t rotations_followed() const { return rotations_followed_; }
  // Whether the next Write() or Follow() will try to reopen the file.
  bool reopen_pending() const { return reopen_pending_; }
  bool closed() const { return closed_; }

 private:
  FollowingFile(std::string path, FollowingFileOptions options, ProxyFile file);

  // Opens the path again without blocking; a failure leaves the reopen
  // pending.
  absl::Status Reopen();
  // Writes the gap's line into the current file and retires it.
  absl::Status Retire();
  // Whether the current file failed before the server confirmed the open
  // that followed a rotation: that reopen failed.
  bool ReopenFailed() const;
  // Writes the gap's line on its own, if there is one.
  absl::Status WriteLostLine();
  // Writes `data` for a record made at `when`, counting it if dropped, and
  // forgets the gap once `data` (which carries its line) is queued.
  absl::Status WriteCounted(absl::string_view data, absl::Time when);

  std::string path_;
  FollowingFileOptions options_;
  std::optional<ProxyFile> file_;  // nullopt while a reopen is pending.
  bool reopened_ = false;          // file_ was opened by following a rotation.
  bool reopen_pending_ = false;
  bool closed_ = false;
  LostRecords lost_;
  RetiredFiles retired_;
  uint64_t dropped_records_ = 0;
  uint64_t rotations_followed_ = 0;
};

}  // namespace offlog

#endif  // OFFLOG_CLIENT_FOLLOWING_FILE_H_
