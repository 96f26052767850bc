#include "offlog/server/listener.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "offlog/common/unix_socket.h"
#include "offlog/server/credentials.h"

namespace offlog {
namespace {

constexpr int kSystemdFirstFd = 3;
constexpr int kBacklog = 4096;

absl::Status Errno(absl::string_view what) {
  return absl::ErrnoToStatus(errno, what);
}

// The address to bind or probe: a leading '@' names Linux's abstract
// namespace, as systemd writes it.
absl::StatusOr<sockaddr_un> ServerAddress(absl::string_view path) {
  sockaddr_un addr;
  if (path.empty() || UnixAddress(path, &addr) == 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("socket path must be 1 to %d bytes: %s",
                        sizeof(addr.sun_path) - 1, path));
  }
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
  return addr;
}

socklen_t AddressLength(absl::string_view path) {
  return offsetof(sockaddr_un, sun_path) + path.size() +
         (path[0] == '@' ? 0 : 1);
}

// Returns OK when nothing is listening at `path`, removing a stale socket.
absl::Status ClearStaleSocket(absl::string_view path) {
  absl::StatusOr<sockaddr_un> addr = ServerAddress(path);
  if (!addr.ok()) return addr.status();
  UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe) return Errno("socket");
  if (connect(probe.get(), reinterpret_cast<sockaddr*>(&*addr),
              AddressLength(path)) == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("another server is already listening on ", path,
                     "; stop it first or choose another socket path"));
  }
  if (errno == ENOENT) return absl::OkStatus();
  if (errno != ECONNREFUSED) return Errno(absl::StrCat("connect ", path));
  struct stat st;
  if (lstat(std::string(path).c_str(), &st) == 0 && !S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists and is not a socket"));
  }
  return absl::OkStatus();  // Stale: the rename in BindAt replaces it.
}

absl::StatusOr<Listener> BindAt(absl::string_view path, mode_t mode,
                                absl::string_view group) {
  std::string temp = absl::StrCat(path, ".", getpid(), ".tmp");
  absl::StatusOr<sockaddr_un> addr = ServerAddress(temp);
  if (!addr.ok()) return addr.status();
  Listener l;
  l.fd.Reset(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!l.fd) return Errno("socket");
  unlink(temp.c_str());
  // umask 0777 makes bind() create the file with no permissions at all; it
  // gets its real mode only once its group is right.
  mode_t old_umask = umask(0777);
  int rc = bind(l.fd.get(), reinterpret_cast<sockaddr*>(&*addr),
                AddressLength(temp));
  umask(old_umask);
  if (rc != 0) return Errno(absl::StrCat("bind ", temp));
  auto fail = [&](absl::Status s) {
    unlink(temp.c_str());
    return s;
  };
  if (!group.empty()) {
    absl::StatusOr<gid_t> gid = LookUpGroup(group);
    if (!gid.ok()) return fail(gid.status());
    if (chown(temp.c_str(), -1, *gid) != 0) return fail(Errno("chown"));
  }
  if (chmod(temp.c_str(), mode) != 0) return fail(Errno("chmod"));
  if (listen(l.fd.get(), kBacklog) != 0) return fail(Errno("listen"));
  std::string final_path(path);
  if (rename(temp.c_str(), final_path.c_str()) != 0) {
    return fail(Errno(absl::StrCat("rename to ", path)));
  }
  struct stat st;
  if (stat(final_path.c_str(), &st) == 0) l.inode = st.st_ino;
  l.path = final_path;
  return l;
}

// The descriptor systemd passed, if any. Clears LISTEN_* so that writers
// forked later do not think it is theirs.
int TakeSystemdSocket() {
  const char* pid = getenv("LISTEN_PID");
  const char* fds = getenv("LISTEN_FDS");
  int listen_pid = 0, listen_fds = 0;
  bool ours = pid && fds && absl::SimpleAtoi(pid, &listen_pid) &&
              absl::SimpleAtoi(fds, &listen_fds) && listen_pid == getpid() &&
              listen_fds >= 1;
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  if (!ours) return -1;
  for (int fd = kSystemdFirstFd + 1; fd < kSystemdFirstFd + listen_fds; ++fd) {
    close(fd);  // offlogd uses one socket; extra ones are not ours to keep.
  }
  return kSystemdFirstFd;
}

}  // namespace

absl::StatusOr<Listener> OpenListener(absl::string_view path, mode_t mode,
                                      absl::string_view group) {
  int inherited = TakeSystemdSocket();
  if (inherited >= 0) {
    Listener l;
    l.fd.Reset(inherited);
    fcntl(inherited, F_SETFD, FD_CLOEXEC);
    int flags = fcntl(inherited, F_GETFL);
    fcntl(inherited, F_SETFL, flags | O_NONBLOCK);
    return l;
  }
  return BindListener(path, mode, group);
}

absl::StatusOr<Listener> BindListener(absl::string_view path, mode_t mode,
                                      absl::string_view group) {
  absl::Status s = ClearStaleSocket(path);
  if (!s.ok()) return s;
  return BindAt(path, mode, group);
}

void RemoveSocketFile(const Listener& listener) {
  if (listener.path.empty()) return;
  struct stat st;
  if (stat(listener.path.c_str(), &st) == 0 && st.st_ino == listener.inode) {
    unlink(listener.path.c_str());
  }
}

absl::Status NotifySystemd(absl::string_view state) {
  const char* path = getenv("NOTIFY_SOCKET");
  if (path == nullptr || *path == '\0') return absl::OkStatus();
  absl::StatusOr<sockaddr_un> addr = ServerAddress(path);
  if (!addr.ok()) return addr.status();
  UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return Errno("socket");
  if (sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
             reinterpret_cast<sockaddr*>(&*addr), AddressLength(path)) < 0) {
    return Errno(absl::StrCat("sd_notify to ", path));
  }
  return absl::OkStatus();
}

}  // namespace offlog
