// Makes any state change a machine's table lacks a fuzzing finding: the default handler asserts
// only in debug builds, and the fuzz targets are built with NDEBUG.
#pragma once

#include "trellis/fsm.hpp"

#include <cstdio>

namespace trellis::fuzzing {

inline void trap_illegal_transitions(const char* target) {
  fsm::set_illegal_transition_handler([target](const fsm::IllegalTransition& t) {
    std::fprintf(stderr, "%s: illegal transition in %.*s: %.*s --%.*s-->\n", target, static_cast<int>(t.machine.size()),
                 t.machine.data(), static_cast<int>(t.state.size()), t.state.data(), static_cast<int>(t.event.size()),
                 t.event.data());
    __builtin_trap();
  });
}

}  // namespace trellis::fuzzing
