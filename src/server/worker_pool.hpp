// worker_pool.hpp — the bounded set of threads that runs user code (tool handlers, resource
// readers, prompt handlers), so that slow user code never stalls an I/O thread (ARCHITECTURE §4).
//
// Why not boost::asio::thread_pool: a task posted to an idle asio pool wakes a sleeping thread
// through a condition variable, which costs the posting I/O thread a futex system call and the
// worker a context switch on every request — the largest single cost of a small call. Here a
// worker that runs out of work first spins for a short while (one worker at a time, yielding the
// core between looks), and a post that finds it spinning costs no system call at all. Only a
// worker that found nothing while spinning parks on the condition variable.
//
// The queue is a deque of task pointers under a mutex held only to push or pop one pointer, with
// an atomic count beside it so that a spinning worker looks without taking the lock. (Not
// boost::lockfree::queue: its free list reads recycled nodes without synchronization, a data
// race by the C++ memory model that ThreadSanitizer reports.) Its length is bounded by the
// sessions' in-flight limits; parking and waking take a second mutex.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace trellis::server_detail {

class WorkerPool {
 public:
  // `spin`: how long a worker that ran out of work keeps looking before it parks (0: never spins).
  WorkerPool(std::size_t threads, std::chrono::microseconds spin);
  // Joins (see join()); tasks still queued then are destroyed without running.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Runs `task()` on a worker. Any thread; never blocks.
  template <class F>
  void post(F&& task) {
    enqueue(std::make_unique<TaskOf<std::decay_t<F>>>(std::forward<F>(task)));
  }

  // Runs what is queued, including what those tasks post, then ends the threads. Idempotent.
  // Not from a worker (a thread cannot join itself).
  void join();

 private:
  struct Task {
    virtual ~Task() = default;
    virtual void run() = 0;
  };
  template <class F>
  struct TaskOf final : Task {
    explicit TaskOf(F&& f) : fn(std::move(f)) {}
    explicit TaskOf(const F& f) : fn(f) {}
    void run() override { fn(); }
    F fn;
  };

  void enqueue(std::unique_ptr<Task> task);
  bool try_pop(Task*& task);
  void work();
  // Looks for a task for up to spin_; false when none came (or another worker is spinning).
  bool spin_for(Task*& task);
  // After taking a task: when more are queued and nobody spins, a parked worker takes the next.
  void wake_if_work_left();
  void wake_one();
  static void run(Task* task);

  const std::chrono::microseconds spin_;
  std::mutex queue_mutex_;
  std::deque<Task*> queue_;
  std::atomic<std::size_t> queued_{0};  // queue_.size(), readable without the mutex
  std::atomic<std::size_t> spinning_{0};
  std::atomic<std::size_t> parked_{0};
  std::atomic<bool> stopping_{false};
  std::mutex park_mutex_;
  std::condition_variable parked_cv_;
  std::mutex join_mutex_;
  std::vector<std::thread> threads_;
};

}  // namespace trellis::server_detail
