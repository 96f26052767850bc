// For glog_fatal_test: installs a GlogSink, logs one INFO line and then a
// FATAL one, which makes glog abort.
//
//   glog_fatal_helper SOCKET PATH TAG
//
// Writes "before TAG" and "fatal TAG" records to PATH through the server at
// SOCKET. Exits 2 if the sink cannot be installed; otherwise dies of
// SIGABRT.
#include <glog/logging.h>
#include <sys/resource.h>

#include <cstdio>
#include <memory>

#include "absl/status/statusor.h"
#include "offlog/client/glog_sink.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fputs("usage: glog_fatal_helper SOCKET PATH TAG\n", stderr);
    return 2;
  }
  struct rlimit no_core = {0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);  // 100 aborts, no core files.
  FLAGS_logtostderr = true;            // No glog files of its own.
  google::InitGoogleLogging(argv[0]);
  offlog::GlogSinkOptions options;
  options.file.socket_path = argv[1];
  options.fatal_wait_ms = 20000;  // Only a hang would run it out.
  absl::StatusOr<std::unique_ptr<offlog::GlogSink>> sink =
      offlog::GlogSink::Install(argv[2], options);
  if (!sink.ok()) {
    std::fprintf(stderr, "%s\n", sink.status().ToString().c_str());
    return 2;
  }
  LOG(INFO) << "before " << argv[3];
  LOG(FATAL) << "fatal " << argv[3];
}
