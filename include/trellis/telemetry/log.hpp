// trellis/telemetry/log.hpp — structured JSON-lines logging with levels and redaction.
//
// Each log call produces one line holding one JSON object: a UTC timestamp with milliseconds,
// the level, an event name, then the caller's fields. Lines go to stderr by default — never
// stdout, which carries the stdio transport.
//
//   auto& log = trellis::telemetry::Logger::global();
//   log.set_level(trellis::telemetry::Level::debug);
//   log.info("trellis.client.reconnect", {{"attempt", 3}, {"delay_ms", 2000}});
//   // {"ts":"2026-11-22T21:00:00.123Z","level":"info","event":"trellis.client.reconnect",
//   //  "attempt":3,"delay_ms":2000}
//
// Design 003 says logs carry "never full arguments, never tokens; cap string sizes". The logger
// enforces the parts it can: values under secret-looking keys ("token", "authorization", ...,
// see default_secret_keys) are replaced by "[redacted]" at any depth, and long strings are cut
// (truncate_for_log). Callers still choose what to log: pass sizes and ids, not payloads.
//
// A call below the current level costs one relaxed atomic load and formats nothing.
#pragma once

#include <boost/json/object.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace trellis::telemetry {

// Severity, lowest first. `off` as a logger level disables all output; it is not a message level.
enum class Level { trace, debug, info, warn, error, off };

// "trace", "debug", "info", "warn", "error" or "off".
std::string_view to_string(Level level) noexcept;

// The level named `text`, ignoring ASCII case; "warning" is accepted for warn. nullopt when the
// text names no level.
std::optional<Level> parse_level(std::string_view text) noexcept;

// What every redacted value is replaced with.
inline constexpr std::string_view kRedacted = "[redacted]";

// Returns kRedacted whatever `secret` is: not even its length is revealed (a password's length
// is a secret too). Use it at call sites so the intent is visible: {"token", redact(token)}.
std::string redact(std::string_view secret);

// `s` itself when it has at most `max` bytes; otherwise its longest prefix of at most `max`
// bytes that does not split a UTF-8 sequence, followed by the marker "...[+N bytes]" where N is
// how many bytes were cut. The result is therefore at most max + 32 bytes long.
std::string truncate_for_log(std::string_view s, std::size_t max = 256);

// Keys whose values are secrets: token, authorization, password, passwd, passphrase, secret,
// api_key, apikey, access_key, private_key, cookie, credential, credentials, bearer.
std::span<const std::string_view> default_secret_keys() noexcept;

// Whether the JSON key `key` names a secret. Keys are compared as words, ignoring ASCII case: a
// key is split into words at '_', '-', '.', ' ' and camelCase humps, and it is a secret when it
// ends with the words of one entry of `secret_keys`. With the default list "Authorization",
// "access_token", "refreshToken", "X-Api-Key", "client_secret" and "aws_secret_access_key" are
// secrets, while "max_tokens", "token_type" and "password_policy" are not.
bool is_secret_key(std::string_view key,
                   std::span<const std::string_view> secret_keys = default_secret_keys()) noexcept;

// `fields` with the value of every secret key (is_secret_key) replaced by kRedacted, in nested
// objects and in objects inside arrays too.
boost::json::object redact_fields(boost::json::object fields,
                                  std::span<const std::string_view> secret_keys = default_secret_keys());

// `fields` with every string longer than `max_string_bytes`, at any depth, replaced by
// truncate_for_log(string, max_string_bytes).
boost::json::object truncate_fields(boost::json::object fields, std::size_t max_string_bytes);

// "2026-11-22T21:00:00.123Z": UTC, millisecond precision (truncated, not rounded).
std::string format_timestamp(std::chrono::system_clock::time_point when);

// The log line (without a trailing newline) for one call, exactly as Logger writes it, except
// that Logger first redacts and truncates `fields`. Fields named "ts", "level" or "event" would
// clash with the line's own keys and are written as "field.ts", "field.level", "field.event".
std::string format_log_line(std::chrono::system_clock::time_point when, Level level,
                            std::string_view event, const boost::json::object& fields);

// Writes JSON lines to a sink. Thread-safe: lines from concurrent calls never interleave.
class Logger {
 public:
  // Receives one complete line, without the trailing newline.
  using Sink = std::function<void(std::string_view line)>;

  // A logger at level info writing to stderr.
  Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  // The process-wide logger Trellis components write to. Never destroyed.
  static Logger& global() noexcept;

  // Messages below `level` are dropped; Level::off drops everything.
  void set_level(Level level) noexcept;
  // The current threshold.
  Level level() const noexcept;
  // Whether a message at `level` would be written. Use it to skip building expensive fields.
  bool enabled(Level level) const noexcept;

  // Replaces where lines go; an empty function restores the default (line + '\n' to stderr).
  // The sink is called under the logger's mutex, one line at a time; it must not log through
  // this logger. A sink that throws loses that line, which is counted in sink_failures().
  void set_sink(Sink sink);

  // Strings in fields longer than this are cut with truncate_for_log. Default 1024 bytes.
  void set_max_string_bytes(std::size_t max) noexcept;
  std::size_t max_string_bytes() const noexcept;

  // Writes one line if enabled(level): redacts secret keys in `fields`, truncates long strings,
  // formats (format_log_line) and hands the line to the sink. Never throws on account of the sink.
  void log(Level level, std::string_view event, boost::json::object fields = {});

  // Shorthands for log(Level::..., event, fields).
  void trace(std::string_view event, boost::json::object fields = {}) { log(Level::trace, event, std::move(fields)); }
  void debug(std::string_view event, boost::json::object fields = {}) { log(Level::debug, event, std::move(fields)); }
  void info(std::string_view event, boost::json::object fields = {}) { log(Level::info, event, std::move(fields)); }
  void warn(std::string_view event, boost::json::object fields = {}) { log(Level::warn, event, std::move(fields)); }
  void error(std::string_view event, boost::json::object fields = {}) { log(Level::error, event, std::move(fields)); }

  // Lines lost because the sink threw.
  std::uint64_t sink_failures() const noexcept;

 private:
  std::atomic<Level> level_{Level::info};
  std::atomic<std::size_t> max_string_bytes_{1024};
  std::atomic<std::uint64_t> sink_failures_{0};
  mutable std::mutex sink_mutex_;
  Sink sink_;  // guarded by sink_mutex_; empty means stderr
};

}  // namespace trellis::telemetry
