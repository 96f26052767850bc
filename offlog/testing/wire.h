// The client side of the offlog protocol, as the load generators and the
// test harness (server_harness.h) speak it: blocking sockets with a
// deadline, so that a stalled server cannot hang a benchmark or a test.
#ifndef OFFLOG_TESTING_WIRE_H_
#define OFFLOG_TESTING_WIRE_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "offlog/common/unique_fd.h"

namespace offlog::bench {

// Nanoseconds on the monotonic clock.
int64_t NowNs();

// Connects to the Unix socket at `socket_path`, retrying while the listen
// backlog is full (EAGAIN) until `deadline_ns`. The socket's send and
// receive calls time out after `poll_interval`, so that callers can check
// a deadline between them.
absl::StatusOr<UniqueFd> ConnectUnix(const std::string& socket_path,
                                     absl::Duration poll_interval,
                                     int64_t deadline_ns);

// Sends all of `data` (MSG_NOSIGNAL). Returns DEADLINE_EXCEEDED when
// `deadline_ns` passes or `*cancel` becomes true first, with *sent set to the
// bytes that went out.
absl::Status SendAll(int fd, absl::string_view data, int64_t deadline_ns,
                     size_t* sent, const std::atomic<bool>* cancel = nullptr);

// Reads one NUL-terminated server message (without its NUL), waiting with
// poll() until `deadline_ns` (DEADLINE_EXCEEDED then), so that it needs no
// socket timeout. `buffer` keeps bytes read past the NUL for the next call;
// without one (nullptr) it reads a byte at a time and never past the NUL.
// UNAVAILABLE on end of stream.
absl::StatusOr<std::string> ReadMessage(int fd, int64_t deadline_ns,
                                        std::string* buffer);

// Sends "<path>\0" and waits for the server's answer: OK, or the error text
// as an UNAVAILABLE status.
absl::Status Handshake(int fd, absl::string_view path, int64_t deadline_ns,
                       std::string* buffer);

// shutdown(SHUT_WR) and waits for "BYE" (skipping "ROTATED").
absl::Status Goodbye(int fd, int64_t deadline_ns, std::string* buffer);

// The value at quantile `q` (0..1) of `sorted`, 0 when empty.
int64_t Quantile(const std::vector<int64_t>& sorted, double q);

}  // namespace offlog::bench

#endif  // OFFLOG_TESTING_WIRE_H_
