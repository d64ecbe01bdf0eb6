// Ids of calls that already ended (timeout, cancel, failed transport): a response that still
// arrives for one is late and must be dropped. Each lives for the design-001 TTL
// (request_timeout + init_timeout + backoff_max + 5 s); expiry is by insertion order, since every
// tombstone gets the same TTL.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <unordered_set>

namespace trellis::client_detail {

class Tombstones {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Tombstones(Clock::duration ttl) : ttl_(ttl) {}

  void add(std::int64_t id, Clock::time_point now) {
    expire(now);
    if (ids_.insert(id).second) order_.push_back({now + ttl_, id});
  }
  bool contains(std::int64_t id, Clock::time_point now) {
    expire(now);
    return ids_.contains(id);
  }
  // Live tombstones at `now` (entries are in expiry order).
  std::size_t size(Clock::time_point now) const {
    const auto live = std::partition_point(order_.begin(), order_.end(), [&](const Entry& e) { return e.expires <= now; });
    return static_cast<std::size_t>(order_.end() - live);
  }
  Clock::duration ttl() const noexcept { return ttl_; }

 private:
  void expire(Clock::time_point now) {
    while (!order_.empty() && order_.front().expires <= now) {
      ids_.erase(order_.front().id);
      order_.pop_front();
    }
  }

  struct Entry {
    Clock::time_point expires;
    std::int64_t id;
  };
  Clock::duration ttl_;
  std::deque<Entry> order_;
  std::unordered_set<std::int64_t> ids_;
};

}  // namespace trellis::client_detail
