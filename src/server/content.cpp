// Result builders and base64 (blob resources, pagination cursors).
#include "trellis/server.hpp"

#include <array>

namespace trellis {

std::string base64_encode(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const auto n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16 |
                   static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8 |
                   static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 2]));
    out += kAlphabet[n >> 18 & 63];
    out += kAlphabet[n >> 12 & 63];
    out += kAlphabet[n >> 6 & 63];
    out += kAlphabet[n & 63];
  }
  if (const std::size_t rest = bytes.size() - i; rest > 0) {
    std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out += kAlphabet[n >> 18 & 63];
    out += kAlphabet[n >> 12 & 63];
    out += rest == 2 ? kAlphabet[n >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

boost::json::object text_content(std::string_view text) { return {{"type", "text"}, {"text", text}}; }

boost::json::object tool_text(std::string_view text) {
  return {{"content", boost::json::array{text_content(text)}}};
}

boost::json::object tool_error(std::string_view message) {
  auto result = tool_text(message);
  result["isError"] = true;
  return result;
}

boost::json::object text_resource(std::string_view uri, std::string_view mime_type, std::string_view text) {
  boost::json::object r{{"uri", uri}};
  if (!mime_type.empty()) r["mimeType"] = mime_type;
  r["text"] = text;
  return r;
}

boost::json::object blob_resource(std::string_view uri, std::string_view mime_type, std::string_view bytes) {
  boost::json::object r{{"uri", uri}};
  if (!mime_type.empty()) r["mimeType"] = mime_type;
  r["blob"] = base64_encode(bytes);
  return r;
}

}  // namespace trellis
