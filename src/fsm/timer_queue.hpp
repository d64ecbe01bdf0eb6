// timer_queue.hpp — the pending timers of one scheduler, earliest deadline first.
//
// Both schedulers keep their timers here: ManualScheduler runs them as a test moves time, and
// AsioScheduler arms a single Asio timer for the earliest one. One Asio timer per pending timer
// cost the client about 0.3 µs per call (an allocation, two reactor locks and a cancelled
// handler to run for a timeout that almost never fires), a seventh of its CPU per call.
//
// A binary heap of (deadline, id) in a vector, with the callbacks in a hash map by id. cancel()
// erases the callback only; its heap entry, now stale, is dropped when it reaches the top, or
// all at once when stale entries outnumber live ones, so memory stays proportional to the
// timers pending. Timers due at the same instant run in the order they were set.
#pragma once

#include "trellis/fsm.hpp"

#include <functional>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

namespace trellis::fsm {

class TimerQueue {
 public:
  using Clock = Scheduler::Clock;
  using TimerId = Scheduler::TimerId;

  TimerId add(Clock::time_point deadline, std::function<void()> fn);
  // A no-op for ids that are unknown, cancelled or already taken by pop_due().
  void cancel(TimerId id) noexcept;
  // The earliest pending deadline; nullopt when nothing is pending.
  std::optional<Clock::time_point> next_deadline() noexcept;
  // Removes the earliest timer due at or before `now` and returns its deadline and callback.
  std::optional<std::pair<Clock::time_point, std::function<void()>>> pop_due(Clock::time_point now);
  void clear() noexcept;

  std::size_t size() const noexcept { return live_.size(); }
  // Heap entries held, live or stale (for tests of the bound).
  std::size_t stored() const noexcept { return heap_.size(); }

 private:
  struct Entry {
    Clock::time_point deadline;
    TimerId id;
  };
  struct Live {
    Clock::time_point deadline;
    std::function<void()> fn;
  };
  // std::push_heap builds a max-heap: "later" ranks lower, so the earliest is at the front.
  static bool later(const Entry& a, const Entry& b) noexcept {
    return a.deadline != b.deadline ? a.deadline > b.deadline : a.id > b.id;
  }
  void drop_stale_top() noexcept;
  void rebuild();

  std::vector<Entry> heap_;
  std::unordered_map<TimerId, Live> live_;
  TimerId next_id_ = 1;
};

}  // namespace trellis::fsm
