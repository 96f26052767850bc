#include "offlog/server/bounds.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

namespace offlog {
namespace {

int64_t ReadNumber(const std::string& file) {
  std::ifstream in(file);
  std::string text;
  std::getline(in, text);
  int64_t n = 0;
  return absl::SimpleAtoi(text, &n) ? n : 0;  // "max" or missing: 0.
}

// pids.max of this process's cgroup (v2), or 0 when none applies.
int64_t CgroupPidsMax() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, "0::")) continue;
    return ReadNumber(absl::StrCat("/sys/fs/cgroup", rest, "/pids.max"));
  }
  return 0;
}

int64_t SoftLimit(int resource) {
  rlimit rl;
  if (getrlimit(resource, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 0;
  return static_cast<int64_t>(rl.rlim_cur);
}

int64_t MinPositive(int64_t a, int64_t b) {
  if (a <= 0) return b;
  if (b <= 0) return a;
  return std::min(a, b);
}

}  // namespace

int64_t ProcessLimit() {
  int64_t limit = ReadNumber("/proc/sys/kernel/pid_max");
  limit = MinPositive(limit, CgroupPidsMax());
  if (geteuid() != 0) limit = MinPositive(limit, SoftLimit(RLIMIT_NPROC));
  return limit > 0 ? limit : 32768;
}

Bounds DeriveBounds(const ServerOptions& options) {
  Bounds b;
  b.descriptors = SoftLimit(RLIMIT_NOFILE);
  if (b.descriptors <= 0) b.descriptors = 1 << 20;
  b.processes = ProcessLimit();
  int64_t usable = std::max<int64_t>(b.descriptors - kDescriptorReserve, 16);
  // Leave some processes for everything else on the host or in the cgroup.
  int64_t procs = std::max<int64_t>(b.processes - 32, 4);
  b.max_writers = static_cast<int>(
      std::clamp<int64_t>(std::min(procs, usable / 4), 4, 1 << 22));
  b.max_writers_per_uid = std::max(2, b.max_writers / 2);
  b.max_connections =
      static_cast<int>(std::max<int64_t>(usable - b.max_writers, 8));
  b.max_connections_per_uid = std::max(4, b.max_connections / 2);
  b.max_in_flight = static_cast<int>(std::max<int64_t>(b.descriptors / 4, 16));
  b.max_waiting_per_file = options.max_waiting_per_file;
  if (options.max_writers_per_uid > 0) {
    b.max_writers_per_uid = options.max_writers_per_uid;
  }
  if (options.max_connections_per_uid > 0) {
    b.max_connections_per_uid = options.max_connections_per_uid;
    b.max_connections = std::max(b.max_connections, b.max_connections_per_uid);
  }
  return b;
}

std::string Bounds::ToString() const {
  return absl::StrFormat(
      "descriptors %d, processes %d: at most %d writers (%d per uid), %d "
      "connections (%d per uid), %d clients waiting per file",
      descriptors, processes, max_writers, max_writers_per_uid, max_connections,
      max_connections_per_uid, max_waiting_per_file);
}

}  // namespace offlog
