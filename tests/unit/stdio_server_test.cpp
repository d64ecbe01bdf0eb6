// Server::serve_stdio over pipes: framing, malformed and oversized lines, EOF as orderly shutdown.
#include "trellis/server.hpp"
#include "server/session_impl.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <poll.h>
#include <unistd.h>

namespace trellis {
namespace {

// Runs serve_stdio on a pair of pipes; the test writes lines and reads answers.
class StdioHarness {
 public:
  explicit StdioHarness(ServerOptions options = {}) : server(std::move(options)) {
    EXPECT_EQ(::pipe(to_server_), 0);
    EXPECT_EQ(::pipe(from_server_), 0);
  }
  ~StdioHarness() {
    close_input();
    if (thread_.joinable()) thread_.join();
    ::close(from_server_[0]);
  }

  void start() {
    thread_ = std::thread([this] {
      exit_code = server.serve_stdio(to_server_[0], from_server_[1]);
      returned = true;
      ::close(to_server_[0]);
      ::close(from_server_[1]);
    });
  }
  void write_raw(std::string_view bytes) {
    while (!bytes.empty()) {
      const auto n = ::write(to_server_[1], bytes.data(), bytes.size());
      ASSERT_GT(n, 0);
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void write_line(std::string_view line) { write_raw(std::string(line) + "\n"); }
  // Whether serve_stdio returned within five seconds.
  bool wait_returned() {
    for (int i = 0; i < 500 && !returned; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return returned;
  }
  // Whether the server wrote something that can be read within `wait`.
  bool readable_within(std::chrono::milliseconds wait) {
    pollfd p{.fd = from_server_[0], .events = POLLIN, .revents = 0};
    return ::poll(&p, 1, static_cast<int>(wait.count())) > 0;
  }
  void close_input() {
    if (to_server_[1] >= 0) ::close(to_server_[1]);
    to_server_[1] = -1;
  }
  // The next line the server wrote, parsed; null at EOF.
  boost::json::value read_message() {
    std::string line;
    char c;
    while (::read(from_server_[0], &c, 1) == 1) {
      if (c == '\n') return boost::json::parse(line);
      line += c;
    }
    return nullptr;
  }
  boost::json::object request(int id, std::string_view method, std::string_view params = "{}") {
    write_line(R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + R"(,"method":")" + std::string(method) +
               R"(","params":)" + std::string(params) + "}");
    return read_message().as_object();
  }
  void initialize() {
    auto r = request(0, "initialize", R"({"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}})");
    ASSERT_TRUE(r.contains("result"));
    write_line(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  }

  Server server;
  std::atomic<int> exit_code = -1;
  std::atomic<bool> returned = false;

