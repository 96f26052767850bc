#include "offlog/testing/checker.h"

#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace offlog::bench {
namespace {

constexpr size_t kSize = 40;

std::string Records(uint64_t client, uint64_t from, uint64_t to) {
  std::string s;
  for (uint64_t seq = from; seq < to; ++seq) {
    AppendRecord(client, seq, kSize, &s);
  }
  return s;
}

CheckReport Check(const std::vector<std::string>& files,
                  uint64_t expected_records, uint64_t expected_clients = 0) {
  RecordChecker checker({.record_size = kSize,
                         .expected_records = expected_records,
                         .expected_clients = expected_clients});
  for (const std::string& f : files) checker.AddData(f);
  return checker.Finish();
}

TEST(RecordTest, HasTheRequestedSizeAndFormat) {
  std::string r = MakeRecord(3, 17, kSize);
  EXPECT_EQ(r.size(), kSize);
  EXPECT_EQ(r.substr(0, 7), "R 3 17 ");
  EXPECT_EQ(r.back(), '\n');
}

TEST(RecordTest, TooSmallASizeGivesTheShortestRecord) {
  EXPECT_EQ(MakeRecord(12, 345, 1), "R 12 345 \n");
  EXPECT_EQ(MinRecordSize(12, 345), 10u);
}

TEST(CheckerTest, CleanInterleavedFilesFromManyClients) {
  std::string a = Records(0, 0, 50) + Records(1, 0, 20);
  std::string b = Records(1, 20, 50) + Records(2, 0, 50);
  CheckReport r = Check({a, b}, 50, 3);
  EXPECT_TRUE(r.clean()) << FormatSummary(r);
  EXPECT_EQ(r.total.seen, 150u);
  EXPECT_EQ(r.files, 2u);
  EXPECT_EQ(r.lines, 150u);
  EXPECT_EQ(r.bytes, 150 * kSize);
}

TEST(CheckerTest, CountsGapsAndAMissingTail) {
  std::string f = Records(0, 0, 10) + Records(0, 13, 20);
  CheckReport r = Check({f}, 25);
  EXPECT_EQ(r.clients[0].seen, 17u);
  EXPECT_EQ(r.clients[0].missing, 8u);  // 10..12 and 20..24.
  EXPECT_FALSE(r.clean());
}

TEST(CheckerTest, WithoutAnExpectedCountOnlyGapsAreMissing) {
  std::string f = Records(0, 0, 10) + Records(0, 13, 20);
  CheckReport r = Check({f}, 0);
  EXPECT_EQ(r.clients[0].missing, 3u);
}

TEST(CheckerTest, AnExpectedClientWithNoRecordsMissesThemAll) {
  CheckReport r = Check({Records(0, 0, 5)}, 5, 2);
  EXPECT_EQ(r.clients[1].missing, 5u);
  EXPECT_EQ(r.total.missing, 5u);
}

TEST(CheckerTest, CountsDuplicatesAcrossFiles) {
  std::string a = Records(0, 0, 10);
  std::string b = Records(0, 5, 10);
  CheckReport r = Check({a, b}, 10);
  EXPECT_EQ(r.clients[0].duplicated, 5u);
  EXPECT_EQ(r.clients[0].missing, 0u);
  EXPECT_EQ(r.clients[0].out_of_order, 0u);
}

TEST(CheckerTest, CountsOutOfOrderWithinAFile) {
  std::string f = Records(0, 0, 3) + Records(0, 5, 8) + Records(0, 3, 5);
  CheckReport r = Check({f}, 8);
  EXPECT_EQ(r.clients[0].out_of_order, 2u);
  EXPECT_EQ(r.clients[0].missing, 0u);
  EXPECT_EQ(r.clients[0].duplicated, 0u);
}

TEST(CheckerTest, OrderIsPerFile) {
  // A client that moved to a new file (rotation) starts over there.
  CheckReport r = Check({Records(0, 5, 10), Records(0, 0, 5)}, 10);
  EXPECT_EQ(r.clients[0].out_of_order, 0u);
}

TEST(CheckerTest, ATornSpliceIsTornAndItsRecordsMissing) {
  std::string r0 = MakeRecord(0, 0, kSize);
  std::string r1 = MakeRecord(1, 0, kSize);
  // Client 1's record lands in the middle of client 0's.
  std::string f = r0.substr(0, 15) + r1 + r0.substr(15) + Records(0, 1, 3);
  CheckReport r = Check({f}, 3, 2);
  EXPECT_EQ(r.clients[0].torn, 1u);  // "R 0 0 ...R 1 0 ...\n"
  EXPECT_EQ(r.total.torn, 2u);       // Plus the headless rest of record 0.
  EXPECT_EQ(r.clients[0].missing, 1u);
  EXPECT_EQ(r.clients[1].missing, 3u);
  EXPECT_EQ(r.clients[0].seen, 2u);
}

TEST(CheckerTest, WrongLengthOrPaddingIsTorn) {
  std::string shortened = MakeRecord(0, 0, kSize);
  shortened.erase(10, 1);
  std::string wrong_pad = MakeRecord(0, 1, kSize);
  wrong_pad[20] = '#';
  CheckReport r = Check({shortened + wrong_pad}, 2);
  EXPECT_EQ(r.clients[0].torn, 2u);
  EXPECT_EQ(r.clients[0].missing, 2u);
}

TEST(CheckerTest, AFinalLineWithoutNewlineIsTorn) {
  std::string f = Records(0, 0, 3);
  f.pop_back();
  CheckReport r = Check({f}, 3);
  EXPECT_EQ(r.clients[0].torn, 1u);
  EXPECT_EQ(r.clients[0].seen, 2u);
  EXPECT_EQ(r.lines, 3u);
}

TEST(CheckerTest, GarbageIsTornButBelongsToNoClient) {
  CheckReport r = Check({"hello\n\n" + Records(0, 0, 1)}, 1);
  EXPECT_EQ(r.total.torn, 2u);
  EXPECT_EQ(r.clients[0].torn, 0u);
  EXPECT_TRUE(r.clients[0].missing == 0);
}

TEST(CheckerTest, SeqBeyondTheExpectedCountIsUnexpected) {
  CheckReport r = Check({Records(0, 0, 4)}, 3);
  EXPECT_EQ(r.clients[0].unexpected, 1u);
  EXPECT_FALSE(r.clean());
}

TEST(CheckerTest, AnySizeIsAcceptedWhenNoneIsGiven) {
  RecordChecker checker({});
  checker.AddData(MakeRecord(0, 0, 10) + MakeRecord(0, 1, 500));
  CheckReport r = checker.Finish();
  EXPECT_TRUE(r.clean()) << FormatSummary(r);
  EXPECT_EQ(r.total.seen, 2u);
}

TEST(CheckerTest, ChecksFilesOnDisk) {
  char dir[] = "/tmp/offlog_checker_testXXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string a = std::string(dir) + "/a", empty = std::string(dir) + "/e";
  std::ofstream(a) << Records(0, 0, 100) << Records(1, 0, 99);
  std::ofstream(empty).flush();
  absl::StatusOr<CheckReport> r =
      CheckFiles({a, empty}, {.record_size = kSize, .expected_records = 100});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->files, 2u);
  EXPECT_EQ(r->total.seen, 199u);
  EXPECT_EQ(r->total.missing, 1u);
  EXPECT_NE(FormatSummary(*r).find("client 1: seen=99 missing=1"),
            std::string::npos)
      << FormatSummary(*r);
  EXPECT_FALSE(CheckFiles({std::string(dir) + "/nope"}, {}).ok());
  unlink(a.c_str());
  unlink(empty.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace offlog::bench
