// make_stdio_transport on its own, on an io_context of the test's (as a connection runs it):
// order beyond a full pipe, a child that stops reading its stdin, stderr lines, what close()
// still delivers, lines split across reads, frames over the limit, a command that cannot start.
#include "trellis/client_transport.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

namespace trellis {
namespace {

using namespace std::chrono_literals;

// The stdio transport writes the text as it is; what comes with it matters to HTTP only.
OutgoingMessage as_notification(std::string_view json) {
  return {json, jsonrpc::MessageKind::notification, {}, "notifications/test"};
}

// One io thread and what a transport reports on it; calls into the transport are run there.
class TransportHarness {
 public:
  explicit TransportHarness(StdioTransportOptions options) : transport_(make_stdio_transport(std::move(options))) {
    thread_ = std::thread([this] { io_.run(); });
    on_io([this] {
      transport_->start({.message =
                             [this](jsonrpc::Message message) {
                               std::lock_guard lock(mutex_);
                               messages_.push_back({std::string(message.method()), message.params()});
                               changed_.notify_all();
                             },
                         .failed =
                             [this](Error error) {
                               std::lock_guard lock(mutex_);
                               failures_.push_back(std::move(error));
                               changed_.notify_all();
                             },
                         .session_lost = [] {}},
                        io_.get_executor());
    });
  }
  ~TransportHarness() { close(); }

  ClientTransport& transport() { return *transport_; }  // on the io thread only

  // What arrived, kept as copies (a Message owns its parse and is move-only).
  struct Received {
    std::string method;
    boost::json::value params;
  };

  template <class Fn>
  std::invoke_result_t<Fn> on_io(Fn fn) {
    std::packaged_task<std::invoke_result_t<Fn>()> task(std::move(fn));
    auto result = task.get_future();
    boost::asio::post(io_, [&task] { task(); });
    return result.get();
  }
  Result<void> send(std::string_view message) {
    return on_io([&] { return transport_->send(as_notification(message)); });
  }
  void close() {
    if (!thread_.joinable()) return;
    on_io([this] { transport_->close(); });
    work_.reset();
    thread_.join();
  }
  // Wait up to 20 s for that many messages (failures) in all; false on timeout.
  bool wait_for_messages(std::size_t n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 20s, [&] { return messages_.size() >= n; });
  }
  bool wait_for_failures(std::size_t n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 20s, [&] { return failures_.size() >= n; });
  }
  std::vector<Received> messages() {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  std::vector<Error> failures() {
    std::lock_guard lock(mutex_);
    return failures_;
  }

 private:
  boost::asio::io_context io_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{io_.get_executor()};
  std::unique_ptr<ClientTransport> transport_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Received> messages_;
  std::vector<Error> failures_;
};

std::string notification(int n, std::string_view padding = "") {
  return R"({"jsonrpc":"2.0","method":"notifications/test","params":{"n":)" + std::to_string(n) + R"(,"pad":")" +
         std::string(padding) + R"("}})";
}

// The child reads nothing for 300 ms, then echoes every line back; the test sends 2 MiB of
// notifications over about 600 ms: the first few hundred KiB fill the socket, the rest waits in
// the transport's buffer, and sends that come while the child drains it must queue behind it.
TEST(StdioClientTransport, MessagesBeyondAFullPipeArriveInOrder) {
  TransportHarness h({.command = "/bin/sh", .args = {"-c", "sleep 0.3; exec cat"}});
  constexpr int kMessages = 2000;
  const std::string padding(1000, 'x');
  for (int n = 0; n < kMessages; ++n) {
    auto sent = h.send(notification(n, padding));
    ASSERT_TRUE(sent) << sent.error().describe();
    if (n % 10 == 9) std::this_thread::sleep_for(3ms);
  }
  ASSERT_TRUE(h.wait_for_messages(kMessages));
  const auto seen = h.messages();
  for (int n = 0; n < kMessages; ++n) ASSERT_EQ(seen[static_cast<std::size_t>(n)].params.at("n").as_int64(), n);
  EXPECT_EQ(h.failures().size(), 0u);
}

// Sends made in one handler go out together (one write after the handler) and keep their order.
TEST(StdioClientTransport, ManySendsFromOneHandlerArriveInOrder) {
  TransportHarness h({.command = "/bin/cat"});
  constexpr int kMessages = 500;
  const int accepted = h.on_io([&] {
    int n = 0;
    while (n < kMessages && h.transport().send(as_notification(notification(n)))) ++n;
    return n;
  });
  ASSERT_EQ(accepted, kMessages);
  ASSERT_TRUE(h.wait_for_messages(kMessages));
  const auto seen = h.messages();
  for (int n = 0; n < kMessages; ++n) ASSERT_EQ(seen[static_cast<std::size_t>(n)].params.at("n").as_int64(), n);
}

// A child that closes its stdin while it keeps running: the write fails with EPIPE and the
// transport fails with the reason. (Over a pipe the same write would raise SIGPIPE and end this
// test process.)
TEST(StdioClientTransport, AChildThatClosesItsStdinFailsTheTransportWithoutSigpipe) {
  TransportHarness h({.command = "/bin/sh", .args = {"-c", "exec 0<&-; sleep 5"}, .terminate_grace = 100ms});
  std::this_thread::sleep_for(200ms);  // let the shell close its stdin
  ASSERT_TRUE(h.send(notification(1)));
  ASSERT_TRUE(h.wait_for_failures(1));
  const auto failure = h.failures().front();
  EXPECT_EQ(failure.kind, ErrorKind::transport);
  EXPECT_NE(failure.message.find("writing to the server failed"), std::string::npos) << failure.message;
  const auto after = h.send(notification(2));
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().message, failure.message);
}

