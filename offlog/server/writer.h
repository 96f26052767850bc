// A writer process: owns one target file and every client appending to it.
//
// The acceptor hands it clients over its channel (see channel.h). For each
// it opens the file if it is not open yet, answers "OK" or the open error
// itself, then appends whatever the client sends, in arrival order, with one
// write() per read so nothing is buffered in user space. A file system that
// hangs blocks this process alone, and so only this file's clients.
#ifndef OFFLOG_SERVER_WRITER_H_
#define OFFLOG_SERVER_WRITER_H_

#include <string>
#include <vector>

#include "offlog/common/unique_fd.h"
#include "offlog/server/defaults.h"
#include "offlog/server/priority.h"
#include "offlog/server/writer_stats.h"

namespace offlog {

struct WriterConfig {
  int rotate_check_interval_ms = kDefaultRotateCheckIntervalMs;
  // Read with MSG_PEEK and discard only what has been written, so that the
  // acceptor can hand the sockets to a new writer if this one dies and no
  // byte is lost (at most the batch in flight is written twice).
  bool peek_reads = kDefaultPeekReads;
  // Append only whole lines from each client, so that lines from different
  // clients of one file never tear into each other. An unfinished last line
  // waits in the socket until its newline arrives, it fills a 64 KiB read
  // on its own, the client shuts down, or it has been held `line_hold_ms`.
  // Off for binary data.
  bool atomic_lines = kDefaultAtomicLines;
  int line_hold_ms = kDefaultLineHoldMs;
  // Pause after a turn that appended little, so that appends batch up.
  int coalesce_us = kDefaultCoalesceUs;
  // --allow-dir, normalised: open confined beneath these (confine.h).
  // Target paths are opened as the client sent them, never normalised.
  std::vector<std::string> allowed_dirs;
  // Nice levels below the acceptor at which writers start, and what the
  // pool made of it at start (priority.h): what to go back to once the file
  // is open.
  int starting_nice_delta = kStartingNiceDelta;
  int starting_spare_cpus = kStartingSpareCpus;
  StartPriority priority;
};

// Serves clients until told to shut down or the acceptor goes away, and
// returns the process's exit code. What it needs of its caller, and does to
// its process:
// - It runs in a process of its own, started for it alone and single-
//   threaded: the spawner's clone() child (spawner.cc), which passes the
//   return value to _exit(). Never call it in a process with threads or
//   with state of its own to clean up.
// - `stats` is shared memory the acceptor reads (writer_stats.h); it must
//   stay mapped until RunWriter returns.
// - On the first client it must act as (kAssignAsClient), it changes the
//   whole process's credentials for good: setgroups, setresgid, setresuid
//   (DropToCredentials). If that fails half way it calls _exit(1) itself
//   rather than go on with mixed credentials; the acceptor then passes the
//   client to another writer.
// - `channel` is its only link to the acceptor: it holds no log descriptor
//   and logs through the channel (kLog).
int RunWriter(UniqueFd channel, const WriterConfig& config, WriterStats* stats);

}  // namespace offlog

#endif  // OFFLOG_SERVER_WRITER_H_
