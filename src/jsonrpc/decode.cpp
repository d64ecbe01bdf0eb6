// decode: the size limit, then one pass of Boost.JSON's parser, then the envelope rules.
//
// The parser does not build the message's top-level object: each of its members is built as a
// value of its own (EnvelopeHandler), so only what a Message keeps — the params, the result or
// the error — becomes a tree, and the envelope costs no object, keys or lookups. That was about
// half of decoding a small request (a 100-byte tools/call: 5,700 instructions parsed into a
// tree and destroyed, 3,000 for its params alone, 1,600 for the parse without building
// anything). Limits are checked on the way: nesting by the parser, numbers beyond the double
// range as they arrive.
//
// There is deliberately no reusable decoder object: keeping a parser (and its working memory)
// alive between messages, or parsing into a per-message monotonic arena, measured within noise
// of this one-shot parser with a stack scratch buffer.
#include "trellis/jsonrpc.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/error.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value_stack.hpp>

#include <cmath>

namespace trellis::jsonrpc {
namespace {

using boost::json::string_view;
using boost::system::error_code;

boost::json::parse_options parse_options_for(const DecodeOptions& options) {
  boost::json::parse_options parse;
  parse.max_depth = options.max_depth;
  // Strict RFC 8259: no comments, no trailing commas, valid UTF-8 only (so every string we hand
  // out, and later write back, is valid UTF-8).
  parse.allow_comments = false;
  parse.allow_trailing_commas = false;
  parse.allow_invalid_utf8 = false;
  return parse;
}

std::optional<Error> check_size(std::string_view text, const DecodeOptions& options) {
  if (text.size() <= options.max_message_bytes) return std::nullopt;
  return make_error(ErrorKind::protocol,
                    "message of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                        std::to_string(options.max_message_bytes) + " bytes",
                    nullptr, jsonrpc_code::invalid_request);
}

Error protocol_parse_error(std::string message) {
  return make_error(ErrorKind::protocol, std::move(message), nullptr, jsonrpc_code::parse_error);
}

// Boost.JSON's own messages stay out: the peer learns what is wrong, not how we parse.
Error parse_error(const error_code& ec, const DecodeOptions& options) {
  if (ec == boost::json::error::too_deep) {
    return protocol_parse_error("JSON nests deeper than " + std::to_string(options.max_depth) + " levels");
  }
  if (ec == boost::json::error::incomplete) return protocol_parse_error("incomplete JSON");
  return protocol_parse_error("invalid JSON");
}

// basic_parser's handler. A top-level object's members go to an Envelope one by one, each built
// on the value stack as a document of its own; anything else (an array, a scalar) is built whole
// for Message::from_json to reject with the usual error.
class EnvelopeHandler {
 public:
  static constexpr std::size_t max_object_size = boost::json::object::max_size();
  static constexpr std::size_t max_array_size = boost::json::array::max_size();
  static constexpr std::size_t max_key_size = boost::json::string::max_size();
  static constexpr std::size_t max_string_size = boost::json::string::max_size();

  EnvelopeHandler(unsigned char* scratch, std::size_t size) : stack_({}, scratch, size) {}

  bool on_document_begin(error_code&) {
    stack_.reset();
    return true;
  }
  bool on_document_end(error_code&) {
    if (!in_envelope_) whole_ = stack_.release();
    return true;
  }

  bool on_object_begin(error_code&) {
    if (depth_++ == 0) in_envelope_ = true;
    return true;
  }
  bool on_object_end(std::size_t size, error_code&) {
    if (--depth_ == 0 && in_envelope_) return true;  // the envelope itself is never built
    stack_.push_object(size);
    return value_done();
  }
  bool on_array_begin(error_code&) {
    ++depth_;
    return true;
  }
  bool on_array_end(std::size_t size, error_code&) {
    --depth_;
    stack_.push_array(size);
    return value_done();
  }

