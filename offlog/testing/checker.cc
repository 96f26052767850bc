#include "offlog/testing/checker.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "offlog/common/unique_fd.h"

namespace offlog::bench {
namespace {

// Seqs are tracked in a dense array; a seq beyond this (a corrupted line that
// happened to parse) counts as unexpected instead of growing it without bound.
constexpr uint64_t kMaxTrackedSeq = uint64_t{1} << 26;

char PadChar(uint64_t client, uint64_t seq) {
  return static_cast<char>('a' + (client * 7 + seq) % 26);
}

int Digits(uint64_t v) {
  int n = 1;
  while (v >= 10) {
    v /= 10;
    ++n;
  }
  return n;
}

// Parses a decimal number at the start of `s` up to `delim`; advances `s`
// past the delimiter.
bool ParseNumber(absl::string_view* s, uint64_t* out) {
  size_t i = 0;
  uint64_t v = 0;
  while (i < s->size() && (*s)[i] >= '0' && (*s)[i] <= '9' && i < 19) {
    v = v * 10 + static_cast<uint64_t>((*s)[i] - '0');
    ++i;
  }
  if (i == 0 || i >= s->size() || (*s)[i] != ' ') return false;
  *out = v;
  s->remove_prefix(i + 1);
  return true;
}

bool AllEqual(absl::string_view s, char c) {
  return std::all_of(s.begin(), s.end(), [c](char x) { return x == c; });
}

void AddInto(const ClientReport& r, ClientReport* sum) {
  sum->seen += r.seen;
  sum->missing += r.missing;
  sum->duplicated += r.duplicated;
  sum->out_of_order += r.out_of_order;
  sum->unexpected += r.unexpected;
  sum->torn += r.torn;
}

bool HasDefect(const ClientReport& r) {
  return r.missing || r.duplicated || r.out_of_order || r.unexpected || r.torn;
}

}  // namespace

size_t MinRecordSize(uint64_t client, uint64_t seq) {
  // "R " + client + " " + seq + " " + "\n"
  return 5 + Digits(client) + Digits(seq);
}

void AppendRecord(uint64_t client, uint64_t seq, size_t size,
                  std::string* out) {
  const size_t start = out->size();
  absl::StrAppend(out, "R ", client, " ", seq, " ");
  const size_t header = out->size() - start;
  const size_t pad = size > header + 1 ? size - header - 1 : 0;
  out->append(pad, PadChar(client, seq));
  out->push_back('\n');
}

std::string MakeRecord(uint64_t client, uint64_t seq, size_t size) {
  std::string s;
  AppendRecord(client, seq, size, &s);
  return s;
}

bool CheckReport::clean() const { return !HasDefect(total); }

void RecordChecker::AddData(absl::string_view data) {
  ++files_;
  bytes_ += data.size();
  // Highest seq seen per client in this file, for out-of-order detection.
  std::map<uint64_t, uint64_t> max_seq;
  while (!data.empty()) {
    const void* nl = memchr(data.data(), '\n', data.size());
    if (nl == nullptr) {
      // The last line has no newline: it was cut short.
      ++lines_;
      AddLine(data, &max_seq);
      break;
    }
    const size_t len = static_cast<const char*>(nl) - data.data();
    ++lines_;
    AddLine(data.substr(0, len + 1), &max_seq);
    data.remove_prefix(len + 1);
  }
}

// `line` includes its newline when it has one; a line without one is torn
// even when the rest of it would parse.
void RecordChecker::AddLine(absl::string_view line,
                            std::map<uint64_t, uint64_t>* max_seq) {
  const bool has_newline = !line.empty() && line.back() == '\n';
  absl::string_view s = line;
  uint64_t client = 0, seq = 0;
  if (!absl::ConsumePrefix(&s, "R ") || !ParseNumber(&s, &client)) {
    ++unattributed_torn_;
    return;
  }
  const bool whole =
      has_newline && ParseNumber(&s, &seq) &&
      (options_.record_size == 0 || line.size() == options_.record_size) &&
      AllEqual(s.substr(0, s.size() - 1), PadChar(client, seq));
  if (!whole) {
    ++clients_[client].report.torn;
    return;
  }
  AddRecord(client, seq, max_seq);
}

void RecordChecker::AddRecord(uint64_t client, uint64_t seq,
                              std::map<uint64_t, uint64_t>* max_seq) {
  ClientState& c = clients_[client];
  if ((options_.expected_records && seq >= options_.expected_records) ||
      seq >= kMaxTrackedSeq) {
    ++c.report.unexpected;
    return;
  }
  if (seq >= c.counts.size()) {
    c.counts.resize(std::max<size_t>(seq + 1, c.counts.size() * 2), 0);
  }
  uint8_t& count = c.counts[seq];
  // `max_seq` is per file: a duplicate of a record first seen in another
  // file may be this client's first record in this one.
  auto [it, first] = max_seq->try_emplace(client, seq);
  if (count > 0) {
    ++c.report.duplicated;
  } else {
    ++c.report.seen;
    if (!first && seq < it->second) ++c.report.out_of_order;
  }
  if (count < 255) ++count;
  it->second = std::max(it->second, seq);
}

absl::Status RecordChecker::AddFile(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("fstat ", path));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    AddData("");
    return absl::OkStatus();
  }
  void* p = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (p == MAP_FAILED) {
    return absl::ErrnoToStatus(errno, absl::StrCat("mmap ", path));
  }
  madvise(p, size, MADV_SEQUENTIAL);
  AddData(absl::string_view(static_cast<const char*>(p), size));
  munmap(p, size);
  return absl::OkStatus();
}

