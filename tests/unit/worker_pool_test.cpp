// WorkerPool: every task runs once, a blocked worker never holds back the others (whether the
// rest spin or sleep), join() runs what is queued, and a throwing task does not end its worker.
#include "server/worker_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

namespace trellis::server_detail {
namespace {

using namespace std::chrono_literals;

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
        for (int i = 0; i < kTasksEach; ++i) pool.post([&runs, n = p * kTasksEach + i] { runs[n].fetch_add(1); });
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
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> blocker_started;
  pool.post([&] {
    blocker_started.set_value();
    released.wait();
  });
  blocker_started.get_future().wait();
  // Let the other worker park (or spin) before the next task arrives.
  std::this_thread::sleep_for(20ms);
  std::promise<void> quick_ran;
  auto quick = quick_ran.get_future();
  pool.post([&] { quick_ran.set_value(); });
  EXPECT_EQ(quick.wait_for(5s), std::future_status::ready) << "the free worker did not take the task";
  release.set_value();
  pool.join();
}

TEST_P(WorkerPoolSpin, ABurstIsSpreadOverTheWorkersNotQueuedBehindOne) {
  // Two tasks that only finish together: they must run at the same time on two workers.
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
    });
  pool.join();
  EXPECT_EQ(done.load(), 2);
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
