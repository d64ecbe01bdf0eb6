// trellis/machines/client_connection.hpp — the client connection lifecycle (one per Client).
//
// States from design 002 FSM 1; mechanics and numbers from design 001 (its :starting,
// :initializing, :backoff and :closing map onto connecting, negotiating, reconnecting and
// closed) and ARCHITECTURE §5.2. Calls outside `ready` fail at once with Error{kind=state}; there
// is no buffering while reconnecting (001 §2), so 002's "buffer/flush" actions become "reject".
#pragma once

#include "trellis/fsm.hpp"

namespace trellis::machines::client_connection {

enum class State : std::uint8_t {
  disconnected, connecting, authenticating, negotiating, ready, suspended, draining, reconnecting, closed,
};
enum class Event : std::uint8_t {
  connect, transport_ready, transport_failed, auth_success, auth_failed, initialize_response, init_failed,
  init_timeout, user_call, response, request_timeout, cancel, notification, frame, server_cancelled_all,
  session_lost, frame_too_large, suspend, resume, suspend_timeout, stop, pending_empty, drain_timeout,
  backoff_elapsed, max_retries,
};

inline constexpr std::string_view kStates[] = {
    "disconnected", "connecting", "authenticating", "negotiating", "ready",
    "suspended", "draining", "reconnecting", "closed",
};
inline constexpr std::string_view kEvents[] = {
    "connect", "transport_ready", "transport_failed", "auth_success", "auth_failed", "initialize_response",
    "init_failed", "init_timeout", "user_call", "response", "request_timeout", "cancel", "notification", "frame",
    "server_cancelled_all", "session_lost", "frame_too_large", "suspend", "resume", "suspend_timeout", "stop",
    "pending_empty", "drain_timeout", "backoff_elapsed", "max_retries",
};

using S = State;
using E = Event;
inline constexpr fsm::Transition<S, E> kTransitions[] = {
    {S::disconnected, E::connect, "", S::connecting, "create transport (new generation); start it"},
    {S::disconnected, E::user_call, "", S::disconnected, "reply Error{kind=state, data={state}}"},
    {S::disconnected, E::stop, "", S::closed, "nothing to clean up"},

    {S::connecting, E::transport_ready, "auth required", S::authenticating, "send auth request"},
    {S::connecting, E::transport_ready, "no auth", S::negotiating, "send initialize; arm init_timeout (10 s)"},
    {S::connecting, E::transport_failed, "auto reconnect", S::reconnecting, "schedule backoff; log reason"},
    {S::connecting, E::transport_failed, "no retry", S::closed, "clean up"},
    {S::connecting, E::user_call, "", S::connecting, "reply Error{kind=state}"},
    {S::connecting, E::stop, "", S::closed, "close transport (stop interrupts any state)"},

    {S::authenticating, E::auth_success, "", S::negotiating, "send initialize; arm init_timeout"},
    {S::authenticating, E::auth_failed, "retry_count < max_auth_retries", S::reconnecting, "increment retry count; schedule backoff"},
    {S::authenticating, E::auth_failed, "retry_count >= max_auth_retries", S::closed, "auth exhausted"},
    {S::authenticating, E::transport_failed, "auto reconnect", S::reconnecting, "schedule backoff"},
    {S::authenticating, E::transport_failed, "no retry", S::closed, "clean up"},
    {S::authenticating, E::user_call, "", S::authenticating, "reply Error{kind=state}"},
    {S::authenticating, E::stop, "", S::closed, "close transport"},

    {S::negotiating, E::initialize_response, "valid capabilities, version supported", S::ready, "store capabilities and session; new generation; send initialized; reset backoff"},
    {S::negotiating, E::init_failed, "retryable", S::reconnecting, "log; schedule backoff"},
    {S::negotiating, E::init_failed, "not retryable (e.g. unsupported protocol version)", S::closed, "fail connect() with Error{kind=protocol}"},
    {S::negotiating, E::init_timeout, "retry_count < max_init_retries", S::reconnecting, "close transport; schedule backoff"},
    {S::negotiating, E::init_timeout, "retry_count >= max_init_retries", S::closed, "init exhausted"},
    {S::negotiating, E::transport_failed, "auto reconnect", S::reconnecting, "schedule backoff"},
    {S::negotiating, E::transport_failed, "no reconnect", S::closed, "clean up"},
    {S::negotiating, E::transport_ready, "duplicate", S::negotiating, "ignore: only the first transport_ready counts"},
    {S::negotiating, E::frame, "not the initialize response", S::negotiating, "drop; read next (active-once)"},
    {S::negotiating, E::user_call, "", S::negotiating, "reply Error{kind=state}"},
    {S::negotiating, E::stop, "", S::closed, "abort init; close transport"},

    {S::ready, E::user_call, "", S::ready, "make id; store row {generation, deadline}; send with busy retry (3 x 10 ms +-50 %); arm request timer"},
    {S::ready, E::response, "id in requests, current generation", S::ready, "deliver; clear timer and row"},
    {S::ready, E::response, "id tombstoned or from an older generation", S::ready, "drop; count late response"},
    {S::ready, E::response, "id unknown", S::ready, "warn; drop"},
    {S::ready, E::request_timeout, "id still in requests", S::ready, "reply Error{kind=timeout}; send notifications/cancelled; tombstone id"},
    {S::ready, E::cancel, "id still in requests", S::ready, "reply Error{kind=cancelled}; send notifications/cancelled; tombstone id"},
    {S::ready, E::notification, "", S::ready, "dispatch to handlers (progress resets timeout when asked)"},
    {S::ready, E::server_cancelled_all, "", S::negotiating, "tombstone all in flight; clear requests; start initialize"},
    {S::ready, E::session_lost, "", S::negotiating, "fail in flight with Error{kind=session}; re-initialize"},
    {S::ready, E::frame_too_large, "frame > max_frame_bytes (16 MiB)", S::reconnecting, "protocol error; close transport; schedule backoff"},
    {S::ready, E::suspend, "backpressure or manual", S::suspended, "stop accepting calls"},
    {S::ready, E::transport_failed, "auto reconnect, resumable transport", S::reconnecting, "keep in-flight calls for the resumed stream"},
    {S::ready, E::transport_failed, "auto reconnect, not resumable", S::reconnecting, "fail in flight with Error{kind=transport}; tombstone ids; schedule backoff"},
    {S::ready, E::transport_failed, "no reconnect", S::closed, "fail pending requests"},
    {S::ready, E::stop, "has pending requests", S::draining, "stop accepting; arm drain timeout"},
    {S::ready, E::stop, "no pending requests", S::closed, "close transport"},

    {S::suspended, E::resume, "", S::ready, "accept calls again"},
    {S::suspended, E::user_call, "", S::suspended, "reply Error{kind=state} (no buffering)"},
    {S::suspended, E::response, "", S::suspended, "deliver or drop as in ready"},
    {S::suspended, E::request_timeout, "", S::suspended, "reply timeout; send cancelled; tombstone"},
    {S::suspended, E::suspend_timeout, "suspended_time > max_suspend_ms", S::closed, "fail pending; close"},
    {S::suspended, E::transport_failed, "auto reconnect", S::reconnecting, "transport loss takes precedence over suspend"},
    {S::suspended, E::stop, "has pending requests", S::draining, "arm drain timeout"},
    {S::suspended, E::stop, "no pending requests", S::closed, "close transport"},

    {S::draining, E::response, "", S::draining, "deliver or drop as in ready"},
    {S::draining, E::request_timeout, "", S::draining, "that request fails with timeout; others continue"},
    {S::draining, E::user_call, "", S::draining, "reply Error{kind=state}"},
    {S::draining, E::pending_empty, "", S::closed, "close transport"},
    {S::draining, E::drain_timeout, "drain_time > max_drain_ms", S::closed, "fail remaining with Error{kind=cancelled}; close"},
    {S::draining, E::transport_failed, "", S::closed, "fail remaining with Error{kind=transport}"},

    {S::reconnecting, E::backoff_elapsed, "circuit breaker allows", S::connecting, "create transport (new generation)"},
    {S::reconnecting, E::backoff_elapsed, "circuit breaker open", S::reconnecting, "schedule backoff again"},
    {S::reconnecting, E::transport_ready, "transport restarted before backoff elapsed", S::negotiating, "send initialize"},
    {S::reconnecting, E::max_retries, "retry_count >= max_reconnect_retries", S::closed, "give up; fail connect waiters"},
    {S::reconnecting, E::frame, "", S::reconnecting, "drop (ids were tombstoned on leaving ready)"},
    {S::reconnecting, E::user_call, "", S::reconnecting, "reply Error{kind=state}"},
    {S::reconnecting, E::stop, "", S::closed, "abort reconnection"},

    {S::closed, E::user_call, "", S::closed, "reply Error{kind=state}"},
    {S::closed, E::frame, "", S::closed, "drop"},
    {S::closed, E::stop, "", S::closed, "idempotent"},
};
inline constexpr fsm::Machine<State, Event> kMachine{
    .name = "client_connection",
    .title = "MCP client connection: connect, negotiate, serve calls, heal after failures",
    .source = "design 002 FSM 1 (states), design 001 section 5 (mechanics), ARCHITECTURE 5.2",
    .states = kStates,
    .events = kEvents,
    .initial = State::disconnected,
    .transitions = kTransitions,
};

}  // namespace trellis::machines::client_connection
