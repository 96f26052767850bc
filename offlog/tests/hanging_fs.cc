#include "offlog/tests/hanging_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "offlog/testing/wait_fd.h"

namespace offlog {
namespace testing {
namespace {

constexpr char kConnections[] = "/sys/fs/fuse/connections";
constexpr long kFusectlMagic = 0x65735543;  // FUSE_CTL_SUPER_MAGIC
// How long hangfs gets to answer a command or to exit.
constexpr absl::Duration kDaemonTimeout = absl::Seconds(10);

absl::Status Errno(absl::string_view what) {
  return absl::ErrnoToStatus(errno, what);
}

// Mounts fusectl on /sys/fs/fuse/connections unless it is there already.
absl::Status EnsureFusectl() {
  struct statfs st;
  if (statfs(kConnections, &st) == 0 && st.f_type == kFusectlMagic) {
    return absl::OkStatus();
  }
  if (mount("fusectl", kConnections, "fusectl", 0, nullptr) != 0) {
    return Errno(absl::StrCat("mount fusectl on ", kConnections));
  }
  return absl::OkStatus();
}

}  // namespace

std::string HangfsPath() {
  if (const char* env = getenv("HANGFS")) return env;
  const char* srcdir = getenv("TEST_SRCDIR");
  return absl::StrCat(srcdir ? srcdir : ".",
                      "/offlog/offlog/tests/hangfs/hangfs");
}

bool FuseAvailable(std::string* why) {
  if (geteuid() != 0) {
    *why = "FUSE tests need root (they mount, and write as other uids)";
    return false;
  }
  std::ifstream status("/proc/self/status");
  uint64_t caps = 0;
  for (std::string line; std::getline(status, line);) {
    if (absl::StartsWith(line, "CapEff:")) {
      caps = strtoull(line.c_str() + strlen("CapEff:"), nullptr, 16);
    }
  }
  if (!(caps & (uint64_t{1} << CAP_SYS_ADMIN))) {
    *why = "FUSE tests need CAP_SYS_ADMIN to mount";
    return false;
  }
  if (access("/dev/fuse", R_OK | W_OK) != 0) {
    *why = absl::StrCat("/dev/fuse is not usable (", strerror(errno),
                        "); is the test tagged no-sandbox?");
    return false;
  }
  std::ifstream filesystems("/proc/filesystems");
  std::stringstream content;
  content << filesystems.rdbuf();
  if (!absl::StrContains(content.str(), "\tfuse\n")) {
    *why = "the kernel has no fuse file system";
    return false;
  }
  if (access(HangfsPath().c_str(), X_OK) != 0) {
    *why = absl::StrCat("no hangfs binary at ", HangfsPath());
    return false;
  }
  return true;
}

absl::StatusOr<std::unique_ptr<HangingFs>> HangingFs::Mount(
    absl::Duration max_hang) {
  auto fs = std::make_unique<HangingFs>();
  char tmpl[] = "/tmp/offlogfuseXXXXXX";
  if (mkdtemp(tmpl) == nullptr) return Errno("mkdtemp");
  fs->mount_point_ = tmpl;

  // hangfs's stdin and stdout. A socket, not pipes: send(MSG_NOSIGNAL)
  // cannot kill this process with SIGPIPE if hangfs is gone.
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return Errno("socketpair");
  }
  fs->control_.Reset(sv[0]);
  UniqueFd daemon_end(sv[1]);

