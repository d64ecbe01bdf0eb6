// trellis/circuit_breaker.hpp — stop calling a dependency that keeps failing, then probe it.
//
// After `failure_threshold` consecutive failures (default 5) the breaker opens for
// `open_duration` (default 60 s) and refuses every call at once with Error{kind=backpressure}.
// Then it lets `half_open_probes` calls (default 1) through: a success closes it, a failure
// opens it again. The Trellis client guards its reconnects with one.
//
//   fsm::ManualScheduler clock;                 // or an Asio-backed scheduler
//   CircuitBreaker breaker(clock);
//   if (auto permit = breaker.allow(); !permit) return permit.error();   // open: fail fast
//   if (connect()) breaker.on_success(); else breaker.on_failure();
//
// The table is trellis/machines/circuit_breaker.hpp. Not thread-safe: one owner (strand) only.
#pragma once

#include "trellis/error.hpp"
#include "trellis/fsm.hpp"
#include "trellis/machines/circuit_breaker.hpp"

#include <chrono>
#include <string>

namespace trellis {

struct CircuitBreakerOptions {
  int failure_threshold = 5;                        // consecutive failures that open the breaker (>= 1)
  std::chrono::milliseconds open_duration{60'000};  // how long it stays open (> 0)
  int half_open_probes = 1;                         // calls let through when half open (>= 1)
  std::string name;                                 // names the breaker in logs and debug_state
};

class CircuitBreaker {
 public:
  using State = machines::circuit_breaker::State;

  // Throws ErrorException{kind=config} naming the option when an option is out of range.
  explicit CircuitBreaker(fsm::Scheduler& scheduler, CircuitBreakerOptions options = {});

  // Whether a call may go ahead now. On success the caller must report the outcome with
  // on_success() or on_failure(); on error (kind=backpressure, data={state, retry_after_ms})
  // it must not make the call.
  Result<void> allow();
  void on_success();
  void on_failure();

  State state() const noexcept { return fsm_.state(); }
  int consecutive_failures() const noexcept { return failures_; }
  const CircuitBreakerOptions& options() const noexcept { return options_; }
  boost::json::object debug_state() const;

 private:
  void open();
  Error refuse(std::string_view why) const;

  CircuitBreakerOptions options_;
  fsm::Instance<machines::circuit_breaker::kMachine> fsm_;
  fsm::Scheduler& scheduler_;
  fsm::Scheduler::Clock::time_point opened_at_{};
  int failures_ = 0;
  int probes_in_flight_ = 0;
};

}  // namespace trellis
