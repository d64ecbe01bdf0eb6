// transport/sse_parser.hpp — an incremental parser for `text/event-stream` (Server-Sent Events).
//
// Follows the WHATWG HTML "event stream interpretation" rules: lines end with CRLF, LF or CR (a
// CRLF split across two chunks is one line end); one leading UTF-8 BOM is dropped; lines starting
// with ':' are comments; `data` lines accumulate, joined by LF; `event` names the type; `id` sets
// the last event id (ignored when it contains NUL; an empty `id` clears it) and persists across
// events; `retry` sets the reconnection delay when it is all ASCII digits; a blank line dispatches
// the event, but only when it had at least one `data` line; unknown fields are ignored; an event
// cut off by the end of the stream is discarded. Bytes are passed through as they are: decoding
// (UTF-8 and JSON) is the caller's business.
//
// Memory is bounded: the event being assembled (its pending line, data, type and id) may hold at
// most `max_event_bytes`; beyond that the parser fails with kind `protocol` and refuses all
// further input, so a peer cannot make it buffer without limit.
//
//   trellis::sse::Parser parser({.max_event_bytes = 1 << 20});
//   std::vector<trellis::sse::Event> events;
//   while (auto chunk = read_some()) {
//     if (auto fed = parser.feed(*chunk, events); !fed) return fail(fed.error());
//     for (auto& event : events) handle(event.type, event.data, event.id);
//     events.clear();
//   }
//   resume_later(parser.last_event_id(), parser.retry());
#pragma once

#include "trellis/error.hpp"

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trellis::sse {

// One dispatched event.
struct Event {
  // The `event` field; empty when the stream named none (a "message" event).
  std::string type;
  // The `data` lines joined with LF (no trailing LF). May be empty: a bare `data:` line makes an
  // event with empty data, which MCP servers use to prime a stream with an id.
  std::string data;
  // The last event id in effect when this event was dispatched (empty: none).
  std::string id;

  friend bool operator==(const Event&, const Event&) = default;
};

struct ParserOptions {
  // Upper bound on the bytes of the event being assembled (pending line + data + type + id).
  std::size_t max_event_bytes = 16 * 1024 * 1024;
};

class Parser {
 public:
  // `last_event_id` seeds the id, for a stream that resumes an earlier one (Last-Event-ID): an
  // event without an `id` field then carries it, as the standard's EventSource keeps it.
  explicit Parser(ParserOptions options = {}, std::string last_event_id = {});

  // Parses the next chunk of the stream and appends every event it completes to `events` (in
  // stream order; existing elements are kept). Fails with kind `protocol` when the event being
  // assembled exceeds options.max_event_bytes; the events completed before that point are still
  // appended, and every later call fails with the same error.
  Result<void> feed(std::string_view chunk, std::vector<Event>& events);

  // The last event id: set by the most recent blank line that followed an `id` field, whether or
  // not an event was dispatched (`id: 7` + blank line sets it without an event). Empty when none.
  const std::string& last_event_id() const noexcept { return last_event_id_; }
  // The most recent valid `retry` field (saturated at the largest representable value).
  std::optional<std::chrono::milliseconds> retry() const noexcept { return retry_; }
  // How many events were dispatched and how many comment lines were seen so far.
  std::size_t event_count() const noexcept { return event_count_; }
  std::size_t comment_count() const noexcept { return comment_count_; }
  // Whether the stream broke the size bound (every feed fails from then on).
  bool failed() const noexcept { return failed_; }

 private:
  // Handles one complete line (without its terminator).
  void process_line(std::string_view line, std::vector<Event>& events);
  void process_field(std::string_view field, std::string_view value);
  void dispatch(std::vector<Event>& events);
  // Bytes held by the event being assembled, plus `pending` more.
  bool over_limit(std::size_t pending) const noexcept;
  Error size_error() const;

  ParserOptions options_;
  std::string line_;     // a line whose end has not arrived yet
  std::string data_;     // data lines joined with LF so far
  std::string type_;     // the event type buffer
  std::string id_;       // the last event id buffer
  std::string last_event_id_;
  std::optional<std::chrono::milliseconds> retry_;
  std::size_t event_count_ = 0;
  std::size_t comment_count_ = 0;
  std::size_t data_lines_ = 0;
  std::size_t bom_bytes_seen_ = 0;  // bytes of a leading BOM matched so far (0..3)
  bool at_start_ = true;            // still deciding whether the stream opens with a BOM
  bool after_cr_ = false;           // the previous chunk ended with CR: a leading LF belongs to it
  bool failed_ = false;
};

}  // namespace trellis::sse
