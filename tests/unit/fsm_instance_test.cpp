// The state-machine runtime: table enforcement, guards, audit trail, state timeouts, telemetry.
#include "support/fsm_test_machine.hpp"

#include "trellis/fsm.hpp"
#include "trellis/telemetry/events.hpp"
#include "trellis/telemetry/metrics.hpp"

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <vector>

namespace trellis::fsm {
namespace {

using namespace std::chrono_literals;
using testing::door::Event;
using testing::door::State;
using Door = Instance<testing::door::kMachine>;

// Records illegal transitions instead of asserting, for the duration of a test.
class RecordIllegal {
 public:
  RecordIllegal() {
    previous_ = set_illegal_transition_handler([this](const IllegalTransition& i) {
      seen.push_back(std::string(i.machine) + ":" + std::string(i.state) + ":" + std::string(i.event));
    });
  }
  ~RecordIllegal() { set_illegal_transition_handler(previous_); }
  std::vector<std::string> seen;

 private:
  IllegalTransitionHandler previous_;
};

TEST(FsmInstance, StartsInTheInitialStateAndFollowsUniqueRows) {
  Door door;
  EXPECT_TRUE(door.is(State::closed));
  EXPECT_EQ(door.state_name(), "closed");
  ASSERT_TRUE(door.fire(Event::open));
  EXPECT_TRUE(door.is(State::open));
  ASSERT_TRUE(door.fire(Event::close));
  EXPECT_TRUE(door.is(State::closed));
}

TEST(FsmInstance, RefusesAChangeThatHasNoRowAndCountsIt) {
  RecordIllegal record;
  Door door;
  auto& illegal = *view_of<testing::door::kMachine>().illegal_total;
  const auto before = illegal.value();
  const auto result = door.fire(Event::unlock);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ErrorKind::state);
  EXPECT_EQ(result.error().message, "illegal transition in door: no row for event 'unlock' in state 'closed'");
  EXPECT_EQ(boost::json::serialize(result.error().data), R"({"machine":"door","state":"closed","event":"unlock"})");
  EXPECT_TRUE(door.is(State::closed));
  EXPECT_EQ(illegal.value(), before + 1);
  EXPECT_EQ(record.seen, std::vector<std::string>{"door:closed:unlock"});
}

TEST(FsmInstance, GuardedAlternativesNeedTheTargetChosenByTheOwner) {
  RecordIllegal record;
  Door door;
  EXPECT_FALSE(door.can_fire(Event::kick)) << "two rows with different targets: ambiguous without a target";
  EXPECT_TRUE(door.can_fire(Event::kick, State::broken));
  EXPECT_TRUE(door.can_fire(Event::kick, State::closed));
  EXPECT_FALSE(door.can_fire(Event::kick, State::open));
  EXPECT_FALSE(door.fire(Event::kick));
  ASSERT_TRUE(door.fire(Event::kick, State::broken));
  EXPECT_TRUE(door.is(State::broken));
}

TEST(FsmInstance, SelfTransitionsAreCheckedButAreNotStateChanges) {
  ManualScheduler clock;
  Door door({.scheduler = &clock});
  int fired = 0;
  door.set_state_timeout(10s, [&] { ++fired; });
  ASSERT_TRUE(door.fire(Event::knock));
  EXPECT_TRUE(door.history().empty());
  EXPECT_TRUE(door.state_timeout_armed()) << "a self-transition keeps the state timeout";
  clock.advance(10s);
  EXPECT_EQ(fired, 1);
}

TEST(FsmInstance, StateTimeoutFiresInTheStateItWasArmedFor) {
  ManualScheduler clock;
  Door door({.scheduler = &clock});
  ASSERT_TRUE(door.fire(Event::open));
  std::vector<State> seen;
  door.set_state_timeout(5s, [&] {
    seen.push_back(door.state());
    ASSERT_TRUE(door.fire(Event::close));
  });
  clock.advance(4999ms);
  EXPECT_TRUE(seen.empty());
  clock.advance(1ms);
  EXPECT_EQ(seen, std::vector<State>{State::open});
  EXPECT_TRUE(door.is(State::closed));
  EXPECT_FALSE(door.state_timeout_armed());
}

TEST(FsmInstance, StateChangeCancelsTheStateTimeout) {
  ManualScheduler clock;
  Door door({.scheduler = &clock});
  ASSERT_TRUE(door.fire(Event::open));
  int fired = 0;
  door.set_state_timeout(5s, [&] { ++fired; });
  ASSERT_TRUE(door.fire(Event::close));
  EXPECT_EQ(clock.pending(), 0u);
  clock.advance(1h);
  EXPECT_EQ(fired, 0);
}

TEST(FsmInstance, ArmingAgainReplacesTheTimer) {
  ManualScheduler clock;
  Door door({.scheduler = &clock});
  int first = 0, second = 0;
  door.set_state_timeout(5s, [&] { ++first; });
  door.set_state_timeout(8s, [&] { ++second; });
  EXPECT_EQ(clock.pending(), 1u);
  clock.advance(10s);
  EXPECT_EQ(first, 0);
  EXPECT_EQ(second, 1);
}

TEST(FsmInstance, StateTimeoutWithoutSchedulerIsAnError) {
  Door door;
  EXPECT_THROW(door.set_state_timeout(1s, [] {}), ErrorException);
}

TEST(FsmInstance, AuditTrailIsABoundedRingWithMonotonicTimestamps) {
  ManualScheduler clock;
  Door door({.id = "front", .history_capacity = 4, .scheduler = &clock});
  for (int i = 0; i < 5; ++i) {
    clock.advance(1ms);
    ASSERT_TRUE(door.fire(Event::open));
    clock.advance(1ms);
    ASSERT_TRUE(door.fire(Event::close));
  }
  const auto trail = door.history();
  ASSERT_EQ(trail.size(), 4u);
  for (std::size_t i = 1; i < trail.size(); ++i) EXPECT_LT(trail[i - 1].at, trail[i].at);
  EXPECT_EQ(trail.back().to, static_cast<int>(State::closed));
  EXPECT_EQ(trail.front().from, static_cast<int>(State::closed));
}

TEST(FsmInstance, DefaultAuditTrailKeeps64Entries) {
  Door door;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(door.fire(Event::open));
    ASSERT_TRUE(door.fire(Event::close));
  }
  EXPECT_EQ(door.history().size(), 64u);
}

