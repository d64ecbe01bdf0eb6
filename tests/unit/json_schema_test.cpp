// trellis::JsonSchema: the keywords MCP tool schemas use, 2020-12 schemas on the draft-7 engine,
// compile errors, messages that name the failing location, bounds and concurrent validation.
#include "trellis/json_schema.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace trellis {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

namespace json = boost::json;

JsonSchema compile(std::string_view schema) {
  auto compiled = JsonSchema::compile(json::parse(schema));
  EXPECT_TRUE(compiled.has_value()) << (compiled ? "" : compiled.error().describe());
  if (!compiled) return JsonSchema::compile(json::value(true)).value();
  return *compiled;
}

bool accepts(const JsonSchema& schema, std::string_view instance) {
  return schema.validate(json::parse(instance)).has_value();
}

// The message of the error for an invalid instance ("" if it was accepted).
std::string rejection(const JsonSchema& schema, std::string_view instance, std::string_view subject = "arguments") {
  auto result = schema.validate(json::parse(instance), subject);
  return result ? std::string() : result.error().message;
}

std::string compile_error(std::string_view schema) {
  auto compiled = JsonSchema::compile(json::parse(schema));
  if (compiled) return "";
  EXPECT_EQ(compiled.error().kind, ErrorKind::config);
  return compiled.error().message;
}

TEST(JsonSchema, TypeMismatchIsAnInvalidParamsErrorNamingThePath) {
  const auto schema = compile(R"({"type":"object","properties":{"text":{"type":"string"}}})");
  EXPECT_TRUE(accepts(schema, R"({"text":"hello"})"));
  auto result = schema.validate(json::parse(R"({"text":5})"), "arguments");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ErrorKind::protocol);
  EXPECT_EQ(result.error().code, jsonrpc_code::invalid_params);
  EXPECT_EQ(result.error().message, "arguments: /text: expected string, got number");
  EXPECT_EQ(json::serialize(result.error().data),
            R"({"errors":[{"path":"/text","message":"expected string, got number"}]})");
}

TEST(JsonSchema, ProblemsWithTheInstanceItselfHaveNoPath) {
  const auto schema = compile(R"({"type":"object"})");
  EXPECT_EQ(rejection(schema, "[1]"), "arguments: expected object, got array");
  EXPECT_EQ(rejection(schema, "[1]", "structuredContent"), "structuredContent: expected object, got array");
}

TEST(JsonSchema, TypeArraysAndIntegers) {
  const auto nullable = compile(R"({"type":["string","null"]})");
  EXPECT_TRUE(accepts(nullable, R"("x")"));
  EXPECT_TRUE(accepts(nullable, "null"));
  EXPECT_EQ(rejection(nullable, "5"), "arguments: expected string or null, got number");

  const auto integer = compile(R"({"type":"integer"})");
  EXPECT_TRUE(accepts(integer, "3"));
  EXPECT_TRUE(accepts(integer, "3.0"));  // 2020-12: a number with a zero fractional part
  EXPECT_TRUE(accepts(integer, "-9223372036854775808"));
  EXPECT_EQ(rejection(integer, "3.5"), "arguments: expected integer, got number");
  EXPECT_EQ(rejection(integer, R"("3")"), "arguments: expected integer, got string");

  const auto number = compile(R"({"type":"number","maximum":20000000000000000000})");
  EXPECT_TRUE(accepts(number, "18446744073709551615"));  // parsed as uint64
}

TEST(JsonSchema, EnumAndConst) {
  const auto choice = compile(R"({"enum":["a","b",1]})");
  EXPECT_TRUE(accepts(choice, R"("a")"));
  EXPECT_TRUE(accepts(choice, "1"));
  EXPECT_TRUE(accepts(choice, "1.0"));
  EXPECT_EQ(rejection(choice, R"("c")"), R"(arguments: must be one of ["a","b",1])");

  const auto constant = compile(R"({"properties":{"version":{"const":"2025-06-18"}}})");
  EXPECT_TRUE(accepts(constant, R"({"version":"2025-06-18"})"));
  EXPECT_EQ(rejection(constant, R"({"version":"2024-11-05"})"), R"(arguments: /version: must be "2025-06-18")");
}

