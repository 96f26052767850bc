#include "offlog/server/priority.h"

#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>

namespace offlog {
namespace {

// RLIMIT_NICE's unit: a limit of 20 - n lets a process go as far up as nice
// value n (setrlimit(2)).
rlim_t NiceToRlimit(int nice) { return static_cast<rlim_t>(20 - nice); }

bool AllowNice(int nice) {
  rlimit rl;
  if (getrlimit(RLIMIT_NICE, &rl) != 0) return false;
  const rlim_t want = NiceToRlimit(nice);
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want) return true;
  rl.rlim_cur = want;
  if (rl.rlim_max != RLIM_INFINITY) rl.rlim_max = std::max(rl.rlim_max, want);
  return setrlimit(RLIMIT_NICE, &rl) == 0;
}

struct RaiseProbe {
  int nice;
  bool ok = false;
};

void* TryRaiseBack(void* arg) {
  RaiseProbe* probe = static_cast<RaiseProbe*>(arg);
  pid_t tid = gettid();
  if (setpriority(PRIO_PROCESS, tid, probe->nice + 1) == 0) {
    probe->ok = setpriority(PRIO_PROCESS, tid, probe->nice) == 0;
  }
  return nullptr;
}

// Whether this process may take a thread from nice + 1 back to `nice`,
// tried on a thread of its own (nice values are per thread): by
// RLIMIT_NICE, or by CAP_SYS_NICE in the initial user namespace, which a
// capability check inside a container would not tell apart.
bool CanRaiseBackTo(int nice) {
  RaiseProbe probe{nice};
  pthread_t thread;
  // pthread_create, not std::thread: a process at its RLIMIT_NPROC gets an
  // error here (and no lowering), not an exception.
  if (pthread_create(&thread, nullptr, TryRaiseBack, &probe) != 0) {
    return false;
  }
  pthread_join(thread, nullptr);
  return probe.ok;
}

// Spares the `spare` lowest-numbered of the CPUs the acceptor may run on,
// if that leaves writers at least one.
void PlanStartCpus(int spare, StartPriority* p) {
  CPU_ZERO(&p->serving_cpus);
  CPU_ZERO(&p->starting_cpus);
  if (spare <= 0 ||
      sched_getaffinity(0, sizeof(p->serving_cpus), &p->serving_cpus) != 0 ||
      CPU_COUNT(&p->serving_cpus) <= spare) {
    return;
  }
  p->starting_cpus = p->serving_cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE && spare > 0; ++cpu) {
    if (!CPU_ISSET(cpu, &p->starting_cpus)) continue;
    CPU_CLR(cpu, &p->starting_cpus);
    --spare;
  }
  p->narrowed = true;
}

}  // namespace

StartPriority PlanStartPriority(int delta, int spare_cpus) {
  StartPriority p;
  errno = 0;
  int nice = getpriority(PRIO_PROCESS, 0);
  if (errno != 0) return p;
  p.serving_nice = nice;
  rlimit rl;
  if (getrlimit(RLIMIT_NICE, &rl) == 0) p.rlimit_nice_before = rl.rlim_cur;
  p.starting_nice = std::min(19, nice + std::max(0, delta));
  p.lowered =
      p.starting_nice > nice && (AllowNice(nice) || CanRaiseBackTo(nice));
  if (!p.lowered) p.starting_nice = nice;
  PlanStartCpus(spare_cpus, &p);
  return p;
}

void EnterStartingPriority(const StartPriority& p) {
  if (p.lowered) setpriority(PRIO_PROCESS, 0, p.starting_nice);
  if (p.narrowed) {
    sched_setaffinity(0, sizeof(p.starting_cpus), &p.starting_cpus);
  }
}

void LeaveStartingPriority(const StartPriority& p) {
  if (p.narrowed) {
    sched_setaffinity(0, sizeof(p.serving_cpus), &p.serving_cpus);
  }
  if (!p.lowered || setpriority(PRIO_PROCESS, 0, p.serving_nice) != 0) return;
  rlimit rl = {p.rlimit_nice_before, p.rlimit_nice_before};
  setrlimit(RLIMIT_NICE, &rl);  // Lowering a limit is always allowed.
}

void RestoreWriterPriority(const StartPriority& p, int pid) {
  if (p.lowered && pid > 0) setpriority(PRIO_PROCESS, pid, p.serving_nice);
}

}  // namespace offlog
