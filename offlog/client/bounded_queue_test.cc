// The client's bounded queue, overflow policies, drop counters, "records
// lost" lines and WaitWritten(), against the real offlogd. A stalled target
// is a FIFO whose reader does not read: the writer blocks in write(), the
// socket fills, and the client has to queue or drop.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "offlog/client/glog_sink.h"
#include "offlog/client/logger.h"
#include "offlog/client/proxy_file.h"
#include "offlog/common/unique_fd.h"
#include "offlog/testing/server_harness.h"

extern char** environ;

namespace offlog {
namespace {

using ::offlog::testing::ReadFileOrEmpty;
using ::offlog::testing::ServerProcess;

// Only to detect hangs.
constexpr absl::Duration kDeadline = absl::Seconds(20);
constexpr int kDeadlineMs = 20000;
constexpr size_t kMiB = 1024 * 1024;
constexpr size_t kRecordSize = 1000;

size_t RssBytes() {
  std::string statm = ReadFileOrEmpty("/proc/self/statm");
  std::vector<std::string> fields = absl::StrSplit(statm, ' ');
  size_t pages = 0;
  if (fields.size() > 1) pages = std::stoull(fields[1]);
  return pages * static_cast<size_t>(::sysconf(_SC_PAGESIZE));
}

// Record `i`, kRecordSize bytes: "r00000042 ......\n".
void FillRecord(size_t i, std::string* record) {
  record->assign(kRecordSize, '.');
  std::string head = absl::StrFormat("r%08d ", i);
  record->replace(0, head.size(), head);
  record->back() = '\n';
}

// The records whose `kept` entry is true, in order.
std::string KeptRecords(const std::vector<bool>& kept) {
  std::string out, record;
  for (size_t i = 0; i < kept.size(); ++i) {
    if (!kept[i]) continue;
    FillRecord(i, &record);
    out += record;
  }
  return out;
}

// Reads a FIFO in a thread until it has SetWant() bytes or kDeadline.
class FifoDrain {
 public:
  explicit FifoDrain(int fd, size_t want = std::numeric_limits<size_t>::max())
      : want_(want), thread_([this, fd] { Run(fd); }) {}
  void SetWant(size_t want) { want_ = want; }
  // What it read.
  std::string Join() {
    thread_.join();
    return data_;
  }

 private:
  void Run(int fd) {
    absl::Time deadline = absl::Now() + kDeadline;
    char buf[65536];
    while (data_.size() < want_ && absl::Now() < deadline) {
      struct pollfd pfd = {fd, POLLIN, 0};
      if (::poll(&pfd, 1, 100) <= 0) continue;
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n > 0) data_.append(buf, static_cast<size_t>(n));
    }
  }

  std::atomic<size_t> want_;
  std::string data_;
  std::thread thread_;
};

// Reads the FIFO on into *got until it ends with `end` (or kDeadline).
void ReadFifoUntil(int fd, absl::string_view end, std::string* got) {
  absl::Time deadline = absl::Now() + kDeadline;
  char buf[65536];
  while (!absl::EndsWith(*got, end) && absl::Now() < deadline) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n > 0) got->append(buf, static_cast<size_t>(n));
    if (n <= 0) {
      struct pollfd pfd = {fd, POLLIN, 0};
      ::poll(&pfd, 1, 100);
    }
  }
}

// Appends to *got what the FIFO holds now, without waiting (`fd` is
// O_NONBLOCK): read until it is empty (EAGAIN) or has no writer (EOF).
void ReadFifoRest(int fd, std::string* got) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    got->append(buf, static_cast<size_t>(n));
  }
}

class BoundedQueueTest : public ::testing::Test {
 public:  // The helpers below the fixture use its server and FIFOs.
  static void SetUpTestSuite() {
    // glog to files in TEST_TMPDIR, not to the test's output.
    FLAGS_stderrthreshold = google::GLOG_FATAL;
    ::signal(SIGPIPE, SIG_IGN);  // An offlog_tee that fails must not kill us.
    if (!google::IsGoogleLoggingInitialized()) {
      google::InitGoogleLogging("bounded_queue_test");
    }
  }

  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  ProxyFileOptions Options(size_t bound, OverflowPolicy policy) {
    ProxyFileOptions options;
    options.socket_path = server_->socket_path();
    options.timeout_ms = kDeadlineMs;
    options.max_queued_bytes = bound;
    options.overflow_policy = policy;
    return options;
  }

