// offlogctl's renderings of a server snapshot: a table for a terminal, JSON
// for programs, Prometheus text exposition for a metrics scraper. Each
// passes paths and states through SanitizeEscaped (server_log.h): whatever
// bytes a snapshot holds, the output is valid UTF-8 with no control
// character but its own newlines.
#ifndef OFFLOG_CTL_CTL_FORMAT_H_
#define OFFLOG_CTL_CTL_FORMAT_H_

#include <cstdint>
#include <string>

#include "offlog/server/control_protocol.h"

namespace offlog {

// One row per writer that has a path (idle writers are only counted), then
// the acceptor's totals. `now_unix_ms` dates the LAST WRITE column.
std::string FormatStatusTable(const ServerSnapshot& s, int64_t now_unix_ms);

std::string FormatStatusJson(const ServerSnapshot& s);

// Metric names begin with offlog_; per-writer series carry path and pid
// labels.
std::string FormatMetrics(const ServerSnapshot& s);

// "1.5 KiB", "12 B": for people.
std::string HumanBytes(uint64_t bytes);
// "350ms", "4.2s", "3m05s", "2h01m", "3d04h".
std::string HumanDuration(int64_t ms);

}  // namespace offlog

#endif  // OFFLOG_CTL_CTL_FORMAT_H_
