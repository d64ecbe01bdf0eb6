// The catalog of Trellis state machines.
#include "trellis/fsm_catalog.hpp"

#include "trellis/machines/circuit_breaker.hpp"
#include "trellis/machines/client_connection.hpp"
#include "trellis/machines/server_session.hpp"
#include "trellis/machines/session_lifetime.hpp"
#include "trellis/machines/sse_stream.hpp"
#include "trellis/machines/task.hpp"
#include "trellis/machines/trust_connection.hpp"

#include <array>

namespace trellis::fsm {

std::span<const MachineView* const> catalog() {
  static const std::array<const MachineView*, 7> machines{
      &view_of<machines::client_connection::kMachine>(), &view_of<machines::server_session::kMachine>(),
      &view_of<machines::session_lifetime::kMachine>(),  &view_of<machines::task::kMachine>(),
      &view_of<machines::sse_stream::kMachine>(),        &view_of<machines::trust_connection::kMachine>(),
      &view_of<machines::circuit_breaker::kMachine>(),
  };
  return machines;
}

const MachineView* find_machine(std::string_view name) {
  for (const MachineView* m : catalog())
    if (m->name == name) return m;
  return nullptr;
}

}  // namespace trellis::fsm