  std::vector<std::string> args = {
      HangfsPath(), absl::StrCat("--max-hang=", absl::ToInt64Seconds(max_hang)),
      "--rmdir", fs->backing_.path(), fs->mount_point_};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return Errno("fork");
  if (pid == 0) {
    // Its own process group: when a test runner kills the test's group (on
    // timeout), hangfs lives on just long enough to release and unmount.
    setpgid(0, 0);
    dup2(daemon_end.get(), STDIN_FILENO);
    dup2(daemon_end.get(), STDOUT_FILENO);
    // Nothing else of the test's: no pipe end or mount descriptor of it.
    syscall(SYS_close_range, 3, ~0U, 0);
    execv(argv[0], argv.data());
    _exit(127);
  }
  fs->pid_ = pid;
  fs->pidfd_.Reset(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  daemon_end.Reset();

  {
    std::lock_guard<std::mutex> lock(fs->mu_);
    absl::StatusOr<std::string> ready =
        fs->ReadLineLocked(absl::Now() + kDaemonTimeout);
    if (!ready.ok() || *ready != "ready") {
      return absl::InternalError(
          absl::StrCat("hangfs did not mount (see its stderr above): ",
                       ready.ok() ? *ready : ready.status().ToString()));
    }
  }
  struct stat mounted, parent;
  if (stat(fs->mount_point_.c_str(), &mounted) != 0) return Errno("stat mount");
  if (stat("/tmp", &parent) != 0) return Errno("stat /tmp");
  if (mounted.st_dev == parent.st_dev) {
    return absl::InternalError("hangfs said ready but nothing is mounted");
  }
  // FUSE mounts get anonymous devices 0:N, N being the connection number.
  fs->connection_ = minor(mounted.st_dev);
  return fs;
}

HangingFs::~HangingFs() {
  // First answer everything and stop hangfs, before anything waits: until
  // then stuck callers (maybe this process's own threads) cannot go on.
  // "exit" releases all held requests, unmounts (lazily) and exits.
  if (pid_ > 0 && !reaped_) {
    std::lock_guard<std::mutex> lock(mu_);
    // Never blocks; if it fails hangfs is gone or the wait below ends it.
    send(control_.get(), "exit\n", 5, MSG_DONTWAIT | MSG_NOSIGNAL);
    control_.Reset();
    if (!WaitForDaemon(kDaemonTimeout)) {
      fprintf(stderr, "HangingFs: hangfs %d did not exit; aborting\n", pid_);
      absl::Status aborted = AbortConnection();
      if (!aborted.ok()) {
        fprintf(stderr, "HangingFs: %s\n", aborted.ToString().c_str());
      }
      kill(pid_, SIGKILL);  // Closing /dev/fuse aborts the connection too.
      if (!WaitForDaemon(kDaemonTimeout)) {
        fprintf(stderr, "HangingFs: hangfs %d survives SIGKILL\n", pid_);
      }
    }
  }
  if (mount_point_.empty()) return;
  // hangfs unmounts and removes the mount point (if it got to run at all).
  // Either way the connection is gone now, so nothing here can wait on it.
  if (umount2(mount_point_.c_str(), MNT_DETACH) != 0 && errno != EINVAL &&
      errno != ENOENT) {
    perror(("HangingFs: umount " + mount_point_).c_str());
  }
  if (rmdir(mount_point_.c_str()) != 0 && errno != ENOENT) {
    perror(("HangingFs: rmdir " + mount_point_).c_str());
  }
}

bool HangingFs::WaitForDaemon(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  if (pidfd_.valid()) {
    if (!WaitForEvents(pidfd_.get(), POLLIN, deadline)) return false;
    reaped_ = waitpid(pid_, nullptr, 0) == pid_ || errno == ECHILD;
    return reaped_;
  }
  // No pidfd: poll waitpid.
  while (absl::Now() < deadline) {
    pid_t r = waitpid(pid_, nullptr, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) return reaped_ = true;
    poll(nullptr, 0, 1);
  }
  return false;
}

std::string HangingFs::File(absl::string_view name) const {
  return absl::StrCat(mount_point_, "/", name);
}

std::string HangingFs::BackingFile(absl::string_view name) const {
  return backing_.File(name);
}

absl::StatusOr<std::string> HangingFs::ReadLineLocked(absl::Time deadline) {
  while (true) {
    size_t nl = read_buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = read_buffer_.substr(0, nl);
      read_buffer_.erase(0, nl + 1);
      return line;
    }
    if (!WaitForEvents(control_.get(), POLLIN, deadline)) {
      return absl::DeadlineExceededError("hangfs did not answer");
    }
    char buf[256];
    ssize_t n = read(control_.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("read from hangfs");
    if (n == 0) return absl::UnavailableError("hangfs exited");
    read_buffer_.append(buf, n);
  }
}

absl::StatusOr<std::string> HangingFs::Command(absl::string_view command) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!control_.valid()) return absl::FailedPreconditionError("no hangfs");
  absl::Time deadline = absl::Now() + kDaemonTimeout;
  std::string line = absl::StrCat(command, "\n");
  // A short line into a socket hangfs empties: send() does not block long.
  if (send(control_.get(), line.data(), line.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(line.size())) {
    return Errno("send to hangfs");
  }
  return ReadLineLocked(deadline);
}

absl::Status HangingFs::Hang() { return HangOnly(""); }

absl::Status HangingFs::HangOnly(absl::string_view ops) {
  absl::StatusOr<std::string> reply = Command(absl::StrCat("hang ", ops));
  if (!reply.ok()) return reply.status();
  if (*reply != "ok") return absl::InternalError(*reply);
  return absl::OkStatus();
}

absl::Status HangingFs::Release() {
  absl::StatusOr<std::string> reply = Command("release");
  if (!reply.ok()) return reply.status();
  if (*reply != "ok") return absl::InternalError(*reply);
  return absl::OkStatus();
}

absl::StatusOr<int> HangingFs::BlockedRequests(absl::string_view op) {
  absl::StatusOr<std::string> reply = Command(absl::StrCat("blocked ", op));
  if (!reply.ok()) return reply.status();
  int n;
  if (!absl::StartsWith(*reply, "blocked ") ||
      !absl::SimpleAtoi(absl::string_view(*reply).substr(8), &n)) {
    return absl::InternalError(absl::StrCat("hangfs said: ", *reply));
  }
  return n;
}

absl::Status HangingFs::AbortConnection() {
  absl::Status fusectl = EnsureFusectl();
  if (!fusectl.ok()) return fusectl;
  std::string path = absl::StrCat(kConnections, "/", connection_, "/abort");
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return Errno(absl::StrCat("open ", path));
  if (write(fd.get(), "1", 1) != 1) return Errno(absl::StrCat("write ", path));
  return absl::OkStatus();
}

absl::Status HangingFs::Abort() {
  absl::Status aborted = AbortConnection();
  if (aborted.ok()) return aborted;
  // Closing /dev/fuse aborts the connection as well.
  if (pid_ <= 0 || reaped_ || kill(pid_, SIGKILL) != 0) return aborted;
  if (!WaitForDaemon(kDaemonTimeout)) {
    return absl::InternalError("hangfs did not die of SIGKILL");
  }
  std::lock_guard<std::mutex> lock(mu_);
  control_.Reset();
  return absl::OkStatus();
}

}  // namespace testing
}  // namespace offlog
