// Which connections offlogd serves and how their files are opened: the
// acceptor's side of --allow-uid, --allow-gid, --allow-dir and of acting as
// the client when running as root. Built once from the options (names are
// looked up at start-up, so a bad flag fails before the socket exists).
#ifndef OFFLOG_SERVER_ADMISSION_H_
#define OFFLOG_SERVER_ADMISSION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "offlog/server/credentials.h"
#include "offlog/server/options.h"

namespace offlog {

class Admission {
 public:
  Admission() = default;
  static absl::StatusOr<Admission> FromOptions(const ServerOptions& options);

  // For a completed, valid handshake: empty when the client may go on to a
  // writer, else the error to send it (a PermissionError quoting `path`, as
  // the original client expects from a refused open). Logs refusals with
  // the client's uid and pid. Touches no file system: with --allow-dir it
  // refuses only a path that spells out no allowed directory at its start
  // (confine.h), which the writer could not open beneath one either; `..`
  // and symlinks are for the writer's open to judge.
  std::string Check(uint64_t client_id,
                    const absl::StatusOr<PeerCredentials>& cred,
                    absl::string_view path) const;

  // Whether `cred`'s writer must drop to `cred` before opening: offlogd is
  // root, not told --open-as-server-user, and `cred` differs from its own
  // credentials (for a client that is offlogd's own user the files are
  // opened the same either way, so it keeps a reusable writer).
  bool OpensAsClient(const PeerCredentials& cred) const;
  const std::vector<std::string>& allowed_dirs() const { return allowed_dirs_; }

 private:
  PeerPolicy policy_;
  std::vector<std::string> allowed_dirs_;
  bool act_as_client_ = false;
  std::string own_key_;  // CredentialsKey of offlogd itself.
};

}  // namespace offlog

#endif  // OFFLOG_SERVER_ADMISSION_H_
