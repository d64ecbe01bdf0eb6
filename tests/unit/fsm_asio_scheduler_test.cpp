// fsm::AsioScheduler: state timeouts on a real io_context.
#include "support/fsm_test_machine.hpp"

#include "trellis/fsm_asio.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace trellis::fsm {
namespace {

using namespace std::chrono_literals;
using testing::door::Event;
using testing::door::State;

TEST(AsioScheduler, StateTimeoutFiresOnTheIoContext) {
  boost::asio::io_context io;
  AsioScheduler scheduler(io.get_executor());
  Instance<testing::door::kMachine> door({.scheduler = &scheduler});
  ASSERT_TRUE(door.fire(Event::open));
  door.set_state_timeout(5ms, [&] { ASSERT_TRUE(door.fire(Event::close)); });
  io.run_for(2s);
  EXPECT_TRUE(door.is(State::closed));
  EXPECT_EQ(scheduler.pending(), 0u);
}

TEST(AsioScheduler, StateChangeCancelsTheTimer) {
  boost::asio::io_context io;
  AsioScheduler scheduler(io.get_executor());
  Instance<testing::door::kMachine> door({.scheduler = &scheduler});
  ASSERT_TRUE(door.fire(Event::open));
  int fired = 0;
  door.set_state_timeout(1ms, [&] { ++fired; });
  ASSERT_TRUE(door.fire(Event::close));
  EXPECT_EQ(scheduler.pending(), 0u);
  io.run_for(20ms);
  EXPECT_EQ(fired, 0);
}

TEST(AsioScheduler, CallbacksDoNotRunAfterTheSchedulerIsGone) {
  boost::asio::io_context io;
  int fired = 0;
  {
    AsioScheduler scheduler(io.get_executor());
    scheduler.schedule_after(1ms, [&] { ++fired; });
  }
  io.run_for(20ms);
  EXPECT_EQ(fired, 0);
}

TEST(AsioScheduler, TimersRunInDeadlineOrderWhateverTheOrderTheyWereSet) {
  boost::asio::io_context io;
  AsioScheduler scheduler(io.get_executor());
  std::vector<int> order;
  // The one alarm is armed for the first timer (an hour away); the later ones, earlier, re-arm it.
  const auto hour = scheduler.schedule_after(1h, [&] { order.push_back(0); });
  scheduler.schedule_after(30ms, [&] { order.push_back(3); });
  scheduler.schedule_after(10ms, [&] { order.push_back(1); });
  scheduler.schedule_after(20ms, [&] { order.push_back(2); });
  scheduler.schedule_after(20ms, [&] { order.push_back(22); });  // same deadline: in the order set
  io.run_for(300ms);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 22, 3}));
  EXPECT_EQ(scheduler.pending(), 1u);
  scheduler.cancel(hour);
  EXPECT_EQ(scheduler.pending(), 0u);
}

TEST(AsioScheduler, CancellingTheLastTimerLetsTheIoContextRunOutOfWork) {
  boost::asio::io_context io;
  AsioScheduler scheduler(io.get_executor());
  const auto id = scheduler.schedule_after(1h, [] {});
  scheduler.cancel(id);
  const auto t0 = Scheduler::Clock::now();
  io.run_for(10s);  // returns at once when nothing is left to wait for
  EXPECT_LT(Scheduler::Clock::now() - t0, 5s);
  EXPECT_TRUE(io.stopped());
}

TEST(AsioScheduler, ACancelledEarlierTimerDoesNotDelayALaterOne) {
  boost::asio::io_context io;
  AsioScheduler scheduler(io.get_executor());
  int fired = 0;
  const auto early = scheduler.schedule_after(5ms, [&] { fired += 100; });
  scheduler.schedule_after(15ms, [&] { ++fired; });
  scheduler.cancel(early);  // the alarm stays armed for 5 ms, finds nothing due, re-arms for 15
  io.run_for(2s);
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(scheduler.pending(), 0u);
}

TEST(AsioScheduler, ATimerMaySetCancelAndDestroy) {
  boost::asio::io_context io;
  auto scheduler = std::make_unique<AsioScheduler>(io.get_executor());
  std::vector<int> order;
  Scheduler::TimerId doomed = 0;
  scheduler->schedule_after(1ms, [&] {
    order.push_back(1);
    scheduler->cancel(doomed);
    scheduler->schedule_after(0ms, [&] {
      order.push_back(2);
      scheduler.reset();  // from inside its own timer: nothing due after this runs
    });
  });
  doomed = scheduler->schedule_after(2ms, [&] { order.push_back(99); });
  // Far enough behind the others that a loaded machine, running the first timer late, still runs
  // the 0 ms one it sets before this one is due (at 3 ms it was sometimes due first).
  scheduler->schedule_after(500ms, [&] { order.push_back(98); });
  io.run_for(2s);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(scheduler, nullptr);
}

}  // namespace
}  // namespace trellis::fsm
