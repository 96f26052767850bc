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
#include "offlog/server/priority.h"
#include "offlog/server/writer_stats.h"

namespace offlog {

struct WriterConfig {
  int rotate_check_interval_ms = 5000;
  // Read with MSG_PEEK and discard only what has been written, so that the
  // acceptor can hand the sockets to a new writer if this one dies and no
  // byte is lost (at most the batch in flight is written twice).
  bool peek_reads = true;
  // Append only whole lines from each client, so that lines from different
  // clients of one file never tear into each other. An unfinished last line
  // waits in the socket until its newline arrives, it fills a 64 KiB read
  // on its own, the client shuts down, or it has been held `line_hold_ms`.
  // Off for binary data.
  bool atomic_lines = true;
  int line_hold_ms = 100;
  // Pause after a turn that appended little, so that appends batch up.
  int coalesce_us = 200;
  // --allow-dir, normalised: open confined beneath these (confine.h).
  // Target paths are opened as the client sent them, never normalised.
  std::vector<std::string> allowed_dirs;
  // Nice levels below the acceptor at which writers start, and what the
  // pool made of it at start (priority.h): what to go back to once the file
  // is open.
  int starting_nice_delta = kStartingNiceDelta;
  StartPriority priority;
};

// Serves clients until told to shut down or the acceptor goes away. Returns
// the process exit code. `stats` is shared memory the acceptor reads.
int RunWriter(UniqueFd channel, const WriterConfig& config, WriterStats* stats);

}  // namespace offlog

#endif  // OFFLOG_SERVER_WRITER_H_
