// offlogd's command line. The original server's flags keep both of their
// spellings (-s/--socket-file, -l/--logfile, -n/--notify,
// -r/--rotate-check-interval, -h/--help); the rest are offlogd's own.
#ifndef OFFLOG_SERVER_OPTIONS_H_
#define OFFLOG_SERVER_OPTIONS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace offlog {

struct ServerOptions {
  std::string socket_file = "/tmp/offlog.sock";
  std::string logfile;  // Empty: no log file.
  bool notify = false;
  int rotate_check_interval_ms = 5000;
  int prefork = 2;
  int handshake_timeout_ms = 5000;
  int shutdown_timeout_ms = 10000;
  mode_t socket_mode = 0600;
  std::string socket_group;  // Empty: the server's own group.
  // Comma-separated user/group names or numbers, one entry per flag given;
  // empty: anyone who can connect. See credentials.h.
  std::vector<std::string> allow_uid;
  std::vector<std::string> allow_gid;
  // Directories target paths must lie below; empty: anywhere.
  std::vector<std::string> allow_dir;
  // As root: open files as root rather than as the client.
  bool open_as_server_user = false;
  bool help = false;
};

// Parses argv. On --help, returns options with `help` set; the caller prints
// Usage() and exits 0.
absl::StatusOr<ServerOptions> ParseServerOptions(int argc, char** argv);

std::string ServerUsage();

}  // namespace offlog

#endif  // OFFLOG_SERVER_OPTIONS_H_
