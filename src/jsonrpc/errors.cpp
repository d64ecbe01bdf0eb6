// The errors Trellis answers a peer with, and how a trellis::Error becomes an error response
// without leaking internal details.
#include "trellis/jsonrpc.hpp"

#include <boost/json/object.hpp>

namespace trellis::jsonrpc {
namespace {

// Only errors built for the peer (they carry a JSON-RPC code) go out as they are.
bool meant_for_peer(const Error& error) noexcept { return error.code != 0 && error.kind != ErrorKind::internal; }

constexpr std::string_view kInternalError = "internal error";

}  // namespace

Id recovered_id(const Error& decode_error) {
  if (const auto* data = decode_error.data.if_object()) {
    if (const auto* id = data->if_contains("id")) {
      if (auto parsed = Id::from_json(*id)) return std::move(*parsed);
    }
  }
  return Id();
}

Error method_not_found(std::string_view method) {
  return make_error(ErrorKind::protocol, "method not found", boost::json::object{{"method", method}},
                    jsonrpc_code::method_not_found);
}

Error invalid_params(std::string message) {
  return make_error(ErrorKind::protocol, std::move(message), nullptr, jsonrpc_code::invalid_params);
}

void encode_error(std::string& out, const Id& id, const Error& error) {
  if (meant_for_peer(error)) {
    encode_error(out, id, error.code, error.message, error.data);
  } else {
    encode_error(out, id, jsonrpc_code::internal_error, kInternalError);
  }
}

void encode_decode_error(std::string& out, const Error& decode_error) {
  const Id id = recovered_id(decode_error);
  if (meant_for_peer(decode_error)) {
    encode_error(out, id, decode_error.code, decode_error.message);
  } else {
    encode_error(out, id, jsonrpc_code::internal_error, kInternalError);
  }
}

}  // namespace trellis::jsonrpc
