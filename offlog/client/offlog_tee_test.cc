// Runs the offlog_tee binary against a stand-in server.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "offlog/testing/test_peer.h"

extern char** environ;

namespace offlog {
namespace {

using ::offlog::client_test::PeerConnection;
using ::offlog::client_test::TempDir;
using ::offlog::client_test::TestListener;

constexpr absl::Duration kLong = absl::Seconds(30);

struct TeeResult {
  int exit_code = -1;
  std::string out, err;
};

std::string TeePath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return absl::StrCat(srcdir != nullptr ? srcdir : ".",
                      "/offlog/offlog/client/offlog_tee");
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
  return out;
}

// Runs offlog_tee with `args`, feeding it `input` (small: it must fit in a
// pipe) and collecting its output.
TeeResult RunTee(std::vector<std::string> args, const std::string& input) {
  int in[2], out[2], err[2];
  EXPECT_EQ(::pipe2(in, O_CLOEXEC), 0);
  EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
  EXPECT_EQ(::pipe2(err, O_CLOEXEC), 0);
  EXPECT_EQ(::write(in[1], input.data(), input.size()),
            static_cast<ssize_t>(input.size()));
  ::close(in[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  std::string binary = TeePath();
  std::vector<char*> argv = {binary.data()};
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(),
                       environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  TeeResult result;
  EXPECT_EQ(rc, 0) << binary;
  if (rc == 0) {
    result.out = ReadAll(out[0]);
    result.err = ReadAll(err[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  ::close(out[0]);
  ::close(err[0]);
  return result;
}

using OfflogTeeTest = client_test::PeerTest;

TEST_F(OfflogTeeTest, AppendsStdinEchoesAndExitsZeroAfterBye) {
  std::string path, received;
  std::thread peer = ServeOneClient(&path, &received);
  std::string input("line 1\nline 2\n\0binary\n", 22);
  TeeResult result = RunTee(
      {"-s", socket_path_, "-t", "3000", "--echo", "/tmp/tee.log"}, input);
  peer.join();
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(path, "/tmp/tee.log");
  EXPECT_EQ(received, input);
  EXPECT_EQ(result.out, input);
  EXPECT_EQ(result.err, "");
}

TEST_F(OfflogTeeTest, BatchingSendsEverythingBeforeExitingZero) {
  std::string path, received;
  std::thread peer = ServeOneClient(&path, &received);
  std::string input;
  for (int i = 0; i < 100; ++i) input += absl::StrCat("line ", i, "\n");
  TeeResult result = RunTee({"-s", socket_path_, "--linger-us", "3600000000",
                             "--batch-bytes", "100000", "/tmp/tee.log"},
                            input);
  peer.join();
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(received, input);
  EXPECT_EQ(RunTee({"--linger-us", "-1", "/tmp/x"}, "").exit_code, 2);
}

TEST_F(OfflogTeeTest, ServerErrorGoesToStderrWithNonZeroExit) {
  const std::string error =
      "PermissionError: [Errno 13] Permission denied: '/root/x.log'";
  std::thread peer([&] {
    absl::StatusOr<PeerConnection> conn = listener_->Accept(kLong);
    ASSERT_TRUE(conn.ok()) << conn.status();
    ASSERT_TRUE(conn->ReadHandshake(kLong).ok());
    ASSERT_TRUE(conn->SendMessage(error).ok());
  });
  TeeResult result = RunTee({"-s", socket_path_, "/root/x.log"}, "data\n");
  peer.join();
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err, absl::StrCat("offlog_tee: ", error, "\n"));
  EXPECT_EQ(result.out, "");
}

TEST_F(OfflogTeeTest, UsageErrorsExitTwo) {
  EXPECT_EQ(RunTee({}, "").exit_code, 2);
  EXPECT_EQ(RunTee({"-t", "soon", "/tmp/x"}, "").exit_code, 2);
  EXPECT_EQ(RunTee({"/tmp/x", "/tmp/y"}, "").exit_code, 2);
  EXPECT_EQ(RunTee({"-s"}, "").exit_code, 2);
}

}  // namespace
}  // namespace offlog
