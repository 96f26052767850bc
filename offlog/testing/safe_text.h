// The test oracle for text that offlogd and offlogctl print: valid UTF-8
// holding no character that could forge a record or rewrite what a
// terminal shows. Written apart from EscapeForLog so that tests and
// fuzzers check it against an independent statement of the rule.
#ifndef OFFLOG_TESTING_SAFE_TEXT_H_
#define OFFLOG_TESTING_SAFE_TEXT_H_

#include <cstdint>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "offlog/common/utf8.h"

namespace offlog {
namespace testing {

// C0, DEL, C1, the bidirectional formatting characters, U+2028/U+2029 and
// U+FEFF.
inline bool IsUnsafeCodePoint(uint32_t c) {
  return c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0x061C || c == 0x200E ||
         c == 0x200F || (c >= 0x2028 && c <= 0x202E) ||
         (c >= 0x2066 && c <= 0x2069) || c == 0xFEFF;
}

// "" when `text` is safe, else what is wrong and where. The ASCII controls
// in `separators` (the format's own, e.g. "\n") are allowed.
inline std::string FirstUnsafe(absl::string_view text,
                               absl::string_view separators) {
  for (size_t i = 0; i < text.size();) {
    Utf8Char c = DecodeUtf8(text, i);
    if (!c.valid) {
      return absl::StrFormat("invalid UTF-8 byte 0x%02x at %d", c.code_point,
                             i);
    }
    bool separator = c.code_point < 0x80 &&
                     separators.find(static_cast<char>(c.code_point)) !=
                         absl::string_view::npos;
    if (!separator && IsUnsafeCodePoint(c.code_point)) {
      return absl::StrFormat("raw U+%04X at %d", c.code_point, i);
    }
    i += c.length;
  }
  return "";
}

}  // namespace testing
}  // namespace offlog

#endif  // OFFLOG_TESTING_SAFE_TEXT_H_
