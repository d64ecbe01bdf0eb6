// SessionStreams: event ids, replay on resume, and which streams it forgets.
#include "transport/sse_streams.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace trellis::http_detail {
namespace {

using namespace std::chrono_literals;
using State = SessionStreams::State;

constexpr std::size_t kNoByteLimit = SIZE_MAX;

class RecordingSink final : public SseSink {
 public:
  Flow write_frame(std::string frame) override {
    frames.push_back(std::move(frame));
    return level;
  }
  Flow flow() const override { return level; }
  void replay_frame(std::string frame) override {
    frames.push_back(std::move(frame));
    ++replayed;
  }
  void end_stream() override { ++ends; }
  void abort_stream() override { ++aborts; }

  Flow level = Flow::flowing;  // what the next writes report
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
  ASSERT_EQ(streams->attach(stream, first), SessionStreams::Attach::attached);
  streams->publish(stream, R"({"n":1})");
  streams->publish(stream, R"({"n":2})");
  streams->finish(stream);
  ASSERT_EQ(first->frames.size(), 3u);  // priming, then the two messages
  EXPECT_NE(first->frames[0].find("retry: 1000\ndata: \n\n"), std::string::npos);
  EXPECT_EQ(first->ends, 1);
  streams->detach(stream, first.get(), true);

