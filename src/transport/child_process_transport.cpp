// make_stdio_transport: a server spawned as a child process, newline-delimited JSON over its
// stdin/stdout, its stderr forwarded line by line (or inherited).
//
// No threads of its own: every read, write and event runs on the executor the connection gives
// start(), so a response goes from the child's stdout to the caller's callback without a thread
// hand-off, and the requests a batch of callbacks sends leave in one write.
//  - stdout: one 64 KiB read at a time, split into lines, each decoded once and reported.
//  - stdin: send() appends to one buffer and schedules a flush after the handlers already queued,
//    so everything sent meanwhile goes out together; a full pipe is waited for with async_wait.
//    The child's stdin is a socket pair rather than a pipe (as Node.js gives its children) so
//    that writing to a child that died fails with EPIPE (MSG_NOSIGNAL) instead of raising
//    SIGPIPE in whatever process embeds us.
//  - close() ends the child politely and then less politely: what is queued is written (for up
//    to `terminate_grace`), stdin closed, SIGTERM, SIGKILL, `terminate_grace` apart; the child is
//    always reaped.
#include "trellis/client_transport.hpp"
#include "trellis/telemetry/log.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <optional>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace trellis {
namespace {

namespace asio = boost::asio;
using telemetry::Logger;

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kMaxStderrLine = 64 * 1024;
// After the child's stdout ends: how long (and how often) to look for its exit status, so that
// the failure can say how it ended.
constexpr auto kExitWait = std::chrono::milliseconds(500);
constexpr auto kExitPoll = std::chrono::milliseconds(5);

struct ChildFds {
  int stdin_write = -1, stdout_read = -1, stderr_read = -1;
};

void close_fd(int fd) {
  if (fd >= 0) ::close(fd);
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + std::to_string(WTERMSIG(status));
  return "ended";
}

Error system_error(const char* what, int error = errno) {
  return make_error(ErrorKind::transport, std::string(what) + ": " + std::strerror(error));
}

// Starts `options.command`; returns its pid and our ends of its stdin/stdout/stderr (stderr only
// when the caller wants its lines; otherwise the child inherits ours).
Result<std::pair<pid_t, ChildFds>> spawn_child(const StdioTransportOptions& options) {
  int in[2], out[2], err[2] = {-1, -1};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0) return system_error("socketpair");
  if (::pipe2(out, O_CLOEXEC) != 0) {
    const auto error = system_error("pipe");
    close_fd(in[0]), close_fd(in[1]);
    return error;
  }
  if (options.on_stderr && ::pipe2(err, O_CLOEXEC) != 0) {
    const auto error = system_error("pipe");
    close_fd(in[0]), close_fd(in[1]), close_fd(out[0]), close_fd(out[1]);
    return error;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[1], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  if (err[1] >= 0) posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
  if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str());
  // The child starts with default signal dispositions and an empty mask, whatever ours are.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &all);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const auto name = entry.substr(0, entry.find('='));
    if (!options.env.contains(std::string(name))) env_strings.emplace_back(entry);
  }
  for (const auto& [name, value] : options.env) env_strings.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> arg_strings{options.command};
  arg_strings.insert(arg_strings.end(), options.args.begin(), options.args.end());
  std::vector<char*> argv;
  for (auto& s : arg_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, options.command.c_str(), &actions, &attributes, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  close_fd(in[1]), close_fd(out[1]), close_fd(err[1]);
  if (rc != 0) {
    close_fd(in[0]), close_fd(out[0]), close_fd(err[0]);
    return make_error(ErrorKind::transport, "cannot start " + options.command + ": " + std::strerror(rc));
  }
  // Nonblocking on our ends only (the child has its own open files): nothing here may block.
  for (const int fd : {in[0], out[0], err[0]})
    if (fd >= 0) (void)::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return std::pair{pid, ChildFds{in[0], out[0], err[0]}};
}