TEST(JsonSchema, RequiredAndAdditionalProperties) {
  const auto schema = compile(R"({"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"}},
                                  "required":["id"],"additionalProperties":false})");
  EXPECT_TRUE(accepts(schema, R"({"id":1})"));
  EXPECT_TRUE(accepts(schema, R"({"id":1,"name":"x"})"));
  EXPECT_EQ(rejection(schema, R"({"name":"x"})"), R"(arguments: missing required property "id")");
  EXPECT_EQ(rejection(schema, R"({"id":1,"extra":true})"), R"(arguments: unexpected property "extra")");

  const auto map = compile(R"({"type":"object","additionalProperties":{"type":"number"}})");
  EXPECT_TRUE(accepts(map, R"({"a":1,"b":2.5})"));
  EXPECT_EQ(rejection(map, R"({"a":1,"b":"x"})"), "arguments: /b: expected number, got string");
}

TEST(JsonSchema, MinimumMaximumAndExclusiveBounds) {
  const auto schema = compile(R"({"properties":{"n":{"type":"number","minimum":1,"maximum":10},
                                                "e":{"exclusiveMinimum":0,"exclusiveMaximum":1.5}}})");
  EXPECT_TRUE(accepts(schema, R"({"n":1,"e":0.5})"));
  EXPECT_TRUE(accepts(schema, R"({"n":10})"));
  EXPECT_EQ(rejection(schema, R"({"n":0})"), "arguments: /n: must be >= 1");
  EXPECT_EQ(rejection(schema, R"({"n":10.5})"), "arguments: /n: must be <= 10");
  EXPECT_EQ(rejection(schema, R"({"e":0})"), "arguments: /e: must be > 0");
  EXPECT_EQ(rejection(schema, R"({"e":1.5})"), "arguments: /e: must be < 1.5");
}

TEST(JsonSchema, StringAndArrayLengths) {
  const auto schema = compile(R"({"properties":{"s":{"minLength":2,"maxLength":3},
                                                "a":{"minItems":1,"maxItems":2,"uniqueItems":true}}})");
  EXPECT_TRUE(accepts(schema, R"({"s":"ab","a":[1,2]})"));
  EXPECT_EQ(rejection(schema, R"({"s":"a"})"), "arguments: /s: must be at least 2 characters long");
  EXPECT_EQ(rejection(schema, R"({"s":"abcd"})"), "arguments: /s: must be at most 3 characters long");
  EXPECT_EQ(rejection(schema, R"({"a":[]})"), "arguments: /a: must have at least 1 items");
  EXPECT_EQ(rejection(schema, R"({"a":[1,2,3]})"), "arguments: /a: must have at most 2 items");
  EXPECT_EQ(rejection(schema, R"({"a":[1,1.0]})"), "arguments: /a: items must be unique, but 0 and 1 are equal");
}

TEST(JsonSchema, Pattern) {
  const auto schema = compile(R"({"properties":{"slug":{"type":"string","pattern":"^[a-z0-9-]+$"},
                                                "word":{"pattern":"cat"}}})");
  EXPECT_TRUE(accepts(schema, R"({"slug":"hello-world-2"})"));
  EXPECT_TRUE(accepts(schema, R"({"word":"concatenate"})"));  // ECMA-262: a search, not anchored
  EXPECT_TRUE(accepts(schema, R"({"word":5})"));              // pattern only constrains strings
  EXPECT_EQ(rejection(schema, R"({"slug":"Hello World"})"), R"(arguments: /slug: does not match pattern "^[a-z0-9-]+$")");
}

