// `trellis fsm` — inspect the state machines' transition tables.
#include "commands.hpp"

#include "trellis/fsm_catalog.hpp"
#include "trellis/fsm_export.hpp"

#include <iostream>
#include <memory>

namespace trellis::cli {
namespace {

struct FsmOptions {
  std::string name;
  std::string format = "mermaid";
  bool list = false;
  bool reference = false;
};

int run_fsm(const FsmOptions& opts) {
  if (opts.list) {
    for (const fsm::MachineView* m : fsm::catalog()) {
      std::cout << m->name << "  (" << m->states.size() << " states, " << m->rows.size() << " rows)  " << m->title
                << '\n';
    }
    return 0;
  }
  if (opts.reference) {
    std::cout << fsm::reference_markdown();
    return 0;
  }
  if (opts.name.empty()) {
    std::cerr << "trellis fsm: name a machine (see `trellis fsm --list`)\n";
    return 2;
  }
  const fsm::MachineView* machine = fsm::find_machine(opts.name);
  if (!machine) {
    std::cerr << "trellis fsm: no machine named '" << opts.name << "'; `trellis fsm --list` shows them\n";
    return 2;
  }
  const auto format = fsm::parse_export_format(opts.format);
  if (!format) {
    std::cerr << "trellis fsm: unknown format '" << opts.format << "' (mermaid, dot, json, markdown)\n";
    return 2;
  }
  std::cout << fsm::render(*machine, *format);
  return 0;
}

}  // namespace

void add_fsm_command(CLI::App& app) {
  auto opts = std::make_shared<FsmOptions>();
  CLI::App* cmd = app.add_subcommand("fsm", "Print Trellis state machines from their transition tables");
  cmd->add_option("name", opts->name, "Machine name, e.g. client_connection");
  cmd->add_option("--format,-f", opts->format, "mermaid, dot, json or markdown")
      ->check(CLI::IsMember({"mermaid", "dot", "json", "markdown", "md"}))
      ->capture_default_str();
  cmd->add_flag("--list,-l", opts->list, "List the machines");
  cmd->add_flag("--reference", opts->reference, "Print the generated docs/state-machines.md");
  cmd->callback([opts] {
    if (const int rc = run_fsm(*opts); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace trellis::cli
