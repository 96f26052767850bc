// Numbered records and a checker that proves what reached a file.
//
// Each record is one line: "R <client> <seq> <padding>\n", padded to a chosen
// total size. The padding is one letter repeated, chosen from (client, seq),
// so that a line spliced from pieces of two records almost never passes as a
// whole record. The checker reads the files the records were appended to and
// reports, per client, records missing, duplicated, out of order and torn.
#ifndef OFFLOG_TESTING_CHECKER_H_
#define OFFLOG_TESTING_CHECKER_H_

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace offlog::bench {

// The shortest record MakeRecord can produce for (client, seq): the header
// "R <client> <seq> " plus the newline.
size_t MinRecordSize(uint64_t client, uint64_t seq);

// Appends the record for (client, seq) to `out`, padded to `size` bytes in
// total (including the newline), or MinRecordSize() bytes when `size` is
// smaller than that.
void AppendRecord(uint64_t client, uint64_t seq, size_t size, std::string* out);

// The record for (client, seq) as a string; see AppendRecord.
std::string MakeRecord(uint64_t client, uint64_t seq, size_t size);

struct CheckOptions {
  // Total size of every record including its newline; 0 accepts any size
  // (the padding is still verified).
  size_t record_size = 0;
  // Records each client wrote, seq 0..expected_records-1. When 0, a client
  // is expected to have written up to the highest seq seen from it.
  uint64_t expected_records = 0;
  // Clients 0..expected_clients-1 are expected even when none of their
  // records was found (all of theirs then count as missing).
  uint64_t expected_clients = 0;
};

struct ClientReport {
  uint64_t seen = 0;          // Distinct seqs found whole.
  uint64_t missing = 0;       // Expected seqs never found whole.
  uint64_t duplicated = 0;    // Whole records found again after the first.
  uint64_t out_of_order = 0;  // First occurrences below an earlier seq of the
                              // same client in the same file.
  uint64_t unexpected = 0;    // Whole records with seq >= expected_records.
  uint64_t torn = 0;          // Lines that do not parse as a whole record
                              // (attributed to a client when the header
                              // parses, else only counted in the total).
};

struct CheckReport {
  std::map<uint64_t, ClientReport> clients;
  ClientReport total;  // Sums over clients, plus unattributed torn lines.
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint64_t lines = 0;  // Including a final line with no newline.

  // True when nothing is missing, duplicated, out of order, unexpected or
  // torn.
  bool clean() const;
};

// Accumulates files one at a time; Finish() computes what is missing.
class RecordChecker {
 public:
  explicit RecordChecker(CheckOptions options) : options_(options) {}

  // Checks the whole contents of one file. A final line without a newline is
  // torn.
  void AddData(absl::string_view data);
  // Reads the file at `path` (memory-mapped) and checks it as AddData does.
  absl::Status AddFile(const std::string& path);

  CheckReport Finish() const;

 private:
  struct ClientState {
    std::vector<uint8_t> counts;  // Occurrences of each seq, saturating.
    ClientReport report;
  };

  void AddLine(absl::string_view line, std::map<uint64_t, uint64_t>* max_seq);
  void AddRecord(uint64_t client, uint64_t seq,
                 std::map<uint64_t, uint64_t>* max_seq);

  CheckOptions options_;
  std::map<uint64_t, ClientState> clients_;
  uint64_t unattributed_torn_ = 0;
  uint64_t files_ = 0;
  uint64_t bytes_ = 0;
  uint64_t lines_ = 0;
};

// Checks every file in `paths` with one RecordChecker.
absl::StatusOr<CheckReport> CheckFiles(const std::vector<std::string>& paths,
                                       const CheckOptions& options);

// A few lines: totals, then up to `max_clients` clients that have defects.
std::string FormatSummary(const CheckReport& report, int max_clients = 10);
void PrintSummary(const CheckReport& report, FILE* out = stdout);

}  // namespace offlog::bench

#endif  // OFFLOG_TESTING_CHECKER_H_
