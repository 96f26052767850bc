// Authentication, acting as the client, confinement and the socket file,
// against the real offlogd. Tests that switch users need real root: they
// are tagged no-sandbox (Bazel's linux-sandbox maps only root) and skip
// when not root.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "offlog/common/unix_socket.h"
#include "offlog/server/channel.h"
#include "offlog/server/control_protocol.h"
#include "offlog/server/server_log.h"
#include "offlog/testing/control_status.h"
#include "offlog/testing/offlogd_test.h"
#include "offlog/testing/server_harness.h"

namespace offlog {
namespace testing {
namespace {

constexpr absl::Duration kDeadline = absl::Seconds(10);
constexpr uid_t kNobody = 65534;

// Runs `fn` in a child process as uid and gid 65534 with no supplementary
// groups; returns what it returned, or a description of how it failed.
std::string RunAsNobody(const std::function<std::string()>& fn,
                        pid_t* child_pid = nullptr) {
  int out[2];
  if (pipe(out) != 0) return "pipe failed";
  pid_t pid = fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    close(out[0]);
    std::string result = setgroups(0, nullptr) == 0 && setgid(kNobody) == 0 &&
                                 setuid(kNobody) == 0
                             ? fn()
                             : "could not become 65534";
    ssize_t ignored = write(out[1], result.data(), result.size());
    (void)ignored;
    _exit(0);
  }
  close(out[1]);
  if (child_pid) *child_pid = pid;
  std::string result;
  char buf[4096];
  pollfd p = {out[0], POLLIN, 0};
  while (poll(&p, 1, absl::ToInt64Milliseconds(kDeadline)) > 0) {
    ssize_t n = read(out[0], buf, sizeof(buf));
    if (n <= 0) break;
    result.append(buf, n);
  }
  close(out[0]);
  waitpid(pid, nullptr, 0);
  return result;
}

// As a client: open `path`, send `data`, finish. Returns the first server
// message, then "+BYE" if the exchange completed.
std::string Exchange(const std::string& socket, const std::string& path,
                     const std::string& data) {
  absl::StatusOr<UniqueFd> fd = OpenTarget(socket, path);
  if (!fd.ok()) return fd.status().ToString();
  std::string first = ReadMessage(fd->get(), kDeadline).value_or("(none)");
  if (first != "OK") return first;
  if (!SendAll(fd->get(), data).ok()) return "OK+send failed";
  return "OK+" + FinishAndWaitBye(fd->get(), kDeadline).value_or("(none)");
}

class SecurityTest : public OfflogdTest {
 protected:
  void RequireRoot() {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (run without sandbox)";
  }
  void Start(std::vector<std::string> args) {
    ASSERT_NO_FATAL_FAILURE(StartServer(std::move(args)));
    // 65534 must reach the socket inside the test's 0700 directory, and a
    // directory where it may create files.
    chmod(server_->dir().c_str(), 0711);
    pub_ = server_->File("pub");
    mkdir(pub_.c_str(), 0777);
    chmod(pub_.c_str(), 0777);
  }
  std::string AsNobody(const std::string& path, const std::string& data,
                       pid_t* pid = nullptr) {
    std::string socket = server_->socket_path();
    return RunAsNobody([&] { return Exchange(socket, path, data); }, pid);
  }
  static uid_t OwnerOf(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 ? st.st_uid : static_cast<uid_t>(-1);
  }

