// trellis/fsm_export.hpp — diagrams and reference tables drawn from transition tables.
//
//   std::cout << fsm::to_mermaid(*fsm::find_machine("task"));
//   std::cout << fsm::reference_markdown();   // the whole of docs/state-machines.md
//
// Diagrams (Mermaid, DOT) show state changes; self-transitions appear only in the tables (JSON,
// Markdown), which list every row.
#pragma once

#include "trellis/fsm.hpp"

#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace trellis::fsm {

enum class ExportFormat { mermaid, dot, json, markdown };

std::optional<ExportFormat> parse_export_format(std::string_view name);

// `stateDiagram-v2` text, ready for a ```mermaid block.
std::string to_mermaid(const MachineView& machine);
// Graphviz `digraph`.
std::string to_dot(const MachineView& machine);
// {name, title, source, initial, states, events, terminal, transitions: [{from, event, guard, to, action}]}
boost::json::value to_json(const MachineView& machine);
// A section: title, source, Mermaid diagram and the full table.
std::string to_markdown(const MachineView& machine);
std::string render(const MachineView& machine, ExportFormat format);

// docs/state-machines.md: every machine of the catalog, generated; `make docs` writes it.
std::string reference_markdown();

}  // namespace trellis::fsm