TEST(JsonSchema, PatternOnHugeStringsNeitherOverflowsTheStackNorHangs) {
  const auto schema = compile(R"({"pattern":"^[a-z]+$"})");
  const std::string huge(1'000'000, 'a');
  EXPECT_TRUE(schema.validate(json::value(huge)));  // std::regex overflows the stack on this

  const auto catastrophic = compile(R"({"pattern":"^(a+)+$"})");
  const auto start = std::chrono::steady_clock::now();
  auto result = catastrophic.validate(json::value(std::string(40, 'a') + "!"));
  EXPECT_FALSE(result);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

// A pattern that backtracks exponentially took 2.3 s per 10,000-character string on Boost.Regex
// (found by fuzz_json_schema). RE2 runs it in linear time, so the verdict is exact: "does not
// match", where a backtracking matcher could only give up ("too long or too complex").
TEST(JsonSchema, PatternsRunInLinearTimeWhateverTheString) {
  const auto catastrophic = compile(R"({"pattern":"^(a+)+$"})");
  for (const std::size_t length : {10'000, 1'000'000}) {
    const auto result = catastrophic.validate(json::value(std::string(length, 'a') + "!"), "arguments");
    ASSERT_FALSE(result) << length;
    EXPECT_EQ(result.error().message, R"(arguments: does not match pattern "^(a+)+$")") << length;
  }
  EXPECT_TRUE(catastrophic.validate(json::value(std::string(1'000'000, 'a'))));
}

// ECMA-262 without flags: ^ and $ only at the ends of the string, "." no line break, and a JSON
// string is Unicode, so "." is one character whatever its UTF-8 length.
TEST(JsonSchema, PatternsFollowEcmaScriptOnLinesAndCharacters) {
  const auto word = compile(R"({"pattern":"^[a-z]+$"})");
  EXPECT_FALSE(accepts(word, R"("abc\nrm -rf /")"));  // Boost.Regex's default let this through
  EXPECT_FALSE(accepts(word, R"("rm -rf /\nabc")"));
  const auto dot = compile(R"({"pattern":"^a.b$"})");
  for (const char* line_terminator : {R"("a\nb")", R"("a\rb")", R"("a\u2028b")", R"("a\u2029b")"})
    EXPECT_FALSE(accepts(dot, line_terminator)) << line_terminator;
  EXPECT_TRUE(accepts(dot, R"("a\tb")"));
  EXPECT_TRUE(accepts(compile(R"({"pattern":"^a[.]b$"})"), R"("a.b")"));  // in a class, "." is itself
  EXPECT_FALSE(accepts(compile(R"({"pattern":"^a[.]b$"})"), R"("axb")"));
  EXPECT_TRUE(accepts(compile(R"({"pattern":"^a\\.b$"})"), R"("a.b")"));
  EXPECT_FALSE(accepts(compile(R"({"pattern":"^a\\.b$"})"), R"("axb")"));
  EXPECT_TRUE(accepts(compile(R"({"pattern":"^[\\]].$"})"), R"("]x")"));  // an escaped ] does not end the class
  const auto one = compile(R"({"pattern":"^.$"})");
  EXPECT_TRUE(accepts(one, R"("\u00e9")"));
  EXPECT_TRUE(accepts(one, R"("\ud83d\ude00")"));  // outside the BMP too
  EXPECT_TRUE(accepts(compile(R"({"pattern":"^[\u00e0-\u00ff]{2}$"})"), R"("\u00e9\u00e8")"));
  // ECMA-262's own \uXXXX escapes, which RE2 spells \x{...}; a surrogate pair is one character.
  EXPECT_TRUE(accepts(compile(R"({"pattern":"^\\u00e9$"})"), R"("\u00e9")"));
  EXPECT_TRUE(accepts(compile(R"({"pattern":"^[\\u00e0-\\u00ff]+$"})"), R"("\u00e9\u00e8")"));
  EXPECT_TRUE(accepts(compile(R"({"pattern":"^\\ud83d\\ude00$"})"), R"("\ud83d\ude00")"));
  EXPECT_TRUE(accepts(compile(R"({"pattern":"^\\\\u00e9$"})"), R"("\\u00e9")"));  // an escaped backslash, then "u00e9"
}

