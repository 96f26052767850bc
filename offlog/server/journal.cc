#include "offlog/server/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "offlog/common/unix_socket.h"

namespace offlog {
namespace {

void AppendField(std::string* out, absl::string_view name,
                 absl::string_view value) {
  if (value.find('\n') == absl::string_view::npos) {
    absl::StrAppend(out, name, "=", value, "\n");
    return;
  }
  absl::StrAppend(out, name, "\n");
  uint64_t size = value.size();
  char le[8];
  for (int i = 0; i < 8; ++i) le[i] = static_cast<char>(size >> (8 * i));
  out->append(le, sizeof(le));
  out->append(value.data(), value.size());
  out->push_back('\n');
}

// Unavailable for what means "journald cannot take it now or is not
// there"; the errno's own status otherwise.
absl::Status SendError(int err, absl::string_view what) {
  if (err == EAGAIN || err == EWOULDBLOCK || err == ECONNREFUSED ||
      err == ENOENT || err == ENOBUFS) {
    return absl::UnavailableError(
        absl::StrCat(what, ": journald unavailable: ", strerror(err)));
  }
  return absl::ErrnoToStatus(err, what);
}

// Returns 0 or the errno of the failed call.
int WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    done += n;
  }
  return 0;
}

}  // namespace

std::string EncodeJournalRecord(const JournalRecord& record,
                                absl::string_view identifier) {
  std::string out;
  out.reserve(record.message.size() + 128);
  AppendField(&out, "PRIORITY",
              absl::StrCat(std::clamp(record.priority, 0, 7)));
  AppendField(&out, "SYSLOG_IDENTIFIER", identifier);
  AppendField(&out, "MESSAGE", record.message);
  if (record.path) AppendField(&out, "OFFLOG_PATH", *record.path);
  if (record.client_id) {
    AppendField(&out, "OFFLOG_CLIENT_ID", absl::StrCat(*record.client_id));
  }
  if (record.client_uid) {
    AppendField(&out, "OFFLOG_CLIENT_UID", absl::StrCat(*record.client_uid));
  }
  return out;
}

JournalSink::JournalSink(UniqueFd fd, const sockaddr_un& addr,
                         socklen_t addr_len, std::string identifier)
    : fd_(std::move(fd)),
      addr_(addr),
      addr_len_(addr_len),
      identifier_(std::move(identifier)) {}

absl::StatusOr<JournalSink> JournalSink::Open(absl::string_view socket_path,
                                              absl::string_view identifier) {
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad journal socket path: ", socket_path));
  }
  memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  socklen_t addr_len = offsetof(sockaddr_un, sun_path) + socket_path.size();
  UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return absl::ErrnoToStatus(errno, "journal socket");
  // Large records fit in one datagram where the kernel allows it; past
  // that, Send() passes a memfd.
  int sndbuf = 8 * 1024 * 1024;
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  return JournalSink(std::move(fd), addr, addr_len, std::string(identifier));
}

int JournalSink::SendDatagram(const std::string& datagram) {
  ssize_t n;
  do {
    n = sendto(fd_.get(), datagram.data(), datagram.size(),
               MSG_NOSIGNAL | MSG_DONTWAIT,
               reinterpret_cast<const sockaddr*>(&addr_), addr_len_);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? errno : 0;
}

int JournalSink::SendAsMemfd(const std::string& datagram) {
  UniqueFd memfd(
      memfd_create("offlog-journal", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!memfd) return errno;
  if (int err = WriteAll(memfd.get(), datagram)) return err;
  // journald accepts only a sealed memfd: nobody can change it under it.
  if (fcntl(memfd.get(), F_ADD_SEALS,
            F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
    return errno;
  }
  // No data, only the descriptor (as libsystemd sends it).
  OneFdControl control;
  msghdr msg = {};
  msg.msg_name = &addr_;
  msg.msg_namelen = addr_len_;
  AttachFd(memfd.get(), &control, &msg);
  ssize_t n;
  do {
    n = sendmsg(fd_.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? errno : 0;
}

absl::Status JournalSink::Send(const JournalRecord& record) {
  std::string datagram = EncodeJournalRecord(record, identifier_);
  int err = SendDatagram(datagram);
  const char* what = "journal sendto";
  if (err == EMSGSIZE) {
    err = SendAsMemfd(datagram);
    what = "journal memfd";
  }
  if (err == 0) return absl::OkStatus();
  ++dropped_;
  return SendError(err, what);
}

bool IsJournalStream(const char* journal_stream, int fd) {
  if (journal_stream == nullptr) return false;
  std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(journal_stream, absl::MaxSplits(':', 1));
  uint64_t dev, ino;
  if (!absl::SimpleAtoi(parts.first, &dev) ||
      !absl::SimpleAtoi(parts.second, &ino)) {
    return false;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) return false;
  return static_cast<uint64_t>(st.st_dev) == dev &&
         static_cast<uint64_t>(st.st_ino) == ino;
}

bool StderrIsJournal() {
  return IsJournalStream(getenv("JOURNAL_STREAM"), STDERR_FILENO);
}

}  // namespace offlog
