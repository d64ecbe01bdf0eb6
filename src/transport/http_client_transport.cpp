// make_http_transport — the Streamable HTTP client transport (MCP 2025-11-25, basic/transports).
//
// Every message the client sends is one POST to the endpoint. The answer is 202 (nothing to
// deliver), one JSON message, or an SSE stream that carries messages until the response to the
// POSTed request. After initialize the transport also holds a GET stream for messages the server
// starts on its own. A stream that ends before its response arrived is resumed with a GET carrying
// Last-Event-ID after the server's `retry` delay (SEP-1699), as the TypeScript SDK does.
//
// Concurrency (ARCHITECTURE §4): the transport owns one io_context run by one thread, and all its
// state lives on one strand; each POST, stream and DELETE is a coroutine on that strand, so events
// are delivered one at a time, in arrival order, without locks. Only send(), close(), describe()
// and the queue accounting cross threads, through `mutex_`.
//
// Decisions (docs/ should carry them too):
//  - A POST stream that ends (cleanly or not) before its response, having carried no event id,
//    cannot be resumed. The TypeScript SDK then leaves the request to its timeout; Trellis fails
//    the transport with kind `transport` instead, so the caller learns at once (the outcome of the
//    request at the server is unknown).
//  - A resumed stream that cannot be reopened within max_resume_attempts GETs (counted without
//    progress: any event or new id resets the count) fails the transport with kind `transport`.
//    The standalone GET stream is best effort: 405 or any other refusal stops it quietly, and
//    giving up on it after max_resume_attempts is logged, not fatal (POSTs still detect a dead
//    server).
//  - An HTTP error (4xx/5xx other than 404-with-session, 3xx too: redirects are not followed) on
//    a POSTed request is answered by the server's JSON-RPC error response when the body is one for
//    that request's id; otherwise the transport delivers a synthesized error response for that
//    id: code = the body's JSON-RPC error code when it has one, else -32000; message
//    "HTTP <status> <reason>[: <server message or body excerpt>]"; data {"http_status": <status>}.
//    HTTP errors on notifications and responses are logged and dropped.
//  - A 2xx answer to a request that is neither JSON nor SSE (and not 202), an invalid JSON-RPC
//    message, an invalid Mcp-Session-Id, or a message over max_frame_bytes fail the transport
//    with kind `protocol`. Connection failures (refused, DNS, TLS, timeout, a connection lost
//    while reading a JSON answer) fail it with kind `transport`.
//  - A reused keep-alive connection that turns out to have been closed by the server before it
//    read the request (EOF or reset before any response byte) is retried once on a new
//    connection; idle connections are also checked for a pending close before reuse.
//  - After the awaited response arrived on a stream, the server has kLinger to end the stream
//    before the connection is closed, so a server that keeps streams open cannot exhaust the pool.
//  - close() DELETEs the session only while the transport is healthy (not after a failure or a
//    session loss), bounded by connect_timeout for the connect and again for the exchange.
#include "core/current_exception.hpp"
#include "trellis/client_transport.hpp"
#include "trellis/telemetry/log.hpp"
#include "trellis/version.hpp"
#include "transport/http_client_connection.hpp"
#include "transport/sse_parser.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <future>
#include <limits>
#include <mutex>
#include <thread>
#include <unordered_set>

