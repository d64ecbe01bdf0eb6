// trellis/error.hpp — the one error type of Trellis and the result type that carries it.
//
// Every fallible Trellis operation returns `trellis::Result<T>` (a `boost::system::result`) whose
// error is a `trellis::Error`: a kind that tells the caller what happened and whether retrying
// can help, a JSON-RPC style code, a human message with the values in it, and structured data.
//
//   trellis::Result<int> parse_port(std::string_view s);
//
//   auto port = parse_port(text);
//   if (!port) {
//     log(port.error().message);
//     if (trellis::retry_can_help(port.error().kind)) schedule_retry();
//   }
//
// Calling `.value()` on a failed result throws `trellis::ErrorException` — that is the API
// boundary for code that prefers exceptions.
#pragma once

#include <boost/assert/source_location.hpp>
#include <boost/json/value.hpp>
#include <boost/system/result.hpp>

#include <stdexcept>
#include <string>
#include <string_view>

namespace trellis {

// What went wrong, at the level a caller can act on. The comment on each kind says whether a
// retry of the same operation can succeed.
enum class ErrorKind {
  // The object was not in a state that accepts the operation (e.g. a call while the client is
  // reconnecting). Retry can help: once the machine is back in a state that accepts it.
  state,
  // The transport failed (process died, socket closed, write failed). Retry can help, on a new
  // transport; the operation may or may not have taken effect at the peer.
  transport,
  // The peer broke the protocol (malformed JSON-RPC, oversized frame, unknown message). Retry
  // does not help with the same peer and input.
  protocol,
  // No outcome arrived in time; the peer was told to cancel. Retry can help; the operation may
  // have taken effect at the peer.
  timeout,
  // The caller cancelled the operation. Retry is the caller's decision, never automatic.
  cancelled,
  // The peer answered with a JSON-RPC error; `code` is the peer's code. Retry does not help
  // unless the peer's error says otherwise.
  remote,
  // A bounded queue or in-flight limit was full. Retry can help, after a delay.
  backpressure,
  // The peer no longer knows our session (HTTP 404 on Mcp-Session-Id). Retry can help after
  // re-initializing; Trellis clients do that themselves.
  session,
  // A policy refused the operation (allow-list, deny-list, quarantine). Retry does not help
  // until the policy changes.
  policy,
  // Invalid configuration, detected at start-up. Retry does not help until the config is fixed.
  config,
  // A bug in Trellis or in a handler (an invariant broke). Retry does not help.
  internal,
};

inline constexpr int kErrorKindCount = 11;

// The kind's name as it appears in logs and JSON ("state", "transport", ...).
std::string_view to_string(ErrorKind kind) noexcept;

// Whether retrying the same operation can succeed, as documented on each ErrorKind.
bool retry_can_help(ErrorKind kind) noexcept;

// Standard JSON-RPC 2.0 error codes (and the MCP ones Trellis uses).
namespace jsonrpc_code {
inline constexpr int parse_error = -32700;
inline constexpr int invalid_request = -32600;
inline constexpr int method_not_found = -32601;
inline constexpr int invalid_params = -32602;
inline constexpr int internal_error = -32603;
// Implementation-defined server errors live in -32000..-32099.
inline constexpr int server_error = -32000;
// MCP: a resource that does not exist.
inline constexpr int resource_not_found = -32002;
}  // namespace jsonrpc_code

// An error: what kind, a JSON-RPC code (0 when no code applies), a message that names the values
// involved, and optional structured data (e.g. {"state": "reconnecting"}).
struct Error {
  ErrorKind kind = ErrorKind::internal;
  int code = 0;
  std::string message;
  boost::json::value data;  // null when there is nothing to add

  // {"kind": ..., "code": ..., "message": ..., "data": ...} (data and code omitted when empty).
  boost::json::value to_json() const;
  // "state: client not ready (code 0)" style one-liner for logs and CLI output.
  std::string describe() const;

  friend bool operator==(const Error&, const Error&) = default;
};

// Shorthand constructor: make_error(ErrorKind::state, "client not ready", {{"state", "closed"}}).
Error make_error(ErrorKind kind, std::string message, boost::json::value data = nullptr, int code = 0);

// Thrown by Result<T>::value() on an error, carrying the Error.
class ErrorException : public std::runtime_error {
 public:
  explicit ErrorException(Error error);
  const Error& error() const noexcept { return error_; }

 private:
  Error error_;
};

// Found by argument-dependent lookup from boost::system::result<T, Error>::value().
[[noreturn]] void throw_exception_from_error(const Error& error, const boost::source_location& where);

template <class T>
using Result = boost::system::result<T, Error>;

}  // namespace trellis
