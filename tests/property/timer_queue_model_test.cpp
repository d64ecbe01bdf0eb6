// fsm::TimerQueue against a model (an ordered map of (deadline, id)), plus its memory bound.
#include "support/rc_check.hpp"

#include "fsm/timer_queue.hpp"

#include <gtest/gtest.h>

#include <map>

namespace trellis::fsm {
namespace {

using Clock = TimerQueue::Clock;
using TimerId = TimerQueue::TimerId;

Clock::time_point at(long long ms) { return Clock::time_point{} + std::chrono::milliseconds(ms); }

enum class Op { add, cancel, pop };

TEST(TimerQueueModel, PopsWhatTheModelPopsOverRandomSequences) {
  trellis::testing::check_property(500, [] {
    const auto ops = *rc::gen::container<std::vector<std::pair<Op, int>>>(
        rc::gen::pair(rc::gen::element(Op::add, Op::add, Op::cancel, Op::pop), rc::gen::inRange(0, 200)));
    TimerQueue queue;
    std::map<std::pair<long long, TimerId>, int> model;  // (deadline, id) -> the value the callback reports
    std::vector<TimerId> ids;
    long long now = 0;
    int ran = -1;
    for (const auto& [op, n] : ops) {
      switch (op) {
        case Op::add: {
          const long long deadline = now + n % 50;  // few distinct deadlines: many ties
          const TimerId id = queue.add(at(deadline), [&ran, n = n] { ran = n; });
          model.emplace(std::pair{deadline, id}, n);
          ids.push_back(id);
          break;
        }
        case Op::cancel: {
          if (ids.empty()) break;
          const TimerId id = ids[static_cast<std::size_t>(n) % ids.size()];  // may be gone already
          queue.cancel(id);
          std::erase_if(model, [id](const auto& entry) { return entry.first.second == id; });
          break;
        }
        case Op::pop: {
          now += n % 20;
          auto due = queue.pop_due(at(now));
          const bool model_due = !model.empty() && model.begin()->first.first <= now;
          RC_ASSERT(due.has_value() == model_due);
          if (!due) break;
          RC_ASSERT(due->first == at(model.begin()->first.first));
          due->second();
          RC_ASSERT(ran == model.begin()->second);
          model.erase(model.begin());
          break;
        }
      }
      RC_ASSERT(queue.size() == model.size());
      const auto next = queue.next_deadline();
      RC_ASSERT(next.has_value() == !model.empty());
      if (next) RC_ASSERT(*next == at(model.begin()->first.first));
    }
  });
}

TEST(TimerQueue, CancelledTimersDoNotAccumulate) {
  TimerQueue queue;
  std::vector<TimerId> live;
  // A client with 10 calls in flight, each with a timeout that never fires: 100,000 timers set
  // and cancelled, none of them due.
  for (int i = 0; i < 100'000; ++i) {
    live.push_back(queue.add(at(60'000 + i), [] {}));
    if (live.size() > 10) {
      queue.cancel(live.front());
      live.erase(live.begin());
    }
    ASSERT_LE(queue.stored(), 2 * queue.size() + 64);
  }
  EXPECT_EQ(queue.size(), 10u);
}

TEST(TimerQueue, CancelAfterThePopAndOfUnknownIdsIsANoOp) {
  TimerQueue queue;
  const TimerId first = queue.add(at(1), [] {});
  const TimerId second = queue.add(at(2), [] {});
  ASSERT_TRUE(queue.pop_due(at(1)));
  queue.cancel(first);
  queue.cancel(12345);
  EXPECT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue.next_deadline(), at(2));
  queue.cancel(second);
  queue.cancel(second);
  EXPECT_EQ(queue.size(), 0u);
  EXPECT_FALSE(queue.next_deadline());
  EXPECT_FALSE(queue.pop_due(at(100)));
}

}  // namespace
}  // namespace trellis::fsm
