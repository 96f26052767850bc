// offlog_tee: append standard input to a file through the offlog server.
//
//   offlog_tee [-s SOCKET] [-t TIMEOUT_MS] [--echo]
//              [--max-queued-bytes N] [--overflow block|drop|fail]
//              [--block-ms MS] [--linger-us US] [--batch-bytes N] PATH
//
// Reads standard input to its end, appending everything to PATH through the
// server at SOCKET (default /tmp/offlog.sock); with --echo, also copies it
// to standard output. Input is passed on in whole lines (a line longer than
// 64 KiB in pieces), so that a dropped piece never cuts a line.
//
// While the server does not keep up, up to N bytes (default 4 MiB) are
// queued; beyond that --overflow decides: block (the default) waits for
// room for up to --block-ms (default: the timeout) and then drops the
// piece; drop drops it at once; fail stops with an error at once (what is
// still queued is abandoned).
//
// --linger-us US (default 0: off) batches: input may be held for up to US
// microseconds, or until --batch-bytes N (default 16384) bytes are held,
// and then sent in one piece (ProxyFileOptions::linger_us). If offlog_tee
// is killed, what it held is lost: at most US microseconds' worth.
//
// Exits 0 once the server confirms that all of it is written; 1 with the
// server's error on standard error if anything fails; 2 on a usage error;
// 3 if all went well but input was dropped (how much is on standard error).
// For example:
//
//   myjob 2>&1 | offlog_tee --overflow drop /var/log/myjob.log
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "offlog/client/proxy_file.h"

namespace {

constexpr size_t kDefaultMaxQueued = 4 * 1024 * 1024;
constexpr size_t kReadSize = 64 * 1024;

constexpr int kExitDropped = 3;

constexpr char kUsage[] =
    "usage: offlog_tee [-s SOCKET] [-t TIMEOUT_MS] [--echo]\n"
    "                  [--max-queued-bytes N] [--overflow block|drop|fail]\n"
    "                  [--block-ms MS] [--linger-us US] [--batch-bytes N]\n"
    "                  PATH\n";

struct TeeArgs {
  offlog::ProxyFileOptions options;
  bool echo = false;
  bool block_ms_given = false;
  std::string path;
};

bool TakesValue(absl::string_view arg) {
  return arg == "-s" || arg == "--socket" || arg == "-t" ||
         arg == "--timeout" || arg == "--max-queued-bytes" ||
         arg == "--overflow" || arg == "--block-ms" || arg == "--linger-us" ||
         arg == "--batch-bytes";
}

bool ParseMs(const char* text, int* ms) {
  return absl::SimpleAtoi(text, ms) && *ms >= 0;
}

// Parses the value of option `arg`; false if it is bad.
bool ParseValue(absl::string_view arg, const char* value, TeeArgs& args) {
  offlog::ProxyFileOptions& o = args.options;
  if (arg == "-s" || arg == "--socket") {
    o.socket_path = value;
    return true;
  }
  if (arg == "-t" || arg == "--timeout") return ParseMs(value, &o.timeout_ms);
  if (arg == "--block-ms") {
    args.block_ms_given = true;
    return ParseMs(value, &o.overflow_block_ms);
  }
  if (arg == "--max-queued-bytes") {
    return absl::SimpleAtoi(value, &o.max_queued_bytes);
  }
  if (arg == "--linger-us") {
    return absl::SimpleAtoi(value, &o.linger_us) && o.linger_us >= 0;
  }
  if (arg == "--batch-bytes") {
    return absl::SimpleAtoi(value, &o.batch_bytes);
  }
  std::optional<offlog::OverflowPolicy> policy =
      offlog::ParseOverflowPolicy(value);
  if (policy.has_value()) o.overflow_policy = *policy;
  return policy.has_value();
}

// Parses argv; nullopt (after printing why) on a usage error.
std::optional<TeeArgs> ParseArgs(int argc, char** argv) {
  TeeArgs args;
  args.options.max_queued_bytes = kDefaultMaxQueued;
  args.options.overflow_policy = offlog::OverflowPolicy::kBlock;
  bool have_path = false;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (TakesValue(arg)) {
      if (i + 1 == argc) {
        std::fprintf(stderr, "offlog_tee: %s needs a value\n%s", argv[i],
                     kUsage);
        return std::nullopt;
      }
      if (!ParseValue(arg, argv[i + 1], args)) {
        std::fprintf(stderr, "offlog_tee: bad %s %s\n%s", argv[i], argv[i + 1],
                     kUsage);
        return std::nullopt;
      }
      ++i;
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
  if (!args.block_ms_given) {
    args.options.overflow_block_ms = args.options.timeout_ms;
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

// Writes `data` to `file`. Dropped data (under kBlock, once the wait ran
// out) is counted by the file and not an error.
absl::Status WritePiece(offlog::ProxyFile& file, absl::string_view data) {
  absl::Status status = file.Write(data);
  if (absl::IsDeadlineExceeded(status)) return absl::OkStatus();
  return status;
}

// Copies standard input to `file` (and stdout when `echo`) until its end,
// in whole lines: a read's unfinished last line waits for the next read,
// unless it has grown to kReadSize on its own.
absl::Status Pump(offlog::ProxyFile& file, bool echo) {
  std::string pending;
  char buf[kReadSize];
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError("reading standard input failed");
    if (n == 0)
      return pending.empty() ? absl::OkStatus() : WritePiece(file, pending);
    absl::string_view data(buf, static_cast<size_t>(n));
    if (echo) Echo(data);
    pending.append(data.data(), data.size());
    size_t end = pending.rfind('\n');
    size_t take = end == std::string::npos ? 0 : end + 1;
    if (take == 0 && pending.size() >= kReadSize) take = pending.size();
    if (take == 0) continue;
    absl::Status status =
        WritePiece(file, absl::string_view(pending).substr(0, take));
    if (!status.ok()) return status;
    pending.erase(0, take);
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
  uint64_t dropped_bytes = file->dropped_bytes();
  uint64_t dropped_writes = file->dropped_writes();
  // After a failure, what is still queued is abandoned: no waiting.
  absl::Status closed = file->Close(/*block_send=*/status.ok(),
                                    /*block_close=*/status.ok());
  if (!status.ok()) return Fail(status);
  if (!closed.ok()) return Fail(closed);
  if (dropped_bytes == 0) return 0;
  std::fprintf(stderr,
               "offlog_tee: %llu bytes of input dropped, in %llu pieces, "
               "while the server did not keep up\n",
               static_cast<unsigned long long>(dropped_bytes),
               static_cast<unsigned long long>(dropped_writes));
  return kExitDropped;
}
