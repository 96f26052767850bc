// CPU time and memory of a process and all its descendants, from /proc.
#ifndef OFFLOG_BENCH_PROC_STATS_H_
#define OFFLOG_BENCH_PROC_STATS_H_

#include <sys/types.h>

#include <cstdint>
#include <vector>

namespace offlog::bench {

// `root` and every live descendant, found through
// /proc/<pid>/task/<tid>/children. Empty when `root` does not exist.
std::vector<pid_t> ProcessTree(pid_t root);

struct TreeStats {
  int processes = 0;
  // utime+stime of every process in the tree plus cutime+cstime (the
  // descendants already reaped), in seconds.
  double cpu_s = 0;
  int64_t rss_kb = 0;  // Sum of VmRSS.
  int64_t hwm_kb = 0;  // Sum of VmHWM (each process's own peak).
};

// A snapshot of the tree rooted at `root`. Processes that exit while it is
// read are skipped.
TreeStats SampleTree(pid_t root);

}  // namespace offlog::bench

#endif  // OFFLOG_BENCH_PROC_STATS_H_
