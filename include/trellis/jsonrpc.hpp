// trellis/jsonrpc.hpp — JSON-RPC 2.0 messages: decode once, dispatch by method name, encode into
// reused buffers.
//
// Every MCP message is one JSON-RPC 2.0 message. `decode` checks the size, parses the text once
// with Boost.JSON, building only the parts a message carries (params, result or error; the
// envelope is read as it goes by), and validates the envelope; the `Message` it returns owns
// those parts and hands out views into them (the method as a std::string_view, params as a
// reference), so nothing is copied. The `encode_*` functions append one compact message to a
// caller-owned std::string, so a connection reuses one buffer for everything it writes. `Router` maps method names to
// handlers and finds them by string view without allocating. Failures are `trellis::Error`s of
// kind `protocol` whose `code` is the JSON-RPC code to answer with.
//
//   namespace jsonrpc = trellis::jsonrpc;
//   jsonrpc::Router<Handler> router;          // Handler: boost::json::value(const boost::json::value&)
//   router.add("tools/call", call_tool);
//   std::string out;                          // reused for every reply
//
//   out.clear();
//   auto message = jsonrpc::decode(line);
//   if (!message) {
//     jsonrpc::encode_decode_error(out, message.error());  // -32700 / -32600, with the id if known
//   } else if (message->kind() == jsonrpc::MessageKind::request) {
//     if (const Handler* handler = router.find(message->method())) {
//       jsonrpc::encode_result(out, message->id(), (*handler)(message->params()));
//     } else {
//       jsonrpc::encode_error(out, message->id(), jsonrpc::method_not_found(message->method()));
//     }
//   }
//
// Nothing here takes a lock or keeps hidden state: the functions are safe to call from any thread,
// and so is a Router once registration is over.
#pragma once

#include "trellis/error.hpp"

#include <boost/json/value.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>

namespace trellis::jsonrpc {

// ---------------------------------------------------------------------------------------------
// Ids
// ---------------------------------------------------------------------------------------------

// A JSON-RPC id: null, an integer or a string. Integers keep their exact value over the whole
// int64 and uint64 ranges (no detour through double), strings keep their exact characters, so an
// id read from a peer is echoed back exactly. An unsigned value that fits int64 is stored as int64,
// so Id(std::uint64_t{7}) == Id(7). Ids are cheap to compare and hash (they key the client's
// table of pending calls).
class Id {
 public:
  // The null id: what an error response carries when the request's id could not be determined.
  Id() noexcept = default;
  Id(std::nullptr_t) noexcept {}

  // An integer id.
  template <std::signed_integral T>
  Id(T value) noexcept : value_(static_cast<std::int64_t>(value)) {}
  template <std::unsigned_integral T>
    requires(!std::same_as<T, bool>)
  Id(T value) noexcept {
    set_unsigned(static_cast<std::uint64_t>(value));
  }

  // A string id (any UTF-8 text, including the empty string).
  Id(std::string value) noexcept : value_(std::move(value)) {}
  Id(std::string_view value) : value_(std::string(value)) {}
  Id(const char* value) : value_(std::string(value)) {}

  // The id a JSON value denotes, or nullopt when the value cannot be an id: only null, integers
  // (as Boost.JSON parses them: int64 or uint64) and strings can; doubles (1.5, 1e3, integers
  // beyond the uint64 range), booleans, objects and arrays cannot.
  static std::optional<Id> from_json(const boost::json::value& json);

  bool is_null() const noexcept { return std::holds_alternative<std::nullptr_t>(value_); }
  bool is_integer() const noexcept { return if_int64() != nullptr || if_uint64() != nullptr; }
  bool is_string() const noexcept { return if_string() != nullptr; }

  // The integer, when the id is an integer in the int64 range; nullptr otherwise.
  const std::int64_t* if_int64() const noexcept { return std::get_if<std::int64_t>(&value_); }
  // The integer, when the id is an integer above the int64 range; nullptr otherwise.
  const std::uint64_t* if_uint64() const noexcept { return std::get_if<std::uint64_t>(&value_); }
  // The string, when the id is a string; nullptr otherwise.
  const std::string* if_string() const noexcept { return std::get_if<std::string>(&value_); }

  // The id as a JSON value (null, int64, uint64 or string).
  boost::json::value to_json() const;
  // The id as compact JSON text (`42`, `"abc"`, `null`), for logs and messages.
  std::string to_string() const;

  friend bool operator==(const Id&, const Id&) = default;
  // Consistent with ==; the same value on every run (no seeding).
  friend std::size_t hash_value(const Id& id) noexcept;

 private:
  void set_unsigned(std::uint64_t value) noexcept;

