// make_stdio_transport: a server spawned as a child process, newline-delimited JSON over its
// stdin/stdout, its stderr forwarded line by line.
//
// Three threads per transport, each blocking on one pipe: the reader (stdout → messages, then
// the one `failed` event), the stderr forwarder, and the writer (a bounded queue → stdin, in as
// few write calls as the queue allows, for what send() could not write at once). close() ends
// the child politely and then less politely: stdin closed, SIGTERM, SIGKILL, `terminate_grace`
// apart; the child is always reaped.
#include "trellis/client_transport.hpp"
#include "trellis/telemetry/log.hpp"

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace trellis {
namespace {

using telemetry::Logger;

struct Pipe {
  int read = -1;
  int write = -1;
  Result<void> open() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return make_error(ErrorKind::transport, std::string("pipe: ") + std::strerror(errno));
    read = fds[0];
    write = fds[1];
    return {};
  }
};

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + std::to_string(WTERMSIG(status));
  return "ended";
}

class ChildProcessTransport final : public ClientTransport {
 public:
  explicit ChildProcessTransport(StdioTransportOptions options) : options_(std::move(options)) {}
  ~ChildProcessTransport() override { close(); }

  void start(Events events) override {
    events_ = std::move(events);
    if (auto spawned = spawn(); !spawned) {
      // Reported like any later failure: asynchronously, from a transport thread.
      reader_ = std::thread([this, error = spawned.error()] { report_failure(error); });
      return;
    }
    reader_ = std::thread([this] { read_stdout(); });
    stderr_reader_ = std::thread([this] { read_stderr(); });
    writer_ = std::thread([this] { write_stdin(); });
  }

  // The caller writes itself when nothing is queued (no thread hand-off on the way out); what
  // the pipe does not take at once is queued for the writer thread, which also takes everything
  // sent while it writes, so messages keep their order and the caller never blocks.
  Result<void> send(std::string message) override {
    std::lock_guard lock(mutex_);
    if (failure_) return *failure_;  // the reason, e.g. "cannot start X: No such file or directory"
    if (closing_) return make_error(ErrorKind::transport, "the server process is gone (" + describe() + ")");
    if (queued_.size() + message.size() + 1 > options_.limits.max_queued_bytes)
      return make_error(ErrorKind::backpressure, "the server is not reading its stdin fast enough");
    std::size_t written = 0;
    if (queued_.empty() && !writer_busy_) written = write_now(message);
    if (written == message.size() + 1) return {};
    if (written < message.size()) queued_.append(message, written);
    queued_.push_back('\n');
    ready_.notify_one();
    return {};
  }

  void close() override {
    {
      std::lock_guard lock(mutex_);
      if (closed_) return;
      closed_ = true;
      closing_ = true;
      ready_.notify_all();
    }
    if (writer_.joinable()) writer_.join();  // flushes what is queued, then closes the child's stdin
    terminate();
    if (reader_.joinable()) reader_.join();
    if (stderr_reader_.joinable()) stderr_reader_.join();
    close_fd(stdout_fd_);
    close_fd(stderr_fd_);
  }

  bool resumable() const noexcept override { return false; }
  void initialized(std::string_view) override {}
  std::string describe() const override {
    return "stdio pid " + std::to_string(pid_.load()) + " (" + options_.command + ")";
  }

