#include "offlog/server/server_log.h"

#include <string>

#include "gtest/gtest.h"
#include "offlog/common/utf8.h"

namespace offlog {
namespace {

TEST(EscapeForLogTest, ControlCharactersCannotForgeRecords) {
  EXPECT_EQ(EscapeForLog("/tmp/a.log"), "/tmp/a.log");
  EXPECT_EQ(EscapeForLog("/x\n[2023-07-03 10:12:21.895 offlog INFO] fake"),
            "/x\\x0a[2023-07-03 10:12:21.895 offlog INFO] fake");
  EXPECT_EQ(EscapeForLog("/a\tb\x1b[31m\x7f"), "/a\\x09b\\x1b[31m\\x7f");
  EXPECT_EQ(EscapeForLog("/back\\slash"), "/back\\x5cslash");
}

TEST(EscapeForLogTest, Utf8StaysAndOtherBytesAreEscaped) {
  EXPECT_EQ(EscapeForLog("/caf\xc3\xa9"), "/caf\xc3\xa9");
  EXPECT_EQ(EscapeForLog("/caf\xe9"), "/caf\\xe9");
  EXPECT_EQ(EscapeForLog("/\xc3"), "/\\xc3");
}

// The inputs of issue 11: each passed the old lead-byte check unescaped.
TEST(EscapeForLogTest, IllFormedUtf8IsEscapedBytewise) {
  EXPECT_EQ(EscapeForLog("/a\xe0\x80\x8a"),
            "/a\\xe0\\x80\\x8a");                                // Overlong \n.
  EXPECT_EQ(EscapeForLog("/\xed\xa0\x80"), "/\\xed\\xa0\\x80");  // Surrogate.
  EXPECT_EQ(EscapeForLog("/\xf4\x90\x80\x80"),  // Above U+10FFFF.
            "/\\xf4\\x90\\x80\\x80");
}

TEST(EscapeForLogTest, C1AndBidiControlsAreEscapedAsCodePoints) {
  EXPECT_EQ(EscapeForLog("/a\xc2\x85"
                         "b"),
            "/a\\u0085b");  // NEL.
  EXPECT_EQ(EscapeForLog("/\xc2\x9b"
                         "31m"),
            "/\\u009b31m");  // 8-bit CSI.
  EXPECT_EQ(EscapeForLog("/gol.\xe2\x80\xae"
                         "exe"),
            "/gol.\\u202eexe");  // RLO.
  EXPECT_EQ(EscapeForLog("\xe2\x80\x8e\xe2\x80\x8f\xe2\x80\xa8\xe2\x80\xa9"
                         "\xe2\x81\xa6\xe2\x81\xa9\xef\xbb\xbf\xd8\x9c"),
            "\\u200e\\u200f\\u2028\\u2029\\u2066\\u2069\\ufeff\\u061c");
  // Other non-ASCII text stays as it is.
  EXPECT_EQ(EscapeForLog("/\xc2\xa0\xe2\x82\xac\xf0\x9f\x98\x80"),
            "/\xc2\xa0\xe2\x82\xac\xf0\x9f\x98\x80");
}

TEST(EscapeForLogTest, OutputIsValidUtf8WithoutControls) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  all += "\xe0\x80\x8a\xc2\x85\xc2\x9b\xe2\x80\xae\xed\xa0\x80\xf4\x90\x80\x80";
  std::string out = EscapeForLog(all);
  EXPECT_TRUE(IsValidUtf8(out)) << out;
  for (char c : out) {
    unsigned char u = static_cast<unsigned char>(c);
    EXPECT_FALSE(u < 0x20 || u == 0x7F) << out;
  }
  EXPECT_EQ(out.find("\xc2\x85"), std::string::npos);
  EXPECT_EQ(out.find("\xe2\x80\xae"), std::string::npos);
}

TEST(SanitizeEscapedTest, KeepsEscapedTextAndEscapesTheRest) {
  std::string escaped = EscapeForLog("/a\\b\n\xc2\x85\xff");
  EXPECT_EQ(SanitizeEscaped(escaped), escaped);
  EXPECT_EQ(SanitizeEscaped("/raw\n\xc2\x85\xe2\x80\xae\xff\\x41"),
            "/raw\\x0a\\u0085\\u202e\\xff\\x41");
}

}  // namespace
}  // namespace offlog
