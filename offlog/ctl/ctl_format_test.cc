#include "offlog/ctl/ctl_format.h"

#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "offlog/testing/safe_text.h"

namespace offlog {
namespace {

ServerSnapshot Sample() {
  ServerSnapshot s;
  s.acceptor.pid = 42;
  s.acceptor.uptime_ms = 3723000;
  s.acceptor.rotate_check_interval_ms = 5000;
  s.acceptor.accepted = 10;
  s.acceptor.refused = 2;
  s.acceptor.clients = 3;
  s.acceptor.writers_busy = 2;
  s.acceptor.writers_idle = 1;
  WriterSnapshot& a = s.writers.emplace_back();
  a.pid = 43;
  a.state = "busy";
  a.path = "/var/log/app.log";
  a.clients = 2;
  a.bytes_written = 1536;
  a.records_written = 12;
  a.last_write_unix_ms = 1000000 - 1500;
  WriterSnapshot& b = s.writers.emplace_back();
  b.pid = 44;
  b.state = "busy";
  b.path = "/nfs/\"q\"\\x0a.log";
  b.clients = 1;
  b.queued_bytes = 65536;
  b.busy_ms = 12000;
  b.stalled = true;
  s.writers.emplace_back().state = "idle";
  return s;
}

TEST(CtlFormatTest, HumanUnits) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(1023), "1023 B");
  EXPECT_EQ(HumanBytes(1536), "1.5 KiB");
  EXPECT_EQ(HumanBytes(3ull << 30), "3.0 GiB");
  EXPECT_EQ(HumanDuration(350), "350ms");
  EXPECT_EQ(HumanDuration(4200), "4.2s");
  EXPECT_EQ(HumanDuration(185000), "3m05s");
  EXPECT_EQ(HumanDuration(3723000), "1h02m");
  EXPECT_EQ(HumanDuration(2 * 86400000 + 3600000), "2d01h");
}

TEST(CtlFormatTest, TableHasAlignedColumnsAndOneRowPerOpenFile) {
  std::string table = FormatStatusTable(Sample(), 1000000);
  std::vector<std::string> lines = absl::StrSplit(table, '\n');
  ASSERT_GE(lines.size(), 4u) << table;
  EXPECT_TRUE(absl::StartsWith(lines[0], "PATH")) << table;
  // Each header starts where its column's values start.
  size_t stalled = lines[0].find("STALLED");
  size_t queued = lines[0].find("QUEUED");
  ASSERT_NE(stalled, std::string::npos);
  EXPECT_EQ(lines[1].substr(stalled), "no") << table;
  EXPECT_EQ(lines[2].substr(stalled), "yes (12.0s)") << table;
  EXPECT_TRUE(absl::StartsWith(lines[2].substr(queued), "64.0 KiB")) << table;
  EXPECT_TRUE(absl::StrContains(lines[1], "1.5s ago")) << table;
  EXPECT_TRUE(absl::StrContains(lines[2], "never")) << table;
  EXPECT_TRUE(absl::StrContains(table, "3 connected")) << table;
  EXPECT_TRUE(absl::StrContains(table, "2 busy, 1 idle")) << table;
  EXPECT_TRUE(absl::StrContains(table, "up 1h02m")) << table;
}

TEST(CtlFormatTest, JsonEscapesPaths) {
  std::string json = FormatStatusJson(Sample());
  EXPECT_TRUE(absl::StrContains(json, R"("path": "/nfs/\"q\"\\x0a.log")"))
      << json;
  EXPECT_TRUE(absl::StrContains(json, R"("stalled": true)")) << json;
  EXPECT_TRUE(absl::StrContains(json, R"("accepted": 10)")) << json;
}

TEST(CtlFormatTest, MetricsAreTextExposition) {
  std::string m = FormatMetrics(Sample());
  EXPECT_TRUE(absl::StrContains(m,
                                "# TYPE offlog_clients_accepted_total "
                                "counter\nofflog_clients_accepted_total 10\n"))
      << m;
  EXPECT_TRUE(absl::StrContains(m,
                                "offlog_writer_stalled{path=\"/nfs/"
                                "\\\"q\\\"\\\\x0a.log\",pid=\"44\"} 1\n"))
      << m;
  EXPECT_TRUE(absl::StrContains(
      m,
      "offlog_writer_last_write_timestamp_seconds{path=\"/var/log/app.log\","
      "pid=\"43\"} 998.500\n"))
      << m;
  EXPECT_TRUE(absl::StrContains(m, "offlog_uptime_seconds 3723.000\n")) << m;
  EXPECT_FALSE(absl::StrContains(m, "pid=\"0\""))
      << "idle writers have no series";
}

// A path as a server that does not escape (or a hostile one) might send:
// C0, C1 and bidi controls, an overlong newline, a surrogate, a byte that
// is not UTF-8. No rendering may pass any of them through raw, nor break a
// line or a record.
TEST(CtlFormatTest, RawControlsInPathsAreEscapedEverywhere) {
  ServerSnapshot hostile = Sample();
  hostile.writers[0].path =
      "/x\n\x1b[2J\xc2\x85\xc2\x9b"
      "31m\xe2\x80\xae\xe0\x80\x8a\xed\xa0\x80\xff";
  hostile.writers[0].state = "busy\r\xc2\x9b";
  ServerSnapshot benign = Sample();
  benign.writers[0].path = "/x";
  for (auto render :
       {+[](const ServerSnapshot& s) { return FormatStatusTable(s, 1000000); },
        +[](const ServerSnapshot& s) { return FormatStatusJson(s); },
        +[](const ServerSnapshot& s) { return FormatMetrics(s); }}) {
    std::string out = render(hostile);
    std::string benign_out = render(benign);
    EXPECT_EQ(testing::FirstUnsafe(out, "\n"), "") << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'),
              std::count(benign_out.begin(), benign_out.end(), '\n'))
        << out;
    EXPECT_TRUE(absl::StrContains(out, "u0085")) << out;
    EXPECT_TRUE(absl::StrContains(out, "u202e")) << out;
  }
}

// What offlogd sends is already escaped: it is shown as it is.
TEST(CtlFormatTest, EscapedPathsAreShownUnchanged) {
  std::string table = FormatStatusTable(Sample(), 1000000);
  EXPECT_TRUE(absl::StrContains(table, "/nfs/\"q\"\\x0a.log")) << table;
}

}  // namespace
}  // namespace offlog
