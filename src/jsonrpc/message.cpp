// trellis::jsonrpc::Message: ownership of what a message carries and the views into it.
#include "trellis/jsonrpc.hpp"

#include <memory>

namespace trellis::jsonrpc {

namespace detail {
const boost::json::value null_value;
}  // namespace detail

std::string_view to_string(MessageKind kind) noexcept {
  switch (kind) {
    case MessageKind::request:
      return "request";
    case MessageKind::notification:
      return "notification";
    case MessageKind::response:
      return "response";
    case MessageKind::error_response:
      return "error_response";
  }
  return "unknown";
}

Message& Message::operator=(Message&& other) noexcept {
  // The error views point into body_. Move construction always hands the tree over (same memory
  // resource), so they stay valid; move assignment of a boost::json::value copies instead when
  // the two resources differ, which would leave them pointing into `other`. Rebuilding the object
  // by move construction avoids that case entirely.
  if (this != &other) {
    std::destroy_at(this);
    std::construct_at(this, std::move(other));
  }
  return *this;
}

boost::json::value Message::take_result() noexcept {
  if (kind_ != MessageKind::response) return nullptr;
  return std::move(body_);
}

boost::json::value Message::to_json() const {
  boost::json::object json{{"jsonrpc", "2.0"}};
  if (kind_ != MessageKind::notification) json["id"] = id_.to_json();
  switch (kind_) {
    case MessageKind::request:
    case MessageKind::notification:
      json["method"] = method_;
      if (!body_.is_null()) json["params"] = body_;
      break;
    case MessageKind::response:
      json["result"] = body_;
      break;
    case MessageKind::error_response:
      json["error"] = body_;
      break;
  }
  return json;
}

Error Message::remote_error() const {
  if (kind_ != MessageKind::error_response) {
    return make_error(ErrorKind::internal, "remote_error() called on a " + std::string(to_string(kind_)));
  }
  return make_error(ErrorKind::remote, std::string(error_message_), *error_data_, error_code_);
}

}  // namespace trellis::jsonrpc
