#include "offlog/server/channel.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "offlog/common/fd_passing.h"

namespace offlog {

absl::Status SendChannelMessage(int sock, const ChannelHeader& header,
                                absl::string_view raw_path,
                                absl::string_view path, int fd,
                                const std::vector<gid_t>& groups) {
  ChannelHeader h = header;
  h.raw_path_len = static_cast<uint32_t>(raw_path.size());
  h.ngroups = static_cast<uint32_t>(groups.size());
  std::string buf(reinterpret_cast<const char*>(&h), sizeof(h));
  buf.append(reinterpret_cast<const char*>(groups.data()),
             groups.size() * sizeof(gid_t));
  absl::StrAppend(&buf, raw_path, path);
  return SendWithFd(sock, buf, fd);
}

absl::StatusOr<ChannelMessage> RecvChannelMessage(int sock) {
  absl::StatusOr<ReceivedMessage> got = RecvWithFd(sock, kMaxChannelMessage);
  if (!got.ok()) return got.status();
  if (got->payload.size() < sizeof(ChannelHeader)) {
    return absl::InvalidArgumentError("short channel message");
  }
  ChannelMessage msg;
  memcpy(&msg.header, got->payload.data(), sizeof(ChannelHeader));
  absl::string_view rest(got->payload);
  rest.remove_prefix(sizeof(ChannelHeader));
  size_t groups_bytes = size_t{msg.header.ngroups} * sizeof(gid_t);
  if (groups_bytes > rest.size()) {
    return absl::InvalidArgumentError("bad channel message");
  }
  msg.groups.resize(msg.header.ngroups);
  if (groups_bytes > 0) memcpy(msg.groups.data(), rest.data(), groups_bytes);
  rest.remove_prefix(groups_bytes);
  if (msg.header.raw_path_len > rest.size()) {
    return absl::InvalidArgumentError("bad channel message");
  }
  msg.raw_path = std::string(rest.substr(0, msg.header.raw_path_len));
  msg.path = std::string(rest.substr(msg.header.raw_path_len));
  msg.fd = std::move(got->fd);
  return msg;
}

}  // namespace offlog