 private:
  int to_server_[2] = {-1, -1};
  int from_server_[2] = {-1, -1};
  std::thread thread_;
};

TEST(StdioServer, AnswersOneLinePerMessageAndStopsAtEof) {
  StdioHarness h;
  h.start();
  h.initialize();
  EXPECT_TRUE(h.request(1, "ping").contains("result"));
  h.close_input();
  EXPECT_TRUE(h.read_message().is_null()) << "output closes after EOF on input";
}

TEST(StdioServer, MalformedLineGetsParseErrorAndServingGoesOn) {
  StdioHarness h;
  h.start();
  h.initialize();
  h.write_line(R"({"jsonrpc":"2.0","id":1,"method":)");
  auto error = h.read_message().as_object();
  EXPECT_EQ(error.at("error").at("code"), jsonrpc_code::parse_error);
  EXPECT_TRUE(error.at("id").is_null());
  EXPECT_TRUE(h.request(2, "ping").contains("result"));
}

TEST(StdioServer, OverlongLineIsRejectedWithoutBufferingAndServingGoesOn) {
  StdioHarness h({.max_message_bytes = 1024});
  h.start();
  h.initialize();
  // Exactly at the limit: served (padding inside the params keeps it valid JSON).
  const std::string head = R"({"jsonrpc":"2.0","id":5,"method":"ping","params":{"pad":")", tail = R"("}})";
  const std::string at_limit = head + std::string(1024 - head.size() - tail.size(), 'x') + tail;
  ASSERT_EQ(at_limit.size(), 1024u);
  h.write_line(at_limit);
  const auto served = h.read_message();
  EXPECT_TRUE(served.as_object().contains("result")) << boost::json::serialize(served);
  // One byte past it, sent in pieces: rejected with -32600, and the next line is served.
  h.write_raw(std::string(600, 'y'));
  h.write_raw(std::string(425, 'y') + "\n");
  auto error = h.read_message().as_object();
  EXPECT_EQ(error.at("error").at("code"), jsonrpc_code::invalid_request);
  EXPECT_NE(std::string(error.at("error").at("message").as_string()).find("1025 bytes"), std::string::npos);
  EXPECT_TRUE(h.request(6, "ping").contains("result"));
}

// A line that straddles two reads is delivered once it is whole, and the lines read with its end
// follow it: also when it is a request that has to wait for a free slot (limit 1, held by `gate`),
// so that the rest of that read waits behind it.
TEST(StdioServer, ALineSplitAcrossReadsIsDeliveredWholeAndTheLinesAfterItFollow) {
  StdioHarness h({.max_inflight_per_session = 1});
  std::mutex mutex;
  std::condition_variable opened;
  bool open = false;
  ASSERT_TRUE(h.server.add_tool({.name = "gate"}, [&](RequestContext&, const boost::json::object&) -> Result<boost::json::object> {
    std::unique_lock lock(mutex);
    opened.wait(lock, [&] { return open; });
    return tool_text("through");
  }));
  h.start();
  h.initialize();
  auto ping = [](int id) { return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + R"(,"method":"ping"})"; };
  const auto settle = [] { std::this_thread::sleep_for(std::chrono::milliseconds(50)); };  // one read per write
  h.write_line(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"gate"}})");
  settle();
  const std::string second = ping(2), fourth = ping(4);
  h.write_raw(second.substr(0, 10));
  settle();
  h.write_raw(second.substr(10) + "\n" + ping(3) + "\n" + fourth.substr(0, 7));
  settle();
  h.write_raw(fourth.substr(7) + "\n");
  EXPECT_FALSE(h.readable_within(std::chrono::milliseconds(100))) << "ping 2 waits for the slot the gate holds";
  {
    std::lock_guard lock(mutex);
    open = true;
  }
  opened.notify_all();
  for (int id = 1; id <= 4; ++id) {
    const auto reply = h.read_message().as_object();
    EXPECT_EQ(reply.at("id"), id) << boost::json::serialize(reply);
    EXPECT_TRUE(reply.contains("result")) << boost::json::serialize(reply);
  }
}

TEST(StdioServer, EofWaitsForInFlightCalls) {
  StdioHarness h;
  ASSERT_TRUE(h.server.add_tool({.name = "nap"}, [](RequestContext&, const boost::json::object&) -> Result<boost::json::object> {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return tool_text("rested");
  }));
  h.start();
  h.initialize();
  h.write_line(R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"nap"}})");
  h.close_input();
  auto r = h.read_message().as_object();
  EXPECT_EQ(r.at("result").at("content").at(0).at("text"), "rested");
  EXPECT_TRUE(h.read_message().is_null());
}

