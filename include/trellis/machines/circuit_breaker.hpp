// trellis/machines/circuit_breaker.hpp — the circuit breaker's table (runtime: trellis/circuit_breaker.hpp).
//
// ARCHITECTURE §5.2: closed -> open after 5 consecutive failures; open for 60 s; then one probe
// in half_open decides between closed and open again.
#pragma once

#include "trellis/fsm.hpp"

namespace trellis::machines::circuit_breaker {

enum class State : std::uint8_t { closed, open, half_open };
enum class Event : std::uint8_t { request, success, failure, open_timeout };

inline constexpr std::string_view kStates[] = {"closed", "open", "half_open"};
inline constexpr std::string_view kEvents[] = {"request", "success", "failure", "open_timeout"};

using S = State;
using E = Event;
inline constexpr fsm::Transition<S, E> kTransitions[] = {
    {S::closed, E::request, "", S::closed, "admit"},
    {S::closed, E::success, "", S::closed, "reset consecutive failures"},
    {S::closed, E::failure, "consecutive failures < threshold", S::closed, "count failure"},
    {S::closed, E::failure, "consecutive failures reach threshold (5)", S::open, "arm open timeout (60 s)"},

    {S::open, E::request, "", S::open, "reject fast with Error{kind=backpressure}"},
    {S::open, E::success, "", S::open, "ignore: outcome of a call admitted before opening"},
    {S::open, E::failure, "", S::open, "ignore: outcome of a call admitted before opening"},
    {S::open, E::open_timeout, "", S::half_open, "allow one probe"},

    {S::half_open, E::request, "no probe in flight", S::half_open, "admit as the probe"},
    {S::half_open, E::request, "probe in flight", S::half_open, "reject fast"},
    {S::half_open, E::success, "probe in flight", S::closed, "probe succeeded: reset failures"},
    {S::half_open, E::success, "no probe in flight", S::half_open, "ignore: outcome of a call admitted before opening"},
    {S::half_open, E::failure, "probe in flight", S::open, "probe failed: arm open timeout again"},
    {S::half_open, E::failure, "no probe in flight", S::half_open, "ignore: outcome of a call admitted before opening"},
};
inline constexpr fsm::Machine<State, Event> kMachine{
    .name = "circuit_breaker",
    .title = "Circuit breaker: stop calling a failing dependency, probe it, recover",
    .source = "ARCHITECTURE 5.2 (erlmcp_circuit_breaker in design 002)",
    .states = kStates,
    .events = kEvents,
    .initial = State::closed,
    .transitions = kTransitions,
};

}  // namespace trellis::machines::circuit_breaker
