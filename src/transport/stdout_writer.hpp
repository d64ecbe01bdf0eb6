// stdout_writer.hpp — the output side of Server::serve_stdio: every message to the client, one
// line each, and the count of requests in flight that the reader stops at (ARCHITECTURE §4).
//
// No writer thread: the first producer to find the descriptor idle writes itself (no thread
// hand-off on the way out, which is most of a round trip's latency), and whatever other producers
// send meanwhile is appended to `pending_` and written by that same producer in one batch.
//
// A response sent with send_batched() (the session does so while more requests wait to run) is
// held back instead, to go out with the responses after it: a client with 64 calls in flight
// then costs the server one write, and wakes the client's reader once, per batch rather than per
// response (over stdio on 2 cores: 13-35 % more calls/s for Trellis's client, see
// docs/performance.md). A batch is written once it holds kMaxBatchMessages responses or
// kMaxBatchBytes, by the next send(), or by the flusher thread once its first response has waited
// `hold`: a response waits that long at most, when the request behind it runs longer. The flusher
// looks once a hold while batches keep coming (so that starting one costs no wake-up) and sleeps
// once a whole hold passed without one.
#pragma once

#include "trellis/server_session.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace trellis::stdio_detail {

class StdoutWriter final : public Outbound {
 public:
  // Producers wait while this much is pending and not yet written (the client is not reading).
  static constexpr std::size_t kMaxPendingBytes = 64 * 1024 * 1024;
  // A batch of held responses is written once it is this large.
  static constexpr std::size_t kMaxBatchMessages = 16;
  static constexpr std::size_t kMaxBatchBytes = 64 * 1024;

  // `max_in_flight`: the session's limit of requests in flight. `hold`: the longest a batched
  // response waits (0: send_batched() is send()).
  StdoutWriter(int fd, std::size_t max_in_flight, std::chrono::microseconds hold);
  // Writes what is held (see close()).
  ~StdoutWriter() override;
  StdoutWriter(const StdoutWriter&) = delete;
  StdoutWriter& operator=(const StdoutWriter&) = delete;

  bool send(std::string message) override;
  bool send_batched(std::string message) override;
  bool streaming() const noexcept override { return true; }
  // A reader stopped at the limit resumes once half the slots are free again, not at the first
  // one: while a client keeps the session at its limit, the reader's thread is woken once per
  // max/2 finished requests (and then admits that many in one go) instead of once per request.
  void finish() override;

  // The reader calls this before handing a request to the session: true when the request may
  // run now (fewer than the limit in flight).
  bool admit();
  // After admit() said no: true when a slot came free in between (the request is admitted),
  // otherwise false, and `on_slot_free` runs once half the slots are free (see finish()).
  bool admit_or_call_when_free(std::function<void()> on_slot_free);

  // Writes what is held and stops the flusher. Later batched responses are written at once.
  void close();

 private:
  // With `lock` held and nobody writing: writes what is pending, then `message` if not null, then
  // whatever is sent meanwhile. Returns with `lock` held; false when a write failed.
  bool write_out(std::unique_lock<std::mutex>& lock, const std::string* message);
  bool write_lines(std::string_view batch, const std::string* message);
  bool wait_for_room(std::unique_lock<std::mutex>& lock);
  void flush_late();  // the flusher thread

  const int fd_;
  const std::size_t max_in_flight_;
  const std::size_t resume_at_;
  const std::chrono::microseconds hold_;

  std::atomic<std::size_t> in_flight_{0};
  std::mutex admission_mutex_;
  std::function<void()> on_slot_free_;

  std::mutex mutex_;  // guards everything below
  std::condition_variable drained_;
  std::condition_variable flusher_cv_;
  std::string pending_;
  std::size_t held_ = 0;  // batched responses in pending_ that no writer has taken up yet
  std::chrono::steady_clock::time_point held_since_;  // when the first of them came
  std::uint64_t batches_ = 0;                          // batches started so far
  bool writing_ = false;
  bool failed_ = false;
  bool closed_ = false;
  bool flusher_idle_ = false;  // waits for held output without a deadline
  std::thread flusher_;
};

}  // namespace trellis::stdio_detail
