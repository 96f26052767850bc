// The file a writer appends to: the writer's analogue of LevelDB's
// log::Writer. It opens the path exactly as the client sent it (through
// OpenForAppend, confine.h: O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode
// 0666, beneath an --allow-dir when there are any), appends bytes, reopens
// the path and tells whether the path now names another file (rotation).
//
// While it is inside open() or write() it publishes when that call began,
// in CLOCK_MONOTONIC ms (the clock given), to `*busy_since_ms`, and 0 once
// the call returns: the acceptor reads it from the writer's shared stats
// (writer_stats.h) to see a writer stuck on a hung file system.
//
// The caller's obligations:
//  - one thread calls everything but busy_since_ms() and BusyMs(), which
//    any thread (or, through shared memory, process) may read;
//  - `*busy_since_ms` outlives the TargetFile;
//  - Append() and Size() only while is_open().
// Every call may block for as long as the file system takes: that is why
// a writer process owns exactly one TargetFile.
//
// Errors are errno values: 0 for success, never negative.
#ifndef OFFLOG_SERVER_TARGET_FILE_H_
#define OFFLOG_SERVER_TARGET_FILE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "offlog/common/unique_fd.h"

namespace offlog {

class TargetFile {
 public:
  // A CLOCK_MONOTONIC clock in ms (MonotonicMs in the writer; a fake in
  // tests). Its values must be positive: 0 means "not busy".
  using Clock = int64_t (*)();

  // `allowed_dirs`: the normalised --allow-dir list (empty: open() plainly).
  TargetFile(std::vector<std::string> allowed_dirs,
             std::atomic<int64_t>* busy_since_ms, Clock clock);
  TargetFile(const TargetFile&) = delete;
  TargetFile& operator=(const TargetFile&) = delete;

  // Remembers `path` (even when the open fails: path() then names it, and
  // Reopen() tries it again) and opens it for appending, closing any file
  // open before. Returns 0 or the errno of the open (EACCES also for a
  // path that leaves its --allow-dir or names one of offlogd's own files).
  int Open(std::string path);

  // Opens path() again (after rotation, or when asked to by SIGHUP /
  // offlogctl reopen). On failure the file open before stays open and in
  // use. Returns 0 or the errno. Call only with a path().
  int Reopen();

  // Closes the file and forgets the path. Returns whether a file was open.
  bool Close();

  bool is_open() const { return fd_.valid(); }
  // The path as the client whose Open() it was sent it; empty after
  // Close() or before any Open().
  const std::string& path() const { return path_; }

  struct Appended {
    size_t written = 0;  // Bytes of `data` now in the file.
    int error = 0;       // 0, or the errno of the write() that failed.
  };
  // Appends all of `data` with write(), retrying on EINTR and after short
  // writes, until it is all written or a write() fails. A write() that
  // crosses RLIMIT_FSIZE writes the part that fits (the kernel cuts it
  // there, wherever that falls) and the next fails with EFBIG, provided
  // SIGXFSZ is ignored (offlogd ignores it). Buffers nothing.
  Appended Append(absl::string_view data);

  // Whether the file ends in the middle of a line: it is not empty and its
  // last byte is not '\n'. Reads that byte through a second, read-only
  // open of the same file (/proc/self/fd); false when it cannot (no read
  // permission, a FIFO, no /proc). Call only while is_open().
  bool EndsMidLine() const;

  // The file's size in bytes, by fstat() of the open file; nullopt if
  // fstat() fails.
  std::optional<uint64_t> Size() const;

  // Whether path() no longer names the open file: stat(path()) fails, or
  // names a file of another device or inode than the open one. False when
  // no file is open or fstat() of it fails.
  bool HasRotated() const;

  // When the open() or write() in progress began (the clock's ms), or 0.
  int64_t busy_since_ms() const { return busy_since_ms_->load(); }
  // How long the open() or write() in progress has been going at `now_ms`
  // (the same clock), or 0 when none is.
  int64_t BusyMs(int64_t now_ms) const;

 private:
  bool LastByteIsNotNewline() const;
  // Opens path_ and returns the descriptor or -errno, busy meanwhile.
  int OpenPath();

  std::vector<std::string> allowed_dirs_;
  std::atomic<int64_t>* busy_since_ms_;
  Clock clock_;
  std::string path_;
  UniqueFd fd_;
};

}  // namespace offlog

#endif  // OFFLOG_SERVER_TARGET_FILE_H_
