// fsm::AsioScheduler: one steady_timer per pending state timeout.
#include "trellis/fsm_asio.hpp"

#include <boost/asio/steady_timer.hpp>

#include <unordered_map>

namespace trellis::fsm {

struct AsioScheduler::Timers {
  explicit Timers(boost::asio::any_io_executor ex) : executor(std::move(ex)) {}
  boost::asio::any_io_executor executor;
  std::unordered_map<TimerId, std::unique_ptr<boost::asio::steady_timer>> pending;
  TimerId next_id = 1;
};

AsioScheduler::AsioScheduler(boost::asio::any_io_executor executor)
    : timers_(std::make_shared<Timers>(std::move(executor))) {}

AsioScheduler::~AsioScheduler() {
  for (auto& [id, timer] : timers_->pending) timer->cancel();
  timers_->pending.clear();
}

Scheduler::TimerId AsioScheduler::schedule_after(Clock::duration delay, std::function<void()> fn) {
  const TimerId id = timers_->next_id++;
  auto timer = std::make_unique<boost::asio::steady_timer>(timers_->executor, delay);
  // The handler holds the Timers weakly: after the scheduler is gone nothing runs.
  timer->async_wait([weak = std::weak_ptr<Timers>(timers_), id, fn = std::move(fn)](const boost::system::error_code& ec) {
    auto timers = weak.lock();
    if (!timers || ec) return;
    // Erased by cancel() before this handler ran: the timer is stale even if it expired.
    if (timers->pending.erase(id) == 0) return;
    fn();
  });
  timers_->pending.emplace(id, std::move(timer));
  return id;
}

void AsioScheduler::cancel(TimerId id) noexcept {
  auto it = timers_->pending.find(id);
  if (it == timers_->pending.end()) return;
  it->second->cancel();
  timers_->pending.erase(it);
}

std::size_t AsioScheduler::pending() const noexcept { return timers_->pending.size(); }

}  // namespace trellis::fsm
