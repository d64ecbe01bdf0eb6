// StreamableHttpServer: the listener, one Connection per TCP connection, request routing and
// validation, and the session registry with idle expiry and heartbeats.
#include "trellis/streamable_http_server.hpp"

#include "sse_streams.hpp"

#include "server/worker_pool.hpp"
#include "trellis/server_session.hpp"
#include "trellis/telemetry/log.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <condition_variable>
#include <functional>
#include <random>
#include <thread>
#include <unordered_map>

#include <sys/random.h>

namespace trellis {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using telemetry::Logger;

namespace {

std::string new_session_id() {
  unsigned char bytes[16];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    const ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n > 0) got += static_cast<std::size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

bool is_loopback_name(std::string_view host) { return host == "localhost" || host == "127.0.0.1" || host == "[::1]" || host == "::1"; }

// "host:port", "[::1]:port" or "host" → host.
std::string_view strip_port(std::string_view authority) {
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    return close == std::string_view::npos ? authority : authority.substr(0, close + 1);
  }
  const auto colon = authority.find(':');
  return colon == std::string_view::npos ? authority : authority.substr(0, colon);
}

// ASCII case-insensitive search (media types and header tokens), without boost's locale-aware
// comparison, which costs a std::locale per call.
bool contains_ignoring_case(std::string_view text, std::string_view token) {
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return std::search(text.begin(), text.end(), token.begin(), token.end(),
                     [&](char a, char b) { return lower(a) == lower(b); }) != text.end();
}

// A header value quoted in an error message: at most 64 bytes, anything but printable ASCII as
// '?', so that the JSON body stays valid UTF-8 whatever bytes the client sent.
std::string printable(std::string_view value) {
  std::string out(value.substr(0, 64));
  for (char& c : out)
    if (c < 0x20 || c > 0x7e) c = '?';
  return out;
}

bool accepts(std::string_view accept, std::string_view type) {
  return accept.find(type) != std::string_view::npos || accept.find("*/*") != std::string_view::npos;
}

}  // namespace

namespace http_detail {
class HttpConnection;
}

// One MCP session over HTTP: the engine's Session plus its SSE streams.
struct HttpSession {
  std::shared_ptr<Session> session;
  std::shared_ptr<http_detail::SessionStreams> streams;  // none for a stateless session in JSON-response mode
  std::atomic<std::int64_t> last_activity_ms{0};
  std::atomic<int> requests_in_flight{0};
};

struct StreamableHttpServer::Impl : std::enable_shared_from_this<StreamableHttpServer::Impl> {
  Impl(Server& s, HttpServerOptions o)
      : server(s), options(std::move(o)), acceptor(asio::make_strand(io)), accept_retry(acceptor.get_executor()), sweeper(io) {}

  Server& server;
  HttpServerOptions options;
  asio::io_context io;
  // The acceptor, its retry timer and stop()'s close share one strand: an acceptor is not safe
  // to use from two threads at once.
  tcp::acceptor acceptor;
  asio::steady_timer accept_retry;
  bool accept_failing = false;  // logged once per run of failures
  asio::steady_timer sweeper;
  // Counts sweeps (one a second) from 1. A connection notes it when it starts waiting for a
  // request, which costs a relaxed load where a clock read would cost a call.
  std::atomic<std::uint32_t> sweep_tick{1};
  // Shared with every session's event store, which may outlive this server.
  std::shared_ptr<http_detail::StoreBudget> store_budget =
      std::make_shared<http_detail::StoreBudget>(options.max_total_stored_event_bytes);
  std::vector<std::thread> threads;
  std::uint16_t bound_port = 0;
  bool loopback_bind = true;

  std::mutex sessions_mutex;
  std::unordered_map<std::string, std::shared_ptr<HttpSession>> sessions;

  std::mutex state_mutex;
  std::condition_variable stopped_cv;
  bool running = false;
  bool stopped = false;

  // For stop() and request_timeout (sweep()). Closed connections are pruned when the list has
  // doubled since the last prune, which keeps accept() O(1) amortized however many are open.
  std::mutex connections_mutex;
  std::vector<std::weak_ptr<http_detail::HttpConnection>> connections;
  std::atomic<std::size_t> open_connections{0};  // HttpConnection objects alive
  std::size_t connections_prune_at = 64;

  // Replies (the Outbound of one POSTed request) that exist. A worker lets go of its reply last of
  // all it holds (see WorkerHold in session.cpp), so once none is left no handler can touch this
  // io_context any more: stop() waits for that before it stops the io_context.
  std::atomic<std::size_t> replies_alive{0};

