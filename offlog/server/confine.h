// --allow-dir: target paths confined to directory trees.
//
// The path is opened as the client sent it, and the kernel decides:
//  - a path is under an allowed directory D when it starts with D's
//    components, spelled out (doubled slashes and `.` components aside, no
//    `..` among them), followed by at least one more. This is textual, so
//    the acceptor, which must never touch a target file system, can refuse
//    a path under no allowed directory: the writer would have no directory
//    to open it beneath either;
//  - the writer opens the rest of the path, exactly as sent (`..`, trailing
//    slash and all), beneath a descriptor of D without following any
//    symlink below it (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, or a
//    component-by-component openat with O_NOFOLLOW on kernels without
//    openat2): `..` that would climb out of D and symlinks planted inside
//    the tree are refused there, where the file system is.
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

// An allowed directory `path` is under (above), and the rest of `path`
// after it, without its leading slashes: never empty.
struct AllowedMatch {
  const std::string* dir;
  absl::string_view rest;
};

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

// The normalised `dirs` that `path` (as the client sent it) is under,
// longest first. Purely textual.
std::vector<AllowedMatch> AllowedDirsFor(absl::string_view path,
                                         const std::vector<std::string>& dirs);

// Opens `path`, exactly as the client sent it, for appending, as the writer
// does: with plain open() when `allowed_dirs` is empty, else confined
// beneath an allowed directory it is under (the longest that does not
// refuse it). Returns the descriptor, or -errno. A path that would leave
// the tree through `..` or a symlink gives -EACCES, and so does one of the
// protected files (SetProtectedFiles): the file is opened, found by fstat()
// to be one of them, and closed again; a protected socket, which open()
// refuses with ENXIO, is recognised through an O_PATH descriptor.
int OpenForAppend(const std::string& path,
                  const std::vector<std::string>& allowed_dirs);

// Opens `relative` beneath `dirfd` following no symlink at all. With
// `force_walk`, skips openat2 and uses the fallback (for tests). Returns the
// descriptor or -errno (-EACCES for a symlink).
int OpenBeneath(int dirfd, absl::string_view relative, int flags, mode_t mode,
                bool force_walk = false);

}  // namespace offlog

#endif  // OFFLOG_SERVER_CONFINE_H_
