// trellis/uri_template.hpp — RFC 6570 URI templates, for MCP resource templates: match a concrete
// URI against a template and extract its variables, or expand a template with values.
//
// `parse` accepts the whole of RFC 6570 (levels 1 to 4: the operators + # . / ; ? &, prefixes
// `:N` and explode `*`) and refuses malformed templates with an Error of kind `config` that gives
// the byte offset. `expand` follows the RFC's algorithm exactly. `match` inverts it:
//
//   auto tmpl = trellis::UriTemplate::parse("users://{userId}/profile{?fields}").value();
//   auto vars = tmpl.match("users://42/profile?fields=name,email");
//   // vars: {{"userId", "42"}, {"fields", "name,email"}} — values are percent-decoded
//   tmpl.expand(trellis::UriTemplate::Variables{{"userId", "42"}});  // "users://42/profile"
//
// Matching rules (what a URI written by hand or by another SDK contains, not only what `expand`
// writes):
//  - {var} and {+var} match one or more characters; the other operators may match nothing (an
//    undefined variable expands to nothing). {var} stops at "/", "?" and "#"; {+var} and {#var}
//    take any URI characters; {/var} takes one path segment, {.var} the rest of a label.
//  - With several variables ({a,b}, {/a,b}) the values are split at the separator; an exploded
//    list ({/path*}, {.ext*}) yields one (name, value) pair per item, in order.
//  - {?a,b}, {&x} and {;p} take name=value pairs in any order (";p" alone: the empty value).
//    When the expression ends the template it is lenient: parameters it does not name are
//    ignored (users://{id}/profile{?fields} matches ".../profile?fields=a&utm=x"), and so are
//    empty ones, and "?a" without "=" has the empty value. Elsewhere only what `expand` writes
//    matches, since any other text could as well belong to the next expression.
//  - A prefix {var:N} matches at most N characters (code points, after decoding).
//  - Values are percent-decoded and must be valid UTF-8; "%" must start a "%XX" triplet.
//  - When the split is ambiguous ({a}{b}), earlier expressions take the shortest value that lets
//    the rest of the URI match. Only end positions where the rest of the template can start are
//    tried, failed (expression, position) pairs are never retried, and the search stops after a
//    fixed budget of about four million steps, so a pathological template and URI end in "no
//    match" instead of running away. Trying a split point costs about the length of the value
//    before it: {+dir}/{name} against a URI with thousands of "/" in kilobytes of path is what
//    comes near the budget.
//
// A UriTemplate is an immutable value: copy it freely and call it from any thread.
#pragma once

#include "trellis/error.hpp"

#include <bitset>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace trellis {

namespace detail {
// What can start a match of the template from a given part on: the first bytes, and whether the
// rest may match nothing. `match` uses it to try only end positions the next part can follow.
struct UriTemplateLookahead {
  std::bitset<256> first;
  bool nullable = false;
};
}  // namespace detail

class UriTemplate {
 public:
  // Longer template texts are refused by `parse`; longer URIs never match.
  static constexpr std::size_t kMaxTemplateBytes = 8 * 1024;
  static constexpr std::size_t kMaxUriBytes = 64 * 1024;

  // Variables as `match` returns them, in the order they appear in the URI; a name repeats for
  // the items of an exploded list. `expand` accepts the same shape.
  using Variables = std::vector<std::pair<std::string, std::string>>;

  // A value for `expand`: a string, a list, or an associative array (ordered pairs). An empty list
  // or associative array counts as undefined, as RFC 6570 says.
  using List = std::vector<std::string>;
  using Associative = std::vector<std::pair<std::string, std::string>>;
  using Value = std::variant<std::string, List, Associative>;
  using Values = std::map<std::string, Value, std::less<>>;

  // Parses an RFC 6570 template. Errors (kind `config`, data {"offset": N}): text longer than
  // kMaxTemplateBytes, an unclosed "{", a "}" outside an expression, an empty expression, a
  // reserved operator (= , ! @ |), an invalid variable name, a prefix that is not 1..9999.
  static Result<UriTemplate> parse(std::string_view text);

  // The variables of `uri` if it matches the whole template (see the rules above), otherwise
  // nullopt. URIs longer than kMaxUriBytes never match.
  std::optional<Variables> match(std::string_view uri) const;

  // RFC 6570 expansion. Variables missing from `values` are undefined.
  std::string expand(const Values& values) const;
  // The same, with string values; a name given more than once is a list of its values in order
  // (so expand(*match(uri)) rebuilds an equivalent URI).
  std::string expand(const Variables& variables) const;

  // The template as given to parse().
  const std::string& text() const noexcept { return text_; }
  // The variable names in order of first appearance, without duplicates.
  std::vector<std::string> variable_names() const;

  // The parsed form, for callers that want to inspect a template (e.g. to offer completions).
  // One variable of an expression: {name}, {name:prefix} or {name*}.
  struct VariableSpec {
    std::string name;
    std::size_t prefix = 0;  // 0: no prefix
    bool explode = false;
  };
  // Literal text, or an expression when `op` is set ('\0' for a simple {var}).
  struct Part {
    std::string literal;
    std::optional<char> op;
    std::vector<VariableSpec> variables;
  };
  const std::vector<Part>& parts() const noexcept { return parts_; }

 private:
  UriTemplate(std::string text, std::vector<Part> parts);

  std::string text_;
  std::vector<Part> parts_;
  // For each literal part, its expanded form when that differs from the text (RFC 6570 3.1
  // encodes characters not allowed in URIs); `match` accepts either.
  std::vector<std::string> encoded_literals_;
  // For each part, and one past the last, what a match from there on can start with.
  std::vector<detail::UriTemplateLookahead> lookahead_;
};

}  // namespace trellis
