// A process that logs a FATAL record through GlogSink and aborts: the record
// must be in the file when it has died, every time.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "offlog/testing/server_harness.h"

extern char** environ;

namespace offlog {
namespace {

using ::offlog::testing::ReadFileOrEmpty;
using ::offlog::testing::ServerProcess;

constexpr int kRuns = 100;

std::string HelperPath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return absl::StrCat(srcdir != nullptr ? srcdir : ".",
                      "/offlog/offlog/client/glog_fatal_helper");
}

// Runs the helper to its death; returns its wait status, -1 if it did not
// start.
int RunHelper(const std::string& socket, const std::string& path,
              const std::string& tag) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // glog's own FATAL output and stack trace are noise here.
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  std::string binary = HelperPath();
  std::vector<std::string> args = {binary, socket, path, tag};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(),
                       environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return status;
}

TEST(GlogFatalTest, FatalRecordIsInTheFileWhenTheProcessDies) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  int in_file = 0;
  for (int i = 0; i < kRuns; ++i) {
    std::string tag = absl::StrCat("run-", i);
    std::string path = (*server)->File(absl::StrCat(tag, ".log"));
    int status = RunHelper((*server)->socket_path(), path, tag);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT)
        << "run " << i << ": wait status " << status;
    // Read at once: the helper is dead, nothing may still be on its way.
    std::string content = ReadFileOrEmpty(path);
    // The whole FATAL line, "F20231130 13:12:30.802011  12
    // glog_fatal_helper.cc:41] fatal run-7", last in the file.
    size_t start =
        content.rfind('\n', content.size() < 2 ? 0 : content.size() - 2);
    start = start == std::string::npos ? 0 : start + 1;
    absl::string_view last = absl::string_view(content).substr(start);
    bool found = absl::StartsWith(last, "F") &&
                 absl::StrContains(last, " glog_fatal_helper.cc:") &&
                 absl::EndsWith(last, absl::StrCat("] fatal ", tag, "\n"));
    EXPECT_TRUE(found) << "run " << i << ", last line: " << last;
    in_file += found;
    std::remove(path.c_str());  // 1 MiB each.
  }
  std::cout << "FATAL record in the file after " << in_file << " of " << kRuns
            << " runs\n";
  EXPECT_EQ(in_file, kRuns);
}

}  // namespace
}  // namespace offlog
