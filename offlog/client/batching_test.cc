// ProxyFile's opt-in batching (ProxyFileOptions::linger_us): held writes
// are sent on size, on the timer, by WaitWritten() and Close(), and a
// client killed with SIGKILL loses at most the linger's worth.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "offlog/client/glog_sink.h"
#include "offlog/client/logger.h"
#include "offlog/client/proxy_file.h"
#include "offlog/common/unique_fd.h"
#include "offlog/testing/server_harness.h"
#include "offlog/testing/test_peer.h"

namespace offlog {
namespace {

using ::offlog::client_test::PeerConnection;
using ::offlog::client_test::PeerTest;
using ::offlog::testing::ReadFileOrEmpty;
using ::offlog::testing::ServerProcess;
using ::offlog::testing::WaitUntil;

constexpr absl::Duration kLong = absl::Seconds(30);  // Only to catch hangs.
constexpr int64_t kForever = int64_t{3600} * 1000 * 1000;  // 1 h, in us.

std::string Record(int i) { return absl::StrFormat("line %06d\n", i); }

class BatchingPeerTest : public PeerTest {
 protected:
  void SetUp() override {
    PeerTest::SetUp();
    options_.socket_path = socket_path_;
    options_.linger_us = kForever;
    options_.batch_bytes = 10 * Record(0).size();
  }

  // Accepts the client and confirms its open; the connection in *conn.
  std::thread AcceptOne(std::optional<PeerConnection>* conn) {
    return std::thread([this, conn] {
      absl::StatusOr<PeerConnection> c = listener_->Accept(kLong);
      ASSERT_TRUE(c.ok()) << c.status();
      ASSERT_TRUE(c->ReadHandshake(kLong).ok());
      ASSERT_TRUE(c->SendMessage("OK").ok());
      conn->emplace(*std::move(c));
    });
  }

  ProxyFileOptions options_;
};

TEST_F(BatchingPeerTest, HoldsWritesUntilBatchBytesThenSendsThemTogether) {
  std::optional<PeerConnection> conn;
  std::thread peer = AcceptOne(&conn);
  absl::StatusOr<ProxyFile> file = ProxyFile::Open("a.log", options_);
  ASSERT_TRUE(file.ok()) << file.status();
  peer.join();
  ASSERT_TRUE(conn.has_value());
  std::string expected;
  for (int i = 0; i < 9; ++i) {
    ASSERT_TRUE(file->Write(Record(i)).ok());
    expected += Record(i);
  }
  // The linger is an hour: all nine are still held, counted as queued.
  EXPECT_EQ(file->queued_bytes(), expected.size());
  EXPECT_FALSE(conn->WaitReadable(absl::ZeroDuration()));
  ASSERT_TRUE(file->Write(Record(9)).ok());  // Reaches batch_bytes.
  expected += Record(9);
  EXPECT_EQ(file->queued_bytes(), 0u);
  absl::StatusOr<std::string> got = conn->ReadExactly(expected.size(), kLong);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, expected);
  conn->Close();  // No goodbye for the file's Close() to wait for.
}

TEST_F(BatchingPeerTest, TimerSendsHeldWritesWithoutFurtherCalls) {
  options_.linger_us = 1000;
  options_.batch_bytes = 1 << 20;
  std::optional<PeerConnection> conn;
  std::thread peer = AcceptOne(&conn);
  absl::StatusOr<ProxyFile> file = ProxyFile::Open("a.log", options_);
  ASSERT_TRUE(file.ok()) << file.status();
  peer.join();
  ASSERT_TRUE(conn.has_value());
  for (int round = 0; round < 3; ++round) {
    std::string expected;
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(file->Write(Record(i)).ok());
      expected += Record(i);
    }
    absl::StatusOr<std::string> got = conn->ReadExactly(expected.size(), kLong);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, expected);
  }
  conn->Close();  // No goodbye for the file's Close() to wait for.
}