  std::variant<std::nullptr_t, std::int64_t, std::uint64_t, std::string> value_;
};

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

// The four shapes of a JSON-RPC 2.0 message.
enum class MessageKind {
  request,         // method and a non-null id: the peer expects exactly one response
  notification,    // method and no id: the peer expects no response
  response,        // result and a non-null id
  error_response,  // error {code, message, data?} and an id, null when the peer could not read ours
};

// "request", "notification", "response" or "error_response".
std::string_view to_string(MessageKind kind) noexcept;

// Limits checked by `decode`.
struct DecodeOptions {
  // Larger texts are rejected before any parsing (-32600, the message names size and limit).
  std::size_t max_message_bytes = 16 * 1024 * 1024;
  // Deeper nesting of arrays and objects is rejected (-32700) instead of exhausting the stack.
  // Keep it modest: checking and destroying a tree recurse once per level.
  std::size_t max_depth = 64;
};

class Message;

namespace detail {
// What the views of a Message point at when the member is absent.
extern const boost::json::value null_value;
// The members of a message's top-level object, each as its own value (the last of duplicates).
struct Envelope {
  std::optional<boost::json::value> jsonrpc, id, method, params, result, error;
};
// Where the member named `key` goes; nullptr for members JSON-RPC does not define (ignored).
std::optional<boost::json::value>* envelope_slot(Envelope& envelope, std::string_view key) noexcept;
// The envelope rules of `decode` and Message::from_json, applied to members already separated.
Result<Message> message_from_envelope(Envelope&& envelope);
}  // namespace detail

// One valid JSON-RPC 2.0 message. It owns what it carries (the params, the result or the error
// object); method(), params(), result() and the error accessors are views into it, valid as long
// as the Message lives. Move-only, so a tree is never copied by accident; moving keeps the views
// valid.
class Message {
 public:
  // Validates a parsed JSON value as a JSON-RPC 2.0 message, with the rules and error codes of
  // `decode` (all but the size limit). For transports that receive JSON already parsed.
  static Result<Message> from_json(boost::json::value json, const DecodeOptions& options = {});

  Message(Message&& other) noexcept = default;
  Message& operator=(Message&& other) noexcept;
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;
  ~Message() = default;

  MessageKind kind() const noexcept { return kind_; }
  // The id; never null for requests and responses, null for notifications.
  const Id& id() const noexcept { return id_; }
  // The method of a request or notification; empty for responses.
  std::string_view method() const noexcept { return method_; }
  // The params of a request or notification: an object or an array, or null when absent.
  const boost::json::value& params() const noexcept { return carries_method() ? body_ : detail::null_value; }
  // The result of a response (which may itself be null); null for other kinds.
  const boost::json::value& result() const noexcept { return kind_ == MessageKind::response ? body_ : detail::null_value; }
  // The result moved out of the message, for its owner once it needs nothing else from it: no
  // copy of the tree (a result can be megabytes). result() is null afterwards.
  boost::json::value take_result() noexcept;
  // The error of an error response: its code, message and data (null when absent). Zero, empty
  // and null for other kinds.
  int error_code() const noexcept { return error_code_; }
  std::string_view error_message() const noexcept { return error_message_; }
  const boost::json::value& error_data() const noexcept { return *error_data_; }
  // The error response as a trellis::Error of kind `remote` carrying the peer's code, message and
  // data (copied). Precondition: kind() == error_response; otherwise an `internal` error.
  Error remote_error() const;

  // The whole message as a JSON object, rebuilt from its parts (a copy: for logs and tests).
  boost::json::value to_json() const;

 private:
  friend Result<Message> detail::message_from_envelope(detail::Envelope&& envelope);
  Message() noexcept = default;
  bool carries_method() const noexcept { return kind_ == MessageKind::request || kind_ == MessageKind::notification; }

