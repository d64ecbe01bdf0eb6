// Prometheus naming rules for metric and label names.
#include "trellis/telemetry/metrics.hpp"

namespace trellis::telemetry {
namespace {

constexpr bool is_letter(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// [first][rest]*, not empty, not starting with the reserved "__".
template <class First, class Rest>
bool is_valid_name(std::string_view name, First first, Rest rest) noexcept {
  if (name.empty() || name.starts_with("__") || !first(name.front())) return false;
  for (const char c : name.substr(1)) {
    if (!rest(c)) return false;
  }
  return true;
}

}  // namespace

bool is_valid_metric_name(std::string_view name) noexcept {
  return is_valid_name(
      name, [](char c) { return is_letter(c) || c == '_' || c == ':'; },
      [](char c) { return is_letter(c) || is_digit(c) || c == '_' || c == ':'; });
}

bool is_valid_label_name(std::string_view name) noexcept {
  return is_valid_name(
      name, [](char c) { return is_letter(c) || c == '_'; },
      [](char c) { return is_letter(c) || is_digit(c) || c == '_'; });
}

}  // namespace trellis::telemetry
