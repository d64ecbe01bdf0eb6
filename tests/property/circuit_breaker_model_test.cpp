// Model-based test: random sequences of allow/success/failure/time against a simple model.
#include "support/rc_check.hpp"

#include "trellis/circuit_breaker.hpp"

#include <gtest/gtest.h>

namespace trellis {
namespace {

using State = CircuitBreaker::State;

// The breaker as a few lines of arithmetic.
struct Model {
  int threshold;
  long long open_ms;
  int max_probes;
  State state = State::closed;
  int failures = 0;
  int probes = 0;
  long long open_left = 0;

  bool allow() {
    if (state == State::closed) return true;
    if (state == State::half_open && probes < max_probes) return ++probes, true;
    return false;
  }
  void success() {
    if (state == State::closed) failures = 0;
    if (state == State::half_open && probes > 0) state = State::closed, failures = 0, probes = 0;
  }
  void failure() {
    if (state == State::closed && ++failures >= threshold) state = State::open, open_left = open_ms;
    else if (state == State::half_open && probes > 0) state = State::open, probes = 0, open_left = open_ms;
  }
  void advance(long long ms) {
    if (state != State::open) return;
    if (ms >= open_left) state = State::half_open, probes = 0;
    else open_left -= ms;
  }
};

enum class Op { allow, success, failure, advance };

TEST(CircuitBreakerModel, MatchesTheModelOverRandomSequences) {
  testing::check_property(1000, [] {
    const int threshold = *rc::gen::inRange(1, 7);
    const long long open_ms = *rc::gen::inRange(1, 100'000);
    const int probes = *rc::gen::inRange(1, 4);
    const auto ops = *rc::gen::container<std::vector<std::pair<Op, long long>>>(
        rc::gen::pair(rc::gen::element(Op::allow, Op::success, Op::failure, Op::advance),
                      rc::gen::inRange<long long>(0, 150'000)));

    fsm::ManualScheduler clock;
    CircuitBreaker breaker(clock, {.failure_threshold = threshold,
                                   .open_duration = std::chrono::milliseconds(open_ms),
                                   .half_open_probes = probes});
    Model model{threshold, open_ms, probes};
    for (const auto& [op, ms] : ops) {
      switch (op) {
        case Op::allow: RC_ASSERT(static_cast<bool>(breaker.allow()) == model.allow()); break;
        case Op::success: breaker.on_success(), model.success(); break;
        case Op::failure: breaker.on_failure(), model.failure(); break;
        case Op::advance: clock.advance(std::chrono::milliseconds(ms)), model.advance(ms); break;
      }
      RC_ASSERT(breaker.state() == model.state);
      if (model.state == State::closed) RC_ASSERT(breaker.consecutive_failures() == model.failures);
    }
  });
}

}  // namespace
}  // namespace trellis
