#include "offlog/client/logger.h"

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/civil_time.h"
#include "gtest/gtest.h"
#include "offlog/testing/test_peer.h"

namespace offlog {
namespace {

using ::offlog::client_test::PeerConnection;
using ::offlog::client_test::TempDir;
using ::offlog::client_test::TestListener;

constexpr absl::Duration kLong = absl::Seconds(30);

// 2023-07-03 10:12:54.796 in a zone 2 hours east of UTC.
absl::TimeZone Zone() { return absl::FixedTimeZone(2 * 3600); }
absl::Time FixedTime() {
  return absl::FromCivil(absl::CivilSecond(2023, 7, 3, 10, 12, 54), Zone()) +
         absl::Microseconds(796123);
}

LoggerOptions Fixed(std::string name) {
  LoggerOptions options;
  options.name = std::move(name);
  options.clock = [] { return FixedTime(); };
  options.time_zone = Zone();
  options.stdout_level = std::nullopt;
  options.stderr_level = std::nullopt;
  return options;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

TEST(LoggerFormatTest, MatchesTheOriginalByteForByte) {
  absl::StatusOr<Logger> logger = Logger::Open(Fixed("my app"));
  ASSERT_TRUE(logger.ok()) << logger.status();
  EXPECT_EQ(logger->Format(LogLevel::kInfo, "Hello world"),
            "[2023-07-03 10:12:54.796 my app INFO] Hello world\n");
  EXPECT_EQ(logger->Format(LogLevel::kCritical, "x"),
            "[2023-07-03 10:12:54.796 my app CRITICAL] x\n");
  absl::StatusOr<Logger> nameless = Logger::Open(Fixed(""));
  ASSERT_TRUE(nameless.ok()) << nameless.status();
  EXPECT_EQ(nameless->Format(LogLevel::kWarning, "w"),
            "[2023-07-03 10:12:54.796 WARNING] w\n");
}

TEST(LoggerFormatTest, ExceptionAppendsTypeAndWhat) {
  absl::StatusOr<Logger> logger = Logger::Open(Fixed("app"));
  ASSERT_TRUE(logger.ok()) << logger.status();
  EXPECT_EQ(logger->Format(LogLevel::kError, "no exception", true),
            "[2023-07-03 10:12:54.796 app ERROR] no exception\n"
            "NoneType: None\n");
  try {
    throw std::runtime_error("division by zero");
  } catch (...) {
    EXPECT_EQ(logger->Format(LogLevel::kError, "Got an error", true),
              "[2023-07-03 10:12:54.796 app ERROR] Got an error\n"
              "std::runtime_error: division by zero\n");
  }
  try {
    throw 7;
  } catch (...) {
    EXPECT_EQ(logger->Format(LogLevel::kError, "int", true),
              "[2023-07-03 10:12:54.796 app ERROR] int\nint\n");
  }
}

class LoggerFileTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_.emplace(); }
  std::optional<TempDir> dir_;
};

TEST_F(LoggerFileTest, LocalFileGetsFormattedRecordsAtFileLevel) {
  LoggerOptions options = Fixed("my app");
  options.filepath = dir_->path() + "/app.log";
  options.local_file = true;
  options.file_level = LogLevel::kInfo;
  absl::StatusOr<Logger> logger = Logger::Open(options);
  ASSERT_TRUE(logger.ok()) << logger.status();
  EXPECT_TRUE(logger->Debug("hidden").ok());
  EXPECT_TRUE(logger->Info("Hello world, params are %s %d", "foo", 7).ok());
  EXPECT_TRUE(logger->Warning("100% literal").ok());
  EXPECT_TRUE(logger->Log(LogLevel::kError, "%d%%", 5).ok());
  EXPECT_TRUE(logger->Close().ok());
  EXPECT_EQ(ReadFile(options.filepath),
            "[2023-07-03 10:12:54.796 my app INFO] Hello world, params are "
            "foo 7\n"
            "[2023-07-03 10:12:54.796 my app WARNING] 100% literal\n"
            "[2023-07-03 10:12:54.796 my app ERROR] 5%\n");
}

TEST_F(LoggerFileTest, LocalFileFollowsRotation) {
  LoggerOptions options = Fixed("");
  options.filepath = dir_->path() + "/app.log";
  options.local_file = true;
  absl::StatusOr<Logger> logger = Logger::Open(options);
  ASSERT_TRUE(logger.ok()) << logger.status();
  EXPECT_TRUE(logger->Info("one").ok());
  ASSERT_EQ(
      std::rename(options.filepath.c_str(), (options.filepath + ".1").c_str()),
      0);
  EXPECT_TRUE(logger->Info("two").ok());
  EXPECT_TRUE(logger->Close().ok());
  EXPECT_EQ(ReadFile(options.filepath + ".1"),
            "[2023-07-03 10:12:54.796 INFO] one\n");
  EXPECT_EQ(ReadFile(options.filepath), "[2023-07-03 10:12:54.796 INFO] two\n");
}

TEST_F(LoggerFileTest, LocalFileErrorIsPythonStyle) {
  LoggerOptions options = Fixed("");
  options.filepath = "/nonexistent/dir/x.log";
  options.local_file = true;
  absl::StatusOr<Logger> logger = Logger::Open(options);
  EXPECT_TRUE(absl::IsNotFound(logger.status())) << logger.status();
  EXPECT_EQ(logger.status().message(),
            "FileNotFoundError: [Errno 2] No such file or directory: "
            "'/nonexistent/dir/x.log'");
}

TEST_F(LoggerFileTest, ConsoleLevelsSplitBetweenStdoutAndStderr) {
  LoggerOptions options = Fixed("n");
  options.stdout_level = LogLevel::kInfo;
  options.stderr_level = LogLevel::kWarning;
  absl::StatusOr<Logger> logger = Logger::Open(options);
  ASSERT_TRUE(logger.ok()) << logger.status();
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  EXPECT_TRUE(logger->Debug("d").ok());
  EXPECT_TRUE(logger->Info("i").ok());
  EXPECT_TRUE(logger->Error("e").ok());
  std::string out = ::testing::internal::GetCapturedStdout();
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(out, "[2023-07-03 10:12:54.796 n INFO] i\n");
  EXPECT_EQ(err, "[2023-07-03 10:12:54.796 n ERROR] e\n");
}

TEST_F(LoggerFileTest, ThroughServerFollowsRotatedByReopeningWithoutBlocking) {
  std::string socket_path = dir_->path() + "/s.sock";
  absl::StatusOr<TestListener> listener = TestListener::Create(socket_path);
  ASSERT_TRUE(listener.ok()) << listener.status();
  absl::Notification rotated;
  std::string first_data, second_data, first_path, second_path;
  std::thread peer([&] {
    absl::StatusOr<PeerConnection> first = listener->Accept(kLong);
    ASSERT_TRUE(first.ok()) << first.status();
    first_path = *first->ReadHandshake(kLong);
    ASSERT_TRUE(first->SendMessage("OK").ok());
    first_data = *first->ReadExactly(35, kLong);
    ASSERT_TRUE(first->SendMessage("ROTATED").ok());
    rotated.Notify();
    // The logger closes without waiting for BYE: the data ends there.
    first_data += *first->ReadToEnd(kLong);
    absl::StatusOr<PeerConnection> second = listener->Accept(kLong);
    ASSERT_TRUE(second.ok()) << second.status();
    second_path = *second->ReadHandshake(kLong);
    ASSERT_TRUE(second->SendMessage("OK").ok());
    second_data = *second->ReadToEnd(kLong);
    ASSERT_TRUE(second->SendMessage("BYE").ok());
  });
  LoggerOptions options = Fixed("");
  options.filepath = "/var/log/app.log";
  options.offlog_socket_path = socket_path;
  absl::StatusOr<Logger> logger = Logger::Open(options);
  ASSERT_TRUE(logger.ok()) << logger.status();
  EXPECT_TRUE(logger->Info("one").ok());
  ASSERT_TRUE(rotated.WaitForNotificationWithTimeout(kLong));
  EXPECT_TRUE(logger->Info("two").ok());
  EXPECT_TRUE(logger->Close().ok());
  peer.join();
  EXPECT_EQ(first_path, "/var/log/app.log");
  EXPECT_EQ(second_path, "/var/log/app.log");
  EXPECT_EQ(first_data, "[2023-07-03 10:12:54.796 INFO] one\n");
  EXPECT_EQ(second_data, "[2023-07-03 10:12:54.796 INFO] two\n");
}

TEST_F(LoggerFileTest, WaitWrittenCoversTheFileBeforeARotation) {
  std::string socket_path = dir_->path() + "/s.sock";
  absl::StatusOr<TestListener> listener = TestListener::Create(socket_path);
  ASSERT_TRUE(listener.ok()) << listener.status();
  absl::Notification rotated, second_read, release;
  std::string first_data, second_data;
  std::thread peer([&] {
    absl::StatusOr<PeerConnection> first = listener->Accept(kLong);
    ASSERT_TRUE(first.ok()) << first.status();
    ASSERT_TRUE(first->ReadHandshake(kLong).ok());
    ASSERT_TRUE(first->SendMessage("OK").ok());
    // "one" arrives and stays unread, like data not yet written.
    ASSERT_TRUE(first->WaitReadable(kLong));
    ASSERT_TRUE(first->SendMessage("ROTATED").ok());
    rotated.Notify();
    absl::StatusOr<PeerConnection> second = listener->Accept(kLong);
    ASSERT_TRUE(second.ok()) << second.status();
    ASSERT_TRUE(second->ReadHandshake(kLong).ok());
    ASSERT_TRUE(second->SendMessage("OK").ok());
    second_data = *second->ReadExactly(35, kLong);
    second_read.Notify();
    release.WaitForNotificationWithTimeout(kLong);
    first_data = *first->ReadToEnd(kLong);  // The logger shut it down.
    ASSERT_TRUE(first->SendMessage("BYE").ok());
    second_data += *second->ReadToEnd(kLong);
    ASSERT_TRUE(second->SendMessage("BYE").ok());
  });
  LoggerOptions options = Fixed("");
  options.filepath = "/var/log/app.log";
  options.offlog_socket_path = socket_path;
  absl::StatusOr<Logger> logger = Logger::Open(options);
  ASSERT_TRUE(logger.ok()) << logger.status();
  EXPECT_TRUE(logger->Info("one").ok());
  ASSERT_TRUE(rotated.WaitForNotificationWithTimeout(kLong));
  EXPECT_TRUE(logger->Info("two").ok());  // Follows the rotation.
  ASSERT_TRUE(second_read.WaitForNotificationWithTimeout(kLong));
  // "two" is read, "one" in the file left behind is not.
  absl::Status pending =
      logger->WaitWritten(absl::Now() + absl::Milliseconds(100));
  EXPECT_TRUE(absl::IsDeadlineExceeded(pending)) << pending;
  release.Notify();
  EXPECT_TRUE(logger->WaitWritten(absl::Now() + kLong).ok());
  EXPECT_TRUE(logger->Close().ok());
  peer.join();
  EXPECT_EQ(first_data, "[2023-07-03 10:12:54.796 INFO] one\n");
  EXPECT_EQ(second_data, "[2023-07-03 10:12:54.796 INFO] two\n");
}

}  // namespace
}  // namespace offlog
