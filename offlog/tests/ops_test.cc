// Operations end to end: offlogd under systemd-socket-activate, sd_notify,
// and offlogctl against the real server over its control socket.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "offlog/testing/offlogd_test.h"
#include "offlog/testing/safe_text.h"
#include "offlog/testing/server_harness.h"

namespace offlog {
namespace testing {
namespace {

constexpr absl::Duration kDeadline = absl::Seconds(10);
constexpr char kSocketActivate[] = "/usr/bin/systemd-socket-activate";

std::string OfflogctlPath() {
  const char* srcdir = getenv("TEST_SRCDIR");
  return absl::StrCat(srcdir ? srcdir : ".", "/offlog/offlog/ctl/offlogctl");
}

struct CommandResult {
  int status = -1;  // Wait status.
  std::string out;  // stdout and stderr.
  bool ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
};

// Runs `args` to completion (killing it at the deadline), collecting its
// output.
CommandResult Run(std::vector<std::string> args) {
  CommandResult r;
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return r;
  UniqueFd rd(pipefd[0]), wr(pipefd[1]);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(wr.get(), STDOUT_FILENO);
    dup2(wr.get(), STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  wr.Reset();
  absl::Time deadline = absl::Now() + kDeadline;
  char buf[4096];
  while (true) {
    int ms = static_cast<int>(std::max<int64_t>(
        0, absl::ToInt64Milliseconds(deadline - absl::Now())));
    pollfd p = {rd.get(), POLLIN, 0};
    if (poll(&p, 1, ms) <= 0) {
      kill(pid, SIGKILL);
      r.out += "\n(killed at the deadline)";
      break;
    }
    ssize_t n = read(rd.get(), buf, sizeof(buf));
    if (n <= 0) break;
    r.out.append(buf, n);
  }
  waitpid(pid, &r.status, 0);
  return r;
}

CommandResult Offlogctl(std::vector<std::string> args) {
  args.insert(args.begin(), OfflogctlPath());
  return Run(std::move(args));
}

// The STALLED column of the status table's row for `path`, or "" if the
// table has no such row.
std::string StalledColumn(const std::string& table, const std::string& path) {
  std::vector<std::string> lines = absl::StrSplit(table, '\n');
  if (lines.empty()) return "";
  size_t col = lines[0].find("STALLED");
  if (col == std::string::npos) return "";
  for (const std::string& line : lines) {
    if (absl::StartsWith(line, path + " ") && line.size() > col) {
      return line.substr(col);
    }
  }
  return "";
}

// Polls `pred` up to the deadline, for state that has no event to wait on
// (a file's content, another process's table).
bool Eventually(const std::function<bool()>& pred,
                absl::Duration timeout = kDeadline) {
  return WaitUntil(pred, timeout, "condition").ok();
}

class OpsTest : public OfflogdTest {
 protected:
  // A client of `path` that has had its OK.
  UniqueFd Client(const std::string& path, absl::string_view data = {}) {
    return MustOpen(*server_, path, data);
  }

  CommandResult Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"-s", server_->socket_path()});
    return Offlogctl(std::move(args));
  }
};

TEST_F(OpsTest, ControlSocketIsOwnerOnlyAndRemovedAtExit) {
  StartServer({});
  std::string ctl = server_->socket_path() + ".ctl";
  struct stat st;
  ASSERT_EQ(stat(ctl.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_TRUE(server_->Signal(SIGTERM).ok());
  ASSERT_TRUE(server_->Wait(kDeadline).ok());
  EXPECT_NE(access(ctl.c_str(), F_OK), 0);
}

TEST_F(OpsTest, StatusShowsTheStalledPathWithinTwoRotateIntervals) {
  constexpr int kRotateMs = 200;
  StartServer({"-r", absl::StrCat(kRotateMs)});
  std::string healthy1 = server_->File("healthy1.log");
  std::string healthy2 = server_->File("healthy2.log");
  UniqueFd c1 = Client(healthy1, "one\n");
  UniqueFd c2 = Client(healthy2, "two\n");
  std::string fifo = server_->File("stalled.fifo");
  absl::StatusOr<StalledTarget> stalled = StallOn(server_->socket_path(), fifo);
  ASSERT_TRUE(stalled.ok()) << stalled.status();
  absl::Time stuck = absl::Now();  // The writer is in write() by now.

  CommandResult status;
  bool shown = Eventually(
      [&] {
        status = Ctl({"status"});
        return absl::StartsWith(StalledColumn(status.out, fifo), "yes");
      },
      absl::Milliseconds(2 * kRotateMs));
  absl::Duration took = absl::Now() - stuck;
  ASSERT_TRUE(shown) << "not stalled after " << took << ":\n" << status.out;
  EXPECT_TRUE(status.ok()) << status.out;
  EXPECT_EQ(StalledColumn(status.out, healthy1), "no") << status.out;
  EXPECT_EQ(StalledColumn(status.out, healthy2), "no") << status.out;
  EXPECT_TRUE(absl::StrContains(status.out, "3 connected")) << status.out;
  std::cout << "stalled shown after " << took << ":\n" << status.out;

  CommandResult json = Ctl({"status", "--json"});
  EXPECT_TRUE(json.ok()) << json.out;
  EXPECT_TRUE(std::regex_search(
      json.out, std::regex("\"path\": \"" + fifo + "\"[^}]*\"stalled\": true")))
      << json.out;
  EXPECT_TRUE(std::regex_search(
      json.out,
      std::regex("\"path\": \"" + healthy1 + "\"[^}]*\"stalled\": false")))
      << json.out;
}

// Checks the Prometheus text format line by line: every sample is
// `name{labels} value` with a name declared by a preceding # TYPE.
void ExpectTextExposition(const std::string& text) {
  static const std::regex kType("# TYPE (offlog_[a-z_]+) (counter|gauge)");
  static const std::regex kSample(
      R"((offlog_[a-z_]+)(\{([a-z_]+="(\\.|[^"\\])*",?)*\})? )"
      R"(-?[0-9]+(\.[0-9]+)?)");
  std::set<std::string> declared;
  for (absl::string_view l : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::string line(l);
    std::smatch m;
    if (absl::StartsWith(line, "# HELP offlog_")) continue;
    if (std::regex_match(line, m, kType)) {
      EXPECT_TRUE(declared.insert(m[1]).second) << "declared twice: " << line;
      continue;
    }
    ASSERT_TRUE(std::regex_match(line, m, kSample)) << "bad line: " << line;
    EXPECT_TRUE(declared.contains(m[1])) << "undeclared: " << line;
  }
}

// The value of the sample of `name` whose labels begin with `labels`.
std::string WriterSample(const std::string& text, const std::string& name,
                         const std::string& labels) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::ConsumePrefix(&line, name + labels)) continue;
    size_t space = line.rfind(' ');
    if (space != absl::string_view::npos)
      return std::string(line.substr(space + 1));
  }
  return "(no sample)";
}

