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
// At most kMax are held, at most kMaxPerUid of one uid; beyond, that uid's
// oldest (or, over kMax, the oldest of all) is closed first, so a flood of
// refused connections costs at most kMax descriptors, and one uid's flood
// cannot close the others' before their time.
#ifndef OFFLOG_SERVER_REFUSALS_H_
#define OFFLOG_SERVER_REFUSALS_H_

#include <sys/types.h>

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
  static constexpr size_t kMaxPerUid = kMax / 4;
  static constexpr int64_t kLingerMs = 500;

  // Takes `fd`, a non-blocking socket of `uid` already sent its error:
  // shuts down its sending side and holds it until `now_ms` + kLingerMs.
  void Hold(UniqueFd fd, uid_t uid, int64_t now_ms);
  // Closes every connection whose time is up at `now_ms`.
  void CloseDue(int64_t now_ms);
  // When the next one is due; nullopt if none is held.
  std::optional<int64_t> NextDueMs() const;
  size_t size() const { return held_.size(); }

 private:
  struct Held {
    int64_t due_ms;
    uid_t uid;
    UniqueFd fd;
  };
  static void Close(UniqueFd fd);
  void CloseOldestOf(uid_t uid);
  std::deque<Held> held_;  // Oldest (soonest due) first.
};

}  // namespace offlog

#endif  // OFFLOG_SERVER_REFUSALS_H_