  std::string pub_;
};

TEST_F(SecurityTest, SocketIsOwnerOnlyByDefaultWhateverTheUmask) {
  mode_t old = umask(0);
  Start({});
  umask(old);
  struct stat st;
  ASSERT_EQ(stat(server_->socket_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  if (geteuid() != 0) return;
  std::string socket = server_->socket_path();
  EXPECT_TRUE(absl::StrContains(
      RunAsNobody([&] { return Connect(socket).status().ToString(); }),
      "Permission denied"));
}

TEST_F(SecurityTest, NobodyCannotCreateAFileInRoot) {
  RequireRoot();
  const std::string target = "/root/x.log";
  struct stat st;
  if (lstat(target.c_str(), &st) == 0) GTEST_SKIP() << target << " exists";
  Start({"--socket-mode", "0666"});
  EXPECT_EQ(AsNobody(target, "pwned\n"),
            "PermissionError: [Errno 13] Permission denied: '/root/x.log'");
  EXPECT_NE(lstat(target.c_str(), &st), 0) << target << " was created";
  unlink(target.c_str());
}

TEST_F(SecurityTest, FilesAreCreatedAsTheClient) {
  RequireRoot();
  Start({"--socket-mode", "0666"});
  std::string mine = pub_ + "/nobody.log";
  EXPECT_EQ(AsNobody(mine, "n\n"), "OK+BYE");
  EXPECT_EQ(OwnerOf(mine), kNobody);
  std::string roots = pub_ + "/root.log";
  EXPECT_EQ(Exchange(server_->socket_path(), roots, "r\n"), "OK+BYE");
  EXPECT_EQ(OwnerOf(roots), 0u);
  // Nobody cannot append to root's file (mode 0644).
  EXPECT_EQ(AsNobody(roots, "x\n"),
            absl::StrCat("PermissionError: [Errno 13] Permission denied: '",
                         roots, "'"));
  EXPECT_EQ(ReadFileOrEmpty(roots), "r\n");
}

TEST_F(SecurityTest, TwoUsersOnOnePathGetTheirOwnWriters) {
  RequireRoot();
  Start({"--socket-mode", "0666"});
  std::string shared = pub_ + "/shared.log";
  {
    UniqueFd made(open(shared.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0666));
    fchmod(made.get(), 0666);
  }
  absl::StatusOr<UniqueFd> root_client =
      OpenTarget(server_->socket_path(), shared, "root-1\n");
  ASSERT_TRUE(root_client.ok());
  ASSERT_EQ(ReadMessage(root_client->get(), kDeadline).value_or("?"), "OK");
  // Nobody's client stays connected until told to finish, so that both
  // writers hold the file at once.
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  std::string socket = server_->socket_path();
  std::vector<pid_t> holders;
  std::string nobody;
  std::thread watcher([&] {
    absl::Time deadline = absl::Now() + kDeadline;
    // Two of the server's writers hold the file: poll /proc.
    while (absl::Now() < deadline) {
      holders.clear();
      std::vector<pid_t> writers = ChildPids(server_->pid());
      for (pid_t p : PidsWithFileOpen(shared)) {
        if (std::count(writers.begin(), writers.end(), p)) {
          holders.push_back(p);
        }
      }
      if (holders.size() >= 2) break;
      absl::SleepFor(absl::Milliseconds(5));
    }
    close(go[1]);
  });
  nobody = RunAsNobody([&] {
    close(go[1]);  // The fork's copy: only the watcher's may keep it open.
    absl::StatusOr<UniqueFd> fd = OpenTarget(socket, shared, "nobody-1\n");
    if (!fd.ok()) return fd.status().ToString();
    std::string ok = ReadMessage(fd->get(), kDeadline).value_or("(none)");
    char c;
    ssize_t ignored = read(go[0], &c, 1);  // EOF when the watcher is done.
    (void)ignored;
    return ok + "+" + FinishAndWaitBye(fd->get(), kDeadline).value_or("?");
  });
  watcher.join();
  close(go[0]);
  EXPECT_EQ(nobody, "OK+BYE");
  ASSERT_TRUE(SendAll(root_client->get(), "root-2\n").ok());
  EXPECT_EQ(FinishAndWaitBye(root_client->get(), kDeadline).value_or("?"),
            "BYE");
  EXPECT_EQ(holders.size(), 2u) << "each user has a writer of its own";
  for (pid_t p : holders) EXPECT_NE(p, server_->pid());
  std::string content = ReadFileOrEmpty(shared);
  EXPECT_TRUE(absl::StrContains(content, "root-1\n")) << content;
  EXPECT_TRUE(absl::StrContains(content, "root-2\n")) << content;
  EXPECT_TRUE(absl::StrContains(content, "nobody-1\n")) << content;
}

// What each descriptor of `pid` points to, by number.
std::map<int, std::string> FdTargets(pid_t pid) {
  std::map<int, std::string> out;
  std::string dir = absl::StrCat("/proc/", pid, "/fd");
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    int fd = -1;
    if (!absl::SimpleAtoi(e.path().filename().string(), &fd)) continue;
    out[fd] = std::filesystem::read_symlink(e.path(), ec).string();
  }
  return out;
}

// A writer acting as a client keeps nothing of root's but its channel and
// its stats memory: stdio is /dev/null (not offlogd's terminal or log
// pipe), and it holds no descriptor of the server log.
TEST_F(SecurityTest, WritersActingAsAClientHoldNothingOfRoots) {
  RequireRoot();
  TempDir logdir;
  std::string logfile = logdir.File("d.log");
  Start({"--socket-mode", "0666", "-l", logfile});
  std::string file = pub_ + "/held.log";
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  std::string socket = server_->socket_path();
  std::map<int, std::string> fds;
  std::thread watcher([&] {
    (void)WaitUntil(
        [&] {
          std::vector<pid_t> holders = PidsWithFileOpen(file);
          if (holders.size() == 1) fds = FdTargets(holders[0]);
          return !fds.empty();
        },
        kDeadline, "a writer holding the file");
    close(go[1]);
  });
  std::string nobody = RunAsNobody([&] {
    close(go[1]);
    absl::StatusOr<UniqueFd> fd = OpenTarget(socket, file, "x\n");
    if (!fd.ok()) return fd.status().ToString();
    std::string ok = ReadMessage(fd->get(), kDeadline).value_or("(none)");
    char c;
    (void)!read(go[0], &c, 1);  // EOF once the watcher has looked.
    return ok + "+" + FinishAndWaitBye(fd->get(), kDeadline).value_or("?");
  });
  watcher.join();
  close(go[0]);
  EXPECT_EQ(nobody, "OK+BYE");
  ASSERT_FALSE(fds.empty()) << "no writer held " << file;
  for (int std_fd : {0, 1, 2}) EXPECT_EQ(fds[std_fd], "/dev/null") << std_fd;
  for (const auto& [fd, target] : fds) {
    EXPECT_NE(target, logfile) << "fd " << fd;
  }
}

TEST_F(SecurityTest, OpenAsServerUserOpensAsRoot) {
  RequireRoot();
  Start({"--socket-mode", "0666", "--open-as-server-user"});
  std::string path = pub_ + "/served.log";
  EXPECT_EQ(AsNobody(path, "s\n"), "OK+BYE");
  EXPECT_EQ(OwnerOf(path), 0u);
}

TEST_F(SecurityTest, AllowUidRefusesOthersAtTheHandshake) {
  RequireRoot();
  Start({"--socket-mode", "0666", "--allow-uid", "0"});
  std::string path = pub_ + "/refused.log";
  pid_t pid = 0;
  EXPECT_EQ(AsNobody(path, "x\n", &pid),
            absl::StrCat("PermissionError: [Errno 13] Permission denied: '",
                         path, "'"));
  struct stat st;
  EXPECT_NE(stat(path.c_str(), &st), 0);
  EXPECT_TRUE(server_
                  ->WaitForLog(absl::StrCat("uid 65534 (gid 65534, pid ", pid,
                                            ") is not allowed"),
                               kDeadline)
                  .ok());
  EXPECT_EQ(Exchange(server_->socket_path(), path, "root\n"), "OK+BYE");
}

TEST_F(SecurityTest, AllowGidAdmitsMembersOfTheGroup) {
  RequireRoot();
  Start({"--socket-mode", "0666", "--allow-gid", "65534,4242"});
  EXPECT_EQ(AsNobody(pub_ + "/member.log", "m\n"), "OK+BYE");
  // Root is in neither list.
  std::string root_path = pub_ + "/root.log";
  EXPECT_EQ(Exchange(server_->socket_path(), root_path, "r\n"),
            absl::StrCat("PermissionError: [Errno 13] Permission denied: '",
                         root_path, "'"));
}

std::string PermissionDenied(const std::string& path) {
  return absl::StrCat("PermissionError: [Errno 13] Permission denied: '", path,
                      "'");
}

// ---- Issue 11 item 4: a writer answers only for its own clients ----

// The ids of the clients the acceptor logged as connected, in order.
std::vector<uint64_t> ConnectedClientIds(const std::string& log) {
  std::vector<uint64_t> ids;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    size_t at = line.find("] Client ");
    if (at == absl::string_view::npos) continue;
    absl::string_view rest = line.substr(at + strlen("] Client "));
    size_t space = rest.find(' ');
    uint64_t id;
    if (space != absl::string_view::npos &&
        rest.substr(space) == " connected" &&
        absl::SimpleAtoi(rest.substr(0, space), &id)) {
      ids.push_back(id);
    }
  }
  return ids;
}

// Connects to `socket` as uid 65534 (in a child process) and sends `path`
// and `data`; returns the connection, which the server sees as 65534's
// (SO_PEERCRED is the connecting process's).
absl::StatusOr<UniqueFd> OpenTargetAsNobody(const std::string& socket,
                                            const std::string& path,
                                            const std::string& data) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return absl::ErrnoToStatus(errno, "socketpair");
  }
  UniqueFd here(sv[0]), there(sv[1]);
  std::string result = RunAsNobody([&]() -> std::string {
    absl::StatusOr<UniqueFd> fd = OpenTarget(socket, path, data);
    if (!fd.ok()) return fd.status().ToString();
    int conn = fd->get();
    char byte = 0;
    iovec iov = {&byte, 1};
    OneFdControl control;
    msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    AttachFd(conn, &control, &msg);
    return sendmsg(there.get(), &msg, 0) == 1 ? "sent" : "sendmsg failed";
  });
  if (result != "sent") return absl::InternalError(result);
  char byte;
  iovec iov = {&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  if (recvmsg(here.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) != 1) {
    return absl::ErrnoToStatus(errno, "recvmsg");
  }
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (c == nullptr || c->cmsg_type != SCM_RIGHTS) {
    return absl::InternalError("no descriptor received");
  }
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return UniqueFd(fd);
}

// The one process holding `path` open: its writer (0 if none in time).
pid_t WriterOf(const std::string& path) {
  pid_t writer = 0;
  (void)WaitUntil(
      [&] {
        std::vector<pid_t> pids = PidsWithFileOpen(path);
        writer = pids.size() == 1 ? pids[0] : 0;
        return writer != 0;
      },
      kDeadline, "a writer holding the file");
  return writer;
}

// From /proc/PID/status (a non-dumpable process's /proc entries are
// root's, whatever its uid).
uid_t RealUidOf(pid_t pid) {
  return static_cast<uid_t>(ProcNumber(pid, "status", "Uid:"));
}

bool IsStopped(pid_t pid) {
  std::vector<std::string> f = ProcStatFields(pid);
  return !f.empty() && f[0] == "T";
}

// The channel of writer `pid` (whose pidfd is `pidfd`) to the acceptor,
// duplicated into this process: the one SOCK_SEQPACKET socket among its
// descriptors. pidfd_getfd needs PTRACE_MODE_ATTACH: root's
// CAP_SYS_PTRACE, since writers are not dumpable.
absl::StatusOr<UniqueFd> TakeChannelOf(int pidfd, pid_t pid) {
  std::vector<UniqueFd> found;
  for (const auto& [fd, target] : FdTargets(pid)) {
    if (!absl::StartsWith(target, "socket:")) continue;
    UniqueFd mine(static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, fd, 0)));
    if (!mine) return absl::ErrnoToStatus(errno, "pidfd_getfd");
    int type = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(mine.get(), SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
        type == SOCK_SEQPACKET) {
      found.push_back(std::move(mine));
    }
  }
  if (found.size() != 1) {
    return absl::InternalError(absl::StrCat("writer ", pid, " holds ",
                                            found.size(), " SOCK_SEQPACKET"));
  }
  return std::move(found[0]);
}

