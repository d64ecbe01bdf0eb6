// The built-in demo toolset of `trellis serve`: echo, add, slow (with progress), generate (a
// result of a given size), announce (a log message to every session), a text resource, a
// resource template, a prompt with completion.
#pragma once

#include "trellis/server.hpp"

namespace trellis::cli {

void register_demo_toolset(Server& server);

}  // namespace trellis::cli
