// Streamable HTTP server: status codes, sessions, SSE framing and resumption, over real sockets
// with a small synchronous Beast client.
#include "trellis/streamable_http_server.hpp"
#include "server/session_impl.hpp"
#include "support/receive_until_closed.hpp"
#include "trellis/telemetry/events.hpp"
#include "trellis/telemetry/log.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace trellis {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::string_view kInitialize =
    R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})";

struct Reply {
  int status = 0;
  std::string body;
  std::string session;
  std::string content_type;
  std::string retry_after;
  beast::error_code error;  // of reading the reply: set when it was cut or never came
};

using Headers = std::vector<std::pair<std::string, std::string>>;

// Connects `socket` and writes one request; headers as name/value pairs.
void send_request(tcp::socket& socket, std::uint16_t port, http::verb verb, std::string body, const Headers& headers,
                  bool default_headers = true) {
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req{verb, "/mcp", 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  if (default_headers) {
    req.set(http::field::content_type, "application/json");
    req.set(http::field::accept, "application/json, text/event-stream");
  }
  for (auto& [name, value] : headers) req.set(name, value);
  req.body() = std::move(body);
  req.prepare_payload();
  http::write(socket, req);
}

// Reads one whole response from `socket`.
Reply read_reply(tcp::socket& socket) {
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  beast::error_code ec;
  http::read(socket, buffer, parser, ec);
  auto& res = parser.get();
  return {static_cast<int>(res.result_int()), std::move(res.body()), std::string(res["Mcp-Session-Id"]),
          std::string(res[http::field::content_type]), std::string(res[http::field::retry_after]), ec};
}

// One request per connection.
Reply exchange(std::uint16_t port, http::verb verb, std::string body, const Headers& headers = {}, bool default_headers = true) {
  asio::io_context io;
  tcp::socket socket(io);
  send_request(socket, port, verb, std::move(body), headers, default_headers);
  return read_reply(socket);
}

// The JSON-RPC messages in an SSE body, with their event ids.
std::vector<std::pair<std::string, boost::json::value>> events(const std::string& sse) {
  std::vector<std::pair<std::string, boost::json::value>> out;
  std::string id;
  std::size_t pos = 0;
  while (pos < sse.size()) {
    const auto end = sse.find('\n', pos);
    const std::string line = sse.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    pos = end == std::string::npos ? sse.size() : end + 1;
    if (line.rfind("id: ", 0) == 0) id = line.substr(4);
    if (line.rfind("data: ", 0) == 0 && line.size() > 6) out.emplace_back(id, boost::json::parse(line.substr(6)));
  }
  return out;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void start(HttpServerOptions options = {}, ServerOptions server_options = {.worker_threads = 4}) {
    options.port = 0;
    server_ = std::make_unique<Server>(std::move(server_options));
    ASSERT_TRUE(server_->add_tool({.name = "echo"}, [](RequestContext&, const boost::json::object& args) -> Result<boost::json::object> {
      return tool_text(boost::json::serialize(args));
    }));
    ASSERT_TRUE(server_->add_tool({.name = "steps"}, [this](RequestContext& context, const boost::json::object&) -> Result<boost::json::object> {
      for (int i = 1; i <= 6; ++i) {
        context.report_progress(i, 6);
        if (i == 3 && cut_mid_call_) context.close_stream();
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
      }
      return tool_text("six steps");
    }));
    ASSERT_TRUE(server_->add_tool({.name = "block"}, [this](RequestContext& context, const boost::json::object&) -> Result<boost::json::object> {
      blocked_ = true;
      while (!context.stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      saw_stop_ = true;
      return tool_text("stopped");
    }));
    http_ = std::make_unique<StreamableHttpServer>(*server_, options);
    ASSERT_TRUE(http_->start());
    port_ = http_->port();
  }
  void TearDown() override {
    if (http_) http_->stop();
  }
  std::string open_session() {
    auto r = exchange(port_, http::verb::post, std::string(kInitialize));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.session.size(), 32u) << "128-bit id in hex";
    exchange(port_, http::verb::post, R"({"jsonrpc":"2.0","method":"notifications/initialized"})", {{"Mcp-Session-Id", r.session}});
    return r.session;
  }
  // Adds the `big` tool, opens a session and POSTs a call to `big` on `socket` without reading;
  // returns once the tool has run and its response has had time to fill the socket's buffers.
  void call_big_without_reading(tcp::socket& socket);

  std::unique_ptr<Server> server_;
  std::unique_ptr<StreamableHttpServer> http_;
  std::uint16_t port_ = 0;
  std::atomic<bool> cut_mid_call_{false};
  std::atomic<bool> blocked_{false};
  std::atomic<bool> saw_stop_{false};
  std::atomic<bool> big_returned_{false};
};

constexpr std::string_view kPing = R"({"jsonrpc":"2.0","id":1,"method":"ping"})";

TEST_F(HttpServerTest, MissingSessionIs400AndUnknownIs404) {
  start();
  EXPECT_EQ(exchange(port_, http::verb::post, std::string(kPing)).status, 400);
  EXPECT_EQ(exchange(port_, http::verb::post, std::string(kPing), {{"Mcp-Session-Id", "0123456789abcdef0123456789abcdef"}}).status, 404);
}

TEST_F(HttpServerTest, BadOriginAndBadHostAre403) {
  start();
  EXPECT_EQ(exchange(port_, http::verb::post, std::string(kInitialize), {{"Origin", "http://evil.example.com"}}).status, 403);
  EXPECT_EQ(exchange(port_, http::verb::post, std::string(kInitialize), {{"Host", "evil.example.com"}}).status, 403);
  EXPECT_EQ(exchange(port_, http::verb::post, std::string(kInitialize), {{"Origin", "http://localhost:3000"}}).status, 200);
}

TEST_F(HttpServerTest, BodyOverTheLimitIs413AndAtTheLimitIsServed) {
  start({.max_body_bytes = 4096});
  const std::string session = open_session();
  const std::string head = R"({"jsonrpc":"2.0","id":2,"method":"ping","params":{"pad":")", tail = R"("}})";
  const std::string at_limit = head + std::string(4096 - head.size() - tail.size(), 'x') + tail;
  EXPECT_EQ(exchange(port_, http::verb::post, at_limit, {{"Mcp-Session-Id", session}}).status, 200);
  EXPECT_EQ(exchange(port_, http::verb::post, at_limit + " ", {{"Mcp-Session-Id", session}}).status, 413);
}

TEST_F(HttpServerTest, MalformedJsonIsParseErrorAndTheSessionKeepsWorking) {
  start({.json_response = true});
  const std::string session = open_session();
  auto bad = exchange(port_, http::verb::post, R"({"jsonrpc":"2.0","id":)", {{"Mcp-Session-Id", session}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(boost::json::parse(bad.body).at("error").at("code"), jsonrpc_code::parse_error);
  auto ok = exchange(port_, http::verb::post, std::string(kPing), {{"Mcp-Session-Id", session}});
  EXPECT_EQ(ok.status, 200);
  EXPECT_TRUE(boost::json::parse(ok.body).as_object().contains("result"));
}

TEST_F(HttpServerTest, ProtocolMethodAndContentNegotiation) {
  start();
  const std::string session = open_session();
  EXPECT_EQ(exchange(port_, http::verb::post, std::string(kPing), {{"Mcp-Session-Id", session}, {"MCP-Protocol-Version", "1999-01-01"}}).status, 400);
  EXPECT_EQ(exchange(port_, http::verb::put, std::string(kPing), {{"Mcp-Session-Id", session}}).status, 405);
  EXPECT_EQ(exchange(port_, http::verb::post, std::string(kPing), {{"Mcp-Session-Id", session}, {"Content-Type", "text/plain"}}).status, 415);
  EXPECT_EQ(exchange(port_, http::verb::post, R"({"jsonrpc":"2.0","method":"notifications/roots/list_changed"})",
                     {{"Mcp-Session-Id", session}}).status,
            202);
}

TEST_F(HttpServerTest, SseResponseHasAPrimingEventWithRetryThenTheResponse) {
  start({.sse_retry = std::chrono::milliseconds(750)});
  const std::string session = open_session();
  auto r = exchange(port_, http::verb::post, std::string(kPing), {{"Mcp-Session-Id", session}});
  EXPECT_EQ(r.content_type, "text/event-stream");
  EXPECT_NE(r.body.find("retry: 750\n"), std::string::npos);
  EXPECT_EQ(r.body.rfind("id: ", 0), 0u) << "the priming event comes first and has an id";
  const auto messages = events(r.body);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_TRUE(messages[0].second.as_object().contains("result"));
}

TEST_F(HttpServerTest, StatelessModeNeedsNoSession) {
  start({.json_response = true, .stateless = true});
  auto r = exchange(port_, http::verb::post, R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"x":1}}})");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.session.empty());
  EXPECT_EQ(boost::json::parse(r.body).at("result").at("content").at(0).at("text"), R"({"x":1})");
  EXPECT_EQ(exchange(port_, http::verb::get, "", {{"Accept", "text/event-stream"}}).status, 405);
}