  static std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }

  std::shared_ptr<HttpSession> find_session(const std::string& id) {
    std::lock_guard lock(sessions_mutex);
    const auto it = sessions.find(id);
    return it == sessions.end() ? nullptr : it->second;
  }

  bool sessions_full() {
    std::lock_guard lock(sessions_mutex);
    return sessions.size() >= options.max_sessions;
  }

  // A new session, or nullptr when max_sessions stateful ones are open. A stateful session, which
  // outlives connections, gets a strand of its own. A stateless one lives for one request of one
  // connection and runs on that connection's strand (`connection`): a strand of its own cost a
  // strand's creation and a hand-off between the two strands on every request (stateless, 64
  // connections: about 6 % of the requests/s).
  std::shared_ptr<HttpSession> create_session(Session::Mode mode, const asio::any_io_executor& connection) {
    // Refused before anything is built, so that a flood of initializes at the limit costs no
    // session it would throw away; the check at the insert below keeps the limit exact when two
    // initializes race for the last place.
    if (mode == Session::Mode::stateful && sessions_full()) return nullptr;
    auto entry = std::make_shared<HttpSession>();
    const std::string id = mode == Session::Mode::stateful ? new_session_id() : std::string();
    const asio::any_io_executor strand = mode == Session::Mode::stateful ? asio::make_strand(io) : connection;
    entry->session = Session::create(server.core(), strand, id, mode, shared_from_this());
    entry->last_activity_ms = now_ms();
    // A stateless session has no GET stream to stand alone on, and in JSON-response mode no
    // request stream either: then it needs no streams at all.
    if (mode == Session::Mode::stateless && options.json_response) return entry;
    entry->streams = std::make_shared<http_detail::SessionStreams>(options.max_stored_events, options.max_stored_event_bytes,
                                                                   options.sse_retry, store_budget, id);
    if (mode == Session::Mode::stateful) {
      entry->session->set_standalone(entry->streams->outbound(http_detail::SessionStreams::kStandalone));
      std::weak_ptr<Impl> weak = weak_from_this();
      entry->session->on_closed([weak, id, streams = entry->streams] {
        streams->close_all();
        if (auto self = weak.lock()) {
          std::lock_guard lock(self->sessions_mutex);
          self->sessions.erase(id);
        }
      });
      std::lock_guard lock(sessions_mutex);
      if (sessions.size() >= options.max_sessions) {
        entry->session->close();
        return nullptr;
      }
      sessions.emplace(id, entry);
    }
    return entry;
  }

  bool host_allowed(std::string_view host_header) const {
    const auto host = strip_port(host_header);
    if (!options.allowed_hosts.empty())
      return std::find(options.allowed_hosts.begin(), options.allowed_hosts.end(), host) != options.allowed_hosts.end();
    return !loopback_bind || is_loopback_name(host);
  }

  bool origin_allowed(std::string_view origin) const {
    if (origin.empty()) return true;
    if (!options.allowed_origins.empty())
      return std::find(options.allowed_origins.begin(), options.allowed_origins.end(), origin) != options.allowed_origins.end();
    const auto scheme = origin.find("://");
    if (scheme == std::string_view::npos) return false;
    return is_loopback_name(strip_port(origin.substr(scheme + 3)));
  }

  void accept();
  void accept_failed(const beast::error_code& ec);
  void refuse_connection(tcp::socket& socket);
  void sweep();
  void wait_for_replies();
  void wait_for_connections(std::chrono::steady_clock::time_point deadline);
  void for_each_connection(const std::function<void(http_detail::HttpConnection&)>& fn);
};

namespace http_detail {

// The first member of every reply, so that it goes after everything else the reply holds (a
// connection, a session: both belong to the io_context). It keeps the Impl so that the count
// outlives its decrement.
class ReplyLease {
 public:
  explicit ReplyLease(std::shared_ptr<StreamableHttpServer::Impl> server) : server_(std::move(server)) {
    server_->replies_alive.fetch_add(1, std::memory_order_relaxed);
  }
  ~ReplyLease() { server_->replies_alive.fetch_sub(1, std::memory_order_release); }
  ReplyLease(const ReplyLease&) = delete;
  ReplyLease& operator=(const ReplyLease&) = delete;

