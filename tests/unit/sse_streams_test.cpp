// SessionStreams: event ids, replay on resume, and which streams it forgets.
#include "transport/sse_streams.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace trellis::http_detail {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kNoByteLimit = SIZE_MAX;

class RecordingSink final : public SseSink {
 public:
  void write_frame(std::string frame) override { frames.push_back(std::move(frame)); }
  void replay_frame(std::string frame) override {
    frames.push_back(std::move(frame));
    ++replayed;
  }
  void end_stream() override { ++ends; }
  void abort_stream() override { ++aborts; }

  std::vector<std::string> frames;
  int replayed = 0;  // of the frames, those a resume resent from the store
  int ends = 0;
  int aborts = 0;
};

// The id of a frame ("id: <stream>_<seq>\n...").
std::string id_of(const std::string& frame) { return frame.substr(4, frame.find('\n') - 4); }

TEST(SessionStreams, ResumeReplaysWhatFollowsTheLastEventIdThenEnds) {
  auto streams = std::make_shared<SessionStreams>(16, kNoByteLimit, 1000ms);
  const auto stream = streams->open_stream();
  auto first = std::make_shared<RecordingSink>();
  ASSERT_TRUE(streams->attach(stream, first));
  streams->publish(stream, R"({"n":1})");
  streams->publish(stream, R"({"n":2})");
  streams->finish(stream);
  ASSERT_EQ(first->frames.size(), 3u);  // priming, then the two messages
  EXPECT_NE(first->frames[0].find("retry: 1000\ndata: \n\n"), std::string::npos);
  EXPECT_EQ(first->ends, 1);
  streams->detach(stream, first.get());

  auto resumed = std::make_shared<RecordingSink>();
  EXPECT_EQ(streams->resume(id_of(first->frames[1]), resumed), stream);
  ASSERT_EQ(resumed->frames.size(), 1u);
  EXPECT_EQ(resumed->frames[0], first->frames[2]);
  EXPECT_EQ(resumed->replayed, 1) << "a replay is not bounded as live events are";
  EXPECT_EQ(first->replayed, 0);
  EXPECT_EQ(resumed->ends, 1);
}

TEST(SessionStreams, ForgetsFinishedStreamsOnlyOnceTheirEventsLeftTheStore) {
  constexpr std::size_t kMaxEvents = 4;
  auto streams = std::make_shared<SessionStreams>(kMaxEvents, kNoByteLimit, 1000ms);
  // One event per stream, each stream finished and detached: what a POST answered with SSE leaves.
  std::vector<std::string> last_ids;
  const auto answered_post = [&] {
    const auto stream = streams->open_stream();
    auto sink = std::make_shared<RecordingSink>();
    streams->attach(stream, sink);
    streams->publish(stream, R"({"ok":true})");
    streams->finish(stream);
    streams->detach(stream, sink.get());
    last_ids.push_back(id_of(sink->frames.back()));
  };
  // Past the point where open_stream() sweeps (2 * max_events + 16 streams).
  for (std::size_t i = 0; i < 2 * kMaxEvents + 20; ++i) answered_post();

  // The oldest stream's event left the store long ago: the stream is forgotten.
  auto sink = std::make_shared<RecordingSink>();
  EXPECT_FALSE(streams->resume(last_ids.front(), sink).has_value());
  // The newest streams still have their events stored: they can still be resumed (and end at once).
  for (std::size_t back = 1; back <= kMaxEvents; ++back) {
    const std::string& id = last_ids[last_ids.size() - back];
    auto resumed = std::make_shared<RecordingSink>();
    ASSERT_TRUE(streams->resume(id, resumed).has_value()) << id;
    EXPECT_TRUE(resumed->frames.empty()) << id;  // nothing after the last event
    EXPECT_EQ(resumed->ends, 1) << id;
  }
}

TEST(SessionStreams, KeepsAStreamThatIsStillAttachedOrUnfinished) {
  constexpr std::size_t kMaxEvents = 2;
  auto streams = std::make_shared<SessionStreams>(kMaxEvents, kNoByteLimit, 1000ms);
  const auto attached = streams->open_stream();
  auto attached_sink = std::make_shared<RecordingSink>();
  streams->attach(attached, attached_sink);
  streams->publish(attached, R"({"a":1})");
  streams->finish(attached);  // finished, but its connection has not detached yet
  const auto unfinished = streams->open_stream();
  auto unfinished_sink = std::make_shared<RecordingSink>();
  streams->attach(unfinished, unfinished_sink);
  streams->publish(unfinished, R"({"u":1})");
  streams->detach(unfinished, unfinished_sink.get());  // cut before its answer

  for (std::size_t i = 0; i < 2 * kMaxEvents + 20; ++i) {
    const auto stream = streams->open_stream();
    streams->publish(stream, R"({"x":1})");
    streams->finish(stream);
  }
  auto resumed = std::make_shared<RecordingSink>();
  EXPECT_TRUE(streams->resume(id_of(unfinished_sink->frames.back()), resumed).has_value());
  // Resuming the attached stream replaces its connection: the old one is told to stop.
  auto replacement = std::make_shared<RecordingSink>();
  EXPECT_TRUE(streams->resume(id_of(attached_sink->frames.back()), replacement).has_value());
  EXPECT_EQ(attached_sink->aborts, 1);
}

