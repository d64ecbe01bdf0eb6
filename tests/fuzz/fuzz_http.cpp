// libFuzzer target for the Streamable HTTP server: arbitrary bytes a client writes on one TCP
// connection.
//
// Four StreamableHttpServers share one Server: SSE or JSON responses, stateful or stateless. The
// first input byte picks one (mod 4: '0' SSE stateful, '1' SSE stateless, '2' JSON stateful,
// '3' JSON stateless); the rest is written as it is to one connection to it, which is then
// half-closed, and what comes back is read until the server closes, or until it has been quiet
// for 100 ms (an open GET stream never closes), at most 2 s. Where the input has `$SESSION`, the
// harness first initializes a session of its own over another connection (initialize, then
// notifications/initialized) and puts its Mcp-Session-Id there (an empty string on a stateless
// server, or when max_sessions refused it with 503), and deletes that session afterwards. The
// limits are small so that an input can reach them: 4096-byte bodies, 1024 bytes of headers, 64
// sessions, 16 stored events per session, idle sessions expire after a second, heartbeats every
// second.
//
// The harness splits the input into requests with Beast's parser, set up as the server's, so that
// it knows which response answers which request. For arbitrary input:
//  - every byte received belongs to a well-formed HTTP/1.x response, framed by Content-Length or
//    chunked, or, for an SSE response to HTTP/1.0 (which has no chunks), by the close that ends
//    the connection there; only an SSE stream may be left cut off, when the read stopped on the
//    quiet timeout;
//  - every status is one the server may send (never 500);
//  - an application/json body decodes as a JSON-RPC message, an error status carries a JSON-RPC
//    error with a code and a message; a text/event-stream body parses, and each event's non-empty
//    data decodes as a JSON-RPC message; no other body is sent;
//  - no JSON-RPC error is an internal error (-32603): no handler here fails, so one would be the
//    transport's own mistake with the client's input;
//  - once the server has closed, every request up to the first that ends the connection has its
//    response, in order, and no response is left over; the bytes the server's parser refuses get
//    a response that ends the connection: 413 for a body past max_body_bytes, 431 for headers past
//    max_header_bytes (a bound Beast keeps loosely: see kSureHeaderLimit), 400 otherwise;
//  - a stateful server's response names no session but its request's (or, for an initialize, the
//    new one), and a 200 with a body names it; a stateless server names none;
//  - afterwards a fresh connection still gets its answer within 2 s: the accept loop and the I/O
//    threads are alive;
//  - no session or SSE stream attempts a state change its machine's table lacks.
// Any violation traps, so libFuzzer records the input. replay_main.cpp replays the corpus in CI.
#include "../../src/transport/sse_parser.hpp"
#include "trap_illegal_transitions.hpp"
#include "trellis/fsm_catalog.hpp"
#include "trellis/jsonrpc.hpp"
#include "trellis/server.hpp"
#include "trellis/streamable_http_server.hpp"
#include "trellis/telemetry/log.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json/parse.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

using namespace trellis;
using boost::json::array;
using boost::json::object;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxBodyBytes = 4096;
constexpr std::uint32_t kMaxHeaderBytes = 1024;
// Beast applies its header limit to the part of the header block it has not parsed yet, so a
// server reading in pieces accepts a block up to about three times as large: a request line and
// the fields of the first piece within the limit, then the limit again. The harness parses with
// this limit instead, and lets the server answer 431 to any block past kMaxHeaderBytes: a block
// past this one gets 431, unless Beast finds another fault first (400).
constexpr std::uint32_t kSureHeaderLimit = 3 * kMaxHeaderBytes;
constexpr auto kQuiet = std::chrono::milliseconds(100);   // no new byte for this long: the server waits
constexpr auto kReadCap = std::chrono::milliseconds(2000);  // the longest one connection is read
constexpr std::string_view kSessionToken = "$SESSION";

void check(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "fuzz_http: %s\n", what);
  __builtin_trap();
}

// To see a finding's exchange: TRELLIS_FUZZ_VERBOSE=1 build/bin/replay_http FILE
bool verbose() {
  static const bool on = std::getenv("TRELLIS_FUZZ_VERBOSE") != nullptr;
  return on;
}

// --- the servers ---------------------------------------------------------------------------------

object parse_object(std::string_view json) { return boost::json::parse(json).as_object(); }

void must(const Result<void>& added) { check(added.has_value(), "the catalog does not register"); }

std::string string_argument(const object& args, std::string_view key) {
  const auto* value = args.if_contains(key);
  return value && value->is_string() ? std::string(value->get_string()) : std::string();
}