  // Makes a FIFO `name` in the server's directory; returns its path and
  // sets *reader to its (non-blocking) read end, which nobody reads yet.
  std::string MakeFifo(absl::string_view name, UniqueFd* reader) {
    std::string path = server_->File(name);
    EXPECT_EQ(::mkfifo(path.c_str(), 0666), 0);
    reader->Reset(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    EXPECT_TRUE(reader->valid());
    return path;
  }

  std::unique_ptr<ServerProcess> server_;
};

// Writes records to `file` until `total` bytes were offered; returns which
// were kept. Every Write() must return OK or `overflow_code`, and must drop
// exactly when it does not return OK (or, with OK, under kDrop).
std::vector<bool> WriteRecords(ProxyFile& file, size_t total,
                               absl::StatusCode overflow_code,
                               size_t* max_rss = nullptr) {
  std::vector<bool> kept;
  std::string record;
  for (size_t i = 0; i * kRecordSize < total; ++i) {
    FillRecord(i, &record);
    uint64_t before = file.dropped_writes();
    absl::Status status = file.Write(record);
    bool dropped = file.dropped_writes() != before;
    EXPECT_TRUE(status.ok() || status.code() == overflow_code) << status;
    if (overflow_code != absl::StatusCode::kOk) {
      EXPECT_EQ(dropped, !status.ok()) << status;
    }
    kept.push_back(!dropped);
    if (max_rss != nullptr && i % 256 == 0) {
      *max_rss = std::max(*max_rss, RssBytes());
    }
  }
  return kept;
}

size_t CountKept(const std::vector<bool>& kept) {
  return std::count(kept.begin(), kept.end(), true);
}

TEST_F(BoundedQueueTest, DropKeepsMemoryBoundedAndCountsWhatIsMissing) {
  const size_t kBound = 4 * kMiB;
  UniqueFd reader;
  std::string fifo = MakeFifo("drop.fifo", &reader);
  absl::StatusOr<ProxyFile> file =
      ProxyFile::Open(fifo, Options(kBound, OverflowPolicy::kDrop));
  ASSERT_TRUE(file.ok()) << file.status();
  size_t rss_before = RssBytes();
  size_t rss_max = rss_before;
  std::vector<bool> kept =
      WriteRecords(*file, 10 * kBound, absl::StatusCode::kOk, &rss_max);
  rss_max = std::max(rss_max, RssBytes());
  std::cout << "RSS before " << rss_before << " bytes, at most " << rss_max
            << " while writing " << 10 * kBound << " bytes with a bound of "
            << kBound << ": grew by " << (rss_max - rss_before) << "\n";
  EXPECT_LT(rss_max - rss_before, kBound + 16 * kMiB);
  EXPECT_LE(file->queued_bytes(), kBound);
  size_t kept_count = CountKept(kept);
  EXPECT_GT(file->dropped_writes(), 0u);
  EXPECT_EQ(file->dropped_writes(), kept.size() - kept_count);
  EXPECT_EQ(file->dropped_bytes(), (kept.size() - kept_count) * kRecordSize);

  // Stalled: nothing new reaches the file, so WaitWritten() times out.
  absl::Status stalled =
      file->WaitWritten(absl::Now() + absl::Milliseconds(100));
  EXPECT_TRUE(absl::IsDeadlineExceeded(stalled)) << stalled;

  FifoDrain drain(reader.get(), kept_count * kRecordSize);
  EXPECT_TRUE(file->WaitWritten(absl::Now() + kDeadline).ok());
  EXPECT_TRUE(file->Close().ok());
  std::string got = drain.Join();
  // What is missing is exactly what was counted, and no record is torn.
  EXPECT_EQ(got.size() + file->dropped_bytes(), kept.size() * kRecordSize);
  EXPECT_TRUE(got == KeptRecords(kept)) << "the FIFO's content differs";
}

TEST_F(BoundedQueueTest, FailReturnsResourceExhaustedAndDropsTheWrite) {
  const size_t kBound = 256 * 1024;
  UniqueFd reader;
  std::string fifo = MakeFifo("fail.fifo", &reader);
  absl::StatusOr<ProxyFile> file =
      ProxyFile::Open(fifo, Options(kBound, OverflowPolicy::kFail));
  ASSERT_TRUE(file.ok()) << file.status();
  std::vector<bool> kept =
      WriteRecords(*file, 10 * kBound, absl::StatusCode::kResourceExhausted);
  EXPECT_LE(file->queued_bytes(), kBound);
  size_t kept_count = CountKept(kept);
  EXPECT_GT(file->dropped_writes(), 0u);
  EXPECT_EQ(file->dropped_writes(), kept.size() - kept_count);

  FifoDrain drain(reader.get());
  EXPECT_TRUE(file->WaitWritten(absl::Now() + kDeadline).ok());
  // The connection is still good: the next write goes through.
  std::string record;
  FillRecord(kept.size(), &record);
  EXPECT_TRUE(file->Write(record).ok());
  kept.push_back(true);
  drain.SetWant((kept_count + 1) * kRecordSize);
  EXPECT_TRUE(file->Close().ok());
  std::string got = drain.Join();
  EXPECT_EQ(got.size() + file->dropped_bytes(), kept.size() * kRecordSize);
  EXPECT_TRUE(got == KeptRecords(kept)) << "the FIFO's content differs";
}

TEST_F(BoundedQueueTest, BlockTimesOutWithDeadlineExceededWhileStalled) {
  const size_t kBound = 256 * 1024;
  UniqueFd reader;
  std::string fifo = MakeFifo("block.fifo", &reader);
  ProxyFileOptions options = Options(kBound, OverflowPolicy::kBlock);
  options.overflow_block_ms = 50;
  absl::StatusOr<ProxyFile> file = ProxyFile::Open(fifo, options);
  ASSERT_TRUE(file.ok()) << file.status();
  std::vector<bool> kept;
  std::string record;
  absl::Status status;
  while (status.ok()) {  // The stall ends this.
    FillRecord(kept.size(), &record);
    status = file->Write(record);
    kept.push_back(status.ok());
  }
  EXPECT_TRUE(absl::IsDeadlineExceeded(status)) << status;
  EXPECT_EQ(file->dropped_writes(), 1u);
  EXPECT_EQ(file->dropped_bytes(), kRecordSize);
  EXPECT_LE(file->queued_bytes(), kBound);

  FifoDrain drain(reader.get(), (kept.size() - 1) * kRecordSize);
  EXPECT_TRUE(file->Close().ok());
  EXPECT_TRUE(drain.Join() == KeptRecords(kept));
}

TEST_F(BoundedQueueTest, BlockWaitsForRoomAndLosesNothing) {
  const size_t kBound = 256 * 1024;
  const size_t kTotal = 10 * kBound;
  UniqueFd reader;
  std::string fifo = MakeFifo("block2.fifo", &reader);
  ProxyFileOptions options = Options(kBound, OverflowPolicy::kBlock);
  options.overflow_block_ms = kDeadlineMs;
  absl::StatusOr<ProxyFile> file = ProxyFile::Open(fifo, options);
  ASSERT_TRUE(file.ok()) << file.status();
  // Fill the pipe, the socket and the queue up to the bound.
  std::string record;
  size_t i = 0;
  for (; file->queued_bytes() + kRecordSize <= kBound; ++i) {
    FillRecord(i, &record);
    ASSERT_TRUE(file->Write(record).ok());
  }
  // From here on Write() waits for the reader.
  FifoDrain drain(reader.get());
  for (; i * kRecordSize < kTotal; ++i) {
    FillRecord(i, &record);
    ASSERT_TRUE(file->Write(record).ok());
    EXPECT_LE(file->queued_bytes(), kBound);
  }
  EXPECT_EQ(file->dropped_writes(), 0u);
  EXPECT_TRUE(file->Close().ok());
  std::vector<bool> kept(i, true);
  drain.SetWant(i * kRecordSize);
  EXPECT_TRUE(drain.Join() == KeptRecords(kept));
}

// Logger records at a known time each: "[... INFO] record 42".
class LoggerGapTest : public BoundedQueueTest {
 protected:
  static absl::Time RecordTime(size_t i) {
    return absl::FromCivil(absl::CivilSecond(2023, 7, 3, 10, 0, 0),
                           absl::UTCTimeZone()) +
           absl::Milliseconds(i);
  }
  static std::string TimeText(size_t i) {
    return absl::FormatTime("%Y-%m-%d %H:%M:%E3S", RecordTime(i),
                            absl::UTCTimeZone());
  }
};

// The file `got` must hold the kept records in order, every run of dropped
// ones replaced by one "lost" line with its count and times.
void ExpectGapsMarked(const std::string& got, const std::vector<bool>& kept,
                      const std::function<std::string(size_t)>& time_text) {
  std::vector<std::string> lines = absl::StrSplit(got, '\n');
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back(), "") << "the file must end with a whole line";
  lines.pop_back();
  const std::regex lost(
      "\\[[^\\]]* WARNING\\] offlog: (\\d+) records? lost (?:at|between) "
      "([0-9: .-]+?)(?: and ([0-9: .-]+))? \\(the client's queue was full\\)");
  size_t line = 0;
  for (size_t i = 0; i < kept.size();) {
    ASSERT_LT(line, lines.size()) << "missing from record " << i;
    if (kept[i]) {
      EXPECT_TRUE(lines[line].ends_with(absl::StrCat("] record ", i)))
          << lines[line] << " where record " << i << " belongs";
      ++line;
      ++i;
      continue;
    }
    size_t end = i;
    while (end < kept.size() && !kept[end]) ++end;
    std::smatch m;
    ASSERT_TRUE(std::regex_match(lines[line], m, lost))
        << lines[line] << " where the gap " << i << ".." << end << " belongs";
    EXPECT_EQ(m[1], absl::StrCat(end - i));
    EXPECT_EQ(m[2], time_text(i));
    if (end - i > 1) {
      EXPECT_EQ(m[3], time_text(end - 1));
    }
    ++line;
    i = end;
  }
  EXPECT_EQ(line, lines.size()) << "lines beyond the last record";
}

