// Which keys' writers crash too often to be replaced again. Pure: the caller
// gives the time. Its memory is bounded whatever clients do: it keeps at
// most kMaxKeys keys (a 64-bit hash each, not the key), each with at most
// kMaxCrashes times, forgets a key kWindowMs after its last crash, and
// beyond kMaxKeys forgets the key whose last crash is oldest.
#ifndef OFFLOG_SERVER_CRASH_LIMITER_H_
#define OFFLOG_SERVER_CRASH_LIMITER_H_

#include <cstdint>
#include <deque>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace offlog {

class CrashLimiter {
 public:
  static constexpr int kMaxCrashes = 3;
  static constexpr int64_t kWindowMs = 60000;
  static constexpr size_t kMaxKeys = 1024;

  // Records a crash of `key`'s writer at `now_ms` (monotonic, never
  // decreasing between calls). Returns true when that makes kMaxCrashes
  // within kWindowMs: the caller gives the key's clients up, and the key
  // starts afresh.
  bool RecordCrash(absl::string_view key, int64_t now_ms);

  // Keys remembered now.
  size_t size() const { return crashes_.size(); }

 private:
  struct Entry {
    int64_t times[kMaxCrashes] = {};
    int count = 0;
    int64_t last_ms = 0;
  };
  void Expire(int64_t now_ms);

  absl::flat_hash_map<uint64_t, Entry> crashes_;
  // (time, key hash) of every crash recorded, oldest first; an element
  // whose time is not its key's last crash is stale and skipped.
  std::deque<std::pair<int64_t, uint64_t>> order_;
};

}  // namespace offlog

#endif  // OFFLOG_SERVER_CRASH_LIMITER_H_
