// trellis/fsm_catalog.hpp — every state machine of Trellis, by name.
//
// The CLI (`trellis fsm --list`), the generated reference in docs/state-machines.md and the
// table-consistency tests all iterate this catalog, so a machine added here is documented and
// checked everywhere at once.
//
//   for (const fsm::MachineView* m : fsm::catalog()) std::cout << m->name << '\n';
//   if (auto* m = fsm::find_machine("client_connection")) std::cout << fsm::to_mermaid(*m);
#pragma once

#include "trellis/fsm.hpp"

#include <span>
#include <string_view>

namespace trellis::fsm {

// The seven machines, in the order of ARCHITECTURE §5.2.
std::span<const MachineView* const> catalog();

// The machine with this name, or nullptr.
const MachineView* find_machine(std::string_view name);

}  // namespace trellis::fsm