TEST_F(BatchingPeerTest, MovedFileKeepsItsTimerAndCloseSendsTheBatch) {
  options_.linger_us = 1000;
  options_.batch_bytes = 1 << 20;
  std::string path, received;
  std::thread peer = ServeOneClient(&path, &received);
  absl::StatusOr<ProxyFile> opened = ProxyFile::Open("a.log", options_);
  ASSERT_TRUE(opened.ok()) << opened.status();
  ASSERT_TRUE(opened->Write(Record(0)).ok());
  ProxyFile file = *std::move(opened);
  ASSERT_TRUE(file.Write(Record(1)).ok());
  ProxyFile other = std::move(file);
  ASSERT_TRUE(other.Write(Record(2)).ok());
  options_.linger_us = kForever;  // Close() must not wait for the timer.
  EXPECT_TRUE(other.Close().ok());
  peer.join();
  EXPECT_EQ(received, Record(0) + Record(1) + Record(2));
}

class BatchingServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start({});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    options_.socket_path = server_->socket_path();
  }

  std::unique_ptr<ServerProcess> server_;
  ProxyFileOptions options_;
};

TEST_F(BatchingServerTest, WaitWrittenSendsTheBatchFirst) {
  options_.linger_us = kForever;
  options_.batch_bytes = 1 << 20;
  std::string path = server_->File("w.log");
  absl::StatusOr<ProxyFile> file = ProxyFile::Open(path, options_);
  ASSERT_TRUE(file.ok()) << file.status();
  std::string expected;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(file->Write(Record(i)).ok());
    expected += Record(i);
  }
  ASSERT_TRUE(file->WaitWritten(absl::Now() + kLong).ok());
  EXPECT_EQ(ReadFileOrEmpty(path), expected);
  EXPECT_TRUE(file->Close().ok());
}

TEST_F(BatchingServerTest, BatchingOffByDefaultSendsBeforeWriteReturns) {
  std::string path = server_->File("d.log");
  absl::StatusOr<ProxyFile> file = ProxyFile::Open(path, options_);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE(file->Write(Record(0)).ok());
  EXPECT_EQ(file->queued_bytes(), 0u);
  EXPECT_TRUE(file->Close().ok());
}

TEST_F(BatchingServerTest, LoggerAndGlogSinkTakeTheOptions) {
  LoggerOptions logger_options;
  logger_options.filepath = server_->File("logger.log");
  logger_options.stdout_level = std::nullopt;
  logger_options.stderr_level = std::nullopt;
  logger_options.offlog_socket_path = server_->socket_path();
  logger_options.offlog_linger_us = kForever;
  logger_options.offlog_batch_bytes = 1 << 20;
  absl::StatusOr<Logger> logger = Logger::Open(logger_options);
  ASSERT_TRUE(logger.ok()) << logger.status();
  ASSERT_TRUE(logger->Info("held by the batch").ok());
  ASSERT_TRUE(logger->WaitWritten(absl::Now() + kLong).ok());
  EXPECT_NE(ReadFileOrEmpty(logger_options.filepath).find("held by the batch"),
            std::string::npos);

  options_.linger_us = kForever;
  options_.batch_bytes = 1 << 20;
  std::string glog_path = server_->File("glog.log");
  absl::StatusOr<std::unique_ptr<GlogSink>> sink =
      GlogSink::Install(glog_path, options_);
  ASSERT_TRUE(sink.ok()) << sink.status();
  LOG(INFO) << "glog record held by the batch";
  ASSERT_TRUE((*sink)->WaitWritten(absl::Now() + kLong).ok());
  EXPECT_NE(ReadFileOrEmpty(glog_path).find("glog record held by the batch"),
            std::string::npos);
}

// --- kill -9 ---------------------------------------------------------------

constexpr int64_t kKillLingerUs = 200 * 1000;  // Long, so the timer sends.
// Scheduling slack on top of the linger: only lines whose Write() returned
// longer ago than linger + slack are required to be in the file.
constexpr absl::Duration kSlack = absl::Seconds(1);
constexpr uint32_t kIdle = 0xffffffff;  // The child's "writing no more".

// The child: writes numbered lines with batching on, telling `note_fd` the
// number of each once Write() returned OK; after `lines` lines (or never
// when `lines` < 0) it writes kIdle and waits to be killed. Never returns.
[[noreturn]] void WriteLinesAndNote(const std::string& path,
                                    const ProxyFileOptions& options, int lines,
                                    int note_fd) {
  absl::StatusOr<ProxyFile> file = ProxyFile::Open(path, options);
  if (!file.ok()) _exit(2);
  for (uint32_t i = 0; lines < 0 || i < static_cast<uint32_t>(lines); ++i) {
    if (!file->Write(Record(static_cast<int>(i))).ok()) _exit(3);
    if (::write(note_fd, &i, sizeof(i)) != sizeof(i)) _exit(4);
    absl::SleepFor(absl::Microseconds(100));  // Pacing, not synchronisation.
  }
  uint32_t idle = kIdle;
  if (::write(note_fd, &idle, sizeof(idle)) != sizeof(idle)) _exit(4);
  for (;;) ::pause();
}

