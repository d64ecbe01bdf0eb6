// Subcommands of the `trellis` command line; each file registers one on the CLI11 app.
#pragma once

#include <CLI/CLI.hpp>

namespace trellis::cli {

// `trellis fsm`: list machines, print one as Mermaid/DOT/JSON/Markdown, or the whole reference.
void add_fsm_command(CLI::App& app);

}  // namespace trellis::cli
