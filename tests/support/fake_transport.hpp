// A scripted ClientTransport for deterministic client tests: every generation the connection
// creates is a FakeLink the test can inspect (what was sent) and drive (deliver, fail, lose the
// session, be busy). Used with a polled io_context and a ManualScheduler on the test thread.
#pragma once

#include "trellis/client_transport.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <vector>

namespace trellis::testing {

struct FakeLink {
  ClientTransport::Events events;
  std::vector<boost::json::object> sent;
  int busy_sends = 0;  // the next N sends report backpressure
  bool resumable = false;
  bool closed = false;
  bool started = false;
  std::string initialized_version;

  void deliver(std::string_view json) {
    auto message = jsonrpc::decode(json);
    ASSERT_TRUE(message) << message.error().describe();
    events.message(std::move(*message));
  }
  void fail(ErrorKind kind = ErrorKind::transport, std::string why = "link broke") {
    events.failed(make_error(kind, std::move(why)));
  }
  // The last request sent with this method; null when none.
  const boost::json::object* last(std::string_view method) const {
    for (auto it = sent.rbegin(); it != sent.rend(); ++it)
      if (const auto* m = it->if_contains("method"); m && m->as_string() == method) return &*it;
    return nullptr;
  }
  std::size_t count(std::string_view method) const {
    std::size_t n = 0;
    for (const auto& s : sent)
      if (const auto* m = s.if_contains("method"); m && m->as_string() == method) ++n;
    return n;
  }
  // Answers the pending initialize with `version`.
  void accept_initialize(std::string_view version = "2025-11-25") {
    const auto* init = last("initialize");
    ASSERT_NE(init, nullptr) << "no initialize was sent";
    deliver(R"({"jsonrpc":"2.0","id":)" + boost::json::serialize(init->at("id")) + R"(,"result":{"protocolVersion":")" +
            std::string(version) + R"(","capabilities":{"tools":{}},"serverInfo":{"name":"fake","version":"1"}}})");
  }
  void respond(std::int64_t id, std::string_view result = "{}") {
    deliver(R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + R"(,"result":)" + std::string(result) + "}");
  }
};

class FakeTransport final : public ClientTransport {
 public:
  explicit FakeTransport(std::shared_ptr<FakeLink> link) : link_(std::move(link)) {}
  void start(Events events, boost::asio::any_io_executor) override {
    link_->events = std::move(events);
    link_->started = true;
  }
  Result<void> send(const OutgoingMessage& message) override {
    expect_described_truly(message);
    if (link_->closed) return make_error(ErrorKind::transport, "closed");
    if (link_->busy_sends > 0) {
      --link_->busy_sends;
      return make_error(ErrorKind::backpressure, "busy");
    }
    link_->sent.push_back(boost::json::parse(message.json).as_object());
    return {};
  }
  void close() override { link_->closed = true; }
  bool resumable() const noexcept override { return link_->resumable; }
  void initialized(std::string_view version) override { link_->initialized_version = std::string(version); }
  std::string describe() const override { return "fake"; }

 private:
  // The kind, id and method the connection passes with a message are what its JSON says: the
  // HTTP transport routes by them without parsing the message.
  static void expect_described_truly(const OutgoingMessage& message) {
    auto decoded = jsonrpc::decode(message.json);
    ASSERT_TRUE(decoded) << decoded.error().describe();
    EXPECT_EQ(message.kind, decoded->kind()) << message.json;
    EXPECT_EQ(message.method, decoded->method()) << message.json;
    if (decoded->kind() != jsonrpc::MessageKind::notification) {
      EXPECT_EQ(message.id, decoded->id()) << message.json;
    }
  }
  std::shared_ptr<FakeLink> link_;
};

// Hands out one FakeLink per generation; `next` configures the link before the connection
// starts using it.
struct FakeNetwork {
  std::vector<std::shared_ptr<FakeLink>> links;
  std::function<void(FakeLink&)> configure;
  TransportFactory factory() {
    return [this]() -> std::unique_ptr<ClientTransport> {
      auto link = std::make_shared<FakeLink>();
      if (configure) configure(*link);
      links.push_back(link);
      return std::make_unique<FakeTransport>(link);
    };
  }
  FakeLink& current() { return *links.back(); }
};

}  // namespace trellis::testing