// Reads one response off a raw socket: the head (up to the blank line) and Content-Length bytes.
std::pair<std::string, std::string> read_raw_response(tcp::socket& socket, std::string& buffered) {
  char chunk[4096];
  beast::error_code ec;
  while (buffered.find("\r\n\r\n") == std::string::npos) {
    const std::size_t n = socket.read_some(asio::buffer(chunk), ec);
    if (ec) return {};
    buffered.append(chunk, n);
  }
  const std::size_t head_end = buffered.find("\r\n\r\n") + 4;
  std::string head = buffered.substr(0, head_end);
  const auto length_at = head.find("Content-Length: ");
  if (length_at == std::string::npos) return {head, {}};
  const std::size_t length = std::stoul(head.substr(length_at + 16));
  while (buffered.size() < head_end + length) {
    const std::size_t n = socket.read_some(asio::buffer(chunk), ec);
    if (ec) break;
    buffered.append(chunk, n);
  }
  std::string body = buffered.substr(head_end, length);
  buffered.erase(0, head_end + length);
  return {head, body};
}

bool peer_closed(tcp::socket& socket) {
  char byte;
  beast::error_code ec;
  socket.read_some(asio::buffer(&byte, 1), ec);
  return ec == asio::error::eof || ec == asio::error::connection_reset;
}

