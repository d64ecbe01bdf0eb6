// telemetry instruments and Registry registration: values, buckets, identity, validation.
#include "trellis/telemetry/metrics.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace trellis::telemetry {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pointwise;

// The message of the std::invalid_argument `f` throws, or "" (and a failure) when it does not.
template <class F>
std::string invalid_argument_message(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected std::invalid_argument";
  return "";
}

TEST(TelemetryInstruments, CounterCounts) {
  Counter counter;
  EXPECT_EQ(counter.value(), 0U);
  counter.inc();
  counter.inc(41);
  EXPECT_EQ(counter.value(), 42U);
}

TEST(TelemetryInstruments, GaugeSetsAndAdds) {
  Gauge gauge;
  gauge.set(10.5);
  gauge.add(2);
  gauge.add(-0.5);
  EXPECT_DOUBLE_EQ(gauge.value(), 12.0);
}

TEST(TelemetryInstruments, HistogramBucketsByUpperBoundInclusive) {
  Histogram histogram({1, 5, 10});
  for (const double v : {0.5, 1.0, 1.5, 5.0, 7.0, 10.0, 11.0, 1e9}) histogram.observe(v);
  EXPECT_THAT(histogram.cumulative_counts(), ElementsAre(2, 4, 6, 8));
  EXPECT_EQ(histogram.count(), 8U);
  EXPECT_DOUBLE_EQ(histogram.sum(), 0.5 + 1 + 1.5 + 5 + 7 + 10 + 11 + 1e9);
  EXPECT_THAT(histogram.upper_bounds(), ElementsAre(1, 5, 10));
}

TEST(TelemetryInstruments, HistogramNaNGoesToInfBucket) {
  Histogram histogram({1});
  histogram.observe(std::numeric_limits<double>::quiet_NaN());
  EXPECT_THAT(histogram.cumulative_counts(), ElementsAre(0, 1));
  EXPECT_TRUE(std::isnan(histogram.sum()));
}

TEST(TelemetryInstruments, HistogramWithoutBoundsHasOnlyInf) {
  Histogram histogram({});
  histogram.observe(3);
  EXPECT_THAT(histogram.cumulative_counts(), ElementsAre(1));
}

TEST(TelemetryInstruments, HistogramRejectsBadBounds) {
  EXPECT_THAT(invalid_argument_message([] { Histogram h({1, 1}); }), HasSubstr("increase strictly"));
  EXPECT_THAT(invalid_argument_message([] { Histogram h({2, 1}); }), HasSubstr("2.000000"));
  EXPECT_THAT(invalid_argument_message([] { Histogram h({1, std::numeric_limits<double>::infinity()}); }),
              HasSubstr("not finite"));
  EXPECT_THAT(invalid_argument_message([] { Histogram h({std::numeric_limits<double>::quiet_NaN()}); }),
              HasSubstr("index 0"));
}

TEST(TelemetryInstruments, BucketHelpers) {
  EXPECT_THAT(exponential_buckets(0.001, 10, 4), Pointwise(DoubleNear(1e-12), std::vector<double>{0.001, 0.01, 0.1, 1}));
  EXPECT_THAT(exponential_buckets(1, 2, 4), ElementsAre(1, 2, 4, 8));
  EXPECT_THAT(linear_buckets(1, 2, 3), ElementsAre(1, 3, 5));
  EXPECT_THROW(exponential_buckets(0, 2, 3), std::invalid_argument);
  EXPECT_THROW(exponential_buckets(1, 1, 3), std::invalid_argument);
  EXPECT_THROW(linear_buckets(1, 0, 3), std::invalid_argument);
  EXPECT_THROW(linear_buckets(1, 1, 0), std::invalid_argument);
}

TEST(TelemetryInstruments, ConcurrentUpdatesAreNotLost) {
  Counter counter;
  Gauge gauge;
  Histogram histogram({10});
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        counter.inc();
        gauge.add(1);
        histogram.observe(i % 20);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter.value(), static_cast<std::uint64_t>(kThreads * kPerThread));
  EXPECT_DOUBLE_EQ(gauge.value(), kThreads * kPerThread);
  EXPECT_EQ(histogram.count(), static_cast<std::uint64_t>(kThreads * kPerThread));
  EXPECT_THAT(histogram.cumulative_counts(), ElementsAre(kThreads * kPerThread * 11 / 20, kThreads * kPerThread));
}

TEST(TelemetryNames, MetricNamesFollowPrometheusRules) {
  for (const char* good : {"a", "_a", "a:b", "trellis_calls_total", "A1_:z", ":a"}) {
    EXPECT_TRUE(is_valid_metric_name(good)) << good;
  }
  for (const char* bad : {"", "1a", "a-b", "a b", "a.b", "__reserved", "caf\xC3\xA9"}) {
    EXPECT_FALSE(is_valid_metric_name(bad)) << bad;
  }
}

