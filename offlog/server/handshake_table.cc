#include "offlog/server/handshake_table.h"

namespace offlog {

void HandshakeTable::Add(PendingHandshake p, int64_t now_ms) {
  uint64_t id = p.id;
  deadlines_.emplace_back(now_ms + timeout_ms_, id);
  pending_[id] = std::move(p);
}

PendingHandshake* HandshakeTable::Find(uint64_t id) {
  auto it = pending_.find(id);
  return it == pending_.end() ? nullptr : &it->second;
}

std::optional<PendingHandshake> HandshakeTable::Take(uint64_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return std::nullopt;
  std::optional<PendingHandshake> p = std::move(it->second);
  pending_.erase(it);
  return p;
}

std::vector<uint64_t> HandshakeTable::Ids() const {
  std::vector<uint64_t> ids;
  ids.reserve(pending_.size());
  for (const auto& [id, p] : pending_) ids.push_back(id);
  return ids;
}

std::optional<int64_t> HandshakeTable::NextDeadlineMs() const {
  if (deadlines_.empty()) return std::nullopt;
  return deadlines_.front().first;
}

std::optional<uint64_t> HandshakeTable::PopExpired(int64_t now_ms) {
  while (!deadlines_.empty() && deadlines_.front().first <= now_ms) {
    uint64_t id = deadlines_.front().second;
    deadlines_.pop_front();
    if (pending_.contains(id)) return id;
  }
  return std::nullopt;
}

std::optional<uint64_t> HandshakeTable::PopOldest() {
  while (!deadlines_.empty()) {
    uint64_t id = deadlines_.front().second;
    deadlines_.pop_front();
    if (pending_.contains(id)) return id;
  }
  return std::nullopt;
}

}  // namespace offlog
