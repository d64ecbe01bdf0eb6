// trellis/machines/sse_stream.hpp — one Server-Sent Events stream of a Streamable HTTP session.
//
// Design 002 FSM 5 with ARCHITECTURE §5.2: a bounded buffer (1000 events, pause at 800), a
// heartbeat comment every 30 s, Last-Event-ID resumption from the event store, at most 3 resume
// attempts, and a close that flushes the buffer first.
#pragma once

#include "trellis/fsm.hpp"

namespace trellis::machines::sse_stream {

enum class State : std::uint8_t { opening, active, paused, resuming, closing, closed };
enum class Event : std::uint8_t {
  handshake_ok, handshake_failed, timeout, event, heartbeat, backpressure, flow_resumed, connection_lost, close,
  reconnect, failed, max_attempts, flushed,
};

inline constexpr std::string_view kStates[] = {"opening", "active", "paused", "resuming", "closing", "closed"};
inline constexpr std::string_view kEvents[] = {
    "handshake_ok", "handshake_failed", "timeout", "event", "heartbeat", "backpressure", "flow_resumed",
    "connection_lost", "close", "reconnect", "failed", "max_attempts", "flushed",
};

using S = State;
using E = Event;
inline constexpr fsm::Transition<S, E> kTransitions[] = {
    {S::opening, E::handshake_ok, "valid SSE request", S::active, "send headers and the priming event with retry"},
    {S::opening, E::handshake_failed, "", S::closed, "reject the request"},
    {S::opening, E::timeout, "elapsed > handshake_timeout", S::closed, "connection timeout"},

    {S::active, E::event, "", S::active, "send with a new event id; store for resumption"},
    {S::active, E::heartbeat, "30 s without writes", S::active, "send a comment line"},
    {S::active, E::backpressure, "buffer >= 800 events", S::paused, "stop sending; buffer events"},
    {S::active, E::connection_lost, "has Last-Event-ID", S::resuming, "keep stream state; wait for GET with Last-Event-ID"},
    {S::active, E::connection_lost, "no Last-Event-ID", S::closed, "cannot resume"},
    {S::active, E::close, "", S::closing, "flush remaining events"},

    {S::paused, E::event, "buffer < 1000 events", S::paused, "buffer for later"},
    {S::paused, E::event, "buffer full (1000 events)", S::closing, "overflow: stop accepting; the client resumes from the event store"},
    {S::paused, E::flow_resumed, "buffer below threshold", S::active, "resume sending"},
    {S::paused, E::close, "", S::closing, "drain buffer"},
    {S::paused, E::connection_lost, "", S::resuming, "preserve buffer"},

    {S::resuming, E::event, "", S::resuming, "store in the event store for replay"},
    {S::resuming, E::reconnect, "valid resume (known Last-Event-ID)", S::active, "replay events after Last-Event-ID"},
    {S::resuming, E::reconnect, "superseded by a newer resume attempt", S::resuming, "use the latest attempt"},
    {S::resuming, E::failed, "", S::closed, "cannot resume"},
    {S::resuming, E::max_attempts, "resume_attempts >= 3", S::closed, "give up"},
    {S::resuming, E::timeout, "elapsed > resume_timeout", S::closed, "give up"},

    {S::closing, E::event, "", S::closing, "buffer: close flushes regardless"},
    {S::closing, E::reconnect, "", S::closing, "reject reconnect while closing"},
    {S::closing, E::flushed, "buffer empty", S::closed, "all events sent"},
    {S::closing, E::timeout, "close_time > close_timeout", S::closed, "force close"},

    {S::closed, E::reconnect, "", S::closed, "reject reconnect after close"},
};
inline constexpr fsm::Machine<State, Event> kMachine{
    .name = "sse_stream",
    .title = "SSE stream: events with ids, flow control, resumption with Last-Event-ID",
    .source = "design 002 FSM 5, ARCHITECTURE 5.2 and 6",
    .states = kStates,
    .events = kEvents,
    .initial = State::opening,
    .transitions = kTransitions,
};

}  // namespace trellis::machines::sse_stream