TEST(StdioClientTransport, StderrLinesReachOnStderrWhole) {
  std::mutex mutex;
  std::vector<std::string> lines;
  TransportHarness h({.command = "/bin/sh",
                      .args = {"-c", "echo one >&2; printf 'two\\nthr' >&2; sleep 0.1; printf 'ee\\nlast' >&2; exec cat"},
                      .on_stderr =
                          [&](std::string_view line) {
                            std::lock_guard lock(mutex);
                            lines.emplace_back(line);
                          }});
  for (int i = 0; i < 200; ++i) {
    {
      std::lock_guard lock(mutex);
      if (lines.size() >= 3) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  h.close();  // the child's stderr ends: the unfinished last line is reported too
  std::lock_guard lock(mutex);
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two", "three", "last"}));
}

// close() right after a burst: everything send() accepted reaches the child before its stdin ends.
TEST(StdioClientTransport, CloseWritesWhatWasSentFirst) {
  const auto file = std::filesystem::temp_directory_path() / ("trellis-stdio-close-" + std::to_string(::getpid()));
  TransportHarness h({.command = "/bin/sh", .args = {"-c", "exec cat > '" + file.string() + "'"}});
  constexpr int kMessages = 1000;
  const std::string padding(1000, 'y');  // 1 MB: more than the socket holds
  h.on_io([&] {
    for (int n = 0; n < kMessages; ++n) ASSERT_TRUE(h.transport().send(as_notification(notification(n, padding))));
    h.transport().close();
  });
  h.close();
  std::ifstream in(file);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) ASSERT_EQ(line, notification(n++, padding));
  EXPECT_EQ(n, kMessages);
  std::filesystem::remove(file);
}

TEST(StdioClientTransport, ALineSplitAcrossReadsIsOneMessage) {
  TransportHarness h({.command = "/bin/sh",
                      .args = {"-c", R"(printf '{"jsonrpc":"2.0","met'; sleep 0.2; printf 'hod":"notifications/x"}\r\n\n  \n'; exec cat)"}});
  ASSERT_TRUE(h.wait_for_messages(1));
  EXPECT_EQ(h.messages().front().method, "notifications/x");
  ASSERT_TRUE(h.send(notification(7)));  // blank lines were skipped, not taken for messages
  ASSERT_TRUE(h.wait_for_messages(2));
  EXPECT_EQ(h.messages().back().params.at("n").as_int64(), 7);
}

// max_frame_bytes: a line of exactly the limit is a message; one byte more fails the transport.
TEST(StdioClientTransport, AFrameAtTheLimitIsDeliveredAndOnePastItFails) {
  constexpr std::size_t kLimit = 4096;
  const std::string base = notification(1);
  const std::string at_limit = notification(1, std::string(kLimit - base.size(), 'z'));
  ASSERT_EQ(at_limit.size(), kLimit);
  TransportHarness h({.command = "/bin/cat", .limits = {.max_frame_bytes = kLimit}});
  ASSERT_TRUE(h.send(at_limit));
  ASSERT_TRUE(h.wait_for_messages(1));
  ASSERT_TRUE(h.send(notification(2, std::string(kLimit + 1 - base.size(), 'z'))));
  ASSERT_TRUE(h.wait_for_failures(1));
  EXPECT_EQ(h.failures().front().kind, ErrorKind::protocol);
  EXPECT_EQ(h.messages().size(), 1u);
}

// max_queued_bytes: sends in one handler are not written until it returns, so they queue exactly.
TEST(StdioClientTransport, QueuedBytesAtTheLimitAreAcceptedAndOnePastIsBackpressure) {
  const std::string half = notification(1, std::string(499 - notification(1).size(), 'q'));  // 500 bytes with its newline
  ASSERT_EQ(half.size(), 499u);
  TransportHarness h({.command = "/bin/cat", .limits = {.max_queued_bytes = 1000}});
  h.on_io([&] {
    EXPECT_TRUE(h.transport().send(as_notification(half)));
    EXPECT_TRUE(h.transport().send(as_notification(half)));  // 1000 bytes queued: at the limit
    const auto past = h.transport().send(as_notification("{}"));
    ASSERT_FALSE(past);
    EXPECT_EQ(past.error().kind, ErrorKind::backpressure);
  });
  ASSERT_TRUE(h.wait_for_messages(2));  // written once the handler returned, and echoed
  const auto later = h.send(notification(3));
  ASSERT_TRUE(later) << later.error().describe();
  ASSERT_TRUE(h.wait_for_messages(3));
}

TEST(StdioClientTransport, ACommandThatCannotStartFailsWithTheReason) {
  TransportHarness h({.command = "/nonexistent/trellis-test-server"});
  ASSERT_TRUE(h.wait_for_failures(1));
  EXPECT_EQ(h.failures().front().message, "cannot start /nonexistent/trellis-test-server: No such file or directory");
  const auto sent = h.send(notification(1));
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().message, h.failures().front().message);
}

TEST(StdioClientTransport, AnExitingChildFailsTheTransportWithItsStatus) {
  TransportHarness h({.command = "/bin/sh", .args = {"-c", "exit 3"}});
  ASSERT_TRUE(h.wait_for_failures(1));
  EXPECT_NE(h.failures().front().message.find("exited with status 3"), std::string::npos) << h.failures().front().message;
}

}  // namespace
}  // namespace trellis
