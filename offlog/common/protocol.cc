#include "offlog/common/protocol.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace offlog {

std::string FrameMessage(absl::string_view msg) {
  std::string framed(msg.substr(0, kMaxMessage - 1));
  framed.push_back('\0');
  return framed;
}

size_t HandshakeParser::Feed(absl::string_view data) {
  if (state_ != State::kNeedMore) return 0;
  size_t nul = data.find('\0');
  size_t take = nul == absl::string_view::npos ? data.size() : nul + 1;
  path_.append(data.data(), nul == absl::string_view::npos ? take : nul);
  // Like the original, the length check comes before looking for the NUL:
  // a path of more than kPathMax bytes is refused however it arrives.
  if (path_.size() > kPathMax) {
    state_ = State::kTooLong;
  } else if (nul != absl::string_view::npos) {
    state_ = State::kComplete;
  }
  return take;
}

absl::string_view ValidatePath(absl::string_view path) {
  if (path.empty() || path.front() != '/') return kErrNotAbsolute;
  return {};
}

std::string NormalizePath(absl::string_view path) {
  std::vector<absl::string_view> parts;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  return "/" + absl::StrJoin(parts, "/");
}

std::string FileKeyPath(absl::string_view path) {
  if (path.size() >= kPathMax || path.empty() || path.back() == '/') {
    return std::string(path);
  }
  std::vector<absl::string_view> parts;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (part == "..") return std::string(path);
    if (part != ".") parts.push_back(part);
  }
  // A last component "." names the directory itself: open() fails where
  // the path without it might open a file.
  if (absl::EndsWith(path, "/.") || path == ".") return std::string(path);
  return "/" + absl::StrJoin(parts, "/");
}

}  // namespace offlog
