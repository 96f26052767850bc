#include "offlog/server/line_policy.h"

#include <string>

#include "gtest/gtest.h"

namespace offlog {
namespace {

constexpr int64_t kHoldMs = 100;
constexpr size_t kReadSize = 16;

LinePolicy Policy(bool atomic_lines = true,
                  rlim_t file_size_limit = RLIM_INFINITY) {
  return LinePolicy(LinePolicy::Limits{.atomic_lines = atomic_lines,
                                       .hold_ms = kHoldMs,
                                       .read_size = kReadSize,
                                       .file_size_limit = file_size_limit});
}

TEST(LinePolicyTest, WholeLinesGoOutAtOnce) {
  LinePolicy p = Policy();
  LinePolicy::Decision d = p.Decide("a\nbb\n", false, 0, 1000);
  EXPECT_EQ(d.append, 5u);
  EXPECT_EQ(d.held_since_ms, 0);
}

TEST(LinePolicyTest, APartialLineIsHeld) {
  LinePolicy p = Policy();
  // Alone: nothing goes out, and the hold begins now.
  LinePolicy::Decision d = p.Decide("abc", false, 0, 1000);
  EXPECT_EQ(d.append, 0u);
  EXPECT_EQ(d.held_since_ms, 1000);
  // More of it, before the timeout: still held, the clock not restarted.
  d = p.Decide("abcde", false, 1000, 1050);
  EXPECT_EQ(d.append, 0u);
  EXPECT_EQ(d.held_since_ms, 1000);
  // Behind whole lines: they go out; the clock starts for the partial one.
  d = p.Decide("x\ny\nabc", false, 0, 1000);
  EXPECT_EQ(d.append, 4u);
  EXPECT_EQ(d.held_since_ms, 1000);
}

TEST(LinePolicyTest, CompletingTheHeldLineReleasesIt) {
  LinePolicy p = Policy();
  LinePolicy::Decision d = p.Decide("abc\n", false, 1000, 1020);
  EXPECT_EQ(d.append, 4u);
  EXPECT_EQ(d.held_since_ms, 0);
  // Completed with the next line begun: the clock starts again for it.
  d = p.Decide("abc\nde", false, 1000, 1020);
  EXPECT_EQ(d.append, 4u);
  EXPECT_EQ(d.held_since_ms, 1020);
}

TEST(LinePolicyTest, TheHoldTimesOut) {
  LinePolicy p = Policy();
  EXPECT_FALSE(p.HoldExpired(0, 5000));  // Nothing held.
  EXPECT_EQ(p.HoldDueMs(1000), 1000 + kHoldMs);
  EXPECT_FALSE(p.HoldExpired(1000, 1000 + kHoldMs - 1));
  EXPECT_TRUE(p.HoldExpired(1000, 1000 + kHoldMs));
  // Before the deadline the line is held; at it, it goes out.
  LinePolicy::Decision d = p.Decide("abc", false, 1000, 1000 + kHoldMs - 1);
  EXPECT_EQ(d.append, 0u);
  d = p.Decide("abc", false, 1000, 1000 + kHoldMs);
  EXPECT_EQ(d.append, 3u);
  EXPECT_EQ(d.held_since_ms, 0);
}

TEST(LinePolicyTest, AnExpiredHoldBehindWholeLinesWaitsForTheNextDecision) {
  // Whole lines ahead of it go out, and the partial line's clock restarts
  // (as the writer always did): it goes out on its own later.
  LinePolicy p = Policy();
  LinePolicy::Decision d = p.Decide("a\nbc", false, 1000, 1000 + kHoldMs);
  EXPECT_EQ(d.append, 2u);
  EXPECT_EQ(d.held_since_ms, 1000 + kHoldMs);
}

TEST(LinePolicyTest, ALineThatFillsTheBufferGoesOut) {
  LinePolicy p = Policy();
  const std::string full(kReadSize, 'x');
  LinePolicy::Decision d = p.Decide(full, false, 0, 1000);
  EXPECT_EQ(d.append, kReadSize);
  EXPECT_EQ(d.held_since_ms, 0);
  // A full buffer with a newline in it: only up to the newline.
  std::string with_nl = full;
  with_nl[3] = '\n';
  d = p.Decide(with_nl, false, 0, 1000);
  EXPECT_EQ(d.append, 4u);
  EXPECT_EQ(d.held_since_ms, 1000);
}

TEST(LinePolicyTest, AtEndThePartialLineGoesOut) {
  LinePolicy p = Policy();
  LinePolicy::Decision d = p.Decide("a\nbc", true, 0, 1000);
  EXPECT_EQ(d.append, 4u);
  EXPECT_EQ(d.held_since_ms, 0);
  d = p.Decide("bc", true, 990, 1000);
  EXPECT_EQ(d.append, 2u);
  EXPECT_EQ(d.held_since_ms, 0);
}

TEST(LinePolicyTest, WithoutAtomicLinesEverythingGoesOut) {
  LinePolicy p = Policy(/*atomic_lines=*/false, /*file_size_limit=*/10);
  LinePolicy::Decision d = p.Decide("a\nbc", false, 0, 1000);
  EXPECT_EQ(d.append, 4u);
  EXPECT_EQ(d.held_since_ms, 0);
  // And the kernel, not the policy, cuts at the file-size limit.
  EXPECT_FALSE(p.NeedsFileSize());
  LinePolicy::Fitted f = p.Fit("aaaa\nbbbb\n", 8);
  EXPECT_EQ(f.append, 10u);
  EXPECT_FALSE(f.cut);
}

TEST(LinePolicyTest, NoFileSizeLimitNoCut) {
  LinePolicy p = Policy();
  EXPECT_FALSE(p.NeedsFileSize());
  LinePolicy::Fitted f = p.Fit("aaaa\n", 1ull << 62);
  EXPECT_EQ(f.append, 5u);
  EXPECT_FALSE(f.cut);
}

TEST(LinePolicyTest, CutAfterTheLastWholeLineBelowTheFileSizeLimit) {
  LinePolicy p = Policy(true, /*file_size_limit=*/20);
  EXPECT_TRUE(p.NeedsFileSize());
  // Fits exactly.
  LinePolicy::Fitted f = p.Fit("aaaa\nbbbb\n", 10);
  EXPECT_EQ(f.append, 10u);
  EXPECT_FALSE(f.cut);
  // 8 bytes of room: only the first line.
  f = p.Fit("aaaa\nbbbb\n", 12);
  EXPECT_EQ(f.append, 5u);
  EXPECT_TRUE(f.cut);
  // Room, but not for a whole line.
  f = p.Fit("aaaa\nbbbb\n", 17);
  EXPECT_EQ(f.append, 0u);
  EXPECT_TRUE(f.cut);
  // At or past the limit already.
  f = p.Fit("a\n", 20);
  EXPECT_EQ(f.append, 0u);
  EXPECT_TRUE(f.cut);
  f = p.Fit("a\n", 25);
  EXPECT_EQ(f.append, 0u);
  EXPECT_TRUE(f.cut);
  // The size unknown (fstat failed): no cut.
  f = p.Fit("aaaa\nbbbb\n", std::nullopt);
  EXPECT_EQ(f.append, 10u);
  EXPECT_FALSE(f.cut);
}

}  // namespace
}  // namespace offlog
