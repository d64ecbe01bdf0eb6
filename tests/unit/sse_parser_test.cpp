// sse::Parser: the WHATWG event stream rules, chunk boundaries anywhere, and the size bound.
#include "transport/sse_parser.hpp"

#include "support/rc_check.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <string>
#include <vector>

namespace trellis::sse {
namespace {

using Events = std::vector<Event>;

// Feeds `stream` in one piece; expects no error.
Events parse(Parser& parser, std::string_view stream) {
  Events events;
  EXPECT_TRUE(parser.feed(stream, events).has_value());
  return events;
}
Events parse(std::string_view stream) {
  Parser parser;
  return parse(parser, stream);
}

// Feeds `stream` one byte at a time.
Events parse_bytewise(Parser& parser, std::string_view stream) {
  Events events;
  for (const char c : stream) EXPECT_TRUE(parser.feed(std::string_view(&c, 1), events).has_value());
  return events;
}

Event message(std::string data, std::string id = {}) { return Event{{}, std::move(data), std::move(id)}; }

TEST(SseParser, DispatchesOnBlankLine) {
  EXPECT_EQ(parse("data: hello\n\n"), Events{message("hello")});
  EXPECT_EQ(parse("data: one\n\ndata: two\n\n"), (Events{message("one"), message("two")}));
}

TEST(SseParser, AcceptsEveryLineEnding) {
  const Events expected{message("a"), message("b"), message("c")};
  EXPECT_EQ(parse("data: a\r\n\r\ndata: b\r\rdata: c\n\n"), expected);
  EXPECT_EQ(parse("data: a\r\ndata: b\r\n\r\n"), Events{message("a\nb")});
  EXPECT_EQ(parse("data: a\rdata: b\r\r"), Events{message("a\nb")});
}

TEST(SseParser, CrLfSplitAcrossChunksIsOneLineEnd) {
  Parser parser;
  Events events;
  ASSERT_TRUE(parser.feed("data: a\r", events));
  ASSERT_TRUE(parser.feed("\ndata: b\r", events));
  ASSERT_TRUE(parser.feed("\n\r", events));
  ASSERT_TRUE(parser.feed("\n", events));
  EXPECT_EQ(events, Events{message("a\nb")});
}

TEST(SseParser, CrAtChunkEndFollowedByTextIsALineEnd) {
  Parser parser;
  Events events;
  ASSERT_TRUE(parser.feed("data: a\r", events));
  ASSERT_TRUE(parser.feed("\r", events));  // blank line: CR then CR
  EXPECT_EQ(events, Events{message("a")});
}

TEST(SseParser, JoinsDataLinesWithLf) {
  EXPECT_EQ(parse("data: first\ndata: second\ndata:\ndata: fourth\n\n"), Events{message("first\nsecond\n\nfourth")});
}

TEST(SseParser, RemovesOneLeadingSpaceOnly) {
  EXPECT_EQ(parse("data:x\n\n"), Events{message("x")});
  EXPECT_EQ(parse("data:  x\n\n"), Events{message(" x")});
  EXPECT_EQ(parse("data: x \n\n"), Events{message("x ")});
}

TEST(SseParser, EmptyDataStillDispatches) {
  EXPECT_EQ(parse("data\n\n"), Events{message("")});
  EXPECT_EQ(parse("data:\n\n"), Events{message("")});
  EXPECT_EQ(parse("id: 1\nretry: 500\ndata: \n\n"), Events{message("", "1")});
}

TEST(SseParser, NoDataNoEventButIdIsKept) {
  Parser parser;
  EXPECT_TRUE(parse(parser, "id: 7\n\nevent: ping\n\n").empty());
  EXPECT_EQ(parser.last_event_id(), "7");
  EXPECT_EQ(parse(parser, "data: x\n\n"), (Events{Event{"", "x", "7"}}));  // the type was reset
}

TEST(SseParser, ReadsEventType) {
  EXPECT_EQ(parse("event: update\ndata: x\n\ndata: y\n\n"), (Events{Event{"update", "x", ""}, message("y")}));
  EXPECT_EQ(parse("event: a\nevent: b\ndata: x\n\n"), (Events{Event{"b", "x", ""}}));
}

TEST(SseParser, IdPersistsAcrossEventsUntilChanged) {
  Parser parser;
  EXPECT_EQ(parse(parser, "id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n"),
            (Events{message("a", "1"), message("b", "1"), message("c", "2")}));
  EXPECT_EQ(parser.last_event_id(), "2");
}

TEST(SseParser, EmptyIdClearsAndIdWithNulIsIgnored) {
  Parser parser;
  EXPECT_EQ(parse(parser, "id: 1\ndata: a\n\nid\ndata: b\n\n"), (Events{message("a", "1"), message("b", "")}));
  EXPECT_EQ(parser.last_event_id(), "");
  EXPECT_EQ(parse(parser, std::string("id: 3\ndata: c\n\nid: 4\0x\ndata: d\n\n", 32)),
            (Events{message("c", "3"), message("d", "3")}));
}

TEST(SseParser, IdTakesEffectAtDispatchNotBefore) {
  Parser parser;
  Events events;
  ASSERT_TRUE(parser.feed("id: 9\ndata: x\n", events));
  EXPECT_EQ(parser.last_event_id(), "");  // the blank line has not arrived
  ASSERT_TRUE(parser.feed("\n", events));
  EXPECT_EQ(parser.last_event_id(), "9");
}

TEST(SseParser, SeededIdCarriesOverToAResumedStream) {
  Parser parser({}, "41");
  EXPECT_EQ(parser.last_event_id(), "41");
  EXPECT_EQ(parse(parser, "data: x\n\nid: 42\ndata: y\n\n"), (Events{message("x", "41"), message("y", "42")}));
}

TEST(SseParser, RetryAcceptsDigitsOnly) {
  Parser parser;
  EXPECT_FALSE(parser.retry().has_value());
  parse(parser, "retry: 500\n\n");
  EXPECT_EQ(parser.retry(), std::chrono::milliseconds(500));
  parse(parser, "retry: 12a\nretry: -1\nretry:\nretry: 1.5\nretry:  7\n\n");
  EXPECT_EQ(parser.retry(), std::chrono::milliseconds(500));
  parse(parser, "retry:0\n\n");
  EXPECT_EQ(parser.retry(), std::chrono::milliseconds(0));
  parse(parser, "retry: 99999999999999999999999999\n\n");
  EXPECT_EQ(parser.retry(), std::chrono::milliseconds::max());
}

TEST(SseParser, IgnoresCommentsAndUnknownFields) {
  Parser parser;
  EXPECT_EQ(parse(parser, ": heartbeat\n:\nfoo: bar\nDATA: no\ndata : no\ndata: yes\n\n"), Events{message("yes")});
  EXPECT_EQ(parser.comment_count(), 2u);
  EXPECT_EQ(parser.event_count(), 1u);
}

TEST(SseParser, DropsOneLeadingBom) {
  EXPECT_EQ(parse("\xEF\xBB\xBF" "data: x\n\n"), Events{message("x")});
  // A second BOM is content: here it turns the field name into an unknown one.
  EXPECT_EQ(parse("\xEF\xBB\xBF\xEF\xBB\xBF" "data: x\n\ndata: y\n\n"), Events{message("y")});
  // Only at the very start.
  EXPECT_EQ(parse("data: \xEF\xBB\xBFx\n\n"), Events{message("\xEF\xBB\xBFx")});
}

TEST(SseParser, BomSplitAcrossChunks) {
  Parser parser;
  Events events;
  ASSERT_TRUE(parser.feed("\xEF", events));
  ASSERT_TRUE(parser.feed("\xBB", events));
  ASSERT_TRUE(parser.feed("\xBF" "data: x\n\n", events));
  EXPECT_EQ(events, Events{message("x")});
}

TEST(SseParser, PartialBomIsContent) {
  Parser parser;
  Events events;
  ASSERT_TRUE(parser.feed("\xEF\xBB", events));
  ASSERT_TRUE(parser.feed("data: x\n\ndata: y\n\n", events));
  // The held bytes became part of the first field name ("\xEF\xBB" "data"), which is unknown.
  EXPECT_EQ(events, Events{message("y")});
}

TEST(SseParser, UnterminatedEventIsNotDispatched) {
  Parser parser;
  EXPECT_TRUE(parse(parser, "data: partial\n").empty());
  EXPECT_TRUE(parse(parser, "data: more").empty());
  EXPECT_EQ(parser.event_count(), 0u);
}

TEST(SseParser, ByteAtATimeMatchesOneChunk) {
  const std::string stream =
      "\xEF\xBB\xBF: comment\r\nid: 1\r\nevent: message\r\ndata: {\"a\":1}\r\n\r\nretry: 300\rdata: b\r\rid: 2\ndata: "
      "c\ndata: d\n\n";
  Parser whole;
  Parser bytes;
  EXPECT_EQ(parse(whole, stream), parse_bytewise(bytes, stream));
  EXPECT_EQ(whole.last_event_id(), bytes.last_event_id());
  EXPECT_EQ(whole.retry(), bytes.retry());
  EXPECT_EQ(bytes.retry(), std::chrono::milliseconds(300));
  EXPECT_EQ(whole.event_count(), 3u);
}

TEST(SseParser, EventOverTheBoundFails) {
  Parser parser({.max_event_bytes = 64});
  Events events;
  ASSERT_TRUE(parser.feed("data: small\n\n", events));
  auto fed = parser.feed("data: " + std::string(100, 'x') + "\n\n", events);
  ASSERT_FALSE(fed);
  EXPECT_EQ(fed.error().kind, ErrorKind::protocol);
  EXPECT_NE(fed.error().message.find("64"), std::string::npos);
  EXPECT_EQ(events, Events{message("small")});
  EXPECT_TRUE(parser.failed());
  EXPECT_FALSE(parser.feed("data: x\n\n", events));  // refuses everything afterwards
}

TEST(SseParser, BoundCountsAccumulatedDataAcrossLines) {
  Parser parser({.max_event_bytes = 64});
  Events events;
  ASSERT_TRUE(parser.feed("data: " + std::string(30, 'a') + "\n", events));
  auto fed = parser.feed("data: " + std::string(40, 'b') + "\n", events);
  EXPECT_FALSE(fed);
  EXPECT_TRUE(events.empty());
}

TEST(SseParser, BoundAppliesToALineStillArriving) {
  Parser parser({.max_event_bytes = 64});
  Events events;
  ASSERT_TRUE(parser.feed(std::string(40, 'x'), events));
  EXPECT_FALSE(parser.feed(std::string(40, 'x'), events));  // no line end in sight: refused
}

TEST(SseParser, EventsAtTheBoundPass) {
  Parser parser({.max_event_bytes = 64});
  Events events;
  // "data: " + 58 bytes = a 64-byte line; the data itself is 58 bytes.
  const std::string data(58, 'z');
  ASSERT_TRUE(parser.feed("data: " + data + "\n\n", events));
  ASSERT_TRUE(parser.feed("data: " + data + "\n\n", events));
  EXPECT_EQ(events, (Events{message(data), message(data)}));
}

// However the stream is cut into chunks, the events, the last id and retry are the same.
TEST(SseParser, ChunkingNeverChangesTheResult) {
  trellis::testing::check_property(300, [] {
    static const std::vector<std::string> kPieces = {
        "data: x", "data:", "data", "id: 5", "id", "event: e", "retry: 42", ": c", "\xEF\xBB\xBF", "\r", "\n",
        "\r\n", "\n\n", "\r\r", "zz", " ", ":", "data: {\"k\":[1,2]}"};
    const auto picks = *rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(0, kPieces.size()));
    std::string stream;
    for (const auto pick : picks) stream += kPieces[pick];
    const auto cuts = *rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(0, stream.size() + 1));

    Parser whole;
    Events expected;
    RC_ASSERT(whole.feed(stream, expected).has_value());

    Parser chunked;
    Events actual;
    std::vector<std::size_t> sorted = cuts;
    std::sort(sorted.begin(), sorted.end());
    std::size_t at = 0;
    for (const auto cut : sorted) {
      RC_ASSERT(chunked.feed(std::string_view(stream).substr(at, cut - at), actual).has_value());
      at = cut;
    }
    RC_ASSERT(chunked.feed(std::string_view(stream).substr(at), actual).has_value());
    RC_ASSERT(actual == expected);
    RC_ASSERT(chunked.last_event_id() == whole.last_event_id());
    RC_ASSERT(chunked.retry() == whole.retry());
    RC_ASSERT(chunked.comment_count() == whole.comment_count());
  });
}

}  // namespace
}  // namespace trellis::sse
