#include "offlog/server/spawner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>

#include "offlog/server/writer_stats.h"

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

// Points stdio at /dev/null and closes every other descriptor but `keep`:
// nothing of the acceptor's (a terminal, the server log) reaches a writer,
// which may run as a client's user. Writers log over their channel.
void KeepOnly(int keep) {
  int null = open("/dev/null", O_RDWR);
  for (int fd = 0; fd <= 2; ++fd) {
    if (fd != null) dup2(null, fd);
  }
  // main() keeps 0-2 open, so `keep` and a /dev/null beyond stdio are >= 3.
  if (keep > 3) close_range(3, keep - 1, 0);
  close_range(keep + 1, UINT_MAX, 0);
}

// Starts a writer as the acceptor's child (the spawner's parent). Returns
// its pid, or -1. The child never returns.
pid_t CloneWriter(int spawner_sock, UniqueFd channel,
                  const WriterConfig& config, WriterStats* stats) {
  // Like fork(), but the child's parent is ours. The spawner is single-
  // threaded, so the child may use malloc and the rest of libc freely.
  long pid =
      syscall(SYS_clone, CLONE_PARENT | SIGCHLD, nullptr, nullptr, nullptr, 0);
  if (pid != 0) return static_cast<pid_t>(pid);
  close(spawner_sock);
  _exit(RunWriter(std::move(channel), config, stats));
}

// Blocks until `sock` is readable (the spawner may block: it serves only
// the acceptor, which never waits for it).
bool WaitReadable(int sock) {
  pollfd p = {sock, POLLIN, 0};
  while (poll(&p, 1, -1) < 0) {
    if (errno != EINTR) return false;
  }
  return true;
}

[[noreturn]] void ServeSpawnRequests(Channel channel,
                                     const WriterConfig& config) {
  while (WaitReadable(channel.fd())) {
    while (true) {
      absl::StatusOr<std::optional<ChannelMessage>> req = channel.Receive();
      if (!req.ok()) _exit(0);  // The acceptor is gone.
      if (!req->has_value()) break;
      ChannelMessage reply;
      reply.type = MsgType::kSpawned;
      reply.client_id = (*req)->client_id;
      absl::StatusOr<SharedStats> stats = SharedStats::Create();
      if (stats.ok() && (*req)->fd.valid()) {
        reply.pid = CloneWriter(channel.fd(), std::move((*req)->fd), config,
                                stats->get());
        if (reply.pid < 0) reply.pid = 0;
      }
      if (!channel.Send(reply, stats.ok() ? stats->fd() : -1).ok()) _exit(0);
    }
    // Replies the acceptor has not taken yet: wait for room, blocking only
    // the spawner.
    while (channel.queued() > 0) {
      pollfd p = {channel.fd(), POLLOUT, 0};
      poll(&p, 1, 100);
      if (!channel.Flush().ok()) _exit(0);
    }
  }
  _exit(0);
}

}  // namespace

absl::StatusOr<SpawnerProcess> StartSpawner(const WriterConfig& config) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return absl::ErrnoToStatus(errno, "socketpair");
  }
  UniqueFd ours(sv[0]), theirs(sv[1]);
  pid_t pid = fork();
  if (pid < 0) return absl::ErrnoToStatus(errno, "fork");
  if (pid == 0) {
    int keep = theirs.get();
    KeepOnly(keep);
    ours.Release();  // Closed by KeepOnly.
    SetUpWriterSignals();
    EnterStartingPriority(config.priority);
    ServeSpawnRequests(Channel(std::move(theirs)), config);
  }
  return SpawnerProcess{pid, Channel(std::move(ours))};
}

}  // namespace offlog
