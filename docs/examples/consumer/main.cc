// Appends one Logger record and one raw line to a file through offlogd.
//
//   consumer SOCKET PATH
#include <cstdio>

#include "offlog/client/logger.h"
#include "offlog/client/proxy_file.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: consumer SOCKET PATH\n");
    return 2;
  }
  offlog::LoggerOptions options;
  options.name = "consumer";
  options.filepath = argv[2];
  options.offlog_socket_path = argv[1];
  absl::StatusOr<offlog::Logger> logger = offlog::Logger::Open(options);
  if (!logger.ok()) {
    std::fprintf(stderr, "%s\n", logger.status().ToString().c_str());
    return 1;
  }
  absl::Status status = logger->Info("hello from %s", "a consumer");
  if (status.ok()) status = logger->Close();

  offlog::ProxyFileOptions file_options;
  file_options.socket_path = argv[1];
  absl::StatusOr<offlog::ProxyFile> file =
      offlog::ProxyFile::Open(argv[2], file_options);
  if (status.ok()) status = file.status();
  if (status.ok()) status = file->Write("raw line\n");
  if (status.ok()) status = file->Close();
  if (!status.ok()) {
    std::fprintf(stderr, "%s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
