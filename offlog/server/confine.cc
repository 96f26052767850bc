#include "offlog/server/confine.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

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

// One step of the fallback walk from the directory on top of `dirs`: `.`
// stays, `..` goes back to the directory it came from (never above the
// first: that would leave the tree), anything else must be a directory that
// is not a symlink. Returns 0 or an errno.
int Step(std::vector<UniqueFd>& dirs, const std::string& part) {
  if (part == ".") return 0;
  if (part == "..") {
    if (dirs.size() == 1) return EACCES;
    dirs.pop_back();
    return 0;
  }
  int next = openat(dirs.back().get(), part.c_str(),
                    O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (next < 0) return WalkErrno(dirs.back().get(), part, errno);
  dirs.emplace_back(next);
  return 0;
}

// The fallback: one component at a time, never following a symlink, with
// `.` and `..` taken as the kernel takes them after a real directory; the
// last component keeps its trailing slash, which open() must see.
int OpenByWalking(int dirfd, const std::string& relative, int flags,
                  mode_t mode) {
  std::vector<std::string> parts =
      absl::StrSplit(relative, '/', absl::SkipEmpty());
  if (parts.empty()) return -ENOENT;
  std::vector<UniqueFd> dirs;
  dirs.emplace_back(fcntl(dirfd, F_DUPFD_CLOEXEC, 0));
  if (!dirs.back()) return -errno;
  std::string last = parts.back();
  parts.pop_back();
  if (last == "." || last == "..") {
    parts.push_back(last);
    last = ".";
  }
  for (const std::string& part : parts) {
    if (int err = Step(dirs, part); err != 0) return -err;
  }
  std::string name = relative.back() == '/' ? last + "/" : last;
  int fd = openat(dirs.back().get(), name.c_str(), flags | O_NOFOLLOW, mode);
  if (fd < 0) return -WalkErrno(dirs.back().get(), last, errno);
  return fd;
}

// The rest of `path` after `dir`'s components, spelled out at its start
// (empty and `.` components of `path` aside), without its leading slashes;
// nullopt when `path` does not start with them or nothing follows.
std::optional<absl::string_view> RestAfter(absl::string_view path,
                                           absl::string_view dir) {
  size_t pos = 0;
  auto next_component = [&]() {
    while (pos < path.size() && path[pos] == '/') ++pos;
    size_t end = std::min(path.find('/', pos), path.size());
    absl::string_view part = path.substr(pos, end - pos);
    pos = end;
    return part;
  };
  for (absl::string_view want : absl::StrSplit(dir, '/', absl::SkipEmpty())) {
    absl::string_view part;
    do {
      part = next_component();
    } while (part == ".");
    if (part != want) return std::nullopt;
  }
  while (pos < path.size() && path[pos] == '/') ++pos;
  if (pos == path.size()) return std::nullopt;
  return path.substr(pos);
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

std::vector<AllowedMatch> AllowedDirsFor(absl::string_view path,
                                         const std::vector<std::string>& dirs) {
  std::vector<AllowedMatch> matches;
  for (const std::string& d : dirs) {
    if (std::optional<absl::string_view> rest = RestAfter(path, d)) {
      matches.push_back({&d, *rest});
    }
  }
  std::stable_sort(matches.begin(), matches.end(),
                   [](const AllowedMatch& a, const AllowedMatch& b) {
                     return a.dir->size() > b.dir->size();
                   });
  return matches;
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
  // open() refuses a path this long, however short the rest below the
  // allowed directory: so do we.
  if (path.size() >= kPathMax) return -ENAMETOOLONG;
  int result = -EACCES;  // Under no allowed directory: the acceptor checked.
  for (const AllowedMatch& m : AllowedDirsFor(path, allowed_dirs)) {
    // The allowed directory itself is the administrator's choice: symlinks
    // on the way to it are followed.
    UniqueFd dirfd(open(m.dir->c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dirfd) return -errno;
    result = OpenBeneath(dirfd.get(), m.rest, flags | O_NOFOLLOW, mode);
    // Refused beneath this directory: a shorter one may hold it.
    if (result != -EACCES) return result;
  }
  return result;
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
