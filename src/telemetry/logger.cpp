// Logger: level filtering before any work, then one serialized line per call to the sink.
#include "trellis/telemetry/log.hpp"

#include <cstdio>

namespace trellis::telemetry {
namespace {

// One fwrite per line: stderr is unbuffered, so a line is not split between writes.
void write_to_stderr(std::string_view line) {
  std::string buffer;
  buffer.reserve(line.size() + 1);
  buffer.append(line);
  buffer += '\n';
  std::fwrite(buffer.data(), 1, buffer.size(), stderr);
}

}  // namespace

Logger::Logger() = default;

Logger& Logger::global() noexcept {
  static Logger* const instance = new Logger();
  return *instance;
}

void Logger::set_level(Level level) noexcept { level_.store(level, std::memory_order_relaxed); }

Level Logger::level() const noexcept { return level_.load(std::memory_order_relaxed); }

bool Logger::enabled(Level level) const noexcept {
  return level != Level::off && level >= level_.load(std::memory_order_relaxed);
}

void Logger::set_sink(Sink sink) {
  const std::lock_guard lock(sink_mutex_);
  sink_ = std::move(sink);
}

void Logger::set_max_string_bytes(std::size_t max) noexcept { max_string_bytes_.store(max, std::memory_order_relaxed); }

std::size_t Logger::max_string_bytes() const noexcept { return max_string_bytes_.load(std::memory_order_relaxed); }

std::uint64_t Logger::sink_failures() const noexcept { return sink_failures_.load(std::memory_order_relaxed); }

void Logger::log(Level level, std::string_view event, boost::json::object fields) {
  if (!enabled(level)) return;
  const auto now = std::chrono::system_clock::now();
  fields = truncate_fields(redact_fields(std::move(fields)), max_string_bytes());
  const std::string line = format_log_line(now, level, event, fields);
  const std::lock_guard lock(sink_mutex_);
  try {
    if (sink_) {
      sink_(line);
    } else {
      write_to_stderr(line);
    }
  } catch (...) {
    sink_failures_.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace trellis::telemetry
