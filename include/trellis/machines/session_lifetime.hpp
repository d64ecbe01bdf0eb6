// trellis/machines/session_lifetime.hpp — how long a session lives, and how it survives restarts.
//
// Design 002 FSM 3 with ARCHITECTURE §5.2: TTL (default 300 s) with a grace period (30 s) in
// which any request extends the session; a TTL that expires during a request waits for the
// request; persistent sessions move to `resuming` on connection loss and are rehydrated from the
// store. `disconnect` closes from any state but `closed`.
#pragma once

#include "trellis/fsm.hpp"

namespace trellis::machines::session_lifetime {

enum class State : std::uint8_t { negotiating, active, suspended, resuming, expiring, closed };
enum class Event : std::uint8_t {
  caps_agreed, failed, timeout, request, suspend, resume, ttl_expired, connection_lost, disconnect, close,
  rehydrated, extend, grace_expired,
};

inline constexpr std::string_view kStates[] = {"negotiating", "active", "suspended", "resuming", "expiring", "closed"};
inline constexpr std::string_view kEvents[] = {
    "caps_agreed", "failed", "timeout", "request", "suspend", "resume", "ttl_expired", "connection_lost",
    "disconnect", "close", "rehydrated", "extend", "grace_expired",
};

using S = State;
using E = Event;
inline constexpr fsm::Transition<S, E> kTransitions[] = {
    {S::negotiating, E::caps_agreed, "valid handshake", S::active, "create session; start TTL timer"},
    {S::negotiating, E::failed, "", S::closed, "reject session"},
    {S::negotiating, E::timeout, "elapsed > init_timeout", S::closed, "negotiation timeout"},
    {S::negotiating, E::disconnect, "", S::closed, "client went away"},

    {S::active, E::request, "", S::active, "touch: restart TTL timer"},
    {S::active, E::suspend, "TTL warning or manual", S::suspended, "pause TTL timer"},
    {S::active, E::ttl_expired, "no request in flight", S::expiring, "start grace period (30 s)"},
    {S::active, E::ttl_expired, "request in flight", S::active, "wait: re-arm when the request completes"},
    {S::active, E::connection_lost, "persistent", S::resuming, "serialize state to the store"},
    {S::active, E::connection_lost, "not persistent", S::closed, "ephemeral session lost"},
    {S::active, E::disconnect, "", S::closed, "clean shutdown (DELETE)"},

    {S::suspended, E::resume, "", S::active, "restart TTL timer"},
    {S::suspended, E::ttl_expired, "", S::expiring, "start grace period"},
    {S::suspended, E::close, "", S::closed, "manual close"},
    {S::suspended, E::disconnect, "", S::closed, "disconnect takes precedence over suspend"},

    {S::resuming, E::rehydrated, "valid stored state", S::active, "restore session; restart TTL timer"},
    {S::resuming, E::resume, "already resumed", S::resuming, "ignore: only the first resume counts"},
    {S::resuming, E::failed, "", S::closed, "cannot restore"},
    {S::resuming, E::timeout, "elapsed > resume_timeout", S::closed, "resume timeout"},
    {S::resuming, E::disconnect, "", S::closed, "client went away"},

    {S::expiring, E::extend, "within grace period", S::active, "reset TTL"},
    {S::expiring, E::request, "within grace period", S::active, "any request extends the session"},
    {S::expiring, E::grace_expired, "", S::closed, "session expired; remove from store"},
    {S::expiring, E::close, "", S::closed, "explicit close"},
    {S::expiring, E::disconnect, "", S::closed, "client went away"},

    {S::closed, E::resume, "", S::closed, "rejected: resume after close"},
    {S::closed, E::request, "", S::closed, "rejected: unknown session (HTTP 404)"},
};
inline constexpr fsm::Machine<State, Event> kMachine{
    .name = "session_lifetime",
    .title = "Session lifetime: TTL with grace period, suspension, persistence and rehydration",
    .source = "design 002 FSM 3, ARCHITECTURE 5.2",
    .states = kStates,
    .events = kEvents,
    .initial = State::negotiating,
    .transitions = kTransitions,
};

}  // namespace trellis::machines::session_lifetime
