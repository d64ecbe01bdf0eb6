// Model-based test of the SSE streams, generated from the sse_stream table: each walk follows one
// stream (a POST's, or the standalone GET stream) through rows picked at random among those
// leaving its current state, applies a stimulus for each row to SessionStreams, and checks that
// the stream lands where the row says, that it has a connection exactly in the states that write
// one, and that the runtime never attempted a change the table lacks. Over all walks, every row of
// the table must have been taken.
#include "support/rc_check.hpp"
#include "transport/sse_streams.hpp"

#include "trellis/telemetry/events.hpp"
#include "trellis/telemetry/log.hpp"

#include <rapidcheck.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace trellis::http_detail {
namespace {

using namespace std::chrono_literals;
using machines::sse_stream::Event;
using machines::sse_stream::kMachine;
using State = SessionStreams::State;

// A connection whose flow the walk sets before each write.
class ScriptedSink final : public SseSink {
 public:
  Flow write_frame(std::string frame) override {
    if (frame.starts_with("id: ")) ids.push_back(frame.substr(4, frame.find('\n') - 4));
    return level;
  }
  Flow flow() const override { return level; }
  void replay_frame(std::string) override {}
  void end_stream() override {}
  void abort_stream() override {}

  Flow level = Flow::filling;  // changes nothing unless the walk says so
  std::vector<std::string> ids;
};

struct Walker {
  bool standalone;  // the GET stream, or a POST's stream
  SessionStreams streams{1000, SIZE_MAX, 1000ms};
  std::uint64_t stream = standalone ? SessionStreams::kStandalone : streams.open_stream();
  std::vector<std::shared_ptr<ScriptedSink>> sinks;  // all kept alive: a sink attached is one the streams still know
  std::string issued_id;                             // an event id the stream sent (its first priming event)
  bool finished = false;
  std::chrono::steady_clock::time_point clock = std::chrono::steady_clock::now();

  State state() const { return *streams.state(stream); }
  ScriptedSink& current() { return *sinks.back(); }
  std::shared_ptr<ScriptedSink> new_sink() { return sinks.emplace_back(std::make_shared<ScriptedSink>()); }
  void publish(Flow level) {
    if (!sinks.empty()) current().level = level;
    streams.publish(stream, R"({"jsonrpc":"2.0","method":"notifications/message"})");
  }

  // Applies a stimulus for the row (from --event--> to), `choice` picking among several; false
  // when this kind of stream has none for it.
  bool apply(Event event, State from, unsigned choice) {
    switch (event) {
      case Event::handshake_ok: {
        if (from == State::resuming && !standalone) return false;  // a POST's stream reopens only by resuming
        auto sink = new_sink();
        if (streams.attach(stream, sink) != SessionStreams::Attach::attached) return false;
        if (issued_id.empty()) issued_id = sink->ids.front();
        return true;
      }
      case Event::event: publish(Flow::filling); return true;
      case Event::heartbeat:
        current().level = Flow::filling;
        clock += 1h;
        streams.heartbeat(clock, 1s);
        return true;
      case Event::backpressure: publish(Flow::backed_up); return true;
      case Event::flow_resumed:
        if (choice % 2 == 0) {
          publish(Flow::flowing);
        } else {
          current().level = Flow::flowing;
          streams.heartbeat(clock, 1h);
        }
        return true;
      case Event::connection_lost:
        switch (choice % 3) {
          case 0: streams.detach(stream, &current(), false); return true;
          case 1: streams.cut(stream); return true;
          default: publish(Flow::overrun); return true;
        }
      case Event::close:
        if (standalone) {  // only the session's end closes the GET stream
          if (from != State::active && from != State::paused) return false;
          streams.close_all();
          return true;
        }
        finished = true;
        streams.finish(stream);
        return true;
      case Event::reconnect: return streams.resume(issued_id, new_sink()).has_value();
      case Event::flushed: streams.detach(stream, &current(), true); return true;
      case Event::failed: streams.close_all(); return true;
    }
    return false;
  }

  // Where the row leads; a finished stream that a resume reattaches ends at once (the rows
  // resuming --reconnect--> active, then active --close--> closing).
  State expected(const fsm::MachineView::Row& row) const {
    const auto to = static_cast<State>(row.to);
    if (finished && static_cast<Event>(row.event) == Event::reconnect && to == State::active) return State::closing;
    return to;
  }
};

bool writes_a_connection(State s) { return s == State::active || s == State::paused || s == State::closing; }

TEST(SseStreamModel, RandomWalksTakeEveryRowOfTheTable) {
  const fsm::MachineView& view = fsm::view_of<kMachine>();
  auto& log = telemetry::Logger::global();
  const auto level = log.level();
  log.set_level(telemetry::Level::error);  // refusals are counted below, not printed
  int illegal = 0;
  telemetry::Subscription refusals(telemetry::Dispatcher::global(), "trellis.fsm.illegal_transition",
                                   [&](const telemetry::Event& e) {
                                     if (e.metadata.at("machine") == "sse_stream") ++illegal;
                                   });
  const auto previous_handler = fsm::set_illegal_transition_handler([](const fsm::IllegalTransition&) {});
  std::map<std::size_t, int> rows_taken;
  testing::check_property(1000, [&] {
    Walker w{.standalone = *rc::gen::arbitrary<bool>()};
    if (w.standalone) w.publish(Flow::filling);  // the GET stream exists once the session first uses it
    const auto steps = *rc::gen::resize(rc::kNominalSize, rc::gen::inRange(1, 40));
    for (int step = 0; step < steps; ++step) {
      const State from = w.state();
      std::vector<std::size_t> candidates;
      for (std::size_t r = 0; r < view.rows.size(); ++r)
        if (view.rows[r].from == static_cast<int>(from)) candidates.push_back(r);
      const std::size_t r = candidates[*rc::gen::resize(rc::kNominalSize, rc::gen::inRange<std::size_t>(0, candidates.size()))];
      const auto& row = view.rows[r];
      const auto choice = *rc::gen::resize(rc::kNominalSize, rc::gen::inRange(0u, 6u));
      if (!w.apply(static_cast<Event>(row.event), from, choice)) continue;
      RC_ASSERT(w.state() == w.expected(row));
      RC_ASSERT(w.streams.any_attached() == writes_a_connection(w.state()));
      ++rows_taken[r];
    }
  });
  fsm::set_illegal_transition_handler(previous_handler);
  log.set_level(level);
  EXPECT_EQ(illegal, 0);
  for (std::size_t r = 0; r < view.rows.size(); ++r)
    EXPECT_GT(rows_taken[r], 0) << view.states[view.rows[r].from] << " --" << view.events[view.rows[r].event] << "--> "
                                << view.states[view.rows[r].to];
}

}  // namespace
}  // namespace trellis::http_detail