// Everything the I/O handlers touch; they hold it by shared_ptr, so a handler that completes
// after close() (with operation_aborted) finds it still there, and closed.
class Child : public std::enable_shared_from_this<Child> {
 public:
  Child(StdioTransportOptions options, asio::any_io_executor executor)
      : options_(std::move(options)), executor_(std::move(executor)), stdin_(executor_), stdout_(executor_), stderr_(executor_),
        exit_timer_(executor_) {}

  void start(ClientTransport::Events events) {
    events_ = std::move(events);
    auto spawned = spawn_child(options_);
    if (!spawned) {
      // send() answers with the reason from now on; the event comes like any later failure,
      // asynchronously.
      failure_ = spawned.error();
      asio::post(executor_, [self = shared_from_this()] {
        if (!self->closed_ && self->events_.failed) self->events_.failed(*self->failure_);
      });
      return;
    }
    const auto& [pid, fds] = *spawned;
    pid_ = pid;
    stdin_.assign(fds.stdin_write);
    stdout_.assign(fds.stdout_read);
    if (fds.stderr_read >= 0) stderr_.assign(fds.stderr_read);
    read_stdout();
    if (stderr_.is_open()) read_stderr();
  }

  Result<void> send(std::string_view message) {
    if (failure_) return *failure_;  // the reason, e.g. "cannot start X: No such file or directory"
    if (closed_ || !stdin_.is_open()) return make_error(ErrorKind::transport, "the server process is gone (" + describe() + ")");
    if (out_.size() - out_sent_ + message.size() + 1 > options_.limits.max_queued_bytes)
      return make_error(ErrorKind::backpressure, "the server is not reading its stdin fast enough");
    out_.append(message);
    out_.push_back('\n');
    if (!flush_posted_ && !waiting_writable_) {
      flush_posted_ = true;
      asio::post(executor_, [self = shared_from_this()] {
        self->flush_posted_ = false;
        self->write_out();
      });
    }
    return {};
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    flush_before_close();
    boost::system::error_code ignored;
    stdin_.close(ignored);  // the child reads end of input
    terminate();
    drain_stderr();
    stdout_.close(ignored);
    stderr_.close(ignored);
    exit_timer_.cancel();
  }

  std::string describe() const { return "stdio pid " + std::to_string(pid_.load()) + " (" + options_.command + ")"; }

 private:
  // ---- stdin ----------------------------------------------------------------------------------

  // Writes what the socket takes now; returns 0 when everything is written, else the errno
  // that stopped it (EAGAIN: the child has not read enough yet).
  int write_available() {
    while (out_sent_ < out_.size()) {
      const ssize_t n = ::send(stdin_.native_handle(), out_.data() + out_sent_, out_.size() - out_sent_, MSG_NOSIGNAL);
      if (n >= 0) {
        out_sent_ += static_cast<std::size_t>(n);
      } else if (errno != EINTR) {
        return errno == EWOULDBLOCK ? EAGAIN : errno;
      }
    }
    out_.clear();
    out_sent_ = 0;
    return 0;
  }

  // Writes what the socket takes now; the rest waits for the child to read.
  void write_out() {
    if (closed_ || failure_ || !stdin_.is_open()) return;
    const int error = write_available();
    if (error == 0) return;
    if (error != EAGAIN) return report_failure(system_error("writing to the server failed", error));
    // Keep the buffer from growing by what was already written.
    if (out_sent_ > out_.size() / 2) out_.erase(0, std::exchange(out_sent_, 0));
    waiting_writable_ = true;
    stdin_.async_wait(asio::posix::descriptor_base::wait_write, [self = shared_from_this()](const boost::system::error_code& ec) {
      self->waiting_writable_ = false;
      if (!ec) self->write_out();
    });
  }

