// ControlServer in this process, over a real socket: who it admits, and
// what it does when it runs out of descriptors. Linked statically with
// getsockopt() wrapped (-Wl,--wrap=getsockopt), so that a test can make
// SO_PEERCRED fail, which a real Unix socket never does.
#include "offlog/server/control.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "offlog/common/unique_fd.h"
#include "offlog/common/unix_socket.h"
#include "offlog/server/listener.h"
#include "offlog/testing/temp_dir.h"

namespace {
std::atomic<bool> fail_peercred{false};
}  // namespace

extern "C" int __real_getsockopt(int fd, int level, int name, void* value,
                                 socklen_t* len);
extern "C" int __wrap_getsockopt(int fd, int level, int name, void* value,
                                 socklen_t* len) {
  if (fail_peercred && level == SOL_SOCKET && name == SO_PEERCRED) {
    errno = EINVAL;
    return -1;
  }
  return __real_getsockopt(fd, level, name, value, len);
}

namespace offlog {
namespace {

constexpr int kDeadlineMs = 20000;  // Only to detect a hang.

class ControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("c.sock");
    absl::StatusOr<Listener> l = BindListener(path_, 0600, "");
    ASSERT_TRUE(l.ok()) << l.status();
    ControlServer::Handlers handlers = {[] {
                                          ServerSnapshot s;
                                          s.acceptor.pid = 4242;
                                          return s;
                                        },
                                        [] { return 0; }};
    absl::StatusOr<std::unique_ptr<ControlServer>> c =
        ControlServer::Create(*std::move(l), std::move(handlers));
    ASSERT_TRUE(c.ok()) << c.status();
    control_ = *std::move(c);
  }
  void TearDown() override { fail_peercred = false; }

  UniqueFd Connect() {
    absl::StatusOr<UniqueFd> connected = ConnectUnix(path_);
    EXPECT_TRUE(connected.ok()) << connected.status();
    UniqueFd fd = connected.ok() ? *std::move(connected) : UniqueFd();
    EXPECT_EQ(send(fd.get(), "status\n", 7, MSG_NOSIGNAL), 7);
    return fd;
  }

  // Runs the control server (as the acceptor's loop does: OnReady whenever
  // its descriptor is readable) until `client` has its whole answer, or
  // EOF; returns the answer.
  std::string Serve(int client) {
    std::string answer;
    while (true) {
      pollfd p[2] = {{control_->fd(), POLLIN, 0}, {client, POLLIN, 0}};
      if (poll(p, 2, kDeadlineMs) <= 0) return answer + "(timed out)";
      if (p[0].revents & POLLIN) control_->OnReady();
      if (p[1].revents & (POLLIN | POLLHUP)) {
        char buf[4096];
        ssize_t n = recv(client, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN)) return answer;
        if (n > 0) answer.append(buf, n);
      }
    }
  }

  testing::TempDir dir_;
  std::string path_;
  std::unique_ptr<ControlServer> control_;
};

TEST_F(ControlTest, OwnerIsServed) {
  UniqueFd client = Connect();
  EXPECT_TRUE(absl::StartsWith(Serve(client.get()), "ok\nacceptor\tpid=4242"));
}

// A client that connects and never speaks is closed after the connection
// deadline (5 s) by the control server's own timer, with no other control
// event to run it.
TEST_F(ControlTest, SilentConnectionIsClosedOnItsDeadline) {
  absl::StatusOr<UniqueFd> client = ConnectUnix(path_);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(Serve(client->get()), "");
}

// Item 5 of issue 11: a peer whose credentials cannot be read used to pass
// as uid 0. It is refused: closed without an answer.
TEST_F(ControlTest, UnknownPeerCredentialsAreRefused) {
  fail_peercred = true;
  UniqueFd client = Connect();
  EXPECT_EQ(Serve(client.get()), "");
}

bool Readable(int fd) {
  pollfd p = {fd, POLLIN, 0};
  return poll(&p, 1, 0) == 1;
}

// Fills every descriptor slot below a lowered RLIMIT_NOFILE; restores both
// on destruction.
class NoFreeDescriptors {
 public:
  NoFreeDescriptors() {
    getrlimit(RLIMIT_NOFILE, &saved_);
    int highest = 0;
    if (DIR* d = opendir("/proc/self/fd")) {
      while (dirent* e = readdir(d))
        highest = std::max(highest, atoi(e->d_name));
      closedir(d);
    }
    rlimit low = saved_;
    low.rlim_cur = highest + 1;
    setrlimit(RLIMIT_NOFILE, &low);
    for (int fd; (fd = dup(0)) >= 0;) fillers_.emplace_back(fd);
  }
  ~NoFreeDescriptors() {
    fillers_.clear();
    setrlimit(RLIMIT_NOFILE, &saved_);
  }

 private:
  rlimit saved_;
  std::vector<UniqueFd> fillers_;
};

// Item 6 of issue 11: out of descriptors, accept() fails with EMFILE and
// the listener stays readable; the control server must stop watching it for
// a while rather than spin, and serve again once descriptors are free.
TEST_F(ControlTest, OutOfDescriptorsPausesInsteadOfSpinning) {
  UniqueFd client = Connect();
  // Without a free descriptor, only locals: UBSan's vptr check on the
  // (polymorphic) fixture needs a descriptor of its own.
  ControlServer* server = control_.get();
  bool readable_before, readable_after;
  {
    NoFreeDescriptors none;
    readable_before = Readable(server->fd());  // The pending connection.
    server->OnReady();                         // accept() fails: EMFILE.
    readable_after = Readable(server->fd());
  }
  ASSERT_TRUE(readable_before);
  EXPECT_FALSE(readable_after) << "would spin on the listener";
  EXPECT_TRUE(absl::StartsWith(Serve(client.get()), "ok\nacceptor\tpid=4242"));
}

}  // namespace
}  // namespace offlog
