// trellis/client.hpp — an MCP client whose every call ends in exactly one outcome.
//
//   auto client = trellis::Client::connect(
//       [] { return trellis::make_stdio_transport({.command = "my-server"}); }, {});
//   if (!client) { std::cerr << client.error().describe() << "\n"; return 1; }
//   auto tools = (*client)->list_tools();                       // every page
//   auto result = (*client)->call_tool("echo", {{"text", "hi"}},
//                                      {.timeout = std::chrono::seconds(5)});
//
// The connection is the client_connection state machine (docs/state-machines.md). Its promise:
//  - a call made outside `ready` fails at once with Error{kind=state, data={state}}; nothing is
//    buffered while reconnecting;
//  - every call ends exactly once: with the response, or with `timeout` (the server is sent
//    notifications/cancelled), `cancelled`, `transport`, `session` or `state`;
//  - a response is delivered only to the call that is waiting for it: late responses (after a
//    timeout or cancel) hit a tombstone and are dropped and counted; request ids are never reused,
//    and each carries its transport generation, so a response from an earlier connection is
//    dropped even after its tombstone expired;
//  - when the transport fails the connection reconnects with exponential backoff and jitter,
//    guarded by a circuit breaker, and initializes again; calls in flight on a transport that
//    cannot resume fail with `transport` at once.
//
// Calls are available as blocking functions, as callbacks (`async_request`) and with any Asio
// completion token (`async_call`, e.g. use_awaitable in a coroutine); the blocking forms must not
// be called from a handler of this client.
#pragma once

#include "trellis/client_transport.hpp"
#include "trellis/error.hpp"
#include "trellis/server.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

