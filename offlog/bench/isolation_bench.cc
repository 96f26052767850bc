// isolation_bench: connect-to-OK of a client of an already-open file, on a
// quiet server and while something else keeps the server busy (issue 10).
//
//   isolation_bench --socket S --disturb none|spawn|stall|forks [--probes N]
//                   [--out CSV] [--label L] [--server_name NAME]
//   isolation_bench --forks N [--out CSV]
//
// A keeper connection holds <dir>/hot.log open, so that its writer exists.
// Each probe connects, sends "<dir>/hot.log\0", reads "OK\0" and closes; the
// time from socket() to OK is the probe's latency. Probes are --probe_gap_us
// apart.
//   none:  --probes probes on an otherwise idle server.
//   spawn: --spawn_threads threads open --spawn_paths new distinct paths
//          (connect, path, OK, kept open) while the probes run; only probes
//          that start before the last of those paths has its OK count.
//   stall: a FIFO <dir>/stalled.fifo whose reader (this program) never
//          reads is opened through the server and filled until its writer
//          is stuck in write(); then --stall_clients more clients of the
//          FIFO connect (they wait in the acceptor or are refused as not
//          responding); then --probes probes.
//   newfiles: each probe opens a file that has no writer yet,
//          <dir>/new<i>.log (connect, path, OK, close): --probes probes of
//          connect-to-OK for a new file, one after another (issue 12).
//   forks: a control: this program itself creates --spawn_paths processes
//          one after another (fork(), _exit(), waitpid()) while the probes
//          run, as offlogd's spawner does for new paths, but with the
//          server idle; only probes started before the last one count.
// --forks N instead measures the machine's process creation: N times
// fork(), _exit() in the child, waitpid() (--fork_mode=serial); or N fork()s
// in a row whose children stay alive, as offlogd's writers do, timing until
// every one has run (--fork_mode=burst).
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gflags/gflags.h"
#include "offlog/bench/bench_io.h"
#include "offlog/common/fd_table.h"
#include "offlog/common/protocol.h"
#include "offlog/common/unique_fd.h"
#include "offlog/testing/wire.h"

// kDefaultSocketPath views a string literal, so data() ends in a NUL.
DEFINE_string(socket, offlog::kDefaultSocketPath.data(), "Server socket.");
DEFINE_string(dir, "",
              "Directory for the target files (default: a new one in /tmp, "
              "removed afterwards).");
DEFINE_string(disturb, "none", "none, spawn, stall, newfiles or forks.");
DEFINE_int32(probes, 300, "Probes (none, stall).");
DEFINE_int32(explain_slow_us, 0,
             "Print how long connect() and the answer took for each probe "
             "slower than this (0: none).");
DEFINE_int32(probe_gap_us, 500, "Pause between two probes.");
DEFINE_int32(spawn_paths, 1000, "New distinct paths opened (spawn).");
DEFINE_int32(spawn_threads, 16, "Threads opening them (spawn).");
DEFINE_int32(stall_clients, 1500, "Extra clients of the stalled FIFO.");
DEFINE_double(timeout_s, 10, "A connection not answered by then fails.");
DEFINE_int32(forks, 0, "Measure the creation of N processes instead.");
DEFINE_string(fork_mode, "serial",
              "serial: N times fork(), _exit(), waitpid(); burst: N "
              "fork()s in a row, children staying alive until all ran.");
DEFINE_int32(server_pid, 0,
             "offlogd's pid: report the CPU time and run-queue wait "
             "(/proc/PID/schedstat) of its acceptor and of hot.log's writer "
             "while probing.");
DEFINE_string(out, "", "Append one CSV row of results to this file.");
DEFINE_string(label, "", "Scenario label for the CSV row.");
DEFINE_string(server_name, "", "Server label for the CSV row.");