// What RE2 cannot run still works, on the backtracking matcher, with the same line rules.
TEST(JsonSchema, BackreferencesAndLookaroundStillWork) {
  const auto twice = compile(R"({"pattern":"^(ab)\\1$"})");
  EXPECT_TRUE(accepts(twice, R"("abab")"));
  EXPECT_FALSE(accepts(twice, R"("abba")"));
  EXPECT_FALSE(accepts(twice, R"("x\nabab")"));
  const auto has_digit = compile(R"({"pattern":"^(?=.*[0-9]).{8,}$"})");
  EXPECT_TRUE(accepts(has_digit, R"("password1")"));
  EXPECT_FALSE(accepts(has_digit, R"("password")"));
  EXPECT_FALSE(accepts(has_digit, R"("pass\nword1")"));
}

TEST(JsonSchema, UniqueItemsOnLargeArraysReportsOneDuplicate) {
  const auto schema = compile(R"({"uniqueItems":true})");
  EXPECT_TRUE(accepts(schema, R"([1,"1",[1],{"a":1},{"a":2},null,true,1.5])"));
  EXPECT_EQ(rejection(schema, R"([{"a":1,"b":[2]},3,{"b":[2],"a":1.0}])"), "arguments: items must be unique, but 0 and 2 are equal");
  json::array same(JsonSchema::kMaxReportedNodes - 10, json::value("x"));  // every pair equal
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(schema.validate(json::value(same), "arguments").error().message,
            "arguments: items must be unique, but 0 and 1 are equal");
  json::array distinct;
  for (int i = 0; i < 200'000; ++i) distinct.push_back(i);
  EXPECT_TRUE(schema.validate(json::value(distinct)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_THAT(compile_error(R"({"uniqueItems":"yes"})"), HasSubstr("at /uniqueItems: expected a boolean"));
}

TEST(JsonSchema, ItemsAndPrefixItems) {
  const auto list = compile(R"({"type":"array","items":{"type":"integer"}})");
  EXPECT_TRUE(accepts(list, "[1,2,3]"));
  EXPECT_EQ(rejection(list, R"([1,"x",3])"), "arguments: /1: expected integer, got string");

  const auto tuple = compile(R"({"$schema":"https://json-schema.org/draft/2020-12/schema","type":"array",
                                 "prefixItems":[{"type":"string"},{"type":"number"}],"items":false})");
  EXPECT_TRUE(accepts(tuple, R"(["a",1])"));
  EXPECT_TRUE(accepts(tuple, R"(["a"])"));
  EXPECT_EQ(rejection(tuple, R"([1,1])"), "arguments: /0: expected string, got number");
  EXPECT_EQ(rejection(tuple, R"(["a",1,2])"), "arguments: must have at most 2 items");

  const auto rest = compile(R"({"prefixItems":[{"type":"string"}],"items":{"type":"boolean"}})");
  EXPECT_TRUE(accepts(rest, R"(["a",true,false])"));
  EXPECT_EQ(rejection(rest, R"(["a",true,3])"), "arguments: /2: expected boolean, got number");
}

TEST(JsonSchema, Draft2020SchemaWithDefsAndReferencesWithSiblings) {
  const auto schema = compile(R"({
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
      "name": {"type": "string", "minLength": 1},
      "unit": {"enum": ["celsius", "fahrenheit"]}
    },
    "properties": {
      "city": {"$ref": "#/$defs/name", "description": "City name"},
      "code": {"$ref": "#/$defs/name", "maxLength": 3},
      "unit": {"$ref": "#/$defs/unit", "default": "celsius"}
    },
    "required": ["city"],
    "additionalProperties": false
  })");
  EXPECT_TRUE(accepts(schema, R"({"city":"Oslo","code":"OSL","unit":"celsius"})"));
  EXPECT_EQ(rejection(schema, R"({"city":""})"), "arguments: /city: must be at least 1 characters long");
  // 2020-12: keywords next to "$ref" apply too (draft 7 would ignore maxLength here).
  EXPECT_EQ(rejection(schema, R"({"city":"Oslo","code":"OSLO"})"), "arguments: /code: must be at most 3 characters long");
  EXPECT_EQ(rejection(schema, R"({"city":"Oslo","unit":"kelvin"})"),
            R"(arguments: /unit: must be one of ["celsius","fahrenheit"])");
  EXPECT_EQ(rejection(schema, R"({"city":5})"), "arguments: /city: expected string, got number");
}

