#include "offlog/server/control_protocol.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "offlog/server/server_log.h"

namespace offlog {
namespace {

using Fields = absl::flat_hash_map<std::string, std::string>;

void AppendField(std::string* out, absl::string_view key,
                 absl::string_view value) {
  absl::StrAppend(out, "\t", key, "=", value);
}

std::string AcceptorLine(const AcceptorSnapshot& a) {
  std::string line = "acceptor";
  AppendField(&line, "pid", absl::StrCat(a.pid));
  AppendField(&line, "uptime_ms", absl::StrCat(a.uptime_ms));
  AppendField(&line, "rotate_check_interval_ms",
              absl::StrCat(a.rotate_check_interval_ms));
  AppendField(&line, "accepted", absl::StrCat(a.accepted));
  AppendField(&line, "refused", absl::StrCat(a.refused));
  AppendField(&line, "handshakes", absl::StrCat(a.handshakes));
  AppendField(&line, "clients", absl::StrCat(a.clients));
  AppendField(&line, "writers_busy", absl::StrCat(a.writers_busy));
  AppendField(&line, "writers_idle", absl::StrCat(a.writers_idle));
  AppendField(&line, "writers_starting", absl::StrCat(a.writers_starting));
  AppendField(&line, "waiting", absl::StrCat(a.waiting));
  AppendField(&line, "waiting_files", absl::StrCat(a.waiting_files));
  AppendField(&line, "refused_limit", absl::StrCat(a.refused_limit));
  AppendField(&line, "refused_busy", absl::StrCat(a.refused_busy));
  AppendField(&line, "crash_history", absl::StrCat(a.crash_history));
  AppendField(&line, "log_dropped", absl::StrCat(a.log_dropped));
  AppendField(&line, "shutting_down", a.shutting_down ? "1" : "0");
  return line;
}

std::string WriterLine(const WriterSnapshot& w) {
  std::string line = "writer";
  AppendField(&line, "pid", absl::StrCat(w.pid));
  // The free-form fields: offlogd escapes paths already (EscapeForLog), and
  // SanitizeEscaped leaves that as it is; anything else it makes safe, so
  // that no field can hold a tab or newline and break the record.
  AppendField(&line, "state", SanitizeEscaped(w.state));
  AppendField(&line, "clients", absl::StrCat(w.clients));
  AppendField(&line, "bytes_written", absl::StrCat(w.bytes_written));
  AppendField(&line, "records_written", absl::StrCat(w.records_written));
  AppendField(&line, "write_errors", absl::StrCat(w.write_errors));
  AppendField(&line, "queued_bytes", absl::StrCat(w.queued_bytes));
  AppendField(&line, "last_write_unix_ms", absl::StrCat(w.last_write_unix_ms));
  AppendField(&line, "busy_ms", absl::StrCat(w.busy_ms));
  AppendField(&line, "stalled", w.stalled ? "1" : "0");
  AppendField(&line, "path", SanitizeEscaped(w.path));  // Last.
  return line;
}

Fields SplitFields(absl::string_view line) {
  Fields fields;
  for (absl::string_view f : absl::StrSplit(line, '\t', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(f, absl::MaxSplits('=', 1));
    fields[kv.first] = kv.second;
  }
  return fields;
}

// Reads fields[key] into *out; a missing key leaves *out as it is.
template <typename T>
absl::Status Get(const Fields& fields, absl::string_view key, T* out) {
  auto it = fields.find(key);
  if (it == fields.end()) return absl::OkStatus();
  if constexpr (std::is_same_v<T, std::string>) {
    *out = it->second;
  } else if constexpr (std::is_same_v<T, bool>) {
    *out = it->second == "1";
  } else if (!absl::SimpleAtoi(it->second, out)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad value for ", key, ": ", it->second));
  }
  return absl::OkStatus();
}

absl::Status ParseAcceptor(const Fields& f, AcceptorSnapshot* a) {
  for (absl::Status s :
       {Get(f, "pid", &a->pid), Get(f, "uptime_ms", &a->uptime_ms),
        Get(f, "rotate_check_interval_ms", &a->rotate_check_interval_ms),
        Get(f, "accepted", &a->accepted), Get(f, "refused", &a->refused),
        Get(f, "handshakes", &a->handshakes), Get(f, "clients", &a->clients),
        Get(f, "writers_busy", &a->writers_busy),
        Get(f, "writers_idle", &a->writers_idle),
        Get(f, "writers_starting", &a->writers_starting),
        Get(f, "waiting", &a->waiting),
        Get(f, "waiting_files", &a->waiting_files),
        Get(f, "refused_limit", &a->refused_limit),
        Get(f, "refused_busy", &a->refused_busy),
        Get(f, "crash_history", &a->crash_history),
        Get(f, "log_dropped", &a->log_dropped),
        Get(f, "shutting_down", &a->shutting_down)}) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ParseWriter(const Fields& f, WriterSnapshot* w) {
  for (absl::Status s :
       {Get(f, "pid", &w->pid), Get(f, "state", &w->state),
        Get(f, "path", &w->path), Get(f, "clients", &w->clients),
        Get(f, "bytes_written", &w->bytes_written),
        Get(f, "records_written", &w->records_written),
        Get(f, "write_errors", &w->write_errors),
        Get(f, "queued_bytes", &w->queued_bytes),
        Get(f, "last_write_unix_ms", &w->last_write_unix_ms),
        Get(f, "busy_ms", &w->busy_ms), Get(f, "stalled", &w->stalled)}) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

std::string SerializeSnapshot(const ServerSnapshot& snapshot) {
  std::string out = absl::StrCat(AcceptorLine(snapshot.acceptor), "\n");
  for (const WriterSnapshot& w : snapshot.writers) {
    absl::StrAppend(&out, WriterLine(w), "\n");
  }
  return out;
}

absl::StatusOr<ServerSnapshot> ParseSnapshot(absl::string_view text) {
  ServerSnapshot snapshot;
  bool seen_acceptor = false;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    absl::string_view kind = line.substr(0, line.find('\t'));
    Fields fields = SplitFields(line.substr(kind.size()));
    absl::Status s;
    if (kind == "acceptor") {
      seen_acceptor = true;
      s = ParseAcceptor(fields, &snapshot.acceptor);
    } else if (kind == "writer") {
      s = ParseWriter(fields, &snapshot.writers.emplace_back());
    }  // Other kinds: from a newer server; ignored.
    if (!s.ok()) return s;
  }
  if (!seen_acceptor) {
    return absl::InvalidArgumentError("status answer has no acceptor record");
  }
  return snapshot;
}

absl::StatusOr<std::string> ParseControlAnswer(absl::string_view answer) {
  if (absl::ConsumePrefix(&answer, "ok\n")) return std::string(answer);
  absl::string_view first = answer.substr(0, answer.find('\n'));
  if (absl::ConsumePrefix(&first, "error: ")) {
    return absl::FailedPreconditionError(first);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("not an offlogd control answer: ", first.substr(0, 80)));
}

}  // namespace offlog
