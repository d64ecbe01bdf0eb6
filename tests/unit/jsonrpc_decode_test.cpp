// trellis::jsonrpc::decode: the four message kinds, the size limit, and every way a
// message is rejected, with its code, its message and the recovered id.
#include "trellis/jsonrpc.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace trellis::jsonrpc {
namespace {

DecodeOptions with_byte_limit(std::size_t bytes) {
  DecodeOptions options;
  options.max_message_bytes = bytes;
  return options;
}

DecodeOptions with_depth_limit(std::size_t depth) {
  DecodeOptions options;
  options.max_depth = depth;
  return options;
}

// The error decode returns for `text`; fails the test when decode succeeds.
Error rejection(std::string_view text, const DecodeOptions& options = {}) {
  auto message = decode(text, options);
  EXPECT_FALSE(message.has_value()) << "accepted: " << text;
  if (message) return {};
  EXPECT_EQ(message.error().kind, ErrorKind::protocol) << text;
  return message.error();
}

TEST(JsonrpcDecode, Request) {
  auto message = decode(R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"x":1}}})");
  ASSERT_TRUE(message) << message.error().describe();
  EXPECT_EQ(message->kind(), MessageKind::request);
  EXPECT_EQ(message->id(), Id(7));
  EXPECT_EQ(message->method(), "tools/call");
  ASSERT_TRUE(message->params().is_object());
  EXPECT_EQ(message->params().at("name"), "echo");
  EXPECT_TRUE(message->result().is_null());
  EXPECT_EQ(message->error_code(), 0);
}

TEST(JsonrpcDecode, RequestWithoutParamsOrWithArrayParams) {
  auto bare = decode(R"({"jsonrpc":"2.0","id":"a","method":"ping"})");
  ASSERT_TRUE(bare);
  EXPECT_TRUE(bare->params().is_null());
  auto positional = decode(R"({"method":"sum","params":[1,2],"id":1,"jsonrpc":"2.0"})");
  ASSERT_TRUE(positional);
  EXPECT_EQ(positional->kind(), MessageKind::request);
  EXPECT_EQ(boost::json::serialize(positional->params()), "[1,2]");
}

TEST(JsonrpcDecode, Notification) {
  auto message = decode(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  ASSERT_TRUE(message);
  EXPECT_EQ(message->kind(), MessageKind::notification);
  EXPECT_TRUE(message->id().is_null());
  EXPECT_EQ(message->method(), "notifications/initialized");
}

TEST(JsonrpcDecode, Response) {
  auto message = decode(R"({"jsonrpc":"2.0","id":"r1","result":{"content":[]}})");
  ASSERT_TRUE(message);
  EXPECT_EQ(message->kind(), MessageKind::response);
  EXPECT_EQ(message->id(), Id("r1"));
  EXPECT_TRUE(message->method().empty());
  EXPECT_EQ(boost::json::serialize(message->result()), R"({"content":[]})");

  auto null_result = decode(R"({"jsonrpc":"2.0","id":1,"result":null})");
  ASSERT_TRUE(null_result);
  EXPECT_EQ(null_result->kind(), MessageKind::response);
}

// take_result() hands the owner the tree itself: the same string storage, not a copy.
TEST(JsonrpcDecode, TakeResultMovesTheTreeOut) {
  auto message = decode(R"({"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"a text longer than the inline buffer"}]}})");
  ASSERT_TRUE(message);
  const char* text = message->result().at("content").at(0).at("text").as_string().data();
  const boost::json::value result = message->take_result();
  EXPECT_EQ(result.at("content").at(0).at("text").as_string().data(), text);
  EXPECT_EQ(result.at("content").at(0).at("text"), "a text longer than the inline buffer");
  EXPECT_TRUE(message->result().is_null());
  auto request = decode(R"({"jsonrpc":"2.0","id":2,"method":"ping"})");
  ASSERT_TRUE(request);
  EXPECT_TRUE(request->take_result().is_null());  // no result: null, nothing moved
}

