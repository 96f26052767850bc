// A fresh directory for a test, made with mkdtemp under /tmp (short enough
// for Unix socket paths, which hold at most 107 bytes; Bazel's TEST_TMPDIR
// is longer), and removed with its contents on destruction.
#ifndef OFFLOG_TESTING_TEMP_DIR_H_
#define OFFLOG_TESTING_TEMP_DIR_H_

#include <string>

#include "absl/strings/string_view.h"

namespace offlog {
namespace testing {

class TempDir {
 public:
  // Aborts the test binary if no directory can be made: nothing that
  // follows could run.
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // `path()/name`.
  std::string File(absl::string_view name) const;

 private:
  std::string path_;
};

}  // namespace testing
}  // namespace offlog

#endif  // OFFLOG_TESTING_TEMP_DIR_H_
