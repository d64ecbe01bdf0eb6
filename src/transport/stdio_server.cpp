// Server::serve_stdio — one MCP session over newline-delimited JSON on a pair of file descriptors.
//
// A reader thread reads stdin and hands whole lines to the session (a blocking read works for
// pipes, terminals and regular files alike), and stops reading while the session has its limit
// of requests in flight; the session runs on a one-thread io_context; whoever sends a message
// writes stdout directly, batching what others send meanwhile (StdoutWriter).
// Nothing but protocol messages is written to the output descriptor.
#include "trellis/server.hpp"
#include "trellis/server_session.hpp"
#include "trellis/telemetry/log.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

namespace trellis {
namespace {

using telemetry::Logger;

// Everything written to the output descriptor goes through here, one line per message.
//
// No writer thread: the first producer to find the descriptor idle writes itself (no thread
// hand-off on the way out, which is most of a round trip's latency), and whatever other
// producers send meanwhile is appended to `pending_` and written by that same producer in one
// batch. The writer also counts requests in flight so the reader can stop reading at the
// session's limit (backpressure by not reading, ARCHITECTURE §4).
class StdoutWriter final : public Outbound {
 public:
  // Producers wait while this much is pending and not yet written (the client is not reading).
  static constexpr std::size_t kMaxPendingBytes = 64 * 1024 * 1024;

  StdoutWriter(int fd, std::size_t max_in_flight) : fd_(fd), max_in_flight_(max_in_flight) {
    // A pipe of 1 MiB (the unprivileged maximum) instead of 64 KiB: a large result crosses it in
    // 16 times fewer wake-ups of the reader. Not a pipe, or not allowed: nothing changes.
    (void)::fcntl(fd_, F_SETPIPE_SZ, 1024 * 1024);
  }

  bool send(std::string message) override {
    std::unique_lock lock(mutex_);
    drained_.wait(lock, [&] { return pending_.size() < kMaxPendingBytes || failed_; });
    if (failed_) return false;
    if (writing_) {
      pending_.append(message).push_back('\n');
      return true;
    }
    writing_ = true;
    lock.unlock();
    bool ok = write_line(message);  // no copy to append the newline: a result can be megabytes
    lock.lock();
    std::string batch;
    while (ok && !pending_.empty()) {
      batch.clear();
      batch.swap(pending_);
      lock.unlock();
      ok = write_all(batch);
      lock.lock();
    }
    if (!ok) failed_ = true;
    writing_ = false;
    pending_.clear();
    lock.unlock();
    drained_.notify_all();
    return ok;
  }
  bool streaming() const noexcept override { return true; }
  void finish() override {
    if (in_flight_.fetch_sub(1, std::memory_order_acq_rel) < max_in_flight_) return;
    std::lock_guard lock(admission_mutex_);  // the reader may be waiting for this slot
    admission_.notify_one();
  }

  // The reader calls this before handing a request to the session; it returns true once the
  // request may run (fewer than the limit in flight), false when stop_reading() was called.
  bool admit() {
    std::size_t now = in_flight_.load(std::memory_order_acquire);
    while (now < max_in_flight_)
      if (in_flight_.compare_exchange_weak(now, now + 1, std::memory_order_acq_rel)) return true;
    std::unique_lock lock(admission_mutex_);
    admission_.wait(lock, [&] { return in_flight_.load(std::memory_order_acquire) < max_in_flight_ || stop_reading_; });
    if (stop_reading_) return false;
    in_flight_.fetch_add(1, std::memory_order_acq_rel);  // only the reader adds
    return true;
  }
  void stop_reading() {
    std::lock_guard lock(admission_mutex_);
    stop_reading_ = true;
    admission_.notify_all();
  }

 private:
  bool write_line(std::string_view message) {
    iovec parts[2] = {{const_cast<char*>(message.data()), message.size()}, {const_cast<char*>("\n"), 1}};
    std::size_t left = message.size() + 1;
    while (left > 0) {
      const ssize_t n = ::writev(fd_, parts[0].iov_len > 0 ? parts : parts + 1, parts[0].iov_len > 0 ? 2 : 1);
      if (n < 0) {
        if (errno == EINTR) continue;
        Logger::global().error("trellis.stdio.write_failed", {{"errno", errno}});
        return false;
      }
      auto written = static_cast<std::size_t>(n);
      left -= written;
      const std::size_t from_message = std::min(written, parts[0].iov_len);
      parts[0].iov_base = static_cast<char*>(parts[0].iov_base) + from_message;
      parts[0].iov_len -= from_message;
      written -= from_message;
      parts[1].iov_base = static_cast<char*>(parts[1].iov_base) + written;
      parts[1].iov_len -= written;
    }
    return true;
  }

