// worker_pool.hpp — the bounded set of threads that runs user code (tool handlers, resource
// readers, prompt handlers), so that slow user code never stalls an I/O thread (ARCHITECTURE §4).
//
// Why not boost::asio::thread_pool: a task posted to an idle asio pool wakes a sleeping thread
// through a condition variable, which costs the posting I/O thread a futex system call and the
// worker a context switch on every request — the largest single cost of a small call. Here a
// worker that runs out of work first spins for a short while (one worker at a time, yielding the
// core between looks), and a post that finds it spinning costs no system call at all. Only a
// worker that found nothing while spinning parks on a condition variable.
//
// Why a busy worker keeps a burst to itself: a second worker woken for the requests one client
// sends back to back costs a wake-up, and on a machine with few cores it takes the core that the
// I/O thread and that client need (64 calls in flight over stdio on 2 cores: 11-17 % more calls/s
// than when the burst woke a parked worker). So a task posted from the same source (session) as
// the task before it wakes a parked worker only when nobody is awake to take it, or when the queue
// is kFarBehind tasks deep. A task from another source wakes one whenever nobody spins, as every
// task used to: requests of different sessions do not wait for each other, and over HTTP, where
// consecutive requests mostly come from different sessions, waking for them measured faster
// (stateless, 64 connections: about 7 % more requests/s than with every task lazy).
//
// What keeps a slow handler from holding back the tasks queued behind it is the sentinel: the
// first worker to park waits in ticks of kTick while others are busy, and takes a queued task
// itself when no task was taken for a whole tick. A task therefore waits at most about two ticks
// behind a stuck handler while a worker is free. The sentinel ticks only while a task runs or
// waits, and otherwise sleeps until work comes back, so that an idle server does not wake.
//
// The queue is a deque of task pointers under a spin lock held only to push or pop one pointer
// (a std::mutex there made the I/O thread and the workers sleep on it and wake each other with
// futex calls: with pipelined stdio requests, 700k-790k calls/s against 760k-935k with the spin
// lock), with an atomic count beside it so that a spinning worker looks without taking the lock. (Not
// boost::lockfree::queue: its free list reads recycled nodes without synchronization, a data
// race by the C++ memory model that ThreadSanitizer reports.) Its length is bounded by the
// sessions' in-flight limits; parking and waking take a mutex.
#pragma once

#include "core/spin_lock.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
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

  // Runs `task()` on a worker. Any thread; never blocks. `source` (a session, or null for none)
  // groups tasks into bursts: a task from the same source as the one posted before it may wait
  // for the busy worker; any other wakes a parked worker when nobody is spinning.
  template <class F>
  void post(F&& task, const void* source = nullptr) {
    enqueue(std::make_unique<TaskOf<std::decay_t<F>>>(std::forward<F>(task)), source);
  }

  // Runs what is queued, including what those tasks post, then ends the threads. Idempotent.
  // Not from a worker (a thread cannot join itself).
  void join();

  // Whether tasks wait for a worker now: a hint, true or false a moment later.
  bool has_queued() const noexcept { return queued_.load(std::memory_order_relaxed) > 0; }

  // Whether the calling thread is a worker of some pool (runs a handler): it must not wait for
  // handlers to return, its own among them.
  static bool on_worker_thread() noexcept;

  // Ticks the sentinel has waited so far (for tests: an idle pool must stop ticking).
  std::uint64_t sentinel_ticks() const noexcept { return ticks_.load(std::memory_order_relaxed); }

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

  // A queue this deep wakes another worker at once rather than leaving it to the busy one.
  static constexpr std::size_t kFarBehind = 128;
  static constexpr std::chrono::milliseconds kTick{1};

  void enqueue(std::unique_ptr<Task> task, const void* source);
  bool try_pop(Task*& task);
  void work();
  // Looks for a task for up to spin_ (one spinner at a time). Called counted in busy_; returns
  // true still counted, with a task, or false no longer counted.
  bool spin_for(Task*& task);
  // Parks (or watches, as the sentinel) until this worker is to take a task; false when stopping.
  // Called not counted in busy_; returns true counted, with a task.
  bool park(Task*& task);
  // After taking a task: whether the queue behind it needs another worker, or a sentinel.
  void after_pop();
  // Decides who takes queued work that no spinner will: a parked worker, or nobody yet (only
  // for a task of the burst the busy worker is in, when `eager` is false).
  void nudge(bool eager);
  static void run(Task* task);

  const std::chrono::microseconds spin_;
  const std::size_t size_;
  detail::SpinLock queue_lock_;  // held for one push or pop
  std::deque<Task*> queue_;
  std::atomic<std::size_t> queued_{0};  // queue_.size(), readable without the lock
  std::atomic<std::uint64_t> pops_{0};  // tasks taken so far: the sentinel's sign of progress
  std::atomic<std::size_t> spinning_{0};
  std::atomic<std::size_t> busy_{0};    // workers running tasks, or woken to take one
  std::atomic<bool> watched_{false};    // a sentinel waits in ticks
  std::atomic<const void*> last_source_{nullptr};
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> ticks_{0};
  std::mutex park_mutex_;  // guards the fields below
  std::condition_variable parked_cv_;
  std::condition_variable sentinel_cv_;
  std::size_t parked_ = 0;    // parked workers other than the sentinel
  std::size_t tokens_ = 0;    // wake-ups handed out and not yet taken up (each counted in busy_)
  bool has_sentinel_ = false;
  bool need_sentinel_ = false;  // a parked worker is woken to become the sentinel
  std::mutex join_mutex_;
  std::vector<std::thread> threads_;
};

}  // namespace trellis::server_detail
