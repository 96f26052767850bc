// The client against the real offlogd, started by //offlog/tests's harness.
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "offlog/client/logger.h"
#include "offlog/client/proxy_file.h"
#include "offlog/common/unique_fd.h"
#include "offlog/testing/server_harness.h"

namespace offlog {
namespace {

using ::offlog::testing::ReadFileOrEmpty;
using ::offlog::testing::ServerProcess;

constexpr absl::Duration kDeadline = absl::Seconds(10);

// Creates `path` if need be and sets or clears its immutable attribute.
bool SetImmutable(const std::string& path, bool on) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644));
  int flags = 0;
  if (!fd.valid() || ::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) != 0) {
    return false;
  }
  flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
  return ::ioctl(fd.get(), FS_IOC_SETFLAGS, &flags) == 0;
}

class ClientServerTest : public ::testing::Test {
 protected:
  void StartServer(std::vector<std::string> args = {}) {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(std::move(args));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    options_.socket_path = server_->socket_path();
  }

  absl::Status OpenError(const std::string& path) {
    absl::StatusOr<ProxyFile> file = ProxyFile::Open(path, options_);
    return file.status();
  }

  std::unique_ptr<ServerProcess> server_;
  ProxyFileOptions options_;
};

TEST_F(ClientServerTest, OpenWriteCloseAppendsEveryByte) {
  StartServer();
  std::string path = server_->File("a.log");
  std::string expected;
  for (int round = 0; round < 2; ++round) {
    absl::StatusOr<ProxyFile> file = ProxyFile::Open(path, options_);
    ASSERT_TRUE(file.ok()) << file.status();
    for (int i = 0; i < 5000; ++i) {
      std::string record = absl::StrCat("round ", round, " record ", i, "\n");
      ASSERT_TRUE(file->Write(record).ok());
      expected += record;
    }
    std::string binary("\0\x01\xff\n", 4);
    ASSERT_TRUE(file->Write(binary).ok());
    expected += binary;
    ASSERT_TRUE(file->Close().ok());
  }
  EXPECT_EQ(ReadFileOrEmpty(path), expected);
}

TEST_F(ClientServerTest, ServerErrorsArriveAsStatusWithTheirText) {
  StartServer();
  absl::Status missing = OpenError("/nonexistent/dir/x.log");
  EXPECT_TRUE(absl::IsNotFound(missing)) << missing;
  EXPECT_EQ(missing.message(),
            "FileNotFoundError: [Errno 2] No such file or directory: "
            "'/nonexistent/dir/x.log'");

  std::string regular = server_->File("regular");
  ASSERT_TRUE(ProxyFile::Open(regular, options_)->Close().ok());
  absl::Status not_dir = OpenError(regular + "/x.log");
  EXPECT_TRUE(absl::IsInvalidArgument(not_dir)) << not_dir;
  EXPECT_EQ(not_dir.message(),
            absl::StrCat("NotADirectoryError: [Errno 20] Not a directory: '",
                         regular, "/x.log'"));

  absl::Status is_dir = OpenError(server_->dir());
  EXPECT_TRUE(absl::IsInvalidArgument(is_dir)) << is_dir;
  EXPECT_EQ(is_dir.message(),
            absl::StrCat("IsADirectoryError: [Errno 21] Is a directory: '",
                         server_->dir(), "'"));
}

TEST_F(ClientServerTest, PermissionErrorIsPermissionDenied) {
  StartServer();
  // Tests run as root, which permission bits do not stop; an immutable
  // file stops even root (EPERM).
  std::string immutable = server_->File("immutable.log");
  if (!SetImmutable(immutable, true)) {
    GTEST_SKIP() << "cannot set the immutable attribute here";
  }
  absl::Status denied = OpenError(immutable);
  EXPECT_TRUE(SetImmutable(immutable, false));
  EXPECT_TRUE(absl::IsPermissionDenied(denied)) << denied;
  EXPECT_EQ(
      denied.message(),
      absl::StrCat("PermissionError: [Errno 1] Operation not permitted: '",
                   immutable, "'"));
}

TEST_F(ClientServerTest, RotationIsReportedAfterRename) {
  StartServer({"-r", "50"});
  std::string path = server_->File("rot.log");
  absl::StatusOr<ProxyFile> file = ProxyFile::Open(path, options_);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE(file->Write("before\n").ok());
  absl::StatusOr<bool> rotated = file->CheckRotated();
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_FALSE(*rotated);
  ASSERT_EQ(std::rename(path.c_str(), (path + ".1").c_str()), 0);
  // CheckRotated() never blocks; poll it until the server's 50 ms check
  // has run, with a deadline.
  absl::Time deadline = absl::Now() + kDeadline;
  while (rotated.ok() && !*rotated && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
    rotated = file->CheckRotated();
  }
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_TRUE(*rotated);
  ASSERT_TRUE(file->Close().ok());
  EXPECT_EQ(ReadFileOrEmpty(path + ".1"), "before\n");
}

TEST_F(ClientServerTest, ServerShutdownSurfacesOnTheNextWrite) {
  StartServer();
  std::string path = server_->File("down.log");
  absl::StatusOr<ProxyFile> file = ProxyFile::Open(path, options_);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE(file->Write("kept\n").ok());
  ASSERT_TRUE(server_->Signal(SIGTERM).ok());
  absl::StatusOr<int> exit = server_->Wait(kDeadline);
  ASSERT_TRUE(exit.ok()) << exit.status();
  absl::Status status = file->Write("lost\n");
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  EXPECT_EQ(status.message(), "OSError: offlog server exited");
  EXPECT_EQ(ReadFileOrEmpty(path), "kept\n");
}

TEST_F(ClientServerTest, LoggerRecordsReachTheFile) {
  StartServer();
  LoggerOptions options;
  options.name = "my app";
  options.filepath = server_->File("app.log");
  options.offlog_socket_path = server_->socket_path();
  options.stdout_level = std::nullopt;
  options.stderr_level = std::nullopt;
  options.time_zone = absl::UTCTimeZone();
  options.clock = [] {
    return absl::FromCivil(absl::CivilSecond(2023, 7, 3, 10, 12, 54),
                           absl::UTCTimeZone()) +
           absl::Milliseconds(796);
  };
  absl::StatusOr<Logger> logger = Logger::Open(options);
  ASSERT_TRUE(logger.ok()) << logger.status();
  ASSERT_TRUE(logger->Info("Hello world, params are %s %d", "foo", 7).ok());
  ASSERT_TRUE(logger->Close().ok());
  EXPECT_EQ(ReadFileOrEmpty(options.filepath),
            "[2023-07-03 10:12:54.796 my app INFO] Hello world, params are "
            "foo 7\n");
}

}  // namespace
}  // namespace offlog
