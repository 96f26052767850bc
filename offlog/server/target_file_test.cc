#include "offlog/server/target_file.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "offlog/common/unique_fd.h"
#include "offlog/testing/temp_dir.h"

namespace offlog {
namespace {

// A clock that stands still: busy times are then exact.
constexpr int64_t kNow = 1000;
int64_t FakeClock() { return kNow; }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

class TargetFileTest : public ::testing::Test {
 protected:
  TargetFile MakeFile(std::vector<std::string> allowed_dirs = {}) {
    return TargetFile(std::move(allowed_dirs), &busy_since_, &FakeClock);
  }

  testing::TempDir dir_;
  std::atomic<int64_t> busy_since_{0};
};

TEST_F(TargetFileTest, AppendsToTheEndOfWhatIsThere) {
  const std::string path = dir_.File("a.log");
  WriteFile(path, "old\n");
  TargetFile file = MakeFile();
  ASSERT_EQ(file.Open(path), 0);
  EXPECT_TRUE(file.is_open());
  EXPECT_EQ(file.path(), path);
  TargetFile::Appended done = file.Append("new\n");
  EXPECT_EQ(done.written, 4u);
  EXPECT_EQ(done.error, 0);
  EXPECT_EQ(file.Size(), 8u);
  EXPECT_EQ(ReadAll(path), "old\nnew\n");
  EXPECT_EQ(file.busy_since_ms(), 0);
  EXPECT_EQ(file.BusyMs(kNow + 5), 0);
}

TEST_F(TargetFileTest, EndsMidLineReadsTheLastByte) {
  const std::string path = dir_.File("torn.log");
  TargetFile file = MakeFile();
  ASSERT_EQ(file.Open(path), 0);
  EXPECT_FALSE(file.EndsMidLine());  // Empty.
  ASSERT_EQ(file.Append("whole\n").error, 0);
  EXPECT_FALSE(file.EndsMidLine());
  ASSERT_EQ(file.Append("cut sh").error, 0);
  EXPECT_TRUE(file.EndsMidLine());
}

TEST_F(TargetFileTest, CreatesTheFile) {
  const std::string path = dir_.File("new.log");
  TargetFile file = MakeFile();
  ASSERT_EQ(file.Open(path), 0);
  EXPECT_EQ(file.Append("x\n").error, 0);
  EXPECT_EQ(ReadAll(path), "x\n");
}

TEST_F(TargetFileTest, OpenReportsTheErrnoAndKeepsThePath) {
  const std::string path = dir_.File("no/such/dir.log");
  TargetFile file = MakeFile();
  EXPECT_EQ(file.Open(path), ENOENT);
  EXPECT_FALSE(file.is_open());
  EXPECT_EQ(file.path(), path);
  EXPECT_EQ(file.Open(dir_.path()), EISDIR);
  EXPECT_EQ(busy_since_.load(), 0);
}

TEST_F(TargetFileTest, OpensThePathExactlyAsSent) {
  // A trailing slash is kept, not normalised away, so open(O_CREAT)
  // refuses the regular file with it (EISDIR).
  const std::string path = dir_.File("a.log");
  WriteFile(path, "");
  TargetFile file = MakeFile();
  EXPECT_EQ(file.Open(path + "/"), EISDIR);
  EXPECT_EQ(file.path(), path + "/");
}

TEST_F(TargetFileTest, ConfinedBeneathAnAllowedDirectory) {
  const std::string allowed = dir_.File("allowed");
  ASSERT_EQ(mkdir(allowed.c_str(), 0755), 0);
  TargetFile file = MakeFile({allowed});
  EXPECT_EQ(file.Open(allowed + "/a.log"), 0);
  TargetFile escaping = MakeFile({allowed});
  EXPECT_EQ(escaping.Open(allowed + "/../outside.log"), EACCES);
  EXPECT_NE(access(dir_.File("outside.log").c_str(), F_OK), 0);
}

TEST_F(TargetFileTest, CloseForgetsThePath) {
  TargetFile file = MakeFile();
  EXPECT_FALSE(file.Close());
  ASSERT_EQ(file.Open(dir_.File("a.log")), 0);
  EXPECT_TRUE(file.Close());
  EXPECT_FALSE(file.is_open());
  EXPECT_EQ(file.path(), "");
}

// RLIMIT_FSIZE lowered, with SIGXFSZ ignored, for one scope. Nothing may be
// printed meanwhile: this process's stdout is a file too, already longer
// than the limit.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    old_handler_ = signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old_);
    rlimit rl = old_;
    rl.rlim_cur = bytes;
    ok_ = setrlimit(RLIMIT_FSIZE, &rl) == 0;
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &old_);
    signal(SIGXFSZ, old_handler_);
  }
  bool ok() const { return ok_; }

 private:
  rlimit old_;
  sighandler_t old_handler_;
  bool ok_ = false;
};