namespace trellis {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using http_client::Lease;
using http_client::Request;
using http_client::ResponseParser;
using std::chrono::milliseconds;
using telemetry::Logger;

constexpr std::size_t kMaxErrorBody = 64 * 1024;      // kept of an HTTP error's body
constexpr std::size_t kMaxDrainedBody = 1024 * 1024;  // read past (and dropped) to keep a connection
constexpr std::size_t kSseFieldOverhead = 4096;       // SSE syntax allowed beyond max_frame_bytes
constexpr std::size_t kMaxHeaderBytes = 64 * 1024;
constexpr milliseconds kMaxRetryDelay = std::chrono::minutes(10);
constexpr milliseconds kMaxBackoff{30'000};
constexpr milliseconds kLinger{2'000};
constexpr std::string_view kEventStream = "text/event-stream";
constexpr std::string_view kJson = "application/json";

// The media type of a Content-Type value: lowercased, parameters and blanks removed.
std::string media_type(std::string_view content_type) {
  content_type = content_type.substr(0, content_type.find(';'));
  std::string out;
  for (const char c : content_type) {
    if (c != ' ' && c != '\t') out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

// Printable ASCII only, at most `max` bytes: for server text quoted in error messages.
std::string excerpt(std::string_view text, std::size_t max = 200) {
  std::string out;
  for (const char c : text.substr(0, max)) {
    const auto byte = static_cast<unsigned char>(c);
    out.push_back(byte >= 0x20 && byte < 0x7F ? c : ' ');
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (text.size() > max) out += "...";
  return out;
}

// Header names and values the caller passes must not smuggle in line breaks.
bool valid_header(std::string_view name, std::string_view value) {
  if (name.empty()) return false;
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7F || c == ':') return false;
  }
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// Mcp-Session-Id: visible ASCII (0x21..0x7E), as the specification requires.
bool valid_session_id(std::string_view id) {
  if (id.empty() || id.size() > 1024) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c >= 0x21 && c <= 0x7E; });
}

Error transport_error(std::string message, boost::json::object data = {}) {
  return make_error(ErrorKind::transport, std::move(message), std::move(data));
}
Error protocol_error(std::string message, boost::json::object data = {}) {
  return make_error(ErrorKind::protocol, std::move(message), std::move(data));
}

// What one send() asked for.
struct Outgoing {
  std::string body;
  std::optional<jsonrpc::Id> request_id;  // set for requests: a response is expected
  std::string method;                     // empty for responses
};

// One SSE stream: the answer to a POSTed request (and the GETs that resume it), or the
// standalone GET stream.
struct Stream {
  std::optional<jsonrpc::Id> awaited;  // the response that completes a POST stream
  bool standalone = false;
  bool answered = false;
  std::string last_event_id;
  std::optional<milliseconds> retry;  // the server's `retry`, for this stream
  int failed_attempts = 0;            // resume attempts since the last progress

  std::string name() const {
    return standalone ? std::string("the standalone GET stream") : "the SSE stream of request " + awaited->to_string();
  }
};

// An HTTP response whose header has been read; the body is still on the connection.
struct Response {
  Lease lease;
  std::unique_ptr<ResponseParser> parser;

  unsigned status() const { return parser->get().result_int(); }
  std::string reason() const { return std::string(parser->get().reason()); }
  std::string content_type() const { return media_type(parser->get()[http::field::content_type]); }
  // Back to the pool when the whole response was read and the server keeps the connection.
  void finish() {
    if (parser->is_done() && parser->keep_alive()) {
      lease.recycle();
    } else {
      lease.discard();
    }
  }
};

// The body of a response, as much as was kept.
struct Body {
  std::string text;
  bool complete = false;  // read to its end
  bool over = false;      // longer than what the caller would keep
};

class HttpClientTransport final : public ClientTransport {
 public:
  explicit HttpClientTransport(HttpTransportOptions options);
  ~HttpClientTransport() override;

  // Runs its I/O on its own thread (one io_context, one strand), not on the connection's executor.
  void start(Events events, boost::asio::any_io_executor) override;
  Result<void> send(const OutgoingMessage& message) override;
  void close() override;
  bool resumable() const noexcept override { return true; }
  void initialized(std::string_view protocol_version) override;
  std::string describe() const override;

 private:
  enum class Phase { created, running, failed, closed };

  // Bytes accepted by send() and not yet written to a socket.
  class Reservation {
   public:
    Reservation(HttpClientTransport* owner, std::size_t bytes) noexcept : owner_(owner), bytes_(bytes) {}
    Reservation(Reservation&& other) noexcept : owner_(other.owner_), bytes_(std::exchange(other.bytes_, 0)) {}
    Reservation& operator=(Reservation&&) = delete;
    ~Reservation() { release(); }
    void release() noexcept {
      if (bytes_ == 0) return;
      std::lock_guard lock(owner_->mutex_);
      owner_->queued_bytes_ -= bytes_;
      bytes_ = 0;
    }

   private:
    HttpClientTransport* owner_;
    std::size_t bytes_;
  };

  // --- everything below runs on strand_ ---
  void spawn(asio::awaitable<void> task);
  asio::awaitable<void> warm_up();
  asio::awaitable<void> post_message(Outgoing out, Reservation reservation);
  asio::awaitable<void> open_standalone_stream();
  asio::awaitable<void> follow_stream(Response response, Stream stream);
  asio::awaitable<bool> consume_stream(Response& response, Stream& stream);
  asio::awaitable<std::optional<Response>> reopen_stream(Stream& stream);
  asio::awaitable<void> delete_session(std::shared_ptr<asio::steady_timer> failsafe);
  asio::awaitable<Result<Response>> exchange(Request& request, Reservation* reservation);
  asio::awaitable<Body> read_body(Response& response, std::size_t keep);
  asio::awaitable<void> sleep(milliseconds delay);

  Request make_request(http::verb verb) const;
  bool capture_session(const Response& response, bool from_initialize);
  void answer_http_error(const Outgoing& out, const Response& response, const Body& body);
  bool deliver(std::string_view text, Stream* stream);
  void emit(jsonrpc::Message message);
  void maybe_open_standalone();
  milliseconds resume_delay(const Stream& stream) const;
  void fail(Error error);
  void lose_session();
  void begin_close(bool send_delete);
  void stop_everything() noexcept;
  Error closed_error() const { return transport_error("the HTTP transport to " + options_.url + " is closed"); }

  const HttpTransportOptions options_;
  const Result<http_client::Endpoint> endpoint_;

  // Destroyed bottom to top: the strand, then the io_context (with any coroutine frame that never
  // finished, whose leases go back to the pool), then the pool and the TLS context they used.
  std::unique_ptr<asio::ssl::context> tls_;
  std::unique_ptr<http_client::Pool> pool_;
  std::unique_ptr<asio::io_context> io_;
  asio::strand<asio::io_context::executor_type> strand_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;

  // Strand state.
  Events events_;
  bool terminal_ = false;  // failed, session lost or closing: nothing more is reported or started
  std::string session_id_;
  std::string protocol_version_;
  bool initialized_called_ = false;
  bool initialized_notified_ = false;  // notifications/initialized was accepted
  bool standalone_started_ = false;
  std::unordered_set<asio::steady_timer*> sleepers_;

  // Shared with the caller's threads.
  mutable std::mutex mutex_;
  Phase phase_ = Phase::created;
  std::size_t queued_bytes_ = 0;
  std::string session_for_describe_;
  std::mutex close_mutex_;  // serializes the join of concurrent close() calls
  std::atomic<std::thread::id> io_thread_id_{};
};

HttpClientTransport::HttpClientTransport(HttpTransportOptions options)
    : options_(std::move(options)),
      endpoint_(http_client::Endpoint::parse(options_.url)),
      io_(std::make_unique<asio::io_context>(1)),
      strand_(asio::make_strand(io_->get_executor())) {
  http_client::PoolOptions pool_options;
  pool_options.verify_tls = options_.verify_tls;
  pool_options.connect_timeout = options_.connect_timeout;
  pool_options.max_active = std::max<std::size_t>(options_.max_connections, 2);
  if (endpoint_ && endpoint_->tls) {
    tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    if (options_.verify_tls) {
      error_code ignored;  // without system roots, verification fails later with a clear message
      tls_->set_default_verify_paths(ignored);
    }
    pool_options.tls = tls_.get();
  }
  pool_ = std::make_unique<http_client::Pool>(endpoint_ ? *endpoint_ : http_client::Endpoint{}, pool_options);
}

HttpClientTransport::~HttpClientTransport() {
  if (std::this_thread::get_id() == io_thread_id_.load()) {
    // Destroying the transport from one of its own callbacks would free the frame that is
    // running: a bug in the caller that nothing here can repair safely.
    Logger::global().error("trellis.http_client.destroyed_from_callback", {{"url", options_.url}});
    std::abort();
  }
  close();
  // The io thread is gone. Close the idle connections while their io_context lives; the members
  // are then destroyed in the order their declarations explain.
  pool_->close_all();
}

void HttpClientTransport::start(Events events, boost::asio::any_io_executor) {
  std::lock_guard lock(mutex_);
  if (phase_ != Phase::created) return;
  phase_ = Phase::running;
  events_ = std::move(events);
  work_.emplace(io_->get_executor());
  thread_ = std::thread([this] {
    io_thread_id_.store(std::this_thread::get_id());
    io_->run();
  });
  if (!endpoint_) {
    asio::post(strand_, [this] { fail(endpoint_.error()); });
    return;
  }
  if (options_.max_connections < 2) {
    asio::post(strand_, [this] {
      fail(make_error(ErrorKind::config,
                      "HttpTransportOptions::max_connections is " + std::to_string(options_.max_connections) +
                          "; at least 2 are needed (the GET stream holds one)",
                      boost::json::object{{"max_connections", options_.max_connections}}));
    });
    return;
  }
  for (const auto& [name, value] : options_.headers) {
    if (!valid_header(name, value)) {
      asio::post(strand_, [this, name = name] {
        fail(make_error(ErrorKind::config, "invalid HTTP header \"" + excerpt(name) + "\" in HttpTransportOptions::headers",
                        boost::json::object{{"header", excerpt(name)}}));
      });
      return;
    }
  }
  // Connect right away: an unreachable server is reported without waiting for the first send.
  spawn(warm_up());
}

Result<void> HttpClientTransport::send(const OutgoingMessage& message) {
  const std::size_t size = message.json.size();

  std::lock_guard lock(mutex_);
  switch (phase_) {
    case Phase::created:
      return transport_error("the HTTP transport to " + options_.url + " is not started");
    case Phase::failed:
      return transport_error("the HTTP transport to " + options_.url + " has failed");
    case Phase::closed:
      return closed_error();
    case Phase::running:
      break;
  }
  if (queued_bytes_ > 0 && queued_bytes_ + size > options_.limits.max_queued_bytes) {
    return make_error(ErrorKind::backpressure,
                      "the HTTP transport has " + std::to_string(queued_bytes_) + " bytes queued; the limit is " +
                          std::to_string(options_.limits.max_queued_bytes),
                      boost::json::object{{"queued_bytes", queued_bytes_}, {"limit", options_.limits.max_queued_bytes}});
  }
  queued_bytes_ += size;
  Outgoing out{std::string(message.json), std::nullopt, std::string(message.method)};
  if (message.kind == jsonrpc::MessageKind::request) out.request_id = message.id;
  spawn(post_message(std::move(out), Reservation(this, size)));
  return {};
}

void HttpClientTransport::initialized(std::string_view protocol_version) {
  asio::post(strand_, [this, version = std::string(protocol_version)]() mutable {
    if (terminal_) return;
    protocol_version_ = std::move(version);
    initialized_called_ = true;
    maybe_open_standalone();
  });
}

std::string HttpClientTransport::describe() const {
  std::lock_guard lock(mutex_);
  std::string text = "http " + options_.url;
  if (!session_for_describe_.empty()) text += " session " + session_for_describe_;
  return text;
}

void HttpClientTransport::close() {
  const bool on_io_thread = std::this_thread::get_id() == io_thread_id_.load();
  bool first = false;
  bool send_delete = false;
  {
    std::lock_guard lock(mutex_);
    first = phase_ != Phase::closed;
    send_delete = phase_ == Phase::running;
    phase_ = Phase::closed;
  }
  if (on_io_thread) {
    // From an Events callback, on the strand: stop everything now; the thread can only be
    // joined from outside, by a later close() or the destructor.
    if (first) {
      begin_close(false);
      work_.reset();
    }
    return;
  }
  std::lock_guard closing(close_mutex_);
  if (!thread_.joinable()) return;
  if (first) {
    std::promise<void> muted;
    asio::post(strand_, [this, send_delete, &muted] {
      begin_close(send_delete);
      muted.set_value();
    });
    muted.get_future().wait();  // from here on no event is reported
    work_.reset();
  }
  thread_.join();
}

// ---------------------------------------------------------------------------------------------
// Strand
// ---------------------------------------------------------------------------------------------

void HttpClientTransport::spawn(asio::awaitable<void> task) {
  // Always through post: co_spawn would otherwise start the coroutine inline when called on the
  // strand (from an Events callback), inside send()'s lock.
  asio::post(strand_, [this, task = std::move(task)]() mutable {
    asio::co_spawn(strand_, std::move(task), [this](std::exception_ptr error) {
      if (!error) return;
      try {
        std::rethrow_exception(error);
      } catch (...) {
        fail(make_error(ErrorKind::internal, "HTTP transport: " + detail::current_exception_message()));
      }
    });
  });
}

asio::awaitable<void> HttpClientTransport::warm_up() {
  auto lease = co_await pool_->acquire();
  if (terminal_) co_return;
  if (!lease) {
    fail(lease.error());
    co_return;
  }
  lease->recycle(false);
}

Request HttpClientTransport::make_request(http::verb verb) const {
  Request request{verb, endpoint_->target, 11};
  request.set(http::field::host, endpoint_->host_header);
  request.set(http::field::user_agent, std::string("trellis/") + kVersion);
  for (const auto& [name, value] : options_.headers) request.set(name, value);
  if (!session_id_.empty()) request.set("Mcp-Session-Id", session_id_);
  if (!protocol_version_.empty()) request.set("MCP-Protocol-Version", protocol_version_);
  return request;
}

asio::awaitable<Result<Response>> HttpClientTransport::exchange(Request& request, Reservation* reservation) {
  for (int attempt = 0;; ++attempt) {
    auto lease = co_await pool_->acquire(attempt > 0);
    if (terminal_) co_return closed_error();
    if (!lease) co_return lease.error();
    const bool pooled = lease->from_idle();
    auto parser = std::make_unique<ResponseParser>();
    parser->header_limit(kMaxHeaderBytes);
    parser->body_limit(boost::none);  // bodies are streamed; the transport applies its own limits

    error_code ec = co_await (*lease)->write(request);
    if (reservation != nullptr) reservation->release();
    if (!ec) ec = co_await (*lease)->read_header(*parser);
    if (terminal_) co_return closed_error();
    if (!ec) co_return Response{std::move(*lease), std::move(parser)};

    // A keep-alive connection the server closed while it sat idle fails before any response
    // byte: the request never reached the server, so it is safe to send it again, once.
    const bool stale = pooled && attempt == 0 &&
                       (ec == http::error::end_of_stream || ec == asio::error::eof ||
                        ec == asio::error::connection_reset || ec == asio::error::broken_pipe);
    if (!stale) {
      co_return transport_error(std::string("HTTP ") + std::string(http::to_string(request.method())) + " to " +
                                    options_.url + " failed: " + ec.message(),
                                {{"url", options_.url}, {"reason", ec.message()}});
    }
  }
}

asio::awaitable<Body> HttpClientTransport::read_body(Response& response, std::size_t keep) {
  Body body;
  if (const auto length = response.parser->content_length(); length && *length > keep) {
    body.over = true;
    co_return body;
  }
  while (!response.parser->is_done()) {
    const auto part = co_await response.lease->read_some(*response.parser);
    if (body.text.size() + part.bytes.size() > keep) {
      body.over = true;
      co_return body;
    }
    body.text.append(part.bytes);
    if (part.error || terminal_) co_return body;
  }
  body.complete = true;
  co_return body;
}

asio::awaitable<void> HttpClientTransport::post_message(Outgoing out, Reservation reservation) {
  if (terminal_) co_return;
  Request request = make_request(http::verb::post);
  request.set(http::field::content_type, kJson);
  request.set(http::field::accept, "application/json, text/event-stream");
  request.body() = std::move(out.body);
  request.prepare_payload();
  const bool sent_session = !session_id_.empty();

  auto response = co_await exchange(request, &reservation);
  if (terminal_) co_return;
  if (!response) {
    fail(response.error());
    co_return;
  }
  const unsigned status = response->status();

  if (status == 404 && sent_session) {
    lose_session();
    co_return;
  }
  if (status < 200 || status >= 300) {
    Body body = co_await read_body(*response, kMaxErrorBody);
    if (terminal_) co_return;
    if (!body.over) response->finish();
    if (out.request_id) {
      answer_http_error(out, *response, body);
    } else {
      Logger::global().warn("trellis.http_client.rejected",
                            {{"url", options_.url}, {"method", out.method}, {"status", status}});
    }
    co_return;
  }

  if (!capture_session(*response, out.method == "initialize")) co_return;
  const std::string type = response->content_type();
  if (!out.request_id) {
    // Notifications and responses expect 202; whatever else comes back has nothing to deliver.
    if (type == kEventStream) {
      response->lease.discard();
    } else {
      Body body = co_await read_body(*response, kMaxDrainedBody);
      if (terminal_) co_return;
      if (!body.over) response->finish();
    }
    if (out.method == "notifications/initialized") {
      initialized_notified_ = true;
      maybe_open_standalone();
    }
    co_return;
  }

  if (status == 202 || status == 204) {
    // Accepted without an answer here: the response will come on the GET stream.
    response->finish();
    co_return;
  }
  if (type == kEventStream) {
    Stream stream;
    stream.awaited = out.request_id;
    co_await follow_stream(std::move(*response), std::move(stream));
    co_return;
  }
  if (type != kJson) {
    fail(protocol_error("the answer to request " + out.request_id->to_string() + " has Content-Type \"" +
                            excerpt(response->parser->get()[http::field::content_type]) +
                            "\"; expected application/json or text/event-stream",
                        {{"status", status}}));
    co_return;
  }
  Body body = co_await read_body(*response, options_.limits.max_frame_bytes);
  if (terminal_) co_return;
  if (body.over) {
    fail(protocol_error("the JSON answer to request " + out.request_id->to_string() + " exceeds max_frame_bytes (" +
                            std::to_string(options_.limits.max_frame_bytes) + ")",
                        {{"limit", options_.limits.max_frame_bytes}}));
    co_return;
  }
  if (!body.complete) {
    fail(transport_error("the connection was lost while reading the answer to request " +
                         out.request_id->to_string()));
    co_return;
  }
  response->finish();
  deliver(body.text, nullptr);
}

void HttpClientTransport::answer_http_error(const Outgoing& out, const Response& response, const Body& body) {
  const unsigned status = response.status();
  int code = jsonrpc_code::server_error;
  std::string detail = excerpt(body.text);
  if (response.content_type() == kJson && !body.over) {
    if (auto message = jsonrpc::decode(body.text); message && message->kind() == jsonrpc::MessageKind::error_response) {
      if (message->id() == *out.request_id) {
        emit(std::move(*message));
        return;
      }
      code = message->error_code();
      detail = excerpt(message->error_message());
    }
  }
  std::string text = "HTTP " + std::to_string(status);
  if (const std::string reason = excerpt(response.reason()); !reason.empty()) text += " " + reason;
  if (!detail.empty()) text += ": " + detail;

  boost::json::object error{{"code", code}, {"message", text}, {"data", boost::json::object{{"http_status", status}}}};
  boost::json::object envelope{{"jsonrpc", "2.0"}, {"id", out.request_id->to_json()}, {"error", std::move(error)}};
  auto message = jsonrpc::Message::from_json(std::move(envelope));
  if (message) emit(std::move(*message));
}

bool HttpClientTransport::capture_session(const Response& response, bool from_initialize) {
  const auto& header = response.parser->get();
  const auto found = header.find("Mcp-Session-Id");
  if (found == header.end()) return true;
  if (!session_id_.empty() && !from_initialize) return true;  // the session is the one initialize named
  const std::string_view id = found->value();
  if (!valid_session_id(id)) {
    fail(protocol_error("the server sent an invalid Mcp-Session-Id \"" + excerpt(id, 64) +
                        "\" (it must be 1 to 1024 visible ASCII characters)"));
    return false;
  }
  session_id_ = std::string(id);
  std::lock_guard lock(mutex_);
  session_for_describe_ = session_id_;
  return true;
}

void HttpClientTransport::maybe_open_standalone() {
  if (terminal_ || standalone_started_ || !initialized_called_ || !initialized_notified_) return;
  standalone_started_ = true;
  spawn(open_standalone_stream());
}

asio::awaitable<void> HttpClientTransport::open_standalone_stream() {
  Stream stream;
  stream.standalone = true;
  Request request = make_request(http::verb::get);
  request.set(http::field::accept, kEventStream);
  const bool sent_session = !session_id_.empty();
  auto response = co_await exchange(request, nullptr);
  if (terminal_) co_return;
  if (!response) {
    Logger::global().warn("trellis.http_client.get_stream_failed",
                          {{"url", options_.url}, {"reason", response.error().message}});
    co_return;
  }
  const unsigned status = response->status();
  if (status == 200 && response->content_type() == kEventStream) {
    co_await follow_stream(std::move(*response), std::move(stream));
    co_return;
  }
  if (status == 404 && sent_session) {
    lose_session();
    co_return;
  }
  // 405: the server offers no standalone stream, as the specification allows. Anything else:
  // it does not offer one that we understand; POST answers still carry everything we need.
  if (status != 405) {
    Logger::global().warn("trellis.http_client.get_stream_refused", {{"url", options_.url}, {"status", status}});
  }
  response->lease.discard();
}

asio::awaitable<void> HttpClientTransport::follow_stream(Response response, Stream stream) {
  for (;;) {
    const bool ok = co_await consume_stream(response, stream);
    if (!ok || terminal_) co_return;
    response.finish();
    if (!stream.standalone && stream.answered) co_return;
    if (!stream.standalone && stream.last_event_id.empty()) {
      fail(transport_error(stream.name() + " ended before the response arrived, without an event id to resume from",
                           {{"url", options_.url}}));
      co_return;
    }
    auto next = co_await reopen_stream(stream);
    if (!next) co_return;
    response = std::move(*next);
  }
}

asio::awaitable<bool> HttpClientTransport::consume_stream(Response& response, Stream& stream) {
  sse::ParserOptions parser_options;
  parser_options.max_event_bytes = options_.limits.max_frame_bytes + kSseFieldOverhead;
  sse::Parser parser(parser_options, stream.last_event_id);
  std::vector<sse::Event> events;
  bool lingering = false;
  while (!response.parser->is_done()) {
    const auto [ec, bytes] = co_await response.lease->read_some(*response.parser);
    if (terminal_) co_return false;
    if (!bytes.empty()) {
      events.clear();
      auto fed = parser.feed(bytes, events);
      if (!events.empty() || parser.last_event_id() != stream.last_event_id) stream.failed_attempts = 0;
      stream.last_event_id = parser.last_event_id();
      if (parser.retry()) stream.retry = parser.retry();
      for (const auto& event : events) {
        // Events of other types are not MCP messages; empty data primes a stream with an id.
        if (!event.type.empty() && event.type != "message") continue;
        if (event.data.empty()) continue;
        if (!deliver(event.data, &stream) || terminal_) co_return false;
      }
      if (!fed) {
        fail(protocol_error(stream.name() + ": " + fed.error().message + " (max_frame_bytes " +
                                std::to_string(options_.limits.max_frame_bytes) + ")",
                            {{"limit", options_.limits.max_frame_bytes}}));
        co_return false;
      }
      if (stream.answered && !stream.standalone && !lingering) {
        lingering = true;
        response.lease->set_timeout(kLinger);
      }
    }
    if (ec) break;  // dropped: the caller decides whether to resume
  }
  co_return true;
}

asio::awaitable<std::optional<Response>> HttpClientTransport::reopen_stream(Stream& stream) {
  for (;;) {
    if (stream.failed_attempts >= options_.max_resume_attempts) {
      if (stream.standalone) {
        Logger::global().warn("trellis.http_client.get_stream_abandoned",
                              {{"url", options_.url}, {"attempts", stream.failed_attempts}});
      } else {
        fail(transport_error("cannot resume " + stream.name() + " after " + std::to_string(stream.failed_attempts) +
                                 " attempts",
                             {{"url", options_.url}, {"last_event_id", stream.last_event_id}}));
      }
      co_return std::nullopt;
    }
    ++stream.failed_attempts;
    co_await sleep(resume_delay(stream));
    if (terminal_) co_return std::nullopt;

    Request request = make_request(http::verb::get);
    request.set(http::field::accept, kEventStream);
    if (!stream.last_event_id.empty()) request.set("Last-Event-ID", stream.last_event_id);
    const bool sent_session = !session_id_.empty();
    auto response = co_await exchange(request, nullptr);
    if (terminal_) co_return std::nullopt;
    if (!response) continue;  // the server may be restarting: counted, tried again
    const unsigned status = response->status();
    if (status == 200 && response->content_type() == kEventStream) co_return std::move(*response);
    response->lease.discard();
    if (status == 404 && sent_session) {
      lose_session();
      co_return std::nullopt;
    }
    if (status == 405) {
      if (!stream.standalone) {
        fail(transport_error("cannot resume " + stream.name() + ": the server does not allow GET (405)",
                             {{"url", options_.url}}));
      }
      co_return std::nullopt;
    }
  }
}

milliseconds HttpClientTransport::resume_delay(const Stream& stream) const {
  if (stream.retry) return std::min(*stream.retry, kMaxRetryDelay);
  // No `retry` from the server: default_retry, growing 1.5x per attempt without progress.
  const double factor = std::pow(1.5, std::max(0, stream.failed_attempts - 1));
  const double delay = static_cast<double>(options_.default_retry.count()) * factor;
  return std::min(milliseconds(static_cast<milliseconds::rep>(std::min(delay, 1e12))),
                  std::max(kMaxBackoff, options_.default_retry));
}

asio::awaitable<void> HttpClientTransport::sleep(milliseconds delay) {
  if (terminal_) co_return;
  asio::steady_timer timer(strand_, delay);
  sleepers_.insert(&timer);
  error_code ignored;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  sleepers_.erase(&timer);
}

bool HttpClientTransport::deliver(std::string_view text, Stream* stream) {
  const std::size_t limit = options_.limits.max_frame_bytes;
  if (text.size() > limit) {
    fail(protocol_error("a message of " + std::to_string(text.size()) + " bytes exceeds max_frame_bytes (" +
                            std::to_string(limit) + ")",
                        {{"size", text.size()}, {"limit", limit}}));
    return false;
  }
  jsonrpc::DecodeOptions decode_options;
  decode_options.max_message_bytes = limit;
  auto message = jsonrpc::decode(text, decode_options);
  if (!message) {
    fail(protocol_error("the server sent an invalid JSON-RPC message: " + message.error().message,
                        {{"code", message.error().code}}));
    return false;
  }
  if (stream != nullptr && stream->awaited &&
      (message->kind() == jsonrpc::MessageKind::response || message->kind() == jsonrpc::MessageKind::error_response) &&
      message->id() == *stream->awaited) {
    stream->answered = true;
  }
  emit(std::move(*message));
  return true;
}

void HttpClientTransport::emit(jsonrpc::Message message) {
  if (!terminal_ && events_.message) events_.message(std::move(message));
}

void HttpClientTransport::fail(Error error) {
  if (terminal_) return;
  terminal_ = true;
  {
    std::lock_guard lock(mutex_);
    if (phase_ == Phase::running) phase_ = Phase::failed;
  }
  stop_everything();
  Logger::global().warn("trellis.http_client.failed", {{"url", options_.url}, {"error", error.to_json()}});
  if (events_.failed) events_.failed(std::move(error));
}

void HttpClientTransport::lose_session() {
  if (terminal_) return;
  terminal_ = true;
  {
    std::lock_guard lock(mutex_);
    if (phase_ == Phase::running) phase_ = Phase::failed;
  }
  stop_everything();
  Logger::global().info("trellis.http_client.session_lost", {{"url", options_.url}, {"session", session_id_}});
  if (events_.session_lost) events_.session_lost();
}

void HttpClientTransport::stop_everything() noexcept {
  pool_->close_all();
  for (auto* timer : sleepers_) timer->cancel();
}

void HttpClientTransport::begin_close(bool send_delete) {
  const bool healthy = !terminal_;
  terminal_ = true;
  stop_everything();
  if (!send_delete || !healthy || session_id_.empty()) return;
  // A last resort in case name resolution hangs: the io_context stops regardless.
  auto failsafe = std::make_shared<asio::steady_timer>(strand_, 2 * options_.connect_timeout + milliseconds(500));
  failsafe->async_wait([this](error_code ec) {
    if (!ec) io_->stop();
  });
  asio::co_spawn(strand_, delete_session(failsafe), [](std::exception_ptr) {});
}

asio::awaitable<void> HttpClientTransport::delete_session(std::shared_ptr<asio::steady_timer> failsafe) {
  // The pool is closed by now: the DELETE gets a connection of its own.
  http_client::Connection connection(strand_, tls_.get());
  error_code ec = co_await connection.connect(*endpoint_, options_.verify_tls, options_.connect_timeout);
  if (!ec) {
    connection.set_timeout(options_.connect_timeout);
    Request request = make_request(http::verb::delete_);
    ec = co_await connection.write(request);
    ResponseParser parser;
    if (!ec) ec = co_await connection.read_header(parser);
    // 200/204 ended the session; 405 means the server does not let clients end sessions.
    if (!ec) {
      Logger::global().debug("trellis.http_client.session_deleted",
                             {{"url", options_.url}, {"status", parser.get().result_int()}});
    }
  }
  connection.close();
  failsafe->cancel();
}

}  // namespace

std::unique_ptr<ClientTransport> make_http_transport(HttpTransportOptions options) {
  return std::make_unique<HttpClientTransport>(std::move(options));
}

}  // namespace trellis