TEST(JsonrpcDecode, ErrorResponse) {
  auto message = decode(R"({"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"nope","data":{"m":"x"}}})");
  ASSERT_TRUE(message);
  EXPECT_EQ(message->kind(), MessageKind::error_response);
  EXPECT_EQ(message->error_code(), -32601);
  EXPECT_EQ(message->error_message(), "nope");
  EXPECT_EQ(boost::json::serialize(message->error_data()), R"({"m":"x"})");

  const Error remote = message->remote_error();
  EXPECT_EQ(remote.kind, ErrorKind::remote);
  EXPECT_EQ(remote.code, -32601);
  EXPECT_EQ(remote.message, "nope");
  EXPECT_EQ(boost::json::serialize(remote.data), R"({"m":"x"})");
}

TEST(JsonrpcDecode, ErrorResponseWithNullIdAndNoData) {
  auto message = decode(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}})");
  ASSERT_TRUE(message);
  EXPECT_EQ(message->kind(), MessageKind::error_response);
  EXPECT_TRUE(message->id().is_null());
  EXPECT_TRUE(message->error_data().is_null());
}

TEST(JsonrpcDecode, RemoteErrorOfANonErrorMessageIsAnInternalError) {
  auto message = decode(R"({"jsonrpc":"2.0","method":"m"})");
  ASSERT_TRUE(message);
  EXPECT_EQ(message->remote_error().kind, ErrorKind::internal);
}

TEST(JsonrpcDecode, UnknownMembersAreIgnoredAndTheLastDuplicateCounts) {
  auto message = decode(R"({"jsonrpc":"2.0","id":1,"method":"a","method":"b","extra":[1,2,3]})");
  ASSERT_TRUE(message);
  EXPECT_EQ(message->method(), "b");
}

TEST(JsonrpcDecode, SizeLimitIsInclusiveAndCheckedBeforeParsing) {
  const std::string text = R"({"jsonrpc":"2.0","method":"m"})";
  EXPECT_TRUE(decode(text, with_byte_limit(text.size())));

  const Error past = rejection(text, with_byte_limit(text.size() - 1));
  EXPECT_EQ(past.code, jsonrpc_code::invalid_request);
  EXPECT_EQ(past.message, "message of 30 bytes exceeds the limit of 29 bytes");
  EXPECT_TRUE(past.data.is_null());

  // Not even looked at: garbage one byte past the limit is a size error, not a parse error.
  const std::string garbage(1025, '{');
  EXPECT_EQ(rejection(garbage, with_byte_limit(1024)).code, jsonrpc_code::invalid_request);
  EXPECT_EQ(rejection(garbage, with_byte_limit(1025)).code, jsonrpc_code::parse_error);
}

TEST(JsonrpcDecode, DefaultLimitIsSixteenMebibytes) {
  constexpr std::size_t kLimit = 16 * 1024 * 1024;
  EXPECT_EQ(DecodeOptions{}.max_message_bytes, kLimit);
  std::string text = R"({"jsonrpc":"2.0","method":"m"})";
  text.resize(kLimit, ' ');  // trailing whitespace is valid JSON
  EXPECT_TRUE(decode(text));
  text += ' ';
  EXPECT_EQ(rejection(text).message, "message of 16777217 bytes exceeds the limit of 16777216 bytes");
}

