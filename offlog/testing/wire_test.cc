#include "offlog/testing/wire.h"

#include <sys/socket.h>

#include <string>

#include "gtest/gtest.h"

namespace offlog::bench {
namespace {

constexpr int64_t kForever = INT64_MAX;

struct Pair {
  Pair() {
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    client.Reset(sv[0]);
    server.Reset(sv[1]);
  }
  void ServerSays(absl::string_view bytes) {
    ASSERT_EQ(send(server.get(), bytes.data(), bytes.size(), 0),
              static_cast<ssize_t>(bytes.size()));
  }
  std::string ServerReads() {
    char buf[256];
    ssize_t n = recv(server.get(), buf, sizeof(buf), MSG_DONTWAIT);
    return n > 0 ? std::string(buf, n) : "";
  }
  UniqueFd client, server;
};

TEST(WireTest, ReadsMessagesAndKeepsWhatFollows) {
  Pair p;
  p.ServerSays(std::string("OK\0ROTATED\0BY", 13));
  std::string buffer;
  EXPECT_EQ(*ReadMessage(p.client.get(), kForever, &buffer), "OK");
  EXPECT_EQ(*ReadMessage(p.client.get(), kForever, &buffer), "ROTATED");
  EXPECT_EQ(buffer, "BY");
}

TEST(WireTest, HandshakeSendsThePathAndAcceptsOk) {
  Pair p;
  p.ServerSays(std::string("OK\0", 3));
  std::string buffer;
  EXPECT_TRUE(Handshake(p.client.get(), "/tmp/x", kForever, &buffer).ok());
  EXPECT_EQ(p.ServerReads(), std::string("/tmp/x\0", 7));
}

TEST(WireTest, HandshakeReturnsTheServersError) {
  Pair p;
  const std::string err = "PermissionError: [Errno 13] Permission denied";
  p.ServerSays(err + std::string(1, '\0'));
  std::string buffer;
  absl::Status s = Handshake(p.client.get(), "/x", kForever, &buffer);
  EXPECT_EQ(s.message(), err);
}

TEST(WireTest, GoodbyeSkipsRotatedAndWaitsForBye) {
  Pair p;
  p.ServerSays(std::string("ROTATED\0BYE\0", 12));
  std::string buffer;
  EXPECT_TRUE(Goodbye(p.client.get(), kForever, &buffer).ok());
}

TEST(WireTest, EndOfStreamIsUnavailable) {
  Pair p;
  p.server.Reset();
  std::string buffer;
  EXPECT_TRUE(absl::IsUnavailable(
      ReadMessage(p.client.get(), kForever, &buffer).status()));
}

TEST(WireTest, QuantileIsTheNearestRank) {
  std::vector<int64_t> v = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_EQ(Quantile(v, .5), 5);
  EXPECT_EQ(Quantile(v, .99), 10);
  EXPECT_EQ(Quantile(v, 1), 10);
  EXPECT_EQ(Quantile(v, 0), 1);
  EXPECT_EQ(Quantile({}, .5), 0);
}

}  // namespace
}  // namespace offlog::bench
