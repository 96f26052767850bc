#include "offlog/server/options.h"

#include <getopt.h>
#include <sched.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/substitute.h"

namespace offlog {
namespace {

enum LongOnly {
  kPrefork = 1000,
  kHandshakeTimeout,
  kShutdownTimeout,
  kSocketMode,
  kSocketGroup,
  kAtomicLines,
  kNoAtomicLines,
  kPeekReads,
  kNoPeekReads,
  kLineHoldMs,
  kControlSocket,
  kCoalesceUs,
  kAllowUid,
  kAllowGid,
  kAllowDir,
  kOpenAsServerUser,
  kMaxConnectionsPerUid,
  kMaxWritersPerUid,
  kMaxWaitingPerFile,
  kLogTarget,
  kWriterStartNice,
  kWriterStartSpareCpus,
};

const struct option kLongOptions[] = {
    {"socket-file", required_argument, nullptr, 's'},
    {"logfile", required_argument, nullptr, 'l'},
    {"notify", no_argument, nullptr, 'n'},
    {"rotate-check-interval", required_argument, nullptr, 'r'},
    {"help", no_argument, nullptr, 'h'},
    {"prefork", required_argument, nullptr, kPrefork},
    {"handshake-timeout-ms", required_argument, nullptr, kHandshakeTimeout},
    {"shutdown-timeout-ms", required_argument, nullptr, kShutdownTimeout},
    {"socket-mode", required_argument, nullptr, kSocketMode},
    {"socket-group", required_argument, nullptr, kSocketGroup},
    {"atomic-lines", no_argument, nullptr, kAtomicLines},
    {"no-atomic-lines", no_argument, nullptr, kNoAtomicLines},
    {"peek-reads", no_argument, nullptr, kPeekReads},
    {"no-peek-reads", no_argument, nullptr, kNoPeekReads},
    {"line-hold-ms", required_argument, nullptr, kLineHoldMs},
    {"coalesce-us", required_argument, nullptr, kCoalesceUs},
    {"control-socket", required_argument, nullptr, kControlSocket},
    {"allow-uid", required_argument, nullptr, kAllowUid},
    {"allow-gid", required_argument, nullptr, kAllowGid},
    {"allow-dir", required_argument, nullptr, kAllowDir},
    {"open-as-server-user", no_argument, nullptr, kOpenAsServerUser},
    {"max-connections-per-uid", required_argument, nullptr,
     kMaxConnectionsPerUid},
    {"max-writers-per-uid", required_argument, nullptr, kMaxWritersPerUid},
    {"max-waiting-per-file", required_argument, nullptr, kMaxWaitingPerFile},
    {"log-target", required_argument, nullptr, kLogTarget},
    {"writer-start-nice", required_argument, nullptr, kWriterStartNice},
    {"writer-start-spare-cpus", required_argument, nullptr,
     kWriterStartSpareCpus},
    {nullptr, 0, nullptr, 0},
};

absl::Status ParseInt(const char* flag, const char* text, int min, int* out) {
  if (!absl::SimpleAtoi(text, out) || *out < min) {
    return absl::InvalidArgumentError(
        absl::StrCat("argument ", flag, ": expected an integer >= ", min,
                     ", got '", text, "'"));
  }
  return absl::OkStatus();
}

absl::Status ParseIntInRange(const char* flag, const char* text, int min,
                             int max, int* out) {
  if (!absl::SimpleAtoi(text, out) || *out < min || *out > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("argument ", flag, ": expected an integer from ", min,
                     " to ", max, ", got '", text, "'"));
  }
  return absl::OkStatus();
}

absl::Status ParseMode(const char* text, mode_t* out) {
  unsigned long mode = 0;
  char* end = nullptr;
  mode = strtoul(text, &end, 8);
  if (*text == '\0' || *end != '\0' || mode > 07777) {
    return absl::InvalidArgumentError(absl::StrCat(
        "argument --socket-mode: expected an octal mode, got '", text, "'"));
  }
  *out = static_cast<mode_t>(mode);
  return absl::OkStatus();
}

// The per-uid bounds (bounds.h) and --log-target.
absl::Status ApplyBoundsOption(int opt, const char* arg, ServerOptions* o) {
  switch (opt) {
    case kLogTarget:
      if (std::string(arg) != "auto" && std::string(arg) != "journal" &&
          std::string(arg) != "stream") {
        return absl::InvalidArgumentError(absl::StrCat(
            "argument --log-target: expected auto, journal or stream, got '",
            arg, "'"));
      }
      o->log_target = arg;
      return absl::OkStatus();
    case kMaxWaitingPerFile:
      return ParseInt("--max-waiting-per-file", arg, 2,
                      &o->max_waiting_per_file);
    case kMaxConnectionsPerUid:
      return ParseInt("--max-connections-per-uid", arg, 0,
                      &o->max_connections_per_uid);
    case kMaxWritersPerUid:
      return ParseInt("--max-writers-per-uid", arg, 0, &o->max_writers_per_uid);
    default:
      return absl::InvalidArgumentError("unrecognized arguments (see --help)");
  }
}

// The options that shape how writers work.
absl::Status ApplyWriterOption(int opt, const char* arg, ServerOptions* o) {
  switch (opt) {
    case kAtomicLines:
    case kNoAtomicLines:
      o->atomic_lines = opt == kAtomicLines;
      return absl::OkStatus();
    case kCoalesceUs:
      // The writer sleeps with nanosleep(), which refuses a tv_nsec of a
      // second or more: larger pauses would silently never happen.
      return ParseIntInRange("--coalesce-us", arg, 0, 999999, &o->coalesce_us);
    case kWriterStartNice:
      return ParseIntInRange("--writer-start-nice", arg, 0, 19,
                             &o->writer_start_nice);
    case kWriterStartSpareCpus:
      return ParseIntInRange("--writer-start-spare-cpus", arg, 0, CPU_SETSIZE,
                             &o->writer_start_spare_cpus);
    case kLineHoldMs:
      return ParseInt("--line-hold-ms", arg, 0, &o->line_hold_ms);
    default:  // kPeekReads, kNoPeekReads
      o->peek_reads = opt == kPeekReads;
      return absl::OkStatus();
  }
}

absl::Status ApplyOption(int opt, const char* arg, ServerOptions* o) {
  switch (opt) {
    case 's':
      o->socket_file = arg;
      return absl::OkStatus();
    case 'l':
      o->logfile = arg;
      return absl::OkStatus();
    case 'n':
      o->notify = true;
      return absl::OkStatus();
    case 'r':
      return ParseInt("-r/--rotate-check-interval", arg, 1,
                      &o->rotate_check_interval_ms);
    case 'h':
      o->help = true;
      return absl::OkStatus();
    case kPrefork:
      return ParseInt("--prefork", arg, 0, &o->prefork);
    case kHandshakeTimeout:
      return ParseInt("--handshake-timeout-ms", arg, 1,
                      &o->handshake_timeout_ms);
    case kShutdownTimeout:
      return ParseInt("--shutdown-timeout-ms", arg, 0, &o->shutdown_timeout_ms);
    case kSocketMode:
      return ParseMode(arg, &o->socket_mode);
    case kSocketGroup:
      o->socket_group = arg;
      return absl::OkStatus();
    case kAtomicLines:
    case kNoAtomicLines:
    case kCoalesceUs:
    case kWriterStartNice:
    case kWriterStartSpareCpus:
    case kLineHoldMs:
    case kPeekReads:
    case kNoPeekReads:
      return ApplyWriterOption(opt, arg, o);
    case kControlSocket:
      o->control_socket = arg;
      return absl::OkStatus();
    case kAllowUid:
      o->allow_uid.push_back(arg);
      return absl::OkStatus();
    case kAllowGid:
      o->allow_gid.push_back(arg);
      return absl::OkStatus();
    case kAllowDir:
      o->allow_dir.push_back(arg);
      return absl::OkStatus();
    case kOpenAsServerUser:
      o->open_as_server_user = true;
      return absl::OkStatus();
    case kLogTarget:
    case kMaxConnectionsPerUid:
    case kMaxWritersPerUid:
    case kMaxWaitingPerFile:
      return ApplyBoundsOption(opt, arg, o);
    default:
      return absl::InvalidArgumentError("unrecognized arguments (see --help)");
  }
}

}  // namespace

