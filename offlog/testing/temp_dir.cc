#include "offlog/testing/temp_dir.h"

#include <stdlib.h>

#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace offlog {
namespace testing {

TempDir::TempDir() {
  char tmpl[] = "/tmp/offlogtXXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    perror("mkdtemp /tmp/offlogtXXXXXX");
    abort();
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::File(absl::string_view name) const {
  return absl::StrCat(path_, "/", name);
}

}  // namespace testing
}  // namespace offlog
