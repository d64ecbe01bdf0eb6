// A small machine for testing the runtime itself: guarded alternatives, a self-transition,
// an exit row and a terminal state.
#pragma once

#include "trellis/fsm.hpp"

namespace trellis::testing::door {

enum class State : std::uint8_t { closed, open, locked, broken };
enum class Event : std::uint8_t { open, close, lock, unlock, knock, kick, recycle };
inline constexpr std::string_view kStates[] = {"closed", "open", "locked", "broken"};
inline constexpr std::string_view kEvents[] = {"open", "close", "lock", "unlock", "knock", "kick", "recycle"};
inline constexpr fsm::Transition<State, Event> kRows[] = {
    {State::closed, Event::open, "", State::open, "swing"},
    {State::closed, Event::lock, "has key", State::locked, "turn key"},
    {State::closed, Event::knock, "", State::closed, "nobody answers"},
    {State::closed, Event::kick, "hard", State::broken, "splinter"},
    {State::closed, Event::kick, "soft", State::closed, "ouch"},
    {State::open, Event::close, "", State::closed, "swing back"},
    {State::locked, Event::unlock, "", State::closed, "turn key back"},
};
inline constexpr fsm::Exit<State, Event> kExits[] = {{State::broken, Event::recycle, "", "haul away"}};
inline constexpr fsm::Machine<State, Event> kMachine{
    .name = "door", .title = "A door", .source = "tests", .states = kStates, .events = kEvents,
    .initial = State::closed, .transitions = kRows, .exits = kExits};

}  // namespace trellis::testing::door