TEST_F(HttpServerTest, ResponseHeadsFollowHttp11AndHttp10ConnectionRules) {
  start({.json_response = true, .stateless = true});
  const std::string call = R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"a":1}}})";
  const auto request = [&](std::string_view version, std::string_view extra) {
    return std::string("POST /mcp ") + std::string(version) + "\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
           "Accept: application/json, text/event-stream\r\n" + std::string(extra) +
           "Content-Length: " + std::to_string(call.size()) + "\r\n\r\n" + call;
  };
  asio::io_context io;
  {
    // HTTP/1.1 keeps the connection: two requests, two complete answers, then an explicit close.
    tcp::socket socket(io);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    std::string buffered;
    for (int i = 0; i < 2; ++i) {
      asio::write(socket, asio::buffer(request("HTTP/1.1", "")));
      const auto [head, body] = read_raw_response(socket, buffered);
      EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << head;
      EXPECT_NE(head.find("Content-Type: application/json\r\n"), std::string::npos) << head;
      EXPECT_EQ(head.find("Connection:"), std::string::npos) << "keep-alive is HTTP/1.1's default: " << head;
      EXPECT_EQ(boost::json::parse(body).at("result").at("content").at(0).at("text"), R"({"a":1})");
    }
    asio::write(socket, asio::buffer(request("HTTP/1.1", "Connection: close\r\n")));
    const auto [head, body] = read_raw_response(socket, buffered);
    EXPECT_NE(head.find("Connection: close\r\n"), std::string::npos) << head;
    EXPECT_FALSE(body.empty());
    EXPECT_TRUE(peer_closed(socket)) << "the server must close after Connection: close";
  }
  {
    // HTTP/1.0 closes unless asked to keep the connection.
    tcp::socket socket(io);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    std::string buffered;
    asio::write(socket, asio::buffer(request("HTTP/1.0", "Connection: keep-alive\r\n")));
    auto [head, body] = read_raw_response(socket, buffered);
    EXPECT_EQ(head.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << head;
    EXPECT_NE(head.find("Connection: keep-alive\r\n"), std::string::npos) << head;
    asio::write(socket, asio::buffer(request("HTTP/1.0", "")));
    std::tie(head, body) = read_raw_response(socket, buffered);
    EXPECT_EQ(head.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << head;
    EXPECT_FALSE(body.empty());
    EXPECT_TRUE(peer_closed(socket));
  }
  {
    // 405 names the methods this endpoint has.
    tcp::socket socket(io);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    std::string buffered;
    asio::write(socket, asio::buffer(std::string("PUT /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")));
    const auto [head, body] = read_raw_response(socket, buffered);
    EXPECT_EQ(head.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u) << head;
    EXPECT_NE(head.find("Allow: POST\r\n"), std::string::npos) << head;
    EXPECT_NE(body.find("method not allowed"), std::string::npos) << body;
  }
}

// HTTP/1.0 has no chunked encoding: an SSE response to it is the rest of the connection, and the
// server's close ends it. An HTTP/1.1 SSE response to a request that asked to close says so.
TEST_F(HttpServerTest, SseResponsesFollowHttp10AndConnectionClose) {
  start();
  const std::string init(kInitialize);
  const auto post = [&](std::string_view version, std::string_view extra) {
    asio::io_context io;
    tcp::socket socket(io);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    asio::write(socket, asio::buffer("POST /mcp " + std::string(version) +
                                     "\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                     "Accept: application/json, text/event-stream\r\n" + std::string(extra) +
                                     "Content-Length: " + std::to_string(init.size()) + "\r\n\r\n" + init));
    return testing::receive_until_closed(socket, std::chrono::seconds(5));
  };
  {
    // Even when it asks to keep the connection.
    const auto received = post("HTTP/1.0", "Connection: keep-alive\r\n");
    EXPECT_TRUE(received.closed) << "the close ends an HTTP/1.0 SSE response";
    ASSERT_EQ(received.bytes.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << received.bytes;
    const std::string head = received.bytes.substr(0, received.bytes.find("\r\n\r\n") + 2);
    EXPECT_NE(head.find("Content-Type: text/event-stream\r\n"), std::string::npos) << head;
    EXPECT_EQ(head.find("Transfer-Encoding"), std::string::npos) << head;
    EXPECT_NE(head.find("Connection: close\r\n"), std::string::npos) << head;
    // The body is the events themselves, not chunks: it starts with the priming event's id.
    const std::string body = received.body();
    EXPECT_EQ(body.rfind("id: ", 0), 0u) << body;
    const auto messages = events(body);
    ASSERT_EQ(messages.size(), 1u) << body;
    EXPECT_EQ(messages[0].second.at("id"), 0);
    EXPECT_TRUE(messages[0].second.as_object().contains("result")) << body;
  }
  {
    const auto received = post("HTTP/1.1", "Connection: close\r\n");
    EXPECT_TRUE(received.closed);
    ASSERT_EQ(received.bytes.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << received.bytes;
    const std::string head = received.bytes.substr(0, received.bytes.find("\r\n\r\n") + 2);
    EXPECT_NE(head.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << head;
    EXPECT_NE(head.find("Connection: close\r\n"), std::string::npos) << head;
    EXPECT_TRUE(received.bytes.ends_with("\r\n0\r\n\r\n")) << "the last chunk, then the close: " << received.bytes;
  }
  {
    // Keep-alive HTTP/1.1 SSE responses name no Connection header, and the connection stays.
    asio::io_context io;
    tcp::socket socket(io);
    send_request(socket, port_, http::verb::post, init, {});
    const auto reply = read_reply(socket);
    EXPECT_EQ(reply.status, 200);
    EXPECT_EQ(reply.content_type, "text/event-stream");
    EXPECT_FALSE(testing::receive_until_closed(socket, std::chrono::milliseconds(200)).closed);
  }
}

TEST_F(HttpServerTest, AnAnswerToHeadHasNoBody) {
  start({.json_response = true, .stateless = true});
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  const std::string ping(kPing);
  asio::write(socket, asio::buffer("HEAD /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                                   "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                   "Accept: application/json, text/event-stream\r\nConnection: close\r\nContent-Length: " +
                                   std::to_string(ping.size()) + "\r\n\r\n" + ping));
  const auto [both, closed] = testing::receive_until_closed(socket, std::chrono::seconds(5));
  EXPECT_TRUE(closed);
  ASSERT_EQ(both.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u) << both;
  EXPECT_NE(both.find("Content-Length: "), std::string::npos) << "the length the body would have: " << both;
  const auto next = both.find("\r\n\r\n") + 4;
  EXPECT_EQ(both.compare(next, 17, "HTTP/1.1 200 OK\r\n"), 0) << "the next response follows the head at once: " << both;
}

// An SSE response names its session; the next response on the same connection, to a request that
// named none, must not carry it.
TEST_F(HttpServerTest, ASessionIdGoesOnlyWithTheExchangeThatHasIt) {
  start();
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  const std::string init(kInitialize);
  asio::write(socket, asio::buffer("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                   "Accept: application/json, text/event-stream\r\nContent-Length: " +
                                   std::to_string(init.size()) + "\r\n\r\n" + init +
                                   "GET /elsewhere HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"));
  const auto [both, closed] = testing::receive_until_closed(socket, std::chrono::seconds(5));
  EXPECT_TRUE(closed);
  ASSERT_EQ(both.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << both;
  EXPECT_NE(both.find("Mcp-Session-Id: "), std::string::npos) << both;
  const auto second = both.find("HTTP/1.1 404 ");
  ASSERT_NE(second, std::string::npos) << both;
  const std::string head = both.substr(second, both.find("\r\n\r\n", second) - second);
  EXPECT_EQ(head.find("Mcp-Session-Id"), std::string::npos) << head;
}

TEST_F(HttpServerTest, DeleteEndsTheSession) {
  start();
  const std::string session = open_session();
  EXPECT_EQ(exchange(port_, http::verb::delete_, "", {{"Mcp-Session-Id", session}}).status, 200);
  EXPECT_EQ(exchange(port_, http::verb::post, std::string(kPing), {{"Mcp-Session-Id", session}}).status, 404);
}

TEST_F(HttpServerTest, SessionsBeyondMaxSessionsAre503UntilOneCloses) {
  start({.max_sessions = 2});
  const std::string first = open_session();
  open_session();  // at the limit
  const auto refused = exchange(port_, http::verb::post, std::string(kInitialize));
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(refused.retry_after, "1");
  EXPECT_TRUE(refused.session.empty());
  EXPECT_EQ(boost::json::parse(refused.body).at("error").at("code"), jsonrpc_code::server_error);
  // The open sessions still work, and closing one makes room.
  EXPECT_EQ(exchange(port_, http::verb::post, std::string(kPing), {{"Mcp-Session-Id", first}}).status, 200);
  EXPECT_EQ(exchange(port_, http::verb::delete_, "", {{"Mcp-Session-Id", first}}).status, 200);
  int status = 0;
  for (int attempt = 0; attempt < 200 && status != 200; ++attempt) {
    status = exchange(port_, http::verb::post, std::string(kInitialize)).status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(status, 200);
}

// The state changes of every sse_stream machine instance ("<session>/<stream>"), as "from>to" in
// order, and the changes its table refused, as the runtime reports them.
class SseStreamChanges {
 public:
  // Waits up to 2 s for `instance` to have made `count` changes (the last may come after the client
  // has read the end of a response), and returns those it made.
  std::vector<std::string> of(const std::string& instance, std::size_t count) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        if (changes_[instance].size() >= count || std::chrono::steady_clock::now() > deadline) return changes_[instance];
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  int refused() {
    std::lock_guard lock(mutex_);
    return refused_;
  }

 private:
  static bool ours(const telemetry::Event& e) { return e.metadata.at("machine") == "sse_stream"; }

  std::mutex mutex_;
  std::map<std::string, std::vector<std::string>> changes_;
  int refused_ = 0;
  // Last, so that they stop calling in before the rest goes.
  telemetry::Subscription changed_{telemetry::Dispatcher::global(), "trellis.fsm.transition", [this](const telemetry::Event& e) {
    if (!ours(e)) return;
    std::lock_guard lock(mutex_);
    changes_[std::string(e.metadata.at("instance").as_string())].push_back(
        std::string(e.metadata.at("from").as_string()) + ">" + std::string(e.metadata.at("to").as_string()));
  }};
  telemetry::Subscription refusals_{telemetry::Dispatcher::global(), "trellis.fsm.illegal_transition",
                                    [this](const telemetry::Event& e) {
                                      if (!ours(e)) return;
                                      std::lock_guard lock(mutex_);
                                      ++refused_;
                                    }};
};

// A stream cut mid-call and resumed after the call finished: no event lost or repeated, and the
// stream takes exactly these rows of the sse_stream machine, and none the table lacks.
TEST_F(HttpServerTest, StreamCutMidCallIsResumedWithLastEventIdWithoutLossOrRepetition) {
  SseStreamChanges changes;
  start({.sse_retry = std::chrono::milliseconds(10)});
  cut_mid_call_ = true;
  const std::string session = open_session();
  auto first = exchange(port_, http::verb::post,
                        R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"steps","_meta":{"progressToken":"p"}}})",
                        {{"Mcp-Session-Id", session}});
  auto before = events(first.body);
  ASSERT_FALSE(before.empty());
  for (const auto& [id, m] : before) EXPECT_FALSE(m.as_object().contains("result")) << "the response came before the cut";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the call finishes meanwhile
  auto resumed = exchange(port_, http::verb::get, "",
                          {{"Mcp-Session-Id", session}, {"Accept", "text/event-stream"}, {"Last-Event-ID", before.back().first}});
  EXPECT_EQ(resumed.status, 200);
  auto after = events(resumed.body);
  std::vector<double> progress;
  std::vector<std::string> ids;
  bool response = false;
  for (const auto* batch : {&before, &after}) {
    for (const auto& [id, m] : *batch) {
      ids.push_back(id);
      if (m.as_object().contains("result")) response = true;
      if (m.as_object().contains("method")) progress.push_back(m.at("params").at("progress").to_number<double>());
    }
  }
  EXPECT_TRUE(response);
  EXPECT_EQ(progress, (std::vector<double>{1, 2, 3, 4, 5, 6})) << "no event lost or repeated";
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::adjacent_find(ids.begin(), ids.end()), ids.end()) << "event ids are unique";
  const std::string instance = session + "/" + before.back().first.substr(0, before.back().first.find('_'));
  const std::vector<std::string> expected{"opening>active", "active>resuming", "resuming>active", "active>closing",
                                          "closing>closed"};
  EXPECT_EQ(changes.of(instance, expected.size()), expected);
  EXPECT_EQ(changes.refused(), 0);
}

// The `i` of each whole log event in raw SSE bytes (chunked or not), in order, and the id of the
// last whole event (the priming event's when no log event came); an event cut off at the end of
// the bytes is left out.
struct LoggedEvents {
  std::vector<std::int64_t> numbers;
  std::string last_id;
};
LoggedEvents logged_events(const std::string& raw) {
  LoggedEvents out;
  for (std::size_t pos = raw.find("id: "); pos != std::string::npos; pos = raw.find("id: ", pos)) {
    const auto end = raw.find("\n\n", pos);
    if (end == std::string::npos) break;
    const auto data = raw.find("\ndata: {", pos);
    if (data != std::string::npos && data < end) {
      const auto message = boost::json::parse(raw.substr(data + 7, end - data - 7));
      out.numbers.push_back(message.at("params").at("data").at("i").as_int64());
    }
    out.last_id = raw.substr(pos + 4, raw.find('\n', pos) - pos - 4);
    pos = end;
  }
  return out;
}

// A client that stops reading its GET stream is cut once max_unsent_sse_bytes wait for it, instead
// of the server queueing every event for it without bound; resuming from the last event it got
// loses nothing and repeats nothing.
TEST_F(HttpServerTest, AClientThatStopsReadingIsCutAndResumesWithoutLoss) {
  constexpr int kEvents = 16'000;  // about 17 MB: more than the socket buffers on both sides hold
  SseStreamChanges changes;
  start({.max_stored_events = kEvents, .max_stored_event_bytes = 64 * 1024 * 1024, .max_unsent_sse_bytes = 64 * 1024});
  const std::string session = open_session();
  asio::io_context io;
  tcp::socket stalled(io);
  stalled.open(tcp::v4());
  stalled.set_option(asio::socket_base::receive_buffer_size(4096));
  stalled.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  asio::write(stalled, asio::buffer("GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nMcp-Session-Id: " +
                                    session + "\r\n\r\n"));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the stream is attached
  const std::string pad(1000, 'x');
  for (int i = 0; i < kEvents; ++i) server_->log(LogLevel::info, boost::json::object{{"i", i}, {"pad", pad}});
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the session has published them all

  const auto got = testing::receive_until_closed(stalled, std::chrono::seconds(10));
  EXPECT_TRUE(got.closed) << "the stalled stream must be cut";
  EXPECT_LT(got.bytes.size(), kEvents * pad.size() / 2) << "it was cut, not written out whole";
  const auto before = logged_events(got.bytes);
  ASSERT_FALSE(before.last_id.empty()) << got.bytes;

  tcp::socket resumed(io);
  resumed.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  asio::write(resumed, asio::buffer("GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nMcp-Session-Id: " +
                                    session + "\r\nLast-Event-ID: " + before.last_id + "\r\n\r\n"));
  const std::string last_marker = "\"data\":{\"i\":" + std::to_string(kEvents - 1) + ",";
  std::string rest;
  // Until the last event has come whole (its data line, then the blank line that ends it).
  const auto last_event_whole = [&] {
    const auto at = rest.find(last_marker, rest.size() < 8192 ? 0 : rest.size() - 8192);
    return at != std::string::npos && rest.find("\n\n", at) != std::string::npos;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!last_event_whole() && std::chrono::steady_clock::now() < deadline) {
    char chunk[65536];
    beast::error_code ec;
    const auto n = resumed.read_some(asio::buffer(chunk), ec);
    if (ec) {
      ADD_FAILURE() << "reading the resumed stream: " << ec.message();
      break;
    }
    rest.append(chunk, n);
  }
  const auto after = logged_events(rest);
  std::vector<std::int64_t> all = before.numbers;
  all.insert(all.end(), after.numbers.begin(), after.numbers.end());
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kEvents)) << before.numbers.size() << " before the cut, resumed from " << before.last_id << ": " << rest.substr(0, 600);
  for (int i = 0; i < kEvents; ++i) ASSERT_EQ(all[i], i) << "in order, each once";
  // The standalone stream paused as the unread events piled up (and may have flowed again while
  // the socket's buffers still took some), was cut past the bound, and resumed.
  const auto walked = changes.of(session + "/0", 4);
  ASSERT_GE(walked.size(), 4u);
  EXPECT_EQ(walked.front(), "opening>active");
  EXPECT_EQ(walked[1], "active>paused");
  EXPECT_EQ(walked[walked.size() - 2], "paused>resuming");
  EXPECT_EQ(walked.back(), "resuming>active");
  for (std::size_t i = 2; i + 2 < walked.size(); ++i)
    EXPECT_EQ(walked[i], i % 2 == 0 ? "paused>active" : "active>paused") << i;
  EXPECT_EQ(changes.refused(), 0);
}

