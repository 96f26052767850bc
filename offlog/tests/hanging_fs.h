// A FUSE mount that hangs on command, the way a dead NFS server does, for
// stall tests: callers of a hung mount sit in the kernel
// (request_wait_answer), and once signalled in D state, until their request
// is answered or the connection aborted.
//
// Runs //offlog/tests/hangfs:hangfs (see hangfs.cc) on a fresh directory
// under /tmp, backed by another. Needs root and /dev/fuse: a test using it
// has tags = ["no-sandbox"] and skips unless FuseAvailable().
//
// Example:
//   std::string why;
//   if (!FuseAvailable(&why)) GTEST_SKIP() << why;
//   absl::StatusOr<std::unique_ptr<HangingFs>> fs = HangingFs::Mount();
//   ... open fs->File("log"), fs->Hang(), start a writer thread,
//   WaitUntil fs->BlockedRequests() >= 1, ..., fs->Release() ...
//
// Destroy a HangingFs before joining threads, closing descriptors or
// reaping processes that may be stuck in it: its destructor frees them, and
// they may not return before. Keep descriptors on the mount from leaking to
// unrelated children (O_CLOEXEC).
#ifndef OFFLOG_TESTS_HANGING_FS_H_
#define OFFLOG_TESTS_HANGING_FS_H_

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "offlog/common/unique_fd.h"
#include "offlog/testing/temp_dir.h"

namespace offlog {
namespace testing {

// Whether FUSE can be used here: running as root with CAP_SYS_ADMIN,
// /dev/fuse usable, the kernel knows "fuse", hangfs is built. If not, says
// why in `*why`.
bool FuseAvailable(std::string* why);

// The path of the built hangfs: from the test's runfiles, or $HANGFS.
std::string HangfsPath();

class HangingFs {
 public:
  // Mounts hangfs on a fresh directory under /tmp (mkdtemp), backed by a
  // fresh TempDir, and returns once the mount answers. Last resorts so that
  // a broken test cannot hang its run for ever: hangfs releases a hang that
  // lasts longer than `max_hang` by itself, releases when this process is
  // dying (killed or dumping core with threads stuck in the mount), and
  // releases, unmounts and removes the mount point when this process exits.
  static absl::StatusOr<std::unique_ptr<HangingFs>> Mount(
      absl::Duration max_hang = absl::Seconds(120));

  // Releases everything held, then unmounts and stops hangfs; if hangfs does
  // not stop within 10 s, aborts the connection and kills it. Afterwards no
  // caller is stuck in the mount (held ones have been answered, or fail with
  // ECONNABORTED) and the mount point is gone. Waits at most about 20 s.
  ~HangingFs();

  HangingFs(const HangingFs&) = delete;
  HangingFs& operator=(const HangingFs&) = delete;

  const std::string& mount_point() const { return mount_point_; }
  // `mount_point()/name`: a path through the mount.
  std::string File(absl::string_view name) const;
  // Where a file created through the mount as `name` really lives; readable
  // while the mount hangs.
  std::string BackingFile(absl::string_view name) const;
  const std::string& backing_dir() const { return backing_.path(); }
  // The FUSE connection number: /sys/fs/fuse/connections/<connection()>.
  unsigned connection() const { return connection_; }
  pid_t daemon_pid() const { return pid_; }

  // From now on every request (lookup, getattr i.e. stat(), open, create,
  // write, read, flush i.e. close(), statfs, ...; not forget and release,
  // which nobody waits for) is held unanswered, until Release(). Any process
  // that touches the mount meanwhile hangs with the test's own.
  //
  // Hang, HangOnly, Release and BlockedRequests may be called from any
  // thread; each waits at most 10 s for hangfs to answer.
  absl::Status Hang();
  // Like Hang(), but only holds the requests named in `ops`, separated by
  // spaces: fuse_lowlevel_ops names, e.g. "write" or "write flush".
  absl::Status HangOnly(absl::string_view ops);
  // Answers every held request (in arrival order) and stops hanging.
  absl::Status Release();
  // Aborts the FUSE connection (/sys/fs/fuse/connections/N/abort, mounting
  // fusectl there if needed; failing that, by killing hangfs): held callers
  // fail with ECONNABORTED, later ones with ENOTCONN. The mount stays,
  // dead, until destruction.
  absl::Status Abort();
  // How many requests are held right now (only `op` ones, e.g. "write",
  // unless empty): once it counts a caller's request, that caller is stuck
  // in the kernel. Poll it (WaitUntil) to know that a writer is really
  // blocked inside write(). Any other process touching the mount while it
  // hangs (df, find /tmp) adds its own requests to the total.
  absl::StatusOr<int> BlockedRequests(absl::string_view op = "");

  HangingFs() = default;  // Use Mount().

 private:
  // Sends `command` and returns hangfs's one-line reply.
  absl::StatusOr<std::string> Command(absl::string_view command);
  // Reads one line from hangfs's stdout; needs mu_.
  absl::StatusOr<std::string> ReadLineLocked(absl::Time deadline);
  // Writes 1 to the connection's abort file.
  absl::Status AbortConnection();
  // Waits for hangfs to exit and reaps it; true if it did.
  bool WaitForDaemon(absl::Duration timeout);

  TempDir backing_;
  std::string mount_point_;
  unsigned connection_ = 0;
  pid_t pid_ = -1;
  bool reaped_ = false;
  UniqueFd pidfd_;
  std::mutex mu_;            // Serializes commands; guards the two below.
  UniqueFd control_;         // hangfs's stdin and stdout (a socket).
  std::string read_buffer_;  // Read from hangfs, not yet a whole line.
};

}  // namespace testing
}  // namespace offlog

#endif  // OFFLOG_TESTS_HANGING_FS_H_
