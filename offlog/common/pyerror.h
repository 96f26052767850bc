// Error messages formatted exactly as Python formats the OSError it raises,
// since the original server sends `traceback.format_exception_only()` text
// and the original client re-raises it by class name.
#ifndef OFFLOG_COMMON_PYERROR_H_
#define OFFLOG_COMMON_PYERROR_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace offlog {

// The builtin exception class Python raises for an OSError with `err`:
// "FileNotFoundError" for ENOENT, ..., "OSError" when none is more specific.
absl::string_view PyOsErrorClass(int err);

// `repr()` of the str that `os.fsdecode(path)` returns: single-quoted unless
// the text holds a ' and no ", with Python's escapes; bytes that are not
// UTF-8 appear as the surrogate escapes \udc80..\udcff.
std::string PyRepr(absl::string_view path);

// "<Class>: [Errno N] <strerror>: '<path>'", as for a failed open().
std::string FormatOsError(int err, absl::string_view path);

// "<Class>: [Errno N] <strerror>", as for a failed write().
std::string FormatOsError(int err);

// Maps a server error message back to an absl::Status: the message is kept
// verbatim, the code chosen from its class (FileNotFoundError is NotFound,
// PermissionError PermissionDenied, ValueError InvalidArgument, ...).
absl::Status StatusFromServerError(absl::string_view message);

}  // namespace offlog

#endif  // OFFLOG_COMMON_PYERROR_H_