TEST(FsmInstance, DebugStateReportsMachineStateTimeHistoryAndPending) {
  ManualScheduler clock;
  Door door({.id = "front", .scheduler = &clock});
  clock.advance(20ms);
  ASSERT_TRUE(door.fire(Event::open));
  clock.advance(1500ms);
  EXPECT_EQ(boost::json::serialize(door.debug_state(3)),
            R"({"machine":"door","state":"open","ms_in_state":1500,)"
            R"("history":[{"from":"closed","event":"open","to":"open","at_ms":20}],"pending":3,"id":"front"})");
}

TEST(FsmInstance, ExitRowsFinishTheMachine) {
  RecordIllegal record;
  Door door;
  ASSERT_TRUE(door.fire(Event::kick, State::broken));
  EXPECT_FALSE(door.finish(Event::kick));
  ASSERT_TRUE(door.finish(Event::recycle));
  EXPECT_TRUE(door.finished());
  EXPECT_FALSE(door.fire(Event::open));
  EXPECT_FALSE(door.finish(Event::recycle));
  EXPECT_EQ(door.history().back().to, MachineView::kExitState);
  EXPECT_EQ(record.seen.size(), 3u);
}

TEST(FsmInstance, EveryStateChangeEmitsATransitionEvent) {
  std::vector<std::string> seen;
  telemetry::Subscription sub(telemetry::Dispatcher::global(), "trellis.fsm.transition",
                              [&](const telemetry::Event& e) {
                                if (e.metadata.at("machine").as_string() != "door") return;
                                seen.push_back(boost::json::serialize(e.metadata));
                              });
  Door door({.id = "d1"});
  ASSERT_TRUE(door.fire(Event::knock));  // self-transition: not a state change
  ASSERT_TRUE(door.fire(Event::lock));
  EXPECT_EQ(seen, std::vector<std::string>{
                      R"({"machine":"door","from":"closed","event":"lock","to":"locked","guard":"has key","instance":"d1"})"});
}

TEST(FsmInstance, StateChangesAreCountedPerMachine) {
  auto& changes = *view_of<testing::door::kMachine>().transitions_total;
  const auto before = changes.value();
  Door door;
  ASSERT_TRUE(door.fire(Event::open));
  ASSERT_TRUE(door.fire(Event::close));
  ASSERT_TRUE(door.fire(Event::knock));
  EXPECT_EQ(changes.value(), before + 2);
  EXPECT_NE(telemetry::Registry::global().prometheus_text().find(R"(trellis_fsm_transitions_total{machine="door"})"),
            std::string::npos);
}

TEST(ManualScheduler, RunsTimersInDeadlineOrderAndHonoursCancel) {
  ManualScheduler clock;
  std::vector<int> order;
  clock.schedule_after(30ms, [&] { order.push_back(3); });
  const auto cancelled = clock.schedule_after(10ms, [&] { order.push_back(1); });
  clock.schedule_after(20ms, [&] { order.push_back(2); });
  clock.schedule_after(20ms, [&] { order.push_back(22); });
  clock.cancel(cancelled);
  clock.cancel(cancelled);  // twice is harmless
  const auto start = clock.now();
  clock.advance(25ms);
  EXPECT_EQ(order, (std::vector<int>{2, 22}));
  EXPECT_EQ(clock.now() - start, 25ms);
  clock.advance(5ms);
  EXPECT_EQ(order, (std::vector<int>{2, 22, 3}));
  EXPECT_EQ(clock.pending(), 0u);
}

}  // namespace
}  // namespace trellis::fsm
