// Connections refused at accept(), held open a moment after their error.
//
// The acceptor refuses a connection when its uid holds its share of
// connections, or the acceptor has no descriptors to spare, by sending
// "OSError: [Errno 24] Too many open files" at once, before the client has
// sent its path. Closed at once, the client's send() of its path would fail
// with EPIPE (a Unix socket refuses data for a peer that is gone), and the
// original Python client would raise BrokenPipeError, not the error it was
// sent. So the acceptor shuts down its sending side and keeps the
// connection kLingerMs, then reads and drops what the client sent and
// closes it: the client's send() succeeds, and it reads the error and EOF.
//
// At most kMax are held; beyond, the oldest is closed first, so a flood of
// refused connections costs at most kMax descriptors.
#ifndef OFFLOG_SERVER_REFUSALS_H_
#define OFFLOG_SERVER_REFUSALS_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>

#include "offlog/common/unique_fd.h"

namespace offlog {

class Refusals {
 public:
  static constexpr size_t kMax = 32;
  static constexpr int64_t kLingerMs = 500;

  // Takes `fd`, a non-blocking socket already sent its error: shuts down
  // its sending side and holds it until `now_ms` + kLingerMs.
  void Hold(UniqueFd fd, int64_t now_ms);
  // Closes every connection whose time is up at `now_ms`.
  void CloseDue(int64_t now_ms);
  // When the next one is due; nullopt if none is held.
  std::optional<int64_t> NextDueMs() const;
  size_t size() const { return held_.size(); }

 private:
  static void Close(UniqueFd fd);
  std::deque<std::pair<int64_t, UniqueFd>> held_;  // Due time, oldest first.
};

}  // namespace offlog

#endif  // OFFLOG_SERVER_REFUSALS_H_
