// Registry::prometheus_text: the exact text exposition format 0.0.4, and its number formatting.
#include "telemetry/prometheus_format.hpp"
#include "trellis/telemetry/metrics.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace trellis::telemetry {
namespace {

TEST(TelemetryPrometheus, EmptyRegistryIsEmptyText) { EXPECT_EQ(Registry().prometheus_text(), ""); }

TEST(TelemetryPrometheus, ExactTextForCounterGaugeAndHistogram) {
  Registry registry;
  // Registered out of order: the output is sorted anyway.
  registry.gauge("trellis_up", "").set(1);
  registry.counter("trellis_calls_total", "Calls completed.", {{"outcome", "ok"}, {"method", "tools/call"}}).inc(3);
  registry.counter("trellis_calls_total", "Calls completed.", {{"method", "ping"}, {"outcome", "error"}}).inc();
  registry.gauge("trellis_sessions_active", "Sessions open.\nSecond line with \\ backslash",
                 {{"path", "C:\\dir \"quoted\"\nnext"}})
      .set(2.5);
  auto& latency = registry.histogram("trellis_call_seconds", "Call latency.", {0.005, 0.1, 1, 2.5},
                                     {{"method", "tools/call"}});
  for (const double v : {0.00390625, 0.0625, 0.0625, 2.0, 30.0}) latency.observe(v);

  EXPECT_EQ(registry.prometheus_text(),
            "# HELP trellis_call_seconds Call latency.\n"
            "# TYPE trellis_call_seconds histogram\n"
            "trellis_call_seconds_bucket{method=\"tools/call\",le=\"0.005\"} 1\n"
            "trellis_call_seconds_bucket{method=\"tools/call\",le=\"0.1\"} 3\n"
            "trellis_call_seconds_bucket{method=\"tools/call\",le=\"1\"} 3\n"
            "trellis_call_seconds_bucket{method=\"tools/call\",le=\"2.5\"} 4\n"
            "trellis_call_seconds_bucket{method=\"tools/call\",le=\"+Inf\"} 5\n"
            "trellis_call_seconds_sum{method=\"tools/call\"} 32.12890625\n"
            "trellis_call_seconds_count{method=\"tools/call\"} 5\n"
            "# HELP trellis_calls_total Calls completed.\n"
            "# TYPE trellis_calls_total counter\n"
            "trellis_calls_total{method=\"ping\",outcome=\"error\"} 1\n"
            "trellis_calls_total{method=\"tools/call\",outcome=\"ok\"} 3\n"
            "# HELP trellis_sessions_active Sessions open.\\nSecond line with \\\\ backslash\n"
            "# TYPE trellis_sessions_active gauge\n"
            "trellis_sessions_active{path=\"C:\\\\dir \\\"quoted\\\"\\nnext\"} 2.5\n"
            "# TYPE trellis_up gauge\n"
            "trellis_up 1\n");
}

TEST(TelemetryPrometheus, HistogramWithoutLabelsAndObservations) {
  Registry registry;
  registry.histogram("wait_seconds", "Wait.", {1});
  EXPECT_EQ(registry.prometheus_text(),
            "# HELP wait_seconds Wait.\n"
            "# TYPE wait_seconds histogram\n"
            "wait_seconds_bucket{le=\"1\"} 0\n"
            "wait_seconds_bucket{le=\"+Inf\"} 0\n"
            "wait_seconds_sum 0\n"
            "wait_seconds_count 0\n");
}

TEST(TelemetryPrometheus, SeriesOfAFamilyMayHaveDifferentLabelSets) {
  Registry registry;
  registry.counter("c_total", "", {{"b", "1"}}).inc(2);
  registry.counter("c_total", "").inc(1);
  registry.counter("c_total", "", {{"a", "x\\y"}}).inc(3);
  EXPECT_EQ(registry.prometheus_text(),
            "# TYPE c_total counter\n"
            "c_total 1\n"
            "c_total{a=\"x\\\\y\"} 3\n"
            "c_total{b=\"1\"} 2\n");
}

TEST(TelemetryPrometheus, ValuesAreFormattedLikeTheGoClient) {
  using prometheus::format_value;
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(-0.0), "-0");
  EXPECT_EQ(format_value(1), "1");
  EXPECT_EQ(format_value(-3.25), "-3.25");
  EXPECT_EQ(format_value(0.005), "0.005");
  EXPECT_EQ(format_value(0.0001), "0.0001");
  EXPECT_EQ(format_value(0.00001), "1e-05");
  EXPECT_EQ(format_value(0.000015), "1.5e-05");
  EXPECT_EQ(format_value(100000), "100000");
  EXPECT_EQ(format_value(123456.5), "123456.5");
  EXPECT_EQ(format_value(1e6), "1e+06");
  EXPECT_EQ(format_value(1234567), "1.234567e+06");
  EXPECT_EQ(format_value(1e21), "1e+21");
  EXPECT_EQ(format_value(1e-300), "1e-300");
  EXPECT_EQ(format_value(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(format_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(TelemetryPrometheus, EscapingOfLabelValuesAndHelp) {
  std::string label;
  prometheus::append_label_value(label, "a\\b\"c\nd\te");
  EXPECT_EQ(label, "a\\\\b\\\"c\\nd\te");
  std::string help;
  prometheus::append_help(help, "a\\b\"c\nd");
  EXPECT_EQ(help, "a\\\\b\"c\\nd");
}

}  // namespace
}  // namespace trellis::telemetry
