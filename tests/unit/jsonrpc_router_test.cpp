// trellis::jsonrpc::Router: registration, lookup by string view (no temporary string), and the
// answer for an unknown method.
#include "trellis/jsonrpc.hpp"

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <type_traits>

namespace trellis::jsonrpc {
namespace {

using Handler = std::function<boost::json::value(const boost::json::value&)>;

// Heterogeneous lookup is what keeps find() free of allocations: the map hashes and compares the
// view itself instead of building a std::string key.
static_assert(std::is_same_v<detail::StringHash::is_transparent, void>);
static_assert(noexcept(std::declval<const Router<int>&>().find(std::string_view())));

TEST(JsonrpcRouter, FindsRegisteredHandlers) {
  Router<Handler> router;
  EXPECT_TRUE(router.add("tools/list", [](const boost::json::value&) -> boost::json::value { return "list"; }));
  EXPECT_TRUE(router.add("tools/call", [](const boost::json::value& p) -> boost::json::value { return p.at("name"); }));
  EXPECT_EQ(router.size(), 2u);

  const Handler* call = router.find("tools/call");
  ASSERT_NE(call, nullptr);
  EXPECT_EQ((*call)(boost::json::object{{"name", "echo"}}), "echo");
  EXPECT_EQ(router.find("tools/cal"), nullptr);
  EXPECT_EQ(router.find("tools/call "), nullptr);
  EXPECT_EQ(router.find(""), nullptr);
  EXPECT_TRUE(router.contains("tools/list"));
}

TEST(JsonrpcRouter, LooksUpByAViewIntoABuffer) {
  Router<int> router;
  router.add("resources/read", 1);
  router.add("resources/list", 2);
  // Views into a larger buffer: not NUL-terminated, not std::strings.
  const std::string buffer = "xxresources/readresources/listyy";
  const std::string_view view(buffer);
  ASSERT_NE(router.find(view.substr(2, 14)), nullptr);
  EXPECT_EQ(*router.find(view.substr(2, 14)), 1);
  EXPECT_EQ(*router.find(view.substr(16, 14)), 2);
  EXPECT_EQ(router.find(view.substr(2, 13)), nullptr);
}

TEST(JsonrpcRouter, DispatchesADecodedMessageByItsMethodView) {
  Router<Handler> router;
  router.add("tools/call", [](const boost::json::value& p) -> boost::json::value { return p.at("arguments").at("x"); });
  auto message = decode(R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"t","arguments":{"x":41}}})");
  ASSERT_TRUE(message);
  std::string out;
  if (const Handler* handler = router.find(message->method())) {
    encode_result(out, message->id(), (*handler)(message->params()));
  }
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","id":5,"result":41})");
}

TEST(JsonrpcRouter, UnknownMethodsAreAnsweredWithMethodNotFound) {
  Router<Handler> router;
  auto message = decode(R"({"jsonrpc":"2.0","id":"q","method":"prompts/get"})");
  ASSERT_TRUE(message);
  ASSERT_EQ(router.find(message->method()), nullptr);
  const Error error = method_not_found(message->method());
  EXPECT_EQ(error.kind, ErrorKind::protocol);
  EXPECT_EQ(error.code, jsonrpc_code::method_not_found);
  EXPECT_EQ(error.message, "method not found");
  EXPECT_EQ(boost::json::serialize(error.data), R"({"method":"prompts/get"})");
  std::string out;
  encode_error(out, message->id(), error);
  EXPECT_EQ(out, R"({"jsonrpc":"2.0","id":"q","error":{"code":-32601,"message":"method not found","data":{"method":"prompts/get"}}})");
}

TEST(JsonrpcRouter, ASecondRegistrationOfAMethodIsRefused) {
  Router<int> router;
  EXPECT_TRUE(router.add("ping", 1));
  EXPECT_FALSE(router.add("ping", 2));
  EXPECT_EQ(*router.find("ping"), 1);
  *router.find("ping") = 3;  // the mutable overload hands out the stored handler
  EXPECT_EQ(*std::as_const(router).find("ping"), 3);
}

}  // namespace
}  // namespace trellis::jsonrpc
