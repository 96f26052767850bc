// offlogd's status over its control socket, for tests.
#ifndef OFFLOG_TESTING_CONTROL_STATUS_H_
#define OFFLOG_TESTING_CONTROL_STATUS_H_

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "offlog/server/control_protocol.h"
#include "offlog/testing/server_harness.h"

namespace offlog {
namespace testing {

// Asks `server` for `status` on its control socket (SOCKET.ctl) and parses
// the answer; waits at most `timeout` for each part of it.
absl::StatusOr<ServerSnapshot> ControlStatus(const ServerProcess& server,
                                             absl::Duration timeout);

}  // namespace testing
}  // namespace offlog

#endif  // OFFLOG_TESTING_CONTROL_STATUS_H_
