// FollowingFile against the real offlogd (//offlog/testing's harness).
#include "offlog/client/following_file.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "offlog/common/unique_fd.h"
#include "offlog/testing/server_harness.h"

namespace offlog {
namespace {

using ::offlog::testing::ReadFileOrEmpty;
using ::offlog::testing::ServerProcess;
using ::offlog::testing::WaitUntil;

constexpr absl::Duration kDeadline = absl::Seconds(20);

// "LOST <count> before <seconds>\n": the seconds of the time the line was
// made for (the record it precedes, or the clock's, 0).
std::string TestLostLine(const LostRecords& lost, absl::Time when) {
  return absl::StrCat("LOST ", lost.count(), " before ",
                      absl::ToUnixSeconds(when), "\n");
}

class FollowingFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The server checks for rotation every 20 ms.
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start({"-r", "20"});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  FollowingFileOptions Options() {
    FollowingFileOptions options;
    options.file.socket_path = server_->socket_path();
    options.lost_line = &TestLostLine;
    options.clock = [] { return absl::UnixEpoch(); };
    return options;
  }

  // Calls Follow() until it returns an error (the server has reported the
  // rotation, or an error); returns that error.
  absl::Status FollowUntilError(FollowingFile& file) {
    absl::Status status;
    absl::Status waited =
        WaitUntil([&] { return !(status = file.Follow()).ok(); }, kDeadline,
                  "Follow() never failed");
    return waited.ok() ? status : waited;
  }

  std::unique_ptr<ServerProcess> server_;
};

absl::Time At(int64_t seconds) { return absl::FromUnixSeconds(seconds); }

TEST_F(FollowingFileTest, FollowsARenameToTheNewFile) {
  std::string path = server_->File("app.log");
  absl::StatusOr<FollowingFile> file = FollowingFile::Open(path, Options());
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE(file->Write("one\n", At(1)).ok());
  ASSERT_TRUE(file->Write("two\n", At(2)).ok());
  ASSERT_EQ(std::rename(path.c_str(), (path + ".1").c_str()), 0);
  ASSERT_TRUE(WaitUntil(
                  [&] {
                    return file->Follow().ok() &&
                           file->rotations_followed() == 1;
                  },
                  kDeadline, "the rotation was never followed")
                  .ok());
  ASSERT_TRUE(file->Write("three\n", At(3)).ok());
  // Covers the file left behind too.
  ASSERT_TRUE(file->WaitWritten(absl::Now() + kDeadline).ok());
  EXPECT_EQ(ReadFileOrEmpty(path + ".1"), "one\ntwo\n");
  EXPECT_EQ(ReadFileOrEmpty(path), "three\n");
  EXPECT_TRUE(file->Close().ok());
  EXPECT_FALSE(file->reopen_pending());
}

TEST_F(FollowingFileTest, ReopenThatFailsAtOnceIsRetriedOnALaterWrite) {
  std::string path = server_->File("app.log");
  absl::StatusOr<FollowingFile> file = FollowingFile::Open(path, Options());
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE(file->Write("one\n", At(1)).ok());
  // The reopen cannot connect while the socket has another name.
  const std::string socket = server_->socket_path();
  ASSERT_EQ(std::rename(socket.c_str(), (socket + ".away").c_str()), 0);
  ASSERT_EQ(std::rename(path.c_str(), (path + ".1").c_str()), 0);
  absl::Status failed = FollowUntilError(*file);
  EXPECT_TRUE(absl::IsNotFound(failed)) << failed;
  EXPECT_EQ(failed.message(),
            absl::StrCat("server socket ", socket, " not found"));
  EXPECT_EQ(file->rotations_followed(), 1u);
  EXPECT_TRUE(file->reopen_pending());
  absl::Status again = file->Write("lost\n", At(2));
  EXPECT_TRUE(absl::IsNotFound(again)) << again;
  absl::Status waited = file->WaitWritten(absl::Now() + kDeadline);
  EXPECT_TRUE(absl::IsFailedPrecondition(waited)) << waited;

  ASSERT_EQ(std::rename((socket + ".away").c_str(), socket.c_str()), 0);
  ASSERT_TRUE(file->Write("two\n", At(3)).ok());
  EXPECT_FALSE(file->reopen_pending());
  ASSERT_TRUE(file->WaitWritten(absl::Now() + kDeadline).ok());
  EXPECT_TRUE(file->Close().ok());
  EXPECT_EQ(ReadFileOrEmpty(path + ".1"), "one\n");
  EXPECT_EQ(ReadFileOrEmpty(path), "two\n");
}

TEST_F(FollowingFileTest, ReopenThatTheServerFailsIsRetriedOnALaterWrite) {
  std::string dir = server_->File("logs");
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  std::string path = dir + "/app.log";
  absl::StatusOr<FollowingFile> file = FollowingFile::Open(path, Options());
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE(file->Write("one\n", At(1)).ok());
  // The directory goes: the server cannot open the path again.
  ASSERT_EQ(std::rename(dir.c_str(), (dir + ".old").c_str()), 0);
  absl::Status failed = FollowUntilError(*file);
  EXPECT_TRUE(absl::IsNotFound(failed)) << failed;
  EXPECT_EQ(failed.message(),
            absl::StrCat("FileNotFoundError: [Errno 2] No such file or "
                         "directory: '",
                         path, "'"));
  // The server may report the failed path as rotated too before its error.
  EXPECT_GE(file->rotations_followed(), 1u);
  EXPECT_TRUE(file->reopen_pending());

  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);  // Back.
  ASSERT_TRUE(file->Write("two\n", At(2)).ok());
  EXPECT_FALSE(file->reopen_pending());
  ASSERT_TRUE(file->WaitWritten(absl::Now() + kDeadline).ok());
  EXPECT_TRUE(file->Close().ok());
  EXPECT_EQ(ReadFileOrEmpty(dir + ".old/app.log"), "one\n");
  EXPECT_EQ(ReadFileOrEmpty(path), "two\n");
}

