// The channel: the whole vocabulary between offlogd's processes (acceptor,
// spawner, writers), like nginx's ngx_channel_t. One message type, one
// encoder and one decoder, over one SOCK_SEQPACKET socketpair per process
// pair; each message is one datagram and may carry one descriptor
// (SCM_RIGHTS).
//
// Both ends are non-blocking. Send() never waits: what the socket does not
// take now waits in the Channel's outbox, which the owner flushes when the
// socket becomes writable (Flush() on EPOLLOUT). Receive() returns one
// message or nothing; the owner calls it until it returns nothing on every
// wake-up. The outbox is not bounded here: each caller bounds what it may
// queue (the acceptor at most kMaxInFlight assignments per writer and one
// of each control message; a writer one report per client and a bounded
// number of log lines).
#ifndef OFFLOG_SERVER_CHANNEL_H_
#define OFFLOG_SERVER_CHANNEL_H_

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "offlog/common/unique_fd.h"
#include "offlog/server/credentials.h"

namespace offlog {

enum class MsgType : uint32_t {
  // Acceptor -> writer.
  kAssign = 1,    // A new client for this writer's path (its socket attached).
  kClose = 2,     // No clients left: close the file, reply kClosed.
  kShutdown = 3,  // Server exiting: tell clients, drain them, exit.
  kReopen = 4,    // Reopen the file (SIGHUP, `offlogctl reopen`).
  // Writer -> acceptor.
  kTaken = 101,        // Took kAssign's `client_id`; flags: kToldOk.
  kToldRotated = 102,  // Told `client_id` ROTATED.
  kClientDone = 103,   // Finished with `client_id`.
  kClosed = 104,       // The file is closed; the writer is idle again.
  kLog = 105,          // A server log record: text in `path` (kLogHasUid).
  // Acceptor -> spawner: start a writer on the attached channel end.
  kSpawn = 201,
  // Spawner -> acceptor: the writer for kSpawn `client_id` (a request id)
  // is `pid` (0 if it failed); its stats memfd is attached.
  kSpawned = 202,
};

// kAssign flags.
// The writer must open the file as the client (uid, gid, groups), dropping
// root for good before its first open.
inline constexpr uint32_t kAssignAsClient = 1;
// The client was told OK (or ROTATED) by a writer that has since died: do
// not tell it again (a client that reads OK and BYE in one read may fail).
inline constexpr uint32_t kAssignToldOk = 2;
inline constexpr uint32_t kAssignToldRotated = 4;
// The client's writer died inside open() or write() of this file (its
// stats' busy_since_ms was set): that write() may have been cut short
// (SIGKILL stops a write() between pages), leaving part of a line at the
// end of the file, and this writer writes the client's unconsumed bytes
// again.
inline constexpr uint32_t kAssignWriteCut = 8;
// kTaken flags: the writer told the client OK (else it refused it).
inline constexpr uint32_t kTakenOk = 1;
// kLog: the level is flags & kLogLevelMask; `raw_path`, `client_id` and
// (with kLogHasUid) `uid` are the record's fields (server_log.h LogFields).
// The acceptor keeps `client_id` only for a client of the sending writer,
// and takes its uid from its own records, never from `uid`.
inline constexpr uint32_t kLogLevelMask = 0xff;
inline constexpr uint32_t kLogHasUid = 0x100;

struct ChannelMessage {
  MsgType type = MsgType::kAssign;
  uint32_t flags = 0;
  uint64_t client_id = 0;
  // kAssign: the client's credentials (SO_PEERCRED, SO_PEERGROUPS).
  // kSpawned: pid is the writer's.
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::string raw_path;  // kAssign: the path as sent: what is opened.
  std::string path;      // kAssign: its FileKeyPath (routing); kLog: text.
  UniqueFd fd;           // Received: the attached descriptor, or none.
};

// Largest datagram: header, groups (credentials.h's kMaxPeerGroups) and two
// paths of at most PATH_MAX bytes.
inline constexpr size_t kMaxChannelMessage =
    64 + 4096 * sizeof(gid_t) + 2 * 4097;

// kAssign's client credentials (pid, uid, gid, groups), into and out of a
// message: the one place that maps the fields.
void SetCredentials(const PeerCredentials& cred, ChannelMessage* msg);
PeerCredentials CredentialsOf(const ChannelMessage& msg);

// The message as one datagram payload, without its descriptor.
std::string EncodeChannelMessage(const ChannelMessage& msg);
// The reverse; the descriptor is the caller's to attach.
absl::StatusOr<ChannelMessage> DecodeChannelMessage(absl::string_view data);

class Channel {
 public:
  Channel() = default;
  // Takes one end of a SOCK_SEQPACKET socketpair and makes it non-blocking.
  explicit Channel(UniqueFd sock);
  Channel(Channel&&) = default;
  Channel& operator=(Channel&&) = default;

  int fd() const { return sock_.get(); }
  bool valid() const { return sock_.valid(); }

  // Sends `msg`, with a copy of `attach` unless it is -1, now if the socket
  // takes it, else queues it (with a duplicate of `attach`, so the caller
  // may close its own) behind what is queued already. Never blocks.
  // Returns an error only when the peer is gone (the message is dropped).
  absl::Status Send(const ChannelMessage& msg, int attach = -1);
  // Sends what is queued until the socket is full. OK when the rest must
  // wait for EPOLLOUT (or, after ETOOMANYREFS/ENOBUFS, for a retry); an
  // error when the peer is gone.
  absl::Status Flush();
  // Messages waiting in the outbox; wants EPOLLOUT while non-zero.
  size_t queued() const { return outbox_.size(); }
  // The last Flush() stopped on a transient error that EPOLLOUT will not
  // announce (ETOOMANYREFS, ENOBUFS, ENOMEM): retry on a timer.
  bool needs_retry() const { return needs_retry_; }

  // One message, or nullopt when none is waiting (EAGAIN). An error when
  // the peer is gone or sent something malformed.
  absl::StatusOr<std::optional<ChannelMessage>> Receive();

 private:
  struct Queued {
    std::string data;
    UniqueFd fd;
  };
  // 1: sent; 0: would block (try later); -errno: failed.
  int TrySend(const Queued& q);

  UniqueFd sock_;
  std::deque<Queued> outbox_;
  bool needs_retry_ = false;
};

}  // namespace offlog

#endif  // OFFLOG_SERVER_CHANNEL_H_
