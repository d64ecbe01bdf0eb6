// trellis::jsonrpc encoding: byte-exact output of every message kind, escaping, buffer reuse,
// preconditions, and the error responses built from trellis::Error and from decode failures.
#include "trellis/jsonrpc.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <random>
#include <stdexcept>
#include <string>

namespace trellis::jsonrpc {
namespace {

DecodeOptions with_byte_limit(std::size_t bytes) {
  DecodeOptions options;
  options.max_message_bytes = bytes;
  return options;
}

TEST(JsonrpcEncode, Request) {
  std::string out;
  encode_request(out, 1, "tools/call", boost::json::object{{"name", "echo"}});
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}})");
  out.clear();
  encode_request(out, "req-1", "ping");
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","id":"req-1","method":"ping"})");
  out.clear();
  encode_request(out, std::numeric_limits<std::uint64_t>::max(), "sum", boost::json::array{1, 2});
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","id":18446744073709551615,"method":"sum","params":[1,2]})");
  out.clear();
  encode_request(out, -5, "m", nullptr);  // null params: left out
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","id":-5,"method":"m"})");
}

TEST(JsonrpcEncode, Notification) {
  std::string out;
  encode_notification(out, "notifications/initialized");
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  out.clear();
  encode_notification(out, "notifications/progress", boost::json::object{{"progress", 0.5}});
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":5E-1}})");
}

TEST(JsonrpcEncode, Result) {
  std::string out;
  encode_result(out, 9007199254740993LL, boost::json::object{{"content", boost::json::array{}}});
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","id":9007199254740993,"result":{"content":[]}})");
  out.clear();
  encode_result(out, "ключ-🔑", nullptr);
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","id":"ключ-🔑","result":null})");
}

TEST(JsonrpcEncode, Error) {
  std::string out;
  encode_error(out, 4, jsonrpc_code::invalid_params, "params must be an object or an array");
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","id":4,"error":{"code":-32602,"message":"params must be an object or an array"}})");
  out.clear();
  encode_error(out, Id(), jsonrpc_code::parse_error, "invalid JSON", boost::json::object{{"line", 1}});
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"invalid JSON","data":{"line":1}}})");
  out.clear();
  encode_error(out, "x", -1, "", nullptr);
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","id":"x","error":{"code":-1,"message":""}})");
}

TEST(JsonrpcEncode, StringsAreEscaped) {
  std::string out;
  encode_request(out, "a\"b", "we\\ird\n\x01", boost::json::object{{"k\"", "v\t"}});
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","id":"a\"b","method":"we\\ird\n\u0001","params":{"k\"":"v\t"}})");
  auto decoded = decode(out);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->id(), Id("a\"b"));
  EXPECT_EQ(decoded->method(), "we\\ird\n\x01");
  out.clear();
  encode_error(out, 1, -1, "quote \" and nul " + std::string(1, '\0'));
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"quote \" and nul \u0000"}})");
}

TEST(JsonrpcEncode, AppendsToTheBufferAndReusesIt) {
  std::string out;
  encode_notification(out, "a");
  encode_notification(out, "b");
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","method":"a"}{"jsonrpc":"2.0","method":"b"})");
  out.clear();
  out.reserve(4096);
  const char* storage = out.data();
  for (int i = 0; i < 100; ++i) {
    out.clear();
    encode_result(out, i, boost::json::object{{"ok", true}});
  }
  EXPECT_EQ(out.data(), storage) << "a reused buffer with room is not reallocated";
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","id":99,"result":{"ok":true}})");
}

TEST(JsonrpcEncode, LargeValuesSpanManyChunks) {
  boost::json::array items;
  for (int i = 0; i < 20000; ++i) items.emplace_back(boost::json::object{{"i", i}, {"s", std::string(i % 7, 'x')}});
  const boost::json::value result = boost::json::object{{"items", items}};
  std::string out;
  encode_result(out, 1, result);
  EXPECT_GT(out.size(), 100'000u);
  auto decoded = decode(out);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->result(), result);
}

TEST(JsonrpcEncode, BrokenPreconditionsThrowAndAppendNothing) {
  std::string out = "keep";
  EXPECT_THROW(encode_request(out, Id(), "m"), std::invalid_argument);
  EXPECT_THROW(encode_request(out, 1, "m", "not params"), std::invalid_argument);
  EXPECT_THROW(encode_request(out, 1, "m", 42), std::invalid_argument);
  EXPECT_THROW(encode_notification(out, "m", true), std::invalid_argument);
  EXPECT_THROW(encode_result(out, Id(), 1), std::invalid_argument);
  EXPECT_EQ(out, "keep");
}

TEST(JsonrpcEncode, EveryKindRoundTripsThroughDecode) {
  std::string out;
  encode_request(out, "r", "tools/list", boost::json::object{{"cursor", "c"}});
  auto request = decode(out);
  ASSERT_TRUE(request);
  EXPECT_EQ(request->kind(), MessageKind::request);
  EXPECT_EQ(request->params().at("cursor"), "c");

  out.clear();
  encode_notification(out, "n");
  EXPECT_EQ(decode(out)->kind(), MessageKind::notification);

  out.clear();
  encode_result(out, 2, boost::json::array{});
  EXPECT_EQ(decode(out)->kind(), MessageKind::response);

  out.clear();
  encode_error(out, Id(), -32000, "busy", boost::json::object{{"retry_after_ms", 10}});
  auto error = decode(out);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->kind(), MessageKind::error_response);
  EXPECT_EQ(error->error_code(), -32000);
  EXPECT_EQ(error->error_data().at("retry_after_ms"), 10);
}