  auto resumed = std::make_shared<RecordingSink>();
  EXPECT_EQ(streams->resume(id_of(first->frames[1]), resumed), stream);
  ASSERT_EQ(resumed->frames.size(), 1u);
  EXPECT_EQ(resumed->frames[0], first->frames[2]);
  EXPECT_EQ(resumed->replayed, 1) << "a replay is not bounded as live events are";
  EXPECT_EQ(first->replayed, 0);
  EXPECT_EQ(resumed->ends, 1);
}

// The sse_stream machine through flow control, a cut, a resume, the end and a late resume.
TEST(SessionStreams, AStreamFollowsItsMachineThroughBackpressureACutAndResumes) {
  auto streams = std::make_shared<SessionStreams>(64, kNoByteLimit, 1000ms);
  const auto stream = streams->open_stream();
  EXPECT_EQ(streams->state(stream), State::opening);
  auto first = std::make_shared<RecordingSink>();
  ASSERT_EQ(streams->attach(stream, first), SessionStreams::Attach::attached);
  EXPECT_EQ(streams->state(stream), State::active);

  first->level = Flow::backed_up;  // over 80 % of the connection's bound waits
  streams->publish(stream, R"({"n":1})");
  EXPECT_EQ(streams->state(stream), State::paused);
  first->level = Flow::filling;  // between half and 80 %: still paused
  streams->publish(stream, R"({"n":2})");
  EXPECT_EQ(streams->state(stream), State::paused);
  const auto later = std::chrono::steady_clock::now() + 1h;
  streams->heartbeat(later, 1s);
  EXPECT_EQ(first->frames.size(), 3u) << "a paused stream gets no heartbeat";
  first->level = Flow::flowing;  // the client caught up, and no event came to tell: the sweep notices
  streams->heartbeat(later, 1s);
  EXPECT_EQ(streams->state(stream), State::active);
  ASSERT_EQ(first->frames.size(), 4u);
  EXPECT_EQ(first->frames.back(), ": keep-alive\n\n");

  first->level = Flow::overrun;  // past the bound the connection cuts itself
  streams->publish(stream, R"({"n":3})");
  EXPECT_EQ(streams->state(stream), State::resuming);
  streams->publish(stream, R"({"n":4})");
  EXPECT_EQ(first->frames.size(), 5u) << "nothing more goes to the connection that was cut";
  streams->detach(stream, first.get(), false);  // the cut connection goes away: nothing changes
  EXPECT_EQ(streams->state(stream), State::resuming);

  auto second = std::make_shared<RecordingSink>();
  ASSERT_EQ(streams->resume(id_of(first->frames[2]), second), stream);  // after {"n":2}
  EXPECT_EQ(streams->state(stream), State::active);
  ASSERT_EQ(second->frames.size(), 2u);
  EXPECT_NE(second->frames[0].find(R"({"n":3})"), std::string::npos);
  EXPECT_NE(second->frames[1].find(R"({"n":4})"), std::string::npos);
  streams->finish(stream);
  EXPECT_EQ(streams->state(stream), State::closing);
  EXPECT_EQ(second->ends, 1);
  streams->detach(stream, second.get(), true);
  EXPECT_EQ(streams->state(stream), State::closed);
  EXPECT_FALSE(streams->any_attached());

  // A stream that ended still replays for a client whose connection broke after the last write.
  auto third = std::make_shared<RecordingSink>();
  ASSERT_EQ(streams->resume(id_of(first->frames[2]), third), stream);
  EXPECT_EQ(third->frames, second->frames);
  EXPECT_EQ(third->ends, 1);
  EXPECT_EQ(streams->state(stream), State::closed);
  EXPECT_FALSE(streams->any_attached());
}

TEST(SessionStreams, TheStandaloneStreamDropsWhatPrecedesItsFirstGetAndEndsWithTheSession) {
  constexpr auto kStandalone = SessionStreams::kStandalone;
  auto streams = std::make_shared<SessionStreams>(64, kNoByteLimit, 1000ms);
  streams->publish(kStandalone, R"({"early":1})");
  EXPECT_EQ(streams->state(kStandalone), State::opening);
  auto probe = std::make_shared<RecordingSink>();
  EXPECT_FALSE(streams->resume("0_0", probe).has_value()) << "no event of it was ever sent";

  auto get = std::make_shared<RecordingSink>();
  ASSERT_EQ(streams->attach(kStandalone, get), SessionStreams::Attach::attached);
  ASSERT_EQ(get->frames.size(), 1u) << "the priming event only";
  EXPECT_EQ(get->frames[0].find("early"), std::string::npos);
  auto second_get = std::make_shared<RecordingSink>();
  EXPECT_EQ(streams->attach(kStandalone, second_get), SessionStreams::Attach::taken);

  streams->detach(kStandalone, get.get(), false);
  EXPECT_EQ(streams->state(kStandalone), State::resuming);
  ASSERT_EQ(streams->attach(kStandalone, second_get), SessionStreams::Attach::attached);  // a new GET, no Last-Event-ID
  EXPECT_EQ(streams->state(kStandalone), State::active);
  EXPECT_EQ(second_get->frames.size(), 1u) << "nothing is replayed without Last-Event-ID";

  streams->close_all();
  EXPECT_EQ(streams->state(kStandalone), State::closing);
  EXPECT_EQ(second_get->ends, 1);
  streams->detach(kStandalone, second_get.get(), true);
  EXPECT_EQ(streams->state(kStandalone), State::closed);
  auto late = std::make_shared<RecordingSink>();
  EXPECT_EQ(streams->attach(kStandalone, late), SessionStreams::Attach::closed);
}

// A POST's stream opened just as its session closed: its connection is refused (404), rather than
// left waiting for events that will never come.
TEST(SessionStreams, AStreamWhoseSessionClosedBeforeItsConnectionCameRefusesIt) {
  auto streams = std::make_shared<SessionStreams>(64, kNoByteLimit, 1000ms);
  const auto stream = streams->open_stream();
  streams->close_all();
  EXPECT_EQ(streams->state(stream), State::closed);
  auto sink = std::make_shared<RecordingSink>();
  EXPECT_EQ(streams->attach(stream, sink), SessionStreams::Attach::closed);
  EXPECT_TRUE(sink->frames.empty());
  streams->publish(stream, R"({"late":1})");
  streams->finish(stream);
  EXPECT_EQ(streams->state(stream), State::closed);
  EXPECT_TRUE(sink->frames.empty());
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
    streams->detach(stream, sink.get(), true);
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
  streams->detach(unfinished, unfinished_sink.get(), false);  // cut before its answer

  for (std::size_t i = 0; i < 2 * kMaxEvents + 20; ++i) {
    const auto stream = streams->open_stream();
    auto sink = std::make_shared<RecordingSink>();
    streams->attach(stream, sink);
    streams->publish(stream, R"({"x":1})");
    streams->finish(stream);
    streams->detach(stream, sink.get(), true);
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
    streams.detach(a.stream, sink.get(), false);
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
