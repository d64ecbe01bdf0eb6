// The circuit breaker: opening, fast refusal, the half-open probe, and option validation.
#include "trellis/circuit_breaker.hpp"

#include <gtest/gtest.h>

namespace trellis {
namespace {

using namespace std::chrono_literals;
using State = CircuitBreaker::State;

void fail_times(CircuitBreaker& b, int n) {
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(b.allow());
    b.on_failure();
  }
}

TEST(CircuitBreaker, OpensAfterFiveConsecutiveFailures) {
  fsm::ManualScheduler clock;
  CircuitBreaker b(clock);
  fail_times(b, 4);
  EXPECT_EQ(b.state(), State::closed);
  EXPECT_EQ(b.consecutive_failures(), 4);
  fail_times(b, 1);
  EXPECT_EQ(b.state(), State::open);
}

TEST(CircuitBreaker, ASuccessResetsTheConsecutiveCount) {
  fsm::ManualScheduler clock;
  CircuitBreaker b(clock);
  fail_times(b, 4);
  ASSERT_TRUE(b.allow());
  b.on_success();
  fail_times(b, 4);
  EXPECT_EQ(b.state(), State::closed);
}

TEST(CircuitBreaker, OpenRefusesFastWithBackpressureAndRetryAfter) {
  fsm::ManualScheduler clock;
  CircuitBreaker b(clock);
  fail_times(b, 5);
  clock.advance(15s);
  const auto r = b.allow();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::backpressure);
  EXPECT_EQ(r.error().data.at("state"), "open");
  EXPECT_EQ(r.error().data.at("retry_after_ms"), 45000);
}

TEST(CircuitBreaker, StaysOpenFor60SecondsThenLetsOneProbeThrough) {
  fsm::ManualScheduler clock;
  CircuitBreaker b(clock);
  fail_times(b, 5);
  clock.advance(59999ms);
  EXPECT_EQ(b.state(), State::open);
  clock.advance(1ms);
  EXPECT_EQ(b.state(), State::half_open);
  EXPECT_TRUE(b.allow());
  const auto second = b.allow();
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().data.at("state"), "half_open");
}

TEST(CircuitBreaker, ProbeSuccessClosesProbeFailureReopens) {
  fsm::ManualScheduler clock;
  CircuitBreaker b(clock);
  fail_times(b, 5);
  clock.advance(60s);
  ASSERT_TRUE(b.allow());
  b.on_failure();
  EXPECT_EQ(b.state(), State::open);
  clock.advance(60s);
  ASSERT_TRUE(b.allow());
  b.on_success();
  EXPECT_EQ(b.state(), State::closed);
  EXPECT_EQ(b.consecutive_failures(), 0);
}

TEST(CircuitBreaker, OutcomesOfCallsAdmittedBeforeOpeningAreIgnored) {
  fsm::ManualScheduler clock;
  CircuitBreaker b(clock);
  ASSERT_TRUE(b.allow());  // a slow call admitted while closed
  fail_times(b, 5);
  b.on_success();          // ... finishes while open
  EXPECT_EQ(b.state(), State::open);
  clock.advance(60s);
  b.on_success();          // or while half open, with no probe in flight
  EXPECT_EQ(b.state(), State::half_open);
}

TEST(CircuitBreaker, OptionsAreConfigurable) {
  fsm::ManualScheduler clock;
  CircuitBreaker b(clock, {.failure_threshold = 2, .open_duration = 5s, .half_open_probes = 2, .name = "db"});
  fail_times(b, 2);
  EXPECT_EQ(b.state(), State::open);
  clock.advance(5s);
  EXPECT_TRUE(b.allow());
  EXPECT_TRUE(b.allow());
  EXPECT_FALSE(b.allow());
  EXPECT_EQ(b.debug_state().at("id"), "db");
  EXPECT_EQ(b.debug_state().at("pending"), 2);
}

TEST(CircuitBreaker, InvalidOptionsAreRejectedNamingTheKey) {
  fsm::ManualScheduler clock;
  try {
    CircuitBreaker b(clock, {.failure_threshold = 0});
    FAIL() << "threshold 0 must be rejected";
  } catch (const ErrorException& e) {
    EXPECT_EQ(e.error().kind, ErrorKind::config);
    EXPECT_EQ(e.error().message, "circuit breaker option failure_threshold = 0 must be >= 1");
  }
  EXPECT_THROW(CircuitBreaker(clock, {.open_duration = 0ms}), ErrorException);
  EXPECT_THROW(CircuitBreaker(clock, {.half_open_probes = 0}), ErrorException);
  EXPECT_NO_THROW(CircuitBreaker(clock, {.failure_threshold = 1, .open_duration = 1ms, .half_open_probes = 1}));
}

}  // namespace
}  // namespace trellis
