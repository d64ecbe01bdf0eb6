// telemetry::Logger: levels, the JSON line shape, sinks, and redaction on the way out.
#include "trellis/telemetry/log.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace trellis::telemetry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The string in `v`, or a note saying it is not a string (so a failure shows what it was).
std::string text(const boost::json::value& v) {
  return v.is_string() ? std::string(v.as_string()) : "<not a string: " + boost::json::serialize(v) + ">";
}

// A logger whose lines land in `lines` (the sink runs under the logger's mutex).
class TelemetryLogger : public ::testing::Test {
 protected:
  TelemetryLogger() {
    logger.set_sink([this](std::string_view line) { lines.emplace_back(line); });
  }

  boost::json::object parsed(std::size_t i) const { return boost::json::parse(lines.at(i)).as_object(); }

  Logger logger;
  std::vector<std::string> lines;
};

TEST(TelemetryLevel, NamesRoundTrip) {
  for (const Level level : {Level::trace, Level::debug, Level::info, Level::warn, Level::error, Level::off}) {
    EXPECT_EQ(parse_level(to_string(level)), level) << to_string(level);
  }
  EXPECT_EQ(to_string(Level::warn), "warn");
  EXPECT_EQ(parse_level("WARNING"), Level::warn);
  EXPECT_EQ(parse_level("Debug"), Level::debug);
  EXPECT_EQ(parse_level("verbose"), std::nullopt);
  EXPECT_EQ(parse_level(""), std::nullopt);
}

TEST(TelemetryTimestamp, UtcWithTruncatedMilliseconds) {
  using namespace std::chrono;
  const sys_days day = year{2026} / November / 22;
  EXPECT_EQ(format_timestamp(day + 21h + 123ms), "2026-11-22T21:00:00.123Z");
  EXPECT_EQ(format_timestamp(day + 23h + 59min + 59s + 999999us), "2026-11-22T23:59:59.999Z");
  EXPECT_EQ(format_timestamp(system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_timestamp(sys_days{year{2024} / February / 29} + 7s + 5ms), "2024-02-29T00:00:07.005Z");
}

TEST(TelemetryLogLine, ShapeIsTsLevelEventThenFields) {
  using namespace std::chrono;
  const auto when = sys_days{year{2026} / November / 22} + 21h + 123ms;
  EXPECT_EQ(format_log_line(when, Level::info, "trellis.client.reconnect", {{"attempt", 3}, {"why", "eof"}}),
            R"({"ts":"2026-11-22T21:00:00.123Z","level":"info","event":"trellis.client.reconnect",)"
            R"("attempt":3,"why":"eof"})");
  EXPECT_EQ(format_log_line(when, Level::warn, "e", {{"level", "mine"}, {"ts", 1}, {"event", "x"}}),
            R"({"ts":"2026-11-22T21:00:00.123Z","level":"warn","event":"e",)"
            R"("field.level":"mine","field.ts":1,"field.event":"x"})");
  EXPECT_EQ(format_log_line(when, Level::error, "quote\"and\nnewline", {}),
            R"({"ts":"2026-11-22T21:00:00.123Z","level":"error","event":"quote\"and\nnewline"})");
}

TEST_F(TelemetryLogger, DefaultsToInfo) {
  EXPECT_EQ(logger.level(), Level::info);
  EXPECT_FALSE(logger.enabled(Level::debug));
  EXPECT_TRUE(logger.enabled(Level::info));
}

TEST_F(TelemetryLogger, FiltersBelowLevel) {
  logger.set_level(Level::warn);
  logger.trace("t");
  logger.debug("d");
  logger.info("i");
  logger.warn("w");
  logger.error("e");
  logger.log(Level::off, "never");
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(text(parsed(0).at("event")), "w");
  EXPECT_EQ(text(parsed(1).at("level")), "error");

  logger.set_level(Level::trace);
  EXPECT_TRUE(logger.enabled(Level::trace));
  EXPECT_FALSE(logger.enabled(Level::off));
  logger.trace("t");
  EXPECT_EQ(lines.size(), 3U);

  logger.set_level(Level::off);
  EXPECT_FALSE(logger.enabled(Level::error));
  logger.error("e");
  EXPECT_EQ(lines.size(), 3U);
}

