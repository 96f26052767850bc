#include "offlog/server/options.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace offlog {
namespace {

absl::StatusOr<ServerOptions> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "offlogd");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return ParseServerOptions(static_cast<int>(args.size()), argv.data());
}

TEST(ServerOptionsTest, DefaultsAreTheOriginals) {
  absl::StatusOr<ServerOptions> o = Parse({});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->socket_file, "/tmp/offlog.sock");
  EXPECT_EQ(o->rotate_check_interval_ms, 5000);
  EXPECT_FALSE(o->notify);
  EXPECT_EQ(o->logfile, "");
  EXPECT_EQ(o->prefork, 2);
  EXPECT_EQ(o->socket_mode, 0600u);
}

TEST(ServerOptionsTest, ShortAndLongSpellings) {
  absl::StatusOr<ServerOptions> s =
      Parse({"-s", "/a.sock", "-l", "/a.log", "-n", "-r", "50"});
  absl::StatusOr<ServerOptions> l =
      Parse({"--socket-file", "/a.sock", "--logfile=/a.log", "--notify",
             "--rotate-check-interval", "50"});
  for (const auto& o : {s, l}) {
    ASSERT_TRUE(o.ok()) << o.status();
    EXPECT_EQ(o->socket_file, "/a.sock");
    EXPECT_EQ(o->logfile, "/a.log");
    EXPECT_TRUE(o->notify);
    EXPECT_EQ(o->rotate_check_interval_ms, 50);
  }
}

TEST(ServerOptionsTest, OwnFlags) {
  absl::StatusOr<ServerOptions> o =
      Parse({"--prefork", "0", "--socket-mode", "660", "--socket-group", "adm",
             "--handshake-timeout-ms", "100"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->prefork, 0);
  EXPECT_EQ(o->socket_mode, 0660u);
  EXPECT_EQ(o->socket_group, "adm");
  EXPECT_EQ(o->handshake_timeout_ms, 100);
}

TEST(ServerOptionsTest, ControlSocketDefaultsNextToTheMainSocket) {
  absl::StatusOr<ServerOptions> o = Parse({"-s", "/run/x.sock"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(ControlSocketPath(*o, false), "/run/x.sock.ctl");
  EXPECT_EQ(ControlSocketPath(*o, true), "");  // Socket activation.
  o = Parse({"--control-socket", "/run/c"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(ControlSocketPath(*o, false), "/run/c");
  EXPECT_EQ(ControlSocketPath(*o, true), "/run/c");
  o = Parse({"--control-socket="});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(ControlSocketPath(*o, false), "");
}

TEST(ServerOptionsTest, BadInputIsAClearError) {
  EXPECT_EQ(Parse({"-r", "soon"}).status().message(),
            "argument -r/--rotate-check-interval: expected an integer >= 1, "
            "got 'soon'");
  EXPECT_FALSE(Parse({"--socket-mode", "9"}).ok());
  EXPECT_FALSE(Parse({"--bogus"}).ok());
  EXPECT_FALSE(Parse({"-s"}).ok());
  EXPECT_FALSE(Parse({"extra"}).ok());
  EXPECT_TRUE(Parse({"-h"})->help);
}

// nanosleep() refuses tv_nsec >= 1e9 (EINVAL), so a pause of a second or
// more would silently never happen: such values are refused here.
TEST(ServerOptionsTest, WriterStartNiceIsANiceLevelDistance) {
  absl::StatusOr<ServerOptions> o = Parse({"--writer-start-nice", "19"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->writer_start_nice, 19);
  EXPECT_EQ(Parse({}).value().writer_start_nice, 0);
  EXPECT_TRUE(Parse({"--writer-start-nice", "0"}).ok());
  EXPECT_FALSE(Parse({"--writer-start-nice", "20"}).ok());
  EXPECT_FALSE(Parse({"--writer-start-nice", "-1"}).ok());
  EXPECT_EQ(Parse({}).value().writer_start_spare_cpus, 1);
  EXPECT_EQ(
      Parse({"--writer-start-spare-cpus", "0"}).value().writer_start_spare_cpus,
      0);
  EXPECT_FALSE(Parse({"--writer-start-spare-cpus", "-1"}).ok());
}

TEST(ServerOptionsTest, CoalesceUsMustBeBelowOneSecond) {
  absl::StatusOr<ServerOptions> o = Parse({"--coalesce-us", "999999"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->coalesce_us, 999999);
  EXPECT_TRUE(Parse({"--coalesce-us", "0"}).ok());
  for (const char* bad : {"1000000", "5000000", "-1"}) {
    absl::StatusOr<ServerOptions> r = Parse({"--coalesce-us", bad});
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().message(),
              absl::StrCat("argument --coalesce-us: expected an integer from "
                           "0 to 999999, got '",
                           bad, "'"));
  }
}

}  // namespace
}  // namespace offlog
