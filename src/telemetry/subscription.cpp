// Subscription: the RAII owner of one Dispatcher subscription.
#include "trellis/telemetry/events.hpp"

#include <utility>

namespace trellis::telemetry {

Subscription::Subscription(Dispatcher& dispatcher, std::string name_prefix, Handler handler)
    : dispatcher_(&dispatcher), id_(dispatcher.subscribe(std::move(name_prefix), std::move(handler))) {}

Subscription::Subscription(Dispatcher& dispatcher, SubscriptionId id) noexcept
    : dispatcher_(&dispatcher), id_(id) {}

Subscription::~Subscription() { reset(); }

Subscription::Subscription(Subscription&& other) noexcept
    : dispatcher_(std::exchange(other.dispatcher_, nullptr)), id_(std::exchange(other.id_, 0)) {}

Subscription& Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    reset();
    dispatcher_ = std::exchange(other.dispatcher_, nullptr);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

void Subscription::reset() noexcept {
  if (dispatcher_ != nullptr && id_ != 0) dispatcher_->unsubscribe(id_);
  dispatcher_ = nullptr;
  id_ = 0;
}

SubscriptionId Subscription::release() noexcept {
  dispatcher_ = nullptr;
  return std::exchange(id_, 0);
}

}  // namespace trellis::telemetry
