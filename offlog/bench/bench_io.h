// Output helpers the benchmark tools share: whole writes, and one CSV row
// appended per run.
#ifndef OFFLOG_BENCH_BENCH_IO_H_
#define OFFLOG_BENCH_BENCH_IO_H_

#include <cstddef>
#include <string>

namespace offlog::bench {

// Writes all `n` bytes at `p` to `fd`, again after a short write or EINTR.
// Returns false on an error (errno says which) or a write of 0 bytes.
bool WriteAll(int fd, const char* p, size_t n);

// Appends `row` and a newline to the CSV file at `path`, first writing
// `header` when the file is new or empty. A file that cannot be opened is
// reported on stderr, and the row is lost.
void AppendCsvRow(const std::string& path, const char* header,
                  const std::string& row);

}  // namespace offlog::bench

#endif  // OFFLOG_BENCH_BENCH_IO_H_
