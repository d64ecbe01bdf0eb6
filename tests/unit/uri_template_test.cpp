// trellis::UriTemplate: RFC 6570 expansion (the RFC's own examples), matching MCP resource URIs,
// parse errors with offsets, and the size and work bounds.
#include "trellis/uri_template.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace trellis {
namespace {

using ::testing::HasSubstr;
using Variables = UriTemplate::Variables;

UriTemplate parse(std::string_view text) {
  auto parsed = UriTemplate::parse(text);
  EXPECT_TRUE(parsed.has_value()) << text << ": " << (parsed ? "" : parsed.error().message);
  return parsed ? *parsed : UriTemplate::parse("").value();
}

// The values of RFC 6570 section 3.2.
const UriTemplate::Values& rfc_values() {
  static const UriTemplate::Values values{
      {"count", UriTemplate::List{"one", "two", "three"}},
      {"dom", UriTemplate::List{"example", "com"}},
      {"dub", "me/too"},
      {"hello", "Hello World!"},
      {"half", "50%"},
      {"var", "value"},
      {"who", "fred"},
      {"base", "http://example.com/home/"},
      {"path", "/foo/bar"},
      {"list", UriTemplate::List{"red", "green", "blue"}},
      {"keys", UriTemplate::Associative{{"semi", ";"}, {"dot", "."}, {"comma", ","}}},
      {"v", "6"},
      {"x", "1024"},
      {"y", "768"},
      {"empty", ""},
      {"empty_keys", UriTemplate::Associative{}},
  };
  return values;
}

TEST(UriTemplate, ExpandsEveryExampleOfRfc6570Section3) {
  const std::vector<std::pair<std::string_view, std::string_view>> cases{
      // 3.2.1 variable expansion
      {"{count}", "one,two,three"}, {"{count*}", "one,two,three"}, {"{/count}", "/one,two,three"},
      {"{/count*}", "/one/two/three"}, {"{;count}", ";count=one,two,three"}, {"{;count*}", ";count=one;count=two;count=three"},
      {"{?count}", "?count=one,two,three"}, {"{?count*}", "?count=one&count=two&count=three"},
      {"{&count*}", "&count=one&count=two&count=three"},
      // 3.2.2 simple string expansion
      {"{var}", "value"}, {"{hello}", "Hello%20World%21"}, {"{half}", "50%25"}, {"O{empty}X", "OX"}, {"O{undef}X", "OX"},
      {"{x,y}", "1024,768"}, {"{x,hello,y}", "1024,Hello%20World%21,768"}, {"?{x,empty}", "?1024,"}, {"?{x,undef}", "?1024"},
      {"?{undef,y}", "?768"}, {"{var:3}", "val"}, {"{var:30}", "value"}, {"{list}", "red,green,blue"},
      {"{list*}", "red,green,blue"}, {"{keys}", "semi,%3B,dot,.,comma,%2C"}, {"{keys*}", "semi=%3B,dot=.,comma=%2C"},
      // 3.2.3 reserved expansion
      {"{+var}", "value"}, {"{+hello}", "Hello%20World!"}, {"{+half}", "50%25"},
      {"{base}index", "http%3A%2F%2Fexample.com%2Fhome%2Findex"}, {"{+base}index", "http://example.com/home/index"},
      {"O{+empty}X", "OX"}, {"O{+undef}X", "OX"}, {"{+path}/here", "/foo/bar/here"}, {"here?ref={+path}", "here?ref=/foo/bar"},
      {"up{+path}{var}/here", "up/foo/barvalue/here"}, {"{+x,hello,y}", "1024,Hello%20World!,768"},
      {"{+path,x}/here", "/foo/bar,1024/here"}, {"{+path:6}/here", "/foo/b/here"}, {"{+list}", "red,green,blue"},
      {"{+list*}", "red,green,blue"}, {"{+keys}", "semi,;,dot,.,comma,,"}, {"{+keys*}", "semi=;,dot=.,comma=,"},
      // 3.2.4 fragment expansion
      {"{#var}", "#value"}, {"{#hello}", "#Hello%20World!"}, {"{#half}", "#50%25"}, {"foo{#empty}", "foo#"},
      {"foo{#undef}", "foo"}, {"{#x,hello,y}", "#1024,Hello%20World!,768"}, {"{#path,x}/here", "#/foo/bar,1024/here"},
      {"{#path:6}/here", "#/foo/b/here"}, {"{#list}", "#red,green,blue"}, {"{#list*}", "#red,green,blue"},
      {"{#keys}", "#semi,;,dot,.,comma,,"}, {"{#keys*}", "#semi=;,dot=.,comma=,"},
      // 3.2.5 label expansion with dot-prefix
      {"{.who}", ".fred"}, {"{.who,who}", ".fred.fred"}, {"{.half,who}", ".50%25.fred"}, {"www{.dom*}", "www.example.com"},
      {"X{.var}", "X.value"}, {"X{.empty}", "X."}, {"X{.undef}", "X"}, {"X{.var:3}", "X.val"}, {"X{.list}", "X.red,green,blue"},
      {"X{.list*}", "X.red.green.blue"}, {"X{.keys}", "X.semi,%3B,dot,.,comma,%2C"}, {"X{.keys*}", "X.semi=%3B.dot=..comma=%2C"},
      {"X{.empty_keys}", "X"}, {"X{.empty_keys*}", "X"},
      // 3.2.6 path segment expansion
      {"{/who}", "/fred"}, {"{/who,who}", "/fred/fred"}, {"{/half,who}", "/50%25/fred"}, {"{/who,dub}", "/fred/me%2Ftoo"},
      {"{/var}", "/value"}, {"{/var,empty}", "/value/"}, {"{/var,undef}", "/value"}, {"{/var,x}/here", "/value/1024/here"},
      {"{/var:1,var}", "/v/value"}, {"{/list}", "/red,green,blue"}, {"{/list*}", "/red/green/blue"},
      {"{/list*,path:4}", "/red/green/blue/%2Ffoo"}, {"{/keys}", "/semi,%3B,dot,.,comma,%2C"},
      {"{/keys*}", "/semi=%3B/dot=./comma=%2C"},
      // 3.2.7 path-style parameter expansion
      {"{;who}", ";who=fred"}, {"{;half}", ";half=50%25"}, {"{;empty}", ";empty"}, {"{;v,empty,who}", ";v=6;empty;who=fred"},
      {"{;v,bar,who}", ";v=6;who=fred"}, {"{;x,y}", ";x=1024;y=768"}, {"{;x,y,empty}", ";x=1024;y=768;empty"},
      {"{;x,y,undef}", ";x=1024;y=768"}, {"{;hello:5}", ";hello=Hello"}, {"{;list}", ";list=red,green,blue"},
      {"{;list*}", ";list=red;list=green;list=blue"}, {"{;keys}", ";keys=semi,%3B,dot,.,comma,%2C"},
      {"{;keys*}", ";semi=%3B;dot=.;comma=%2C"},
      // 3.2.8 form-style query expansion
      {"{?who}", "?who=fred"}, {"{?half}", "?half=50%25"}, {"{?x,y}", "?x=1024&y=768"}, {"{?x,y,empty}", "?x=1024&y=768&empty="},
      {"{?x,y,undef}", "?x=1024&y=768"}, {"{?var:3}", "?var=val"}, {"{?list}", "?list=red,green,blue"},
      {"{?list*}", "?list=red&list=green&list=blue"}, {"{?keys}", "?keys=semi,%3B,dot,.,comma,%2C"},
      {"{?keys*}", "?semi=%3B&dot=.&comma=%2C"},
      // 3.2.9 form-style query continuation
      {"{&who}", "&who=fred"}, {"{&half}", "&half=50%25"}, {"?fixed=yes{&x}", "?fixed=yes&x=1024"},
      {"{&x,y,empty}", "&x=1024&y=768&empty="}, {"{&var:3}", "&var=val"}, {"{&list}", "&list=red,green,blue"},
      {"{&list*}", "&list=red&list=green&list=blue"}, {"{&keys}", "&keys=semi,%3B,dot,.,comma,%2C"},
      {"{&keys*}", "&semi=%3B&dot=.&comma=%2C"},
  };
  for (const auto& [text, expected] : cases) {
    EXPECT_EQ(parse(text).expand(rfc_values()), expected) << text;
  }
}

TEST(UriTemplate, ExpansionEncodesUtf8AndLiteralsAndCountsPrefixesInCharacters) {
  const auto tmpl = parse("files://{name:2}/{+rest} x");
  EXPECT_EQ(tmpl.expand(Variables{{"name", "\xC3\xA9t\xC3\xA9"}, {"rest", "a b/%41"}}), "files://%C3%A9t/a%20b/%41%20x");
}

TEST(UriTemplate, MatchesTypicalMcpResourceTemplates) {
  EXPECT_EQ(parse("file:///{path}").match("file:///notes.txt"), (Variables{{"path", "notes.txt"}}));
  EXPECT_EQ(parse("file:///{path}").match("file:///dir/notes.txt"), std::nullopt);  // {var} stops at "/"
  EXPECT_EQ(parse("file:///{+path}").match("file:///dir/sub/notes.txt"), (Variables{{"path", "dir/sub/notes.txt"}}));

  const auto data = parse("test://template/{id}/data");
  EXPECT_EQ(data.match("test://template/42/data"), (Variables{{"id", "42"}}));
  EXPECT_EQ(data.match("test://template/a%20b/data"), (Variables{{"id", "a b"}}));
  EXPECT_EQ(data.match("test://template//data"), std::nullopt);  // {var} matches one or more characters
  EXPECT_EQ(data.match("test://template/1/2/data"), std::nullopt);
  EXPECT_EQ(data.match("test://template/42/data/"), std::nullopt);
  EXPECT_EQ(data.match("test://other/42/data"), std::nullopt);

  EXPECT_EQ(parse("github://repos/{owner}/{repo}").match("github://repos/modelcontextprotocol/typescript-sdk"),
            (Variables{{"owner", "modelcontextprotocol"}, {"repo", "typescript-sdk"}}));

  const auto profile = parse("users://{userId}/profile{?fields}");
  EXPECT_EQ(profile.match("users://42/profile"), (Variables{{"userId", "42"}}));
  EXPECT_EQ(profile.match("users://42/profile?fields=name,email"), (Variables{{"userId", "42"}, {"fields", "name,email"}}));
  EXPECT_EQ(profile.match("users://42/profile?utm=x&fields=name"), (Variables{{"userId", "42"}, {"fields", "name"}}));
  EXPECT_EQ(profile.match("users://42/profile#top"), std::nullopt);
}

TEST(UriTemplate, MatchesExplodedPathsQueriesAndContinuations) {
  EXPECT_EQ(parse("repo://files{/path*}").match("repo://files/src/main.cpp"),
            (Variables{{"path", "src"}, {"path", "main.cpp"}}));
  EXPECT_EQ(parse("repo://files{/path*}").match("repo://files"), (Variables{}));
  EXPECT_EQ(parse("search{?q,lang}").match("search?lang=en&q=mcp%20servers"),
            (Variables{{"lang", "en"}, {"q", "mcp servers"}}));
  EXPECT_EQ(parse("search{?q,lang}").match("search?q"), (Variables{{"q", ""}}));
  EXPECT_EQ(parse("search{?tag*}").match("search?tag=a&tag=b"), (Variables{{"tag", "a"}, {"tag", "b"}}));
  EXPECT_EQ(parse("?fixed=yes{&x}").match("?fixed=yes&x=1024"), (Variables{{"x", "1024"}}));
  EXPECT_EQ(parse("map{;x,y}").match("map;y=768;x=1024"), (Variables{{"y", "768"}, {"x", "1024"}}));
  EXPECT_EQ(parse("www{.dom*}").match("www.example.com"), (Variables{{"dom", "example"}, {"dom", "com"}}));
  EXPECT_EQ(parse("page{#section}").match("page#intro"), (Variables{{"section", "intro"}}));
  EXPECT_EQ(parse("{x,y}").match("1024,768"), (Variables{{"x", "1024"}, {"y", "768"}}));
  // Unknown parameters are skipped only by a query that ends the template.
  EXPECT_EQ(parse("x{?a}{&b}").match("x?a=1&zz=2&b=3"), (Variables{{"a", "1"}, {"b", "3"}}));
  EXPECT_EQ(parse("x{?a}{/p}").match("x?a=1/seg"), (Variables{{"a", "1"}, {"p", "seg"}}));
  EXPECT_EQ(parse("x{?a}{/p}").match("x?a=1&zz=2/seg"), std::nullopt);
  EXPECT_EQ(parse("x{?a}{/p}").match("x?a/seg"), std::nullopt);
}

TEST(UriTemplate, MatchesSeveralExpressionsAndAmbiguousSplits) {
  EXPECT_EQ(parse("db://{schema}/{table}/rows/{id}{?limit,offset}").match("db://public/users/rows/7?offset=10&limit=5"),
            (Variables{{"schema", "public"}, {"table", "users"}, {"id", "7"}, {"offset", "10"}, {"limit", "5"}}));
  // Earlier expressions take the shortest value that lets the rest match.
  EXPECT_EQ(parse("{a}{b}").match("xyz"), (Variables{{"a", "x"}, {"b", "yz"}}));
  EXPECT_EQ(parse("{+a}/{b}.json").match("x/y/z.json"), (Variables{{"a", "x/y"}, {"b", "z"}}));
  EXPECT_EQ(parse("{+path}{?q}").match("a/b?q=1"), (Variables{{"path", "a/b"}, {"q", "1"}}));
}

TEST(UriTemplate, MatchingDecodesPercentEncodingAndChecksIt) {
  const auto tmpl = parse("notes://{title}");
  EXPECT_EQ(tmpl.match("notes://caf%C3%A9%2Fbar"), (Variables{{"title", "caf\xC3\xA9/bar"}}));
  EXPECT_EQ(tmpl.match("notes://caf\xC3\xA9"), (Variables{{"title", "caf\xC3\xA9"}}));  // IRIs as written
  EXPECT_EQ(tmpl.match("notes://%FF"), std::nullopt);    // not UTF-8 once decoded
  EXPECT_EQ(tmpl.match("notes://50%"), std::nullopt);    // "%" must start a triplet
  EXPECT_EQ(tmpl.match("notes://a%zz"), std::nullopt);
  EXPECT_EQ(tmpl.match("notes://a b"), std::nullopt);    // no spaces in URIs
  // A literal may be written encoded, as expansion writes it.
  EXPECT_EQ(parse("x://a b/{id}").match("x://a%20b/1"), (Variables{{"id", "1"}}));
  EXPECT_EQ(parse("x://a b/{id}").match("x://a b/1"), (Variables{{"id", "1"}}));
}

TEST(UriTemplate, PrefixesLimitMatchedValues) {
  const auto tmpl = parse("code://{lang:2}/{+rest}");
  EXPECT_EQ(tmpl.match("code://en/a/b"), (Variables{{"lang", "en"}, {"rest", "a/b"}}));
  EXPECT_EQ(tmpl.match("code://%C3%A9n/x"), (Variables{{"lang", "\xC3\xA9n"}, {"rest", "x"}}));
  EXPECT_EQ(tmpl.match("code://eng/x"), std::nullopt);
}

TEST(UriTemplate, MatchThenExpandRebuildsTheUri) {
  for (const auto& [text, uri] : std::vector<std::pair<std::string_view, std::string_view>>{
           {"users://{userId}/profile{?fields}", "users://a%2Fb/profile?fields=x%2Cy"},
           {"repo://files{/path*}", "repo://files/src/lib/x.cpp"},
           {"github://repos/{owner}/{repo}", "github://repos/o/r"},
           {"{;x,y}", ";x=1;y"}}) {
    const auto tmpl = parse(text);
    const auto variables = tmpl.match(uri);
    ASSERT_TRUE(variables) << text;
    EXPECT_EQ(tmpl.expand(*variables), uri) << text;
  }
}

TEST(UriTemplate, ReportsTextAndVariableNames) {
  const auto tmpl = parse("db://{schema}/{table}{?limit,schema}{/path*}");
  EXPECT_EQ(tmpl.text(), "db://{schema}/{table}{?limit,schema}{/path*}");
  EXPECT_EQ(tmpl.variable_names(), (std::vector<std::string>{"schema", "table", "limit", "path"}));
  ASSERT_EQ(tmpl.parts().size(), 6U);  // "db://", {schema}, "/", {table}, {?...}, {/path*}
  EXPECT_EQ(tmpl.parts()[0].literal, "db://");
  EXPECT_EQ(tmpl.parts()[5].op, '/');
  EXPECT_TRUE(tmpl.parts()[5].variables[0].explode);
  EXPECT_EQ(parse("no variables").variable_names(), std::vector<std::string>{});
  EXPECT_EQ(parse("no variables").match("no variables"), (Variables{}));
  EXPECT_EQ(parse("").match(""), (Variables{}));
}

void expect_parse_error(std::string_view text, std::size_t offset, std::string_view what) {
  auto parsed = UriTemplate::parse(text);
  ASSERT_FALSE(parsed) << text;
  EXPECT_EQ(parsed.error().kind, ErrorKind::config);
  EXPECT_THAT(parsed.error().message, HasSubstr(what)) << text;
  EXPECT_THAT(parsed.error().message, HasSubstr("at offset " + std::to_string(offset))) << parsed.error().message;
  EXPECT_EQ(parsed.error().data.at("offset").to_number<std::size_t>(), offset);
}

TEST(UriTemplate, ParseErrorsGiveTheOffset) {
  expect_parse_error("users://{userId", 8, "unclosed \"{\"");
  expect_parse_error("users://{userId}/{", 17, "unclosed \"{\"");
  expect_parse_error("a}b", 1, "\"}\" outside an expression");
  expect_parse_error("x{}", 1, "empty expression");
  expect_parse_error("{a b}", 2, "unexpected \" \"");
  expect_parse_error("{a{b}", 2, "unexpected \"{\"");
  expect_parse_error("{-a}", 1, "invalid character \"-\"");
  expect_parse_error("{a,}", 3, "expected a variable name");
  expect_parse_error("{.}", 2, "expected a variable name");
  expect_parse_error("{a.}", 2, "cannot end with \".\"");
  expect_parse_error("{a..b}", 2, "cannot end with \".\"");
  expect_parse_error("{var:0}", 5, "prefix length");
  expect_parse_error("{var:10000}", 5, "prefix length");
  expect_parse_error("{var:}", 5, "prefix length");
  expect_parse_error("{var:3*}", 6, "unexpected \"*\"");
  expect_parse_error("{=var}", 1, "operator \"=\" is reserved");
  expect_parse_error("{|var}", 1, "operator \"|\" is reserved");
  EXPECT_TRUE(UriTemplate::parse("{var:9999}{a.b_c%20d}{_1}"));
}

TEST(UriTemplate, TemplateSizeLimit) {
  std::string at_limit = "x://{id}/";
  at_limit.append(UriTemplate::kMaxTemplateBytes - at_limit.size(), 'a');
  ASSERT_EQ(at_limit.size(), UriTemplate::kMaxTemplateBytes);
  EXPECT_TRUE(UriTemplate::parse(at_limit));
  auto past = UriTemplate::parse(at_limit + "a");
  ASSERT_FALSE(past);
  EXPECT_THAT(past.error().message, HasSubstr("template of 8193 bytes exceeds the limit of 8192 bytes"));
}

TEST(UriTemplate, UriSizeLimit) {
  const auto tmpl = parse("file:///{+path}");
  std::string at_limit = "file:///";
  at_limit.append(UriTemplate::kMaxUriBytes - at_limit.size(), 'a');
  ASSERT_EQ(at_limit.size(), UriTemplate::kMaxUriBytes);
  const auto matched = tmpl.match(at_limit);
  ASSERT_TRUE(matched);
  EXPECT_EQ((*matched)[0].second.size(), UriTemplate::kMaxUriBytes - 8);
  EXPECT_EQ(tmpl.match(at_limit + "a"), std::nullopt);
}

TEST(UriTemplate, PathologicalInputsEndQuickly) {
  const auto start = std::chrono::steady_clock::now();
  const std::string many_a(UriTemplate::kMaxUriBytes, 'a');
  EXPECT_EQ(parse("{a}{b}{c}{d}x").match(many_a), std::nullopt);
  EXPECT_EQ(parse("{+a}a{+b}a{+c}a{+d}b").match(many_a), std::nullopt);
  std::string slashes;
  for (int i = 0; i < 20000; ++i) slashes += "a/";
  EXPECT_EQ(parse("{+a}/{+b}/{+c}/{+d}/x").match(slashes), std::nullopt);
  // Long matches that exist are found.
  EXPECT_TRUE(parse("{a}{b}").match(many_a));
  std::string long_path = "repo://files";
  for (int i = 0; i < 5000; ++i) long_path += "/dir" + std::to_string(i);
  const auto segments = parse("repo://files{/path*}{?q}").match(long_path + "?q=1");
  ASSERT_TRUE(segments);
  EXPECT_EQ(segments->size(), 5001U);
  EXPECT_EQ(segments->back(), (std::pair<std::string, std::string>{"q", "1"}));
  std::string nested = "file:///";
  for (int i = 0; i < 500; ++i) nested += "d" + std::to_string(i) + "/";
  EXPECT_EQ(parse("file:///{+dir}/{name}").match(nested + "x.txt"),
            (Variables{{"dir", nested.substr(8, nested.size() - 9)}, {"name", "x.txt"}}));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace trellis
