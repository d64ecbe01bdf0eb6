// Mermaid, DOT, JSON and Markdown renderings of transition tables.
#include "trellis/fsm_export.hpp"

#include "trellis/fsm_catalog.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace trellis::fsm {
namespace {

using Row = MachineView::Row;

bool is_exit(const Row& row) { return row.to == MachineView::kExitState; }

std::string edge_label(const MachineView& m, const Row& row) {
  std::string label{m.events[row.event]};
  if (!row.guard.empty()) label.append(" [").append(row.guard) += ']';
  return label;
}

// Mermaid renders labels as HTML: angle brackets must be entities.
std::string mermaid_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '<') out += "#lt;";
    else if (c == '>') out += "#gt;";
    else if (c == ';') out += "#59;";
    else out += c;
  }
  return out;
}

std::string dot_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string markdown_cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

std::string code(std::string_view text) { return "`" + std::string(text) + "`"; }

}  // namespace

std::optional<ExportFormat> parse_export_format(std::string_view name) {
  if (name == "mermaid") return ExportFormat::mermaid;
  if (name == "dot") return ExportFormat::dot;
  if (name == "json") return ExportFormat::json;
  if (name == "markdown" || name == "md") return ExportFormat::markdown;
  return std::nullopt;
}

std::string to_mermaid(const MachineView& m) {
  std::string out = "stateDiagram-v2\n";
  out.append("    %% ").append(m.name).append(": state changes only; self-transitions are in the table\n");
  out.append("    [*] --> ").append(m.states[m.initial]) += '\n';
  for (const Row& row : m.rows) {
    if (row.to == row.from) continue;
    out.append("    ").append(m.states[row.from]).append(" --> ");
    out.append(is_exit(row) ? std::string_view("[*]") : m.states[row.to]);
    out.append(" : ").append(mermaid_escape(edge_label(m, row))) += '\n';
  }
  for (int s = 0; s < static_cast<int>(m.states.size()); ++s) {
    bool has_exit = false;
    for (const Row& row : m.rows) has_exit |= row.from == s && is_exit(row);
    if (m.is_terminal(s) && !has_exit) out.append("    ").append(m.states[s]).append(" --> [*]\n");
  }
  return out;
}

std::string to_dot(const MachineView& m) {
  std::string out = "digraph ";
  out.append(m.name).append(" {\n");
  out.append("  label=\"").append(dot_escape(m.title)).append("\";\n  labelloc=t;\n  rankdir=LR;\n");
  out.append("  node [shape=box, style=rounded];\n  __start [shape=point];\n");
  for (int s = 0; s < static_cast<int>(m.states.size()); ++s) {
    if (m.is_terminal(s)) out.append("  ").append(m.states[s]).append(" [peripheries=2];\n");
  }
  bool any_exit = false;
  for (const Row& row : m.rows) any_exit |= is_exit(row);
  if (any_exit) out.append("  __end [shape=doublecircle, label=\"\", width=0.2];\n");
  out.append("  __start -> ").append(m.states[m.initial]).append(";\n");
  for (const Row& row : m.rows) {
    if (row.to == row.from) continue;
    out.append("  ").append(m.states[row.from]).append(" -> ");
    out.append(is_exit(row) ? std::string_view("__end") : m.states[row.to]);
    out.append(" [label=\"").append(dot_escape(edge_label(m, row))).append("\"];\n");
  }
  out.append("}\n");
  return out;
}

boost::json::value to_json(const MachineView& m) {
  boost::json::array states, events, terminal, transitions;
  for (int s = 0; s < static_cast<int>(m.states.size()); ++s) {
    states.emplace_back(m.states[s]);
    if (m.is_terminal(s)) terminal.emplace_back(m.states[s]);
  }
  for (auto e : m.events) events.emplace_back(e);
  for (const Row& row : m.rows) {
    transitions.push_back({{"from", m.states[row.from]},
                           {"event", m.events[row.event]},
                           {"guard", row.guard},
                           {"to", is_exit(row) ? std::string_view("[*]") : m.states[row.to]},
                           {"action", row.action}});
  }
  return boost::json::object{{"name", m.name},       {"title", m.title},
                             {"source", m.source},   {"initial", m.states[m.initial]},
                             {"states", std::move(states)}, {"events", std::move(events)},
                             {"terminal", std::move(terminal)}, {"transitions", std::move(transitions)}};
}

std::string to_markdown(const MachineView& m) {
  std::string out = "## ";
  out.append(m.name).append("\n\n").append(m.title).append(".\n\n");
  out.append("Source: ").append(m.source).append(".\n\n");
  out.append("Initial state: ").append(code(m.states[m.initial])).append(". Terminal states: ");
  bool first = true;
  for (int s = 0; s < static_cast<int>(m.states.size()); ++s) {
    if (!m.is_terminal(s)) continue;
    if (!first) out.append(", ");
    out.append(code(m.states[s]));
    first = false;
  }
  if (first) out.append("none");
  out.append(". ").append(std::to_string(m.states.size())).append(" states, ");
  out.append(std::to_string(m.rows.size())).append(" rows.\n\n");
  out.append("```mermaid\n").append(to_mermaid(m)).append("```\n\n");
  out.append("| From | Event | Guard | To | Action |\n|---|---|---|---|---|\n");
  for (const Row& row : m.rows) {
    out.append("| ").append(code(m.states[row.from])).append(" | ").append(code(m.events[row.event]));
    out.append(" | ").append(markdown_cell(row.guard)).append(" | ");
    out.append(is_exit(row) ? std::string("[*]") : code(m.states[row.to]));
    out.append(" | ").append(markdown_cell(row.action)).append(" |\n");
  }
  return out;
}

std::string render(const MachineView& m, ExportFormat format) {
  switch (format) {
    case ExportFormat::mermaid: return to_mermaid(m);
    case ExportFormat::dot: return to_dot(m);
    case ExportFormat::json: return boost::json::serialize(to_json(m)) + "\n";
    case ExportFormat::markdown: return to_markdown(m);
  }
  return {};
}

std::string reference_markdown() {
  std::string out =
      "<!-- Generated by `trellis fsm --reference` from the transition tables in include/trellis/machines/.\n"
      "     Do not edit: change the table, then run `make docs`. `make test` fails when this file is stale. -->\n"
      "# State machines\n\n"
      "Every lifecycle in Trellis is one transition table. The runtime refuses any state change that has\n"
      "no row below (it is logged as `fsm.illegal_transition`, counted in\n"
      "`trellis_fsm_illegal_transitions_total`, and asserts in debug builds); model-based tests are generated\n"
      "from the same rows, and this page is generated from them too. Guards name the condition the owning\n"
      "code evaluates; actions say what it does on that edge. Diagrams show state changes; the tables list\n"
      "every row, self-transitions included.\n\n";
  for (const MachineView* m : catalog()) {
    out.append("- [").append(m->name).append("](#").append(m->name).append(") — ").append(m->title) += '\n';
  }
  for (const MachineView* m : catalog()) out.append("\n").append(to_markdown(*m));
  return out;
}

}  // namespace trellis::fsm