// A small catalog: what the transport carries matters here, not the methods (fuzz_session).
void register_catalog(Server& server) {
  must(server.add_tool({.name = "echo",
                        .input_schema = parse_object(R"({"type":"object","additionalProperties":false,"required":["text"],
                          "properties":{"text":{"type":"string","maxLength":64}}})")},
                       [](RequestContext&, const object& args) -> Result<object> {
                         return tool_text(string_argument(args, "text"));
                       }));
  // Progress (when the request carries a token) and log messages: SSE events before the response.
  must(server.add_tool({.name = "chatty", .input_schema = parse_object(R"({"type":"object"})")},
                       [](RequestContext& context, const object& args) -> Result<object> {
                         for (int step = 1; step <= 3; ++step) {
                           context.report_progress(step, 3, "step");
                           context.log(LogLevel::warning, args, "fuzz");
                         }
                         return tool_text("done");
                       }));
  const auto text = [](RequestContext&, std::string_view uri, const UriVariables& variables) -> Result<array> {
    std::string body;
    for (const auto& [name, value] : variables) body += name + "=" + value + ";";
    return array{text_resource(uri, "text/plain", body)};
  };
  must(server.add_resource({.uri = "demo://a", .name = "a"}, text));
  must(server.add_resource_template({.uri_template = "demo://items/{id}{?q}", .name = "item"}, text));
  must(server.add_prompt({.name = "greet", .arguments = {{.name = "name", .required = true}}},
                         [](RequestContext&, const object& args) -> Result<object> {
                           return object{{"messages", array{object{{"role", "user"},
                                                                   {"content", object{{"type", "text"},
                                                                                      {"text", "hi " + string_argument(args, "name")}}}}}}};
                         }));
}

struct Mode {
  bool json_response;
  bool stateless;
};
// Indexed by the first input byte mod 4.
constexpr std::array<Mode, 4> kModes{{{false, false}, {false, true}, {true, false}, {true, true}}};

struct Fixture {
  // The statics the servers use, built before the Fixture is whole so that they outlive it: at
  // exit the Fixture goes first, and stopping its servers ends their I/O and worker threads.
  bool statics_built = (fsm::catalog(), telemetry::Logger::global(), true);
  Server server{{.worker_threads = 2, .worker_spin = std::chrono::microseconds(0), .max_inflight_per_session = 8}};
  std::array<std::unique_ptr<StreamableHttpServer>, kModes.size()> http;

  Fixture() {
    // Every refused request is logged at info: keep stderr for findings (the lines are still
    // formatted, which is code under test too).
    if (!verbose()) telemetry::Logger::global().set_sink([](std::string_view) {});
    // Whatever the bytes, every session and SSE stream changes state only along its table's rows.
    fuzzing::trap_illegal_transitions("fuzz_http");
    register_catalog(server);
    for (std::size_t i = 0; i < kModes.size(); ++i) {
      http[i] = std::make_unique<StreamableHttpServer>(server, HttpServerOptions{.address = "127.0.0.1",
                                                                                .port = 0,
                                                                                .json_response = kModes[i].json_response,
                                                                                .stateless = kModes[i].stateless,
                                                                                .max_body_bytes = kMaxBodyBytes,
                                                                                .max_header_bytes = kMaxHeaderBytes,
                                                                                .max_stored_events = 16,
                                                                                .max_stored_event_bytes = 8192,
                                                                                .session_idle_timeout = std::chrono::seconds(1),
                                                                                .max_sessions = 64,
                                                                                .heartbeat = std::chrono::seconds(1),
                                                                                .io_threads = 2});
      check(http[i]->start().has_value(), "a server does not start");
    }
  }
};

Fixture& fixture() {
  static Fixture fixture;  // destroyed at exit: the servers stop before the process's statics go
  return fixture;
}

// --- one connection ------------------------------------------------------------------------------

struct Received {
  std::string bytes;
  bool cut = false;  // the read stopped on a timeout, not because the server closed
};