namespace offlog::bench {
namespace {

constexpr absl::Duration kPollInterval = absl::Milliseconds(50);
constexpr int kMaxProbes = 200000;  // Bounds the spawn run's probe loop.

int64_t TimeoutNs() { return static_cast<int64_t>(FLAGS_timeout_s * 1e9); }

struct Results {
  std::vector<int64_t> probe_ns;  // Sorted.
  int probe_errors = 0;
  std::string first_error;
  // The disturbance: clients it opened, how they fared, how long it took.
  int disturb_n = 0, disturb_ok = 0, disturb_refused = 0;
  int disturb_waiting = 0, disturb_failed = 0;
  double disturb_s = 0;
  // While probing: CPU time and time spent runnable but not running.
  int64_t acceptor_cpu_ns = 0, acceptor_wait_ns = 0;
  int64_t writer_cpu_ns = 0, writer_wait_ns = 0;
};

struct SchedStat {
  int64_t cpu_ns = 0, wait_ns = 0;
};

// /proc/PID/schedstat: time on a CPU, time waiting on a run queue (ns).
SchedStat ReadSchedStat(pid_t pid) {
  SchedStat st;
  if (pid <= 0) return st;
  std::ifstream in(absl::StrCat("/proc/", pid, "/schedstat"));
  in >> st.cpu_ns >> st.wait_ns;
  return st;
}

// The child of the server (writers are its children) that has `path` open.
pid_t FindWriterOf(pid_t server, const std::string& path) {
  if (server <= 0) return 0;
  std::ifstream in(
      absl::StrCat("/proc/", server, "/task/", server, "/children"));
  pid_t child;
  while (in >> child) {
    std::error_code ec;
    const std::string fds = absl::StrCat("/proc/", child, "/fd");
    for (const auto& fd : std::filesystem::directory_iterator(fds, ec)) {
      std::error_code ec2;
      if (std::filesystem::read_symlink(fd.path(), ec2).string() == path) {
        return child;
      }
    }
  }
  return 0;
}

void NoteError(Results* r, const absl::Status& s) {
  ++r->probe_errors;
  if (r->first_error.empty()) r->first_error = std::string(s.message());
}

// Connects and completes the handshake for `path`; or, unless `wait_ok`,
// only sends "path\0" and `tail` without waiting for an answer.
absl::StatusOr<UniqueFd> Open(const std::string& path, absl::string_view tail,
                              bool wait_ok) {
  const int64_t deadline = NowNs() + TimeoutNs();
  absl::StatusOr<UniqueFd> fd =
      ConnectUnix(FLAGS_socket, kPollInterval, deadline);
  if (!fd.ok()) return fd.status();
  if (!wait_ok) {
    std::string hello = absl::StrCat(path, std::string(1, '\0'), tail);
    size_t sent;
    absl::Status s = SendAll(fd->get(), hello, deadline, &sent);
    if (!s.ok()) return s;
    return fd;
  }
  std::string buf;
  absl::Status s = Handshake(fd->get(), path, deadline, &buf);
  if (!s.ok()) return s;
  return fd;
}

// One probe: socket() to OK, in ns.
absl::StatusOr<int64_t> Probe(const std::string& path) {
  const int64_t t0 = NowNs();
  const int64_t deadline = NowNs() + TimeoutNs();
  absl::StatusOr<UniqueFd> fd =
      ConnectUnix(FLAGS_socket, kPollInterval, deadline);
  if (!fd.ok()) return fd.status();
  const int64_t t1 = NowNs();
  std::string buf;
  absl::Status s = Handshake(fd->get(), path, deadline, &buf);
  if (!s.ok()) return s;
  const int64_t t2 = NowNs();
  if (FLAGS_explain_slow_us > 0 &&
      t2 - t0 > int64_t{FLAGS_explain_slow_us} * 1000) {
    // Which side was slow: the bench's own connect() (socket(), the
    // listen backlog, the bench's descriptor table) or the server's answer.
    fprintf(stderr, "slow probe at %.6f s: connect %.3f ms, OK %.3f ms\n",
            t0 / 1e9, (t1 - t0) / 1e6, (t2 - t1) / 1e6);
  }
  return t2 - t0;
}

// Probes until `more(i)` says stop (i: probes started so far).
void ProbeWhile(const std::string& hot, const std::function<bool(int)>& more,
                Results* r) {
  const pid_t writer = FindWriterOf(FLAGS_server_pid, hot);
  const SchedStat a0 = ReadSchedStat(FLAGS_server_pid);
  const SchedStat w0 = ReadSchedStat(writer);
  for (int i = 0; i < kMaxProbes && more(i); ++i) {
    absl::StatusOr<int64_t> ns = Probe(hot);
    if (ns.ok()) {
      r->probe_ns.push_back(*ns);
    } else {
      NoteError(r, ns.status());
    }
    absl::SleepFor(absl::Microseconds(FLAGS_probe_gap_us));
  }
  const SchedStat a1 = ReadSchedStat(FLAGS_server_pid);
  const SchedStat w1 = ReadSchedStat(writer);
  r->acceptor_cpu_ns = a1.cpu_ns - a0.cpu_ns;
  r->acceptor_wait_ns = a1.wait_ns - a0.wait_ns;
  r->writer_cpu_ns = w1.cpu_ns - w0.cpu_ns;
  r->writer_wait_ns = w1.wait_ns - w0.wait_ns;
  std::sort(r->probe_ns.begin(), r->probe_ns.end());
}

// --disturb=spawn: opens FLAGS_spawn_paths new paths from several threads
// while probing; the connections stay open until the function returns.
void RunSpawn(const std::string& dir, const std::string& hot, Results* r) {
  const int threads = std::max(1, FLAGS_spawn_threads);
  std::vector<std::vector<UniqueFd>> held(threads);
  std::atomic<int> ok{0}, failed{0}, running{threads};
  std::atomic<bool> done{false};
  const int64_t t0 = NowNs();
  std::atomic<int64_t> end_ns{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int j = t; j < FLAGS_spawn_paths; j += threads) {
        absl::StatusOr<UniqueFd> fd =
            Open(absl::StrFormat("%s/spawn%d.log", dir, j), "", true);
        if (fd.ok()) {
          held[t].push_back(*std::move(fd));
          ++ok;
        } else {
          ++failed;
        }
      }
      if (running.fetch_sub(1) == 1) {
        end_ns = NowNs();
        done = true;
      }
    });
  }
  ProbeWhile(
      hot, [&](int) { return !done.load(); }, r);
  for (std::thread& t : pool) t.join();
  r->disturb_n = FLAGS_spawn_paths;
  r->disturb_ok = ok;
  r->disturb_failed = failed;
  r->disturb_s = (end_ns - t0) / 1e9;
}

