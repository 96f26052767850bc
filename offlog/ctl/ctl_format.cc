#include "offlog/ctl/ctl_format.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "offlog/server/server_log.h"

namespace offlog {
namespace {

using Row = std::vector<std::string>;

// Left-aligned columns two spaces apart; the last column is not padded.
std::string AlignColumns(const std::vector<Row>& rows) {
  std::vector<size_t> width;
  for (const Row& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  std::string out;
  for (const Row& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&line, row[i]);
      if (i + 1 < row.size()) {
        line.append(width[i] - row[i].size() + 2, ' ');
      }
    }
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

std::string LastWrite(const WriterSnapshot& w, int64_t now_unix_ms) {
  if (w.last_write_unix_ms == 0) return "never";
  return absl::StrCat(
      HumanDuration(std::max<int64_t>(0, now_unix_ms - w.last_write_unix_ms)),
      " ago");
}

std::string Stalled(const WriterSnapshot& w) {
  if (!w.stalled) return "no";
  return absl::StrCat("yes (", HumanDuration(w.busy_ms), ")");
}

// A string as JSON, made safe first (SanitizeEscaped): what offlogd sends
// is already escaped, but the renderers hold to that whatever they get.
std::string JsonString(absl::string_view raw) {
  std::string s = SanitizeEscaped(raw);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      absl::StrAppend(&out, "\\", std::string(1, c));
    } else if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", c);
    } else {
      out.push_back(c);
    }
  }
  return out + "\"";
}

// A Prometheus label value: made safe (SanitizeEscaped), then backslash,
// double quote and newline escaped.
std::string LabelValue(absl::string_view raw) {
  std::string s = SanitizeEscaped(raw);
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Milliseconds as seconds, exactly (StrCat would round a Unix time).
std::string Seconds(int64_t ms) {
  return absl::StrFormat("%d.%03d", ms / 1000, ms % 1000);
}

struct Metric {
  const char* name;
  const char* type;
  const char* help;
};

void AppendHeader(std::string* out, const Metric& m) {
  absl::StrAppend(out, "# HELP ", m.name, " ", m.help, "\n# TYPE ", m.name, " ",
                  m.type, "\n");
}

template <typename T>
void AppendGlobal(std::string* out, const Metric& m, T value) {
  AppendHeader(out, m);
  absl::StrAppend(out, m.name, " ", value, "\n");
}

// One metric with a sample per writer that has a path.
template <typename F>
void AppendPerWriter(std::string* out, const ServerSnapshot& s, const Metric& m,
                     F value) {
  AppendHeader(out, m);
  for (const WriterSnapshot& w : s.writers) {
    if (w.path.empty()) continue;
    absl::StrAppend(out, m.name, "{path=\"", LabelValue(w.path), "\",pid=\"",
                    w.pid, "\"} ", value(w), "\n");
  }
}

}  // namespace

std::string HumanBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  return absl::StrFormat("%.1f %s", v, units[u]);
}

std::string HumanDuration(int64_t ms) {
  if (ms < 1000) return absl::StrCat(ms, "ms");
  if (ms < 60000) return absl::StrFormat("%.1fs", ms / 1000.0);
  int64_t s = ms / 1000;
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  if (s < 86400) return absl::StrFormat("%dh%02dm", s / 3600, s % 3600 / 60);
  return absl::StrFormat("%dd%02dh", s / 86400, s % 86400 / 3600);
}

std::string FormatStatusTable(const ServerSnapshot& s, int64_t now_unix_ms) {
  std::vector<Row> rows = {{"PATH", "PID", "CLIENTS", "BYTES", "RECORDS",
                            "QUEUED", "LAST WRITE", "STALLED"}};
  for (const WriterSnapshot& w : s.writers) {
    if (w.path.empty()) continue;
    rows.push_back({SanitizeEscaped(w.path), absl::StrCat(w.pid),
                    absl::StrCat(w.clients), HumanBytes(w.bytes_written),
                    absl::StrCat(w.records_written), HumanBytes(w.queued_bytes),
                    LastWrite(w, now_unix_ms), Stalled(w)});
  }
  const AcceptorSnapshot& a = s.acceptor;
  std::string out = rows.size() == 1 ? "No open files.\n" : AlignColumns(rows);
  absl::StrAppendFormat(
      &out,
      "\nacceptor: pid %d, up %s%s\n"
      "clients:  %d connected, %d in handshake; %d accepted, %d refused "
      "since start\n"
      "writers:  %d busy, %d idle, %d starting; stalled = in one "
      "open()/write() for >= %s\n"
      "waiting:  %d clients for %d files; refused %d over a per-uid bound, "
      "%d for a full queue\n"
      "crash history: %d files; log records dropped: %d\n",
      a.pid, HumanDuration(a.uptime_ms),
      a.shutting_down ? ", shutting down" : "", a.clients, a.handshakes,
      a.accepted, a.refused, a.writers_busy, a.writers_idle, a.writers_starting,
      HumanDuration(a.rotate_check_interval_ms), a.waiting, a.waiting_files,
      a.refused_limit, a.refused_busy, a.crash_history, a.log_dropped);
  return out;
}

