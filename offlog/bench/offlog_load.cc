// offlog_load: a load generator that speaks the offlog protocol itself, so
// that it drives any offlog server (offlogd, or the original Python one).
//
//   offlog_load --socket S --clients N --files F --records M --size B
//               [--batch K] [--rate R] [--out CSV] [--dir DIR]
//               [--server_pid PID] [--stalled_files S]
//
// Client i writes records (client i, seq 0..M-1; see checker.h) to file
// i % F, K records per send(). Files 0..S-1 are FIFOs that this program
// opens for reading and never reads (a stalled target). Each client has its
// own connection; clients are spread over --threads threads (one per client
// by default). All clients connect first, then all write, then each says
// goodbye; the throughput is measured from the first connect to the last BYE.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gflags/gflags.h"
#include "offlog/bench/bench_io.h"
#include "offlog/bench/proc_stats.h"
#include "offlog/common/fd_table.h"
#include "offlog/common/protocol.h"
#include "offlog/common/unique_fd.h"
#include "offlog/testing/checker.h"
#include "offlog/testing/wire.h"

// kDefaultSocketPath views a string literal, so data() ends in a NUL.
DEFINE_string(socket, offlog::kDefaultSocketPath.data(), "Server socket.");
DEFINE_int32(clients, 1, "Client connections.");
DEFINE_int32(files, 1, "Target files; client i writes file i % files.");
DEFINE_int64(records, 10000, "Records each client writes.");
DEFINE_int32(size, 100, "Bytes per record, newline included.");
DEFINE_int32(batch, 1, "Records per send().");
DEFINE_double(rate, 0, "Total records/s over all clients (0: unlimited).");
DEFINE_string(out, "", "Append one CSV row of results to this file.");
DEFINE_string(dir, "",
              "Directory for target files (default: a new one in "
              "/tmp, removed afterwards).");
DEFINE_int32(server_pid, 0,
             "Server pid: measure its process tree's CPU "
             "and memory.");
DEFINE_int32(stalled_files, 0,
             "Files 0..S-1 are FIFOs held open and never read.");
DEFINE_int32(threads, 0, "Client threads (0: one per client, at most 512).");
DEFINE_double(timeout_s, 60, "A client still busy after this gives up.");
DEFINE_double(stall_s, 3,
              "Clients of stalled files give up after this "
              "(or when every healthy client is done).");
DEFINE_string(label, "", "Scenario label for the CSV row.");
DEFINE_string(server_name, "", "Server label for the CSV row.");
DEFINE_bool(check, true, "Verify the files with the checker afterwards.");
DEFINE_bool(keep, false, "Keep the target files.");

