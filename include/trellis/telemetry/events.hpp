// trellis/telemetry/events.hpp — the one telemetry event dispatcher of Trellis.
//
// Every interesting thing Trellis does (a state machine transition, a call finishing, a window
// closing) is emitted as an event: a dotted name, numeric measurements and descriptive metadata.
// Anyone can subscribe by name prefix; metrics and logs are derived from events by subscribers.
// Emitting is cheap when nobody listens, and an emitter can skip building its payload entirely:
//
//   auto& telemetry = trellis::telemetry::Dispatcher::global();
//   if (telemetry.has_subscribers("trellis.fsm.transition")) {
//     telemetry.emit("trellis.fsm.transition", {{"duration_us", 12}},
//                    {{"machine", "client"}, {"from", "ready"}, {"to", "draining"}});
//   }
//
//   // Elsewhere: receive every trellis.fsm.* event while `subscription` lives.
//   trellis::telemetry::Subscription subscription{
//       telemetry, "trellis.fsm", [](const trellis::telemetry::Event& e) { record(e.name); }};
//
// Handlers run synchronously on the emitting thread (often an I/O thread): keep them short and
// never block in them. A handler that throws is isolated: the exception is swallowed, counted in
// `trellis_telemetry_handler_errors_total`, and the remaining handlers still run.
#pragma once

#include <boost/json/object.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace trellis::telemetry {

class Registry;

// One emitted event. It only borrows the emitter's data: a handler that keeps anything past its
// own return must copy it.
struct Event {
  std::string_view name;                    // e.g. "trellis.fsm.transition"
  const boost::json::object& measurements;  // numbers
  const boost::json::object& metadata;      // descriptive fields
};

// Receives events. Called concurrently from every thread that emits; must be thread-safe.
using Handler = std::function<void(const Event&)>;

// Names one subscription of one Dispatcher. Never 0 for a real subscription.
using SubscriptionId = std::uint64_t;

// Whether an event called `name` is delivered to a subscription for `name_prefix`. Matching is by
// whole dot-separated segments: "" matches everything, "trellis.fsm" matches "trellis.fsm" and
// "trellis.fsm.transition" but not "trellis.fsmx"; a prefix ending in '.' ("trellis.") matches
// any name that starts with it.
bool prefix_matches(std::string_view name_prefix, std::string_view name) noexcept;

// Fans events out to subscribers. emit() and has_subscribers() take no lock: subscribers live in
// an immutable snapshot that subscribe/unsubscribe replace (copy-on-write, under a mutex), and
// old snapshots are freed only once no emitter can still be reading them. Handlers may subscribe,
// unsubscribe and emit from inside a handler.
class Dispatcher {
 public:
  // A dispatcher that counts throwing handlers in Registry::global().
  Dispatcher();
  // A dispatcher that counts throwing handlers in `metrics`, which must outlive it.
  explicit Dispatcher(Registry& metrics);
  // Precondition: no emit/has_subscribers is running on another thread.
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // The process-wide dispatcher every Trellis component emits to. Never destroyed, so it is safe
  // to use from other static destructors.
  static Dispatcher& global() noexcept;

  // Delivers every later event whose name matches `name_prefix` (see prefix_matches) to
  // `handler`, until unsubscribe(returned id). Precondition: `handler` is not empty.
  SubscriptionId subscribe(std::string name_prefix, Handler handler);

  // Stops delivery to `id`; unknown or already removed ids are ignored. Once this returns, no
  // emit calls the handler again, except a call that had already started on another thread (or
  // the calling thread, when a handler unsubscribes itself). The handler object is destroyed
  // once no emitter can still be using it, which may be after this returns.
  void unsubscribe(SubscriptionId id) noexcept;

  // True when at least one subscription would receive an event called `name`. Costs one relaxed
  // atomic load when there are no subscribers at all.
  bool has_subscribers(std::string_view name) const noexcept;

  // Calls every matching handler, in subscription order, on this thread. Never throws on account
  // of a handler; handler exceptions are counted in trellis_telemetry_handler_errors_total.
  void emit(std::string_view name, const boost::json::object& measurements,
            const boost::json::object& metadata) const;

  // How many subscriptions are active right now.
  std::size_t subscriber_count() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Owns one subscription and removes it in its destructor. Movable, not copyable; a
// default-constructed or moved-from Subscription owns nothing.
class Subscription {
 public:
  Subscription() noexcept = default;
  // Subscribes `handler` to `name_prefix` on `dispatcher`, which must outlive this object.
  Subscription(Dispatcher& dispatcher, std::string name_prefix, Handler handler);
  // Adopts an id obtained from dispatcher.subscribe().
  Subscription(Dispatcher& dispatcher, SubscriptionId id) noexcept;
  ~Subscription();
  Subscription(Subscription&& other) noexcept;
  Subscription& operator=(Subscription&& other) noexcept;
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  // The owned id, or 0 when this owns nothing.
  SubscriptionId id() const noexcept { return id_; }
  // Whether this owns a subscription.
  explicit operator bool() const noexcept { return id_ != 0; }
  // Unsubscribes now (if it owns anything) and owns nothing afterwards.
  void reset() noexcept;
  // Gives up ownership without unsubscribing and returns the id (0 when it owned nothing).
  SubscriptionId release() noexcept;

 private:
  Dispatcher* dispatcher_ = nullptr;
  SubscriptionId id_ = 0;
};

}  // namespace trellis::telemetry
