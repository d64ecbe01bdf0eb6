// SpinLock: one holder at a time, with more threads than cores contending (a plain counter under
// the lock ends exact, and ThreadSanitizer sees the lock's ordering), and a waiter gets the lock
// only once the holder lets go.
#include "core/spin_lock.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

namespace trellis::detail {
namespace {

using namespace std::chrono_literals;

TEST(SpinLock, ContendingThreadsEachHoldItAlone) {
  constexpr int kThreads = 4, kRounds = 20'000;
  SpinLock lock;
  long counter = 0;  // not atomic: only the lock orders the increments
  int inside = 0;
  bool overlapped = false;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < kRounds; ++i) {
        std::lock_guard hold(lock);
        if (++inside != 1) overlapped = true;
        ++counter;
        --inside;
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_FALSE(overlapped);
  EXPECT_EQ(counter, static_cast<long>(kThreads) * kRounds);
}

TEST(SpinLock, AWaiterGetsItOnlyAfterTheHolderUnlocks) {
  SpinLock lock;
  lock.lock();
  std::atomic<bool> acquired{false};
  std::thread waiter([&] {
    std::lock_guard hold(lock);
    acquired = true;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(acquired.load());  // still spinning (and yielding) on the held lock
  lock.unlock();
  waiter.join();
  EXPECT_TRUE(acquired.load());
}

}  // namespace
}  // namespace trellis::detail
