// The acceptor's connections whose path has not fully arrived yet, and
// their deadlines. Pure bookkeeping: the caller gives the time
// (CLOCK_MONOTONIC ms, never decreasing between calls), and does all I/O
// (reading the path, refusing, closing) itself. Ids are unique.
//
// Every handshake has the same timeout, so deadlines come in accept order
// and the oldest handshake is always the one due first. Removing a
// handshake leaves its deadline behind, skipped when it reaches the front:
// NextDeadlineMs() may name a handshake that has finished (waking then is
// harmless), and the deadlines kept are bounded by those accepted within
// one timeout.
//
// It keeps no per-uid counts: the acceptor counts connections per uid
// across handshakes, waiting and handed-off clients alike (bounds.h).
#ifndef OFFLOG_SERVER_HANDSHAKE_TABLE_H_
#define OFFLOG_SERVER_HANDSHAKE_TABLE_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "offlog/common/protocol.h"
#include "offlog/common/unique_fd.h"
#include "offlog/server/credentials.h"

namespace offlog {

// A connection whose path has not fully arrived yet.
struct PendingHandshake {
  UniqueFd fd;
  uint64_t id = 0;
  absl::StatusOr<PeerCredentials> cred;
  HandshakeParser parser;
  bool watched = false;  // In the acceptor's epoll set.
};

class HandshakeTable {
 public:
  // `timeout_ms`: how long a handshake may take (--handshake-timeout-ms).
  explicit HandshakeTable(int64_t timeout_ms) : timeout_ms_(timeout_ms) {}

  // Adds `p` (an id not in the table), due `timeout_ms` after `now_ms`.
  void Add(PendingHandshake p, int64_t now_ms);

  // The handshake `id`, or null. Valid until the table next changes.
  PendingHandshake* Find(uint64_t id);
  bool contains(uint64_t id) const { return pending_.contains(id); }
  // Removes the handshake `id` and gives it to the caller (nullopt if there
  // is none): when it completes, or is refused.
  std::optional<PendingHandshake> Take(uint64_t id);

  size_t size() const { return pending_.size(); }
  // The ids in the table, in no particular order.
  std::vector<uint64_t> Ids() const;

  // When the next deadline falls (perhaps a finished handshake's); nullopt
  // when there is none.
  std::optional<int64_t> NextDeadlineMs() const;

  // One handshake in the table whose deadline is at or before `now_ms`,
  // oldest first, or nullopt when none is. It stays in the table, without
  // a deadline: the caller refuses it and Take()s it.
  std::optional<uint64_t> PopExpired(int64_t now_ms);

  // The oldest handshake in the table, whatever its deadline, to shed when
  // the acceptor is out of descriptors (the likeliest to be stuck); or
  // nullopt. As with PopExpired, the caller refuses it and Take()s it.
  std::optional<uint64_t> PopOldest();

 private:
  int64_t timeout_ms_;
  absl::flat_hash_map<uint64_t, PendingHandshake> pending_;
  // (deadline, id) in accept order.
  std::deque<std::pair<int64_t, uint64_t>> deadlines_;
};

}  // namespace offlog

#endif  // OFFLOG_SERVER_HANDSHAKE_TABLE_H_