// Past max_total_stored_event_bytes the response still arrives live, but is not stored: resuming
// its stream replays nothing.
TEST_F(HttpServerTest, PastTheServerWideStoreBudgetEventsGoLiveButAreNotStored) {
  for (const std::size_t budget : {std::size_t{64} * 1024, std::size_t{1}}) {
    start({.max_total_stored_event_bytes = budget});
    const std::string session = open_session();
    const auto live = exchange(port_, http::verb::post, std::string(kPing), {{"Mcp-Session-Id", session}});
    ASSERT_EQ(events(live.body).size(), 1u) << live.body;
    const std::string priming = live.body.substr(4, live.body.find('\n') - 4);
    const auto resumed = exchange(port_, http::verb::get, "",
                                  {{"Mcp-Session-Id", session}, {"Accept", "text/event-stream"}, {"Last-Event-ID", priming}});
    EXPECT_EQ(resumed.status, 200);
    EXPECT_EQ(events(resumed.body).size(), budget > 1 ? 1u : 0u) << "budget " << budget << ": " << resumed.body;
    http_.reset();  // before the Server it serves
    server_.reset();
  }
}

TEST_F(HttpServerTest, CancelledRequestStopsTheHandlerAndSendsNoResponse) {
  start({.json_response = true});
  const std::string session = open_session();
  std::thread caller([&] {
    auto r = exchange(port_, http::verb::post, R"({"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"block"}})",
                      {{"Mcp-Session-Id", session}});
    EXPECT_EQ(r.status, 202) << "a cancelled request gets no JSON-RPC response";
    EXPECT_TRUE(r.body.empty());
  });
  while (!blocked_) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(exchange(port_, http::verb::post, R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":11}})",
                     {{"Mcp-Session-Id", session}}).status,
            202);
  caller.join();
  EXPECT_TRUE(saw_stop_);
}

