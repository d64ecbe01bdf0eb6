// WorkerPool: every task runs once, a blocked worker never holds back the others (whether the
// rest spin or sleep, and with more than one blocked), the sentinel ticks only while work runs,
// join() runs what is queued, and a throwing task does not end its worker.
#include "server/worker_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

namespace trellis::server_detail {
namespace {

using namespace std::chrono_literals;

// Tasks posted with one source are one session's burst: they wait for the busy worker, and only the
// sentinel (after a tick without progress) takes one that a blocked worker holds up.
const int kSession = 0;
const void* const kOneSession = &kSession;

// Posts a task of kOneSession that holds its worker until `released` is ready; the future it
// returns is ready once the task has started.
std::future<void> post_blocker(WorkerPool& pool, const std::shared_future<void>& released) {
  auto started = std::make_shared<std::promise<void>>();
  auto result = started->get_future();
  pool.post([started, released] {
    started->set_value();
    released.wait();
  }, kOneSession);
  return result;
}

// Posts a task of kOneSession and waits up to 5 s for a worker to run it.
bool runs_within_5s(WorkerPool& pool) {
  auto ran = std::make_shared<std::promise<void>>();
  auto result = ran->get_future();
  pool.post([ran] { ran->set_value(); }, kOneSession);
  return result.wait_for(5s) == std::future_status::ready;
}

class WorkerPoolSpin : public ::testing::TestWithParam<int> {
 protected:
  std::chrono::microseconds spin() const { return std::chrono::microseconds(GetParam()); }
};

TEST_P(WorkerPoolSpin, RunsEveryTaskPostedFromManyThreadsExactlyOnce) {
  constexpr int kPosters = 4;
  constexpr int kTasksEach = 20000;
  std::vector<std::atomic<int>> runs(kPosters * kTasksEach);
  {
    WorkerPool pool(3, spin());
    std::vector<std::thread> posters;
    for (int p = 0; p < kPosters; ++p)
      posters.emplace_back([&, p] {
        // Posters 0 and 1 share one source (one session's bursts), 2 and 3 post without one.
        const void* source = p < 2 ? kOneSession : nullptr;
        for (int i = 0; i < kTasksEach; ++i) pool.post([&runs, n = p * kTasksEach + i] { runs[n].fetch_add(1); }, source);
      });
    for (auto& t : posters) t.join();
    pool.join();
  }
  int wrong = 0;
  for (auto& r : runs) wrong += r.load() != 1;
  EXPECT_EQ(wrong, 0);
}

TEST_P(WorkerPoolSpin, ABlockedWorkerDoesNotHoldBackTheNextTask) {
  WorkerPool pool(2, spin());
  std::promise<void> release;
  post_blocker(pool, release.get_future().share()).wait();
  // Let the other worker park (or spin) before the next task arrives.
  std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(runs_within_5s(pool)) << "the free worker did not take the task";
  release.set_value();
  pool.join();
}

TEST_P(WorkerPoolSpin, TwoTasksThatWaitForEachOtherBothRun) {
  // Two tasks that only finish together: the second, queued behind a busy worker, must be taken
  // by the other (the sentinel, once a tick passes without progress).
  WorkerPool pool(2, spin());
  std::this_thread::sleep_for(20ms);  // both workers idle
  std::atomic<int> arrived{0};
  std::atomic<int> done{0};
  for (int i = 0; i < 2; ++i)
    pool.post([&] {
      arrived.fetch_add(1);
      const auto deadline = std::chrono::steady_clock::now() + 5s;
      while (arrived.load() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
      if (arrived.load() == 2) done.fetch_add(1);
    }, kOneSession);
  pool.join();
  EXPECT_EQ(done.load(), 2);
}

TEST_P(WorkerPoolSpin, WithTwoWorkersStuckTheThirdStillTakesTheNextTask) {
  // The sentinel that took the second blocked task leaves its role; a parked worker must take it
  // up, or the quick task would wait for a blocked handler.
  WorkerPool pool(3, spin());
  std::promise<void> release;
  const std::shared_future<void> released = release.get_future().share();
  post_blocker(pool, released).wait();
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(post_blocker(pool, released).wait_for(5s), std::future_status::ready) << "nobody took the second task";
  std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(runs_within_5s(pool)) << "the third worker did not take the task";
  release.set_value();
  pool.join();
}

TEST_P(WorkerPoolSpin, TheSentinelTicksWhileATaskWaitsAndSleepsInAnIdlePool) {
  WorkerPool pool(2, spin());
  std::promise<void> release;
  post_blocker(pool, release.get_future().share()).wait();
  // From here the other worker parks, as the sentinel, and ticks: from the start if it parks
  // after the blocked task began, or from when the task below is queued if it parked before.
  const auto before = pool.sentinel_ticks();
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(runs_within_5s(pool));  // it waits behind the blocked worker
  EXPECT_GT(pool.sentinel_ticks(), before) << "the waiting task was taken without the sentinel ticking";
  release.set_value();
  // Idle from here: at its next tick the sentinel stops ticking. Looked for in windows of 30 ms,
  // so that a slow machine only takes longer to settle.
  bool quiet = false;
  for (const auto deadline = std::chrono::steady_clock::now() + 5s; !quiet && std::chrono::steady_clock::now() < deadline;) {
    const auto ticks = pool.sentinel_ticks();
    std::this_thread::sleep_for(30ms);
    quiet = pool.sentinel_ticks() == ticks;
  }
  EXPECT_TRUE(quiet) << "an idle pool keeps waking";
  pool.join();
}

TEST_P(WorkerPoolSpin, JoinRunsQueuedTasksAndWhatTheyPost) {
  std::atomic<int> runs{0};
  WorkerPool pool(1, spin());
  for (int i = 0; i < 100; ++i)
    pool.post([&] {
      runs.fetch_add(1);
      pool.post([&] { runs.fetch_add(1); });
    });
  pool.join();
  EXPECT_EQ(runs.load(), 200);
  pool.join();  // idempotent
}

TEST_P(WorkerPoolSpin, AThrowingTaskDoesNotEndItsWorker) {
  WorkerPool pool(1, spin());
  pool.post([] { throw std::runtime_error("boom"); });
  std::promise<void> next_ran;
  auto next = next_ran.get_future();
  pool.post([&] { next_ran.set_value(); });
  EXPECT_EQ(next.wait_for(5s), std::future_status::ready);
  pool.join();
}

TEST(WorkerPool, TasksPostedAfterJoinAreDestroyedUnrun) {
  auto witness = std::make_shared<int>(0);
  std::atomic<bool> ran{false};
  {
    WorkerPool pool(1, std::chrono::microseconds(50));
    pool.join();
    pool.post([witness, &ran] { ran = true; });
    EXPECT_EQ(witness.use_count(), 2);
  }
  EXPECT_FALSE(ran.load());
  EXPECT_EQ(witness.use_count(), 1) << "the unrun task leaked";
}

INSTANTIATE_TEST_SUITE_P(SpinOrSleep, WorkerPoolSpin, ::testing::Values(0, 50, 5000),
                         [](const ::testing::TestParamInfo<int>& param_info) { return "spin" + std::to_string(param_info.param) + "us"; });

}  // namespace
}  // namespace trellis::server_detail
