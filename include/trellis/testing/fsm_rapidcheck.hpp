// trellis/testing/fsm_rapidcheck.hpp — RapidCheck generators drawn from transition tables.
//
// Model-based tests drive a real implementation with event sequences generated from its own
// table, and compare it with a model after every step:
//
//   RC_GTEST_PROP(Breaker, FollowsModel, ()) {
//     const auto walk = *trellis::testing::gen_walk(view_of<kMachine>(), 50);
//     for (const auto& step : walk) { ... drive the implementation, compare with the model ... }
//   }
//
// gen_walk() follows the table (each step is a row leaving the current state, so every state and
// row the table can reach gets exercised); gen_events() draws any events, legal or not, to test
// refusals. Header-only; needs RapidCheck (Debian librapidcheck-dev).
#pragma once

#include "trellis/fsm.hpp"

#include <rapidcheck.h>

#include <cstddef>
#include <vector>

namespace trellis::testing {

// One step of a walk: the row taken (index into MachineView::rows) and where it led.
struct WalkStep {
  std::size_t row;
  int event;
  int from;
  int to;  // MachineView::kExitState when the row leaves the machine
};

// A random walk of up to `max_steps` rows from the initial state. Stops early in a state with no
// outgoing rows, or after taking an exit row.
inline rc::Gen<std::vector<WalkStep>> gen_walk(const fsm::MachineView& machine, std::size_t max_steps) {
  return rc::gen::exec([&machine, max_steps] {
    std::vector<WalkStep> walk;
    const auto length = *rc::gen::inRange<std::size_t>(0, max_steps + 1);
    int state = machine.initial;
    for (std::size_t i = 0; i < length; ++i) {
      std::vector<std::size_t> outgoing;
      for (std::size_t r = 0; r < machine.rows.size(); ++r)
        if (machine.rows[r].from == state) outgoing.push_back(r);
      if (outgoing.empty()) break;
      const std::size_t pick = outgoing[*rc::gen::inRange<std::size_t>(0, outgoing.size())];
      const auto& row = machine.rows[pick];
      walk.push_back({pick, row.event, row.from, row.to});
      if (row.to == fsm::MachineView::kExitState) break;
      state = row.to;
    }
    return walk;
  });
}

// Any `count` events of the machine, legal in the current state or not.
inline rc::Gen<std::vector<int>> gen_events(const fsm::MachineView& machine, std::size_t count) {
  return rc::gen::container<std::vector<int>>(
      count, rc::gen::inRange<int>(0, static_cast<int>(machine.events.size())));
}

}  // namespace trellis::testing