TEST_F(OpsTest, MetricsAreParseableAndCountWhatWasWritten) {
  StartServer({});
  std::string path = server_->File("we\"ird.log");
  std::string data = "alpha\nbeta\ngamma\n";
  UniqueFd c = Client(path, data);
  ASSERT_TRUE(Eventually([&] { return ReadFileOrEmpty(path) == data; }));
  CommandResult m = Ctl({"metrics"});
  ASSERT_TRUE(m.ok()) << m.out;
  ExpectTextExposition(m.out);
  // The label value escapes the path's double quote.
  std::string labels =
      absl::StrCat("{path=\"", server_->dir(), "/we\\\"ird.log\",pid=\"");
  EXPECT_EQ(WriterSample(m.out, "offlog_writer_bytes_written_total", labels),
            "17")
      << m.out;
  EXPECT_EQ(WriterSample(m.out, "offlog_writer_records_written_total", labels),
            "3")
      << m.out;
  EXPECT_TRUE(absl::StrContains(m.out, "\nofflog_clients 1\n")) << m.out;
  EXPECT_TRUE(absl::StrContains(m.out, "\nofflog_clients_accepted_total 1\n"))
      << m.out;
}

// Issue 11's path bytes: an overlong newline, NEL, the 8-bit CSI, U+202E, a
// surrogate and a code point above U+10FFFF. The file is served (a path is
// bytes), and the server log, the status table, its JSON and the metrics
// show each escaped: valid UTF-8 without a raw control character.
TEST_F(OpsTest, HostilePathBytesAreEscapedInTheLogAndInStatus) {
  StartServer({});
  std::string path = server_->File(
      "e\xe0\x80\x8a"
      "n\xc2\x85"
      "c\xc2\x9b"
      "r\xe2\x80\xae"
      "s\xed\xa0\x80"
      "h\xf4\x90\x80\x80.log");
  UniqueFd c = Client(path, "x\n");
  ASSERT_TRUE(Eventually([&] { return ReadFileOrEmpty(path) == "x\n"; }));
  const std::string escaped =
      "e\\xe0\\x80\\x8an\\u0085c\\u009br\\u202es\\xed\\xa0\\x80h"
      "\\xf4\\x90\\x80\\x80.log";
  ASSERT_TRUE(server_->WaitForLog(escaped, kDeadline).ok()) << server_->Log();
  EXPECT_EQ(FirstUnsafe(server_->Log(), "\n"), "") << server_->Log();
  for (std::vector<std::string> args : {std::vector<std::string>{"status"},
                                        {"status", "--json"},
                                        {"metrics"}}) {
    CommandResult r = Ctl(args);
    ASSERT_TRUE(r.ok()) << r.out;
    EXPECT_EQ(FirstUnsafe(r.out, "\n"), "") << r.out;
    EXPECT_TRUE(absl::StrContains(r.out, "u202es")) << r.out;
  }
}