TEST(JsonrpcEncode, ErrorsMeantForThePeerGoOutAsTheyAre) {
  std::string out;
  encode_error(out, 1, method_not_found("tools/cal"));
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"method not found","data":{"method":"tools/cal"}}})");
  out.clear();
  encode_error(out, 2, invalid_params("arguments.path must be a string"));
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","id":2,"error":{"code":-32602,"message":"arguments.path must be a string"}})");
  out.clear();
  encode_error(out, 3, make_error(ErrorKind::remote, "upstream says no", nullptr, -32001));
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","id":3,"error":{"code":-32001,"message":"upstream says no"}})");
}

TEST(JsonrpcEncode, InternalDetailsNeverReachThePeer) {
  const std::string internal = R"({"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"internal error"}})";
  std::string out;
  encode_error(out, 1, make_error(ErrorKind::internal, "segment 3 of /var/lib/x is corrupt", {{"path", "/var/lib/x"}},
                                  jsonrpc_code::internal_error));
  EXPECT_EQ(out, internal);
  out.clear();
  encode_error(out, 1, make_error(ErrorKind::transport, "connect to 10.0.0.7:5432 failed"));  // no JSON-RPC code
  EXPECT_EQ(out, internal);
}

TEST(JsonrpcEncode, DecodeErrorsAreAnsweredWithTheRecoveredId) {
  std::string out;
  encode_decode_error(out, decode("{oops").error());
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"invalid JSON"}})");

  out.clear();
  encode_decode_error(out, decode(R"({"jsonrpc":"2.0","id":"ключ-🔑","method":"m","params":3})").error());
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","id":"ключ-🔑","error":{"code":-32600,"message":"params must be an object or an array"}})");

  out.clear();
  encode_decode_error(out, decode(R"({"jsonrpc":"1.0","id":18446744073709551615,"method":"m"})").error());
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","id":18446744073709551615,"error":{"code":-32600,"message":"\"jsonrpc\" must be \"2.0\""}})");

  out.clear();
  encode_decode_error(out, decode("[]").error());
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"batch requests are not supported"}})");

  out.clear();
  encode_decode_error(out, decode("{}", with_byte_limit(1)).error());
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"message of 2 bytes exceeds the limit of 1 bytes"}})");

  // The answer is itself a valid message, of kind error_response.
  auto answer = decode(out);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->kind(), MessageKind::error_response);
}

TEST(JsonrpcEncode, RecoveredIdIgnoresDataThatIsNotAnId) {
  EXPECT_TRUE(recovered_id(make_error(ErrorKind::protocol, "x", {{"id", 1.5}}, -32600)).is_null());
  EXPECT_TRUE(recovered_id(make_error(ErrorKind::protocol, "x", "id", -32600)).is_null());
  EXPECT_EQ(recovered_id(make_error(ErrorKind::protocol, "x", {{"id", 4}}, -32600)), Id(4));
}

// The hand-written value encoder writes exactly what boost::json::serialize writes, for random
// documents whose strings hold every byte that needs an escape, at every offset of an 8-byte word.
// Half the strings need no escape at all, and lengths run past the 64 bytes below which a plain
// string takes the encoder's short path.
boost::json::value random_value(std::mt19937_64& rng, int depth) {
  static constexpr char kAlphabet[] = "ab\"\\/\b\f\n\r\t\x01\x1f\x7f \xc3\xa9\xe2\x82\xac" "0";
  static constexpr char kPlain[] = "ab/ 0\x7f\xc3\xa9";
  auto text = [&] {
    const bool plain = rng() % 2 == 0;
    std::string s(rng() % 100, ' ');
    for (auto& c : s) c = plain ? kPlain[rng() % (sizeof kPlain - 1)] : kAlphabet[rng() % (sizeof kAlphabet - 1)];
    return s;
  };
  switch (depth <= 0 ? rng() % 6 : rng() % 8) {
    case 0: return nullptr;
    case 1: return rng() % 2 == 0;
    case 2: return static_cast<std::int64_t>(rng());
    case 3: return static_cast<std::uint64_t>(rng());
    case 4: return static_cast<double>(static_cast<std::int64_t>(rng() % 2000000) - 1000000) / 7.0;
    case 5: return boost::json::string(text());
    case 6: {
      boost::json::array a;
      for (auto n = rng() % 5; n > 0; --n) a.push_back(random_value(rng, depth - 1));
      return a;
    }
    default: {
      boost::json::object o;
      for (auto n = rng() % 5; n > 0; --n) o[text()] = random_value(rng, depth - 1);
      return o;
    }
  }
}

TEST(JsonrpcEncode, StringsAtAndPastTheShortPathLimitMatchBoostJsonSerialize) {
  for (const std::size_t length : {std::size_t{0}, std::size_t{63}, std::size_t{64}, std::size_t{65}}) {
    for (const char last : {'a', '"', '\n'}) {
      std::string text(length, 'x');
      if (length > 0) text.back() = last;
      const boost::json::value value = boost::json::object{{text, text}};
      std::string out;
      encode_result(out, Id(std::int64_t{1}), value);
      EXPECT_EQ(out, R"({"jsonrpc":"2.0","id":1,"result":)" + boost::json::serialize(value) + "}") << length << ' ' << int(last);
    }
  }
}

TEST(JsonrpcEncode, ValuesMatchBoostJsonSerializeByteForByte) {
  std::mt19937_64 rng(20261123);
  for (int i = 0; i < 3000; ++i) {
    const auto value = random_value(rng, 4);
    std::string out;
    encode_result(out, Id(std::int64_t{1}), value);
    ASSERT_EQ(out, R"({"jsonrpc":"2.0","id":1,"result":)" + boost::json::serialize(value) + "}") << i;
  }
}

}  // namespace
}  // namespace trellis::jsonrpc