namespace offlog::bench {
namespace {

constexpr absl::Duration kPollInterval = absl::Milliseconds(50);

struct Client {
  int id = 0;
  int file = 0;
  bool stalled = false;
  UniqueFd fd;
  std::string inbuf;
  std::string error;  // First failure, if any.
  bool gave_up = false;
  int64_t records_sent = 0;
  int64_t connect_start_ns = 0;
  int64_t connect_ns = -1;  // Connect to OK.
  int64_t end_ns = 0;       // BYE, failure or giving up.
  std::vector<int64_t> send_ns;
};

struct Shared {
  std::string socket;
  std::vector<std::string> paths;  // Per file.
  int64_t deadline_ns = 0;
  int64_t stall_deadline_ns = 0;
  std::atomic<int> healthy_left{0};
  std::atomic<bool> healthy_done{false};
};

void Fail(Client* c, const absl::Status& s) {
  if (c->error.empty()) c->error = std::string(s.message());
  if (absl::IsDeadlineExceeded(s)) c->gave_up = true;
  c->fd.Reset();
  c->end_ns = NowNs();
}

void ConnectClient(Client* c, const Shared& sh) {
  c->connect_start_ns = NowNs();
  absl::StatusOr<UniqueFd> fd =
      ConnectUnix(sh.socket, kPollInterval, sh.deadline_ns);
  if (!fd.ok()) return Fail(c, fd.status());
  c->fd = *std::move(fd);
  absl::Status s =
      Handshake(c->fd.get(), sh.paths[c->file], sh.deadline_ns, &c->inbuf);
  if (!s.ok()) return Fail(c, s);
  c->connect_ns = NowNs() - c->connect_start_ns;
}

// Sends records [first, last) of `c`; false when the client is done for.
bool SendBatch(Client* c, int64_t first, int64_t last, Shared* sh,
               std::string* buf) {
  buf->clear();
  for (int64_t seq = first; seq < last; ++seq) {
    AppendRecord(c->id, seq, FLAGS_size, buf);
  }
  const int64_t deadline = c->stalled ? sh->stall_deadline_ns : sh->deadline_ns;
  size_t sent;
  const int64_t t0 = NowNs();
  absl::Status s = SendAll(c->fd.get(), *buf, deadline, &sent,
                           c->stalled ? &sh->healthy_done : nullptr);
  if (!s.ok()) {
    Fail(c, s);
    return false;
  }
  c->send_ns.push_back(NowNs() - t0);
  c->records_sent += last - first;
  return true;
}

void FinishClient(Client* c, Shared* sh) {
  if (c->fd) {
    // A stalled file's server side may never say BYE: do not wait long.
    const int64_t deadline =
        c->stalled ? NowNs() + 100'000'000 : sh->deadline_ns;
    absl::Status s = Goodbye(c->fd.get(), deadline, &c->inbuf);
    if (s.ok()) {
      c->end_ns = NowNs();
      c->fd.Reset();
    } else {
      Fail(c, s);
    }
  }
  if (!c->stalled && sh->healthy_left.fetch_sub(1) == 1) {
    sh->healthy_done = true;
  }
}

void WriteAll(const std::vector<Client*>& mine, Shared* sh) {
  const int64_t records = FLAGS_records, batch = FLAGS_batch;
  int64_t interval_ns = 0;
  if (FLAGS_rate > 0) {
    const double rate = FLAGS_rate * mine.size() / FLAGS_clients;
    interval_ns = static_cast<int64_t>(batch * 1e9 / rate);
  }
  int64_t next_ns = NowNs();
  std::string buf;
  for (Client* c : mine) c->send_ns.reserve((records + batch - 1) / batch);
  for (int64_t first = 0; first < records; first += batch) {
    const int64_t last = std::min(records, first + batch);
    for (Client* c : mine) {
      if (!c->fd) continue;
      if (interval_ns > 0) {
        const int64_t wait = next_ns - NowNs();
        if (wait > 0) absl::SleepFor(absl::Nanoseconds(wait));
        next_ns += interval_ns;
      }
      SendBatch(c, first, last, sh, &buf);
    }
  }
}

void RunThread(const std::vector<Client*>& mine, Shared* sh,
               std::barrier<>* connected) {
  for (Client* c : mine) ConnectClient(c, *sh);
  connected->arrive_and_wait();
  WriteAll(mine, sh);
  for (Client* c : mine) FinishClient(c, sh);
}

double CpuSelfSeconds() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return absl::ToDoubleSeconds(absl::DurationFromTimeval(ru.ru_utime) +
                               absl::DurationFromTimeval(ru.ru_stime));
}

// Samples the server's tree until stopped, keeping the peak of summed RSS.
class Sampler {
 public:
  explicit Sampler(pid_t pid) : pid_(pid) {
    if (pid_ > 0) thread_ = std::thread([this] { Loop(); });
  }
  ~Sampler() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int64_t peak_rss_kb() const { return peak_rss_kb_; }

