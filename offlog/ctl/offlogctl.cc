// offlogctl: asks a running offlogd, over its control socket, for its
// status (a table, or --json), its metrics (Prometheus text exposition), or
// to reopen every file.
#include <errno.h>
#include <getopt.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "offlog/common/protocol.h"
#include "offlog/common/unique_fd.h"
#include "offlog/common/unix_socket.h"
#include "offlog/ctl/ctl_format.h"
#include "offlog/server/control_protocol.h"

namespace offlog {
namespace {

constexpr int kTimeoutSeconds = 5;

constexpr char kUsage[] =
    R"(usage: offlogctl [-s SOCKET_FILE] [--control-socket PATH] COMMAND

Talks to a running offlogd over its control socket.

commands:
  status [--json]   One row per open file: path, writer pid, clients, bytes
                    and records written, bytes queued in client sockets, time
                    since the last write, stalled (in one open()/write() for
                    at least the rotate-check interval); then the acceptor's
                    totals. --json: the same for programs.
  metrics           The same as Prometheus text exposition (offlog_*).
  reopen            Make every writer reopen its file (as SIGHUP does).

options:
  -h, --help            show this help message and exit
  -s, --socket-file SOCKET_FILE
                        offlogd's socket; the control socket is
                        SOCKET_FILE.ctl.
  --control-socket PATH The control socket, when not SOCKET_FILE.ctl.

With neither option: the packaged unit's control socket,
/run/offlog/offlog.sock.ctl, if it or /run/offlog/offlog.sock exists;
otherwise /tmp/offlog.sock.ctl (offlogd's own default). In world-writable
/tmp another user can take the name first: run offlogd in /run/offlog
(docs/SECURITY.md).
)";

// The sockets of deploy/offlog.socket and deploy/offlog.service.
constexpr char kUnitSocket[] = "/run/offlog/offlog.sock";
constexpr char kUnitControlSocket[] = "/run/offlog/offlog.sock.ctl";

struct CtlOptions {
  std::string socket_file;
  std::string control_socket;
  std::string command;
  bool json = false;
};

enum { kControlSocket = 1000, kJson };

const struct option kLongOptions[] = {
    {"socket-file", required_argument, nullptr, 's'},
    {"control-socket", required_argument, nullptr, kControlSocket},
    {"json", no_argument, nullptr, kJson},
    {"help", no_argument, nullptr, 'h'},
    {nullptr, 0, nullptr, 0},
};

bool IsSocket(const char* path) {
  struct stat st;
  return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

// Returns an exit code to leave with, or -1 to carry on.
int ParseArgs(int argc, char** argv, CtlOptions* o) {
  int opt;
  while ((opt = getopt_long(argc, argv, "s:h", kLongOptions, nullptr)) != -1) {
    switch (opt) {
      case 's':
        o->socket_file = optarg;
        break;
      case kControlSocket:
        o->control_socket = optarg;
        break;
      case kJson:
        o->json = true;
        break;
      case 'h':
        fputs(kUsage, stdout);
        return 0;
      default:
        fputs(kUsage, stderr);
        return 2;
    }
  }
  if (optind + 1 != argc) {
    fputs(kUsage, stderr);
    return 2;
  }
  o->command = argv[optind];
  if (o->control_socket.empty() && o->socket_file.empty()) {
    // No flags: the packaged server's control socket when the unit's
    // sockets are there (the control socket exists only while offlogd runs;
    // the main one as long as offlog.socket listens).
    if (IsSocket(kUnitControlSocket) || IsSocket(kUnitSocket)) {
      o->control_socket = kUnitControlSocket;
    } else {
      o->socket_file = std::string(kDefaultSocketPath);
    }
  }
  if (o->control_socket.empty()) {
    o->control_socket = absl::StrCat(o->socket_file, ".ctl");
  }
  return -1;
}

absl::StatusOr<UniqueFd> Connect(const std::string& path) {
  UnixConnectOptions options;
  options.send_timeout = absl::Seconds(kTimeoutSeconds);
  options.receive_timeout = absl::Seconds(kTimeoutSeconds);
  int err = 0;
  UniqueFd fd = ConnectUnixSocket(path, options, &err);
  if (fd.valid()) return fd;
  if (err == ENAMETOOLONG) {
    return absl::InvalidArgumentError(absl::StrCat("path too long: ", path));
  }
  return absl::ErrnoToStatus(err, absl::StrCat("connect ", path));
}

// Sends one request line and returns the body of the answer.
absl::StatusOr<std::string> Ask(const std::string& path,
                                absl::string_view request) {
  absl::StatusOr<UniqueFd> fd = Connect(path);
  if (!fd.ok()) return fd.status();
  std::string line = absl::StrCat(request, "\n");
  if (send(fd->get(), line.data(), line.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(line.size())) {
    return absl::ErrnoToStatus(errno, "send");
  }
  shutdown(fd->get(), SHUT_WR);
  std::string answer;
  char buf[65536];
  while (true) {
    ssize_t n = recv(fd->get(), buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, "reading the answer");
    if (n == 0) break;
    answer.append(buf, n);
  }
  return ParseControlAnswer(answer);
}

absl::StatusOr<std::string> Run(const CtlOptions& o) {
  if (o.command == "reopen") return Ask(o.control_socket, kControlReopen);
  if (o.command != "status" && o.command != "metrics") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown command: ", o.command, " (see --help)"));
  }
  absl::StatusOr<std::string> body = Ask(o.control_socket, kControlStatus);
  if (!body.ok()) return body.status();
  absl::StatusOr<ServerSnapshot> snapshot = ParseSnapshot(*body);
  if (!snapshot.ok()) return snapshot.status();
  if (o.command == "metrics") return FormatMetrics(*snapshot);
  if (o.json) return FormatStatusJson(*snapshot);
  return FormatStatusTable(*snapshot, absl::ToUnixMillis(absl::Now()));
}

}  // namespace
}  // namespace offlog

int main(int argc, char** argv) {
  offlog::CtlOptions options;
  if (int rc = offlog::ParseArgs(argc, argv, &options); rc >= 0) return rc;
  absl::StatusOr<std::string> out = offlog::Run(options);
  if (!out.ok()) {
    fprintf(stderr, "offlogctl: %s\n",
            std::string(out.status().message()).c_str());
    return 1;
  }
  fputs(out->c_str(), stdout);
  return 0;
}
