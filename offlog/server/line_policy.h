// What of a client's bytes a writer appends now, and what it holds back
// (--atomic-lines). Pure: no I/O, no clock; the caller gives the time and
// the file's size. The writer reads a client with MSG_PEEK into a buffer
// of `read_size` bytes, asks Decide() how much of it to append, asks Fit()
// how much of that fits below RLIMIT_FSIZE, appends that, and only then
// takes it out of the socket; what it holds back stays in the socket.
//
// With --atomic-lines a client's unfinished last line waits in its socket
// until its newline arrives, it fills a read on its own, nothing can
// complete it (the client shut down, or the server is shutting down), or
// it has been held `hold_ms`; and under a finite RLIMIT_FSIZE an append is
// cut after the last whole line that fits below the limit. Without, every
// byte is appended as it comes, and the kernel cuts at the limit.
//
// Times are CLOCK_MONOTONIC ms, and must be positive: a hold that began at
// 0 is no hold. Sizes are bytes.
#ifndef OFFLOG_SERVER_LINE_POLICY_H_
#define OFFLOG_SERVER_LINE_POLICY_H_

#include <sys/resource.h>

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"

namespace offlog {

class LinePolicy {
 public:
  struct Limits {
    bool atomic_lines = true;
    int64_t hold_ms = 100;
    // The size of the writer's read buffer: a read that fills it with no
    // newline is a line too long to hold.
    size_t read_size = 64 * 1024;
    // RLIMIT_FSIZE's soft limit, or RLIM_INFINITY.
    rlim_t file_size_limit = RLIM_INFINITY;
  };

  explicit LinePolicy(const Limits& limits) : limits_(limits) {}

  const Limits& limits() const { return limits_; }

  // What to do with `peeked`: bytes read from a client and still in its
  // socket, never empty, at most read_size. `held_since_ms` is when the
  // line held back in that socket began (0: none held); `at_end` says
  // nothing more can complete a line (the client shut its end, or the
  // server is shutting down).
  struct Decision {
    size_t append = 0;  // Append peeked[0, append) now; 0: nothing.
    // The client's hold from now on: when the line held back began, or 0.
    int64_t held_since_ms = 0;
  };
  Decision Decide(absl::string_view peeked, bool at_end, int64_t held_since_ms,
                  int64_t now_ms) const;

  // When a line held since `held_since_ms` (not 0) is due to go out anyway.
  int64_t HoldDueMs(int64_t held_since_ms) const {
    return held_since_ms + limits_.hold_ms;
  }
  // Whether a line is held and due at `now_ms`.
  bool HoldExpired(int64_t held_since_ms, int64_t now_ms) const {
    return held_since_ms != 0 && now_ms >= HoldDueMs(held_since_ms);
  }

  // Whether Fit() needs the file's size: a finite limit with atomic lines.
  // Otherwise the caller need not find it (no fstat()).
  bool NeedsFileSize() const {
    return limits_.atomic_lines && limits_.file_size_limit != RLIM_INFINITY;
  }

  // How much of `data`, about to be appended to a file of `file_size`
  // bytes (nullopt: unknown), to append: all of it, unless NeedsFileSize()
  // and it would cross the limit; then up to its last newline that fits
  // below the limit (possibly 0 bytes), and `cut` is set: the rest is
  // refused (EFBIG) rather than let the kernel cut a line in two.
  struct Fitted {
    size_t append = 0;
    bool cut = false;
  };
  Fitted Fit(absl::string_view data, std::optional<uint64_t> file_size) const;

 private:
  Limits limits_;
};

}  // namespace offlog

#endif  // OFFLOG_SERVER_LINE_POLICY_H_