struct Stall {
  UniqueFd reader;  // The FIFO's reader, never read.
  UniqueFd client;  // The client whose writer is stuck in write().
  std::vector<UniqueFd> crowd;
  std::vector<bool> answered;
};

// Sends until the socket is full; returns the bytes sent.
size_t SendUntilFull(int fd) {
  std::string chunk;
  for (int i = 0; i < 655; ++i) chunk += std::string(99, 'x') + "\n";
  size_t total = 0;
  ssize_t n;
  while ((n = send(fd, chunk.data(), chunk.size(),
                   MSG_DONTWAIT | MSG_NOSIGNAL)) > 0) {
    total += static_cast<size_t>(n);
  }
  return total;
}

// Fills the pipe (through the server) and then the client's socket, until
// nothing moves for 200 ms with the pipe nearly full (the writer writes
// whole lines): the writer is stuck in write().
absl::Status FillUntilStuck(Stall* st) {
  const int pipe_size = fcntl(st->reader.get(), F_GETPIPE_SZ);
  const int64_t deadline = NowNs() + TimeoutNs();
  int quiet_rounds = 0, last_queued = -1;
  while (quiet_rounds < 4) {
    if (NowNs() >= deadline) {
      return absl::DeadlineExceededError("the FIFO did not fill");
    }
    const size_t sent = SendUntilFull(st->client.get());
    int queued = 0;
    ioctl(st->reader.get(), FIONREAD, &queued);
    const bool still =
        sent == 0 && queued == last_queued && queued > pipe_size / 2;
    quiet_rounds = still ? quiet_rounds + 1 : 0;
    last_queued = queued;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::OkStatus();
}

absl::Status StallFifo(const std::string& fifo, Stall* st) {
  unlink(fifo.c_str());
  if (mkfifo(fifo.c_str(), 0600) != 0) {
    return absl::ErrnoToStatus(errno, "mkfifo " + fifo);
  }
  st->reader.Reset(open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!st->reader) return absl::ErrnoToStatus(errno, "open " + fifo);
  absl::StatusOr<UniqueFd> client = Open(fifo, "", true);
  if (!client.ok()) return client.status();
  st->client = *std::move(client);
  return FillUntilStuck(st);
}

// Reads whatever answers the crowd got since the last call; returns how many
// new ones arrived.
int CollectAnswers(Stall* st, int timeout_ms, Results* r) {
  std::vector<pollfd> fds;
  std::vector<size_t> index;
  for (size_t i = 0; i < st->crowd.size(); ++i) {
    if (st->answered[i]) continue;
    fds.push_back({st->crowd[i].get(), POLLIN, 0});
    index.push_back(i);
  }
  if (fds.empty() || poll(fds.data(), fds.size(), timeout_ms) <= 0) return 0;
  int fresh = 0;
  for (size_t k = 0; k < fds.size(); ++k) {
    if (fds[k].revents == 0) continue;
    char buf[512];
    ssize_t n = recv(fds[k].fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && errno == EAGAIN) continue;
    st->answered[index[k]] = true;
    ++fresh;
    absl::string_view msg(buf, n > 0 ? n : 0);
    if (absl::StrContains(msg, "not responding")) {
      ++r->disturb_refused;
    } else if (absl::StartsWith(msg, "OK")) {
      ++r->disturb_ok;
    } else {
      ++r->disturb_failed;
      if (r->first_error.empty()) {
        r->first_error = absl::StrCat("stalled client: ", msg);
      }
    }
  }
  return fresh;
}

// Connects the crowd to the stalled FIFO, then waits (at most 5 s) until no
// new answer arrives for 300 ms.
void OpenCrowd(const std::string& fifo, Stall* st, Results* r) {
  const int64_t t0 = NowNs();
  for (int i = 0; i < FLAGS_stall_clients; ++i) {
    absl::StatusOr<UniqueFd> fd = Open(fifo, "line\n", false);
    if (fd.ok()) {
      st->crowd.push_back(*std::move(fd));
    } else {
      ++r->disturb_failed;
      if (r->first_error.empty()) {
        r->first_error =
            absl::StrCat("stalled client: ", fd.status().message());
      }
    }
  }
  st->answered.assign(st->crowd.size(), false);
  const int64_t settle_deadline = NowNs() + 5'000'000'000;
  int quiet = 0;
  while (quiet < 3 && NowNs() < settle_deadline) {
    quiet = CollectAnswers(st, 100, r) == 0 ? quiet + 1 : 0;
  }
  r->disturb_n = FLAGS_stall_clients;
  r->disturb_s = (NowNs() - t0) / 1e9;
}

absl::Status RunStall(const std::string& dir, const std::string& hot,
                      Results* r) {
  Stall st;
  const std::string fifo = dir + "/stalled.fifo";
  absl::Status s = StallFifo(fifo, &st);
  if (!s.ok()) return s;
  OpenCrowd(fifo, &st, r);
  ProbeWhile(
      hot, [](int i) { return i < FLAGS_probes; }, r);
  CollectAnswers(&st, 0, r);  // Answers that came during the probes.
  for (bool a : st.answered) r->disturb_waiting += !a;
  st.reader.Reset();  // Lets the stuck writer fail; then the crowd closes.
  unlink(fifo.c_str());
  return absl::OkStatus();
}

// Creates `n` processes one after another (fork(), _exit(), waitpid()),
// appending each one's cost to `ns`; returns the failures.
int ForkMany(int n, std::vector<int64_t>* ns) {
  int failed = 0;
  for (int i = 0; i < n; ++i) {
    const int64_t start = NowNs();
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    if (pid < 0) {
      ++failed;
      continue;
    }
    int status;
    waitpid(pid, &status, 0);
    ns->push_back(NowNs() - start);
  }
  return failed;
}

// --forks --fork_mode=serial: one process after another, each waited for.
void RunForks(Results* r) {
  const int64_t t0 = NowNs();
  r->probe_errors = ForkMany(FLAGS_forks, &r->probe_ns);
  r->disturb_n = FLAGS_forks;
  r->disturb_ok = static_cast<int>(r->probe_ns.size());
  r->disturb_s = (NowNs() - t0) / 1e9;
  std::sort(r->probe_ns.begin(), r->probe_ns.end());
}

// --forks --fork_mode=burst: creates the processes as fast as one process
// can, each staying alive (as a writer does) after telling the parent it
// runs; probe_ns holds the time from the start until each one ran.
void RunForkBurst(Results* r) {
  int ready[2], hold[2];
  if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(hold, O_CLOEXEC) != 0) {
    return NoteError(r, absl::ErrnoToStatus(errno, "pipe"));
  }
  UniqueFd ready_r(ready[0]), ready_w(ready[1]), hold_r(hold[0]);
  UniqueFd hold_w(hold[1]);
  std::vector<pid_t> kids;
  const int64_t t0 = NowNs();
  for (int i = 0; i < FLAGS_forks; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      close(hold[1]);
      char c = 1, d;
      if (write(ready[1], &c, 1) == 1) (void)!read(hold[0], &d, 1);
      _exit(0);
    }
    if (pid < 0) break;
    kids.push_back(pid);
  }
  ready_w.Reset();
  const int64_t deadline = NowNs() + TimeoutNs();
  pollfd p = {ready_r.get(), POLLIN, 0};
  while (r->probe_ns.size() < kids.size() && NowNs() < deadline &&
         poll(&p, 1, 100) >= 0) {
    char buf[256];
    ssize_t n = read(ready_r.get(), buf, sizeof(buf));
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) r->probe_ns.push_back(NowNs() - t0);
  }
  r->disturb_s = (NowNs() - t0) / 1e9;
  hold_w.Reset();  // Every child reads EOF and exits.
  for (pid_t pid : kids) waitpid(pid, nullptr, 0);
  r->disturb_n = FLAGS_forks;
  r->disturb_ok = static_cast<int>(r->probe_ns.size());
  r->probe_errors = FLAGS_forks - r->disturb_ok;
}

