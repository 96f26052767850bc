#include "offlog/server/confine.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "offlog/common/protocol.h"
#include "offlog/common/unique_fd.h"
#include "offlog/server/server_log.h"

namespace offlog {
namespace {

constexpr int kAppendFlags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC;

// Set once before any fork (SetProtectedFiles), then only read. A plain
// array: nothing to destroy at exit, nothing allocated in a writer.
FileId protected_files[kMaxProtectedFiles];
size_t protected_count = 0;

bool IsProtected(int fd) {
  if (protected_count == 0) return false;
  struct stat st;
  if (fstat(fd, &st) != 0) return true;  // Cannot tell: fail closed.
  FileId id{st.st_dev, st.st_ino};
  for (size_t i = 0; i < protected_count; ++i) {
    if (protected_files[i] == id) return true;
  }
  return false;
}

// openat2 refuses a symlink with ELOOP (RESOLVE_NO_SYMLINKS) and an escape
// with EXDEV (RESOLVE_BENEATH); to the client both are a refusal.
int RefusalErrno(int err) {
  return (err == ELOOP || err == EXDEV) ? EACCES : err;
}

int OpenWithOpenat2(int dirfd, const std::string& relative, int flags,
                    mode_t mode) {
  open_how how = {};
  how.flags = static_cast<uint64_t>(flags);
  how.mode = mode;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd;
  do {
    fd = syscall(SYS_openat2, dirfd, relative.c_str(), &how, sizeof(how));
  } while (fd < 0 && errno == EAGAIN);  // RESOLVE_* raced a rename: retry.
  return fd >= 0 ? static_cast<int>(fd) : -errno;
}

// Why an openat of `name` in `dirfd` with O_NOFOLLOW failed: a symlink is a
// refusal, anything else keeps its errno.
int WalkErrno(int dirfd, const std::string& name, int err) {
  struct stat st;
  if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISLNK(st.st_mode)) {
    return EACCES;
  }
  return err;
}

// The fallback: one component at a time, never following a symlink. The
// path is normalised, so it holds no `.` or `..` that could climb out.
int OpenByWalking(int dirfd, const std::string& relative, int flags,
                  mode_t mode) {
  std::vector<std::string> parts =
      absl::StrSplit(relative, '/', absl::SkipEmpty());
  if (parts.empty()) return -EISDIR;
  UniqueFd dir(fcntl(dirfd, F_DUPFD_CLOEXEC, 0));
  if (!dir) return -errno;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    int next = openat(dir.get(), parts[i].c_str(),
                      O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) return -WalkErrno(dir.get(), parts[i], errno);
    dir.Reset(next);
  }
  int fd = openat(dir.get(), parts.back().c_str(), flags | O_NOFOLLOW, mode);
  if (fd < 0) return -WalkErrno(dir.get(), parts.back(), errno);
  return fd;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> NormalizeAllowedDirs(
    const std::vector<std::string>& dirs) {
  std::vector<std::string> out;
  for (const std::string& d : dirs) {
    if (!absl::StartsWith(d, "/")) {
      return absl::InvalidArgumentError(
          absl::StrCat("--allow-dir must be absolute: ", d));
    }
    out.push_back(NormalizePath(d));
  }
  return out;
}

const std::string* AllowedDirFor(absl::string_view path,
                                 const std::vector<std::string>& dirs) {
  const std::string* best = nullptr;
  for (const std::string& d : dirs) {
    // "/" is the one normalised path that ends in a slash.
    bool below = d == "/"
                     ? path.size() > 1
                     : path.size() > d.size() + 1 &&
                           absl::StartsWith(path, d) && path[d.size()] == '/';
    if (below && (best == nullptr || d.size() > best->size())) best = &d;
  }
  return best;
}

int OpenBeneath(int dirfd, absl::string_view relative, int flags, mode_t mode,
                bool force_walk) {
  std::string rel(relative);
  if (!force_walk) {
    int fd = OpenWithOpenat2(dirfd, rel, flags, mode);
    if (fd != -ENOSYS) return fd < 0 ? -RefusalErrno(-fd) : fd;
  }
  return OpenByWalking(dirfd, rel, flags, mode);
}

absl::Status SetProtectedFiles(const std::vector<FileId>& files) {
  if (files.size() > kMaxProtectedFiles) {
    return absl::InvalidArgumentError("too many protected files");
  }
  std::copy(files.begin(), files.end(), protected_files);
  protected_count = files.size();
  return absl::OkStatus();
}

namespace {

// Opens `path` with `flags` (O_NOFOLLOW added when confined), plain or
// beneath its allowed directory. Returns the descriptor or -errno.
int OpenPath(const std::string& path,
             const std::vector<std::string>& allowed_dirs, int flags,
             mode_t mode) {
  if (allowed_dirs.empty()) {
    int fd = open(path.c_str(), flags, mode);
    return fd >= 0 ? fd : -errno;
  }
  const std::string* dir = AllowedDirFor(path, allowed_dirs);
  if (dir == nullptr) return -EACCES;  // The acceptor checked; be sure.
  // The allowed directory itself is the administrator's choice: symlinks
  // on the way to it are followed.
  UniqueFd dirfd(open(dir->c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dirfd) return -errno;
  absl::string_view rel(path);
  rel.remove_prefix(*dir == "/" ? 1 : dir->size() + 1);
  return OpenBeneath(dirfd.get(), rel, flags | O_NOFOLLOW, mode);
}

// Refuses one of offlogd's own files: -EACCES, with a warning.
int RefuseProtected(const std::string& path) {
  LogWarning("Refused to open %s: it is offlogd's own log file or socket",
             EscapeForLog(path));
  return -EACCES;
}

}  // namespace

int OpenForAppend(const std::string& path,
                  const std::vector<std::string>& allowed_dirs) {
  int fd = OpenPath(path, allowed_dirs, kAppendFlags, 0666);
  if (fd >= 0) {
    UniqueFd file(fd);
    if (IsProtected(file.get())) return RefuseProtected(path);
    return file.Release();
  }
  if (fd == -ENXIO) {  // A socket: is it one of ours?
    UniqueFd node(OpenPath(path, allowed_dirs, O_PATH | O_CLOEXEC, 0));
    if (node.get() >= 0 && IsProtected(node.get())) {
      return RefuseProtected(path);
    }
  }
  return fd;
}

}  // namespace offlog
