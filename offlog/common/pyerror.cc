#include "offlog/common/pyerror.h"

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace offlog {
namespace {

// Decodes one code point of `s` starting at `*i` as Python's strict UTF-8
// decoder with the surrogateescape handler does (os.fsdecode): an invalid
// byte becomes U+DC80..U+DCFF and decoding resumes at the next byte.
uint32_t DecodeFsChar(absl::string_view s, size_t* i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char b0 = byte(*i);
  int len = 0;
  uint32_t cp = 0, min = 0;
  if (b0 < 0x80) {
    ++*i;
    return b0;
  } else if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  }
  bool ok = len > 0 && *i + len <= s.size();
  for (int k = 1; ok && k < len; ++k) {
    unsigned char b = byte(*i + k);
    ok = (b & 0xC0) == 0x80;
    cp = (cp << 6) | (b & 0x3F);
  }
  ok = ok && cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
  if (!ok) {
    ++*i;
    return 0xDC00 + b0;
  }
  *i += len;
  return cp;
}

// Python's str.isprintable() for the code points a path plausibly holds:
// controls, format characters, separators other than ' ', surrogates,
// private use and noncharacters are not printable. (Python consults the full
// Unicode database; unassigned code points elsewhere are treated as
// printable here.)
bool IsPrintable(uint32_t c) {
  if (c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD) return false;
  if (c == 0x1680 || (c >= 0x2000 && c <= 0x200F) ||
      (c >= 0x2028 && c <= 0x202F) || (c >= 0x205F && c <= 0x2064) ||
      c == 0x3000 || c == 0xFEFF || c == 0x061C || c == 0x180E) {
    return false;
  }
  if (c >= 0xD800 && c <= 0xF8FF) return false;  // Surrogates, private use.
  if (c >= 0xFFF9 && c <= 0xFFFB) return false;
  if ((c & 0xFFFE) == 0xFFFE || (c >= 0xFDD0 && c <= 0xFDEF)) return false;
  if (c >= 0xF0000) return false;  // Planes 15 and 16: private use.
  if (c >= 0xE0000 && c <= 0xE0FFF) return false;  // Tags etc.
  return true;
}

void AppendUtf8(uint32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

void AppendEscaped(uint32_t c, char quote, std::string* out) {
  if (c == static_cast<uint32_t>(quote) || c == '\\') {
    out->push_back('\\');
    out->push_back(static_cast<char>(c));
  } else if (c == '\t') {
    out->append("\\t");
  } else if (c == '\n') {
    out->append("\\n");
  } else if (c == '\r') {
    out->append("\\r");
  } else if (IsPrintable(c)) {
    AppendUtf8(c, out);
  } else if (c <= 0xFF) {
    absl::StrAppendFormat(out, "\\x%02x", c);
  } else if (c <= 0xFFFF) {
    absl::StrAppendFormat(out, "\\u%04x", c);
  } else {
    absl::StrAppendFormat(out, "\\U%08x", c);
  }
}

}  // namespace

absl::string_view PyOsErrorClass(int err) {
  switch (err) {
    case ENOENT:
      return "FileNotFoundError";
    case EACCES:
    case EPERM:
      return "PermissionError";
    case EISDIR:
      return "IsADirectoryError";
    case ENOTDIR:
      return "NotADirectoryError";
    case EEXIST:
      return "FileExistsError";
    case EINTR:
      return "InterruptedError";
    case EAGAIN:
    case EALREADY:
    case EINPROGRESS:
      return "BlockingIOError";
    case EPIPE:
    case ESHUTDOWN:
      return "BrokenPipeError";
    case ECHILD:
      return "ChildProcessError";
    case ECONNABORTED:
      return "ConnectionAbortedError";
    case ECONNREFUSED:
      return "ConnectionRefusedError";
    case ECONNRESET:
      return "ConnectionResetError";
    case ESRCH:
      return "ProcessLookupError";
    case ETIMEDOUT:
      return "TimeoutError";
    default:
      return "OSError";
  }
}

std::string PyRepr(absl::string_view path) {
  std::u32string chars;
  for (size_t i = 0; i < path.size();) chars.push_back(DecodeFsChar(path, &i));
  bool has_single = chars.find(U'\'') != std::u32string::npos;
  bool has_double = chars.find(U'"') != std::u32string::npos;
  char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (uint32_t c : chars) AppendEscaped(c, quote, &out);
  out.push_back(quote);
  return out;
}

std::string FormatOsError(int err, absl::string_view path) {
  return absl::StrFormat("%s: [Errno %d] %s: %s", PyOsErrorClass(err), err,
                         strerror(err), PyRepr(path));
}

std::string FormatOsError(int err) {
  return absl::StrFormat("%s: [Errno %d] %s", PyOsErrorClass(err), err,
                         strerror(err));
}

absl::Status StatusFromServerError(absl::string_view message) {
  std::pair<absl::string_view, absl::string_view> split =
      absl::StrSplit(message, absl::MaxSplits(": ", 1));
  absl::string_view cls = split.first;
  absl::StatusCode code = absl::StatusCode::kUnknown;
  if (cls == "FileNotFoundError") {
    code = absl::StatusCode::kNotFound;
  } else if (cls == "PermissionError") {
    code = absl::StatusCode::kPermissionDenied;
  } else if (cls == "ValueError" || cls == "IsADirectoryError" ||
             cls == "NotADirectoryError") {
    code = absl::StatusCode::kInvalidArgument;
  } else if (cls == "FileExistsError") {
    code = absl::StatusCode::kAlreadyExists;
  } else if (cls == "TimeoutError") {
    code = absl::StatusCode::kDeadlineExceeded;
  } else if (cls == "BrokenPipeError" || cls == "ConnectionResetError" ||
             cls == "ConnectionAbortedError" ||
             message == "OSError: offlog server exited") {
    code = absl::StatusCode::kUnavailable;
  } else if (absl::StrContains(message, "[Errno 28]") ||
             absl::StrContains(message, "[Errno 27]")) {
    code = absl::StatusCode::kResourceExhausted;
  }
  return absl::Status(code, message);
}

}  // namespace offlog