TEST(JsonSchema, RecursiveSchemasThatDescendIntoTheInstance) {
  const auto tree = compile(R"({"$ref":"#/$defs/node","$defs":{"node":{"type":"object","required":["name"],
                               "properties":{"name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#/$defs/node"}}}}}})");
  EXPECT_TRUE(accepts(tree, R"({"name":"root","children":[{"name":"a","children":[{"name":"b"}]}]})"));
  EXPECT_EQ(rejection(tree, R"({"name":"root","children":[{"name":"a","children":[{"name":1}]}]})"),
            "arguments: /children/0/children/0/name: expected string, got number");
  EXPECT_EQ(rejection(tree, R"({"name":"root","children":[{}]})"), R"(arguments: /children/0: missing required property "name")");
}

TEST(JsonSchema, ReferencesByAnchorAndDeclaredId) {
  const auto schema = compile(R"({"$id":"https://example.com/tool","type":"object","properties":{
      "a":{"$ref":"#count"},"b":{"$ref":"https://example.com/tool#/$defs/flag"}},
      "$defs":{"count":{"$anchor":"count","type":"integer"},"flag":{"type":"boolean"}}})");
  EXPECT_TRUE(accepts(schema, R"({"a":1,"b":true})"));
  EXPECT_EQ(rejection(schema, R"({"a":"x"})"), "arguments: /a: expected integer, got string");
  EXPECT_EQ(rejection(schema, R"({"b":1})"), "arguments: /b: expected boolean, got number");
}

TEST(JsonSchema, PatternPropertiesWithAdditionalProperties) {
  const auto schema = compile(R"({"type":"object","properties":{"id":{"type":"integer"}},
                                  "patternProperties":{"^x-":{"type":"string"},"^n":{"type":"number"}},
                                  "additionalProperties":false})");
  EXPECT_TRUE(accepts(schema, R"({"id":1,"x-trace":"abc","n1":2})"));
  EXPECT_EQ(rejection(schema, R"({"x-trace":1})"), "arguments: /x-trace: expected string, got number");
  EXPECT_EQ(rejection(schema, R"({"other":1})"), R"(arguments: unexpected property "other")");
  // Patterns apply to named properties as well.
  const auto both = compile(R"({"properties":{"nx":{"type":"number"}},"patternProperties":{"x$":{"minimum":5}}})");
  EXPECT_EQ(rejection(both, R"({"nx":1})"), "arguments: /nx: must be >= 5");

  const auto nested = compile(R"({"type":"object","patternProperties":{".*":{"$ref":"#"}}})");
  EXPECT_TRUE(accepts(nested, R"({"a":{"b":{}}})"));
  EXPECT_EQ(rejection(nested, R"({"a":{"b":1}})"), "arguments: /a/b: expected object, got number");
}

