// trellis/streamable_http_server.hpp — MCP Streamable HTTP (2025-11-25) for a trellis::Server.
//
//   trellis::Server server(...);
//   trellis::StreamableHttpServer http(server, {.port = 8080});
//   if (auto started = http.start(); !started) { ... started.error() ... }
//   http.wait();                       // until stop() (e.g. from a signal watcher)
//
// One endpoint (default /mcp): POST carries one JSON-RPC message and is answered with JSON or an
// SSE stream; GET opens the session's standalone SSE stream (or resumes any stream with
// Last-Event-ID); DELETE ends the session. Sessions are named by a 128-bit random
// Mcp-Session-Id issued at initialize. Every SSE event has an id unique in its session that names
// its stream; events are kept in a bounded per-session store so a dropped stream can be resumed
// without loss or repetition. Host and Origin are checked against allow-lists (DNS rebinding);
// the default bind address is 127.0.0.1. A request that is not valid HTTP gets 400, one whose
// headers or body are too large 431 or 413, one that does not arrive in time 408; then the
// connection closes, after reading what the client still sends so that it gets to see the answer.
#pragma once

#include "trellis/error.hpp"
#include "trellis/server.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace trellis {

struct HttpServerOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 8080;  // 0: an ephemeral port (see port())
  std::string path = "/mcp";
  bool json_response = false;  // answer POSTed requests with one JSON body instead of an SSE stream
  bool stateless = false;      // no sessions: every POST stands alone; GET and DELETE answer 405
  // Accepted Origin values (exact, e.g. "https://app.example.com"). Empty: loopback origins only
  // (http(s)://localhost, 127.0.0.1 or [::1], any port). Requests without Origin are accepted.
  std::vector<std::string> allowed_origins;
  // Accepted Host names (without port). Empty: localhost, 127.0.0.1 and [::1] when bound to a
  // loopback address, anything otherwise.
  std::vector<std::string> allowed_hosts;
  std::size_t max_body_bytes = 4 * 1024 * 1024;        // larger POST bodies: 413
  // The request line and headers: up to this size always accepted; larger: 431, at the latest
  // past twice this size (Beast counts from the first header field it had to wait for).
  std::size_t max_header_bytes = 16 * 1024;
  // A connection ready for a request (new, or after its last response) that has not received a
  // whole one this long after is closed: with 408 when part of a request came, silently when
  // none did. Stalled or slow clients cannot hold a connection forever. Checked once a second.
  std::chrono::seconds request_timeout{60};
  // A connection whose client has taken no byte of what the server is writing to it for this long
  // is closed (as nginx's send_timeout): a client that stops reading cannot hold its connection
  // and its response forever. Checked once a second.
  std::chrono::seconds send_timeout{60};
  std::chrono::milliseconds sse_retry{1000};           // the `retry` of every priming event
  std::size_t max_stored_events = 1000;                // per session, for resumption (oldest dropped)
  // The same in bytes; the newest event is kept whatever its size (but see the next one).
  std::size_t max_stored_event_bytes = 16 * 1024 * 1024;
  // What the stores of all sessions hold together. Past it, a session stores no more events (its
  // clients still get them live) until room frees: resumption degrades, memory stays bounded.
  std::size_t max_total_stored_event_bytes = std::size_t{1} << 30;
  std::chrono::seconds session_idle_timeout{300};      // no request and no open stream: expired (404)
  std::size_t max_sessions = 100'000;                  // open at once; one more initialize: 503
  // Open at once (each holds a descriptor and its buffers); one more is answered 503 and closed
  // before its request is read.
  std::size_t max_connections = 65'536;
  // SSE events handed to a connection and not yet written, because its client reads slower than
  // the session sends (or not at all). When more than this waits, the connection is cut; the
  // client resumes with Last-Event-ID from the session's store.
  std::size_t max_unsent_sse_bytes = 16 * 1024 * 1024;
  std::chrono::seconds heartbeat{30};                  // SSE comment on otherwise idle streams
  std::size_t io_threads = 2;
};

class StreamableHttpServer {
 public:
  StreamableHttpServer(Server& server, HttpServerOptions options);
  ~StreamableHttpServer();  // stop()
  StreamableHttpServer(const StreamableHttpServer&) = delete;
  StreamableHttpServer& operator=(const StreamableHttpServer&) = delete;

  // Binds and starts serving on io_threads threads. Errors: kind `config` (bad address, port in use).
  Result<void> start();
  // The bound port (after start()).
  std::uint16_t port() const noexcept;
  // Graceful: stop accepting, drain every session (requests in flight finish, up to the Server's
  // drain_timeout; then their stop tokens are requested), end the streams, and close each
  // connection once the response it is writing is out (up to one more drain_timeout; then it is
  // cut). Returns only once every handler of this server's requests has returned, even one that
  // ignores its stop token (a warning is logged every drain_timeout while it waits), since its
  // worker still touches this server's event loop. From a handler it waits for neither.
  void stop();
  // Blocks until stop() has finished.
  void wait();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace trellis
