// read_mostly.hpp — an immutable value that many threads read without locks and writers replace.
//
// Why not std::atomic<std::shared_ptr<const T>>: it builds warning-free with g++ 12 and clang 14,
// but libstdc++ 12's load() releases its internal lock bit with memory_order_relaxed, so the read
// of the stored pointer is not ordered before a later store's write. ThreadSanitizer reports it
// (google/sanitizers#1558) and, formally, it is a data race. So readers here announce themselves
// in one of two counters instead, and a replaced value is freed only after a grace period in which
// both counters were seen empty once each (the "Left-Right" two-counter scheme):
//
//   reader:  slot = version & 1;  readers[slot] += 1;  p = current;  ...use *p...;  readers[slot] -= 1
//   writer:  old = exchange(current, next);  retire(old, version)
//            advance: while readers[(version + 1) & 1] == 0 and at most twice: version += 1
//            free every retired value whose version + 2 <= version
//
// A reader that still sees `old` loaded it before the exchange, so its increment (whichever slot
// it chose, even from a stale version) precedes both slot checks the two advances make; one of
// them waits for it. Writers never block on readers: a value that cannot be freed yet stays
// retired until a later update() or try_reclaim(). That is what lets a reader (an event handler)
// call update() itself without deadlocking.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace trellis::telemetry::detail {

// kCounterAlignment: 64 keeps the two reader counters on cache lines of their own, for a cell that
// many threads read at once (the catalog); a cell that belongs to one session, rarely read, passes
// alignof(std::uint64_t) and stays small (an over-aligned object also costs every allocation of
// what contains it an aligned malloc).
template <class T, std::size_t kCounterAlignment = 64>
class ReadMostly {
 public:
  explicit ReadMostly(std::unique_ptr<const T> initial) : current_(initial.release()) {}

  // Precondition: no Reader is alive.
  ~ReadMostly() { delete current_.load(std::memory_order_relaxed); }

  ReadMostly(const ReadMostly&) = delete;
  ReadMostly& operator=(const ReadMostly&) = delete;

  // A read-side critical section: the value it points at stays alive until it is destroyed. Two
  // atomic read-modify-writes; never blocks. Readers nest freely.
  class Reader {
   public:
    explicit Reader(const ReadMostly& cell) noexcept
        : cell_(cell), slot_(cell.version_.load(std::memory_order_seq_cst) & 1U) {
      cell_.readers_[slot_].count.fetch_add(1, std::memory_order_seq_cst);
      value_ = cell_.current_.load(std::memory_order_seq_cst);
    }
    ~Reader() { cell_.readers_[slot_].count.fetch_sub(1, std::memory_order_release); }
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;

    const T& operator*() const noexcept { return *value_; }
    const T* operator->() const noexcept { return value_; }

   private:
    const ReadMostly& cell_;
    std::uint64_t slot_;
    const T* value_ = nullptr;
  };

  // Under the writer mutex: `make_next(const T& current)` returns the replacement, or nullptr to
  // keep the current value. If make_next throws, nothing is published; nothing after it throws.
  template <class MakeNext>
  void update(MakeNext&& make_next) {
    const std::lock_guard lock(write_mutex_);
    // Room to retire the old value first, so nothing can throw once make_next has had effects.
    if (retired_.size() == retired_.capacity()) retired_.reserve(2 * retired_.size() + 2);
    std::unique_ptr<const T> next = std::forward<MakeNext>(make_next)(*current_.load(std::memory_order_relaxed));
    if (!next) return;
    const T* old = current_.exchange(next.release(), std::memory_order_seq_cst);
    retired_.push_back({std::unique_ptr<const T>(old), version_.load(std::memory_order_relaxed)});
    advance_and_free();
  }

  // Frees retired values whose grace period has ended, unless another thread holds the writer
  // mutex (then it will). Cheap when nothing is retired; safe to call outside any Reader.
  void try_reclaim() const noexcept {
    if (!reclaim_pending_.load(std::memory_order_relaxed)) return;
    const std::unique_lock lock(write_mutex_, std::try_to_lock);
    if (lock.owns_lock()) advance_and_free();
  }

  // How many replaced values still wait for their grace period (for tests).
  std::size_t retired_count() const {
    const std::lock_guard lock(write_mutex_);
    return retired_.size();
  }

 private:
  struct Retired {
    std::unique_ptr<const T> value;
    std::uint64_t version;  // version_ when it was replaced
  };
  struct alignas(kCounterAlignment) ReaderCount {
    std::atomic<std::uint64_t> count{0};
  };

  // Precondition: write_mutex_ held.
  void advance_and_free() const noexcept {
    for (int step = 0; step < 2; ++step) {
      const std::uint64_t version = version_.load(std::memory_order_relaxed);
      if (readers_[(version + 1) & 1U].count.load(std::memory_order_seq_cst) != 0) break;
      version_.store(version + 1, std::memory_order_seq_cst);
    }
    const std::uint64_t version = version_.load(std::memory_order_relaxed);
    std::erase_if(retired_, [version](const Retired& r) { return r.version + 2 <= version; });
    reclaim_pending_.store(!retired_.empty(), std::memory_order_relaxed);
  }

  std::atomic<const T*> current_;
  mutable std::atomic<std::uint64_t> version_{0};
  mutable ReaderCount readers_[2];
  mutable std::mutex write_mutex_;
  mutable std::vector<Retired> retired_;  // guarded by write_mutex_
  mutable std::atomic<bool> reclaim_pending_{false};
};

// A ReadMostly holding a shared_ptr: a slot that threads load and replace without the formal
// race of libstdc++ 12's std::atomic<std::shared_ptr> (see the top of this file).
template <class U, std::size_t A>
std::shared_ptr<U> load_shared(const ReadMostly<std::shared_ptr<U>, A>& cell) {
  std::shared_ptr<U> copy = *typename ReadMostly<std::shared_ptr<U>, A>::Reader(cell);
  cell.try_reclaim();  // outside the Reader: what an earlier store replaced can go now
  return copy;
}
template <class U, std::size_t A>
void store_shared(ReadMostly<std::shared_ptr<U>, A>& cell, std::shared_ptr<U> next) {
  cell.update([&](const std::shared_ptr<U>&) { return std::make_unique<const std::shared_ptr<U>>(std::move(next)); });
}

}  // namespace trellis::telemetry::detail
