// WorkerPool: spin briefly, then park; see worker_pool.hpp for why.
#include "worker_pool.hpp"

#include "trellis/telemetry/log.hpp"

#include <exception>

#include <sched.h>

namespace trellis::server_detail {
namespace {

void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

WorkerPool::WorkerPool(std::size_t threads, std::chrono::microseconds spin) : spin_(spin) {
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

WorkerPool::~WorkerPool() {
  join();
  for (Task* task : queue_) delete task;  // posted after join(): never runs
}

void WorkerPool::join() {
  std::lock_guard join_lock(join_mutex_);
  {
    std::lock_guard lock(park_mutex_);
    stopping_.store(true, std::memory_order_seq_cst);
  }
  parked_cv_.notify_all();
  for (auto& thread : threads_)
    if (thread.joinable()) thread.join();
}

void WorkerPool::enqueue(std::unique_ptr<Task> task) {
  {
    std::lock_guard lock(queue_mutex_);
    queue_.push_back(task.get());
    (void)task.release();  // owned by the queue now
    queued_.fetch_add(1, std::memory_order_seq_cst);
  }
  // Ordered after the push: a worker that announced itself spinning or parked before it looked at
  // the queue either sees this task or is seen here.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (spinning_.load(std::memory_order_seq_cst) == 0 && parked_.load(std::memory_order_seq_cst) > 0) wake_one();
}

bool WorkerPool::try_pop(Task*& task) {
  if (queued_.load(std::memory_order_seq_cst) == 0) return false;
  std::lock_guard lock(queue_mutex_);
  if (queue_.empty()) return false;
  task = queue_.front();
  queue_.pop_front();
  queued_.fetch_sub(1, std::memory_order_seq_cst);
  return true;
}

void WorkerPool::wake_one() {
  // Taking the mutex orders this wake after a parking worker's last look at the queue.
  { std::lock_guard lock(park_mutex_); }
  parked_cv_.notify_one();
}

void WorkerPool::wake_if_work_left() {
  // Pairs with the fence in enqueue(): a post that saw this worker still spinning (and so woke
  // nobody) pushed its task before that fence, and the look at the queue below sees it.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (queued_.load(std::memory_order_seq_cst) == 0 || spinning_.load(std::memory_order_seq_cst) != 0) return;
  if (parked_.load(std::memory_order_seq_cst) > 0) wake_one();
}

void WorkerPool::run(Task* task) {
  const std::unique_ptr<Task> owned(task);
  try {
    owned->run();
  } catch (const std::exception& e) {
    telemetry::Logger::global().error("trellis.worker.task_exception", {{"what", telemetry::truncate_for_log(e.what())}});
  } catch (...) {
    telemetry::Logger::global().error("trellis.worker.task_exception", {{"what", "unknown exception"}});
  }
}

bool WorkerPool::spin_for(Task*& task) {
  if (spin_.count() == 0 || spinning_.load(std::memory_order_relaxed) != 0) return false;
  spinning_.fetch_add(1, std::memory_order_seq_cst);
  const auto deadline = std::chrono::steady_clock::now() + spin_;
  bool found = false;
  for (unsigned looks = 1;; ++looks) {
    if ((found = try_pop(task))) break;
    if (looks % 64 == 0) {
      if (std::chrono::steady_clock::now() >= deadline || stopping_.load(std::memory_order_relaxed)) break;
      // On a machine with fewer cores than busy threads the spinner would otherwise hold the
      // core the producer of its next task needs.
      ::sched_yield();
    } else {
      cpu_relax();
    }
  }
  spinning_.fetch_sub(1, std::memory_order_seq_cst);
  return found;
}

void WorkerPool::work() {
  for (;;) {
    Task* task = nullptr;
    if (!try_pop(task) && !spin_for(task)) {
      std::unique_lock lock(park_mutex_);
      parked_.fetch_add(1, std::memory_order_seq_cst);
      // Looked at after announcing the park: a post either sees parked_ or its task is seen here.
      std::atomic_thread_fence(std::memory_order_seq_cst);
      while (!try_pop(task)) {
        if (stopping_.load(std::memory_order_seq_cst)) {
          parked_.fetch_sub(1, std::memory_order_seq_cst);
          return;
        }
        parked_cv_.wait(lock);
      }
      parked_.fetch_sub(1, std::memory_order_seq_cst);
    }
    wake_if_work_left();
    run(task);
  }
}

}  // namespace trellis::server_detail
