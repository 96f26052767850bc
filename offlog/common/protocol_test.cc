#include "offlog/common/protocol.h"

#include <string>

#include "gtest/gtest.h"

namespace offlog {
namespace {

using State = HandshakeParser::State;

TEST(HandshakeParserTest, StopsAtTheNulAndLeavesFileData) {
  HandshakeParser p;
  std::string wire("/tmp/a.log\0hello", 16);
  EXPECT_EQ(p.Feed(wire), 11u);
  EXPECT_EQ(p.state(), State::kComplete);
  EXPECT_EQ(p.path(), "/tmp/a.log");
  EXPECT_EQ(p.Feed("more"), 0u);
}

TEST(HandshakeParserTest, AssemblesAPathFromPieces) {
  HandshakeParser p;
  EXPECT_EQ(p.Feed("/tm"), 3u);
  EXPECT_EQ(p.state(), State::kNeedMore);
  EXPECT_EQ(p.Feed(std::string("p/x\0", 4)), 4u);
  EXPECT_EQ(p.state(), State::kComplete);
  EXPECT_EQ(p.path(), "/tmp/x");
}

TEST(HandshakeParserTest, PathOfPathMaxBytesIsAccepted) {
  HandshakeParser p;
  std::string path = "/" + std::string(kPathMax - 1, 'a');
  p.Feed(path + std::string(1, '\0'));
  EXPECT_EQ(p.state(), State::kComplete);
}

TEST(HandshakeParserTest, LongerPathIsRefusedWithOrWithoutItsNul) {
  std::string path = "/" + std::string(kPathMax, 'a');
  HandshakeParser with_nul;
  with_nul.Feed(path + std::string(1, '\0'));
  EXPECT_EQ(with_nul.state(), State::kTooLong);
  HandshakeParser without;
  without.Feed(path);
  EXPECT_EQ(without.state(), State::kTooLong);
}

TEST(ValidatePathTest, RefusesRelativeAndEmpty) {
  EXPECT_EQ(ValidatePath(""), kErrNotAbsolute);
  EXPECT_EQ(ValidatePath("a/b"), kErrNotAbsolute);
  EXPECT_EQ(ValidatePath("/a/b"), "");
  EXPECT_EQ(ValidatePath("/"), "");
}

TEST(NormalizePathTest, IsLexical) {
  EXPECT_EQ(NormalizePath("/"), "/");
  EXPECT_EQ(NormalizePath("//a//b/"), "/a/b");
  EXPECT_EQ(NormalizePath("/a/./b/../c"), "/a/c");
  EXPECT_EQ(NormalizePath("/../../etc/passwd"), "/etc/passwd");
  EXPECT_EQ(NormalizePath("/a/.."), "/");
}

TEST(FileKeyPathTest, SharesOnlySpellingsOfTheSameFile) {
  // Doubled slashes and `.` components never change what open() does.
  EXPECT_EQ(FileKeyPath("/d/x.log"), "/d/x.log");
  EXPECT_EQ(FileKeyPath("/d//x.log"), "/d/x.log");
  EXPECT_EQ(FileKeyPath("//d/./x.log"), "/d/x.log");
  EXPECT_EQ(FileKeyPath("/d/././/x.log"), "/d/x.log");
  // `..` depends on what the kernel finds (a symlink, a missing directory).
  EXPECT_EQ(FileKeyPath("/d/missing/../x.log"), "/d/missing/../x.log");
  EXPECT_EQ(FileKeyPath("/d//../x.log"), "/d//../x.log");
  // A trailing '/' or '.' asks for a directory.
  EXPECT_EQ(FileKeyPath("/d/x.log/"), "/d/x.log/");
  EXPECT_EQ(FileKeyPath("/d/x.log/."), "/d/x.log/.");
  EXPECT_EQ(FileKeyPath("/"), "/");
  EXPECT_EQ(FileKeyPath("/."), "/.");
  // open() refuses kPathMax bytes however few the file's own are.
  std::string long_path = "/d" + std::string(kPathMax - 8, '/') + "/x.log";
  ASSERT_EQ(long_path.size(), kPathMax);
  EXPECT_EQ(FileKeyPath(long_path), long_path);
  EXPECT_EQ(FileKeyPath(long_path.substr(1)), "/d/x.log");
}

TEST(FrameMessageTest, AddsNulAndCapsLength) {
  EXPECT_EQ(FrameMessage("OK"), std::string("OK\0", 3));
  std::string framed = FrameMessage(std::string(10000, 'x'));
  EXPECT_EQ(framed.size(), kMaxMessage);
  EXPECT_EQ(framed.back(), '\0');
}

}  // namespace
}  // namespace offlog