// When the parent saw each line's note (a line's Write() returned before).
struct Notes {
  std::vector<absl::Time> seen;
  std::optional<absl::Time> idle_since;
};

// Reads notes from `fd` until `stop(notes)` says to stop; false on EOF or a
// hang past kLong.
bool ReadNotes(int fd, Notes& notes,
               const std::function<bool(const Notes&)>& stop) {
  absl::Time hang = absl::Now() + kLong;
  while (!stop(notes)) {
    if (absl::Now() > hang) return false;
    struct pollfd pfd = {fd, POLLIN, 0};
    if (::poll(&pfd, 1, 10) <= 0) continue;
    uint32_t note;
    if (::read(fd, &note, sizeof(note)) != sizeof(note)) return false;
    if (note == kIdle) {
      notes.idle_since = absl::Now();
    } else {
      notes.seen.push_back(absl::Now());
    }
  }
  return true;
}

// How many of the file's first lines are lines 0, 1, 2, ... in order.
size_t LinesInOrder(const std::string& content) {
  size_t n = 0;
  while ((n + 1) * Record(0).size() <= content.size() &&
         content.compare(n * Record(0).size(), Record(0).size(),
                         Record(static_cast<int>(n))) == 0) {
    ++n;
  }
  return n;
}

// Forks a child that writes (see WriteLinesAndNote), SIGKILLs it when
// `stop` says so, and checks that every line noted more than linger +
// kSlack before the kill reaches the file.
void KillAndCheck(ServerProcess& server, int lines,
                  const std::function<bool(const Notes&)>& stop) {
  ProxyFileOptions options;
  options.socket_path = server.socket_path();
  options.linger_us = kKillLingerUs;
  options.batch_bytes = 1 << 20;  // Only the timer sends.
  std::string path = server.File("killed.log");
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  UniqueFd note_read(pipe_fds[0]), note_write(pipe_fds[1]);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) WriteLinesAndNote(path, options, lines, note_write.get());
  note_write.Reset();
  Notes notes;
  bool read_ok = ReadNotes(note_read.get(), notes, stop);
  absl::Time kill_time = absl::Now();
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(read_ok) << "child exited early, status " << wstatus;
  absl::Time old_enough =
      kill_time - absl::Microseconds(kKillLingerUs) - kSlack;
  size_t required = 0;
  while (required < notes.seen.size() && notes.seen[required] < old_enough) {
    ++required;
  }
  ASSERT_GT(required, 0u) << "no line old enough to check";
  // The server writes the dead client's bytes when it sees the EOF; no
  // event announces that, so poll the file (the deadline only for hangs).
  absl::Status found =
      WaitUntil([&] { return LinesInOrder(ReadFileOrEmpty(path)) >= required; },
                kLong, "lines in the file");
  size_t in_file = LinesInOrder(ReadFileOrEmpty(path));
  EXPECT_TRUE(found.ok()) << in_file << " lines in the file, " << required
                          << " of " << notes.seen.size()
                          << " noted were old enough to be required";
  std::printf("noted %zu, required %zu, in file %zu\n", notes.seen.size(),
              required, in_file);
}

TEST_F(BatchingServerTest, KillAfterIdleLosesNothingOlderThanTheLinger) {
  const absl::Duration kWait =
      absl::Microseconds(kKillLingerUs) + kSlack + absl::Milliseconds(200);
  KillAndCheck(*server_, 500, [&](const Notes& notes) {
    return notes.idle_since.has_value() &&
           absl::Now() > *notes.idle_since + kWait;
  });
}

TEST_F(BatchingServerTest, KillMidStreamLosesNothingOlderThanTheLinger) {
  absl::Time start = absl::Now();
  KillAndCheck(*server_, -1, [&](const Notes& notes) {
    return notes.seen.size() > 1000 &&
           absl::Now() > start + absl::Microseconds(kKillLingerUs) + kSlack +
                             absl::Seconds(1);
  });
}

}  // namespace
}  // namespace offlog
