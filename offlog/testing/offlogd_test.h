// GoogleTest helpers for tests that run the real offlogd (server_harness.h).
#ifndef OFFLOG_TESTING_OFFLOGD_TEST_H_
#define OFFLOG_TESTING_OFFLOGD_TEST_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "offlog/testing/server_harness.h"

namespace offlog {
namespace testing {

// Starts offlogd with `args`; on failure, fails the test and returns null.
inline std::unique_ptr<ServerProcess> MustStart(std::vector<std::string> args,
                                                ServerLimits limits = {}) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> s =
      ServerProcess::Start(std::move(args), limits);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

// Opens `path` through `server`, sending `data` behind the path, and
// expects OK; on failure, fails the test and returns an invalid descriptor.
inline UniqueFd MustOpen(const ServerProcess& server, const std::string& path,
                         absl::string_view data = {}) {
  absl::StatusOr<UniqueFd> fd = OpenTarget(server.socket_path(), path, data);
  EXPECT_TRUE(fd.ok()) << fd.status();
  if (!fd.ok()) return UniqueFd();
  EXPECT_EQ(ReadMessage(fd->get(), absl::Seconds(20)).value_or("?"), "OK");
  return *std::move(fd);
}

// A fixture holding one offlogd, restarted by each StartServer().
class OfflogdTest : public ::testing::Test {
 protected:
  void StartServer(std::vector<std::string> args = {},
                   ServerLimits limits = {}) {
    server_.reset();  // Its sockets and files go with it.
    server_ = MustStart(std::move(args), limits);
    ASSERT_NE(server_, nullptr);
  }

  std::unique_ptr<ServerProcess> server_;
};

}  // namespace testing
}  // namespace offlog

#endif  // OFFLOG_TESTING_OFFLOGD_TEST_H_