TEST_F(OpsTest, ReopenMakesWritersReopenTheirPath) {
  // A rotate check this far off cannot be what reopens the file.
  StartServer({"-r", "600000"});
  std::string path = server_->File("app.log");
  UniqueFd c = Client(path, "before\n");
  ASSERT_TRUE(Eventually([&] { return ReadFileOrEmpty(path) == "before\n"; }));
  ASSERT_EQ(rename(path.c_str(), (path + ".1").c_str()), 0);
  CommandResult r = Ctl({"reopen"});
  ASSERT_TRUE(r.ok()) << r.out;
  // The writer has reopened once the path exists again (O_CREAT).
  ASSERT_TRUE(Eventually([&] { return access(path.c_str(), F_OK) == 0; }))
      << server_->Log();
  ASSERT_TRUE(SendAll(c.get(), "after\n").ok());
  EXPECT_EQ(FinishAndWaitBye(c.get(), kDeadline).value_or("?"), "BYE");
  EXPECT_EQ(ReadFileOrEmpty(path), "after\n");
  EXPECT_EQ(ReadFileOrEmpty(path + ".1"), "before\n");
}

TEST_F(OpsTest, OfflogctlFailsClearlyWithoutAServer) {
  TempDir dir;
  CommandResult r = Offlogctl({"-s", dir.File("none.sock"), "status"});
  EXPECT_EQ(WEXITSTATUS(r.status), 1) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "none.sock.ctl")) << r.out;
  r = Offlogctl({"bogus"});
  EXPECT_NE(WEXITSTATUS(r.status), 0) << r.out;
}

