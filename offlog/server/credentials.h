// Who a client is, and whether offlogd serves it.
//
// The kernel vouches for a Unix socket peer's pid, uid, gid (SO_PEERCRED)
// and supplementary groups (SO_PEERGROUPS), as they were at connect(). The
// acceptor reads them for every connection; they decide whether the client
// is served at all (--allow-uid, --allow-gid), and, when offlogd runs as
// root, whose permissions the writer opens the file with (see
// DropToCredentials).
#ifndef OFFLOG_SERVER_CREDENTIALS_H_
#define OFFLOG_SERVER_CREDENTIALS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace offlog {

// More supplementary groups than this and the client is refused: they must
// all travel to the writer in one channel datagram, and opening with only
// some of them could grant access a missing group denies (mode 0604).
inline constexpr size_t kMaxPeerGroups = 4096;

struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  std::vector<gid_t> groups;  // Supplementary groups, sorted, unique.
};

// Reads the peer's credentials from a connected Unix socket.
absl::StatusOr<PeerCredentials> ReadPeerCredentials(int fd);

// This process's effective uid and gid and its supplementary groups, as
// ReadPeerCredentials gives a peer's.
PeerCredentials OwnCredentials();

// A string equal for two clients exactly when a file opened with the
// credentials of one is opened with the credentials of the other: writers
// are shared by clients with the same path and the same key.
std::string CredentialsKey(const PeerCredentials& cred);

// A group by name or number (a number is taken as it is), as --allow-gid
// and --socket-group give it. NOT_FOUND: "no such group: <group>".
absl::StatusOr<gid_t> LookUpGroup(absl::string_view group);

// Parses comma-separated lists of user (or group) names and numbers, e.g.
// {"root,1000", "www-data"}. Names are looked up once, at start-up.
absl::StatusOr<std::vector<uid_t>> ParseUserList(
    const std::vector<std::string>& specs);
absl::StatusOr<std::vector<gid_t>> ParseGroupList(
    const std::vector<std::string>& specs);

// --allow-uid and --allow-gid. With neither set, anyone who can connect to
// the socket is served. Otherwise a client is served when its uid is listed
// in --allow-uid, or its primary gid or one of its supplementary groups is
// listed in --allow-gid.
class PeerPolicy {
 public:
  PeerPolicy() = default;
  PeerPolicy(const std::vector<uid_t>& uids, const std::vector<gid_t>& gids);

  static absl::StatusOr<PeerPolicy> FromSpecs(
      const std::vector<std::string>& uid_specs,
      const std::vector<std::string>& gid_specs);

  bool Allows(const PeerCredentials& cred) const;

 private:
  bool restricted_ = false;
  absl::flat_hash_set<uid_t> uids_;
  absl::flat_hash_set<gid_t> gids_;
};

// Makes this process `cred`'s user for good: supplementary groups, then
// real/effective/saved gid, then uid (in that order: only root may change
// the groups). Fails unless the switch is complete and, for a non-root
// `cred`, root cannot be regained. Also marks the process non-dumpable, so
// that the client's user cannot ptrace it (it holds the server log's and the
// acceptor channel's descriptors). Call in a single-threaded process.
absl::Status DropToCredentials(const PeerCredentials& cred);

}  // namespace offlog

#endif  // OFFLOG_SERVER_CREDENTIALS_H_