// A handler that outlives the drain timeout at EOF: the session closes without it, but
// serve_stdio returns only once the handler has, since the session's executor is an io_context on
// serve_stdio's stack and must outlive every worker holding the session. serve_stdio used to
// return at once, and the worker's last post then went to the destroyed io_context.
TEST(StdioServer, EofReturnsOnlyOnceAHandlerPastTheDrainTimeoutHasReturned) {
  StdioHarness h({.drain_timeout = std::chrono::milliseconds(50)});
  std::atomic<bool> started{false}, release{false};
  ASSERT_TRUE(h.server.add_tool({.name = "stuck"}, [&](RequestContext&, const boost::json::object&) -> Result<boost::json::object> {
    started = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return tool_text("late");
  }));
  h.start();
  h.initialize();
  h.write_line(R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"stuck"}})");
  for (int i = 0; i < 5000 && !started; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(started) << "the tool did not start within 5 s";
  h.close_input();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // six drain timeouts
  EXPECT_FALSE(h.returned) << "serve_stdio returned while a worker still held its session";
  release = true;
  EXPECT_TRUE(h.wait_returned());
}

// At the in-flight limit the reader stops reading instead of refusing: a client that pipelines
// far more calls than the limit gets a result for every one, and never more than the limit run
// at once (limit 4 here: at the limit, then past it).
TEST(StdioServer, PipelinedCallsBeyondTheInFlightLimitWaitInsteadOfFailing) {
  StdioHarness h({.worker_threads = 8, .max_inflight_per_session = 4});
  std::atomic<int> running{0}, peak{0};
  ASSERT_TRUE(h.server.add_tool({.name = "nap"}, [&](RequestContext&, const boost::json::object&) -> Result<boost::json::object> {
    const int now = ++running;
    for (int seen = peak.load(); now > seen && !peak.compare_exchange_weak(seen, now);) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    --running;
    return tool_text("rested");
  }));
  h.start();
  h.initialize();
  constexpr int kCalls = 40;
  std::thread writer([&] {
    std::string batch;
    for (int id = 1; id <= kCalls; ++id)
      batch += R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + R"(,"method":"tools/call","params":{"name":"nap"}})" + "\n";
    h.write_raw(batch);
  });
  int results = 0;
  for (int i = 0; i < kCalls; ++i) {
    auto reply = h.read_message().as_object();
    EXPECT_TRUE(reply.contains("result")) << boost::json::serialize(reply);
    results += reply.contains("result") ? 1 : 0;
  }
  writer.join();
  EXPECT_EQ(results, kCalls);
  EXPECT_EQ(peak.load(), 4) << "the limit is reached and never passed";
}

// A response finished while the next request waits to run is batched with the responses after it
// (ServerOptions::stdout_hold); when that request runs long, it goes out once the hold has passed,
// not when the slow one ends. One worker: the second call waits behind the first.
TEST(StdioServer, AResponseHeldForTheNextWaitsNoLongerThanTheHold) {
  StdioHarness h({.worker_threads = 1, .stdout_hold = std::chrono::milliseconds(300)});
  std::mutex mutex;
  std::condition_variable changed;
  bool first_may_end = false, slow_may_end = false;
  auto wait_for = [&](bool& flag) {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return flag; });
  };
  auto allow = [&](bool& flag) {
    std::lock_guard lock(mutex);
    flag = true;
    changed.notify_all();
  };
  ASSERT_TRUE(h.server.add_tool({.name = "first"}, [&](RequestContext&, const boost::json::object&) -> Result<boost::json::object> {
    wait_for(first_may_end);
    return tool_text("first");
  }));
  ASSERT_TRUE(h.server.add_tool({.name = "slow"}, [&](RequestContext&, const boost::json::object&) -> Result<boost::json::object> {
    wait_for(slow_may_end);
    return tool_text("slow");
  }));
  h.start();
  h.initialize();
  h.write_raw(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"first"}})"
              "\n"
              R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"slow"}})"
              "\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // both read: the slow call is queued
  const auto ended = std::chrono::steady_clock::now();
  allow(first_may_end);
  const bool answered = h.readable_within(std::chrono::seconds(10));
  const auto waited = std::chrono::steady_clock::now() - ended;
  allow(slow_may_end);  // only now: the first response did not wait for it
  ASSERT_TRUE(answered) << "the first response waited for the slow call";
  EXPECT_GE(waited, std::chrono::milliseconds(300)) << "not held";
  EXPECT_EQ(h.read_message().as_object().at("id"), 1);
  EXPECT_EQ(h.read_message().as_object().at("id"), 2);
}

