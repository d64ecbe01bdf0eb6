// trellis/telemetry/metrics.hpp — counters, gauges and histograms, and their Prometheus text.
//
// A Registry owns named instruments and renders them in the Prometheus text exposition format
// 0.0.4 (what `/metrics` serves). Look an instrument up once, keep the reference, and update it
// on the hot path: updates are single relaxed atomic operations, never a lock.
//
//   auto& registry = trellis::telemetry::Registry::global();
//   auto& calls = registry.counter("trellis_calls_total", "Calls completed.", {{"outcome", "ok"}});
//   auto& latency = registry.histogram("trellis_call_seconds", "Call latency.",
//                                      {0.001, 0.01, 0.1, 1});
//   calls.inc();
//   latency.observe(0.004);
//   std::string body = registry.prometheus_text();
//
// Registering is the slow path (a mutex and a map lookup) and validates names: a bad metric or
// label name, or a name already registered as another type, throws std::invalid_argument naming
// the offending value.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace trellis::telemetry {

namespace detail {
struct RegistryState;
}  // namespace detail

// Label name/value pairs of one series. Order does not matter: a registry sorts them by name, so
// {{"a","1"},{"b","2"}} and {{"b","2"},{"a","1"}} name the same series.
using Labels = std::vector<std::pair<std::string, std::string>>;

// A monotonically increasing count (Prometheus type `counter`).
class Counter {
 public:
  Counter() noexcept = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Adds `n`. Wraps around at 2^64 (never reached in practice).
  void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  // The current count.
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// A value that goes up and down (Prometheus type `gauge`).
class Gauge {
 public:
  Gauge() noexcept = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  // Replaces the value.
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  // Adds `d` (negative to subtract) atomically: concurrent adds are never lost.
  void add(double d) noexcept {
    double current = value_.load(std::memory_order_relaxed);
    while (!value_.compare_exchange_weak(current, current + d, std::memory_order_relaxed)) {
    }
  }
  // The current value.
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Counts observations into buckets by upper bound (Prometheus type `histogram`). An observation
// v falls in the first bucket whose bound satisfies v <= bound, else in the implicit +Inf bucket.
class Histogram {
 public:
  // Throws std::invalid_argument unless `upper_bounds` are finite and strictly increasing. An
  // empty list is allowed (only the +Inf bucket).
  explicit Histogram(std::vector<double> upper_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Records one observation. NaN lands in the +Inf bucket and makes sum() NaN.
  void observe(double v) noexcept;
  // Observations so far (equals the +Inf bucket of cumulative_counts()).
  std::uint64_t count() const noexcept;
  // Sum of all observations.
  double sum() const noexcept;

  // The finite bucket bounds, ascending, as given at construction.
  std::span<const double> upper_bounds() const noexcept { return upper_bounds_; }
  // Cumulative counts per bucket: element i counts observations <= upper_bounds()[i]; the last
  // element (index upper_bounds().size()) is the +Inf bucket, i.e. the total count.
  std::vector<std::uint64_t> cumulative_counts() const;

 private:
  std::vector<double> upper_bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // upper_bounds_.size() + 1, not cumulative
  std::atomic<double> sum_{0.0};
};

// `count` bounds start, start*factor, start*factor^2, ... Throws std::invalid_argument unless
// start > 0, factor > 1 and count >= 1.
std::vector<double> exponential_buckets(double start, double factor, std::size_t count);
// `count` bounds start, start+width, start+2*width, ... Throws std::invalid_argument unless
// width > 0 and count >= 1.
std::vector<double> linear_buckets(double start, double width, std::size_t count);

// Whether `name` is a valid Prometheus metric name: [a-zA-Z_:][a-zA-Z0-9_:]*, not starting with
// "__" (reserved for Prometheus itself).
bool is_valid_metric_name(std::string_view name) noexcept;
// Whether `name` is a valid Prometheus label name: [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__".
bool is_valid_label_name(std::string_view name) noexcept;

// Owns instruments by (name, labels) and renders them as Prometheus text. Registration is
// thread-safe; the returned references stay valid for the registry's lifetime.
class Registry {
 public:
  // An empty registry (tests and embedders that want their own /metrics).
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The process-wide registry every Trellis component registers in. Never destroyed, so
  // references into it stay valid even during static destruction.
  static Registry& global() noexcept;

  // The counter called `name` with `labels`, created on first use. The help text of the first
  // registration of a name wins. Throws std::invalid_argument for an invalid metric or label name,
  // a repeated label name, or a name already registered as a gauge or histogram.
  Counter& counter(std::string_view name, std::string_view help, Labels labels = {});
  // As counter(), for a gauge.
  Gauge& gauge(std::string_view name, std::string_view help, Labels labels = {});
  // As counter(), for a histogram with the given bucket bounds (see Histogram). Additionally
  // throws when a label is called "le" (reserved for buckets) or when this exact series already
  // exists with different bounds.
  Histogram& histogram(std::string_view name, std::string_view help, std::vector<double> upper_bounds,
                       Labels labels = {});

  // Every family in the Prometheus text exposition format 0.0.4: `# HELP`, `# TYPE`, then the
  // samples. Families are sorted by name and series by their (sorted) labels, so the output is
  // deterministic. Histograms expose cumulative `_bucket{le="..."}` series ending in le="+Inf",
  // then `_sum` and `_count`. Serve it as `text/plain; version=0.0.4; charset=utf-8`.
  std::string prometheus_text() const;

 private:
  std::unique_ptr<detail::RegistryState> state_;
};

}  // namespace trellis::telemetry
