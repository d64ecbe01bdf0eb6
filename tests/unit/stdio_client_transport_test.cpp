// make_stdio_transport on its own: messages keep their order whether send() writes them at once
// or the pipe is full and the writer thread finishes them.
#include "trellis/client_transport.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace trellis {
namespace {

// The child reads nothing for 300 ms, then echoes every line back; the test sends 2 MiB of
// notifications over about 600 ms: the first 64 KiB or so fill the pipe, the rest waits in the
// transport's queue, and sends that come while the child drains the pipe must queue behind it.
TEST(StdioClientTransport, MessagesBeyondAFullPipeArriveInOrder) {
  auto transport = make_stdio_transport({.command = "/bin/sh", .args = {"-c", "sleep 0.3; exec cat"}});
  std::mutex mutex;
  std::condition_variable arrived;
  std::vector<std::int64_t> seen;
  transport->start({.message =
                        [&](jsonrpc::Message message) {
                          std::lock_guard lock(mutex);
                          seen.push_back(message.params().at("n").as_int64());
                          arrived.notify_one();
                        },
                    .failed = [](Error) {},
                    .session_lost = [] {}});
  constexpr int kMessages = 2000;
  const std::string padding(1000, 'x');
  for (int n = 0; n < kMessages; ++n) {
    auto sent = transport->send(R"({"jsonrpc":"2.0","method":"notifications/test","params":{"n":)" + std::to_string(n) +
                                R"(,"pad":")" + padding + R"("}})");
    ASSERT_TRUE(sent) << sent.error().describe();
    if (n % 10 == 9) std::this_thread::sleep_for(std::chrono::milliseconds(3));
  }
  std::unique_lock lock(mutex);
  ASSERT_TRUE(arrived.wait_for(lock, std::chrono::seconds(20), [&] { return seen.size() == kMessages; }))
      << seen.size() << " of " << kMessages << " arrived";
  for (int n = 0; n < kMessages; ++n) ASSERT_EQ(seen[static_cast<std::size_t>(n)], n);
  lock.unlock();
  transport->close();
}

}  // namespace
}  // namespace trellis
