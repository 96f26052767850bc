#include "offlog/common/unix_socket.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace offlog {
namespace {

// A socket path must fit in 107 bytes; TEST_TMPDIR may be longer.
class UnixSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/unix_socket_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/s.sock";
  }
  void TearDown() override {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }

  // Binds path_; listens when `listen_too`.
  UniqueFd Bind(bool listen_too) {
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr;
    socklen_t len = UnixAddress(path_, &addr);
    EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len), 0);
    if (listen_too) {
      EXPECT_EQ(listen(fd.get(), 4), 0);
    }
    return fd;
  }

  std::string dir_;
  std::string path_;
};

TEST_F(UnixSocketTest, ConnectsToAListener) {
  UniqueFd listener = Bind(true);
  int err = -1;
  UniqueFd fd = ConnectUnixSocket(path_, {}, &err);
  ASSERT_TRUE(fd.valid());
  EXPECT_EQ(err, 0);
  UniqueFd peer(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(peer.valid());
  ASSERT_EQ(send(fd.get(), "x", 1, MSG_NOSIGNAL), 1);
  char c = 0;
  EXPECT_EQ(recv(peer.get(), &c, 1, 0), 1);
  EXPECT_EQ(c, 'x');
}

TEST_F(UnixSocketTest, ReportsTheErrnoOfTheFailingCall) {
  int err = 0;
  EXPECT_FALSE(ConnectUnixSocket(path_, {}, &err).valid());
  EXPECT_EQ(err, ENOENT);
  UniqueFd bound = Bind(false);  // Bound but not listening.
  EXPECT_FALSE(ConnectUnixSocket(path_, {}, &err).valid());
  EXPECT_EQ(err, ECONNREFUSED);
  EXPECT_FALSE(ConnectUnixSocket(std::string(108, 'x'), {}, &err).valid());
  EXPECT_EQ(err, ENAMETOOLONG);
}

TEST_F(UnixSocketTest, SetsTheOptionsAsked) {
  UniqueFd listener = Bind(true);
  UnixConnectOptions options;
  options.send_timeout = absl::Milliseconds(1500);
  options.receive_timeout = absl::Seconds(2);
  options.send_buffer_bytes = 65536;
  int err = 0;
  UniqueFd fd = ConnectUnixSocket(path_, options, &err);
  ASSERT_TRUE(fd.valid()) << err;
  timeval tv = {};
  socklen_t len = sizeof(tv);
  ASSERT_EQ(getsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, &len), 0);
  EXPECT_EQ(tv.tv_sec, 1);
  EXPECT_EQ(tv.tv_usec, 500000);
  ASSERT_EQ(getsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, &len), 0);
  EXPECT_EQ(tv.tv_sec, 2);
  int bytes = 0;
  len = sizeof(bytes);
  ASSERT_EQ(getsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &bytes, &len), 0);
  EXPECT_GE(bytes, 65536);  // The kernel doubles what it is given.
}

TEST_F(UnixSocketTest, StatusNamesThePath) {
  absl::StatusOr<UniqueFd> fd = ConnectUnix(path_);
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(fd.status().message().find(path_), absl::string_view::npos);
}

TEST(UnixAddressTest, RefusesAPathThatDoesNotFit) {
  sockaddr_un addr;
  EXPECT_EQ(UnixAddress(std::string(sizeof(addr.sun_path), 'x'), &addr), 0u);
  EXPECT_GT(UnixAddress(std::string(sizeof(addr.sun_path) - 1, 'x'), &addr),
            0u);
  EXPECT_EQ(addr.sun_family, AF_UNIX);
}

}  // namespace
}  // namespace offlog
