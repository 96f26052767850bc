#include "offlog/common/pyerror.h"

#include <cerrno>

#include "gtest/gtest.h"

namespace offlog {
namespace {

// Expected strings were produced by CPython 3.11 for the same inputs.
TEST(PyErrorTest, OpenErrorsMatchPython) {
  EXPECT_EQ(FormatOsError(ENOENT, "/no/such/dir/a.log"),
            "FileNotFoundError: [Errno 2] No such file or directory: "
            "'/no/such/dir/a.log'");
  EXPECT_EQ(FormatOsError(EACCES, "/x"),
            "PermissionError: [Errno 13] Permission denied: '/x'");
  EXPECT_EQ(FormatOsError(EISDIR, "/tmp"),
            "IsADirectoryError: [Errno 21] Is a directory: '/tmp'");
  EXPECT_EQ(FormatOsError(ENOTDIR, "/etc/passwd/x"),
            "NotADirectoryError: [Errno 20] Not a directory: '/etc/passwd/x'");
}

TEST(PyErrorTest, WriteErrorsHaveNoFilename) {
  EXPECT_EQ(FormatOsError(ENOSPC),
            "OSError: [Errno 28] No space left on device");
  EXPECT_EQ(FormatOsError(EFBIG), "OSError: [Errno 27] File too large");
  EXPECT_EQ(FormatOsError(EIO), "OSError: [Errno 5] Input/output error");
}

TEST(PyErrorTest, ClassesFollowPython) {
  EXPECT_EQ(PyOsErrorClass(EPERM), "PermissionError");
  EXPECT_EQ(PyOsErrorClass(EEXIST), "FileExistsError");
  EXPECT_EQ(PyOsErrorClass(EINTR), "InterruptedError");
  EXPECT_EQ(PyOsErrorClass(EAGAIN), "BlockingIOError");
  EXPECT_EQ(PyOsErrorClass(EPIPE), "BrokenPipeError");
  EXPECT_EQ(PyOsErrorClass(ETIMEDOUT), "TimeoutError");
  EXPECT_EQ(PyOsErrorClass(ENOSPC), "OSError");
}

TEST(PyReprTest, QuotesLikePython) {
  EXPECT_EQ(PyRepr("/tmp/a"), "'/tmp/a'");
  EXPECT_EQ(PyRepr("/it's"), "\"/it's\"");
  EXPECT_EQ(PyRepr("/it's \"q\""), "'/it\\'s \"q\"'");
  EXPECT_EQ(PyRepr("/a\\b"), "'/a\\\\b'");
}

TEST(PyReprTest, EscapesLikePython) {
  EXPECT_EQ(PyRepr("/a\tb\nc\rd\x01"), "'/a\\tb\\nc\\rd\\x01'");
  EXPECT_EQ(PyRepr("/\x7f"), "'/\\x7f'");
  // Not UTF-8: os.fsdecode's surrogate escapes.
  EXPECT_EQ(PyRepr("/a\xff"
                   "b"),
            "'/a\\udcffb'");
  EXPECT_EQ(PyRepr("/\xed\xa0\x80"), "'/\\udced\\udca0\\udc80'");
  // Printable non-ASCII stays as UTF-8; invisible characters are escaped.
  EXPECT_EQ(PyRepr("/caf\xc3\xa9"), "'/caf\xc3\xa9'");
  EXPECT_EQ(PyRepr("/\xc2\xa0\xc2\xad\xe2\x80\xa8\xee\x80\x80"),
            "'/\\xa0\\xad\\u2028\\ue000'");
  EXPECT_EQ(PyRepr("/\xf0\x9f\x98\x80"), "'/\xf0\x9f\x98\x80'");
}

TEST(StatusFromServerErrorTest, KeepsTextAndPicksCode) {
  absl::Status s = StatusFromServerError(
      "FileNotFoundError: [Errno 2] No such file or directory: '/x'");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(),
            "FileNotFoundError: [Errno 2] No such file or directory: '/x'");
  EXPECT_EQ(StatusFromServerError("PermissionError: [Errno 13] x").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(StatusFromServerError("ValueError: not an absolute path").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StatusFromServerError("OSError: offlog server exited").code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusFromServerError("OSError: [Errno 28] No space left on device")
                .code(),
            absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace offlog
