// The shape of one log line: timestamp, level, event, fields.
#include "trellis/telemetry/log.hpp"

#include <boost/json/serialize.hpp>

#include <array>
#include <cstdio>

namespace trellis::telemetry {

std::string format_timestamp(std::chrono::system_clock::time_point when) {
  using namespace std::chrono;
  const auto millis = floor<milliseconds>(when);
  const auto day = floor<days>(millis);
  const year_month_day date{day};
  const hh_mm_ss<milliseconds> time{millis - day};
  std::array<char, 40> buf{};
  const int n = std::snprintf(buf.data(), buf.size(), "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                              static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                              static_cast<unsigned>(date.day()), static_cast<int>(time.hours().count()),
                              static_cast<int>(time.minutes().count()), static_cast<int>(time.seconds().count()),
                              static_cast<int>(time.subseconds().count()));
  return std::string(buf.data(), n > 0 ? static_cast<std::size_t>(n) : 0);
}

std::string format_log_line(std::chrono::system_clock::time_point when, Level level, std::string_view event,
                            const boost::json::object& fields) {
  boost::json::object line(fields.size() + 3);
  line.emplace("ts", format_timestamp(when));
  line.emplace("level", to_string(level));
  line.emplace("event", event);
  for (const auto& field : fields) {
    const std::string_view key = field.key();
    if (key == "ts" || key == "level" || key == "event") {
      line.insert_or_assign("field." + std::string(key), field.value());
    } else {
      line.insert_or_assign(key, field.value());
    }
  }
  return boost::json::serialize(line);
}

}  // namespace trellis::telemetry
