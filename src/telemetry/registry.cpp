// Registry: validated, deduplicated registration of instruments.
#include "telemetry/registry_state.hpp"

#include <algorithm>
#include <stdexcept>
#include <type_traits>

namespace trellis::telemetry {
namespace {

void require_valid_metric_name(std::string_view name) {
  if (!is_valid_metric_name(name)) {
    throw std::invalid_argument("telemetry: invalid metric name \"" + std::string(name) +
                                "\" (must match [a-zA-Z_:][a-zA-Z0-9_:]* and not start with \"__\")");
  }
}

// `labels` sorted by name, after checking every name is valid, unique, and allowed for `type`.
Labels normalized_labels(std::string_view metric, MetricType type, Labels labels) {
  for (const auto& [name, value] : labels) {
    if (!is_valid_label_name(name)) {
      throw std::invalid_argument("telemetry: invalid label name \"" + name + "\" on metric \"" + std::string(metric) +
                                  "\" (must match [a-zA-Z_][a-zA-Z0-9_]* and not start with \"__\")");
    }
    if (type == MetricType::histogram && name == "le") {
      throw std::invalid_argument("telemetry: label name \"le\" on histogram \"" + std::string(metric) +
                                  "\" is reserved for bucket bounds");
    }
  }
  std::stable_sort(labels.begin(), labels.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  const auto repeated = std::adjacent_find(labels.begin(), labels.end(),
                                           [](const auto& a, const auto& b) { return a.first == b.first; });
  if (repeated != labels.end()) {
    throw std::invalid_argument("telemetry: label name \"" + repeated->first + "\" appears twice on metric \"" +
                                std::string(metric) + "\"");
  }
  return labels;
}

template <class T>
constexpr MetricType type_of() noexcept {
  if constexpr (std::is_same_v<T, Counter>) return MetricType::counter;
  if constexpr (std::is_same_v<T, Gauge>) return MetricType::gauge;
  return MetricType::histogram;
}

// The family called `name`, created with `help` if new; throws if it exists with another type.
Family& family_for(detail::RegistryState& state, std::string_view name, std::string_view help, MetricType type) {
  auto it = state.families.find(name);
  if (it == state.families.end()) {
    it = state.families.emplace(std::string(name), Family{type, std::string(help), {}}).first;
  } else if (it->second.type != type) {
    throw std::invalid_argument("telemetry: metric \"" + std::string(name) + "\" is already registered as a " +
                                std::string(to_string(it->second.type)) + ", not a " +
                                std::string(to_string(type)));
  }
  return it->second;
}

// Finds or creates the series; `make` builds a new instrument, `check` vets an existing one.
template <class T, class Make, class Check>
T& find_or_add(detail::RegistryState& state, std::string_view name, std::string_view help, Labels labels, Make make,
               Check check) {
  constexpr MetricType type = type_of<T>();
  require_valid_metric_name(name);
  labels = normalized_labels(name, type, std::move(labels));
  const std::lock_guard lock(state.mutex);
  Family& family = family_for(state, name, help, type);
  auto it = family.series.find(labels);
  if (it != family.series.end()) {
    T& existing = *std::get<std::unique_ptr<T>>(it->second);
    check(existing);
    return existing;
  }
  auto instrument = make();
  T& out = *instrument;
  family.series.emplace(std::move(labels), Instrument{std::move(instrument)});
  return out;
}

}  // namespace

std::string_view to_string(MetricType type) noexcept {
  switch (type) {
    case MetricType::counter: return "counter";
    case MetricType::gauge: return "gauge";
    case MetricType::histogram: return "histogram";
  }
  return "untyped";
}

Registry::Registry() : state_(std::make_unique<detail::RegistryState>()) {}

Registry::~Registry() = default;

Registry& Registry::global() noexcept {
  static Registry* const instance = new Registry();
  return *instance;
}

Counter& Registry::counter(std::string_view name, std::string_view help, Labels labels) {
  return find_or_add<Counter>(
      *state_, name, help, std::move(labels), [] { return std::make_unique<Counter>(); }, [](const Counter&) {});
}

Gauge& Registry::gauge(std::string_view name, std::string_view help, Labels labels) {
  return find_or_add<Gauge>(
      *state_, name, help, std::move(labels), [] { return std::make_unique<Gauge>(); }, [](const Gauge&) {});
}

Histogram& Registry::histogram(std::string_view name, std::string_view help, std::vector<double> upper_bounds,
                               Labels labels) {
  // Built before taking the lock so invalid bounds throw before anything is registered.
  auto fresh = std::make_unique<Histogram>(std::move(upper_bounds));
  return find_or_add<Histogram>(
      *state_, name, help, std::move(labels), [&] { return std::move(fresh); },
      [&](const Histogram& existing) {
        if (!std::ranges::equal(existing.upper_bounds(), fresh->upper_bounds())) {
          throw std::invalid_argument("telemetry: histogram \"" + std::string(name) +
                                      "\" is already registered for these labels with different bucket bounds");
        }
      });
}

}  // namespace trellis::telemetry
