#include "offlog/server/admission.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>

#include "offlog/common/pyerror.h"
#include "offlog/server/confine.h"
#include "offlog/server/server_log.h"

namespace offlog {

absl::StatusOr<Admission> Admission::FromOptions(const ServerOptions& options) {
  Admission a;
  absl::StatusOr<PeerPolicy> policy =
      PeerPolicy::FromSpecs(options.allow_uid, options.allow_gid);
  if (!policy.ok()) return policy.status();
  a.policy_ = *std::move(policy);
  absl::StatusOr<std::vector<std::string>> dirs =
      NormalizeAllowedDirs(options.allow_dir);
  if (!dirs.ok()) return dirs.status();
  a.allowed_dirs_ = *std::move(dirs);
  a.act_as_client_ = geteuid() == 0 && !options.open_as_server_user;
  a.own_key_ = CredentialsKey(OwnCredentials());
  return a;
}

bool Admission::OpensAsClient(const PeerCredentials& cred) const {
  return act_as_client_ && CredentialsKey(cred) != own_key_;
}

std::string Admission::Check(uint64_t client_id,
                             const absl::StatusOr<PeerCredentials>& cred,
                             absl::string_view path) const {
  std::string refusal = FormatOsError(EACCES, path);
  if (!cred.ok()) {
    LogWarning("Client %d refused for %s: credentials unknown: %s", client_id,
               EscapeForLog(path), cred.status().ToString());
    return refusal;
  }
  if (!policy_.Allows(*cred)) {
    LogWarning(
        "Client %d refused for %s: uid %d (gid %d, pid %d) is not "
        "allowed",
        client_id, EscapeForLog(path), cred->uid, cred->gid, cred->pid);
    return refusal;
  }
  if (!allowed_dirs_.empty() && AllowedDirsFor(path, allowed_dirs_).empty()) {
    LogWarning("Client %d refused for %s: outside --allow-dir (uid %d, pid %d)",
               client_id, EscapeForLog(path), cred->uid, cred->pid);
    return refusal;
  }
  return "";
}

}  // namespace offlog
