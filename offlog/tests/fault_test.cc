// Faults lose nothing: each test runs the real offlogd, injects a fault, and
// ends with the record checker reading the files back.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "offlog/testing/checker.h"
#include "offlog/testing/offlogd_test.h"
#include "offlog/testing/server_harness.h"

namespace offlog {
namespace testing {
namespace {

using bench::AppendRecord;
using bench::CheckOptions;
using bench::CheckReport;

constexpr absl::Duration kDeadline = absl::Seconds(20);
constexpr size_t kRecordSize = 100;

// Sends records [from, to) of `client`, each in its own send().
absl::Status SendRecords(int fd, int client, int from, int to) {
  std::string rec;
  for (int seq = from; seq < to; ++seq) {
    rec.clear();
    AppendRecord(client, seq, kRecordSize, &rec);
    if (absl::Status s = SendAll(fd, rec); !s.ok()) return s;
  }
  return absl::OkStatus();
}

CheckReport Check(const std::vector<std::string>& files, int clients,
                  int records) {
  CheckOptions o;
  o.record_size = kRecordSize;
  o.expected_records = records;
  o.expected_clients = clients;
  absl::StatusOr<CheckReport> r = bench::CheckFiles(files, o);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return {};
  std::cout << bench::FormatSummary(*r);
  return *r;
}

// The one process other than the test that has `path` open: its writer.
pid_t WriterOf(const std::string& path) {
  pid_t writer = 0;
  absl::Status s = WaitUntil(
      [&] {
        std::vector<pid_t> pids = PidsWithFileOpen(path);
        writer = pids.size() == 1 ? pids[0] : 0;
        return writer != 0;
      },
      kDeadline, "a writer holding the file");
  EXPECT_TRUE(s.ok()) << s;
  return writer;
}

off_t SizeOf(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

TEST(FaultTest, WriterKilledMidStreamLosesNothing) {
  auto server = MustStart({});
  ASSERT_TRUE(server);
  constexpr int kClients = 4, kRecords = 20000;
  std::string path = server->File("crash.log");
  std::vector<UniqueFd> fds;
  for (int c = 0; c < kClients; ++c) fds.push_back(MustOpen(*server, path));
  pid_t first = WriterOf(path);
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      EXPECT_TRUE(SendRecords(fds[c].get(), c, 0, kRecords).ok());
      EXPECT_EQ(FinishAndWaitBye(fds[c].get(), kDeadline).value_or("?"), "BYE");
    });
  }
  ASSERT_TRUE(WaitUntil([&] { return SizeOf(path) > 200 * 1000; }, kDeadline,
                        "data flowing")
                  .ok());
  ASSERT_EQ(kill(first, SIGKILL), 0);
  for (std::thread& t : threads) t.join();
  EXPECT_TRUE(server->WaitForLog("died (killed by signal 9)", kDeadline).ok());
  CheckReport r = Check({path}, kClients, kRecords);
  EXPECT_EQ(r.total.missing, 0u);
  // A SIGKILL that lands inside write() stops it between pages: the start
  // of a record may be left, which the next writer ends with a newline
  // before it writes that record again, whole (kAssignWriteCut).
  EXPECT_LE(r.total.torn, 1u);
  // A batch is at most one 64 KiB read, so at most 656 records repeat.
  EXPECT_LE(r.total.duplicated, 64u * 1024 / kRecordSize + 1);
}

// A writer killed between system calls left the file as it wrote it, a
// line that --line-hold-ms let out unfinished included: the writer its
// client is re-passed to must not end that line (only a writer killed
// inside open() or write() may have left part of a line, which the next
// one ends: kAssignWriteCut). Without the distinction, "abc" and "def"
// came out on two lines.
TEST(FaultTest, WriterKilledBetweenWritesLeavesAHeldLineWhole) {
  auto server = MustStart({"--line-hold-ms=10"});
  ASSERT_TRUE(server);
  std::string path = server->File("held.log");
  UniqueFd client = MustOpen(*server, path);
  ASSERT_TRUE(client.valid());
  ASSERT_TRUE(SendAll(client.get(), "first line\nabc").ok());
  ASSERT_TRUE(
      WaitUntil([&] { return ReadFileOrEmpty(path) == "first line\nabc"; },
                kDeadline, "the held line let out unfinished")
          .ok());
  pid_t first = WriterOf(path);
  ASSERT_EQ(kill(first, SIGKILL), 0);
  ASSERT_TRUE(server->WaitForLog("died (killed by signal 9)", kDeadline).ok());
  ASSERT_TRUE(SendAll(client.get(), "def\n").ok());
  EXPECT_EQ(FinishAndWaitBye(client.get(), kDeadline).value_or("?"), "BYE");
  EXPECT_EQ(ReadFileOrEmpty(path), "first line\nabcdef\n");
  EXPECT_FALSE(absl::StrContains(server->Log(), "left unfinished"));
}

TEST(FaultTest, WriterThatKeepsCrashingIsGivenUpOthersCarryOn) {
  auto server = MustStart({});
  ASSERT_TRUE(server);
  std::string doomed = server->File("doomed.log");
  std::string healthy = server->File("healthy.log");
  UniqueFd victim = MustOpen(*server, doomed);
  UniqueFd other = MustOpen(*server, healthy);
  ASSERT_TRUE(SendRecords(other.get(), 0, 0, 100).ok());
  for (int i = 0; i < 3; ++i) {
    pid_t w = WriterOf(doomed);
    ASSERT_GT(w, 0);
    ASSERT_EQ(kill(w, SIGKILL), 0);
    // Wait for the acceptor to notice before killing its replacement.
    ASSERT_TRUE(WaitUntil(
                    [&] {
                      return absl::StrContains(
                          server->Log(), absl::StrCat("Writer ", w, " for"));
                    },
                    kDeadline, "crash noticed")
                    .ok());
  }
  // Each replacement writer said OK again (clients ignore a repeated OK);
  // then the acceptor gave up on the path.
  absl::StatusOr<std::string> msg;
  do {
    msg = ReadMessage(victim.get(), kDeadline);
  } while (msg.ok() && *msg == "OK");
  EXPECT_EQ(msg.value_or("?"),
            "OSError: offlog writer for this file crashed repeatedly");
  ASSERT_TRUE(SendRecords(other.get(), 0, 100, 200).ok());
  EXPECT_EQ(FinishAndWaitBye(other.get(), kDeadline).value_or("?"), "BYE");
  CheckReport r = Check({healthy}, 1, 200);
  EXPECT_TRUE(r.clean());
}

TEST(FaultTest, ShutdownWithAStalledFileIsBoundedAndDrainsTheRest) {
  auto server = MustStart({"--shutdown-timeout-ms", "500"});
  ASSERT_TRUE(server);
  std::string fifo = server->File("stalled.fifo");
  absl::StatusOr<StalledTarget> stalled = StallOn(server->socket_path(), fifo);
  ASSERT_TRUE(stalled.ok()) << stalled.status();
  std::string path = server->File("drained.log");
  UniqueFd healthy = MustOpen(*server, path);
  ASSERT_TRUE(SendRecords(healthy.get(), 0, 0, 5000).ok());
  absl::Time t0 = absl::Now();
  ASSERT_TRUE(server->Signal(SIGTERM).ok());
  absl::StatusOr<int> status = server->Wait(kDeadline);
  ASSERT_TRUE(status.ok());
  std::cout << "shutdown took " << absl::Now() - t0 << "\n";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  EXPECT_TRUE(absl::StrContains(server->Log(), "bytes unwritten"))
      << server->Log();
  EXPECT_EQ(ReadMessage(healthy.get(), kDeadline).value_or("?"),
            "OSError: offlog server exited");
  EXPECT_TRUE(Check({path}, 1, 5000).clean());
}

// A client that ignores ROTATED (as offlog 0.1 clients and offlog_tee do)
// writes on while its file is rotated under it; `rotate` is the rotation.
void RotateUnderAWritingClient(
    const std::function<void(const std::string& path)>& rotate,
    const std::function<std::vector<std::string>(const std::string&)>& files) {
  auto server = MustStart({"-r", "20"});
  ASSERT_TRUE(server);
  std::string path = server->File("app.log");
  UniqueFd fd = MustOpen(*server, path);
  ASSERT_TRUE(SendRecords(fd.get(), 0, 0, 1000).ok());
  ASSERT_TRUE(WaitUntil([&] { return SizeOf(path) == 1000 * kRecordSize; },
                        kDeadline, "first half written")
                  .ok());
  rotate(path);
  EXPECT_EQ(ReadMessage(fd.get(), kDeadline).value_or("?"), "ROTATED");
  ASSERT_TRUE(SendRecords(fd.get(), 0, 1000, 2000).ok());
  EXPECT_EQ(FinishAndWaitBye(fd.get(), kDeadline).value_or("?"), "BYE");
  CheckReport r = Check(files(path), 1, 2000);
  EXPECT_TRUE(r.clean());
  // The second half went to the file now at the path, not the rotated one.
  EXPECT_EQ(SizeOf(path), 1000 * static_cast<off_t>(kRecordSize));
}

TEST(FaultTest, RotationCreateModeFollowsTheNewFile) {
  RotateUnderAWritingClient(
      [](const std::string& path) {
        ASSERT_EQ(rename(path.c_str(), (path + ".1").c_str()), 0);
        UniqueFd created(open(path.c_str(), O_WRONLY | O_CREAT, 0644));
      },
      [](const std::string& path) {
        return std::vector<std::string>{path + ".1", path};
      });
}

TEST(FaultTest, RotationByDeletionFollowsTheNewFile) {
  // The deleted file's content stays readable through this descriptor.
  auto kept = std::make_shared<std::string>();
  RotateUnderAWritingClient(
      [kept](const std::string& path) {
        *kept = ReadFileOrEmpty(path);
        ASSERT_EQ(unlink(path.c_str()), 0);
      },
      [kept](const std::string& path) {
        std::string old = path + ".deleted";
        UniqueFd out(open(old.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
        EXPECT_EQ(write(out.get(), kept->data(), kept->size()),
                  static_cast<ssize_t>(kept->size()));
        return std::vector<std::string>{old, path};
      });
}

TEST(FaultTest, CopytruncateKeepsAppending) {
  auto server = MustStart({"-r", "20"});
  ASSERT_TRUE(server);
  std::string path = server->File("ct.log");
  UniqueFd fd = MustOpen(*server, path);
  ASSERT_TRUE(SendRecords(fd.get(), 0, 0, 1000).ok());
  ASSERT_TRUE(WaitUntil([&] { return SizeOf(path) == 1000 * kRecordSize; },
                        kDeadline, "first half written")
                  .ok());
  std::filesystem::copy_file(path, path + ".1");
  ASSERT_EQ(truncate(path.c_str(), 0), 0);
  ASSERT_TRUE(SendRecords(fd.get(), 0, 1000, 2000).ok());
  EXPECT_EQ(FinishAndWaitBye(fd.get(), kDeadline).value_or("?"), "BYE");
  EXPECT_TRUE(Check({path + ".1", path}, 1, 2000).clean());
  // O_APPEND: the writer continued at the new end, leaving no hole.
  EXPECT_EQ(SizeOf(path), 1000 * static_cast<off_t>(kRecordSize));
}

TEST(FaultTest, FullDiskReachesTheClientAndSparesOthers) {
  auto server = MustStart({});
  ASSERT_TRUE(server);
  std::string other = server->File("fine.log");
  UniqueFd ok = MustOpen(*server, other);
  UniqueFd full = MustOpen(*server, "/dev/full");
  ASSERT_TRUE(SendAll(full.get(), "no room\n").ok());
  EXPECT_EQ(ReadMessage(full.get(), kDeadline).value_or("?"),
            "OSError: [Errno 28] No space left on device");
  ASSERT_TRUE(SendRecords(ok.get(), 0, 0, 1000).ok());
  EXPECT_EQ(FinishAndWaitBye(ok.get(), kDeadline).value_or("?"), "BYE");
  EXPECT_TRUE(Check({other}, 1, 1000).clean());
}

TEST(FaultTest, FileSizeLimitReachesTheClientAndTheWriterSurvives) {
  auto server = MustStart({}, ServerLimits{.file_size = 100 * 1000});
  ASSERT_TRUE(server);
  std::string path = server->File("big.log");
  UniqueFd a = MustOpen(*server, path);
  UniqueFd b = MustOpen(*server, path);
  pid_t writer = WriterOf(path);
  ASSERT_TRUE(SendRecords(a.get(), 0, 0, 999).ok());  // 99,900 bytes.
  ASSERT_TRUE(SendAll(a.get(), std::string(1000, 'y') + "\n").ok());
  EXPECT_EQ(ReadMessage(a.get(), kDeadline).value_or("?"),
            "OSError: [Errno 27] File too large");
  // The same writer (SIGXFSZ did not kill it) still serves the other client.
  EXPECT_EQ(WriterOf(path), writer);
  EXPECT_EQ(FinishAndWaitBye(b.get(), kDeadline).value_or("?"), "BYE");
  // The whole lines below the limit are written; the line that would cross
  // it is refused whole, so no line is torn.
  EXPECT_TRUE(Check({path}, 1, 999).clean());
  EXPECT_EQ(SizeOf(path), 999 * static_cast<off_t>(kRecordSize));
}

TEST(FaultTest, AStalledFileIsNamedInTheLog) {
  auto server = MustStart({"-r", "100"});
  ASSERT_TRUE(server);
  std::string fifo = server->File("slow.fifo");
  absl::StatusOr<StalledTarget> stalled = StallOn(server->socket_path(), fifo);
  ASSERT_TRUE(stalled.ok()) << stalled.status();
  EXPECT_TRUE(
      server->WaitForLog(absl::StrCat("for ", fifo, " is stalled"), kDeadline)
          .ok());
  char buf[65536];
  // Draining the FIFO lets the writer go on; the log says so.
  absl::Status recovered = WaitUntil(
      [&] {
        while (read(stalled->reader.get(), buf, sizeof(buf)) > 0) {
        }
        return absl::StrContains(server->Log(), "is no longer stalled");
      },
      kDeadline, "recovery logged");
  EXPECT_TRUE(recovered.ok()) << server->Log();
}

// Client A leaves a line unfinished; client B appends a whole line; then A
// finishes its line. With --atomic-lines the file holds both lines whole.
std::string InterleavedPartialLine(std::vector<std::string> args) {
  auto server = MustStart(std::move(args));
  if (!server) return "";
  std::string path = server->File("lines.log");
  UniqueFd a = MustOpen(*server, path);
  UniqueFd b = MustOpen(*server, path);
  EXPECT_TRUE(SendAll(a.get(), "A begins ").ok());
  // Without --atomic-lines the fragment reaches the file at once; wait for
  // it so that the outcome does not depend on timing. With it, the writer
  // holds it back and the file stays empty.
  absl::Status seen = WaitUntil([&] { return SizeOf(path) > 0; },
                                absl::Milliseconds(300), "fragment written");
  EXPECT_TRUE(SendAll(b.get(), "B whole line\n").ok());
  EXPECT_EQ(FinishAndWaitBye(b.get(), kDeadline).value_or("?"), "BYE");
  EXPECT_TRUE(SendAll(a.get(), "and ends\n").ok());
  EXPECT_EQ(FinishAndWaitBye(a.get(), kDeadline).value_or("?"), "BYE");
  (void)seen;
  return ReadFileOrEmpty(path);
}

TEST(FaultTest, AtomicLinesKeepLinesOfClientsApart) {
  EXPECT_EQ(InterleavedPartialLine({"--line-hold-ms", "60000"}),
            "B whole line\nA begins and ends\n");
}

TEST(FaultTest, WithoutAtomicLinesTheyTear) {
  // The control for the test above: the defence is what makes it pass.
  EXPECT_EQ(InterleavedPartialLine({"--no-atomic-lines"}),
            "A begins B whole line\nand ends\n");
}

TEST(FaultTest, AtomicLinesFlushAHeldLineAfterTheHoldTime) {
  auto server = MustStart({"--line-hold-ms", "50"});
  ASSERT_TRUE(server);
  std::string path = server->File("held.log");
  UniqueFd a = MustOpen(*server, path);
  ASSERT_TRUE(SendAll(a.get(), "no newline yet").ok());
  EXPECT_TRUE(WaitUntil([&] { return SizeOf(path) == 14; }, kDeadline,
                        "held line flushed")
                  .ok());
  EXPECT_EQ(FinishAndWaitBye(a.get(), kDeadline).value_or("?"), "BYE");
}

TEST(FaultTest, AtomicLinesDrainAFullSocketWithoutWaiting) {
  // 64 KiB reads end inside a 100-byte line; the rest of that line is
  // already in the socket, and the client, blocked on its full socket,
  // sends no new data to wake the writer. The writer must read on rather
  // than hold the line for --line-hold-ms (here a minute: past the test's
  // deadline).
  auto server = MustStart({"--line-hold-ms", "60000"});
  ASSERT_TRUE(server);
  std::string path = server->File("full.log");
  UniqueFd fd = MustOpen(*server, path);
  std::string batch;
  for (int seq = 0; seq < 20000; ++seq) {
    AppendRecord(0, seq, kRecordSize, &batch);
  }
  // Without the fix the send blocks: bound it, so the test fails instead.
  timeval limit = {10, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
  ASSERT_TRUE(SendAll(fd.get(), batch).ok());  // 2 MB in one send().
  EXPECT_EQ(FinishAndWaitBye(fd.get(), kDeadline).value_or("?"), "BYE");
  EXPECT_TRUE(Check({path}, 1, 20000).clean());
}

TEST(FaultTest, ManyClientsSendingLinesInPiecesNeverTear) {
  auto server = MustStart({"--line-hold-ms", "60000"});
  ASSERT_TRUE(server);
  constexpr int kClients = 8, kRecords = 2000;
  std::string path = server->File("pieces.log");
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      UniqueFd fd = MustOpen(*server, path);
      std::string rec;
      for (int seq = 0; seq < kRecords; ++seq) {
        rec.clear();
        AppendRecord(c, seq, kRecordSize, &rec);
        // Three sends per record: every record arrives in pieces.
        absl::string_view r(rec);
        EXPECT_TRUE(SendAll(fd.get(), r.substr(0, 7)).ok());
        EXPECT_TRUE(SendAll(fd.get(), r.substr(7, 50)).ok());
        EXPECT_TRUE(SendAll(fd.get(), r.substr(57)).ok());
      }
      EXPECT_EQ(FinishAndWaitBye(fd.get(), kDeadline).value_or("?"), "BYE");
    });
  }
  for (std::thread& t : threads) t.join();
  CheckReport r = Check({path}, kClients, kRecords);
  EXPECT_TRUE(r.clean());
}

}  // namespace
}  // namespace testing
}  // namespace offlog
