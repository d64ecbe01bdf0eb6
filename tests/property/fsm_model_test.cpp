// Model-based tests of the runtime, generated from every table in the catalog: random walks along
// the table must be accepted exactly, and arbitrary events must be accepted iff the table allows.
#include "support/rc_check.hpp"

#include "trellis/fsm_catalog.hpp"
#include "trellis/testing/fsm_rapidcheck.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace trellis::fsm {
namespace {

class SilenceIllegal {
 public:
  SilenceIllegal() : previous_(set_illegal_transition_handler([](const IllegalTransition&) {})) {}
  ~SilenceIllegal() { set_illegal_transition_handler(previous_); }

 private:
  IllegalTransitionHandler previous_;
};

class ModelFromTable : public ::testing::TestWithParam<const MachineView*> {};

TEST_P(ModelFromTable, RandomWalksAlongTheTableAreFollowedExactly) {
  const MachineView& m = *GetParam();
  testing::check_property(1000, [&m] {
    const auto walk = *testing::gen_walk(m, 80);
    InstanceCore core(m, {.history_capacity = 16});
    std::vector<InstanceCore::HistoryEntry> expected_trail;
    for (const auto& step : walk) {
      RC_ASSERT(core.state() == step.from);
      if (step.to == MachineView::kExitState) {
        RC_ASSERT(static_cast<bool>(core.finish(step.event)));
        RC_ASSERT(core.finished());
        expected_trail.push_back({step.from, step.event, step.to, {}});
        break;
      }
      const auto r = core.fire(step.event, step.to);
      RC_ASSERT(static_cast<bool>(r));
      RC_ASSERT(core.state() == step.to);
      if (step.to != step.from) expected_trail.push_back({step.from, step.event, step.to, {}});
    }
    const auto trail = core.history();
    const std::size_t keep = std::min<std::size_t>(expected_trail.size(), 16);
    RC_ASSERT(trail.size() == keep);
    for (std::size_t i = 0; i < keep; ++i) {
      const auto& want = expected_trail[expected_trail.size() - keep + i];
      RC_ASSERT(trail[i].from == want.from && trail[i].event == want.event && trail[i].to == want.to);
    }
  });
}

TEST_P(ModelFromTable, ArbitraryEventsAreAcceptedExactlyWhenTheTableAllows) {
  const MachineView& m = *GetParam();
  SilenceIllegal silence;
  testing::check_property(1000, [&m] {
    const auto events = *testing::gen_events(m, 60);
    InstanceCore core(m, {});
    int model = m.initial;
    for (int event : events) {
      // The model: the targets the table offers for (state, event); unique target => accepted.
      std::vector<int> targets;
      for (const auto& row : m.rows)
        if (row.from == model && row.event == event && row.to != MachineView::kExitState &&
            std::find(targets.begin(), targets.end(), row.to) == targets.end())
          targets.push_back(row.to);
      const auto r = core.fire(event, std::nullopt);
      if (targets.size() == 1) {
        RC_ASSERT(static_cast<bool>(r));
        model = targets.front();
      } else {
        RC_ASSERT(!r);
        RC_ASSERT(r.error().kind == ErrorKind::state);
      }
      RC_ASSERT(core.state() == model);
    }
  });
}

INSTANTIATE_TEST_SUITE_P(Catalog, ModelFromTable, ::testing::ValuesIn(catalog().begin(), catalog().end()),
                         [](const auto& test_param) { return std::string(test_param.param->name); });

}  // namespace
}  // namespace trellis::fsm
