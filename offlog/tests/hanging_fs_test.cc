// HangingFs works: files made through the mount are real files in the
// backing directory; after Hang() callers are stuck in the kernel until
// Release(), Abort() or the harness's destruction frees them, whether they
// are threads or SIGKILLed processes.
#include "offlog/tests/hanging_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "offlog/common/unique_fd.h"
#include "offlog/testing/server_harness.h"

namespace offlog {
namespace testing {
namespace {

// Only to detect hangs; nothing is timed.
constexpr absl::Duration kTimeout = absl::Seconds(10);

// Runs a call (a system call, say) on its own thread.
class Caller {
 public:
  explicit Caller(std::function<int64_t()> call)
      : thread_([this, call = std::move(call)] {
          int64_t result = call();
          error_ = errno;
          result_ = result;
          returned_.store(true);
        }) {}
  ~Caller() { thread_.join(); }

  bool returned() const { return returned_.load(); }
  // Once returned(): what the call returned, and errno after it.
  int64_t result() const { return result_; }
  int error() const { return error_; }

 private:
  std::atomic<bool> returned_{false};
  int64_t result_ = 0;
  int error_ = 0;
  std::thread thread_;  // Last: starts once the rest is built.
};

// The state letter of /proc/<pid>/stat ('D': uninterruptible sleep).
char ProcessState(pid_t pid) {
  std::vector<std::string> f = ProcStatFields(pid);
  return f.empty() ? '?' : f[0][0];
}

// Reaps `pid` if it has exited; its wait status in `*status`.
bool Reaped(pid_t pid, int* status) {
  return waitpid(pid, status, WNOHANG) == pid;
}

class HangingFsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!FuseAvailable(&why)) GTEST_SKIP() << why;
    absl::StatusOr<std::unique_ptr<HangingFs>> fs = HangingFs::Mount();
    ASSERT_TRUE(fs.ok()) << fs.status();
    fs_ = std::move(*fs);
  }

