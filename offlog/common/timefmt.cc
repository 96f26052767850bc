#include "offlog/common/timefmt.h"

#include "absl/strings/str_cat.h"

namespace offlog {

std::string FormatRecordTime(absl::Time t, absl::TimeZone tz) {
  std::string iso = absl::FormatTime("%Y-%m-%d %H:%M:%E6S", t, tz);
  // iso is "YYYY-MM-DD HH:MM:SS.ffffff"; Python leaves out ".000000".
  if (iso.size() > 7 && iso.compare(iso.size() - 7, 7, ".000000") == 0) {
    iso.resize(iso.size() - 7);
  }
  iso.resize(iso.size() - 3);
  return iso;
}

std::string FormatRecordPrefix(absl::Time t, absl::TimeZone tz,
                               absl::string_view name,
                               absl::string_view level) {
  if (name.empty())
    return absl::StrCat("[", FormatRecordTime(t, tz), " ", level, "] ");
  return absl::StrCat("[", FormatRecordTime(t, tz), " ", name, " ", level,
                      "] ");
}

}  // namespace offlog
