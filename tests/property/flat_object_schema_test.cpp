// FlatObjectSchema, the fast path of JsonSchema::validate, against the full validator: it may only
// ever prove valid what valijson finds valid, and for the instances it is meant for (objects of
// scalars) it must prove every valid one, or the fast path would be dead code.
#include "schema/flat_object_schema.hpp"
#include "support/rc_check.hpp"

#include "trellis/json_schema.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <cmath>
#include <cstdint>
#include <limits>

namespace trellis {
namespace {

using detail::FlatObjectSchema;
namespace json = boost::json;

json::value parse(std::string_view text) { return json::parse(text); }

bool recognized(std::string_view schema) { return FlatObjectSchema::recognize(parse(schema)).has_value(); }

TEST(FlatObjectSchema, RecognizesObjectsOfTypedScalarsWithAnnotations) {
  EXPECT_TRUE(recognized(R"({"type":"object","properties":{"text":{"type":"string"}},"required":["text"]})"));
  EXPECT_TRUE(recognized(R"({"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","title":"t",
                            "properties":{"n":{"type":["integer","null"],"description":"d","default":1},
                                          "at":{"type":"string","format":"date-time"}},
                            "additionalProperties":false})"));
  EXPECT_TRUE(recognized(R"({"type":["object"]})"));
}

TEST(FlatObjectSchema, LeavesEveryOtherSchemaToTheFullValidator) {
  for (const char* schema : {
           R"(true)",
           R"({})",                                                                 // no "type": "object"
           R"({"type":"array"})",
           R"({"type":["object","null"]})",
           R"({"type":"object","properties":{"s":{"type":"string","minLength":1}}})",  // a constraint
           R"({"type":"object","properties":{"e":{"enum":["a","b"]}}})",
           R"({"type":"object","properties":{"o":{"type":"object"}}})",              // structured
           R"({"type":"object","properties":{"a":{"type":"array"}}})",
           R"({"type":"object","properties":{"x":{"description":"untyped"}}})",
           R"({"type":"object","properties":{"x":true}})",
           R"({"type":"object","properties":{"x":{"type":[]}}})",
           R"({"type":"object","required":["id"]})",                                // required, not typed
           R"({"type":"object","additionalProperties":{"type":"string"}})",
           R"({"type":"object","patternProperties":{"^a":{"type":"string"}}})",
           R"({"type":"object","$defs":{"d":{"type":"string"}},"properties":{"x":{"$ref":"#/$defs/d"}}})",
           R"({"type":"object","minProperties":1})",
       })
    EXPECT_FALSE(recognized(schema)) << schema;
}

TEST(FlatObjectSchema, ProvesOnlyWhatItCanSee) {
  const auto flat = FlatObjectSchema::recognize(parse(
      R"({"type":"object","properties":{"text":{"type":"string"},"n":{"type":"integer"}},"required":["text"],"additionalProperties":false})"));
  ASSERT_TRUE(flat);
  EXPECT_TRUE(flat->proves_valid(parse(R"({"text":"hello"})")));
  EXPECT_TRUE(flat->proves_valid(parse(R"({"text":"hello","n":-3})")));
  EXPECT_FALSE(flat->proves_valid(parse(R"({"n":3})")));                  // missing required
  EXPECT_FALSE(flat->proves_valid(parse(R"({"text":1})")));               // wrong type
  EXPECT_FALSE(flat->proves_valid(parse(R"({"text":"x","other":1})")));   // additional
  EXPECT_FALSE(flat->proves_valid(parse(R"({"text":"x","n":2.0})")));     // integral double: not decided here
  EXPECT_FALSE(flat->proves_valid(parse(R"({"text":"x","n":18446744073709551615})")));  // beyond int64
  EXPECT_FALSE(flat->proves_valid(parse(R"(["text"])")));
  const auto open = FlatObjectSchema::recognize(parse(R"({"type":"object","properties":{"s":{"type":"string"}}})"));
  ASSERT_TRUE(open);
  EXPECT_TRUE(open->proves_valid(parse(R"({"extra":true})")));
  EXPECT_FALSE(open->proves_valid(parse(R"({"extra":[1]})")));  // structured: depth is the full validator's to check
}

// ---- differential property ------------------------------------------------------------------

const char* const kNames[] = {"a", "b", "text", "n"};
const char* const kTypes[] = {"string", "number", "integer", "boolean", "null"};

json::value random_type() {
  const auto chosen = *rc::gen::nonEmpty(rc::gen::container<std::vector<int>>(rc::gen::inRange(0, 5)));
  if (chosen.size() == 1 && *rc::gen::arbitrary<bool>()) return json::value(kTypes[chosen.front()]);
  json::array list;
  for (int i : chosen) list.emplace_back(kTypes[i]);
  return list;
}

json::value random_flat_schema() {
  json::object properties;
  json::array required;
  for (const char* name : kNames) {
    if (!*rc::gen::arbitrary<bool>()) continue;
    json::object property{{"type", random_type()}};
    if (*rc::gen::arbitrary<bool>()) property["description"] = "annotation";
    properties[name] = std::move(property);
    if (*rc::gen::arbitrary<bool>()) required.emplace_back(name);
  }
  json::object schema{{"type", "object"}, {"properties", std::move(properties)}};
  if (!required.empty()) schema["required"] = std::move(required);
  if (const int additional = *rc::gen::inRange(0, 3); additional < 2) schema["additionalProperties"] = additional == 1;
  return schema;
}

json::value random_scalar() {
  switch (*rc::gen::inRange(0, 8)) {
    case 0: return json::value(*rc::gen::element<std::string>("", "x", "hello"));
    case 1: return json::value(*rc::gen::arbitrary<std::int64_t>());
    case 2: return json::value(std::numeric_limits<std::uint64_t>::max() - *rc::gen::inRange<std::uint64_t>(0, 3));
    case 3: return json::value(static_cast<double>(*rc::gen::inRange(-5, 5)));  // integral double
    case 4: return json::value(*rc::gen::inRange(-5, 5) + 0.5);
    case 5: return json::value(*rc::gen::arbitrary<bool>());
    case 6: return json::value(nullptr);
    default: return json::value(json::array{1, "x"});  // structured, sometimes
  }
}

json::value random_instance() {
  if (*rc::gen::inRange(0, 10) == 0) return random_scalar();  // not an object
  json::object instance;
  for (const char* name : {"a", "b", "text", "n", "extra"})
    if (*rc::gen::arbitrary<bool>()) instance[name] = random_scalar();
  return instance;
}

TEST(FlatObjectSchema, NeverDisagreesWithTheFullValidatorAndProvesEveryValidObjectOfScalars) {
  testing::check_property(2000, [] {
    const json::value schema = random_flat_schema();
    const json::value instance = random_instance();
    const auto flat = FlatObjectSchema::recognize(schema);
    RC_ASSERT(flat.has_value());
    // Wrapped in allOf the schema means the same but has no flat form: the full validator alone.
    const auto full = JsonSchema::compile(json::object{{"allOf", json::array{schema}}});
    RC_ASSERT(full.has_value());
    const bool valid = full->validate(instance).has_value();
    const bool proved = flat->proves_valid(instance);
    RC_TAG(proved ? "proved" : valid ? "valid, left to the full validator" : "invalid");
    if (proved) RC_ASSERT(valid);
    // Objects whose members are all scalars, without an integral double (which JsonSchema may
    // count as an integer): exactly the instances the fast path exists for.
    bool simple = instance.is_object();
    if (simple)
      for (const auto& member : instance.get_object())
        simple = simple && !member.value().is_structured() &&
                 !(member.value().is_double() && std::trunc(member.value().get_double()) == member.value().get_double());
    if (simple && valid) RC_ASSERT(proved);
    // And through the public API, with the fast path in front, the verdict is the full one.
    RC_ASSERT(JsonSchema::compile(schema)->validate(instance).has_value() == valid);
  });
}

}  // namespace
}  // namespace trellis