TEST(JsonrpcDecode, MalformedJsonIsAParseError) {
  for (const std::string_view text :
       {"", " ", "{", R"({"jsonrpc":"2.0","method":"m")", R"({"jsonrpc":"2.0","method":"m"}})", "{'a':1}",
        R"({"jsonrpc":"2.0","method":"m",})", R"({"jsonrpc":"2.0" /* c */,"method":"m"})", "nul", "\x01",
        R"({"jsonrpc":"2.0","method":"m"} {"jsonrpc":"2.0","method":"m"})", R"({"jsonrpc":"2.0","id":01,"method":"m"})",
        "{\"jsonrpc\":\"2.0\",\"method\":\"\xff\"}", "{\"jsonrpc\":\"2.0\",\"method\":\"\xed\xa0\x80\"}"}) {
    const Error error = rejection(text);
    EXPECT_EQ(error.code, jsonrpc_code::parse_error) << text;
    EXPECT_TRUE(error.data.is_null());
  }
  EXPECT_EQ(rejection("{").message, "incomplete JSON");
  EXPECT_EQ(rejection("{]").message, "invalid JSON");
}

TEST(JsonrpcDecode, NestingBeyondTheDepthLimitIsAParseError) {
  // The message object is level 1, params level 2, and each inner array one more.
  const auto nested = [](int arrays) {
    return R"({"jsonrpc":"2.0","method":"m","params":)" + std::string(arrays, '[') + std::string(arrays, ']') + "}";
  };
  EXPECT_TRUE(decode(nested(7), with_depth_limit(8)));
  const Error error = rejection(nested(8), with_depth_limit(8));
  EXPECT_EQ(error.code, jsonrpc_code::parse_error);
  EXPECT_EQ(error.message, "JSON nests deeper than 8 levels");

  EXPECT_TRUE(decode(nested(63)));
  EXPECT_EQ(rejection(nested(64)).message, "JSON nests deeper than 64 levels");
  // Deep enough to overflow the stack of a recursive parser: a clean error instead.
  EXPECT_EQ(rejection(std::string(1'000'000, '[')).code, jsonrpc_code::parse_error);
}

TEST(JsonrpcDecode, NumbersBeyondTheDoubleRangeAreAParseError) {
  const Error error = rejection(R"({"jsonrpc":"2.0","method":"m","params":[1e400]})");
  EXPECT_EQ(error.code, jsonrpc_code::parse_error);
  EXPECT_EQ(error.message, "JSON number out of range");
  EXPECT_EQ(rejection(R"({"jsonrpc":"2.0","id":1,"result":{"x":-1e999}})").code, jsonrpc_code::parse_error);
  EXPECT_TRUE(decode(R"({"jsonrpc":"2.0","method":"m","params":[1e300,-0.0,5e-324]})"));
}

TEST(JsonrpcDecode, BatchesAreRejected) {
  for (const std::string_view text : {R"([{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}])",
                                      R"([{"jsonrpc":"2.0","id":1,"method":"a"}])", "[]"}) {
    const Error error = rejection(text);
    EXPECT_EQ(error.code, jsonrpc_code::invalid_request);
    EXPECT_EQ(error.message, "batch requests are not supported");
    EXPECT_TRUE(recovered_id(error).is_null());
  }
}

TEST(JsonrpcDecode, NonObjectsAreInvalidRequests) {
  for (const std::string_view text : {"42", R"("jsonrpc")", "null", "true", "1.5"}) {
    const Error error = rejection(text);
    EXPECT_EQ(error.code, jsonrpc_code::invalid_request) << text;
    EXPECT_EQ(error.message, "message must be a JSON object");
  }
}

struct InvalidCase {
  std::string_view text;
  std::string_view message;
  Id recovered;
};

