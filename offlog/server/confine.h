// --allow-dir: target paths confined to directory trees.
//
// Two checks, because the acceptor must never touch a target file system:
//  - the acceptor checks the lexically normalised path (NormalizePath: `..`
//    is resolved against the text, so it cannot climb out) against the
//    allowed directories;
//  - the writer opens the file beneath a descriptor of the allowed directory
//    without following any symlink below it (openat2 RESOLVE_BENEATH |
//    RESOLVE_NO_SYMLINKS, or a component-by-component openat with
//    O_NOFOLLOW on kernels without openat2), so a symlink planted inside
//    the tree cannot lead out of it.
#ifndef OFFLOG_SERVER_CONFINE_H_
#define OFFLOG_SERVER_CONFINE_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace offlog {

// Normalises each --allow-dir; fails for a relative one.
absl::StatusOr<std::vector<std::string>> NormalizeAllowedDirs(
    const std::vector<std::string>& dirs);

// The longest of `dirs` that `path` lies strictly below, or nullptr. Both
// are lexically normalised absolute paths; purely textual.
const std::string* AllowedDirFor(absl::string_view path,
                                 const std::vector<std::string>& dirs);

// A file by identity, as stat() gives it.
struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
  friend bool operator==(const FileId&, const FileId&) = default;
};

// Records the files no client may open: offlogd's own log file, socket and
// control socket. OpenForAppend refuses them by device and inode, so no
// other spelling, symlink or hard link reaches them. Call once at start-up,
// before any writer is forked (writers inherit the list; the server log is
// opened once, and the socket files are never replaced while offlogd
// runs). Not thread-safe. At most kMaxProtectedFiles.
inline constexpr size_t kMaxProtectedFiles = 8;
absl::Status SetProtectedFiles(const std::vector<FileId>& files);

// Opens `path` (normalised) for appending, as the writer does: with plain
// open() when `allowed_dirs` is empty, else confined beneath the allowed
// directory it lies in. Returns the descriptor, or -errno. A path that
// would leave the tree through a symlink gives -EACCES, and so does one of
// the protected files (SetProtectedFiles): the file is opened, found by
// fstat() to be one of them, and closed again; a protected socket, which
// open() refuses with ENXIO, is recognised through an O_PATH descriptor.
int OpenForAppend(const std::string& path,
                  const std::vector<std::string>& allowed_dirs);

// Opens `relative` beneath `dirfd` following no symlink at all. With
// `force_walk`, skips openat2 and uses the fallback (for tests). Returns the
// descriptor or -errno (-EACCES for a symlink).
int OpenBeneath(int dirfd, absl::string_view relative, int flags, mode_t mode,
                bool force_walk = false);

}  // namespace offlog

#endif  // OFFLOG_SERVER_CONFINE_H_
