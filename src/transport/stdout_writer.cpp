// StdoutWriter: lines written by their producers, responses batched while more requests wait, a
// flusher thread for batches left waiting. See stdout_writer.hpp for why.
#include "stdout_writer.hpp"

#include "trellis/telemetry/log.hpp"

#include <cerrno>
#include <utility>

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

namespace trellis::stdio_detail {

using telemetry::Logger;

StdoutWriter::StdoutWriter(int fd, std::size_t max_in_flight, std::chrono::microseconds hold)
    : fd_(fd), max_in_flight_(max_in_flight), resume_at_(max_in_flight / 2), hold_(hold) {
  // A pipe of 1 MiB (the unprivileged maximum) instead of 64 KiB: a large result crosses it in
  // 16 times fewer wake-ups of the reader. Not a pipe, or not allowed: nothing changes.
  (void)::fcntl(fd_, F_SETPIPE_SZ, 1024 * 1024);
  if (hold_.count() > 0) flusher_ = std::thread([this] { flush_late(); });
}

StdoutWriter::~StdoutWriter() { close(); }

void StdoutWriter::close() {
  std::unique_lock lock(mutex_);
  if (closed_) return;
  closed_ = true;
  flusher_cv_.notify_one();
  lock.unlock();
  if (flusher_.joinable()) flusher_.join();
  lock.lock();
  if (held_ > 0 && !failed_) write_out(lock, nullptr);
}

bool StdoutWriter::wait_for_room(std::unique_lock<std::mutex>& lock) {
  drained_.wait(lock, [&] { return pending_.size() < kMaxPendingBytes || failed_; });
  return !failed_;
}

bool StdoutWriter::send(std::string message) {
  std::unique_lock lock(mutex_);
  if (!wait_for_room(lock)) return false;
  if (writing_) {
    pending_.append(message).push_back('\n');
    return true;
  }
  return write_out(lock, &message);
}

bool StdoutWriter::send_batched(std::string message) {
  std::unique_lock lock(mutex_);
  if (!wait_for_room(lock)) return false;
  pending_.append(message).push_back('\n');
  if (writing_) return true;  // the producer writing now takes it along
  if (closed_ || hold_.count() == 0 || ++held_ >= kMaxBatchMessages || pending_.size() >= kMaxBatchBytes)
    return write_out(lock, nullptr);
  if (held_ == 1) {
    held_since_ = std::chrono::steady_clock::now();
    ++batches_;
    if (flusher_idle_) flusher_cv_.notify_one();
  }
  return true;
}

bool StdoutWriter::write_out(std::unique_lock<std::mutex>& lock, const std::string* message) {
  writing_ = true;
  std::string batch;
  bool ok = true;
  for (bool first = true; ok && (first || !pending_.empty()); first = false) {
    batch.clear();
    batch.swap(pending_);
    held_ = 0;
    lock.unlock();
    ok = write_lines(batch, first ? message : nullptr);
    lock.lock();
  }
  if (!ok) failed_ = true;
  writing_ = false;
  pending_.clear();  // after a failed write: nothing more will be written
  drained_.notify_all();
  return ok;
}

// One writev of `batch` (whole lines already), then `message` and its newline: a result can be
// megabytes, and is not copied to append either.
bool StdoutWriter::write_lines(std::string_view batch, const std::string* message) {
  iovec parts[3] = {{const_cast<char*>(batch.data()), batch.size()}, {}, {}};
  int count = 1;
  if (message != nullptr) {
    parts[1] = {const_cast<char*>(message->data()), message->size()};
    parts[2] = {const_cast<char*>("\n"), 1};
    count = 3;
  }
  iovec* next = parts;
  while (count > 0) {
    if (next->iov_len == 0) {
      ++next;
      --count;
      continue;
    }
    const ssize_t n = ::writev(fd_, next, count);
    if (n < 0) {
      if (errno == EINTR) continue;
      Logger::global().error("trellis.stdio.write_failed", {{"errno", errno}});
      return false;
    }
    for (auto written = static_cast<std::size_t>(n); written > 0;) {
      const std::size_t from_this = std::min(written, next->iov_len);
      next->iov_base = static_cast<char*>(next->iov_base) + from_this;
      next->iov_len -= from_this;
      written -= from_this;
      if (next->iov_len == 0) {
        ++next;
        --count;
      }
    }
  }
  return true;
}

void StdoutWriter::flush_late() {
  std::unique_lock lock(mutex_);
  std::uint64_t seen = batches_;
  while (!closed_) {
    if (held_ > 0) {
      // held_since_ moves on whenever a producer writes the batch and a new one starts.
      const auto due = held_since_ + hold_;
      if (std::chrono::steady_clock::now() >= due) {
        // Its first response waited the whole hold: the request behind it runs long.
        write_out(lock, nullptr);
      } else {
        flusher_cv_.wait_until(lock, due);
      }
    } else if (batches_ != seen) {
      // Batches come and go: look again a hold later rather than sleep and be woken for the next.
      seen = batches_;
      flusher_cv_.wait_for(lock, hold_);
    } else {
      flusher_idle_ = true;
      flusher_cv_.wait(lock);
      flusher_idle_ = false;
    }
  }
}

void StdoutWriter::finish() {
  // Only the finish that brings the count down to resume_at_ looks: a reader that stopped (at the
  // limit) cannot see the count below it until that finish has run, so no wake-up is lost.
  if (in_flight_.fetch_sub(1, std::memory_order_acq_rel) - 1 != resume_at_) return;
  std::function<void()> resume;
  {
    std::lock_guard lock(admission_mutex_);  // the reader may be waiting for this slot
    resume = std::exchange(on_slot_free_, nullptr);
  }
  if (resume) resume();
}

bool StdoutWriter::admit() {
  std::size_t now = in_flight_.load(std::memory_order_acquire);
  while (now < max_in_flight_)
    if (in_flight_.compare_exchange_weak(now, now + 1, std::memory_order_acq_rel)) return true;
  return false;
}

bool StdoutWriter::admit_or_call_when_free(std::function<void()> on_slot_free) {
  std::lock_guard lock(admission_mutex_);
  if (admit()) return true;
  on_slot_free_ = std::move(on_slot_free);
  return false;
}

}  // namespace trellis::stdio_detail