TEST_F(LoggerGapTest, LostLineMarksEachGapInPlace) {
  UniqueFd reader;
  LoggerOptions options;
  options.filepath = MakeFifo("logger.fifo", &reader);
  options.offlog_socket_path = server_->socket_path();
  options.offlog_timeout_ms = kDeadlineMs;
  options.offlog_max_queued_bytes = 64 * 1024;
  options.stdout_level = std::nullopt;
  options.stderr_level = std::nullopt;
  options.time_zone = absl::UTCTimeZone();
  size_t now = 0;
  options.clock = [&now] { return RecordTime(now); };
  absl::StatusOr<Logger> logger = Logger::Open(options);
  ASSERT_TRUE(logger.ok()) << logger.status();
  std::vector<bool> kept;
  auto log = [&](size_t i) {
    now = i;
    uint64_t before = logger->dropped_records();
    EXPECT_TRUE(logger->Info("record %d", i).ok());
    kept.push_back(logger->dropped_records() == before);
  };
  size_t i = 0;
  while (logger->dropped_records() < 1000) log(i++);
  // Released: the reader drains while records go on, so the queue empties
  // gradually and later records are kept.
  FifoDrain drain(reader.get());
  for (size_t end = i + 20000; i < end; ++i) log(i);
  ASSERT_TRUE(logger->WaitWritten(absl::Now() + kDeadline).ok());
  // A gap at the very end gets its line on Close().
  ASSERT_TRUE(logger->Close().ok());
  ASSERT_GT(logger->dropped_records(), 0u);
  std::string marker = absl::StrCat("] record ", i - 1, "\n");
  // The file is complete once the last record, or a final lost line, is in.
  std::string expected_end =
      kept.back() ? marker : " (the client's queue was full)\n";
  drain.SetWant(0);  // Stop once the content below is complete.
  std::string got = drain.Join();
  // SetWant(0) made Join() return what had arrived; read the rest.
  ReadFifoUntil(reader.get(), expected_end, &got);
  ExpectGapsMarked(got, kept, &TimeText);
}