TEST_F(HttpServerTest, SecondStandaloneStreamIs409) {
  start();
  const std::string session = open_session();
  std::atomic<bool> first_open{false};
  std::thread first([&] {
    asio::io_context io;
    tcp::socket socket(io);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    http::request<http::empty_body> req{http::verb::get, "/mcp", 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::accept, "text/event-stream");
    req.set("Mcp-Session-Id", session);
    http::write(socket, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    http::read_header(socket, buffer, parser);
    first_open = true;
    beast::error_code ec;
    http::read(socket, buffer, parser, ec);  // until the server closes the stream at stop()
  });
  while (!first_open) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(exchange(port_, http::verb::get, "", {{"Mcp-Session-Id", session}, {"Accept", "text/event-stream"}}).status, 409);
  http_->stop();
  first.join();
}

// Sessions come and go on every thread (stateless: one per request) while broadcasts walk the
// registry and stop() closes everything: nothing may deadlock. (A session whose last reference
// was released inside the registry's lock once re-entered it from its destructor.)
TEST_F(HttpServerTest, SessionChurnWithBroadcastsAndStopDoesNotDeadlock) {
  start({.json_response = true, .stateless = true});
  std::atomic<int> served{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t)
    clients.emplace_back([&] {
      for (int i = 0; i < 150; ++i)
        if (exchange(port_, http::verb::post, std::string(kPing)).status == 200) ++served;
    });
  std::atomic<bool> churning{true};
  std::thread broadcaster([&] {
    while (churning) server_->log(LogLevel::info, "tick");
  });
  for (auto& c : clients) c.join();
  churning = false;
  broadcaster.join();
  EXPECT_EQ(served.load(), 600);
  auto stopped = std::async(std::launch::async, [&] { http_->stop(); });
  EXPECT_EQ(stopped.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "stop() hung";
}

// A handler that ignores cancellation and outlives the drain timeout at stop(): its session's
// strand and its reply's stream belong to this server's io_context, so stop() returns only once
// the handler has, and destroying the server afterwards is safe. stop() used to give up one second
// past the drain timeout and stop the io_context; the worker later posted into it, and once the
// server was destroyed, into freed memory. (The flags outlive the test: on failure the handler
// may still run after it.)
TEST_F(HttpServerTest, StopReturnsOnlyOnceAHandlerPastTheDrainTimeoutHasReturned) {
  start({}, {.worker_threads = 2, .drain_timeout = std::chrono::milliseconds(50)});
  auto started = std::make_shared<std::atomic<bool>>(false);
  auto release = std::make_shared<std::atomic<bool>>(false);
  ASSERT_TRUE(server_->add_tool({.name = "stuck"}, [started, release](RequestContext&, const boost::json::object&) -> Result<boost::json::object> {
    *started = true;
    while (!*release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return tool_text("late");
  }));
  const std::string session = open_session();
  std::thread caller([&] {
    exchange(port_, http::verb::post, R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"stuck"}})",
             {{"Mcp-Session-Id", session}});
  });
  for (int i = 0; i < 5000 && !*started; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(*started) << "the tool did not start within 5 s";
  std::mutex logged_mutex;
  std::vector<std::string> warnings;
  telemetry::Logger::global().set_sink([&](std::string_view line) {
    std::lock_guard lock(logged_mutex);
    if (line.find("trellis.http.stop_waits_for_handlers") != std::string_view::npos) warnings.emplace_back(line);
  });
  struct RestoreSink {
    ~RestoreSink() { telemetry::Logger::global().set_sink({}); }
  } restore_sink;
  auto stopped = std::async(std::launch::async, [&] { http_->stop(); });
  // The warning comes once a second here (the drain timeout is shorter than that).
  const bool returned_early = stopped.wait_for(std::chrono::milliseconds(2500)) == std::future_status::ready;
  EXPECT_FALSE(returned_early) << "stop() returned while a worker still held a session of this server";
  if (returned_early) http_.reset();  // what a user may do once stop() has returned (ASan: use after free)
  *release = true;
  EXPECT_EQ(stopped.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "stop() hung after the handler returned";
  http_.reset();
  caller.join();
  std::lock_guard lock(logged_mutex);
  ASSERT_FALSE(warnings.empty()) << "stop() waited without saying so";
  EXPECT_NE(warnings.front().find(R"("requests":1)"), std::string::npos) << warnings.front();
}

// stop() from a handler cannot wait for every handler, its own among them: it stops the server
// without that wait, and the handler goes on.
TEST_F(HttpServerTest, StopFromAHandlerDoesNotWaitForItself) {
  start({}, {.worker_threads = 2, .drain_timeout = std::chrono::milliseconds(50)});
  auto stopped = std::make_shared<std::promise<void>>();
  ASSERT_TRUE(server_->add_tool({.name = "halt"}, [this, stopped](RequestContext&, const boost::json::object&) -> Result<boost::json::object> {
    http_->stop();
    stopped->set_value();
    return tool_text("halted");
  }));
  const std::string session = open_session();
  std::thread caller([&] {
    exchange(port_, http::verb::post, R"({"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"halt"}})",
             {{"Mcp-Session-Id", session}});
  });
  EXPECT_EQ(stopped->get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready) << "stop() from a handler hung";
  caller.join();
}

