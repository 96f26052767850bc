#include "offlog/client/abspath.h"

#include <limits.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "offlog/common/protocol.h"
#include "offlog/common/pyerror.h"

namespace offlog {

std::string NormalizeAbsolutePath(absl::string_view path) {
  bool two_slashes =
      absl::StartsWith(path, "//") && !absl::StartsWith(path, "///");
  std::string normal = NormalizePath(path);
  return two_slashes ? absl::StrCat("/", normal) : normal;
}

std::string AbsolutePathFrom(absl::string_view cwd, absl::string_view path) {
  if (absl::StartsWith(path, "/")) return NormalizeAbsolutePath(path);
  absl::string_view sep = absl::EndsWith(cwd, "/") ? "" : "/";
  return NormalizeAbsolutePath(absl::StrCat(cwd, sep, path));
}

absl::StatusOr<std::string> AbsolutePath(absl::string_view path) {
  if (absl::StartsWith(path, "/")) return NormalizeAbsolutePath(path);
  char cwd[PATH_MAX + 1];
  if (::getcwd(cwd, sizeof(cwd)) == nullptr) {
    return StatusFromServerError(FormatOsError(errno));
  }
  return AbsolutePathFrom(cwd, path);
}

}  // namespace offlog
