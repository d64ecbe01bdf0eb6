// Hot-path costs of telemetry: what an instrumented I/O thread pays per event, count and log call.
#include "trellis/telemetry/events.hpp"
#include "trellis/telemetry/log.hpp"
#include "trellis/telemetry/metrics.hpp"

#include <benchmark/benchmark.h>

namespace trellis::telemetry {
namespace {

void BM_TelemetryCounterInc(benchmark::State& state) {
  Registry registry;
  Counter& counter = registry.counter("bench_total", "Benchmark counter.");
  for (auto _ : state) counter.inc();
  benchmark::DoNotOptimize(counter.value());
}
BENCHMARK(BM_TelemetryCounterInc)->ThreadRange(1, 2);

void BM_TelemetryHistogramObserve(benchmark::State& state) {
  Registry registry;
  Histogram& histogram = registry.histogram("bench_seconds", "Benchmark histogram.",
                                            exponential_buckets(0.0001, 2, 16));
  double v = 0;
  for (auto _ : state) {
    histogram.observe(v);
    v = v < 10 ? v + 0.001 : 0;
  }
  benchmark::DoNotOptimize(histogram.count());
}
BENCHMARK(BM_TelemetryHistogramObserve);

void BM_TelemetryEmitNoSubscribers(benchmark::State& state) {
  Registry registry;
  const Dispatcher dispatcher{registry};
  const boost::json::object measurements{{"duration_us", 12}};
  const boost::json::object metadata{{"machine", "client"}};
  for (auto _ : state) dispatcher.emit("trellis.fsm.transition", measurements, metadata);
}
BENCHMARK(BM_TelemetryEmitNoSubscribers);

void BM_TelemetryHasSubscribersNone(benchmark::State& state) {
  Registry registry;
  const Dispatcher dispatcher{registry};
  for (auto _ : state) benchmark::DoNotOptimize(dispatcher.has_subscribers("trellis.fsm.transition"));
}
BENCHMARK(BM_TelemetryHasSubscribersNone);

void BM_TelemetryEmitOneSubscriber(benchmark::State& state) {
  Registry registry;
  Dispatcher dispatcher{registry};
  std::uint64_t seen = 0;
  const Subscription subscription{dispatcher, "trellis.fsm", [&](const Event& e) { seen += e.name.size(); }};
  const boost::json::object measurements{{"duration_us", 12}};
  const boost::json::object metadata{{"machine", "client"}};
  for (auto _ : state) dispatcher.emit("trellis.fsm.transition", measurements, metadata);
  benchmark::DoNotOptimize(seen);
}
BENCHMARK(BM_TelemetryEmitOneSubscriber);

void BM_TelemetryEmitOneSubscriberContended(benchmark::State& state) {
  static Registry registry;
  static Dispatcher dispatcher{registry};
  static std::atomic<std::uint64_t> seen{0};
  static Subscription subscription;
  if (state.thread_index() == 0 && !subscription) {
    subscription = Subscription{dispatcher, "trellis.fsm", [](const Event&) { seen.fetch_add(1, std::memory_order_relaxed); }};
  }
  const boost::json::object measurements{{"duration_us", 12}};
  const boost::json::object metadata{{"machine", "client"}};
  for (auto _ : state) dispatcher.emit("trellis.fsm.transition", measurements, metadata);
}
BENCHMARK(BM_TelemetryEmitOneSubscriberContended)->Threads(2);

void BM_TelemetryLogBelowLevel(benchmark::State& state) {
  Logger logger;
  logger.set_sink([](std::string_view) {});
  logger.set_level(Level::info);
  for (auto _ : state) {
    if (logger.enabled(Level::debug)) logger.debug("trellis.bench", {{"n", 1}});
  }
}
BENCHMARK(BM_TelemetryLogBelowLevel);

void BM_TelemetryLogCallBelowLevel(benchmark::State& state) {
  // Without the enabled() guard: the fields object is still built by the caller.
  Logger logger;
  logger.set_sink([](std::string_view) {});
  for (auto _ : state) logger.debug("trellis.bench");
}
BENCHMARK(BM_TelemetryLogCallBelowLevel);

void BM_TelemetryLogLineWritten(benchmark::State& state) {
  Logger logger;
  std::size_t bytes = 0;
  logger.set_sink([&](std::string_view line) { bytes += line.size(); });
  for (auto _ : state) logger.info("trellis.bench", {{"session", "abc123"}, {"inflight", 3}});
  benchmark::DoNotOptimize(bytes);
}
BENCHMARK(BM_TelemetryLogLineWritten);

}  // namespace
}  // namespace trellis::telemetry
