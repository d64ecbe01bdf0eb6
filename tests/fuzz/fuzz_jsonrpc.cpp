// libFuzzer target for the JSON-RPC codec. For arbitrary bytes:
//  - decode either succeeds or fails with a protocol error carrying -32700 or -32600;
//  - a decoded message, encoded again, decodes to the same kind, id, method and payload;
//  - a failure's error response is valid JSON and itself decodes as an error response that
//    answers the recovered id;
//  - the size limit is inclusive and checked before parsing.
// Any violation traps, so libFuzzer records the input. replay_main.cpp replays the corpus in CI.
#include "trellis/jsonrpc.hpp"

#include <boost/json/parse.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

namespace jsonrpc = trellis::jsonrpc;

void check(bool condition) {
  if (!condition) __builtin_trap();
}

// Structural equality that allows one rounding step on doubles: Boost.JSON 1.81 does not always
// parse the shortest form it prints back to the identical double, and that is not ours to fix.
bool same_json(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_double() && b.is_double()) {
    const double x = a.get_double();
    const double y = b.get_double();
    return x == y || std::fabs(x - y) <= 1e-12 * std::fmax(std::fabs(x), std::fabs(y));
  }
  if (a.kind() != b.kind()) return false;
  if (const auto* array = a.if_array()) {
    const auto& other = b.get_array();
    if (array->size() != other.size()) return false;
    for (std::size_t i = 0; i < array->size(); ++i) {
      if (!same_json((*array)[i], other[i])) return false;
    }
    return true;
  }
  if (const auto* object = a.if_object()) {
    const auto& other = b.get_object();
    if (object->size() != other.size()) return false;
    for (const auto& member : *object) {
      const auto* counterpart = other.if_contains(member.key());
      if (counterpart == nullptr || !same_json(member.value(), *counterpart)) return false;
    }
    return true;
  }
  return a == b;
}

std::string encode_again(const jsonrpc::Message& message) {
  std::string out;
  switch (message.kind()) {
    case jsonrpc::MessageKind::request:
      jsonrpc::encode_request(out, message.id(), message.method(), message.params());
      break;
    case jsonrpc::MessageKind::notification:
      jsonrpc::encode_notification(out, message.method(), message.params());
      break;
    case jsonrpc::MessageKind::response:
      jsonrpc::encode_result(out, message.id(), message.result());
      break;
    case jsonrpc::MessageKind::error_response:
      jsonrpc::encode_error(out, message.id(), message.error_code(), message.error_message(), message.error_data());
      break;
  }
  return out;
}

void check_round_trip(const jsonrpc::Message& message) {
  const std::string out = encode_again(message);
  auto again = jsonrpc::decode(out);
  check(again.has_value());
  check(again->kind() == message.kind());
  check(again->id() == message.id());
  check(again->method() == message.method());
  check(same_json(again->params(), message.params()));
  check(same_json(again->result(), message.result()));
  check(again->error_code() == message.error_code());
  check(again->error_message() == message.error_message());
  check(same_json(again->error_data(), message.error_data()));
}

void check_failure(const trellis::Error& error) {
  check(error.kind == trellis::ErrorKind::protocol);
  check(error.code == trellis::jsonrpc_code::parse_error || error.code == trellis::jsonrpc_code::invalid_request);
  check(!error.message.empty());
  std::string out;
  jsonrpc::encode_decode_error(out, error);
  boost::json::error_code ec;
  boost::json::parse(out, ec);
  check(!ec);
  auto answer = jsonrpc::decode(out);
  check(answer.has_value());
  check(answer->kind() == jsonrpc::MessageKind::error_response);
  check(answer->id() == jsonrpc::recovered_id(error));
  check(answer->error_code() == error.code);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  auto decoded = jsonrpc::decode(text);
  if (decoded) {
    check_round_trip(*decoded);
  } else {
    check_failure(decoded.error());
  }

  // At the limit the answer is the same; one byte under it, the text is refused unparsed.
  jsonrpc::DecodeOptions limit;
  limit.max_message_bytes = size;
  auto at_limit = jsonrpc::decode(text, limit);
  check(at_limit.has_value() == decoded.has_value());
  if (at_limit) {
    check(at_limit->kind() == decoded->kind() && at_limit->id() == decoded->id());
  } else {
    check(at_limit.error() == decoded.error());
  }
  if (size > 0) {
    limit.max_message_bytes = size - 1;
    auto past_limit = jsonrpc::decode(text, limit);
    check(!past_limit && past_limit.error().code == trellis::jsonrpc_code::invalid_request);
  }
  return 0;
}
