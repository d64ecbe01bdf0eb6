// Dispatcher: prefix subscriptions in a lock-free snapshot, isolated handlers.
#include "trellis/telemetry/events.hpp"

#include "telemetry/read_mostly.hpp"
#include "trellis/telemetry/metrics.hpp"

#include <atomic>
#include <stdexcept>
#include <utility>
#include <vector>

namespace trellis::telemetry {
namespace {

struct Subscriber {
  Subscriber(SubscriptionId id_in, std::string prefix_in, Handler handler_in)
      : id(id_in), prefix(std::move(prefix_in)), handler(std::move(handler_in)) {}

  const SubscriptionId id;
  const std::string prefix;
  const Handler handler;
  // Cleared by unsubscribe before the snapshot without it is published, so emitters already
  // holding the older snapshot skip it too.
  std::atomic<bool> active{true};
};

// Entries are shared between consecutive snapshots; a snapshot is never modified once published.
struct Snapshot {
  std::vector<std::shared_ptr<Subscriber>> subscribers;
};

// A copy of `current` keeping only active subscribers, with room for one more.
std::unique_ptr<Snapshot> copy_active(const Snapshot& current) {
  auto next = std::make_unique<Snapshot>();
  next->subscribers.reserve(current.subscribers.size() + 1);
  for (const auto& subscriber : current.subscribers) {
    if (subscriber->active.load(std::memory_order_relaxed)) next->subscribers.push_back(subscriber);
  }
  return next;
}

}  // namespace

bool prefix_matches(std::string_view name_prefix, std::string_view name) noexcept {
  if (!name.starts_with(name_prefix)) return false;
  if (name_prefix.empty() || name.size() == name_prefix.size()) return true;
  return name_prefix.back() == '.' || name[name_prefix.size()] == '.';
}

struct Dispatcher::State {
  explicit State(Counter& errors) : handler_errors(errors) {}

  detail::ReadMostly<Snapshot> snapshot{std::make_unique<Snapshot>()};
  std::atomic<std::size_t> active_count{0};  // the emit fast path reads only this
  SubscriptionId next_id = 1;                // guarded by the snapshot's writer mutex
  Counter& handler_errors;
};

Dispatcher::Dispatcher() : Dispatcher(Registry::global()) {}

Dispatcher::Dispatcher(Registry& metrics)
    : state_(std::make_unique<State>(metrics.counter(
          "trellis_telemetry_handler_errors_total",
          "Telemetry event handlers that threw; the exception was swallowed and the event still "
          "reached the other handlers."))) {}

Dispatcher::~Dispatcher() = default;

Dispatcher& Dispatcher::global() noexcept {
  static Dispatcher* const instance = new Dispatcher(Registry::global());
  return *instance;
}

SubscriptionId Dispatcher::subscribe(std::string name_prefix, Handler handler) {
  if (!handler) {
    throw std::invalid_argument("telemetry: subscribe(\"" + name_prefix + "\") needs a non-empty handler");
  }
  SubscriptionId id = 0;
  state_->snapshot.update([&](const Snapshot& current) {
    auto next = copy_active(current);
    id = state_->next_id;
    next->subscribers.push_back(std::make_shared<Subscriber>(id, std::move(name_prefix), std::move(handler)));
    ++state_->next_id;
    state_->active_count.fetch_add(1, std::memory_order_relaxed);
    return next;
  });
  return id;
}

void Dispatcher::unsubscribe(SubscriptionId id) noexcept {
  try {
    state_->snapshot.update([&](const Snapshot& current) -> std::unique_ptr<Snapshot> {
      bool found = false;
      for (const auto& subscriber : current.subscribers) {
        if (subscriber->id == id && subscriber->active.exchange(false, std::memory_order_release)) {
          found = true;
          state_->active_count.fetch_sub(1, std::memory_order_relaxed);
        }
      }
      // The copy may fail to allocate; the entry is inactive already and the next successful
      // update drops it.
      return found ? copy_active(current) : nullptr;
    });
  } catch (...) {  // std::bad_alloc from copy_active: see above
  }
}

bool Dispatcher::has_subscribers(std::string_view name) const noexcept {
  if (state_->active_count.load(std::memory_order_relaxed) == 0) return false;
  const detail::ReadMostly<Snapshot>::Reader snapshot{state_->snapshot};
  for (const auto& subscriber : snapshot->subscribers) {
    if (subscriber->active.load(std::memory_order_acquire) && prefix_matches(subscriber->prefix, name)) return true;
  }
  return false;
}

void Dispatcher::emit(std::string_view name, const boost::json::object& measurements,
                      const boost::json::object& metadata) const {
  if (state_->active_count.load(std::memory_order_relaxed) == 0) return;
  {
    const detail::ReadMostly<Snapshot>::Reader snapshot{state_->snapshot};
    const Event event{name, measurements, metadata};
    for (const auto& subscriber : snapshot->subscribers) {
      if (!subscriber->active.load(std::memory_order_acquire) || !prefix_matches(subscriber->prefix, name)) continue;
      try {
        subscriber->handler(event);
      } catch (...) {
        state_->handler_errors.inc();
      }
    }
  }
  state_->snapshot.try_reclaim();
}

std::size_t Dispatcher::subscriber_count() const noexcept {
  return state_->active_count.load(std::memory_order_relaxed);
}

}  // namespace trellis::telemetry
