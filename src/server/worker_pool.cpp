// WorkerPool: spin briefly, then park; one busy worker keeps the queue unless it falls far behind
// or gets stuck, which the sentinel notices. See worker_pool.hpp for why.
#include "worker_pool.hpp"

#include "core/current_exception.hpp"

#include "trellis/telemetry/log.hpp"

#include <exception>

#include <sched.h>

namespace trellis::server_detail {
namespace {

constexpr auto kSeqCst = std::memory_order_seq_cst;

thread_local bool t_on_worker = false;

}  // namespace

WorkerPool::WorkerPool(std::size_t threads, std::chrono::microseconds spin) : spin_(spin), size_(threads) {
  busy_.store(threads, kSeqCst);  // each worker starts counted and goes idle when it finds no work
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
    stopping_.store(true, kSeqCst);
  }
  parked_cv_.notify_all();
  sentinel_cv_.notify_all();
  for (auto& thread : threads_)
    if (thread.joinable()) thread.join();
}

void WorkerPool::enqueue(std::unique_ptr<Task> task, const void* source) {
  // Written only when the source changes: one client's burst leaves the cache line shared.
  const bool same_burst = source != nullptr && last_source_.load(std::memory_order_relaxed) == source;
  if (!same_burst) last_source_.store(source, std::memory_order_relaxed);
  {
    std::lock_guard lock(queue_lock_);
    queue_.push_back(task.get());
    (void)task.release();  // owned by the queue now
    queued_.fetch_add(1, kSeqCst);
  }
  // Ordered after the push: a worker that announced itself spinning, or stopped counting itself
  // busy, before it looked at the queue either sees this task or is seen here.
  std::atomic_thread_fence(kSeqCst);
  if (spinning_.load(kSeqCst) != 0) return;  // the spinner takes it
  const std::size_t busy = busy_.load(kSeqCst);
  if (busy >= size_) return;  // every worker looks at the queue when its task ends
  // The common case within a burst: the busy worker takes it next, and the sentinel watches.
  if (same_burst && busy > 0 && queued_.load(kSeqCst) < kFarBehind && watched_.load(kSeqCst)) return;
  nudge(!same_burst);
}

bool WorkerPool::try_pop(Task*& task) {
  if (queued_.load(kSeqCst) == 0) return false;
  std::lock_guard lock(queue_lock_);
  if (queue_.empty()) return false;
  task = queue_.front();
  queue_.pop_front();
  queued_.fetch_sub(1, kSeqCst);
  pops_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void WorkerPool::nudge(bool eager) {
  std::lock_guard lock(park_mutex_);
  const std::size_t queued = queued_.load(kSeqCst);
  if (queued == 0) return;
  if (eager || busy_.load(kSeqCst) == 0 || queued >= kFarBehind) {
    // Not part of the busy worker's burst, nobody awake to take the work, or the busy workers far
    // behind: wake one more, counted busy from now so that the posts behind do not wake another.
    const std::size_t sleepers = parked_ + (has_sentinel_ ? 1 : 0);
    if (sleepers <= tokens_) return;  // every sleeper is already on its way
    ++tokens_;
    busy_.fetch_add(1, kSeqCst);
    if (parked_ >= tokens_) {
      parked_cv_.notify_one();
    } else {
      sentinel_cv_.notify_one();
    }
    return;
  }
  // A busy worker takes the work when its task ends; someone must watch that it does end.
  if (has_sentinel_) {
    if (!watched_.load(kSeqCst)) sentinel_cv_.notify_one();  // asleep since the pool went idle
  } else if (parked_ > tokens_ && !need_sentinel_) {
    need_sentinel_ = true;
    parked_cv_.notify_one();
  }
}

void WorkerPool::after_pop() {
  if (size_ == 1) return;  // nobody else to wake
  const std::size_t queued = queued_.load(kSeqCst);
  if (queued == 0 || spinning_.load(kSeqCst) != 0) return;
  if (queued >= kFarBehind || !watched_.load(kSeqCst)) nudge(false);
}

void WorkerPool::run(Task* task) {
  const std::unique_ptr<Task> owned(task);
  try {
    owned->run();
  } catch (...) {
    telemetry::Logger::global().error("trellis.worker.task_exception",
                                      {{"what", telemetry::truncate_for_log(detail::current_exception_message())}});
  }
}

bool WorkerPool::spin_for(Task*& task) {
  if (spin_.count() == 0 || spinning_.load(std::memory_order_relaxed) != 0) {
    busy_.fetch_sub(1, kSeqCst);
    return false;
  }
  // Spinning before not busy: a post in between sees someone who will look.
  spinning_.fetch_add(1, kSeqCst);
  busy_.fetch_sub(1, kSeqCst);
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
      detail::cpu_relax();
    }
  }
  if (found) busy_.fetch_add(1, kSeqCst);
  spinning_.fetch_sub(1, kSeqCst);
  return found;
}

