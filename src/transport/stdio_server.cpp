// Server::serve_stdio — one MCP session over newline-delimited JSON on a pair of file descriptors.
//
// A reader thread reads stdin and hands whole lines to the session (a blocking read works for
// pipes, terminals and regular files alike); the session runs on a one-thread io_context; a
// writer thread batches everything queued for stdout into as few write(2) calls as it can.
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

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace trellis {
namespace {

using telemetry::Logger;

// Everything written to the output descriptor goes through here, one line per message.
class StdoutWriter final : public Outbound {
 public:
  // Producers wait while this much is queued and not yet written (the client is not reading).
  static constexpr std::size_t kMaxQueuedBytes = 64 * 1024 * 1024;

  explicit StdoutWriter(int fd) : fd_(fd), thread_([this] { run(); }) {}
  ~StdoutWriter() override { stop(); }

  bool send(std::string message) override {
    std::unique_lock lock(mutex_);
    space_.wait(lock, [&] { return queued_.size() < kMaxQueuedBytes || closed_; });
    if (closed_ || failed_) return false;
    queued_.append(message).push_back('\n');
    lock.unlock();
    ready_.notify_one();
    return true;
  }
  bool streaming() const noexcept override { return true; }

  // Writes what is queued, then ends the thread.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      if (closed_) return;
      closed_ = true;
    }
    ready_.notify_one();
    space_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    std::string writing;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [&] { return !queued_.empty() || closed_; });
        if (queued_.empty() && closed_) return;
        writing.swap(queued_);
        queued_.clear();
      }
      space_.notify_all();
      if (!write_all(writing)) {
        std::lock_guard lock(mutex_);
        failed_ = true;
      }
      writing.clear();
    }
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

  int fd_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::condition_variable space_;
  std::string queued_;
  bool closed_ = false;
  bool failed_ = false;
  std::thread thread_;
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
        } else {
          deliver(buffer);
        }
        buffer.clear();
      }
    }
  }

 private:
  void deliver(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) return;  // blank lines are not messages
    auto message = jsonrpc::decode(line, {.max_message_bytes = max_line_});
    if (!message) {
      std::string reply;
      jsonrpc::encode_decode_error(reply, message.error());
      out_->send(std::move(reply));
      return;
    }
    const bool request = message->kind() == jsonrpc::MessageKind::request;
    session_->receive(std::move(*message), request ? out_ : nullptr);
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
  auto out = std::make_shared<StdoutWriter>(out_fd);
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
  reader.join();
  ::close(wake_fd);
  out->stop();
  return 0;
}

}  // namespace trellis