// Stopped at the limit, the reader resumes once half the slots are free, not at the first one
// (one wake-up of the reader per limit/2 finished calls): limit 4, six calls held by the test.
// After one finishes the fifth must still wait; after a second, the fifth and sixth run.
TEST(StdioServer, AtTheLimitReadingResumesOnceHalfTheSlotsAreFree) {
  StdioHarness h({.worker_threads = 8, .max_inflight_per_session = 4});
  std::mutex mutex;
  std::condition_variable changed;
  int started = 0, releases = 0;
  ASSERT_TRUE(h.server.add_tool({.name = "hold"}, [&](RequestContext&, const boost::json::object&) -> Result<boost::json::object> {
    std::unique_lock lock(mutex);
    ++started;
    changed.notify_all();
    changed.wait(lock, [&] { return releases > 0; });
    --releases;
    return tool_text("released");
  }));
  h.start();
  h.initialize();
  std::string batch;
  for (int id = 1; id <= 6; ++id)
    batch += R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + R"(,"method":"tools/call","params":{"name":"hold"}})" + "\n";
  h.write_raw(batch);
  auto started_reaches = [&](int count) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(10), [&] { return started >= count; });
  };
  auto release_one = [&] {
    {
      std::lock_guard lock(mutex);
      ++releases;
    }
    changed.notify_all();
    EXPECT_TRUE(h.read_message().as_object().contains("result"));
  };
  ASSERT_TRUE(started_reaches(4));
  release_one();  // 3 in flight: above half the limit, the reader stays stopped
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(started, 4) << "the reader resumed at the first free slot";
  }
  release_one();  // 2 in flight: half the limit, the reader admits the last two calls
  EXPECT_TRUE(started_reaches(6));
  for (int i = 0; i < 4; ++i) release_one();
}

// After the input runs dry the reader keeps looking at stdin for ServerOptions::stdin_spin before
// it sleeps. With a spin far longer than the test: requests are answered, a reader stopped at the
// in-flight limit resumes (limit 2, six pipelined calls), EOF is seen and serving returns.
TEST(StdioServer, WhileTheReaderSpinsMessagesAndEofAreSeen) {
  StdioHarness h({.stdin_spin = std::chrono::minutes(10), .max_inflight_per_session = 2});
  ASSERT_TRUE(h.server.add_tool({.name = "nap"}, [](RequestContext&, const boost::json::object&) -> Result<boost::json::object> {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return tool_text("rested");
  }));
  h.start();
  h.initialize();
  EXPECT_TRUE(h.request(1, "ping").contains("result"));
  std::string batch;
  for (int id = 2; id <= 7; ++id)
    batch += R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + R"(,"method":"tools/call","params":{"name":"nap"}})" + "\n";
  h.write_raw(batch);
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(h.read_message().as_object().contains("result"));
  h.close_input();
  EXPECT_TRUE(h.wait_returned()) << "EOF not seen while the reader spins";
  EXPECT_TRUE(h.read_message().is_null());
}

// Everything else on the reader's thread runs between its looks: the session's timers (here the
// initialize timeout, which closes the session) and shutdown().
TEST(StdioServer, TimersFireWhileTheReaderSpins) {
  StdioHarness h({.stdin_spin = std::chrono::minutes(10), .init_timeout = std::chrono::milliseconds(50)});
  h.start();
  auto r = h.request(0, "initialize", R"({"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}})");
  ASSERT_TRUE(r.contains("result"));
  EXPECT_TRUE(h.wait_returned()) << "the initialize timeout did not close the session";
}