TEST(JsonrpcDecode, EnvelopeViolationsAreInvalidRequestsWithTheIdRecovered) {
  const std::vector<InvalidCase> cases = {
      {R"({"id":1,"method":"m"})", R"("jsonrpc" must be "2.0")", 1},
      {R"({"jsonrpc":"1.0","id":"x","method":"m"})", R"("jsonrpc" must be "2.0")", "x"},
      {R"({"jsonrpc":2.0,"id":2,"method":"m"})", R"("jsonrpc" must be "2.0")", 2},
      {R"({"jsonrpc":"2.0","id":3,"method":7})", "method must be a string", 3},
      {R"({"jsonrpc":"2.0","id":4,"method":null})", "method must be a string", 4},
      {R"({"jsonrpc":"2.0","id":5,"method":"m","params":"x"})", "params must be an object or an array", 5},
      {R"({"jsonrpc":"2.0","id":6,"method":"m","params":1})", "params must be an object or an array", 6},
      {R"({"jsonrpc":"2.0","id":7,"method":"m","params":null})", "params must be an object or an array", 7},
      {R"({"jsonrpc":"2.0","method":"m","params":true})", "params must be an object or an array", {}},
      {R"({"jsonrpc":"2.0","id":null,"method":"m"})", "request id must not be null", {}},
      {R"({"jsonrpc":"2.0","id":8,"method":"m","result":1})", "a message must not carry both method and result or error", 8},
      {R"({"jsonrpc":"2.0","id":9})", "message has neither method nor result nor error", 9},
      {R"({"jsonrpc":"2.0"})", "message has neither method nor result nor error", {}},
      {R"({"jsonrpc":"2.0","id":10,"result":1,"error":{"code":1,"message":"x"}})",
       "response must carry exactly one of result and error", 10},
      {R"({"jsonrpc":"2.0","result":1})", "response must carry an id", {}},
      {R"({"jsonrpc":"2.0","id":null,"result":1})", "a result must answer a non-null id", {}},
      {R"({"jsonrpc":"2.0","id":11,"error":"bad"})", "error must be an object with an integer code and a string message", 11},
      {R"({"jsonrpc":"2.0","id":12,"error":{"code":"1","message":"x"}})",
       "error must be an object with an integer code and a string message", 12},
      {R"({"jsonrpc":"2.0","id":13,"error":{"code":1.5,"message":"x"}})",
       "error must be an object with an integer code and a string message", 13},
      {R"({"jsonrpc":"2.0","id":14,"error":{"code":2147483648,"message":"x"}})",
       "error must be an object with an integer code and a string message", 14},
      {R"({"jsonrpc":"2.0","id":15,"error":{"code":1}})",
       "error must be an object with an integer code and a string message", 15},
      {R"({"jsonrpc":"2.0","id":"ключ-🔑","error":{"message":"x"}})",
       "error must be an object with an integer code and a string message", "ключ-🔑"},
  };
  for (const auto& c : cases) {
    const Error error = rejection(c.text);
    EXPECT_EQ(error.code, jsonrpc_code::invalid_request) << c.text;
    EXPECT_EQ(error.message, c.message) << c.text;
    EXPECT_EQ(recovered_id(error), c.recovered) << c.text;
    if (c.recovered.is_null()) {
      EXPECT_TRUE(error.data.is_null()) << c.text;
    } else {
      EXPECT_EQ(error.data, (boost::json::object{{"id", c.recovered.to_json()}})) << c.text;
    }
  }
}

TEST(JsonrpcDecode, ErrorCodesAtTheEdgesOfIntAreAccepted) {
  auto low = decode(R"({"jsonrpc":"2.0","id":1,"error":{"code":-2147483648,"message":""}})");
  ASSERT_TRUE(low);
  EXPECT_EQ(low->error_code(), -2147483647 - 1);
  auto high = decode(R"({"jsonrpc":"2.0","id":1,"error":{"code":2147483647,"message":""}})");
  ASSERT_TRUE(high);
  EXPECT_EQ(high->error_code(), 2147483647);
}

TEST(JsonrpcDecode, EachMessageOwnsItsTree) {
  std::string text = R"({"jsonrpc":"2.0","id":1,"method":"a","params":{"k":[1,2,3]}})";
  auto request = decode(text);
  ASSERT_TRUE(request);
  text.assign(text.size(), ' ');  // the input buffer may be reused as soon as decode returns
  EXPECT_EQ(decode(R"({"jsonrpc":"2.0","id":1,"method":)").error().code, jsonrpc_code::parse_error);
  auto response = decode(R"({"jsonrpc":"2.0","id":2,"result":[]})");
  ASSERT_TRUE(response);
  EXPECT_EQ(request->method(), "a");
  EXPECT_EQ(request->params().at("k").as_array().size(), 3u);
}