TEST_F(TargetFileTest, ShortWriteAtTheFileSizeLimit) {
  const std::string path = dir_.File("a.log");
  WriteFile(path, "12345");
  TargetFile file = MakeFile();
  ASSERT_EQ(file.Open(path), 0);
  TargetFile::Appended done;
  bool limited;
  {
    FileSizeLimit limit(10);
    limited = limit.ok();
    done = file.Append("abc\ndefgh\nij\n");
  }
  ASSERT_TRUE(limited);
  // The kernel cuts wherever the limit falls, mid-line.
  EXPECT_EQ(done.written, 5u);
  EXPECT_EQ(done.error, EFBIG);
  EXPECT_EQ(ReadAll(path), "12345abc\nd");
  EXPECT_EQ(file.busy_since_ms(), 0);
}

TEST_F(TargetFileTest, RotationDetectedAfterRenameAndFollowedByReopen) {
  const std::string path = dir_.File("a.log");
  const std::string rotated = dir_.File("a.log.1");
  TargetFile file = MakeFile();
  ASSERT_EQ(file.Open(path), 0);
  ASSERT_EQ(file.Append("one\n").error, 0);
  EXPECT_FALSE(file.HasRotated());
  ASSERT_EQ(rename(path.c_str(), rotated.c_str()), 0);
  // The path names no file.
  EXPECT_TRUE(file.HasRotated());
  // The path names another file.
  WriteFile(path, "");
  EXPECT_TRUE(file.HasRotated());
  // Until reopened, appends go to the renamed file.
  ASSERT_EQ(file.Append("two\n").error, 0);
  ASSERT_EQ(file.Reopen(), 0);
  EXPECT_FALSE(file.HasRotated());
  ASSERT_EQ(file.Append("three\n").error, 0);
  EXPECT_EQ(ReadAll(rotated), "one\ntwo\n");
  EXPECT_EQ(ReadAll(path), "three\n");
}

TEST_F(TargetFileTest, FailedReopenKeepsTheOpenFile) {
  const std::string path = dir_.File("a.log");
  const std::string rotated = dir_.File("a.log.1");
  TargetFile file = MakeFile();
  ASSERT_EQ(file.Open(path), 0);
  ASSERT_EQ(rename(path.c_str(), rotated.c_str()), 0);
  ASSERT_EQ(mkdir(path.c_str(), 0755), 0);  // Cannot be opened for append.
  EXPECT_EQ(file.Reopen(), EISDIR);
  EXPECT_TRUE(file.is_open());
  EXPECT_EQ(file.path(), path);
  EXPECT_EQ(file.Append("kept\n").error, 0);
  EXPECT_EQ(ReadAll(rotated), "kept\n");
}

TEST_F(TargetFileTest, NoRotationWithoutAnOpenFile) {
  TargetFile file = MakeFile();
  EXPECT_FALSE(file.HasRotated());
  EXPECT_EQ(file.Open(dir_.File("no/such.log")), ENOENT);
  EXPECT_FALSE(file.HasRotated());
}

// Waits, without a timeout of its own (Bazel's ends a hung test), until
// `file` is inside open() or write() in another thread.
void AwaitBusy(const TargetFile& file) {
  while (file.busy_since_ms() == 0) std::this_thread::yield();
}

TEST_F(TargetFileTest, BusyWhileAWriteBlocks) {
  const std::string fifo = dir_.File("fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  UniqueFd reader(open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(reader.valid());
  TargetFile file = MakeFile();
  ASSERT_EQ(file.Open(fifo), 0);
  // More than a pipe holds: the write blocks until the reader drains it.
  const std::string data(4 << 20, 'x');
  TargetFile::Appended done;
  std::thread appender([&] { done = file.Append(data); });
  AwaitBusy(file);
  EXPECT_EQ(file.busy_since_ms(), kNow);
  EXPECT_EQ(file.BusyMs(kNow + 250), 250);
  fcntl(reader.get(), F_SETFL, 0);  // Blocking from here.
  size_t read_total = 0;
  char buf[65536];
  while (read_total < data.size()) {
    ssize_t n = read(reader.get(), buf, sizeof(buf));
    if (n <= 0) break;
    read_total += n;
  }
  // Had the read failed, the write still blocked now fails (SIGPIPE).
  reader.Reset();
  appender.join();
  EXPECT_EQ(done.written, data.size());
  EXPECT_EQ(done.error, 0);
  EXPECT_EQ(file.busy_since_ms(), 0);
  EXPECT_EQ(file.BusyMs(kNow + 250), 0);
}

TEST_F(TargetFileTest, BusyWhileAnOpenBlocks) {
  const std::string fifo = dir_.File("fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  TargetFile file = MakeFile();
  int err = -1;
  // Opening a FIFO for writing blocks until it has a reader.
  std::thread opener([&] { err = file.Open(fifo); });
  AwaitBusy(file);
  EXPECT_EQ(file.BusyMs(kNow + 7), 7);
  UniqueFd reader(open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  EXPECT_TRUE(reader.valid());
  opener.join();
  EXPECT_EQ(err, 0);
  EXPECT_TRUE(file.is_open());
  EXPECT_EQ(file.busy_since_ms(), 0);
}

}  // namespace
}  // namespace offlog
