// `trellis` — the command line. Subcommands live in their own files (fsm_command.cpp, ...).
#include "commands.hpp"

#include "trellis/version.hpp"

#include <string>

int main(int argc, char** argv) {
  CLI::App app{"Trellis — a fault-tolerant Model Context Protocol runtime", "trellis"};
  app.set_version_flag("--version", std::string("trellis ") + trellis::kVersion);
  app.require_subcommand(1, 1);
  trellis::cli::add_fsm_command(app);
  trellis::cli::add_serve_command(app);
  trellis::cli::add_client_commands(app);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