 private:
  void Loop() {
    while (!stop_) {
      peak_rss_kb_ = std::max<int64_t>(peak_rss_kb_, SampleTree(pid_).rss_kb);
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  pid_t pid_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> peak_rss_kb_{0};
  std::thread thread_;
};

struct Results {
  int64_t first_ns = INT64_MAX, last_ns = 0;
  int64_t records = 0, stalled_records = 0;
  int errors = 0, gave_up = 0, stalled_gave_up = 0, healthy_clients = 0;
  std::vector<int64_t> send_ns, stalled_send_ns, connect_ns;
  std::string first_error;
  TreeStats server_before, server_after;
  int64_t server_peak_rss_kb = 0;
  double client_cpu_s = 0;
  CheckReport check;
  int64_t missing = 0;
  bool checked = false;

  double seconds() const {
    return last_ns > first_ns ? (last_ns - first_ns) / 1e9 : 0;
  }
  double records_per_s() const {
    return seconds() > 0 ? records / seconds() : 0;
  }
};

void Collect(const std::vector<Client>& clients, Results* r) {
  for (const Client& c : clients) {
    r->first_ns = std::min(r->first_ns, c.connect_start_ns);
    if (c.connect_ns >= 0) r->connect_ns.push_back(c.connect_ns);
    if (!c.error.empty() && r->first_error.empty()) r->first_error = c.error;
    if (c.stalled) {
      r->stalled_records += c.records_sent;
      r->stalled_gave_up += c.gave_up;
      r->stalled_send_ns.insert(r->stalled_send_ns.end(), c.send_ns.begin(),
                                c.send_ns.end());
      continue;
    }
    r->healthy_clients++;
    r->last_ns = std::max(r->last_ns, c.end_ns);
    r->records += c.records_sent;
    r->gave_up += c.gave_up;
    r->errors += !c.error.empty();
    r->send_ns.insert(r->send_ns.end(), c.send_ns.begin(), c.send_ns.end());
  }
  if (r->healthy_clients == 0) r->last_ns = r->first_ns;  // No throughput.
  std::sort(r->send_ns.begin(), r->send_ns.end());
  std::sort(r->stalled_send_ns.begin(), r->stalled_send_ns.end());
  std::sort(r->connect_ns.begin(), r->connect_ns.end());
}

void CheckHealthyFiles(const Shared& sh, const std::vector<Client>& clients,
                       Results* r) {
  std::vector<std::string> files;
  for (int i = FLAGS_stalled_files; i < FLAGS_files; ++i) {
    // A file nobody managed to open is absent: its records are missing.
    if (access(sh.paths[i].c_str(), F_OK) == 0) files.push_back(sh.paths[i]);
  }
  absl::StatusOr<CheckReport> report =
      CheckFiles(files, {.record_size = static_cast<size_t>(FLAGS_size)});
  if (!report.ok()) {
    fprintf(stderr, "check: %s\n", report.status().ToString().c_str());
    return;
  }
  r->check = *std::move(report);
  r->checked = true;
  for (const Client& c : clients) {
    if (c.stalled) continue;
    auto it = r->check.clients.find(c.id);
    const int64_t seen = it == r->check.clients.end() ? 0 : it->second.seen;
    r->missing += std::max<int64_t>(0, c.records_sent - seen);
  }
}

double Us(int64_t ns) { return ns / 1e3; }

// Per record of the healthy clients (the stalled ones' records were not
// written).
double PerRecordUs(double seconds, int64_t records) {
  return records > 0 ? seconds * 1e6 / records : 0;
}

void PrintSummary(const Results& r) {
  const double secs = r.seconds();
  const double server_cpu = r.server_after.cpu_s - r.server_before.cpu_s;
  printf(
      "offlog_load: %d clients, %d files (%d stalled), %d B records, "
      "%d per send\n",
      FLAGS_clients, FLAGS_files, FLAGS_stalled_files, FLAGS_size, FLAGS_batch);
  printf("  throughput: %ld records in %.3f s = %.0f records/s, %.1f MB/s\n",
         r.records, secs, r.records_per_s(),
         r.records_per_s() * FLAGS_size / 1e6);
  printf(
      "  send() latency us: p50 %.1f p99 %.1f p99.9 %.1f max %.1f (%zu "
      "calls)\n",
      Us(Quantile(r.send_ns, .5)), Us(Quantile(r.send_ns, .99)),
      Us(Quantile(r.send_ns, .999)), Us(Quantile(r.send_ns, 1)),
      r.send_ns.size());
  printf("  connect-to-OK us: p50 %.1f p99 %.1f max %.1f (%zu clients)\n",
         Us(Quantile(r.connect_ns, .5)), Us(Quantile(r.connect_ns, .99)),
         Us(Quantile(r.connect_ns, 1)), r.connect_ns.size());
  printf("  client CPU: %.3f s, %.2f us/record\n", r.client_cpu_s,
         PerRecordUs(r.client_cpu_s, r.records));
  if (FLAGS_server_pid > 0) {
    printf(
        "  server: CPU %.3f s, %.2f us/record; %d processes; RSS before "
        "%ld KiB, peak %ld KiB; sum of VmHWM %ld KiB\n",
        server_cpu, PerRecordUs(server_cpu, r.records),
        r.server_after.processes, r.server_before.rss_kb, r.server_peak_rss_kb,
        r.server_after.hwm_kb);
  }
  if (FLAGS_stalled_files > 0) {
    printf(
        "  stalled clients: %ld records sent, send() us p50 %.1f max %.1f, "
        "%d blocked until they gave up\n",
        r.stalled_records, Us(Quantile(r.stalled_send_ns, .5)),
        Us(Quantile(r.stalled_send_ns, 1)), r.stalled_gave_up);
  }
  if (r.errors > 0) {
    printf("  errors: %d clients (%d gave up); first: %s\n", r.errors,
           r.gave_up, r.first_error.c_str());
  }
  if (r.checked) {
    printf("  %s", FormatSummary(r.check, 5).c_str());
    printf("  missing (sent, not found whole): %ld\n", r.missing);
  }
}

constexpr char kCsvHeader[] =
    "label,server,clients,files,stalled_files,size,batch,rate,records,"
    "seconds,records_per_s,mb_per_s,send_p50_us,send_p99_us,send_p999_us,"
    "send_max_us,connect_p50_us,connect_p99_us,connect_max_us,server_cpu_s,"
    "server_cpu_us_per_record,client_cpu_us_per_record,server_procs,"
    "server_rss_before_kb,server_peak_rss_kb,server_hwm_sum_kb,"
    "stalled_records,stalled_send_p50_us,stalled_send_max_us,"
    "stalled_gave_up,errors,gave_up,missing,torn,duplicated,out_of_order";

std::string CsvRow(const Results& r) {
  const double secs = r.seconds();
  const double server_cpu = r.server_after.cpu_s - r.server_before.cpu_s;
  std::vector<std::string> f = {
      FLAGS_label,
      FLAGS_server_name,
      absl::StrCat(FLAGS_clients),
      absl::StrCat(FLAGS_files),
      absl::StrCat(FLAGS_stalled_files),
      absl::StrCat(FLAGS_size),
      absl::StrCat(FLAGS_batch),
      absl::StrCat(FLAGS_rate),
      absl::StrCat(r.records),
      absl::StrFormat("%.4f", secs),
      absl::StrFormat("%.0f", r.records_per_s()),
      absl::StrFormat("%.2f", r.records_per_s() * FLAGS_size / 1e6),
      absl::StrFormat("%.2f", Us(Quantile(r.send_ns, .5))),
      absl::StrFormat("%.2f", Us(Quantile(r.send_ns, .99))),
      absl::StrFormat("%.2f", Us(Quantile(r.send_ns, .999))),
      absl::StrFormat("%.2f", Us(Quantile(r.send_ns, 1))),
      absl::StrFormat("%.2f", Us(Quantile(r.connect_ns, .5))),
      absl::StrFormat("%.2f", Us(Quantile(r.connect_ns, .99))),
      absl::StrFormat("%.2f", Us(Quantile(r.connect_ns, 1))),
      absl::StrFormat("%.3f", server_cpu),
      absl::StrFormat("%.3f", PerRecordUs(server_cpu, r.records)),
      absl::StrFormat("%.3f", PerRecordUs(r.client_cpu_s, r.records)),
      absl::StrCat(r.server_after.processes),
      absl::StrCat(r.server_before.rss_kb),
      absl::StrCat(r.server_peak_rss_kb),
      absl::StrCat(r.server_after.hwm_kb),
      absl::StrCat(r.stalled_records),
      absl::StrFormat("%.2f", Us(Quantile(r.stalled_send_ns, .5))),
      absl::StrFormat("%.2f", Us(Quantile(r.stalled_send_ns, 1))),
      absl::StrCat(r.stalled_gave_up),
      absl::StrCat(r.errors),
      absl::StrCat(r.gave_up),
      r.checked ? absl::StrCat(r.missing) : "",
      r.checked ? absl::StrCat(r.check.total.torn) : "",
      r.checked ? absl::StrCat(r.check.total.duplicated) : "",
      r.checked ? absl::StrCat(r.check.total.out_of_order) : "",
  };
  return absl::StrJoin(f, ",");
}

void AppendCsv(const Results& r) {
  bench::AppendCsvRow(FLAGS_out, kCsvHeader, CsvRow(r));
}

// Creates the target directory and the stalled FIFOs; returns the readers
// held open (never read) for the FIFOs.
absl::StatusOr<std::vector<UniqueFd>> PrepareTargets(Shared* sh,
                                                     bool* made_dir) {
  std::string dir = FLAGS_dir;
  *made_dir = dir.empty();
  if (dir.empty()) {
    char tmpl[] = "/tmp/offlog_load_XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return absl::ErrnoToStatus(errno, "mkdtemp");
    dir = tmpl;
  }
  std::vector<UniqueFd> readers;
  for (int i = 0; i < FLAGS_files; ++i) {
    const bool stalled = i < FLAGS_stalled_files;
    std::string path =
        absl::StrFormat("%s/%s%d.%s", dir, stalled ? "stalled" : "file", i,
                        stalled ? "fifo" : "log");
    unlink(path.c_str());
    if (stalled) {
      if (mkfifo(path.c_str(), 0600) != 0) {
        return absl::ErrnoToStatus(errno, "mkfifo " + path);
      }
      readers.emplace_back(open(path.c_str(), O_RDONLY | O_NONBLOCK));
    }
    sh->paths.push_back(path);
  }
  return readers;
}

void RemoveTargets(const Shared& sh, bool made_dir) {
  for (const std::string& p : sh.paths) unlink(p.c_str());
  if (made_dir && !sh.paths.empty()) {
    rmdir(sh.paths[0].substr(0, sh.paths[0].rfind('/')).c_str());
  }
}

std::vector<Client> MakeClients(Shared* sh) {
  std::vector<Client> clients(FLAGS_clients);
  for (int i = 0; i < FLAGS_clients; ++i) {
    clients[i].id = i;
    clients[i].file = i % FLAGS_files;
    clients[i].stalled = clients[i].file < FLAGS_stalled_files;
    if (!clients[i].stalled) ++sh->healthy_left;
  }
  if (sh->healthy_left == 0) sh->healthy_done = true;
  return clients;
}

void RunClients(std::vector<Client>* clients, Shared* sh) {
  int threads =
      FLAGS_threads > 0 ? FLAGS_threads : std::min(FLAGS_clients, 512);
  std::vector<std::vector<Client*>> mine(threads);
  for (Client& c : *clients) mine[c.id % threads].push_back(&c);
  std::barrier<> connected(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back(RunThread, std::cref(mine[t]), sh, &connected);
  }
  for (std::thread& t : pool) t.join();
}

int Main() {
  offlog::RaiseDescriptorLimit();
  // Room for every connection from the start: growing the table later
  // stalls every thread for an RCU grace period (fd_table.h).
  offlog::ReserveDescriptorTable(1 << 16);
  if (FLAGS_clients < 1 || FLAGS_files < 1 || FLAGS_batch < 1 ||
      FLAGS_stalled_files > FLAGS_files) {
    fprintf(stderr, "offlog_load: bad --clients/--files/--batch\n");
    return 2;
  }
  Shared sh;
  sh.socket = FLAGS_socket;
  bool made_dir = false;
  absl::StatusOr<std::vector<UniqueFd>> readers =
      PrepareTargets(&sh, &made_dir);
  if (!readers.ok()) {
    fprintf(stderr, "offlog_load: %s\n", readers.status().ToString().c_str());
    return 2;
  }
  std::vector<Client> clients = MakeClients(&sh);
  Results r;
  r.server_before = SampleTree(FLAGS_server_pid);
  const double cpu0 = CpuSelfSeconds();
  sh.deadline_ns = NowNs() + static_cast<int64_t>(FLAGS_timeout_s * 1e9);
  sh.stall_deadline_ns = NowNs() + static_cast<int64_t>(FLAGS_stall_s * 1e9);
  {
    Sampler sampler(FLAGS_server_pid);
    RunClients(&clients, &sh);
    sampler.Stop();
    r.server_peak_rss_kb = sampler.peak_rss_kb();
  }
  r.client_cpu_s = CpuSelfSeconds() - cpu0;
  r.server_after = SampleTree(FLAGS_server_pid);
  readers->clear();  // Unblocks a server stuck writing to a FIFO.
  Collect(clients, &r);
  if (FLAGS_check && FLAGS_stalled_files < FLAGS_files) {
    CheckHealthyFiles(sh, clients, &r);
  }
  PrintSummary(r);
  if (!FLAGS_out.empty()) AppendCsv(r);
  if (!FLAGS_keep) RemoveTargets(sh, made_dir);
  const bool clean =
      r.errors == 0 &&
      (!r.checked || (r.missing == 0 && r.check.total.torn == 0));
  return clean ? 0 : 1;
}

}  // namespace
}  // namespace offlog::bench

int main(int argc, char** argv) {
  gflags::SetUsageMessage(
      "offlog_load --socket S --clients N --files F --records M --size B");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  return offlog::bench::Main();
}
