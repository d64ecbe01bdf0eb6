// trellis/machines/sse_stream.hpp — one Server-Sent Events stream of a Streamable HTTP session.
//
// Design 002 FSM 5 with ARCHITECTURE §5.2, as the runtime drives it (http_detail::SessionStreams
// fires every row; tests/property/sse_stream_model_test.cpp walks the table through it). Where
// MCP's Streamable HTTP asks for more than the design's rows, the table says so:
//   - every event, the priming one included, carries an id, so a lost connection can always be
//     resumed (the design's "no Last-Event-ID: closed" cannot happen), and a stream stays
//     resumable while the session lives and the event store holds what follows the client's id;
//   - the newest resume wins: a GET with Last-Event-ID replaces the connection still writing the
//     stream, in whatever state the stream is;
//   - the buffer is the connection's queue of events not yet written, bounded in bytes
//     (HttpServerOptions::max_unsent_sse_bytes) rather than in events: past 80 % of it the stream
//     pauses, under half of it flows again, and past all of it the server cuts the connection
//     and the client resumes from the event store (the design closed the stream instead);
//   - a stream that ended (closed) still replays what the store holds after a Last-Event-ID,
//     for a client whose connection broke after the server's last write;
//   - no resume timeout or attempt limit: the session's idle expiry and the store's bounds end
//     what cannot be resumed any more.
#pragma once

#include "trellis/fsm.hpp"

namespace trellis::machines::sse_stream {

enum class State : std::uint8_t { opening, active, paused, resuming, closing, closed };
enum class Event : std::uint8_t {
  handshake_ok, event, heartbeat, backpressure, flow_resumed, connection_lost, close, reconnect, flushed, failed,
};

inline constexpr std::string_view kStates[] = {"opening", "active", "paused", "resuming", "closing", "closed"};
inline constexpr std::string_view kEvents[] = {
    "handshake_ok", "event", "heartbeat", "backpressure", "flow_resumed", "connection_lost", "close", "reconnect",
    "flushed", "failed",
};

using S = State;
using E = Event;
inline constexpr fsm::Transition<S, E> kTransitions[] = {
    {S::opening, E::handshake_ok, "a GET, or the POST that opened the stream", S::active, "send the headers and the priming event (an id and retry)"},
    {S::opening, E::event, "the standalone stream before its first GET", S::opening, "drop it: no client can ask for it"},
    {S::opening, E::failed, "the session closed first", S::closed, "nothing to send"},

    {S::active, E::event, "", S::active, "send with a new event id; store for resumption"},
    {S::active, E::heartbeat, "nothing written for the heartbeat interval", S::active, "send a comment line"},
    {S::active, E::backpressure, "over 80 % of max_unsent_sse_bytes waits for the client", S::paused, "events wait in the connection's queue"},
    {S::active, E::connection_lost, "the connection closed, or the server cut it", S::resuming, "keep the stream for a GET with Last-Event-ID"},
    {S::active, E::close, "the stream's last message, or the session closed", S::closing, "end the response once the queue is written"},
    {S::active, E::reconnect, "a GET with a Last-Event-ID of this stream", S::active, "cut the old connection (the newest wins); replay what follows the id"},

    {S::paused, E::event, "", S::paused, "queue behind what the client has not read; store for resumption"},
    {S::paused, E::flow_resumed, "under half of max_unsent_sse_bytes waits", S::active, "heartbeats go out again"},
    {S::paused, E::connection_lost, "past max_unsent_sse_bytes, or the connection closed", S::resuming, "cut the connection: the client resumes from the event store"},
    {S::paused, E::close, "the stream's last message, or the session closed", S::closing, "end the response once the queue is written"},
    {S::paused, E::reconnect, "a GET with a Last-Event-ID of this stream", S::active, "cut the old connection (the newest wins); replay what follows the id"},

    {S::resuming, E::event, "", S::resuming, "store for replay"},
    {S::resuming, E::reconnect, "a GET with a Last-Event-ID of this stream", S::active, "replay what follows the id, then go on"},
    {S::resuming, E::handshake_ok, "a GET without Last-Event-ID (the standalone stream)", S::active, "send the priming event; nothing is replayed"},
    {S::resuming, E::close, "the stream's last message", S::resuming, "store it: a resume replays it and ends the response"},
    {S::resuming, E::failed, "the session closed", S::closed, "nothing can resume the stream"},

    {S::closing, E::event, "", S::closing, "send it if the response has not ended; store for resumption"},
    {S::closing, E::flushed, "the response ended", S::closed, "all events written"},
    {S::closing, E::connection_lost, "the connection failed before the end", S::resuming, "the client may resume for the rest"},
    {S::closing, E::reconnect, "a GET with a Last-Event-ID of this stream", S::closing, "cut the old connection; replay what follows the id, then end the response"},
    {S::closing, E::close, "the stream's last message, after the session closed it", S::closing, "nothing more: the response is ending"},

    {S::closed, E::event, "", S::closed, "drop it: the stream has ended"},
    {S::closed, E::close, "the stream's last message, after the session closed it", S::closed, "nothing to do: the stream has ended"},
    {S::closed, E::reconnect, "a GET with a Last-Event-ID of this stream", S::closed, "replay what the store still holds after the id, then end the response at once"},
};
inline constexpr fsm::Machine<State, Event> kMachine{
    .name = "sse_stream",
    .title = "SSE stream: events with ids, flow control, resumption with Last-Event-ID",
    .source = "design 002 FSM 5, ARCHITECTURE 5.2 and 6, as MCP Streamable HTTP resumes streams",
    .states = kStates,
    .events = kEvents,
    .initial = State::opening,
    .transitions = kTransitions,
};

}  // namespace trellis::machines::sse_stream
