#include "offlog/client/glog_sink.h"

#include <cstdio>
#include <regex>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "offlog/testing/test_peer.h"

namespace offlog {
namespace {

using GlogSinkTest = client_test::PeerTest;
using ::offlog::client_test::PeerConnection;

constexpr absl::Duration kLong = absl::Seconds(10);

// Whether `data` is exactly one glog INFO record of `message` from this file.
bool EndsWithRecord(const std::string& data, const std::string& message) {
  return std::regex_match(
      data, std::regex("I\\d{8} [0-9:.]+ +\\d+ glog_sink_test\\.cc:\\d+\\] " +
                       message + "\n"));
}

TEST_F(GlogSinkTest, SendsGlogFormattedRecordsThroughTheServer) {
  std::string path, received;
  std::thread peer = ServeOneClient(&path, &received);
  ProxyFileOptions options;
  options.socket_path = socket_path_;
  absl::StatusOr<std::unique_ptr<GlogSink>> sink =
      GlogSink::Install("/var/log/glog.log", options);
  ASSERT_TRUE(sink.ok()) << sink.status();
  LOG(INFO) << "hello sink";
  LOG(WARNING) << "second " << 2;
  EXPECT_TRUE((*sink)->Close().ok());
  LOG(INFO) << "after close";  // Not sent: the sink is unregistered.
  peer.join();
  EXPECT_TRUE((*sink)->status().ok());
  EXPECT_EQ(path, "/var/log/glog.log");
  std::regex expected(
      "I\\d{8} \\d\\d:\\d\\d:\\d\\d\\.\\d{6} +\\d+ glog_sink_test\\.cc:\\d+\\] "
      "hello sink\n"
      "W\\d{8} \\d\\d:\\d\\d:\\d\\d\\.\\d{6} +\\d+ glog_sink_test\\.cc:\\d+\\] "
      "second 2\n");
  EXPECT_TRUE(std::regex_match(received, expected)) << received;
}

TEST_F(GlogSinkTest, ReopenThatFailsAfterARotationIsRetriedOnTheNextRecord) {
  ProxyFileOptions options;
  options.socket_path = socket_path_;
  options.block_open = false;  // The peer answers below, in this thread.
  absl::StatusOr<std::unique_ptr<GlogSink>> sink =
      GlogSink::Install("/var/log/glog.log", options);
  ASSERT_TRUE(sink.ok()) << sink.status();
  absl::StatusOr<PeerConnection> first = listener_->Accept(kLong);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->ReadHandshake(kLong).ok());
  ASSERT_TRUE(first->SendMessage("OK").ok());
  LOG(INFO) << "one";
  ASSERT_TRUE(first->SendMessage("ROTATED").ok());
  // The server's socket is gone when the sink reopens the file.
  const std::string away = socket_path_ + ".away";
  ASSERT_EQ(std::rename(socket_path_.c_str(), away.c_str()), 0);
  LOG(INFO) << "two";  // Follows the rotation; the reopen fails.
  absl::Status failed = (*sink)->status();
  EXPECT_TRUE(absl::IsNotFound(failed)) << failed;
  ASSERT_EQ(std::rename(away.c_str(), socket_path_.c_str()), 0);
  LOG(INFO) << "three";  // Retries the reopen.
  absl::StatusOr<PeerConnection> second = listener_->Accept(kLong);
  ASSERT_TRUE(second.ok()) << "the sink never reopened the file: "
                           << second.status();
  absl::StatusOr<std::string> path = second->ReadHandshake(kLong);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, "/var/log/glog.log");
  ASSERT_TRUE(second->SendMessage("OK").ok());
  absl::StatusOr<std::string> first_data = first->ReadToEnd(kLong);
  ASSERT_TRUE(first_data.ok()) << first_data.status();
  std::string second_data;
  std::thread peer([&] {
    second_data = second->ReadToEnd(kLong).value_or("");
    second->SendMessage("BYE").IgnoreError();
  });
  EXPECT_TRUE((*sink)->Close().ok());
  peer.join();
  EXPECT_TRUE(EndsWithRecord(*first_data, "one")) << *first_data;
  EXPECT_TRUE(EndsWithRecord(second_data, "three")) << second_data;
  EXPECT_EQ((*sink)->status(), failed);  // The first error stays.
}

}  // namespace
}  // namespace offlog