 private:
  std::shared_ptr<StreamableHttpServer::Impl> server_;
};

// One TCP connection: reads requests one after another (keep-alive); a request answered with
// SSE turns the connection into that stream's writer until the stream ends.
class HttpConnection final : public SseSink, public std::enable_shared_from_this<HttpConnection> {
 public:
  HttpConnection(tcp::socket socket, std::shared_ptr<StreamableHttpServer::Impl> server)
      : socket_(std::move(socket)), server_(std::move(server)) {
    server_->open_connections.fetch_add(1, std::memory_order_relaxed);
  }
  ~HttpConnection() override { server_->open_connections.fetch_sub(1, std::memory_order_relaxed); }
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  void start() { read(); }
  // For stop(): closes now if the connection waits for a request, otherwise once the response it
  // is writing, or the stream it carries, has ended.
  void close_when_idle() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      self->closing_ = true;
      if (self->awaiting_request_) self->close();
    });
  }
  // From the sweeper, once a second: a connection that has waited for a request (or lingered)
  // more than `read_limit` sweeps is timed out, and one whose client has taken no byte of what it
  // is being sent for more than `write_limit` sweeps is cut; each on its own strand.
  void check_deadlines(std::uint32_t tick, std::uint32_t read_limit, std::uint32_t write_limit) {
    const auto since = reading_since_tick_.load(std::memory_order_relaxed);
    if (since != 0 && tick - since > read_limit) {
      asio::post(socket_.get_executor(), [self = shared_from_this(), since] {
        if (self->reading_since_tick_.load(std::memory_order_relaxed) != since) return;  // that read ended
        self->timed_out_ = true;
        beast::error_code ignored;
        self->socket_.cancel(ignored);  // the pending read ends with operation_aborted
      });
    }
    const auto progress = write_progress_tick_.load(std::memory_order_relaxed);
    if (progress != 0 && tick - progress > write_limit) {
      asio::post(socket_.get_executor(), [self = shared_from_this(), progress] {
        if (self->write_progress_tick_.load(std::memory_order_relaxed) != progress) return;  // it moved, or ended
        Logger::global().warn("trellis.http.send_timeout",
                              {{"seconds", static_cast<std::int64_t>(self->server_->options.send_timeout.count())}});
        beast::error_code ignored;
        self->socket_.close(ignored);  // the pending write ends with an error, and so the connection
      });
    }
  }
  // Closes now, whatever is being written.
  void shut() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      beast::error_code ignored;
      self->socket_.shutdown(tcp::socket::shutdown_both, ignored);
      self->socket_.close(ignored);
    });
  }

  // SseSink (any thread)
  Flow write_frame(std::string frame) override {
    const std::size_t size = frame.size();
    const std::size_t waiting = unsent_bytes_.fetch_add(size, std::memory_order_relaxed);
    if (waiting <= server_->options.max_unsent_sse_bytes) {
      enqueue({std::move(frame), true});
      return flow_at(waiting + size);
    }
    unsent_bytes_.fetch_sub(size, std::memory_order_relaxed);
    if (cut_for_overrun_.exchange(true, std::memory_order_relaxed)) return Flow::overrun;
    asio::post(socket_.get_executor(), [self = shared_from_this(), waiting] {
      if (!self->sse_active_) {  // the stream ended here meanwhile: nothing left to cut
        self->cut_for_overrun_.store(false, std::memory_order_relaxed);
        return;
      }
      Logger::global().warn("trellis.http.slow_client_cut",
                            {{"unsent_bytes", waiting}, {"limit", self->server_->options.max_unsent_sse_bytes}});
      self->fail_sse();
    });
    return Flow::overrun;
  }
  Flow flow() const override { return flow_at(unsent_bytes_.load(std::memory_order_relaxed)); }
  void replay_frame(std::string frame) override { enqueue({std::move(frame), false}); }
  void end_stream() override {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      self->end_after_queue_ = true;
      self->schedule_pump();
    });
  }
  void abort_stream() override {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      self->abort_after_queue_ = true;
      self->schedule_pump();
    });
  }

  // Answers one request in JSON mode, from any thread, then closes `session_to_close` if given
  // (a stateless session ends with its answer). Closed from here, on an I/O thread, where posting
  // to the session costs no wake-up; a worker calling close() itself would pay one.
  void respond_json(std::string body, std::shared_ptr<Session> session_to_close) {
    asio::post(socket_.get_executor(), [self = shared_from_this(), body = std::move(body),
                                        session_to_close = std::move(session_to_close)]() mutable {
      if (session_to_close) session_to_close->close();
      if (body.empty()) return self->respond(http::status::accepted, {}, {});
      self->respond(http::status::ok, std::move(body), "application/json");
    });
  }

 private:
  using Request = http::request<http::string_body>;

  // An SSE frame, for the stream this connection writes once the strand gets to it.
  struct Frame {
    std::string bytes;
    bool counted;  // against max_unsent_sse_bytes: sent live, not replayed from the store
  };

  Flow flow_at(std::size_t waiting) const noexcept {
    const std::size_t limit = server_->options.max_unsent_sse_bytes;
    if (waiting <= limit / 2) return Flow::flowing;
    return waiting <= limit - limit / 5 ? Flow::filling : Flow::backed_up;
  }

  void enqueue(Frame frame) {
    asio::post(socket_.get_executor(), [self = shared_from_this(), frame = std::move(frame)]() mutable {
      if (!self->sse_active_) {  // its stream has ended on this connection
        if (frame.counted) self->unsent_bytes_.fetch_sub(frame.bytes.size(), std::memory_order_relaxed);
        return;
      }
      self->queue_.push_back(std::move(frame));
      self->schedule_pump();
    });
  }

  void read() {
    if (closing_) return close();
    awaiting_request_ = true;
    start_read_clock();
    const auto& o = server_->options;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(o.max_header_bytes, UINT32_MAX)));
    parser_->body_limit(o.max_body_bytes);
    http::async_read(socket_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_read(ec);
    });
  }

  void on_read(beast::error_code ec) {
    awaiting_request_ = false;
    session_header_.clear();  // the last request's, which an SSE response leaves behind
    reading_since_tick_.store(0, std::memory_order_relaxed);
    const auto& o = server_->options;
    if (timed_out_ && ec) {
      if (!parser_->got_some()) return close();  // an idle keep-alive connection
      return refuse(http::status::request_timeout,
                    "the request did not arrive whole within " + std::to_string(o.request_timeout.count()) + " s");
    }
    timed_out_ = false;  // the request came whole just as it timed out: serve it
    if (ec == http::error::body_limit)
      return refuse(http::status::payload_too_large,
                    "request body exceeds the limit of " + std::to_string(o.max_body_bytes) + " bytes");
    if (ec == http::error::header_limit)
      return refuse(http::status::request_header_fields_too_large,
                    "request headers exceed the limit of " + std::to_string(o.max_header_bytes) + " bytes");
    // Beast's own errors other than these two are the request's faults; the rest are the socket's
    // (the peer closed or reset it), with nobody left to answer.
    const bool malformed = ec.category() == beast::http::make_error_code(http::error::bad_method).category() &&
                           ec != http::error::end_of_stream && ec != http::error::partial_message;
    if (malformed) return refuse(http::status::bad_request, "malformed HTTP request: " + ec.message());
    if (ec) return detach_sse(false);
    request_ = parser_->release();
    keep_alive_ = request_.keep_alive();
    handle();
  }

  // Answers a request this connection cannot go on from, then closes it (see linger()).
  void refuse(http::status status, std::string_view why) {
    keep_alive_ = false;
    request_ = {};  // the status line says HTTP/1.1, whatever came before
    reject(status, why);
  }

  // Writes all of `buffers`, then calls `done`. Each piece the socket takes is progress, which
  // the sweeper checks against send_timeout.
  template <class Buffers, class Done>
  void write(const Buffers& buffers, Done done) {
    asio::async_write(
        socket_, buffers,
        [this](const beast::error_code& ec, std::size_t transferred) {
          write_progress_tick_.store(server_->sweep_tick.load(std::memory_order_relaxed), std::memory_order_relaxed);
          return asio::transfer_all()(ec, transferred);
        },
        [self = shared_from_this(), done = std::move(done)](beast::error_code ec, std::size_t) mutable {
          self->write_progress_tick_.store(0, std::memory_order_relaxed);
          done(ec);
        });
  }

  void start_read_clock() { reading_since_tick_.store(server_->sweep_tick.load(std::memory_order_relaxed), std::memory_order_relaxed); }

  // After the last response, reads and discards what the client still sends until it closes. A
  // socket closed with unread bytes resets the connection, and the reset can destroy a response
  // the client has not read yet: a 413 that went out before the whole body arrived, say, while
  // the client still writes it. For at most request_timeout, as nginx's lingering_time bounds it.
  void linger() {
    awaiting_request_ = true;  // stop() may close it now: nothing would be cut
    if (closing_ || timed_out_) return close();
    if (!lingering_) start_read_clock();
    lingering_ = true;
    buffer_.clear();
    socket_.async_read_some(buffer_.prepare(16 * 1024), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      self->linger();
    });
  }

  static std::string error_body(std::string_view message, int code = jsonrpc_code::invalid_request) {
    std::string out;
    jsonrpc::encode_error(out, jsonrpc::Id(), code, message);
    return out;
  }

  void reject(http::status status, std::string_view why, int code = jsonrpc_code::invalid_request) {
    Logger::global().info("trellis.http.rejected", {{"status", static_cast<int>(status)},
                                                     {"method", std::string(request_.method_string())},
                                                     {"reason", why}});
    respond(status, error_body(why, code), "application/json");
  }

  void handle() {
    const auto& o = server_->options;
    const std::string_view target(request_.target().data(), request_.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    if (!server_->host_allowed(std::string_view(request_[http::field::host])))
      return reject(http::status::forbidden, "Host not allowed");
    if (!server_->origin_allowed(std::string_view(request_[http::field::origin])))
      return reject(http::status::forbidden, "Origin not allowed");
    if (path != o.path) return reject(http::status::not_found, "no MCP endpoint at this path");
    if (const auto version = request_["MCP-Protocol-Version"]; !version.empty()) {
      const auto versions = supported_protocol_versions();
      if (std::find(versions.begin(), versions.end(), std::string_view(version)) == versions.end())
        return reject(http::status::bad_request, "unsupported MCP-Protocol-Version: " + printable(version));
    }
    switch (request_.method()) {
      case http::verb::post: return handle_post();
      case http::verb::get: return handle_get();
      case http::verb::delete_: return handle_delete();
      default:
        return respond(http::status::method_not_allowed, error_body("method not allowed"), "application/json",
                       o.stateless ? "Allow: POST\r\n" : "Allow: GET, POST, DELETE\r\n");
    }
  }

  // The session named by Mcp-Session-Id: 400 when missing, 404 when unknown or expired.
  std::shared_ptr<HttpSession> require_session() {
    const auto id = request_["Mcp-Session-Id"];
    if (id.empty()) {
      reject(http::status::bad_request, "Mcp-Session-Id header is required");
      return nullptr;
    }
    auto entry = server_->find_session(std::string(id));
    if (!entry || entry->session->closed()) {
      reject(http::status::not_found, "session not found or expired");
      return nullptr;
    }
    entry->last_activity_ms = StreamableHttpServer::Impl::now_ms();
    return entry;
  }

  void handle_post() {
    const auto& o = server_->options;
    if (!contains_ignoring_case(request_[http::field::content_type], "application/json"))
      return reject(http::status::unsupported_media_type, "Content-Type must be application/json");
    const std::string_view accept = request_[http::field::accept];
    if (!accepts(accept, "application/json") || !accepts(accept, "text/event-stream"))
      return reject(http::status::not_acceptable, "Accept must include application/json and text/event-stream");
    auto message = jsonrpc::decode(request_.body(), {.max_message_bytes = o.max_body_bytes});
    if (!message) {
      std::string body;
      jsonrpc::encode_decode_error(body, message.error());
      Logger::global().info("trellis.http.rejected", {{"status", 400}, {"reason", message.error().message}});
      return respond(http::status::bad_request, std::move(body), "application/json");
    }
    const bool is_request = message->kind() == jsonrpc::MessageKind::request;
    const bool is_initialize = is_request && message->method() == "initialize";

    std::shared_ptr<HttpSession> entry;
    if (o.stateless) {
      entry = server_->create_session(Session::Mode::stateless, socket_.get_executor());
    } else if (is_initialize && request_["Mcp-Session-Id"].empty()) {
      entry = server_->create_session(Session::Mode::stateful, socket_.get_executor());
      if (!entry) {
        Logger::global().info("trellis.http.rejected", {{"status", 503}, {"reason", "max_sessions reached"}});
        return respond(http::status::service_unavailable,
                       error_body("too many sessions open (limit " + std::to_string(o.max_sessions) + "): retry later",
                                  jsonrpc_code::server_error),
                       "application/json", "Retry-After: 1\r\n");
      }
    } else {
      entry = require_session();
      if (!entry) return;
    }

    if (!is_request) {
      entry->session->receive(std::move(*message), nullptr);
      return respond(http::status::accepted, {}, {});
    }
    entry->requests_in_flight++;
    session_header_ = entry->session->id();
    if (o.json_response) {
      auto reply = std::make_shared<JsonReply>(server_, shared_from_this(), entry, o.stateless);
      entry->session->receive(std::move(*message), reply);
      return;
    }
    // SSE: this connection writes the request's stream until its response.
    const auto stream = entry->streams->open_stream();
    if (!begin_sse(entry, stream)) {  // the session closed since we looked it up
      entry->requests_in_flight--;
      return reject(http::status::not_found, "session not found or expired");
    }
    auto reply = std::make_shared<CountedOutbound>(server_, entry->streams->outbound(stream), entry, o.stateless);
    entry->session->receive(std::move(*message), reply);
  }

  void handle_get() {
    if (server_->options.stateless) return reject(http::status::method_not_allowed, "stateless server: no GET stream");
    if (!accepts(request_[http::field::accept], "text/event-stream"))
      return reject(http::status::not_acceptable, "Accept must include text/event-stream");
    auto entry = require_session();
    if (!entry) return;
    session_header_ = entry->session->id();
    const auto last_event_id = request_["Last-Event-ID"];
    if (!last_event_id.empty()) {
      begin_sse_headers(entry);
      if (auto resumed = entry->streams->resume(std::string_view(last_event_id), shared_from_this())) {
        sse_stream_ = *resumed;
        return;
      }
      // An id we never issued: a fresh standalone stream, as without Last-Event-ID.
      undo_sse_headers();
    }
    begin_sse_headers(entry);
    sse_stream_ = http_detail::SessionStreams::kStandalone;
    const auto attached = entry->streams->attach(sse_stream_, shared_from_this());
    if (attached == http_detail::SessionStreams::Attach::attached) return;
    undo_sse_headers();  // refused before any byte of the SSE response went out
    if (attached == http_detail::SessionStreams::Attach::taken)
      return reject(http::status::conflict, "this session already has an open GET stream");
    reject(http::status::not_found, "session not found or expired");  // it closed after we looked it up
  }

  void handle_delete() {
    if (server_->options.stateless) return reject(http::status::method_not_allowed, "stateless server: no sessions");
    auto entry = require_session();
    if (!entry) return;
    {
      std::lock_guard lock(server_->sessions_mutex);
      server_->sessions.erase(entry->session->id());
    }
    entry->session->close();
    respond(http::status::ok, {}, {});
  }

  // --- SSE -----------------------------------------------------------------------------------

  // False when the stream has closed already (its session did, before its first event).
  bool begin_sse(const std::shared_ptr<HttpSession>& entry, std::uint64_t stream) {
    begin_sse_headers(entry);
    sse_stream_ = stream;
    if (entry->streams->attach(stream, shared_from_this()) == http_detail::SessionStreams::Attach::attached) return true;
    undo_sse_headers();
    return false;
  }

  void begin_sse_headers(const std::shared_ptr<HttpSession>& entry) {
    // While it waits for events nothing else owns this connection (no async operation is
    // pending); the streams only know it weakly.
    keep_alive_self_ = shared_from_this();
    sse_session_ = entry;
    sse_active_ = true;
    header_pending_ = true;
    end_after_queue_ = false;
    abort_after_queue_ = false;
  }

  void undo_sse_headers() {
    keep_alive_self_.reset();
    sse_session_.reset();
    sse_active_ = false;
    header_pending_ = false;
  }

  // Writes run one pump behind the events that queue them (schedule_pump), so that what the
  // session hands over together — typically a POST's head, priming event, response and last
  // chunk — leaves in one write instead of four.
  void schedule_pump() {
    if (pump_scheduled_) return;
    pump_scheduled_ = true;
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      self->pump_scheduled_ = false;
      self->pump();
    });
  }

  // Writes everything queued so far in one gathered write: the head if it has not gone out, each
  // frame as an HTTP chunk, and the last chunk once the stream ends. To HTTP/1.0 the frames go
  // unframed, and the close after the last one ends the response.
  void pump() {
    if (writing_ || !sse_active_) return;
    const bool chunked = request_.version() != 10;
    framing_.clear();
    pieces_.clear();
    const auto add_framing = [this](std::string_view text) {
      pieces_.push_back({nullptr, framing_.size(), text.size()});
      framing_.append(text);
    };
    if (header_pending_) {
      header_pending_ = false;
      if (!chunked) keep_alive_ = false;  // the response ends where the connection does
      append_head_start(framing_, http::status::ok, "text/event-stream");
      framing_.append("Cache-Control: no-cache\r\n");
      if (chunked) framing_.append("Transfer-Encoding: chunked\r\n");
      if (!keep_alive_) framing_.append("Connection: close\r\n");
      framing_.append("\r\n");
      pieces_.push_back({nullptr, 0, framing_.size()});
    }
    writing_frames_.swap(queue_);
    for (const auto& [frame, counted] : writing_frames_) {
      if (frame.empty()) continue;  // an empty chunk would end the response
      if (!chunked) {
        pieces_.push_back({&frame, 0, frame.size()});
        continue;
      }
      char line[20];
      char* end = std::to_chars(line, line + 16, frame.size(), 16).ptr;
      *end++ = '\r';
      *end++ = '\n';
      add_framing(std::string_view(line, static_cast<std::size_t>(end - line)));
      pieces_.push_back({&frame, 0, frame.size()});
      add_framing("\r\n");
    }
    const bool ending = abort_after_queue_ || end_after_queue_;
    if (ending && chunked) add_framing("0\r\n\r\n");
    if (pieces_.empty()) {
      if (ending) end_sse();  // HTTP/1.0, with nothing left to write
      return;
    }
    buffers_.clear();
    for (const auto& piece : pieces_) {
      buffers_.emplace_back(piece.frame ? piece.frame->data() : framing_.data() + piece.offset, piece.size);
    }
    writing_ = true;
    // Either way the HTTP response ends cleanly when `ending`. After a cut (abort) the stream itself
    // goes on: the client resumes it with GET and Last-Event-ID.
    write(buffers_, [self = shared_from_this(), ending](beast::error_code ec) {
      self->writing_ = false;
      self->forget_frames(self->writing_frames_);
      if (ec) return self->fail_sse();
      if (ending) return self->end_sse();
      self->pump();
    });
  }

  void end_sse() {
    detach_sse(end_after_queue_ && !abort_after_queue_);
    next_request();
  }

  void fail_sse() {
    detach_sse(false);
    close();
  }

  void close() {
    beast::error_code ignored;
    socket_.close(ignored);
  }

  // `ended`: the response ended after the stream's last event (not cut, not failed).
  void detach_sse(bool ended) {
    keep_alive_self_.reset();
    if (!sse_session_) return;
    sse_session_->streams->detach(sse_stream_, this, ended);
    sse_session_->last_activity_ms = StreamableHttpServer::Impl::now_ms();
    sse_session_.reset();
    sse_active_ = false;
    forget_frames(queue_);
  }

  // Frames written, or dropped with their stream, no longer count against max_unsent_sse_bytes.
  void forget_frames(std::vector<Frame>& frames) {
    std::size_t bytes = 0;
    for (const auto& frame : frames)
      if (frame.counted) bytes += frame.bytes.size();
    unsent_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
    frames.clear();
  }

  // --- plain responses -------------------------------------------------------------------------

  // The status line and the headers every response carries: Content-Type (when there is a body)
  // and, once the request named or created a session, Mcp-Session-Id.
  void append_head_start(std::string& out, http::status status, std::string_view content_type) const {
    out.append(request_.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
    out.append(std::to_string(static_cast<unsigned>(status))).append(" ").append(http::obsolete_reason(status)).append("\r\n");
    if (!content_type.empty()) out.append("Content-Type: ").append(content_type).append("\r\n");
    if (!session_header_.empty()) out.append("Mcp-Session-Id: ").append(session_header_).append("\r\n");
  }

  // Writes one whole response, then reads the next request (or half-closes when this one asked
  // to close). The head is formatted by hand: a JSON answer has three or four headers, and
  // beast's field list and serializer cost more than the rest of the response path together.
  void respond(http::status status, std::string body, std::string_view content_type, std::string_view extra_headers = {}) {
    const bool http10 = request_.version() == 10;
    head_.clear();
    append_head_start(head_, status, content_type);
    head_.append(extra_headers);
    head_.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    if (http10 && keep_alive_) head_.append("Connection: keep-alive\r\n");
    if (!http10 && !keep_alive_) head_.append("Connection: close\r\n");
    head_.append("\r\n");
    // An answer to HEAD has no body (RFC 9110 §9.3.2), though Content-Length says what it would be.
    body_ = request_.method() == http::verb::head ? std::string() : std::move(body);
    const std::array<asio::const_buffer, 2> response{asio::buffer(head_), asio::buffer(body_)};
    write(response, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->close();
      self->next_request();
    });
  }

  // After a whole response has gone out: reads the next request, or, when this one asked to
  // close, shuts the server's side and lingers.
  void next_request() {
    if (keep_alive_) return read();
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    linger();
  }

  // Counts requests in flight for idle expiry, and ends stateless sessions after their answer.
  class CountedOutbound final : public Outbound {
   public:
    CountedOutbound(std::shared_ptr<StreamableHttpServer::Impl> server, std::shared_ptr<Outbound> inner,
                    std::shared_ptr<HttpSession> entry, bool stateless)
        : lease_(std::move(server)), inner_(std::move(inner)), entry_(std::move(entry)), stateless_(stateless) {}
    bool send(std::string message) override { return inner_->send(std::move(message)); }
    bool streaming() const noexcept override { return inner_->streaming(); }
    void close_stream() override { inner_->close_stream(); }
    void finish() override {
      inner_->finish();
      entry_->requests_in_flight--;
      entry_->last_activity_ms = StreamableHttpServer::Impl::now_ms();
      if (stateless_) entry_->session->close();
    }

   private:
    ReplyLease lease_;  // destroyed last
    std::shared_ptr<Outbound> inner_;
    std::shared_ptr<HttpSession> entry_;
    bool stateless_;
  };

  // JSON mode: one body with the response, written at finish().
  class JsonReply final : public Outbound {
   public:
    JsonReply(std::shared_ptr<StreamableHttpServer::Impl> server, std::shared_ptr<HttpConnection> connection,
              std::shared_ptr<HttpSession> entry, bool stateless)
        : lease_(std::move(server)), connection_(std::move(connection)), entry_(std::move(entry)), stateless_(stateless) {}
    bool send(std::string message) override {
      std::lock_guard lock(mutex_);
      body_ = std::move(message);
      return true;
    }
    bool streaming() const noexcept override { return false; }
    void finish() override {
      std::string body;
      {
        std::lock_guard lock(mutex_);
        body = std::move(body_);
      }
      entry_->requests_in_flight--;
      entry_->last_activity_ms = StreamableHttpServer::Impl::now_ms();
      connection_->respond_json(std::move(body), stateless_ ? entry_->session : nullptr);
    }

   private:
    ReplyLease lease_;  // destroyed last
    std::shared_ptr<HttpConnection> connection_;
    std::shared_ptr<HttpSession> entry_;
    bool stateless_;
    std::mutex mutex_;
    std::string body_;
  };

  tcp::socket socket_;
  std::shared_ptr<StreamableHttpServer::Impl> server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Request request_;
  bool keep_alive_ = true;
  bool awaiting_request_ = false;  // between responses (keep-alive): nothing would be cut
  bool closing_ = false;           // stopping: no request after the one in hand
  bool timed_out_ = false;         // request_timeout passed: the pending read was cancelled
  bool lingering_ = false;         // the last response is out: reading only to discard
  // The sweep_tick when the pending read began; 0 when none is pending. Written on the strand,
  // read by the sweeper.
  std::atomic<std::uint32_t> reading_since_tick_{0};
  // The sweep_tick when the pending write last handed bytes to the socket; 0 when none is pending.
  std::atomic<std::uint32_t> write_progress_tick_{0};
  std::string session_header_;
  std::string head_;  // of the response being written
  std::string body_;

  // SSE state (strand only).
  std::shared_ptr<HttpConnection> keep_alive_self_;
  std::shared_ptr<HttpSession> sse_session_;
  std::uint64_t sse_stream_ = 0;
  bool sse_active_ = false;
  bool header_pending_ = false;
  bool writing_ = false;
  bool end_after_queue_ = false;
  bool abort_after_queue_ = false;
  bool pump_scheduled_ = false;
  std::vector<Frame> queue_;                 // frames not yet written
  std::vector<Frame> writing_frames_;        // frames of the write in progress
  std::string framing_;                      // its head, chunk sizes and separators
  // What the write is made of, in order: a frame's own bytes, or a range of framing_ (by offset,
  // since framing_ may move while it grows); then the buffers pointing at them.
  struct Piece {
    const std::string* frame;
    std::size_t offset, size;
  };
  std::vector<Piece> pieces_;
  std::vector<asio::const_buffer> buffers_;
  // The bytes of the counted frames handed over and not yet written or dropped, whether queued or
  // still posted to the strand (any thread); and whether they passed max_unsent_sse_bytes once.
  std::atomic<std::size_t> unsent_bytes_{0};
  std::atomic<bool> cut_for_overrun_{false};
};

}  // namespace http_detail