TEST_F(BoundedQueueTest, GlogSinkMarksTheGap) {
  UniqueFd reader;
  std::string fifo = MakeFifo("glog.fifo", &reader);
  GlogSinkOptions options;
  options.file = Options(64 * 1024, OverflowPolicy::kDrop);
  absl::StatusOr<std::unique_ptr<GlogSink>> sink =
      GlogSink::Install(fifo, options);
  ASSERT_TRUE(sink.ok()) << sink.status();
  size_t i = 0;
  while ((*sink)->dropped_records() < 100) LOG(INFO) << "glog record " << i++;
  uint64_t dropped = (*sink)->dropped_records();
  FifoDrain drain(reader.get());
  ASSERT_TRUE((*sink)->WaitWritten(absl::Now() + kDeadline).ok());
  LOG(INFO) << "glog record " << i++;
  ASSERT_TRUE((*sink)->WaitWritten(absl::Now() + kDeadline).ok());
  ASSERT_TRUE((*sink)->Close().ok());
  EXPECT_EQ((*sink)->dropped_records(), dropped);
  drain.SetWant(0);
  std::string got = drain.Join();
  ReadFifoUntil(reader.get(), absl::StrCat("] glog record ", i - 1, "\n"),
                &got);
  std::regex lost(
      "W\\d{8} [0-9:.]+ +\\d+ glog_sink\\.cc:\\d+\\] offlog: (\\d+) records "
      "lost between [0-9: .-]+ and [0-9: .-]+ \\(the client's queue was "
      "full\\)");
  std::vector<std::string> lines = absl::StrSplit(got, '\n');
  // One run of records was dropped; its line comes right before the first
  // record kept after it.
  int lost_lines = 0;
  bool after_lost_line = false;
  size_t next = 0;
  for (const std::string& line : lines) {
    std::smatch m;
    if (std::regex_match(line, m, lost)) {
      ++lost_lines;
      after_lost_line = true;
      EXPECT_EQ(m[1], absl::StrCat(dropped));
      continue;
    }
    if (line.empty()) continue;
    size_t at = line.rfind("] glog record ");
    ASSERT_NE(at, std::string::npos) << line;
    size_t n = std::stoull(line.substr(at + 14));
    EXPECT_EQ(n != next, after_lost_line) << line;
    if (after_lost_line) {
      EXPECT_EQ(n - next, dropped) << line;
    }
    after_lost_line = false;
    next = n + 1;
  }
  EXPECT_EQ(lost_lines, 1);
  EXPECT_EQ(next, i);
}

