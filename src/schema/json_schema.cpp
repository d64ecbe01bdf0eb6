// JsonSchema: MCP schemas (draft 2020-12 as a rule) on valijson's draft-7 engine.
//
// compile() runs in four steps:
//  1. Normalize (class Normalizer): copy the schema into a draft-7 document that valijson parses
//     safely. 2020-12 keywords become their draft-7 forms; every "$ref" is resolved here and
//     rewritten as a pointer into the document, so valijson never sees a reference it would try
//     to fetch, never parses a URI (it does that with std::regex) and never loops on a cycle of
//     bare references; "pattern" and "patternProperties" become private keywords checked with
//     RE2 or Boost.Regex (see CompiledPattern), "uniqueItems" one checked in linear time
//     (UniqueItemsConstraint); "format" is dropped.
//  2. Check that every recursion descends into the instance (check_recursion).
//  3. Parse the document with valijson, plus one standalone schema for each subschema of
//     "patternProperties" and the "additionalProperties" beside it (see PropertiesRule).
//  4. Keep everything in one immutable CompiledSchema shared by all copies.
//
// validate() first asks the schema's flat form, when it has one (FlatObjectSchema: an object of
// typed scalars, which can prove most tool arguments valid without valijson), then validates
// fail-fast (the common, valid case costs one pass), and only for an invalid instance runs again
// collecting every error, which Reporter turns into messages that name the instance location and
// what the schema expected there.
#include "trellis/json_schema.hpp"

#include "schema/flat_object_schema.hpp"

// Without this valijson reports a schema it cannot parse by printing to stderr and calling
// abort(). Only this file includes valijson, so the definition is the same in every translation
// unit that sees its inline functions.
#define VALIJSON_USE_EXCEPTIONS 1

#include <boost/json.hpp>
#include <boost/regex.hpp>
#include <re2/re2.h>
#include <valijson/adapters/boost_json_adapter.hpp>
#include <valijson/constraint_builder.hpp>
#include <valijson/constraints/concrete_constraints.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <deque>
#include <exception>
#include <initializer_list>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace trellis {
namespace detail {

// One ECMA-262 pattern, compiled once at compile(), never with valijson's std::regex: libstdc++'s
// matcher recurses once per character (a 100 KB string overflows an 8 MB stack) and backtracks
// without limit. RE2 runs every pattern it can: in time linear in the string whatever the
// pattern, so that arguments cannot make a tool's pattern cost seconds, on code points (a JSON
// string is Unicode: "." is one character however many bytes it takes), and with ^ and $ at the
// ends of the string, as ECMA-262 has them without its m flag (re2_syntax() spells ECMA-262's \u
// escapes for it). What RE2 cannot run (backreferences, lookaround, \cX) runs on Boost.Regex,
// which backtracks: it keeps its state on the heap and gives up once a match costs too much, but
// the cost it allows grows with the square of the string. Both are safe to share between threads
// for matching.
struct CompiledPattern {
  std::string source;
  std::unique_ptr<const re2::RE2> linear;  // null when RE2 cannot run the pattern
  boost::regex backtracking;               // the pattern's syntax check; matches only without `linear`
};

// A subschema validated on its own root: for "patternProperties" and "additionalProperties".
struct StandaloneSchema {
  std::string pointer;              // of the subschema in CompiledSchema::document (Reporter)
  std::optional<bool> constant;     // a boolean schema: no parse needed
  std::unique_ptr<valijson::Schema> schema;
};

// "patternProperties" and the "additionalProperties" beside it, in one schema object. Every
// member whose name matches a pattern must match that pattern's subschema; a member that is
// neither named in "properties" nor matched by a pattern must match the additional subschema.
// valijson would match the names with std::regex; this rule does the same with CompiledPattern.
struct PropertiesRule {
  std::unordered_set<std::string> named;
  std::vector<std::pair<const CompiledPattern*, std::size_t>> patterns;  // (pattern, standalone)
  std::optional<std::size_t> additional;                                // standalone
};

struct CompiledSchema {
  boost::json::value source;
  // {"$ref": "#/d", "d": <the schema, normalized>, "x": [<subschemas copied here by
  // Normalizer::pointer_for>]}. The root is a reference so that no "$ref" in the schema ever points at it: a standalone
  // schema is parsed by pointing the root "$ref" elsewhere for a moment.
  boost::json::value document;
  std::deque<CompiledPattern> patterns;
  std::vector<PropertiesRule> properties_rules;
  std::deque<StandaloneSchema> standalones;
  valijson::Schema root;
  std::optional<FlatObjectSchema> flat;  // the fast path, when the schema has that form
};

}  // namespace detail

namespace {

namespace json = boost::json;
using detail::CompiledPattern;
using detail::CompiledSchema;
using detail::PropertiesRule;
using valijson::ValidationResults;
using valijson::adapters::Adapter;
using valijson::adapters::BoostJsonAdapter;

constexpr std::string_view kPatternKeyword = "$trellis-pattern";
constexpr std::string_view kPropertiesKeyword = "$trellis-properties";
constexpr std::string_view kUniqueItemsKeyword = "$trellis-uniqueItems";
constexpr std::string_view kPatternPropertiesKeyword = "$trellis-patternProperties";
constexpr std::string_view kAdditionalPropertiesKeyword = "$trellis-additionalProperties";
constexpr std::string_view kReservedPrefix = "$trellis-";
constexpr std::size_t kMaxSchemaDepth = 128;
constexpr std::size_t kMaxReportedProblems = 3;
constexpr std::size_t kMaxDataProblems = 16;
constexpr std::size_t kMaxMessageBytes = 512;
constexpr std::size_t kMaxQuotedBytes = 96;

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

// Cuts `text` to at most `limit` bytes without splitting a UTF-8 sequence, marking the cut.
std::string bounded(std::string text, std::size_t limit) {
  if (text.size() <= limit) return text;
  std::size_t cut = limit > 3 ? limit - 3 : 0;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  text += "...";
  return text;
}

// Compact JSON for a message, with numbers in their shortest form (Boost.JSON 1.81 writes 1.5 as
// "1.5E0"). Stops descending once `out` is past `limit`, which also bounds the recursion.
void render(const json::value& value, std::string& out, std::size_t limit) {
  if (out.size() > limit) return;
  char buffer[32];
  if (const double* number = value.if_double()) {
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, *number);
    out.append(buffer, result.ptr);
  } else if (const auto* array = value.if_array()) {
    out += '[';
    for (std::size_t i = 0; i < array->size() && out.size() <= limit; ++i) {
      if (i > 0) out += ',';
      render((*array)[i], out, limit);
    }
    out += ']';
  } else if (const auto* object = value.if_object()) {
    out += '{';
    bool first = true;
    for (const auto& member : *object) {
      if (out.size() > limit) break;
      if (!first) out += ',';
      first = false;
      out += json::serialize(json::string(member.key()));
      out += ':';
      render(member.value(), out, limit);
    }
    out += '}';
  } else {
    out += json::serialize(value);
  }
}

// A JSON value as compact text for a message, bounded.
std::string quoted(const json::value& value) {
  std::string out;
  render(value, out, kMaxQuotedBytes);
  return bounded(std::move(out), kMaxQuotedBytes);
}
std::string quoted(std::string_view text) { return quoted(json::value(json::string(text))); }

std::string_view kind_name(const json::value& value) {
  switch (value.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return "number";
    case json::kind::string: return "string";
    case json::kind::array: return "array";
    case json::kind::object: return "object";
  }
  return "value";
}

