// telemetry::Dispatcher and Subscription: prefix routing, unsubscribe at any moment, handler
// isolation, and emit racing subscribe/unsubscribe.
#include "trellis/telemetry/events.hpp"
#include "trellis/telemetry/metrics.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace trellis::telemetry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const boost::json::object kNoFields;

// Records the names it receives. Single-threaded tests only.
struct Recorder {
  std::vector<std::string> names;
  Handler handler() {
    return [this](const Event& e) { names.emplace_back(e.name); };
  }
};

class TelemetryDispatcher : public ::testing::Test {
 protected:
  Registry metrics;
  Dispatcher dispatcher{metrics};

  std::uint64_t handler_errors() { return metrics.counter("trellis_telemetry_handler_errors_total", "").value(); }
};

TEST(TelemetryPrefix, MatchesWholeDotSeparatedSegments) {
  EXPECT_TRUE(prefix_matches("", "anything.at.all"));
  EXPECT_TRUE(prefix_matches("trellis.fsm", "trellis.fsm"));
  EXPECT_TRUE(prefix_matches("trellis.fsm", "trellis.fsm.transition"));
  EXPECT_TRUE(prefix_matches("trellis.", "trellis.fsm.transition"));
  EXPECT_FALSE(prefix_matches("trellis.fsm", "trellis.fsmx.transition"));
  EXPECT_FALSE(prefix_matches("trellis.fsm", "trellis.fs"));
  EXPECT_FALSE(prefix_matches("trellis.fsm.transition", "trellis.fsm"));
  EXPECT_FALSE(prefix_matches("trellis.client", "trellis.fsm.transition"));
}

TEST_F(TelemetryDispatcher, DeliversByPrefixWithMeasurementsAndMetadata) {
  Recorder fsm;
  Recorder everything;
  boost::json::object seen_measurements;
  boost::json::object seen_metadata;
  dispatcher.subscribe("trellis.fsm", fsm.handler());
  dispatcher.subscribe("", everything.handler());
  dispatcher.subscribe("trellis.fsm.transition", [&](const Event& e) {
    seen_measurements = e.measurements;
    seen_metadata = e.metadata;
  });

  dispatcher.emit("trellis.fsm.transition", {{"duration_us", 12}}, {{"machine", "client"}, {"to", "ready"}});
  dispatcher.emit("trellis.fsmx.other", kNoFields, kNoFields);
  dispatcher.emit("trellis.client.call", kNoFields, kNoFields);
  dispatcher.emit("trellis.fsm", kNoFields, kNoFields);

  EXPECT_THAT(fsm.names, ElementsAre("trellis.fsm.transition", "trellis.fsm"));
  EXPECT_THAT(everything.names,
              ElementsAre("trellis.fsm.transition", "trellis.fsmx.other", "trellis.client.call", "trellis.fsm"));
  EXPECT_EQ(seen_measurements, (boost::json::object{{"duration_us", 12}}));
  EXPECT_EQ(seen_metadata, (boost::json::object{{"machine", "client"}, {"to", "ready"}}));
}

TEST_F(TelemetryDispatcher, HasSubscribersFollowsPrefixes) {
  EXPECT_FALSE(dispatcher.has_subscribers("trellis.fsm.transition"));
  const SubscriptionId id = dispatcher.subscribe("trellis.fsm", [](const Event&) {});
  EXPECT_TRUE(dispatcher.has_subscribers("trellis.fsm.transition"));
  EXPECT_FALSE(dispatcher.has_subscribers("trellis.client.call"));
  EXPECT_FALSE(dispatcher.has_subscribers("trellis.fsmx"));
  dispatcher.unsubscribe(id);
  EXPECT_FALSE(dispatcher.has_subscribers("trellis.fsm.transition"));
}

TEST_F(TelemetryDispatcher, HandlersRunInSubscriptionOrder) {
  std::vector<int> order;
  dispatcher.subscribe("a", [&](const Event&) { order.push_back(1); });
  dispatcher.subscribe("", [&](const Event&) { order.push_back(2); });
  dispatcher.subscribe("a.b", [&](const Event&) { order.push_back(3); });
  dispatcher.emit("a.b", kNoFields, kNoFields);
  EXPECT_THAT(order, ElementsAre(1, 2, 3));
}

