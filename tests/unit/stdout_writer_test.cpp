// StdoutWriter (serve_stdio's output): batched responses wait for the next send, for a full batch
// (at the limits and one short of them) or for the hold to pass; close() writes what is held; and
// nothing is ever reordered.
#include "transport/stdout_writer.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include <poll.h>
#include <unistd.h>

namespace trellis::stdio_detail {
namespace {

using namespace std::chrono_literals;

// A writer on a pipe, and the test reading the other end.
class Pipe {
 public:
  Pipe() { EXPECT_EQ(::pipe(fds_), 0); }
  ~Pipe() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  int write_end() const { return fds_[1]; }

  // Whether anything can be read within `wait`.
  bool readable(std::chrono::milliseconds wait = 0ms) {
    pollfd p{.fd = fds_[0], .events = POLLIN, .revents = 0};
    return ::poll(&p, 1, static_cast<int>(wait.count())) > 0;
  }
  // `size` bytes, or what came of them within 10 s of waiting for the next.
  std::string read(std::size_t size) {
    std::string out(size, '\0');
    std::size_t got = 0;
    while (got < size && readable(10s)) {
      const auto n = ::read(fds_[0], out.data() + got, size - got);
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    out.resize(got);
    return out;
  }

 private:
  int fds_[2] = {-1, -1};
};

constexpr auto kLongHold = std::chrono::duration_cast<std::chrono::microseconds>(1h);

TEST(StdoutWriter, BatchedResponsesWaitForTheNextSendAndKeepTheirOrder) {
  Pipe pipe;
  StdoutWriter out(pipe.write_end(), 8, kLongHold);
  ASSERT_TRUE(out.send_batched("r1"));
  ASSERT_TRUE(out.send_batched("r2"));
  EXPECT_FALSE(pipe.readable(50ms)) << "a batched response was written at once";
  ASSERT_TRUE(out.send("n3"));  // say, a notification: it goes out after what was held
  EXPECT_EQ(pipe.read(9), "r1\nr2\nn3\n");
  EXPECT_FALSE(pipe.readable());
}

TEST(StdoutWriter, AFullBatchIsWrittenAtOnce) {
  Pipe pipe;
  StdoutWriter out(pipe.write_end(), 8, kLongHold);
  std::string expected;
  for (std::size_t i = 1; i < StdoutWriter::kMaxBatchMessages; ++i) {
    ASSERT_TRUE(out.send_batched("r" + std::to_string(i % 10)));
    expected += "r" + std::to_string(i % 10) + "\n";
  }
  EXPECT_FALSE(pipe.readable(50ms)) << "one response short of a full batch";
  ASSERT_TRUE(out.send_batched("r6"));
  expected += "r6\n";
  EXPECT_EQ(pipe.read(expected.size()), expected);
}

TEST(StdoutWriter, ABatchOfTheByteLimitIsWrittenAtOnce) {
  Pipe pipe;
  StdoutWriter out(pipe.write_end(), 8, kLongHold);
  // With its newline, one byte short of the limit: held.
  const std::string short_of_limit(StdoutWriter::kMaxBatchBytes - 2, 'a');
  ASSERT_TRUE(out.send_batched(short_of_limit));
  EXPECT_FALSE(pipe.readable(50ms));
  ASSERT_TRUE(out.send_batched("b"));  // past the limit
  EXPECT_EQ(pipe.read(short_of_limit.size() + 3), short_of_limit + "\nb\n");

  const std::string at_limit(StdoutWriter::kMaxBatchBytes - 1, 'c');
  ASSERT_TRUE(out.send_batched(at_limit));
  EXPECT_EQ(pipe.read(at_limit.size() + 1), at_limit + "\n");
}

TEST(StdoutWriter, AHeldResponseIsWrittenOnceTheHoldHasPassed) {
  Pipe pipe;
  StdoutWriter out(pipe.write_end(), 8, std::chrono::milliseconds(400));
  const auto sent = std::chrono::steady_clock::now();
  ASSERT_TRUE(out.send_batched("r1"));
  EXPECT_FALSE(pipe.readable(100ms)) << "written before the hold passed";
  ASSERT_TRUE(pipe.readable(10s)) << "still held long after the hold";
  EXPECT_GE(std::chrono::steady_clock::now() - sent, 400ms);
  EXPECT_EQ(pipe.read(3), "r1\n");
  // The flusher is back to sleep and wakes again for the next batch.
  ASSERT_TRUE(out.send_batched("r2"));
  ASSERT_TRUE(pipe.readable(10s));
  EXPECT_EQ(pipe.read(3), "r2\n");
}

TEST(StdoutWriter, CloseWritesWhatIsHeldAndLaterBatchesGoOutAtOnce) {
  Pipe pipe;
  StdoutWriter out(pipe.write_end(), 8, kLongHold);
  ASSERT_TRUE(out.send_batched("r1"));
  out.close();
  EXPECT_EQ(pipe.read(3), "r1\n");
  ASSERT_TRUE(out.send_batched("r2"));
  EXPECT_EQ(pipe.read(3), "r2\n");
}

TEST(StdoutWriter, WithoutAHoldEveryResponseIsWrittenAtOnce) {
  Pipe pipe;
  StdoutWriter out(pipe.write_end(), 8, std::chrono::microseconds(0));
  ASSERT_TRUE(out.send_batched("r1"));
  EXPECT_EQ(pipe.read(3), "r1\n");
}

}  // namespace
}  // namespace trellis::stdio_detail