// The `big` tool answers more than the socket buffers of a client that reads nothing hold.
constexpr std::size_t kBigResultBytes = 16 * 1024 * 1024;

void HttpServerTest::call_big_without_reading(tcp::socket& socket) {
  ASSERT_TRUE(server_->add_tool({.name = "big"}, [this](RequestContext&, const boost::json::object&) -> Result<boost::json::object> {
    big_returned_ = true;
    return tool_text(std::string(kBigResultBytes, 'x'));
  }));
  const std::string session = open_session();
  send_request(socket, port_, http::verb::post, R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"big"}})",
               {{"Mcp-Session-Id", session}});
  for (int i = 0; i < 5000 && !big_returned_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(big_returned_) << "the tool did not run within 5 s";
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

// stop() lets a response that is still being written finish, for up to drain_timeout: a client
// that reads slowly gets all of it, not the part that fit in the socket's buffers when stop()
// began.
TEST_F(HttpServerTest, StopLetsAResponseBeingWrittenFinish) {
  start({.json_response = true});
  asio::io_context io;
  tcp::socket socket(io);
  ASSERT_NO_FATAL_FAILURE(call_big_without_reading(socket));
  auto stopped = std::async(std::launch::async, [&] { http_->stop(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // reading only now
  const Reply reply = read_reply(socket);
  EXPECT_FALSE(reply.error) << reply.error.message();
  EXPECT_EQ(reply.status, 200);
  EXPECT_GT(reply.body.size(), kBigResultBytes) << "the response was cut";
  EXPECT_EQ(stopped.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "stop() hung";
}

// ...and no longer: a client that never reads is cut once drain_timeout has passed.
TEST_F(HttpServerTest, StopCutsAResponseNobodyReadsAfterTheDrainTimeout) {
  start({.json_response = true}, {.worker_threads = 2, .drain_timeout = std::chrono::milliseconds(200)});
  asio::io_context io;
  tcp::socket socket(io);
  ASSERT_NO_FATAL_FAILURE(call_big_without_reading(socket));
  const auto began = std::chrono::steady_clock::now();
  http_->stop();
  const auto took = std::chrono::steady_clock::now() - began;
  EXPECT_GE(took, std::chrono::milliseconds(200)) << "stop() did not wait for the response being written";
  EXPECT_LT(took, std::chrono::seconds(5)) << "stop() waited past the drain timeout";
  EXPECT_TRUE(read_reply(socket).error) << "the response was not cut";
}

// A broadcast (Server::log, the list_changed notifications) holds every live session while it walks
// them, on the caller's thread, and so may be the last to let one go after the server is gone. The
// session's strand and timers belong to the server's io_context, which must still exist then: the
// session keeps it. (Before, ASan reported a heap-use-after-free in ~AsioScheduler on this
// release.) A close() that comes too late posts nothing that would keep the session forever.
TEST_F(HttpServerTest, ASessionABroadcastHoldsPastTheServerIsReleasedSafely) {
  start();
  open_session();
  std::shared_ptr<server_detail::SessionImpl> held;
  server_->core()->for_each_session([&](server_detail::SessionImpl& s) { held = s.shared_from_this(); });
  ASSERT_TRUE(held);
  http_.reset();
  EXPECT_TRUE(held->closed()) << "stop() closes every session";
  held->close();
  std::weak_ptr<server_detail::SessionImpl> gone = held;
  held.reset();
  EXPECT_TRUE(gone.expired()) << "a late close() kept the session";
}

}  // namespace
}  // namespace trellis