  bool on_key_part(string_view part, std::size_t, error_code&) {
    if (at_member()) {
      key_.append(part.data(), part.size());
    } else {
      stack_.push_chars(part);
    }
    return true;
  }
  bool on_key(string_view part, std::size_t, error_code&) {
    if (at_member()) {
      key_.append(part.data(), part.size());
      slot_ = detail::envelope_slot(envelope_, key_);
      key_.clear();
    } else {
      stack_.push_key(part);
    }
    return true;
  }

  bool on_string_part(string_view part, std::size_t, error_code&) {
    stack_.push_chars(part);
    return true;
  }
  bool on_string(string_view part, std::size_t size, error_code&) {
    if (at_member() && part.size() == size) return member_scalar(part);  // not split: no chars on the stack
    stack_.push_string(part);
    return value_done();
  }
  bool on_number_part(string_view, error_code&) { return true; }
  bool on_int64(std::int64_t value, string_view, error_code&) {
    if (at_member()) return member_scalar(value);
    stack_.push_int64(value);
    return value_done();
  }
  bool on_uint64(std::uint64_t value, string_view, error_code&) {
    if (at_member()) return member_scalar(value);
    stack_.push_uint64(value);
    return value_done();
  }
  bool on_double(double value, string_view, error_code& ec) {
    // 1e400 parses as infinity, which would be written back as `Infinity`: not JSON.
    if (!std::isfinite(value)) {
      number_out_of_range_ = true;
      ec = boost::json::error::exception;
      return false;
    }
    if (at_member()) return member_scalar(value);
    stack_.push_double(value);
    return value_done();
  }
  bool on_bool(bool value, error_code&) {
    if (at_member()) return member_scalar(value);
    stack_.push_bool(value);
    return value_done();
  }
  bool on_null(error_code&) {
    if (at_member()) return member_scalar(nullptr);
    stack_.push_null();
    return value_done();
  }
  bool on_comment_part(string_view, error_code&) { return true; }
  bool on_comment(string_view, error_code&) { return true; }

  bool number_out_of_range() const noexcept { return number_out_of_range_; }
  bool in_envelope() const noexcept { return in_envelope_; }
  detail::Envelope& envelope() noexcept { return envelope_; }
  boost::json::value& whole() noexcept { return whole_; }

 private:
  bool at_member() const noexcept { return in_envelope_ && depth_ == 1; }

  // A scalar member of the envelope ("jsonrpc", "id", "method") goes straight to its slot: built on
  // the stack, then released and the stack reset, it cost about 150 instructions more each.
  template <class T>
  bool member_scalar(T value) {
    if (slot_ != nullptr) slot_->emplace(value);  // the last of duplicate members counts
    return true;
  }

  // A value is complete; when it is a member's, it leaves the stack for the envelope.
  bool value_done() {
    if (!at_member()) return true;
    if (slot_ != nullptr) {
      *slot_ = stack_.release();  // the last of duplicate members counts
    } else {
      (void)stack_.release();  // a member JSON-RPC does not define
    }
    stack_.reset();
    return true;
  }

  boost::json::value_stack stack_;
  std::size_t depth_ = 0;
  bool in_envelope_ = false;
  bool number_out_of_range_ = false;
  std::string key_;
  std::optional<boost::json::value>* slot_ = nullptr;
  detail::Envelope envelope_;
  boost::json::value whole_;
};

}  // namespace

Result<Message> decode(std::string_view text, const DecodeOptions& options) {
  if (auto error = check_size(text, options)) return std::move(*error);
  // The value stack's working memory starts in this buffer, so small messages parse without a
  // heap allocation for it.
  unsigned char scratch[4096];
  boost::json::basic_parser<EnvelopeHandler> parser(parse_options_for(options), scratch, sizeof scratch);
  error_code ec;
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (parser.handler().number_out_of_range()) return protocol_parse_error("JSON number out of range");
  if (!ec && used < text.size()) ec = boost::json::error::extra_data;
  if (ec) return parse_error(ec, options);
  auto& handler = parser.handler();
  if (!handler.in_envelope()) return Message::from_json(std::move(handler.whole()), options);
  return detail::message_from_envelope(std::move(handler.envelope()));
}

}  // namespace trellis::jsonrpc
