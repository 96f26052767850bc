#include "offlog/server/spawner.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <iterator>
#include <string>

#include "offlog/common/fd_passing.h"
#include "offlog/server/server_log.h"

namespace offlog {
namespace {

// Writers leave signals to the acceptor: a terminal's Ctrl-C or systemd's
// SIGTERM to the whole group must not cut a writer off mid-drain; the
// acceptor tells each writer when to stop.
void SetUpWriterSignals() {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_UNBLOCK, &all, nullptr);
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);  // A FIFO target without a reader: EPIPE.
  signal(SIGXFSZ, SIG_IGN);  // RLIMIT_FSIZE: EFBIG to the client instead.
  signal(SIGCHLD, SIG_DFL);
}

// Closes every descriptor but stdio, the server's log file and `keep`.
void CloseAllBut(int keep) {
  int kept[] = {STDERR_FILENO, keep, ServerLogFileFd(), INT_MAX};
  std::sort(std::begin(kept), std::end(kept));
  for (size_t i = 0; i + 1 < std::size(kept); ++i) {
    if (kept[i] < STDERR_FILENO) continue;
    unsigned first = kept[i] + 1, last = kept[i + 1] - 1;
    if (first <= last) close_range(first, last, 0);
  }
}

// Forks the writer through an intermediate process that exits at once, so
// that the writer is reparented to the acceptor (the subreaper). Returns
// the writer's pid, or -1.
pid_t DoubleFork(int sock, UniqueFd channel, const WriterConfig& config,
                 WriterStats* stats) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return -1;
  UniqueFd pid_r(pipefd[0]), pid_w(pipefd[1]);
  pid_t mid = fork();
  if (mid < 0) return -1;
  if (mid == 0) {
    pid_t writer = fork();
    if (writer == 0) {
      close(sock);
      pid_r.Reset();
      pid_w.Reset();
      _exit(RunWriter(std::move(channel), config, stats));
    }
    (void)!write(pid_w.get(), &writer, sizeof(writer));
    _exit(0);
  }
  pid_w.Reset();
  pid_t writer = -1;
  if (read(pid_r.get(), &writer, sizeof(writer)) != sizeof(writer)) writer = -1;
  waitpid(mid, nullptr, 0);  // Once it is gone, the writer is reparented.
  return writer;
}

// The spawner's loop: one request (a channel end) in, one writer's pid and
// stats memfd out, until the acceptor closes the socket.
[[noreturn]] void ServeSpawnRequests(UniqueFd sock,
                                     const WriterConfig& config) {
  while (true) {
    absl::StatusOr<ReceivedMessage> req = RecvWithFd(sock.get(), 16);
    if (!req.ok()) _exit(0);
    pid_t pid = -1;
    absl::StatusOr<SharedStats> stats = SharedStats::Create();
    if (stats.ok() && req->fd.valid()) {
      pid = DoubleFork(sock.get(), std::move(req->fd), config, stats->get());
    }
    std::string reply(reinterpret_cast<const char*>(&pid), sizeof(pid));
    if (!SendWithFd(sock.get(), reply, stats.ok() ? stats->fd() : -1).ok()) {
      _exit(0);
    }
  }
}

}  // namespace

absl::StatusOr<Spawner> Spawner::Start(const WriterConfig& config) {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    return absl::ErrnoToStatus(errno, "prctl(PR_SET_CHILD_SUBREAPER)");
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return absl::ErrnoToStatus(errno, "socketpair");
  }
  UniqueFd ours(sv[0]), theirs(sv[1]);
  pid_t pid = fork();
  if (pid < 0) return absl::ErrnoToStatus(errno, "fork");
  if (pid == 0) {
    CloseAllBut(theirs.get());
    SetUpWriterSignals();
    ours.Release();  // Closed by CloseAllBut.
    ServeSpawnRequests(std::move(theirs), config);
  }
  return Spawner(std::move(ours));
}

absl::StatusOr<SpawnedWriter> Spawner::Spawn(int channel) {
  if (absl::Status s = SendWithFd(sock_.get(), "spawn", channel); !s.ok()) {
    return s;
  }
  absl::StatusOr<ReceivedMessage> reply = RecvWithFd(sock_.get(), 16);
  if (!reply.ok()) return reply.status();
  SpawnedWriter w;
  if (reply->payload.size() == sizeof(pid_t)) {
    memcpy(&w.pid, reply->payload.data(), sizeof(pid_t));
  }
  if (w.pid <= 0 || !reply->fd.valid()) {
    return absl::InternalError("the spawner could not start a writer");
  }
  absl::StatusOr<SharedStats> stats = SharedStats::Attach(std::move(reply->fd));
  if (!stats.ok()) return stats.status();
  w.stats = *std::move(stats);
  return w;
}

}  // namespace offlog
