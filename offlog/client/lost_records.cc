#include "offlog/client/lost_records.h"

#include "absl/strings/str_cat.h"

namespace offlog {
namespace {

constexpr char kTimeFormat[] = "%Y-%m-%d %H:%M:%E3S";
constexpr char kCause[] = " (the client's queue was full)";

}  // namespace

void LostRecords::Add(absl::Time when) {
  if (count_ == 0) first_ = when;
  last_ = when;
  ++count_;
}

std::string LostRecords::Message(absl::TimeZone tz) const {
  std::string first = absl::FormatTime(kTimeFormat, first_, tz);
  if (count_ == 1) {
    return absl::StrCat("offlog: 1 record lost at ", first, kCause);
  }
  return absl::StrCat("offlog: ", count_, " records lost between ", first,
                      " and ", absl::FormatTime(kTimeFormat, last_, tz),
                      kCause);
}

}  // namespace offlog
