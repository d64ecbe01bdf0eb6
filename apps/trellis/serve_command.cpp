// `trellis serve`: the MCP server daemon with the built-in demo toolset, over stdio or HTTP.
#include "commands.hpp"
#include "demo_toolset.hpp"

#include "trellis/telemetry/log.hpp"

#include <algorithm>
#include <csignal>
#include <iostream>
#include <memory>
#include <thread>

#include <malloc.h>
#include <pthread.h>

namespace trellis::cli {
namespace {

struct ServeOptions {
  bool stdio = false;
  std::string http;  // host:port
  bool json_response = false;
  bool stateless = false;
  std::vector<std::string> allowed_origins;
  std::string log_level = "info";
  std::size_t workers = 0;     // 0: one per core (at least 2)
  std::size_t worker_spin_us = ServerOptions{}.worker_spin.count();
  std::size_t stdin_spin_us = ServerOptions{}.stdin_spin.count();
  std::size_t stdout_hold_us = ServerOptions{}.stdout_hold.count();
  std::size_t io_threads = 2;  // HTTP only
  std::size_t keep_freed_mib = 128;
};

// Large messages (up to the 16 MiB limit, a few copies of each in flight) reuse memory the
// process keeps instead of fresh mmap()s: the kernel zeroes every fresh page, which cost more
// than half the time of a 16 MiB result (docs/performance.md). The price is that up to
// `keep_mib` of freed memory stays with the process for reuse. 0 keeps glibc's defaults.
// For glibc's malloc only: a jemalloc build keeps freed memory by its own decay (allocator.cpp).
void keep_freed_memory([[maybe_unused]] std::size_t keep_mib) {
#ifndef TRELLIS_WITH_JEMALLOC
  if (keep_mib == 0) return;
  const auto keep = static_cast<int>(std::min<std::size_t>(keep_mib, 1024) << 20);
  // Blocks at least this large are mmap()ed; glibc refuses more than 32 MiB.
  mallopt(M_MMAP_THRESHOLD, std::clamp(keep / 2, 128 * 1024, 32 << 20));
  mallopt(M_TRIM_THRESHOLD, keep);  // free memory above this is returned to the OS
#endif
}

// Blocks SIGINT and SIGTERM in every thread and turns them into a graceful shutdown.
class SignalWatcher {
 public:
  // Call before any thread exists (the server's workers inherit the mask): a signal delivered to
  // a thread that does not block it would kill the process instead of stopping it gracefully.
  static sigset_t block() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);  // used only to wake the watcher at exit
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    return set;
  }

  explicit SignalWatcher(std::function<void()> on_signal) : set_(block()) {
    thread_ = std::thread([this, on_signal = std::move(on_signal)] {
      int signal = 0;
      while (sigwait(&set_, &signal) == 0) {
        if (signal == SIGUSR1) return;
        telemetry::Logger::global().info("trellis.serve.signal", {{"signal", signal}});
        on_signal();
      }
    });
  }
  ~SignalWatcher() {
    pthread_kill(thread_.native_handle(), SIGUSR1);
    thread_.join();
  }

 private:
  sigset_t set_;
  std::thread thread_;
};

int run_serve(const ServeOptions& opts) {
  auto& log = telemetry::Logger::global();
  if (auto level = telemetry::parse_level(opts.log_level)) log.set_level(*level);
  if (opts.stdio == !opts.http.empty()) {
    std::cerr << "trellis serve: choose exactly one of --stdio and --http HOST:PORT\n";
    return 2;
  }
  SignalWatcher::block();
  keep_freed_memory(opts.keep_freed_mib);
  Server server({.info = {.name = "trellis-demo", .version = "", .title = "Trellis demo server"},
                 .instructions = "A demo server: echo, add, slow, generate and announce tools, a readme resource, "
                                 "a greeting template and a greet prompt.",
                 .worker_threads = opts.workers,
                 .worker_spin = std::chrono::microseconds(opts.worker_spin_us),
                 .stdin_spin = std::chrono::microseconds(opts.stdin_spin_us),
                 .stdout_hold = std::chrono::microseconds(opts.stdout_hold_us)});
  register_demo_toolset(server);
  SignalWatcher signals([&server] {
    if (auto& stop_http = server_stop_hook()) {
      stop_http();
    } else {
      server.shutdown();
    }
  });
  if (opts.stdio) return server.serve_stdio();
  return serve_http(server, opts.http, {.json_response = opts.json_response,
                                        .stateless = opts.stateless,
                                        .allowed_origins = opts.allowed_origins,
                                        .io_threads = opts.io_threads});
}

}  // namespace

std::function<void()>& server_stop_hook() {
  static std::function<void()> hook;
  return hook;
}

void add_serve_command(CLI::App& app) {
  auto opts = std::make_shared<ServeOptions>();
  auto* cmd = app.add_subcommand("serve", "Run the MCP server with the built-in demo toolset");
  cmd->add_flag("--stdio", opts->stdio, "Serve one session on stdin/stdout (logs go to stderr)");
  cmd->add_option("--http", opts->http, "Serve Streamable HTTP on HOST:PORT (e.g. 127.0.0.1:8080), endpoint /mcp");
  cmd->add_flag("--json-response", opts->json_response, "HTTP: answer requests with JSON bodies instead of SSE streams");
  cmd->add_flag("--stateless", opts->stateless, "HTTP: no sessions; every POST stands alone");
  cmd->add_option("--allow-origin", opts->allowed_origins, "HTTP: an Origin to accept (repeatable)");
  cmd->add_option("--log-level", opts->log_level, "trace, debug, info, warn, error or off")->capture_default_str();
  cmd->add_option("--workers", opts->workers, "Threads running handlers (0: one per core, at least 2)")->capture_default_str();
  cmd->add_option("--worker-spin-us", opts->worker_spin_us,
                  "Microseconds an idle worker looks for the next handler before it sleeps (0: sleep at once)")
      ->capture_default_str()
      ->check(CLI::Range(0, 10000));
  cmd->add_option("--stdin-spin-us", opts->stdin_spin_us,
                  "stdio: microseconds the reader keeps looking for the next message before it sleeps (0: sleep at once; "
                  "spends a core, see docs/performance.md)")
      ->capture_default_str()
      ->check(CLI::Range(0, 10000));
  cmd->add_option("--stdout-hold-us", opts->stdout_hold_us,
                  "stdio: microseconds a response may wait to be written with those of the requests queued behind it "
                  "(0: write each at once)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  cmd->add_option("--io-threads", opts->io_threads, "HTTP: threads running the network I/O")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--keep-freed-memory", opts->keep_freed_mib,
                  "MiB of freed memory kept for reuse by large messages instead of returned to the OS (0: allocator "
                  "defaults; glibc malloc builds only, jemalloc keeps freed memory ~10 s by itself)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  cmd->callback([opts] {
    if (const int rc = run_serve(*opts); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace trellis::cli