void StreamableHttpServer::Impl::accept() {
  acceptor.async_accept(asio::make_strand(io), [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (ec) return self->accept_failed(ec);
    if (self->accept_failing) {
      self->accept_failing = false;
      Logger::global().info("trellis.http.accepting_again");
    }
    beast::error_code ignored;
    if (self->open_connections.load(std::memory_order_relaxed) >= self->options.max_connections) {
      self->refuse_connection(socket);
      return self->accept();
    }
    // Responses go out in more than one write (SSE header, then events): without NODELAY, Nagle
    // and the peer's delayed ACK would hold the second write back for ~40 ms.
    socket.set_option(tcp::no_delay(true), ignored);
    auto connection = std::make_shared<http_detail::HttpConnection>(std::move(socket), self);
    {
      std::lock_guard lock(self->connections_mutex);
      if (self->connections.size() >= self->connections_prune_at) {
        std::erase_if(self->connections, [](const auto& weak) { return weak.expired(); });
        self->connections_prune_at = std::max<std::size_t>(64, 2 * self->connections.size());
      }
      self->connections.push_back(connection);
    }
    connection->start();
    self->accept();
  });
}

// Stopping closes the acceptor (operation_aborted, or bad_descriptor for an accept begun after).
// Any other failure must not end the accept loop: out of file descriptors (EMFILE), say, the
// server would otherwise never accept again, though the connections that close free some. Those
// retry after a pause, so that a listener that keeps failing does not spin; a connection the
// client aborted before it was accepted retries at once.
void StreamableHttpServer::Impl::accept_failed(const beast::error_code& ec) {
  if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) return;
  if (ec == asio::error::connection_aborted) return accept();
  if (!accept_failing) {
    accept_failing = true;
    Logger::global().warn("trellis.http.accept_failed", {{"error", ec.message()}, {"retry_ms", 100}});
  }
  accept_retry.expires_after(std::chrono::milliseconds(100));
  accept_retry.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
    if (!wait_ec) self->accept();
  });
}