  bool write_all(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        Logger::global().error("trellis.stdio.write_failed", {{"errno", errno}});
        return false;
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  const int fd_;
  const std::size_t max_in_flight_;
  std::atomic<std::size_t> in_flight_{0};
  std::mutex admission_mutex_;
  std::condition_variable admission_;
  bool stop_reading_ = false;
  std::mutex mutex_;
  std::condition_variable drained_;
  std::string pending_;
  bool writing_ = false;
  bool failed_ = false;
};

// Splits the input into lines and answers what cannot be decoded; lines over the message limit
// are skipped up to their newline and answered with an error instead of being buffered.
class LineReader {
 public:
  LineReader(int fd, int wake_fd, std::size_t max_line, std::shared_ptr<Session> session, std::shared_ptr<StdoutWriter> out)
      : fd_(fd), wake_fd_(wake_fd), max_line_(max_line), session_(std::move(session)), out_(std::move(out)) {}

  // Returns at EOF, on a read error, or when woken through wake_fd.
  void run() {
    std::string buffer;
    bool discarding = false;
    std::size_t discarded = 0;
    char chunk[64 * 1024];
    for (;;) {
      pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[1].revents != 0) return;
      const ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      std::string_view data(chunk, static_cast<std::size_t>(n));
      while (!data.empty()) {
        const auto newline = data.find('\n');
        if (discarding) {
          discarded += newline == std::string_view::npos ? data.size() : newline;
          if (newline == std::string_view::npos) break;
          reject_oversized(discarded);
          discarding = false;
          data.remove_prefix(newline + 1);
          continue;
        }
        if (newline == std::string_view::npos) {
          buffer.append(data);
          if (buffer.size() > max_line_) {
            discarding = true;
            discarded = buffer.size();
            buffer.clear();
          }
          break;
        }
        buffer.append(data.substr(0, newline));
        data.remove_prefix(newline + 1);
        if (buffer.size() > max_line_) {
          reject_oversized(buffer.size());
        } else if (!deliver(buffer)) {
          return;
        }
        buffer.clear();
      }
    }
  }

 private:
  // Returns false when the server stops while this request waits for a free slot.
  bool deliver(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) return true;  // blank lines are not messages
    auto message = jsonrpc::decode(line, {.max_message_bytes = max_line_});
    if (!message) {
      std::string reply;
      jsonrpc::encode_decode_error(reply, message.error());
      out_->send(std::move(reply));
      return true;
    }
    const bool request = message->kind() == jsonrpc::MessageKind::request;
    if (request && !out_->admit()) return false;
    session_->receive(std::move(*message), request ? out_ : nullptr);
    return true;
  }

  void reject_oversized(std::size_t size) {
    std::string reply;
    jsonrpc::encode_error(reply, jsonrpc::Id(), jsonrpc_code::invalid_request,
                          "message of " + std::to_string(size) + " bytes exceeds the limit of " + std::to_string(max_line_) +
                              " bytes");
    out_->send(std::move(reply));
  }

  int fd_;
  int wake_fd_;
  std::size_t max_line_;
  std::shared_ptr<Session> session_;
  std::shared_ptr<StdoutWriter> out_;
};

}  // namespace

int Server::serve_stdio() { return serve_stdio(STDIN_FILENO, STDOUT_FILENO); }

int Server::serve_stdio(int in_fd, int out_fd) {
  boost::asio::io_context io(1);
  auto work = boost::asio::make_work_guard(io);
  auto out = std::make_shared<StdoutWriter>(out_fd, options().max_inflight_per_session);
  auto session = Session::create(core_, io.get_executor(), "");
  session->set_standalone(out);
  session->on_closed([&work] { work.reset(); });

  const int wake_fd = ::eventfd(0, EFD_CLOEXEC);
  std::thread reader([&] {
    LineReader(in_fd, wake_fd, options().max_message_bytes, session, out).run();
    session->close();  // EOF: in-flight requests finish, then the session closes
  });
  io.run();
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto woke = ::write(wake_fd, &one, sizeof one);
  out->stop_reading();
  reader.join();
  ::close(wake_fd);
  return 0;
}

}  // namespace trellis
