// offlog_check: verifies files of numbered records (see checker.h).
//
//   offlog_check --size 100 --records 1000 --clients 8 FILE...
//
// Prints a summary and exits 0 when every file is clean, 1 when there are
// defects, 2 on a usage or I/O error.
#include <cstdio>
#include <string>
#include <vector>

#include "gflags/gflags.h"
#include "offlog/testing/checker.h"

DEFINE_uint64(size, 0, "Size of each record in bytes (0: any size).");
DEFINE_uint64(records, 0,
              "Records each client wrote (0: up to the highest seq seen).");
DEFINE_uint64(clients, 0, "Clients 0..N-1 are expected to appear.");
DEFINE_int32(max_clients, 20, "Clients with defects to list.");

int main(int argc, char** argv) {
  gflags::SetUsageMessage("offlog_check [flags] FILE...");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (argc < 2) {
    gflags::ShowUsageWithFlagsRestrict(argv[0], "offlog_check");
    return 2;
  }
  std::vector<std::string> paths(argv + 1, argv + argc);
  absl::StatusOr<offlog::bench::CheckReport> report =
      offlog::bench::CheckFiles(paths, {.record_size = FLAGS_size,
                                        .expected_records = FLAGS_records,
                                        .expected_clients = FLAGS_clients});
  if (!report.ok()) {
    fprintf(stderr, "offlog_check: %s\n", report.status().ToString().c_str());
    return 2;
  }
  fputs(offlog::bench::FormatSummary(*report, FLAGS_max_clients).c_str(),
        stdout);
  return report->clean() ? 0 : 1;
}
