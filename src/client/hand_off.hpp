// hand_off.hpp — items handed from any thread to the connection's thread in batches.
//
// A push into an empty queue reports that it was the first, and its caller posts one drain; the
// drain takes everything queued by then in one swap. So a read that yields many messages, or a
// completion handler that starts many calls, costs one post to the connection's executor instead
// of one each (a post allocates its handler and, from another thread, locks the io_context's
// queue and may wake its thread). Order is kept: whatever is posted after a push runs after the
// drain that takes it.
#pragma once

#include <mutex>
#include <utility>
#include <vector>

namespace trellis::client_detail {

template <class T>
class HandOff {
 public:
  // Any thread. True when the queue was empty: the caller must post a drain.
  bool push(T item) {
    std::lock_guard lock(mutex_);
    const bool first = queued_.empty();
    queued_.push_back(std::move(item));
    return first;
  }

  // The drain, on the connection's thread only: everything pushed since the last take. Valid
  // until the next take; the two buffers trade places, so neither is reallocated per batch.
  std::vector<T>& take() {
    taken_.clear();
    std::lock_guard lock(mutex_);
    taken_.swap(queued_);
    return taken_;
  }

 private:
  std::mutex mutex_;
  std::vector<T> queued_;
  std::vector<T> taken_;
};

}  // namespace trellis::client_detail
