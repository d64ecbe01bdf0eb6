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

// The first byte from `p` on that must be escaped in a JSON string, or `end`.
const char* skip_plain(const char* p, const char* const end) noexcept {
  while (end - p >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    if (needs_escape(word)) break;
    p += 8;
  }
  while (p != end && *p != '"' && *p != '\\' && static_cast<unsigned char>(*p) >= 0x20) ++p;
  return p;
}

// A JSON string with the escapes Boost.JSON's serializer uses, so the output is byte for byte
// what it would write; runs that need no escape (nearly all text) are appended in one piece.
// `suffix`, when not 0, is appended after the closing quote (a key's ':').
void append_string(std::string& out, std::string_view text, char suffix = 0) {
  static constexpr char kHex[] = "0123456789abcdef";
  const char* p = text.data();
  const char* const end = p + text.size();
  const char* plain_end = skip_plain(p, end);
  // Keys, names, ids and short text need no escape: quoted in a stack buffer and appended in one
  // call rather than character by character around the text (this runs several times a message).
  constexpr std::size_t kShort = 64;
  if (plain_end == end && text.size() <= kShort) {
    char quoted[kShort + 3];
    quoted[0] = '"';
    if (!text.empty()) std::memcpy(quoted + 1, p, text.size());  // (an empty view may hold no pointer)
    quoted[text.size() + 1] = '"';
    quoted[text.size() + 2] = suffix;
    out.append(quoted, text.size() + (suffix != 0 ? 3 : 2));
    return;
  }
  // Room for the escapes of ordinary text and for the rest of the message, so that a large
  // string (a file, a generated result) is copied once rather than regrown and copied again.
  out.reserve(out.size() + text.size() + text.size() / 16 + 64);
  out.push_back('"');
  for (;;) {
    out.append(p, plain_end);
    p = plain_end;
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
    plain_end = skip_plain(p, end);
  }
  out.push_back('"');
  if (suffix != 0) out.push_back(suffix);
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
        append_string(out, std::string_view(member.key().data(), member.key().size()), ':');
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

// Room for a typical message up front: built from an empty string, one would otherwise be
// regrown (and copied) four or five times on its way to a couple of hundred bytes.
void reserve_for_message(std::string& out) { out.reserve(out.size() + 256); }

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
  reserve_for_message(out);
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
  reserve_for_message(out);
  out += R"({"jsonrpc":"2.0",)";
  append_method_and_params(out, method, params);
}

void encode_result(std::string& out, const Id& id, const boost::json::value& result) {
  require_non_null_id(id, "encode_result");
  reserve_for_message(out);
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
  reserve_for_message(out);
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
