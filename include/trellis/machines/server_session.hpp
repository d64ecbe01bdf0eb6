// trellis/machines/server_session.hpp — the server side of one MCP session: admission control.
//
// Design 002 FSM 2, with the MCP lifecycle rules: only `ping` is served before initialization
// completes, a second `initialize` is rejected, `draining` rejects new requests with a
// "shutting down" error carrying the state, `suspended` sheds load with a retryable error, and
// `upgrading` finishes active requests before handing over.
#pragma once

#include "trellis/fsm.hpp"

namespace trellis::machines::server_session {

enum class State : std::uint8_t { uninitialized, initializing, ready, suspended, draining, upgrading, closed };
enum class Event : std::uint8_t {
  initialize, initialized, init_failed, init_timeout, request, shutdown, suspend, resume, suspend_timeout,
  code_reload, reload_complete, reload_failed, requests_empty, drain_timeout,
};

inline constexpr std::string_view kStates[] = {
    "uninitialized", "initializing", "ready", "suspended", "draining", "upgrading", "closed",
};
inline constexpr std::string_view kEvents[] = {
    "initialize", "initialized", "init_failed", "init_timeout", "request", "shutdown", "suspend", "resume",
    "suspend_timeout", "code_reload", "reload_complete", "reload_failed", "requests_empty", "drain_timeout",
};

using S = State;
using E = Event;
inline constexpr fsm::Transition<S, E> kTransitions[] = {
    {S::uninitialized, E::initialize, "valid initialize request", S::initializing, "store client capabilities; negotiate version; send result"},
    {S::uninitialized, E::initialize, "invalid initialize request", S::uninitialized, "reply invalid params; stay"},
    {S::uninitialized, E::request, "ping", S::uninitialized, "answer"},
    {S::uninitialized, E::request, "any other method", S::uninitialized, "reply error: session not initialized"},
    {S::uninitialized, E::shutdown, "", S::closed, "never initialized"},

    {S::initializing, E::initialized, "", S::ready, "mark initialized; enable handlers"},
    {S::initializing, E::init_failed, "", S::uninitialized, "reset negotiated state"},
    {S::initializing, E::init_timeout, "elapsed > init_timeout", S::closed, "initialization timed out"},
    {S::initializing, E::initialize, "second initialize", S::initializing, "reject: already initialized"},
    {S::initializing, E::request, "", S::initializing, "serve (clients may send before notifications/initialized)"},
    {S::initializing, E::shutdown, "", S::closed, "close"},

    {S::ready, E::request, "", S::ready, "dispatch to the worker pool; track as active"},
    {S::ready, E::initialize, "second initialize", S::ready, "reject: already initialized"},
    {S::ready, E::shutdown, "has active requests", S::draining, "finish active, reject new; arm drain timeout"},
    {S::ready, E::shutdown, "no active requests", S::closed, "immediate shutdown"},
    {S::ready, E::suspend, "overload", S::suspended, "reject new requests (retryable)"},
    {S::ready, E::code_reload, "", S::upgrading, "pause new requests; finish active; hand over"},

    {S::suspended, E::resume, "load below threshold", S::ready, "accept requests"},
    {S::suspended, E::resume, "already resumed or load still high", S::suspended, "ignore: only the first resume counts"},
    {S::suspended, E::request, "", S::suspended, "reject with a retryable error carrying the state"},
    {S::suspended, E::shutdown, "", S::draining, "shutdown takes precedence over suspend"},
    {S::suspended, E::suspend_timeout, "suspended_time > max_suspend_ms", S::closed, "force close"},

    {S::upgrading, E::request, "", S::upgrading, "reject with a retryable error carrying the state"},
    {S::upgrading, E::reload_complete, "", S::ready, "new code active"},
    {S::upgrading, E::reload_failed, "", S::closed, "cannot continue"},
    {S::upgrading, E::shutdown, "", S::draining, "shutdown takes precedence over upgrade"},

    {S::draining, E::request, "", S::draining, "reject: server shutting down (carries the state)"},
    {S::draining, E::requests_empty, "", S::closed, "all active complete"},
    {S::draining, E::drain_timeout, "drain_time > max_drain_ms", S::closed, "cancel remaining handlers; force close"},
    {S::draining, E::shutdown, "", S::draining, "idempotent"},

    {S::closed, E::request, "", S::closed, "reject: session closed"},
    {S::closed, E::shutdown, "", S::closed, "idempotent"},
};
inline constexpr fsm::Machine<State, Event> kMachine{
    .name = "server_session",
    .title = "MCP server session: initialization, admission, load shedding, drain and upgrade",
    .source = "design 002 FSM 2, MCP 2025-11-25 lifecycle, ARCHITECTURE 5.2",
    .states = kStates,
    .events = kEvents,
    .initial = State::uninitialized,
    .transitions = kTransitions,
};

}  // namespace trellis::machines::server_session