  // On close: what send() accepted still reaches a child that reads it, within terminate_grace.
  void flush_before_close() {
    if (failure_ || !stdin_.is_open()) return;
    const auto deadline = std::chrono::steady_clock::now() + options_.terminate_grace;
    while (write_available() == EAGAIN) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return;
      pollfd writable{stdin_.native_handle(), POLLOUT, 0};
      (void)::poll(&writable, 1, static_cast<int>(left.count()));
    }
  }

  // ---- stdout ---------------------------------------------------------------------------------

  void read_stdout() {
    stdout_.async_read_some(asio::buffer(chunk_.get(), kReadChunk),
                            [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) { self->on_stdout(ec, n); });
  }

  // Lines of stdout → messages; the end of stdout → the process is gone.
  void on_stdout(const boost::system::error_code& ec, std::size_t n) {
    if (closed_ || failure_) return;
    if (ec) return wait_for_exit(0);
    std::string_view data(chunk_.get(), n);
    while (!data.empty()) {
      const auto newline = data.find('\n');
      const auto piece = data.substr(0, newline);
      if (line_.size() + piece.size() > options_.limits.max_frame_bytes)
        return report_failure(make_error(ErrorKind::protocol, "frame of more than " + std::to_string(options_.limits.max_frame_bytes) +
                                                                  " bytes from " + describe()));
      if (newline == std::string_view::npos) {
        line_.append(piece);
        break;
      }
      data.remove_prefix(newline + 1);
      if (line_.empty()) {
        deliver(piece);  // the whole line is in this chunk: no copy
      } else {
        line_.append(piece);
        deliver(line_);
        line_.clear();
      }
      if (closed_ || failure_) return;
    }
    read_stdout();
  }

  void deliver(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) return;
    auto message = jsonrpc::decode(line, {.max_message_bytes = options_.limits.max_frame_bytes});
    if (!message) {
      // Servers sometimes print other things on stdout; skip them rather than give up.
      Logger::global().warn("trellis.stdio_client.unreadable_line",
                            {{"reason", message.error().message}, {"line", telemetry::truncate_for_log(line, 120)}});
      return;
    }
    if (events_.message) events_.message(std::move(*message));
  }

  // stdout ended: give an exiting child a moment so that the failure can say how it ended.
  void wait_for_exit(int polls) {
    if (closed_ || failure_) return;
    const int status = reap(true);
    if (status < 0 && polls * kExitPoll < kExitWait) {
      exit_timer_.expires_after(kExitPoll);
      exit_timer_.async_wait([self = shared_from_this(), polls](const boost::system::error_code& ec) {
        if (!ec) self->wait_for_exit(polls + 1);
      });
      return;
    }
    report_failure(make_error(ErrorKind::transport, "the server process " + std::to_string(pid_.load()) + " " +
                                                        (status >= 0 ? describe_status(status) : std::string("closed its stdout"))));
  }

  // ---- stderr ---------------------------------------------------------------------------------

  void read_stderr() {
    stderr_.async_read_some(asio::buffer(stderr_chunk_), [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
      if (self->closed_) return;  // close() reads what is left itself
      if (ec) return self->end_stderr();
      self->forward_stderr({self->stderr_chunk_.data(), n});
      self->read_stderr();
    });
  }

  void forward_stderr(std::string_view data) {
    for (auto newline = data.find('\n'); newline != std::string_view::npos; newline = data.find('\n')) {
      append_stderr(data.substr(0, newline));
      options_.on_stderr(stderr_line_);
      stderr_line_.clear();
      data.remove_prefix(newline + 1);
    }
    append_stderr(data);
  }

  void append_stderr(std::string_view piece) {  // a line longer than the cap is cut, not buffered
    stderr_line_.append(piece.substr(0, kMaxStderrLine - std::min(kMaxStderrLine, stderr_line_.size())));
  }

  void end_stderr() {
    if (!stderr_line_.empty()) options_.on_stderr(std::exchange(stderr_line_, {}));
  }

  // After the child is gone: the lines it wrote last, up to the end of its stderr.
  void drain_stderr() {
    if (!stderr_.is_open()) return;
    for (;;) {
      const ssize_t n = ::read(stderr_.native_handle(), stderr_chunk_.data(), stderr_chunk_.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      forward_stderr({stderr_chunk_.data(), static_cast<std::size_t>(n)});
    }
    end_stderr();
  }

  // ---- the end --------------------------------------------------------------------------------

  void report_failure(const Error& error) {
    if (failure_ || closed_) return;
    failure_ = error;
    if (events_.failed) events_.failed(error);
  }

  // Reaps the child once; -1 while it runs (nonblocking) or when already reaped.
  int reap(bool nonblocking) {
    if (reaped_ || pid_ <= 0) return reaped_ ? exit_status_ : -1;
    int status = 0;
    if (::waitpid(pid_, &status, nonblocking ? WNOHANG : 0) != pid_) return -1;
    reaped_ = true;
    exit_status_ = status;
    return status;
  }

  // Waits (blocking) for the child to exit for up to `grace`; returns its status or -1.
  int wait_exit(std::chrono::milliseconds grace) {
    const auto deadline = std::chrono::steady_clock::now() + grace;
    for (;;) {
      const int status = reap(true);
      if (status >= 0) return status;
      if (std::chrono::steady_clock::now() >= deadline) return -1;
      std::this_thread::sleep_for(kExitPoll);
    }
  }

  void terminate() {
    if (pid_ <= 0) return;
    if (wait_exit(options_.terminate_grace) >= 0) return;
    ::kill(pid_, SIGTERM);
    if (wait_exit(options_.terminate_grace) >= 0) return;
    Logger::global().warn("trellis.stdio_client.kill", {{"pid", pid_.load()}});
    ::kill(pid_, SIGKILL);
    reap(false);
  }

  const StdioTransportOptions options_;
  asio::any_io_executor executor_;
  ClientTransport::Events events_;
  std::atomic<pid_t> pid_{-1};  // read by describe() from any thread
  asio::posix::stream_descriptor stdin_, stdout_, stderr_;
  asio::steady_timer exit_timer_;

  std::string out_;            // sent, not yet written past out_sent_
  std::size_t out_sent_ = 0;
  bool flush_posted_ = false;  // a write_out is queued behind the handlers already posted
  bool waiting_writable_ = false;

  std::unique_ptr<char[]> chunk_ = std::make_unique<char[]>(kReadChunk);
  std::string line_;  // the start of a line whose end has not arrived
  std::array<char, 4096> stderr_chunk_{};
  std::string stderr_line_;

  bool closed_ = false;
  std::optional<Error> failure_;  // set once, when the transport fails
  bool reaped_ = false;
  int exit_status_ = 0;
};

class ChildProcessTransport final : public ClientTransport {
 public:
  explicit ChildProcessTransport(StdioTransportOptions options) : options_(std::move(options)) {}
  ~ChildProcessTransport() override { close(); }

  void start(Events events, boost::asio::any_io_executor executor) override {
    child_ = std::make_shared<Child>(std::move(options_), std::move(executor));
    child_->start(std::move(events));
  }
  Result<void> send(const OutgoingMessage& message) override {
    if (!child_) return make_error(ErrorKind::state, "the stdio transport was not started");
    return child_->send(message.json);
  }
  void close() override {
    if (child_) child_->close();
  }
  bool resumable() const noexcept override { return false; }
  void initialized(std::string_view) override {}
  std::string describe() const override { return child_ ? child_->describe() : "stdio (" + options_.command + ", not started)"; }

 private:
  StdioTransportOptions options_;  // moved into the Child by start()
  std::shared_ptr<Child> child_;
};

}  // namespace

std::unique_ptr<ClientTransport> make_stdio_transport(StdioTransportOptions options) {
  return std::make_unique<ChildProcessTransport>(std::move(options));
}

}  // namespace trellis
