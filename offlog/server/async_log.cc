#include "offlog/server/async_log.h"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <string>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace offlog {

struct AsyncLog::State {
  struct Record {
    Level level;
    std::string message;
    LogFields fields;
  };
  std::optional<JournalSink> journal;
  absl::Mutex mu;
  std::deque<Record> queue ABSL_GUARDED_BY(mu);
  size_t queued_bytes ABSL_GUARDED_BY(mu) = 0;
  uint64_t dropped ABSL_GUARDED_BY(mu) = 0;
  uint64_t dropped_unreported ABSL_GUARDED_BY(mu) = 0;
  bool stopping ABSL_GUARDED_BY(mu) = false;
  bool flushed ABSL_GUARDED_BY(mu) = false;  // Flush() since the last batch.
  uint64_t written ABSL_GUARDED_BY(mu) = 0;
  bool writing ABSL_GUARDED_BY(mu) = false;
  std::atomic<pid_t> tid{0};

  bool Drained() const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    return queue.empty() && !writing;
  }
  void Run();
  void Emit(const Record& record);
};

void AsyncLog::State::Run() {
  // Woken at most once per turn of the acceptor's loop (Flush), it takes
  // no CPU from the acceptor when it wakes: a SCHED_BATCH thread does not
  // preempt the thread that woke it.
  sched_param none = {};
  sched_setscheduler(0, SCHED_BATCH, &none);
  tid = static_cast<pid_t>(syscall(SYS_gettid));
  while (true) {
    std::deque<Record> batch;
    uint64_t lost = 0;
    {
      absl::MutexLock lock(&mu);
      writing = false;
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu) {
        return flushed || stopping;
      };
      mu.Await(absl::Condition(&ready));
      if (queue.empty() && stopping) return;  // Everything written.
      flushed = false;
      writing = true;
      batch.swap(queue);
      queued_bytes = 0;
      lost = std::exchange(dropped_unreported, 0);
    }
    if (lost > 0) {
      Emit({Level::kWarning,
            absl::StrFormat("%d log records dropped: the log was not "
                            "keeping up",
                            lost),
            {}});
    }
    for (const Record& record : batch) Emit(record);
    absl::MutexLock lock(&mu);
    written += batch.size();
  }
}

static int SyslogPriority(Level level) {
  switch (level) {
    case Level::kDebug:
      return 7;
    case Level::kInfo:
      return 6;
    case Level::kWarning:
      return 4;
    case Level::kError:
      return 3;
    case Level::kCritical:
      return 2;
  }
  return 6;
}

void AsyncLog::State::Emit(const Record& record) {
  if (!journal) {
    WriteRecord(record.level, record.message);
    return;
  }
  JournalRecord r;
  r.priority = SyslogPriority(record.level);
  r.message = record.message;
  if (!record.fields.path.empty()) r.path = record.fields.path;
  if (record.fields.client_id != 0) r.client_id = record.fields.client_id;
  r.client_uid = record.fields.client_uid;
  (void)journal->Send(r);  // Dropped and counted by the sink when busy.
  WriteRecordToLogFile(record.level, record.message);
}

AsyncLog::AsyncLog(std::optional<JournalSink> journal)
    : state_(std::make_shared<State>()) {
  state_->journal = std::move(journal);
  thread_ = std::thread([state = state_] { state->Run(); });
}

AsyncLog::~AsyncLog() {
  bool drained;
  {
    absl::MutexLock lock(&state_->mu);
    state_->stopping = true;
    State* s = state_.get();
    auto done = [s]()
                    ABSL_SHARED_LOCKS_REQUIRED(s->mu) { return s->Drained(); };
    drained = state_->mu.AwaitWithTimeout(absl::Condition(&done),
                                          absl::Milliseconds(kStopWaitMs));
  }
  if (drained) {
    thread_.join();
  } else {
    thread_.detach();  // It keeps its State alive.
  }
}

void AsyncLog::Write(Level level, absl::string_view message,
                     const LogFields& fields) {
  absl::MutexLock lock(&state_->mu);
  if (state_->queued_bytes + message.size() > kMaxQueuedBytes) {
    ++state_->dropped;
    ++state_->dropped_unreported;
    return;
  }
  state_->queued_bytes += message.size();
  state_->queue.push_back({level, std::string(message), fields});
}

void AsyncLog::Flush() {
  absl::MutexLock lock(&state_->mu);
  if (!state_->queue.empty()) state_->flushed = true;
}

pid_t AsyncLog::thread_id() const { return state_->tid.load(); }

uint64_t AsyncLog::written() const {
  absl::MutexLock lock(&state_->mu);
  return state_->written;
}

uint64_t AsyncLog::dropped() const {
  absl::MutexLock lock(&state_->mu);
  return state_->dropped;
}

}  // namespace offlog