// --disturb=forks, a control without the server: this program itself
// creates --spawn_paths processes one after another while probing, so that
// the machine pays for process creation as it does when offlogd spawns.
void RunOwnForks(const std::string& hot, Results* r) {
  std::atomic<bool> done{false};
  std::vector<int64_t> fork_ns;
  const int64_t t0 = NowNs();
  std::thread forker([&] {
    r->disturb_failed = ForkMany(FLAGS_spawn_paths, &fork_ns);
    r->disturb_s = (NowNs() - t0) / 1e9;
    done = true;
  });
  ProbeWhile(
      hot, [&](int) { return !done.load(); }, r);
  forker.join();
  r->disturb_n = FLAGS_spawn_paths;
  r->disturb_ok = static_cast<int>(fork_ns.size());
}

double Us(int64_t ns) { return ns / 1e3; }

double MeanUs(const std::vector<int64_t>& v) {
  if (v.empty()) return 0;
  return Us(std::accumulate(v.begin(), v.end(), int64_t{0}) /
            static_cast<int64_t>(v.size()));
}

constexpr char kCsvHeader[] =
    "label,server,disturb,probes,probe_errors,p50_us,p99_us,max_us,mean_us,"
    "disturb_n,disturb_ok,disturb_refused,disturb_waiting,disturb_failed,"
    "disturb_s,acceptor_cpu_ms,acceptor_wait_ms,writer_cpu_ms,"
    "writer_wait_ms,first_error";

