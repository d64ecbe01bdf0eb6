// Design 001 §10 properties of the client connection, on a scripted network and a fake clock:
//  1. 1:1 correlation: responses in any order, mixed with unknown ids, each reach their own call once;
//  2. timeouts leak nothing: calls map empty, tombstones gone after their TTL;
//  3. N cancels of a call give exactly one outcome and one notifications/cancelled.
#include "support/client_harness.hpp"
#include "support/rc_check.hpp"

#include "trellis/telemetry/log.hpp"

#include <rapidcheck.h>

namespace trellis {
namespace {

using testing::ClientHarness;
using namespace std::chrono_literals;

// A random permutation of `items` (RapidCheck shrinks the keys, so failures shrink too).
template <class T>
std::vector<T> shuffled(std::vector<T> items) {
  const auto keys = *rc::gen::container<std::vector<int>>(items.size(), rc::gen::arbitrary<int>());
  std::vector<std::size_t> order(items.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return keys[a] < keys[b]; });
  std::vector<T> out;
  out.reserve(items.size());
  for (auto i : order) out.push_back(std::move(items[i]));
  return out;
}

TEST(ClientProperties, ResponsesCorrelateOneToOneUnderReorderingAndUnknownIds) {
  // Unknown responses are logged as warnings; thousands of them would only be noise here.
  auto& log = telemetry::Logger::global();
  const auto level = log.level();
  log.set_level(telemetry::Level::error);
  testing::check_property(300, [] {
    ClientHarness h;
    h.connect();
    const auto calls = *rc::gen::inRange<std::size_t>(1, 40);
    std::vector<std::shared_ptr<testing::Outcomes>> outcomes;
    std::vector<std::int64_t> ids;
    for (std::size_t i = 0; i < calls; ++i) {
      outcomes.push_back(h.call("ping"));
      ids.push_back(h.last_id("ping"));
    }
    // Each response echoes its own id in the result; unknown ids are sprinkled in.
    std::vector<std::int64_t> order = shuffled(ids);
    const auto unknown = *rc::gen::container<std::vector<std::int64_t>>(rc::gen::inRange<std::int64_t>(100000, 200000));
    order.insert(order.end(), unknown.begin(), unknown.end());
    order = shuffled(order);
    for (auto id : order) h.network.current().respond(id, R"({"echo":)" + std::to_string(id) + "}");
    h.pump();
    for (std::size_t i = 0; i < calls; ++i) {
      RC_ASSERT(outcomes[i]->count() == 1u);
      RC_ASSERT(outcomes[i]->results.front().has_value());
      RC_ASSERT(outcomes[i]->results.front()->at("echo").as_int64() == ids[i]);
    }
    RC_ASSERT(h.connection->stats().unknown_responses == unknown.size());
    RC_ASSERT(h.connection->stats().in_flight == 0u);
  });
  log.set_level(level);
}

TEST(ClientProperties, TimeoutsLeakNothing) {
  testing::check_property(200, [] {
    ClientHarness h;
    h.connect();
    const auto calls = *rc::gen::inRange<std::size_t>(1, 30);
    std::vector<std::shared_ptr<testing::Outcomes>> outcomes;
    std::vector<std::int64_t> ids;
    for (std::size_t i = 0; i < calls; ++i) {
      const auto timeout = std::chrono::milliseconds(*rc::gen::inRange(1, 500));
      outcomes.push_back(h.call("ping", {}, {.timeout = timeout}));
      ids.push_back(h.last_id("ping"));
    }
    const auto answered = *rc::gen::container<std::vector<bool>>(calls, rc::gen::arbitrary<bool>());
    const auto answer_at = std::chrono::milliseconds(*rc::gen::inRange(0, 600));
    h.advance(answer_at);
    for (std::size_t i = 0; i < calls; ++i)
      if (answered[i]) h.network.current().respond(ids[i]);
    h.pump();
    h.advance(600ms);
    std::size_t timed_out = 0;
    for (const auto& o : outcomes) {
      RC_ASSERT(o->count() == 1u);
      if (!o->results.front()) {
        RC_ASSERT(o->results.front().error().kind == ErrorKind::timeout);
        ++timed_out;
      }
    }
    RC_ASSERT(h.connection->stats().in_flight == 0u);
    RC_ASSERT(h.tombstones() == timed_out);
    h.advance(76s);  // past the tombstone TTL (75 s)
    RC_ASSERT(h.tombstones() == 0u);
  });
}

TEST(ClientProperties, RepeatedCancelsGiveExactlyOneOutcome) {
  testing::check_property(200, [] {
    ClientHarness h;
    h.connect();
    std::stop_source stop;
    auto outcome = h.call("tools/call", {{"name", "x"}}, {.timeout = 1s, .stop = stop.get_token()});
    const auto id = h.last_id("tools/call");
    const auto cancels = *rc::gen::inRange(1, 10);
    const bool respond_first = *rc::gen::arbitrary<bool>();
    if (respond_first) h.network.current().respond(id);
    for (int i = 0; i < cancels; ++i) {
      stop.request_stop();
      h.pump();
    }
    if (!respond_first) h.network.current().respond(id);
    h.advance(2s);
    RC_ASSERT(outcome->count() == 1u);
    RC_ASSERT(h.network.current().count("notifications/cancelled") == (respond_first ? 0u : 1u));
    if (!respond_first) RC_ASSERT(outcome->results.front().error().kind == ErrorKind::cancelled);
  });
}

}  // namespace
}  // namespace trellis
