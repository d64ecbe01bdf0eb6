// Histogram buckets and the bucket-bound helpers.
#include "trellis/telemetry/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace trellis::telemetry {
namespace {

// `bounds` itself, after checking they are finite and strictly increasing.
std::vector<double> checked_bounds(std::vector<double> bounds) {
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) {
      throw std::invalid_argument("telemetry: histogram bucket bound " + std::to_string(bounds[i]) +
                                  " at index " + std::to_string(i) + " is not finite");
    }
    if (i > 0 && !(bounds[i - 1] < bounds[i])) {
      throw std::invalid_argument("telemetry: histogram bucket bounds must increase strictly, but " +
                                  std::to_string(bounds[i - 1]) + " at index " + std::to_string(i - 1) +
                                  " is followed by " + std::to_string(bounds[i]));
    }
  }
  return bounds;
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(checked_bounds(std::move(upper_bounds))),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(upper_bounds_.size() + 1)) {}

void Histogram::observe(double v) noexcept {
  // The first bound with v <= bound. Written as a negation so that NaN, for which every
  // comparison is false, lands in +Inf (index size()) rather than in the first bucket.
  const auto first_fit = std::partition_point(upper_bounds_.begin(), upper_bounds_.end(),
                                              [v](double bound) { return !(v <= bound); });
  const auto bucket = static_cast<std::size_t>(first_fit - upper_bounds_.begin());
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  double current = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(current, current + v, std::memory_order_relaxed)) {
  }
}

std::uint64_t Histogram::count() const noexcept {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= upper_bounds_.size(); ++i) total += buckets_[i].load(std::memory_order_relaxed);
  return total;
}

double Histogram::sum() const noexcept { return sum_.load(std::memory_order_relaxed); }

std::vector<std::uint64_t> Histogram::cumulative_counts() const {
  std::vector<std::uint64_t> out(upper_bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    out[i] = running;
  }
  return out;
}

std::vector<double> exponential_buckets(double start, double factor, std::size_t count) {
  if (!(start > 0) || !(factor > 1) || count == 0) {
    throw std::invalid_argument("telemetry: exponential_buckets needs start > 0, factor > 1, count >= 1; got start " +
                                std::to_string(start) + ", factor " + std::to_string(factor) + ", count " +
                                std::to_string(count));
  }
  std::vector<double> out(count);
  double bound = start;
  for (auto& b : out) {
    b = bound;
    bound *= factor;
  }
  return out;
}

std::vector<double> linear_buckets(double start, double width, std::size_t count) {
  if (!(width > 0) || count == 0) {
    throw std::invalid_argument("telemetry: linear_buckets needs width > 0, count >= 1; got width " +
                                std::to_string(width) + ", count " + std::to_string(count));
  }
  std::vector<double> out(count);
  for (std::size_t i = 0; i < count; ++i) out[i] = start + width * static_cast<double>(i);
  return out;
}

}  // namespace trellis::telemetry