// shutdown(SHUT_WR), then every message the server sends until it closes
// the connection ("(timeout)" if it does not).
std::vector<std::string> RestOfConversation(int fd) {
  shutdown(fd, SHUT_WR);
  std::vector<std::string> out;
  while (true) {
    absl::StatusOr<std::string> msg = ReadMessage(fd, kDeadline);
    if (msg.ok()) {
      out.push_back(*msg);
      continue;
    }
    if (absl::IsDeadlineExceeded(msg.status())) out.push_back("(timeout)");
    return out;
  }
}

// Sends `sig` through a pidfd (no pid reuse), e.g. SIGCONT on scope exit.
struct SignalOnExit {
  int pidfd;
  int sig;
  ~SignalOnExit() { syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0); }
};

// Item 4 (a). A writer acting as a client runs as that client's user; if
// the user takes it over (through a bug in the writer, say), what it sends
// on its channel must touch none of another writer's clients. The test
// plays that writer: as root it takes the channel of the writer acting as
// 65534 (pidfd_getfd), stops the writer, and sends kTaken, kToldRotated,
// kClientDone and kClosed naming root's client of another file. Had the
// acceptor believed the kClientDone, it would have closed its duplicate of
// that client's socket: the client would vanish from `status`, and once its
// own writer died there would be nothing to re-pass, so what it sent next
// would be lost.
TEST_F(SecurityTest, CompromisedWriterCannotActOnAnotherWritersClients) {
  RequireRoot();
  Start({"--socket-mode", "0666"});
  const std::string victim_path = pub_ + "/victim.log";
  const std::string attacker_path = pub_ + "/attacker.log";
  UniqueFd victim = MustOpen(*server_, victim_path, "v1\n");
  ASSERT_TRUE(victim);
  std::vector<uint64_t> ids;
  ASSERT_TRUE(WaitUntil(
                  [&] {
                    ids = ConnectedClientIds(server_->Log());
                    return ids.size() == 1;
                  },
                  kDeadline, "the victim's connection in the log")
                  .ok())
      << server_->Log();
  const uint64_t victim_id = ids[0];
  absl::StatusOr<UniqueFd> attacker =
      OpenTargetAsNobody(server_->socket_path(), attacker_path, "a1\n");
  ASSERT_TRUE(attacker.ok()) << attacker.status();
  ASSERT_EQ(ReadMessage(attacker->get(), kDeadline).value_or("?"), "OK");
  ASSERT_TRUE(WaitUntil(
                  [&] {
                    return ReadFileOrEmpty(victim_path) == "v1\n" &&
                           ReadFileOrEmpty(attacker_path) == "a1\n";
                  },
                  kDeadline, "the first lines written")
                  .ok());
  const pid_t victim_writer = WriterOf(victim_path);
  const pid_t attacker_writer = WriterOf(attacker_path);
  ASSERT_GT(victim_writer, 0);
  ASSERT_GT(attacker_writer, 0);
  ASSERT_NE(victim_writer, attacker_writer);
  EXPECT_EQ(RealUidOf(attacker_writer), kNobody);
  EXPECT_EQ(RealUidOf(victim_writer), 0u);

  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, attacker_writer, 0)));
  ASSERT_TRUE(pidfd) << strerror(errno);
  SignalOnExit resume{pidfd.get(), SIGCONT};
  ASSERT_EQ(syscall(SYS_pidfd_send_signal, pidfd.get(), SIGSTOP, nullptr, 0),
            0);
  ASSERT_TRUE(WaitUntil([&] { return IsStopped(attacker_writer); }, kDeadline,
                        "the attacker's writer stopped")
                  .ok());
  absl::StatusOr<UniqueFd> taken = TakeChannelOf(pidfd.get(), attacker_writer);
  ASSERT_TRUE(taken.ok()) << taken.status();
  Channel channel(*std::move(taken));
  for (MsgType type : {MsgType::kTaken, MsgType::kToldRotated,
                       MsgType::kClientDone, MsgType::kClosed}) {
    ChannelMessage forged;
    forged.type = type;
    forged.client_id = victim_id;
    forged.flags = type == MsgType::kTaken ? kTakenOk : 0;
    ASSERT_TRUE(channel.Send(forged).ok());
  }
  // One channel delivers in order: once this record is in the server log,
  // the acceptor has handled the forged messages before it.
  constexpr absl::string_view kMarker = "end of the forged reports";
  ChannelMessage marker;
  marker.type = MsgType::kLog;
  marker.flags = static_cast<uint32_t>(Level::kInfo);
  marker.path = std::string(kMarker);
  ASSERT_TRUE(channel.Send(marker).ok());
  ASSERT_EQ(channel.queued(), 0u);
  ASSERT_TRUE(server_->WaitForLog(kMarker, kDeadline).ok()) << server_->Log();

  // The acceptor still holds the victim, as its own writer's client.
  absl::StatusOr<ServerSnapshot> snap = ControlStatus(*server_, kDeadline);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->acceptor.clients, 2u);
  int listed = 0;
  for (const WriterSnapshot& w : snap->writers) {
    if (w.path == victim_path || w.path == attacker_path) {
      ++listed;
      EXPECT_EQ(w.clients, 1u) << w.path;
      EXPECT_EQ(w.state, "busy") << w.path;
    }
  }
  EXPECT_EQ(listed, 2) << SerializeSnapshot(*snap);

  // The victim's writer dies: the victim is re-passed to a new one, is not
  // told OK again, and loses nothing.
  ASSERT_EQ(kill(victim_writer, SIGKILL), 0);
  ASSERT_TRUE(server_
                  ->WaitForLog(absl::StrCat("Writer ", victim_writer, " for "),
                               kDeadline)
                  .ok())
      << server_->Log();
  absl::Status sent = SendAll(victim.get(), "v2\n");
  ASSERT_TRUE(sent.ok()) << sent;
  EXPECT_TRUE(
      WaitUntil([&] { return ReadFileOrEmpty(victim_path) == "v1\nv2\n"; },
                kDeadline, "the victim's second line")
          .ok())
      << ReadFileOrEmpty(victim_path);
  EXPECT_EQ(RestOfConversation(victim.get()), std::vector<std::string>{"BYE"});

  // The stopped writer, let go on, still serves its own client.
  ASSERT_EQ(syscall(SYS_pidfd_send_signal, pidfd.get(), SIGCONT, nullptr, 0),
            0);
  sent = SendAll(attacker->get(), "a2\n");
  ASSERT_TRUE(sent.ok()) << sent;
  EXPECT_EQ(RestOfConversation(attacker->get()),
            std::vector<std::string>{"BYE"});
  EXPECT_EQ(ReadFileOrEmpty(attacker_path), "a1\na2\n");
  // Both done: the acceptor holds no client (no duplicate socket kept).
  EXPECT_TRUE(WaitUntil(
                  [&] {
                    absl::StatusOr<ServerSnapshot> s =
                        ControlStatus(*server_, kDeadline);
                    return s.ok() && s->acceptor.clients == 0;
                  },
                  kDeadline, "no client left in the acceptor")
                  .ok());
}

