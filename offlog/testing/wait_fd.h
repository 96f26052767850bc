// Waiting for a descriptor with a deadline, for test helpers.
#ifndef OFFLOG_TESTING_WAIT_FD_H_
#define OFFLOG_TESTING_WAIT_FD_H_

#include <errno.h>
#include <poll.h>

#include <algorithm>
#include <climits>
#include <cstdint>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace offlog {
namespace testing {

// Waits until `fd` shows one of `events` (poll(2) bits); false once
// `deadline` passes or poll fails.
inline bool WaitForEvents(int fd, short events, absl::Time deadline) {
  while (true) {
    int64_t left = absl::ToInt64Milliseconds(
        std::max(deadline - absl::Now(), absl::ZeroDuration()));
    int ms = static_cast<int>(std::min<int64_t>(left, INT_MAX));
    pollfd p = {fd, events, 0};
    int n = poll(&p, 1, ms);
    if (n > 0) return true;
    if (n == 0 || errno != EINTR) return false;
  }
}

}  // namespace testing
}  // namespace offlog

#endif  // OFFLOG_TESTING_WAIT_FD_H_
