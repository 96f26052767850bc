// journald-native logging: one record per call, sent to journald over its
// native protocol (systemd.journal-fields(7), "Native Journal Protocol"),
// never blocking the caller.
//
// Why not sd_journal_sendv(): it is a blocking sendmsg() on a datagram
// socket, and offlogd's processes must never wait for a slow journald. A
// JournalSink's socket is non-blocking: a record journald has no room for
// is dropped and counted (dropped()), and the caller carries on.
//
// Typical use, in a process whose stderr systemd connected to the journal:
//
//   if (offlog::StderrIsJournal()) {
//     absl::StatusOr<offlog::JournalSink> sink = offlog::JournalSink::Open();
//     if (sink.ok()) {
//       offlog::JournalRecord r;
//       r.priority = LOG_WARNING;
//       r.message = "Client 7 error: [Errno 28] No space left on device";
//       r.path = "/var/log/offlog/app.log";
//       r.client_id = 7;
//       r.client_uid = 1000;
//       (void)sink->Send(r);  // Dropped (and counted) if journald is busy.
//     }
//   }
//
// so that `journalctl -u offlog -p warning` and
// `journalctl OFFLOG_PATH=/var/log/offlog/app.log` find it. journald adds
// the time, _PID, _UID, _SYSTEMD_UNIT and the rest from the socket's
// credentials, so the MESSAGE carries no timestamp of its own.
//
// A JournalSink is move-only, owns one socket, and is safe to use from one
// thread at a time; it can be opened before fork() and used in the child.
#ifndef OFFLOG_SERVER_JOURNAL_H_
#define OFFLOG_SERVER_JOURNAL_H_

#include <sys/types.h>
#include <sys/un.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "offlog/common/unique_fd.h"

namespace offlog {

// journald's native socket.
inline constexpr char kJournalSocket[] = "/run/systemd/journal/socket";

// One journal entry. Fields not set are left out.
struct JournalRecord {
  // PRIORITY: a syslog level, LOG_EMERG (0) .. LOG_DEBUG (7) from
  // <syslog.h>; out-of-range values are clamped.
  int priority = 6;  // LOG_INFO
  // MESSAGE: the human-readable text, without a timestamp. May hold any
  // bytes, newlines included.
  absl::string_view message;
  // OFFLOG_PATH: the target file the record is about.
  std::optional<absl::string_view> path;
  // OFFLOG_CLIENT_ID: offlogd's number for the client connection.
  std::optional<uint64_t> client_id;
  // OFFLOG_CLIENT_UID: the client's uid (SO_PEERCRED).
  std::optional<uid_t> client_uid;
};

// The datagram the native protocol wants for `record`: PRIORITY,
// SYSLOG_IDENTIFIER=`identifier`, MESSAGE, then the OFFLOG_* fields that are
// set. A value without a newline is sent as `NAME=value\n`; one with a
// newline as `NAME\n`, its length as a little-endian uint64, the bytes, `\n`.
std::string EncodeJournalRecord(const JournalRecord& record,
                                absl::string_view identifier = "offlogd");

class JournalSink {
 public:
  // A non-blocking, close-on-exec SOCK_DGRAM socket aimed at
  // `socket_path` (journald's by default; tests pass a socket they bound).
  // Fails if the path is too long for sockaddr_un or no socket can be
  // made; does not check that anyone listens (Send() does).
  static absl::StatusOr<JournalSink> Open(
      absl::string_view socket_path = kJournalSocket,
      absl::string_view identifier = "offlogd");

  JournalSink(JournalSink&&) = default;
  JournalSink& operator=(JournalSink&&) = default;

  // Sends one record without blocking. A record too large for one datagram
  // goes as a sealed memfd passed with SCM_RIGHTS, as libsystemd does.
  // Returns:
  //   OkStatus()          journald has it;
  //   UnavailableError    journald's queue is full (EAGAIN) or journald is
  //                       not there (ECONNREFUSED, ENOENT): dropped;
  //   another error       what sendmsg() or memfd_create() said: dropped.
  // Every record not sent counts in dropped().
  absl::Status Send(const JournalRecord& record);

  // Records Send() could not deliver, since Open().
  uint64_t dropped() const { return dropped_; }
  int fd() const { return fd_.get(); }

 private:
  JournalSink(UniqueFd fd, const sockaddr_un& addr, socklen_t addr_len,
              std::string identifier);
  // Each returns 0 or an errno.
  int SendDatagram(const std::string& datagram);
  int SendAsMemfd(const std::string& datagram);

  UniqueFd fd_;
  sockaddr_un addr_;
  socklen_t addr_len_;
  std::string identifier_;
  uint64_t dropped_ = 0;
};

// Whether `fd` is the stream systemd connected to the journal: the
// JOURNAL_STREAM value `journal_stream` ("DEVICE:INODE", decimal, as
// systemd.exec(5) sets it) names the same st_dev and st_ino as fstat(fd).
// False if `journal_stream` is null, malformed, or names another file.
bool IsJournalStream(const char* journal_stream, int fd);

// IsJournalStream(getenv("JOURNAL_STREAM"), STDERR_FILENO): true when
// offlogd runs under systemd with its stderr going to the journal (and not
// redirected since, e.g. to --logfile or a terminal).
bool StderrIsJournal();

}  // namespace offlog

#endif  // OFFLOG_SERVER_JOURNAL_H_