  MessageKind kind_ = MessageKind::notification;
  Id id_;
  std::string method_;
  boost::json::value body_;  // the params, the result or the error object, by kind
  const boost::json::value* error_data_ = &detail::null_value;  // in body_
  std::string_view error_message_;                               // in body_
  int error_code_ = 0;
};

// Decodes one JSON-RPC 2.0 message. In this order:
//  - text longer than options.max_message_bytes: -32600 "message of N bytes exceeds the limit of
//    M bytes", checked before parsing (an oversized message is not a JSON error, and the peer can
//    act on the limit; its id is never looked for);
//  - malformed JSON, invalid UTF-8, nesting deeper than options.max_depth, numbers beyond the
//    double range: -32700;
//  - a JSON array: -32600 "batch requests are not supported" (MCP 2025-06-18 and later);
//  - any other envelope violation (not an object; "jsonrpc" not "2.0"; an id that is not null, an
//    integer or a string; a non-string method; params neither object nor array; a null request
//    id; both method and result/error; both or neither of result and error; a malformed error
//    object): -32600 with a short message naming the rule.
// Errors have kind `protocol` and the JSON-RPC code in `code`. When the id of an invalid message
// could be read, `data` is {"id": <id>}: see `recovered_id` and `encode_decode_error`. Members
// other than jsonrpc, id, method, params, result and error are ignored; with duplicate keys the
// last one counts (as Boost.JSON parses).
Result<Message> decode(std::string_view text, const DecodeOptions& options = {});

// ---------------------------------------------------------------------------------------------
// Errors to answer with
// ---------------------------------------------------------------------------------------------

// The id of the message a decode error is about ({"id": ...} in its data), or the null id when
// it could not be determined, which is the id JSON-RPC says to answer with.
Id recovered_id(const Error& decode_error);

// -32601 "method not found", with {"method": method} as data: the answer to a request no handler
// is registered for.
Error method_not_found(std::string_view method);

// -32602 with the given message (e.g. "arguments.path must be a string"): the answer to a request
// whose params a handler rejects.
Error invalid_params(std::string message);

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------
//
// Each function appends exactly one message to `out` (it does not clear it): compact JSON, keys
// in the order jsonrpc, id, method/result/error, params; no trailing newline, framing is the
// transport's job. Strings are escaped by Boost.JSON and must be valid UTF-8. JSON values must not
// contain infinite or NaN doubles (Boost.JSON 1.81 would write them as non-JSON `Infinity`);
// `decode` never produces such values. Preconditions that the caller breaks (a null request id,
// params that are neither object nor array) throw std::invalid_argument; nothing is appended then.

// {"jsonrpc":"2.0","id":<id>,"method":<method>[,"params":<params>]}. Precondition: id is not
// null; params is an object or an array, or null to leave it out.
void encode_request(std::string& out, const Id& id, std::string_view method);
void encode_request(std::string& out, const Id& id, std::string_view method,
                    const boost::json::value& params);

// {"jsonrpc":"2.0","method":<method>[,"params":<params>]}. Precondition as for encode_request.
void encode_notification(std::string& out, std::string_view method);
void encode_notification(std::string& out, std::string_view method, const boost::json::value& params);

// {"jsonrpc":"2.0","id":<id>,"result":<result>}. Precondition: id is not null.
void encode_result(std::string& out, const Id& id, const boost::json::value& result);

// {"jsonrpc":"2.0","id":<id>,"error":{"code":<code>,"message":<message>[,"data":<data>]}};
// data is left out when null. The id may be null.
void encode_error(std::string& out, const Id& id, int code, std::string_view message);
void encode_error(std::string& out, const Id& id, int code, std::string_view message,
                  const boost::json::value& data);

// The error response for a trellis::Error. An error meant for the peer (a non-zero code and a
// kind other than `internal`) is written with its code, message and data; anything else is
// written as -32603 "internal error" without data, so internal details never reach the peer.
void encode_error(std::string& out, const Id& id, const Error& error);

// The error response to a message `decode` rejected: the recovered id (null if unknown), the
// error's code and message, no data. JSON-RPC asks for it when the rejected message was a request
// (or could not be read at all); answering a broken response or notification is the caller's call.
void encode_decode_error(std::string& out, const Error& decode_error);

// ---------------------------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------------------------

namespace detail {
// Hashes std::string and std::string_view alike, so lookups by view need no temporary string.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept { return std::hash<std::string_view>{}(text); }
};
}  // namespace detail

// Handlers by method name. `find` takes the method as a string view (typically
// Message::method(), a view into the received text's parsed tree) and neither copies nor
// allocates. Register everything before sharing the router between threads; after that it is
// read-only and needs no lock. An unknown method is answered with `method_not_found`.
template <class Handler>
class Router {
 public:
  // Registers `handler` for `method`. Returns false, leaving the router unchanged, when the
  // method already has a handler.
  bool add(std::string method, Handler handler) {
    return handlers_.try_emplace(std::move(method), std::move(handler)).second;
  }

  // The handler registered for `method`, or nullptr. Never allocates.
  const Handler* find(std::string_view method) const noexcept {
    const auto it = handlers_.find(method);
    return it == handlers_.end() ? nullptr : &it->second;
  }
  Handler* find(std::string_view method) noexcept {
    const auto it = handlers_.find(method);
    return it == handlers_.end() ? nullptr : &it->second;
  }

  bool contains(std::string_view method) const noexcept { return find(method) != nullptr; }
  std::size_t size() const noexcept { return handlers_.size(); }

 private:
  std::unordered_map<std::string, Handler, detail::StringHash, std::equal_to<>> handlers_;
};

}  // namespace trellis::jsonrpc

// Ids hash with std::hash, so std::unordered_map<trellis::jsonrpc::Id, T> works as is.
template <>
struct std::hash<trellis::jsonrpc::Id> {
  std::size_t operator()(const trellis::jsonrpc::Id& id) const noexcept { return hash_value(id); }
};
