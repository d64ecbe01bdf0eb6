// Runs a RapidCheck property inside a GoogleTest test with a chosen number of cases, keeping the
// seed and other settings from RC_PARAMS so a failure can be reproduced.
#pragma once

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <sstream>

namespace trellis::testing {

template <class Testable>
void check_property(int cases, Testable&& testable) {
  using namespace rc::detail;
  TestParams params = configuration().testParams;
  params.maxSuccess = cases;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  TestMetadata metadata;
  metadata.id = std::string(info->test_suite_name()) + "/" + info->name();
  metadata.description = info->name();
  const TestResult result = checkTestable(std::forward<Testable>(testable), metadata, params);
  if (!result.template is<SuccessResult>()) {
    std::ostringstream message;
    printResultMessage(result, message);
    FAIL() << message.str();
  }
  const auto success = result.template get<SuccessResult>();
  EXPECT_GE(success.numSuccess, cases);
}

}  // namespace trellis::testing