TEST(StdioServer, ShutdownReturnsWhileTheReaderSpins) {
  StdioHarness h({.stdin_spin = std::chrono::minutes(10)});
  h.start();
  h.initialize();
  EXPECT_TRUE(h.request(1, "ping").contains("result"));
  h.server.shutdown();
  EXPECT_TRUE(h.wait_returned()) << "serve_stdio still waits for stdin";
  EXPECT_EQ(h.exit_code, 0);
}

// Without spinning (0), and with a spin that ends long before the next message, the reader
// sleeps in epoll and wakes up for what comes next.
TEST(StdioServer, AReaderThatStoppedSpinningWakesUpForTheNextMessage) {
  for (const auto spin : {std::chrono::microseconds(0), std::chrono::microseconds(100)}) {
    SCOPED_TRACE(spin.count());
    StdioHarness h({.stdin_spin = spin});
    h.start();
    h.initialize();
    for (int id = 1; id <= 3; ++id) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      EXPECT_TRUE(h.request(id, "ping").contains("result"));
    }
    h.close_input();
    EXPECT_TRUE(h.read_message().is_null());
  }
}

// A regular file cannot be polled: it is read as it is, every line answered, and its end is EOF.
TEST(StdioServer, ServesInputFromARegularFile) {
  char path[] = "/tmp/trellis-stdio-XXXXXX";
  const int file = ::mkstemp(path);
  ASSERT_GE(file, 0);
  ::unlink(path);
  const std::string input =
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}})"
      "\n"
      R"({"jsonrpc":"2.0","method":"notifications/initialized"})"
      "\n"
      R"({"jsonrpc":"2.0","id":2,"method":"ping"})"
      "\n";
  ASSERT_EQ(::pwrite(file, input.data(), input.size(), 0), static_cast<ssize_t>(input.size()));
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  Server server;
  EXPECT_EQ(server.serve_stdio(file, out[1]), 0);
  ::close(out[1]);
  ::close(file);
  std::string written;
  char buffer[4096];
  for (ssize_t n; (n = ::read(out[0], buffer, sizeof buffer)) > 0;) written.append(buffer, static_cast<std::size_t>(n));
  ::close(out[0]);
  const auto newline = written.find('\n');
  ASSERT_NE(newline, std::string::npos) << written;
  EXPECT_EQ(boost::json::parse(written.substr(0, newline)).at("id"), 1);
  EXPECT_EQ(boost::json::parse(written.substr(newline + 1)).at("id"), 2);
  EXPECT_EQ(written.back(), '\n');
}

// shutdown() ends serving while the client keeps stdin open and silent.
TEST(StdioServer, ShutdownReturnsWhileStdinStaysOpen) {
  StdioHarness h;
  h.start();
  h.initialize();
  h.server.shutdown();
  EXPECT_TRUE(h.wait_returned()) << "serve_stdio still waits for stdin";
  EXPECT_EQ(h.exit_code, 0);
}

// A broadcast on another thread may hold the session when serve_stdio returns, and let it go last:
// the session keeps the io_context its timers belong to, which serve_stdio would otherwise have
// destroyed with its stack frame (ASan: heap-use-after-free in ~AsioScheduler, before).
TEST(StdioServer, ASessionABroadcastHoldsPastServeStdioIsReleasedSafely) {
  StdioHarness h;
  h.start();
  h.initialize();
  std::shared_ptr<server_detail::SessionImpl> held;
  h.server.core()->for_each_session([&](server_detail::SessionImpl& s) { held = s.shared_from_this(); });
  ASSERT_TRUE(held);
  h.close_input();
  ASSERT_TRUE(h.wait_returned());
  EXPECT_TRUE(held->closed()) << "EOF closes the session";
  held->close();
  std::weak_ptr<server_detail::SessionImpl> gone = held;
  held.reset();
  EXPECT_TRUE(gone.expired()) << "a late close() kept the session";
}

}  // namespace
}  // namespace trellis
