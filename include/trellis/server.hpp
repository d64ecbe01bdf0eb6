// trellis/server.hpp — an MCP server: register tools, resources, prompts and completions, then
// serve them over stdio (serve_stdio) or Streamable HTTP (trellis/http_server.hpp).
//
//   trellis::Server server({.info = {.name = "demo", .version = "1.0.0"}});
//   server.add_tool({.name = "echo",
//                    .description = "Echoes its input",
//                    .input_schema = boost::json::parse(R"({"type":"object",
//                        "properties":{"text":{"type":"string"}},"required":["text"]})").as_object()},
//                   [](trellis::RequestContext&, const boost::json::object& args) -> trellis::Result<boost::json::object> {
//                     return trellis::tool_text(args.at("text").as_string());
//                   });
//   return server.serve_stdio();
//
// Handlers run on the server's bounded worker pool, never on an I/O thread, so they may block;
// each may be a plain function or a coroutine (boost::asio::awaitable).
// Each receives a RequestContext: its params, a std::stop_token that is requested when the client
// cancels (the response is then suppressed), a progress reporter, a logger that emits
// `notifications/message`, and blocking calls that send sampling, elicitation and roots requests
// to the client and wait for the answer.
//
// Definitions are kept exactly as given (a tool's inputSchema is echoed byte for byte in
// tools/list, JSON Schema 2020-12 keywords included) and may be added or removed while serving;
// sessions that can hear it get a list_changed notification.
#pragma once

#include "trellis/error.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace trellis {

// Protocol revisions this server speaks, newest first. An initialize asking for one of them gets
// it; any other request gets the newest.
inline constexpr std::string_view kLatestProtocolVersion = "2025-11-25";
std::span<const std::string_view> supported_protocol_versions() noexcept;

// The `serverInfo` / `clientInfo` of initialize.
struct Implementation {
  std::string name;
  std::string version;
  std::string title;  // optional display name
};

// MCP log levels (RFC 5424 severities), lowest first.
enum class LogLevel { debug, info, notice, warning, error, critical, alert, emergency };
std::string_view to_string(LogLevel level) noexcept;
std::optional<LogLevel> parse_log_level(std::string_view text) noexcept;

// ---------------------------------------------------------------------------------------------
// Definitions (what tools/list, resources/list, ... return). Empty optional members are omitted.
// ---------------------------------------------------------------------------------------------

struct ToolDefinition {
  std::string name;
  std::string title;
  std::string description;
  // Kept exactly as given. Empty: {"type":"object"}.
  boost::json::object input_schema;
  // When set, structuredContent of every successful result is validated against it.
  std::optional<boost::json::object> output_schema;
  boost::json::object annotations;  // readOnlyHint, destructiveHint, ... (omitted when empty)
  boost::json::array icons;         // [{src, mimeType, sizes}] (omitted when empty)
  boost::json::object meta;         // _meta (omitted when empty)
};

struct ResourceDefinition {
  std::string uri;
  std::string name;
  std::string title;
  std::string description;
  std::string mime_type;
  std::optional<std::uint64_t> size;
  boost::json::object annotations;
  boost::json::array icons;
};

struct ResourceTemplateDefinition {
  std::string uri_template;  // RFC 6570, e.g. "file:///{+path}"
  std::string name;
  std::string title;
  std::string description;
  std::string mime_type;
  boost::json::object annotations;
  boost::json::array icons;
};

struct PromptArgument {
  std::string name;
  std::string title;
  std::string description;
  bool required = false;
};

struct PromptDefinition {
  std::string name;
  std::string title;
  std::string description;
  std::vector<PromptArgument> arguments;
  boost::json::array icons;
};

// ---------------------------------------------------------------------------------------------
// What a handler gets
// ---------------------------------------------------------------------------------------------

// The client as it introduced itself in initialize.
struct ClientInfo {
  Implementation info;
  std::string protocol_version;      // the negotiated revision
  boost::json::object capabilities;  // as sent
};

// The per-request context. Valid for the duration of the handler call; not copyable.
class RequestContext {
 public:
  virtual ~RequestContext() = default;

  // The request's params (an object, possibly empty).
  virtual const boost::json::object& params() const noexcept = 0;
  // Requested when the client cancels the request or the session ends. Check it in long loops.
  virtual std::stop_token stop_token() const noexcept = 0;
  bool stop_requested() const noexcept { return stop_token().stop_requested(); }

