// The offlog wire protocol, byte for byte as offlog 0.3.1 speaks it.
// docs/PROTOCOL.md describes it in full.
//
//   client -> server: <absolute path bytes> NUL <file data ...> [SHUT_WR]
//   server -> client: NUL-terminated messages: "OK", "ROTATED", "BYE", or an
//                     error "<PythonExceptionClass>: <message>" followed by
//                     the server closing the connection.
#ifndef OFFLOG_COMMON_PROTOCOL_H_
#define OFFLOG_COMMON_PROTOCOL_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace offlog {

// The defaults of the original: the server's socket (offlogd's -s, the
// client's socket_path, offlogctl's fallback) and the client's timeout.
// One definition each; the server's own defaults are in
// offlog/server/defaults.h.
inline constexpr absl::string_view kDefaultSocketPath = "/tmp/offlog.sock";
inline constexpr int kDefaultTimeoutMs = 5000;

// The longest target path accepted, in bytes, not counting the NUL.
inline constexpr size_t kPathMax = 4096;

// Server messages (without their terminating NUL).
inline constexpr absl::string_view kMsgOk = "OK";
inline constexpr absl::string_view kMsgBye = "BYE";
inline constexpr absl::string_view kMsgRotated = "ROTATED";
inline constexpr absl::string_view kErrPathTooLong =
    "ValueError: path longer than PATH_MAX";
inline constexpr absl::string_view kErrNotAbsolute =
    "ValueError: not an absolute path";
inline constexpr absl::string_view kErrServerExited =
    "OSError: offlog server exited";

// Every server message is shorter than PIPE_BUF so that it is sent whole or
// not at all; longer ones (an error quoting a very long path) are cut.
inline constexpr size_t kMaxMessage = 4095;

// Returns `msg` with its terminating NUL, cut to fit kMaxMessage.
std::string FrameMessage(absl::string_view msg);

// Incremental reader of the path handshake. Feed it the bytes that arrive
// before the NUL; it never needs (or accepts) bytes after the NUL, which are
// file data and belong to the writer.
class HandshakeParser {
 public:
  enum class State { kNeedMore, kComplete, kTooLong };

  // Consumes a prefix of `data` and returns how many bytes it took: up to and
  // including the first NUL when there is one, else all of `data`. Call
  // state() afterwards.
  size_t Feed(absl::string_view data);

  State state() const { return state_; }
  // The path received so far (complete once state() is kComplete).
  const std::string& path() const { return path_; }

 private:
  State state_ = State::kNeedMore;
  std::string path_;
};

// Returns the error message the original sends for a complete handshake
// path, or an empty view when the path is acceptable.
absl::string_view ValidatePath(absl::string_view path);

// Normalises an absolute path lexically, as Python's os.path.normpath does
// for paths that start with a single '/': collapses '//' and '/./', resolves
// '..' against the preceding component (never above '/'), and drops a
// trailing '/'. Touches no file system. Not for routing client paths: the
// kernel resolves '..' after a symlink or a missing directory differently,
// and a trailing '/' changes what open() does (FileKeyPath below).
std::string NormalizePath(absl::string_view path);

// The spelling clients of `path` share a writer by. offlogd opens exactly
// the bytes a client sent, as the original does, so two spellings may share
// a writer only where they provably open the same file with the same
// result: `path` with doubled slashes and `.` components removed when it has
// no `..` component, does not end in '/' or '/.', and is shorter than
// kPathMax (open() refuses kPathMax bytes with ENAMETOOLONG); else `path`
// itself. Touches no file system.
std::string FileKeyPath(absl::string_view path);

}  // namespace offlog

#endif  // OFFLOG_COMMON_PROTOCOL_H_