// Past max_connections: a 503 the client can read, written without waiting (it fits the socket's
// empty send buffer; if it does not go out, the close alone tells the client), then close. The
// request is not read, so nothing is lost that the client could not send again.
void StreamableHttpServer::Impl::refuse_connection(tcp::socket& socket) {
  static const std::string response = [] {
    std::string body;
    jsonrpc::encode_error(body, jsonrpc::Id(), jsonrpc_code::server_error, "too many connections open: retry later");
    return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
           "Connection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }();
  Logger::global().info("trellis.http.rejected", {{"status", 503}, {"reason", "max_connections reached"}});
  beast::error_code ignored;
  socket.non_blocking(true, ignored);
  socket.write_some(asio::buffer(response), ignored);
  socket.close(ignored);
}

void StreamableHttpServer::Impl::sweep() {
  sweeper.expires_after(std::chrono::seconds(1));
  sweeper.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec) return;
    const auto tick = self->sweep_tick.fetch_add(1, std::memory_order_relaxed) + 1;
    const auto sweeps = [](std::chrono::seconds timeout) {
      return static_cast<std::uint32_t>(std::clamp<std::chrono::seconds::rep>(timeout.count(), 0, UINT32_MAX / 2));
    };
    const auto read_limit = sweeps(self->options.request_timeout);
    const auto write_limit = sweeps(self->options.send_timeout);
    self->for_each_connection([&](http_detail::HttpConnection& c) { c.check_deadlines(tick, read_limit, write_limit); });
    const auto now = std::chrono::steady_clock::now();
    const auto now_ms = Impl::now_ms();
    const auto idle_limit = std::chrono::duration_cast<std::chrono::milliseconds>(self->options.session_idle_timeout).count();
    std::vector<std::shared_ptr<HttpSession>> expired;
    {
      std::lock_guard lock(self->sessions_mutex);
      for (auto it = self->sessions.begin(); it != self->sessions.end();) {
        auto& entry = it->second;
        entry->streams->heartbeat(now, self->options.heartbeat);
        const bool idle = now_ms - entry->last_activity_ms > idle_limit && entry->requests_in_flight == 0 &&
                          !entry->streams->any_attached();
        if (idle) {
          expired.push_back(entry);
          it = self->sessions.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& entry : expired) {
      Logger::global().info("trellis.http.session_expired", {{"session", entry->session->id()}});
      entry->session->close();
    }
    self->sweep();
  });
}

