// The seven transition tables are well formed and name the states of ARCHITECTURE §5.2.
#include "trellis/fsm_catalog.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <vector>

namespace trellis::fsm {
namespace {

std::vector<std::string_view> states_of(std::string_view name) {
  const MachineView* m = find_machine(name);
  if (!m) return {};
  return m->states;
}

TEST(FsmTables, CatalogHasTheSevenMachines) {
  std::vector<std::string_view> names;
  for (const MachineView* m : catalog()) names.push_back(m->name);
  EXPECT_EQ(names, (std::vector<std::string_view>{"client_connection", "server_session", "session_lifetime", "task",
                                                  "sse_stream", "trust_connection", "circuit_breaker"}));
  EXPECT_EQ(find_machine("nope"), nullptr);
}

TEST(FsmTables, StatesAreTheCanonicalOnes) {
  using V = std::vector<std::string_view>;
  EXPECT_EQ(states_of("client_connection"), (V{"disconnected", "connecting", "authenticating", "negotiating", "ready",
                                               "suspended", "draining", "reconnecting", "closed"}));
  EXPECT_EQ(states_of("server_session"),
            (V{"uninitialized", "initializing", "ready", "suspended", "draining", "upgrading", "closed"}));
  EXPECT_EQ(states_of("session_lifetime"), (V{"negotiating", "active", "suspended", "resuming", "expiring", "closed"}));
  EXPECT_EQ(states_of("task"),
            (V{"submitted", "running", "cancelling", "result_ready", "cancelled", "failed", "timed_out"}));
  EXPECT_EQ(states_of("sse_stream"), (V{"opening", "active", "paused", "resuming", "closing", "closed"}));
  EXPECT_EQ(states_of("trust_connection"), (V{"handshake", "active", "draining", "closing"}));
  EXPECT_EQ(states_of("circuit_breaker"), (V{"closed", "open", "half_open"}));
}

class EveryMachine : public ::testing::TestWithParam<const MachineView*> {};

TEST_P(EveryMachine, NamesAreUniqueAndNonEmpty) {
  const MachineView& m = *GetParam();
  for (const auto* names : {&m.states, &m.events}) {
    const std::set<std::string_view> unique(names->begin(), names->end());
    EXPECT_EQ(unique.size(), names->size());
    EXPECT_EQ(unique.count(""), 0u);
  }
}

TEST_P(EveryMachine, EveryStateIsReachableFromTheInitialState) {
  const MachineView& m = *GetParam();
  std::set<int> reached{m.initial};
  std::vector<int> frontier{m.initial};
  while (!frontier.empty()) {
    const int s = frontier.back();
    frontier.pop_back();
    for (const auto& row : m.rows)
      if (row.from == s && row.to != MachineView::kExitState && reached.insert(row.to).second) frontier.push_back(row.to);
  }
  for (int s = 0; s < static_cast<int>(m.states.size()); ++s)
    EXPECT_TRUE(reached.count(s)) << m.name << ": state " << m.states[s] << " is unreachable";
}

TEST_P(EveryMachine, EveryEventAppearsInSomeRow) {
  const MachineView& m = *GetParam();
  std::set<int> used;
  for (const auto& row : m.rows) used.insert(row.event);
  for (int e = 0; e < static_cast<int>(m.events.size()); ++e)
    EXPECT_TRUE(used.count(e)) << m.name << ": event " << m.events[e] << " has no row";
}

TEST_P(EveryMachine, AlternativeRowsAreTellApartByDistinctGuards) {
  const MachineView& m = *GetParam();
  std::map<std::pair<int, int>, std::vector<std::string_view>> guards;
  for (const auto& row : m.rows) guards[{row.from, row.event}].push_back(row.guard);
  for (const auto& [key, list] : guards) {
    if (list.size() < 2) continue;
    const std::set<std::string_view> unique(list.begin(), list.end());
    EXPECT_EQ(unique.size(), list.size()) << m.name << ": duplicate guard for " << m.states[key.first] << " / "
                                          << m.events[key.second];
    EXPECT_EQ(unique.count(""), 0u) << m.name << ": unguarded alternative for " << m.states[key.first] << " / "
                                    << m.events[key.second];
  }
}

TEST_P(EveryMachine, EveryRowSaysWhatTheOwnerDoes) {
  for (const auto& row : GetParam()->rows) EXPECT_FALSE(row.action.empty());
}

TEST_P(EveryMachine, HasATerminalStateOrExit) {
  const MachineView& m = *GetParam();
  bool any = false;
  for (int s = 0; s < static_cast<int>(m.states.size()); ++s) any |= m.is_terminal(s);
  for (const auto& row : m.rows) any |= row.to == MachineView::kExitState;
  // The circuit breaker cycles forever by design; every lifecycle machine must be able to end.
  EXPECT_EQ(any, m.name != "circuit_breaker") << m.name;
}

INSTANTIATE_TEST_SUITE_P(Catalog, EveryMachine, ::testing::ValuesIn(catalog().begin(), catalog().end()),
                         [](const auto& test_param) { return std::string(test_param.param->name); });

}  // namespace
}  // namespace trellis::fsm
