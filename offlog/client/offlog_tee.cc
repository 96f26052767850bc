// offlog_tee: append standard input to a file through the offlog server.
//
//   offlog_tee [-s SOCKET] [-t TIMEOUT_MS] [--echo] PATH
//
// Reads standard input to its end, appending everything to PATH through the
// server at SOCKET (default /tmp/offlog.sock); with --echo, also copies it
// to standard output. Exits 0 once the server confirms that all of it is
// written, 1 with the server's error on standard error if anything fails,
// and 2 on a usage error. For example:
//
//   myjob 2>&1 | offlog_tee /var/log/myjob.log
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "offlog/client/proxy_file.h"

namespace {

// Past this much queued input, wait for the server before reading more, so
// that a fast producer cannot make the queue grow without bound.
constexpr size_t kMaxQueued = 4 * 1024 * 1024;
constexpr size_t kReadSize = 64 * 1024;

constexpr char kUsage[] =
    "usage: offlog_tee [-s SOCKET] [-t TIMEOUT_MS] [--echo] PATH\n";

struct TeeArgs {
  offlog::ProxyFileOptions options;
  bool echo = false;
  std::string path;
};

// Parses argv; nullopt (after printing why) on a usage error.
std::optional<TeeArgs> ParseArgs(int argc, char** argv) {
  TeeArgs args;
  bool have_path = false;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    bool takes_value =
        arg == "-s" || arg == "--socket" || arg == "-t" || arg == "--timeout";
    if (takes_value && i + 1 == argc) {
      std::fprintf(stderr, "offlog_tee: %s needs a value\n%s", argv[i], kUsage);
      return std::nullopt;
    }
    if (arg == "-s" || arg == "--socket") {
      args.options.socket_path = argv[++i];
    } else if (arg == "-t" || arg == "--timeout") {
      if (!absl::SimpleAtoi(argv[++i], &args.options.timeout_ms) ||
          args.options.timeout_ms < 0) {
        std::fprintf(stderr, "offlog_tee: bad timeout %s\n%s", argv[i], kUsage);
        return std::nullopt;
      }
    } else if (arg == "--echo") {
      args.echo = true;
    } else if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (!have_path && (arg == "-" || arg.empty() || arg[0] != '-')) {
      args.path = std::string(arg);
      have_path = true;
    } else {
      std::fprintf(stderr, "offlog_tee: unexpected argument %s\n%s", argv[i],
                   kUsage);
      return std::nullopt;
    }
  }
  if (!have_path) {
    std::fputs(kUsage, stderr);
    return std::nullopt;
  }
  return args;
}

// Writes all of `data` to standard output.
void Echo(absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(STDOUT_FILENO, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // Echo is best effort; the file is what matters.
    data.remove_prefix(static_cast<size_t>(n));
  }
}

// Copies standard input to `file` (and stdout when `echo`) until its end.
absl::Status Pump(offlog::ProxyFile& file, bool echo) {
  char buf[kReadSize];
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError("reading standard input failed");
    if (n == 0) return absl::OkStatus();
    absl::string_view data(buf, static_cast<size_t>(n));
    if (echo) Echo(data);
    absl::Status status = file.Write(data);
    if (status.ok() && file.queued_bytes() > kMaxQueued) status = file.Flush();
    if (!status.ok()) return status;
  }
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "offlog_tee: %s\n",
               std::string(status.message()).c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);  // A closed stdout must not kill us mid-file.
  std::optional<TeeArgs> args = ParseArgs(argc, argv);
  if (!args.has_value()) return 2;
  absl::StatusOr<offlog::ProxyFile> file =
      offlog::ProxyFile::Open(args->path, args->options);
  if (!file.ok()) return Fail(file.status());
  absl::Status status = Pump(*file, args->echo);
  absl::Status closed = file->Close();
  if (!status.ok()) return Fail(status);
  if (!closed.ok()) return Fail(closed);
  return 0;
}