StreamableHttpServer::StreamableHttpServer(Server& server, HttpServerOptions options)
    : impl_(std::make_shared<Impl>(server, std::move(options))) {}

StreamableHttpServer::~StreamableHttpServer() { stop(); }

Result<void> StreamableHttpServer::start() {
  auto& i = *impl_;
  beast::error_code ec;
  const auto address = asio::ip::make_address(i.options.address, ec);
  if (ec) return make_error(ErrorKind::config, "invalid address " + i.options.address + ": " + ec.message());
  i.loopback_bind = address.is_loopback();
  const tcp::endpoint endpoint(address, i.options.port);
  i.acceptor.open(endpoint.protocol(), ec);
  if (!ec) i.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) i.acceptor.bind(endpoint, ec);
  if (!ec) i.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return make_error(ErrorKind::config,
                      "cannot listen on " + i.options.address + ":" + std::to_string(i.options.port) + ": " + ec.message());
  i.bound_port = i.acceptor.local_endpoint().port();
  i.accept();
  i.sweep();
  {
    std::lock_guard lock(i.state_mutex);
    i.running = true;
  }
  for (std::size_t t = 0; t < std::max<std::size_t>(1, i.options.io_threads); ++t) i.threads.emplace_back([&io = i.io] { io.run(); });
  return {};
}

