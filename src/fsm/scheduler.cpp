// Schedulers for state timeouts: the manual one for tests and the monotonic clock default.
#include "trellis/fsm.hpp"

#include <map>
#include <utility>

namespace trellis::fsm {

struct ManualScheduler::Timers {
  // Ordered by (deadline, id) so timers due at the same instant run in the order they were set.
  std::map<std::pair<Clock::time_point, TimerId>, std::function<void()>> by_deadline;
  std::map<TimerId, Clock::time_point> deadline_of;
  TimerId next_id = 1;
};

ManualScheduler::ManualScheduler(Clock::time_point start) : now_(start), timers_(std::make_unique<Timers>()) {}
ManualScheduler::~ManualScheduler() = default;

Scheduler::TimerId ManualScheduler::schedule_after(Clock::duration delay, std::function<void()> fn) {
  const TimerId id = timers_->next_id++;
  const auto deadline = now_ + (delay < Clock::duration::zero() ? Clock::duration::zero() : delay);
  timers_->by_deadline.emplace(std::pair{deadline, id}, std::move(fn));
  timers_->deadline_of.emplace(id, deadline);
  return id;
}

void ManualScheduler::cancel(TimerId id) noexcept {
  auto it = timers_->deadline_of.find(id);
  if (it == timers_->deadline_of.end()) return;
  timers_->by_deadline.erase(std::pair{it->second, id});
  timers_->deadline_of.erase(it);
}

void ManualScheduler::advance(Clock::duration by) {
  const auto until = now_ + by;
  // A timer may schedule or cancel others while it runs, so pick the earliest due one each time.
  while (!timers_->by_deadline.empty() && timers_->by_deadline.begin()->first.first <= until) {
    auto node = timers_->by_deadline.extract(timers_->by_deadline.begin());
    timers_->deadline_of.erase(node.key().second);
    now_ = node.key().first;
    node.mapped()();
  }
  now_ = until;
}

std::size_t ManualScheduler::pending() const noexcept { return timers_->by_deadline.size(); }

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
