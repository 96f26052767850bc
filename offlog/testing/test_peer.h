// Stand-ins for the offlog server, for tests: a listening Unix socket whose
// connections the test drives by hand, and a short-lived temporary
// directory to put sockets in (a socket path must fit in 107 bytes).
#ifndef OFFLOG_TESTING_TEST_PEER_H_
#define OFFLOG_TESTING_TEST_PEER_H_

#include <optional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "offlog/common/unique_fd.h"
#include "offlog/testing/temp_dir.h"

namespace offlog {
namespace client_test {

using ::offlog::testing::TempDir;

// One accepted connection, seen from the server's side.
class PeerConnection {
 public:
  explicit PeerConnection(UniqueFd fd) : fd_(std::move(fd)) {}

  // Reads the client's handshake: the path up to the first NUL.
  absl::StatusOr<std::string> ReadHandshake(absl::Duration timeout);
  // Reads exactly `n` bytes of file data.
  absl::StatusOr<std::string> ReadExactly(size_t n, absl::Duration timeout);
  // Reads file data until the client shuts down its side.
  absl::StatusOr<std::string> ReadToEnd(absl::Duration timeout);
  // Waits up to `timeout` for data to read, without reading it; false if
  // none came.
  bool WaitReadable(absl::Duration timeout) const;
  // Sends `message` and its terminating NUL.
  absl::Status SendMessage(absl::string_view message);
  // Sets SO_RCVBUF.
  absl::Status SetReceiveBuffer(int bytes);
  // Closes the connection.
  void Close() { fd_.Reset(); }

 private:
  // Appends what arrives within the deadline to pending_; false at EOF.
  absl::StatusOr<bool> ReadMore(absl::Time deadline);

  UniqueFd fd_;
  std::string pending_;
};

// A listening AF_UNIX stream socket.
class TestListener {
 public:
  static absl::StatusOr<TestListener> Create(const std::string& path);
  // Waits up to `timeout` for a client and accepts it.
  absl::StatusOr<PeerConnection> Accept(absl::Duration timeout);
  const std::string& path() const { return path_; }

 private:
  TestListener(UniqueFd fd, std::string path)
      : fd_(std::move(fd)), path_(std::move(path)) {}
  UniqueFd fd_;
  std::string path_;
};

// The setting most client tests share: a temporary directory, and a
// stand-in server listening in it at socket_path_.
class PeerTest : public ::testing::Test {
 protected:
  void SetUp() override;

  // Serves the next client as offlogd would when all goes well: "OK" after
  // its path, "BYE" once it has shut down its side. Stores the path and the
  // data in *path and *received; join the thread before reading them.
  std::thread ServeOneClient(std::string* path, std::string* received);

  std::optional<TempDir> dir_;
  std::string socket_path_;
  std::optional<TestListener> listener_;
};

}  // namespace client_test
}  // namespace offlog

#endif  // OFFLOG_TESTING_TEST_PEER_H_
