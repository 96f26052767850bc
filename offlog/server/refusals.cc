#include "offlog/server/refusals.h"

#include <sys/socket.h>

namespace offlog {

void Refusals::Hold(UniqueFd fd, uid_t uid, int64_t now_ms) {
  if (!fd) return;
  shutdown(fd.get(), SHUT_WR);
  size_t mine = 0;
  for (const Held& h : held_) mine += h.uid == uid;
  if (mine >= kMaxPerUid) CloseOldestOf(uid);
  while (held_.size() >= kMax) {
    Close(std::move(held_.front().fd));
    held_.pop_front();
  }
  held_.push_back({now_ms + kLingerMs, uid, std::move(fd)});
}

void Refusals::CloseOldestOf(uid_t uid) {
  for (auto it = held_.begin(); it != held_.end(); ++it) {
    if (it->uid != uid) continue;
    Close(std::move(it->fd));
    held_.erase(it);
    return;
  }
}

void Refusals::CloseDue(int64_t now_ms) {
  while (!held_.empty() && held_.front().due_ms <= now_ms) {
    Close(std::move(held_.front().fd));
    held_.pop_front();
  }
}

std::optional<int64_t> Refusals::NextDueMs() const {
  if (held_.empty()) return std::nullopt;
  return held_.front().due_ms;
}

// Reads what the client sent first (a handful of reads: a path is at most
// PATH_MAX bytes), so that closing does not reset the connection.
void Refusals::Close(UniqueFd fd) {
  char scratch[4096];
  for (int i = 0; i < 4; ++i) {
    if (recv(fd.get(), scratch, sizeof(scratch), MSG_DONTWAIT) <= 0) break;
  }
}

}  // namespace offlog
