// encode_*: one compact JSON-RPC message appended to a caller-owned buffer. The fixed envelope is
// written by hand; every value, and every string, goes through Boost.JSON's serializer.
#include "trellis/jsonrpc.hpp"

#include <boost/json/serializer.hpp>
#include <boost/json/string_view.hpp>

#include <charconv>
#include <stdexcept>

namespace trellis::jsonrpc {
namespace {

// Serializes into a stack chunk and appends, so `out` grows by what is written and nothing else
// (resizing `out` ahead would zero-fill memory it may never use).
void drain(std::string& out, boost::json::serializer& serializer) {
  char chunk[4096];
  do {
    const boost::json::string_view written = serializer.read(chunk, sizeof chunk);
    out.append(written.data(), written.size());
  } while (!serializer.done());
}

void append_value(std::string& out, const boost::json::value& json) {
  boost::json::serializer serializer;
  serializer.reset(&json);
  drain(out, serializer);
}

void append_string(std::string& out, std::string_view text) {
  boost::json::serializer serializer;
  serializer.reset(boost::json::string_view(text.data(), text.size()));
  drain(out, serializer);
}

template <class Integer>
void append_integer(std::string& out, Integer value) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  static_cast<void>(ec);  // 24 characters hold every 64-bit integer
  out.append(digits, end);
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