bool WorkerPool::park(Task*& task) {
  std::unique_lock lock(park_mutex_);
  bool sentinel = !has_sentinel_;
  if (sentinel) {
    has_sentinel_ = true;
  } else {
    ++parked_;
  }
  const auto leave = [&] {
    if (sentinel) {
      has_sentinel_ = false;
      watched_.store(false, kSeqCst);
    } else {
      --parked_;
    }
  };
  bool look = true;  // a worker that just went idle looks once: a task may have come meanwhile
  bool ticked = false;
  std::uint64_t seen = pops_.load(kSeqCst);
  for (;;) {
    const bool stopping = stopping_.load(kSeqCst);
    bool counted = false;
    if (tokens_ > 0) {
      --tokens_;  // the waker counted this worker busy
      counted = look = true;
    } else if (need_sentinel_ && !sentinel) {
      need_sentinel_ = false;
      if (!has_sentinel_) {
        --parked_;
        has_sentinel_ = sentinel = true;
        seen = pops_.load(kSeqCst);
      }
    }
    if (sentinel && !look && queued_.load(kSeqCst) > 0) {
      // Take the work when nobody else is awake to, when the busy workers are far behind, or
      // when a whole tick passed without a task taken: a handler is holding up the queue.
      const std::uint64_t pops = pops_.load(kSeqCst);
      look = busy_.load(kSeqCst) == 0 || queued_.load(kSeqCst) >= kFarBehind || (ticked && pops == seen);
    }
    if (ticked) seen = pops_.load(kSeqCst);
    if (look || stopping) {
      if (!counted) busy_.fetch_add(1, kSeqCst);
      if (try_pop(task)) {
        leave();
        return true;
      }
      busy_.fetch_sub(1, kSeqCst);
      if (stopping) {
        leave();
        return false;
      }
      // Another worker took that task. One posted while this worker counted itself busy may
      // have counted on it: look again rather than wait a tick for it.
      look = queued_.load(kSeqCst) > 0;
      if (look) continue;
    }
    if (sentinel) {
      // Ticks only while a handler runs or a task waits: an idle server does not wake.
      const bool watch = busy_.load(kSeqCst) > 0 || queued_.load(kSeqCst) > 0;
      watched_.store(watch, kSeqCst);
      if (watch) {
        ticks_.fetch_add(1, std::memory_order_relaxed);
        ticked = sentinel_cv_.wait_for(lock, kTick) == std::cv_status::timeout;
      } else {
        sentinel_cv_.wait(lock);
        ticked = false;
      }
    } else {
      parked_cv_.wait(lock);
      ticked = false;
    }
  }
}

bool WorkerPool::on_worker_thread() noexcept { return t_on_worker; }

void WorkerPool::work() {
  t_on_worker = true;
  for (;;) {
    Task* task = nullptr;
    if (!try_pop(task) && !spin_for(task) && !park(task)) return;
    after_pop();
    run(task);
  }
}

}  // namespace trellis::server_detail