std::uint16_t StreamableHttpServer::port() const noexcept { return impl_->bound_port; }

void StreamableHttpServer::stop() {
  auto& i = *impl_;
  {
    std::lock_guard lock(i.state_mutex);
    if (!i.running || i.stopped) return;
  }
  asio::post(i.acceptor.get_executor(), [impl = impl_] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
    impl->accept_retry.cancel();
  });
  // Drain: sessions refuse new requests, finish what runs, then close (and leave the registry).
  i.server.shutdown();
  const auto deadline = std::chrono::steady_clock::now() + i.server.options().drain_timeout + std::chrono::seconds(1);
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(i.sessions_mutex);
      if (i.sessions.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  {
    std::lock_guard lock(i.sessions_mutex);
    for (auto& [id, entry] : i.sessions) entry->streams->close_all();
    i.sessions.clear();
  }
  i.for_each_connection([](http_detail::HttpConnection& c) { c.close_when_idle(); });
  // Not from a handler: its own reply cannot go, nor its connection close, before it returns.
  if (!server_detail::WorkerPool::on_worker_thread()) {
    // A handler that ignored its stop token past the drain timeout is still running, and its
    // worker will still touch this io_context (its session's strand, its reply's connection):
    // wait for it, as serve_stdio does, rather than stop and destroy the io_context under it.
    i.wait_for_replies();
    // Responses still being written (to a client that reads slowly) get one more drain_timeout.
    i.wait_for_connections(std::chrono::steady_clock::now() + i.server.options().drain_timeout);
  }
  i.for_each_connection([](http_detail::HttpConnection& c) { c.shut(); });
  i.io.stop();
  for (auto& t : i.threads)
    if (t.joinable()) t.join();
  // No thread runs the io_context now. What is left ready in it (the sweeper's wait, cancelled
  // here; the closed connections' and the acceptor's aborted operations; the shut() posts) runs
  // on this thread, so that none of those handlers keeps the Impl alive from a queue that nobody
  // would run.
  i.sweeper.cancel();
  i.io.restart();
  i.io.poll();
  std::lock_guard lock(i.state_mutex);
  i.stopped = true;
  i.stopped_cv.notify_all();
}

