// Model-based test of the client connection, generated from the client_connection table: a
// random walk picks, at each step, a row leaving the current state and applies the scripted
// network's stimulus for its event. Checked: the implementation never attempts a state change
// the table lacks (no illegal-transition event), the walks reach the core rows of the table, and
// the model invariant holds: every call ends with exactly one outcome once the client stopped.
#include "support/client_harness.hpp"
#include "support/rc_check.hpp"

#include "trellis/fsm_catalog.hpp"
#include "trellis/telemetry/events.hpp"
#include "trellis/telemetry/log.hpp"

#include <rapidcheck.h>

namespace trellis {
namespace {

using namespace std::chrono_literals;
using machines::client_connection::Event;
using machines::client_connection::kMachine;
using machines::client_connection::State;

struct Walker {
  testing::ClientHarness h;
  std::vector<std::shared_ptr<testing::Outcomes>> calls;
  std::vector<std::int64_t> pending_ids;  // ids sent on the current link and not yet answered by us
  std::stop_source stop_source;
  std::size_t links_seen = 0;

  std::string_view state() { return h.connection->state(); }
  void call(CallOptions options = {}) {
    const std::size_t links = h.network.links.size();
    const std::size_t sent_before = links == 0 ? 0 : h.network.current().count("ping");
    calls.push_back(h.call("ping", {}, std::move(options)));
    if (links != 0 && h.network.links.size() == links && h.network.current().count("ping") > sent_before)
      pending_ids.push_back(h.network.current().last("ping")->at("id").as_int64());
  }
  // Applies a stimulus for (event → to); returns false when this walker has none.
  bool apply(Event event, State to) {
    auto& net = h.network;
    if (net.links.size() != links_seen) {  // ids sent on an older link cannot be answered on this one
      links_seen = net.links.size();
      pending_ids.clear();
    }
    const bool link_needed = event != Event::connect && event != Event::user_call && event != Event::stop &&
                             event != Event::cancel && event != Event::request_timeout && event != Event::backoff_elapsed &&
                             event != Event::drain_timeout && event != Event::init_timeout;
    if (link_needed && net.links.empty()) return false;
    switch (event) {
      case Event::connect: h.connection->start([](Result<void>) {}); h.pump(); return true;
      case Event::user_call: call(); return true;
      case Event::stop: h.connection->stop([] {}); h.pump(); return true;
      case Event::initialize_response: net.current().accept_initialize(); h.pump(); return true;
      case Event::init_failed:
        if (to != State::closed) return false;
        net.current().deliver(R"({"jsonrpc":"2.0","id":)" + boost::json::serialize(net.current().last("initialize")->at("id")) +
                              R"(,"error":{"code":-32602,"message":"no"}})");
        h.pump();
        return true;
      case Event::init_timeout: h.advance(10s); return true;
      case Event::transport_failed: net.current().fail(); h.pump(); return true;
      case Event::frame_too_large: net.current().fail(ErrorKind::protocol, "frame too large"); h.pump(); return true;
      case Event::session_lost: net.current().events.session_lost(); h.pump(); return true;
      case Event::frame: net.current().respond(999'999'999); h.pump(); return true;
      case Event::notification:
        net.current().deliver(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})");
        h.pump();
        return true;
      case Event::response: {
        if (pending_ids.empty()) return false;
        const auto id = pending_ids.back();
        pending_ids.pop_back();
        net.current().respond(id);
        h.pump();
        return true;
      }
      case Event::pending_empty:  // the server answers everything still pending
        if (pending_ids.empty()) return false;
        for (auto id : pending_ids) net.current().respond(id);
        pending_ids.clear();
        h.pump();
        return true;
      case Event::request_timeout: h.advance(31s); pending_ids.clear(); return true;
      case Event::cancel:
        stop_source.request_stop();
        stop_source = std::stop_source();
        h.pump();
        return true;
      case Event::backoff_elapsed: h.advance(40s); return true;
      case Event::drain_timeout: h.advance(6s); return true;
      default: return false;  // auth, suspend/resume, server_cancelled_all, max_retries: no stimulus here
    }
  }
};

TEST(ClientConnectionModel, RandomWalksTakeTableRowsAndEndEveryCallOnce) {
  auto& log = telemetry::Logger::global();
  const auto level = log.level();
  log.set_level(telemetry::Level::error);
  const fsm::MachineView& view = fsm::view_of<kMachine>();
  // Every row the implementation takes is recorded from the runtime's transition events (the
  // runtime itself refuses any change that has no row).
  std::map<std::pair<std::string, std::string>, int> rows_seen;
  telemetry::Subscription recorder(telemetry::Dispatcher::global(), "trellis.fsm.transition", [&](const telemetry::Event& e) {
    if (e.metadata.at("machine") != "client_connection") return;
    rows_seen[{std::string(e.metadata.at("from").as_string()), std::string(e.metadata.at("event").as_string())}]++;
  });
  int illegal = 0;
  telemetry::Subscription refusals(telemetry::Dispatcher::global(), "trellis.fsm.illegal_transition",
                                   [&](const telemetry::Event& e) {
                                     if (e.metadata.at("machine") == "client_connection") ++illegal;
                                   });
  const auto previous_handler = fsm::set_illegal_transition_handler([](const fsm::IllegalTransition&) {});
  testing::check_property(1000, [&] {
    Walker w;
    const auto steps = *rc::gen::resize(rc::kNominalSize, rc::gen::inRange(1, 60));
    for (int step = 0; step < steps; ++step) {
      const int from = static_cast<int>(std::find(view.states.begin(), view.states.end(), w.state()) - view.states.begin());
      std::vector<const fsm::MachineView::Row*> candidates;
      for (const auto& row : view.rows)
        if (row.from == from && row.to != fsm::MachineView::kExitState) candidates.push_back(&row);
      if (candidates.empty()) break;
      // Uniform over the rows (inRange alone favours small values while RapidCheck's size is small).
      const auto* row = candidates[*rc::gen::resize(rc::kNominalSize, rc::gen::inRange<std::size_t>(0, candidates.size()))];
      // A cancel needs a call that can be cancelled.
      if (static_cast<Event>(row->event) == Event::cancel) w.call({.stop = w.stop_source.get_token()});
      if (!w.apply(static_cast<Event>(row->event), static_cast<State>(row->to))) continue;
    }
    // Model: every call ends exactly once, whatever happened.
    w.h.connection->stop([] {});
    w.h.pump();
    w.h.advance(60s);
    for (const auto& c : w.calls) RC_ASSERT(c->count() == 1u);
    RC_ASSERT(w.state() == "closed");
  });
  log.set_level(level);
  fsm::set_illegal_transition_handler(previous_handler);
  EXPECT_EQ(illegal, 0);
  // The walks reached the core of the table (state changes; self-transitions emit no event). The
  // rarer draining exits are covered deterministically in client_connection_test.cpp.
  for (auto [state, event] : {std::pair{State::disconnected, Event::connect}, {State::negotiating, Event::initialize_response},
                              {State::ready, Event::transport_failed}, {State::ready, Event::session_lost},
                              {State::ready, Event::frame_too_large}, {State::reconnecting, Event::backoff_elapsed},
                              {State::ready, Event::stop}})
    EXPECT_GT((rows_seen[{std::string(view.states[static_cast<int>(state)]), std::string(view.events[static_cast<int>(event)])}]), 0)
        << view.states[static_cast<int>(state)] << " + " << view.events[static_cast<int>(event)];
  for (const auto& [row, n] : rows_seen) RecordProperty(row.first + "+" + row.second, n);
}

}  // namespace
}  // namespace trellis
