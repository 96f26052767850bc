// Client batching (ProxyFileOptions::linger_us) against a live offlogd:
// N clients (threads, one ProxyFile each) append 100-byte records to one
// file, with batching off and on, in interleaved rounds; prints records/s
// per round, the medians and their ratio.
//
//   bazel run //offlog/bench/client:batch_bench -- [--offlogd=PATH]
//       [--clients=8] [--records=100000] [--rounds=3] [--linger_us=200]
//       [--batch_bytes=16384]
//
// A round's time runs from the start signal until every client's
// WaitWritten() says its records are in the file; the overflow policy is
// kBlock, and the file's size is checked, so nothing is dropped.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "offlog/client/proxy_file.h"

extern char** environ;

namespace offlog {
namespace {

struct Config {
  std::string offlogd;
  int clients = 8;
  int records = 100000;  // Per client and round.
  int rounds = 3;
  int64_t linger_us = 200;
  size_t batch_bytes = kDefaultBatchBytes;
};

// offlogd on <dir>/s.sock for the life of the object.
class Server {
 public:
  Server(const std::string& offlogd, const std::string& dir)
      : socket_path_(dir + "/s.sock") {
    std::vector<std::string> args = {offlogd, "-s", socket_path_};
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;  // Its log to /dev/null.
    posix_spawn_file_actions_init(&actions);
    for (int fd : {STDOUT_FILENO, STDERR_FILENO}) {
      posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_WRONLY, 0);
    }
    if (posix_spawn(&pid_, offlogd.c_str(), &actions, nullptr, argv.data(),
                    environ) != 0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Server() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Opens `path`, retrying (startup only) until the server listens.
  absl::StatusOr<ProxyFile> Open(const std::string& path,
                                 ProxyFileOptions options) const {
    options.socket_path = socket_path_;
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    for (;;) {
      absl::StatusOr<ProxyFile> file = ProxyFile::Open(path, options);
      if (file.ok() || !absl::IsNotFound(file.status()) ||
          absl::Now() > deadline) {
        return file;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
  }

 private:
  std::string socket_path_;
  pid_t pid_ = -1;
};

// One client's round: waits at `start`, writes, waits until written.
absl::Status Client(ProxyFile& file, int records,
                    const absl::Notification& start) {
  static const std::string record = std::string(99, 'r') + "\n";
  start.WaitForNotification();
  for (int i = 0; i < records; ++i) {
    absl::Status s = file.Write(record);
    if (!s.ok()) return s;
  }
  return file.WaitWritten(absl::Now() + absl::Seconds(120));
}

// Runs one round; returns records/s, or -1 after printing an error.
double Round(const Config& config, const Server& server,
             const std::string& path, int64_t linger_us) {
  ProxyFileOptions options;
  options.linger_us = linger_us;
  options.batch_bytes = config.batch_bytes;
  options.overflow_policy = OverflowPolicy::kBlock;
  options.overflow_block_ms = 120000;
  std::vector<ProxyFile> files;
  for (int c = 0; c < config.clients; ++c) {
    absl::StatusOr<ProxyFile> file = server.Open(path, options);
    if (!file.ok()) {
      std::fprintf(stderr, "open: %s\n", file.status().ToString().c_str());
      return -1;
    }
    files.push_back(*std::move(file));
  }
  std::filesystem::resize_file(path, 0);
  absl::Notification start;
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (ProxyFile& file : files) {
    threads.emplace_back([&] {
      if (!Client(file, config.records, start).ok()) failed.fetch_add(1);
    });
  }
  absl::Time t0 = absl::Now();
  start.Notify();
  for (std::thread& t : threads) t.join();
  absl::Duration elapsed = absl::Now() - t0;
  for (ProxyFile& file : files) file.Close().IgnoreError();
  uint64_t expected = uint64_t{100} * config.records * config.clients;
  if (failed.load() != 0 || std::filesystem::file_size(path) != expected) {
    std::fprintf(stderr, "round failed: %d clients, %ju of %ju bytes\n",
                 failed.load(), std::filesystem::file_size(path), expected);
    return -1;
  }
  return static_cast<double>(config.records) * config.clients /
         absl::ToDoubleSeconds(elapsed);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int Run(const Config& config, const std::string& dir) {
  Server server(config.offlogd, dir);
  std::string path = dir + "/batch.log";
  std::vector<double> off, on;
  for (int r = 0; r < config.rounds; ++r) {
    for (int64_t linger : {int64_t{0}, config.linger_us}) {
      double rate = Round(config, server, path, linger);
      if (rate < 0) return 1;
      (linger == 0 ? off : on).push_back(rate);
      std::printf("round %d linger_us=%jd records/s=%.0f\n", r,
                  static_cast<intmax_t>(linger), rate);
    }
  }
  double m_off = Median(off), m_on = Median(on);
  std::printf(
      "clients=%d records/client=%d rounds=%d\nmedian off=%.0f "
      "on(linger_us=%jd)=%.0f ratio=%.2f\n",
      config.clients, config.records, config.rounds, m_off,
      static_cast<intmax_t>(config.linger_us), m_on, m_on / m_off);
  return 0;
}

}  // namespace
}  // namespace offlog

int main(int argc, char** argv) {
  offlog::Config config;
  if (const char* env = std::getenv("OFFLOGD")) config.offlogd = env;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    bool ok = true;
    if (absl::ConsumePrefix(&arg, "--offlogd=")) {
      config.offlogd = std::string(arg);
    } else if (absl::ConsumePrefix(&arg, "--clients=")) {
      ok = absl::SimpleAtoi(arg, &config.clients);
    } else if (absl::ConsumePrefix(&arg, "--records=")) {
      ok = absl::SimpleAtoi(arg, &config.records);
    } else if (absl::ConsumePrefix(&arg, "--rounds=")) {
      ok = absl::SimpleAtoi(arg, &config.rounds);
    } else if (absl::ConsumePrefix(&arg, "--linger_us=")) {
      ok = absl::SimpleAtoi(arg, &config.linger_us);
    } else if (absl::ConsumePrefix(&arg, "--batch_bytes=")) {
      ok = absl::SimpleAtoi(arg, &config.batch_bytes);
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "batch_bench: bad argument %s\n", argv[i]);
      return 2;
    }
  }
  if (config.offlogd.empty()) {
    std::string runfiles = std::string(argv[0]) + ".runfiles";
    if (const char* env = std::getenv("RUNFILES_DIR")) runfiles = env;
    config.offlogd = runfiles + "/offlog/offlog/server/offlogd";
  }
  char tmpl[] = "/tmp/offlogXXXXXX";
  if (::access(config.offlogd.c_str(), X_OK) != 0 ||
      ::mkdtemp(tmpl) == nullptr) {
    std::fprintf(stderr, "batch_bench: no offlogd (use --offlogd=PATH)\n");
    return 1;
  }
  int rc = offlog::Run(config, tmpl);
  std::error_code ignored;
  std::filesystem::remove_all(tmpl, ignored);
  return rc;
}
