// ProxyFile::Write of 100-byte records against a live offlogd, next to the
// two costs it stands between: a plain write() to a local file (what it
// spares the application) and a bare send() on a Unix socket to a peer that
// drains it (the least it could cost).
//
// offlogd is taken from the runfiles, or from --offlogd=PATH (or $OFFLOGD).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "offlog/client/proxy_file.h"
#include "offlog/common/unique_fd.h"

extern char** environ;

namespace offlog {
namespace {

std::string g_offlogd;  // Path of the offlogd binary.
std::string g_dir;      // Scratch directory (socket, target files).

// A 100-byte record: 99 bytes of text and a newline.
const std::string& Record() {
  static const std::string record = std::string(99, 'r') + "\n";
  return record;
}

// offlogd running on <g_dir>/s.sock for the life of the object.
class Server {
 public:
  Server() {
    socket_path_ = g_dir + "/s.sock";
    std::vector<std::string> args = {g_offlogd, "-s", socket_path_};
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, g_offlogd.c_str(), nullptr, nullptr, argv.data(),
                    environ) != 0) {
      pid_ = -1;
    }
  }
  ~Server() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }

  // Opens `path` through the server, retrying until it listens.
  absl::StatusOr<ProxyFile> Open(const std::string& path) {
    ProxyFileOptions options;
    options.socket_path = socket_path_;
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    for (;;) {
      absl::StatusOr<ProxyFile> file = ProxyFile::Open(path, options);
      if (file.ok() || !absl::IsNotFound(file.status()) ||
          absl::Now() > deadline) {
        return file;
      }
      absl::SleepFor(absl::Milliseconds(10));  // Startup only.
    }
  }

 private:
  std::string socket_path_;
  pid_t pid_ = -1;
};

void BM_ProxyFileWrite(benchmark::State& state) {
  Server server;
  absl::StatusOr<ProxyFile> file = server.Open(g_dir + "/proxy.log");
  if (!file.ok()) {
    state.SkipWithError(std::string(file.status().message()).c_str());
    return;
  }
  for (auto _ : state) {
    absl::Status status = file->Write(Record());
    if (!status.ok()) {
      state.SkipWithError(std::string(status.message()).c_str());
      break;
    }
  }
  state.counters["queued_at_end"] = static_cast<double>(file->queued_bytes());
  absl::Status closed = file->Close();
  if (!closed.ok()) state.SkipWithError(std::string(closed.message()).c_str());
  state.SetBytesProcessed(state.iterations() * 100);
}
BENCHMARK(BM_ProxyFileWrite);

void BM_LocalFileWrite(benchmark::State& state) {
  std::string path = g_dir + "/local.log";
  UniqueFd fd(
      ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    state.SkipWithError("open failed");
    return;
  }
  for (auto _ : state) {
    if (::write(fd.get(), Record().data(), Record().size()) != 100) {
      state.SkipWithError("write failed");
      break;
    }
  }
  state.SetBytesProcessed(state.iterations() * 100);
}
BENCHMARK(BM_LocalFileWrite);

void BM_BareSend(benchmark::State& state) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    state.SkipWithError("socketpair failed");
    return;
  }
  UniqueFd sender(pair[0]), receiver(pair[1]);
  std::thread drain([&receiver] {
    char buf[65536];
    while (::read(receiver.get(), buf, sizeof(buf)) > 0) {
    }
  });
  for (auto _ : state) {
    if (::send(sender.get(), Record().data(), Record().size(), MSG_NOSIGNAL) !=
        100) {
      state.SkipWithError("send failed");
      break;
    }
  }
  ::shutdown(sender.get(), SHUT_WR);
  drain.join();
  state.SetBytesProcessed(state.iterations() * 100);
}
BENCHMARK(BM_BareSend);

// The offlogd next to this binary in its runfiles, if there is one.
std::string RunfilesOfflogd(const char* argv0) {
  for (const std::string& root :
       {absl::StrCat(argv0, ".runfiles"),
        std::string(std::getenv("RUNFILES_DIR") ? std::getenv("RUNFILES_DIR")
                                                : "")}) {
    std::string candidate = root + "/offlog/offlog/server/offlogd";
    if (!root.empty() && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return "";
}

}  // namespace
}  // namespace offlog

int main(int argc, char** argv) {
  using offlog::g_offlogd;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (absl::StartsWith(argv[i], "--offlogd=")) {
      g_offlogd = argv[i] + std::strlen("--offlogd=");
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (g_offlogd.empty() && std::getenv("OFFLOGD") != nullptr) {
    g_offlogd = std::getenv("OFFLOGD");
  }
  if (g_offlogd.empty()) g_offlogd = offlog::RunfilesOfflogd(argv[0]);
  char tmpl[] = "/tmp/offlogXXXXXX";
  if (g_offlogd.empty() || ::mkdtemp(tmpl) == nullptr) {
    std::fprintf(stderr, "proxyfile_bench: no offlogd (use --offlogd=PATH)\n");
    return 1;
  }
  offlog::g_dir = tmpl;
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::error_code ignored;
  std::filesystem::remove_all(offlog::g_dir, ignored);
  return 0;
}
