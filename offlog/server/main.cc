// offlogd: the offlog file-append server. See docs/ARCHITECTURE.md.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "offlog/common/fd_table.h"
#include "offlog/server/acceptor.h"
#include "offlog/server/admission.h"
#include "offlog/server/confine.h"
#include "offlog/server/listener.h"
#include "offlog/server/options.h"
#include "offlog/server/server_log.h"

namespace {

// The descriptor table is sized for this many at start (memory: 8 bytes a
// slot and two bitmaps, 0.5 MiB), so that the acceptor, which has a logging
// thread, does not stall for an RCU grace period each time a burst of
// clients makes the kernel double it (fd_table.h). Beyond it the table
// still grows on demand.
constexpr int kReservedDescriptorSlots = 65536;

// Descriptors 0-2 open (on /dev/null if they were closed), so that no
// socket offlogd opens lands on them and is taken for stdio.
void KeepStdioOpen() {
  while (true) {
    int fd = open("/dev/null", O_RDWR);
    if (fd < 0) return;
    if (fd > 2) {
      close(fd);
      return;
    }
  }
}

// Binds the control socket (owner-only), or returns an empty Listener when
// there is to be none.
absl::StatusOr<offlog::Listener> OpenControlListener(
    const offlog::ServerOptions& options, const offlog::Listener& main) {
  std::string path = offlog::ControlSocketPath(options, main.path.empty());
  if (path.empty()) return offlog::Listener();
  return offlog::BindListener(path, 0600, "");
}

// The socket file's path: the one offlogd bound, or the one systemd bound
// (from getsockname); "" for none or an abstract socket.
std::string SocketFilePath(const offlog::Listener& l) {
  if (!l.path.empty() || !l.fd) return l.path;
  sockaddr_un addr = {};
  socklen_t len = sizeof(addr);
  constexpr socklen_t kPathAt = offsetof(sockaddr_un, sun_path);
  if (getsockname(l.fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      len <= kPathAt || addr.sun_path[0] == '\0') {
    return "";
  }
  return std::string(addr.sun_path, strnlen(addr.sun_path, len - kPathAt));
}

// Tells the writers which files are offlogd's own (confine.h): no client
// may open them, whatever path it gives.
absl::Status ProtectOwnFiles(const offlog::Listener& main,
                             const offlog::Listener& control) {
  std::vector<offlog::FileId> files;
  struct stat st;
  for (const offlog::Listener* l : {&main, &control}) {
    std::string path = SocketFilePath(*l);
    if (!path.empty() && stat(path.c_str(), &st) == 0) {
      files.push_back({st.st_dev, st.st_ino});
    }
  }
  int log = offlog::ServerLogFileFd();
  if (log >= 0 && fstat(log, &st) == 0) files.push_back({st.st_dev, st.st_ino});
  return offlog::SetProtectedFiles(files);
}

// Start-up warnings about how exposed the socket is (docs/SECURITY.md).
void WarnAboutExposure(const offlog::ServerOptions& options,
                       const offlog::Listener& main) {
  std::string path = SocketFilePath(main);
  struct stat st;
  if (path.empty() || stat(path.c_str(), &st) != 0) return;
  bool opens_as_self = geteuid() != 0 || options.open_as_server_user;
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && options.allow_dir.empty() &&
      opens_as_self) {
    offlog::LogWarning(
        "other users can reach the socket %s (mode %04o) and files open with "
        "offlogd's own rights, with no --allow-dir: a client may append to "
        "any file offlogd can write",
        offlog::EscapeForLog(path), st.st_mode & 07777);
  }
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "."
                    : slash == 0               ? "/"
                                               : path.substr(0, slash);
  if (stat(dir.c_str(), &st) == 0 && (st.st_mode & S_IWOTH) != 0) {
    offlog::LogWarning(
        "the socket's directory %s is world-writable: another user could "
        "take the socket's name (or its .ctl) before offlogd does; prefer a "
        "directory only offlogd can write, such as /run/offlog",
        offlog::EscapeForLog(dir));
  }
}

// What the process needs before it opens anything.
void PrepareProcess() {
  KeepStdioOpen();
  signal(SIGPIPE, SIG_IGN);
  // Each client costs the acceptor one descriptor (its kept duplicate) and
  // its writer another.
  offlog::RaiseDescriptorLimit();
  offlog::ReserveDescriptorTable(kReservedDescriptorSlots);
}

}  // namespace

int main(int argc, char** argv) {
  absl::StatusOr<offlog::ServerOptions> options =
      offlog::ParseServerOptions(argc, argv);
  if (!options.ok()) {
    fprintf(stderr, "offlogd: error: %s\n%s",
            std::string(options.status().message()).c_str(),
            offlog::ServerUsage().c_str());
    return 2;
  }
  if (options->help) {
    fputs(offlog::ServerUsage().c_str(), stdout);
    return 0;
  }
  // Unknown user or group names and relative --allow-dir fail here, before
  // the socket exists; the acceptor is given this one policy.
  absl::StatusOr<offlog::Admission> admission =
      offlog::Admission::FromOptions(*options);
  if (!admission.ok()) {
    fprintf(stderr, "offlogd: error: %s\n",
            std::string(admission.status().message()).c_str());
    return 2;
  }
  PrepareProcess();
  absl::StatusOr<offlog::Listener> listener = offlog::OpenListener(
      options->socket_file, options->socket_mode, options->socket_group);
  if (!listener.ok()) {
    fprintf(stderr, "offlogd: %s\n",
            std::string(listener.status().message()).c_str());
    return 1;
  }
  absl::StatusOr<offlog::Listener> control =
      OpenControlListener(*options, *listener);
  if (!control.ok()) {
    fprintf(stderr, "offlogd: control socket: %s\n",
            std::string(control.status().message()).c_str());
    offlog::RemoveSocketFile(*listener);
    return 1;
  }
  if (!options->logfile.empty()) {
    if (absl::Status s = offlog::OpenServerLogFile(options->logfile); !s.ok()) {
      fprintf(stderr, "offlogd: %s\n", std::string(s.message()).c_str());
      offlog::RemoveSocketFile(*listener);
      offlog::RemoveSocketFile(*control);
      return 1;
    }
  }
  if (absl::Status s = ProtectOwnFiles(*listener, *control); !s.ok()) {
    fprintf(stderr, "offlogd: %s\n", std::string(s.message()).c_str());
    offlog::RemoveSocketFile(*listener);
    offlog::RemoveSocketFile(*control);
    return 1;
  }
  WarnAboutExposure(*options, *listener);
  return offlog::RunAcceptor(*options, *std::move(admission),
                             *std::move(listener), *std::move(control));
}