// ---- Issue 11 item 5: the admission policy is built once ----

// The path of the flaky_nss shim: $FLAKY_NSS, or from the test's runfiles.
std::string FlakyNssPath() {
  if (const char* env = getenv("FLAKY_NSS")) return env;
  const char* srcdir = getenv("TEST_SRCDIR");
  return absl::StrCat(srcdir ? srcdir : ".",
                      "/offlog/offlog/tests/libflaky_nss.so");
}

// Item 5. offlogd resolves --allow-uid names at start-up. It used to do it
// twice (once in main() to validate, again in the acceptor, where a failure
// became an empty policy: everyone served). A name service that answers
// the first lookup and not the second (the shim: one lookup passes, every
// later one fails) must still leave the policy in force.
TEST_F(SecurityTest, AllowUidHoldsWhenALaterUserLookupFails) {
  RequireRoot();
  std::string shim = FlakyNssPath();
  ASSERT_EQ(access(shim.c_str(), R_OK), 0) << shim;
  {
    // For offlogd only: the harness exec()s it with this environment.
    const char* asan = getenv("ASAN_OPTIONS");
    const std::string saved_asan = asan != nullptr ? asan : "";
    struct Unset {
      const std::string& asan;
      ~Unset() {
        unsetenv("LD_PRELOAD");
        unsetenv("FLAKY_NSS_PASS");
        setenv("ASAN_OPTIONS", asan.c_str(), 1);
      }
    } unset{saved_asan};
    setenv("LD_PRELOAD", shim.c_str(), 1);
    setenv("FLAKY_NSS_PASS", "1", 1);
    // Under ASan the preloaded shim comes before the ASan runtime, which
    // ASan refuses unless told that this order is intended.
    setenv("ASAN_OPTIONS", (saved_asan + ":verify_asan_link_order=0").c_str(),
           1);
    ASSERT_NO_FATAL_FAILURE(
        Start({"--socket-mode", "0666", "--allow-uid", "root"}));
  }
  // The shim was in place and answered start-up's lookup.
  EXPECT_TRUE(absl::StrContains(server_->Log(),
                                "flaky_nss: getpwnam(root) call 1 passed"))
      << server_->Log();
  std::string path = pub_ + "/refused.log";
  EXPECT_EQ(AsNobody(path, "x\n"), PermissionDenied(path)) << server_->Log();
  struct stat st;
  EXPECT_NE(stat(path.c_str(), &st), 0) << path << " was created";
  EXPECT_EQ(Exchange(server_->socket_path(), pub_ + "/root.log", "r\n"),
            "OK+BYE");
}

