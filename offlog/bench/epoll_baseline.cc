// A minimal single-process epoll server that speaks offlog's protocol: the
// floor that issue 12 measures offlogd's server CPU against. Not a server to
// deploy: no rotation, no credentials, no limits, no log.
//
//   epoll_baseline -s SOCKET
//
// Per client: read `path\0`, open the path O_WRONLY|O_CREAT|O_APPEND (once
// per path; clients of the same path share the descriptor), answer `OK\0`,
// then recv() into the client's buffer and write() the whole lines in it,
// keeping an unfinished last line in the buffer until its newline arrives:
// two system calls per read. On the client's EOF its unfinished line (if
// any) is written, it is told `BYE\0` and closed. Level-triggered epoll, one
// recv() per readiness event. SIGTERM ends it.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "offlog/bench/bench_io.h"

namespace {

constexpr size_t kReadSize = 64 * 1024;
constexpr size_t kMaxPath = 4096;

struct Target {
  int fd = -1;
  int users = 0;
};

struct Client {
  int fd = -1;
  bool streaming = false;  // Past the handshake.
  std::string path;        // The handshake so far, then the target's path.
  Target* target = nullptr;
  std::vector<char> buf;  // buf[0, used) holds an unfinished line.
  size_t used = 0;
};

std::unordered_map<std::string, Target> targets;
int epoll_fd = -1;

void SendMsg(int fd, const char* msg) {
  // Messages are a few bytes on a socket that has just been read from: they
  // fit, or the client is not reading and loses them.
  send(fd, msg, strlen(msg) + 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

void Release(Client* c) {
  if (c->target != nullptr && --c->target->users == 0) {
    close(c->target->fd);
    targets.erase(c->path);
  }
  c->target = nullptr;
}

void Drop(Client* c) {
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, nullptr);
  close(c->fd);
  Release(c);
  delete c;
}

// Writes the whole lines of buf[0, used) (all of it when `all`) and keeps the
// rest at the front; false if the write failed.
bool FlushLines(Client* c, size_t scanned_from, bool all) {
  size_t n = c->used;
  if (!all) {
    // The last newline of the new bytes ends what can be written.
    const void* nl =
        memrchr(c->buf.data() + scanned_from, '\n', c->used - scanned_from);
    if (nl == nullptr) return true;
    n = static_cast<const char*>(nl) - c->buf.data() + 1;
  }
  if (n == 0) return true;
  if (!offlog::bench::WriteAll(c->target->fd, c->buf.data(), n)) return false;
  c->used -= n;
  if (c->used > 0) memmove(c->buf.data(), c->buf.data() + n, c->used);
  return true;
}

void StartStreaming(Client* c, const char* rest, size_t rest_len) {
  auto [it, inserted] = targets.try_emplace(c->path);
  if (inserted) {
    it->second.fd =
        open(c->path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (it->second.fd < 0) {
      std::string err = std::string("OSError: ") + strerror(errno);
      targets.erase(it);
      SendMsg(c->fd, err.c_str());
      Drop(c);
      return;
    }
  }
  c->target = &it->second;
  ++c->target->users;
  c->streaming = true;
  c->buf.resize(kReadSize);
  memcpy(c->buf.data(), rest, rest_len);
  c->used = rest_len;
  SendMsg(c->fd, "OK");
  if (!FlushLines(c, 0, false)) {
    SendMsg(c->fd, "OSError: write failed");
    Drop(c);
  }
}

void OnHandshake(Client* c) {
  char tmp[kMaxPath + 1];
  ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) return Drop(c);
  const char* nul = static_cast<const char*>(memchr(tmp, '\0', n));
  size_t take = nul ? nul - tmp : static_cast<size_t>(n);
  c->path.append(tmp, take);
  if (c->path.size() > kMaxPath) {
    SendMsg(c->fd, "ValueError: path longer than PATH_MAX");
    return Drop(c);
  }
  if (nul == nullptr) return;
  StartStreaming(c, nul + 1, tmp + n - (nul + 1));
}

void OnData(Client* c) {
  if (c->used == c->buf.size()) c->buf.resize(c->buf.size() * 2);
  ssize_t n = recv(c->fd, c->buf.data() + c->used, c->buf.size() - c->used, 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    return Drop(c);
  }
  if (n == 0) {
    if (FlushLines(c, 0, true)) SendMsg(c->fd, "BYE");
    return Drop(c);
  }
  size_t from = c->used;
  c->used += static_cast<size_t>(n);
  if (!FlushLines(c, from, false)) {
    SendMsg(c->fd, "OSError: write failed");
    Drop(c);
  }
}

int Listen(const char* path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (fd < 0 || strlen(path) >= sizeof addr.sun_path) return -1;
  strcpy(addr.sun_path, path);
  unlink(path);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(fd, 4096) != 0) {
    return -1;
  }
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  const char* sock = "/tmp/offlog.sock";
  for (int i = 1; i + 1 < argc; ++i) {
    if (strcmp(argv[i], "-s") == 0) sock = argv[i + 1];
  }
  signal(SIGPIPE, SIG_IGN);
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  int lfd = Listen(sock);
  epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (lfd < 0 || epoll_fd < 0) {
    perror("epoll_baseline: listen");
    return 1;
  }
  epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // The listener.
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, lfd, &ev);
  epoll_event events[256];
  while (true) {
    int n = epoll_wait(epoll_fd, events, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("epoll_baseline: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      Client* c = static_cast<Client*>(events[i].data.ptr);
      if (c == nullptr) {
        while (true) {
          int cfd =
              accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (cfd < 0) break;
          Client* nc = new Client;
          nc->fd = cfd;
          epoll_event cev = {};
          cev.events = EPOLLIN;
          cev.data.ptr = nc;
          epoll_ctl(epoll_fd, EPOLL_CTL_ADD, cfd, &cev);
        }
      } else if (c->streaming) {
        OnData(c);
      } else {
        OnHandshake(c);
      }
    }
  }
}
