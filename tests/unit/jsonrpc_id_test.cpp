// trellis::jsonrpc::Id: which values are ids, exact round trips of every id kind through decode
// and encode, equality and hashing.
#include "support/rc_check.hpp"
#include "trellis/jsonrpc.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <cstdint>
#include <limits>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace trellis::jsonrpc {
namespace {

// Decodes a request carrying `id_text` verbatim, answers it, and returns the answer's text.
std::string answer_request_with_id(std::string_view id_text) {
  const std::string request = R"({"jsonrpc":"2.0","id":)" + std::string(id_text) + R"(,"method":"ping"})";
  auto message = decode(request);
  EXPECT_TRUE(message.has_value()) << request << ": " << (message ? "" : message.error().describe());
  if (!message) return {};
  std::string out;
  encode_result(out, message->id(), boost::json::object{});
  return out;
}

// UTF-8 encoding of one code point (no surrogates): test input for string ids.
void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

TEST(JsonrpcId, IntegerIdsAreEchoedByteForByte) {
  for (const std::string_view id : {"0", "-1", "42", "9007199254740993", "-9007199254740993",
                                    "9223372036854775807", "9223372036854775808", "18446744073709551615",
                                    "-9223372036854775808"}) {
    EXPECT_EQ(answer_request_with_id(id), R"({"jsonrpc":"2.0","id":)" + std::string(id) + R"(,"result":{}})");
  }
}

TEST(JsonrpcId, IntegerIdsKeepTheirExactValue) {
  auto large = decode(R"({"jsonrpc":"2.0","id":9007199254740993,"method":"m"})");
  ASSERT_TRUE(large);
  ASSERT_NE(large->id().if_int64(), nullptr);
  EXPECT_EQ(*large->id().if_int64(), 9007199254740993LL);  // 2^53 + 1: a double would round it

  auto max_unsigned = decode(R"({"jsonrpc":"2.0","id":18446744073709551615,"method":"m"})");
  ASSERT_TRUE(max_unsigned);
  ASSERT_NE(max_unsigned->id().if_uint64(), nullptr);
  EXPECT_EQ(*max_unsigned->id().if_uint64(), std::numeric_limits<std::uint64_t>::max());

  auto min_signed = decode(R"({"jsonrpc":"2.0","id":-9223372036854775808,"method":"m"})");
  ASSERT_TRUE(min_signed);
  EXPECT_EQ(min_signed->id(), Id(std::numeric_limits<std::int64_t>::min()));
}

TEST(JsonrpcId, StringIdsAreEchoedExactly) {
  EXPECT_EQ(answer_request_with_id(R"("abc")"), R"({"jsonrpc":"2.0","id":"abc","result":{}})");
  EXPECT_EQ(answer_request_with_id(R"("")"), R"({"jsonrpc":"2.0","id":"","result":{}})");
  EXPECT_EQ(answer_request_with_id(R"("ключ-🔑")"), R"({"jsonrpc":"2.0","id":"ключ-🔑","result":{}})");
  EXPECT_EQ(answer_request_with_id(R"("42")"), R"({"jsonrpc":"2.0","id":"42","result":{}})");
  // Escapes that JSON requires come back escaped; the decoded characters are the same.
  EXPECT_EQ(answer_request_with_id(R"("q\"b\\s\n\u0001")"), R"({"jsonrpc":"2.0","id":"q\"b\\s\n\u0001","result":{}})");
}

TEST(JsonrpcId, EscapedStringIdsDecodeToTheSameCharacters) {
  auto escaped = decode(R"({"jsonrpc":"2.0","id":"\u043a\u043b\u044e\u0447-\ud83d\udd11","method":"m"})");
  ASSERT_TRUE(escaped);
  EXPECT_EQ(escaped->id(), Id("ключ-🔑"));
  EXPECT_EQ(answer_request_with_id(R"("\u043a\u043b\u044e\u0447-\ud83d\udd11")"),
            R"({"jsonrpc":"2.0","id":"ключ-🔑","result":{}})");
}

TEST(JsonrpcId, NonIntegerNumbersAndOtherTypesAreNotIds) {
  for (const std::string_view id : {"1.5", "1e3", "1.0", "-0.0", "18446744073709551616", "-9223372036854775809",
                                    "true", "false", "{}", "[]", "[1]", R"({"a":1})"}) {
    const std::string text = R"({"jsonrpc":"2.0","id":)" + std::string(id) + R"(,"method":"m"})";
    auto message = decode(text);
    ASSERT_FALSE(message) << text;
    EXPECT_EQ(message.error().code, jsonrpc_code::invalid_request) << text;
    EXPECT_EQ(message.error().message, "id must be a string, an integer or null");
    EXPECT_TRUE(message.error().data.is_null()) << "a bad id cannot be recovered: " << text;
  }
}

TEST(JsonrpcId, FromJsonAcceptsExactlyNullIntegersAndStrings) {
  EXPECT_EQ(Id::from_json(nullptr), Id());
  EXPECT_EQ(Id::from_json(7), Id(7));
  EXPECT_EQ(Id::from_json(std::numeric_limits<std::uint64_t>::max()), Id(std::numeric_limits<std::uint64_t>::max()));
  EXPECT_EQ(Id::from_json("x"), Id("x"));
  EXPECT_EQ(Id::from_json(1.0), std::nullopt);
  EXPECT_EQ(Id::from_json(true), std::nullopt);
  EXPECT_EQ(Id::from_json(boost::json::array{}), std::nullopt);
  EXPECT_EQ(Id::from_json(boost::json::object{}), std::nullopt);
}

TEST(JsonrpcId, EqualityComparesValuesNotRepresentations) {
  EXPECT_EQ(Id(std::uint64_t{5}), Id(5));
  EXPECT_EQ(Id(std::uint64_t{5}).if_int64() != nullptr, true);
  EXPECT_NE(Id(1), Id("1"));
  EXPECT_NE(Id(), Id(0));
  EXPECT_NE(Id(), Id(""));
  EXPECT_EQ(Id(std::string("a")), Id(std::string_view("a")));
  EXPECT_TRUE(Id(nullptr).is_null());
  EXPECT_TRUE(Id(-3).is_integer());
  EXPECT_TRUE(Id(std::numeric_limits<std::uint64_t>::max()).is_integer());
  EXPECT_TRUE(Id("s").is_string());
}

TEST(JsonrpcId, JsonAndTextForms) {
  EXPECT_EQ(Id().to_string(), "null");
  EXPECT_EQ(Id(-12).to_string(), "-12");
  EXPECT_EQ(Id(std::numeric_limits<std::uint64_t>::max()).to_string(), "18446744073709551615");
  EXPECT_EQ(Id("a\"b").to_string(), R"("a\"b")");
  EXPECT_TRUE(Id(std::numeric_limits<std::uint64_t>::max()).to_json().is_uint64());
  EXPECT_TRUE(Id(3).to_json().is_int64());
}

TEST(JsonrpcId, IdsKeyHashMaps) {
  std::unordered_map<Id, int> pending;
  pending.emplace(Id(1), 1);
  pending.emplace(Id("1"), 2);
  pending.emplace(Id(std::numeric_limits<std::uint64_t>::max()), 3);
  pending.emplace(Id(), 4);
  EXPECT_EQ(pending.size(), 4u);
  EXPECT_EQ(pending.at(Id(std::uint64_t{1})), 1);
  EXPECT_EQ(pending.at(Id("1")), 2);
  EXPECT_EQ(std::hash<Id>{}(Id(std::uint64_t{9})), std::hash<Id>{}(Id(9)));

  std::unordered_set<Id> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(Id(i));
  for (int i = 0; i < 1000; ++i) seen.insert(Id(std::to_string(i)));
  EXPECT_EQ(seen.size(), 2000u);
}

TEST(JsonrpcId, EveryIntegerRoundTripsThroughDecodeAndEncode) {
  testing::check_property(500, [] {
    const bool is_unsigned = *rc::gen::arbitrary<bool>();
    const Id id = is_unsigned ? Id(*rc::gen::arbitrary<std::uint64_t>()) : Id(*rc::gen::arbitrary<std::int64_t>());
    std::string request;
    encode_request(request, id, "m");
    auto decoded = decode(request);
    RC_ASSERT(decoded.has_value());
    RC_ASSERT(decoded->id() == id);
    std::string response;
    encode_result(response, decoded->id(), nullptr);
    RC_ASSERT(response.find(R"("id":)" + id.to_string() + ",") != std::string::npos);
  });
}

TEST(JsonrpcId, EveryUnicodeStringRoundTripsThroughDecodeAndEncode) {
  testing::check_property(500, [] {
    const auto code_points = *rc::gen::container<std::vector<char32_t>>(rc::gen::suchThat(
        rc::gen::inRange<char32_t>(0, 0x110000), [](char32_t c) { return c < 0xD800 || c > 0xDFFF; }));
    std::string text;
    for (const char32_t c : code_points) append_utf8(text, c);
    std::string request;
    encode_request(request, Id(text), text);
    auto decoded = decode(request);
    RC_ASSERT(decoded.has_value());
    RC_ASSERT(decoded->id() == Id(text));
    RC_ASSERT(decoded->method() == text);
  });
}

}  // namespace
}  // namespace trellis::jsonrpc
