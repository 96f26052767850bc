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
// thread-safe. It follows rotations as Logger does (FollowingFile): a
// reopen that fails is retried on the next record. A write error cannot be
// reported from inside LOG(); the first one is kept for status().
//
// Records queue in the client up to ProxyFileOptions::max_queued_bytes;
// beyond that the overflow policy decides (by default they are dropped,
// whole), and the next record written is preceded by one glog WARNING line
// saying how many were lost and between which times.
//
// Before glog aborts on a FATAL record it calls WaitTillSent(); the sink
// then waits, for up to GlogSinkOptions::fatal_wait_ms, until the record is
// in the file (ProxyFile::WaitWritten()), so that the reason for the crash
// is in the log.
#ifndef OFFLOG_CLIENT_GLOG_SINK_H_
#define OFFLOG_CLIENT_GLOG_SINK_H_

#include <glog/logging.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "offlog/client/following_file.h"
#include "offlog/client/proxy_file.h"

namespace offlog {

struct GlogSinkOptions {
  // The connection to the server, the queue's bound and overflow policy.
  ProxyFileOptions file;
  // How long, in milliseconds, WaitTillSent() waits after a FATAL record
  // for it to be in the file before glog goes on to abort.
  int fatal_wait_ms = 2000;
};

class GlogSink : public google::LogSink {
 public:
  // Opens `path` through the server (as ProxyFile::Open()) and registers
  // the sink with glog; destroying it unregisters it and closes the file.
  static absl::StatusOr<std::unique_ptr<GlogSink>> Install(
      absl::string_view path, const GlogSinkOptions& options);
  static absl::StatusOr<std::unique_ptr<GlogSink>> Install(
      absl::string_view path, const ProxyFileOptions& options = {});

  // Use Install().
  struct PrivateTag {};
  GlogSink(PrivateTag, GlogSinkOptions options, FollowingFile file);
  ~GlogSink() override;

  // google::LogSink: appends the record, as glog formats it, and a newline.
  void send(google::LogSeverity severity, const char* full_filename,
            const char* base_filename, int line,
            const google::LogMessageTime& time, const char* message,
            size_t message_len) override;

  // google::LogSink: glog calls it after each record, in the thread that
  // logged it, and before aborting on a FATAL one. After a FATAL record,
  // waits as WaitWritten() for up to fatal_wait_ms; otherwise returns at
  // once.
  void WaitTillSent() override ABSL_LOCKS_EXCLUDED(mu_);

  // Blocks until every record sent so far is in the file, or until
  // `deadline`, as ProxyFile::WaitWritten() (records written before the
  // sink followed a rotation included, as for Logger). Holds the sink's
  // lock: other threads' LOG() calls wait meanwhile.
  absl::Status WaitWritten(absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);

  // Records not written because the queue was full, since Install().
  uint64_t dropped_records() const ABSL_LOCKS_EXCLUDED(mu_);

  // Unregisters the sink and closes the file as ProxyFile::Close().
  absl::Status Close() ABSL_LOCKS_EXCLUDED(mu_);

  // The first error writing to the file, or OK.
  absl::Status status() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const GlogSinkOptions options_;
  mutable absl::Mutex mu_;
  // Follows rotations (retrying a failed reopen), marks gaps; nullopt once
  // closed. Not thread-safe: every call holds mu_.
  std::optional<FollowingFile> file_ ABSL_GUARDED_BY(mu_);
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  bool installed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t dropped_records_ ABSL_GUARDED_BY(mu_) = 0;  // Once closed.
};

}  // namespace offlog

#endif  // OFFLOG_CLIENT_GLOG_SINK_H_
