#include "offlog/server/target_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "offlog/server/confine.h"

namespace offlog {

TargetFile::TargetFile(std::vector<std::string> allowed_dirs,
                       std::atomic<int64_t>* busy_since_ms, Clock clock)
    : allowed_dirs_(std::move(allowed_dirs)),
      busy_since_ms_(busy_since_ms),
      clock_(clock) {}

int TargetFile::OpenPath() {
  busy_since_ms_->store(clock_());
  int fd = OpenForAppend(path_, allowed_dirs_);
  busy_since_ms_->store(0);
  return fd;
}

int TargetFile::Open(std::string path) {
  fd_.Reset();
  path_ = std::move(path);
  int fd = OpenPath();
  if (fd < 0) return -fd;
  fd_.Reset(fd);
  return 0;
}

int TargetFile::Reopen() {
  int fd = OpenPath();
  if (fd < 0) return -fd;
  fd_.Reset(fd);
  return 0;
}

bool TargetFile::Close() {
  bool was_open = fd_.valid();
  fd_.Reset();
  path_.clear();
  return was_open;
}

TargetFile::Appended TargetFile::Append(absl::string_view data) {
  Appended result;
  busy_since_ms_->store(clock_());
  while (result.written < data.size()) {
    ssize_t n = write(fd_.get(), data.data() + result.written,
                      data.size() - result.written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      result.error = errno;
      break;
    }
    result.written += n;
  }
  busy_since_ms_->store(0);
  return result;
}

bool TargetFile::EndsMidLine() const {
  // An open() and a read on the target's file system: as long as those
  // take, the writer is busy (a hung mount shows as a stalled writer).
  busy_since_ms_->store(clock_());
  bool mid_line = LastByteIsNotNewline();
  busy_since_ms_->store(0);
  return mid_line;
}

bool TargetFile::LastByteIsNotNewline() const {
  UniqueFd reader(open(absl::StrCat("/proc/self/fd/", fd_.get()).c_str(),
                       O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  struct stat st;
  if (!reader || fstat(reader.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      st.st_size == 0) {
    return false;
  }
  char last;
  return pread(reader.get(), &last, 1, st.st_size - 1) == 1 && last != '\n';
}

std::optional<uint64_t> TargetFile::Size() const {
  struct stat st;
  if (fstat(fd_.get(), &st) != 0) return std::nullopt;
  return static_cast<uint64_t>(st.st_size);
}

bool TargetFile::HasRotated() const {
  if (!fd_) return false;
  struct stat open_st, path_st;
  if (fstat(fd_.get(), &open_st) != 0) return false;
  return stat(path_.c_str(), &path_st) != 0 ||
         path_st.st_ino != open_st.st_ino || path_st.st_dev != open_st.st_dev;
}

int64_t TargetFile::BusyMs(int64_t now_ms) const {
  int64_t since = busy_since_ms_->load();
  return since == 0 ? 0 : now_ms - since;
}

}  // namespace offlog
