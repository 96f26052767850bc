#include "offlog/testing/control_status.h"

#include <poll.h>
#include <unistd.h>

#include <string>

namespace offlog {
namespace testing {

absl::StatusOr<ServerSnapshot> ControlStatus(const ServerProcess& server,
                                             absl::Duration timeout) {
  absl::StatusOr<UniqueFd> fd = Connect(server.socket_path() + ".ctl");
  if (!fd.ok()) return fd.status();
  if (absl::Status s = SendAll(fd->get(), "status\n"); !s.ok()) return s;
  std::string answer;
  char buf[65536];
  pollfd p = {fd->get(), POLLIN, 0};
  while (poll(&p, 1, absl::ToInt64Milliseconds(timeout)) > 0) {
    ssize_t n = read(fd->get(), buf, sizeof(buf));
    if (n <= 0) break;
    answer.append(buf, n);
  }
  absl::StatusOr<std::string> body = ParseControlAnswer(answer);
  if (!body.ok()) return body.status();
  return ParseSnapshot(*body);
}

}  // namespace testing
}  // namespace offlog