TEST_F(BoundedQueueTest, WaitWrittenMeansTheFileHoldsTheBytes) {
  std::string path = server_->File("wait.log");
  absl::StatusOr<ProxyFile> file = ProxyFile::Open(
      path, Options(kDefaultMaxQueuedBytes, OverflowPolicy::kDrop));
  ASSERT_TRUE(file.ok()) << file.status();
  const std::string big(2 * kMiB - 1, 'b');  // More than the socket holds.
  size_t size = 0;
  int checked = 0;
  for (int i = 0; i < 1000; ++i) {
    std::string last;
    for (int j = 0; j <= i % 4; ++j) {
      last = absl::StrCat("check ", i, " write ", j, "\n");
      if (i % 100 == 99 && j == 0) last = absl::StrCat(big, "\n");
      ASSERT_TRUE(file->Write(last).ok());
      size += last.size();
    }
    ASSERT_TRUE(file->WaitWritten(absl::Now() + kDeadline).ok()) << i;
    // Right away: the size and the last bytes must be there.
    struct stat st;
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    ASSERT_EQ(static_cast<size_t>(st.st_size), size) << "check " << i;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    std::string tail(last.size(), '\0');
    ASSERT_EQ(::pread(fd.get(), tail.data(), tail.size(), size - tail.size()),
              static_cast<ssize_t>(tail.size()));
    ASSERT_TRUE(tail == last) << "check " << i;
    ++checked;
  }
  std::cout << checked << " WaitWritten() checks: the file held the bytes\n";
  // A last line without its newline is held back by --atomic-lines for up
  // to --line-hold-ms; WaitWritten() returns once it is written.
  ASSERT_TRUE(file->Write("unfinished").ok());
  ASSERT_TRUE(file->WaitWritten(absl::Now() + kDeadline).ok());
  EXPECT_TRUE(ReadFileOrEmpty(path).ends_with("\nunfinished"));
  EXPECT_TRUE(file->Close().ok());
}

TEST_F(BoundedQueueTest, WaitWrittenReturnsTheWriteErrorNeverOk) {
  // Restart with a file size limit: writes past 4 KiB fail with EFBIG.
  server_.reset();
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start({}, {.file_size = 4096});
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = *std::move(server);
  std::string path = server_->File("limited.log");
  absl::StatusOr<ProxyFile> file = ProxyFile::Open(
      path, Options(kDefaultMaxQueuedBytes, OverflowPolicy::kDrop));
  ASSERT_TRUE(file.ok()) << file.status();
  std::string record;
  for (size_t i = 0; i < 10; ++i) {
    FillRecord(i, &record);
    ASSERT_TRUE(file->Write(record).ok());
  }
  absl::Status status = file->WaitWritten(absl::Now() + kDeadline);
  EXPECT_FALSE(status.ok());
  EXPECT_FALSE(absl::IsDeadlineExceeded(status)) << status;
  EXPECT_EQ(file->WaitWritten(absl::Now() + kDeadline), status);
  EXPECT_EQ(file->Write("more\n"), status);
}

