// Absolute paths made the way the original client makes them: Python's
// os.path.abspath, which joins a relative path to the current directory and
// then normalises it lexically (no symlinks are resolved, nothing need
// exist).
#ifndef OFFLOG_CLIENT_ABSPATH_H_
#define OFFLOG_CLIENT_ABSPATH_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace offlog {

// Returns os.path.normpath(path) for an absolute `path`: '.' and empty
// components dropped, '..' resolved lexically and never above the root, and
// POSIX's special case kept: exactly two leading slashes stay two.
std::string NormalizeAbsolutePath(absl::string_view path);

// Returns `path` joined to `cwd` unless it is absolute, then normalised.
std::string AbsolutePathFrom(absl::string_view cwd, absl::string_view path);

// As AbsolutePathFrom() with the process's current directory. Fails only
// when the current directory cannot be read (e.g. it was removed).
absl::StatusOr<std::string> AbsolutePath(absl::string_view path);

}  // namespace offlog

#endif  // OFFLOG_CLIENT_ABSPATH_H_