TEST(JsonSchema, CombinatorsDependenciesAndBooleanSchemas) {
  const auto any = compile(R"({"anyOf":[{"type":"string"},{"type":"integer","minimum":0}]})");
  EXPECT_TRUE(accepts(any, R"("x")"));
  EXPECT_TRUE(accepts(any, "3"));
  EXPECT_THAT(rejection(any, "-1"), HasSubstr("matches none of \"anyOf\""));

  const auto one = compile(R"({"oneOf":[{"type":"number"},{"type":"integer"}]})");
  EXPECT_TRUE(accepts(one, "1.5"));
  EXPECT_EQ(rejection(one, "1"), "arguments: matches more than one of \"oneOf\"");

  const auto negated = compile(R"({"not":{"type":"null"}})");
  EXPECT_EQ(rejection(negated, "null"), "arguments: must not match \"not\"");

  const auto conditional = compile(R"({"if":{"properties":{"kind":{"const":"file"}}},"then":{"required":["path"]}})");
  EXPECT_TRUE(accepts(conditional, R"({"kind":"url"})"));
  EXPECT_EQ(rejection(conditional, R"({"kind":"file"})"), R"(arguments: missing required property "path")");

  const auto dependent = compile(R"({"dependentRequired":{"card":["cvv"]},"dependentSchemas":{"a":{"required":["b"]}}})");
  EXPECT_TRUE(accepts(dependent, R"({"card":1,"cvv":2})"));
  EXPECT_FALSE(accepts(dependent, R"({"card":1})"));
  EXPECT_FALSE(accepts(dependent, R"({"a":1})"));

  EXPECT_TRUE(accepts(compile("true"), R"({"anything":[1,2]})"));
  EXPECT_EQ(rejection(compile("false"), "1"), "arguments: does not match the schema");
  EXPECT_EQ(rejection(compile(R"({"properties":{"secret":false}})"), R"({"secret":1})"),
            "arguments: /secret: is not allowed here");
}

TEST(JsonSchema, FormatIsAnAnnotation) {
  EXPECT_TRUE(accepts(compile(R"({"type":"string","format":"date-time"})"), R"("not a date")"));
}

TEST(JsonSchema, SeveralProblemsAreJoinedAndBounded) {
  const auto schema = compile(R"({"type":"object","additionalProperties":{"type":"string"}})");
  const std::string message = rejection(schema, R"({"a":1,"b":2,"c":3,"d":4,"e":5})");
  EXPECT_EQ(message,
            "arguments: /a: expected string, got number; arguments: /b: expected string, got number; "
            "arguments: /c: expected string, got number (and 2 more)");
  auto result = schema.validate(json::parse(R"({"a":1,"b":2,"c":3,"d":4,"e":5})"));
  EXPECT_EQ(result.error().data.at("errors").as_array().size(), 5U);

  // Long names are cut at a UTF-8 boundary: the message stays bounded and valid.
  json::object wide;
  for (int i = 0; i < 4; ++i) wide[std::string(300, static_cast<char>('a' + i)) + "\xC3\xA9"] = i;
  auto bounded = schema.validate(wide);
  ASSERT_FALSE(bounded);
  EXPECT_LE(bounded.error().message.size(), 512U);
  boost::system::error_code ec;
  json::parse(json::serialize(json::value(bounded.error().message)), ec);  // rejects invalid UTF-8
  EXPECT_FALSE(ec);
}

