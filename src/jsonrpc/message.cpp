// trellis::jsonrpc::Message: ownership of the parsed tree and the views into it.
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
  // The views point into the tree. Move construction always hands the tree over (same memory
  // resource), so the views stay valid; move assignment of a boost::json::value copies instead
  // when the two resources differ, which would leave the views pointing into `other`. Rebuilding
  // the object by move construction avoids that case entirely.
  if (this != &other) {
    std::destroy_at(this);
    std::construct_at(this, std::move(other));
  }
  return *this;
}

boost::json::value Message::take_result() noexcept {
  if (result_ == &detail::null_value) return nullptr;
  // result_ points into json_, which this non-const Message owns; the views are const only so
  // that readers cannot change the tree under each other.
  return std::move(*const_cast<boost::json::value*>(result_));
}

Error Message::remote_error() const {
  if (kind_ != MessageKind::error_response) {
    return make_error(ErrorKind::internal, "remote_error() called on a " + std::string(to_string(kind_)));
  }
  return make_error(ErrorKind::remote, std::string(error_message_), *error_data_, error_code_);
}

}  // namespace trellis::jsonrpc
