#include "offlog/testing/server_harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "offlog/common/unix_socket.h"
#include "offlog/testing/wait_fd.h"
#include "offlog/testing/wire.h"

namespace offlog {
namespace testing {
namespace {

absl::Status Errno(absl::string_view what) {
  return absl::ErrnoToStatus(errno, what);
}

}  // namespace

std::string OfflogdPath() {
  if (const char* env = getenv("OFFLOGD")) return env;
  const char* srcdir = getenv("TEST_SRCDIR");
  return absl::StrCat(srcdir ? srcdir : ".", "/offlog/offlog/server/offlogd");
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    std::vector<std::string> extra_args, ServerLimits limits) {
  auto s = std::make_unique<ServerProcess>();
  s->socket_path_ = s->dir_.File("s.sock");
  // A socket path of the test's own choosing replaces the default one.
  for (size_t i = 0; i + 1 < extra_args.size(); ++i) {
    if (extra_args[i] == "-s" || extra_args[i] == "--socket-file") {
      s->socket_path_ = extra_args[i + 1];
    }
  }
  s->log_path_ = s->dir_.File("server.log");
  std::string notify_path = s->dir_.File("notify.sock");
  s->notify_.Reset(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr;
  socklen_t addr_len = UnixAddress(notify_path, &addr);
  if (bind(s->notify_.get(), reinterpret_cast<sockaddr*>(&addr), addr_len) !=
      0) {
    return Errno("bind notify socket");
  }
  std::vector<std::string> args = {OfflogdPath(), "-s", s->socket_path_,
                                   "--notify"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return Errno("fork");
  if (pid == 0) {
    int log = open(s->log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    setenv("NOTIFY_SOCKET", notify_path.c_str(), 1);
    if (limits.file_size) {
      rlimit rl = {limits.file_size, limits.file_size};
      setrlimit(RLIMIT_FSIZE, &rl);
    }
    if (limits.open_files) {
      rlimit rl = {limits.open_files, limits.open_files};
      setrlimit(RLIMIT_NOFILE, &rl);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  s->pid_ = pid;
  s->pidfd_.Reset(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  absl::StatusOr<std::string> ready = s->NextNotification(absl::Seconds(20));
  if (!ready.ok() || !absl::StrContains(*ready, "READY=1")) {
    return absl::InternalError(absl::StrCat(
        "offlogd did not become ready: ", ready.status().ToString(), "\nlog:\n",
        s->Log()));
  }
  return s;
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

absl::Status ServerProcess::Signal(int sig) {
  if (kill(pid_, sig) != 0) return Errno("kill");
  return absl::OkStatus();
}

absl::StatusOr<int> ServerProcess::Wait(absl::Duration timeout) {
  if (!WaitForEvents(pidfd_.get(), POLLIN, absl::Now() + timeout)) {
    return absl::DeadlineExceededError("offlogd did not exit");
  }
  int status = 0;
  if (waitpid(pid_, &status, 0) != pid_) return Errno("waitpid");
  reaped_ = true;
  return status;
}

absl::StatusOr<std::string> ServerProcess::NextNotification(
    absl::Duration timeout) {
  if (!WaitForEvents(notify_.get(), POLLIN, absl::Now() + timeout)) {
    return absl::DeadlineExceededError("no sd_notify message");
  }
  char buf[4096];
  ssize_t n = recv(notify_.get(), buf, sizeof(buf), 0);
  if (n < 0) return Errno("recv");
  return std::string(buf, n);
}

std::string ServerProcess::Log() const { return ReadFileOrEmpty(log_path_); }

absl::Status ServerProcess::WaitForLog(absl::string_view text,
                                       absl::Duration timeout) const {
  // The log is a file, which poll() cannot wait on.
  absl::Status s = WaitUntil([&] { return absl::StrContains(Log(), text); },
                             timeout, absl::StrCat("log never said: ", text));
  if (!s.ok())
    return absl::Status(s.code(), absl::StrCat(s.message(), "\nlog:\n", Log()));
  return s;
}

absl::Status ServerProcess::WaitForLogCount(absl::string_view text, int n,
                                            absl::Duration timeout) const {
  auto count = [&] {
    std::string log_text = Log();
    absl::string_view log = log_text;
    int found = 0;
    for (size_t at = log.find(text); at != absl::string_view::npos;
         at = log.find(text, at + text.size())) {
      ++found;
    }
    return found;
  };
  return WaitUntil([&] { return count() >= n; }, timeout,
                   absl::StrCat("log never said ", n, " times: ", text));
}

absl::StatusOr<UniqueFd> Connect(absl::string_view socket_path) {
  return ConnectUnix(socket_path);
}

absl::Status SendAll(int fd, absl::string_view data) {
  size_t sent = 0;
  return bench::SendAll(fd, data, INT64_MAX, &sent);
}

absl::StatusOr<UniqueFd> OpenTarget(absl::string_view socket_path,
                                    absl::string_view path,
                                    absl::string_view data) {
  absl::StatusOr<UniqueFd> fd = Connect(socket_path);
  if (!fd.ok()) return fd.status();
  std::string wire = absl::StrCat(path, absl::string_view("\0", 1), data);
  if (absl::Status s = SendAll(fd->get(), wire); !s.ok()) return s;
  return fd;
}

absl::StatusOr<std::string> ReadMessage(int fd, absl::Duration timeout) {
  return bench::ReadMessage(
      fd, bench::NowNs() + absl::ToInt64Nanoseconds(timeout), nullptr);
}

absl::StatusOr<std::string> ReadUntilClosed(int fd, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  std::string got;
  while (WaitForEvents(fd, POLLIN, deadline)) {
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0) return got;
    if (n > 0) got.append(buf, n);
    if (n < 0 && errno != EINTR && errno != EAGAIN) return Errno("recv");
  }
  return absl::DeadlineExceededError(
      absl::StrCat("still open; got so far: ", got));
}

absl::StatusOr<std::string> FinishAndWaitBye(int fd, absl::Duration timeout) {
  shutdown(fd, SHUT_WR);
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<std::string> msg = ReadMessage(fd, deadline - absl::Now());
    if (!msg.ok()) return msg.status();
    if (*msg != "OK" && *msg != "ROTATED") return msg;
  }
}

std::string ReadFileOrEmpty(absl::string_view path) {
  std::ifstream in{std::string(path), std::ios::binary};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::Status WaitUntil(const std::function<bool()>& condition,
                       absl::Duration timeout, absl::string_view what) {
  absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("timed out: ", what));
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  return absl::OkStatus();
}

absl::StatusOr<StalledTarget> StallOn(absl::string_view socket_path,
                                      const std::string& fifo) {
  if (mkfifo(fifo.c_str(), 0666) != 0) return Errno("mkfifo");
  StalledTarget t;
  t.reader.Reset(open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!t.reader) return Errno("open fifo");
  absl::StatusOr<UniqueFd> client = OpenTarget(socket_path, fifo);
  if (!client.ok()) return client.status();
  absl::StatusOr<std::string> ok =
      ReadMessage(client->get(), absl::Seconds(10));
  if (!ok.ok()) return ok.status();
  if (*ok != "OK") return absl::InternalError(*ok);
  t.client = *std::move(client);
  std::string chunk(65536, 'x');
  while (send(t.client.get(), chunk.data(), chunk.size(),
              MSG_DONTWAIT | MSG_NOSIGNAL) > 0) {
  }
  int queued = 0;
  absl::Status full = WaitUntil(
      [&] {
        return ioctl(t.reader.get(), FIONREAD, &queued) == 0 && queued >= 65536;
      },
      absl::Seconds(10), "the FIFO filling");
  if (!full.ok()) return full;
  return t;
}

std::vector<pid_t> ChildPids(pid_t pid) {
  std::vector<pid_t> out;
  std::string children =
      ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/task/", pid, "/children"));
  for (absl::string_view s : absl::StrSplit(children, ' ', absl::SkipEmpty())) {
    pid_t child;
    if (absl::SimpleAtoi(s, &child)) out.push_back(child);
  }
  return out;
}

std::vector<std::string> ProcStatFields(pid_t pid) {
  std::string stat = ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/stat"));
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return {};
  return absl::StrSplit(absl::string_view(stat).substr(paren + 2), ' ',
                        absl::SkipEmpty());
}

std::optional<int64_t> ProcStatNumber(pid_t pid, int field) {
  std::vector<std::string> fields = ProcStatFields(pid);
  const size_t at = static_cast<size_t>(field - 3);  // [0] is field 3.
  int64_t n;
  if (field < 3 || at >= fields.size() || !absl::SimpleAtoi(fields[at], &n)) {
    return std::nullopt;
  }
  return n;
}

int64_t ProcNumber(pid_t pid, absl::string_view file, absl::string_view key) {
  std::string text = ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/", file));
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::ConsumePrefix(&line, key)) continue;
    std::vector<absl::string_view> parts =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    int64_t n;
    if (!parts.empty() && absl::SimpleAtoi(parts[0], &n)) return n;
  }
  return -1;
}

std::vector<pid_t> PidsWithFileOpen(absl::string_view path) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& proc : std::filesystem::directory_iterator("/proc", ec)) {
    pid_t pid;
    if (!absl::SimpleAtoi(proc.path().filename().string(), &pid)) continue;
    std::filesystem::directory_iterator fds(proc.path() / "fd", ec);
    if (ec) continue;
    for (const auto& fd : fds) {
      std::error_code ec2;
      if (std::filesystem::read_symlink(fd.path(), ec2).string() == path) {
        out.push_back(pid);
        break;
      }
    }
  }
  return out;
}

}  // namespace testing
}  // namespace offlog
