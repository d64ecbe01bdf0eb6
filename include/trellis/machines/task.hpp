// trellis/machines/task.hpp — one task (a long-running tool call) from submission to its outcome.
//
// Design 002 FSM 4 with ARCHITECTURE §5.2: the result wins a race with cancel, cancel is
// idempotent, the deadline is a hard stop, and cancel clean-up times out after 5 s. MCP task
// statuses map onto these states: submitted/running/cancelling -> working, result_ready ->
// completed, failed and timed_out -> failed, cancelled -> cancelled.
#pragma once

#include "trellis/fsm.hpp"

namespace trellis::machines::task {

enum class State : std::uint8_t { submitted, running, cancelling, result_ready, cancelled, failed, timed_out };
enum class Event : std::uint8_t { start, cancel, timeout, success, exception, cleanup_done, result, consumed, cleanup, handled };

inline constexpr std::string_view kStates[] = {
    "submitted", "running", "cancelling", "result_ready", "cancelled", "failed", "timed_out",
};
inline constexpr std::string_view kEvents[] = {
    "start", "cancel", "timeout", "success", "exception", "cleanup_done", "result", "consumed", "cleanup", "handled",
};

using S = State;
using E = Event;
inline constexpr fsm::Transition<S, E> kTransitions[] = {
    {S::submitted, E::start, "worker available", S::running, "run on the worker pool; arm deadline"},
    {S::submitted, E::cancel, "", S::cancelled, "remove from queue"},
    {S::submitted, E::timeout, "now > deadline", S::timed_out, "deadline passed before start"},

    {S::running, E::success, "", S::result_ready, "store result; notify"},
    {S::running, E::exception, "", S::failed, "store error; notify"},
    {S::running, E::cancel, "can interrupt", S::cancelling, "request the handler's stop token; arm cancel timeout (5 s)"},
    {S::running, E::cancel, "cannot interrupt", S::running, "ignore cancel (non-cancellable)"},
    {S::running, E::timeout, "now > deadline", S::timed_out, "hard stop: request stop; drop any later result"},

    {S::cancelling, E::cleanup_done, "", S::cancelled, "handler stopped cleanly"},
    {S::cancelling, E::result, "result arrived first", S::result_ready, "race won by the result: keep it"},
    {S::cancelling, E::cancel, "", S::cancelling, "idempotent: only the first cancel counts"},
    {S::cancelling, E::timeout, "cleanup_time > cancel_timeout", S::timed_out, "abandon the handler"},

    {S::result_ready, E::cancel, "", S::result_ready, "too late: ignore cancel"},
    {S::cancelled, E::cancel, "", S::cancelled, "idempotent"},
    {S::failed, E::cancel, "", S::failed, "too late: ignore cancel"},
    {S::timed_out, E::cancel, "", S::timed_out, "too late: ignore cancel"},
};
inline constexpr fsm::Exit<S, E> kExits[] = {
    {S::result_ready, E::consumed, "", "clean up resources"},
    {S::cancelled, E::cleanup, "", "remove task"},
    {S::failed, E::handled, "", "remove task"},
    {S::timed_out, E::handled, "", "remove task"},
};
inline constexpr fsm::Machine<State, Event> kMachine{
    .name = "task",
    .title = "Task execution: run, cancel, race of result against cancel, deadline",
    .source = "design 002 FSM 4, ARCHITECTURE 5.2",
    .states = kStates,
    .events = kEvents,
    .initial = State::submitted,
    .transitions = kTransitions,
    .exits = kExits,
};

}  // namespace trellis::machines::task