namespace trellis {

// Per-call options.
struct CallOptions {
  // No response within this time: the call fails with `timeout` and the server is told to cancel.
  std::optional<std::chrono::milliseconds> timeout;  // default: ClientOptions::request_timeout
  // Receives notifications/progress for this call (a progress token is added to the request).
  std::function<void(double progress, std::optional<double> total, std::string_view message)> on_progress;
  // Each progress notification restarts the timeout (never beyond max_total_timeout).
  bool reset_timeout_on_progress = false;
  std::optional<std::chrono::milliseconds> max_total_timeout;
  // Requesting a stop cancels the call: it fails with `cancelled` and the server is told.
  std::stop_token stop;
};

// Handlers for what the server sends. Requests (sampling, elicitation, roots) run on the
// client's worker thread and may block; notifications run in order and should be quick.
struct ClientHandlers {
  std::function<Result<boost::json::object>(const boost::json::object& params)> sampling;
  // Form mode gets the schema's defaults applied to `content` when the handler leaves them out.
  std::function<Result<boost::json::object>(const boost::json::object& params)> elicitation;
  std::function<Result<boost::json::array>()> roots;  // the roots (each {uri, name?})
  std::function<void(LogLevel level, const boost::json::value& data, std::string_view logger)> on_log;
  std::function<void(std::string_view kind)> on_list_changed;  // "tools", "resources", "prompts"
  std::function<void(std::string_view uri)> on_resource_updated;
  // Any other notification (method, params).
  std::function<void(std::string_view method, const boost::json::value& params)> on_notification;
};

struct ClientOptions {
  Implementation info{.name = "trellis-client", .version = "", .title = ""};
  std::string protocol_version{kLatestProtocolVersion};
  ClientHandlers handlers;
  bool elicitation_url_mode = true;  // advertise elicitation {form, url} (form only when false)
  // Design 001 defaults.
  std::chrono::milliseconds request_timeout{30'000};
  std::chrono::milliseconds init_timeout{10'000};
  std::chrono::milliseconds backoff_min{1'000};
  std::chrono::milliseconds backoff_max{30'000};
  double backoff_jitter = 0.2;
  int max_reconnect_attempts = 10;  // consecutive failed reconnects before the client closes
  int send_attempts = 3;            // when the transport is busy: attempts, 10 ms ±50 % apart
  std::chrono::milliseconds send_retry_delay{10};
  std::chrono::milliseconds drain_timeout{5'000};  // stop() waits this long for calls in flight
  bool auto_reconnect = true;
  // Circuit breaker guarding reconnects (see trellis/circuit_breaker.hpp).
  int breaker_failure_threshold = 5;
  std::chrono::milliseconds breaker_open_for{60'000};
};

// Counters for tests, metrics and `debug_state`.
struct ClientStats {
  std::uint64_t late_responses = 0;       // matched a tombstone
  std::uint64_t stale_generation = 0;     // from an earlier transport generation, no tombstone left
  std::uint64_t unknown_responses = 0;    // ids we never sent
  std::uint64_t reconnects = 0;
  std::uint64_t generation = 0;
  std::size_t in_flight = 0;
  std::size_t tombstones = 0;
};

namespace client_detail {
class Connection;
}

class Client {
 public:
  // Creates the connection, starts the first transport and initializes; returns once the client
  // is ready or the first attempt failed (the error of that attempt).
  static Result<std::shared_ptr<Client>> connect(TransportFactory factory, ClientOptions options = {});

  ~Client();  // stop()
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // A request of any method. The callback runs exactly once, on the client's thread.
  void async_request(std::string method, boost::json::object params, CallOptions options,
                     std::function<void(Result<boost::json::value>)> done);
  Result<boost::json::value> request(std::string method, boost::json::object params = {}, CallOptions options = {});
  // The same with any Asio completion token: `co_await client.async_call(m, p, {},
  // boost::asio::use_awaitable)` in a coroutine, use_future, or a plain callback. The completion
  // runs on the token's associated executor (the coroutine's, for use_awaitable).
  template <class CompletionToken>
  auto async_call(std::string method, boost::json::object params, CallOptions options, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(Result<boost::json::value>)>(
        [this](auto handler, std::string m, boost::json::object p, CallOptions o) {
          auto work = boost::asio::make_work_guard(handler);
          auto shared = std::make_shared<decltype(handler)>(std::move(handler));
          async_request(std::move(m), std::move(p), std::move(o),
                        [shared, work = std::move(work)](Result<boost::json::value> outcome) mutable {
                          auto executor = boost::asio::get_associated_executor(*shared);
                          boost::asio::post(executor, [shared, outcome = std::move(outcome)]() mutable {
                            (*shared)(std::move(outcome));
                          });
                          work.reset();
                        });
        },
        token, std::move(method), std::move(params), std::move(options));
  }
  // A notification (no answer).
  Result<void> notify(std::string method, boost::json::object params = {});

  // Typed calls; list_* follow nextCursor until the last page.
  Result<boost::json::array> list_tools(CallOptions options = {});
  Result<boost::json::object> call_tool(std::string_view name, boost::json::object arguments = {}, CallOptions options = {});
  Result<boost::json::array> list_resources(CallOptions options = {});
  Result<boost::json::array> list_resource_templates(CallOptions options = {});
  Result<boost::json::object> read_resource(std::string_view uri, CallOptions options = {});
  Result<void> subscribe(std::string_view uri, CallOptions options = {});
  Result<void> unsubscribe(std::string_view uri, CallOptions options = {});
  Result<boost::json::array> list_prompts(CallOptions options = {});
  Result<boost::json::object> get_prompt(std::string_view name, boost::json::object arguments = {}, CallOptions options = {});
  Result<boost::json::object> complete(boost::json::object ref, std::string_view argument, std::string_view value,
                                       boost::json::object context_arguments = {}, CallOptions options = {});
  Result<void> set_logging_level(LogLevel level, CallOptions options = {});
  Result<void> ping(CallOptions options = {});

  // What the server said in initialize (empty until the first successful initialize).
  boost::json::object server_info() const;
  boost::json::object server_capabilities() const;
  std::string protocol_version() const;
  std::string_view state() const;  // the connection machine's state
  ClientStats stats() const;
  boost::json::object debug_state() const;

  // Stops accepting calls, lets calls in flight finish (up to drain_timeout; the rest fail with
  // `cancelled`), closes the transport. Idempotent; blocks until closed.
  void stop();

 private:
  explicit Client(std::shared_ptr<client_detail::Connection> connection);
  std::shared_ptr<client_detail::Connection> connection_;
};

// Fills in the defaults of an elicitation form schema ({properties: {x: {default: ...}}}) that
// `content` leaves out. Used for elicitation results in form mode.
boost::json::object apply_schema_defaults(const boost::json::object& requested_schema, boost::json::object content);

}  // namespace trellis
