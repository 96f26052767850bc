// libFuzzer target: PyRepr and FormatOsError on arbitrary bytes. The result
// must be printable ASCII only (Python escapes everything else, and our
// messages must never carry a NUL, which would end them early on the wire).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "offlog/common/pyerror.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  int err = data[0] % 140;
  std::string path(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string repr = offlog::PyRepr(path);
  if (repr.size() < 2) abort();
  char q = repr[0];
  if ((q != '\'' && q != '"') || repr.back() != q) abort();
  for (unsigned char c : repr) {
    if (c == '\0') abort();
  }
  std::string msg = offlog::FormatOsError(err, path);
  if (msg.find('\0') != std::string::npos) abort();
  if (msg.find(repr) == std::string::npos) abort();
  offlog::FormatOsError(err);
  (void)offlog::StatusFromServerError(msg);
  return 0;
}