TEST_F(TelemetryDispatcher, UnsubscribeStopsDeliveryAndIgnoresUnknownIds) {
  Recorder kept;
  Recorder dropped;
  dispatcher.subscribe("x", kept.handler());
  const SubscriptionId id = dispatcher.subscribe("x", dropped.handler());
  EXPECT_NE(id, 0U);
  EXPECT_EQ(dispatcher.subscriber_count(), 2U);

  dispatcher.emit("x", kNoFields, kNoFields);
  dispatcher.unsubscribe(id);
  dispatcher.unsubscribe(id);     // twice: ignored
  dispatcher.unsubscribe(0);      // never valid: ignored
  dispatcher.unsubscribe(12345);  // unknown: ignored
  dispatcher.emit("x", kNoFields, kNoFields);

  EXPECT_EQ(kept.names.size(), 2U);
  EXPECT_EQ(dropped.names.size(), 1U);
  EXPECT_EQ(dispatcher.subscriber_count(), 1U);
}

TEST_F(TelemetryDispatcher, HandlerCanUnsubscribeItselfAndLaterHandlersDuringEmit) {
  Recorder after;
  SubscriptionId self = 0;
  SubscriptionId victim = 0;
  int self_calls = 0;
  self = dispatcher.subscribe("", [&](const Event&) {
    ++self_calls;
    dispatcher.unsubscribe(self);
    dispatcher.unsubscribe(victim);
  });
  Recorder victim_recorder;
  victim = dispatcher.subscribe("", victim_recorder.handler());
  dispatcher.subscribe("", after.handler());

  dispatcher.emit("e1", kNoFields, kNoFields);
  dispatcher.emit("e2", kNoFields, kNoFields);

  EXPECT_EQ(self_calls, 1);
  EXPECT_TRUE(victim_recorder.names.empty()) << "unsubscribed before its turn in the same emit";
  EXPECT_THAT(after.names, ElementsAre("e1", "e2"));
  EXPECT_EQ(dispatcher.subscriber_count(), 1U);
}

TEST_F(TelemetryDispatcher, SubscribingDuringEmitTakesEffectFromTheNextEmit) {
  Recorder late;
  bool subscribed = false;
  dispatcher.subscribe("", [&](const Event&) {
    if (!subscribed) {
      subscribed = true;
      dispatcher.subscribe("", late.handler());
    }
  });
  dispatcher.emit("e1", kNoFields, kNoFields);
  dispatcher.emit("e2", kNoFields, kNoFields);
  EXPECT_THAT(late.names, ElementsAre("e2"));
}

TEST_F(TelemetryDispatcher, HandlersMayEmitNestedEvents) {
  Recorder inner;
  dispatcher.subscribe("outer", [&](const Event&) { dispatcher.emit("inner.event", kNoFields, kNoFields); });
  dispatcher.subscribe("inner", inner.handler());
  dispatcher.emit("outer", kNoFields, kNoFields);
  EXPECT_THAT(inner.names, ElementsAre("inner.event"));
}

TEST_F(TelemetryDispatcher, HandlerIsDestroyedOnceNoEmitUsesIt) {
  auto token = std::make_shared<int>(0);
  const std::weak_ptr<int> watch = token;
  const SubscriptionId outside = dispatcher.subscribe("", [token](const Event&) {});
  token.reset();
  dispatcher.unsubscribe(outside);
  EXPECT_TRUE(watch.expired()) << "no emit was running: freed at once";

  auto inner_token = std::make_shared<int>(0);
  const std::weak_ptr<int> inner_watch = inner_token;
  SubscriptionId inside = 0;
  bool alive_during_call = false;
  inside = dispatcher.subscribe("", [&, inner_token](const Event&) {
    dispatcher.unsubscribe(inside);
    alive_during_call = !inner_watch.expired();
  });
  inner_token.reset();
  dispatcher.emit("e", kNoFields, kNoFields);
  EXPECT_TRUE(alive_during_call) << "a running handler must outlive its own unsubscribe";
  EXPECT_TRUE(inner_watch.expired()) << "freed when the emit that used it returned";
}

TEST_F(TelemetryDispatcher, ThrowingHandlersAreCountedAndOthersStillRun) {
  Recorder before;
  Recorder after;
  dispatcher.subscribe("", before.handler());
  dispatcher.subscribe("", [](const Event&) { throw std::runtime_error("boom"); });
  dispatcher.subscribe("", [](const Event&) { throw 42; });
  dispatcher.subscribe("", after.handler());

  EXPECT_NO_THROW(dispatcher.emit("e", kNoFields, kNoFields));
  EXPECT_NO_THROW(dispatcher.emit("e", kNoFields, kNoFields));

  EXPECT_EQ(before.names.size(), 2U);
  EXPECT_EQ(after.names.size(), 2U);
  EXPECT_EQ(handler_errors(), 4U);
  EXPECT_THAT(metrics.prometheus_text(), HasSubstr("\ntrellis_telemetry_handler_errors_total 4\n"));
}

