// Listing forms, lookups and pagination of the server's catalog.
#include "catalog.hpp"

#include <charconv>

namespace trellis::server_detail {
namespace {

void put_if(boost::json::object& o, std::string_view key, std::string_view value) {
  if (!value.empty()) o[key] = value;
}
void put_if(boost::json::object& o, std::string_view key, const boost::json::object& value) {
  if (!value.empty()) o[key] = value;
}
void put_if(boost::json::object& o, std::string_view key, const boost::json::array& value) {
  if (!value.empty()) o[key] = value;
}

constexpr std::string_view kCursorPrefix = "trellis-page:";

}  // namespace

const ToolEntry* Catalog::find_tool(std::string_view name) const noexcept {
  for (const auto& t : tools)
    if (t->definition.name == name) return t.get();
  return nullptr;
}

const ResourceEntry* Catalog::find_resource(std::string_view uri) const noexcept {
  for (const auto& r : resources)
    if (r->definition.uri == uri) return r.get();
  return nullptr;
}

const PromptEntry* Catalog::find_prompt(std::string_view name) const noexcept {
  for (const auto& p : prompts)
    if (p->definition.name == name) return p.get();
  return nullptr;
}

const TemplateEntry* Catalog::match_template(std::string_view uri, UriVariables& variables) const {
  for (const auto& t : templates) {
    if (auto match = t->uri_template.match(uri)) {
      variables = std::move(*match);
      return t.get();
    }
  }
  return nullptr;
}

boost::json::object list_form(const ToolDefinition& d) {
  boost::json::object o{{"name", d.name}};
  put_if(o, "title", d.title);
  put_if(o, "description", d.description);
  o["inputSchema"] = d.input_schema.empty() ? boost::json::object{{"type", "object"}} : d.input_schema;
  if (d.output_schema) o["outputSchema"] = *d.output_schema;
  put_if(o, "annotations", d.annotations);
  put_if(o, "icons", d.icons);
  put_if(o, "_meta", d.meta);
  return o;
}

boost::json::object list_form(const ResourceDefinition& d) {
  boost::json::object o{{"uri", d.uri}, {"name", d.name}};
  put_if(o, "title", d.title);
  put_if(o, "description", d.description);
  put_if(o, "mimeType", d.mime_type);
  if (d.size) o["size"] = *d.size;
  put_if(o, "annotations", d.annotations);
  put_if(o, "icons", d.icons);
  return o;
}

boost::json::object list_form(const ResourceTemplateDefinition& d) {
  boost::json::object o{{"uriTemplate", d.uri_template}, {"name", d.name}};
  put_if(o, "title", d.title);
  put_if(o, "description", d.description);
  put_if(o, "mimeType", d.mime_type);
  put_if(o, "annotations", d.annotations);
  put_if(o, "icons", d.icons);
  return o;
}

boost::json::object list_form(const PromptDefinition& d) {
  boost::json::object o{{"name", d.name}};
  put_if(o, "title", d.title);
  put_if(o, "description", d.description);
  if (!d.arguments.empty()) {
    boost::json::array args;
    for (const auto& a : d.arguments) {
      boost::json::object arg{{"name", a.name}};
      put_if(arg, "title", a.title);
      put_if(arg, "description", a.description);
      arg["required"] = a.required;
      args.push_back(std::move(arg));
    }
    o["arguments"] = std::move(args);
  }
  put_if(o, "icons", d.icons);
  return o;
}

Result<Page> paginate(std::size_t total, std::size_t page_size, const boost::json::value* cursor) {
  Page page;
  if (cursor != nullptr && !cursor->is_null()) {
    const auto* text = cursor->if_string();
    std::string_view s = text ? std::string_view(*text) : std::string_view();
    // The cursor is base64 of kCursorPrefix + offset; decoding is done by hand to stay opaque.
    std::string decoded;
    {
      static constexpr std::string_view kAlphabet =
          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
      std::uint32_t buffer = 0;
      int bits = 0;
      bool ok = text != nullptr && s.size() <= 64;
      for (char c : s) {
        if (!ok || c == '=') break;
        const auto at = kAlphabet.find(c);
        if (at == std::string_view::npos) {
          ok = false;
          break;
        }
        buffer = buffer << 6 | static_cast<std::uint32_t>(at);
        bits += 6;
        if (bits >= 8) {
          bits -= 8;
          decoded += static_cast<char>(buffer >> bits & 0xFF);
        }
      }
      if (!ok) decoded.clear();
    }
    std::size_t offset = 0;
    bool valid = decoded.starts_with(kCursorPrefix);
    if (valid) {
      const char* end = decoded.data() + decoded.size();
      const auto parsed = std::from_chars(decoded.data() + kCursorPrefix.size(), end, offset);
      valid = parsed.ec == std::errc{} && parsed.ptr == end && offset <= total;
    }
    if (!valid) return make_error(ErrorKind::protocol, "invalid pagination cursor", nullptr, jsonrpc_code::invalid_params);
    page.begin = offset;
  }
  page.end = std::min(total, page.begin + std::max<std::size_t>(page_size, 1));
  if (page.end < total) page.next_cursor = base64_encode(std::string(kCursorPrefix) + std::to_string(page.end));
  return page;
}

}  // namespace trellis::server_detail