// A forged record, as a client would append it to offlogd's own log.
constexpr absl::string_view kForged =
    "[2026-01-01 00:00:00.000 offlog CRITICAL] forged\n";

// No client may open offlogd's own log file, socket or control socket, by
// whatever name: the writer compares device and inode after opening. Runs
// as whoever runs the test (the server then opens with its own rights, as
// a non-root offlogd or --open-as-server-user does).
class OwnFilesTest : public SecurityTest {
 protected:
  void StartWithLog(std::vector<std::string> extra = {}) {
    logfile_ = logs_.File("offlogd.log");
    extra.insert(extra.end(), {"--logfile", logfile_});
    Start(std::move(extra));
  }
  // Asks for `path` and expects PermissionError; the log must not change
  // but for the server's own records.
  void ExpectRefused(const std::string& path) {
    EXPECT_EQ(Exchange(server_->socket_path(), path, std::string(kForged)),
              PermissionDenied(path));
    EXPECT_FALSE(absl::StrContains(ReadFileOrEmpty(logfile_), "forged"))
        << ReadFileOrEmpty(logfile_);
  }
  TempDir logs_;  // Holds the log file, apart from the server's directory.
  std::string logfile_;
};

TEST_F(OwnFilesTest, ClientsCannotAppendToTheServerLog) {
  StartWithLog();
  ExpectRefused(logfile_);
  // Another spelling, and another name for the same inode.
  ExpectRefused(logs_.path() + "/./offlogd.log");
  std::string hardlink = logs_.File("hardlink.log");
  ASSERT_EQ(link(logfile_.c_str(), hardlink.c_str()), 0);
  ExpectRefused(hardlink);
  ASSERT_TRUE(server_->WaitForLog("is offlogd's own", kDeadline).ok())
      << server_->Log();
  // Other files in the same directory are served.
  EXPECT_EQ(Exchange(server_->socket_path(), logs_.File("app.log"), "a\n"),
            "OK+BYE");
}

