// trellis::Error and Result<T>: names, retry advice, JSON form and the exception boundary.
#include "trellis/error.hpp"

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <set>

namespace trellis {
namespace {

TEST(Error, EveryKindHasADistinctName) {
  std::set<std::string_view> names;
  for (int i = 0; i < kErrorKindCount; ++i) names.insert(to_string(static_cast<ErrorKind>(i)));
  EXPECT_EQ(names.size(), static_cast<std::size_t>(kErrorKindCount));
  EXPECT_EQ(to_string(ErrorKind::backpressure), "backpressure");
}

TEST(Error, RetryAdviceFollowsTheKind) {
  EXPECT_TRUE(retry_can_help(ErrorKind::state));
  EXPECT_TRUE(retry_can_help(ErrorKind::transport));
  EXPECT_TRUE(retry_can_help(ErrorKind::timeout));
  EXPECT_TRUE(retry_can_help(ErrorKind::backpressure));
  EXPECT_TRUE(retry_can_help(ErrorKind::session));
  EXPECT_FALSE(retry_can_help(ErrorKind::protocol));
  EXPECT_FALSE(retry_can_help(ErrorKind::cancelled));
  EXPECT_FALSE(retry_can_help(ErrorKind::remote));
  EXPECT_FALSE(retry_can_help(ErrorKind::policy));
  EXPECT_FALSE(retry_can_help(ErrorKind::config));
  EXPECT_FALSE(retry_can_help(ErrorKind::internal));
}

TEST(Error, JsonFormCarriesKindCodeMessageAndData) {
  const Error e = make_error(ErrorKind::state, "client not ready", {{"state", "reconnecting"}});
  EXPECT_EQ(boost::json::serialize(e.to_json()),
            R"({"kind":"state","message":"client not ready","data":{"state":"reconnecting"}})");
  const Error remote = make_error(ErrorKind::remote, "no such tool", nullptr, jsonrpc_code::invalid_params);
  EXPECT_EQ(boost::json::serialize(remote.to_json()), R"({"kind":"remote","code":-32602,"message":"no such tool"})");
  EXPECT_EQ(remote.describe(), "remote: no such tool (code -32602)");
}

TEST(Error, ResultValueThrowsTheErrorAtTheExceptionBoundary) {
  Result<int> ok = 7;
  EXPECT_EQ(ok.value(), 7);
  Result<int> failed = make_error(ErrorKind::timeout, "no answer in 30000 ms");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().kind, ErrorKind::timeout);
  try {
    (void)failed.value();
    FAIL() << "value() on an error must throw";
  } catch (const ErrorException& ex) {
    EXPECT_EQ(ex.error().kind, ErrorKind::timeout);
    EXPECT_STREQ(ex.what(), "timeout: no answer in 30000 ms");
  }
}

}  // namespace
}  // namespace trellis
