// The tools, resources and prompts the official MCP conformance suite (0.1.16) expects of a
// server; each scenario's requirements are quoted beside what implements them.
#pragma once

#include "trellis/server.hpp"

namespace conformance {

void register_fixture(trellis::Server& server);

}  // namespace conformance
