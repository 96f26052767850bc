// The project's one UTF-8 decoder: strict, as the Unicode standard defines
// well-formed UTF-8 (and as Python's "utf-8" codec decodes): no overlong
// forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no
// truncated sequences. Everything that prints or re-encodes a path
// (pyerror's repr, the server log's escaping, offlogctl's renderings) uses
// it, so that they agree on which bytes are text.
#ifndef OFFLOG_COMMON_UTF8_H_
#define OFFLOG_COMMON_UTF8_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace offlog {

struct Utf8Char {
  // The code point; for an invalid sequence, the byte at the position.
  uint32_t code_point = 0;
  // Bytes consumed: 1..4. An invalid sequence consumes exactly one byte, so
  // decoding resumes at the next byte (as Python's error handlers do).
  size_t length = 1;
  bool valid = false;
};

// Decodes the character that starts at `s[pos]`. Requires pos < s.size().
Utf8Char DecodeUtf8(absl::string_view s, size_t pos);

// True when all of `s` is well-formed UTF-8.
bool IsValidUtf8(absl::string_view s);

// Appends the UTF-8 encoding of `c` (any value up to U+10FFFF, surrogates
// included, as Python's surrogateescape needs none of them encoded here).
void AppendUtf8(uint32_t c, std::string* out);

}  // namespace offlog

#endif  // OFFLOG_COMMON_UTF8_H_
