// libFuzzer target for RFC 6570 URI templates. The input is a template, a newline, then a URI.
// For arbitrary bytes:
//  - parse either succeeds and keeps the text, or fails with a config error naming an offset
//    inside the text;
//  - match never returns a name the template lacks or a value that is not UTF-8, and never
//    matches a URI over the size limit;
//  - when every variable name appears once, what match returns expands to a URI that matches
//    again (unless a + or # value holds a "%", which such expressions pass through as is); and
//    when, moreover, no variable is exploded and there is no + or #, so that every value is a
//    string encoded one way only, that URI is a fixed point of match-then-expand (adjacent
//    expressions may split it differently, but never differently encoded);
//  - expanding non-empty ASCII values (made from the URI bytes) gives a URI that matches.
// Any violation traps, so libFuzzer records the input. replay_main.cpp replays the corpus in CI.
#include "trellis/uri_template.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using trellis::UriTemplate;

void check(bool condition) {
  if (!condition) __builtin_trap();
}

bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const std::size_t length = lead < 0x80 ? 1 : (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : (lead & 0xF8) == 0xF0 ? 4 : 0;
    if (length == 0 || i + length > text.size()) return false;
    std::uint32_t code = length == 1 ? lead : lead & (0x7F >> length);
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    static constexpr std::uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < min[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    i += length;
  }
  return true;
}

bool names_are_unique(const UriTemplate& tmpl) {
  std::size_t count = 0;
  for (const auto& part : tmpl.parts()) count += part.variables.size();
  return count == tmpl.variable_names().size();
}

bool has_reserved_expansion(const UriTemplate& tmpl) {
  return std::any_of(tmpl.parts().begin(), tmpl.parts().end(),
                     [](const auto& part) { return part.op == '+' || part.op == '#'; });
}

bool has_explode(const UriTemplate& tmpl) {
  return std::any_of(tmpl.parts().begin(), tmpl.parts().end(), [](const auto& part) {
    return std::any_of(part.variables.begin(), part.variables.end(), [](const auto& spec) { return spec.explode; });
  });
}

void check_match(const UriTemplate& tmpl, std::string_view uri) {
  const auto variables = tmpl.match(uri);
  if (uri.size() > UriTemplate::kMaxUriBytes) check(!variables);
  if (!variables) return;
  const auto names = tmpl.variable_names();
  for (const auto& [name, value] : *variables) {
    check(std::find(names.begin(), names.end(), name) != names.end());
    check(is_valid_utf8(value));
  }
  if (!names_are_unique(tmpl)) return;
  const bool reserved = has_reserved_expansion(tmpl);
  const bool percent = std::any_of(variables->begin(), variables->end(),
                                   [](const auto& variable) { return variable.second.find('%') != std::string::npos; });
  if (reserved && percent) return;
  const std::string expanded = tmpl.expand(*variables);
  const auto again = tmpl.match(expanded);
  check(again.has_value());
  if (!reserved && !has_explode(tmpl)) check(tmpl.expand(*again) == expanded);
}

void check_expand(const UriTemplate& tmpl, std::string_view seed) {
  if (!names_are_unique(tmpl)) return;
  UriTemplate::Values values;
  std::size_t offset = 0;
  for (const auto& name : tmpl.variable_names()) {
    // Printable ASCII without '%', at least one character (a {var} matches one or more).
    std::string value;
    for (std::size_t k = 0; k < 1 + offset % 7; ++k) {
      const auto byte = static_cast<unsigned char>(offset + k < seed.size() ? seed[offset + k] : 'a');
      const char c = static_cast<char>(33 + byte % 94);
      value += c == '%' ? 'p' : c;
    }
    offset += value.size();
    values.emplace(name, std::move(value));
  }
  const std::string expanded = tmpl.expand(values);
  if (expanded.size() <= UriTemplate::kMaxUriBytes) check(tmpl.match(expanded).has_value());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t newline = input.find('\n');
  const std::string_view text = input.substr(0, newline);
  const std::string_view uri = newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

  auto parsed = UriTemplate::parse(text);
  if (!parsed) {
    const trellis::Error& error = parsed.error();
    check(error.kind == trellis::ErrorKind::config);
    check(error.message.find("at offset ") != std::string::npos);
    const auto* offset = error.data.is_object() ? error.data.as_object().if_contains("offset") : nullptr;
    check(offset != nullptr && offset->to_number<std::size_t>() <= text.size());
    return 0;
  }
  check(parsed->text() == text);
  check_match(*parsed, uri);
  check_expand(*parsed, uri);
  return 0;
}
