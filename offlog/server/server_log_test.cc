#include "offlog/server/server_log.h"

#include "gtest/gtest.h"

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

}  // namespace
}  // namespace offlog
