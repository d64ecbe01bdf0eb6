// `trellis` — the command line. Subcommands live in their own files (fsm_command.cpp, ...).
#include "trellis/version.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"Trellis — a fault-tolerant Model Context Protocol runtime", "trellis"};
  app.set_version_flag("--version", std::string("trellis ") + trellis::kVersion);
  app.require_subcommand(0, 1);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
