#include "offlog/server/channel.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "offlog/common/unix_socket.h"

namespace offlog {
namespace {

// The fixed part of every datagram.
struct WireHeader {
  uint32_t type;
  uint32_t flags;
  uint64_t client_id;
  int32_t pid;
  uint32_t uid;
  uint32_t gid;
  uint32_t ngroups;
  uint32_t raw_path_len;
  uint32_t path_len;
};

// Sends one datagram with `fd` attached (unless -1). Returns 0 or errno.
int SendDatagram(int sock, absl::string_view payload, int fd) {
  iovec iov = {const_cast<char*>(payload.data()), payload.size()};
  OneFdControl control;
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fd >= 0) AttachFd(fd, &control, &msg);
  ssize_t n;
  do {
    n = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? errno : 0;
}

// Receives one datagram into `buf` (kMaxChannelMessage bytes) and takes
// ownership of every descriptor attached (keeping the first in `fd`,
// closing any other). Returns its length, 0 at end of stream, or -errno.
ssize_t RecvDatagram(int sock, char* buf, UniqueFd* fd) {
  iovec iov = {buf, kMaxChannelMessage};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)] = {};
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int got;
      memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      UniqueFd owned(got);
      if (!*fd) *fd = std::move(owned);
    }
  }
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) return -EMSGSIZE;
  return n;
}

}  // namespace

void SetCredentials(const PeerCredentials& cred, ChannelMessage* msg) {
  msg->pid = cred.pid;
  msg->uid = cred.uid;
  msg->gid = cred.gid;
  msg->groups = cred.groups;
}

PeerCredentials CredentialsOf(const ChannelMessage& msg) {
  PeerCredentials cred;
  cred.pid = msg.pid;
  cred.uid = msg.uid;
  cred.gid = msg.gid;
  cred.groups = msg.groups;
  return cred;
}

std::string EncodeChannelMessage(const ChannelMessage& msg) {
  WireHeader h = {};
  h.type = static_cast<uint32_t>(msg.type);
  h.flags = msg.flags;
  h.client_id = msg.client_id;
  h.pid = msg.pid;
  h.uid = msg.uid;
  h.gid = msg.gid;
  h.ngroups = static_cast<uint32_t>(msg.groups.size());
  h.raw_path_len = static_cast<uint32_t>(msg.raw_path.size());
  h.path_len = static_cast<uint32_t>(msg.path.size());
  std::string buf(reinterpret_cast<const char*>(&h), sizeof(h));
  if (!msg.groups.empty()) {
    buf.append(reinterpret_cast<const char*>(msg.groups.data()),
               msg.groups.size() * sizeof(gid_t));
  }
  absl::StrAppend(&buf, msg.raw_path, msg.path);
  return buf;
}

absl::StatusOr<ChannelMessage> DecodeChannelMessage(absl::string_view data) {
  WireHeader h;
  if (data.size() < sizeof(h)) {
    return absl::InvalidArgumentError("short channel message");
  }
  memcpy(&h, data.data(), sizeof(h));
  data.remove_prefix(sizeof(h));
  size_t groups_bytes = size_t{h.ngroups} * sizeof(gid_t);
  if (data.size() != groups_bytes + h.raw_path_len + h.path_len) {
    return absl::InvalidArgumentError("bad channel message");
  }
  ChannelMessage msg;
  msg.type = static_cast<MsgType>(h.type);
  msg.flags = h.flags;
  msg.client_id = h.client_id;
  msg.pid = h.pid;
  msg.uid = h.uid;
  msg.gid = h.gid;
  msg.groups.resize(h.ngroups);
  if (groups_bytes > 0) memcpy(msg.groups.data(), data.data(), groups_bytes);
  data.remove_prefix(groups_bytes);
  msg.raw_path = std::string(data.substr(0, h.raw_path_len));
  msg.path = std::string(data.substr(h.raw_path_len));
  return msg;
}

Channel::Channel(UniqueFd sock) : sock_(std::move(sock)) {
  int flags = fcntl(sock_.get(), F_GETFL);
  if (flags >= 0) fcntl(sock_.get(), F_SETFL, flags | O_NONBLOCK);
}

int Channel::TrySend(const Queued& q) {
  int err = SendDatagram(sock_.get(), q.data, q.fd.get());
  if (err == 0) return 1;
  if (err == EAGAIN || err == EWOULDBLOCK) return 0;
  if (err == ETOOMANYREFS || err == ENOBUFS || err == ENOMEM) {
    needs_retry_ = true;
    return 0;
  }
  return -err;
}

absl::Status Channel::Send(const ChannelMessage& msg, int attach) {
  Queued q;
  q.data = EncodeChannelMessage(msg);
  if (outbox_.empty()) {
    // Borrow the caller's descriptor for an immediate send.
    q.fd.Reset(attach);
    int r = TrySend(q);
    q.fd.Release();
    if (r == 1) return absl::OkStatus();
    if (r < 0) return absl::ErrnoToStatus(-r, "channel send");
  }
  if (attach >= 0) {
    q.fd.Reset(fcntl(attach, F_DUPFD_CLOEXEC, 0));
    if (!q.fd) return absl::ErrnoToStatus(errno, "dup for the channel outbox");
  }
  outbox_.push_back(std::move(q));
  return absl::OkStatus();
}

absl::Status Channel::Flush() {
  needs_retry_ = false;
  while (!outbox_.empty()) {
    int r = TrySend(outbox_.front());
    if (r == 0) return absl::OkStatus();
    if (r < 0) {
      outbox_.clear();
      return absl::ErrnoToStatus(-r, "channel send");
    }
    outbox_.pop_front();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<ChannelMessage>> Channel::Receive() {
  // Not zeroed: only the bytes a message fills are touched (a writer's
  // pages are its memory, issue 12), and not kept: the acceptor has a
  // channel per writer.
  std::unique_ptr<char[]> buf =
      std::make_unique_for_overwrite<char[]>(kMaxChannelMessage);
  UniqueFd fd;
  ssize_t n = RecvDatagram(sock_.get(), buf.get(), &fd);
  if (n == -EAGAIN || n == -EWOULDBLOCK) return std::nullopt;
  if (n == 0 || n == -ECONNRESET) return absl::UnavailableError("peer closed");
  if (n < 0) return absl::ErrnoToStatus(-n, "channel receive");
  absl::StatusOr<ChannelMessage> msg =
      DecodeChannelMessage(absl::string_view(buf.get(), n));
  if (!msg.ok()) return msg.status();
  msg->fd = std::move(fd);
  return std::optional<ChannelMessage>(*std::move(msg));
}

}  // namespace offlog