// Reads `fd` (non-blocking) until end of file, or kDeadline.
std::string ReadToEnd(int fd) {
  std::string got;
  absl::Time deadline = absl::Now() + kDeadline;
  char buf[65536];
  while (absl::Now() < deadline) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n == 0) break;
    if (n > 0) {
      got.append(buf, static_cast<size_t>(n));
      continue;
    }
    struct pollfd pfd = {fd, POLLIN, 0};
    ::poll(&pfd, 1, 100);
  }
  return got;
}

TEST_F(FollowingFileTest, LostLineGoesWithTheFirstRecordKeptInOneWrite) {
  // A FIFO nobody reads yet: the server's write blocks, the queue fills.
  std::string fifo = server_->File("app.fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0666), 0);
  UniqueFd reader(::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(reader.valid());
  FollowingFileOptions options = Options();
  options.file.max_queued_bytes = 64 * 1024;
  absl::StatusOr<FollowingFile> file = FollowingFile::Open(fifo, options);
  ASSERT_TRUE(file.ok()) << file.status();
  const std::string padding(1000, 'x');
  int64_t i = 1;
  for (; file->dropped_records() < 10; ++i) {
    ASSERT_TRUE(file->Write(absl::StrCat(i, " ", padding, "\n"), At(i)).ok());
  }
  const int64_t first_lost = i - 10;
  std::string got;
  std::thread drain([&] { got = ReadToEnd(reader.get()); });
  // Written until one is kept, as the reader makes room.
  for (bool kept_one = false; !kept_one; ++i) {
    uint64_t dropped = file->dropped_records();
    ASSERT_TRUE(file->Write(absl::StrCat(i, " kept\n"), At(i)).ok());
    kept_one = file->dropped_records() == dropped;
  }
  ASSERT_TRUE(file->Close().ok());
  drain.join();
  const int64_t kept = i - 1;
  // The records before the gap, then the line stamped with the time of the
  // first record kept (made for that write, not alone at the clock's 0),
  // then that record, last.
  std::string expected_tail =
      absl::StrCat("LOST ", file->dropped_records(), " before ", kept, "\n",
                   kept, " kept\n");
  ASSERT_TRUE(got.ends_with(expected_tail)) << got.substr(got.size() - 200);
  std::string before = got.substr(0, got.size() - expected_tail.size());
  std::vector<std::string> lines = absl::StrSplit(before, '\n');
  ASSERT_EQ(lines.size(), static_cast<size_t>(first_lost));  // And a "".
  EXPECT_EQ(lines[first_lost - 2], absl::StrCat(first_lost - 1, " ", padding));
  EXPECT_EQ(file->dropped_records(), static_cast<uint64_t>(kept - first_lost));
}

}  // namespace
}  // namespace offlog