TEST(JsonrpcDecode, ViewsSurviveMovesOfTheMessage) {
  auto first = decode(R"({"jsonrpc":"2.0","id":1,"method":"a-method-name-longer-than-sso","params":{"a":1}})");
  auto second = decode(R"({"jsonrpc":"2.0","id":2,"error":{"code":-1,"message":"an error message, long","data":[1]}})");
  ASSERT_TRUE(first && second);
  Message moved = std::move(*first);
  EXPECT_EQ(moved.method(), "a-method-name-longer-than-sso");
  EXPECT_EQ(moved.params().at("a"), 1);
  moved = std::move(*second);
  EXPECT_EQ(moved.kind(), MessageKind::error_response);
  EXPECT_EQ(moved.error_message(), "an error message, long");
  EXPECT_EQ(boost::json::serialize(moved.error_data()), "[1]");
  EXPECT_TRUE(moved.params().is_null());
  Message again = std::move(moved);  // the error views point into the error object it owns
  EXPECT_EQ(again.error_message(), "an error message, long");
  EXPECT_EQ(boost::json::serialize(again.error_data()), "[1]");
}

TEST(JsonrpcDecode, ToJsonRebuildsEachKindOfMessage) {
  for (const std::string_view text : {
           R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}})",
           R"({"jsonrpc":"2.0","id":"a","method":"ping"})",
           R"({"jsonrpc":"2.0","method":"notifications/progress","params":[1,2]})",
           R"({"jsonrpc":"2.0","id":3,"result":{"content":[]}})",
           R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"invalid JSON"}})",
       }) {
    auto message = decode(text);
    ASSERT_TRUE(message) << text;
    EXPECT_EQ(message->to_json(), boost::json::parse(text)) << text;
  }
}

TEST(JsonrpcDecode, AbsentParamsAreNullAndTheMethodIsKept) {
  auto message = decode(R"({"jsonrpc":"2.0","id":1,"method":"tools/call"})");
  ASSERT_TRUE(message);
  EXPECT_EQ(message->method(), "tools/call");
  EXPECT_TRUE(message->params().is_null());
  EXPECT_TRUE(message->result().is_null());
}

TEST(JsonrpcDecode, FromJsonAppliesTheSameRules) {
  auto message = Message::from_json(boost::json::parse(R"({"jsonrpc":"2.0","id":1,"method":"m"})"));
  ASSERT_TRUE(message);
  EXPECT_EQ(message->kind(), MessageKind::request);
  EXPECT_EQ(Message::from_json(boost::json::array{}).error().message, "batch requests are not supported");
  boost::json::value deep = boost::json::array{};
  for (int i = 0; i < 100; ++i) deep = boost::json::array{std::move(deep)};
  auto too_deep = Message::from_json(boost::json::object{{"jsonrpc", "2.0"}, {"method", "m"}, {"params", deep}});
  ASSERT_FALSE(too_deep);
  EXPECT_EQ(too_deep.error().code, jsonrpc_code::parse_error);
  auto infinite = Message::from_json(boost::json::object{
      {"jsonrpc", "2.0"}, {"method", "m"}, {"params", boost::json::array{std::numeric_limits<double>::infinity()}}});
  ASSERT_FALSE(infinite);
  EXPECT_EQ(infinite.error().message, "JSON number out of range");
}

TEST(JsonrpcDecode, KindNames) {
  EXPECT_EQ(to_string(MessageKind::request), "request");
  EXPECT_EQ(to_string(MessageKind::notification), "notification");
  EXPECT_EQ(to_string(MessageKind::response), "response");
  EXPECT_EQ(to_string(MessageKind::error_response), "error_response");
}

}  // namespace
}  // namespace trellis::jsonrpc
