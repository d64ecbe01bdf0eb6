// fsm::AsioScheduler: state timeouts on a real io_context.
#include "support/fsm_test_machine.hpp"

#include "trellis/fsm_asio.hpp"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace trellis::fsm