// Stores that share a budget hold no more than it together: past it, the store that publishes
// keeps nothing of what it may drop, its newest event included, while its clients still get
// every event live; room comes back as stores are destroyed.
TEST(SessionStreams, StoresSharingABudgetHoldNoMoreThanItTogether) {
  const std::string payload = R"({"pad":"xxxxxxxxxxxxxxxx"})";
  auto probe = std::make_shared<SessionStreams>(16, kNoByteLimit, 1000ms);
  auto probe_sink = std::make_shared<RecordingSink>();
  probe->attach(probe->open_stream(), probe_sink);
  probe->publish(1, payload);
  const std::size_t frame_bytes = probe_sink->frames.back().size();  // the same for each event below

  auto budget = std::make_shared<StoreBudget>(2 * frame_bytes);
  auto first = std::make_shared<SessionStreams>(16, kNoByteLimit, 1000ms, budget);
  auto second = std::make_shared<SessionStreams>(16, kNoByteLimit, 1000ms, budget);
  struct Attached {
    std::uint64_t stream;
    std::shared_ptr<RecordingSink> live;
    std::string priming;
  };
  const auto attach = [](SessionStreams& streams) {
    const auto stream = streams.open_stream();
    auto live = std::make_shared<RecordingSink>();
    streams.attach(stream, live);
    return Attached{stream, live, id_of(live->frames.front())};
  };
  const auto stored = [](SessionStreams& streams, const Attached& a) {
    auto sink = std::make_shared<RecordingSink>();
    EXPECT_TRUE(streams.resume(a.priming, sink).has_value());
    streams.detach(a.stream, sink.get());
    return sink->frames.size();
  };
  const auto a = attach(*first);
  const auto b = attach(*second);

  first->publish(a.stream, payload);
  first->publish(a.stream, payload);  // at the budget: both kept
  EXPECT_EQ(budget->used.load(), 2 * frame_bytes);
  EXPECT_EQ(stored(*first, a), 2u);

  EXPECT_FALSE(budget->exhausted.load());
  second->publish(b.stream, payload);  // one past it: the second store keeps nothing
  EXPECT_TRUE(budget->exhausted.load()) << "logged";
  EXPECT_EQ(budget->used.load(), 2 * frame_bytes);
  EXPECT_EQ(stored(*second, b), 0u);
  EXPECT_EQ(b.live->frames.size(), 2u) << "the event still went out live, after the priming event";
  EXPECT_EQ(stored(*first, a), 2u) << "the first store keeps what it held";

  first->publish(a.stream, payload);  // the first store, past it, drops its oldest
  EXPECT_EQ(budget->used.load(), 2 * frame_bytes);
  EXPECT_EQ(stored(*first, a), 2u);

  first.reset();  // a store destroyed gives its bytes back
  EXPECT_EQ(budget->used.load(), 0u);
  second->publish(b.stream, payload);
  EXPECT_EQ(stored(*second, b), 1u);
  EXPECT_EQ(budget->used.load(), frame_bytes);
  EXPECT_FALSE(budget->exhausted.load()) << "a quarter of the budget is free: the next time is logged again";
}

TEST(SessionStreams, TheStoreKeepsAtMostItsBytesAndAlwaysTheNewestEvent) {
  // Every message below makes a frame of the same size; the store holds exactly two of them.
  const std::string payload = R"({"pad":"xxxxxxxxxxxxxxxx"})";
  auto probe = std::make_shared<SessionStreams>(16, kNoByteLimit, 1000ms);
  auto probe_sink = std::make_shared<RecordingSink>();
  const auto probe_stream = probe->open_stream();
  probe->attach(probe_stream, probe_sink);
  probe->publish(probe_stream, payload);
  const std::size_t frame_bytes = probe_sink->frames.back().size();

  auto streams = std::make_shared<SessionStreams>(16, 2 * frame_bytes, 1000ms);
  const auto stream = streams->open_stream();
  auto live = std::make_shared<RecordingSink>();
  streams->attach(stream, live);
  const std::string priming = id_of(live->frames.front());
  // Each resume replays what the store holds after the priming event, then stays attached.
  const auto resume = [&] {
    auto sink = std::make_shared<RecordingSink>();
    EXPECT_TRUE(streams->resume(priming, sink).has_value());
    return sink;
  };
  streams->publish(stream, payload);
  streams->publish(stream, payload);  // at the limit: both kept
  const auto first = resume();
  ASSERT_EQ(first->frames, std::vector<std::string>(live->frames.begin() + 1, live->frames.end()));

  streams->publish(stream, payload);  // one past it: the oldest goes
  const auto second = resume();
  ASSERT_EQ(second->frames, std::vector<std::string>(first->frames.begin() + 1, first->frames.end()));

  // An event larger than the whole store is still kept, alone, until the next one.
  const std::string huge(4 * frame_bytes, 'h');
  streams->publish(stream, "\"" + huge + "\"");
  const auto third = resume();
  ASSERT_EQ(third->frames.size(), 1u);
  EXPECT_NE(third->frames.front().find(huge), std::string::npos);
}

}  // namespace
}  // namespace trellis::http_detail
