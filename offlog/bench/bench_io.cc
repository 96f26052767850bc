#include "offlog/bench/bench_io.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

namespace offlog::bench {

bool WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

void AppendCsvRow(const std::string& path, const char* header,
                  const std::string& row) {
  struct stat st;
  const bool fresh = stat(path.c_str(), &st) != 0 || st.st_size == 0;
  FILE* f = fopen(path.c_str(), "a");
  if (f == nullptr) {
    fprintf(stderr, "cannot open %s: %s\n", path.c_str(), strerror(errno));
    return;
  }
  if (fresh) fprintf(f, "%s\n", header);
  fprintf(f, "%s\n", row.c_str());
  fclose(f);
}

}  // namespace offlog::bench
