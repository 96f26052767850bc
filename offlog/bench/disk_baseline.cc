// disk_baseline: the machine's own limits, measured next to offlog so that
// its figures can be read as ratios.
//
//   disk_baseline --mode all --dir /tmp --out machine.csv
//
// Modes:
//   write    one process appending --size blocks to a file with write()
//   relay    a socket relayed to a file with recv()+write() (the naive server)
//   splice   the same with splice() socket -> pipe -> file (zero-copy)
//   send     a bare send() of --small bytes on a Unix stream socket
//   append   write() of --small bytes to a local file, per call (the direct
//            alternative to logging through offlog)
//   fifo     write() of --small bytes to a FIFO nobody reads: how much goes
//            in before it would block (forever)
// The bulk modes write the file once untimed first so that the timed pass
// runs on a warm page cache.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gflags/gflags.h"
#include "offlog/bench/bench_io.h"
#include "offlog/common/unique_fd.h"
#include "offlog/testing/wire.h"

DEFINE_string(mode, "all", "write|relay|splice|send|append|fifo|all");
DEFINE_string(dir, "/tmp",
              "Directory for the scratch files (same file "
              "system as the benchmark's targets).");
DEFINE_int64(size, 65536, "Block size of the bulk modes.");
DEFINE_int64(bytes, int64_t{1} << 30, "Bytes per bulk run.");
DEFINE_int32(small, 100, "Bytes per call of send/append/fifo.");
DEFINE_int64(calls, 200000, "Calls of send/append.");
DEFINE_string(out, "", "Append CSV rows to this file.");
DEFINE_string(label, "machine", "Label for the CSV rows.");

namespace offlog::bench {
namespace {

struct Row {
  std::string mode;
  int64_t size = 0;
  int64_t bytes = 0;
  double seconds = 0;
  std::vector<int64_t> call_ns;  // Sorted per-call latencies, if any.
  std::string note;
};

void Emit(const Row& r) {
  const double mbps = r.seconds > 0 ? r.bytes / 1e6 / r.seconds : 0;
  const double mean =
      r.call_ns.empty() ? 0 : r.seconds * 1e6 / r.call_ns.size();
  printf(
      "%-7s size %6ld: %8.1f MB/s  calls %7zu  p50 %.2f us  p99 %.2f us  "
      "max %.1f us  mean %.2f us  %s\n",
      r.mode.c_str(), r.size, mbps, r.call_ns.size(),
      Quantile(r.call_ns, .5) / 1e3, Quantile(r.call_ns, .99) / 1e3,
      Quantile(r.call_ns, 1) / 1e3, mean, r.note.c_str());
  if (FLAGS_out.empty()) return;
  bench::AppendCsvRow(
      FLAGS_out,
      "label,mode,size,bytes,seconds,mb_per_s,calls,p50_us,p99_us,max_us,"
      "mean_us,note",
      absl::StrFormat("%s,%s,%ld,%ld,%.4f,%.1f,%zu,%.3f,%.3f,%.1f,%.3f,%s",
                      FLAGS_label, r.mode, r.size, r.bytes, r.seconds, mbps,
                      r.call_ns.size(), Quantile(r.call_ns, .5) / 1e3,
                      Quantile(r.call_ns, .99) / 1e3,
                      Quantile(r.call_ns, 1) / 1e3, mean, r.note));
}

std::string ScratchPath(absl::string_view name) {
  return absl::StrFormat("%s/disk_baseline_%d_%s", FLAGS_dir, getpid(), name);
}

// splice() refuses (EINVAL) a target opened with O_APPEND, so its mode
// writes at the end of a plain descriptor instead.
absl::StatusOr<UniqueFd> OpenAppend(const std::string& path,
                                    bool append = true) {
  UniqueFd fd(
      open(path.c_str(),
           O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (append ? O_APPEND : 0),
           0600));
  if (!fd) return absl::ErrnoToStatus(errno, "open " + path);
  return fd;
}

// Runs `pass` (which fills the file at `fd`) twice, truncating in between;
// times the second, warm, pass.
absl::StatusOr<double> WarmTimed(int fd, const std::function<bool(int)>& pass) {
  if (!pass(fd)) return absl::InternalError("warm-up pass failed");
  if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0) {
    return absl::ErrnoToStatus(errno, "ftruncate");
  }
  const int64_t t0 = NowNs();
  if (!pass(fd)) return absl::InternalError("timed pass failed");
  return (NowNs() - t0) / 1e9;
}

absl::Status BulkRow(const std::string& mode,
                     const std::function<bool(int)>& pass) {
  const std::string path = ScratchPath(mode);
  absl::StatusOr<UniqueFd> fd = OpenAppend(path, mode != "splice");
  if (!fd.ok()) return fd.status();
  absl::StatusOr<double> secs = WarmTimed(fd->get(), pass);
  unlink(path.c_str());
  if (!secs.ok()) return secs.status();
  Row r;
  r.mode = mode;
  r.size = FLAGS_size;
  r.bytes = FLAGS_bytes;
  r.seconds = *secs;
  Emit(r);
  return absl::OkStatus();
}

bool WritePass(int fd) {
  std::string block(FLAGS_size, 'x');
  for (int64_t done = 0; done < FLAGS_bytes; done += FLAGS_size) {
    if (!bench::WriteAll(fd, block.data(), block.size())) return false;
  }
  return true;
}

// A thread sending --bytes in --size blocks into one end of a socketpair
// while `drain` empties the other end into `fd`.
bool RelayPass(int fd, const std::function<bool(int sock, int fd)>& drain) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return false;
  }
  UniqueFd tx(sv[0]), rx(sv[1]);
  std::thread sender([&tx] {
    std::string block(FLAGS_size, 'x');
    size_t sent;
    for (int64_t done = 0; done < FLAGS_bytes; done += FLAGS_size) {
      if (!SendAll(tx.get(), block, INT64_MAX, &sent).ok()) break;
    }
    shutdown(tx.get(), SHUT_WR);
  });
  const bool ok = drain(rx.get(), fd);
  if (!ok) shutdown(rx.get(), SHUT_RDWR);  // Unblocks the sender.
  sender.join();
  return ok;
}

