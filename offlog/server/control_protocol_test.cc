#include "offlog/server/control_protocol.h"

#include "gtest/gtest.h"
#include "offlog/testing/safe_text.h"

namespace offlog {
namespace {

ServerSnapshot Sample() {
  ServerSnapshot s;
  s.acceptor.pid = 42;
  s.acceptor.uptime_ms = 123456;
  s.acceptor.rotate_check_interval_ms = 200;
  s.acceptor.accepted = 10;
  s.acceptor.refused = 2;
  s.acceptor.handshakes = 1;
  s.acceptor.clients = 3;
  s.acceptor.writers_busy = 2;
  s.acceptor.writers_idle = 1;
  WriterSnapshot& w = s.writers.emplace_back();
  w.pid = 43;
  w.state = "busy";
  w.path = "/var/log/a=b c\\x09.log";
  w.clients = 3;
  w.bytes_written = 1ull << 40;
  w.records_written = 7;
  w.write_errors = 1;
  w.queued_bytes = 65536;
  w.last_write_unix_ms = 1700000000123;
  w.busy_ms = 900;
  w.stalled = true;
  s.writers.emplace_back().state = "idle";
  return s;
}

TEST(ControlProtocolTest, SnapshotRoundTrips) {
  ServerSnapshot s = Sample();
  absl::StatusOr<ServerSnapshot> back = ParseSnapshot(SerializeSnapshot(s));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->acceptor.pid, 42);
  EXPECT_EQ(back->acceptor.uptime_ms, 123456);
  EXPECT_EQ(back->acceptor.rotate_check_interval_ms, 200);
  EXPECT_EQ(back->acceptor.accepted, 10u);
  EXPECT_EQ(back->acceptor.refused, 2u);
  EXPECT_EQ(back->acceptor.handshakes, 1u);
  EXPECT_EQ(back->acceptor.clients, 3u);
  EXPECT_EQ(back->acceptor.writers_busy, 2u);
  EXPECT_EQ(back->acceptor.writers_idle, 1u);
  ASSERT_EQ(back->writers.size(), 2u);
  const WriterSnapshot& w = back->writers[0];
  EXPECT_EQ(w.pid, 43);
  EXPECT_EQ(w.state, "busy");
  EXPECT_EQ(w.path, "/var/log/a=b c\\x09.log");
  EXPECT_EQ(w.clients, 3u);
  EXPECT_EQ(w.bytes_written, 1ull << 40);
  EXPECT_EQ(w.records_written, 7u);
  EXPECT_EQ(w.write_errors, 1u);
  EXPECT_EQ(w.queued_bytes, 65536u);
  EXPECT_EQ(w.last_write_unix_ms, 1700000000123);
  EXPECT_EQ(w.busy_ms, 900);
  EXPECT_TRUE(w.stalled);
  EXPECT_EQ(back->writers[1].state, "idle");
  EXPECT_EQ(back->writers[1].path, "");
}

TEST(ControlProtocolTest, UnknownRecordsAndFieldsAreIgnored) {
  absl::StatusOr<ServerSnapshot> s = ParseSnapshot(
      "acceptor\tpid=1\tnew_field=x\nfuture\tthing=1\nwriter\tpid=2\n");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->acceptor.pid, 1);
  ASSERT_EQ(s->writers.size(), 1u);
  EXPECT_EQ(s->writers[0].pid, 2);
}

TEST(ControlProtocolTest, BadInputIsAnError) {
  EXPECT_FALSE(ParseSnapshot("").ok());
  EXPECT_FALSE(ParseSnapshot("acceptor\tpid=one\n").ok());
}

TEST(ControlProtocolTest, Answers) {
  EXPECT_EQ(ParseControlAnswer("ok\nbody\n").value_or("?"), "body\n");
  absl::StatusOr<std::string> err = ParseControlAnswer("error: nope\n");
  EXPECT_FALSE(err.ok());
  EXPECT_EQ(err.status().message(), "nope");
  EXPECT_FALSE(ParseControlAnswer("HTTP/1.0 200\n").ok());
  EXPECT_FALSE(ParseControlAnswer("").ok());
}

// Whatever a snapshot holds, each writer stays one record and no raw
// control character travels.
TEST(ControlProtocolTest, RawControlsCannotBreakRecords) {
  ServerSnapshot s = Sample();
  s.writers[0].path = "/x\n\tpid=9\nwriter\tpid=7\xc2\x85\xe2\x80\xae\xff";
  s.writers[0].state = "busy\tpath=/forged";
  std::string text = SerializeSnapshot(s);
  EXPECT_EQ(testing::FirstUnsafe(text, "\t\n"), "") << text;
  absl::StatusOr<ServerSnapshot> back = ParseSnapshot(text);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->writers.size(), 2u) << text;
  EXPECT_EQ(back->writers[0].pid, 43);
  EXPECT_EQ(back->writers[0].path,
            "/x\\x0a\\x09pid=9\\x0awriter\\x09pid=7\\u0085\\u202e\\xff");
  EXPECT_EQ(back->writers[0].state, "busy\\x09path=/forged");
}

}  // namespace
}  // namespace offlog