TEST(TelemetryNames, LabelNamesFollowPrometheusRules) {
  for (const char* good : {"a", "_a", "method", "A_1"}) EXPECT_TRUE(is_valid_label_name(good)) << good;
  for (const char* bad : {"", "1a", "a:b", "a-b", "__name__", "__x"}) EXPECT_FALSE(is_valid_label_name(bad)) << bad;
}

TEST(TelemetryRegistry, SameNameAndLabelsIsTheSameInstrument) {
  Registry registry;
  Counter& a = registry.counter("calls_total", "Calls.", {{"method", "x"}, {"outcome", "ok"}});
  Counter& b = registry.counter("calls_total", "ignored help", {{"outcome", "ok"}, {"method", "x"}});
  Counter& other = registry.counter("calls_total", "Calls.", {{"method", "x"}, {"outcome", "error"}});
  EXPECT_EQ(&a, &b) << "label order does not matter";
  EXPECT_NE(&a, &other);
  EXPECT_EQ(&registry.gauge("g", ""), &registry.gauge("g", ""));
  EXPECT_EQ(&registry.histogram("h", "", {1, 2}), &registry.histogram("h", "", {1, 2}));
}

TEST(TelemetryRegistry, ReferencesStayValidAsTheRegistryGrows) {
  Registry registry;
  Counter& first = registry.counter("c", "", {{"i", "first"}});
  first.inc(7);
  for (int i = 0; i < 1000; ++i) {
    registry.counter("c", "", {{"i", std::to_string(i)}}).inc();
    registry.gauge("g" + std::to_string(i), "").set(i);
  }
  EXPECT_EQ(&first, &registry.counter("c", "", {{"i", "first"}}));
  EXPECT_EQ(first.value(), 7U);
}

TEST(TelemetryRegistry, InvalidNamesAreRejectedWithTheValue) {
  Registry registry;
  EXPECT_THAT(invalid_argument_message([&] { registry.counter("1bad", ""); }), HasSubstr("\"1bad\""));
  EXPECT_THAT(invalid_argument_message([&] { registry.gauge("bad-name", ""); }), HasSubstr("\"bad-name\""));
  EXPECT_THAT(invalid_argument_message([&] { registry.histogram("__h", "", {1}); }), HasSubstr("\"__h\""));
  EXPECT_THAT(invalid_argument_message([&] { registry.counter("ok", "", {{"bad:label", "v"}}); }),
              HasSubstr("\"bad:label\""));
  EXPECT_THAT(invalid_argument_message([&] { registry.counter("ok", "", {{"__x", "v"}}); }), HasSubstr("\"__x\""));
  EXPECT_THAT(invalid_argument_message([&] { registry.counter("ok", "", {{"a", "1"}, {"a", "2"}}); }),
              HasSubstr("\"a\" appears twice"));
  EXPECT_THAT(invalid_argument_message([&] { registry.histogram("h", "", {1}, {{"le", "1"}}); }),
              HasSubstr("\"le\""));
  EXPECT_EQ(registry.prometheus_text(), "") << "failed registrations leave nothing behind";
}

TEST(TelemetryRegistry, SameNameAsAnotherTypeIsRejected) {
  Registry registry;
  registry.counter("thing", "");
  const std::string message = invalid_argument_message([&] { registry.gauge("thing", ""); });
  EXPECT_THAT(message, HasSubstr("\"thing\""));
  EXPECT_THAT(message, HasSubstr("already registered as a counter, not a gauge"));
  EXPECT_THAT(invalid_argument_message([&] { registry.histogram("thing", "", {1}); }),
              HasSubstr("as a counter, not a histogram"));
  registry.histogram("lat", "", {1});
  EXPECT_THAT(invalid_argument_message([&] { registry.counter("lat", "", {{"other", "labels"}}); }),
              HasSubstr("as a histogram, not a counter"));
}

TEST(TelemetryRegistry, HistogramSeriesWithOtherBoundsIsRejected) {
  Registry registry;
  registry.histogram("lat", "", {1, 2}, {{"op", "a"}});
  EXPECT_THAT(invalid_argument_message([&] { registry.histogram("lat", "", {1, 3}, {{"op", "a"}}); }),
              HasSubstr("different bucket bounds"));
  EXPECT_NO_THROW(registry.histogram("lat", "", {5}, {{"op", "b"}})) << "another series may choose its own";
}

TEST(TelemetryRegistry, GlobalIsOneInstance) { EXPECT_EQ(&Registry::global(), &Registry::global()); }

TEST(TelemetryRegistry, ConcurrentRegistrationYieldsOneInstrument) {
  Registry registry;
  constexpr int kThreads = 4;
  std::vector<Counter*> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        seen[static_cast<std::size_t>(t)] = &registry.counter("shared_total", "", {{"k", "v"}});
        seen[static_cast<std::size_t>(t)]->inc();
        registry.gauge("g_" + std::to_string(t), "").add(1);
        if (i % 50 == 0) (void)registry.prometheus_text();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (Counter* c : seen) EXPECT_EQ(c, seen.front());
  EXPECT_EQ(seen.front()->value(), static_cast<std::uint64_t>(kThreads * 500));
}

}  // namespace
}  // namespace trellis::telemetry