// offlogd started as systemd would start it from offlog.socket:
// systemd-socket-activate binds the socket and, on the first connection,
// execs offlogd in its own process with LISTEN_PID/LISTEN_FDS set.
class SocketActivatedServer {
 public:
  explicit SocketActivatedServer(std::vector<std::string> offlogd_args)
      : socket_(dir_.File("act.sock")), log_(dir_.File("server.log")) {
    std::string notify_path = dir_.File("notify.sock");
    notify_.Reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, notify_path.c_str());
    bind(notify_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    std::vector<std::string> args = {kSocketActivate,
                                     "-l",
                                     socket_,
                                     "-E",
                                     "NOTIFY_SOCKET=" + notify_path,
                                     OfflogdPath(),
                                     "--notify"};
    args.insert(args.end(), offlogd_args.begin(), offlogd_args.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      int log = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(log, STDOUT_FILENO);
      dup2(log, STDERR_FILENO);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~SocketActivatedServer() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // Connects once systemd-socket-activate listens. It says so only in its
  // log, so this retries connect() at a short interval up to the deadline.
  absl::StatusOr<UniqueFd> Connect() {
    absl::StatusOr<UniqueFd> fd;
    Eventually([&] {
      fd = testing::Connect(socket_);
      return fd.ok();
    });
    return fd;
  }

  absl::StatusOr<std::string> NextNotification(absl::Duration timeout) {
    pollfd p = {notify_.get(), POLLIN, 0};
    if (poll(&p, 1, absl::ToInt64Milliseconds(timeout)) != 1) {
      return absl::DeadlineExceededError("no sd_notify message");
    }
    char buf[4096];
    ssize_t n = recv(notify_.get(), buf, sizeof(buf), 0);
    if (n < 0) return absl::ErrnoToStatus(errno, "recv");
    return std::string(buf, n);
  }

  // SIGTERMs the server and returns its wait status.
  absl::StatusOr<int> Stop() {
    kill(pid_, SIGTERM);
    UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid_, 0)));
    pollfd p = {pidfd.get(), POLLIN, 0};
    if (poll(&p, 1, absl::ToInt64Milliseconds(kDeadline)) != 1) {
      return absl::DeadlineExceededError("offlogd did not exit");
    }
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    return status;
  }

  const std::string& socket() const { return socket_; }
  std::string File(absl::string_view name) const { return dir_.File(name); }
  std::string Log() const { return ReadFileOrEmpty(log_); }

 private:
  TempDir dir_;
  std::string socket_;
  std::string log_;
  UniqueFd notify_;
  pid_t pid_ = -1;
  bool reaped_ = false;
};

TEST(SocketActivationTest, ServesAClientAndNotifiesReadyAndStopping) {
  ASSERT_EQ(access(kSocketActivate, X_OK), 0) << "needs Debian's systemd";
  std::vector<std::string> args = {"-r", "200"};
  TempDir ctl_dir;
  std::string ctl = ctl_dir.File("ctl.sock");
  args.insert(args.end(), {"--control-socket", ctl});
  SocketActivatedServer server(args);
  // offlogd starts only now, on this first connection, and must take it
  // from the inherited socket.
  absl::StatusOr<UniqueFd> fd = server.Connect();
  ASSERT_TRUE(fd.ok()) << fd.status() << "\n" << server.Log();
  std::string path = server.File("activated.log");
  ASSERT_TRUE(
      SendAll(fd->get(), absl::StrCat(path, std::string(1, '\0'), "served\n"))
          .ok());
  EXPECT_EQ(server.NextNotification(kDeadline).value_or("?"), "READY=1")
      << server.Log();
  EXPECT_EQ(ReadMessage(fd->get(), kDeadline).value_or("?"), "OK")
      << server.Log();
  EXPECT_EQ(FinishAndWaitBye(fd->get(), kDeadline).value_or("?"), "BYE");
  EXPECT_EQ(ReadFileOrEmpty(path), "served\n");
  // The log is written by a thread of its own, after the acceptor's turn.
  absl::Status logged = WaitUntil(
      [&] { return absl::StrContains(server.Log(), "(from systemd)"); },
      kDeadline, "the start-up log lines");
  EXPECT_TRUE(logged.ok()) << logged << "\n" << server.Log();
  // No default control socket next to systemd's socket; the given one works.
  EXPECT_NE(access((server.socket() + ".ctl").c_str(), F_OK), 0);
  CommandResult status = Offlogctl({"--control-socket", ctl, "status"});
  EXPECT_TRUE(status.ok()) << status.out;
  EXPECT_TRUE(absl::StrContains(status.out, "1 accepted")) << status.out;

  absl::StatusOr<int> exit_status = server.Stop();
  EXPECT_EQ(server.NextNotification(kDeadline).value_or("?"), "STOPPING=1");
  ASSERT_TRUE(exit_status.ok()) << exit_status.status();
  EXPECT_TRUE(WIFEXITED(*exit_status) && WEXITSTATUS(*exit_status) == 0)
      << server.Log();
  // The socket file is systemd's: offlogd leaves it in place.
  EXPECT_EQ(access(server.socket().c_str(), F_OK), 0);
}

}  // namespace
}  // namespace testing
}  // namespace offlog
