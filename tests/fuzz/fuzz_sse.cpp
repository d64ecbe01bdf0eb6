// libFuzzer target for the SSE parser (transport/sse_parser.hpp). The first input byte chooses
// the event size bound and how the rest is cut into chunks; the rest is the stream. For
// arbitrary bytes:
//  - feeding the stream in chunks gives exactly the events, last event id, retry and comment count
//    of feeding it whole, or both fail (the bound is a property of the stream, not of chunking);
//  - a failure is a `protocol` error, and every later feed fails too;
//  - no event carries a line break in its type or id, a NUL in its id, or a CR in its data, and
//    no event's data exceeds the bound;
//  - the last event id never contains a line break or NUL.
// Any violation traps, so libFuzzer records the input. replay_main.cpp replays the corpus in CI.
#include "../../src/transport/sse_parser.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace {

namespace sse = trellis::sse;

void check(bool condition) {
  if (!condition) __builtin_trap();
}

bool has_line_break(std::string_view text) { return text.find_first_of("\r\n") != std::string_view::npos; }

struct Outcome {
  bool ok = true;
  std::vector<sse::Event> events;
};

// Feeds `stream` in chunks whose sizes cycle through `sizes` (0 = the whole rest).
Outcome run(sse::Parser& parser, std::string_view stream, const std::size_t* sizes, std::size_t count) {
  Outcome outcome;
  std::size_t next = 0;
  while (!stream.empty()) {
    const std::size_t size = sizes[next++ % count];
    const std::string_view chunk = size == 0 ? stream : stream.substr(0, size);
    stream.remove_prefix(chunk.size());
    auto fed = parser.feed(chunk, outcome.events);
    if (!fed) {
      check(fed.error().kind == trellis::ErrorKind::protocol);
      check(parser.failed());
      std::vector<sse::Event> more;
      check(!parser.feed("data: x\n\n", more) && more.empty());
      outcome.ok = false;
      return outcome;
    }
  }
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t control = data[0];
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);

  sse::ParserOptions options;
  options.max_event_bytes = (control & 0x80) != 0 ? 16 + (control & 0x0F) * 8 : 1 << 20;
  const std::size_t whole[] = {0};
  const std::size_t small[] = {1u + (control & 0x03), 1, 2u + ((control >> 2) & 0x07), 3};

  sse::Parser whole_parser(options);
  const Outcome expected = run(whole_parser, stream, whole, 1);
  sse::Parser chunked_parser(options);
  const Outcome actual = run(chunked_parser, stream, small, 4);

  check(expected.ok == actual.ok);
  if (expected.ok) {
    check(expected.events == actual.events);
    check(whole_parser.last_event_id() == chunked_parser.last_event_id());
    check(whole_parser.retry() == chunked_parser.retry());
    check(whole_parser.comment_count() == chunked_parser.comment_count());
    check(whole_parser.event_count() == expected.events.size());
  }
  for (const Outcome* outcome : {&expected, &actual}) {
    for (const auto& event : outcome->events) {
      check(!has_line_break(event.type));
      check(!has_line_break(event.id) && event.id.find('\0') == std::string::npos);
      check(event.data.find('\r') == std::string::npos);
      check(event.data.size() <= options.max_event_bytes);
    }
  }
  check(!has_line_break(whole_parser.last_event_id()) && whole_parser.last_event_id().find('\0') == std::string::npos);
  return 0;
}
