// fsm::AsioScheduler: the pending timers in a TimerQueue, one steady_timer armed for the earliest.
#include "timer_queue.hpp"

#include "trellis/fsm_asio.hpp"

#include <boost/asio/steady_timer.hpp>

#include <algorithm>

namespace trellis::fsm {

struct AsioScheduler::Timers {
  explicit Timers(const boost::asio::any_io_executor& executor) : alarm(executor) {}

  // Runs every timer that is due, then waits for the next one.
  static void run_due(const std::shared_ptr<Timers>& self) {
    self->armed_for.reset();
    // Popped one at a time: a timer may set or cancel others, or destroy the scheduler.
    while (auto due = self->queue.pop_due(Clock::now())) {
      due->second();
      if (self->closed) return;
    }
    if (auto next = self->queue.next_deadline(); next && (!self->armed_for || *next < *self->armed_for)) arm(self, *next);
  }

  static void arm(const std::shared_ptr<Timers>& self, Clock::time_point deadline) {
    self->armed_for = deadline;
    const std::uint64_t arming = ++self->arming;
    // Replaces a pending wait, whose handler then sees operation_aborted. A wait that already
    // completed cannot be withdrawn; its handler sees that it is no longer the current one.
    self->alarm.expires_at(deadline);
    self->alarm.async_wait([weak = std::weak_ptr(self), arming](const boost::system::error_code& ec) {
      auto timers = weak.lock();
      if (ec || !timers || timers->closed || timers->arming != arming) return;
      run_due(timers);
    });
  }

  boost::asio::steady_timer alarm;
  TimerQueue queue;
  std::optional<Clock::time_point> armed_for;  // when the alarm's current wait is due, if one is pending
  std::uint64_t arming = 0;                    // tells the current wait from the ones it replaced
  bool closed = false;                         // the scheduler is gone: run nothing more
};

AsioScheduler::AsioScheduler(boost::asio::any_io_executor executor) : timers_(std::make_shared<Timers>(executor)) {}

AsioScheduler::~AsioScheduler() {
  timers_->closed = true;
  timers_->queue.clear();
  timers_->alarm.cancel();
}

Scheduler::TimerId AsioScheduler::schedule_after(Clock::duration delay, std::function<void()> fn) {
  const auto deadline = now() + std::max(delay, Clock::duration::zero());
  const TimerId id = timers_->queue.add(deadline, std::move(fn));
  // While other timers are pending, a cancelled one leaves the alarm as it is: waking for it
  // finds nothing due and re-arms for the next.
  if (!timers_->armed_for || deadline < *timers_->armed_for) Timers::arm(timers_, deadline);
  return id;
}

void AsioScheduler::cancel(TimerId id) noexcept {
  timers_->queue.cancel(id);
  // With nothing left to wait for, the alarm must not keep the io_context running (a server
  // whose input ended returns from run() once its work is done).
  if (timers_->queue.size() == 0 && timers_->armed_for) {
    timers_->armed_for.reset();
    timers_->alarm.cancel();
  }
}

std::size_t AsioScheduler::pending() const noexcept { return timers_->queue.size(); }

}  // namespace trellis::fsm
