// A client Connection on a scripted network, a polled io_context and a hand-moved clock, all on
// the test thread: every interleaving in a test is deterministic.
#pragma once

#include "support/fake_transport.hpp"

#include "client/connection.hpp"

#include <boost/asio/io_context.hpp>

namespace trellis::testing {

// Every outcome a call's callback received (a correct client gives each call exactly one).
struct Outcomes {
  std::vector<Result<boost::json::value>> results;
  std::size_t count() const { return results.size(); }
  const Result<boost::json::value>& only() const {
    EXPECT_EQ(results.size(), 1u);
    return results.front();
  }
};

class ClientHarness {
 public:
  explicit ClientHarness(ClientOptions options = {}, std::uint64_t seed = 42)
      : connection(std::make_shared<client_detail::Connection>(network.factory(), std::move(options),
                                                               client_detail::Runtime{io.get_executor(), &clock, seed})) {}
  ~ClientHarness() {
    connection->stop([] {});
    pump();
  }

  void pump() {
    io.restart();
    io.poll();
  }
  void advance(std::chrono::milliseconds by) {
    clock.advance(by);
    pump();
  }

  // start() → initialize answered → ready.
  void connect() {
    connection->start([this](Result<void> r) { connected = r; });
    pump();
    network.current().accept_initialize();
    pump();
    ASSERT_EQ(connection->state(), "ready");
    ASSERT_TRUE(connected && *connected);
  }

  std::shared_ptr<Outcomes> call(std::string method, boost::json::object params = {}, CallOptions options = {}) {
    auto outcomes = std::make_shared<Outcomes>();
    connection->request(std::move(method), std::move(params), std::move(options),
                        [outcomes](Result<boost::json::value> r) { outcomes->results.push_back(std::move(r)); });
    pump();
    return outcomes;
  }
  // The id of the last request of `method` on the current link.
  std::int64_t last_id(std::string_view method) {
    const auto* sent = network.current().last(method);
    EXPECT_NE(sent, nullptr) << method;
    return sent ? sent->at("id").as_int64() : -1;
  }
  std::size_t tombstones() { return connection->debug_state().at("tombstones").to_number<std::size_t>(); }

  boost::asio::io_context io;
  fsm::ManualScheduler clock;
  FakeNetwork network;
  std::shared_ptr<client_detail::Connection> connection;
  std::optional<Result<void>> connected;
};

}  // namespace trellis::testing
