// Server::serve_stdio — one MCP session over newline-delimited JSON on a pair of file descriptors.
//
// Everything but user code runs on one thread: it waits for stdin to be readable (epoll through
// Asio; a regular file or /dev/null, which epoll refuses, is simply read), splits lines, decodes
// them and runs the session's events (serial by construction, so without a strand), so a
// request reaches its worker after a single thread hand-off. With ServerOptions::stdin_spin set,
// the reader keeps looking for the next message for that long after the input runs dry before it
// sleeps, so that a client sending request after request rarely has to wake it. Whoever sends a
// message writes stdout directly, along with what others sent meanwhile and the held responses of
// a burst of requests (StdoutWriter). At the session's limit of requests in flight the reader
// stops reading until half of them have finished (backpressure by not reading). Nothing but
// protocol messages is written to stdout.
#include "trellis/server.hpp"
#include "trellis/server_session.hpp"
#include "trellis/telemetry/log.hpp"

#include "stdout_writer.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>

#include <cerrno>
#include <chrono>
#include <functional>
#include <utility>

#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>
#include <unistd.h>

namespace trellis {
namespace {

using stdio_detail::StdoutWriter;
using telemetry::Logger;

// Reads stdin on the session's thread, splits it into lines and hands them to the session;
// answers what cannot be decoded. A line over the message limit is skipped up to its newline and
// answered with an error instead of being buffered.
class StdinReader final : public std::enable_shared_from_this<StdinReader> {
 public:
  StdinReader(boost::asio::io_context& io, int fd, std::size_t max_line, std::chrono::microseconds spin,
              std::shared_ptr<Session> session, std::shared_ptr<StdoutWriter> out)
      : io_(io),
        fd_(fd),
        descriptor_(io),
        max_line_(max_line),
        spin_(spin),
        session_(std::move(session)),
        out_(std::move(out)) {
    if (pollable(fd_)) descriptor_.assign(fd_);  // regular files and /dev/null are not, and never block
  }
  ~StdinReader() {
    if (descriptor_.is_open()) (void)descriptor_.release();  // the descriptor belongs to the caller
  }

  void start() { wait_readable(); }
  // The session is closed: no more reading (on the session's thread).
  void stop() {
    stopped_ = true;
    if (descriptor_.is_open()) descriptor_.cancel();
  }

 private:
  // Whether epoll accepts `fd` (Asio would accept any descriptor, and never report a regular file ready).
  static bool pollable(int fd) {
    const int probe = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event interest{};
    interest.events = EPOLLIN;
    const bool accepted = probe >= 0 && ::epoll_ctl(probe, EPOLL_CTL_ADD, fd, &interest) == 0;
    if (probe >= 0) ::close(probe);
    return accepted;
  }

  void wait_readable() {
    if (stopped_) return;
    if (!descriptor_.is_open()) {
      boost::asio::post(io_, [self = shared_from_this()] { self->on_readable(); });
      return;
    }
    descriptor_.async_wait(boost::asio::posix::descriptor_base::wait_read,
                           [self = shared_from_this()](boost::system::error_code ec) {
                             if (!ec) self->on_readable();
                           });
  }

  void on_readable() {
    if (stopped_) return;
    char chunk[64 * 1024];
    const ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return wait_readable();
    if (n <= 0) {
      if (n < 0) Logger::global().error("trellis.stdio.read_failed", {{"errno", errno}});
      session_->close();  // EOF: in-flight requests finish, then the session closes
      return;
    }
    std::string_view data(chunk, static_cast<std::size_t>(n));
    if (!pending_.empty()) {
      // A line straddles the two reads: only its end joins it, and the lines after it are
      // delivered from the chunk, as usual, rather than copied behind it.
      const auto newline = data.find('\n');
      const std::size_t end = newline == std::string_view::npos ? data.size() : newline + 1;
      pending_.append(data.substr(0, end));
      data.remove_prefix(end);
      pending_.erase(0, consume(pending_));
      if (!pending_.empty()) pending_.append(data);  // unfinished still (data is empty), or waiting for a slot
    }
    if (pending_.empty()) pending_.assign(data.substr(consume(data)));  // whole lines are not copied
    if (!paused_) look_for_more();
  }

