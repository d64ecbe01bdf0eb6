// Redaction and truncation helpers: secret keys at any depth, UTF-8-safe cuts.
#include "trellis/telemetry/log.hpp"

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <array>
#include <string>

namespace trellis::telemetry {
namespace {

TEST(TelemetryRedact, RedactRevealsNothing) {
  EXPECT_EQ(redact("hunter2"), "[redacted]");
  EXPECT_EQ(redact(std::string(64, 'k')), "[redacted]");
  EXPECT_EQ(redact(""), kRedacted);
}

TEST(TelemetryRedact, DefaultSecretKeysByWords) {
  for (const char* secret : {"token", "Authorization", "proxy-authorization", "access_token", "refreshToken",
                             "X-Api-Key", "apiKey", "APIKey", "API_KEY", "apikey", "client_secret",
                             "aws_secret_access_key", "password", "db.password", "Cookie", "set-cookie",
                             "private_key", "credentials", "oauth2Token", "PASSWORD"}) {
    EXPECT_TRUE(is_secret_key(secret)) << secret;
  }
  for (const char* plain : {"max_tokens", "token_type", "token_count", "password_policy", "secretary_name",
                            "author", "keyboard", "id", "", "cookies_enabled_flag"}) {
    EXPECT_FALSE(is_secret_key(plain)) << plain;
  }
}

TEST(TelemetryRedact, CustomSecretKeys) {
  constexpr std::array<std::string_view, 2> keys{"session_id", "pin"};
  EXPECT_TRUE(is_secret_key("Mcp-Session-Id", keys));
  EXPECT_TRUE(is_secret_key("card_pin", keys));
  EXPECT_FALSE(is_secret_key("token", keys));
}

TEST(TelemetryRedact, RedactsNestedObjectsAndArrays) {
  const boost::json::object in{
      {"method", "tools/call"},
      {"token", "abc"},
      {"params", {{"name", "search"}, {"auth", {{"password", "p"}, {"user", "u"}}}}},
      {"headers", boost::json::array{{{"Authorization", "Bearer x"}}, {{"Accept", "json"}}}},
      {"api_key", {{"nested", "whole subtree goes"}}},
  };
  const boost::json::object out = redact_fields(in);
  EXPECT_EQ(boost::json::serialize(out),
            R"({"method":"tools/call","token":"[redacted]",)"
            R"("params":{"name":"search","auth":{"password":"[redacted]","user":"u"}},)"
            R"("headers":[{"Authorization":"[redacted]"},{"Accept":"json"}],)"
            R"("api_key":"[redacted]"})");
}

TEST(TelemetryRedact, TruncateKeepsShortStrings) {
  EXPECT_EQ(truncate_for_log("short", 5), "short");
  EXPECT_EQ(truncate_for_log("", 0), "");
  EXPECT_EQ(truncate_for_log(std::string(256, 'a')), std::string(256, 'a'));
}

TEST(TelemetryRedact, TruncateMarksTheCut) {
  EXPECT_EQ(truncate_for_log("abcdefghij", 4), "abcd...[+6 bytes]");
  EXPECT_EQ(truncate_for_log(std::string(300, 'a')), std::string(256, 'a') + "...[+44 bytes]");
  EXPECT_EQ(truncate_for_log("abc", 0), "...[+3 bytes]");
}

TEST(TelemetryRedact, TruncateNeverSplitsUtf8) {
  const std::string e_acute = "\xC3\xA9";          // 2 bytes
  const std::string euro = "\xE2\x82\xAC";         // 3 bytes
  const std::string emoji = "\xF0\x9F\x98\x80";   // 4 bytes
  EXPECT_EQ(truncate_for_log("h" + e_acute + "llo", 2), "h...[+5 bytes]");
  EXPECT_EQ(truncate_for_log("h" + e_acute + "llo", 3), "h" + e_acute + "...[+3 bytes]");
  EXPECT_EQ(truncate_for_log("ab" + euro + "cd", 4), "ab...[+5 bytes]");
  for (std::size_t max = 1; max <= 4; ++max) {
    EXPECT_EQ(truncate_for_log("a" + emoji + "b", max), "a...[+5 bytes]") << max;
  }
  EXPECT_EQ(truncate_for_log("a" + emoji + "b", 5), "a" + emoji + "...[+1 bytes]");
  // Not UTF-8 at all: a run of continuation bytes is cut where asked.
  EXPECT_EQ(truncate_for_log(std::string(10, '\x80'), 6), std::string(6, '\x80') + "...[+4 bytes]");
}

TEST(TelemetryRedact, TruncateFieldsAtAnyDepth) {
  const boost::json::object out =
      truncate_fields({{"a", "123456"}, {"b", {{"c", "abcdefg"}}}, {"d", boost::json::array{"xyzxyz", 7}}, {"n", 5}}, 3);
  EXPECT_EQ(boost::json::serialize(out),
            R"({"a":"123...[+3 bytes]","b":{"c":"abc...[+4 bytes]"},"d":["xyz...[+3 bytes]",7],"n":5})");
}

}  // namespace
}  // namespace trellis::telemetry
