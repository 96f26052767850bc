// libFuzzer target: the path handshake (HandshakeParser fed in arbitrary
// chunks), ValidatePath, NormalizePath and FileKeyPath. Checks their
// invariants, not just absence of crashes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "offlog/common/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the chunk size, so that splits are explored too.
  size_t chunk = 1 + data[0] % 64;
  std::string input(reinterpret_cast<const char*>(data + 1), size - 1);
  offlog::HandshakeParser parser;
  size_t pos = 0;
  while (pos < input.size() &&
         parser.state() == offlog::HandshakeParser::State::kNeedMore) {
    absl::string_view piece = absl::string_view(input).substr(
        pos, std::min(chunk, input.size() - pos));
    size_t took = parser.Feed(piece);
    if (took > piece.size()) abort();
    pos += took;
    if (took < piece.size() &&
        parser.state() == offlog::HandshakeParser::State::kNeedMore) {
      abort();  // Stopped short without finishing.
    }
  }
  if (parser.state() == offlog::HandshakeParser::State::kComplete) {
    const std::string& path = parser.path();
    // Never reads past the NUL: it is the last byte taken.
    if (pos == 0 || input[pos - 1] != '\0') abort();
    if (path.size() > offlog::kPathMax || path.find('\0') != std::string::npos)
      abort();
    if (offlog::ValidatePath(path).empty()) {
      std::string norm = offlog::NormalizePath(path);
      // Normal form: absolute, idempotent, no "." or ".." components.
      if (norm.empty() || norm[0] != '/') abort();
      if (offlog::NormalizePath(norm) != norm) abort();
      if (norm.find("/../") != std::string::npos ||
          norm.find("/./") != std::string::npos ||
          norm.find("//") != std::string::npos)
        abort();
      // The routing key: idempotent, and the path itself unless the path
      // has no `..`, no trailing '/' or '/.', and fewer than kPathMax bytes
      // (then only `//` and `/./` are gone: NormalizePath agrees).
      std::string key = offlog::FileKeyPath(path);
      if (offlog::FileKeyPath(key) != key) abort();
      if (key != path) {
        if (path.size() >= offlog::kPathMax || path.back() == '/' ||
            path.find("/../") != std::string::npos || path.ends_with("/..") ||
            path.ends_with("/.") || key != norm)
          abort();
      }
    }
  }
  return 0;
}
