// trellis/client_transport.hpp — what a Client connection needs from a transport.
//
// A ClientTransport carries JSON-RPC messages between one Client connection and one server, for
// one connection generation: when it fails, the connection throws it away and asks the factory
// for a new one (a new process, a new HTTP session), so a transport never has to heal itself.
//
// Contract:
//  - start() begins connecting and returns at once; messages may be sent right after it. It is
//    given the executor the connection runs on (one thread at a time): a transport may run its
//    I/O there (stdio does, so a response reaches its caller without a thread hand-off) or on
//    threads of its own (HTTP does).
//  - send() queues one message (compact JSON, no framing) and returns at once; it copies what it
//    keeps, so the caller's text need only live for the call. The message comes with its kind,
//    id and method, which the caller knows from encoding it, so no transport parses it again.
//    It fails with kind `backpressure` when the transport's bounded queue is full (the caller
//    retries, with the same text), and with kind `transport` once it has failed or closed.
//  - Every incoming message and the failure are reported through Events, one at a time and in
//    arrival order, on that executor or on the transport's own thread. `failed` is reported at
//    most once, and nothing is reported after it or after close().
//  - start(), send() and close() are called on that executor (or, for close(), once it has
//    stopped running): a transport that runs its I/O there needs no locks. The transport is
//    destroyed before the execution context behind that executor.
//  - A message larger than Options::max_frame_bytes is never delivered: the transport fails with
//    kind `protocol`.
//  - close() is graceful (stdio: close stdin, wait, SIGTERM, wait, SIGKILL; HTTP: DELETE the
//    session) and does not report `failed`.
#pragma once

#include "trellis/error.hpp"
#include "trellis/jsonrpc.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trellis {

// One message handed to ClientTransport::send().
struct OutgoingMessage {
  std::string_view json;  // compact JSON-RPC, no framing
  jsonrpc::MessageKind kind = jsonrpc::MessageKind::notification;
  jsonrpc::Id id;           // requests and answers
  std::string_view method;  // requests and notifications
};

class ClientTransport {
 public:
  struct Events {
    std::function<void(jsonrpc::Message)> message;
    // The transport is gone (process exited, connection lost beyond resumption, protocol error).
    std::function<void(Error)> failed;
    // HTTP: the server answered 404 for our Mcp-Session-Id; the session must be initialized again.
    std::function<void()> session_lost;
  };

  virtual ~ClientTransport() = default;

  virtual void start(Events events, boost::asio::any_io_executor executor) = 0;
  virtual Result<void> send(const OutgoingMessage& message) = 0;
  virtual void close() = 0;

  // Whether in-flight requests survive a dropped connection (Streamable HTTP with event ids can
  // resume a stream with Last-Event-ID; stdio cannot).
  virtual bool resumable() const noexcept = 0;
  // Called by the connection once initialize succeeded: HTTP sends it as MCP-Protocol-Version on
  // every later request and opens the GET stream for server-initiated messages.
  virtual void initialized(std::string_view protocol_version) = 0;
  // "stdio pid 1234", "http http://127.0.0.1:8080/mcp session 3f2a…": for logs and errors.
  virtual std::string describe() const = 0;
};

// Limits and settings shared by the built-in transports.
struct ClientTransportOptions {
  std::size_t max_frame_bytes = 16 * 1024 * 1024;
  std::size_t max_queued_bytes = 64 * 1024 * 1024;  // send() reports backpressure beyond this
};

// Spawns `command` with `args` and talks newline-delimited JSON over its stdin/stdout, on the
// connection's executor (no threads of its own). The child's stdin is a Unix socket pair, as
// Node.js gives its children, so that a child that dies cannot raise SIGPIPE in our process.
struct StdioTransportOptions {
  std::string command;                  // looked up in PATH when it has no slash
  std::vector<std::string> args;
  std::map<std::string, std::string> env;  // added to (and overriding) the inherited environment
  std::string cwd;                      // empty: inherit
  // Each line the server writes to stderr (without the newline); empty: inherit our stderr.
  std::function<void(std::string_view line)> on_stderr;
  std::chrono::milliseconds terminate_grace{2000};  // close stdin → SIGTERM → SIGKILL, each this apart
  ClientTransportOptions limits;
};
std::unique_ptr<ClientTransport> make_stdio_transport(StdioTransportOptions options);

// Streamable HTTP (http:// and https://).
struct HttpTransportOptions {
  std::string url;                           // e.g. http://127.0.0.1:8080/mcp
  std::map<std::string, std::string> headers;  // extra request headers (e.g. Authorization)
  std::chrono::milliseconds connect_timeout{10'000};
  // Resumption of a dropped SSE stream: attempts before the transport fails, and the delay used
  // when the server sent no `retry` field.
  int max_resume_attempts = 3;
  std::chrono::milliseconds default_retry{1000};
  bool verify_tls = true;
  // Keep-alive connections open at once, the GET stream's included (at least 2). A POST holds its
  // connection until its answer ends; messages beyond wait, first come first served, for one.
  std::size_t max_connections = 16;
  ClientTransportOptions limits;
};
std::unique_ptr<ClientTransport> make_http_transport(HttpTransportOptions options);

// Makes a fresh transport for each connection generation.
using TransportFactory = std::function<std::unique_ptr<ClientTransport>()>;

}  // namespace trellis