std::string CsvRow(const std::string& disturb, const Results& r) {
  const std::vector<int64_t>& p = r.probe_ns;
  std::string err = absl::StrReplaceAll(r.first_error, {{",", ";"}});
  std::vector<std::string> f = {
      FLAGS_label,
      FLAGS_server_name,
      disturb,
      absl::StrCat(p.size()),
      absl::StrCat(r.probe_errors),
      absl::StrFormat("%.1f", Us(Quantile(p, .5))),
      absl::StrFormat("%.1f", Us(Quantile(p, .99))),
      absl::StrFormat("%.1f", Us(Quantile(p, 1))),
      absl::StrFormat("%.1f", MeanUs(p)),
      absl::StrCat(r.disturb_n),
      absl::StrCat(r.disturb_ok),
      absl::StrCat(r.disturb_refused),
      absl::StrCat(r.disturb_waiting),
      absl::StrCat(r.disturb_failed),
      absl::StrFormat("%.3f", r.disturb_s),
      absl::StrFormat("%.1f", r.acceptor_cpu_ns / 1e6),
      absl::StrFormat("%.1f", r.acceptor_wait_ns / 1e6),
      absl::StrFormat("%.1f", r.writer_cpu_ns / 1e6),
      absl::StrFormat("%.1f", r.writer_wait_ns / 1e6),
      absl::StrReplaceAll(err, {{"\n", " "}}),
  };
  return absl::StrJoin(f, ",");
}