TEST_F(OwnFilesTest, ClientsCannotOpenTheServerSockets) {
  StartWithLog();
  ExpectRefused(server_->socket_path());
  ExpectRefused(server_->socket_path() + ".ctl");
}

TEST_F(OwnFilesTest, ConfinedOpensAreCheckedToo) {
  StartWithLog({"--allow-dir", logs_.path()});
  ExpectRefused(logfile_);
  EXPECT_EQ(Exchange(server_->socket_path(), logs_.File("app.log"), "a\n"),
            "OK+BYE");
}

TEST_F(OwnFilesTest, NobodyCannotAppendToTheLogOfAServerOpeningAsItself) {
  RequireRoot();
  StartWithLog({"--socket-mode", "0666", "--open-as-server-user"});
  // 65534 must reach the log's directory for the open to be attempted.
  chmod(logs_.path().c_str(), 0711);
  EXPECT_EQ(AsNobody(logfile_, std::string(kForged)),
            PermissionDenied(logfile_));
  EXPECT_FALSE(absl::StrContains(ReadFileOrEmpty(logfile_), "forged"));
}

// Start-up warnings: a socket other users can reach while files open with
// the server's own rights and no --allow-dir (item 2), and a socket in a
// world-writable directory, where another user could take its name first
// (item 8).
TEST_F(SecurityTest, WarnsWhenOthersCanReachAnUnconfinedServer) {
  constexpr absl::string_view kWarning = "other users can reach the socket";
  Start({"--socket-mode", "0666", "--open-as-server-user"});
  EXPECT_TRUE(server_->WaitForLog(kWarning, kDeadline).ok()) << server_->Log();
  TempDir allowed;
  for (std::vector<std::string> quiet :
       {std::vector<std::string>{"--socket-mode", "0666",
                                 "--open-as-server-user", "--allow-dir",
                                 allowed.path()},
        {}}) {
    Start(quiet);
    // Start-up warnings come before "Listening".
    ASSERT_TRUE(server_->WaitForLog("Listening", kDeadline).ok());
    EXPECT_FALSE(absl::StrContains(server_->Log(), kWarning)) << server_->Log();
  }
}

