// The acceptor: the process offlogd starts as. It owns the listening socket
// and supervises the writers, like nginx's master. For each connection it
// reads the peer's credentials and the target path (never past the path's
// NUL: what follows is file data, left in the socket for the writer), then
// passes the socket to the writer of that path.
//
// It never waits on another process and never touches a target file
// system, not even with stat(): open() and write() on a hung NFS mount may
// block forever, and only the writer of that path may block with them.
// Every channel is non-blocking (channel.h); a writer that does not take its
// assignments has at most kMaxInFlightPerWriter of them, and further clients
// of its file wait in a bounded queue here; writers are started by the
// spawner asynchronously; children are reaped with WNOHANG; the server log
// is written by a thread of its own. What each uid may hold is bounded
// (bounds.h).
//
// It keeps a duplicate of every client socket it has handed on, until the
// writer reports the client done. If a writer dies, its clients are passed
// to a fresh writer and carry on (the writer reads with MSG_PEEK and only
// consumes what it has written, so nothing is lost).
#ifndef OFFLOG_SERVER_ACCEPTOR_H_
#define OFFLOG_SERVER_ACCEPTOR_H_

#include "offlog/server/admission.h"
#include "offlog/server/listener.h"
#include "offlog/server/options.h"

namespace offlog {

// Runs the server until SIGTERM or SIGINT and a graceful shutdown. Returns
// the process exit code. `admission` is the one policy built from
// `options`; `control`, when it holds a socket, serves offlogctl
// (control.h). Call from a single-threaded process.
int RunAcceptor(const ServerOptions& options, Admission admission,
                Listener listener, Listener control = {});

}  // namespace offlog

#endif  // OFFLOG_SERVER_ACCEPTOR_H_