  // Opens `name` through the mount for appending, creating it; the
  // descriptor is closed only after the mount is gone.
  int OpenForAppend(absl::string_view name) {
    fds_.emplace_back(open(fs_->File(name).c_str(),
                           O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    return fds_.back().get();
  }

  // Starts `call` on a thread that is joined only after the mount is gone.
  const Caller& Start(std::function<int64_t()> call) {
    callers_.push_back(std::make_unique<Caller>(std::move(call)));
    return *callers_.back();
  }

  // Waits until at least `n` requests (`op` ones, unless empty) are held.
  void WaitBlocked(int n, absl::string_view op = "") {
    absl::Status blocked = WaitUntil(
        [&] {
          absl::StatusOr<int> held = fs_->BlockedRequests(op);
          return held.ok() && *held >= n;
        },
        kTimeout, absl::StrCat(n, " blocked ", op, " requests"));
    ASSERT_TRUE(blocked.ok()) << blocked;
  }

  void WaitReturned(const Caller& caller) {
    absl::Status returned =
        WaitUntil([&] { return caller.returned(); }, kTimeout, "the call");
    ASSERT_TRUE(returned.ok()) << returned;
  }

  // Destroyed in this order: the mount (freeing whatever is stuck in it),
  // then the threads (joined), then the descriptors.
  std::vector<UniqueFd> fds_;
  std::vector<std::unique_ptr<Caller>> callers_;
  std::unique_ptr<HangingFs> fs_;
};

TEST_F(HangingFsTest, WritesReachTheBackingFile) {
  int fd = OpenForAppend("log");
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(write(fd, "one\n", 4), 4);
  ASSERT_EQ(write(fd, "two\n", 4), 4);
  EXPECT_EQ(ReadFileOrEmpty(fs_->BackingFile("log")), "one\ntwo\n");

  struct stat st;
  ASSERT_EQ(stat(fs_->File("log").c_str(), &st), 0) << strerror(errno);
  EXPECT_EQ(st.st_size, 8);
  ASSERT_EQ(rename(fs_->File("log").c_str(), fs_->File("log.1").c_str()), 0)
      << strerror(errno);
  EXPECT_EQ(ReadFileOrEmpty(fs_->BackingFile("log.1")), "one\ntwo\n");
  ASSERT_EQ(unlink(fs_->File("log.1").c_str()), 0) << strerror(errno);
  EXPECT_NE(access(fs_->BackingFile("log.1").c_str(), F_OK), 0);
}

TEST_F(HangingFsTest, OtherUsersCreateFilesInAnOpenDirectory) {
  ASSERT_EQ(mkdir(fs_->File("open").c_str(), 0777), 0) << strerror(errno);
  ASSERT_EQ(chmod(fs_->File("open").c_str(), 0777), 0) << strerror(errno);
  std::string path = fs_->File("open/log");
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0640);
    if (fd < 0) _exit(3);
    _exit(write(fd, "nobody\n", 7) == 7 ? 0 : 4);
  }
  int status = 0;
  ASSERT_TRUE(WaitUntil([&] { return Reaped(child, &status); }, kTimeout,
                        "the writer to exit")
                  .ok());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(ReadFileOrEmpty(fs_->BackingFile("open/log")), "nobody\n");
  struct stat st;
  ASSERT_EQ(stat(fs_->BackingFile("open/log").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(st.st_gid, 65534u);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST_F(HangingFsTest, WriteBlocksUntilRelease) {
  int fd = OpenForAppend("log");
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_TRUE(fs_->Hang().ok());
  const Caller& writer = Start([fd] { return write(fd, "stuck\n", 6); });
  WaitBlocked(1, "write");
  EXPECT_FALSE(writer.returned());
  EXPECT_EQ(ReadFileOrEmpty(fs_->BackingFile("log")), "");

  ASSERT_TRUE(fs_->Release().ok());
  WaitReturned(writer);
  EXPECT_EQ(writer.result(), 6) << strerror(writer.error());
  EXPECT_EQ(ReadFileOrEmpty(fs_->BackingFile("log")), "stuck\n");
  absl::StatusOr<int> held = fs_->BlockedRequests();
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(*held, 0);
}

TEST_F(HangingFsTest, StatAndOpenBlockUntilRelease) {
  ASSERT_GE(OpenForAppend("log"), 0) << strerror(errno);
  ASSERT_TRUE(fs_->Hang().ok());
  std::string path = fs_->File("log");
  const Caller& stater = Start([path] {
    struct stat st;
    return stat(path.c_str(), &st);
  });
  std::string fresh = fs_->File("fresh");
  const Caller& opener = Start([fresh] {
    int fd =
        open(fresh.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) close(fd);
    return fd >= 0 ? 0 : -1;
  });
  WaitBlocked(2);
  EXPECT_FALSE(stater.returned());
  EXPECT_FALSE(opener.returned());

  ASSERT_TRUE(fs_->Release().ok());
  WaitReturned(stater);
  WaitReturned(opener);
  EXPECT_EQ(stater.result(), 0) << strerror(stater.error());
  EXPECT_EQ(opener.result(), 0) << strerror(opener.error());
  EXPECT_EQ(access(fs_->BackingFile("fresh").c_str(), F_OK), 0);
}

TEST_F(HangingFsTest, HangOnlyRejectsUnknownOps) {
  EXPECT_FALSE(fs_->HangOnly("write wrte").ok());
  absl::StatusOr<int> held = fs_->BlockedRequests();
  EXPECT_TRUE(held.ok()) << held.status();
}

TEST_F(HangingFsTest, HangOnlyWritesLetsOpenThrough) {
  ASSERT_TRUE(fs_->HangOnly("write").ok());
  int fd = OpenForAppend("log");  // Not held.
  ASSERT_GE(fd, 0) << strerror(errno);
  const Caller& writer = Start([fd] { return write(fd, "x", 1); });
  WaitBlocked(1, "write");
  EXPECT_FALSE(writer.returned());
  ASSERT_TRUE(fs_->Release().ok());
  WaitReturned(writer);
  EXPECT_EQ(writer.result(), 1) << strerror(writer.error());
}

TEST_F(HangingFsTest, AbortFailsStuckCallers) {
  int fd = OpenForAppend("log");
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_TRUE(fs_->Hang().ok());
  const Caller& writer = Start([fd] { return write(fd, "lost\n", 5); });
  WaitBlocked(1, "write");
  ASSERT_TRUE(fs_->Abort().ok());
  // Through fusectl (which Abort mounts if need be), not by killing hangfs.
  EXPECT_EQ(access(absl::StrCat("/sys/fs/fuse/connections/", fs_->connection(),
                                "/abort")
                       .c_str(),
                   F_OK),
            0);
  EXPECT_TRUE(fs_->BlockedRequests().ok());
  WaitReturned(writer);
  EXPECT_EQ(writer.result(), -1);
  EXPECT_TRUE(writer.error() == ECONNABORTED || writer.error() == ENOTCONN)
      << strerror(writer.error());
  EXPECT_EQ(write(fd, "late\n", 5), -1);
  EXPECT_EQ(errno, ENOTCONN) << strerror(errno);
}

// A process killed while stuck in a hung write() stays in D state, unreaped,
// until its request is answered (Release) or the connection aborted (Abort).
class KilledWriterTest : public HangingFsTest,
                         public ::testing::WithParamInterface<bool> {};

TEST_P(KilledWriterTest, IsReapedOnceFreed) {
  const bool abort = GetParam();
  int fd = OpenForAppend("log");
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_TRUE(fs_->Hang().ok());
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(write(fd, "killed\n", 7) == 7 ? 0 : 1);
  WaitBlocked(1, "write");
  ASSERT_EQ(kill(child, SIGKILL), 0);
  ASSERT_TRUE(WaitUntil([&] { return ProcessState(child) == 'D'; }, kTimeout,
                        "the killed writer in D state")
                  .ok());
  int status = 0;
  EXPECT_FALSE(Reaped(child, &status));  // Its request is still held.

  ASSERT_TRUE((abort ? fs_->Abort() : fs_->Release()).ok());
  ASSERT_TRUE(WaitUntil([&] { return Reaped(child, &status); }, kTimeout,
                        "the killed writer to be reaped")
                  .ok());
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
}

INSTANTIATE_TEST_SUITE_P(ReleaseOrAbort, KilledWriterTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Abort" : "Release";
                         });

TEST_F(HangingFsTest, DestructionFreesStuckCallers) {
  int fd = OpenForAppend("log");
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_TRUE(fs_->Hang().ok());
  const Caller& writer = Start([fd] { return write(fd, "bye\n", 4); });
  WaitBlocked(1, "write");
  std::string mount_point = fs_->mount_point();
  fs_.reset();
  WaitReturned(writer);
  // Answered by the final release, or failed by the unmount: either way
  // it returned.
  EXPECT_TRUE(writer.result() == 4 || writer.error() == ECONNABORTED ||
              writer.error() == ENOTCONN)
      << writer.result() << " " << strerror(writer.error());
  EXPECT_NE(access(mount_point.c_str(), F_OK), 0);  // Unmounted and removed.
}

}  // namespace
}  // namespace testing
}  // namespace offlog
