// For glog_fatal_test: installs a GlogSink, logs 1 MiB of INFO records (more
// than the socket holds, so that some are still queued) and then a FATAL
// one, which makes glog abort.
//
//   glog_fatal_helper SOCKET PATH TAG [FATAL_WAIT_MS]
//
// Writes "before TAG ..." and "fatal TAG" records to PATH through the server at
// SOCKET, with GlogSinkOptions::fatal_wait_ms FATAL_WAIT_MS (default 20000;
// 0 shows what happens without the wait). Exits 2 on a usage error or if
// the sink cannot be installed; otherwise dies of SIGABRT.
#include <glog/logging.h>
#include <sys/resource.h>

#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "offlog/client/glog_sink.h"

int main(int argc, char** argv) {
  offlog::GlogSinkOptions options;
  options.fatal_wait_ms = 20000;  // Only a hang would run it out.
  if ((argc != 4 && argc != 5) ||
      (argc == 5 && !absl::SimpleAtoi(argv[4], &options.fatal_wait_ms))) {
    std::fputs("usage: glog_fatal_helper SOCKET PATH TAG [FATAL_WAIT_MS]\n",
               stderr);
    return 2;
  }
  struct rlimit no_core = {0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);  // 100 aborts, no core files.
  FLAGS_logtostderr = true;            // No glog files of its own.
  google::InitGoogleLogging(argv[0]);
  options.file.socket_path = argv[1];
  absl::StatusOr<std::unique_ptr<offlog::GlogSink>> sink =
      offlog::GlogSink::Install(argv[2], options);
  if (!sink.ok()) {
    std::fprintf(stderr, "%s\n", sink.status().ToString().c_str());
    return 2;
  }
  const std::string filler(1000, '.');
  for (int i = 0; i < 1024; ++i) LOG(INFO) << "before " << argv[3] << filler;
  LOG(FATAL) << "fatal " << argv[3];
}