  // The input ran dry: look at it again and again (a poll() each) until spin_ has passed, and
  // only then sleep in epoll. A wake-up through epoll costs the client's next request several
  // µs, tens on a virtual machine whose idle core has halted. Each look is a posted handler, so
  // that whatever else runs on this thread (the session's strand: its timers, its close on
  // shutdown) runs in between; the core is yielded every few looks, as the worker pool does.
  void look_for_more() {
    if (spin_.count() == 0 || !descriptor_.is_open()) return wait_readable();
    look_until_ = std::chrono::steady_clock::now() + spin_;
    look_again(0);
  }
  void look_again(unsigned looks) {
    if (stopped_) return;
    pollfd input{.fd = fd_, .events = POLLIN, .revents = 0};
    if (::poll(&input, 1, 0) > 0) return on_readable();  // data, end of input or an error: read() tells
    if (looks % 16 == 15) {
      if (std::chrono::steady_clock::now() >= look_until_) return wait_readable();
      ::sched_yield();
    }
    boost::asio::post(io_, [self = shared_from_this(), looks] { self->look_again(looks + 1); });
  }

  // A request waited for a free slot and one is free: go on where the input stopped.
  void resume() {
    if (stopped_) return;
    paused_ = false;
    pending_.erase(0, consume(pending_));
    if (!paused_) look_for_more();
  }

  // Delivers the complete lines at the start of `data` and returns how many bytes it used: all
  // of them but an unfinished line, or up to a request that has to wait for a free slot.
  std::size_t consume(std::string_view data) {
    std::size_t used = 0;
    while (used < data.size()) {
      const std::string_view rest = data.substr(used);
      const auto newline = rest.find('\n');
      if (discarding_) {
        if (newline == std::string_view::npos) {
          discarded_ += rest.size();
          return data.size();
        }
        reject_oversized(discarded_ + newline);
        discarding_ = false;
      } else if (newline == std::string_view::npos) {
        if (rest.size() <= max_line_) return used;
        discarding_ = true;  // no newline within the limit: skip the line, do not buffer it
        discarded_ = rest.size();
        return data.size();
      } else if (newline > max_line_) {
        reject_oversized(newline);
      } else if (!deliver(rest.substr(0, newline))) {
        paused_ = true;
        return used;
      }
      used += newline + 1;
    }
    return used;
  }

  // Returns false when the line is a request that has to wait for a free slot (it is not
  // consumed: it is decoded again when reading resumes).
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
    if (request && !out_->admit() && !out_->admit_or_call_when_free([weak = weak_from_this(), &io = io_] {
          boost::asio::post(io, [weak] {
            if (auto self = weak.lock()) self->resume();
          });
        }))
      return false;
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

  boost::asio::io_context& io_;
  const int fd_;
  boost::asio::posix::stream_descriptor descriptor_;
  const std::size_t max_line_;
  const std::chrono::microseconds spin_;
  std::chrono::steady_clock::time_point look_until_;
  std::shared_ptr<Session> session_;
  std::shared_ptr<StdoutWriter> out_;
  std::string pending_;  // input not delivered yet: an unfinished line, or lines behind a waiting request
  bool paused_ = false;   // a request waits for a free slot: not reading
  bool stopped_ = false;
  bool discarding_ = false;
  std::size_t discarded_ = 0;
};

}  // namespace

int Server::serve_stdio() { return serve_stdio(STDIN_FILENO, STDOUT_FILENO); }

int Server::serve_stdio(int in_fd, int out_fd) {
  // Shared with the session, which may outlive this call (Session::create).
  const auto io_owner = std::make_shared<boost::asio::io_context>(1);
  auto& io = *io_owner;
  auto work = boost::asio::make_work_guard(io);
  auto out = std::make_shared<StdoutWriter>(out_fd, options().max_inflight_per_session, options().stdout_hold);
  // This thread alone runs `io`, so its executor is serial: the session needs no strand.
  auto session = Session::create(core_, io.get_executor(), "", Session::Mode::stateful, io_owner);
  session->set_standalone(out);
  auto reader = std::make_shared<StdinReader>(io, in_fd, options().max_message_bytes, options().stdin_spin, session, out);
  session->on_closed([&work, reader] {
    reader->stop();
    work.reset();
  });
  reader->start();
  io.run();
  out->close();  // every request has finished: what they left held goes out now
  return 0;
}

}  // namespace trellis
