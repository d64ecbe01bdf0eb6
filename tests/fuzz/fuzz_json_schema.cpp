// libFuzzer target for JsonSchema (trellis/json_schema.hpp), which a client may point at the
// inputSchema and outputSchema of tools an untrusted server lists. The input is JSON text, read
// with the wire's nesting limit: a two-element array is [schema, instance]; anything else is a
// schema that is also its own instance. For arbitrary bytes:
//  - compile() returns a schema or a `config` error that says "invalid JSON Schema", and nothing
//    escapes it (a crash, a hang or a stack overflow is a finding too);
//  - validate() accepts or returns a `protocol` error -32602 whose message starts with the
//    subject it was given, and says the same when asked twice;
//  - a schema without "$" keywords, which therefore cannot refer to its own root, means the same
//    inside {"allOf": [schema]}: that form compiles too and gives the same verdict. Wrapped, it
//    has no flat form, so this also holds the fast path (FlatObjectSchema) to the full validator.
// Any violation traps, so libFuzzer records the input. replay_main.cpp replays the corpus in CI.
#include "trellis/json_schema.hpp"

#include <boost/json/parse.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

namespace json = boost::json;
using trellis::ErrorKind;
using trellis::JsonSchema;

constexpr std::size_t kWireDepth = 64;  // jsonrpc::DecodeOptions::max_depth, what a peer can send

void check(bool condition) {
  if (!condition) __builtin_trap();
}

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

// Whether any object in `value` has a key that starts with '$' ("$ref", "$defs", "$id", ...).
bool has_dollar_key(const json::value& value) {
  if (const auto* array = value.if_array()) {
    for (const auto& element : *array)
      if (has_dollar_key(element)) return true;
  } else if (const auto* object = value.if_object()) {
    for (const auto& member : *object)
      if (starts_with(member.key(), "$") || has_dollar_key(member.value())) return true;
  }
  return false;
}

// The verdict, after checking the shape of a refusal.
bool accepts(const JsonSchema& schema, const json::value& instance) {
  auto verdict = schema.validate(instance, "arguments");
  if (!verdict) {
    check(verdict.error().kind == ErrorKind::protocol);
    check(verdict.error().code == trellis::jsonrpc_code::invalid_params);
    check(starts_with(verdict.error().message, "arguments"));
  }
  return verdict.has_value();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  json::parse_options options;
  options.max_depth = kWireDepth;
  json::error_code ec;
  const json::value input =
      json::parse(std::string_view(reinterpret_cast<const char*>(data), size), ec, json::storage_ptr(), options);
  if (ec) return 0;
  const auto* pair = input.if_array();
  const bool split = pair != nullptr && pair->size() == 2;
  const json::value& schema_json = split ? (*pair)[0] : input;
  const json::value& instance = split ? (*pair)[1] : input;

  auto schema = JsonSchema::compile(schema_json);
  if (!schema) {
    check(schema.error().kind == ErrorKind::config);
    check(starts_with(schema.error().message, "invalid JSON Schema"));
    return 0;
  }
  const bool valid = accepts(*schema, instance);
  check(accepts(*schema, instance) == valid);

  if (!has_dollar_key(schema_json)) {
    auto wrapped = JsonSchema::compile(json::object{{"allOf", json::array{schema_json}}});
    check(wrapped.has_value());
    check(accepts(*wrapped, instance) == valid);
  }
  return 0;
}
