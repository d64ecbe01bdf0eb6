// registry_state.hpp — what a Registry stores, shared by registration and exposition.
#pragma once

#include "trellis/telemetry/metrics.hpp"

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <variant>

namespace trellis::telemetry {

enum class MetricType { counter, gauge, histogram };

// "counter", "gauge" or "histogram", as in `# TYPE`.
std::string_view to_string(MetricType type) noexcept;

// One series' instrument. unique_ptr keeps its address stable while the maps rebalance.
using Instrument = std::variant<std::unique_ptr<Counter>, std::unique_ptr<Gauge>, std::unique_ptr<Histogram>>;

// All series sharing one metric name.
struct Family {
  MetricType type;
  std::string help;
  std::map<Labels, Instrument> series;  // keys have their labels sorted by name
};

struct detail::RegistryState {
  mutable std::mutex mutex;                           // guards families (not the instruments)
  std::map<std::string, Family, std::less<>> families;  // sorted by name: deterministic output
};

}  // namespace trellis::telemetry