TEST_F(SecurityTest, WarnsWhenTheSocketDirectoryIsWorldWritable) {
  constexpr absl::string_view kWarning = "is world-writable";
  TempDir shared;
  ASSERT_EQ(chmod(shared.path().c_str(), 01777), 0);
  Start({"-s", shared.File("s.sock")});
  EXPECT_TRUE(server_->WaitForLog(kWarning, kDeadline).ok()) << server_->Log();
  Start({});  // The harness's own 0700 directory.
  ASSERT_TRUE(server_->WaitForLog("Listening", kDeadline).ok());
  EXPECT_FALSE(absl::StrContains(server_->Log(), kWarning)) << server_->Log();
}

// Confinement needs no root: it runs in the sandbox too.
class AllowDirTest : public SecurityTest {
 protected:
  void SetUp() override {
    allowed_ = root_.File("allowed");
    outside_ = root_.File("outside");
    mkdir(allowed_.c_str(), 0755);
    mkdir(outside_.c_str(), 0755);
    Start({"--allow-dir", allowed_});
  }
  std::string Error(const std::string& path) {
    return absl::StrCat("PermissionError: [Errno 13] Permission denied: '",
                        path, "'");
  }
  TempDir root_;  // Holds allowed/ and outside/.
  std::string allowed_, outside_;
};