TEST(JsonSchema, DeepInstancesAreRefusedBeforeValidation) {
  const auto schema = compile(R"({"items":{"$ref":"#"}})");
  json::value deep = json::array();
  for (std::size_t i = 0; i < JsonSchema::kMaxInstanceDepth + 5; ++i) deep = json::array{std::move(deep)};
  EXPECT_EQ(schema.validate(deep, "arguments").error().message, "arguments: nests deeper than 128 levels");
  json::value fine = json::array();
  for (std::size_t i = 0; i < 100; ++i) fine = json::array{std::move(fine)};
  EXPECT_TRUE(schema.validate(fine));
}

TEST(JsonSchema, HugeInvalidInstancesGetAShortReport) {
  const auto schema = compile(R"({"items":{"type":"string"}})");
  json::array many(JsonSchema::kMaxReportedNodes + 1, json::value(1));
  EXPECT_EQ(schema.validate(json::value(std::move(many)), "arguments").error().message,
            "arguments: does not match the schema");
}

TEST(JsonSchema, BadSchemasAreConfigErrorsNamingTheLocation) {
  EXPECT_THAT(compile_error(R"({"properties":{"a":{"pattern":"(unclosed"}}})"),
              AllOf(HasSubstr("invalid JSON Schema at /properties/a/pattern"), HasSubstr("invalid regular expression")));
  EXPECT_THAT(compile_error(R"({"properties":5})"), HasSubstr("at /properties: expected an object of schemas"));
  EXPECT_THAT(compile_error("5"), HasSubstr("at the root: expected a schema (an object or a boolean), got number"));
  EXPECT_THAT(compile_error(R"({"allOf":[]})"), HasSubstr("at /allOf"));
  EXPECT_THAT(compile_error(R"({"type":"text"})"), HasSubstr("invalid JSON Schema"));
  EXPECT_THAT(compile_error(R"({"$ref":"#/$defs/missing"})"), HasSubstr("does not point into the schema"));
  EXPECT_THAT(compile_error(R"({"$ref":"#nowhere"})"), HasSubstr("no \"$anchor\""));
  EXPECT_THAT(compile_error(R"({"$dynamicRef":"#meta"})"), HasSubstr("$dynamicRef is not supported"));
}

// Found by fuzz_json_schema: valijson divided by a zero "multipleOf", and the process died of SIGFPE.
TEST(JsonSchema, MultipleOfMustBeAPositiveNumber) {
  for (const char* bad : {R"({"multipleOf":0})", R"({"multipleOf":0.0})", R"({"multipleOf":-2})", R"({"multipleOf":"2"})",
                          R"({"oneOf":[{"type":"integer"},{"multipleOf":0.0}]})"})
    EXPECT_THAT(compile_error(bad), HasSubstr("multipleOf: expected a number greater than 0")) << bad;
  const auto smallest = compile(R"({"multipleOf":5e-324})");  // the least positive double still divides
  EXPECT_TRUE(accepts(smallest, "0"));
  EXPECT_FALSE(accepts(compile(R"({"multipleOf":2})"), "3"));
}

TEST(JsonSchema, RemoteReferencesAreRefusedNeverFetched) {
  EXPECT_THAT(compile_error(R"({"$ref":"https://json-schema.org/draft/2020-12/schema"})"),
              AllOf(HasSubstr("at /$ref"), HasSubstr("nothing is fetched")));
  EXPECT_THAT(compile_error(R"({"properties":{"a":{"$ref":"other.json#/x"}}})"), HasSubstr("at /properties/a/$ref"));
  EXPECT_THAT(compile_error(R"({"$ref":"urn:example:thing"})"), HasSubstr("nothing is fetched"));
}

TEST(JsonSchema, RecursionThatNeverDescendsIsRefused) {
  EXPECT_THAT(compile_error(R"({"$ref":"#"})"), HasSubstr("never descends into the instance"));
  EXPECT_THAT(compile_error(R"({"allOf":[{"$ref":"#"}]})"), HasSubstr("never descends"));
  EXPECT_THAT(compile_error(R"({"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"anyOf":[{"$ref":"#/$defs/a"}]}},
                                "properties":{"x":{"$ref":"#/$defs/a"}}})"),
              HasSubstr("never descends"));
}

TEST(JsonSchema, CopiesShareTheCompiledSchema) {
  const auto schema = compile(R"({"type":"string"})");
  const JsonSchema copy = schema;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_EQ(&copy.json(), &schema.json());
  EXPECT_EQ(json::serialize(copy.json()), R"({"type":"string"})");
}

TEST(JsonSchema, ValidatesConcurrentlyFromManyThreads) {
  const auto schema = compile(R"({"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",
      "$defs":{"tag":{"type":"string","pattern":"^[a-z]+$"}},
      "properties":{"tags":{"type":"array","items":{"$ref":"#/$defs/tag"}},"n":{"type":"integer","maximum":100}},
      "patternProperties":{"^x-":{"type":"string"}},
      "required":["tags"]})");
  const json::value valid = json::parse(R"({"tags":["a","bc"],"n":5,"x-a":"s"})");
  const json::value invalid = json::parse(R"({"tags":["a","B"],"n":500,"x-a":1})");
  const std::string expected = rejection(schema, json::serialize(invalid));
  ASSERT_FALSE(expected.empty());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 300; ++i) {
        if (!schema.validate(valid)) ++failures;
        auto result = schema.validate(invalid, "arguments");
        if (result || result.error().message != expected) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace trellis
