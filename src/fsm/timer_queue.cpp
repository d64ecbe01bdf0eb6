// TimerQueue: a heap of deadlines with lazily dropped cancellations (see timer_queue.hpp).
#include "timer_queue.hpp"

#include <algorithm>

namespace trellis::fsm {

Scheduler::TimerId TimerQueue::add(Clock::time_point deadline, std::function<void()> fn) {
  // Here rather than in cancel(), which must not allocate: rebuilding keeps the stale entries
  // below the live ones (plus a little slack so that a handful of timers never rebuilds).
  if (heap_.size() >= 2 * live_.size() + 64) rebuild();
  const TimerId id = next_id_++;
  live_.emplace(id, Live{deadline, std::move(fn)});
  heap_.push_back({deadline, id});
  std::push_heap(heap_.begin(), heap_.end(), later);
  return id;
}

void TimerQueue::cancel(TimerId id) noexcept { live_.erase(id); }

std::optional<Scheduler::Clock::time_point> TimerQueue::next_deadline() noexcept {
  drop_stale_top();
  if (heap_.empty()) return std::nullopt;
  return heap_.front().deadline;
}

std::optional<std::pair<Scheduler::Clock::time_point, std::function<void()>>> TimerQueue::pop_due(Clock::time_point now) {
  drop_stale_top();
  if (heap_.empty() || heap_.front().deadline > now) return std::nullopt;
  auto live = live_.extract(heap_.front().id);
  std::pop_heap(heap_.begin(), heap_.end(), later);
  heap_.pop_back();
  return std::pair{live.mapped().deadline, std::move(live.mapped().fn)};
}

void TimerQueue::clear() noexcept {
  heap_.clear();
  live_.clear();
}

void TimerQueue::drop_stale_top() noexcept {
  while (!heap_.empty() && !live_.contains(heap_.front().id)) {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    heap_.pop_back();
  }
}

void TimerQueue::rebuild() {
  std::vector<Entry> fresh;
  fresh.reserve(live_.size() * 2 + 64);
  for (const auto& [id, live] : live_) fresh.push_back({live.deadline, id});
  std::make_heap(fresh.begin(), fresh.end(), later);
  heap_ = std::move(fresh);
}

}  // namespace trellis::fsm
