// The defaults that both offlogd's command line (options.h) and a writer's
// configuration (writer.h) hold: one definition of each. The socket path's
// default, shared with the client and offlogctl, is kDefaultSocketPath in
// offlog/common/protocol.h.
#ifndef OFFLOG_SERVER_DEFAULTS_H_
#define OFFLOG_SERVER_DEFAULTS_H_

namespace offlog {

// -r/--rotate-check-interval: also the time in one open() or write() after
// which a writer counts as stalled.
inline constexpr int kDefaultRotateCheckIntervalMs = 5000;
inline constexpr bool kDefaultPeekReads = true;
inline constexpr bool kDefaultAtomicLines = true;
inline constexpr int kDefaultLineHoldMs = 100;
inline constexpr int kDefaultCoalesceUs = 200;
// --writer-start-nice: nice levels below the acceptor at which writers start
// (priority.h). 0 since the acceptor keeps to the spared CPU while writers
// start: lowering them then only made new files slower.
inline constexpr int kStartingNiceDelta = 0;
// --writer-start-spare-cpus: CPUs on which no writer starts (priority.h).
inline constexpr int kStartingSpareCpus = 1;

}  // namespace offlog

#endif  // OFFLOG_SERVER_DEFAULTS_H_
