// Mermaid, DOT, JSON and Markdown renderings of the tables.
#include "support/fsm_test_machine.hpp"

#include "trellis/fsm_catalog.hpp"
#include "trellis/fsm_export.hpp"

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

namespace trellis::fsm {
namespace {

const MachineView& door() { return view_of<testing::door::kMachine>(); }

TEST(FsmExport, MermaidShowsStateChangesExitsAndTerminalStates) {
  EXPECT_EQ(to_mermaid(door()),
            "stateDiagram-v2\n"
            "    %% door: state changes only; self-transitions are in the table\n"
            "    [*] --> closed\n"
            "    closed --> open : open\n"
            "    closed --> locked : lock [has key]\n"
            "    closed --> broken : kick [hard]\n"
            "    open --> closed : close\n"
            "    locked --> closed : unlock\n"
            "    broken --> [*] : recycle\n");
}

TEST(FsmExport, MermaidEscapesAngleBrackets) {
  const std::string text = to_mermaid(*find_machine("client_connection"));
  // Arrows are Mermaid syntax; only the labels after " : " must have their brackets escaped.
  for (std::size_t at = text.find(" : "); at != std::string::npos; at = text.find(" : ", at + 1)) {
    const std::string label = text.substr(at, text.find('\n', at) - at);
    EXPECT_EQ(label.find_first_of("<>"), std::string::npos) << label;
  }
  EXPECT_NE(text.find("frame #gt; max_frame_bytes"), std::string::npos);
}

TEST(FsmExport, ClientConnectionMermaidNamesAllNineStates) {
  const std::string text = to_mermaid(*find_machine("client_connection"));
  EXPECT_EQ(text.rfind("stateDiagram-v2\n", 0), 0u);
  for (auto s : {"disconnected", "connecting", "authenticating", "negotiating", "ready", "suspended", "draining",
                 "reconnecting", "closed"})
    EXPECT_NE(text.find(std::string(" ") + s + " "), std::string::npos) << s;
}

TEST(FsmExport, DotIsADigraphWithStartAndEnd) {
  const std::string dot = to_dot(door());
  EXPECT_EQ(dot.rfind("digraph door {\n", 0), 0u);
  EXPECT_NE(dot.find("  __start -> closed;\n"), std::string::npos);
  EXPECT_NE(dot.find("  closed -> locked [label=\"lock [has key]\"];\n"), std::string::npos);
  EXPECT_NE(dot.find("  broken -> __end [label=\"recycle\"];\n"), std::string::npos);
  EXPECT_EQ(dot.find("knock"), std::string::npos) << "self-transitions are not drawn";
  EXPECT_EQ(dot.back(), '\n');
}

TEST(FsmExport, JsonListsEveryRow) {
  const auto json = to_json(door()).as_object();
  EXPECT_EQ(json.at("initial"), "closed");
  EXPECT_EQ(json.at("transitions").as_array().size(), 8u);
  EXPECT_EQ(boost::json::serialize(json.at("transitions").as_array().back()),
            R"({"from":"broken","event":"recycle","guard":"","to":"[*]","action":"haul away"})");
  EXPECT_EQ(boost::json::serialize(json.at("terminal")), R"(["broken"])");
}

TEST(FsmExport, MarkdownHasTheDiagramAndOneTableLinePerRow) {
  const std::string md = to_markdown(door());
  EXPECT_EQ(md.rfind("## door\n", 0), 0u);
  EXPECT_NE(md.find("```mermaid\nstateDiagram-v2\n"), std::string::npos);
  EXPECT_NE(md.find("| `closed` | `knock` |  | `closed` | nobody answers |\n"), std::string::npos);
  std::size_t rows = 0;
  for (std::size_t pos = md.find("\n| `"); pos != std::string::npos; pos = md.find("\n| `", pos + 1)) ++rows;
  EXPECT_EQ(rows, 8u);
}

TEST(FsmExport, ReferenceCoversTheCatalog) {
  const std::string md = reference_markdown();
  for (const MachineView* m : catalog()) EXPECT_NE(md.find("\n## " + std::string(m->name) + "\n"), std::string::npos);
}

TEST(FsmExport, FormatNames) {
  EXPECT_EQ(parse_export_format("mermaid"), ExportFormat::mermaid);
  EXPECT_EQ(parse_export_format("dot"), ExportFormat::dot);
  EXPECT_EQ(parse_export_format("json"), ExportFormat::json);
  EXPECT_EQ(parse_export_format("markdown"), ExportFormat::markdown);
  EXPECT_EQ(parse_export_format("svg"), std::nullopt);
}

}  // namespace
}  // namespace trellis::fsm
