#include "offlog/client/glog_sink.h"

#include <regex>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "offlog/testing/test_peer.h"

namespace offlog {
namespace {

using GlogSinkTest = client_test::PeerTest;

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

}  // namespace
}  // namespace offlog