TEST_F(TelemetryLogger, LineParsesBackWithFieldsInOrder) {
  logger.info("trellis.session.open", {{"session", "abc"}, {"inflight", 2}, {"ok", true}, {"peer", {{"port", 8080}}}});
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_EQ(lines[0].find('\n'), std::string::npos) << "the sink gets the line without a newline";
  const boost::json::object line = parsed(0);
  std::vector<std::string> keys;
  for (const auto& field : line) keys.emplace_back(field.key());
  EXPECT_THAT(keys, ElementsAre("ts", "level", "event", "session", "inflight", "ok", "peer"));
  EXPECT_TRUE(std::regex_match(std::string(line.at("ts").as_string()),
                               std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)")));
  EXPECT_EQ(text(line.at("level")), "info");
  EXPECT_EQ(text(line.at("event")), "trellis.session.open");
  EXPECT_EQ(line.at("inflight"), 2);
  EXPECT_EQ(line.at("peer").at("port"), 8080);
}

TEST_F(TelemetryLogger, RedactsSecretsAndTruncatesLongStrings) {
  logger.info("trellis.http.request", {{"headers", {{"Authorization", "Bearer abc"}, {"Accept", "*/*"}}},
                                       {"access_token", "t0k3n"},
                                       {"body", std::string(5000, 'x')}});
  const boost::json::object line = parsed(0);
  EXPECT_EQ(text(line.at("access_token")), kRedacted);
  EXPECT_EQ(text(line.at("headers").at("Authorization")), kRedacted);
  EXPECT_EQ(text(line.at("headers").at("Accept")), "*/*");
  EXPECT_EQ(text(line.at("body")), std::string(1024, 'x') + "...[+3976 bytes]");
  EXPECT_THAT(lines[0], ::testing::Not(HasSubstr("t0k3n")));

  logger.set_max_string_bytes(4);
  EXPECT_EQ(logger.max_string_bytes(), 4U);
  logger.info("e", {{"s", "abcdefgh"}});
  EXPECT_EQ(text(parsed(1).at("s")), "abcd...[+4 bytes]");
}

TEST_F(TelemetryLogger, ThrowingSinkLosesOnlyThatLine) {
  logger.set_sink([](std::string_view) { throw std::runtime_error("disk full"); });
  EXPECT_NO_THROW(logger.info("lost"));
  EXPECT_EQ(logger.sink_failures(), 1U);
}

TEST_F(TelemetryLogger, DefaultSinkWritesOneLineToStderr) {
  logger.set_sink({});
  ::testing::internal::CaptureStderr();
  logger.warn("to.stderr", {{"n", 1}});
  const std::string out = ::testing::internal::GetCapturedStderr();
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back(), '\n');
  EXPECT_EQ(out.find('\n'), out.size() - 1);
  const boost::json::object line = boost::json::parse(out).as_object();
  EXPECT_EQ(text(line.at("event")), "to.stderr");
  EXPECT_TRUE(lines.empty());
}

TEST_F(TelemetryLogger, ConcurrentLinesNeverInterleave) {
  constexpr int kThreads = 4;
  constexpr int kLinesPerThread = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kLinesPerThread; ++i) {
        logger.info("load", {{"thread", t}, {"i", i}, {"pad", std::string(100, static_cast<char>('a' + t))}});
        logger.debug("dropped");  // below level, concurrently with the others
        if (i == kLinesPerThread / 2 && t == 0) logger.set_level(Level::info);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kThreads * kLinesPerThread));
  for (const auto& line : lines) {
    const boost::json::object object = boost::json::parse(line).as_object();
    EXPECT_EQ(text(object.at("event")), "load");
  }
}

TEST(TelemetryLoggerGlobal, IsOneInstance) { EXPECT_EQ(&Logger::global(), &Logger::global()); }

}  // namespace
}  // namespace trellis::telemetry
