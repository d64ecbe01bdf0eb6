// trellis/json_schema.hpp — JSON Schema validation of Boost.JSON values, for the `inputSchema` and
// `outputSchema` of MCP tools.
//
// `JsonSchema::compile` checks a schema and compiles it once; `validate` then checks any number of
// instances against it, from any number of threads. A schema that cannot be compiled is an Error
// of kind `config` that names the location in the schema; an instance that does not match is an
// Error of kind `protocol` with code -32602 (invalid params), whose message names the failing
// locations as JSON Pointers and says what was expected, so it can go back to the peer as is.
//
//   auto schema = trellis::JsonSchema::compile(tool.input_schema);
//   if (!schema) return schema.error();             // config: "invalid JSON Schema at /properties/..."
//   ...
//   if (auto valid = schema->validate(arguments, "arguments"); !valid) {
//     return valid.error();                         // "arguments: /text: expected string, got number"
//   }
//
// Dialect. MCP schemas usually declare draft 2020-12; the engine underneath (valijson) knows draft
// 7. `compile` therefore reads every schema, whatever its "$schema", as 2020-12 mapped onto draft 7:
// "$defs" and "definitions", "$ref" with sibling keywords, "prefixItems", "dependentRequired" and
// "dependentSchemas" mean what 2020-12 says; type (also as an array), enum, const, required,
// properties, additionalProperties, patternProperties, propertyNames, items, additionalItems,
// contains, min/max(Items|Length|Properties), minimum, maximum, exclusiveMinimum/Maximum (numbers),
// multipleOf, uniqueItems, pattern, allOf, anyOf, oneOf, not, if/then/else and boolean schemas are
// checked. Numbers compare by value: 1.0 is an integer and equals 1 (integers beyond the int64
// range count as non-integer numbers).
// Not checked: "format" (an annotation in 2020-12), "unevaluatedProperties", "unevaluatedItems",
// "minContains"/"maxContains" and the content* keywords. Refused at compile time: "$dynamicRef" and
// "$recursiveRef", a "$ref" that leaves the document (only "#...", an "$anchor", or an "$id"
// declared in the schema resolve; nothing is ever fetched), an invalid "pattern", and recursion
// that never descends into the instance (e.g. {"$ref": "#"}), which would never terminate.
//
// Patterns. ECMA-262 syntax, without flags: a search (not anchored) in which ^ and $ match only at
// the ends of the string and "." matches any code point but a line feed. They run on RE2, in time
// linear in the string whatever the pattern, so arguments cannot make a pattern cost seconds. A
// pattern RE2 cannot run (a backreference, lookahead or lookbehind, a \cX escape) runs on
// Boost.Regex instead, which backtracks, on bytes rather than code points, and whose cost grows
// with the square of the string before it gives up: the string then fails validation as "too
// long or too complex to check" rather than hang or overflow the stack.
//
// Bounds. Instances nesting deeper than kMaxInstanceDepth are refused before validation; the
// detailed report is built only for instances of up to kMaxReportedNodes values.
#pragma once

#include "trellis/error.hpp"

#include <boost/json/value.hpp>

#include <cstddef>
#include <memory>
#include <string_view>

namespace trellis {

namespace detail {
struct CompiledSchema;
}  // namespace detail

// A compiled JSON Schema. Immutable once compiled: copies share the compiled form (copying costs
// one reference count), and `validate` is const, keeps no state between calls and is safe to call
// concurrently on the same object.
class JsonSchema {
 public:
  // Instances nested deeper than this (arrays and objects) are refused with -32602 without being
  // validated: validation recurses once per level.
  static constexpr std::size_t kMaxInstanceDepth = 128;
  // An invalid instance with more values than this (counting every array element, object member
  // and scalar) gets a short report ("does not match the schema") instead of the error locations:
  // collecting every error of a huge instance costs memory in proportion to its size.
  static constexpr std::size_t kMaxReportedNodes = 20'000;

  // Compiles `schema` (an object or a boolean). Errors: kind `config`, code 0, with a message that
  // names the location in the schema as a JSON Pointer and what is wrong there.
  static Result<JsonSchema> compile(const boost::json::value& schema);

  // Checks `instance` against the schema. On failure: kind `protocol`, code -32602, and a message
  // "<subject>: <pointer>: <problem>" for up to three problems joined with "; " (at most 512
  // bytes, cut at a UTF-8 boundary), e.g.
  //   arguments: /text: expected string, got number; arguments: missing required property "id"
  // The pointer is left out for the instance itself. `data` is {"errors": [{"path": "/text",
  // "message": "expected string, got number"}, ...]} with at most 16 entries.
  Result<void> validate(const boost::json::value& instance, std::string_view subject = "value") const;

  // The schema as it was given to compile().
  const boost::json::value& json() const noexcept;

 private:
  explicit JsonSchema(std::shared_ptr<const detail::CompiledSchema> compiled) noexcept;

  std::shared_ptr<const detail::CompiledSchema> compiled_;
};

}  // namespace trellis