TEST_F(TelemetryDispatcher, EmptyHandlerIsRejected) {
  try {
    dispatcher.subscribe("trellis.fsm", Handler{});
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("\"trellis.fsm\""));
  }
  EXPECT_EQ(dispatcher.subscriber_count(), 0U);
}

TEST_F(TelemetryDispatcher, GlobalIsOneInstance) { EXPECT_EQ(&Dispatcher::global(), &Dispatcher::global()); }

TEST_F(TelemetryDispatcher, SubscriptionUnsubscribesWhenDestroyed) {
  Recorder recorder;
  {
    const Subscription subscription{dispatcher, "x", recorder.handler()};
    EXPECT_TRUE(subscription);
    dispatcher.emit("x", kNoFields, kNoFields);
  }
  dispatcher.emit("x", kNoFields, kNoFields);
  EXPECT_EQ(recorder.names.size(), 1U);
  EXPECT_EQ(dispatcher.subscriber_count(), 0U);
}

TEST_F(TelemetryDispatcher, SubscriptionMovesOwnership) {
  Recorder first;
  Recorder second;
  Subscription a{dispatcher, "x", first.handler()};
  const SubscriptionId first_id = a.id();

  Subscription b{std::move(a)};
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_EQ(b.id(), first_id);
  dispatcher.emit("x", kNoFields, kNoFields);
  EXPECT_EQ(first.names.size(), 1U);

  b = Subscription{dispatcher, "x", second.handler()};  // the first subscription ends here
  dispatcher.emit("x", kNoFields, kNoFields);
  EXPECT_EQ(first.names.size(), 1U);
  EXPECT_EQ(second.names.size(), 1U);

  b.reset();
  EXPECT_FALSE(b);
  EXPECT_EQ(dispatcher.subscriber_count(), 0U);
}

TEST_F(TelemetryDispatcher, SubscriptionReleaseAndAdopt) {
  Recorder recorder;
  SubscriptionId id = 0;
  {
    Subscription owner{dispatcher, "x", recorder.handler()};
    id = owner.release();
    EXPECT_FALSE(owner);
  }
  EXPECT_EQ(dispatcher.subscriber_count(), 1U) << "released: not unsubscribed";
  {
    const Subscription adopted{dispatcher, id};
    EXPECT_EQ(adopted.id(), id);
  }
  EXPECT_EQ(dispatcher.subscriber_count(), 0U);
}

// Two threads emit while two threads churn subscriptions. A permanent subscriber must see every
// event exactly once; nothing may crash or race (the TSan build checks the latter).
TEST_F(TelemetryDispatcher, ConcurrentEmitWithSubscribeAndUnsubscribe) {
  constexpr int kEmitters = 2;
  constexpr int kChurners = 2;
  constexpr int kEmitsPerThread = 3000;
  constexpr int kChurnsPerThread = 300;

  std::atomic<std::uint64_t> permanent_calls{0};
  std::atomic<std::uint64_t> churn_calls{0};
  const Subscription permanent{dispatcher, "load", [&](const Event& e) {
                                 EXPECT_EQ(e.measurements.at("n").as_int64(), 1);
                                 permanent_calls.fetch_add(1, std::memory_order_relaxed);
                               }};
  const boost::json::object measurements{{"n", 1}};
  const boost::json::object metadata{{"source", "test"}};

  std::vector<std::thread> threads;
  for (int t = 0; t < kEmitters; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEmitsPerThread; ++i) {
        if (dispatcher.has_subscribers("load.tick")) dispatcher.emit("load.tick", measurements, metadata);
      }
    });
  }
  for (int t = 0; t < kChurners; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kChurnsPerThread; ++i) {
        const Subscription churn{dispatcher, t == 0 ? "load" : "",
                                 [&](const Event&) { churn_calls.fetch_add(1, std::memory_order_relaxed); }};
        if (i % 3 == 0) {
          const SubscriptionId extra = dispatcher.subscribe("load.tick", [](const Event&) { throw 1; });
          dispatcher.unsubscribe(extra);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();

  EXPECT_EQ(permanent_calls.load(), static_cast<std::uint64_t>(kEmitters * kEmitsPerThread));
  EXPECT_LE(churn_calls.load(), static_cast<std::uint64_t>(kChurners * kEmitters * kEmitsPerThread));
  EXPECT_EQ(dispatcher.subscriber_count(), 1U);
}

}  // namespace
}  // namespace trellis::telemetry
