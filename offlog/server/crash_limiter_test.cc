#include "offlog/server/crash_limiter.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace offlog {
namespace {

TEST(CrashLimiterTest, GivesUpOnTheThirdCrashWithinTheWindow) {
  CrashLimiter c;
  EXPECT_FALSE(c.RecordCrash("/a", 1000));
  EXPECT_FALSE(c.RecordCrash("/a", 2000));
  EXPECT_TRUE(c.RecordCrash("/a", 3000));
  // The key starts afresh after giving up.
  EXPECT_FALSE(c.RecordCrash("/a", 4000));
}

TEST(CrashLimiterTest, CrashesOutsideTheWindowDoNotCount) {
  CrashLimiter c;
  constexpr int64_t kW = CrashLimiter::kWindowMs;
  EXPECT_FALSE(c.RecordCrash("/a", 0));
  EXPECT_FALSE(c.RecordCrash("/a", kW / 2));
  EXPECT_FALSE(c.RecordCrash("/a", kW + 1));  // The first has expired.
  EXPECT_TRUE(c.RecordCrash("/a", kW + 2));
}

TEST(CrashLimiterTest, KeysAreIndependent) {
  CrashLimiter c;
  EXPECT_FALSE(c.RecordCrash("/a", 1));
  EXPECT_FALSE(c.RecordCrash("/b", 2));
  EXPECT_FALSE(c.RecordCrash("/a", 3));
  EXPECT_FALSE(c.RecordCrash("/b", 4));
  EXPECT_TRUE(c.RecordCrash("/a", 5));
  EXPECT_EQ(c.size(), 1u);
}

TEST(CrashLimiterTest, ForgetsKeysAfterTheWindow) {
  CrashLimiter c;
  for (int i = 0; i < 100; ++i) c.RecordCrash(absl::StrCat("/k", i), i);
  EXPECT_EQ(c.size(), 100u);
  c.RecordCrash("/late", 200 + CrashLimiter::kWindowMs);
  EXPECT_EQ(c.size(), 1u);
}

TEST(CrashLimiterTest, MemoryIsBoundedWhateverTheKeys) {
  CrashLimiter c;
  for (int i = 0; i < 100000; ++i) {
    c.RecordCrash(absl::StrCat("/crash/loop/", i, std::string(4000, 'x')), i);
    ASSERT_LE(c.size(), CrashLimiter::kMaxKeys);
  }
  EXPECT_EQ(c.size(), CrashLimiter::kMaxKeys);
}

}  // namespace
}  // namespace offlog