CheckReport RecordChecker::Finish() const {
  CheckReport report;
  report.files = files_;
  report.bytes = bytes_;
  report.lines = lines_;
  for (uint64_t id = 0; id < options_.expected_clients; ++id) {
    report.clients[id];
  }
  for (const auto& [id, state] : clients_) {
    ClientReport r = state.report;
    uint64_t expected = options_.expected_records;
    if (expected == 0) expected = state.counts.size();
    // counts may be longer than the highest seq seen (it grows by doubling).
    if (options_.expected_records == 0) {
      while (expected > 0 && state.counts[expected - 1] == 0) --expected;
    }
    r.missing = expected - r.seen;
    report.clients[id] = r;
  }
  for (auto& [id, r] : report.clients) {
    if (clients_.count(id) == 0) r.missing = options_.expected_records;
    AddInto(r, &report.total);
  }
  report.total.torn += unattributed_torn_;
  return report;
}

absl::StatusOr<CheckReport> CheckFiles(const std::vector<std::string>& paths,
                                       const CheckOptions& options) {
  RecordChecker checker(options);
  for (const std::string& path : paths) {
    absl::Status s = checker.AddFile(path);
    if (!s.ok()) return s;
  }
  return checker.Finish();
}

namespace {

std::string FormatCounts(const ClientReport& r) {
  return absl::StrFormat(
      "seen=%d missing=%d duplicated=%d out_of_order=%d torn=%d unexpected=%d",
      r.seen, r.missing, r.duplicated, r.out_of_order, r.torn, r.unexpected);
}

}  // namespace

std::string FormatSummary(const CheckReport& report, int max_clients) {
  std::string out = absl::StrFormat(
      "checker: %s: %d files, %d bytes, %d lines, %d clients: %s\n",
      report.clean() ? "CLEAN" : "DEFECTS", report.files, report.bytes,
      report.lines, report.clients.size(), FormatCounts(report.total));
  int listed = 0;
  for (const auto& [id, r] : report.clients) {
    if (!HasDefect(r)) continue;
    if (listed++ == max_clients) {
      absl::StrAppend(&out, "  ...\n");
      break;
    }
    absl::StrAppend(&out, "  client ", id, ": ", FormatCounts(r), "\n");
  }
  return out;
}

void PrintSummary(const CheckReport& report, FILE* out) {
  fputs(FormatSummary(report).c_str(), out);
}

}  // namespace offlog::bench