void Report(const std::string& disturb, const Results& r) {
  const std::vector<int64_t>& p = r.probe_ns;
  printf(
      "isolation_bench %s: %zu %s, p50 %.1f us, p99 %.1f us, max %.1f us, "
      "%d errors; disturbance: %d clients, %d OK, %d refused, %d waiting, "
      "%d failed, %.3f s%s%s\n",
      disturb.c_str(), p.size(), FLAGS_forks > 0 ? "forks" : "probes",
      Us(Quantile(p, .5)), Us(Quantile(p, .99)), Us(Quantile(p, 1)),
      r.probe_errors, r.disturb_n, r.disturb_ok, r.disturb_refused,
      r.disturb_waiting, r.disturb_failed, r.disturb_s,
      r.first_error.empty() ? "" : "; first error: ", r.first_error.c_str());
  if (FLAGS_server_pid > 0 && FLAGS_forks == 0) {
    printf(
        "  while probing: acceptor CPU %.1f ms, run-queue wait %.1f ms; "
        "hot.log's writer CPU %.1f ms, run-queue wait %.1f ms\n",
        r.acceptor_cpu_ns / 1e6, r.acceptor_wait_ns / 1e6,
        r.writer_cpu_ns / 1e6, r.writer_wait_ns / 1e6);
  }
  if (!FLAGS_out.empty()) {
    bench::AppendCsvRow(FLAGS_out, kCsvHeader, CsvRow(disturb, r));
  }
}

// --disturb=newfiles: connect-to-OK of clients of files no writer has open.
void RunNewFiles(const std::string& dir, Results* r) {
  for (int i = 0; i < FLAGS_probes; ++i) {
    absl::StatusOr<int64_t> ns = Probe(absl::StrFormat("%s/new%d.log", dir, i));
    if (ns.ok()) {
      r->probe_ns.push_back(*ns);
    } else {
      NoteError(r, ns.status());
    }
    absl::SleepFor(absl::Microseconds(FLAGS_probe_gap_us));
  }
  std::sort(r->probe_ns.begin(), r->probe_ns.end());
}

// Runs the chosen disturbance with the keeper of hot.log connected.
absl::Status RunProbes(const std::string& dir, Results* r) {
  const std::string hot = dir + "/hot.log";
  absl::StatusOr<UniqueFd> keeper = Open(hot, "", true);
  if (!keeper.ok()) return keeper.status();
  if (FLAGS_disturb == "none") {
    ProbeWhile(
        hot, [](int i) { return i < FLAGS_probes; }, r);
  } else if (FLAGS_disturb == "spawn") {
    RunSpawn(dir, hot, r);
  } else if (FLAGS_disturb == "forks") {
    RunOwnForks(hot, r);
  } else if (FLAGS_disturb == "newfiles") {
    RunNewFiles(dir, r);
  } else {
    return RunStall(dir, hot, r);
  }
  return absl::OkStatus();
}

void RemoveDir(const std::string& dir) {
  std::error_code ec;
  // A writer may still be creating a file in it: try again.
  for (int i = 0; i < 5; ++i) {
    ec.clear();
    std::filesystem::remove_all(dir, ec);
    if (!ec) return;
    absl::SleepFor(absl::Milliseconds(100));
  }
  fprintf(stderr, "cannot remove %s: %s\n", dir.c_str(), ec.message().c_str());
}

int Main() {
  offlog::RaiseDescriptorLimit();
  // Room for every connection from the start: growing the table later
  // stalls every thread for an RCU grace period (fd_table.h).
  offlog::ReserveDescriptorTable(1 << 16);
  Results r;
  if (FLAGS_forks > 0) {
    const bool burst = FLAGS_fork_mode == "burst";
    burst ? RunForkBurst(&r) : RunForks(&r);
    Report(burst ? "forks-burst" : "forks-serial", r);
    return r.probe_errors == 0 ? 0 : 1;
  }
  if (FLAGS_disturb != "none" && FLAGS_disturb != "spawn" &&
      FLAGS_disturb != "stall" && FLAGS_disturb != "forks" &&
      FLAGS_disturb != "newfiles") {
    fprintf(stderr,
            "isolation_bench: --disturb must be none, spawn, stall, newfiles "
            "or forks\n");
    return 2;
  }
  std::string dir = FLAGS_dir;
  if (dir.empty()) {
    char tmpl[] = "/tmp/offlog_iso_XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return 2;
    dir = tmpl;
  }
  absl::Status s = RunProbes(dir, &r);
  if (!s.ok()) {
    fprintf(stderr, "isolation_bench: %s\n", s.ToString().c_str());
    if (r.first_error.empty()) r.first_error = std::string(s.message());
  }
  Report(FLAGS_disturb, r);
  if (FLAGS_dir.empty()) RemoveDir(dir);
  return s.ok() && r.probe_errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace offlog::bench

int main(int argc, char** argv) {
  gflags::SetUsageMessage(
      "isolation_bench --socket S --disturb none|spawn|stall [--probes N]");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  return offlog::bench::Main();
}
