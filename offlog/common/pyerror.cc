#include "offlog/common/pyerror.h"

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "offlog/common/utf8.h"

namespace offlog {
namespace {

// Decodes one code point of `s` starting at `*i` as Python's strict UTF-8
// decoder with the surrogateescape handler does (os.fsdecode): an invalid
// byte becomes U+DC80..U+DCFF and decoding resumes at the next byte.
uint32_t DecodeFsChar(absl::string_view s, size_t* i) {
  Utf8Char c = DecodeUtf8(s, *i);
  *i += c.length;
  return c.valid ? c.code_point : 0xDC00 + c.code_point;
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