  // Sends notifications/progress when the client asked for progress (params._meta.progressToken);
  // a no-op otherwise. `progress` must increase from call to call.
  virtual void report_progress(double progress, std::optional<double> total = std::nullopt,
                               std::string_view message = {}) = 0;
  // Sends notifications/message when `level` is at or above the session's level (logging/setLevel).
  virtual void log(LogLevel level, boost::json::value data, std::string_view logger = {}) = 0;

  // Sends a request to the client and blocks this worker until the answer, the timeout, or a stop
  // request. A JSON-RPC error from the client is an Error of kind `remote` with its code.
  virtual Result<boost::json::value> send_request(std::string_view method, boost::json::object params,
                                                  std::chrono::milliseconds timeout = std::chrono::seconds(60)) = 0;
  // sampling/createMessage, elicitation/create and roots/list; each fails with kind `state` when
  // the client did not declare the capability.
  Result<boost::json::object> create_message(boost::json::object params);
  Result<boost::json::object> elicit(boost::json::object params);
  Result<boost::json::array> list_roots();

  // Ends this request's stream now, before the response (SSE polling, SEP-1699): the client
  // reconnects with GET and Last-Event-ID after the server's `retry` delay and receives what
  // follows, the response included. A no-op where the transport has no such stream (stdio, JSON).
  virtual void close_stream() = 0;

  virtual const ClientInfo& client() const noexcept = 0;
  // The Mcp-Session-Id (empty over stdio and in stateless HTTP).
  virtual std::string_view session_id() const noexcept = 0;
};

// tools/call: returns a CallToolResult ({content, structuredContent?, isError?}). An Error
// returned or an exception thrown becomes a result with isError: true and the message as text,
// so the model can see what went wrong; except an Error of kind `protocol` with a code, which is
// answered as that JSON-RPC error.
using ToolHandler = std::function<Result<boost::json::object>(RequestContext&, const boost::json::object& arguments)>;

// The variables of a matched resource template, in template order (empty for static resources).
using UriVariables = std::vector<std::pair<std::string, std::string>>;
// resources/read: returns the `contents` array ({uri, mimeType, text} or {uri, mimeType, blob}).
using ResourceReader =
    std::function<Result<boost::json::array>(RequestContext&, std::string_view uri, const UriVariables& variables)>;

// prompts/get: returns a GetPromptResult ({description?, messages}). Required arguments are
// checked before the handler runs.
using PromptHandler = std::function<Result<boost::json::object>(RequestContext&, const boost::json::object& arguments)>;

// completion/complete: candidate values for `value`, the partial input of one argument;
// `context_arguments` are the already-resolved arguments. At most 100 are sent (hasMore set).
using Completer = std::function<Result<std::vector<std::string>>(std::string_view value,
                                                                 const boost::json::object& context_arguments)>;

// Coroutine forms of the three handlers. A coroutine handler runs on a worker like any other,
// inside an io_context of its own, so it can co_await Asio operations (timers, sockets, other
// services); the worker waits for it to finish.
using AsyncToolHandler =
    std::function<boost::asio::awaitable<Result<boost::json::object>>(RequestContext&, const boost::json::object& arguments)>;
using AsyncResourceReader = std::function<boost::asio::awaitable<Result<boost::json::array>>(
    RequestContext&, std::string_view uri, const UriVariables& variables)>;
using AsyncPromptHandler =
    std::function<boost::asio::awaitable<Result<boost::json::object>>(RequestContext&, const boost::json::object& arguments)>;

// Result builders.
boost::json::object text_content(std::string_view text);
boost::json::object tool_text(std::string_view text);        // {content:[{type:text,text}]}
boost::json::object tool_error(std::string_view message);    // the same with isError: true
boost::json::object text_resource(std::string_view uri, std::string_view mime_type, std::string_view text);
boost::json::object blob_resource(std::string_view uri, std::string_view mime_type, std::string_view bytes);
std::string base64_encode(std::string_view bytes);

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

// The longest URI a session may subscribe to: with max_subscriptions_per_session, what bounds the
// memory a client's subscriptions take (8 MiB at the default limits).
inline constexpr std::size_t kMaxSubscribedUriBytes = 8192;

