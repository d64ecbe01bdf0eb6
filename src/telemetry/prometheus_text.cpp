// Registry::prometheus_text: the text exposition format 0.0.4.
#include "telemetry/prometheus_format.hpp"
#include "telemetry/registry_state.hpp"

namespace trellis::telemetry {
namespace {

// `{a="1",b="2"}`, with `le` appended last when given; nothing at all for no labels.
void append_labels(std::string& out, const Labels& labels, const std::string* le = nullptr) {
  if (labels.empty() && le == nullptr) return;
  out += '{';
  bool first = true;
  const auto append_one = [&](std::string_view name, std::string_view value) {
    if (!first) out += ',';
    first = false;
    out += name;
    out += "=\"";
    prometheus::append_label_value(out, value);
    out += '"';
  };
  for (const auto& [name, value] : labels) append_one(name, value);
  if (le != nullptr) append_one("le", *le);
  out += '}';
}

void append_sample(std::string& out, std::string_view name, std::string_view suffix, const Labels& labels,
                   std::string_view value, const std::string* le = nullptr) {
  out += name;
  out += suffix;
  append_labels(out, labels, le);
  out += ' ';
  out += value;
  out += '\n';
}

void append_histogram(std::string& out, std::string_view name, const Labels& labels, const Histogram& histogram) {
  // One read of the buckets, so _count always equals the +Inf bucket.
  const std::vector<std::uint64_t> cumulative = histogram.cumulative_counts();
  const auto bounds = histogram.upper_bounds();
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    const std::string le = prometheus::format_value(bounds[i]);
    append_sample(out, name, "_bucket", labels, std::to_string(cumulative[i]), &le);
  }
  const std::string inf = "+Inf";
  append_sample(out, name, "_bucket", labels, std::to_string(cumulative.back()), &inf);
  append_sample(out, name, "_sum", labels, prometheus::format_value(histogram.sum()));
  append_sample(out, name, "_count", labels, std::to_string(cumulative.back()));
}

}  // namespace

std::string Registry::prometheus_text() const {
  std::string out;
  const std::lock_guard lock(state_->mutex);
  for (const auto& [name, family] : state_->families) {
    if (!family.help.empty()) {
      out += "# HELP ";
      out += name;
      out += ' ';
      prometheus::append_help(out, family.help);
      out += '\n';
    }
    out += "# TYPE ";
    out += name;
    out += ' ';
    out += to_string(family.type);
    out += '\n';
    for (const auto& [labels, instrument] : family.series) {
      if (const auto* counter = std::get_if<std::unique_ptr<Counter>>(&instrument)) {
        append_sample(out, name, "", labels, std::to_string((*counter)->value()));
      } else if (const auto* gauge = std::get_if<std::unique_ptr<Gauge>>(&instrument)) {
        append_sample(out, name, "", labels, prometheus::format_value((*gauge)->value()));
      } else {
        append_histogram(out, name, labels, *std::get<std::unique_ptr<Histogram>>(instrument));
      }
    }
  }
  return out;
}

}  // namespace trellis::telemetry
