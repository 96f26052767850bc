#include "offlog/server/line_policy.h"

#include <string.h>

#include <algorithm>

namespace offlog {
namespace {

// The length of `data` up to and including its last newline among its
// first `limit` bytes; 0 if there is none.
size_t WholeLines(absl::string_view data, size_t limit) {
  const void* nl = memrchr(data.data(), '\n', std::min(limit, data.size()));
  return nl ? static_cast<const char*>(nl) - data.data() + 1 : 0;
}

}  // namespace

LinePolicy::Decision LinePolicy::Decide(absl::string_view peeked, bool at_end,
                                        int64_t held_since_ms,
                                        int64_t now_ms) const {
  size_t n = peeked.size();
  if (!limits_.atomic_lines) return {n, held_since_ms};
  size_t whole = WholeLines(peeked, n);
  if (whole == n) return {n, 0};
  // The unfinished line goes out anyway once nothing can complete it, it
  // fills the read buffer on its own, or the client has gone quiet.
  bool quiet = HoldExpired(held_since_ms, now_ms);
  if (at_end || (whole == 0 && n == limits_.read_size) ||
      (whole == 0 && quiet)) {
    return {n, 0};
  }
  // A held line is flushed at most hold_ms after it began; a newline that
  // completes it starts the clock again for the next one.
  if (whole > 0 || held_since_ms == 0) held_since_ms = now_ms;
  return {whole, held_since_ms};
}

LinePolicy::Fitted LinePolicy::Fit(absl::string_view data,
                                   std::optional<uint64_t> file_size) const {
  if (!NeedsFileSize() || !file_size) return {data.size(), false};
  rlim_t size = *file_size;
  rlim_t limit = limits_.file_size_limit;
  if (size + data.size() <= limit) return {data.size(), false};
  size_t room = size < limit ? limit - size : 0;
  size_t append = WholeLines(data, room);
  return {append, append < data.size()};
}

}  // namespace offlog
