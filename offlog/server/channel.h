// Messages between the acceptor and a writer process, over a SOCK_SEQPACKET
// socketpair (one per writer). Each message is one datagram: a fixed header,
// then for kAssign the client's supplementary groups, the client's path as
// sent and the normalised path it is routed (and opened) by, with the
// client's socket attached (SCM_RIGHTS).
//
// The acceptor counts the clients it has assigned to a writer and the writer
// reports each one it is done with, in order, on the same channel; so when
// the acceptor's count reaches zero no assignment is in flight, and it may
// safely tell the writer to close its file (kClose).
#ifndef OFFLOG_SERVER_CHANNEL_H_
#define OFFLOG_SERVER_CHANNEL_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "offlog/common/unique_fd.h"

namespace offlog {

enum class MsgType : uint32_t {
  // Acceptor -> writer.
  kAssign = 1,    // A new client for this writer's path (fd attached).
  kClose = 2,     // No clients left: close the file, reply kClosed.
  kShutdown = 3,  // Server exiting: tell clients, drain them, exit.
  kReopen = 4,    // Reopen the file (SIGHUP, `offlogctl reopen`).
  // Writer -> acceptor.
  kClientDone = 101,  // The client with `client_id` is finished with.
  kClosed = 102,      // The file is closed; the writer is idle again.
};
// A writer's counters are not messages: they live in shared memory the
// acceptor reads (writer_stats.h), even while the writer is stuck.

struct ChannelHeader {
  MsgType type;
  uint64_t client_id;
  // kAssign: the client's credentials (SO_PEERCRED).
  int32_t pid;
  uint32_t uid;
  uint32_t gid;
  uint32_t raw_path_len;  // Bytes of the path as sent; the rest is normalised.
  uint32_t ngroups;       // kAssign: supplementary groups before the paths.
  uint32_t assign_flags;  // kAssign: kAssignAsClient.
};

// kAssign: the writer must open the file as the client (uid, gid, groups),
// dropping root for good before its first open.
inline constexpr uint32_t kAssignAsClient = 1;

struct ChannelMessage {
  ChannelHeader header = {};
  std::vector<gid_t> groups;
  std::string raw_path;
  std::string path;
  UniqueFd fd;
};

// Largest datagram: header, groups (credentials.h's kMaxPeerGroups) and two
// paths of at most PATH_MAX bytes.
inline constexpr size_t kMaxChannelMessage =
    sizeof(ChannelHeader) + 4096 * sizeof(gid_t) + 2 * 4097;

absl::Status SendChannelMessage(int sock, const ChannelHeader& header,
                                absl::string_view raw_path = {},
                                absl::string_view path = {}, int fd = -1,
                                const std::vector<gid_t>& groups = {});

absl::StatusOr<ChannelMessage> RecvChannelMessage(int sock);

}  // namespace offlog

#endif  // OFFLOG_SERVER_CHANNEL_H_