bool DrainRecvWrite(int sock, int fd) {
  std::vector<char> buf(256 * 1024);
  while (true) {
    ssize_t n = recv(sock, buf.data(), buf.size(), 0);
    if (n == 0) return true;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || !bench::WriteAll(fd, buf.data(), static_cast<size_t>(n))) {
      return false;
    }
  }
}

bool DrainSplice(int sock, int fd) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return false;
  UniqueFd pr(p[0]), pw(p[1]);
  fcntl(pw.get(), F_SETPIPE_SZ, 1 << 20);
  while (true) {
    ssize_t n =
        splice(sock, nullptr, pw.get(), nullptr, 1 << 20, SPLICE_F_MOVE);
    if (n == 0) return true;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    for (ssize_t left = n; left > 0;) {
      ssize_t m = splice(pr.get(), nullptr, fd, nullptr,
                         static_cast<size_t>(left), SPLICE_F_MOVE);
      if (m < 0 && errno == EINTR) continue;
      if (m <= 0) return false;
      left -= m;
    }
  }
}

// Times each of --calls calls of `call`, which writes --small bytes.
Row TimeCalls(const std::string& mode, const std::function<bool()>& call) {
  Row r;
  r.mode = mode;
  r.size = FLAGS_small;
  r.call_ns.reserve(FLAGS_calls);
  const int64_t start = NowNs();
  for (int64_t i = 0; i < FLAGS_calls; ++i) {
    const int64_t t0 = NowNs();
    if (!call()) break;
    r.call_ns.push_back(NowNs() - t0);
  }
  r.seconds = (NowNs() - start) / 1e9;
  r.bytes = FLAGS_small * static_cast<int64_t>(r.call_ns.size());
  std::sort(r.call_ns.begin(), r.call_ns.end());
  return r;
}

absl::Status SendRow() {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return absl::ErrnoToStatus(errno, "socketpair");
  }
  UniqueFd tx(sv[0]), rx(sv[1]);
  std::thread drain([&rx] {
    std::vector<char> buf(256 * 1024);
    while (recv(rx.get(), buf.data(), buf.size(), 0) > 0) {
    }
  });
  std::string msg(FLAGS_small, 'x');
  Row r = TimeCalls("send", [&] {
    return send(tx.get(), msg.data(), msg.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(msg.size());
  });
  shutdown(tx.get(), SHUT_WR);
  drain.join();
  Emit(r);
  return absl::OkStatus();
}

absl::Status AppendRow() {
  const std::string path = ScratchPath("append");
  absl::StatusOr<UniqueFd> fd = OpenAppend(path);
  if (!fd.ok()) return fd.status();
  std::string msg(FLAGS_small, 'x');
  Row r = TimeCalls("append", [&] {
    return write(fd->get(), msg.data(), msg.size()) ==
           static_cast<ssize_t>(msg.size());
  });
  unlink(path.c_str());
  Emit(r);
  return absl::OkStatus();
}

absl::Status FifoRow() {
  const std::string path = ScratchPath("fifo");
  if (mkfifo(path.c_str(), 0600) != 0) {
    return absl::ErrnoToStatus(errno, "mkfifo");
  }
  UniqueFd reader(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  UniqueFd writer(open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  unlink(path.c_str());
  if (!reader || !writer) return absl::ErrnoToStatus(errno, "open fifo");
  std::string msg(FLAGS_small, 'x');
  // Non-blocking so that the benchmark can say where a blocking writer
  // would have stopped for good.
  Row r = TimeCalls("fifo", [&] {
    return write(writer.get(), msg.data(), msg.size()) ==
           static_cast<ssize_t>(msg.size());
  });
  r.note = absl::StrFormat(
      "a blocking write() would block forever after "
      "%ld bytes",
      r.bytes);
  Emit(r);
  return absl::OkStatus();
}

absl::Status RunMode(const std::string& mode) {
  if (mode == "write") return BulkRow("write", WritePass);
  if (mode == "relay") {
    return BulkRow("relay",
                   [](int fd) { return RelayPass(fd, DrainRecvWrite); });
  }
  if (mode == "splice") {
    return BulkRow("splice", [](int fd) { return RelayPass(fd, DrainSplice); });
  }
  if (mode == "send") return SendRow();
  if (mode == "append") return AppendRow();
  if (mode == "fifo") return FifoRow();
  return absl::InvalidArgumentError("unknown mode " + mode);
}

int Main() {
  std::vector<std::string> modes = {FLAGS_mode};
  if (FLAGS_mode == "all") {
    modes = {"write", "relay", "splice", "send", "append", "fifo"};
  }
  for (const std::string& mode : modes) {
    absl::Status s = RunMode(mode);
    if (!s.ok()) {
      fprintf(stderr, "disk_baseline %s: %s\n", mode.c_str(),
              s.ToString().c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace offlog::bench

int main(int argc, char** argv) {
  gflags::SetUsageMessage("disk_baseline --mode all [--out CSV]");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  return offlog::bench::Main();
}
