// FlatObjectSchema: recognition at compile time, one pass per instance; see the header for why.
#include "schema/flat_object_schema.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <string_view>
#include <utility>

namespace trellis::detail {
namespace {

enum Kind : std::uint8_t { kString = 1, kNumber = 2, kInteger = 4, kBoolean = 8, kNull = 16 };

// Keywords that annotate and never make an instance invalid (under JsonSchema's dialect, which
// does not check "format").
bool is_annotation(std::string_view keyword) {
  static constexpr std::array<std::string_view, 9> kAnnotations = {
      "title", "description", "$comment", "examples", "default", "deprecated", "readOnly", "writeOnly", "format"};
  return std::find(kAnnotations.begin(), kAnnotations.end(), keyword) != kAnnotations.end();
}

// The kind bit of one scalar type name; 0 for any other name (object and array included).
std::uint8_t scalar_kind(const boost::json::value& name) {
  const auto* text = name.if_string();
  if (text == nullptr) return 0;
  if (*text == "string") return kString;
  if (*text == "number") return kNumber;
  if (*text == "integer") return kInteger;
  if (*text == "boolean") return kBoolean;
  if (*text == "null") return kNull;
  return 0;
}

// The kinds a property schema accepts, when it is a "type" of scalars and annotations; else 0.
std::uint8_t property_kinds(const boost::json::value& schema) {
  const auto* object = schema.if_object();
  if (object == nullptr) return 0;
  std::uint8_t kinds = 0;
  for (const auto& member : *object) {
    if (member.key() != "type") {
      if (!is_annotation(member.key())) return 0;
      continue;
    }
    if (const auto* list = member.value().if_array()) {
      if (list->empty()) return 0;
      for (const auto& name : *list) {
        const std::uint8_t kind = scalar_kind(name);
        if (kind == 0) return 0;
        kinds |= kind;
      }
    } else {
      kinds = scalar_kind(member.value());
      if (kinds == 0) return 0;
    }
  }
  return kinds;
}

// Whether a scalar `value` is of one of `kinds`; never for an object or array.
bool has_kind(const boost::json::value& value, std::uint8_t kinds) noexcept {
  switch (value.kind()) {
    case boost::json::kind::string: return (kinds & kString) != 0;
    case boost::json::kind::bool_: return (kinds & kBoolean) != 0;
    case boost::json::kind::null: return (kinds & kNull) != 0;
    case boost::json::kind::int64: return (kinds & (kNumber | kInteger)) != 0;
    case boost::json::kind::uint64:
      // Beyond the int64 range JsonSchema counts an integer as a non-integer number.
      return (kinds & kNumber) != 0 ||
             ((kinds & kInteger) != 0 && value.get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
    case boost::json::kind::double_:
      return (kinds & kNumber) != 0;  // whether a double is an integer is left to the full validator
    case boost::json::kind::array:
    case boost::json::kind::object: return false;
  }
  return false;
}

}  // namespace

std::optional<FlatObjectSchema> FlatObjectSchema::recognize(const boost::json::value& schema) {
  const auto* root = schema.if_object();
  if (root == nullptr) return std::nullopt;
  FlatObjectSchema flat;
  bool typed_object = false;
  const boost::json::array* required = nullptr;
  for (const auto& member : *root) {
    const std::string_view key = member.key();
    const auto& value = member.value();
    if (key == "type") {
      const auto* list = value.if_array();
      const auto& name = list != nullptr && list->size() == 1 ? list->front() : value;
      typed_object = name.is_string() && name.get_string() == "object";
      if (!typed_object) return std::nullopt;
    } else if (key == "properties") {
      const auto* properties = value.if_object();
      if (properties == nullptr) return std::nullopt;
      for (const auto& property : *properties) {
        const std::uint8_t kinds = property_kinds(property.value());
        if (kinds == 0) return std::nullopt;
        flat.properties_.push_back({.name = std::string(property.key()), .kinds = kinds});
      }
    } else if (key == "required") {
      required = value.if_array();
      if (required == nullptr) return std::nullopt;
    } else if (key == "additionalProperties") {
      if (!value.is_bool()) return std::nullopt;
      flat.additional_allowed_ = value.get_bool();
    } else if (key != "$schema" && !is_annotation(key)) {
      return std::nullopt;
    }
  }
  if (!typed_object) return std::nullopt;
  std::sort(flat.properties_.begin(), flat.properties_.end(),
            [](const Property& a, const Property& b) { return a.name < b.name; });
  if (required != nullptr) {
    for (const auto& name : *required) {
      const auto* text = name.if_string();
      if (text == nullptr) return std::nullopt;
      Property* property = flat.find(*text);
      if (property == nullptr) return std::nullopt;  // required but not typed: not flat
      if (!property->required) ++flat.required_count_;
      property->required = true;
    }
  }
  return flat;
}

const FlatObjectSchema::Property* FlatObjectSchema::find(std::string_view name) const noexcept {
  const auto it = std::lower_bound(properties_.begin(), properties_.end(), name,
                                   [](const Property& p, std::string_view n) { return p.name < n; });
  return it != properties_.end() && it->name == name ? &*it : nullptr;
}

FlatObjectSchema::Property* FlatObjectSchema::find(std::string_view name) noexcept {
  return const_cast<Property*>(std::as_const(*this).find(name));
}

bool FlatObjectSchema::proves_valid(const boost::json::value& instance) const noexcept {
  const auto* object = instance.if_object();
  if (object == nullptr) return false;
  std::size_t required_seen = 0;
  for (const auto& member : *object) {
    const Property* property = find(member.key());
    if (property == nullptr) {
      // An undeclared member: allowed or not, and a structured one may nest deeper than the full
      // validator accepts, which only it checks.
      if (!additional_allowed_ || member.value().is_structured()) return false;
      continue;
    }
    if (!has_kind(member.value(), property->kinds)) return false;
    if (property->required) ++required_seen;
  }
  return required_seen == required_count_;
}

}  // namespace trellis::detail