TEST_F(AllowDirTest, PathsInsideAreServed) {
  EXPECT_EQ(Exchange(server_->socket_path(), allowed_ + "/in.log", "i\n"),
            "OK+BYE");
  EXPECT_EQ(ReadFileOrEmpty(allowed_ + "/in.log"), "i\n");
}

// A path that does not spell out an allowed directory at its start is
// refused by the acceptor; `..` is the kernel's to judge, beneath the
// allowed directory (openat2 RESOLVE_BENEATH on the path as sent).
TEST_F(AllowDirTest, PathsOutsideAreRefusedAndDotDotCannotClimbOut) {
  std::string out = outside_ + "/x.log";
  EXPECT_EQ(Exchange(server_->socket_path(), out, "x"), Error(out));
  std::string climb = allowed_ + "/../outside/x.log";
  EXPECT_EQ(Exchange(server_->socket_path(), climb, "x"), Error(climb));
  std::string prefix = allowed_ + "x/y.log";  // Not below, merely a prefix.
  EXPECT_EQ(Exchange(server_->socket_path(), prefix, "x"), Error(prefix));
  struct stat st;
  EXPECT_NE(stat(out.c_str(), &st), 0);
  EXPECT_TRUE(server_->WaitForLog("outside --allow-dir", kDeadline).ok());
}

TEST_F(AllowDirTest, PathsInsideAreOpenedAsSent) {
  ASSERT_EQ(mkdir((allowed_ + "/sub").c_str(), 0755), 0);
  std::string via_sub = allowed_ + "/sub/../up.log";
  EXPECT_EQ(Exchange(server_->socket_path(), via_sub, "u\n"), "OK+BYE");
  EXPECT_EQ(ReadFileOrEmpty(allowed_ + "/up.log"), "u\n");
  std::string spelled = root_.File("./allowed//in.log");
  EXPECT_EQ(Exchange(server_->socket_path(), spelled, "s\n"), "OK+BYE");
  EXPECT_EQ(ReadFileOrEmpty(allowed_ + "/in.log"), "s\n");
  std::string missing = allowed_ + "/missing/../x.log";
  EXPECT_EQ(Exchange(server_->socket_path(), missing, "x"),
            absl::StrCat("FileNotFoundError: [Errno 2] No such file or "
                         "directory: '",
                         missing, "'"));
  std::string slash = allowed_ + "/x.log/";
  EXPECT_EQ(Exchange(server_->socket_path(), slash, "x"),
            absl::StrCat("IsADirectoryError: [Errno 21] Is a directory: '",
                         slash, "'"));
  struct stat st;
  EXPECT_NE(stat((allowed_ + "/x.log").c_str(), &st), 0);
}

TEST_F(AllowDirTest, SymlinksOutOfTheTreeAreNotFollowed) {
  ASSERT_EQ(symlink(outside_.c_str(), (allowed_ + "/escape").c_str()), 0);
  std::string via_dir = allowed_ + "/escape/x.log";
  EXPECT_EQ(Exchange(server_->socket_path(), via_dir, "x"), Error(via_dir));
  std::string target = outside_ + "/target.log";
  ASSERT_EQ(symlink(target.c_str(), (allowed_ + "/link.log").c_str()), 0);
  std::string via_last = allowed_ + "/link.log";
  EXPECT_EQ(Exchange(server_->socket_path(), via_last, "x"), Error(via_last));
  struct stat st;
  EXPECT_NE(stat((outside_ + "/x.log").c_str(), &st), 0);
  EXPECT_NE(stat(target.c_str(), &st), 0);
}

}  // namespace
}  // namespace testing
}  // namespace offlog