// Connects, writes `request` (reading meanwhile, so that neither side blocks on a full buffer),
// half-closes, and reads until the server closes, `quiet` passes without a byte, or kReadCap.
// A server that closes before it has read everything is fine (EPIPE, ECONNRESET).
Received exchange(std::uint16_t port, std::string_view request, std::chrono::milliseconds quiet) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  check(fd >= 0, "no socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  check(::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr) == 1, "inet_pton");
  check(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0, "cannot connect to the server");
  check(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) == 0, "fcntl");

  Received got;
  const auto start = Clock::now();
  auto last_news = start;  // the last byte received, or the end of the write
  bool writing = true;
  for (;;) {
    if (writing && request.empty()) {
      ::shutdown(fd, SHUT_WR);
      writing = false;
      last_news = Clock::now();
    }
    const auto deadline = writing ? start + kReadCap : std::min(last_news + quiet, start + kReadCap);
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      got.cut = true;
      break;
    }
    pollfd waiting{.fd = fd, .events = static_cast<short>(POLLIN | (writing ? POLLOUT : 0)), .revents = 0};
    if (::poll(&waiting, 1, static_cast<int>(left)) < 0) {
      check(errno == EINTR, "poll");
      continue;
    }
    if (writing && (waiting.revents & (POLLOUT | POLLERR | POLLHUP))) {
      const ssize_t n = ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
      if (n > 0) {
        request.remove_prefix(static_cast<std::size_t>(n));
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        writing = false;  // the server closed: what it wrote is still to be read
        last_news = Clock::now();
      }
    }
    if (waiting.revents & (POLLIN | POLLERR | POLLHUP)) {
      char buffer[16384];
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n > 0) {
        got.bytes.append(buffer, static_cast<std::size_t>(n));
        last_news = Clock::now();
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        break;  // closed (or reset, after what it wrote)
      }
    }
  }
  ::close(fd);
  return got;
}

// --- what was sent -------------------------------------------------------------------------------

// Runs `parser` over the front of `bytes` and removes what it used: no error when a message is
// complete; partial_message when the bytes end first, which is what the parser says at the end of
// the stream.
template <class Parser>
beast::error_code feed(Parser& parser, std::string_view& bytes) {
  while (!parser.is_done()) {
    beast::error_code ec;
    const std::size_t used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
    bytes.remove_prefix(used);
    if (ec && ec != http::error::need_more) return ec;
    // Out of bytes: in a body put() may say so without need_more.
    if (used == 0 && !parser.is_done()) return http::error::partial_message;
  }
  return {};
}

struct SentRequest {
  http::verb method = http::verb::unknown;
  bool keep_alive = false;
  bool http10 = false;
  std::string session;      // its Mcp-Session-Id
  bool initialize = false;  // a POST whose body is an initialize request
  // The bytes past the last request that parsed, when they do not: the error the server's parser
  // gives them (partial_message when they end before the request does), and whether the server
  // owes them an answer (see refusal_due).
  beast::error_code refused;
  bool answer_due = false;
  // The header block does not end within kMaxHeaderBytes: the server may answer 431 whatever
  // else the harness, which parses the block at once, makes of it (see kSureHeaderLimit).
  bool header_past_limit = false;
};

// Whether the server, reading `bytes` in whatever pieces, is bound to see the fault the harness's
// parser finds in them at once (`refused`), and so to answer it. It is, but for the end of the
// stream cutting a request short, and a header block past the limit without its end in fewer
// than kSureHeaderLimit bytes: while the server has not found the end of a block, it looks only
// for that end, and may wait for more until the stream ends.
bool refusal_due(beast::error_code refused, bool header_past_limit, std::size_t bytes) {
  if (refused == http::error::partial_message) return false;
  return !header_past_limit || bytes >= kSureHeaderLimit || refused == http::error::body_limit;
}

// The requests the server reads from `bytes`: Beast's parser as the server sets it up, one
// message after another on the same buffer, except for the header limit (see kSureHeaderLimit).
std::vector<SentRequest> split_requests(std::string_view bytes) {
  std::vector<SentRequest> sent;
  while (!bytes.empty()) {
    const std::size_t end = bytes.find("\r\n\r\n");
    const bool header_past_limit = end == std::string_view::npos || end + 4 > kMaxHeaderBytes;
    http::request_parser<http::string_body> parser;
    parser.header_limit(kSureHeaderLimit);
    parser.body_limit(kMaxBodyBytes);
    parser.eager(true);
    const std::size_t available = bytes.size();
    if (const auto ec = feed(parser, bytes)) {
      sent.push_back({.refused = ec,
                      .answer_due = refusal_due(ec, header_past_limit, available),
                      .header_past_limit = header_past_limit});
      break;
    }
    const auto& request = parser.get();
    const auto message = jsonrpc::decode(request.body());
    sent.push_back({.method = request.method(),
                    .keep_alive = request.keep_alive(),
                    .http10 = request.version() == 10,
                    .session = std::string(request["Mcp-Session-Id"]),
                    .initialize = request.method() == http::verb::post && message &&
                                  message->kind() == jsonrpc::MessageKind::request && message->method() == "initialize",
                    .header_past_limit = header_past_limit});
  }
  return sent;
}

