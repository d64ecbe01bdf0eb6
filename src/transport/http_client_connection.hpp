// transport/http_client_connection.hpp — keep-alive HTTP/1.1 connections (plain or TLS) and the
// small bounded pool the Streamable HTTP client transport draws them from.
//
// Everything here runs on one strand (the transport's); nothing takes a lock. The operations are
// coroutines (asio::awaitable) that report failures as error codes, never as exceptions:
//
//   http_client::Pool pool(endpoint, {.tls = &tls_context, .verify_tls = true});
//   auto lease = co_await pool.acquire();           // idle and healthy, or freshly connected
//   if (!lease) co_return fail(lease.error());
//   auto ec = co_await (*lease)->write(request);
//   ...
//   lease->recycle();                                // keep-alive: back to the idle list
//
// A Lease that is destroyed without recycle() closes its connection: a half-read response never
// poisons the next request.
#pragma once

#include "trellis/error.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

namespace trellis::http_client {

// Where the transport connects, parsed once from HttpTransportOptions::url.
struct Endpoint {
  std::string url;          // as given
  bool tls = false;         // https
  std::string host;         // for DNS, SNI and certificate checks (IPv6 without brackets)
  std::string port;         // "80", "443" or the explicit port
  std::string target;       // path and query, at least "/"
  std::string host_header;  // Host: host[:port] (IPv6 in brackets, default port left out)
  bool host_is_address = false;  // an IP literal: no SNI

  // An http:// or https:// URL with a host. Fails with kind `config` naming the URL and the rule.
  static Result<Endpoint> parse(std::string_view url);
};

using Request = boost::beast::http::request<boost::beast::http::string_body>;
// Responses are read with a buffer_body so bodies of any length (SSE streams) are streamed
// through a fixed buffer; the transport enforces its own limits on what it keeps.
using ResponseParser = boost::beast::http::response_parser<boost::beast::http::buffer_body>;

// One HTTP/1.1 connection. Not thread-safe: used on the transport's strand only.
class Connection {
 public:
  // `tls` is null for http://.
  Connection(boost::asio::any_io_executor executor, boost::asio::ssl::context* tls);

  // Resolves, connects and, for https, runs the TLS handshake with SNI and (when verify_tls)
  // certificate and host name verification. The connect and the handshake share `timeout`
  // (name resolution is bounded by the system resolver's own timeouts).
  boost::asio::awaitable<boost::system::error_code> connect(const Endpoint& endpoint, bool verify_tls,
                                                            std::chrono::milliseconds timeout);
  boost::asio::awaitable<boost::system::error_code> write(Request& request);
  boost::asio::awaitable<boost::system::error_code> read_header(ResponseParser& parser);
  // What one read_some() delivered: the body bytes that arrived (a view of the connection's read
  // chunk, valid until its next read) and the error, if the read failed.
  struct BodyPart {
    boost::system::error_code error;
    std::string_view bytes;
  };
  // Reads and parses some more of the body, into a chunk of kBodyChunk bytes that the connection
  // keeps for all its exchanges: allocated on first use and never zeroed (a fresh zeroed 64 KiB
  // buffer per exchange had been most of the client's CPU for small answers).
  boost::asio::awaitable<BodyPart> read_some(ResponseParser& parser);
  static constexpr std::size_t kBodyChunk = 64 * 1024;

  // Later operations fail with beast::error::timeout (and close the connection) when they do
  // not complete within `timeout`; clear_timeout() lifts the limit again.
  void set_timeout(std::chrono::milliseconds timeout);
  void clear_timeout();

  // Whether an idle connection still looks usable: the peer has neither closed it nor sent
  // anything unasked (a server closing idle keep-alive connections shows up here).
  bool healthy() noexcept;
  // Aborts every pending operation and closes the socket. Idempotent.
  void close() noexcept;

  // Completed at least one exchange (so it may have been closed by the server while idle).
  bool used = false;

 private:
  boost::beast::tcp_stream& lowest_layer() noexcept;

  boost::asio::ip::tcp::resolver resolver_;
  std::optional<boost::beast::tcp_stream> plain_;
  std::optional<boost::beast::ssl_stream<boost::beast::tcp_stream>> tls_;
  boost::beast::flat_buffer buffer_;
  std::string head_;  // of the request being written
  std::unique_ptr<char[]> body_chunk_;
};

class Pool;

// Exclusive use of one connection for one exchange. Move-only. Destroyed without recycle(), it
// closes the connection.
class Lease {
 public:
  Lease() = default;
  Lease(Pool* pool, std::unique_ptr<Connection> connection, bool from_idle) noexcept
      : pool_(pool), connection_(std::move(connection)), from_idle_(from_idle) {}
  Lease(Lease&& other) noexcept = default;
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease() { discard(); }

  Connection* operator->() const noexcept { return connection_.get(); }
  Connection& operator*() const noexcept { return *connection_; }
  explicit operator bool() const noexcept { return connection_ != nullptr; }

  // Whether the connection was taken from the idle list (rather than connected for this lease).
  bool from_idle() const noexcept { return from_idle_; }

  // The exchange completed and the server keeps the connection open: reuse it. `exchanged`
  // false puts back a connection that was never used (its health is then not checked on reuse:
  // a TLS server's session tickets may still be unread).
  void recycle(bool exchanged = true) noexcept;
  // Close the connection and free its slot.
  void discard() noexcept;

 private:
  Pool* pool_ = nullptr;
  std::unique_ptr<Connection> connection_;
  bool from_idle_ = false;
};

struct PoolOptions {
  boost::asio::ssl::context* tls = nullptr;  // null for http://
  bool verify_tls = true;
  std::chrono::milliseconds connect_timeout{10'000};
  // Connections in use at once (each open SSE stream holds one); acquire() waits beyond this.
  std::size_t max_active = 16;
  // Idle keep-alive connections kept for reuse; more are closed.
  std::size_t max_idle = 4;
};

// Bounded set of connections to one endpoint. It holds no executor of its own: connections use
// the executor of the coroutine that acquires them, so a pool may outlive its io_context once
// close_all() has run.
class Pool {
 public:
  Pool(Endpoint endpoint, PoolOptions options);
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  ~Pool();

  // A connection for one exchange: a healthy idle one (most recently used first) unless `fresh`,
  // otherwise a new one. Waits while max_active connections are in use. Fails with kind
  // `transport` when connecting fails or the pool is closed.
  boost::asio::awaitable<Result<Lease>> acquire(bool fresh = false);

  // Closes every connection, idle and in use (their pending operations fail with
  // operation_aborted), wakes every waiter, and makes later acquire() calls fail.
  void close_all() noexcept;

  bool closed() const noexcept { return closed_; }
  std::size_t active() const noexcept { return active_.size(); }
  std::size_t idle() const noexcept { return idle_.size(); }

 private:
  friend class Lease;
  void give_back(std::unique_ptr<Connection> connection, bool reusable) noexcept;
  void wake_one() noexcept;

  Endpoint endpoint_;
  PoolOptions options_;
  std::unordered_set<Connection*> active_;  // connecting or in use; owned by their Lease or frame
  std::deque<std::unique_ptr<Connection>> idle_;
  // acquire() calls waiting for a slot, first come first served.
  struct Waiter {
    boost::asio::steady_timer* wakeup;
    Lease* handed;  // where give_back() puts a connection it hands over directly
    bool fresh;     // wants a new connection, so is only woken when a slot frees
  };
  std::deque<Waiter> waiters_;
  bool closed_ = false;
};

}  // namespace trellis::http_client
