// libFuzzer target: EscapeForLog, SanitizeEscaped, offlogctl's renderings
// (table, JSON, metrics) and the control protocol, with arbitrary bytes as
// a writer's path and state. Every output must be valid UTF-8 without a raw
// control character (safe_text.h) but its format's own separators, no path
// may add a line or a record, and EscapeForLog must be reversible.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "offlog/common/utf8.h"
#include "offlog/ctl/ctl_format.h"
#include "offlog/server/control_protocol.h"
#include "offlog/server/server_log.h"
#include "offlog/testing/safe_text.h"

namespace {

void Check(bool ok, const char* what, absl::string_view text) {
  if (ok) return;
  fprintf(stderr, "%s: %.*s\n", what, static_cast<int>(text.size()),
          text.data());
  abort();
}

void CheckSafe(absl::string_view text, absl::string_view separators,
               const char* what) {
  std::string problem = offlog::testing::FirstUnsafe(text, separators);
  Check(problem.empty(), what, problem);
}

// Inverts EscapeForLog's documented scheme.
std::string Unescape(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    if (s[i] != '\\') {
      out.push_back(s[i++]);
      continue;
    }
    size_t digits = s.substr(i + 1, 1) == "x" ? 2 : 4;
    Check(s.substr(i + 1, 1) == "x" || s.substr(i + 1, 1) == "u", "bad escape",
          s);
    uint32_t v = 0;
    Check(absl::SimpleHexAtoi(s.substr(i + 2, digits), &v), "bad hex", s);
    if (digits == 2) {
      out.push_back(static_cast<char>(v));
    } else {
      offlog::AppendUtf8(v, &out);
    }
    i += 2 + digits;
  }
  return out;
}

offlog::ServerSnapshot SnapshotWith(const std::string& path,
                                    const std::string& state) {
  offlog::ServerSnapshot s;
  s.acceptor.pid = 1;
  offlog::WriterSnapshot& w = s.writers.emplace_back();
  w.pid = 2;
  w.state = state;
  w.path = path;
  w.stalled = true;
  s.writers.emplace_back().state = "idle";
  return s;
}

size_t Lines(const std::string& s) {
  return std::count(s.begin(), s.end(), '\n');
}

void CheckRenderings(const std::string& path, const std::string& state) {
  if (path.empty()) return;  // An idle writer: no row, no series.
  offlog::ServerSnapshot hostile = SnapshotWith(path, state);
  offlog::ServerSnapshot benign = SnapshotWith("/x", "busy");
  std::string t = offlog::FormatStatusTable(hostile, 0);
  CheckSafe(t, "\n", "table");
  Check(Lines(t) == Lines(offlog::FormatStatusTable(benign, 0)), "table lines",
        t);
  std::string j = offlog::FormatStatusJson(hostile);
  CheckSafe(j, "\n", "json");
  Check(Lines(j) == Lines(offlog::FormatStatusJson(benign)), "json lines", j);
  std::string m = offlog::FormatMetrics(hostile);
  CheckSafe(m, "\n", "metrics");
  Check(Lines(m) == Lines(offlog::FormatMetrics(benign)), "metrics lines", m);
  std::string wire = offlog::SerializeSnapshot(hostile);
  CheckSafe(wire, "\t\n", "protocol");
  absl::StatusOr<offlog::ServerSnapshot> back = offlog::ParseSnapshot(wire);
  Check(back.ok() && back->writers.size() == 2, "records", wire);
  Check(back->writers[0].path == offlog::SanitizeEscaped(path), "path", wire);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  std::string escaped = offlog::EscapeForLog(bytes);
  CheckSafe(escaped, "", "EscapeForLog");
  Check(Unescape(escaped) == bytes, "EscapeForLog not reversible", escaped);
  Check(offlog::SanitizeEscaped(escaped) == escaped, "not a fixed point",
        escaped);
  CheckSafe(offlog::SanitizeEscaped(bytes), "", "SanitizeEscaped");
  // The renderings repeat the path in every per-file metric: a shorter one
  // keeps the runs fast and loses nothing (each character is handled alone).
  std::string path = bytes.substr(0, 512);
  std::string state = bytes.substr(0, 8);
  CheckRenderings(path, state);
  CheckRenderings(offlog::EscapeForLog(path), state);
  return 0;
}