// RFC 6901 reference token.
std::string pointer_token(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (const char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string join_pointer(std::string_view base, std::string_view key) {
  std::string out(base);
  out += '/';
  out += pointer_token(key);
  return out;
}
std::string join_pointer(std::string_view base, std::size_t index) {
  return std::string(base) + '/' + std::to_string(index);
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    unsigned value = 0;
    if (i + 2 >= text.size()) return std::nullopt;
    const auto [end, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
    if (ec != std::errc() || end != text.data() + i + 3) return std::nullopt;
    out += static_cast<char>(value);
    i += 2;
  }
  return out;
}

// The "$ref" valijson gets for a pointer into the document: it splits at '/', undoes ~1 and ~0,
// then percent-decodes each token, so a literal '%' must travel as "%25".
std::string reference_to(std::string_view pointer) {
  std::string out = "#";
  for (const char c : pointer) {
    if (c == '%') {
      out += "%25";
    } else {
      out += c;
    }
  }
  return out;
}

// The node a reference made by reference_to() points at.
const json::value* follow(const json::value& document, std::string_view reference) {
  if (reference.empty() || reference.front() != '#') return nullptr;
  const auto pointer = percent_decode(reference.substr(1));
  if (!pointer) return nullptr;
  boost::system::error_code ec;
  return document.find_pointer(*pointer, ec);
}

// valijson ignores empty reference tokens, so a pointer with one cannot be handed to it.
bool has_empty_token(std::string_view pointer) {
  return pointer.find("//") != std::string_view::npos || (!pointer.empty() && pointer.back() == '/');
}

// JSON Schema compares numbers by value (1.0 is the integer 1), valijson by representation:
// integral doubles in the int64 range become int64, and uint64 (beyond int64, or the
// comparison functions cannot read it) becomes double.
std::optional<json::value> renumbered(const json::value& value) {
  if (const double* d = value.if_double()) {
    if (std::trunc(*d) == *d && *d >= -9223372036854775808.0 && *d < 9223372036854775808.0) {
      return json::value(static_cast<std::int64_t>(*d));
    }
  } else if (const std::uint64_t* u = value.if_uint64()) {
    if (*u <= static_cast<std::uint64_t>(INT64_MAX)) return json::value(static_cast<std::int64_t>(*u));
    return json::value(static_cast<double>(*u));
  }
  return std::nullopt;
}

void renumber_in_place(json::value& root) {
  std::vector<json::value*> stack{&root};
  while (!stack.empty()) {
    json::value* value = stack.back();
    stack.pop_back();
    if (auto* array = value->if_array()) {
      for (auto& element : *array) stack.push_back(&element);
    } else if (auto* object = value->if_object()) {
      for (auto& member : *object) stack.push_back(&member.value());
    } else if (auto replacement = renumbered(*value)) {
      *value = std::move(*replacement);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Patterns
// ---------------------------------------------------------------------------------------------

enum class PatternOutcome { match, no_match, too_costly };

// The four hex digits at the start of `text`, if there are four.
std::optional<unsigned> hex4(std::string_view text) {
  unsigned value = 0;
  if (text.size() < 4 || std::from_chars(text.data(), text.data() + 4, value, 16).ptr != text.data() + 4) return std::nullopt;
  return value;
}

// `pattern` in RE2's syntax: ECMA-262's \uXXXX escapes, a surrogate pair as one code point, become
// \x{...}; "." outside a class matches no line terminator (ECMA-262's four: RE2's "." leaves out
// only \n); everything else is the same in both.
std::string re2_syntax(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size());
  bool in_class = false;  // between [ and ], where "." is itself
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '\\' || i + 1 == pattern.size()) {
      if (pattern[i] == '[') in_class = true;
      if (pattern[i] == ']') in_class = false;
      if (pattern[i] == '.' && !in_class) {
        out.append("[^\\n\\r\\x{2028}\\x{2029}]");
        continue;
      }
      out += pattern[i];
      continue;
    }
    auto unit = pattern[i + 1] == 'u' ? hex4(pattern.substr(i + 2)) : std::nullopt;
    if (!unit) {
      out.append(pattern.substr(i++, 2));  // an escape RE2 reads as ECMA-262 does, or refuses
      continue;
    }
    i += 5;
    if (*unit >= 0xD800 && *unit < 0xDC00 && pattern.substr(i + 1, 2) == "\\u") {
      if (auto low = hex4(pattern.substr(i + 3)); low && *low >= 0xDC00 && *low < 0xE000) {
        unit = 0x10000 + ((*unit - 0xD800) << 10) + (*low - 0xDC00);
        i += 6;
      }
    }
    char digits[8];
    out.append("\\x{").append(digits, std::to_chars(digits, digits + sizeof digits, *unit, 16).ptr).append("}");
  }
  return out;
}

PatternOutcome search(const CompiledPattern& pattern, const std::string& text) {
  if (pattern.linear) return re2::RE2::PartialMatch(text, *pattern.linear) ? PatternOutcome::match : PatternOutcome::no_match;
  try {
    return boost::regex_search(text, pattern.backtracking, boost::match_default | boost::match_any)
               ? PatternOutcome::match
               : PatternOutcome::no_match;
  } catch (const std::runtime_error&) {
    // Boost.Regex's bounds on match cost and on its own stack.
    return PatternOutcome::too_costly;
  }
}

std::string pattern_failure(const CompiledPattern& pattern, PatternOutcome outcome) {
  if (outcome == PatternOutcome::too_costly) {
    return "is too long or too complex to check against pattern " + quoted(pattern.source);
  }
  return "does not match pattern " + quoted(pattern.source);
}

// "pattern": the string must contain a match (ECMA-262 semantics: a search, not anchored).
class PatternConstraint final : public valijson::constraints::PolyConstraint {
 public:
  explicit PatternConstraint(const CompiledPattern& pattern) : pattern_(&pattern) {}

  bool validate(const Adapter& target, const std::vector<std::string>& context,
                ValidationResults* results) const override {
    if (!target.isString()) return true;
    const PatternOutcome outcome = search(*pattern_, target.asString());
    if (outcome == PatternOutcome::match) return true;
    if (results != nullptr) results->pushError(context, pattern_failure(*pattern_, outcome));
    return false;
  }

 private:
  Constraint* cloneInto(void* where) const override { return new (where) PatternConstraint(*this); }
  std::size_t sizeOf() const override { return sizeof(PatternConstraint); }

  const CompiledPattern* pattern_;  // owned by the CompiledSchema that owns this constraint
};

// Validates one member against a standalone schema; nested errors get the member's context.
bool validate_standalone(const detail::StandaloneSchema& standalone, const std::string& name,
                         const BoostJsonAdapter& value, const std::vector<std::string>& context,
                         ValidationResults* results) {
  std::vector<std::string> member_context = context;
  member_context.push_back("[" + name + "]");
  if (standalone.constant) {
    if (*standalone.constant) return true;
    if (results != nullptr) results->pushError(member_context, "no value is allowed here");
    return false;
  }
  ValidationResults nested;
  valijson::Validator validator;  // per call: valijson's Validator caches regexes in a mutable member
  if (validator.validate(*standalone.schema, value, results != nullptr ? &nested : nullptr)) return true;
  if (results != nullptr) {
    for (const auto& error : nested) {
      std::vector<std::string> where = member_context;
      where.insert(where.end(), error.context.begin() + (error.context.empty() ? 0 : 1), error.context.end());
      results->pushError(where, error.description);
    }
  }
  return false;
}

class PropertiesConstraint final : public valijson::constraints::PolyConstraint {
 public:
  PropertiesConstraint(const CompiledSchema& compiled, const PropertiesRule& rule)
      : compiled_(&compiled), rule_(&rule) {}

  bool validate(const Adapter& target, const std::vector<std::string>& context,
                ValidationResults* results) const override {
    if (!target.isObject()) return true;
    const auto* adapter = dynamic_cast<const BoostJsonAdapter*>(&target);
    if (adapter == nullptr) {
      if (results != nullptr) results->pushError(context, "cannot check patternProperties here");
      return false;
    }
    bool valid = true;
    for (const auto& [name, value] : adapter->asObject()) {
      bool matched = false;
      for (const auto& [pattern, standalone] : rule_->patterns) {
        const PatternOutcome outcome = search(*pattern, name);
        if (outcome == PatternOutcome::no_match) continue;
        matched = true;
        if (outcome == PatternOutcome::too_costly) {
          if (results != nullptr) results->pushError(context, "property name " + quoted(name) + " " + pattern_failure(*pattern, outcome));
          valid = false;
        } else if (!validate_standalone(compiled_->standalones[standalone], name, value, context, results)) {
          valid = false;
        }
        if (!valid && results == nullptr) return false;
      }
      if (!matched && rule_->additional && !rule_->named.contains(name)) {
        const auto& additional = compiled_->standalones[*rule_->additional];
        if (additional.constant == false) {
          // valijson's wording for the same case, so that both read alike once reported.
          if (results != nullptr) {
            results->pushError(context, "Object contains a property that could not be validated using 'properties' or "
                                        "'additionalProperties' constraints: '" + name + "'.");
          }
          valid = false;
        } else if (!validate_standalone(additional, name, value, context, results)) {
          valid = false;
        }
        if (!valid && results == nullptr) return false;
      }
    }
    return valid;
  }

 private:
  Constraint* cloneInto(void* where) const override { return new (where) PropertiesConstraint(*this); }
  std::size_t sizeOf() const override { return sizeof(PropertiesConstraint); }

  const CompiledSchema* compiled_;  // owns this constraint
  const PropertiesRule* rule_;
};

// Order-independent for object members, as JSON equality is.
std::size_t hash_of(const Adapter& value) {
  if (value.isString()) return std::hash<std::string>{}(value.asString());
  if (value.isInteger()) return std::hash<std::int64_t>{}(value.asInteger());
  if (value.isDouble()) return std::hash<double>{}(value.asDouble());
  if (value.isBool()) return value.asBool() ? 3 : 5;
  std::size_t hash = value.isArray() ? 11 : 13;
  if (value.isArray()) {
    value.applyToArray([&](const Adapter& item) {
      hash = hash * 31 + hash_of(item);
      return true;
    });
  } else if (value.isObject()) {
    value.applyToObject([&](const std::string& key, const Adapter& member) {
      hash += std::hash<std::string>{}(key) ^ (hash_of(member) * 31);
      return true;
    });
  }
  return hash;
}

// "uniqueItems": valijson compares every pair of items and reports every equal pair, quadratic
// in time and in memory; this buckets the items by hash and reports the first duplicate.
class UniqueItemsConstraint final : public valijson::constraints::PolyConstraint {
 public:
  bool validate(const Adapter& target, const std::vector<std::string>& context,
                ValidationResults* results) const override {
    if (!target.isArray()) return true;
    const auto* adapter = dynamic_cast<const BoostJsonAdapter*>(&target);
    if (adapter == nullptr) {
      if (results != nullptr) results->pushError(context, "cannot check uniqueItems here");
      return false;
    }
    std::vector<BoostJsonAdapter> items;
    for (const auto& item : adapter->asArray()) items.push_back(item);
    std::unordered_multimap<std::size_t, std::size_t> seen;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const std::size_t hash = hash_of(items[i]);
      const auto [first, last] = seen.equal_range(hash);
      for (auto it = first; it != last; ++it) {
        if (!items[it->second].equalTo(items[i], true)) continue;
        if (results != nullptr) {
          // valijson's wording, which Reporter translates.
          results->pushError(context, "Elements at indexes #" + std::to_string(it->second) + " and #" +
                                          std::to_string(i) + " violate uniqueness constraint.");
        }
        return false;
      }
      seen.emplace(hash, i);
    }
    return true;
  }

 private:
  Constraint* cloneInto(void* where) const override { return new (where) UniqueItemsConstraint(*this); }
  std::size_t sizeOf() const override { return sizeof(UniqueItemsConstraint); }
};

// Turn the private keywords (whose values are indices) into the constraints above.
class PatternBuilder final : public valijson::ConstraintBuilder {
 public:
  explicit PatternBuilder(const CompiledSchema& compiled) : compiled_(compiled) {}
  valijson::constraints::Constraint* make(const Adapter& value) const override {
    return new PatternConstraint(compiled_.patterns.at(static_cast<std::size_t>(value.asInteger())));
  }

 private:
  const CompiledSchema& compiled_;
};

class UniqueItemsBuilder final : public valijson::ConstraintBuilder {
 public:
  valijson::constraints::Constraint* make(const Adapter&) const override { return new UniqueItemsConstraint(); }
};

class PropertiesBuilder final : public valijson::ConstraintBuilder {
 public:
  explicit PropertiesBuilder(const CompiledSchema& compiled) : compiled_(compiled) {}
  valijson::constraints::Constraint* make(const Adapter& value) const override {
    return new PropertiesConstraint(compiled_, compiled_.properties_rules.at(static_cast<std::size_t>(value.asInteger())));
  }

 private:
  const CompiledSchema& compiled_;
};

// ---------------------------------------------------------------------------------------------
// Step 1: normalization
// ---------------------------------------------------------------------------------------------

// Thrown inside compile() only, and turned into a config Error there.
struct SchemaProblem {
  std::string pointer;  // in the schema as given; "#..." for a subschema reached by reference
  std::string what;
};

// Keywords whose value is one subschema, an array of them, or an object of them.
bool is_single_schema_keyword(std::string_view key) {
  static const std::unordered_set<std::string_view> keys{
      "not", "if", "then", "else", "contains", "propertyNames", "unevaluatedItems", "unevaluatedProperties",
      "contentSchema"};
  return keys.contains(key);
}
bool is_schema_list_keyword(std::string_view key) { return key == "allOf" || key == "anyOf" || key == "oneOf"; }
bool is_schema_map_keyword(std::string_view key) {
  return key == "properties" || key == "$defs" || key == "definitions";
}
// Handled together after the other keywords of an object, because they depend on each other.
bool is_combined_keyword(std::string_view key) {
  static const std::unordered_set<std::string_view> keys{
      "$ref",           "items",        "prefixItems",       "additionalItems",  "patternProperties",
      "additionalProperties", "dependencies", "dependentRequired", "dependentSchemas"};
  return keys.contains(key);
}

class Normalizer {
 public:
  Normalizer(const json::value& source, CompiledSchema& compiled) : source_(source), compiled_(compiled) {}

  // Fills compiled.document, patterns, properties_rules and the pointers of standalones.
  void run() {
    json::value main = schema(source_, "", "/d", 0);
    resolve_references();
    json::object document;
    document["$ref"] = "#/d";
    document["d"] = std::move(main);
    document["x"] = std::move(relocations_);
    compiled_.document = std::move(document);
    for (const auto& [holder, target] : fixes_) {
      boost::system::error_code ec;
      json::value* node = compiled_.document.find_pointer(holder, ec);
      node->as_object()["$ref"] = reference_to(target);
    }
    renumber_in_place(compiled_.document);
  }

  // The pointer of the node that the standalone schema `index` starts at, valid for valijson.
  const std::string& standalone_root(std::size_t index) const { return standalone_roots_.at(index); }

 private:
  struct PendingReference {
    std::string holder;     // normalized pointer of the object that gets the "$ref"
    std::string reference;  // as written
    std::string at;         // where it was written, for messages
  };
  struct PendingStandalone {
    std::size_t index;
    const json::value* node;
  };

  json::value schema(const json::value& node, const std::string& at, const std::string& to, std::size_t depth) {
    if (depth > kMaxSchemaDepth) {
      throw SchemaProblem{at, "schemas nest deeper than " + std::to_string(kMaxSchemaDepth) + " levels"};
    }
    normalized_at_.try_emplace(&node, to);
    if (node.is_bool()) return node;
    const json::object* in = node.if_object();
    if (in == nullptr) {
      throw SchemaProblem{at, "expected a schema (an object or a boolean), got " + std::string(kind_name(node))};
    }
    json::object out;
    for (const auto& member : *in) {
      const std::string_view key = member.key();
      const json::value& value = member.value();
      const std::string key_at = join_pointer(at, key);
      const std::string key_to = join_pointer(to, key);
      if (key.starts_with(kReservedPrefix) || key == "id" || key == "format" || is_combined_keyword(key)) {
        // Reserved for our own keywords; "id" would set valijson's resolution scope (references
        // are resolved here instead); "format" is an annotation; combined keywords come below.
        continue;
      }
      if (key == "$dynamicRef" || key == "$recursiveRef") {
        throw SchemaProblem{key_at, std::string(key) + " is not supported"};
      }
      if (key == "$id" || key == "$anchor") {
        note_identifier(key, value, node);
        out[key] = value;
      } else if (key == "pattern") {
        out[kPatternKeyword] = static_cast<std::int64_t>(add_pattern(value, key_at));
      } else if (key == "multipleOf") {
        // valijson divides by it (as an integer when it is one): 0 would end the process with SIGFPE.
        if (!value.is_number() || !(value.to_number<double>() > 0)) throw SchemaProblem{key_at, "expected a number greater than 0"};
        out[key] = value;
      } else if (key == "uniqueItems") {
        if (!value.is_bool()) throw SchemaProblem{key_at, "expected a boolean"};
        if (value.get_bool()) out[kUniqueItemsKeyword] = true;
      } else if (is_single_schema_keyword(key)) {
        out[key] = schema(value, key_at, key_to, depth + 1);
      } else if (is_schema_list_keyword(key)) {
        out[key] = schema_list(value, key_at, key_to, depth);
      } else if (is_schema_map_keyword(key)) {
        out[key] = schema_map(value, key_at, key_to, depth);
      } else {
        out[key] = value;
      }
    }
    items(*in, out, at, to, depth);
    properties(*in, out, at, to, depth);
    dependencies(*in, out, at, to, depth);
    reference(*in, out, at, to);
    return out;
  }

  json::value schema_list(const json::value& node, const std::string& at, const std::string& to, std::size_t depth) {
    const json::array* in = node.if_array();
    if (in == nullptr || in->empty()) throw SchemaProblem{at, "expected a non-empty array of schemas"};
    json::array out;
    for (std::size_t i = 0; i < in->size(); ++i) {
      out.push_back(schema((*in)[i], join_pointer(at, i), join_pointer(to, i), depth + 1));
    }
    return out;
  }

  json::value schema_map(const json::value& node, const std::string& at, const std::string& to, std::size_t depth) {
    const json::object* in = node.if_object();
    if (in == nullptr) throw SchemaProblem{at, "expected an object of schemas"};
    json::object out;
    for (const auto& member : *in) {
      out[member.key()] = schema(member.value(), join_pointer(at, member.key()), join_pointer(to, member.key()), depth + 1);
    }
    return out;
  }

  // 2020-12 "prefixItems" + "items" are draft 7 "items" (an array) + "additionalItems".
  void items(const json::object& in, json::object& out, const std::string& at, const std::string& to, std::size_t depth) {
    const json::value* prefix = in.if_contains("prefixItems");
    const json::value* items = in.if_contains("items");
    const json::value* additional = in.if_contains("additionalItems");
    if (prefix != nullptr) {
      out["items"] = schema_list(*prefix, at + "/prefixItems", to + "/items", depth);
      if (items != nullptr) {
        if (items->is_array()) throw SchemaProblem{at + "/items", "\"items\" must be a schema when \"prefixItems\" is present"};
        out["additionalItems"] = schema(*items, at + "/items", to + "/additionalItems", depth + 1);
        return;
      }
    } else if (items != nullptr) {
      out["items"] = items->is_array() ? schema_list(*items, at + "/items", to + "/items", depth)
                                       : schema(*items, at + "/items", to + "/items", depth + 1);
    }
    if (additional != nullptr) {
      out["additionalItems"] = schema(*additional, at + "/additionalItems", to + "/additionalItems", depth + 1);
    }
  }

  void properties(const json::object& in, json::object& out, const std::string& at, const std::string& to,
                  std::size_t depth) {
    const json::value* patterns = in.if_contains("patternProperties");
    const json::value* additional = in.if_contains("additionalProperties");
    if (patterns == nullptr) {
      if (additional != nullptr) {
        out["additionalProperties"] = schema(*additional, at + "/additionalProperties", to + "/additionalProperties", depth + 1);
      }
      return;
    }
    const json::object* pattern_map = patterns->if_object();
    if (pattern_map == nullptr) throw SchemaProblem{at + "/patternProperties", "expected an object of schemas"};
    PropertiesRule rule;
    if (const json::value* named = in.if_contains("properties"); named != nullptr && named->is_object()) {
      for (const auto& member : named->get_object()) rule.named.emplace(member.key());
    }
    json::object subschemas;
    for (const auto& member : *pattern_map) {
      const std::string member_at = join_pointer(at + "/patternProperties", member.key());
      const std::string member_to = join_pointer(to + "/" + std::string(kPatternPropertiesKeyword), member.key());
      const std::size_t pattern = add_pattern(json::value(member.key()), member_at);
      subschemas[member.key()] = schema(member.value(), member_at, member_to, depth + 1);
      rule.patterns.emplace_back(&compiled_.patterns[pattern], add_standalone(member.value(), member_to));
    }
    out[kPatternPropertiesKeyword] = std::move(subschemas);
    if (additional != nullptr) {
      const std::string additional_to = to + "/" + std::string(kAdditionalPropertiesKeyword);
      out[kAdditionalPropertiesKeyword] = schema(*additional, at + "/additionalProperties", additional_to, depth + 1);
      rule.additional = add_standalone(*additional, additional_to);
    }
    out[kPropertiesKeyword] = static_cast<std::int64_t>(compiled_.properties_rules.size());
    compiled_.properties_rules.push_back(std::move(rule));
  }

  // 2020-12 "dependentRequired" and "dependentSchemas" are draft 7 "dependencies".
  void dependencies(const json::object& in, json::object& out, const std::string& at, const std::string& to,
                    std::size_t depth) {
    json::object merged;
    for (const std::string_view keyword : {"dependencies", "dependentRequired", "dependentSchemas"}) {
      const json::value* value = in.if_contains(keyword);
      if (value == nullptr) continue;
      const std::string keyword_at = at + "/" + std::string(keyword);
      const json::object* map = value->if_object();
      if (map == nullptr) throw SchemaProblem{keyword_at, "expected an object"};
      for (const auto& member : *map) {
        const std::string member_at = join_pointer(keyword_at, member.key());
        if (merged.contains(member.key())) {
          throw SchemaProblem{member_at, "conflicts with another dependency on the same property"};
        }
        if (member.value().is_array()) {
          merged[member.key()] = member.value();
        } else {
          merged[member.key()] = schema(member.value(), member_at, join_pointer(to + "/dependencies", member.key()), depth + 1);
        }
      }
    }
    if (!merged.empty()) out["dependencies"] = std::move(merged);
  }

  // A draft-7 "$ref" replaces its whole object; a 2020-12 one applies next to its siblings, which
  // is what an "allOf" entry does.
  void reference(const json::object& in, json::object& out, const std::string& at, const std::string& to) {
    const json::value* value = in.if_contains("$ref");
    if (value == nullptr) return;
    const json::string* text = value->if_string();
    if (text == nullptr) throw SchemaProblem{at + "/$ref", "expected a string"};
    std::string holder = to;
    if (!out.empty()) {
      json::value& all_of = out["allOf"];
      if (all_of.is_null()) all_of = json::array();
      json::array& list = all_of.as_array();
      holder = join_pointer(to + "/allOf", list.size());
      list.push_back(json::object{{"$ref", nullptr}});
    } else {
      out["$ref"] = nullptr;
    }
    references_.push_back({std::move(holder), std::string(*text), at + "/$ref"});
  }

  void note_identifier(std::string_view key, const json::value& value, const json::value& node) {
    const json::string* text = value.if_string();
    if (text == nullptr) return;
    std::string_view id = *text;
    if (key == "$anchor" || id.starts_with('#')) {
      if (id.starts_with('#')) id.remove_prefix(1);
      anchors_.try_emplace(std::string(id), &node);
      return;
    }
    if (id.ends_with('#')) id.remove_suffix(1);
    resources_.try_emplace(std::string(id), &node);
  }

  std::size_t add_pattern(const json::value& value, const std::string& at) {
    const json::string* text = value.if_string();
    if (text == nullptr) throw SchemaProblem{at, "expected a regular expression string"};
    CompiledPattern pattern;
    pattern.source = std::string(*text);
    try {
      // Without the m and s modifiers Boost.Regex would let ^ and $ match at line breaks inside
      // the string, and "." match a line break: ECMA-262 has neither without its flags.
      pattern.backtracking.assign(text->data(), text->size(),
                                  boost::regex::ECMAScript | boost::regex::no_mod_m | boost::regex::no_mod_s);
    } catch (const boost::regex_error& e) {
      throw SchemaProblem{at, "invalid regular expression " + quoted(std::string_view(*text)) + ": " + e.what()};
    }
    re2::RE2::Options options;  // UTF-8; "." does not match "\n"; ^ and $ only at the ends
    options.set_log_errors(false);
    options.set_never_capture(true);
    auto linear = std::make_unique<const re2::RE2>(re2_syntax(*text), options);
    if (linear->ok()) pattern.linear = std::move(linear);
    compiled_.patterns.push_back(std::move(pattern));
    return compiled_.patterns.size() - 1;
  }

  std::size_t add_standalone(const json::value& node, const std::string& to) {
    auto& standalone = compiled_.standalones.emplace_back();
    standalone.pointer = to;
    if (node.is_bool()) standalone.constant = node.get_bool();
    standalones_.push_back({compiled_.standalones.size() - 1, &node});
    return compiled_.standalones.size() - 1;
  }

  // The node a reference written in the schema points at, in the schema as given.
  const json::value& resolve(const PendingReference& pending) const {
    const std::string_view text = pending.reference;
    const std::size_t hash = text.find('#');
    const std::string_view uri = text.substr(0, hash);
    const std::string_view fragment = hash == std::string_view::npos ? std::string_view() : text.substr(hash + 1);
    const json::value* base = &source_;
    if (!uri.empty()) {
      const auto it = resources_.find(std::string(uri));
      if (it == resources_.end()) {
        throw SchemaProblem{pending.at, "cannot resolve " + quoted(text) +
                                            ": only references within the schema (\"#...\", an \"$anchor\" or an "
                                            "\"$id\" it declares) are supported; nothing is fetched"};
      }
      base = it->second;
    }
    if (fragment.empty()) return *base;
    if (fragment.front() != '/') {
      const auto it = anchors_.find(std::string(fragment));
      if (it == anchors_.end()) throw SchemaProblem{pending.at, "no \"$anchor\" " + quoted(fragment) + " in the schema"};
      return *it->second;
    }
    const auto pointer = percent_decode(fragment);
    boost::system::error_code ec;
    const json::value* target = pointer ? base->find_pointer(*pointer, ec) : nullptr;
    if (target == nullptr) throw SchemaProblem{pending.at, quoted(text) + " does not point into the schema"};
    return *target;
  }

  // Where valijson finds `node`: its normalized copy, or a copy made under "/x" when it has none
  // (a node outside any keyword valijson knows) or its pointer has an empty token.
  std::string pointer_for(const json::value& node, const std::string& at) {
    if (const auto it = normalized_at_.find(&node); it != normalized_at_.end() && !has_empty_token(it->second)) {
      return it->second;
    }
    if (const auto it = relocated_.find(&node); it != relocated_.end()) return it->second;
    std::string to = join_pointer("/x", relocations_.size());
    relocated_.emplace(&node, to);
    relocations_.push_back(schema(node, at, to, 0));
    return to;
  }

  void resolve_references() {
    std::size_t next_reference = 0;
    std::size_t next_standalone = 0;
    while (next_reference < references_.size() || next_standalone < standalones_.size()) {
      if (next_reference < references_.size()) {
        const PendingReference pending = references_[next_reference++];  // a copy: the list may grow
        std::string target = pointer_for(resolve(pending), "#" + pending.reference);
        fixes_.emplace_back(pending.holder, std::move(target));
      } else {
        const PendingStandalone pending = standalones_[next_standalone++];
        if (standalone_roots_.size() <= pending.index) standalone_roots_.resize(pending.index + 1);
        standalone_roots_[pending.index] = pointer_for(*pending.node, compiled_.standalones[pending.index].pointer);
      }
    }
  }

  const json::value& source_;
  CompiledSchema& compiled_;
  std::unordered_map<const json::value*, std::string> normalized_at_;
  std::unordered_map<const json::value*, std::string> relocated_;
  std::unordered_map<std::string, const json::value*> resources_;
  std::unordered_map<std::string, const json::value*> anchors_;
  std::vector<PendingReference> references_;
  std::vector<PendingStandalone> standalones_;
  std::vector<std::string> standalone_roots_;
  std::vector<std::pair<std::string, std::string>> fixes_;  // (holder, target pointer)
  json::array relocations_;
};

// ---------------------------------------------------------------------------------------------
// Step 2: recursion must descend into the instance
// ---------------------------------------------------------------------------------------------

// Calls f(subschema, in_place, where) for each subschema of a normalized schema object. in_place
// is true for subschemas applied to the same instance, so a cycle of them would never end; where
// is the subschema's pointer relative to the object, or its "$ref" ("#...").
template <class F>
void for_each_subschema(const json::value& document, const json::value& node, F&& f) {
  const json::object* object = node.if_object();
  if (object == nullptr) return;
  for (const auto& member : *object) {
    const std::string_view key = member.key();
    const json::value& value = member.value();
    const std::string at = join_pointer("", key);
    if (key == "$ref") {
      if (const json::value* target = follow(document, value.as_string())) f(*target, true, std::string(value.as_string()));
    } else if (is_schema_list_keyword(key)) {
      const auto& list = value.as_array();
      for (std::size_t i = 0; i < list.size(); ++i) f(list[i], true, join_pointer(at, i));
    } else if (key == "not" || key == "if" || key == "then" || key == "else") {
      f(value, true, at);
    } else if (key == "dependencies") {
      for (const auto& dependency : value.as_object()) {
        if (!dependency.value().is_array()) f(dependency.value(), true, join_pointer(at, dependency.key()));
      }
    } else if (is_schema_map_keyword(key) || key == kPatternPropertiesKeyword) {
      for (const auto& entry : value.as_object()) f(entry.value(), false, join_pointer(at, entry.key()));
    } else if (key == "items" && value.is_array()) {
      const auto& list = value.as_array();
      for (std::size_t i = 0; i < list.size(); ++i) f(list[i], false, join_pointer(at, i));
    } else if (key == "items" || is_single_schema_keyword(key) || key == "additionalItems" ||
               key == "additionalProperties" || key == kAdditionalPropertiesKeyword) {
      f(value, false, at);
    }
  }
}

// A user-facing location for a pointer into the normalized document.
std::string describe_location(std::string_view pointer) {
  if (pointer.starts_with("/d")) return std::string(pointer.substr(2));
  return "a subschema reached by \"$ref\"";
}

// Rejects cycles of in-place subschemas (e.g. {"$ref": "#"} or {"allOf": [{"$ref": "#"}]}):
// valijson would recurse on them until the stack overflows, when parsing or when validating.
void check_recursion(const CompiledSchema& compiled, const std::vector<std::string>& roots) {
  const json::value& document = compiled.document;
  // Every schema node that valijson will parse, with its pointer.
  std::unordered_map<const json::value*, std::string> nodes;
  std::vector<const json::value*> pending;
  auto visit = [&](const json::value* node, std::string pointer) {
    if (node != nullptr && nodes.try_emplace(node, std::move(pointer)).second) pending.push_back(node);
  };
  visit(&document, "");
  for (const auto& root : roots) visit(follow(document, reference_to(root)), root);
  while (!pending.empty()) {
    const json::value* node = pending.back();
    pending.pop_back();
    const std::string base = nodes.at(node);
    for_each_subschema(document, *node, [&](const json::value& subschema, bool, const std::string& where) {
      visit(&subschema, where.starts_with('#') ? percent_decode(where.substr(1)).value_or(where) : base + where);
    });
  }
  // Depth-first search for a cycle of in-place edges, with an explicit stack.
  enum class Mark : unsigned char { unseen, open, done };
  struct Frame {
    const json::value* node;
    std::vector<const json::value*> next;
    std::size_t index = 0;
  };
  auto frame_for = [&](const json::value* node) {
    Frame frame{node, {}};
    for_each_subschema(document, *node, [&](const json::value& subschema, bool in_place, const std::string&) {
      if (in_place) frame.next.push_back(&subschema);
    });
    return frame;
  };
  std::unordered_map<const json::value*, Mark> marks;
  for (const auto& [start, ignored] : nodes) {
    if (marks[start] != Mark::unseen) continue;
    std::vector<Frame> stack{frame_for(start)};
    marks[start] = Mark::open;
    while (!stack.empty()) {
      Frame& top = stack.back();
      if (top.index == top.next.size()) {
        marks[top.node] = Mark::done;
        stack.pop_back();
        continue;
      }
      const json::value* next = top.next[top.index++];
      Mark& mark = marks[next];
      if (mark == Mark::open) {
        throw SchemaProblem{describe_location(nodes.at(next)),
                            "recursion through \"$ref\", allOf, anyOf, oneOf, not, if/then/else or dependencies "
                            "that never descends into the instance"};
      }
      if (mark == Mark::unseen) {
        mark = Mark::open;
        stack.push_back(frame_for(next));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------

struct Problem {
  std::string path;  // JSON Pointer into the instance; empty for the instance itself
  std::string message;
};

bool starts_with(std::string_view text, std::string_view prefix) { return text.starts_with(prefix); }

// valijson's errors that only say "a child failed", which a child error always explains.
bool is_wrapper(std::string_view description) {
  for (const std::string_view prefix :
       {"Failed to validate against schema associated with property name", "Failed to validate item #",
        "Failed to validate against additional properties schema", "Failed to validate against schema associated with pattern",
        "Failed to validate against child schema #", "Failed to validate against dependent schema",
        "Failed to validate against a conditional schema", "Cannot validate item #"}) {
    if (description.starts_with(prefix)) return true;
  }
  return false;
}

// The text between the first and the last single quote of a valijson description.
std::string quoted_name(std::string_view description) {
  const std::size_t first = description.find('\'');
  const std::size_t last = description.rfind('\'');
  if (first == std::string_view::npos || last <= first) return std::string();
  return std::string(description.substr(first + 1, last - first - 1));
}

// The first number in a valijson description, without std::to_string's trailing zeros.
std::string number_in(std::string_view description) {
  const std::size_t begin = description.find_first_of("-0123456789");
  if (begin == std::string_view::npos) return "?";
  std::size_t end = description.find_first_not_of("-.0123456789", begin);
  std::string number(description.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin));
  if (number.find('.') != std::string::npos) {
    number.erase(number.find_last_not_of('0') + 1);
    if (number.back() == '.') number.pop_back();
  }
  return number;
}

// Explains one valijson error: follows its context through the instance and through the
// normalized schema (properties, items, "$ref", allOf/anyOf/oneOf) to find what was expected.
class Reporter {
 public:
  Reporter(const CompiledSchema& compiled, const json::value& instance) : compiled_(compiled), instance_(instance) {}

  Problem explain(const ValidationResults::Error& error) const {
    std::vector<const json::object*> schemas;
    expand(follow(compiled_.document, "#/d"), schemas);
    const json::value* value = &instance_;
    std::string path;
    for (std::size_t i = 1; i < error.context.size(); ++i) {
      const std::string& entry = error.context[i];
      const std::string token = entry.size() >= 2 ? entry.substr(1, entry.size() - 2) : entry;
      path += '/';
      path += pointer_token(token);
      schemas = step(schemas, value, token);
      value = child(value, token);
    }
    // A wrapper reported on its own names a child whose subschema failed without saying why: the
    // boolean schema false, or a check valijson does not explain (propertyNames).
    std::string child_token;
    if (error.description.starts_with("Failed to validate against schema associated with property name")) {
      child_token = quoted_name(error.description);
    } else if (error.description.starts_with("Failed to validate item #")) {
      child_token = number_in(error.description);
    }
    if (!child_token.empty()) {
      path += '/';
      path += pointer_token(child_token);
      return {std::move(path), child_is_false(schemas, value, child_token) ? "is not allowed here" : "does not match the schema"};
    }
    return {std::move(path), describe(error.description, schemas, value)};
  }

 private:
  static const json::value* child(const json::value* value, const std::string& token) {
    if (value == nullptr) return nullptr;
    if (const auto* object = value->if_object()) return object->if_contains(token);
    if (const auto* array = value->if_array()) {
      std::size_t index = 0;
      const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), index);
      if (ec == std::errc() && end == token.data() + token.size() && index < array->size()) return &(*array)[index];
    }
    return nullptr;
  }

  // Adds `node` and the schemas applied in place with it, in the order they are written.
  void expand(const json::value* node, std::vector<const json::object*>& out) const {
    std::vector<const json::value*> pending{node};
    for (std::size_t next = 0; next < pending.size() && out.size() < 64; ++next) {
      const json::object* object = pending[next] != nullptr ? pending[next]->if_object() : nullptr;
      if (object == nullptr || std::find(out.begin(), out.end(), object) != out.end()) continue;
      out.push_back(object);
      if (const json::value* reference = object->if_contains("$ref")) {
        pending.push_back(follow(compiled_.document, reference->as_string()));
      }
      for (const std::string_view keyword : {"allOf", "anyOf", "oneOf"}) {
        if (const json::value* list = object->if_contains(keyword)) {
          for (const auto& element : list->as_array()) pending.push_back(&element);
        }
      }
    }
  }

  // Whether a schema in `schemas` gives the child `token` of `value` the boolean schema false.
  static bool child_is_false(const std::vector<const json::object*>& schemas, const json::value* value,
                             const std::string& token) {
    auto is_false = [](const json::value* schema) { return schema != nullptr && schema->is_bool() && !schema->get_bool(); };
    for (const json::object* schema : schemas) {
      if (value != nullptr && value->is_array()) {
        const json::value* items = schema->if_contains("items");
        std::size_t index = 0;
        std::from_chars(token.data(), token.data() + token.size(), index);
        if (items != nullptr && items->is_array()) {
          if (is_false(index < items->as_array().size() ? &items->as_array()[index] : schema->if_contains("additionalItems"))) {
            return true;
          }
        } else if (is_false(items)) {
          return true;
        }
      } else {
        const json::value* properties = schema->if_contains("properties");
        const json::value* named = properties != nullptr && properties->is_object() ? properties->as_object().if_contains(token) : nullptr;
        if (is_false(named != nullptr ? named : schema->if_contains("additionalProperties"))) return true;
      }
    }
    return false;
  }

  std::vector<const json::object*> step(const std::vector<const json::object*>& schemas, const json::value* value,
                                        const std::string& token) const {
    std::vector<const json::object*> out;
    const bool in_array = value != nullptr && value->is_array();
    for (const json::object* schema : schemas) {
      if (in_array) {
        const json::value* items = schema->if_contains("items");
        std::size_t index = 0;
        const bool numeric = std::from_chars(token.data(), token.data() + token.size(), index).ec == std::errc();
        if (items != nullptr && items->is_array()) {
          expand(numeric && index < items->as_array().size() ? &items->as_array()[index] : schema->if_contains("additionalItems"), out);
        } else {
          expand(items, out);
        }
        continue;
      }
      const json::value* properties = schema->if_contains("properties");
      const json::value* named = properties != nullptr && properties->is_object() ? properties->as_object().if_contains(token) : nullptr;
      expand(named, out);
      bool matched = false;
      if (const json::value* rule_index = schema->if_contains(kPropertiesKeyword)) {
        const PropertiesRule& rule = compiled_.properties_rules.at(static_cast<std::size_t>(rule_index->as_int64()));
        for (const auto& [pattern, standalone] : rule.patterns) {
          if (search(*pattern, token) != PatternOutcome::match) continue;
          matched = true;
          expand(follow(compiled_.document, reference_to(compiled_.standalones[standalone].pointer)), out);
        }
        if (!matched && named == nullptr && rule.additional) {
          expand(follow(compiled_.document, reference_to(compiled_.standalones[*rule.additional].pointer)), out);
        }
      } else if (named == nullptr) {
        expand(schema->if_contains("additionalProperties"), out);
      }
    }
    return out;
  }

  // The value of `keyword` in the first schema that has it.
  static const json::value* keyword(const std::vector<const json::object*>& schemas, std::string_view keyword) {
    for (const json::object* schema : schemas) {
      if (const json::value* value = schema->if_contains(keyword)) return value;
    }
    return nullptr;
  }

  static std::string expected_types(const std::vector<const json::object*>& schemas) {
    std::vector<std::string> types;
    auto add = [&](const json::value& type) {
      if (const json::string* name = type.if_string(); name != nullptr && std::find(types.begin(), types.end(), *name) == types.end()) {
        types.emplace_back(*name);
      }
    };
    for (const json::object* schema : schemas) {
      const json::value* type = schema->if_contains("type");
      if (type == nullptr) continue;
      if (const json::array* list = type->if_array()) {
        for (const auto& element : *list) add(element);
      } else {
        add(*type);
      }
    }
    std::string out;
    for (std::size_t i = 0; i < types.size(); ++i) {
      if (i > 0) out += i + 1 == types.size() ? " or " : ", ";
      out += types[i];
    }
    return out;
  }

  static std::string bound(const std::vector<const json::object*>& schemas, std::initializer_list<std::string_view> keywords,
                           std::string_view description) {
    for (const std::string_view name : keywords) {
      if (const json::value* value = keyword(schemas, name); value != nullptr && value->is_number()) return quoted(*value);
    }
    return number_in(description);
  }

  static std::string describe(std::string_view d, const std::vector<const json::object*>& schemas, const json::value* value) {
    const std::string got = value != nullptr ? std::string(kind_name(*value)) : std::string("value");
    if (starts_with(d, "Value type not permitted")) {
      const std::string types = expected_types(schemas);
      return types.empty() ? got + " is not allowed here" : "expected " + types + ", got " + got;
    }
    if (starts_with(d, "Missing required property")) return "missing required property " + quoted(quoted_name(d));
    if (starts_with(d, "Object contains a property that could not be validated")) {
      return "unexpected property " + quoted(quoted_name(d.substr(d.find(':'))));
    }
    if (starts_with(d, "Missing dependency")) return "missing property " + quoted(quoted_name(d)) + ", required by \"dependencies\"";
    if (starts_with(d, "Failed to match against any enum values")) {
      const json::value* allowed = keyword(schemas, "enum");
      return allowed != nullptr ? "must be one of " + quoted(*allowed) : std::string("is not one of the allowed values");
    }
    if (starts_with(d, "Failed to match expected value set by 'const'")) {
      const json::value* constant = keyword(schemas, "const");
      return constant != nullptr ? "must be " + quoted(*constant) : std::string("is not the required constant");
    }
    if (starts_with(d, "Expected number less than or equal to")) return "must be <= " + bound(schemas, {"maximum"}, d);
    if (starts_with(d, "Expected number less than")) return "must be < " + bound(schemas, {"exclusiveMaximum", "maximum"}, d);
    if (starts_with(d, "Expected number greater than or equal to")) return "must be >= " + bound(schemas, {"minimum"}, d);
    if (starts_with(d, "Expected number greater than")) return "must be > " + bound(schemas, {"exclusiveMinimum", "minimum"}, d);
    if (starts_with(d, "Value should be a multiple of")) return "must be a multiple of " + bound(schemas, {"multipleOf"}, d);
    if (starts_with(d, "String should be no more than")) return "must be at most " + number_in(d) + " characters long";
    if (starts_with(d, "String should be no fewer than")) return "must be at least " + number_in(d) + " characters long";
    if (starts_with(d, "Array should contain no more than")) return "must have at most " + number_in(d) + " items";
    if (starts_with(d, "Array should contain no fewer than")) return "must have at least " + number_in(d) + " items";
    if (starts_with(d, "Object should have no more than")) return "must have at most " + number_in(d) + " properties";
    if (starts_with(d, "Object should have no fewer than")) return "must have at least " + number_in(d) + " properties";
    if (starts_with(d, "Array contains more items than allowed")) {
      const json::value* items = keyword(schemas, "items");
      return items != nullptr && items->is_array() ? "must have at most " + std::to_string(items->as_array().size()) + " items"
                                                   : std::string("has more items than the schema allows");
    }
    if (starts_with(d, "Elements at indexes #")) return "items must be unique, but " + number_in(d) + " and " +
                                                         number_in(d.substr(d.find(" and ") + 4)) + " are equal";
    if (starts_with(d, "Failed to any values against subschema in 'contains'")) return "no item matches \"contains\"";
    if (starts_with(d, "Target should not validate against schema specified in 'not'")) return "must not match \"not\"";
    if (starts_with(d, "Failed to validate against any schemas allowed by anyOf")) return "matches none of \"anyOf\"";
    if (starts_with(d, "Failed to validate against any child schemas allowed by oneOf")) return "matches none of \"oneOf\"";
    if (starts_with(d, "Failed to validate against exactly one child schema")) return "matches more than one of \"oneOf\"";
    if (is_wrapper(d)) return "does not match the schema";
    std::string own(d);
    if (!own.empty() && own.back() == '.') own.pop_back();
    return own;
  }

  const CompiledSchema& compiled_;
  const json::value& instance_;
};

struct InstanceShape {
  std::size_t nodes = 0;
  bool too_deep = false;
  bool renumber = false;  // holds numbers that renumbered() changes
};

// Recursion stops at kMaxInstanceDepth, so this walk is bounded whatever the instance.
void inspect(const json::value& value, std::size_t depth, InstanceShape& shape) {
  ++shape.nodes;
  if (const auto* array = value.if_array()) {
    if (depth > JsonSchema::kMaxInstanceDepth) {
      shape.too_deep = true;
      return;
    }
    for (const auto& element : *array) {
      inspect(element, depth + 1, shape);
      if (shape.too_deep) return;
    }
  } else if (const auto* object = value.if_object()) {
    if (depth > JsonSchema::kMaxInstanceDepth) {
      shape.too_deep = true;
      return;
    }
    for (const auto& member : *object) {
      inspect(member.value(), depth + 1, shape);
      if (shape.too_deep) return;
    }
  } else if (!shape.renumber && renumbered(value)) {
    shape.renumber = true;
  }
}

Error invalid(std::string_view subject, const std::vector<Problem>& problems) {
  std::string message;
  json::array data;
  std::size_t shown = 0;
  for (const Problem& problem : problems) {
    if (data.size() < kMaxDataProblems) {
      data.push_back(json::object{{"path", bounded(problem.path, kMaxMessageBytes)},
                                  {"message", bounded(problem.message, kMaxMessageBytes)}});
    }
    if (shown == kMaxReportedProblems) continue;
    ++shown;
    if (!message.empty()) message += "; ";
    message += subject;
    message += ": ";
    if (!problem.path.empty()) {
      message += bounded(problem.path, 160);
      message += ": ";
    }
    message += problem.message;
  }
  if (problems.size() > kMaxReportedProblems) {
    message += " (and " + std::to_string(problems.size() - kMaxReportedProblems) + " more)";
  }
  return make_error(ErrorKind::protocol, bounded(std::move(message), kMaxMessageBytes),
                    json::object{{"errors", std::move(data)}}, jsonrpc_code::invalid_params);
}

std::vector<Problem> report(const CompiledSchema& compiled, const json::value& instance) {
  ValidationResults results;
  valijson::Validator validator;
  validator.validate(compiled.root, BoostJsonAdapter(instance), &results);
  const bool only_wrappers = std::all_of(results.begin(), results.end(), [](const auto& e) { return is_wrapper(e.description); });
  const Reporter reporter(compiled, instance);
  std::vector<Problem> problems;
  for (const auto& error : results) {
    if (!only_wrappers && is_wrapper(error.description)) continue;
    Problem problem = reporter.explain(error);
    const bool seen = std::any_of(problems.begin(), problems.end(), [&](const Problem& p) {
      return p.path == problem.path && p.message == problem.message;
    });
    if (!seen) problems.push_back(std::move(problem));
  }
  if (problems.empty()) problems.push_back({"", "does not match the schema"});
  return problems;
}

}  // namespace

Result<JsonSchema> JsonSchema::compile(const boost::json::value& schema) {
  auto compiled = std::make_shared<CompiledSchema>();
  compiled->source = schema;
  try {
    Normalizer normalizer(compiled->source, *compiled);
    normalizer.run();
    std::vector<std::string> roots;
    for (std::size_t i = 0; i < compiled->standalones.size(); ++i) roots.push_back(normalizer.standalone_root(i));
    check_recursion(*compiled, roots);

    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    parser.addConstraintBuilder(std::string(kPatternKeyword), new PatternBuilder(*compiled));
    parser.addConstraintBuilder(std::string(kPropertiesKeyword), new PropertiesBuilder(*compiled));
    parser.addConstraintBuilder(std::string(kUniqueItemsKeyword), new UniqueItemsBuilder());
    parser.populateSchema(BoostJsonAdapter(compiled->document), compiled->root);
    json::value& root_reference = compiled->document.as_object()["$ref"];
    for (std::size_t i = 0; i < compiled->standalones.size(); ++i) {
      auto& standalone = compiled->standalones[i];
      if (standalone.constant) continue;
      root_reference = reference_to(roots[i]);
      standalone.schema = std::make_unique<valijson::Schema>();
      parser.populateSchema(BoostJsonAdapter(compiled->document), *standalone.schema);
    }
    root_reference = "#/d";
    compiled->flat = detail::FlatObjectSchema::recognize(compiled->source);
  } catch (const SchemaProblem& problem) {
    const std::string where = problem.pointer.empty() ? "the root" : problem.pointer;
    return make_error(ErrorKind::config, "invalid JSON Schema at " + bounded(where, 200) + ": " + problem.what);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    // valijson's own checks of keyword values ("Expected array value for 'allOf' constraint").
    return make_error(ErrorKind::config, "invalid JSON Schema: " + bounded(e.what(), 300));
  }
  return JsonSchema(std::move(compiled));
}

JsonSchema::JsonSchema(std::shared_ptr<const detail::CompiledSchema> compiled) noexcept : compiled_(std::move(compiled)) {}

const boost::json::value& JsonSchema::json() const noexcept { return compiled_->source; }

Result<void> JsonSchema::validate(const boost::json::value& instance, std::string_view subject) const {
  const CompiledSchema& compiled = *compiled_;
  if (compiled.flat && compiled.flat->proves_valid(instance)) return {};
  InstanceShape shape;
  inspect(instance, 1, shape);
  if (shape.too_deep) {
    return invalid(subject, {{"", "nests deeper than " + std::to_string(kMaxInstanceDepth) + " levels"}});
  }
  std::optional<json::value> renumbered_copy;
  if (shape.renumber) {
    renumbered_copy.emplace(instance);
    renumber_in_place(*renumbered_copy);
  }
  const json::value& target = renumbered_copy ? *renumbered_copy : instance;
  valijson::Validator validator;  // per call: valijson's Validator keeps a mutable regex cache
  if (validator.validate(compiled.root, BoostJsonAdapter(target), nullptr)) return {};
  if (shape.nodes > kMaxReportedNodes) return invalid(subject, {{"", "does not match the schema"}});
  return invalid(subject, report(compiled, target));
}

}  // namespace trellis
