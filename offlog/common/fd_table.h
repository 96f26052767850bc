// The process's descriptor limit and table, sized ahead of need.
#ifndef OFFLOG_COMMON_FD_TABLE_H_
#define OFFLOG_COMMON_FD_TABLE_H_

namespace offlog {

// Raises the soft RLIMIT_NOFILE to the hard limit (what an unprivileged
// process may do). Servers and load generators hold a descriptor per
// connection; the usual soft limit of 1024 would cap them far below what
// the machine allows.
void RaiseDescriptorLimit();

// Grows this process's descriptor table now so that it holds at least
// min(`slots`, RLIMIT_NOFILE's soft limit) descriptors; returns the number
// it holds room for (0 if it could not grow it).
//
// The kernel grows the table on demand, doubling it, and in a process with
// more than one thread each growth waits for an RCU grace period while
// every thread that allocates a descriptor (socket(), accept(), open(),
// recvmsg() with SCM_RIGHTS) waits behind it: 10-16 ms each, measured on a
// loaded 2-CPU machine. Call it early, ideally before the process starts
// threads (then the growth costs no grace period at all). The memory is
// 8 bytes per slot plus two bitmaps, so callers bound `slots`.
int ReserveDescriptorTable(int slots);

}  // namespace offlog

#endif  // OFFLOG_COMMON_FD_TABLE_H_
