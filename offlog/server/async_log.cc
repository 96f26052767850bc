#include "offlog/server/async_log.h"

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
  };
  absl::Mutex mu;
  std::deque<Record> queue ABSL_GUARDED_BY(mu);
  size_t queued_bytes ABSL_GUARDED_BY(mu) = 0;
  uint64_t dropped ABSL_GUARDED_BY(mu) = 0;
  uint64_t dropped_unreported ABSL_GUARDED_BY(mu) = 0;
  bool stopping ABSL_GUARDED_BY(mu) = false;
  bool writing ABSL_GUARDED_BY(mu) = false;

  bool Drained() const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    return queue.empty() && !writing;
  }
  void Run();
};

void AsyncLog::State::Run() {
  while (true) {
    Record record;
    uint64_t lost = 0;
    {
      absl::MutexLock lock(&mu);
      writing = false;
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu) {
        return !queue.empty() || stopping;
      };
      mu.Await(absl::Condition(&ready));
      if (queue.empty()) return;  // Stopping, and everything written.
      writing = true;
      record = std::move(queue.front());
      queue.pop_front();
      queued_bytes -= record.message.size();
      lost = std::exchange(dropped_unreported, 0);
    }
    if (lost > 0) {
      WriteRecord(Level::kWarning,
                  absl::StrFormat("%d log records dropped: the log was not "
                                  "keeping up",
                                  lost));
    }
    WriteRecord(record.level, record.message);
  }
}

AsyncLog::AsyncLog() : state_(std::make_shared<State>()) {
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

void AsyncLog::Write(Level level, absl::string_view message) {
  absl::MutexLock lock(&state_->mu);
  if (state_->queued_bytes + message.size() > kMaxQueuedBytes) {
    ++state_->dropped;
    ++state_->dropped_unreported;
    return;
  }
  state_->queued_bytes += message.size();
  state_->queue.push_back({level, std::string(message)});
}

uint64_t AsyncLog::dropped() const {
  absl::MutexLock lock(&state_->mu);
  return state_->dropped;
}

}  // namespace offlog