absl::StatusOr<ServerOptions> ParseServerOptions(int argc, char** argv) {
  ServerOptions options;
  optind = 0;  // 0, not 1: glibc then also resets its permutation state.
  opterr = 0;
  int opt;
  while ((opt = getopt_long(argc, argv, ":s:l:nr:h", kLongOptions, nullptr)) !=
         -1) {
    if (opt == ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("option ", argv[optind - 1], " expects an argument"));
    }
    if (opt == '?') {
      return absl::InvalidArgumentError(
          absl::StrCat("unrecognized argument: ", argv[optind - 1]));
    }
    absl::Status s = ApplyOption(opt, optarg, &options);
    if (!s.ok()) return s;
  }
  if (optind < argc) {
    return absl::InvalidArgumentError(
        absl::StrCat("unrecognized argument: ", argv[optind]));
  }
  return options;
}

std::string ServerUsage() {
  // The defaults come from one place: ServerOptions (options.h).
  const ServerOptions d;
  return absl::Substitute(
      R"(usage: offlogd [-h] [-n] [-s SOCKET_FILE] [-l LOGFILE]
               [-r ROTATE_CHECK_INTERVAL] [--prefork N]
               [--handshake-timeout-ms MS] [--shutdown-timeout-ms MS]
               [--socket-mode OCTAL] [--socket-group GROUP]
               [--[no-]atomic-lines] [--line-hold-ms MS] [--coalesce-us US]
               [--writer-start-nice N] [--writer-start-spare-cpus N]
               [--[no-]peek-reads]
               [--control-socket PATH]
               [--allow-uid USERS] [--allow-gid GROUPS] [--allow-dir DIR]
               [--open-as-server-user] [--max-connections-per-uid N]
               [--max-writers-per-uid N] [--max-waiting-per-file N]
               [--log-target auto|journal|stream]

offlog file-append service

options:
  -h, --help            show this help message and exit
  -n, --notify          Notify systemd (sd_notify READY=1) once listening,
                        and STOPPING=1 when shutting down.
  -s, --socket-file SOCKET_FILE
                        Path of the Unix socket the server binds to.
                        Default: $0. Ignored when systemd
                        passes a listening socket (socket activation).
  -l, --logfile LOGFILE
                        Path of the (optional) log file for the server itself.
  -r, --rotate-check-interval ROTATE_CHECK_INTERVAL
                        How often in milliseconds to check whether a file has
                        been rotated (moved/renamed/deleted). Default: $1
  --prefork N           Idle writer processes kept ready. Default: $2
  --handshake-timeout-ms MS
                        Close clients that send no path within MS. Default: $3
  --shutdown-timeout-ms MS
                        On SIGTERM/SIGINT, abandon writers still busy after MS.
                        Default: $4
  --socket-mode OCTAL   Permissions of the socket file. Default: 0600
  --socket-group GROUP  Group of the socket file. Default: the server's group.
  --atomic-lines, --no-atomic-lines
                        Append only whole lines from each client, so lines
                        of clients sharing a file never tear into each other
                        (an unfinished line waits up to --line-hold-ms or
                        64 KiB). Default: on. Turn off for binary data.
  --line-hold-ms MS     How long --atomic-lines holds back an unfinished
                        line. Default: $5
  --coalesce-us US      After a turn that appended less than 16 KiB, a writer
                        pauses this long so that data gathers and appends
                        batch up (fewer system calls per record). 0: never;
                        at most 999999. Default: $6
  --writer-start-nice N Writers start N nice levels below the acceptor and
                        go back up once their file is open, so that a burst
                        of new files takes less CPU from files already
                        open; new files then open more slowly when the CPUs
                        are busy. 0: start at the acceptor's level; at most
                        19. Needs RLIMIT_NICE or CAP_SYS_NICE to go back up,
                        else 0 is used. Default: $7
  --writer-start-spare-cpus N
                        Writers start on all CPUs but N, and use all once
                        their file is open, and while writers start the
                        acceptor keeps to those N: the kernel does not
                        preempt a file creation in progress, so a burst of
                        new files would otherwise hold every CPU and delay
                        the clients of files already open. 0: start
                        anywhere. Nothing is spared where offlogd may run
                        on N CPUs or fewer.
                        Default: $9
  --peek-reads, --no-peek-reads
                        Take data out of a client's socket only once it is
                        in the file, so a writer crash loses nothing.
                        Default: on.
  --control-socket PATH
                        Socket for offlogctl (owner-only, mode 0600).
                        Default: SOCKET_FILE.ctl; none under socket
                        activation unless given; '' disables it.
  --allow-uid USERS     Serve only these users (comma-separated names or
                        numbers; repeatable), or members of --allow-gid.
                        Default: anyone who can connect to the socket.
  --allow-gid GROUPS    Serve only members (primary or supplementary) of
                        these groups, or users of --allow-uid.
  --allow-dir DIR       Accept only target paths below DIR (repeatable);
                        symlinks below DIR are not followed.
  --open-as-server-user When running as root, open files as root instead of
                        with the client's uid, gid and groups.
  --max-connections-per-uid N
                        Connections one uid may hold open at once; beyond,
                        it gets OSError: [Errno 24] Too many open files.
                        Default (0): half of the descriptors left after
                        offlogd's reserve and writer channels.
  --max-writers-per-uid N
                        Files one uid may have open (writer processes) at
                        once. Default (0): half of the writers the process
                        and descriptor limits allow.
  --max-waiting-per-file N
                        Clients that may wait in the acceptor for a file's
                        writer while it is not responding (stuck in one
                        open()/write() for 200 ms, or 1 s without taking a
                        client; one uid at most half of them); beyond, they
                        are refused. Default: $8
  --log-target auto|journal|stream
                        Where the server log goes besides --logfile:
                        journal (native records with PRIORITY and
                        OFFLOG_PATH, OFFLOG_CLIENT_ID, OFFLOG_CLIENT_UID
                        fields, no timestamp of offlogd's own), stream
                        (stdout/stderr, the original's format), or auto:
                        journal when JOURNAL_STREAM says stderr is the
                        journal. Default: auto
)",
      d.socket_file, d.rotate_check_interval_ms, d.prefork,
      d.handshake_timeout_ms, d.shutdown_timeout_ms, d.line_hold_ms,
      d.coalesce_us, d.writer_start_nice, d.max_waiting_per_file,
      d.writer_start_spare_cpus);
}

std::string ControlSocketPath(const ServerOptions& options,
                              bool socket_activated) {
  if (options.control_socket.has_value()) return *options.control_socket;
  if (socket_activated) return "";
  return absl::StrCat(options.socket_file, ".ctl");
}

}  // namespace offlog