std::string FormatStatusJson(const ServerSnapshot& s) {
  const AcceptorSnapshot& a = s.acceptor;
  std::string out = absl::StrFormat(
      "{\"acceptor\": {\"pid\": %d, \"uptime_ms\": %d, "
      "\"rotate_check_interval_ms\": %d, \"accepted\": %d, \"refused\": %d, "
      "\"handshakes\": %d, \"clients\": %d, \"writers_busy\": %d, "
      "\"writers_idle\": %d, \"writers_starting\": %d, \"waiting\": %d, "
      "\"waiting_files\": %d, \"refused_limit\": %d, \"refused_busy\": %d, "
      "\"crash_history\": %d, \"log_dropped\": %d, "
      "\"shutting_down\": %s},\n \"writers\": [",
      a.pid, a.uptime_ms, a.rotate_check_interval_ms, a.accepted, a.refused,
      a.handshakes, a.clients, a.writers_busy, a.writers_idle,
      a.writers_starting, a.waiting, a.waiting_files, a.refused_limit,
      a.refused_busy, a.crash_history, a.log_dropped,
      a.shutting_down ? "true" : "false");
  std::vector<std::string> writers;
  for (const WriterSnapshot& w : s.writers) {
    writers.push_back(absl::StrFormat(
        "\n  {\"pid\": %d, \"state\": %s, \"path\": %s, \"clients\": %d, "
        "\"bytes_written\": %d, \"records_written\": %d, "
        "\"write_errors\": %d, \"queued_bytes\": %d, "
        "\"last_write_unix_ms\": %d, \"busy_ms\": %d, \"stalled\": %s}",
        w.pid, JsonString(w.state), JsonString(w.path), w.clients,
        w.bytes_written, w.records_written, w.write_errors, w.queued_bytes,
        w.last_write_unix_ms, w.busy_ms, w.stalled ? "true" : "false"));
  }
  absl::StrAppend(&out, absl::StrJoin(writers, ","), "]}\n");
  return out;
}

// The acceptor's own series.
static void AppendAcceptorMetrics(const AcceptorSnapshot& a,
                                  std::string* out_ptr) {
  std::string& out = *out_ptr;
  AppendGlobal(&out,
               {"offlog_uptime_seconds", "gauge",
                "Seconds since offlogd "
                "started."},
               Seconds(a.uptime_ms));
  AppendGlobal(
      &out,
      {"offlog_clients_accepted_total", "counter", "Connections accepted."},
      a.accepted);
  AppendGlobal(&out,
               {"offlog_clients_refused_total", "counter",
                "Connections the acceptor refused with an error."},
               a.refused);
  AppendGlobal(&out,
               {"offlog_handshakes", "gauge",
                "Connections whose path has not fully arrived."},
               a.handshakes);
  AppendGlobal(&out, {"offlog_clients", "gauge", "Clients handed to a writer."},
               a.clients);
  AppendGlobal(&out,
               {"offlog_clients_waiting", "gauge",
                "Clients waiting in the acceptor for their file's writer."},
               a.waiting);
  AppendHeader(&out, {"offlog_clients_refused_by_reason_total", "counter",
                      "Refusals over a per-uid bound or a full queue."});
  absl::StrAppend(&out,
                  "offlog_clients_refused_by_reason_total{reason=\"limit\"} ",
                  a.refused_limit,
                  "\nofflog_clients_refused_by_reason_total{reason=\"busy\"} ",
                  a.refused_busy, "\n");
  AppendGlobal(&out,
               {"offlog_crash_history_files", "gauge",
                "Files the writer crash limiter remembers."},
               a.crash_history);
  AppendGlobal(&out,
               {"offlog_log_records_dropped_total", "counter",
                "Server log records dropped because the log was too slow."},
               a.log_dropped);
  AppendHeader(&out, {"offlog_writers", "gauge", "Writer processes by state."});
  absl::StrAppend(&out, "offlog_writers{state=\"busy\"} ", a.writers_busy,
                  "\nofflog_writers{state=\"idle\"} ", a.writers_idle,
                  "\nofflog_writers{state=\"starting\"} ", a.writers_starting,
                  "\n");
}

std::string FormatMetrics(const ServerSnapshot& s) {
  std::string out;
  AppendAcceptorMetrics(s.acceptor, &out);
  AppendPerWriter(&out, s,
                  {"offlog_writer_clients", "gauge", "Clients of the file."},
                  [](const WriterSnapshot& w) { return w.clients; });
  AppendPerWriter(&out, s,
                  {"offlog_writer_bytes_written_total", "counter",
                   "Bytes appended to the file."},
                  [](const WriterSnapshot& w) { return w.bytes_written; });
  AppendPerWriter(&out, s,
                  {"offlog_writer_records_written_total", "counter",
                   "Newlines appended to the file."},
                  [](const WriterSnapshot& w) { return w.records_written; });
  AppendPerWriter(&out, s,
                  {"offlog_writer_write_errors_total", "counter",
                   "Failed writes to the file."},
                  [](const WriterSnapshot& w) { return w.write_errors; });
  AppendPerWriter(&out, s,
                  {"offlog_writer_queued_bytes", "gauge",
                   "Bytes sent by clients and not yet written."},
                  [](const WriterSnapshot& w) { return w.queued_bytes; });
  AppendPerWriter(
      &out, s,
      {"offlog_writer_last_write_timestamp_seconds", "gauge",
       "Unix time of the last write; 0 when none."},
      [](const WriterSnapshot& w) { return Seconds(w.last_write_unix_ms); });
  AppendPerWriter(&out, s,
                  {"offlog_writer_busy_seconds", "gauge",
                   "Time inside the current open() or write()."},
                  [](const WriterSnapshot& w) { return Seconds(w.busy_ms); });
  AppendPerWriter(&out, s,
                  {"offlog_writer_stalled", "gauge",
                   "1 when in one open() or write() for at least the "
                   "rotate-check interval."},
                  [](const WriterSnapshot& w) { return w.stalled ? 1 : 0; });
  return out;
}

}  // namespace offlog
