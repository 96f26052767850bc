// LostRecords: the records a logger dropped in a row because the client's
// queue was full (ProxyFileOptions::max_queued_bytes), for the one line
// that marks the gap in the file.
//
// Not thread-safe.
#ifndef OFFLOG_CLIENT_LOST_RECORDS_H_
#define OFFLOG_CLIENT_LOST_RECORDS_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace offlog {

class LostRecords {
 public:
  // Notes that a record made at `when` was dropped.
  void Add(absl::Time when);
  // Forgets the gap, once its line is in the queue.
  void Clear() { count_ = 0; }

  bool empty() const { return count_ == 0; }
  // Records dropped since the last Clear().
  uint64_t count() const { return count_; }

  // The gap's message, times in `tz` to the millisecond: "offlog: 12
  // records lost between 2023-07-03 10:12:54.796 and 2023-07-03
  // 10:12:55.001 (the client's queue was full)", or "offlog: 1 record lost
  // at 2023-07-03 10:12:54.796 (...)". Call only when !empty().
  std::string Message(absl::TimeZone tz) const;

 private:
  uint64_t count_ = 0;
  absl::Time first_;
  absl::Time last_;
};

}  // namespace offlog

#endif  // OFFLOG_CLIENT_LOST_RECORDS_H_