struct ServerOptions {
  Implementation info{.name = "trellis", .version = "", .title = ""};  // empty version: Trellis's
  std::string instructions;       // sent in the initialize result when not empty
  std::size_t worker_threads = 0; // 0: the number of cores (at least 2)
  // How long a worker that ran out of handlers to run keeps looking for the next one before it
  // sleeps (one worker at a time). A request that finds it looking starts without a thread
  // wake-up; an idle server spins this long once after its last request. 0: never spin.
  std::chrono::microseconds worker_spin{50};
  // serve_stdio only: how long the reader keeps looking at stdin after it ran dry before it
  // sleeps in epoll (yielding its core between looks). A client that sends its next request
  // within this time does not have to wake the reader. Off by default: with a spinning worker
  // it keeps two cores busy, which on a 2-core machine made a single-threaded client's
  // sequential calls 2.7× faster but slowed a multi-threaded client such as Trellis's own
  // (docs/performance.md). Worth it where cores are spare. 0: never spin.
  std::chrono::microseconds stdin_spin{0};
  // serve_stdio only: the longest a response waits to be written together with the responses of
  // the requests queued behind it (at most 16 go in one write). It waits that long only when the
  // request behind it runs longer; otherwise the batch goes out as soon as the queue is empty.
  // One write per batch instead of per response made a client with 64 calls in flight 13-35 %
  // faster on 2 cores (docs/performance.md). 0: every response is written at once.
  std::chrono::microseconds stdout_hold{1000};
  // Requests of one session running at once; more are rejected with a retryable -32000 error.
  std::size_t max_inflight_per_session = 256;
  // URIs one session may be subscribed to (resources/subscribe); one more is refused with
  // -32000 until the client unsubscribes from one. Each URI is at most kMaxSubscribedUriBytes.
  std::size_t max_subscriptions_per_session = 1024;
  // Items per page of every list; a client passes the returned nextCursor to continue.
  std::size_t page_size = 100;
  std::chrono::milliseconds init_timeout{30'000};   // initialize → initialized
  std::chrono::milliseconds drain_timeout{10'000};  // shutdown waits this long for handlers
  std::size_t max_message_bytes = 16 * 1024 * 1024;
};

namespace server_detail {
class Core;
}

class Server {
 public:
  explicit Server(ServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Registration; a second definition with the same name (or uri) replaces the first. Returns
  // an error of kind `config` for an invalid definition (empty name, a schema that does not
  // compile, a template that does not parse).
  Result<void> add_tool(ToolDefinition definition, ToolHandler handler);
  Result<void> add_resource(ResourceDefinition definition, ResourceReader reader);
  Result<void> add_resource_template(ResourceTemplateDefinition definition, ResourceReader reader);
  Result<void> add_prompt(PromptDefinition definition, PromptHandler handler);
  Result<void> add_tool(ToolDefinition definition, AsyncToolHandler handler);
  Result<void> add_resource(ResourceDefinition definition, AsyncResourceReader reader);
  Result<void> add_resource_template(ResourceTemplateDefinition definition, AsyncResourceReader reader);
  Result<void> add_prompt(PromptDefinition definition, AsyncPromptHandler handler);
  // Completion for a prompt argument (ref/prompt) or a template variable (ref/resource).
  void add_prompt_completion(std::string prompt, std::string argument, Completer completer);
  void add_resource_completion(std::string uri_template, std::string variable, Completer completer);

  bool remove_tool(std::string_view name);
  bool remove_resource(std::string_view uri);
  bool remove_prompt(std::string_view name);

  // notifications/resources/updated to every session subscribed to `uri`.
  void notify_resource_updated(std::string_view uri);
  // notifications/message to every session whose level admits it.
  void log(LogLevel level, boost::json::value data, std::string_view logger = {});

  // Serves one session over stdin/stdout until EOF (orderly shutdown: in-flight handlers finish
  // first) or shutdown(). Logs go to stderr only. Returns a process exit code, and only once
  // every handler it started has returned, even one that outlived drain_timeout.
  int serve_stdio();
  int serve_stdio(int in_fd, int out_fd);

  // Stops every transport: new requests are rejected, in-flight ones finish (up to
  // drain_timeout), then sessions close. Safe from any thread and from a signal-watching thread.
  void shutdown();

  const ServerOptions& options() const noexcept;
  // For transports: the shared engine.
  const std::shared_ptr<server_detail::Core>& core() const noexcept { return core_; }

 private:
  std::shared_ptr<server_detail::Core> core_;
};

}  // namespace trellis
