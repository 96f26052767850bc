// A soak run: many clients over many files for a few minutes while writers
// are killed and files rotated under them; the checker then reads every
// file back. Not part of `bazel test //...` (tagged manual):
//
//   bazel test //offlog/tests:soak_test --test_output=all \
//       --test_env=SOAK_SECONDS=120
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "offlog/testing/checker.h"
#include "offlog/testing/server_harness.h"

namespace offlog {
namespace testing {
namespace {

constexpr int kClients = 32, kFiles = 8;
constexpr size_t kRecordSize = 120;

int SoakSeconds() {
  int s = 60;
  const char* env = getenv("SOAK_SECONDS");
  if (env && absl::SimpleAtoi(env, &s) && s > 0) return s;
  return 60;
}

// Writes records until `stop`, then finishes; returns how many it wrote.
uint64_t RunClient(const ServerProcess& server, int id, const std::string& path,
                   const std::atomic<bool>& stop) {
  absl::StatusOr<UniqueFd> fd = OpenTarget(server.socket_path(), path);
  EXPECT_TRUE(fd.ok());
  if (!fd.ok()) return 0;
  uint64_t seq = 0;
  std::string batch;
  std::mt19937 rng(id);
  while (!stop.load()) {
    batch.clear();
    int n = 1 + rng() % 20;  // Records per send(), so sends vary in size.
    for (int i = 0; i < n; ++i) {
      bench::AppendRecord(id, seq++, kRecordSize, &batch);
    }
    if (absl::Status st = SendAll(fd->get(), batch); !st.ok()) {
      ADD_FAILURE() << "client " << id << ": " << st;
      return seq;
    }
    // Pacing, so that minutes of soak do not fill the disk (about 1 GB a
    // minute at this rate).
    absl::SleepFor(absl::Milliseconds(2));
  }
  EXPECT_EQ(FinishAndWaitBye(fd->get(), absl::Seconds(30)).value_or("?"),
            "BYE");
  return seq;
}

TEST(SoakTest, KillsAndRotationsLoseNothing) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start({"-r", "100", "--prefork", "4"});
  ASSERT_TRUE(server.ok()) << server.status();
  std::vector<std::string> paths;
  for (int f = 0; f < kFiles; ++f) {
    paths.push_back((*server)->File(absl::StrCat("soak", f, ".log")));
  }
  std::atomic<bool> stop{false};
  std::vector<uint64_t> written(kClients);
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      written[c] = RunClient(**server, c, paths[c % kFiles], stop);
    });
  }
  int kills = 0, rotations = 0;
  absl::Time end = absl::Now() + absl::Seconds(SoakSeconds());
  std::mt19937 rng(42);
  for (int tick = 0; absl::Now() < end; ++tick) {
    absl::SleepFor(absl::Milliseconds(500));  // The pace of the chaos.
    // Kill one path's writer every 8th tick (4 s), the paths in turn: each
    // path then loses a writer every 32 s, at most twice a minute, under
    // the acceptor's give-up threshold of three crashes a minute.
    if (tick % 8 == 0) {
      std::vector<pid_t> pids = PidsWithFileOpen(paths[(tick / 8) % kFiles]);
      if (pids.size() == 1 && kill(pids[0], SIGKILL) == 0) ++kills;
    }
    const std::string& victim = paths[rng() % kFiles];
    if (rename(victim.c_str(), absl::StrCat(victim, ".", tick).c_str()) == 0) {
      ++rotations;
    }
  }
  stop = true;
  for (std::thread& t : clients) t.join();
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator((*server)->dir())) {
    if (e.path().filename().string().rfind("soak", 0) == 0) {
      files.push_back(e.path().string());
    }
  }
  uint64_t total = 0;
  for (uint64_t w : written) total += w;
  // Each client wrote its own count; the checker expects every seq up to
  // the highest seen, and each client's count is compared below.
  bench::CheckOptions options;
  options.record_size = kRecordSize;
  options.expected_clients = kClients;
  absl::StatusOr<bench::CheckReport> report = bench::CheckFiles(files, options);
  ASSERT_TRUE(report.ok());
  uint64_t seen_total = 0;
  for (int c = 0; c < kClients; ++c) {
    const bench::ClientReport& r = report->clients[c];
    EXPECT_EQ(r.seen, written[c]) << "client " << c;
    seen_total += r.seen;
  }
  std::cout << "soak: " << SoakSeconds() << " s, " << kClients << " clients, "
            << kFiles << " files (" << files.size() << " with rotations), "
            << kills << " writers killed, " << rotations << " rotations, "
            << total << " records written\n"
            << bench::FormatSummary(*report);
  EXPECT_EQ(report->total.missing, 0u);
  EXPECT_EQ(report->total.torn, 0u);
  EXPECT_EQ(seen_total, total);
}

}  // namespace
}  // namespace testing
}  // namespace offlog
