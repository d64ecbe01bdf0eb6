// Schedulers for state timeouts: the manual one for tests and the monotonic clock default.
#include "timer_queue.hpp"

#include "trellis/fsm.hpp"

#include <algorithm>
#include <utility>

namespace trellis::fsm {

struct ManualScheduler::Timers {
  TimerQueue queue;
};

ManualScheduler::ManualScheduler(Clock::time_point start) : now_(start), timers_(std::make_unique<Timers>()) {}
ManualScheduler::~ManualScheduler() = default;

Scheduler::TimerId ManualScheduler::schedule_after(Clock::duration delay, std::function<void()> fn) {
  return timers_->queue.add(now_ + std::max(delay, Clock::duration::zero()), std::move(fn));
}

void ManualScheduler::cancel(TimerId id) noexcept { timers_->queue.cancel(id); }

void ManualScheduler::advance(Clock::duration by) {
  const auto until = now_ + by;
  // A timer may schedule or cancel others while it runs, so pick the earliest due one each time.
  while (auto due = timers_->queue.pop_due(until)) {
    now_ = due->first;
    due->second();
  }
  now_ = until;
}

std::size_t ManualScheduler::pending() const noexcept { return timers_->queue.size(); }

namespace {

class MonotonicClock final : public Scheduler {
 public:
  Clock::time_point now() const override { return Clock::now(); }
  TimerId schedule_after(Clock::duration, std::function<void()>) override {
    throw ErrorException(make_error(ErrorKind::internal,
                                    "state timeouts need a scheduler: pass InstanceOptions::scheduler"));
  }
  void cancel(TimerId) noexcept override {}
};

}  // namespace

Scheduler& monotonic_clock() noexcept {
  static MonotonicClock clock;
  return clock;
}

}  // namespace trellis::fsm
