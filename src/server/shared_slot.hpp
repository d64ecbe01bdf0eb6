// shared_slot.hpp — a shared_ptr that threads load and replace, guarded by a mutex.
//
// Why not std::atomic<std::shared_ptr<T>>: libstdc++ 12 releases its internal lock bit with
// memory_order_relaxed in load(), which is formally a data race and what ThreadSanitizer reports
// (google/sanitizers#1558; see also telemetry/read_mostly.hpp). Under the mutex, a load costs what
// the atomic's own spin lock costs: one uncontended lock and a reference count increment.
#pragma once

#include <memory>
#include <mutex>
#include <utility>

namespace trellis::server_detail {

template <class T>
class SharedSlot {
 public:
  SharedSlot() = default;
  explicit SharedSlot(std::shared_ptr<T> initial) : value_(std::move(initial)) {}

  std::shared_ptr<T> load() const {
    std::lock_guard lock(mutex_);
    return value_;
  }
  void store(std::shared_ptr<T> next) {
    std::lock_guard lock(mutex_);
    value_.swap(next);  // the old value is released outside the lock, when `next` goes
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<T> value_;
};

}  // namespace trellis::server_detail
