// Drives a trellis::Session directly: a recording Outbound and helpers to send JSON text and
// wait for what the session writes back.
#pragma once

#include "trellis/server.hpp"
#include "trellis/server_session.hpp"
#include "wait_closed.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

namespace trellis::testing {

// Records every message and finish() call; tests wait on it.
class RecordingOutbound final : public Outbound {
 public:
  explicit RecordingOutbound(bool streaming = true) : streaming_(streaming) {}

  bool send(std::string message) override {
    std::lock_guard lock(mutex_);
    messages_.push_back(boost::json::parse(message));
    changed_.notify_all();
    return true;
  }
  bool streaming() const noexcept override { return streaming_; }
  void finish() override {
    std::lock_guard lock(mutex_);
    ++finished_;
    changed_.notify_all();
  }

  // Waits until `pred(messages)` holds; fails the test after `timeout`.
  template <class Pred>
  bool wait(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return pred(messages_, finished_); });
  }
  // The first message that has the given id (a response), waiting for it.
  boost::json::object response(std::int64_t id, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    boost::json::object found;
    const bool ok = wait(
        [&](const std::vector<boost::json::value>& messages, int) {
          for (const auto& m : messages) {
            const auto* mid = m.as_object().if_contains("id");
            if (mid && mid->is_int64() && mid->get_int64() == id && !m.as_object().contains("method")) {
              found = m.as_object();
              return true;
            }
          }
          return false;
        },
        timeout);
    EXPECT_TRUE(ok) << "no response with id " << id;
    return found;
  }
  std::vector<boost::json::value> messages() {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  int finished() {
    std::lock_guard lock(mutex_);
    return finished_;
  }

 private:
  bool streaming_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<boost::json::value> messages_;
  int finished_ = 0;
};

// A Server, one io thread, and helpers to talk to one session.
class SessionHarness {
 public:
  explicit SessionHarness(ServerOptions options = {})
      : work_(io_.get_executor()), thread_([this] { io_.run(); }), server(std::move(options)) {}
  ~SessionHarness() {
    if (session) {
      EXPECT_TRUE(closes_within(*session, std::chrono::seconds(15), [this] { server.shutdown(); }))
          << "session did not close";
    }
    work_.reset();
    io_.stop();
    thread_.join();
  }

  void open(Session::Mode mode = Session::Mode::stateful) {
    session = Session::create(server.core(), io_.get_executor(), "test-session", mode);
    session->set_standalone(standalone);
  }

  // Sends one JSON-RPC message; requests answer on `reply` (default: `out`).
  void send(std::string_view json, std::shared_ptr<Outbound> reply = nullptr) {
    auto message = jsonrpc::decode(json);
    ASSERT_TRUE(message) << message.error().describe();
    const bool request = message->kind() == jsonrpc::MessageKind::request;
    session->receive(std::move(*message), request ? (reply ? reply : out) : nullptr);
  }

  boost::json::object call(std::int64_t id, std::string_view method, std::string_view params = "{}") {
    send(R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + R"(,"method":")" + std::string(method) + R"(","params":)" +
         std::string(params) + "}");
    return out->response(id);
  }

  void initialize(std::string_view capabilities = "{}") {
    const auto r = call(0, "initialize",
                        R"({"protocolVersion":"2025-11-25","capabilities":)" + std::string(capabilities) +
                            R"(,"clientInfo":{"name":"test","version":"1"}})");
    ASSERT_TRUE(r.contains("result")) << boost::json::serialize(r);
    send(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  }

 private:
  // Declared first so that they outlive the server: its workers post back to the io thread.
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;

 public:
  Server server;
  std::shared_ptr<Session> session;
  std::shared_ptr<RecordingOutbound> out = std::make_shared<RecordingOutbound>();
  std::shared_ptr<RecordingOutbound> standalone = std::make_shared<RecordingOutbound>();
};

inline std::int64_t error_code(const boost::json::object& response) {
  return response.at("error").at("code").as_int64();
}

}  // namespace trellis::testing