// --- what came back ------------------------------------------------------------------------------

using Response = http::response<http::string_body>;

bool allowed_status(unsigned status) {
  static constexpr std::array<unsigned, 13> kAllowed{200, 202, 400, 403, 404, 405, 406, 408, 409, 413, 415, 431, 503};
  return std::find(kAllowed.begin(), kAllowed.end(), status) != kAllowed.end();
}

bool has_type(const Response& response, std::string_view type) {
  return std::string_view(response[http::field::content_type]).starts_with(type);
}

void check_message(std::string_view text, bool error_status) {
  const auto message = jsonrpc::decode(text);
  check(message.has_value(), "a JSON-RPC message that does not decode");
  if (error_status) check(message->kind() == jsonrpc::MessageKind::error_response, "an error status without a JSON-RPC error");
  if (message->kind() != jsonrpc::MessageKind::error_response) return;
  check(message->error_code() != jsonrpc_code::internal_error, "an internal error answers the client's input");
  check(message->error_code() != 0 && !message->error_message().empty(), "an error without code or message");
}

void check_event_stream(std::string_view body) {
  sse::Parser parser;
  std::vector<sse::Event> events;
  check(parser.feed(body, events).has_value(), "an SSE body that does not parse");
  for (const auto& event : events) {
    if (!event.data.empty()) check_message(event.data, false);
  }
}

// The response's status, headers and body, given the request it answers.
void check_response(const Mode& mode, const SentRequest& request, const Response& response) {
  const unsigned status = response.result_int();
  check(allowed_status(status), "a status the server may not send");
  const std::string_view body = response.body();
  const bool error_status = status >= 400;
  if (has_type(response, "application/json")) {
    if (request.method != http::verb::head) check_message(body, error_status);
  } else if (has_type(response, "text/event-stream")) {
    check(status == 200, "an SSE stream with an error status");
    check_event_stream(body);
  } else {
    check(body.empty(), "a body of no known type");
    check(!error_status || request.method == http::verb::head, "an error status without a JSON-RPC error");
  }

  const std::string_view named = response["Mcp-Session-Id"];
  if (mode.stateless) {
    check(named.empty(), "a stateless server names a session");
  } else if (!request.session.empty()) {
    check(named.empty() || named == request.session, "a response names another session than its request");
    if (status == 200 && !body.empty()) check(named == request.session, "a response with a body does not name its session");
  } else {
    check(named.empty() || request.initialize, "a response names a session its request did not");
    if (request.initialize && status == 200) check(!named.empty(), "an initialize answered without its new session");
  }
}

// The response to bytes the server's parser refuses, or to a header block past the limit (see
// SentRequest::header_past_limit): a body past max_body_bytes gets 413, headers past
// max_header_bytes 431, anything else Beast cannot parse 400 (with a JSON-RPC error, like every
// error status), and the connection ends.
void check_refusal(const SentRequest& request, const Response& response) {
  check(!response.keep_alive(), "a refused request's response keeps the connection");
  const unsigned status = response.result_int();
  if (status == 431 && request.header_past_limit) return;
  if (request.refused == http::error::body_limit) {
    check(status == 413, "a body past the limit not answered 413");
  } else if (request.refused == http::error::header_limit) {
    check(status == 431, "headers past the limit not answered 431");
  } else {
    check(status == 400, "a request that does not parse not answered 400");
  }
}

// How many responses the server owes once it has closed: one per request up to the first that
// ends the connection, and one to the bytes it refuses where it is bound to see their fault.
std::size_t required_responses(const std::vector<SentRequest>& sent) {
  std::size_t due = 0;
  for (const auto& request : sent) {
    if (request.refused) return request.answer_due ? due + 1 : due;
    ++due;
    if (!request.keep_alive) break;
  }
  return due;
}

struct Answer {
  unsigned status = 0;
  std::string session;
  bool complete = true;
};

