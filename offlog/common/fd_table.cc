#include "offlog/common/fd_table.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>

#include "offlog/common/unique_fd.h"

namespace offlog {

void RaiseDescriptorLimit() {
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int ReserveDescriptorTable(int slots) {
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur != RLIM_INFINITY) {
    slots = static_cast<int>(
        std::min<rlim_t>(static_cast<rlim_t>(slots), rl.rlim_cur));
  }
  if (slots <= 0) return 0;
  // A duplicate at the highest slot makes the kernel size the table for
  // it; closing it leaves the table as large.
  UniqueFd null(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null) return 0;
  UniqueFd high(fcntl(null.get(), F_DUPFD_CLOEXEC, slots - 1));
  return high ? slots : 0;
}

}  // namespace offlog
