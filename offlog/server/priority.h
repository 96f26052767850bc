// CPU weight of writers while they start: below the acceptor's until they
// have their file open.
//
// A burst of new files starts a writer each. On a 2-CPU machine, 1,000
// writers starting (process creation, then creating the file: on ext4 about
// a millisecond of kernel time each) took the CPUs from the acceptor and
// from the writers of files already open, and connect-to-OK of a client of
// an open file went from 0.2 ms to 10 ms at p99. So the spawner, and with it
// every writer it starts, runs kStartingNiceDelta nice levels below the
// acceptor, and a writer goes back to the acceptor's nice value once it has
// opened its file (its first client's open, done at the lower weight, is the
// costly part).
//
// Going back up takes a right that lowering does not. Either the writer
// restores itself, which RLIMIT_NICE must allow (a writer may run as a
// client's user by then, with no capability; systemd's LimitNICE= sets the
// limit, and PlanStartPriority() raises it where the hard limit allows), or
// the acceptor restores the writer when its first client is confirmed,
// which takes CAP_SYS_NICE (root outside systemd's unit). Both are tried;
// where neither can work, nothing is lowered, so that no writer is ever
// left below the acceptor's weight.
#ifndef OFFLOG_SERVER_PRIORITY_H_
#define OFFLOG_SERVER_PRIORITY_H_

#include <sys/resource.h>

#include "offlog/server/defaults.h"  // kStartingNiceDelta

namespace offlog {

struct StartPriority {
  bool lowered = false;  // Writers start below serving_nice.
  int serving_nice = 0;  // The acceptor's nice value.
  int starting_nice = 0;
  // RLIMIT_NICE as it was before PlanStartPriority raised it; a writer
  // lowers it back once it has gone back up (so that a writer acting as a
  // client's user keeps no right to a higher priority than it had).
  rlim_t rlimit_nice_before = 0;
};

// Decides for the calling process, the acceptor, before it starts the
// spawner (the spawner and writers inherit the RLIMIT_NICE it sets):
// writers start `delta` nice levels below it (at most at 19), or at its
// level when `delta` is 0 or they could not go back up.
StartPriority PlanStartPriority(int delta);

// In the spawner, once: takes on starting_nice, which each writer inherits.
void EnterStartingPriority(const StartPriority& p);

// In a writer, after it opened its file: back to serving_nice, if
// RLIMIT_NICE allows. Harmless to call again.
void LeaveStartingPriority(const StartPriority& p);

// In the acceptor, when writer `pid` (its child, not yet reaped) confirmed
// its first client: back to serving_nice, if the acceptor may.
void RestoreWriterPriority(const StartPriority& p, int pid);

}  // namespace offlog

#endif  // OFFLOG_SERVER_PRIORITY_H_