void StreamableHttpServer::Impl::wait_for_replies() {
  const auto every = std::max<std::chrono::steady_clock::duration>(server.options().drain_timeout, std::chrono::seconds(1));
  auto next_warning = std::chrono::steady_clock::now() + every;
  while (const std::size_t left = replies_alive.load(std::memory_order_acquire)) {
    if (std::chrono::steady_clock::now() >= next_warning) {
      Logger::global().warn("trellis.http.stop_waits_for_handlers", {{"requests", left}});
      next_warning += every;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void StreamableHttpServer::Impl::for_each_connection(const std::function<void(http_detail::HttpConnection&)>& fn) {
  std::lock_guard lock(connections_mutex);
  for (auto& weak : connections)
    if (auto c = weak.lock()) fn(*c);
}

void StreamableHttpServer::Impl::wait_for_connections(std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    {
      std::lock_guard lock(connections_mutex);
      std::erase_if(connections, [](const auto& weak) { return weak.expired(); });
      if (connections.empty()) return;
    }
    if (std::chrono::steady_clock::now() >= deadline) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void StreamableHttpServer::wait() {
  auto& i = *impl_;
  std::unique_lock lock(i.state_mutex);
  i.stopped_cv.wait(lock, [&] { return i.stopped || !i.running; });
}

}  // namespace trellis
