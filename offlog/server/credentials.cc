#include "offlog/server/credentials.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace offlog {
namespace {

constexpr size_t kInitialGroups = 64;

// Sorted, each group once: as PeerCredentials holds them.
void SortGroups(std::vector<gid_t>* groups) {
  std::sort(groups->begin(), groups->end());
  groups->erase(std::unique(groups->begin(), groups->end()), groups->end());
}

absl::Status ReadPeerGroups(int fd, std::vector<gid_t>* groups) {
  groups->resize(kInitialGroups);
  socklen_t len = groups->size() * sizeof(gid_t);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups->data(), &len) != 0) {
    if (errno != ERANGE) return absl::ErrnoToStatus(errno, "SO_PEERGROUPS");
    // `len` now holds the size needed.
    if (len / sizeof(gid_t) > kMaxPeerGroups) {
      return absl::PermissionDeniedError("too many supplementary groups");
    }
    groups->resize(len / sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups->data(), &len) != 0) {
      return absl::ErrnoToStatus(errno, "SO_PEERGROUPS");
    }
  }
  groups->resize(len / sizeof(gid_t));
  SortGroups(groups);
  return absl::OkStatus();
}

template <typename Id, typename Lookup>
absl::StatusOr<std::vector<Id>> ParseIdList(
    const std::vector<std::string>& specs, absl::string_view what,
    Lookup lookup) {
  std::vector<Id> ids;
  for (const std::string& spec : specs) {
    for (absl::string_view item : absl::StrSplit(spec, ',')) {
      Id id;
      if (absl::SimpleAtoi(item, &id)) {
        ids.push_back(id);
        continue;
      }
      absl::StatusOr<Id> found = lookup(std::string(item));
      if (!found.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("no such ", what, ": '", item, "'"));
      }
      ids.push_back(*found);
    }
  }
  return ids;
}

absl::StatusOr<uid_t> LookUpUser(const std::string& name) {
  const passwd* pw = name.empty() ? nullptr : getpwnam(name.c_str());
  if (pw == nullptr) return absl::NotFoundError(name);
  return pw->pw_uid;
}

}  // namespace

absl::StatusOr<PeerCredentials> ReadPeerCredentials(int fd) {
  ucred uc = {};
  socklen_t len = sizeof(uc);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0) {
    return absl::ErrnoToStatus(errno, "SO_PEERCRED");
  }
  PeerCredentials cred;
  cred.pid = uc.pid;
  cred.uid = uc.uid;
  cred.gid = uc.gid;
  if (absl::Status s = ReadPeerGroups(fd, &cred.groups); !s.ok()) return s;
  return cred;
}

PeerCredentials OwnCredentials() {
  PeerCredentials own;
  own.pid = getpid();
  own.uid = geteuid();
  own.gid = getegid();
  own.groups.resize(getgroups(0, nullptr));
  own.groups.resize(getgroups(own.groups.size(), own.groups.data()));
  SortGroups(&own.groups);
  return own;
}

absl::StatusOr<gid_t> LookUpGroup(absl::string_view group) {
  gid_t gid;
  if (absl::SimpleAtoi(group, &gid)) return gid;
  const struct group* gr =
      group.empty() ? nullptr : getgrnam(std::string(group).c_str());
  if (gr == nullptr) {
    return absl::NotFoundError(absl::StrCat("no such group: ", group));
  }
  return gr->gr_gid;
}

std::string CredentialsKey(const PeerCredentials& cred) {
  return absl::StrCat(cred.uid, ":", cred.gid, ":",
                      absl::StrJoin(cred.groups, ","));
}

absl::StatusOr<std::vector<uid_t>> ParseUserList(
    const std::vector<std::string>& specs) {
  return ParseIdList<uid_t>(specs, "user", LookUpUser);
}

absl::StatusOr<std::vector<gid_t>> ParseGroupList(
    const std::vector<std::string>& specs) {
  return ParseIdList<gid_t>(specs, "group", LookUpGroup);
}

PeerPolicy::PeerPolicy(const std::vector<uid_t>& uids,
                       const std::vector<gid_t>& gids)
    : restricted_(!uids.empty() || !gids.empty()),
      uids_(uids.begin(), uids.end()),
      gids_(gids.begin(), gids.end()) {}

absl::StatusOr<PeerPolicy> PeerPolicy::FromSpecs(
    const std::vector<std::string>& uid_specs,
    const std::vector<std::string>& gid_specs) {
  absl::StatusOr<std::vector<uid_t>> uids = ParseUserList(uid_specs);
  if (!uids.ok()) return uids.status();
  absl::StatusOr<std::vector<gid_t>> gids = ParseGroupList(gid_specs);
  if (!gids.ok()) return gids.status();
  return PeerPolicy(*uids, *gids);
}

bool PeerPolicy::Allows(const PeerCredentials& cred) const {
  if (!restricted_) return true;
  if (uids_.contains(cred.uid) || gids_.contains(cred.gid)) return true;
  return std::any_of(cred.groups.begin(), cred.groups.end(),
                     [&](gid_t g) { return gids_.contains(g); });
}

absl::Status DropToCredentials(const PeerCredentials& cred) {
  if (setgroups(cred.groups.size(), cred.groups.data()) != 0) {
    return absl::ErrnoToStatus(errno, "setgroups");
  }
  if (setresgid(cred.gid, cred.gid, cred.gid) != 0) {
    return absl::ErrnoToStatus(errno, "setresgid");
  }
  if (setresuid(cred.uid, cred.uid, cred.uid) != 0) {
    return absl::ErrnoToStatus(errno, "setresuid");
  }
  uid_t r, e, s;
  gid_t rg, eg, sg;
  if (getresuid(&r, &e, &s) != 0 || getresgid(&rg, &eg, &sg) != 0 ||
      r != cred.uid || e != cred.uid || s != cred.uid || rg != cred.gid ||
      eg != cred.gid || sg != cred.gid) {
    return absl::InternalError("credentials did not change as asked");
  }
  if (cred.uid != 0 && setuid(0) == 0) {
    return absl::InternalError("root could be regained after dropping it");
  }
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  return absl::OkStatus();
}

}  // namespace offlog
