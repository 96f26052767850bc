#include "offlog/server/crash_limiter.h"

#include "absl/hash/hash.h"

namespace offlog {

void CrashLimiter::Expire(int64_t now_ms) {
  while (!order_.empty()) {
    auto [time, hash] = order_.front();
    auto it = crashes_.find(hash);
    bool stale = it == crashes_.end() || it->second.last_ms != time;
    bool expired = time <= now_ms - kWindowMs;
    bool over = crashes_.size() > kMaxKeys;
    if (!stale && !expired && !over) return;
    order_.pop_front();
    if (!stale && (expired || over)) crashes_.erase(it);
  }
}

bool CrashLimiter::RecordCrash(absl::string_view key, int64_t now_ms) {
  uint64_t hash = absl::Hash<absl::string_view>()(key);
  Entry& e = crashes_[hash];
  int kept = 0;
  for (int i = 0; i < e.count; ++i) {
    if (e.times[i] > now_ms - kWindowMs) e.times[kept++] = e.times[i];
  }
  e.count = kept;
  e.times[e.count++] = now_ms;
  e.last_ms = now_ms;
  bool give_up = e.count >= kMaxCrashes;
  if (give_up) {
    crashes_.erase(hash);
  } else {
    order_.emplace_back(now_ms, hash);
  }
  Expire(now_ms);
  return give_up;
}

}  // namespace offlog
