// GlogSink: glog's records, appended to a file through the offlog server.
//
// For applications that already log with glog: install a sink and every
// LOG() line, formatted exactly as glog formats its own log files
// ("I20230703 10:12:54.796000 1234 main.cc:12] message"), is also appended
// to the given file without the logging thread ever blocking on file I/O.
//
//   absl::StatusOr<std::unique_ptr<offlog::GlogSink>> sink =
//       offlog::GlogSink::Install("/var/log/myapp.log");
//   if (!sink.ok()) ...;
//   LOG(INFO) << "hello";  // Now also in /var/log/myapp.log.
//
// The sink receives what glog hands to sinks: every record at or above
// --minloglevel, whatever --logtostderr and --stderrthreshold say. It is
// thread-safe. It follows rotations as Logger does. A write error cannot be
// reported from inside LOG(); the first one is kept for status().
#ifndef OFFLOG_CLIENT_GLOG_SINK_H_
#define OFFLOG_CLIENT_GLOG_SINK_H_

#include <glog/logging.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "offlog/client/proxy_file.h"

namespace offlog {

class GlogSink : public google::LogSink {
 public:
  // Opens `path` through the server (as ProxyFile::Open()) and registers
  // the sink with glog; destroying it unregisters it and closes the file.
  static absl::StatusOr<std::unique_ptr<GlogSink>> Install(
      absl::string_view path, const ProxyFileOptions& options = {});

  // Use Install().
  struct PrivateTag {};
  GlogSink(PrivateTag, std::string absolute_path, ProxyFileOptions options,
           ProxyFile file);
  ~GlogSink() override;

  // google::LogSink: appends the record, as glog formats it, and a newline.
  void send(google::LogSeverity severity, const char* full_filename,
            const char* base_filename, int line,
            const google::LogMessageTime& time, const char* message,
            size_t message_len) override;

  // Unregisters the sink and closes the file as ProxyFile::Close().
  absl::Status Close() ABSL_LOCKS_EXCLUDED(mu_);

  // The first error writing to the file, or OK.
  absl::Status status() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // Appends `record`, reopening the file first if it was rotated.
  absl::Status Append(absl::string_view record)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  const ProxyFileOptions options_;
  mutable absl::Mutex mu_;
  std::optional<ProxyFile> file_ ABSL_GUARDED_BY(mu_);
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  bool installed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace offlog

#endif  // OFFLOG_CLIENT_GLOG_SINK_H_
