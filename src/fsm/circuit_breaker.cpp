// The circuit breaker: a thin owner of its state machine plus two counters.
#include "trellis/circuit_breaker.hpp"

namespace trellis {
namespace {

using State = machines::circuit_breaker::State;
using Event = machines::circuit_breaker::Event;

const CircuitBreakerOptions& validated(const CircuitBreakerOptions& o) {
  auto reject = [](std::string key, long long value, std::string_view bound) {
    throw ErrorException(make_error(ErrorKind::config,
                                    "circuit breaker option " + key + " = " + std::to_string(value) + " must be " +
                                        std::string(bound),
                                    {{"key", key}, {"value", value}}));
  };
  if (o.failure_threshold < 1) reject("failure_threshold", o.failure_threshold, ">= 1");
  if (o.open_duration.count() <= 0) reject("open_duration_ms", o.open_duration.count(), "> 0");
  if (o.half_open_probes < 1) reject("half_open_probes", o.half_open_probes, ">= 1");
  return o;
}

}  // namespace

CircuitBreaker::CircuitBreaker(fsm::Scheduler& scheduler, CircuitBreakerOptions options)
    : options_(validated(options)),
      fsm_(fsm::InstanceOptions{.id = options_.name, .scheduler = &scheduler}),
      scheduler_(scheduler) {}

Result<void> CircuitBreaker::allow() {
  switch (state()) {
    case State::closed:
      fsm_.fire(Event::request).value();
      return {};
    case State::open:
      fsm_.fire(Event::request).value();
      return refuse("circuit breaker is open");
    case State::half_open:
      if (probes_in_flight_ < options_.half_open_probes) {
        ++probes_in_flight_;
        fsm_.fire(Event::request).value();
        return {};
      }
      fsm_.fire(Event::request).value();
      return refuse("circuit breaker is half open and its probe is in flight");
  }
  return refuse("circuit breaker in an unknown state");
}

void CircuitBreaker::on_success() {
  switch (state()) {
    case State::closed:
      failures_ = 0;
      fsm_.fire(Event::success).value();
      break;
    case State::open:
      fsm_.fire(Event::success).value();
      break;
    case State::half_open:
      if (probes_in_flight_ == 0) {
        fsm_.fire(Event::success, State::half_open).value();
        break;
      }
      failures_ = 0;
      probes_in_flight_ = 0;
      fsm_.fire(Event::success, State::closed).value();
      break;
  }
}

void CircuitBreaker::on_failure() {
  switch (state()) {
    case State::closed:
      ++failures_;
      if (failures_ >= options_.failure_threshold) {
        open();
      } else {
        fsm_.fire(Event::failure, State::closed).value();
      }
      break;
    case State::open:
      fsm_.fire(Event::failure).value();
      break;
    case State::half_open:
      if (probes_in_flight_ == 0) {
        fsm_.fire(Event::failure, State::half_open).value();
        break;
      }
      probes_in_flight_ = 0;
      open();
      break;
  }
}

void CircuitBreaker::open() {
  fsm_.fire(Event::failure, State::open).value();
  opened_at_ = scheduler_.now();
  fsm_.set_state_timeout(options_.open_duration, [this] {
    probes_in_flight_ = 0;
    fsm_.fire(Event::open_timeout).value();
  });
}

Error CircuitBreaker::refuse(std::string_view why) const {
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(scheduler_.now() - opened_at_);
  const long long retry_after = state() == State::open ? (options_.open_duration - elapsed).count() : 0;
  return make_error(ErrorKind::backpressure, std::string(why),
                    {{"state", fsm_.state_name()}, {"retry_after_ms", retry_after}});
}

boost::json::object CircuitBreaker::debug_state() const {
  auto out = fsm_.debug_state(static_cast<std::size_t>(probes_in_flight_));
  out["consecutive_failures"] = failures_;
  return out;
}

}  // namespace trellis
