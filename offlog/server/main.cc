// offlogd: the offlog file-append server. See docs/ARCHITECTURE.md.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>

#include "offlog/server/acceptor.h"
#include "offlog/server/admission.h"
#include "offlog/server/listener.h"
#include "offlog/server/options.h"
#include "offlog/server/server_log.h"

namespace {

// Each client costs the acceptor one descriptor (its kept duplicate) and
// its writer another; the soft limit of 1024 would cap the server far below
// what the machine allows.
void RaiseFileLimit() {
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// Descriptors 0-2 open (on /dev/null if they were closed), so that no
// socket offlogd opens lands on them and is taken for stdio.
void KeepStdioOpen() {
  while (true) {
    int fd = open("/dev/null", O_RDWR);
    if (fd < 0) return;
    if (fd > 2) {
      close(fd);
      return;
    }
  }
}

// Binds the control socket (owner-only), or returns an empty Listener when
// there is to be none.
absl::StatusOr<offlog::Listener> OpenControlListener(
    const offlog::ServerOptions& options, const offlog::Listener& main) {
  std::string path = offlog::ControlSocketPath(options, main.path.empty());
  if (path.empty()) return offlog::Listener();
  return offlog::BindListener(path, 0600, "");
}

}  // namespace

int main(int argc, char** argv) {
  absl::StatusOr<offlog::ServerOptions> options =
      offlog::ParseServerOptions(argc, argv);
  if (!options.ok()) {
    fprintf(stderr, "offlogd: error: %s\n%s",
            std::string(options.status().message()).c_str(),
            offlog::ServerUsage().c_str());
    return 2;
  }
  if (options->help) {
    fputs(offlog::ServerUsage().c_str(), stdout);
    return 0;
  }
  // Unknown user or group names and relative --allow-dir fail here, before
  // the socket exists; the acceptor is given this one policy.
  absl::StatusOr<offlog::Admission> admission =
      offlog::Admission::FromOptions(*options);
  if (!admission.ok()) {
    fprintf(stderr, "offlogd: error: %s\n",
            std::string(admission.status().message()).c_str());
    return 2;
  }
  KeepStdioOpen();
  signal(SIGPIPE, SIG_IGN);
  RaiseFileLimit();
  absl::StatusOr<offlog::Listener> listener = offlog::OpenListener(
      options->socket_file, options->socket_mode, options->socket_group);
  if (!listener.ok()) {
    fprintf(stderr, "offlogd: %s\n",
            std::string(listener.status().message()).c_str());
    return 1;
  }
  absl::StatusOr<offlog::Listener> control =
      OpenControlListener(*options, *listener);
  if (!control.ok()) {
    fprintf(stderr, "offlogd: control socket: %s\n",
            std::string(control.status().message()).c_str());
    offlog::RemoveSocketFile(*listener);
    return 1;
  }
  if (!options->logfile.empty()) {
    if (absl::Status s = offlog::OpenServerLogFile(options->logfile); !s.ok()) {
      fprintf(stderr, "offlogd: %s\n", std::string(s.message()).c_str());
      offlog::RemoveSocketFile(*listener);
      offlog::RemoveSocketFile(*control);
      return 1;
    }
  }
  return offlog::RunAcceptor(*options, *std::move(admission),
                             *std::move(listener), *std::move(control));
}
