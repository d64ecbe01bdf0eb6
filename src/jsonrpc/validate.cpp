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

// The envelope members, found in one pass over the object instead of one lookup each.
struct Envelope {
  const boost::json::value* jsonrpc = nullptr;
  const boost::json::value* id = nullptr;
  const boost::json::value* method = nullptr;
  const boost::json::value* params = nullptr;
  const boost::json::value* result = nullptr;
  const boost::json::value* error = nullptr;
};

Envelope envelope_of(const boost::json::object& object) noexcept {
  Envelope envelope;
  for (const auto& member : object) {
    const std::string_view key = member.key();
    const boost::json::value* value = &member.value();
    if (key == "jsonrpc") {
      envelope.jsonrpc = value;
    } else if (key == "id") {
      envelope.id = value;
    } else if (key == "method") {
      envelope.method = value;
    } else if (key == "params") {
      envelope.params = value;
    } else if (key == "result") {
      envelope.result = value;
    } else if (key == "error") {
      envelope.error = value;
    }
  }
  return envelope;
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

  Message message;
  message.json_ = std::move(json);
  const Envelope envelope = envelope_of(message.json_.get_object());

  const Id* recovered = nullptr;
  const boost::json::value* id = envelope.id;
  if (id != nullptr) {
    auto parsed = Id::from_json(*id);
    if (!parsed) return invalid_request("id must be a string, an integer or null", nullptr);
    message.id_ = std::move(*parsed);
    recovered = &message.id_;
  }

  const boost::json::value* version = envelope.jsonrpc;
  if (version == nullptr || !version->is_string() || version->get_string() != "2.0") {
    return invalid_request(R"("jsonrpc" must be "2.0")", recovered);
  }

  const boost::json::value* method = envelope.method;
  const boost::json::value* result = envelope.result;
  const boost::json::value* error = envelope.error;

  if (method != nullptr) {
    if (result != nullptr || error != nullptr) {
      return invalid_request("a message must not carry both method and result or error", recovered);
    }
    if (!method->is_string()) return invalid_request("method must be a string", recovered);
    if (const boost::json::value* params = envelope.params) {
      if (!params->is_object() && !params->is_array()) {
        return invalid_request("params must be an object or an array", recovered);
      }
      message.params_ = params;
    }
    if (id != nullptr && message.id_.is_null()) return invalid_request("request id must not be null", recovered);
    message.kind_ = id != nullptr ? MessageKind::request : MessageKind::notification;
    message.method_ = method->get_string();
    return message;
  }

  if (result == nullptr && error == nullptr) {
    return invalid_request("message has neither method nor result nor error", recovered);
  }
  if (result != nullptr && error != nullptr) {
    return invalid_request("response must carry exactly one of result and error", recovered);
  }
  if (id == nullptr) return invalid_request("response must carry an id", recovered);

  if (result != nullptr) {
    if (message.id_.is_null()) return invalid_request("a result must answer a non-null id", recovered);
    message.kind_ = MessageKind::response;
    message.result_ = result;
    return message;
  }

  const boost::json::object* error_object = error->if_object();
  const boost::json::value* code = error_object != nullptr ? error_object->if_contains("code") : nullptr;
  const boost::json::value* text = error_object != nullptr ? error_object->if_contains("message") : nullptr;
  if (code == nullptr || !is_int(*code) || text == nullptr || !text->is_string()) {
    return invalid_request("error must be an object with an integer code and a string message", recovered);
  }
  message.kind_ = MessageKind::error_response;
  message.error_code_ = static_cast<int>(code->get_int64());
  message.error_message_ = text->get_string();
  if (const boost::json::value* data = error_object->if_contains("data")) message.error_data_ = data;
  return message;
}

}  // namespace trellis::jsonrpc
