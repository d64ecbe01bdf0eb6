// flat_object_schema.hpp — a fast path in front of the full validator for the schema most MCP
// tools declare: an object whose properties are typed scalars, e.g.
//   {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
//
// JsonSchema::compile recognizes such a schema once; JsonSchema::validate then first asks this
// form, which looks at each member of the instance once and allocates nothing. It only ever proves
// an instance valid: anything it is not sure of (a member that is an object or an array, a number
// that is integral only as a double, a member it cannot account for) goes to the full validator,
// which gives the verdict and the error report. A valid call therefore skips valijson, whose
// visitor allocates and dispatches per keyword (a tenth of the server's CPU on a pipelined echo
// call), and an invalid one is reported exactly as before.
#pragma once

#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trellis::detail {

class FlatObjectSchema {
 public:
  // The flat form of `schema`, when it has one: an object schema with "type": "object", and
  // besides it only "properties" (each an object with a "type" among string, number, integer,
  // boolean and null, alone or in a list, plus annotations), "required" (names of those
  // properties), a boolean "additionalProperties" and annotations ("$schema", "title",
  // "description", "$comment", "examples", "default", "deprecated", "readOnly", "writeOnly",
  // "format", which the full validator does not check either). Anything else: nullopt.
  static std::optional<FlatObjectSchema> recognize(const boost::json::value& schema);

  // True when `instance` certainly matches the schema; false when it might not.
  bool proves_valid(const boost::json::value& instance) const noexcept;

 private:
  struct Property {
    std::string name;
    std::uint8_t kinds = 0;  // a bit per scalar type the property accepts
    bool required = false;
  };

  // By name, binary search: an instance's members cost O(log n) each however many properties
  // the schema declares.
  const Property* find(std::string_view name) const noexcept;
  Property* find(std::string_view name) noexcept;

  std::vector<Property> properties_;  // sorted by name
  std::size_t required_count_ = 0;
  bool additional_allowed_ = true;
};

}  // namespace trellis::detail