std::string TeePath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return absl::StrCat(srcdir != nullptr ? srcdir : ".",
                      "/offlog/offlog/client/offlog_tee");
}

struct TeeRun {
  int exit_code = -1;
  std::string err;
};

// Runs offlog_tee with `args`, writing `input` to its standard input (and
// closing it) while `fifo_reader` is not read, then draining the FIFO until
// offlog_tee exits; *fifo_data gets what reached the FIFO.
TeeRun RunTeeOnStalledFifo(std::vector<std::string> args,
                           const std::string& input, int fifo_reader,
                           std::string* fifo_data) {
  int in[2], err[2];
  EXPECT_EQ(::pipe2(in, O_CLOEXEC), 0);
  EXPECT_EQ(::pipe2(err, O_CLOEXEC), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  std::string binary = TeePath();
  args.insert(args.begin(), binary);
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(),
                       environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(err[1]);
  TeeRun run;
  EXPECT_EQ(rc, 0) << binary;
  if (rc == 0) {
    // Blocks until offlog_tee has read it all (but the last pipeful).
    for (absl::string_view left = input; !left.empty();) {
      ssize_t n = ::write(in[1], left.data(), left.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // offlog_tee gave up (EPIPE); its exit says why.
      left.remove_prefix(static_cast<size_t>(n));
    }
    ::close(in[1]);
    FifoDrain drain(fifo_reader);
    char buf[4096];
    ssize_t n;
    while ((n = ::read(err[0], buf, sizeof(buf))) > 0) run.err.append(buf, n);
    int status = 0;
    ::waitpid(pid, &status, 0);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    // offlog_tee exited after the server's BYE, so all it kept is in the
    // FIFO by now, but SetWant(0) stops the drain at its next check, maybe
    // before it read the last of it (up to a pipeful): read that too.
    drain.SetWant(0);
    *fifo_data = drain.Join();
    ReadFifoRest(fifo_reader, fifo_data);
  } else {
    ::close(in[1]);
  }
  ::close(err[0]);
  return run;
}

// 4,000 records through offlog_tee into a stalled FIFO with a 256 KiB
// bound and `--overflow policy`; `*input` is what it was given, `*got` what
// reached the FIFO.
TeeRun TeeRecordsWithPolicy(BoundedQueueTest& test, const std::string& name,
                            const std::string& policy, std::string* input,
                            std::string* got) {
  UniqueFd reader;
  std::string fifo = test.MakeFifo(name, &reader);
  std::string record;
  for (size_t i = 0; i < 4000; ++i) {
    FillRecord(i, &record);
    *input += record;
  }
  return RunTeeOnStalledFifo(
      {"-s", test.server_->socket_path(), "-t", absl::StrCat(kDeadlineMs),
       "--max-queued-bytes", "262144", "--overflow", policy, fifo},
      *input, reader.get(), got);
}

TEST_F(BoundedQueueTest, TeeDropsWholeLinesAndExitsThree) {
  std::string input, got, record;
  TeeRun run = TeeRecordsWithPolicy(*this, "tee.fifo", "drop", &input, &got);
  EXPECT_EQ(run.exit_code, 3) << run.err;
  std::regex report(
      "offlog_tee: (\\d+) bytes of input dropped, in \\d+ pieces, while the "
      "server did not keep up\n");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(run.err, m, report)) << run.err;
  // offlog_tee has exited after the server's BYE: everything it kept is in
  // the FIFO, which the drain read as it came.
  EXPECT_EQ(got.size() + std::stoull(m[1]), input.size());
  // Whole records, in order.
  size_t next = 0;
  for (size_t at = 0; at < got.size(); at += kRecordSize) {
    size_t i = std::stoull(got.substr(at + 1, 8));
    FillRecord(i, &record);
    ASSERT_TRUE(i >= next && got.compare(at, kRecordSize, record) == 0)
        << "torn or out of order at byte " << at;
    next = i + 1;
  }
}

TEST_F(BoundedQueueTest, TeeFailStopsWithAnError) {
  std::string input, got;
  TeeRun run =
      TeeRecordsWithPolicy(*this, "tee-fail.fifo", "fail", &input, &got);
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_TRUE(absl::StrContains(run.err, "offlog client queue full"))
      << run.err;
}

}  // namespace
}  // namespace offlog
