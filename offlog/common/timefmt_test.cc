#include "offlog/common/timefmt.h"

#include "gtest/gtest.h"

namespace offlog {
namespace {

absl::Time At(int y, int mo, int d, int h, int mi, int s, int us) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s),
                         absl::UTCTimeZone()) +
         absl::Microseconds(us);
}

TEST(FormatRecordTimeTest, MillisecondsLikeTheOriginal) {
  EXPECT_EQ(
      FormatRecordTime(At(2023, 7, 3, 10, 12, 54, 796123), absl::UTCTimeZone()),
      "2023-07-03 10:12:54.796");
  EXPECT_EQ(
      FormatRecordTime(At(2023, 7, 3, 10, 12, 54, 999), absl::UTCTimeZone()),
      "2023-07-03 10:12:54.000");
}

TEST(FormatRecordTimeTest, WholeSecondKeepsPythonsQuirk) {
  // isoformat() drops ".000000" and the original then cuts ":54".
  EXPECT_EQ(
      FormatRecordTime(At(2023, 7, 3, 10, 12, 54, 0), absl::UTCTimeZone()),
      "2023-07-03 10:12");
}

TEST(FormatRecordPrefixTest, WithAndWithoutName) {
  absl::Time t = At(2023, 7, 3, 10, 12, 54, 796000);
  EXPECT_EQ(FormatRecordPrefix(t, absl::UTCTimeZone(), "my app", "INFO"),
            "[2023-07-03 10:12:54.796 my app INFO] ");
  EXPECT_EQ(FormatRecordPrefix(t, absl::UTCTimeZone(), "", "INFO"),
            "[2023-07-03 10:12:54.796 INFO] ");
}

}  // namespace
}  // namespace offlog
