// trellis/machines/trust_connection.hpp — one server-side Trust connection (mTLS, windowed RPC).
//
// Design 003 "Connection FSM" with ARCHITECTURE §7: the session window ends on the first of
// max_age_ms (jittered), max_calls and idle_ms, then GOAWAY{limit_reached}, drain, close;
// max_inflight reached -> stop reading the socket (no user-space queue); calls that are not
// admitted (draining, expired deadline) get REFUSED{req_id}, which the client may retry safely;
// closing the socket cancels every in-flight handler.
#pragma once

#include "trellis/fsm.hpp"

namespace trellis::machines::trust_connection {

enum class State : std::uint8_t { handshake, active, draining, closing };
enum class Event : std::uint8_t {
  hello, socket_closed, handshake_timeout, request, worker_done, limit_reached, shutdown, protocol_error,
  forbidden, drain_timeout, any,
};

inline constexpr std::string_view kStates[] = {"handshake", "active", "draining", "closing"};
inline constexpr std::string_view kEvents[] = {
    "hello", "socket_closed", "handshake_timeout", "request", "worker_done", "limit_reached", "shutdown",
    "protocol_error", "forbidden", "drain_timeout", "any",
};

using S = State;
using E = Event;
inline constexpr fsm::Transition<S, E> kTransitions[] = {
    {S::handshake, E::hello, "TLS ok and fingerprint allow-listed and token ok", S::active, "send OK (issue token); arm idle timeout and max-age timer; read next frame"},
    {S::handshake, E::hello, "token invalid or fingerprint not allowed", S::closing, "send GOAWAY{deny, drain 0}; close; suspicion++"},
    {S::handshake, E::socket_closed, "TLS error or peer closed", S::closing, "close socket; suspicion++"},
    {S::handshake, E::handshake_timeout, "", S::closing, "close socket"},

    {S::active, E::request, "inflight < max_inflight", S::active, "spawn handler; inflight++; calls_total++; reset idle timeout; read next frame"},
    {S::active, E::request, "inflight >= max_inflight", S::active, "pause reads; do not decode or queue"},
    {S::active, E::request, "duplicate req_id", S::active, "drop; duplicates_total++"},
    {S::active, E::request, "deadline already expired", S::active, "send REFUSED{req_id}"},
    {S::active, E::worker_done, "", S::active, "send RESULT; inflight--; resume reads if paused; reset idle timeout"},
    {S::active, E::limit_reached, "calls_total >= max_calls or max_age or idle expired", S::draining, "send GOAWAY{limit_reached, effective_drain_ms}; arm drain timeout"},
    {S::active, E::shutdown, "", S::draining, "send GOAWAY{shutdown, effective_drain_ms}; arm drain timeout"},
    {S::active, E::protocol_error, "oversize, malformed or unknown frame type", S::closing, "send GOAWAY{protocol}; close at once; suspicion++"},
    {S::active, E::forbidden, "method on the deny-list", S::closing, "send GOAWAY{deny}; close at once; suspicion++"},
    {S::active, E::socket_closed, "", S::closing, "cancel-by-close: stop all handlers; suppress results"},

    {S::draining, E::request, "", S::draining, "send REFUSED{req_id} (safe to retry); requests_refused_total++"},
    {S::draining, E::worker_done, "inflight > 0 after this one", S::draining, "send RESULT; inflight--"},
    {S::draining, E::worker_done, "inflight == 0 after this one", S::closing, "send RESULT; close socket"},
    {S::draining, E::drain_timeout, "", S::closing, "close socket; stop remaining handlers"},
    {S::draining, E::protocol_error, "", S::closing, "send GOAWAY{protocol}; close at once"},
    {S::draining, E::socket_closed, "", S::closing, "cancel-by-close"},

    {S::closing, E::any, "", S::closing, "drop: cancel timers, stop residual handlers, terminate"},
};
inline constexpr fsm::Machine<State, Event> kMachine{
    .name = "trust_connection",
    .title = "Trust connection: mTLS handshake, windowed multiplexed calls, GOAWAY and drain",
    .source = "design 003 Connection FSM, ARCHITECTURE 7",
    .states = kStates,
    .events = kEvents,
    .initial = State::handshake,
    .transitions = kTransitions,
};

}  // namespace trellis::machines::trust_connection