 private:
  Result<void> spawn() {
    Pipe in, out, err;
    if (auto r = in.open(); !r) return r;
    if (auto r = out.open(); !r) return r;
    if (auto r = err.open(); !r) return r;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in.read, STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out.write, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err.write, STDERR_FILENO);
    if (!options_.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, options_.cwd.c_str());
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
      if (!options_.env.contains(std::string(name))) env_strings.emplace_back(entry);
    }
    for (const auto& [name, value] : options_.env) env_strings.push_back(name + "=" + value);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> arg_strings{options_.command};
    arg_strings.insert(arg_strings.end(), options_.args.begin(), options_.args.end());
    std::vector<char*> argv;
    for (auto& s : arg_strings) argv.push_back(s.data());
    argv.push_back(nullptr);

    pid_t pid = 0;
    const int rc = ::posix_spawnp(&pid, options_.command.c_str(), &actions, &attributes, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    ::close(in.read);
    ::close(out.write);
    ::close(err.write);
    if (rc != 0) {
      ::close(in.write);
      ::close(out.read);
      ::close(err.read);
      return make_error(ErrorKind::transport, "cannot start " + options_.command + ": " + std::strerror(rc));
    }
    pid_ = pid;
    stdin_fd_ = in.write;
    // Our end only (the child has its own): send() must never block on a full pipe.
    (void)::fcntl(stdin_fd_, F_SETFL, ::fcntl(stdin_fd_, F_GETFL) | O_NONBLOCK);
    stdout_fd_ = out.read;
    stderr_fd_ = err.read;
    return {};
  }

  void report_failure(const Error& error) {
    {
      std::lock_guard lock(mutex_);
      if (failure_ || closing_) return;
      failure_ = error;
      ready_.notify_all();
    }
    if (events_.failed) events_.failed(error);
  }

  // Lines of stdout → messages; the end of stdout → the process is gone.
  void read_stdout() {
    std::string line;
    char chunk[64 * 1024];
    for (;;) {
      const ssize_t n = ::read(stdout_fd_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      std::string_view data(chunk, static_cast<std::size_t>(n));
      while (!data.empty()) {
        const auto newline = data.find('\n');
        const auto piece = data.substr(0, newline);
        if (line.size() + piece.size() > options_.limits.max_frame_bytes) {
          report_failure(make_error(ErrorKind::protocol, "frame of more than " + std::to_string(options_.limits.max_frame_bytes) +
                                                             " bytes from " + describe()));
          return;
        }
        line.append(piece);
        if (newline == std::string_view::npos) break;
        data.remove_prefix(newline + 1);
        deliver(line);
        line.clear();
      }
    }
    // Give an exiting child a moment so the message can say how it ended.
    const int status = wait_exit(std::chrono::milliseconds(500));
    report_failure(make_error(ErrorKind::transport, "the server process " + std::to_string(pid_.load()) + " " +
                                                        (status >= 0 ? describe_status(status) : std::string("closed its stdout"))));
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
    {
      std::lock_guard lock(mutex_);
      if (closing_ || failure_) return;
    }
    if (events_.message) events_.message(std::move(*message));
  }

  void read_stderr() {
    std::string line;
    char chunk[4096];
    for (;;) {
      const ssize_t n = ::read(stderr_fd_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      if (!options_.on_stderr) {
        [[maybe_unused]] const auto written = ::write(STDERR_FILENO, chunk, static_cast<std::size_t>(n));
        continue;
      }
      for (ssize_t i = 0; i < n; ++i) {
        if (chunk[i] != '\n') {
          if (line.size() < 64 * 1024) line += chunk[i];
          continue;
        }
        options_.on_stderr(line);
        line.clear();
      }
    }
    if (!line.empty() && options_.on_stderr) options_.on_stderr(line);
  }

  // Writes `message` and its newline without blocking; returns how many bytes the pipe took
  // (an error counts as nothing written: the writer thread meets it again and reports it).
  std::size_t write_now(std::string_view message) {
    iovec parts[2] = {{const_cast<char*>(message.data()), message.size()}, {const_cast<char*>("\n"), 1}};
    ssize_t n;
    do {
      n = ::writev(stdin_fd_, parts, 2);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? 0 : static_cast<std::size_t>(n);
  }

  void write_stdin() {
    // A child that stops reading must not kill us with SIGPIPE: block it on this thread (the
    // write then fails with EPIPE).
    sigset_t pipe_signal;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
    std::string writing;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        writer_busy_ = false;
        ready_.wait(lock, [&] { return !queued_.empty() || closing_ || failure_; });
        if (queued_.empty() || failure_) break;
        writing.swap(queued_);
        queued_.clear();
        writer_busy_ = true;
      }
      std::string_view data(writing);
      while (!data.empty()) {
        const ssize_t n = ::write(stdin_fd_, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
          pollfd writable{stdin_fd_, POLLOUT, 0};
          (void)::poll(&writable, 1, -1);
          continue;
        }
        if (n < 0) {
          report_failure(make_error(ErrorKind::transport, std::string("writing to the server failed: ") + std::strerror(errno)));
          close_fd(stdin_fd_);
          return;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
      }
      writing.clear();
    }
    close_fd(stdin_fd_);
  }

  // Waits for the child to exit for up to `grace`; returns its status or -1.
  int wait_exit(std::chrono::milliseconds grace) {
    const auto deadline = std::chrono::steady_clock::now() + grace;
    for (;;) {
      const int status = reap(true);
      if (status >= 0) return status;
      if (std::chrono::steady_clock::now() >= deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  // Reaps the child once; -1 while it runs (nonblocking) or when already reaped.
  int reap(bool nonblocking) {
    std::lock_guard lock(reap_mutex_);
    if (reaped_ || pid_ <= 0) return reaped_ ? exit_status_ : -1;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, nonblocking ? WNOHANG : 0);
    if (r != pid_) return -1;
    reaped_ = true;
    exit_status_ = status;
    return status;
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

  StdioTransportOptions options_;
  Events events_;
  std::atomic<pid_t> pid_{-1};
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::string queued_;
  bool writer_busy_ = false;  // the writer thread is writing what it took from queued_
  bool closing_ = false;
  bool closed_ = false;
  std::optional<Error> failure_;  // set once, when the transport fails
  std::mutex reap_mutex_;
  bool reaped_ = false;
  int exit_status_ = 0;
  std::thread reader_;
  std::thread stderr_reader_;
  std::thread writer_;
};

}  // namespace

std::unique_ptr<ClientTransport> make_stdio_transport(StdioTransportOptions options) {
  return std::make_unique<ChildProcessTransport>(std::move(options));
}

}  // namespace trellis
