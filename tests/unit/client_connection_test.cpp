// The client connection on a scripted network: exactly one outcome per call, tombstones and
// generation gating, reconnection, session loss, busy retries, draining and server requests.
#include "support/client_harness.hpp"

#include <algorithm>
#include <functional>

namespace trellis {
namespace {

using testing::ClientHarness;
using namespace std::chrono_literals;

ErrorKind kind_of(const Result<boost::json::value>& r) { return r ? ErrorKind::internal : r.error().kind; }

TEST(ClientConnection, InitializeAnnouncesCapabilitiesAndEntersReady) {
  ClientOptions options;
  options.handlers.sampling = [](const boost::json::object&) -> Result<boost::json::object> { return boost::json::object{}; };
  ClientHarness h(options);
  h.connect();
  auto& link = h.network.current();
  const auto& init = *link.last("initialize");
  EXPECT_EQ(init.at("params").at("protocolVersion"), "2025-11-25");
  EXPECT_TRUE(init.at("params").at("capabilities").as_object().contains("sampling"));
  EXPECT_EQ(link.count("notifications/initialized"), 1u);
  EXPECT_EQ(link.initialized_version, "2025-11-25");
  EXPECT_EQ(h.connection->server_info().at("name"), "fake");
}

TEST(ClientConnection, CallsOutsideReadyFailAtOnceWithTheState) {
  ClientHarness h;
  auto outcome = h.call("tools/list");
  ASSERT_EQ(outcome->count(), 1u);
  EXPECT_EQ(outcome->only().error().kind, ErrorKind::state);
  EXPECT_EQ(outcome->only().error().data.at("state"), "disconnected");
}

TEST(ClientConnection, UnsupportedServerVersionClosesWithProtocolError) {
  ClientHarness h;
  h.connection->start([&](Result<void> r) { h.connected = r; });
  h.pump();
  h.network.current().accept_initialize("1999-01-01");
  h.pump();
  ASSERT_TRUE(h.connected);
  EXPECT_EQ(h.connected->error().kind, ErrorKind::protocol);
  EXPECT_EQ(h.connection->state(), "closed");
}

TEST(ClientConnection, ResponseIsDeliveredOnceAndADuplicateIsDropped) {
  ClientHarness h;
  h.connect();
  auto outcome = h.call("ping");
  const auto id = h.last_id("ping");
  h.network.current().respond(id, R"({"ok":1})");
  h.network.current().respond(id, R"({"ok":2})");
  h.pump();
  ASSERT_EQ(outcome->count(), 1u);
  EXPECT_EQ(outcome->only()->at("ok"), 1);
  EXPECT_EQ(h.connection->stats().unknown_responses, 1u);
}

TEST(ClientConnection, TimeoutFailsOnceTellsTheServerAndDropsTheLateResponse) {
  ClientHarness h;
  h.connect();
  auto outcome = h.call("tools/call", {{"name", "slow"}}, {.timeout = 100ms});
  const auto id = h.last_id("tools/call");
  h.advance(99ms);
  EXPECT_EQ(outcome->count(), 0u);
  h.advance(1ms);
  ASSERT_EQ(outcome->count(), 1u);
  EXPECT_EQ(kind_of(outcome->only()), ErrorKind::timeout);
  const auto* cancelled = h.network.current().last("notifications/cancelled");
  ASSERT_NE(cancelled, nullptr);
  EXPECT_EQ(cancelled->at("params").at("requestId"), id);
  h.network.current().respond(id);
  h.pump();
  EXPECT_EQ(outcome->count(), 1u) << "the late response reached the caller";
  EXPECT_EQ(h.connection->stats().late_responses, 1u);
  EXPECT_EQ(h.connection->stats().in_flight, 0u);
  EXPECT_EQ(h.tombstones(), 1u);
  // TTL = request_timeout + init_timeout + backoff_max + 5 s = 75 s by default.
  h.advance(75s);
  EXPECT_EQ(h.tombstones(), 0u);
}

TEST(ClientConnection, ManyCancelsGiveExactlyOneOutcome) {
  ClientHarness h;
  h.connect();
  std::stop_source stop;
  auto outcome = h.call("tools/call", {{"name", "slow"}}, {.stop = stop.get_token()});
  for (int i = 0; i < 5; ++i) stop.request_stop();
  h.pump();
  const auto id = h.last_id("tools/call");
  h.network.current().respond(id);
  h.advance(40s);
  ASSERT_EQ(outcome->count(), 1u);
  EXPECT_EQ(kind_of(outcome->only()), ErrorKind::cancelled);
  EXPECT_EQ(h.network.current().count("notifications/cancelled"), 1u);
}

TEST(ClientConnection, TransportLossFailsCallsOnceAndReconnectsWithANewGeneration) {
  ClientHarness h;
  h.connect();
  auto outcome = h.call("tools/call", {{"name", "slow"}});
  const auto old_id = h.last_id("tools/call");
  auto old_link = h.network.links.back();
  old_link->fail();
  h.pump();
  ASSERT_EQ(outcome->count(), 1u);
  EXPECT_EQ(kind_of(outcome->only()), ErrorKind::transport);
  EXPECT_EQ(h.connection->state(), "reconnecting");
  EXPECT_TRUE(old_link->closed);
  // No buffering while reconnecting.
  auto rejected = h.call("ping");
  EXPECT_EQ(kind_of(rejected->only()), ErrorKind::state);
  h.advance(1300ms);  // backoff 1 s ±20 %
  ASSERT_EQ(h.network.links.size(), 2u);
  h.network.current().accept_initialize();
  h.pump();
  EXPECT_EQ(h.connection->state(), "ready");
  // The old transport still talks: ignored. After the tombstone expired, the same id arriving
  // on the new transport is still recognised as an earlier generation's.
  old_link->respond(old_id);
  h.advance(80s);
  h.network.current().respond(old_id);
  h.pump();
  EXPECT_EQ(outcome->count(), 1u);
  EXPECT_EQ(h.connection->stats().stale_generation, 2u);
  auto next = h.call("ping");
  h.network.current().respond(h.last_id("ping"));
  h.pump();
  EXPECT_TRUE(next->only());
}

// The transport reports answers and then its failure before the connection's thread gets to
// them: the answers still count (they arrived first), and only the call left open fails.
TEST(ClientConnection, AnswersReportedBeforeATransportFailureAreDeliveredFirst) {
  ClientHarness h;
  h.connect();
  auto first = h.call("tools/call", {{"name", "a"}});
  const auto first_id = h.last_id("tools/call");
  auto second = h.call("ping");
  const auto second_id = h.last_id("ping");
  auto open = h.call("tools/call", {{"name", "b"}});
  auto& link = h.network.current();
  link.respond(first_id, R"({"n":1})");
  link.respond(second_id);
  link.fail();
  h.pump();
  ASSERT_EQ(first->count(), 1u);
  ASSERT_TRUE(first->only());
  EXPECT_EQ(first->only()->at("n"), 1);
  ASSERT_EQ(second->count(), 1u);
  EXPECT_TRUE(second->only());
  ASSERT_EQ(open->count(), 1u);
  EXPECT_EQ(kind_of(open->only()), ErrorKind::transport);
}

TEST(ClientConnection, CallsRequestedTogetherAreSentInOrderAfterOneHandOff) {
  ClientHarness h;
  h.connect();
  constexpr int kCalls = 50;
  auto outcomes = std::make_shared<testing::Outcomes>();
  for (int i = 0; i < kCalls; ++i)
    h.connection->request("tools/call", {{"name", "echo"}, {"arguments", {{"n", i}}}}, {},
                          [outcomes](Result<boost::json::value> r) { outcomes->results.push_back(std::move(r)); });
  h.io.restart();
  EXPECT_EQ(h.io.poll(), 1u) << "one drain for the whole batch, not one handler per call";
  const auto& sent = h.network.current().sent;
  std::vector<std::int64_t> ns, ids;
  for (const auto& frame : sent)
    if (frame.contains("method") && frame.at("method") == "tools/call") {
      ns.push_back(frame.at("params").at("arguments").at("n").as_int64());
      ids.push_back(frame.at("id").as_int64());
    }
  ASSERT_EQ(ns.size(), static_cast<std::size_t>(kCalls));
  for (int i = 0; i < kCalls; ++i) EXPECT_EQ(ns[i], i) << "sent out of order";
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  for (auto id : ids) h.network.current().respond(id);
  h.pump();
  EXPECT_EQ(outcomes->count(), static_cast<std::size_t>(kCalls));
}

TEST(ClientConnection, ACallMadeInAHandlerCompletesAfterItNeverInsideIt) {
  // Not ready: every call fails at once. A handler that calls again must not be re-entered by
  // that call's failure, or a chain of calls would grow the stack without bound.
  ClientHarness h;
  constexpr int kChain = 100000;
  int depth = 0, deepest = 0, completed = 0;
  std::function<void()> call_again = [&] {
    h.connection->request("ping", {}, {}, [&](Result<boost::json::value> r) {
      deepest = std::max(deepest, ++depth);
      EXPECT_FALSE(r);
      if (++completed < kChain) call_again();
      --depth;
    });
  };
  call_again();
  h.pump();
  EXPECT_EQ(completed, kChain);
  EXPECT_EQ(deepest, 1);
}

TEST(ClientConnection, ResumableTransportKeepsCallsAcrossAReconnect) {
  ClientHarness h;
  h.network.configure = [](testing::FakeLink& l) { l.resumable = true; };
  h.connect();
  auto outcome = h.call("tools/call", {{"name", "slow"}});
  const auto id = h.last_id("tools/call");
  h.network.current().fail();
  h.pump();
  EXPECT_EQ(outcome->count(), 0u);
  h.advance(1300ms);
  h.network.current().accept_initialize();
  h.pump();
  h.network.current().respond(id, R"({"resumed":true})");
  h.pump();
  ASSERT_EQ(outcome->count(), 1u);
  EXPECT_EQ(outcome->only()->at("resumed"), true);
}

TEST(ClientConnection, SessionLostFailsCallsWithSessionAndInitializesAgain) {
  ClientHarness h;
  h.connect();
  auto outcome = h.call("ping");
  h.network.current().events.session_lost();
  h.pump();
  EXPECT_EQ(kind_of(outcome->only()), ErrorKind::session);
  ASSERT_EQ(h.network.links.size(), 2u);
  EXPECT_EQ(h.connection->state(), "negotiating");
  h.network.current().accept_initialize();
  h.pump();
  EXPECT_EQ(h.connection->state(), "ready");
}

TEST(ClientConnection, OversizedFrameIsAProtocolErrorThatReconnects) {
  ClientHarness h;
  h.connect();
  h.network.current().fail(ErrorKind::protocol, "frame of 20000000 bytes exceeds 16777216");
  h.pump();
  EXPECT_EQ(h.connection->state(), "reconnecting");
  const auto history = h.connection->debug_state().at("history").as_array();
  EXPECT_EQ(history.back().at("event"), "frame_too_large");
}

TEST(ClientConnection, BusyTransportIsRetriedThreeTimesThenBackpressure) {
  ClientHarness h;
  h.connect();
  h.network.current().busy_sends = 2;
  auto ok = h.call("ping");
  h.advance(20ms);
  h.advance(20ms);
  ASSERT_NE(h.network.current().last("ping"), nullptr) << "third attempt sent";
  h.network.current().respond(h.last_id("ping"));
  h.pump();
  EXPECT_TRUE(ok->only());
  h.network.current().busy_sends = 3;
  auto busy = h.call("ping");
  h.advance(20ms);
  h.advance(20ms);
  ASSERT_EQ(busy->count(), 1u);
  EXPECT_EQ(kind_of(busy->only()), ErrorKind::backpressure);
}

// A call that ends while its request waits to be retried is not sent afterwards: the server would
// run a request whose answer nobody waits for. Nor is it cancelled: the server never saw it.
TEST(ClientConnection, ACallThatEndsWhileWaitingToRetryIsNotSent) {
  ClientHarness h;
  h.connect();
  h.network.current().busy_sends = 1;
  auto outcome = h.call("ping", {}, {.timeout = 2ms});  // the retry waits 5 to 15 ms
  h.advance(2ms);
  ASSERT_EQ(outcome->count(), 1u);
  EXPECT_EQ(kind_of(outcome->only()), ErrorKind::timeout);
  h.advance(20ms);
  EXPECT_EQ(h.network.current().count("ping"), 0u);
  EXPECT_EQ(h.network.current().count("notifications/cancelled"), 0u) << "nothing to cancel: it was never sent";
}

TEST(ClientConnection, ProgressReachesTheCallAndCanResetItsTimeout) {
  ClientHarness h;
  h.connect();
  std::vector<double> progress;
  auto outcome = h.call("tools/call", {{"name", "slow"}},
                        {.timeout = 100ms,
                         .on_progress = [&](double p, std::optional<double>, std::string_view) { progress.push_back(p); },
                         .reset_timeout_on_progress = true,
                         .max_total_timeout = 250ms});
  const auto& sent = *h.network.current().last("tools/call");
  const auto token = sent.at("params").at("_meta").at("progressToken");
  for (int i = 1; i <= 3; ++i) {
    h.advance(80ms);
    h.network.current().deliver(R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":)" +
                                boost::json::serialize(token) + R"(,"progress":)" + std::to_string(i) + "}}");
    h.pump();
  }
  EXPECT_EQ(progress, (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(outcome->count(), 0u) << "progress kept the call alive past its 100 ms timeout";
  h.advance(20ms);  // 260 ms in total: the maximum total timeout ends it
  ASSERT_EQ(outcome->count(), 1u);
  EXPECT_EQ(kind_of(outcome->only()), ErrorKind::timeout);
}

TEST(ClientConnection, StopDrainsCallsInFlight) {
  ClientHarness h;
  h.connect();
  auto outcome = h.call("ping");
  bool stopped = false;
  h.connection->stop([&] { stopped = true; });
  h.pump();
  EXPECT_EQ(h.connection->state(), "draining");
  EXPECT_EQ(kind_of(h.call("ping")->only()), ErrorKind::state);
  h.network.current().respond(h.last_id("ping"));
  h.pump();
  EXPECT_TRUE(outcome->only());
  EXPECT_TRUE(stopped);
  EXPECT_EQ(h.connection->state(), "closed");
}

TEST(ClientConnection, DrainTimeoutCancelsWhatIsLeft) {
  ClientHarness h;
  h.connect();
  auto outcome = h.call("tools/call", {{"name", "hang"}}, {.timeout = 60s});
  h.connection->stop([] {});
  h.pump();
  EXPECT_EQ(h.connection->state(), "draining");
  h.advance(5s);  // drain_timeout
  EXPECT_EQ(h.connection->state(), "closed");
  EXPECT_EQ(kind_of(outcome->only()), ErrorKind::cancelled);
  EXPECT_EQ(h.connection->debug_state().at("history").as_array().back().at("event"), "drain_timeout");
}

TEST(ClientConnection, ServerRequestsAreAnswered) {
  ClientOptions options;
  options.handlers.elicitation = [](const boost::json::object&) -> Result<boost::json::object> {
    return boost::json::object{{"action", "accept"}, {"content", {{"name", "Ada"}}}};
  };
  ClientHarness h(options);
  h.connect();
  auto& link = h.network.current();
  link.deliver(R"({"jsonrpc":"2.0","id":"s1","method":"ping"})");
  link.deliver(R"({"jsonrpc":"2.0","id":"s2","method":"sampling/createMessage","params":{}})");
  link.deliver(R"({"jsonrpc":"2.0","id":"s3","method":"elicitation/create","params":{"message":"who?","requestedSchema":)"
               R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","default":36}}}}})");
  for (int i = 0; i < 200 && link.sent.size() < 5; ++i) {
    h.pump();
    std::this_thread::sleep_for(1ms);  // the elicitation handler runs on the client's handler thread
  }
  auto answer = [&](std::string_view id) -> boost::json::object {
    for (const auto& s : link.sent)
      if (s.contains("id") && s.at("id") == boost::json::value(id) && !s.contains("method")) return s;
    return {};
  };
  EXPECT_TRUE(answer("s1").contains("result"));
  EXPECT_EQ(answer("s2").at("error").at("code"), jsonrpc_code::method_not_found);
  EXPECT_EQ(boost::json::serialize(answer("s3").at("result").at("content")), R"({"name":"Ada","age":36})");
}

// A handler for the server's requests that throws gets that request an error answer, whatever it
// throws (one that was not a std::exception used to end the process from the handler thread).
TEST(ClientConnection, ServerRequestsWhoseHandlerThrowsAreAnsweredWithAnError) {
  ClientOptions options;
  options.handlers.sampling = [](const boost::json::object&) -> Result<boost::json::object> { throw std::runtime_error("no model"); };
  options.handlers.elicitation = [](const boost::json::object&) -> Result<boost::json::object> { throw 42; };
  ClientHarness h(options);
  h.connect();
  auto& link = h.network.current();
  link.deliver(R"({"jsonrpc":"2.0","id":"s1","method":"sampling/createMessage","params":{}})");
  link.deliver(R"({"jsonrpc":"2.0","id":"s2","method":"elicitation/create","params":{"message":"who?","requestedSchema":{"type":"object"}}})");
  auto answer = [&](std::string_view id) -> boost::json::object {
    for (const auto& s : link.sent)
      if (s.contains("id") && s.at("id") == boost::json::value(id) && !s.contains("method")) return s;
    return {};
  };
  for (int i = 0; i < 2000 && (answer("s1").empty() || answer("s2").empty()); ++i) {
    h.pump();
    std::this_thread::sleep_for(1ms);  // the handlers run on the client's handler thread
  }
  ASSERT_TRUE(answer("s1").contains("error"));
  EXPECT_EQ(answer("s1").at("error").at("code"), jsonrpc_code::internal_error);
  EXPECT_EQ(answer("s1").at("error").at("message"), "no model");
  ASSERT_TRUE(answer("s2").contains("error"));
  EXPECT_EQ(answer("s2").at("error").at("code"), jsonrpc_code::internal_error);
  EXPECT_EQ(answer("s2").at("error").at("message"), "an exception that is not a std::exception");
}

// A completion callback that throws is logged; the calls whose outcomes come after it still get
// theirs, and the connection goes on.
TEST(ClientConnection, ACallbackThatThrowsDoesNotKeepOtherCallsFromEnding) {
  ClientHarness h;
  h.connect();
  int thrown = 0;
  h.connection->request("ping", {}, {}, [&](Result<boost::json::value>) {
    ++thrown;
    throw std::runtime_error("careless callback");
  });
  h.pump();
  const auto first = h.last_id("ping");
  h.connection->request("ping", {}, {}, [&](Result<boost::json::value>) {
    ++thrown;
    throw 42;
  });
  h.pump();
  const auto second = h.last_id("ping");
  auto third = h.call("ping");
  const auto third_id = h.last_id("ping");
  ASSERT_NE(first, second);
  h.network.current().respond(first, "{}");
  h.network.current().respond(second, "{}");
  h.network.current().respond(third_id, R"({"ok":3})");
  h.pump();
  EXPECT_EQ(thrown, 2);
  ASSERT_EQ(third->count(), 1u);
  EXPECT_EQ(third->only()->at("ok"), 3);
  EXPECT_EQ(h.connection->state(), "ready");
}

}  // namespace
}  // namespace trellis
