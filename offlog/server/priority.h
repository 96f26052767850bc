// CPUs and CPU weight of writers while they start: off one CPU, and
// optionally below the acceptor's weight, until they have their file open.
//
// A burst of new files starts a writer each. On a 2-CPU machine, 1,000
// writers starting (process creation, then creating the file: on ext4 about
// a millisecond of kernel time each) took the CPUs from the acceptor and
// from the writers of files already open, and connect-to-OK of a client of
// an open file went from 0.2 ms to 10 ms at p99.
//
// The kernel (built without full preemption, as these VMs' and many
// servers' are) does not preempt a file creation in progress, whatever the
// creator's nice value. So writers start on all CPUs but `spare_cpus` (the
// lowest-numbered of the acceptor's), and take back all of the acceptor's
// CPUs once their file is open; a process may always widen its own CPU
// affinity within its cpuset, so this needs no right. While writers start,
// the acceptor keeps to the spared CPUs (acceptor.cc,
// KeepToSpareCpusWhileWritersStart). Connect-to-OK p99 of a client of an
// open file during such a burst: 5-16x idle with neither, 1.5-1.8x
// (medians of rounds) with both (docs/PERFORMANCE.md).
//
// Writers may also start `delta` nice levels below the acceptor
// (--writer-start-nice, default 0 since the acceptor keeps to the spared
// CPU), going back to the acceptor's nice value once their file is open.
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

#include <sched.h>
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
  // Writers start on starting_cpus, serving_cpus but the spared ones, and
  // go back to serving_cpus (the acceptor's) once their file is open.
  bool narrowed = false;
  cpu_set_t serving_cpus;
  cpu_set_t starting_cpus;
};

// Decides for the calling process, the acceptor, before it starts the
// spawner (the spawner and writers inherit the RLIMIT_NICE it sets):
// writers start `delta` nice levels below it (at most at 19), or at its
// level when `delta` is 0 or they could not go back up; and off the
// `spare_cpus` lowest-numbered of its CPUs, if it has more than that.
StartPriority PlanStartPriority(int delta, int spare_cpus);

// In the spawner, once: takes on starting_nice and starting_cpus, which each
// writer inherits.
void EnterStartingPriority(const StartPriority& p);

// In a writer, after it opened its file: back to serving_cpus, and to
// serving_nice if RLIMIT_NICE allows. Harmless to call again.
void LeaveStartingPriority(const StartPriority& p);

// In the acceptor, when writer `pid` (its child, not yet reaped) confirmed
// its first client: back to serving_nice, if the acceptor may.
void RestoreWriterPriority(const StartPriority& p, int pid);

}  // namespace offlog

#endif  // OFFLOG_SERVER_PRIORITY_H_