// Parses and checks everything `got` holds as the responses to the requests in `sent_bytes`.
std::vector<Answer> check_exchange(const Mode& mode, std::string_view sent_bytes, const Received& got) {
  const auto sent = split_requests(sent_bytes);
  std::vector<Answer> answers;
  bool refused = false;  // the server answered a request it refused, and closes
  bool ended_by_close = false;  // a response the close delimits, which ends the connection
  std::string_view rest = got.bytes;
  while (!rest.empty()) {
    check(!refused, "a response after a refusal");
    check(answers.size() < sent.size(), "a response that answers no request");
    const SentRequest& request = sent[answers.size()];
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    parser.eager(true);
    if (request.method == http::verb::head) parser.skip(true);  // a response to HEAD has no body
    auto ec = feed(parser, rest);
    if (parser.is_header_done() && parser.need_eof()) {
      check(request.http10 && has_type(parser.get(), "text/event-stream"),
            "a response framed by the end of the connection, other than SSE to HTTP/1.0");
      ended_by_close = true;
      if (ec == http::error::partial_message && !got.cut) {
        ec = {};
        parser.put_eof(ec);
      }
    }
    const bool complete = !ec;
    if (!complete) {
      check(ec == http::error::partial_message, "bytes that are not an HTTP response");
      // Only an SSE stream stays open (a GET stream, or one the server is still writing).
      check(got.cut && parser.is_header_done() && has_type(parser.get(), "text/event-stream"), "a response cut short");
    }
    check_response(mode, request, parser.get());
    refused = request.refused || (request.header_past_limit && parser.get().result_int() == 431);
    if (refused) check_refusal(request, parser.get());
    answers.push_back({.status = parser.get().result_int(),
                       .session = std::string(parser.get()["Mcp-Session-Id"]),
                       .complete = complete});
    if (!complete) break;
  }
  if (!got.cut && !refused && !ended_by_close)
    check(answers.size() >= required_responses(sent), "the server closed without answering a request");
  return answers;
}

// --- the harness's own requests ------------------------------------------------------------------

std::string post(std::string_view body, std::string_view session = {}, std::string_view path = "/mcp") {
  std::string out = "POST ";
  out.append(path).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          "Accept: application/json, text/event-stream\r\nConnection: close\r\n");
  if (!session.empty()) out.append("Mcp-Session-Id: ").append(session).append("\r\n");
  out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n").append(body);
  return out;
}

// One well-formed request on its own connection: checked like the input's, answered in time.
Answer round_trip(std::uint16_t port, const Mode& mode, const std::string& request) {
  const auto got = exchange(port, request, kReadCap);
  check(!got.cut, "a well-formed request not answered within 2 s");
  const auto answers = check_exchange(mode, request, got);
  check(answers.size() == 1, "a well-formed request without its one response");
  return answers.front();
}

// A session for the input's $SESSION; empty when the server is full (503).
std::string open_session(std::uint16_t port, const Mode& mode) {
  const auto initialized = round_trip(
      port, mode,
      post(R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",)"
           R"("capabilities":{},"clientInfo":{"name":"fuzz","version":"1"}}})"));
  if (initialized.status == 503) return {};
  check(initialized.status == 200 && !initialized.session.empty(), "the harness's initialize fails");
  const auto notified = round_trip(port, mode, post(R"({"jsonrpc":"2.0","method":"notifications/initialized"})", initialized.session));
  check(notified.status == 202, "the harness's notifications/initialized is not accepted");
  return initialized.session;
}

// A request every server answers at once: a ping where there are no sessions, an unknown path
// where there are.
void check_alive(std::uint16_t port, const Mode& mode) {
  if (mode.stateless) {
    check(round_trip(port, mode, post(R"({"jsonrpc":"2.0","id":"alive","method":"ping"})")).status == 200,
          "the server no longer answers a ping");
  } else {
    check(round_trip(port, mode, post("{}", {}, "/alive")).status == 404, "the server no longer answers 404");
  }
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) text.replace(at, from.size(), to);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  auto& f = fixture();
  const Mode& mode = kModes[data[0] % kModes.size()];
  const std::uint16_t port = f.http[data[0] % kModes.size()]->port();
  std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);

  std::string session;
  if (bytes.find(kSessionToken) != std::string::npos) {
    if (!mode.stateless) session = open_session(port, mode);
    replace_all(bytes, kSessionToken, session);
  }

  const auto got = exchange(port, bytes, kQuiet);
  if (verbose()) {
    std::fprintf(stderr, "> %s\n< %s\n%s\n", bytes.c_str(), got.bytes.c_str(), got.cut ? "(cut: the server kept it open)" : "(closed)");
  }
  check_exchange(mode, bytes, got);
  check_alive(port, mode);
  if (!session.empty()) {
    const std::string request = "DELETE /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nMcp-Session-Id: " + session + "\r\nConnection: close\r\n\r\n";
    check_exchange(mode, request, exchange(port, request, kReadCap));  // any status: the input may have deleted it
  }
  return 0;
}
