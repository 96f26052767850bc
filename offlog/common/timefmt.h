// Timestamps as the original offlog Logger writes them.
#ifndef OFFLOG_COMMON_TIMEFMT_H_
#define OFFLOG_COMMON_TIMEFMT_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace offlog {

// Local time as `datetime.now().isoformat(sep=' ')[:-3]` gives it:
// "2023-07-03 10:12:54.796". Python omits the fraction when the microseconds
// are exactly zero, and the original then cuts ":SS" instead of "sss"
// ("2023-07-03 10:12"); this reproduces that too, byte for byte.
std::string FormatRecordTime(absl::Time t, absl::TimeZone tz);

// "[<time> <name> <LEVEL>] " or, when `name` is empty, "[<time> <LEVEL>] ".
std::string FormatRecordPrefix(absl::Time t, absl::TimeZone tz,
                               absl::string_view name, absl::string_view level);

}  // namespace offlog

#endif  // OFFLOG_COMMON_TIMEFMT_H_
