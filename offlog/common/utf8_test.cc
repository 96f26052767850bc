#include "offlog/common/utf8.h"

#include <string>

#include "gtest/gtest.h"

namespace offlog {
namespace {

TEST(Utf8Test, WellFormedSequencesDecode) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("/caf\xc3\xa9 \xe2\x80\xae \xf0\x9f\x98\x80"));
  Utf8Char c = DecodeUtf8("\xe2\x80\xae", 0);
  EXPECT_TRUE(c.valid);
  EXPECT_EQ(c.code_point, 0x202Eu);
  EXPECT_EQ(c.length, 3u);
  c = DecodeUtf8("\xf4\x8f\xbf\xbf", 0);  // U+10FFFF, the last code point.
  EXPECT_TRUE(c.valid);
  EXPECT_EQ(c.code_point, 0x10FFFFu);
}

TEST(Utf8Test, IllFormedSequencesAreRefusedOneByteAtATime) {
  for (const char* bad : {
           "\xe0\x80\x8a",      // Overlong newline.
           "\xc0\xaf",          // Overlong '/'.
           "\xed\xa0\x80",      // Surrogate U+D800.
           "\xf4\x90\x80\x80",  // Above U+10FFFF.
           "\xc3",              // Truncated.
           "\x80",              // Lone continuation byte.
           "\xff",
       }) {
    std::string s(bad);
    EXPECT_FALSE(IsValidUtf8(s)) << s;
    Utf8Char c = DecodeUtf8(s, 0);
    EXPECT_FALSE(c.valid) << s;
    EXPECT_EQ(c.length, 1u);
    EXPECT_EQ(c.code_point, static_cast<unsigned char>(s[0]));
  }
}

TEST(Utf8Test, AppendUtf8RoundTrips) {
  for (uint32_t cp :
       {0x0u, 0x7Fu, 0x80u, 0x7FFu, 0x800u, 0xFFFFu, 0x10000u, 0x10FFFFu}) {
    std::string s;
    AppendUtf8(cp, &s);
    Utf8Char c = DecodeUtf8(s, 0);
    EXPECT_TRUE(c.valid) << cp;
    EXPECT_EQ(c.code_point, cp);
    EXPECT_EQ(c.length, s.size());
  }
}

}  // namespace
}  // namespace offlog
