// encode_*: one compact JSON-RPC message appended to a caller-owned buffer. The fixed envelope is
// written by hand, and so are values (append_value): the same bytes Boost.JSON's serializer
// writes, without its per-character loop.
#include "trellis/jsonrpc.hpp"

#include <boost/json/serialize.hpp>

#include <charconv>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace trellis::jsonrpc {
namespace {

// Whether any of the 8 bytes in `word` must be escaped in a JSON string: '"', '\\' or a control
// character below 0x20 (the classic "has zero byte" test applied to three masks).
constexpr bool needs_escape(std::uint64_t word) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  auto has_zero = [](std::uint64_t v) { return (v - ones) & ~v & highs; };
  const std::uint64_t control = (word - ones * 0x20) & ~word & highs;  // a byte below 0x20
  return (has_zero(word ^ (ones * '"')) | has_zero(word ^ (ones * '\\')) | control) != 0;
}

// A JSON string with the escapes Boost.JSON's serializer uses, so the output is byte for byte
// what it would write; runs that need no escape (nearly all text) are appended in one piece.
void append_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  // Room for the escapes of ordinary text and for the rest of the message, so that a large
  // string (a file, a generated result) is copied once rather than regrown and copied again.
  out.reserve(out.size() + text.size() + text.size() / 16 + 64);
  out.push_back('"');
  const char* p = text.data();
  const char* const end = p + text.size();
  while (p != end) {
    const char* run = p;
    while (end - p >= 8) {
      std::uint64_t word;
      std::memcpy(&word, p, 8);
      if (needs_escape(word)) break;
      p += 8;
    }
    while (p != end && *p != '"' && *p != '\\' && static_cast<unsigned char>(*p) >= 0x20) ++p;
    out.append(run, p);
    if (p == end) break;
    const auto c = static_cast<unsigned char>(*p++);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
    }
  }
  out.push_back('"');
}

template <class Integer>
void append_integer(std::string& out, Integer value) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  static_cast<void>(ec);  // 24 characters hold every 64-bit integer
  out.append(digits, end);
}

// Compact JSON, identical to boost::json::serialize (tests/unit/jsonrpc_encode_test.cpp checks
// it against random documents); hand-written because it sits on every message's path and the
// generic serializer's per-character loop dominated large results.
void append_value(std::string& out, const boost::json::value& json) {
  switch (json.kind()) {
    case boost::json::kind::null: out += "null"; return;
    case boost::json::kind::bool_: out += json.get_bool() ? "true" : "false"; return;
    case boost::json::kind::int64: append_integer(out, json.get_int64()); return;
    case boost::json::kind::uint64: append_integer(out, json.get_uint64()); return;
    case boost::json::kind::double_: out += boost::json::serialize(json); return;  // Boost's number format
    case boost::json::kind::string: {
      const auto& text = json.get_string();
      append_string(out, std::string_view(text.data(), text.size()));
      return;
    }
    case boost::json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& element : json.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        append_value(out, element);
      }
      out.push_back(']');
      return;
    }
    case boost::json::kind::object: {
      out.push_back('{');
      bool first = true;
      for (const auto& member : json.get_object()) {
        if (!first) out.push_back(',');
        first = false;
        append_string(out, std::string_view(member.key().data(), member.key().size()));
        out.push_back(':');
        append_value(out, member.value());
      }
      out.push_back('}');
      return;
    }
  }
}

void append_id(std::string& out, const Id& id) {
  if (const auto* value = id.if_int64()) {
    append_integer(out, *value);
  } else if (const auto* unsigned_value = id.if_uint64()) {
    append_integer(out, *unsigned_value);
  } else if (const auto* text = id.if_string()) {
    append_string(out, *text);
  } else {
    out += "null";
  }
}

void require_non_null_id(const Id& id, const char* function) {
  if (id.is_null()) throw std::invalid_argument(std::string(function) + ": the id must not be null");
}

void require_params(const boost::json::value& params, const char* function) {
  if (!params.is_null() && !params.is_object() && !params.is_array()) {
    throw std::invalid_argument(std::string(function) + ": params must be an object, an array or null, not " +
                                std::string(boost::json::to_string(params.kind())));
  }
}

void append_method_and_params(std::string& out, std::string_view method, const boost::json::value& params) {
  out += R"("method":)";
  append_string(out, method);
  if (!params.is_null()) {
    out += R"(,"params":)";
    append_value(out, params);
  }
  out += '}';
}

}  // namespace

void encode_request(std::string& out, const Id& id, std::string_view method) {
  encode_request(out, id, method, detail::null_value);
}

void encode_request(std::string& out, const Id& id, std::string_view method, const boost::json::value& params) {
  require_non_null_id(id, "encode_request");
  require_params(params, "encode_request");
  out += R"({"jsonrpc":"2.0","id":)";
  append_id(out, id);
  out += ',';
  append_method_and_params(out, method, params);
}

void encode_notification(std::string& out, std::string_view method) {
  encode_notification(out, method, detail::null_value);
}

void encode_notification(std::string& out, std::string_view method, const boost::json::value& params) {
  require_params(params, "encode_notification");
  out += R"({"jsonrpc":"2.0",)";
  append_method_and_params(out, method, params);
}

void encode_result(std::string& out, const Id& id, const boost::json::value& result) {
  require_non_null_id(id, "encode_result");
  out += R"({"jsonrpc":"2.0","id":)";
  append_id(out, id);
  out += R"(,"result":)";
  append_value(out, result);
  out += '}';
}

void encode_error(std::string& out, const Id& id, int code, std::string_view message) {
  encode_error(out, id, code, message, detail::null_value);
}

void encode_error(std::string& out, const Id& id, int code, std::string_view message,
                  const boost::json::value& data) {
  out += R"({"jsonrpc":"2.0","id":)";
  append_id(out, id);
  out += R"(,"error":{"code":)";
  append_integer(out, code);
  out += R"(,"message":)";
  append_string(out, message);
  if (!data.is_null()) {
    out += R"(,"data":)";
    append_value(out, data);
  }
  out += "}}";
}

}  // namespace trellis::jsonrpc
