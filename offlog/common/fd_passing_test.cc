#include "offlog/common/fd_passing.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace offlog {
namespace {

TEST(FdPassingTest, DescriptorAndPayloadArriveTogether) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  UniqueFd r(pipefd[0]), w(pipefd[1]);

  ASSERT_TRUE(SendWithFd(a.get(), "hello", w.get()).ok());
  w.Reset();
  absl::StatusOr<ReceivedMessage> got = RecvWithFd(b.get(), 64);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->payload, "hello");
  ASSERT_TRUE(got->fd.valid());
  EXPECT_EQ(fcntl(got->fd.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  ASSERT_EQ(write(got->fd.get(), "x", 1), 1);
  char c = 0;
  ASSERT_EQ(read(r.get(), &c, 1), 1);
  EXPECT_EQ(c, 'x');
}

TEST(FdPassingTest, MessageWithoutDescriptor) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  ASSERT_TRUE(SendWithFd(a.get(), "ping", -1).ok());
  absl::StatusOr<ReceivedMessage> got = RecvWithFd(b.get(), 64);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->payload, "ping");
  EXPECT_FALSE(got->fd.valid());
}

TEST(FdPassingTest, ClosedPeerIsUnavailable) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  a.Reset();
  EXPECT_EQ(RecvWithFd(b.get(), 64).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(SendWithFd(b.get(), "x", -1).code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace offlog
