// libFuzzer target for the JSON-RPC codec. For arbitrary bytes:
//  - decode either succeeds or fails with a protocol error carrying -32700 or -32600;
//  - a decoded message, encoded again, decodes to the same kind, id, method and payload;
//  - a failure's error response is valid JSON and itself decodes as an error response that
//    answers the recovered id;
//  - the size limit is inclusive and checked before parsing;
//  - decode, which builds only the members a Message keeps, agrees with Message::from_json on the
//    whole document parsed by Boost.JSON: both accept it or both refuse it, and what they accept
//    is the same message.
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

// The same text through Boost.JSON's own parser (strict, with decode's depth limit) and
// Message::from_json: the answer decode gave, whenever that parser takes the text. (decode also
// refuses numbers beyond the double range, which Boost.JSON turns into infinities.)
void check_same_as_from_json(std::string_view text, const trellis::Result<jsonrpc::Message>& decoded) {
  boost::json::parse_options strict;
  strict.max_depth = jsonrpc::DecodeOptions{}.max_depth;
  boost::json::error_code ec;
  boost::json::value parsed = boost::json::parse(text, ec, {}, strict);
  if (ec) {
    check(!decoded);  // the same parser with the same options: decode refused it too
    return;
  }
  auto built = jsonrpc::Message::from_json(std::move(parsed));
  if (!decoded) {
    if (decoded.error().message == "JSON number out of range") return;
    check(!built);
    check(built.error().code == decoded.error().code);
    return;
  }
  check(built.has_value());
  check(built->kind() == decoded->kind());
  check(built->id() == decoded->id());
  check(built->method() == decoded->method());
  check(same_json(built->params(), decoded->params()));
  check(same_json(built->result(), decoded->result()));
  check(built->error_code() == decoded->error_code());
  check(built->error_message() == decoded->error_message());
  check(same_json(built->error_data(), decoded->error_data()));
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
  check_same_as_from_json(text, decoded);

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
