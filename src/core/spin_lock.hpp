// spin_lock.hpp — a lock for critical sections of a few instructions that two threads take at
// high rates (the worker pool's queue: one push or one pop), and the pause every busy-wait uses.
//
// Why not std::mutex: when the I/O thread pushes while a worker pops, the loser of a contended
// std::mutex sleeps in the kernel and the winner pays a futex wake-up on unlock, a system call and
// often a context switch each, for a section that lasts nanoseconds (about 7 % of the server's
// samples with pipelined stdio requests). Here the loser spins on a cache line it only reads, and
// yields its core now and then, so that on a machine with fewer cores than busy threads a holder
// that lost its core gets it back. Usable with std::lock_guard (BasicLockable).
#pragma once

#include <atomic>

#include <sched.h>

namespace trellis::detail {

// Tells the core that this thread is busy-waiting (x86 `pause`): the sibling hyperthread gets the
// execution units, and leaving the loop does not flush the pipeline.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

class SpinLock {
 public:
  void lock() noexcept {
    for (unsigned spins = 0; locked_.exchange(true, std::memory_order_acquire);) {
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins % 64 == 0) {
          ::sched_yield();
        } else {
          cpu_relax();
        }
      }
    }
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace trellis::detail
