// Message::from_json: the JSON-RPC 2.0 envelope rules — what makes a parsed JSON value a request,
// a notification, a response or an error response, and the error for each way it can fail.
#include "trellis/jsonrpc.hpp"

#include <boost/json/object.hpp>

#include <climits>
#include <cmath>

namespace trellis::jsonrpc {
namespace {

enum class TreeProblem { none, too_deep, number_out_of_range };

// Finds nesting deeper than `depth_left` containers and numbers Boost.JSON could only hold as
// infinity (e.g. 1e400): those would be written back as `Infinity`, which is not JSON. The
// recursion is bounded by `depth_left`, so a hostile tree cannot exhaust the stack.
TreeProblem inspect_tree(const boost::json::value& json, std::size_t depth_left) noexcept {
  switch (json.kind()) {
    case boost::json::kind::double_:
      return std::isfinite(json.get_double()) ? TreeProblem::none : TreeProblem::number_out_of_range;
    case boost::json::kind::array:
      if (depth_left == 0) return TreeProblem::too_deep;
      for (const auto& element : json.get_array()) {
        if (const auto problem = inspect_tree(element, depth_left - 1); problem != TreeProblem::none) return problem;
      }
      return TreeProblem::none;
    case boost::json::kind::object:
      if (depth_left == 0) return TreeProblem::too_deep;
      for (const auto& member : json.get_object()) {
        if (const auto problem = inspect_tree(member.value(), depth_left - 1); problem != TreeProblem::none) {
          return problem;
        }
      }
      return TreeProblem::none;
    case boost::json::kind::null:
    case boost::json::kind::bool_:
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::string:
      return TreeProblem::none;
  }
  return TreeProblem::none;
}

Error tree_error(TreeProblem problem, std::size_t max_depth) {
  if (problem == TreeProblem::too_deep) {
    return make_error(ErrorKind::protocol, "JSON nests deeper than " + std::to_string(max_depth) + " levels",
                      nullptr, jsonrpc_code::parse_error);
  }
  return make_error(ErrorKind::protocol, "JSON number out of range", nullptr, jsonrpc_code::parse_error);
}

// -32600 with the message's id in data when it could be read, so the caller can answer it.
Error invalid_request(std::string_view message, const Id* id) {
  boost::json::value data;
  if (id != nullptr && !id->is_null()) data = boost::json::object{{"id", id->to_json()}};
  return make_error(ErrorKind::protocol, std::string(message), std::move(data), jsonrpc_code::invalid_request);
}

bool is_int(const boost::json::value& json) noexcept {
  if (const auto* value = json.if_int64()) return *value >= INT_MIN && *value <= INT_MAX;
  return false;
}

}  // namespace

Result<Message> Message::from_json(boost::json::value json, const DecodeOptions& options) {
  if (json.is_array()) return invalid_request("batch requests are not supported", nullptr);
  if (!json.is_object()) return invalid_request("message must be a JSON object", nullptr);
  if (const auto problem = inspect_tree(json, options.max_depth); problem != TreeProblem::none) {
    return tree_error(problem, options.max_depth);
  }
  detail::Envelope envelope;
  for (auto& member : json.get_object()) {
    if (auto* slot = detail::envelope_slot(envelope, member.key())) *slot = std::move(member.value());
  }
  return detail::message_from_envelope(std::move(envelope));
}

namespace detail {

std::optional<boost::json::value>* envelope_slot(Envelope& envelope, std::string_view key) noexcept {
  if (key == "jsonrpc") return &envelope.jsonrpc;
  if (key == "id") return &envelope.id;
  if (key == "method") return &envelope.method;
  if (key == "params") return &envelope.params;
  if (key == "result") return &envelope.result;
  if (key == "error") return &envelope.error;
  return nullptr;  // other members are ignored
}

// The members are swapped into the message rather than move-assigned: a move assignment of a
// boost::json::value builds a temporary and swaps it in (about 145 instructions, against 40), and
// when the two memory resources differ both copy the same way.
Result<Message> message_from_envelope(Envelope&& envelope) {
  Message message;
  const Id* recovered = nullptr;
  if (envelope.id) {
    auto parsed = Id::from_json(*envelope.id);
    if (!parsed) return invalid_request("id must be a string, an integer or null", nullptr);
    message.id_ = std::move(*parsed);
    recovered = &message.id_;
  }

  const auto& version = envelope.jsonrpc;
  if (!version || !version->is_string() || version->get_string() != "2.0") {
    return invalid_request(R"("jsonrpc" must be "2.0")", recovered);
  }

  if (envelope.method) {
    if (envelope.result || envelope.error) {
      return invalid_request("a message must not carry both method and result or error", recovered);
    }
    if (!envelope.method->is_string()) return invalid_request("method must be a string", recovered);
    if (envelope.params) {
      if (!envelope.params->is_object() && !envelope.params->is_array()) {
        return invalid_request("params must be an object or an array", recovered);
      }
      message.body_.swap(*envelope.params);
    }
    if (envelope.id && message.id_.is_null()) return invalid_request("request id must not be null", recovered);
    message.kind_ = envelope.id ? MessageKind::request : MessageKind::notification;
    message.method_ = envelope.method->get_string();
    return message;
  }

  if (!envelope.result && !envelope.error) {
    return invalid_request("message has neither method nor result nor error", recovered);
  }
  if (envelope.result && envelope.error) {
    return invalid_request("response must carry exactly one of result and error", recovered);
  }
  if (!envelope.id) return invalid_request("response must carry an id", recovered);

  if (envelope.result) {
    if (message.id_.is_null()) return invalid_request("a result must answer a non-null id", recovered);
    message.kind_ = MessageKind::response;
    message.body_.swap(*envelope.result);
    return message;
  }

  // Swapped in first, so the views below point into the object the message owns.
  message.body_.swap(*envelope.error);
  const boost::json::object* error = message.body_.if_object();
  const boost::json::value* code = error != nullptr ? error->if_contains("code") : nullptr;
  const boost::json::value* text = error != nullptr ? error->if_contains("message") : nullptr;
  if (code == nullptr || !is_int(*code) || text == nullptr || !text->is_string()) {
    return invalid_request("error must be an object with an integer code and a string message", recovered);
  }
  message.kind_ = MessageKind::error_response;
  message.error_code_ = static_cast<int>(code->get_int64());
  message.error_message_ = text->get_string();
  if (const boost::json::value* data = error->if_contains("data")) message.error_data_ = data;
  return message;
}

}  // namespace detail
}  // namespace trellis::jsonrpc
